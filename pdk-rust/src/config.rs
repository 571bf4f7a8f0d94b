//! The typed view of an instance's config handed to `Connector::create`.

use crate::error::{Error, Result};
use crate::value::{ValueKind, ValueRef};

/// The config object of one instance, borrowed from the host for the
/// duration of `on_create`: copy what you keep. The host has already checked
/// it against the declared fields (types, required fields, defaults); the
/// getters check again and fail with TREMOR_ERR_CONFIG and a message naming
/// the field, so a plugin never trusts the host blindly.
#[derive(Clone, Copy)]
pub struct Config<'a> {
    root: Option<ValueRef<'a>>,
}

impl<'a> Config<'a> {
    /// `root` is None for an absent config (no nodes), which reads as an
    /// empty object.
    pub(crate) fn new(root: Option<ValueRef<'a>>) -> Result<Self> {
        if let Some(r) = root {
            if r.kind() != ValueKind::Object {
                return Err(Error::config(format!(
                    "the config must be an object, not {}",
                    r.kind()
                )));
            }
        }
        Ok(Config { root })
    }

    /// An empty config (for calling `Connector::create` directly in tests).
    pub fn empty() -> Config<'static> {
        Config { root: None }
    }

    /// The whole config object (None when absent).
    pub fn as_value(&self) -> Option<ValueRef<'a>> {
        self.root
    }

    /// The raw value of a field, if present.
    pub fn get(&self, name: &str) -> Option<ValueRef<'a>> {
        self.root.and_then(|r| r.get(name))
    }

    /// Field names present in the config.
    pub fn keys(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.root
            .into_iter()
            .flat_map(|r| r.children())
            .map(|c| c.key())
    }

    fn typed<T>(
        &self,
        name: &str,
        want: &str,
        f: impl FnOnce(ValueRef<'a>) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.is_null() => Ok(None),
            Some(v) => {
                let kind = v.kind();
                f(v).map(Some).ok_or_else(|| {
                    Error::config(format!("config field `{name}` must be {want}, not {kind}"))
                })
            }
        }
    }

    fn required<T>(&self, name: &str, v: Result<Option<T>>) -> Result<T> {
        v?.ok_or_else(|| Error::config(format!("config field `{name}` is required")))
    }

    /// An optional string field (absent or null: None).
    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>> {
        self.typed(name, "a string", |v| v.as_str())
    }
    /// A required string field.
    pub fn str(&self, name: &str) -> Result<&'a str> {
        self.required(name, self.opt_str(name))
    }
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>> {
        self.typed(name, "a bool", |v| v.as_bool())
    }
    pub fn bool(&self, name: &str) -> Result<bool> {
        self.required(name, self.opt_bool(name))
    }
    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>> {
        self.typed(name, "an integer in the i64 range", |v| v.as_i64())
    }
    pub fn i64(&self, name: &str) -> Result<i64> {
        self.required(name, self.opt_i64(name))
    }
    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>> {
        self.typed(name, "a non-negative integer", |v| v.as_u64())
    }
    pub fn u64(&self, name: &str) -> Result<u64> {
        self.required(name, self.opt_u64(name))
    }
    pub fn opt_f64(&self, name: &str) -> Result<Option<f64>> {
        self.typed(name, "a number", |v| v.as_f64())
    }
    pub fn f64(&self, name: &str) -> Result<f64> {
        self.required(name, self.opt_f64(name))
    }
    pub fn opt_bytes(&self, name: &str) -> Result<Option<&'a [u8]>> {
        self.typed(name, "bytes", |v| v.as_bytes())
    }
    pub fn bytes(&self, name: &str) -> Result<&'a [u8]> {
        self.required(name, self.opt_bytes(name))
    }
}

/// Prints the field names only: values may be secrets (TREMOR_FIELD_SECRET).
impl std::fmt::Debug for Config<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Config")?;
        f.debug_set().entries(self.keys()).finish()
    }
}
