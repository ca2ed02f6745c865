//! Coercion of values to the type a key or parameter expects, and of names to builtin objects.

use super::{Eval, a};
use crate::check::val::{INT_MAX, Obj, SVal, Val};
use crate::diag::{Diag, codes, one_of, suggest};
use crate::registry::schema::{Default as D, Ty};
use crate::registry::{self, Kind};
use crate::value::Value;
use std::collections::{BTreeMap, BTreeSet};

impl Eval<'_> {
    /// Converts a value to a parameter of type `ty` (checking type, unit and range).
    pub(crate) fn coerce(&mut self, v: &SVal, ty: &Ty, what: &str) -> Option<Value> {
        let span = v.span;
        match ty {
            Ty::Bool => match &v.v {
                Val::Bool(b) => Some(Value::Bool(*b)),
                o => self.type_err(span, "`true` or `false`", o),
            },
            Ty::Int { min, max } => {
                let i = self.exact_int(
                    v,
                    (*min).into(),
                    (*max).into(),
                    &format!("`{what}`"),
                    &ty.describe(),
                )?;
                Some(Value::Int(
                    i64::try_from(i).expect("checked against i64 bounds"),
                ))
            }
            Ty::Seed => {
                let i = self.exact_int(v, 0, INT_MAX, &format!("`{what}`"), &ty.describe())?;
                Value::from_i128(i)
            }
            Ty::Epochs { .. } => match &v.v {
                Val::Num { n, unit } if unit.is_none() || unit.as_deref() == Some("epochs") => {
                    match n.exact_int().and_then(|i| i64::try_from(i).ok()) {
                        Some(i) if ty.admits(&Value::Int(i)) => Some(Value::Int(i)),
                        _ => {
                            self.range_err(
                                span,
                                &format!("`{what}` = {}", n.key()),
                                &ty.describe(),
                            );
                            None
                        }
                    }
                }
                Val::Num { unit: Some(u), .. } => self.bad_unit(span, u, "epochs"),
                o => self.type_err(span, "a number of epochs", o),
            },
            Ty::Float { .. } | Ty::PosFloat { .. } => match &v.v {
                Val::Num { n, unit: None } => {
                    let x = Value::Float(n.f64());
                    if !ty.admits(&x) {
                        self.range_err(span, &format!("`{what}` = {}", n.key()), &ty.describe());
                        return None;
                    }
                    Some(x)
                }
                Val::Num { unit: Some(u), .. } => self.bad_unit(span, u, &ty.describe()),
                o => self.type_err(span, &ty.describe(), o),
            },
            Ty::Fraction => self.fraction(v, what),
            Ty::Str => match &v.v {
                Val::Str(s) => Some(Value::Str(s.clone())),
                o => self.type_err(span, "a string in double quotes", o),
            },
            Ty::Enum(vals) => self.enum_value(v, vals, what),
            Ty::IntList { min, max } => self.list(
                v,
                &Ty::Int {
                    min: *min,
                    max: *max,
                },
                what,
            ),
            Ty::FloatList { min, max } => self.list(
                v,
                &Ty::Float {
                    min: *min,
                    max: *max,
                },
                what,
            ),
            Ty::PosFloatList { max } => self.list(v, &Ty::PosFloat { max: *max }, what),
            Ty::EnumList(vals) => self.list(v, &Ty::Enum(vals), what),
            Ty::OptIntList => {
                let items = match &v.v {
                    Val::List(l) => l.clone(),
                    _ => vec![v.clone()],
                };
                let mut out = Vec::new();
                for i in &items {
                    match &i.v {
                        Val::None => out.push(Value::Str("none".into())),
                        _ => out.push(Value::Int(self.int(i, 1, i64::MAX)?)),
                    }
                }
                Some(Value::List(out))
            }
        }
    }

    /// A fraction, written as a number in [0, 1] or a percentage.
    fn fraction(&mut self, v: &SVal, what: &str) -> Option<Value> {
        let span = v.span;
        match &v.v {
            Val::Num { n, unit } => {
                let f = match unit.as_deref() {
                    None => n.f64(),
                    Some("%") => n.f64() / 100.0,
                    Some(u) => return self.bad_unit(span, u, "a fraction or a percentage"),
                };
                if !Ty::Fraction.admits(&Value::Float(f)) {
                    let shown = match unit.as_deref() {
                        Some("%") => format!("{}%", n.key()),
                        _ => n.key(),
                    };
                    self.range_err(
                        span,
                        &format!("`{what}` = {shown}"),
                        "a fraction in [0, 1] (0% to 100%)",
                    );
                    return None;
                }
                Some(Value::Float(f))
            }
            o => self.type_err(span, "a fraction or a percentage", o),
        }
    }

    /// One of the allowed names `vals` (a bare name, a string, or a builtin named by its label
    /// or name).
    fn enum_value(&mut self, v: &SVal, vals: &[&str], what: &str) -> Option<Value> {
        let span = v.span;
        match &v.v {
            Val::Sym(s) | Val::Str(s) if vals.contains(&s.as_str()) => Some(Value::Str(s.clone())),
            Val::None if vals.contains(&"none") => Some(Value::Str("none".into())),
            Val::Sym(s) | Val::Str(s) => {
                self.err(
                    Diag::error(
                        codes::UNKNOWN_NAME,
                        format!("`{s}` is not a valid `{what}`"),
                    )
                    .at(span, "unknown value")
                    .help(suggest(s, vals)),
                );
                None
            }
            Val::Obj(o) if vals.contains(&o.label.as_str()) => Some(Value::Str(o.label.clone())),
            Val::Obj(o) if vals.contains(&o.builtin.name) => {
                Some(Value::Str(o.builtin.name.into()))
            }
            o => self.type_err(span, &one_of(vals), o),
        }
    }

    fn list(&mut self, v: &SVal, item: &Ty, what: &str) -> Option<Value> {
        let items = match &v.v {
            Val::List(l) => l.clone(),
            _ => vec![v.clone()],
        };
        if items.is_empty() {
            self.err(
                Diag::error(codes::EMPTY_SWEEP, format!("`{what}` is an empty list"))
                    .at(v.span, "nothing to try")
                    .help("give at least one value"),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for i in &items {
            match self.coerce(i, item, what) {
                Some(x) => out.push(x),
                None => ok = false,
            }
        }
        ok.then_some(Value::List(out))
    }

    /// Converts a value to a builtin object of a kind (a bare name means the builtin with its
    /// default parameters).
    pub(crate) fn coerce_obj(&mut self, v: SVal, kind: Kind) -> Option<Obj> {
        match v.v {
            Val::Obj(o) if o.builtin.kind == kind => Some(std::rc::Rc::unwrap_or_clone(o)),
            Val::Obj(o) => {
                self.err(
                    Diag::error(
                        codes::TYPE_MISMATCH,
                        format!(
                            "expected {}, found the {} `{}`",
                            a(kind.name()),
                            o.builtin.kind.name(),
                            o.label
                        ),
                    )
                    .at(v.span, format!("not {}", a(kind.name())))
                    .help(format!(
                        "{} builtins: {}",
                        kind.name(),
                        registry::names_of(kind).join(", ")
                    )),
                );
                None
            }
            Val::Sym(s) => match registry::builtin(&s) {
                Some(b) if b.kind == kind => {
                    let mut params = BTreeMap::new();
                    let mut ok = true;
                    for p in b.params() {
                        match p.default {
                            D::Required => {
                                self.err(
                                    Diag::error(
                                        codes::MISSING_PARAM,
                                        format!("`{s}` needs `{}`", p.name),
                                    )
                                    .at(v.span, format!("`{}` is missing", p.name))
                                    .help(format!("write `{s}({} = ...)`: {}", p.name, p.doc)),
                                );
                                ok = false;
                            }
                            d => {
                                if let Some(x) = d.to_value() {
                                    params.insert(p.name.to_string(), x);
                                }
                            }
                        }
                    }
                    ok.then(|| Obj {
                        builtin: b,
                        label: s.clone(),
                        params,
                        explicit: BTreeSet::new(),
                    })
                }
                Some(b) => {
                    self.err(
                        Diag::error(
                            codes::TYPE_MISMATCH,
                            format!("`{s}` is {}, not {}", a(b.kind.name()), a(kind.name())),
                        )
                        .at(v.span, format!("expected {}", a(kind.name())))
                        .help(format!(
                            "{} builtins: {}",
                            kind.name(),
                            registry::names_of(kind).join(", ")
                        )),
                    );
                    None
                }
                None => {
                    let names = registry::names_of(kind);
                    self.err(
                        Diag::error(
                            codes::UNKNOWN_BUILTIN,
                            format!("unknown {} `{s}`", kind.name()),
                        )
                        .at(v.span, format!("not {}", a(kind.name())))
                        .help(suggest(&s, &names)),
                    );
                    None
                }
            },
            other => self.type_err(v.span, &a(kind.name()), &other),
        }
    }
}
