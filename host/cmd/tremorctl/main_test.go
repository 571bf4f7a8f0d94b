package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/tests/testenv"
)

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestListPluginsJSONWithBrokenFiles(t *testing.T) {
	good := testenv.Fixture(t, "fixture")
	bad := testenv.Fixture(t, "fixture_abi_major")
	dir := t.TempDir()
	notELF := filepath.Join(dir, "libnotes.so")
	require.NoError(t, os.WriteFile(notELF, []byte("hello"), 0o644))

	out, _, code := runCLI(t, "list-plugins", "--json", bad, good, dir)
	assert.Equal(t, 1, code, "non-zero when any file failed")
	var got []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.Len(t, got, 3, "one object per file, broken ones included, in order")

	assert.Equal(t, bad, got[0]["path"])
	assert.Nil(t, got[0]["name"])
	assert.Contains(t, got[0]["error"], "built for ABI 2.1, this host speaks 1.1")

	assert.Equal(t, good, got[1]["path"])
	assert.Nil(t, got[1]["error"])
	assert.Equal(t, "fixture", got[1]["name"])
	assert.Equal(t, "0.1.0", got[1]["version"])
	assert.Equal(t, "1.1", got[1]["abi"])
	assert.Equal(t, "plain C", got[1]["sdk"])
	conns := got[1]["connectors"].([]any)
	require.Len(t, conns, 2)
	echo := conns[0].(map[string]any)
	assert.Equal(t, "fixture_echo", echo["name"])
	assert.Equal(t, []any{"source", "sink"}, echo["kinds"])
	assert.Equal(t, "bytes", echo["payload"])
	types := conns[1].(map[string]any)
	fields := types["fields"].([]any)
	host := fields[0].(map[string]any)
	assert.Equal(t, map[string]any{"name": "host", "type": "string", "required": true, "secret": false, "default": nil, "doc": "where to send"}, host)
	tags := fields[7].(map[string]any)
	assert.Equal(t, []any{"a", 1.0}, tags["default"])

	assert.Equal(t, notELF, got[2]["path"])
	assert.Contains(t, got[2]["error"], "is not an ELF shared library")
}

func TestListPluginsTable(t *testing.T) {
	good := testenv.Fixture(t, "fixture")
	out, errOut, code := runCLI(t, "list-plugins", good)
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "PLUGIN")
	assert.Regexp(t, `fixture\s+0\.1\.0\s+1\.1\s+plain C\s+fixture_echo \(source\+sink\), fixture_types \(sink\)\s+`+good, out)
	assert.Contains(t, out, "1 plugin, 2 connector types")

	out, _, code = runCLI(t, "list-plugins", good, testenv.Fixture(t, "fixture_no_create"))
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "FAILED TO LOAD")
	assert.Contains(t, out, "vtable lacks required hooks: on_create")
	assert.Contains(t, out, "1 file failed to load")
}

func TestListPluginsSearchPath(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(testenv.Fixture(t, "fixture"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "libtremor_fixture_copy.so"), data, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("not a plugin"), 0o644))

	t.Setenv("TREMOR_PLUGIN_PATH", "::"+dir+":")
	out, errOut, code := runCLI(t, "--log-level", "debug", "list-plugins", "--json")
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "ignoring an empty entry", "empty entries are reported at debug level")
	var got []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.Len(t, got, 1)
	assert.Equal(t, filepath.Join(dir, "libtremor_fixture_copy.so"), got[0]["path"])

	t.Setenv("TREMOR_PLUGIN_PATH", "")
	out, _, code = runCLI(t, "list-plugins", "--plugin-path", dir, "--json")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "libtremor_fixture_copy.so")
}

func TestListPluginsMissingPath(t *testing.T) {
	_, errOut, code := runCLI(t, "list-plugins", "/nonexistent/dir")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "plugin path /nonexistent/dir: no such file or directory")
}

func TestInspect(t *testing.T) {
	// a plugin directory with the fixture and one broken file (not all of
	// build/test-plugins: some of those claim the fixture's connector names
	// on purpose, which gets both refused)
	dir := t.TempDir()
	for _, name := range []string{"fixture", "fixture_abi_minor"} {
		data, err := os.ReadFile(testenv.Fixture(t, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "libtremor_"+name+".so"), data, 0o755))
	}
	cases := []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		{"by connector name", []string{"inspect", "--plugin-path", dir, "fixture_types"},
			[]string{"Plugin fixture 0.1.0", "Connector fixture_types (sink; payload structured)", "password", "yes", `["a", 1]`},
			[]string{"Connector fixture_echo"}},
		{"by plugin name, flags after", []string{"inspect", "fixture", "--plugin-path", dir},
			[]string{"Connector fixture_echo (source + sink; payload bytes)", "Connector fixture_types", "misbehave"}, nil},
		{"by file", []string{"inspect", testenv.Fixture(t, "fixture")},
			[]string{"File         " + testenv.Fixture(t, "fixture"), "License      Apache-2.0"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tc.args...)
			require.Equal(t, 0, code, errOut)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
			for _, w := range tc.not {
				assert.NotContains(t, out, w)
			}
		})
	}
	out, _, code := runCLI(t, "inspect", "--json", "--plugin-path", dir, "fixture_echo")
	require.Equal(t, 0, code)
	var got []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got, 1)
	assert.Len(t, got[0]["connectors"], 1)

	_, errOut, code := runCLI(t, "inspect", "--plugin-path", dir, "no_such_thing")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `no plugin or connector named "no_such_thing"`)
	assert.Contains(t, errOut, "files that failed to load")

	_, errOut, code = runCLI(t, "inspect", testenv.Fixture(t, "fixture_abi_minor"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "built for ABI 1.2")
}

func TestUsage(t *testing.T) {
	_, errOut, code := runCLI(t)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "list-plugins")
	_, errOut, code = runCLI(t, "frobnicate")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "frobnicate"`)
	_, errOut, code = runCLI(t, "list-plugins", "--log-level", "loud", testenv.Fixture(t, "fixture"))
	assert.Equal(t, 1, code)
	assert.True(t, strings.Contains(errOut, `--log-level "loud"`), errOut)
}
