package cmem

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

// protOf returns the permissions /proc/self/maps shows for the mapping
// holding addr ("rw-p", "r--p", "---p").
func protOf(t *testing.T, addr uintptr) string {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatalf("reading the mappings to check their permissions: %v (the host runs on Linux, which has /proc/self/maps)", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var lo, hi uintptr
		var perm string
		if _, err := fmt.Sscanf(sc.Text(), "%x-%x %s", &lo, &hi, &perm); err == nil && addr >= lo && addr < hi {
			return perm
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return ""
}

func TestGuards(t *testing.T) {
	page := uintptr(syscall.Getpagesize())
	a, guardOff, err := MapBeforeGuard(100)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	if guardOff != page {
		t.Errorf("guard page at offset %d, want %d (100 bytes round up to one page)", guardOff, page)
	}
	if p := protOf(t, a.Addr()); !strings.HasPrefix(p, "rw") {
		t.Errorf("usable page: %s, want rw", p)
	}
	if p := protOf(t, a.Addr()+guardOff); !strings.HasPrefix(p, "---") {
		t.Errorf("guard page: %s, want ---", p)
	}

	b, err := Map(3 * int(page))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free()
	b.Mem()[0] = 1
	if err := b.ReadOnly(); err != nil {
		t.Fatal(err)
	}
	if p := protOf(t, b.Addr()+page); !strings.HasPrefix(p, "r--") {
		t.Errorf("read-only arena: %s", p)
	}
	if b.Mem()[0] != 1 {
		t.Error("read-only arena lost its content")
	}
	if err := b.Retire(); err != nil {
		t.Fatal(err)
	}
	if p := protOf(t, b.Addr()+2*page); !strings.HasPrefix(p, "---") {
		t.Errorf("retired arena: %s, want ---", p)
	}
	if err := b.Writable(); err != nil {
		t.Fatal(err)
	}
	if b.Mem()[0] != 0 { // its pages were given back: zero again
		t.Errorf("retired arena's pages kept: byte 0 is %#x", b.Mem()[0])
	}
}
