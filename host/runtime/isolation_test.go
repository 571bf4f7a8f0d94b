package runtime_test

import (
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/flow"
	"tremorhost/host/inproc"
	"tremorhost/host/runtime"
)

// Connectors built into the host cannot run in a child process: asking
// for it is refused when the flow is checked, naming the key; "auto" and
// "none" run them in the host.
func TestIsolationOfBuiltInTypes(t *testing.T) {
	src := func(iso string) string {
		return `
[[connector]]
id = "gen"
type = "inproc_bench_source"
isolation = "` + iso + `"
preprocessors = ["lines"]
config = { count = 10 }
[[connector]]
id = "sink"
type = "inproc_bench_sink"
postprocessors = ["lines"]
[[pipeline]]
id = "p"
[[link]]
from = "gen"
to = "p"
[[link]]
from = "p"
to = "sink"
`
	}
	f, err := flow.Parse("iso.toml", []byte(src("process")))
	require.NoError(t, err)
	_, err = runtime.New(f, inproc.Catalog{}, runtime.Options{Log: zerolog.Nop()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "iso.toml:5: connector[0].isolation")
	assert.Contains(t, err.Error(), `isolation = "process" applies to plugin connectors only`)
	for _, iso := range []string{"auto", "none"} {
		f, err := flow.Parse("iso.toml", []byte(src(iso)))
		require.NoError(t, err)
		_, err = runtime.New(f, inproc.Catalog{}, runtime.Options{Log: zerolog.Nop()})
		assert.NoError(t, err, iso)
	}
}
