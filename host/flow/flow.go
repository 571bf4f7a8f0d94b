// Package flow reads and checks flow files: the TOML that names connectors,
// pipelines and the links between them. It knows the shape of a flow, not
// what plugins or codecs exist: the runtime checks those names and reports
// them with Flow.Errorf, which adds the file and line.
package flow

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Defaults used when a flow leaves a setting out.
const (
	DefaultBatchSize        = 256
	DefaultReconnectInitial = 100  // ms
	DefaultReconnectMax     = 5000 // ms
	maxBatchSize            = 1 << 16
)

// Flow is a checked flow file.
type Flow struct {
	Name       string
	File       string
	BatchSize  int // events per batch between a plugin and the runtime
	Connectors []Connector
	Pipelines  []Pipeline
	Links      []Link

	lines keyLines
}

// Connector is one connector instance: a connector type from a plugin, its
// config (checked later against the fields the plugin declares) and the
// codec and processors that turn its bytes into events and back.
type Connector struct {
	ID             string
	Type           string
	Codec          string // "" when not set
	Preprocessors  []Processor
	Postprocessors []Processor
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

// Load reads and checks the flow file at path.
func Load(path string) (*Flow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading flow: %w", err)
	}
	return Parse(path, data)
}

// Parse checks a flow held in memory; file names it in errors.
func Parse(file string, data []byte) (*Flow, error) {
	var raw rawFlow
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: file, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}
		}
		// Type mismatches come as plain errors: "toml: line N (last key "k"): msg".
		if m := typeErr.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &Error{File: file, Line: line, Key: m[2], Msg: m[3]}
		}
		return nil, &Error{File: file, Msg: err.Error()}
	}
	f := &Flow{File: file, lines: indexKeyLines(data)}
	for _, k := range md.Undecoded() {
		if !freeForm(k) {
			return nil, f.unknownKey(k)
		}
	}
	if err := f.build(&raw); err != nil {
		return nil, err
	}
	return f, nil
}

// ErrAt reports a problem at a key of the flow, adding file and line, e.g.
// f.ErrAt(`unknown codec "jsn"`, "connector", 2, "codec").
// Path segments are key names (strings) or array-of-table indexes (ints).
func (f *Flow) ErrAt(msg string, path ...any) error { return f.errAt(msg, path...) }

func (f *Flow) errAt(msg string, path ...any) error {
	var dotted, shown []string
	for _, p := range path {
		switch v := p.(type) {
		case int:
			dotted = append(dotted, fmt.Sprint(v))
			if len(shown) > 0 {
				shown[len(shown)-1] += fmt.Sprintf("[%d]", v)
			}
		default:
			dotted = append(dotted, fmt.Sprint(v))
			shown = append(shown, fmt.Sprint(v))
		}
	}
	return &Error{File: f.File, Line: f.lines.line(dotted...), Key: strings.Join(shown, "."), Msg: msg}
}

var typeErr = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// freeForm says whether k lies where a flow holds arbitrary values (plugin
// config, processor settings, route values): those are checked later.
func freeForm(k toml.Key) bool {
	return len(k) > 2 && (k[0] == "connector" && (k[1] == "config" || k[1] == "preprocessors" || k[1] == "postprocessors") ||
		k[0] == "pipeline" && k[1] == "route" && k[2] == "value")
}

// unknownKey reports a key the flow format does not have. toml's key has no
// array indexes, so the first written key of that shape is the one meant.
func (f *Flow) unknownKey(k toml.Key) error {
	line, shown := 0, k.String()
	for path, n := range f.lines {
		var named []string
		var indexed []any
		for _, seg := range strings.Split(path, ".") {
			if i, err := strconv.Atoi(seg); err == nil {
				indexed = append(indexed, i)
			} else {
				named = append(named, seg)
				indexed = append(indexed, seg)
			}
		}
		if slices.Equal(named, k) && (line == 0 || n < line) {
			line, shown = n, f.errAt("", indexed...).(*Error).Key
		}
	}
	return &Error{File: f.File, Line: line, Key: shown,
		Msg: "unknown key; see the flow format in README.md"}
}

// rawFlow is the TOML shape; build turns it into a checked Flow.
type rawFlow struct {
	Flow struct {
		Name      string `toml:"name"`
		BatchSize *int   `toml:"batch_size"`
	} `toml:"flow"`
	Connector []struct {
		ID             string         `toml:"id"`
		Type           string         `toml:"type"`
		Codec          string         `toml:"codec"`
		Preprocessors  []any          `toml:"preprocessors"`
		Postprocessors []any          `toml:"postprocessors"`
		Config         map[string]any `toml:"config"`
		Isolation      string         `toml:"isolation"`
		PluginSHA256   string         `toml:"plugin_sha256"`
		Reconnect      struct {
			InitialMs   *int `toml:"initial_ms"`
			MaxMs       *int `toml:"max_ms"`
			MaxAttempts *int `toml:"max_attempts"`
		} `toml:"reconnect"`
	} `toml:"connector"`
	Pipeline []struct {
		ID    string `toml:"id"`
		Route []struct {
			Field   string `toml:"field"`
			Op      string `toml:"op"`
			Value   any    `toml:"value"`
			To      string `toml:"to"`
			Discard bool   `toml:"discard"`
		} `toml:"route"`
	} `toml:"pipeline"`
	Link []struct {
		From string `toml:"from"`
		To   string `toml:"to"`
	} `toml:"link"`
}

func (f *Flow) build(raw *rawFlow) error {
	f.Name = raw.Flow.Name
	if f.Name == "" {
		f.Name = strings.TrimSuffix(filepath.Base(f.File), filepath.Ext(f.File))
	}
	f.BatchSize = DefaultBatchSize
	if b := raw.Flow.BatchSize; b != nil {
		if *b < 1 || *b > maxBatchSize {
			return f.errAt(fmt.Sprintf("batch_size must be between 1 and %d, got %d", maxBatchSize, *b), "flow", "batch_size")
		}
		f.BatchSize = *b
	}

	ids := map[string]string{} // id -> "connector" or "pipeline"
	claim := func(id, kind string, path ...any) error {
		if err := checkID(id); err != nil {
			return f.errAt(err.Error(), append(path, "id")...)
		}
		if prev, dup := ids[id]; dup {
			return f.errAt(fmt.Sprintf("id %q is already used by a %s; ids must be unique across connectors and pipelines", id, prev), append(path, "id")...)
		}
		ids[id] = kind
		return nil
	}

	for i, rc := range raw.Connector {
		if err := claim(rc.ID, "connector", "connector", i); err != nil {
			return err
		}
		if rc.Type == "" {
			return f.errAt("missing connector type: set type to a connector type from a plugin (tremorctl list-plugins shows them)", "connector", i, "type")
		}
		c := Connector{ID: rc.ID, Type: rc.Type, Codec: rc.Codec, Config: rc.Config, Isolation: rc.Isolation, PluginSHA256: strings.ToLower(rc.PluginSHA256), Index: i}
		if s := c.PluginSHA256; s != "" && !isSHA256(s) {
			return f.errAt(fmt.Sprintf("plugin_sha256 %q is not a SHA-256 in hex (64 hex digits; tremorctl list-plugins --json shows each file's)", rc.PluginSHA256), "connector", i, "plugin_sha256")
		}
		if c.Isolation == "" {
			c.Isolation = "auto"
		}
		if !slices.Contains(Isolations, c.Isolation) {
			return f.errAt(fmt.Sprintf("isolation %q: expected one of %s", c.Isolation, strings.Join(Isolations, ", ")), "connector", i, "isolation")
		}
		if c.Config == nil {
			c.Config = map[string]any{}
		}
		var err error
		if c.Preprocessors, err = f.processors(rc.Preprocessors, "connector", i, "preprocessors"); err != nil {
			return err
		}
		if c.Postprocessors, err = f.processors(rc.Postprocessors, "connector", i, "postprocessors"); err != nil {
			return err
		}
		c.Reconnect = Reconnect{InitialMs: DefaultReconnectInitial, MaxMs: DefaultReconnectMax}
		for _, s := range []struct {
			v    *int
			dst  *int
			name string
		}{{rc.Reconnect.InitialMs, &c.Reconnect.InitialMs, "initial_ms"}, {rc.Reconnect.MaxMs, &c.Reconnect.MaxMs, "max_ms"}, {rc.Reconnect.MaxAttempts, &c.Reconnect.MaxAttempts, "max_attempts"}} {
			if s.v == nil {
				continue
			}
			if *s.v < 0 {
				return f.errAt(fmt.Sprintf("must not be negative, got %d", *s.v), "connector", i, "reconnect", s.name)
			}
			*s.dst = *s.v
		}
		if c.Reconnect.InitialMs == 0 {
			return f.errAt("must be at least 1 ms", "connector", i, "reconnect", "initial_ms")
		}
		if c.Reconnect.MaxMs < c.Reconnect.InitialMs {
			return f.errAt(fmt.Sprintf("max_ms (%d) must not be below initial_ms (%d)", c.Reconnect.MaxMs, c.Reconnect.InitialMs), "connector", i, "reconnect", "max_ms")
		}
		f.Connectors = append(f.Connectors, c)
	}

	for i, rp := range raw.Pipeline {
		if err := claim(rp.ID, "pipeline", "pipeline", i); err != nil {
			return err
		}
		p := Pipeline{ID: rp.ID, Index: i}
		for j, rr := range rp.Route {
			r := Route{Field: rr.Field, Op: rr.Op, Value: rr.Value, To: rr.To, Discard: rr.Discard}
			if r.Field == "" {
				return f.errAt(`missing field: the dotted path to test, e.g. field = "user.name"`, "pipeline", i, "route", j, "field")
			}
			if !slices.Contains(Ops, r.Op) {
				return f.errAt(fmt.Sprintf("unknown op %q; expected one of %s", r.Op, strings.Join(Ops, ", ")), "pipeline", i, "route", j, "op")
			}
			needsValue := r.Op != "exists" && r.Op != "missing"
			if needsValue && r.Value == nil {
				return f.errAt(fmt.Sprintf("op %q needs a value to compare with", r.Op), "pipeline", i, "route", j, "value")
			}
			if !needsValue && r.Value != nil {
				return f.errAt(fmt.Sprintf("op %q takes no value; remove it", r.Op), "pipeline", i, "route", j, "value")
			}
			if (r.To == "") == !r.Discard {
				return f.errAt(`set exactly one of to = "<port>" or discard = true`, "pipeline", i, "route", j)
			}
			if r.To == "in" {
				return f.errAt(`"in" is the pipeline's input port; pick another output port name`, "pipeline", i, "route", j, "to")
			}
			p.Routes = append(p.Routes, r)
		}
		f.Pipelines = append(f.Pipelines, p)
	}

	for i, rl := range raw.Link {
		from, err := f.endpoint(rl.From, "out", "link", i, "from")
		if err != nil {
			return err
		}
		to, err := f.endpoint(rl.To, "in", "link", i, "to")
		if err != nil {
			return err
		}
		fromKind, ok := ids[from.Node]
		if !ok {
			return f.errAt(fmt.Sprintf("no connector or pipeline has id %q", from.Node), "link", i, "from")
		}
		toKind, ok := ids[to.Node]
		if !ok {
			return f.errAt(fmt.Sprintf("no connector or pipeline has id %q", to.Node), "link", i, "to")
		}
		if fromKind == toKind {
			return f.errAt(fmt.Sprintf("a link goes from a connector to a pipeline or from a pipeline to a connector; %q and %q are both %ss", from.Node, to.Node, fromKind), "link", i)
		}
		if to.Port != "in" {
			return f.errAt(fmt.Sprintf("%s has one input port, \"in\"; got %q", to.Node, to.Port), "link", i, "to")
		}
		if fromKind == "connector" && from.Port != "out" && from.Port != "err" {
			return f.errAt(fmt.Sprintf("connector output ports are \"out\" and \"err\"; got %q", from.Port), "link", i, "from")
		}
		if fromKind == "pipeline" && !f.pipelinePorts(from.Node)[from.Port] {
			return f.errAt(fmt.Sprintf("pipeline %q has no output port %q; its ports are %s", from.Node, from.Port, strings.Join(slices.Sorted(maps.Keys(f.pipelinePorts(from.Node))), ", ")), "link", i, "from")
		}
		f.Links = append(f.Links, Link{From: from, To: to, Index: i})
	}
	return f.checkRoutes()
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
	var out []Processor
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
			return nil, f.errAt(fmt.Sprintf(`entry %d must be a name ("lines") or a table ({ name = "lines", max_length = 4096 }), got %T`, j, item), path...)
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
