package tests

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/plugin"
	"tremorhost/tests/testenv"
)

// stressDeadline bounds the whole stress: it runs until each of the three
// Go runtimes has collected garbage stressGCs times, which takes about 3 s
// on an idle 2-core machine; a loaded one only takes longer, so this is just
// where a stress that cannot get there fails instead of hanging.
const stressDeadline = 3 * time.Minute

// stressGCs is how many times each runtime must collect during the stress:
// the amount of work the stress does, counted in collections, not seconds.
const stressGCs = 100

// stressChildEnv marks the child process that runs the stress itself.
const stressChildEnv = "TREMOR_STRESS_CHILD"

// gcTraceLine matches a gctrace line's collection number ("gc 12 @3.4s ...").
var gcTraceLine = regexp.MustCompile(`gc (\d+) @`)

// Two Go runtimes besides the host's (libtremor_bench_go.so and
// libtremor_tcp.so, both Go c-shared libraries) in one process: several
// goroutines call into both at once while the host and the plugins allocate
// and collect garbage. Unsupported upstream (golang/go#18976), so this test
// is the evidence that it holds here. Every call must return correct data.
//
// The stress runs in a child process started with GOGC=5 and
// GODEBUG=gctrace=1: a c-shared library's runtime takes its settings from
// the process's initial environment, so only a fresh process makes the
// plugin runtimes collect often on the little they allocate. Each runtime
// numbers its collections from 1 in the GC trace, so "gc 100 @" seen three
// times means all three runtimes collected 100 times: the parent reads the
// trace as it comes and closes the child's stdin, which ends the stress,
// once that is so. It asserts correctness, not speed.
func TestTwoGoRuntimesStress(t *testing.T) {
	if os.Getenv(stressChildEnv) != "" {
		stress(t)
		return
	}
	testenv.Plugin(t, "libtremor_bench_go.so")
	testenv.Plugin(t, "libtremor_tcp.so")
	cmd := exec.Command(os.Args[0], "-test.run=^TestTwoGoRuntimesStress$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), stressChildEnv+"=1", "GOGC=5", "GODEBUG=gctrace=1")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stderrPipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	// The trace is read line by line; collected is closed once every
	// runtime reached stressGCs collections.
	var stderr bytes.Buffer
	collected := make(chan struct{})
	traced := make(chan struct{})
	go func() {
		defer close(traced)
		seen := map[int]int{} // collection number -> runtimes that reported it
		done := false
		sc := bufio.NewScanner(stderrPipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			stderr.Write(sc.Bytes())
			stderr.WriteByte('\n')
			for _, m := range gcTraceLine.FindAllStringSubmatch(sc.Text(), -1) {
				n, _ := strconv.Atoi(m[1])
				seen[n]++
				// A line torn by another runtime's output can hide one
				// "gc N"; the same runtime's next collection counts then.
				if n >= stressGCs && seen[n] >= 3 && !done {
					done = true
					close(collected)
				}
			}
		}
		io.Copy(io.Discard, stderrPipe)
	}()

	reached := false
	select {
	case <-collected:
		reached = true
	case <-traced: // the child ended (or closed stderr) by itself
	case <-time.After(stressDeadline):
	}
	stdin.Close() // ends the stress
	exited := make(chan error, 1)
	go func() { <-traced; exited <- cmd.Wait() }()
	select {
	case err = <-exited:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("the stress child did not end within a minute of being told to:\n%s\n%s", stdout.String(), lastLines(stderr.String(), 40))
	}
	require.NoError(t, err, "stress child failed:\n%s\n%s", stdout.String(), lastLines(stderr.String(), 40))
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.Contains(line, "bench events") {
			t.Log(strings.TrimSpace(line))
		}
	}
	require.True(t, reached, "the host's and both plugins' Go runtimes did not each collect garbage %d times within %s of stress; GC trace (last lines):\n%s",
		stressGCs, stressDeadline, lastLines(stderr.String(), 20))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func stress(t *testing.T) {
	benchSrc := connector(t, "libtremor_bench_go.so", "bench_go_source")
	benchSink := connector(t, "libtremor_bench_go.so", "bench_go_sink")
	tcpServer := connector(t, "libtremor_tcp.so", "tcp_server")
	tcpClient := connector(t, "libtremor_tcp.so", "tcp_client")
	logs := &logBuf{}

	// The parent closes stdin when the stress has done its work (or when
	// it dies): every worker stops at its next round.
	var stopped atomic.Bool
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stopped.Store(true)
	}()
	running := func() bool { return !stopped.Load() }
	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	work := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	var events, tcpBytes, gcs atomic.Uint64

	// bench_go pipelines: source -> host checks -> sink, each with its own instances.
	for g := 0; g < 2; g++ {
		alias := fmt.Sprintf("pipe%d", g)
		src := create(t, benchSrc, alias+"-src", map[string]any{"count": uint64(1) << 40, "size": 100}, logs)
		dst := create(t, benchSink, alias+"-dst", nil, logs)
		lifecycle(t, src, dst)
		work(alias, func() error {
			n, err := benchPipe(src, dst, running)
			events.Add(n)
			if err != nil {
				return err
			}
			if err := dst.Stop(); err != nil {
				return err
			}
			want := fmt.Sprintf("totals: events=%d bytes=%d bad=0 out_of_order=0", n, n*100)
			if logs.find(alias+"-dst", want) == "" {
				return fmt.Errorf("sink totals: want %q, log has %q", want, logs.messages(alias+"-dst"))
			}
			return nil
		})
	}

	// One bench_go_sink shared by three goroutines: the host serialises the
	// calls (one hook of an instance at a time).
	shared := create(t, benchSink, "shared", map[string]any{"check": false}, logs)
	lifecycle(t, shared)
	var sharedSent atomic.Uint64
	for g := 0; g < 3; g++ {
		work(fmt.Sprintf("shared%d", g), func() error {
			b, err := edge.NewBatch(edge.Caps{Events: 16, Values: 0, Bytes: 16 * 64})
			if err != nil {
				return err
			}
			defer b.Free()
			outcomes := make([]uint8, 16)
			for running() {
				b.Reset()
				for k := 0; k < 16; k++ {
					if err := b.Append(&edge.Event{ID: uint64(k), Payload: []byte(`{"seq":` + strconv.Itoa(k) + `,"g":` + strconv.Itoa(g) + "}\n")}); err != nil {
						return err
					}
				}
				if err := shared.Send(b, outcomes); err != nil {
					return err
				}
				for k, o := range outcomes {
					if o != abi.OutcomeOK {
						return fmt.Errorf("outcome %d is %d", k, o)
					}
				}
				sharedSent.Add(16)
			}
			return nil
		})
	}

	// tcp pairs over 127.0.0.1.
	for g := 0; g < 2; g++ {
		addr := freeAddr(t)
		alias := fmt.Sprintf("tcp%d", g)
		srv := create(t, tcpServer, alias+"-srv", map[string]any{"url": addr}, logs)
		cli := create(t, tcpClient, alias+"-cli", map[string]any{"url": addr}, logs)
		lifecycle(t, srv, cli)
		work(alias, func() error {
			n, err := tcpPipe(srv, cli, running, uint64(g))
			tcpBytes.Add(n)
			return err
		})
	}

	// Churn: instances created and destroyed all along. Each bench_go_source
	// allocates its 256 KiB pad in the plugin's runtime, each tcp_client
	// connection allocates on both sides of the tcp plugin's runtime, so the
	// plugin runtimes produce garbage while the other goroutines call in.
	var churned atomic.Uint64
	work("bench-churn", func() error {
		const size = 256 << 10
		b, err := edge.NewBatch(edge.Caps{Events: 4, Values: 0, Bytes: 4 * size})
		if err != nil {
			return err
		}
		defer b.Free()
		for k := 0; running(); k++ {
			src, err := benchSrc.Create(fmt.Sprintf("churn%d", k), map[string]any{"count": 4, "size": size})
			if err != nil {
				return err
			}
			err = src.Connect(1)
			if err == nil {
				err = src.Start()
			}
			if err == nil {
				if err = src.Pull(b, 0); errors.Is(err, edge.ErrEnd) {
					err = nil
				}
			}
			if err == nil && b.Len() != 4 {
				err = fmt.Errorf("pulled %d events, want 4", b.Len())
			}
			for e := 0; err == nil && e < b.Len(); e++ {
				if p := b.Payload(e); len(p) != size || !bytes.HasPrefix(p, []byte(`{"seq":`+strconv.Itoa(e)+`,`)) {
					err = fmt.Errorf("churn event %d: %d bytes starting %q", e, len(p), p[:min(len(p), 16)])
				}
			}
			if err == nil {
				err = src.Stop()
			}
			src.Destroy()
			if err != nil {
				return err
			}
			churned.Add(1)
		}
		return nil
	})
	work("tcp-churn", func() error {
		pb, err := edge.NewBatch(edge.DefaultCaps)
		if err != nil {
			return err
		}
		defer pb.Free()
		sb, err := edge.NewBatch(edge.Caps{Events: 1, Values: 0, Bytes: 64})
		if err != nil {
			return err
		}
		defer sb.Free()
		for k := 0; running(); k++ {
			if err := tcpChurnOnce(tcpServer, tcpClient, k, pb, sb); err != nil {
				return err
			}
			churned.Add(1)
		}
		return nil
	})

	// The host allocates and collects all along.
	work("host-gc", func() error {
		var keep [][]byte
		for running() {
			for k := 0; k < 200; k++ {
				keep = append(keep, make([]byte, 1024+rand.IntN(4096)))
			}
			if len(keep) > 2000 {
				keep = keep[:0]
			}
			runtime.GC()
			gcs.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	})

	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.NoError(t, shared.Stop())
	want := fmt.Sprintf("totals: events=%d ", sharedSent.Load())
	assert.NotEmpty(t, logs.find("shared", want), "shared sink: want %q in %q", want, logs.messages("shared"))
	t.Logf("%d bench events, %d shared-sink events, %d tcp bytes, %d instances churned, %d host GCs in %s", events.Load(), sharedSent.Load(), tcpBytes.Load(), churned.Load(), gcs.Load(), time.Since(began).Round(time.Millisecond))
	assert.NotZero(t, events.Load())
	assert.NotZero(t, tcpBytes.Load())
	assert.NotZero(t, gcs.Load())
	assert.NotZero(t, churned.Load())
}

// benchPipe moves bench events from src to dst while running() holds,
// checking each payload's seq; it returns the number of events moved.
func benchPipe(src, dst *edge.Instance, running func() bool) (uint64, error) {
	b, err := edge.NewBatch(edge.Caps{Events: 64, Values: 0, Bytes: 64 * 100})
	if err != nil {
		return 0, err
	}
	defer b.Free()
	outcomes := make([]uint8, 64)
	ids := make([]uint64, 0, 64)
	var n uint64
	for running() {
		if err := src.Pull(b, 10*time.Millisecond); err != nil {
			return n, err
		}
		ids = ids[:0]
		for k := 0; k < b.Len(); k++ {
			p := b.Payload(k)
			prefix := `{"seq":` + strconv.FormatUint(n, 10) + `,`
			if len(p) != 100 || !bytes.HasPrefix(p, []byte(prefix)) {
				return n, fmt.Errorf("event %d: payload %q", n, p)
			}
			if id := b.Event(k).ID; id != n {
				return n, fmt.Errorf("event %d has id %d", n, id)
			}
			ids = append(ids, n)
			n++
		}
		if b.Len() == 0 {
			continue
		}
		if err := dst.Send(b, outcomes); err != nil {
			return n, err
		}
		for k := 0; k < b.Len(); k++ {
			if outcomes[k] != abi.OutcomeOK {
				return n, fmt.Errorf("outcome %d", outcomes[k])
			}
		}
		if err := src.Ack(ids); err != nil {
			return n, err
		}
	}
	return n, nil
}

// tcpPipe sends numbered lines through cli and checks srv pulls them back
// in order, while running() holds; it returns the bytes moved.
func tcpPipe(srv, cli *edge.Instance, running func() bool, g uint64) (uint64, error) {
	sb, err := edge.NewBatch(edge.Caps{Events: 32, Values: 0, Bytes: 32 * 64})
	if err != nil {
		return 0, err
	}
	defer sb.Free()
	pb, err := edge.NewBatch(edge.DefaultCaps)
	if err != nil {
		return 0, err
	}
	defer pb.Free()
	outcomes := make([]uint8, 32)
	var total uint64
	var seq int
	for running() {
		sb.Reset()
		var want []byte
		for k := 0; k < 32; k++ {
			line := []byte(fmt.Sprintf("pair %d line %d %s\n", g, seq, bytes.Repeat([]byte{'a' + byte(seq%26)}, seq%20)))
			seq++
			want = append(want, line...)
			if err := sb.Append(&edge.Event{ID: uint64(seq), Payload: line}); err != nil {
				return total, err
			}
		}
		if err := cli.Send(sb, outcomes); err != nil {
			return total, err
		}
		var got []byte
		giveUp := time.Now().Add(5 * time.Second)
		for len(got) < len(want) {
			if time.Now().After(giveUp) {
				return total, fmt.Errorf("server got %d of %d bytes", len(got), len(want))
			}
			if err := srv.Pull(pb, 20*time.Millisecond); err != nil && !errors.Is(err, edge.ErrRetry) {
				return total, err
			}
			for k := 0; k < pb.Len(); k++ {
				got = append(got, pb.Payload(k)...)
			}
		}
		if !bytes.Equal(got, want) {
			return total, fmt.Errorf("server got %q, want %q", got, want)
		}
		total += uint64(len(got))
	}
	return total, nil
}

// tcpChurnOnce creates a tcp_server (256 KiB read buffers, allocated by the
// plugin for each new server) and a tcp_client, sends one line across,
// checks it, and destroys both.
func tcpChurnOnce(server, client *plugin.Connector, k int, pb, sb *edge.Batch) (err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	srv, err := server.Create(fmt.Sprintf("churn-srv%d", k), map[string]any{"url": addr, "buf_size": 256 << 10})
	if err != nil {
		return err
	}
	defer srv.Destroy()
	if err := srv.Connect(1); err != nil {
		return err
	}
	cli, err := client.Create(fmt.Sprintf("churn-cli%d", k), map[string]any{"url": addr})
	if err != nil {
		return err
	}
	defer cli.Destroy()
	if err := cli.Connect(1); err != nil {
		return err
	}
	line := fmt.Sprintf("connection %d\n", k)
	sb.Reset()
	if err := sb.Append(&edge.Event{ID: uint64(k), Payload: []byte(line)}); err != nil {
		return err
	}
	if err := cli.Send(sb, make([]uint8, 1)); err != nil {
		return err
	}
	var got []byte
	giveUp := time.Now().Add(5 * time.Second)
	for len(got) < len(line) {
		if time.Now().After(giveUp) {
			return fmt.Errorf("churn server got %q, want %q", got, line)
		}
		if err := srv.Pull(pb, 20*time.Millisecond); err != nil {
			return err
		}
		for e := 0; e < pb.Len(); e++ {
			got = append(got, pb.Payload(e)...)
		}
	}
	if string(got) != line {
		return fmt.Errorf("churn server got %q, want %q", got, line)
	}
	if err := cli.Stop(); err != nil {
		return err
	}
	return srv.Stop()
}
