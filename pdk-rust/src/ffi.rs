//! The `extern "C"` hooks the PDK puts into each connector type's vtable.
//!
//! Every hook checks its arguments, runs the author's code inside
//! `catch_unwind`, turns `Err` into the error's result code and message and a
//! panic into TREMOR_ERR_PANIC, after which the instance is poisoned: every
//! later hook except on_destroy answers TREMOR_ERR_PANIC without running
//! plugin code.

use crate::batch::{BatchReader, BatchWriter, NoRoom, Outcome, slice_or_empty};
use crate::config::Config;
use crate::connector::{Connection, Connector, CreateArgs, Pull, Sink, Source};
use crate::error::{Error, ErrorCode, Result, write_error};
use crate::host::Host;
use crate::raw;
use crate::value::{ValueRef, check_tree};
use std::any::Any;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

/// What the opaque instance pointer points to.
struct Instance<T> {
    connector: T,
    /// The panic message that poisoned the instance.
    poisoned: Option<String>,
    host: Host,
}

/// The text of a panic payload (`panic!("...")` gives a &str or a String).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Drops a panic payload; its own Drop could panic again, which must not
/// unwind into the host.
fn drop_payload(payload: Box<dyn Any + Send>) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
}

/// Writes `e` into `err` and returns its code.
unsafe fn fail(err: *mut raw::tremor_error, e: &Error) -> i32 {
    // SAFETY: forwarded from the hook's contract.
    unsafe { write_error(err, e.message()) };
    e.code().code()
}

unsafe fn panicked(err: *mut raw::tremor_error, msg: &str) -> i32 {
    // SAFETY: forwarded from the hook's contract.
    unsafe { write_error(err, &format!("plugin panicked: {msg}")) };
    raw::TREMOR_ERR_PANIC
}

/// Runs `f` on the instance behind `instance`, with the panic barrier and
/// the poison check.
unsafe fn with_instance<T: Connector>(
    instance: *mut c_void,
    err: *mut raw::tremor_error,
    f: impl FnOnce(&mut T) -> Result<i32>,
) -> i32 {
    if instance.is_null() {
        // SAFETY: err is NULL or valid (hook contract).
        return unsafe { fail(err, &Error::invalid("instance is NULL")) };
    }
    // SAFETY: the host passes back the pointer on_create returned, and calls
    // at most one hook of an instance at a time, so this is the only
    // reference.
    let inst = unsafe { &mut *instance.cast::<Instance<T>>() };
    if let Some(msg) = &inst.poisoned {
        let e = format!("the instance is unusable: an earlier call panicked: {msg}");
        // SAFETY: as above.
        unsafe { write_error(err, &e) };
        return raw::TREMOR_ERR_PANIC;
    }
    match catch_unwind(AssertUnwindSafe(|| f(&mut inst.connector))) {
        Ok(Ok(code)) => code,
        // SAFETY: as above.
        Ok(Err(e)) => unsafe { fail(err, &e) },
        Err(payload) => {
            let msg = panic_message(&*payload);
            drop_payload(payload);
            inst.poisoned = Some(msg.clone());
            // SAFETY: as above.
            unsafe { panicked(err, &msg) }
        }
    }
}

// ---------------------------------------------------------------------------
// Lifecycle hooks (every connector)
// ---------------------------------------------------------------------------

pub(crate) unsafe extern "C" fn on_create<T: Connector>(
    args: *const raw::tremor_create_args,
    instance: *mut *mut c_void,
    err: *mut raw::tremor_error,
) -> i32 {
    let mut host: Option<Host> = None;
    // SAFETY: the host passes args and instance valid for this call.
    let r = catch_unwind(AssertUnwindSafe(|| unsafe {
        create::<T>(args, instance, &mut host)
    }));
    let result = match r {
        Ok(Ok(())) => return raw::TREMOR_OK,
        // SAFETY: err is NULL or valid (hook contract).
        Ok(Err(e)) => unsafe { fail(err, &e) },
        Err(payload) => {
            let msg = panic_message(&*payload);
            drop_payload(payload);
            // SAFETY: as above.
            unsafe { panicked(err, &msg) }
        }
    };
    // No on_destroy follows a failed on_create, so ctx dies now: cut off any
    // Host clone the connector may have handed to a thread.
    if let Some(h) = host {
        h.close();
    }
    result
}

unsafe fn create<T: Connector>(
    args: *const raw::tremor_create_args,
    instance: *mut *mut c_void,
    host_out: &mut Option<Host>,
) -> Result<()> {
    if args.is_null() {
        return Err(Error::invalid("on_create: args is NULL"));
    }
    if instance.is_null() {
        return Err(Error::invalid("on_create: instance is NULL"));
    }
    // SAFETY: non-NULL; struct_size is the first field.
    let size = unsafe { (*args).struct_size } as usize;
    if size < size_of::<raw::tremor_create_args>() {
        return Err(Error::invalid(format!(
            "on_create: args struct_size {size} is smaller than the {} bytes of an ABI 1.0 tremor_create_args",
            size_of::<raw::tremor_create_args>()
        )));
    }
    // SAFETY: the whole 1.0 struct is there, valid during on_create.
    let a = unsafe { &*args };
    if a.alias.is_null() && a.alias_len > 0 {
        return Err(Error::invalid(
            "on_create: alias is NULL but alias_len is not 0",
        ));
    }
    // SAFETY: non-NULL when len > 0, valid during on_create.
    let alias = unsafe { slice_or_empty(a.alias, a.alias_len) };
    let alias =
        std::str::from_utf8(alias).map_err(|_| Error::invalid("on_create: alias is not UTF-8"))?;

    let doc = &a.config;
    for (null, len, what) in [
        (doc.nodes.is_null(), doc.nodes_len, "config.nodes"),
        (doc.bytes.is_null(), doc.bytes_len, "config.bytes"),
    ] {
        if null && len > 0 {
            return Err(Error::invalid(format!(
                "on_create: {what} is NULL but its length is {len}"
            )));
        }
    }
    if !doc.nodes.is_null() && !doc.nodes.is_aligned() {
        return Err(Error::invalid("on_create: config.nodes is not aligned"));
    }
    if usize::try_from(doc.nodes_len)
        .ok()
        .and_then(|n| n.checked_mul(size_of::<raw::tremor_value>()))
        .is_none()
        || usize::try_from(doc.bytes_len).is_err()
    {
        return Err(Error::invalid("on_create: config lengths are too large"));
    }
    // SAFETY: checked above; the host owns the arrays during on_create.
    let (nodes, bytes) = unsafe {
        (
            slice_or_empty(doc.nodes, doc.nodes_len),
            slice_or_empty(doc.bytes, doc.bytes_len),
        )
    };
    let root = if nodes.is_empty() {
        None
    } else {
        check_tree(nodes, bytes, 0)
            .map_err(|m| Error::invalid(format!("on_create: config: {m}")))?;
        Some(ValueRef::new_checked(nodes, bytes, 0))
    };
    let config = Config::new(root)?;

    // SAFETY: host is valid while the library is loaded, ctx until
    // on_destroy returns; Host::close runs before either ends.
    let host = unsafe { Host::from_raw(a.host, a.ctx) };
    *host_out = Some(host.clone());
    let connector = T::create(CreateArgs {
        host: host.clone(),
        alias,
        config,
    })?;
    let boxed = Box::new(Instance {
        connector,
        poisoned: None,
        host,
    });
    // SAFETY: instance is non-NULL and writable (hook contract).
    unsafe { *instance = Box::into_raw(boxed).cast() };
    *host_out = None; // success: the instance keeps the host open
    Ok(())
}

pub(crate) unsafe extern "C" fn on_destroy<T: Connector>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // SAFETY: the pointer on_create returned; on_destroy is called once.
    let inst = unsafe { Box::from_raw(instance.cast::<Instance<T>>()) };
    let host = inst.host.clone();
    // Drop the connector first: its Drop may still log (and join threads
    // that log); only then close the host.
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(inst))) {
        let msg = panic_message(&*payload);
        drop_payload(payload);
        host.error(&format!(
            "plugin panicked while destroying the instance: {msg}"
        ));
    }
    host.close();
}

pub(crate) unsafe extern "C" fn on_connect<T: Connector>(
    instance: *mut c_void,
    attempt: u32,
    err: *mut raw::tremor_error,
) -> i32 {
    // SAFETY: hook contract.
    unsafe {
        with_instance::<T>(instance, err, |c| {
            Ok(match c.connect(attempt)? {
                Connection::Connected => raw::TREMOR_OK,
                Connection::Retry => raw::TREMOR_RETRY,
                Connection::NotYet(why) => {
                    // err is the hook's buffer (the unsafe block above).
                    write_error(err, &why);
                    raw::TREMOR_RETRY
                }
            })
        })
    }
}

macro_rules! step_hook {
    ($name:ident, $method:ident) => {
        pub(crate) unsafe extern "C" fn $name<T: Connector>(
            instance: *mut c_void,
            err: *mut raw::tremor_error,
        ) -> i32 {
            // SAFETY: hook contract.
            unsafe { with_instance::<T>(instance, err, |c| c.$method().map(|()| raw::TREMOR_OK)) }
        }
    };
}
step_hook!(on_start, start);
step_hook!(on_pause, pause);
step_hook!(on_resume, resume);
step_hook!(on_drain, drain);
step_hook!(on_stop, stop);

// ---------------------------------------------------------------------------
// Source hooks
// ---------------------------------------------------------------------------

pub(crate) unsafe extern "C" fn on_pull<T: Source>(
    instance: *mut c_void,
    room: *mut raw::tremor_batch,
    wait_ms: u32,
    err: *mut raw::tremor_error,
) -> i32 {
    let f = |c: &mut T| {
        // SAFETY: room is host-owned and ours until the hook returns.
        let mut out = unsafe { BatchWriter::from_raw(room)? };
        let r = c.pull(&mut out, Duration::from_millis(u64::from(wait_ms)));
        finish_pull(&mut out, r)
    };
    // SAFETY: hook contract.
    unsafe { with_instance::<T>(instance, err, f) }
}

/// Maps the author's answer to a result code, applying the NO_ROOM rules.
fn finish_pull(out: &mut BatchWriter<'_>, r: Result<Pull>) -> Result<i32> {
    let no_room = |out: &mut BatchWriter<'_>, n: NoRoom| {
        out.set_needed(n);
        Error::new(
            ErrorCode::NoRoom,
            format!(
                "the next event needs {} bytes and {} value nodes; the room has {} bytes and {} value nodes",
                n.bytes_needed,
                n.values_needed,
                out.remaining_bytes(),
                out.remaining_values()
            ),
        )
    };
    let status = |p: Pull| match p {
        Pull::More => raw::TREMOR_OK,
        Pull::End => raw::TREMOR_END,
    };
    if !out.is_empty() {
        return match r {
            Ok(p) => Ok(status(p)),
            // The batch filled up: deliver what was written.
            Err(e) if e.code() == ErrorCode::NoRoom => Ok(raw::TREMOR_OK),
            Err(e) => Err(e),
        };
    }
    match (r, out.first_no_room()) {
        (Ok(_), Some(n)) => Err(no_room(out, n)),
        (Err(e), Some(n)) if e.code() == ErrorCode::NoRoom => Err(no_room(out, n)),
        (Ok(p), None) => Ok(status(p)),
        (Err(e), _) => Err(e),
    }
}

unsafe fn ids_slice<'a>(ids: *const u64, count: u64) -> Result<&'a [u64]> {
    if ids.is_null() && count > 0 {
        return Err(Error::invalid(format!("ids is NULL but count is {count}")));
    }
    if !ids.is_null() && !ids.is_aligned() {
        return Err(Error::invalid("ids is not aligned"));
    }
    if usize::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(8))
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Error::invalid(format!("count {count} is too large")));
    }
    // SAFETY: checked above; the host owns the ids during the call.
    Ok(unsafe { slice_or_empty(ids, count) })
}

pub(crate) unsafe extern "C" fn on_ack<T: Source>(
    instance: *mut c_void,
    ids: *const u64,
    count: u64,
    err: *mut raw::tremor_error,
) -> i32 {
    let f = |c: &mut T| {
        // SAFETY: ids are host-owned, valid during the call.
        let ids = unsafe { ids_slice(ids, count)? };
        c.ack(ids).map(|()| raw::TREMOR_OK)
    };
    // SAFETY: hook contract.
    unsafe { with_instance::<T>(instance, err, f) }
}

pub(crate) unsafe extern "C" fn on_fail<T: Source>(
    instance: *mut c_void,
    ids: *const u64,
    count: u64,
    err: *mut raw::tremor_error,
) -> i32 {
    let f = |c: &mut T| {
        // SAFETY: ids are host-owned, valid during the call.
        let ids = unsafe { ids_slice(ids, count)? };
        c.fail(ids).map(|()| raw::TREMOR_OK)
    };
    // SAFETY: hook contract.
    unsafe { with_instance::<T>(instance, err, f) }
}

// ---------------------------------------------------------------------------
// Sink hook
// ---------------------------------------------------------------------------

pub(crate) unsafe extern "C" fn on_send<T: Sink>(
    instance: *mut c_void,
    batch: *const raw::tremor_batch,
    outcomes: *mut u8,
    err: *mut raw::tremor_error,
) -> i32 {
    let f = |c: &mut T| {
        // SAFETY: the batch is host-owned, read-only, valid until return.
        let reader = unsafe { BatchReader::from_raw(batch)? };
        let n = reader.len();
        if outcomes.is_null() && n > 0 {
            return Err(Error::invalid(format!(
                "outcomes is NULL but the batch has {n} events"
            )));
        }
        let outcomes: &mut [Outcome] = if n == 0 {
            &mut []
        } else {
            // SAFETY: the host gives events_len writable entries. Any byte
            // that is not a valid outcome is reset to FAILED (what the host
            // pre-sets) so the slice only holds valid Outcomes.
            let bytes = unsafe { std::slice::from_raw_parts_mut(outcomes, n) };
            for b in bytes.iter_mut() {
                if *b > raw::TREMOR_OUTCOME_RETRY {
                    *b = raw::TREMOR_OUTCOME_FAILED;
                }
            }
            // SAFETY: Outcome is repr(u8) with exactly the values 0..=2.
            unsafe { std::slice::from_raw_parts_mut(outcomes.cast::<Outcome>(), n) }
        };
        c.send(&reader, outcomes).map(|()| raw::TREMOR_OK)
    };
    // SAFETY: hook contract.
    unsafe { with_instance::<T>(instance, err, f) }
}

// ---------------------------------------------------------------------------
// Vtables, built at compile time by tremor_plugin!
// ---------------------------------------------------------------------------

/// The vtable of a connector type with only the lifecycle hooks.
pub const fn vtable<T: Connector>() -> raw::tremor_connector_vtable {
    raw::tremor_connector_vtable {
        struct_size: size_of::<raw::tremor_connector_vtable>() as u32,
        reserved0: 0,
        on_create: Some(on_create::<T>),
        on_destroy: Some(on_destroy::<T>),
        on_connect: Some(on_connect::<T>),
        on_start: Some(on_start::<T>),
        on_pause: Some(on_pause::<T>),
        on_resume: Some(on_resume::<T>),
        on_drain: Some(on_drain::<T>),
        on_stop: Some(on_stop::<T>),
        on_pull: None,
        on_ack: None,
        on_fail: None,
        on_send: None,
    }
}

/// Adds the source hooks.
pub const fn with_source<T: Source>(
    mut v: raw::tremor_connector_vtable,
) -> raw::tremor_connector_vtable {
    v.on_pull = Some(on_pull::<T>);
    v.on_ack = Some(on_ack::<T>);
    v.on_fail = Some(on_fail::<T>);
    v
}

/// Adds the sink hook.
pub const fn with_sink<T: Sink>(
    mut v: raw::tremor_connector_vtable,
) -> raw::tremor_connector_vtable {
    v.on_send = Some(on_send::<T>);
    v
}
