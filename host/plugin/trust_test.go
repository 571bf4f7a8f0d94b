package plugin_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/plugin"
	"tremorhost/tests/testenv"
)

// copyPlugin copies a built plugin into a fresh directory with the given
// modes (each copy is a distinct file, so the loader's cache does not
// answer for it).
func copyPlugin(t *testing.T, fileMode, dirMode os.FileMode) string {
	t.Helper()
	data, err := os.ReadFile(testenv.Fixture(t, "fixture_minimal"))
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "plugins")
	require.NoError(t, os.Mkdir(dir, 0o755))
	path := filepath.Join(dir, "libtremor_copy.so")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	require.NoError(t, os.Chmod(path, fileMode))
	require.NoError(t, os.Chmod(dir, dirMode))
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	return path
}

func TestLoadRefusesFilesOthersCanChange(t *testing.T) {
	tests := []struct {
		name            string
		file, dir       os.FileMode
		wantErr, advice string
	}{
		{"world-writable file", 0o666, 0o755, "the file is writable by group or others (mode 0666)", "chmod go-w"},
		{"group-writable file", 0o775, 0o755, "the file is writable by group or others (mode 0775)", "chmod go-w"},
		{"world-writable directory", 0o755, 0o777, "directory", "chmod go-w"},
		{"sticky world-writable directory", 0o755, 0o777 | os.ModeSticky, "", ""},
		{"private", 0o700, 0o700, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := copyPlugin(t, tt.file, tt.dir)
			p, err := plugin.Load(path)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, "broken", p.Name)
				assert.Equal(t, path, p.Path)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), "refusing to load")
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Contains(t, err.Error(), tt.advice)
		})
	}
}

// nestedPlugin copies a built plugin to <tmp>/top/mid/plugins/ and lets
// change adjust the directories (top, mid) above the plugin's own.
func nestedPlugin(t *testing.T, change func(top, mid string)) string {
	t.Helper()
	data, err := os.ReadFile(testenv.Fixture(t, "fixture_minimal"))
	require.NoError(t, err)
	top := filepath.Join(t.TempDir(), "top")
	mid := filepath.Join(top, "mid")
	dir := filepath.Join(mid, "plugins")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, "libtremor_copy.so")
	require.NoError(t, os.WriteFile(path, data, 0o755))
	t.Cleanup(func() {
		os.Chmod(top, 0o755)
		os.Chmod(mid, 0o755)
		os.Lchown(top, os.Getuid(), os.Getgid())
		os.Lchown(mid, os.Getuid(), os.Getgid())
	})
	change(top, mid)
	return path
}

// Every directory up to / is checked, not only the plugin's own: whoever
// can rename a directory above it can put another file in its place.
func TestLoadRefusesFilesUnderDirectoriesOthersControl(t *testing.T) {
	const nobody = 65534
	tests := []struct {
		name       string
		change     func(top, mid string)
		root       bool   // needs root (to give a directory away; the fix then names uid 0)
		wantDir    string // "top" or "mid": the directory named; "" accepted
		want, hint string
	}{
		{"world-writable ancestor", func(top, mid string) { os.Chmod(top, 0o777) }, false,
			"top", "is writable by group or others (mode 0777) without the sticky bit", "chmod go-w "},
		{"group-writable ancestor", func(top, mid string) { os.Chmod(mid, 0o775) }, false,
			"mid", "is writable by group or others (mode 0775) without the sticky bit", "chmod go-w "},
		{"sticky world-writable ancestor", func(top, mid string) { os.Chmod(top, 0o777|os.ModeSticky) }, false,
			"", "", ""},
		{"ancestor owned by another user", func(top, mid string) { os.Lchown(mid, nobody, nobody) }, true,
			"mid", "is owned by uid 65534, not by you", "chown 0 "},
		{"sticky ancestor owned by another user", func(top, mid string) {
			os.Chmod(top, 0o777|os.ModeSticky)
			os.Lchown(top, nobody, nobody)
		}, true, "top", "is owned by uid 65534", "chown 0 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && os.Getuid() != 0 {
				if os.Getenv("CI") != "" {
					t.Fatal("giving a directory to another user needs root, and CI runs as root: run the test command as root")
				}
				t.Skip("giving a directory to another user needs root")
			}
			var top, mid string
			path := nestedPlugin(t, func(tp, md string) { top, mid = tp, md; tt.change(tp, md) })
			p, err := plugin.Load(path)
			if tt.wantDir == "" {
				require.NoError(t, err)
				assert.Equal(t, "broken", p.Name)
				return
			}
			dir := map[string]string{"top": top, "mid": mid}[tt.wantDir]
			require.Error(t, err)
			assert.Contains(t, err.Error(), "plugin "+path+": refusing to load: directory "+dir+", above it, ")
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), tt.hint+dir)
		})
	}
}

func TestLoadRecordsTheHashOfWhatItLoaded(t *testing.T) {
	path := copyPlugin(t, 0o755, 0o755)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	p, err := plugin.Load(path)
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(sum[:]), p.SHA256)

	// Distinct files loaded one after another stay distinct plugins (the
	// loader knows each by its own /proc/self/fd name).
	other, err := plugin.Load(testenv.Fixture(t, "fixture"))
	require.NoError(t, err)
	assert.NotEqual(t, p.Name, other.Name)
}

// The path to a plugin is checked as named, symlink by symlink: a
// directory others can write that holds a symlink on the way is refused
// even when it is neither above the name nor above the file the links end
// at, since whoever writes it can repoint the link at other code.
func TestLoadChecksThePathAsNamed(t *testing.T) {
	path := copyPlugin(t, 0o755, 0o755) // <tmp>/plugins/libtremor_copy.so
	tmp := t.TempDir()
	open := filepath.Join(tmp, "open")   // 0777: holds a symlink to the file
	named := filepath.Join(tmp, "named") // 0755: holds a relative symlink into open
	require.NoError(t, os.Mkdir(open, 0o755))
	require.NoError(t, os.Mkdir(named, 0o755))
	inner := filepath.Join(open, "inner.so")
	require.NoError(t, os.Symlink(path, inner))
	outer := filepath.Join(named, "libtremor_copy.so")
	require.NoError(t, os.Symlink("../open/inner.so", outer))
	t.Cleanup(func() { os.Chmod(open, 0o755) })

	for _, p := range []string{inner, outer} {
		_, err := plugin.Load(p)
		require.NoError(t, err, "every directory on the way is private: %s", p)
	}

	require.NoError(t, os.Chmod(open, 0o777))
	_, err := plugin.Load(inner)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "plugin "+inner+": refusing to load: its directory "+open+" is writable by group or others (mode 0777) without the sticky bit, so they could repoint the symlink "+inner+" in it at other code; fix with: chmod go-w "+open)

	_, err = plugin.Load(outer)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "plugin "+outer+": refusing to load: directory "+open+", which the symlink "+outer+" leads through, is writable by group or others (mode 0777)")
	assert.Contains(t, err.Error(), "chmod go-w "+open)

	_, err = plugin.Inspect(outer, func(string, *os.File) (*plugin.Description, error) {
		t.Fatal("described a file that should have been refused")
		return nil, nil
	})
	assert.ErrorContains(t, err, "directory "+open+", which the symlink "+outer+" leads through")
	assert.ErrorContains(t, plugin.CheckTrusted(outer), "chmod go-w "+open)

	// The file itself, named by its real path, is still fine.
	_, err = plugin.Load(path)
	require.NoError(t, err)
}
