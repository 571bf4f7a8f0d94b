package conformance

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/internal/cmem"
)

type roomCaps struct{ events, values, bytes int }

func (c roomCaps) String() string {
	return fmt.Sprintf("%d events, %d value nodes, %d bytes", c.events, c.values, c.bytes)
}

// room is a tremor_batch with its arenas in one mapping, each arena
// followed by a canary: [header][events][canary][values][canary][bytes][canary].
type room struct {
	m                      *cmem.Arena
	caps                   roomCaps
	evOff, valOff, byteOff uintptr
}

func align64(n uintptr) uintptr { return (n + 63) &^ 63 }

func newRoom(c roomCaps) *room {
	r := &room{caps: c}
	r.evOff = align64(abi.SizeofBatch)
	r.valOff = align64(r.evOff + uintptr(c.events)*abi.SizeofEvent + canarySize)
	r.byteOff = align64(r.valOff + uintptr(c.values)*abi.SizeofValue + canarySize)
	r.m = mustMap(int(r.byteOff) + c.bytes + canarySize)
	return r
}

func (r *room) hdr() *abi.Batch { return cmem.At[abi.Batch](r.m, 0) }

// want is the header the host writes for on_pull.
func (r *room) want() abi.Batch {
	base := r.m.Addr()
	return abi.Batch{
		StructSize: uint32(abi.SizeofBatch),
		Events:     base + r.evOff, EventsCap: uint64(r.caps.events),
		Values: base + r.valOff, ValuesCap: uint64(r.caps.values),
		Bytes: base + r.byteOff, BytesCap: uint64(r.caps.bytes),
	}
}

func (r *room) prepare() {
	clear(r.m.Mem())
	*r.hdr() = r.want()
	setCanary(r.m, r.evOff+uintptr(r.caps.events)*abi.SizeofEvent)
	setCanary(r.m, r.valOff+uintptr(r.caps.values)*abi.SizeofValue)
	setCanary(r.m, r.byteOff+uintptr(r.caps.bytes))
}

// pullOutcome is one on_pull call.
type pullOutcome struct {
	res          hookResult
	events       int
	bytesNeeded  uint64
	valuesNeeded uint64
	broken       bool // the header or the lengths are unusable
}

// pull calls on_pull into r (prepared afresh) and checks what the plugin
// wrote against every rule of tremor_batch, tremor_event and tremor_value.
// Event ids are added to k.unacked.
func (k *checker) pull(step string, in *instance, r *room, wait time.Duration) pullOutcome {
	r.prepare()
	ms := wait.Milliseconds()
	res := k.hook(step, "on_pull", maxErrorCap, wait+k.opts.hookTimeout(), in, func(e uintptr) abi.Result {
		return call(k.rc.vt.OnPull, in.ptr, r.m.Addr(), uintptr(ms), e)
	})
	out := pullOutcome{res: res}
	h := *r.hdr()
	changed := k.pullHeader(step, r, h)
	out.broken = k.pullCanaries(step, r)
	switch {
	case res.rc == abi.ResultErrPanic:
		return out
	case res.rc == abi.ResultErrNoRoom:
		k.pullNoRoom(step, r, h, &out)
		return out
	}
	if k.pullLengths(step, r, h) || out.broken || changed {
		out.broken = true
		return out
	}
	out.events = k.pullEvents(step, r, h)
	k.info.Pulled += out.events
	return out
}

// pullHeader reports the host's fields of the header that on_pull changed.
func (k *checker) pullHeader(step string, r *room, h abi.Batch) bool {
	want := r.want()
	var changed []string
	if h.StructSize != want.StructSize {
		changed = append(changed, fmt.Sprintf("struct_size %d -> %d", want.StructSize, h.StructSize))
	}
	if h.Reserved0 != 0 {
		changed = append(changed, fmt.Sprintf("reserved0 0 -> %d", h.Reserved0))
	}
	if h.Events != want.Events || h.Values != want.Values || h.Bytes != want.Bytes {
		changed = append(changed, "an arena pointer (events, values or bytes)")
	}
	if h.EventsCap != want.EventsCap || h.ValuesCap != want.ValuesCap || h.BytesCap != want.BytesCap {
		changed = append(changed, fmt.Sprintf("the caps (events %d -> %d, values %d -> %d, bytes %d -> %d)",
			want.EventsCap, h.EventsCap, want.ValuesCap, h.ValuesCap, want.BytesCap, h.BytesCap))
	}
	if len(changed) > 0 {
		k.report(SevError, step, RuleBatchHeader, "on_pull changed %s", strings.Join(changed, ", "))
	}
	return len(changed) > 0
}

// pullCanaries reports writes past an arena's cap.
func (k *checker) pullCanaries(step string, r *room) (broken bool) {
	for _, a := range []struct {
		name string
		off  uintptr
	}{
		{"events", r.evOff + uintptr(r.caps.events)*abi.SizeofEvent},
		{"value nodes", r.valOff + uintptr(r.caps.values)*abi.SizeofValue},
		{"bytes", r.byteOff + uintptr(r.caps.bytes)},
	} {
		if ok, pos := canaryOK(r.m, a.off); !ok {
			k.report(SevError, step, RuleBeyondCap, "on_pull wrote past the end of the %s arena (byte %d after its cap changed; room: %s)", a.name, pos, r.caps)
			broken = true
		}
	}
	return broken
}

// pullNoRoom checks a TREMOR_ERR_NO_ROOM answer (whether the room already
// has what it asks for: pullPhase).
func (k *checker) pullNoRoom(step string, r *room, h abi.Batch, out *pullOutcome) {
	out.bytesNeeded, out.valuesNeeded = h.BytesNeeded, h.ValuesNeeded
	if h.EventsLen != 0 {
		k.report(SevError, step, RuleNoRoomEvents, "on_pull answered TREMOR_ERR_NO_ROOM with events_len %d (room: %s); those events would be lost", h.EventsLen, r.caps)
	}
	if h.BytesNeeded > edge.MaxBatchBytes || h.ValuesNeeded > edge.MaxBatchValues {
		k.report(SevError, step, RuleNoRoomNeeded, "on_pull asks for %d bytes and %d value nodes for one event, more than the host allows (%d bytes, %d nodes)", h.BytesNeeded, h.ValuesNeeded, edge.MaxBatchBytes, edge.MaxBatchValues)
		out.broken = true
	}
}

// pullLengths reports lengths past their caps.
func (k *checker) pullLengths(step string, r *room, h abi.Batch) (broken bool) {
	if h.EventsLen > h.EventsCap || h.EventsLen > uint64(r.caps.events) {
		k.report(SevError, step, RuleEventsLen, "events_len %d is larger than events_cap %d", h.EventsLen, r.caps.events)
		broken = true
	}
	if h.ValuesLen > uint64(r.caps.values) {
		k.report(SevError, step, RuleValuesLen, "values_len %d is larger than values_cap %d", h.ValuesLen, r.caps.values)
		broken = true
	}
	if h.BytesLen > uint64(r.caps.bytes) {
		k.report(SevError, step, RuleBytesLen, "bytes_len %d is larger than bytes_cap %d", h.BytesLen, r.caps.bytes)
		broken = true
	}
	return broken
}

// pullEvents checks each event written and records its id; it returns the
// number of events.
func (k *checker) pullEvents(step string, r *room, h abi.Batch) int {
	events := cmem.Slice[abi.Event](r.m, r.evOff, int(h.EventsLen))
	values := cmem.Slice[abi.Value](r.m, r.valOff, int(h.ValuesLen))
	arena := cmem.Slice[byte](r.m, r.byteOff, int(h.BytesLen))
	for i := range events {
		e := &events[i]
		label := fmt.Sprintf("event %d (id %d)", i, e.ID)
		k.pullEvent(step, label, e, values, arena, h.BytesLen)
		if prev, dup := k.unacked[e.ID]; dup {
			k.report(SevError, step, RuleEventIDs, "%s: id %d is already used by an unacknowledged event (from %s)", label, e.ID, prev)
		} else {
			k.unacked[e.ID] = step
			k.pending = append(k.pending, e.ID)
		}
	}
	return len(events)
}

// pullEvent checks one event's flags, port, payload and meta.
func (k *checker) pullEvent(step, label string, e *abi.Event, values []abi.Value, arena []byte, bytesLen uint64) {
	structured := k.c.Payload == abi.PayloadStructured
	if e.Flags&^uint32(abi.EventKnownFlags) != 0 {
		k.report(SevError, step, RuleEventFlags, "%s: flags 0x%x has bits ABI %s does not define", label, e.Flags, abi.ABIVersionString)
	}
	if e.Port != abi.PortOut && e.Port != abi.PortErr {
		k.report(SevError, step, RuleEventPort, "%s: port %d is neither TREMOR_PORT_OUT (0) nor TREMOR_PORT_ERR (1)", label, e.Port)
	}
	isValue := e.Flags&abi.EventStructured != 0
	switch {
	case isValue && !structured:
		k.report(SevError, step, RuleEventPayloadK, "%s: sets TREMOR_EVENT_STRUCTURED but connector %q declares TREMOR_PAYLOAD_BYTES", label, k.c.Name)
	case !isValue && structured && !(e.Flags&abi.EventEndStream != 0 && e.Payload.Len == 0):
		k.report(SevError, step, RuleEventPayloadK, "%s: lacks TREMOR_EVENT_STRUCTURED but connector %q declares TREMOR_PAYLOAD_STRUCTURED", label, k.c.Name)
	}
	if isValue {
		if err := abi.Check(values, arena, e.Payload); err != nil {
			k.report(SevError, step, RuleEventValue, "%s: structured payload: %v", label, err)
		} else {
			k.valueZero(step, label+" payload", values, arena, e.Payload)
		}
	} else if e.Payload.Offset > bytesLen || e.Payload.Len > bytesLen-e.Payload.Offset {
		k.report(SevError, step, RuleEventPayload, "%s: payload span [%d, +%d) is outside the %d bytes written (bytes_len)", label, e.Payload.Offset, e.Payload.Len, bytesLen)
	}
	if e.Meta.Len != 0 {
		if err := abi.Check(values, arena, e.Meta); err != nil {
			k.report(SevError, step, RuleEventValue, "%s: meta: %v", label, err)
		} else {
			k.valueZero(step, label+" meta", values, arena, e.Meta)
		}
	}
}

// valueZero checks the parts of a well-formed value tree that abi.Check
// ignores: reserved bytes, keys on nodes that are not object members, and
// duplicate keys.
func (k *checker) valueZero(step, label string, nodes []abi.Value, arena []byte, span abi.Span) {
	var walk func(i uint64, keyed bool) uint64
	walk = func(i uint64, keyed bool) uint64 {
		n := &nodes[i]
		if n.Reserved != [3]uint8{} {
			k.report(SevError, step, RuleValueZero, "%s: value node %d: reserved bytes are %v, not zero", label, i, n.Reserved)
		}
		if !keyed && (n.KeyLen != 0 || n.KeyOffset != 0) {
			k.report(SevError, step, RuleValueZero, "%s: value node %d is not an object member but has key_offset %d, key_len %d", label, i, n.KeyOffset, n.KeyLen)
		}
		if n.Kind != abi.ValueArray && n.Kind != abi.ValueObject {
			return i + 1
		}
		j := i + 1
		var seen map[string]bool
		if n.Kind == abi.ValueObject {
			seen = map[string]bool{}
		}
		for c := uint64(0); c < n.Len; c++ {
			if seen != nil {
				key := string(arena[nodes[j].KeyOffset : nodes[j].KeyOffset+uint64(nodes[j].KeyLen)])
				if seen[key] {
					k.report(SevWarning, step, RuleValueKeys, "%s: object at value node %d has key %q twice", label, i, key)
				}
				seen[key] = true
			}
			j = walk(j, n.Kind == abi.ValueObject)
		}
		return i + 1 + n.As
	}
	walk(span.Offset, false)
}

// pullPhase pulls into rooms of caps c until at least one event arrived,
// the source ended or failed, or the phase time is up. On NO_ROOM it grows
// the room as the host does and pulls again. It returns the number of
// events, the last answer, whether NO_ROOM was seen and whether the first
// pull brought events.
type phaseResult struct {
	events     int
	last       pullOutcome
	noRoom     bool
	firstFull  bool // the very first pull brought events
	pulls      int
	stopSource bool // END, an error, a broken batch or a panic: no more pulls
}

func (k *checker) pullPhase(name string, in *instance, c roomCaps, wantEvents int) phaseResult {
	step := "on_pull (" + name + ")"
	var pr phaseResult
	deadline := time.Now().Add(k.opts.phaseTime())
	var r *room
	defer func() { k.retireRoom(r) }()
	grows, disconnects := 0, 0
	for {
		// a fresh room for every pull: the last one is retired, so a
		// pointer the plugin kept into it faults (guard.go)
		k.retireRoom(r)
		r = newRoom(c)
		o := k.pull(step, in, r, k.opts.pullWait())
		pr.pulls++
		pr.last = o
		if pr.pulls == 1 && o.events > 0 {
			pr.firstFull = true
		}
		pr.events += o.events
		if o.res.rc != abi.ResultErrDisconnected {
			disconnects = 0
		}
		switch {
		case o.res.rc == abi.ResultErrNoRoom:
			pr.noRoom = true
			grows++
			var ok bool
			if c, ok = k.grownRoom(step, r.caps, o, grows); !ok {
				pr.stopSource = true
				return pr
			}
			step = "on_pull (" + name + ", grown to " + fmt.Sprintf("%d values, %d bytes", c.values, c.bytes) + ")"
			continue
		case o.res.rc == abi.ResultErrPanic || in.poisoned || o.broken, o.res.rc == abi.ResultEnd, o.res.rc == abi.ResultErrUnsupported:
			pr.stopSource = true
			return pr
		case o.res.rc == abi.ResultErrDisconnected:
			disconnects++
			if !k.pullReconnect(step, in, o, disconnects) {
				pr.stopSource = true
				return pr
			}
		case o.res.rc < 0:
			k.needMessage(step, "on_pull", o.res, SevWarning, RuleErrMessage)
			k.report(SevError, step, RuleLifecycle, "on_pull failed: %s", o.res)
			pr.stopSource = true
			return pr
		}
		if pr.events >= wantEvents || time.Now().After(deadline) {
			return pr
		}
	}
}

// retireRoom ends a room's loan to on_pull (nil: none yet).
func (k *checker) retireRoom(r *room) {
	if r == nil {
		return
	}
	l := &lend{m: r.m}
	l.part(0, abi.SizeofBatch, "the room's tremor_batch header")
	l.part(r.evOff, r.valOff-r.evOff, "the room's events")
	l.part(r.valOff, r.byteOff-r.valOff, "the room's value nodes")
	l.part(r.byteOff, uintptr(r.m.Size())-r.byteOff, "the room's bytes")
	k.retire("on_pull", l)
}

// grownRoom is the room the host would pull into after TREMOR_ERR_NO_ROOM
// (the grows-th in a row), or false when the answer broke a rule.
func (k *checker) grownRoom(step string, have roomCaps, o pullOutcome, grows int) (roomCaps, bool) {
	if o.bytesNeeded <= uint64(have.bytes) && o.valuesNeeded <= uint64(have.values) {
		if grows == 1 {
			k.report(SevError, step, RuleNoRoomNeeded, "on_pull answered TREMOR_ERR_NO_ROOM with bytes_needed %d and values_needed %d, which the room (%s) already has", o.bytesNeeded, o.valuesNeeded, have)
		} else {
			k.report(SevError, step, RuleNoRoomRepeat, "after the room grew to %s as asked, on_pull answered TREMOR_ERR_NO_ROOM again (bytes_needed %d, values_needed %d)", have, o.bytesNeeded, o.valuesNeeded)
		}
		return have, false
	}
	if o.broken {
		return have, false
	}
	if grows > 4 {
		k.report(SevError, step, RuleNoRoomRepeat, "on_pull answered TREMOR_ERR_NO_ROOM %d times in a row while the room grew as asked (now %s)", grows, have)
		return have, false
	}
	return roomCaps{events: have.events, values: max(have.values, int(o.valuesNeeded)), bytes: max(have.bytes, int(o.bytesNeeded))}, true
}

// pullReconnect reconnects after the disconnects-th TREMOR_ERR_DISCONNECTED
// in a row; false when the source is to be given up.
func (k *checker) pullReconnect(step string, in *instance, o pullOutcome, disconnects int) bool {
	k.needMessage(step, "on_pull", o.res, SevWarning, RuleErrMessage)
	if disconnects >= 3 {
		k.report(SevError, step, RuleLifecycle, "on_pull answered TREMOR_ERR_DISCONNECTED %d times in a row, each time right after on_connect succeeded: %s", disconnects, o.res)
		return false
	}
	if res, _ := k.connectLoop("on_connect (after TREMOR_ERR_DISCONNECTED)", in); res.rc != abi.ResultOK {
		k.report(SevError, "on_connect (after TREMOR_ERR_DISCONNECTED)", RuleConnect, "on_pull answered TREMOR_ERR_DISCONNECTED and reconnecting failed: %s", res)
		return false
	}
	return true
}

// ackFail acks the first half of the pending ids and fails the rest (or
// acks all of them with all set).
func (k *checker) ackFail(step string, in *instance, ackAll bool) {
	ids := k.pending
	k.pending = nil
	if len(ids) == 0 {
		return
	}
	for _, id := range ids {
		delete(k.unacked, id)
	}
	nAck := len(ids)
	if !ackAll {
		nAck = (len(ids) + 1) / 2
	}
	if k.rc.vt.OnAck != 0 && nAck > 0 {
		k.idsCall(step, "on_ack", k.rc.vt.OnAck, in, ids[:nAck])
		k.info.Acked += nAck
	}
	if k.rc.vt.OnFail != 0 && nAck < len(ids) && !in.poisoned {
		k.idsCall(step, "on_fail", k.rc.vt.OnFail, in, ids[nAck:])
		k.info.Failed += len(ids) - nAck
	}
}

func (k *checker) idsCall(step, hookName string, fn uintptr, in *instance, ids []uint64) {
	if in.poisoned {
		return
	}
	m := mustMap(len(ids)*8 + canarySize)
	defer k.retire(hookName, (&lend{m: m}).all("the ids array"))
	copy(cmem.Slice[uint64](m, 0, len(ids)), ids)
	before := bytes.Clone(m.Mem())
	step = hookName + " " + step
	res := k.hook(step, hookName, maxErrorCap, k.opts.hookTimeout(), in, func(e uintptr) abi.Result {
		return call(fn, in.ptr, m.Addr(), uintptr(len(ids)), e)
	})
	if !bytes.Equal(before, m.Mem()) {
		k.report(SevError, step, RuleIDsConst, "%s modified the ids array it was given", hookName)
	}
	if res.rc < 0 && res.rc != abi.ResultErrPanic {
		k.needMessage(step, hookName, res, SevWarning, RuleErrMessage)
		k.report(SevError, step, RuleLifecycle, "%s of %d ids failed: %s", hookName, len(ids), res)
	}
}
