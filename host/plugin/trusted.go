package plugin

import "os"

// CheckTrusted applies the rules plugin files are held to (checkPermissions:
// only its owner, you or root, can change the file or replace it through
// any directory above it) to another file whose code the host runs:
// tremor-runner (host/isolate), which runs every isolated plugin and every
// scan. The error says what is wrong and which chmod or chown fixes it.
func CheckTrusted(path string) error {
	abs, err := absPath(path)
	if err != nil {
		return err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return err
	}
	return checkPermissions(abs, st)
}
