//! Expressions: literals, lists, tables, units, operators and indexing.

use super::{Bindings, Eval, key_display};
use crate::check::val::{Num, SVal, Val};
use crate::diag::{Diag, codes, suggest};
use crate::source::{Span, Spanned};
use crate::syntax::ast::*;
use std::collections::HashMap;

impl Eval<'_> {
    pub(crate) fn eval(&mut self, e: &Expr, module: usize, vars: &Bindings) -> Option<SVal> {
        let span = e.span;
        let v = match &e.kind {
            ExprKind::Number { value, text, unit } => {
                let n = self.literal(*value, text, span)?;
                let unit = match unit {
                    None => None,
                    Some(u) => Some(self.unit(u)?),
                };
                Val::Num { n, unit }
            }
            ExprKind::Str { value } => Val::Str(value.clone()),
            ExprKind::Path { segments } => return self.path(segments, span, module, vars),
            ExprKind::List { items } => Val::List(self.eval_all(items, module, vars)?),
            ExprKind::Tuple { items } => Val::Tuple(self.eval_all(items, module, vars)?),
            ExprKind::Map { entries } => {
                let mut out = Vec::new();
                let mut ok = true;
                for (k, v) in entries {
                    let k = self.eval(k, module, vars);
                    let v = self.eval(v, module, vars);
                    match (k, v) {
                        (Some(k), Some(v)) => out.push((k, v)),
                        _ => ok = false,
                    }
                }
                // Keys that match have the same bucket, so only keys within a bucket are
                // compared (a pairwise check over a generated 300 000-entry table would not
                // finish).
                let mut buckets: HashMap<String, Vec<usize>> = HashMap::new();
                for i in 0..out.len() {
                    let bucket = buckets.entry(out[i].0.v.match_bucket()).or_default();
                    let earlier = std::mem::take(bucket);
                    for &j in &earlier {
                        if out[i].0.v.matches(&out[j].0.v) {
                            let d = Diag::error(codes::DUPLICATE, "duplicate key in table")
                                .at(out[i].0.span, "this key appears twice")
                                .related(out[j].0.span, "first here");
                            self.err(d);
                        }
                    }
                    let bucket = buckets.entry(out[i].0.v.match_bucket()).or_default();
                    *bucket = earlier;
                    bucket.push(i);
                }
                if !ok {
                    return None;
                }
                Val::Map(std::rc::Rc::new(out))
            }
            ExprKind::Call { callee, args } => return self.call(callee, args, span, module, vars),
            ExprKind::Index { base, keys } => {
                let b = self.eval(base, module, vars)?;
                let ks = self.eval_all(keys, module, vars)?;
                return self.index(b, ks, span);
            }
            ExprKind::Unary { op, expr } => {
                let v = self.eval(expr, module, vars)?;
                match (op, &v.v) {
                    (UnOp::Not, Val::Bool(b)) => Val::Bool(!b),
                    (UnOp::Neg, Val::Num { n, unit }) => Val::Num {
                        n: match n {
                            Num::Int(i) => self.int_result(-i, span, "`-`")?,
                            Num::Float(x) => Num::Float(-x),
                        },
                        unit: unit.clone(),
                    },
                    (UnOp::Not, other) => return self.type_err(span, "`true` or `false`", other),
                    (UnOp::Neg, other) => return self.type_err(span, "a number", other),
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.eval(lhs, module, vars);
                let b = self.eval(rhs, module, vars);
                let (a, b) = (a?, b?);
                return self.binary(*op, a, b, span);
            }
        };
        Some(SVal::new(v, span))
    }

    fn eval_all(&mut self, items: &[Expr], module: usize, vars: &Bindings) -> Option<Vec<SVal>> {
        let vs: Vec<Option<SVal>> = items.iter().map(|i| self.eval(i, module, vars)).collect();
        vs.into_iter().collect()
    }

    fn unit(&mut self, u: &Spanned<String>) -> Option<String> {
        const UNITS: &[&str] = &[
            "%",
            "epochs",
            "epoch",
            "cpu_hours",
            "gpu_hours",
            "pixels",
            "px",
        ];
        let canon = match u.node.as_str() {
            "epoch" => "epochs",
            "px" => "pixels",
            "cpu_hour" => "cpu_hours",
            "gpu_hour" => "gpu_hours",
            s => s,
        };
        if UNITS.contains(&canon) {
            return Some(canon.to_string());
        }
        self.err(
            Diag::error(codes::UNKNOWN_UNIT, format!("unknown unit `{}`", u.node))
                .at(u.span, "not a unit")
                .help(format!(
                    "{}; if `{}` starts the next entry, put it on its own line or add a comma before it",
                    suggest(&u.node, &["%", "epochs", "cpu_hours", "gpu_hours", "pixels"]),
                    u.node
                )),
        );
        None
    }

    fn binary(&mut self, op: BinOp, a: SVal, b: SVal, span: Span) -> Option<SVal> {
        let v = match op {
            BinOp::And | BinOp::Or => match (&a.v, &b.v) {
                (Val::Bool(x), Val::Bool(y)) => {
                    Val::Bool(if op == BinOp::And { *x && *y } else { *x || *y })
                }
                (Val::Bool(_), o) => return self.type_err(b.span, "`true` or `false`", o),
                (o, _) => return self.type_err(a.span, "`true` or `false`", o),
            },
            BinOp::Eq => Val::Bool(a.v.matches(&b.v)),
            BinOp::Ne => Val::Bool(!a.v.matches(&b.v)),
            BinOp::In => match &b.v {
                Val::List(items) | Val::Tuple(items) => {
                    Val::Bool(items.iter().any(|i| a.v.matches(&i.v)))
                }
                o => return self.type_err(b.span, "a list after `in`", o),
            },
            BinOp::Lt
            | BinOp::Le
            | BinOp::Gt
            | BinOp::Ge
            | BinOp::Add
            | BinOp::Sub
            | BinOp::Mul
            | BinOp::Div => {
                let (x, xu) = match &a.v {
                    Val::Num { n, unit } => (*n, unit.clone()),
                    o => return self.type_err(a.span, "a number", o),
                };
                let (y, yu) = match &b.v {
                    Val::Num { n, unit } => (*n, unit.clone()),
                    o => return self.type_err(b.span, "a number", o),
                };
                let unit = xu.or(yu);
                use std::cmp::Ordering::*;
                let n = match op {
                    BinOp::Lt => return Some(SVal::new(Val::Bool(x.cmp_exact(y) == Less), span)),
                    BinOp::Le => {
                        return Some(SVal::new(Val::Bool(x.cmp_exact(y) != Greater), span));
                    }
                    BinOp::Gt => {
                        return Some(SVal::new(Val::Bool(x.cmp_exact(y) == Greater), span));
                    }
                    BinOp::Ge => return Some(SVal::new(Val::Bool(x.cmp_exact(y) != Less), span)),
                    BinOp::Div if y.f64() == 0.0 => {
                        self.err(
                            Diag::error(codes::EVAL, "division by zero")
                                .at(b.span, "this is zero")
                                .help("divide by a number other than 0"),
                        );
                        return None;
                    }
                    _ => match (x, y) {
                        // Integer arithmetic is exact (in i128, so no step can wrap) and
                        // refused when the result leaves the language's integer range.
                        (Num::Int(p), Num::Int(q)) => {
                            let r = match op {
                                BinOp::Add => p.checked_add(q),
                                BinOp::Sub => p.checked_sub(q),
                                BinOp::Mul => p.checked_mul(q),
                                // `/` always gives a float (docs/reference/expressions.md).
                                _ => {
                                    let f = p as f64 / q as f64;
                                    return Some(SVal::new(
                                        Val::Num {
                                            n: self.float_result(f, span, op)?,
                                            unit,
                                        },
                                        span,
                                    ));
                                }
                            };
                            match r {
                                Some(r) => {
                                    self.int_result(r, span, &format!("`{}`", op.symbol()))?
                                }
                                None => {
                                    self.int_overflow(span, &format!("`{}`", op.symbol()));
                                    return None;
                                }
                            }
                        }
                        _ => {
                            let (p, q) = (x.f64(), y.f64());
                            let f = match op {
                                BinOp::Add => p + q,
                                BinOp::Sub => p - q,
                                BinOp::Mul => p * q,
                                _ => p / q,
                            };
                            self.float_result(f, span, op)?
                        }
                    },
                };
                Val::Num { n, unit }
            }
        };
        Some(SVal::new(v, span))
    }

    fn index(&mut self, base: SVal, keys: Vec<SVal>, span: Span) -> Option<SVal> {
        let Val::Map(entries) = &base.v else {
            return self.type_err(base.span, "a table `{ key: value }` to index", &base.v);
        };
        // A tuple key `t[a, b]` matches a tuple entry `(a, b): v`; otherwise index step by step.
        if keys.len() > 1 && entries.iter().any(|(k, _)| matches!(k.v, Val::Tuple(_))) {
            let key = SVal::new(Val::Tuple(keys.clone()), span);
            return self.lookup(entries, &key, span, base.span);
        }
        let mut cur = base;
        for k in keys {
            let Val::Map(es) = &cur.v else {
                return self.type_err(cur.span, "a table for the next index", &cur.v);
            };
            let next = self.lookup(es, &k, span, cur.span)?;
            cur = next;
        }
        Some(cur)
    }

    fn lookup(
        &mut self,
        entries: &[(SVal, SVal)],
        key: &SVal,
        span: Span,
        table: Span,
    ) -> Option<SVal> {
        if let Some((_, v)) = entries.iter().find(|(k, _)| k.v.matches(&key.v)) {
            return Some(v.clone());
        }
        if let Some((_, v)) = entries.iter().find(|(k, _)| k.v == Val::Sym("_".into())) {
            return Some(v.clone());
        }
        let keys: Vec<String> = entries.iter().filter_map(|(k, _)| k.v.key()).collect();
        let shown = key_display(&key.v);
        self.err(
            Diag::error(
                codes::TABLE_MISSING_KEY,
                format!("the table has no entry for `{shown}`"),
            )
            .at(span, format!("no entry for `{shown}`"))
            .related(table, "the table")
            .help(format!(
                "add `{shown}: ...` or a fallback `_: ...` to the table (it has: {})",
                keys.join(", ")
            )),
        );
        None
    }
}
