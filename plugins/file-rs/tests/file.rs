//! Drives the `file` plugin through its exported C entry points
//! (tremor_plugin_get_descriptor -> connector type -> vtable hooks) against
//! real files in a temp dir: with the testkit host, by hand with raw
//! structs, and through the built libtremor_file.so loaded with dlopen.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::fs;
use std::path::{Path, PathBuf};
use std::ptr;
use tremor_pdk::testkit::{ConnectorType, Instance, Plugin, Pulled, Room};
use tremor_pdk::{OutEvent, Value, raw};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A fresh directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("file-rs-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn file_type_from(entry: raw::tremor_plugin_get_descriptor_fn) -> ConnectorType {
    // SAFETY: the descriptor is static data of the loaded plugin.
    let plugin = unsafe { Plugin::load(entry) }.expect("valid descriptor");
    plugin.connector("file").expect("connector type file")
}

fn file_type() -> ConnectorType {
    file_type_from(tremor_file::tremor_plugin_get_descriptor)
}

fn config(path: &Path, mode: &str) -> Value {
    Value::object()
        .with("path", path.to_str().unwrap())
        .with("mode", mode)
}

fn open(t: &ConnectorType, path: &Path, mode: &str) -> Instance {
    let mut i = t
        .create("file", &config(path, mode))
        .unwrap_or_else(|r| panic!("create: {r}"));
    i.connect(1).expect_ok();
    i.start().expect_ok();
    i
}

fn lines(p: &Pulled) -> Vec<(u64, String)> {
    p.events
        .iter()
        .map(|e| {
            (
                e.id,
                String::from_utf8(e.bytes().expect("bytes payload").to_vec()).unwrap(),
            )
        })
        .collect()
}

/// Pulls until TREMOR_END, checking that every pull succeeds.
fn read_all(i: &mut Instance, room: Room) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let p = i.pull(room, 0);
        assert!(
            p.reply.code == raw::TREMOR_OK || p.reply.code == raw::TREMOR_END,
            "pull: {}",
            p.reply
        );
        out.extend(lines(&p));
        if p.reply.code == raw::TREMOR_END {
            return out;
        }
    }
    panic!("the source never ended");
}

fn send_lines(i: &mut Instance, texts: &[&str]) {
    let events: Vec<OutEvent<'_>> = texts
        .iter()
        .enumerate()
        .map(|(n, t)| OutEvent::bytes(n as u64, t.as_bytes()))
        .collect();
    let s = i.send(&events);
    s.reply.expect_ok();
    assert_eq!(s.outcomes, vec![raw::TREMOR_OUTCOME_OK; texts.len()]);
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn descriptor_declares_the_file_connector() {
    // SAFETY: static descriptor of the linked plugin.
    let plugin = unsafe { Plugin::load(tremor_file::tremor_plugin_get_descriptor) }.unwrap();
    assert_eq!(plugin.name(), "file");
    assert_eq!(plugin.version(), "0.1.0");
    assert_eq!(plugin.license().as_deref(), Some("Apache-2.0"));
    assert_eq!(plugin.sdk().as_deref(), Some("pdk-rust 0.1"));
    assert_eq!(plugin.connectors().len(), 1);
    let t = plugin.connector("file").unwrap();
    assert_eq!(t.kinds(), raw::TREMOR_KIND_SOURCE | raw::TREMOR_KIND_SINK);
    assert_eq!(t.payload(), raw::TREMOR_PAYLOAD_BYTES);
    let f = t.fields();
    assert_eq!(f.len(), 4);
    assert_eq!(
        (f[0].name.as_str(), f[0].r#type, f[0].flags),
        ("path", 5, raw::TREMOR_FIELD_REQUIRED)
    );
    assert_eq!(f[0].default_json, None);
    assert_eq!((f[1].name.as_str(), f[1].flags), ("mode", 0));
    assert_eq!(f[1].default_json.as_deref(), Some("\"read\""));
    assert_eq!((f[2].name.as_str(), f[2].flags), ("resume_from", 0));
    assert_eq!(f[2].default_json, None);
    assert_eq!(f[3].name, "resume_interval_ms");
    assert_eq!(f[3].default_json.as_deref(), Some("1000"));
}

#[test]
fn write_then_read_roundtrip() {
    let dir = temp_dir("roundtrip");
    let path = dir.join("out.txt");
    let t = file_type();

    let mut sink = open(&t, &path, "write");
    send_lines(&mut sink, &["first", "", "ünïcödé line"]);
    send_lines(&mut sink, &["second batch"]);
    sink.drain().expect_ok();
    sink.stop().expect_ok();
    sink.destroy();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "first\n\nünïcödé line\nsecond batch\n"
    );

    let mut source = open(&t, &path, "read");
    let got = read_all(&mut source, Room::default());
    assert_eq!(
        got,
        [
            (0, "first".into()),
            (6, "".into()),
            (7, "ünïcödé line".into()),
            (7 + "ünïcödé line\n".len() as u64, "second batch".into())
        ],
        "ids are the byte offsets of the line starts"
    );
    // Still at the end on the next pull.
    let p = source.pull(Room::default(), 0);
    p.reply.expect_code(raw::TREMOR_END);
    assert!(p.events.is_empty());
}

#[test]
fn append_keeps_and_write_truncates() {
    let dir = temp_dir("modes");
    let path = dir.join("log.txt");
    fs::write(&path, "old\n").unwrap();
    let t = file_type();

    let mut sink = open(&t, &path, "append");
    send_lines(&mut sink, &["new"]);
    sink.stop().expect_ok();
    drop(sink);
    assert_eq!(fs::read_to_string(&path).unwrap(), "old\nnew\n");

    let mut sink = open(&t, &path, "write");
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "",
        "write mode truncates on connect"
    );
    send_lines(&mut sink, &["a"]);
    // A reconnect (after a lost connection) must not truncate again.
    sink.connect(1).expect_ok();
    send_lines(&mut sink, &["b"]);
    sink.drain().expect_ok();
    assert_eq!(fs::read_to_string(&path).unwrap(), "a\nb\n");
}

#[test]
fn each_batch_reaches_the_file_before_it_is_acked() {
    let dir = temp_dir("flush");
    let path = dir.join("out.txt");
    let mut sink = open(&file_type(), &path, "write");
    send_lines(&mut sink, &["one", "two"]);
    // No drain yet: outcomes OK already means the bytes are in the file.
    assert_eq!(fs::read_to_string(&path).unwrap(), "one\ntwo\n");
}

#[test]
fn reads_edge_cases() {
    let dir = temp_dir("edges");
    let t = file_type();

    let empty = dir.join("empty");
    fs::write(&empty, "").unwrap();
    let mut s = open(&t, &empty, "read");
    let p = s.pull(Room::default(), 0);
    p.reply.expect_code(raw::TREMOR_END);
    assert!(p.events.is_empty());

    let no_newline = dir.join("no-newline");
    fs::write(&no_newline, "a\r\nlast").unwrap();
    let mut s = open(&t, &no_newline, "read");
    assert_eq!(
        read_all(&mut s, Room::default()),
        [(0, "a\r".into()), (3, "last".into())]
    );

    let blank = dir.join("blank");
    fs::write(&blank, "\n\n").unwrap();
    let mut s = open(&t, &blank, "read");
    assert_eq!(
        read_all(&mut s, Room::default()),
        [(0, "".into()), (1, "".into())]
    );
}

#[test]
fn chunks_into_small_rooms_and_reports_no_room() {
    let dir = temp_dir("chunks");
    let path = dir.join("in.txt");
    let long = "L".repeat(300);
    fs::write(&path, format!("a\nbb\n{long}\nccc\n")).unwrap();
    let mut s = open(&file_type(), &path, "read");

    // Two event slots per pull.
    let p = s.pull(Room::new(2, 0, 1024), 0);
    p.reply.expect_ok();
    assert_eq!(lines(&p), [(0, "a".into()), (2, "bb".into())]);

    // 100 bytes: the 300-byte line does not fit even alone.
    let p = s.pull(Room::new(8, 0, 100), 0);
    let msg = p.reply.expect_code(raw::TREMOR_ERR_NO_ROOM);
    assert!(msg.contains("300 bytes"), "{msg}");
    assert_eq!(p.bytes_needed, 300);
    assert!(p.events.is_empty());

    // Growing the room delivers it, nothing was lost; the next line does
    // not fit behind it and comes in the pull after.
    let p = s.pull(Room::new(8, 0, 302), 0);
    p.reply.expect_ok();
    assert_eq!(lines(&p), [(5, long.clone())]);
    let p = s.pull(Room::new(8, 0, 302), 0);
    p.reply.expect_code(raw::TREMOR_END);
    assert_eq!(lines(&p), [(306, "ccc".into())]);
}

#[test]
fn many_lines_in_many_pulls() {
    let dir = temp_dir("many");
    let path = dir.join("in.txt");
    let mut text = String::new();
    let mut want = Vec::new();
    for n in 0..5000 {
        want.push((
            text.len() as u64,
            format!("line {n} {}", "x".repeat(n % 37)),
        ));
        text.push_str(&want.last().unwrap().1);
        text.push('\n');
    }
    fs::write(&path, &text).unwrap();
    let mut s = open(&file_type(), &path, "read");
    assert_eq!(read_all(&mut s, Room::new(64, 0, 4096)), want);
}

/// Lines are read into the batch's arena in chunks sized to the room: a
/// line cut by the end of a read, a line that ends exactly where a read
/// ends, empty lines in a room with no bytes left and a last line without
/// `\n` each come out once, in order, and only the last event of the file
/// ends the stream.
#[test]
fn lines_cut_by_the_room_come_out_whole_and_once() {
    let dir = temp_dir("in-place");
    let text = "abc\n\n\ndefgh\n0123456789\nxy\n\nlast";
    let path = dir.join("in.txt");
    fs::write(&path, text).unwrap();
    let mut want = Vec::new();
    let mut at = 0u64;
    for l in text.split('\n') {
        want.push((at, l.to_string()));
        at += l.len() as u64 + 1;
    }
    // (event slots, arena bytes) of every pull.
    for (events, bytes) in [
        (1, 64),
        (2, 4),
        (3, 5),
        (4, 6),
        (8, 11),
        (64, 12),
        (64, 4096),
    ] {
        let mut s = open(&file_type(), &path, "read");
        let (mut got, mut ends) = (Vec::new(), Vec::new());
        for _ in 0..1000 {
            let p = s.pull(Room::new(events, 0, bytes), 0);
            if p.reply.code == raw::TREMOR_ERR_NO_ROOM {
                // Only a line longer than the whole arena, reported with
                // its size and nothing written.
                assert!(
                    p.events.is_empty() && p.bytes_needed > bytes as u64,
                    "{events}x{bytes}"
                );
                let p = s.pull(Room::new(events, 0, p.bytes_needed as usize), 0);
                p.reply.expect_ok();
                got.extend(lines(&p));
                ends.extend(p.events.iter().map(|e| e.end_stream));
                continue;
            }
            assert!(
                p.reply.code == raw::TREMOR_OK || p.reply.code == raw::TREMOR_END,
                "{events}x{bytes}: {}",
                p.reply
            );
            got.extend(lines(&p));
            ends.extend(p.events.iter().map(|e| e.end_stream));
            if p.reply.code == raw::TREMOR_END {
                break;
            }
        }
        assert_eq!(got, want, "{events} slots x {bytes} bytes");
        let mut last = vec![false; want.len()];
        *last.last_mut().unwrap() = true;
        assert_eq!(ends, last, "{events} slots x {bytes} bytes");
    }

    // A file whose last line ends with \n exactly where a read ends: the
    // end of the stream is on that line, not on an empty marker after it.
    let exact = dir.join("exact.txt");
    fs::write(&exact, "ab\ncd\n").unwrap();
    let mut s = open(&file_type(), &exact, "read");
    let p = s.pull(Room::new(8, 0, 6), 0);
    p.reply.expect_code(raw::TREMOR_END);
    assert_eq!(lines(&p), [(0, "ab".into()), (3, "cd".into())]);
    assert_eq!(
        p.events.iter().map(|e| e.end_stream).collect::<Vec<_>>(),
        [false, true]
    );
}

#[test]
fn reconnect_resumes_reading_where_it_stopped() {
    let dir = temp_dir("resume");
    let path = dir.join("in.txt");
    fs::write(&path, "a\nb\nc\nd\n").unwrap();
    let mut s = open(&file_type(), &path, "read");
    let p = s.pull(Room::new(2, 0, 64), 0);
    assert_eq!(lines(&p), [(0, "a".into()), (2, "b".into())]);
    s.ack(&[0]).expect_ok();
    s.connect(1).expect_ok();
    assert_eq!(
        read_all(&mut s, Room::default()),
        [(4, "c".into()), (6, "d".into())]
    );
    s.ack(&[4, 6]).expect_ok();
    s.fail(&[2]).expect_ok();
    let logs = s.logs();
    assert!(logs.contains("byte offsets [2]"), "{:?}", logs.lines());
    s.stop().expect_ok();
    assert!(
        logs.contains(&format!(
            "stopped reading {} at resume offset 8",
            path.display()
        )),
        "{:?}",
        logs.lines()
    );
}

#[test]
fn lowest_unacknowledged_offset_is_reported_at_stop() {
    let dir = temp_dir("unacked");
    let path = dir.join("in.txt");
    fs::write(&path, "a\nb\nc\n").unwrap();
    let mut s = open(&file_type(), &path, "read");
    read_all(&mut s, Room::default());
    s.ack(&[0, 4]).expect_ok();
    s.stop().expect_ok();
    assert!(
        s.logs().contains("at resume offset 2"),
        "{:?}",
        s.logs().lines()
    );
}

#[test]
fn config_errors() {
    let t = file_type();
    let r = t
        .create(
            "f",
            &Value::object()
                .with("path", "/tmp/x")
                .with("mode", "readwrite"),
        )
        .err()
        .unwrap();
    assert_eq!(r.code, raw::TREMOR_ERR_CONFIG);
    assert_eq!(
        r.message,
        "config field `mode` must be one of \"read\", \"write\", \"append\", not \"readwrite\""
    );

    let r = t
        .create("f", &Value::object().with("mode", "read"))
        .err()
        .unwrap();
    assert_eq!(r.code, raw::TREMOR_ERR_CONFIG);
    assert_eq!(r.message, "config field `path` is required");

    let r = t
        .create("f", &Value::object().with("path", 42i64))
        .err()
        .unwrap();
    assert_eq!(r.code, raw::TREMOR_ERR_CONFIG);
    assert!(
        r.message.contains("`path` must be a string"),
        "{}",
        r.message
    );

    let r = t
        .create("f", &Value::object().with("path", ""))
        .err()
        .unwrap();
    assert_eq!(r.code, raw::TREMOR_ERR_CONFIG);

    // mode defaults to read when the host did not fill the default in.
    let dir = temp_dir("cfg");
    let path = dir.join("in.txt");
    fs::write(&path, "x\n").unwrap();
    let mut i = t
        .create("f", &Value::object().with("path", path.to_str().unwrap()))
        .unwrap();
    i.connect(1).expect_ok();
    assert_eq!(read_all(&mut i, Room::default()), [(0, "x".into())]);

    // A directory is a config error (the host stops instead of retrying).
    let mut i = t.create("f", &config(&dir, "read")).unwrap();
    let msg = i.connect(1).expect_code(raw::TREMOR_ERR_CONFIG).to_owned();
    assert!(msg.contains("is a directory"), "{msg}");
}

#[test]
fn wrong_side_for_the_mode_is_unsupported() {
    let dir = temp_dir("sides");
    let path = dir.join("f.txt");
    fs::write(&path, "x\n").unwrap();
    let t = file_type();

    let mut sink = open(&t, &path, "append");
    let msg = sink
        .pull(Room::default(), 0)
        .reply
        .expect_code(raw::TREMOR_ERR_UNSUPPORTED)
        .to_owned();
    assert!(
        msg.contains("is a sink (mode \"append\")") && msg.contains(path.to_str().unwrap()),
        "{msg}"
    );

    let mut source = open(&t, &path, "read");
    let s = source.send(&[OutEvent::bytes(1, b"y")]);
    let msg = s.reply.expect_code(raw::TREMOR_ERR_UNSUPPORTED);
    assert!(msg.contains("is a source (mode \"read\")"), "{msg}");
    assert_eq!(s.outcomes, [raw::TREMOR_OUTCOME_FAILED]);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "x\n",
        "nothing was written"
    );
}

#[test]
fn missing_file_fails_connect_with_the_path() {
    let dir = temp_dir("missing");
    let path = dir.join("nope.txt");
    let mut i = file_type().create("f", &config(&path, "read")).unwrap();
    let msg = i.connect(1).expect_code(raw::TREMOR_ERR_FAILED).to_owned();
    assert!(
        msg.contains("cannot open") && msg.contains(path.to_str().unwrap()),
        "{msg}"
    );
    // Before a successful connect, pull says disconnected.
    i.pull(Room::default(), 0)
        .reply
        .expect_code(raw::TREMOR_ERR_DISCONNECTED);
    // The file appears: the next attempt works.
    fs::write(&path, "late\n").unwrap();
    i.connect(2).expect_ok();
    assert_eq!(read_all(&mut i, Room::default()), [(0, "late".into())]);
}

#[cfg(target_os = "linux")]
#[test]
fn write_errors_fail_the_events_and_name_the_path() {
    // Every write to /dev/full fails with ENOSPC.
    let mut sink = open(&file_type(), Path::new("/dev/full"), "append");
    let s = sink.send(&[OutEvent::bytes(1, b"a"), OutEvent::bytes(2, b"b")]);
    let msg = s.reply.expect_code(raw::TREMOR_ERR_FAILED);
    assert!(msg.contains("cannot write to /dev/full"), "{msg}");
    assert_eq!(s.outcomes, [raw::TREMOR_OUTCOME_FAILED; 2]);
    // The failed bytes are not kept around to surface later.
    sink.drain().expect_ok();
}

/// The whole path by hand, without the testkit: raw structs only.
#[test]
fn raw_c_entry_points_by_hand() {
    let dir = temp_dir("raw");
    let path = dir.join("raw.txt");
    fs::write(&path, "hello\nworld\n").unwrap();
    let path_s = path.to_str().unwrap();

    let desc = unsafe { &*tremor_file::tremor_plugin_get_descriptor() };
    assert_eq!(
        unsafe { CStr::from_ptr(desc.name) }.to_str().unwrap(),
        "file"
    );
    let ty = unsafe { &**desc.connectors };
    let vt = unsafe { &*ty.vtable };

    // Config {"path": <path>, "mode": "read"} as flat nodes + arena.
    let mut arena = Vec::new();
    arena.extend_from_slice(b"path");
    arena.extend_from_slice(path_s.as_bytes());
    arena.extend_from_slice(b"mode");
    arena.extend_from_slice(b"read");
    let node = |kind, key_offset, key_len, len, as_u| raw::tremor_value {
        kind,
        reserved: [0; 3],
        key_len,
        key_offset,
        len,
        as_: raw::tremor_value_as { u: as_u },
    };
    let pl = path_s.len() as u64;
    let nodes = [
        node(raw::TREMOR_VALUE_OBJECT, 0, 0, 2, 2),
        node(raw::TREMOR_VALUE_STRING, 0, 4, pl, 4),
        node(raw::TREMOR_VALUE_STRING, 4 + pl, 4, 4, 8 + pl),
    ];
    let args = raw::tremor_create_args {
        struct_size: size_of::<raw::tremor_create_args>() as u32,
        reserved0: 0,
        host: ptr::null(),
        ctx: ptr::null_mut(),
        alias: b"raw".as_ptr(),
        alias_len: 3,
        config: raw::tremor_value_doc {
            nodes: nodes.as_ptr(),
            nodes_len: 3,
            bytes: arena.as_ptr(),
            bytes_len: arena.len() as u64,
        },
    };
    let mut msg = [0u8; 256];
    let mut err = raw::tremor_error {
        msg: msg.as_mut_ptr(),
        cap: 256,
        len: 0,
    };
    let mut inst: *mut c_void = ptr::null_mut();
    unsafe {
        assert_eq!(
            (vt.on_create.unwrap())(&args, &mut inst, &mut err),
            raw::TREMOR_OK
        );
        assert_eq!((vt.on_connect.unwrap())(inst, 1, &mut err), raw::TREMOR_OK);
        let mut events = [raw::tremor_event::default(); 4];
        let mut bytes = [0u8; 64];
        let mut room = raw::tremor_batch {
            struct_size: size_of::<raw::tremor_batch>() as u32,
            reserved0: 0,
            events: events.as_mut_ptr(),
            events_len: 0,
            events_cap: 4,
            values: ptr::null_mut(),
            values_len: 0,
            values_cap: 0,
            bytes: bytes.as_mut_ptr(),
            bytes_len: 0,
            bytes_cap: 64,
            bytes_needed: 0,
            values_needed: 0,
        };
        assert_eq!(
            (vt.on_pull.unwrap())(inst, &mut room, 0, &mut err),
            raw::TREMOR_END
        );
        assert_eq!(room.events_len, 2);
        let payload = |e: &raw::tremor_event| {
            &bytes[e.payload.offset as usize..(e.payload.offset + e.payload.len) as usize]
        };
        assert_eq!((events[0].id, payload(&events[0])), (0, &b"hello"[..]));
        assert_eq!((events[1].id, payload(&events[1])), (6, &b"world"[..]));
        // Bytes, not structured; the last line of the file ends the stream.
        assert_eq!(events[0].flags, 0);
        assert_eq!(events[1].flags, raw::TREMOR_EVENT_END_STREAM);
        assert_eq!((vt.on_stop.unwrap())(inst, &mut err), raw::TREMOR_OK);
        (vt.on_destroy.unwrap())(inst);
    }
    assert_eq!(err.len, 0, "no error message was written");
}

// ---------------------------------------------------------------------------
// The built shared library
// ---------------------------------------------------------------------------

#[cfg(target_os = "linux")]
mod dl {
    use super::*;
    const RTLD_NOW: c_int = 2;
    const RTLD_LOCAL: c_int = 0;
    unsafe extern "C" {
        fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
        fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
        fn dlerror() -> *const c_char;
    }

    /// The shipped plugin, build/plugins/libtremor_file.so, as built by
    /// scripts/build.sh (cargo test itself does not build the cdylib).
    fn so_path() -> PathBuf {
        let so =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/plugins/libtremor_file.so");
        assert!(
            so.exists(),
            "{} is missing: run ./scripts/build.sh first",
            so.display()
        );
        so
    }

    #[test]
    fn the_shared_library_exports_the_entry_point_and_works() {
        let so = so_path();
        let c_path = std::ffi::CString::new(so.to_str().unwrap()).unwrap();
        // SAFETY: loading our own plugin library; symbols checked below.
        let entry: raw::tremor_plugin_get_descriptor_fn = unsafe {
            let h = dlopen(c_path.as_ptr(), RTLD_NOW | RTLD_LOCAL);
            assert!(
                !h.is_null(),
                "dlopen {}: {:?}",
                so.display(),
                CStr::from_ptr(dlerror())
            );
            let sym = dlsym(h, c"tremor_plugin_get_descriptor".as_ptr());
            assert!(
                !sym.is_null(),
                "{} does not export tremor_plugin_get_descriptor",
                so.display()
            );
            std::mem::transmute::<*mut c_void, raw::tremor_plugin_get_descriptor_fn>(sym)
        };
        // A different copy of the code than the rlib linked into this test.
        assert_ne!(
            entry as usize,
            tremor_file::tremor_plugin_get_descriptor as *const () as usize
        );
        let t = file_type_from(entry);
        let dir = temp_dir("dlopen");
        let path = dir.join("so.txt");
        let mut sink = open(&t, &path, "write");
        send_lines(&mut sink, &["from", "the .so"]);
        sink.stop().expect_ok();
        drop(sink);
        let mut source = open(&t, &path, "read");
        assert_eq!(
            read_all(&mut source, Room::default()),
            [(0, "from".into()), (5, "the .so".into())]
        );
    }
}

// ---------------------------------------------------------------------------
// Resuming from acknowledged offsets (resume_from)
// ---------------------------------------------------------------------------

mod resume {
    use super::*;
    use std::time::Duration;
    use tremor_file::resume::State;

    /// `n` lines "line <i>" and the offset where each starts.
    fn numbered(path: &Path, n: usize) -> Vec<u64> {
        let mut text = String::new();
        let mut offsets = Vec::new();
        for i in 0..n {
            offsets.push(text.len() as u64);
            text.push_str(&format!("line {i}{}\n", "+".repeat(i % 3)));
        }
        fs::write(path, text).unwrap();
        offsets
    }

    fn open_resuming(path: &Path, state: &Path, interval_ms: u64) -> Instance {
        let cfg = config(path, "read")
            .with("resume_from", state.to_str().unwrap())
            .with("resume_interval_ms", interval_ms);
        let mut i = file_type()
            .create("file", &cfg)
            .unwrap_or_else(|r| panic!("create: {r}"));
        i.connect(1).expect_ok();
        i.start().expect_ok();
        i
    }

    fn ids(p: &Pulled) -> Vec<u64> {
        p.events.iter().map(|e| e.id).collect()
    }

    fn state_of(path: &Path) -> State {
        State::parse(&fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn a_restart_reads_neither_acked_lines_nor_fewer_than_the_unacked_ones() {
        let dir = temp_dir("resume-restart");
        let (path, state) = (dir.join("in.txt"), dir.join("in.state"));
        let off = numbered(&path, 10);

        // Run 1: six lines out; 0, 1, 3 and 5 acked, 2 and 4 still in flight.
        let mut s = open_resuming(&path, &state, 60_000);
        assert!(s.logs().contains("no resume state"));
        let p = s.pull(Room::new(6, 0, 4096), 0);
        p.reply.expect_ok();
        assert_eq!(ids(&p), off[..6]);
        s.ack(&[off[0], off[1], off[3], off[5]]).expect_ok();
        s.stop().expect_ok();
        s.destroy();
        let st = state_of(&state);
        assert_eq!(st.offset, off[2], "the lowest unacknowledged line");
        assert_eq!(st.acked, [off[3], off[5]]);

        // Run 2: 2 and 4 again, 3 and 5 not; the source ends only once
        // every line is acknowledged.
        let mut s = open_resuming(&path, &state, 60_000);
        assert!(s.logs().contains(&format!(
            "resuming {} at byte offset {}",
            path.display(),
            off[2]
        )));
        let p = s.pull(Room::default(), 0);
        assert_eq!(ids(&p), [off[2], off[4], off[6], off[7], off[8], off[9]]);
        assert_eq!(lines(&p)[0].1, "line 2++", "the line itself, read again");
        p.reply.expect_ok(); // not END: lines are in flight
        let p = s.pull(Room::default(), 0);
        p.reply.expect_ok();
        assert!(p.events.is_empty());
        s.ack(&[off[2], off[4], off[6], off[7], off[8]]).expect_ok();
        s.pull(Room::default(), 0).reply.expect_ok();
        s.ack(&[off[9]]).expect_ok();
        let p = s.pull(Room::default(), 0);
        p.reply.expect_code(raw::TREMOR_END);
        assert!(p.events.is_empty());
        s.stop().expect_ok();
        s.destroy();
        let len = fs::metadata(&path).unwrap().len();
        assert_eq!(state_of(&state).offset, len);
        assert!(state_of(&state).acked.is_empty());

        // Run 3: nothing left.
        let mut s = open_resuming(&path, &state, 60_000);
        let p = s.pull(Room::default(), 0);
        p.reply.expect_code(raw::TREMOR_END);
        assert!(p.events.is_empty());

        // Lines appended since are read, and only those.
        s.stop().expect_ok();
        s.destroy();
        let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut f, b"appended\n").unwrap();
        let mut s = open_resuming(&path, &state, 60_000);
        let p = s.pull(Room::default(), 0);
        assert_eq!(lines(&p), [(len, "appended".to_string())]);
    }

    #[test]
    fn failed_lines_are_offered_again_first() {
        let dir = temp_dir("resume-replay");
        let (path, state) = (dir.join("in.txt"), dir.join("in.state"));
        let off = numbered(&path, 6);
        let mut s = open_resuming(&path, &state, 60_000);
        let p = s.pull(Room::new(3, 0, 4096), 0);
        assert_eq!(ids(&p), off[..3]);
        s.fail(&[off[1], off[0]]).expect_ok();
        s.ack(&[off[2]]).expect_ok();
        // Both failed lines come back first, in file order, then new ones.
        let p = s.pull(Room::new(3, 0, 4096), 0);
        p.reply.expect_ok();
        assert_eq!(ids(&p), [off[0], off[1], off[3]]);
        assert_eq!(lines(&p)[1].1, "line 1+");
        // A replayed line that does not fit waits for a bigger room.
        s.fail(&[off[1]]).expect_ok();
        let p = s.pull(Room::new(3, 0, 3), 0);
        p.reply.expect_code(raw::TREMOR_ERR_NO_ROOM);
        assert_eq!(p.bytes_needed, 7);
        let p = s.pull(Room::new(8, 0, 4096), 0);
        assert_eq!(ids(&p), [off[1], off[4], off[5]]);
        s.ack(&[off[0], off[1], off[3], off[4]]).expect_ok();
        // off[5] fails at the end: offered again instead of ending.
        s.fail(&[off[5]]).expect_ok();
        let p = s.pull(Room::default(), 0);
        p.reply.expect_ok();
        assert_eq!(ids(&p), [off[5]]);
        s.ack(&[off[5]]).expect_ok();
        s.pull(Room::default(), 0)
            .reply
            .expect_code(raw::TREMOR_END);
    }

    fn ends(p: &Pulled) -> Vec<bool> {
        p.events.iter().map(|e| e.end_stream).collect()
    }

    /// The end of the file ends the stream (TREMOR_EVENT_END_STREAM), so
    /// that the host lets go of a pre-processor's partial frame while the
    /// source waits for the acks of its lines: on the last line read, on
    /// lines offered again after it, and as an empty event of its own when
    /// the lines after the last one emitted were acked in an earlier run.
    #[test]
    fn the_end_of_the_file_ends_the_stream() {
        let dir = temp_dir("resume-end-stream");
        let (path, state) = (dir.join("in.txt"), dir.join("in.state"));
        let off = numbered(&path, 4);
        let len = fs::metadata(&path).unwrap().len();

        let mut s = open_resuming(&path, &state, 60_000);
        let p = s.pull(Room::new(2, 0, 4096), 0);
        assert_eq!((ids(&p), ends(&p)), (off[..2].to_vec(), vec![false, false]));
        let p = s.pull(Room::new(2, 0, 4096), 0);
        assert_eq!((ids(&p), ends(&p)), (off[2..].to_vec(), vec![false, true]));
        s.fail(&[off[1], off[2]]).expect_ok();
        let p = s.pull(Room::default(), 0);
        p.reply.expect_ok();
        assert_eq!(
            (ids(&p), ends(&p)),
            (vec![off[1], off[2]], vec![true, true])
        );
        s.ack(&[off[0], off[3]]).expect_ok();
        s.stop().expect_ok();
        s.destroy();
        assert_eq!(state_of(&state).acked, [off[3]]);

        // Run 2: line 3 was acked; the stream ends after line 2 with an
        // empty event whose id is the end of the file.
        let mut s = open_resuming(&path, &state, 60_000);
        let p = s.pull(Room::default(), 0);
        p.reply.expect_ok();
        assert_eq!(ids(&p), [off[1], off[2], len]);
        assert_eq!(ends(&p), [false, false, true]);
        assert_eq!(p.events[2].bytes(), Some(&b""[..]));
        s.ack(&[off[1], off[2], len]).expect_ok();
        let p = s.pull(Room::default(), 0);
        p.reply.expect_code(raw::TREMOR_END);
        assert!(p.events.is_empty(), "the stream is ended once");
        s.stop().expect_ok();
        s.destroy();
        assert_eq!(state_of(&state).offset, len);
    }

    #[test]
    fn the_state_is_written_after_acks_and_on_destroy() {
        let dir = temp_dir("resume-periodic");
        let (path, state) = (dir.join("in.txt"), dir.join("in.state"));
        let off = numbered(&path, 4);
        let mut s = open_resuming(&path, &state, 0);
        s.pull(Room::default(), 0);
        assert!(!state.exists(), "nothing acked yet");
        s.ack(&[off[0], off[2]]).expect_ok();
        let st = state_of(&state);
        assert_eq!((st.offset, st.acked.clone()), (off[1], vec![off[2]]));
        s.ack(&[off[1]]).expect_ok();
        assert_eq!(state_of(&state).offset, off[3]);
        // Destroyed without stop (as after an error): still written.
        s.fail(&[off[3]]).expect_ok();
        s.destroy();
        assert_eq!(state_of(&state).offset, off[3]);
        assert!(!dir.join("in.state.tmp").exists());

        // With the default interval only the first ack writes early.
        fs::remove_file(&state).unwrap();
        let mut s = open_resuming(&path, &state, 60_000);
        let p = s.pull(Room::default(), 0);
        assert_eq!(ids(&p), off[..4]);
        s.ack(&[off[0]]).expect_ok();
        assert_eq!(state_of(&state).offset, off[1]);
        s.ack(&[off[1]]).expect_ok();
        assert_eq!(state_of(&state).offset, off[1], "not yet due");
        s.stop().expect_ok();
        assert_eq!(state_of(&state).offset, off[2]);

        // Once due, a pull writes what later acks changed, even when no
        // further ack comes. Whether an ack is due depends on the clock (a
        // loaded machine can take longer than the interval between two
        // calls), so lines are acked one by one until an ack is left
        // unwritten; then only pulls follow, until one writes it.
        let (path, state) = (dir.join("many.txt"), dir.join("many.state"));
        let off = numbered(&path, 50);
        let mut s = open_resuming(&path, &state, 100);
        let p = s.pull(Room::new(50, 0, 4096), 0);
        assert_eq!(ids(&p), off);
        s.ack(&[off[0]]).expect_ok();
        assert_eq!(
            state_of(&state).offset,
            off[1],
            "the first ack is written at once"
        );
        // After acking off[k] the mark is off[k + 1]; the file still saying
        // off[k] means the ack was not written (the last write was recent).
        let k = (1..off.len() - 1)
            .find(|&k| {
                s.ack(&[off[k]]).expect_ok();
                state_of(&state).offset == off[k]
            })
            .expect("every ack was written at once: resume_interval_ms is ignored (or no two acks came within 100 ms)");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut pulls = 0;
        while state_of(&state).offset != off[k + 1] {
            assert!(
                std::time::Instant::now() < deadline,
                "{pulls} pulls in 30 s, none wrote the acked mark {} (the file says {})",
                off[k + 1],
                state_of(&state).offset
            );
            std::thread::sleep(Duration::from_millis(10));
            let p = s.pull(Room::default(), 0);
            p.reply.expect_ok();
            assert!(p.events.is_empty(), "every line is in flight");
            pulls += 1;
        }
    }

    #[test]
    fn a_state_for_another_file_or_a_shorter_one_restarts_from_the_top() {
        let dir = temp_dir("resume-mismatch");
        let (path, state) = (dir.join("in.txt"), dir.join("in.state"));
        let off = numbered(&path, 3);
        let foreign = State {
            dev: 0,
            ino: 0,
            offset: off[2],
            acked: vec![],
        };
        fs::write(&state, foreign.render()).unwrap();
        let mut s = open_resuming(&path, &state, 60_000);
        assert!(
            s.logs().contains("was written for another file"),
            "{:?}",
            s.logs().lines()
        );
        assert_eq!(ids(&s.pull(Room::default(), 0)), off);
        s.destroy();

        let mut st = state_of(&state);
        st.offset = 10_000;
        fs::write(&state, st.render()).unwrap();
        let mut s = open_resuming(&path, &state, 60_000);
        assert!(s.logs().contains("was truncated"), "{:?}", s.logs().lines());
        assert_eq!(ids(&s.pull(Room::default(), 0)), off);
    }

    #[test]
    fn a_broken_state_file_stops_the_source_with_a_config_error() {
        let dir = temp_dir("resume-broken");
        let (path, state) = (dir.join("in.txt"), dir.join("in.state"));
        numbered(&path, 3);
        fs::write(&state, "version 1\noffset banana\n").unwrap();
        let cfg = config(&path, "read").with("resume_from", state.to_str().unwrap());
        let mut s = file_type().create("file", &cfg).unwrap();
        let msg = s.connect(1).expect_code(raw::TREMOR_ERR_CONFIG).to_string();
        assert!(msg.contains("in.state is not valid"), "{msg}");
        assert!(msg.contains("delete it"), "{msg}");
        s.destroy();
        assert_eq!(
            fs::read_to_string(&state).unwrap(),
            "version 1\noffset banana\n",
            "left alone"
        );
    }

    #[test]
    fn resume_from_is_for_sources_only() {
        let dir = temp_dir("resume-sink");
        let cfg = config(&dir.join("out"), "write").with("resume_from", "/tmp/x.state");
        let r = file_type().create("file", &cfg).err().unwrap();
        assert_eq!(r.code, raw::TREMOR_ERR_CONFIG);
        assert!(
            r.message.contains("only applies to mode \"read\""),
            "{}",
            r.message
        );
    }
}
