package plugin

import (
	"os"
	"path/filepath"
)

// CheckTrusted applies the rules plugin files are held to (checkPermissions:
// only its owner, you or root, can change the file or replace it through
// any directory above it, or through a symlink on the way to it as named)
// to another file whose code the host runs:
// tremor-runner (host/isolate), which runs every isolated plugin and every
// scan. The error says what is wrong and which chmod or chown fixes it.
func CheckTrusted(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := checkRoute(abs); err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	st, err := os.Stat(abs)
	if err != nil {
		return err
	}
	return checkPermissions(abs, st)
}
