package main

// Last words after a crash in an in-process plugin. The Go runtime's
// report of a fatal signal names neither the plugin nor the connector, so
// `tremorctl run` starts a small watcher: tremorctl itself, re-executed
// with a hidden command, holding the read end of a pipe that the runtime
// copies its crash report into (runtime/debug.SetCrashOutput) and a
// read-only mapping of the host's breadcrumb table (host/plugin). When
// the pipe closes (tremorctl is gone) after a report came through it, the
// watcher prints, after the report, which plugin, connector and hook
// crashed. When tremorctl ended without a report and without saying it
// chose to exit (main marks the table), it was killed or ended by native
// code the runtime does not report on (a crash in a plugin's own thread,
// a Go plugin's os.Exit): the watcher names the hooks that were running.
// After a normal exit it exits silently.

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"syscall"

	"golang.org/x/sys/unix"

	"tremorhost/host/plugin"
)

// crashWatchCmd is the hidden command of the watcher process.
const crashWatchCmd = "__crash-watch"

// maxCrashReport is how much of a crash report the watcher keeps: the
// crashing goroutine comes first, the rest is only drained.
const maxCrashReport = 1 << 20

// crashWatchGuards: run --check-contract is on; the watcher's last words
// then say which guard a fault in a hook most likely hit.
var crashWatchGuards bool

// guardsHint follows the last words under --check-contract.
const guardsHint = `tremorctl run --check-contract guards memory lent to in-process plugins: a fault during on_send is most likely a write into the batch it was given to read (rule send.read_only), a fault in a later hook a use of a room from an earlier on_pull after it returned (rule memory.kept_pointer); tremorctl check-plugin names which, with the connector's config.`

// watchCrashes is set by main: only the real tremorctl binary starts a
// watcher (a test binary that calls run would re-execute itself).
var watchCrashes bool

// crashWatchInit is main's first step: in the watcher process it runs the
// watcher and exits; in tremorctl it lets `run` start a watcher.
func crashWatchInit() {
	if len(os.Args) > 1 && os.Args[1] == crashWatchCmd {
		crashWatchGuards = len(os.Args) > 2 && os.Args[2] == "--guards"
		os.Exit(crashWatch(os.NewFile(3, "crash-report"), 4))
	}
	watchCrashes = true
}

// startCrashWatch starts the watcher for this process; without one (it
// could not start) the crash report is still printed, without last words.
func (c *cli) startCrashWatch() {
	if !watchCrashes {
		return
	}
	if err := c.spawnCrashWatch(); err != nil {
		c.log.Debug().Err(err).Msg("no crash watcher: a crash in an in-process plugin will not be named")
	}
}

func (c *cli) spawnCrashWatch() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fd, err := plugin.BreadcrumbFD()
	if err != nil {
		return err
	}
	dup, err := unix.Dup(fd) // the child gets a copy; the table keeps its own
	if err != nil {
		return fmt.Errorf("dup breadcrumb fd: %w", err)
	}
	table := os.NewFile(uintptr(dup), "breadcrumbs")
	defer table.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer w.Close() // SetCrashOutput keeps a close-on-exec copy
	cmd := exec.Command(self, crashWatchCmd)
	if crashWatchGuards {
		cmd.Args = append(cmd.Args, "--guards")
	}
	cmd.ExtraFiles = []*os.File{r, table} // fds 3 and 4
	cmd.Stderr = os.Stderr                // stdin and stdout: /dev/null
	err = cmd.Start()
	r.Close()
	if err != nil {
		return err
	}
	// Not waited for: it outlives this process by design, and exits when
	// the pipe closes.
	_ = cmd.Process.Release()
	return debug.SetCrashOutput(w, debug.CrashOptions{})
}

// exitWatched marks a chosen exit for the watcher (main's os.Exit goes
// through it) and returns code.
func exitWatched(code int) int {
	plugin.MarkCleanExit()
	return code
}

// crashWatch is the watcher: it reads report until EOF, then maps the
// breadcrumb table at fd tableFD and prints what plugin.LastWords says of
// the report, or of an end without one.
func crashWatch(report *os.File, tableFD int) int {
	// Ctrl-C reaches the whole process group: the watcher stays until
	// tremorctl is gone, whatever tremorctl does with the signal.
	signal.Ignore(os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	dump, err := io.ReadAll(io.LimitReader(report, maxCrashReport))
	if err == nil && len(dump) == maxCrashReport {
		_, _ = io.Copy(io.Discard, report)
	}
	table, err := unix.Mmap(tableFD, 0, plugin.BreadcrumbSize, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		if len(dump) > 0 {
			fmt.Fprintf(os.Stderr, "tremorctl: crashed; the breadcrumbs that name the plugin could not be read: %v\n", err)
		}
		return 0
	}
	if msg := plugin.LastWords("tremorctl", dump, table); msg != "" {
		fmt.Fprintln(os.Stderr, msg)
		if crashWatchGuards {
			fmt.Fprintln(os.Stderr, guardsHint)
		}
	}
	return 0
}
