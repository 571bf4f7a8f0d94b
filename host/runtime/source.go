package runtime

import (
	"errors"
	"sync"
	"time"

	"tremorhost/abi"
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
}

func (s *source) run(r *Runtime, stopPulling, giveUp <-chan struct{}) {
	n := s.node
	s.r = r
	s.inbox.signal = make(chan struct{}, 1)
	s.bufs = make([][]event, len(r.sinks))
	s.streams = map[uint64]struct{}{}
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
		err := s.inst.Pull(s.batch, r.opts.PullWait)
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
				if len(n.pre) > 0 {
					s.streams[ev.Stream] = struct{}{}
				}
				if err := s.feed(0, b.Payload(i)); err != nil {
					s.reject(err, nil)
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
	s.curStream = stream
	for level, pre := range s.node.pre {
		if err := pre.Finish(stream, s.emits[level]); err != nil {
			s.reject(err, nil)
		}
	}
}

// emit routes one decoded value from the current event.
func (s *source) emit(v any) {
	n := s.node
	port := "out"
	if s.curPort == abi.PortErr {
		port = "err"
	}
	pipes := n.outLinks[port]
	if len(pipes) == 0 {
		// Only "err" can be unlinked (New checks "out"): nowhere to go.
		s.fail(errors.New("event on the err port, which is not linked"))
		return
	}
	n.counters.Out.Add(1)
	for _, p := range pipes {
		d := p.p.Route(v)
		if d.Discard {
			n.counters.Discarded.Add(1)
			continue
		}
		for _, k := range p.ports[d.Port] {
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
	if s.curPort != abi.PortErr && len(n.outLinks["err"]) > 0 {
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
	for idx, buf := range s.bufs {
		if len(buf) == 0 {
			continue
		}
		k := s.r.sinks[idx]
		s.bufs[idx] = make([]event, 0, s.r.flow.BatchSize)
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
