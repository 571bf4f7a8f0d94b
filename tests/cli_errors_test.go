package tests

// Every way a flow can go wrong at run time, through build/bin/tremorctl
// as a subprocess: a connector that cannot be created, connect and start
// failures, send errors, a sink that never connects, a hook that never
// returns, signals, and errors in the flow's structure. Each case checks
// the exit status, the message and the counts at both ends.

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/tests/testenv"
)

// ctlDeadline bounds a tremorctl run that is expected to end by itself:
// several drain timeouts and graces on a loaded machine.
const ctlDeadline = 60 * time.Second

// ctlProc is a tremorctl process; its output is collected as it comes.
type ctlProc struct {
	t              testing.TB
	args           []string
	cmd            *exec.Cmd
	stdout, stderr logBuf
	done           chan struct{}
	code           int
}

// startCtl starts `tremorctl ARGS...` with JSON logs; the test's cleanup
// kills it if it is still running.
func startCtl(t testing.TB, args ...string) *ctlProc {
	t.Helper()
	return startCtlBin(t, tremorctl(t), args...)
}

// startCtlBin is startCtl with another tremorctl binary (a copy in a tree
// of its own, which searches only that tree's plugin directory).
func startCtlBin(t testing.TB, bin string, args ...string) *ctlProc {
	t.Helper()
	args = append([]string{"--log-format", "json"}, args...)
	p := &ctlProc{t: t, args: args, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		defer close(p.done)
		err := p.cmd.Wait()
		p.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = 128 + int(ws.Signal())
			}
		} else if err != nil {
			p.code = -1
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit status.
func (p *ctlProc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(ctlDeadline):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("tremorctl %v did not end within %s\nstdout:\n%s\nstderr:\n%s", p.args, ctlDeadline, p.stdout.String(), lastLines(p.stderr.String(), 30))
		return 0
	}
}

// waitLog waits until stderr has a line containing every one of substrs.
func (p *ctlProc) waitLog(substrs ...string) {
	p.t.Helper()
	waitUntil(p.t, fmt.Sprintf("tremorctl logs a line with %q", substrs), func() bool {
		select {
		case <-p.done:
			p.t.Fatalf("tremorctl exited (%d) before logging %q\nstderr:\n%s", p.code, substrs, lastLines(p.stderr.String(), 30))
		default:
		}
	lines:
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			for _, s := range substrs {
				if !strings.Contains(line, s) {
					continue lines
				}
			}
			return true
		}
		return false
	})
}

func (p *ctlProc) signal(sig os.Signal) { require.NoError(p.t, p.cmd.Process.Signal(sig)) }

// ctl runs tremorctl to its end and returns its exit status, stdout and
// stderr.
func ctl(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	p := startCtl(t, args...)
	code := p.wait()
	return code, p.stdout.String(), p.stderr.String()
}

// writeFlow writes a flow file into dir and returns its path.
func writeFlow(t testing.TB, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

// faultPath is a plugin path with only the C fault plugin (build/test-plugins
// also holds fixtures that claim bundled connector names).
func faultPath(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "plugins")
	require.NoError(t, os.Mkdir(dir, 0o755))
	src, err := os.Open(testenv.Fixture(t, "fault"))
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(filepath.Join(dir, "libtremor_fault.so"), os.O_CREATE|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
	return dir
}

// row is one connector's counters in tremorctl's summary: in, out,
// errors, acks, fails, discarded.
type row = [6]uint64

const (
	colIn = iota
	colOut
	colErrors
	colAcks
	colFails
)

// noCrash checks that tremorctl did not show a Go panic.
func noCrash(t testing.TB, stderr string) {
	t.Helper()
	assert.NotContains(t, stderr, "panic:")
	assert.NotContains(t, stderr, "goroutine ")
}

// twoConnectors is a flow of one source and one sink through a pipeline
// "p"; each %s is a connector's table body.
const twoConnectors = `
[flow]
name = "%s"
batch_size = 16

[[connector]]
id = "src"
%s

[[connector]]
id = "dst"
%s

[[pipeline]]
id = "p"

[[link]]
from = "src"
to = "p"
[[link]]
from = "p"
to = "dst"
`

// metronome emits n events, one per millisecond.
func metronome(n int) string {
	return fmt.Sprintf("type = \"metronome\"\nconfig = { interval_ms = 1, count = %d }", n)
}

// A connector whose plugin refuses its config at create time: run and
// validate both exit 1 naming the flow, the connector, its type and the
// plugin's message; nothing runs (the other connector is created and
// destroyed, no event moves), and no Go panic.
func TestCLIConnectorCannotBeCreated(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	fileSink := fmt.Sprintf("type = \"file\"\ncodec = \"json\"\nconfig = { path = %q, mode = \"write\" }", out)
	for _, c := range []struct {
		name, src, dst, id, typ, msg string
	}{
		{"source isolated (Go tcp plugin)", "type = \"tcp_server\"\ncodec = \"json\"\nconfig = { url = \"not a url at all\" }", fileSink,
			"src", "tcp_server", `url "not a url at all" is not host:port`},
		{"source in the host", "type = \"tcp_server\"\nisolation = \"none\"\ncodec = \"json\"\nconfig = { url = \"not a url at all\" }", fileSink,
			"src", "tcp_server", `url "not a url at all" is not host:port`},
		{"sink in the host (Rust file plugin)", metronome(5), "type = \"file\"\ncodec = \"json\"\nconfig = { path = \"/nonexistent/x\", mode = \"bogus\" }",
			"dst", "file", "config field `mode` must be one of"},
		{"sink isolated", metronome(5), "type = \"file\"\nisolation = \"process\"\ncodec = \"json\"\nconfig = { path = \"/nonexistent/x\", mode = \"bogus\" }",
			"dst", "file", "config field `mode` must be one of"},
	} {
		t.Run(c.name, func(t *testing.T) {
			refusedAtCreation(t, fmt.Sprintf(twoConnectors, "create", c.src, c.dst), c.id, c.typ, c.msg)
			_, err := os.Stat(out)
			assert.ErrorIs(t, err, os.ErrNotExist, "the file sink was created but never connected")
		})
	}
}

// refusedAtCreation writes flow (named "create", connectors "src" and
// "dst") and runs it with tremorctl run and tremorctl validate: both exit 1
// naming the flow, connector id of type typ, the plugin's message msg and
// where the type's fields are listed, without a Go panic; run pulls and
// sends nothing, and validate does not say ok.
func refusedAtCreation(t *testing.T, flow, id, typ, msg string) {
	t.Helper()
	path := writeFlow(t, t.TempDir(), "create.toml", flow)
	want := fmt.Sprintf(`tremorctl: flow "create" (%s): connector %q (type %s): could not be created: `, path, id, typ)
	for _, cmd := range []string{"run", "validate"} {
		code, stdout, stderr := ctl(t, cmd, path)
		assert.Equal(t, 1, code, "%s: stderr:\n%s", cmd, stderr)
		assert.Contains(t, stderr, want, cmd)
		assert.Contains(t, stderr, msg, cmd)
		assert.Contains(t, stderr, "tremorctl inspect "+typ, "%s: says where the fields are listed", cmd)
		noCrash(t, stderr)
		if cmd == "run" {
			rows := statsTable(t, stderr)
			assert.Equal(t, row{}, rows["src"], "nothing pulled")
			assert.Equal(t, row{}, rows["dst"], "nothing sent")
		} else {
			assert.NotContains(t, stdout, "ok")
		}
	}
}

// A plugin error is told to operators in words, naming the flow, the
// connector, the plugin's message and what to do; the result code's name
// and the plugin's file are for --log-level debug only. Run and validate
// alike, for a config refused at creation and for send errors of a
// running flow (log lines, not only the exit message).
func TestCLIPluginErrorDetailAtDebugOnly(t *testing.T) {
	plugins := faultPath(t)
	file := filepath.Join(plugins, "libtremor_fault.so")
	for _, c := range []struct {
		name, cmd, sink string
		says            []string // at every level
		code            string   // the result code's name, at debug only
	}{
		{"refused config, run", "run", `fail_at = "create", fail_code = -2`,
			[]string{`tremorctl: flow "words" (%s): connector "dst" (type fault): could not be created: plugin "fault" refused its config at creation: fault: told to fail at create; fix its config in the flow (tremorctl inspect fault lists the fields)`},
			"TREMOR_ERR_CONFIG"},
		{"refused config, validate", "validate", `fail_at = "create", fail_code = -2`,
			[]string{`tremorctl: flow "words" (%s): connector "dst" (type fault): could not be created: plugin "fault" refused its config at creation: fault: told to fail at create; fix its config in the flow (tremorctl inspect fault lists the fields)`},
			"TREMOR_ERR_CONFIG"},
		{"send errors", "run", `fail_at = "send"`,
			[]string{`"flow":"words","connector":"dst"`, `"error":"plugin \"fault\" reported an error while sending events: fault: told to fail at send"`, "send failed; undelivered events are failed back"},
			"TREMOR_ERR_FAILED"},
	} {
		for _, debug := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, debug %v", c.name, debug), func(t *testing.T) {
				sink := fmt.Sprintf("type = \"fault\"\ncodec = \"json\"\nconfig = { %s }", c.sink)
				path := writeFlow(t, t.TempDir(), "words.toml", fmt.Sprintf(twoConnectors, "words", metronome(20), sink))
				args := []string{c.cmd, "--plugin-path", plugins, path}
				if debug {
					args = append([]string{"--log-level", "debug"}, args...)
				}
				code, stdout, stderr := ctl(t, args...)
				assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
				noCrash(t, stderr)
				for _, s := range c.says {
					if strings.Contains(s, "%s") {
						s = fmt.Sprintf(s, path)
					}
					assert.Contains(t, stderr, s)
				}
				detail := []string{`"code":"` + c.code + `"`, `"plugin":"fault"`, `"plugin_file":"` + file + `"`}
				for _, d := range detail {
					if debug {
						assert.Contains(t, stderr, d, "the detail at debug level")
					} else {
						assert.NotContains(t, stderr, d)
					}
				}
				if !debug {
					assert.NotContains(t, stderr, "TREMOR_ERR_", "no result code name at the default level")
					assert.NotContains(t, stderr, ".so", "no plugin file path at the default level")
				}
				if c.cmd == "validate" {
					assert.NotContains(t, stdout, "ok")
					return
				}
				rows := statsTable(t, stderr)
				if c.code == "TREMOR_ERR_CONFIG" {
					assert.Equal(t, row{}, rows["src"], "nothing pulled")
					assert.Equal(t, row{}, rows["dst"], "nothing sent")
					return
				}
				assert.Equal(t, row{20, 20, 0, 0, 20, 0}, rows["src"], "every event failed back, none dropped")
				assert.Equal(t, uint64(20), rows["dst"][colFails])
				assert.Greater(t, rows["dst"][colErrors], uint64(0))
			})
		}
	}
}

// Connect, start and send failures of a sink (the C fault plugin, in the
// host) fed by 20 metronome events: tremorctl says which connector failed
// and why, exits 1, and every event the source produced is failed back
// and counted failed at both ends. A sink that gives up for good stops the
// flow (its source stops pulling: it would only fail events back), so
// there the source produced what it had until then; a sink whose sends
// fail but which stays up gets all 20.
func TestCLISinkFailures(t *testing.T) {
	plugins := faultPath(t)
	for _, c := range []struct {
		name, cfg, extra string
		msgs             []string // in stderr
		errors           uint64   // the sink's errors column; 0: at least one
		givesUp          bool     // the sink gives up for good: the flow stops
	}{
		{"fatal connect error", `fail_at = "connect", fail_code = -2`, "",
			[]string{`connector "dst" (type fault): plugin "fault" refused its config while connecting: fault: told to fail at connect; fix its config in the flow (tremorctl inspect fault lists the fields)`}, 1, true},
		{"gives up at reconnect.max_attempts", `fail_at = "connect"`, "[connector.reconnect]\ninitial_ms = 1\nmax_ms = 2\nmax_attempts = 3",
			[]string{`connector "dst" (type fault): gave up connecting after 3 attempts (reconnect.max_attempts)`, "fault: told to fail at connect"}, 3, true},
		{"on_start fails", `fail_at = "start"`, "",
			[]string{`connector "dst" (type fault): start: `, "fault: told to fail at start"}, 1, true},
		{"fatal send error", `fail_at = "send", fail_code = -2`, "",
			[]string{`connector "dst" (type fault): `, "fault: told to fail at send", "sink gave up"}, 1, true},
		{"send errors", `fail_at = "send"`, "",
			[]string{"send failed; undelivered events are failed back", "fault: told to fail at send"}, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			sink := fmt.Sprintf("type = \"fault\"\ncodec = \"json\"\nconfig = { %s }\n%s", c.cfg, c.extra)
			path := writeFlow(t, t.TempDir(), "sink.toml", fmt.Sprintf(twoConnectors, "sink", metronome(20), sink))
			code, _, stderr := ctl(t, "run", "--plugin-path", plugins, "--drain-timeout", "5s", path)
			assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
			for _, m := range c.msgs {
				assert.Contains(t, stderr, m)
			}
			noCrash(t, stderr)
			rows := statsTable(t, stderr)
			src, dst := rows["src"], rows["dst"]
			if c.givesUp {
				assert.Contains(t, stderr, "a sink gave up: stopping the flow")
				assert.LessOrEqual(t, src[colIn], uint64(20))
				assert.NotContains(t, stderr, `connector "src" (type metronome): never connected`, "the source was stopped, it did not fail")
			} else {
				assert.Equal(t, uint64(20), src[colIn])
			}
			if n := src[colIn]; n > 0 {
				assert.Contains(t, stderr, fmt.Sprintf("tremorctl: %d event", n))
				assert.Contains(t, stderr, "failed back to")
			}
			assert.Equal(t, uint64(0), src[colAcks])
			assert.Equal(t, src[colIn], src[colFails], "every event failed back to the source")
			assert.Equal(t, uint64(0), dst[colOut])
			assert.Equal(t, src[colIn], dst[colFails], "and counted failed on the sink")
			if c.errors > 0 {
				assert.Equal(t, c.errors, dst[colErrors])
			} else {
				assert.Greater(t, dst[colErrors], uint64(0))
			}
		})
	}
}

// A source whose connect or start fails: named, exit 1, nothing pulled.
func TestCLISourceFailures(t *testing.T) {
	plugins := faultPath(t)
	for _, c := range []struct{ name, cfg, msg string }{
		{"fatal connect error", `fail_at = "connect", fail_code = -2`, "fault: told to fail at connect"},
		{"on_start fails", `fail_at = "start"`, "start: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := fmt.Sprintf("type = \"fault\"\ncodec = \"string\"\nconfig = { count = 10, %s }", c.cfg)
			dst := "type = \"bench_sink\"\ncodec = \"string\""
			path := writeFlow(t, t.TempDir(), "src.toml", fmt.Sprintf(twoConnectors, "src", src, dst))
			code, _, stderr := ctl(t, "run", "--plugin-path", plugins, path)
			assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
			assert.Contains(t, stderr, `tremorctl: flow "src" (`+path+`): connector "src" (type fault): `)
			assert.Contains(t, stderr, c.msg)
			noCrash(t, stderr)
			rows := statsTable(t, stderr)
			assert.Equal(t, row{0, 0, 1, 0, 0, 0}, rows["src"], "one failed call, nothing pulled")
			assert.Equal(t, row{}, rows["dst"])
		})
	}
}

// A hook that never returns (in the host): after the drain timeout and a
// short grace tremorctl exits 1 naming the hook and the connector, at the
// natural end of a finite flow and after SIGTERM alike; the events of the
// healthy end are all settled.
func TestCLIHungHook(t *testing.T) {
	plugins := faultPath(t)
	t.Run("send, at the natural end", func(t *testing.T) {
		sink := "type = \"fault\"\ncodec = \"json\"\nconfig = { hang_at = \"send\" }"
		path := writeFlow(t, t.TempDir(), "hang.toml", fmt.Sprintf(twoConnectors, "hang", metronome(5), sink))
		code, _, stderr := ctl(t, "run", "--plugin-path", plugins, "--drain-timeout", "1s", path)
		assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
		assert.Regexp(t, `tremorctl: flow "hang" \(.*\): connector "dst" \(type fault\): on_send has not returned for \d+s`, stderr)
		noCrash(t, stderr)
		rows := statsTable(t, stderr)
		assert.Equal(t, row{5, 5, 0, 0, 5, 0}, rows["src"], "all five failed back")
		assert.Equal(t, uint64(5), rows["dst"][colIn])
		assert.Equal(t, uint64(0), rows["dst"][colOut])
	})
	t.Run("pull, after SIGTERM", func(t *testing.T) {
		src := "type = \"fault\"\ncodec = \"string\"\nconfig = { hang_at = \"pull\" }"
		dst := "type = \"bench_sink\"\ncodec = \"string\""
		path := writeFlow(t, t.TempDir(), "hang.toml", fmt.Sprintf(twoConnectors, "hang", src, dst))
		p := startCtl(t, "run", "--plugin-path", plugins, "--drain-timeout", "1s", path)
		p.waitLog(`"connector":"src"`, `"message":"connected"`)
		p.signal(syscall.SIGTERM)
		code := p.wait()
		stderr := p.stderr.String()
		assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
		assert.Regexp(t, `connector "src" \(type fault\): on_pull has not returned for \d+s`, stderr)
		noCrash(t, stderr)
		rows := statsTable(t, p.stderr.String())
		assert.Equal(t, row{}, rows["src"])
		assert.Equal(t, row{}, rows["dst"])
	})
}

// A finite flow whose sink never connects ends after the drain timeout
// (not never): exit 1, the sink named, every event failed back.
func TestCLISinkNeverConnects(t *testing.T) {
	sink := fmt.Sprintf("type = \"tcp_client\"\ncodec = \"json\"\nconfig = { url = %q }\n[connector.reconnect]\ninitial_ms = 10\nmax_ms = 50", freeAddr(t))
	path := writeFlow(t, t.TempDir(), "never.toml", fmt.Sprintf(twoConnectors, "never", metronome(1), sink))
	code, _, stderr := ctl(t, "run", "--drain-timeout", "1s", path)
	assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
	// The last attempt's reason: the plugin's RETRY said why.
	assert.Regexp(t, `connector "dst" \(type tcp_client\): never connected; the last attempt: connect to [0-9.:]+: dial tcp [0-9.:]+: connect: connection refused`, stderr)
	assert.Contains(t, stderr, "tremorctl: 1 event was failed back to its source")
	noCrash(t, stderr)
	rows := statsTable(t, stderr)
	assert.Equal(t, row{1, 1, 0, 0, 1, 0}, rows["src"])
	assert.Equal(t, uint64(0), rows["dst"][colOut])
	assert.Equal(t, uint64(1), rows["dst"][colFails])
}

// SIGINT, SIGTERM and SIGHUP all drain and stop a running flow: exit 0
// when everything was delivered (SIGHUP used to kill it with 129).
func TestCLISignalsDrain(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			addr := freeAddr(t)
			out := filepath.Join(t.TempDir(), "out.jsonl")
			src := fmt.Sprintf("type = \"tcp_server\"\ncodec = \"json\"\npreprocessors = [\"lines\"]\nconfig = { url = %q }", addr)
			dst := fmt.Sprintf("type = \"file\"\ncodec = \"json\"\nconfig = { path = %q, mode = \"write\" }", out)
			path := writeFlow(t, t.TempDir(), "sig.toml", fmt.Sprintf(twoConnectors, "sig", src, dst))
			p := startCtl(t, "run", path)
			c := dialRetry(t, addr)
			writeAll(t, c, jsonLines(0, 3), 7)
			waitUntil(t, "3 lines in "+out, func() bool { return len(fileLines(t, out)) == 3 })
			p.signal(sig)
			code := p.wait()
			assert.Equal(t, 0, code, "stderr:\n%s", lastLines(p.stderr.String(), 20))
			rows := statsTable(t, p.stderr.String())
			got := rows["src"] // in counts what each read got, not lines
			assert.Equal(t, [4]uint64{3, 0, got[colIn], 0}, [4]uint64{got[colOut], got[colErrors], got[colAcks], got[colFails]}, "src: out, errors, acks, fails")
			assert.Equal(t, row{3, 3, 0, 0, 0, 0}, rows["dst"])
		})
	}
}

// A listener that never binds (its port is taken) retries until SIGTERM;
// then tremorctl exits 1 saying it never connected.
func TestCLIListenerNeverBinds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	src := fmt.Sprintf("type = \"tcp_server\"\ncodec = \"json\"\nconfig = { url = %q }\n[connector.reconnect]\ninitial_ms = 10\nmax_ms = 50", ln.Addr())
	path := writeFlow(t, t.TempDir(), "bind.toml", fmt.Sprintf(twoConnectors, "bind", src, "type = \"bench_sink\"\ncodec = \"json\""))
	p := startCtl(t, "run", path)
	p.waitLog("connect failed; retrying")
	p.signal(syscall.SIGTERM)
	code := p.wait()
	stderr := p.stderr.String()
	assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
	assert.Contains(t, stderr, `connector "src" (type tcp_server): never connected`)
	assert.Contains(t, stderr, "address already in use")
	rows := statsTable(t, p.stderr.String())
	assert.Equal(t, uint64(0), rows["src"][colIn])
	assert.Greater(t, rows["src"][colErrors], uint64(0), "each failed attempt counted")
	assert.Equal(t, row{}, rows["dst"])
}

// Errors in a flow's structure (runtime.New): validate and run refuse the
// flow naming the file, the line and the key, and what to do.
func TestCLIFlowStructureErrors(t *testing.T) {
	const head = "[flow]\nname = \"s\"\n"
	server := "[[connector]]\nid = \"in\"\ntype = \"tcp_server\"\ncodec = \"json\"\nconfig = { url = \"127.0.0.1:1\" }\n"
	client := "[[connector]]\nid = \"out\"\ntype = \"tcp_client\"\ncodec = \"json\"\nconfig = { url = \"127.0.0.1:1\" }\n"
	pipe := "[[pipeline]]\nid = \"p\"\n"
	link := func(from, to string) string { return fmt.Sprintf("[[link]]\nfrom = %q\nto = %q\n", from, to) }
	for _, c := range []struct{ name, text, key, msg string }{
		{"not a source", head + server + client + pipe + link("out", "p") + link("in", "p") + link("p", "out"),
			"link[0].from", `connector "out" (type tcp_client) is not a source`},
		{"not a sink", head + server + client + pipe + link("in", "p") + link("p", "in"),
			"link[1].to", `connector "in" (type tcp_server) is not a sink`},
		{"unlinked connector", head + server + client + "[[connector]]\nid = \"spare\"\ntype = \"bench_sink\"\n" + pipe + link("in", "p") + link("p", "out"),
			"connector[2].id", `connector "spare" is not linked to any pipeline; add a [[link]] or remove it`},
		{"only err linked", head + server + client + pipe + link("in/err", "p") + link("p", "out"),
			"connector[0].id", `connector "in": only its err port is linked; link "in/out" to a pipeline too`},
		{"pre-processors on a sink", head + server + strings.Replace(client, "codec", "preprocessors = [\"lines\"]\ncodec", 1) + pipe + link("in", "p") + link("p", "out"),
			"connector[1].preprocessors", "pre-processors only apply to a connector used as a source"},
		{"post-processors on a source", head + strings.Replace(server, "codec", "postprocessors = [\"lines\"]\ncodec", 1) + client + pipe + link("in", "p") + link("p", "out"),
			"connector[0].postprocessors", "post-processors only apply to a connector used as a sink"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFlow(t, t.TempDir(), "s.toml", c.text)
			for _, cmd := range []string{"validate", "run"} {
				code, stdout, stderr := ctl(t, cmd, path)
				assert.Equal(t, 1, code, "%s: stdout %q stderr %q", cmd, stdout, stderr)
				assert.Regexp(t, fmt.Sprintf(`tremorctl: %s:\d+: %s: `, regexp.QuoteMeta(path), regexp.QuoteMeta(c.key)), lastLine(stderr), cmd)
				assert.Contains(t, stderr, c.msg, cmd)
				assert.Empty(t, stdout, "%s: nothing ran", cmd)
			}
		})
	}
}

// SIGTERM while a sink is still trying to connect and nothing is in flight:
// no event can reach the sink any more, so tremorctl stops at once, even
// with --drain-timeout 0 (wait for ever), and says the sink never connected.
func TestCLISignalWhileSinkConnectsStopsWithoutEvents(t *testing.T) {
	src := fmt.Sprintf("type = \"tcp_server\"\ncodec = \"json\"\nconfig = { url = %q }", freeAddr(t))
	sink := fmt.Sprintf("type = \"tcp_client\"\ncodec = \"json\"\nconfig = { url = %q }\n[connector.reconnect]\ninitial_ms = 10\nmax_ms = 50", freeAddr(t))
	path := writeFlow(t, t.TempDir(), "idle.toml", fmt.Sprintf(twoConnectors, "idle", src, sink))
	p := startCtl(t, "run", "--log-level", "debug", "--drain-timeout", "0", path)
	p.waitLog(`"connector":"src"`, `"message":"connected"`)
	p.waitLog(`"connector":"dst"`, "retrying")
	p.signal(syscall.SIGTERM)
	code := p.wait()
	stderr := p.stderr.String()
	assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
	assert.Contains(t, stderr, `connector "dst" (type tcp_client): never connected`)
	assert.NotContains(t, stderr, "events were failed back")
	rows := statsTable(t, p.stderr.String())
	assert.Equal(t, row{}, rows["src"])
	assert.Equal(t, uint64(0), rows["dst"][colIn])
}

// A negative --drain-timeout is refused before anything runs.
func TestCLINegativeDrainTimeout(t *testing.T) {
	path := writeFlow(t, t.TempDir(), "m.toml", fmt.Sprintf(twoConnectors, "m", metronome(1), "type = \"bench_sink\"\ncodec = \"json\""))
	code, stdout, stderr := ctl(t, "run", "--drain-timeout", "-1s", path)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "tremorctl: --drain-timeout -1s: use a positive duration, or 0 to wait for ever")
	assert.Empty(t, stdout)
}

// A sink that misreports its sends: one that answers OK without writing
// any outcome (every event counts as failed, and the log says why, once),
// and one that answers RETRY for ever (the flow ends at the drain timeout,
// the events are failed back, and the endless retrying was warned about
// with its counts). Exit 1 and counts at both ends in each case.
func TestCLISinkMisreportsOutcomes(t *testing.T) {
	plugins := faultPath(t)
	t.Run("OK without outcomes", func(t *testing.T) {
		sink := "type = \"fault\"\ncodec = \"json\"\nconfig = { misbehave = \"no_outcomes\" }"
		path := writeFlow(t, t.TempDir(), "noout.toml", fmt.Sprintf(twoConnectors, "noout", metronome(20), sink))
		code, _, stderr := ctl(t, "run", "--plugin-path", plugins, "--drain-timeout", "5s", path)
		assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
		assert.Contains(t, stderr, "tremorctl: 20 events were failed back to their sources")
		cause := regexp.MustCompile(`sink \\?"dst\\?" returned OK but left \d+ of \d+ outcomes FAILED`)
		assert.Len(t, cause.FindAllString(stderr, -1), 1, "the cause is logged once, not per batch:\n%s", lastLines(stderr, 20))
		noCrash(t, stderr)
		rows := statsTable(t, stderr)
		assert.Equal(t, row{20, 20, 0, 0, 20, 0}, rows["src"], "every event failed back to the source")
		assert.Equal(t, uint64(20), rows["dst"][colIn])
		assert.Equal(t, uint64(0), rows["dst"][colOut])
		assert.Equal(t, uint64(20), rows["dst"][colFails], "the fails are the sink's")
	})
	t.Run("RETRY for ever", func(t *testing.T) {
		// The warning comes once per 10 s of retrying: a drain timeout of
		// 12 s gives it time to come once before the events are failed back.
		sink := "type = \"fault\"\ncodec = \"json\"\nconfig = { misbehave = \"retry_forever\" }\n[connector.reconnect]\ninitial_ms = 50\nmax_ms = 50"
		path := writeFlow(t, t.TempDir(), "retry.toml", fmt.Sprintf(twoConnectors, "retry", metronome(10), sink))
		code, _, stderr := ctl(t, "run", "--plugin-path", plugins, "--drain-timeout", "12s", path)
		assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
		assert.Contains(t, stderr, "tremorctl: 10 events were failed back to their sources")
		warn := regexp.MustCompile(`sink \\?"dst\\?" asked to retry \d+ events (\d+) times in the last \d+s`)
		m := warn.FindAllStringSubmatch(stderr, -1)
		if assert.NotEmpty(t, m, "the endless retrying is warned about:\n%s", lastLines(stderr, 20)) {
			assert.LessOrEqual(t, len(m), 2, "at a bounded rate")
			assert.NotEqual(t, "0", m[0][1], "with the number of sends")
		}
		noCrash(t, stderr)
		rows := statsTable(t, stderr)
		assert.Equal(t, row{10, 10, 0, 0, 10, 0}, rows["src"], "failed back at the drain timeout")
		assert.Equal(t, uint64(0), rows["dst"][colOut])
		assert.Equal(t, uint64(10), rows["dst"][colFails])
	})
}
