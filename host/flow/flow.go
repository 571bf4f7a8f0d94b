// Package flow reads and checks flow files: the TOML that names connectors,
// pipelines and the links between them. It knows the shape of a flow, not
// what plugins or codecs exist: the runtime checks those names and reports
// them with Flow.Errorf, which adds the file and line.
package flow

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/BurntSushi/toml"
)

// Defaults used when a flow leaves a setting out. A batch costs a few
// microseconds whatever its size (a hook call, a hand-over between the
// source's and the sink's goroutines, a round trip to a plugin in a child
// process); 1024 events spread that to a few nanoseconds each (256 left
// the whole-program raw flow 1.45x slower, docs/benchmarks.md). A batch is
// whatever is there up to that size: a larger one adds no waiting.
const (
	DefaultBatchSize        = 1024
	DefaultReconnectInitial = 100  // ms
	DefaultReconnectMax     = 5000 // ms
	maxReconnectMs          = 24 * 60 * 60 * 1000
	maxBatchSize            = 1 << 16
)

// Flow is a checked flow file.
type Flow struct {
	Name      string
	File      string
	BatchSize int // events per batch between a plugin and the runtime
	// CPUs is the [flow] cpus setting as a list: the CPUs the flow's
	// sources, sinks and plugin processes are pinned to (planCPUs in
	// host/runtime/cpus.go); nil when not set (the kernel places them) or
	// "auto" (AutoCPUs).
	CPUs []int
	// AutoCPUs is cpus = "auto": the runtime picks the CPUs when the flow
	// starts, among those no other running flow pins anything to.
	AutoCPUs   bool
	Connectors []Connector
	Pipelines  []Pipeline
	Links      []Link

	lines  keyLines
	tables lineTables
}

// Connector is one connector instance: a connector type from a plugin, its
// config (checked later against the fields the plugin declares) and the
// codec and processors that turn its bytes into events and back.
type Connector struct {
	ID             string
	Type           string
	Codec          string      // "" when not set
	Preprocessors  []Processor // nil: not set (the type's framing applies); empty: none
	Postprocessors []Processor // likewise
	Config         map[string]any
	Reconnect      Reconnect
	Isolation      string // one of Isolations; "auto" when not set
	PluginSHA256   string // when set, the plugin file must have this SHA-256 (hex)
	Index          int    // position among [[connector]] tables, for ErrAt
}

// Isolations are the ways a connector's plugin can run: "auto" lets the
// host choose (plugins built with pdk-go run in a child process, others in
// the host), "process" runs the plugin in a child process, "none" in the
// host process.
var Isolations = []string{"auto", "process", "none"}

// Processor is a pre- or post-processor with its settings.
type Processor struct {
	Name   string
	Config map[string]any
}

// Reconnect is the connect retry policy: exponential backoff from Initial to
// Max milliseconds; MaxAttempts 0 retries forever.
type Reconnect struct {
	InitialMs   int
	MaxMs       int
	MaxAttempts int
}

// Pipeline routes events: the first Route whose condition holds sends the
// event to its port (or discards it); events matching no route go to "out".
type Pipeline struct {
	ID     string
	Routes []Route
	Index  int
}

// Route is one condition and where matching events go.
type Route struct {
	Field   string // dotted path into the event's value, e.g. "user.name"
	Op      string // one of Ops
	Value   any    // compared against; unused by "exists" and "missing"
	To      string // output port
	Discard bool   // drop matching events on purpose (they are acked)
}

// Ops are the comparison operators a Route may use.
var Ops = []string{"eq", "ne", "lt", "le", "gt", "ge", "exists", "missing", "contains", "prefix"}

// Link connects an output port to an input port.
type Link struct {
	From, To Endpoint
	Index    int
}

// Endpoint is a node (connector or pipeline id) and one of its ports.
type Endpoint struct {
	Node, Port string
}

func (e Endpoint) String() string { return e.Node + "/" + e.Port }

// Error is a problem in a flow file, located by file, line and key.
type Error struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted key, e.g. connector[1].codec
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Load reads and checks the flow file at path (see ReadFile).
func Load(path string) (*Flow, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading flow: %w", err)
	}
	return Parse(path, data)
}

// Parse checks a flow held in memory, read from file (which names it in
// errors, and against which ${file:PATH} paths are relative).
func Parse(file string, data []byte) (*Flow, error) {
	return parse(expander{file: file, lookup: os.LookupEnv}, data)
}

// ParsePosted checks a flow that was not read from a file of this host but
// posted to the admin API; name names it in errors. Such a flow may not
// use ${file:PATH}: whoever can post could read every file the host can.
func ParsePosted(name string, data []byte) (*Flow, error) {
	return parse(expander{file: name, lookup: os.LookupEnv, noFiles: true}, data)
}

func parse(x expander, data []byte) (*Flow, error) {
	file := x.file
	data, err := x.expand(data) // ${VAR}, ${file:PATH}: env.go
	if err != nil {
		return nil, err
	}
	if line, msg := nestingError(data); msg != "" {
		return nil, &Error{File: file, Line: line, Msg: msg}
	}
	f := &Flow{File: file}
	f.lines, f.tables = indexKeyLines(data)
	// Decoding into a generic map cannot fail on types: every type is
	// checked below, where the message can say what the flow expects.
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, f.parseError(pe)
		}
		return nil, &Error{File: file, Msg: err.Error()}
	}
	raw, err := f.read(doc)
	if err != nil {
		return nil, err
	}
	if err := f.build(raw); err != nil {
		return nil, err
	}
	return f, nil
}

// parseError turns a TOML syntax error into a flow error whose key carries
// the array-of-tables indexes ("connector[1].config.port").
func (f *Flow) parseError(pe toml.ParseError) error {
	msg := pe.Message
	if m := outOfRange.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("%s is out of range: a flow file holds integers from %d to %d (TOML integers are 64-bit signed), so an int or uint field takes at most %d",
			m[1], math.MinInt64, math.MaxInt64, math.MaxInt64)
	}
	line := pe.Position.Line
	return &Error{File: f.File, Line: line, Key: f.tables.indexed(line, pe.LastKey), Msg: msg}
}

var outOfRange = regexp.MustCompile(`^(-?[0-9_]+) is out of range for int64`)

// ErrAt reports a problem at a key of the flow, adding file and line, e.g.
// f.ErrAt(`unknown codec "jsn"`, "connector", 2, "codec").
// Path segments are key names (strings) or array-of-table indexes (ints).
func (f *Flow) ErrAt(msg string, path ...any) error { return f.errAt(msg, path...) }

func (f *Flow) errAt(msg string, path ...any) error {
	return &Error{File: f.File, Line: f.lineOf(path...), Key: shownKey(path...), Msg: msg}
}

// lineOf is the line of the most specific written prefix of path.
func (f *Flow) lineOf(path ...any) int {
	dotted := make([]string, len(path))
	for i, p := range path {
		dotted[i] = fmt.Sprint(p)
	}
	return f.lines.line(dotted...)
}

// shownKey spells a path as a reader writes it: connector[1].config.port.
func shownKey(path ...any) string {
	var shown []string
	for _, p := range path {
		switch v := p.(type) {
		case int:
			if len(shown) > 0 {
				shown[len(shown)-1] += fmt.Sprintf("[%d]", v)
			}
		default:
			shown = append(shown, fmt.Sprint(v))
		}
	}
	return strings.Join(shown, ".")
}

// rawFlow is the TOML shape; build turns it into a checked Flow.
type rawFlow struct {
	Flow struct {
		Name      string
		BatchSize *int
		CPUs      []int
		AutoCPUs  bool
	}
	Connector []rawConnector
	Pipeline  []rawPipeline
	Link      []rawLink
}

type rawConnector struct {
	ID, Type, Codec               string
	Preprocessors, Postprocessors []any
	Config                        map[string]any
	Isolation, PluginSHA256       string
	Reconnect                     struct{ InitialMs, MaxMs, MaxAttempts *int }
}

type rawPipeline struct {
	ID    string
	Route []rawRoute
}

type rawRoute struct {
	Field, Op, To string
	Value         any
	Discard       bool
}

type rawLink struct{ From, To string }

// What the keys of a flow hold, in the flow's words.
const (
	wantEndpoint = `a string like "pipeline" or "connector/port"`
	wantID       = `a string like "in" (letters, digits, '_' and '-')`
)

// read checks the shape of a decoded flow: known keys only, each holding
// the kind of value the format says.
func (f *Flow) read(doc map[string]any) (*rawFlow, error) {
	var raw rawFlow
	r := reader{f: f}
	top := r.keys(doc, nil, "flow", "connector", "pipeline", "link")
	if t := r.table(top, nil, "flow"); t != nil {
		r.keys(t, []any{"flow"}, "name", "batch_size", "cpus")
		raw.Flow.Name = r.str(t, []any{"flow"}, "name", "a string")
		raw.Flow.BatchSize = r.int(t, []any{"flow"}, "batch_size")
		raw.Flow.CPUs, raw.Flow.AutoCPUs = r.cpus(t, []any{"flow"}, "cpus")
	}
	for i, c := range r.tables(top, "connector") {
		here := []any{"connector", i}
		r.keys(c, here, "id", "type", "codec", "preprocessors", "postprocessors", "config", "isolation", "plugin_sha256", "reconnect")
		rc := rawConnector{
			ID:           r.str(c, here, "id", wantID),
			Type:         r.str(c, here, "type", `a connector type name like "file"`),
			Codec:        r.str(c, here, "codec", `a codec name like "json"`),
			Isolation:    r.str(c, here, "isolation", `one of "auto", "process", "none"`),
			PluginSHA256: r.str(c, here, "plugin_sha256", "a SHA-256 in hex"),
			Config:       r.table(c, here, "config"),
		}
		rc.Preprocessors = r.array(c, here, "preprocessors")
		rc.Postprocessors = r.array(c, here, "postprocessors")
		if rt := r.table(c, here, "reconnect"); rt != nil {
			rat := at(here, "reconnect")
			r.keys(rt, rat, "initial_ms", "max_ms", "max_attempts")
			rc.Reconnect.InitialMs = r.int(rt, rat, "initial_ms")
			rc.Reconnect.MaxMs = r.int(rt, rat, "max_ms")
			rc.Reconnect.MaxAttempts = r.int(rt, rat, "max_attempts")
		}
		raw.Connector = append(raw.Connector, rc)
	}
	for i, p := range r.tables(top, "pipeline") {
		here := []any{"pipeline", i}
		r.keys(p, here, "id", "route")
		rp := rawPipeline{ID: r.str(p, here, "id", wantID)}
		for j, rt := range r.tables(p, "route", here...) {
			rat := append(at(here, "route"), j)
			r.keys(rt, rat, "field", "op", "value", "to", "discard")
			rr := rawRoute{
				Field:   r.str(rt, rat, "field", `a dotted path like "user.name"`),
				Op:      r.str(rt, rat, "op", `an operator like "eq"`),
				To:      r.str(rt, rat, "to", `a port name like "errors"`),
				Value:   rt["value"],
				Discard: r.boolean(rt, rat, "discard"),
			}
			rp.Route = append(rp.Route, rr)
		}
		raw.Pipeline = append(raw.Pipeline, rp)
	}
	for i, l := range r.tables(top, "link") {
		here := []any{"link", i}
		r.keys(l, here, "from", "to")
		raw.Link = append(raw.Link, rawLink{From: r.str(l, here, "from", wantEndpoint), To: r.str(l, here, "to", wantEndpoint)})
	}
	if r.err != nil {
		return nil, r.err
	}
	return &raw, nil
}

// reader reads typed values out of a decoded TOML document and keeps the
// first problem it meets (the one nearest the top of the file's structure).
type reader struct {
	f   *Flow
	err error
}

func (r *reader) fail(msg string, path ...any) {
	if r.err == nil {
		r.err = r.f.errAt(msg, path...)
	}
}

func at(path []any, key string) []any { return append(append([]any{}, path...), key) }

// keys refuses any key of t not named in known and returns t.
func (r *reader) keys(t map[string]any, path []any, known ...string) map[string]any {
	var unknown []string
	for k := range t {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		// Report the one written first.
		slices.SortFunc(unknown, func(a, b string) int { return r.f.lineOf(at(path, a)...) - r.f.lineOf(at(path, b)...) })
		r.fail(fmt.Sprintf("unknown key; expected one of %s (see the flow format in README.md)", strings.Join(known, ", ")), at(path, unknown[0])...)
	}
	return t
}

func (r *reader) str(t map[string]any, path []any, key, want string) string {
	v, ok := t[key]
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		r.fail(fmt.Sprintf("expected %s, got %s", want, kindOf(v)), at(path, key)...)
	}
	return s
}

func (r *reader) int(t map[string]any, path []any, key string) *int {
	v, ok := t[key]
	if !ok {
		return nil
	}
	i, ok := v.(int64)
	if !ok {
		r.fail("expected an integer, got "+kindOf(v), at(path, key)...)
		return nil
	}
	if int64(int(i)) != i {
		r.fail(fmt.Sprintf("%d is out of range", i), at(path, key)...)
		return nil
	}
	n := int(i)
	return &n
}

// maxCPU bounds a CPU number in [flow] cpus (the kernel's CPU sets hold
// 1024 by default).
const maxCPU = 1023

// cpus reads a list of distinct CPU numbers, like [0, 1].
func (r *reader) cpus(t map[string]any, path []any, key string) (cpus []int, auto bool) {
	v, ok := t[key]
	if !ok {
		return nil, false
	}
	if v == "auto" {
		return nil, true
	}
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		r.fail(`expected "auto" or a non-empty list of CPU numbers like [0, 1], got `+kindOf(v), at(path, key)...)
		return nil, false
	}
	out := make([]int, 0, len(list))
	for i, e := range list {
		n, ok := e.(int64)
		switch {
		case !ok:
			r.fail("expected a CPU number, got "+kindOf(e), append(at(path, key), i)...)
			return nil, false
		case n < 0 || n > maxCPU:
			r.fail(fmt.Sprintf("CPU %d is out of range (0 to %d)", n, maxCPU), append(at(path, key), i)...)
			return nil, false
		case slices.Contains(out, int(n)):
			r.fail(fmt.Sprintf("CPU %d is listed twice", n), append(at(path, key), i)...)
			return nil, false
		}
		out = append(out, int(n))
	}
	return out, false
}

func (r *reader) boolean(t map[string]any, path []any, key string) bool {
	v, ok := t[key]
	if !ok {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		r.fail("expected true or false, got "+kindOf(v), at(path, key)...)
	}
	return b
}

func (r *reader) table(t map[string]any, path []any, key string) map[string]any {
	v, ok := t[key]
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.fail("expected a table, got "+kindOf(v), at(path, key)...)
	}
	return m
}

func (r *reader) array(t map[string]any, path []any, key string) []any {
	v, ok := t[key]
	if !ok {
		return nil
	}
	switch a := v.(type) {
	case []any:
		return a
	case []map[string]any:
		out := make([]any, len(a))
		for i := range a {
			out[i] = a[i]
		}
		return out
	}
	r.fail(`expected an array like ["lines"], got `+kindOf(v), at(path, key)...)
	return nil
}

// tables reads an array of tables ([[key]] or key = [{...}, ...]).
func (r *reader) tables(t map[string]any, key string, path ...any) []map[string]any {
	v, ok := t[key]
	if !ok {
		return nil
	}
	switch a := v.(type) {
	case []map[string]any:
		return a
	case []any:
		out := make([]map[string]any, len(a))
		for i, e := range a {
			m, ok := e.(map[string]any)
			if !ok {
				r.fail(fmt.Sprintf("expected a table ([[%s]]), got %s", key, kindOf(e)), append(at(path, key), i)...)
				return nil
			}
			out[i] = m
		}
		return out
	}
	r.fail(fmt.Sprintf("expected tables written [[%s]], got %s", key, kindOf(v)), at(path, key)...)
	return nil
}

// kindOf names the kind of a decoded TOML value as the flow's reader sees
// it.
func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return "a date or time"
	}
}

// build turns the shape-checked raw flow into a Flow, checking each value:
// the flow's settings, then connectors, pipelines and links in file order,
// so the first problem reported is the first one in the file.
func (f *Flow) build(raw *rawFlow) error {
	if err := f.buildSettings(raw); err != nil {
		return err
	}
	ids := idClaims{} // id -> "connector" or "pipeline"
	for i, rc := range raw.Connector {
		c, err := f.buildConnector(ids, i, rc)
		if err != nil {
			return err
		}
		f.Connectors = append(f.Connectors, c)
	}
	for i, rp := range raw.Pipeline {
		p, err := f.buildPipeline(ids, i, rp)
		if err != nil {
			return err
		}
		f.Pipelines = append(f.Pipelines, p)
	}
	seen := map[[2]Endpoint]Link{}
	for i, rl := range raw.Link {
		l, err := f.buildLink(i, rl, ids)
		if err != nil {
			return err
		}
		if prev, dup := seen[[2]Endpoint{l.From, l.To}]; dup {
			return f.errAt(fmt.Sprintf("duplicates link[%d] (line %d): %s -> %s; remove one (a link written twice would deliver every event twice)",
				prev.Index, f.lineOf("link", prev.Index), rl.From, rl.To), "link", i)
		}
		seen[[2]Endpoint{l.From, l.To}] = l
		f.Links = append(f.Links, l)
	}
	return f.checkRoutes()
}

// maxNameLen bounds a flow's name (it is a URL path element, a metric
// label and a log field).
const maxNameLen = 128

// nameProblem says what is wrong with a flow name, or "": 1 to 128
// letters, digits, '-', '_' and '.', not starting with '.'.
func nameProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > maxNameLen:
		return fmt.Sprintf("is longer than %d bytes", maxNameLen)
	case name[0] == '.':
		return "starts with '.'"
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' && r != '.' {
			return fmt.Sprintf("holds %q: a flow name is letters, digits, '-', '_' and '.' (it names the flow in the API's paths, in metrics and in logs)", r)
		}
	}
	return ""
}

// buildSettings reads the [flow] table: the name (the file's base name
// when not set) and the batch size.
func (f *Flow) buildSettings(raw *rawFlow) error {
	f.Name = raw.Flow.Name
	if f.Name == "" {
		f.Name = strings.TrimSuffix(filepath.Base(f.File), filepath.Ext(f.File))
		if nameProblem(f.Name) != "" {
			return f.errAt(fmt.Sprintf("the flow has no name and its file's name %q does not make one: give [flow] name = \"...\"", f.Name), "flow")
		}
	}
	if p := nameProblem(f.Name); p != "" {
		return f.errAt(fmt.Sprintf("%q %s", f.Name, p), "flow", "name")
	}
	f.BatchSize = DefaultBatchSize
	if b := raw.Flow.BatchSize; b != nil {
		if *b < 1 || *b > maxBatchSize {
			return f.errAt(fmt.Sprintf("batch_size must be between 1 and %d, got %d", maxBatchSize, *b), "flow", "batch_size")
		}
		f.BatchSize = *b
	}
	f.CPUs, f.AutoCPUs = raw.Flow.CPUs, raw.Flow.AutoCPUs
	return nil
}

// idClaims maps each id used so far to the kind of node that uses it.
type idClaims map[string]string

// claimID records id for a node of the given kind: ids must be valid and
// unique across connectors and pipelines.
func (f *Flow) claimID(ids idClaims, id, kind string, path ...any) error {
	if err := checkID(id); err != nil {
		return f.errAt(err.Error(), append(path, "id")...)
	}
	if prev, dup := ids[id]; dup {
		return f.errAt(fmt.Sprintf("id %q is already used by a %s; ids must be unique across connectors and pipelines", id, prev), append(path, "id")...)
	}
	ids[id] = kind
	return nil
}

// buildConnector claims the id of [[connector]] number i, checks the rest
// and fills in its defaults.
func (f *Flow) buildConnector(ids idClaims, i int, rc rawConnector) (Connector, error) {
	if err := f.claimID(ids, rc.ID, "connector", "connector", i); err != nil {
		return Connector{}, err
	}
	if rc.Type == "" {
		return Connector{}, f.errAt("missing connector type: set type to a connector type from a plugin (tremorctl list-plugins shows them)", "connector", i, "type")
	}
	c := Connector{ID: rc.ID, Type: rc.Type, Codec: rc.Codec, Config: rc.Config, Isolation: rc.Isolation, PluginSHA256: strings.ToLower(rc.PluginSHA256), Index: i}
	if s := c.PluginSHA256; s != "" && !isSHA256(s) {
		return Connector{}, f.errAt(fmt.Sprintf("plugin_sha256 %q is not a SHA-256 in hex (64 hex digits; tremorctl list-plugins --json shows each file's)", rc.PluginSHA256), "connector", i, "plugin_sha256")
	}
	if c.Isolation == "" {
		c.Isolation = "auto"
	}
	if !slices.Contains(Isolations, c.Isolation) {
		return Connector{}, f.errAt(fmt.Sprintf("isolation %q: expected one of %s", c.Isolation, strings.Join(Isolations, ", ")), "connector", i, "isolation")
	}
	if c.Config == nil {
		c.Config = map[string]any{}
	}
	var err error
	if c.Preprocessors, err = f.processors(rc.Preprocessors, "connector", i, "preprocessors"); err != nil {
		return Connector{}, err
	}
	if c.Postprocessors, err = f.processors(rc.Postprocessors, "connector", i, "postprocessors"); err != nil {
		return Connector{}, err
	}
	if c.Reconnect, err = f.reconnect(i, rc); err != nil {
		return Connector{}, err
	}
	return c, nil
}

// reconnect reads connector i's [reconnect] table over the defaults.
func (f *Flow) reconnect(i int, rc rawConnector) (Reconnect, error) {
	rec := Reconnect{InitialMs: DefaultReconnectInitial, MaxMs: DefaultReconnectMax}
	for _, s := range []struct {
		v    *int
		dst  *int
		name string
	}{{rc.Reconnect.InitialMs, &rec.InitialMs, "initial_ms"}, {rc.Reconnect.MaxMs, &rec.MaxMs, "max_ms"}, {rc.Reconnect.MaxAttempts, &rec.MaxAttempts, "max_attempts"}} {
		if s.v == nil {
			continue
		}
		if *s.v < 0 {
			return Reconnect{}, f.errAt(fmt.Sprintf("must not be negative, got %d", *s.v), "connector", i, "reconnect", s.name)
		}
		// A wait longer than a day is a typo, and one in the billions of
		// ms would overflow the backoff into no wait at all.
		if s.name != "max_attempts" && *s.v > maxReconnectMs {
			return Reconnect{}, f.errAt(fmt.Sprintf("must be at most %d ms (a day), got %d", maxReconnectMs, *s.v), "connector", i, "reconnect", s.name)
		}
		*s.dst = *s.v
	}
	if rec.InitialMs == 0 {
		return Reconnect{}, f.errAt("must be at least 1 ms", "connector", i, "reconnect", "initial_ms")
	}
	if rec.MaxMs < rec.InitialMs {
		return Reconnect{}, f.errAt(fmt.Sprintf("max_ms (%d) must not be below initial_ms (%d)", rec.MaxMs, rec.InitialMs), "connector", i, "reconnect", "max_ms")
	}
	return rec, nil
}

// buildPipeline claims the id of [[pipeline]] number i and checks its
// routes.
func (f *Flow) buildPipeline(ids idClaims, i int, rp rawPipeline) (Pipeline, error) {
	if err := f.claimID(ids, rp.ID, "pipeline", "pipeline", i); err != nil {
		return Pipeline{}, err
	}
	p := Pipeline{ID: rp.ID, Index: i}
	for j, rr := range rp.Route {
		r, err := f.buildRoute(rr, "pipeline", i, "route", j)
		if err != nil {
			return Pipeline{}, err
		}
		p.Routes = append(p.Routes, r)
	}
	return p, nil
}

// buildRoute checks one route: a field, a known op, a value exactly when
// the op compares, and exactly one of a port or discard.
func (f *Flow) buildRoute(rr rawRoute, path ...any) (Route, error) {
	r := Route{Field: rr.Field, Op: rr.Op, Value: rr.Value, To: rr.To, Discard: rr.Discard}
	if r.Field == "" {
		return Route{}, f.errAt(`missing field: the dotted path to test, e.g. field = "user.name"`, at(path, "field")...)
	}
	if !slices.Contains(Ops, r.Op) {
		return Route{}, f.errAt(fmt.Sprintf("unknown op %q; expected one of %s", r.Op, strings.Join(Ops, ", ")), at(path, "op")...)
	}
	needsValue := r.Op != "exists" && r.Op != "missing"
	if needsValue && r.Value == nil {
		return Route{}, f.errAt(fmt.Sprintf("op %q needs a value to compare with", r.Op), at(path, "value")...)
	}
	if !needsValue && r.Value != nil {
		return Route{}, f.errAt(fmt.Sprintf("op %q takes no value; remove it", r.Op), at(path, "value")...)
	}
	// A value of a kind the op never matches would make a route that
	// silently never applies.
	switch r.Value.(type) {
	case string:
	case int64, float64:
		if r.Op == "prefix" {
			return Route{}, f.errAt(fmt.Sprintf(`op "prefix" matches strings: the value must be a string, got %s (for a number, write it in quotes)`, kindOf(r.Value)), at(path, "value")...)
		}
	default:
		switch r.Op {
		case "prefix":
			return Route{}, f.errAt(fmt.Sprintf(`op "prefix" matches strings: the value must be a string, got %s`, kindOf(r.Value)), at(path, "value")...)
		case "lt", "le", "gt", "ge":
			return Route{}, f.errAt(fmt.Sprintf("op %q orders numbers or strings: the value must be one, got %s", r.Op, kindOf(r.Value)), at(path, "value")...)
		}
	}
	if (r.To == "") == !r.Discard {
		return Route{}, f.errAt(`set exactly one of to = "<port>" or discard = true`, path...)
	}
	if r.To == "in" {
		return Route{}, f.errAt(`"in" is the pipeline's input port; pick another output port name`, at(path, "to")...)
	}
	return r, nil
}

// buildLink checks [[link]] number i: both ends name known nodes, and it
// goes from a connector's or pipeline's output port to the other kind's
// input port.
func (f *Flow) buildLink(i int, rl rawLink, ids idClaims) (Link, error) {
	from, err := f.endpoint(rl.From, "out", "link", i, "from")
	if err != nil {
		return Link{}, err
	}
	to, err := f.endpoint(rl.To, "in", "link", i, "to")
	if err != nil {
		return Link{}, err
	}
	fromKind, ok := ids[from.Node]
	if !ok {
		return Link{}, f.errAt(fmt.Sprintf("no connector or pipeline has id %q", from.Node), "link", i, "from")
	}
	toKind, ok := ids[to.Node]
	if !ok {
		return Link{}, f.errAt(fmt.Sprintf("no connector or pipeline has id %q", to.Node), "link", i, "to")
	}
	if fromKind == toKind {
		return Link{}, f.errAt(fmt.Sprintf("a link goes from a connector to a pipeline or from a pipeline to a connector; %q and %q are both %ss", from.Node, to.Node, fromKind), "link", i)
	}
	if to.Port != "in" {
		return Link{}, f.errAt(fmt.Sprintf("%s has one input port, \"in\"; got %q", to.Node, to.Port), "link", i, "to")
	}
	if fromKind == "connector" && from.Port != "out" && from.Port != "err" {
		return Link{}, f.errAt(fmt.Sprintf("connector output ports are \"out\" and \"err\"; got %q", from.Port), "link", i, "from")
	}
	if fromKind == "pipeline" && !f.pipelinePorts(from.Node)[from.Port] {
		return Link{}, f.errAt(fmt.Sprintf("pipeline %q has no output port %q; its ports are %s", from.Node, from.Port, strings.Join(slices.Sorted(maps.Keys(f.pipelinePorts(from.Node))), ", ")), "link", i, "from")
	}
	return Link{From: from, To: to, Index: i}, nil
}

// checkRoutes refuses a flow that would lose events silently: every route
// port of a pipeline must be linked somewhere, and every pipeline needs an
// input and its "out" port linked.
func (f *Flow) checkRoutes() error {
	linked := map[Endpoint]bool{}
	fed := map[string]bool{}
	for _, l := range f.Links {
		linked[l.From] = true
		fed[l.To.Node] = true
	}
	for _, p := range f.Pipelines {
		if !fed[p.ID] {
			return f.errAt(fmt.Sprintf("pipeline %q has no input: add a [[link]] with to = %q", p.ID, p.ID), "pipeline", p.Index, "id")
		}
		if !linked[Endpoint{p.ID, "out"}] {
			return f.errAt(fmt.Sprintf("pipeline %q: its \"out\" port is not linked, so events matching no route would be lost; add a [[link]] from %q", p.ID, p.ID+"/out"), "pipeline", p.Index, "id")
		}
		for j, r := range p.Routes {
			if !r.Discard && !linked[Endpoint{p.ID, r.To}] {
				return f.errAt(fmt.Sprintf("port %q is not linked, so events routed there would be lost; add a [[link]] from %q or use discard = true", r.To, p.ID+"/"+r.To), "pipeline", p.Index, "route", j, "to")
			}
		}
	}
	return nil
}

// pipelinePorts lists a pipeline's output ports: out and its routes'.
func (f *Flow) pipelinePorts(id string) map[string]bool {
	ports := map[string]bool{"out": true}
	for _, p := range f.Pipelines {
		if p.ID == id {
			for _, r := range p.Routes {
				if r.To != "" {
					ports[r.To] = true
				}
			}
		}
	}
	return ports
}

func (f *Flow) endpoint(s, defaultPort string, path ...any) (Endpoint, error) {
	if s == "" {
		return Endpoint{}, f.errAt(`missing: write "<id>" or "<id>/<port>"`, path...)
	}
	node, port, hasPort := strings.Cut(s, "/")
	if !hasPort {
		port = defaultPort
	}
	if node == "" || port == "" || strings.Contains(port, "/") {
		return Endpoint{}, f.errAt(fmt.Sprintf(`%q is not "<id>" or "<id>/<port>"`, s), path...)
	}
	return Endpoint{Node: node, Port: port}, nil
}

func (f *Flow) processors(list []any, path ...any) ([]Processor, error) {
	if list == nil {
		return nil, nil // not set: the connector type's framing applies
	}
	out := []Processor{} // set, maybe to none
	for j, item := range list {
		switch v := item.(type) {
		case string:
			out = append(out, Processor{Name: v, Config: map[string]any{}})
		case map[string]any:
			name, _ := v["name"].(string)
			if name == "" {
				return nil, f.errAt(`a processor table needs name = "<processor>"`, append(path, j)...)
			}
			cfg := map[string]any{}
			for k, val := range v {
				if k != "name" {
					cfg[k] = val
				}
			}
			out = append(out, Processor{Name: name, Config: cfg})
		default:
			return nil, f.errAt(fmt.Sprintf(`expected a name like "lines" or a table like { name = "lines", max_length = 4096 }, got %s`, kindOf(item)), append(path, j)...)
		}
	}
	return out, nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

func checkID(id string) error {
	if id == "" {
		return errors.New(`missing id: every connector and pipeline needs id = "<name>"`)
	}
	for _, r := range id {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("id %q may only use letters, digits, '_' and '-'", id)
		}
	}
	return nil
}
