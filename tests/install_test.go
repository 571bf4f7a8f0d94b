package tests

// TestInstall and TestDist: the host installed like a system tool. `make
// install` into a temporary prefix with DESTDIR (under umask 002), and the
// unpacked `make dist` tarball, are each used from the installed tree
// alone (the working directory elsewhere, TREMOR_RUNNER and
// TREMOR_PLUGIN_PATH unset): tremorctl finds its runner and the bundled
// plugins relative to itself, runs the example, and a `tremorctl new --lang
// c` project builds against the installed pkg-config and CMake files,
// installs into the plugin directory and is found there. `make uninstall`
// leaves the prefix empty.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/tests/testenv"
)

const installPrefix = "/usr/local"

func TestInstall(t *testing.T) {
	testenv.SkipShort(t, "installs the host and builds a plugin project")
	root := installPrereqs(t)
	stage := t.TempDir()
	top := filepath.Join(stage, installPrefix)
	version := stampedVersion(t, root)

	// A umask of 002 must not leave anything group-writable: the host
	// would refuse the plugins.
	scaffoldRun(t, root, nil, "sh", "-c", `umask 002 && exec make -s install DESTDIR="$1" PREFIX="$2"`,
		"sh", stage, installPrefix)
	checkLayout(t, top, true)
	verifyUnit(t, top)
	useInstalled(t, root, top, version)

	scaffoldRun(t, root, nil, "make", "-s", "uninstall", "DESTDIR="+stage, "PREFIX="+installPrefix)
	entries, err := os.ReadDir(top)
	require.NoError(t, err)
	assert.Empty(t, entries, "make uninstall left files in the prefix")
}

func TestDist(t *testing.T) {
	testenv.SkipShort(t, "packs and unpacks the host and builds a plugin project")
	root := installPrereqs(t)
	dist := t.TempDir()
	out := scaffoldRun(t, root, []string{"DIST_DIR=" + dist}, "make", "-s", "dist")

	// The name carries the version the tarball's tremorctl reports.
	m := regexp.MustCompile(`(?m)^dist\.sh: (.*/(tremorhost-(.+)-linux-` + runtime.GOARCH + `)\.tar\.gz)$`).FindStringSubmatch(out)
	require.NotNil(t, m, "make dist did not name a tremorhost-VERSION-linux-%s.tar.gz:\n%s", runtime.GOARCH, out)
	tarball, name, version := m[1], m[2], m[3]
	assert.Equal(t, dist, filepath.Dir(tarball))
	data, err := os.ReadFile(tarball)
	require.NoError(t, err, "make dist did not write %s", tarball)
	sum := sha256.Sum256(data)
	sumFile, err := os.ReadFile(tarball + ".sha256")
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(sum[:])+"  "+name+".tar.gz\n", string(sumFile))

	unpacked := t.TempDir()
	scaffoldRun(t, unpacked, nil, "sh", "-c", `umask 002 && exec tar -xzf "$1"`, "sh", tarball)
	top := filepath.Join(unpacked, name)
	checkLayout(t, top, false)
	useInstalled(t, root, top, version)
}

// Install errors: each names what is wrong and what to do, and changes
// nothing.
func TestInstallErrors(t *testing.T) {
	root := installPrereqs(t)

	t.Run("nothing built", func(t *testing.T) {
		stage := t.TempDir()
		code, _, stderr := runIn(t, root, []string{"BUILD_DIR=" + t.TempDir()}, "make", "-s", "install", "DESTDIR="+stage)
		assert.NotEqual(t, 0, code)
		assert.Contains(t, stderr, "nothing to install")
		assert.Contains(t, stderr, "build first (make build)")
		assertEmptyDir(t, stage)
	})
	t.Run("relative prefix", func(t *testing.T) {
		stage := t.TempDir()
		code, _, stderr := runIn(t, root, nil, "make", "-s", "install", "DESTDIR="+stage, "PREFIX=usr/local")
		assert.NotEqual(t, 0, code)
		assert.Contains(t, stderr, "PREFIX=usr/local is not an absolute path")
		assertEmptyDir(t, stage)
	})
	t.Run("prefix not writable", func(t *testing.T) {
		tmp := t.TempDir()
		// Others (nobody, below) must reach the read-only directory.
		require.NoError(t, os.Chmod(tmp, 0o755))
		require.NoError(t, os.Chmod(filepath.Dir(tmp), 0o755))
		parent := filepath.Join(tmp, "ro")
		require.NoError(t, os.Mkdir(parent, 0o555))
		name, args := "make", []string{"-s", "install", "PREFIX=" + parent + "/usr"}
		if os.Getuid() == 0 { // root writes anywhere: install as nobody
			if _, err := exec.LookPath("setpriv"); err != nil {
				t.Fatal("setpriv not found (util-linux): needed to run the install as another user than root")
			}
			args = append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", name}, args...)
			name = "setpriv"
		}
		code, _, stderr := runIn(t, root, nil, name, args...)
		assert.NotEqual(t, 0, code)
		assert.Contains(t, stderr, "cannot write "+parent+" (installing into "+parent+"/usr)")
		assert.Contains(t, stderr, "sudo make install")
		assertEmptyDir(t, parent)
	})
	t.Run("uninstall where nothing is installed", func(t *testing.T) {
		stage := t.TempDir()
		code, _, stderr := runIn(t, root, nil, "make", "-s", "uninstall", "DESTDIR="+stage)
		assert.NotEqual(t, 0, code)
		assert.Contains(t, stderr, "no tremorhost install in "+filepath.Join(stage, installPrefix))
		assert.Contains(t, stderr, "nothing removed")
	})

	// installed installs into a new stage; uninstall removes from it.
	installed := func(t *testing.T) (stage, top string) {
		stage = t.TempDir()
		scaffoldRun(t, root, nil, "make", "-s", "install", "DESTDIR="+stage, "PREFIX="+installPrefix)
		return stage, filepath.Join(stage, installPrefix)
	}
	uninstall := func(t *testing.T, stage string) (int, string) {
		code, _, stderr := runIn(t, root, nil, "make", "-s", "uninstall", "DESTDIR="+stage, "PREFIX="+installPrefix)
		return code, stderr
	}

	t.Run("manifest entry outside the prefix", func(t *testing.T) {
		stage, top := installed(t)
		manifest := filepath.Join(top, "share", "tremor", "install-manifest.txt")
		victim := filepath.Join(stage, "victim")
		require.NoError(t, os.WriteFile(victim, []byte("keep"), 0o644))
		f, err := os.OpenFile(manifest, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteString("file ../../victim\n")
		require.NoError(t, err)
		require.NoError(t, f.Close())

		code, stderr := uninstall(t, stage)
		assert.NotEqual(t, 0, code)
		assert.Contains(t, stderr, `refusing entry "../../victim"`)
		assert.FileExists(t, victim)
		assert.FileExists(t, filepath.Join(top, "bin", "tremorctl"), "nothing may be removed")
	})
	t.Run("a plugin installed by someone else stays", func(t *testing.T) {
		stage, top := installed(t)
		// A second install over the first keeps the first one's directories
		// in the manifest: they are still removed.
		scaffoldRun(t, root, nil, "make", "-s", "install", "DESTDIR="+stage, "PREFIX="+installPrefix)
		foreign := filepath.Join(top, "lib", "tremor", "plugins", "libtremor_theirs.so")
		require.NoError(t, os.WriteFile(foreign, []byte("not ours"), 0o644))

		code, stderr := uninstall(t, stage)
		assert.Equal(t, 0, code, stderr)
		assert.Contains(t, stderr, "left "+filepath.Dir(foreign)+": not empty")
		assert.FileExists(t, foreign)
		var left []string
		require.NoError(t, filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				left = append(left, p)
			}
			return err
		}))
		assert.Equal(t, []string{foreign}, left, "everything installed is removed, the other file is not")
	})
}

func TestTremorctlVersion(t *testing.T) {
	root := testenv.Root(t)
	want := stampedVersion(t, root)
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, stdout, stderr := ctl(t, args...)
		require.Equal(t, 0, code, stderr)
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		require.Len(t, lines, 3, stdout)
		assert.Equal(t, "tremorctl "+want, lines[0])
		assert.Regexp(t, `^plugin ABI [0-9]+\.[0-9]+$`, lines[1])
		assert.Equal(t, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH, lines[2])
	}
	code, stdout, stderr := ctl(t, "version", "extra")
	assert.Equal(t, 2, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, `version takes no arguments (got ["extra"])`)
}

// installPrereqs fails the test when a tool or the build is missing, and
// returns the repository root.
func installPrereqs(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"make", "cmake", "pkg-config", "cc", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run ./scripts/bootstrap.sh", tool)
		}
	}
	root := testenv.Root(t)
	tremorctl(t)
	stampedVersion(t, root)
	return root
}

// stampedVersion is the version scripts/build-go.sh stamped into tremorctl.
func stampedVersion(t testing.TB, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "build", "version"))
	require.NoError(t, err, "build/version is missing: run ./scripts/build.sh first")
	return strings.TrimSpace(string(b))
}

// checkLayout checks the installed tree: the layout tremorctl and plugin
// builds rely on, and nothing that group or others can write.
func checkLayout(t *testing.T, top string, installed bool) {
	t.Helper()
	want := []string{
		"bin/tremorctl",
		"libexec/tremor/tremor-runner",
		"include/tremor/plugin.h",
		"include/tremor/pdk.h",
		"lib/libtremor_pdk.a",
		"lib/pkgconfig/tremor-plugin.pc",
		"lib/pkgconfig/tremor-pdk.pc",
		"lib/cmake/TremorPlugin/TremorPluginConfig.cmake",
		"lib/cmake/TremorPlugin/TremorPluginHelpers.cmake",
		"share/tremor/flows/example.toml",
		"share/doc/tremor/README.md",
		"lib/systemd/system/tremor.service",
	}
	for f := range bundled {
		want = append(want, "lib/tremor/plugins/"+f)
	}
	if installed {
		want = append(want, "share/tremor/install-manifest.txt")
	}
	for _, f := range want {
		assert.FileExists(t, filepath.Join(top, f))
	}
	assert.NoFileExists(t, filepath.Join(top, "bin", "tremor-runner"), "the runner belongs in libexec/tremor")
	require.NoError(t, filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		assert.Zero(t, info.Mode().Perm()&0o022, "%s is writable by group or others (mode %s)", p, info.Mode())
		return nil
	}))
}

// verifyUnit checks the systemd unit (for the coming `tremorctl serve`)
// with systemd-analyze verify, when there is one. The unit names
// tremorctl by its final path, which a DESTDIR install does not have: the
// copy that is checked names the staged one.
func verifyUnit(t *testing.T, top string) {
	t.Helper()
	unit, err := os.ReadFile(filepath.Join(top, "lib", "systemd", "system", "tremor.service"))
	require.NoError(t, err)
	exec0 := "ExecStart=" + installPrefix + "/bin/tremorctl serve /etc/tremor/flows\n"
	require.Contains(t, string(unit), exec0)
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze not found, which verifies the shipped unit: run ./scripts/bootstrap.sh (it installs systemd)")
	}
	staged := strings.Replace(string(unit), exec0, "ExecStart="+filepath.Join(top, "bin", "tremorctl")+" serve /etc/tremor/flows\n", 1)
	path := filepath.Join(t.TempDir(), "tremor.service")
	require.NoError(t, os.WriteFile(path, []byte(staged), 0o644))
	code, stdout, stderr := runIn(t, t.TempDir(), nil, "systemd-analyze", "verify", path)
	assert.Equal(t, 0, code, "systemd-analyze verify:\n%s%s", stdout, stderr)
	// A directive it cannot parse is only a warning, naming the file.
	assert.NotContains(t, stdout+stderr, "tremor.service", "systemd-analyze verify warns about the unit")
}

// useInstalled uses the tree in top the way a user would, with nothing
// from the build tree: no TREMOR_* variables, the working directory
// elsewhere, the install's pkg-config files only.
func useInstalled(t *testing.T, root, top, version string) {
	work := t.TempDir()
	env := []string{
		"TREMOR_RUNNER=", "TREMOR_PLUGIN_PATH=", // empty is unset for tremorctl
		"PKG_CONFIG_PATH=" + filepath.Join(top, "lib", "pkgconfig"),
		"CMAKE_PREFIX_PATH=",
		"TMPDIR=" + work, // the built-in example writes into the temporary directory
	}
	ctlBin := filepath.Join(top, "bin", "tremorctl")
	tctl := func(args ...string) (int, string, string) {
		t.Helper()
		return runIn(t, work, env, ctlBin, append([]string{"--log-format", "json"}, args...)...)
	}
	plugindir := filepath.Join(top, "lib", "tremor", "plugins")

	t.Run("version", func(t *testing.T) {
		code, got, stderr := tctl("--version")
		require.Equal(t, 0, code, stderr)
		assert.True(t, strings.HasPrefix(got, "tremorctl "+version+"\n"), "want version %s, got:\n%s", version, got)
	})

	t.Run("list-plugins", func(t *testing.T) {
		code, stdout, stderr := tctl("list-plugins", "--json")
		require.Equal(t, 0, code, stderr)
		listed := listedPlugins(t, stdout)
		for f := range bundled {
			p := filepath.Join(plugindir, f)
			e, ok := listed[p]
			if assert.True(t, ok, "%s is not listed:\n%s", p, stdout) {
				assert.Nil(t, e.Error, "%s: %v", p, e.Error)
			}
		}
		for p := range listed {
			assert.True(t, strings.HasPrefix(p, top+string(os.PathSeparator)), "%s is not from the install in %s", p, top)
		}
	})

	t.Run("run the example", func(t *testing.T) {
		// The built-in example, and the one installed in share/tremor/flows
		// (its file connector writes tremor-example.jsonl in the working
		// directory). Its Go plugin runs in the runner from libexec/tremor:
		// without one tremorctl would warn that it runs it in the host.
		for _, args := range [][]string{{"run"}, {"run", filepath.Join(top, "share", "tremor", "flows", "example.toml")}} {
			code, stdout, stderr := tctl(args...)
			require.Equal(t, 0, code, "tremorctl %v\nstdout:\n%s\nstderr:\n%s", args, stdout, stderr)
			assert.NotContains(t, stderr, "running a Go plugin inside the host")
			stats := statsTable(t, stderr)
			assert.Equal(t, [6]uint64{20, 20, 0, 20, 0, 0}, stats["ticks"], "ticks")
			assert.Equal(t, [6]uint64{1000, 1000, 0, 1000, 0, 0}, stats["generator"], "generator")
			assert.Equal(t, [6]uint64{30, 30, 0, 0, 0, 0}, stats["out"], "out")
			assert.Equal(t, [6]uint64{990, 990, 0, 0, 0, 0}, stats["counter"], "counter")
		}
		assert.Len(t, fileLines(t, filepath.Join(work, "tremor-example.jsonl")), 30)

		// isolation = "process" is refused without a runner: this proves
		// the installed one is found and used.
		out := filepath.Join(work, "isolated.jsonl")
		flowFile := writeFlow(t, work, "isolated.toml", `
[flow]
name = "isolated"
[[connector]]
id = "ticks"
type = "metronome"
isolation = "process"
config = { interval_ms = 1, count = 5 }
[[connector]]
id = "out"
type = "file"
codec = "json"
config = { path = "`+out+`", mode = "write" }
[[pipeline]]
id = "pass"
[[link]]
from = "ticks"
to = "pass"
[[link]]
from = "pass"
to = "out"
`)
		code, stdout, stderr := tctl("run", flowFile)
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		assert.Equal(t, [6]uint64{5, 5, 0, 5, 0, 0}, statsTable(t, stderr)["ticks"])
		assert.Len(t, fileLines(t, out), 5)
	})

	t.Run("a new C plugin installs into plugindir", func(t *testing.T) {
		got := strings.TrimSpace(scaffoldRun(t, work, env, "pkg-config", "--variable=plugindir", "tremor-plugin"))
		assert.Equal(t, plugindir, filepath.Clean(got), "pkg-config --variable=plugindir tremor-plugin")

		dir := filepath.Join(work, "inst_c")
		scaffoldRun(t, work, env, ctlBin, "new", "--lang", "c", "inst_c", dir)
		cmakeLists, err := os.ReadFile(filepath.Join(dir, "CMakeLists.txt"))
		require.NoError(t, err)
		assert.Contains(t, string(cmakeLists), `set(TREMOR_PREFIX "`+top+`"`, "the project builds against the install")
		assert.NotContains(t, string(cmakeLists), root, "the project must not refer to the build tree")

		so := filepath.Join(plugindir, "libtremor_inst_c.so")
		listedHere := func() bool {
			t.Helper()
			code, stdout, stderr := tctl("list-plugins", "--json")
			require.Equal(t, 0, code, stderr)
			e, ok := listedPlugins(t, stdout)[so]
			if ok {
				assert.Nil(t, e.Error)
				if assert.NotNil(t, e.Name) {
					assert.Equal(t, "inst_c", *e.Name)
				}
			}
			return ok
		}

		// pkg-config and make.
		scaffoldRun(t, dir, env, "make", "CFLAGS=-O2 -Werror", "install")
		st, err := os.Stat(so)
		require.NoError(t, err, "make install did not install into plugindir")
		assert.Equal(t, fs.FileMode(0o644), st.Mode().Perm())
		require.True(t, listedHere(), "the installed plugin is not listed by default")
		// Its flow runs without --plugin-path: the connectors come from plugindir.
		code, stdout, stderr := tctl("run", filepath.Join(dir, "flow.toml"))
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		stats := statsTable(t, stderr)
		assert.Equal(t, [6]uint64{20, 20, 0, 20, 0, 0}, stats["in"], "in")
		assert.Equal(t, [6]uint64{20, 20, 0, 0, 0, 0}, stats["out"], "out")
		scaffoldRun(t, dir, env, "make", "uninstall")
		assert.NoFileExists(t, so)
		assert.False(t, listedHere())

		// CMake: find_package(TremorPlugin) and cmake --install.
		scaffoldRun(t, dir, env, "cmake", "-S", ".", "-B", "cbuild", "-DBUILD_TESTING=OFF", "-DCMAKE_C_FLAGS=-Werror")
		scaffoldRun(t, dir, env, "cmake", "--build", "cbuild")
		scaffoldRun(t, dir, env, "cmake", "--install", "cbuild")
		require.True(t, listedHere(), "the plugin cmake --install installed is not listed by default")
		scaffoldRun(t, dir, env, "make", "uninstall")
		assert.NoFileExists(t, so)
	})
}

// listedPlugins parses list-plugins --json (listedPlugin) by path.
func listedPlugins(t *testing.T, out string) map[string]listedPlugin {
	t.Helper()
	var list []listedPlugin
	require.NoError(t, json.Unmarshal([]byte(out), &list), out)
	m := map[string]listedPlugin{}
	for _, e := range list {
		m[e.Path] = e
	}
	return m
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "%s was changed", dir)
}

// runIn runs a command in dir with extra environment (bounded by
// scaffoldStepTimeout) and returns its exit status, stdout and stderr;
// scaffoldRun is the variant for commands that must succeed.
func runIn(t *testing.T, dir string, env []string, name string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaffoldStepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %s\n%s", name, strings.Join(args, " "), scaffoldStepTimeout, stderr.String())
	}
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return code, stdout.String(), stderr.String()
}
