// Command benchtable turns the output of the benchmarks in package bench
// (go test -bench, any -count) into the Markdown tables of
// docs/benchmarks.md: one row per configuration with the median of its
// runs, and for flows the ratio of its events/s to the in-process Go row
// of the same flow, payload size and batch size measured in the same run
// (the median over runs of the per-run ratio).
//
//	go test -run '^$' -bench . ./bench/ | go run ./bench/benchtable
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A benchmark line: name-GOMAXPROCS, iterations, then value/unit pairs.
var lineRE = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// result holds every run of one benchmark: unit -> values.
type result struct {
	name    string
	metrics map[string][]float64
}

func (r *result) median(unit string) (float64, bool) {
	v := slices.Clone(r.metrics[unit])
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], true
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, true
}

func (r *result) get(unit string) float64 {
	v, _ := r.median(unit)
	return v
}

func parse(in io.Reader) (map[string]*result, []string, error) {
	results := map[string]*result{}
	var order []string
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := lineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		r := results[m[1]]
		if r == nil {
			r = &result{name: m[1], metrics: map[string][]float64{}}
			results[m[1]] = r
			order = append(order, m[1])
		}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			r.metrics[f[i+1]] = append(r.metrics[f[i+1]], v)
		}
	}
	return results, order, sc.Err()
}

func main() {
	results, order, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(results) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark lines in the input")
		os.Exit(1)
	}
	flows(os.Stdout, results, order)
	isolation(os.Stdout, results, order)
	boundary(os.Stdout, results, order)
	load(os.Stdout, results, order)
}

// si writes n with a k/M suffix, three significant digits.
func si(n float64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}

func num(n float64) string {
	switch {
	case n >= 100:
		return fmt.Sprintf("%.0f", n)
	case n >= 10:
		return fmt.Sprintf("%.1f", n)
	}
	return fmt.Sprintf("%.2f", n)
}

func allocs(n float64) string {
	if n == 0 {
		return "0"
	}
	if n < 0.1 {
		return fmt.Sprintf("%.3f", n)
	}
	return fmt.Sprintf("%.2f", n)
}

// ratioOf is the median over runs of r's value divided by base's value in
// the same run (-count repeats the whole matrix, so run k of one
// configuration and run k of its baseline are seconds apart).
func ratioOf(r, base *result, unit string) (float64, bool) {
	a, b := r.metrics[unit], base.metrics[unit]
	var q []float64
	for k := 0; k < len(a) && k < len(b); k++ {
		if b[k] > 0 {
			q = append(q, a[k]/b[k])
		}
	}
	m := &result{metrics: map[string][]float64{"q": q}}
	return m.median("q")
}

// flows prints Flow/<kind>/size=<s>/batch=<b>/<impl> rows.
func flows(w io.Writer, results map[string]*result, order []string) {
	var rows [][]string
	for _, name := range order {
		p := strings.Split(name, "/")
		if len(p) != 5 || p[0] != "Flow" {
			continue
		}
		r := results[name]
		ratio := "-"
		if p[4] != "go" {
			if base := results[strings.Join(append(p[:4:4], "go"), "/")]; base != nil {
				if x, ok := ratioOf(r, base, "events/s"); ok {
					ratio = fmt.Sprintf("%.2fx", x)
				}
			}
		} else {
			ratio = "1.00x (baseline)"
		}
		rows = append(rows, []string{
			p[1], strings.TrimPrefix(p[2], "size="), strings.TrimPrefix(p[3], "batch="), impl(p[4]),
			si(r.get("events/s")), num(r.get("ns/event")), num(r.get("MB/s")), allocs(r.get("allocs/event")), ratio,
		})
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "### Flows: source -> pipeline -> sink, through the runtime")
	fmt.Fprintln(w)
	table(w, []string{"flow", "payload B", "batch", "connectors", "events/s", "ns/event", "MB/s", "allocs/event", "vs Go in-process"}, rows)
}

// isolation prints FlowIsolated/<kind>/size=<s>/batch=<b>/<impl>/process
// rows with the ratio to the same flow with the plugins in the host
// (.../none), measured right before it.
func isolation(w io.Writer, results map[string]*result, order []string) {
	var rows [][]string
	for _, name := range order {
		p := strings.Split(name, "/")
		if len(p) != 6 || p[0] != "FlowIsolated" || p[5] != "process" {
			continue
		}
		r := results[name]
		base := results[strings.Join(append(p[:5:5], "none"), "/")]
		if base == nil {
			continue
		}
		ratio := "-"
		if x, ok := ratioOf(r, base, "events/s"); ok {
			ratio = fmt.Sprintf("%.2fx", x)
		}
		extra := "-" // noise: the isolated run came out faster
		if d := r.get("ns/event") - base.get("ns/event"); d >= 0 {
			extra = num(d)
		}
		rows = append(rows, []string{
			p[1], strings.TrimPrefix(p[2], "size="), strings.TrimPrefix(p[3], "batch="), impl(p[4]),
			si(base.get("events/s")), si(r.get("events/s")), extra, ratio,
		})
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "### Process isolation: the same flow with both plugins in tremor-runner child processes")
	fmt.Fprintln(w)
	table(w, []string{"flow", "payload B", "batch", "plugins", "in-process events/s", "isolated events/s", "+ns/event", "isolated vs in-process"}, rows)
}

func impl(s string) string {
	switch s {
	case "go":
		return "Go in-process"
	case "c":
		return "C plugin"
	case "rust":
		return "Rust plugin"
	case "gopl":
		return "Go plugin"
	}
	return s
}

// boundary prints Boundary/<op>/batch=<b>/<impl> rows.
func boundary(w io.Writer, results map[string]*result, order []string) {
	var rows [][]string
	for _, name := range order {
		p := strings.Split(name, "/")
		if len(p) != 4 || p[0] != "Boundary" {
			continue
		}
		r := results[name]
		rows = append(rows, []string{p[1], strings.TrimPrefix(p[2], "batch="), impl(p[3]),
			num(r.get("ns/event")), si(1e9 / r.get("ns/event")), allocs(r.get("allocs/op"))})
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "### Boundary only: host/plugin Pull / Send, 100-byte events, no runtime or codec")
	fmt.Fprintln(w)
	table(w, []string{"op", "batch", "plugin", "ns/event", "events/s", "allocs/event"}, rows)
}

// load prints LoadPlugin/<impl> and ListPlugins100 rows.
func load(w io.Writer, results map[string]*result, order []string) {
	var rows [][]string
	for _, name := range order {
		r := results[name]
		switch p := strings.Split(name, "/"); {
		case p[0] == "LoadPlugin" && len(p) == 2:
			rows = append(rows, []string{"plugin.Load + checks, one " + impl(p[1]) + " file", fmt.Sprintf("%.0f µs", r.get("µs/load"))})
		case p[0] == "ListPlugins100":
			how := "in child processes (tremor-runner scanner, the default)"
			if len(p) > 1 && p[1] == "inprocess" {
				how = "loaded into tremorctl itself (no tremor-runner found)"
			}
			rows = append(rows, []string{"`tremorctl list-plugins DIR`, 100 plugin files, " + how + "; process start included", fmt.Sprintf("%.1f ms", r.get("ms/list"))})
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "### Load cost")
	fmt.Fprintln(w)
	table(w, []string{"what", "time"}, rows)
}

func table(w io.Writer, head []string, rows [][]string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(head, " | "))
	seps := make([]string, len(head))
	for i := range seps {
		seps[i] = "---"
		if i > 0 {
			seps[i] = "---:"
		}
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
	fmt.Fprintln(w)
}
