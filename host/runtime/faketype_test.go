package runtime_test

import (
	"github.com/rs/zerolog"

	"tremorhost/host/runtime"
)

// fakeType is the runtime.Type of the tests' in-process fake connectors:
// everything but the role and the instance it makes is the same for all.
type fakeType struct {
	name         string
	source, sink bool
	structured   bool
	create       func(alias string) runtime.Instance
}

func (t fakeType) Name() string                                         { return t.name }
func (t fakeType) IsSource() bool                                       { return t.source }
func (t fakeType) IsSink() bool                                         { return t.sink }
func (t fakeType) Structured() bool                                     { return t.structured }
func (t fakeType) Origin() string                                       { return "test" }
func (t fakeType) CheckConfig(c map[string]any) (map[string]any, error) { return c, nil }
func (t fakeType) Place(p runtime.Policy) (runtime.Placement, error)    { return runtime.InHost(t, p) }
func (t fakeType) Create(alias string, _ map[string]any, _ runtime.Placement, _ zerolog.Logger) (runtime.Instance, error) {
	return t.create(alias), nil
}

// quietHooks are the lifecycle hooks of a fake instance with nothing to do
// in them: embed it and write Pull or Send (and Ack or Fail when the test
// looks at them).
type quietHooks struct{}

func (quietHooks) Connect(uint32) error { return nil }
func (quietHooks) Start() error         { return nil }
func (quietHooks) Pause() error         { return nil }
func (quietHooks) Resume() error        { return nil }
func (quietHooks) Drain() error         { return nil }
func (quietHooks) Stop() error          { return nil }
func (quietHooks) Destroy()             {}
func (quietHooks) Ack([]uint64) error   { return nil }
func (quietHooks) Fail([]uint64) error  { return nil }
