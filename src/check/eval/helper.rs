//! The helper functions usable in expressions ([`super::HELPERS`]): `seeds`, `every`, `range`,
//! `env`, `zip`, `pairs`, `curriculum`, `val`, one method each.

use super::{Bindings, Eval, HELPERS};
use crate::check::val::{INT_MAX, Num, SVal, Val};
use crate::diag::{Diag, codes};
use crate::registry::schema::Ty;
use crate::source::Span;
use crate::syntax::ast::*;
use std::collections::BTreeMap;

/// The evaluated arguments of a helper call.
struct Args<'a> {
    name: &'a str,
    pos: Vec<SVal>,
    named: BTreeMap<String, SVal>,
    span: Span,
    /// The helper's usage line (from [`HELPERS`]), for the help of an error.
    usage: &'static str,
}

impl Eval<'_> {
    pub(super) fn helper(
        &mut self,
        name: &str,
        args: &[Arg],
        span: Span,
        module: usize,
        vars: &Bindings,
    ) -> Option<SVal> {
        let (pos, named) = self.helper_args(name, args, module, vars)?;
        let usage = HELPERS
            .iter()
            .find(|(h, _)| *h == name)
            .map(|(_, d)| *d)
            .unwrap_or("");
        let a = Args {
            name,
            pos,
            named,
            span,
            usage,
        };
        let v = match name {
            "seeds" => self.seeds(&a)?,
            "every" => self.every(&a)?,
            "range" => self.range(&a)?,
            "env" => self.env(&a)?,
            "zip" => self.zip(&a)?,
            "pairs" => {
                if !self.arity(&a, 1, 1) {
                    return None;
                }
                Val::Pairs(self.factor_name(&a.pos[0])?)
            }
            "curriculum" => {
                if a.pos.is_empty() {
                    return self.helper_usage(span, usage);
                }
                let mut fs = Vec::new();
                for p in &a.pos {
                    fs.push(self.factor_name(p)?);
                }
                Val::Composite("curriculum".into(), fs)
            }
            "val" => {
                if !self.arity(&a, 0, 1) {
                    return None;
                }
                let n = match a.pos.first() {
                    Some(p) => self.int(p, 1, i64::MAX)?,
                    None => 0,
                };
                Val::Stimuli(n)
            }
            _ => return self.helper_usage(span, usage),
        };
        Some(SVal::new(v, span))
    }

    /// Evaluates a helper's arguments: positional ones in order, named ones by name (only
    /// the names the helper takes).
    fn helper_args(
        &mut self,
        name: &str,
        args: &[Arg],
        module: usize,
        vars: &Bindings,
    ) -> Option<(Vec<SVal>, BTreeMap<String, SVal>)> {
        let mut pos = Vec::new();
        let mut named: BTreeMap<String, SVal> = BTreeMap::new();
        for a in args {
            match a {
                Arg::Positional { value } => pos.push(self.eval(value, module, vars)?),
                Arg::Named { name: n, value } => {
                    let v = self.eval(value, module, vars)?;
                    named.insert(n.node.clone(), v);
                }
                Arg::Axis { name: n, .. } => {
                    self.err(
                        Diag::error(codes::AXIS_NOT_ALLOWED, format!("`{name}` takes no grid"))
                            .at(n.span, "`in` not allowed here"),
                    );
                    return None;
                }
            }
        }
        let allowed: &[&str] = match name {
            "seeds" => &["start"],
            "range" => &["step"],
            "env" => &["default"],
            _ => &[],
        };
        for (k, v) in &named {
            if !allowed.contains(&k.as_str()) {
                self.err(
                    Diag::error(
                        codes::UNKNOWN_PARAM,
                        format!("`{name}` has no parameter `{k}`"),
                    )
                    .at(v.span, "unknown parameter")
                    .help(
                        HELPERS
                            .iter()
                            .find(|(h, _)| *h == name)
                            .map(|(_, d)| d.to_string())
                            .unwrap_or_default(),
                    ),
                );
                return None;
            }
        }
        Some((pos, named))
    }

    /// Whether a helper has between `lo` and `hi` positional arguments (an error if not).
    fn arity(&mut self, a: &Args, lo: usize, hi: usize) -> bool {
        if a.pos.len() < lo || a.pos.len() > hi {
            self.err(
                Diag::error(
                    codes::BAD_ARGUMENT,
                    format!("wrong number of arguments to `{}`", a.name),
                )
                .at(a.span, "here")
                .help(format!("usage: {}", a.usage)),
            );
            false
        } else {
            true
        }
    }

    /// `seeds(n, start = 0)`.
    fn seeds(&mut self, a: &Args) -> Option<Val> {
        if !self.arity(a, 1, 1) {
            return None;
        }
        let span = a.span;
        let n = self.int(&a.pos[0], 1, 1_000_000)?;
        let start = match a.named.get("start") {
            Some(s) => self.exact_int(s, 0, INT_MAX, "`start`", &Ty::Seed.describe())?,
            None => 0,
        };
        // Seeds are exact up to 2^64 − 1: the last one must not pass it.
        let last = start + i128::from(n) - 1;
        if last > INT_MAX {
            self.err(
                Diag::error(
                    codes::INT_OVERFLOW,
                    format!("`seeds({n}, start = {start})` would end at {last}, past the largest seed 18446744073709551615 (2⁶⁴ − 1)"),
                )
                .at(span, "the last seeds do not fit 64 bits")
                .help(format!("start at {} or lower", INT_MAX - i128::from(n) + 1)),
            );
            return None;
        }
        Some(Val::List(
            (start..=last)
                .map(|i| SVal::new(Val::int(i), span))
                .collect(),
        ))
    }

    /// `every(k epochs)`.
    fn every(&mut self, a: &Args) -> Option<Val> {
        if !self.arity(a, 1, 1) {
            return None;
        }
        let pos = &a.pos;
        let k = match &pos[0].v {
            Val::Num { n, unit } if unit.is_none() || unit.as_deref() == Some("epochs") => {
                match n.exact_int().and_then(|k| i64::try_from(k).ok()) {
                    Some(k) if k >= 1 => k,
                    _ => {
                        self.range_err(
                            pos[0].span,
                            &format!("the period of `every` = {}", n.key()),
                            "a whole number of epochs ≥ 1",
                        );
                        return None;
                    }
                }
            }
            o => return self.type_err(pos[0].span, "a whole number of epochs ≥ 1", o),
        };
        Some(Val::Every(k))
    }

    /// `range(start, stop, step = 1)`.
    fn range(&mut self, a: &Args) -> Option<Val> {
        if !self.arity(a, 2, 2) {
            return None;
        }
        let (span, pos, named) = (a.span, &a.pos, &a.named);
        let (a, b) = (self.number(&pos[0])?, self.number(&pos[1])?);
        let step = match named.get("step") {
            Some(s) => self.number(s)?,
            None => Num::Int(1),
        };
        if step.f64() <= 0.0 {
            self.err(
                Diag::error(
                    codes::OUT_OF_RANGE,
                    format!(
                        "`step` = {} is out of range: expected a number > 0",
                        step.key()
                    ),
                )
                .at(named.get("step").map_or(span, |s| s.span), "not positive")
                .help("`range` counts up from `start` to `stop`; give a positive `step`"),
            );
            return None;
        }
        let too_long = |s: &mut Self, n: String| {
            s.err(
                Diag::error(
                    codes::OUT_OF_RANGE,
                    format!("range of {n} values is too long: at most 10000000"),
                )
                .at(span, "too many values")
                .help("use a larger `step` or a shorter interval"),
            );
        };
        Some(match (a, b, step) {
            // All integers: exact items.
            (Num::Int(a), Num::Int(b), Num::Int(st)) => {
                let n = if b > a { (b - a + st - 1) / st } else { 0 };
                if n > 10_000_000 {
                    too_long(self, n.to_string());
                    return None;
                }
                Val::List(
                    (0..n)
                        .map(|i| SVal::new(Val::int(a + i * st), span))
                        .collect(),
                )
            }
            _ => {
                let (a, b, st) = (a.f64(), b.f64(), step.f64());
                let n = ((b - a) / st).ceil().max(0.0);
                if n > 10_000_000.0 {
                    too_long(self, crate::ir::fmt_num(n));
                    return None;
                }
                Val::List(
                    (0..n as usize)
                        .map(|i| SVal::new(Val::float(a + i as f64 * st), span))
                        .collect(),
                )
            }
        })
    }

    /// `env("NAME", default = "")`.
    fn env(&mut self, a: &Args) -> Option<Val> {
        if !self.arity(a, 1, 1) {
            return None;
        }
        let pos = &a.pos;
        let Val::Str(var) = &pos[0].v else {
            return self.type_err(pos[0].span, "a string", &pos[0].v);
        };
        let default = match a.named.get("default") {
            Some(SVal { v: Val::Str(s), .. }) => s.clone(),
            Some(o) => return self.type_err(o.span, "a string", &o.v),
            None => String::new(),
        };
        Some(Val::Str(std::env::var(var).unwrap_or(default)))
    }

    /// `zip(list1, list2, ...)`.
    fn zip(&mut self, a: &Args) -> Option<Val> {
        let (span, pos) = (a.span, &a.pos);
        if pos.len() < 2 {
            return self.helper_usage(span, a.usage);
        }
        let mut lists = Vec::new();
        for p in pos {
            match &p.v {
                Val::List(l) => lists.push(l.clone()),
                o => return self.type_err(p.span, "a list", o),
            }
        }
        let n = lists[0].len();
        if let Some((i, l)) = lists.iter().enumerate().find(|(_, l)| l.len() != n) {
            self.err(
                Diag::error(
                    codes::ZIP_LENGTH,
                    format!(
                        "`zip` needs lists of equal length: the first has {n} items, this one {}",
                        l.len()
                    ),
                )
                .at(pos[i].span, "different length")
                .related(pos[0].span, format!("{n} items")),
            );
            return None;
        }
        Some(Val::List(
            (0..n)
                .map(|i| {
                    SVal::new(
                        Val::Tuple(lists.iter().map(|l| l[i].clone()).collect()),
                        span,
                    )
                })
                .collect(),
        ))
    }
}
