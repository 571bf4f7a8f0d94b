package conformance

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"
	"unsafe"

	"github.com/ebitengine/purego"

	"tremorhost/abi"
)

// The checker's own unsafe edge. It drives a plugin's hooks itself rather
// than through host/plugin's Instance, because it must hand the plugin
// rooms and buffers of chosen sizes (an error buffer of cap 0, a byte arena
// of 1 byte), see exactly what the plugin wrote (before the host would fix
// it up) and put canaries after every buffer to catch writes past a cap.

const (
	canarySize = 256
	canaryByte = 0xCB
)

// mapping is memory mapped off the Go heap, so that its address can be
// handed to C.
type mapping struct{ mem []byte }

func mmap(size int) (*mapping, error) {
	if size <= 0 {
		size = 1
	}
	page := syscall.Getpagesize()
	size = (size + page - 1) / page * page
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", size, err)
	}
	return &mapping{mem: mem}, nil
}

func mustMap(size int) *mapping {
	m, err := mmap(size)
	if err != nil {
		panic(err)
	}
	return m
}

func (m *mapping) addr() uintptr { return uintptr(unsafe.Pointer(&m.mem[0])) }

func (m *mapping) free() {
	if m != nil && m.mem != nil {
		_ = syscall.Munmap(m.mem)
		m.mem = nil
	}
}

func at[T any](m *mapping, off uintptr) *T { return (*T)(unsafe.Pointer(&m.mem[off])) }

func sliceAt[T any](m *mapping, off uintptr, n int) []T {
	return unsafe.Slice((*T)(unsafe.Pointer(&m.mem[off])), n)
}

// setCanary fills m[off, off+canarySize) with the canary pattern.
func setCanary(m *mapping, off uintptr) {
	c := m.mem[off : off+canarySize]
	for i := range c {
		c[i] = canaryByte
	}
}

// canaryOK reports whether the canary at off is intact, and where it was
// first overwritten.
func canaryOK(m *mapping, off uintptr) (bool, int) {
	for i, b := range m.mem[off : off+canarySize] {
		if b != canaryByte {
			return false, i
		}
	}
	return true, 0
}

// ptr turns an address of C memory into a pointer.
func ptr(p uintptr) unsafe.Pointer { return unsafe.Add(nil, p) }

// cString reads a NUL-terminated string at p of at most max bytes.
func cString(p uintptr, max int) (string, bool) {
	if p == 0 {
		return "", true
	}
	for n := 0; n <= max; n++ {
		if *(*byte)(ptr(p + uintptr(n))) == 0 {
			return string(unsafe.Slice((*byte)(ptr(p)), n)), true
		}
	}
	return "", false
}

// readPrefix copies min(size, sizeof(T)) bytes at p into a zeroed T.
//
//go:noinline
func readPrefix[T any](p uintptr, size uintptr) T {
	var out T
	n := unsafe.Sizeof(out)
	if size < n {
		n = size
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&out)), n), unsafe.Slice((*byte)(ptr(p)), n))
	return out
}

// rawBytes copies n bytes of C memory at p.
func rawBytes(p uintptr, n int) []byte {
	if n <= 0 || p == 0 {
		return nil
	}
	return bytes.Clone(unsafe.Slice((*byte)(ptr(p)), n))
}

// call calls a C function pointer and returns its int32 result.
func call(fn uintptr, args ...uintptr) abi.Result {
	r1, _, _ := purego.SyscallN(fn, args...)
	return abi.Result(int32(r1))
}

// ---- the host API: one table, one log callback, ctx handles ---------------

// ctxState is what the checker knows about one ctx it handed out.
type ctxState struct {
	alive     bool
	deadLogs  int    // log calls after on_destroy returned
	badLevels int    // log calls with a level that is not TREMOR_LOG_*
	badUTF8   int    // log calls whose message is not UTF-8
	sample    string // one such message, for the report
	lines     []string
}

var hostAPI struct {
	once sync.Once
	m    *mapping
	addr uintptr

	mu   sync.Mutex
	next uintptr
	ctxs map[uintptr]*ctxState
}

func hostAPIAddr() uintptr {
	hostAPI.once.Do(func() {
		hostAPI.m = mustMap(int(unsafe.Sizeof(abi.HostAPI{})))
		t := at[abi.HostAPI](hostAPI.m, 0)
		t.StructSize = uint32(unsafe.Sizeof(abi.HostAPI{}))
		t.ABIMajor, t.ABIMinor = abi.ABIMajor, abi.ABIMinor
		t.Log = purego.NewCallback(hostLog) // once per process: callbacks are never freed
		hostAPI.addr = hostAPI.m.addr()
		hostAPI.ctxs = map[uintptr]*ctxState{}
	})
	return hostAPI.addr
}

// newCtx hands out a fresh ctx handle (never a pointer, so a stale one is
// recognised instead of touching freed memory).
func newCtx() uintptr {
	hostAPIAddr()
	hostAPI.mu.Lock()
	defer hostAPI.mu.Unlock()
	hostAPI.next++
	h := hostAPI.next
	hostAPI.ctxs[h] = &ctxState{alive: true}
	return h
}

// killCtx marks ctx dead (on_destroy returned, or on_create failed).
func killCtx(h uintptr) {
	hostAPI.mu.Lock()
	defer hostAPI.mu.Unlock()
	if s := hostAPI.ctxs[h]; s != nil {
		s.alive = false
		s.lines = nil
	}
}

// ctxSnapshot returns a copy of the state of ctx h.
func ctxSnapshot(h uintptr) ctxState {
	hostAPI.mu.Lock()
	defer hostAPI.mu.Unlock()
	if s := hostAPI.ctxs[h]; s != nil {
		c := *s
		c.lines = append([]string(nil), s.lines...)
		return c
	}
	return ctxState{}
}

// forgetCtx drops the record of a dead ctx that was already checked.
func forgetCtx(h uintptr) {
	hostAPI.mu.Lock()
	defer hostAPI.mu.Unlock()
	delete(hostAPI.ctxs, h)
}

const maxLogLine = 64 << 10

// hostLog is tremor_host_api.log; it may run on any thread.
func hostLog(ctx uintptr, level uintptr, msg uintptr, n uintptr) {
	if n > maxLogLine {
		n = maxLogLine
	}
	text := rawBytes(msg, int(n))
	hostAPI.mu.Lock()
	defer hostAPI.mu.Unlock()
	s := hostAPI.ctxs[ctx]
	if s == nil {
		// a ctx the checker never handed out: count it against ctx 0
		s = &ctxState{}
		hostAPI.ctxs[ctx] = s
	}
	lv := int32(uint32(level))
	if !s.alive {
		s.deadLogs++
		if s.sample == "" {
			s.sample = strings.ToValidUTF8(string(text), "\uFFFD")
		}
		return
	}
	if lv < abi.LogError || lv > abi.LogTrace {
		s.badLevels++
	}
	if !utf8.Valid(text) {
		s.badUTF8++
	}
	if len(s.lines) < 64 {
		s.lines = append(s.lines, strings.ToValidUTF8(strings.TrimRight(string(text), "\r\n"), "\uFFFD"))
	}
}
