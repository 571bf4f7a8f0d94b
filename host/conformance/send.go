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
	enc := abi.Encoder{SortKeys: true}
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
			k.report(SevError, step, RuleCheckInternal, "cannot build the batch: %v", err)
			return hookResult{rc: abi.ResultErrFailed}, nil
		}
		events[i] = e
	}
	evOff := align64(batchSize)
	valOff := align64(evOff + uintptr(n)*eventSize)
	byteOff := align64(valOff + uintptr(len(enc.Nodes))*valueSize)
	m := mustMap(int(byteOff) + len(enc.Bytes) + 1)
	defer m.Free()
	copy(cmem.Slice[abi.Event](m, evOff, n), events)
	copy(cmem.Slice[abi.Value](m, valOff, len(enc.Nodes)), enc.Nodes)
	copy(m.Mem()[byteOff:], enc.Bytes)
	base := m.Addr()
	*cmem.At[abi.Batch](m, 0) = abi.Batch{
		StructSize: uint32(batchSize),
		Events:     base + evOff, EventsLen: uint64(n), EventsCap: uint64(n),
		Values: base + valOff, ValuesLen: uint64(len(enc.Nodes)), ValuesCap: uint64(len(enc.Nodes)),
		Bytes: base + byteOff, BytesLen: uint64(len(enc.Bytes)), BytesCap: uint64(len(enc.Bytes)),
	}
	before := bytes.Clone(m.Mem())
	om := mustMap(n + canarySize)
	defer om.Free()
	outcomes := cmem.Slice[uint8](om, 0, n)
	for i := range outcomes {
		outcomes[i] = abi.OutcomeFailed
	}
	setCanary(om, uintptr(n))
	res := k.hook(step, "on_send", maxErrorCap, k.opts.hookTimeout(), in, func(e uintptr) abi.Result {
		return call(k.rc.vt.OnSend, in.ptr, m.Addr(), om.Addr(), e)
	})
	if !bytes.Equal(before, m.Mem()) {
		where := "an arena"
		for i := range before {
			if before[i] != m.Mem()[i] {
				switch off := uintptr(i); {
				case off < batchSize:
					where = "the batch header"
				case off < valOff:
					where = fmt.Sprintf("event %d", (off-evOff)/eventSize)
				case off < byteOff:
					where = fmt.Sprintf("value node %d", (off-valOff)/valueSize)
				default:
					where = fmt.Sprintf("byte %d of the arena", off-byteOff)
				}
				break
			}
		}
		k.report(SevError, step, RuleSendReadOnly, "on_send modified the batch it was given to read (first change: %s)", where)
	}
	if ok, pos := canaryOK(om, uintptr(n)); !ok {
		k.report(SevError, step, RuleSendOutcomes, "on_send wrote past the end of outcomes, which has events_len = %d entries (byte %d after the last one changed)", n, pos)
	}
	got := append([]uint8(nil), outcomes...)
	for i, o := range got {
		if o > abi.OutcomeRetry {
			k.report(SevError, step, RuleSendOutcome, "outcomes[%d] is %d, not a TREMOR_OUTCOME_* value", i, o)
			break
		}
	}
	if res.rc == abi.ResultOK && n > 0 && !slices.ContainsFunc(got, func(o uint8) bool { return o != abi.OutcomeFailed }) {
		k.report(SevWarning, step, RuleSendNoOutcomes, "on_send answered TREMOR_OK but left all %d outcomes as pre-set (TREMOR_OUTCOME_FAILED): every event is failed back to its source; write OK (or RETRY) for the events delivered", n)
	}
	k.info.Sent += n
	return res, got
}
