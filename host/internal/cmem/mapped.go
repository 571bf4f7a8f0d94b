package cmem

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoMaps: /proc/self/maps could not be read, so which file a loaded
// library came from cannot be told.
var ErrNoMaps = errors.New("/proc/self/maps is not readable")

// MappedFrom reports whether the code at addr (a symbol of a library this
// process loaded) is mapped from the very file f is open on: same device
// and inode. The dynamic loader opens a library by its name; this is how
// the host knows that what it loaded is the file it checked and hashed.
func MappedFrom(addr uintptr, f *os.File) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, err
	}
	maps, err := os.Open("/proc/self/maps")
	if err != nil {
		return false, ErrNoMaps
	}
	defer maps.Close()
	sc := bufio.NewScanner(maps)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// start-end perms offset major:minor inode [path]
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || uint64(addr) < start || uint64(addr) >= end {
			continue
		}
		maj, min, ok := strings.Cut(fields[3], ":")
		if !ok {
			return false, fmt.Errorf("/proc/self/maps: device %q", fields[3])
		}
		major, err1 := strconv.ParseUint(maj, 16, 32)
		minor, err2 := strconv.ParseUint(min, 16, 32)
		inode, err3 := strconv.ParseUint(fields[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return false, fmt.Errorf("/proc/self/maps: %q", sc.Text())
		}
		return uint32(major) == unix.Major(st.Dev) && uint32(minor) == unix.Minor(st.Dev) && inode == st.Ino, nil
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	return false, fmt.Errorf("address %#x is in no mapping of /proc/self/maps", addr)
}
