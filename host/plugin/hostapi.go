package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"tremorhost/host/edge"
	"tremorhost/host/internal/cmem"
	"tremorhost/host/plugin/internal/crumb"
)

// A plugin's ctx is a handle of cmem's registry (see cmem.HostAPI); one
// whose instance is gone logs a warning instead of touching freed memory.

func hostAPIAddr() (uintptr, error) {
	cmem.OnUnknownCtx(staleCtx)
	return cmem.HostAPI()
}

func register(l zerolog.Logger, m *edge.Metrics) uintptr {
	return cmem.NewMetricsCtx(func(level int32, msg []byte) { edge.PluginLog(l, level, msg) },
		func(kind int, name, help string, labels [][2]string, v int64) int32 {
			ls := make([]edge.Label, len(labels))
			for i, l := range labels {
				ls[i] = edge.Label{Name: l[0], Value: l[1]}
			}
			return int32(m.Report(kind, name, help, ls, v))
		})
}

func unregister(h uintptr) { cmem.DropCtx(h) }

func staleCtx(ctx uintptr, _ int32, msg []byte) { edge.StaleCtxLog(baseLogger(), uint64(ctx), msg) }

var (
	logMu      sync.RWMutex
	defaultLog = zerolog.Nop()
)

// SetLogger sets the logger that instances created afterwards log to
// (unless created with WithLogger) and that the loader reports to. The
// default discards everything.
func SetLogger(l zerolog.Logger) {
	logMu.Lock()
	defaultLog = l
	logMu.Unlock()
}

func baseLogger() zerolog.Logger {
	logMu.RLock()
	defer logMu.RUnlock()
	return defaultLog
}

// ---- breadcrumbs: naming the plugin that took the process down ----
//
// Every in-process instance has a slot in a shared table (crumb) that
// says which hook of it is running. Two readers use it: the exit() guard
// below, in this process, and a watcher process (tremorctl's) that maps
// the table and reads the Go runtime's crash report after a crash.

var crumbs struct {
	once  sync.Once
	table atomic.Pointer[crumb.Table]
	err   error
	exit  sync.Once
}

// crumbTable is the process's breadcrumb table, made on first use; nil
// when it could not be made (instances then run without breadcrumbs).
func crumbTable() *crumb.Table {
	crumbs.once.Do(func() {
		t, err := crumb.New()
		if err != nil {
			crumbs.err = err
			return
		}
		crumbs.table.Store(t)
	})
	return crumbs.table.Load()
}

// BreadcrumbFD returns the memfd of this process's breadcrumb table
// (close-on-exec), for a watcher process to map read-only and hand to
// LastWords after this process died.
func BreadcrumbFD() (int, error) {
	t := crumbTable()
	if t == nil {
		return -1, crumbs.err
	}
	return t.FD(), nil
}

// BreadcrumbSize is the size of the table to map from BreadcrumbFD.
const BreadcrumbSize = crumb.TableSize

// containment is the advice every last word ends with.
const containment = `An in-process plugin can crash or end the host; run it with isolation = "process" in its [[connector]] table to contain it (the flow's events in flight were not acked and will be redelivered by sources that can).`

// MarkCleanExit records in the breadcrumb table that the process is about
// to exit of its own accord (call it just before os.Exit), so that a
// watcher does not take the exit for an unexplained death.
func MarkCleanExit() {
	crumbs.table.Load().MarkClean() // nil (no table yet): nothing to mark
}

// Breadcrumb is one in-process instance as its breadcrumb shows it.
type Breadcrumb struct {
	File, Type, Alias string
	Hook              edge.Hook // valid when Running
	Running           bool      // a hook of the instance is running
}

// ReadBreadcrumbs reads a breadcrumb table (a mapping or copy of the
// memfd of BreadcrumbFD, of BreadcrumbSize bytes); nil when table is not
// one.
func ReadBreadcrumbs(table []byte) []Breadcrumb {
	var out []Breadcrumb
	for _, e := range crumb.Read(table) {
		out = append(out, Breadcrumb{File: e.File, Type: e.Type, Alias: e.Alias, Hook: edge.Hook(e.Hook), Running: e.Running})
	}
	return out
}

// LastWords explains a dead host process to its user: prog is the
// program's name, dump what the Go runtime wrote when it crashed
// (runtime/debug.SetCrashOutput; empty when it wrote nothing), table a
// copy of its breadcrumb table. After a crash report it names the plugin
// file, connector, type and hook that crashed when the report and the
// table point at one. Without a report and without MarkCleanExit, the
// process was killed or ended by native code the Go runtime does not
// report on; then it names the hooks that were running. "" when there is
// nothing to say.
func LastWords(prog string, dump, table []byte) string {
	if len(dump) == 0 {
		return silentEnd(prog, table)
	}
	c := crumb.ParseCrash(dump)
	found, certain := crumb.Culprits(c, crumb.Read(table))
	if len(found) == 0 {
		return ""
	}
	what := c.What
	if what == "" {
		what = "crashed"
	}
	e := found[0]
	switch {
	case len(found) == 1 && e.Running && certain:
		return fmt.Sprintf("%s: crashed in %s, during %s: %s.\n%s", prog, crumb.Describe(e), edge.Hook(e.Hook), what, containment)
	case len(found) == 1 && e.Running:
		return fmt.Sprintf("%s: crashed, probably in %s, during %s: %s.\n%s", prog, crumb.Describe(e), edge.Hook(e.Hook), what, containment)
	case len(found) == 1:
		return fmt.Sprintf("%s: crashed in the code of %s while none of its hooks ran (in a thread of its own?): %s.\n%s", prog, crumb.Describe(e), what, containment)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: crashed in plugin code (%s) while these hooks ran, one of them the culprit:\n", prog, what)
	for _, e := range found {
		fmt.Fprintf(&b, "  %s, during %s\n", crumb.Describe(e), edge.Hook(e.Hook))
	}
	b.WriteString(containment)
	return b.String()
}

// silentEnd names the hooks that ran when the process ended without a
// crash report and without choosing to exit.
func silentEnd(prog string, table []byte) string {
	if crumb.Clean(table) {
		return ""
	}
	var running []crumb.Entry
	for _, e := range crumb.Read(table) {
		if e.Running {
			running = append(running, e)
		}
	}
	if len(running) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ended without a crash report of its own (killed by a signal, a crash in a plugin's own thread or in a Go plugin's runtime, an os.Exit in a Go plugin, or a forced exit) while these plugin hooks ran:\n", prog)
	for _, e := range running {
		fmt.Fprintf(&b, "  %s, during %s\n", crumb.Describe(e), edge.Hook(e.Hook))
	}
	b.WriteString(containment)
	return b.String()
}

// exitStatus is the status the process ends with when a plugin calls
// exit() (EX_SOFTWARE): a plugin's exit(0) must not read as success.
const exitStatus = 70

// guardExit makes exit() from a plugin's hook end the process with
// exitStatus and a line naming the plugin, connector and hook, instead of
// the status the plugin chose. (exit() from a thread of the plugin's own
// keeps its status; a Go plugin's os.Exit does not go through the C
// library and is not seen.)
func guardExit() {
	crumbs.exit.Do(func() {
		if err := cmem.OnExit(onPluginExit); err != nil {
			l := baseLogger()
			l.Debug().Err(err).Msg("exit() from a plugin will not be reported")
		}
	})
}

func onPluginExit(status int32) {
	prog := filepath.Base(os.Args[0])
	code := "exit()"
	if status >= 0 {
		code = fmt.Sprintf("exit(%d)", status)
	}
	// exit() runs on the thread of the hook that called it, which is
	// the goroutine that made the call: its stack names the instance.
	buf := make([]byte, 64<<10)
	c := crumb.ParseCrash(buf[:runtime.Stack(buf, false)])
	var table []byte
	if t := crumbTable(); t != nil {
		table = t.Mem()
	}
	var who string
	for _, e := range crumb.Read(table) {
		if e.Running && e.Inst == c.Inst {
			who = fmt.Sprintf("%s (connector %q, type %s, hook %s)", e.File, e.Alias, e.Type, edge.Hook(e.Hook))
		}
	}
	if who == "" {
		// Not from a hook: a plugin's own thread, or Go itself (a -race
		// build ends every program through the C library's exit). The
		// status stands; a watcher names the hooks that ran.
		return
	}
	fmt.Fprintf(os.Stderr, "%s: plugin %s called %s; events in flight are lost. Exiting with status %d.\n%s\n",
		prog, who, code, exitStatus, containment)
	MarkCleanExit() // said here: a watcher need not add to it
	unix.Exit(exitStatus)
}
