package conformance

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"tremorhost/abi"
	"tremorhost/host/internal/cmem"
)

// sendBatch builds a batch of n events the way the host does (bytes
// payloads for bytes connectors, value trees for structured ones, meta on
// every other event), calls on_send and checks that the plugin left the
// batch alone and wrote a valid outcome for every event and nothing past
// them.
func (k *checker) sendBatch(step string, in *instance, n int) (hookResult, []uint8) {
	events, enc, err := k.sendEvents(n)
	if err != nil {
		k.report(SevError, step, RuleCheckInternal, "cannot build the batch: %v", err)
		return hookResult{rc: abi.ResultErrFailed}, nil
	}
	b := newSentBatch(events, enc)
	before := bytes.Clone(b.m.Mem())
	om := mustMap(n + canarySize)
	outcomes := cmem.Slice[uint8](om, 0, n)
	for i := range outcomes {
		outcomes[i] = abi.OutcomeFailed
	}
	setCanary(om, uintptr(n))
	k.readOnly("on_send", b.lend("the sent batch's"))
	res := k.hook(step, "on_send", maxErrorCap, k.opts.hookTimeout(), in, func(e uintptr) abi.Result {
		return call(k.rc.vt.OnSend, in.ptr, b.m.Addr(), om.Addr(), e)
	})
	if !bytes.Equal(before, b.m.Mem()) {
		k.report(SevError, step, RuleSendReadOnly, "on_send modified the batch it was given to read (first change: %s)", b.firstChange(before))
	}
	k.retire("on_send", b.lend("the sent batch's"))
	got := k.sendOutcomes(step, res, om, n)
	k.retire("on_send", (&lend{m: om}).all("the outcomes array"))
	k.info.Sent += n
	return res, got
}

// sendEvents encodes n events for on_send.
func (k *checker) sendEvents(n int) ([]abi.Event, *abi.Encoder, error) {
	enc := &abi.Encoder{SortKeys: true}
	events := make([]abi.Event, n)
	structured := k.c.Payload == abi.PayloadStructured
	for i := range events {
		seq := k.seq
		k.seq++
		e := abi.Event{ID: 1000 + seq, Stream: uint64(i % 3), Port: abi.PortOut}
		var err error
		if structured {
			e.Flags = abi.EventStructured
			e.Payload, err = enc.Encode(map[string]any{
				"seq": seq, "text": "check-plugin ✓ " + strings.Repeat("x", i%17),
				"f": 1.5, "neg": int64(-3), "ok": true, "nothing": nil,
				"list": []any{uint64(1), "two", []any{}, map[string]any{}},
				"raw":  []byte{0, 1, 2, 0xff},
			})
		} else {
			e.Payload, err = enc.AppendBytes([]byte(fmt.Sprintf(`{"seq":%d,"pad":"%s"}`+"\n", seq, strings.Repeat("x", i%17))))
		}
		if err == nil && i%2 == 1 {
			e.Meta, err = enc.Encode(map[string]any{"check": "meta", "i": uint64(i)})
		}
		if err != nil {
			return nil, nil, err
		}
		events[i] = e
	}
	return events, enc, nil
}

// sentBatch is a tremor_batch for on_send with its arenas in one mapping:
// [header][events][value nodes][bytes].
type sentBatch struct {
	m                      *cmem.Arena
	evOff, valOff, byteOff uintptr
}

func newSentBatch(events []abi.Event, enc *abi.Encoder) *sentBatch {
	n := len(events)
	b := &sentBatch{evOff: align64(abi.SizeofBatch)}
	b.valOff = align64(b.evOff + uintptr(n)*abi.SizeofEvent)
	b.byteOff = align64(b.valOff + uintptr(len(enc.Nodes))*abi.SizeofValue)
	b.m = mustMap(int(b.byteOff) + len(enc.Bytes) + 1)
	copy(cmem.Slice[abi.Event](b.m, b.evOff, n), events)
	copy(cmem.Slice[abi.Value](b.m, b.valOff, len(enc.Nodes)), enc.Nodes)
	copy(b.m.Mem()[b.byteOff:], enc.Bytes)
	base := b.m.Addr()
	*cmem.At[abi.Batch](b.m, 0) = abi.Batch{
		StructSize: uint32(abi.SizeofBatch),
		Events:     base + b.evOff, EventsLen: uint64(n), EventsCap: uint64(n),
		Values: base + b.valOff, ValuesLen: uint64(len(enc.Nodes)), ValuesCap: uint64(len(enc.Nodes)),
		Bytes: base + b.byteOff, BytesLen: uint64(len(enc.Bytes)), BytesCap: uint64(len(enc.Bytes)),
	}
	return b
}

// lend names the batch's parts for the guards (guard.go).
func (b *sentBatch) lend(whose string) *lend {
	l := &lend{m: b.m}
	l.part(0, b.evOff, whose+" header (tremor_batch)")
	l.part(b.evOff, b.valOff-b.evOff, whose+" events")
	l.part(b.valOff, b.byteOff-b.valOff, whose+" value nodes")
	l.part(b.byteOff, uintptr(b.m.Size())-b.byteOff, whose+" bytes")
	return l
}

// firstChange names where the batch first differs from before.
func (b *sentBatch) firstChange(before []byte) string {
	for i := range before {
		if before[i] == b.m.Mem()[i] {
			continue
		}
		switch off := uintptr(i); {
		case off < abi.SizeofBatch:
			return "the batch header"
		case off < b.valOff:
			return fmt.Sprintf("event %d", (off-b.evOff)/abi.SizeofEvent)
		case off < b.byteOff:
			return fmt.Sprintf("value node %d", (off-b.valOff)/abi.SizeofValue)
		default:
			return fmt.Sprintf("byte %d of the arena", off-b.byteOff)
		}
	}
	return "an arena"
}

// sendOutcomes checks the outcomes on_send wrote and returns a copy.
func (k *checker) sendOutcomes(step string, res hookResult, om *cmem.Arena, n int) []uint8 {
	if ok, pos := canaryOK(om, uintptr(n)); !ok {
		k.report(SevError, step, RuleSendOutcomes, "on_send wrote past the end of outcomes, which has events_len = %d entries (byte %d after the last one changed)", n, pos)
	}
	got := append([]uint8(nil), cmem.Slice[uint8](om, 0, n)...)
	for i, o := range got {
		if o > abi.OutcomeRetry {
			k.report(SevError, step, RuleSendOutcome, "outcomes[%d] is %d, not a TREMOR_OUTCOME_* value", i, o)
			break
		}
	}
	if res.rc == abi.ResultOK && n > 0 && !slices.ContainsFunc(got, func(o uint8) bool { return o != abi.OutcomeFailed }) {
		k.report(SevWarning, step, RuleSendNoOutcomes, "on_send answered TREMOR_OK but left all %d outcomes as pre-set (TREMOR_OUTCOME_FAILED): every event is failed back to its source; write OK (or RETRY) for the events delivered", n)
	}
	return got
}
