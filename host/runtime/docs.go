package runtime

import "tremorhost/abi"

// docArenas gives each batch a source routes an arena for its values (see
// source.flat) and takes the arena back once every event of that batch has
// settled: the window's head has passed the batch's last token, so every
// sink is done with those events (a sink reads an event's value only
// before it reports the delivery's outcome). Reused arenas make a steady
// flow allocate nothing for its values, instead of leaving a few hundred
// bytes per event to the garbage collector.
//
// When the flow gives up on its sinks (window.failAll), the events are
// settled while a sink may still hold them: from then on arenas are left to
// the garbage collector instead.
type docArenas struct {
	cur     *abi.DocArena
	retired []retiredArena // oldest first
	free    []*abi.DocArena
}

type retiredArena struct {
	arena *abi.DocArena
	end   uint64 // the first token after the batch's events
}

// next retires the current arena, whose events are the tokens below tail,
// takes back the arenas whose events have all settled, and returns the
// arena for the next batch.
func (d *docArenas) next(w *window) *abi.DocArena {
	if d.cur != nil {
		d.retired = append(d.retired, retiredArena{arena: d.cur, end: w.tail})
	}
	if w.gaveUp {
		d.retired, d.free = nil, nil
	}
	k := 0
	for ; k < len(d.retired) && d.retired[k].end <= w.head; k++ {
		a := d.retired[k].arena
		a.Reset()
		d.free = append(d.free, a)
	}
	if k > 0 {
		n := copy(d.retired, d.retired[k:])
		clear(d.retired[n:])
		d.retired = d.retired[:n]
	}
	if n := len(d.free); n > 0 {
		d.cur, d.free = d.free[n-1], d.free[:n-1]
	} else {
		d.cur = &abi.DocArena{}
	}
	return d.cur
}
