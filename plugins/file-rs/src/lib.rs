//! The `file` plugin: one connector type, `file`, like Tremor's file
//! connector.
//!
//! * Source (`mode: "read"`): reads the file line by line and emits one
//!   event per line, without the `\n`; the event id is the byte offset where
//!   the line starts (so a later version can resume from the lowest
//!   unacknowledged offset). A last line without a trailing `\n` is emitted
//!   too. At the end of the file the source answers TREMOR_END.
//! * Sink (`mode: "write"` truncates, `"append"` appends): writes each
//!   event's payload followed by `\n`. Each batch is flushed to the OS before
//!   its outcomes say OK; drain and stop also sync the file to disk.
//!
//! A source in write/append mode and a sink in read mode answer
//! TREMOR_ERR_UNSUPPORTED.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;
use tremor_pdk::{
    BatchReader, BatchWriter, Connection, Connector, CreateArgs, Error, Host, Outcome, Payload,
    Pull, Result, Sink, Source, tremor_plugin,
};

/// How the file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Source: read lines.
    Read,
    /// Sink: truncate the file on the first connect, then write.
    Write,
    /// Sink: append to the file.
    Append,
}

impl Mode {
    fn parse(s: &str) -> Result<Mode> {
        match s {
            "read" => Ok(Mode::Read),
            "write" => Ok(Mode::Write),
            "append" => Ok(Mode::Append),
            other => Err(Error::config(format!(
                "config field `mode` must be one of \"read\", \"write\", \"append\", not {other:?}"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Read => "read",
            Mode::Write => "write",
            Mode::Append => "append",
        }
    }
}

/// One `file` connector instance.
pub struct FileConnector {
    host: Host,
    path: PathBuf,
    mode: Mode,
    reader: Option<Reader>,
    writer: Option<BufWriter<File>>,
    /// Set after the first successful connect in write mode: reconnects
    /// must not truncate what was already written.
    truncated: bool,
}

struct Reader {
    file: BufReader<File>,
    /// Offset of the next line to emit.
    offset: u64,
    /// A line read from the file that did not fit the last room.
    pending: Option<Vec<u8>>,
    at_end: bool,
    /// Ids (line offsets) emitted and neither acked nor failed yet.
    in_flight: BTreeSet<u64>,
}

impl FileConnector {
    fn path_str(&self) -> String {
        self.path.display().to_string()
    }

    fn io_error(&self, what: &str, e: &io::Error) -> Error {
        Error::failed(format!("{what} {}: {e}", self.path_str()))
    }

    /// The lowest offset that was emitted but not yet acknowledged, or the
    /// next offset to read when nothing is in flight: where a restart would
    /// have to resume.
    pub fn resume_offset(&self) -> Option<u64> {
        self.reader
            .as_ref()
            .map(|r| r.in_flight.first().copied().unwrap_or(r.offset))
    }

    /// Flushes buffered lines to the OS; on failure the unwritten bytes are
    /// dropped (their events are reported FAILED) so they do not reappear
    /// in the file later, out of order.
    fn flush(&mut self) -> Result<()> {
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        if let Err(e) = w.flush() {
            let w = self.writer.take().expect("present");
            let (file, _unwritten) = w.into_parts();
            self.writer = Some(BufWriter::new(file));
            return Err(self.io_error("cannot write to", &e));
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.flush()?;
        if let Some(w) = self.writer.as_ref() {
            match w.get_ref().sync_data() {
                // Files that cannot be synced (pipes, character devices)
                // have nothing more to write out.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
                    ) => {}
                r => r.map_err(|e| self.io_error("cannot sync", &e))?,
            }
        }
        Ok(())
    }
}

impl Connector for FileConnector {
    fn create(args: CreateArgs<'_>) -> Result<Self> {
        let path = args.config.str("path")?;
        if path.is_empty() {
            return Err(Error::config("config field `path` must not be empty"));
        }
        let mode = Mode::parse(args.config.opt_str("mode")?.unwrap_or("read"))?;
        Ok(FileConnector {
            host: args.host,
            path: PathBuf::from(path),
            mode,
            reader: None,
            writer: None,
            truncated: false,
        })
    }

    fn connect(&mut self, _attempt: u32) -> Result<Connection> {
        match self.mode {
            Mode::Read => {
                // Reconnecting resumes where the last connection stopped.
                let (offset, in_flight) = match self.reader.take() {
                    Some(r) => (r.offset, r.in_flight),
                    None => (0, BTreeSet::new()),
                };
                let mut file =
                    File::open(&self.path).map_err(|e| self.io_error("cannot open", &e))?;
                if file.metadata().is_ok_and(|m| m.is_dir()) {
                    return Err(Error::config(format!(
                        "{} is a directory, not a file",
                        self.path_str()
                    )));
                }
                file.seek(SeekFrom::Start(offset))
                    .map_err(|e| self.io_error("cannot seek in", &e))?;
                self.reader = Some(Reader {
                    file: BufReader::new(file),
                    offset,
                    pending: None,
                    at_end: false,
                    in_flight,
                });
            }
            Mode::Write | Mode::Append => {
                // A reconnect first drops the old handle (flushing it).
                if self.writer.is_some() {
                    let _ = self.flush();
                    self.writer = None;
                }
                let mut opts = OpenOptions::new();
                opts.create(true);
                if self.mode == Mode::Write && !self.truncated {
                    opts.write(true).truncate(true);
                } else {
                    opts.append(true);
                }
                let file = opts
                    .open(&self.path)
                    .map_err(|e| self.io_error("cannot open", &e))?;
                self.truncated = true;
                self.writer = Some(BufWriter::new(file));
            }
        }
        self.host.debug(&format!(
            "opened {} for {}",
            self.path_str(),
            self.mode.name()
        ));
        Ok(Connection::Connected)
    }

    fn drain(&mut self) -> Result<()> {
        self.sync()
    }

    fn stop(&mut self) -> Result<()> {
        if let Some(offset) = self.resume_offset() {
            self.host.info(&format!(
                "stopped reading {} at resume offset {offset}",
                self.path_str()
            ));
        }
        let r = self.sync();
        self.writer = None;
        self.reader = None;
        r
    }
}

impl Source for FileConnector {
    fn pull(&mut self, out: &mut BatchWriter<'_>, _wait: Duration) -> Result<Pull> {
        if self.mode != Mode::Read {
            return Err(Error::unsupported(format!(
                "the file connector for {} is a sink (mode \"{}\"): it produces no events; use mode \"read\" to read the file",
                self.path_str(),
                self.mode.name()
            )));
        }
        let path = self.path_str();
        let Some(r) = self.reader.as_mut() else {
            return Err(Error::disconnected(format!(
                "{path} is not open: connect first"
            )));
        };
        while !out.is_full() {
            let line = match r.pending.take() {
                Some(line) => line,
                None => {
                    if r.at_end {
                        break;
                    }
                    let mut line = Vec::new();
                    let n = r
                        .file
                        .read_until(b'\n', &mut line)
                        .map_err(|e| Error::disconnected(format!("cannot read {path}: {e}")))?;
                    if n == 0 {
                        r.at_end = true;
                        break;
                    }
                    line
                }
            };
            let content = line.strip_suffix(b"\n").unwrap_or(&line);
            if out.push_bytes(r.offset, content).is_err() {
                // Does not fit: keep it for the next pull (the PDK reports
                // NO_ROOM with its size when nothing was written).
                r.pending = Some(line);
                return Ok(Pull::More);
            }
            r.in_flight.insert(r.offset);
            r.offset += line.len() as u64;
        }
        Ok(if r.at_end && r.pending.is_none() {
            Pull::End
        } else {
            Pull::More
        })
    }

    fn ack(&mut self, ids: &[u64]) -> Result<()> {
        if let Some(r) = self.reader.as_mut() {
            for id in ids {
                r.in_flight.remove(id);
            }
        }
        Ok(())
    }

    fn fail(&mut self, ids: &[u64]) -> Result<()> {
        if let Some(r) = self.reader.as_mut() {
            for id in ids {
                r.in_flight.remove(id);
            }
        }
        // This version does not replay: say what was lost.
        self.host.warn(&format!(
            "{} line(s) of {} were not delivered and are dropped (byte offsets {:?})",
            ids.len(),
            self.path_str(),
            ids
        ));
        Ok(())
    }
}

impl Sink for FileConnector {
    fn send(&mut self, batch: &BatchReader<'_>, outcomes: &mut [Outcome]) -> Result<()> {
        if self.mode == Mode::Read {
            return Err(Error::unsupported(format!(
                "the file connector for {} is a source (mode \"read\"): it cannot write events; use mode \"write\" or \"append\"",
                self.path_str()
            )));
        }
        let path = self.path_str();
        let Some(w) = self.writer.as_mut() else {
            return Err(Error::disconnected(format!(
                "{path} is not open: connect first"
            )));
        };
        let mut written = Vec::with_capacity(batch.len());
        let mut skipped = 0usize;
        let mut result = Ok(());
        for (i, event) in batch.iter().enumerate() {
            let Payload::Bytes(bytes) = event.payload else {
                // A structured event cannot be a line; the host's codec
                // should have turned it into bytes.
                skipped += 1;
                continue;
            };
            if let Err(e) = w.write_all(bytes).and_then(|()| w.write_all(b"\n")) {
                result = Err(e);
                break;
            }
            written.push(i);
        }
        let result = match result {
            Ok(()) => self.flush(),
            Err(e) => {
                // Drop whatever is still buffered: those events fail.
                let w = self.writer.take().expect("present");
                let (file, _unwritten) = w.into_parts();
                self.writer = Some(BufWriter::new(file));
                Err(self.io_error("cannot write to", &e))
            }
        };
        result?;
        for i in written {
            outcomes[i] = Outcome::Ok;
        }
        if skipped > 0 {
            self.host.warn(&format!(
                "{skipped} structured event(s) were not written to {path}: the file connector writes bytes"
            ));
        }
        Ok(())
    }
}

tremor_plugin! {
    name: "file",
    version: "0.1.0",
    description: "Reads a file line by line, or writes events to a file as lines",
    license: "Apache-2.0",
    connectors: [
        FileConnector {
            name: "file",
            description: "Source (mode read): one event per line, id = byte offset of the line. Sink (mode write/append): one line per event.",
            kinds: [source, sink],
            payload: bytes,
            fields: [
                { name: "path", type: string, flags: [required], doc: "the file to read or write" },
                { name: "mode", type: string, default_json: r#""read""#, doc: "read, write (truncate) or append" },
            ],
        },
    ],
}
