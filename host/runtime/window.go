package runtime

// window tracks the events a source has produced that are not yet settled
// (acked or failed back). It is the heart of guaranteed delivery: every
// event a source's plugin hands over gets a slot here, each copy sent on to
// a sink (after pre-processing and fan-out over links) counts one pending
// delivery on that slot, and when the last delivery settles the plugin's
// event id is acked, or failed if any copy failed.
//
// Slots live in a ring sized to the maximum number of unsettled events, so
// the window is also the source's back-pressure: when it is full the runtime
// stops pulling instead of buffering without bound. A window is owned by its
// source's goroutine; nothing here is safe for concurrent use.
type window struct {
	slots      []slot
	head, tail uint64 // live tokens are [head, tail); token t uses slots[t%len]
	live       int
}

type slot struct {
	id       uint64 // the event id the plugin gave
	pending  int32  // deliveries not yet settled, plus one while still routing
	failed   bool
	settled  bool
	internal bool // opened by the runtime itself, not for a plugin event
}

func newWindow(size int) *window { return &window{slots: make([]slot, size)} }

// full reports whether no new event can be taken.
func (w *window) full() bool { return w.tail-w.head == uint64(len(w.slots)) }

// free is how many more events fit.
func (w *window) free() int { return len(w.slots) - int(w.tail-w.head) }

// unsettled is the number of events still waiting for their outcome.
func (w *window) unsettled() int { return w.live }

// open takes a slot for the plugin event id and returns its token. The slot
// starts with one pending "routing hold" so that it cannot settle while its
// copies are still being sent; call release when routing is done.
// The caller checks full() first.
func (w *window) open(id uint64) uint64 {
	t := w.tail
	w.slots[t%uint64(len(w.slots))] = slot{id: id, pending: 1}
	w.tail++
	w.live++
	return t
}

// openInternal takes a slot for events the runtime makes itself (frames a
// pre-processor flushes at the end of a stream, whose bytes came with events
// that already settled). It settles like any other but is never reported.
func (w *window) openInternal() uint64 {
	t := w.open(0)
	w.slots[t%uint64(len(w.slots))].internal = true
	return t
}

// add counts n more deliveries on token t.
func (w *window) add(t uint64, n int32) { w.slots[t%uint64(len(w.slots))].pending += n }

// settle records the outcome of one delivery (or of the routing hold, with
// failed=false). When it was the last one, it returns the plugin's event id
// and the event's overall outcome with done=true.
func (w *window) settle(t uint64, failed bool) (id uint64, anyFailed, done bool) {
	s := &w.slots[t%uint64(len(w.slots))]
	if s.settled || t < w.head || t >= w.tail {
		return 0, false, false // stale token: already settled, ignore
	}
	s.failed = s.failed || failed
	s.pending--
	if s.pending > 0 {
		return 0, false, false
	}
	s.settled = true
	w.live--
	for w.head < w.tail && w.slots[w.head%uint64(len(w.slots))].settled {
		w.head++
	}
	if s.internal {
		return 0, false, false
	}
	return s.id, s.failed, true
}

// release drops the routing hold taken by open.
func (w *window) release(t uint64) (id uint64, failed, done bool) { return w.settle(t, false) }

// failAll settles every unsettled event as failed, oldest first, calling
// fn with each plugin event id (used when the flow gives up on its sinks).
// Settlements that arrive for them later are ignored as stale.
func (w *window) failAll(fn func(id uint64)) {
	for t := w.head; t < w.tail; t++ {
		s := &w.slots[t%uint64(len(w.slots))]
		if !s.settled {
			s.settled = true
			if !s.internal {
				fn(s.id)
			}
		}
	}
	w.head, w.live = w.tail, 0
}
