package cmem

import "tremorhost/abi"

// CreateArgs lays out what on_create reads, in one mapping: the
// tremor_create_args at 0, the config's value nodes at the next 64-byte
// boundary, its bytes, then the alias and a NUL.
type CreateArgs struct {
	alias                        string
	nodes                        []abi.Value
	bytes                        []byte
	nodesOff, bytesOff, aliasOff uintptr
}

// LayCreateArgs lays out the args for an instance named alias whose
// config document is nodes and bytes.
func LayCreateArgs(alias string, nodes []abi.Value, bytes []byte) CreateArgs {
	a := CreateArgs{alias: alias, nodes: nodes, bytes: bytes}
	a.nodesOff = (abi.SizeofCreateArgs + 63) &^ 63
	a.bytesOff = a.nodesOff + uintptr(len(nodes))*abi.SizeofValue
	a.aliasOff = a.bytesOff + uintptr(len(bytes))
	return a
}

// Size is how many bytes the mapping needs.
func (a CreateArgs) Size() int { return int(a.aliasOff) + len(a.alias) + 1 }

// Config is where the config document and the alias lie (the NUL aside).
func (a CreateArgs) Config() (off, n uintptr) {
	return a.nodesOff, a.aliasOff + uintptr(len(a.alias)) - a.nodesOff
}

// Write copies the config and the alias into m, of Size bytes or more, and
// writes at 0 the tremor_create_args that point at them.
func (a CreateArgs) Write(m *Arena, host, ctx uintptr) {
	copy(Slice[abi.Value](m, a.nodesOff, len(a.nodes)), a.nodes)
	copy(m.Mem()[a.bytesOff:], a.bytes)
	copy(m.Mem()[a.aliasOff:], a.alias)
	*At[abi.CreateArgs](m, 0) = abi.CreateArgs{
		StructSize: uint32(abi.SizeofCreateArgs),
		Host:       host,
		Ctx:        ctx,
		Alias:      m.Addr() + a.aliasOff,
		AliasLen:   uint64(len(a.alias)),
		Config: abi.ValueDoc{
			Nodes: m.Addr() + a.nodesOff, NodesLen: uint64(len(a.nodes)),
			Bytes: m.Addr() + a.bytesOff, BytesLen: uint64(len(a.bytes)),
		},
	}
}
