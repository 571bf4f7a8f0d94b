package runtime

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"tremorhost/abi"
	"tremorhost/host/codec"
	"tremorhost/host/edge"
	"tremorhost/host/pipeline"
	"tremorhost/host/processor"
)

// event is one event on its way from a source to a sink.
type event struct {
	value    any
	meta     any
	ingestNs uint64
	src      *source
	token    uint64 // the source's window slot
}

// pulled is the event of the batch being routed (or the internal event
// that flushes pre-processors): what its values inherit, the port it came
// on and the stream its bytes belong to. It is set once per event; the
// pre-processors' emit callbacks read it, everything else is passed.
type pulled struct {
	event
	port   uint32
	stream uint64
}

// settlement is a sink's verdict on one delivery of an event.
type settlement struct {
	token  uint64
	failed bool
}

// inbox collects settlements for a source from any number of sinks. Sinks
// never block on it, so a source that is busy (or gone) cannot stall them.
type inbox struct {
	mu     sync.Mutex
	items  []settlement
	signal chan struct{} // holds one token while items is non-empty
}

func (b *inbox) put(items []settlement) {
	b.mu.Lock()
	b.items = append(b.items, items...)
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

func (b *inbox) take(dst []settlement) []settlement {
	b.mu.Lock()
	dst = append(dst[:0], b.items...)
	b.items = b.items[:0]
	b.mu.Unlock()
	return dst
}

// source is the source role of a node: it pulls, decodes, routes and
// settles.
type source struct {
	node   *node
	cpu    int // the CPU its goroutine is pinned to (cpus.go); -1: none
	r      *Runtime
	inst   Instance
	window *window
	batch  *edge.Batch
	inbox  inbox
	err    error // why it stopped early, if it did

	bufs      [][]event // per sink (by sink.idx), filled while routing one batch
	emits     []processor.Emit
	streams   map[uint64]*carry // streams with pre-processor state
	spare     []*carry          // carries of finished streams, for reuse
	carried   int               // events held by partial frames, all streams
	frames    uint64            // frames that reached the codec
	maxCarry  int               // the most events partial frames may hold
	scratch   []settlement
	acks      []uint64
	fails     []uint64
	ackWarn   limiter // warnings about failed on_ack/on_fail calls
	paused    bool
	held      bool    // held back by back-pressure: window full, or a sink's queue full
	heldLog   limiter // "source paused" lines
	resumeLog limiter // "source resumed" lines
	pauseWarn limiter // failed on_pause/on_resume calls
	cur       pulled  // the pulled event whose bytes are being decoded and routed

	// Hot-path state (performance only; behaviour as without it):
	//   - routes resolves n.outLinks["out"/"err"] and each pipeline's "out"
	//     port once, instead of two string-keyed map lookups per event;
	//   - out and discarded count events locally and are published to the
	//     shared atomic counters once per batch (in flush): an atomic add
	//     per event was 7% of a raw flow's CPU, mostly cache-line traffic
	//     with the sink goroutine;
	//   - lastStream/lastCarry skip the per-event map lookup in streams
	//     while events keep coming on the same stream;
	//   - free takes back the event slices sinks are done with, so flush
	//     does not allocate a new one per batch and sink.
	routes                 [2][]route // by port: 0 out, 1 err
	events, out, discarded uint64     // events: decoded from what was pulled (a read or request may hold several)
	lastStream             uint64
	lastCarry              *carry // streams[lastStream], or nil
	free                   chan []event

	// Values stay flat: a codec that is a DocDecoder decodes each frame
	// straight into a doc (abi.Doc) in the arena of the batch being
	// routed, and a plugin's structured values and metadata are copied
	// there, so that an event costs no Go allocation between the source
	// and the sinks' encoding (docs.go says when an arena is reused).
	flat   codec.DocDecoder // n.codec, when it is one
	docs   *abi.DocArena    // the arena of the batch being routed
	arenas docArenas
}

// route is one pipeline an output port feeds, with the sinks of the
// pipeline's "out" port resolved ahead.
type route struct {
	p   *pipe
	out []*sink
}

func (s *source) run(r *Runtime, stopPulling, giveUp <-chan struct{}) {
	n := s.node
	s.r = r
	s.inbox.signal = make(chan struct{}, 1)
	s.bufs = make([][]event, len(r.sinks))
	s.streams = map[uint64]*carry{}
	s.free = make(chan []event, len(r.sinks)*(sinkQueue+2))
	for i, port := range []string{"out", "err"} {
		for _, p := range n.outLinks[port] {
			s.routes[i] = append(s.routes[i], route{p: p, out: p.ports[pipeline.PortOut]})
		}
	}
	if d, ok := n.codec.(codec.DocDecoder); ok {
		s.flat = d
	}
	for level := range n.pre {
		s.emits = append(s.emits, func(frame []byte) error { return s.feed(level+1, frame) })
	}
	inst := n.instance(roleSource) // created by Run before any role runs
	s.inst = inst
	s.window = newWindow(r.opts.Window, s.record)
	s.docs = s.arenas.next(s.window)
	// Partial frames may hold up to half the window, and never so much
	// that a batch no longer fits (the source would wait for itself).
	s.maxCarry = min(r.opts.Window/2, r.opts.Window-n.batch)
	var err error
	if s.batch, err = edge.NewBatch(roomFor(n.batch)); err != nil {
		s.err = err
		n.roleDone(inst)
		return
	}
	defer s.batch.Free()

	s.pullLoop(stopPulling, giveUp)
	s.finishStreams(giveUp)
	s.flush(giveUp)
	n.roleDone(inst)
	s.waitSettled(giveUp)
}

func (s *source) pullLoop(stopPulling, giveUp <-chan struct{}) {
	n, r := s.node, s.r
	defer n.up.leave()
	for {
		s.settle()
		select {
		case <-stopPulling:
			return
		case req := <-n.up.swap: // a live upgrade (upgrade.go)
			s.swapSource(req, giveUp)
			continue
		default:
		}
		if err := n.ensureConnected(s.inst, stopPulling); err != nil {
			if !errors.Is(err, errStopped) {
				s.err = err
				n.log.Error().Func(edge.LogErr(n.log, err)).Msg("source gave up")
			}
			return
		}
		s.dropStale()
		if s.window.free() < n.batch {
			s.setPaused(true) // downstream is behind: wait for settlements
			select {
			case <-s.inbox.signal:
			case <-stopPulling:
			case req := <-n.up.swap:
				s.swapSource(req, giveUp)
			}
			continue
		}
		s.setPaused(false)
		s.setHeld(false)
		// Settlements reach the plugin between pulls: while some are due,
		// wait less, so a request/response source (http_server answers
		// once acked) hears of them within a few milliseconds.
		wait := r.opts.PullWait
		if s.window.unsettled() > 0 {
			wait = min(wait, settleWait)
		}
		err := s.inst.Pull(s.batch, wait)
		s.route(s.batch, giveUp)
		switch {
		case err == nil:
		case errors.Is(err, edge.ErrEnd):
			n.log.Info().Msg("source finished")
			return
		case disconnected(err):
			n.lost(err)
		case fatal(err):
			s.err = err
			n.counters.Errors.Add(1)
			n.log.Error().Func(edge.LogErr(n.log, err)).Msg("source stopped")
			return
		default:
			n.counters.Errors.Add(1)
			n.log.Warn().Func(edge.LogErr(n.log, err)).Msg("pull failed")
			if !backoff(n.conn.Reconnect, 2, stopPulling) {
				return
			}
		}
	}
}

// setHeld records whether back-pressure holds the source (its window is
// full, or a sink's queue is): the paused gauge, and a log line per change,
// at most one a second each way.
func (s *source) setHeld(h bool) {
	if s.held == h {
		return
	}
	s.held = h
	s.node.counters.Paused.Store(h)
	if h {
		if ok, suppressed := s.heldLog.allow(time.Now()); ok {
			s.node.log.Info().Int("inflight", s.window.unsettled()).Int("suppressed", suppressed).
				Msg("source paused: its sinks are behind or down (back-pressure); it resumes once events settle")
		}
	} else if ok, suppressed := s.resumeLog.allow(time.Now()); ok {
		s.node.log.Info().Int("suppressed", suppressed).Msg("source resumed")
	}
}

// settleWait bounds a pull's wait while events are unsettled.
const settleWait = 2 * time.Millisecond

func (s *source) setPaused(p bool) {
	if s.paused == p {
		return
	}
	s.paused = p
	s.setHeld(p)
	var err error
	if p {
		err = s.inst.Pause()
	} else {
		err = s.inst.Resume()
	}
	if err != nil {
		s.node.counters.Errors.Add(1)
		if ok, suppressed := s.pauseWarn.allow(time.Now()); ok {
			s.node.log.Warn().Func(edge.LogErr(s.node.log, err)).Bool("pause", p).Int("suppressed", suppressed).Msg("pause/resume failed")
		}
	}
}

// route decodes and routes every event of a pulled batch, then hands each
// sink its share.
func (s *source) route(b *edge.Batch, giveUp <-chan struct{}) {
	n := s.node
	if b.Len() == 0 {
		return
	}
	n.counters.In.Add(uint64(b.Len()))
	s.docs = s.arenas.next(s.window)
	now := uint64(time.Now().UnixNano())
	for i := 0; i < b.Len(); i++ {
		ev := b.Event(i)
		tok := s.window.open(ev.ID)
		s.cur = pulled{event: event{src: s, token: tok, ingestNs: ev.IngestNs}, port: ev.Port, stream: ev.Stream}
		if s.cur.ingestNs == 0 {
			s.cur.ingestNs = now
		}
		if meta, err := b.MetaDoc(i, s.docs); err != nil {
			s.reject(err, nil)
		} else {
			if meta != nil { // a nil *abi.Doc in the any field would read as meta
				s.cur.meta = meta
			}
			if ev.Flags&abi.EventStructured != 0 {
				s.events++
				if v, err := b.ValueDoc(i, s.docs); err != nil {
					s.reject(err, nil)
				} else {
					s.emit(ev.Port, v)
				}
			} else {
				end := ev.Flags&abi.EventEndStream != 0
				switch p := b.Payload(i); {
				case len(n.pre) > 0:
					s.frame(ev.Stream, p, end)
				case len(p) > 0 || !end: // an empty end-of-stream marker has nothing to decode
					s.feed(0, p)
				}
			}
		}
		s.window.release(tok)
	}
	s.flush(giveUp)
}

// carry is a stream's delivery state between events: the events whose
// bytes a pre-processor holds in a partial frame. They settle with the
// deliveries of the event whose processing completes (or drops) that
// frame.
type carry struct {
	chain chain          // the held events (window.hold)
	hold  processor.Hold // what the pre-processors held after the last event
}

// stream returns the carry of stream id, creating it.
func (s *source) stream(id uint64) *carry {
	if s.lastCarry != nil && s.lastStream == id {
		return s.lastCarry
	}
	c := s.streams[id]
	if c == nil {
		if k := len(s.spare); k > 0 {
			c, s.spare = s.spare[k-1], s.spare[:k-1]
		} else {
			c = &carry{}
		}
		s.streams[id] = c
	}
	s.lastStream, s.lastCarry = id, c
	return c
}

// hold is what the pre-processors keep of stream, the strongest of all
// levels (HoldDiscard > HoldPartial > HoldNone).
func (s *source) hold(stream uint64) processor.Hold {
	h := processor.HoldNone
	for _, pre := range s.node.pre {
		h = max(h, pre.Pending(stream))
	}
	return h
}

// resolve settles c's held events with the deliveries of event tok.
func (s *source) resolve(c *carry, tok uint64) {
	s.carried -= c.chain.n
	s.window.resolve(&c.chain, tok)
}

// frame runs the current event's bytes through the pre-processors and
// keeps its stream's carry, so that the event is acked only once every
// frame made from its bytes was delivered, and fails back (or goes to the
// err port) when any of them was dropped.
func (s *source) frame(stream uint64, p []byte, end bool) {
	s.cur.stream = stream
	c := s.stream(stream)
	if len(p) == 0 {
		if end {
			s.finishStream(stream)
		}
		return // no bytes: nothing held, nothing completed
	}
	tok := s.cur.token
	frames := s.frames
	err := s.feed(0, p)
	hold := s.hold(stream)
	if err == nil && (c.hold == processor.HoldDiscard || hold == processor.HoldDiscard) {
		err = fmt.Errorf("stream %d: bytes of a frame a pre-processor dropped", stream)
	}
	// A pre-processor completes (or drops) the oldest frame it holds first,
	// so the held events' frame is done once anything came out of this
	// event. Behind a second pre-processor that is not known: only an
	// empty hold says so.
	if hold != processor.HoldPartial || err != nil || (len(s.node.pre) == 1 && s.frames != frames) {
		s.resolve(c, tok)
	}
	if hold == processor.HoldPartial && !end {
		if s.window.age(&c.chain) >= uint64(s.maxCarry) {
			if err == nil {
				err = s.spanError(stream)
			}
			for _, pre := range s.node.pre {
				pre.Discard(stream)
			}
			s.resolve(c, tok)
			hold = s.hold(stream)
		} else {
			s.window.hold(&c.chain, tok)
			s.carried++
		}
	}
	c.hold = hold
	if err != nil {
		s.reject(err, nil)
	}
	if end {
		s.finishStream(stream)
	}
}

// spanError says why a partial frame was dropped: a frame waiting for its
// end holds the window's slots from its first event on, and must not fill
// the window, or the source would wait for settlements only its own next
// events can bring.
func (s *source) spanError(stream uint64) error {
	return fmt.Errorf("stream %d: frame spans more than %d events (half the source's window); dropped", stream, s.maxCarry)
}

// dropStale drops the partial frames whose first event is maxCarry events
// old (their stream stalled while others went on) and fails their events
// back, so that the window always has room for the next batch.
func (s *source) dropStale() {
	if s.carried == 0 {
		return
	}
	for stream, c := range s.streams {
		if s.window.age(&c.chain) < uint64(s.maxCarry) {
			continue
		}
		err := s.spanError(stream)
		s.node.counters.Errors.Add(1)
		s.node.log.Warn().Func(edge.LogErr(s.node.log, err)).Int("events", c.chain.n).Msg("events failed back to their source")
		for _, pre := range s.node.pre {
			pre.Discard(stream)
		}
		s.carried -= c.chain.n
		s.window.drop(&c.chain)
		c.hold = s.hold(stream)
	}
}

// feed runs data through pre-processor level and on; past the last one it
// decodes a frame. Only pre-processor errors (dropped frames) come back;
// a frame that cannot be decoded is rejected here.
func (s *source) feed(level int, data []byte) error {
	n := s.node
	if level == len(n.pre) {
		s.frames++
		s.events++
		if s.flat != nil {
			if d, ok := s.flat.DecodeDoc(data, s.docs); ok {
				s.emit(s.cur.port, d)
				return nil
			}
		}
		v, err := n.codec.Decode(data)
		if err != nil {
			s.reject(err, data)
			return nil
		}
		s.emit(s.cur.port, v)
		return nil
	}
	return n.pre[level].Process(s.cur.stream, data, s.emits[level])
}

// finishStreams flushes what pre-processors hold (a last line without a
// newline) once the source has ended or stops pulling.
func (s *source) finishStreams(giveUp <-chan struct{}) {
	if len(s.streams) == 0 {
		return
	}
	for s.window.full() {
		select {
		case <-s.inbox.signal:
			s.settle()
		case <-giveUp:
			return
		}
	}
	// The flushed frames belong to this internal event; the events whose
	// bytes they hold settle with it.
	tok := s.window.openInternal()
	s.cur = pulled{event: event{src: s, token: tok, ingestNs: uint64(time.Now().UnixNano())}, port: abi.PortOut}
	for stream := range s.streams {
		s.finishStream(stream)
	}
	s.window.release(tok)
}

// finishStream flushes and forgets the pre-processor state of one stream;
// what it emits belongs to the current event, and the events whose bytes
// were held settle with it.
func (s *source) finishStream(stream uint64) {
	c, ok := s.streams[stream]
	if !ok {
		return
	}
	delete(s.streams, stream)
	s.lastCarry = nil
	s.resolve(c, s.cur.token)
	*c = carry{}
	s.spare = append(s.spare, c)
	s.cur.stream = stream
	for level, pre := range s.node.pre {
		if err := pre.Finish(stream, s.emits[level]); err != nil {
			s.reject(err, nil)
		}
	}
}

// emit routes one decoded value of the current event from port.
func (s *source) emit(port uint32, v any) {
	routes := s.routes[0]
	if port == abi.PortErr {
		routes = s.routes[1]
	}
	if len(routes) == 0 {
		// Only "err" can be unlinked (New checks "out"): nowhere to go.
		s.fail(errors.New("event on the err port, which is not linked"))
		return
	}
	s.out++
	for _, rt := range routes {
		d := rt.p.p.Route(v)
		if d.Discard {
			s.discarded++
			continue
		}
		sinks := rt.out
		if d.Port != pipeline.PortOut {
			sinks = rt.p.ports[d.Port]
		}
		for _, k := range sinks {
			e := s.cur.event
			e.value = v
			s.bufs[k.idx] = append(s.bufs[k.idx], e)
			s.window.add(s.cur.token, 1)
		}
	}
}

// reject handles an event that could not be decoded or framed: it goes to
// the connector's err port as an error event when that is linked, and
// otherwise fails back to the source. Never dropped silently.
func (s *source) reject(err error, data []byte) {
	n := s.node
	n.counters.Errors.Add(1)
	if s.cur.port != abi.PortErr && len(s.routes[1]) > 0 {
		e := map[string]any{"error": err.Error(), "connector": n.conn.ID}
		if data != nil {
			e["data"] = string(data)
		}
		s.emit(abi.PortErr, e)
		return
	}
	s.fail(err)
}

// fail marks the current event as failed.
func (s *source) fail(err error) {
	s.node.log.Warn().Func(edge.LogErr(s.node.log, err)).Msg("event failed back to its source")
	s.window.add(s.cur.token, 1)
	s.window.settle(s.cur.token, true)
}

// record queues a settled event's outcome for the plugin (see settle).
func (s *source) record(id uint64, failed bool) {
	if failed {
		s.fails = append(s.fails, id)
	} else {
		s.acks = append(s.acks, id)
	}
}

// flush hands each sink its share of the routed batch. A full sink queue
// blocks here (that is back-pressure), while settlements keep being applied.
func (s *source) flush(giveUp <-chan struct{}) {
	n := s.node
	if s.events > 0 {
		n.counters.Events.Add(s.events)
		s.events = 0
	}
	if s.out > 0 {
		n.counters.Out.Add(s.out)
		s.out = 0
	}
	if s.discarded > 0 {
		n.counters.Discarded.Add(s.discarded)
		s.discarded = 0
	}
	for idx, buf := range s.bufs {
		if len(buf) == 0 {
			continue
		}
		k := s.r.sinks[idx]
		select {
		case s.bufs[idx] = <-s.free: // a slice a sink is done with
		default:
			s.bufs[idx] = make([]event, 0, s.r.flow.BatchSize)
		}
		k.node.counters.In.Add(uint64(len(buf)))
		select {
		case k.in <- buf:
			continue
		default:
			s.setHeld(true) // the sink's queue is full: wait (back-pressure)
		}
	send:
		for {
			select {
			case k.in <- buf:
				break send
			case <-s.inbox.signal:
				s.settle()
			case <-giveUp:
				for _, e := range buf {
					s.window.settle(e.token, true)
				}
				k.node.counters.SinkFails.Add(uint64(len(buf))) // counted in on the sink: failed there too
				break send
			}
		}
	}
	s.settle()
}

// settle applies the sinks' settlements and tells the plugin which events
// were delivered or failed. Acks and Fails count what the plugin took; a
// call it refused counts as an error (its events' outcome did not reach
// it, so it may offer them again).
func (s *source) settle() {
	s.scratch = s.inbox.take(s.scratch)
	for _, st := range s.scratch {
		s.window.settle(st.token, st.failed)
	}
	n := s.node
	n.counters.Inflight.Store(int64(s.window.unsettled()))
	if len(s.acks) > 0 {
		if err := s.inst.Ack(s.acks); err != nil {
			s.settleFailed("ack", len(s.acks), err)
		} else {
			n.counters.Acks.Add(uint64(len(s.acks)))
		}
		s.acks = s.acks[:0]
	}
	if len(s.fails) > 0 {
		if err := s.inst.Fail(s.fails); err != nil {
			s.settleFailed("fail", len(s.fails), err)
			n.counters.FailsRefused.Add(uint64(len(s.fails)))
		} else {
			n.counters.Fails.Add(uint64(len(s.fails)))
		}
		s.fails = s.fails[:0]
	}
}

// settleFailed counts an ack or fail call the plugin refused and warns,
// at most once a second.
func (s *source) settleFailed(op string, events int, err error) {
	n := s.node
	n.counters.Errors.Add(1)
	if ok, suppressed := s.ackWarn.allow(time.Now()); ok {
		n.log.Warn().Func(edge.LogErr(n.log, err)).Int("events", events).Int("suppressed", suppressed).
			Msg(op + " failed: the plugin was not told the outcome of these events")
	}
}

// limiter lets a repeated warning through at most once per period and
// counts the ones it held back.
type limiter struct {
	next       time.Time
	suppressed int
}

const warnPeriod = time.Second

// allow reports whether to log now, and how many were held back since the
// last one logged.
func (l *limiter) allow(now time.Time) (bool, int) {
	if now.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.next, l.suppressed = now.Add(warnPeriod), 0
	return true, n
}

// waitSettled waits until every event this source produced has settled, or
// until the flow gives up, when the rest is failed back.
func (s *source) waitSettled(giveUp <-chan struct{}) {
	for s.window.unsettled() > 0 {
		select {
		case <-s.inbox.signal:
			s.settle()
		case <-giveUp:
			s.settle()
			s.window.failAll()
			s.settle()
			return
		}
	}
}

// recycle hands an event slice a sink has copied out back to the source
// that filled it (all events of one slice come from one source). The events
// are cleared first so that the slice keeps no values alive.
func recycle(evs []event) {
	if len(evs) == 0 {
		return
	}
	src := evs[0].src
	clear(evs)
	select {
	case src.free <- evs[:0]:
	default: // enough spare slices already
	}
}
