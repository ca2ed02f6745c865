//! A `train` block → one [`ir::Sweep`]: its entries (settings, axes, `where` filters), the
//! required keys, the budget, the run limit, and the expansion of its axes into points.

use super::expand::Expansion;
use super::factors::FactorObjects;
use super::keys::{TRAIN_KEYS, TRAIN_REQUIRED};
use crate::check::eval::{Bindings, BlockKey, Eval};
use crate::check::ir;
use crate::check::val::{SVal, Val};
use crate::diag::{Diag, codes};
use crate::source::{Span, Spanned};
use crate::syntax::ast::{Arg, Block, Entry, Expr, ExprKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The default of `study { max_runs = ... }`: the most training runs (counted before `where`
/// filters) the sweeps of a study may expand to.
pub const DEFAULT_MAX_RUNS: u64 = 100_000;

/// The run limit of a study and the runs its sweeps have used so far.
pub struct RunLimits {
    pub(super) max_runs: u64,
    pub(super) used: u64,
}

impl Eval<'_> {
    pub(super) fn sweep(
        &mut self,
        b: &Block,
        module: usize,
        name: String,
        limits: &mut RunLimits,
    ) -> Option<ir::Sweep> {
        struct AxisDef {
            targets: Vec<Spanned<String>>,
            expr: Expr,
            span: Span,
        }
        let mut axes: Vec<AxisDef> = Vec::new();
        let mut settings: Vec<(Spanned<String>, Expr)> = Vec::new();
        let mut filters = Vec::new();
        let mut first: BTreeMap<String, Span> = BTreeMap::new();
        let mut ok = true;
        for e in &b.entries {
            match e {
                Entry::Nested(n) => {
                    self.err(Diag::error(codes::UNKNOWN_KEY, format!("unknown block `{}` in `train`", n.kind.node)).at(n.kind.span, "not allowed here").help("`train` holds settings (`key = value`), axes (`key in [...]`) and `where` filters"));
                    ok = false;
                }
                Entry::Filter { condition, .. } => filters.push(condition.clone()),
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
                    let mut entry_ok = true;
                    for t in targets {
                        if !self.known_key(t, TRAIN_KEYS, "train") {
                            entry_ok = false;
                            continue;
                        }
                        if let Some(f) = first.get(&t.node) {
                            self.err(
                                Diag::error(codes::DUPLICATE, format!("`{}` is set twice", t.node))
                                    .at(t.span, "set again here")
                                    .related(*f, "first set here"),
                            );
                            entry_ok = false;
                            continue;
                        }
                        first.insert(t.node.clone(), t.span);
                    }
                    // An unknown or repeated key is reported; the rest of the block is still
                    // checked and expanded so every other error is found too.
                    if !entry_ok {
                        continue;
                    }
                    if is_axis {
                        if targets.iter().any(|t| t.node == "budget") {
                            self.err(
                                Diag::error(codes::AXIS_NOT_ALLOWED, "`budget` takes one value")
                                    .at(*span, "not a sweep axis")
                                    .help("write `budget = 2 cpu_hours`"),
                            );
                            ok = false;
                            continue;
                        }
                        axes.push(AxisDef {
                            targets: targets.clone(),
                            expr: value.clone(),
                            span: *span,
                        });
                    } else if targets.len() != 1 {
                        self.err(
                            Diag::error(
                                codes::AXIS_NOT_ALLOWED,
                                "several keys can only be set together by an axis",
                            )
                            .at(*span, "here")
                            .help("write `(a, b) in zip([...], [...])`"),
                        );
                        ok = false;
                    } else {
                        settings.push((targets[0].clone(), value.clone()));
                    }
                }
            }
        }
        for req in TRAIN_REQUIRED {
            if !first.contains_key(*req) {
                let example = match *req {
                    "task" => "task = my_task",
                    "arch" => "arch in [knet4, knet5]",
                    "rule" => "rule in [sgdm, adam, fa, ia]",
                    "lr" => "lr = 0.01",
                    "batch" => "batch in [32, 64]",
                    _ => "epochs = 10",
                };
                self.err(
                    Diag::error(codes::MISSING_KEY, format!("`train` needs `{req}`"))
                        .at(b.kind.span, format!("`{req}` is missing"))
                        .help(format!("add e.g. `{example}`")),
                );
                ok = false;
            }
        }
        if !ok {
            // Cannot expand: still check the axis values on their own.
            for a in &axes {
                let _ = self.eval(&a.expr, module, &Vec::new());
            }
            return None;
        }
        // Budget is evaluated once.
        let mut budget = None;
        if let Some(pos) = settings.iter().position(|(k, _)| k.node == "budget") {
            let (_, e) = settings.remove(pos);
            if let Some(v) = self.eval(&e, module, &Vec::new()) {
                match &v.v {
                    Val::Num { n, unit: Some(u) } if u == "cpu_hours" || u == "gpu_hours" => {
                        let h = &n.f64();
                        if *h <= 0.0 {
                            self.err(
                                Diag::error(codes::OUT_OF_RANGE, "the budget must be positive")
                                    .at(v.span, "here"),
                            );
                        } else {
                            budget = Some(ir::Budget {
                                hours: *h,
                                gpu: u == "gpu_hours",
                                origin: Some(v.span),
                            });
                        }
                    }
                    _ => {
                        self.err(
                            Diag::error(
                                codes::BAD_UNIT,
                                "a budget is written in `cpu_hours` or `gpu_hours`",
                            )
                            .at(v.span, "expected e.g. `2 cpu_hours`")
                            .help("write `budget = 2 cpu_hours`"),
                        );
                    }
                }
            }
        }
        // The size of the plan, from the axis sizes, before anything is expanded: axes that
        // do not name an earlier axis are evaluated once here (and reused by the expansion);
        // the product of their lengths bounds the sweep (a `where` can only shrink it).
        let axes: Vec<(Vec<Spanned<String>>, Expr, Span)> = axes
            .into_iter()
            .map(|a| (a.targets, a.expr, a.span))
            .collect();
        let errors_before = self.diags.errors().count();
        // Keys of this block: a use before its declaration is reported as such (eval.rs).
        self.block_keys.clear();
        for e in &b.entries {
            if let Entry::Setting { targets, span, .. } | Entry::Axis { targets, span, .. } = e {
                for t in targets {
                    self.block_keys.entry(t.node.clone()).or_insert(BlockKey {
                        declared: t.span,
                        entry: *span,
                        poisoned: false,
                    });
                }
            }
        }
        let mut earlier: BTreeSet<String> = BTreeSet::new();
        let mut pre: Vec<Option<Vec<SVal>>> = Vec::new();
        for (targets, expr, _) in &axes {
            let mut heads = BTreeSet::new();
            path_heads(expr, &mut heads);
            let mut items = None;
            if heads.is_disjoint(&earlier) {
                if let Some(SVal {
                    v: Val::List(l), ..
                }) = self.eval(expr, module, &Vec::new())
                {
                    self.warn_duplicates(targets, &l);
                    items = Some(self.resolve_objects(targets, l));
                }
            }
            pre.push(items);
            earlier.extend(targets.iter().map(|t| t.node.clone()));
        }
        // Settings that name no axis and no other setting are evaluated once, too.
        let mut varying = earlier.clone();
        varying.extend(settings.iter().map(|(k, _)| k.node.clone()));
        let pre_settings: Vec<Option<SVal>> = settings
            .iter()
            .map(|(k, e)| {
                let mut heads = BTreeSet::new();
                path_heads(e, &mut heads);
                if !heads.is_disjoint(&varying) {
                    return None;
                }
                let v = self.eval(e, module, &Vec::new())?;
                let key = std::slice::from_ref(k);
                Some(self.resolve_objects(key, vec![v]).remove(0))
            })
            .collect();
        let known: u128 = pre
            .iter()
            .flatten()
            .fold(1u128, |n, l| n.saturating_mul(l.len() as u128));
        let remaining = limits.max_runs.saturating_sub(limits.used);
        if u128::from(remaining) < known {
            self.block_keys.clear();
            self.too_many_runs(b, &name, &axes, &pre, known, false, &filters, limits);
            return None;
        }
        // Expand the product of axes, depth first in declaration order; the expansion stops
        // once it has produced more points than the limit (axes that depend on earlier ones
        // are not in the bound above).
        let mut x = Expansion {
            axes: &axes,
            pre: &pre,
            module,
            settings: &settings,
            pre_settings: &pre_settings,
            filters: &filters,
            out: Vec::new(),
            empty_reported: false,
            failed: 0,
            visited: 0,
            limit: remaining,
            overflow: false,
            objects: FactorObjects::default(),
            filter_objs: HashMap::new(),
        };
        let mut bindings: Bindings = Vec::new();
        self.expand(&mut x, 0, &mut bindings);
        self.block_keys.clear();
        if x.overflow {
            self.too_many_runs(
                b,
                &name,
                &axes,
                &pre,
                u128::from(x.visited),
                true,
                &filters,
                limits,
            );
            return None;
        }
        limits.used = limits.used.saturating_add(x.visited);
        let Expansion {
            out: points,
            failed,
            objects,
            ..
        } = x;
        // Names in `where` resolve to factors or their values (the values of the sweep before
        // filtering).
        let names_ok = self.check_filter_names(&filters, module, &objects, "sweep");
        if points.is_empty()
            && names_ok
            && self.diags.errors().count() == errors_before
            && failed == 0
        {
            let d = Diag::error(
                codes::EMPTY_SWEEP,
                format!("the sweep `{name}` has no runs"),
            )
            .at(b.kind.span, "no run survives");
            let d = if filters.is_empty() {
                d
            } else {
                d.help("every point was removed by the `where` filter")
            };
            self.err(d);
            return None;
        }
        if !names_ok {
            return None;
        }
        Some(ir::Sweep {
            name,
            points,
            budget,
            origin: Some(b.kind.span),
        })
    }

    /// The error for a sweep over `max_runs`, with the size of every axis.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn too_many_runs(
        &mut self,
        b: &Block,
        name: &str,
        axes: &[(Vec<Spanned<String>>, Expr, Span)],
        pre: &[Option<Vec<SVal>>],
        count: u128,
        at_least: bool,
        filters: &[Expr],
        limits: &RunLimits,
    ) {
        let mut parts = Vec::new();
        for ((targets, _, _), items) in axes.iter().zip(pre) {
            let t: Vec<&str> = targets.iter().map(|t| t.node.as_str()).collect();
            let t = if t.len() == 1 {
                t[0].to_string()
            } else {
                format!("({})", t.join(", "))
            };
            parts.push(match items {
                Some(l) => format!("{t} {}", thousands(l.len() as u128)),
                None => format!("{t} (depends on an earlier axis)"),
            });
        }
        let before_filter = if filters.is_empty() {
            ""
        } else {
            " before its `where` filter"
        };
        let earlier = if limits.used > 0 {
            format!(
                " (the sweeps before it have {} runs)",
                thousands(u128::from(limits.used))
            )
        } else {
            String::new()
        };
        let mut d = Diag::error(
            codes::TOO_MANY_RUNS,
            format!(
                "the sweep `{name}` has {}{} runs{before_filter}, over the study's limit of {} (`max_runs`){earlier}",
                if at_least { "more than " } else { "" },
                thousands(count),
                thousands(u128::from(limits.max_runs)),
            ),
        )
        .at(
            b.kind.span,
            format!(
                "{}{} runs",
                if at_least { "more than " } else { "" },
                thousands(count)
            ),
        )
        .help(format!(
            "values per axis: {}; shrink the axes, or raise the limit in the `study` block (`max_runs = {}`) if you mean it",
            parts.join(" × "),
            if at_least {
                u128::from(limits.max_runs) * 10
            } else {
                count + u128::from(limits.used)
            }
            .min(i64::MAX as u128)
        ));
        for ((_, expr, _), items) in axes.iter().zip(pre) {
            if let Some(l) = items {
                d = d.related(expr.span, format!("{} values", thousands(l.len() as u128)));
            }
        }
        self.err(d);
    }
}

/// The first segment of every path in an expression (the names it may depend on).
pub(super) fn path_heads(e: &Expr, out: &mut BTreeSet<String>) {
    match &e.kind {
        ExprKind::Path { segments } => {
            out.insert(segments[0].clone());
        }
        ExprKind::List { items } | ExprKind::Tuple { items } => {
            for i in items {
                path_heads(i, out);
            }
        }
        ExprKind::Map { entries } => {
            for (k, v) in entries {
                path_heads(k, out);
                path_heads(v, out);
            }
        }
        ExprKind::Call { args, .. } => {
            for a in args {
                match a {
                    Arg::Positional { value } | Arg::Named { value, .. } => path_heads(value, out),
                    Arg::Axis { values, .. } => path_heads(values, out),
                }
            }
        }
        ExprKind::Index { base, keys } => {
            path_heads(base, out);
            for k in keys {
                path_heads(k, out);
            }
        }
        ExprKind::Unary { expr, .. } => path_heads(expr, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            path_heads(lhs, out);
            path_heads(rhs, out);
        }
        ExprKind::Number { .. } | ExprKind::Str { .. } => {}
    }
}

/// `1234567` → `1,234,567`.
pub(super) fn thousands(n: u128) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
