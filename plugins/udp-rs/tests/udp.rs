//! Drives the `udp` plugin through its exported C entry points (the
//! testkit host) against real sockets on 127.0.0.1.

use std::net::UdpSocket;
use std::time::{Duration, Instant};
use tremor_pdk::testkit::{ConnectorType, Instance, Plugin, Pulled, Room};
use tremor_pdk::{OutEvent, Value, raw};
use tremor_udp::{MAX_DATAGRAM, peer_stream};

fn plugin() -> Plugin {
    // SAFETY: the static descriptor of the linked plugin.
    unsafe { Plugin::load(tremor_udp::tremor_plugin_get_descriptor) }.expect("valid descriptor")
}

fn connector(name: &str) -> ConnectorType {
    plugin().connector(name).expect("connector type")
}

/// A udp_server bound to a free port on 127.0.0.1, and that address.
fn server(buf_size: u64) -> (Instance, String) {
    let t = connector("udp_server");
    let mut i = t
        .create(
            "srv",
            &Value::object()
                .with("url", "127.0.0.1:0")
                .with("buf_size", buf_size),
        )
        .unwrap_or_else(|r| panic!("create: {r}"));
    i.connect(1).expect_ok();
    i.start().expect_ok();
    let line = i
        .logs()
        .lines()
        .into_iter()
        .find(|l| l.message.starts_with("listening on udp "))
        .expect("a listening line");
    let addr = line.message["listening on udp ".len()..].to_string();
    (i, addr)
}

fn client(url: &str) -> Instance {
    let t = connector("udp_client");
    let mut i = t
        .create("cli", &Value::object().with("url", url))
        .unwrap_or_else(|r| panic!("create: {r}"));
    i.connect(1).expect_ok();
    i.start().expect_ok();
    i
}

/// Pulls until `n` events arrived (or a deadline), checking every pull.
fn pull_n(i: &mut Instance, room: Room, n: usize) -> Vec<(u64, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} events arrived",
            out.len()
        );
        let p: Pulled = i.pull(room, 50);
        p.reply.expect_ok();
        for e in p.events {
            out.push((e.id, e.stream, e.bytes().expect("bytes").to_vec()));
        }
    }
    out
}

#[test]
fn descriptor_declares_both_connectors() {
    let p = plugin();
    assert_eq!(p.name(), "udp");
    assert_eq!(p.license().as_deref(), Some("Apache-2.0"));
    let s = p.connector("udp_server").unwrap();
    assert_eq!(s.kinds(), raw::TREMOR_KIND_SOURCE);
    assert_eq!(s.payload(), raw::TREMOR_PAYLOAD_BYTES);
    let f = s.fields();
    assert_eq!(
        (f[0].name.as_str(), f[0].flags),
        ("url", raw::TREMOR_FIELD_REQUIRED)
    );
    assert_eq!(f[1].default_json.as_deref(), Some("65536"));
    let c = p.connector("udp_client").unwrap();
    assert_eq!(c.kinds(), raw::TREMOR_KIND_SINK);
    let names: Vec<_> = c.fields().into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["url", "bind", "write_timeout_ms"]);
}

#[test]
fn bad_configs_are_refused() {
    let s = connector("udp_server");
    for cfg in [
        Value::object().with("url", "no-port"),
        Value::object().with("url", ":99"),
        Value::object().with("url", "127.0.0.1:99999"),
        Value::object()
            .with("url", "127.0.0.1:0")
            .with("buf_size", 0u64),
        Value::object(),
    ] {
        let r = s.create("x", &cfg).err().expect("refused");
        r.expect_code(raw::TREMOR_ERR_CONFIG);
    }
    let c = connector("udp_client");
    let r = c
        .create(
            "x",
            &Value::object()
                .with("url", "127.0.0.1:9")
                .with("bind", "nope"),
        )
        .err()
        .expect("refused");
    assert!(r.expect_code(raw::TREMOR_ERR_CONFIG).contains("bind"));
}

#[test]
fn server_turns_each_datagram_into_one_event() {
    let (mut srv, addr) = server(65536);
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    for k in 0..20 {
        a.send_to(format!("a{k}").as_bytes(), &addr).unwrap();
        b.send_to(format!("b{k}\n").as_bytes(), &addr).unwrap();
    }
    a.send_to(b"", &addr).unwrap(); // an empty datagram is an empty event
    let got = pull_n(&mut srv, Room::new(8, 16, 4096), 41);
    assert_eq!(got.len(), 41);
    let sa = peer_stream(&a.local_addr().unwrap());
    let sb = peer_stream(&b.local_addr().unwrap());
    assert_ne!(sa, sb);
    assert_ne!(sa, 0);
    for (n, (id, _, _)) in got.iter().enumerate() {
        assert_eq!(*id, n as u64, "ids count from 0");
    }
    let from = |s: u64| -> Vec<String> {
        got.iter()
            .filter(|e| e.1 == s)
            .map(|e| String::from_utf8(e.2.clone()).unwrap())
            .collect()
    };
    let mut want_a: Vec<String> = (0..20).map(|k| format!("a{k}")).collect();
    want_a.push(String::new());
    assert_eq!(from(sa), want_a, "in order, per sender");
    assert_eq!(
        from(sb),
        (0..20).map(|k| format!("b{k}\n")).collect::<Vec<_>>()
    );
    srv.ack(&[0, 1, 2]).expect_ok();
    srv.fail(&[3]).expect_ok();
    srv.stop().expect_ok();
    assert!(srv.logs().contains("received 41 datagrams"));
    assert!(srv.logs().contains("1 datagram(s) received on"));
}

#[test]
fn server_waits_at_most_wait_ms() {
    let (mut srv, _) = server(1024);
    let t0 = Instant::now();
    let p = srv.pull(Room::default(), 100);
    p.reply.expect_ok();
    assert!(p.events.is_empty());
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(80), "returned after {took:?}");
    assert!(took < Duration::from_secs(2), "returned after {took:?}");
    // wait 0: no waiting at all.
    let t0 = Instant::now();
    srv.pull(Room::default(), 0).reply.expect_ok();
    assert!(t0.elapsed() < Duration::from_millis(50));
}

#[test]
fn a_datagram_that_does_not_fit_is_kept_for_the_next_pull() {
    let (mut srv, addr) = server(65536);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.send_to(&[b'x'; 100], &addr).unwrap();
    s.send_to(&[b'y'; 3000], &addr).unwrap();
    // Room for the first only: the second waits.
    let mut first = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while first.is_empty() {
        assert!(Instant::now() < deadline);
        first = srv.pull(Room::new(4, 4, 1000), 50).events;
    }
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].bytes().unwrap().len(), 100);
    // Too small for the pending one even alone: NO_ROOM with its size.
    let p = srv.pull(Room::new(4, 4, 1000), 50);
    p.reply.expect_code(raw::TREMOR_ERR_NO_ROOM);
    assert_eq!(p.bytes_needed, 3000);
    let p = srv.pull(Room::new(4, 4, 4000), 50);
    p.reply.expect_ok();
    assert_eq!(p.events.len(), 1);
    assert_eq!(p.events[0].id, 1);
    assert_eq!(p.events[0].bytes().unwrap(), &[b'y'; 3000][..]);
}

#[test]
fn client_sends_one_datagram_per_event_and_fails_oversized_ones() {
    let far = UdpSocket::bind("127.0.0.1:0").unwrap();
    far.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut cli = client(&far.local_addr().unwrap().to_string());
    let big = vec![b'z'; MAX_DATAGRAM + 1];
    let max = vec![b'm'; MAX_DATAGRAM];
    let events = [
        OutEvent::bytes(0, b"one"),
        OutEvent::bytes(1, &big),
        OutEvent::bytes(2, b""),
        OutEvent::bytes(3, &max),
        OutEvent::bytes(4, b"five"),
    ];
    let sent = cli.send(&events);
    sent.reply.expect_ok();
    assert_eq!(
        sent.outcomes,
        [
            raw::TREMOR_OUTCOME_OK,
            raw::TREMOR_OUTCOME_FAILED,
            raw::TREMOR_OUTCOME_OK,
            raw::TREMOR_OUTCOME_OK,
            raw::TREMOR_OUTCOME_OK
        ]
    );
    assert!(
        cli.logs().contains("1 event(s) for udp 127.0.0.1:"),
        "a warning names the oversized event"
    );
    assert!(
        cli.logs()
            .contains(&format!("the largest has {} bytes", MAX_DATAGRAM + 1))
    );
    let mut buf = vec![0u8; 70000];
    let mut got = Vec::new();
    for _ in 0..4 {
        let (n, _) = far.recv_from(&mut buf).unwrap();
        got.push(buf[..n].to_vec());
    }
    assert_eq!(got, [b"one".to_vec(), Vec::new(), max, b"five".to_vec()]);
}

#[test]
fn client_asks_to_reconnect_when_nobody_listens() {
    // A port that was just free: datagrams to it get "port unreachable".
    let port = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let mut cli = client(&format!("127.0.0.1:{port}"));
    // The refusal (an ICMP "port unreachable") is reported by a later
    // send, when the kernel got it: give a loaded machine 5 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let s = loop {
        let s = cli.send(&[OutEvent::bytes(0, b"a"), OutEvent::bytes(1, b"b")]);
        if s.reply.code == raw::TREMOR_ERR_DISCONNECTED {
            break s;
        }
        s.reply.expect_ok();
        assert!(
            std::time::Instant::now() < deadline,
            "no send reported the refusal within 5 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(s.reply.message.contains("refused"), "{}", s.reply.message);
    assert!(
        s.outcomes
            .iter()
            .all(|o| *o == raw::TREMOR_OUTCOME_RETRY || *o == raw::TREMOR_OUTCOME_OK)
    );
    assert_eq!(s.outcomes[1], raw::TREMOR_OUTCOME_RETRY);
    // Not connected until connect is called again.
    let s = cli.send(&[OutEvent::bytes(0, b"a")]);
    s.reply.expect_code(raw::TREMOR_ERR_DISCONNECTED);
    assert_eq!(s.outcomes, [raw::TREMOR_OUTCOME_RETRY]);
    cli.connect(1).expect_ok();
}

#[test]
fn client_to_server_through_both_connectors() {
    let (mut srv, addr) = server(65536);
    let mut cli = client(&addr);
    let payloads: Vec<Vec<u8>> = (0..200)
        .map(|k| format!("datagram {k}").into_bytes())
        .collect();
    let mut got = Vec::new();
    for chunk in payloads.chunks(50) {
        let evs: Vec<OutEvent<'_>> = chunk
            .iter()
            .enumerate()
            .map(|(i, p)| OutEvent::bytes(i as u64, p))
            .collect();
        let s = cli.send(&evs);
        s.reply.expect_ok();
        assert!(s.outcomes.iter().all(|o| *o == raw::TREMOR_OUTCOME_OK));
        // Let the server keep up: the kernel drops what overflows its buffer.
        got.extend(pull_n(&mut srv, Room::default(), chunk.len()));
    }
    let stream = peer_stream(&cli_addr(&cli));
    assert!(got.iter().all(|e| e.1 == stream), "one sender, one stream");
    let bodies: Vec<Vec<u8>> = got.into_iter().map(|e| e.2).collect();
    assert_eq!(bodies, payloads);
    cli.stop().expect_ok();
    assert!(cli.logs().contains("sent 200 datagrams"));
}

fn cli_addr(cli: &Instance) -> std::net::SocketAddr {
    let line = cli
        .logs()
        .lines()
        .into_iter()
        .find(|l| l.message.starts_with("sending datagrams to udp "))
        .expect("a connect line");
    line.message
        .rsplit(" from ")
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
