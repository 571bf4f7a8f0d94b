package cmem

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// elfMachines maps GOARCH to the ELF e_machine of code this process can load.
var elfMachines = map[string]uint16{
	"386": 3, "amd64": 62, "arm": 40, "arm64": 183, "riscv64": 243,
	"ppc64le": 21, "s390x": 22, "loong64": 258,
}

// CheckELF looks at a file before dlopen does, to explain in plain words why
// a file cannot be a plugin for this process: empty, not ELF, 32/64-bit or
// endianness mismatch, not a shared library, built for another CPU, or
// truncated (headers or loadable segments beyond the end of the file).
// The error says what is wrong, not what file it is: the caller adds that.
func CheckELF(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := regularSize(f)
	if err != nil {
		return err
	}
	hdr, err := readELFHeader(f, size)
	if err != nil {
		return err
	}
	bo, err := checkIdent(hdr)
	if err != nil {
		return err
	}
	if err := checkTypeAndMachine(hdr, bo); err != nil {
		return err
	}
	if bits.UintSize != 64 {
		return nil // the detailed size checks below are for ELF64
	}
	if len(hdr) < 64 {
		return truncated(size, 64)
	}
	return checkExtents64(f, size, hdr, bo)
}

// regularSize returns the size of f, which must be a regular, non-empty file.
func regularSize(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("is not a regular file (%s)", st.Mode().Type())
	}
	if st.Size() == 0 {
		return 0, fmt.Errorf("is empty (0 bytes), not a shared library: rebuild the plugin, or remove the file from the plugin path")
	}
	return st.Size(), nil
}

// readELFHeader reads up to the 64 bytes of an ELF64 header and checks
// that they start like an ELF file and hold at least an ELF32 header.
func readELFHeader(f *os.File, size int64) ([]byte, error) {
	hdr := make([]byte, 64)
	n, err := io.ReadFull(f, hdr)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	hdr = hdr[:n]
	if n < 4 || string(hdr[:4]) != "\x7fELF" {
		return nil, fmt.Errorf("is not an ELF shared library (%s): a plugin is a .so built with -shared (if this file is in a plugin directory, remove it from there)", looksLike(hdr))
	}
	if n < 52 {
		return nil, truncated(size, 64)
	}
	return hdr, nil
}

// checkIdent checks the class (32/64-bit) and byte order against this
// process and returns the byte order to read the rest with.
func checkIdent(hdr []byte) (binary.ByteOrder, error) {
	is64 := bits.UintSize == 64
	switch hdr[4] {
	case 1:
		if is64 {
			return nil, fmt.Errorf("is a 32-bit ELF file and this host is 64-bit: rebuild the plugin for %s/%s", runtime.GOOS, runtime.GOARCH)
		}
	case 2:
		if !is64 {
			return nil, fmt.Errorf("is a 64-bit ELF file and this host is 32-bit: rebuild the plugin for %s/%s", runtime.GOOS, runtime.GOARCH)
		}
	default:
		return nil, fmt.Errorf("is a damaged ELF file (unknown class %d): rebuild or reinstall it", hdr[4])
	}
	if hdr[5] != 1 { // this host is little-endian on every platform it builds for but s390x
		if runtime.GOARCH != "s390x" || hdr[5] != 2 {
			return nil, fmt.Errorf("has the wrong byte order (ELF data %d) for %s: rebuild the plugin for this machine", hdr[5], runtime.GOARCH)
		}
	}
	if hdr[5] == 2 {
		return binary.BigEndian, nil
	}
	return binary.LittleEndian, nil
}

// checkTypeAndMachine checks that the file is a shared library built for
// this CPU.
func checkTypeAndMachine(hdr []byte, bo binary.ByteOrder) error {
	etype := bo.Uint16(hdr[16:])
	machine := bo.Uint16(hdr[18:])
	if etype != 3 { // ET_DYN
		what := map[uint16]string{1: "a relocatable object (.o)", 2: "an executable", 4: "a core dump"}[etype]
		if what == "" {
			what = "ELF type " + strconv.Itoa(int(etype))
		}
		return fmt.Errorf("is %s, not a shared library: build the plugin with -shared (CMake: add_library(... MODULE), Go: -buildmode=c-shared, Rust: crate-type cdylib)", what)
	}
	if want, ok := elfMachines[runtime.GOARCH]; ok && machine != want {
		return fmt.Errorf("is built for another CPU (ELF machine %d, this host is %s, machine %d): rebuild the plugin for %s", machine, runtime.GOARCH, want, runtime.GOARCH)
	}
	return nil
}

// checkExtents64 checks that an ELF64 file's program and section header
// tables, and its loadable segments, lie inside the file.
func checkExtents64(f *os.File, size int64, hdr []byte, bo binary.ByteOrder) error {
	phoff, shoff := bo.Uint64(hdr[32:]), bo.Uint64(hdr[40:])
	phentsize, phnum := uint64(bo.Uint16(hdr[54:])), uint64(bo.Uint16(hdr[56:]))
	shentsize, shnum := uint64(bo.Uint16(hdr[58:])), uint64(bo.Uint16(hdr[60:]))
	need := uint64(64)
	if end := phoff + phentsize*phnum; phnum > 0 && end > need {
		need = end
	}
	if end := shoff + shentsize*shnum; shoff > 0 && end > need {
		need = end
	}
	if need > uint64(size) {
		return truncated(size, need)
	}
	// Loadable segments must lie inside the file too.
	if phnum == 0 || phentsize < 56 {
		return nil
	}
	ph := make([]byte, phentsize*phnum)
	if _, err := f.ReadAt(ph, int64(phoff)); err != nil {
		return truncated(size, need)
	}
	for i := uint64(0); i < phnum; i++ {
		p := ph[i*phentsize:]
		if bo.Uint32(p) != 1 { // PT_LOAD
			continue
		}
		off, filesz := bo.Uint64(p[8:]), bo.Uint64(p[32:])
		if end := off + filesz; end > need {
			need = end
		}
	}
	if need > uint64(size) {
		return truncated(size, need)
	}
	return nil
}

func truncated(size int64, need uint64) error {
	return fmt.Errorf("is truncated: it has %d bytes but its ELF headers describe at least %d: the file was cut short while copying or building; rebuild or reinstall it", size, need)
}

func looksLike(b []byte) string {
	// What the file seems to be, from its first bytes, without quoting
	// them: a secret file in the wrong place must not reach a log.
	for _, m := range []struct{ magic, what string }{
		{"!<arch>\n", "it looks like a static library (.a): link it into a .so with -shared"},
		{"#!", "it looks like a script"},
		{"MZ", "it looks like a Windows executable"},
		{"\xcf\xfa\xed\xfe", "it looks like a macOS (Mach-O) file"},
		{"\x1f\x8b", "it looks like a gzip archive"},
		{"PK\x03\x04", "it looks like a zip archive"},
	} {
		if strings.HasPrefix(string(b), m.magic) {
			return m.what
		}
	}
	text := len(b) > 0
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c == 0x7f {
			text = false
		}
	}
	if text {
		return "it looks like text"
	}
	return "no ELF header"
}
