// Package service runs several flows in one long-running process and
// serves an admin API over HTTP: Prometheus metrics, health and readiness,
// the flows with their counters, deploy, delete with drain, and reload of
// the flow files (see api.go).
package service

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/rs/zerolog"

	"tremorhost/host/flow"
	"tremorhost/host/runtime"
)

// Prepare checks a parsed flow against the plugins available and returns
// its runtime, not yet run (tremorctl's prepare).
type Prepare func(f *flow.Flow) (*runtime.Runtime, error)

// Flow states.
const (
	StateRunning  = "running"
	StateDraining = "draining"
	StateStopped  = "stopped"  // deleted, or replaced by a reload
	StateFinished = "finished" // every source ended
	StateFailed   = "failed"   // Run returned an error
)

// Manager runs flows: from files and directories given at start (reread
// on Reload) and deployed through the API.
type Manager struct {
	prepare Prepare
	log     zerolog.Logger
	paths   []string // files and directories of flow files

	mu      sync.Mutex
	flows   map[string]*deployed // by flow name
	wg      sync.WaitGroup
	closing bool // Shutdown began: no flow starts any more

	// reloading makes reloads (SIGHUP, POST /api/reload) run one at a
	// time: two at once would both start the new version of a flow.
	reloading sync.Mutex

	rescan    Rescan     // nil: no live upgrades (upgrade.go)
	upgrading sync.Mutex // one upgrade at a time
}

// deployed is one flow the manager runs or ran.
type deployed struct {
	name, file string
	fromFile   bool // from the paths (reload manages it), not the API
	sum        [32]byte
	rt         *runtime.Runtime
	cancel     context.CancelFunc
	done       chan struct{} // closed when Run has returned

	mu       sync.Mutex
	state    string
	final    []runtime.Stats
	err      error
	deleting bool // a Delete drains it: another one is refused
}

func (d *deployed) setState(s string) {
	d.mu.Lock()
	d.state = s
	d.mu.Unlock()
}

// finish keeps Run's result and sets the final state: stopped when it was
// asked to drain, else failed or finished by Run's error.
func (d *deployed) finish(stats []runtime.Stats, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.final, d.err = stats, err
	switch {
	case d.state == StateDraining:
		d.state = StateStopped
	case err != nil:
		d.state = StateFailed
	default:
		d.state = StateFinished
	}
}

// NewManager returns a manager of the flow files in paths (files, or
// directories whose *.toml files are flows). Start runs them.
func NewManager(paths []string, prepare Prepare, log zerolog.Logger) *Manager {
	return &Manager{prepare: prepare, log: log, paths: paths, flows: map[string]*deployed{}}
}

// Start deploys every flow of the paths. A flow that does not validate is
// an error: nothing is started then.
func (m *Manager) Start() error {
	files, err := m.files()
	if err != nil {
		return err
	}
	var checked []*candidate
	var errs []error
	for _, file := range files {
		c, err := m.check(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		checked = append(checked, c)
	}
	if err := dupNames(checked); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range checked {
		m.run(c, true)
	}
	return nil
}

// files lists the flow files of the paths, sorted.
func (m *Manager) files() ([]string, error) {
	var files []string
	for _, p := range m.paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("flow path %s: %w", p, err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		found, err := filepath.Glob(filepath.Join(p, "*.toml"))
		if err != nil {
			return nil, fmt.Errorf("flow directory %s: %w", p, err)
		}
		files = append(files, found...)
	}
	sort.Strings(files)
	return slices.Compact(files), nil
}

// candidate is a checked flow, ready to run.
type candidate struct {
	f   *flow.Flow
	rt  *runtime.Runtime
	sum [32]byte
}

// check reads, validates and prepares the flow file, and creates (then
// destroys) each connector as `tremorctl validate` does.
func (m *Manager) check(file string) (*candidate, error) {
	data, err := flow.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading flow %s: %w", file, err)
	}
	return m.checkData(file, data, false)
}

// checkData checks a flow read from file, or posted to the API (file then
// only names it in messages, and the flow may not read files: see
// flow.ParsePosted).
func (m *Manager) checkData(file string, data []byte, posted bool) (*candidate, error) {
	parse := flow.Parse
	if posted {
		parse = flow.ParsePosted
	}
	f, err := parse(file, data)
	if err != nil {
		return nil, redact(err)
	}
	rt, err := m.prepare(f)
	if err == nil {
		err = rt.Check()
	}
	if err != nil {
		return nil, redact(err)
	}
	return &candidate{f: f, rt: rt, sum: sha256.Sum256(data)}, nil
}

// redact hides substituted secrets in an error reported to a user.
func redact(err error) error { return errors.New(flow.Redact(err.Error())) }

func dupNames(cs []*candidate) error {
	seen := map[string]string{}
	var errs []error
	for _, c := range cs {
		if other, ok := seen[c.f.Name]; ok {
			errs = append(errs, fmt.Errorf("%s: flow name %q is also used by %s; flow names must be unique: rename one ([flow] name)", c.f.File, c.f.Name, other))
		}
		seen[c.f.Name] = c.f.File
	}
	return errors.Join(errs...)
}

// run starts a checked flow; m.mu is held. Once Shutdown began it starts
// nothing and returns nil.
func (m *Manager) run(c *candidate, fromFile bool) *deployed {
	if m.closing {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &deployed{name: c.f.Name, file: c.f.File, fromFile: fromFile, sum: c.sum, rt: c.rt,
		cancel: cancel, done: make(chan struct{}), state: StateRunning}
	m.flows[d.name] = d
	m.wg.Add(1)
	log := m.log.With().Str("flow", d.name).Logger()
	log.Info().Str("file", d.file).Msg("flow deployed")
	go func() {
		defer m.wg.Done()
		defer close(d.done)
		stats, err := d.rt.Run(ctx)
		d.finish(stats, err)
		if err != nil {
			log.Error().Err(redact(err)).Msg("flow stopped with errors")
		} else {
			log.Info().Msg("flow stopped")
		}
	}()
	return d
}

// ErrExists and ErrNotFound are returned by Deploy and Delete;
// ErrShuttingDown by Deploy once Shutdown began.
var (
	ErrExists       = errors.New("a flow with this name is deployed")
	ErrNotFound     = errors.New("no such flow")
	ErrShuttingDown = errors.New("tremorctl is shutting down: it starts no flow any more")
	ErrDeleting     = errors.New("it is being deleted already: the DELETE under way answers with its final counters")
)

// Closing says whether Shutdown began.
func (m *Manager) Closing() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closing
}

// Deploy validates a flow posted to the API (file names it in messages;
// nothing is read from it, and the flow may not use ${file:PATH}) and runs
// it. A failed validation returns the flow's errors (file:line messages).
func (m *Manager) Deploy(file string, data []byte) (string, error) {
	c, err := m.checkData(file, data, true)
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing {
		return c.f.Name, ErrShuttingDown
	}
	if old, ok := m.flows[c.f.Name]; ok && !old.ended() {
		return c.f.Name, fmt.Errorf("flow %q: %w (from %s); delete it first (DELETE /api/flows/%s)", c.f.Name, ErrExists, old.file, c.f.Name)
	}
	m.run(c, false)
	return c.f.Name, nil
}

func (d *deployed) ended() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// Delete drains and stops a flow and forgets it; it returns the final
// counters.
func (m *Manager) Delete(name string) (FlowStatus, error) {
	m.mu.Lock()
	d, ok := m.flows[name]
	m.mu.Unlock()
	if !ok {
		return FlowStatus{}, fmt.Errorf("flow %q: %w", name, ErrNotFound)
	}
	d.mu.Lock()
	busy := d.deleting
	d.deleting = true
	d.mu.Unlock()
	if busy {
		return FlowStatus{}, fmt.Errorf("flow %q: %w", name, ErrDeleting)
	}
	m.stop(d)
	m.mu.Lock()
	if m.flows[name] == d {
		delete(m.flows, name)
	}
	m.mu.Unlock()
	return d.status(), nil
}

// stop drains d and waits until it has stopped.
func (m *Manager) stop(d *deployed) {
	d.mu.Lock()
	if d.state == StateRunning {
		d.state = StateDraining
	}
	d.mu.Unlock()
	m.log.Info().Str("flow", d.name).Msg("draining flow")
	d.cancel()
	<-d.done
}

// ReloadResult says what a reload did.
type ReloadResult struct {
	Redeployed []string `json:"redeployed"`
	Started    []string `json:"started"`
	Stopped    []string `json:"stopped"`
	Unchanged  []string `json:"unchanged"`
	Refused    []string `json:"refused"` // errors of files that do not validate; their running version keeps going
	// Upgraded: connectors of the other flows switched to the new build of
	// a plugin file that changed (see Upgrade); a refused upgrade is in
	// Refused.
	Upgraded []runtime.Upgrade `json:"upgraded,omitempty"`
}

// Reload rereads the flow files: a changed flow is checked, and only when
// it validates is the running version drained and the new one started;
// unchanged flows keep running untouched; flows whose file is gone stop.
func (m *Manager) Reload() ReloadResult {
	m.reloading.Lock()
	defer m.reloading.Unlock()
	// Empty lists, not absent ones: the API answers [] rather than null.
	res := ReloadResult{Redeployed: []string{}, Started: []string{}, Stopped: []string{}, Unchanged: []string{}, Refused: []string{}}
	if m.Closing() {
		res.Refused = append(res.Refused, ErrShuttingDown.Error())
		return res
	}
	files, err := m.files()
	if err != nil {
		res.Refused = append(res.Refused, err.Error())
		return res
	}
	m.mu.Lock()
	byFile := map[string]*deployed{}
	for _, d := range m.flows {
		if d.fromFile {
			byFile[d.file] = d
		}
	}
	m.mu.Unlock()
	seen := map[string]bool{}
	for _, file := range files {
		seen[file] = true
		old := byFile[file]
		data, err := flow.ReadFile(file)
		if err != nil {
			res.Refused = append(res.Refused, fmt.Sprintf("reading flow %s: %v", file, err))
			continue
		}
		if old != nil && old.sum == sha256.Sum256(data) && !old.ended() {
			res.Unchanged = append(res.Unchanged, old.name)
			continue
		}
		c, err := m.checkData(file, data, false)
		if err != nil {
			res.Refused = append(res.Refused, err.Error())
			m.log.Error().Str("file", file).Err(err).Msg("reload: flow refused; the running version (if any) keeps going")
			continue
		}
		m.mu.Lock()
		other, clash := m.flows[c.f.Name]
		m.mu.Unlock()
		if clash && other != old && !other.ended() {
			res.Refused = append(res.Refused, fmt.Sprintf("%s: flow name %q is already used by %s; rename one ([flow] name)", file, c.f.Name, other.file))
			continue
		}
		if old != nil {
			m.stop(old)
			m.mu.Lock()
			if m.flows[old.name] == old {
				delete(m.flows, old.name)
			}
			m.mu.Unlock()
			res.Redeployed = append(res.Redeployed, c.f.Name)
		} else {
			res.Started = append(res.Started, c.f.Name)
		}
		m.mu.Lock()
		if m.run(c, true) == nil {
			res.Refused = append(res.Refused, fmt.Sprintf("%s: not started: %v", file, ErrShuttingDown))
		}
		m.mu.Unlock()
	}
	for file, d := range byFile {
		if !seen[file] {
			m.stop(d)
			m.mu.Lock()
			if m.flows[d.name] == d {
				delete(m.flows, d.name)
			}
			m.mu.Unlock()
			res.Stopped = append(res.Stopped, d.name)
		}
	}
	if m.rescan != nil {
		up, err := m.Upgrade("", DefaultConnectTimeout)
		res.Upgraded = up.Upgraded
		if err != nil {
			res.Refused = append(res.Refused, err.Error())
		}
	}
	m.log.Info().Strs("redeployed", res.Redeployed).Strs("started", res.Started).Strs("stopped", res.Stopped).
		Int("unchanged", len(res.Unchanged)).Int("refused", len(res.Refused)).Msg("reloaded the flow files")
	return res
}

// Shutdown drains every flow and waits for them (or ctx); no flow starts
// after it began (Deploy and Reload refuse, a reload under way stops
// short of starting its new versions).
func (m *Manager) Shutdown(ctx context.Context) {
	m.mu.Lock()
	m.closing = true
	for _, d := range m.flows {
		d.mu.Lock()
		if d.state == StateRunning {
			d.state = StateDraining
		}
		d.mu.Unlock()
		d.cancel()
	}
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Running says whether any flow still runs.
func (m *Manager) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.flows {
		if !d.ended() {
			return true
		}
	}
	return false
}

// FlowStatus is a flow as the API shows it.
type FlowStatus struct {
	Name       string                `json:"name"`
	File       string                `json:"file"`
	State      string                `json:"state"`
	Error      string                `json:"error,omitempty"`
	Connectors []runtime.Observation `json:"connectors"`
}

func (d *deployed) status() FlowStatus {
	d.mu.Lock()
	s := FlowStatus{Name: d.name, File: d.file, State: d.state}
	if d.err != nil {
		s.Error = flow.Redact(d.err.Error())
	}
	d.mu.Unlock()
	s.Connectors = d.rt.Observe()
	return s
}

// Flows lists every flow, by name.
func (m *Manager) Flows() []FlowStatus {
	m.mu.Lock()
	ds := make([]*deployed, 0, len(m.flows))
	for _, d := range m.flows {
		ds = append(ds, d)
	}
	m.mu.Unlock()
	sort.Slice(ds, func(i, j int) bool { return ds[i].name < ds[j].name })
	out := make([]FlowStatus, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.status())
	}
	return out
}

// Flow is one flow by name.
func (m *Manager) Flow(name string) (FlowStatus, bool) {
	m.mu.Lock()
	d, ok := m.flows[name]
	m.mu.Unlock()
	if !ok {
		return FlowStatus{}, false
	}
	return d.status(), true
}

// NotReady names the connectors of running flows that are not connected
// ("flow/connector"); empty when every one is.
func (m *Manager) NotReady() []string {
	var out []string
	for _, f := range m.Flows() {
		if f.State != StateRunning {
			continue
		}
		for _, c := range f.Connectors {
			if !c.Connected {
				out = append(out, f.Name+"/"+c.Connector)
			}
		}
	}
	return out
}

// Attach registers a flow that the caller runs itself (tremorctl run
// --api): the API shows it, and DELETE cancels it with cancel. The caller
// calls the returned function with Run's result once Run has returned.
func (m *Manager) Attach(f *flow.Flow, rt *runtime.Runtime, cancel context.CancelFunc) func([]runtime.Stats, error) {
	d := &deployed{name: f.Name, file: f.File, rt: rt, cancel: cancel, done: make(chan struct{}), state: StateRunning}
	m.mu.Lock()
	m.flows[d.name] = d
	m.mu.Unlock()
	return func(stats []runtime.Stats, err error) {
		d.finish(stats, err)
		close(d.done)
	}
}
