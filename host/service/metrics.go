package service

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"tremorhost/abi"
	"tremorhost/host/flow"
	"tremorhost/host/runtime"
)

// collector exports every flow's connector counters and gauges at scrape
// time, from runtime.Observe: nothing is updated on the event path. Every
// connector series carries the flow and connector labels, so metrics that
// plugins report themselves can join them with the same two labels.
type collector struct {
	m       *Manager
	plugins func() []PluginInfo
}

var (
	connLabels = []string{"flow", "connector"}

	descEvents = prometheus.NewDesc("tremor_connector_events_total",
		"Events in (decoded by a source from what it pulled: a read or request may hold several; queued to a sink) and out (routed by a source, delivered by a sink).",
		[]string{"flow", "connector", "direction"}, nil)
	descErrors    = prometheus.NewDesc("tremor_connector_errors_total", "Codec and processor failures and failed plugin calls.", connLabels, nil)
	descAcks      = prometheus.NewDesc("tremor_connector_acks_total", "Source events acknowledged to the plugin (delivered, or discarded by a route).", connLabels, nil)
	descFails     = prometheus.NewDesc("tremor_connector_fails_total", "Events failed back to this source, plus events this sink failed.", connLabels, nil)
	descDiscarded = prometheus.NewDesc("tremor_connector_discarded_total", "Events dropped on purpose by a pipeline route.", connLabels, nil)
	descInflight  = prometheus.NewDesc("tremor_connector_inflight", "A source's unsettled events (in its window).", connLabels, nil)
	descPaused    = prometheus.NewDesc("tremor_connector_paused", "1 while a source is paused by back-pressure.", connLabels, nil)
	descConnected = prometheus.NewDesc("tremor_connector_connected", "1 while the connector is connected.", connLabels, nil)
	descReconn    = prometheus.NewDesc("tremor_connector_reconnects_total", "Connects after the first one.", connLabels, nil)
	descRestarts  = prometheus.NewDesc("tremor_connector_restarts_total", "Child processes of an isolated connector replaced after a crash or hang.", connLabels, nil)
	descPlugin    = prometheus.NewDesc("tremor_plugin_info", "A loaded plugin.", []string{"plugin", "version", "abi", "sdk", "sha256"}, nil)
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEvents, descErrors, descAcks, descFails, descDiscarded,
		descInflight, descPaused, descConnected, descReconn, descRestarts, descPlugin} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range redactedFlows(c.m.Flows()) {
		for _, o := range f.Connectors {
			collectConnector(ch, f.Name, o)
		}
	}
	// The plugins found, and the builds running connectors use (an old
	// build whose file was replaced runs until it is upgraded).
	seen := map[string]bool{}
	if c.plugins != nil {
		for _, p := range c.plugins() {
			seen[p.SHA256] = true
			ch <- prometheus.MustNewConstMetric(descPlugin, prometheus.GaugeValue, 1, p.Name, p.Version, p.ABI, p.SDK, p.SHA256)
		}
	}
	for _, f := range c.m.Flows() {
		for _, o := range f.Connectors {
			if b := o.Build; b.SHA256 != "" && !seen[b.SHA256] {
				seen[b.SHA256] = true
				ch <- prometheus.MustNewConstMetric(descPlugin, prometheus.GaugeValue, 1, b.Plugin, b.Version, b.ABI, b.SDK, b.SHA256)
			}
		}
	}
}

func collectConnector(ch chan<- prometheus.Metric, flowName string, o runtime.Observation) {
	l := []string{flowName, o.Connector}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(o.Events), flowName, o.Connector, "in")
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(o.Out), flowName, o.Connector, "out")
	counter(descErrors, o.Errors)
	counter(descAcks, o.Acks)
	counter(descFails, o.Fails)
	counter(descDiscarded, o.Discarded)
	counter(descReconn, o.Reconnects)
	counter(descRestarts, o.Restarts)
	gauge(descInflight, float64(o.Inflight))
	gauge(descPaused, b2f(o.Paused))
	gauge(descConnected, b2f(o.Connected))
}

// redactedFlows is flows with the secrets a flow file substituted into
// names (${VAR}) redacted, as the API's answers and the log have them; a
// flow whose names redact to those of one before it is left out, since a
// series twice would fail the whole scrape.
func redactedFlows(flows []FlowStatus) []FlowStatus {
	seen := map[string]bool{}
	out := make([]FlowStatus, 0, len(flows))
	for _, f := range flows {
		f.Name = flow.Redact(f.Name)
		if seen[f.Name] {
			continue
		}
		seen[f.Name] = true
		conns := make([]runtime.Observation, len(f.Connectors))
		for i, o := range f.Connectors {
			o.Connector = flow.Redact(o.Connector)
			conns[i] = o
		}
		f.Connectors = conns
		out = append(out, f)
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// pluginCollector exports the metrics plugins report themselves (ABI 1.1)
// as tremor_plugin_<name>{flow, connector, the plugin's labels}. Their
// names are known only at scrape time, so it describes nothing (an
// unchecked collector); it keeps what it sends consistent instead: a name
// goes out with the kind, help and labels it is first met with in a
// scrape, and other series of that name are left out of that scrape.
type pluginCollector struct{ m *Manager }

// pluginPrefix is put before a plugin's metric names, so that they never
// meet the host's own.
const pluginPrefix = "tremor_plugin_"

// Describe implements prometheus.Collector.
func (c *pluginCollector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *pluginCollector) Collect(ch chan<- prometheus.Metric) {
	type shape struct {
		kind   int
		help   string
		labels string
		desc   *prometheus.Desc
	}
	seen := map[string]*shape{pluginPrefix + "info": nil} // the host's tremor_plugin_info
	sent := map[string]bool{}                             // a series twice would fail the whole scrape
	for _, f := range redactedFlows(c.m.Flows()) {
		for _, o := range f.Connectors {
			for _, s := range o.Plugin {
				name := pluginPrefix + s.Name
				labels := strings.Join(s.LabelNames, ",")
				sh, ok := seen[name]
				if !ok {
					sh = &shape{kind: s.Kind, help: s.Help, labels: labels,
						desc: prometheus.NewDesc(name, helpOr(s.Help), append([]string{"flow", "connector"}, s.LabelNames...), nil)}
					seen[name] = sh
				}
				if sh == nil || sh.kind != s.Kind || sh.help != s.Help || sh.labels != labels {
					continue
				}
				values := make([]string, len(s.LabelValues))
				for i, v := range s.LabelValues {
					values[i] = flow.Redact(v)
				}
				key := strings.Join(append([]string{name, f.Name, o.Connector}, values...), "\x00")
				if sent[key] {
					continue
				}
				sent[key] = true
				vt, v := prometheus.GaugeValue, float64(s.Value)
				if s.Kind == abi.MetricCounter {
					vt, v = prometheus.CounterValue, float64(uint64(s.Value))
				}
				m, err := prometheus.NewConstMetric(sh.desc, vt, v, append([]string{f.Name, o.Connector}, values...)...)
				if err == nil {
					ch <- m
				}
			}
		}
	}
}

func helpOr(h string) string {
	if h == "" {
		return "Reported by the connector's plugin."
	}
	return h
}
