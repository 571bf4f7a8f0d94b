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
const MaxLogLine = abi.MaxLogLine

// LogFunc takes one line a plugin logged. msg is C memory valid only for
// the call: copy what is kept. It may run on any thread, including threads
// the plugin started itself.
type LogFunc func(level int32, msg []byte)

// MetricFunc takes one counter_add (kind abi.MetricCounter) or gauge_set
// (abi.MetricGauge) call of a plugin and returns its result code. The
// strings are copies; it may run on any thread.
type MetricFunc func(kind int, name, help string, labels [][2]string, v int64) int32

// maxMetricLabels bounds the labels read from one call (the receiver
// refuses more than its own limit: this only keeps a wild length from
// reading far).
const maxMetricLabels = abi.MaxMetricLabelsRead

// maxMetricText bounds each string read from a metric call.
const maxMetricText = 4096

// ctxFuncs is what a ctx's calls go to.
type ctxFuncs struct {
	log    LogFunc
	metric MetricFunc // nil: metric calls answer TREMOR_ERR_UNSUPPORTED
}

var hostAPI struct {
	once  sync.Once
	arena *Arena
	err   error
}

var ctxs struct {
	sync.RWMutex
	next    atomic.Uint64
	m       map[uintptr]ctxFuncs
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
		t.CounterAdd = NewCallback(hostCounterAdd)
		t.GaugeSet = NewCallback(hostGaugeSet)
		hostAPI.arena = a
	})
	if hostAPI.err != nil {
		return 0, hostAPI.err
	}
	return hostAPI.arena.Addr(), nil
}

// NewCtx hands out a fresh ctx whose log lines go to log and whose metric
// calls are refused with TREMOR_ERR_UNSUPPORTED.
func NewCtx(log LogFunc) uintptr { return NewMetricsCtx(log, nil) }

// NewMetricsCtx hands out a fresh ctx whose log lines go to log and whose
// metric calls go to metric.
func NewMetricsCtx(log LogFunc, metric MetricFunc) uintptr {
	h := uintptr(ctxs.next.Add(1))
	ctxs.Lock()
	if ctxs.m == nil {
		ctxs.m = map[uintptr]ctxFuncs{}
	}
	ctxs.m[h] = ctxFuncs{log: log, metric: metric}
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
	fn := ctxs.m[ctx].log
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

// hostCounterAdd is tremor_host_api.counter_add.
func hostCounterAdd(ctx, name, nameLen, help, helpLen, labels, labelsLen, v uintptr) uintptr {
	return hostMetric(abi.MetricCounter, ctx, name, nameLen, help, helpLen, labels, labelsLen, v)
}

// hostGaugeSet is tremor_host_api.gauge_set.
func hostGaugeSet(ctx, name, nameLen, help, helpLen, labels, labelsLen, v uintptr) uintptr {
	return hostMetric(abi.MetricGauge, ctx, name, nameLen, help, helpLen, labels, labelsLen, v)
}

func hostMetric(kind int, ctx, name, nameLen, help, helpLen, labels, labelsLen, v uintptr) uintptr {
	ctxs.RLock()
	fn := ctxs.m[ctx].metric
	ctxs.RUnlock()
	if fn == nil {
		return result(abi.ResultErrUnsupported)
	}
	if labelsLen > maxMetricLabels || (labels == 0 && labelsLen > 0) {
		return result(abi.ResultErrInvalid)
	}
	var pairs [][2]string
	if labelsLen > 0 {
		for _, l := range unsafe.Slice((*abi.MetricLabel)(ptr(labels)), int(labelsLen)) {
			pairs = append(pairs, [2]string{text(l.Name, l.NameLen), text(l.Value, l.ValueLen)})
		}
	}
	return result(abi.Result(fn(kind, text(name, uint64(nameLen)), text(help, uint64(helpLen)), pairs, int64(v))))
}

// text copies n bytes at p (at most maxMetricText).
func text(p uintptr, n uint64) string {
	if p == 0 || n == 0 {
		return ""
	}
	if n > maxMetricText {
		n = maxMetricText
	}
	return string(unsafe.Slice((*byte)(ptr(p)), int(n)))
}

// result widens a result code to a callback's return register.
func result(r abi.Result) uintptr { return uintptr(uint32(int32(r))) }
