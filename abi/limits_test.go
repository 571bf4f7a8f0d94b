package abi_test

import (
	"testing"

	"tremorhost/abi"
	"tremorhost/abi/internal/cabi"
)

// Every limit runner/limits.h lists has a Go mirror with the same value.
func TestRunnerLimitsMatchHeader(t *testing.T) {
	goLimits := map[string]int64{
		"MAX_NAME_LEN":           abi.MaxNameLen,
		"MAX_TEXT_LEN":           abi.MaxTextLen,
		"MAX_DEFAULT_JSON":       abi.MaxDefaultJSON,
		"MAX_CONNECTORS":         abi.MaxConnectors,
		"MAX_FIELDS":             abi.MaxFields,
		"ERROR_CAP":              abi.ErrorCap,
		"MAX_LOG_LINE":           abi.MaxLogLine,
		"MAX_FRAME":              abi.MaxFrame,
		"SLOTS":                  abi.SharedSlots,
		"MAX_IDS_PER_CALL":       abi.MaxIDsPerCall,
		"ERROR_CANARY":           abi.ErrorCanary,
		"MAX_METRIC_LABELS_READ": abi.MaxMetricLabelsRead,
	}
	climits := cabi.RunnerLimits()
	if len(climits) != len(goLimits) {
		t.Errorf("runner/limits.h lists %d limits, abi mirrors %d", len(climits), len(goLimits))
	}
	for name, want := range climits {
		got, ok := goLimits[name]
		if !ok {
			t.Errorf("%s (runner/limits.h) has no Go mirror in abi/limits.go", name)
			continue
		}
		if got != want {
			t.Errorf("%s: abi has %d, runner/limits.h %d", name, got, want)
		}
	}
}
