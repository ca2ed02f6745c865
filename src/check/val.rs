//! Values during checking: what an expression evaluates to before it is coerced to the type a
//! key or parameter expects.

use crate::ir::Observable;
use crate::registry::Builtin;
use crate::source::Span;
use crate::value::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A resolved builtin instance (task, arch, rule, classifier, ...).
#[derive(Debug, Clone)]
pub(crate) struct Obj {
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

/// The smallest and largest integer the language holds: `i64::MIN` and 2⁶⁴ − 1 (seeds).
pub(crate) const INT_MIN: i128 = i64::MIN as i128;
pub(crate) const INT_MAX: i128 = u64::MAX as i128;

/// A number during checking: an exact integer (written without `.` or an exponent, or the
/// result of integer arithmetic) or a finite float. Integers never pass through `f64`, so a
/// seed such as 2⁶⁴ − 1 reaches the plan unchanged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// In [`INT_MIN`, `INT_MAX`].
    Int(i128),
    /// Finite.
    Float(f64),
}

impl Num {
    pub(crate) fn f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(x) => x,
        }
    }
    /// The number as an exact integer: an integer, or a whole float within ±2⁵³ (where a
    /// float is exact). `None` for a fraction or a larger float.
    pub(crate) fn exact_int(self) -> Option<i128> {
        match self {
            Num::Int(i) => Some(i),
            Num::Float(x) if x.fract() == 0.0 && x.abs() <= crate::value::EXACT_FLOAT_INT => {
                Some(x as i128)
            }
            Num::Float(_) => None,
        }
    }
    /// Exact numeric comparison (an integer against a float without rounding the integer).
    pub(crate) fn cmp_exact(self, other: Num) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        fn int_float(i: i128, f: f64) -> Ordering {
            let fl = f.floor();
            // Beyond ±2^100 the float dwarfs every language integer.
            if fl < -1.2e30 {
                return Ordering::Greater;
            }
            if fl > 1.2e30 {
                return Ordering::Less;
            }
            match i.cmp(&(fl as i128)) {
                Ordering::Equal if f > fl => Ordering::Less,
                o => o,
            }
        }
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a.cmp(&b),
            (Num::Float(a), Num::Float(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
            (Num::Int(a), Num::Float(b)) => int_float(a, b),
            (Num::Float(a), Num::Int(b)) => int_float(b, a).reverse(),
        }
    }
    /// The canonical text: integers in full, floats in their shortest round-trip form.
    pub(crate) fn key(self) -> String {
        match self {
            Num::Int(i) => i.to_string(),
            Num::Float(x) => crate::ir::fmt_num(x),
        }
    }
}

/// A checked-time value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Num {
        n: Num,
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
    /// Shared: a table is cloned wherever its name is used (a 10 MB spec's table is 50 MB).
    Map(std::rc::Rc<Vec<(SVal, SVal)>>),
    Obj(std::rc::Rc<Obj>),
    /// `every(k epochs)`.
    Every(i64),
    /// `val(n)`: the first n validation stimuli (0 = all).
    Stimuli(i64),
    /// `pairs(factor)`.
    Pairs(crate::ir::Factor),
    /// `curriculum(a, b)`: a composite factor.
    Composite(String, Vec<crate::ir::Factor>),
    /// An `observables` block.
    Observables(Vec<Observable>),
}

/// A value and the span of the expression that produced it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SVal {
    pub v: Val,
    pub span: Span,
}

impl SVal {
    pub(crate) fn new(v: Val, span: Span) -> Self {
        SVal { v, span }
    }
}

impl Val {
    /// An integer without a unit.
    pub(crate) fn int(i: i128) -> Val {
        Val::Num {
            n: Num::Int(i),
            unit: None,
        }
    }
    /// A float without a unit.
    pub(crate) fn float(x: f64) -> Val {
        Val::Num {
            n: Num::Float(x),
            unit: None,
        }
    }

    /// What the value is, for "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Val::Num { unit: Some(u), .. } => format!("a number in `{u}`"),
            Val::Num { n: Num::Int(_), .. } => "an integer".into(),
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

    /// The value written out in full, the same on every machine and in every lrx version
    /// that resolves it the same way: the stdlib lock ([`crate::stdlib`]) compares presets by
    /// this text. Presets are their builtin and every parameter (defaults included).
    pub(crate) fn canonical(&self) -> String {
        let join = |items: &[SVal]| {
            items
                .iter()
                .map(|x| x.v.canonical())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Val::Num { n, unit: Some(u) } => format!("{} {u}", n.key()),
            Val::Num { n, unit: None } => n.key(),
            Val::Str(s) => serde_json::to_string(s).unwrap_or_default(),
            Val::Bool(b) => b.to_string(),
            Val::None => "none".into(),
            Val::Sym(s) => s.clone(),
            Val::List(items) => format!("[{}]", join(items)),
            Val::Tuple(items) => format!("({})", join(items)),
            Val::Map(entries) => format!(
                "{{ {} }}",
                entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.v.canonical(), v.v.canonical()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            // A parameter added later, at the default that keeps the old behaviour, is left
            // out (as run ids leave it out): adding an option does not change a stdlib value.
            Val::Obj(o) => format!(
                "{}({})",
                o.builtin.name,
                o.params
                    .iter()
                    .filter(|(k, v)| !crate::registry::later::at_later_default(
                        o.builtin.name,
                        k,
                        v
                    ))
                    .map(|(k, v)| format!("{k} = {}", serde_json::to_string(v).unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Val::Every(k) => format!("every({k} epochs)"),
            Val::Stimuli(n) => format!("val({n})"),
            Val::Pairs(f) => format!("pairs({f})"),
            Val::Composite(name, fs) => {
                let fs: Vec<&str> = fs.iter().map(|f| f.name()).collect();
                format!("{name}({})", fs.join(", "))
            }
            Val::Observables(os) => format!(
                "observables[{}]",
                os.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The string a value is matched by in tables, `==` and `in`.
    pub(crate) fn key(&self) -> Option<String> {
        Some(match self {
            Val::Num { n, .. } => n.key(),
            Val::Str(s) | Val::Sym(s) => s.clone(),
            Val::Bool(b) => b.to_string(),
            Val::None => "none".into(),
            Val::Obj(o) => o.label.clone(),
            _ => return None,
        })
    }

    /// A coarse key with `a.match_bucket() == b.match_bucket()` whenever `a.matches(b)`, to
    /// find matching values without comparing every pair. (One exception: an integer of 10^15
    /// or more and an integral float equal to it whose shortest decimal form differs from the
    /// integer's digits.)
    pub(crate) fn match_bucket(&self) -> String {
        match self {
            Val::Tuple(items) => format!("({})", items.len()),
            v => v.key().map_or_else(String::new, |k| {
                k.split('(').next().unwrap_or(&k).to_string()
            }),
        }
    }

    /// Whether two values are equal for `==`, `in` and table lookups. Objects match by label
    /// or, for a call with arguments, by the name it was called as, so `paper.lr[rule]` finds
    /// `sgdm` for an inline `sgdm(momentum = 0.5)`.
    pub(crate) fn matches(&self, other: &Val) -> bool {
        match (self, other) {
            (Val::Num { n: a, .. }, Val::Num { n: b, .. }) => {
                a.cmp_exact(*b) == std::cmp::Ordering::Equal
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn integers_compare_exactly_with_floats() {
        let big = (1i128 << 53) + 1;
        // 2^53 + 1 rounds to 2^53 as a float; the comparison must still see it as larger.
        assert_eq!(
            Num::Int(big).cmp_exact(Num::Float(9007199254740992.0)),
            Ordering::Greater
        );
        assert_eq!(
            Num::Float(9007199254740992.0).cmp_exact(Num::Int(big)),
            Ordering::Less
        );
        assert_eq!(Num::Int(3).cmp_exact(Num::Float(3.0)), Ordering::Equal);
        assert_eq!(Num::Int(3).cmp_exact(Num::Float(3.5)), Ordering::Less);
        assert_eq!(Num::Int(-3).cmp_exact(Num::Float(-3.5)), Ordering::Greater);
        assert_eq!(
            Num::Int(INT_MAX).cmp_exact(Num::Float(1e300)),
            Ordering::Less
        );
        assert_eq!(
            Num::Int(INT_MIN).cmp_exact(Num::Float(-1e300)),
            Ordering::Greater
        );
        assert_eq!(Num::Int(INT_MAX).key(), "18446744073709551615");
        assert_eq!(Num::Float(2.0).key(), Num::Int(2).key());
        assert_eq!(Num::Float(1e19).exact_int(), None);
        assert_eq!(Num::Float(-4.0).exact_int(), Some(-4));
    }
}
