//! The [`Host`] handle: what the host offers one connector instance
//! (today: its log).

use crate::raw;
use std::sync::{Arc, RwLock};

/// Log levels (TREMOR_LOG_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub const fn raw(self) -> i32 {
        match self {
            LogLevel::Error => raw::TREMOR_LOG_ERROR,
            LogLevel::Warn => raw::TREMOR_LOG_WARN,
            LogLevel::Info => raw::TREMOR_LOG_INFO,
            LogLevel::Debug => raw::TREMOR_LOG_DEBUG,
            LogLevel::Trace => raw::TREMOR_LOG_TRACE,
        }
    }
}

struct Target {
    log: raw::tremor_host_log_fn,
    ctx: *mut raw::tremor_host_ctx,
}

struct Inner {
    /// None once the instance is destroyed (or when the host offers no log).
    target: RwLock<Option<Target>>,
}

// SAFETY: the header makes tremor_host_api.log thread-safe: it may be called
// from any thread while `ctx` is valid. `ctx` is only used under the lock,
// and `close` (run by on_destroy before it returns) clears it, so no call
// can use it after on_destroy returned.
unsafe impl Send for Inner {}
unsafe impl Sync for Inner {}

/// A handle to the host for one connector instance. Cheap to clone and
/// usable from any thread, including threads the plugin starts itself.
///
/// The header allows calling the host's log only between on_create returning
/// and on_destroy returning; the PDK enforces that: once the instance is
/// destroyed, every clone of its `Host` silently drops log lines instead of
/// calling into the host with a dead context.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

impl Host {
    /// A host that drops every log line (for calling a connector's Rust
    /// methods directly in unit tests).
    pub fn detached() -> Host {
        Host {
            inner: Arc::new(Inner {
                target: RwLock::new(None),
            }),
        }
    }

    /// # Safety
    /// `api` is NULL or points to a host table valid while the library is
    /// loaded; `ctx` is valid until on_destroy returns, and `close` is called
    /// before on_destroy returns.
    pub(crate) unsafe fn from_raw(
        api: *const raw::tremor_host_api,
        ctx: *mut raw::tremor_host_ctx,
    ) -> Host {
        let log = if api.is_null() {
            None
        } else {
            // SAFETY: non-NULL host table; read struct_size before any field
            // that might lie beyond it.
            let size = unsafe { (*api).struct_size } as usize;
            let needed = std::mem::offset_of!(raw::tremor_host_api, log)
                + size_of::<Option<raw::tremor_host_log_fn>>();
            if size >= needed {
                unsafe { (*api).log }
            } else {
                None
            }
        };
        let target = log.map(|log| Target { log, ctx });
        Host {
            inner: Arc::new(Inner {
                target: RwLock::new(target),
            }),
        }
    }

    /// Stops all further calls into the host through any clone of this
    /// handle; waits for a log call in flight on another thread to finish.
    pub(crate) fn close(&self) {
        let mut t = self.inner.target.write().unwrap_or_else(|e| e.into_inner());
        *t = None;
    }

    /// True while the instance lives and the host offers a log.
    pub fn is_live(&self) -> bool {
        self.inner
            .target
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Writes one line into the host's log, tagged with this instance.
    pub fn log(&self, level: LogLevel, msg: &str) {
        let t = self.inner.target.read().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = t.as_ref() {
            // SAFETY: the instance is alive (close() has not run: it needs
            // the write lock we are keeping out), so ctx is valid; msg is
            // only read during the call.
            unsafe { (t.log)(t.ctx, level.raw(), msg.as_ptr(), msg.len() as u64) };
        }
    }

    pub fn error(&self, msg: &str) {
        self.log(LogLevel::Error, msg)
    }
    pub fn warn(&self, msg: &str) {
        self.log(LogLevel::Warn, msg)
    }
    pub fn info(&self, msg: &str) {
        self.log(LogLevel::Info, msg)
    }
    pub fn debug(&self, msg: &str) {
        self.log(LogLevel::Debug, msg)
    }
    pub fn trace(&self, msg: &str) {
        self.log(LogLevel::Trace, msg)
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("live", &self.is_live())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn count(_: *mut raw::tremor_host_ctx, level: i32, msg: *const u8, len: u64) {
        // SAFETY: msg is valid for len bytes during the call.
        let m = unsafe { std::slice::from_raw_parts(msg, len as usize) };
        assert_eq!((level, m), (raw::TREMOR_LOG_WARN, &b"hi"[..]));
        CALLS.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn close_cuts_off_every_clone() {
        static API: raw::tremor_host_api = raw::tremor_host_api {
            struct_size: size_of::<raw::tremor_host_api>() as u32,
            abi_major: 1,
            abi_minor: 0,
            log: Some(count),
        };
        // SAFETY: a static table; ctx is never dereferenced by `count`.
        let h = unsafe { Host::from_raw(&API, std::ptr::null_mut()) };
        let clone = h.clone();
        assert!(clone.is_live());
        clone.warn("hi");
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        h.close();
        assert!(!clone.is_live());
        clone.warn("hi");
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        assert!(!Host::detached().is_live());
    }
}
