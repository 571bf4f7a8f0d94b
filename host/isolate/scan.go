package isolate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"tremorhost/host/plugin"
)

// Scanner inspects plugin files in child processes (tremor-runner
// --describe, like GStreamer's gst-plugin-scanner): a plugin whose
// descriptor crashes or hangs is reported as that file's error, and no
// plugin code is loaded into the host. The descriptors are checked by
// host/plugin exactly as when loading in-process (plugin.Inspect).
type Scanner struct {
	Runner   string        // tremor-runner; "" finds it (FindRunner)
	Timeout  time.Duration // per file (default 10 s)
	Parallel int           // children at a time (default: the CPUs, 2..8)
}

// maxDescription bounds what a runner may print for one file.
const maxDescription = 64 << 20

// Inspect describes one plugin file (see plugin.Inspect).
func (s *Scanner) Inspect(path string) (*plugin.Plugin, error) {
	runner, err := (Options{Runner: s.Runner}).runner()
	if err != nil {
		return nil, err
	}
	return plugin.Inspect(path, func(abs string, f *os.File) (*plugin.Description, error) {
		return s.describe(runner, abs, f)
	})
}

// Registry inspects every file (several at a time) and registers the
// plugins in file order, as plugin.LoadAll does with loaded ones.
func (s *Scanner) Registry(files []string) (*plugin.Registry, error) {
	runner, err := (Options{Runner: s.Runner}).runner()
	if err != nil {
		return nil, err
	}
	type result struct {
		p   *plugin.Plugin
		err error
	}
	results := make([]result, len(files))
	par := s.Parallel
	if par <= 0 {
		par = min(max(goruntime.NumCPU(), 2), 8)
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(par, len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p, err := plugin.Inspect(files[i], func(abs string, f *os.File) (*plugin.Description, error) {
					return s.describe(runner, abs, f)
				})
				results[i] = result{p, err}
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	k := 0
	return plugin.LoadAllWith(files, func(string) (*plugin.Plugin, error) {
		r := results[k]
		k++
		return r.p, r.err
	})
}

// describe runs tremor-runner --describe on the open file f.
func (s *Scanner) describe(runner, abs string, f *os.File) (*plugin.Description, error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	const childPath = "/proc/self/fd/3"
	libs, err := plugin.OpenOriginLibs(abs)
	if err != nil {
		return nil, err
	}
	defer plugin.CloseAll(libs)
	libArgs := childLibArgs(4, len(libs))
	cmd := exec.CommandContext(ctx, runner, append([]string{"--describe", childPath}, libArgs...)...)
	cmd.ExtraFiles = append([]*os.File{f}, libs...)
	var out limitedBuffer
	out.max = maxDescription
	errOut := newTail(nil, 8)
	cmd.Stdout, cmd.Stderr = &out, errOut
	cmd.WaitDelay = time.Second
	ownGroup(cmd)
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	err = cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("did not finish being inspected within %s (tremor-runner --describe, in a child process, was killed): its tremor_plugin_get_descriptor() or library initialisation hangs%s", timeout, errOut.suffix())
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return nil, fmt.Errorf("crashed while being inspected in a child process (tremor-runner --describe): %s: its tremor_plugin_get_descriptor(), its descriptor or its library initialisation is broken%s", signalText(ws.Signal()), errOut.suffix())
			}
			return nil, fmt.Errorf("could not be inspected: tremor-runner --describe %s%s", exitText(ee.ProcessState), errOut.suffix())
		}
		return nil, fmt.Errorf("could not be inspected: running %s: %v", runner, err)
	}
	if out.over {
		return nil, fmt.Errorf("could not be inspected: tremor-runner printed more than %d bytes", maxDescription)
	}
	var d plugin.Description
	if err := json.Unmarshal(out.Bytes(), &d); err != nil {
		return nil, fmt.Errorf("could not be inspected: tremor-runner printed a description the host cannot read: %v", err)
	}
	if d.DlopenError != nil {
		msg := strings.ReplaceAll(*d.DlopenError, childPath, abs)
		for i, lib := range libs {
			msg = strings.ReplaceAll(msg, libArgs[i], lib.Name())
		}
		d.DlopenError = &msg
	}
	return &d, nil
}

// limitedBuffer keeps at most max bytes.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		b.over = true
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// childLibArgs names n files a child gets from descriptor first on, for
// tremor-runner's LIB arguments: /proc/self/fd/N.
func childLibArgs(first, n int) []string {
	args := make([]string, n)
	for i := range args {
		args[i] = fmt.Sprintf("/proc/self/fd/%d", first+i)
	}
	return args
}
