package runtime

import (
	"errors"
	"fmt"
	"sync"

	"tremorhost/abi"
	"tremorhost/host/edge"
)

// errStopped ends a connect loop that was told to stop.
var errStopped = errors.New("stopped while connecting")

// link is a node's connection state, shared by its source and sink roles so
// that an instance used as both connects (and starts) once.
type link struct {
	mu        sync.Mutex
	connected bool
	started   bool
	ever      bool  // connected at least once
	tried     bool  // called on_connect at least once (a flow stopped before may never have)
	err       error // why the connector gave up, for both roles
	// lastErr is the last failed connect attempt's error, or the reason a
	// RETRY gave (a bare RETRY says nothing), since the last connect: what
	// the final message names when the connector gives up, never
	// connected, or was reconnecting when the flow stopped.
	lastErr error
}

// ensureConnected connects the instance if it is not connected, retrying
// with backoff as the flow's reconnect policy says, and starts it after its
// first connect. It returns errStopped when stop closes first, or the
// error that made it give up.
func (n *node) ensureConnected(inst Instance, stop <-chan struct{}) error {
	n.link.mu.Lock()
	defer n.link.mu.Unlock()
	if n.link.err != nil {
		return n.link.err
	}
	if n.link.connected {
		return nil
	}
	policy := n.conn.Reconnect
	for attempt := uint32(1); ; attempt++ {
		n.link.tried = true
		err := inst.Connect(attempt)
		if err == nil {
			n.log.Info().Uint32("attempt", attempt).Msg("connected")
			break
		}
		n.counters.Errors.Add(1)
		if fatal(err) {
			if hint := n.configHint(err); hint != "" {
				err = fmt.Errorf("%w%s", err, hint)
			}
			n.link.err = err
			return err
		}
		if err != edge.ErrRetry { // a bare RETRY says nothing of why
			n.link.lastErr = err
		}
		if policy.MaxAttempts > 0 && int(attempt) >= policy.MaxAttempts {
			if n.link.lastErr != nil {
				err = n.link.lastErr
			}
			n.link.err = fmt.Errorf("gave up connecting after %d attempts (reconnect.max_attempts): %w", attempt, err)
			return n.link.err
		}
		if errors.Is(err, edge.ErrRetry) {
			n.log.Debug().Uint32("attempt", attempt).AnErr("reason", err).Msg("not connected yet; retrying")
		} else {
			n.log.Warn().Func(edge.LogErr(n.log, err)).Uint32("attempt", attempt).Msg("connect failed; retrying")
		}
		if !backoff(policy, attempt+1, stop) {
			return errStopped
		}
	}
	if n.link.ever {
		n.counters.Reconnects.Add(1)
	}
	n.link.connected, n.link.ever, n.link.lastErr = true, true, nil
	n.counters.Connected.Store(true)
	n.noteInstance(inst)
	if !n.link.started {
		if err := inst.Start(); err != nil {
			n.counters.Errors.Add(1)
			n.link.err = fmt.Errorf("start: %w", err)
			return n.link.err
		}
		n.link.started = true
	}
	return nil
}

// lost records that the connection is gone; the next ensureConnected
// reconnects.
func (n *node) lost(err error) {
	n.link.mu.Lock()
	defer n.link.mu.Unlock()
	if n.link.connected {
		n.log.Warn().Func(edge.LogErr(n.log, err)).Msg("connection lost; reconnecting")
		n.link.connected = false
		n.counters.Connected.Store(false)
	}
}

// fatal says whether an error makes an instance (or this role of it)
// unusable: bad config, a panic, a broken contract, or a role the instance
// does not support. Retrying those cannot help.
func fatal(err error) bool {
	var pe *edge.Error
	if errors.As(err, &pe) && pe.Violation {
		return true
	}
	return errors.Is(err, abi.ResultErrConfig) || errors.Is(err, abi.ResultErrPanic) || errors.Is(err, abi.ResultErrUnsupported)
}

// disconnected says whether err asks for a reconnect.
func disconnected(err error) bool { return errors.Is(err, abi.ResultErrDisconnected) }
