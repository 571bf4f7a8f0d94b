// Package crumb keeps the host's breadcrumbs for in-process plugins: a
// table in shared memory (a memfd) with one slot per connector instance
// that says which plugin file, connector type and alias it is and which
// hook, if any, is running. The host writes it (one store before and one
// after each hook call); a watcher process that maps the same memfd reads
// it after the host died, and the host's own exit() guard reads it while
// dying, to name the plugin, connector and hook that took the host down.
package crumb

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"tremorhost/host/internal/cmem"
)

// Slot layout (little-endian, as the host writes it: reader and writer are
// the same binary on the same machine).
const (
	magic     = 0x42435254 // "TRCB"
	offClean  = 8          // uint32 in the header: 1 once the process chose to exit
	hdrSize   = 64
	slotSize  = 512
	NumSlots  = 1024 // instances beyond this run without a breadcrumb
	offState  = 0    // uint32: 0 free, 1 claimed
	offHook   = 4    // uint32: 0 no hook running, else hook number + 1
	offInst   = 8    // uint64: the native transport's address (as Go tracebacks print it)
	offLo     = 16   // uint64: lowest address the plugin file is mapped at
	offHi     = 24   // uint64: end of its highest mapping
	offLens   = 32   // 3 x uint16: lengths of file, type, alias
	offFile   = 40
	fileCap   = 256
	offType   = offFile + fileCap
	typeCap   = 64
	offAlias  = offType + typeCap
	aliasCap  = slotSize - offAlias
	TableSize = hdrSize + NumSlots*slotSize
)

// Table is the writer's side: the shared mapping of this process.
type Table struct{ a *cmem.Arena }

// New maps a zeroed table backed by a close-on-exec memfd.
func New() (*Table, error) {
	a, err := cmem.MapShared(TableSize, "tremor-breadcrumbs")
	if err != nil {
		return nil, fmt.Errorf("breadcrumb table: %w", err)
	}
	binary.LittleEndian.PutUint32(a.Mem()[0:], magic)
	binary.LittleEndian.PutUint32(a.Mem()[4:], NumSlots)
	return &Table{a: a}, nil
}

// FD is the memfd behind the table, for a watcher to map.
func (t *Table) FD() int { return t.a.FD() }

// MarkClean records that the process is about to exit of its own accord,
// so that a watcher that sees it gone without a crash report stays quiet.
func (t *Table) MarkClean() {
	if t != nil {
		atomic.StoreUint32(cmem.U32At(t.a.Mem(), offClean), 1)
	}
}

// Clean reports whether a table mapping was marked by MarkClean.
func Clean(mem []byte) bool {
	return len(mem) >= hdrSize && atomic.LoadUint32(cmem.U32At(mem, offClean)) != 0
}

// Slot is one instance's breadcrumb. A nil *Slot is valid and records
// nothing (the table was full or could not be made).
type Slot struct {
	hook  *uint32
	state *uint32
}

// Claim takes a free slot and writes who the instance is; nil when every
// slot is taken.
func (t *Table) Claim(file, typ, alias string, inst uintptr, lo, hi uint64) *Slot {
	if t == nil {
		return nil
	}
	mem := t.a.Mem()
	for k := 0; k < NumSlots; k++ {
		s := mem[hdrSize+k*slotSize : hdrSize+(k+1)*slotSize]
		state := cmem.U32At(s, offState)
		if !atomic.CompareAndSwapUint32(state, 0, 1) {
			continue
		}
		binary.LittleEndian.PutUint64(s[offInst:], uint64(inst))
		binary.LittleEndian.PutUint64(s[offLo:], lo)
		binary.LittleEndian.PutUint64(s[offHi:], hi)
		put := func(off, cap, lenAt int, v string) {
			n := copy(s[off:off+cap], v)
			binary.LittleEndian.PutUint16(s[offLens+2*lenAt:], uint16(n))
		}
		put(offFile, fileCap, 0, file)
		put(offType, typeCap, 1, typ)
		put(offAlias, aliasCap, 2, alias)
		return &Slot{hook: cmem.U32At(s, offHook), state: state}
	}
	return nil
}

// Enter records that hook h (a host/plugin Hook number) is running.
//
// Enter and Leave are plain stores, not atomic ones (about 0.5 ns a pair
// instead of 5): the hook word is read by the thread that wrote it (the
// exit() guard) or by another process after this one died, neither of
// which needs ordering; the plugin call between them is opaque to the
// compiler, so neither store is dropped.
func (s *Slot) Enter(h uint32) {
	if s != nil {
		*s.hook = h + 1
	}
}

// Leave records that no hook is running.
func (s *Slot) Leave() {
	if s != nil {
		*s.hook = 0
	}
}

// Release frees the slot for another instance.
func (s *Slot) Release() {
	if s != nil {
		atomic.StoreUint32(s.hook, 0)
		atomic.StoreUint32(s.state, 0)
	}
}

// Entry is one claimed slot as a reader sees it.
type Entry struct {
	File, Type, Alias string
	Hook              uint32 // hook number
	Running           bool   // Hook is running
	Inst              uint64
	Lo, Hi            uint64
}

// Read returns the claimed slots of a table mapping (the host's, or a
// watcher's copy); nil when mem is not a table.
func Read(mem []byte) []Entry {
	if len(mem) < TableSize || binary.LittleEndian.Uint32(mem) != magic {
		return nil
	}
	var out []Entry
	for k := 0; k < NumSlots; k++ {
		s := mem[hdrSize+k*slotSize : hdrSize+(k+1)*slotSize]
		if atomic.LoadUint32(cmem.U32At(s, offState)) == 0 {
			continue
		}
		h := atomic.LoadUint32(cmem.U32At(s, offHook))
		get := func(off, cap, lenAt int) string {
			n := min(int(binary.LittleEndian.Uint16(s[offLens+2*lenAt:])), cap)
			return strings.ToValidUTF8(string(s[off:off+n]), "\uFFFD")
		}
		e := Entry{
			File: get(offFile, fileCap, 0), Type: get(offType, typeCap, 1), Alias: get(offAlias, aliasCap, 2),
			Running: h != 0, Inst: binary.LittleEndian.Uint64(s[offInst:]),
			Lo: binary.LittleEndian.Uint64(s[offLo:]), Hi: binary.LittleEndian.Uint64(s[offHi:]),
		}
		if h != 0 {
			e.Hook = h - 1
		}
		out = append(out, e)
	}
	return out
}

// Mapped returns the address range [lo, hi) at which the file at path is
// mapped into this process (from /proc/self/maps, matched by device and
// inode so that a renamed or replaced file is still found); 0, 0 when it
// is not mapped or the platform does not say.
func Mapped(path string) (lo, hi uint64) {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0, 0
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	dev := fmt.Sprintf("%02x:%02x", unix.Major(st.Dev), unix.Minor(st.Dev))
	ino := strconv.FormatUint(st.Ino, 10)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 7f12a000-7f12b000 r-xp 00001000 fd:01 123456 /path/lib.so
		fs := bytes.Fields(sc.Bytes())
		if len(fs) < 6 || string(fs[4]) != ino || !strings.EqualFold(string(fs[3]), dev) {
			continue
		}
		a, b, ok := bytes.Cut(fs[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(a), 16, 64)
		end, err2 := strconv.ParseUint(string(b), 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if lo == 0 || start < lo {
			lo = start
		}
		hi = max(hi, end)
	}
	return lo, hi
}

// Mem is the table's memory (for reading it in this process).
func (t *Table) Mem() []byte { return t.a.Mem() }
