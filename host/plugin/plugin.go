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
// What cannot be checked: a plugin runs in this process. A wild pointer in a
// descriptor, a crash or an endless loop inside a hook takes the host down
// with it; so does a plugin that writes outside the memory it is given. The
// host checks everything a plugin hands back through the contract (lengths,
// spans, value trees, result codes) but trusts the plugin not to be hostile.
//
// Libraries are never unloaded (Go c-shared libraries cannot be, and
// descriptors must stay valid).
package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"tremorhost/abi"
	"tremorhost/host/plugin/internal/native"
)

// Limits on what a descriptor may declare; far above any real plugin, they
// keep a damaged descriptor from making the host read without end.
const (
	maxNameLen       = 256
	maxTextLen       = 64 << 10
	maxConnectors    = 1024
	maxFields        = 1024
	maxDefaultJSON   = 64 << 10
	hostABIString    = abi.ABIVersionString
	rebuildAdvice    = "rebuild it against the tremor/plugin.h installed with this host"
	descriptorSize   = unsafe.Sizeof(abi.PluginDescriptor{})
	connectorSize    = unsafe.Sizeof(abi.ConnectorType{})
	vtableSize       = unsafe.Sizeof(abi.ConnectorVTable{})
	configFieldSize  = unsafe.Sizeof(abi.ConfigField{})
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

	vt abi.ConnectorVTable
}

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

// LoadError is a refused plugin file: which file, and why.
type LoadError struct {
	Path   string
	Plugin string // the plugin's name when the descriptor could be read
	Err    error
}

func (e *LoadError) Error() string { return "plugin " + e.Path + ": " + e.Err.Error() }
func (e *LoadError) Unwrap() error { return e.Err }

var cache struct {
	sync.Mutex
	byPath map[string]*Plugin
}

// Load opens and checks one plugin file. Loading the same file twice
// returns the same *Plugin.
func Load(path string) (*Plugin, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &LoadError{Path: path, Err: err}
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	cache.Lock()
	defer cache.Unlock()
	if p, ok := cache.byPath[abs]; ok {
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

func load(path string) (*Plugin, error) {
	fail := func(format string, args ...any) error {
		return &LoadError{Path: path, Err: fmt.Errorf(format, args...)}
	}
	if st, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fail("no such file")
		}
		return nil, &LoadError{Path: path, Err: err}
	} else if st.IsDir() {
		return nil, fail("is a directory, not a plugin file")
	} else if err := checkPermissions(path, st); err != nil {
		return nil, &LoadError{Path: path, Err: err}
	}
	if err := native.CheckELF(path); err != nil {
		return nil, &LoadError{Path: path, Err: err}
	}
	f, loadPath, digest, err := openVerified(path)
	if err != nil {
		return nil, &LoadError{Path: path, Err: err}
	}
	h, err := native.Open(loadPath)
	if err == nil {
		keepOpen(f)
	} else {
		f.Close()
		err = errors.New(strings.ReplaceAll(err.Error(), loadPath, path))
		return nil, fail("cannot be loaded: %v: check that the libraries it needs are installed (ldd %s)", strings.TrimSpace(err.Error()), path)
	}
	entry := native.Sym(h, abi.EntrySymbol)
	if entry == 0 {
		return nil, fail("does not export %s(), so it is not a tremor plugin: define it with TREMOR_PLUGIN_EXPORT (check with: nm -D %s)", abi.EntrySymbol, path)
	}
	d := native.Call0(entry)
	if d == 0 {
		return nil, fail("%s() returned NULL: it must return a pointer to a static tremor_plugin_descriptor", abi.EntrySymbol)
	}
	p, err := readDescriptor(path, d)
	if err != nil {
		le := &LoadError{Path: path, Err: err}
		if p != nil {
			le.Plugin = p.Name
		}
		return nil, le
	}
	p.handle, p.SHA256 = h, digest
	return p, nil
}

// readDescriptor copies and checks the descriptor at d. On error it may
// still return the partly read plugin (for its name).
func readDescriptor(path string, d uintptr) (*Plugin, error) {
	size := uintptr(native.ReadU32(d))
	if size < descriptorPrefix {
		return nil, fmt.Errorf("descriptor struct_size is %d, too small to hold even the ABI version: set struct_size = sizeof(tremor_plugin_descriptor) and %s", size, rebuildAdvice)
	}
	major, minor := native.ReadU16(d+4), native.ReadU16(d+6)
	if major != abi.ABIMajor {
		return nil, fmt.Errorf("built for ABI %d.%d, this host speaks %s: %s", major, minor, hostABIString, rebuildAdvice)
	}
	if minor > abi.ABIMinor {
		return nil, fmt.Errorf("built for ABI %d.%d, newer than this host's %s: %s, or use a newer host", major, minor, hostABIString, rebuildAdvice)
	}
	if size < descriptorSize {
		return nil, fmt.Errorf("descriptor struct_size is %d, smaller than the %d bytes of an ABI %s tremor_plugin_descriptor: set struct_size = sizeof(tremor_plugin_descriptor) and %s", size, descriptorSize, hostABIString, rebuildAdvice)
	}
	desc := native.ReadPrefix[abi.PluginDescriptor](d, size)
	p := &Plugin{Path: path, ABIMajor: major, ABIMinor: minor}
	var err error
	if p.Name, err = name("plugin name (descriptor.name)", desc.Name); err != nil {
		return nil, err
	}
	if p.Version, err = name("plugin version (descriptor.version)", desc.Version); err != nil {
		return p, err
	}
	if p.Description, err = text("descriptor.description", desc.Description); err != nil {
		return p, err
	}
	if p.License, err = text("descriptor.license", desc.License); err != nil {
		return p, err
	}
	if p.SDK, err = text("descriptor.sdk", desc.SDK); err != nil {
		return p, err
	}
	if desc.ConnectorsLen == 0 || desc.Connectors == 0 {
		return p, fmt.Errorf("declares no connectors (connectors_len %d): a plugin provides at least one connector type", desc.ConnectorsLen)
	}
	if desc.ConnectorsLen > maxConnectors {
		return p, fmt.Errorf("declares %d connectors, more than the %d this host accepts: is connectors_len right?", desc.ConnectorsLen, maxConnectors)
	}
	seen := map[string]int{}
	for i := uint64(0); i < desc.ConnectorsLen; i++ {
		cp := native.ReadUintptr(desc.Connectors + uintptr(i)*unsafe.Sizeof(uintptr(0)))
		c, err := readConnector(p, cp)
		if err != nil {
			label := fmt.Sprintf("connector #%d", i)
			if c != nil {
				label += fmt.Sprintf(" %q", c.Name)
			}
			return p, fmt.Errorf("%s: %w", label, err)
		}
		if j, dup := seen[c.Name]; dup {
			return p, fmt.Errorf("declares connector %q twice (#%d and #%d): connector names must be unique", c.Name, j, i)
		}
		seen[c.Name] = int(i)
		p.Connectors = append(p.Connectors, c)
	}
	return p, nil
}

func readConnector(p *Plugin, cp uintptr) (*Connector, error) {
	if cp == 0 {
		return nil, errors.New("the pointer in connectors[] is NULL")
	}
	size := uintptr(native.ReadU32(cp))
	if size < connectorSize {
		return nil, fmt.Errorf("struct_size is %d, smaller than the %d bytes of an ABI %s tremor_connector_type: set struct_size = sizeof(tremor_connector_type) and %s", size, connectorSize, hostABIString, rebuildAdvice)
	}
	t := native.ReadPrefix[abi.ConnectorType](cp, size)
	c := &Connector{Plugin: p, Kinds: t.Kinds, Payload: t.Payload}
	var err error
	if c.Name, err = name("name", t.Name); err != nil {
		return nil, err
	}
	if c.Description, err = text("description", t.Description); err != nil {
		return c, err
	}
	if t.Kinds == 0 {
		return c, errors.New("kinds is 0: set TREMOR_KIND_SOURCE, TREMOR_KIND_SINK or both")
	}
	if t.Kinds&^uint32(abi.KindKnown) != 0 {
		return c, fmt.Errorf("kinds 0x%x has bits ABI %s does not define (TREMOR_KIND_SOURCE 0x1, TREMOR_KIND_SINK 0x2)", t.Kinds, hostABIString)
	}
	if t.Payload != abi.PayloadBytes && t.Payload != abi.PayloadStructured {
		return c, fmt.Errorf("payload is %d: use TREMOR_PAYLOAD_BYTES (0) or TREMOR_PAYLOAD_STRUCTURED (1)", t.Payload)
	}
	if t.VTable == 0 {
		return c, errors.New("vtable is NULL: every connector type needs a tremor_connector_vtable")
	}
	vsize := uintptr(native.ReadU32(t.VTable))
	if vsize < vtableSize {
		return c, fmt.Errorf("vtable struct_size is %d, smaller than the %d bytes of an ABI %s tremor_connector_vtable: set struct_size = sizeof(tremor_connector_vtable) and %s", vsize, vtableSize, hostABIString, rebuildAdvice)
	}
	c.vt = native.ReadPrefix[abi.ConnectorVTable](t.VTable, vsize)
	missing := []string{}
	if c.vt.OnCreate == 0 {
		missing = append(missing, "on_create")
	}
	if c.vt.OnDestroy == 0 {
		missing = append(missing, "on_destroy")
	}
	if c.IsSource() && c.vt.OnPull == 0 {
		missing = append(missing, "on_pull (required for sources)")
	}
	if c.IsSink() && c.vt.OnSend == 0 {
		missing = append(missing, "on_send (required for sinks)")
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("vtable lacks required hooks: %s: implement them (or drop the kind that needs them)", strings.Join(missing, ", "))
	}
	if t.FieldsLen > maxFields {
		return c, fmt.Errorf("declares %d config fields, more than the %d this host accepts: is fields_len right?", t.FieldsLen, maxFields)
	}
	if t.FieldsLen > 0 && t.Fields == 0 {
		return c, fmt.Errorf("fields_len is %d but fields is NULL", t.FieldsLen)
	}
	seen := map[string]bool{}
	for i := uint32(0); i < t.FieldsLen; i++ {
		raw := native.ReadPrefix[abi.ConfigField](t.Fields+uintptr(i)*configFieldSize, configFieldSize)
		f, err := readField(raw)
		if err != nil {
			label := fmt.Sprintf("config field #%d", i)
			if f.Name != "" {
				label += fmt.Sprintf(" %q", f.Name)
			}
			return c, fmt.Errorf("%s: %w", label, err)
		}
		if seen[f.Name] {
			return c, fmt.Errorf("declares config field %q twice: field names must be unique", f.Name)
		}
		seen[f.Name] = true
		c.Fields = append(c.Fields, f)
	}
	return c, nil
}

func readField(raw abi.ConfigField) (Field, error) {
	var f Field
	var err error
	if f.Name, err = name("name", raw.Name); err != nil {
		return f, err
	}
	if raw.Type < abi.ValueBool || raw.Type > abi.ValueObject {
		return f, fmt.Errorf("type %d is not a valid field type: use one of TREMOR_VALUE_BOOL (1) .. TREMOR_VALUE_OBJECT (8)", raw.Type)
	}
	f.Type = raw.Type
	if raw.Flags&^uint32(abi.FieldKnownFlags) != 0 {
		return f, fmt.Errorf("flags 0x%x has bits ABI %s does not define (TREMOR_FIELD_REQUIRED 0x1, TREMOR_FIELD_SECRET 0x2)", raw.Flags, hostABIString)
	}
	f.Required = raw.Flags&abi.FieldRequired != 0
	f.Secret = raw.Flags&abi.FieldSecret != 0
	if f.Doc, err = text("doc", raw.Doc); err != nil {
		return f, err
	}
	if raw.DefaultJSON != 0 {
		s, ok := native.CString(raw.DefaultJSON, maxDefaultJSON)
		if !ok {
			return f, fmt.Errorf("default_json is longer than %d bytes or not NUL-terminated", maxDefaultJSON)
		}
		if _, err := parseDefault(s, f.Type); err != nil {
			return f, fmt.Errorf("default_json %s: %w", strconvQuote(s, 80), err)
		}
		f.DefaultJSON = s
	}
	return f, nil
}

// name reads a required, non-empty, printable UTF-8 name.
func name(what string, p uintptr) (string, error) {
	if p == 0 {
		return "", fmt.Errorf("%s is NULL: it must be a non-empty UTF-8 string", what)
	}
	s, ok := native.CString(p, maxNameLen)
	if !ok {
		return "", fmt.Errorf("%s is longer than %d bytes or not NUL-terminated", what, maxNameLen)
	}
	if s == "" {
		return "", fmt.Errorf("%s is empty: it must be a non-empty UTF-8 string", what)
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%s %s is not valid UTF-8: names must be UTF-8 text", what, strconvQuote(s, 80))
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }); i >= 0 {
		return "", fmt.Errorf("%s %s contains whitespace or a control character: use a plain name", what, strconvQuote(s, 80))
	}
	return s, nil
}

// text reads an optional UTF-8 text (NULL: empty).
func text(what string, p uintptr) (string, error) {
	s, ok := native.CString(p, maxTextLen)
	if !ok {
		return "", fmt.Errorf("%s is longer than %d bytes or not NUL-terminated", what, maxTextLen)
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%s %s is not valid UTF-8", what, strconvQuote(s, 80))
	}
	return s, nil
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
