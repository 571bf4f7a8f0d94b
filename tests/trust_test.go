package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/flow"
	"tremorhost/host/plugin"
	"tremorhost/host/runtime"
	"tremorhost/tests/testenv"
)

const pinnedFlow = `[[connector]]
id = "ticks"
type = "metronome"
plugin_sha256 = "%s"
config = { interval_ms = 1, count = 3 }
[[connector]]
id = "sink"
type = "bench_sink"
[[pipeline]]
id = "p"
[[link]]
from = "ticks"
to = "p"
[[link]]
from = "p"
to = "sink"
`

func TestFlowPinsPluginsBySHA256(t *testing.T) {
	metronome := testenv.Plugin(t, "libtremor_metronome.so")
	data, err := os.ReadFile(metronome)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])
	reg, err := plugin.LoadAll([]string{metronome, testenv.Plugin(t, "libtremor_bench.so")})
	require.NoError(t, err)
	cat := runtime.PluginCatalog{Registry: reg}

	f, err := flow.Parse("pinned.toml", fmt.Appendf(nil, pinnedFlow, good))
	require.NoError(t, err)
	r, err := runtime.New(f, cat, runtime.Options{Log: zerolog.Nop()})
	require.NoError(t, err, "the right hash is accepted")
	_, err = r.Run(t.Context())
	require.NoError(t, err)

	bad := otherHash(good)
	require.NotEqual(t, good, bad)
	f, err = flow.Parse("pinned.toml", fmt.Appendf(nil, pinnedFlow, bad))
	require.NoError(t, err)
	_, err = runtime.New(f, cat, runtime.Options{Log: zerolog.Nop()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pinned.toml:4: connector[0].plugin_sha256: refusing "+metronome)
	assert.Contains(t, err.Error(), good)
	assert.Contains(t, err.Error(), bad)

	_, err = flow.Parse("pinned.toml", fmt.Appendf(nil, pinnedFlow, "sha256:abc"))
	require.ErrorContains(t, err, "pinned.toml:4: connector[0].plugin_sha256: plugin_sha256 \"sha256:abc\" is not a SHA-256 in hex")
}

// otherHash returns a well-formed SHA-256 in hex that differs from h in its
// first digit, whatever h is.
func otherHash(h string) string {
	const digits = "0123456789abcdef"
	next := digits[(strings.IndexByte(digits, h[0])+1)%len(digits)]
	return string(next) + h[1:]
}
