package pdk

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	"tremorhost/pdk-go/pdktest"
)

var lib *pdktest.Lib

func TestMain(m *testing.M) {
	Register(testPlugin())
	if _, err := registered(); err != nil {
		panic(err)
	}
	lib = pdktest.FromDescriptor(descriptorPtr())
	resetSeen()
	os.Exit(m.Run())
}

func mk(t *testing.T, typ string, cfg map[string]any) *pdktest.Inst {
	t.Helper()
	in, r := lib.Create(typ, "alias-"+t.Name(), cfg)
	if r.Code != pdktest.OK {
		t.Fatalf("create %s: %v", typ, r)
	}
	t.Cleanup(in.Destroy)
	return in
}

func wantCode(t *testing.T, what string, r pdktest.Result, code int32, msgPart string) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("%s: got %v, want code %d (%s)", what, r, code, pdktest.CodeName(code))
	}
	if !strings.Contains(r.Msg, msgPart) {
		t.Fatalf("%s: message %q does not contain %q", what, r.Msg, msgPart)
	}
}

func TestDescriptor(t *testing.T) {
	info := lib.Info()
	if info.Name != "pdktest" || info.Version != "1.2.3" || info.SDK != SDKName || info.License != "Apache-2.0" {
		t.Fatalf("descriptor: %+v", info)
	}
	if info.ABIMajor != 1 || info.ABIMinor != 1 || info.StructSize == 0 {
		t.Fatalf("abi %d.%d size %d", info.ABIMajor, info.ABIMinor, info.StructSize)
	}
	if len(info.Connectors) != len(testPlugin().Connectors) {
		t.Fatalf("%d connectors", len(info.Connectors))
	}
	src := info.Connectors[0]
	if src.Name != "t_source" || src.Kinds != pdktest.KindSource || src.Payload != 0 || src.StructSize == 0 || src.VtableSize == 0 {
		t.Fatalf("t_source: %+v", src)
	}
	wantFields := []pdktest.FieldInfo{
		{Name: "name", Type: uint32(TypeString), Flags: pdktest.FieldRequired, Doc: "a name"},
		{Name: "count", Type: uint32(TypeUint), Default: "3", HasDefault: true},
		{Name: "size", Type: uint32(TypeUint), Default: "4", HasDefault: true},
		{Name: "neg", Type: uint32(TypeInt), Default: "-5", HasDefault: true},
		{Name: "ratio", Type: uint32(TypeFloat), Default: "0.5", HasDefault: true},
		{Name: "flag", Type: uint32(TypeBool), Default: "false", HasDefault: true},
		{Name: "token", Type: uint32(TypeString), Flags: pdktest.FieldSecret},
	}
	if !reflect.DeepEqual(src.Fields, wantFields) {
		t.Fatalf("fields:\n got %+v\nwant %+v", src.Fields, wantFields)
	}
	hooks := func(c pdktest.ConnectorInfo, names ...string) {
		t.Helper()
		for name, present := range c.Hooks {
			want := false
			for _, n := range names {
				want = want || n == name
			}
			if present != want {
				t.Errorf("%s: %s present=%v, want %v", c.Name, name, present, want)
			}
		}
	}
	steps := []string{"on_create", "on_destroy", "on_connect", "on_start", "on_pause", "on_resume", "on_drain", "on_stop"}
	hooks(src, append(steps, "on_pull", "on_ack", "on_fail")...)
	hooks(info.Connectors[1], append(steps, "on_send")...)
	hooks(info.Connectors[2], append(steps, "on_pull", "on_send")...)
	if info.Connectors[3].Payload != 1 {
		t.Errorf("t_struct payload %d", info.Connectors[3].Payload)
	}
	// The entry point hands out the same, stable pointer every time.
	if descriptorPtr() != descriptorPtr() {
		t.Fatal("descriptor pointer changes")
	}
}

func TestConfigReading(t *testing.T) {
	resetSeen()
	in := mk(t, "t_source", map[string]any{
		"name": "hello", "count": uint64(3), "size": uint64(4), "neg": int64(-5), "ratio": 0.25, "flag": true, "token": "s3cret",
	})
	seen.Lock()
	got, alias := seen.cfg, seen.alias
	seen.Unlock()
	// pdktest scribbled over the config right after on_create: these are copies.
	want := map[string]any{
		"name": "hello", "count": uint64(3), "size": uint64(4), "neg": int64(-5), "ratio": 0.25, "flag": true,
		"token": "s3cret", "count_as_int": int64(3), "neg_as_uint_ok": false, "keys": "count,flag,name,neg,ratio,size,token",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("config:\n got %#v\nwant %#v", got, want)
	}
	if alias != "alias-"+t.Name() {
		t.Fatalf("alias %q", alias)
	}
	_ = in
}

func TestConfigErrors(t *testing.T) {
	// New returning ConfigError -> TREMOR_ERR_CONFIG with its text.
	_, r := lib.Create("t_source", "x", map[string]any{"name": "n", "size": uint64(5000)})
	wantCode(t, "size 5000", r, pdktest.ErrConfig, "size 5000 is too large")
	// RequireString on a missing key.
	_, r = lib.Create("t_panic", "x", map[string]any{})
	wantCode(t, "missing where", r, pdktest.ErrConfig, `missing required field "where"`)

	// Broken documents: the SDK checks every span and refuses with ERR_INVALID.
	var d pdktest.Doc
	d.Add(map[string]any{"name": "abc"})
	bad := append([]pdktest.Node{}, d.Nodes...)
	bad[1].As = 1000 // string offset outside the arena
	_, r = lib.CreateDoc("t_source", "x", bad, d.Arena, pdktest.CreateOptions{})
	wantCode(t, "string span", r, pdktest.ErrInvalid, "outside")
	bad = append([]pdktest.Node{}, d.Nodes...)
	bad[0].As = 5 // more descendants than nodes
	_, r = lib.CreateDoc("t_source", "x", bad, d.Arena, pdktest.CreateOptions{})
	wantCode(t, "descendants", r, pdktest.ErrInvalid, "descendants")
	bad = append([]pdktest.Node{}, d.Nodes...)
	bad[1].KeyLen = 1 << 30
	_, r = lib.CreateDoc("t_source", "x", bad, d.Arena, pdktest.CreateOptions{})
	wantCode(t, "key span", r, pdktest.ErrInvalid, "key span")
	var arr pdktest.Doc
	arr.Add([]any{"x"})
	_, r = lib.CreateDoc("t_source", "x", arr.Nodes, arr.Arena, pdktest.CreateOptions{})
	wantCode(t, "array root", r, pdktest.ErrInvalid, "not an object")
	_, r = lib.CreateDoc("t_source", "x", d.Nodes, d.Arena, pdktest.CreateOptions{ArgsSize: 8})
	wantCode(t, "struct_size", r, pdktest.ErrInvalid, "struct_size 8")
	if n := liveInstances(); n != 0 {
		t.Fatalf("%d instances leaked by failed creates", n)
	}
}

func TestPullFillsRoomAndKeepsWhatDoesNotFit(t *testing.T) {
	in := mk(t, "t_source", map[string]any{"name": "n", "count": uint64(5), "size": uint64(4)})
	// Room for 2 events: OK with 2.
	pr := in.Pull(pdktest.Room{Events: 2, Values: 0, Bytes: 100}, 0)
	if pr.Code != pdktest.OK || len(pr.Events) != 2 || pr.Violation != "" {
		t.Fatalf("pull 1: %+v", pr)
	}
	if string(pr.Events[0].Payload) != "aaaa" || pr.Events[1].ID != 1 || pr.Events[1].Stream != 7 {
		t.Fatalf("events: %+v", pr.Events)
	}
	// 10 bytes: one 4-byte event fits after another, the third does not.
	pr = in.Pull(pdktest.Room{Events: 10, Bytes: 10}, 0)
	if pr.Code != pdktest.OK || len(pr.Events) != 2 || pr.Events[0].ID != 2 || pr.BytesLen != 8 || pr.BytesNeeded != 0 {
		t.Fatalf("pull 2: %+v", pr)
	}
	// 3 bytes: not even the first fits -> NO_ROOM and bytes_needed.
	pr = in.Pull(pdktest.Room{Events: 10, Bytes: 3}, 0)
	if pr.Code != pdktest.ErrNoRoom || len(pr.Events) != 0 || pr.BytesNeeded != 4 {
		t.Fatalf("pull 3: %+v", pr)
	}
	// The refused event was kept: it comes now, with END.
	pr = in.Pull(pdktest.Room{Events: 10, Bytes: 4}, 0)
	if pr.Code != pdktest.End || len(pr.Events) != 1 || pr.Events[0].ID != 4 || string(pr.Events[0].Payload) != "eeee" {
		t.Fatalf("pull 4: %+v", pr)
	}
	// No event room at all.
	in2 := mk(t, "t_source", map[string]any{"name": "n"})
	pr = in2.Pull(pdktest.Room{Events: 0, Bytes: 100}, 0)
	if pr.Code != pdktest.ErrNoRoom {
		t.Fatalf("pull with events_cap 0: %+v", pr)
	}
}

func TestAckFail(t *testing.T) {
	resetSeen()
	in := mk(t, "t_source", map[string]any{"name": "n"})
	if r := in.Ack([]uint64{1, 2, 3}); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	if r := in.Fail([]uint64{4}); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	wantCode(t, "fail 666", in.Fail([]uint64{666}), pdktest.ErrFailed, "cannot replay 666")
	seen.Lock()
	defer seen.Unlock()
	if !reflect.DeepEqual(seen.acks, [][]uint64{{1, 2, 3}}) || !reflect.DeepEqual(seen.fails, [][]uint64{{4}, {666}}) {
		t.Fatalf("acks %v fails %v", seen.acks, seen.fails)
	}
}

func TestSendOutcomes(t *testing.T) {
	resetSeen()
	in := mk(t, "t_sink", nil)
	evs := func(ps ...string) []pdktest.Event {
		var out []pdktest.Event
		for i, p := range ps {
			out = append(out, pdktest.Event{ID: uint64(i), Payload: []byte(p)})
		}
		return out
	}
	outs, r := in.Send(evs("a", "retry", "fail", "bogus", ""))
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	want := []uint8{pdktest.OutcomeOK, pdktest.OutcomeRetry, pdktest.OutcomeFailed, pdktest.OutcomeFailed, pdktest.OutcomeOK}
	if !bytes.Equal(outs, want) {
		t.Fatalf("outcomes %v, want %v (an unknown outcome becomes FAILED)", outs, want)
	}
	outs, r = in.Send(evs("a", "disc", "b"))
	wantCode(t, "disc", r, pdktest.ErrDisconnected, "disconnected")
	if !bytes.Equal(outs, []uint8{pdktest.OutcomeOK, pdktest.OutcomeFailed, pdktest.OutcomeFailed}) {
		t.Fatalf("outcomes after disconnect %v", outs)
	}
	_, r = in.Send(evs("boom"))
	wantCode(t, "boom", r, pdktest.ErrFailed, "sink broke")
	if _, r = in.Send(nil); r.Code != pdktest.OK {
		t.Fatalf("empty batch: %v", r)
	}
	seen.Lock()
	defer seen.Unlock()
	if strings.Join(seen.sent, ",") != "a,retry,fail,bogus,,a,disc,boom" {
		t.Fatalf("sent %q", seen.sent)
	}
}

func TestSendRefusesBrokenBatch(t *testing.T) {
	resetSeen()
	in := mk(t, "t_sink", nil)
	arena := []byte("hello")
	cases := []struct {
		name string
		ev   pdktest.RawEvent
		size uint32
		msg  string
	}{
		{"payload past arena", pdktest.RawEvent{Payload: pdktest.Span{Offset: 3, Len: 3}}, 0, "outside the 5-byte arena"},
		{"offset overflow", pdktest.RawEvent{Payload: pdktest.Span{Offset: ^uint64(0), Len: 2}}, 0, "outside"},
		{"unknown flag", pdktest.RawEvent{Flags: 0x80, Payload: pdktest.Span{Len: 1}}, 0, "unknown flags"},
		{"structured without nodes", pdktest.RawEvent{Flags: pdktest.FlagStructured, Payload: pdktest.Span{Len: 1}}, 0, "value nodes"},
		{"meta without nodes", pdktest.RawEvent{Payload: pdktest.Span{Len: 1}, Meta: pdktest.Span{Len: 1}}, 0, "meta"},
		{"old struct_size", pdktest.RawEvent{Payload: pdktest.Span{Len: 1}}, 16, "struct_size 16"},
	}
	for _, c := range cases {
		_, r := in.SendRaw([]pdktest.RawEvent{c.ev}, nil, arena, c.size)
		wantCode(t, c.name, r, pdktest.ErrInvalid, c.msg)
	}
	seen.Lock()
	defer seen.Unlock()
	if len(seen.sent) != 0 {
		t.Fatalf("Send was called with a broken batch: %q", seen.sent)
	}
}

func TestStructuredRoundTrip(t *testing.T) {
	resetSeen()
	in := mk(t, "t_struct", nil)
	pr := in.Pull(pdktest.Room{Events: 4, Values: 3, Bytes: 100}, 0)
	// 14 nodes of value and 2 of meta.
	if pr.Code != pdktest.ErrNoRoom || pr.ValuesNeeded != 16 || pr.BytesNeeded == 0 {
		t.Fatalf("small room: %+v", pr)
	}
	pr = in.Pull(pdktest.Room{Events: 4, Values: 64, Bytes: 256}, 0)
	if pr.Code != pdktest.OK || len(pr.Events) != 1 || pr.Violation != "" {
		t.Fatalf("pull: %+v", pr)
	}
	ev := pr.Events[0]
	if ev.Flags != pdktest.FlagStructured || ev.Port != 1 || ev.IngestNs != 42 || ev.ID != 1 {
		t.Fatalf("event %+v", ev)
	}
	if !reflect.DeepEqual(ev.Value, structValue) || !reflect.DeepEqual(ev.Meta, map[string]any{"k": "v"}) {
		t.Fatalf("value %#v meta %#v", ev.Value, ev.Meta)
	}
	if pr = in.Pull(pdktest.Room{Events: 4, Values: 64, Bytes: 256}, 0); pr.Code != pdktest.End {
		t.Fatalf("second pull %+v", pr)
	}
	outs, r := in.Send([]pdktest.Event{{ID: 1, Flags: pdktest.FlagStructured, Value: structValue, Meta: map[string]any{"m": int64(1)}}})
	if r.Code != pdktest.OK || outs[0] != pdktest.OutcomeOK {
		t.Fatalf("send %v %v", outs, r)
	}
	seen.Lock()
	defer seen.Unlock()
	if !reflect.DeepEqual(seen.values, []any{structValue}) || !reflect.DeepEqual(seen.metas, []any{map[string]any{"m": int64(1)}}) {
		t.Fatalf("received %#v / %#v", seen.values, seen.metas)
	}
}

// Event.EndStream sets TREMOR_EVENT_END_STREAM (and nothing else); a sink
// reads it back with Batch.EndStream.
func TestEndStream(t *testing.T) {
	resetSeen()
	in := mk(t, "t_stream", nil)
	pr := in.Pull(pdktest.Room{Events: 4, Bytes: 64}, 0)
	if pr.Code != pdktest.OK || pr.Violation != "" || len(pr.Events) != 2 {
		t.Fatalf("pull: %+v", pr)
	}
	first, last := pr.Events[0], pr.Events[1]
	if first.Flags != 0 || string(first.Payload) != "no newline" || first.Stream != 3 {
		t.Fatalf("first event %+v", first)
	}
	if last.Flags != pdktest.FlagEndStream || len(last.Payload) != 0 || last.Stream != 3 || last.ID != 2 {
		t.Fatalf("end-of-stream event %+v", last)
	}
	outs, r := in.Send([]pdktest.Event{{ID: 1, Payload: []byte("a")}, {ID: 2, Flags: pdktest.FlagEndStream}})
	if r.Code != pdktest.OK || !reflect.DeepEqual(outs, []uint8{0, 0}) {
		t.Fatalf("send %v %v", outs, r)
	}
	seen.Lock()
	defer seen.Unlock()
	if !reflect.DeepEqual(seen.ends, []bool{false, true}) || !reflect.DeepEqual(seen.sent, []string{"a", ""}) {
		t.Fatalf("sink saw %q ends %v", seen.sent, seen.ends)
	}
}

func TestPanicPoisonsInstance(t *testing.T) {
	resetSeen()
	before := liveInstances()
	in, r := lib.Create("t_panic", "p1", map[string]any{"where": "pull"})
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	if r := in.Connect(1); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	pr := in.Pull(pdktest.Room{Events: 4, Bytes: 64}, 0)
	wantCode(t, "pull", pr.Result, pdktest.ErrPanic, "panic in on_pull: boom in Pull")
	if pr.EventsLen != 0 {
		t.Fatalf("a panicking pull published %d events", pr.EventsLen)
	}
	logs := in.Logs()
	// The message at error level, without a Go stack; the stack at debug.
	if len(logs) < 2 || logs[0].Level != int32(LevelError) || !strings.Contains(logs[0].Msg, "boom in Pull") || strings.Contains(logs[0].Msg, "goroutine") ||
		logs[1].Level != int32(LevelDebug) || !strings.Contains(logs[1].Msg, "goroutine") {
		t.Fatalf("panic log: %+v", logs)
	}
	// Poisoned: every later hook but destroy answers ERR_PANIC.
	wantCode(t, "connect after panic", in.Connect(2), pdktest.ErrPanic, "unusable after a panic: panic in on_pull")
	wantCode(t, "pull after panic", in.Pull(pdktest.Room{Events: 4, Bytes: 64}, 0).Result, pdktest.ErrPanic, "unusable")
	_, r = in.Send([]pdktest.Event{{Payload: []byte("x")}})
	wantCode(t, "send after panic", r, pdktest.ErrPanic, "unusable")
	wantCode(t, "stop after panic", in.Stop(), pdktest.ErrPanic, "unusable")
	// Destroy still releases it (and still closes the connector).
	in.Destroy()
	if n := liveInstances(); n != before {
		t.Fatalf("%d instances after destroy, want %d", n, before)
	}
	seen.Lock()
	closes := seen.closes["p1"]
	seen.Unlock()
	if closes != 1 {
		t.Fatalf("Close called %d times", closes)
	}
}

func TestPanicInRuntimeError(t *testing.T) {
	in := mk(t, "t_panic", map[string]any{"where": "connect"})
	wantCode(t, "connect", in.Connect(1), pdktest.ErrPanic, "assignment to entry in nil map")
	wantCode(t, "again", in.Connect(2), pdktest.ErrPanic, "unusable")
}

func TestPanicInNew(t *testing.T) {
	before := liveInstances()
	_, r := lib.Create("t_panic", "x", map[string]any{"where": "new"})
	wantCode(t, "create", r, pdktest.ErrPanic, "panic in on_create: boom in New")
	if liveInstances() != before {
		t.Fatal("a panicking New left an instance")
	}
}

func TestPanicInCloseAndGoroutine(t *testing.T) {
	in := mk(t, "t_panic", map[string]any{"where": "close"})
	wantCode(t, "stop", in.Stop(), pdktest.ErrPanic, "panic in Close (on_stop): boom in Close")
	wantCode(t, "connect after a panic in Close", in.Connect(1), pdktest.ErrPanic, "unusable after a panic: panic in Close (on_stop)")

	g := mk(t, "t_panic", map[string]any{"where": "goroutine"})
	if r := g.Start(); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	var r pdktest.Result
	waitUntil(t, "ERR_PANIC after a panic in Host.Go (the instance poisoned)", func() bool {
		r = g.Connect(1)
		return r.Code == pdktest.ErrPanic
	})
	if !strings.Contains(r.Msg, "boom in goroutine") {
		t.Fatal(r)
	}
}

func TestStaleAndUnknownHandles(t *testing.T) {
	in, r := lib.Create("t_sink", "stale", nil)
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	h := in.Handle()
	in.Destroy()
	wantCode(t, "connect after destroy", in.Connect(1), pdktest.ErrInvalid, "unknown or destroyed instance handle")
	_, r = in.Send([]pdktest.Event{{Payload: []byte("x")}})
	wantCode(t, "send after destroy", r, pdktest.ErrInvalid, "destroyed")
	in.Destroy() // twice: ignored
	for _, bogus := range []uintptr{0, h + 1000, 0xdeadbeef, ^uintptr(0)} {
		x := in.WithHandle(bogus)
		wantCode(t, "bogus handle", x.Connect(1), pdktest.ErrInvalid, "unknown")
		_, r := x.Send([]pdktest.Event{{Payload: []byte("x")}})
		wantCode(t, "bogus send", r, pdktest.ErrInvalid, "unknown")
		x.Destroy()
	}
	// A sink that does not implement Sender is refused at create.
	_, r = lib.Create("t_nosender", "x", nil)
	wantCode(t, "no Sender", r, pdktest.ErrFailed, "does not implement pdk.Sender")
}

func TestConnectAnswersAndErrorBuffer(t *testing.T) {
	in := mk(t, "t_errors", nil)
	// A RETRY says why not yet: the error's text.
	if r := in.Connect(1); r.Code != pdktest.Retry || r.Msg != "dial: not ready yet" {
		t.Fatalf("attempt 1: %v", r)
	}
	wantCode(t, "attempt 2", in.Connect(2), pdktest.ErrConfig, `bad url "x"`)
	in.ErrCap = 11 // an odd cap in the middle of a 2-byte rune
	r := in.Connect(3)
	if r.Code != pdktest.ErrFailed || len(r.Msg) != 10 || !utf8.ValidString(r.Msg) {
		t.Fatalf("truncated message: %v (len %d)", r, len(r.Msg))
	}
	in.ErrCap = 0
	if r := in.Connect(3); r.Code != pdktest.ErrFailed || r.Msg != "" {
		t.Fatalf("cap 0: %v", r)
	}
	in.ErrCap = 1024
	wantCode(t, "attempt 4", in.Connect(4), pdktest.ErrFailed, "which this hook cannot answer")
	wantCode(t, "attempt 5", in.Connect(5), pdktest.ErrDisconnected, "disconnected")
	if r := in.Connect(6); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	wantCode(t, "drain", in.Drain(), pdktest.ErrUnsupported, "unsupported")
	if r := in.Pause(); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	wantCode(t, "resume", in.Resume(), pdktest.ErrFailed, "cannot resume")
	if r := in.Start(); r.Code != pdktest.OK { // no Starter: nothing to do
		t.Fatal(r)
	}
}

func TestStopClosesOnceAndRefusesLaterHooks(t *testing.T) {
	resetSeen()
	in, r := lib.Create("t_sink", "stopper", nil)
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	if r := in.Stop(); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	_, r = in.Send([]pdktest.Event{{Payload: []byte("x")}})
	wantCode(t, "send after stop", r, pdktest.ErrInvalid, "already stopped")
	in.Destroy()
	// Destroy without stop closes too.
	in2, _ := lib.Create("t_sink", "destroyer", nil)
	in2.Destroy()
	seen.Lock()
	defer seen.Unlock()
	if seen.closes["stopper"] != 1 || seen.closes["destroyer"] != 1 {
		t.Fatalf("closes %v", seen.closes)
	}
}

func TestNoLogAfterDestroy(t *testing.T) {
	loggerDestroyed.Store(false)
	loggerTriesAfter.Store(0)
	loggerLiveAfter.Store(0)
	before := pdktest.DeadCtxLogs()
	in, r := lib.Create("t_logger", "logger", nil)
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	in.Start()
	waitUntil(t, "a log line while the instance lived", func() bool { return len(in.Logs()) > 0 })
	in.Destroy()
	loggerDestroyed.Store(true)
	// The goroutine goes on logging: wait until it tried.
	waitUntil(t, fmt.Sprintf("%d log calls from the goroutine after destroy", loggerTries), func() bool {
		return loggerTriesAfter.Load() >= loggerTries
	})
	if n := pdktest.DeadCtxLogs() - before; n != 0 {
		t.Fatalf("%d log calls made after on_destroy reached the host", n)
	}
	if n := loggerLiveAfter.Load(); n != 0 {
		t.Fatalf("the Host said it was alive at %d of %d log calls after on_destroy", n, loggerTries)
	}
}

// waitUntil polls cond until it holds, failing the test after 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPipeInProcess(t *testing.T) {
	resetSeen()
	src := mk(t, "t_source", map[string]any{"name": "n", "count": uint64(50), "size": uint64(3)})
	sink := mk(t, "t_sink", nil)
	st := pdktest.Pipe(src, sink, pdktest.Room{Events: 8, Bytes: 64}, 0, 0, 0)
	if st.Events != 50 || st.OK != 50 || st.PullRC != pdktest.End || st.Err != "" || st.Pulls != 7 {
		t.Fatalf("pipe: %+v", st)
	}
}

func TestRegisterValidation(t *testing.T) {
	newc := New(func(Config, Host) (Connector, error) { return nil, nil })
	newSrc := New(func(Config, Host) (*tStream, error) { return nil, nil })
	ok := ConnectorType{Name: "c", Kinds: Source, New: newSrc}
	cases := map[string]Plugin{
		"plugin name is empty":                {Version: "1", Connectors: []ConnectorType{ok}},
		"version is empty":                    {Name: "p", Connectors: []ConnectorType{ok}},
		"no connector types":                  {Name: "p", Version: "1"},
		`connector "c" declared twice`:        {Name: "p", Version: "1", Connectors: []ConnectorType{ok, ok}},
		"Kinds must be":                       {Name: "p", Version: "1", Connectors: []ConnectorType{{Name: "c", New: newc}}},
		"New is missing":                      {Name: "p", Version: "1", Connectors: []ConnectorType{{Name: "c", Kinds: Sink}}},
		"returns the interface pdk.Connector": {Name: "p", Version: "1", Connectors: []ConnectorType{{Name: "c", Kinds: Source, New: newc}}},
		"not valid JSON": {Name: "p", Version: "1", Connectors: []ConnectorType{{Name: "c", Kinds: Sink, New: newc,
			Fields: []Field{UintField("n", Default("12x"))}}}},
		`field "n" declared twice`: {Name: "p", Version: "1", Connectors: []ConnectorType{{Name: "c", Kinds: Sink, New: newc,
			Fields: []Field{UintField("n"), StringField("n")}}}},
		"unknown type": {Name: "p", Version: "1", Connectors: []ConnectorType{{Name: "c", Kinds: Sink, New: newc,
			Fields: []Field{{Name: "n", Type: 42}}}}},
		"NUL byte":      {Name: "p\x00", Version: "1", Connectors: []ConnectorType{ok}},
		"at most 32":    {Name: "p", Version: "1", Connectors: make([]ConnectorType, 33)},
		"cannot have a": {Name: "p", Version: "1", Connectors: []ConnectorType{{Name: "c", Kinds: Sink, New: newc, Fields: []Field{UintField("n", Required, Default("1"))}}}},
	}
	for want, p := range cases {
		err := validatePlugin(&p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v", want, err)
		}
	}
	p := testPlugin()
	if err := validatePlugin(&p); err != nil {
		t.Fatal(err)
	}
	// A second Register is refused (recorded, not a panic), and the
	// descriptor then says why and offers no connectors.
	saved, savedWarn := registry.plugin, warn
	var warned error
	warn = func(err error) { warned = err }
	Register(testPlugin())
	_, err := registered()
	info := pdktest.FromDescriptor(unsafe.Pointer(buildDescriptor())).Info()
	registry.Lock()
	registry.plugin, registry.err = saved, nil
	registry.Unlock()
	warn = savedWarn
	if err == nil || !strings.Contains(err.Error(), "more than once") || warned != err {
		t.Fatalf("second Register: %v (warned %v)", err, warned)
	}
	if len(info.Connectors) != 0 || !strings.Contains(info.Description, "more than once") || info.SDK != SDKName || info.Name == "" {
		t.Fatalf("descriptor of a broken registration: %+v", info)
	}
}

func TestConfigGetters(t *testing.T) {
	c := NewConfig(map[string]any{"s": "x", "i": -1, "u": uint64(1 << 63), "f": 2.5, "b": true})
	if v, ok := c.Int("i"); !ok || v != -1 {
		t.Error("Int")
	}
	if _, ok := c.Uint("i"); ok {
		t.Error("Uint of a negative")
	}
	if _, ok := c.Int("u"); ok {
		t.Error("Int of 1<<63")
	}
	if v, ok := c.Float("u"); !ok || v != float64(uint64(1)<<63) {
		t.Error("Float of uint")
	}
	if c.StringOr("missing", "d") != "d" || c.StringOr("i", "d") != "d" || c.BoolOr("b", false) != true || c.FloatOr("f", 0) != 2.5 {
		t.Error("Or getters")
	}
	if _, err := c.RequireString("i"); !IsConfigError(err) {
		t.Error("RequireString of an int")
	}
	if v, err := c.OptionalUint("u", 7); err != nil || v != 1<<63 {
		t.Errorf("OptionalUint present: %v %v", v, err)
	}
	if v, err := c.OptionalUint("missing", 7); err != nil || v != 7 {
		t.Errorf("OptionalUint absent: %v %v", v, err)
	}
	for _, key := range []string{"s", "i", "f"} {
		if _, err := c.OptionalUint(key, 7); !IsConfigError(err) || !strings.Contains(err.Error(), `"`+key+`"`) {
			t.Errorf("OptionalUint of %s: %v", key, err)
		}
	}
}
