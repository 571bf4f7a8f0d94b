package tests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/flow"
	"tremorhost/host/isolate"
	"tremorhost/host/runtime"
)

// soakEnv sets the soak's length (a Go duration). The test command runs it
// for a few seconds so that it keeps working; scripts/soak.sh runs it for
// minutes.
const soakEnv = "TREMOR_SOAK"

// soakFlow writes ticks to the file out and to a crashing sink (which
// keeps what it takes in crashyOut), and generated events to the TCP peer.
func soakFlow(out, crashyOut, peer string) string {
	return newFlow("soak").Batch(64).
		// C, in the host: a tick a millisecond, for ever.
		Connector("ticks", metronomeConn(0)).
		// C, in a child process that segfaults after every 300 batches it pulls.
		Connector("gen", Conn{Type: "crash_source", Codec: "json", Isolation: "process",
			Config: cfg("count", 0, "per_pull", 32, "crash_after", 300)}.reconnect(10, 200)).
		// Rust, in the host: every tick as a JSON line.
		Connector("file", fileSink(out, "json")).
		// C, in a child process that segfaults after every 200 batches it is
		// sent; it appends what it takes to a file of its own, which survives it.
		Connector("crashy", Conn{Type: "crash_sink", Codec: "json", Isolation: "process",
			Config: cfg("crash_after", 200, "path", crashyOut)}.reconnect(10, 200)).
		// Go, in a child process (isolation "auto" for pdk-go plugins): every
		// generated event to a TCP peer that restarts every second.
		Connector("net", tcpClient(peer).reconnect(10, 200)).
		Pipeline("ticks_out").
		Pipeline("gen_out").
		Link("ticks", "ticks_out").
		Link("ticks_out", "file").
		Link("ticks_out", "crashy").
		Link("gen", "gen_out").
		Link("gen_out", "net").
		TOML()
}

// soakMinCrashes and soakMinPeerRestarts are the faults every soak sees,
// however short: it runs for its length, then on until both crashing
// connectors' processes died and were restarted this often and the peer
// restarted (and was reconnected to) this often, or fails at soakGiveUp.
// The log is read at debug level: restarts that follow a crash held back
// from the log are logged there.
const (
	soakMinCrashes      = 2
	soakMinPeerRestarts = 2
	soakGiveUp          = 2 * time.Minute
)

// A bounded long run through plugins of all three languages, in the host
// and in child processes, with crashes (sources and sinks segfault over and
// over) and peer restarts injected: every event a source handed over is
// acked or failed back, everything acked was delivered, and the host's
// memory stays flat. The host's counts are checked against what the
// plugins and the far ends say: the metronome's own totals, the lines in
// the file sink's and the crashing sink's files, the lines the TCP peer
// received.
func TestSoak(t *testing.T) {
	length := 4 * time.Second
	if v := os.Getenv(soakEnv); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, soakEnv)
		length = d
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "ticks.jsonl")
	crashyOut := filepath.Join(dir, "crashy.jsonl")
	peer := newCountingServer(t) // restarts are orderly: what a client wrote before it noticed is still read

	f, err := flow.Parse("soak.toml", []byte(soakFlow(out, crashyOut, peer.addr)))
	require.NoError(t, err)
	logs := &tailLog{}
	r, err := runtime.New(f, isoCatalog(t, isolate.Options{}), runtime.Options{
		Log: zerolog.New(logs).Level(zerolog.DebugLevel), DrainTimeout: 30 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last log lines:\n%s", logs.String())
		}
	})

	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		stats []runtime.Stats
		err   error
	}
	done := make(chan result, 1)
	go func() { s, err := r.Run(ctx); done <- result{s, err} }()

	// Restart the peer every second; sample memory after a warm-up quarter
	// and at the end. After its length the soak goes on until the faults
	// it is about have happened.
	start := time.Now()
	var warm uint64
	faulted := func() bool {
		return logs.restarts("gen") >= soakMinCrashes && logs.restarts("crashy") >= soakMinCrashes &&
			peer.reconnected() >= soakMinPeerRestarts
	}
	for time.Since(start) < length || !faulted() {
		if time.Since(start) >= length+soakGiveUp {
			cancel()
			<-done
			t.Fatalf("after %s the soak had seen gen's process restarted %d times and crashy's %d times after crashes (want %d each), and %d peer restarts followed by a reconnect (want %d)",
				time.Since(start).Round(time.Second), logs.restarts("gen"), logs.restarts("crashy"), soakMinCrashes, peer.reconnected(), soakMinPeerRestarts)
		}
		step := time.Second
		if left := length - time.Since(start); left > 0 {
			step = min(step, left)
		}
		time.Sleep(step)
		if warm == 0 && time.Since(start) >= length/4 {
			warm = rssBytes(t)
		}
		peer.restart()
	}
	t.Logf("faults seen after %s; stopping", time.Since(start).Round(time.Millisecond))
	cancel()
	var res result
	select {
	case res = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the flow did not stop within 2 minutes of the shutdown")
	}
	require.NoError(t, res.err)
	end := rssBytes(t)

	stat := func(id string) runtime.Stats { return statOf(t, res.stats, id) }
	ticks, gen, file, crashy, net := stat("ticks"), stat("gen"), stat("file"), stat("crashy"), stat("net")
	t.Logf("%s: ticks %+v", length, ticks)
	t.Logf("gen %+v", gen)
	t.Logf("file %+v, crashy %+v, net %+v; peer received %d lines over %d connections, restarted %d times; processes restarted after crashes: gen %d, crashy %d; RSS %d MiB after warm-up, %d MiB at the end",
		file, crashy, net, peer.count(), peer.accepted(), peer.reconnected(), logs.restarts("gen"), logs.restarts("crashy"), warm>>20, end>>20)

	// The plugins' own accounts.
	emitted, acked, failed, ok := logs.metronomeTotals()
	if assert.True(t, ok, "the metronome logged its totals when it stopped") {
		assert.Equal(t, ticks.In, emitted, "ticks the host took = ticks the metronome emitted")
		assert.Equal(t, ticks.Acks, acked, "ticks the host acked = acks the metronome got")
		assert.Equal(t, ticks.Fails, failed, "ticks the host failed back = fails the metronome got")
	}
	assert.Equal(t, uint64(len(fileLines(t, crashyOut))), crashy.Out, "the crashing sink's own file holds exactly what the host counted delivered to it")

	for _, s := range []runtime.Stats{ticks, gen} {
		assert.Equal(t, s.In, s.Acks+s.Fails, "%s: every event handed over was acked or failed back", s.Connector)
		assert.Greater(t, s.In, uint64(0), "%s produced events", s.Connector)
	}
	assert.Equal(t, uint64(len(fileLines(t, out))), file.Out, "the file holds exactly what its sink delivered")
	assert.Equal(t, ticks.Acks, file.Out, "each tick acked was written once")
	assert.Equal(t, ticks.Acks, crashy.Out, "each tick acked was delivered to the crashing sink too")
	assert.Equal(t, gen.Acks, net.Out, "each generated event acked was sent")
	assert.Equal(t, net.Out, uint64(peer.count()), "the peer received every line the sink delivered (restarts are orderly)")
	assert.LessOrEqual(t, end, warm+64<<20, "memory stays flat: RSS grew from %d MiB to %d MiB", warm>>20, end>>20)
	if length >= time.Minute {
		assert.Greater(t, logs.restarts("gen")+logs.restarts("crashy"), 2*soakMinCrashes, "a long soak saw more than the minimum of crashes")
	}
}

// rssBytes is this process's resident set size.
func rssBytes(t testing.TB) uint64 {
	data, err := os.ReadFile("/proc/self/statm")
	require.NoError(t, err)
	f := strings.Fields(string(data))
	pages, err := strconv.ParseUint(f[1], 10, 64)
	require.NoError(t, err)
	return pages * uint64(os.Getpagesize())
}

// tailLog keeps the last log lines, counts the restarts of each
// connector's process, and keeps the metronome's totals, in bounded memory.
type tailLog struct {
	mu        sync.Mutex
	lines     []string
	restarted map[string]int
	ticks     string // the metronome's "emitted ..." line
}

// metronomeTotals matches the line the metronome logs when it stops.
var metronomeTotals = regexp.MustCompile(`^emitted (\d+) ticks, (\d+) acked, (\d+) failed$`)

func (l *tailLog) Write(p []byte) (int, error) {
	var line struct {
		Connector string `json:"connector"`
		Message   string `json:"message"`
		Restart   int    `json:"restart"`
	}
	_ = json.Unmarshal(p, &line) // a line that is not JSON counts for nothing
	l.mu.Lock()
	defer l.mu.Unlock()
	// Every restart of a connector's process is logged with its number
	// (at debug level while its crash is held back from the log).
	switch {
	case strings.HasPrefix(line.Message, "starting a new process for the plugin"):
		if l.restarted == nil {
			l.restarted = map[string]int{}
		}
		l.restarted[line.Connector] = max(l.restarted[line.Connector], line.Restart)
	case line.Connector == "ticks" && metronomeTotals.MatchString(line.Message):
		l.ticks = line.Message
	}
	l.lines = append(l.lines, string(p))
	if len(l.lines) > 200 {
		l.lines = l.lines[len(l.lines)-200:]
	}
	return len(p), nil
}

// restarts is how many times the process of connector was started again.
func (l *tailLog) restarts(connector string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.restarted[connector]
}

// metronomeTotals returns what the metronome said it emitted and was acked
// and failed, and whether it said so.
func (l *tailLog) metronomeTotals() (emitted, acked, failed uint64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := metronomeTotals.FindStringSubmatch(l.ticks)
	if m == nil {
		return 0, 0, 0, false
	}
	emitted, _ = strconv.ParseUint(m[1], 10, 64)
	acked, _ = strconv.ParseUint(m[2], 10, 64)
	failed, _ = strconv.ParseUint(m[3], 10, 64)
	return emitted, acked, failed, true
}

func (l *tailLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "")
}
