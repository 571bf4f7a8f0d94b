package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTree lays out a tremorhost build tree: go.mod, the SDK sources, an
// installed prefix in build/install and build/bin/tremorctl.
func fakeTree(t *testing.T) (root, exe string) {
	t.Helper()
	root = t.TempDir()
	files := map[string]string{
		"go.mod":                                      "module tremorhost\n\ngo 1.99.1\n",
		"pdk-rust/Cargo.toml":                         "[package]\n",
		"pdk-go/pdk.go":                               "package pdk\n",
		"include/tremor/plugin.h":                     "",
		"build/install/include/tremor/plugin.h":       "",
		"build/install/lib64/pkgconfig/tremor-pdk.pc": "",
		"build/install/lib64/cmake/TremorPlugin/TremorPluginConfig.cmake":        "",
		"build/install/lib64/cmake/TremorPlugin/TremorPluginConfigVersion.cmake": "set(PACKAGE_VERSION \"0.7.2\")\n",
		"build/bin/tremorctl": "",
	}
	for rel, content := range files {
		p := filepath.Join(root, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o755))
	}
	return root, filepath.Join(root, "build", "bin", "tremorctl")
}

func TestNewDiscoversTheSDKFromTheExecutable(t *testing.T) {
	root, exe := fakeTree(t)
	p, warnings := discoverSDK(exe, "", "")
	assert.Empty(t, warnings)
	assert.Equal(t, exe, p.Tremorctl)
	assert.Equal(t, filepath.Join(root, "build", "install"), p.Prefix)
	assert.Equal(t, "lib64", p.LibDir)
	assert.Equal(t, root, p.Src)
	assert.Equal(t, "1.99.1", p.GoVersion, "the go directive of tremorhost's go.mod")
	assert.Equal(t, "0.7", p.SDKVersion, "major.minor of the installed package")

	// Installed layout: <prefix>/bin/tremorctl, no source tree.
	prefix := filepath.Join(root, "build", "install")
	inst := filepath.Join(prefix, "bin", "tremorctl")
	require.NoError(t, os.MkdirAll(filepath.Dir(inst), 0o755))
	p, _ = discoverSDK(inst, "", "")
	assert.Equal(t, prefix, p.Prefix)
	assert.Equal(t, root, p.Src, "found from the prefix <src>/build/install")
}

func TestNewFlagsOverrideAndPlaceholders(t *testing.T) {
	root, _ := fakeTree(t)
	elsewhere := filepath.Join(t.TempDir(), "bin", "tremorctl.test")

	p, warnings := discoverSDK(elsewhere, "", "")
	assert.Empty(t, warnings)
	assert.Equal(t, "", p.Prefix)
	assert.Equal(t, "", p.Src)
	assert.Equal(t, "tremorctl", p.Tremorctl, "not on a tremorctl binary: call it from PATH")

	p, warnings = discoverSDK(elsewhere, filepath.Join(root, "build", "install"), root)
	assert.Empty(t, warnings)
	assert.Equal(t, filepath.Join(root, "build", "install"), p.Prefix)
	assert.Equal(t, root, p.Src)

	p, warnings = discoverSDK(elsewhere, t.TempDir(), t.TempDir())
	assert.Len(t, warnings, 2, "both flags name the wrong thing")
	assert.Equal(t, "", p.Prefix)

	for _, lang := range []string{"c", "rust", "go"} {
		files, err := renderProject(lang, "demo", sdkPaths{Tremorctl: "tremorctl", LibDir: "lib", GoVersion: "1.26", SDKVersion: "0.1"})
		require.NoError(t, err)
		readme := string(files["README.md"])
		switch lang {
		case "c":
			assert.Contains(t, string(files["CMakeLists.txt"]), placeholderPrefix)
			assert.Contains(t, string(files["Makefile"]), "TREMOR_PREFIX ?= "+placeholderPrefix)
			assert.Contains(t, readme, "Set the SDK prefix first")
		case "rust":
			assert.Contains(t, string(files["Cargo.toml"]), `path = "`+placeholderSrc+`/pdk-rust"`)
			assert.Contains(t, readme, "Set the tremor-pdk path first")
		case "go":
			assert.Contains(t, string(files["go.mod"]), "replace tremorhost => "+placeholderSrc)
			assert.Contains(t, readme, "Set the tremorhost path first")
		}
	}
}

func TestNewRendersEveryLanguage(t *testing.T) {
	p := sdkPaths{Tremorctl: "/opt/t/bin/tremorctl", Prefix: "/opt/t", LibDir: "lib", Src: "/src/tremorhost", GoVersion: "1.26.8", SDKVersion: "0.1"}
	want := map[string][]string{
		"c":    {".gitignore", "CMakeLists.txt", "Makefile", "README.md", "flow.toml", "src/my_conn.c", "tests/lifecycle.c", "tests/tremorctl_check.sh"},
		"rust": {".gitignore", "Cargo.toml", "Makefile", "README.md", "flow.toml", "src/lib.rs", "tests/lifecycle.rs"},
		"go":   {".gitignore", "Makefile", "README.md", "flow.toml", "go.mod", "main.go", "main_test.go"},
	}
	for lang, names := range want {
		files, err := renderProject(lang, "my_conn", p)
		require.NoError(t, err, lang)
		var got []string
		for n, b := range files {
			got = append(got, n)
			assert.NotContains(t, string(b), "@NAME@", n)
		}
		sort.Strings(got)
		assert.Equal(t, names, got, lang)
		assert.Contains(t, string(files["flow.toml"]), `type = "my_conn_source"`)
		assert.Contains(t, string(files["README.md"]), "/opt/t/bin/tremorctl list-plugins")
		// The plugin search path takes absolute directories only: the
		// commands must name the build directory through $PWD.
		run := `run --plugin-path "$PWD/` + map[string]string{"c": "build", "rust": "target/release", "go": "out"}[lang] + `" flow.toml`
		assert.Contains(t, string(files["README.md"]), run, lang)
		assert.Contains(t, string(files["flow.toml"]), run, lang)
	}
	c, _ := renderProject("c", "my_conn", p)
	assert.Contains(t, string(c["CMakeLists.txt"]), `set(TREMOR_PREFIX "/opt/t"`)
	assert.Contains(t, string(c["CMakeLists.txt"]), "tremor_add_plugin(tremor_my_conn SOURCES src/my_conn.c")
	assert.Contains(t, string(c["src/my_conn.c"]), `TREMOR_PLUGIN_DEFINE("my_conn", "0.1.0"`)
	r, _ := renderProject("rust", "my_conn", p)
	assert.Contains(t, string(r["Cargo.toml"]), `tremor-pdk = { path = "/src/tremorhost/pdk-rust" }`)
	g, _ := renderProject("go", "my_conn", p)
	assert.Contains(t, string(g["go.mod"]), "go 1.26.8\n")
	assert.Contains(t, string(g["go.mod"]), "replace tremorhost => /src/tremorhost\n")
}

func TestNewRefusesBadInput(t *testing.T) {
	for _, name := range []string{"", "Hello", "9lives", "my-conn", "a b", "x/y", strings.Repeat("a", 49)} {
		_, err := renderProject("c", name, sdkPaths{})
		assert.Error(t, err, "name %q", name)
	}
	_, err := renderProject("java", "x", sdkPaths{})
	assert.ErrorContains(t, err, "use c, rust or go")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("mine"), 0o644))
	_, errOut, code := runCLI(t, "new", "--lang", "c", "demo", dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "is not empty: refusing to overwrite it")
	b, _ := os.ReadFile(filepath.Join(dir, "keep.txt"))
	assert.Equal(t, "mine", string(b), "untouched")

	_, _, code = runCLI(t, "new", "demo")
	assert.Equal(t, 2, code, "--lang is required")
}

func TestNewWritesIntoAnEmptyDir(t *testing.T) {
	dir := t.TempDir() // exists, empty: allowed
	out, errOut, code := runCLI(t, "new", "--lang", "go", "demo", dir)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "created Go plugin \"demo\"")
	for _, f := range []string{"go.mod", "main.go", "main_test.go", "Makefile", ".gitignore"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	st, err := os.Stat(filepath.Join(dir, "Makefile"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	cdir := filepath.Join(t.TempDir(), "nested", "demo_c")
	_, errOut, code = runCLI(t, "new", "--lang", "c", "demo_c", cdir)
	require.Equal(t, 0, code, errOut)
	st, err = os.Stat(filepath.Join(cdir, "tests", "tremorctl_check.sh"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm(), "scripts are executable")
}
