package pdk

import (
	"tremorhost/abi"

	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"
)

// instance is one connector instance. The host only ever sees its handle.
type instance struct {
	handle uintptr
	typ    *ConnectorType
	conn   Connector
	host   *hostState

	puller  Puller
	sender  Sender
	acker   Acker
	starter Starter
	pauser  Pauser
	drainer Drainer

	poison atomic.Pointer[string] // the panic message, once poisoned
	closed bool                   // Close was called (by on_stop)

	// Reused for every on_pull / on_send: no allocation per call.
	room  Room
	batch Batch
}

func (in *instance) poisonWith(msg string) { in.poison.CompareAndSwap(nil, &msg) }

// The handle table. Handles count up from 1 and are never reused, so a
// stale handle is never mistaken for a newer instance.
var instances struct {
	sync.RWMutex
	m    map[uintptr]*instance
	next uintptr
}

func addInstance(in *instance) uintptr {
	instances.Lock()
	defer instances.Unlock()
	if instances.m == nil {
		instances.m = make(map[uintptr]*instance)
	}
	instances.next++
	in.handle = instances.next
	instances.m[in.handle] = in
	return in.handle
}

func findInstance(h uintptr) *instance {
	instances.RLock()
	in := instances.m[h]
	instances.RUnlock()
	return in
}

func removeInstance(h uintptr) *instance {
	instances.Lock()
	defer instances.Unlock()
	in := instances.m[h]
	delete(instances.m, h)
	return in
}

// liveInstances returns how many instances exist (for tests).
func liveInstances() int {
	instances.RLock()
	defer instances.RUnlock()
	return len(instances.m)
}

// lookup finds the instance behind a handle for a hook other than
// on_destroy, or says why the hook must fail.
func lookup(h uintptr, cerr *abi.ErrorBuf) (*instance, int32) {
	in := findInstance(h)
	if in == nil {
		setError(cerr, fmt.Sprintf("pdk-go: unknown or destroyed instance handle %#x", h))
		return nil, codeInvalid
	}
	if p := in.poison.Load(); p != nil {
		setError(cerr, "pdk-go: instance unusable after a panic: "+*p)
		return nil, codePanic
	}
	if in.closed {
		setError(cerr, "pdk-go: instance already stopped")
		return nil, codeInvalid
	}
	return in, codeOK
}

// barrier is deferred by every hook: it turns a panic into
// TREMOR_ERR_PANIC, a message and an error log line, and poisons the
// instance (*pin, when the hook had found it).
func barrier(pin **instance, hook string, cerr *abi.ErrorBuf, rc *int32) {
	r := recover()
	if r == nil {
		return
	}
	msg := fmt.Sprintf("panic in %s: %v", hook, r)
	if in := *pin; in != nil {
		in.poisonWith(msg)
		logPanic(in.host.log, msg, debug.Stack())
	}
	setError(cerr, msg)
	*rc = codePanic
}

// setError copies msg into the host's error buffer, truncated to its
// capacity at a UTF-8 boundary, with invalid UTF-8 (say, bytes from a
// network peer quoted in an error) replaced: the header asks for UTF-8.
// The buffer may be absent or have cap 0.
func setError(cerr *abi.ErrorBuf, msg string) {
	if cerr == nil || cerr.Msg == 0 || cerr.Cap == 0 {
		return
	}
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	n := uint64(len(msg))
	if n > cerr.Cap {
		n = cerr.Cap
		for n > 0 && !utf8.RuneStart(msg[n]) {
			n--
		}
	}
	if n > uint64(maxInt) {
		n = uint64(maxInt)
	}
	copy(unsafe.Slice(cPtr[byte](cerr.Msg), int(n)), msg[:n])
	cerr.Len = n
}

// Which result codes a hook may answer, beyond OK and the error codes.
const (
	allowRetry = 1 << iota
	allowEnd
)

// result maps a connector's error to the hook's result code, and writes
// the message of an error into the host's buffer.
func result(err error, what string, allow int, cerr *abi.ErrorBuf) int32 {
	if err == nil {
		return codeOK
	}
	var code int32
	switch {
	case errors.Is(err, errConfig):
		code = codeConfig
	case errors.Is(err, ErrRetry):
		code = codeRetry
	case errors.Is(err, ErrEnd):
		code = codeEnd
	case errors.Is(err, ErrDisconnected):
		code = codeDisconnected
	case errors.Is(err, ErrNoRoom):
		code = codeNoRoom
	case errors.Is(err, ErrUnsupported):
		code = codeUnsupported
	default:
		code = codeFailed
	}
	if (code == codeRetry && allow&allowRetry == 0) || (code == codeEnd && allow&allowEnd == 0) {
		setError(cerr, fmt.Sprintf("pdk-go: %s returned %q, which this hook cannot answer", what, err))
		return codeFailed
	}
	if code < 0 || code == codeRetry { // a RETRY says why not yet
		setError(cerr, err.Error())
	}
	return code
}
