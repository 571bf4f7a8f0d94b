package main

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"tremorhost/host/catalog"
	"tremorhost/host/edge"
	"tremorhost/host/flow"
	"tremorhost/host/isolate"
	"tremorhost/host/plugin"
	"tremorhost/host/runtime"
)

//go:embed example.toml
var exampleFlow []byte

// exampleOut is where the built-in example's file connector writes: a
// new file of this process's own in the temporary directory
// (newExampleOut), never a fixed name another user could have put a
// symlink at.
var exampleOut string

// newExampleOut creates the built-in example's output file: a new file
// (a unique name, created exclusively, so no symlink is followed) that
// only this user can read or write, in $TMPDIR or /tmp.
func newExampleOut() (string, error) {
	f, err := os.CreateTemp("", "tremor-example-*.jsonl")
	if err != nil {
		return "", fmt.Errorf("the built-in example writes to a new file in %s (set TMPDIR to choose another directory): %w", os.TempDir(), err)
	}
	f.Close()
	return f.Name(), nil
}

// loadFlow reads FLOW.toml, or the built-in example when no file is named.
func (c *cli) loadFlow(args []string) (*flow.Flow, bool, error) {
	if len(args) == 0 {
		f, err := flow.Parse("(built-in example)", exampleFlow)
		if err != nil {
			return nil, true, err
		}
		if exampleOut == "" {
			if exampleOut, err = newExampleOut(); err != nil {
				return nil, true, err
			}
		}
		for _, conn := range f.Connectors {
			if conn.Type == "file" {
				conn.Config["path"] = exampleOut
			}
		}
		return f, true, nil
	}
	f, err := flow.Load(args[0])
	return f, false, err
}

// prepare loads the plugins of the search path and checks the flow
// against them.
func (c *cli) prepare(f *flow.Flow, opts runtime.Options) (*runtime.Runtime, error) {
	files, err := plugin.Search(nil, c.searchPath(), c.log)
	if err != nil {
		return nil, err
	}
	reg, loadErr := c.registry(files)
	if errors.Is(loadErr, isolate.ErrRunnerRefused) {
		return nil, loadErr
	}
	if loadErr != nil {
		// A broken plugin file does not stop a flow that does not need it;
		// a missing connector type is reported by runtime.New.
		c.log.Warn().Err(loadErr).Msg("some plugin files were refused")
	}
	opts.Log = c.log
	return runtime.New(f, catalog.Plugins{Registry: reg}, opts)
}

func (c *cli) validate(args []string) int {
	fs := c.flags("validate", "FLOW.toml")
	rest, status, ok := c.parseArgs(fs, args, 1, 1)
	if !ok {
		return status
	}
	c.startCrashWatch() // creating instances runs plugin code
	f, _, err := c.loadFlow(rest)
	var r *runtime.Runtime
	if err == nil {
		r, err = c.prepare(f, runtime.Options{})
	}
	if err == nil {
		// Creating each instance (where run would) lets the plugins check
		// their own config; nothing connects.
		err = r.Check()
	}
	if err != nil {
		return c.fail("%v", err)
	}
	nc, np, nl := len(f.Connectors), len(f.Pipelines), len(f.Links)
	fmt.Fprintf(c.stdout, "%s: ok (%d connector%s, %d pipeline%s, %d link%s)\n", rest[0], nc, plural(nc), np, plural(np), nl, plural(nl))
	return 0
}

func (c *cli) runFlow(args []string) int {
	fs := c.flags("run", "[FLOW.toml]")
	c.runsFlows(fs)
	drain := fs.Duration("drain-timeout", 10*time.Second, "once the sources ended or on a signal, how long to wait for in-flight events before failing them back (0: wait for ever)")
	stats := fs.Duration("stats-interval", 0, "log per-connector counters this often while running (at least 100ms; 0: only at the end)")
	quiet := fs.Bool("quiet", false, "print no summary at the end (it goes to stderr)")
	api, tokenFile := apiFlags(fs, "", "serve the admin API (metrics, health, readiness, flows) on this address while the flow runs, e.g. 127.0.0.1:9898",
		"with --api: file holding the bearer token that POST, DELETE and reload requests must send (required off loopback)")
	checkContract := fs.Bool("check-contract", false, "guard memory lent to in-process plugins as check-plugin does (sent batches read-only during on_send, each pull a fresh room, the last one made inaccessible): a plugin that breaks the rule faults in the hook that does it; slower, for debugging a plugin against real traffic")
	rest, status, ok := c.parseArgs(fs, args, 0, 1)
	if !ok {
		return status
	}
	if *checkContract {
		edge.SetContractGuards(true)
		crashWatchGuards = true
	}
	c.startCrashWatch()
	if *drain < 0 {
		return c.fail("--drain-timeout %s: use a positive duration, or 0 to wait for ever", *drain)
	}
	if *drain == 0 {
		*drain = runtime.WaitForever
	}
	if err := checkStatsInterval(*stats); err != nil {
		return c.fail("%v", err)
	}
	f, example, err := c.loadFlow(rest)
	if err != nil {
		return c.fail("%v", err)
	}
	r, err := c.prepare(f, runtime.Options{DrainTimeout: *drain, StatsInterval: *stats})
	if err != nil {
		if example {
			os.Remove(exampleOut) // still empty: nothing ran
		}
		return c.fail("%v", err)
	}

	ctx, cancel, stopSignals := c.drainOnSignal()
	defer stopSignals()

	if *api != "" {
		finished, stopAPI, err := c.startAPI(*api, *tokenFile, f, r, cancel)
		if err != nil {
			return c.fail("%v", err)
		}
		defer stopAPI()
		defer func() { finished(r.Stats(), nil) }()
	}
	c.log.Info().Str("flow", f.Name).Int("connectors", len(f.Connectors)).Int("batch_size", f.BatchSize).Msg("running; Ctrl-C drains and stops")
	start := time.Now()
	result, runErr := r.Run(ctx)
	if !*quiet {
		// The summary goes to stderr: it never mixes with a stdout sink's data.
		fmt.Fprint(c.stderr, flow.Redact(fmt.Sprintf("flow %q ran for %s\n", f.Name, time.Since(start).Round(time.Millisecond))))
		runtime.WriteStats(c.stderr, result)
		if example {
			c.showExampleOutput()
		}
	}
	return c.runStatus(r, runErr)
}

// minStatsInterval is the shortest --stats-interval: one log line per
// connector each time, so a shorter one floods the log.
const minStatsInterval = 100 * time.Millisecond

// checkStatsInterval refuses a --stats-interval that is negative or so
// short that the counters would flood the log; 0 is off.
func checkStatsInterval(d time.Duration) error {
	switch {
	case d < 0:
		return fmt.Errorf("--stats-interval %s: use a positive duration (at least %s), or 0 to log the counters only at the end", d, minStatsInterval)
	case d > 0 && d < minStatsInterval:
		return fmt.Errorf("--stats-interval %s is too short: the minimum is %s (or 0 to log the counters only at the end)", d, minStatsInterval)
	}
	return nil
}

// drainOnSignal returns a context cancelled by the first SIGINT, SIGTERM or
// SIGHUP (there is no reload to ask for), which drains the flow; a second
// signal exits at once. stop ends the watch.
func (c *cli) drainOnSignal() (ctx context.Context, cancel context.CancelFunc, stop func()) {
	ctx, cancel = context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(c.stderr, "tremorctl: second signal: exiting without waiting for in-flight events")
		os.Exit(exitWatched(130)) // chosen, not a plugin's doing: no last words
	}()
	return ctx, cancel, func() { signal.Stop(sigs) }
}

// runStatus is run's exit status. Failed-back events are not lost (their
// sources were told), but the flow did not deliver everything: say so, and
// in the exit status.
func (c *cli) runStatus(r *runtime.Runtime, runErr error) int {
	status := 0
	if runErr != nil {
		status = c.fail("%v", runErr)
	}
	switch failed := r.FailedBack(); {
	case failed == 1:
		status = c.fail("1 event was failed back to its source (see the fails column and the log)")
	case failed > 1:
		status = c.fail("%d events were failed back to their sources (see the fails column and the log)", failed)
	}
	return status
}

// showExampleOutput prints where the example wrote and its first lines.
func (c *cli) showExampleOutput() {
	fh, err := os.Open(exampleOut)
	if err != nil {
		fmt.Fprintf(c.stdout, "example output %s: %v\n", exampleOut, err)
		return
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	var lines []string
	n := 0
	for sc.Scan() {
		if n < 3 {
			lines = append(lines, sc.Text())
		}
		n++
	}
	fmt.Fprintf(c.stdout, "\nthe file connector (Rust plugin) wrote %d lines to %s; the first ones:\n", n, exampleOut)
	for _, l := range lines {
		fmt.Fprintf(c.stdout, "  %s\n", l)
	}
}
