//! Values during checking: what an expression evaluates to before it is coerced to the type a
//! key or parameter expects.

use super::ir::Observable;
use crate::registry::Builtin;
use crate::source::Span;
use crate::value::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A resolved builtin instance (task, arch, rule, classifier, ...).
#[derive(Debug, Clone)]
pub struct Obj {
    pub builtin: &'static Builtin,
    pub label: String,
    pub params: BTreeMap<String, Value>,
    pub explicit: BTreeSet<String>,
}

impl PartialEq for Obj {
    fn eq(&self, o: &Obj) -> bool {
        self.builtin.name == o.builtin.name && self.label == o.label && self.params == o.params
    }
}

/// A checked-time value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Num {
        v: f64,
        int: bool,
        unit: Option<String>,
    },
    Str(String),
    Bool(bool),
    None,
    /// A bare name that is not a definition: a builtin with default parameters, an enum value
    /// (`sqrt`, `weight`, `html`) or a factor name (`arch`), depending on where it is used.
    Sym(String),
    List(Vec<SVal>),
    Tuple(Vec<SVal>),
    Map(Vec<(SVal, SVal)>),
    Obj(std::rc::Rc<Obj>),
    /// `every(k epochs)`.
    Every(i64),
    /// `val(n)`: the first n validation stimuli (0 = all).
    Stimuli(i64),
    /// `pairs(factor)`.
    Pairs(String),
    /// `curriculum(a, b)`: a composite factor.
    Composite(String, Vec<String>),
    /// An `observables` block.
    Observables(Vec<Observable>),
}

/// A value and the span of the expression that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct SVal {
    pub v: Val,
    pub span: Span,
}

impl SVal {
    pub fn new(v: Val, span: Span) -> Self {
        SVal { v, span }
    }
}

impl Val {
    /// What the value is, for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match self {
            Val::Num { unit: Some(u), .. } => format!("a number in `{u}`"),
            Val::Num { int: true, .. } => "an integer".into(),
            Val::Num { .. } => "a number".into(),
            Val::Str(_) => "a string".into(),
            Val::Bool(_) => "a boolean".into(),
            Val::None => "`none`".into(),
            Val::Sym(s) => format!("the name `{s}`"),
            Val::List(_) => "a list".into(),
            Val::Tuple(_) => "a tuple".into(),
            Val::Map(_) => "a table".into(),
            Val::Obj(o) => format!("the {} `{}`", o.builtin.kind.name(), o.label),
            Val::Every(_) => "a checkpoint schedule".into(),
            Val::Stimuli(_) => "a stimulus set".into(),
            Val::Pairs(_) => "a pairwise target".into(),
            Val::Composite(..) => "a composite factor".into(),
            Val::Observables(_) => "an observables set".into(),
        }
    }

    /// The string a value is matched by in tables, `==` and `in`.
    pub fn key(&self) -> Option<String> {
        Some(match self {
            Val::Num { v, .. } => super::ir::fmt_num(*v),
            Val::Str(s) | Val::Sym(s) => s.clone(),
            Val::Bool(b) => b.to_string(),
            Val::None => "none".into(),
            Val::Obj(o) => o.label.clone(),
            _ => return None,
        })
    }

    /// Whether two values are equal for `==`, `in` and table lookups. Objects match by label
    /// or, for a call with arguments, by the name it was called as, so `paper.lr[rule]` finds
    /// `sgdm` for an inline `sgdm(momentum = 0.5)`.
    pub fn matches(&self, other: &Val) -> bool {
        match (self, other) {
            (Val::Num { v: a, .. }, Val::Num { v: b, .. }) => a == b,
            (Val::Tuple(a), Val::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.v.matches(&y.v))
            }
            (Val::Obj(a), Val::Obj(b)) => a.label == b.label,
            (Val::Obj(o), v) | (v, Val::Obj(o)) => {
                // An inline call `knet4_lrn(width = 0.5)` also matches its base name.
                let base = o.label.split('(').next().unwrap_or(&o.label);
                v.key().is_some_and(|k| k == o.label || k == base)
            }
            (a, b) => match (a.key(), b.key()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }
}
