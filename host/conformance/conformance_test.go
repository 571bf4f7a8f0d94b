package conformance_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/conformance"
	"tremorhost/tests/testenv"
)

// The test binary is also the check's child process: Check re-executes it
// with childEnv set, and TestMain (after package initialisation, which
// matters: see RunChild) runs the child side instead of the tests.
const childEnv = "TREMOR_CONFORMANCE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(conformance.RunChild())
	}
	os.Exit(m.Run())
}

func child() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1")
	return cmd
}

func errorIDs(rep *conformance.Report) []string {
	var ids []string
	for _, f := range rep.Findings {
		if f.Severity == conformance.SevError && !contains(ids, f.Rule.ID) {
			ids = append(ids, f.Rule.ID)
		}
	}
	return ids
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func dump(rep *conformance.Report) string {
	var b bytes.Buffer
	rep.WriteText(&b)
	return b.String()
}

func TestRuleCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range conformance.AllRules {
		assert.NotEmpty(t, r.ID)
		assert.NotEmpty(t, r.Text, r.ID)
		assert.False(t, seen[r.ID], "rule id %s twice", r.ID)
		seen[r.ID] = true
		got, ok := conformance.RuleByID(r.ID)
		assert.True(t, ok)
		assert.Equal(t, r, got)
	}
	_, ok := conformance.RuleByID("no.such.rule")
	assert.False(t, ok)
}

// The loader's refusals map to the rule each one enforces.
func TestLoadRefusalsNameTheirRule(t *testing.T) {
	cases := map[string]string{
		"fixture_no_entry":         "load.entry",
		"fixture_null_descriptor":  "load.descriptor_null",
		"fixture_abi_major":        "load.abi",
		"fixture_abi_minor":        "load.abi",
		"fixture_small_descriptor": "load.struct_size",
		"fixture_small_connector":  "load.struct_size",
		"fixture_vtable_size_zero": "load.struct_size",
		"fixture_no_connectors":    "load.connectors",
		"fixture_dup_connector":    "load.connectors",
		"fixture_no_create":        "load.hooks",
		"fixture_no_pull":          "load.hooks",
		"fixture_no_send":          "load.hooks",
		"fixture_no_vtable":        "load.vtable",
		"fixture_no_kinds":         "load.kinds",
		"fixture_bad_utf8":         "load.names",
		"fixture_bad_default":      "load.fields",
		"fixture_bad_default_json": "load.fields",
		"fixture_bad_field_type":   "load.fields",
	}
	for name, rule := range cases {
		t.Run(name, func(t *testing.T) {
			rep := conformance.CheckInProcess(conformance.Options{File: testenv.Fixture(t, name), LeakCycles: -1})
			assert.Equal(t, []string{rule}, errorIDs(rep), dump(rep))
			assert.Nil(t, rep.Plugin)
			assert.Equal(t, 1, rep.ExitCode())
		})
	}
}

// The fixture plugin's misbehave modes (tests/fixtures/fixture.c), checked
// in this process: each breaks (at least) the rules listed. (The fixture
// breaks a few more on the side: it reads its config without checking
// kinds, and some modes also overrun a tiny room; tests/faults has the
// exact cases.)
func TestFixtureMisbehaviour(t *testing.T) {
	file := testenv.Fixture(t, "fixture")
	cases := map[string][]string{
		"events_len_over_cap":   {"batch.events_len"},
		"bytes_len_over_cap":    {"batch.bytes_len"},
		"payload_outside":       {"event.payload"},
		"payload_overflow":      {"event.payload"},
		"bad_flags":             {"event.flags"},
		"bad_port":              {"event.port"},
		"moved_arena":           {"batch.header"},
		"meta_outside":          {"event.value"},
		"meta_bad_tree":         {"event.value"},
		"structured_bad_string": {"event.payload_kind", "event.value"},
		"no_room_fits":          {"pull.no_room_needed"},
		"no_room_huge":          {"pull.no_room_needed"},
		"send_modifies":         {"send.read_only"},
		"error_len_over_cap":    {"error.len", "lifecycle.step"},
	}
	for mode, rules := range cases {
		t.Run(mode, func(t *testing.T) {
			rep := conformance.CheckInProcess(conformance.Options{
				File: file, Connectors: []string{"fixture_echo"}, LeakCycles: -1, PhaseTime: 500 * time.Millisecond,
				Configs: map[string][]string{"fixture_echo": {`{"count": 3, "misbehave": "` + mode + `"}`}},
			})
			got := errorIDs(rep)
			for _, r := range rules {
				assert.Contains(t, got, r, dump(rep))
			}
		})
	}
}

// A connector with a required field and no --config cannot be checked:
// that is an error saying which --config to pass.
func TestRequiredConfigIsAskedFor(t *testing.T) {
	rep := conformance.CheckInProcess(conformance.Options{File: testenv.Plugin(t, "libtremor_file.so"), LeakCycles: -1})
	f := rep.Find("check.config", conformance.SevError, "file")
	require.NotNil(t, f, dump(rep))
	assert.Contains(t, f.Message, `"path"`)
	assert.Contains(t, f.Message, "--config file=")
	assert.Equal(t, "skipped", rep.Runs[0].Status)

	rep = conformance.CheckInProcess(conformance.Options{File: testenv.Plugin(t, "libtremor_file.so"), LeakCycles: -1,
		Configs: map[string][]string{"nosuch": {"{}"}, "file": {`{"path": "/nonexistent/x"}`}}})
	assert.True(t, rep.Has("check.config", conformance.SevError, ""), dump(rep))
}

// In a child process, a crash and a hang are findings, not the end of the
// check; the runs after them are still checked. (The hang costs the hook
// timeout plus 2 s; time the child spends waiting for a CPU is added to
// the limit, so a loaded machine does not make the healthy run look hung.)
func TestIsolatedCrashAndHang(t *testing.T) {
	rep, err := conformance.Check(conformance.Options{
		File:        testenv.Fixture(t, "fault"),
		LeakCycles:  -1,
		HookTimeout: 2 * time.Second,
		Configs: map[string][]string{"fault": {
			`{"crash_at": "start"}`,
			`{"hang_at": "pull"}`,
			`{}`,
		}},
	}, child)
	require.NoError(t, err)
	require.Len(t, rep.Runs, 3, dump(rep))
	assert.Equal(t, "crashed", rep.Runs[0].Status)
	assert.Equal(t, "hung", rep.Runs[1].Status)
	assert.Equal(t, "ok", rep.Runs[2].Status, dump(rep))
	crash := rep.Find("lifecycle.crash", conformance.SevError, "fault")
	require.NotNil(t, crash)
	assert.Equal(t, "on_start", crash.Step)
	assert.Contains(t, crash.Message, "crashed during on_start")
	assert.Contains(t, crash.Message, "SIGSEGV")
	hang := rep.Find("lifecycle.hang", conformance.SevError, "fault")
	require.NotNil(t, hang)
	assert.True(t, strings.HasPrefix(hang.Step, "on_pull"), hang.Step)
	assert.False(t, rep.Passed)
}

// The JSON report round-trips and carries the rule with every finding.
func TestReportJSON(t *testing.T) {
	rep := conformance.CheckInProcess(conformance.Options{
		File: testenv.Fixture(t, "fault"), LeakCycles: -1,
		Configs: map[string][]string{"fault": {`{"misbehave": "bad_port"}`}},
	})
	var b bytes.Buffer
	require.NoError(t, rep.WriteJSON(&b))
	var back conformance.Report
	require.NoError(t, json.Unmarshal(b.Bytes(), &back))
	assert.Equal(t, rep.Errors, back.Errors)
	require.NotEmpty(t, back.Findings)
	f := back.Find("event.port", conformance.SevError, "fault")
	require.NotNil(t, f)
	assert.Equal(t, conformance.RuleEventPort, f.Rule)
	assert.Equal(t, "fault", back.Plugin.Name)
}

// The value of a field the plugin declares secret appears nowhere in the
// report, text or JSON; the other values of the config do.
func TestReportRedactsSecrets(t *testing.T) {
	const secret = "hunter2-very-secret"
	rep := conformance.CheckInProcess(conformance.Options{
		File: testenv.Fixture(t, "fixture"), LeakCycles: -1, Connectors: []string{"fixture_types"},
		Configs: map[string][]string{"fixture_types": {`{"host": "example.org", "password": "` + secret + `"}`}},
	})
	require.Len(t, rep.Runs, 1, dump(rep))
	assert.Equal(t, `{"host":"example.org","password":"<redacted>"}`, rep.Runs[0].Config)
	require.NotNil(t, rep.Plugin)
	for _, c := range rep.Plugin.Connectors {
		if c.Name == "fixture_types" {
			assert.Equal(t, []string{"password"}, c.SecretFields)
		}
	}
	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	text := dump(rep)
	for _, out := range []string{text, js.String()} {
		assert.NotContains(t, out, secret)
		assert.Contains(t, out, "example.org")
		assert.Contains(t, out, "<redacted>")
	}
}
