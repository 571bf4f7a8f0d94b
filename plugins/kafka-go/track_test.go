package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The commit point never passes an unacked record, whatever order the acks
// come in, and it lands after the last acked record of the acked prefix
// (also across gaps in the offsets).
func TestCommitPointWithOutOfOrderAcks(t *testing.T) {
	cases := []struct {
		name    string
		offsets []int64
		acks    []int64
		commit  []int64 // the commit point after each ack (-1: nothing safe)
		left    int
	}{
		{"in order", []int64{0, 1, 2}, []int64{0, 1, 2}, []int64{1, 2, 3}, 0},
		{"reverse", []int64{0, 1, 2}, []int64{2, 1, 0}, []int64{-1, -1, 3}, 0},
		{"hole stays", []int64{0, 1, 2, 3}, []int64{0, 2, 3}, []int64{1, 1, 1}, 3},
		{"hole filled", []int64{0, 1, 2, 3}, []int64{1, 3, 0, 2}, []int64{-1, -1, 2, 4}, 0},
		{"offset gaps (compaction)", []int64{5, 9, 10, 20}, []int64{9, 5, 20, 10}, []int64{-1, 10, 10, 21}, 0},
		{"unknown and repeated acks change nothing", []int64{3, 4}, []int64{7, 4, 4, 2, 3}, []int64{-1, -1, -1, -1, 5}, 0},
		{"starts mid-log", []int64{1000, 1001}, []int64{1001, 1000}, []int64{-1, 1002}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPartTrack()
			for _, o := range c.offsets {
				assert.True(t, p.add(o))
			}
			var got []int64
			for _, a := range c.acks {
				p.ack(a)
				got = append(got, p.commit)
			}
			assert.Equal(t, c.commit, got)
			assert.Equal(t, c.left, p.outstanding())
		})
	}
}

// A record offered again (redelivered after a fetch from an older offset)
// is not tracked twice, nor is one below the commit point.
func TestAddIgnoresOffsetsAlreadySeen(t *testing.T) {
	p := newPartTrack()
	assert.True(t, p.add(0))
	assert.True(t, p.add(1))
	assert.False(t, p.add(1))
	assert.False(t, p.add(0))
	assert.True(t, p.ack(0))
	assert.True(t, p.ack(1))
	assert.Equal(t, int64(2), p.commit)
	assert.False(t, p.add(1), "below the commit point")
	assert.True(t, p.add(2))
}

// Long runs: the commit point is right across the array's reuse, and acks
// in order do not grow it.
func TestCommitPointLongRun(t *testing.T) {
	p := newPartTrack()
	for o := range int64(3000) {
		assert.True(t, p.add(o))
	}
	for o := range int64(1500) {
		assert.True(t, p.ack(o))
	}
	assert.Equal(t, int64(1500), p.commit)
	assert.Equal(t, 1500, p.outstanding())
	assert.False(t, p.ack(2999), "1500 still unacked")
	assert.False(t, p.ack(100), "already committed")
	for o := int64(1500); o < 2999; o++ {
		p.ack(o)
	}
	assert.Equal(t, int64(3000), p.commit)
	assert.Equal(t, 0, p.outstanding())

	c := cap(p.q)
	for o := int64(3000); o < 6000; o++ {
		assert.True(t, p.add(o))
		assert.True(t, p.ack(o))
	}
	assert.Equal(t, int64(6000), p.commit)
	assert.Equal(t, c, cap(p.q))
	assert.False(t, p.add(5999), "below the commit point")
}
