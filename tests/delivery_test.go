package tests

// Delivery through pre-processors and codecs, end to end through
// `tremorctl run` with the real file plugin: a source event is acked only
// once every frame made from its bytes was delivered, so a frame that is
// dropped or cannot be decoded never moves the file source's resume state
// past its data.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fileFlow is the flow name (batch_size 4) from the file source "in" to
// a file sink "out" writing outPath with in's codec, through "p".
func fileFlow(name string, in Conn, outPath string) *flowBuilder {
	return newFlow(name).Batch(4).
		Connector("in", in).
		Connector("out", fileSink(outPath, in.Codec)).
		Chain("in", "p", "out")
}

// linesUpTo gives text's one `preprocessors = ["lines"]` a max_length of
// n, which Conn.Pre (names only) cannot say.
func linesUpTo(text string, n int) string {
	const names = `preprocessors = ["lines"]`
	if strings.Count(text, names) != 1 {
		panic("linesUpTo: not one " + names + " in\n" + text)
	}
	return strings.Replace(text, names, fmt.Sprintf(`preprocessors = [{ name = "lines", max_length = %d }]`, n), 1)
}

// The file source emits each line of its file as an event without the
// newline, so a "lines" pre-processor joins them into one line, which here
// grows over max_length. Every event whose bytes were in it is failed back
// (none acked for it, nothing of it reaches the sink) and tremorctl exits
// non-zero. The file source with resume_from offers failed lines again,
// each flagged as the end of its stream, so the pre-processor frames each
// alone: every line is then delivered exactly once and the resume state
// ends at the end of the file, never past data that was not delivered. A
// second run without the pre-processor finds nothing left to read.
func TestDeliveryDroppedFrameKeepsFileResumeState(t *testing.T) {
	dir := t.TempDir()
	in, out, state := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt"), filepath.Join(dir, "in.state")
	lines := []string{"aaaa", "bbbb", "cccc", "dddd"}
	require.NoError(t, os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	size := int64(len(strings.Join(lines, "\n")) + 1)
	resumed := Conn{Type: "file", Codec: "string", Config: cfg("path", in, "resume_from", state)}
	joined := resumed
	joined.Pre = lineFraming

	text := linesUpTo(fileFlow("joined", joined, out).TOML(), 10)
	code, _, stderr := ctl(t, "run", "--drain-timeout", "5s", writeFlow(t, dir, "joined.toml", text))
	noCrash(t, stderr)
	assert.Equal(t, 1, code, "events were failed back: tremorctl exits non-zero\n%s", lastLines(stderr, 20))
	assert.Contains(t, stderr, "line longer than max_length (10 bytes)")
	assert.Contains(t, stderr, "bytes of a frame a pre-processor dropped")
	rows := statsTable(t, stderr)
	src, sink := rows["in"], rows["out"]
	assert.Equal(t, uint64(len(lines)), src[colFails], "the first reading of every line failed back")
	assert.Equal(t, uint64(len(lines)), src[colAcks], "the second reading of every line acked")
	assert.Equal(t, src[colIn], src[colAcks]+src[colFails], "every event settled once")
	assert.Positive(t, src[colErrors])
	assert.Equal(t, uint64(len(lines)), sink[colOut], "only the lines framed alone reached the sink")
	assert.Equal(t, lines, fileLines(t, out), "each line delivered exactly once, nothing joined")
	off, acked := stateOffset(t, state)
	assert.Equal(t, size, off, "everything acked, and only after it was delivered")
	assert.Empty(t, acked)

	// Run 2: without the pre-processor, resuming from the state: nothing
	// is left to read, and nothing is written again.
	out2 := filepath.Join(dir, "out2.txt")
	text = fileFlow("plain", resumed, out2).TOML()
	code, _, stderr = ctl(t, "run", writeFlow(t, dir, "plain.toml", text))
	noCrash(t, stderr)
	require.Equal(t, 0, code, "stderr:\n%s", lastLines(stderr, 20))
	rows = statsTable(t, stderr)
	assert.Zero(t, rows["in"][colIn], "resumed at the end of the file")
	assert.Empty(t, fileLines(t, out2))
	off, _ = stateOffset(t, state)
	assert.Equal(t, size, off)
}

// A line that is not JSON goes to the err port as an error event (with the
// line as its data) when that is linked, and the source acks it once that
// is written; without it, its event is failed back, counted, and
// tremorctl exits non-zero. The good lines are delivered either way.
func TestDeliveryUndecodableLineThroughTremorctl(t *testing.T) {
	for _, linked := range []bool{false, true} {
		t.Run(fmt.Sprintf("err linked=%v", linked), func(t *testing.T) {
			dir := t.TempDir()
			in, out, errs := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "errs.jsonl")
			require.NoError(t, os.WriteFile(in, []byte("{\"n\":1}\n{\"n\":2,\n{\"n\":3}\n"), 0o644))
			f := fileFlow("decode", fileSource(in, "json"), out)
			if linked {
				f.Connector("errs", fileSink(errs, "json")).Chain("in/err", "e", "errs")
			}
			text := f.TOML()
			code, _, stderr := ctl(t, "run", writeFlow(t, dir, "decode.toml", text))
			noCrash(t, stderr)
			rows := statsTable(t, stderr)
			assert.Equal(t, []string{`{"n":1}`, `{"n":3}`}, fileLines(t, out))
			assert.Equal(t, row{2, 2, 0, 0, 0, 0}, rows["out"])
			if linked {
				require.Equal(t, 0, code, "stderr:\n%s", lastLines(stderr, 20))
				// in, out, errors, acks, fails, discarded
				assert.Equal(t, row{3, 3, 1, 3, 0, 0}, rows["in"])
				errLines := fileLines(t, errs)
				require.Len(t, errLines, 1)
				assert.Contains(t, errLines[0], `"connector":"in"`)
				assert.Contains(t, errLines[0], `"data":"{\"n\":2,"`)
				assert.Contains(t, errLines[0], `"error":"`)
				return
			}
			assert.NotEqual(t, 0, code, "an event was failed back")
			assert.Equal(t, row{3, 2, 1, 2, 1, 0}, rows["in"])
			assert.Contains(t, stderr, "event failed back to its source")
		})
	}
}

// A source plugin whose on_ack or on_fail fails (the C fault plugin): the
// acks and fails columns count only what the plugin took, each refused
// call is an error, and a warning names the plugin's message.
func TestDeliveryRefusedAckOrFailThroughTremorctl(t *testing.T) {
	plugins := faultPath(t)
	for _, c := range []struct {
		name, failAt string
		dst          func(out string) Conn
		code         int
		srcRow       func(r row) bool
		want         string
	}{
		{"on_ack fails", "ack", func(out string) Conn { return fileSink(out, "string") }, 0,
			func(r row) bool { return r[colAcks] == 0 && r[colFails] == 0 && r[colOut] == 20 }, "fault: told to fail at ack"},
		{"on_fail fails", "fail", func(string) Conn { return Conn{Type: "fault", Codec: "string", Config: cfg("fail_at", "send")} }, 1,
			func(r row) bool { return r[colAcks] == 0 && r[colFails] == 0 }, "fault: told to fail at fail"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out.txt")
			src := Conn{Type: "fault", Codec: "string", Config: cfg("count", 20, "fail_at", c.failAt)}
			path := writeFlow(t, dir, "refused.toml", srcDstFlow("refused", src, c.dst(out)))
			code, _, stderr := ctl(t, "run", "--plugin-path", plugins, "--drain-timeout", "5s", path)
			noCrash(t, stderr)
			assert.Equal(t, c.code, code, "stderr:\n%s", lastLines(stderr, 20))
			rows := statsTable(t, stderr)
			s := rows["src"]
			assert.Equal(t, uint64(20), s[colIn])
			assert.True(t, c.srcRow(s), "src row %v: the refused outcomes are not counted as acks or fails", s)
			assert.Positive(t, s[colErrors], "each refused call is an error")
			assert.Contains(t, stderr, "the plugin was not told the outcome of these events")
			assert.Contains(t, stderr, c.want)
			if c.code == 0 {
				assert.Len(t, fileLines(t, out), 20, "delivered all the same")
			} else {
				assert.Equal(t, uint64(20), rows["dst"][colFails])
			}
		})
	}
}

// A frame that spans more than half the source's window of events (here
// the file source's lines joined by "lines", with a max_length they never
// reach) is dropped rather than filling the window: its events fail back,
// the flow ends, and tremorctl says why.
func TestDeliveryFrameSpanningTooManyEventsThroughTremorctl(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	require.NoError(t, os.WriteFile(in, []byte(b.String()), 0o644))
	// batch_size 4: a window of 64 events, of which a frame may span 32.
	text := linesUpTo(fileFlow("span", Conn{Type: "file", Codec: "string", Pre: lineFraming, Config: cfg("path", in)}, out).TOML(), 100000)
	code, _, stderr := ctl(t, "run", writeFlow(t, dir, "span.toml", text))
	noCrash(t, stderr)
	assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
	assert.Contains(t, stderr, "frame spans more than 32 events (half the source's window); dropped")
	assert.Contains(t, stderr, "tremorctl: 100 events were failed back to their sources")
	rows := statsTable(t, stderr)
	assert.Equal(t, uint64(100), rows["in"][colIn])
	assert.Equal(t, uint64(100), rows["in"][colFails])
	assert.Zero(t, rows["in"][colAcks])
	assert.Zero(t, rows["out"][colIn])
	assert.Empty(t, fileLines(t, out))
}
