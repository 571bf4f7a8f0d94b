package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"tremorhost/host/plugin"
)

// pluginJSON is one plugin file in list-plugins --json and inspect --json.
// Fields of a file whose descriptor could not be read are null.
type pluginJSON struct {
	Path        string          `json:"path"`
	Name        *string         `json:"name"`
	Version     *string         `json:"version"`
	ABI         *string         `json:"abi"`
	SDK         *string         `json:"sdk"`
	License     *string         `json:"license"`
	Description *string         `json:"description"`
	SHA256      *string         `json:"sha256"` // of the file as loaded: what a flow pins with plugin_sha256
	Connectors  []connectorJSON `json:"connectors"`
	Error       *string         `json:"error"`
}

type connectorJSON struct {
	Name        string      `json:"name"`
	Kinds       []string    `json:"kinds"`
	Description string      `json:"description"`
	Payload     string      `json:"payload"`
	Fields      []fieldJSON `json:"fields"`
}

type fieldJSON struct {
	Name     string          `json:"name"`
	Type     string          `json:"type"`
	Required bool            `json:"required"`
	Secret   bool            `json:"secret"`
	Default  json.RawMessage `json:"default"` // the declared default_json, null for none
	Doc      string          `json:"doc"`
}

func str(s string) *string { return &s }

// optStr is str, or nil for "" (not known).
func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func describe(p *plugin.Plugin, err error) pluginJSON {
	j := pluginJSON{Connectors: []connectorJSON{}}
	if err != nil {
		j.Error = str(err.Error())
	}
	if p == nil {
		return j
	}
	j.Path = p.Path
	j.Name, j.Version, j.ABI = str(p.Name), str(p.Version), str(p.ABI())
	j.SDK, j.License, j.Description = str(p.SDK), str(p.License), str(p.Description)
	j.SHA256 = str(p.SHA256)
	for _, c := range p.Connectors {
		j.Connectors = append(j.Connectors, describeConnector(c))
	}
	return j
}

func describeConnector(c *plugin.Connector) connectorJSON {
	cj := connectorJSON{Name: c.Name, Kinds: c.KindNames(), Description: c.Description, Payload: c.PayloadName(), Fields: []fieldJSON{}}
	for _, f := range c.Fields {
		fj := fieldJSON{Name: f.Name, Type: f.TypeName(), Required: f.Required, Secret: f.Secret, Doc: f.Doc, Default: json.RawMessage("null")}
		if f.HasDefault() {
			fj.Default = json.RawMessage(f.DefaultJSON)
		}
		cj.Fields = append(cj.Fields, fj)
	}
	return cj
}

// listing describes every file of a registry, in order.
func listing(r *plugin.Registry) []pluginJSON {
	out := []pluginJSON{}
	for _, e := range r.Entries {
		j := describe(e.Plugin, e.Err)
		j.Path = e.Path
		if abs, err := filepath.Abs(e.Path); err == nil {
			j.Path = abs
		}
		var le *plugin.LoadError
		if e.Plugin == nil && asLoadError(e.Err, &le) {
			// what was read of the descriptor before it was refused
			j.Name, j.Version, j.ABI = optStr(le.Plugin), optStr(le.Version), optStr(le.ABI)
		}
		out = append(out, j)
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printTable prints list-plugins' table (gst-inspect style), then the files
// that failed with their errors.
func printTable(w io.Writer, r *plugin.Registry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLUGIN\tVERSION\tABI\tSDK\tCONNECTORS\tFILE")
	nconn, nok := 0, 0
	for _, e := range r.Entries {
		if e.Err != nil {
			continue
		}
		p := e.Plugin
		nok++
		conns := make([]string, len(p.Connectors))
		for i, c := range p.Connectors {
			conns[i] = fmt.Sprintf("%s (%s)", c.Name, strings.Join(c.KindNames(), "+"))
		}
		nconn += len(p.Connectors)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Version, p.ABI(), dash(p.SDK), strings.Join(conns, ", "), e.Path)
	}
	tw.Flush()
	failed := 0
	for _, e := range r.Entries {
		if e.Err == nil {
			continue
		}
		if failed == 0 {
			fmt.Fprintln(w, "\nFAILED TO LOAD")
		}
		failed++
		fmt.Fprintf(w, "  %s\n", e.Err)
	}
	fmt.Fprintf(w, "\n%d plugin%s, %d connector type%s", nok, plural(nok), nconn, plural(nconn))
	if failed > 0 {
		fmt.Fprintf(w, "; %d file%s failed to load", failed, plural(failed))
	}
	fmt.Fprintln(w)
}

// printPlugin prints inspect's view of a plugin and its connector types.
func printPlugin(w io.Writer, j pluginJSON) {
	fmt.Fprintf(w, "Plugin %s %s\n", deref(j.Name), deref(j.Version))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  File\t%s\n", j.Path)
	fmt.Fprintf(tw, "  ABI\t%s\n", deref(j.ABI))
	fmt.Fprintf(tw, "  SDK\t%s\n", dash(deref(j.SDK)))
	fmt.Fprintf(tw, "  License\t%s\n", dash(deref(j.License)))
	fmt.Fprintf(tw, "  Description\t%s\n", dash(deref(j.Description)))
	tw.Flush()
	for _, c := range j.Connectors {
		fmt.Fprintf(w, "\nConnector %s (%s; payload %s)\n", c.Name, strings.Join(c.Kinds, " + "), c.Payload)
		if c.Description != "" {
			fmt.Fprintf(w, "  %s\n", c.Description)
		}
		if len(c.Fields) == 0 {
			fmt.Fprintln(w, "  Config fields: none")
			continue
		}
		fmt.Fprintln(w, "  Config fields:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    NAME\tTYPE\tREQUIRED\tSECRET\tDEFAULT\tDOC")
		for _, f := range c.Fields {
			def := "-"
			if string(f.Default) != "null" {
				def = string(f.Default)
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%s\n", f.Name, f.Type, yesNo(f.Required), yesNo(f.Secret), def, dash(f.Doc))
		}
		tw.Flush()
	}
}

func deref(s *string) string {
	if s == nil {
		return "?"
	}
	return *s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
