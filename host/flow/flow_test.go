package flow

import (
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

func TestParseValidFlow(t *testing.T) {
	f, err := Parse("demo.toml", []byte(validFlow))
	require.NoError(t, err)
	assert.Equal(t, "demo", f.Name)
	assert.Equal(t, 64, f.BatchSize)
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
		{"toml syntax", `count = 5`, `count = = 5`, 11, "connector.config.count", "expected value"},
		{"unknown key", `codec = "json"`, "codec = \"json\"\ncodex = 1", 17, "connector[1].codex", "unknown key"},
		{"unknown table", "[[link]]", "[[links]]\nfrom = \"x\"\n[[link]]", 38, "links[0]", "unknown key"},
		{"wrong type", `batch_size = 64`, `batch_size = "big"`, 4, "flow.batch_size", "incompatible types"},
		{"batch size range", `batch_size = 64`, `batch_size = 0`, 4, "flow.batch_size", "between 1 and"},
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
	kl := indexKeyLines([]byte(src))
	assert.Equal(t, 6, kl["connector.0.type"])
	assert.NotContains(t, kl, "connector.0.fake")
}

func TestPipelineNeedsInputAndOut(t *testing.T) {
	src := "[[pipeline]]\nid = \"p\"\n"
	_, err := Parse("p.toml", []byte(src))
	require.ErrorContains(t, err, `p.toml:2: pipeline[0].id: pipeline "p" has no input`)
}
