package runtime_test

// Tests for the performance paths of the source and sink (see the
// comments in source.go and sink.go): the binary codec's values carved
// from shared chunks, and payloads encoded straight into the sink's batch.
// Each flow here must deliver exactly what the plain path would.

import (
	"bytes"
	"context"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/host/codec"
	"tremorhost/host/edge"
	"tremorhost/host/processor"
	"tremorhost/host/runtime"
)

// chunks is a catalog with a bytes source that emits the given chunks, one
// event each (so lines may be split across events and batches), and a
// bytes sink that records every payload it is sent.
type chunks struct {
	in []string

	mu  sync.Mutex
	got [][]byte
}

func (c *chunks) Type(name string) (runtime.Type, bool) {
	switch name {
	case "chunk_source", "record_sink":
		return fakeType{name: name, source: name == "chunk_source", sink: name == "record_sink",
			create: func(string) runtime.Instance { return &chunkInst{c: c} }}, true
	}
	return nil, false
}
func (c *chunks) Names() []string { return []string{"chunk_source", "record_sink"} }

type chunkInst struct {
	quietHooks
	c    *chunks
	next int
}

func (i *chunkInst) Pull(b *edge.Batch, _ time.Duration) error {
	b.Reset()
	for i.next < len(i.c.in) {
		if err := b.Append(&edge.Event{ID: uint64(i.next), Payload: []byte(i.c.in[i.next])}); err != nil {
			if b.Len() > 0 {
				return nil
			}
			return err
		}
		i.next++
		goruntime.GC() // values must survive collections while in flight
	}
	return edge.ErrEnd
}

func (i *chunkInst) Send(b *edge.Batch, outcomes []uint8) error {
	i.c.mu.Lock()
	defer i.c.mu.Unlock()
	for k := 0; k < b.Len(); k++ {
		i.c.got = append(i.c.got, bytes.Clone(b.Payload(k)))
		outcomes[k] = abi.OutcomeOK
	}
	return nil
}

func runChunks(t *testing.T, c *chunks, codecName, post string, batch int) []runtime.Stats {
	t.Helper()
	f := mustFlow(t, fmt.Sprintf(`
[flow]
batch_size = %d
[[connector]]
id = "src"
type = "chunk_source"
codec = %q
preprocessors = ["lines"]
[[connector]]
id = "dst"
type = "record_sink"
codec = %q
postprocessors = [%s]
[[pipeline]]
id = "p"
[[link]]
from = "src"
to = "p"
[[link]]
from = "p"
to = "dst"
`, batch, codecName, codecName, post))
	// A window of 128 events at least: a frame may span half of it, and a
	// 40 KiB line in chunks of 1 byte to 4 KiB spans up to 45 events.
	r, err := runtime.New(f, c, runtime.Options{Log: zerolog.Nop(), Window: max(128, 16*batch)})
	require.NoError(t, err)
	stats, err := r.Run(context.Background())
	require.NoError(t, err)
	return stats
}

// Lines split across events, empty lines, lines longer than a chunk of the
// binary arena and a last line without a newline all come out byte for
// byte through the binary codec and the lines pre- and post-processor.
func TestRawBinaryPassthroughKeepsEveryByte(t *testing.T) {
	long := strings.Repeat("L", 40<<10)
	var lines []string
	for i := range 3000 {
		switch {
		case i%500 == 7:
			lines = append(lines, long+fmt.Sprint(i))
		case i%97 == 0:
			lines = append(lines, "")
		default:
			lines = append(lines, fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", i%300)))
		}
	}
	text := strings.Join(lines, "\n") // no newline after the last line
	var in []string
	for rest := text; len(rest) > 0; {
		n := min(len(rest), 1+len(in)*37%4093)
		in = append(in, rest[:n])
		rest = rest[n:]
	}
	for _, batch := range []int{1, 7, 256} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			c := &chunks{in: in}
			stats := runChunks(t, c, "binary", `"lines"`, batch)
			var out bytes.Buffer
			for _, p := range c.got {
				out.Write(p)
			}
			assert.Equal(t, text+"\n", out.String())
			assert.Equal(t, uint64(len(lines)), statsOf(t, stats, "dst").Out)
			assert.Equal(t, uint64(len(in)), statsOf(t, stats, "src").Acks)
		})
	}
}

// With post-processors chained, with none, and with events larger than the
// sink's batch room (which the sink grows for), every payload is what the
// codec and the post-processors give when run on their own.
func TestSinkEncodesInPlaceLikeTheCodec(t *testing.T) {
	var lines []string
	for i := range 600 {
		size := 10 + i%200
		if i%150 == 3 {
			size = 300 << 10 // larger than any batch's room
		}
		lines = append(lines, fmt.Sprintf(`{"n":%d,"s":"%s","f":1.5,"a":[1,"x",null]}`, i, strings.Repeat("y", size)))
	}
	text := strings.Join(lines, "\n") + "\n"
	var in []string // chunks that fit a source batch's room (64 KiB)
	for rest := text; len(rest) > 0; {
		n := min(len(rest), 60<<10)
		in = append(in, rest[:n])
		rest = rest[n:]
	}
	for _, tc := range []struct {
		codec string
		post  []string
	}{
		{"json", nil},
		{"json", []string{"lines"}},
		{"json", []string{"lines", "length-prefixed"}},
		{"binary", []string{"length-prefixed"}},
		{"string", []string{"lines"}},
	} {
		for _, batch := range []int{1, 64} {
			t.Run(fmt.Sprintf("%s/%v/batch=%d", tc.codec, tc.post, batch), func(t *testing.T) {
				cd, err := codec.New(tc.codec, nil)
				require.NoError(t, err)
				var want [][]byte
				for _, l := range lines {
					v, err := cd.Decode([]byte(l))
					require.NoError(t, err)
					enc, err := cd.Encode(nil, v)
					require.NoError(t, err)
					for _, name := range tc.post {
						p, err := processor.NewPost(name, nil)
						require.NoError(t, err)
						enc, err = p.Append(nil, enc)
						require.NoError(t, err)
					}
					want = append(want, enc)
				}
				var post []string
				for _, p := range tc.post {
					post = append(post, fmt.Sprintf("%q", p))
				}
				c := &chunks{in: in}
				runChunks(t, c, tc.codec, strings.Join(post, ", "), batch)
				require.Equal(t, len(want), len(c.got))
				for i := range want {
					if !bytes.Equal(want[i], c.got[i]) {
						t.Fatalf("event %d: got %d bytes %.80q, want %d bytes %.80q", i, len(c.got[i]), c.got[i], len(want[i]), want[i])
					}
				}
			})
		}
	}
}
