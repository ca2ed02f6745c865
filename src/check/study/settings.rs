//! Settings of a non-sweep block (`study`, `observe`, `realism`, `classify`, `report`,
//! `trajectory`): the entries evaluated with their keys checked, and typed access to them.

use crate::check::eval::Eval;
use crate::check::val::{SVal, Val};
use crate::diag::{Diag, codes, did_you_mean, suggest};
use crate::registry::{self, schema::Ty};
use crate::source::{Span, Spanned};
use crate::syntax::ast::{Block, Entry, Expr};
use crate::value::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Settings of a non-sweep block: key → (value, span of the entry, written with `in`).
pub(super) struct Settings {
    pub(super) values: BTreeMap<String, (SVal, Span, bool)>,
    /// Every key written, including those whose value failed (and was reported): a missing
    /// key is one not written at all, so a failed value gets no follow-on "needs" error.
    pub(super) written: BTreeSet<String>,
    pub(super) nested: Vec<Block>,
    pub(super) filters: Vec<Expr>,
}

impl Eval<'_> {
    /// Evaluates the entries of a simple block, checking keys.
    pub(super) fn settings(
        &mut self,
        b: &Block,
        module: usize,
        keys: &[&str],
        nested_ok: &[&str],
        filter_ok: bool,
    ) -> Settings {
        let mut out = Settings {
            values: BTreeMap::new(),
            written: BTreeSet::new(),
            nested: Vec::new(),
            filters: Vec::new(),
        };
        let mut first: BTreeMap<String, Span> = BTreeMap::new();
        for e in &b.entries {
            match e {
                Entry::Nested(n) => self.nested_block(b, n, nested_ok, &mut out),
                Entry::Filter { condition, span } => {
                    if filter_ok {
                        out.filters.push(condition.clone());
                    } else {
                        self.err(
                            Diag::error(
                                codes::UNKNOWN_KEY,
                                format!("`where` is not allowed in `{}`", b.kind.node),
                            )
                            .at(*span, "not allowed here"),
                        );
                    }
                }
                Entry::Setting {
                    targets,
                    value,
                    span,
                }
                | Entry::Axis {
                    targets,
                    values: value,
                    span,
                } => {
                    let is_axis = matches!(e, Entry::Axis { .. });
                    if targets.len() != 1 {
                        self.err(
                            Diag::error(
                                codes::UNKNOWN_KEY,
                                "several keys at once are only allowed in `train`".to_string(),
                            )
                            .at(*span, "here"),
                        );
                        continue;
                    }
                    let key = &targets[0];
                    if !self.known_key(key, keys, &b.kind.node) {
                        continue;
                    }
                    if let Some(f) = first.get(&key.node) {
                        self.err(
                            Diag::error(codes::DUPLICATE, format!("`{}` is set twice", key.node))
                                .at(key.span, "set again here")
                                .related(*f, "first set here"),
                        );
                        continue;
                    }
                    first.insert(key.node.clone(), key.span);
                    out.written.insert(key.node.clone());
                    if let Some(v) = self.eval(value, module, &Vec::new()) {
                        out.values.insert(key.node.clone(), (v, *span, is_axis));
                    }
                }
            }
        }
        out
    }

    /// A block nested in a simple block: kept if the block takes it (`*measure` stands for
    /// every measure block), reported if not.
    fn nested_block(&mut self, b: &Block, n: &Block, nested_ok: &[&str], out: &mut Settings) {
        if nested_ok.contains(&n.kind.node.as_str())
            || (nested_ok.contains(&"*measure") && registry::measure(&n.kind.node).is_some())
        {
            out.nested.push(n.clone());
        } else {
            let mut allowed: Vec<&str> = nested_ok
                .iter()
                .copied()
                .filter(|s| !s.starts_with('*'))
                .collect();
            if nested_ok.contains(&"*measure") {
                allowed.extend(["weight", "act", "gradavg"]);
            }
            self.err(
                Diag::error(
                    codes::UNKNOWN_KEY,
                    format!("unknown block `{}` in `{}`", n.kind.node, b.kind.node),
                )
                .at(n.kind.span, "not allowed here")
                .help(if allowed.is_empty() {
                    format!("`{}` has no nested blocks", b.kind.node)
                } else {
                    suggest(&n.kind.node, &allowed)
                }),
            );
        }
    }

    pub(super) fn known_key(&mut self, key: &Spanned<String>, keys: &[&str], block: &str) -> bool {
        if keys.contains(&key.node.as_str()) {
            return true;
        }
        let help = match did_you_mean(&key.node, keys.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("`{block}` takes: {}", keys.join(", ")),
        };
        self.err(
            Diag::error(
                codes::UNKNOWN_KEY,
                format!("unknown key `{}` in `{block}`", key.node),
            )
            .at(key.span, "unknown key")
            .help(help),
        );
        false
    }

    pub(super) fn scalar(&mut self, s: &Settings, key: &str) -> Option<SVal> {
        let (v, span, axis) = s.values.get(key)?;
        if *axis {
            self.err(
                Diag::error(codes::AXIS_NOT_ALLOWED, format!("`{key}` takes one value"))
                    .at(*span, "`in` is not allowed here")
                    .help(format!("write `{key} = value`")),
            );
            return None;
        }
        Some(v.clone())
    }

    pub(super) fn typed(&mut self, s: &Settings, key: &str, ty: Ty) -> Option<Value> {
        let v = if ty.is_list() {
            s.values.get(key).map(|x| x.0.clone())
        } else {
            self.scalar(s, key)
        }?;
        self.coerce(&v, &ty, key)
    }

    pub(super) fn str_or(&mut self, s: &Settings, key: &str, default: &str) -> String {
        match self.typed(s, key, Ty::Str) {
            Some(Value::Str(x)) => x,
            _ => default.to_string(),
        }
    }

    /// A `classify` list that must not be empty.
    pub(super) fn non_empty(
        &mut self,
        items: &[SVal],
        key: &str,
        span: Span,
        example: &str,
    ) -> bool {
        if !items.is_empty() {
            return true;
        }
        self.err(
            Diag::error(codes::EMPTY_LIST, format!("`{key}` is empty"))
                .at(span, "no items")
                .help(format!(
                    "the classify stage would have nothing to do; give at least one, e.g. `{example}`, or leave `{key}` out for the default"
                )),
        );
        false
    }

    pub(super) fn list_of(&mut self, v: &SVal, item: &Ty, what: &str) -> Option<Vec<Value>> {
        let ty = match item {
            Ty::Fraction => {
                let items = match &v.v {
                    Val::List(l) => l.clone(),
                    _ => vec![v.clone()],
                };
                let mut out = Vec::new();
                for i in &items {
                    out.push(self.coerce(i, item, what)?);
                }
                return Some(out);
            }
            t => *t,
        };
        match self.coerce(v, &ty, what)? {
            Value::List(l) => Some(l),
            x => Some(vec![x]),
        }
    }
}
