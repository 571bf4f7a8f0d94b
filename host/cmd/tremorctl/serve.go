package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"tremorhost/host/flow"
	"tremorhost/host/plugin"
	"tremorhost/host/runtime"
	"tremorhost/host/service"
)

// serve runs every flow of its paths and the ones deployed through the
// admin API until SIGINT or SIGTERM; SIGHUP rereads the flow files.
func (c *cli) serve(args []string) int {
	fs := c.flags("serve", "[FLOW.toml | DIR ...]")
	c.runsFlows(fs)
	api, tokenFile := apiFlags(fs, service.DefaultAddr, "address of the admin API (HOST:PORT); a non-loopback address needs --api-token-file",
		"file holding the bearer token that POST, DELETE and reload requests must send")
	drain := fs.Duration("drain-timeout", 10*time.Second, "how long a deleted, reloaded or stopped flow waits for in-flight events before failing them back (0: wait for ever)")
	rest, status, ok := c.parseArgs(fs, args, 0, -1)
	if !ok {
		return status
	}
	if *drain < 0 {
		return c.fail("--drain-timeout %s: use a positive duration, or 0 to wait for ever", *drain)
	}
	if *drain == 0 {
		*drain = runtime.WaitForever
	}
	c.startCrashWatch()
	m := service.NewManager(rest, func(f *flow.Flow) (*runtime.Runtime, error) {
		return c.prepare(f, runtime.Options{DrainTimeout: *drain})
	}, c.log)
	// The API is bound first: a refused address stops before any flow runs.
	infos := c.pluginInfo()
	m.SetRescan(c.rescan(infos))
	a, err := service.NewAPI(m, service.APIOptions{Addr: *api, TokenFile: *tokenFile, Plugins: infos.get, Log: c.log})
	if err != nil {
		return c.fail("%v", err)
	}
	if err := m.Start(); err != nil {
		return c.fail("%v", err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve() }()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for {
		select {
		case err := <-served:
			return c.fail("admin API: %v", err)
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				// Off the signal loop, so that SIGTERM is heard while a
				// reload drains; reloads queue up one at a time.
				go func() {
					res := m.Reload()
					for _, e := range res.Refused {
						c.log.Error().Str("error", e).Msg("reload refused a flow file; its running version keeps going")
					}
				}()
				continue
			}
			c.log.Info().Msg("shutting down: draining every flow; a second signal exits at once")
			go func() {
				for s := range sigs {
					if s != syscall.SIGHUP {
						fmt.Fprintln(c.stderr, "tremorctl: second signal: exiting without waiting for in-flight events")
						os.Exit(exitWatched(130)) // chosen, not a plugin's doing: no last words
					}
				}
			}()
			m.Shutdown(context.Background())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = a.Shutdown(ctx)
			cancel()
			c.printSummary(m.Flows())
			return 0
		}
	}
}

// printSummary writes each flow's final counters to stderr.
func (c *cli) printSummary(flows []service.FlowStatus) {
	for _, f := range flows {
		fmt.Fprint(c.stderr, flow.Redact(fmt.Sprintf("flow %q (%s): %s\n", f.Name, f.File, f.State)))
		stats := make([]runtime.Stats, 0, len(f.Connectors))
		for _, o := range f.Connectors {
			stats = append(stats, o.Stats)
		}
		runtime.WriteStats(c.stderr, stats)
	}
}

// pluginInfos lists the plugins of the search path for tremor_plugin_info:
// inspected on the first scrape, and again after a live upgrade rescanned
// them.
type pluginInfos struct {
	c     *cli
	mu    sync.Mutex
	infos []service.PluginInfo
	done  bool
}

func (c *cli) pluginInfo() *pluginInfos { return &pluginInfos{c: c} }

func (p *pluginInfos) get() []service.PluginInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done {
		files, _ := plugin.Search(nil, p.c.searchPath(), p.c.log)
		reg, _ := p.c.registry(files)
		p.infos, p.done = infosOf(reg), true
	}
	return p.infos
}

// set replaces the list with the plugins of a new scan.
func (p *pluginInfos) set(reg *plugin.Registry) {
	p.mu.Lock()
	p.infos, p.done = infosOf(reg), true
	p.mu.Unlock()
}

func infosOf(reg *plugin.Registry) []service.PluginInfo {
	if reg == nil {
		return nil
	}
	var infos []service.PluginInfo
	for _, p := range reg.Plugins() {
		infos = append(infos, service.PluginInfo{Name: p.Name, Version: p.Version, ABI: p.ABI(), SDK: p.SDK, SHA256: p.SHA256})
	}
	return infos
}

// startAPI serves the admin API for one flow run by `tremorctl run --api`.
// It returns a function to call with Run's result, and one that stops the
// API.
func (c *cli) startAPI(addr, tokenFile string, f *flow.Flow, r *runtime.Runtime, cancel context.CancelFunc) (func([]runtime.Stats, error), func(), error) {
	m := service.NewManager(nil, nil, c.log)
	a, err := service.NewAPI(m, service.APIOptions{Addr: addr, TokenFile: tokenFile, Plugins: c.pluginInfo().get, Log: c.log})
	if err != nil {
		return nil, nil, err
	}
	finished := m.Attach(f, r, cancel)
	go func() {
		if err := a.Serve(); err != nil {
			c.log.Error().Err(err).Msg("admin API stopped")
		}
	}()
	stop := func() {
		ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = a.Shutdown(ctx)
	}
	return finished, stop, nil
}
