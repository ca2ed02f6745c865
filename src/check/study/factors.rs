//! The factor-name machinery: the run factors (`task`, `arch`, `rule`, the numbers) of points,
//! the values they take, the names a `where` filter may use (checked against them), and the
//! variables a filter sees for a point.

use crate::check::eval::{Bindings, Eval, a, value_to_val};
use crate::check::val::{Obj, SVal, Val};
use crate::diag::{Diag, codes, did_you_mean};
use crate::ir::{self, Factor, Named};
use crate::registry::{self, Kind, schema::Ty};
use crate::source::Span;
use crate::syntax::ast::{BinOp, Expr, ExprKind};
use crate::value::Call;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;

/// Whether the points take at least two values of the factors (the first point against the
/// others: no string is built per point).
pub(super) fn varies(points: &[&ir::Point], factors: &[Factor]) -> bool {
    let Some(first) = points.first() else {
        return false;
    };
    points
        .iter()
        .any(|p| factors.iter().any(|&f| !same_factor(first, p, f)))
}

/// Whether two points take the same value of `f` (compared as values, not as strings).
fn same_factor(a: &ir::Point, b: &ir::Point, f: Factor) -> bool {
    match f {
        Factor::Task => a.task.label == b.task.label,
        Factor::Arch => a.arch.label == b.arch.label,
        Factor::Rule => a.rule.label == b.rule.label,
        Factor::Lr => a.lr == b.lr,
        Factor::Batch => a.batch == b.batch,
        Factor::Epochs => a.epochs == b.epochs,
        Factor::WeightDecay => a.weight_decay == b.weight_decay,
        Factor::ModelSeed => a.model_seed == b.model_seed,
        Factor::DataSeed => a.data_seed == b.data_seed,
    }
}

/// The distinct task, architecture and rule values of a set of points.
#[derive(Default)]
pub(super) struct FactorObjects {
    /// Calls already looked at (by address; the `Arc`s pin them so no address is reused).
    pub(super) seen: HashMap<usize, Arc<Call>>,
    pub(super) labels: BTreeSet<(&'static str, String)>,
    pub(super) objs: Vec<(&'static str, Named)>,
}

impl FactorObjects {
    pub(super) fn add(&mut self, p: &ir::Point) {
        for (f, n) in [("task", &p.task), ("arch", &p.arch), ("rule", &p.rule)] {
            let k = Arc::as_ptr(&n.call) as usize;
            if self.seen.contains_key(&k) {
                continue;
            }
            self.seen.insert(k, n.call.clone());
            if self.labels.insert((f, n.label.clone())) {
                self.objs.push((f, n.clone()));
            }
        }
    }

    pub(super) fn of(points: &[&ir::Point]) -> Self {
        let mut o = FactorObjects::default();
        for p in points {
            o.add(p);
        }
        o
    }

    /// The names a factor (or one of its attributes) is matched by, over the objects.
    fn values(&self, factor: &str, attr: Option<&str>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (f, n) in &self.objs {
            if *f != factor {
                continue;
            }
            match attr {
                None => {
                    out.insert(n.label.clone());
                    out.insert(n.label.split('(').next().unwrap_or(&n.label).to_string());
                }
                Some("label") => {
                    out.insert(n.label.clone());
                }
                Some("builtin") => {
                    out.insert(n.call.name.clone());
                }
                Some("family") => {
                    if let Some(b) = registry::builtin(&n.call.name) {
                        out.insert(b.family.to_string());
                    }
                }
                Some(a) => {
                    if let Some(k) = n.call.params.get(a).and_then(|v| value_to_val(v).key()) {
                        out.insert(k);
                    }
                }
            }
        }
        out
    }
}

/// The builtin kind whose objects a factor takes (`task`, `arch`, `rule`); `None` for the
/// numeric factors and for a name that is no factor.
fn factor_kind(factor: &str) -> Option<Kind> {
    match Factor::parse(factor)? {
        Factor::Task => Some(Kind::Task),
        Factor::Arch => Some(Kind::Arch),
        Factor::Rule => Some(Kind::Rule),
        _ => None,
    }
}

/// `factor` or `factor.attr` in a `where`: the factor and its attributes.
fn factor_path(e: &Expr) -> Option<(&str, &[String])> {
    match &e.kind {
        ExprKind::Path { segments } if Factor::parse(&segments[0]).is_some() => {
            Some((segments[0].as_str(), &segments[1..]))
        }
        _ => None,
    }
}

/// Whether a bare name is something lrx knows outside this spec: a builtin, a builtin family,
/// or (for an attribute that is a parameter) one of the parameter's allowed values.
fn known_name(name: &str, factor: Option<&str>, attr: Option<&str>) -> bool {
    let kinds: Vec<Kind> = match factor.and_then(factor_kind) {
        Some(k) => vec![k],
        None => vec![Kind::Task, Kind::Arch, Kind::Rule],
    };
    match attr {
        None | Some("label") | Some("builtin") => {
            registry::builtin(name).is_some_and(|b| kinds.contains(&b.kind))
        }
        Some("family") => kinds.iter().any(|k| {
            registry::names_of(*k)
                .iter()
                .filter_map(|n| registry::builtin(n))
                .any(|b| b.family == name)
        }),
        Some(a) => kinds.iter().any(|k| {
            registry::names_of(*k)
                .iter()
                .filter_map(|n| registry::builtin(n))
                .filter_map(|b| b.param(a))
                .any(|p| match p.ty {
                    Ty::Enum(vals) | Ty::EnumList(vals) => vals.contains(&name),
                    _ => false,
                })
        }),
    }
}

impl Eval<'_> {
    /// Checks that every bare name in `where` filters resolves: a run factor, a definition or
    /// import, or a value some factor takes in `objects`. A name compared with a factor must
    /// be one of that factor's values (a known value no run has is a warning: the comparison
    /// never matches). Returns whether no error was found.
    pub(super) fn check_filter_names(
        &mut self,
        filters: &[Expr],
        module: usize,
        objects: &FactorObjects,
        scope: &str,
    ) -> bool {
        let errors = self.diags.errors().count();
        for f in filters {
            self.filter_names(f, module, None, objects, scope);
        }
        self.diags.errors().count() == errors
    }

    fn filter_names(
        &mut self,
        e: &Expr,
        module: usize,
        ctx: Option<(&str, &[String])>,
        objects: &FactorObjects,
        scope: &str,
    ) {
        match &e.kind {
            ExprKind::Binary {
                op: BinOp::Eq | BinOp::Ne | BinOp::In,
                lhs,
                rhs,
            } => {
                let (l, r) = (factor_path(lhs), factor_path(rhs));
                self.filter_names(lhs, module, r, objects, scope);
                self.filter_names(rhs, module, l, objects, scope);
            }
            ExprKind::Binary { lhs, rhs, .. } => {
                self.filter_names(lhs, module, None, objects, scope);
                self.filter_names(rhs, module, None, objects, scope);
            }
            ExprKind::Unary { expr, .. } => self.filter_names(expr, module, None, objects, scope),
            ExprKind::List { items } | ExprKind::Tuple { items } => {
                for i in items {
                    self.filter_names(i, module, ctx, objects, scope);
                }
            }
            ExprKind::Path { segments } if segments.len() == 1 => {
                let name = segments[0].as_str();
                let m = &self.modules[module];
                if Factor::parse(name).is_some()
                    || m.defs.contains_key(name)
                    || m.imports.contains_key(name)
                    || matches!(name, "true" | "false" | "none")
                {
                    return;
                }
                self.filter_name(name, e.span, ctx, objects, scope);
            }
            _ => {}
        }
    }

    fn filter_name(
        &mut self,
        name: &str,
        span: Span,
        ctx: Option<(&str, &[String])>,
        objects: &FactorObjects,
        scope: &str,
    ) {
        let Some((factor, attrs)) = ctx else {
            self.where_name(name, span, objects);
            return;
        };
        let what = if attrs.is_empty() {
            format!("`{factor}`")
        } else {
            format!("`{factor}.{}`", attrs.join("."))
        };
        if factor_kind(factor).is_none() {
            if attrs.is_empty() {
                self.err(
                    Diag::error(
                        codes::TYPE_MISMATCH,
                        format!("{what} is a number; `{name}` is a name"),
                    )
                    .at(span, format!("not a value of {what}"))
                    .help(format!(
                        "compare {what} with a number, e.g. `{factor} == 32`"
                    )),
                );
            }
            return;
        }
        if attrs.len() > 1 {
            return;
        }
        let attr = attrs.first().map(String::as_str);
        let values = objects.values(factor, attr);
        if values.contains(name) {
            return;
        }
        let list = |v: &BTreeSet<String>| {
            v.iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // A builtin of another kind, or a value of another factor: never equal.
        let other = ["task", "arch", "rule"]
            .into_iter()
            .filter(|f| *f != factor)
            .find(|f| {
                objects.values(f, None).contains(name)
                    || (attr.is_none() && known_name(name, Some(f), None))
            });
        if let (Some(o), None) = (other, attr) {
            let kind = factor_kind(o).map_or("value", |k| k.name());
            self.err(
                Diag::error(
                    codes::TYPE_MISMATCH,
                    format!("`{name}` is {}, not a value of {what}", a(kind)),
                )
                .at(span, format!("never equal to {what}"))
                .help(format!(
                    "the values of {what} in this {scope}: {}",
                    list(&values)
                )),
            );
            return;
        }
        if known_name(name, Some(factor), attr) {
            self.err(
                Diag::warning(
                    codes::FILTER_NEVER_MATCHES,
                    format!("no run of this {scope} has {what} = `{name}`"),
                )
                .at(span, "matches no run")
                .help(format!(
                    "this comparison never holds; the values of {what} are {}",
                    list(&values)
                )),
            );
            return;
        }
        let cands: Vec<&str> = values.iter().map(String::as_str).collect();
        self.err(
            Diag::error(
                codes::UNKNOWN_NAME,
                format!("`{name}` is not a value of {what}"),
            )
            .at(span, "no run has this value")
            .help(match did_you_mean(name, cands.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("the values of {what} in this {scope}: {}", list(&values)),
            }),
        );
    }

    /// A bare name in a `where` compared with no factor: it must be a value some factor takes
    /// (or a builtin lrx knows).
    fn where_name(&mut self, name: &str, span: Span, objects: &FactorObjects) {
        let all: BTreeSet<String> = ["task", "arch", "rule"]
            .iter()
            .flat_map(|f| objects.values(f, None))
            .collect();
        if all.contains(name) || known_name(name, None, None) {
            return;
        }
        let mut cands: Vec<&str> = Factor::NAMES.to_vec();
        cands.extend(all.iter().map(String::as_str));
        self.err(
            Diag::error(
                codes::UNKNOWN_NAME,
                format!("unknown name `{name}` in `where`"),
            )
            .at(span, "not a run factor, nor a value of one")
            .help(match did_you_mean(name, cands.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!(
                    "a `where` compares run factors ({}) with their values",
                    Factor::NAMES.join(", ")
                ),
            }),
        );
    }
}

/// Variables a `where` filter sees for a point: the factors as values (the objects of shared
/// calls are built once).
pub(super) fn point_vars_cached(
    p: &ir::Point,
    span: Option<Span>,
    cache: &mut HashMap<usize, (Arc<Call>, SVal)>,
) -> Bindings {
    let span = span.unwrap_or(Span::new(crate::source::SourceId(0), 0, 0));
    let mut obj = |n: &Named| {
        let k = Arc::as_ptr(&n.call) as usize;
        if let Some((_, v)) = cache.get(&k) {
            return v.clone();
        }
        let v = SVal::new(obj_of(n), span);
        cache.insert(k, (n.call.clone(), v.clone()));
        v
    };
    let (task, arch, rule) = (obj(&p.task), obj(&p.arch), obj(&p.rule));
    let mut vars = vec![
        ("task".to_string(), task),
        ("arch".to_string(), arch),
        ("rule".to_string(), rule),
    ];
    vars.extend(number_vars(p, span));
    vars
}

fn obj_of(n: &Named) -> Val {
    let b = registry::builtin(&n.call.name).expect("resolved builtin");
    Val::Obj(Rc::new(Obj {
        builtin: b,
        label: n.label.clone(),
        params: n.call.params.clone(),
        explicit: BTreeSet::new(),
    }))
}

/// The numeric run factors of a point, as a `where` filter sees them.
fn number_vars(p: &ir::Point, span: Span) -> Bindings {
    vec![
        (Factor::Lr.name().into(), SVal::new(Val::float(p.lr), span)),
        (
            Factor::Batch.name().into(),
            SVal::new(Val::int(p.batch.into()), span),
        ),
        (
            Factor::Epochs.name().into(),
            SVal::new(Val::int(p.epochs.into()), span),
        ),
        (
            Factor::WeightDecay.name().into(),
            SVal::new(Val::float(p.weight_decay), span),
        ),
        (
            Factor::ModelSeed.name().into(),
            SVal::new(Val::int(p.model_seed.into()), span),
        ),
        (
            Factor::DataSeed.name().into(),
            SVal::new(Val::int(p.data_seed.into()), span),
        ),
    ]
}
