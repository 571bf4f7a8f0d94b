package runtime

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"tremorhost/host/isolate"
	"tremorhost/host/plugin"
)

// Where a connector's instance runs, from its flow's isolation setting
// ("auto", "process", "none"; see flow.Isolations): in the host ("none") or
// in a child process ("process", host/isolate). "auto" isolates plugins
// built with pdk-go, so that no second Go runtime runs in the host, and
// runs the others in the host. Without a tremor-runner, "auto" falls back
// to the host (with a warning for Go plugins) and "process" is an error.

// Isolating is a Type whose instances can run in a child process: the
// connector types of plugins. Other types (host/inproc) run in the host.
type Isolating interface {
	// Placement says where an instance with this isolation setting runs,
	// "process" or "none", or why it cannot run as asked.
	Placement(isolation string) (string, error)
	// CreateIsolated creates an instance where Placement says.
	CreateIsolated(alias string, cfg map[string]any, log zerolog.Logger, isolation string) (Instance, error)
}

// placement checks a connector's isolation setting against its type.
func placement(t Type, isolation string) (string, error) {
	if it, ok := t.(Isolating); ok {
		return it.Placement(isolation)
	}
	if isolation == "process" {
		return "", fmt.Errorf("connector type %s (%s) is built into the host, not a plugin: isolation = \"process\" applies to plugin connectors only", t.Name(), t.Origin())
	}
	return "none", nil
}

// autoIsolated says whether "auto" runs a plugin in a child process.
func autoIsolated(p *plugin.Plugin) bool { return strings.HasPrefix(p.SDK, "pdk-go") }

// Placement implements Isolating.
func (t pluginType) Placement(isolation string) (string, error) {
	switch isolation {
	case "none":
		return "none", nil
	case "process":
		if _, err := isolate.FindRunnerWith(t.iso); err != nil {
			return "", fmt.Errorf("isolation = \"process\" needs tremor-runner: %w", err)
		}
		return "process", nil
	case "auto", "": // "": a flow built by hand, not parsed
		if !autoIsolated(t.c.Plugin) {
			return "none", nil
		}
		if _, err := isolate.FindRunnerWith(t.iso); err != nil {
			return "none", nil // CreateIsolated warns
		}
		return "process", nil
	}
	return "", fmt.Errorf("isolation %q: expected auto, process or none", isolation)
}

// CreateIsolated implements Isolating.
func (t pluginType) CreateIsolated(alias string, cfg map[string]any, log zerolog.Logger, isolation string) (Instance, error) {
	where, err := t.Placement(isolation)
	if err != nil {
		return nil, err
	}
	// log is untagged: the instance tags what it logs itself. own tags the
	// runtime's lines about this connector alike.
	own := log.With().Str("connector", alias).Str("type", t.c.Name).Logger()
	if where == "process" {
		own.Debug().Str("file", t.c.Plugin.Path).Msg("running the plugin in a child process (isolation)")
		inst, err := isolate.New(t.c, alias, cfg, log, t.iso)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return inst, nil
	}
	if isolation != "none" && autoIsolated(t.c.Plugin) {
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
