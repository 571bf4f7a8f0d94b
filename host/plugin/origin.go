package plugin

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"tremorhost/host/internal/cmem"
)

// A plugin that ships its own libraries finds them through an rpath of
// $ORIGIN (the directory of the file that needs them). The host loads the
// plugin through /proc/self/fd/N, so that what runs is the file it hashed,
// and for that name the dynamic loader expands $ORIGIN to /proc/self/fd.
// So the host finds those libraries itself, checks them as it checks a
// plugin file, and loads them first, each through its own open file: the
// loader then finds each among the loaded libraries by its soname when it
// loads the plugin. tremor-runner does the same with the files the host
// passes it (runner/PROTOCOL.md).

// OriginLibs returns the libraries the ELF file at path needs that the
// dynamic loader would find through an rpath entry with $ORIGIN, and
// theirs found the same way, in the order to load them (each after the
// libraries it needs). Each is checked as a plugin file is (its mode,
// owner and directories, that it is ELF) and must carry the soname it is
// needed by. path is absolute and free of symlinks. An error is a
// *LoadError for path that names the library.
func OriginLibs(path string) ([]string, error) {
	var order []string
	seen := map[string]bool{}
	var walk func(file string) error
	walk = func(file string) error {
		for _, n := range originNeeds(file) {
			lib, err := trustedLib(n.path)
			if err != nil {
				return err
			}
			if seen[lib] {
				continue
			}
			seen[lib] = true
			if err := checkSoname(lib, n.name); err != nil {
				return err
			}
			if err := walk(lib); err != nil {
				return err
			}
			order = append(order, lib)
		}
		return nil
	}
	if err := walk(path); err != nil {
		return nil, &LoadError{Path: path, Err: err}
	}
	return order, nil
}

// originNeed is a library file needs (its DT_NEEDED name) and where an
// rpath entry with $ORIGIN finds it.
type originNeed struct{ name, path string }

// originNeeds returns what file needs through its $ORIGIN rpath entries:
// for each needed name, the first rpath entry that holds it decides, as
// for the loader; a library an entry without $ORIGIN finds, or none does,
// is the loader's to find as usual.
func originNeeds(file string) []originNeed {
	f, err := elf.Open(file)
	if err != nil {
		return nil // not ELF (checked elsewhere) or unreadable: nothing to add
	}
	defer f.Close()
	entries, _ := f.DynString(elf.DT_RUNPATH)
	if len(entries) == 0 {
		entries, _ = f.DynString(elf.DT_RPATH)
	}
	var dirs []string
	var fromOrigin []bool
	for _, e := range entries {
		for _, d := range strings.Split(e, ":") {
			expanded := strings.NewReplacer("${ORIGIN}", filepath.Dir(file), "$ORIGIN", filepath.Dir(file)).Replace(d)
			if d == "" || strings.Contains(expanded, "$") {
				continue // $LIB, $PLATFORM: left to the loader
			}
			dirs = append(dirs, expanded)
			fromOrigin = append(fromOrigin, expanded != d)
		}
	}
	if !slices.Contains(fromOrigin, true) {
		return nil
	}
	names, err := f.ImportedLibraries()
	if err != nil {
		return nil
	}
	var needs []originNeed
	for _, name := range names {
		if strings.Contains(name, "/") {
			continue
		}
		for i, d := range dirs {
			p := filepath.Join(d, name)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			if fromOrigin[i] {
				needs = append(needs, originNeed{name, p})
			}
			break
		}
	}
	return needs
}

// trustedLib applies a plugin file's checks to a library found through
// $ORIGIN and returns its absolute path without symlinks.
func trustedLib(path string) (string, error) {
	abs, err := absPath(path)
	if err == nil {
		err = precheck(abs)
	}
	if err != nil {
		var le *LoadError
		if errors.As(err, &le) {
			err = le.Err
		}
		return "", libErr(path, ": %w", err)
	}
	return abs, nil
}

// libErr is the error about lib, a library found through $ORIGIN: what
// follows its name is format with args.
func libErr(lib, format string, args ...any) error {
	return fmt.Errorf("its library %s (found through $ORIGIN in its rpath)"+format, append([]any{lib}, args...)...)
}

// checkSoname refuses a library the loader would not recognise as the one
// needed once it is loaded through /proc/self/fd/N: it matches a needed
// name against the sonames of the libraries already loaded.
func checkSoname(lib, name string) error {
	f, err := elf.Open(lib)
	if err != nil {
		return libErr(lib, ": %w", err)
	}
	defer f.Close()
	sonames, _ := f.DynString(elf.DT_SONAME)
	if len(sonames) == 1 && sonames[0] == name {
		return nil
	}
	has := "has no soname"
	if len(sonames) > 0 {
		has = fmt.Sprintf("has the soname %q", strings.Join(sonames, ", "))
	}
	return libErr(lib, " %s, and is needed as %q: the host loads it first and the dynamic loader matches the two by soname; link the library with -Wl,-soname,%s", has, name, name)
}

// OpenOriginLibs opens the libraries a plugin file finds through $ORIGIN
// (OriginLibs), for a child process to load through /proc/self/fd before
// the plugin. The caller closes them.
func OpenOriginLibs(path string) ([]*os.File, error) {
	libs, err := OriginLibs(path)
	if err != nil {
		return nil, err
	}
	files := make([]*os.File, 0, len(libs))
	for _, lib := range libs {
		f, err := os.Open(lib)
		if err != nil {
			CloseAll(files)
			return nil, &LoadError{Path: path, Err: libErr(lib, ": %w", err)}
		}
		files = append(files, f)
	}
	return files, nil
}

// CloseAll closes files.
func CloseAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// loadOriginLibs loads the libraries path finds through $ORIGIN into this
// process, each through its own open file (kept open, as a plugin's is).
func loadOriginLibs(path string) error {
	files, err := OpenOriginLibs(path)
	if err != nil {
		return err
	}
	for i, f := range files {
		if _, err := cmem.Open(fdPath(f)); err != nil {
			CloseAll(files[i:])
			msg := strings.ReplaceAll(err.Error(), fdPath(f), f.Name())
			return &LoadError{Path: path, Err: libErr(f.Name(), " cannot be loaded: %s", msg)}
		}
		keepOpen(f)
	}
	return nil
}
