package abi_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/abi/internal/cabi"
)

// goStructs maps each header struct to its Go mirror.
var goStructs = map[string]reflect.Type{
	"tremor_error":             reflect.TypeFor[abi.ErrorBuf](),
	"tremor_span":              reflect.TypeFor[abi.Span](),
	"tremor_value":             reflect.TypeFor[abi.Value](),
	"tremor_value_doc":         reflect.TypeFor[abi.ValueDoc](),
	"tremor_event":             reflect.TypeFor[abi.Event](),
	"tremor_batch":             reflect.TypeFor[abi.Batch](),
	"tremor_host_api":          reflect.TypeFor[abi.HostAPI](),
	"tremor_metric_label":      reflect.TypeFor[abi.MetricLabel](),
	"tremor_create_args":       reflect.TypeFor[abi.CreateArgs](),
	"tremor_connector_vtable":  reflect.TypeFor[abi.ConnectorVTable](),
	"tremor_config_field":      reflect.TypeFor[abi.ConfigField](),
	"tremor_connector_type":    reflect.TypeFor[abi.ConnectorType](),
	"tremor_plugin_descriptor": reflect.TypeFor[abi.PluginDescriptor](),
}

// goConstants maps each numeric #define of the header to its Go mirror.
var goConstants = map[string]int64{
	"TREMOR_ABI_MAJOR":          abi.ABIMajor,
	"TREMOR_ABI_MINOR":          abi.ABIMinor,
	"TREMOR_VALUE_NULL":         abi.ValueNull,
	"TREMOR_VALUE_BOOL":         abi.ValueBool,
	"TREMOR_VALUE_INT":          abi.ValueInt,
	"TREMOR_VALUE_UINT":         abi.ValueUint,
	"TREMOR_VALUE_FLOAT":        abi.ValueFloat,
	"TREMOR_VALUE_STRING":       abi.ValueString,
	"TREMOR_VALUE_BYTES":        abi.ValueBytes,
	"TREMOR_VALUE_ARRAY":        abi.ValueArray,
	"TREMOR_VALUE_OBJECT":       abi.ValueObject,
	"TREMOR_PORT_OUT":           abi.PortOut,
	"TREMOR_PORT_ERR":           abi.PortErr,
	"TREMOR_EVENT_STRUCTURED":   abi.EventStructured,
	"TREMOR_EVENT_END_STREAM":   abi.EventEndStream,
	"TREMOR_OUTCOME_OK":         abi.OutcomeOK,
	"TREMOR_OUTCOME_FAILED":     abi.OutcomeFailed,
	"TREMOR_OUTCOME_RETRY":      abi.OutcomeRetry,
	"TREMOR_LOG_ERROR":          abi.LogError,
	"TREMOR_LOG_WARN":           abi.LogWarn,
	"TREMOR_LOG_INFO":           abi.LogInfo,
	"TREMOR_LOG_DEBUG":          abi.LogDebug,
	"TREMOR_LOG_TRACE":          abi.LogTrace,
	"TREMOR_METRIC_COUNTER":     abi.MetricCounter,
	"TREMOR_METRIC_GAUGE":       abi.MetricGauge,
	"TREMOR_KIND_SOURCE":        abi.KindSource,
	"TREMOR_KIND_SINK":          abi.KindSink,
	"TREMOR_PAYLOAD_BYTES":      abi.PayloadBytes,
	"TREMOR_PAYLOAD_STRUCTURED": abi.PayloadStructured,
	"TREMOR_FIELD_REQUIRED":     abi.FieldRequired,
	"TREMOR_FIELD_SECRET":       abi.FieldSecret,
}

// Defines that are not numeric constants and are checked separately (or are
// C-only machinery).
var nonNumericDefines = map[string]bool{
	"TREMOR_ABI_VERSION_STRING":  true,
	"TREMOR_PLUGIN_ENTRY_SYMBOL": true,
	"TREMOR_PLUGIN_EXPORT":       true,
	"TREMOR_PLUGIN_H":            true,
}

func TestStructLayoutsMatchHeader(t *testing.T) {
	cstructs := cabi.Structs()
	require.Len(t, cstructs, len(goStructs), "the header's struct list and the Go mirror differ")
	for cname, gt := range goStructs {
		t.Run(cname, func(t *testing.T) {
			cs, ok := cstructs[cname]
			require.True(t, ok, "cabi does not know %s", cname)
			assert.Equal(t, cs.Size, gt.Size(), "sizeof(%s) vs %s", cname, gt.Name())
			assert.Equal(t, cs.Align, uintptr(gt.Align()), "alignof(%s) vs %s", cname, gt.Name())

			cfields := map[string]cabi.Field{}
			for _, f := range cs.Fields {
				cfields[f.Name] = f
			}
			seen := map[string]bool{}
			for i := 0; i < gt.NumField(); i++ {
				gf := gt.Field(i)
				if gf.Name == "_" {
					continue
				}
				c := cName(gf.Name)
				cf, ok := cfields[c]
				if !assert.True(t, ok, "%s.%s has no C field %q in %s", gt.Name(), gf.Name, c, cname) {
					continue
				}
				seen[c] = true
				assert.Equal(t, cf.Offset, gf.Offset, "offsetof(%s, %s)", cname, c)
				assert.Equal(t, cf.Size, gf.Type.Size(), "sizeof(%s.%s)", cname, c)
			}
			for name, cf := range cfields {
				if strings.HasPrefix(name, "as.") { // union members share `as`
					assert.Equal(t, cfields["as"].Offset, cf.Offset, "union member %s", name)
					assert.LessOrEqual(t, cf.Size, cfields["as"].Size, "union member %s", name)
					continue
				}
				assert.True(t, seen[name], "C field %s.%s has no Go mirror", cname, name)
			}
		})
	}
}

func TestConstantsMatchHeader(t *testing.T) {
	cconsts := cabi.Constants()
	for name, want := range cconsts {
		got, ok := goConstants[name]
		if assert.True(t, ok, "%s has no Go mirror", name) {
			assert.Equal(t, want, got, name)
		}
	}
	assert.Equal(t, cabi.ABIVersionString(), abi.ABIVersionString)
	assert.Equal(t, cabi.EntrySymbol(), abi.EntrySymbol)
	assert.Equal(t, cconsts["TREMOR_EVENT_STRUCTURED"]|cconsts["TREMOR_EVENT_END_STREAM"], int64(abi.EventKnownFlags), "EventKnownFlags must list every flag")
	assert.Equal(t, int64(abi.KindSource|abi.KindSink), int64(abi.KindKnown))
	assert.Equal(t, int64(abi.FieldRequired|abi.FieldSecret), int64(abi.FieldKnownFlags))
}

func TestResultCodesMatchHeader(t *testing.T) {
	ccodes := cabi.ResultCodes()
	require.Len(t, abi.ResultCodes, len(ccodes), "TREMOR_RESULT_CODES and abi.ResultCodes differ in length")
	for i, c := range ccodes {
		g := abi.ResultCodes[i]
		assert.Equal(t, c.Name, g.Name, "row %d", i)
		assert.Equal(t, c.Value, int32(g.Value), "TREMOR_%s", c.Name)
		assert.Equal(t, c.Text, g.Description, "TREMOR_%s", c.Name)
		assert.Equal(t, cabi.ResultStr(c.Value), g.Value.Description())
		assert.Equal(t, "TREMOR_"+c.Name, g.Value.Name())
	}
	assert.Equal(t, cabi.ResultStr(12345), abi.Result(12345).Description())
	assert.Equal(t, "TREMOR_ERR_CONFIG (the configuration is invalid)", abi.ResultErrConfig.String())
	assert.True(t, abi.ResultErrPanic.IsError())
	assert.False(t, abi.ResultEnd.IsError())
}

// TestEveryHeaderDefinitionIsMirrored reads the header text, so that a new
// #define or struct added to the header without a mirror (and without a
// cabi entry) fails here.
func TestEveryHeaderDefinitionIsMirrored(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "include", "tremor", "plugin.h"))
	require.NoError(t, err)
	defines := regexp.MustCompile(`(?m)^#define (TREMOR_[A-Z0-9_]+)([ (]|$)`).FindAllStringSubmatch(string(src), -1)
	require.NotEmpty(t, defines)
	for _, m := range defines {
		name := m[1]
		if m[2] == "(" || nonNumericDefines[name] {
			continue // function-like macro (the X-macro table) or checked elsewhere
		}
		_, ok := goConstants[name]
		assert.True(t, ok, "#define %s in plugin.h has no Go mirror in abi (and no check in abi/internal/cabi)", name)
		_, ok = cabi.Constants()[name]
		assert.True(t, ok, "#define %s in plugin.h is not exposed by abi/internal/cabi", name)
	}
	structsInHeader := regexp.MustCompile(`typedef struct (tremor_[a-z_]+) \{`).FindAllStringSubmatch(string(src), -1)
	require.NotEmpty(t, structsInHeader)
	for _, m := range structsInHeader {
		_, ok := goStructs[m[1]]
		assert.True(t, ok, "struct %s in plugin.h has no Go mirror in abi", m[1])
	}
	rows := regexp.MustCompile(`X\(([A-Z_]+), (-?(?:0x)?\d+), "`).FindAllStringSubmatch(string(src), -1)
	assert.Len(t, rows, len(abi.ResultCodes)+len(abi.ValueKinds)+len(abi.Ports)+len(abi.EventFlags), "rows of the X-macro tables in the header text")
	tables := regexp.MustCompile(`(?m)^#define (TREMOR_[A-Z_]+)\(X\)`).FindAllStringSubmatch(string(src), -1)
	var names []string
	for _, m := range tables {
		names = append(names, m[1])
	}
	assert.Equal(t, []string{"TREMOR_RESULT_CODES", "TREMOR_VALUE_KINDS", "TREMOR_PORTS", "TREMOR_EVENT_FLAGS"}, names,
		"the header's X-macro tables, each mirrored in abi and checked in TestTablesMatchHeader")
}

// TestTablesMatchHeader compares each X-macro table of the header, row by
// row, with its Go mirror, and the flags with EventKnownFlags.
func TestTablesMatchHeader(t *testing.T) {
	for _, tc := range []struct {
		table string
		c     []cabi.Row
		g     []abi.Row
	}{
		{"TREMOR_VALUE_KINDS", cabi.ValueKinds(), abi.ValueKinds},
		{"TREMOR_PORTS", cabi.Ports(), abi.Ports},
		{"TREMOR_EVENT_FLAGS", cabi.EventFlags(), abi.EventFlags},
	} {
		t.Run(tc.table, func(t *testing.T) {
			require.NotEmpty(t, tc.c)
			require.Len(t, tc.g, len(tc.c), "rows")
			for i, c := range tc.c {
				assert.Equal(t, abi.Row(c), tc.g[i], "row %d", i)
			}
		})
	}
	var known int64
	for _, f := range abi.EventFlags {
		known |= f.Value
	}
	assert.Equal(t, int64(abi.EventKnownFlags), known, "EventKnownFlags has every flag of TREMOR_EVENT_FLAGS")
	for _, k := range abi.ValueKinds {
		assert.Equal(t, k.Text, abi.KindName(uint32(k.Value)))
	}
	assert.Equal(t, "kind 9", abi.KindName(9))
}

// cName turns a Go field name into the header's: StructSize -> struct_size,
// ABIMajor -> abi_major, DefaultJSON -> default_json, VTable -> vtable.
func cName(goName string) string {
	if goName == "VTable" {
		return "vtable"
	}
	r := []rune(goName)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prevLower := unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || (unicode.IsUpper(r[i-1]) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// TestABI10SizesAreWhereABI11Begins: the 1.0 sizes the host and the SDKs
// compare struct_size against are the offsets of the first 1.1 fields, so
// a 1.0 table or type is told apart from a 1.1 one by struct_size alone.
func TestABI10SizesAreWhereABI11Begins(t *testing.T) {
	off := map[string]uintptr{}
	for name, s := range cabi.Structs() {
		for _, f := range s.Fields {
			off[name+"."+f.Name] = f.Offset
		}
	}
	assert.Equal(t, uintptr(abi.SizeofHostAPI10), off["tremor_host_api.counter_add"])
	assert.Equal(t, uintptr(abi.SizeofConnectorType10), off["tremor_connector_type.framing"])
	assert.Less(t, uintptr(abi.SizeofHostAPI10), abi.SizeofHostAPI)
	assert.Less(t, uintptr(abi.SizeofConnectorType10), abi.SizeofConnectorType)
}
