package pdk

/*
#cgo CFLAGS: -I${SRCDIR}/../include -fvisibility=hidden
#include "tremor/plugin.h"

// Defined in shim.c: calls api->log when the host table has it.
void pdk_log(const tremor_host_api *api, tremor_host_ctx *ctx, int32_t level,
             const uint8_t *msg, uint64_t len);
*/
import "C"

import (
	"fmt"
	"runtime/debug"
	"sync"
	"unsafe"
)

// Level is a log level (TREMOR_LOG_*).
type Level int32

const (
	LevelError Level = 1
	LevelWarn  Level = 2
	LevelInfo  Level = 3
	LevelDebug Level = 4
	LevelTrace Level = 5
)

// Host is what the host offers one connector instance: its alias and its
// log. It may be used from any goroutine from New until the instance is
// destroyed; after that Log does nothing (the host's ctx is gone). The
// zero Host discards everything.
type Host struct {
	s *hostState
}

type hostState struct {
	mu    sync.RWMutex
	alive bool
	api   *C.tremor_host_api
	ctx   *C.tremor_host_ctx
	alias string
	// logf replaces the C log for hosts made by NewHost.
	logf func(Level, string)
	// inst is set once the instance exists, so that Host.Go can poison it.
	inst *instance
}

// NewHost makes a Host that sends log lines to logf (which may be nil), for
// testing connector code outside a host.
func NewHost(alias string, logf func(Level, string)) Host {
	return Host{s: &hostState{alive: true, alias: alias, logf: logf}}
}

// Alias returns the instance's name in the flow.
func (h Host) Alias() string {
	if h.s == nil {
		return ""
	}
	return h.s.alias
}

// Log writes one line into the host's log. Every call crosses into the
// host: do not log per event.
func (h Host) Log(level Level, msg string) {
	if h.s != nil {
		h.s.log(level, msg)
	}
}

func (h Host) Errorf(format string, args ...any) { h.Log(LevelError, fmt.Sprintf(format, args...)) }
func (h Host) Warnf(format string, args ...any)  { h.Log(LevelWarn, fmt.Sprintf(format, args...)) }
func (h Host) Infof(format string, args ...any)  { h.Log(LevelInfo, fmt.Sprintf(format, args...)) }
func (h Host) Debugf(format string, args ...any) { h.Log(LevelDebug, fmt.Sprintf(format, args...)) }
func (h Host) Tracef(format string, args ...any) { h.Log(LevelTrace, fmt.Sprintf(format, args...)) }

// Go runs f in a new goroutine behind a panic barrier: a panic is logged
// and poisons the instance (every later hook returns TREMOR_ERR_PANIC)
// instead of ending the host process, which is what a panic in a plain
// goroutine does.
func (h Host) Go(f func()) {
	go func() {
		defer func() {
			if r := recover(); r != nil {
				msg := fmt.Sprintf("panic in a connector goroutine: %v", r)
				if h.s != nil {
					h.s.mu.RLock()
					inst := h.s.inst
					h.s.mu.RUnlock()
					if inst != nil {
						inst.poisonWith(msg)
					}
				}
				h.Log(LevelError, msg+"\n"+string(debug.Stack()))
			}
		}()
		f()
	}()
}

func (s *hostState) log(level Level, msg string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.alive {
		return
	}
	if s.logf != nil {
		s.logf(level, msg)
		return
	}
	if s.api == nil {
		return
	}
	// The host only reads msg during the call: passing Go memory (which
	// holds no Go pointers) is allowed by the cgo pointer rules.
	C.pdk_log(s.api, s.ctx, C.int32_t(level), (*C.uint8_t)(unsafe.Pointer(unsafe.StringData(msg))), C.uint64_t(len(msg)))
}

// kill marks the host context as gone; it waits for log calls in flight.
func (s *hostState) kill() {
	s.mu.Lock()
	s.alive = false
	s.mu.Unlock()
}
