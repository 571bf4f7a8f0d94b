// Package cmem is the host's one unsafe edge: dlopen, calling C function
// pointers, reading C memory a plugin owns, memory mapped off the Go heap
// (private and shared), the host-function table with its ctx registry, and
// byte views of plain structs. No other package in host/ imports "unsafe".
// Nothing here knows the plugin contract beyond raw memory, the host API
// table and the layout of on_create's arguments.
package cmem

import (
	"fmt"
	"syscall"
	"unsafe"

	"github.com/ebitengine/purego"
	"golang.org/x/sys/unix"
)

// Open dlopens path with RTLD_NOW|RTLD_LOCAL. Libraries are never closed:
// plugins may have started threads, Go c-shared libraries cannot be
// unloaded, and a descriptor's static data must stay valid.
func Open(path string) (uintptr, error) {
	return purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
}

// Sym looks up a symbol; 0 when it is missing.
func Sym(handle uintptr, name string) uintptr {
	p, err := purego.Dlsym(handle, name)
	if err != nil {
		return 0
	}
	return p
}

// Call calls a C function pointer with integer/pointer arguments and returns
// its integer result (rax/x0), without reflection.
//
// args should live in memory that is already on the heap (a field of a
// long-lived struct): purego.SyscallN is go:uintptrescapes, so a fresh
// variadic slice would be moved to the heap on every call.
func Call(fn uintptr, args []uintptr) uintptr {
	r1, _, _ := purego.SyscallN(fn, args...)
	return r1
}

// Call0 calls a function without arguments.
func Call0(fn uintptr) uintptr {
	r1, _, _ := purego.SyscallN(fn)
	return r1
}

// NewCallback wraps purego.NewCallback. Callbacks are never freed and a
// process has about 2000: create them once.
func NewCallback(fn any) uintptr { return purego.NewCallback(fn) }

// CString reads a NUL-terminated string at p of at most max bytes. ok is
// false when no NUL comes within max bytes. p must point to readable memory:
// a wild pointer from a plugin crashes the process, which no check here can
// prevent.
func CString(p uintptr, max int) (s string, ok bool) {
	if p == 0 {
		return "", true
	}
	for n := 0; n <= max; n++ {
		if *(*byte)(ptr(p + uintptr(n))) == 0 {
			return string(unsafe.Slice((*byte)(ptr(p)), n)), true
		}
	}
	return string(unsafe.Slice((*byte)(ptr(p)), max)), false
}

// ReadU32 reads a uint32 at p.
func ReadU32(p uintptr) uint32 { return *(*uint32)(ptr(p)) }

// ReadU16 reads a uint16 at p.
func ReadU16(p uintptr) uint16 { return *(*uint16)(ptr(p)) }

// ReadUintptr reads a pointer-sized word at p.
func ReadUintptr(p uintptr) uintptr { return *(*uintptr)(ptr(p)) }

// ReadPrefix copies the first min(size, sizeof(T)) bytes at p into a T whose
// remaining bytes are zero: how a reader honours a struct_size field.
//
// (noinline: inlined, the copy crashes the Go 1.26 compiler's memmove
// rewrite, "disjointTypes: one of arguments is not a pointer".)
//
//go:noinline
func ReadPrefix[T any](p uintptr, size uintptr) T {
	var out T
	n := unsafe.Sizeof(out)
	if size < n {
		n = size
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&out)), n), unsafe.Slice((*byte)(ptr(p)), n))
	return out
}

// Bytes views n bytes of C memory at p (no copy).
func Bytes(p uintptr, n int) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(ptr(p)), n)
}

// ptr turns an address of C memory (never of Go memory) into a pointer.
func ptr(p uintptr) unsafe.Pointer { return unsafe.Add(nil, p) }

// Arena is memory mapped off the Go heap: the garbage collector neither
// scans nor moves it, so its address can be handed to C and kept there.
type Arena struct {
	mem []byte
	fd  int // the memfd behind a shared arena (MapShared), else -1
}

// Map maps size bytes (rounded up to whole pages), zeroed.
func Map(size int) (*Arena, error) {
	if size <= 0 {
		size = 1
	}
	page := syscall.Getpagesize()
	size = (size + page - 1) / page * page
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", size, err)
	}
	return &Arena{mem: mem, fd: -1}, nil
}

// MapShared maps size bytes (rounded up to whole pages), zeroed, backed by
// a memfd that another process can map too (pass FD with SCM_RIGHTS). The
// memfd is close-on-exec and sealed against shrinking and growing, so the
// other process cannot truncate it under this one (which would make this
// process fault on access).
func MapShared(size int, name string) (*Arena, error) {
	if size <= 0 {
		size = 1
	}
	page := syscall.Getpagesize()
	size = (size + page - 1) / page * page
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	fail := func(what string, err error) (*Arena, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return fail("ftruncate memfd", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		return fail("seal memfd", err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail(fmt.Sprintf("mmap %d bytes of memfd", size), err)
	}
	return &Arena{mem: mem, fd: fd}, nil
}

// FD is the memfd of a shared arena, or -1.
func (a *Arena) FD() int { return a.fd }

// Addr is the arena's base address.
func (a *Arena) Addr() uintptr { return uintptr(unsafe.Pointer(&a.mem[0])) }

// Size is the arena's mapped size.
func (a *Arena) Size() int { return len(a.mem) }

// Mem is the arena's memory as a slice.
func (a *Arena) Mem() []byte { return a.mem }

// Free unmaps the arena; it must no longer be used.
func (a *Arena) Free() {
	if a != nil && a.mem != nil {
		_ = syscall.Munmap(a.mem)
		a.mem = nil
		if a.fd >= 0 {
			_ = syscall.Close(a.fd)
			a.fd = -1
		}
	}
}

// At returns a pointer to a T at byte offset off of the arena.
func At[T any](a *Arena, off uintptr) *T {
	return (*T)(unsafe.Pointer(&a.mem[off]))
}

// Slice views n Ts at byte offset off of the arena.
func Slice[T any](a *Arena, off uintptr, n int) []T {
	if n == 0 {
		return unsafe.Slice((*T)(unsafe.Pointer(&a.mem[off])), 0)
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&a.mem[off])), n)
}

// OnExit registers fn to run when C code in this process calls exit()
// (glibc's on_exit, which passes the status; else __cxa_atexit, which does
// not: status is then -1). Go's own os.Exit does not go through the C
// library, so fn runs only for exit() from native code. Call it once.
func OnExit(fn func(status int32)) error {
	var libc uintptr
	var err error
	for _, name := range []string{"libc.so.6", "libc.so"} {
		if libc, err = purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("open the C library: %w", err)
	}
	if reg := Sym(libc, "on_exit"); reg != 0 {
		cb := purego.NewCallback(func(status, _ uintptr) { fn(int32(uint32(status))) })
		if rc, _, _ := purego.SyscallN(reg, cb, 0); rc != 0 {
			return fmt.Errorf("on_exit failed")
		}
		return nil
	}
	reg := Sym(libc, "__cxa_atexit")
	if reg == 0 {
		return fmt.Errorf("the C library has neither on_exit nor __cxa_atexit")
	}
	cb := purego.NewCallback(func(_ uintptr) { fn(-1) })
	if rc, _, _ := purego.SyscallN(reg, cb, 0, 0); rc != 0 {
		return fmt.Errorf("__cxa_atexit failed")
	}
	return nil
}

// AddrOf is the address of a Go value, as a number: for naming it (Go
// tracebacks print it), never for dereferencing.
func AddrOf[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }

// U32At views the 4 bytes at off of mem (a shared mapping) as a uint32 for
// sync/atomic.
func U32At(mem []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }

// AsBytes views the memory of s as bytes (no copy): for writing plain
// structs of the contract to a wire in this machine's byte order.
func AsBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
}

// StructBytes views the memory of *p as bytes (no copy).
func StructBytes[T any](p *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p))
}

// Recv is recv(2) into b without the allocation of unix.Recvfrom's address.
func Recv(fd int, b []byte, flags int) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(flags), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
