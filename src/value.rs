//! Resolved parameter values shared by every stage after `check`.
//!
//! The checker binds each builtin call (`knet4(width = 0.5)`, `ia(alpha = 2e-3)`) against the
//! builtin's schema in [`crate::registry`] and produces a [`Call`]: the builtin's name and *every*
//! parameter with its concrete value (defaults filled in, units normalised, ranges checked).
//! The plan, the engine and the writers only ever see `Call`s, so they can read a parameter by
//! name and rely on it being present and of the schema's type.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// 2⁵³: floats hold every integer up to this magnitude exactly, and no wider range.
pub const EXACT_FLOAT_INT: f64 = 9_007_199_254_740_992.0;

/// A concrete parameter value. Serialised untagged, so `Call`s read naturally as JSON.
///
/// Integers are exact: `Int` holds every integer that fits an `i64`, `UInt` only those above
/// `i64::MAX` (seeds up to 2⁶⁴ − 1), so each integer has one representation and values that
/// fit an `i64` serialise (and hash into run ids) as they always have. Build them with
/// [`Value::from_u64`] or [`Value::from_i128`]. (Declaration order matters for untagged
/// deserialisation: `Int`, then `UInt`, then `Float`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits an `i64`.
    Int(i64),
    /// An integer above `i64::MAX` (never one that fits an `i64`).
    UInt(u64),
    /// A float (finite after checking); percentages are already fractions (`25%` is 0.25).
    Float(f64),
    /// A string, or a name from a parameter's list of allowed values.
    Str(String),
    /// A list: the value of a list parameter (`hidden` of `mlp`, `milestones`, a classifier's
    /// grid).
    List(Vec<Value>),
}

impl Value {
    /// An exact non-negative integer: `Int` when it fits an `i64`, else `UInt`.
    pub fn from_u64(u: u64) -> Value {
        match i64::try_from(u) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::UInt(u),
        }
    }
    /// An exact integer in [`i64::MIN`, `u64::MAX`]; `None` outside.
    pub fn from_i128(i: i128) -> Option<Value> {
        if let Ok(i) = i64::try_from(i) {
            Some(Value::Int(i))
        } else {
            u64::try_from(i).ok().map(Value::UInt)
        }
    }
    /// The value as an `f64`, when it is a number (integers are converted, possibly rounded
    /// above 2⁵³).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::UInt(u) => Some(*u as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
    /// The value as an `i64`, when it is an integer that fits one exactly (a float only
    /// when whole and within ±2⁵³, where floats hold integers exactly).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() <= EXACT_FLOAT_INT => Some(*f as i64),
            _ => None,
        }
    }
    /// The value as a `u64` (seeds), when it is a non-negative integer that fits one exactly.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(i) => u64::try_from(*i).ok(),
            Value::UInt(u) => Some(*u),
            Value::Float(f) if f.fract() == 0.0 && (0.0..=EXACT_FLOAT_INT).contains(f) => {
                Some(*f as u64)
            }
            _ => None,
        }
    }
    /// The value, when it is a `Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// The value, when it is a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The items, when it is a `List`.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "{s}"),
            Value::List(l) => {
                write!(f, "[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
        }
    }
}

// Values are finite after checking, so bitwise float equality is a true equivalence and
// `Value`/`Call` can key the plan's caches.
impl Eq for Value {}

impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::mem::discriminant(self).hash(h);
        match self {
            Value::Bool(b) => b.hash(h),
            Value::Int(i) => i.hash(h),
            Value::UInt(u) => u.hash(h),
            Value::Float(f) => f.to_bits().hash(h),
            Value::Str(s) => s.hash(h),
            Value::List(l) => l.hash(h),
        }
    }
}

/// A resolved builtin call: the builtin's registry name and every parameter, defaults included.
/// `BTreeMap` keeps the parameter order canonical, which the run id hash relies on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Call {
    /// The builtin's name in [`crate::registry::BUILTINS`] (`knet4`).
    pub name: String,
    /// Every parameter of the builtin's schema, by name, with its value.
    pub params: BTreeMap<String, Value>,
}

impl Call {
    /// A call of `name` with no parameters yet (add them with [`Call::with`]).
    pub fn new(name: impl Into<String>) -> Self {
        Call {
            name: name.into(),
            params: BTreeMap::new(),
        }
    }
    /// Builder used by tests and code that constructs calls directly.
    pub fn with(mut self, key: &str, v: Value) -> Self {
        self.params.insert(key.to_string(), v);
        self
    }
    /// The value of parameter `key`, `None` when the call has no such parameter.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.params.get(key)
    }
    /// Typed getters: return `None` when absent or of another type. Code after `check`
    /// may `expect` on these for parameters the schema declares.
    pub fn f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }
    /// Parameter `key` as an `i64` (see [`Value::as_i64`]).
    pub fn i64(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Value::as_i64)
    }
    /// A seed (an exact integer in [0, 2⁶⁴ − 1]).
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(Value::as_u64)
    }
    /// Parameter `key`, when it is a `Bool`.
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }
    /// Parameter `key`, when it is a `Str`.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

/// Lower-case hexadecimal of bytes (digests in run ids, spec hashes and checksums).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_have_one_representation_and_round_trip_json() {
        assert_eq!(Value::from_u64(7), Value::Int(7));
        assert_eq!(Value::from_u64(u64::MAX), Value::UInt(u64::MAX));
        assert_eq!(Value::from_i128(-1), Some(Value::Int(-1)));
        assert_eq!(Value::from_i128(1 << 64), None);
        assert_eq!(Value::from_i128(i128::from(i64::MIN) - 1), None);
        for v in [
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::UInt(i64::MAX as u64 + 1),
            Value::UInt(u64::MAX),
            Value::Float(0.5),
        ] {
            let j = serde_json::to_string(&v).unwrap();
            let back: Value = serde_json::from_str(&j).unwrap();
            assert_eq!(back, v, "{j}");
        }
        assert_eq!(
            serde_json::to_string(&Value::UInt(u64::MAX)).unwrap(),
            "18446744073709551615"
        );
        assert_eq!(Value::UInt(u64::MAX).as_u64(), Some(u64::MAX));
        assert_eq!(Value::UInt(u64::MAX).as_i64(), None);
        assert_eq!(Value::Int(-1).as_u64(), None);
        // A float above 2^53 is not taken for an exact integer.
        assert_eq!(Value::Float(1e19).as_u64(), None);
        assert_eq!(Value::Float(4.0).as_u64(), Some(4));
    }
}
