//! Resolved parameter values shared by every stage after `check`.
//!
//! The checker binds each builtin call (`knet4(width = 0.5)`, `ia(alpha = 2e-3)`) against the
//! builtin's schema in [`crate::registry`] and produces a [`Call`]: the builtin's name and *every*
//! parameter with its concrete value (defaults filled in, units normalised, ranges checked).
//! The plan, the engine and the writers only ever see `Call`s, so they can read a parameter by
//! name and rely on it being present and of the schema's type.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A concrete parameter value. Serialised untagged, so `Call`s read naturally as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 => Some(*f as i64),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
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
    pub name: String,
    pub params: BTreeMap<String, Value>,
}

impl Call {
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
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.params.get(key)
    }
    /// Typed getters: return `None` when absent or of another type. Code after `check`
    /// may `expect` on these for parameters the schema declares.
    pub fn f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }
    pub fn i64(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Value::as_i64)
    }
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}
