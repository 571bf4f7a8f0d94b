package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"tremorhost/pdk-go"
)

type topicPart struct {
	topic     string
	partition int32
}

// inFlight is a record handed to the host under one event id; a zero one
// is settled (acked, failed or forgotten).
type inFlight struct {
	pt  *partTrack
	rec *kgo.Record
}

// flights maps event ids to the records in flight. Ids are handed out in
// sequence and mostly settled in order, so a queue indexed by id - base
// does what a map would without hashing or garbage per record.
type flights struct {
	q    []inFlight // id base+i is q[i]; q[:head] is settled
	head int
	base uint64
}

// next is the id the next add gets.
func (f *flights) next() uint64 { return f.base + uint64(len(f.q)) }

func (f *flights) add(x inFlight) { f.q = append(f.q, x) }

// take settles id and returns its record; false if it is not in flight.
func (f *flights) take(id uint64) (inFlight, bool) {
	if id < f.base || id-f.base >= uint64(len(f.q)) {
		return inFlight{}, false
	}
	i := int(id - f.base)
	x := f.q[i]
	if x.rec == nil {
		return inFlight{}, false
	}
	f.q[i] = inFlight{}
	f.settle()
	return x, true
}

// drop settles every record of the partitions gone.
func (f *flights) drop(gone map[topicPart]bool) {
	for i := f.head; i < len(f.q); i++ {
		if x := f.q[i]; x.rec != nil && gone[x.pt.tp] {
			f.q[i] = inFlight{}
		}
	}
	f.settle()
}

// settle moves head over settled records and reuses the array once its
// front is mostly settled.
func (f *flights) settle() {
	for f.head < len(f.q) && f.q[f.head].rec == nil {
		f.head++
	}
	switch {
	case f.head == len(f.q):
		f.base += uint64(len(f.q))
		f.q, f.head = f.q[:0], 0
	case f.head >= 1024 && f.head*2 >= len(f.q):
		n := copy(f.q, f.q[f.head:])
		clear(f.q[n:])
		f.base += uint64(f.head)
		f.q, f.head = f.q[:n], 0
	}
}

// span is the number of ids from the oldest unsettled one to the last one
// given (0: nothing in flight).
func (f *flights) span() int { return len(f.q) - f.head }

// recordPool hands franz-go back the record arrays of acked records
// (kgo.WithPools; Ack recycles each record once), so that a fetch does not
// allocate an array of records, for the GC to scan and free, per batch.
type recordPool chan []kgo.Record

// recordPoolSize is how many arrays the pool keeps: one per producer batch,
// and Pull holds a whole fetch (hundreds of batches of 100-byte records,
// 270 of ~140 records each in the benchmark's) besides the ones in flight.
// 64 kept too few: 60% of the gets missed and allocated (~25 KB each).
const recordPoolSize = 512

func (p recordPool) GetRecords(int) []kgo.Record {
	select {
	case rs := <-p:
		return rs
	default:
		return nil // franz-go grows it to the batch's length
	}
}

func (p recordPool) PutRecords(rs []kgo.Record) {
	select {
	case p <- rs:
	default: // enough kept: the GC takes this one
	}
}

// recQueue is a queue of records reused from poll to poll.
type recQueue struct {
	rs   []*kgo.Record
	head int
}

func (q *recQueue) len() int           { return len(q.rs) - q.head }
func (q *recQueue) front() *kgo.Record { return q.rs[q.head] }
func (q *recQueue) push(r *kgo.Record) { q.rs = append(q.rs, r) }
func (q *recQueue) pop() {
	q.rs[q.head] = nil
	if q.head++; q.head == len(q.rs) {
		q.rs, q.head = q.rs[:0], 0
	}
}

// drop removes the records of the partitions gone.
func (q *recQueue) drop(gone map[topicPart]bool) {
	out := q.rs[:0]
	for _, r := range q.rs[q.head:] {
		if !gone[topicPart{r.Topic, r.Partition}] {
			out = append(out, r)
		}
	}
	clear(q.rs[len(out):])
	q.rs, q.head = out, 0
}

type source struct {
	host       pdk.Host
	opts       []kgo.Opt
	brokers    string
	skipFailed bool
	withMeta   bool

	cl   *kgo.Client
	kick chan struct{} // a commit is due
	done chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	parts   map[topicPart]*partTrack // the assigned partitions
	last    *partTrack               // the partition of the last record pushed
	ids     flights
	redo    recQueue         // failed, to be offered again first
	fetched recQueue         // polled, not yet taken by a room
	meta    pdk.ValueBuilder // the event being pushed's meta, reused
	hdr     []int            // scratch of writeMeta
}

func newSource(cfg pdk.Config, host pdk.Host) (*source, error) {
	brokers, err := brokerList(cfg)
	if err != nil {
		return nil, err
	}
	topics, err := stringList(cfg, "topics")
	if err != nil {
		return nil, err
	}
	group, err := cfg.RequireString("group_id")
	if err != nil {
		return nil, err
	}
	if group == "" {
		return nil, pdk.ConfigError("group_id must not be empty")
	}
	session := time.Duration(cfg.UintOr("session_timeout_ms", 6000)) * time.Millisecond
	heartbeat := time.Duration(cfg.UintOr("heartbeat_ms", 1000)) * time.Millisecond
	fetchWait := time.Duration(cfg.UintOr("fetch_max_wait_ms", 500)) * time.Millisecond
	if heartbeat <= 0 || heartbeat >= session {
		return nil, pdk.ConfigError("heartbeat_ms (%d) must be above 0 and below session_timeout_ms (%d)", heartbeat.Milliseconds(), session.Milliseconds())
	}
	if fetchWait <= 0 {
		return nil, pdk.ConfigError("fetch_max_wait_ms must be above 0")
	}
	var reset kgo.Offset
	switch start := cfg.StringOr("start_from", "earliest"); start {
	case "earliest":
		reset = kgo.NewOffset().AtStart()
	case "latest":
		reset = kgo.NewOffset().AtEnd()
	default:
		return nil, pdk.ConfigError("start_from %q: use \"earliest\" or \"latest\"", start)
	}
	var skip bool
	switch f := cfg.StringOr("on_fail", "redeliver"); f {
	case "redeliver":
	case "skip":
		skip = true
	default:
		return nil, pdk.ConfigError("on_fail %q: use \"redeliver\" or \"skip\"", f)
	}
	withMeta, err := cfg.OptionalBool("meta", true)
	if err != nil {
		return nil, err
	}
	s := &source{
		host: host, brokers: strings.Join(brokers, ","), skipFailed: skip, withMeta: withMeta,
		parts: map[topicPart]*partTrack{}, ids: flights{base: 1},
		kick: make(chan struct{}, 1),
	}
	s.opts = []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("tremorhost"),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(session),
		kgo.HeartbeatInterval(heartbeat),
		kgo.FetchMaxWait(fetchWait),
		kgo.ConsumeResetOffset(reset),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
		kgo.WithPools(make(recordPool, recordPoolSize)),
	}
	return s, nil
}

// Connect makes the client and checks that a broker answers; the group is
// joined by the first poll.
func (s *source) Connect(attempt int) error {
	if s.cl != nil {
		return nil
	}
	cl, err := dial(s.opts, s.brokers)
	if err != nil {
		return err
	}
	s.cl = cl
	s.done = make(chan struct{})
	s.wg.Add(1)
	s.host.Go(s.committer)
	return nil
}

func (s *source) onAssigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range m {
		for _, p := range ps {
			tp := topicPart{topic, p}
			pt := newPartTrack()
			pt.tp = tp
			s.parts[tp] = pt
		}
	}
	s.last = nil
	s.host.Infof("assigned %v", m)
}

// onRevoked commits what is safe for the partitions taken away, then
// forgets them: their unacked records go to the next owner, which reads
// them from the committed offset.
func (s *source) onRevoked(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	if len(m) == 0 {
		return
	}
	s.mu.Lock()
	offsets := s.commitsLocked(m)
	s.mu.Unlock()
	if len(offsets) > 0 {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsgReq, resp *kmsgResp, err error) {
			if err = commitErr(resp, err); err != nil {
				s.host.Warnf("commit on revocation of %v: %v (the next owner re-reads from the last commit)", m, err)
			}
		})
		cancel()
	}
	s.forget(m, "revoked")
}

func (s *source) onLost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	s.forget(m, "lost")
}

func (s *source) forget(m map[string][]int32, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := map[topicPart]bool{}
	for topic, ps := range m {
		for _, p := range ps {
			tp := topicPart{topic, p}
			gone[tp] = true
			delete(s.parts, tp)
		}
	}
	s.last = nil
	s.ids.drop(gone)
	s.redo.drop(gone)
	s.fetched.drop(gone)
	if len(gone) > 0 {
		s.host.Infof("partitions %s: %v; their unacked events are no longer tracked", why, m)
	}
}

// commitsLocked returns the commit points that moved, of every partition
// (only those of only when non-nil); it clears their dirty marks.
func (s *source) commitsLocked(only map[string][]int32) map[string]map[int32]kgo.EpochOffset {
	want := func(tp topicPart) bool {
		if only == nil {
			return true
		}
		for _, p := range only[tp.topic] {
			if p == tp.partition {
				return true
			}
		}
		return false
	}
	out := map[string]map[int32]kgo.EpochOffset{}
	for tp, pt := range s.parts {
		if !pt.dirty || !want(tp) {
			continue
		}
		pt.dirty = false
		if pt.commit < 0 {
			continue
		}
		if out[tp.topic] == nil {
			out[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		out[tp.topic][tp.partition] = kgo.EpochOffset{Epoch: -1, Offset: pt.commit}
	}
	return out
}

// commitEvery spaces the committer's commits: a commit per ack (400-500 a
// second at full speed) cost the broker about 10% of a 2-core machine,
// three times what serving the fetches cost it. A crash re-reads at most
// this much more; a clean stop and a revocation commit at once.
const commitEvery = 100 * time.Millisecond

// committer commits the safe offsets whenever acks moved them, at most
// once per commitEvery; acks meanwhile coalesce into the next commit.
func (s *source) committer() {
	defer s.wg.Done()
	pace := time.NewTimer(0)
	for {
		select {
		case <-s.done:
			return
		case <-s.kick:
		}
		select {
		case <-s.done:
			return
		case <-pace.C:
		}
		s.commitNow()
		pace.Reset(commitEvery)
	}
}

func (s *source) commitNow() {
	s.mu.Lock()
	offsets := s.commitsLocked(nil)
	s.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsgReq, resp *kmsgResp, err error) {
		if err = commitErr(resp, err); err != nil {
			s.host.Warnf("commit of %v: %v (retried with the next ack)", offsets, err)
			s.mu.Lock()
			for topic, ps := range offsets {
				for p := range ps {
					if pt := s.parts[topicPart{topic, p}]; pt != nil {
						pt.dirty = true
					}
				}
			}
			s.mu.Unlock()
		}
	})
}

// Pull offers failed records again first, then fetched ones. Whenever its
// queue runs dry with room left it takes everything franz-go has buffered
// without waiting: franz-go fetches again only once its buffer is taken,
// so the next fetch is on its way while these are handed over (at most
// two fetches are held, as the Java consumer holds its completed fetches).
// It waits, up to wait, only while the room is still empty: the host pulls
// ahead with wait 0, and a poll given a context already done returns
// nothing, even what is buffered.
func (s *source) Pull(room *pdk.Room, wait time.Duration) error {
	for {
		s.mu.Lock()
		full := s.pushQueuedLocked(room)
		s.mu.Unlock()
		if full {
			return nil
		}
		var ctx context.Context // nil: PollFetches returns at once with what is buffered
		cancel := func() {}
		if room.Len() == 0 && wait > 0 {
			ctx, cancel = context.WithTimeout(context.Background(), wait)
		}
		n := s.poll(ctx)
		cancel()
		if n == 0 {
			return nil
		}
	}
}

// pushQueuedLocked pushes the failed records, then the fetched ones; true
// when the room is full.
func (s *source) pushQueuedLocked(room *pdk.Room) bool {
	for s.redo.len() > 0 {
		if err := s.pushLocked(room, s.redo.front(), true); err != nil {
			return true // room full: the rest next time
		}
		s.redo.pop()
	}
	for s.fetched.len() > 0 {
		if err := s.pushLocked(room, s.fetched.front(), false); err != nil {
			return true
		}
		s.fetched.pop()
	}
	return false
}

// poll queues the records franz-go has buffered (waiting until ctx is done
// for some when there are none; a nil ctx does not wait) and returns how
// many it queued.
func (s *source) poll(ctx context.Context) int {
	fs := s.cl.PollFetches(ctx)
	fs.EachError(func(topic string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			s.host.Warnf("fetch %s/%d: %v", topic, p, err)
		}
	})
	s.mu.Lock()
	n := s.fetched.len()
	fs.EachRecord(s.fetched.push)
	n = s.fetched.len() - n
	s.mu.Unlock()
	return n
}

// pushLocked hands one record to the host under a new id. Records of a
// partition no longer assigned are dropped: its next owner reads them.
func (s *source) pushLocked(room *pdk.Room, r *kgo.Record, again bool) error {
	pt := s.last // records come in runs of one partition
	if pt == nil || pt.tp.partition != r.Partition || pt.tp.topic != r.Topic {
		pt = s.parts[topicPart{r.Topic, r.Partition}] // nil unless assigned
		s.last = pt
	}
	if pt == nil {
		return nil
	}
	if !again && !pt.add(r.Offset) {
		return nil // already handed over (a fetch after a seek)
	}
	ev := pdk.Event{ID: s.ids.next(), Payload: r.Value}
	if s.withMeta {
		ev.Meta = s.recordMeta(pt, r)
	}
	err := room.Push(ev)
	if err != nil {
		if !again {
			pt.unadd() // offered again next Pull
		}
		return err
	}
	s.ids.add(inFlight{pt: pt, rec: r})
	return nil
}

// recordMeta returns r's meta: its partition's shape with the offset,
// timestamp and key of r set, or, for a record with headers, built whole.
func (s *source) recordMeta(pt *partTrack, r *kgo.Record) *pdk.ValueBuilder {
	if len(r.Headers) > 0 {
		writeMeta(&s.meta, &s.hdr, r)
		return &s.meta
	}
	keyed := 0
	if r.Key != nil {
		keyed = 1
	}
	sh := &pt.meta[keyed]
	if sh.b.Len() == 0 { // first record of its kind in this partition
		sh.at = writeMeta(&sh.b, nil, &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key})
	}
	if r.Key != nil {
		sh.b.SetText(sh.at.key, r.Key)
	}
	sh.b.SetInt(sh.at.offset, r.Offset)
	sh.b.SetInt(sh.at.timestamp, r.Timestamp.UnixMilli())
	return &sh.b
}

// metaShape is the meta of a partition's records without headers, with a
// key or without, built once; per record only its members at at are set.
type metaShape struct {
	b  pdk.ValueBuilder
	at metaIndex
}

// metaIndex says where writeMeta put the members that change per record
// (key: -1 when it left the key out).
type metaIndex struct{ key, offset, timestamp int }

// writeMeta builds r's meta in m, members in key order (the layout a map
// of them would have); hdr is scratch for the header order.
func writeMeta(m *pdk.ValueBuilder, hdr *[]int, r *kgo.Record) metaIndex {
	at := metaIndex{key: -1}
	m.Reset()
	m.Object("")
	m.Object("kafka")
	if len(r.Headers) > 0 {
		m.Object("headers")
		for _, i := range headerOrder(hdr, r.Headers) {
			m.Text(r.Headers[i].Key, r.Headers[i].Value)
		}
		m.End()
	}
	if r.Key != nil {
		at.key = m.Len()
		m.Text("key", r.Key)
	}
	at.offset = m.Len()
	m.Int("offset", r.Offset)
	m.Int("partition", int64(r.Partition))
	at.timestamp = m.Len()
	m.Int("timestamp_ms", r.Timestamp.UnixMilli())
	m.String("topic", r.Topic)
	m.End()
	m.End()
	return at
}

// headerOrder returns the indexes of hs in key order, a repeated key
// keeping its last value (as a map would). Records carry few headers: an
// insertion sort into reused scratch does not allocate.
func headerOrder(scratch *[]int, hs []kgo.RecordHeader) []int {
	idx := (*scratch)[:0]
	for i := range hs {
		j := len(idx)
		for j > 0 && hs[idx[j-1]].Key > hs[i].Key {
			j--
		}
		if j > 0 && hs[idx[j-1]].Key == hs[i].Key {
			idx[j-1] = i
			continue
		}
		idx = append(idx, 0)
		copy(idx[j+1:], idx[j:])
		idx[j] = i
	}
	*scratch = idx
	return idx
}

// Ack moves the commit points over the acked records and wakes the
// committer.
func (s *source) Ack(ids []uint64) error {
	s.mu.Lock()
	moved := s.ackLocked(ids)
	s.mu.Unlock()
	if moved {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

func (s *source) ackLocked(ids []uint64) bool {
	moved := false
	for _, id := range ids {
		f, ok := s.ids.take(id)
		if !ok {
			continue // its partition was revoked meanwhile
		}
		if f.pt.ack(f.rec.Offset) {
			f.pt.dirty = true
			moved = true
		}
		f.rec.Recycle() // settled: nothing refers to it any more
	}
	return moved
}

// Fail offers the records again (on_fail = "redeliver"), or counts them as
// done so that the commit point can pass them ("skip").
func (s *source) Fail(ids []uint64) error {
	if s.skipFailed {
		s.host.Warnf("skipping %d failed events (on_fail = \"skip\")", len(ids))
		return s.Ack(ids)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		f, ok := s.ids.take(id)
		if !ok {
			continue
		}
		s.redo.push(f.rec)
	}
	return nil
}

// Close commits what is safe and leaves the group.
func (s *source) Close() error {
	if s.cl == nil {
		return nil
	}
	close(s.done)
	s.wg.Wait()
	s.commitNow()
	s.cl.Close()
	s.cl = nil
	return nil
}
