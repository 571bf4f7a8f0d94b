package runtime

// window tracks the events a source has produced that are not yet settled
// (acked or failed back). It is the heart of guaranteed delivery: every
// event a source's plugin hands over gets a slot here, each copy sent on to
// a sink (after pre-processing and fan-out over links) counts one pending
// delivery on that slot, and when the last delivery settles the plugin's
// event id is acked, or failed if any copy failed.
//
// An event whose bytes a pre-processor holds in a partial frame is "held"
// (see chain): it settles only once the event whose processing completed
// that frame has settled its own deliveries, with their outcome too. A held
// slot blocks the ring's head, so the source bounds how long a frame may be
// held (source.dropStale).
//
// Slots live in a ring sized to the maximum number of unsettled events, so
// the window is also the source's back-pressure: when it is full the runtime
// stops pulling instead of buffering without bound. A window is owned by its
// source's goroutine; nothing here is safe for concurrent use.
type window struct {
	slots      []slot // a power of two long, so that a token's slot is a mask away
	size       int    // the most unsettled events (len(slots) may be more)
	head, tail uint64 // live tokens are [head, tail); token t uses slots[t&(len-1)]
	live       int
	// gaveUp: failAll settled events that sinks may still hold.
	gaveUp bool
	// done is told the plugin event id and overall outcome of every event
	// that settles (never of internal slots).
	done func(id uint64, failed bool)
}

type slot struct {
	id       uint64 // the event id the plugin gave
	pending  int32  // deliveries not yet settled, plus one while still routing
	failed   bool
	settled  bool
	internal bool // opened by the runtime itself, not for a plugin event
	// held: some of the event's bytes wait in a partial frame; the event
	// settles once the event that completes that frame has (see chain).
	held bool
	// dep lists the held events waiting for this one's deliveries, linked
	// through sib; both are token+1, so that 0 is none.
	dep, sib uint64
}

func newWindow(size int, done func(id uint64, failed bool)) *window {
	n := 1
	for n < size {
		n *= 2
	}
	return &window{slots: make([]slot, n), size: size, done: done}
}

// slot is token t's slot.
func (w *window) slot(t uint64) *slot { return &w.slots[t&uint64(len(w.slots)-1)] }

// full reports whether no new event can be taken.
func (w *window) full() bool { return w.tail-w.head == uint64(w.size) }

// free is how many more events fit.
func (w *window) free() int { return w.size - int(w.tail-w.head) }

// unsettled is the number of events still waiting for their outcome.
func (w *window) unsettled() int { return w.live }

// open takes a slot for the plugin event id and returns its token. The slot
// starts with one pending "routing hold" so that it cannot settle while its
// copies are still being sent; call release when routing is done.
// The caller checks full() first.
func (w *window) open(id uint64) uint64 {
	t := w.tail
	*w.slot(t) = slot{id: id, pending: 1}
	w.tail++
	w.live++
	return t
}

// openInternal takes a slot for events the runtime makes itself (frames a
// pre-processor flushes at the end of a stream). It settles like any other
// but is never reported.
func (w *window) openInternal() uint64 {
	t := w.open(0)
	w.slot(t).internal = true
	return t
}

// add counts n more deliveries (or holds) on token t.
func (w *window) add(t uint64, n int32) { w.slot(t).pending += n }

// isLive reports whether t is a token that has not settled yet.
func (w *window) isLive(t uint64) bool {
	return t >= w.head && t < w.tail && !w.slot(t).settled
}

// chain is a list of held events (linked through their slots) whose bytes
// wait in one partial frame.
type chain struct {
	first, last uint64 // token+1; 0 when empty
	n           int
}

// hold adds event t, whose bytes are now (also) in c's partial frame, to
// c: t will not settle before c is resolved.
func (w *window) hold(c *chain, t uint64) {
	s := w.slot(t)
	s.held, s.sib = true, 0
	if c.last == 0 {
		c.first = t + 1
	} else {
		w.slot(c.last - 1).sib = t + 1
	}
	c.last = t + 1
	c.n++
}

// resolve empties c: its events settle with the outcome of on's
// deliveries, on being the event whose processing completed (or dropped)
// the frame their bytes are in. on must still be routing. Events of one
// frame may also carry other frames: each one settles when both are done.
func (w *window) resolve(c *chain, on uint64) {
	if c.n == 0 {
		return
	}
	o := w.slot(on)
	if !w.isLive(on) || o.pending == 0 {
		w.drop(c) // not expected (on is routing); its outcome is unknown
		return
	}
	w.slot(c.last - 1).sib = o.dep
	o.dep = c.first
	*c = chain{}
}

// drop empties c, settling its events as failed: their frame was dropped.
func (w *window) drop(c *chain) {
	for d := c.first; d != 0; {
		next := w.slot(d - 1).sib
		w.unhold(d-1, true)
		d = next
	}
	*c = chain{}
}

// age is how many events were opened since c's first one (0 when empty).
func (w *window) age(c *chain) uint64 {
	if c.n == 0 {
		return 0
	}
	return w.tail - (c.first - 1)
}

// settle records the outcome of one delivery (or of the routing hold, with
// failed=false) of t. After the last one, the events waiting for t's
// deliveries (dep) settle their hold with t's outcome so far, and t
// settles unless it is held itself; done is told the plugin event id and
// the overall outcome (failed if anything failed). Stale tokens are
// ignored.
func (w *window) settle(t uint64, failed bool) {
	s := w.slot(t)
	if !w.isLive(t) || s.pending <= 0 {
		return // stale token: already settled, ignore
	}
	s.failed = s.failed || failed
	s.pending--
	if s.pending > 0 {
		return
	}
	for d := s.dep; d != 0; {
		next := w.slot(d - 1).sib
		w.unhold(d-1, s.failed)
		d = next
	}
	s.dep = 0
	if !s.held {
		w.finish(t)
	}
}

// unhold settles the hold of a held event with the outcome of the frame
// its bytes went into.
func (w *window) unhold(t uint64, failed bool) {
	s := w.slot(t)
	if !w.isLive(t) || !s.held {
		return
	}
	s.held, s.sib = false, 0
	s.failed = s.failed || failed
	if s.pending == 0 {
		w.finish(t)
	}
}

// finish settles t for good and reports it.
func (w *window) finish(t uint64) {
	s := w.slot(t)
	s.settled = true
	w.live--
	for w.head < w.tail && w.slot(w.head).settled {
		w.head++
	}
	if !s.internal {
		w.done(s.id, s.failed)
	}
}

// release drops the routing hold taken by open.
func (w *window) release(t uint64) { w.settle(t, false) }

// failAll settles every unsettled event as failed, oldest first (used when
// the flow gives up on its sinks). Settlements that arrive for them later
// are ignored as stale.
func (w *window) failAll() {
	w.gaveUp = true
	for t := w.head; t < w.tail; t++ {
		s := w.slot(t)
		if !s.settled {
			s.settled = true
			if !s.internal {
				w.done(s.id, true)
			}
		}
	}
	w.head, w.live = w.tail, 0
}
