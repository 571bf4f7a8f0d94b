package processor

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRegistry(t *testing.T) {
	require.Equal(t, []string{"length-prefixed", "lines"}, PreNames())
	require.Equal(t, []string{"length-prefixed", "lines"}, PostNames())

	p, err := NewPre("lines", nil)
	require.NoError(t, err)
	require.Equal(t, "lines", p.Name())
	require.Equal(t, DefaultMaxLength, p.(*Lines).MaxLength())

	_, err = NewPre("gzip", nil)
	require.ErrorIs(t, err, ErrUnknown)
	require.EqualError(t, err, `unknown processor: no pre-processor "gzip" (known pre-processors: length-prefixed, lines)`)
	_, err = NewPost("nope", nil)
	require.EqualError(t, err, `unknown processor: no post-processor "nope" (known post-processors: length-prefixed, lines)`)

	// Each NewPre gives independent state.
	a, _ := NewPre("lines", nil)
	b, _ := NewPre("lines", nil)
	require.NoError(t, a.Process(1, []byte("x"), nil))
	require.Zero(t, b.(*Lines).s.len())
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		pre     bool
		proc    string
		config  map[string]any
		wantErr string
		check   func(t *testing.T, p any)
	}{
		{name: "lines int", pre: true, proc: "lines", config: map[string]any{"max_length": 10},
			check: func(t *testing.T, p any) { require.Equal(t, 10, p.(*Lines).MaxLength()) }},
		{name: "lines int64 + skip_empty", pre: true, proc: "lines", config: map[string]any{"max_length": int64(10), "skip_empty": true},
			check: func(t *testing.T, p any) { require.True(t, p.(*Lines).skipEmpty) }},
		{name: "lines whole float (from JSON)", pre: true, proc: "lines", config: map[string]any{"max_length": 4096.0},
			check: func(t *testing.T, p any) { require.Equal(t, 4096, p.(*Lines).MaxLength()) }},
		{name: "lines uint64", pre: true, proc: "lines", config: map[string]any{"max_length": uint64(7)},
			check: func(t *testing.T, p any) { require.Equal(t, 7, p.(*Lines).MaxLength()) }},
		{name: "lp max", pre: true, proc: "length-prefixed", config: map[string]any{"max_length": 1 << 30},
			check: func(t *testing.T, p any) { require.Equal(t, 1<<30, p.(*LengthPrefixed).MaxLength()) }},
		{name: "lp post max", proc: "length-prefixed", config: map[string]any{"max_length": 5},
			check: func(t *testing.T, p any) { require.Equal(t, 5, p.(LengthPrefixedPost).MaxLength) }},
		{name: "lp post default", proc: "length-prefixed",
			check: func(t *testing.T, p any) { require.Equal(t, DefaultMaxLength, p.(LengthPrefixedPost).MaxLength) }},

		{name: "unknown key", pre: true, proc: "lines", config: map[string]any{"max_len": 3},
			wantErr: `pre-processor "lines": unknown config key "max_len" (known keys: max_length, skip_empty)`},
		{name: "post lines takes nothing", proc: "lines", config: map[string]any{"x": 1},
			wantErr: `post-processor "lines": unknown config key "x" (this processor takes no options)`},
		{name: "string", pre: true, proc: "lines", config: map[string]any{"max_length": "1MiB"},
			wantErr: `pre-processor "lines": config key "max_length": want a positive integer, got "1MiB" (string)`},
		{name: "zero", pre: true, proc: "lines", config: map[string]any{"max_length": 0},
			wantErr: `pre-processor "lines": config key "max_length": want an integer from 1 to 2147483647, got 0`},
		{name: "negative", pre: true, proc: "length-prefixed", config: map[string]any{"max_length": -5},
			wantErr: `pre-processor "length-prefixed": config key "max_length": want an integer from 1 to 4294967295, got -5`},
		{name: "too big", pre: true, proc: "length-prefixed", config: map[string]any{"max_length": int64(1) << 33},
			wantErr: `pre-processor "length-prefixed": config key "max_length": want an integer from 1 to 4294967295, got 8589934592`},
		{name: "fraction", pre: true, proc: "lines", config: map[string]any{"max_length": 1.5},
			wantErr: `pre-processor "lines": config key "max_length": want a whole number, got 1.5`},
		{name: "bool wanted", pre: true, proc: "lines", config: map[string]any{"skip_empty": "yes"},
			wantErr: `pre-processor "lines": config key "skip_empty": want true or false, got "yes" (string)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p any
			var err error
			if tt.pre {
				p, err = NewPre(tt.proc, tt.config)
			} else {
				p, err = NewPost(tt.proc, tt.config)
			}
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, p)
		})
	}
}
