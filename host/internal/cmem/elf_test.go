package cmem

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// elf64 returns a little-endian ELF64 shared-library header for this
// machine with one PT_LOAD program header at offset 64, whose segment
// covers the file's first segEnd bytes.
func elf64(segEnd uint64) []byte {
	h := make([]byte, 64+56)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1
	binary.LittleEndian.PutUint16(h[16:], 3)
	binary.LittleEndian.PutUint16(h[18:], elfMachines[runtime.GOARCH])
	binary.LittleEndian.PutUint64(h[32:], 64) // phoff
	binary.LittleEndian.PutUint16(h[54:], 56) // phentsize
	binary.LittleEndian.PutUint16(h[56:], 1)  // phnum
	binary.LittleEndian.PutUint32(h[64:], 1)  // PT_LOAD
	binary.LittleEndian.PutUint64(h[64+32:], segEnd)
	return h
}

func TestCheckELF(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Fatalf("the host loads plugins on 64-bit little-endian Linux (amd64, arm64) only; this is %s", runtime.GOARCH)
	}
	with := func(b []byte, edit func([]byte)) []byte {
		b = append([]byte(nil), b...)
		edit(b)
		return b
	}
	good := elf64(64 + 56)
	cases := []struct {
		name string
		data []byte
		want string // "" for no error
	}{
		{"shared library", good, ""},
		{"empty", nil, "is empty (0 bytes)"},
		{"not ELF", []byte("MZ\x90\x00"), `is not an ELF shared library (it looks like a Windows executable)`},
		{"a static library", []byte("!<arch>\nfoo.o/"), `(it looks like a static library (.a): link it into a .so with -shared)`},
		{"a secret in text", []byte("hunter2-SuperSecretToken\n"), `is not an ELF shared library (it looks like text)`},
		{"binary data", []byte{0, 1, 2, 3, 4}, `is not an ELF shared library (no ELF header)`},
		{"short header", good[:40], "is truncated: it has 40 bytes but its ELF headers describe at least 64"},
		{"32-bit", with(good, func(b []byte) { b[4] = 1 }), "is a 32-bit ELF file and this host is 64-bit"},
		{"unknown class", with(good, func(b []byte) { b[4] = 7 }), "unknown class 7"},
		{"big-endian", with(good, func(b []byte) { b[5] = 2 }), "has the wrong byte order (ELF data 2)"},
		{"executable", with(good, func(b []byte) { b[16] = 2 }), "is an executable, not a shared library"},
		{"other type", with(good, func(b []byte) { b[16] = 9 }), "is ELF type 9, not a shared library"},
		{"other CPU", with(good, func(b []byte) { binary.LittleEndian.PutUint16(b[18:], 1) }), "is built for another CPU (ELF machine 1"},
		{"ELF32-sized header", good[:60], "is truncated: it has 60 bytes but its ELF headers describe at least 64"},
		{"program headers cut", good[:100], "is truncated: it has 100 bytes but its ELF headers describe at least 120"},
		{"segment past the end", elf64(4096), "is truncated: it has 120 bytes but its ELF headers describe at least 4096"},
	}
	dir := t.TempDir()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "lib"+string(rune('a'+i))+".so")
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			err := CheckELF(p)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckELF: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("CheckELF = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if err := CheckELF(dir); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Fatalf("CheckELF(dir) = %v, want a not-a-regular-file error", err)
	}
}
