// Package catalog serves the connector types of plugin files to the
// runtime: it applies a flow's policy to them (where an instance runs,
// the pinned SHA-256, secret fields) and creates their instances in the
// host (host/plugin's native transport) or in a child process
// (host/isolate). It is the one package that knows both the engine and the
// plugin edge.
package catalog

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"tremorhost/abi"
	"tremorhost/host/isolate"
	"tremorhost/host/plugin"
	"tremorhost/host/runtime"
)

// Plugins serves the connector types of plugins, loaded into the host
// (plugin.LoadAll) or only inspected by the scanner (host/isolate).
type Plugins struct {
	Registry *plugin.Registry
	// Isolate configures instances run in a child process; the zero value
	// finds tremor-runner next to the executable or in $TREMOR_RUNNER.
	Isolate isolate.Options
}

// Type implements runtime.Catalog.
func (c Plugins) Type(name string) (runtime.Type, bool) {
	conn := c.Registry.Connector(name)
	if conn == nil {
		return nil, false
	}
	return pluginType{conn, c.Isolate}, true
}

// Contested returns why connector type name is unavailable when several
// plugins claim it (naming their files), nil otherwise.
func (c Plugins) Contested(name string) error { return c.Registry.Contested(name) }

// Names implements runtime.Catalog.
func (c Plugins) Names() []string {
	var names []string
	for _, p := range c.Registry.Plugins() {
		for _, conn := range p.Connectors {
			names = append(names, conn.Name)
		}
	}
	return names
}

type pluginType struct {
	c   *plugin.Connector
	iso isolate.Options
}

func (t pluginType) Name() string     { return t.c.Name }
func (t pluginType) IsSource() bool   { return t.c.IsSource() }
func (t pluginType) IsSink() bool     { return t.c.IsSink() }
func (t pluginType) Structured() bool { return t.c.Payload == abi.PayloadStructured }
func (t pluginType) Origin() string   { return t.c.Plugin.Path }

// Framing implements runtime.Framer: the type's natural framing (ABI 1.1).
func (t pluginType) Framing() string { return t.c.Framing }

// Build implements runtime.Built: the plugin file, for the API and live
// upgrades.
func (t pluginType) Build() runtime.Build {
	p := t.c.Plugin
	return runtime.Build{Plugin: p.Name, Version: p.Version, SHA256: p.SHA256, File: p.Path, ABI: p.ABI(), SDK: p.SDK}
}

func (t pluginType) CheckConfig(cfg map[string]any) (map[string]any, error) {
	return t.c.CheckConfig(cfg)
}

// Replaceable implements runtime.Replaceable: a Go plugin loaded into the
// host cannot be loaded a second time beside itself (two Go runtimes), so
// only its isolated instances can be upgraded live.
func (t pluginType) Replaceable(pl runtime.Placement) error {
	if !pl.Process && autoIsolated(t.c.Plugin) {
		return fmt.Errorf("%s is a Go plugin running inside the host, where a second build cannot be loaded beside it; run it isolated (isolation = \"process\" or \"auto\" with tremor-runner installed), or redeploy the flow", t.Origin())
	}
	return nil
}

// autoIsolated says whether "auto" runs a plugin in a child process: Go
// plugins do, so that no second Go runtime runs in the host.
func autoIsolated(p *plugin.Plugin) bool { return strings.HasPrefix(p.SDK, "pdk-go") }

// Place implements runtime.Type: the pin is checked against the file as
// loaded; "process" needs tremor-runner, "auto" falls back to the host
// without one.
func (t pluginType) Place(p runtime.Policy) (runtime.Placement, error) {
	pl := runtime.Placement{Redact: t.c.Redacted}
	switch p.Isolation {
	case runtime.IsolateProcess:
		if _, err := isolate.FindRunnerWith(t.iso); err != nil {
			return pl, &runtime.PolicyError{Field: "isolation", Err: fmt.Errorf("isolation = \"process\" needs tremor-runner: %w", err)}
		}
		pl.Process = true
	case runtime.IsolateAuto:
		if autoIsolated(t.c.Plugin) {
			_, err := isolate.FindRunnerWith(t.iso)
			pl.Process, pl.Fallback = err == nil, err != nil
		}
	}
	if p.SHA256 == "" {
		return pl, nil
	}
	if got := t.c.Plugin.SHA256; got == "" {
		return pl, &runtime.PolicyError{Field: "plugin_sha256", Err: fmt.Errorf("connector type %s (%s) is not loaded from a file, so plugin_sha256 cannot apply", t.Name(), t.Origin())}
	} else if got != p.SHA256 {
		return pl, &runtime.PolicyError{Field: "plugin_sha256", Err: fmt.Errorf("refusing %s: its SHA-256 is %s, the flow pins %s; the file changed: check where it came from, then update plugin_sha256", t.Origin(), got, p.SHA256)}
	}
	return pl, nil
}

// Create implements runtime.Type.
func (t pluginType) Create(alias string, cfg map[string]any, pl runtime.Placement, log zerolog.Logger) (runtime.Instance, error) {
	// log is untagged: the instance tags what it logs itself. own tags the
	// lines about this connector alike.
	own := log.With().Str("connector", alias).Str("type", t.c.Name).Logger()
	if pl.Process {
		own.Debug().Str("file", t.c.Plugin.Path).Msg("running the plugin in a child process (isolation)")
		opts := t.iso
		opts.CPUs = pl.CPUs
		inst, err := isolate.New(t.c, alias, cfg, log, opts)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return inst, nil
	}
	if pl.Fallback {
		_, why := isolate.FindRunnerWith(t.iso)
		own.Warn().Str("file", t.c.Plugin.Path).Str("reason", fmt.Sprint(why)).
			Msg("running a Go plugin inside the host: two Go runtimes in one process are not supported upstream; install tremor-runner next to the host (or set " + isolate.EnvRunner + ") to run it isolated")
	}
	c, err := t.loaded()
	if err != nil {
		return nil, err
	}
	inst, err := c.Create(alias, cfg, plugin.WithLogger(log))
	if err != nil {
		return nil, err
	}
	return inst, nil
}

// loaded returns the connector from the plugin loaded into this process,
// loading it when it was only inspected (by the scanner).
func (t pluginType) loaded() (*plugin.Connector, error) {
	if t.c.Plugin.Loaded() {
		return t.c, nil
	}
	p, err := plugin.Load(t.c.Plugin.Path)
	if err != nil {
		return nil, err
	}
	if t.c.Plugin.SHA256 != "" && p.SHA256 != t.c.Plugin.SHA256 {
		return nil, &plugin.LoadError{Path: p.Path, Plugin: p.Name, Err: errors.New("changed since it was inspected (its SHA-256 differs): restart to use the new file")}
	}
	c := p.Connector(t.c.Name)
	if c == nil {
		return nil, &plugin.LoadError{Path: p.Path, Plugin: p.Name, Err: fmt.Errorf("no longer provides connector %q", t.c.Name)}
	}
	return c, nil
}
