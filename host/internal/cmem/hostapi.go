package cmem

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"tremorhost/abi"
)

// The host API table (tremor_host_api) lives off the Go heap, built once per
// process; its log function is one purego callback, also made once
// (callbacks are never freed). A ctx handed to a plugin is not a pointer but
// an integer handle into a registry, so a stale ctx is recognised instead of
// touching freed memory. The loader and the conformance checker both hand
// out ctxs from this one registry.

// MaxLogLine is the longest log line taken from a plugin, in bytes.
const MaxLogLine = 64 << 10

// LogFunc takes one line a plugin logged. msg is C memory valid only for
// the call: copy what is kept. It may run on any thread, including threads
// the plugin started itself.
type LogFunc func(level int32, msg []byte)

var hostAPI struct {
	once  sync.Once
	arena *Arena
	err   error
}

var ctxs struct {
	sync.RWMutex
	next    atomic.Uint64
	m       map[uintptr]LogFunc
	unknown atomic.Pointer[func(ctx uintptr, level int32, msg []byte)]
}

// HostAPI returns the address of the process's tremor_host_api table.
func HostAPI() (uintptr, error) {
	hostAPI.once.Do(func() {
		a, err := Map(int(abi.SizeofHostAPI))
		if err != nil {
			hostAPI.err = err
			return
		}
		t := At[abi.HostAPI](a, 0)
		t.StructSize = uint32(abi.SizeofHostAPI)
		t.ABIMajor, t.ABIMinor = abi.ABIMajor, abi.ABIMinor
		t.Log = NewCallback(hostLog)
		hostAPI.arena = a
	})
	if hostAPI.err != nil {
		return 0, hostAPI.err
	}
	return hostAPI.arena.Addr(), nil
}

// NewCtx hands out a fresh ctx whose log lines go to log.
func NewCtx(log LogFunc) uintptr {
	h := uintptr(ctxs.next.Add(1))
	ctxs.Lock()
	if ctxs.m == nil {
		ctxs.m = map[uintptr]LogFunc{}
	}
	ctxs.m[h] = log
	ctxs.Unlock()
	return h
}

// DropCtx forgets ctx h: its later log lines go to the unknown-ctx function.
func DropCtx(h uintptr) {
	ctxs.Lock()
	delete(ctxs.m, h)
	ctxs.Unlock()
}

// OnUnknownCtx sets where log lines with a ctx that is not (or no longer)
// registered go; by default they are dropped.
func OnUnknownCtx(fn func(ctx uintptr, level int32, msg []byte)) { ctxs.unknown.Store(&fn) }

// hostLog is tremor_host_api.log.
func hostLog(ctx uintptr, level uintptr, msg uintptr, n uintptr) {
	ctxs.RLock()
	fn := ctxs.m[ctx]
	ctxs.RUnlock()
	if n > MaxLogLine {
		n = MaxLogLine
	}
	var text []byte
	if msg != 0 && n > 0 {
		text = unsafe.Slice((*byte)(ptr(msg)), int(n))
	}
	lv := int32(uint32(level))
	if fn != nil {
		fn(lv, text)
		return
	}
	if u := ctxs.unknown.Load(); u != nil {
		(*u)(ctx, lv, text)
	}
}
