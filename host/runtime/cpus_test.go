package runtime

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

func TestPlanCPUs(t *testing.T) {
	tests := []struct {
		name           string
		cpus           []int
		sources, sinks int
		want           cpuPlan
	}{
		{"two CPUs: source apart from sink and plugins", []int{0, 1}, 1, 1, cpuPlan{sources: []int{0}, sinks: []int{1}, children: []int{1}}},
		{"list order is kept", []int{3, 1}, 1, 1, cpuPlan{sources: []int{3}, sinks: []int{1}, children: []int{1}}},
		{"one CPU: everything shares it", []int{2}, 1, 2, cpuPlan{sources: []int{2}, sinks: []int{2, 2}, children: []int{2}}},
		{"round robin, sources first", []int{0, 1, 2, 3}, 2, 3, cpuPlan{sources: []int{0, 1}, sinks: []int{2, 3, 0}, children: []int{2, 3}}},
		{"as many sources as CPUs: plugins share them all", []int{0, 1}, 2, 1, cpuPlan{sources: []int{0, 1}, sinks: []int{0}, children: []int{0, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, planCPUs(tt.cpus, tt.sources, tt.sinks))
		})
	}
}

func TestCPUList(t *testing.T) {
	var set unix.CPUSet
	for _, c := range []int{0, 1, 2, 3, 6, 8, 9, 1023} {
		set.Set(c)
	}
	assert.Equal(t, "0-3,6,8-9,1023", cpuList(&set))
}
