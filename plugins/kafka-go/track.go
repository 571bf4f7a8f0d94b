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
	tp     topicPart
	q      []pending // offset order; q[head:] is outstanding
	head   int
	commit int64 // next offset to commit; -1 while nothing is safe
	dirty  bool  // commit moved since the last commit was taken
	// meta is the shape of its records' meta, without a key and with one
	// (kafka_source's recordMeta).
	meta [2]metaShape
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
	if n := len(p.q); n > p.head && offset <= p.q[n-1].offset {
		return false
	}
	if offset < p.commit {
		return false
	}
	p.q = append(p.q, pending{offset: offset})
	return true
}

// unadd takes back the last add (the host had no room for the record).
func (p *partTrack) unadd() { p.q = p.q[:len(p.q)-1] }

// ack marks offset acked and reports whether the commit point moved.
func (p *partTrack) ack(offset int64) bool {
	live := p.q[p.head:]
	i := 0
	// Acks mostly come in order: the front is the usual answer.
	if len(live) == 0 || live[0].offset != offset {
		i = sort.Search(len(live), func(i int) bool { return live[i].offset >= offset })
		if i == len(live) || live[i].offset != offset {
			return false // unknown or already committed
		}
	}
	live[i].acked = true
	moved := false
	for p.head < len(p.q) && p.q[p.head].acked {
		p.commit = p.q[p.head].offset + 1
		p.head++
		moved = true
	}
	p.compact()
	return moved
}

// compact reuses the array once its front is mostly committed, so that
// add's appends neither reallocate nor grow without bound.
func (p *partTrack) compact() {
	switch {
	case p.head == len(p.q):
		p.q, p.head = p.q[:0], 0
	case p.head >= 1024 && p.head*2 >= len(p.q):
		n := copy(p.q, p.q[p.head:])
		p.q, p.head = p.q[:n], 0
	}
}

// outstanding is the number of records not yet covered by the commit point.
func (p *partTrack) outstanding() int { return len(p.q) - p.head }
