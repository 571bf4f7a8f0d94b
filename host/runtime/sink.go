package runtime

import (
	"errors"
	"fmt"
	"time"

	"tremorhost/abi"
	"tremorhost/host/edge"
)

// roomFor sizes a batch for n events of about 1 KiB with small metadata;
// a source that needs more for one event gets it (TREMOR_ERR_NO_ROOM).
func roomFor(n int) edge.Caps {
	return edge.Caps{Events: n, Values: 16 * n, Bytes: max(n*1024, 64<<10)}
}

// sink is the sink role of a node: it encodes, sends, and reports each
// event's outcome to its source.
type sink struct {
	node *node
	idx  int          // position in Runtime.sinks
	cpu  int          // the CPU its goroutine is pinned to (cpus.go); -1: none
	in   chan []event // bounded: a full queue is back-pressure
	err  error        // why it gave up, if it did

	r        *Runtime
	inst     Instance
	batch    *edge.Batch   // the batch being filled
	spare    *edge.Batch   // the other one, while batch's predecessor is under way
	fl       flight        // a send under way
	sendTook time.Duration // the last send that went alone, begin to answer (pipelineNext)
	piped    int           // sends pipelined since the last one that went alone
	slow     bool          // sendTook >= pipelineAbove (for the debug line when it changes)
	pending  []event       // received, not yet settled (includes RETRYs)
	sent     []int         // batch position -> index in pending
	settled  []bool        // by index in pending; reused by every sendBatch
	outcomes []uint8
	enc, tmp []byte
	out      []byte // payloads that do not fit the batch's free room
	lastLen  int    // size of the last encoded payload
	// verdicts collects settlements per source until report. A short slice
	// searched from the last source used: the map it replaces cost a hash
	// lookup and an assignment per event.
	verdicts []verdicts
	last     int
	dead     bool
	fails    uint64 // failed verdicts not yet added to the counters

	encodeWarn     limiter   // "could not encode an event" lines
	warnedFailedOK bool      // logged that send said OK but left outcomes FAILED
	retrySince     time.Time // start of the current run of RETRY answers
	retrySends     int       // sends answering RETRY since retrySince
	retryEvents    int       // RETRY outcomes of the last send
}

// flight is a send under way on a plugin in another process while the
// sink encodes the next batch (edge.SendPipeliner). It holds the first
// events of pending: pending[:end], at the positions in sent.
type flight struct {
	on    bool
	batch *edge.Batch
	sent  []int
	end   int
	pipe  sendPipeliner // nil: the instance answered in begin (synchronous)
	err   error         // that answer
}

// A send that takes at least pipelineAbove (its plugin waits on the
// network, say) is worth overlapping with encoding the next batch; shorter
// ones are not: on a busy machine the plugin's process and the encoding
// only take turns on a CPU, and a second batch costs cache
// (docs/benchmarks.md, "Pipelined sends"). While pipelining, every
// remeasureEvery-th send goes alone, to see whether sends are still slow.
const (
	pipelineAbove  = 200 * time.Microsecond
	remeasureEvery = 64
)

// pipelineNext says whether the next send overlaps with encoding the one
// after it (see pipelineAbove).
func (k *sink) pipelineNext() bool {
	if k.sendTook < pipelineAbove {
		return false
	}
	k.piped++
	if k.piped < remeasureEvery {
		return true
	}
	k.piped = 0
	return false
}

// retryWarnEvery bounds how often a sink that keeps answering RETRY is
// logged.
var retryWarnEvery = 10 * time.Second

// verdicts are the settlements collected for one source.
type verdicts struct {
	src   *source
	items []settlement
}

// sinkQueue is how many routed batches may wait for a sink.
const sinkQueue = 4

func newSink(n *node) *sink {
	return &sink{node: n, in: make(chan []event, sinkQueue), cpu: -1}
}

// run runs the sink until its queue is closed and everything it took has
// settled. noMore closes when every source is done: no event can come any
// more, so connecting is pointless.
func (k *sink) run(r *Runtime, giveUp, noMore <-chan struct{}) {
	n := k.node
	k.r = r
	k.inst = n.instance(roleSink)
	k.outcomes = make([]uint8, n.batch)
	var err error
	if k.batch, err = edge.NewBatch(roomFor(n.batch)); err != nil {
		k.giveUp(fmt.Errorf("cannot allocate its batch: %w", err))
	} else {
		defer func() {
			k.batch.Free()
			if k.spare != nil {
				k.spare.Free()
			}
		}()
		// Connect now rather than at the first event, so that a sink that
		// cannot connect shows at once.
		stop := make(chan struct{})
		go func() {
			select {
			case <-giveUp:
			case <-noMore:
			}
			close(stop)
		}()
		if err := n.ensureConnected(k.inst, stop); err != nil && !errors.Is(err, errStopped) {
			k.giveUp(err)
		}
	}

	defer n.up.leave()
	for open := true; open || len(k.pending) > 0; {
		if len(k.pending) == 0 {
			var evs []event
			ok := true
			select {
			case evs, ok = <-k.in:
			case req := <-n.up.swap: // a live upgrade (upgrade.go)
				k.land(giveUp)
				k.swapSink(req)
				continue
			}
			if !ok {
				break
			}
			k.pending = append(k.pending, evs...)
			recycle(evs)
		} else {
			select {
			case req := <-n.up.swap: // between two sends
				k.land(giveUp)
				k.swapSink(req)
			default:
			}
		}
		// Top up from the queue without waiting, to send full batches.
		for open && len(k.pending)-k.fl.end < n.batch {
			select {
			case evs, ok := <-k.in:
				if !ok {
					open = false
				} else {
					k.pending = append(k.pending, evs...)
					recycle(evs)
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
	n.roleDone(k.inst)
}

// giveUp stops trying: this and every later event is failed back, and
// the flow stops (Runtime.sinkDied).
func (k *sink) giveUp(err error) {
	k.err, k.dead = err, true
	k.node.log.Error().Func(edge.LogErr(k.node.log, err)).Msg("sink gave up; its events are failed back to their sources")
	k.failPending()
	if k.r.sinkDied != nil {
		k.r.sinkDiedOnce.Do(func() { close(k.r.sinkDied) })
	}
}

func (k *sink) failPending() {
	k.land(nil) // its events get the outcomes the plugin gave
	for _, e := range k.pending {
		k.verdict(e, true)
	}
	k.pending = k.pending[:0]
	k.report()
}

// sendBatch encodes as many pending events as fit into one batch and
// sends it; each event settles by its outcome. Events answered RETRY,
// and all undelivered ones after a lost connection, stay pending.
//
// When sends are slow (pipelineNext) and the plugin is in another
// process, it works on a send while the sink encodes the next batch: the
// send stays under way (k.fl) until the next call has filled that batch,
// or until the sink must do anything else (land). When the send under way
// leaves events pending (RETRY, a lost connection), the batch filled
// meanwhile is dropped unsent and filled again, so events still go out in
// order.
func (k *sink) sendBatch(giveUp <-chan struct{}) {
	failedBack, end := k.fillBatch(k.fl.end)
	if k.fl.on {
		from := k.fl.end
		if !k.land(giveUp) {
			k.batch.Reset()
			k.sent = k.sent[:0]
			return
		}
		// Every event before from settled and was compacted away.
		for j := range k.sent {
			k.sent[j] -= from
		}
		for j := range failedBack {
			failedBack[j] -= from
		}
		end -= from
	}
	if len(failedBack) > 0 {
		settled := k.settledFor(len(k.pending))
		for _, i := range failedBack {
			k.verdict(k.pending[i], true)
			settled[i] = true
		}
		k.report()
		end = k.compact(settled, k.sent, end)
	}
	b := k.batch
	if b.Len() == 0 {
		return
	}
	var pipe sendPipeliner
	if t, ok := k.inst.(*tracked); ok && k.node.source == nil && t.Pipelines() { // one role per instance: nothing else calls it meanwhile
		pipe = t
	}
	fl := flight{on: true, batch: b, end: end}
	if pipe != nil && k.pipelineNext() {
		fl.pipe = pipe
	}
	if fl.pipe != nil {
		fl.err = fl.pipe.BeginSend(b)
		if fl.err != nil {
			fl.pipe = nil // nothing started: land reports the error
			for j := range k.outcomes[:b.Len()] {
				k.outcomes[j] = abi.OutcomeFailed
			}
		}
	} else if pipe != nil {
		start := time.Now()
		fl.err = k.inst.Send(b, k.outcomes[:b.Len()])
		k.sendTook = time.Since(start)
		if slow := k.sendTook >= pipelineAbove; slow != k.slow {
			k.slow = slow
			msg := "sends are quick: one batch at a time"
			if slow {
				msg = "sends are slow: the next batch is encoded while the plugin sends"
			}
			k.node.log.Debug().Dur("send", k.sendTook).Msg(msg)
		}
	} else {
		fl.err = k.inst.Send(b, k.outcomes[:b.Len()])
	}
	fl.sent, k.sent = k.sent, k.fl.sent[:0]
	k.fl = fl
	if fl.pipe == nil {
		k.land(giveUp) // answered already
		return
	}
	if k.spare == nil {
		var err error
		if k.spare, err = edge.NewBatch(b.Caps()); err != nil {
			k.land(giveUp) // no second batch: send one at a time
			return
		}
	}
	k.batch, k.spare = k.spare, k.batch
}

// land waits for the send under way, if any, and settles its events;
// false when some stay pending (RETRY, a lost connection) or the sink gave
// up. giveUp nil: no RETRY backoff (the sink is failing what it holds).
func (k *sink) land(giveUp <-chan struct{}) bool {
	if !k.fl.on {
		return true
	}
	fl := &k.fl
	fl.on = false
	out := k.outcomes[:fl.batch.Len()]
	err := fl.err
	if fl.pipe != nil {
		err = fl.pipe.EndSend(fl.batch, out)
	}
	fl.end = 0
	settled := k.settledFor(len(k.pending))
	retry := k.settle(out, err, settled, fl.sent)
	if err != nil && k.sendFailed(err) {
		k.report()
		k.compact(settled, nil, 0)
		k.giveUp(err)
		return false
	}
	k.report()
	k.compact(settled, nil, 0)
	if retry && err == nil && giveUp != nil {
		backoff(k.node.conn.Reconnect, 2, giveUp) // the sink asked to be given time
	}
	return !retry
}

// fillBatch puts pending events from position from on into k.batch, in
// order, until it is full; k.sent gets their places in k.pending, end is
// the place after the last one it took. It returns the places of the
// events that could not be encoded or put in: those are to be failed back.
func (k *sink) fillBatch(from int) (failedBack []int, end int) {
	n := k.node
	k.batch.Reset()
	k.sent = k.sent[:0]
	end = from
	for i := from; i < len(k.pending); i++ {
		if k.batch.Len() == n.batch {
			break
		}
		e := &k.pending[i]
		pe := edge.Event{ID: uint64(k.batch.Len()), IngestNs: e.ingestNs, Meta: e.meta}
		if n.codec == nil {
			pe.Structured, pe.Value = true, e.value
		} else {
			payload, err := k.encodeForBatch(e.value)
			if err != nil {
				n.counters.Errors.Add(1)
				if ok, suppressed := k.encodeWarn.allow(time.Now()); ok {
					n.log.Warn().Func(edge.LogErr(n.log, err)).Int("suppressed", suppressed).Msg("could not encode an event; failing it back")
				}
				failedBack = append(failedBack, i)
				end = i + 1
				continue
			}
			pe.Payload = payload
		}
		err := k.appendEvent(&pe)
		if errors.Is(err, edge.ErrBatchFull) {
			break
		}
		end = i + 1
		if err != nil {
			n.counters.Errors.Add(1)
			n.log.Warn().Func(edge.LogErr(n.log, err)).Msg("could not put an event into the batch; failing it back")
			failedBack = append(failedBack, i)
			continue
		}
		k.sent = append(k.sent, i)
	}
	return failedBack, end
}

// encodeForBatch encodes v straight into the batch's free room (see
// encodeInto) when the last payload's size fits there, else into k.out;
// AppendTail takes it in place, or copies it like Append.
func (k *sink) encodeForBatch(v any) ([]byte, error) {
	tail := k.batch.Tail()
	dst := tail
	if cap(tail) < k.lastLen {
		dst = k.out[:0] // most likely too big: do not encode twice
	}
	payload, err := k.encodeInto(dst, v)
	if err != nil {
		return nil, err
	}
	k.lastLen = len(payload)
	if cap(payload) > 0 && (cap(tail) == 0 || &payload[:1][0] != &tail[:1][0]) {
		k.out = payload[:0] // on the heap: keep it as the buffer
	}
	return payload, nil
}

// appendEvent puts pe into k.batch. An event too big for an empty batch
// gets a bigger batch (growFor replaces k.batch); edge.ErrBatchFull
// otherwise means: send what is there first.
func (k *sink) appendEvent(pe *edge.Event) error {
	var err error
	if pe.Structured {
		err = k.batch.Append(pe)
	} else {
		err = k.batch.AppendTail(pe, pe.Payload)
	}
	if errors.Is(err, edge.ErrBatchFull) && k.batch.Len() == 0 {
		err = k.growFor(pe)
	}
	return err
}

// settle settles the sent events by their outcomes and says whether any
// stays pending to be sent again: those answered RETRY, or all undelivered
// ones when the connection was lost.
func (k *sink) settle(out []uint8, err error, settled []bool, sent []int) (retry bool) {
	n := k.node
	lost := disconnected(err)
	delivered := uint64(0) // added to the shared counter once per batch
	retries, failed := 0, 0
	for pos, i := range sent {
		switch {
		case out[pos] == abi.OutcomeOK:
			delivered++
			k.verdict(k.pending[i], false)
			settled[i] = true
		case lost || out[pos] == abi.OutcomeRetry && err == nil:
			retry = true // stays pending: sent again
			retries++
		default:
			k.verdict(k.pending[i], true)
			settled[i] = true
			failed++
		}
	}
	if delivered > 0 {
		n.counters.Out.Add(delivered)
	}
	if err == nil && failed > 0 && !k.warnedFailedOK {
		// Outcomes start FAILED: a sink that forgets to write them
		// fails every event while saying OK. Said once per sink.
		k.warnedFailedOK = true
		n.log.Warn().Int("failed", failed).Int("events", len(sent)).
			Msgf("sink %q returned OK but left %d of %d outcomes FAILED; those events are failed back (further ones are counted in its fails column, not logged)", n.conn.ID, failed, len(sent))
	}
	if err == nil {
		k.retried(retries)
	}
	return retry
}

// sendFailed counts and reports a failed Send and says whether the sink
// must give up: a lost connection is reconnected, other errors fail back
// the undelivered events and the sink goes on.
func (k *sink) sendFailed(err error) (giveUp bool) {
	n := k.node
	switch {
	case disconnected(err):
		n.lost(err)
		return false
	case fatal(err):
		n.counters.Errors.Add(1)
		return true
	default:
		n.counters.Errors.Add(1)
		n.log.Warn().Func(edge.LogErr(n.log, err)).Msg("send failed; undelivered events are failed back")
		return false
	}
}

// retried tracks RETRY answers (n in the last send) and warns, at most
// once per retryWarnEvery, while a sink keeps asking for them: how many
// events wait to be sent again, and how many sends asked. A send without
// any RETRY ends the run.
func (k *sink) retried(n int) {
	if n == 0 {
		k.retrySince, k.retrySends, k.retryEvents = time.Time{}, 0, 0
		return
	}
	now := time.Now()
	if k.retrySince.IsZero() {
		k.retrySince = now
	}
	k.retrySends++
	k.retryEvents = n
	if d := now.Sub(k.retrySince); d >= retryWarnEvery {
		k.node.log.Warn().Int("events", k.retryEvents).Int("sends", k.retrySends).
			Msgf("sink %q asked to retry %d events %d times in the last %s", k.node.conn.ID, k.retryEvents, k.retrySends, roundDur(d))
		k.retrySince, k.retrySends, k.retryEvents = now, 0, 0
	}
}

// roundDur rounds d for a message: to the second, or the millisecond
// below one.
func roundDur(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

// settledFor returns the reused settled flags for n pending events, all
// false (a fresh slice per batch was one allocation per send).
func (k *sink) settledFor(n int) []bool {
	if cap(k.settled) < n {
		k.settled = make([]bool, n)
	}
	k.settled = k.settled[:n]
	clear(k.settled)
	return k.settled
}

// compact drops settled events from pending, keeping order, and moves the
// places in sent (of unsettled events, ascending) to where those events
// are now. It returns how many kept events lay before place end.
func (k *sink) compact(settled []bool, sent []int, end int) int {
	kept := k.pending[:0]
	before, j := 0, 0
	for i, e := range k.pending {
		if i == end {
			before = len(kept)
		}
		if settled[i] {
			continue
		}
		if j < len(sent) && sent[j] == i {
			sent[j] = len(kept)
			j++
		}
		kept = append(kept, e)
	}
	if end >= len(k.pending) {
		before = len(kept)
	}
	clear(k.pending[len(kept):])
	k.pending = kept
	return before
}

// growFor replaces the batch with one big enough for this event.
func (k *sink) growFor(pe *edge.Event) error {
	c := k.batch.Caps()
	c.Bytes = max(c.Bytes*2, len(pe.Payload)*2)
	c.Values *= 2
	if c.Bytes > edge.MaxBatchBytes {
		return errors.New("event too large for a batch")
	}
	nb, err := edge.NewBatch(c)
	if err != nil {
		return err
	}
	// Append before freeing the old batch: pe.Payload may view its arena
	// (encoded in place, then refused for want of room for the metadata).
	err = nb.Append(pe)
	k.batch.Free()
	k.batch = nb
	return err
}

// encodeInto runs the codec, then the post-processors in order, and
// appends the result to dst (the batch's free room, so that the last step
// writes the payload in place instead of into a buffer that Append then
// copies). The output is what encoding into a buffer gave: the codec's
// bytes, or the last post-processor's. A lone post-processor that only
// appends '\n' to its frame ("lines", the common case: a NewlineFramer), so the codec writes into dst
// directly and the newline follows: no intermediate copy at all.
func (k *sink) encodeInto(dst []byte, v any) ([]byte, error) {
	n := k.node
	if len(n.post) == 0 {
		return n.codec.Encode(dst, v)
	}
	if n.newlineOnly {
		out, err := n.codec.Encode(dst, v)
		if err != nil {
			return nil, err
		}
		return append(out, '\n'), nil
	}
	var err error
	if k.enc, err = n.codec.Encode(k.enc[:0], v); err != nil {
		return nil, err
	}
	last := len(n.post) - 1
	for _, p := range n.post[:last] {
		if k.tmp, err = p.Append(k.tmp[:0], k.enc); err != nil {
			return nil, err
		}
		k.enc, k.tmp = k.tmp, k.enc
	}
	return n.post[last].Append(dst, k.enc)
}

func (k *sink) verdict(e event, failed bool) {
	i := k.last
	if i >= len(k.verdicts) || k.verdicts[i].src != e.src {
		i = 0
		for i < len(k.verdicts) && k.verdicts[i].src != e.src {
			i++
		}
		if i == len(k.verdicts) {
			k.verdicts = append(k.verdicts, verdicts{src: e.src})
		}
		k.last = i
	}
	v := &k.verdicts[i]
	v.items = append(v.items, settlement{token: e.token, failed: failed})
	if failed {
		k.fails++
	}
}

// report hands the collected verdicts to their sources, and counts the
// failed ones on this sink too.
func (k *sink) report() {
	if k.fails > 0 {
		k.node.counters.SinkFails.Add(k.fails)
		k.fails = 0
	}
	for i := range k.verdicts {
		v := &k.verdicts[i]
		if len(v.items) > 0 {
			v.src.inbox.put(v.items)
			v.items = v.items[:0]
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
