package cmem

import (
	"testing"

	"tremorhost/abi"
)

// logThroughTable calls tremor_host_api.log the way a plugin does: through
// the C function pointer in the table.
func logThroughTable(t *testing.T, ctx uintptr, level int32, msg []byte) {
	t.Helper()
	addr, err := HostAPI()
	if err != nil {
		t.Fatal(err)
	}
	tbl := ReadPrefix[abi.HostAPI](addr, abi.SizeofHostAPI)
	var p uintptr
	if len(msg) > 0 {
		p = AddrOf(&msg[0])
	}
	Call(tbl.Log, []uintptr{ctx, uintptr(uint32(level)), p, uintptr(len(msg))})
}

func TestHostAPICtxRegistry(t *testing.T) {
	var got []string
	h := NewCtx(func(level int32, msg []byte) { got = append(got, string(msg)) })
	var unknown []uintptr
	OnUnknownCtx(func(ctx uintptr, _ int32, _ []byte) { unknown = append(unknown, ctx) })
	defer OnUnknownCtx(func(uintptr, int32, []byte) {})

	logThroughTable(t, h, abi.LogInfo, []byte("one"))
	DropCtx(h)
	logThroughTable(t, h, abi.LogInfo, []byte("after drop"))
	logThroughTable(t, h+1<<40, abi.LogInfo, nil)

	if len(got) != 1 || got[0] != "one" {
		t.Fatalf("lines to the live ctx: %q, want [one]", got)
	}
	if len(unknown) != 2 || unknown[0] != h {
		t.Fatalf("lines to unknown ctxs: %v, want the dropped %d then another", unknown, h)
	}
	again, _ := HostAPI()
	if addr, _ := HostAPI(); addr != again {
		t.Fatalf("two tables in one process: %#x, %#x", addr, again)
	}
}

func TestHostAPILineCut(t *testing.T) {
	var n int
	h := NewCtx(func(_ int32, msg []byte) { n = len(msg) })
	defer DropCtx(h)
	logThroughTable(t, h, abi.LogInfo, make([]byte, MaxLogLine+10))
	if n != MaxLogLine {
		t.Fatalf("a line of %d bytes reached the ctx with %d bytes, want %d", MaxLogLine+10, n, MaxLogLine)
	}
}
