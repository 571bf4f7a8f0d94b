//! # tremor-pdk: write Tremor connector plugins in Rust
//!
//! A plugin is a `cdylib` that implements the C contract in
//! `include/tremor/plugin.h` (ABI 1.1). This crate does the C side for you:
//!
//! * implement [`Connector`] (create from a [`Config`], connect, lifecycle
//!   steps with default bodies), plus [`Source`] (pull into a
//!   [`BatchWriter`], ack, fail) and/or [`Sink`] (send a [`BatchReader`],
//!   write one [`Outcome`] per event);
//! * declare the plugin with [`tremor_plugin!`], which emits the static
//!   descriptor, connector types, config field tables and vtables and the
//!   exported `tremor_plugin_get_descriptor`.
//!
//! Building a plugin needs nothing beyond the Rust toolchain: no bindgen, no
//! C compiler, no dependencies. The [`raw`] module mirrors the header by hand
//! and `tests/layout.rs` checks the mirror against the header with `cc`.
//!
//! ## Guarantees the PDK adds
//! * Every `extern "C"` hook runs plugin code inside `catch_unwind`. A panic
//!   returns TREMOR_ERR_PANIC with the panic message in the host's error
//!   buffer and poisons the instance: every later hook except on_destroy
//!   answers TREMOR_ERR_PANIC without running plugin code. (This needs
//!   `panic = "unwind"`, the default; with `panic = "abort"` a panic takes the
//!   host process down.)
//! * Arguments from the host are checked before plugin code sees them (NULL
//!   pointers, `struct_size`, lengths beyond capacities, spans outside
//!   arenas, malformed value trees): a broken argument yields
//!   TREMOR_ERR_INVALID, never undefined behaviour.
//! * Borrowed host memory (config, batches, ids) is only reachable through
//!   values whose lifetime ends with the hook call.
//! * [`Host`] may be cloned into threads; after on_destroy it stops calling
//!   the host.
//!
//! ## Example
//! ```
//! use tremor_pdk::*;
//! use std::time::Duration;
//!
//! struct Counter { next: u64, limit: u64 }
//!
//! impl Connector for Counter {
//!     fn create(args: CreateArgs<'_>) -> Result<Self> {
//!         let limit = args.config.opt_u64("limit")?.unwrap_or(10);
//!         Ok(Counter { next: 0, limit })
//!     }
//! }
//!
//! impl Source for Counter {
//!     fn pull(&mut self, out: &mut BatchWriter<'_>, _wait: Duration) -> Result<Pull> {
//!         while self.next < self.limit {
//!             let text = self.next.to_string();
//!             if out.push_bytes(self.next, text.as_bytes()).is_err() {
//!                 return Ok(Pull::More); // full: the event is offered again next pull
//!             }
//!             self.next += 1;
//!         }
//!         Ok(Pull::End)
//!     }
//! }
//!
//! tremor_plugin! {
//!     name: "counter",
//!     version: "0.1.0",
//!     description: "counts",
//!     license: "Apache-2.0",
//!     connectors: [
//!         Counter {
//!             name: "counter",
//!             kinds: [source],
//!             payload: bytes,
//!             fields: [
//!                 { name: "limit", type: uint, default_json: "10", doc: "how far to count" },
//!             ],
//!         },
//!     ],
//! }
//! # fn main() { assert!(!tremor_plugin_get_descriptor().is_null()); }
//! ```

pub mod raw;

mod batch;
mod config;
mod connector;
mod error;
mod ffi;
mod host;
#[cfg(feature = "testkit")]
pub mod testkit;
mod value;

pub use batch::{
    BatchReader, BatchWriter, EventRef, NoRoom, OutEvent, OutPayload, Outcome, Payload, Port,
};
pub use config::Config;
pub use connector::{Connection, Connector, CreateArgs, Pull, Sink, Source};
pub use error::{Error, ErrorCode, Result};
pub use host::{Host, LogLevel};
pub use value::{Children, Value, ValueKind, ValueRef};

/// The `sdk` string the descriptor carries.
pub const SDK: &str = "pdk-rust 0.1";

/// Implementation details of [`tremor_plugin!`]; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::ffi::{vtable, with_sink, with_source};
    use core::ffi::c_char;

    /// Lets a static hold raw pointers (to other statics). Sound because the
    /// descriptor data is immutable and lives as long as the library.
    #[repr(transparent)]
    pub struct SyncStatic<T>(pub T);
    // SAFETY: only ever wraps immutable data that points to immutable
    // statics.
    unsafe impl<T> Sync for SyncStatic<T> {}

    /// A NUL-terminated literal as a C string; fails to compile on an
    /// interior NUL (which would silently cut the string).
    pub const fn cstr(s: &'static str) -> *const c_char {
        let b = s.as_bytes();
        assert!(
            !b.is_empty() && b[b.len() - 1] == 0,
            "string must end with NUL"
        );
        let mut i = 0;
        while i + 1 < b.len() {
            assert!(b[i] != 0, "string literal contains a NUL byte");
            i += 1;
        }
        s.as_ptr().cast()
    }

    /// Like [`cstr`], and the string must not be empty.
    pub const fn cstr_nonempty(s: &'static str) -> *const c_char {
        assert!(s.len() > 1, "name and version strings must not be empty");
        cstr(s)
    }

    pub const SDK_CSTR: &str = "pdk-rust 0.1\0";
}

/// Declares the plugin: emits its static descriptor, connector types,
/// config field tables and vtables, and the exported
/// `tremor_plugin_get_descriptor()` entry point. Use it once per library, at
/// the crate root.
///
/// ```text
/// tremor_plugin! {
///     name: "file",                     // required, non-empty
///     version: "0.1.0",                 // required, non-empty
///     description: "...",               // optional
///     license: "Apache-2.0",            // optional, SPDX id
///     connectors: [
///         FileConnector {               // the Rust type implementing Connector
///             name: "file",             // connector type name
///             description: "...",       // optional
///             kinds: [source, sink],    // source needs Source, sink needs Sink
///             payload: bytes,           // bytes | structured
///             fields: [
///                 { name: "path", type: string, flags: [required], doc: "..." },
///                 { name: "mode", type: string, default_json: r#""read""#, doc: "..." },
///             ],
///         },
///     ],
/// }
/// ```
///
/// Field types: null, bool, int, uint, float, string, bytes, array, object.
/// Field flags: required, secret. `default_json` is the default as JSON
/// text. Within a field the keys come in the order shown.
///
/// Mistakes are compile errors, e.g. declaring a kind the type does not
/// implement:
/// ```compile_fail
/// use tremor_pdk::*;
/// struct OnlySink;
/// impl Connector for OnlySink { fn create(_: CreateArgs<'_>) -> Result<Self> { Ok(OnlySink) } }
/// tremor_plugin! {
///     name: "x", version: "1",
///     connectors: [ OnlySink { name: "x", kinds: [source], payload: bytes, fields: [] } ],
/// }
/// # fn main() {}
/// ```
/// or an unknown field type, or a NUL inside a name:
/// ```compile_fail
/// use tremor_pdk::*;
/// struct S;
/// impl Connector for S { fn create(_: CreateArgs<'_>) -> Result<Self> { Ok(S) } }
/// impl Sink for S { fn send(&mut self, _: &BatchReader<'_>, _: &mut [Outcome]) -> Result<()> { Ok(()) } }
/// tremor_plugin! {
///     name: "x", version: "1",
///     connectors: [ S { name: "x", kinds: [sink], payload: bytes, fields: [ { name: "f", type: text } ] } ],
/// }
/// # fn main() {}
/// ```
/// ```compile_fail
/// use tremor_pdk::*;
/// struct S;
/// impl Connector for S { fn create(_: CreateArgs<'_>) -> Result<Self> { Ok(S) } }
/// impl Sink for S { fn send(&mut self, _: &BatchReader<'_>, _: &mut [Outcome]) -> Result<()> { Ok(()) } }
/// tremor_plugin! {
///     name: "x\0y", version: "1",
///     connectors: [ S { name: "x", kinds: [sink], payload: bytes, fields: [] } ],
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! tremor_plugin {
    (
        name: $name:literal,
        version: $version:literal,
        $(description: $description:literal,)?
        $(license: $license:literal,)?
        connectors: [ $(
            $ty:ty {
                name: $cname:literal,
                $(description: $cdesc:literal,)?
                kinds: [ $($kind:ident),+ $(,)? ],
                payload: $payload:ident,
                fields: [ $(
                    {
                        name: $fname:literal,
                        type: $ftype:ident
                        $(, flags: [ $($fflag:ident),* $(,)? ])?
                        $(, default_json: $fdefault:literal)?
                        $(, doc: $fdoc:literal)?
                        $(,)?
                    }
                ),* $(,)? ] $(,)?
            }
        ),+ $(,)? ] $(,)?
    ) => {
        /// The plugin's entry point (TREMOR_PLUGIN_ENTRY_SYMBOL): returns the
        /// static descriptor. Cheap and free of side effects.
        #[unsafe(no_mangle)]
        pub extern "C" fn tremor_plugin_get_descriptor() -> *const $crate::raw::tremor_plugin_descriptor {
            // Fully qualified paths and __TREMOR_ names only: items are not
            // hygienic, and the author's types are named in here.
            const __TREMOR_CONNECTORS_LEN: usize = 0 $(+ $crate::__tremor_one!($cname))+;
            static __TREMOR_CONNECTORS: $crate::__private::SyncStatic<[*const $crate::raw::tremor_connector_type; __TREMOR_CONNECTORS_LEN]> = $crate::__private::SyncStatic([ $( {
                static __TREMOR_VTABLE: $crate::raw::tremor_connector_vtable = {
                    let v = $crate::__private::vtable::<$ty>();
                    $( let v = $crate::__tremor_with_kind!($kind, $ty, v); )+
                    v
                };
                const __TREMOR_FIELDS_LEN: usize = 0 $(+ $crate::__tremor_one!($fname))*;
                static __TREMOR_FIELDS: $crate::__private::SyncStatic<[$crate::raw::tremor_config_field; __TREMOR_FIELDS_LEN]> = $crate::__private::SyncStatic([ $(
                    $crate::raw::tremor_config_field {
                        name: $crate::__private::cstr_nonempty(concat!($fname, "\0")),
                        r#type: $crate::__tremor_value_kind!($ftype) as u32,
                        flags: 0 $($(| $crate::__tremor_field_flag!($fflag))*)?,
                        default_json: $crate::__tremor_opt_cstr!($($fdefault)?),
                        doc: $crate::__tremor_opt_cstr!($($fdoc)?),
                        reserved: [::core::ptr::null_mut(); 2],
                    }
                ),* ]);
                static __TREMOR_TYPE: $crate::__private::SyncStatic<$crate::raw::tremor_connector_type> = $crate::__private::SyncStatic($crate::raw::tremor_connector_type {
                    struct_size: ::core::mem::size_of::<$crate::raw::tremor_connector_type>() as u32,
                    kinds: 0 $(| $crate::__tremor_kind_bit!($kind))+,
                    name: $crate::__private::cstr_nonempty(concat!($cname, "\0")),
                    description: $crate::__tremor_opt_cstr!($($cdesc)?),
                    payload: $crate::__tremor_payload!($payload),
                    fields_len: __TREMOR_FIELDS_LEN as u32,
                    fields: __TREMOR_FIELDS.0.as_ptr(),
                    vtable: &__TREMOR_VTABLE,
                    framing: ::core::ptr::null(), // no framing: the macro's connectors are not byte streams yet
                });
                &__TREMOR_TYPE.0 as *const $crate::raw::tremor_connector_type
            } ),+ ]);
            static __TREMOR_DESCRIPTOR: $crate::__private::SyncStatic<$crate::raw::tremor_plugin_descriptor> = $crate::__private::SyncStatic($crate::raw::tremor_plugin_descriptor {
                struct_size: ::core::mem::size_of::<$crate::raw::tremor_plugin_descriptor>() as u32,
                abi_major: $crate::raw::TREMOR_ABI_MAJOR,
                abi_minor: $crate::raw::TREMOR_ABI_MINOR,
                name: $crate::__private::cstr_nonempty(concat!($name, "\0")),
                version: $crate::__private::cstr_nonempty(concat!($version, "\0")),
                description: $crate::__tremor_opt_cstr!($($description)?),
                license: $crate::__tremor_opt_cstr!($($license)?),
                sdk: $crate::__private::cstr($crate::__private::SDK_CSTR),
                connectors_len: __TREMOR_CONNECTORS_LEN as u64,
                connectors: __TREMOR_CONNECTORS.0.as_ptr(),
            });
            &__TREMOR_DESCRIPTOR.0
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tremor_one {
    ($x:tt) => {
        1usize
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tremor_opt_cstr {
    () => {
        ::core::ptr::null()
    };
    ($s:literal) => {
        $crate::__private::cstr(concat!($s, "\0"))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tremor_with_kind {
    (source, $ty:ty, $v:expr) => {
        $crate::__private::with_source::<$ty>($v)
    };
    (sink, $ty:ty, $v:expr) => {
        $crate::__private::with_sink::<$ty>($v)
    };
    ($other:ident, $ty:ty, $v:expr) => {
        compile_error!(concat!(
            "unknown connector kind `",
            stringify!($other),
            "`: use source or sink"
        ))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tremor_kind_bit {
    (source) => {
        $crate::raw::TREMOR_KIND_SOURCE
    };
    (sink) => {
        $crate::raw::TREMOR_KIND_SINK
    };
    ($other:ident) => {
        0
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tremor_payload {
    (bytes) => {
        $crate::raw::TREMOR_PAYLOAD_BYTES
    };
    (structured) => {
        $crate::raw::TREMOR_PAYLOAD_STRUCTURED
    };
    ($other:ident) => {
        compile_error!(concat!(
            "unknown payload `",
            stringify!($other),
            "`: use bytes or structured"
        ))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tremor_field_flag {
    (required) => {
        $crate::raw::TREMOR_FIELD_REQUIRED
    };
    (secret) => {
        $crate::raw::TREMOR_FIELD_SECRET
    };
    ($other:ident) => {
        compile_error!(concat!(
            "unknown field flag `",
            stringify!($other),
            "`: use required or secret"
        ))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tremor_value_kind {
    (null) => {
        $crate::raw::TREMOR_VALUE_NULL
    };
    (bool) => {
        $crate::raw::TREMOR_VALUE_BOOL
    };
    (int) => {
        $crate::raw::TREMOR_VALUE_INT
    };
    (uint) => {
        $crate::raw::TREMOR_VALUE_UINT
    };
    (float) => {
        $crate::raw::TREMOR_VALUE_FLOAT
    };
    (string) => {
        $crate::raw::TREMOR_VALUE_STRING
    };
    (bytes) => {
        $crate::raw::TREMOR_VALUE_BYTES
    };
    (array) => {
        $crate::raw::TREMOR_VALUE_ARRAY
    };
    (object) => {
        $crate::raw::TREMOR_VALUE_OBJECT
    };
    ($other:ident) => {
        compile_error!(concat!(
            "unknown config field type `",
            stringify!($other),
            "`: use null, bool, int, uint, float, string, bytes, array or object"
        ))
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn sdk_strings_agree() {
        assert_eq!(format!("{}\0", super::SDK), super::__private::SDK_CSTR);
    }
}
