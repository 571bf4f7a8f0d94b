package codec

import "fmt"

// asInt64 converts the signed Go integer kinds other than int64.
func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	}
	return 0, false
}

// asUint64 converts the unsigned Go integer kinds other than uint64.
func asUint64(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint:
		return uint64(x), true
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	}
	return 0, false
}

// kindOf names an event value's kind as a flow's author knows it (an
// object, an array, a string), for the messages of values a codec cannot
// encode; a Go type no decoder makes is named as such.
func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any, []string:
		return "an array"
	case string:
		return "a string"
	case []byte:
		return "bytes"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return "a number"
	}
	return fmt.Sprintf("a Go %T", v)
}
