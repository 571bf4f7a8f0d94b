//! Hand-written `#[repr(C)]` mirrors of `include/tremor/plugin.h` (ABI 1.1).
//!
//! Every constant, struct and function-pointer type of the header has a
//! counterpart here with the same name, so the two can be read side by side.
//! Plugin authors do not use this module: the safe API in the crate root is
//! built on it. `tests/layout.rs` compiles a C program against the header and
//! checks every size, alignment, offset, field type and constant below
//! against it, so a change to the header that is not mirrored here fails
//! `cargo test`.
//!
//! Nullable function pointers appear as `Option<fn>` (same layout as the C
//! pointer, `None` is NULL). The `as` union member of `tremor_value` is
//! called `as_` because `as` is a Rust keyword.

#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_void};
use core::marker::{PhantomData, PhantomPinned};

// ---------------------------------------------------------------------------
// Versioning
// ---------------------------------------------------------------------------

pub const TREMOR_ABI_MAJOR: u16 = 1;
pub const TREMOR_ABI_MINOR: u16 = 1;
pub const TREMOR_ABI_VERSION_STRING: &str = "1.1";
pub const TREMOR_PLUGIN_ENTRY_SYMBOL: &str = "tremor_plugin_get_descriptor";

// ---------------------------------------------------------------------------
// Result codes (TREMOR_RESULT_CODES)
// ---------------------------------------------------------------------------

pub const TREMOR_OK: i32 = 0;
pub const TREMOR_END: i32 = 1;
pub const TREMOR_RETRY: i32 = 2;
pub const TREMOR_ERR_FAILED: i32 = -1;
pub const TREMOR_ERR_CONFIG: i32 = -2;
pub const TREMOR_ERR_NO_ROOM: i32 = -3;
pub const TREMOR_ERR_DISCONNECTED: i32 = -4;
pub const TREMOR_ERR_UNSUPPORTED: i32 = -5;
pub const TREMOR_ERR_INVALID: i32 = -6;
pub const TREMOR_ERR_PANIC: i32 = -7;
/// The sentinel that closes the C enum of result codes.
pub const TREMOR_RESULT_CODES_END_: i32 = 0x7fff_ffff;

/// The X-macro table TREMOR_RESULT_CODES: (name without the TREMOR_ prefix,
/// value, description), in the header's order.
pub const TREMOR_RESULT_CODES: [(&str, i32, &str); 10] = [
    ("OK", TREMOR_OK, "ok"),
    (
        "END",
        TREMOR_END,
        "end of input: the source will produce no more events",
    ),
    (
        "RETRY",
        TREMOR_RETRY,
        "not ready yet: the host should try again later",
    ),
    ("ERR_FAILED", TREMOR_ERR_FAILED, "the operation failed"),
    (
        "ERR_CONFIG",
        TREMOR_ERR_CONFIG,
        "the configuration is invalid",
    ),
    (
        "ERR_NO_ROOM",
        TREMOR_ERR_NO_ROOM,
        "the room given is too small for even one event",
    ),
    (
        "ERR_DISCONNECTED",
        TREMOR_ERR_DISCONNECTED,
        "the connection was lost: the host should reconnect",
    ),
    (
        "ERR_UNSUPPORTED",
        TREMOR_ERR_UNSUPPORTED,
        "the connector does not support this operation",
    ),
    (
        "ERR_INVALID",
        TREMOR_ERR_INVALID,
        "an argument broke the contract",
    ),
    (
        "ERR_PANIC",
        TREMOR_ERR_PANIC,
        "the plugin panicked; the instance is unusable",
    ),
];

/// Mirror of the header's `tremor_result_str()`: describes a result code in
/// English.
pub fn tremor_result_str(code: i32) -> &'static str {
    TREMOR_RESULT_CODES
        .iter()
        .find(|(_, value, _)| *value == code)
        .map_or("unknown result code", |(_, _, text)| text)
}

/// An error message buffer owned by the host (see the header).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tremor_error {
    pub msg: *mut u8,
    pub cap: u64,
    pub len: u64,
}

// ---------------------------------------------------------------------------
// Plain data: spans, values, events, batches
// ---------------------------------------------------------------------------

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct tremor_span {
    pub offset: u64,
    pub len: u64,
}

pub const TREMOR_VALUE_NULL: u8 = 0;
pub const TREMOR_VALUE_BOOL: u8 = 1;
pub const TREMOR_VALUE_INT: u8 = 2;
pub const TREMOR_VALUE_UINT: u8 = 3;
pub const TREMOR_VALUE_FLOAT: u8 = 4;
pub const TREMOR_VALUE_STRING: u8 = 5;
pub const TREMOR_VALUE_BYTES: u8 = 6;
pub const TREMOR_VALUE_ARRAY: u8 = 7;
pub const TREMOR_VALUE_OBJECT: u8 = 8;

/// The X-macro table TREMOR_VALUE_KINDS: (name without the TREMOR_ prefix,
/// value, the kind's name in messages), in the header's order.
pub const TREMOR_VALUE_KINDS: [(&str, u8, &str); 9] = [
    ("VALUE_NULL", TREMOR_VALUE_NULL, "null"),
    ("VALUE_BOOL", TREMOR_VALUE_BOOL, "bool"),
    ("VALUE_INT", TREMOR_VALUE_INT, "int"),
    ("VALUE_UINT", TREMOR_VALUE_UINT, "uint"),
    ("VALUE_FLOAT", TREMOR_VALUE_FLOAT, "float"),
    ("VALUE_STRING", TREMOR_VALUE_STRING, "string"),
    ("VALUE_BYTES", TREMOR_VALUE_BYTES, "bytes"),
    ("VALUE_ARRAY", TREMOR_VALUE_ARRAY, "array"),
    ("VALUE_OBJECT", TREMOR_VALUE_OBJECT, "object"),
];

/// The anonymous union `tremor_value.as`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union tremor_value_as {
    pub boolean: u64,
    pub i: i64,
    pub u: u64,
    pub f: f64,
    pub offset: u64,
    pub descendants: u64,
}

/// One node of a structured value (a pre-order flattened tree).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct tremor_value {
    pub kind: u8,
    pub reserved: [u8; 3],
    pub key_len: u32,
    pub key_offset: u64,
    pub len: u64,
    pub as_: tremor_value_as,
}

impl core::fmt::Debug for tremor_value {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Every member of the union is a plain 64-bit integer or double, so
        // reading `u` is always defined.
        let bits = unsafe { self.as_.u };
        f.debug_struct("tremor_value")
            .field("kind", &self.kind)
            .field("key_len", &self.key_len)
            .field("key_offset", &self.key_offset)
            .field("len", &self.len)
            .field("as", &format_args!("{bits:#x}"))
            .finish()
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tremor_value_doc {
    pub nodes: *const tremor_value,
    pub nodes_len: u64,
    pub bytes: *const u8,
    pub bytes_len: u64,
}

pub const TREMOR_PORT_OUT: u32 = 0;
pub const TREMOR_PORT_ERR: u32 = 1;

pub const TREMOR_EVENT_STRUCTURED: u32 = 0x1;
pub const TREMOR_EVENT_END_STREAM: u32 = 0x2;

/// The X-macro table TREMOR_PORTS: (name without the TREMOR_ prefix, value,
/// the port's name in a flow's links), in the header's order.
pub const TREMOR_PORTS: [(&str, u32, &str); 2] = [
    ("PORT_OUT", TREMOR_PORT_OUT, "out"),
    ("PORT_ERR", TREMOR_PORT_ERR, "err"),
];

/// The X-macro table TREMOR_EVENT_FLAGS: (name without the TREMOR_ prefix,
/// bit, meaning), in the header's order.
pub const TREMOR_EVENT_FLAGS: [(&str, u32, &str); 2] = [
    (
        "EVENT_STRUCTURED",
        TREMOR_EVENT_STRUCTURED,
        "the payload spans value nodes, not bytes",
    ),
    (
        "EVENT_END_STREAM",
        TREMOR_EVENT_END_STREAM,
        "the last event of its stream",
    ),
];

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct tremor_event {
    pub id: u64,
    pub stream: u64,
    pub ingest_ns: u64,
    pub port: u32,
    pub flags: u32,
    pub payload: tremor_span,
    pub meta: tremor_span,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tremor_batch {
    pub struct_size: u32,
    pub reserved0: u32,
    pub events: *mut tremor_event,
    pub events_len: u64,
    pub events_cap: u64,
    pub values: *mut tremor_value,
    pub values_len: u64,
    pub values_cap: u64,
    pub bytes: *mut u8,
    pub bytes_len: u64,
    pub bytes_cap: u64,
    pub bytes_needed: u64,
    pub values_needed: u64,
}

pub const TREMOR_OUTCOME_OK: u8 = 0;
pub const TREMOR_OUTCOME_FAILED: u8 = 1;
pub const TREMOR_OUTCOME_RETRY: u8 = 2;

// ---------------------------------------------------------------------------
// What the host offers a plugin
// ---------------------------------------------------------------------------

/// Opaque, host-owned context of one connector instance.
#[repr(C)]
pub struct tremor_host_ctx {
    _opaque: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

pub const TREMOR_LOG_ERROR: i32 = 1;
pub const TREMOR_LOG_WARN: i32 = 2;
pub const TREMOR_LOG_INFO: i32 = 3;
pub const TREMOR_LOG_DEBUG: i32 = 4;
pub const TREMOR_LOG_TRACE: i32 = 5;

pub type tremor_host_log_fn =
    unsafe extern "C" fn(ctx: *mut tremor_host_ctx, level: i32, msg: *const u8, len: u64);

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tremor_host_api {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub log: Option<tremor_host_log_fn>,
    /// Since 1.1: read only when struct_size covers it.
    pub counter_add: Option<tremor_host_metric_fn>,
    /// Since 1.1: read only when struct_size covers it.
    pub gauge_set: Option<tremor_host_metric_fn>,
}

pub const TREMOR_METRIC_COUNTER: i32 = 1;
pub const TREMOR_METRIC_GAUGE: i32 = 2;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tremor_metric_label {
    pub name: *const u8,
    pub name_len: u64,
    pub value: *const u8,
    pub value_len: u64,
}

pub type tremor_host_metric_fn = unsafe extern "C" fn(
    ctx: *mut tremor_host_ctx,
    name: *const u8,
    name_len: u64,
    help: *const u8,
    help_len: u64,
    labels: *const tremor_metric_label,
    labels_len: u64,
    value: i64,
) -> i32;

// ---------------------------------------------------------------------------
// What a plugin implements: the connector hooks
// ---------------------------------------------------------------------------

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tremor_create_args {
    pub struct_size: u32,
    pub reserved0: u32,
    pub host: *const tremor_host_api,
    pub ctx: *mut tremor_host_ctx,
    pub alias: *const u8,
    pub alias_len: u64,
    pub config: tremor_value_doc,
}

pub type tremor_on_create_fn = unsafe extern "C" fn(
    args: *const tremor_create_args,
    instance: *mut *mut c_void,
    err: *mut tremor_error,
) -> i32;
pub type tremor_on_destroy_fn = unsafe extern "C" fn(instance: *mut c_void);
pub type tremor_on_connect_fn =
    unsafe extern "C" fn(instance: *mut c_void, attempt: u32, err: *mut tremor_error) -> i32;
pub type tremor_on_step_fn =
    unsafe extern "C" fn(instance: *mut c_void, err: *mut tremor_error) -> i32;
pub type tremor_on_pull_fn = unsafe extern "C" fn(
    instance: *mut c_void,
    room: *mut tremor_batch,
    wait_ms: u32,
    err: *mut tremor_error,
) -> i32;
pub type tremor_on_ids_fn = unsafe extern "C" fn(
    instance: *mut c_void,
    ids: *const u64,
    count: u64,
    err: *mut tremor_error,
) -> i32;
pub type tremor_on_send_fn = unsafe extern "C" fn(
    instance: *mut c_void,
    batch: *const tremor_batch,
    outcomes: *mut u8,
    err: *mut tremor_error,
) -> i32;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tremor_connector_vtable {
    pub struct_size: u32,
    pub reserved0: u32,
    pub on_create: Option<tremor_on_create_fn>,
    pub on_destroy: Option<tremor_on_destroy_fn>,
    pub on_connect: Option<tremor_on_connect_fn>,
    pub on_start: Option<tremor_on_step_fn>,
    pub on_pause: Option<tremor_on_step_fn>,
    pub on_resume: Option<tremor_on_step_fn>,
    pub on_drain: Option<tremor_on_step_fn>,
    pub on_stop: Option<tremor_on_step_fn>,
    pub on_pull: Option<tremor_on_pull_fn>,
    pub on_ack: Option<tremor_on_ids_fn>,
    pub on_fail: Option<tremor_on_ids_fn>,
    pub on_send: Option<tremor_on_send_fn>,
}

// ---------------------------------------------------------------------------
// What a plugin declares: descriptor, connector types, config fields
// ---------------------------------------------------------------------------

pub const TREMOR_KIND_SOURCE: u32 = 0x1;
pub const TREMOR_KIND_SINK: u32 = 0x2;

pub const TREMOR_PAYLOAD_BYTES: u32 = 0;
pub const TREMOR_PAYLOAD_STRUCTURED: u32 = 1;

pub const TREMOR_FIELD_REQUIRED: u32 = 0x1;
pub const TREMOR_FIELD_SECRET: u32 = 0x2;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tremor_config_field {
    pub name: *const c_char,
    pub r#type: u32,
    pub flags: u32,
    pub default_json: *const c_char,
    pub doc: *const c_char,
    pub reserved: [*mut c_void; 2],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tremor_connector_type {
    pub struct_size: u32,
    pub kinds: u32,
    pub name: *const c_char,
    pub description: *const c_char,
    pub payload: u32,
    pub fields_len: u32,
    pub fields: *const tremor_config_field,
    pub vtable: *const tremor_connector_vtable,
    /// Since 1.1: the natural framing (a processor name), or NULL.
    pub framing: *const c_char,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tremor_plugin_descriptor {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub name: *const c_char,
    pub version: *const c_char,
    pub description: *const c_char,
    pub license: *const c_char,
    pub sdk: *const c_char,
    pub connectors_len: u64,
    pub connectors: *const *const tremor_connector_type,
}

pub type tremor_plugin_get_descriptor_fn =
    unsafe extern "C" fn() -> *const tremor_plugin_descriptor;
