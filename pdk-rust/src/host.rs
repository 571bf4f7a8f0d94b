//! The [`Host`] handle: what the host offers one connector instance
//! (its log and, since ABI 1.1, its metrics).

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
    /// None on a 1.0 host (its table ends after `log`).
    counter_add: Option<raw::tremor_host_metric_fn>,
    gauge_set: Option<raw::tremor_host_metric_fn>,
    ctx: *mut raw::tremor_host_ctx,
}

/// The most labels a metric may have.
pub const MAX_LABELS: usize = 8;

/// The 1.0-host note is logged once per process.
static SAID_NO_METRICS: std::sync::Once = std::sync::Once::new();

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
        let (log, counter_add, gauge_set) = if api.is_null() {
            (None, None, None)
        } else {
            // SAFETY: non-NULL host table; read struct_size before any field
            // that might lie beyond it.
            let size = unsafe { (*api).struct_size } as usize;
            let log_end = std::mem::offset_of!(raw::tremor_host_api, log)
                + size_of::<Option<raw::tremor_host_log_fn>>();
            let metrics_end = std::mem::offset_of!(raw::tremor_host_api, gauge_set)
                + size_of::<Option<raw::tremor_host_metric_fn>>();
            let log = if size >= log_end {
                unsafe { (*api).log }
            } else {
                None
            };
            if size >= metrics_end {
                (log, unsafe { (*api).counter_add }, unsafe {
                    (*api).gauge_set
                })
            } else {
                (log, None, None)
            }
        };
        let target = log.map(|log| Target {
            log,
            counter_add,
            gauge_set,
            ctx,
        });
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

    /// Adds `delta` to the counter `name`, exported by the host as
    /// `tremor_plugin_<name>{flow, connector, labels...}` (see
    /// tremor_host_metric_fn in plugin.h for the rules on names, help and
    /// labels). Returns the host's result code: TREMOR_OK, or
    /// TREMOR_ERR_UNSUPPORTED on a 1.0 host, where it does nothing (the
    /// first such call in the process logs one DEBUG line). Safe from any
    /// thread while the instance lives.
    pub fn counter_add(&self, name: &str, help: &str, delta: u64, labels: &[(&str, &str)]) -> i32 {
        self.metric(false, name, help, delta as i64, labels)
    }

    /// Sets the gauge `name` to `value`; see [`Host::counter_add`].
    pub fn gauge_set(&self, name: &str, help: &str, value: i64, labels: &[(&str, &str)]) -> i32 {
        self.metric(true, name, help, value, labels)
    }

    fn metric(
        &self,
        gauge: bool,
        name: &str,
        help: &str,
        value: i64,
        labels: &[(&str, &str)],
    ) -> i32 {
        if labels.len() > MAX_LABELS {
            return raw::TREMOR_ERR_INVALID;
        }
        let t = self.inner.target.read().unwrap_or_else(|e| e.into_inner());
        let Some(t) = t.as_ref() else {
            return raw::TREMOR_OK; // destroyed, or no host: nothing to report to
        };
        let f = if gauge { t.gauge_set } else { t.counter_add };
        let Some(f) = f else {
            SAID_NO_METRICS.call_once(|| {
                let msg = format!("the host (ABI 1.0) takes no plugin metrics: {name} and the others are not reported");
                // SAFETY: as in `log`.
                unsafe { (t.log)(t.ctx, raw::TREMOR_LOG_DEBUG, msg.as_ptr(), msg.len() as u64) };
            });
            return raw::TREMOR_ERR_UNSUPPORTED;
        };
        let mut ls = [raw::tremor_metric_label {
            name: std::ptr::null(),
            name_len: 0,
            value: std::ptr::null(),
            value_len: 0,
        }; MAX_LABELS];
        for (l, (n, v)) in ls.iter_mut().zip(labels) {
            *l = raw::tremor_metric_label {
                name: n.as_ptr(),
                name_len: n.len() as u64,
                value: v.as_ptr(),
                value_len: v.len() as u64,
            };
        }
        // SAFETY: the instance is alive (see `log`); every pointer is only
        // read during the call.
        unsafe {
            f(
                t.ctx,
                name.as_ptr(),
                name.len() as u64,
                help.as_ptr(),
                help.len() as u64,
                ls.as_ptr(),
                labels.len() as u64,
                value,
            )
        }
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
            counter_add: None,
            gauge_set: None,
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

    static METRICS: AtomicUsize = AtomicUsize::new(0);
    static DEBUGS: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn metric(
        _: *mut raw::tremor_host_ctx,
        name: *const u8,
        name_len: u64,
        _: *const u8,
        _: u64,
        labels: *const raw::tremor_metric_label,
        labels_len: u64,
        value: i64,
    ) -> i32 {
        // SAFETY: valid during the call.
        let n = unsafe { std::slice::from_raw_parts(name, name_len as usize) };
        assert_eq!(n, b"requests_total");
        assert_eq!(labels_len, 1);
        let l = unsafe { &*labels };
        assert_eq!(
            unsafe { std::slice::from_raw_parts(l.value, l.value_len as usize) },
            b"200"
        );
        assert_eq!(value, 3);
        METRICS.fetch_add(1, Ordering::SeqCst);
        raw::TREMOR_OK
    }

    unsafe extern "C" fn debug_only(
        _: *mut raw::tremor_host_ctx,
        level: i32,
        _: *const u8,
        _: u64,
    ) {
        assert_eq!(level, raw::TREMOR_LOG_DEBUG);
        DEBUGS.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn metrics_on_a_1_1_host_and_a_no_op_on_a_1_0_host() {
        static API: raw::tremor_host_api = raw::tremor_host_api {
            struct_size: size_of::<raw::tremor_host_api>() as u32,
            abi_major: 1,
            abi_minor: 1,
            log: Some(debug_only),
            counter_add: Some(metric),
            gauge_set: Some(metric),
        };
        // SAFETY: static tables; ctx is never dereferenced.
        let h = unsafe { Host::from_raw(&API, std::ptr::null_mut()) };
        assert_eq!(
            h.counter_add("requests_total", "Requests.", 3, &[("status", "200")]),
            raw::TREMOR_OK
        );
        assert_eq!(METRICS.load(Ordering::SeqCst), 1);

        // A 1.0 table ends after `log`: what follows it is never called.
        static OLD: raw::tremor_host_api = raw::tremor_host_api {
            struct_size: std::mem::offset_of!(raw::tremor_host_api, counter_add) as u32,
            abi_major: 1,
            abi_minor: 0,
            log: Some(debug_only),
            counter_add: Some(metric),
            gauge_set: Some(metric),
        };
        let old = unsafe { Host::from_raw(&OLD, std::ptr::null_mut()) };
        assert_eq!(
            old.counter_add("requests_total", "", 3, &[("status", "200")]),
            raw::TREMOR_ERR_UNSUPPORTED
        );
        assert_eq!(
            old.gauge_set("open", "", 1, &[]),
            raw::TREMOR_ERR_UNSUPPORTED
        );
        assert_eq!(METRICS.load(Ordering::SeqCst), 1);
        assert_eq!(
            DEBUGS.load(Ordering::SeqCst),
            1,
            "one DEBUG line per process"
        );
    }
}
