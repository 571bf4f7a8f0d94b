package conformance

import (
	"errors"
	"fmt"
	"strings"

	"tremorhost/abi"
	"tremorhost/host/internal/cmem"
	"tremorhost/host/plugin"
)

// rawConnector is a connector type as the plugin declares it in memory
// (read by host/plugin's one descriptor reader, after Load checked it).
type rawConnector struct {
	vt     abi.ConnectorVTable
	fields []abi.ConfigField
}

// rawConnectors reads every connector type of the descriptor in img.
func rawConnectors(p *plugin.Plugin, img *plugin.Image) map[string]*rawConnector {
	out := map[string]*rawConnector{}
	for _, c := range p.Connectors {
		if vt, fields, ok := img.Connector(c.Name); ok {
			out[c.Name] = &rawConnector{vt: vt, fields: fields}
		}
	}
	return out
}

// classifyLoadError maps a loader refusal to the rule it enforces.
func classifyLoadError(err error) Rule {
	msg := err.Error()
	var le *plugin.LoadError
	if errors.As(err, &le) {
		msg = le.Err.Error()
	}
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("does not export"):
		return RuleLoadEntry
	case has("returned NULL"):
		return RuleLoadNull
	case has("built for ABI"):
		return RuleLoadABI
	case has("vtable lacks required hooks"):
		return RuleLoadHooks
	case has("vtable is NULL"):
		return RuleLoadVTable
	case has("struct_size"):
		return RuleLoadStructSize
	case has("config field", "default_json", "field type"):
		return RuleLoadFields
	case has("kinds"):
		return RuleLoadKinds
	case has("payload is"):
		return RuleLoadPayload
	case has("declares no connectors", "connectors, more than", "twice", "connectors[] is NULL", "claim"):
		return RuleLoadConnectors
	case has("UTF-8", "is empty", "is NULL", "NUL-terminated", "whitespace"):
		return RuleLoadNames
	case has("ELF", "empty file", "truncated", "not a shared", "no such file", "is a directory", "cannot be loaded", "machine", "class"):
		return RuleLoadFile
	}
	return RuleLoadOther
}

// descriptorChecks are the descriptor rules the loader does not enforce.
func descriptorChecks(p *plugin.Plugin, raw map[string]*rawConnector, emit func(Finding)) {
	for _, c := range p.Connectors {
		rc := raw[c.Name]
		if rc == nil {
			continue
		}
		if rc.vt.Reserved0 != 0 {
			emit(Finding{Severity: SevError, Connector: c.Name, Step: "descriptor", Rule: RuleDescReserved,
				Message: fmt.Sprintf("tremor_connector_vtable.reserved0 is 0x%x, not zero", rc.vt.Reserved0)})
		}
		for i, f := range rc.fields {
			name, _ := cmem.CString(f.Name, 256)
			if f.Reserved != [2]uintptr{} {
				emit(Finding{Severity: SevError, Connector: c.Name, Step: "descriptor", Rule: RuleDescReserved,
					Message: fmt.Sprintf("config field #%d %q: reserved is not NULL", i, name)})
			}
			if f.Flags&abi.FieldRequired != 0 && f.DefaultJSON != 0 {
				def, _ := cmem.CString(f.DefaultJSON, 1024)
				emit(Finding{Severity: SevError, Connector: c.Name, Step: "descriptor", Rule: RuleDescRequiredDefault,
					Message: fmt.Sprintf("config field %q is REQUIRED but declares default_json %s: a required field has no default (drop one of them)", name, def)})
			}
		}
		if !c.IsSource() && (rc.vt.OnAck != 0 || rc.vt.OnFail != 0) {
			emit(Finding{Severity: SevWarning, Connector: c.Name, Step: "descriptor", Rule: RuleDescSourceHooks,
				Message: "a sink-only connector sets on_ack / on_fail; the host never calls them"})
		}
	}
}
