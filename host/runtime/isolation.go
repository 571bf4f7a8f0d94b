package runtime

import (
	"fmt"
	"strings"

	"tremorhost/host/flow"
)

// Isolation is a connector's isolation setting (see flow.Isolations):
// where its plugin's instances may run.
type Isolation uint8

const (
	// IsolateAuto lets the connector type choose (plugins built with
	// pdk-go run in a child process, others in the host).
	IsolateAuto Isolation = iota
	// IsolateProcess runs every instance in a child process.
	IsolateProcess
	// IsolateNone runs every instance in the host.
	IsolateNone
)

var isolationNames = [...]string{IsolateAuto: "auto", IsolateProcess: "process", IsolateNone: "none"}

func (i Isolation) String() string { return isolationNames[i] }

// ParseIsolation reads a flow's isolation setting ("" is "auto": a flow
// built by hand, not parsed).
func ParseIsolation(s string) (Isolation, error) {
	if s == "" {
		return IsolateAuto, nil
	}
	for i, n := range isolationNames {
		if n == s {
			return Isolation(i), nil
		}
	}
	return 0, fmt.Errorf("isolation %q: expected %s", s, strings.Join(isolationNames[:], ", "))
}

// Policy is what a flow says about one connector's code: where it runs
// and which file it must be.
type Policy struct {
	Isolation Isolation
	// SHA256 is the hex digest the flow pins the plugin file to
	// (plugin_sha256); "" pins nothing.
	SHA256 string
}

// Placement is the policy as a connector type applied it, when the flow
// was checked: where the connector's instances run and how its config is
// shown in logs.
type Placement struct {
	// Process: instances run in a child process; else in the host.
	Process bool
	// Fallback: the type would run them in a child process (isolation
	// "auto") but cannot start one, so they run in the host.
	Fallback bool
	// Redact returns a config with its secret fields hidden; nil when the
	// type declares none.
	Redact func(cfg map[string]any) map[string]any
	// CPUs are the CPUs a child process may run on (the flow's cpus
	// setting, as the runtime planned it); nil: any.
	CPUs []int
}

// Loggable is cfg as it may be logged.
func (p Placement) Loggable(cfg map[string]any) map[string]any {
	if p.Redact == nil {
		return cfg
	}
	return p.Redact(cfg)
}

// PolicyError is a setting of a connector that its type cannot honour;
// Field is its key in the flow ("isolation", "plugin_sha256").
type PolicyError struct {
	Field string
	Err   error
}

func (e *PolicyError) Error() string { return e.Err.Error() }
func (e *PolicyError) Unwrap() error { return e.Err }

// InHost is Type.Place for types built into the host (not plugins): they
// run in the host, are not loaded from a file and have no secret fields.
func InHost(t Type, p Policy) (Placement, error) {
	if p.Isolation == IsolateProcess {
		return Placement{}, &PolicyError{"isolation", fmt.Errorf("connector type %s (%s) is built into the host, not a plugin: isolation = \"process\" applies to plugin connectors only", t.Name(), t.Origin())}
	}
	if p.SHA256 != "" {
		return Placement{}, &PolicyError{"plugin_sha256", fmt.Errorf("connector type %s (%s) is not loaded from a file, so plugin_sha256 cannot apply", t.Name(), t.Origin())}
	}
	return Placement{}, nil
}

// create makes n's instance where its placement says.
func (n *node) create() (Instance, error) {
	n.log.Debug().Interface("config", flow.RedactConfig(n.place.Loggable(n.config))).Bool("process", n.place.Process).Msg("creating connector")
	return n.typ.Create(n.conn.ID, n.config, n.place, n.base)
}
