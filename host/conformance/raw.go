package conformance

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"

	"tremorhost/abi"
	"tremorhost/host/plugin"
)

// rawPlugin is the plugin's descriptor as the checker reads it itself
// (after host/plugin.Load checked it, so every pointer in it is sound).
type rawPlugin struct {
	entry      uintptr
	desc       uintptr
	connectors map[string]*rawConnector
}

type rawConnector struct {
	typ    uintptr
	vt     abi.ConnectorVTable
	fields []abi.ConfigField
}

func openRaw(p *plugin.Plugin) (*rawPlugin, error) {
	h, err := purego.Dlopen(p.Path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("dlopen: %w", err)
	}
	entry, err := purego.Dlsym(h, abi.EntrySymbol)
	if err != nil || entry == 0 {
		return nil, errors.New("entry symbol not found on the second look")
	}
	r1, _, _ := purego.SyscallN(entry)
	if r1 == 0 {
		return nil, errors.New("tremor_plugin_get_descriptor returned NULL on a later call")
	}
	rp := &rawPlugin{entry: entry, desc: r1, connectors: map[string]*rawConnector{}}
	d := readPrefix[abi.PluginDescriptor](r1, uintptr(*(*uint32)(ptr(r1))))
	for i := uint64(0); i < d.ConnectorsLen; i++ {
		cp := *(*uintptr)(ptr(d.Connectors + uintptr(i)*unsafe.Sizeof(uintptr(0))))
		t := readPrefix[abi.ConnectorType](cp, uintptr(*(*uint32)(ptr(cp))))
		name, _ := cString(t.Name, 256)
		rc := &rawConnector{typ: cp}
		rc.vt = readPrefix[abi.ConnectorVTable](t.VTable, uintptr(*(*uint32)(ptr(t.VTable))))
		for j := uint32(0); j < t.FieldsLen; j++ {
			rc.fields = append(rc.fields, readPrefix[abi.ConfigField](t.Fields+uintptr(j)*unsafe.Sizeof(abi.ConfigField{}), unsafe.Sizeof(abi.ConfigField{})))
		}
		rp.connectors[name] = rc
	}
	return rp, nil
}

// snapshot hashes everything the descriptor reaches: the structs, the
// arrays of pointers, the strings. Equal snapshots mean an unchanged
// descriptor.
func (rp *rawPlugin) snapshot() [32]byte {
	h := sha256.New()
	put := func(p uintptr, n uintptr) {
		if p == 0 {
			h.Write([]byte{0})
			return
		}
		h.Write(unsafe.Slice((*byte)(ptr(p)), n))
	}
	str := func(p uintptr) {
		s, _ := cString(p, 64<<10)
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	dsize := uintptr(*(*uint32)(ptr(rp.desc)))
	dsize = min(dsize, unsafe.Sizeof(abi.PluginDescriptor{}))
	put(rp.desc, dsize)
	d := readPrefix[abi.PluginDescriptor](rp.desc, dsize)
	for _, s := range []uintptr{d.Name, d.Version, d.Description, d.License, d.SDK} {
		str(s)
	}
	put(d.Connectors, uintptr(d.ConnectorsLen)*unsafe.Sizeof(uintptr(0)))
	for i := uint64(0); i < d.ConnectorsLen; i++ {
		cp := *(*uintptr)(ptr(d.Connectors + uintptr(i)*unsafe.Sizeof(uintptr(0))))
		tsize := min(uintptr(*(*uint32)(ptr(cp))), unsafe.Sizeof(abi.ConnectorType{}))
		put(cp, tsize)
		t := readPrefix[abi.ConnectorType](cp, tsize)
		str(t.Name)
		str(t.Description)
		put(t.VTable, min(uintptr(*(*uint32)(ptr(t.VTable))), unsafe.Sizeof(abi.ConnectorVTable{})))
		put(t.Fields, uintptr(t.FieldsLen)*unsafe.Sizeof(abi.ConfigField{}))
		for j := uint32(0); j < t.FieldsLen; j++ {
			f := readPrefix[abi.ConfigField](t.Fields+uintptr(j)*unsafe.Sizeof(abi.ConfigField{}), unsafe.Sizeof(abi.ConfigField{}))
			str(f.Name)
			str(f.DefaultJSON)
			str(f.Doc)
		}
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// classifyLoadError maps a loader refusal to the rule it enforces.
func classifyLoadError(err error) Rule {
	msg := err.Error()
	var le *plugin.LoadError
	if errors.As(err, &le) {
		msg = le.Err.Error()
	}
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("does not export"):
		return RuleLoadEntry
	case has("returned NULL"):
		return RuleLoadNull
	case has("built for ABI"):
		return RuleLoadABI
	case has("vtable lacks required hooks"):
		return RuleLoadHooks
	case has("vtable is NULL"):
		return RuleLoadVTable
	case has("struct_size"):
		return RuleLoadStructSize
	case has("config field", "default_json", "field type"):
		return RuleLoadFields
	case has("kinds"):
		return RuleLoadKinds
	case has("payload is"):
		return RuleLoadPayload
	case has("declares no connectors", "connectors, more than", "twice", "connectors[] is NULL", "claim"):
		return RuleLoadConnectors
	case has("UTF-8", "is empty", "is NULL", "NUL-terminated", "whitespace"):
		return RuleLoadNames
	case has("ELF", "empty file", "truncated", "not a shared", "no such file", "is a directory", "cannot be loaded", "machine", "class"):
		return RuleLoadFile
	}
	return RuleLoadOther
}

// descriptorChecks are the descriptor rules the loader does not enforce.
func descriptorChecks(p *plugin.Plugin, rp *rawPlugin, emit func(Finding)) {
	for _, c := range p.Connectors {
		rc := rp.connectors[c.Name]
		if rc == nil {
			continue
		}
		if rc.vt.Reserved0 != 0 {
			emit(Finding{Severity: SevError, Connector: c.Name, Step: "descriptor", Rule: RuleDescReserved,
				Message: fmt.Sprintf("tremor_connector_vtable.reserved0 is 0x%x, not zero", rc.vt.Reserved0)})
		}
		for i, f := range rc.fields {
			name, _ := cString(f.Name, 256)
			if f.Reserved != [2]uintptr{} {
				emit(Finding{Severity: SevError, Connector: c.Name, Step: "descriptor", Rule: RuleDescReserved,
					Message: fmt.Sprintf("config field #%d %q: reserved is not NULL", i, name)})
			}
			if f.Flags&abi.FieldRequired != 0 && f.DefaultJSON != 0 {
				def, _ := cString(f.DefaultJSON, 1024)
				emit(Finding{Severity: SevError, Connector: c.Name, Step: "descriptor", Rule: RuleDescRequiredDefault,
					Message: fmt.Sprintf("config field %q is REQUIRED but declares default_json %s: a required field has no default (drop one of them)", name, def)})
			}
		}
		if !c.IsSource() && (rc.vt.OnAck != 0 || rc.vt.OnFail != 0) {
			emit(Finding{Severity: SevWarning, Connector: c.Name, Step: "descriptor", Rule: RuleDescSourceHooks,
				Message: "a sink-only connector sets on_ack / on_fail; the host never calls them"})
		}
	}
}

// sameDescriptorPointer calls the entry point again and reports whether it
// returns the same descriptor.
func (rp *rawPlugin) sameDescriptorPointer() (uintptr, bool) {
	r1, _, _ := purego.SyscallN(rp.entry)
	return r1, r1 == rp.desc
}
