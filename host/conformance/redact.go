package conformance

import (
	"encoding/json"
	"strings"

	"tremorhost/host/plugin"
)

// Values of config fields a plugin declares secret never reach check-plugin's
// output: the config a run shows is redacted where the connector is known
// (shownConfig, in the process that runs the check), and every finding's
// message is scrubbed of the secret values given in Options.Configs (the
// collector, which also sees what the parent itself reports, such as a
// crashed child's last output lines).

// redactedText replaces a config that cannot be parsed: its secret values
// cannot be told from the rest, so none of it is shown.
const redactedText = "<not shown: not a JSON object>"

// minScrubLen is the shortest secret value scrubbed from messages: shorter
// ones would blank out unrelated text (they are still redacted from the
// config shown).
const minScrubLen = 3

// shownConfig is a run's config text as the report shows it: the values of
// secret fields replaced by "<redacted>" (plugin.Connector.Redacted), or
// nothing of it when it is not a JSON object.
func shownConfig(c *plugin.Connector, text string) string {
	if strings.TrimSpace(text) == "" {
		return ""
	}
	m, err := parseConfig(text)
	if err != nil {
		return redactedText
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<redacted>" as it reads
	if err := enc.Encode(c.Redacted(m)); err != nil {
		return redactedText
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// secretFields lists the names of c's fields declared secret.
func secretFields(c *plugin.Connector) []string {
	var out []string
	for _, f := range c.Fields {
		if f.Secret {
			out = append(out, f.Name)
		}
	}
	return out
}

// scrubber removes secret values from messages.
type scrubber struct {
	configs map[string][]string // Options.Configs
	secret  map[string][]string // connector -> its secret field names
}

// learn records the secret fields of every connector of the plugin.
func (s *scrubber) learn(p PluginInfo) {
	s.secret = map[string][]string{}
	for _, c := range p.Connectors {
		s.secret[c.Name] = c.SecretFields
	}
}

// values returns the secret values of connector's run-th config, or of
// every config when connector is "" (a plugin-wide finding).
func (s *scrubber) values(connector string, run int) []string {
	var out []string
	for name, cfgs := range s.configs {
		if connector != "" && name != connector {
			continue
		}
		for i, text := range cfgs {
			if connector != "" && i != run {
				continue
			}
			out = append(out, s.secretValues(name, text)...)
		}
	}
	return out
}

// secretValues returns the text of the secret fields' values in one config.
// Before the plugin's fields are known every string or number value counts.
func (s *scrubber) secretValues(connector, text string) []string {
	m, err := parseConfig(text)
	if err != nil {
		return nil
	}
	var out []string
	add := func(v any) {
		var t string
		switch x := v.(type) {
		case string:
			t = x
		case json.Number:
			t = x.String()
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return
			}
			t = string(b)
		}
		if len(t) >= minScrubLen {
			out = append(out, t)
		}
	}
	names, known := s.secret[connector]
	if !known {
		for _, v := range m {
			add(v)
		}
		return out
	}
	for _, n := range names {
		if v, ok := m[n]; ok && v != nil {
			add(v)
		}
	}
	return out
}

// scrub replaces every secret value of the run in msg.
func (s *scrubber) scrub(connector string, run int, msg string) string {
	for _, v := range s.values(connector, run) {
		msg = strings.ReplaceAll(msg, v, "<redacted>")
		if q, err := json.Marshal(v); err == nil { // as a %q or JSON string shows it
			msg = strings.ReplaceAll(msg, strings.Trim(string(q), `"`), "<redacted>")
		}
	}
	return msg
}
