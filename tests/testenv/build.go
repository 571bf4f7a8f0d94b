package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// New builds of bundled plugins, for live-upgrade tests and benchmarks: a
// plugin's source with its version string (or anything else) edited,
// compiled into a temporary directory. Nothing in the tree changes.

// Edited copies the file src (relative to the repository) into dir with
// each old string of pairs (old, new, old, new...) replaced once, and
// returns the copy.
func Edited(t testing.TB, src, dir string, pairs ...string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Root(t), src))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%s no longer has %q: update the test's edit", src, pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	out := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(out, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func run(t testing.TB, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// CBuild compiles one C plugin source (with pdk-c's sources), edited as
// pairs says, and returns the library.
func CBuild(t testing.TB, src string, pairs ...string) string {
	t.Helper()
	root, dir := Root(t), t.TempDir()
	file := Edited(t, src, dir, pairs...)
	pdk, err := filepath.Glob(filepath.Join(root, "pdk-c", "src", "*.c"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "lib.so")
	args := append([]string{"-std=c11", "-O2", "-shared", "-fPIC", "-fvisibility=hidden",
		"-I", filepath.Join(root, "include"), "-I", filepath.Join(root, "pdk-c", "include"), "-I", filepath.Join(root, "pdk-c", "src"),
		"-o", out, file}, pdk...)
	run(t, dir, nil, "cc", append(args, "-lpthread")...)
	return out
}

// RustBuild builds a copy of the Rust plugin crate plugins/<crate> (library
// lib) with src/lib.rs edited, outside the workspace (its own target
// directory, build/cargo-upgrade-test, kept between runs), and returns the
// library.
func RustBuild(t testing.TB, crate, lib string, pairs ...string) string {
	t.Helper()
	root, dir := Root(t), t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "plugins", crate, "src", "*.rs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err == nil {
			err = os.WriteFile(filepath.Join(src, filepath.Base(f)), data, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	Edited(t, filepath.Join("plugins", crate, "src", "lib.rs"), src, pairs...)
	manifest := fmt.Sprintf(`[package]
name = %q
version = "0.0.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
tremor-pdk = { path = %q }

[workspace]

[profile.release]
panic = "unwind"
`, lib, filepath.Join(root, "pdk-rust"))
	if err := os.WriteFile(filepath.Join(dir, "Cargo.toml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(root, "build", "cargo-upgrade-test")
	run(t, dir, nil, "cargo", "build", "--release", "--offline", "--quiet", "--target-dir", target)
	data, err := os.ReadFile(filepath.Join(target, "release", "lib"+lib+".so"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "lib.so")
	if err := os.WriteFile(out, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// GoBuild builds the Go plugin package plugins/<pkg> with main.go edited
// (go build -overlay) and returns the library.
func GoBuild(t testing.TB, pkg string, pairs ...string) string {
	t.Helper()
	root, dir := Root(t), t.TempDir()
	main := filepath.Join(root, "plugins", pkg, "main.go")
	repl := Edited(t, filepath.Join("plugins", pkg, "main.go"), dir, pairs...)
	ov, err := json.Marshal(map[string]any{"Replace": map[string]string{main: repl}})
	if err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlay, ov, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "lib.so")
	run(t, root, []string{"CGO_ENABLED=1"}, "go", "build", "-buildmode=c-shared", "-overlay", overlay, "-o", out, "./plugins/"+pkg)
	return out
}
