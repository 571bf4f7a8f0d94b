package pdk

import (
	"errors"
	"fmt"
	"time"
)

// Connector is what every connector implements. Optional behaviour is
// detected by type assertion on the value New returns: Starter, Pauser,
// Drainer, Puller and Acker (sources), Sender (sinks).
//
// The host calls at most one method of an instance at a time, but possibly
// from different OS threads; goroutines the connector starts itself must
// synchronise with its methods.
type Connector interface {
	// Connect connects to the outside world (on_connect). attempt counts
	// from 1 and restarts at 1 after each successful connect; Connect is
	// called again after any method returned ErrDisconnected. Return nil
	// when connected, ErrRetry when not yet possible (the host backs off
	// and calls again), ConfigError for a config that can never work
	// (the host stops the connector) or any other error (logged; the
	// host retries).
	Connect(attempt int) error
	// Close releases everything the instance holds. It is called once:
	// by on_stop, or by on_destroy when the host destroys the instance
	// without stopping it (for example after a failed connect).
	Close() error
}

// Starter is called once after the first successful Connect, before the
// first Pull or Send (on_start).
type Starter interface {
	Start() error
}

// Pauser: Pause is called when downstream is slow and the host stops
// pulling (stop reading from the outside if you can); Resume when it
// pulls again (on_pause, on_resume).
type Pauser interface {
	Pause() error
	Resume() error
}

// Drainer is called when no more pulls or sends will come: flush what is
// buffered and return when it is written out (on_drain).
type Drainer interface {
	Drain() error
}

// Puller is the source side (on_pull). Pull appends events to room and may
// wait up to wait for data when none is available; returning nil with no
// events means "nothing yet". Return ErrEnd when the source has no more
// events (events pushed in the same call are still delivered),
// ErrDisconnected when the connection was lost (events pushed so far are
// still taken).
//
// When Room.PushBytes (or Push, Reserve) returns ErrNoRoom, keep that event
// and offer it again in the next Pull: the header forbids dropping it. Then
// return nil (or the ErrNoRoom itself): the SDK answers TREMOR_OK when
// earlier events fit, and TREMOR_ERR_NO_ROOM with the size the event needs
// when it was the first, so that the host grows the room.
type Puller interface {
	Pull(room *Room, wait time.Duration) error
}

// Acker is the source side of guaranteed delivery (on_ack, on_fail): a
// source whose type implements it gets them (see New). The events with these ids were
// delivered (Ack), or will not be (Fail: a source that can replay offers
// them again). ids is valid only during the call: copy what you keep.
type Acker interface {
	Ack(ids []uint64) error
	Fail(ids []uint64) error
}

// Sender is the sink side (on_send). Send delivers the events of batch and
// writes one outcome per event into outcomes (len(outcomes) ==
// batch.Len(); every entry starts as OutcomeFailed). The batch, its
// payloads and outcomes are the host's memory and valid only during Send.
//
// Return nil when the outcomes are written; ErrDisconnected when the
// connection was lost (events marked OutcomeOK count as delivered, all
// others are sent again after reconnecting); or another error (every event
// not marked OutcomeOK is failed back to its source).
type Sender interface {
	Send(batch *Batch, outcomes []Outcome) error
}

// Outcome is a sink's verdict on one event (TREMOR_OUTCOME_*).
type Outcome uint8

const (
	OutcomeOK     Outcome = 0 // delivered: the source gets an ack
	OutcomeFailed Outcome = 1 // not delivered and will not be: a fail
	OutcomeRetry  Outcome = 2 // not delivered now: send it again later
)

// Sentinel errors, matched with errors.Is, so they may be wrapped
// (fmt.Errorf("dial %s: %w", addr, pdk.ErrRetry)).
var (
	// ErrRetry from Connect: not connected yet, try again later
	// (TREMOR_RETRY). The wrapping error's text is the reason, which the
	// host names when the connector gives up or never connects.
	ErrRetry = errors.New("not ready yet")
	// ErrEnd from Pull: the source will produce no more events (TREMOR_END).
	ErrEnd = errors.New("end of input")
	// ErrDisconnected: the connection was lost, the host should call
	// Connect again (TREMOR_ERR_DISCONNECTED).
	ErrDisconnected = errors.New("disconnected")
	// ErrNoRoom from Room methods: the event does not fit (TREMOR_ERR_NO_ROOM).
	ErrNoRoom = errors.New("no room for the event")
	// ErrUnsupported: the connector does not support this operation
	// (TREMOR_ERR_UNSUPPORTED).
	ErrUnsupported = errors.New("unsupported")
)

// ConfigError returns an error that makes a hook answer TREMOR_ERR_CONFIG:
// the configuration is invalid and retrying will not help.
func ConfigError(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// Is makes errors.Is(err, errConfig) find a configError without the
// allocation errors.As costs.
func (e *configError) Is(target error) bool { return target == errConfig }

var errConfig = errors.New("configuration error")

// IsConfigError reports whether err is (or wraps) an error made by ConfigError.
func IsConfigError(err error) bool { return errors.Is(err, errConfig) }
