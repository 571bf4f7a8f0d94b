package flow

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const validFlow = `
[flow]
name = "demo"
batch_size = 64

[[connector]]
id = "ticks"
type = "metronome"
[connector.config]
interval_ms = 10
count = 5

[[connector]]
id = "out-file"
type = "file"
codec = "json"
postprocessors = ["lines", { name = "length-prefixed", max_length = 1024 }]
[connector.config]
path = "/tmp/out.json"
mode = "write"
[connector.reconnect]
initial_ms = 50
max_ms = 1000
max_attempts = 3

[[pipeline]]
id = "route"
[[pipeline.route]]
field = "id"
op = "gt"
value = 3
to = "late"
[[pipeline.route]]
field = "debug"
op = "exists"
discard = true

[[link]]
from = "ticks"
to = "route"
[[link]]
from = "route/out"
to = "out-file"
[[link]]
from = "route/late"
to = "out-file/in"
`

func TestParseCPUs(t *testing.T) {
	f, err := Parse("demo.toml", []byte(strings.Replace(validFlow, "batch_size = 64", "batch_size = 64\ncpus = [3, 1]", 1)))
	require.NoError(t, err)
	assert.Equal(t, []int{3, 1}, f.CPUs, "in the order given")
	assert.False(t, f.AutoCPUs)

	f, err = Parse("demo.toml", []byte(strings.Replace(validFlow, "batch_size = 64", "batch_size = 64\ncpus = \"auto\"", 1)))
	require.NoError(t, err)
	assert.True(t, f.AutoCPUs)
	assert.Nil(t, f.CPUs, "chosen when the flow starts")
}

func TestParseValidFlow(t *testing.T) {
	f, err := Parse("demo.toml", []byte(validFlow))
	require.NoError(t, err)
	assert.Equal(t, "demo", f.Name)
	assert.Equal(t, 64, f.BatchSize)
	assert.Nil(t, f.CPUs, "cpus not set: the kernel places the flow")
	require.Len(t, f.Connectors, 2)
	assert.Equal(t, "metronome", f.Connectors[0].Type)
	assert.Equal(t, "auto", f.Connectors[0].Isolation)
	assert.Equal(t, int64(10), f.Connectors[0].Config["interval_ms"])
	assert.Equal(t, Reconnect{InitialMs: DefaultReconnectInitial, MaxMs: DefaultReconnectMax}, f.Connectors[0].Reconnect)
	assert.Equal(t, Reconnect{InitialMs: 50, MaxMs: 1000, MaxAttempts: 3}, f.Connectors[1].Reconnect)
	assert.Equal(t, []Processor{
		{Name: "lines", Config: map[string]any{}},
		{Name: "length-prefixed", Config: map[string]any{"max_length": int64(1024)}},
	}, f.Connectors[1].Postprocessors)
	require.Len(t, f.Pipelines, 1)
	assert.Equal(t, []Route{
		{Field: "id", Op: "gt", Value: int64(3), To: "late"},
		{Field: "debug", Op: "exists", Discard: true},
	}, f.Pipelines[0].Routes)
	assert.Equal(t, []Link{
		{From: Endpoint{"ticks", "out"}, To: Endpoint{"route", "in"}, Index: 0},
		{From: Endpoint{"route", "out"}, To: Endpoint{"out-file", "in"}, Index: 1},
		{From: Endpoint{"route", "late"}, To: Endpoint{"out-file", "in"}, Index: 2},
	}, f.Links)
}

func TestParseDefaults(t *testing.T) {
	f, err := Parse("/flows/minimal.toml", []byte("[[connector]]\nid = \"a\"\ntype = \"metronome\"\n"))
	require.NoError(t, err)
	assert.Equal(t, "minimal", f.Name)
	// Posted without a name, the label "(POST /api/flows)" makes none.
	_, err = ParsePosted("(POST /api/flows)", []byte("[[connector]]\nid = \"a\"\ntype = \"metronome\"\n"))
	assert.ErrorContains(t, err, `the flow has no name and its file's name "flows)" does not make one: give [flow] name = "..."`)
	assert.Equal(t, DefaultBatchSize, f.BatchSize)
	assert.NotNil(t, f.Connectors[0].Config)
}

// Each bad flow is the valid one with one edit; the error must name the
// file, the line of the offending key and the key.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		line     int
		key      string
		msg      string
	}{
		{"toml syntax", `count = 5`, `count = = 5`, 11, "connector[0].config.count", "expected value"},
		{"unknown key", `codec = "json"`, "codec = \"json\"\ncodex = 1", 17, "connector[1].codex", "unknown key"},
		{"unknown table", "[[link]]", "[[links]]\nfrom = \"x\"\n[[link]]", 38, "links", "unknown key; expected one of flow, connector, pipeline, link"},
		{"wrong type", `batch_size = 64`, `batch_size = "big"`, 4, "flow.batch_size", "expected an integer, got a string"},
		{"batch size range", `batch_size = 64`, `batch_size = 0`, 4, "flow.batch_size", "between 1 and"},
		{"cpus not a list", `batch_size = 64`, "batch_size = 64\ncpus = 1", 5, "flow.cpus", `expected "auto" or a non-empty list of CPU numbers like [0, 1], got an integer`},
		{"name with a slash", `name = "demo"`, `name = "a/b"`, 3, "flow.name", `"a/b" holds '/': a flow name is letters, digits`},
		{"name of dots", `name = "demo"`, `name = ".."`, 3, "flow.name", `".." starts with '.'`},
		{"name too long", `name = "demo"`, `name = "` + strings.Repeat("n", 129) + `"`, 3, "flow.name", "is longer than 128 bytes"},
		{"cpus another word", `batch_size = 64`, "batch_size = 64\ncpus = \"all\"", 5, "flow.cpus", `expected "auto" or a non-empty list of CPU numbers like [0, 1], got a string`},
		{"cpus empty", `batch_size = 64`, "batch_size = 64\ncpus = []", 5, "flow.cpus", "non-empty list"},
		{"cpus not numbers", `batch_size = 64`, "batch_size = 64\ncpus = [0, \"1\"]", 5, "flow.cpus[1]", "expected a CPU number, got a string"},
		{"cpus negative", `batch_size = 64`, "batch_size = 64\ncpus = [-1]", 5, "flow.cpus[0]", "CPU -1 is out of range (0 to 1023)"},
		{"cpus twice", `batch_size = 64`, "batch_size = 64\ncpus = [1, 0, 1]", 5, "flow.cpus[2]", "CPU 1 is listed twice"},
		{"missing type", "type = \"metronome\"\n", "", 6, "connector[0].type", "missing connector type"},
		{"duplicate id", `id = "route"`, `id = "ticks"`, 27, "pipeline[0].id", "already used by a connector"},
		{"bad id", `id = "ticks"`, `id = "ti cks"`, 7, "connector[0].id", "may only use"},
		{"bad op", `op = "gt"`, `op = "bigger"`, 30, "pipeline[0].route[0].op", "expected one of eq, ne"},
		{"missing value", "value = 3\n", "", 28, "pipeline[0].route[0].value", "needs a value"},
		{"value on exists", "op = \"exists\"\n", "op = \"exists\"\nvalue = 1\n", 36, "pipeline[0].route[1].value", "takes no value"},
		{"to and discard", `to = "late"`, "to = \"late\"\ndiscard = true", 28, "pipeline[0].route[0]", "exactly one of"},
		{"unknown link node", `from = "ticks"`, `from = "tick"`, 39, "link[0].from", `no connector or pipeline has id "tick"`},
		{"connector to connector", `to = "route"` + "\n", `to = "out-file"` + "\n", 38, "link[0]", "both connectors"},
		{"bad connector port", `from = "ticks"`, `from = "ticks/foo"`, 39, "link[0].from", `ports are "out" and "err"`},
		{"bad pipeline port", `from = "route/late"`, `from = "route/early"`, 45, "link[2].from", "ports are late, out"},
		{"input port", `to = "out-file/in"`, `to = "out-file/out"`, 46, "link[2].to", `one input port`},
		{"unlinked route port", "[[link]]\nfrom = \"route/late\"\nto = \"out-file/in\"\n", "", 32, "pipeline[0].route[0].to", "not linked"},
		{"negative reconnect", `max_attempts = 3`, `max_attempts = -1`, 24, "connector[1].reconnect.max_attempts", "must not be negative"},
		{"reconnect order", `max_ms = 1000`, `max_ms = 10`, 23, "connector[1].reconnect.max_ms", "must not be below"},
		{"reconnect past a day", `max_ms = 1000`, `max_ms = 9223372036854775807`, 23, "connector[1].reconnect.max_ms", "must be at most 86400000 ms (a day), got 9223372036854775807"},
		{"bad isolation", `type = "file"`, "type = \"file\"\nisolation = \"chroot\"", 16, "connector[1].isolation", "expected one of auto, process, none"},
		{"processor without name", `{ name = "length-prefixed", max_length = 1024 }`, `{ max_length = 1024 }`, 17, "connector[1].postprocessors[1]", "needs name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(validFlow, tt.old, tt.new, 1)
			require.NotEqual(t, validFlow, src, "the edit must apply")
			_, err := Parse("bad.toml", []byte(src))
			require.Error(t, err)
			var fe *Error
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "bad.toml", fe.File)
			assert.Equal(t, tt.line, fe.Line, "line; error was: %v", err)
			assert.Equal(t, tt.key, fe.Key, "key; error was: %v", err)
			assert.Contains(t, err.Error(), tt.msg)
			assert.True(t, strings.HasPrefix(err.Error(), "bad.toml:"), err.Error())
		})
	}
}

func TestKeyLinesMultilineStrings(t *testing.T) {
	src := "[[connector]]\nid = \"a\"\ndoc = \"\"\"\nfake = 1\n\"\"\"\ntype = \"x\"\n"
	kl, _ := indexKeyLines([]byte(src))
	assert.Equal(t, 6, kl["connector.0.type"])
	assert.NotContains(t, kl, "connector.0.fake")
}

func TestPipelineNeedsInputAndOut(t *testing.T) {
	src := "[[pipeline]]\nid = \"p\"\n"
	_, err := Parse("p.toml", []byte(src))
	require.ErrorContains(t, err, `p.toml:2: pipeline[0].id: pipeline "p" has no input`)
}

// Mistakes of shape, each reported once, in the flow's words, with the
// file, the line and the indexed key: the whole message is asserted.
func TestParseShapeErrorsExact(t *testing.T) {
	const base = `[[connector]]
id = "in"
type = "tcp_server"
config = { url = "127.0.0.1:1" }

[[connector]]
id = "out"
type = "tcp_client"
config = { url = "127.0.0.1:2" }

[[pipeline]]
id = "route"

[[link]]
from = "in"
to = "route"
[[link]]
from = "route"
to = "out"
`
	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{"link to an array", "to = \"out\"", `to = ["out"]`,
			`flow.toml:19: link[1].to: expected a string like "pipeline" or "connector/port", got an array`},
		{"link from an integer", "from = \"in\"", `from = 5`,
			`flow.toml:15: link[0].from: expected a string like "pipeline" or "connector/port", got an integer`},
		{"id a boolean", `id = "out"`, `id = true`,
			`flow.toml:7: connector[1].id: expected a string like "in" (letters, digits, '_' and '-'), got a boolean`},
		{"config a string", `config = { url = "127.0.0.1:2" }`, `config = "127.0.0.1:2"`,
			`flow.toml:9: connector[1].config: expected a table, got a string`},
		{"batch size a float", "[[connector]]\nid = \"in\"", "[flow]\nbatch_size = 1.5\n[[connector]]\nid = \"in\"",
			`flow.toml:2: flow.batch_size: expected an integer, got a float`},
		{"processor an integer", `type = "tcp_server"`, "type = \"tcp_server\"\npreprocessors = [\"lines\", 7]",
			`flow.toml:4: connector[0].preprocessors[1]: expected a name like "lines" or a table like { name = "lines", max_length = 4096 }, got an integer`},
		{"unknown key in a link", "to = \"out\"", "to = \"out\"\nvia = \"x\"",
			`flow.toml:20: link[1].via: unknown key; expected one of from, to (see the flow format in README.md)`},
		{"link written twice", "to = \"out\"\n", "to = \"out\"\n[[link]]\nfrom = \"in/out\"\nto = \"route/in\"\n",
			`flow.toml:20: link[2]: duplicates link[0] (line 14): in/out -> route/in; remove one (a link written twice would deliver every event twice)`},
		{"integer beyond int64", `url = "127.0.0.1:1" }`, `url = "127.0.0.1:1", buf_size = 18446744073709551616 }`,
			`flow.toml:4: connector[0].config.buf_size: 18446744073709551616 is out of range: a flow file holds integers from -9223372036854775808 to 9223372036854775807 (TOML integers are 64-bit signed), so an int or uint field takes at most 9223372036854775807`},
		{"nested too deep", `url = "127.0.0.1:2" }`, `url = "127.0.0.1:2", x = ` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + ` }`,
			`flow.toml:9: nested deeper than 32 levels of inline tables and arrays; a flow never needs that: flatten it`},
		{"dotted key too long", `id = "route"`, "id = \"route\"\n" + strings.Repeat("a.", 40) + "b = 1",
			`flow.toml:13: a dotted key with more than 32 parts; a flow never needs that: shorten it`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("flow.toml", []byte(base))
			require.NoError(t, err, "the base flow is valid")
			src := strings.Replace(base, tt.old, tt.new, 1)
			require.NotEqual(t, base, src, "the edit must apply")
			_, err = Parse("flow.toml", []byte(src))
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

// Brackets, quotes and dots inside strings and comments are not nesting.
func TestNestingIgnoresStringsAndComments(t *testing.T) {
	deep := strings.Repeat("{[", 100)
	src := "# " + deep + "\n[[connector]]\nid = \"a\"\ntype = \"t\"\nconfig = { s = \"" + deep + "\", l = '" + deep + "', m = \"\"\"\n" + deep + "\n\"\"\", k = '''" + deep + "''' }\n" +
		"\"" + strings.Repeat("a.", 50) + "\" = 1\n"
	line, msg := nestingError([]byte(src))
	assert.Equal(t, "", msg, "line %d", line)
}

// Parsing stays linear in the file's size: a flow twice as large (deep
// inline tables, at the depth allowed, repeated) allocates about twice as
// much, not four times. Measured in bytes allocated, not in time.
func TestParseIsLinear(t *testing.T) {
	gen := func(n int) []byte {
		var b strings.Builder
		b.WriteString("[[connector]]\nid = \"a\"\ntype = \"t\"\n[connector.config]\n")
		for i := range n {
			fmt.Fprintf(&b, "k%d = %s1%s\n", i, strings.Repeat("{ a = ", maxNesting-1), strings.Repeat(" }", maxNesting-1))
		}
		return []byte(b.String())
	}
	alloc := func(src []byte) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Parse("big.toml", src)
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		return after.TotalAlloc - before.TotalAlloc
	}
	small, large := gen(150), gen(300)
	require.Greater(t, len(small), 30_000, "a file as big as the one reported")
	a1, a2 := alloc(small), alloc(large)
	ratio := float64(a2) / float64(a1)
	t.Logf("%d bytes: %d allocated; %d bytes: %d allocated (x%.2f)", len(small), a1, len(large), a2, ratio)
	assert.Less(t, ratio, 2.6, "allocation grows faster than the file")
	assert.Less(t, a2, uint64(len(large))*2000, "bytes allocated per byte of flow")

	// Nesting far beyond the bound is refused before decoding: cheap.
	deep := []byte("[[connector]]\nid = \"a\"\ntype = \"t\"\nconfig = { x = " + strings.Repeat("{ a = ", 3000) + "1" + strings.Repeat(" }", 3000) + " }\n")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Parse("deep.toml", deep)
	runtime.ReadMemStats(&after)
	require.EqualError(t, err, "deep.toml:4: nested deeper than 32 levels of inline tables and arrays; a flow never needs that: flatten it")
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "refused without decoding")
}
