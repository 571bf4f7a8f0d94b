//! A minimal in-process host, for tests of plugins (this crate's and any
//! plugin crate's, which can link itself as an `rlib`).
//!
//! It drives a plugin only through its C surface, the way the real host
//! does: entry point -> descriptor -> connector type -> vtable hooks, with
//! config documents, rooms and batches laid out per the header. On top it
//! checks what the plugin writes back: error messages within `cap` and
//! valid UTF-8, nothing written past any capacity (guard values behind every
//! buffer), events with valid spans and value trees, no log calls after
//! on_destroy. A broken rule panics the test with a message saying which.
//!
//! Not for plugin code.

use crate::batch::{BatchReader, BatchWriter, OutEvent};
use crate::raw;
use crate::value::{self, Arena, Value};
use std::ffi::{CStr, c_char, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The result of one hook call: its code and the message it left in the
/// error buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: i32,
    pub message: String,
}

impl Reply {
    fn ok() -> Reply {
        Reply {
            code: raw::TREMOR_OK,
            message: String::new(),
        }
    }
    pub fn is_ok(&self) -> bool {
        self.code == raw::TREMOR_OK
    }
    /// Panics unless the code is TREMOR_OK.
    #[track_caller]
    pub fn expect_ok(&self) {
        assert_eq!(
            self.code,
            raw::TREMOR_OK,
            "expected TREMOR_OK, got {}: {}",
            self.code,
            self.message
        );
    }
    /// Panics unless the code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &str {
        assert_eq!(
            self.code,
            code,
            "expected {} ({}), got {}: {}",
            code,
            raw::tremor_result_str(code),
            self.code,
            self.message
        );
        &self.message
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            raw::tremor_result_str(self.code),
            self.message
        )
    }
}

const GUARD: u8 = 0xA5;
const GUARD_LEN: usize = 16;

/// An error buffer with guard bytes behind `cap`.
struct ErrBuf {
    buf: Vec<u8>,
    err: raw::tremor_error,
    cap: usize,
}

impl ErrBuf {
    fn new(cap: usize) -> ErrBuf {
        let mut buf = vec![GUARD; cap + GUARD_LEN];
        let err = raw::tremor_error {
            msg: buf.as_mut_ptr(),
            cap: cap as u64,
            len: 0,
        };
        ErrBuf { buf, err, cap }
    }
    fn ptr(&mut self) -> *mut raw::tremor_error {
        &mut self.err
    }
    fn reply(self, code: i32) -> Reply {
        assert!(
            self.err.len <= self.cap as u64,
            "plugin set tremor_error.len {} beyond cap {}",
            self.err.len,
            self.cap
        );
        assert!(
            self.buf[self.cap..].iter().all(|b| *b == GUARD),
            "plugin wrote past the end of the error buffer (cap {})",
            self.cap
        );
        let message = String::from_utf8(self.buf[..self.err.len as usize].to_vec())
            .unwrap_or_else(|e| panic!("plugin wrote a message that is not UTF-8: {e}"));
        Reply { code, message }
    }
}

/// A string from the descriptor, or None for NULL.
unsafe fn opt_cstr(p: *const c_char) -> Option<String> {
    // SAFETY: the plugin promises NUL-terminated static strings.
    (!p.is_null()).then(|| {
        unsafe { CStr::from_ptr(p) }
            .to_str()
            .expect("descriptor string is not UTF-8")
            .to_owned()
    })
}

/// A loaded plugin: its checked descriptor.
#[derive(Debug, Clone, Copy)]
pub struct Plugin {
    desc: &'static raw::tremor_plugin_descriptor,
}

impl Plugin {
    /// Calls the entry point and checks the descriptor the way a host must
    /// before using it (ABI version, sizes, names, required hooks).
    ///
    /// # Safety
    /// Trusts the entry point to return a descriptor that stays valid for
    /// the life of the process (true for a plugin linked into the test).
    pub unsafe fn load(entry: raw::tremor_plugin_get_descriptor_fn) -> Result<Plugin, String> {
        // SAFETY: calling the plugin's entry point is the point.
        let p = unsafe { entry() };
        if p.is_null() {
            return Err("the entry point returned NULL".into());
        }
        // SAFETY: non-NULL, static per the contract.
        let desc: &'static raw::tremor_plugin_descriptor = unsafe { &*p };
        if desc.abi_major != raw::TREMOR_ABI_MAJOR || desc.abi_minor > raw::TREMOR_ABI_MINOR {
            return Err(format!(
                "plugin ABI {}.{} is not loadable by ABI 1.0",
                desc.abi_major, desc.abi_minor
            ));
        }
        if (desc.struct_size as usize) < size_of::<raw::tremor_plugin_descriptor>() {
            return Err(format!(
                "descriptor struct_size {} too small",
                desc.struct_size
            ));
        }
        // SAFETY: descriptor strings are NUL-terminated and static.
        let name = unsafe { opt_cstr(desc.name) }.unwrap_or_default();
        let version = unsafe { opt_cstr(desc.version) }.unwrap_or_default();
        if name.is_empty() || version.is_empty() {
            return Err("plugin name and version must be non-empty".into());
        }
        if desc.connectors_len == 0 || desc.connectors.is_null() {
            return Err("plugin declares no connector types".into());
        }
        let plugin = Plugin { desc };
        for i in 0..desc.connectors_len as usize {
            // SAFETY: connectors_len entries, checked non-NULL above.
            let t = unsafe { *desc.connectors.add(i) };
            if t.is_null() {
                return Err(format!("connector {i} is NULL"));
            }
            // SAFETY: non-NULL and static.
            ConnectorType::check(unsafe { &*t })?;
        }
        Ok(plugin)
    }

    pub fn name(&self) -> String {
        // SAFETY: checked in load.
        unsafe { opt_cstr(self.desc.name) }.unwrap_or_default()
    }
    pub fn version(&self) -> String {
        // SAFETY: checked in load.
        unsafe { opt_cstr(self.desc.version) }.unwrap_or_default()
    }
    pub fn description(&self) -> Option<String> {
        // SAFETY: NULL or a static C string.
        unsafe { opt_cstr(self.desc.description) }
    }
    pub fn license(&self) -> Option<String> {
        // SAFETY: NULL or a static C string.
        unsafe { opt_cstr(self.desc.license) }
    }
    pub fn sdk(&self) -> Option<String> {
        // SAFETY: NULL or a static C string.
        unsafe { opt_cstr(self.desc.sdk) }
    }
    pub fn raw(&self) -> &'static raw::tremor_plugin_descriptor {
        self.desc
    }

    pub fn connectors(&self) -> Vec<ConnectorType> {
        (0..self.desc.connectors_len as usize)
            // SAFETY: checked in load.
            .map(|i| ConnectorType {
                raw: unsafe { &**self.desc.connectors.add(i) },
            })
            .collect()
    }

    /// The connector type called `name`.
    pub fn connector(&self, name: &str) -> Option<ConnectorType> {
        self.connectors().into_iter().find(|c| c.name() == name)
    }
}

/// One declared config field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    pub name: String,
    pub r#type: u32,
    pub flags: u32,
    pub default_json: Option<String>,
    pub doc: Option<String>,
}

/// A connector type of a loaded plugin.
#[derive(Debug, Clone, Copy)]
pub struct ConnectorType {
    raw: &'static raw::tremor_connector_type,
}

impl ConnectorType {
    fn check(t: &'static raw::tremor_connector_type) -> Result<(), String> {
        if (t.struct_size as usize) < size_of::<raw::tremor_connector_type>() {
            return Err(format!(
                "connector type struct_size {} too small",
                t.struct_size
            ));
        }
        let c = ConnectorType { raw: t };
        let name = c.name();
        if name.is_empty() {
            return Err("connector type with an empty name".into());
        }
        if t.kinds == 0 || t.kinds & !(raw::TREMOR_KIND_SOURCE | raw::TREMOR_KIND_SINK) != 0 {
            return Err(format!("{name}: bad kinds {:#x}", t.kinds));
        }
        if t.payload > raw::TREMOR_PAYLOAD_STRUCTURED {
            return Err(format!("{name}: bad payload {}", t.payload));
        }
        if t.fields_len > 0 && t.fields.is_null() {
            return Err(format!("{name}: fields is NULL"));
        }
        if t.vtable.is_null() {
            return Err(format!("{name}: vtable is NULL"));
        }
        let vt = c.vtable();
        if (vt.struct_size as usize) < size_of::<raw::tremor_connector_vtable>() {
            return Err(format!(
                "{name}: vtable struct_size {} too small",
                vt.struct_size
            ));
        }
        if vt.on_create.is_none() || vt.on_destroy.is_none() {
            return Err(format!("{name}: on_create and on_destroy are required"));
        }
        if t.kinds & raw::TREMOR_KIND_SOURCE != 0 && vt.on_pull.is_none() {
            return Err(format!("{name}: a source needs on_pull"));
        }
        if t.kinds & raw::TREMOR_KIND_SINK != 0 && vt.on_send.is_none() {
            return Err(format!("{name}: a sink needs on_send"));
        }
        for f in c.fields() {
            if f.name.is_empty()
                || value::ValueKind::from_raw(f.r#type as u8).is_none()
                || f.r#type > 255
            {
                return Err(format!("{name}: bad field {f:?}"));
            }
        }
        Ok(())
    }

    pub fn name(&self) -> String {
        // SAFETY: static C string (checked non-empty in check).
        unsafe { opt_cstr(self.raw.name) }.unwrap_or_default()
    }
    pub fn description(&self) -> Option<String> {
        // SAFETY: NULL or a static C string.
        unsafe { opt_cstr(self.raw.description) }
    }
    pub fn kinds(&self) -> u32 {
        self.raw.kinds
    }
    pub fn payload(&self) -> u32 {
        self.raw.payload
    }
    pub fn raw(&self) -> &'static raw::tremor_connector_type {
        self.raw
    }
    pub fn vtable(&self) -> &'static raw::tremor_connector_vtable {
        // SAFETY: checked non-NULL; static.
        unsafe { &*self.raw.vtable }
    }
    pub fn fields(&self) -> Vec<FieldInfo> {
        (0..self.raw.fields_len as usize)
            .map(|i| {
                // SAFETY: fields_len entries of static data.
                let f = unsafe { &*self.raw.fields.add(i) };
                FieldInfo {
                    // SAFETY: static C strings or NULL.
                    name: unsafe { opt_cstr(f.name) }.unwrap_or_default(),
                    r#type: f.r#type,
                    flags: f.flags,
                    default_json: unsafe { opt_cstr(f.default_json) },
                    doc: unsafe { opt_cstr(f.doc) },
                }
            })
            .collect()
    }

    /// Creates an instance with `config` (an object, or Null for an absent
    /// config), as the host would after checking it.
    pub fn create(&self, alias: &str, config: &Value) -> Result<Instance, Reply> {
        self.create_with(alias, config, |_| {})
    }

    /// Like [`ConnectorType::create`], letting `tweak` break the arguments
    /// first (to test the plugin's argument checks).
    pub fn create_with(
        &self,
        alias: &str,
        config: &Value,
        tweak: impl FnOnce(&mut raw::tremor_create_args),
    ) -> Result<Instance, Reply> {
        let doc = Doc::new(config);
        let logs = Logs::new();
        // One strong count is leaked on purpose: a plugin that logs after
        // on_destroy then hits live memory, which the test can count,
        // instead of freed memory.
        let ctx = Arc::into_raw(logs.0.clone()) as *mut raw::tremor_host_ctx;
        let mut args = raw::tremor_create_args {
            struct_size: size_of::<raw::tremor_create_args>() as u32,
            reserved0: 0,
            host: &HOST_API,
            ctx,
            alias: alias.as_ptr(),
            alias_len: alias.len() as u64,
            config: doc.raw(),
        };
        tweak(&mut args);
        let mut instance: *mut c_void = std::ptr::null_mut();
        let mut err = ErrBuf::new(1024);
        let vt = self.vtable();
        // SAFETY: valid args, out-pointer and error buffer for the call.
        let code = unsafe { (vt.on_create.expect("checked"))(&args, &mut instance, err.ptr()) };
        let reply = err.reply(code);
        if code != raw::TREMOR_OK {
            logs.0.destroyed.store(true, Ordering::SeqCst);
            return Err(reply);
        }
        assert!(
            !instance.is_null(),
            "on_create returned TREMOR_OK but no instance"
        );
        Ok(Instance {
            vt,
            ptr: instance,
            logs,
            destroyed: false,
            err_cap: Some(1024),
        })
    }
}

/// An owned config document (nodes + bytes) in the header's layout.
pub struct Doc {
    nodes: Vec<raw::tremor_value>,
    bytes: Vec<u8>,
}

impl Doc {
    /// Flattens `v`; `Value::Null` gives an absent document (no nodes).
    pub fn new(v: &Value) -> Doc {
        let mut d = Doc {
            nodes: Vec::new(),
            bytes: Vec::new(),
        };
        if *v != Value::Null {
            value::encode(&mut d, v);
        }
        d
    }
    pub fn raw(&self) -> raw::tremor_value_doc {
        raw::tremor_value_doc {
            nodes: if self.nodes.is_empty() {
                std::ptr::null()
            } else {
                self.nodes.as_ptr()
            },
            nodes_len: self.nodes.len() as u64,
            bytes: if self.bytes.is_empty() {
                std::ptr::null()
            } else {
                self.bytes.as_ptr()
            },
            bytes_len: self.bytes.len() as u64,
        }
    }
}

impl Arena for Doc {
    fn push_node(&mut self, node: raw::tremor_value) -> u64 {
        self.nodes.push(node);
        self.nodes.len() as u64 - 1
    }
    fn set_descendants(&mut self, index: u64, descendants: u64) {
        self.nodes[index as usize].as_.descendants = descendants;
    }
    fn nodes_len(&self) -> u64 {
        self.nodes.len() as u64
    }
    fn push_bytes(&mut self, bytes: &[u8]) -> u64 {
        self.bytes.extend_from_slice(bytes);
        (self.bytes.len() - bytes.len()) as u64
    }
}

/// One line the plugin logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: i32,
    pub message: String,
}

struct LogState {
    lines: Mutex<Vec<LogLine>>,
    destroyed: AtomicBool,
    after_destroy: AtomicUsize,
}

/// The log of one instance; stays readable after the instance is gone.
#[derive(Clone)]
pub struct Logs(Arc<LogState>);

impl Logs {
    fn new() -> Logs {
        Logs(Arc::new(LogState {
            lines: Mutex::new(Vec::new()),
            destroyed: AtomicBool::new(false),
            after_destroy: AtomicUsize::new(0),
        }))
    }
    pub fn lines(&self) -> Vec<LogLine> {
        self.0
            .lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    /// True when some line contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.lines().iter().any(|l| l.message.contains(needle))
    }
    /// Log calls that arrived after on_destroy returned (a contract breach).
    pub fn calls_after_destroy(&self) -> usize {
        self.0.after_destroy.load(Ordering::SeqCst)
    }
}

unsafe extern "C" fn test_log(
    ctx: *mut raw::tremor_host_ctx,
    level: i32,
    msg: *const u8,
    len: u64,
) {
    // SAFETY: ctx is the leaked Arc<LogState> from create_with.
    let state = unsafe { &*(ctx as *const LogState) };
    if state.destroyed.load(Ordering::SeqCst) {
        state.after_destroy.fetch_add(1, Ordering::SeqCst);
        return;
    }
    // SAFETY: msg is valid for len bytes during the call.
    let bytes = unsafe { crate::batch::slice_or_empty(msg, len) };
    let message = String::from_utf8_lossy(bytes).into_owned();
    state
        .lines
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(LogLine { level, message });
}

static HOST_API: raw::tremor_host_api = raw::tremor_host_api {
    struct_size: size_of::<raw::tremor_host_api>() as u32,
    abi_major: raw::TREMOR_ABI_MAJOR,
    abi_minor: raw::TREMOR_ABI_MINOR,
    log: Some(test_log),
    counter_add: None,
    gauge_set: None,
};

/// Capacities of a room for `pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    pub events: usize,
    pub values: usize,
    pub bytes: usize,
}

impl Room {
    pub fn new(events: usize, values: usize, bytes: usize) -> Room {
        Room {
            events,
            values,
            bytes,
        }
    }
}

impl Default for Room {
    fn default() -> Room {
        Room {
            events: 64,
            values: 1024,
            bytes: 64 * 1024,
        }
    }
}

/// The payload of a pulled event.
#[derive(Debug, Clone, PartialEq)]
pub enum PulledPayload {
    Bytes(Vec<u8>),
    Value(Value),
}

/// An event a source produced, copied out of the room.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledEvent {
    pub id: u64,
    pub stream: u64,
    pub ingest_ns: u64,
    pub port: u32,
    pub payload: PulledPayload,
    pub meta: Option<Value>,
    /// TREMOR_EVENT_END_STREAM: the last event of its stream.
    pub end_stream: bool,
}

impl PulledEvent {
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.payload {
            PulledPayload::Bytes(b) => Some(b),
            PulledPayload::Value(_) => None,
        }
    }
}

/// What one `pull` produced.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub reply: Reply,
    pub events: Vec<PulledEvent>,
    pub bytes_needed: u64,
    pub values_needed: u64,
}

/// What one `send` produced.
#[derive(Debug, Clone)]
pub struct Sent {
    pub reply: Reply,
    /// One TREMOR_OUTCOME_* per event.
    pub outcomes: Vec<u8>,
}

fn guarded<T: Copy>(cap: usize, guard: T) -> Vec<T> {
    vec![guard; cap + 2]
}

fn guard_event() -> raw::tremor_event {
    raw::tremor_event {
        id: 0xA5A5_A5A5_A5A5_A5A5,
        ..Default::default()
    }
}

fn guard_value() -> raw::tremor_value {
    raw::tremor_value {
        kind: 0xA5,
        reserved: [0xA5; 3],
        key_len: 0xA5A5_A5A5,
        key_offset: 0,
        len: 0,
        as_: raw::tremor_value_as {
            u: 0xA5A5_A5A5_A5A5_A5A5,
        },
    }
}

/// A live connector instance; on_destroy runs on drop.
pub struct Instance {
    vt: &'static raw::tremor_connector_vtable,
    ptr: *mut c_void,
    logs: Logs,
    destroyed: bool,
    err_cap: Option<usize>,
}

impl Instance {
    /// Capacity of the error buffer for later calls; None passes a NULL
    /// `tremor_error *`.
    pub fn set_error_cap(&mut self, cap: Option<usize>) {
        self.err_cap = cap;
    }

    /// The log of this instance (still readable after destroy).
    pub fn logs(&self) -> Logs {
        self.logs.clone()
    }

    /// The opaque instance pointer and the vtable, to call hooks with
    /// hand-made arguments.
    pub fn raw(&self) -> (*mut c_void, &'static raw::tremor_connector_vtable) {
        (self.ptr, self.vt)
    }

    /// Calls a hook with an error buffer of the configured capacity.
    fn call(&mut self, f: impl FnOnce(*mut c_void, *mut raw::tremor_error) -> i32) -> Reply {
        match self.err_cap {
            Some(cap) => {
                let mut err = ErrBuf::new(cap);
                let code = f(self.ptr, err.ptr());
                err.reply(code)
            }
            None => Reply {
                code: f(self.ptr, std::ptr::null_mut()),
                message: String::new(),
            },
        }
    }

    pub fn connect(&mut self, attempt: u32) -> Reply {
        match self.vt.on_connect {
            // SAFETY: live instance, valid error buffer.
            Some(h) => self.call(|i, e| unsafe { h(i, attempt, e) }),
            None => Reply::ok(),
        }
    }

    fn step(&mut self, hook: Option<raw::tremor_on_step_fn>) -> Reply {
        match hook {
            // SAFETY: live instance, valid error buffer.
            Some(h) => self.call(|i, e| unsafe { h(i, e) }),
            None => Reply::ok(),
        }
    }
    pub fn start(&mut self) -> Reply {
        self.step(self.vt.on_start)
    }
    pub fn pause(&mut self) -> Reply {
        self.step(self.vt.on_pause)
    }
    pub fn resume(&mut self) -> Reply {
        self.step(self.vt.on_resume)
    }
    pub fn drain(&mut self) -> Reply {
        self.step(self.vt.on_drain)
    }
    pub fn stop(&mut self) -> Reply {
        self.step(self.vt.on_stop)
    }

    pub fn pull(&mut self, room: Room, wait_ms: u32) -> Pulled {
        self.pull_with(room, wait_ms, |_| {})
    }

    /// Like [`Instance::pull`], letting `tweak` break the room first. Events
    /// are decoded and checked only when the call succeeded (or returned
    /// TREMOR_ERR_DISCONNECTED).
    pub fn pull_with(
        &mut self,
        room: Room,
        wait_ms: u32,
        tweak: impl FnOnce(&mut raw::tremor_batch),
    ) -> Pulled {
        let pull = self.vt.on_pull.expect("the connector type has no on_pull");
        let mut events = guarded(room.events, guard_event());
        let mut values = guarded(room.values, guard_value());
        let mut bytes = guarded(room.bytes, GUARD);
        let mut batch = raw::tremor_batch {
            struct_size: size_of::<raw::tremor_batch>() as u32,
            reserved0: 0,
            events: events.as_mut_ptr(),
            events_len: 0,
            events_cap: room.events as u64,
            values: values.as_mut_ptr(),
            values_len: 0,
            values_cap: room.values as u64,
            bytes: bytes.as_mut_ptr(),
            bytes_len: 0,
            bytes_cap: room.bytes as u64,
            bytes_needed: 0,
            values_needed: 0,
        };
        tweak(&mut batch);
        let tweaked = batch;
        // SAFETY: a live instance and a room whose arrays hold their caps.
        let reply = self.call(|i, e| unsafe { pull(i, &mut batch, wait_ms, e) });

        // What the plugin may and may not have touched.
        assert_eq!(batch.events, tweaked.events, "plugin changed room.events");
        assert_eq!(batch.values, tweaked.values, "plugin changed room.values");
        assert_eq!(batch.bytes, tweaked.bytes, "plugin changed room.bytes");
        assert!(
            events[room.events..]
                .iter()
                .all(|e| e.id == guard_event().id),
            "plugin wrote past events_cap"
        );
        assert!(
            values[room.values..].iter().all(|v| v.kind == 0xA5),
            "plugin wrote past values_cap"
        );
        assert!(
            bytes[room.bytes..].iter().all(|b| *b == GUARD),
            "plugin wrote past bytes_cap"
        );

        let mut out = Vec::new();
        if reply.code >= 0 || reply.code == raw::TREMOR_ERR_DISCONNECTED {
            assert!(
                batch.events_len <= batch.events_cap,
                "events_len beyond events_cap"
            );
            assert!(
                batch.values_len <= batch.values_cap,
                "values_len beyond values_cap"
            );
            assert!(
                batch.bytes_len <= batch.bytes_cap,
                "bytes_len beyond bytes_cap"
            );
            // SAFETY: our own batch, checked lens.
            let reader = unsafe { BatchReader::from_raw(&batch) }
                .unwrap_or_else(|e| panic!("plugin wrote an invalid batch: {}", e.message()));
            for ev in reader.iter() {
                out.push(PulledEvent {
                    id: ev.id,
                    stream: ev.stream,
                    ingest_ns: ev.ingest_ns,
                    port: ev.port.0,
                    payload: match ev.payload {
                        crate::Payload::Bytes(b) => PulledPayload::Bytes(b.to_vec()),
                        crate::Payload::Value(v) => PulledPayload::Value(v.to_value()),
                    },
                    meta: ev.meta.map(|m| m.to_value()),
                    end_stream: ev.end_stream,
                });
            }
        }
        if reply.code == raw::TREMOR_ERR_NO_ROOM {
            assert_eq!(
                batch.events_len, 0,
                "TREMOR_ERR_NO_ROOM with events written"
            );
        }
        Pulled {
            reply,
            events: out,
            bytes_needed: batch.bytes_needed,
            values_needed: batch.values_needed,
        }
    }

    fn ids(&mut self, hook: Option<raw::tremor_on_ids_fn>, ids: &[u64]) -> Reply {
        let h = hook.expect("the connector type has no on_ack/on_fail");
        // SAFETY: live instance; ids valid during the call.
        self.call(|i, e| unsafe { h(i, ids.as_ptr(), ids.len() as u64, e) })
    }
    pub fn ack(&mut self, ids: &[u64]) -> Reply {
        self.ids(self.vt.on_ack, ids)
    }
    pub fn fail(&mut self, ids: &[u64]) -> Reply {
        self.ids(self.vt.on_fail, ids)
    }

    pub fn send(&mut self, events: &[OutEvent<'_>]) -> Sent {
        self.send_with(events, |_| {})
    }

    /// Like [`Instance::send`], letting `tweak` break the batch first.
    pub fn send_with(
        &mut self,
        events: &[OutEvent<'_>],
        tweak: impl FnOnce(&mut raw::tremor_batch),
    ) -> Sent {
        let send = self.vt.on_send.expect("the connector type has no on_send");
        let (mut nv, mut nb) = (0u64, 0u64);
        for e in events {
            let n = e.needs();
            nv += n.values_needed;
            nb += n.bytes_needed;
        }
        let mut ev = vec![raw::tremor_event::default(); events.len().max(1)];
        let mut values = vec![guard_value(); (nv as usize).max(1)];
        let mut bytes = vec![0u8; (nb as usize).max(1)];
        let mut batch = raw::tremor_batch {
            struct_size: size_of::<raw::tremor_batch>() as u32,
            reserved0: 0,
            events: ev.as_mut_ptr(),
            events_len: 0,
            events_cap: ev.len() as u64,
            values: values.as_mut_ptr(),
            values_len: 0,
            values_cap: values.len() as u64,
            bytes: bytes.as_mut_ptr(),
            bytes_len: 0,
            bytes_cap: bytes.len() as u64,
            bytes_needed: 0,
            values_needed: 0,
        };
        {
            // SAFETY: our own room, sized for every event.
            let mut w = unsafe { BatchWriter::from_raw(&mut batch) }.expect("test room");
            for e in events {
                w.push(e).expect("sized for every event");
            }
        }
        tweak(&mut batch);
        let mut outcomes = vec![raw::TREMOR_OUTCOME_FAILED; events.len() + GUARD_LEN];
        outcomes[events.len()..].fill(GUARD);
        let out_ptr = outcomes.as_mut_ptr();
        // SAFETY: live instance, a batch valid during the call, outcomes
        // with events_len entries.
        let reply = self.call(|i, e| unsafe { send(i, &batch, out_ptr, e) });
        assert!(
            outcomes[events.len()..].iter().all(|b| *b == GUARD),
            "plugin wrote past the outcomes"
        );
        outcomes.truncate(events.len());
        Sent { reply, outcomes }
    }

    /// Calls on_destroy (also done on drop).
    pub fn destroy(mut self) {
        self.destroy_now();
    }

    fn destroy_now(&mut self) {
        if !self.destroyed {
            self.destroyed = true;
            // SAFETY: called once, last, on the pointer on_create gave.
            unsafe { (self.vt.on_destroy.expect("checked"))(self.ptr) };
            self.logs.0.destroyed.store(true, Ordering::SeqCst);
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.destroy_now();
    }
}
