package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// checkPermissions refuses a plugin file that someone other than its owner
// could replace: a file writable by group or others, a directory on the way
// to it (its own and every one above it, up to /) that lets group or others
// rename or replace what is in it (writable without the sticky bit), or a
// file or such a directory owned by another user than the one running the
// host (or root), who could change its mode. The host runs the code in the
// file with its own rights, so whoever can change the file can run code as
// the host. path is absolute and free of symlinks (absPath), so its
// ancestors are the directories the file is really reached through.
func checkPermissions(path string, st os.FileInfo) error {
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("refusing to load: the file is writable by group or others (mode %04o), so they could change the code this host runs; fix with: chmod go-w %s", st.Mode().Perm(), path)
	}
	uid := uint32(os.Getuid())
	if owner, ok := ownerOf(st); ok && owner != uid && owner != 0 {
		return fmt.Errorf("refusing to load: the file is owned by uid %d, not by you (uid %d) or root; fix with: chown %d %s (after checking where it came from)", owner, uid, uid, path)
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if err := checkDirectory(dir, path, uid); err != nil {
			return err
		}
		if parent := filepath.Dir(dir); parent == dir {
			return nil
		}
	}
}

// checkDirectory applies checkPermissions' rules to dir, one of the
// directories above file.
func checkDirectory(dir, file string, uid uint32) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot check directory %s: %w", dir, unwrapPathError(err))
	}
	which := "its directory " + dir
	if dir != filepath.Dir(file) {
		which = "directory " + dir + ", above it,"
	}
	if st.Mode().Perm()&0o022 != 0 && st.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("refusing to load: %s is writable by group or others (mode %04o) without the sticky bit, so they could replace the file; fix with: chmod go-w %s (or move the plugin to a directory only you can write)", which, st.Mode().Perm(), dir)
	}
	if owner, ok := ownerOf(st); ok && owner != uid && owner != 0 {
		return fmt.Errorf("refusing to load: %s is owned by uid %d, not by you (uid %d) or root, so its owner could replace the file; fix with: chown %d %s (after checking what is in it), or move the plugin to a directory you own", which, owner, uid, uid, dir)
	}
	return nil
}

// maxRouteLinks bounds the symlinks checkRoute follows (the kernel's limit
// is 40); past it the path is left to fail where it is opened.
const maxRouteLinks = 40

// checkRoute applies checkDirectory's rules to the path as named, before
// its symlinks are resolved: every directory the lookup of named passes
// through (each one above it as written, and each one a symlink on the way
// leads through) must not let group or others replace what is in it, and
// every symlink on the way must be yours or root's. Checking only the
// resolved path would miss the directory holding a symlink: whoever can
// write it can repoint the link to other code, even between the check and
// the load. named is absolute and clean. A part of the path that does not
// exist ends the check (nil): opening the file reports it.
func checkRoute(named string) error {
	uid := uint32(os.Getuid())
	checked := map[string]bool{}
	resolved := string(filepath.Separator)
	rest := splitPath(named)
	via := ""  // the last symlink followed, for the messages
	links := 0 // symlinks followed
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, name)
		st, err := os.Lstat(next)
		if err != nil {
			return nil
		}
		isLink := st.Mode()&os.ModeSymlink != 0
		if !checked[resolved] {
			if err := checkRouteDir(resolved, named, next, via, isLink, uid); err != nil {
				return err
			}
			checked[resolved] = true
		}
		if !isLink {
			resolved = next
			continue
		}
		target, err := os.Readlink(next)
		if err != nil {
			return nil
		}
		if owner, ok := ownerOf(st); ok && owner != uid && owner != 0 {
			return fmt.Errorf("refusing to load: the symlink %s on the way to it is owned by uid %d, not by you (uid %d) or root, so its owner could point it at other code; fix with: ln -sfn %s %s (a symlink of your own), or name the plugin by its real path", next, owner, uid, target, next)
		}
		if links++; links > maxRouteLinks {
			return nil
		}
		if filepath.IsAbs(target) {
			resolved = string(filepath.Separator)
		}
		rest = append(splitPath(target), rest...)
		via = next
	}
	return nil
}

// checkRouteDir is checkDirectory for dir, a directory checkRoute looks up
// next in on the way to named (via: the symlink that led there, if any).
func checkRouteDir(dir, named, next, via string, isLink bool, uid uint32) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot check directory %s: %w", dir, unwrapPathError(err))
	}
	var which string
	switch {
	case via != "":
		which = "directory " + dir + ", which the symlink " + via + " leads through,"
	case dir == filepath.Dir(named):
		which = "its directory " + dir
	default:
		which = "directory " + dir + ", above it,"
	}
	risk, move := "replace the file", "move the plugin to a directory only you can write"
	if isLink {
		risk = "repoint the symlink " + next + " in it at other code"
		move = "name the plugin by a path whose symlinks are in directories only you can write"
	}
	if st.Mode().Perm()&0o022 != 0 && st.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("refusing to load: %s is writable by group or others (mode %04o) without the sticky bit, so they could %s; fix with: chmod go-w %s (or %s)", which, st.Mode().Perm(), risk, dir, move)
	}
	if owner, ok := ownerOf(st); ok && owner != uid && owner != 0 {
		return fmt.Errorf("refusing to load: %s is owned by uid %d, not by you (uid %d) or root, so its owner could %s; fix with: chown %d %s (after checking what is in it), or %s", which, owner, uid, risk, uid, dir, move)
	}
	return nil
}

// splitPath splits a path into its names ("" for a leading separator is
// dropped by the caller).
func splitPath(p string) []string {
	return strings.Split(p, string(filepath.Separator))
}

func ownerOf(st os.FileInfo) (uint32, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return sys.Uid, true
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
	return f, fdPath(f), hex.EncodeToString(h.Sum(nil)), nil
}

// fdPath names the open file f for dlopen: /proc/self/fd/N, or its own
// name where there is no /proc.
func fdPath(f *os.File) string {
	p := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	if _, err := os.Stat(p); err != nil {
		return f.Name()
	}
	return p
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
