package pdk

import (
	"math"
	"sort"
)

// Config is an instance's configuration: the flow config's object, already
// checked by the host against the connector type's Fields (types, required
// fields present, defaults filled in, unknown keys refused). It is copied
// out of the host's memory before New is called, so it may be kept.
//
// Values are plain Go data: nil, bool, int64, uint64, float64, string,
// []byte, []any and map[string]any. The typed getters convert between the
// integer kinds and to float64 when the value fits.
type Config struct {
	m map[string]any
}

// NewConfig makes a Config from a map, for testing connector code outside
// a host. Values may use any Go integer or float type.
func NewConfig(m map[string]any) Config {
	c := Config{m: make(map[string]any, len(m))}
	for k, v := range m {
		c.m[k] = v
	}
	return c
}

// Get returns the raw value of key.
func (c Config) Get(key string) (any, bool) {
	v, ok := c.m[key]
	return v, ok
}

// Has reports whether key is present.
func (c Config) Has(key string) bool { _, ok := c.m[key]; return ok }

// Keys returns the keys present, sorted.
func (c Config) Keys() []string {
	keys := make([]string, 0, len(c.m))
	for k := range c.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// String returns key's value when it is a string.
func (c Config) String(key string) (string, bool) {
	s, ok := c.m[key].(string)
	return s, ok
}

// Bool returns key's value when it is a bool.
func (c Config) Bool(key string) (bool, bool) {
	b, ok := c.m[key].(bool)
	return b, ok
}

// Int returns key's value when it is an integer that fits an int64.
func (c Config) Int(key string) (int64, bool) {
	switch x := c.m[key].(type) {
	case int64:
		return x, true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint32:
		return int64(x), true
	}
	return 0, false
}

// Uint returns key's value when it is a non-negative integer.
func (c Config) Uint(key string) (uint64, bool) {
	switch x := c.m[key].(type) {
	case uint64:
		return x, true
	case int64:
		if x >= 0 {
			return uint64(x), true
		}
	case int:
		if x >= 0 {
			return uint64(x), true
		}
	case uint:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case int32:
		if x >= 0 {
			return uint64(x), true
		}
	}
	return 0, false
}

// Float returns key's value when it is a number.
func (c Config) Float(key string) (float64, bool) {
	switch x := c.m[key].(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	if i, ok := c.Int(key); ok {
		return float64(i), true
	}
	if u, ok := c.Uint(key); ok {
		return float64(u), true
	}
	return 0, false
}

// StringOr, BoolOr, IntOr, UintOr and FloatOr return key's value, or def
// when it is absent or of another type.
func (c Config) StringOr(key, def string) string {
	if v, ok := c.String(key); ok {
		return v
	}
	return def
}

func (c Config) BoolOr(key string, def bool) bool {
	if v, ok := c.Bool(key); ok {
		return v
	}
	return def
}

func (c Config) IntOr(key string, def int64) int64 {
	if v, ok := c.Int(key); ok {
		return v
	}
	return def
}

func (c Config) UintOr(key string, def uint64) uint64 {
	if v, ok := c.Uint(key); ok {
		return v
	}
	return def
}

func (c Config) FloatOr(key string, def float64) float64 {
	if v, ok := c.Float(key); ok {
		return v
	}
	return def
}

// RequireString returns key's string value, or a ConfigError naming the
// key when it is absent or not a string.
func (c Config) RequireString(key string) (string, error) {
	v, ok := c.m[key]
	if !ok {
		return "", ConfigError("missing required field %q", key)
	}
	s, ok := v.(string)
	if !ok {
		return "", ConfigError("field %q must be a string, not %T", key, v)
	}
	return s, nil
}

// OptionalBool returns key's value when it is a bool, def when it is absent
// (or null), and a ConfigError naming the key otherwise (see OptionalUint).
func (c Config) OptionalBool(key string, def bool) (bool, error) {
	v, ok := c.m[key]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, ConfigError("field %q must be a bool, not %T %v", key, v, v)
	}
	return b, nil
}

// OptionalUint returns key's value when it is a non-negative integer, def
// when it is absent (or null), and a ConfigError naming the key when it
// holds anything else. The host checks types before on_create, so this
// only matters for configs that bypass it (tests, other hosts), but then a
// wrong value is refused instead of silently replaced by the default.
func (c Config) OptionalUint(key string, def uint64) (uint64, error) {
	v, ok := c.m[key]
	if !ok || v == nil {
		return def, nil
	}
	u, ok := c.Uint(key)
	if !ok {
		return 0, ConfigError("field %q must be an unsigned integer, not %T %v", key, v, v)
	}
	return u, nil
}
