//! The traits a plugin author implements.

use crate::batch::{BatchReader, BatchWriter, Outcome};
use crate::config::Config;
use crate::error::Result;
use crate::host::Host;
use std::time::Duration;

/// What `on_create` hands to [`Connector::create`]. Everything but `host`
/// is borrowed from the host until `create` returns: copy what you keep.
#[derive(Debug, Clone)]
pub struct CreateArgs<'a> {
    /// The host handle of this instance; keep a clone to log later, also
    /// from your own threads.
    pub host: Host,
    /// The instance's name in the flow.
    pub alias: &'a str,
    /// The instance's config.
    pub config: Config<'a>,
}

/// The answer of [`Connector::connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Connected (TREMOR_OK).
    Connected,
    /// Not possible yet; the host waits with backoff and calls again with
    /// the next attempt number (TREMOR_RETRY).
    Retry,
    /// Not possible yet, and why (TREMOR_RETRY with a message): the host
    /// names the last reason when it gives up or the connector never
    /// connected.
    NotYet(String),
}

/// The answer of [`Source::pull`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    /// TREMOR_OK: the events written (possibly none: "nothing yet"), more
    /// may come.
    More,
    /// TREMOR_END: the events written are the last ones.
    End,
}

/// One connector instance. The host calls at most one method of an instance
/// at a time, possibly from different threads (hence `Send`); keep no state
/// in thread-locals.
///
/// Every method but `create` has a default that does nothing. An `Err`
/// becomes the error's result code with its message in the host's error
/// buffer; a panic becomes TREMOR_ERR_PANIC and poisons the instance.
pub trait Connector: Send + Sized + 'static {
    /// Creates the instance from its config. Must not do I/O that may block:
    /// that belongs in `connect`. Fail with `Error::config` on a bad config.
    fn create(args: CreateArgs<'_>) -> Result<Self>;

    /// Connects to the outside world. `attempt` counts from 1 and restarts
    /// at 1 after each successful connect; called again after any hook
    /// returned `ErrorCode::Disconnected`. `Err` with `ErrorCode::Config`
    /// stops the connector; other errors are retried by the host.
    fn connect(&mut self, attempt: u32) -> Result<Connection> {
        let _ = attempt;
        Ok(Connection::Connected)
    }

    /// After the first successful connect, before the first pull or send.
    fn start(&mut self) -> Result<()> {
        Ok(())
    }

    /// Downstream is slow: stop reading from the outside if you can.
    fn pause(&mut self) -> Result<()> {
        Ok(())
    }

    fn resume(&mut self) -> Result<()> {
        Ok(())
    }

    /// No more pulls or sends will come: flush what is buffered and return
    /// when it is written out.
    fn drain(&mut self) -> Result<()> {
        Ok(())
    }

    /// The last step before the instance is dropped.
    fn stop(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The source side of a connector (kind `source` in `tremor_plugin!`).
pub trait Source: Connector {
    /// Writes up to the room's capacity of events into `out`. May wait up to
    /// `wait` for data when none is available. Each event id must be unique
    /// among this instance's unacknowledged events.
    ///
    /// When an event does not fit (`out.push*` returns [`crate::NoRoom`]),
    /// keep it for the next pull and return (`Ok(Pull::More)` or the
    /// `NoRoom` itself): the events written are delivered, and if none was
    /// written the PDK answers TREMOR_ERR_NO_ROOM with what the event needs.
    fn pull(&mut self, out: &mut BatchWriter<'_>, wait: Duration) -> Result<Pull>;

    /// The events with these ids were delivered.
    fn ack(&mut self, ids: &[u64]) -> Result<()> {
        let _ = ids;
        Ok(())
    }

    /// The events with these ids will not be delivered; offer them again if
    /// the source can replay, or log and drop them.
    fn fail(&mut self, ids: &[u64]) -> Result<()> {
        let _ = ids;
        Ok(())
    }
}

/// The sink side of a connector (kind `sink` in `tremor_plugin!`).
pub trait Sink: Connector {
    /// Delivers the events of `batch`, writing one [`Outcome`] per event into
    /// `outcomes` (same length as the batch, pre-set to `Outcome::Failed`).
    /// `Err` with `ErrorCode::Disconnected`: events marked `Ok` count as
    /// delivered, the others are sent again after reconnecting; any other
    /// `Err`: every event not marked `Ok` is failed.
    fn send(&mut self, batch: &BatchReader<'_>, outcomes: &mut [Outcome]) -> Result<()>;
}
