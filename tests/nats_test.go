package tests

// The NATS plugin (plugins/nats-go) against a real NATS server with
// JetStream, embedded in the test binary (github.com/nats-io/nats-server),
// and tremorctl run as a subprocess for every flow.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// natsJetStream starts a NATS server with JetStream on a free loopback
// port, with one stream "EV" capturing "ev.>", and returns its URL and a
// JetStream client.
func natsJetStream(t testing.TB) (string, jetstream.JetStream) {
	t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	require.NoError(t, err)
	s.Start()
	t.Cleanup(s.Shutdown)
	require.True(t, s.ReadyForConnections(30*time.Second), "the embedded NATS server did not start")
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "EV", Subjects: []string{"ev.>"}})
	require.NoError(t, err)
	return s.ClientURL(), js
}

// 20 000 events from the C bench source through nats_sink into the stream,
// then through nats_source into a file: every event arrives exactly once,
// counted at both ends.
func TestNATSSinkThenSource(t *testing.T) {
	const n = 20000
	url, js := natsJetStream(t)
	dir := t.TempDir()
	produce := writeFlow(t, dir, "produce.toml", fmt.Sprintf(twoConnectors, "produce",
		fmt.Sprintf("type = \"bench_source\"\ncodec = \"json\"\npreprocessors = [\"lines\"]\nconfig = { count = %d, size = 64 }", n),
		fmt.Sprintf("type = \"nats_sink\"\ncodec = \"json\"\nconfig = { url = %q, subject = \"ev.bench\" }", url)))
	code, _, stderr := ctl(t, "run", produce)
	require.Equal(t, 0, code, "produce flow:\n%s", lastLines(stderr, 30))
	noCrash(t, stderr)
	rows := statsTable(t, stderr)
	assert.Equal(t, row{n, n, 0, n, 0, 0}, rows["src"])
	st, err := js.Stream(context.Background(), "EV")
	require.NoError(t, err)
	info, err := st.Info(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(n), info.State.Msgs, "the stream stored every event once")

	out := filepath.Join(dir, "out.jsonl")
	p := startCtl(t, "run", writeFlow(t, dir, "consume.toml", fmt.Sprintf(twoConnectors, "consume",
		fmt.Sprintf("type = \"nats_source\"\ncodec = \"json\"\nconfig = { url = %q, stream = \"EV\", durable = \"d\" }", url),
		fmt.Sprintf("type = \"file\"\ncodec = \"json\"\nconfig = { path = %q, mode = \"write\" }", out))))
	eventually(t, fmt.Sprintf("%d lines in %s", n, out), func() bool { return countLines(out) >= n })
	cons, err := js.Consumer(context.Background(), "EV", "d")
	require.NoError(t, err)
	eventually(t, "every message acked", func() bool {
		ci, err := cons.Info(context.Background())
		return err == nil && ci.NumAckPending == 0 && ci.NumPending == 0 && ci.AckFloor.Stream == n
	})
	p.signal(syscall.SIGTERM)
	require.Equal(t, 0, p.wait(), "consume flow:\n%s", lastLines(p.stderr.String(), 30))
	noCrash(t, p.stderr.String())
	rows = statsTable(t, p.stderr.String())
	assert.Equal(t, row{n, n, 0, n, 0, 0}, rows["src"])
	got := fields(t, fileLines(t, out), "seq")
	seen := map[int64]bool{}
	for _, s := range got {
		seen[s] = true
	}
	assert.Len(t, got, n)
	assert.Len(t, seen, n, "every event exactly once")
}

// Two tremorctl processes share one durable consumer while the stream is
// being written; one is killed with SIGKILL. JetStream delivers what the
// dead one had not acked to the survivor after ack_wait: every message
// arrives at least once.
func TestNATSSharedDurableSurvivesKill9(t *testing.T) {
	const n = 4000
	url, js := natsJetStream(t)
	dir := t.TempDir()
	flow := func(name, out string) string {
		return writeFlow(t, dir, name+".toml", fmt.Sprintf(twoConnectors, name,
			fmt.Sprintf("type = \"nats_source\"\ncodec = \"json\"\nconfig = { url = %q, stream = \"EV\", durable = \"shared\", ack_wait_ms = 2000 }", url),
			fmt.Sprintf("type = \"file\"\ncodec = \"json\"\nconfig = { path = %q, mode = \"write\" }", out)))
	}
	outA, outB := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	a := startCtl(t, "run", flow("a", outA))
	b := startCtl(t, "run", flow("b", outB))

	published := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := js.Publish(ctx, "ev.x", []byte(fmt.Sprintf(`{"n":%d}`, i)))
			cancel()
			if err != nil {
				published <- err
				return
			}
			if i%100 == 99 {
				time.Sleep(20 * time.Millisecond)
			}
		}
		published <- nil
	}()
	eventually(t, "both members receive messages", func() bool { return countLines(outA) > 100 && countLines(outB) > 100 })
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
	assert.Equal(t, 128+int(syscall.SIGKILL), a.wait())
	require.NoError(t, <-published)

	all := func() map[int]int {
		seen := map[int]int{}
		for _, f := range []string{outA, outB} {
			data, _ := os.ReadFile(f)
			for _, line := range strings.Split(string(data), "\n") {
				var m struct{ N *int }
				if json.Unmarshal([]byte(line), &m) == nil && m.N != nil {
					seen[*m.N]++
				}
			}
		}
		return seen
	}
	eventually(t, "every message in a.jsonl or b.jsonl", func() bool { return len(all()) == n })
	b.signal(syscall.SIGTERM)
	require.Equal(t, 0, b.wait(), "survivor:\n%s", lastLines(b.stderr.String(), 30))
	noCrash(t, b.stderr.String())
	rows := statsTable(t, b.stderr.String())
	assert.Equal(t, rows["src"][colIn], rows["src"][colAcks])
	dups := 0
	for _, c := range all() {
		dups += c - 1
	}
	t.Logf("%d messages, %d in a (killed), %d in b, %d duplicates", n, countLines(outA), countLines(outB), dups)
}

// A stream that does not exist: nats_source keeps retrying and says what
// to do; a signal stops tremorctl, which exits 1 naming the connector.
func TestNATSNoStream(t *testing.T) {
	url, _ := natsJetStream(t)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	path := writeFlow(t, t.TempDir(), "nostream.toml", fmt.Sprintf(twoConnectors, "nostream",
		fmt.Sprintf("type = \"nats_source\"\ncodec = \"json\"\nconfig = { url = %q, stream = \"NOPE\", durable = \"d\" }", url),
		fmt.Sprintf("type = \"file\"\ncodec = \"json\"\nconfig = { path = %q, mode = \"write\" }", out)))
	p := startCtl(t, "run", path)
	p.waitLog(`"connector":"src"`, "connect failed", `stream \"NOPE\" does not exist`, "create it")
	p.signal(syscall.SIGTERM)
	assert.Equal(t, 1, p.wait())
	assert.Contains(t, p.stderr.String(), `connector "src" (type nats_source): never connected`)
	noCrash(t, p.stderr.String())
}

// Configs that can never work stop tremorctl run and validate before
// anything starts, naming the flow, file, connector and setting; nothing
// is pulled or sent.
func TestNATSConfigErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	fileSink := fmt.Sprintf("type = \"file\"\ncodec = \"json\"\nconfig = { path = %q, mode = \"write\" }", out)
	source := func(extra string) string {
		return "type = \"nats_source\"\ncodec = \"json\"\nconfig = { url = \"nats://127.0.0.1:1\", stream = \"S\", durable = \"d\"" + extra + " }"
	}
	for _, c := range []struct{ name, src, dst, id, typ, msg string }{
		{"ack wait", source(`, ack_wait_ms = 10`), fileSink, "src", "nats_source", "ack_wait_ms 10 must be at least 1000"},
		{"max ack pending", source(`, max_ack_pending = 0`), fileSink, "src", "nats_source", "max_ack_pending 0 must be between 1 and 1048576"},
		{"sink timeout", metronome(5), "type = \"nats_sink\"\ncodec = \"json\"\nconfig = { url = \"nats://127.0.0.1:1\", subject = \"x\", send_timeout_ms = 60000 }", "dst", "nats_sink", "send_timeout_ms 60000 must be between 100 and 8000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			refusedAtCreation(t, fmt.Sprintf(twoConnectors, "create", c.src, c.dst), c.id, c.typ, c.msg)
		})
	}
}

// With max_ack_pending far below a room, nats_source asks for no more than
// JetStream will deliver and goes on as acks come back: every message
// arrives once, the durable carries the limit, nothing stays pending.
func TestNATSMaxAckPending(t *testing.T) {
	const n, limit = 3000, 10
	url, js := natsJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		_, err := js.Publish(ctx, "ev.x", fmt.Appendf(nil, `{"seq":%d}`, i))
		require.NoError(t, err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	p := startCtl(t, "run", writeFlow(t, dir, "consume.toml", fmt.Sprintf(twoConnectors, "consume",
		fmt.Sprintf("type = \"nats_source\"\ncodec = \"json\"\nconfig = { url = %q, stream = \"EV\", durable = \"d\", max_ack_pending = %d }", url, limit),
		fmt.Sprintf("type = \"file\"\ncodec = \"json\"\nconfig = { path = %q, mode = \"write\" }", out))))
	eventually(t, fmt.Sprintf("%d lines in %s", n, out), func() bool { return countLines(out) >= n })
	cons, err := js.Consumer(ctx, "EV", "d")
	require.NoError(t, err)
	eventually(t, "every message acked", func() bool {
		ci, err := cons.Info(ctx)
		return err == nil && ci.NumAckPending == 0 && ci.NumPending == 0 && ci.AckFloor.Stream == n
	})
	assert.Equal(t, limit, cons.CachedInfo().Config.MaxAckPending)
	p.signal(syscall.SIGTERM)
	require.Equal(t, 0, p.wait(), "consume flow:\n%s", lastLines(p.stderr.String(), 30))
	noCrash(t, p.stderr.String())
	assert.Equal(t, row{n, n, 0, n, 0, 0}, statsTable(t, p.stderr.String())["src"])
	seen := map[int64]bool{}
	for _, s := range fields(t, fileLines(t, out), "seq") {
		seen[s] = true
	}
	assert.Len(t, seen, n, "every message once")
}
