package service

import (
	"errors"
	"fmt"
	"time"

	"tremorhost/host/flow"
	"tremorhost/host/runtime"
)

// Rescan inspects the plugin files again exactly as at load (trust rules,
// ABI, descriptor): the connector types they provide now, and the files
// it refused, by path, with why.
type Rescan func() (runtime.Catalog, map[string]error, error)

// DefaultConnectTimeout bounds how long an upgrade waits for the new
// instances to connect (within their reconnect policy) before rolling back.
const DefaultConnectTimeout = 30 * time.Second

// ErrUpgradeRefused wraps why an upgrade changed nothing; ErrNoSuchPlugin
// says that no running connector uses the plugin named.
var (
	ErrUpgradeRefused = errors.New("upgrade refused; nothing changed, the running versions keep going")
	ErrNoSuchPlugin   = errors.New("no running connector uses this plugin")
	ErrNoUpgrades     = errors.New("live upgrade is not available here: run the flow with tremorctl serve")
)

// UpgradeResult says what an upgrade did: one entry per connector
// switched to the new build.
type UpgradeResult struct {
	Upgraded   []runtime.Upgrade `json:"upgraded"`
	RolledBack bool              `json:"rolled_back,omitempty"` // a new instance could not connect: the old ones kept running
	Errors     []string          `json:"errors,omitempty"`
}

// SetRescan enables live upgrades: rescan is how the manager sees the
// plugin files as they are now.
func (m *Manager) SetRescan(rescan Rescan) { m.rescan = rescan }

// Upgrade replaces every running instance of plugin (its name or file; ""
// for every plugin whose file changed) by an instance of the file's new
// build, without stopping its flow. Every connector is checked against the
// new build first, and every new instance is created and connected before
// any old one is drained: if anything fails, nothing changes.
func (m *Manager) Upgrade(plugin string, connectTimeout time.Duration) (UpgradeResult, error) {
	if m.rescan == nil {
		return UpgradeResult{}, ErrNoUpgrades
	}
	if connectTimeout <= 0 {
		connectTimeout = DefaultConnectTimeout
	}
	m.upgrading.Lock()
	defer m.upgrading.Unlock()
	var running []*deployed
	for _, d := range m.running() {
		if plugin == "" || d.rt.Uses(plugin) {
			running = append(running, d)
		}
	}
	if plugin != "" && len(running) == 0 {
		return UpgradeResult{}, fmt.Errorf("plugin %q: %w (GET /api/flows shows each connector's plugin)", plugin, ErrNoSuchPlugin)
	}
	cat, refused, err := m.rescan()
	if err != nil {
		return m.refused(plugin, false, err)
	}
	match := runtime.UpgradeMatch{Plugin: plugin, Refused: refused}
	var plans []*runtime.UpgradePlan
	var errs []error
	for _, d := range running {
		p, err := d.rt.PlanUpgrade(match, cat)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !p.Empty() {
			plans = append(plans, p)
		}
	}
	if len(errs) > 0 {
		return m.refused(plugin, false, errs...)
	}
	for i, p := range plans {
		if err := p.Prepare(connectTimeout); err != nil {
			for _, q := range plans[:i] {
				q.Abort()
			}
			return m.refused(plugin, true, err)
		}
	}
	var res UpgradeResult
	for _, p := range plans {
		for _, u := range p.Commit() {
			res.Upgraded = append(res.Upgraded, u)
			ev, msg := m.log.Info(), "plugin upgraded"
			if u.Error != "" {
				ev = m.log.Error().Str("error", u.Error)
				res.Errors = append(res.Errors, u.Error)
				switch {
				case u.Switched:
					msg = "plugin upgraded, then the new version failed"
				case u.Pending:
					msg = "plugin upgrade: the switch waits for the old instance's hook"
				default:
					msg = "plugin upgrade: not switched; the old version keeps running"
				}
			}
			ev.Str("flow", u.Flow).Str("connector", u.Connector).Str("plugin", u.To.Plugin).
				Str("old_version", u.From.Version).Str("old_sha256", u.From.SHA256).
				Str("new_version", u.To.Version).Str("new_sha256", u.To.SHA256).
				Dur("pause", u.Pause).Uint64("settled", u.Settled).Uint64("failed_back", u.FailedBack).
				Msg(msg)
		}
	}
	if len(res.Upgraded) == 0 {
		m.log.Info().Str("plugin", plugin).Msg("upgrade: every running connector already runs the build its file holds; nothing to do")
	}
	return res, nil
}

// refused logs and returns a refused upgrade.
func (m *Manager) refused(plugin string, rolledBack bool, errs ...error) (UpgradeResult, error) {
	res := UpgradeResult{RolledBack: rolledBack}
	for _, e := range errs {
		res.Errors = append(res.Errors, flow.Redact(e.Error()))
	}
	err := fmt.Errorf("%w: %w", ErrUpgradeRefused, redact(errors.Join(errs...)))
	m.log.Error().Str("plugin", plugin).Bool("rolled_back", rolledBack).Err(err).Msg("plugin upgrade refused")
	return res, err
}

// running lists the flows that are running, by name.
func (m *Manager) running() []*deployed {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*deployed
	for _, d := range m.flows {
		d.mu.Lock()
		ok := d.state == StateRunning
		d.mu.Unlock()
		if ok && !d.ended() {
			out = append(out, d)
		}
	}
	return out
}
