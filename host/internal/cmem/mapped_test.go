package cmem

import (
	"os"
	"testing"

	"tremorhost/tests/testenv"
)

// MappedFrom tells the file a loaded library's code comes from: its own
// file yes, another file (a copy with the same bytes included) no.
func TestMappedFrom(t *testing.T) {
	path := testenv.Fixture(t, "fixture")
	h, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sym := Sym(h, "tremor_plugin_get_descriptor")
	if sym == 0 {
		t.Fatal("no entry symbol")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := t.TempDir() + "/copy.so"
	if err := os.WriteFile(copyPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file string
		want bool
	}{{path, true}, {copyPath, false}} {
		f, err := os.Open(c.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := MappedFrom(sym, f)
		f.Close()
		if err != nil || got != c.want {
			t.Errorf("MappedFrom(entry of %s, %s) = %v, %v; want %v", path, c.file, got, err, c.want)
		}
	}
}
