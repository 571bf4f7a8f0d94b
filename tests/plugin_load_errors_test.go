package tests

// Plugin files that tremorctl must refuse before any of their connectors
// is used: a shared-library dependency that cannot be found, a file owned
// by another user, and descriptors that break a rule of the config-field
// declarations. Each refusal names the file, what is wrong (down to the
// connector and the field) and what to do; the other plugins of the same
// directory still load, and no Go panic is shown.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/isolate"
	"tremorhost/host/plugin"
	"tremorhost/tests/testenv"
)

// loadErrDepLib is the soname of the library the dependent plugin needs.
const loadErrDepLib = "libloaderrdep.so"

// loadErrCC runs cc with CBuild's flags (C11, -O2, a hidden-visibility
// shared object, the repository's include directory) on srcs, writing out;
// extra comes last (libraries, -L, -Wl,-rpath). CBuild cannot add link
// flags, which a plugin linked against another library needs.
func loadErrCC(t testing.TB, out string, srcs []string, extra ...string) {
	t.Helper()
	args := []string{"-std=c11", "-O2", "-shared", "-fPIC", "-fvisibility=hidden",
		"-I", filepath.Join(testenv.Root(t), "include"), "-o", out}
	args = append(append(args, srcs...), extra...)
	cmd := exec.Command("cc", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cc %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

// loadErrDependentPlugin builds libloaderrdep.so into libDir and, into
// plugin, tests/fixtures/fixture.c edited so that its entry point calls
// into that library (a real dependency: the loader must find it), linked
// with rpath (as given: a directory or $ORIGIN/...).
func loadErrDependentPlugin(t testing.TB, libDir, plugin, rpath string) {
	t.Helper()
	src := t.TempDir()
	dep := filepath.Join(src, "dep.c")
	require.NoError(t, os.WriteFile(dep, []byte("__attribute__((visibility(\"default\"))) int loaderr_dep_answer(void) { return 42; }\n"), 0o644))
	require.NoError(t, os.MkdirAll(libDir, 0o755))
	loadErrCC(t, filepath.Join(libDir, loadErrDepLib), []string{dep}, "-Wl,-soname,"+loadErrDepLib)
	fixture := testenv.Edited(t, "tests/fixtures/fixture.c", src,
		"TREMOR_PLUGIN_EXPORT const tremor_plugin_descriptor *tremor_plugin_get_descriptor(void) { return &descriptor; }",
		"int loaderr_dep_answer(void);\n"+
			"TREMOR_PLUGIN_EXPORT const tremor_plugin_descriptor *tremor_plugin_get_descriptor(void) { return loaderr_dep_answer() == 42 ? &descriptor : 0; }")
	tmp := plugin + ".tmp"
	loadErrCC(t, tmp, []string{fixture}, "-L", libDir, "-lloaderrdep", "-Wl,-rpath,"+rpath, "-lpthread")
	require.NoError(t, os.Rename(tmp, plugin), "replace the fixture copy echoSetup made")
}

// loadErrCopy copies src into dir (mode 0755) and returns the copy.
func loadErrCopy(t testing.TB, src, dir string) string {
	t.Helper()
	dst := filepath.Join(dir, filepath.Base(src))
	copyFile(t, src, dst)
	return dst
}

// loadErrListed runs list-plugins --json on args and returns its exit
// status and the entries by path; it checks there is no Go panic.
func loadErrListed(t testing.TB, env []string, args ...string) (int, map[string]listedPlugin) {
	t.Helper()
	code, listed, stderr := listPluginsJSON(t, env, args...)
	noCrash(t, stderr)
	byPath := map[string]listedPlugin{}
	for _, l := range listed {
		byPath[l.Path] = l
	}
	return code, byPath
}

// loadErrOthersFine checks that the fault plugin beside a refused file is
// listed as loaded, with its connector.
func loadErrOthersFine(t testing.TB, byPath map[string]listedPlugin, fault string) {
	t.Helper()
	l, ok := byPath[fault]
	if !assert.True(t, ok, "%s is listed", fault) {
		return
	}
	assert.Nil(t, l.Error, "the other plugin of the directory is not involved")
	require.NotNil(t, l.Name)
	assert.Equal(t, "fault", *l.Name)
	require.Len(t, l.Connectors, 1)
	assert.Equal(t, "fault", l.Connectors[0].Name)
}

// A plugin whose shared-library dependency is missing is refused with the
// loader's words (naming the missing library) and what to do, by
// list-plugins, inspect and run alike; the plugin beside it still loads, a
// flow that does not need it still runs, and once the library is back the
// flow that needs it runs.
func TestLoadErrMissingSharedLibrary(t *testing.T) {
	flowFile, out, top, plugins := echoSetup(t)
	lib := filepath.Join(plugins, "libtremor_fixture.so")
	libDir := filepath.Join(top, "lib")
	loadErrDependentPlugin(t, libDir, lib, libDir)
	fault := loadErrCopy(t, testenv.Fixture(t, "fault"), plugins)
	env := []string{plugin.EnvPluginPath + "=" + plugins}

	// Set the library aside: the plugin's file is intact, only its
	// dependency is gone.
	dep := filepath.Join(libDir, loadErrDepLib)
	aside := filepath.Join(top, "aside.so")
	require.NoError(t, os.Rename(dep, aside))
	msg := fmt.Sprintf("plugin %s: cannot be loaded: %s: cannot open shared object file: No such file or directory: check that the libraries it needs are installed (ldd %s)", lib, loadErrDepLib, lib)

	code, byPath := loadErrListed(t, nil, plugins)
	assert.Equal(t, 1, code, "a refused file makes list-plugins fail")
	if l, ok := byPath[lib]; assert.True(t, ok, "%s is listed", lib) {
		require.NotNil(t, l.Error)
		assert.Equal(t, msg, *l.Error)
		assert.Nil(t, l.Name, "nothing of the descriptor could be read")
		assert.Empty(t, l.Connectors)
	}
	loadErrOthersFine(t, byPath, fault)

	code, stdout, stderr := tremorctlExit(t, "", nil, "list-plugins", plugins)
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, "FAILED TO LOAD\n  "+msg)
	assert.Contains(t, stdout, "1 plugin, 1 connector type; 1 file failed to load")
	noCrash(t, stderr)

	code, stdout, stderr = tremorctlExit(t, "", nil, "inspect", lib)
	assert.Equal(t, 1, code, "stdout: %s", stdout)
	assert.Equal(t, "tremorctl: "+msg, lastLine(stderr))
	noCrash(t, stderr)

	// A flow that needs it is refused before any event moves, the file's
	// message logged; a flow that does not need it runs.
	code, _, stderr = tremorctlExit(t, "", env, "run", flowFile)
	requireRefusedRun(t, code, stderr, out, strings.ReplaceAll(msg, `"`, `\"`),
		`no loaded plugin provides connector type "fixture_echo"`)
	faultOut := writeFlow(t, t.TempDir(), "other.toml", fmt.Sprintf(twoConnectors, "other", metronome(3),
		"type = \"fault\"\ncodec = \"json\"\nconfig = {}"))
	code, _, stderr = tremorctlExit(t, "", env, "run", faultOut)
	require.Equal(t, 0, code, "a broken file does not stop a flow that does not need it; stderr:\n%s", lastLines(stderr, 20))
	assert.Equal(t, uint64(3), statsTable(t, stderr)["dst"][colOut])
	noCrash(t, stderr)

	// The fix: the library back where the rpath says.
	require.NoError(t, os.Rename(aside, dep))
	code, stdout, stderr = tremorctlExit(t, "", env, "run", flowFile)
	requireEchoRan(t, code, stdout, stderr, out)
}

// The usual way to ship a plugin's own libraries: beside it (here in
// lib/ under the plugin directory, which is not searched for plugins),
// found through an rpath of $ORIGIN/lib. The host loads the very file it
// checked through /proc/self/fd/N, where $ORIGIN would name /proc/self/fd,
// so it finds such libraries itself, checks them as plugin files and loads
// them first: the plugin loads, in the host and isolated.
func TestPluginLibraryThroughOrigin(t *testing.T) {
	flowFile, out, _, plugins := echoSetup(t)
	lib := filepath.Join(plugins, "libtremor_fixture.so")
	libDir := filepath.Join(plugins, "lib")
	loadErrDependentPlugin(t, libDir, lib, "$ORIGIN/lib")

	code, byPath := loadErrListed(t, nil, plugins)
	assert.Equal(t, 0, code)
	if l, ok := byPath[lib]; assert.True(t, ok, "%s is listed", lib) {
		assert.Nil(t, l.Error)
	}
	env := []string{plugin.EnvPluginPath + "=" + plugins}
	code, stdout, stderr := tremorctlExit(t, "", env, "run", flowFile)
	requireEchoRan(t, code, stdout, stderr, out)

	isolated := filepath.Join(t.TempDir(), "isolated.toml")
	flow, err := os.ReadFile(flowFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(isolated, bytes.Replace(flow, []byte(`type = "fixture_echo"`), []byte(`type = "fixture_echo"`+"\nisolation = \"process\""), 1), 0o644))
	require.NoError(t, os.Remove(out))
	code, stdout, stderr = tremorctlExit(t, "", append(env, isolate.EnvRunner+"="+isoRunner(t)), "--log-level", "debug", "run", isolated)
	requireEchoRan(t, code, stdout, stderr, out)
	assert.Contains(t, stderr, "running the plugin in a child process", "the echo source ran isolated")
}

// A library found through $ORIGIN is held to a plugin file's rules: one
// in a directory others can write is refused, naming the library, the
// directory and the fix, and so is one whose soname is not the name the
// plugin needs it by (the loader could not match the two).
func TestLoadErrLibraryThroughOriginRefused(t *testing.T) {
	flowFile, out, _, plugins := echoSetup(t)
	lib := filepath.Join(plugins, "libtremor_fixture.so")
	libDir := filepath.Join(plugins, "lib")
	loadErrDependentPlugin(t, libDir, lib, "$ORIGIN/lib")
	dep := filepath.Join(libDir, loadErrDepLib)
	env := []string{plugin.EnvPluginPath + "=" + plugins}

	require.NoError(t, os.Chmod(libDir, 0o777))
	msg := fmt.Sprintf("plugin %s: its library %s (found through $ORIGIN in its rpath): refusing to load: its directory %s is writable by group or others (mode 0777) without the sticky bit", lib, dep, libDir)
	code, byPath := loadErrListed(t, nil, plugins)
	assert.Equal(t, 1, code)
	if l, ok := byPath[lib]; assert.True(t, ok, "%s is listed", lib) && assert.NotNil(t, l.Error) {
		assert.Contains(t, "plugin "+lib+": "+*l.Error, msg)
	}
	code, _, stderr := tremorctlExit(t, "", env, "run", flowFile)
	requireRefusedRun(t, code, stderr, out, strings.ReplaceAll(msg, `"`, `\"`),
		`no loaded plugin provides connector type "fixture_echo"`)
	require.NoError(t, os.Chmod(libDir, 0o755))

	// The same library without its soname.
	src := t.TempDir()
	c := filepath.Join(src, "dep.c")
	require.NoError(t, os.WriteFile(c, []byte("__attribute__((visibility(\"default\"))) int loaderr_dep_answer(void) { return 42; }\n"), 0o644))
	loadErrCC(t, dep, []string{c})
	code, byPath = loadErrListed(t, nil, plugins)
	assert.Equal(t, 1, code)
	if l, ok := byPath[lib]; assert.True(t, ok, "%s is listed", lib) && assert.NotNil(t, l.Error) {
		assert.Contains(t, *l.Error, fmt.Sprintf("its library %s (found through $ORIGIN in its rpath) has no soname, and is needed as %q", dep, loadErrDepLib))
		assert.Contains(t, *l.Error, "link the library with -Wl,-soname,"+loadErrDepLib)
	}
}

// A plugin file owned by another user (who could change the code this
// host runs) is refused without being loaded, naming the file, its owner
// and the fix; the other plugin of the directory still loads, and after
// the fix the flow runs.
func TestLoadErrPluginFileOwnedByAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		testenv.SkipOffCI(t, "giving a file to another user (uid 65534) needs root", "CI runs as root: run the test command as root")
	}
	flowFile, out, _, plugins := echoSetup(t)
	lib := filepath.Join(plugins, "libtremor_fixture.so")
	fault := loadErrCopy(t, testenv.Fixture(t, "fault"), plugins)
	require.NoError(t, os.Chmod(plugins, 0o755))
	require.NoError(t, os.Lchown(lib, 65534, 65534))
	env := []string{plugin.EnvPluginPath + "=" + plugins}
	msg := fmt.Sprintf("plugin %s: refusing to load: the file is owned by uid 65534, not by you (uid 0) or root; fix with: chown 0 %s (after checking where it came from)", lib, lib)

	code, byPath := loadErrListed(t, nil, plugins)
	assert.Equal(t, 1, code)
	if l, ok := byPath[lib]; assert.True(t, ok, "%s is listed", lib) {
		require.NotNil(t, l.Error)
		assert.Equal(t, msg, *l.Error)
		assert.Nil(t, l.Name, "refused before it was read")
		assert.Nil(t, l.SHA256)
	}
	loadErrOthersFine(t, byPath, fault)

	code, stdout, stderr := tremorctlExit(t, "", nil, "inspect", lib)
	assert.Equal(t, 1, code, "stdout: %s", stdout)
	assert.Equal(t, "tremorctl: "+msg, lastLine(stderr))
	noCrash(t, stderr)

	code, _, stderr = tremorctlExit(t, "", env, "run", flowFile)
	requireRefusedRun(t, code, stderr, out, strings.ReplaceAll(msg, `"`, `\"`),
		`no loaded plugin provides connector type "fixture_echo"`)

	require.NoError(t, os.Lchown(lib, 0, 0))
	code, stdout, stderr = tremorctlExit(t, "", env, "run", flowFile)
	requireEchoRan(t, code, stdout, stderr, out)
}

// A descriptor that breaks a rule of its connectors or config fields
// (tests/fixtures/fixture.c with one edit) is refused as a whole, by
// list-plugins (exit 1, the file listed with what was read of it and its
// error) and inspect (exit 1): the message names the file, the connector
// (index and name), the field (index, and name when it has a valid one)
// and what is wrong; the plugin beside it still loads.
func TestLoadErrBadDescriptors(t *testing.T) {
	const (
		count    = `{.name = "count", .type = TREMOR_VALUE_UINT, .default_json = "0",`
		prefix   = `{.name = "prefix",`
		echo     = `connector #0 "fixture_echo": `
		types    = `connector #1 "fixture_types": `
		countDef = `.default_json = "0", .doc = "events to generate`
	)
	withDefault := func(json string) []string {
		return []string{countDef, `.default_json = "` + json + `", .doc = "events to generate`}
	}
	for _, tt := range []struct {
		name  string
		edit  []string // old, new pairs on fixture.c
		error string   // after "plugin FILE: "
	}{
		{"unknown field type", []string{count, `{.name = "count", .type = 42, .default_json = "0",`},
			echo + `config field #0 "count": type 42 is not a valid field type: use one of TREMOR_VALUE_BOOL (1) .. TREMOR_VALUE_OBJECT (8)`},
		{"field type NULL", []string{count, `{.name = "count", .type = TREMOR_VALUE_NULL, .default_json = "0",`},
			echo + `config field #0 "count": type 0 is not a valid field type`},
		{"unknown flag bits", []string{".flags = TREMOR_FIELD_SECRET,", ".flags = TREMOR_FIELD_SECRET | 0x40,"},
			types + `config field #1 "password": flags 0x42 has bits ABI ` + hostABI + ` does not define (TREMOR_FIELD_REQUIRED 0x1, TREMOR_FIELD_SECRET 0x2)`},
		{"unknown kind bits", []string{".kinds = TREMOR_KIND_SINK,", ".kinds = TREMOR_KIND_SINK | 0x10,"},
			types + `kinds 0x12 has bits ABI ` + hostABI + ` does not define (TREMOR_KIND_SOURCE 0x1, TREMOR_KIND_SINK 0x2)`},
		{"same field name twice", []string{prefix, `{.name = "count",`},
			echo + `declares config field "count" twice: field names must be unique`},
		{"empty field name", []string{prefix, `{.name = "",`},
			echo + `config field #1: name is empty: it must be a non-empty UTF-8 string`},
		{"NULL field name", []string{prefix, `{.name = NULL,`},
			echo + `config field #1: name is NULL: it must be a non-empty UTF-8 string`},
		{"whitespace in a field name", []string{prefix, `{.name = "my prefix",`},
			echo + `config field #1: name "my prefix" contains whitespace or a control character: use a plain name`},
		{"field name only whitespace", []string{prefix, `{.name = " ",`},
			echo + `config field #1: name " " contains whitespace or a control character: use a plain name`},
		{"default null", withDefault("null"),
			echo + `config field #0 "count": default_json "null": is null: leave default_json NULL for no default, or give a uint`},
		{"default with trailing text", withDefault("0 1"),
			echo + `config field #0 "count": default_json "0 1": is not valid JSON: text after the value`},
		{"default with a stray bracket", withDefault("0}"),
			echo + `config field #0 "count": default_json "0}": is not valid JSON: text after the value`},
		{"default not JSON", withDefault("{"),
			echo + `config field #0 "count": default_json "{": is not valid JSON: unexpected EOF`},
		{"default of another type", withDefault(`\"zero\"`),
			echo + `config field #0 "count": default_json "\"zero\"": does not match the field's type uint: got string`},
		{"default negative for a uint", withDefault("-1"),
			echo + `config field #0 "count": default_json "-1": does not match the field's type uint: got -1, which is not an unsigned 64-bit integer`},
		{"default too big for a uint", []string{`.default_json = "8080"`, `.default_json = "18446744073709551616"`},
			types + `config field #4 "port": default_json "18446744073709551616": does not match the field's type uint: got 18446744073709551616, which is not an unsigned 64-bit integer`},
		{"field name not UTF-8", []string{prefix, `{.name = "pr\377fix",`},
			echo + `config field #1: name "pr\xfffix" is not valid UTF-8: names must be UTF-8 text`},
		{"field doc not UTF-8", []string{`.doc = "prefix of generated payloads"`, `.doc = "prefix \377 of payloads"`},
			echo + `config field #1 "prefix": doc "prefix \xff of payloads" is not valid UTF-8`},
		{"connector description not UTF-8", []string{`.description = "echoes what it is sent; test fixture"`, `.description = "echoes \377 test fixture"`},
			echo + `description "echoes \xff test fixture" is not valid UTF-8`},
		{"framing on a structured connector", []string{".payload = TREMOR_PAYLOAD_STRUCTURED,", ".payload = TREMOR_PAYLOAD_STRUCTURED,\n    .framing = \"lines\","},
			types + `framing is "lines" but the payload is structured: only TREMOR_PAYLOAD_BYTES connectors have a framing; set it to NULL`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each case compiles a plugin: use both CPUs
			dir, err := filepath.EvalSymlinks(t.TempDir())
			require.NoError(t, err)
			require.NoError(t, os.Chmod(dir, 0o755))
			built := testenv.CBuild(t, "tests/fixtures/fixture.c", tt.edit...)
			lib := filepath.Join(dir, "libtremor_fixture.so")
			require.NoError(t, os.Rename(built, lib))
			fault := loadErrCopy(t, testenv.Fixture(t, "fault"), dir)
			want := "plugin " + lib + ": " + tt.error

			code, byPath := loadErrListed(t, nil, dir)
			assert.Equal(t, 1, code, "a refused file makes list-plugins fail")
			if l, ok := byPath[lib]; assert.True(t, ok, "%s is listed", lib) {
				require.NotNil(t, l.Error)
				assert.Contains(t, *l.Error, want)
				require.NotNil(t, l.Name, "the plugin's name was read before the refusal")
				assert.Equal(t, "fixture", *l.Name)
				require.NotNil(t, l.Version)
				assert.Equal(t, "0.1.0", *l.Version)
				require.NotNil(t, l.ABI)
				assert.Equal(t, hostABI, *l.ABI)
				assert.Empty(t, l.Connectors, "a refused plugin provides no connector, not even its valid ones")
			}
			loadErrOthersFine(t, byPath, fault)

			code, stdout, stderr := tremorctlExit(t, "", nil, "inspect", lib)
			assert.Equal(t, 1, code, "stdout: %s", stdout)
			assert.Contains(t, lastLine(stderr), "tremorctl: "+want)
			noCrash(t, stderr)
		})
	}
}
