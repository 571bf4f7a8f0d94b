package plugin_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/plugin"
	"tremorhost/tests/testenv"
)

// A relative search-path entry is refused, naming where it came from and
// the absolute path to write instead; the absolute entries are still
// searched.
func TestSearchRefusesRelativeEntries(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(testenv.Fixture(t, "fixture_minimal"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "libtremor_x.so"), data, 0o755))
	t.Chdir(dir)
	cwd, err := os.Getwd()
	require.NoError(t, err)

	tests := []struct {
		name, env, entry, origin string
	}{
		{"from the flag", "", "sub/plugins", "--plugin-path entry"},
		{"from the environment", "/elsewhere:sub/plugins", "sub/plugins", "TREMOR_PLUGIN_PATH entry"},
		{"the current directory", ".", ".", "TREMOR_PLUGIN_PATH entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(plugin.EnvPluginPath, tt.env)
			files, err := plugin.Search(nil, []string{tt.entry, dir}, zerolog.Nop())
			require.Error(t, err)
			assert.Equal(t, []string{filepath.Join(dir, "libtremor_x.so")}, files, "the absolute entry is searched")
			assert.ErrorContains(t, err, tt.origin+` "`+tt.entry+`" is relative`)
			assert.ErrorContains(t, err, "use an absolute path, e.g. "+filepath.Join(cwd, tt.entry))
		})
	}

	// Explicit paths (tremorctl list-plugins PATH) are named by the user:
	// relative ones are taken.
	files, err := plugin.Search([]string{"."}, nil, zerolog.Nop())
	require.NoError(t, err)
	assert.Equal(t, []string{"libtremor_x.so"}, files)
}
