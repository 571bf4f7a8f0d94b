//! Safe views of the host's batches: [`BatchWriter`] fills the room given to
//! `on_pull`, [`BatchReader`] reads the batch given to `on_send`. Both borrow
//! host memory for exactly the duration of the hook call.

use crate::error::{Error, ErrorCode};
use crate::raw;
use crate::value::{self, Arena, Value, ValueRef};
use std::fmt;
use std::marker::PhantomData;

/// The port an event is emitted on (TREMOR_PORT_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Port(pub u32);

impl Port {
    /// TREMOR_PORT_OUT: regular output.
    pub const OUT: Port = Port(raw::TREMOR_PORT_OUT);
    /// TREMOR_PORT_ERR: error output.
    pub const ERR: Port = Port(raw::TREMOR_PORT_ERR);
}

/// A sink's verdict on one event (TREMOR_OUTCOME_*).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Delivered: the source gets an ack.
    Ok = raw::TREMOR_OUTCOME_OK,
    /// Not delivered and will not be: the source gets a fail.
    Failed = raw::TREMOR_OUTCOME_FAILED,
    /// Not delivered now: the host sends it again later.
    Retry = raw::TREMOR_OUTCOME_RETRY,
}

/// Returned by [`BatchWriter`] when an event does not fit the room that is
/// left. Carries what the event needs; when the very first event of a pull
/// does not fit, the PDK reports these numbers to the host with
/// TREMOR_ERR_NO_ROOM so it can grow the room and pull again.
///
/// Returning it from `pull` (e.g. with `?`) means "the batch is full": the
/// events already written are delivered. Either way, the plugin keeps the
/// event that did not fit and offers it again on the next pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRoom {
    /// Arena bytes the event needs (payload, metadata strings and keys).
    pub bytes_needed: u64,
    /// Value nodes the event needs (structured payload and metadata).
    pub values_needed: u64,
}

impl fmt::Display for NoRoom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the event does not fit the room left ({} bytes and {} value nodes needed)",
            self.bytes_needed, self.values_needed
        )
    }
}

impl std::error::Error for NoRoom {}

impl From<NoRoom> for Error {
    fn from(n: NoRoom) -> Error {
        Error::new(ErrorCode::NoRoom, n.to_string())
    }
}

/// The payload of an event to emit.
#[derive(Debug, Clone, Copy)]
pub enum OutPayload<'v> {
    /// Raw bytes, to be decoded by the connector's codec.
    Bytes(&'v [u8]),
    /// A structured value (TREMOR_EVENT_STRUCTURED).
    Value(&'v Value),
}

/// An event to emit from `pull`, with everything the header allows.
/// Built with [`OutEvent::bytes`] or [`OutEvent::value`] and the builder
/// methods.
#[derive(Debug, Clone, Copy)]
pub struct OutEvent<'v> {
    pub id: u64,
    pub stream: u64,
    /// ns since the Unix epoch; 0 lets the host stamp it.
    pub ingest_ns: u64,
    pub port: Port,
    pub payload: OutPayload<'v>,
    pub meta: Option<&'v Value>,
    /// The last event of its stream (TREMOR_EVENT_END_STREAM): the host
    /// flushes what it holds for the stream, such as a partial frame of a
    /// pre-processor.
    pub end_stream: bool,
}

impl<'v> OutEvent<'v> {
    pub fn bytes(id: u64, data: &'v [u8]) -> Self {
        OutEvent {
            id,
            stream: 0,
            ingest_ns: 0,
            port: Port::OUT,
            payload: OutPayload::Bytes(data),
            meta: None,
            end_stream: false,
        }
    }
    pub fn value(id: u64, value: &'v Value) -> Self {
        OutEvent {
            id,
            stream: 0,
            ingest_ns: 0,
            port: Port::OUT,
            payload: OutPayload::Value(value),
            meta: None,
            end_stream: false,
        }
    }
    #[must_use]
    pub fn port(mut self, port: Port) -> Self {
        self.port = port;
        self
    }
    #[must_use]
    pub fn stream(mut self, stream: u64) -> Self {
        self.stream = stream;
        self
    }
    #[must_use]
    pub fn ingest_ns(mut self, ns: u64) -> Self {
        self.ingest_ns = ns;
        self
    }
    #[must_use]
    pub fn meta(mut self, meta: &'v Value) -> Self {
        self.meta = Some(meta);
        self
    }
    /// Marks the event as the last of its stream (TREMOR_EVENT_END_STREAM).
    #[must_use]
    pub fn end_stream(mut self) -> Self {
        self.end_stream = true;
        self
    }

    /// (bytes, value nodes) this event needs in the arenas.
    pub fn needs(&self) -> NoRoom {
        let (mut values, mut bytes) = match self.payload {
            OutPayload::Bytes(b) => (0, b.len() as u64),
            OutPayload::Value(v) => v.encoded_size(),
        };
        if let Some(m) = self.meta {
            let (mv, mb) = m.encoded_size();
            values += mv;
            bytes += mb;
        }
        NoRoom {
            bytes_needed: bytes,
            values_needed: values,
        }
    }
}

/// Capacity of a host array, as usize, if it can back a Rust allocation.
fn cap_of<T>(cap: u64, what: &str) -> Result<usize, Error> {
    usize::try_from(cap)
        .ok()
        .filter(|c| {
            c.checked_mul(size_of::<T>().max(1))
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or_else(|| Error::invalid(format!("{what} {cap} is too large")))
}

fn check_array<T>(ptr: *const T, len: u64, cap: u64, what: &str) -> Result<(), Error> {
    if len > cap {
        return Err(Error::invalid(format!(
            "{what}_len {len} is larger than {what}_cap {cap}"
        )));
    }
    cap_of::<T>(cap, &format!("{what}_cap"))?;
    if cap > 0 && ptr.is_null() {
        return Err(Error::invalid(format!(
            "{what} is NULL but {what}_cap is {cap}"
        )));
    }
    if !ptr.is_null() && !ptr.is_aligned() {
        return Err(Error::invalid(format!("{what} is not aligned")));
    }
    Ok(())
}

/// Fills the room the host passed to `on_pull`. Appends events with their
/// payloads and metadata, never beyond a capacity, and keeps the batch's
/// `*_len` fields up to date after every event.
pub struct BatchWriter<'a> {
    room: *mut raw::tremor_batch,
    events_cap: u64,
    values_cap: u64,
    bytes_cap: u64,
    first_no_room: Option<NoRoom>,
    _room: PhantomData<&'a mut raw::tremor_batch>,
}

impl<'a> BatchWriter<'a> {
    /// Checks a room from the host: NULL, `struct_size`, non-zero lengths on
    /// entry, NULL or misaligned arrays, lengths beyond capacities.
    ///
    /// # Safety
    /// `room` is NULL or points to a `tremor_batch` whose arrays are valid
    /// for writes up to their capacities, exclusively for `'a`.
    pub(crate) unsafe fn from_raw(room: *mut raw::tremor_batch) -> Result<Self, Error> {
        if room.is_null() {
            return Err(Error::invalid("room is NULL"));
        }
        // SAFETY: non-NULL; we read only the struct_size field first.
        let struct_size = unsafe { (*room).struct_size } as usize;
        if struct_size < size_of::<raw::tremor_batch>() {
            return Err(Error::invalid(format!(
                "room struct_size {struct_size} is smaller than the {} bytes of an ABI 1.0 tremor_batch",
                size_of::<raw::tremor_batch>()
            )));
        }
        // SAFETY: struct_size says the whole 1.0 struct is there.
        let b = unsafe { &*room };
        if b.events_len != 0 || b.values_len != 0 || b.bytes_len != 0 {
            return Err(Error::invalid(format!(
                "room is not empty on entry (events_len {}, values_len {}, bytes_len {})",
                b.events_len, b.values_len, b.bytes_len
            )));
        }
        check_array(b.events, b.events_len, b.events_cap, "events")?;
        check_array(b.values, b.values_len, b.values_cap, "values")?;
        check_array(b.bytes, b.bytes_len, b.bytes_cap, "bytes")?;
        if b.events_cap == 0 {
            return Err(Error::invalid(
                "room has events_cap 0: not even one event can be written",
            ));
        }
        Ok(BatchWriter {
            room,
            events_cap: b.events_cap,
            values_cap: b.values_cap,
            bytes_cap: b.bytes_cap,
            first_no_room: None,
            _room: PhantomData,
        })
    }

    fn batch(&self) -> &raw::tremor_batch {
        // SAFETY: checked in from_raw, exclusively ours for 'a.
        unsafe { &*self.room }
    }

    fn batch_mut(&mut self) -> &mut raw::tremor_batch {
        // SAFETY: as above.
        unsafe { &mut *self.room }
    }

    /// Events written so far.
    pub fn len(&self) -> usize {
        self.batch().events_len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Event slots left.
    pub fn remaining_events(&self) -> usize {
        (self.events_cap - self.batch().events_len) as usize
    }

    /// Arena bytes left.
    pub fn remaining_bytes(&self) -> u64 {
        self.bytes_cap - self.batch().bytes_len
    }

    /// Value nodes left.
    pub fn remaining_values(&self) -> u64 {
        self.values_cap - self.batch().values_len
    }

    /// True when no further event can be written.
    pub fn is_full(&self) -> bool {
        self.remaining_events() == 0
    }

    /// Appends an event with a raw byte payload on port OUT.
    pub fn push_bytes(&mut self, id: u64, data: &[u8]) -> Result<(), NoRoom> {
        self.push(&OutEvent::bytes(id, data))
    }

    /// Appends an event with a structured payload on port OUT.
    pub fn push_value(&mut self, id: u64, value: &Value) -> Result<(), NoRoom> {
        self.push(&OutEvent::value(id, value))
    }

    /// Appends an empty event that ends `stream` (TREMOR_EVENT_END_STREAM),
    /// for a source that learns its stream ended after it emitted the last
    /// data: the host then flushes what it holds for the stream. The host
    /// settles the marker like any event, so `id` comes back in an ack.
    pub fn end_stream(&mut self, id: u64, stream: u64) -> Result<(), NoRoom> {
        self.push(&OutEvent::bytes(id, &[]).stream(stream).end_stream())
    }

    /// The arena bytes not written yet, for a source that reads or builds
    /// payloads in place instead of copying them from a buffer of its own:
    /// write there, [`append_tail`](Self::append_tail) what is used, and
    /// point events at it with [`push_span`](Self::push_span). What is
    /// written here but not appended is not part of the batch.
    pub fn tail(&mut self) -> &mut [u8] {
        let b = self.batch_mut();
        let len = (b.bytes_cap - b.bytes_len) as usize;
        if len == 0 {
            return &mut [];
        }
        // SAFETY: the arena is valid for bytes_cap bytes (checked in
        // from_raw) and exclusively ours for 'a; the borrow of self keeps
        // every other write to it out while the slice lives.
        unsafe { std::slice::from_raw_parts_mut(b.bytes.add(b.bytes_len as usize), len) }
    }

    /// Appends the first `n` bytes of [`tail`](Self::tail) to the batch and
    /// returns the arena offset where they start.
    pub fn append_tail(&mut self, n: usize) -> Result<u64, NoRoom> {
        if n as u64 > self.remaining_bytes() {
            return Err(NoRoom {
                bytes_needed: n as u64,
                values_needed: 0,
            });
        }
        let b = self.batch_mut();
        let offset = b.bytes_len;
        b.bytes_len += n as u64;
        Ok(offset)
    }

    /// Appends an event on port OUT, stream 0, whose raw payload is `len`
    /// bytes at arena `offset`, appended already (see
    /// [`append_tail`](Self::append_tail)); with `end_stream` it ends the
    /// stream. Fails only when no event slot is left.
    ///
    /// # Panics
    /// When the span is not inside the bytes appended so far.
    pub fn push_span(
        &mut self,
        id: u64,
        offset: u64,
        len: u64,
        end_stream: bool,
    ) -> Result<(), NoRoom> {
        let written = self.batch().bytes_len;
        assert!(
            offset <= written && len <= written - offset,
            "push_span: span {offset}+{len} is outside the {written} bytes appended"
        );
        if self.remaining_events() == 0 {
            let needs = NoRoom {
                bytes_needed: 0,
                values_needed: 0,
            };
            self.first_no_room.get_or_insert(needs);
            return Err(needs);
        }
        let ev = raw::tremor_event {
            id,
            stream: 0,
            ingest_ns: 0,
            port: raw::TREMOR_PORT_OUT,
            flags: if end_stream {
                raw::TREMOR_EVENT_END_STREAM
            } else {
                0
            },
            payload: raw::tremor_span { offset, len },
            meta: raw::tremor_span::default(),
        };
        let b = self.batch_mut();
        // SAFETY: events_len < events_cap (checked above) and the array is
        // valid for events_cap writes.
        unsafe { b.events.add(b.events_len as usize).write(ev) };
        b.events_len += 1;
        Ok(())
    }

    /// Appends an event. Either the whole event is written or nothing is.
    pub fn push(&mut self, event: &OutEvent<'_>) -> Result<(), NoRoom> {
        let needs = event.needs();
        let fits = self.remaining_events() > 0
            && needs.bytes_needed <= self.remaining_bytes()
            && needs.values_needed <= self.remaining_values();
        if !fits {
            self.first_no_room.get_or_insert(needs);
            return Err(needs);
        }
        let (flags, payload) = match event.payload {
            OutPayload::Bytes(b) => {
                let offset = self.push_bytes_raw(b);
                (
                    0,
                    raw::tremor_span {
                        offset,
                        len: b.len() as u64,
                    },
                )
            }
            OutPayload::Value(v) => {
                let root = value::encode(self, v);
                let len = self.batch().values_len - root;
                (
                    raw::TREMOR_EVENT_STRUCTURED,
                    raw::tremor_span { offset: root, len },
                )
            }
        };
        let meta = match event.meta {
            Some(m) => {
                let root = value::encode(self, m);
                raw::tremor_span {
                    offset: root,
                    len: self.batch().values_len - root,
                }
            }
            None => raw::tremor_span::default(),
        };
        let end = if event.end_stream {
            raw::TREMOR_EVENT_END_STREAM
        } else {
            0
        };
        let ev = raw::tremor_event {
            id: event.id,
            stream: event.stream,
            ingest_ns: event.ingest_ns,
            port: event.port.0,
            flags: flags | end,
            payload,
            meta,
        };
        let b = self.batch_mut();
        // SAFETY: events_len < events_cap (checked above) and the array is
        // valid for events_cap writes.
        unsafe { b.events.add(b.events_len as usize).write(ev) };
        b.events_len += 1;
        Ok(())
    }

    fn push_bytes_raw(&mut self, data: &[u8]) -> u64 {
        let b = self.batch_mut();
        let offset = b.bytes_len;
        if !data.is_empty() {
            // SAFETY: the room was checked by the caller; the host's arena
            // is valid for bytes_cap bytes and cannot overlap `data`, which
            // the plugin owns.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    data.as_ptr(),
                    b.bytes.add(offset as usize),
                    data.len(),
                )
            };
        }
        b.bytes_len += data.len() as u64;
        offset
    }

    /// The needs of the first event that did not fit, if any.
    pub(crate) fn first_no_room(&self) -> Option<NoRoom> {
        self.first_no_room
    }

    pub(crate) fn set_needed(&mut self, n: NoRoom) {
        let b = self.batch_mut();
        b.bytes_needed = n.bytes_needed;
        b.values_needed = n.values_needed;
    }
}

impl Arena for BatchWriter<'_> {
    fn push_node(&mut self, node: raw::tremor_value) -> u64 {
        let b = self.batch_mut();
        let index = b.values_len;
        // SAFETY: the caller checked values_needed against the room left.
        unsafe { b.values.add(index as usize).write(node) };
        b.values_len += 1;
        index
    }
    fn set_descendants(&mut self, index: u64, descendants: u64) {
        let b = self.batch_mut();
        // SAFETY: index < values_len, written by push_node.
        unsafe { (*b.values.add(index as usize)).as_.descendants = descendants };
    }
    fn nodes_len(&self) -> u64 {
        self.batch().values_len
    }
    fn push_bytes(&mut self, bytes: &[u8]) -> u64 {
        self.push_bytes_raw(bytes)
    }
}

/// The payload of a received event.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// Raw bytes (the host ran the codec and post-processors).
    Bytes(&'a [u8]),
    /// A structured value (connectors with TREMOR_PAYLOAD_STRUCTURED).
    Value(ValueRef<'a>),
}

/// One event of a batch given to `send`; borrowed from the host until the
/// call returns.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    pub id: u64,
    pub stream: u64,
    pub ingest_ns: u64,
    pub port: Port,
    pub payload: Payload<'a>,
    pub meta: Option<ValueRef<'a>>,
    /// TREMOR_EVENT_END_STREAM: the last event of its stream.
    pub end_stream: bool,
}

impl<'a> EventRef<'a> {
    /// The payload bytes, or None for a structured event.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match self.payload {
            Payload::Bytes(b) => Some(b),
            Payload::Value(_) => None,
        }
    }
}

/// The read-only batch the host passed to `on_send`. Every event, span and
/// value in it has been checked before the plugin sees it.
pub struct BatchReader<'a> {
    events: &'a [raw::tremor_event],
    values: &'a [raw::tremor_value],
    bytes: &'a [u8],
}

impl<'a> BatchReader<'a> {
    /// Checks a batch from the host: NULL, `struct_size`, arrays against
    /// their lengths and capacities, every event's flags and spans, every
    /// structured value.
    ///
    /// # Safety
    /// `batch` is NULL or points to a `tremor_batch` whose arrays hold
    /// `*_len` initialised elements, unchanged for `'a`.
    pub(crate) unsafe fn from_raw(batch: *const raw::tremor_batch) -> Result<Self, Error> {
        if batch.is_null() {
            return Err(Error::invalid("batch is NULL"));
        }
        // SAFETY: non-NULL; struct_size is the first field.
        let struct_size = unsafe { (*batch).struct_size } as usize;
        if struct_size < size_of::<raw::tremor_batch>() {
            return Err(Error::invalid(format!(
                "batch struct_size {struct_size} is smaller than the {} bytes of an ABI 1.0 tremor_batch",
                size_of::<raw::tremor_batch>()
            )));
        }
        // SAFETY: the whole 1.0 struct is there.
        let b = unsafe { &*batch };
        check_array(b.events, b.events_len, b.events_cap, "events")?;
        check_array(b.values, b.values_len, b.values_cap, "values")?;
        check_array(b.bytes, b.bytes_len, b.bytes_cap, "bytes")?;
        // SAFETY: checked above: non-NULL when len > 0, aligned, len <= cap
        // and the host guarantees len initialised elements.
        let (events, values, bytes) = unsafe {
            (
                slice_or_empty(b.events, b.events_len),
                slice_or_empty(b.values, b.values_len),
                slice_or_empty(b.bytes, b.bytes_len),
            )
        };
        for (i, e) in events.iter().enumerate() {
            check_event(e, values, bytes).map_err(|m| Error::invalid(format!("event {i}: {m}")))?;
        }
        Ok(BatchReader {
            events,
            values,
            bytes,
        })
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<EventRef<'a>> {
        self.events.get(i).map(|e| self.view(e))
    }

    /// The events in order; the i-th matches `outcomes[i]` in `send`.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = EventRef<'a>> + '_ {
        self.events.iter().map(|e| self.view(e))
    }

    fn view(&self, e: &raw::tremor_event) -> EventRef<'a> {
        let payload = if e.flags & raw::TREMOR_EVENT_STRUCTURED != 0 {
            Payload::Value(ValueRef::new_checked(
                self.values,
                self.bytes,
                e.payload.offset as usize,
            ))
        } else {
            Payload::Bytes(
                value::span(self.bytes, e.payload.offset, e.payload.len).expect("checked event"),
            )
        };
        let meta = (e.meta.len > 0)
            .then(|| ValueRef::new_checked(self.values, self.bytes, e.meta.offset as usize));
        EventRef {
            id: e.id,
            stream: e.stream,
            ingest_ns: e.ingest_ns,
            port: Port(e.port),
            payload,
            meta,
            end_stream: e.flags & raw::TREMOR_EVENT_END_STREAM != 0,
        }
    }
}

/// # Safety
/// `ptr` is valid for `len` initialised elements when `len > 0`.
pub(crate) unsafe fn slice_or_empty<'a, T>(ptr: *const T, len: u64) -> &'a [T] {
    if len == 0 {
        &[]
    } else {
        // SAFETY: as promised by the caller.
        unsafe { std::slice::from_raw_parts(ptr, len as usize) }
    }
}

fn check_event(
    e: &raw::tremor_event,
    values: &[raw::tremor_value],
    bytes: &[u8],
) -> Result<(), String> {
    if e.flags & !(raw::TREMOR_EVENT_STRUCTURED | raw::TREMOR_EVENT_END_STREAM) != 0 {
        return Err(format!("unknown flag bits {:#x}", e.flags));
    }
    if e.flags & raw::TREMOR_EVENT_STRUCTURED != 0 {
        check_value_span(e.payload, values, bytes).map_err(|m| format!("payload: {m}"))?;
    } else if value::span(bytes, e.payload.offset, e.payload.len).is_none() {
        return Err(format!(
            "payload span {}+{} is outside the {} arena bytes",
            e.payload.offset,
            e.payload.len,
            bytes.len()
        ));
    }
    if e.meta.len > 0 {
        check_value_span(e.meta, values, bytes).map_err(|m| format!("meta: {m}"))?;
    }
    Ok(())
}

/// A span of nodes that must hold exactly one well-formed value.
pub(crate) fn check_value_span(
    s: raw::tremor_span,
    values: &[raw::tremor_value],
    bytes: &[u8],
) -> Result<(), String> {
    let root = usize::try_from(s.offset).map_err(|_| "span offset too large".to_string())?;
    if root >= values.len() {
        return Err(format!(
            "value span {}+{} is outside the {} value nodes",
            s.offset,
            s.len,
            values.len()
        ));
    }
    let n = value::check_tree(values, bytes, root)?;
    if n as u64 != s.len {
        return Err(format!(
            "value span says {} nodes but the value has {n}",
            s.len
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a writer over a fresh room of `events` slots and `bytes`
    /// arena bytes, and returns the header and arenas it left.
    fn with_room(
        events: usize,
        bytes: usize,
        f: impl FnOnce(&mut BatchWriter<'_>),
    ) -> (raw::tremor_batch, Vec<raw::tremor_event>, Vec<u8>) {
        let mut evs = vec![raw::tremor_event::default(); events];
        let mut arena = vec![0u8; bytes];
        let mut b = raw::tremor_batch {
            struct_size: size_of::<raw::tremor_batch>() as u32,
            reserved0: 0,
            events: evs.as_mut_ptr(),
            events_len: 0,
            events_cap: events as u64,
            values: std::ptr::null_mut(),
            values_len: 0,
            values_cap: 0,
            bytes: arena.as_mut_ptr(),
            bytes_len: 0,
            bytes_cap: bytes as u64,
            bytes_needed: 0,
            values_needed: 0,
        };
        // SAFETY: the arrays live until the end of this function.
        let mut w = unsafe { BatchWriter::from_raw(&mut b) }.expect("valid room");
        f(&mut w);
        (b, evs, arena)
    }

    #[test]
    fn payloads_written_in_place_become_events() {
        let (b, evs, arena) = with_room(2, 16, |w| {
            w.push_bytes(1, b"ab").unwrap();
            let tail = w.tail();
            assert_eq!(tail.len(), 14, "the bytes after what push_bytes wrote");
            tail[..6].copy_from_slice(b"cd\nef\n");
            let base = w.append_tail(6).unwrap();
            assert_eq!(base, 2);
            assert_eq!(w.remaining_bytes(), 8);
            w.push_span(2, base, 2, false).unwrap();
            // The slots are used up: the next one is refused and recorded
            // like a push that does not fit.
            assert_eq!(
                w.push_span(3, base + 3, 2, true),
                Err(NoRoom {
                    bytes_needed: 0,
                    values_needed: 0
                })
            );
            assert!(w.first_no_room().is_some());
        });
        assert_eq!((b.events_len, b.bytes_len), (2, 8));
        assert_eq!(&arena[..8], b"abcd\nef\n");
        let span = |e: &raw::tremor_event| {
            &arena[e.payload.offset as usize..(e.payload.offset + e.payload.len) as usize]
        };
        assert_eq!((evs[1].id, span(&evs[1]), evs[1].flags), (2, &b"cd"[..], 0));
        assert_eq!(evs[1].port, raw::TREMOR_PORT_OUT);
    }

    #[test]
    fn in_place_writes_stay_inside_the_room() {
        let (b, evs, _) = with_room(4, 4, |w| {
            w.tail().copy_from_slice(b"wxyz");
            assert_eq!(
                w.append_tail(5),
                Err(NoRoom {
                    bytes_needed: 5,
                    values_needed: 0
                })
            );
            let base = w.append_tail(4).unwrap();
            assert!(w.tail().is_empty());
            w.push_span(7, base, 4, true).unwrap();
            // A span beyond what was appended is a bug in the plugin.
            let outside = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = w.push_span(8, base + 2, 3, false);
            }));
            assert!(outside.is_err());
        });
        assert_eq!((b.events_len, b.bytes_len), (1, 4));
        assert_eq!(evs[0].flags, raw::TREMOR_EVENT_END_STREAM);
    }
}
