//! The `file` plugin: one connector type, `file`, like Tremor's file
//! connector.
//!
//! * Source (`mode: "read"`): reads the file line by line and emits one
//!   event per line, without the `\n`; the event id is the byte offset where
//!   the line starts. A last line without a trailing `\n` is emitted too. At
//!   the end of the file the source answers TREMOR_END. The last line read
//!   ends the stream (TREMOR_EVENT_END_STREAM), so the host flushes what a
//!   pre-processor holds of it before the source waits for the last acks.
//! * Sink (`mode: "write"` truncates, `"append"` appends): writes each
//!   event's payload followed by `\n`. Each batch is flushed to the OS before
//!   its outcomes say OK; drain and stop also sync the file to disk.
//!
//! Guaranteed delivery for files (`resume_from`, source only): the path of
//! a small state file (see [`resume`]). On connect the source seeks to the
//! lowest unacknowledged byte offset it records, and skips the lines above
//! it that were acknowledged already; on stop (or destroy), and after acks
//! at most every `resume_interval_ms`, it writes the state anew. With it,
//! lines that fail downstream are offered again on the next pull (in offset
//! order), and the source only answers TREMOR_END once every line has been
//! acknowledged. Without it a failed line is logged and dropped, and the
//! source ends at the end of the file.
//!
//! A source in write/append mode and a sink in read mode answer
//! TREMOR_ERR_UNSUPPORTED.

pub mod resume;

use resume::{State, Window};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tremor_pdk::{
    BatchReader, BatchWriter, Connection, Connector, CreateArgs, Error, Host, OutEvent, Outcome,
    Payload, Pull, Result, Sink, Source, tremor_plugin,
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

/// How long a pull waits, at most, when every line is read and the source
/// only waits for the last acks (with `resume_from`): the host settles acks
/// between pulls, so a long sleep here would only delay them.
const ACK_POLL: Duration = Duration::from_millis(5);

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
    /// The resume state file (source only); its presence also turns on
    /// the replay of failed lines.
    resume_from: Option<PathBuf>,
    resume_interval: Duration,
    /// The state changed since it was last written.
    dirty: bool,
    saved_at: Option<Instant>,
}

struct Reader {
    /// Read with pread at `offset`, straight into the batch's arena.
    file: File,
    /// st_dev and st_ino of the file, recorded in the state file.
    dev: u64,
    ino: u64,
    /// Offset of the next line to read.
    offset: u64,
    /// A line that did not fit the room left in the arena (with its `\n`),
    /// copied out to be pushed whole; when `pending`, it goes first in the
    /// next pull.
    line: Vec<u8>,
    pending: bool,
    /// Lines found by the last read: (start in the read, payload length,
    /// ends the stream). Reused, so a pull allocates nothing.
    found: Vec<(usize, usize, bool)>,
    /// Bytes per line (with its `\n`) in the last read, to size the next
    /// one to the event slots left rather than to the whole arena.
    line_size: usize,
    /// Where failed lines are read back into before they are offered again.
    replay_buf: Vec<u8>,
    at_end: bool,
    /// Lines emitted and not yet settled, by offset.
    window: Window,
    /// Offsets of lines at or after `offset` acknowledged in an earlier run
    /// (from the state file), ascending: they are not emitted again.
    skip: VecDeque<u64>,
    /// A line was emitted after the last one flagged end-of-stream. The
    /// end of the file ends the stream so that the host lets go of what
    /// a pre-processor holds of it (a partial frame): with `resume_from`
    /// the source waits for every ack before it ends, and the host would
    /// wait for the end before it acks the events of that frame.
    open_stream: bool,
}

/// What one read into the arena brought.
enum Read {
    /// At least one line was taken (emitted or skipped).
    Lines,
    /// Nothing left in the file.
    End,
    /// No whole line fits the arena left: the next one is copied instead.
    NoLine,
}

/// Reads into `buf` at `offset` until it is full or the file ends.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Nothing follows `offset` in the file (now).
fn at_eof(file: &File, offset: u64) -> io::Result<bool> {
    Ok(read_full_at(file, &mut [0u8; 1], offset)? == 0)
}

/// The index of the first `\n`; libc's memchr, which is vectorised (the
/// portable one in core is several times slower on ~100-byte lines).
fn find_newline(hay: &[u8]) -> Option<usize> {
    unsafe extern "C" {
        fn memchr(s: *const std::ffi::c_void, c: i32, n: usize) -> *mut std::ffi::c_void;
    }
    // SAFETY: memchr reads at most hay.len() bytes from hay.
    let p = unsafe { memchr(hay.as_ptr().cast(), i32::from(b'\n'), hay.len()) };
    (!p.is_null()).then(|| p as usize - hay.as_ptr() as usize)
}

/// Whether a pull's room took everything it was offered.
#[derive(PartialEq, Eq)]
enum Fill {
    Full,
    Done,
}

impl Reader {
    /// Offers the failed lines again, lowest offset first (they are the
    /// oldest). Once the file is read to its end, each ends the stream:
    /// no line follows it.
    fn replay_failed(&mut self, out: &mut BatchWriter<'_>, path: &str) -> Result<Fill> {
        while !out.is_full() {
            let Some((offset, len)) = self.window.next_retry() else {
                return Ok(Fill::Done);
            };
            self.replay_buf.resize(len as usize, 0);
            self.file
                .read_exact_at(&mut self.replay_buf, offset)
                .map_err(|e| {
                    Error::disconnected(format!("cannot read {path} again at {offset}: {e}"))
                })?;
            let content = self
                .replay_buf
                .strip_suffix(b"\n")
                .unwrap_or(&self.replay_buf);
            let last = self.at_end && !self.pending;
            let mut ev = OutEvent::bytes(offset, content);
            if last {
                ev = ev.end_stream();
            }
            if out.push(&ev).is_err() {
                return Ok(Fill::Full); // kept queued; NO_ROOM when it was first
            }
            self.open_stream = !last;
            self.window.reoffered(offset);
        }
        Ok(Fill::Full)
    }

    /// Reads and emits the next lines; the last line of the file ends the
    /// stream.
    fn read_lines(&mut self, out: &mut BatchWriter<'_>, path: &str) -> Result<Fill> {
        let read_err = |e: io::Error| Error::disconnected(format!("cannot read {path}: {e}"));
        while !out.is_full() {
            if self.pending {
                if !self.push_held(out).map_err(read_err)? {
                    // Does not fit: kept for the next pull (the PDK reports
                    // NO_ROOM with its size when nothing was written).
                    return Ok(Fill::Full);
                }
                continue;
            }
            if self.at_end {
                return Ok(Fill::Done);
            }
            match self.read_in_place(out).map_err(read_err)? {
                Read::Lines => {}
                Read::End => {
                    self.at_end = true;
                    return Ok(Fill::Done);
                }
                Read::NoLine => {
                    if !self.hold_next_line().map_err(read_err)? {
                        self.at_end = true;
                        return Ok(Fill::Done);
                    }
                }
            }
        }
        Ok(Fill::Full)
    }

    /// Reads the file at `offset` into the free bytes of the batch's arena
    /// and turns every whole line there into an event whose payload stays
    /// where it was read (one copy, by the kernel, and one memchr pass).
    fn read_in_place(&mut self, out: &mut BatchWriter<'_>) -> io::Result<Read> {
        let slots = out.remaining_events();
        let tail = out.tail();
        let want = match self.line_size {
            0 => tail.len(),
            // A little more than the slots need: the bytes after the last
            // line taken are read again by the next pull.
            size => (slots * size + slots * size / 16 + 256).min(tail.len()),
        };
        if want == 0 {
            return Ok(Read::NoLine);
        }
        let n = read_full_at(&self.file, &mut tail[..want], self.offset)?;
        if n == 0 {
            return Ok(Read::End);
        }
        let data = &tail[..n];
        // A short read is the end of the file; a full one that ends on a
        // line's end needs a look at the next byte.
        let eof = n < want;
        self.found.clear();
        let (mut pos, mut lines, mut last) = (0, 0, false);
        while self.found.len() < slots {
            let (end, next) = match find_newline(&data[pos..]) {
                Some(i) => (pos + i, pos + i + 1),
                None if eof && pos < n => (n, n), // a last line without \n
                None => break,
            };
            last = next == n && (eof || at_eof(&self.file, self.offset + n as u64)?);
            let id = self.offset + pos as u64;
            if !self.skip_acked(id) {
                self.found.push((pos, end - pos, last));
            }
            pos = next;
            lines += 1;
            if last {
                break;
            }
        }
        if pos == 0 {
            return Ok(Read::NoLine);
        }
        self.line_size = pos.div_ceil(lines);
        let base = out
            .append_tail(pos)
            .expect("the bytes were read into the tail");
        for &(start, len, end) in &self.found {
            let id = self.offset + start as u64;
            out.push_span(id, base + start as u64, len as u64, end)
                .expect("one event slot per line found");
            let next = self.found_next(start, len, pos);
            self.window.emitted(id, next as u64);
            self.open_stream = !end;
        }
        self.offset += pos as u64;
        self.at_end = last;
        Ok(Read::Lines)
    }

    /// The length of the found line at `start` with its `\n` (if any).
    fn found_next(&self, start: usize, len: usize, consumed: usize) -> usize {
        (len + 1).min(consumed - start)
    }

    /// A line acknowledged in an earlier run is not sent again.
    fn skip_acked(&mut self, id: u64) -> bool {
        while self.skip.front().is_some_and(|s| *s < id) {
            self.skip.pop_front();
        }
        if self.skip.front() == Some(&id) {
            self.skip.pop_front();
            return true;
        }
        false
    }

    /// Copies the line at `offset` out of the file, for a line longer than
    /// the arena left (pushed, or reported NO_ROOM, by `push_held`). False
    /// at the end of the file.
    fn hold_next_line(&mut self) -> io::Result<bool> {
        loop {
            self.line.clear();
            let mut chunk = [0u8; 64 << 10];
            loop {
                let at = self.offset + self.line.len() as u64;
                let n = read_full_at(&self.file, &mut chunk, at)?;
                match find_newline(&chunk[..n]) {
                    Some(i) => {
                        self.line.extend_from_slice(&chunk[..=i]);
                        break;
                    }
                    None => self.line.extend_from_slice(&chunk[..n]),
                }
                if n < chunk.len() {
                    break;
                }
            }
            if self.line.is_empty() {
                return Ok(false);
            }
            if self.skip_acked(self.offset) {
                self.offset += self.line.len() as u64;
                continue;
            }
            self.pending = true;
            return Ok(true);
        }
    }

    /// Pushes the held line (a copy); false when it does not fit.
    fn push_held(&mut self, out: &mut BatchWriter<'_>) -> io::Result<bool> {
        let len = self.line.len() as u64;
        let last = at_eof(&self.file, self.offset + len)?;
        let content = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
        let mut ev = OutEvent::bytes(self.offset, content);
        if last {
            ev = ev.end_stream();
        }
        if out.push(&ev).is_err() {
            return Ok(false);
        }
        self.pending = false;
        self.open_stream = !last;
        self.at_end = last;
        self.window.emitted(self.offset, len);
        self.offset += len;
        Ok(true)
    }

    /// The lowest offset not settled for good.
    fn low_water(&self) -> u64 {
        self.window.low_water(self.offset)
    }

    /// What the state file should say now.
    fn state(&self) -> State {
        let offset = self.low_water();
        let mut acked: Vec<u64> = self.window.done_above().collect();
        acked.extend(self.skip.iter().copied());
        acked.sort_unstable();
        acked.dedup();
        acked.retain(|a| *a > offset);
        State {
            dev: self.dev,
            ino: self.ino,
            offset,
            acked,
        }
    }
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
        self.reader.as_ref().map(Reader::low_water)
    }

    fn replay(&self) -> bool {
        self.resume_from.is_some()
    }

    /// Writes the resume state file when it changed and the last write is
    /// at least resume_interval_ms old; a failure is logged (the next
    /// attempt, or stop, tries again).
    fn save_state_if_due(&mut self) {
        let due = self
            .saved_at
            .is_none_or(|t| t.elapsed() >= self.resume_interval);
        if self.dirty && due {
            if let Err(e) = self.save_state() {
                self.host.warn(e.message());
                self.saved_at = Some(Instant::now()); // not again right away
            }
        }
    }

    /// Writes the resume state file (when configured and changed).
    fn save_state(&mut self) -> Result<()> {
        let (Some(path), Some(r)) = (self.resume_from.as_ref(), self.reader.as_ref()) else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        let state = r.state();
        state.save(path).map_err(|e| {
            Error::failed(format!(
                "cannot write the resume state {}: {e}",
                path.display()
            ))
        })?;
        self.dirty = false;
        self.saved_at = Some(Instant::now());
        self.host.debug(&format!(
            "resume state of {} saved: offset {} ({} acked above it)",
            self.path_str(),
            state.offset,
            state.acked.len()
        ));
        Ok(())
    }

    /// Where to start reading: the state file's offset and the lines above
    /// it acked already, when it describes this file.
    fn resume_point(&self, file: &File) -> Result<(u64, VecDeque<u64>)> {
        let Some(state_path) = self.resume_from.as_ref() else {
            return Ok((0, VecDeque::new()));
        };
        let shown = state_path.display();
        let state = match State::load(state_path) {
            Ok(None) => {
                self.host.info(&format!(
                    "no resume state {shown} yet: reading {} from the start",
                    self.path_str()
                ));
                return Ok((0, VecDeque::new()));
            }
            Ok(Some(Ok(s))) => s,
            Ok(Some(Err(msg))) => {
                return Err(Error::config(format!(
                    "the resume state {shown} is not valid ({msg}); fix it, or delete it to read {} from the start",
                    self.path_str()
                )));
            }
            Err(e) => {
                return Err(Error::failed(format!(
                    "cannot read the resume state {shown}: {e}"
                )));
            }
        };
        let meta = file
            .metadata()
            .map_err(|e| self.io_error("cannot stat", &e))?;
        if (state.dev, state.ino) != (meta.dev(), meta.ino()) {
            self.host.warn(&format!(
                "the resume state {shown} was written for another file (device {}, inode {}) than {} (device {}, inode {}): reading it from the start",
                state.dev,
                state.ino,
                self.path_str(),
                meta.dev(),
                meta.ino()
            ));
            return Ok((0, VecDeque::new()));
        }
        if state.offset > meta.len() {
            self.host.warn(&format!(
                "{} is shorter ({} bytes) than the resume offset {} in {shown}: it was truncated; reading it from the start",
                self.path_str(),
                meta.len(),
                state.offset
            ));
            return Ok((0, VecDeque::new()));
        }
        self.host.info(&format!(
            "resuming {} at byte offset {} ({} line(s) above it acked already)",
            self.path_str(),
            state.offset,
            state.acked.len()
        ));
        Ok((state.offset, state.acked.into_iter().collect()))
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
        let resume_from = match args.config.opt_str("resume_from")? {
            None | Some("") => None,
            Some(p) if mode == Mode::Read => Some(PathBuf::from(p)),
            Some(_) => {
                return Err(Error::config(format!(
                    "config field `resume_from` only applies to mode \"read\", not \"{}\"",
                    mode.name()
                )));
            }
        };
        let interval_ms = args.config.opt_u64("resume_interval_ms")?.unwrap_or(1000);
        if interval_ms > 24 * 3_600_000 {
            return Err(Error::config(format!(
                "config field `resume_interval_ms` must be at most a day (86400000), not {interval_ms}"
            )));
        }
        Ok(FileConnector {
            host: args.host,
            path: PathBuf::from(path),
            mode,
            reader: None,
            writer: None,
            truncated: false,
            resume_from,
            resume_interval: Duration::from_millis(interval_ms),
            dirty: false,
            saved_at: None,
        })
    }

    fn connect(&mut self, _attempt: u32) -> Result<Connection> {
        match self.mode {
            Mode::Read => {
                let mut file =
                    File::open(&self.path).map_err(|e| self.io_error("cannot open", &e))?;
                if file.metadata().is_ok_and(|m| m.is_dir()) {
                    return Err(Error::config(format!(
                        "{} is a directory, not a file",
                        self.path_str()
                    )));
                }
                let meta = file
                    .metadata()
                    .map_err(|e| self.io_error("cannot stat", &e))?;
                // Reconnecting resumes where the last connection stopped
                // (a line held back is read again); the first connect where
                // the state file says.
                let (offset, skip) = match self.reader.as_ref() {
                    Some(r) => (r.offset, VecDeque::new()),
                    None => self.resume_point(&file)?,
                };
                // Reads are preads at the reader's offset; the seek only
                // refuses a file that cannot be read at an offset (a pipe).
                file.seek(SeekFrom::Start(offset))
                    .map_err(|e| self.io_error("cannot seek in", &e))?;
                match self.reader.as_mut() {
                    Some(r) => {
                        r.file = file;
                        r.dev = meta.dev();
                        r.ino = meta.ino();
                        r.pending = false;
                        r.at_end = false;
                    }
                    None => {
                        self.reader = Some(Reader {
                            file,
                            dev: meta.dev(),
                            ino: meta.ino(),
                            offset,
                            line: Vec::new(),
                            pending: false,
                            found: Vec::new(),
                            line_size: 0,
                            replay_buf: Vec::new(),
                            at_end: false,
                            window: Window::default(),
                            skip,
                            open_stream: false,
                        });
                    }
                }
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

    fn start(&mut self) -> Result<()> {
        // The resume point is read again at start: a live upgrade connects
        // the new instance while the old one still reads and acks, and
        // starts it once the old one has stopped and saved its state.
        if self.mode == Mode::Read && self.resume_from.is_some() {
            if let Some(r) = self.reader.take() {
                let (offset, skip) = self.resume_point(&r.file)?;
                self.reader = Some(Reader {
                    offset,
                    skip,
                    pending: false,
                    ..r
                });
            }
        }
        Ok(())
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
        self.dirty = true; // always leave a state file behind
        let saved = self.save_state();
        let r = self.sync();
        self.writer = None;
        self.reader = None;
        saved.and(r)
    }
}

/// An instance destroyed without on_stop (say after an error) still
/// leaves its resume state behind.
impl Drop for FileConnector {
    fn drop(&mut self) {
        if self.reader.is_some() && self.resume_from.is_some() {
            self.dirty = true;
            if let Err(e) = self.save_state() {
                self.host.error(e.message());
            }
        }
    }
}

impl Source for FileConnector {
    fn pull(&mut self, out: &mut BatchWriter<'_>, wait: Duration) -> Result<Pull> {
        if self.mode != Mode::Read {
            return Err(Error::unsupported(format!(
                "the file connector for {} is a sink (mode \"{}\"): it produces no events; use mode \"read\" to read the file",
                self.path_str(),
                self.mode.name()
            )));
        }
        let replay = self.replay();
        if replay {
            // Acks that moved the mark since the last write, written out
            // even when no further ack comes.
            self.save_state_if_due();
        }
        let path = self.path_str();
        let Some(r) = self.reader.as_mut() else {
            return Err(Error::disconnected(format!(
                "{path} is not open: connect first"
            )));
        };
        let before = r.offset;
        let full =
            r.replay_failed(out, &path)? == Fill::Full || r.read_lines(out, &path)? == Fill::Full;
        if r.offset != before {
            // ABI 1.1 metrics (nothing on a 1.0 host), once per pull.
            self.host.counter_add(
                "file_bytes_read_total",
                "Bytes read from the file (lines skipped on resume included).",
                r.offset - before,
                &[],
            );
            self.host.gauge_set(
                "file_offset",
                "The byte offset reading has reached in the file.",
                r.offset as i64,
                &[],
            );
        }
        if full {
            return Ok(Pull::More);
        }
        if r.at_end && !r.pending && r.open_stream {
            // Lines skipped after the last one emitted: the end of the
            // stream gets an empty marker of its own (id: the end of file,
            // where no line starts).
            if out.end_stream(r.offset, 0).is_err() {
                return Ok(Pull::More);
            }
            r.open_stream = false;
        }
        if !r.at_end || r.pending {
            return Ok(Pull::More);
        }
        if !replay || r.window.is_empty() {
            return Ok(Pull::End);
        }
        // Every line is read; some are not acknowledged yet and may fail
        // and need a replay: wait for their outcome.
        if out.is_empty() && r.window.next_retry().is_none() {
            std::thread::sleep(wait.min(ACK_POLL));
        }
        Ok(Pull::More)
    }

    fn ack(&mut self, ids: &[u64]) -> Result<()> {
        let Some(r) = self.reader.as_mut() else {
            return Ok(());
        };
        let before = r.low_water();
        let mut changed = false;
        for id in ids {
            changed |= r.window.ack(*id);
        }
        if changed && self.resume_from.is_some() {
            // The state changes with every ack (the acked set above the
            // mark), but only a moved mark is worth writing out early;
            // pull writes the rest once it is due.
            self.dirty = true;
            if r.low_water() != before {
                self.save_state_if_due();
            }
        }
        Ok(())
    }

    fn fail(&mut self, ids: &[u64]) -> Result<()> {
        let replay = self.replay();
        if let Some(r) = self.reader.as_mut() {
            for id in ids {
                r.window.fail(*id, replay);
            }
        }
        if replay {
            self.dirty = true;
            self.host.debug(&format!(
                "{} line(s) of {} failed downstream and will be offered again (byte offsets {:?})",
                ids.len(),
                self.path_str(),
                ids
            ));
        } else {
            // Without a resume state there is no replay: say what was lost.
            self.host.warn(&format!(
                "{} line(s) of {} were not delivered and are dropped (byte offsets {:?})",
                ids.len(),
                self.path_str(),
                ids
            ));
        }
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
            description: "Source (mode read): one event per line, id = byte offset of the line; with resume_from, an ack advances the recorded offset and a failed line is read again, without it a fail is logged and the line dropped. Sink (mode write/append): one line per event; ack = the batch was written to the OS (not fsynced: drain and stop sync to disk).",
            kinds: [source, sink],
            payload: bytes,
            fields: [
                { name: "path", type: string, flags: [required], doc: "the file to read or write" },
                { name: "mode", type: string, default_json: r#""read""#, doc: "read, write (truncate) or append" },
                { name: "resume_from", type: string, doc: "source only: a state file holding the lowest unacknowledged offset; reading resumes there, failed lines are replayed" },
                { name: "resume_interval_ms", type: uint, default_json: "1000", doc: "with resume_from: write the state file after acks at most this often (it is always written on stop)" },
            ],
        },
    ],
}
