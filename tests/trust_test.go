package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/catalog"
	"tremorhost/host/flow"
	"tremorhost/host/plugin"
	"tremorhost/host/runtime"
	"tremorhost/tests/testenv"
)

const pinnedFlow = `[[connector]]
id = "ticks"
type = "metronome"
plugin_sha256 = "%s"
config = { interval_ms = 1, count = 3 }
[[connector]]
id = "sink"
type = "bench_sink"
[[pipeline]]
id = "p"
[[link]]
from = "ticks"
to = "p"
[[link]]
from = "p"
to = "sink"
`

func TestFlowPinsPluginsBySHA256(t *testing.T) {
	metronome := testenv.Plugin(t, "libtremor_metronome.so")
	data, err := os.ReadFile(metronome)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])
	reg, err := plugin.LoadAll([]string{metronome, testenv.Plugin(t, "libtremor_bench.so")})
	require.NoError(t, err)
	cat := catalog.Plugins{Registry: reg}

	f, err := flow.Parse("pinned.toml", fmt.Appendf(nil, pinnedFlow, good))
	require.NoError(t, err)
	r, err := runtime.New(f, cat, runtime.Options{Log: zerolog.Nop()})
	require.NoError(t, err, "the right hash is accepted")
	_, err = r.Run(t.Context())
	require.NoError(t, err)

	bad := otherHash(good)
	require.NotEqual(t, good, bad)
	f, err = flow.Parse("pinned.toml", fmt.Appendf(nil, pinnedFlow, bad))
	require.NoError(t, err)
	_, err = runtime.New(f, cat, runtime.Options{Log: zerolog.Nop()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pinned.toml:4: connector[0].plugin_sha256: refusing "+metronome)
	assert.Contains(t, err.Error(), good)
	assert.Contains(t, err.Error(), bad)

	_, err = flow.Parse("pinned.toml", fmt.Appendf(nil, pinnedFlow, "sha256:abc"))
	require.ErrorContains(t, err, "pinned.toml:4: connector[0].plugin_sha256: plugin_sha256 \"sha256:abc\" is not a SHA-256 in hex")
}

// otherHash returns a well-formed SHA-256 in hex that differs from h in its
// first digit, whatever h is.
func otherHash(h string) string {
	const digits = "0123456789abcdef"
	next := digits[(strings.IndexByte(digits, h[0])+1)%len(digits)]
	return string(next) + h[1:]
}

// echoFlow runs the fixture plugin's fixture_echo (3 events, then END) into
// the bundled file sink, which writes them to out.
const echoFlow = `[flow]
name = "echo"
[[connector]]
id = "in"
type = "fixture_echo"
codec = "string"
config = { count = 3, end_when_empty = true }
[[connector]]
id = "out"
type = "file"
codec = "string"
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

// echoSetup writes the flow and a copy of the fixture plugin into
// <tmp>/top/plugins; it returns the flow file, the output file and the
// top and plugin directories.
func echoSetup(t *testing.T) (flowFile, out, top, plugins string) {
	t.Helper()
	tmp := t.TempDir()
	top = filepath.Join(tmp, "top")
	plugins = filepath.Join(top, "plugins")
	require.NoError(t, os.MkdirAll(plugins, 0o755))
	data, err := os.ReadFile(testenv.Fixture(t, "fixture"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(plugins, "libtremor_fixture.so"), data, 0o755))
	out = filepath.Join(tmp, "out.txt")
	flowFile = filepath.Join(tmp, "echo.toml")
	require.NoError(t, os.WriteFile(flowFile, fmt.Appendf(nil, echoFlow, out), 0o644))
	t.Cleanup(func() {
		os.Chmod(top, 0o755)
		os.Lchown(top, os.Getuid(), os.Getgid())
	})
	return flowFile, out, top, plugins
}

// requireEchoRan checks a run of echoFlow that worked: 3 events in at the
// source, 3 out at the sink, 3 lines in the file.
func requireEchoRan(t *testing.T, code int, stdout, stderr, out string) {
	t.Helper()
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, lastLines(stderr, 30))
	rows := statsTable(t, stderr)
	assert.Equal(t, uint64(3), rows["in"][0], "in: events in")
	assert.Equal(t, uint64(3), rows["in"][3], "in: acks")
	assert.Equal(t, uint64(3), rows["out"][1], "out: events out")
	assert.Equal(t, []string{"event-1", "event-2", "event-3"}, fileLines(t, out))
}

// requireRefusedRun checks a run of echoFlow that was refused before any
// event moved: exit status 1, the messages, nothing written.
func requireRefusedRun(t *testing.T, code int, stderr, out string, msgs ...string) {
	t.Helper()
	assert.Equal(t, 1, code, "stderr:\n%s", stderr)
	for _, m := range msgs {
		assert.Contains(t, stderr, m)
	}
	assert.NotContains(t, stderr, "goroutine ", "no Go panic trace")
	_, err := os.Stat(out)
	assert.ErrorIs(t, err, os.ErrNotExist, "the sink wrote nothing")
}

// tremorctl refuses a plugin file under a directory that someone else can
// change (any directory up to /, not only the file's own), names that
// directory and the fix; after the fix the same flow runs.
func TestTremorctlRefusesPluginsUnderDirectoriesOthersControl(t *testing.T) {
	tests := []struct {
		name   string
		root   bool
		break_ func(top string) error
		want   string
		fix    string
	}{
		{"world-writable", false, func(top string) error { return os.Chmod(top, 0o777) },
			"is writable by group or others (mode 0777) without the sticky bit", "chmod go-w "},
		{"owned by another user", true, func(top string) error { return os.Lchown(top, 65534, 65534) },
			"is owned by uid 65534, not by you", fmt.Sprintf("chown %d ", os.Getuid())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && os.Getuid() != 0 {
				testenv.SkipOffCI(t, "giving a directory to another user needs root", "CI runs as root: run the test command as root")
			}
			flowFile, out, top, plugins := echoSetup(t)
			require.NoError(t, tt.break_(top))
			env := []string{plugin.EnvPluginPath + "=" + plugins}
			code, _, stderr := tremorctlExit(t, "", env, "run", flowFile)
			requireRefusedRun(t, code, stderr, out,
				"refusing to load: directory "+top+", above it, "+tt.want,
				tt.fix+top,
				`no loaded plugin provides connector type "fixture_echo"`)

			code, stdout, _ := tremorctlExit(t, "", nil, "list-plugins", filepath.Join(plugins, "libtremor_fixture.so"))
			assert.Equal(t, 1, code)
			assert.Contains(t, stdout, "FAILED TO LOAD")
			assert.Contains(t, stdout, "directory "+top+", above it, "+tt.want)

			require.NoError(t, os.Chmod(top, 0o755))
			require.NoError(t, os.Lchown(top, os.Getuid(), os.Getgid()))
			code, stdout, stderr = tremorctlExit(t, "", env, "run", flowFile)
			requireEchoRan(t, code, stdout, stderr, out)
		})
	}
}

// A relative entry in TREMOR_PLUGIN_PATH or --plugin-path is refused (the
// current directory is never searched implicitly), naming the setting and
// the absolute path to use; with that path the flow runs.
func TestTremorctlRefusesRelativePluginPaths(t *testing.T) {
	flowFile, out, top, plugins := echoSetup(t)
	rel, err := filepath.Rel(top, plugins)
	require.NoError(t, err)

	for _, tt := range []struct {
		name, origin, entry string
		env                 []string
		flags               []string
	}{
		{"environment", plugin.EnvPluginPath, rel, []string{plugin.EnvPluginPath + "=" + rel}, nil},
		{"flag", "--plugin-path", rel, nil, []string{"--plugin-path", rel}},
		{"current directory", plugin.EnvPluginPath, ".", []string{plugin.EnvPluginPath + "=."}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// run where the relative entry would find the plugin if it
			// were taken
			dir := top
			if tt.entry == "." {
				dir = plugins
			}
			msg := fmt.Sprintf("%s entry %q is relative", tt.origin, tt.entry)
			code, _, stderr := tremorctlExit(t, dir, tt.env, append(append([]string{"run"}, tt.flags...), flowFile)...)
			requireRefusedRun(t, code, stderr, out, msg, "use an absolute path, e.g. "+plugins)

			code, stdout, stderr := tremorctlExit(t, dir, tt.env, append([]string{"list-plugins"}, tt.flags...)...)
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr, msg)
			assert.NotContains(t, stdout, "fixture", "the relative entry was not searched")
			assert.Contains(t, stdout, "metronome", "the other entries were")

			for _, cmd := range []string{"validate", "inspect"} {
				arg := flowFile
				if cmd == "inspect" {
					arg = "metronome" // found elsewhere on the path: still refused
				}
				code, stdout, stderr := tremorctlExit(t, dir, tt.env, append(append([]string{cmd}, tt.flags...), arg)...)
				assert.Equal(t, 1, code, "%s: stdout %s", cmd, stdout)
				assert.Contains(t, lastLine(stderr), "tremorctl: "+msg, cmd)
			}
		})
	}
	code, stdout, stderr := tremorctlExit(t, top, []string{plugin.EnvPluginPath + "=" + plugins}, "run", flowFile)
	requireEchoRan(t, code, stdout, stderr, out)
}

// tremorctl checks the path to a plugin as it is named, not only where its
// symlinks lead: a symlink in a directory others can write (the plugin
// file's own, or a directory of plugins on the way) could be repointed at
// other code, even between the check and the load, so it is refused,
// naming the directory and the fix. A symlink in a sticky directory (like
// /tmp) is fine when it is yours, and refused when it is another user's.
func TestTremorctlRefusesSymlinksOthersCanRepoint(t *testing.T) {
	flowFile, out, _, plugins := echoSetup(t)
	lib := filepath.Join(plugins, "libtremor_fixture.so")
	tmp := t.TempDir()

	// A symlink to the plugin file, in a directory anyone can write.
	fileLinks := filepath.Join(tmp, "filelinks")
	require.NoError(t, os.Mkdir(fileLinks, 0o755))
	require.NoError(t, os.Symlink(lib, filepath.Join(fileLinks, "libtremor_fixture.so")))
	// A symlink to the plugin directory, in a directory anyone can write.
	dirLinks := filepath.Join(tmp, "dirlinks")
	require.NoError(t, os.Mkdir(dirLinks, 0o755))
	require.NoError(t, os.Symlink(plugins, filepath.Join(dirLinks, "plugins")))
	t.Cleanup(func() {
		os.Chmod(fileLinks, 0o755)
		os.Chmod(dirLinks, 0o755)
	})

	for _, tt := range []struct {
		name, open, entry, link, want string
	}{
		{"symlink to the file", fileLinks, fileLinks, filepath.Join(fileLinks, "libtremor_fixture.so"),
			"refusing to load: its directory " + fileLinks + " is writable by group or others (mode 0777) without the sticky bit, so they could repoint the symlink " + filepath.Join(fileLinks, "libtremor_fixture.so")},
		{"symlink to the directory", dirLinks, filepath.Join(dirLinks, "plugins"), filepath.Join(dirLinks, "plugins", "libtremor_fixture.so"),
			"refusing to load: directory " + dirLinks + ", above it, is writable by group or others (mode 0777) without the sticky bit, so they could repoint the symlink " + filepath.Join(dirLinks, "plugins")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, os.Chmod(tt.open, 0o777))
			fix := "chmod go-w " + tt.open
			env := []string{plugin.EnvPluginPath + "=" + tt.entry}
			code, _, stderr := tremorctlExit(t, "", env, "run", flowFile)
			requireRefusedRun(t, code, stderr, out, tt.want, fix,
				`no loaded plugin provides connector type "fixture_echo"`)

			for _, arg := range []string{tt.entry, tt.link} {
				code, stdout, stderr := tremorctlExit(t, "", nil, "list-plugins", arg)
				assert.Equal(t, 1, code, "list-plugins %s", arg)
				assert.Contains(t, stdout, "FAILED TO LOAD")
				assert.Contains(t, stdout, tt.want)
				assert.Contains(t, stdout, fix)
				noCrash(t, stderr)
			}

			require.NoError(t, os.Chmod(tt.open, 0o755))
			code, stdout, stderr := tremorctlExit(t, "", env, "run", flowFile)
			requireEchoRan(t, code, stdout, stderr, out)
			require.NoError(t, os.Remove(out))
		})
	}

	t.Run("sticky directory", func(t *testing.T) {
		sticky := filepath.Join(tmp, "sticky")
		require.NoError(t, os.Mkdir(sticky, 0o755))
		require.NoError(t, os.Chmod(sticky, 0o777|os.ModeSticky))
		t.Cleanup(func() { os.Chmod(sticky, 0o755) })
		link := filepath.Join(sticky, "libtremor_fixture.so")
		require.NoError(t, os.Symlink(lib, link))

		code, stdout, stderr := tremorctlExit(t, "", nil, "list-plugins", link)
		assert.Equal(t, 0, code, "your own symlink in a sticky directory: stdout:\n%s\nstderr:\n%s", stdout, stderr)
		assert.Contains(t, stdout, "fixture")

		if os.Getuid() != 0 {
			testenv.SkipOffCI(t, "giving a symlink to another user needs root", "CI runs as root: run the test command as root")
		}
		require.NoError(t, os.Lchown(link, 65534, 65534))
		code, stdout, stderr = tremorctlExit(t, "", nil, "list-plugins", link)
		assert.Equal(t, 1, code)
		assert.Contains(t, stdout, "refusing to load: the symlink "+link+" on the way to it is owned by uid 65534, not by you")
		assert.Contains(t, stdout, "ln -sfn "+lib+" "+link)
		noCrash(t, stderr)
	})
}
