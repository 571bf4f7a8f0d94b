package flow

import "testing"

// FuzzParse: no flow file, however broken, makes Parse panic, and every
// error it returns is located in the file it names.
func FuzzParse(f *testing.F) {
	f.Add([]byte(validFlow))
	f.Add([]byte("[[connector]]\nid = \"a\"\ntype = \"x\"\n[[pipeline]]\nid = \"p\"\n[[link]]\nfrom = \"a\"\nto = \"p\"\n[[link]]\nfrom = \"p\"\nto = \"a\"\n"))
	f.Add([]byte("[[pipeline.route]]\nvalue = \"\"\"\nx\n\"\"\"\n"))
	f.Add([]byte("[flow]\nbatch_size = -1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := Parse("fuzz.toml", data)
		if err != nil {
			fe, ok := err.(*Error)
			if !ok {
				t.Fatalf("error of type %T, want *flow.Error: %v", err, err)
			}
			if fe.File != "fuzz.toml" {
				t.Fatalf("error names file %q", fe.File)
			}
			return
		}
		for _, l := range fl.Links {
			if l.From.Node == "" || l.To.Node == "" {
				t.Fatalf("accepted a link with an empty end: %+v", l)
			}
		}
	})
}
