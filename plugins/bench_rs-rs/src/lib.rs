//! The `bench_rs` plugin: the Rust twin of `plugins/bench-c`, so that the
//! benchmarks in `bench/` can set the same flow through a C, a Rust and a Go
//! plugin side by side with the in-process Go baseline (`host/inproc`).
//!
//! * `bench_rs_source` emits `count` raw events of exactly `size` bytes,
//!   each a JSON line the json codec can decode,
//!   `{"seq":123,"pad":"xxxxxxxx"}\n`, filling every pull as full as the
//!   room allows, then answers TREMOR_END.
//! * `bench_rs_sink` counts events and bytes, answers OK for every bytes
//!   event (FAILED for structured ones) and logs the totals and the rate
//!   when stopped.
//!
//! Neither side allocates per event. The PDK's `BatchWriter` copies a
//! payload into the host's arena, so the source keeps one template line
//! per digit count and only rewrites the digits of `seq` in it before each
//! push: one memcpy per event, as the C plugin's memset + memcpy.

use std::time::{Duration, Instant};
use tremor_pdk::{
    BatchReader, BatchWriter, Connector, CreateArgs, Error, Host, Outcome, Payload, Pull, Result,
    Sink, Source, tremor_plugin,
};

const HEAD: &[u8] = br#"{"seq":"#;
const MID: &[u8] = br#","pad":""#;
const TAIL: &[u8] = b"\"}\n";
const FIXED: u64 = (HEAD.len() + MID.len() + TAIL.len()) as u64;

fn digits_of(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

/// One `bench_rs_source` instance.
pub struct BenchSource {
    host: Host,
    count: u64,
    size: u64,
    /// Next event to emit, also its id.
    seq: u64,
    acked: u64,
    failed: u64,
    /// The line for the current digit count; only the digits change.
    line: Vec<u8>,
    line_digits: usize,
}

impl BenchSource {
    /// Lays out the template line for seq numbers of `nd` digits.
    fn template(&mut self, nd: usize) {
        let size = self.size as usize;
        self.line.clear();
        self.line.extend_from_slice(HEAD);
        self.line.resize(HEAD.len() + nd, b'0');
        self.line.extend_from_slice(MID);
        self.line.resize(size - TAIL.len(), b'x');
        self.line.extend_from_slice(TAIL);
        self.line_digits = nd;
    }

    /// The line for `seq`, exactly `size` bytes.
    fn line_for(&mut self, mut seq: u64) -> &[u8] {
        let nd = digits_of(seq);
        if nd != self.line_digits {
            self.template(nd);
        }
        for i in (0..nd).rev() {
            self.line[HEAD.len() + i] = b'0' + (seq % 10) as u8;
            seq /= 10;
        }
        &self.line
    }
}

impl Connector for BenchSource {
    fn create(args: CreateArgs<'_>) -> Result<Self> {
        let count = args.config.opt_u64("count")?.unwrap_or(1_000_000);
        let size = args.config.opt_u64("size")?.unwrap_or(100);
        // Every line must stay valid JSON, the one with the longest seq too.
        let min = FIXED + digits_of(count.saturating_sub(1)) as u64;
        if size < min || size > u64::from(u32::MAX) {
            return Err(Error::config(format!(
                "size must be between {min} and {} bytes for count {count}, not {size}",
                u32::MAX
            )));
        }
        Ok(BenchSource {
            host: args.host,
            count,
            size,
            seq: 0,
            acked: 0,
            failed: 0,
            line: Vec::with_capacity(size as usize),
            line_digits: 0,
        })
    }

    fn stop(&mut self) -> Result<()> {
        self.host.info(&format!(
            "bench_rs_source: emitted {} events of {} bytes, {} acked, {} failed",
            self.seq, self.size, self.acked, self.failed
        ));
        Ok(())
    }
}

impl Source for BenchSource {
    fn pull(&mut self, out: &mut BatchWriter<'_>, _wait: Duration) -> Result<Pull> {
        // Data is always ready: the wait is never used.
        while self.seq < self.count {
            let seq = self.seq;
            let line = self.line_for(seq);
            // push_bytes copies the line into the host's arena.
            if out.push_bytes(seq, line).is_err() {
                // Full: this seq is offered again on the next pull (the PDK
                // answers TREMOR_ERR_NO_ROOM with its size if nothing fit).
                return Ok(Pull::More);
            }
            self.seq += 1;
        }
        Ok(Pull::End)
    }

    fn ack(&mut self, ids: &[u64]) -> Result<()> {
        self.acked += ids.len() as u64;
        Ok(())
    }

    fn fail(&mut self, ids: &[u64]) -> Result<()> {
        self.failed += ids.len() as u64;
        Ok(())
    }
}

/// One `bench_rs_sink` instance.
pub struct BenchSink {
    host: Host,
    batches: u64,
    events: u64,
    bytes: u64,
    invalid: u64,
    /// Start of the first send and end of the last.
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Connector for BenchSink {
    fn create(args: CreateArgs<'_>) -> Result<Self> {
        Ok(BenchSink {
            host: args.host,
            batches: 0,
            events: 0,
            bytes: 0,
            invalid: 0,
            first: None,
            last: None,
        })
    }

    fn stop(&mut self) -> Result<()> {
        let secs = match (self.first, self.last) {
            (Some(f), Some(l)) => l.duration_since(f).as_secs_f64(),
            _ => 0.0,
        };
        let (rate, mib) = if secs > 0.0 {
            (
                self.events as f64 / secs,
                self.bytes as f64 / secs / (1024.0 * 1024.0),
            )
        } else {
            (0.0, 0.0)
        };
        self.host.info(&format!(
            "bench_rs_sink: received {} events, {} bytes in {} batches over {secs:.3} s ({rate:.0} events/s, {mib:.1} MiB/s), {} invalid",
            self.events, self.bytes, self.batches, self.invalid
        ));
        Ok(())
    }
}

impl Sink for BenchSink {
    fn send(&mut self, batch: &BatchReader<'_>, outcomes: &mut [Outcome]) -> Result<()> {
        if self.first.is_none() {
            self.first = Some(Instant::now());
        }
        for (event, outcome) in batch.iter().zip(outcomes.iter_mut()) {
            match event.payload {
                Payload::Bytes(b) => {
                    self.events += 1;
                    self.bytes += b.len() as u64;
                    *outcome = Outcome::Ok;
                }
                // Outcome stays FAILED: this sink takes bytes only.
                Payload::Value(_) => self.invalid += 1,
            }
        }
        self.batches += 1;
        self.last = Some(Instant::now());
        Ok(())
    }
}

tremor_plugin! {
    name: "bench_rs",
    version: "0.1.0",
    description: "a minimal source and sink in Rust for benchmarking the host",
    license: "Apache-2.0",
    connectors: [
        BenchSource {
            name: "bench_rs_source",
            description: "emits count JSON lines of size bytes, as fast as pulled",
            kinds: [source],
            payload: bytes,
            fields: [
                { name: "count", type: uint, default_json: "1000000", doc: "events to emit before ending" },
                { name: "size", type: uint, default_json: "100", doc: "bytes per event, newline included" },
            ],
        },
        BenchSink {
            name: "bench_rs_sink",
            description: "counts events and bytes, logs the rate on stop",
            kinds: [sink],
            payload: bytes,
            fields: [],
        },
    ],
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(count: u64, size: u64) -> BenchSource {
        BenchSource {
            host: Host::detached(),
            count,
            size,
            seq: 0,
            acked: 0,
            failed: 0,
            line: Vec::new(),
            line_digits: 0,
        }
    }

    #[test]
    fn lines_match_the_c_plugin() {
        let mut s = source(1000, 40);
        for seq in [0u64, 9, 10, 99, 100, 999] {
            let line = s.line_for(seq).to_vec();
            assert_eq!(line.len(), 40);
            let text = String::from_utf8(line).unwrap();
            let pad = 40 - FIXED as usize - digits_of(seq);
            assert_eq!(text, format!("{{\"seq\":{seq},\"pad\":\"{}\"}}\n", "x".repeat(pad)));
        }
    }
}
