//! Parameters builtins gained after run ids were first published, with the value that
//! reproduces the earlier behaviour. At that value they are left out of run ids
//! (`plan::run_spec`), of checkpoint job keys (`engine::train::job_key`) and of stdlib lock
//! values (`check::val`), so existing studies keep their ids and resume when lrx gains an
//! option. Part of the builtins' description, so every stage reads it from here.

use crate::value::Value;

/// Parameters added after run ids were first published, with the default that reproduces the
/// earlier behaviour: left out of the id at that default, so existing studies keep their ids
/// (and resume) when lrx gains an option. The regime options of issue 19
/// ([`REGIME_DEFAULTS`]) follow these.
pub const LATER_PARAMS: &[(&str, Later)] = &[("backward_init", Later::S("independent"))];

/// Parameters one builtin gained after run ids were first published, with the value the
/// engine used before a spec could set them (builtin, parameter, value): left out of run ids,
/// checkpoint job keys and stdlib locks at that value, as [`LATER_PARAMS`] are. Unlike those,
/// they are matched per builtin, because the same name is an older parameter of another one
/// (IA's `batch_center_backward_input`, the other tasks' `seed`).
pub const LATER_BUILTIN_PARAMS: &[(&str, &str, Later)] = &[
    ("activation", "batch_center_backward_input", Later::B(false)),
    ("weight_mirror", "input_noise", Later::S("none")),
    ("weight_mirror", "input_stddev", Later::F(1.0)),
    ("image_folder", "seed", Later::I(0)),
    ("knet4", "batch_norm", Later::B(false)),
    ("knet5", "batch_norm", Later::B(false)),
];

/// Rule parameters added after run ids were first published (the regime options of issue 19), with the value that
/// reproduces the earlier behaviour: run ids ([`LATER_PARAMS`]) and checkpoint job keys
/// (`train::job_key`) leave them out at that value, so existing studies keep their ids and
/// resume.
pub const REGIME_DEFAULTS: &[(&str, Later)] = &[
    ("constrain_norm", Later::B(false)),
    ("top_feedback", Later::S("random")),
    ("b_optimizer", Later::S("same")),
    ("b_lr_scale", Later::F(1.0)),
    ("alternate", Later::I(0)),
    ("projection_bias", Later::B(false)),
    ("hidden_lr_scale", Later::F(1.0)),
    ("constrain_b_norm", Later::B(false)),
    ("b_step_cap", Later::F(0.0)),
    ("b_step_recheck", Later::F(0.0)),
    ("input_scale", Later::S("raw")),
];

/// The default value of a parameter added later ([`REGIME_DEFAULTS`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Later {
    /// A boolean default.
    B(bool),
    /// An integer default.
    I(i64),
    /// A float default.
    F(f64),
    /// A name (string) default.
    S(&'static str),
}

impl Later {
    /// The value itself.
    pub fn value(self) -> Value {
        match self {
            Later::B(b) => Value::Bool(b),
            Later::I(i) => Value::Int(i),
            Later::F(f) => Value::Float(f),
            Later::S(s) => Value::Str(s.to_string()),
        }
    }
    /// Whether `v` is this default (numbers compare by value: `1` is `1.0`).
    pub fn is(self, v: &Value) -> bool {
        match (self, v) {
            (Later::B(d), Value::Bool(x)) => d == *x,
            (Later::S(d), Value::Str(x)) => d == x,
            (Later::I(d), Value::Int(x)) => d == *x,
            (Later::I(d), Value::Float(x)) => d as f64 == *x,
            (Later::F(d), Value::Float(x)) => d == *x,
            (Later::F(d), Value::Int(x)) => d == *x as f64,
            _ => false,
        }
    }
}

/// Whether `k = v`, a parameter of builtin `call`, is a parameter added later at the default
/// that reproduces the earlier behaviour ([`LATER_PARAMS`], [`REGIME_DEFAULTS`] and
/// [`LATER_BUILTIN_PARAMS`]).
pub fn at_later_default(call: &str, k: &str, v: &Value) -> bool {
    LATER_PARAMS
        .iter()
        .chain(REGIME_DEFAULTS)
        .any(|(p, d)| *p == k && d.is(v))
        || at_later_builtin_default(call, k, v)
}

/// Whether `k = v` of builtin `call` is in [`LATER_BUILTIN_PARAMS`] at its value there.
pub fn at_later_builtin_default(call: &str, k: &str, v: &Value) -> bool {
    LATER_BUILTIN_PARAMS
        .iter()
        .any(|(b, p, d)| *b == call && *p == k && d.is(v))
}
