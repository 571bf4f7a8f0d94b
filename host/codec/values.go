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

func typeName(v any) string { return fmt.Sprintf("%T", v) }
