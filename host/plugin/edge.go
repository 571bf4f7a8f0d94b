package plugin

import "tremorhost/host/edge"

// The instance and batch types live in host/edge, below both transports;
// these names keep callers of the loader in one vocabulary.
type (
	Hook  = edge.Hook
	Hooks = edge.Hooks
)

// The hooks, in vtable order.
const (
	HookCreate  = edge.HookCreate
	HookDestroy = edge.HookDestroy
	HookConnect = edge.HookConnect
	HookStart   = edge.HookStart
	HookPause   = edge.HookPause
	HookResume  = edge.HookResume
	HookDrain   = edge.HookDrain
	HookStop    = edge.HookStop
	HookPull    = edge.HookPull
	HookAck     = edge.HookAck
	HookFail    = edge.HookFail
	HookSend    = edge.HookSend
)
