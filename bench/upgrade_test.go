package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	plugincat "tremorhost/host/catalog"
	"tremorhost/host/edge"
	"tremorhost/host/flow"
	"tremorhost/host/isolate"
	"tremorhost/host/plugin"
	"tremorhost/host/runtime"
	"tremorhost/tests/testenv"
)

// BenchmarkUpgradeGap measures what a live upgrade costs the event flow:
// a flow of the C bench plugins (bench_source -> bench_sink, raw, 100 B
// events) runs at full rate, and each op upgrades plugin "bench" (both
// connectors) to another build while it runs. The sink's instances mark
// the time of every send that delivered events; gap-ms is the longest time
// between two such sends around an upgrade, and base-gap-ms the longest in
// as long a stretch without one (scheduling noise on a loaded machine).
// pause-ms is what the runtime reports (source and sink pauses, summed).
//
//	go test -run '^$' -bench UpgradeGap -benchtime 5x ./bench/
func BenchmarkUpgradeGap(b *testing.B) {
	builds := []string{
		testenv.CBuild(b, "plugins/bench-c/bench.c", `TREMOR_PLUGIN_DEFINE("bench", "0.1.0"`, `TREMOR_PLUGIN_DEFINE("bench", "0.2.0"`),
		testenv.CBuild(b, "plugins/bench-c/bench.c", `TREMOR_PLUGIN_DEFINE("bench", "0.1.0"`, `TREMOR_PLUGIN_DEFINE("bench", "0.3.0"`),
	}
	for _, iso := range []string{"none", "process"} {
		b.Run("isolation="+iso, func(b *testing.B) { upgradeGap(b, iso, builds) })
	}
}

func upgradeGap(b *testing.B, iso string, builds []string) {
	dir := b.TempDir()
	file := filepath.Join(dir, "libtremor_bench.so")
	install := func(built string) {
		data, err := os.ReadFile(built)
		if err == nil {
			err = os.WriteFile(file+".new", data, 0o755)
		}
		if err == nil {
			err = os.Rename(file+".new", file)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	install(pluginFile(b, "libtremor_bench.so"))
	runner := filepath.Join(root(b), "build", "bin", "tremor-runner")
	scan := func() runtime.Catalog {
		var reg *plugin.Registry
		var err error
		if iso == "process" {
			reg, err = (&isolate.Scanner{Runner: runner}).Registry([]string{file})
		} else {
			reg, err = plugin.LoadAll([]string{file})
		}
		if err != nil {
			b.Fatal(err)
		}
		return gapCatalog{plugincat.Plugins{Registry: reg, Isolate: isolate.Options{Runner: runner}}, rec}
	}
	src := fmt.Sprintf(`[flow]
name = "gap"
[[connector]]
id = "src"
type = "bench_source"
isolation = %[1]q
codec = "binary"
preprocessors = ["lines"]
config = { count = 1000000000000, size = 100 }
[[connector]]
id = "dst"
type = "bench_sink"
isolation = %[1]q
codec = "binary"
postprocessors = ["lines"]
[[pipeline]]
id = "p"
[[link]]
from = "src"
to = "p"
[[link]]
from = "p"
to = "dst"
`, iso)
	f, err := flow.Parse("gap.toml", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	r, err := runtime.New(f, scan(), runtime.Options{Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := r.Run(ctx); done <- err }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				b.Error(err)
			}
		}
	}
	defer stop()
	const settle, window = 500 * time.Millisecond, 300 * time.Millisecond
	time.Sleep(settle) // connected, at full rate
	var gap, base, pause time.Duration
	b.ResetTimer()
	for i := range b.N {
		rec.open()
		time.Sleep(window)
		base = max(base, rec.close())

		install(builds[i%len(builds)])
		cat := scan()
		rec.open()
		plan, err := r.PlanUpgrade(runtime.UpgradeMatch{Plugin: "bench"}, cat)
		if err == nil {
			err = plan.Prepare(30 * time.Second)
		}
		if err != nil {
			b.Fatal(err)
		}
		ups := plan.Commit()
		time.Sleep(window - min(window, rec.since()))
		gap = max(gap, rec.close())
		if len(ups) != 2 {
			b.Fatalf("upgraded %d connectors, want 2: %+v", len(ups), ups)
		}
		var p time.Duration
		for _, u := range ups {
			if u.Error != "" {
				b.Fatal(u.Error)
			}
			p += u.Pause
		}
		pause = max(pause, p)
	}
	b.StopTimer()
	stop()
	stats := map[string]runtime.Stats{}
	for _, s := range r.Stats() {
		if s.Fails != 0 || s.Errors != 0 {
			b.Fatalf("%s: %+v: an upgrade failed events", s.Connector, s)
		}
		stats[s.Connector] = s
	}
	if src, dst := stats["src"], stats["dst"]; src.In != src.Acks || dst.Out != src.Out {
		b.Fatalf("source %+v, sink %+v: want every event pulled acked and every event routed delivered", src, dst)
	}
	b.ReportMetric(float64(gap.Microseconds())/1000, "gap-ms")
	b.ReportMetric(float64(base.Microseconds())/1000, "base-gap-ms")
	b.ReportMetric(float64(pause.Microseconds())/1000, "pause-ms")
}

// rec is the one gap recorder: sub-benchmarks run one at a time.
var rec = &gapRecorder{}

// gapRecorder keeps the longest time between two delivering sends while
// open. Sends come from the sink's goroutine, open and close from the
// benchmark's.
type gapRecorder struct {
	mu      sync.Mutex
	last    time.Time
	opened  time.Time
	longest time.Duration
	on      bool
}

func (g *gapRecorder) mark(now time.Time) {
	g.mu.Lock()
	if g.on && !g.last.IsZero() {
		g.longest = max(g.longest, now.Sub(g.last))
	}
	g.last = now
	g.mu.Unlock()
}

func (g *gapRecorder) open() {
	g.mu.Lock()
	g.on, g.longest, g.opened = true, 0, time.Now()
	g.mu.Unlock()
}

func (g *gapRecorder) since() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Since(g.opened)
}

// close ends the stretch; a send not yet made counts up to now.
func (g *gapRecorder) close() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.on = false
	return max(g.longest, time.Since(g.last))
}

// gapCatalog serves the plugin types with sink instances that mark every
// send that delivered events.
type gapCatalog struct {
	plugincat.Plugins
	rec *gapRecorder
}

type builtType interface {
	runtime.Type
	runtime.Built
}

func (c gapCatalog) Type(name string) (runtime.Type, bool) {
	t, ok := c.Plugins.Type(name)
	if !ok {
		return nil, false
	}
	return gapType{t.(builtType), c.rec}, true
}

type gapType struct {
	builtType
	rec *gapRecorder
}

func (t gapType) Create(alias string, cfg map[string]any, pl runtime.Placement, log zerolog.Logger) (runtime.Instance, error) {
	inst, err := t.builtType.Create(alias, cfg, pl, log)
	if err != nil || !t.IsSink() {
		return inst, err
	}
	return gapInstance{inst, t.rec}, nil
}

type gapInstance struct {
	runtime.Instance
	rec *gapRecorder
}

func (g gapInstance) Send(b *edge.Batch, outcomes []uint8) error {
	err := g.Instance.Send(b, outcomes)
	if err == nil && b.Len() > 0 {
		g.rec.mark(time.Now())
	}
	return err
}
