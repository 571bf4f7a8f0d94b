package abi

import (
	"encoding/binary"
	"errors"
	"math"
	"unicode/utf8"
)

// Doc is one structured value kept flat, in the layout of tremor_value: a
// pre-order node array whose root is Nodes[0], and the bytes its strings,
// byte strings and keys point into. Offsets in Nodes are relative to Bytes,
// so a Doc can be copied or moved with two copies.
//
// The host carries decoded events as *Doc from codec to sink (a JSON line
// is decoded straight into nodes, routed on them and encoded from them), so
// that an event costs no Go allocations; Any converts one to the plain Go
// value model where a consumer needs that. A Doc is immutable once built
// and is always well-formed (built by DocArena, or copied from a value that
// passed Check): readers do not check it again.
//
// Duplicate keys in an object may be kept; every reader takes the last one,
// as tremor_value's rules say.
type Doc struct {
	Nodes []Value
	Bytes []byte
}

// Any decodes the document into plain Go values (see the package comment of
// value.go); strings and byte strings are copied.
func (d *Doc) Any() any {
	if len(d.Nodes) == 0 {
		return nil
	}
	v, _ := decodeNode(d.Nodes, d.Bytes, 0)
	return v
}

// Data is the string or byte-string data of node i.
func (d *Doc) Data(i int) []byte {
	n := &d.Nodes[i]
	return d.Bytes[n.As : n.As+n.Len : n.As+n.Len]
}

// Key is the key of node i (a member of an object).
func (d *Doc) Key(i int) []byte {
	n := &d.Nodes[i]
	return d.Bytes[n.KeyOffset : n.KeyOffset+uint64(n.KeyLen)]
}

// Next is the index of the node after node i's subtree.
func (d *Doc) Next(i int) int {
	n := &d.Nodes[i]
	if n.Kind == ValueArray || n.Kind == ValueObject {
		return i + 1 + int(n.As)
	}
	return i + 1
}

// Member is the node of object node i's member key (the last one, when
// the key repeats).
func (d *Doc) Member(i int, key string) (int, bool) {
	n := &d.Nodes[i]
	if n.Kind != ValueObject {
		return 0, false
	}
	found, j := -1, i+1
	for c := uint64(0); c < n.Len; c++ {
		if string(d.Key(j)) == key {
			found = j
		}
		j = d.Next(j)
	}
	return found, found >= 0
}

// Element is the node of array node i's element k.
func (d *Doc) Element(i, k int) (int, bool) {
	n := &d.Nodes[i]
	if n.Kind != ValueArray || k < 0 || uint64(k) >= n.Len {
		return 0, false
	}
	j := i + 1
	for ; k > 0; k-- {
		j = d.Next(j)
	}
	return j, true
}

// Scalar is node i as a plain Go scalar (bool, int64, uint64, float64, nil);
// ok is false for strings, byte strings, arrays and objects. It does not
// allocate when the result does not escape.
func (d *Doc) Scalar(i int) (v any, ok bool) {
	n := &d.Nodes[i]
	switch n.Kind {
	case ValueNull:
		return nil, true
	case ValueBool:
		return n.As == 1, true
	case ValueInt:
		return int64(n.As), true
	case ValueUint:
		return n.As, true
	case ValueFloat:
		return math.Float64frombits(n.As), true
	}
	return nil, false
}

// DocArena builds Docs in shared chunks of memory, one after another, so
// that building one costs no allocation of its own: a chunk is freed by the
// garbage collector once no Doc built in it is referenced. Build a Doc with
// Begin, Push/AppendBytes..., then End (or Abort). Indexes and offsets the
// build methods take and return are relative to the Doc being built.
type DocArena struct {
	nodes  []Value // current chunk; nodes[n0:] is the Doc being built
	bytes  []byte  // current chunk; bytes[b0:] is the Doc being built
	n0, b0 int
	docs   []Doc // headers the returned *Doc point at
	// What the Docs built since the last Reset used in all, so that Reset
	// can make one chunk that holds as much.
	usedNodes, usedBytes, usedDocs int
}

const (
	docChunkNodes = 1024     // nodes per chunk (32 KiB)
	docChunkBytes = 32 << 10 // bytes per chunk
	docChunkDocs  = 256      // Doc headers per chunk
)

// Begin starts a new Doc.
func (a *DocArena) Begin() { a.n0, a.b0 = len(a.nodes), len(a.bytes) }

// Len is the number of nodes of the Doc being built (the index of the next).
func (a *DocArena) Len() int { return len(a.nodes) - a.n0 }

// Node is node i of the Doc being built; valid until the next Push.
func (a *DocArena) Node(i int) *Value { return &a.nodes[a.n0+i] }

// Push appends a node and returns its index.
func (a *DocArena) Push(v Value) int {
	if len(a.nodes) == cap(a.nodes) {
		a.growNodes(1)
	}
	a.nodes = append(a.nodes, v)
	return len(a.nodes) - 1 - a.n0
}

// BytesLen is the number of bytes of the Doc being built (the offset of the
// next).
func (a *DocArena) BytesLen() int { return len(a.bytes) - a.b0 }

// AppendBytes appends p to the Doc's bytes and returns its offset.
func (a *DocArena) AppendBytes(p []byte) uint64 {
	if cap(a.bytes)-len(a.bytes) < len(p) {
		a.growBytes(len(p))
	}
	off := len(a.bytes) - a.b0
	a.bytes = append(a.bytes, p...)
	return uint64(off)
}

// AppendString is AppendBytes for a string.
func (a *DocArena) AppendString(s string) uint64 {
	if cap(a.bytes)-len(a.bytes) < len(s) {
		a.growBytes(len(s))
	}
	off := len(a.bytes) - a.b0
	a.bytes = append(a.bytes, s...)
	return uint64(off)
}

// AppendByte appends one byte to the Doc's bytes.
func (a *DocArena) AppendByte(c byte) {
	if len(a.bytes) == cap(a.bytes) {
		a.growBytes(1)
	}
	a.bytes = append(a.bytes, c)
}

// Abort drops the Doc being built.
func (a *DocArena) Abort() { a.nodes, a.bytes = a.nodes[:a.n0], a.bytes[:a.b0] }

// End finishes the Doc being built and returns it. The Doc's slices are
// capped, so appending to them never touches a neighbour.
func (a *DocArena) End() *Doc {
	if len(a.docs) == cap(a.docs) {
		a.docs = make([]Doc, 0, docChunkDocs)
	}
	n, b := len(a.nodes), len(a.bytes)
	a.docs = append(a.docs, Doc{Nodes: a.nodes[a.n0:n:n], Bytes: a.bytes[a.b0:b:b]})
	a.usedNodes, a.usedBytes, a.usedDocs = a.usedNodes+n-a.n0, a.usedBytes+b-a.b0, a.usedDocs+1
	a.n0, a.b0 = n, b
	return &a.docs[len(a.docs)-1]
}

// Reset makes the arena's memory free for new Docs: every Doc built in it
// before is invalid from then on, so the caller must know that nothing
// reads one any more. The arena keeps (or makes) one chunk of each kind as
// large as all it built since the last Reset, so that a steady load stops
// allocating after a few rounds.
func (a *DocArena) Reset() {
	a.nodes = resetChunk(a.nodes, a.usedNodes, int(SizeofValue))
	a.bytes = resetChunk(a.bytes, a.usedBytes, 1)
	a.docs = resetChunk(a.docs, a.usedDocs, 48) // two slice headers
	a.n0, a.b0 = 0, 0
	a.usedNodes, a.usedBytes, a.usedDocs = 0, 0, 0
}

// docKeepBytes bounds what an arena keeps over a Reset, per kind of chunk:
// a round that used more (large events) leaves its chunks to the garbage
// collector rather than holding on to its peak for good.
const docKeepBytes = 1 << 20

// resetChunk empties chunk for reuse when it holds used elements of
// elemSize bytes (or more), makes one that does, or drops it.
func resetChunk[T any](chunk []T, used, elemSize int) []T {
	switch {
	case used*elemSize > docKeepBytes:
		return nil
	case cap(chunk) < used:
		return make([]T, 0, used+used/4)
	}
	return chunk[:0]
}

// growNodes moves the Doc being built to a new chunk with room for need
// more nodes; earlier Docs keep the old chunk.
func (a *DocArena) growNodes(need int) {
	cur := a.nodes[a.n0:]
	next := make([]Value, len(cur), max(docChunkNodes, 2*(len(cur)+need)))
	copy(next, cur)
	a.nodes, a.n0 = next, 0
}

func (a *DocArena) growBytes(need int) {
	cur := a.bytes[a.b0:]
	next := make([]byte, len(cur), max(docChunkBytes, 2*(len(cur)+need)))
	copy(next, cur)
	a.bytes, a.b0 = next, 0
}

// Copy builds a Doc from the value in span of a node array and its arena
// (a value a plugin wrote), checking it as Check does in the same pass: a
// value Check refuses is refused with Check's error.
func (a *DocArena) Copy(nodes []Value, arena []byte, span Span) (*Doc, error) {
	if span.Len == 0 || span.Offset > uint64(len(nodes)) || span.Len > uint64(len(nodes))-span.Offset {
		return nil, Check(nodes, arena, span)
	}
	a.Begin()
	if !checkValue(nodes[span.Offset:span.Offset+span.Len], arena, a) {
		a.Abort()
		if err := Check(nodes, arena, span); err != nil {
			return nil, err
		}
		return nil, errors.New("value refused by the copy but not by Check (a host bug: report it)")
	}
	return a.End(), nil
}

// CopyChecked builds a Doc from a value that passed Check against these
// very nodes, which nobody can have changed since (the host's own copy of
// them), while the bytes of arena may have been (shared memory): it checks
// nothing again but keeps every span it reads inside arena, so the host
// never reads out of bounds whatever the bytes became. A key span is
// copied wherever it lies in arena (readers only look at object members').
func (a *DocArena) CopyChecked(nodes []Value, arena []byte, span Span) *Doc {
	src := nodes[span.Offset : span.Offset+span.Len]
	// A plugin's value usually has its keys and strings in one run of its
	// arena (a builder writes them together): then one copy of that run
	// serves every node, whose offsets are only moved. Scattered spans are
	// copied one by one, so that the Doc holds no more than twice its bytes.
	lo, hi, sum := uint64(len(arena)), uint64(0), uint64(0)
	for i := range src {
		n := &src[i]
		if n.KeyLen > 0 && inArena(n.KeyOffset, uint64(n.KeyLen), arena) {
			lo, hi, sum = min(lo, n.KeyOffset), max(hi, n.KeyOffset+uint64(n.KeyLen)), sum+uint64(n.KeyLen)
		}
		if (n.Kind == ValueString || n.Kind == ValueBytes) && n.Len > 0 && inArena(n.As, n.Len, arena) {
			lo, hi, sum = min(lo, n.As), max(hi, n.As+n.Len), sum+n.Len
		}
	}
	if hi > lo && hi-lo > 2*sum+64 {
		return a.copyCheckedEach(src, arena)
	}
	a.Begin()
	base := uint64(a.BytesLen())
	if hi > lo {
		base = a.AppendBytes(arena[lo:hi])
	}
	if cap(a.nodes)-len(a.nodes) < len(src) {
		a.growNodes(len(src))
	}
	first := len(a.nodes)
	a.nodes = append(a.nodes, src...)
	for i := first; i < len(a.nodes); i++ {
		n := &a.nodes[i]
		n.Reserved = [3]uint8{}
		if n.KeyLen > 0 && inArena(n.KeyOffset, uint64(n.KeyLen), arena) {
			n.KeyOffset = base + n.KeyOffset - lo
		} else {
			n.KeyOffset, n.KeyLen = 0, 0
		}
		if n.Kind == ValueString || n.Kind == ValueBytes {
			if n.Len > 0 && inArena(n.As, n.Len, arena) {
				n.As = base + n.As - lo
			} else {
				n.As, n.Len = base, 0 // empty; or cannot happen after Check
			}
		}
	}
	d := a.End()
	d.Nodes[0].KeyOffset, d.Nodes[0].KeyLen = 0, 0
	return d
}

// copyCheckedEach is CopyChecked for a value whose spans lie far apart:
// each key and string is copied on its own.
func (a *DocArena) copyCheckedEach(src []Value, arena []byte) *Doc {
	a.Begin()
	for _, n := range src {
		n.Reserved = [3]uint8{}
		if n.KeyLen > 0 && inArena(n.KeyOffset, uint64(n.KeyLen), arena) {
			n.KeyOffset = a.AppendBytes(arena[n.KeyOffset : n.KeyOffset+uint64(n.KeyLen)])
		} else {
			n.KeyOffset, n.KeyLen = 0, 0
		}
		if n.Kind == ValueString || n.Kind == ValueBytes {
			if !inArena(n.As, n.Len, arena) {
				n.As, n.Len = 0, 0 // cannot happen after Check; never read past arena
			}
			n.As = a.AppendBytes(arena[n.As : n.As+n.Len])
		}
		a.Push(n)
	}
	d := a.End()
	d.Nodes[0].KeyOffset, d.Nodes[0].KeyLen = 0, 0
	return d
}

// checkValue reports whether src holds exactly one value, in pre-order,
// that passes every rule of Check, whose key and data spans lie in arena.
// With to set it also appends the value to the Doc being built there, with
// its keys and data copied out of arena, so that a plugin's value is
// checked and copied in one pass. It is Check's fast path: checkNode, the
// slow one, only runs to say what is wrong (the two are fuzzed against each
// other, FuzzCheckDecode).
func checkValue(src []Value, arena []byte, to *DocArena) bool {
	base := 0
	if to != nil {
		if cap(to.nodes)-len(to.nodes) < len(src) {
			to.growNodes(len(src))
		}
		base = len(to.nodes)
		to.nodes = to.nodes[:base+len(src)]
	}
	type open struct {
		stop, left int // where the container's subtree ends; children not yet seen
		object     bool
	}
	var buf [6]open // zeroed on every call: small, deeper values grow it
	stack := buf[:0]
	for i := range src {
		for len(stack) > 0 && stack[len(stack)-1].left == 0 {
			if stack[len(stack)-1].stop != i {
				return false // fewer nodes than the container claims
			}
			stack = stack[:len(stack)-1]
		}
		limit, keyed := len(src), false
		if k := len(stack); k > 0 {
			top := &stack[k-1]
			top.left--
			limit, keyed = top.stop, top.object
		} else if i > 0 {
			return false // a second value after the first
		}
		if len(stack) > MaxDepth {
			return false
		}
		s := &src[i]
		var key, data []byte
		if keyed {
			if !inArena(s.KeyOffset, uint64(s.KeyLen), arena) {
				return false
			}
			if key = arena[s.KeyOffset : s.KeyOffset+uint64(s.KeyLen)]; !validUTF8(key) {
				return false
			}
		}
		switch s.Kind {
		case ValueNull, ValueInt, ValueUint, ValueFloat:
		case ValueBool:
			if s.As > 1 {
				return false
			}
		case ValueString, ValueBytes:
			if !inArena(s.As, s.Len, arena) {
				return false
			}
			if data = arena[s.As : s.As+s.Len]; s.Kind == ValueString && !validUTF8(data) {
				return false
			}
		case ValueArray, ValueObject:
			if s.As >= uint64(limit-i) || s.Len > s.As {
				return false
			}
			stack = append(stack, open{stop: i + 1 + int(s.As), left: int(s.Len), object: s.Kind == ValueObject})
		default:
			return false
		}
		if to != nil {
			d := &to.nodes[base+i]
			*d = *s
			d.Reserved = [3]uint8{}
			d.KeyOffset, d.KeyLen = 0, 0 // a key span off an object member is not the value's
			if keyed {
				d.KeyOffset, d.KeyLen = to.AppendBytes(key), s.KeyLen
			}
			if data != nil {
				d.As = to.AppendBytes(data)
			}
		}
	}
	for k := len(stack) - 1; k >= 0; k-- {
		if stack[k].left != 0 || stack[k].stop != len(src) {
			return false
		}
	}
	return true
}

// validUTF8 is utf8.Valid with a faster path for the short ASCII strings
// keys and most values are: eight bytes at a time, no call.
func validUTF8(b []byte) bool {
	var high uint64
	i := 0
	for ; i+8 <= len(b); i += 8 {
		high |= binary.LittleEndian.Uint64(b[i:])
	}
	for ; i < len(b); i++ {
		high |= uint64(b[i])
	}
	if high&0x8080808080808080 == 0 {
		return true
	}
	return utf8.Valid(b)
}
