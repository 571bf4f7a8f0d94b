package plugin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rs/zerolog"
)

// EnvPluginPath is the environment variable holding the plugin search path
// (colon-separated directories).
const EnvPluginPath = "TREMOR_PLUGIN_PATH"

// SplitPath splits a colon-separated search path. Empty entries are
// ignored (never read as the current directory) and reported at debug
// level; origin names where the list came from, for that message.
func SplitPath(list, origin string, log zerolog.Logger) []string {
	if list == "" {
		return nil
	}
	var out []string
	for i, e := range strings.Split(list, string(os.PathListSeparator)) {
		if e == "" {
			log.Debug().Str("origin", origin).Int("entry", i).Msg("ignoring an empty entry in the plugin search path: the current directory is never searched implicitly (name it by its absolute path)")
			continue
		}
		out = append(out, e)
	}
	return out
}

// Search lists the plugin files to load: every explicit path (a file, even
// without the .so suffix, or a directory), then every directory of the
// search path, in order. In a directory only regular files (or symlinks to
// them) named *.so are taken, sorted by name, without descending into
// subdirectories. A file reached twice is listed once. An explicit path
// that does not exist is an error, and so is a search-path entry that does
// not exist or is not a directory, unless it is one of DefaultDirs (those
// are skipped, logged at debug level). A relative search-path
// directory is refused (an error, the others are still searched): it would
// be resolved against whatever the current directory happens to be, and
// the current directory is never searched unless named.
func Search(explicit, searchPath []string, log zerolog.Logger) ([]string, error) {
	var files []string
	var errs []error
	seen := map[string]bool{}
	defaults := DefaultDirs()
	add := func(p string) {
		key := p
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
			if real, err := filepath.EvalSymlinks(abs); err == nil {
				key = real
			}
		}
		if !seen[key] {
			seen[key] = true
			files = append(files, p)
		}
	}
	scan := func(dir string) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		names := []string{}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".so") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			st, err := os.Stat(p) // follows symlinks
			if err != nil || !st.Mode().IsRegular() {
				log.Debug().Str("path", p).Msg("skipping: not a regular file")
				continue
			}
			names = append(names, p)
		}
		slices.Sort(names)
		for _, p := range names {
			add(p)
		}
		return nil
	}
	for _, p := range explicit {
		st, err := os.Stat(p)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("plugin path %s: %w", p, unwrapPathError(err)))
		case st.IsDir():
			if err := scan(p); err != nil {
				errs = append(errs, fmt.Errorf("plugin directory %s: %w", p, unwrapPathError(err)))
			}
		default:
			add(p)
		}
	}
	for _, dir := range searchPath {
		if !filepath.IsAbs(dir) {
			errs = append(errs, relativeEntryError(dir))
			continue
		}
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() {
			if slices.Contains(defaults, filepath.Clean(dir)) {
				log.Debug().Str("dir", dir).Msg("skipping default plugin directory: not a directory")
			} else {
				errs = append(errs, badEntryError(dir, st, err))
			}
			continue
		}
		if err := scan(dir); err != nil {
			errs = append(errs, fmt.Errorf("plugin directory %s: %w", dir, unwrapPathError(err)))
		}
	}
	return files, errors.Join(errs...)
}

// DefaultDirs are the plugin directories searched after the ones named
// by --plugin-path and TREMOR_PLUGIN_PATH: <dir of the executable>/../plugins,
// <dir of the executable>/../lib/tremor/plugins (an install's plugin
// directory) and, in a build tree, <dir of the executable>/../install/lib/tremor/plugins
// (its SDK prefix, where `make install` of a `tremorctl new` project puts
// the plugin). Search skips those that do not exist; a named entry that
// does not exist is an error.
func DefaultDirs() []string {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	bin := filepath.Dir(exe)
	return []string{
		filepath.Join(bin, "..", "plugins"),
		filepath.Join(bin, "..", "lib", "tremor", "plugins"),
		filepath.Join(bin, "..", "install", "lib", "tremor", "plugins"),
	}
}

// entryOrigin names the setting that holds the search path entry dir.
func entryOrigin(dir string) string {
	if slices.Contains(strings.Split(os.Getenv(EnvPluginPath), string(os.PathListSeparator)), dir) {
		return EnvPluginPath + " entry"
	}
	return "--plugin-path entry"
}

// badEntryError says that the named search path entry dir (st and err
// from its os.Stat) is not a directory that can be searched, and what to
// do.
func badEntryError(dir string, st os.FileInfo, err error) error {
	origin := entryOrigin(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s %q does not exist: the plugin search path takes existing directories of plugin files; correct the entry, create the directory, or remove the entry", origin, dir)
	case err != nil:
		return fmt.Errorf("%s %q: cannot use it: %v", origin, dir, unwrapPathError(err))
	}
	return fmt.Errorf("%s %q is not a directory: the plugin search path takes directories of plugin files; name the directory that holds the plugin instead", origin, dir)
}

// relativeEntryError says which setting holds the relative entry dir and
// what to write instead.
func relativeEntryError(dir string) error {
	origin := entryOrigin(dir)
	fix := "an absolute path"
	if abs, err := filepath.Abs(dir); err == nil {
		fix = fmt.Sprintf("an absolute path, e.g. %s", abs)
	}
	return fmt.Errorf("%s %q is relative: the plugin search path takes absolute directories only, so that the current directory is never searched by accident; use %s", origin, dir, fix)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Entry is one plugin file and what became of it.
type Entry struct {
	Path   string
	Plugin *Plugin // nil when the descriptor could not be read
	Err    error   // nil when loaded and registered
}

// Registry is a set of loaded plugins whose connector names are unique.
type Registry struct {
	Entries    []Entry
	connectors map[string]*Connector
	contested  map[string][]*Plugin // connector names claimed by several plugins
}

// LoadAll loads every file, in order. A file that fails is recorded with
// its error and does not stop the others. Plugins that claim the same
// connector name are all refused, whatever their order (each error names
// the other files): which one a flow would get must not depend on the order
// of the search path. The returned error joins every failure (nil when all
// loaded).
func LoadAll(files []string) (*Registry, error) { return LoadAllWith(files, Load) }

// LoadAllWith is LoadAll with another way to get each file's plugin: for
// one, describing it in a child process (Inspect, host/isolate's scanner)
// instead of loading it into this one. load is called once per file, in
// order.
func LoadAllWith(files []string, load func(path string) (*Plugin, error)) (*Registry, error) {
	r := &Registry{connectors: map[string]*Connector{}, contested: map[string][]*Plugin{}}
	claims := map[string][]*Plugin{} // connector name -> the distinct plugins claiming it
	for _, f := range files {
		p, err := load(f)
		if err != nil {
			r.Entries = append(r.Entries, Entry{Path: f, Err: err})
			continue
		}
		r.Entries = append(r.Entries, Entry{Path: f, Plugin: p})
		for _, c := range p.Connectors {
			if !slices.ContainsFunc(claims[c.Name], func(q *Plugin) bool { return samePlugin(p, q) }) {
				claims[c.Name] = append(claims[c.Name], p)
			}
		}
	}
	var errs []error
	for i := range r.Entries {
		e := &r.Entries[i]
		if e.Err == nil {
			e.Err = r.conflicts(e.Plugin, claims)
		}
		if e.Err != nil {
			errs = append(errs, e.Err)
			continue
		}
		for _, c := range e.Plugin.Connectors {
			if _, ok := r.connectors[c.Name]; !ok { // the same file listed twice
				r.connectors[c.Name] = c
			}
		}
	}
	return r, errors.Join(errs...)
}

// conflicts returns the *LoadError refusing p for the connector names it
// shares with other plugins (nil when it shares none), and records them.
func (r *Registry) conflicts(p *Plugin, claims map[string][]*Plugin) error {
	var msgs []string
	for _, c := range p.Connectors {
		others := []string{}
		for _, q := range claims[c.Name] {
			if !samePlugin(p, q) {
				others = append(others, fmt.Sprintf("plugin %q (%s)", q.Name, q.Path))
			}
		}
		if len(others) == 0 {
			continue
		}
		r.contested[c.Name] = claims[c.Name]
		msgs = append(msgs, fmt.Sprintf("connector %q is also provided by %s", c.Name, strings.Join(others, " and ")))
	}
	if len(msgs) == 0 {
		return nil
	}
	return &LoadError{Path: p.Path, Plugin: p.Name, Version: p.Version, ABI: p.ABI(), Err: fmt.Errorf(
		"%s: two plugins cannot provide the same connector, so all of them are refused; remove all but one of the files from the plugin path",
		strings.Join(msgs, "; "))}
}

// samePlugin reports whether p and q are the same file (listed twice).
func samePlugin(p, q *Plugin) bool { return p == q || p.Path == q.Path }

// Contested returns an error naming every file that claims the connector
// type name when it was refused for being claimed by several plugins, and
// nil otherwise.
func (r *Registry) Contested(name string) error {
	ps := r.contested[name]
	if len(ps) == 0 {
		return nil
	}
	files := make([]string, len(ps))
	for i, p := range ps {
		files[i] = fmt.Sprintf("plugin %q (%s)", p.Name, p.Path)
	}
	return fmt.Errorf("connector type %q is provided by %s: two plugins cannot provide the same connector, so all of them are refused; remove all but one of the files from the plugin path",
		name, strings.Join(files, " and "))
}

// Connector returns the registered connector type with this name.
func (r *Registry) Connector(name string) *Connector { return r.connectors[name] }

// Plugins returns the registered plugins, in load order.
func (r *Registry) Plugins() []*Plugin {
	var out []*Plugin
	for _, e := range r.Entries {
		if e.Err == nil {
			out = append(out, e.Plugin)
		}
	}
	return out
}
