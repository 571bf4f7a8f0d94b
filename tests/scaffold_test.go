package tests

// TestScaffold: `tremorctl new` in each language gives a project that
// builds with its own build commands against the installed SDK
// (build/install, pdk-rust, pdk-go), passes its own test, loads in
// `tremorctl list-plugins` with error null, passes `tremorctl
// check-plugin`, and runs its flow.toml.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tremorhost/tests/testenv"
)

// scaffoldStepTimeout bounds every command (a build, a test run); a
// language takes a few seconds when the caches are warm.
const scaffoldStepTimeout = 3 * time.Minute

type scaffoldEnv struct {
	root, tremorctl, prefix string
}

func TestScaffold(t *testing.T) {
	testenv.SkipShort(t, "builds three projects with cmake, cargo and go")
	root := testenv.Root(t)
	prefix := filepath.Join(root, "build", "install")
	if _, err := os.Stat(filepath.Join(prefix, "include", "tremor", "pdk.h")); err != nil {
		t.Fatalf("%s has no installed SDK: run ./scripts/build.sh first", prefix)
	}
	env := scaffoldEnv{root: root, prefix: prefix, tremorctl: filepath.Join(t.TempDir(), "tremorctl")}
	start := time.Now()
	scaffoldRun(t, root, nil, "go", "build", "-o", env.tremorctl, "./host/cmd/tremorctl")
	t.Logf("go build tremorctl: %s", time.Since(start).Round(time.Millisecond))
	// A project is not ready to ship until check-plugin passes it: a
	// tremorctl without the command fails here, not by skipping the step.
	help := scaffoldRun(t, root, nil, env.tremorctl, "help")
	require.Contains(t, help, "check-plugin",
		"tremorctl help does not list check-plugin: the scaffolded projects cannot be checked (host/cmd/tremorctl)")

	t.Run("c", func(t *testing.T) { scaffoldC(t, env) })
	t.Run("rust", func(t *testing.T) { scaffoldRust(t, env) })
	t.Run("go", func(t *testing.T) { scaffoldGo(t, env) })
}

// scaffoldNew runs tremorctl new and returns the project directory.
func scaffoldNew(t *testing.T, env scaffoldEnv, lang, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	out := scaffoldRun(t, env.root, nil, env.tremorctl, "new", "--lang", lang,
		"--prefix", env.prefix, "--tremor-src", env.root, name, dir)
	require.Contains(t, out, "created")
	return dir
}

func scaffoldC(t *testing.T, env scaffoldEnv) {
	for _, tool := range []string{"cmake", "ctest", "make", "pkg-config", "cc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run ./scripts/bootstrap.sh", tool)
		}
	}
	dir := scaffoldNew(t, env, "c", "scaffold_c")
	timed(t, "cmake configure + build", func() {
		scaffoldRun(t, dir, nil, "cmake", "-S", ".", "-B", "build", "-DCMAKE_C_FLAGS=-Werror")
		scaffoldRun(t, dir, nil, "cmake", "--build", "build")
	})
	timed(t, "ctest", func() {
		out := scaffoldRun(t, dir, nil, "ctest", "--test-dir", "build", "--output-on-failure")
		require.Contains(t, out, "100% tests passed")
		require.NotContains(t, out, "Not Run", "tremorctl_check must run, not skip")
	})
	// The pkg-config alternative builds the same plugin.
	timed(t, "make + make test (pkg-config)", func() {
		scaffoldRun(t, dir, nil, "make", "CFLAGS=-O2 -Werror")
		out := scaffoldRun(t, dir, nil, "make", "CFLAGS=-O2 -Werror", "test")
		require.Contains(t, out, "all checks passed")
	})
	scaffoldLoad(t, env, dir, "scaffold_c", "build/libtremor_scaffold_c.so", "build")
	scaffoldLoad(t, env, dir, "scaffold_c", "out/libtremor_scaffold_c.so", "")
}

func scaffoldRust(t *testing.T, env scaffoldEnv) {
	cargo := findCargo(t)
	dir := scaffoldNew(t, env, "rust", "scaffold_rs")
	renv := []string{"CARGO_TARGET_DIR=" + filepath.Join(dir, "target"), "RUSTFLAGS=-D warnings"}
	timed(t, "cargo build --release", func() {
		scaffoldRun(t, dir, renv, cargo, "build", "--release")
	})
	timed(t, "cargo test", func() {
		out := scaffoldRun(t, dir, renv, cargo, "test")
		require.Contains(t, out, "test result: ok. 5 passed")
	})
	scaffoldLoad(t, env, dir, "scaffold_rs", "target/release/libtremor_scaffold_rs.so", "target/release")
}

func scaffoldGo(t *testing.T, env scaffoldEnv) {
	dir := scaffoldNew(t, env, "go", "scaffold_go")
	genv := []string{"GOWORK=off", "CGO_ENABLED=1"}
	timed(t, "make (go build -buildmode=c-shared)", func() {
		scaffoldRun(t, dir, genv, "make")
	})
	timed(t, "go vet + go test", func() {
		scaffoldRun(t, dir, genv, "go", "vet", ".")
		out := scaffoldRun(t, dir, genv, "go", "test", "-count=1", "-v", ".")
		require.Contains(t, out, "--- PASS: TestSinkLifecycle")
		require.NotContains(t, out, "--- FAIL")
	})
	scaffoldLoad(t, env, dir, "scaffold_go", "out/libtremor_scaffold_go.so", "out")
}

// scaffoldLoad checks that tremorctl loads the built plugin (list-plugins
// --json, error null; check-plugin passes) and, when pluginDir is
// set, runs the project's flow.toml through both connector types.
func scaffoldLoad(t *testing.T, env scaffoldEnv, dir, name, so, pluginDir string) {
	t.Helper()
	so = filepath.Join(dir, so)
	out := scaffoldRun(t, dir, nil, env.tremorctl, "list-plugins", "--json", so)
	var listed []struct {
		Name       string  `json:"name"`
		Error      *string `json:"error"`
		Connectors []struct {
			Name  string   `json:"name"`
			Kinds []string `json:"kinds"`
		} `json:"connectors"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &listed), out)
	require.Len(t, listed, 1, out)
	require.Nil(t, listed[0].Error, out)
	require.Equal(t, name, listed[0].Name)
	require.Len(t, listed[0].Connectors, 2, out)
	require.Equal(t, name+"_source", listed[0].Connectors[0].Name)
	require.Equal(t, []string{"source"}, listed[0].Connectors[0].Kinds)
	require.Equal(t, name+"_sink", listed[0].Connectors[1].Name)
	require.Equal(t, []string{"sink"}, listed[0].Connectors[1].Kinds)

	timed(t, "tremorctl check-plugin "+filepath.Base(so), func() {
		out := scaffoldRun(t, dir, nil, env.tremorctl, "check-plugin", so)
		require.Contains(t, out, "connector "+name+"_source", out)
		require.Contains(t, out, "connector "+name+"_sink", out)
		require.Contains(t, out, "PASS: 0 error(s)", out)
	})
	if pluginDir == "" {
		return
	}
	timed(t, "tremorctl run flow.toml", func() {
		out := scaffoldRun(t, dir, nil, env.tremorctl, "--log-level", "info", "--log-format", "text",
			"run", "--plugin-path", filepath.Join(dir, pluginDir), "flow.toml")
		require.Contains(t, out, "in emitted 20 events: 20 acked, 0 failed", out)
		require.Contains(t, out, "received 20 events", out)
	})
}

func timed(t *testing.T, what string, f func()) {
	t.Helper()
	start := time.Now()
	f()
	t.Logf("%s: %s", what, time.Since(start).Round(time.Millisecond))
}

// scaffoldRun runs a command in dir with extra environment, bounded by
// scaffoldStepTimeout, fails the test with its output when it fails and
// returns its combined output.
func scaffoldRun(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaffoldStepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %s\n%s", name, strings.Join(args, " "), scaffoldStepTimeout, out)
	}
	if err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// findCargo looks where scripts/build-rust.sh looks.
func findCargo(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("cargo"); err == nil {
		return p
	}
	home, _ := os.UserHomeDir()
	for _, p := range []string{filepath.Join(home, ".cargo", "bin", "cargo"), "/usr/local/cargo/bin/cargo"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("cargo not found: install the Rust toolchain (https://rustup.rs)")
	return ""
}
