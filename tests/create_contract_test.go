package tests

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"tremorhost/host/isolate"
	"tremorhost/tests/testenv"
)

// on_create may answer TREMOR_OK or an error, nothing else (header rule
// on results). A plugin answering TREMOR_RETRY, TREMOR_END or a code that
// is no result, or that swaps the error buffer, broke the contract: the
// flow is refused, naming the plugin, what it answered and where to look,
// the same in the host and isolated, for run and validate; nothing runs.
// Each case is a build of the fault plugin whose on_create answers so.
func TestCreateAnswersOutsideTheContract(t *testing.T) {
	const at = "created:;\n  int32_t rc = faults_at(f, \"create\", err);"
	for _, c := range []struct {
		name, code, want string
	}{
		{"TREMOR_RETRY", "free(f); return TREMOR_RETRY;", "on_create returned TREMOR_RETRY instead of TREMOR_OK or an error"},
		{"TREMOR_END", "free(f); return TREMOR_END;", "on_create returned TREMOR_END instead of TREMOR_OK or an error"},
		{"a code that is no result", "free(f); return 7;", "returned 7, which is not a result code of ABI 1."},
		{"the error buffer swapped", "static char other[8]; free(f); err->msg = other; err->len = 0; return TREMOR_ERR_FAILED;",
			"the plugin changed the error buffer's msg or cap; message dropped"},
	} {
		lib := testenv.CBuild(t, "tests/faults/c-faults/fault.c", at, "created:;\n  { "+c.code+" }\n  int32_t rc = faults_at(f, \"create\", err);")
		plugins := t.TempDir()
		copyFile(t, lib, filepath.Join(plugins, "libtremor_fault.so"))
		for _, iso := range []string{"none", "process"} {
			for _, cmd := range []string{"validate", "run"} {
				t.Run(fmt.Sprintf("%s/%s/%s", c.name, iso, cmd), func(t *testing.T) {
					flowFile := faultFlowFile(t, "", "", iso)
					code, stdout, stderr := tremorctlExit(t, t.TempDir(), []string{isolate.EnvRunner + "=" + isoRunner(t)},
						cmd, "--plugin-path", plugins, flowFile)
					assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 10))
					assert.NotContains(t, stdout, "ok")
					noCrash(t, stderr)
					last := lastLines(stderr, 1)
					assert.Contains(t, last, `connector "src" (type fault)`, "the first connector created is refused")
					assert.Contains(t, last, `plugin "fault"`)
					assert.Contains(t, last, c.want)
					if cmd == "run" { // no event moved
						rows := statsTable(t, stderr)
						assert.Equal(t, [6]uint64{}, rows["src"])
						assert.Equal(t, [6]uint64{}, rows["dst"])
					}
				})
			}
		}
	}
}
