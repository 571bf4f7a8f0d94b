package edge

import (
	"encoding/json"
	"fmt"
)

// Hook names one hook of tremor_connector_vtable.
type Hook uint32

// The hooks, in vtable order.
const (
	HookCreate Hook = iota
	HookDestroy
	HookConnect
	HookStart
	HookPause
	HookResume
	HookDrain
	HookStop
	HookPull
	HookAck
	HookFail
	HookSend
	NumHooks // the number of hooks, not a hook
)

var hookNames = [NumHooks]string{"on_create", "on_destroy", "on_connect", "on_start", "on_pause", "on_resume", "on_drain", "on_stop", "on_pull", "on_ack", "on_fail", "on_send"}

func (h Hook) String() string {
	if h < NumHooks {
		return hookNames[h]
	}
	return fmt.Sprintf("hook#%d", uint32(h))
}

// Hooks is a set of hooks (bit h set: hook h is implemented).
type Hooks uint32

// Has reports whether h is in the set.
func (hs Hooks) Has(h Hook) bool { return hs&(1<<h) != 0 }

// MarshalJSON writes the set as a list of hook names.
func (hs Hooks) MarshalJSON() ([]byte, error) {
	names := []string{}
	for h := Hook(0); h < NumHooks; h++ {
		if hs.Has(h) {
			names = append(names, h.String())
		}
	}
	return json.Marshal(names)
}

// UnmarshalJSON reads a list of hook names; unknown names are an error.
func (hs *Hooks) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return err
	}
	*hs = 0
next:
	for _, n := range names {
		for h := Hook(0); h < NumHooks; h++ {
			if hookNames[h] == n {
				*hs |= 1 << h
				continue next
			}
		}
		return fmt.Errorf("unknown hook %q", n)
	}
	return nil
}
