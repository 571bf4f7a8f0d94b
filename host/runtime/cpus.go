package runtime

import (
	"fmt"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"tremorhost/host/flow"
)

// A flow's cpus setting pins the goroutines that drive its connectors,
// and the processes of its isolated plugins, to CPUs of its own choosing.
//
// Left to itself the kernel wakes a plugin's process on the CPU of the
// thread that wrote to it (a socket write is a synchronous wake-up): the
// child's pull-ahead then preempts the source goroutine that was to route
// the previous batch meanwhile, and the two run in turn instead of side by
// side (docs/benchmarks.md, "Pinned CPUs"). With cpus set, each source
// and each sink role gets a CPU (sources first, in flow order, then
// sinks, round robin over the list), and plugin processes run on the
// CPUs no source has, so that a source's routing never waits behind its
// own plugin. On two CPUs: the source on the first, the sink and the
// plugin processes on the second.

// cpuPlan is where a flow's roles and plugin processes run.
type cpuPlan struct {
	sources, sinks []int // a CPU per role, by position in Runtime.sources, .sinks
	children       []int // the CPUs plugin processes may run on
}

// planCPUs spreads the roles over cpus (see above).
func planCPUs(cpus []int, sources, sinks int) cpuPlan {
	var p cpuPlan
	for i := range sources {
		p.sources = append(p.sources, cpus[i%len(cpus)])
	}
	for i := range sinks {
		p.sinks = append(p.sinks, cpus[(sources+i)%len(cpus)])
	}
	for _, c := range cpus {
		if !slices.Contains(p.sources, c) {
			p.children = append(p.children, c)
		}
	}
	if len(p.children) == 0 {
		p.children = cpus // fewer CPUs than sources: share them all
	}
	return p
}

// checkCPUs refuses CPUs this process may not run on (taskset, a cgroup's
// cpuset), naming the ones it may.
func checkCPUs(f *flow.Flow) error {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return f.ErrAt(fmt.Sprintf("cannot read which CPUs this process may use: %v", err), "flow", "cpus")
	}
	for i, c := range f.CPUs {
		if !allowed.IsSet(c) {
			return f.ErrAt(fmt.Sprintf("CPU %d is not one this process may run on (it may use %s); list CPUs from that set, or remove cpus to let the kernel place the flow", c, cpuList(&allowed)), "flow", "cpus", i)
		}
	}
	return nil
}

// cpuList writes a CPU set as the kernel does in /proc: "0-3,6".
func cpuList(set *unix.CPUSet) string {
	var parts []string
	for c := 0; c < len(set)*64; c++ {
		if !set.IsSet(c) {
			continue
		}
		end := c
		for end+1 < len(set)*64 && set.IsSet(end+1) {
			end++
		}
		if end == c {
			parts = append(parts, strconv.Itoa(c))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", c, end))
		}
		c = end
	}
	return strings.Join(parts, ",")
}

// pinTo locks the calling goroutine to its thread and that thread to cpu.
// The goroutine must not unlock: when it returns, Go ends the thread
// rather than hand a pinned thread to other goroutines. cpu < 0 pins
// nothing.
func pinTo(cpu int) error {
	if cpu < 0 {
		return nil
	}
	goruntime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pinning to CPU %d: %w", cpu, err)
	}
	return nil
}
