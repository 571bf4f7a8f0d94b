package plugin

import (
	"crypto/sha256"
	"errors"

	"tremorhost/abi"
	"tremorhost/host/internal/cmem"
)

// Image is a loaded plugin's descriptor as it sits in memory, read with the
// loader's reader: what the conformance checker looks at beyond what Load
// checks (reserved words, hook addresses, raw field flags), and whether the
// plugin changes it.
type Image struct {
	entry uintptr
	desc  uintptr
	raw   *RawDescriptor
}

// Image calls the plugin's entry point again and reads what it returns.
// The plugin must be loaded in this process (Load), so every pointer in the
// descriptor was checked.
func (p *Plugin) Image() (*Image, error) {
	if p.handle == 0 {
		return nil, errors.New("the plugin is not loaded in this process")
	}
	entry := cmem.Sym(p.handle, abi.EntrySymbol)
	if entry == 0 {
		return nil, errors.New("entry symbol not found on the second look")
	}
	d := cmem.Call0(entry)
	if d == 0 {
		return nil, errors.New("tremor_plugin_get_descriptor returned NULL on a later call")
	}
	return &Image{entry: entry, desc: d, raw: readRawDescriptor(d)}, nil
}

// Addr is the descriptor's address.
func (m *Image) Addr() uintptr { return m.desc }

// Again calls the entry point once more and returns what it answers.
func (m *Image) Again() uintptr { return cmem.Call0(m.entry) }

// Connector returns the vtable and the config fields of a connector type
// exactly as the plugin declares them; ok is false for an unknown name.
func (m *Image) Connector(name string) (vt abi.ConnectorVTable, fields []abi.ConfigField, ok bool) {
	for i := range m.raw.Connectors {
		c := &m.raw.Connectors[i]
		if c.Name.S != name {
			continue
		}
		for _, f := range c.Fields {
			fields = append(fields, f.raw)
		}
		return c.vt, fields, true
	}
	return abi.ConnectorVTable{}, nil, false
}

// Digest hashes everything the descriptor reaches: the structs, the arrays
// of pointers, the strings. Equal digests mean an unchanged descriptor.
func (m *Image) Digest() [32]byte {
	h := sha256.New()
	put := func(p uintptr, n uintptr) {
		if p == 0 {
			h.Write([]byte{0})
			return
		}
		h.Write(cmem.Bytes(p, int(n)))
	}
	str := func(p uintptr) {
		s, _ := cmem.CString(p, maxTextLen)
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	dsize := min(uintptr(cmem.ReadU32(m.desc)), descriptorSize)
	put(m.desc, dsize)
	d := cmem.ReadPrefix[abi.PluginDescriptor](m.desc, dsize)
	for _, s := range []uintptr{d.Name, d.Version, d.Description, d.License, d.SDK} {
		str(s)
	}
	put(d.Connectors, uintptr(d.ConnectorsLen)*abi.SizeofPointer)
	for i := uint64(0); i < d.ConnectorsLen; i++ {
		cp := cmem.ReadUintptr(d.Connectors + uintptr(i)*abi.SizeofPointer)
		tsize := min(uintptr(cmem.ReadU32(cp)), abi.SizeofConnectorType)
		put(cp, tsize)
		t := cmem.ReadPrefix[abi.ConnectorType](cp, tsize)
		str(t.Name)
		str(t.Description)
		str(t.Framing) // zero when tsize does not cover it
		put(t.VTable, min(uintptr(cmem.ReadU32(t.VTable)), vtableSize))
		put(t.Fields, uintptr(t.FieldsLen)*configFieldSize)
		for j := uint32(0); j < t.FieldsLen; j++ {
			f := cmem.ReadPrefix[abi.ConfigField](t.Fields+uintptr(j)*configFieldSize, configFieldSize)
			str(f.Name)
			str(f.DefaultJSON)
			str(f.Doc)
		}
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}
