//! Checks the hand-written mirror in `tremor_pdk::raw` against
//! `include/tremor/plugin.h`, without bindgen.
//!
//! 1. The header is scanned for every `#define TREMOR_*` constant, every
//!    row of its X-macro tables (result codes, value kinds, ports, event
//!    flags; each row also compared with its Rust table), every struct field and
//!    every `tremor_*_fn` typedef; each must appear in the tables below (and
//!    the tables may name nothing the header lacks).
//! 2. From the tables, a C program is generated that includes the header,
//!    static-asserts that every field and function-pointer typedef has the C
//!    type the Rust mirror implies (`__builtin_types_compatible_p`), and
//!    prints sizeof/alignof/offsetof of every struct and field and the value
//!    of every constant. It is compiled with the system C compiler (`$CC`,
//!    default `cc`) and run.
//! 3. Each printed line is compared with the same line computed in Rust
//!    (`size_of`, `align_of`, `offset_of!`, the `raw` constants).
//!
//! A change to the header that the mirror does not follow fails this test.
//! A missing C compiler fails it too, with a message saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{c_char, c_void};
use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;
use tremor_pdk::raw::*;

// ---------------------------------------------------------------------------
// The C spelling of a Rust mirror type
// ---------------------------------------------------------------------------

trait CType {
    fn c() -> String;
}

macro_rules! ctype {
    ($($t:ty => $c:expr),* $(,)?) => {$(
        impl CType for $t { fn c() -> String { $c.to_string() } }
    )*};
}
ctype! {
    () => "void", u8 => "uint8_t", u16 => "uint16_t", u32 => "uint32_t", u64 => "uint64_t",
    i32 => "int32_t", i64 => "int64_t", f64 => "double", c_void => "void", c_char => "char",
}
macro_rules! ctype_struct {
    ($($t:ident),* $(,)?) => {$(
        impl CType for $t { fn c() -> String { stringify!($t).to_string() } }
    )*};
}
ctype_struct!(
    tremor_error,
    tremor_span,
    tremor_value,
    tremor_value_doc,
    tremor_event,
    tremor_batch,
    tremor_host_ctx,
    tremor_host_api,
    tremor_metric_label,
    tremor_create_args,
    tremor_connector_vtable,
    tremor_config_field,
    tremor_connector_type,
    tremor_plugin_descriptor,
);

impl<T: CType> CType for *const T {
    fn c() -> String {
        format!("{} const *", T::c())
    }
}
impl<T: CType> CType for *mut T {
    fn c() -> String {
        format!("{} *", T::c())
    }
}
impl<T: CType, const N: usize> CType for [T; N] {
    fn c() -> String {
        format!("{}[{N}]", T::c())
    }
}
impl<F: CType> CType for Option<F> {
    fn c() -> String {
        F::c()
    }
}
macro_rules! ctype_fn {
    ($($a:ident),*) => {
        impl<R: CType $(, $a: CType)*> CType for unsafe extern "C" fn($($a),*) -> R {
            fn c() -> String {
                let args: Vec<String> = vec![$($a::c()),*];
                format!("{} (*)({})", R::c(), if args.is_empty() { "void".to_string() } else { args.join(", ") })
            }
        }
    };
}
ctype_fn!();
ctype_fn!(A);
ctype_fn!(A, B);
ctype_fn!(A, B, C);
ctype_fn!(A, B, C, D);
ctype_fn!(A, B, C, D, E, F, G, H);

// ---------------------------------------------------------------------------
// The tables: what the mirror claims
// ---------------------------------------------------------------------------

struct Struct {
    name: &'static str,
    size: usize,
    align: usize,
}

struct Field {
    strukt: &'static str,
    /// C member designator, e.g. "msg" or "as.i".
    path: String,
    offset: usize,
    size: usize,
    /// C type name, None for the anonymous union itself.
    ctype: Option<String>,
}

fn field_of<S, F: CType>(_: fn(&S) -> &F) -> (usize, String) {
    (size_of::<F>(), F::c())
}

macro_rules! structs {
    ($($s:ident),* $(,)?) => { vec![$(Struct { name: stringify!($s), size: size_of::<$s>(), align: align_of::<$s>() }),*] };
}

macro_rules! fields {
    ($out:ident, $s:ident { $($f:ident $(as $cname:literal)?),* $(,)? }) => {$(
        let (size, ctype) = field_of(|s: &$s| &s.$f);
        #[allow(unused_mut, unused_assignments)]
        let mut path = stringify!($f).to_string();
        $(path = $cname.to_string();)?
        $out.push(Field { strukt: stringify!($s), path, offset: offset_of!($s, $f), size, ctype: Some(ctype) });
    )*};
}

fn structs() -> Vec<Struct> {
    structs!(
        tremor_error,
        tremor_span,
        tremor_value,
        tremor_value_doc,
        tremor_event,
        tremor_batch,
        tremor_host_api,
        tremor_metric_label,
        tremor_create_args,
        tremor_connector_vtable,
        tremor_config_field,
        tremor_connector_type,
        tremor_plugin_descriptor,
    )
}

fn fields() -> Vec<Field> {
    let mut v = Vec::new();
    fields!(v, tremor_error { msg, cap, len });
    fields!(v, tremor_span { offset, len });
    fields!(
        v,
        tremor_value {
            kind,
            reserved,
            key_len,
            key_offset,
            len
        }
    );
    // The anonymous union `as` and its members.
    let as_off = offset_of!(tremor_value, as_);
    v.push(Field {
        strukt: "tremor_value",
        path: "as".into(),
        offset: as_off,
        size: size_of::<tremor_value_as>(),
        ctype: None,
    });
    macro_rules! union_member {
        ($m:ident) => {{
            let (size, ctype) = field_of(|s: &tremor_value| unsafe { &s.as_.$m });
            v.push(Field {
                strukt: "tremor_value",
                path: format!("as.{}", stringify!($m)),
                offset: as_off + offset_of!(tremor_value_as, $m),
                size,
                ctype: Some(ctype),
            });
        }};
    }
    union_member!(boolean);
    union_member!(i);
    union_member!(u);
    union_member!(f);
    union_member!(offset);
    union_member!(descendants);
    fields!(
        v,
        tremor_value_doc {
            nodes,
            nodes_len,
            bytes,
            bytes_len
        }
    );
    fields!(
        v,
        tremor_event {
            id,
            stream,
            ingest_ns,
            port,
            flags,
            payload,
            meta
        }
    );
    fields!(
        v,
        tremor_batch {
            struct_size,
            reserved0,
            events,
            events_len,
            events_cap,
            values,
            values_len,
            values_cap,
            bytes,
            bytes_len,
            bytes_cap,
            bytes_needed,
            values_needed
        }
    );
    fields!(
        v,
        tremor_host_api {
            struct_size,
            abi_major,
            abi_minor,
            log,
            counter_add,
            gauge_set
        }
    );
    fields!(
        v,
        tremor_metric_label {
            name,
            name_len,
            value,
            value_len
        }
    );
    fields!(
        v,
        tremor_create_args {
            struct_size,
            reserved0,
            host,
            ctx,
            alias,
            alias_len,
            config
        }
    );
    fields!(
        v,
        tremor_connector_vtable {
            struct_size,
            reserved0,
            on_create,
            on_destroy,
            on_connect,
            on_start,
            on_pause,
            on_resume,
            on_drain,
            on_stop,
            on_pull,
            on_ack,
            on_fail,
            on_send
        }
    );
    fields!(v, tremor_config_field { name, r#type as "type", flags, default_json, doc, reserved });
    fields!(
        v,
        tremor_connector_type {
            struct_size,
            kinds,
            name,
            description,
            payload,
            fields_len,
            fields,
            vtable,
            framing
        }
    );
    fields!(
        v,
        tremor_plugin_descriptor {
            struct_size,
            abi_major,
            abi_minor,
            name,
            version,
            description,
            license,
            sdk,
            connectors_len,
            connectors
        }
    );
    v
}

/// Function-pointer typedefs: name and the C type the Rust mirror implies.
fn fn_types() -> Vec<(&'static str, String)> {
    macro_rules! f {
        ($($t:ident),* $(,)?) => { vec![$((stringify!($t), <$t as CType>::c())),*] };
    }
    f!(
        tremor_host_log_fn,
        tremor_host_metric_fn,
        tremor_on_create_fn,
        tremor_on_destroy_fn,
        tremor_on_connect_fn,
        tremor_on_step_fn,
        tremor_on_pull_fn,
        tremor_on_ids_fn,
        tremor_on_send_fn,
        tremor_plugin_get_descriptor_fn,
    )
}

/// Integer constants (name, value).
fn int_consts() -> Vec<(&'static str, i64)> {
    macro_rules! c {
        ($($n:ident),* $(,)?) => { vec![$((stringify!($n), $n as i64)),*] };
    }
    c!(
        TREMOR_ABI_MAJOR,
        TREMOR_ABI_MINOR,
        TREMOR_OK,
        TREMOR_END,
        TREMOR_RETRY,
        TREMOR_ERR_FAILED,
        TREMOR_ERR_CONFIG,
        TREMOR_ERR_NO_ROOM,
        TREMOR_ERR_DISCONNECTED,
        TREMOR_ERR_UNSUPPORTED,
        TREMOR_ERR_INVALID,
        TREMOR_ERR_PANIC,
        TREMOR_RESULT_CODES_END_,
        TREMOR_VALUE_NULL,
        TREMOR_VALUE_BOOL,
        TREMOR_VALUE_INT,
        TREMOR_VALUE_UINT,
        TREMOR_VALUE_FLOAT,
        TREMOR_VALUE_STRING,
        TREMOR_VALUE_BYTES,
        TREMOR_VALUE_ARRAY,
        TREMOR_VALUE_OBJECT,
        TREMOR_PORT_OUT,
        TREMOR_PORT_ERR,
        TREMOR_EVENT_STRUCTURED,
        TREMOR_EVENT_END_STREAM,
        TREMOR_OUTCOME_OK,
        TREMOR_OUTCOME_FAILED,
        TREMOR_OUTCOME_RETRY,
        TREMOR_LOG_ERROR,
        TREMOR_LOG_WARN,
        TREMOR_LOG_INFO,
        TREMOR_LOG_DEBUG,
        TREMOR_LOG_TRACE,
        TREMOR_METRIC_COUNTER,
        TREMOR_METRIC_GAUGE,
        TREMOR_KIND_SOURCE,
        TREMOR_KIND_SINK,
        TREMOR_PAYLOAD_BYTES,
        TREMOR_PAYLOAD_STRUCTURED,
        TREMOR_FIELD_REQUIRED,
        TREMOR_FIELD_SECRET,
    )
}

fn str_consts() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TREMOR_ABI_VERSION_STRING", TREMOR_ABI_VERSION_STRING),
        ("TREMOR_PLUGIN_ENTRY_SYMBOL", TREMOR_PLUGIN_ENTRY_SYMBOL),
    ]
}

/// Macros in the header that are not constants to mirror.
const NOT_CONSTANTS: &[&str] = &["TREMOR_PLUGIN_H", "TREMOR_PLUGIN_EXPORT"];

// ---------------------------------------------------------------------------
// Reading the header
// ---------------------------------------------------------------------------

/// The repo's include/ (or $TREMOR_INCLUDE_DIR, to try the test against an
/// edited copy of the header).
fn include_dir() -> PathBuf {
    match std::env::var_os("TREMOR_INCLUDE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../include"),
    }
}

fn header_text() -> String {
    let path = include_dir().join("tremor/plugin.h");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        let block = rest.find("/*");
        let line = rest.find("//");
        match (block, line) {
            (Some(b), l) if l.is_none_or(|l| b < l) => {
                out.push_str(&rest[..b]);
                let end = rest[b + 2..]
                    .find("*/")
                    .map_or(rest.len(), |e| b + 2 + e + 2);
                out.push(' ');
                rest = &rest[end..];
            }
            (_, Some(l)) => {
                out.push_str(&rest[..l]);
                let end = rest[l..].find('\n').map_or(rest.len(), |e| l + e);
                rest = &rest[end..];
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The `#define TREMOR_*` object-like macros and the rows of the X-macro
/// tables (as TREMOR_<NAME>), plus the result enum's closing sentinel.
fn header_constants(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("#define ") {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            let function_like = rest[name.len()..].starts_with('(');
            if name.starts_with("TREMOR_")
                && !function_like
                && !NOT_CONSTANTS.contains(&name.as_str())
            {
                out.insert(name);
            }
        } else if let Some(rest) = t.strip_prefix("X(") {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            out.insert(format!("TREMOR_{name}"));
        }
    }
    if text.contains("TREMOR_RESULT_CODES_END_") {
        out.insert("TREMOR_RESULT_CODES_END_".into());
    }
    out
}

/// Split `body` at `;` outside braces.
fn split_decls(body: &str) -> Vec<String> {
    let (mut depth, mut cur, mut out) = (0i32, String::new(), Vec::new());
    for c in body.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ';' if depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.into_iter().filter(|d| !d.is_empty()).collect()
}

/// The declared name in a declaration: the last identifier, ignoring array
/// bounds.
fn decl_name(decl: &str) -> String {
    let d = match decl.rfind('[') {
        Some(i) if decl.trim_end().ends_with(']') => &decl[..i],
        _ => decl,
    };
    let d = d.trim_end();
    let start = d.rfind(|c: char| !is_ident(c)).map_or(0, |i| i + 1);
    d[start..].to_string()
}

/// struct name -> field designators ("as" and "as.i" for the union).
fn header_structs(text: &str) -> BTreeMap<String, Vec<String>> {
    let text = strip_comments(text);
    let mut out = BTreeMap::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("typedef struct ") {
        rest = &rest[i + "typedef struct ".len()..];
        let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
        let after = rest[name.len()..].trim_start();
        if !after.starts_with('{') {
            continue; // an opaque type (tremor_host_ctx)
        }
        let open = rest.find('{').unwrap();
        let mut depth = 0;
        let mut close = open;
        for (j, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body = &rest[open + 1..close];
        let mut fields = Vec::new();
        for decl in split_decls(body) {
            if decl.starts_with("union") {
                let uname = decl_name(&decl);
                fields.push(uname.clone());
                let inner = &decl[decl.find('{').unwrap() + 1..decl.rfind('}').unwrap()];
                for m in split_decls(inner) {
                    fields.push(format!("{uname}.{}", decl_name(&m)));
                }
            } else {
                fields.push(decl_name(&decl));
            }
        }
        out.insert(name, fields);
        rest = &rest[close..];
    }
    out
}

/// Names of `typedef ... (*tremor_*_fn)(...)`.
fn header_fn_types(text: &str) -> BTreeSet<String> {
    let text = strip_comments(text);
    let mut out = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("(*tremor_") {
        rest = &rest[i + 2..];
        let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
        out.insert(name);
    }
    out
}

// ---------------------------------------------------------------------------
// The C program
// ---------------------------------------------------------------------------

fn c_program() -> String {
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <tremor/plugin.h>\n\n\
         #define SAME_TYPE(expr_type, mirror, what) \\\n  \
         _Static_assert(__builtin_types_compatible_p(expr_type, mirror), what)\n\n",
    );
    for f in fields() {
        if let Some(t) = &f.ctype {
            c += &format!(
                "SAME_TYPE(__typeof__(((const {s} *)0)->{p}), {t}, \"{s}.{p} is not `{t}` (as the Rust mirror says)\");\n",
                s = f.strukt,
                p = f.path
            );
        }
    }
    for (name, t) in fn_types() {
        c += &format!(
            "SAME_TYPE({name}, {t}, \"{name} is not `{t}` (as the Rust mirror says)\");\n"
        );
    }
    c += "SAME_TYPE(__typeof__(&tremor_plugin_get_descriptor), tremor_plugin_get_descriptor_fn, \"entry point\");\n";
    c += "\nint main(void) {\n";
    for s in structs() {
        c += &format!("  printf(\"sizeof {0} = %zu\\n\", sizeof({0}));\n", s.name);
        c += &format!(
            "  printf(\"alignof {0} = %zu\\n\", _Alignof({0}));\n",
            s.name
        );
    }
    for f in fields() {
        c += &format!(
            "  printf(\"offsetof {0}.{1} = %zu\\n\", offsetof({0}, {1}));\n",
            f.strukt, f.path
        );
        c += &format!(
            "  printf(\"sizeof {0}.{1} = %zu\\n\", sizeof(((const {0} *)0)->{1}));\n",
            f.strukt, f.path
        );
    }
    for (name, _) in int_consts() {
        c += &format!("  printf(\"const {name} = %lld\\n\", (long long)({name}));\n");
    }
    for (name, _) in str_consts() {
        c += &format!("  printf(\"const {name} = %s\\n\", {name});\n");
    }
    c += "  int i = 0;\n";
    c += "#define PRINT_CODE(name, value, text) \\\n  \
          printf(\"result %d = %s %d %s\\n\", i++, #name, (int)(value), text);\n";
    c += "  TREMOR_RESULT_CODES(PRINT_CODE)\n";
    for table in ["TREMOR_VALUE_KINDS", "TREMOR_PORTS", "TREMOR_EVENT_FLAGS"] {
        c += "  i = 0;\n";
        c += &format!(
            "#define PRINT_ROW(name, value, text) \\\n  \
             printf(\"{table} %d = %s %lld %s\\n\", i++, #name, (long long)(value), text);\n  \
             {table}(PRINT_ROW)\n#undef PRINT_ROW\n"
        );
    }
    for code in [-8, -7, -1, 0, 1, 2, 3, 12345] {
        c += &format!("  printf(\"result_str {code} = %s\\n\", tremor_result_str({code}));\n");
    }
    c += "  return 0;\n}\n";
    c
}

fn rust_lines() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for s in structs() {
        m.insert(format!("sizeof {}", s.name), s.size.to_string());
        m.insert(format!("alignof {}", s.name), s.align.to_string());
    }
    for f in fields() {
        m.insert(
            format!("offsetof {}.{}", f.strukt, f.path),
            f.offset.to_string(),
        );
        m.insert(
            format!("sizeof {}.{}", f.strukt, f.path),
            f.size.to_string(),
        );
    }
    for (name, v) in int_consts() {
        m.insert(format!("const {name}"), v.to_string());
    }
    for (name, v) in str_consts() {
        m.insert(format!("const {name}"), v.to_string());
    }
    for (i, (name, value, text)) in TREMOR_RESULT_CODES.iter().enumerate() {
        m.insert(format!("result {i}"), format!("{name} {value} {text}"));
    }
    let tables: [(&str, Vec<(&str, i64, &str)>); 3] = [
        (
            "TREMOR_VALUE_KINDS",
            TREMOR_VALUE_KINDS
                .iter()
                .map(|(n, v, t)| (*n, *v as i64, *t))
                .collect(),
        ),
        (
            "TREMOR_PORTS",
            TREMOR_PORTS
                .iter()
                .map(|(n, v, t)| (*n, *v as i64, *t))
                .collect(),
        ),
        (
            "TREMOR_EVENT_FLAGS",
            TREMOR_EVENT_FLAGS
                .iter()
                .map(|(n, v, t)| (*n, *v as i64, *t))
                .collect(),
        ),
    ];
    for (table, rows) in tables {
        for (i, (name, value, text)) in rows.iter().enumerate() {
            m.insert(format!("{table} {i}"), format!("{name} {value} {text}"));
        }
    }
    for code in [-8, -7, -1, 0, 1, 2, 3, 12345] {
        m.insert(
            format!("result_str {code}"),
            tremor_result_str(code).to_string(),
        );
    }
    m
}

fn run_c_program() -> BTreeMap<String, String> {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, c_program()).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(include_dir())
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "the layout test needs a C compiler to read include/tremor/plugin.h, but `{cc}` could not be run: {e}. \
                 Install one (e.g. `apt-get install gcc`, or run scripts/bootstrap.sh) or point $CC at it."
            )
        });
    assert!(
        out.status.success(),
        "compiling the generated layout program {} against the header failed: the Rust mirror in \
         pdk-rust/src/raw.rs no longer matches include/tremor/plugin.h.\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().expect("run the layout program");
    assert!(
        run.status.success(),
        "the layout program failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = String::from_utf8(run.stdout).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    text.lines()
        .map(|l| {
            let (k, v) = l
                .split_once(" = ")
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn mirror_covers_every_constant_of_the_header() {
    let header = header_constants(&header_text());
    let mirror: BTreeSet<String> = int_consts()
        .iter()
        .map(|c| c.0.to_string())
        .chain(str_consts().iter().map(|c| c.0.to_string()))
        .collect();
    let missing: Vec<_> = header.difference(&mirror).collect();
    let extra: Vec<_> = mirror.difference(&header).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "constants in the header but not in the mirror: {missing:?}; in the mirror but not in the header: {extra:?}"
    );
    assert!(
        header.len() > 30,
        "the header scan found only {} constants",
        header.len()
    );
}

#[test]
fn mirror_covers_every_struct_field_and_fn_type_of_the_header() {
    let text = header_text();
    let header = header_structs(&text);
    let mut mirror: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in fields() {
        mirror.entry(f.strukt.to_string()).or_default().push(f.path);
    }
    let header_names: BTreeSet<&str> = header.keys().map(String::as_str).collect();
    let mirror_names: BTreeSet<&str> = structs().iter().map(|s| s.name).collect();
    assert_eq!(header_names, mirror_names, "structs: header vs mirror");
    for (name, hfields) in &header {
        assert_eq!(
            Some(hfields),
            mirror.get(name),
            "fields of {name}: header vs mirror (order matters)"
        );
    }
    let fns: BTreeSet<String> = fn_types().iter().map(|f| f.0.to_string()).collect();
    assert_eq!(
        header_fn_types(&text),
        fns,
        "function-pointer typedefs: header vs mirror"
    );
}

#[test]
fn mirror_matches_the_header_compiled_by_cc() {
    let c = run_c_program();
    let rust = rust_lines();
    let mut problems = Vec::new();
    for (k, cv) in &c {
        match rust.get(k) {
            Some(rv) if rv == cv => {}
            Some(rv) => problems.push(format!("{k}: C says {cv}, Rust says {rv}")),
            None => problems.push(format!("{k}: C says {cv}, Rust has no such line")),
        }
    }
    for k in rust.keys().filter(|k| !c.contains_key(*k)) {
        problems.push(format!("{k}: Rust has it, C printed nothing"));
    }
    assert!(
        problems.is_empty(),
        "raw mirror vs include/tremor/plugin.h:\n  {}",
        problems.join("\n  ")
    );
    assert!(c.len() > 200, "only {} lines compared", c.len());
}

/// The checker itself must be able to fail: a header with one field moved
/// makes the scan disagree with the mirror.
#[test]
fn header_scan_notices_a_changed_header() {
    let text = header_text();
    let changed = text.replacen(
        "  uint64_t cap;\n  uint64_t len;\n} tremor_error;",
        "  uint64_t len;\n  uint64_t cap;\n} tremor_error;",
        1,
    );
    assert_ne!(
        text, changed,
        "the test's edit no longer applies to the header"
    );
    assert_ne!(
        header_structs(&changed)["tremor_error"],
        vec!["msg", "cap", "len"]
    );
    assert_eq!(
        header_structs(&text)["tremor_error"],
        vec!["msg", "cap", "len"]
    );
    let added = text.replacen(
        "  X(PORT_ERR, 1, \"err\")",
        "  X(PORT_ERR, 1, \"err\") \\\n  X(PORT_NEW, 2, \"new\")",
        1,
    );
    assert_ne!(
        text, added,
        "the test's edit no longer applies to the header"
    );
    assert!(header_constants(&added).contains("TREMOR_PORT_NEW"));
}
