package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Severity of a finding. Errors make check-plugin fail; warnings are
// printed but do not; info says what could not be exercised.
type Severity string

const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
	SevInfo    Severity = "info"
)

// Finding is one observation: a rule of the contract the plugin broke
// (error), probably broke or should not do (warning), or a note (info).
type Finding struct {
	Severity  Severity `json:"severity"`
	Connector string   `json:"connector,omitempty"` // empty for plugin-wide findings
	Run       int      `json:"run"`                 // which --config of the connector (0 for the first)
	Step      string   `json:"step,omitempty"`      // e.g. "on_pull (tiny room)"
	Rule      Rule     `json:"rule"`
	Message   string   `json:"message"` // what was observed
	Count     int      `json:"count"`   // how often it was observed (same connector run and rule)
}

// PluginInfo is what the descriptor says.
type PluginInfo struct {
	Name       string          `json:"name"`
	Version    string          `json:"version"`
	ABI        string          `json:"abi"`
	SDK        string          `json:"sdk"`
	Connectors []ConnectorInfo `json:"connectors"`
}

// ConnectorInfo is one connector type of the plugin.
type ConnectorInfo struct {
	Name         string   `json:"name"`
	Kinds        []string `json:"kinds"`
	Payload      string   `json:"payload"`
	SecretFields []string `json:"secret_fields,omitempty"` // their values are never shown
}

// RunInfo is one connector checked with one config.
type RunInfo struct {
	Connector string `json:"connector"`
	Run       int    `json:"run"`
	Config    string `json:"config"` // the config as given (JSON), before defaults, secret values redacted
	// Status: "ok" (no errors), "failed" (errors), "crashed", "hung",
	// "skipped" (could not be run, see the findings) or "not run" (an
	// earlier crash or hang ended the check before it).
	Status     string   `json:"status"`
	Steps      []string `json:"steps"` // steps completed, in order
	Pulled     int      `json:"events_pulled"`
	Sent       int      `json:"events_sent"`
	Acked      int      `json:"ids_acked"`
	Failed     int      `json:"ids_failed"`
	LeakRSS    *int64   `json:"leak_rss_growth_bytes,omitempty"`
	LeakCycles int      `json:"leak_cycles,omitempty"`
}

// Report is the result of checking one plugin file.
type Report struct {
	File     string      `json:"file"`
	Plugin   *PluginInfo `json:"plugin"` // nil when the file did not load
	Runs     []*RunInfo  `json:"runs"`
	Findings []Finding   `json:"findings"`
	Errors   int         `json:"errors"`
	Warnings int         `json:"warnings"`
	Passed   bool        `json:"passed"`
	// Output is what the plugin wrote to its stdout and stderr in the
	// check process (at most maxOutput bytes, secret values of the given
	// configs scrubbed; a crash's runtime dump left out).
	Output string `json:"plugin_output,omitempty"`
}

// ExitCode is 0 when the plugin passed (no errors), 1 otherwise.
func (r *Report) ExitCode() int {
	if r.Passed {
		return 0
	}
	return 1
}

// Has reports whether the report has a finding of the rule with id (of any
// severity, or of sev when sev is not empty) for connector (any connector
// when empty).
func (r *Report) Has(id string, sev Severity, connector string) bool {
	return r.Find(id, sev, connector) != nil
}

// Find returns the first finding matching like Has, or nil.
func (r *Report) Find(id string, sev Severity, connector string) *Finding {
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Rule.ID == id && (sev == "" || f.Severity == sev) && (connector == "" || f.Connector == connector) {
			return f
		}
	}
	return nil
}

// run returns the RunInfo of connector/run, creating it.
func (r *Report) run(connector string, run int) *RunInfo {
	for _, x := range r.Runs {
		if x.Connector == connector && x.Run == run {
			return x
		}
	}
	x := &RunInfo{Connector: connector, Run: run, Status: "ok", Steps: []string{}}
	r.Runs = append(r.Runs, x)
	return x
}

// add records a finding, merging repeats of the same rule in the same
// connector run (the first message is kept, Count grows).
func (r *Report) add(f Finding) {
	for i := range r.Findings {
		g := &r.Findings[i]
		if g.Rule.ID == f.Rule.ID && g.Connector == f.Connector && g.Run == f.Run && g.Severity == f.Severity {
			g.Count++
			return
		}
	}
	if f.Count == 0 {
		f.Count = 1
	}
	r.Findings = append(r.Findings, f)
}

// finish counts and sorts the findings and sets statuses.
func (r *Report) finish() {
	r.Errors, r.Warnings = 0, 0
	for _, f := range r.Findings {
		switch f.Severity {
		case SevError:
			r.Errors++
			if f.Connector != "" {
				x := r.run(f.Connector, f.Run)
				if x.Status == "ok" {
					x.Status = "failed"
				}
			}
		case SevWarning:
			r.Warnings++
		}
	}
	sevRank := map[Severity]int{SevError: 0, SevWarning: 1, SevInfo: 2}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Connector != b.Connector {
			return a.Connector < b.Connector
		}
		if a.Run != b.Run {
			return a.Run < b.Run
		}
		return sevRank[a.Severity] < sevRank[b.Severity]
	})
	r.Passed = r.Errors == 0
	if r.Runs == nil {
		r.Runs = []*RunInfo{}
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // for people and jq, not for a web page
	return enc.Encode(r)
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "check-plugin %s\n", r.File)
	if r.Plugin != nil {
		sdk := r.Plugin.SDK
		if sdk == "" {
			sdk = "none declared"
		}
		fmt.Fprintf(w, "plugin %s %s (ABI %s, SDK %s)\n", r.Plugin.Name, r.Plugin.Version, r.Plugin.ABI, sdk)
	}
	printFinding := func(f Finding, indent string) {
		count := ""
		if f.Count > 1 {
			count = fmt.Sprintf(" (seen %d times)", f.Count)
		}
		step := ""
		if f.Step != "" {
			step = f.Step + ": "
		}
		fmt.Fprintf(w, "%s%-7s %s%s%s\n", indent, strings.ToUpper(string(f.Severity)), step, f.Message, count)
		fmt.Fprintf(w, "%s        rule %s: %s\n", indent, f.Rule.ID, f.Rule.Text)
	}
	for _, f := range r.Findings {
		if f.Connector == "" {
			printFinding(f, "  ")
		}
	}
	for _, x := range r.Runs {
		cfg := x.Config
		if cfg == "" {
			cfg = "{} (declared defaults)"
		}
		fmt.Fprintf(w, "\nconnector %s, config %s: %s\n", x.Connector, cfg, strings.ToUpper(x.Status))
		if len(x.Steps) > 0 {
			fmt.Fprintf(w, "  steps: %s\n", strings.Join(x.Steps, ", "))
		}
		if x.Pulled+x.Sent+x.Acked+x.Failed > 0 {
			fmt.Fprintf(w, "  events pulled %d, sent %d; ids acked %d, failed %d\n", x.Pulled, x.Sent, x.Acked, x.Failed)
		}
		if x.LeakRSS != nil {
			fmt.Fprintf(w, "  create/destroy x%d: RSS grew by %s\n", x.LeakCycles, human(*x.LeakRSS))
		}
		for _, f := range r.Findings {
			if f.Connector == x.Connector && f.Run == x.Run {
				printFinding(f, "  ")
			}
		}
	}
	if r.Output != "" {
		fmt.Fprintf(w, "\nplugin output (its stdout and stderr during the check):\n")
		for _, l := range strings.Split(strings.TrimRight(r.Output, "\n"), "\n") {
			fmt.Fprintf(w, "  | %s\n", l)
		}
	}
	verdict := "PASS"
	if !r.Passed {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "\n%s: %d error(s), %d warning(s)\n", verdict, r.Errors, r.Warnings)
}

func human(n int64) string {
	neg := ""
	if n < 0 {
		neg, n = "-", -n
	}
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%s%.1f MiB", neg, float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%s%.1f KiB", neg, float64(n)/(1<<10))
	}
	return fmt.Sprintf("%s%d bytes", neg, n)
}
