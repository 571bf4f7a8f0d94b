// Package isolate runs plugins in child processes: a connector instance
// whose plugin runs in tremor-runner (runner/, plain C) instead of in the
// host, and a scanner that reads plugin descriptors the same way, so that
// a plugin that crashes or hangs takes down its child, never the host.
//
// The same unmodified plugin file runs either way. Batches cross through
// shared memory (memfds both processes map), requests and replies through
// a socket (runner/PROTOCOL.md), and everything a plugin hands back is
// checked by host/edge exactly as for a plugin in the host: an isolated
// instance is an edge.Instance whose hook calls go through a remote
// (remote.go).
//
// What isolation adds (Instance):
//
//   - A crash of the child (a signal, an exit) turns the call in flight and
//     every later call into an error wrapping abi.ResultErrDisconnected, so
//     the runtime reconnects with its backoff policy; Connect then starts a
//     fresh child, creates the instance again with the same config,
//     connects it and replays start (and pause). The crash is logged with
//     the plugin, file, connector, signal or exit status and the child's
//     last output lines. A child that keeps crashing is restarted with
//     exponential backoff (restart.go: at once, then 0.1 s doubling up to
//     2 s, reset after 10 s without a crash), and its crashes are logged
//     in full once per 10 s, the others as one line with their count.
//   - A call that does not return in time (connect 30 s, pull its wait +
//     5 s, every other hook 10 s; see Options) kills the child: a hung
//     plugin becomes a crashed one.
//   - Event ids are renumbered on their way to the runtime, so that acks
//     and fails reach only the process that produced the events: those of
//     a process that is gone are dropped (the runtime has counted them; the
//     new process never saw those ids).
//   - A plugin thread that keeps writing into a batch's shared memory after
//     its hook returned cannot make the host read out of bounds: the host
//     checks and uses private copies of the header, the events and the
//     value nodes (edge.Batch); such a writer can only change payload
//     bytes, or have its pull refused.
//   - tremor-runner runs plugin code with the host's rights, so it is held
//     to the plugin files' trust rules (plugin.CheckTrusted): a runner that
//     is named or found but missing, not executable or changeable by others
//     is an error (ErrRunnerRefused), never a reason to run plugins in the
//     host; only when there is none (ErrNoRunner) may a host do that.
package isolate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"tremorhost/abi"
	"tremorhost/host/plugin"
)

// EnvRunner names the environment variable that points at tremor-runner
// (for tests, and hosts whose runner is not next to their executable).
const EnvRunner = "TREMOR_RUNNER"

// RunnerName is the runner's file name, looked for next to the executable.
const RunnerName = "tremor-runner"

// Options tunes isolated instances; zero values take the defaults.
type Options struct {
	// Runner is the tremor-runner executable; "" finds it (FindRunner).
	Runner string
	// CallTimeout bounds every hook call but connect and pull, and the
	// child's start (default 10 s).
	CallTimeout time.Duration
	// ConnectTimeout bounds on_connect (default 30 s).
	ConnectTimeout time.Duration
	// PullGrace is added to a pull's wait to bound on_pull (default 5 s).
	PullGrace time.Duration
	// CPUs are the CPUs the child runs on (a flow's cpus setting); nil:
	// wherever the host may run.
	CPUs []int
}

func (o Options) withDefaults() Options {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 30 * time.Second
	}
	if o.PullGrace <= 0 {
		o.PullGrace = 5 * time.Second
	}
	return o
}

// ErrNoRunner is wrapped by FindRunner's error when there is no runner:
// none named, none next to the executable. Hosts may then run plugins in
// their own process instead (see host/runtime's isolation "auto").
var ErrNoRunner = errors.New("tremor-runner not found")

// ErrRunnerRefused is wrapped by the error for a runner that was named
// ($TREMOR_RUNNER, Options.Runner) or found next to the executable but
// cannot be used: it is missing, not an executable, or others than its
// owner could change it (plugin.CheckTrusted: it runs plugin code with the
// host's rights). Unlike ErrNoRunner it is never a reason to fall back to
// running plugins in the host.
var ErrRunnerRefused = errors.New("tremor-runner refused")

// FindRunner returns the tremor-runner to use: $TREMOR_RUNNER when set,
// else tremor-runner next to this executable (the build puts both in
// build/bin) or in ../libexec/tremor from it (an install, `make install`),
// checked as plugin files are.
func FindRunner() (string, error) {
	if p := os.Getenv(EnvRunner); p != "" {
		abs, err := usableRunner(p)
		if err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v (set %s to the tremor-runner built with this host, e.g. build/bin/tremor-runner, or unset it)", ErrRunnerRefused, EnvRunner, p, err, EnvRunner)
		}
		return abs, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("%w: cannot locate this executable: %v; set %s", ErrNoRunner, err, EnvRunner)
	}
	var looked []string
	dirs := []string{filepath.Dir(exe)}
	if real, err := filepath.EvalSymlinks(exe); err == nil && filepath.Dir(real) != dirs[0] {
		dirs = append(dirs, filepath.Dir(real))
	}
	for _, d := range append(dirs, filepath.Join(dirs[len(dirs)-1], "..", "libexec", "tremor")) {
		p := filepath.Clean(filepath.Join(d, RunnerName))
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			looked = append(looked, p)
			continue
		}
		abs, err := usableRunner(p)
		if err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrRunnerRefused, p, err)
		}
		return abs, nil
	}
	return "", fmt.Errorf("%w (looked for %s; build it with ./scripts/build.sh, or set %s)", ErrNoRunner, strings.Join(looked, ", "), EnvRunner)
}

// usableRunner checks a runner file: an executable regular file that only
// its owner can change. It returns its absolute path without symlinks.
func usableRunner(p string) (string, error) {
	named, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	abs := named
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	st, err := os.Stat(abs)
	if errors.Is(err, os.ErrNotExist) {
		return "", errors.New("no such file")
	} else if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("not an executable file (mode %s)", st.Mode())
	}
	// As named: a symlink on the way, in a directory others can write,
	// could be repointed at other code after this check.
	if err := plugin.CheckTrusted(named); err != nil {
		return "", err
	}
	if err := isRunner(abs, st); err != nil {
		return "", err
	}
	return abs, nil
}

// runnersChecked remembers the files isRunner accepted (path, size and
// modification time), so that a runner answers --version once per process.
var runnersChecked sync.Map

// isRunner asks the file for its --version: a tremor-runner of this host's
// ABI answers "tremor-runner (plugin ABI 1.1)". Anything else (another
// program, a runner of another ABI, one that hangs) is refused here, once,
// instead of failing the inspection of every plugin file.
func isRunner(path string, st os.FileInfo) error {
	key := fmt.Sprintf("%s\x00%d\x00%d", path, st.Size(), st.ModTime().UnixNano())
	if _, ok := runnersChecked.Load(key); ok {
		return nil
	}
	const timeout = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version")
	ownGroup(cmd)
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return fmt.Errorf("it did not answer --version within %s: not a tremor-runner", timeout)
	}
	want := "tremor-runner (plugin ABI " + abi.ABIVersionString + ")"
	got := strings.TrimSpace(string(out))
	if err != nil || got != want {
		if v, ok := strings.CutPrefix(got, "tremor-runner (plugin ABI "); ok && err == nil {
			return fmt.Errorf("it is a tremor-runner for plugin ABI %s; this host speaks %s", strings.TrimSuffix(v, ")"), abi.ABIVersionString)
		}
		if len(got) > 80 {
			got = got[:80] + "..."
		}
		return fmt.Errorf("not a tremor-runner: --version answered %q (exit: %v), not %q", got, err, want)
	}
	runnersChecked.Store(key, true)
	return nil
}

// FindRunnerWith returns the runner o names, or finds one (FindRunner).
func FindRunnerWith(o Options) (string, error) { return o.runner() }

func (o Options) runner() (string, error) {
	if o.Runner != "" {
		abs, err := usableRunner(o.Runner)
		if err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrRunnerRefused, o.Runner, err)
		}
		return abs, nil
	}
	return FindRunner()
}
