//! The `udp` plugin: two connector types over UDP datagrams.
//!
//! * `udp_server` (source, bytes): binds `url` and turns every datagram it
//!   receives into one event. The event's stream is a hash of the sender's
//!   address (never 0), so that per-stream state in the host (such as the
//!   lines pre-processor) is kept per peer. Datagrams are received into one
//!   buffer of `buf_size` bytes and copied into the host's room: no
//!   allocation per event. A datagram longer than `buf_size` is truncated
//!   by the kernel, so keep `buf_size` at least as large as the largest
//!   datagram (the default, 65536, fits any). UDP cannot replay: a failed
//!   event is counted and logged, not offered again, and datagrams that
//!   arrive while the host is not pulling wait in the kernel's receive
//!   buffer, which drops what does not fit.
//! * `udp_client` (sink, bytes): sends every event's payload as one datagram
//!   to `url`, straight from the host's memory. An event bigger than 65507
//!   bytes (the largest UDP payload over IPv4) cannot be a datagram: it is
//!   FAILED, and a warning says how many and how big. When the peer's host
//!   answered an earlier datagram with "port unreachable", the kernel
//!   reports it on a later send: the events not yet sent are answered RETRY
//!   and the sink asks to be reconnected. "OK" means the datagram left this
//!   host, nothing more: UDP has no acknowledgement.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;
use tremor_pdk::{
    BatchReader, BatchWriter, Connection, Connector, CreateArgs, Error, Host, OutEvent, Outcome,
    Payload, Pull, Result, Sink, Source, tremor_plugin,
};

/// The largest payload of a UDP datagram over IPv4 (65535 - 8 - 20).
pub const MAX_DATAGRAM: usize = 65507;

/// The ABI 1.1 metric both sides report (nothing on a 1.0 host).
const DROPPED: &str = "udp_datagrams_dropped_total";
const DROPPED_HELP: &str =
    "Datagrams dropped: received but not delivered (UDP cannot replay them), or too big to send.";

/// Checks a `host:port` address (an optional `udp://` prefix is dropped)
/// without resolving it: resolving may block, which belongs in connect.
fn parse_url(field: &str, url: &str) -> Result<String> {
    let addr = url.strip_prefix("udp://").unwrap_or(url);
    let port = addr
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        Some((host, Ok(_))) if !host.is_empty() => Ok(addr.to_string()),
        _ => Err(Error::config(format!(
            "config field `{field}` must be host:port, e.g. \"127.0.0.1:4242\", not {url:?}"
        ))),
    }
}

/// Resolves `addr` to its first socket address.
fn resolve(addr: &str) -> Result<SocketAddr> {
    addr.to_socket_addrs()
        .map_err(|e| Error::failed(format!("cannot resolve {addr}: {e}")))?
        .next()
        .ok_or_else(|| Error::failed(format!("{addr} resolves to no address")))
}

/// The stream of a peer: FNV-1a over its address and port, never 0.
pub fn peer_stream(peer: &SocketAddr) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    match peer {
        SocketAddr::V4(a) => eat(&a.ip().octets()),
        SocketAddr::V6(a) => eat(&a.ip().octets()),
    }
    eat(&peer.port().to_be_bytes());
    if h == 0 { 1 } else { h }
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

// ---------------------------------------------------------------------------
// udp_server
// ---------------------------------------------------------------------------

/// One `udp_server` instance.
pub struct UdpServer {
    host: Host,
    url: String,
    socket: Option<UdpSocket>,
    /// Where datagrams are received; reused for every one.
    buf: Vec<u8>,
    /// A datagram in `buf[..len]` (from `stream`) that did not fit the last
    /// room: it goes first in the next pull.
    pending: Option<(usize, u64)>,
    /// The socket's mode, so that it only changes when it must.
    nonblocking: bool,
    read_timeout: Option<Duration>,
    next_id: u64,
    bytes: u64,
    acked: u64,
    failed: u64,
}

impl UdpServer {
    /// The address the socket is bound to (after connect).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.as_ref().and_then(|s| s.local_addr().ok())
    }

    fn set_nonblocking(&mut self, on: bool) -> io::Result<()> {
        if self.nonblocking != on {
            if let Some(s) = self.socket.as_ref() {
                s.set_nonblocking(on)?;
            }
            self.nonblocking = on;
        }
        Ok(())
    }

    fn set_read_timeout(&mut self, wait: Duration) -> io::Result<()> {
        // A zero timeout means "block forever" to the OS; 1 ms is the least.
        let wait = wait.max(Duration::from_millis(1));
        if self.read_timeout != Some(wait) {
            if let Some(s) = self.socket.as_ref() {
                s.set_read_timeout(Some(wait))?;
            }
            self.read_timeout = Some(wait);
        }
        Ok(())
    }

    fn lost(&mut self, what: &str, e: &io::Error) -> Error {
        self.socket = None;
        Error::disconnected(format!("{what} on {}: {e}", self.url))
    }
}

impl Connector for UdpServer {
    fn create(args: CreateArgs<'_>) -> Result<Self> {
        let url = parse_url("url", args.config.str("url")?)?;
        let buf_size = args.config.opt_u64("buf_size")?.unwrap_or(65536);
        if buf_size == 0 || buf_size > 1 << 20 {
            return Err(Error::config(format!(
                "config field `buf_size` must be between 1 and 1048576 bytes, not {buf_size}"
            )));
        }
        Ok(UdpServer {
            host: args.host,
            url,
            socket: None,
            buf: vec![0; buf_size as usize],
            pending: None,
            nonblocking: false,
            read_timeout: None,
            next_id: 0,
            bytes: 0,
            acked: 0,
            failed: 0,
        })
    }

    fn connect(&mut self, _attempt: u32) -> Result<Connection> {
        if self.socket.is_some() {
            return Ok(Connection::Connected);
        }
        let addr = resolve(&self.url)?;
        let socket = UdpSocket::bind(addr)
            .map_err(|e| Error::failed(format!("cannot bind {}: {e}", self.url)))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| Error::failed(format!("cannot configure {}: {e}", self.url)))?;
        let local = socket
            .local_addr()
            .map_or_else(|_| self.url.clone(), |a| a.to_string());
        self.socket = Some(socket);
        self.nonblocking = true;
        self.read_timeout = None;
        self.host.info(&format!("listening on udp {local}"));
        Ok(Connection::Connected)
    }

    fn stop(&mut self) -> Result<()> {
        self.host.info(&format!(
            "udp_server on {}: received {} datagrams ({} bytes), {} acked, {} failed",
            self.url, self.next_id, self.bytes, self.acked, self.failed
        ));
        self.socket = None;
        Ok(())
    }
}

impl Source for UdpServer {
    fn pull(&mut self, out: &mut BatchWriter<'_>, wait: Duration) -> Result<Pull> {
        if self.socket.is_none() {
            return Err(Error::disconnected(format!(
                "udp {} is not bound: connect first",
                self.url
            )));
        }
        if let Some((len, stream)) = self.pending {
            out.push(&OutEvent::bytes(self.next_id, &self.buf[..len]).stream(stream))?;
            self.pending = None;
            self.next_id += 1;
            self.bytes += len as u64;
        }
        // Take what is there without waiting; wait (up to `wait`) only when
        // nothing came at all, and only for the first datagram.
        let mut may_wait = out.is_empty() && !wait.is_zero();
        while !out.is_full() {
            let socket = self.socket.as_ref().expect("checked above");
            match socket.recv_from(&mut self.buf) {
                Ok((len, peer)) => {
                    let stream = peer_stream(&peer);
                    let ev = OutEvent::bytes(self.next_id, &self.buf[..len]).stream(stream);
                    if let Err(no_room) = out.push(&ev) {
                        self.pending = Some((len, stream));
                        if out.is_empty() {
                            return Err(no_room.into());
                        }
                        break;
                    }
                    self.next_id += 1;
                    self.bytes += len as u64;
                    may_wait = false;
                    self.set_nonblocking(true)
                        .map_err(|e| self.lost("cannot configure the socket", &e))?;
                }
                Err(e) if would_block(&e) => {
                    if !may_wait {
                        break;
                    }
                    may_wait = false;
                    self.set_read_timeout(wait)
                        .and_then(|()| self.set_nonblocking(false))
                        .map_err(|e| self.lost("cannot configure the socket", &e))?;
                }
                // ICMP errors for datagrams this socket never sent: not ours.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => return Err(self.lost("receive", &e)),
            }
        }
        // Leave the socket non-blocking, ready for the next pull.
        self.set_nonblocking(true)
            .map_err(|e| self.lost("cannot configure the socket", &e))?;
        Ok(Pull::More)
    }

    fn ack(&mut self, ids: &[u64]) -> Result<()> {
        self.acked += ids.len() as u64;
        Ok(())
    }

    /// Datagrams cannot be received again: count them and say so.
    fn fail(&mut self, ids: &[u64]) -> Result<()> {
        self.failed += ids.len() as u64;
        self.host.counter_add(
            DROPPED,
            DROPPED_HELP,
            ids.len() as u64,
            &[("reason", "not_delivered")],
        );
        if let Some(first) = ids.first() {
            self.host.warn(&format!(
                "{} datagram(s) received on {} were not delivered and cannot be replayed (first id {first})",
                ids.len(),
                self.url
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// udp_client
// ---------------------------------------------------------------------------

/// One `udp_client` instance.
pub struct UdpClient {
    host: Host,
    url: String,
    bind: Option<String>,
    write_timeout: Duration,
    socket: Option<UdpSocket>,
    sent: u64,
    bytes: u64,
    too_big: u64,
}

impl UdpClient {
    /// The local address of the socket (after connect).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.as_ref().and_then(|s| s.local_addr().ok())
    }
}

#[cfg(target_os = "linux")]
const EMSGSIZE: i32 = 90;
#[cfg(not(target_os = "linux"))]
const EMSGSIZE: i32 = 40;

impl Connector for UdpClient {
    fn create(args: CreateArgs<'_>) -> Result<Self> {
        let url = parse_url("url", args.config.str("url")?)?;
        let bind = match args.config.opt_str("bind")? {
            None | Some("") => None,
            Some(b) => Some(parse_url("bind", b)?),
        };
        let timeout_ms = args.config.opt_u64("write_timeout_ms")?.unwrap_or(1000);
        if timeout_ms == 0 || timeout_ms > 3_600_000 {
            return Err(Error::config(format!(
                "config field `write_timeout_ms` must be between 1 and 3600000, not {timeout_ms}"
            )));
        }
        Ok(UdpClient {
            host: args.host,
            url,
            bind,
            write_timeout: Duration::from_millis(timeout_ms),
            socket: None,
            sent: 0,
            bytes: 0,
            too_big: 0,
        })
    }

    fn connect(&mut self, _attempt: u32) -> Result<Connection> {
        if self.socket.is_some() {
            return Ok(Connection::Connected);
        }
        let remote = resolve(&self.url)?;
        let local = match &self.bind {
            Some(b) => resolve(b)?,
            None if remote.is_ipv4() => SocketAddr::from(([0, 0, 0, 0], 0)),
            None => SocketAddr::from(([0u16; 8], 0)),
        };
        let socket = UdpSocket::bind(local)
            .map_err(|e| Error::failed(format!("cannot bind {local}: {e}")))?;
        socket
            .connect(remote)
            .and_then(|()| socket.set_write_timeout(Some(self.write_timeout)))
            .map_err(|e| Error::failed(format!("cannot connect to udp {}: {e}", self.url)))?;
        let from = socket
            .local_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        self.host
            .info(&format!("sending datagrams to udp {remote} from {from}"));
        self.socket = Some(socket);
        Ok(Connection::Connected)
    }

    fn stop(&mut self) -> Result<()> {
        self.host.info(&format!(
            "udp_client to {}: sent {} datagrams ({} bytes), {} too big",
            self.url, self.sent, self.bytes, self.too_big
        ));
        self.socket = None;
        Ok(())
    }
}

impl Sink for UdpClient {
    fn send(&mut self, batch: &BatchReader<'_>, outcomes: &mut [Outcome]) -> Result<()> {
        let Some(socket) = self.socket.as_ref() else {
            outcomes.fill(Outcome::Retry);
            return Err(Error::disconnected(format!(
                "udp {} is not connected",
                self.url
            )));
        };
        let (mut too_big, mut largest) = (0u64, 0usize);
        let mut stopped: Option<(usize, io::Error)> = None;
        for (i, ev) in batch.iter().enumerate() {
            let Payload::Bytes(data) = ev.payload else {
                continue; // structured: cannot happen for a bytes connector; FAILED
            };
            if data.len() > MAX_DATAGRAM {
                too_big += 1;
                largest = largest.max(data.len());
                continue;
            }
            let r = loop {
                match socket.send(data) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r,
                }
            };
            match r {
                Ok(_) => {
                    outcomes[i] = Outcome::Ok;
                    self.sent += 1;
                    self.bytes += data.len() as u64;
                }
                // Too big for this path after all: it never will fit.
                Err(e) if e.raw_os_error() == Some(EMSGSIZE) => {
                    too_big += 1;
                    largest = largest.max(data.len());
                }
                Err(e) => {
                    stopped = Some((i, e));
                    break;
                }
            }
        }
        if too_big > 0 {
            self.too_big += too_big;
            self.host
                .counter_add(DROPPED, DROPPED_HELP, too_big, &[("reason", "too_big")]);
            self.host.warn(&format!(
                "{too_big} event(s) for udp {} are too big for a datagram and failed (the largest has {largest} bytes; at most {MAX_DATAGRAM} fit)",
                self.url
            ));
        }
        let Some((from, e)) = stopped else {
            return Ok(());
        };
        for (i, ev) in batch.iter().enumerate().skip(from) {
            if matches!(ev.payload, Payload::Bytes(d) if d.len() <= MAX_DATAGRAM) {
                outcomes[i] = Outcome::Retry;
            }
        }
        if would_block(&e) {
            // The socket's send buffer stayed full: give it time.
            self.host.warn(&format!(
                "udp {} did not take a datagram within {:?}; {} event(s) will be sent again",
                self.url,
                self.write_timeout,
                batch.len() - from
            ));
            return Ok(());
        }
        // "Connection refused" reports an ICMP port unreachable for an
        // earlier datagram: nobody listens there (yet). Reconnecting gives
        // the host's backoff a say before the rest goes out.
        self.socket = None;
        Err(Error::disconnected(format!(
            "send to udp {}: {e}",
            self.url
        )))
    }
}

tremor_plugin! {
    name: "udp",
    version: "0.1.0",
    description: "UDP server source and UDP client sink: one datagram per event",
    license: "Apache-2.0",
    connectors: [
        UdpServer {
            name: "udp_server",
            description: "binds url; each datagram received is one event, its stream a hash of the sender's address. Acks are counted; a failed datagram cannot be received again: it is logged and dropped",
            kinds: [source],
            payload: bytes,
            fields: [
                { name: "url", type: string, flags: [required], doc: "host:port to bind, e.g. \"127.0.0.1:4242\"" },
                { name: "buf_size", type: uint, default_json: "65536", doc: "bytes received at most per datagram (longer ones are truncated)" },
            ],
        },
        UdpClient {
            name: "udp_client",
            description: "sends each event's payload as one datagram to url; ack = the kernel accepted the datagram (UDP: no word from the receiver, it may still be lost); events over 65507 bytes fail",
            kinds: [sink],
            payload: bytes,
            fields: [
                { name: "url", type: string, flags: [required], doc: "host:port to send to, e.g. \"127.0.0.1:4242\"" },
                { name: "bind", type: string, default_json: r#""""#, doc: "local host:port to send from; empty: any address, a free port" },
                { name: "write_timeout_ms", type: uint, default_json: "1000", doc: "how long sending one datagram may block before the rest of a batch is retried" },
            ],
        },
    ],
}
