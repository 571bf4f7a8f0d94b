// Command go-faults is the Go fault plugin for tests/faults
// (libtremor_faults_go.so, built c-shared by scripts/build-go.sh into
// build/test-plugins). Connector "faults_go" (source + sink, bytes) is a
// well-behaved source of events "go-fault-<n>" and a sink that accepts
// everything, until its config tells it to misbehave:
//
//   - panic_at = "create" | "connect" | "start" | "pause" | "resume" |
//     "pull" | "ack" | "fail" | "send" | "drain" | "stop": that method
//     panics (pdk-go recovers it: TREMOR_ERR_PANIC, instance poisoned);
//   - fail_at = the same names: that method returns an error (TREMOR_ERR_FAILED
//     with the message "faults_go: told to fail at <name>");
//   - misbehave = "nil_map" (Pull writes to a nil map: a runtime error,
//     recovered like a panic), "os_exit" (Pull calls os.Exit(0), which
//     does not go through the C library), "goroutine_panic" (Start starts a goroutine
//     with Host.Go that panics and waits for it to end: once pdk-go has
//     recovered the panic, a moment later, the instance is poisoned and
//     every hook answers TREMOR_ERR_PANIC), "bad_utf8_msg" (Pull fails with an error
//     text that is not UTF-8);
//   - count = events before the source ends (0: endless). Close logs the
//     source's totals ("faults_go: emitted N, acked A, failed F") for tests
//     to compare with the host's counters.
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"tremorhost/pdk-go"
)

func init() {
	pdk.Register(pdk.Plugin{
		Name:        "faults_go",
		Version:     "0.1.0",
		Description: "a Go plugin that panics or fails on request (tests/faults)",
		License:     "Apache-2.0",
		Connectors: []pdk.ConnectorType{{
			Name:        "faults_go",
			Description: "panics or fails in the hook its config names",
			Kinds:       pdk.Source | pdk.Sink,
			Payload:     pdk.Bytes,
			Fields: []pdk.Field{
				pdk.StringField("panic_at", pdk.Default(`""`), pdk.Doc("hook that panics")),
				pdk.StringField("fail_at", pdk.Default(`""`), pdk.Doc("hook that returns an error")),
				pdk.StringField("misbehave", pdk.Default(`""`), pdk.Doc("nil_map, os_exit, goroutine_panic, bad_utf8_msg")),
				pdk.UintField("count", pdk.Default(`0`), pdk.Doc("events before the source ends (0: endless)")),
			},
			New: pdk.New(newConn),
		}},
	})
}

func main() {}

type conn struct {
	host                       pdk.Host
	panicAt, failAt, misbehave string
	next                       uint64
	count, acked, failed       uint64
	pulled                     bool
}

// str reads a string field, refusing a value of another kind (the host
// never sends one; check-plugin does, to see the refusal).
func str(cfg pdk.Config, key string) (string, error) {
	v, ok := cfg.Get(key)
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", pdk.ConfigError("config field %q must be a string, got %T", key, v)
	}
	return s, nil
}

func newConn(cfg pdk.Config, host pdk.Host) (*conn, error) {
	c := &conn{host: host, next: 1}
	var err error
	if c.panicAt, err = str(cfg, "panic_at"); err != nil {
		return nil, err
	}
	if c.failAt, err = str(cfg, "fail_at"); err != nil {
		return nil, err
	}
	if c.misbehave, err = str(cfg, "misbehave"); err != nil {
		return nil, err
	}
	if c.count, err = cfg.OptionalUint("count", 0); err != nil {
		return nil, err
	}
	if err := c.at("create"); err != nil {
		return nil, err
	}
	return c, nil
}

// at panics or fails when the config says so for hook.
func (c *conn) at(hook string) error {
	if c.panicAt == hook {
		panic("faults_go: told to panic in " + hook)
	}
	if c.failAt == hook {
		return fmt.Errorf("faults_go: told to fail at %s", hook)
	}
	return nil
}

func (c *conn) Connect(int) error { return c.at("connect") }
func (c *conn) Close() error {
	if c.pulled {
		c.host.Infof("faults_go: emitted %d, acked %d, failed %d", c.next-1, c.acked, c.failed)
	}
	return c.at("stop")
}
func (c *conn) Pause() error  { return c.at("pause") }
func (c *conn) Resume() error { return c.at("resume") }
func (c *conn) Drain() error  { return c.at("drain") }

func (c *conn) Start() error {
	if c.misbehave == "goroutine_panic" {
		done := make(chan struct{})
		c.host.Go(func() {
			defer close(done)
			panic("faults_go: panic in a goroutine")
		})
		<-done
	}
	return c.at("start")
}

func (c *conn) Pull(room *pdk.Room, _ time.Duration) error {
	if err := c.at("pull"); err != nil {
		return err
	}
	switch c.misbehave {
	case "os_exit":
		os.Exit(0)
	case "nil_map":
		var m map[string]int
		m["boom"] = 1
	case "bad_utf8_msg":
		return errors.New("faults_go: \xff\xfe is not UTF-8")
	}
	c.pulled = true
	for c.count == 0 || c.next <= c.count {
		if err := room.PushBytes(c.next, []byte(fmt.Sprintf("go-fault-%d", c.next))); err != nil {
			return nil // full: this one waits for the next pull
		}
		c.next++
	}
	return pdk.ErrEnd
}

func (c *conn) Ack(ids []uint64) error {
	c.acked += uint64(len(ids))
	return c.at("ack")
}

func (c *conn) Fail(ids []uint64) error {
	c.failed += uint64(len(ids))
	return c.at("fail")
}

func (c *conn) Send(b *pdk.Batch, outcomes []pdk.Outcome) error {
	if err := c.at("send"); err != nil {
		return err
	}
	for i := range outcomes {
		outcomes[i] = pdk.OutcomeOK
	}
	return nil
}
