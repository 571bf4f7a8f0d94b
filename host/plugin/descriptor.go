package plugin

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/internal/cmem"
)

// A plugin file's descriptor is read in two steps: first copied, as it is,
// into a Description (by dlopen in this process, see readDescription, or by
// `tremor-runner --describe` in a child process, which prints the same
// thing as JSON: see runner/PROTOCOL.md), then checked by checkDescription.
// Both ways share the second step, so a plugin is refused with the same
// message whichever way it was read.
//
// The reader copies only what the checker may look at: it stops where the
// checker refuses on structure alone (a struct_size too small, an ABI it
// does not speak, a NULL or too long array), so that a broken descriptor is
// not read further than needed. Keys it did not reach are left out of the
// JSON (zero here).

// Description is what a plugin file says about itself before any check:
// how loading it went and, when it has one, its raw descriptor.
type Description struct {
	// RunnerABI is the ABI version the tremor-runner that described the
	// file was built for ("" when read in this process).
	RunnerABI string `json:"runner_abi,omitempty"`
	// DlopenError is dlerror()'s text when the library could not be loaded.
	DlopenError *string `json:"dlopen_error,omitempty"`
	// NoEntry: the library does not export tremor_plugin_get_descriptor.
	NoEntry bool `json:"no_entry,omitempty"`
	// NullDescriptor: tremor_plugin_get_descriptor() returned NULL.
	NullDescriptor bool `json:"null_descriptor,omitempty"`
	// Descriptor is the descriptor as read, when there is one.
	Descriptor *RawDescriptor `json:"descriptor,omitempty"`
}

// RawDescriptor is a tremor_plugin_descriptor as read from memory.
type RawDescriptor struct {
	StructSize     uint32         `json:"struct_size"`
	ABIMajor       uint16         `json:"abi_major"`
	ABIMinor       uint16         `json:"abi_minor"`
	Name           RawString      `json:"name"`
	Version        RawString      `json:"version"`
	Description    RawString      `json:"description"`
	License        RawString      `json:"license"`
	SDK            RawString      `json:"sdk"`
	ConnectorsLen  uint64         `json:"connectors_len"`
	ConnectorsNull bool           `json:"connectors_null"`
	Connectors     []RawConnector `json:"connectors"`
}

// RawConnector is a tremor_connector_type (and what its pointers lead to)
// as read from memory.
type RawConnector struct {
	Null        bool       `json:"null,omitempty"` // the pointer in connectors[] is NULL
	StructSize  uint32     `json:"struct_size"`
	Kinds       uint32     `json:"kinds"`
	Name        RawString  `json:"name"`
	Description RawString  `json:"description"`
	Payload     uint32     `json:"payload"`
	Framing     *RawString `json:"framing,omitempty"` // since 1.1; nil when struct_size does not cover it
	VTableNull  bool       `json:"vtable_null"`
	VTableSize  uint32     `json:"vtable_size"`
	Hooks       edge.Hooks `json:"hooks"` // the non-NULL hooks of the vtable
	FieldsLen   uint32     `json:"fields_len"`
	FieldsNull  bool       `json:"fields_null"`
	Fields      []RawField `json:"fields"`

	vt abi.ConnectorVTable // the vtable itself, when read in this process
}

// RawField is a tremor_config_field as read from memory.
type RawField struct {
	Name        RawString `json:"name"`
	Type        uint32    `json:"type"`
	Flags       uint32    `json:"flags"`
	DefaultJSON RawString `json:"default_json"`
	Doc         RawString `json:"doc"`

	raw abi.ConfigField // the field itself, when read in this process
}

// RawString is a NUL-terminated C string as read: NULL, or its bytes
// (any bytes, not necessarily UTF-8) and whether a NUL came within the
// reader's limit. In JSON it is null, a string (when the bytes are valid
// UTF-8 and terminated), or {"hex": "...", "unterminated": bool}.
type RawString struct {
	Null         bool
	S            string
	Unterminated bool
}

// MarshalJSON implements json.Marshaler.
func (s RawString) MarshalJSON() ([]byte, error) {
	if s.Null {
		return []byte("null"), nil
	}
	if utf8.ValidString(s.S) && !s.Unterminated {
		return json.Marshal(s.S)
	}
	return json.Marshal(struct {
		Hex          string `json:"hex"`
		Unterminated bool   `json:"unterminated"`
	}{hex.EncodeToString([]byte(s.S)), s.Unterminated})
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *RawString) UnmarshalJSON(b []byte) error {
	*s = RawString{}
	switch {
	case string(b) == "null":
		s.Null = true
		return nil
	case len(b) > 0 && b[0] == '"':
		return json.Unmarshal(b, &s.S)
	}
	var o struct {
		Hex          string `json:"hex"`
		Unterminated bool   `json:"unterminated"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	raw, err := hex.DecodeString(o.Hex)
	if err != nil {
		return fmt.Errorf("raw string: %w", err)
	}
	s.S, s.Unterminated = string(raw), o.Unterminated
	return nil
}

func hooksOf(vt *abi.ConnectorVTable) edge.Hooks {
	var hs edge.Hooks
	for h, p := range []uintptr{vt.OnCreate, vt.OnDestroy, vt.OnConnect, vt.OnStart, vt.OnPause, vt.OnResume, vt.OnDrain, vt.OnStop, vt.OnPull, vt.OnAck, vt.OnFail, vt.OnSend} {
		if p != 0 {
			hs |= 1 << h
		}
	}
	return hs
}

// Reading limits, shared with tremor-runner (runner/limits.h, through abi).
const (
	// MaxNameLen is the longest name (plugin, version, connector, field)
	// read, in bytes.
	MaxNameLen = maxNameLen
	// MaxTextLen is the longest description, license, SDK or doc read.
	MaxTextLen = maxTextLen
)

// readDescription calls the entry point of the library at handle h and
// copies what it returns.
func readDescription(h uintptr) *Description {
	entry := cmem.Sym(h, abi.EntrySymbol)
	if entry == 0 {
		return &Description{NoEntry: true}
	}
	d := cmem.Call0(entry)
	if d == 0 {
		return &Description{NullDescriptor: true}
	}
	return &Description{Descriptor: readRawDescriptor(d)}
}

func rawString(p uintptr, max int) RawString {
	if p == 0 {
		return RawString{Null: true}
	}
	s, ok := cmem.CString(p, max)
	return RawString{S: s, Unterminated: !ok}
}

// readRawDescriptor copies the descriptor at d, stopping where
// checkDescriptor refuses on structure alone.
func readRawDescriptor(d uintptr) *RawDescriptor {
	r := &RawDescriptor{StructSize: cmem.ReadU32(d)}
	if uintptr(r.StructSize) < descriptorPrefix {
		return r
	}
	r.ABIMajor, r.ABIMinor = cmem.ReadU16(d+4), cmem.ReadU16(d+6)
	// Another major may lay out everything after the version differently;
	// a newer minor of this major only appends, so what this host knows
	// of it can be read (and shown) even though the plugin is refused.
	if r.ABIMajor != abi.ABIMajor || uintptr(r.StructSize) < descriptorSize {
		return r
	}
	desc := cmem.ReadPrefix[abi.PluginDescriptor](d, uintptr(r.StructSize))
	r.Name = rawString(desc.Name, maxNameLen)
	r.Version = rawString(desc.Version, maxNameLen)
	r.Description = rawString(desc.Description, maxTextLen)
	r.License = rawString(desc.License, maxTextLen)
	r.SDK = rawString(desc.SDK, maxTextLen)
	r.ConnectorsLen, r.ConnectorsNull = desc.ConnectorsLen, desc.Connectors == 0
	if r.ConnectorsLen == 0 || r.ConnectorsNull || r.ConnectorsLen > maxConnectors {
		return r
	}
	for i := uint64(0); i < r.ConnectorsLen; i++ {
		cp := cmem.ReadUintptr(desc.Connectors + uintptr(i)*abi.SizeofPointer)
		c, ok := readRawConnector(cp)
		r.Connectors = append(r.Connectors, c)
		if !ok {
			break
		}
	}
	return r
}

// readRawConnector copies one connector type; ok is false when the checker
// refuses it on structure (and nothing after it is read).
func readRawConnector(cp uintptr) (c RawConnector, ok bool) {
	if cp == 0 {
		return RawConnector{Null: true}, false
	}
	c.StructSize = cmem.ReadU32(cp)
	if uintptr(c.StructSize) < connectorSize {
		return c, false
	}
	t := cmem.ReadPrefix[abi.ConnectorType](cp, uintptr(c.StructSize))
	c.Kinds, c.Payload = t.Kinds, t.Payload
	c.Name = rawString(t.Name, maxNameLen)
	c.Description = rawString(t.Description, maxTextLen)
	if uintptr(c.StructSize) >= abi.SizeofConnectorType {
		f := rawString(t.Framing, maxNameLen)
		c.Framing = &f
	}
	c.VTableNull = t.VTable == 0
	if c.VTableNull {
		return c, false
	}
	c.VTableSize = cmem.ReadU32(t.VTable)
	if uintptr(c.VTableSize) < vtableSize {
		return c, false
	}
	vt := cmem.ReadPrefix[abi.ConnectorVTable](t.VTable, uintptr(c.VTableSize))
	c.Hooks, c.vt = hooksOf(&vt), vt
	c.FieldsLen, c.FieldsNull = t.FieldsLen, t.Fields == 0
	if c.FieldsLen > maxFields || c.FieldsLen > 0 && c.FieldsNull {
		return c, false
	}
	for i := uint32(0); i < c.FieldsLen; i++ {
		raw := cmem.ReadPrefix[abi.ConfigField](t.Fields+uintptr(i)*configFieldSize, configFieldSize)
		c.Fields = append(c.Fields, RawField{
			Name:        rawString(raw.Name, maxNameLen),
			Type:        raw.Type,
			Flags:       raw.Flags,
			DefaultJSON: rawString(raw.DefaultJSON, maxDefaultJSON),
			Doc:         rawString(raw.Doc, maxTextLen),
			raw:         raw,
		})
	}
	return c, true
}

// precheck looks at a file before anything loads it: it exists, only its
// owner can change it (checkPermissions), and it is a shared library for
// this machine.
func precheck(path string) error {
	fail := func(format string, args ...any) error {
		return &LoadError{Path: path, Err: fmt.Errorf(format, args...)}
	}
	if st, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fail("no such file")
		}
		return &LoadError{Path: path, Err: err}
	} else if st.IsDir() {
		return fail("is a directory, not a plugin file")
	} else if err := checkPermissions(path, st); err != nil {
		return &LoadError{Path: path, Err: err}
	}
	if err := cmem.CheckELF(path); err != nil {
		return &LoadError{Path: path, Err: err}
	}
	return nil
}

// absPath resolves path to an absolute path without symlinks, after
// checking the way to it as named (checkRoute): the checks of the resolved
// path alone cannot see a symlink in a directory others can write.
func absPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", &LoadError{Path: path, Err: err}
	}
	if err := checkRoute(abs); err != nil {
		return "", &LoadError{Path: abs, Err: err}
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	return abs, nil
}

// Inspect checks a plugin file exactly as Load does, except that the
// descriptor is read by describe (host/isolate runs tremor-runner
// --describe in a child process, so that a plugin that crashes or hangs
// while being read cannot take this process down) instead of by loading
// the library here. describe gets the absolute path and the file, opened
// and hashed (the child loads it through that open file, so what is
// described is what was hashed), and returns the Description or why it
// could not get one (reported as the file's *LoadError).
//
// The *Plugin returned is described, not loaded (Loaded reports false):
// its connectors' instances run in another process (host/isolate), or in
// this one after the file is loaded with Load.
func Inspect(path string, describe func(abs string, f *os.File) (*Description, error)) (*Plugin, error) {
	abs, err := absPath(path)
	if err != nil {
		return nil, err
	}
	if err := precheck(abs); err != nil {
		return nil, err
	}
	f, digest, err := OpenVerified(abs)
	if err != nil {
		return nil, &LoadError{Path: abs, Err: err}
	}
	defer f.Close()
	d, err := describe(abs, f)
	if err != nil {
		var le *LoadError
		if errors.As(err, &le) {
			return nil, err
		}
		return nil, &LoadError{Path: abs, Err: err}
	}
	if d.RunnerABI != "" && d.RunnerABI != abi.ABIVersionString {
		return nil, &LoadError{Path: abs, Err: fmt.Errorf("was described by a tremor-runner built for ABI %s, this host speaks %s: rebuild tremor-runner with this host", d.RunnerABI, abi.ABIVersionString)}
	}
	p, err := checkDescription(abs, d)
	if err != nil {
		return nil, err
	}
	p.SHA256 = digest
	return p, nil
}

// OpenVerified opens a plugin file for another process to load and
// returns it with the SHA-256 of its content (hex). Pass the open file to
// the child (and let it load /proc/self/fd/N) so that what it loads is
// what was hashed, even if the file is replaced in between.
func OpenVerified(path string) (*os.File, string, error) {
	f, _, digest, err := openVerified(path)
	return f, digest, err
}

// checkDescription turns a Description into a checked *Plugin, or the
// *LoadError that says why the file is refused.
func checkDescription(path string, d *Description) (*Plugin, error) {
	fail := func(format string, args ...any) error {
		return &LoadError{Path: path, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case d.DlopenError != nil:
		return nil, fail("cannot be loaded: %v: check that the libraries it needs are installed (ldd %s)", strings.TrimSpace(*d.DlopenError), path)
	case d.NoEntry:
		return nil, fail("does not export %s(), so it is not a tremor plugin: define it with TREMOR_PLUGIN_EXPORT (check with: nm -D %s)", abi.EntrySymbol, path)
	case d.NullDescriptor:
		return nil, fail("%s() returned NULL: it must return a pointer to a static tremor_plugin_descriptor", abi.EntrySymbol)
	case d.Descriptor == nil:
		return nil, fail("no descriptor was read (a broken description)")
	}
	p, err := checkDescriptor(path, d.Descriptor)
	if err != nil {
		le := &LoadError{Path: path, Err: err}
		if d.Descriptor.StructSize >= descriptorPrefix {
			le.ABI = fmt.Sprintf("%d.%d", d.Descriptor.ABIMajor, d.Descriptor.ABIMinor)
		}
		if p != nil {
			le.Plugin, le.Version = p.Name, p.Version
		}
		return nil, le
	}
	return p, nil
}

// newerMinor is what can be shown of a refused plugin of a newer minor:
// its name and version, where they are valid (a newer minor only appends,
// so they are where this host expects them); nil when the name is not.
func newerMinor(path string, r *RawDescriptor) *Plugin {
	p := &Plugin{Path: path, ABIMajor: r.ABIMajor, ABIMinor: r.ABIMinor}
	var err error
	if p.Name, err = name("plugin name (descriptor.name)", r.Name); err != nil {
		return nil
	}
	if p.Version, err = name("plugin version (descriptor.version)", r.Version); err != nil {
		p.Version = ""
	}
	return p
}

// checkDescriptor checks a raw descriptor. On error it may still return the
// partly checked plugin (for its name).
func checkDescriptor(path string, r *RawDescriptor) (*Plugin, error) {
	size := uintptr(r.StructSize)
	if size < descriptorPrefix {
		return nil, fmt.Errorf("descriptor struct_size is %d, too small to hold even the ABI version: set struct_size = sizeof(tremor_plugin_descriptor) and %s", size, rebuildAdvice)
	}
	major, minor := r.ABIMajor, r.ABIMinor
	if major != abi.ABIMajor {
		return nil, fmt.Errorf("built for ABI %d.%d, this host speaks %s: %s", major, minor, hostABIString, rebuildAdvice)
	}
	if minor > abi.ABIMinor {
		return newerMinor(path, r), fmt.Errorf("built for ABI %d.%d, newer than this host's %s: %s, or use a newer host", major, minor, hostABIString, rebuildAdvice)
	}
	if size < descriptorSize {
		return nil, fmt.Errorf("descriptor struct_size is %d, smaller than the %d bytes of an ABI %s tremor_plugin_descriptor: set struct_size = sizeof(tremor_plugin_descriptor) and %s", size, descriptorSize, hostABIString, rebuildAdvice)
	}
	p := &Plugin{Path: path, ABIMajor: major, ABIMinor: minor}
	var err error
	if p.Name, err = name("plugin name (descriptor.name)", r.Name); err != nil {
		return nil, err
	}
	if p.Version, err = name("plugin version (descriptor.version)", r.Version); err != nil {
		return p, err
	}
	if p.Description, err = text("descriptor.description", r.Description); err != nil {
		return p, err
	}
	if p.License, err = text("descriptor.license", r.License); err != nil {
		return p, err
	}
	if p.SDK, err = text("descriptor.sdk", r.SDK); err != nil {
		return p, err
	}
	if r.ConnectorsLen == 0 || r.ConnectorsNull {
		return p, fmt.Errorf("declares no connectors (connectors_len %d): a plugin provides at least one connector type", r.ConnectorsLen)
	}
	if r.ConnectorsLen > maxConnectors {
		return p, fmt.Errorf("declares %d connectors, more than the %d this host accepts: is connectors_len right?", r.ConnectorsLen, maxConnectors)
	}
	seen := map[string]int{}
	for i := uint64(0); i < r.ConnectorsLen; i++ {
		if i >= uint64(len(r.Connectors)) {
			return p, fmt.Errorf("connector #%d: missing from the description (the reader stopped early)", i)
		}
		c, err := checkConnector(p, &r.Connectors[i])
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

func checkConnector(p *Plugin, t *RawConnector) (*Connector, error) {
	if t.Null {
		return nil, errors.New("the pointer in connectors[] is NULL")
	}
	size := uintptr(t.StructSize)
	if size < connectorSize {
		return nil, fmt.Errorf("struct_size is %d, smaller than the %d bytes of an ABI %s tremor_connector_type: set struct_size = sizeof(tremor_connector_type) and %s", size, connectorSize, hostABIString, rebuildAdvice)
	}
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
	if t.Framing != nil && !t.Framing.Null {
		if c.Framing, err = name("framing", *t.Framing); err != nil {
			return c, err
		}
		if t.Payload != abi.PayloadBytes {
			return c, fmt.Errorf("framing is %q but the payload is structured: only TREMOR_PAYLOAD_BYTES connectors have a framing; set it to NULL", c.Framing)
		}
	}
	if err := checkVTable(c, t); err != nil {
		return c, err
	}
	if err := checkFields(c, t); err != nil {
		return c, err
	}
	return c, nil
}

// checkVTable checks the vtable's size and that it has the hooks c's kinds
// need, and gives them to c.
func checkVTable(c *Connector, t *RawConnector) error {
	if t.VTableNull {
		return errors.New("vtable is NULL: every connector type needs a tremor_connector_vtable")
	}
	if uintptr(t.VTableSize) < vtableSize {
		return fmt.Errorf("vtable struct_size is %d, smaller than the %d bytes of an ABI %s tremor_connector_vtable: set struct_size = sizeof(tremor_connector_vtable) and %s", t.VTableSize, vtableSize, hostABIString, rebuildAdvice)
	}
	c.hooks, c.vt = t.Hooks, t.vt
	missing := []string{}
	if !c.hooks.Has(edge.HookCreate) {
		missing = append(missing, "on_create")
	}
	if !c.hooks.Has(edge.HookDestroy) {
		missing = append(missing, "on_destroy")
	}
	if c.IsSource() && !c.hooks.Has(edge.HookPull) {
		missing = append(missing, "on_pull (required for sources)")
	}
	if c.IsSink() && !c.hooks.Has(edge.HookSend) {
		missing = append(missing, "on_send (required for sinks)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("vtable lacks required hooks: %s: implement them (or drop the kind that needs them)", strings.Join(missing, ", "))
	}
	return nil
}

// checkFields checks the config fields t declares (at most maxFields, each
// valid, no name twice) and gives them to c.
func checkFields(c *Connector, t *RawConnector) error {
	if t.FieldsLen > maxFields {
		return fmt.Errorf("declares %d config fields, more than the %d this host accepts: is fields_len right?", t.FieldsLen, maxFields)
	}
	if t.FieldsLen > 0 && t.FieldsNull {
		return fmt.Errorf("fields_len is %d but fields is NULL", t.FieldsLen)
	}
	if uint32(len(t.Fields)) < t.FieldsLen {
		return fmt.Errorf("fields_len is %d but only %d fields were read (a broken description)", t.FieldsLen, len(t.Fields))
	}
	seen := map[string]bool{}
	for i := uint32(0); i < t.FieldsLen; i++ {
		f, err := checkField(&t.Fields[i])
		if err != nil {
			label := fmt.Sprintf("config field #%d", i)
			if f.Name != "" {
				label += fmt.Sprintf(" %q", f.Name)
			}
			return fmt.Errorf("%s: %w", label, err)
		}
		if seen[f.Name] {
			return fmt.Errorf("declares config field %q twice: field names must be unique", f.Name)
		}
		seen[f.Name] = true
		c.Fields = append(c.Fields, f)
	}
	return nil
}

func checkField(raw *RawField) (Field, error) {
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
	if !raw.DefaultJSON.Null {
		s := raw.DefaultJSON.S
		if raw.DefaultJSON.Unterminated || len(s) > maxDefaultJSON {
			return f, fmt.Errorf("default_json is longer than %d bytes or not NUL-terminated", maxDefaultJSON)
		}
		if _, err := parseDefault(s, f.Type); err != nil {
			return f, fmt.Errorf("default_json %s: %w", strconvQuote(s, 80), err)
		}
		f.DefaultJSON = s
	}
	return f, nil
}

// name checks a required, non-empty, printable UTF-8 name.
func name(what string, r RawString) (string, error) {
	if r.Null {
		return "", fmt.Errorf("%s is NULL: it must be a non-empty UTF-8 string", what)
	}
	s := r.S
	if r.Unterminated || len(s) > maxNameLen {
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

// text checks an optional UTF-8 text (NULL: empty).
func text(what string, r RawString) (string, error) {
	s := r.S
	if r.Unterminated || len(s) > maxTextLen {
		return "", fmt.Errorf("%s is longer than %d bytes or not NUL-terminated", what, maxTextLen)
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%s %s is not valid UTF-8", what, strconvQuote(s, 80))
	}
	return s, nil
}
