// Package pipeline routes events by field values. A pipeline is a list of
// routes; the first route whose condition holds decides where an event goes,
// and an event that matches none goes to the "out" port. That is the whole
// language, on purpose: small enough to specify in a paragraph (README,
// "Pipelines") and to evaluate without allocating.
package pipeline

import (
	"math"
	"strconv"
	"strings"

	"tremorhost/host/flow"
)

// Port names every pipeline has.
const (
	PortOut = "out"
	PortErr = "err"
)

// Pipeline is a compiled flow.Pipeline.
type Pipeline struct {
	ID     string
	routes []route
}

type route struct {
	path    []string
	op      string
	value   any
	port    string
	discard bool
}

// Compile prepares a checked flow pipeline for routing.
func Compile(p flow.Pipeline) *Pipeline {
	c := &Pipeline{ID: p.ID}
	for _, r := range p.Routes {
		c.routes = append(c.routes, route{
			path: strings.Split(r.Field, "."), op: r.Op, value: r.Value,
			port: r.To, discard: r.Discard,
		})
	}
	return c
}

// Decision is where an event goes.
type Decision struct {
	Port    string // output port; "" when Discard
	Discard bool   // dropped on purpose by a route (the source gets an ack)
}

// Route decides where the event value v goes.
func (p *Pipeline) Route(v any) Decision {
	for i := range p.routes {
		r := &p.routes[i]
		if r.matches(v) {
			return Decision{Port: r.port, Discard: r.discard}
		}
	}
	return Decision{Port: PortOut}
}

func (r *route) matches(v any) bool {
	field, found := Lookup(v, r.path)
	switch r.op {
	case "exists":
		return found
	case "missing":
		return !found
	}
	if !found {
		return false
	}
	switch r.op {
	case "eq":
		return equal(field, r.value)
	case "ne":
		return !equal(field, r.value)
	case "lt", "le", "gt", "ge":
		c, ok := compare(field, r.value)
		if !ok {
			return false
		}
		switch r.op {
		case "lt":
			return c < 0
		case "le":
			return c <= 0
		case "gt":
			return c > 0
		default:
			return c >= 0
		}
	case "contains":
		switch f := field.(type) {
		case string:
			s, ok := r.value.(string)
			return ok && strings.Contains(f, s)
		case []any:
			for _, e := range f {
				if equal(e, r.value) {
					return true
				}
			}
		case map[string]any:
			s, ok := r.value.(string)
			if ok {
				_, has := f[s]
				return has
			}
		}
		return false
	case "prefix":
		f, ok1 := field.(string)
		s, ok2 := r.value.(string)
		return ok1 && ok2 && strings.HasPrefix(f, s)
	}
	return false
}

// Lookup follows a dotted path (already split) into v: a segment selects an
// object member, or an array element when it is a decimal index.
func Lookup(v any, path []string) (any, bool) {
	for _, seg := range path {
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[seg]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// equal compares values the way a reader expects: numbers by value whatever
// their Go type (1 == 1.0 == uint64(1)), everything else by kind and content.
func equal(a, b any) bool {
	if c, ok := compareNumbers(a, b); ok {
		return c == 0
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equal(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}

// compare orders two numbers or two strings; ok is false for anything else.
func compare(a, b any) (int, bool) {
	if c, ok := compareNumbers(a, b); ok {
		return c, true
	}
	x, ok1 := a.(string)
	y, ok2 := b.(string)
	if ok1 && ok2 {
		return strings.Compare(x, y), true
	}
	return 0, false
}

// compareNumbers orders int64, uint64 and float64 values, integers exactly
// (no rounding through float64). ok is false unless both are numbers, and for
// NaN, which is unordered: it equals nothing, so only "ne" matches it.
func compareNumbers(a, b any) (int, bool) {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmpOrdered(x, y), true
		case uint64:
			if x < 0 {
				return -1, true
			}
			return cmpOrdered(uint64(x), y), true
		case float64:
			return cmpFloat(float64(x), y)
		}
	case uint64:
		switch y := b.(type) {
		case int64:
			if y < 0 {
				return 1, true
			}
			return cmpOrdered(x, uint64(y)), true
		case uint64:
			return cmpOrdered(x, y), true
		case float64:
			return cmpFloat(float64(x), y)
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return cmpFloat(x, float64(y))
		case uint64:
			return cmpFloat(x, float64(y))
		case float64:
			return cmpFloat(x, y)
		}
	}
	return 0, false
}

func cmpOrdered[T int64 | uint64 | float64](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func cmpFloat(x, y float64) (int, bool) {
	if math.IsNaN(x) || math.IsNaN(y) {
		return 0, false
	}
	return cmpOrdered(x, y), true
}
