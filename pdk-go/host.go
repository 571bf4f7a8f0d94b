package pdk

/*
#cgo CFLAGS: -I${SRCDIR}/../include -fvisibility=hidden
#include <stdlib.h>
#include "tremor/plugin.h"

// Defined in shim.c: calls api->log when the host table has it.
void pdk_log(const tremor_host_api *api, tremor_host_ctx *ctx, int32_t level,
             const uint8_t *msg, uint64_t len);
// Defined in shim.c: calls counter_add or gauge_set when the table has them.
int32_t pdk_metric(const tremor_host_api *api, tremor_host_ctx *ctx, int gauge,
                   const uint8_t *name, uint64_t name_len, const uint8_t *help,
                   uint64_t help_len, const tremor_metric_label *labels,
                   uint64_t labels_len, int64_t value);
*/
import "C"

import (
	"fmt"
	"runtime/debug"
	"sync"
	"unsafe"

	"tremorhost/abi"
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
				logPanic(h.Log, msg, debug.Stack())
			}
		}()
		f()
	}()
}

// logPanic logs a recovered panic: its message at error level, where the
// operator sees it, and its stack at debug level, for the plugin's author
// (a Go stack in front of an operator says nothing they can act on).
func logPanic(log func(Level, string), msg string, stack []byte) {
	log(LevelError, msg+" (its stack is logged at debug level)")
	log(LevelDebug, "the stack of the "+msg+":\n"+string(stack))
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

// Label is one label of a metric series.
type Label struct{ Name, Value string }

// MaxLabels is the most labels a metric may have.
const MaxLabels = 8

// CounterAdd adds delta to the counter name, exported by the host as
// tremor_plugin_<name>{flow, connector, labels...} (see
// tremor_host_metric_fn in plugin.h for the rules on names, help and
// labels). GaugeSet sets the gauge name to v. Both are safe from any
// goroutine while the instance lives. On a 1.0 host they do nothing and
// return an error (ErrUnsupported), and the first such call in the
// process logs one DEBUG line.
func (h Host) CounterAdd(name, help string, delta uint64, labels ...Label) error {
	return h.metric(false, name, help, int64(delta), labels)
}

// GaugeSet sets the gauge name to v; see CounterAdd.
func (h Host) GaugeSet(name, help string, v int64, labels ...Label) error {
	return h.metric(true, name, help, v, labels)
}

var saidNoMetrics sync.Once

func (h Host) metric(gauge bool, name, help string, v int64, labels []Label) error {
	if h.s == nil {
		return nil
	}
	r := h.s.metric(gauge, name, help, v, labels)
	if r == int32(C.TREMOR_ERR_UNSUPPORTED) {
		saidNoMetrics.Do(func() {
			h.Debugf("the host (ABI 1.0) takes no plugin metrics: %s and the others are not reported", name)
		})
	}
	switch r {
	case int32(C.TREMOR_OK):
		return nil
	case int32(C.TREMOR_ERR_UNSUPPORTED):
		return ErrUnsupported
	}
	return fmt.Errorf("the host refused metric %q: %s", name, abi.Result(r))
}

// cbytes is the address of s's bytes, for the host to read during a call.
func cbytes(s string) *C.uint8_t { return (*C.uint8_t)(unsafe.Pointer(unsafe.StringData(s))) }

func (s *hostState) metric(gauge bool, name, help string, v int64, labels []Label) int32 {
	if len(labels) > MaxLabels {
		return int32(C.TREMOR_ERR_INVALID)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.alive {
		return int32(C.TREMOR_OK)
	}
	if s.api == nil {
		return int32(C.TREMOR_ERR_UNSUPPORTED)
	}
	// The label array is C memory: cgo forbids passing Go memory that
	// holds Go pointers. The strings themselves are only read during the
	// call (Go memory without pointers, allowed).
	var ls *C.tremor_metric_label
	if len(labels) > 0 {
		ls = (*C.tremor_metric_label)(C.calloc(C.size_t(len(labels)), C.size_t(C.sizeof_tremor_metric_label)))
		defer C.free(unsafe.Pointer(ls))
		arr := unsafe.Slice(ls, len(labels))
		for i, l := range labels {
			arr[i].name, arr[i].name_len = cbytes(l.Name), C.uint64_t(len(l.Name))
			arr[i].value, arr[i].value_len = cbytes(l.Value), C.uint64_t(len(l.Value))
		}
	}
	g := C.int(0)
	if gauge {
		g = 1
	}
	return int32(C.pdk_metric(s.api, s.ctx, g, cbytes(name), C.uint64_t(len(name)), cbytes(help), C.uint64_t(len(help)), ls, C.uint64_t(len(labels)), C.int64_t(v)))
}

// kill marks the host context as gone; it waits for log calls in flight.
func (s *hostState) kill() {
	s.mu.Lock()
	s.alive = false
	s.mu.Unlock()
}
