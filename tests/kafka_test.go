package tests

// The Kafka plugin (plugins/kafka-go) against a real broker: one local
// KRaft broker started by scripts/kafka.sh (Java and the jars it fetches
// are needed: without them these tests fail saying what is missing), and
// tremorctl run as a subprocess for every flow. Topics have 4 partitions.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"tremorhost/tests/testenv"
)

// kafkaDeadline bounds every wait on the broker or a flow: joins,
// rebalances and a broker restart on a loaded 2-core machine.
const kafkaDeadline = 90 * time.Second

var kafkaOnce struct {
	sync.Mutex
	addr string
}

// kafkaBroker starts the local broker (once per test binary; a running one
// is reused) and returns its address.
func kafkaBroker(t testing.TB) string {
	t.Helper()
	kafkaOnce.Lock()
	defer kafkaOnce.Unlock()
	if kafkaOnce.addr != "" {
		return kafkaOnce.addr
	}
	kafkaOnce.addr = kafkaScript(t, "start")
	return kafkaOnce.addr
}

// kafkaScript runs scripts/kafka.sh CMD and returns the last line it
// printed (start: the broker's address).
func kafkaScript(t testing.TB, cmd string) string {
	t.Helper()
	c := exec.Command("bash", filepath.Join(testenv.Root(t), "scripts", "kafka.sh"), cmd)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("scripts/kafka.sh %s failed (%v): the Kafka tests need a local broker.\n%s", cmd, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// kafkaTopic is a topic name of its own for this test run.
func kafkaTopic(t testing.TB) string {
	return fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
}

// kafkaClient is a plain franz-go client for the test's own producing and
// offset checks.
func kafkaClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation()}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

// committed returns the group's committed offset of every partition of topic.
func committed(t testing.TB, addr, group, topic string) map[int32]int64 {
	t.Helper()
	cl := kafkaClient(t, addr)
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	rt.Partitions = []int32{0, 1, 2, 3}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	out := map[int32]int64{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			out[p.Partition] = p.Offset
		}
	}
	return out
}

// eventually polls cond until it holds, failing after kafkaDeadline.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(kafkaDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", kafkaDeadline, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kafkaSourceFlow reads topic in group into the file out (one JSON event
// per line).
func kafkaSourceFlow(t testing.TB, dir, name, addr, topic, group, out string) string {
	t.Helper()
	return writeFlow(t, dir, name+".toml", fmt.Sprintf(twoConnectors, name,
		fmt.Sprintf("type = \"kafka_source\"\ncodec = \"json\"\nconfig = { brokers = %q, topics = %q, group_id = %q, session_timeout_ms = 2000, heartbeat_ms = 500 }", addr, topic, group),
		fmt.Sprintf("type = \"file\"\ncodec = \"json\"\nconfig = { path = %q, mode = \"write\" }", out)))
}

// countLines counts the lines of a file that may not exist yet.
func countLines(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "\n")
}

// 100 000 events from the C bench source through kafka_sink into a topic,
// then through kafka_source into a file: every event arrives exactly once,
// both flows count them at both ends, and the group's committed offsets
// cover every record (commits follow acks).
func TestKafkaHundredThousandExactly(t *testing.T) {
	const n = 100000
	addr := kafkaBroker(t)
	topic, group := kafkaTopic(t), "g-"+kafkaTopic(t)
	dir := t.TempDir()

	produce := writeFlow(t, dir, "produce.toml", fmt.Sprintf(twoConnectors, "produce",
		fmt.Sprintf("type = \"bench_source\"\ncodec = \"json\"\npreprocessors = [\"lines\"]\nconfig = { count = %d, size = 64 }", n),
		fmt.Sprintf("type = \"kafka_sink\"\ncodec = \"json\"\nconfig = { brokers = %q, topic = %q }", addr, topic)))
	code, stdout, stderr := ctl(t, "run", produce)
	require.Equal(t, 0, code, "produce flow:\n%s\n%s", stdout, lastLines(stderr, 30))
	noCrash(t, stderr)
	rows := statsTable(t, stderr)
	assert.Equal(t, row{n, n, 0, n, 0, 0}, rows["src"], "bench source: all emitted and acked")
	assert.Equal(t, uint64(n), rows["dst"][colOut], "kafka_sink: all confirmed by the broker")

	out := filepath.Join(dir, "out.jsonl")
	p := startCtl(t, "run", kafkaSourceFlow(t, dir, "consume", addr, topic, group, out))
	eventually(t, fmt.Sprintf("%d lines in %s", n, out), func() bool { return countLines(out) >= n })
	// the last acks' commits: every partition's committed offset is its end
	eventually(t, "the group's commits cover every record", func() bool {
		var sum int64
		for _, o := range committed(t, addr, group, topic) {
			sum += o
		}
		return sum == n
	})
	p.signal(syscall.SIGTERM)
	require.Equal(t, 0, p.wait(), "consume flow:\n%s", lastLines(p.stderr.String(), 30))
	noCrash(t, p.stderr.String())
	rows = statsTable(t, p.stderr.String())
	assert.Equal(t, row{n, n, 0, n, 0, 0}, rows["src"], "kafka_source: every record emitted once and acked")
	assert.Equal(t, uint64(n), rows["dst"][colOut])

	got := fields(t, fileLines(t, out), "seq")
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	assert.Equal(t, seqs(0, n), got, "every event exactly once")
}

// kafkaRec is a record the tests produce themselves: partition p, its
// sequence number n within the partition.
type kafkaRec struct {
	P int32 `json:"p"`
	N int   `json:"n"`
}

// kafkaCreate makes topic exist, with its 4 partitions, before a group
// joins it: one record {"p":P,"n":-1} per partition, which the checks
// ignore.
func kafkaCreate(t testing.TB, cl *kgo.Client, topic string) {
	t.Helper()
	var recs []*kgo.Record
	for p := int32(0); p < 4; p++ {
		v, _ := json.Marshal(kafkaRec{P: p, N: -1})
		recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: v})
	}
	ctx, cancel := context.WithTimeout(context.Background(), kafkaDeadline)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
}

// produceSeq produces perPart records to each of the 4 partitions of topic,
// {"p":P,"n":0..perPart-1} in order, in rounds of batch records per
// partition with pause between rounds.
func produceSeq(t testing.TB, cl *kgo.Client, topic string, perPart, batch int, pause time.Duration) error {
	for start := 0; start < perPart; start += batch {
		var recs []*kgo.Record
		for p := int32(0); p < 4; p++ {
			for n := start; n < start+batch && n < perPart; n++ {
				v, _ := json.Marshal(kafkaRec{P: p, N: n})
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: v})
			}
		}
		// one wait per round, no retry loop of our own: franz-go retries
		// while the broker is down, and a cancelled produce would make it
		// reset its idempotent producer
		ctx, cancel := context.WithTimeout(context.Background(), kafkaDeadline)
		err := cl.ProduceSync(ctx, recs...).FirstErr()
		cancel()
		if err != nil {
			return fmt.Errorf("records of round %d not confirmed within %s: %w", start/batch, kafkaDeadline, err)
		}
		time.Sleep(pause)
	}
	return nil
}

// checkSeq reads every file's lines as kafkaRecs and checks that each
// partition's sequence 0..perPart-1 is complete; it returns the number of
// duplicates (at least once allows them).
func checkSeq(t testing.TB, perPart int, files ...string) (dups int) {
	t.Helper()
	seen := map[kafkaRec]int{}
	for _, f := range files {
		for _, line := range fileLines(t, f) {
			var r kafkaRec
			require.NoError(t, json.Unmarshal([]byte(line), &r), "line %q of %s", line, f)
			seen[r]++
		}
	}
	for p := int32(0); p < 4; p++ {
		var missing []int
		for n := 0; n < perPart; n++ {
			switch c := seen[kafkaRec{p, n}]; {
			case c == 0:
				missing = append(missing, n)
			case c > 1:
				dups += c - 1
			}
		}
		assert.Empty(t, missing, "partition %d: records never delivered (gaps)", p)
	}
	return dups
}

func allSeen(perPart int, files ...string) bool {
	total := 0
	for _, f := range files {
		total += countLines(f)
	}
	if total < 4*perPart {
		return false
	}
	seen := map[kafkaRec]bool{}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(data), "\n") {
			var r kafkaRec
			if json.Unmarshal([]byte(line), &r) == nil && r.N >= 0 {
				seen[r] = true
			}
		}
	}
	return len(seen) == 4*perPart
}

// Two tremorctl processes in one group on a 4-partition topic while it is
// being written; one is killed with SIGKILL mid-stream. The survivor takes
// its partitions over from their last commit: every record arrives at
// least once, no partition has a gap, and the duplicates (what the dead
// one had taken but not committed) are reported.
func TestKafkaGroupSurvivesKill9(t *testing.T) {
	const perPart = 5000
	addr := kafkaBroker(t)
	topic, group := kafkaTopic(t), "g-"+kafkaTopic(t)
	dir := t.TempDir()
	cl := kafkaClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	kafkaCreate(t, cl, topic)

	outA, outB := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	a := startCtl(t, "run", kafkaSourceFlow(t, dir, "a", addr, topic, group, outA))
	b := startCtl(t, "run", kafkaSourceFlow(t, dir, "b", addr, topic, group, outB))

	produced := make(chan error, 1)
	go func() { produced <- produceSeq(t, cl, topic, perPart, 100, 50*time.Millisecond) }()
	eventually(t, "both members receive records", func() bool { return countLines(outA) > 200 && countLines(outB) > 200 })
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
	assert.Equal(t, 128+int(syscall.SIGKILL), a.wait())
	require.NoError(t, <-produced)

	eventually(t, "every record in a.jsonl or b.jsonl", func() bool { return allSeen(perPart, outA, outB) })
	b.signal(syscall.SIGTERM)
	require.Equal(t, 0, b.wait(), "survivor:\n%s", lastLines(b.stderr.String(), 30))
	noCrash(t, b.stderr.String())
	rows := statsTable(t, b.stderr.String())
	assert.Equal(t, rows["src"][colIn], rows["src"][colAcks], "the survivor acked all it emitted")
	assert.Zero(t, rows["src"][colFails])

	dups := checkSeq(t, perPart, outA, outB)
	t.Logf("%d records, %d in a (killed), %d in b, %d duplicates (re-read after the kill)",
		4*perPart, countLines(outA), countLines(outB), dups)
	var onB []string
	for _, line := range fileLines(t, outB) {
		var r kafkaRec
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		if r.N == perPart-1 {
			onB = append(onB, line)
		}
	}
	assert.Len(t, onB, 4, "the survivor read the end of all 4 partitions")
}

// The broker is stopped and started again while records are being
// produced and consumed: kafka_source reconnects by itself and nothing is
// lost.
func TestKafkaBrokerRestart(t *testing.T) {
	const perPart = 3000
	addr := kafkaBroker(t)
	topic, group := kafkaTopic(t), "g-"+kafkaTopic(t)
	dir := t.TempDir()
	cl := kafkaClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	kafkaCreate(t, cl, topic)

	out := filepath.Join(dir, "out.jsonl")
	p := startCtl(t, "run", kafkaSourceFlow(t, dir, "consume", addr, topic, group, out))
	produced := make(chan error, 1)
	go func() { produced <- produceSeq(t, cl, topic, perPart, 50, 50*time.Millisecond) }()
	eventually(t, "records arrive", func() bool { return countLines(out) > 500 })

	kafkaScript(t, "stop")
	kafkaScript(t, "start")
	require.NoError(t, <-produced)

	eventually(t, "every record in the file", func() bool { return allSeen(perPart, out) })
	p.signal(syscall.SIGTERM)
	require.Equal(t, 0, p.wait(), "consume flow:\n%s", lastLines(p.stderr.String(), 30))
	noCrash(t, p.stderr.String())
	rows := statsTable(t, p.stderr.String())
	assert.Equal(t, rows["src"][colIn], rows["src"][colAcks])
	assert.Zero(t, rows["src"][colFails])
	dups := checkSeq(t, perPart, out)
	t.Logf("%d records, %d lines, %d duplicates", 4*perPart, countLines(out), dups)
}

// A Kafka connector config that can never work is refused when the flow
// is created, by run and validate alike, naming the flow file, the
// connector and what to change; nothing moves. No broker is needed.
func TestKafkaConfigErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	fileSink := fmt.Sprintf("type = \"file\"\ncodec = \"json\"\nconfig = { path = %q, mode = \"write\" }", out)
	source := func(extra string) string {
		return "type = \"kafka_source\"\ncodec = \"json\"\nconfig = { brokers = \"127.0.0.1:1\", topics = \"t\", group_id = \"g\"" + extra + " }"
	}
	for _, c := range []struct{ name, src, dst, id, typ, msg string }{
		{"on_fail", source(`, on_fail = "drop"`), fileSink, "src", "kafka_source", `on_fail "drop": use "redeliver" or "skip"`},
		{"start_from", source(`, start_from = "middle"`), fileSink, "src", "kafka_source", `start_from "middle": use "earliest" or "latest"`},
		{"heartbeat", source(`, session_timeout_ms = 2000, heartbeat_ms = 2000`), fileSink, "src", "kafka_source", "heartbeat_ms (2000) must be above 0 and below session_timeout_ms (2000)"},
		{"no topics", "type = \"kafka_source\"\ncodec = \"json\"\nconfig = { brokers = \"127.0.0.1:1\", topics = \" , \", group_id = \"g\" }", fileSink, "src", "kafka_source", `topics " , " names nothing`},
		{"empty group", "type = \"kafka_source\"\ncodec = \"json\"\nconfig = { brokers = \"127.0.0.1:1\", topics = \"t\", group_id = \"\" }", fileSink, "src", "kafka_source", "group_id must not be empty"},
		{"sink timeout", metronome(5), "type = \"kafka_sink\"\ncodec = \"json\"\nconfig = { brokers = \"127.0.0.1:1\", topic = \"t\", send_timeout_ms = 60000 }", "dst", "kafka_sink", "send_timeout_ms 60000 must be between 100 and 8000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			refusedAtCreation(t, fmt.Sprintf(twoConnectors, "create", c.src, c.dst), c.id, c.typ, c.msg)
		})
	}
}

// kafkaIDs reads topic from the start until want distinct "id" fields were
// seen, and returns how many records that took (duplicates included).
func kafkaIDs(t testing.TB, addr, topic string, want int) (records int) {
	t.Helper()
	cl := kafkaClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	seen := map[int64]bool{}
	deadline := time.Now().Add(kafkaDeadline)
	for len(seen) < want {
		if time.Now().After(deadline) {
			t.Fatalf("topic %s: %d of %d ids after %s", topic, len(seen), want, kafkaDeadline)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			var ev struct{ ID *int64 }
			require.NoError(t, json.Unmarshal(r.Value, &ev), "record %q", r.Value)
			if ev.ID != nil { // kafkaCreate's records have none
				records++
				seen[*ev.ID] = true
			}
		})
	}
	for id := range seen {
		require.Less(t, id, int64(want), "an id that was never emitted")
	}
	return records
}

// kafka_sink while the broker is stopped and started again: the records it
// could not get confirmed are retried until the broker is back; the flow
// ends by itself with every event acked, and the topic holds every one.
func TestKafkaSinkBrokerRestart(t *testing.T) {
	const n = 6000
	addr := kafkaBroker(t)
	topic := kafkaTopic(t)
	cl := kafkaClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	kafkaCreate(t, cl, topic)
	path := writeFlow(t, t.TempDir(), "produce.toml", fmt.Sprintf(twoConnectors, "produce",
		fmt.Sprintf("type = \"metronome\"\nconfig = { interval_ms = 1, count = %d }", n),
		fmt.Sprintf("type = \"kafka_sink\"\ncodec = \"json\"\nconfig = { brokers = %q, topic = %q }", addr, topic)))
	p := startCtl(t, "run", "--drain-timeout", "0", path)
	counter := kafkaClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	eventually(t, "the sink's first records reach the topic", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		got += counter.PollFetches(ctx).NumRecords()
		return got > 500
	})
	kafkaScript(t, "stop")
	kafkaScript(t, "start")
	require.Equal(t, 0, p.wait(), "produce flow:\n%s", lastLines(p.stderr.String(), 30))
	noCrash(t, p.stderr.String())
	rows := statsTable(t, p.stderr.String())
	assert.Equal(t, row{n, n, 0, n, 0, 0}, rows["src"], "every tick acked, none failed")
	records := kafkaIDs(t, addr, topic, n)
	t.Logf("%d events, %d records (%d duplicates)", n, records, records-n)
}

// With no broker at the address, both connectors keep retrying and say
// which brokers do not answer; a signal then stops tremorctl, which exits
// 1 naming the connectors that never connected.
func TestKafkaNoBroker(t *testing.T) {
	addr := freeAddr(t)
	path := writeFlow(t, t.TempDir(), "nobroker.toml", fmt.Sprintf(twoConnectors, "nobroker",
		fmt.Sprintf("type = \"kafka_source\"\ncodec = \"json\"\nconfig = { brokers = %q, topics = \"t\", group_id = \"g\" }", addr),
		fmt.Sprintf("type = \"kafka_sink\"\ncodec = \"json\"\nconfig = { brokers = %q, topic = \"t\" }", addr)))
	p := startCtl(t, "run", path)
	for _, id := range []string{"src", "dst"} {
		p.waitLog(`"connector":"`+id+`"`, "connect failed", fmt.Sprintf(`no Kafka broker of brokers = \"%s\" answers`, addr))
	}
	p.signal(syscall.SIGTERM)
	stderr := p.stderr.String()
	assert.Equal(t, 1, p.wait(), "stderr:\n%s", lastLines(stderr, 20))
	stderr = p.stderr.String()
	assert.Contains(t, stderr, `connector "src" (type kafka_source): never connected`)
	assert.Contains(t, stderr, `connector "dst" (type kafka_sink): never connected`)
	noCrash(t, stderr)
	rows := statsTable(t, stderr)
	assert.Equal(t, uint64(0), rows["src"][colIn])
	assert.Equal(t, uint64(0), rows["dst"][colIn])
}

// kafka_source -> kafka_sink keeps each record's value, key and headers
// (the source's meta kafka.key and kafka.headers, read by the sink), and a
// keyed record lands on the partition Kafka's clients pick for its key.
func TestKafkaMetaRoundTrip(t *testing.T) {
	const n = 200
	addr := kafkaBroker(t)
	in, out := kafkaTopic(t), kafkaTopic(t)+"-out"
	cl := kafkaClient(t, addr)
	want := map[string]*kgo.Record{}
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: in, Key: []byte(fmt.Sprintf("key-%d", i)), Value: []byte(fmt.Sprintf(`{"i":%d}`, i)),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}, {Key: "bin", Value: []byte{0xff, byte(i)}}}}
		recs = append(recs, r)
		want[string(r.Key)] = r
	}
	ctx, cancel := context.WithTimeout(context.Background(), kafkaDeadline)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())

	path := writeFlow(t, t.TempDir(), "copy.toml", fmt.Sprintf(twoConnectors, "copy",
		fmt.Sprintf("type = \"kafka_source\"\ncodec = \"binary\"\nconfig = { brokers = %q, topics = %q, group_id = %q }", addr, in, "g-"+in),
		fmt.Sprintf("type = \"kafka_sink\"\ncodec = \"binary\"\nconfig = { brokers = %q, topic = %q }", addr, out)))
	p := startCtl(t, "run", path)
	reader := kafkaClient(t, addr, kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]*kgo.Record{}
	eventually(t, fmt.Sprintf("%d records in %s", n, out), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		reader.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got[string(r.Key)] = r })
		return len(got) >= n
	})
	p.signal(syscall.SIGTERM)
	require.Equal(t, 0, p.wait(), "copy flow:\n%s", lastLines(p.stderr.String(), 30))
	rows := statsTable(t, p.stderr.String())
	assert.Equal(t, row{n, n, 0, n, 0, 0}, rows["src"])

	require.Len(t, got, n)
	for key, w := range want {
		g := got[key]
		require.NotNil(t, g, "key %s", key)
		assert.Equal(t, string(w.Value), string(g.Value), "key %s", key)
		assert.Equal(t, w.Partition, g.Partition, "key %s: same partition as Kafka's hash of the key", key)
		sort.Slice(g.Headers, func(i, j int) bool { return g.Headers[i].Key < g.Headers[j].Key })
		assert.Equal(t, []kgo.RecordHeader{w.Headers[1], w.Headers[0]}, g.Headers, "key %s", key)
	}
}

// srcStat is the latest value of counter in the source "src"'s periodic
// stats lines (--stats-interval) of a running tremorctl.
func srcStat(p *ctlProc, counter string) uint64 {
	var v uint64
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == "stats" && m["connector"] == "src" {
			if f, ok := m[counter].(float64); ok {
				v = uint64(f)
			}
		}
	}
	return v
}

// A sink that fails every event (the C fault plugin): with on_fail =
// "redeliver" kafka_source offers the records again and again and never
// commits past them; with "skip" it commits past them once they failed.
func TestKafkaOnFail(t *testing.T) {
	const n = 50
	addr := kafkaBroker(t)
	plugins := faultPath(t)
	for _, mode := range []string{"redeliver", "skip"} {
		t.Run(mode, func(t *testing.T) {
			topic, group := kafkaTopic(t), "g-"+kafkaTopic(t)
			cl := kafkaClient(t, addr)
			var recs []*kgo.Record
			for i := 0; i < n; i++ {
				recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf(`{"i":%d}`, i))})
			}
			ctx, cancel := context.WithTimeout(context.Background(), kafkaDeadline)
			defer cancel()
			require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
			path := writeFlow(t, t.TempDir(), "fail.toml", fmt.Sprintf(twoConnectors, "fail",
				fmt.Sprintf("type = \"kafka_source\"\ncodec = \"json\"\nconfig = { brokers = %q, topics = %q, group_id = %q, on_fail = %q }", addr, topic, group, mode),
				"type = \"fault\"\ncodec = \"json\"\nconfig = { fail_at = \"send\" }"))
			p := startCtl(t, "run", "--plugin-path", plugins, "--stats-interval", "100ms", path)
			sum := func() (s int64) {
				for _, o := range committed(t, addr, group, topic) {
					if o > 0 {
						s += o
					}
				}
				return s
			}
			if mode == "redeliver" {
				eventually(t, "every record failed twice (offered again)", func() bool { return srcStat(p, "fails") >= 2*n })
				assert.Zero(t, sum(), "nothing committed past a failed record")
			} else {
				eventually(t, "the commits pass every failed record", func() bool { return sum() == n })
			}
			p.signal(syscall.SIGTERM)
			assert.Equal(t, 1, p.wait(), "events were failed back")
			noCrash(t, p.stderr.String())
			assert.Contains(t, p.stderr.String(), "events were failed back to their sources")
			rows := statsTable(t, p.stderr.String())
			assert.Zero(t, rows["src"][colAcks])
			if mode == "skip" {
				assert.Equal(t, uint64(n), rows["src"][colIn], "each record offered once")
				assert.Contains(t, p.stderr.String(), `on_fail = \"skip\"`)
			} else {
				assert.GreaterOrEqual(t, rows["src"][colIn], uint64(2*n), "records offered again")
			}
		})
	}
}
