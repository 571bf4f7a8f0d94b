//! `faults_rs`: the Rust fault plugin for tests/faults
//! (libtremor_faults_rs.so in build/test-plugins). Connector `faults_rs`
//! (source + sink, bytes) is a well-behaved source of events
//! `rs-fault-<n>` and a sink that accepts everything, until its config says:
//!
//! * `panic_at` = `create` | `connect` | `start` | `pause` | `resume` |
//!   `pull` | `ack` | `fail` | `send` | `drain` | `stop`: that method
//!   panics. tremor-pdk catches it with `catch_unwind`: the hook answers
//!   TREMOR_ERR_PANIC with the panic message and the instance is poisoned.
//! * `panic_any` = true: the panic's payload is not a string (a `u32`).
//! * `fail_at` = the same names: that method returns an error
//!   (TREMOR_ERR_FAILED, "faults_rs: told to fail at <name>").

use std::time::Duration;
use tremor_pdk::{
    BatchReader, BatchWriter, Connection, Connector, CreateArgs, Error, Outcome, Pull, Result,
    Sink, Source, tremor_plugin,
};

pub struct Faults {
    panic_at: String,
    fail_at: String,
    panic_any: bool,
    next: u64,
}

impl Faults {
    fn at(&self, hook: &str) -> Result<()> {
        if self.panic_at == hook {
            if self.panic_any {
                std::panic::panic_any(42u32);
            }
            panic!("faults_rs: told to panic in {hook}");
        }
        if self.fail_at == hook {
            return Err(Error::failed(format!("faults_rs: told to fail at {hook}")));
        }
        Ok(())
    }
}

/// The panics here are on purpose: one line each on stderr instead of the
/// default hook's report (this library's own std, so other Rust plugins in
/// the process keep theirs).
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| eprintln!("faults_rs: panic (on purpose): {info}")));
    });
}

impl Connector for Faults {
    fn create(args: CreateArgs<'_>) -> Result<Self> {
        quiet_panics();
        let f = Faults {
            panic_at: args.config.opt_str("panic_at")?.unwrap_or("").to_owned(),
            fail_at: args.config.opt_str("fail_at")?.unwrap_or("").to_owned(),
            panic_any: args.config.opt_bool("panic_any")?.unwrap_or(false),
            next: 1,
        };
        f.at("create")?;
        Ok(f)
    }

    fn connect(&mut self, _attempt: u32) -> Result<Connection> {
        self.at("connect")?;
        Ok(Connection::Connected)
    }

    fn start(&mut self) -> Result<()> {
        self.at("start")
    }

    fn pause(&mut self) -> Result<()> {
        self.at("pause")
    }

    fn resume(&mut self) -> Result<()> {
        self.at("resume")
    }

    fn drain(&mut self) -> Result<()> {
        self.at("drain")
    }

    fn stop(&mut self) -> Result<()> {
        self.at("stop")
    }
}

impl Source for Faults {
    fn pull(&mut self, out: &mut BatchWriter<'_>, _wait: Duration) -> Result<Pull> {
        self.at("pull")?;
        loop {
            let payload = format!("rs-fault-{}", self.next);
            if out.push_bytes(self.next, payload.as_bytes()).is_err() {
                return Ok(Pull::More); // full: this one waits for the next pull
            }
            self.next += 1;
        }
    }

    fn ack(&mut self, _ids: &[u64]) -> Result<()> {
        self.at("ack")
    }

    fn fail(&mut self, _ids: &[u64]) -> Result<()> {
        self.at("fail")
    }
}

impl Sink for Faults {
    fn send(&mut self, _batch: &BatchReader<'_>, outcomes: &mut [Outcome]) -> Result<()> {
        self.at("send")?;
        for o in outcomes.iter_mut() {
            *o = Outcome::Ok;
        }
        Ok(())
    }
}

tremor_plugin! {
    name: "faults_rs",
    version: "0.1.0",
    description: "a Rust plugin that panics or fails on request (tests/faults)",
    license: "Apache-2.0",
    connectors: [
        Faults {
            name: "faults_rs",
            description: "panics or fails in the hook its config names",
            kinds: [source, sink],
            payload: bytes,
            fields: [
                { name: "panic_at", type: string, default_json: "\"\"", doc: "hook that panics" },
                { name: "fail_at", type: string, default_json: "\"\"", doc: "hook that returns an error" },
                { name: "panic_any", type: bool, default_json: "false", doc: "panic with a non-string payload" },
            ],
        },
    ],
}
