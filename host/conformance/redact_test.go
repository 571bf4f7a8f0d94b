package conformance

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The collector scrubs the secret values of a run's config from every
// finding, whoever wrote the message (a plugin's error text, a crashed
// child's last lines): values of that run's secret fields only once the
// plugin's fields are known, every value before.
func TestCollectorScrubsSecretValues(t *testing.T) {
	opts := &Options{Configs: map[string][]string{
		"vault": {`{"token": "s3cr3t-token", "host": "example.org"}`, `{"token": "other-token"}`},
		"plain": {`{"token": "not-secret-here"}`},
	}}
	rep := &Report{}
	col := newCollector(rep, opts)

	col.finding(Finding{Message: "load failed near s3cr3t-token and example.org"})
	col.plugin(PluginInfo{Connectors: []ConnectorInfo{{Name: "vault", SecretFields: []string{"token"}}, {Name: "plain"}}})
	col.finding(Finding{Connector: "vault", Run: 0, Rule: RuleLifecycle, Message: `on_create failed: bad token "s3cr3t-token" for example.org`})
	col.finding(Finding{Connector: "vault", Run: 1, Rule: RuleLifecycle, Message: "crashed: [token other-token, not s3cr3t-token]"})
	col.finding(Finding{Connector: "plain", Run: 0, Rule: RuleLifecycle, Message: "token not-secret-here"})
	col.finding(Finding{Rule: RuleCrash, Message: "crashed between steps: [other-token]"})

	msgs := []string{}
	for _, f := range rep.Findings {
		msgs = append(msgs, f.Message)
	}
	assert.Equal(t, []string{
		"load failed near <redacted> and <redacted>", // before the fields are known: every value
		`on_create failed: bad token "<redacted>" for example.org`,
		"crashed: [token <redacted>, not s3cr3t-token]", // run 1's secret only
		"token not-secret-here",
		"crashed between steps: [<redacted>]", // plugin-wide: every run's secrets
	}, msgs)
}
