package runtime

import (
	"fmt"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

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
//
// cpus = "auto" makes that plan when the flow starts, from the CPUs this
// process may use that no other running flow has pinned anything to: a CPU
// for each source and one more, shared by the sinks and the plugin
// processes, all the flow's own while it runs. A flow that finds too few
// such CPUs left runs where the kernel puts it.

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

// planAuto is the plan for cpus = "auto" (above), given the CPUs this
// process may use and how many running flows have pinned something to
// each. ok is false when too few are free.
func planAuto(allowed []int, held map[int]int, sources, sinks int) (p cpuPlan, ok bool) {
	var free []int
	for _, c := range allowed {
		if held[c] == 0 {
			free = append(free, c)
		}
	}
	if len(free) < sources+1 {
		return cpuPlan{}, false
	}
	p.sources = free[:sources:sources]
	p.children = free[sources : sources+1 : sources+1]
	for range sinks {
		p.sinks = append(p.sinks, p.children[0])
	}
	return p, true
}

// cpus lists the CPUs the plan pins anything to, each once.
func (p cpuPlan) cpus() []int {
	var all []int
	for _, c := range slices.Concat(p.sources, p.sinks, p.children) {
		if !slices.Contains(all, c) {
			all = append(all, c)
		}
	}
	return all
}

// heldCPUs counts, per CPU, the running flows that pin something to it
// (cpus set or "auto"): the CPUs a flow with cpus = "auto" stays off.
// Process-wide, since flows share the process (tremorctl serve).
var heldCPUs = struct {
	sync.Mutex
	flows map[int]int
}{flows: map[int]int{}}

// holdLocked counts the CPUs of a flow that starts and returns the func
// that forgets them when it ends; the caller holds heldCPUs.
func holdLocked(cpus []int) (release func()) {
	for _, c := range cpus {
		heldCPUs.flows[c]++
	}
	return func() {
		heldCPUs.Lock()
		defer heldCPUs.Unlock()
		for _, c := range cpus {
			if heldCPUs.flows[c]--; heldCPUs.flows[c] == 0 {
				delete(heldCPUs.flows, c)
			}
		}
	}
}

// allowedCPUs lists the CPUs this process may run on (taskset, a cgroup's
// cpuset).
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	var cpus []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
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
