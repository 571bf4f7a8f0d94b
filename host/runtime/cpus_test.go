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

func TestPlanAutoCPUs(t *testing.T) {
	tests := []struct {
		name           string
		allowed        []int
		held           map[int]int
		sources, sinks int
		want           cpuPlan
		ok             bool
	}{
		{"two CPUs, first flow: as cpus = [0, 1]", []int{0, 1}, nil, 1, 1, cpuPlan{sources: []int{0}, sinks: []int{1}, children: []int{1}}, true},
		{"two CPUs, a second flow: no CPU left", []int{0, 1}, map[int]int{0: 1}, 1, 1, cpuPlan{}, false},
		{"CPUs another flow holds are skipped", []int{0, 1, 2, 3}, map[int]int{0: 1}, 2, 1, cpuPlan{sources: []int{1, 2}, sinks: []int{3}, children: []int{3}}, true},
		{"one CPU beyond the sources, for every sink and the plugins", []int{2, 3, 4, 5}, nil, 1, 3, cpuPlan{sources: []int{2}, sinks: []int{3, 3, 3}, children: []int{3}}, true},
		{"a second flow on four CPUs", []int{0, 1, 2, 3}, map[int]int{0: 1, 1: 1}, 1, 1, cpuPlan{sources: []int{2}, sinks: []int{3}, children: []int{3}}, true},
		{"as many sources as CPUs: unpinned", []int{0, 1}, nil, 2, 1, cpuPlan{}, false},
		{"one CPU: unpinned", []int{0}, nil, 1, 1, cpuPlan{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := planAuto(tt.allowed, tt.held, tt.sources, tt.sinks)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

// Flows hold their CPUs while they run; an "auto" flow that starts
// meanwhile plans around them, and after they end the CPUs are free again.
func TestHeldCPUs(t *testing.T) {
	heldCPUs.Lock()
	releaseA := holdLocked(cpuPlan{sources: []int{0}, sinks: []int{0}, children: []int{0}}.cpus())
	releaseB := holdLocked([]int{0, 2})
	_, ok := planAuto([]int{0, 1, 2}, heldCPUs.flows, 1, 1)
	heldCPUs.Unlock()
	assert.False(t, ok, "CPUs 0 and 2 held: only 1 is free, and the sink and plugins need one more")

	releaseB()
	heldCPUs.Lock()
	p, ok := planAuto([]int{0, 1, 2}, heldCPUs.flows, 1, 1)
	heldCPUs.Unlock()
	assert.True(t, ok)
	assert.Equal(t, cpuPlan{sources: []int{1}, sinks: []int{2}, children: []int{2}}, p, "CPU 0 still held by the first flow")

	releaseA()
	heldCPUs.Lock()
	assert.Empty(t, heldCPUs.flows, "nothing held once both ended")
	heldCPUs.Unlock()
}

func TestCPUList(t *testing.T) {
	var set unix.CPUSet
	for _, c := range []int{0, 1, 2, 3, 6, 8, 9, 1023} {
		set.Set(c)
	}
	assert.Equal(t, "0-3,6,8-9,1023", cpuList(&set))
}
