package tests

// A builder for flow files, so that a test says which connectors it wires
// and how, instead of repeating the TOML around them:
//
//	newFlow("server").Batch(16).
//		Connector("http", Conn{Type: "http_server", Codec: "json", Config: cfg("url", addr)}).
//		Connector("file", fileSink(out, "json")).
//		Chain("http", "pass", "file").
//		TOML()
//
// The text has a fixed layout (one blank line between connectors and
// between sections, links back to back, no leading blank line), so tests
// that assert a line number of a flow file can rely on it.

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/flow"
)

// toml is text written into a flow file as it is: an inline table from
// cfg, or any value a test spells out itself.
type toml string

// cfg is the inline table { k1 = v1, k2 = v2, ... } of the key/value pairs
// given, in their order. A string value is quoted, a toml value written
// as it is, anything else with %v (numbers, booleans).
func cfg(kv ...any) toml {
	if len(kv)%2 != 0 {
		panic(fmt.Sprintf("cfg: odd number of arguments %q", kv))
	}
	parts := make([]string, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		parts = append(parts, fmt.Sprintf("%v = %s", kv[i], tomlValue(kv[i+1])))
	}
	return toml("{ " + strings.Join(parts, ", ") + " }")
}

func tomlValue(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case toml:
		return string(v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	default:
		return fmt.Sprint(v)
	}
}

// Conn is one [[connector]] table but its id. Empty fields are left out;
// Pre and Post are written when not nil, so []string{} writes an empty
// list (which turns a connector type's natural framing off).
type Conn struct {
	Type      string
	Codec     string
	Isolation string
	Pre       []string // preprocessors
	Post      []string // postprocessors
	Config    toml     // cfg(...)
	Reconnect toml     // cfg("initial_ms", 10, "max_ms", 40)
}

// Route is one [[pipeline.route]]: events whose Field compares (Op) to
// Value go to the pipeline's port To, or are discarded.
type Route struct {
	Field   string
	Op      string
	Value   any
	To      string
	Discard bool
}

type flowPipeline struct {
	id     string
	routes []Route
}

// flowBuilder collects a flow's parts in the order they are added, which
// is their order in the file.
type flowBuilder struct {
	name      string
	batch     int
	conns     []string // connector ids, in order
	byID      map[string]Conn
	pipelines []flowPipeline
	links     [][2]string
}

// newFlow starts a flow; name "" writes no name.
func newFlow(name string) *flowBuilder {
	return &flowBuilder{name: name, byID: map[string]Conn{}}
}

// Batch sets [flow] batch_size.
func (f *flowBuilder) Batch(n int) *flowBuilder { f.batch = n; return f }

// Connector adds a connector.
func (f *flowBuilder) Connector(id string, c Conn) *flowBuilder {
	if _, dup := f.byID[id]; dup {
		panic("flowBuilder: connector " + id + " added twice")
	}
	f.conns = append(f.conns, id)
	f.byID[id] = c
	return f
}

// Pipeline adds a pipeline with its routes.
func (f *flowBuilder) Pipeline(id string, routes ...Route) *flowBuilder {
	f.pipelines = append(f.pipelines, flowPipeline{id, routes})
	return f
}

// Link adds a link from an element (or "element/port") to another.
func (f *flowBuilder) Link(from, to string) *flowBuilder {
	f.links = append(f.links, [2]string{from, to})
	return f
}

// Chain is the usual source -> pipeline -> sink: it adds the pipeline
// (without routes) unless it was added already, and both links.
func (f *flowBuilder) Chain(from, pipeline, to string) *flowBuilder {
	if !slices.ContainsFunc(f.pipelines, func(p flowPipeline) bool { return p.id == pipeline }) {
		f.Pipeline(pipeline)
	}
	return f.Link(from, pipeline).Link(pipeline, to)
}

// TOML is the flow file's text.
func (f *flowBuilder) TOML() string {
	var sections []string
	var head []string
	if f.name != "" {
		head = append(head, fmt.Sprintf("name = %q", f.name))
	}
	if f.batch != 0 {
		head = append(head, fmt.Sprintf("batch_size = %d", f.batch))
	}
	if head != nil {
		sections = append(sections, "[flow]\n"+strings.Join(head, "\n")+"\n")
	}
	for _, id := range f.conns {
		sections = append(sections, connTOML(id, f.byID[id]))
	}
	var b strings.Builder
	for _, p := range f.pipelines {
		fmt.Fprintf(&b, "[[pipeline]]\nid = %q\n", p.id)
		for _, r := range p.routes {
			fmt.Fprintf(&b, "[[pipeline.route]]\nfield = %q\nop = %q\nvalue = %s\n", r.Field, r.Op, tomlValue(r.Value))
			if r.To != "" {
				fmt.Fprintf(&b, "to = %q\n", r.To)
			}
			if r.Discard {
				b.WriteString("discard = true\n")
			}
		}
	}
	if b.Len() > 0 {
		sections = append(sections, b.String())
	}
	b.Reset()
	for _, l := range f.links {
		fmt.Fprintf(&b, "[[link]]\nfrom = %q\nto = %q\n", l[0], l[1])
	}
	if b.Len() > 0 {
		sections = append(sections, b.String())
	}
	return strings.Join(sections, "\n")
}

func connTOML(id string, c Conn) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[[connector]]\nid = %q\n", id)
	for _, kv := range []struct{ key, val string }{
		{"type", c.Type}, {"codec", c.Codec}, {"isolation", c.Isolation},
	} {
		if kv.val != "" {
			fmt.Fprintf(&b, "%s = %q\n", kv.key, kv.val)
		}
	}
	if c.Pre != nil {
		fmt.Fprintf(&b, "preprocessors = %s\n", tomlValue(c.Pre))
	}
	if c.Post != nil {
		fmt.Fprintf(&b, "postprocessors = %s\n", tomlValue(c.Post))
	}
	if c.Config != "" {
		fmt.Fprintf(&b, "config = %s\n", c.Config)
	}
	if c.Reconnect != "" {
		fmt.Fprintf(&b, "reconnect = %s\n", c.Reconnect)
	}
	return b.String()
}

// lineFraming is the "lines" pre- or post-processor list: one event a line.
var lineFraming = []string{"lines"}

// fileSource reads path, one event a line.
func fileSource(path, codec string) Conn {
	return Conn{Type: "file", Codec: codec, Config: cfg("path", path)}
}

// fileSink writes (mode "write") every event to path as a line.
func fileSink(path, codec string) Conn {
	return Conn{Type: "file", Codec: codec, Config: cfg("path", path, "mode", "write")}
}

// tcpClient sends every event as a JSON line to addr.
func tcpClient(addr string) Conn {
	return Conn{Type: "tcp_client", Codec: "json", Post: lineFraming, Config: cfg("url", addr)}
}

// tcpServer takes JSON lines on addr.
func tcpServer(addr string) Conn {
	return Conn{Type: "tcp_server", Codec: "json", Pre: lineFraming, Config: cfg("url", addr)}
}

// metronomeConn ticks n times, one tick a millisecond (n 0: for ever).
func metronomeConn(n int) Conn {
	return Conn{Type: "metronome", Config: cfg("interval_ms", 1, "count", n)}
}

// benchSource generates JSON lines of about 80 bytes, endlessly as far as
// a test is concerned.
func benchSource() Conn {
	return Conn{Type: "bench_source", Codec: "json", Pre: lineFraming, Config: cfg("count", 1000000000, "size", 80)}
}

// metronomeEvery ticks for ever, one tick every intervalMs milliseconds.
func metronomeEvery(intervalMs int) Conn {
	return Conn{Type: "metronome", Config: cfg("interval_ms", intervalMs, "count", 0)}
}

// fileAppendSink appends (mode "append") every event to path as a line.
func fileAppendSink(path, codec string) Conn {
	return Conn{Type: "file", Codec: codec, Config: cfg("path", path, "mode", "append")}
}

// benchEvents generates count events of size bytes, with the bench
// source's own framing.
func benchEvents(codec string, count, size int) Conn {
	return Conn{Type: "bench_source", Codec: codec, Config: cfg("count", count, "size", size)}
}

// benchSink counts what it is sent (codec "": the type's own).
func benchSink(codec string) Conn {
	return Conn{Type: "bench_sink", Codec: codec}
}

// benchGoSink is the Go bench sink with the isolation given, not checking
// the events it is sent.
func benchGoSink(codec, isolation string) Conn {
	return Conn{Type: "bench_go_sink", Codec: codec, Isolation: isolation, Config: cfg("check", false)}
}

// reconnect sets the connector's reconnect backoff.
func (c Conn) reconnect(initialMs, maxMs int) Conn {
	c.Reconnect = cfg("initial_ms", initialMs, "max_ms", maxMs)
	return c
}

// The builder's layout, which tests that assert line numbers rely on, and
// a flow the host parses.
func TestFlowBuilderLayout(t *testing.T) {
	got := newFlow("f").Batch(8).
		Connector("in", Conn{Type: "tcp_server", Codec: "json", Pre: lineFraming, Config: cfg("url", "127.0.0.1:1")}).
		Connector("out", Conn{Type: "stdout", Codec: "binary", Isolation: "none", Post: []string{}, Config: cfg("stream", "stderr")}.reconnect(10, 40)).
		Pipeline("route", Route{Field: "seq", Op: "lt", Value: 3, Discard: true}, Route{Field: "ok", Op: "eq", Value: true, To: "tail"}).
		Chain("in", "route", "out").
		Link("route/tail", "out").
		TOML()
	want := `[flow]
name = "f"
batch_size = 8

[[connector]]
id = "in"
type = "tcp_server"
codec = "json"
preprocessors = ["lines"]
config = { url = "127.0.0.1:1" }

[[connector]]
id = "out"
type = "stdout"
codec = "binary"
isolation = "none"
postprocessors = []
config = { stream = "stderr" }
reconnect = { initial_ms = 10, max_ms = 40 }

[[pipeline]]
id = "route"
[[pipeline.route]]
field = "seq"
op = "lt"
value = 3
discard = true
[[pipeline.route]]
field = "ok"
op = "eq"
value = true
to = "tail"

[[link]]
from = "in"
to = "route"
[[link]]
from = "route"
to = "out"
[[link]]
from = "route/tail"
to = "out"
`
	require.Equal(t, want, got)
	f, err := flow.Parse("f.toml", []byte(got))
	require.NoError(t, err)
	assert.Len(t, f.Connectors, 2)
	assert.Len(t, f.Links, 3)
}
