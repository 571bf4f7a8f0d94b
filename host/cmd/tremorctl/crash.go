package main

// Last words after a crash in an in-process plugin. The Go runtime's
// report of a fatal signal names neither the plugin nor the connector, so
// `tremorctl run`, `serve` and `validate` start a small watcher: tremorctl itself, re-executed
// with a hidden command, holding the read end of a pipe that the runtime
// copies its crash report into (runtime/debug.SetCrashOutput) and a
// read-only mapping of the host's breadcrumb table (host/plugin). When
// the pipe closes (tremorctl is gone) after a report came through it, the
// watcher prints which plugin, connector and hook crashed. When tremorctl ended without a report and without saying it
// chose to exit (main marks the table), it was killed or ended by native
// code the runtime does not report on (a crash in a plugin's own thread,
// a Go plugin's os.Exit): the watcher names the hooks that were running.
// After a normal exit it exits silently.
//
// The runtime prints its report to fd 2 as well, and a report of every
// goroutine is not something to put in front of an operator at a
// terminal. So when stderr is a terminal (and GOTRACEBACK is not set),
// fd 2 is a pipe to the watcher, which relays what comes (the log, a
// plugin's own writes, a sink writing events to stderr: one pipe keeps
// their order) line by line until a crash report begins. The report then
// goes to a private file that the last words name. On a chosen exit
// tremorctl puts its real stderr back and waits until the watcher has
// relayed everything (flushRelay), so that nothing comes after the
// shell's prompt. Anywhere else (a pipe, a file, the journal, a
// container's log) the report is a log entry and goes there as it comes:
// a relay would lose it when the watcher dies with its container.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
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
		os.Exit(crashWatch(os.NewFile(3, "crash-report"), 4, os.NewFile(5, "stderr-relay"), os.NewFile(6, "relayed")))
	}
	watchCrashes = true
}

// relay is tremorctl's side of the stderr relay, once a watcher runs.
var relay struct {
	stderr int           // a copy of the real stderr
	ended  chan struct{} // closed once the watcher has relayed all, or is gone
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
	relayR, relayW, err := os.Pipe()
	if err != nil {
		r.Close()
		return err
	}
	defer relayW.Close() // fd 2 becomes its copy
	doneR, doneW, err := os.Pipe()
	if err != nil {
		r.Close()
		relayR.Close()
		return err
	}
	realStderr, err := unix.FcntlInt(2, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		r.Close()
		relayR.Close()
		doneR.Close()
		doneW.Close()
		return fmt.Errorf("dup stderr: %w", err)
	}
	cmd := exec.Command(self, crashWatchCmd)
	if crashWatchGuards {
		cmd.Args = append(cmd.Args, "--guards")
	}
	cmd.ExtraFiles = []*os.File{r, table, relayR, doneW} // fds 3 to 6
	cmd.Stderr = os.Stderr                               // stdin and stdout: /dev/null
	err = cmd.Start()
	r.Close()
	relayR.Close()
	doneW.Close()
	if err != nil {
		doneR.Close()
		unix.Close(realStderr)
		return err
	}
	// Not waited for: it outlives this process by design, and exits when
	// the pipes close.
	_ = cmd.Process.Release()
	if err := debug.SetCrashOutput(w, debug.CrashOptions{}); err != nil {
		return err
	}
	if !relayStderrHere() {
		// fd 2 stays as it is: the watcher's relay ends at once.
		relayW.Close()
		doneR.Close()
		unix.Close(realStderr)
		return nil
	}
	if err := unix.Dup3(int(relayW.Fd()), 2, 0); err != nil {
		return fmt.Errorf("stderr to the watcher: %w", err)
	}
	relay.stderr, relay.ended = realStderr, make(chan struct{})
	go func() {
		// EOF: the watcher relayed all after flushRelay, or it died. Then
		// the real stderr goes back on fd 2 at once: a write to a pipe
		// nobody reads would end tremorctl with SIGPIPE.
		_, _ = doneR.Read(make([]byte, 1))
		_ = unix.Dup3(realStderr, 2, 0)
		close(relay.ended)
	}()
	return nil
}

// relayStderrHere tells whether this process's crash report is kept off
// its stderr (see the top of this file): when stderr is a terminal and
// GOTRACEBACK does not ask for the report.
func relayStderrHere() bool {
	return os.Getenv("GOTRACEBACK") == "" && isatty.IsTerminal(2)
}

// flushRelay puts the real stderr back on fd 2 and waits (a second at
// most: a process a plugin started may hold on to the pipe) until the
// watcher has relayed what was written before.
func flushRelay() {
	if relay.ended == nil {
		return
	}
	if unix.Dup3(relay.stderr, 2, 0) != nil {
		return
	}
	select {
	case <-relay.ended:
	case <-time.After(time.Second):
	}
}

// exitWatched marks a chosen exit for the watcher (main's os.Exit goes
// through it) and returns code.
func exitWatched(code int) int {
	plugin.MarkCleanExit()
	flushRelay()
	return code
}

// crashWatch is the watcher: it relays relay (tremorctl's fd 2) to stderr
// and reads report until EOF, then maps the breadcrumb table at fd
// tableFD and prints what plugin.LastWords says of the report, or of an
// end without one.
func crashWatch(report *os.File, tableFD int, relay, relayed *os.File) int {
	// Ctrl-C reaches the whole process group: the watcher stays until
	// tremorctl is gone, whatever tremorctl does with the signal.
	signal.Ignore(os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	head := make(chan []byte, 1)
	relayDone := make(chan struct{})
	hide := relayStderrHere() // the watcher's stderr is tremorctl's real one
	var active relayActivity
	var before []byte // a line of the report copied before its start was known
	go func() {
		defer close(relayDone)
		before = relayStderr(relay, activeWriter{os.Stderr, &active}, head, hide)
		relayed.Close() // tremorctl's flushRelay returns
	}()
	dump := readReport(report, head)
	active.last.CompareAndSwap(0, time.Now().UnixNano())
	// tremorctl is gone. The relay ends when every holder of its pipe has
	// closed it; one a plugin started may hold on to it, so the watcher
	// stops waiting after 2 s in which the relay copied nothing (but not
	// while a write is blocked: a paused terminal keeps what it is owed).
	for waiting := true; waiting; {
		select {
		case <-relayDone:
			waiting = false
		case <-time.After(250 * time.Millisecond):
			waiting = active.writing.Load() || time.Since(time.Unix(0, active.last.Load())) < 2*time.Second
		}
	}
	select {
	case <-relayDone:
		if len(dump) > 0 && len(before) > 0 {
			dump = append(before, dump...)
		}
	default:
	}
	table, err := unix.Mmap(tableFD, 0, plugin.BreadcrumbSize, unix.PROT_READ, unix.MAP_SHARED)
	if len(dump) > 0 && hide {
		saveReport(dump)
	}
	if err != nil {
		if len(dump) > 0 {
			fmt.Fprintf(os.Stderr, "tremorctl: crashed; the breadcrumbs that name the plugin could not be read: %v\n", err)
		}
		return 0
	}
	msg := plugin.LastWords("tremorctl", dump, table)
	if msg == "" && len(dump) > 0 {
		msg = fmt.Sprintf("tremorctl: crashed (%s) outside any plugin's hook: a bug in tremorctl; please report it with the runtime's report", firstLine(dump))
	}
	if msg != "" {
		fmt.Fprintln(os.Stderr, msg)
		if crashWatchGuards {
			fmt.Fprintln(os.Stderr, guardsHint)
		}
	}
	return 0
}

// relayActivity is what the watcher knows of the relay's progress.
type relayActivity struct {
	writing atomic.Bool  // a write to stderr is under way
	last    atomic.Int64 // when the last one ended (Unix ns)
}

// activeWriter records a's progress around each write to w.
type activeWriter struct {
	w io.Writer
	a *relayActivity
}

func (aw activeWriter) Write(p []byte) (int, error) {
	aw.a.writing.Store(true)
	n, err := aw.w.Write(p)
	aw.a.last.Store(time.Now().UnixNano())
	aw.a.writing.Store(false)
	return n, err
}

// readReport reads the runtime's crash report until EOF (tremorctl is
// gone), sending its first line on head as soon as it has it.
func readReport(report io.Reader, head chan<- []byte) []byte {
	var dump []byte
	sent := false
	buf := make([]byte, 64<<10)
	for {
		n, err := report.Read(buf)
		if room := maxCrashReport - len(dump); n > 0 && room > 0 {
			dump = append(dump, buf[:min(n, room)]...)
		}
		if i := bytes.IndexByte(dump, '\n'); !sent && (i >= 0 || err != nil && len(dump) > 0) {
			if i < 0 {
				i = len(dump) - 1
			}
			head <- dump[: i+1 : i+1]
			sent = true
		}
		if err != nil {
			return dump
		}
	}
}

// crashReportStart matches the first line of a report of the Go runtime:
// a panic, a fatal error, a fatal signal.
var crashReportStart = regexp.MustCompile(`^(panic: |fatal error: |fatal: |unexpected fault address |runtime: |SIG[A-Z0-9]+: |Signal [0-9]+$)`)

// lookAlikeWait is how long a line that looks like the start of a crash
// report waits for the report on the crash pipe; the runtime writes there
// right after fd 2, so only a descheduled crashing thread takes longer.
// After a line that waited in vain, lines wait again only after
// lookAlikeQuiet, so that a flow writing such lines to stderr (logs
// forwarded to a stdio sink, say) is slowed by one wait per period at
// most; a crash in that period may show its first lines.
const (
	lookAlikeWait  = 200 * time.Millisecond
	lookAlikeQuiet = 10 * time.Second
)

// relayAfter is time.After; a test counts the waits.
var relayAfter = time.After

// relayStderr copies from (fd 2 of tremorctl) to to, line by line, until
// the runtime's crash report begins there: the line that is the first of
// the report on the crash pipe (head). The rest is the report, saved to a
// file instead (saveReport). A line that looks like the start of a report
// waits for head (lookAlikeWait); when it is not the report's, it is
// copied. hide unset copies everything. It returns the "fatal error: ..."
// line it copied just before a report that does not start like one: the
// runtime prints that line to fd 2 before it copies to the crash pipe,
// and the saved report needs it.
func relayStderr(from io.Reader, to io.Writer, head <-chan []byte, hide bool) (before []byte) {
	r := bufio.NewReaderSize(from, 64<<10)
	var first, last []byte // the report's first line; the last line copied
	var missed time.Time   // when a look-alike line last waited in vain
	for {
		line, err := r.ReadSlice('\n')
		if hide && first == nil {
			if crashReportStart.Match(line) && time.Since(missed) > lookAlikeQuiet {
				select {
				case first = <-head:
				case <-relayAfter(lookAlikeWait):
					missed = time.Now()
				}
			} else {
				select {
				case first = <-head:
				default:
				}
			}
			if first != nil && bytes.Equal(last, first) { // copied before head came
				_, _ = io.Copy(io.Discard, r)
				return nil
			}
		}
		if first != nil && bytes.Equal(line, first) {
			_, _ = io.Copy(io.Discard, r)
			if bytes.HasPrefix(last, []byte("fatal error: ")) && !crashReportStart.Match(first) {
				return last // the report's own first line, printed before the rest
			}
			return nil
		}
		if len(line) > 0 {
			_, _ = to.Write(line)
			last = append(last[:0], line...)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return nil
		}
	}
}

// saveReport keeps the runtime's crash report in a private file and says
// where.
func saveReport(dump []byte) {
	f, err := os.CreateTemp("", "tremorctl-crash-*.txt")
	if err == nil {
		_, err = f.Write(dump)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tremorctl: could not save the Go runtime's crash report (%v); here it is:\n", err)
		_, _ = os.Stderr.Write(dump)
		return
	}
	fmt.Fprintf(os.Stderr, "tremorctl: the Go runtime's report of the crash is in %s\n", f.Name())
}

// firstLine is the first line of a crash report: what happened.
func firstLine(dump []byte) string {
	line, _, _ := bytes.Cut(dump, []byte("\n"))
	return string(bytes.TrimSpace(line))
}
