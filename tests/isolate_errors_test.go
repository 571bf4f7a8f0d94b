package tests

// What a user of `tremorctl` sees when isolation itself goes wrong: an
// isolated plugin that segfaults before it ever runs (in on_create or
// on_start), a TREMOR_RUNNER that is a program of the right owner and mode
// but not a runner of this host (another ABI, one that hangs, one that
// answers a megabyte of junk), and an in-process crash whose report cannot
// be saved to a file. In each case tremorctl itself does not crash and
// shows no Go stack trace (except the runtime's report it could not
// save), ends with a non-zero status within a bounded time, and says what
// failed and where.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/isolate"
)

// isoErrFlowFile is faultFlowFile's flow (a fault source of 100 events
// into a fault sink) in which connector crashID ("src" or "dst") runs in
// a child process, segfaults in hook and reconnects as reconnect says
// ("" for the default policy).
func isoErrFlowFile(t *testing.T, crashID, hook string, reconnect toml) string {
	t.Helper()
	crash := fmt.Sprintf(", crash_at = %q", hook)
	src, dst := faultConns("", crash)
	crashing := &dst
	if crashID == "src" {
		src, dst = faultConns(crash, "")
		crashing = &src
	}
	crashing.Isolation, crashing.Reconnect = "process", reconnect
	return writeFaultFlow(t, src, dst)
}

// isoErrReconnect3 gives up after 3 reconnect attempts, quickly.
var isoErrReconnect3 = cfg("initial_ms", 10, "max_ms", 20, "max_attempts", 3)

// isoErrLog is tremorctl's JSON log, one object per line (other lines are
// left out).
func isoErrLog(stderr string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// isoErrCount counts the log lines of connector id (any when "") whose
// message contains substr.
func isoErrCount(log []map[string]any, id, substr string) int {
	n := 0
	for _, m := range log {
		msg, _ := m["message"].(string)
		if (id == "" || m["connector"] == id) && strings.Contains(msg, substr) {
			n++
		}
	}
	return n
}

// isoErrFinal is tremorctl's own error line about the flow (not a log
// line): `tremorctl: flow "crash" (<file>): ...`.
func isoErrFinal(t *testing.T, stderr string) string {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, `tremorctl: flow "crash" (`) {
			return line
		}
	}
	t.Fatalf("no `tremorctl: flow \"crash\"` line in stderr:\n%s", lastLines(stderr, 20))
	return ""
}

// isoErrDied checks the one full log line of the first death of id's
// child: it names the plugin file, the connector, the hook and SIGSEGV.
func isoErrDied(t *testing.T, log []map[string]any, id, file, during string) {
	t.Helper()
	var died []map[string]any
	for _, m := range log {
		if msg, _ := m["message"].(string); m["connector"] == id && strings.HasPrefix(msg, "the plugin's process died") {
			died = append(died, m)
		}
	}
	require.Len(t, died, 1, "one crash logged in full")
	d := died[0]
	assert.Equal(t, "error", d["level"])
	assert.Equal(t, fmt.Sprintf(`the plugin's process died: plugin "fault" (%s) connector "fault" instance %q`, file, id), d["message"])
	assert.Equal(t, "killed by signal SIGSEGV (segmentation fault)", d["exit"])
	assert.Equal(t, during, d["during"])
}

// isoErrUserMessage skips the test as a bug when tremorctl's last word on
// a connector whose child crashed does not name the plugin file, or
// promises a new process that never comes (the flow has ended, or the
// connector gave up). Called after every other check.
func isoErrUserMessage(t *testing.T, final, file, cmd string) {
	t.Helper()
	var wrong []string
	if !strings.Contains(final, file) {
		wrong = append(wrong, "it does not name the plugin file "+file)
	}
	if strings.Contains(final, "a new process is started when the connector reconnects") {
		wrong = append(wrong, `it ends with "a new process is started when the connector reconnects", which does not happen (the flow is over), instead of what to do`)
	}
	if len(wrong) > 0 {
		t.Errorf("tremorctl's final message %q: %s (reproduce: TREMOR_RUNNER=build/bin/tremor-runner %s)", final, strings.Join(wrong, "; "), cmd)
	}
}

// isoErrPrompt bounds a run that must end by itself (a refusal, a drain
// timeout): far above what it takes on a loaded machine, far below a run
// that retries for ever (the test's own timeout).
const isoErrPrompt = 20 * time.Second

// An isolated plugin that segfaults in on_create: its child dies, the
// connector cannot be created and the flow is refused at once (run and
// validate alike, either side): no new process is started for it, no event
// moves, status 1, no Go trace; the crash is logged with the plugin file,
// connector, hook and SIGSEGV, and tremorctl's last line names the
// connector, the hook and the signal.
func TestIsoErrCrashInCreateRefusesTheFlow(t *testing.T) {
	plugins := faultPluginDir(t)
	file := filepath.Join(plugins, "libtremor_fault.so")
	env := []string{isolate.EnvRunner + "=" + isoRunner(t)}
	for _, id := range []string{"dst", "src"} {
		for _, cmd := range []string{"run", "validate"} {
			t.Run(id+"/"+cmd, func(t *testing.T) {
				flowFile := isoErrFlowFile(t, id, "create", "")
				start := time.Now()
				code, stdout, stderr := tremorctlExit(t, "", env, cmd, "--plugin-path", plugins, flowFile)
				took := time.Since(start)
				assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 10))
				assert.Less(t, took, isoErrPrompt, "refused at once, not retried (which would go on until the test times out)")
				noCrash(t, stderr)
				log := isoErrLog(stderr)
				isoErrDied(t, log, id, file, "create")
				assert.Zero(t, isoErrCount(log, "", "starting a new process for the plugin"), "a plugin whose on_create crashes is not restarted")
				final := isoErrFinal(t, stderr)
				assert.Contains(t, final, fmt.Sprintf(`tremorctl: flow "crash" (%s): connector %q (type fault): could not be created: `, flowFile, id))
				assert.Contains(t, final, "killed by signal SIGSEGV")
				assert.Contains(t, final, "during create")
				if cmd == "run" {
					rows := statsTable(t, stderr)
					assert.Equal(t, row{}, rows["src"], "no event moved")
					assert.Equal(t, row{}, rows["dst"])
				} else {
					assert.NotContains(t, stdout, "ok (")
				}
				isoErrUserMessage(t, final, file, fmt.Sprintf("build/bin/tremorctl %s --plugin-path <dir with libtremor_fault.so> <flow with %s: config crash_at = \"create\", isolation = \"process\">", cmd, id))
			})
		}
	}
}

// An isolated plugin that segfaults in on_start, with reconnect.max_attempts
// = 3: its connector restarts it three times (a new process each, each
// replaying create, connect and start, each killed by SIGSEGV in on_start:
// four crashes in all), then gives up. A sink that gives up stops the
// flow and fails back every event the source handed over (none delivered
// or acked); a source that gives up produced none. Status 1, no Go trace.
func TestIsoErrCrashInStartGivesUpAfterMaxAttempts(t *testing.T) {
	plugins := faultPluginDir(t)
	file := filepath.Join(plugins, "libtremor_fault.so")
	env := []string{isolate.EnvRunner + "=" + isoRunner(t)}
	for _, id := range []string{"dst", "src"} {
		t.Run(id, func(t *testing.T) {
			flowFile := isoErrFlowFile(t, id, "start", isoErrReconnect3)
			code, _, stderr := tremorctlExit(t, "", env, "run", "--log-level", "debug", "--plugin-path", plugins, flowFile)
			assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 10))
			noCrash(t, stderr)
			log := isoErrLog(stderr)
			isoErrDied(t, log, id, file, "on_start")
			assert.Equal(t, 3, isoErrCount(log, id, "starting a new process for the plugin"), "restarted max_attempts times")
			assert.Equal(t, 1, isoErrCount(log, id, fmt.Sprintf("the plugin's process for connector %q crashed 3 more times in the last", id)),
				"4 children died in all: the first, logged in full, and 3 restarts")
			assert.Equal(t, 1, isoErrCount(log, id, "gave up"))
			final := isoErrFinal(t, stderr)
			assert.Contains(t, final, fmt.Sprintf(`tremorctl: flow "crash" (%s): connector %q (type fault): gave up connecting after 3 attempts (reconnect.max_attempts): `, flowFile, id))
			assert.Contains(t, final, "killed by signal SIGSEGV")
			assert.Contains(t, final, "during on_start")
			rows := statsTable(t, stderr)
			src, dst := rows["src"], rows["dst"]
			assert.Equal(t, uint64(3), rows[id][colErrors], "one error per failed reconnect")
			if id == "dst" {
				// The sink giving up stops the flow: the source hands over
				// at most its 100 events, each failed back.
				assert.Contains(t, stderr, "a sink gave up: stopping the flow")
				assert.LessOrEqual(t, src[colOut], uint64(100))
				assert.Equal(t, uint64(0), dst[colOut], "none was delivered")
				assert.Equal(t, uint64(0), src[colAcks])
				assert.Equal(t, src[colOut], src[colFails], "each was failed back: none lost silently")
				if src[colOut] > 0 {
					assert.Contains(t, stderr, fmt.Sprintf("tremorctl: %d event", src[colOut]))
				}
			} else {
				assert.Equal(t, uint64(0), src[colIn], "the source never started: nothing produced")
				assert.Equal(t, uint64(0), src[colOut])
				assert.Equal(t, uint64(0), dst[colIn])
			}
			isoErrUserMessage(t, final, file, fmt.Sprintf("build/bin/tremorctl run --plugin-path <dir with libtremor_fault.so> <flow with %s: config crash_at = \"start\", isolation = \"process\", reconnect.max_attempts = 3>", id))
		})
	}
}

// With the default reconnect policy (max_attempts = 0: for ever) a plugin
// that segfaults in every on_start is restarted again and again, paced
// (0, 0.1, 0.2, 0.4 s... not hundreds a second), and never given up on:
// a sink until the drain timeout fails back the events it holds (all 100,
// status 1); a source until the user stops the flow. A source that never
// once started, stopped by Ctrl-C, should still not end with status 0.
func TestIsoErrCrashInStartDefaultPolicyRetriesForEver(t *testing.T) {
	plugins := faultPluginDir(t)
	t.Setenv(isolate.EnvRunner, isoRunner(t))

	t.Run("dst until the drain timeout", func(t *testing.T) {
		flowFile := isoErrFlowFile(t, "dst", "start", "")
		start := time.Now()
		code, _, stderr := tremorctlExit(t, "", nil, "run", "--log-level", "debug", "--drain-timeout", "1s", "--plugin-path", plugins, flowFile)
		took := time.Since(start)
		assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 10))
		noCrash(t, stderr)
		log := isoErrLog(stderr)
		restarts := isoErrCount(log, "dst", "starting a new process for the plugin")
		assert.GreaterOrEqual(t, restarts, 2, "restarted while the drain lasted")
		assert.LessOrEqual(t, restarts, 6, "paced: at most 0+0.1+0.2+0.4 s of waits fit in 1 s")
		assert.Zero(t, isoErrCount(log, "", "gave up"), "the default policy never gives up")
		assert.Equal(t, 1, isoErrCount(log, "", "drain timeout: failing back the events still in flight"))
		assert.Less(t, took, isoErrPrompt, "the drain timeout ended it")
		rows := statsTable(t, stderr)
		assert.Equal(t, row{100, 100, 0, 0, 100, 0}, rows["src"], "every event failed back, none lost")
		assert.Equal(t, uint64(0), rows["dst"][colOut])
	})

	t.Run("src until Ctrl-C", func(t *testing.T) {
		flowFile := isoErrFlowFile(t, "src", "start", "")
		p := startCtl(t, "run", "--log-level", "debug", "--plugin-path", plugins, flowFile)
		p.waitLog(`"connector":"src"`, `"restart":3,`, "starting a new process for the plugin")
		p.signal(os.Interrupt)
		code := p.wait()
		stderr := p.stderr.String()
		noCrash(t, stderr)
		log := isoErrLog(stderr)
		assert.GreaterOrEqual(t, isoErrCount(log, "src", "starting a new process for the plugin"), 3)
		assert.Zero(t, isoErrCount(log, "", "gave up"), "still retrying when stopped")
		rows := statsTable(t, stderr)
		assert.Equal(t, uint64(0), rows["src"][colIn], "the source never produced")
		assert.Equal(t, uint64(0), rows["dst"][colIn])
		assert.GreaterOrEqual(t, rows["src"][colErrors], uint64(3), "its failed reconnects are counted")
		assert.Contains(t, stderr, `connector "src" (type fault): was reconnecting when the flow stopped; the last attempt: `)
		assert.Equal(t, 1, code)
	})
}

// isoErrScript writes a shell script, mode 0700, into a directory of its
// own, mode 0700 (so that the runner trust check accepts it and the
// --version check is what refuses it), and returns its path.
func isoErrScript(t *testing.T, name, body string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "runner")
	require.NoError(t, os.Mkdir(dir, 0o700))
	require.NoError(t, os.Chmod(dir, 0o700))
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o700))
	require.NoError(t, os.Chmod(p, 0o700))
	return p
}

// isoErrAlive says whether process pid runs (a zombie does not).
func isoErrAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// TREMOR_RUNNER names a program that passes the trust check (owned by the
// user, mode 0700, in a private directory) but is not a tremor-runner of
// this host: one for another plugin ABI, one that hangs on --version, one
// that answers a megabyte of text, one a megabyte of binary on stdout and
// stderr. run and validate of a flow with isolation = "process" refuse it
// before anything runs, naming the runner's path, why and what to do
// (status 1, no Go trace, no flow started); the junk is cut to a short,
// escaped quote, never dumped on the terminal; the hung one is given 5 s
// and its processes are killed.
func TestIsoErrRunnerThatIsNotThisHosts(t *testing.T) {
	plugins := faultPluginDir(t)
	src, dst := faultConns("", "")
	dst.Isolation = "process"
	flowFile := writeFaultFlow(t, src, dst)
	pidDir := t.TempDir()
	shPid, sleepPid := filepath.Join(pidDir, "sh.pid"), filepath.Join(pidDir, "sleep.pid")
	for _, tc := range []struct {
		name, body string
		cmds       []string
		want       string
		minTook    time.Duration
	}{
		{"another ABI", "echo 'tremor-runner (plugin ABI 9.0)'\n", []string{"run", "validate"},
			"it is a tremor-runner for plugin ABI 9.0; this host speaks 1.1", 0},
		{"hangs on --version", fmt.Sprintf("echo $$ > %s\nsleep 3600 &\necho $! > %s\nwait\n", shPid, sleepPid), []string{"run"},
			"it did not answer --version within 5s: not a tremor-runner", 5 * time.Second},
		{"a megabyte of text", "head -c 786432 /dev/urandom | base64 -w 0\n", []string{"run", "validate"},
			`not a tremor-runner: --version answered "`, 0},
		{"a megabyte of binary", "head -c 1048576 /dev/urandom\nhead -c 1048576 /dev/urandom >&2\nexit 3\n", []string{"run", "validate"},
			`not a tremor-runner: --version answered "`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runner := isoErrScript(t, "tremor-runner", tc.body)
			for _, cmd := range tc.cmds {
				start := time.Now()
				code, stdout, stderr := tremorctlExit(t, "", []string{isolate.EnvRunner + "=" + runner}, cmd, "--plugin-path", plugins, flowFile)
				took := time.Since(start)
				assert.Equal(t, 1, code, "%s: stderr:\n%s", cmd, lastLines(stderr, 5))
				noCrash(t, stderr)
				assert.Contains(t, stderr, "tremorctl: tremor-runner refused: TREMOR_RUNNER="+runner+": "+tc.want, cmd)
				assert.Contains(t, stderr, "(set TREMOR_RUNNER to the tremor-runner built with this host, e.g. build/bin/tremor-runner, or unset it)", "%s: what to do", cmd)
				assert.GreaterOrEqual(t, took, tc.minTook, cmd)
				assert.Less(t, took, tc.minTook+isoErrPrompt, "%s: bounded", cmd)
				assert.Less(t, len(stdout)+len(stderr), 2048, "%s: the runner's output is not relayed", cmd)
				for _, b := range []byte(stdout + stderr) {
					if b < 0x20 && b != '\n' || b == 0x7f {
						t.Errorf("%s: a control byte %#x reached the terminal", cmd, b)
						break
					}
				}
				assert.NotContains(t, stderr, "connector    in", "%s: no flow ran", cmd)
				assert.NotContains(t, stdout, "ok (", cmd)
			}
			if tc.minTook > 0 {
				for _, f := range []string{shPid, sleepPid} {
					b, err := os.ReadFile(f)
					require.NoError(t, err, "the script ran")
					var pid int
					_, err = fmt.Sscan(string(b), &pid)
					require.NoError(t, err)
					assert.False(t, isoErrAlive(pid), "%s: process %d of the hung runner was killed", filepath.Base(f), pid)
				}
			}
		})
	}
}

// An in-process plugin crashes while TMPDIR cannot hold the crash report
// (it does not exist, or it is a file): the Go runtime's report is not
// lost but printed on stderr, after a line saying it could not be saved
// and why, once (not also partly relayed before), followed by the last
// words naming the plugin file, connector, type and hook, and the advice.
func TestIsoErrCrashReportThatCannotBeSaved(t *testing.T) {
	plugins := faultPluginDir(t)
	file := filepath.Join(plugins, "libtremor_fault.so")
	notDir := filepath.Join(t.TempDir(), "a-file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o600))
	for _, tc := range []struct {
		name, tmpdir, cmd, dstCfg, hook, why string
	}{
		{"run, TMPDIR missing", "/nonexistent-dir", "run", `, crash_at = "send"`, "on_send", "no such file or directory"},
		{"run, TMPDIR a file", notDir, "run", `, crash_at = "send"`, "on_send", "not a directory"},
		{"validate, TMPDIR missing", "/nonexistent-dir", "validate", `, crash_at = "create"`, "on_create", "no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := tremorctlTTY(t, "", []string{"TMPDIR=" + tc.tmpdir, "GOTRACEBACK="}, tc.cmd, "--plugin-path", plugins, faultFlowFile(t, "", tc.dstCfg, ""))
			assert.Equal(t, 2, code, "the Go runtime's status for a fatal signal")
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			at := -1
			for i, l := range lines {
				if strings.HasPrefix(l, "tremorctl: could not save the Go runtime's crash report (") {
					at = i
					break
				}
			}
			require.GreaterOrEqual(t, at, 0, "a line says the report could not be saved; stderr:\n%s", lastLines(stderr, 10))
			assert.Contains(t, lines[at], tc.tmpdir+"/tremorctl-crash-")
			assert.Contains(t, lines[at], tc.why)
			assert.True(t, strings.HasSuffix(lines[at], "); here it is:"), lines[at])
			require.Greater(t, len(lines), at+3)
			assert.Equal(t, "SIGSEGV: segmentation violation", lines[at+1], "the report follows at once")
			assert.Equal(t, 1, strings.Count(stderr, "SIGSEGV: segmentation violation"), "the report once: its start was not relayed too")
			report := strings.Join(lines[at+1:len(lines)-2], "\n")
			assert.Contains(t, report, "signal arrived during cgo execution")
			assert.Contains(t, report, "goroutine ", "the whole report, every goroutine")
			assert.Contains(t, report, "created by ")
			assert.NotContains(t, stderr, "report of the crash is in")
			assert.Equal(t, fmt.Sprintf(`tremorctl: crashed in plugin %s, connector "dst" (type fault), during %s: SIGSEGV.`, file, tc.hook), lines[len(lines)-2], "the last words come after the report")
			assert.Contains(t, lines[len(lines)-1], `run it with isolation = "process"`)
			assert.NotContains(t, stderr, "ran for")
		})
	}
}
