package crumb

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"

	"tremorhost/host/internal/cmem"
)

// A claimed slot reads back as written, shows the running hook only
// between Enter and Leave, and is gone after Release.
func TestTableRoundTrip(t *testing.T) {
	tab, err := New()
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 400)
	s := tab.Claim("/p/libx.so", "tcp", long, 0xc000123, 0x7f00, 0x7fff)
	other := tab.Claim("/p/liby.so", "file", "out", 0xc000999, 0, 0)
	if s == nil || other == nil {
		t.Fatal("no slot")
	}
	s.Enter(8)
	got := Read(tab.Mem())
	want := []Entry{
		{File: "/p/libx.so", Type: "tcp", Alias: long[:aliasCap], Hook: 8, Running: true, Inst: 0xc000123, Lo: 0x7f00, Hi: 0x7fff},
		{File: "/p/liby.so", Type: "file", Alias: "out", Inst: 0xc000999},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Read = %+v\nwant %+v", got, want)
	}
	s.Leave()
	if got := Read(tab.Mem()); got[0].Running {
		t.Fatalf("still running after Leave: %+v", got[0])
	}
	s.Release()
	if got := Read(tab.Mem()); len(got) != 1 || got[0].Alias != "out" {
		t.Fatalf("after Release: %+v", got)
	}
	if Clean(tab.Mem()) {
		t.Fatal("clean before MarkClean")
	}
	tab.MarkClean()
	if !Clean(tab.Mem()) {
		t.Fatal("not clean after MarkClean")
	}
	// nil slots and tables record nothing and do not crash
	(*Table)(nil).MarkClean()
	var none *Slot
	none.Enter(1)
	none.Leave()
	none.Release()
	if (*Table)(nil).Claim("f", "t", "a", 1, 0, 0) != nil {
		t.Fatal("a nil table gave a slot")
	}
	if Read([]byte("short")) != nil {
		t.Fatal("Read of a non-table")
	}
}

func TestTableFull(t *testing.T) {
	tab, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < NumSlots; k++ {
		if tab.Claim("f", "t", "a", uintptr(k), 0, 0) == nil {
			t.Fatalf("slot %d refused", k)
		}
	}
	if tab.Claim("f", "t", "a", 1, 0, 0) != nil {
		t.Fatal("a slot past NumSlots")
	}
}

// Mapped finds where a file is mapped in this process: the test binary
// itself holds this function's code.
func TestMapped(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := Mapped(exe)
	pc := uint64(reflect.ValueOf(TestMapped).Pointer())
	if !(lo <= pc && pc < hi) {
		t.Fatalf("Mapped(%s) = [%#x, %#x), which does not hold %#x", exe, lo, hi, pc)
	}
	if lo, hi := Mapped(filepath.Join(t.TempDir(), "missing.so")); lo != 0 || hi != 0 {
		t.Fatalf("a missing file is mapped at [%#x, %#x)", lo, hi)
	}
}

// A real crash report of this Go version, cut to what matters: a segfault
// in plugin code called from (*native).Send.
const cgoCrash = `SIGSEGV: segmentation violation
PC=0x7fd02854078e m=3 sigcode=1 addr=0x0
signal arrived during cgo execution

goroutine 148 gp=0xd03e6280960 m=3 mp=0xd03e6235008 [syscall]:
runtime.cgocall(0x5336c0, 0xd03e6298580)
	/usr/local/go/src/runtime/cgocall.go:167 +0x4b fp=0xd03e62b1488 sp=0xd03e62b1450 pc=0x4821ab
github.com/ebitengine/purego.SyscallN(0x7fd0285408f0?, {0xd03e62da2c8?, 0x0?, 0x0?})
	/root/go/pkg/mod/github.com/ebitengine/purego@v0.11.3/syscall.go:92 +0x165 fp=0xd03e62b18a0 sp=0xd03e62b1608 pc=0x532405
tremorhost/host/plugin.(*native).call(0xd03e62da180?, 0x7fd0285408f0?, {0xd03e62b1a10?, 0x7fd0284d4940?, 0xd03e62b1928?})
	/work/main/host/plugin/instance.go:201 +0x70 fp=0xd03e62b18e0 sp=0xd03e62b18a0 pc=0x55e0b0
tremorhost/host/plugin.(*native).Send(0xd03e62da180, 0xd03e62a16c0, {0xd03e6202900, 0x64, 0x796e00?})
	/work/main/host/plugin/instance.go:514 +0x60f fp=0xd03e62b1b90 sp=0xd03e62b18e0 pc=0x56110f
tremorhost/host/runtime.(*sink).sendBatch(0xd03e62e85a0, 0xd03e6282620)
	/work/main/host/runtime/sink.go:206 +0x9b4 fp=0xd03e62b1e80 sp=0xd03e62b1b90 pc=0x74dbd4

goroutine 1 gp=0xd03e61f81e0 m=nil [select]:
tremorhost/host/plugin.(*native).Pull(0xd03e6aaaaaa, 0xd03e62a16c0, 0x2)
`

const runtimeCrash = `fatal error: unexpected signal during runtime execution
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x46f2a1]

goroutine 7 gp=0xc000007340 m=4 mp=0xc000100008 [running]:
runtime.throw({0x8a1b2c?, 0x0?})
`

const goPanic = `panic: runtime error: index out of range [3] with length 2

goroutine 12 [running]:
tremorhost/host/runtime.(*sink).run(0xc0001)
`

func TestParseCrash(t *testing.T) {
	for _, tc := range []struct {
		name string
		dump string
		want Crash
	}{
		{"segfault in plugin code", cgoCrash, Crash{What: "SIGSEGV", PC: 0x7fd02854078e, Native: true, Inst: 0xd03e62da180, Method: "Send"}},
		{"signal in Go runtime code", runtimeCrash, Crash{What: "SIGSEGV", PC: 0x46f2a1}},
		{"Go panic", goPanic, Crash{What: "panic: runtime error: index out of range [3] with length 2"}},
		{"nothing", "", Crash{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseCrash([]byte(tc.dump)); got != tc.want {
				t.Fatalf("ParseCrash = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCulprits(t *testing.T) {
	src := Entry{File: "/p/a.so", Type: "fault", Alias: "src", Hook: 8, Running: true, Inst: 0xa, Lo: 0x1000, Hi: 0x2000}
	dst := Entry{File: "/p/b.so", Type: "fault", Alias: "dst", Hook: 11, Running: true, Inst: 0xb, Lo: 0x3000, Hi: 0x4000}
	idle := Entry{File: "/p/b.so", Type: "fault", Alias: "idle", Inst: 0xc, Lo: 0x3000, Hi: 0x4000}
	dst2 := dst
	dst2.Alias, dst2.Inst = "dst2", 0xd
	for _, tc := range []struct {
		name    string
		crash   Crash
		entries []Entry
		want    []string
		certain bool
	}{
		{"receiver on the stack", Crash{Native: true, Inst: 0xb, PC: 0x1500}, []Entry{src, dst}, []string{"dst"}, true},
		{"stale receiver, pc in one running plugin", Crash{Native: true, Inst: 0xff, PC: 0x1500}, []Entry{src, dst}, []string{"src"}, true},
		{"pc in a plugin two running instances share", Crash{Native: true, PC: 0x3500}, []Entry{src, dst, dst2}, []string{"dst", "dst2"}, false},
		{"pc in libc, one hook running", Crash{Native: true, PC: 0x9000}, []Entry{src, idle}, []string{"src"}, true},
		{"pc in libc, two running", Crash{Native: true, PC: 0x9000}, []Entry{src, dst}, []string{"src", "dst"}, false},
		{"pc in a plugin with no hook running (its own thread)", Crash{Native: true, PC: 0x3500}, []Entry{src, idle}, []string{"idle"}, false},
		{"Go panic in the host while a source waits in on_pull", Crash{What: "panic: x"}, []Entry{src}, nil, false},
		{"signal in Go code", Crash{What: "SIGSEGV", PC: 0x46f2a1}, []Entry{src}, nil, false},
		{"no instances", Crash{Native: true, PC: 0x1500}, nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			found, certain := Culprits(tc.crash, tc.entries)
			var got []string
			for _, e := range found {
				got = append(got, e.Alias)
			}
			if !reflect.DeepEqual(got, tc.want) || certain != tc.certain {
				t.Fatalf("Culprits = %v (certain %v), want %v (certain %v)", got, certain, tc.want, tc.certain)
			}
		})
	}
}

// The Go runtime of this build still writes what ParseCrash reads: a
// child process calls into address 8 the way the host calls a plugin,
// and its crash report (through SetCrashOutput, as tremorctl's watcher
// gets it) says SIGSEGV, the PC and that it happened in native code.
func TestParseLiveCrash(t *testing.T) {
	if out := os.Getenv("CRUMB_CRASH_TO"); out != "" {
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := debug.SetCrashOutput(f, debug.CrashOptions{}); err != nil {
			t.Fatal(err)
		}
		cmem.Call0(8)
		return
	}
	out := filepath.Join(t.TempDir(), "crash.txt")
	cmd := exec.Command(os.Args[0], "-test.run=^TestParseLiveCrash$")
	cmd.Env = append(os.Environ(), "CRUMB_CRASH_TO="+out)
	if err := cmd.Run(); err == nil {
		t.Fatal("the child did not crash")
	}
	dump, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := ParseCrash(dump)
	if got.What != "SIGSEGV" || got.PC != 8 || !got.Native {
		t.Fatalf("ParseCrash = %+v of:\n%s", got, dump)
	}
}
