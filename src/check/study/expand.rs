//! The expansion of a sweep: the product of its axes, depth first in declaration order, each
//! combination built into a point and passed through the `where` filters; and the checks of
//! axis values (shared objects, repeated values).

use super::factors::{FactorObjects, point_vars_cached};
use crate::check::eval::{Bindings, Eval};
use crate::check::val::{SVal, Val};
use crate::diag::{Diag, codes};
use crate::ir;
use crate::registry::Kind;
use crate::source::{Span, Spanned};
use crate::syntax::ast::Expr;
use crate::value::Call;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// The state of one sweep's expansion.
pub(super) struct Expansion<'a> {
    pub(super) axes: &'a [(Vec<Spanned<String>>, Expr, Span)],
    /// Axis values evaluated once (axes that name no earlier axis).
    pub(super) pre: &'a [Option<Vec<SVal>>],
    pub(super) module: usize,
    pub(super) settings: &'a [(Spanned<String>, Expr)],
    /// Setting values evaluated once (settings that name no axis and no setting).
    pub(super) pre_settings: &'a [Option<SVal>],
    pub(super) filters: &'a [Expr],
    pub(super) out: Vec<ir::Point>,
    pub(super) empty_reported: bool,
    pub(super) failed: usize,
    /// Points built (before filters), and the most allowed.
    pub(super) visited: u64,
    pub(super) limit: u64,
    pub(super) overflow: bool,
    /// Task, architecture and rule values seen before filtering (for the names of `where`).
    pub(super) objects: FactorObjects,
    /// The object a filter sees for each shared call (by address; the `Arc` pins it).
    pub(super) filter_objs: HashMap<usize, (Arc<Call>, SVal)>,
}

impl Eval<'_> {
    /// Resolves the names of an axis of tasks, architectures, rules or schedules to shared
    /// objects once, so the points that use them share their resolved calls. Items that do
    /// not resolve are left as they are (the expansion reports them).
    pub(super) fn resolve_objects(
        &mut self,
        targets: &[Spanned<String>],
        items: Vec<SVal>,
    ) -> Vec<SVal> {
        let kind = |t: &str| match t {
            "task" => Some(Kind::Task),
            "arch" => Some(Kind::Arch),
            "rule" => Some(Kind::Rule),
            "schedule" => Some(Kind::Schedule),
            _ => None,
        };
        if targets.iter().all(|t| kind(&t.node).is_none()) {
            return items;
        }
        let one = |s: &mut Self, k: Option<Kind>, v: SVal| -> SVal {
            match (k, &v.v) {
                // A name that is not a builtin of this kind is reported here, once.
                (Some(k), Val::Sym(_)) => match s.coerce_obj(v.clone(), k) {
                    Some(o) => SVal::new(Val::Obj(Rc::new(o)), v.span),
                    None => v,
                },
                _ => v,
            }
        };
        items
            .into_iter()
            .map(|item| {
                if targets.len() == 1 {
                    one(self, kind(&targets[0].node), item)
                } else {
                    match item.v {
                        Val::Tuple(parts) if parts.len() == targets.len() => SVal::new(
                            Val::Tuple(
                                targets
                                    .iter()
                                    .zip(parts)
                                    .map(|(t, p)| one(self, kind(&t.node), p))
                                    .collect(),
                            ),
                            item.span,
                        ),
                        v => SVal::new(v, item.span),
                    }
                }
            })
            .collect()
    }

    /// Warns about values repeated in a sweep axis (they give identical runs, which the plan
    /// merges).
    pub(super) fn warn_duplicates(&mut self, targets: &[Spanned<String>], items: &[SVal]) {
        let mut first: HashMap<String, Span> = HashMap::new();
        for item in items {
            let Some(k) = value_key(&item.v) else {
                continue;
            };
            match first.get(&k) {
                Some(f) => {
                    let what = targets
                        .iter()
                        .map(|t| t.node.as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    let f = *f;
                    self.err(
                        Diag::warning(
                            codes::DUPLICATE_VALUE,
                            format!("`{what}` takes the value `{k}` twice"),
                        )
                        .at(item.span, "repeated value")
                        .related(f, "first here")
                        .help("both give the same runs, which the plan merges into one; remove the repeat"),
                    );
                }
                None => {
                    first.insert(k, item.span);
                }
            }
        }
    }

    pub(super) fn expand(&mut self, x: &mut Expansion, i: usize, bindings: &mut Bindings) {
        if x.overflow {
            return;
        }
        let module = x.module;
        if i == x.axes.len() {
            self.expand_point(x, bindings);
            return;
        }
        let (targets, expr, span) = &x.axes[i];
        let owned;
        let items: &[SVal] = match &x.pre[i] {
            Some(l) => l,
            None => {
                let Some(v) = self.eval(expr, module, bindings) else {
                    // Still check this and the remaining axes so their errors are reported
                    // in the same pass; uses of this axis are follow-ons.
                    for t in targets {
                        self.poison(&t.node);
                    }
                    for (t, e, _) in &x.axes[i..] {
                        self.probe_axis(t, e, module, bindings);
                    }
                    return;
                };
                owned = match v.v {
                    Val::List(items) => items,
                    other => {
                        self.err(
                            Diag::error(
                                codes::TYPE_MISMATCH,
                                format!("a sweep axis needs a list, found {}", other.describe()),
                            )
                            .at(v.span, "expected a list `[...]`")
                            .help(format!(
                                "write `{} = ...` for a single value, or `{} in [a, b]`",
                                targets[0].node, targets[0].node
                            )),
                        );
                        return;
                    }
                };
                &owned
            }
        };
        if items.is_empty() {
            x.failed += 1;
            if !x.empty_reported {
                x.empty_reported = true;
                self.err(
                    Diag::error(codes::EMPTY_SWEEP, "this axis has no values")
                        .at(*span, "empty list")
                        .help("give at least one value"),
                );
            }
            return;
        }
        for item in items {
            let n = bindings.len();
            if !self.bind_item(targets, item, bindings) {
                return;
            }
            self.expand(x, i + 1, bindings);
            bindings.truncate(n);
            if x.overflow {
                return;
            }
        }
    }

    /// The end of one path through the axes: the settings evaluated with the axes' bindings,
    /// the point built and, if it passes the `where` filters, kept.
    fn expand_point(&mut self, x: &mut Expansion, bindings: &Bindings) {
        let module = x.module;
        if x.visited >= x.limit {
            x.overflow = true;
            return;
        }
        x.visited += 1;
        let mut vars = bindings.clone();
        let mut ok = true;
        for ((k, e), pre) in x.settings.iter().zip(x.pre_settings) {
            if let Some(v) = pre {
                vars.push((k.node.clone(), v.clone()));
                continue;
            }
            match self.eval(e, module, &vars) {
                Some(v) => vars.push((k.node.clone(), v)),
                None => {
                    self.poison(&k.node);
                    ok = false;
                }
            }
        }
        if !ok {
            // Report errors of the settings that did evaluate (e.g. a wrong kind).
            for (k, v) in vars.iter().skip(bindings.len()) {
                let kind = match k.as_str() {
                    "task" => Kind::Task,
                    "arch" => Kind::Arch,
                    "rule" => Kind::Rule,
                    "schedule" => Kind::Schedule,
                    _ => continue,
                };
                let _ = self.coerce_obj(v.clone(), kind);
            }
            x.failed += 1;
            return;
        }
        let Some(point) = self.point(&vars) else {
            x.failed += 1;
            return;
        };
        if !x.filters.is_empty() {
            x.objects.add(&point);
            // Filters see the resolved point (objects with labels, numbers).
            let fvars =
                point_vars_cached(&point, vars.first().map(|v| v.1.span), &mut x.filter_objs);
            // Filters see the point's factors, not the block's declarations.
            let keys = std::mem::take(&mut self.block_keys);
            let pass = x.filters.iter().all(|f| self.filter(f, module, &fvars));
            self.block_keys = keys;
            if !pass {
                return;
            }
        }
        x.out.push(point);
    }

    /// Binds the keys of an axis to one of its items (a tuple of values for several keys).
    /// Returns false (reported) when the item does not fit.
    fn bind_item(
        &mut self,
        targets: &[Spanned<String>],
        item: &SVal,
        bindings: &mut Bindings,
    ) -> bool {
        if targets.len() == 1 {
            bindings.push((targets[0].node.clone(), item.clone()));
        } else {
            match &item.v {
                Val::Tuple(parts) if parts.len() == targets.len() => {
                    for (t, p) in targets.iter().zip(parts) {
                        bindings.push((t.node.clone(), p.clone()));
                    }
                }
                other => {
                    self.err(
                        Diag::error(
                            codes::TYPE_MISMATCH,
                            format!(
                                "expected tuples of {} values, found {}",
                                targets.len(),
                                other.describe()
                            ),
                        )
                        .at(
                            item.span,
                            format!(
                                "expected ({})",
                                targets
                                    .iter()
                                    .map(|t| t.node.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ),
                    );
                    return false;
                }
            }
        }
        true
    }

    /// Evaluates an axis for its errors only: the list and, for object keys, each item.
    fn probe_axis(
        &mut self,
        targets: &[Spanned<String>],
        e: &Expr,
        module: usize,
        bindings: &Bindings,
    ) {
        let items = match &e.kind {
            // A literal list: each item on its own, so one bad item does not hide the others.
            crate::syntax::ast::ExprKind::List { items } => items
                .iter()
                .filter_map(|i| self.eval(i, module, bindings))
                .collect(),
            _ => match self.eval(e, module, bindings) {
                Some(SVal {
                    v: Val::List(items),
                    ..
                }) => items,
                _ => return,
            },
        };
        for item in items {
            let parts = match (&item.v, targets.len()) {
                (Val::Tuple(p), n) if n > 1 => p.clone(),
                _ => vec![item.clone()],
            };
            for (t, p) in targets.iter().zip(parts) {
                let kind = match t.node.as_str() {
                    "task" => Kind::Task,
                    "arch" => Kind::Arch,
                    "rule" => Kind::Rule,
                    "schedule" => Kind::Schedule,
                    _ => continue,
                };
                let _ = self.coerce_obj(p, kind);
            }
        }
    }

    /// Whether a point passes one `where` filter (a non-boolean condition is reported).
    fn filter(&mut self, f: &Expr, module: usize, fvars: &Bindings) -> bool {
        match self.eval(f, module, fvars) {
            Some(SVal {
                v: Val::Bool(b), ..
            }) => b,
            Some(o) => {
                self.type_err::<()>(o.span, "a condition (`true` or `false`)", &o.v);
                false
            }
            None => false,
        }
    }

    /// Marks a key of the `train` block whose expression failed: uses of it are follow-ons.
    fn poison(&mut self, key: &str) {
        if let Some(k) = self.block_keys.get_mut(key) {
            k.poisoned = true;
        }
    }
}

/// The text a sweep value is compared by (for repeated values), if it has one.
fn value_key(v: &Val) -> Option<String> {
    match v {
        Val::Tuple(items) => {
            let parts: Option<Vec<String>> = items.iter().map(|i| value_key(&i.v)).collect();
            Some(format!("({})", parts?.join(", ")))
        }
        Val::Num { unit: Some(_), .. } => None,
        other => other.key(),
    }
}
