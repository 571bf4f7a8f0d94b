package main

import "sort"

// partTrack is one partition's records handed to the host and not yet
// covered by a commit, in offset order. Acks come back in any order; the
// commit point only moves over a prefix of acked records, so a commit never
// passes an event that has not been acked (a crash then re-reads it: at
// least once). Offsets need not be contiguous (compaction, transaction
// markers): the commit point is the offset after the last acked record of
// the prefix.
type partTrack struct {
	q      []pending // offset order
	commit int64     // next offset to commit; -1 while nothing is safe
}

type pending struct {
	offset int64
	acked  bool
}

func newPartTrack() *partTrack { return &partTrack{commit: -1} }

// add records a record handed to the host. Offsets arrive in increasing
// order per partition; an offset at or below the last one is ignored (the
// same record fetched again after a seek).
func (p *partTrack) add(offset int64) bool {
	if n := len(p.q); n > 0 && offset <= p.q[n-1].offset {
		return false
	}
	if offset < p.commit {
		return false
	}
	p.q = append(p.q, pending{offset: offset})
	return true
}

// ack marks offset acked and reports whether the commit point moved.
func (p *partTrack) ack(offset int64) bool {
	i := sort.Search(len(p.q), func(i int) bool { return p.q[i].offset >= offset })
	if i == len(p.q) || p.q[i].offset != offset {
		return false // unknown or already committed
	}
	p.q[i].acked = true
	moved := false
	for len(p.q) > 0 && p.q[0].acked {
		p.commit = p.q[0].offset + 1
		p.q = p.q[1:]
		moved = true
	}
	if len(p.q) == 0 {
		p.q = nil // let the backing array go
	}
	return moved
}

// outstanding is the number of records not yet covered by the commit point.
func (p *partTrack) outstanding() int { return len(p.q) }
