package tests

// What a flow does when a plugin breaks the contract (header rule 8),
// through build/bin/tremorctl as a subprocess: the offending batch is
// failed back or discarded, never counted as delivered; on_drain and on_stop
// still come, once each; the break is reported once.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// faultConn is a fault connector's table body with the string codec.
func faultConn(config string) string {
	return fmt.Sprintf("type = \"fault\"\ncodec = \"string\"\nconfig = { %s }", config)
}

// logLines counts the JSON log lines of stderr that contain every one of
// substrs.
func logLines(stderr string, substrs ...string) int {
	n := 0
lines:
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		for _, s := range substrs {
			if !strings.Contains(line, s) {
				continue lines
			}
		}
		n++
	}
	return n
}

// A sink that breaks the contract in on_send: whatever outcomes it wrote,
// every event of the batch goes back to the source as failed (before, a
// sink that modified its batch had its events acked: data loss).
func TestCLISinkContractBreakFailsTheBatch(t *testing.T) {
	plugins := faultPath(t)
	for _, tc := range []struct{ misbehave, rule string }{
		{"send_modifies", "modified the batch header it was given to read"},
		{"bad_outcome", "outcomes[0] is 7, not a TREMOR_OUTCOME_* value"},
		{"end_from_send", "returned TREMOR_END, which only on_pull may answer"},
	} {
		t.Run(tc.misbehave, func(t *testing.T) {
			t.Parallel()
			sink := faultConn(fmt.Sprintf("misbehave = %q", tc.misbehave))
			path := writeFlow(t, t.TempDir(), "brk.toml", fmt.Sprintf(twoConnectors, "brk", faultConn("count = 10"), sink))
			code, _, stderr := ctl(t, "run", "--plugin-path", plugins, "--drain-timeout", "10s", path)
			assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
			noCrash(t, stderr)
			rows := statsTable(t, stderr)
			assert.Equal(t, row{10, 10, 0, 0, 10, 0}, rows["src"], "every event failed back, none acked")
			assert.Equal(t, uint64(10), rows["dst"][colIn])
			assert.Equal(t, uint64(0), rows["dst"][colOut], "nothing counted as delivered")
			assert.Equal(t, uint64(10), rows["dst"][colFails])
			assert.Contains(t, stderr, `tremorctl: flow "brk"`)
			assert.Contains(t, stderr, `connector "dst" (type fault)`)
			assert.Equal(t, 1, logLines(stderr, tc.rule), "the break is logged once:\n%s", lastLines(stderr, 20))
			assert.Contains(t, stderr, `plugin "fault" broke the plugin contract while sending events: `)
			assert.Zero(t, logLines(stderr, "drain failed"), "drain was not skipped or refused:\n%s", lastLines(stderr, 20))
			assert.Zero(t, logLines(stderr, "stop failed"), "stop was not skipped or refused:\n%s", lastLines(stderr, 20))
		})
	}
}

// After a break the host still calls on_drain and on_stop, once each: a
// plugin told to fail there says so, once. After TREMOR_ERR_PANIC neither
// is called (no warning about them either).
func TestCLIContractBreakStillEndsInOrder(t *testing.T) {
	plugins := faultPath(t)
	for _, tc := range []struct {
		name, sink, want string
	}{
		{"drain after a break", `misbehave = "send_modifies", fail_at = "drain"`, "fault: told to fail at drain"},
		{"stop after a break", `misbehave = "send_modifies", fail_at = "stop"`, "fault: told to fail at stop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFlow(t, t.TempDir(), "end.toml", fmt.Sprintf(twoConnectors, "end", faultConn("count = 10"), faultConn(tc.sink)))
			code, _, stderr := ctl(t, "run", "--plugin-path", plugins, "--drain-timeout", "10s", path)
			assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
			noCrash(t, stderr)
			assert.Equal(t, 1, logLines(stderr, tc.want), "called once:\n%s", lastLines(stderr, 20))
			assert.Equal(t, row{10, 10, 0, 0, 10, 0}, statsTable(t, stderr)["src"])
		})
	}
	t.Run("nothing but destroy after a panic", func(t *testing.T) {
		t.Parallel()
		src := faultConn(`fail_at = "pull", fail_code = -7`)
		path := writeFlow(t, t.TempDir(), "panic.toml", fmt.Sprintf(twoConnectors, "panic", src, faultConn("")))
		code, _, stderr := ctl(t, "run", "--plugin-path", plugins, "--drain-timeout", "10s", path)
		assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
		noCrash(t, stderr)
		assert.Contains(t, stderr, `plugin "fault" crashed while reading events: `)
		assert.Contains(t, stderr, "it is not called again: the connector stops")
		assert.NotContains(t, stderr, "TREMOR_ERR_", "the code's name is for --log-level debug")
		assert.Zero(t, logLines(stderr, `"src"`, "drain failed"), "%s", lastLines(stderr, 20))
		assert.Zero(t, logLines(stderr, `"src"`, "stop failed"), "%s", lastLines(stderr, 20))
		assert.Equal(t, row{0, 0, 1, 0, 0, 0}, statsTable(t, stderr)["src"])
	})
}

// A pull answered with a code on_pull may not return: the events it wrote
// are discarded, never routed (before, they reached the sink).
func TestCLIPullContractBreakDiscardsEvents(t *testing.T) {
	plugins := faultPath(t)
	src := faultConn(`misbehave = "retry_from_pull", count = 10`)
	path := writeFlow(t, t.TempDir(), "pull.toml", fmt.Sprintf(twoConnectors, "pull", src, faultConn("")))
	code, _, stderr := ctl(t, "run", "--plugin-path", plugins, "--drain-timeout", "10s", path)
	assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
	noCrash(t, stderr)
	assert.Contains(t, stderr, `connector "src" (type fault)`)
	assert.Equal(t, 1, logLines(stderr, "returned TREMOR_RETRY, which only on_connect may answer"), "%s", lastLines(stderr, 20))
	rows := statsTable(t, stderr)
	assert.Equal(t, uint64(0), rows["src"][colIn], "no event taken from the offending pull")
	assert.Equal(t, row{}, rows["dst"], "nothing reached the sink")
}

// A connector that is both source and sink of one flow is drained once,
// after its last send (both roles used to call on_drain).
func TestCLIDrainOncePerInstance(t *testing.T) {
	plugins := faultPath(t)
	flow := `
[flow]
name = "loop"
batch_size = 16

[[connector]]
id = "io"
` + faultConn(`count = 10, fail_at = "drain"`) + `

[[pipeline]]
id = "p"

[[link]]
from = "io"
to = "p"
[[link]]
from = "p"
to = "io"
`
	path := writeFlow(t, t.TempDir(), "loop.toml", flow)
	code, _, stderr := ctl(t, "run", "--plugin-path", plugins, "--drain-timeout", "10s", path)
	noCrash(t, stderr)
	assert.Equal(t, 1, logLines(stderr, "drain failed", "fault: told to fail at drain"), "on_drain called once:\n%s", lastLines(stderr, 20))
	// the row adds up both roles: 10 pulled and 10 received, 10 routed and
	// 10 delivered, 10 acked
	assert.Equal(t, row{20, 20, 0, 10, 0, 0}, statsTable(t, stderr)["io"], "every event delivered and acked:\n%s", lastLines(stderr, 20))
	assert.Equal(t, 0, code, "a failing on_drain is a warning, not a failed run")
}
