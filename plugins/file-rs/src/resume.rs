//! Delivery tracking for the file source, and the state file that lets a
//! later run resume from the acknowledged offsets (`resume_from`).
//!
//! Every line the source emits is identified by the byte offset where it
//! starts (its event id). [`Window`] keeps the lines emitted and not yet
//! settled, in offset order: the first one is the lowest unacknowledged
//! offset, where a restart has to resume. Lines acknowledged above it are
//! remembered too, so that a restart does not read them again.
//!
//! The state file is small text, replaced atomically (written to
//! `<path>.tmp`, synced, renamed):
//!
//! ```text
//! # tremor file source: resume state (lines before `offset` are acknowledged)
//! version 1
//! file <st_dev> <st_ino>
//! offset <lowest unacknowledged byte offset>
//! acked <offset> <offset> ...
//! ```
//!
//! `file` identifies the file the offsets belong to: a state file written
//! for another file (the path was replaced, say by log rotation) is not
//! applied. `acked` lists lines above `offset` that were acknowledged (or
//! dropped) already; it is absent when there are none.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Where a line emitted by the source is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// Emitted; neither acked nor failed yet.
    InFlight,
    /// Acked (or, without replay, failed and dropped): settled for good.
    Done,
    /// Failed: waiting in the retry queue to be offered again.
    Failed,
}

#[derive(Debug, Clone, Copy)]
struct Line {
    offset: u64,
    len: u64,
    state: LineState,
}

/// The lines emitted and not settled for good, in offset order, and the
/// failed ones waiting to be offered again. Allocation-free once its
/// buffers have grown to the number of lines in flight.
#[derive(Debug, Default)]
pub struct Window {
    lines: VecDeque<Line>,
    retry: BinaryHeap<Reverse<u64>>,
}

impl Window {
    /// A new line was emitted; its offset is above every line's here.
    pub fn emitted(&mut self, offset: u64, len: u64) {
        debug_assert!(self.lines.back().is_none_or(|l| l.offset < offset));
        self.lines.push_back(Line {
            offset,
            len,
            state: LineState::InFlight,
        });
    }

    fn find(&mut self, offset: u64) -> Option<&mut Line> {
        // The host settles events in id order: the line is nearly always
        // the first one, found without a search.
        if self.lines.front().is_some_and(|l| l.offset == offset) {
            return self.lines.front_mut();
        }
        let i = self
            .lines
            .binary_search_by_key(&offset, |l| l.offset)
            .ok()?;
        self.lines.get_mut(i)
    }

    /// The line at `offset` was delivered. False when no line in flight
    /// starts there (a stale or unknown id).
    pub fn ack(&mut self, offset: u64) -> bool {
        match self.find(offset) {
            Some(l) if l.state == LineState::InFlight => {
                l.state = LineState::Done;
                self.trim();
                true
            }
            _ => false,
        }
    }

    /// The line at `offset` will not be delivered: with `replay` it is
    /// queued to be offered again, without it is settled (dropped).
    pub fn fail(&mut self, offset: u64, replay: bool) -> bool {
        match self.find(offset) {
            Some(l) if l.state == LineState::InFlight => {
                if replay {
                    l.state = LineState::Failed;
                    self.retry.push(Reverse(offset));
                } else {
                    l.state = LineState::Done;
                    self.trim();
                }
                true
            }
            _ => false,
        }
    }

    /// Drops settled lines from the front.
    fn trim(&mut self) {
        while self
            .lines
            .front()
            .is_some_and(|l| l.state == LineState::Done)
        {
            self.lines.pop_front();
        }
    }

    /// The failed line to offer again first (the lowest offset): its offset
    /// and length.
    pub fn next_retry(&mut self) -> Option<(u64, u64)> {
        let Reverse(offset) = *self.retry.peek()?;
        let len = self.find(offset).map(|l| l.len)?;
        Some((offset, len))
    }

    /// The line from `next_retry` was emitted again.
    pub fn reoffered(&mut self, offset: u64) {
        if self.retry.peek() == Some(&Reverse(offset)) {
            self.retry.pop();
        }
        if let Some(l) = self.find(offset) {
            l.state = LineState::InFlight;
        }
    }

    /// The lowest offset not settled for good, or `next` (the offset of the
    /// next line to read) when every line is.
    pub fn low_water(&self, next: u64) -> u64 {
        self.lines.front().map_or(next, |l| l.offset)
    }

    /// Lines settled above the low-water mark, in order.
    pub fn done_above(&self) -> impl Iterator<Item = u64> + '_ {
        self.lines
            .iter()
            .filter(|l| l.state == LineState::Done)
            .map(|l| l.offset)
    }

    /// No line is waiting for an ack, a fail or a replay.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Lines in flight or waiting for a replay.
    pub fn unsettled(&self) -> usize {
        self.lines
            .iter()
            .filter(|l| l.state != LineState::Done)
            .count()
    }
}

/// The content of a state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// st_dev and st_ino of the file the offsets belong to.
    pub dev: u64,
    pub ino: u64,
    /// The lowest unacknowledged offset: every line before it is acked.
    pub offset: u64,
    /// Offsets above `offset` of lines acked already, ascending.
    pub acked: Vec<u64>,
}

impl State {
    /// Parses a state file's text; the error says what is wrong.
    pub fn parse(text: &str) -> std::result::Result<State, String> {
        let (mut version, mut file, mut offset, mut acked) = (None, None, None, Vec::new());
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_ascii_whitespace();
            let key = words.next().unwrap_or_default();
            let mut num = |what: &str| -> std::result::Result<u64, String> {
                words
                    .next()
                    .ok_or_else(|| format!("line {}: `{key}` needs {what}", n + 1))?
                    .parse::<u64>()
                    .map_err(|e| format!("line {}: {what}: {e}", n + 1))
            };
            match key {
                "version" => version = Some(num("a version number")?),
                "file" => file = Some((num("a device number")?, num("an inode number")?)),
                "offset" => offset = Some(num("a byte offset")?),
                "acked" => {
                    for w in words.by_ref() {
                        acked.push(
                            w.parse::<u64>()
                                .map_err(|e| format!("line {}: acked offset {w:?}: {e}", n + 1))?,
                        );
                    }
                }
                other => return Err(format!("line {}: unknown key {other:?}", n + 1)),
            }
            if key != "acked" && words.next().is_some() {
                return Err(format!("line {}: too many values for `{key}`", n + 1));
            }
        }
        match version {
            Some(1) => {}
            Some(v) => return Err(format!("version {v} is not supported (only 1)")),
            None => return Err("no `version` line".into()),
        }
        let (dev, ino) = file.ok_or("no `file` line")?;
        let offset = offset.ok_or("no `offset` line")?;
        acked.sort_unstable();
        acked.dedup();
        acked.retain(|a| *a >= offset);
        Ok(State {
            dev,
            ino,
            offset,
            acked,
        })
    }

    /// The state file's text.
    pub fn render(&self) -> String {
        let mut s = format!(
            "# tremor file source: resume state (lines before `offset` are acknowledged)\nversion 1\nfile {} {}\noffset {}\n",
            self.dev, self.ino, self.offset
        );
        if !self.acked.is_empty() {
            s.push_str("acked");
            for a in &self.acked {
                s.push(' ');
                s.push_str(&a.to_string());
            }
            s.push('\n');
        }
        s
    }

    /// Reads a state file; Ok(None) when there is none.
    pub fn load(path: &Path) -> io::Result<Option<std::result::Result<State, String>>> {
        match fs::read_to_string(path) {
            Ok(text) => Ok(Some(State::parse(&text))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the state file atomically: a reader (or a crash) sees the
    /// old state or the new one, never a mix.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = Path::new(&tmp);
        let mut f = fs::File::create(tmp)?;
        f.write_all(self.render().as_bytes())?;
        f.sync_data()?;
        drop(f);
        fs::rename(tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_tracks_the_lowest_unacked_offset() {
        let mut w = Window::default();
        assert_eq!(w.low_water(0), 0);
        w.emitted(0, 2);
        w.emitted(2, 3);
        w.emitted(5, 1);
        assert_eq!(w.low_water(6), 0);
        assert!(w.ack(2));
        assert!(!w.ack(2), "settled once");
        assert!(!w.ack(3), "no line starts there");
        assert_eq!(w.low_water(6), 0);
        assert_eq!(w.done_above().collect::<Vec<_>>(), [2]);
        assert!(w.ack(0));
        assert_eq!(w.low_water(6), 5);
        assert_eq!(w.done_above().count(), 0);
        assert!(w.ack(5));
        assert!(w.is_empty());
        assert_eq!(w.low_water(6), 6);
    }

    #[test]
    fn failed_lines_are_replayed_in_offset_order() {
        let mut w = Window::default();
        for (o, l) in [(0, 2), (2, 2), (4, 2), (6, 2)] {
            w.emitted(o, l);
        }
        assert!(w.fail(4, true));
        assert!(w.fail(0, true));
        assert!(w.ack(2));
        assert_eq!(w.unsettled(), 3);
        assert_eq!(w.next_retry(), Some((0, 2)));
        w.reoffered(0);
        assert_eq!(w.next_retry(), Some((4, 2)));
        w.reoffered(4);
        assert_eq!(w.next_retry(), None);
        assert_eq!(w.low_water(8), 0);
        assert!(w.ack(0));
        assert_eq!(w.low_water(8), 4);
        assert!(w.ack(4));
        assert!(w.ack(6));
        assert!(w.is_empty());
    }

    #[test]
    fn without_replay_a_fail_settles_the_line() {
        let mut w = Window::default();
        w.emitted(0, 1);
        w.emitted(1, 1);
        assert!(w.fail(0, false));
        assert_eq!(w.next_retry(), None);
        assert_eq!(w.low_water(2), 1);
    }

    #[test]
    fn state_round_trips_and_rejects_garbage() {
        let s = State {
            dev: 2049,
            ino: 77,
            offset: 120,
            acked: vec![130, 150],
        };
        assert_eq!(State::parse(&s.render()), Ok(s.clone()));
        let none = State {
            acked: vec![],
            ..s.clone()
        };
        assert!(!none.render().contains("acked"));
        assert_eq!(State::parse(&none.render()), Ok(none));
        // acked entries below the offset are meaningless and dropped
        let t = State::parse("version 1\nfile 1 2\noffset 10\nacked 12 5 12\n").unwrap();
        assert_eq!(t.acked, [12]);
        for bad in [
            "",
            "version 2\nfile 1 2\noffset 0\n",
            "version 1\noffset 0\n",
            "version 1\nfile 1 2\n",
            "version 1\nfile 1\noffset 0\n",
            "version 1\nfile 1 2\noffset -3\n",
            "version 1\nfile 1 2\noffset 3 4\n",
            "version 1\nfile 1 2\noffset 3\nacked x\n",
            "version 1\nfile 1 2\noffset 3\nspeed 9\n",
        ] {
            assert!(State::parse(bad).is_err(), "{bad:?}");
        }
    }
}
