package pipeline

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"tremorhost/abi"
	"tremorhost/host/flow"
)

func TestRouteOps(t *testing.T) {
	event := map[string]any{
		"level": "error",
		"code":  int64(503),
		"big":   uint64(math.MaxUint64),
		"ratio": 0.5,
		"nan":   math.NaN(),
		"tags":  []any{"a", int64(2)},
		"user":  map[string]any{"name": "ada", "roles": []any{"admin"}},
		"null":  nil,
	}
	tests := []struct {
		field, op string
		value     any
		want      bool
	}{
		{"level", "eq", "error", true},
		{"level", "eq", "warn", false},
		{"level", "ne", "warn", true},
		{"code", "eq", int64(503), true},
		{"code", "eq", 503.0, true},
		{"code", "eq", uint64(503), true},
		{"code", "gt", int64(499), true},
		{"code", "ge", int64(503), true},
		{"code", "lt", int64(503), false},
		{"code", "le", 503.5, true},
		{"big", "gt", int64(math.MaxInt64), true},
		{"big", "eq", int64(-1), false},
		{"ratio", "lt", int64(1), true},
		{"nan", "eq", math.NaN(), false},
		{"nan", "ne", 1.0, true},
		{"nan", "gt", 1.0, false},
		{"nan", "le", 1.0, false},
		{"level", "gt", "alpha", true},   // strings order lexically
		{"level", "gt", int64(1), false}, // string vs number: never ordered
		{"level", "prefix", "err", true},
		{"level", "prefix", "warn", false},
		{"level", "contains", "rro", true},
		{"tags", "contains", int64(2), true},
		{"tags", "contains", 2.0, true},
		{"tags", "contains", "b", false},
		{"user", "contains", "name", true},
		{"user.name", "eq", "ada", true},
		{"user.roles.0", "eq", "admin", true},
		{"user.roles.1", "exists", nil, false},
		{"user.roles.x", "exists", nil, false},
		{"user.age", "missing", nil, true},
		{"null", "exists", nil, true},
		{"null", "eq", nil, true},
		{"level.deeper", "exists", nil, false},
		{"absent", "ne", "x", false}, // comparisons need the field
		{"tags", "eq", []any{"a", int64(2)}, true},
		{"user", "eq", map[string]any{"name": "ada", "roles": []any{"admin"}}, true},
		{"user", "eq", map[string]any{"name": "ada"}, false},
	}
	flat := docOf(t, event)
	for _, tt := range tests {
		p := Compile(flow.Pipeline{ID: "p", Routes: []flow.Route{{Field: tt.field, Op: tt.op, Value: tt.value, To: "hit"}}})
		want := Decision{Port: PortOut}
		if tt.want {
			want = Decision{Port: "hit"}
		}
		assert.Equal(t, want, p.Route(event), "%s %s %v", tt.field, tt.op, tt.value)
		assert.Equal(t, want, p.Route(flat), "flat: %s %s %v", tt.field, tt.op, tt.value)
	}
}

func TestFirstMatchWinsAndDiscard(t *testing.T) {
	p := Compile(flow.Pipeline{ID: "p", Routes: []flow.Route{
		{Field: "debug", Op: "exists", Discard: true},
		{Field: "n", Op: "gt", Value: int64(10), To: "big"},
		{Field: "n", Op: "gt", Value: int64(5), To: "medium"},
	}})
	assert.Equal(t, Decision{Discard: true}, p.Route(map[string]any{"debug": true, "n": int64(50)}))
	assert.Equal(t, Decision{Port: "big"}, p.Route(map[string]any{"n": int64(50)}))
	assert.Equal(t, Decision{Port: "medium"}, p.Route(map[string]any{"n": int64(7)}))
	assert.Equal(t, Decision{Port: PortOut}, p.Route(map[string]any{"n": int64(1)}))
	assert.Equal(t, Decision{Port: PortOut}, p.Route("not an object"))
}

// docOf is v as the flat value the runtime routes on.
func docOf(t testing.TB, v any) *abi.Doc {
	nodes, bytes, err := abi.EncodeDoc(v)
	if err != nil {
		t.Fatal(err)
	}
	return &abi.Doc{Nodes: nodes, Bytes: bytes}
}

// Routing a flat value on scalar fields allocates nothing.
func TestRouteDocAllocations(t *testing.T) {
	p := Compile(flow.Pipeline{ID: "p", Routes: []flow.Route{
		{Field: "user.name", Op: "eq", Value: "bob", To: "bob"},
		{Field: "msg", Op: "contains", Value: "a long needle that does not fit a small buffer", To: "x"},
		{Field: "code", Op: "ge", Value: int64(500), To: "errors"},
		{Field: "tags", Op: "contains", Value: "z", To: "z"},
	}})
	event := docOf(t, map[string]any{"code": int64(200), "msg": strings.Repeat("haystack ", 20),
		"tags": []any{"a", int64(7)}, "user": map[string]any{"name": "ada"}})
	assert.Equal(t, Decision{Port: PortOut}, p.Route(event))
	assert.Zero(t, testing.AllocsPerRun(100, func() { p.Route(event) }))
}

func BenchmarkRoute(b *testing.B) {
	p := Compile(flow.Pipeline{ID: "p", Routes: []flow.Route{
		{Field: "user.name", Op: "eq", Value: "bob", To: "bob"},
		{Field: "code", Op: "ge", Value: int64(500), To: "errors"},
	}})
	event := map[string]any{"code": int64(200), "user": map[string]any{"name": "ada"}}
	b.ReportAllocs()
	for b.Loop() {
		p.Route(event)
	}
}
