// Package testenv finds the repository and the libraries built by
// ./scripts/build.sh for tests. A missing library fails the test with the
// instruction to build; it never skips.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the repository root (the directory holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find the repository root (go.mod) above the test's directory")
		}
		dir = parent
	}
}

// PluginsDir is <repo>/build/plugins.
func PluginsDir(t testing.TB) string { return filepath.Join(Root(t), "build", "plugins") }

// FixturesDir is <repo>/build/test-plugins.
func FixturesDir(t testing.TB) string { return filepath.Join(Root(t), "build", "test-plugins") }

// Plugin returns build/plugins/<file>, failing the test when it is missing.
func Plugin(t testing.TB, file string) string {
	t.Helper()
	return mustExist(t, filepath.Join(PluginsDir(t), file))
}

// Fixture returns build/test-plugins/libtremor_<name>.so, failing the test
// when it is missing.
func Fixture(t testing.TB, name string) string {
	t.Helper()
	return mustExist(t, filepath.Join(FixturesDir(t), "libtremor_"+name+".so"))
}

func mustExist(t testing.TB, p string) string {
	t.Helper()
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run ./scripts/build.sh first", p)
	}
	return p
}

// SkipOffCI skips the test with why, except under CI (the CI variable
// set), where what it checks must be checked: there it fails with why and
// what to change instead.
func SkipOffCI(t testing.TB, why, fix string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s, and CI must run it: %s", why, fix)
	}
	t.Skip(why)
}

// SkipShort skips a long test under -short, except under CI (see SkipOffCI).
func SkipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		SkipOffCI(t, what+": skipped with -short", "run the test command without -short")
	}
}
