//! Drives test-only connectors through their exported C entry points
//! (descriptor -> vtable -> hooks) with the testkit host, to prove what the
//! PDK promises: panics become TREMOR_ERR_PANIC and poison the instance,
//! broken arguments become TREMOR_ERR_INVALID, NO_ROOM is reported with the
//! needs and nothing is dropped, error messages are truncated safely, and
//! the host's log is never called after on_destroy.

use std::collections::HashMap;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tremor_pdk::testkit::{ConnectorType, Instance, Plugin, PulledPayload, Room};
use tremor_pdk::*;

// ---------------------------------------------------------------------------
// The test plugin
// ---------------------------------------------------------------------------

/// Events the sinks received, per alias.
/// (id, payload, meta) of one received event.
type Received = (u64, Vec<u8>, Option<Value>);
static RECEIVED: Mutex<Option<HashMap<String, Vec<Received>>>> = Mutex::new(None);

/// The logging thread of the instance named "spam" goes on logging after
/// its on_destroy: SPAM_DESTROYED is set by the test once on_destroy
/// returned; the thread counts its log calls from then on, and those for
/// which its Host still said it was live.
static SPAM_DESTROYED: AtomicBool = AtomicBool::new(false);
static SPAM_TRIES_AFTER: AtomicU64 = AtomicU64::new(0);
static SPAM_LIVE_AFTER: AtomicU64 = AtomicU64::new(0);
/// Log calls the "spam" thread makes after destroy before it ends.
const SPAM_TRIES: u64 = 20;

/// A named way to break an argument.
type Breakage<T> = (&'static str, Box<dyn Fn(&mut T)>);

fn received(alias: &str) -> Vec<Received> {
    RECEIVED
        .lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(alias).cloned())
        .unwrap_or_default()
}

struct Probe {
    host: Host,
    alias: String,
    panic_on: String,
    events: u64,
    first_size: u64,
    structured: bool,
    next: u64,
    acked: Vec<u64>,
    failed: Vec<u64>,
    spam: Option<Arc<AtomicBool>>,
}

impl Probe {
    fn maybe_panic(&self, hook: &str) {
        if self.panic_on == hook {
            panic!("probe panics in {hook} as configured");
        }
    }
}

impl Connector for Probe {
    fn create(args: CreateArgs<'_>) -> Result<Self> {
        let c = &args.config;
        let panic_on = c.opt_str("panic_on")?.unwrap_or("").to_owned();
        if panic_on == "create" {
            panic!("probe panics in create as configured");
        }
        args.host.info(&format!("creating {}", args.alias));
        Ok(Probe {
            host: args.host.clone(),
            alias: args.alias.to_owned(),
            panic_on,
            events: c.opt_u64("events")?.unwrap_or(3),
            first_size: c.opt_u64("first_size")?.unwrap_or(0),
            structured: c.opt_bool("structured")?.unwrap_or(false),
            next: 0,
            acked: Vec::new(),
            failed: Vec::new(),
            spam: None,
        })
    }

    fn connect(&mut self, attempt: u32) -> Result<Connection> {
        self.maybe_panic("connect");
        if self.panic_on == "config-on-connect" {
            return Err(Error::config("bad config found on connect"));
        }
        Ok(match attempt {
            1 => Connection::Retry,
            2 => Connection::NotYet(format!("warming up (attempt {attempt})")),
            _ => Connection::Connected,
        })
    }

    fn start(&mut self) -> Result<()> {
        self.maybe_panic("start");
        // A thread that keeps logging through a Host clone and is never
        // joined: the PDK must cut it off at on_destroy.
        let stop = Arc::new(AtomicBool::new(false));
        self.spam = Some(stop.clone());
        let host = self.host.clone();
        let watched = self.alias == "spam";
        std::thread::spawn(move || {
            // The watched thread runs until it has tried after destroy (the
            // deadline only keeps a failed test from leaving it behind).
            let deadline = Instant::now() + Duration::from_secs(if watched { 60 } else { 3 });
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let after = watched && SPAM_DESTROYED.load(Ordering::SeqCst);
                host.debug("spam from a plugin thread");
                if after {
                    if host.is_live() {
                        SPAM_LIVE_AFTER.fetch_add(1, Ordering::SeqCst);
                    }
                    if SPAM_TRIES_AFTER.fetch_add(1, Ordering::SeqCst) + 1 >= SPAM_TRIES {
                        break;
                    }
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        Ok(())
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.host.info("dropping probe");
        if self.panic_on == "drop" {
            panic!("probe panics in drop as configured");
        }
    }
}

impl Source for Probe {
    fn pull(&mut self, out: &mut BatchWriter<'_>, _wait: Duration) -> Result<Pull> {
        self.maybe_panic("pull");
        while self.next < self.events {
            let id = self.next;
            let text = if id == 0 && self.first_size > 0 {
                "x".repeat(self.first_size as usize)
            } else {
                format!("event-{id}")
            };
            let pushed = if self.structured {
                let value = Value::object()
                    .with("n", id)
                    .with("text", text.as_str())
                    .with("list", vec![Value::from(true), Value::Null]);
                let meta = Value::object().with("source", self.alias.as_str());
                out.push(
                    &OutEvent::value(id, &value)
                        .meta(&meta)
                        .port(Port::ERR)
                        .stream(7),
                )
            } else {
                out.push_bytes(id, text.as_bytes())
            };
            // Propagate NoRoom with `?`: the PDK delivers what was written.
            pushed?;
            self.next += 1;
        }
        Ok(Pull::End)
    }

    fn ack(&mut self, ids: &[u64]) -> Result<()> {
        self.acked.extend_from_slice(ids);
        self.host.info(&format!("acked {:?}", self.acked));
        Ok(())
    }

    fn fail(&mut self, ids: &[u64]) -> Result<()> {
        self.failed.extend_from_slice(ids);
        self.host.info(&format!("failed {:?}", self.failed));
        Ok(())
    }
}

impl Sink for Probe {
    fn send(&mut self, batch: &BatchReader<'_>, outcomes: &mut [Outcome]) -> Result<()> {
        self.maybe_panic("send");
        let mut disconnect = false;
        for (event, outcome) in batch.iter().zip(outcomes.iter_mut()) {
            let bytes = match event.payload {
                Payload::Bytes(b) => b.to_vec(),
                Payload::Value(v) => format!("{:?}", v.to_value()).into_bytes(),
            };
            if disconnect {
                continue;
            }
            *outcome = match bytes.as_slice() {
                b"fail" => Outcome::Failed,
                b"retry" => Outcome::Retry,
                b"disconnect" => {
                    disconnect = true;
                    continue;
                }
                _ => Outcome::Ok,
            };
            RECEIVED
                .lock()
                .unwrap()
                .get_or_insert_with(HashMap::new)
                .entry(self.alias.clone())
                .or_default()
                .push((event.id, bytes, event.meta.map(|m| m.to_value())));
        }
        if disconnect {
            return Err(Error::disconnected(format!(
                "{}: the peer hung up",
                self.alias
            )));
        }
        Ok(())
    }
}

/// A second, sink-only connector type with a terse declaration.
struct Null;

impl Connector for Null {
    fn create(_: CreateArgs<'_>) -> Result<Self> {
        Ok(Null)
    }
}

impl Sink for Null {
    fn send(&mut self, _: &BatchReader<'_>, outcomes: &mut [Outcome]) -> Result<()> {
        outcomes.fill(Outcome::Ok);
        Ok(())
    }
}

tremor_plugin! {
    name: "probe",
    version: "9.8.7",
    description: "test-only plugin",
    license: "Apache-2.0",
    connectors: [
        Probe {
            name: "probe",
            description: "does what its config says, including panicking",
            kinds: [source, sink],
            payload: bytes,
            fields: [
                { name: "panic_on", type: string, doc: "hook that panics" },
                { name: "events", type: uint, default_json: "3" },
                { name: "first_size", type: uint },
                { name: "structured", type: bool, flags: [], default_json: "false" },
                { name: "token", type: string, flags: [required, secret], doc: "unused" },
            ],
        },
        Null {
            name: "null",
            kinds: [sink],
            payload: structured,
            fields: [],
        },
    ],
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn plugin() -> Plugin {
    // SAFETY: the descriptor is static data of this test binary.
    unsafe { Plugin::load(tremor_plugin_get_descriptor) }.expect("valid descriptor")
}

fn probe_type() -> ConnectorType {
    plugin().connector("probe").expect("probe connector")
}

fn probe(alias: &str, config: Value) -> Instance {
    probe_type()
        .create(alias, &config)
        .unwrap_or_else(|r| panic!("create failed: {r}"))
}

fn connected(alias: &str, config: Value) -> Instance {
    let mut i = probe(alias, config);
    assert_eq!(i.connect(1).expect_code(raw::TREMOR_RETRY), "", "a bare RETRY");
    assert_eq!(
        i.connect(2).expect_code(raw::TREMOR_RETRY),
        "warming up (attempt 2)",
        "a RETRY that says why"
    );
    i.connect(3).expect_ok();
    i
}

fn bytes_of(p: &tremor_pdk::testkit::Pulled) -> Vec<(u64, String)> {
    p.events
        .iter()
        .map(|e| {
            (
                e.id,
                String::from_utf8(e.bytes().unwrap().to_vec()).unwrap(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Descriptor
// ---------------------------------------------------------------------------

#[test]
fn descriptor_describes_the_plugin() {
    let _: raw::tremor_plugin_get_descriptor_fn = tremor_plugin_get_descriptor;
    let p = plugin();
    assert_eq!(p.name(), "probe");
    assert_eq!(p.version(), "9.8.7");
    assert_eq!(p.description().as_deref(), Some("test-only plugin"));
    assert_eq!(p.license().as_deref(), Some("Apache-2.0"));
    assert_eq!(p.sdk().as_deref(), Some(tremor_pdk::SDK));
    let d = p.raw();
    assert_eq!((d.abi_major, d.abi_minor), (raw::TREMOR_ABI_MAJOR, raw::TREMOR_ABI_MINOR));
    assert_eq!(
        d.struct_size as usize,
        size_of::<raw::tremor_plugin_descriptor>()
    );
    // Stable: the same pointer every time.
    assert_eq!(
        tremor_plugin_get_descriptor(),
        tremor_plugin_get_descriptor()
    );

    let names: Vec<String> = p.connectors().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["probe", "null"]);

    let probe = p.connector("probe").unwrap();
    assert_eq!(
        probe.kinds(),
        raw::TREMOR_KIND_SOURCE | raw::TREMOR_KIND_SINK
    );
    assert_eq!(probe.payload(), raw::TREMOR_PAYLOAD_BYTES);
    let fields = probe.fields();
    assert_eq!(fields.len(), 5);
    assert_eq!(fields[0].name, "panic_on");
    assert_eq!(fields[0].r#type, u32::from(raw::TREMOR_VALUE_STRING));
    assert_eq!(fields[0].flags, 0);
    assert_eq!(fields[0].doc.as_deref(), Some("hook that panics"));
    assert_eq!(fields[1].default_json.as_deref(), Some("3"));
    assert_eq!(fields[1].doc, None);
    assert_eq!(fields[3].r#type, u32::from(raw::TREMOR_VALUE_BOOL));
    assert_eq!(
        fields[4].flags,
        raw::TREMOR_FIELD_REQUIRED | raw::TREMOR_FIELD_SECRET
    );
    let vt = probe.vtable();
    assert_eq!(
        vt.struct_size as usize,
        size_of::<raw::tremor_connector_vtable>()
    );
    assert!(
        vt.on_pull.is_some() && vt.on_ack.is_some() && vt.on_fail.is_some() && vt.on_send.is_some()
    );

    let null = p.connector("null").unwrap();
    assert_eq!(null.kinds(), raw::TREMOR_KIND_SINK);
    assert_eq!(null.payload(), raw::TREMOR_PAYLOAD_STRUCTURED);
    assert_eq!(null.description(), None);
    assert!(null.fields().is_empty());
    assert!(null.vtable().on_pull.is_none() && null.vtable().on_ack.is_none());
}

// ---------------------------------------------------------------------------
// Lifecycle, pull, ack, send
// ---------------------------------------------------------------------------

#[test]
fn pull_ack_fail_and_end() {
    let mut i = connected("pull", Value::object().with("events", 3u64));
    i.start().expect_ok();
    let p = i.pull(Room::default(), 0);
    assert_eq!(p.reply.code, raw::TREMOR_END, "{}", p.reply);
    assert_eq!(
        bytes_of(&p),
        [
            (0, "event-0".into()),
            (1, "event-1".into()),
            (2, "event-2".into())
        ]
    );
    assert!(
        p.events
            .iter()
            .all(|e| e.port == raw::TREMOR_PORT_OUT && e.meta.is_none())
    );
    i.ack(&[0, 2]).expect_ok();
    i.fail(&[1]).expect_ok();
    i.ack(&[]).expect_ok();
    let logs = i.logs();
    assert!(logs.contains("acked [0, 2]"), "{:?}", logs.lines());
    assert!(logs.contains("failed [1]"));
    assert!(logs.contains("creating pull"));
    assert!(logs.lines().iter().any(|l| l.level == raw::TREMOR_LOG_INFO));
    i.pause().expect_ok();
    i.resume().expect_ok();
    i.drain().expect_ok();
    i.stop().expect_ok();
    i.destroy();
    assert!(
        logs.contains("dropping probe"),
        "Drop may still log during on_destroy"
    );
}

#[test]
fn full_batch_keeps_the_rest_for_the_next_pull() {
    let mut i = connected("full", Value::object().with("events", 5u64));
    let p = i.pull(Room::new(2, 0, 1024), 0);
    p.reply.expect_ok();
    assert_eq!(p.events.iter().map(|e| e.id).collect::<Vec<_>>(), [0, 1]);
    // Only 10 bytes: "event-2" (7) fits, "event-3" does not.
    let p = i.pull(Room::new(8, 0, 10), 0);
    p.reply.expect_ok();
    assert_eq!(bytes_of(&p), [(2, "event-2".into())]);
    let p = i.pull(Room::default(), 0);
    p.reply.expect_code(raw::TREMOR_END);
    assert_eq!(p.events.iter().map(|e| e.id).collect::<Vec<_>>(), [3, 4]);
}

#[test]
fn no_room_reports_the_needs_and_drops_nothing() {
    let mut i = connected(
        "noroom",
        Value::object()
            .with("events", 2u64)
            .with("first_size", 100u64),
    );
    let p = i.pull(Room::new(4, 0, 50), 0);
    let msg = p.reply.expect_code(raw::TREMOR_ERR_NO_ROOM);
    assert!(msg.contains("100 bytes"), "{msg}");
    assert_eq!((p.bytes_needed, p.values_needed), (100, 0));
    assert!(p.events.is_empty());
    // The host grows the room: the same event comes now.
    let p = i.pull(Room::new(4, 0, 100), 0);
    p.reply.expect_ok();
    assert_eq!(p.events.len(), 1);
    assert_eq!(p.events[0].id, 0);
    assert_eq!(p.events[0].bytes().unwrap(), "x".repeat(100).as_bytes());
    let p = i.pull(Room::default(), 0);
    p.reply.expect_code(raw::TREMOR_END);
    assert_eq!(bytes_of(&p), [(1, "event-1".into())]);
}

#[test]
fn structured_events_with_meta_roundtrip() {
    let mut i = connected(
        "structured",
        Value::object()
            .with("events", 2u64)
            .with("structured", true),
    );
    // Not enough value nodes for even one event.
    let p = i.pull(Room::new(4, 3, 1024), 0);
    p.reply.expect_code(raw::TREMOR_ERR_NO_ROOM);
    let (nodes, _) = Value::object()
        .with("n", 0u64)
        .with("text", "event-0")
        .with("list", vec![Value::from(true), Value::Null])
        .encoded_size();
    let (meta_nodes, _) = Value::object().with("source", "structured").encoded_size();
    assert_eq!(p.values_needed, nodes + meta_nodes);

    let p = i.pull(Room::default(), 0);
    p.reply.expect_code(raw::TREMOR_END);
    assert_eq!(p.events.len(), 2);
    let e = &p.events[1];
    assert_eq!((e.id, e.port, e.stream), (1, raw::TREMOR_PORT_ERR, 7));
    assert_eq!(
        e.payload,
        PulledPayload::Value(
            Value::object()
                .with("n", 1u64)
                .with("text", "event-1")
                .with("list", vec![Value::from(true), Value::Null])
        )
    );
    assert_eq!(e.meta, Some(Value::object().with("source", "structured")));
}

#[test]
fn send_writes_outcomes() {
    let mut i = connected("send", Value::object());
    let meta = Value::object().with("k", "v");
    let events = [
        OutEvent::bytes(10, b"hello"),
        OutEvent::bytes(11, b"fail"),
        OutEvent::bytes(12, b"retry").meta(&meta),
        OutEvent::bytes(13, b""),
    ];
    let s = i.send(&events);
    s.reply.expect_ok();
    assert_eq!(
        s.outcomes,
        [
            raw::TREMOR_OUTCOME_OK,
            raw::TREMOR_OUTCOME_FAILED,
            raw::TREMOR_OUTCOME_RETRY,
            raw::TREMOR_OUTCOME_OK
        ]
    );
    let got = received("send");
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        [10, 11, 12, 13],
        "{got:?}"
    );
    assert_eq!(got[0].1, b"hello");
    assert_eq!(got[2].2, Some(meta.clone()));
    assert_eq!(got[3].1, b"");
    let s = i.send(&[]);
    s.reply.expect_ok();
    assert!(s.outcomes.is_empty());
}

#[test]
fn send_disconnected_keeps_the_outcomes_written() {
    let mut i = connected("disc", Value::object());
    let s = i.send(&[
        OutEvent::bytes(1, b"a"),
        OutEvent::bytes(2, b"disconnect"),
        OutEvent::bytes(3, b"c"),
    ]);
    let msg = s.reply.expect_code(raw::TREMOR_ERR_DISCONNECTED);
    assert_eq!(msg, "disc: the peer hung up");
    assert_eq!(
        s.outcomes,
        [
            raw::TREMOR_OUTCOME_OK,
            raw::TREMOR_OUTCOME_FAILED,
            raw::TREMOR_OUTCOME_FAILED
        ]
    );
}

#[test]
fn errors_carry_their_code_and_message() {
    let t = probe_type();
    let r = t
        .create("bad", &Value::object().with("events", "three"))
        .err()
        .expect("bad config");
    assert_eq!(r.code, raw::TREMOR_ERR_CONFIG);
    assert_eq!(
        r.message,
        "config field `events` must be a non-negative integer, not string"
    );

    let r = t
        .create("bad", &Value::Array(vec![]))
        .err()
        .expect("not an object");
    assert_eq!(r.code, raw::TREMOR_ERR_CONFIG);

    // An absent config reads as empty.
    let mut i = t.create("empty", &Value::Null).unwrap();
    i.connect(5).expect_ok();

    let mut i = probe("cfg", Value::object().with("panic_on", "config-on-connect"));
    assert_eq!(
        i.connect(1).expect_code(raw::TREMOR_ERR_CONFIG),
        "bad config found on connect"
    );
    // An error does not poison: the instance still works.
    i.send(&[OutEvent::bytes(1, b"x")]).reply.expect_ok();
}

// ---------------------------------------------------------------------------
// Panics
// ---------------------------------------------------------------------------

#[test]
fn panic_in_a_hook_returns_err_panic_and_poisons_the_instance() {
    let mut i = connected("panicky", Value::object().with("panic_on", "pull"));
    let p = i.pull(Room::default(), 0);
    let msg = p.reply.expect_code(raw::TREMOR_ERR_PANIC);
    assert!(msg.contains("probe panics in pull as configured"), "{msg}");
    // Every later hook answers TREMOR_ERR_PANIC without running plugin code.
    let msg = i.connect(1).expect_code(raw::TREMOR_ERR_PANIC).to_owned();
    assert!(
        msg.contains("earlier call panicked") && msg.contains("probe panics in pull"),
        "{msg}"
    );
    i.start().expect_code(raw::TREMOR_ERR_PANIC);
    i.ack(&[1]).expect_code(raw::TREMOR_ERR_PANIC);
    i.send(&[OutEvent::bytes(1, b"x")])
        .reply
        .expect_code(raw::TREMOR_ERR_PANIC);
    i.pull(Room::default(), 0)
        .reply
        .expect_code(raw::TREMOR_ERR_PANIC);
    let logs = i.logs();
    i.destroy(); // still allowed, and still drops the connector
    assert!(logs.contains("dropping probe"));
}

#[test]
fn panic_in_send_and_connect() {
    let mut i = connected("psend", Value::object().with("panic_on", "send"));
    let s = i.send(&[OutEvent::bytes(1, b"x")]);
    assert!(
        s.reply
            .expect_code(raw::TREMOR_ERR_PANIC)
            .contains("probe panics in send")
    );
    assert_eq!(s.outcomes, [raw::TREMOR_OUTCOME_FAILED]);

    let mut i = probe("pconnect", Value::object().with("panic_on", "connect"));
    i.connect(1).expect_code(raw::TREMOR_ERR_PANIC);
    i.drain().expect_code(raw::TREMOR_ERR_PANIC);
}

#[test]
fn panic_in_create_returns_err_panic_without_instance() {
    let r = probe_type()
        .create("pcreate", &Value::object().with("panic_on", "create"))
        .err()
        .expect("panics");
    assert_eq!(r.code, raw::TREMOR_ERR_PANIC);
    assert!(
        r.message.contains("probe panics in create as configured"),
        "{}",
        r.message
    );
}

#[test]
fn panic_in_drop_is_contained_and_logged() {
    let i = connected("pdrop", Value::object().with("panic_on", "drop"));
    let logs = i.logs();
    i.destroy();
    assert!(
        logs.contains("plugin panicked while destroying the instance: probe panics in drop"),
        "{:?}",
        logs.lines()
    );
    assert_eq!(logs.calls_after_destroy(), 0);
}

// ---------------------------------------------------------------------------
// Broken arguments
// ---------------------------------------------------------------------------

#[test]
fn broken_rooms_are_refused_with_err_invalid() {
    let mut i = connected("room", Value::object().with("events", 100u64));
    let cases: Vec<Breakage<raw::tremor_batch>> = vec![
        (
            "not empty on entry (events_len 5",
            Box::new(|b| b.events_len = 5),
        ),
        ("not empty on entry", Box::new(|b| b.bytes_len = 1)),
        ("bytes is NULL", Box::new(|b| b.bytes = ptr::null_mut())),
        ("events is NULL", Box::new(|b| b.events = ptr::null_mut())),
        ("struct_size", Box::new(|b| b.struct_size = 8)),
        ("events_cap 0", Box::new(|b| b.events_cap = 0)),
        (
            "not aligned",
            Box::new(|b| b.values = (b.values as *mut u8).wrapping_add(1).cast()),
        ),
        ("too large", Box::new(|b| b.bytes_cap = u64::MAX)),
    ];
    for (want, tweak) in cases {
        let p = i.pull_with(Room::new(4, 4, 64), 0, tweak);
        let msg = p.reply.expect_code(raw::TREMOR_ERR_INVALID);
        assert!(msg.contains(want), "{want:?} not in {msg:?}");
    }
    // A NULL room, called by hand.
    let (inst, vt) = i.raw();
    // SAFETY: a live instance; NULL room and NULL error buffer are what is tested.
    let code = unsafe { (vt.on_pull.unwrap())(inst, ptr::null_mut(), 0, ptr::null_mut()) };
    assert_eq!(code, raw::TREMOR_ERR_INVALID);
    // None of that poisoned the instance or lost an event.
    let p = i.pull(Room::new(1, 0, 64), 0);
    p.reply.expect_ok();
    assert_eq!(bytes_of(&p), [(0, "event-0".into())]);
}

#[test]
fn broken_batches_are_refused_with_err_invalid() {
    let mut i = connected("batch", Value::object());
    let v = Value::object().with("a", "b");
    let events = [OutEvent::bytes(1, b"abc"), OutEvent::value(2, &v)];
    let cases: Vec<Breakage<raw::tremor_batch>> = vec![
        (
            "events_len 3 is larger than events_cap 2",
            Box::new(|b| b.events_len = 3),
        ),
        ("bytes_len", Box::new(|b| b.bytes_len = b.bytes_cap + 1)),
        (
            "event 0: payload span",
            Box::new(|b| unsafe { (*b.events).payload.len = 1000 }),
        ),
        (
            "event 0: unknown flag bits",
            Box::new(|b| unsafe { (*b.events).flags = 0x8 }),
        ),
        (
            "event 1: payload",
            Box::new(|b| unsafe { (*b.events.add(1)).payload.offset = 99 }),
        ),
        (
            "event 1: payload: value span says",
            Box::new(|b| unsafe { (*b.events.add(1)).payload.len = 1 }),
        ),
        (
            "event 1: payload: value node 1: key span",
            Box::new(|b| unsafe { (*b.values.add(1)).key_len = 999 }),
        ),
        (
            "event 0: meta",
            Box::new(|b| unsafe { (*b.events).meta = raw::tremor_span { offset: 7, len: 1 } }),
        ),
        ("batch struct_size", Box::new(|b| b.struct_size = 0)),
        ("values is NULL", Box::new(|b| b.values = ptr::null_mut())),
    ];
    for (want, tweak) in cases {
        let s = i.send_with(&events, tweak);
        let msg = s.reply.expect_code(raw::TREMOR_ERR_INVALID);
        assert!(msg.contains(want), "{want:?} not in {msg:?}");
        assert_eq!(s.outcomes, [raw::TREMOR_OUTCOME_FAILED; 2]);
    }
    let (inst, vt) = i.raw();
    // SAFETY: a live instance; NULL batch / outcomes are what is tested.
    unsafe {
        assert_eq!(
            (vt.on_send.unwrap())(inst, ptr::null(), ptr::null_mut(), ptr::null_mut()),
            raw::TREMOR_ERR_INVALID
        );
        assert_eq!(
            (vt.on_ack.unwrap())(inst, ptr::null(), 3, ptr::null_mut()),
            raw::TREMOR_ERR_INVALID
        );
        assert_eq!(
            (vt.on_connect.unwrap())(ptr::null_mut(), 1, ptr::null_mut()),
            raw::TREMOR_ERR_INVALID
        );
    }
    // Outcomes NULL with events: build a valid batch by hand.
    let mut ev = raw::tremor_event::default();
    let batch = raw::tremor_batch {
        struct_size: size_of::<raw::tremor_batch>() as u32,
        reserved0: 0,
        events: &mut ev,
        events_len: 1,
        events_cap: 1,
        values: ptr::null_mut(),
        values_len: 0,
        values_cap: 0,
        bytes: ptr::null_mut(),
        bytes_len: 0,
        bytes_cap: 0,
        bytes_needed: 0,
        values_needed: 0,
    };
    // SAFETY: a valid one-event batch with an empty payload; NULL outcomes.
    assert_eq!(
        unsafe { (vt.on_send.unwrap())(inst, &batch, ptr::null_mut(), ptr::null_mut()) },
        raw::TREMOR_ERR_INVALID
    );
    // Still usable.
    i.send(&events).reply.expect_ok();
}

#[test]
fn broken_create_args_are_refused_with_err_invalid() {
    let t = probe_type();
    let cases: Vec<Breakage<raw::tremor_create_args>> = vec![
        (
            "alias is not UTF-8",
            Box::new(|a| a.alias = b"\xff\xfe".as_ptr()),
        ),
        ("alias is NULL", Box::new(|a| a.alias = ptr::null())),
        (
            "config.nodes is NULL",
            Box::new(|a| a.config.nodes = ptr::null()),
        ),
        ("config: value node", Box::new(|a| a.config.bytes_len = 0)),
        ("struct_size", Box::new(|a| a.struct_size = 4)),
    ];
    for (want, tweak) in cases {
        let r = t
            .create_with("ab", &Value::object().with("panic_on", "nothing"), tweak)
            .err()
            .expect("refused");
        assert_eq!(r.code, raw::TREMOR_ERR_INVALID, "{want}: {}", r.message);
        assert!(r.message.contains(want), "{want:?} not in {:?}", r.message);
    }
    // A host table too old to have `log`: create works, logging is a no-op.
    static SHORT: raw::tremor_host_api = raw::tremor_host_api {
        struct_size: 8,
        abi_major: 1,
        abi_minor: 0,
        log: None,
        counter_add: None,
        gauge_set: None,
    };
    let i = t
        .create_with("short", &Value::object(), |a| a.host = &SHORT)
        .unwrap();
    assert!(i.logs().lines().is_empty());
    let i = t
        .create_with("nohost", &Value::object(), |a| a.host = ptr::null())
        .unwrap();
    drop(i);
}

// ---------------------------------------------------------------------------
// Error buffer and host log
// ---------------------------------------------------------------------------

#[test]
fn error_messages_are_truncated_at_char_boundaries() {
    let mut i = probe(
        "trunc",
        Value::object().with("panic_on", "config-on-connect"),
    );
    // "bad config found on connect" is ASCII: cut at exactly cap bytes.
    i.set_error_cap(Some(7));
    assert_eq!(i.connect(1).expect_code(raw::TREMOR_ERR_CONFIG), "bad con");
    i.set_error_cap(Some(0));
    assert_eq!(i.connect(1).expect_code(raw::TREMOR_ERR_CONFIG), "");
    i.set_error_cap(None);
    i.connect(1).expect_code(raw::TREMOR_ERR_CONFIG);

    // A multi-byte alias in the message: "disconnect" reply is "<alias>: ..."
    let mut i = connected("äöü", Value::object());
    for cap in 0..8 {
        i.set_error_cap(Some(cap));
        let s = i.send(&[OutEvent::bytes(1, b"disconnect")]);
        let msg = s.reply.expect_code(raw::TREMOR_ERR_DISCONNECTED);
        // The testkit already checked: <= cap, valid UTF-8, nothing past cap.
        assert!(
            msg.len() <= cap && msg.len() + 1 >= cap.min(7),
            "cap {cap}: {msg:?}"
        );
        assert!("äöü: the peer hung up".starts_with(msg));
    }
}

#[test]
fn host_log_from_a_plugin_thread_stops_at_destroy() {
    let mut i = connected("spam", Value::object());
    i.start().expect_ok();
    let logs = i.logs();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !logs.contains("spam from a plugin thread") {
        assert!(Instant::now() < deadline, "the plugin thread never logged");
        std::thread::sleep(Duration::from_millis(1));
    }
    i.destroy();
    SPAM_DESTROYED.store(true, Ordering::SeqCst);
    // The thread is still running and still calling Host::log; none of
    // those calls may reach the host now.
    let deadline = Instant::now() + Duration::from_secs(30);
    while SPAM_TRIES_AFTER.load(Ordering::SeqCst) < SPAM_TRIES {
        assert!(
            Instant::now() < deadline,
            "the plugin thread made only {} log calls after destroy in 30 s",
            SPAM_TRIES_AFTER.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        logs.calls_after_destroy(),
        0,
        "log calls made after on_destroy reached the host"
    );
    assert_eq!(
        SPAM_LIVE_AFTER.load(Ordering::SeqCst),
        0,
        "Host::is_live said true after on_destroy"
    );
    assert!(
        logs.lines()
            .iter()
            .any(|l| l.level == raw::TREMOR_LOG_DEBUG)
    );
}

#[test]
fn the_null_sink_has_no_source_hooks() {
    let t = plugin().connector("null").unwrap();
    let mut i = t.create("null", &Value::Null).unwrap();
    let v = Value::from(1i64);
    let s = i.send(&[OutEvent::value(1, &v), OutEvent::bytes(2, b"x")]);
    s.reply.expect_ok();
    assert_eq!(s.outcomes, [raw::TREMOR_OUTCOME_OK; 2]);
}
