package tests

// Mistakes on tremorctl's command line, through build/bin/tremorctl as a
// subprocess: each is refused with exit status 1 and a message that names
// what is wrong and what to do, before anything runs or is written.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/plugin"
	"tremorhost/tests/testenv"
)

// A --plugin-path or TREMOR_PLUGIN_PATH entry that does not exist or is not
// a directory is an error, for every command that searches the path (it
// used to be skipped without a word, so a typo ran without the plugins it
// meant). The default directories next to tremorctl may be missing
// (build/lib/tremor/plugins is, in a build tree) without a word.
func TestCLIPluginPathEntryMustBeADirectory(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	file := writeFlow(t, dir, "not-a-dir", "x")
	flowFile := writeFlow(t, dir, "m.toml", fmt.Sprintf(twoConnectors, "m", metronome(1), "type = \"bench_sink\"\ncodec = \"json\""))

	for _, entry := range []struct{ path, want string }{
		{missing, "does not exist: the plugin search path takes existing directories of plugin files; correct the entry, create the directory, or remove the entry"},
		{file, "is not a directory: the plugin search path takes directories of plugin files; name the directory that holds the plugin instead"},
	} {
		for _, origin := range []string{"--plugin-path", plugin.EnvPluginPath} {
			t.Run(filepath.Base(entry.path)+" in "+origin, func(t *testing.T) {
				var env, flags []string
				if origin == "--plugin-path" {
					flags = []string{"--plugin-path", entry.path}
				} else {
					env = []string{plugin.EnvPluginPath + "=" + entry.path}
				}
				msg := fmt.Sprintf("tremorctl: %s entry %q %s", origin, entry.path, entry.want)
				for _, args := range [][]string{
					{"list-plugins"},
					{"validate", flowFile},
					{"run", flowFile},
					{"inspect", "metronome"},
				} {
					cmd := append(append([]string{args[0]}, flags...), args[1:]...)
					code, stdout, stderr := tremorctlExit(t, "", env, cmd...)
					assert.Equal(t, 1, code, "%v: stdout %s\nstderr %s", cmd, stdout, stderr)
					assert.Contains(t, stderr, msg, "%v", cmd)
					noCrash(t, stderr)
					if args[0] == "list-plugins" {
						assert.Contains(t, stdout, "metronome", "the other entries are still searched")
					}
				}
			})
		}
	}

	// The defaults: build/lib/tremor/plugins and build/install/lib/tremor/plugins
	// are missing in a build tree; that is no error.
	code, stdout, stderr := tremorctlExit(t, "", []string{plugin.EnvPluginPath + "="}, "list-plugins")
	assert.Equal(t, 0, code, "stdout %s\nstderr %s", stdout, stderr)
	assert.NotContains(t, stderr, "does not exist")
	code, stdout, stderr = tremorctlExit(t, "", nil, "validate", "--plugin-path", testenv.PluginsDir(t), flowFile)
	assert.Equal(t, 0, code, "stdout %s\nstderr %s", stdout, stderr)
}

// The built-in example writes to a new file of its own in $TMPDIR, never
// to a fixed name: a symlink planted at the old name
// ($TMPDIR/tremor-example.jsonl) is not followed, the file it points at
// stays as it was, and the output names the file written. Run from a
// directory nobody can write (/proc, even for root).
func TestCLIExampleWritesAFileOfItsOwn(t *testing.T) {
	tmp := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	require.NoError(t, os.WriteFile(victim, []byte("precious\n"), 0o644))
	require.NoError(t, os.Symlink(victim, filepath.Join(tmp, "tremor-example.jsonl")))

	code, stdout, stderr := tremorctlExit(t, "/proc", []string{"TMPDIR=" + tmp}, "run")
	require.Equal(t, 0, code, "stdout %s\nstderr %s", stdout, lastLines(stderr, 20))
	noCrash(t, stderr)
	data, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "precious\n", string(data), "the planted symlink's target is untouched")

	m := regexp.MustCompile(`wrote 30 lines to (\S+);`).FindStringSubmatch(stdout)
	require.NotNil(t, m, "the output names the file written: %s", stdout)
	out := m[1]
	assert.Equal(t, tmp, filepath.Dir(out))
	assert.Regexp(t, `^tremor-example-[0-9]+\.jsonl$`, filepath.Base(out))
	st, err := os.Lstat(out)
	require.NoError(t, err)
	assert.True(t, st.Mode().IsRegular(), "a file, not a symlink")
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "only its owner reads it")
	assert.Len(t, fileLines(t, out), 30)

	// A $TMPDIR it cannot write: said, before anything runs.
	code, stdout, stderr = tremorctlExit(t, "/proc", []string{"TMPDIR=/proc/self/none"}, "run")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "tremorctl: the built-in example writes to a new file in /proc/self/none (set TMPDIR to choose another directory)")
	assert.Empty(t, stdout)
	noCrash(t, stderr)
}

// tremorctl new with --tremor-src or --prefix naming something that is not
// a tremorhost tree or an SDK prefix fails before writing anything (it
// used to create the project with a placeholder and exit 0).
func TestCLINewRefusesWrongSDKDirectories(t *testing.T) {
	work := t.TempDir()
	notSDK := t.TempDir()
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing tremor-src", []string{"--lang", "go", "--tremor-src", "/nonexistent"},
			[]string{"tremorctl: new: --tremor-src /nonexistent does not exist: name the root of your tremorhost checkout, or leave --tremor-src out"}},
		{"tremor-src not a tree", []string{"--lang", "rust", "--tremor-src", notSDK},
			[]string{"tremorctl: new: --tremor-src " + notSDK + " is not a tremorhost tree"}},
		{"prefix a file", []string{"--lang", "c", "--prefix", "/etc/passwd"},
			[]string{"tremorctl: new: --prefix /etc/passwd is not a directory: name the prefix the SDK was installed into"}},
		{"both wrong", []string{"--lang", "c", "--prefix", notSDK, "--tremor-src", "/nonexistent"},
			[]string{"--prefix " + notSDK + " holds no Tremor plugin SDK", "--tremor-src /nonexistent does not exist"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := tremorctlExit(t, work, nil, append(append([]string{"new"}, tt.args...), "gplug")...)
			assert.Equal(t, 1, code, "stdout %s\nstderr %s", stdout, stderr)
			for _, w := range tt.want {
				assert.Contains(t, stderr, w)
			}
			assert.Contains(t, lastLine(stderr), "tremorctl: new: nothing was created")
			assert.Empty(t, stdout)
			noCrash(t, stderr)
			_, err := os.Stat(filepath.Join(work, "gplug"))
			assert.ErrorIs(t, err, os.ErrNotExist, "no project was written")
		})
	}
}

// --stats-interval: negative or shorter than 100ms is refused before
// anything runs (1ns used to log a line per connector hundreds of
// thousands of times a second); 0 is off.
func TestCLIStatsInterval(t *testing.T) {
	path := writeFlow(t, t.TempDir(), "m.toml", fmt.Sprintf(twoConnectors, "m", metronome(1), "type = \"bench_sink\"\ncodec = \"json\""))
	for _, tt := range []struct{ value, want string }{
		{"-5s", "tremorctl: --stats-interval -5s: use a positive duration (at least 100ms), or 0 to log the counters only at the end"},
		{"1ns", "tremorctl: --stats-interval 1ns is too short: the minimum is 100ms (or 0 to log the counters only at the end)"},
		{"99ms", "tremorctl: --stats-interval 99ms is too short: the minimum is 100ms"},
	} {
		code, stdout, stderr := ctl(t, "run", "--stats-interval", tt.value, path)
		assert.Equal(t, 1, code, tt.value)
		assert.Contains(t, stderr, tt.want)
		assert.Empty(t, stdout)
		noCrash(t, stderr)
	}
	for _, ok := range []string{"0", "100ms"} {
		code, _, stderr := ctl(t, "run", "--stats-interval", ok, path)
		assert.Equal(t, 0, code, "%s: %s", ok, lastLines(stderr, 10))
	}
}

// tremorctl new into a directory it cannot create says so in words, naming
// the directory and what to do (not a bare "mkdir ...: ..." error).
func TestCLINewUnwritableDirectory(t *testing.T) {
	code, stdout, stderr := tremorctlExit(t, t.TempDir(), nil, "new", "--lang", "c", "foo", "/proc/foo")
	assert.Equal(t, 1, code)
	assert.Equal(t, "tremorctl: new: cannot create the project directory /proc/foo: no such file or directory: name a DIR where you can create directories\n", stderr)
	assert.Empty(t, stdout)
}

// Mistakes in a command's arguments are said in words, after the usage
// where one is printed: which argument is missing or too many, which
// --api value is not HOST:PORT, which file does not exist.
func TestCLIArgumentMistakes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "a.toml", "b.toml"}, 2, "tremorctl run: too many arguments (2, at most 1): b.toml"},
		{[]string{"check-plugin"}, 2, "tremorctl check-plugin: name the plugin FILE to check"},
		{[]string{"check-plugin", "a.so", "b.so"}, 2, "tremorctl check-plugin: one FILE at a time, not 2: a.so b.so"},
		{[]string{"check-plugin", "/nonexistent/libx.so"}, 1, "tremorctl: check-plugin: /nonexistent/libx.so: no such file; name a plugin .so"},
		{[]string{"status", "--api", "::::"}, 1, `tremorctl: --api "::::" is not HOST:PORT (e.g. 127.0.0.1:9898)`},
		{[]string{"upgrade", "--api", "localhost"}, 1, `tremorctl: --api "localhost" is not HOST:PORT (e.g. 127.0.0.1:9898)`},
	} {
		code, _, stderr := ctl(t, tc.args...)
		assert.Equal(t, tc.code, code, "%v: stderr:\n%s", tc.args, stderr)
		assert.Contains(t, stderr, tc.want, "%v", tc.args)
		noCrash(t, stderr)
	}
}
