package pdk

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The plugin these tests register; its connectors record what the hooks
// saw in `seen`.

var seen struct {
	sync.Mutex
	cfg     map[string]any // t_source's config, read through the typed getters
	alias   string
	acks    [][]uint64
	fails   [][]uint64
	sent    []string // t_sink payloads
	ends    []bool   // t_stream: Batch.EndStream of each event sent
	values  []any    // t_struct values received
	metas   []any
	closes  map[string]int // Close calls per alias
	started map[string]int
}

func resetSeen() {
	seen.Lock()
	defer seen.Unlock()
	seen.cfg, seen.alias, seen.acks, seen.fails, seen.sent, seen.values, seen.metas = nil, "", nil, nil, nil, nil, nil
	seen.ends = nil
	seen.closes = map[string]int{}
	seen.started = map[string]int{}
}

func noteClose(alias string) {
	seen.Lock()
	seen.closes[alias]++
	seen.Unlock()
}

func testPlugin() Plugin {
	return Plugin{
		Name: "pdktest", Version: "1.2.3", Description: "pdk-go unit tests", License: "Apache-2.0",
		Connectors: []ConnectorType{
			{
				Name: "t_source", Description: "emits count events of size bytes", Kinds: Source, Payload: Bytes,
				Fields: []Field{
					StringField("name", Required, Doc("a name")),
					UintField("count", Default("3")),
					UintField("size", Default("4")),
					IntField("neg", Default("-5")),
					FloatField("ratio", Default("0.5")),
					BoolField("flag", Default("false")),
					{Name: "token", Type: TypeString, Secret: true},
				},
				New: New(newTSource),
			},
			{Name: "t_sink", Kinds: Sink, Payload: Bytes, New: New(func(cfg Config, h Host) (Connector, error) {
				return &tSink{host: h}, nil
			})},
			{Name: "t_panic", Kinds: Source | Sink, Payload: Bytes, Fields: []Field{StringField("where", Required)}, New: New(newTPanic)},
			{Name: "t_struct", Kinds: Source | Sink, Payload: Structured, New: New(func(cfg Config, h Host) (*tStruct, error) {
				return &tStruct{}, nil
			})},
			{Name: "t_errors", Kinds: Sink, Payload: Bytes, New: New(func(cfg Config, h Host) (Connector, error) {
				return &tErrors{}, nil
			})},
			{Name: "t_logger", Kinds: Sink, Payload: Bytes, New: New(func(cfg Config, h Host) (Connector, error) {
				return &tLogger{host: h}, nil
			})},
			{Name: "t_nosender", Kinds: Sink, Payload: Bytes, New: New(func(cfg Config, h Host) (Connector, error) {
				return tPlain{}, nil // a sink without Send
			})},
			{Name: "t_stream", Kinds: Source | Sink, Payload: Bytes, New: New(func(cfg Config, h Host) (*tStream, error) {
				return &tStream{}, nil
			})},
		},
	}
}

// --- t_source

type tSource struct {
	host        Host
	count, size uint64
	next        uint64
}

func newTSource(cfg Config, h Host) (*tSource, error) {
	m := map[string]any{}
	m["name"], _ = cfg.String("name")
	m["count"], _ = cfg.Uint("count")
	m["size"], _ = cfg.Uint("size")
	m["neg"], _ = cfg.Int("neg")
	m["ratio"], _ = cfg.Float("ratio")
	m["flag"], _ = cfg.Bool("flag")
	m["token"] = cfg.StringOr("token", "<none>")
	m["count_as_int"], _ = cfg.Int("count")
	m["neg_as_uint_ok"] = func() bool { _, ok := cfg.Uint("neg"); return ok }()
	m["keys"] = strings.Join(cfg.Keys(), ",")
	seen.Lock()
	seen.cfg, seen.alias = m, h.Alias()
	seen.Unlock()
	s := &tSource{host: h, count: cfg.UintOr("count", 3), size: cfg.UintOr("size", 4)}
	if s.size > 1000 {
		return nil, ConfigError("size %d is too large", s.size)
	}
	return s, nil
}

func (s *tSource) Connect(int) error { return nil }
func (s *tSource) Close() error      { noteClose(s.host.Alias()); return nil }

func (s *tSource) Pull(room *Room, wait time.Duration) error {
	for s.next < s.count {
		payload := []byte(strings.Repeat(string(rune('a'+s.next%26)), int(s.size)))
		if err := room.Push(Event{ID: s.next, Stream: 7, Payload: payload}); err != nil {
			return err
		}
		s.next++
	}
	return ErrEnd
}

func (s *tSource) Ack(ids []uint64) error {
	seen.Lock()
	seen.acks = append(seen.acks, append([]uint64{}, ids...))
	seen.Unlock()
	return nil
}

func (s *tSource) Fail(ids []uint64) error {
	seen.Lock()
	seen.fails = append(seen.fails, append([]uint64{}, ids...))
	seen.Unlock()
	if len(ids) > 0 && ids[0] == 666 {
		return errors.New("cannot replay 666")
	}
	return nil
}

// --- t_sink: outcome per payload text

type tSink struct{ host Host }

func (k *tSink) Connect(int) error { return nil }
func (k *tSink) Close() error      { noteClose(k.host.Alias()); return nil }

func (k *tSink) Send(b *Batch, outcomes []Outcome) error {
	var err error
	for i := 0; i < b.Len(); i++ {
		p := string(b.Payload(i))
		seen.Lock()
		seen.sent = append(seen.sent, p)
		seen.Unlock()
		switch p {
		case "retry":
			outcomes[i] = OutcomeRetry
		case "fail":
			outcomes[i] = OutcomeFailed
		case "bogus":
			outcomes[i] = 9
		case "disc":
			return fmt.Errorf("write: %w", ErrDisconnected)
		case "boom":
			err = errors.New("sink broke")
		default:
			outcomes[i] = OutcomeOK
		}
	}
	return err
}

// --- t_panic: panics where told

type tPanic struct {
	where string
	host  Host
}

func newTPanic(cfg Config, h Host) (*tPanic, error) {
	w, err := cfg.RequireString("where")
	if err != nil {
		return nil, err
	}
	if w == "new" {
		panic("boom in New")
	}
	return &tPanic{where: w, host: h}, nil
}

func (p *tPanic) Connect(int) error {
	if p.where == "connect" {
		var m map[string]int
		m["x"] = 1 // a runtime error panic
	}
	return nil
}

func (p *tPanic) Start() error {
	if p.where == "goroutine" {
		p.host.Go(func() { panic("boom in goroutine") })
	}
	return nil
}

func (p *tPanic) Pull(room *Room, _ time.Duration) error {
	if err := room.PushBytes(1, []byte("first")); err != nil {
		return err
	}
	if p.where == "pull" {
		panic("boom in Pull")
	}
	return nil
}

func (p *tPanic) Send(b *Batch, outcomes []Outcome) error { return nil }

func (p *tPanic) Close() error {
	noteClose(p.host.Alias())
	if p.where == "close" {
		panic("boom in Close")
	}
	return nil
}

// --- t_struct: structured values both ways

type tStruct struct{ sent bool }

func (s *tStruct) Connect(int) error { return nil }
func (s *tStruct) Close() error      { return nil }

var structValue = map[string]any{
	"s": "str", "i": int64(-3), "u": uint64(1) << 63, "f": 1.5, "b": true, "n": nil,
	"arr": []any{int64(1), "two", []any{}, map[string]any{"deep": []byte{0, 1, 2}}},
	"obj": map[string]any{},
}

func (s *tStruct) Pull(room *Room, _ time.Duration) error {
	if s.sent {
		return ErrEnd
	}
	if err := room.Push(Event{ID: 1, Port: PortErr, IngestNs: 42, Value: structValue, Meta: map[string]any{"k": "v"}}); err != nil {
		return err
	}
	s.sent = true
	return nil
}

func (s *tStruct) Send(b *Batch, outcomes []Outcome) error {
	for i := 0; i < b.Len(); i++ {
		v, err := b.Value(i)
		if err != nil {
			return err
		}
		m, err := b.Meta(i)
		if err != nil {
			return err
		}
		seen.Lock()
		seen.values = append(seen.values, v)
		seen.metas = append(seen.metas, m)
		seen.Unlock()
		outcomes[i] = OutcomeOK
	}
	return nil
}

// --- t_errors: Connect answers by attempt

type tErrors struct{}

func (tErrors) Connect(attempt int) error {
	switch attempt {
	case 1:
		return fmt.Errorf("dial: %w", ErrRetry)
	case 2:
		return ConfigError("bad url %q", "x")
	case 3:
		return errors.New(strings.Repeat("é", 100)) // 200 bytes of 2-byte runes
	case 4:
		return ErrEnd // not an answer on_connect may give
	case 5:
		return ErrDisconnected
	}
	return nil
}
func (tErrors) Close() error                 { return nil }
func (tErrors) Send(*Batch, []Outcome) error { return nil }
func (tErrors) Drain() error                 { return ErrUnsupported }
func (tErrors) Pause() error                 { return nil }
func (tErrors) Resume() error                { return errors.New("cannot resume") }

// --- t_logger: logs from a goroutine that outlives the instance

type tLogger struct {
	host Host
	n    atomic.Int64
}

func (l *tLogger) Connect(int) error { return nil }
func (l *tLogger) Close() error      { return nil }
func (l *tLogger) Send(*Batch, []Outcome) error {
	return nil
}

// TestNoLogAfterDestroy sets loggerDestroyed once the t_logger instance's
// on_destroy returned; its goroutine counts the log calls it makes from
// then on, and those for which its Host still said it was alive.
var (
	loggerDestroyed  atomic.Bool
	loggerTriesAfter atomic.Int64
	loggerLiveAfter  atomic.Int64
)

// loggerTries is how many log calls the goroutine makes after destroy.
const loggerTries = 20

func (l *tLogger) Start() error {
	go func() { // deliberately not stopped by Close
		// The deadline only keeps a failed test from leaving it behind.
		deadline := time.Now().Add(time.Minute)
		for i := 0; time.Now().Before(deadline); i++ {
			after := loggerDestroyed.Load()
			l.host.Infof("tick %d", i)
			l.n.Add(1)
			if after {
				l.host.s.mu.RLock()
				alive := l.host.s.alive
				l.host.s.mu.RUnlock()
				if alive {
					loggerLiveAfter.Add(1)
				}
				if loggerTriesAfter.Add(1) >= loggerTries {
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return nil
}

type tPlain struct{}

func (tPlain) Connect(int) error { return nil }
func (tPlain) Close() error      { noteClose("plain"); return nil }

// --- t_stream: one stream of two events, the last one ending it

type tStream struct{ pulled bool }

func (s *tStream) Connect(int) error { return nil }
func (s *tStream) Close() error      { return nil }

func (s *tStream) Pull(room *Room, _ time.Duration) error {
	if s.pulled {
		return ErrEnd
	}
	if err := room.Push(Event{ID: 1, Stream: 3, Payload: []byte("no newline")}); err != nil {
		return err
	}
	if err := room.Push(Event{ID: 2, Stream: 3, EndStream: true}); err != nil {
		return err
	}
	s.pulled = true
	return nil
}

func (s *tStream) Send(b *Batch, outcomes []Outcome) error {
	for i := 0; i < b.Len(); i++ {
		seen.Lock()
		seen.sent = append(seen.sent, string(b.Payload(i)))
		seen.ends = append(seen.ends, b.EndStream(i))
		seen.Unlock()
		outcomes[i] = OutcomeOK
	}
	return nil
}
