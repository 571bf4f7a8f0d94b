package plugin_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/plugin"
	"tremorhost/tests/testenv"
)

const advice = "rebuild it against the tremor/plugin.h installed with this host"

// Each broken fixture is refused with an error naming the file, the cause
// and what to do.
func TestLoadRefusesBrokenFixtures(t *testing.T) {
	cases := []struct {
		fixture string
		want    []string
	}{
		{"abi_major", []string{"built for ABI 2.1, this host speaks 1.1", advice}},
		{"abi_minor", []string{"built for ABI 1.2, newer than this host's 1.1", advice}},
		{"no_entry", []string{"does not export tremor_plugin_get_descriptor()", "not a tremor plugin", "TREMOR_PLUGIN_EXPORT", "nm -D"}},
		{"null_descriptor", []string{"returned NULL", "static tremor_plugin_descriptor"}},
		{"small_descriptor", []string{"descriptor struct_size is 16", "sizeof(tremor_plugin_descriptor)", advice}},
		{"no_connectors", []string{"declares no connectors", "at least one connector"}},
		{"no_create", []string{`connector #0 "broken_source"`, "vtable lacks required hooks: on_create"}},
		{"no_pull", []string{`"broken_source"`, "on_pull (required for sources)"}},
		{"no_send", []string{`"broken_source"`, "on_send (required for sinks)"}},
		{"no_vtable", []string{"vtable is NULL"}},
		{"vtable_size_zero", []string{"vtable struct_size is 0", "sizeof(tremor_connector_vtable)"}},
		{"small_connector", []string{"struct_size is 8", "sizeof(tremor_connector_type)"}},
		{"no_kinds", []string{"kinds is 0", "TREMOR_KIND_SOURCE"}},
		{"dup_connector", []string{`declares connector "broken_source" twice`, "must be unique"}},
		{"bad_utf8", []string{"connector #0", "not valid UTF-8"}},
		{"bad_default", []string{`config field #0 "interval"`, `default_json "\"ten\""`, "does not match the field's type uint"}},
		{"bad_default_json", []string{`"interval"`, "is not valid JSON"}},
		{"bad_field_type", []string{`"interval"`, "type 42 is not a valid field type"}},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			path := testenv.Fixture(t, "fixture_"+tc.fixture)
			p, err := plugin.Load(path)
			require.Error(t, err, "a broken plugin must be refused")
			assert.Nil(t, p)
			var le *plugin.LoadError
			require.ErrorAs(t, err, &le)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, "plugin "+path+": "), "error names the file: %s", msg)
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
		})
	}
}

// Files that are not plugins at all get a plain-words message before dlopen.
func TestLoadRefusesNonPluginFiles(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(testenv.Fixture(t, "fixture"))
	require.NoError(t, err)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		return p
	}
	cases := []struct {
		name string
		path string
		want []string
	}{
		{"empty file", write("libempty.so", nil), []string{"is empty (0 bytes)", "rebuild the plugin"}},
		{"text file", write("libtext.so", []byte("#!/bin/sh\necho not a plugin\n")), []string{"is not an ELF shared library (it looks like a script)", "remove it from there"}},
		{"truncated copy", write("libcut.so", good[:len(good)/2]), []string{"is truncated", "rebuild or reinstall"}},
		{"truncated header", write("libstub.so", good[:40]), []string{"is truncated"}},
		{"relocatable object", write("libobj.so", elfHeader(1)), []string{"is a relocatable object (.o), not a shared library", "-shared"}},
		{"missing file", filepath.Join(dir, "libnothere.so"), []string{"no such file"}},
		{"directory", dir, []string{"is a directory"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plugin.Load(tc.path)
			require.Error(t, err)
			msg := err.Error()
			assert.Contains(t, msg, "plugin "+tc.path+": ")
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
		})
	}
}

// elfHeader returns a 64-byte little-endian ELF64 header of the given type
// for this machine.
func elfHeader(etype byte) []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1
	h[16] = etype
	h[18] = 62 // x86-64; other machines fail the CPU check first, also fine
	if m, ok := map[string]byte{"arm64": 183, "riscv64": 243}[runtime.GOARCH]; ok {
		h[18] = m
	}
	return h
}

func TestLoadFixture(t *testing.T) {
	p, err := plugin.Load(testenv.Fixture(t, "fixture"))
	require.NoError(t, err)
	assert.Equal(t, "fixture", p.Name)
	assert.Equal(t, "0.1.0", p.Version)
	assert.Equal(t, "1.1", p.ABI())
	assert.Equal(t, "plain C", p.SDK)
	assert.Equal(t, "Apache-2.0", p.License)
	require.Len(t, p.Connectors, 2)

	echo := p.Connector("fixture_echo")
	require.NotNil(t, echo)
	assert.Equal(t, []string{"source", "sink"}, echo.KindNames())
	assert.Equal(t, "bytes", echo.PayloadName())
	assert.Equal(t, "echoes what it is sent; test fixture", echo.Description)

	types := p.Connector("fixture_types")
	require.NotNil(t, types)
	assert.Equal(t, []string{"sink"}, types.KindNames())
	assert.Equal(t, "structured", types.PayloadName())
	host := types.Field("host")
	require.NotNil(t, host)
	assert.True(t, host.Required)
	assert.Equal(t, "string", host.TypeName())
	assert.True(t, types.Field("password").Secret)
	assert.Equal(t, int64(-5), types.Field("offset").Default())
	assert.Equal(t, []any{"a", int64(1)}, types.Field("tags").Default())
	assert.Equal(t, map[string]any{"k": map[string]any{"n": nil}}, types.Field("extra").Default())

	again, err := plugin.Load(testenv.Fixture(t, "fixture"))
	require.NoError(t, err)
	assert.Same(t, p, again, "loading a file twice returns the same plugin")
}

func TestSearch(t *testing.T) {
	dir := t.TempDir()
	fixture := testenv.Fixture(t, "fixture")
	mk := func(rel string, data string) string {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
		return p
	}
	a := mk("a/libone.so", "x")
	mk("a/README.md", "not a plugin")
	mk("a/sub/libdeep.so", "x") // subdirectories are not searched
	b := mk("b/libtwo.so", "x")
	require.NoError(t, os.Symlink(a, filepath.Join(dir, "b", "liblink.so"))) // same file as a/libone.so
	require.NoError(t, os.Mkdir(filepath.Join(dir, "b", "dir.so"), 0o755))   // a directory named *.so

	files, err := plugin.Search([]string{filepath.Join(dir, "a"), fixture}, []string{filepath.Join(dir, "b")}, zerolog.Nop())
	require.NoError(t, err)
	assert.Equal(t, []string{a, fixture, b}, files)

	// A search path entry that is missing or not a directory is an error
	// (the others are still searched), unless it is a default directory.
	files, err = plugin.Search(nil, append([]string{filepath.Join(dir, "missing"), b, filepath.Join(dir, "b")}, plugin.DefaultDirs()...), zerolog.Nop())
	assert.Equal(t, []string{filepath.Join(dir, "b", "liblink.so"), b}, files)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `--plugin-path entry "`+filepath.Join(dir, "missing")+`" does not exist`)
	assert.Contains(t, err.Error(), `--plugin-path entry "`+b+`" is not a directory`)
	assert.NotContains(t, err.Error(), "plugins\"", "the default directories (missing next to the test binary) are skipped")

	_, err = plugin.Search([]string{filepath.Join(dir, "nope")}, nil, zerolog.Nop())
	assert.ErrorContains(t, err, "plugin path "+filepath.Join(dir, "nope"))
}

func TestSplitPathIgnoresEmptyEntries(t *testing.T) {
	var buf strings.Builder
	log := zerolog.New(&buf).Level(zerolog.DebugLevel)
	assert.Equal(t, []string{"/a", "/b"}, plugin.SplitPath(":/a::/b:", plugin.EnvPluginPath, log))
	assert.Equal(t, 3, strings.Count(buf.String(), "ignoring an empty entry"), buf.String())
	assert.Contains(t, buf.String(), "current directory is never searched")
	assert.Nil(t, plugin.SplitPath("", "x", log))
}

// Two plugins claiming one connector name are both refused, in either
// order, each error naming the other file; the connector name is then
// unavailable and Contested names both files. A file listed twice is no
// conflict.
func TestRegistryRefusesDuplicateConnectors(t *testing.T) {
	fixture := testenv.Fixture(t, "fixture")
	impostor := testenv.Fixture(t, "fixture_claims_echo")
	minimal := testenv.Fixture(t, "fixture_minimal")
	for _, files := range [][]string{{fixture, impostor, minimal}, {impostor, minimal, fixture}} {
		t.Run(filepath.Base(files[0]), func(t *testing.T) {
			r, err := plugin.LoadAll(files)
			require.Error(t, err)
			byPath := map[string]plugin.Entry{}
			for _, e := range r.Entries {
				byPath[e.Path] = e
			}
			require.Len(t, byPath, 3)
			for self, other := range map[string]string{fixture: impostor, impostor: fixture} {
				e := byPath[self]
				require.Error(t, e.Err, self)
				require.NotNil(t, e.Plugin, "what the file is stays known")
				assert.Contains(t, e.Err.Error(), "plugin "+self+`: connector "fixture_echo" is also provided by plugin "`)
				assert.Contains(t, e.Err.Error(), "("+other+")")
				assert.Contains(t, e.Err.Error(), "remove all but one of the files")
			}
			assert.NoError(t, byPath[minimal].Err, "an uninvolved plugin loads")
			assert.Nil(t, r.Connector("fixture_echo"))
			assert.Nil(t, r.Connector("fixture_types"), "the rest of a refused plugin is refused with it")
			assert.NotNil(t, r.Connector("broken_source"))
			assert.Len(t, r.Plugins(), 1)
			c := r.Contested("fixture_echo")
			require.Error(t, c)
			assert.Contains(t, c.Error(), `connector type "fixture_echo" is provided by plugin "`)
			assert.Contains(t, c.Error(), fixture)
			assert.Contains(t, c.Error(), impostor)
			assert.NoError(t, r.Contested("fixture_types"))
			assert.NoError(t, r.Contested("broken_source"))
		})
	}

	r, err := plugin.LoadAll([]string{fixture, fixture})
	require.NoError(t, err, "the same file twice")
	assert.NotNil(t, r.Connector("fixture_echo"))
}

func TestLoadAllKeepsGoingAfterFailures(t *testing.T) {
	files := []string{testenv.Fixture(t, "fixture_abi_major"), testenv.Fixture(t, "fixture"), testenv.Fixture(t, "fixture_no_entry")}
	r, err := plugin.LoadAll(files)
	require.Error(t, err)
	assert.Contains(t, err.Error(), files[0])
	assert.Contains(t, err.Error(), files[2])
	require.Len(t, r.Entries, 3)
	assert.Error(t, r.Entries[0].Err)
	assert.NoError(t, r.Entries[1].Err)
	assert.Error(t, r.Entries[2].Err)
	assert.NotNil(t, r.Connector("fixture_echo"))
}

func TestResultCodesWrap(t *testing.T) {
	e := &edge.Error{Op: "pull", Code: abi.ResultErrDisconnected, Message: "peer went away", Plugin: "p", File: "/x.so", Connector: "c", Alias: "a"}
	assert.ErrorIs(t, e, abi.ResultErrDisconnected)
	assert.Equal(t, `plugin "p" lost its connection while reading events: peer went away`, e.Error())
}
