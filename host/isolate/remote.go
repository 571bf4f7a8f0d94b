package isolate

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/internal/cmem"
)

// remote is the edge.Transport of an instance whose plugin runs in a
// tremor-runner child: each hook call is one request and one reply on the
// socket, batches stay in shared memory (one MAP per batch mapping, then
// only headers travel), on_ack and on_fail are one-way (a failure comes
// back as a notice, reported by the next such call).
//
// Pulls are pipelined: after a pull that brought events, the child is asked
// to pull again (AHEAD, wait 0) into other mappings of the same layout
// (spares), several batches ahead (aheadFor), while the host routes the
// batch; the next Pull takes the oldest answer without a round trip and
// swaps the two mappings.
// Batches pulled ahead that no Pull takes (drain, stop, reconnect,
// destroy) are failed back to the plugin (RETURN), so that every event it
// handed over is settled.
type remote struct {
	p    *proc
	opts Options
	req  []byte
	out  []uint8 // outcomes of the last send
	// The batch mappings the child holds: slot -> SharedMem.ID.
	slots  [slotCount]uint64
	next   int
	spares []*edge.Batch // mappings the child may pull ahead into
	lent   []*edge.Batch // mappings of AHEADs whose answers are not taken, oldest first
	bodies [][]byte      // AHEAD requests being built
	// The mappings the AHEADs being built name: a MAP for another one
	// must not take their slots before those AHEADs are written.
	naming []uint64
}

// How far the child pulls ahead: up to aheadDepth batches (one mapping
// each, besides the one the host routes, and the two a sink sends from
// when the connector is a sink too: together at most the runner's
// slots), fewer when a batch's mapping is so large that they would take
// more than aheadBudget bytes, asked for half of them at a time once as
// many mappings are free. A child that keeps ahead of the host is then
// woken once per few batches, and pulls them in a row while the host
// routes: on two CPUs this is what lets its pulls run beside the host's
// routing rather than between its steps (docs/benchmarks.md).
const (
	aheadDepth  = slotCount - 1
	aheadBudget = 16 << 20
)

// aheadFor returns how many batches of room c the child pulls ahead, and
// how many are asked for at once.
func aheadFor(c edge.Caps, sends bool) (depth, refill int) {
	most := aheadDepth
	if sends {
		most -= 2
	}
	depth = max(1, min(most, aheadBudget/max(1, c.MappingSize())))
	return depth, (depth + 1) / 2
}

const (
	slotCount  = abi.SharedSlots
	replyHead  = 24
	wireHeader = int(abi.SizeofBatch)
)

var _ edge.Transport = (*remote)(nil)

// Metrics returns what the plugin reported (edge.Instance.PluginMetrics).
func (r *remote) Metrics() *edge.Metrics { return r.p.metrics }

func (r *remote) body(n int) []byte {
	if cap(r.req) < n {
		r.req = make([]byte, n, max(n, 256))
	}
	b := r.req[:n]
	clear(b)
	return b
}

// Bits of a reply head's flags word.
const (
	replyBufChanged = 1 << 0 // the plugin changed the error buffer's msg or cap
	replyOverran    = 1 << 1 // the canary after the error buffer changed
)

// parseReply reads a REPLY (or NOTICE) body: the head, extra bytes of the
// op, the error text.
func parseReply(body []byte, extra int) edge.Reply {
	flags := binary.NativeEndian.Uint32(body[4:])
	rep := edge.Reply{
		Code:       abi.Result(int32(binary.NativeEndian.Uint32(body[0:]))),
		BufChanged: flags&replyBufChanged != 0,
		Overran:    flags&replyOverran != 0,
		MsgLen:     binary.NativeEndian.Uint64(body[8:]),
		MsgCap:     binary.NativeEndian.Uint64(body[16:]),
	}
	if len(body) > replyHead+extra {
		rep.Msg = body[replyHead+extra:]
	}
	return rep
}

// The names of the requests, for messages (pointers, so that passing one
// does not allocate).
var (
	opCreate  = "create"
	opConnect = "connect"
	opMap     = "map"
	opPull    = "pull"
	opReturn  = "return of a batch pulled ahead"
	opSend    = "send"
	opDestroy = "destroy"
	opHooks   = func() (names [16]string) {
		for h := edge.HookCreate; h <= edge.HookSend; h++ {
			names[h] = h.String()
		}
		return
	}()
)

func hookOp(h edge.Hook) *string {
	if int(h) < len(opHooks) {
		return &opHooks[h]
	}
	s := h.String()
	return &s
}

func (r *remote) simple(op *string, typ uint16, body []byte, timeout time.Duration) (edge.Reply, error) {
	resp, err := r.p.call(op, typ, body, -1, timeout)
	if err != nil {
		return edge.Reply{}, err
	}
	if len(resp) < replyHead {
		return edge.Reply{}, r.protocol(*op, "short reply")
	}
	return parseReply(resp, 0), nil
}

func (r *remote) protocol(op, what string) error {
	r.p.kill("protocol error: " + what)
	<-r.p.dead
	return r.p.deadErr(op)
}

// Create implements edge.Transport.
func (r *remote) Create(alias string, nodes []abi.Value, bytes []byte) (edge.Reply, error) {
	raw := cmem.AsBytes(nodes)
	b := r.body(24 + len(alias) + len(raw) + len(bytes))
	binary.NativeEndian.PutUint64(b[0:], uint64(len(alias)))
	binary.NativeEndian.PutUint64(b[8:], uint64(len(nodes)))
	binary.NativeEndian.PutUint64(b[16:], uint64(len(bytes)))
	off := 24 + copy(b[24:], alias)
	off += copy(b[off:], raw)
	copy(b[off:], bytes)
	return r.simple(&opCreate, reqCreate, b, r.opts.CallTimeout)
}

// Connect implements edge.Transport.
func (r *remote) Connect(attempt uint32) (edge.Reply, error) {
	r.returnAhead()
	b := r.body(8)
	binary.NativeEndian.PutUint32(b, attempt)
	return r.simple(&opConnect, reqConnect, b, r.opts.ConnectTimeout)
}

// Step implements edge.Transport.
func (r *remote) Step(h edge.Hook) (edge.Reply, error) {
	if h != edge.HookPause && h != edge.HookResume {
		r.returnAhead() // a paused source's next pull takes it
	}
	b := r.body(8)
	binary.NativeEndian.PutUint32(b, uint32(h))
	return r.simple(hookOp(h), reqStep, b, r.opts.CallTimeout)
}

// slot makes sure the child maps b and returns the slot it is in.
func (r *remote) slot(b *edge.Batch) (uint32, error) {
	sm, err := b.Share()
	if err != nil {
		return 0, err
	}
	for i, id := range r.slots {
		if id == sm.ID {
			return uint32(i), nil
		}
	}
	i := r.victim()
	body := r.body(24)
	binary.NativeEndian.PutUint32(body[0:], uint32(i))
	binary.NativeEndian.PutUint64(body[8:], sm.Size)
	binary.NativeEndian.PutUint64(body[16:], sm.ID)
	r.slots[i] = 0
	resp, err := r.p.call(&opMap, reqMap, body, sm.FD, r.opts.CallTimeout)
	if err != nil {
		return 0, err
	}
	if len(resp) < replyHead {
		return 0, r.protocol("map", "short reply")
	}
	if rep := parseReply(resp, 0); rep.Code != abi.ResultOK {
		return 0, fmt.Errorf("the plugin's process could not map a batch: %s", rep.Msg)
	}
	r.slots[i] = sm.ID
	return uint32(i), nil
}

// victim picks the slot a new mapping replaces: round robin, never one
// an AHEAD being built names, and one an AHEAD out names only when no
// other is left (replacing it is safe, the runner having served that
// AHEAD first, but its mapping is then mapped again).
func (r *remote) victim() int {
	held := func(id uint64, lent bool) bool {
		if slices.Contains(r.naming, id) {
			return true
		}
		if lent {
			for _, l := range r.lent {
				if sm, err := l.Share(); err == nil && sm.ID == id {
					return true
				}
			}
		}
		return false
	}
	for _, lent := range []bool{true, false} {
		for k := range slotCount {
			i := (r.next + k) % slotCount
			if id := r.slots[i]; id == 0 || !held(id, lent) {
				r.next = (i + 1) % slotCount
				return i
			}
		}
	}
	// Unreachable: an instance names fewer mappings at once than there
	// are slots (aheadFor).
	i := r.next
	r.next = (r.next + 1) % slotCount
	return i
}

func putHeader(dst []byte, h *abi.Batch) {
	copy(dst, cmem.StructBytes(h))
}

func getHeader(src []byte) abi.Batch {
	var h abi.Batch
	copy(cmem.StructBytes(&h), src)
	return h
}

// Pull implements edge.Transport.
func (r *remote) Pull(b *edge.Batch, waitMs uint32) (edge.Reply, error) {
	for len(r.lent) > 0 {
		o := r.lent[0]
		r.lent = append(r.lent[:0], r.lent[1:]...)
		r.spares = append(r.spares, o)
		resp, err := r.p.takePulled(&opPull, time.Duration(waitMs)*time.Millisecond+r.opts.PullGrace)
		if err != nil {
			return edge.Reply{}, err
		}
		rep, h, err := r.pullReply(resp)
		if err != nil || rep.Code < 0 && len(resp) < replyHead+wireHeader {
			return rep, err // an error, or the runner refused: the room stays empty
		}
		if rep.Code != abi.ResultOK || h.EventsLen > 0 {
			if err := b.SwapShared(o); err != nil {
				return edge.Reply{}, r.protocol("pull", err.Error())
			}
			b.SetRemoteHeader(h)
			r.pullAhead(b, rep, h)
			return rep, nil
		}
		// Nothing was ready: take the next answer, or pull now, waiting
		// as asked.
	}
	slot, err := r.slot(b)
	if err != nil {
		return edge.Reply{}, err
	}
	body := r.body(8 + wireHeader)
	binary.NativeEndian.PutUint32(body[0:], slot)
	binary.NativeEndian.PutUint32(body[4:], waitMs)
	h := b.RemoteHeader()
	putHeader(body[8:], &h)
	timeout := time.Duration(waitMs)*time.Millisecond + r.opts.PullGrace
	resp, err := r.p.call(&opPull, reqPull, body, -1, timeout)
	if err != nil {
		return edge.Reply{}, err
	}
	rep, h, err := r.pullReply(resp)
	if err != nil || len(resp) < replyHead+wireHeader {
		return rep, err
	}
	b.SetRemoteHeader(h)
	r.pullAhead(b, rep, h)
	return rep, nil
}

// pullReply reads the answer to a PULL or AHEAD: the reply and the header
// the plugin left. A reply without the header is the runner's own refusal
// (an error: the room stays as it was, empty).
func (r *remote) pullReply(resp []byte) (edge.Reply, abi.Batch, error) {
	if len(resp) < replyHead {
		return edge.Reply{}, abi.Batch{}, r.protocol("pull", "short reply")
	}
	if len(resp) < replyHead+wireHeader {
		if rep := parseReply(resp, 0); rep.Code < 0 {
			return rep, abi.Batch{}, nil
		}
		return edge.Reply{}, abi.Batch{}, r.protocol("pull", "short reply")
	}
	return parseReply(resp, wireHeader), getHeader(resp[replyHead:]), nil
}

// pullAhead asks the child to pull the next batches into spare mappings
// while the host works on b, when the pull just answered brought events
// and may be followed by more. A failure here is left for the next call
// to find (the child is gone).
func (r *remote) pullAhead(b *edge.Batch, rep edge.Reply, h abi.Batch) {
	if rep.Code != abi.ResultOK || h.EventsLen == 0 {
		return
	}
	// Spares of another room (the batch grew) are of no use any more.
	for i, s := range r.spares {
		if s.Caps() != b.Caps() {
			s.Free()
			r.spares[i] = nil
		}
	}
	r.spares = slices.DeleteFunc(r.spares, func(s *edge.Batch) bool { return s == nil })
	depth, refill := aheadFor(b.Caps(), edge.Hooks(r.p.ready.Hooks).Has(edge.HookSend))
	for len(r.spares)+len(r.lent) < depth {
		s, err := edge.NewBatch(b.Caps())
		if err != nil {
			break
		}
		r.spares = append(r.spares, s)
	}
	n := min(len(r.spares), depth-len(r.lent))
	if n <= 0 || len(r.lent) > 0 && n < refill {
		return
	}
	room := b.RemoteHeader() // the same offsets in a spare: same layout
	r.naming = r.naming[:0]
	defer func() { r.naming = r.naming[:0] }()
	for i, s := range r.spares[:n] {
		slot, err := r.slot(s)
		if err != nil {
			return
		}
		r.naming = append(r.naming, r.slots[slot])
		if i == len(r.bodies) {
			r.bodies = append(r.bodies, make([]byte, 8+wireHeader))
		}
		body := r.bodies[i]
		binary.NativeEndian.PutUint32(body[0:], slot)
		putHeader(body[8:], &room)
	}
	if r.p.post(&opPull, reqAhead, r.opts.CallTimeout, r.bodies[:n]...) == nil {
		r.lent = append(r.lent, r.spares[:n]...)
		r.spares = append(r.spares[:0], r.spares[n:]...)
	}
}

// returnAhead has the child fail back the events of the batches pulled
// ahead that no Pull will take: the pulls end (drain, stop, destroy) or
// start over (connect).
func (r *remote) returnAhead() {
	if len(r.lent) == 0 {
		return
	}
	untaken := len(r.lent)
	body := r.body(4)
	binary.NativeEndian.PutUint32(body, uint32(untaken))
	r.spares = append(r.spares, r.lent...)
	r.lent = r.lent[:0]
	rep, err := r.simple(&opReturn, reqReturn, body, r.opts.CallTimeout)
	r.p.dropPulled()
	if err == nil && rep.Code != abi.ResultOK {
		r.p.log.Warn().Int32("rc", int32(rep.Code)).Bytes("error", rep.Msg).Int("batches", untaken).
			Msg("on_fail for the events of batches pulled ahead and not taken failed; those after the failed call were not failed back")
	}
}

// IDs implements edge.Transport: one-way; a failure of an earlier call
// comes back now.
func (r *remote) IDs(h edge.Hook, ids []uint64) (edge.Reply, error) {
	body := r.body(16 + 8*len(ids))
	binary.NativeEndian.PutUint32(body[0:], uint32(h))
	binary.NativeEndian.PutUint64(body[8:], uint64(len(ids)))
	copy(body[16:], cmem.AsBytes(ids))
	kind := 0
	if h == edge.HookFail {
		kind = 1
	}
	if err := r.p.oneWay(hookOp(h), kind, len(ids), body, r.opts.CallTimeout); err != nil {
		return edge.Reply{}, err
	}
	if n := r.p.takePendingNotice(); n != nil {
		return *n, nil
	}
	return edge.Reply{Code: abi.ResultOK}, nil
}

// Outcomes implements edge.Transport: the outcomes come back in the
// reply, so they are kept on the Go heap.
func (r *remote) Outcomes(n int) ([]uint8, error) {
	if cap(r.out) < n {
		r.out = make([]uint8, n)
	}
	return r.out[:n], nil
}

// Send implements edge.Transport.
func (r *remote) Send(b *edge.Batch, outcomes []uint8) (edge.Reply, error) {
	body, err := r.sendBody(b)
	if err != nil {
		return edge.Reply{}, err
	}
	resp, err := r.p.call(&opSend, reqSend, body, -1, r.opts.CallTimeout)
	if err != nil {
		return edge.Reply{}, err
	}
	return r.sendReply(b, resp, outcomes)
}

var _ edge.SendPipeliner = (*remote)(nil)

// SendBegin implements edge.SendPipeliner: the child works on b while the
// host prepares the next batch; SendEnd reads the answer.
func (r *remote) SendBegin(b *edge.Batch) error {
	body, err := r.sendBody(b)
	if err != nil {
		return err
	}
	return r.p.postSend(&opSend, body, r.opts.CallTimeout)
}

// SendEnd implements edge.SendPipeliner.
func (r *remote) SendEnd(b *edge.Batch, outcomes []uint8) (edge.Reply, error) {
	resp, err := r.p.takeSent(&opSend, r.opts.CallTimeout)
	if err != nil {
		return edge.Reply{}, err
	}
	return r.sendReply(b, resp, outcomes)
}

// sendBody makes sure the child maps b and returns the SEND request.
func (r *remote) sendBody(b *edge.Batch) ([]byte, error) {
	slot, err := r.slot(b)
	if err != nil {
		return nil, err
	}
	body := r.body(8 + wireHeader)
	binary.NativeEndian.PutUint32(body[0:], slot)
	h := b.RemoteHeader()
	putHeader(body[8:], &h)
	return body, nil
}

// sendReply reads the answer to a SEND: the header the plugin left, then
// the outcomes.
func (r *remote) sendReply(b *edge.Batch, resp []byte, outcomes []uint8) (edge.Reply, error) {
	n := len(outcomes)
	if len(resp) < replyHead {
		return edge.Reply{}, r.protocol("send", "short reply")
	}
	if len(resp) < replyHead+wireHeader+n {
		// The runner refused the request itself: nothing was delivered.
		if rep := parseReply(resp, 0); rep.Code < 0 {
			return rep, nil
		}
		return edge.Reply{}, r.protocol("send", "short reply")
	}
	b.SetRemoteHeader(getHeader(resp[replyHead:]))
	copy(outcomes, resp[replyHead+wireHeader:])
	return parseReply(resp, wireHeader+n), nil
}

// Destroy implements edge.Transport: on_destroy, then the child exits.
func (r *remote) Destroy() {
	if !r.p.gone() {
		r.returnAhead()
	}
	r.p.closing.Store(true)
	defer func() {
		for _, s := range append(r.spares, r.lent...) {
			s.Free()
		}
	}()
	if !r.p.gone() {
		if _, err := r.p.call(&opDestroy, reqDestroy, nil, -1, r.opts.CallTimeout); err != nil {
			r.p.log.Debug().Err(err).Msg("destroy")
		}
	}
	r.p.close(2 * time.Second)
}
