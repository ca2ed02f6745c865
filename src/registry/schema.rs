//! Parameter schemas: the typed description of every builtin's parameters (name, type, range,
//! unit, default, one-line doc). The checker binds call arguments against these; `lrx doc`
//! renders them.

use crate::value::Value;

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ty {
    /// `true` or `false`.
    Bool,
    /// An integer in `[min, max]`.
    Int {
        /// Smallest value allowed.
        min: i64,
        /// Largest value allowed (`i64::MAX`: no bound).
        max: i64,
    },
    /// A seed: an integer in [0, 2⁶⁴ − 1], kept exact (a `Value::Int`, or a `Value::UInt`
    /// above `i64::MAX`).
    Seed,
    /// A float in `[min, max]`.
    Float {
        /// Smallest value allowed.
        min: f64,
        /// Largest value allowed (infinite: no bound).
        max: f64,
    },
    /// A float in `(0, max]`: positive, zero refused (a learning rate).
    PosFloat {
        /// Largest value allowed (infinite: no bound).
        max: f64,
    },
    /// A fraction in `[0, 1]`; `25%` is accepted and means 0.25.
    Fraction,
    /// A whole number of epochs ≥ `min`; `5 epochs` or `5`.
    Epochs {
        /// Fewest epochs allowed.
        min: i64,
    },
    /// A string (a path, an environment-variable-derived path, a label).
    Str,
    /// One of a fixed set of names, written bare: `optimizer = adam`.
    Enum(&'static [&'static str]),
    /// A list of integers in `[min, max]`.
    IntList {
        /// Smallest item allowed.
        min: i64,
        /// Largest item allowed.
        max: i64,
    },
    /// A list of floats in `[min, max]`.
    FloatList {
        /// Smallest item allowed.
        min: f64,
        /// Largest item allowed.
        max: f64,
    },
    /// A list of floats in `(0, max]`: positive, zero refused (time constants, rates of a
    /// measurement model).
    PosFloatList {
        /// Largest item allowed (infinite: no bound).
        max: f64,
    },
    /// A list of names from a fixed set.
    EnumList(&'static [&'static str]),
    /// A list whose items are `none` or an integer ≥ 1 (PCA components).
    OptIntList,
}

impl Ty {
    /// Short human description for messages and docs.
    pub fn describe(&self) -> String {
        match self {
            Ty::Bool => "`true` or `false`".into(),
            Ty::Int { min, max } if *max == i64::MAX => format!("an integer ≥ {min}"),
            Ty::Int { min, max } => format!("an integer in [{min}, {max}]"),
            Ty::Seed => "an integer in [0, 18446744073709551615] (a 64-bit seed)".into(),
            Ty::Float { min, max } if max.is_infinite() => format!("a number ≥ {min}"),
            Ty::Float { min, max } => format!("a number in [{min}, {max}]"),
            Ty::PosFloat { max } if max.is_infinite() => "a number > 0".into(),
            Ty::PosFloat { max } => format!("a number > 0 and ≤ {max}"),
            Ty::Fraction => "a fraction in [0, 1] or a percentage".into(),
            Ty::Epochs { min } => format!("a whole number of epochs ≥ {min}"),
            Ty::Str => "a string".into(),
            Ty::Enum(v) => format!("one of {}", names(v)),
            Ty::IntList { .. } => "a list of integers".into(),
            Ty::FloatList { min, max } if max.is_infinite() => {
                format!("a list of numbers ≥ {min}")
            }
            Ty::FloatList { min, max } => format!("a list of numbers in [{min}, {max}]"),
            Ty::PosFloatList { max } if max.is_infinite() => "a list of numbers > 0".into(),
            Ty::PosFloatList { max } => format!("a list of numbers > 0 and ≤ {max}"),
            Ty::EnumList(v) => format!("a list of {}", names(v)),
            Ty::OptIntList => "a list of `none` or integers".into(),
        }
    }
    /// Whether a resolved value lies in this type's range: the check the checker applies
    /// and the bound its message states come from here, so they cannot disagree.
    pub fn admits(&self, v: &Value) -> bool {
        match self {
            Ty::Bool => v.as_bool().is_some(),
            Ty::Int { min, max } => v.as_i64().is_some_and(|i| i >= *min && i <= *max),
            Ty::Seed => v.as_u64().is_some(),
            Ty::Float { min, max } => v.as_f64().is_some_and(|f| f >= *min && f <= *max),
            Ty::PosFloat { max } => v.as_f64().is_some_and(|f| f > 0.0 && f <= *max),
            Ty::Fraction => v.as_f64().is_some_and(|f| (0.0..=1.0).contains(&f)),
            Ty::Epochs { min } => v.as_i64().is_some_and(|i| i >= *min),
            Ty::Str => v.as_str().is_some(),
            Ty::Enum(vals) => v.as_str().is_some_and(|s| vals.contains(&s)),
            Ty::IntList { min, max } => v.as_list().is_some_and(|l| {
                l.iter()
                    .all(|x| x.as_i64().is_some_and(|i| i >= *min && i <= *max))
            }),
            Ty::FloatList { min, max } => v.as_list().is_some_and(|l| {
                l.iter()
                    .all(|x| x.as_f64().is_some_and(|f| f >= *min && f <= *max))
            }),
            Ty::PosFloatList { max } => v.as_list().is_some_and(|l| {
                l.iter()
                    .all(|x| x.as_f64().is_some_and(|f| f > 0.0 && f <= *max))
            }),
            Ty::EnumList(vals) => v.as_list().is_some_and(|l| {
                l.iter()
                    .all(|x| x.as_str().is_some_and(|s| vals.contains(&s)))
            }),
            Ty::OptIntList => v.as_list().is_some_and(|l| {
                l.iter()
                    .all(|x| x.as_str() == Some("none") || x.as_i64().is_some_and(|i| i >= 1))
            }),
        }
    }
    /// Whether the parameter is a grid (a list); a single value is accepted and wrapped.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            Ty::IntList { .. }
                | Ty::FloatList { .. }
                | Ty::PosFloatList { .. }
                | Ty::EnumList(_)
                | Ty::OptIntList
        )
    }
}

fn names(v: &[&str]) -> String {
    v.iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A default value (const-friendly).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    /// The parameter must be given.
    Required,
    /// Filled in by the plan from the task (input size, channels, classes).
    FromTask,
    /// A `Bool`.
    B(bool),
    /// An `Int`.
    I(i64),
    /// A `Float`.
    F(f64),
    /// A `Str` (a name of an `Enum` too).
    S(&'static str),
    /// A list of integers.
    IL(&'static [i64]),
    /// A list of floats.
    FL(&'static [f64]),
    /// A list of strings (names of an `EnumList`).
    SL(&'static [&'static str]),
    /// For `OptIntList`: `None` items are written as -1 here.
    OIL(&'static [i64]),
}

impl Default {
    /// The default as a value; `None` for `Required` and `FromTask`, which have none.
    pub fn to_value(self) -> Option<Value> {
        Some(match self {
            Default::Required | Default::FromTask => return None,
            Default::B(b) => Value::Bool(b),
            Default::I(i) => Value::Int(i),
            Default::F(f) => Value::Float(f),
            Default::S(s) => Value::Str(s.into()),
            Default::IL(l) => Value::List(l.iter().map(|i| Value::Int(*i)).collect()),
            Default::FL(l) => Value::List(l.iter().map(|f| Value::Float(*f)).collect()),
            Default::SL(l) => Value::List(l.iter().map(|s| Value::Str((*s).into())).collect()),
            Default::OIL(l) => Value::List(
                l.iter()
                    .map(|i| {
                        if *i < 0 {
                            Value::Str("none".into())
                        } else {
                            Value::Int(*i)
                        }
                    })
                    .collect(),
            ),
        })
    }
    /// The default in words for docs and hover (`required`, `from the task`, `` `0.9` ``).
    pub fn describe(self) -> String {
        match self {
            Default::Required => "required".into(),
            Default::FromTask => "from the task".into(),
            d => d.to_value().map(|v| format!("`{v}`")).unwrap_or_default(),
        }
    }
}

/// One parameter of a builtin.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// The name used in calls (`width`).
    pub name: &'static str,
    /// The type and range of its values.
    pub ty: Ty,
    /// Its value when a call leaves it out.
    pub default: Default,
    /// The unit shown after the type in docs (`pixels`, `epochs`).
    pub unit: Option<&'static str>,
    /// One line of Markdown for `lrx doc` and hover.
    pub doc: &'static str,
}

/// Constructor shorthand used by the registry tables.
pub const fn p(name: &'static str, ty: Ty, default: Default, doc: &'static str) -> Param {
    Param {
        name,
        ty,
        default,
        unit: None,
        doc,
    }
}

/// Constructor with a unit (for docs and messages).
pub const fn pu(
    name: &'static str,
    ty: Ty,
    default: Default,
    unit: &'static str,
    doc: &'static str,
) -> Param {
    Param {
        name,
        ty,
        default,
        unit: Some(unit),
        doc,
    }
}

/// A float ≥ 0.
pub const POS: Ty = Ty::Float {
    min: 0.0,
    max: f64::INFINITY,
};
/// A float in [0, 1].
pub const UNIT: Ty = Ty::Float { min: 0.0, max: 1.0 };
/// An integer ≥ 1.
pub const COUNT: Ty = Ty::Int {
    min: 1,
    max: i64::MAX,
};
/// An integer ≥ 0.
pub const NONNEG: Ty = Ty::Int {
    min: 0,
    max: i64::MAX,
};
/// A seed, exact up to 2⁶⁴ − 1.
pub const SEED: Ty = Ty::Seed;
