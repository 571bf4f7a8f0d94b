package runtime

import (
	"errors"

	"tremorhost/abi"
	"tremorhost/host/plugin"
)

// roomFor sizes a batch for n events of about 1 KiB with small metadata;
// a source that needs more for one event gets it (TREMOR_ERR_NO_ROOM).
func roomFor(n int) plugin.Caps {
	return plugin.Caps{Events: n, Values: 16 * n, Bytes: max(n*1024, 64<<10)}
}

// sink is the sink role of a node: it encodes, sends, and reports each
// event's outcome to its source.
type sink struct {
	node *node
	idx  int          // position in Runtime.sinks
	in   chan []event // bounded: a full queue is back-pressure
	err  error        // why it gave up, if it did

	r        *Runtime
	inst     Instance
	batch    *plugin.Batch
	pending  []event // received, not yet settled (includes RETRYs)
	sent     []int   // batch position -> index in pending
	outcomes []uint8
	enc, tmp []byte
	verdicts map[*source][]settlement
	dead     bool
}

// sinkQueue is how many routed batches may wait for a sink.
const sinkQueue = 4

func newSink(n *node) *sink {
	return &sink{node: n, in: make(chan []event, sinkQueue), verdicts: map[*source][]settlement{}}
}

func (k *sink) run(r *Runtime, giveUp <-chan struct{}) {
	n := k.node
	k.r = r
	inst, err := n.instance()
	if err != nil {
		k.err = err
		k.dead = true
		n.log.Error().Err(err).Msg("could not create the connector; events for it are failed back")
	} else {
		k.inst = inst
		if k.batch, err = plugin.NewBatch(roomFor(r.flow.BatchSize)); err != nil {
			k.err, k.dead = err, true
		} else {
			defer func() { k.batch.Free() }()
		}
	}
	k.outcomes = make([]uint8, r.flow.BatchSize)

	for open := true; open || len(k.pending) > 0; {
		if len(k.pending) == 0 {
			evs, ok := <-k.in
			if !ok {
				break
			}
			k.pending = append(k.pending, evs...)
		}
		// Top up from the queue without waiting, to send full batches.
		for open && len(k.pending) < r.flow.BatchSize {
			select {
			case evs, ok := <-k.in:
				if !ok {
					open = false
				} else {
					k.pending = append(k.pending, evs...)
				}
				continue
			default:
			}
			break
		}
		if k.dead || closed(giveUp) {
			k.failPending()
			continue
		}
		if err := n.ensureConnected(k.inst, giveUp); err != nil {
			if !errors.Is(err, errStopped) {
				k.giveUp(err)
			}
			continue
		}
		k.sendBatch(giveUp)
	}
	if k.inst != nil && !k.dead {
		if err := k.inst.Drain(); err != nil {
			n.log.Warn().Err(err).Msg("drain failed")
		}
	}
}

// giveUp stops trying: this and every later event is failed back.
func (k *sink) giveUp(err error) {
	k.err, k.dead = err, true
	k.node.log.Error().Err(err).Msg("sink gave up; its events are failed back to their sources")
	k.failPending()
}

func (k *sink) failPending() {
	for _, e := range k.pending {
		k.verdict(e, true)
	}
	k.pending = k.pending[:0]
	k.report()
}

// sendBatch encodes as many pending events as fit into one batch, sends it
// and settles each event by its outcome. Events answered RETRY, and all
// undelivered ones after a lost connection, stay pending.
func (k *sink) sendBatch(giveUp <-chan struct{}) {
	n := k.node
	b := k.batch
	b.Reset()
	k.sent = k.sent[:0]
	var encodeFailed []int
	for i := range k.pending {
		if b.Len() == k.r.flow.BatchSize {
			break
		}
		e := &k.pending[i]
		pe := plugin.Event{ID: uint64(b.Len()), IngestNs: e.ingestNs, Meta: e.meta}
		if n.codec == nil {
			pe.Structured, pe.Value = true, e.value
		} else {
			payload, err := k.encode(e.value)
			if err != nil {
				n.counters.Errors.Add(1)
				n.log.Warn().Err(err).Msg("could not encode an event; failing it back")
				encodeFailed = append(encodeFailed, i)
				continue
			}
			pe.Payload = payload
		}
		err := b.Append(&pe)
		if errors.Is(err, plugin.ErrBatchFull) && b.Len() == 0 {
			err = k.growFor(&pe)
		}
		if errors.Is(err, plugin.ErrBatchFull) {
			break
		}
		if err != nil {
			n.counters.Errors.Add(1)
			n.log.Warn().Err(err).Msg("could not put an event into the batch; failing it back")
			encodeFailed = append(encodeFailed, i)
			continue
		}
		k.sent = append(k.sent, i)
	}

	settled := make([]bool, len(k.pending))
	for _, i := range encodeFailed {
		k.verdict(k.pending[i], true)
		settled[i] = true
	}
	var err error
	retry := false
	if b.Len() > 0 {
		out := k.outcomes[:b.Len()]
		err = k.inst.Send(b, out)
		lost := disconnected(err)
		for pos, i := range k.sent {
			switch {
			case out[pos] == abi.OutcomeOK:
				n.counters.Out.Add(1)
				k.verdict(k.pending[i], false)
				settled[i] = true
			case lost || out[pos] == abi.OutcomeRetry && err == nil:
				retry = true // stays pending: sent again
			default:
				k.verdict(k.pending[i], true)
				settled[i] = true
			}
		}
		switch {
		case err == nil:
		case lost:
			n.lost(err)
		case fatal(err):
			k.report()
			k.compact(settled)
			k.giveUp(err)
			return
		default:
			n.counters.Errors.Add(1)
			n.log.Warn().Err(err).Msg("send failed; undelivered events are failed back")
		}
	}
	k.report()
	k.compact(settled)
	if retry && err == nil {
		backoff(n.conn.Reconnect, 2, giveUp) // the sink asked to be given time
	}
}

// compact drops settled events from pending, keeping order.
func (k *sink) compact(settled []bool) {
	kept := k.pending[:0]
	for i, e := range k.pending {
		if !settled[i] {
			kept = append(kept, e)
		}
	}
	clear(k.pending[len(kept):])
	k.pending = kept
}

// growFor replaces the batch with one big enough for this event.
func (k *sink) growFor(pe *plugin.Event) error {
	c := k.batch.Caps()
	c.Bytes = max(c.Bytes*2, len(pe.Payload)*2)
	c.Values *= 2
	if c.Bytes > plugin.MaxBatchBytes {
		return errors.New("event too large for a batch")
	}
	nb, err := plugin.NewBatch(c)
	if err != nil {
		return err
	}
	k.batch.Free()
	k.batch = nb
	return nb.Append(pe)
}

// encode runs the codec, then the post-processors in order.
func (k *sink) encode(v any) ([]byte, error) {
	n := k.node
	var err error
	if k.enc, err = n.codec.Encode(k.enc[:0], v); err != nil {
		return nil, err
	}
	for _, p := range n.post {
		if k.tmp, err = p.Append(k.tmp[:0], k.enc); err != nil {
			return nil, err
		}
		k.enc, k.tmp = k.tmp, k.enc
	}
	return k.enc, nil
}

func (k *sink) verdict(e event, failed bool) {
	k.verdicts[e.src] = append(k.verdicts[e.src], settlement{token: e.token, failed: failed})
}

// report hands the collected verdicts to their sources.
func (k *sink) report() {
	for src, v := range k.verdicts {
		if len(v) > 0 {
			src.inbox.put(v)
			k.verdicts[src] = v[:0]
		}
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
