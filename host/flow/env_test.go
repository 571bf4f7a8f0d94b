package flow

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpand(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cr\"et\n"), 0o600))
	env := map[string]string{"HOST": "example.org", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	file := filepath.Join(dir, "f.toml")
	tests := []struct {
		in, want, err string
	}{
		{in: `a = "${HOST}"`, want: `a = "example.org"`},
		{in: `a = "${MISSING:-dflt}"`, want: `a = "dflt"`},
		{in: `a = "${EMPTY:-dflt}"`, want: `a = "dflt"`},
		{in: `a = "$$HOST $x"`, want: `a = "$HOST $x"`},
		{in: `a = "${file:pw}"`, want: `a = "s3cr\"et"`},
		{in: "# ${MISSING}\nb = 1", want: "# ${MISSING}\nb = 1"},
		{in: "x = 1\na = \"${MISSING}\"", err: "f.toml:2: ${MISSING}: environment variable MISSING is not set"},
		{in: `a = "${file:nope}"`, err: "f.toml:1: ${file:" + filepath.Join(dir, "nope") + "}: no such file"},
		{in: "a = \"${MISSING}\"\nb = 1\nc = \"${ALSO_MISSING}\"", err: "f.toml:1: ${MISSING}: environment variable MISSING is not set; set it, or give a default with ${MISSING:-default}; line 3: ${ALSO_MISSING}: environment variable ALSO_MISSING is not set"},
		{in: `a = "${HOST"`, err: "has no closing }"},
		{in: `a = "${1x}"`, err: "is not a variable name"},
	}
	for _, tc := range tests {
		got, err := expand(file, []byte(tc.in), lookup)
		if tc.err != "" {
			require.Error(t, err, tc.in)
			assert.Contains(t, err.Error(), tc.err)
			assert.Equal(t, 1, strings.Count(err.Error(), file), "the file is named once: %s", err)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, string(got))
	}
	assert.Equal(t, "pw=<redacted>", Redact("pw=s3cr\"et"))
	assert.Equal(t, map[string]any{"n": map[string]any{"h": "<redacted>:1"}, "p": 1}, RedactConfig(map[string]any{"n": map[string]any{"h": "example.org:1"}, "p": 1}))
}

// A value with a quote or newline stays inside its string: the flow's
// structure and line numbers do not change.
func TestExpandKeepsStructure(t *testing.T) {
	t.Setenv("TRICKY", "a\"\nname = \"evil")
	data, err := expand("t.toml", []byte("[flow]\nname = \"${TRICKY}\"\nx = 1\n"), os.LookupEnv)
	require.NoError(t, err)
	assert.Equal(t, 3, strings.Count(string(data), "\n"))
	var doc map[string]map[string]any
	_, err = toml.Decode(string(data), &doc)
	require.NoError(t, err)
	assert.Equal(t, "a\"\nname = \"evil", doc["flow"]["name"])
}
