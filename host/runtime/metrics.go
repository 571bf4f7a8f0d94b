package runtime

import (
	"fmt"
	"io"
	"sort"
	"sync/atomic"
	"text/tabwriter"
)

// Counters are one connector's event counts. Each field is updated by the
// goroutine that owns the connector and read by anyone (Snapshot).
type Counters struct {
	In        atomic.Uint64 // events received: pulled by a source, or queued to a sink
	Out       atomic.Uint64 // events passed on: routed from a source, or delivered by a sink
	Errors    atomic.Uint64 // errors: codec or processor failures, failed plugin calls
	Acks      atomic.Uint64 // source events acknowledged to the plugin
	Fails     atomic.Uint64 // source events failed back to the plugin
	SinkFails atomic.Uint64 // events this sink failed (reported FAILED, or gave up on): shown in Stats.Fails too
	Discarded atomic.Uint64 // events dropped on purpose by a pipeline route

	// FailsRefused: source events to fail back whose on_fail the plugin
	// refused; not in Fails, but not delivered either (see FailedBack).
	FailsRefused atomic.Uint64

	// Events a source decoded from what it pulled: a read or request with
	// several lines is one In (and one ack or fail) but several events.
	Events atomic.Uint64

	// Gauges, for observers (see observe.go).
	Inflight   atomic.Int64  // a source's unsettled events, published once per batch
	Paused     atomic.Bool   // the source asked its plugin to pause
	Connected  atomic.Bool   // the instance is connected
	Reconnects atomic.Uint64 // connects after the first one

	restarter     atomic.Pointer[restartBox] // the instance, when it counts restarts
	metrics       atomic.Pointer[metricsBox] // the instance, when its plugin reports metrics
	restartsSeen  atomic.Uint64
	restartAsking atomic.Bool
}

// Stats is a snapshot of one connector's counters.
type Stats struct {
	Connector string `json:"connector"`
	In        uint64 `json:"in"`
	Out       uint64 `json:"out"`
	Errors    uint64 `json:"errors"`
	Acks      uint64 `json:"acks"`
	Fails     uint64 `json:"fails"` // failed back to this source, plus failed by this sink
	Discarded uint64 `json:"discarded"`
}

func (c *Counters) snapshot(name string) Stats {
	return Stats{Connector: name, In: c.In.Load(), Out: c.Out.Load(), Errors: c.Errors.Load(),
		Acks: c.Acks.Load(), Fails: c.Fails.Load() + c.SinkFails.Load(), Discarded: c.Discarded.Load()}
}

// FailedBack is how many events were failed back to their sources (a sink
// that failed them counts them in its row too; they are counted once here).
func (r *Runtime) FailedBack() uint64 {
	var n uint64
	for _, nd := range r.nodes {
		n += nd.counters.Fails.Load() + nd.counters.FailsRefused.Load()
	}
	return n
}

// WriteStats prints stats as an aligned table.
func WriteStats(w io.Writer, stats []Stats) {
	sort.Slice(stats, func(i, j int) bool { return stats[i].Connector < stats[j].Connector })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "connector\tin\tout\terrors\tacks\tfails\tdiscarded\t")
	for _, s := range stats {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", s.Connector, s.In, s.Out, s.Errors, s.Acks, s.Fails, s.Discarded)
	}
	tw.Flush()
}
