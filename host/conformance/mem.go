package conformance

import (
	"bytes"
	"strings"
	"sync"
	"unicode/utf8"

	"tremorhost/abi"
	"tremorhost/host/internal/cmem"
)

// The checker's buffers, in memory from host/internal/cmem. It drives a plugin's hooks itself rather
// than through host/plugin's Instance, because it must hand the plugin
// rooms and buffers of chosen sizes (an error buffer of cap 0, a byte arena
// of 1 byte), see exactly what the plugin wrote (before the host would fix
// it up) and put canaries after every buffer to catch writes past a cap.

const (
	canarySize = 256
	canaryByte = 0xCB
)

// mustMap maps size bytes off the Go heap; the checker cannot go on
// without its buffers.
func mustMap(size int) *cmem.Arena {
	m, err := cmem.Map(size)
	if err != nil {
		panic(err)
	}
	return m
}

// setCanary fills m[off, off+canarySize) with the canary pattern.
func setCanary(m *cmem.Arena, off uintptr) {
	c := m.Mem()[off : off+canarySize]
	for i := range c {
		c[i] = canaryByte
	}
}

// canaryOK reports whether the canary at off is intact, and where it was
// first overwritten.
func canaryOK(m *cmem.Arena, off uintptr) (bool, int) {
	for i, b := range m.Mem()[off : off+canarySize] {
		if b != canaryByte {
			return false, i
		}
	}
	return true, 0
}

// call calls a C function pointer and returns its int32 result.
func call(fn uintptr, args ...uintptr) abi.Result {
	return abi.Result(int32(cmem.Call(fn, args)))
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

var ctxs struct {
	mu sync.Mutex
	m  map[uintptr]*ctxState
}

func hostAPIAddr() uintptr {
	addr, err := cmem.HostAPI()
	if err != nil {
		panic(err)
	}
	return addr
}

// newCtx hands out a fresh ctx handle from cmem's registry (never a
// pointer, so a stale one is recognised instead of touching freed memory).
// It stays registered after killCtx, so that late log calls are counted.
func newCtx() uintptr {
	s := &ctxState{alive: true}
	h := cmem.NewCtx(func(level int32, msg []byte) { s.log(level, msg) })
	ctxs.mu.Lock()
	defer ctxs.mu.Unlock()
	if ctxs.m == nil {
		ctxs.m = map[uintptr]*ctxState{}
	}
	ctxs.m[h] = s
	return h
}

// killCtx marks ctx dead (on_destroy returned, or on_create failed).
func killCtx(h uintptr) {
	ctxs.mu.Lock()
	defer ctxs.mu.Unlock()
	if s := ctxs.m[h]; s != nil {
		s.alive = false
		s.lines = nil
	}
}

// ctxSnapshot returns a copy of the state of ctx h.
func ctxSnapshot(h uintptr) ctxState {
	ctxs.mu.Lock()
	defer ctxs.mu.Unlock()
	if s := ctxs.m[h]; s != nil {
		c := *s
		c.lines = append([]string(nil), s.lines...)
		return c
	}
	return ctxState{}
}

// forgetCtx drops the record of a dead ctx that was already checked.
func forgetCtx(h uintptr) {
	cmem.DropCtx(h)
	ctxs.mu.Lock()
	defer ctxs.mu.Unlock()
	delete(ctxs.m, h)
}

// log takes one tremor_host_api.log call; it may run on any thread.
func (s *ctxState) log(lv int32, msg []byte) {
	text := bytes.Clone(msg)
	ctxs.mu.Lock()
	defer ctxs.mu.Unlock()
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
