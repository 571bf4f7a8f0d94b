package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	plugincat "tremorhost/host/catalog"
	"tremorhost/host/inproc"
	"tremorhost/host/plugin"
	"tremorhost/host/runtime"
)

// impl is one implementation of the bench source and sink.
type impl struct {
	name   string // short name in benchmark names: go, c, rust, gopl
	file   string // plugin file in build/plugins; "" for in-process
	source string // connector types
	sink   string
	// sinkConfig is the sink's config, as a TOML inline table body.
	sinkConfig string
}

var impls = []impl{
	{name: "go", source: "inproc_bench_source", sink: "inproc_bench_sink"},
	{name: "c", file: "libtremor_bench.so", source: "bench_source", sink: "bench_sink"},
	{name: "rust", file: "libtremor_bench_rs.so", source: "bench_rs_source", sink: "bench_rs_sink"},
	// check = false: like the C and Rust sinks, only count (the Go plugin's
	// sink would otherwise parse every seq number).
	{name: "gopl", file: "libtremor_bench_go.so", source: "bench_go_source", sink: "bench_go_sink", sinkConfig: "check = false"},
}

// root is the repository root (the directory holding go.mod).
func root(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("cannot find the repository root (go.mod)")
		}
		dir = parent
	}
}

// pluginFile returns build/plugins/<file> (or file itself when it is an
// absolute path), failing when it was not built.
func pluginFile(tb testing.TB, file string) string {
	tb.Helper()
	p := file
	if !filepath.IsAbs(p) {
		p = filepath.Join(root(tb), "build", "plugins", file)
	}
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("%s is missing: run ./scripts/build.sh first", p)
	}
	return p
}

var (
	catOnce sync.Once
	cat     runtime.Catalog
	catErr  error
)

// catalog serves the in-process types and every bench plugin's types.
func catalog(tb testing.TB) runtime.Catalog {
	tb.Helper()
	var files []string
	for _, im := range impls {
		if im.file != "" {
			files = append(files, pluginFile(tb, im.file))
		}
	}
	catOnce.Do(func() {
		reg, err := plugin.LoadAll(files)
		cat, catErr = runtime.Catalogs{inproc.Catalog{}, plugincat.Plugins{Registry: reg}}, err
	})
	if catErr != nil {
		tb.Fatal(catErr)
	}
	return cat
}

// connector loads build/plugins/<file> and returns its connector <name>.
func connector(tb testing.TB, file, name string) *plugin.Connector {
	tb.Helper()
	p, err := plugin.Load(pluginFile(tb, file))
	if err != nil {
		tb.Fatal(err)
	}
	c := p.Connector(name)
	if c == nil {
		tb.Fatalf("%s has no connector %q", file, name)
	}
	return c
}

// flowSpec is one benchmark flow.
type flowSpec struct {
	im    impl
	kind  string // raw or json
	batch int    // 0: the flow default
	size  int    // bytes per event, newline included
	count int
}

// toml writes the flow: source -> pipeline -> sink, lines pre- and
// post-processors, binary (raw) or json codec on both connectors.
func (s flowSpec) toml() string {
	codec := "binary"
	if s.kind == "json" {
		codec = "json"
	}
	var b strings.Builder
	b.WriteString("[flow]\nname = \"bench\"\n")
	if s.batch > 0 {
		fmt.Fprintf(&b, "batch_size = %d\n", s.batch)
	}
	fmt.Fprintf(&b, `
[[connector]]
id = "src"
type = %q
codec = %q
preprocessors = ["lines"]
config = { count = %d, size = %d }

[[connector]]
id = "dst"
type = %q
codec = %q
postprocessors = ["lines"]
config = { %s }

[[pipeline]]
id = "pass"

[[link]]
from = "src"
to = "pass"

[[link]]
from = "pass"
to = "dst"
`, s.im.source, codec, s.count, s.size, s.im.sink, codec, s.im.sinkConfig)
	return b.String()
}
