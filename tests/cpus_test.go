package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tremorhost/tests/testenv"
)

// isolatedTicks is an endless isolated metronome into an isolated
// bench_sink (twoConnectors), named name and pinned to cpus ("[0, 1]",
// "\"auto\""; "": not pinned).
func isolatedTicks(name, cpus string) string {
	src := "type = \"metronome\"\nisolation = \"process\"\nconfig = { interval_ms = 1 }"
	dst := "type = \"bench_sink\"\ncodec = \"json\"\nisolation = \"process\""
	flow := fmt.Sprintf(twoConnectors, name, src, dst)
	if cpus == "" {
		return flow
	}
	return strings.Replace(flow, "batch_size = 16\n", "batch_size = 16\ncpus = "+cpus+"\n", 1)
}

// tomlInts writes a TOML array of integers: [0, 1].
func tomlInts(v []int) string {
	return "[" + strings.Join(strings.Fields(strings.Trim(fmt.Sprint(v), "[]")), ", ") + "]"
}

// allowedCPUs lists the CPUs this test may run on.
func allowedCPUs(t *testing.T) []int {
	t.Helper()
	var set unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &set))
	var cpus []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	require.NotEmpty(t, cpus)
	return cpus
}

// cpusAllowed reads a task's Cpus_allowed_list from its status file.
func cpusAllowed(t *testing.T, status string) string {
	t.Helper()
	b, err := os.ReadFile(status)
	if err != nil {
		return "" // the task ended meanwhile
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// runnerMasks returns the Cpus_allowed_list of every thread of each
// tremor-runner --serve child of process pid (a child is listed under the
// host thread that forked it).
func runnerMasks(t *testing.T, pid int) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	lists, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	require.NoError(t, err)
	for _, f := range lists {
		b, _ := os.ReadFile(f)
		for _, c := range strings.Fields(string(b)) {
			if cmd, _ := os.ReadFile("/proc/" + c + "/cmdline"); !strings.Contains(string(cmd), "--serve") {
				continue
			}
			tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%s/task/*/status", c))
			for _, st := range tasks {
				if m := cpusAllowed(t, st); m != "" {
					out[c] = append(out[c], m)
				}
			}
		}
	}
	return out
}

// assertRunnersOn checks that every thread of each runner child in masks
// (runnerMasks) may run on cpus only (a Cpus_allowed_list).
func assertRunnersOn(t *testing.T, masks map[string][]string, cpus, why string) {
	t.Helper()
	for child, ms := range masks {
		for _, m := range ms {
			assert.Equal(t, cpus, m, "pid %s: %s", child, why)
		}
	}
}

// With [flow] cpus, the source's goroutine runs on a thread pinned to the
// first CPU, the sink's to the second, and the plugins' processes (every
// thread of them) on the CPUs no source has; the flow still delivers every
// event and stops cleanly on SIGTERM.
func TestCLIPinnedCPUs(t *testing.T) {
	cpus := allowedCPUs(t)
	if len(cpus) > 2 {
		cpus = cpus[:2]
	}
	path := writeFlow(t, t.TempDir(), "pinned.toml", isolatedTicks("pinned", tomlInts(cpus)))
	p := startCtl(t, "run", "--plugin-path", testenv.PluginsDir(t), path)
	p.waitLog(`"connector":"dst"`, `"message":"connected"`)
	p.waitLog(`"connector":"src"`, `"message":"connected"`)

	sourceCPU, sinkCPU := strconv.Itoa(cpus[0]), strconv.Itoa(cpus[1%len(cpus)])
	childCPUs := sinkCPU // two CPUs: the one the source does not have
	if len(cpus) == 1 {
		childCPUs = sourceCPU
	}
	pid := p.cmd.Process.Pid
	var hostMasks []string
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	require.NoError(t, err)
	for _, st := range tasks {
		hostMasks = append(hostMasks, cpusAllowed(t, st))
	}
	assert.Contains(t, hostMasks, sourceCPU, "a host thread pinned to the source's CPU")
	assert.Contains(t, hostMasks, sinkCPU, "a host thread pinned to the sink's CPU")

	masks := runnerMasks(t, pid)
	require.Len(t, masks, 2, "the two plugins run in child processes")
	assertRunnersOn(t, masks, childCPUs, "every thread of a plugin process runs on the CPUs no source has")

	p.signal(syscall.SIGTERM)
	code := p.wait()
	stderr := p.stderr.String()
	require.Equal(t, 0, code, "stderr:\n%s", lastLines(stderr, 20))
	noCrash(t, stderr)
	rows := statsTable(t, stderr)
	src, dst := rows["src"], rows["dst"]
	assert.NotZero(t, src[colOut], "events flowed")
	assert.Equal(t, src[colOut], dst[colOut], "every event reached the sink")
	assert.Equal(t, src[colOut], src[colAcks], "and was acked")
	assert.Zero(t, src[colFails])
}

// A CPU the host may not run on is refused when the flow is checked, by
// validate and run alike, naming the key and the CPUs it may use.
func TestCLIPinnedCPUsNotAllowed(t *testing.T) {
	cpus := allowedCPUs(t)
	bad := 0
	for slices.Contains(cpus, bad) {
		bad++
	}
	require.Less(t, bad, 1024, "every CPU is allowed here: nothing to refuse")
	path := writeFlow(t, t.TempDir(), "pinned.toml", isolatedTicks("pinned", fmt.Sprintf("[%d]", bad)))
	for _, cmd := range []string{"validate", "run"} {
		code, stdout, stderr := ctl(t, cmd, "--plugin-path", testenv.PluginsDir(t), path)
		assert.Equal(t, 1, code, "%s: stdout:\n%s\nstderr:\n%s", cmd, stdout, lastLines(stderr, 10))
		assert.Regexp(t, fmt.Sprintf(`pinned\.toml:5: flow\.cpus\[0\]: CPU %d is not one this process may run on \(it may use [0-9,-]+\)`, bad), stderr, cmd)
		assert.NotContains(t, stdout, "ok", cmd)
		noCrash(t, stderr)
	}
}

// A plugin upgraded under a pinned flow (tremorctl serve, then tremorctl
// upgrade) runs its new process on the same CPUs as the old one.
func TestUpgradePinnedKeepsCPUs(t *testing.T) {
	cpus := allowedCPUs(t)
	if len(cpus) > 2 {
		cpus = cpus[:2]
	}
	childCPUs := strconv.Itoa(cpus[len(cpus)-1])
	newMetronome := testenv.CBuild(t, "plugins/metronome-c/metronome.c", `TREMOR_PLUGIN_DEFINE("metronome", "0.1.0"`, `TREMOR_PLUGIN_DEFINE("metronome", "0.2.0"`)
	u := newUpgradeTree(t, "libtremor_metronome.so", "libtremor_bench.so")
	flows := filepath.Join(t.TempDir(), "flows")
	require.NoError(t, os.Mkdir(flows, 0o755))
	writeFlow(t, flows, "up.toml", isolatedTicks("up", tomlInts(cpus)))
	s := startServeBin(t, u.bin, flows)
	s.waitLog(`"connector":"src"`, `"message":"connected"`)
	pid := s.cmd.Process.Pid
	before := runnerMasks(t, pid)
	require.Len(t, before, 2)

	u.install(t, newMetronome, "libtremor_metronome.so")
	code, stdout, stderr := s.upgradeCLI("metronome")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s\nserve:\n%s", stdout, stderr, lastLines(s.stderr.String(), 20))
	s.waitLog(`"plugin upgraded"`, `"connector":"src"`, `"new_version":"0.2.0"`)
	var after map[string][]string
	waitUntil(t, "the old metronome process exits", func() bool {
		after = runnerMasks(t, pid)
		return len(after) == 2
	})
	fresh := 0
	for child := range after {
		if _, old := before[child]; !old {
			fresh++
		}
	}
	assertRunnersOn(t, after, childCPUs, "a plugin process after the upgrade runs on the CPUs no source has")
	assert.Equal(t, 1, fresh, "the upgraded metronome runs in a new process")
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}

// A pinned flow's plugin process that crashes is started again on the
// same CPUs: the restarted source runs where the plan says and the flow
// goes on delivering.
func TestPinnedRestartKeepsCPUs(t *testing.T) {
	cpus := allowedCPUs(t)
	if len(cpus) > 2 {
		cpus = cpus[:2]
	}
	childCPUs := strconv.Itoa(cpus[len(cpus)-1])
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	src := Conn{Isolation: "process", Config: cfg("count", 0, "per_pull", 10, "crash_after", 5, "once_file", filepath.Join(dir, "crashed"))}
	dst := Conn{Isolation: "process", Config: cfg("path", out)}
	text := strings.Replace(crashConnFlow(src, dst), "batch_size = 32\n", "batch_size = 32\ncpus = "+tomlInts(cpus)+"\n", 1)
	path := writeFlow(t, dir, "crash.toml", text)
	p := startCtl(t, "run", "--plugin-path", pluginDir(t, testenv.Fixture(t, "fixture_crash")), path)
	p.waitLog(`"connector":"src"`, "crashing after 5 batches")
	pid := p.cmd.Process.Pid
	waitUntil(t, "the restarted source delivers", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), "\n") > 200 && len(runnerMasks(t, pid)) == 2
	})
	assertRunnersOn(t, runnerMasks(t, pid), childCPUs, "a plugin process, restarted or not, runs on the CPUs no source has")
	p.signal(os.Interrupt)
	code := p.wait()
	stderr := p.stderr.String()
	assert.Equal(t, 0, code, "stderr:\n%s", lastLines(stderr, 20))
	noCrash(t, stderr)
}

// Flows with cpus = "auto" under one tremorctl serve each take CPUs of
// their own when they start: one for the source and one for the sink and
// the plugins' processes. A flow that finds too few CPUs left runs
// unpinned and says so; once a flow is deleted, its CPUs go to the next.
func TestServeAutoCPUs(t *testing.T) {
	cpus := allowedCPUs(t)
	s := startServe(t, "--plugin-path", testenv.PluginsDir(t))
	pid := s.cmd.Process.Pid
	deploy := func(name string) (children []string) {
		t.Helper()
		before := runnerMasks(t, pid)
		code, body := s.do("POST", "/api/flows", []byte(isolatedTicks(name, `"auto"`)))
		require.Equal(t, 201, code, "%s", body)
		s.waitLog(`"flow":"`+name+`"`, `"connector":"src"`, `"message":"connected"`)
		for child := range runnerMasks(t, pid) {
			if _, old := before[child]; !old {
				children = append(children, child)
			}
		}
		require.Len(t, children, 2, "flow %s runs its two plugins in processes of their own", name)
		return children
	}
	// expect checks where a flow's plugins run: on the CPU after its
	// source's when it was pinned to sources[i], anywhere when unpinned.
	expect := func(name string, children []string, i int) {
		t.Helper()
		masks := runnerMasks(t, pid)
		if i+1 >= len(cpus) {
			s.waitLog(`"flow":"`+name+`"`, `running unpinned`)
			for _, c := range children {
				assertRunnersOn(t, map[string][]string{c: masks[c]}, cpuList(cpus), name+": unpinned")
			}
			return
		}
		s.waitLog(`"flow":"`+name+`"`, fmt.Sprintf(`"sources":[%d],"sinks":[%d],"plugin_cpus":[%d]`, cpus[i], cpus[i+1], cpus[i+1]))
		for _, c := range children {
			assertRunnersOn(t, map[string][]string{c: masks[c]}, strconv.Itoa(cpus[i+1]), name+": its plugins on the CPU after its source's")
		}
	}
	a := deploy("a")
	expect("a", a, 0)
	b := deploy("b")
	expect("b", b, 2) // on two CPUs, a holds both: b runs unpinned

	final := s.deleteFlow("a")
	src, dst := final.conn(t, "src"), final.conn(t, "dst")
	assert.Positive(t, src[1])
	assert.Equal(t, src[1], dst[1], "a: every event delivered")
	assert.Equal(t, src[1], src[3], "a: and acked")
	c := deploy("c")
	expect("c", c, 0) // a's CPUs are free again

	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}

// cpuList writes CPUs as the kernel's Cpus_allowed_list does: "0-3,6".
func cpuList(cpus []int) string {
	var parts []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(cpus[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
