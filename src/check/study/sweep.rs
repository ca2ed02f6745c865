//! A `train` block → one [`ir::Sweep`]: its entries (settings, axes, `where` filters), the
//! required keys, the budget, the run limit, and the expansion of its axes into points.

use super::expand::Expansion;
use super::factors::FactorObjects;
use super::keys::{TRAIN_KEYS, TRAIN_REQUIRED};
use crate::check::eval::{Bindings, BlockKey, Eval};
use crate::check::val::{SVal, Val};
use crate::diag::{Diag, codes};
use crate::ir;
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

/// A sweep axis: its keys, its values, and the whole entry.
type Axis = (Vec<Spanned<String>>, Expr, Span);

/// The entries of a `train` block, sorted by what they are.
struct TrainEntries {
    axes: Vec<Axis>,
    settings: Vec<(Spanned<String>, Expr)>,
    filters: Vec<Expr>,
    /// Where each key is first set.
    first: BTreeMap<String, Span>,
    /// No entry was refused.
    ok: bool,
}

impl Eval<'_> {
    /// The `train` blocks (`None`: missing, reported), each expanded into a sweep named by its
    /// head (`train`, or `train1`, `train2`, ... for several unnamed blocks).
    pub(super) fn train(
        &mut self,
        bs: Option<&[&Block]>,
        module: usize,
        file_start: Span,
        limits: &mut RunLimits,
    ) -> Vec<ir::Sweep> {
        let mut sweeps = Vec::new();
        match bs {
            None => self.err(
                Diag::error(codes::MISSING_BLOCK, "the spec has no `train` block")
                    .at(file_start, "missing `train`")
                    .help("add `train { task = ..., arch = ..., rule in [...], lr = ..., batch = ..., epochs = ... }`"),
            ),
            Some(bs) => {
                let mut names: BTreeMap<String, Span> = BTreeMap::new();
                for (i, b) in bs.iter().enumerate() {
                    let sname = b.head.as_ref().map_or_else(|| if bs.len() == 1 { "train".to_string() } else { format!("train{}", i + 1) }, |h| h.node.join("."));
                    if let Some(f) = names.get(&sname) {
                        self.err(Diag::error(codes::DUPLICATE, format!("two `train` blocks named `{sname}`")).at(b.kind.span, "second").related(*f, "first"));
                    }
                    names.insert(sname.clone(), b.kind.span);
                    if let Some(sw) = self.sweep(b, module, sname, limits) {
                        sweeps.push(sw);
                    }
                }
            }
        }
        sweeps
    }

    /// One `train` block → its sweep: the entries checked, the plan's size bounded by the
    /// study's run limit, the axes expanded into points.
    fn sweep(
        &mut self,
        b: &Block,
        module: usize,
        name: String,
        limits: &mut RunLimits,
    ) -> Option<ir::Sweep> {
        let TrainEntries {
            axes,
            mut settings,
            filters,
            first,
            mut ok,
        } = self.train_entries(b);
        ok &= self.train_required(b, &first);
        if !ok {
            // Cannot expand: still check the axis values on their own.
            for (_, e, _) in &axes {
                let _ = self.eval(e, module, &Vec::new());
            }
            return None;
        }
        let budget = self.budget(&mut settings, module);
        // The size of the plan, from the axis sizes, before anything is expanded: axes that
        // do not name an earlier axis are evaluated once here (and reused by the expansion);
        // the product of their lengths bounds the sweep (a `where` can only shrink it).
        let errors_before = self.diags.errors().count();
        self.declare_block_keys(b);
        let (pre, earlier) = self.pre_axes(&axes, module);
        let pre_settings = self.pre_settings(&settings, earlier, module);
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
            let visited = u128::from(x.visited);
            self.too_many_runs(b, &name, &axes, &pre, visited, true, &filters, limits);
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
            self.empty_sweep(b, &name, &filters);
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

    /// Sorts the entries of a `train` block into axes, settings and filters, checking every
    /// key (known, set once) and the entries `train` cannot hold.
    fn train_entries(&mut self, b: &Block) -> TrainEntries {
        let mut t = TrainEntries {
            axes: Vec::new(),
            settings: Vec::new(),
            filters: Vec::new(),
            first: BTreeMap::new(),
            ok: true,
        };
        for e in &b.entries {
            match e {
                Entry::Nested(n) => {
                    self.err(Diag::error(codes::UNKNOWN_KEY, format!("unknown block `{}` in `train`", n.kind.node)).at(n.kind.span, "not allowed here").help("`train` holds settings (`key = value`), axes (`key in [...]`) and `where` filters"));
                    t.ok = false;
                }
                Entry::Filter { condition, .. } => t.filters.push(condition.clone()),
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
                    // An unknown or repeated key is reported; the rest of the block is still
                    // checked and expanded so every other error is found too.
                    if !self.train_targets(targets, &mut t.first) {
                        continue;
                    }
                    if is_axis {
                        if targets.iter().any(|t| t.node == "budget") {
                            self.err(
                                Diag::error(codes::AXIS_NOT_ALLOWED, "`budget` takes one value")
                                    .at(*span, "not a sweep axis")
                                    .help("write `budget = 2 cpu_hours`"),
                            );
                            t.ok = false;
                            continue;
                        }
                        t.axes.push((targets.clone(), value.clone(), *span));
                    } else if targets.len() != 1 {
                        self.err(
                            Diag::error(
                                codes::AXIS_NOT_ALLOWED,
                                "several keys can only be set together by an axis",
                            )
                            .at(*span, "here")
                            .help("write `(a, b) in zip([...], [...])`"),
                        );
                        t.ok = false;
                    } else {
                        t.settings.push((targets[0].clone(), value.clone()));
                    }
                }
            }
        }
        t
    }

    /// Checks the keys of one entry of `train` (each known, and set once in the block).
    /// Returns whether they all are.
    fn train_targets(
        &mut self,
        targets: &[Spanned<String>],
        first: &mut BTreeMap<String, Span>,
    ) -> bool {
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
        entry_ok
    }

    /// Reports the keys every `train` block needs and this one lacks. Returns whether it has
    /// them all.
    fn train_required(&mut self, b: &Block, first: &BTreeMap<String, Span>) -> bool {
        let mut ok = true;
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
        ok
    }

    /// The sweep's `budget` (taken out of the settings, evaluated once).
    fn budget(
        &mut self,
        settings: &mut Vec<(Spanned<String>, Expr)>,
        module: usize,
    ) -> Option<ir::Budget> {
        let pos = settings.iter().position(|(k, _)| k.node == "budget")?;
        let (_, e) = settings.remove(pos);
        let v = self.eval(&e, module, &Vec::new())?;
        match &v.v {
            Val::Num { n, unit: Some(u) } if u == "cpu_hours" || u == "gpu_hours" => {
                let h = &n.f64();
                if *h <= 0.0 {
                    self.err(
                        Diag::error(codes::OUT_OF_RANGE, "the budget must be positive")
                            .at(v.span, "here"),
                    );
                    None
                } else {
                    Some(ir::Budget {
                        hours: *h,
                        gpu: u == "gpu_hours",
                        origin: Some(v.span),
                    })
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
                None
            }
        }
    }

    /// Declares the keys of the block being expanded: a use before its declaration is
    /// reported as such (`eval::names`).
    fn declare_block_keys(&mut self, b: &Block) {
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
    }

    /// The values of the axes that name no earlier axis, evaluated once (`None` for the
    /// others), and the names of all axes.
    fn pre_axes(
        &mut self,
        axes: &[Axis],
        module: usize,
    ) -> (Vec<Option<Vec<SVal>>>, BTreeSet<String>) {
        let mut earlier: BTreeSet<String> = BTreeSet::new();
        let mut pre: Vec<Option<Vec<SVal>>> = Vec::new();
        for (targets, expr, _) in axes {
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
        (pre, earlier)
    }

    /// The values of the settings that name no axis (`axes`) and no other setting, evaluated
    /// once (`None` for the others).
    fn pre_settings(
        &mut self,
        settings: &[(Spanned<String>, Expr)],
        axes: BTreeSet<String>,
        module: usize,
    ) -> Vec<Option<SVal>> {
        let mut varying = axes;
        varying.extend(settings.iter().map(|(k, _)| k.node.clone()));
        settings
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
            .collect()
    }

    /// The error for a sweep that has no run.
    fn empty_sweep(&mut self, b: &Block, name: &str, filters: &[Expr]) {
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
    }

    /// The error for a sweep over `max_runs`, with the size of every axis.
    #[allow(clippy::too_many_arguments)]
    fn too_many_runs(
        &mut self,
        b: &Block,
        name: &str,
        axes: &[Axis],
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
fn path_heads(e: &Expr, out: &mut BTreeSet<String>) {
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
fn thousands(n: u128) -> String {
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
