package conformance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A check runs in a child process so that a plugin that crashes or hangs
// is reported ("crashed during on_pull (tiny room)") instead of taking
// check-plugin down. The child is the caller's own executable in a hidden
// mode (tremorctl check-plugin --child) that calls RunChild: it reads the
// Options as JSON from stdin and writes one JSON line per event to fd 3
// (not stdout, which the plugin may write to): plugin info, run start, the
// begin and end of every hook call with its time limit, findings, run
// counters, done. The parent follows along; when the child dies or a hook
// outlives its limit (the parent then kills the child), it knows the step
// and reports it, then starts a new child that skips the runs already done.

// childFD is the protocol's file descriptor in the child.
const childFD = 3

// wire is one protocol line.
type wire struct {
	T         string      `json:"t"` // plugin, run, begin, end, finding, run_done, done
	Plugin    *PluginInfo `json:"plugin,omitempty"`
	Connector string      `json:"c,omitempty"`
	Run       int         `json:"r,omitempty"`
	Step      string      `json:"s,omitempty"`
	Config    string      `json:"cfg,omitempty"`
	TimeoutMs int64       `json:"to,omitempty"`
	Finding   *Finding    `json:"f,omitempty"`
	Info      *RunInfo    `json:"i,omitempty"`
	Region    *region     `json:"g,omitempty"`
}

// wireEmitter writes protocol lines, unbuffered, so that nothing is lost
// when the process dies right after.
type wireEmitter struct {
	mu sync.Mutex
	f  *os.File
}

func (w *wireEmitter) send(m wire) {
	b, _ := json.Marshal(m)
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = w.f.Write(b)
}

func (w *wireEmitter) plugin(p PluginInfo) { w.send(wire{T: "plugin", Plugin: &p}) }
func (w *wireEmitter) runStart(c string, r int, cfg string) {
	w.send(wire{T: "run", Connector: c, Run: r, Config: cfg})
}
func (w *wireEmitter) begin(c string, r int, s string, to time.Duration) {
	w.send(wire{T: "begin", Connector: c, Run: r, Step: s, TimeoutMs: to.Milliseconds()})
}
func (w *wireEmitter) end(c string, r int, s string) {
	w.send(wire{T: "end", Connector: c, Run: r, Step: s})
}
func (w *wireEmitter) finding(f Finding) { w.send(wire{T: "finding", Finding: &f}) }
func (w *wireEmitter) runDone(i RunInfo) { w.send(wire{T: "run_done", Info: &i}) }
func (w *wireEmitter) guard(r region)    { w.send(wire{T: "guard", Region: &r}) }

// RunChild is the child side of Check: options on stdin, protocol on fd 3.
// It returns the process exit status.
func RunChild() int {
	var st syscall.Stat_t
	if err := syscall.Fstat(childFD, &st); err != nil {
		fmt.Fprintln(os.Stderr, "check-plugin --child: fd 3 is not open (this mode is started by check-plugin itself)")
		return 2
	}
	syscall.CloseOnExec(childFD) // plugins that start programs must not inherit it
	f := os.NewFile(childFD, "check-plugin protocol")
	if f == nil {
		fmt.Fprintln(os.Stderr, "check-plugin --child: fd 3 is not open (this mode is started by check-plugin itself)")
		return 2
	}
	var o Options
	if err := json.NewDecoder(os.Stdin).Decode(&o); err != nil {
		fmt.Fprintf(os.Stderr, "check-plugin --child: reading options from stdin: %v\n", err)
		return 2
	}
	o.guards = true
	out := &wireEmitter{f: f}
	runChecks(&o, out)
	out.send(wire{T: "done"})
	return 0
}

// collector builds a Report from what a check emits (directly in-process,
// or from the child's protocol lines).
type collector struct {
	rep       *Report
	curConn   string
	curRun    int
	curStep   string
	inStep    bool
	stepStart time.Time
	stepLimit time.Duration
	lastStep  string
	running   string // key of the run started and not done
	done      map[string]bool
	secrets   scrubber
	guarded   regions // the child's guarded memory
}

func newCollector(rep *Report, opts *Options) *collector {
	return &collector{rep: rep, done: map[string]bool{}, secrets: scrubber{configs: opts.Configs}}
}

// maxOutput bounds Report.Output.
const maxOutput = 16 << 10

// pluginOutput adds what a check process printed to the report: the
// plugin's own stdout and stderr (the check itself prints nothing there),
// up to a crash's runtime dump, which crashDetail sums up instead.
func (c *collector) pluginOutput(out string) {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "SIGSEGV:") || strings.HasPrefix(t, "SIGBUS:") || strings.HasPrefix(t, "fatal error:") ||
			strings.HasPrefix(t, "signal ") || strings.HasPrefix(t, "goroutine ") || strings.HasPrefix(t, "panic:") {
			break
		}
		keep = append(keep, strings.ToValidUTF8(l, "\uFFFD"))
	}
	text := strings.TrimSpace(strings.Join(keep, "\n"))
	if text == "" {
		return
	}
	text = c.secrets.scrub("", 0, text) + "\n"
	if room := maxOutput - len(c.rep.Output); room < len(text) {
		text = strings.ToValidUTF8(text[len(text)-max(room, 0):], "")
	}
	c.rep.Output += text
}

func (c *collector) plugin(p PluginInfo) {
	if c.rep.Plugin == nil {
		c.rep.Plugin = &p
		c.secrets.learn(p)
	}
}

func (c *collector) runStart(conn string, run int, cfg string) {
	c.rep.run(conn, run).Config = cfg
	c.running = runKey(conn, run)
	c.curConn, c.curRun = conn, run
}

func (c *collector) begin(conn string, run int, step string, to time.Duration) {
	c.curConn, c.curRun, c.curStep = conn, run, step
	c.inStep, c.stepStart, c.stepLimit = true, time.Now(), to
}

func (c *collector) end(conn string, run int, step string) {
	c.inStep = false
	c.lastStep = step
}

func (c *collector) finding(f Finding) {
	f.Message = c.secrets.scrub(f.Connector, f.Run, f.Message)
	c.rep.add(f)
}

func (c *collector) runDone(i RunInfo) {
	x := c.rep.run(i.Connector, i.Run)
	status := x.Status
	*x = i
	if i.Status == "" {
		x.Status = status
	}
	if x.Steps == nil {
		x.Steps = []string{}
	}
	c.done[runKey(i.Connector, i.Run)] = true
	c.running = ""
}

func (c *collector) guard(r region) { c.guarded.add(r) }

func (c *collector) apply(m wire) {
	switch m.T {
	case "plugin":
		if m.Plugin != nil {
			c.plugin(*m.Plugin)
		}
	case "run":
		c.runStart(m.Connector, m.Run, m.Config)
	case "begin":
		c.begin(m.Connector, m.Run, m.Step, time.Duration(m.TimeoutMs)*time.Millisecond)
	case "end":
		c.end(m.Connector, m.Run, m.Step)
	case "finding":
		if m.Finding != nil {
			c.finding(*m.Finding)
		}
	case "run_done":
		if m.Info != nil {
			c.runDone(*m.Info)
		}
	case "guard":
		if m.Region != nil {
			c.guard(*m.Region)
		}
	}
}

func (c *collector) skipList() []string {
	var s []string
	for k := range c.done {
		s = append(s, k)
	}
	return s
}

// CheckInProcess runs the check in this process: a plugin that crashes
// takes the caller down, one that hangs hangs it. For debugging (and for
// tests of the checks themselves); Check is the safe way.
func CheckInProcess(opts Options) *Report {
	opts.File = absPath(opts.File)
	rep := &Report{File: opts.File}
	runChecks(&opts, newCollector(rep, &opts))
	rep.finish()
	return rep
}

// ChildCommand returns a new command that runs RunChild, e.g. the running
// executable with its hidden child-mode argument.
type ChildCommand func() *exec.Cmd

// Check runs the check of opts.File in child processes started by child
// and returns the report. It fails only when no child can be started.
func Check(opts Options, child ChildCommand) (*Report, error) {
	opts.File = absPath(opts.File)
	rep := &Report{File: opts.File}
	col := newCollector(rep, &opts)
	deadline := time.Now().Add(opts.timeout())
	for restarts := 0; ; restarts++ {
		o := opts
		o.Skip = col.skipList()
		o.Resume = restarts > 0
		completed, err := runChild(o, child, col, deadline)
		if err != nil {
			return nil, err
		}
		if completed || col.running == "" || restarts >= 32 || time.Now().After(deadline) {
			break
		}
		col.done[col.running] = true // do not run it again
		col.running = ""
	}
	rep.finish()
	return rep, nil
}

// grace is added to a step's limit before the parent calls it hung.
const grace = 2 * time.Second

// maxStarved bounds how far waiting for a CPU extends a step's limit (the
// whole check is bounded by Options.Timeout anyway).
const maxStarved = 5 * time.Minute

// runQueueWaits returns how long each thread of process pid has waited,
// runnable, for a CPU (the second field of /proc/PID/task/TID/schedstat),
// by thread id; nil where that cannot be read.
func runQueueWaits(pid int) map[string]time.Duration {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(stats) == 0 {
		return nil
	}
	out := map[string]time.Duration{}
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		if ns, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			out[filepath.Base(filepath.Dir(p))] = time.Duration(ns)
		}
	}
	return out
}

// starvedSince is the longest any one thread waited for a CPU between two
// runQueueWaits snapshots: the hook runs on one thread, and the sum over
// threads would count the runtime's helpers too.
func starvedSince(before, now map[string]time.Duration) time.Duration {
	var most time.Duration
	for tid, w := range now {
		most = max(most, w-before[tid])
	}
	return most
}

func runChild(o Options, child ChildCommand, col *collector, deadline time.Time) (bool, error) {
	cmd, out, lines, err := startChild(o, child)
	if err != nil {
		return false, err
	}
	completed, killed, starved := follow(cmd, lines, col, deadline)
	waitErr := cmd.Wait()
	col.pluginOutput(out.String())
	if completed {
		return true, nil
	}
	col.childDied(o, killed, starved, exitDescription(cmd.ProcessState, waitErr), out.String())
	return false, nil
}

// startChild starts a check process with options o and returns it, what it
// prints (stdout and stderr, bounded) and its protocol lines.
func startChild(o Options, child ChildCommand) (*exec.Cmd, *tail, <-chan wire, error) {
	cmd := child()
	in, err := json.Marshal(o)
	if err != nil {
		return nil, nil, nil, err
	}
	cmd.Stdin = bytes.NewReader(in)
	out := &tail{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 2 * time.Second // plugin-started processes holding the pipes
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	cmd.ExtraFiles = []*os.File{w} // fd 3 in the child
	if err := cmd.Start(); err != nil {
		w.Close()
		r.Close()
		return nil, nil, nil, fmt.Errorf("cannot start the check process %s: %w", cmd.Path, err)
	}
	w.Close()
	lines := make(chan wire, 64)
	go func() {
		defer close(lines)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			var m wire
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}()
	return cmd, out, lines, nil
}

// follow applies the child's protocol lines to col until the child closes
// fd 3 (it exited), and kills it when a step outlives its limit ("hang")
// or the check its deadline ("timeout"). It returns whether the child said
// it was done, why it was killed, and the CPU wait granted to the last
// step.
func follow(cmd *exec.Cmd, lines <-chan wire, col *collector, deadline time.Time) (completed bool, killed string, starved time.Duration) {
	col.inStep = false
	overall := time.NewTimer(time.Until(deadline))
	defer overall.Stop()
	pid := cmd.Process.Pid
	// A step's limit is extended by the time the child spent waiting for a
	// CPU during it: on a loaded machine a hook that is merely not
	// scheduled is not hung. waited0 is the run-queue wait of each of the
	// child's threads when the step began, starved the extension granted
	// so far.
	var waited0 map[string]time.Duration
	for {
		var stepTimer <-chan time.Time
		if col.inStep && killed == "" {
			stepTimer = time.After(time.Until(col.stepStart.Add(col.stepLimit + grace + starved)))
		}
		var overallC <-chan time.Time
		if killed == "" {
			overallC = overall.C
		}
		select {
		case m, ok := <-lines:
			if !ok {
				return completed, killed, starved
			}
			if m.T == "done" {
				completed = true
			}
			col.apply(m)
			if m.T == "begin" {
				waited0, starved = runQueueWaits(pid), 0
			}
		case <-stepTimer:
			if w := starvedSince(waited0, runQueueWaits(pid)); w > starved+10*time.Millisecond && w < maxStarved {
				starved = w
				continue
			}
			killed = "hang"
			_ = cmd.Process.Kill()
		case <-overallC:
			killed = "timeout"
			_ = cmd.Process.Kill()
		}
	}
}

// childDied reports the step a check process died in: hung (killed),
// crashed, or a guard's fault (guard.go) named by its rule.
func (col *collector) childDied(o Options, killed string, starved time.Duration, exit, output string) {
	where := "between steps (after " + orDash(col.lastStep) + ")"
	if col.inStep {
		where = "during " + col.curStep
	}
	f := Finding{Severity: SevError, Connector: col.curConn, Run: col.curRun, Step: col.curStep}
	if col.running == "" {
		f.Connector, f.Run = "", 0 // plugin-wide (loading, the descriptor)
	}
	status := "crashed"
	switch killed {
	case "hang":
		status = "hung"
		f.Rule = RuleHang
		limit := fmt.Sprintf("%s", (col.stepLimit + grace).Round(time.Millisecond))
		if starved > 0 {
			limit += fmt.Sprintf(" (and %s more, the time it waited for a CPU)", starved.Round(time.Millisecond))
		}
		f.Message = fmt.Sprintf("hung %s: the hook did not return within %s; check-plugin killed the process", where, limit)
	case "timeout":
		status = "hung"
		f.Rule = RuleHang
		f.Message = fmt.Sprintf("the check did not finish within %s (%s); check-plugin killed the process", o.timeout(), where)
	default:
		f.Rule = RuleCrash
		f.Message = fmt.Sprintf("crashed %s: %s%s; likely causes: %s", where, exit, crashDetail(output), crashCauses(col))
		if rule, what, ok := col.guarded.guardFault(output, col.curStep); ok {
			f.Rule = rule
			f.Message = fmt.Sprintf("crashed %s: %s (%s)", where, what, exit)
		}
	}
	col.finding(f)
	if col.running != "" {
		col.rep.run(col.curConn, col.curRun).Status = status
	}
}

// crashCauses names what usually makes a plugin crash at that point.
func crashCauses(col *collector) string {
	if !col.inStep {
		return "a thread of the plugin, or a pointer it kept to memory the host gave a hook (a room, the ids, the config, a sent batch), used after the hook returned (" + orDash(col.lastStep) + ")"
	}
	step := col.curStep
	switch {
	case strings.HasPrefix(step, "on_create"):
		return "reading the config past its nodes or bytes (spans not checked), or a NULL pointer in the plugin's own setup"
	case strings.HasPrefix(step, "on_pull"):
		return "writing past the room (events_cap, values_cap, bytes_cap), or a pointer kept from an earlier pull"
	case strings.HasPrefix(step, "on_send"):
		return "reading past events_len or outside a span of the batch, or writing outcomes past events_len"
	case strings.HasPrefix(step, "on_ack"), strings.HasPrefix(step, "on_fail"):
		return "reading more than count ids, or a pointer kept to an earlier call's ids"
	case strings.HasPrefix(step, "on_destroy"), strings.HasPrefix(step, "on_stop"):
		return "a double free, or a thread of the plugin still using the instance while it is freed"
	}
	return "a NULL or dangling pointer in the plugin, or a pointer kept from an earlier hook"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func exitDescription(ps *os.ProcessState, err error) string {
	if ps == nil {
		return fmt.Sprintf("the process could not be waited for (%v)", err)
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
		if ws.Signaled() {
			return fmt.Sprintf("the process was killed by signal %s (%s)", signalName(ws.Signal()), ws.Signal())
		}
		return fmt.Sprintf("the process exited with status %d", ws.ExitStatus())
	}
	return ps.String()
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGFPE:
		return "SIGFPE"
	case syscall.SIGILL:
		return "SIGILL"
	case syscall.SIGKILL:
		return "SIGKILL"
	}
	return fmt.Sprintf("%d", int(s))
}

// crashDetail picks the telling lines of what the child printed: the Go
// runtime's "signal SIGSEGV ..." line or a panic message, and the last
// lines.
func crashDetail(out string) string {
	var pick []string
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "signal ") || strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") || strings.Contains(l, "SIGSEGV") {
			if !contains(pick, l) {
				pick = append(pick, l)
			}
		}
		if len(pick) >= 3 {
			break
		}
	}
	if len(pick) == 0 && len(lines) > 0 && lines[0] != "" {
		n := min(len(lines), 3)
		pick = lines[len(lines)-n:]
	}
	if len(pick) == 0 {
		return ""
	}
	return " [" + strings.Join(pick, " | ") + "]"
}

// tail keeps the first and the last max/2 bytes written (a Go runtime
// crash report starts with the signal; a C plugin's last words are at the
// end).
type tail struct {
	mu   sync.Mutex
	max  int
	head []byte
	b    []byte
	cut  bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	total := len(p)
	if room := t.max/2 - len(t.head); room > 0 {
		n := min(room, len(p))
		t.head = append(t.head, p[:n]...)
		p = p[n:]
	}
	t.b = append(t.b, p...)
	if len(t.b) > t.max/2 {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max/2:]...)
		t.cut = true
	}
	return total, nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	sep := ""
	if t.cut {
		sep = "\n...\n"
	}
	return string(t.head) + sep + string(t.b)
}
