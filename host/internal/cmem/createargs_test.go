package cmem

import (
	"bytes"
	"testing"

	"tremorhost/abi"
)

// The args on_create reads point at copies of the config and the alias
// inside the one mapping, and the config's range covers exactly those.
func TestCreateArgsWrite(t *testing.T) {
	tests := []struct {
		name  string
		alias string
		nodes []abi.Value
		bytes []byte
	}{
		{"empty config", "a", nil, nil},
		{"nodes and bytes", "in-1", make([]abi.Value, 3), []byte("hello")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := LayCreateArgs(tt.alias, tt.nodes, tt.bytes)
			m, err := Map(args.Size())
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			args.Write(m, 0x1000, 0x2000)
			got := *At[abi.CreateArgs](m, 0)
			if got.StructSize != uint32(abi.SizeofCreateArgs) || got.Host != 0x1000 || got.Ctx != 0x2000 {
				t.Fatalf("args = %+v", got)
			}
			if got.Config.Nodes%64 != 0 {
				t.Errorf("value nodes at %#x, want a 64-byte boundary", got.Config.Nodes)
			}
			if a := string(Bytes(got.Alias, int(got.AliasLen))); a != tt.alias {
				t.Errorf("alias = %q, want %q", a, tt.alias)
			}
			if b := Bytes(got.Config.Bytes, int(got.Config.BytesLen)); !bytes.Equal(b, tt.bytes) {
				t.Errorf("config bytes = %q, want %q", b, tt.bytes)
			}
			if int(got.Config.NodesLen) != len(tt.nodes) {
				t.Errorf("nodes_len = %d, want %d", got.Config.NodesLen, len(tt.nodes))
			}
			if end := got.Alias + uintptr(got.AliasLen); m.Mem()[end-m.Addr()] != 0 {
				t.Errorf("alias not NUL-terminated")
			}
			off, n := args.Config()
			if m.Addr()+off != got.Config.Nodes || off+n != uintptr(args.Size())-1 {
				t.Errorf("Config() = %d, %d; nodes at %d, size %d", off, n, got.Config.Nodes-m.Addr(), args.Size())
			}
		})
	}
}
