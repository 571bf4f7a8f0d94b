package tests

// The last words of `tremorctl run` when an in-process plugin takes it
// down (docs/in-process.md): after a segfault in a hook, a line naming the
// private file that holds the Go runtime's report (which stays off the
// terminal), then one naming the plugin file, connector, type and hook;
// after exit(0) in a hook, a line naming them and status 70, not 0. The C
// fault plugin (build/test-plugins/libtremor_fault.so) crashes or exits at
// the hook its config names.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tremorhost/host/edge"
	"tremorhost/host/isolate"
	"tremorhost/host/plugin"
	"tremorhost/tests/testenv"
)

// faultConns are a fault source of 100 events and a fault sink, both of
// codec string; srcCfg and dstCfg are extra config keys of each
// (`, crash_at = "send"`).
func faultConns(srcCfg, dstCfg string) (src, dst Conn) {
	return Conn{Type: "fault", Codec: "string", Config: toml("{ count = 100" + srcCfg + " }")},
		Conn{Type: "fault", Codec: "string", Config: toml("{ count = 0" + dstCfg + " }")}
}

// writeFaultFlow writes the flow "crash", src -> "pass" -> dst, into a
// directory of its own and returns its path.
func writeFaultFlow(t *testing.T, src, dst Conn) string {
	t.Helper()
	return writeFlow(t, t.TempDir(), "crash.toml", newFlow("crash").
		Connector("src", src).
		Connector("dst", dst).
		Chain("src", "pass", "dst").
		TOML())
}

// faultFlowFile is writeFaultFlow of faultConns(srcCfg, dstCfg), the sink
// with isolation dstIsolation ("": the default).
func faultFlowFile(t *testing.T, srcCfg, dstCfg, dstIsolation string) string {
	t.Helper()
	src, dst := faultConns(srcCfg, dstCfg)
	dst.Isolation = dstIsolation
	return writeFaultFlow(t, src, dst)
}

func TestCrashLastWordsNameConnectorAndHook(t *testing.T) {
	plugins := faultPluginDir(t)
	file := filepath.Join(plugins, "libtremor_fault.so")
	for _, tc := range []struct {
		name           string
		srcCfg, dstCfg string
		want           string // the line after the crash report
	}{
		{"segfault in the sink's on_send", "", `, crash_at = "send"`,
			fmt.Sprintf(`tremorctl: crashed in plugin %s, connector "dst" (type fault), during on_send: SIGSEGV.`, file)},
		{"segfault in the source's on_pull", `, crash_at = "pull"`, "",
			fmt.Sprintf(`tremorctl: crashed in plugin %s, connector "src" (type fault), during on_pull: SIGSEGV.`, file)},
		{"segfault in the source's on_ack", `, crash_at = "ack"`, "",
			fmt.Sprintf(`tremorctl: crashed in plugin %s, connector "src" (type fault), during on_ack: SIGSEGV.`, file)},
		{"segfault in the sink's on_start", "", `, crash_at = "start"`,
			fmt.Sprintf(`tremorctl: crashed in plugin %s, connector "dst" (type fault), during on_start: SIGSEGV.`, file)},
		{"segfault in the sink's on_create", "", `, crash_at = "create"`,
			fmt.Sprintf(`tremorctl: crashed in plugin %s, connector "dst" (type fault), during on_create: SIGSEGV.`, file)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			code, _, stderr := tremorctlTTY(t, t.TempDir(), []string{"TMPDIR=" + tmp}, "run", "--plugin-path", plugins, faultFlowFile(t, tc.srcCfg, tc.dstCfg, ""))
			assert.Equal(t, 2, code, "the Go runtime's status for a fatal signal")
			// No report of every goroutine in front of the operator: the
			// line saying where it is, then the last words.
			assert.NotContains(t, stderr, "goroutine ")
			assert.NotContains(t, stderr, "signal arrived during cgo execution")
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			require.GreaterOrEqual(t, len(lines), 3, "stderr:\n%s", stderr)
			assert.Equal(t, tc.want, lines[len(lines)-2], "stderr (last lines):\n%s", lastLines(stderr, 6))
			assert.Contains(t, lines[len(lines)-1], `run it with isolation = "process"`)
			report := savedCrashReport(t, tmp, lines[len(lines)-3])
			assert.Contains(t, report, "signal arrived during cgo execution")
			assert.Contains(t, report, "goroutine ")
			// The process died: no summary claims anything was delivered.
			assert.NotContains(t, stderr, "ran for")
		})
	}
}

// savedCrashReport checks that line names the private file in dir that
// holds the Go runtime's crash report, and returns the report.
func savedCrashReport(t *testing.T, dir, line string) string {
	t.Helper()
	path, ok := strings.CutPrefix(line, "tremorctl: the Go runtime's report of the crash is in ")
	require.True(t, ok, "the line before the last words names the report's file: %q", line)
	assert.Equal(t, dir, filepath.Dir(path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "only its owner may read the report")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// validate creates each connector, so a crash in on_create gets the same
// last words as under run.
func TestValidateCrashLastWords(t *testing.T) {
	plugins := faultPluginDir(t)
	tmp := t.TempDir()
	code, _, stderr := tremorctlTTY(t, t.TempDir(), []string{"TMPDIR=" + tmp}, "validate", "--plugin-path", plugins, faultFlowFile(t, "", `, crash_at = "create"`, ""))
	assert.Equal(t, 2, code)
	assert.NotContains(t, stderr, "goroutine ")
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	require.GreaterOrEqual(t, len(lines), 3, "stderr:\n%s", stderr)
	assert.Equal(t, fmt.Sprintf(`tremorctl: crashed in plugin %s, connector "dst" (type fault), during on_create: SIGSEGV.`, filepath.Join(plugins, "libtremor_fault.so")), lines[len(lines)-2])
	savedCrashReport(t, tmp, lines[len(lines)-3])
}

// With GOTRACEBACK set, as a plugin's author debugging it would, the
// report is printed as it comes, before the last words, and not saved.
func TestCrashReportShownWithGOTRACEBACK(t *testing.T) {
	plugins := faultPluginDir(t)
	tmp := t.TempDir()
	code, _, stderr := tremorctlTTY(t, t.TempDir(), []string{"TMPDIR=" + tmp, "GOTRACEBACK=all"}, "run", "--plugin-path", plugins, faultFlowFile(t, "", `, crash_at = "send"`, ""))
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "signal arrived during cgo execution")
	assert.Less(t, strings.LastIndex(stderr, "goroutine "), strings.Index(stderr, "tremorctl: crashed in"), "the last words come after the report")
	assert.NotContains(t, stderr, "report of the crash is in")
	saved, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, saved)
}

// Where stderr is not a terminal (a pipe, a file, the journal, a
// container's log) the report is a log entry and goes there as it comes,
// followed by the last words: a relay would lose it when the watcher dies
// with its container.
func TestCrashReportInlineWhenNotATerminal(t *testing.T) {
	plugins := faultPluginDir(t)
	tmp := t.TempDir()
	errFile, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	defer errFile.Close()
	cmd := exec.Command(tremorctl(t), "run", "--plugin-path", plugins, faultFlowFile(t, "", `, crash_at = "send"`, ""))
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.Stderr = errFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.ExitCode())
	waitUntil(t, "the last words", func() bool {
		b, _ := os.ReadFile(errFile.Name())
		return strings.Contains(string(b), `run it with isolation = "process"`)
	})
	b, err := os.ReadFile(errFile.Name())
	require.NoError(t, err)
	assert.Contains(t, string(b), "signal arrived during cgo execution")
	assert.Less(t, strings.LastIndex(string(b), "goroutine "), strings.Index(string(b), "tremorctl: crashed in"), "the last words come after the report")
	saved, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, saved, "no file: the log has the report")
}

// A plugin's own writes to stderr still reach the operator: only the
// runtime's report is held back. The fault plugin writes a line to stderr
// before it crashes in on_send.
func TestPluginStderrStillRelayed(t *testing.T) {
	plugins := faultPluginDir(t)
	for _, tc := range []struct{ name, say string }{
		{"a plain line", "fault plugin says hello"},
		{"a line like the start of a crash report", "runtime: a plugin's own words"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			code, _, stderr := tremorctlTTY(t, t.TempDir(), []string{"TMPDIR=" + tmp}, "run", "--plugin-path", plugins,
				faultFlowFile(t, fmt.Sprintf(", say = %q", tc.say), `, crash_at = "send"`, ""))
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr, tc.say+"\n", "the plugin's line reaches stderr")
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			require.GreaterOrEqual(t, len(lines), 3, "stderr:\n%s", stderr)
			savedCrashReport(t, tmp, lines[len(lines)-3])
			assert.NotContains(t, stderr, "goroutine ")
		})
	}
	// Without a crash, the same line and a normal end.
	code, _, stderr := tremorctlTTY(t, t.TempDir(), nil, "run", "--plugin-path", plugins,
		faultFlowFile(t, `, say = "runtime: all is well"`, "", ""))
	assert.Equal(t, 0, code, lastLines(stderr, 10))
	assert.Contains(t, stderr, "runtime: all is well\n")
	assert.Contains(t, stderr, "ran for")
}

// exit(0) from a plugin's hook ends tremorctl with status 70 and a line
// naming plugin, connector, type and hook, instead of a silent success
// with the events in flight lost.
func TestPluginExitIsNotSuccess(t *testing.T) {
	plugins := faultPluginDir(t)
	file := filepath.Join(plugins, "libtremor_fault.so")
	for _, tc := range []struct {
		name           string
		srcCfg, dstCfg string
		want           string
	}{
		{"exit(0) in the sink's on_send", "", `, exit_at = "send"`,
			fmt.Sprintf(`tremorctl: plugin %s (connector "dst", type fault, hook on_send) called exit(0); events in flight are lost. Exiting with status 70.`, file)},
		{"exit(0) in the source's on_connect", `, exit_at = "connect"`, "",
			fmt.Sprintf(`tremorctl: plugin %s (connector "src", type fault, hook on_connect) called exit(0); events in flight are lost. Exiting with status 70.`, file)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := tremorctlExit(t, t.TempDir(), nil, "run", "--plugin-path", plugins, faultFlowFile(t, tc.srcCfg, tc.dstCfg, ""))
			assert.Equal(t, 70, code, "stderr:\n%s", lastLines(stderr, 6))
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			require.GreaterOrEqual(t, len(lines), 2, "stderr:\n%s", stderr)
			assert.Equal(t, tc.want, lines[len(lines)-2])
			assert.Contains(t, lines[len(lines)-1], `run it with isolation = "process"`)
			assert.NotContains(t, stderr, "goroutine ", "no Go crash report: the process exited")
			assert.NotContains(t, stderr, "ended without a crash report", "the guard said it all; the watcher adds nothing")
			assert.NotContains(t, stderr, "ran for")
		})
	}
}

// The advice works: the same crashing sink with isolation = "process"
// costs its child process, not tremorctl, which ends on its own, prints
// its counters (every event the source produced failed back to it, none
// lost; the sink giving up after its restarts stops the flow) and no last
// words.
func TestCrashContainedWithProcessIsolation(t *testing.T) {
	plugins := faultPluginDir(t)
	src, dst := faultConns("", `, crash_at = "send"`)
	dst.Isolation, dst.Reconnect = "process", cfg("initial_ms", 10, "max_ms", 20, "max_attempts", 2)
	flowFile := writeFaultFlow(t, src, dst)
	code, _, stderr := tremorctlExit(t, t.TempDir(), []string{isolate.EnvRunner + "=" + isoRunner(t)},
		"run", "--drain-timeout", "1s", "--plugin-path", plugins, flowFile)
	assert.Equal(t, 1, code, "events were failed back; stderr:\n%s", lastLines(stderr, 10))
	assert.NotContains(t, stderr, "goroutine ")
	assert.NotContains(t, stderr, "tremorctl: crashed")
	assert.Contains(t, stderr, "killed by signal SIGSEGV")
	rows := statsTable(t, stderr) // in, out, errors, acks, fails, discarded
	// The sink gives up after its restarts (max_attempts), which stops the
	// flow: the source produced at most its 100 events.
	assert.LessOrEqual(t, rows["src"][0], uint64(100))
	assert.Equal(t, uint64(0), rows["dst"][1], "the sink delivered none")
	assert.Equal(t, rows["src"][0], rows["src"][3]+rows["src"][4], "each was acked or failed back to the source")
	assert.Equal(t, uint64(0), rows["src"][3], "none was acked")
}

// Once tremorctl has exited, everything it wrote to stderr is there,
// though it went through the watcher: the summary never comes after the
// shell's prompt. Stderr is a terminal here, and the watcher is killed as
// soon as tremorctl has exited.
func TestStderrCompleteWhenTremorctlExits(t *testing.T) {
	plugins := faultPluginDir(t)
	for i := range 5 {
		tty, output := openPTY(t)
		cmd := exec.Command(tremorctl(t), "run", "--plugin-path", plugins, faultFlowFile(t, `, say = "plugin line"`, "", ""))
		cmd.Stderr = tty
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		require.NoError(t, cmd.Run())
		// The watcher, still there or not, may not add anything now.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		b := []byte(output())
		assert.Contains(t, string(b), "plugin line\n", "run %d", i)
		rows := statsTable(t, string(b))
		assert.Equal(t, [6]uint64{100, 100, 0, 0, 0, 0}, rows["dst"], "run %d: the summary's last row is there", i)
	}
}

// After a normal run the watcher says nothing and exits with tremorctl:
// stderr (which the watcher holds too) reaches its end once tremorctl has
// exited, and no "crashed" line was written.
func TestCrashWatcherExitsWithTremorctl(t *testing.T) {
	plugins := faultPluginDir(t)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	cmd := exec.Command(tremorctl(t), "run", "--plugin-path", plugins, faultFlowFile(t, "", "", ""))
	cmd.Stderr = w // an *os.File: Wait does not wait for the pipe's other holders
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	require.NoError(t, err)
	cmd.Stdout = out
	require.NoError(t, cmd.Start())
	w.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(flowDeadline):
		cmd.Process.Kill()
		<-done
		t.Fatalf("tremorctl run did not end within %s", flowDeadline)
	}
	read := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r) // EOF: every holder of stderr has closed it
		read <- b
	}()
	var errOut []byte
	select {
	case b := <-read:
		errOut = b
		assert.NotContains(t, string(b), "crashed")
		assert.NotContains(t, string(b), "called exit")
		assert.NotContains(t, string(b), "ended without a crash report")
	case <-time.After(flowDeadline):
		t.Fatalf("stderr was still held open %s after tremorctl exited: the crash watcher did not exit", flowDeadline)
	}
	rows := statsTable(t, string(errOut)) // in, out, errors, acks, fails, discarded
	assert.Equal(t, [6]uint64{100, 100, 0, 100, 0, 0}, rows["src"])
	assert.Equal(t, [6]uint64{100, 100, 0, 0, 0, 0}, rows["dst"])
}

// tremorctl killed (SIGKILL: no crash report, no exit of its own) while a
// source hangs in on_pull: the watcher names the hook that was running.
// The test waits on tremorctl's own breadcrumbs (its memfd, read through
// /proc) until on_pull runs, so the kill never comes too early.
func TestKilledWhileHookRunsNamesTheHook(t *testing.T) {
	plugins := faultPluginDir(t)
	cmd := exec.Command(tremorctl(t), "run", "--plugin-path", plugins, faultFlowFile(t, `, hang_at = "pull"`, "", ""))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr // Wait also waits for the watcher to let go of stderr
	require.NoError(t, cmd.Start())
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { // when the test failed before the kill
		cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(flowDeadline):
		}
	})
	waitUntil(t, "the source's on_pull runs", func() bool {
		for _, b := range breadcrumbsOf(t, cmd.Process.Pid) {
			if b.Alias == "src" && b.Running && b.Hook == edge.HookPull {
				return true
			}
		}
		return false
	})
	require.NoError(t, cmd.Process.Kill())
	select {
	case <-exited:
		var ee *exec.ExitError
		require.ErrorAs(t, waitErr, &ee)
		assert.Equal(t, -1, ee.ExitCode(), "killed by a signal")
	case <-time.After(flowDeadline):
		t.Fatalf("tremorctl or its watcher still running %s after SIGKILL", flowDeadline)
	}
	want := fmt.Sprintf(`  plugin %s, connector "src" (type fault), during on_pull`, filepath.Join(plugins, "libtremor_fault.so"))
	lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	require.GreaterOrEqual(t, len(lines), 3, "stderr:\n%s", stderr.String())
	assert.Contains(t, lines[len(lines)-3], "tremorctl: ended without a crash report")
	assert.Equal(t, want, lines[len(lines)-2])
	assert.NotContains(t, stderr.String(), "ran for")
}

// breadcrumbsOf reads the breadcrumb table of process pid through its
// memfd; nil while it has none.
func breadcrumbsOf(t testing.TB, pid int) []plugin.Breadcrumb {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err != nil || !strings.Contains(link, "memfd:tremor-breadcrumbs") {
			continue
		}
		table, err := os.ReadFile(filepath.Join(dir, fd.Name()))
		if err != nil {
			return nil
		}
		return plugin.ReadBreadcrumbs(table)
	}
	return nil
}

// A Go plugin in the host (isolation = "none") that calls os.Exit(0) in
// a hook: Go's os.Exit does not go through the C library, so the exit()
// guard cannot see it and tremorctl ends with the status the plugin chose,
// 0, with the events in flight lost (docs/in-process.md says so). The
// watcher still names the plugin, connector, type and hook, since
// tremorctl did not choose to exit.
func TestGoPluginOsExitIsNamed(t *testing.T) {
	plugins := pluginDir(t, testenv.Fixture(t, "fault"), testenv.Fixture(t, "faults_go"))
	goFile := filepath.Join(plugins, "libtremor_faults_go.so")
	flowFile := writeFlow(t, t.TempDir(), "goexit.toml", newFlow("goexit").
		Connector("gsrc", Conn{Type: "faults_go", Codec: "string", Isolation: "none", Config: cfg("misbehave", "os_exit")}).
		Connector("dst", Conn{Type: "fault", Codec: "string"}).
		Chain("gsrc", "pass", "dst").
		TOML())
	code, _, stderr := tremorctlExit(t, t.TempDir(), nil, "run", "--plugin-path", plugins, flowFile)
	assert.Equal(t, 0, code, "the status the Go plugin chose (the documented limit)")
	// The last words list every hook that ran at that moment: the Go
	// source's on_pull, and the sink's on_connect when it had not
	// finished yet.
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	head := slices.IndexFunc(lines, func(l string) bool {
		return strings.Contains(l, "tremorctl: ended without a crash report of its own")
	})
	require.GreaterOrEqual(t, head, 0, "stderr:\n%s", stderr)
	assert.Contains(t, lines[head+1:], fmt.Sprintf(`  plugin %s, connector "gsrc" (type faults_go), during on_pull`, goFile))
	assert.NotContains(t, stderr, "ran for", "the flow did not finish")
}

// A Go plugin that panics in a hook is poisoned and its events failed
// back; the operator sees the panic's message, and the Go stack only at
// --log-level debug (it is for the plugin's author).
func TestGoPluginPanicLogsStackAtDebug(t *testing.T) {
	plugins := pluginDir(t, testenv.Fixture(t, "fault"), testenv.Fixture(t, "faults_go"))
	flowFile := writeFlow(t, t.TempDir(), "gopanic.toml", srcDstFlow("gopanic",
		Conn{Type: "fault", Codec: "string", Config: cfg("count", 20)},
		Conn{Type: "faults_go", Codec: "string", Config: cfg("panic_at", "send")}))
	for _, level := range []string{"info", "debug"} {
		code, _, stderr := tremorctlExit(t, t.TempDir(), nil, "--log-level", level, "run", "--drain-timeout", "2s", "--plugin-path", plugins, flowFile)
		assert.Equal(t, 1, code, "%s: events were failed back\n%s", level, lastLines(stderr, 10))
		assert.Contains(t, stderr, "panic in on_send", level)
		rows := statsTable(t, stderr)
		assert.Equal(t, uint64(20), rows["src"][colOut], level)
		assert.Equal(t, uint64(20), rows["src"][colAcks]+rows["src"][colFails], "%s: every event settled", level)
		if level == "info" {
			noCrash(t, stderr) // no Go stack in front of the operator
		} else {
			assert.Contains(t, stderr, "goroutine ", "the stack, for the plugin's author")
		}
	}
}

// A watcher killed on its own (kill -9 of the wrong pid) costs the last
// words, not the flow: tremorctl puts its stderr back instead of dying of
// SIGPIPE at its next log line.
func TestWatcherKilledFlowGoesOn(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	flowFile := filepath.Join(dir, "ticks.toml")
	require.NoError(t, os.WriteFile(flowFile, []byte(tickFlow("ticks", 10, 150, out)), 0o644))
	cmd := exec.Command(tremorctl(t), "run", "--stats-interval", "100ms", flowFile)
	tty, output := openPTY(t)
	cmd.Stderr = tty // a terminal: the relay runs
	require.NoError(t, cmd.Start())
	var watcher int
	waitUntil(t, "the crash watcher to start", func() bool {
		watcher = childWithArg(cmd.Process.Pid, "__crash-watch")
		return watcher != 0
	})
	require.NoError(t, syscall.Kill(watcher, syscall.SIGKILL))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "stderr:\n%s", output())
	case <-time.After(flowDeadline):
		cmd.Process.Kill()
		<-done
		t.Fatalf("tremorctl did not end")
	}
	assert.Contains(t, output(), "ran for")
	assert.Len(t, fileLines(t, out), 150)
}

// childWithArg is the pid of a child of parent with arg in its command
// line, or 0.
func childWithArg(parent int, arg string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so after the last ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 || fields[1] != fmt.Sprint(parent) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if slices.Contains(strings.Split(string(cmdline), "\x00"), arg) {
			return pid
		}
	}
	return 0
}

// openPTY opens a pseudo-terminal: what tremorctl writes to tty (its
// stderr, as an operator's terminal would be) is read from the returned
// func once every holder of tty has closed it.
func openPTY(t *testing.T) (tty *os.File, output func() string) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err, "a pseudo-terminal (/dev/ptmx) is needed to test what an operator at a terminal sees")
	fd := int(master.Fd())
	require.NoError(t, unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	require.NoError(t, err)
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&buf, master) // EIO once no one holds tty
	}()
	t.Cleanup(func() { tty.Close(); master.Close() })
	return tty, func() string {
		tty.Close()
		select {
		case <-done:
		case <-time.After(flowDeadline):
			t.Fatalf("the terminal was still held open %s after tremorctl exited", flowDeadline)
		}
		return strings.ReplaceAll(buf.String(), "\r\n", "\n")
	}
}

// tremorctlTTY is tremorctlExit with stderr on a terminal.
func tremorctlTTY(t *testing.T, dir string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	tty, output := openPTY(t)
	cmd := exec.Command(tremorctl(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, tty
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err, "tremorctl %v", args)
		}
	case <-time.After(flowDeadline):
		cmd.Process.Kill()
		<-done
		t.Fatalf("tremorctl %v did not end within %s", args, flowDeadline)
	}
	return code, out.String(), output()
}
