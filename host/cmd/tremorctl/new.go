package main

// tremorctl new: scaffolds a plugin project in C, Rust or Go that builds
// against the installed SDK (C: the CMake package and pkg-config files in
// the install prefix; Rust: pdk-rust by path; Go: pdk-go through a go.mod
// replace of the tremorhost module) and shows up in list-plugins as built.

import (
	"bytes"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
)

//go:embed templates
var templateFS embed.FS

const newUsage = `usage: tremorctl new --lang c|rust|go [options] NAME [DIR]

Creates a connector plugin project in DIR (default ./NAME, which must not
exist or be empty): a build file, a plugin with a source connector type
(NAME_source) and a sink connector type (NAME_sink), a test, a flow that
runs both, and a README with the exact commands to build, test and load it.

NAME: lower-case letters, digits and underscores, starting with a letter;
the plugin builds to libtremor_NAME.so.

The project builds against the installed SDK, found from this tremorctl:
  C     the install prefix (<tremorctl dir>/../install in a tremorhost build
        tree, or <tremorctl dir>/.. when installed), --prefix to override
  Rust  <tremorhost>/pdk-rust, --tremor-src to override
  Go    <tremorhost> (go.mod replace), --tremor-src to override
What cannot be found is written as a placeholder the README explains.

options:
`

// Placeholders written into a project when a path could not be found.
const (
	placeholderPrefix = "/path/to/tremor/install"
	placeholderSrc    = "/path/to/tremorhost"
)

var validName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// sdkPaths is where a generated project finds the SDK.
type sdkPaths struct {
	Tremorctl  string // absolute path of this tremorctl, or "tremorctl"
	Prefix     string // install prefix of the C SDK, or "" when unknown
	LibDir     string // the prefix's library dir holding pkgconfig and cmake, e.g. "lib"
	Src        string // root of the tremorhost tree (pdk-rust, pdk-go), or ""
	GoVersion  string // the go directive of tremorhost's go.mod
	SDKVersion string // major.minor of the installed TremorPlugin package
}

func (c *cli) newProject(args []string) int {
	fs := newFlagSet(c)
	lang := fs.String("lang", "", "language of the plugin: c, rust or go (required)")
	prefix := fs.String("prefix", "", "install prefix of the C SDK (holds include/tremor/plugin.h and lib/cmake/TremorPlugin)")
	src := fs.String("tremor-src", "", "root of the tremorhost source tree (for pdk-rust and pdk-go)")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return flagStatus(err)
	}
	if len(rest) < 1 || len(rest) > 2 || *lang == "" {
		fs.Usage()
		return 2
	}
	name := rest[0]
	dir := name
	if len(rest) == 2 {
		dir = rest[1]
	}
	// A directory named on the command line that is wrong is an error,
	// before anything is written: the user asked for it, a placeholder
	// would not do.
	if errs := checkSDKFlags(*prefix, *src); len(errs) > 0 {
		for _, err := range errs {
			c.fail("new: %v", err)
		}
		return c.fail("new: nothing was created")
	}
	paths, warnings := discoverSDK(executable(), *prefix, *src)
	switch {
	case *lang == "c" && paths.Prefix == "":
		warnings = append(warnings, "no installed Tremor plugin SDK found (looked next to this tremorctl): CMakeLists.txt and Makefile say "+
			placeholderPrefix+"; pass --prefix, or see the project's README")
	case (*lang == "rust" || *lang == "go") && paths.Src == "":
		warnings = append(warnings, "no tremorhost source tree found (looked next to this tremorctl): the project says "+
			placeholderSrc+"; pass --tremor-src, or see the project's README")
	}
	files, err := renderProject(*lang, name, paths)
	if err != nil {
		return c.fail("new: %v", err)
	}
	if err := writeProject(dir, files); err != nil {
		return c.fail("new: %v", err)
	}
	abs, _ := filepath.Abs(dir)
	fmt.Fprintf(c.stdout, "created %s plugin %q in %s:\n", langTitle(*lang), name, abs)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(c.stdout, "  %s\n", n)
	}
	fmt.Fprintf(c.stdout, "\nnext:\n  cd %s\n%s", dir, nextSteps(*lang, name, paths))
	for _, w := range warnings {
		fmt.Fprintf(c.stderr, "tremorctl: new: %s\n", w)
	}
	return 0
}

// checkSDKFlags checks --prefix and --tremor-src when given: each must
// name what it says (prefixLibDir, isTremorSrc). It returns what is wrong
// with each.
func checkSDKFlags(prefix, src string) []error {
	var errs []error
	check := func(flag, dir, want, fix string, ok func(string) bool) {
		if dir == "" {
			return
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %v", flag, dir, err))
			return
		}
		st, err := os.Stat(abs)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			errs = append(errs, fmt.Errorf("%s %s does not exist: %s", flag, dir, fix))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s %s: %v", flag, dir, unwrapPath(err)))
		case !st.IsDir():
			errs = append(errs, fmt.Errorf("%s %s is not a directory: %s", flag, dir, fix))
		case !ok(abs):
			errs = append(errs, fmt.Errorf("%s %s %s: %s", flag, dir, want, fix))
		}
	}
	check("--tremor-src", src, "is not a tremorhost tree (no go.mod of module tremorhost with pdk-rust and pdk-go)",
		"name the root of your tremorhost checkout, or leave --tremor-src out to have it found next to this tremorctl (or written as a placeholder)", isTremorSrc)
	check("--prefix", prefix, "holds no Tremor plugin SDK (no include/tremor/plugin.h and lib/cmake/TremorPlugin/TremorPluginConfig.cmake)",
		"name the prefix the SDK was installed into (make install PREFIX=...), or leave --prefix out to have it found next to this tremorctl (or written as a placeholder)", func(d string) bool { return prefixLibDir(d) != "" })
	return errs
}

// unwrapPath is the reason of a *fs.PathError, without the operation and
// path the message around it already names.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

func newFlagSet(c *cli) *flag.FlagSet {
	fs := flag.NewFlagSet("new", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprint(c.stderr, newUsage)
		fs.PrintDefaults()
	}
	return fs
}

func langTitle(lang string) string {
	switch lang {
	case "c":
		return "C"
	case "rust":
		return "Rust"
	}
	return "Go"
}

func nextSteps(lang, name string, p sdkPaths) string {
	lib := "libtremor_" + name + ".so"
	switch lang {
	case "c":
		return fmt.Sprintf("  cmake -S . -B build && cmake --build build && ctest --test-dir build\n"+
			"  %s list-plugins build/%s\n", p.Tremorctl, lib)
	case "rust":
		return fmt.Sprintf("  cargo build --release && cargo test\n"+
			"  %s list-plugins target/release/%s\n", p.Tremorctl, lib)
	}
	return fmt.Sprintf("  make && go test .\n  %s list-plugins out/%s\n", p.Tremorctl, lib)
}

// executable is this tremorctl's absolute path with symlinks resolved, or
// "" when unknown.
func executable() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return exe
}

// discoverSDK finds the install prefix and the tremorhost tree: from the
// flags when given, else relative to the tremorctl executable (in a build
// tree: <src>/build/bin/tremorctl, <src>/build/install; installed:
// <prefix>/bin/tremorctl), each also from the other when one is known.
// It returns warnings for what it could not find.
func discoverSDK(exe, prefixFlag, srcFlag string) (sdkPaths, []string) {
	p := sdkPaths{Tremorctl: "tremorctl", SDKVersion: "0.1", GoVersion: goDirective()}
	if exe != "" && isTremorctl(exe) {
		p.Tremorctl = exe
	}
	var warnings []string
	bin := ""
	if exe != "" {
		bin = filepath.Dir(exe)
	}

	// The tremorhost tree.
	if srcFlag != "" {
		abs, _ := filepath.Abs(srcFlag)
		if isTremorSrc(abs) {
			p.Src = abs
		} else {
			warnings = append(warnings, fmt.Sprintf("--tremor-src %s is not a tremorhost tree (no go.mod of module tremorhost with pdk-rust and pdk-go)", srcFlag))
		}
	} else if bin != "" {
		if cand := filepath.Join(bin, "..", ".."); isTremorSrc(cand) {
			p.Src = filepath.Clean(cand)
		}
	}

	// The install prefix.
	if prefixFlag != "" {
		abs, _ := filepath.Abs(prefixFlag)
		if lib := prefixLibDir(abs); lib != "" {
			p.Prefix, p.LibDir = abs, lib
		} else {
			warnings = append(warnings, fmt.Sprintf("--prefix %s holds no Tremor plugin SDK (no lib/cmake/TremorPlugin/TremorPluginConfig.cmake)", prefixFlag))
		}
	} else {
		var cands []string
		if bin != "" {
			cands = append(cands, filepath.Join(bin, "..", "install"), filepath.Join(bin, ".."))
		}
		if p.Src != "" {
			cands = append(cands, filepath.Join(p.Src, "build", "install"))
		}
		for _, cand := range cands {
			if lib := prefixLibDir(cand); lib != "" {
				p.Prefix, p.LibDir = filepath.Clean(cand), lib
				break
			}
		}
	}
	if p.Src == "" && srcFlag == "" && p.Prefix != "" {
		// A build tree's prefix is <src>/build/install.
		if cand := filepath.Join(p.Prefix, "..", ".."); isTremorSrc(cand) {
			p.Src = filepath.Clean(cand)
		}
	}
	if p.Src != "" {
		if r, err := filepath.EvalSymlinks(p.Src); err == nil {
			p.Src = r
		}
		if v := goDirectiveOf(filepath.Join(p.Src, "go.mod")); v != "" {
			p.GoVersion = v
		}
	}
	if p.Prefix != "" {
		if v := packageVersion(filepath.Join(p.Prefix, p.LibDir, "cmake", "TremorPlugin", "TremorPluginConfigVersion.cmake")); v != "" {
			p.SDKVersion = v
		}
	}
	if p.LibDir == "" {
		p.LibDir = "lib"
	}
	return p, warnings
}

func isTremorctl(exe string) bool {
	return filepath.Base(exe) == "tremorctl"
}

// isTremorSrc: dir holds the tremorhost module with both SDKs.
func isTremorSrc(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || !regexp.MustCompile(`(?m)^module tremorhost\s*$`).Match(b) {
		return false
	}
	for _, f := range []string{"pdk-rust/Cargo.toml", "pdk-go/pdk.go", "include/tremor/plugin.h"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// prefixLibDir returns the library directory (relative to prefix, e.g.
// "lib" or "lib64" or "lib/x86_64-linux-gnu") that holds the TremorPlugin
// CMake package and the pkg-config files, or "" when prefix has none.
func prefixLibDir(prefix string) string {
	if _, err := os.Stat(filepath.Join(prefix, "include", "tremor", "plugin.h")); err != nil {
		return ""
	}
	var cands []string
	for _, pat := range []string{"lib*", "lib/*"} {
		m, _ := filepath.Glob(filepath.Join(prefix, pat, "cmake", "TremorPlugin", "TremorPluginConfig.cmake"))
		cands = append(cands, m...)
	}
	for _, m := range cands {
		lib := filepath.Dir(filepath.Dir(filepath.Dir(m)))
		if _, err := os.Stat(filepath.Join(lib, "pkgconfig", "tremor-pdk.pc")); err != nil {
			continue
		}
		if rel, err := filepath.Rel(prefix, lib); err == nil {
			return filepath.ToSlash(rel)
		}
	}
	return ""
}

var goLine = regexp.MustCompile(`(?m)^go\s+([0-9][0-9.]*)\s*$`)

func goDirectiveOf(gomod string) string {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	if m := goLine.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

// goDirective is the go version a generated go.mod states when the
// tremorhost tree is unknown: this tremorctl's own toolchain.
func goDirective() string {
	v := strings.TrimPrefix(runtime.Version(), "go")
	if i := strings.IndexFunc(v, func(r rune) bool { return !(r == '.' || r >= '0' && r <= '9') }); i >= 0 {
		v = v[:i]
	}
	if v == "" {
		return "1.26"
	}
	return v
}

var pkgVersion = regexp.MustCompile(`set\(PACKAGE_VERSION "([0-9]+)\.([0-9]+)`)

// packageVersion reads major.minor from a CMake package version file.
func packageVersion(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	if m := pkgVersion.FindSubmatch(b); m != nil {
		return string(m[1]) + "." + string(m[2])
	}
	return ""
}

// renderProject returns the project's files (slash paths relative to the
// project directory) and their contents.
func renderProject(lang, name string, p sdkPaths) (map[string][]byte, error) {
	switch lang {
	case "c", "rust", "go":
	default:
		return nil, fmt.Errorf("--lang %q: use c, rust or go", lang)
	}
	if !validName.MatchString(name) || len(name) > 48 {
		return nil, fmt.Errorf("plugin name %q: use lower-case letters, digits and underscores, starting with a letter (at most 48), e.g. my_conn", name)
	}
	vars := projectVars(lang, name, p)
	pairs := make([]string, 0, 2*len(vars))
	for k, v := range vars {
		pairs = append(pairs, "@"+k+"@", v)
	}
	rep := strings.NewReplacer(pairs...)
	files := map[string][]byte{}
	for _, root := range []string{"templates/common", "templates/" + lang} {
		err := fs.WalkDir(templateFS, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := templateFS.ReadFile(p)
			if err != nil {
				return err
			}
			rel := strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl")
			dir, base := path.Split(rel)
			if strings.HasPrefix(base, "dot-") {
				base = "." + strings.TrimPrefix(base, "dot-")
			}
			files[rep.Replace(dir+base)] = []byte(rep.Replace(string(b)))
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for f, b := range files {
		if m := leftover.Find(b); m != nil {
			return nil, fmt.Errorf("internal error: template %s left %s unreplaced", f, m)
		}
	}
	return files, nil
}

var leftover = regexp.MustCompile(`@[A-Z][A-Z_]*@`)

// projectVars are the @KEY@ substitutions of the templates.
func projectVars(lang, name string, p sdkPaths) map[string]string {
	prefix, src := p.Prefix, p.Src
	prefixComment := "Found by tremorctl new; override with\n# -DTREMOR_PREFIX=<prefix> (CMake) or make TREMOR_PREFIX=<prefix>."
	if prefix == "" {
		prefix = placeholderPrefix
		prefixComment = "tremorctl new could not find it: replace the\n# placeholder " + placeholderPrefix + " (./scripts/build-c.sh in the\n# tremorhost tree installs the SDK into <tremorhost>/build/install)."
	}
	srcComment := "Found by tremorctl new."
	if src == "" {
		src = placeholderSrc
		srcComment = "tremorctl new could not find the tremorhost tree:\n// replace " + placeholderSrc + " with its absolute path."
		if lang == "rust" {
			srcComment = strings.ReplaceAll(srcComment, "//", "#")
		}
	}
	pluginDir := map[string]string{"c": "build", "rust": "target/release", "go": "out"}[lang]
	return map[string]string{
		"NAME":           name,
		"LIB":            "tremor_" + name,
		"PREFIX":         prefix,
		"LIBDIR":         p.LibDir,
		"PREFIX_COMMENT": prefixComment,
		"REPO":           src,
		"REPO_COMMENT":   srcComment,
		"PDK_RUST":       src + "/pdk-rust",
		"TREMORCTL":      p.Tremorctl,
		"GO_VERSION":     p.GoVersion,
		"SDK_VERSION":    p.SDKVersion,
		"PLUGIN_DIR":     pluginDir,
		"SETUP_NOTE":     setupNote(lang, p),
	}
}

// setupNote is the README paragraph about where the SDK comes from.
func setupNote(lang string, p sdkPaths) string {
	var b strings.Builder
	b.WriteString("## Where the SDK comes from\n\n")
	switch lang {
	case "c":
		if p.Prefix != "" {
			fmt.Fprintf(&b, "The build uses the Tremor plugin SDK installed in `%s` (the header\n"+
				"`tremor/plugin.h`, pdk-c's `tremor/pdk.h` and `libtremor_pdk.a`, the CMake\n"+
				"package `TremorPlugin` and the pkg-config files `tremor-plugin` and\n"+
				"`tremor-pdk`). `tremorctl new` found it and wrote it into `CMakeLists.txt`\n"+
				"(`TREMOR_PREFIX`) and the `Makefile`; if it moves, pass the new prefix:\n"+
				"`cmake -DTREMOR_PREFIX=...` or `make TREMOR_PREFIX=...`.", p.Prefix)
		} else {
			fmt.Fprintf(&b, "**Set the SDK prefix first.** `tremorctl new` could not find an installed\n"+
				"Tremor plugin SDK, so `CMakeLists.txt` and the `Makefile` say\n"+
				"`%s`. In the tremorhost tree, `./scripts/build-c.sh` (or `make`)\n"+
				"installs the SDK into `<tremorhost>/build/install`; then build with\n"+
				"`cmake -S . -B build -DTREMOR_PREFIX=<tremorhost>/build/install` or\n"+
				"`make TREMOR_PREFIX=<tremorhost>/build/install`, or edit the two files.", placeholderPrefix)
		}
	case "rust":
		if p.Src != "" {
			fmt.Fprintf(&b, "`Cargo.toml` depends on tremor-pdk by path: `%s/pdk-rust`, found by\n"+
				"`tremorctl new`. If the tremorhost tree moves, edit that path.", p.Src)
		} else {
			fmt.Fprintf(&b, "**Set the tremor-pdk path first.** `tremorctl new` could not find the\n"+
				"tremorhost tree, so `Cargo.toml` says `path = \"%s/pdk-rust\"`:\n"+
				"replace it with the absolute path of `pdk-rust` in your tremorhost checkout.", placeholderSrc)
		}
	default:
		if p.Src != "" {
			fmt.Fprintf(&b, "`go.mod` takes pdk-go from the tremorhost tree in `%s`\n"+
				"(`replace tremorhost => ...`), found by `tremorctl new`. If the tree moves,\n"+
				"edit that line.", p.Src)
		} else {
			fmt.Fprintf(&b, "**Set the tremorhost path first.** `tremorctl new` could not find the\n"+
				"tremorhost tree, so `go.mod` says `replace tremorhost => %s`:\n"+
				"replace it with the absolute path of your tremorhost checkout.", placeholderSrc)
		}
	}
	if p.Tremorctl == "tremorctl" {
		b.WriteString("\n\nThe commands below call `tremorctl` from your PATH (the tremorhost build\n" +
			"puts it in `<tremorhost>/build/bin`).")
	}
	return b.String()
}

// writeProject creates dir (which must not exist, or be an empty
// directory) and writes files into it. On failure it removes what it
// created.
func writeProject(dir string, files map[string][]byte) error {
	created := false
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("%s exists and is not a directory", dir)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		if len(entries) > 0 {
			return fmt.Errorf("%s is not empty: refusing to overwrite it (choose another DIR)", dir)
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cannot create the project directory %s: %v: name a DIR where you can create directories", dir, unwrapPath(err))
		}
		created = true
	} else {
		return fmt.Errorf("cannot use %s as the project directory: %v", dir, unwrapPath(err))
	}
	cleanup := func() {
		if created {
			os.RemoveAll(dir)
			return
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	for rel, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			cleanup()
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(rel, ".sh") || bytes.HasPrefix(b, []byte("#!")) {
			mode = 0o755
		}
		if err := os.WriteFile(p, b, mode); err != nil {
			cleanup()
			return err
		}
	}
	return nil
}
