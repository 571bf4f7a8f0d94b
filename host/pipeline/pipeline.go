// Package pipeline routes events by field values. A pipeline is a list of
// routes; the first route whose condition holds decides where an event goes,
// and an event that matches none goes to the "out" port. That is the whole
// language, on purpose: small enough to specify in a paragraph (README,
// "Pipelines") and to evaluate without allocating.
package pipeline

import (
	"bytes"
	"math"
	"strconv"
	"strings"

	"tremorhost/abi"
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
	text    []byte // value when it is a string, for matching flat strings
	port    string
	discard bool
}

// Compile prepares a checked flow pipeline for routing.
func Compile(p flow.Pipeline) *Pipeline {
	c := &Pipeline{ID: p.ID}
	for _, r := range p.Routes {
		rt := route{
			path: strings.Split(r.Field, "."), op: r.Op, value: r.Value,
			port: r.To, discard: r.Discard,
		}
		if s, ok := r.Value.(string); ok {
			rt.text = []byte(s)
		}
		c.routes = append(c.routes, rt)
	}
	return c
}

// Decision is where an event goes.
type Decision struct {
	Port    string // output port; "" when Discard
	Discard bool   // dropped on purpose by a route (the source gets an ack)
}

// Route decides where the event value v goes: a plain Go value or a flat
// *abi.Doc, which is matched in place (no allocation for scalar fields).
func (p *Pipeline) Route(v any) Decision {
	d, flat := v.(*abi.Doc)
	for i := range p.routes {
		r := &p.routes[i]
		var hit bool
		if flat {
			hit = r.matchesDoc(d)
		} else {
			hit = r.matches(v)
		}
		if hit {
			return Decision{Port: r.port, Discard: r.discard}
		}
	}
	return Decision{Port: PortOut}
}

func (r *route) matches(v any) bool {
	field, found := Lookup(v, r.path)
	return r.matchField(field, found)
}

// matchField applies the route's operator to the field it looked up.
func (r *route) matchField(field any, found bool) bool {
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

// matchesDoc is matches for a flat value: strings and other scalars are
// compared where they lie; arrays and objects are decoded for the
// comparisons that need their contents.
func (r *route) matchesDoc(d *abi.Doc) bool {
	i, found := lookupDoc(d, r.path)
	if !found || r.op == "exists" || r.op == "missing" {
		return r.matchField(nil, found)
	}
	switch n := &d.Nodes[i]; n.Kind {
	case abi.ValueString:
		return r.matchText(d.Data(i))
	case abi.ValueArray:
		if r.op == "contains" {
			for j, c := i+1, uint64(0); c < n.Len; c, j = c+1, d.Next(j) {
				if v, ok := d.Scalar(j); ok && equal(v, r.value) ||
					d.Nodes[j].Kind == abi.ValueString && r.text != nil && string(d.Data(j)) == string(r.text) {
					return true
				}
			}
			if r.text != nil || isScalar(r.value) {
				return false // only a composite value can equal a composite element
			}
		}
	case abi.ValueObject:
		if r.op == "contains" {
			key, ok := r.value.(string)
			if !ok {
				return false
			}
			_, has := d.Member(i, key)
			return has
		}
	}
	if v, ok := d.Scalar(i); ok {
		return r.matchField(v, true)
	}
	sub := abi.Doc{Nodes: d.Nodes[i:d.Next(i)], Bytes: d.Bytes}
	return r.matchField(sub.Any(), true)
}

// matchText applies the operator to a flat string field.
func (r *route) matchText(s []byte) bool {
	if r.text == nil {
		return r.op == "ne" // a string equals no other kind and orders with none
	}
	switch r.op {
	case "eq":
		return string(s) == string(r.text)
	case "ne":
		return string(s) != string(r.text)
	case "lt":
		return bytes.Compare(s, r.text) < 0
	case "le":
		return bytes.Compare(s, r.text) <= 0
	case "gt":
		return bytes.Compare(s, r.text) > 0
	case "ge":
		return bytes.Compare(s, r.text) >= 0
	case "contains":
		return bytes.Contains(s, r.text)
	case "prefix":
		return bytes.HasPrefix(s, r.text)
	}
	return false
}

func isScalar(v any) bool {
	switch v.(type) {
	case []any, map[string]any:
		return false
	}
	return true
}

// lookupDoc is Lookup in a flat value: the node the path leads to.
func lookupDoc(d *abi.Doc, path []string) (int, bool) {
	i := 0
	for _, seg := range path {
		var ok bool
		switch d.Nodes[i].Kind {
		case abi.ValueObject:
			i, ok = d.Member(i, seg)
		case abi.ValueArray:
			k, err := strconv.Atoi(seg)
			if err != nil {
				return 0, false
			}
			i, ok = d.Element(i, k)
		}
		if !ok {
			return 0, false
		}
	}
	return i, true
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
