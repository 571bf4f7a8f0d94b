//! The one error type of the safe API and the code that writes it into the
//! host's `tremor_error` buffer.

use crate::raw;
use std::borrow::Cow;
use std::fmt;

/// The error codes a hook may fail with (the negative TREMOR_RESULT_CODES).
/// `TREMOR_ERR_PANIC` is not here: the PDK produces it when plugin code
/// panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// TREMOR_ERR_FAILED: the operation failed.
    Failed,
    /// TREMOR_ERR_CONFIG: the configuration is invalid (from connect: the
    /// host stops the connector instead of retrying).
    Config,
    /// TREMOR_ERR_NO_ROOM: not even one event fits the room (see
    /// [`crate::NoRoom`], which converts into this).
    NoRoom,
    /// TREMOR_ERR_DISCONNECTED: the connection was lost; the host reconnects.
    Disconnected,
    /// TREMOR_ERR_UNSUPPORTED: the connector does not support this operation.
    Unsupported,
    /// TREMOR_ERR_INVALID: an argument broke the contract.
    Invalid,
}

impl ErrorCode {
    /// The C result code.
    pub const fn code(self) -> i32 {
        match self {
            ErrorCode::Failed => raw::TREMOR_ERR_FAILED,
            ErrorCode::Config => raw::TREMOR_ERR_CONFIG,
            ErrorCode::NoRoom => raw::TREMOR_ERR_NO_ROOM,
            ErrorCode::Disconnected => raw::TREMOR_ERR_DISCONNECTED,
            ErrorCode::Unsupported => raw::TREMOR_ERR_UNSUPPORTED,
            ErrorCode::Invalid => raw::TREMOR_ERR_INVALID,
        }
    }

    /// The header's English description of the code.
    pub fn description(self) -> &'static str {
        raw::tremor_result_str(self.code())
    }
}

/// An error returned from a hook: a result code and a message for the host's
/// log. The message is copied into the host's `tremor_error` buffer,
/// truncated at a UTF-8 character boundary when it does not fit.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    message: Cow<'static, str>,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
    /// TREMOR_ERR_FAILED.
    pub fn failed(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Failed, message)
    }
    /// TREMOR_ERR_CONFIG.
    pub fn config(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Config, message)
    }
    /// TREMOR_ERR_DISCONNECTED.
    pub fn disconnected(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Disconnected, message)
    }
    /// TREMOR_ERR_UNSUPPORTED.
    pub fn unsupported(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Unsupported, message)
    }
    /// TREMOR_ERR_INVALID.
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Invalid, message)
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}: {})", self.code, self.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.description(), self.message)
    }
}

impl std::error::Error for Error {}

/// The result type of every hook of the safe API.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Copies `msg` into the host's error buffer: at most `cap` bytes, cut at a
/// UTF-8 character boundary, and sets `len`. Does nothing when `err` is NULL
/// or its `msg` is NULL; never writes past `msg[cap - 1]`.
///
/// # Safety
/// `err` is NULL or points to a `tremor_error` whose `msg` is NULL or valid
/// for `cap` bytes of writes (the header's contract).
pub(crate) unsafe fn write_error(err: *mut raw::tremor_error, msg: &str) {
    if err.is_null() {
        return;
    }
    // SAFETY: non-NULL and owned by the host for the duration of the hook.
    let e = unsafe { &mut *err };
    if e.msg.is_null() {
        e.len = 0;
        return;
    }
    let cap = usize::try_from(e.cap).unwrap_or(usize::MAX);
    let mut n = msg.len().min(cap);
    while !msg.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: n <= cap, and the host guarantees msg[0..cap) is writable.
    unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), e.msg, n) };
    e.len = n as u64;
}
