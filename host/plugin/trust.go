package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// checkPermissions refuses a plugin file that someone other than its owner
// could replace: a file writable by group or others, a directory that lets
// group or others rename or replace it (writable without the sticky bit),
// or a file owned by another user than the one running the host (or root).
// The host runs the code in the file with its own rights, so whoever can
// change the file can run code as the host.
func checkPermissions(path string, st os.FileInfo) error {
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("refusing to load: the file is writable by group or others (mode %04o), so they could change the code this host runs; fix with: chmod go-w %s", st.Mode().Perm(), path)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if uid := uint32(os.Getuid()); sys.Uid != uid && sys.Uid != 0 {
			return fmt.Errorf("refusing to load: the file is owned by uid %d, not by you (uid %d) or root; fix with: chown %d %s (after checking where it came from)", sys.Uid, uid, uid, path)
		}
	}
	dir := filepath.Dir(path)
	dst, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if dst.Mode().Perm()&0o022 != 0 && dst.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("refusing to load: its directory %s is writable by group or others (mode %04o) without the sticky bit, so they could replace the file; fix with: chmod go-w %s", dir, dst.Mode().Perm(), dir)
	}
	return nil
}

// openVerified opens path, hashes its content and returns the hash with a
// path that names the very file hashed (/proc/self/fd/N), so that what is
// loaded is what was hashed even if the file is replaced in between. The
// caller closes the file after loading it.
func openVerified(path string) (f *os.File, loadPath, digest string, err error) {
	f, err = os.Open(path)
	if err != nil {
		return nil, "", "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		f.Close()
		return nil, "", "", err
	}
	loadPath = fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	if _, err := os.Stat(loadPath); err != nil {
		loadPath = path // no /proc: fall back to the path itself
	}
	return f, loadPath, hex.EncodeToString(h.Sum(nil)), nil
}

// loadedFiles keeps every loaded plugin file open for ever, as long as its
// library stays loaded: the dynamic loader knows the library by its
// /proc/self/fd/N name, and a closed fd's number would be reused by the
// next plugin, which the loader would then take for the one already loaded.
var loadedFiles struct {
	sync.Mutex
	files []*os.File
}

func keepOpen(f *os.File) {
	loadedFiles.Lock()
	defer loadedFiles.Unlock()
	loadedFiles.files = append(loadedFiles.files, f)
}

// Redacted returns cfg with the values of fields declared secret replaced,
// for logging.
func (c *Connector) Redacted(cfg map[string]any) map[string]any {
	out := make(map[string]any, len(cfg))
	for k, v := range cfg {
		if f := c.Field(k); f != nil && f.Secret {
			v = "<redacted>"
		}
		out[k] = v
	}
	return out
}
