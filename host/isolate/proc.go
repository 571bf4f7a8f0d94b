package isolate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/internal/cmem"
)

// Frame types of the wire protocol (runner/PROTOCOL.md).
const (
	reqCreate  = 1
	reqConnect = 2
	reqStep    = 3
	reqMap     = 4
	reqPull    = 5
	reqIDs     = 6
	reqSend    = 7
	reqDestroy = 8
	reqAhead   = 9
	reqReturn  = 10

	msgReady  = 100
	msgReply  = 101
	msgLog    = 102
	msgNotice = 103
	msgPulled = 104
	msgMetric = 105

	frameHeader = 8            // u32 len, u16 type, u16 flags
	maxFrame    = abi.MaxFrame // what either side accepts
)

// proc is one tremor-runner --serve child and the socket to it.
//
// Requests go one at a time (the caller holds the instance's lock), and the
// caller reads its own reply: frames that come before it (log lines of the
// plugin, notices of failed one-way calls) are handled on the way. Between
// calls a watcher goroutine drains what the child sends on its own (log
// lines from the plugin's threads) every watchInterval. A goroutine waits
// for the child's exit and records how it ended. A call that overruns its
// timeout has the child killed by a timer, which ends the call too.
type proc struct {
	cmd *exec.Cmd
	fd  int // the socket, in blocking mode (see sockRead); -1 once closed
	pid int
	log zerolog.Logger // the instance's, for forwarded log lines and output
	// metrics receives the plugin's metric calls (METRIC frames); it
	// outlives the child (one per isolate.Instance).
	metrics *edge.Metrics
	what    string // "plugin P (file) connector C instance A", for messages
	out     *tail  // the child's stdout and stderr

	rmu    sync.Mutex // the read side: a call, or the watcher
	rbuf   []byte     // bytes read, frames parsed from rbuf[rr:rw]
	rr, rw int
	reply  []byte // the last reply's body, copied out of rbuf
	// The answers to AHEADs (PULLED frames) that came while a call waited
	// for its own reply, or between calls: kept, in order, for the next
	// pulls. A ring: pulled[pulledAt] is the oldest of pulledLen.
	pulled              [slotCount][]byte
	pulledAt, pulledLen int
	// A SEND whose REPLY comes later (postSend), and that REPLY when the
	// watcher read it first.
	sendOut, hasSent bool
	sent             []byte

	dead      chan struct{} // closed when the child has exited and is reaped
	drained   chan struct{} // closed after dead, once what it sent was read
	exitText  string        // how it ended, set before dead closes
	exitWhy   string        // the same in a word or two (SIGSEGV, exit status 2)
	deaths    *crashLog     // where a death is logged; nil: always in full
	killedFor atomic.Pointer[string]
	closing   atomic.Bool // the host ends it on purpose (destroy)
	op        atomic.Pointer[string]

	timer    *time.Timer // kills the child when a call overruns
	armedOp  atomic.Pointer[string]
	armedFor atomic.Int64 // the timeout, in ns

	wmu  sync.Mutex
	wbuf []byte // frames to write: queued one-way frames, then a request
	// unsent counts the ids (on_ack, on_fail) of the IDS frames queued and
	// not written yet; afterAhead[i] those written after the i-th AHEAD
	// still out (aheadsOut of them, oldest first, until their PULLED
	// comes) and before the next: the child reads them after that pull, so
	// a child that dies in it never got them. See takeUnsent.
	unsent     [2]int
	afterAhead [slotCount][2]int
	aheadsOut  int

	noticeMu sync.Mutex
	notice   *edge.Reply // an on_ack/on_fail failure not yet reported

	ready readyMsg
}

// watchInterval is how often log lines sent between calls are picked up.
const watchInterval = 20 * time.Millisecond

type readyMsg struct {
	ABIMajor, ABIMinor uint16
	Hooks              uint32
	Pid                uint32
}

// startProc starts tremor-runner --serve for connector of the open plugin
// file f and waits for its READY.
func startProc(runner string, f *os.File, libs []*os.File, connector string, cpus []int, log zerolog.Logger, what string, timeout time.Duration, deaths *crashLog, metrics *edge.Metrics) (*proc, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	childEnd := os.NewFile(uintptr(fds[1]), "tremor-runner-child")
	defer childEnd.Close()
	p := &proc{fd: fds[0], log: log, metrics: metrics, what: what, deaths: deaths, dead: make(chan struct{}), drained: make(chan struct{}), rbuf: make([]byte, 64<<10)}
	p.timer = time.AfterFunc(time.Hour, p.overrun)
	p.timer.Stop()
	p.out = newTail(&p.log, 20)
	// fd 3: the socket, fd 4: the plugin file (loaded as /proc/self/fd/4,
	// so the child loads what the host hashed), then the libraries it
	// finds through $ORIGIN (loaded first, plugin.OriginLibs).
	p.cmd = exec.Command(runner, append([]string{"--serve", "/proc/self/fd/4", connector, "3"}, childLibArgs(5, len(libs))...)...)
	p.cmd.ExtraFiles = append([]*os.File{childEnd, f}, libs...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.WaitDelay = time.Second
	ownGroup(p.cmd)
	if err := startOn(p.cmd, cpus); err != nil {
		unix.Close(p.fd)
		return nil, fmt.Errorf("starting %s: %w", runner, err)
	}
	p.pid = p.cmd.Process.Pid
	go p.waitExit()
	p.rmu.Lock()
	start := "start"
	body, err := p.await(&start, timeout, 0, nil, -1, false)
	p.rmu.Unlock()
	if err != nil {
		return nil, err
	}
	if len(body) < 12 {
		p.kill("protocol error: short READY")
		return nil, p.deadErr("start")
	}
	p.ready = readyMsg{
		ABIMajor: binary.NativeEndian.Uint16(body[0:]),
		ABIMinor: binary.NativeEndian.Uint16(body[2:]),
		Hooks:    binary.NativeEndian.Uint32(body[4:]),
		Pid:      binary.NativeEndian.Uint32(body[8:]),
	}
	go p.watch()
	return p, nil
}

// startOn starts cmd on cpus (nil: wherever the host may run). A child
// inherits the CPU mask of the thread that forks it, so the fork happens on
// a thread of its own with that mask: the runner and every thread the
// plugin starts run there from their first instruction. The thread is
// never unlocked, so it ends with its goroutine and its mask with it.
func startOn(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		var set unix.CPUSet
		for _, c := range cpus {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			done <- fmt.Errorf("pinning it to CPUs %v: %w", cpus, err)
			return
		}
		done <- cmd.Start()
	}()
	return <-done
}

// waitExit reaps the child and records how it ended; an end the host did
// not ask for is logged as a crash.
func (p *proc) waitExit() {
	exited(p.pid)
	werr := p.cmd.Wait()
	// What the child sent before it died and nobody read yet (its last
	// log lines, say, while it pulled ahead) is handled first, unless a
	// call reads it (see the last drain below).
	if p.rmu.TryLock() {
		p.drain()
		p.rmu.Unlock()
	}
	p.exitText, p.exitWhy = p.describeExit(werr)
	if !p.closing.Load() {
		full := func() {
			ev := p.log.Error().Int("pid", p.pid).Str("exit", p.exitText)
			if op := p.op.Load(); op != nil {
				ev = ev.Str("during", *op)
			}
			if lines := p.out.lines(); len(lines) > 0 {
				ev = ev.Strs("last_output", lines)
			}
			ev.Msg("the plugin's process died: " + p.what)
		}
		if p.deaths != nil {
			p.deaths.died(time.Now(), p.exitWhy, full)
		} else {
			full()
		}
	}
	close(p.dead)
	// Wake whoever still reads or writes (a grandchild may hold the other
	// end open), then close once nobody uses the socket.
	// What is still queued (the reader that held rmu above let go before
	// it came) stays readable after the shutdown: the answers to pulls
	// ahead among it are kept for the pulls that take them (takePulled
	// waits for drained).
	_ = unix.Shutdown(p.fd, unix.SHUT_RDWR)
	p.rmu.Lock()
	p.drain()
	p.wmu.Lock()
	unix.Close(p.fd)
	p.fd = -1
	p.wmu.Unlock()
	close(p.drained)
	p.rmu.Unlock()
}

// drain reads what the child sent and nobody read, keeping the answers to
// pulls ahead; the caller holds rmu.
func (p *proc) drain() {
	for {
		typ, body, err := p.frame(false)
		if err != nil || typ == 0 && body == nil {
			return
		}
		if typ == msgPulled && p.pulledLen < len(p.pulled) {
			p.keepPulled(body)
		}
	}
}

// exited returns once process pid has exited, parked in Go's poller on a
// pidfd. cmd.Wait alone blocks in waitid(2) while holding one of the Go
// scheduler's Ps until its monitor takes the P back, which can take 10 ms
// when the monitor sleeps: with 2 Ps, the waits of a flow's two new
// children stalled every other goroutine for that long at the start.
// When no pidfd can be had, it returns at once and Wait blocks as before.
func exited(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		return n > 0 || err != nil && err != unix.EINTR
	})
}

// watch picks up what the child sends between calls (log lines from the
// plugin's own threads), until the child is gone.
func (p *proc) watch() {
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		select {
		case <-p.dead:
			return
		case <-t.C:
		}
		if !p.rmu.TryLock() {
			continue // a call is reading: its request takes them along
		}
		p.flushQueued()
		for {
			typ, body, err := p.frame(false)
			if err != nil || body == nil && typ == 0 {
				break
			}
			if typ == msgPulled {
				p.keepPulled(body)
				continue
			}
			if typ == msgReply && p.sendOut && !p.hasSent {
				p.keepSent(body)
				continue
			}
			if typ == msgReady || typ == msgReply {
				p.kill("protocol error: a reply nobody asked for")
				break
			}
		}
		p.rmu.Unlock()
	}
}

// frame returns the next frame that is not a log line or a notice (those
// it handles), waiting for it when wait is set; else (0, nil, nil) when no
// whole frame is there (the watcher). An error when the socket ended or
// the child broke the protocol.
func (p *proc) frame(wait bool) (uint16, []byte, error) {
	for {
		if p.rw-p.rr >= frameHeader {
			n := int(binary.NativeEndian.Uint32(p.rbuf[p.rr:]))
			typ := binary.NativeEndian.Uint16(p.rbuf[p.rr+4:])
			if n > maxFrame {
				return 0, nil, protocolError(fmt.Sprintf("protocol error: a frame of %d bytes", n))
			}
			if p.rw-p.rr >= frameHeader+n {
				body := p.rbuf[p.rr+frameHeader : p.rr+frameHeader+n]
				p.rr += frameHeader + n
				switch typ {
				case msgLog:
					p.logLine(body)
					continue
				case msgNotice:
					p.takeNotice(body)
					continue
				case msgMetric:
					if err := p.metric(body); err != nil {
						return 0, nil, err
					}
					continue
				case msgReady, msgReply, msgPulled:
					return typ, body, nil
				default:
					return 0, nil, protocolError(fmt.Sprintf("protocol error: unknown frame type %d", typ))
				}
			}
			if need := frameHeader + n; need > len(p.rbuf) {
				bigger := make([]byte, max(need, 2*len(p.rbuf)))
				p.rw = copy(bigger, p.rbuf[p.rr:p.rw])
				p.rr, p.rbuf = 0, bigger
			}
		}
		if p.rr == p.rw {
			p.rr, p.rw = 0, 0
		} else if p.rw == len(p.rbuf) {
			p.rw = copy(p.rbuf, p.rbuf[p.rr:p.rw])
			p.rr = 0
		}
		k, err := p.sockRead(p.rbuf[p.rw:], wait)
		if k == 0 && err == nil {
			return 0, nil, nil // nothing there, and not waiting
		}
		p.rw += k
		if err != nil {
			return 0, nil, err
		}
	}
}

// sockRead reads from the socket: waiting for data when wait is set,
// else returning (0, nil) when there is none.
//
// The socket is used in blocking mode with plain syscalls, not through Go's
// netpoller: a call that waits for its reply stays in the read(2) instead
// of parking its goroutine, which would set the Go scheduler spinning for
// work on the other CPUs just when the child needs one to answer.
func (p *proc) sockRead(b []byte, wait bool) (int, error) {
	if p.fd < 0 {
		return 0, io.EOF
	}
	flags := 0
	if !wait {
		flags = unix.MSG_DONTWAIT
	}
	for {
		n, err := cmem.Recv(p.fd, b, flags)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN && !wait:
			return 0, nil
		case err != nil:
			return 0, err
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// sockWrite writes all of b (with fd attached when fd >= 0), waiting when
// the socket is full unless nowait: then it returns how much it wrote.
func (p *proc) sockWrite(b []byte, fd int, nowait bool) (int, error) {
	if p.fd < 0 {
		return 0, io.ErrClosedPipe
	}
	flags := unix.MSG_NOSIGNAL
	if nowait {
		flags |= unix.MSG_DONTWAIT
	}
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	done := 0
	for done < len(b) {
		n, err := unix.SendmsgN(p.fd, b[done:], oob, nil, flags)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN && nowait {
			return done, nil
		}
		if err != nil {
			return done, err
		}
		done += n
		oob = nil // the descriptor went with the first bytes
	}
	return done, nil
}

// await reads until the reply (or READY; or PULLED when wantPulled)
// comes; the caller holds rmu. A PULLED that comes first is kept for the
// next pull. The child is killed when it takes longer than timeout. The
// body returned is a copy, valid until the next call.
func (p *proc) await(op *string, timeout time.Duration, typ uint16, req []byte, fd int, wantPulled bool) ([]byte, error) {
	p.op.Store(op)
	p.arm(op, timeout)
	var err error
	if typ != 0 {
		err = p.send(typ, fd, req)
	}
	var got uint16
	var body []byte
	for err == nil && got == 0 {
		got, body, err = p.frame(true)
		switch {
		case err != nil:
		case got == msgPulled && !wantPulled:
			p.keepPulled(body)
			got = 0
		case (got == msgPulled) != wantPulled:
			err = protocolError("protocol error: a reply nobody asked for")
		}
	}
	p.timer.Stop()
	if err != nil {
		var pe protocolError
		if errors.As(err, &pe) {
			p.kill(pe.Error())
		}
		return nil, p.deadErr(*op)
	}
	if wantPulled {
		p.pulledCame()
	}
	if cap(p.reply) < len(body) {
		p.reply = make([]byte, len(body), max(len(body), 1024))
	}
	p.reply = p.reply[:len(body)]
	copy(p.reply, body)
	return p.reply, nil
}

// keepPulled keeps the body of a PULLED frame for the next pull; the
// caller holds rmu.
func (p *proc) keepPulled(body []byte) {
	if p.pulledLen == len(p.pulled) {
		p.kill("protocol error: more answers to pulls ahead than pulls")
		return
	}
	i := (p.pulledAt + p.pulledLen) % len(p.pulled)
	p.pulled[i] = append(p.pulled[i][:0], body...)
	p.pulledLen++
	p.pulledCame()
}

// takePulled returns the answer to the oldest AHEAD not taken, waiting for
// it at most timeout. The body is valid until the next call.
func (p *proc) takePulled(op *string, timeout time.Duration) ([]byte, error) {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.pulledLen == 0 && p.gone() {
		// Answers it sent before it died may still be on their way in.
		p.rmu.Unlock()
		<-p.drained
		p.rmu.Lock()
	}
	if p.pulledLen > 0 {
		body := p.pulled[p.pulledAt]
		p.pulledAt = (p.pulledAt + 1) % len(p.pulled)
		p.pulledLen--
		return body, nil
	}
	if p.gone() {
		return nil, p.deadErr(*op)
	}
	return p.await(op, timeout, 0, nil, -1, true)
}

// postSend sends a SEND whose REPLY is read later (takeSent): the child
// works on the batch while the host prepares the next. Until then the
// watcher keeps that REPLY instead of taking it for one nobody asked for.
func (p *proc) postSend(op *string, body []byte, timeout time.Duration) error {
	p.rmu.Lock()
	p.sendOut, p.hasSent = true, false
	p.rmu.Unlock()
	if err := p.post(op, reqSend, timeout, body); err != nil {
		p.rmu.Lock()
		p.sendOut = false
		p.rmu.Unlock()
		return err
	}
	return nil
}

// keepSent keeps the REPLY to the SEND out; the caller holds rmu.
func (p *proc) keepSent(body []byte) {
	p.sent = append(p.sent[:0], body...)
	p.hasSent = true
}

// takeSent returns the REPLY to the SEND postSend sent, waiting for it at
// most timeout. The body is valid until the next call.
func (p *proc) takeSent(op *string, timeout time.Duration) ([]byte, error) {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	p.sendOut = false
	if p.hasSent {
		p.hasSent = false
		return p.sent, nil
	}
	if p.gone() {
		return nil, p.deadErr(*op)
	}
	return p.await(op, timeout, 0, nil, -1, false)
}

// dropPulled forgets the PULLEDs kept for pulls that will not come.
func (p *proc) dropPulled() {
	p.rmu.Lock()
	p.pulledLen = 0
	p.rmu.Unlock()
}

// arm has the child killed when op is not done within timeout.
func (p *proc) arm(op *string, timeout time.Duration) {
	p.armedOp.Store(op)
	p.armedFor.Store(int64(timeout))
	p.timer.Reset(timeout)
}

func (p *proc) overrun() {
	if op := p.armedOp.Load(); op != nil {
		p.kill(fmt.Sprintf("%s did not return within %s: the plugin hangs", *op, time.Duration(p.armedFor.Load())))
	}
}

func (p *proc) logLine(body []byte) {
	if len(body) < 8 {
		return
	}
	level := int32(binary.NativeEndian.Uint32(body[0:]))
	flags := binary.NativeEndian.Uint32(body[4:])
	if flags&1 != 0 {
		edge.StaleCtxLog(p.log, 0, body[8:])
		return
	}
	edge.PluginLog(p.log, level, body[8:])
}

// metric applies one METRIC frame (a counter_add or gauge_set call of
// the plugin) to the instance's metrics, checked there as in process.
func (p *proc) metric(body []byte) error {
	const head = 24 // u32 kind, u32 labels_len, i64 value, u32 name_len, u32 help_len
	bad := protocolError("protocol error: a malformed METRIC frame")
	if len(body) < head {
		return bad
	}
	kind := int(binary.NativeEndian.Uint32(body[0:]))
	nl := int(binary.NativeEndian.Uint32(body[4:]))
	v := int64(binary.NativeEndian.Uint64(body[8:]))
	name, rest, ok := cutText(body[head:], binary.NativeEndian.Uint32(body[16:]))
	help, rest, ok2 := cutText(rest, binary.NativeEndian.Uint32(body[20:]))
	if !ok || !ok2 || nl > abi.MaxMetricLabelsRead {
		return bad
	}
	labels := make([]edge.Label, nl)
	for i := range labels {
		if len(rest) < 8 {
			return bad
		}
		vl := binary.NativeEndian.Uint32(rest[4:])
		var k, val string
		k, rest, ok = cutText(rest[8:], binary.NativeEndian.Uint32(rest[0:]))
		val, rest, ok2 = cutText(rest, vl)
		if !ok || !ok2 {
			return bad
		}
		labels[i] = edge.Label{Name: k, Value: val}
	}
	if p.metrics != nil {
		p.metrics.Report(kind, name, help, labels, v)
	}
	return nil
}

// cutText splits n bytes off b as a string.
func cutText(b []byte, n uint32) (string, []byte, bool) {
	if uint64(n) > uint64(len(b)) {
		return "", b, false
	}
	return string(b[:n]), b[n:], true
}

// takeNotice records a failed one-way call (on_ack, on_fail): the next
// call of that kind reports it.
func (p *proc) takeNotice(body []byte) {
	if len(body) < 8+replyHead {
		return
	}
	hook := edge.Hook(binary.NativeEndian.Uint32(body[0:]))
	r := parseReply(body[8:], 0)
	r.Msg = append([]byte(nil), r.Msg...)
	p.noticeMu.Lock()
	if p.notice == nil {
		p.notice = &r
	}
	p.noticeMu.Unlock()
	p.log.Debug().Str("hook", hook.String()).Int32("rc", int32(r.Code)).Msg("a one-way call failed; reported with the next one")
}

func (p *proc) takePendingNotice() *edge.Reply {
	p.noticeMu.Lock()
	defer p.noticeMu.Unlock()
	n := p.notice
	p.notice = nil
	return n
}

// gone reports whether the child has ended.
func (p *proc) gone() bool {
	select {
	case <-p.dead:
		return true
	default:
		return false
	}
}

// kill ends the child (SIGKILL), saying why.
func (p *proc) kill(why string) {
	if why != "" {
		p.killedFor.CompareAndSwap(nil, &why)
	}
	if p.cmd.Process != nil {
		_ = killGroup(p.cmd.Process.Pid)
	}
}

// ownGroup starts cmd in a process group of its own. A terminal's Ctrl-C
// (SIGINT to the foreground group) then reaches tremorctl alone, which
// drains and then ends its plugins' processes itself, instead of killing
// them in the middle of the drain; and killGroup ends the processes the
// plugin started too.
func ownGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// killGroup sends SIGKILL to the process group that process pid leads.
func killGroup(pid int) error { return unix.Kill(-pid, unix.SIGKILL) }

// send writes request frames of type typ, one per body (with a file
// descriptor when fd >= 0), after the one-way frames queued before them,
// in one write. No deadline: a child that does not read is killed by the
// call's timer, which ends the write.
func (p *proc) send(typ uint16, fd int, bodies ...[]byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	for _, body := range bodies {
		p.wbuf = appendFrame(p.wbuf, typ, body)
	}
	_, err := p.sockWrite(p.wbuf, fd, false)
	p.wbuf = p.wbuf[:0]
	if err == nil {
		p.written()
	}
	if err == nil && typ == reqAhead {
		for range bodies {
			if p.aheadsOut < len(p.afterAhead) {
				p.afterAhead[p.aheadsOut] = [2]int{}
				p.aheadsOut++
			}
		}
	}
	return err
}

// written notes that the queued IDS frames went out; the caller holds wmu.
func (p *proc) written() {
	if n := p.aheadsOut; n > 0 {
		p.afterAhead[n-1][0] += p.unsent[0]
		p.afterAhead[n-1][1] += p.unsent[1]
	}
	p.unsent = [2]int{}
}

// pulledCame notes that the answer to the oldest AHEAD out came: the
// child read what was written after it, or will before its next pull.
func (p *proc) pulledCame() {
	p.wmu.Lock()
	if p.aheadsOut > 0 {
		copy(p.afterAhead[:], p.afterAhead[1:p.aheadsOut])
		p.aheadsOut--
	}
	p.wmu.Unlock()
}

func appendFrame(b []byte, typ uint16, body []byte) []byte {
	var h [frameHeader]byte
	binary.NativeEndian.PutUint32(h[0:], uint32(len(body)))
	binary.NativeEndian.PutUint16(h[4:], typ)
	return append(append(b, h[:]...), body...)
}

// maxQueued is how many bytes of one-way frames wait for the next request
// before they are written on their own.
const maxQueued = 64 << 10

// call sends a request and reads its reply (at most timeout; then the
// child is killed). The reply body is valid until the next call. op names
// the request in messages (a pointer, so that a call does not allocate).
func (p *proc) call(op *string, typ uint16, body []byte, fd int, timeout time.Duration) ([]byte, error) {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.gone() {
		return nil, p.deadErr(*op)
	}
	return p.await(op, timeout, typ, body, fd, false)
}

// oneWay queues an IDS frame of ids ids (kind 0 on_ack, 1 on_fail), which
// has no reply: it goes out with the next request, which it precedes (so a
// plugin still sees its acks before its next pull), or within
// watchInterval when no call is in flight. That saves the child a wake-up
// per batch. An error only when the child is known to be gone already:
// the frame was not queued. Queued frames the child never got are counted
// (takeUnsent).
func (p *proc) oneWay(op *string, kind int, ids int, body []byte, timeout time.Duration) error {
	if p.gone() {
		return p.deadErr(*op)
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.wbuf = appendFrame(p.wbuf, reqIDs, body)
	p.unsent[kind] += ids
	if len(p.wbuf) >= maxQueued {
		p.arm(op, timeout)
		_, err := p.sockWrite(p.wbuf, -1, false)
		p.timer.Stop()
		p.wbuf = p.wbuf[:0]
		if err == nil {
			p.written()
		}
	}
	return nil
}

// takeUnsent returns how many ack and fail ids a child that is gone never
// read: queued and not written, or written after an AHEAD it did not
// answer (it died in that pull). It forgets them.
func (p *proc) takeUnsent() (acks, fails int) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	acks, fails = p.unsent[0], p.unsent[1]
	for _, n := range p.afterAhead[:p.aheadsOut] {
		acks, fails = acks+n[0], fails+n[1]
	}
	p.unsent, p.aheadsOut = [2]int{}, 0
	p.wbuf = p.wbuf[:0]
	return acks, fails
}

// post sends requests (one per body) whose answers are read later (AHEAD:
// takePulled), after the one-way frames queued before them.
func (p *proc) post(op *string, typ uint16, timeout time.Duration, bodies ...[]byte) error {
	if p.gone() {
		return p.deadErr(*op)
	}
	p.op.Store(op)
	p.arm(op, timeout)
	err := p.send(typ, -1, bodies...)
	p.timer.Stop()
	if err != nil {
		return p.deadErr(*op)
	}
	return nil
}

// flushQueued writes the queued one-way frames when no request came to
// take them along (the watcher, while no call is in flight).
func (p *proc) flushQueued() {
	if !p.wmu.TryLock() {
		return
	}
	defer p.wmu.Unlock()
	if len(p.wbuf) == 0 {
		return
	}
	n, err := p.sockWrite(p.wbuf, -1, true)
	if err != nil {
		p.wbuf = p.wbuf[:0]
		return
	}
	if n == len(p.wbuf) {
		p.written()
	}
	// What did not fit waits for the next request or the next round.
	p.wbuf = p.wbuf[:copy(p.wbuf, p.wbuf[n:])]
}

type protocolError string

func (e protocolError) Error() string { return string(e) }

// errDied is what every call on a dead child wraps.
var errDied = errors.New("the plugin's process is gone")

// deadErr is the error for a call that the child's end interrupted.
func (p *proc) deadErr(op string) error {
	select {
	case <-p.dead:
	case <-time.After(2 * time.Second):
		p.kill("the connection to it broke")
		<-p.dead
	}
	return fmt.Errorf("%w (pid %d, %s; during %s)", errDied, p.pid, p.exitText, op)
}

// close ends the child on purpose: it is expected to exit by itself (after
// DESTROY); it is killed after timeout.
func (p *proc) close(timeout time.Duration) {
	p.closing.Store(true)
	p.wmu.Lock()
	if p.fd >= 0 {
		_ = unix.Shutdown(p.fd, unix.SHUT_WR)
	}
	p.wmu.Unlock()
	// drained, not dead: the log lines it sent last are logged by then,
	// before whatever the caller prints next (tremorctl's table).
	select {
	case <-p.drained:
	case <-time.After(timeout):
		p.kill("did not exit after destroy")
		<-p.drained
	}
}

// describeExit says how the child ended: in full (with why the host
// killed it and its last output), and in short (the signal's name, the
// exit status, "hung").
func (p *proc) describeExit(werr error) (text, short string) {
	var s string
	st := p.cmd.ProcessState
	if st == nil {
		s = fmt.Sprintf("could not be waited for: %v", werr)
		short = "not waited for"
	} else if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		s = "killed by " + signalText(ws.Signal())
		short = unix.SignalName(ws.Signal())
		if short == "" {
			short = fmt.Sprintf("signal %d", int(ws.Signal()))
		}
	} else {
		s = exitText(st)
		short = fmt.Sprintf("exit status %d", st.ExitCode())
	}
	if why := p.killedFor.Load(); why != nil {
		s += " (killed by the host: " + *why + ")"
		short = "killed by the host"
		if strings.Contains(*why, "hangs") {
			short = "hung"
		}
	}
	if lines := p.out.lines(); len(lines) > 0 {
		s += "; its last output: " + strings.Join(lines, " | ")
	}
	return s, short
}

func signalText(sig syscall.Signal) string {
	name := unix.SignalName(sig)
	if name == "" {
		name = fmt.Sprintf("signal %d", int(sig))
	}
	return fmt.Sprintf("signal %s (%s)", name, sig.String())
}

func exitText(st *os.ProcessState) string {
	return fmt.Sprintf("exited with status %d", st.ExitCode())
}

// tail keeps the last lines a child wrote to stdout/stderr and, when it
// has a logger, logs each line as it comes (the child's output would
// otherwise be lost: a plugin's panic message, say).
type tail struct {
	mu      sync.Mutex
	log     *zerolog.Logger
	max     int
	partial []byte
	last    []string
}

func newTail(log *zerolog.Logger, max int) *tail { return &tail{log: log, max: max} }

const maxOutputLine = 4096

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := strings.IndexByte(string(p), '\n')
		if i < 0 {
			t.partial = append(t.partial, p[:min(len(p), maxOutputLine-len(t.partial))]...)
			break
		}
		t.partial = append(t.partial, p[:min(i, maxOutputLine-len(t.partial))]...)
		p = p[i+1:]
		t.line()
	}
	return n, nil
}

func (t *tail) line() {
	s := strings.ToValidUTF8(strings.TrimRight(string(t.partial), "\r"), "\uFFFD")
	t.partial = t.partial[:0]
	if t.log != nil {
		t.log.Warn().Str("output", s).Msg("the plugin's process wrote")
	}
	t.last = append(t.last, s)
	if len(t.last) > t.max {
		t.last = t.last[len(t.last)-t.max:]
	}
}

func (t *tail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string(nil), t.last...)
	if len(t.partial) > 0 {
		out = append(out, string(t.partial))
	}
	return out
}

// suffix is "; its output: ..." when there was any.
func (t *tail) suffix() string {
	if l := t.lines(); len(l) > 0 {
		return "; its output: " + strings.Join(l, " | ")
	}
	return ""
}
