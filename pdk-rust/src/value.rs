//! Structured values: an owned tree ([`Value`]) that plugins build, a
//! borrowed, checked view ([`ValueRef`]) over the host's flat node arrays,
//! and the code that converts between the two.

use crate::raw;
use std::fmt;

/// The kind of a structured value (TREMOR_VALUE_*), also the type of a
/// config field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    Null,
    Bool,
    Int,
    Uint,
    Float,
    String,
    Bytes,
    Array,
    Object,
}

impl ValueKind {
    /// The TREMOR_VALUE_* constant.
    pub const fn raw(self) -> u8 {
        match self {
            ValueKind::Null => raw::TREMOR_VALUE_NULL,
            ValueKind::Bool => raw::TREMOR_VALUE_BOOL,
            ValueKind::Int => raw::TREMOR_VALUE_INT,
            ValueKind::Uint => raw::TREMOR_VALUE_UINT,
            ValueKind::Float => raw::TREMOR_VALUE_FLOAT,
            ValueKind::String => raw::TREMOR_VALUE_STRING,
            ValueKind::Bytes => raw::TREMOR_VALUE_BYTES,
            ValueKind::Array => raw::TREMOR_VALUE_ARRAY,
            ValueKind::Object => raw::TREMOR_VALUE_OBJECT,
        }
    }

    pub const fn from_raw(kind: u8) -> Option<ValueKind> {
        Some(match kind {
            raw::TREMOR_VALUE_NULL => ValueKind::Null,
            raw::TREMOR_VALUE_BOOL => ValueKind::Bool,
            raw::TREMOR_VALUE_INT => ValueKind::Int,
            raw::TREMOR_VALUE_UINT => ValueKind::Uint,
            raw::TREMOR_VALUE_FLOAT => ValueKind::Float,
            raw::TREMOR_VALUE_STRING => ValueKind::String,
            raw::TREMOR_VALUE_BYTES => ValueKind::Bytes,
            raw::TREMOR_VALUE_ARRAY => ValueKind::Array,
            raw::TREMOR_VALUE_OBJECT => ValueKind::Object,
            _ => return None,
        })
    }

    pub const fn name(self) -> &'static str {
        match self {
            ValueKind::Null => "null",
            ValueKind::Bool => "bool",
            ValueKind::Int => "int",
            ValueKind::Uint => "uint",
            ValueKind::Float => "float",
            ValueKind::String => "string",
            ValueKind::Bytes => "bytes",
            ValueKind::Array => "array",
            ValueKind::Object => "object",
        }
    }
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An owned structured value, the builder for structured events and
/// metadata. Object members keep their order; when a key repeats, readers
/// take the last one.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    String(String),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// An empty object, to fill with [`Value::with`].
    pub fn object() -> Value {
        Value::Object(Vec::new())
    }

    /// Builder: appends a member to an object (panics on other kinds, which
    /// is a bug in the caller).
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Value {
        match &mut self {
            Value::Object(members) => members.push((key.into(), value.into())),
            other => panic!("Value::with on a {} value", other.kind()),
        }
        self
    }

    pub fn kind(&self) -> ValueKind {
        match self {
            Value::Null => ValueKind::Null,
            Value::Bool(_) => ValueKind::Bool,
            Value::Int(_) => ValueKind::Int,
            Value::Uint(_) => ValueKind::Uint,
            Value::Float(_) => ValueKind::Float,
            Value::String(_) => ValueKind::String,
            Value::Bytes(_) => ValueKind::Bytes,
            Value::Array(_) => ValueKind::Array,
            Value::Object(_) => ValueKind::Object,
        }
    }

    /// The member `key` of an object (the last one when keys repeat).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// How many nodes and arena bytes (strings, byte strings, keys) this
    /// value needs when flattened.
    pub fn encoded_size(&self) -> (u64, u64) {
        let mut nodes = 0u64;
        let mut bytes = 0u64;
        let mut stack: Vec<(&Value, usize)> = vec![(self, 0)];
        while let Some((v, key_len)) = stack.pop() {
            nodes += 1;
            bytes += key_len as u64;
            match v {
                Value::String(s) => bytes += s.len() as u64,
                Value::Bytes(b) => bytes += b.len() as u64,
                Value::Array(items) => stack.extend(items.iter().map(|i| (i, 0))),
                Value::Object(members) => stack.extend(members.iter().map(|(k, v)| (v, k.len()))),
                _ => {}
            }
        }
        (nodes, bytes)
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident via $conv:expr),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value { Value::$variant(($conv)(v)) }
        }
    )*};
}
value_from! {
    bool => Bool via |v| v,
    i8 => Int via i64::from, i16 => Int via i64::from, i32 => Int via i64::from, i64 => Int via |v| v,
    u8 => Uint via u64::from, u16 => Uint via u64::from, u32 => Uint via u64::from, u64 => Uint via |v| v,
    f32 => Float via f64::from, f64 => Float via |v| v,
    String => String via |v| v,
    &str => String via str::to_owned,
    Vec<u8> => Bytes via |v| v,
    &[u8] => Bytes via <[u8]>::to_vec,
    Vec<Value> => Array via |v| v,
}

impl From<()> for Value {
    fn from(_: ()) -> Value {
        Value::Null
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

// ---------------------------------------------------------------------------
// Flattening an owned value into arenas
// ---------------------------------------------------------------------------

/// Where flattened nodes and bytes go. Implementations have checked the room
/// beforehand ([`Value::encoded_size`]).
pub(crate) trait Arena {
    /// Appends a node, returns its absolute index.
    fn push_node(&mut self, node: raw::tremor_value) -> u64;
    /// Sets `as.descendants` of a node pushed earlier.
    fn set_descendants(&mut self, index: u64, descendants: u64);
    /// Number of nodes pushed so far (absolute).
    fn nodes_len(&self) -> u64;
    /// Appends bytes, returns their absolute offset.
    fn push_bytes(&mut self, bytes: &[u8]) -> u64;
}

/// Flattens `value` in pre-order; returns the index of its root node.
pub(crate) fn encode(arena: &mut impl Arena, value: &Value) -> u64 {
    encode_node(arena, value, None)
}

fn encode_node(arena: &mut impl Arena, value: &Value, key: Option<&str>) -> u64 {
    let (key_offset, key_len) = match key {
        Some(k) if !k.is_empty() => (arena.push_bytes(k.as_bytes()), k.len() as u32),
        _ => (0, 0),
    };
    let mut node = raw::tremor_value {
        kind: value.kind().raw(),
        reserved: [0; 3],
        key_len,
        key_offset,
        len: 0,
        as_: raw::tremor_value_as { u: 0 },
    };
    match value {
        Value::Null => {}
        Value::Bool(b) => node.as_.boolean = u64::from(*b),
        Value::Int(i) => node.as_.i = *i,
        Value::Uint(u) => node.as_.u = *u,
        Value::Float(f) => node.as_.f = *f,
        Value::String(s) => {
            node.len = s.len() as u64;
            node.as_.offset = if s.is_empty() {
                0
            } else {
                arena.push_bytes(s.as_bytes())
            };
        }
        Value::Bytes(b) => {
            node.len = b.len() as u64;
            node.as_.offset = if b.is_empty() { 0 } else { arena.push_bytes(b) };
        }
        Value::Array(items) => node.len = items.len() as u64,
        Value::Object(members) => node.len = members.len() as u64,
    }
    let index = arena.push_node(node);
    match value {
        Value::Array(items) => {
            for item in items {
                encode_node(arena, item, None);
            }
        }
        Value::Object(members) => {
            for (k, v) in members {
                encode_node(arena, v, Some(k));
            }
        }
        _ => return index,
    }
    let descendants = arena.nodes_len() - index - 1;
    arena.set_descendants(index, descendants);
    index
}

// ---------------------------------------------------------------------------
// Checking and reading host-given flat values
// ---------------------------------------------------------------------------

/// Checks the value whose root is `nodes[root]`: known kinds, booleans 0/1,
/// child counts consistent with `descendants`, every string, byte string and
/// key span inside `bytes`, strings and keys valid UTF-8. Returns the number
/// of nodes the value occupies. Iterative, so a hostile depth cannot
/// overflow the stack.
pub(crate) fn check_tree(
    nodes: &[raw::tremor_value],
    bytes: &[u8],
    root: usize,
) -> Result<usize, String> {
    struct Frame {
        children_left: u64,
        is_object: bool,
        end: usize,
    }
    if root >= nodes.len() {
        return Err(format!(
            "value root {root} is outside the {} value nodes",
            nodes.len()
        ));
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = root;
    loop {
        let limit = stack.last().map_or(nodes.len(), |f| f.end);
        if i >= limit {
            return Err(format!(
                "value node {i}: the tree runs past its parent's descendants"
            ));
        }
        let node = &nodes[i];
        let keyed = match stack.last_mut() {
            Some(f) => {
                f.children_left -= 1;
                f.is_object
            }
            None => false,
        };
        if keyed {
            let key = span(bytes, node.key_offset, u64::from(node.key_len)).ok_or_else(|| {
                format!(
                    "value node {i}: key span is outside the {} arena bytes",
                    bytes.len()
                )
            })?;
            std::str::from_utf8(key).map_err(|_| format!("value node {i}: key is not UTF-8"))?;
        }
        // SAFETY (all union reads below): every member is a plain 64-bit
        // integer or double; any bit pattern is a valid u64.
        let bits = unsafe { node.as_.u };
        match ValueKind::from_raw(node.kind) {
            None => return Err(format!("value node {i}: unknown kind {}", node.kind)),
            Some(ValueKind::Bool) if bits > 1 => {
                return Err(format!("value node {i}: bool is {bits}, not 0 or 1"));
            }
            Some(ValueKind::String) => {
                let s = span(bytes, bits, node.len).ok_or_else(|| {
                    format!(
                        "value node {i}: string span is outside the {} arena bytes",
                        bytes.len()
                    )
                })?;
                std::str::from_utf8(s)
                    .map_err(|_| format!("value node {i}: string is not UTF-8"))?;
            }
            Some(ValueKind::Bytes) => {
                span(bytes, bits, node.len).ok_or_else(|| {
                    format!(
                        "value node {i}: byte string span is outside the {} arena bytes",
                        bytes.len()
                    )
                })?;
            }
            Some(kind @ (ValueKind::Array | ValueKind::Object)) => {
                let (children, descendants) = (node.len, bits);
                let end = usize::try_from(descendants)
                    .ok()
                    .and_then(|d| i.checked_add(1)?.checked_add(d))
                    .filter(|end| *end <= limit)
                    .ok_or_else(|| {
                        format!("value node {i}: {descendants} descendants run past the end")
                    })?;
                if children > descendants || (children == 0 && descendants != 0) {
                    return Err(format!(
                        "value node {i}: {children} children but {descendants} descendants"
                    ));
                }
                if children > 0 {
                    stack.push(Frame {
                        children_left: children,
                        is_object: kind == ValueKind::Object,
                        end,
                    });
                }
            }
            Some(_) => {}
        }
        i += 1;
        while let Some(f) = stack.last() {
            if f.children_left > 0 {
                break;
            }
            if i != f.end {
                return Err(format!(
                    "value node ending at {}: the children occupy {} nodes, not the declared descendants",
                    f.end, i
                ));
            }
            stack.pop();
        }
        if stack.is_empty() {
            return Ok(i - root);
        }
    }
}

/// `bytes[offset .. offset + len]`, or None when it is out of bounds.
pub(crate) fn span(bytes: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    bytes.get(start..end)
}

/// A read-only view of one structured value inside host-owned arenas. It can
/// only be obtained after the whole value was checked, so its accessors
/// never fail on malformed data; the lifetime ties it to the hook call that
/// handed the data in.
#[derive(Clone, Copy)]
pub struct ValueRef<'a> {
    nodes: &'a [raw::tremor_value],
    bytes: &'a [u8],
    index: usize,
}

impl<'a> ValueRef<'a> {
    /// Precondition (not a safety one: a violation panics, it is not UB):
    /// the caller has run [`check_tree`] on the value at `index`.
    pub(crate) fn new_checked(
        nodes: &'a [raw::tremor_value],
        bytes: &'a [u8],
        index: usize,
    ) -> Self {
        ValueRef {
            nodes,
            bytes,
            index,
        }
    }

    fn node(&self) -> &'a raw::tremor_value {
        &self.nodes[self.index]
    }

    fn bits(&self) -> u64 {
        // SAFETY: all union members are plain 64-bit data.
        unsafe { self.node().as_.u }
    }

    pub fn kind(&self) -> ValueKind {
        ValueKind::from_raw(self.node().kind).expect("checked value")
    }

    pub fn is_null(&self) -> bool {
        self.kind() == ValueKind::Null
    }

    pub fn as_bool(&self) -> Option<bool> {
        (self.kind() == ValueKind::Bool).then(|| self.bits() == 1)
    }

    /// INT, or a UINT that fits an i64.
    pub fn as_i64(&self) -> Option<i64> {
        match self.kind() {
            ValueKind::Int => Some(self.bits() as i64),
            ValueKind::Uint => i64::try_from(self.bits()).ok(),
            _ => None,
        }
    }

    /// UINT, or a non-negative INT.
    pub fn as_u64(&self) -> Option<u64> {
        match self.kind() {
            ValueKind::Uint => Some(self.bits()),
            ValueKind::Int => u64::try_from(self.bits() as i64).ok(),
            _ => None,
        }
    }

    /// FLOAT, or an INT/UINT converted to a double.
    pub fn as_f64(&self) -> Option<f64> {
        match self.kind() {
            ValueKind::Float => Some(f64::from_bits(self.bits())),
            ValueKind::Int => Some(self.bits() as i64 as f64),
            ValueKind::Uint => Some(self.bits() as f64),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&'a str> {
        (self.kind() == ValueKind::String).then(|| {
            let b = span(self.bytes, self.bits(), self.node().len).expect("checked value");
            std::str::from_utf8(b).expect("checked value")
        })
    }

    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        (self.kind() == ValueKind::Bytes)
            .then(|| span(self.bytes, self.bits(), self.node().len).expect("checked value"))
    }

    /// The key of this value when its parent is an object ("" otherwise).
    pub fn key(&self) -> &'a str {
        let n = self.node();
        span(self.bytes, n.key_offset, u64::from(n.key_len))
            .and_then(|k| std::str::from_utf8(k).ok())
            .unwrap_or("")
    }

    /// Number of direct children of an array or object (0 for others).
    pub fn len(&self) -> usize {
        match self.kind() {
            ValueKind::Array | ValueKind::Object => self.node().len as usize,
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Nodes occupied by this value (1 + descendants).
    fn extent(&self) -> usize {
        match self.kind() {
            ValueKind::Array | ValueKind::Object => 1 + self.bits() as usize,
            _ => 1,
        }
    }

    /// The direct children of an array or object, in order (empty for other
    /// kinds). For object members, [`ValueRef::key`] gives the key.
    pub fn children(&self) -> Children<'a> {
        Children {
            nodes: self.nodes,
            bytes: self.bytes,
            next: self.index + 1,
            left: self.len(),
        }
    }

    /// The member `key` of an object (the last one when keys repeat).
    pub fn get(&self, key: &str) -> Option<ValueRef<'a>> {
        if self.kind() != ValueKind::Object {
            return None;
        }
        self.children().filter(|c| c.key() == key).last()
    }

    /// Copies this value into an owned [`Value`].
    pub fn to_value(&self) -> Value {
        match self.kind() {
            ValueKind::Null => Value::Null,
            ValueKind::Bool => Value::Bool(self.bits() == 1),
            ValueKind::Int => Value::Int(self.bits() as i64),
            ValueKind::Uint => Value::Uint(self.bits()),
            ValueKind::Float => Value::Float(f64::from_bits(self.bits())),
            ValueKind::String => Value::String(self.as_str().unwrap_or_default().to_owned()),
            ValueKind::Bytes => Value::Bytes(self.as_bytes().unwrap_or_default().to_vec()),
            ValueKind::Array => Value::Array(self.children().map(|c| c.to_value()).collect()),
            ValueKind::Object => Value::Object(
                self.children()
                    .map(|c| (c.key().to_owned(), c.to_value()))
                    .collect(),
            ),
        }
    }
}

impl fmt::Debug for ValueRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_value(), f)
    }
}

/// Iterator over the direct children of an array or object.
pub struct Children<'a> {
    nodes: &'a [raw::tremor_value],
    bytes: &'a [u8],
    next: usize,
    left: usize,
}

impl<'a> Iterator for Children<'a> {
    type Item = ValueRef<'a>;
    fn next(&mut self) -> Option<ValueRef<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let child = ValueRef::new_checked(self.nodes, self.bytes, self.next);
        self.next += child.extent();
        Some(child)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Children<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    struct VecArena {
        nodes: Vec<raw::tremor_value>,
        bytes: Vec<u8>,
    }
    impl Arena for VecArena {
        fn push_node(&mut self, node: raw::tremor_value) -> u64 {
            self.nodes.push(node);
            self.nodes.len() as u64 - 1
        }
        fn set_descendants(&mut self, index: u64, descendants: u64) {
            self.nodes[index as usize].as_.descendants = descendants;
        }
        fn nodes_len(&self) -> u64 {
            self.nodes.len() as u64
        }
        fn push_bytes(&mut self, bytes: &[u8]) -> u64 {
            self.bytes.extend_from_slice(bytes);
            (self.bytes.len() - bytes.len()) as u64
        }
    }

    fn sample() -> Value {
        Value::object()
            .with("a", 1i64)
            .with(
                "b",
                Value::Array(vec![
                    Value::from("x"),
                    Value::Null,
                    Value::object().with("deep", true),
                ]),
            )
            .with("c", Value::Bytes(vec![0, 255]))
            .with("d", -2.5f64)
            .with("e", u64::MAX)
            .with("", "")
    }

    fn flatten(v: &Value) -> VecArena {
        let mut a = VecArena {
            nodes: vec![],
            bytes: vec![],
        };
        encode(&mut a, v);
        a
    }

    #[test]
    fn roundtrip_through_flat_nodes() {
        let v = sample();
        let a = flatten(&v);
        let (nodes, bytes) = v.encoded_size();
        assert_eq!(nodes as usize, a.nodes.len());
        assert_eq!(bytes as usize, a.bytes.len());
        assert_eq!(check_tree(&a.nodes, &a.bytes, 0), Ok(a.nodes.len()));
        let r = ValueRef::new_checked(&a.nodes, &a.bytes, 0);
        assert_eq!(r.to_value(), v);
        assert_eq!(
            r.get("b")
                .unwrap()
                .children()
                .nth(2)
                .unwrap()
                .get("deep")
                .unwrap()
                .as_bool(),
            Some(true)
        );
        assert_eq!(r.get("e").unwrap().as_i64(), None);
        assert_eq!(r.get("a").unwrap().as_f64(), Some(1.0));
    }

    #[test]
    fn last_duplicate_key_wins() {
        let v = Value::object().with("k", 1i64).with("k", 2i64);
        let a = flatten(&v);
        let r = ValueRef::new_checked(&a.nodes, &a.bytes, 0);
        assert_eq!(r.get("k").unwrap().as_i64(), Some(2));
        assert_eq!(v.get("k"), Some(&Value::Int(2)));
    }

    #[test]
    fn rejects_malformed_trees() {
        let good = flatten(&sample());
        let check = |f: &dyn Fn(&mut VecArena)| {
            let mut a = VecArena {
                nodes: good.nodes.clone(),
                bytes: good.bytes.clone(),
            };
            f(&mut a);
            check_tree(&a.nodes, &a.bytes, 0)
        };
        assert!(
            check(&|a| a.nodes[0].kind = 42)
                .unwrap_err()
                .contains("unknown kind")
        );
        assert!(
            check(&|a| a.nodes[0].as_.descendants = 1000)
                .unwrap_err()
                .contains("run past")
        );
        assert!(check(&|a| unsafe { a.nodes[0].as_.descendants -= 1 }).is_err());
        assert!(check(&|a| a.nodes[0].len += 1).is_err());
        assert!(
            check(&|a| a.nodes[1].key_len = 10_000)
                .unwrap_err()
                .contains("key span")
        );
        assert!(check(&|a| a.bytes.truncate(2)).is_err());
        assert!(
            check(&|a| {
                let i = a
                    .nodes
                    .iter()
                    .position(|n| n.kind == raw::TREMOR_VALUE_BOOL)
                    .unwrap();
                a.nodes[i].as_.boolean = 7;
            })
            .unwrap_err()
            .contains("bool")
        );
        assert!(
            check(&|a| {
                let i = a
                    .nodes
                    .iter()
                    .position(|n| n.kind == raw::TREMOR_VALUE_STRING && n.len == 1)
                    .unwrap();
                let off = unsafe { a.nodes[i].as_.offset } as usize;
                a.bytes[off] = 0xff;
            })
            .unwrap_err()
            .contains("UTF-8")
        );
        assert!(check_tree(&good.nodes, &good.bytes, good.nodes.len()).is_err());
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        // 200k nested arrays: a recursive checker would overflow.
        let depth = 200_000u64;
        let mut nodes = Vec::new();
        for d in 0..depth {
            let mut n = raw::tremor_value {
                kind: raw::TREMOR_VALUE_ARRAY,
                reserved: [0; 3],
                key_len: 0,
                key_offset: 0,
                len: 1,
                as_: raw::tremor_value_as {
                    descendants: depth - d,
                },
            };
            if d == depth - 1 {
                n.as_.descendants = 1;
            }
            nodes.push(n);
        }
        nodes.push(raw::tremor_value {
            kind: raw::TREMOR_VALUE_NULL,
            reserved: [0; 3],
            key_len: 0,
            key_offset: 0,
            len: 0,
            as_: raw::tremor_value_as { u: 0 },
        });
        assert_eq!(check_tree(&nodes, &[], 0), Ok(nodes.len()));
    }
}
