package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/tests/testenv"
)

// The README's sample flow is one tremorctl accepts, and the error the
// README quotes for a misspelt codec in it is the one tremorctl prints.
func TestReadmeSampleFlow(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testenv.Root(t), "README.md"))
	require.NoError(t, err)
	text := string(readme)
	_, section, ok := strings.Cut(text, "\n## Flows\n")
	require.True(t, ok, "README.md has a section ## Flows")
	_, block, ok := strings.Cut(section, "```toml\n")
	require.True(t, ok, "## Flows starts with a TOML flow")
	block, _, _ = strings.Cut(block, "```")

	dir := t.TempDir()
	writeFlow(t, dir, "flow.toml", block)
	code, stdout, stderr := tremorctlExit(t, dir, nil, "validate", "flow.toml")
	require.Equal(t, 0, code, "the README's flow:\n%s\nstderr:\n%s", block, stderr)
	assert.Equal(t, "flow.toml: ok (2 connectors, 1 pipeline, 3 links)\n", stdout)

	quoted := regexp.MustCompile("`(flow\\.toml:\\d+: connector\\[\\d+\\]\\.codec: unknown codec \"jsn\" [^`]*)`").FindStringSubmatch(text)
	require.NotNil(t, quoted, "the README quotes the error for codec \"jsn\"")
	writeFlow(t, dir, "flow.toml", strings.Replace(block, `codec = "json"`, `codec = "jsn"`, 1))
	code, _, stderr = tremorctlExit(t, dir, nil, "validate", "flow.toml")
	assert.Equal(t, 1, code)
	assert.Equal(t, "tremorctl: "+quoted[1]+"\n", stderr)
}
