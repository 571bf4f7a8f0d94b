package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"tremorhost/abi"
)

// CheckConfig checks an instance config against the connector's declared
// fields and returns a new map with every value in its field's type
// (int64, uint64, float64, string, []byte, bool, []any, map[string]any) and
// the declared defaults filled in. Numbers convert between int, uint and
// float only when the conversion is exact (5 for a float field becomes 5.0;
// 1.5 for an int field, -1 for a uint field or 2^53+1 for a float field are
// refused). Unknown keys, missing required fields and
// values of the wrong type are refused; the error lists every problem, each
// naming the field and the type it expects. A nil value counts as absent.
// Secret values never appear in errors.
func (c *Connector) CheckConfig(cfg map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(c.Fields))
	var problems []string
	reported := map[string]bool{}
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := c.Field(k)
		if f == nil {
			problems = append(problems, fmt.Sprintf("unknown config field %q (%s)", k, c.knownFields()))
			continue
		}
		v := cfg[k]
		if v == nil {
			continue
		}
		nv, err := coerce(v, f.Type)
		if err != nil && f.Secret {
			// coerce quotes numbers it cannot convert
			err = fmt.Errorf("got %s (the value is not shown: the field is secret)", describe(v))
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("config field %q: expected %s, %v", k, f.TypeName(), err))
			reported[k] = true // one message per mistake: not "missing" as well
			continue
		}
		out[k] = nv
	}
	for i := range c.Fields {
		f := &c.Fields[i]
		if _, ok := out[f.Name]; ok || reported[f.Name] {
			continue
		}
		if f.Required {
			doc := ""
			if f.Doc != "" {
				doc = ": " + f.Doc
			}
			problems = append(problems, fmt.Sprintf("missing required config field %q (%s%s)", f.Name, f.TypeName(), doc))
			continue
		}
		if f.HasDefault() {
			out[f.Name] = f.Default()
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("connector %q: invalid config: %s", c.Name, strings.Join(problems, "; "))
	}
	return out, nil
}

func (c *Connector) knownFields() string {
	if len(c.Fields) == 0 {
		return "this connector takes no config fields"
	}
	names := make([]string, len(c.Fields))
	for i, f := range c.Fields {
		names[i] = f.Name
	}
	return "known fields: " + strings.Join(names, ", ")
}

// coerce converts a Go config value to a field type; errors say what was
// found ("got string"), never the value itself.
func coerce(v any, kind uint32) (any, error) {
	switch kind {
	case abi.ValueBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case abi.ValueInt:
		return whole(v, toInt64)
	case abi.ValueUint:
		return whole(v, toUint64)
	case abi.ValueFloat:
		return coerceFloat(v)
	case abi.ValueString:
		if s, ok := v.(string); ok {
			if !utf8.ValidString(s) {
				return nil, errors.New("got a string that is not valid UTF-8")
			}
			return s, nil
		}
	case abi.ValueBytes:
		switch x := v.(type) {
		case []byte:
			return slices.Clone(x), nil
		case string:
			return []byte(x), nil
		}
	case abi.ValueArray:
		switch v.(type) {
		case []any, []string, []map[string]any, []int64, []int, []float64, []bool:
			return normalize(v, 0)
		}
	case abi.ValueObject:
		if _, ok := v.(map[string]any); ok {
			return normalize(v, 0)
		}
	default:
		return nil, fmt.Errorf("unsupported field type %d", kind)
	}
	return nil, gotKind(v)
}

// gotKind is the error for a value of the wrong kind: it names the kind,
// never the value (it may be a secret).
func gotKind(v any) error { return fmt.Errorf("got %s", describe(v)) }

// whole converts v to an int or uint field's type with conv.
func whole[T int64 | uint64](v any, conv func(any) (T, bool, error)) (any, error) {
	n, ok, err := conv(v)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, gotKind(v)
	}
	return n, nil
}

// coerceFloat converts v to a float field's type.
func coerceFloat(v any) (any, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("got %q, not a number", x.String())
		}
		return f, nil
	}
	// Integers convert only when the conversion is exact.
	if i, ok, _ := toInt64(v); ok {
		if f := float64(i); f >= -(1<<63) && f < 1<<63 && int64(f) == i {
			return f, nil
		}
		return nil, fmt.Errorf("got %d, which a float cannot hold exactly", i)
	}
	if u, ok, _ := toUint64(v); ok {
		if f := float64(u); f < 1<<64 && uint64(f) == u {
			return f, nil
		}
		return nil, fmt.Errorf("got %d, which a float cannot hold exactly", u)
	}
	return nil, gotKind(v)
}

func toInt64(v any) (int64, bool, error) {
	switch x := v.(type) {
	case int64:
		return x, true, nil
	case int:
		return int64(x), true, nil
	case int32:
		return int64(x), true, nil
	case int16:
		return int64(x), true, nil
	case int8:
		return int64(x), true, nil
	case uint64, uint, uint32, uint16, uint8:
		u, _, _ := toUint64(v)
		if u > math.MaxInt64 {
			return 0, false, fmt.Errorf("got %d, which does not fit in a signed 64-bit integer", u)
		}
		return int64(u), true, nil
	case float64:
		if x != math.Trunc(x) || x < math.MinInt64 || x >= math.MaxInt64 {
			return 0, false, fmt.Errorf("got %v, which is not a whole number in the int range", x)
		}
		return int64(x), true, nil
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return 0, false, fmt.Errorf("got %s, which is not a signed 64-bit integer", x.String())
		}
		return i, true, nil
	}
	return 0, false, nil
}

func toUint64(v any) (uint64, bool, error) {
	switch x := v.(type) {
	case uint64:
		return x, true, nil
	case uint:
		return uint64(x), true, nil
	case uint32:
		return uint64(x), true, nil
	case uint16:
		return uint64(x), true, nil
	case uint8:
		return uint64(x), true, nil
	case int64, int, int32, int16, int8:
		i, _, _ := toInt64(v)
		if i < 0 {
			return 0, false, fmt.Errorf("got %d, which is negative", i)
		}
		return uint64(i), true, nil
	case float64:
		if x != math.Trunc(x) || x < 0 || x >= math.MaxUint64 {
			return 0, false, fmt.Errorf("got %v, which is not a whole non-negative number in the uint range", x)
		}
		return uint64(x), true, nil
	case json.Number:
		var u uint64
		if _, err := fmt.Sscan(x.String(), &u); err != nil || strings.ContainsAny(x.String(), ".eE-+") {
			return 0, false, fmt.Errorf("got %s, which is not an unsigned 64-bit integer", x.String())
		}
		return u, true, nil
	}
	return 0, false, nil
}

// normalize turns a nested Go value into the plain value set.
func normalize(v any, depth int) (any, error) {
	if depth > abi.MaxDepth {
		return nil, fmt.Errorf("nests deeper than %d levels", abi.MaxDepth)
	}
	switch x := v.(type) {
	case nil, bool, int64, uint64, float64, string:
		return x, nil
	case []byte:
		return slices.Clone(x), nil
	case int, int32, int16, int8:
		i, _, _ := toInt64(x)
		return i, nil
	case uint, uint32, uint16, uint8:
		u, _, _ := toUint64(x)
		return u, nil
	case float32:
		return float64(x), nil
	case json.Number:
		return normalizeNumber(x)
	case []any:
		return normalizeEach(x, depth)
	case []map[string]any:
		return normalizeEach(x, depth)
	case []string:
		return plainSlice(x, nil), nil
	case []int64:
		return plainSlice(x, nil), nil
	case []int:
		return plainSlice(x, func(e int) any { return int64(e) }), nil
	case []float64:
		return plainSlice(x, nil), nil
	case []bool:
		return plainSlice(x, nil), nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, fmt.Errorf("member %q: %w", k, err)
			}
			out[k] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("holds a %s, which a config value cannot be", describe(v))
}

// normalizeNumber keeps a JSON number as an int when it is one, else as a
// uint, else as a float.
func normalizeNumber(x json.Number) (any, error) {
	if i, err := x.Int64(); err == nil {
		return i, nil
	}
	if u, ok, err := toUint64(x); ok && err == nil {
		return u, nil
	}
	f, err := x.Float64()
	if err != nil {
		return nil, fmt.Errorf("bad number %s", x.String())
	}
	return f, nil
}

// normalizeEach normalizes the elements of an array one level down.
func normalizeEach[T any](xs []T, depth int) (any, error) {
	out := make([]any, len(xs))
	for i, e := range xs {
		n, err := normalize(e, depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// plainSlice copies an array of plain values into a []any, converting each
// element with conv when it is not nil.
func plainSlice[T any](xs []T, conv func(T) any) []any {
	out := make([]any, len(xs))
	for i, e := range xs {
		if conv != nil {
			out[i] = conv(e)
		} else {
			out[i] = e
		}
	}
	return out
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case string:
		return "string"
	case []byte:
		return "bytes"
	case int, int8, int16, int32, int64:
		return "int"
	case uint, uint8, uint16, uint32, uint64:
		return "uint"
	case float32, float64:
		return "float"
	case json.Number:
		return "number"
	case []any, []string, []map[string]any, []int64, []int, []float64, []bool:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("Go %T", v)
}

// parseDefault parses a field's default_json and checks it has the field's
// type; it returns the default as a plain value.
func parseDefault(s string, kind uint32) (any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("is not valid JSON: text after the value")
	}
	if v == nil {
		return nil, fmt.Errorf("is null: leave default_json NULL for no default, or give a %s", abi.KindName(kind))
	}
	nv, err := coerce(v, kind)
	if err != nil {
		return nil, fmt.Errorf("does not match the field's type %s: %v", abi.KindName(kind), err)
	}
	return nv, nil
}
