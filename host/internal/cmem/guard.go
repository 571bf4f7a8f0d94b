package cmem

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Memory guards: page protections that turn a plugin's misuse of memory the
// host lent it into a fault at the faulting instruction (a write into a
// read-only batch, a read through a pointer kept after the hook returned,
// a write past an error buffer), instead of a silent corruption found
// later, if ever.

// PoisonByte fills memory that is retired, so a read through a kept pointer
// that does not fault (the guard could not be set) sees an obvious pattern.
const PoisonByte = 0xDB

// ReadOnly makes the whole arena read-only.
func (a *Arena) ReadOnly() error { return a.protect(unix.PROT_READ, "read-only") }

// Writable makes the whole arena readable and writable again.
func (a *Arena) Writable() error { return a.protect(unix.PROT_READ|unix.PROT_WRITE, "writable") }

func (a *Arena) protect(prot int, what string) error {
	if err := unix.Mprotect(a.mem, prot); err != nil {
		return fmt.Errorf("mprotect %d bytes %s: %w", len(a.mem), what, err)
	}
	return nil
}

// Retire poisons the arena and makes it inaccessible: any later use faults.
// Its pages are given back to the kernel (the mapping stays reserved, so
// the addresses are not reused) until Free unmaps it.
func (a *Arena) Retire() error {
	if err := a.Writable(); err != nil {
		return err
	}
	for i := range a.mem {
		a.mem[i] = PoisonByte
	}
	if err := a.protect(unix.PROT_NONE, "inaccessible"); err != nil {
		return err
	}
	if a.fd < 0 {
		_ = unix.Madvise(a.mem, unix.MADV_DONTNEED)
	}
	return nil
}

// MapBeforeGuard maps size bytes (rounded up to whole pages) followed by
// one inaccessible guard page, and returns the arena (the guard page is its
// last page) and the offset of the guard page: a write at or past that
// offset faults at once. Nothing may touch the arena's Mem() past guardOff.
func MapBeforeGuard(size int) (a *Arena, guardOff uintptr, err error) {
	page := syscall.Getpagesize()
	usable := max((size+page-1)/page*page, page)
	if a, err = Map(usable + page); err != nil {
		return nil, 0, err
	}
	if err := unix.Mprotect(a.mem[usable:], unix.PROT_NONE); err != nil {
		a.Free()
		return nil, 0, fmt.Errorf("mprotect the guard page: %w", err)
	}
	return a, uintptr(usable), nil
}
