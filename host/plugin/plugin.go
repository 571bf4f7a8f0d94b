// Package plugin loads connector plugins (shared libraries implementing
// include/tremor/plugin.h) and drives their instances.
//
// Loading checks a plugin before trusting it: the file is a shared library
// for this machine, it exports the entry symbol, its descriptor has the
// right ABI version and sizes, every name is valid UTF-8 and unique, every
// connector declares valid kinds, fields and defaults and has the hooks its
// kinds need. Each refusal is a *LoadError naming the file, the cause and
// what to do.
//
// What cannot be checked: a plugin loaded with Load runs in this process. A
// wild pointer in a descriptor, a crash or an endless loop inside a hook
// takes the host down with it; so does a plugin that writes outside the
// memory it is given. The host checks everything a plugin hands back
// through the contract (lengths, spans, value trees, result codes) but
// trusts the plugin not to be hostile. To be safe from crashes and hangs,
// read descriptors in a child process (Inspect) and run instances there
// (isolate.New): host/isolate does both with tremor-runner.
//
// Libraries are never unloaded (Go c-shared libraries cannot be, and
// descriptors must stay valid).
package plugin

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/internal/cmem"
)

// Limits on what a descriptor may declare; far above any real plugin, they
// keep a damaged descriptor from making the host read without end.
const (
	maxNameLen       = abi.MaxNameLen
	maxTextLen       = abi.MaxTextLen
	maxConnectors    = abi.MaxConnectors
	maxFields        = abi.MaxFields
	maxDefaultJSON   = abi.MaxDefaultJSON
	hostABIString    = abi.ABIVersionString
	rebuildAdvice    = "rebuild it against the tremor/plugin.h installed with this host"
	descriptorSize   = abi.SizeofPluginDescriptor
	connectorSize    = abi.SizeofConnectorType10 // the smallest of this major (a 1.0 plugin's)
	vtableSize       = abi.SizeofConnectorVTable
	configFieldSize  = abi.SizeofConfigField
	descriptorPrefix = 8 // struct_size, abi_major, abi_minor
)

// Plugin is a loaded, checked plugin library.
type Plugin struct {
	Path        string // absolute path of the file
	Name        string
	Version     string
	Description string // may be empty
	License     string // SPDX id, may be empty
	SDK         string // may be empty
	SHA256      string // hex digest of the file as loaded
	ABIMajor    uint16
	ABIMinor    uint16
	Connectors  []*Connector

	handle uintptr
}

// Loaded reports whether the library is loaded into this process (Load),
// as opposed to only described by a child process (Inspect).
func (p *Plugin) Loaded() bool { return p.handle != 0 }

// ABI returns the ABI version the plugin was built for, e.g. "1.0".
func (p *Plugin) ABI() string { return fmt.Sprintf("%d.%d", p.ABIMajor, p.ABIMinor) }

// Connector returns the plugin's connector type with this name.
func (p *Plugin) Connector(name string) *Connector {
	for _, c := range p.Connectors {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Connector is one connector type a plugin provides.
type Connector struct {
	Plugin      *Plugin
	Name        string
	Description string // may be empty
	Kinds       uint32 // abi.KindSource | abi.KindSink bits
	Payload     uint32 // abi.PayloadBytes or abi.PayloadStructured
	Fields      []Field
	// Framing is the processor the type declares as its natural framing
	// (ABI 1.1), used when a flow sets no processors; "" for none.
	Framing string

	hooks edge.Hooks          // the hooks the plugin implements
	vt    abi.ConnectorVTable // their addresses, when the plugin is loaded
}

// Has reports whether the connector implements hook h.
func (c *Connector) Has(h edge.Hook) bool { return c.hooks.Has(h) }

// Hooks is the set of hooks the connector implements.
func (c *Connector) Hooks() edge.Hooks { return c.hooks }

// IsSource reports whether the connector produces events.
func (c *Connector) IsSource() bool { return c.Kinds&abi.KindSource != 0 }

// IsSink reports whether the connector consumes events.
func (c *Connector) IsSink() bool { return c.Kinds&abi.KindSink != 0 }

// KindNames lists the connector's kinds: "source", "sink".
func (c *Connector) KindNames() []string {
	var out []string
	if c.IsSource() {
		out = append(out, "source")
	}
	if c.IsSink() {
		out = append(out, "sink")
	}
	return out
}

// PayloadName is "bytes" or "structured".
func (c *Connector) PayloadName() string {
	if c.Payload == abi.PayloadStructured {
		return "structured"
	}
	return "bytes"
}

// Field returns the declared config field with this name.
func (c *Connector) Field(name string) *Field {
	for i := range c.Fields {
		if c.Fields[i].Name == name {
			return &c.Fields[i]
		}
	}
	return nil
}

// Field is one config field a connector type declares.
type Field struct {
	Name        string
	Type        uint32 // abi.Value* kind
	Required    bool
	Secret      bool
	DefaultJSON string // "" when there is no default
	Doc         string
}

// TypeName names the field's type: "string", "uint", ...
func (f *Field) TypeName() string { return abi.KindName(f.Type) }

// HasDefault reports whether the field declares a default.
func (f *Field) HasDefault() bool { return f.DefaultJSON != "" }

// Default parses the field's default (a fresh value on every call), or
// returns nil when it has none.
func (f *Field) Default() any {
	if !f.HasDefault() {
		return nil
	}
	v, err := parseDefault(f.DefaultJSON, f.Type)
	if err != nil { // checked at load time
		return nil
	}
	return v
}

// LoadError is a refused plugin file: which file, and why. What could be
// read of the descriptor before it was refused is kept for listings.
type LoadError struct {
	Path    string
	Plugin  string // the plugin's name, when it could be read
	Version string // the plugin's version, when it could be read
	ABI     string // "major.minor" the plugin was built for, when it could be read
	Err     error
}

func (e *LoadError) Error() string { return "plugin " + e.Path + ": " + e.Err.Error() }
func (e *LoadError) Unwrap() error { return e.Err }

var cache struct {
	sync.Mutex
	byPath map[string]*Plugin
}

// Load opens and checks one plugin file. Loading the same file twice
// returns the same *Plugin; once the file's content has changed (a new
// build renamed into place), Load loads the new build beside the old one,
// which stays loaded for the instances made from it (live upgrade).
func Load(path string) (*Plugin, error) {
	abs, err := absPath(path)
	if err != nil {
		return nil, err
	}
	cache.Lock()
	defer cache.Unlock()
	if p, ok := cache.byPath[abs]; ok && unchanged(p) {
		return p, nil
	}
	p, err := load(abs)
	if err != nil {
		return nil, err
	}
	if cache.byPath == nil {
		cache.byPath = map[string]*Plugin{}
	}
	cache.byPath[abs] = p
	return p, nil
}

// unchanged reports whether p's file still holds what was loaded.
func unchanged(p *Plugin) bool {
	f, _, digest, err := openVerified(p.Path)
	if err != nil {
		return true // gone or unreadable: keep what is loaded
	}
	f.Close()
	return digest == p.SHA256
}

func load(path string) (*Plugin, error) {
	if err := precheck(path); err != nil {
		return nil, err
	}
	if err := loadOriginLibs(path); err != nil {
		return nil, err
	}
	f, loadPath, digest, err := openVerified(path)
	if err != nil {
		return nil, &LoadError{Path: path, Err: err}
	}
	h, err := cmem.Open(loadPath)
	if err != nil {
		f.Close()
		msg := strings.ReplaceAll(err.Error(), loadPath, path)
		_, err := checkDescription(path, &Description{DlopenError: &msg})
		return nil, err
	}
	keepOpen(f)
	p, err := checkDescription(path, readDescription(h))
	if err != nil {
		return nil, err
	}
	p.handle, p.SHA256 = h, digest
	return p, nil
}

func strconvQuote(s string, max int) string {
	if len(s) > max {
		s = s[:max] + "..."
	}
	b, _ := json.Marshal(s) // keeps invalid bytes visible as \ufffd
	if !utf8.ValidString(s) {
		return fmt.Sprintf("%+q", s)
	}
	return string(b)
}
