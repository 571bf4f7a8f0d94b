package edge

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"tremorhost/abi"
)

// A plugin's own metrics (tremor_host_api.counter_add and gauge_set, ABI
// 1.1) are kept per instance, here, and read by whoever exports them (the
// service's Prometheus registry) at scrape time: nothing is pushed.

// MaxMetricLabels is the most labels a plugin's metric may have.
const MaxMetricLabels = 8

// maxMetricText bounds a name, label or help text (bytes).
const maxMetricText = 256

// MetricSeries is one series of a plugin's metric, as last reported.
type MetricSeries struct {
	Name        string   `json:"name"` // as the plugin named it, without the tremor_plugin_ prefix
	Help        string   `json:"help"`
	Kind        int      `json:"kind"` // abi.MetricCounter or abi.MetricGauge
	LabelNames  []string `json:"label_names,omitempty"`
	LabelValues []string `json:"label_values,omitempty"`
	Value       int64    `json:"value"` // a counter's is read as unsigned
}

// Metrics holds the metrics one instance reported. Safe for concurrent use:
// a plugin may report from threads of its own.
type Metrics struct {
	log zerolog.Logger

	mu     sync.Mutex
	fams   map[string]*family
	order  []string
	warned map[string]bool
}

type family struct {
	kind   int
	help   string
	labels []string
	series map[string]*MetricSeries
	order  []string
}

// NewMetrics returns an empty set whose refusals are logged (once per
// name) to log, the instance's logger.
func NewMetrics(log zerolog.Logger) *Metrics {
	return &Metrics{log: log, fams: map[string]*family{}, warned: map[string]bool{}}
}

// Label is one label pair as a plugin passed it.
type Label struct{ Name, Value string }

// Report records one call of counter_add (kind abi.MetricCounter: v is
// added, as unsigned) or gauge_set (abi.MetricGauge: v is the value). It
// returns abi.ResultErrInvalid, and warns once per name, when the call
// breaks a rule of tremor_host_metric_fn.
func (m *Metrics) Report(kind int, name, help string, labels []Label, v int64) abi.Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.family(kind, name, help, labels)
	if err != nil {
		if !m.warned[name] {
			m.warned[name] = true
			m.log.Warn().Str("metric", cleanLine([]byte(name))).Msg("the plugin reported a metric the host refuses (this and later calls for it are dropped): " + err.Error())
		}
		return abi.ResultErrInvalid
	}
	var values []string
	for _, l := range labels {
		values = append(values, strings.ToValidUTF8(l.Value, "\uFFFD"))
	}
	key := strings.Join(values, "\x00")
	s := f.series[key]
	if s == nil {
		s = &MetricSeries{Name: name, Help: f.help, Kind: kind, LabelNames: f.labels, LabelValues: values}
		f.series[key] = s
		f.order = append(f.order, key)
	}
	if kind == abi.MetricCounter {
		s.Value = int64(uint64(s.Value) + uint64(v))
	} else {
		s.Value = v
	}
	return abi.ResultOK
}

// family returns name's family, made on first use, checking the call
// against what the name was first reported with.
func (m *Metrics) family(kind int, name, help string, labels []Label) (*family, error) {
	if kind != abi.MetricCounter && kind != abi.MetricGauge {
		return nil, fmt.Errorf("unknown metric kind %d", kind)
	}
	if !validMetricName(name) {
		return nil, fmt.Errorf("the name must match [a-zA-Z_][a-zA-Z0-9_]* (at most %d bytes)", maxMetricText)
	}
	if len(labels) > MaxMetricLabels {
		return nil, fmt.Errorf("%d labels, at most %d are allowed", len(labels), MaxMetricLabels)
	}
	var names []string
	for i, l := range labels {
		if !validMetricName(l.Name) || strings.HasPrefix(l.Name, "__") {
			return nil, fmt.Errorf("label %d: the name must match [a-zA-Z_][a-zA-Z0-9_]*", i)
		}
		if l.Name == "flow" || l.Name == "connector" {
			return nil, fmt.Errorf("label %q is the host's: it adds flow and connector itself", l.Name)
		}
		if len(l.Value) > maxMetricText {
			return nil, fmt.Errorf("label %q: the value is longer than %d bytes", l.Name, maxMetricText)
		}
		if slices.Contains(names, l.Name) {
			return nil, fmt.Errorf("label %q appears twice", l.Name)
		}
		names = append(names, l.Name)
	}
	if f := m.fams[name]; f != nil {
		switch {
		case f.kind != kind:
			return nil, fmt.Errorf("reported as a %s, first reported as a %s", kindName(kind), kindName(f.kind))
		case !slices.Equal(f.labels, names):
			return nil, fmt.Errorf("labels %v, first reported with %v", names, f.labels)
		}
		return f, nil // help text: the first one stands
	}
	if len(help) > maxMetricText {
		help = help[:maxMetricText]
	}
	f := &family{kind: kind, help: cleanLine([]byte(help)), labels: names, series: map[string]*MetricSeries{}}
	m.fams[name] = f
	m.order = append(m.order, name)
	return f, nil
}

// Snapshot returns every series, by name in the order first reported.
func (m *Metrics) Snapshot() []MetricSeries {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []MetricSeries
	for _, name := range m.order {
		f := m.fams[name]
		for _, k := range f.order {
			out = append(out, *f.series[k])
		}
	}
	return out
}

func kindName(kind int) string {
	if kind == abi.MetricCounter {
		return "counter"
	}
	return "gauge"
}

func validMetricName(s string) bool {
	if s == "" || len(s) > maxMetricText {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// metricsTransport is a transport that keeps its plugin's metrics.
type metricsTransport interface{ Metrics() *Metrics }

// PluginMetrics returns the metrics the instance's plugin reported; nil
// when its transport keeps none.
func (i *Instance) PluginMetrics() []MetricSeries {
	if t, ok := i.t.(metricsTransport); ok {
		return t.Metrics().Snapshot()
	}
	return nil
}
