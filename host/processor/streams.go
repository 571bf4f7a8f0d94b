package processor

// streamState is what a pre-processor keeps for one stream between calls.
type streamState struct {
	// buf holds the pending partial frame.
	buf []byte
	// spare is a second buffer. When a frame is completed in buf and
	// emitted, buf and spare swap, so the frame (now in spare) stays valid
	// while the rest of the call stores its remainder in the other buffer.
	spare []byte
	// skipping (lines): discarding an over-long line up to the next '\n'.
	skipping bool
	// skip (length-prefixed): bytes of an oversized frame still to discard.
	skip uint64
}

// emitted swaps buffers after a frame held in buf was emitted.
func (s *streamState) emitted() {
	s.buf, s.spare = s.spare[:0], s.buf
}

// keepBufCap is the largest buffer capacity kept for reuse when a stream is
// forgotten; bigger buffers (from a few long frames) go to the GC.
const keepBufCap = 64 << 10

// streams maps stream ids to their state, recycling freed states.
type streams struct {
	m    map[uint64]*streamState
	free []*streamState
}

func (s *streams) get(id uint64) *streamState {
	return s.m[id] // nil map reads are fine
}

func (s *streams) create(id uint64) *streamState {
	if s.m == nil {
		s.m = make(map[uint64]*streamState)
	}
	var st *streamState
	if n := len(s.free); n > 0 {
		st = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		st = &streamState{}
	}
	s.m[id] = st
	return st
}

func (s *streams) drop(id uint64) {
	st, ok := s.m[id]
	if !ok {
		return
	}
	delete(s.m, id)
	if cap(st.buf) > keepBufCap {
		st.buf = nil
	}
	if cap(st.spare) > keepBufCap {
		st.spare = nil
	}
	*st = streamState{buf: st.buf[:0], spare: st.spare[:0]}
	if len(s.free) < 64 {
		s.free = append(s.free, st)
	}
}

// hold says what a stream holds between calls: bytes being discarded (an
// over-long line or an oversized frame), a partial frame, or nothing.
func (s *streams) hold(id uint64) Hold {
	st := s.get(id)
	switch {
	case st == nil:
		return HoldNone
	case st.skipping || st.skip > 0:
		return HoldDiscard
	case len(st.buf) > 0:
		return HoldPartial
	}
	return HoldNone
}

// len is the number of streams with state (for tests).
func (s *streams) len() int { return len(s.m) }
