package tests

// Mistakes a flow author makes in a flow file, through build/bin/tremorctl
// as a subprocess: a sink codec that cannot encode the events it gets,
// processors that do not exist or are set up wrongly, and mistakes in the
// flow's structure (links, routes, ids, value types, reconnect, ${file:}).
// A mistake in the file is refused by validate and run alike, before
// anything runs, with the file, the line, the key and what is allowed; an
// event that cannot be encoded is failed back and counted at both ends,
// never lost without a word.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mistakeEdit applies each {old, new} replacement once to text; old must
// be there (a stale edit would test the unchanged flow).
func mistakeEdit(t testing.TB, text string, edits ...[2]string) string {
	t.Helper()
	for _, e := range edits {
		require.Contains(t, text, e[0], "the flow to edit")
		text = strings.Replace(text, e[0], e[1], 1)
	}
	return text
}

// mistakeRefused runs `tremorctl validate` and `tremorctl run` on the flow
// file path: both exit 1 without a Go panic and print nothing on stdout,
// and the last line of stderr is "tremorctl: PATH:LINE: KEY: ..." (no KEY
// when key is "", as for a ${...} reference, located by line only) holding
// msg.
func mistakeRefused(t *testing.T, path string, line int, key, msg string) {
	t.Helper()
	prefix := fmt.Sprintf("tremorctl: %s:%d: ", path, line)
	if key != "" {
		prefix += key + ": "
	}
	for _, cmd := range []string{"validate", "run"} {
		code, stdout, stderr := tremorctlExit(t, "", nil, cmd, path)
		assert.Equal(t, 1, code, "%s: stdout %q\nstderr %s", cmd, stdout, stderr)
		assert.True(t, strings.HasPrefix(lastLine(stderr), prefix), "%s: the file, line and key: want the prefix %q in\n%s", cmd, prefix, stderr)
		assert.Contains(t, stderr, msg, cmd)
		assert.Empty(t, stdout, "%s: nothing ran, nothing was said ok", cmd)
		noCrash(t, stderr)
	}
}

// A sink whose codec cannot encode the events it is sent (the metronome
// emits objects; csv takes arrays, string and binary take scalars): each
// event is failed back to the source and counted as an error and a fail
// on the sink and a fail on the source, the log says why, and tremorctl
// exits 1 saying events were failed back. Nothing is written, nothing is
// lost without a count; the same whether the sink runs in the host or in a
// child process (the host encodes either way).
func TestFlowMistakeSinkCannotEncode(t *testing.T) {
	for _, c := range []struct{ codec, isolation, why string }{
		{"csv", "", "cannot encode an object as a csv record (a record is an array of scalars)"},
		{"csv", "process", "cannot encode an object as a csv record (a record is an array of scalars)"},
		{"string", "", "cannot encode an object as text (only a scalar can be)"},
		{"binary", "", "cannot encode an object (the binary codec takes bytes or a string)"},
	} {
		name := c.codec
		if c.isolation != "" {
			name += ", isolation " + c.isolation
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			text := mistakeEdit(t, tickFlow("enc", 1, 5, out), [2]string{`codec = "json"`, fmt.Sprintf("codec = %q", c.codec)})
			if c.isolation != "" {
				text = mistakeEdit(t, text, [2]string{`type = "file"`, fmt.Sprintf("type = \"file\"\nisolation = %q", c.isolation)})
			}
			path := writeFlow(t, dir, "enc.toml", text)
			code, stdout, stderr := tremorctlExit(t, "", nil, "--log-format", "json", "run", path)
			assert.Equal(t, 1, code, "stdout %q\nstderr:\n%s", stdout, lastLines(stderr, 20))
			noCrash(t, stderr)

			// The cause, on the sink's log line: which codec, and that the
			// event is failed back rather than dropped.
			cause := regexp.MustCompile(`"connector":"out".*"error":"` + c.codec + ` codec: encode: [^"]*` +
				regexp.QuoteMeta(strings.ReplaceAll(c.why, `"`, `\"`)) + `.*"message":"could not encode an event; failing it back"`)
			assert.Regexp(t, cause, stderr)
			assert.Contains(t, lastLine(stderr), "tremorctl: 5 events were failed back to their sources")

			rows := statsTable(t, stderr)
			assert.Equal(t, row{5, 5, 0, 0, 5, 0}, rows["ticks"], "ticks: every event failed back to the source, none acked")
			assert.Equal(t, row{5, 0, 5, 0, 5, 0}, rows["out"], "out: every event an error and a fail, none written")
			assert.Empty(t, fileLines(t, out), "nothing was written")
		})
	}
}

// The encode error is told in the flow's words: the event is an object (a
// string, ...), not a Go map[string]interface {}, and csv wants an array,
// not "[]any or []string".
func TestFlowMistakeEncodeErrorInFlowWords(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	path := writeFlow(t, dir, "enc.toml", mistakeEdit(t, tickFlow("enc", 1, 5, out), [2]string{`codec = "json"`, `codec = "csv"`}))
	code, _, stderr := tremorctlExit(t, "", nil, "--log-format", "json", "run", path)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "could not encode an event; failing it back")
	assert.NotContains(t, stderr, "map[string]interface", "no Go type names")
	assert.NotContains(t, stderr, "[]any")
	assert.Contains(t, stderr, "object", "says what the event is")
}

// Events that cannot be encoded are warned about at a bounded rate, like a
// sink that leaves outcomes unset or retries for ever
// (TestCLISinkMisreportsOutcomes): the counts are in the summary, the cause
// in a few log lines, not one line per event (a fast source would flood
// the log with millions of identical lines).
func TestFlowMistakeEncodeErrorsAreNotLoggedPerEvent(t *testing.T) {
	const n = 5000
	dir := t.TempDir()
	flow := fmt.Sprintf(twoConnectors, "flood", fmt.Sprintf("type = \"bench_source\"\ncodec = \"string\"\nconfig = { count = %d }", n),
		fmt.Sprintf("type = \"file\"\ncodec = \"csv\"\nconfig = { path = %q, mode = \"write\" }", filepath.Join(dir, "out")))
	code, _, stderr := tremorctlExit(t, "", nil, "--log-format", "json", "run", writeFlow(t, dir, "flood.toml", flow))
	assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
	rows := statsTable(t, stderr)
	assert.Equal(t, row{n, 0, n, 0, n, 0}, rows["dst"], "every event counted")
	logged := strings.Count(stderr, "could not encode")
	assert.NotZero(t, logged, "the cause is logged")
	assert.LessOrEqual(t, logged, 10, "at a bounded rate, not once per event")
}

// mistakeProcFlow is a flow "proc" of a tcp_server source (line 8 holds its
// processors) and a file sink writing %q (line 15 holds its processors);
// validate and a refused run neither listen nor write.
const mistakeProcFlow = `[flow]
name = "proc"

[[connector]]
id = "in"
type = "tcp_server"
codec = "json"
%s
config = { url = "127.0.0.1:1" }

[[connector]]
id = "out"
type = "file"
codec = "json"
%s
config = { path = %q, mode = "write" }

[[pipeline]]
id = "p"

[[link]]
from = "in"
to = "p"
[[link]]
from = "p"
to = "out"
`

// Pre- and post-processors that do not exist, take other options, or are
// not written as an array: validate and run name the file, the line, the
// connector's processors key (with the entry's index) and what is allowed
// (the known processors, the known keys, the range, the form).
func TestFlowMistakeProcessors(t *testing.T) {
	for _, c := range []struct {
		name, pre, post string
		line            int
		key, msg        string
	}{
		{"unknown pre-processor", `preprocessors = ["lnes"]`, "", 8, "connector[0].preprocessors[0]",
			`unknown processor: no pre-processor "lnes" (known pre-processors: length-prefixed, lines)`},
		{"unknown post-processor", "", `postprocessors = ["lnes"]`, 15, "connector[1].postprocessors[0]",
			`unknown processor: no post-processor "lnes" (known post-processors: length-prefixed, lines)`},
		// An array over several lines: the index says which entry; the
		// line is the key's (entries of an array are not located).
		{"unknown second entry", "preprocessors = [\n  \"lines\",\n  \"gzip\",\n]", "", 8, "connector[0].preprocessors[1]",
			`no pre-processor "gzip" (known pre-processors: length-prefixed, lines)`},
		{"option out of range", `preprocessors = [{ name = "lines", max_length = 0 }]`, "", 8, "connector[0].preprocessors[0]",
			`pre-processor "lines": config key "max_length": want an integer from 1 to 2147483647, got 0`},
		{"option of the wrong type", `preprocessors = [{ name = "lines", max_length = "big" }]`, "", 8, "connector[0].preprocessors[0]",
			`pre-processor "lines": config key "max_length": want a positive integer, got "big"`},
		{"unknown option", `preprocessors = [{ name = "lines", colour = "red" }]`, "", 8, "connector[0].preprocessors[0]",
			`pre-processor "lines": unknown config key "colour" (known keys: max_length, skip_empty)`},
		{"option of a processor that takes none", "", `postprocessors = [{ name = "lines", max_length = 5 }]`, 15, "connector[1].postprocessors[0]",
			`post-processor "lines": unknown config key "max_length" (this processor takes no options)`},
		{"unknown length-prefixed option", `preprocessors = [{ name = "length-prefixed", length_bytes = 2 }]`, "", 8, "connector[0].preprocessors[0]",
			`pre-processor "length-prefixed": unknown config key "length_bytes" (known keys: max_length)`},
		{"table without a name", `preprocessors = [{ max_length = 10 }]`, "", 8, "connector[0].preprocessors[0]",
			`a processor table needs name = "<processor>"`},
		{"entry neither name nor table", `preprocessors = [3]`, "", 8, "connector[0].preprocessors[0]",
			`expected a name like "lines" or a table like { name = "lines", max_length = 4096 }, got an integer`},
		{"pre-processors a string", `preprocessors = "lines"`, "", 8, "connector[0].preprocessors",
			`expected an array like ["lines"], got a string`},
		{"post-processors a string", "", `postprocessors = "lines"`, 15, "connector[1].postprocessors",
			`expected an array like ["lines"], got a string`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			text := fmt.Sprintf(mistakeProcFlow, c.pre, c.post, out)
			mistakeRefused(t, writeFlow(t, dir, "proc.toml", text), c.line, c.key, c.msg)
			_, err := os.Stat(out)
			assert.ErrorIs(t, err, os.ErrNotExist, "the sink was never created")
		})
	}

	// The same flow with good processors is fine: the cases above fail
	// for their mistake, not for the rest of the flow.
	dir := t.TempDir()
	good := fmt.Sprintf(mistakeProcFlow, `preprocessors = [{ name = "lines", max_length = 4096 }]`, `postprocessors = ["lines"]`, filepath.Join(dir, "out"))
	path := writeFlow(t, dir, "proc.toml", good)
	code, stdout, stderr := tremorctlExit(t, "", nil, "validate", path)
	assert.Equal(t, 0, code, "stderr: %s", stderr)
	assert.Equal(t, path+": ok (2 connectors, 1 pipeline, 2 links)\n", stdout)
}

// Mistakes in a flow's structure, each an edit of tickFlow (whose lines
// are: 3 name, 4 batch_size, 6 [[connector]] ticks, 7 id, 8 type, 9 config,
// 11 [[connector]] out, 12 id, 13 type, 14 codec, 15 config, 17
// [[pipeline]], 18 id "p", 20 [[link]], 21 from "ticks", 22 to "p", 23
// [[link]], 24 from "p", 25 to "out"): validate and run refuse the flow
// naming the file, the line and the key, and say what is expected.
func TestFlowMistakeStructure(t *testing.T) {
	// route is a [[pipeline.route]] of pipeline "p" (its header at line
	// 19, its keys on the lines after, in the order given).
	route := func(kv string) [2]string {
		return [2]string{"id = \"p\"\n", "id = \"p\"\n[[pipeline.route]]\n" + kv + "\n"}
	}
	const reconnectAt = "config = { interval_ms = 1, count = 5 }" // ticks' config: [connector.reconnect] follows at line 10
	reconnect := func(kv string) [2]string {
		return [2]string{reconnectAt, reconnectAt + "\n[connector.reconnect]\n" + kv}
	}
	for _, c := range []struct {
		name  string
		edits [][2]string
		line  int
		key   string
		msg   string
	}{
		// Pipelines and routes: nothing may be lost without a word.
		{"pipeline out port not linked", [][2]string{route("field = \"id\"\nop = \"gt\"\nvalue = 2\nto = \"late\""), {"from = \"p\"\n", "from = \"p/late\"\n"}},
			18, "pipeline[0].id", `pipeline "p": its "out" port is not linked, so events matching no route would be lost; add a [[link]] from "p/out"`},
		{"pipeline without input", [][2]string{{"[[link]]\nfrom = \"ticks\"\nto = \"p\"\n", ""}},
			18, "pipeline[0].id", `pipeline "p" has no input: add a [[link]] with to = "p"`},
		{"route to in", [][2]string{route("field = \"id\"\nop = \"gt\"\nvalue = 2\nto = \"in\"")},
			23, "pipeline[0].route[0].to", `"in" is the pipeline's input port; pick another output port name`},
		{"route without field", [][2]string{route("op = \"gt\"\nvalue = 2\nto = \"late\"")},
			19, "pipeline[0].route[0].field", `missing field: the dotted path to test, e.g. field = "user.name"`},
		{"route with empty field", [][2]string{route("field = \"\"\nop = \"exists\"\ndiscard = true")},
			20, "pipeline[0].route[0].field", "missing field: "},

		// Link ends.
		{"link end with empty port", [][2]string{{`from = "ticks"`, `from = "ticks/"`}},
			21, "link[0].from", `"ticks/" is not "<id>" or "<id>/<port>"`},
		{"link end with empty id", [][2]string{{`to = "p"`, `to = "/p"`}},
			22, "link[0].to", `"/p" is not "<id>" or "<id>/<port>"`},
		{"link end with two ports", [][2]string{{`to = "out"`, `to = "out/in/x"`}},
			25, "link[1].to", `"out/in/x" is not "<id>" or "<id>/<port>"`},
		{"empty link end", [][2]string{{`from = "ticks"`, `from = ""`}},
			21, "link[0].from", `missing: write "<id>" or "<id>/<port>"`},
		{"link without to", [][2]string{{"from = \"ticks\"\nto = \"p\"\n", "from = \"ticks\"\n"}},
			20, "link[0].to", `missing: write "<id>" or "<id>/<port>"`},
		{"link into a pipeline's out", [][2]string{{`to = "p"`, `to = "p/out"`}},
			22, "link[0].to", `p has one input port, "in"; got "out"`},
		{"link from a pipeline's in", [][2]string{{`from = "p"`, `from = "p/in"`}},
			24, "link[1].from", `pipeline "p" has no output port "in"; its ports are out`},
		{"link from a connector's in", [][2]string{{`from = "ticks"`, `from = "ticks/in"`}},
			21, "link[0].from", `connector output ports are "out" and "err"; got "in"`},

		// Ids: reported at the table's header when the key is missing.
		{"connector without id", [][2]string{{"id = \"ticks\"\n", ""}},
			6, "connector[0].id", `missing id: every connector and pipeline needs id = "<name>"`},
		{"connector with empty id", [][2]string{{`id = "ticks"`, `id = ""`}},
			7, "connector[0].id", "missing id: "},
		{"pipeline without id", [][2]string{{"id = \"p\"\n", ""}},
			17, "pipeline[0].id", `missing id: every connector and pipeline needs id = "<name>"`},

		// Values of the wrong type: said in the flow's words (what was
		// expected, what kind of value was found).
		{"flow name a number", [][2]string{{`name = "enc"`, `name = 5`}},
			3, "flow.name", "expected a string, got an integer"},
		{"batch_size a string", [][2]string{{`batch_size = 16`, `batch_size = "16"`}},
			4, "flow.batch_size", "expected an integer, got a string"},
		{"id a number", [][2]string{{`id = "ticks"`, `id = 7`}},
			7, "connector[0].id", `expected a string like "in" (letters, digits, '_' and '-'), got an integer`},
		{"type a number", [][2]string{{`type = "metronome"`, `type = 1`}},
			8, "connector[0].type", `expected a connector type name like "file", got an integer`},
		{"codec a boolean", [][2]string{{`codec = "json"`, `codec = true`}},
			14, "connector[1].codec", `expected a codec name like "json", got a boolean`},
		{"config a string", [][2]string{{reconnectAt, `config = "interval_ms=1"`}},
			9, "connector[0].config", "expected a table, got a string"},
		{"link end a number", [][2]string{{`from = "ticks"`, `from = 1`}},
			21, "link[0].from", `expected a string like "pipeline" or "connector/port", got an integer`},
		{"route field a number", [][2]string{route("field = 5\nop = \"exists\"\ndiscard = true")},
			20, "pipeline[0].route[0].field", `expected a dotted path like "user.name", got an integer`},
		{"route discard a string", [][2]string{route("field = \"id\"\nop = \"exists\"\ndiscard = \"yes\"")},
			22, "pipeline[0].route[0].discard", "expected true or false, got a string"},
		{"route array a string", [][2]string{{"id = \"p\"\n", "id = \"p\"\nroute = \"x\"\n"}},
			19, "pipeline[0].route", "expected tables written [[route]], got a string"},
		// A route value of a kind its op can never match would make a
		// route that silently never applies.
		{"prefix value a number", [][2]string{route("field = \"onramp\"\nop = \"prefix\"\nvalue = 5\ndiscard = true")},
			22, "pipeline[0].route[0].value", `op "prefix" matches strings: the value must be a string, got an integer (for a number, write it in quotes)`},
		{"gt value a boolean", [][2]string{route("field = \"id\"\nop = \"gt\"\nvalue = true\ndiscard = true")},
			22, "pipeline[0].route[0].value", `op "gt" orders numbers or strings: the value must be one, got a boolean`},
		{"lt value a table", [][2]string{route("field = \"id\"\nop = \"lt\"\nvalue = { a = 1 }\ndiscard = true")},
			22, "pipeline[0].route[0].value", `op "lt" orders numbers or strings: the value must be one, got a table`},

		// Reconnect.
		{"reconnect a number", [][2]string{{reconnectAt, reconnectAt + "\nreconnect = 5"}},
			10, "connector[0].reconnect", "expected a table, got an integer"},
		{"initial_ms 0", [][2]string{reconnect("initial_ms = 0")},
			11, "connector[0].reconnect.initial_ms", "must be at least 1 ms"},
		{"initial_ms 0 inline", [][2]string{{reconnectAt, reconnectAt + "\nreconnect = { initial_ms = 0, max_ms = 10 }"}},
			10, "connector[0].reconnect.initial_ms", "must be at least 1 ms"},
		{"initial_ms negative", [][2]string{reconnect("initial_ms = -5")},
			11, "connector[0].reconnect.initial_ms", "must not be negative, got -5"},
		{"initial_ms a string", [][2]string{reconnect(`initial_ms = "10"`)},
			11, "connector[0].reconnect.initial_ms", "expected an integer, got a string"},
		{"initial_ms a float", [][2]string{reconnect("initial_ms = 1.5")},
			11, "connector[0].reconnect.initial_ms", "expected an integer, got a float"},
		{"max_ms below initial_ms", [][2]string{reconnect("initial_ms = 100\nmax_ms = 10")},
			12, "connector[0].reconnect.max_ms", "max_ms (10) must not be below initial_ms (100)"},
		{"unknown reconnect key", [][2]string{reconnect("initial = 5")},
			11, "connector[0].reconnect.initial", "unknown key; expected one of initial_ms, max_ms, max_attempts"},

		// ${file:} with no path: located by line (substitution comes
		// before the TOML is read, so there is no key yet).
		{"${file:} without a path", [][2]string{{`config = { path = "`, `config = { path = "${file:}`}},
			15, "", "${file:} names no file; write ${file:/path/to/secret}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			path := writeFlow(t, dir, "enc.toml", mistakeEdit(t, tickFlow("enc", 1, 5, out), c.edits...))
			mistakeRefused(t, path, c.line, c.key, c.msg)
			_, err := os.Stat(out)
			assert.ErrorIs(t, err, os.ErrNotExist, "the sink was never created")
		})
	}
}
