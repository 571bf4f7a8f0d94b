package runtime

import (
	"errors"
	"sync"
	"time"
	"unsafe"

	"tremorhost/abi"
	"tremorhost/host/pipeline"
	"tremorhost/host/plugin"
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
	r      *Runtime
	inst   Instance
	window *window
	batch  *plugin.Batch
	inbox  inbox
	err    error // why it stopped early, if it did

	bufs      [][]event // per sink (by sink.idx), filled while routing one batch
	emits     []processor.Emit
	streams   map[uint64]struct{} // streams with pre-processor state
	scratch   []settlement
	acks      []uint64
	fails     []uint64
	paused    bool
	cur       event // the event being routed: its token, meta and timestamp
	curPort   uint32
	curStream uint64

	// Hot-path state (performance only; behaviour as without it):
	//   - routes resolves n.outLinks["out"/"err"] and each pipeline's "out"
	//     port once, instead of two string-keyed map lookups per event;
	//   - out and discarded count events locally and are published to the
	//     shared atomic counters once per batch (in flush): an atomic add
	//     per event was 7% of a raw flow's CPU, mostly cache-line traffic
	//     with the sink goroutine;
	//   - lastStream skips the per-event map write into streams while
	//     events keep coming on the same stream;
	//   - free takes back the event slices sinks are done with, so flush
	//     does not allocate a new one per batch and sink;
	//   - raw copies frames for the binary codec into shared chunks.
	routes         [2][]route // by port: 0 out, 1 err
	out, discarded uint64
	lastStream     uint64
	lastStreamOK   bool
	free           chan []event
	raw            *byteArena // nil unless the codec is "binary"
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
	s.streams = map[uint64]struct{}{}
	s.free = make(chan []event, len(r.sinks)*(sinkQueue+2))
	for i, port := range []string{"out", "err"} {
		for _, p := range n.outLinks[port] {
			s.routes[i] = append(s.routes[i], route{p: p, out: p.ports[pipeline.PortOut]})
		}
	}
	if n.codec != nil && n.codec.Name() == "binary" {
		s.raw = &byteArena{}
	}
	for level := range n.pre {
		s.emits = append(s.emits, func(frame []byte) error { return s.feed(level+1, frame) })
	}
	inst, err := n.instance()
	if err != nil {
		s.err = err
		n.log.Error().Err(err).Msg("could not create the connector; its source does not run")
		return
	}
	s.inst = inst
	s.window = newWindow(r.opts.Window)
	if s.batch, err = plugin.NewBatch(roomFor(r.flow.BatchSize)); err != nil {
		s.err = err
		return
	}
	defer s.batch.Free()

	s.pullLoop(stopPulling, giveUp)
	s.finishStreams(giveUp)
	s.flush(giveUp)
	if err := inst.Drain(); err != nil {
		n.log.Warn().Err(err).Msg("drain failed")
	}
	s.waitSettled(giveUp)
}

func (s *source) pullLoop(stopPulling, giveUp <-chan struct{}) {
	n, r := s.node, s.r
	for {
		s.settle()
		select {
		case <-stopPulling:
			return
		default:
		}
		if err := n.ensureConnected(s.inst, stopPulling); err != nil {
			if !errors.Is(err, errStopped) {
				s.err = err
				n.log.Error().Err(err).Msg("source gave up")
			}
			return
		}
		if s.window.free() < r.flow.BatchSize {
			s.setPaused(true) // downstream is behind: wait for settlements
			select {
			case <-s.inbox.signal:
			case <-stopPulling:
			}
			continue
		}
		s.setPaused(false)
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
		case errors.Is(err, plugin.ErrEnd):
			n.log.Info().Msg("source finished")
			return
		case disconnected(err):
			n.lost(err)
		case fatal(err):
			s.err = err
			n.counters.Errors.Add(1)
			n.log.Error().Err(err).Msg("source stopped")
			return
		default:
			n.counters.Errors.Add(1)
			n.log.Warn().Err(err).Msg("pull failed")
			if !backoff(n.conn.Reconnect, 2, stopPulling) {
				return
			}
		}
	}
}

// settleWait bounds a pull's wait while events are unsettled.
const settleWait = 2 * time.Millisecond

func (s *source) setPaused(p bool) {
	if s.paused == p {
		return
	}
	s.paused = p
	var err error
	if p {
		err = s.inst.Pause()
	} else {
		err = s.inst.Resume()
	}
	if err != nil {
		s.node.log.Warn().Err(err).Bool("pause", p).Msg("pause/resume failed")
	}
}

// route decodes and routes every event of a pulled batch, then hands each
// sink its share.
func (s *source) route(b *plugin.Batch, giveUp <-chan struct{}) {
	n := s.node
	if b.Len() == 0 {
		return
	}
	n.counters.In.Add(uint64(b.Len()))
	now := uint64(time.Now().UnixNano())
	for i := 0; i < b.Len(); i++ {
		ev := b.Event(i)
		tok := s.window.open(ev.ID)
		s.cur = event{src: s, token: tok, ingestNs: ev.IngestNs}
		if s.cur.ingestNs == 0 {
			s.cur.ingestNs = now
		}
		s.curPort, s.curStream = ev.Port, ev.Stream
		if meta, err := b.Meta(i); err != nil {
			s.reject(err, nil)
		} else {
			s.cur.meta = meta
			if ev.Flags&abi.EventStructured != 0 {
				if v, err := b.Value(i); err != nil {
					s.reject(err, nil)
				} else {
					s.emit(v)
				}
			} else {
				if len(n.pre) > 0 && (!s.lastStreamOK || ev.Stream != s.lastStream) {
					s.streams[ev.Stream] = struct{}{}
					s.lastStream, s.lastStreamOK = ev.Stream, true
				}
				// An empty end-of-stream marker has nothing to frame or decode.
				if p := b.Payload(i); len(p) > 0 || ev.Flags&abi.EventEndStream == 0 {
					if err := s.feed(0, p); err != nil {
						s.reject(err, nil)
					}
				}
				if ev.Flags&abi.EventEndStream != 0 {
					s.finishStream(ev.Stream)
				}
			}
		}
		s.release(tok)
	}
	s.flush(giveUp)
}

// feed runs data through pre-processor level and on; past the last one it
// decodes a frame. Only pre-processor errors (dropped frames) come back.
func (s *source) feed(level int, data []byte) error {
	n := s.node
	if level == len(n.pre) {
		if s.raw != nil {
			// The binary codec's Decode is a fresh copy of the frame: one
			// allocation for the bytes and one to box the slice, per
			// event. This is the same value (a []byte that does not alias
			// data, len == cap) carved from shared chunks.
			s.emit(s.raw.copy(data))
			return nil
		}
		v, err := n.codec.Decode(data)
		if err != nil {
			s.reject(err, data)
			return nil
		}
		s.emit(v)
		return nil
	}
	return n.pre[level].Process(s.curStream, data, s.emits[level])
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
	tok := s.window.openInternal() // the flushed bytes came with events that already settled
	s.cur = event{src: s, token: tok, ingestNs: uint64(time.Now().UnixNano())}
	for stream := range s.streams {
		s.finishStream(stream)
	}
	s.window.release(tok)
}

// finishStream flushes and forgets the pre-processor state of one stream;
// what it emits belongs to the current event.
func (s *source) finishStream(stream uint64) {
	if _, ok := s.streams[stream]; !ok {
		return
	}
	delete(s.streams, stream)
	s.lastStreamOK = false
	s.curStream = stream
	for level, pre := range s.node.pre {
		if err := pre.Finish(stream, s.emits[level]); err != nil {
			s.reject(err, nil)
		}
	}
}

// emit routes one decoded value from the current event.
func (s *source) emit(v any) {
	routes := s.routes[0]
	if s.curPort == abi.PortErr {
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
			e := s.cur
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
	if s.curPort != abi.PortErr && len(s.routes[1]) > 0 {
		e := map[string]any{"error": err.Error(), "connector": n.conn.ID}
		if data != nil {
			e["data"] = string(data)
		}
		saved := s.curPort
		s.curPort = abi.PortErr
		s.emit(e)
		s.curPort = saved
		return
	}
	s.fail(err)
}

// fail marks the current event as failed.
func (s *source) fail(err error) {
	s.node.log.Warn().Err(err).Msg("event failed back to its source")
	s.window.add(s.cur.token, 1)
	s.window.settle(s.cur.token, true)
}

// release drops the routing hold of token and settles it if nothing is
// pending.
func (s *source) release(tok uint64) {
	if id, failed, done := s.window.release(tok); done {
		s.record(id, failed)
	}
}

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
	send:
		for {
			select {
			case k.in <- buf:
				break send
			case <-s.inbox.signal:
				s.settle()
			case <-giveUp:
				for _, e := range buf {
					if id, failed, done := s.window.settle(e.token, true); done {
						s.record(id, failed)
					}
				}
				break send
			}
		}
	}
	s.settle()
}

// settle applies the sinks' settlements and tells the plugin which events
// were delivered or failed.
func (s *source) settle() {
	s.scratch = s.inbox.take(s.scratch)
	for _, st := range s.scratch {
		if id, failed, done := s.window.settle(st.token, st.failed); done {
			s.record(id, failed)
		}
	}
	n := s.node
	if len(s.acks) > 0 {
		if err := s.inst.Ack(s.acks); err != nil {
			n.log.Warn().Err(err).Msg("ack failed")
		}
		n.counters.Acks.Add(uint64(len(s.acks)))
		s.acks = s.acks[:0]
	}
	if len(s.fails) > 0 {
		if err := s.inst.Fail(s.fails); err != nil {
			n.log.Warn().Err(err).Msg("fail failed")
		}
		n.counters.Fails.Add(uint64(len(s.fails)))
		s.fails = s.fails[:0]
	}
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
			s.window.failAll(func(id uint64) { s.record(id, true) })
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

// byteArena hands out copies of frames as []byte values, carved from
// shared chunks instead of one allocation per frame plus one to box the
// slice header into an interface. A chunk lives as long as any value cut
// from it; values are never written after they are handed out.
type byteArena struct {
	buf  []byte   // current chunk; len is what is used
	hdrs [][]byte // slice headers the boxed values point to
}

const (
	arenaChunk   = 32 << 10 // bytes per chunk: the largest small-object size class (faster to allocate than a large object)
	arenaHeaders = 256      // slice headers per chunk
)

// copy returns a copy of data as an any holding a []byte whose len equals
// its cap (an append to it reallocates, never touching its neighbours),
// like codec.Binary's Decode.
func (a *byteArena) copy(data []byte) any {
	var b []byte
	if len(data) >= arenaChunk/4 {
		b = make([]byte, len(data)) // large frame: a chunk of its own
		copy(b, data)
	} else {
		if a.buf == nil || cap(a.buf)-len(a.buf) < len(data) { // never nil: an empty frame is an empty, non-nil []byte
			a.buf = make([]byte, 0, arenaChunk)
		}
		off := len(a.buf)
		a.buf = append(a.buf, data...)
		b = a.buf[off:len(a.buf):len(a.buf)]
	}
	if len(a.hdrs) == cap(a.hdrs) {
		a.hdrs = make([][]byte, 0, arenaHeaders)
	}
	a.hdrs = append(a.hdrs, b)
	return boxBytes(&a.hdrs[len(a.hdrs)-1])
}

// eface is the layout of an interface value without methods.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// bytesType is the type word of an any holding a []byte.
var bytesType = func() unsafe.Pointer {
	var v any = []byte(nil)
	return (*eface)(unsafe.Pointer(&v)).typ
}()

// boxBytes returns an any holding *h, pointing at h instead of a fresh
// copy of the header (what the compiler's boxing allocates). *h must never
// change afterwards: interface values are immutable.
func boxBytes(h *[]byte) (v any) {
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = bytesType, unsafe.Pointer(h)
	return v
}
