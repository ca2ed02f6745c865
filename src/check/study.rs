//! Blocks of the main file → [`ir::Study`]: `study`, `train` (sweeps, expanded here), `observe`,
//! `realism`, `classify`, `report`. Every key is checked against the block's list of keys.

use super::eval::{Bindings, Eval, FACTORS};
use super::ir::{self, Named, Observable};
use super::val::{Obj, SVal, Val};
use crate::diag::{Diag, codes, did_you_mean, suggest};
use crate::registry::schema::Ty;
use crate::registry::{self, Kind};
use crate::source::{Span, Spanned};
use crate::syntax::ast::{Arg, BinOp, Block, Entry, Expr, ExprKind};
use crate::value::{Call, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;

/// A resolved call shared by every point that uses the same object (keyed by the object's
/// address, which `_pins` keeps alive so it cannot be reused).
pub struct Interned {
    label: String,
    call: std::sync::Arc<Call>,
    span: Option<Span>,
    _pins: [Option<Rc<Obj>>; 2],
}

/// The top-level blocks of a spec.
pub const BLOCKS: &[&str] = &[
    "study",
    "train",
    "observe",
    "observables",
    "realism",
    "classify",
    "report",
];
const STUDY_KEYS: &[&str] = &[
    "output",
    "seed",
    "description",
    "device",
    "cpu_gflops",
    "gpu_gflops",
    "max_runs",
    "stdlib",
];

/// The default of `study { max_runs = ... }`: the most training runs (counted before `where`
/// filters) the sweeps of a study may expand to.
pub const DEFAULT_MAX_RUNS: u64 = 100_000;

/// The run limit of a study and the runs its sweeps have used so far.
pub struct RunLimits {
    max_runs: u64,
    used: u64,
}
const TRAIN_KEYS: &[&str] = &[
    "task",
    "arch",
    "rule",
    "lr",
    "batch",
    "epochs",
    "checkpoint",
    "weight_decay",
    "schedule",
    "model_seed",
    "data_seed",
    "budget",
];
/// Most training epochs a run may have (each one can be a checkpoint).
pub const MAX_EPOCHS: i64 = 100_000;
const TRAIN_REQUIRED: &[&str] = &["task", "arch", "rule", "lr", "batch", "epochs"];
const OBSERVE_KEYS: &[&str] = &[
    "stimuli",
    "precision",
    "batch",
    "quantile",
    "skew",
    "kurtosis",
    "jacobian_via",
    "drop_nonfinite",
];
const REALISM_KEYS: &[&str] = &["noise", "units", "seeds"];
const CLASSIFY_KEYS: &[&str] = &[
    "targets",
    "measures",
    "models",
    "splits",
    "cv",
    "holdout",
    "portions",
    "average",
    "zscore",
    "seed",
    "realism",
    "analysis_models",
    "matched",
];
const REPORT_KEYS: &[&str] = &["format", "title"];
/// The keys of `classify { trajectory { ... } }`.
const TRAJECTORY_KEYS: &[&str] = &["period", "samples"];
/// The keys of a measure block (`observe { weight { ... } }`).
const MEASURE_KEYS: &[&str] = &["functions", "statistics"];

/// The keys a block of kind `kind` takes and the blocks it may hold (`None` for a kind that
/// is not a block): what the language server completes and documents. Top-level blocks are
/// named by their kind, nested ones by theirs (`trajectory`, and the measures `weight`,
/// `act`, `gradavg` with their aliases).
pub fn keys_of_block(kind: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    const MEASURE_BLOCKS: &[&str] = &["weight", "act", "gradavg"];
    Some(match kind {
        "study" => (STUDY_KEYS, &[]),
        "train" => (TRAIN_KEYS, &[]),
        "observe" => (OBSERVE_KEYS, MEASURE_BLOCKS),
        "observables" => (&[], MEASURE_BLOCKS),
        "realism" => (REALISM_KEYS, &[]),
        "classify" => (CLASSIFY_KEYS, &["trajectory"]),
        "report" => (REPORT_KEYS, &[]),
        "trajectory" => (TRAJECTORY_KEYS, &[]),
        k if registry::measure(k).is_some() => (MEASURE_KEYS, &[]),
        _ => return None,
    })
}

/// Every key of every block (study, train, observe, realism, classify, report), in that order,
/// each once: the vocabulary the grammar fuzzers draw setting names from, so that a key added
/// to a block is fuzzed without a second list to keep in step.
pub fn block_keys() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for k in [
        STUDY_KEYS,
        TRAIN_KEYS,
        OBSERVE_KEYS,
        REALISM_KEYS,
        CLASSIFY_KEYS,
        REPORT_KEYS,
    ]
    .concat()
    {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// Settings of a non-sweep block: key → (value, span of the entry, written with `in`).
struct Settings {
    values: BTreeMap<String, (SVal, Span, bool)>,
    /// Every key written, including those whose value failed (and was reported): a missing
    /// key is one not written at all, so a failed value gets no follow-on "needs" error.
    written: BTreeSet<String>,
    nested: Vec<Block>,
    filters: Vec<Expr>,
}

impl Eval<'_> {
    /// Evaluates the entries of a simple block, checking keys.
    fn settings(
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
                Entry::Nested(n) => {
                    if nested_ok.contains(&n.kind.node.as_str())
                        || (nested_ok.contains(&"*measure")
                            && registry::measure(&n.kind.node).is_some())
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

    fn known_key(&mut self, key: &Spanned<String>, keys: &[&str], block: &str) -> bool {
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

    fn scalar(&mut self, s: &Settings, key: &str) -> Option<SVal> {
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

    fn typed(&mut self, s: &Settings, key: &str, ty: Ty) -> Option<Value> {
        let v = if ty.is_list() {
            s.values.get(key).map(|x| x.0.clone())
        } else {
            self.scalar(s, key)
        }?;
        self.coerce(&v, &ty, key)
    }

    fn str_or(&mut self, s: &Settings, key: &str, default: &str) -> String {
        match self.typed(s, key, Ty::Str) {
            Some(Value::Str(x)) => x,
            _ => default.to_string(),
        }
    }

    /// Checks the main module's blocks and builds the study.
    pub fn study(&mut self, module: usize) -> Option<ir::Study> {
        // Check every definition of the study file, used or not.
        let names: Vec<(String, Span)> = self.modules[module]
            .defs
            .values()
            .map(|d| (d.name.node.clone(), d.name.span))
            .collect();
        for (n, span) in names {
            let _ = self.path(&[n], span, module, &Vec::new());
        }
        let blocks = std::mem::take(&mut self.modules[module].blocks);
        let mut by_kind: BTreeMap<String, Vec<&Block>> = BTreeMap::new();
        for b in &blocks {
            if !BLOCKS.contains(&b.kind.node.as_str()) {
                let mut kws: Vec<&str> = BLOCKS.to_vec();
                kws.extend(Kind::ALL.iter().map(|k| k.keyword()));
                self.err(
                    Diag::error(
                        codes::UNKNOWN_KIND,
                        format!("unknown block `{}`", b.kind.node),
                    )
                    .at(b.kind.span, "not a block kind")
                    .help(suggest(&b.kind.node, &kws)),
                );
                continue;
            }
            by_kind.entry(b.kind.node.clone()).or_default().push(b);
        }
        for (k, bs) in &by_kind {
            if k != "train" && bs.len() > 1 {
                self.err(
                    Diag::error(codes::DUPLICATE, format!("more than one `{k}` block"))
                        .at(bs[1].kind.span, "second block")
                        .related(bs[0].kind.span, "first block")
                        .help("merge them into one"),
                );
            }
        }
        let file_start = Span::new(
            self.modules[module]
                .source
                .unwrap_or(crate::source::SourceId(0)),
            0,
            0,
        );

        // study
        let mut limits = RunLimits {
            max_runs: DEFAULT_MAX_RUNS,
            used: 0,
        };
        let (name, output, seed, description, device, cpu_gflops, gpu_gflops) =
            match by_kind.get("study").and_then(|v| v.first()) {
                None => {
                    self.err(
                        Diag::error(codes::MISSING_BLOCK, "the spec has no `study` block")
                            .at(file_start, "missing `study`")
                            .help("add `study my_study { output = \"runs/my_study\" }`"),
                    );
                    (
                        "study".to_string(),
                        "runs/study".to_string(),
                        0,
                        String::new(),
                        "auto".to_string(),
                        20.0,
                        10_000.0,
                    )
                }
                Some(b) => {
                    let name = match &b.head {
                        Some(h) if h.node.len() == 1 => h.node[0].clone(),
                        _ => {
                            self.err(
                                Diag::error(codes::MISSING_KEY, "the study needs a name")
                                    .at(b.kind.span, "no name")
                                    .help("write `study my_study { ... }`"),
                            );
                            "study".into()
                        }
                    };
                    let s = self.settings(b, module, STUDY_KEYS, &[], false);
                    let output = self.str_or(&s, "output", &format!("runs/{name}"));
                    if let Some((v, _, _)) = s.values.get("output") {
                        self.check_output(&output, v.span);
                    }
                    if let Some(Value::Int(n)) = self.typed(
                        &s,
                        "max_runs",
                        Ty::Int {
                            min: 1,
                            max: i64::MAX,
                        },
                    ) {
                        limits.max_runs = n as u64;
                    }
                    let seed = self
                        .typed(&s, "seed", Ty::Seed)
                        .and_then(|v| v.as_u64())
                        .unwrap_or(0);
                    if let Some(Value::Int(n)) = self.typed(
                        &s,
                        "stdlib",
                        Ty::Int {
                            min: 1,
                            max: i64::MAX,
                        },
                    ) && let Some((v, _, _)) = s.values.get("stdlib")
                    {
                        self.stdlib_pin = Some((n, v.span));
                    }
                    let description = self.str_or(&s, "description", "");
                    let device = match self.scalar(&s, "device") {
                        None => "auto".to_string(),
                        Some(v) => self.device(&v).unwrap_or_else(|| "auto".into()),
                    };
                    let cpu = self
                        .typed(
                            &s,
                            "cpu_gflops",
                            Ty::Float {
                                min: 1e-3,
                                max: 1e9,
                            },
                        )
                        .and_then(|v| v.as_f64())
                        .unwrap_or(20.0);
                    let gpu = self
                        .typed(
                            &s,
                            "gpu_gflops",
                            Ty::Float {
                                min: 1e-3,
                                max: 1e9,
                            },
                        )
                        .and_then(|v| v.as_f64())
                        .unwrap_or(10_000.0);
                    (name, output, seed, description, device, cpu, gpu)
                }
            };

        // train
        let mut sweeps = Vec::new();
        match by_kind.get("train") {
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
                    if let Some(sw) = self.sweep(b, module, sname, &mut limits) {
                        sweeps.push(sw);
                    }
                }
            }
        }
        let points: Vec<&ir::Point> = sweeps.iter().flat_map(|s| s.points.iter()).collect();
        let objects = FactorObjects::of(&points);
        self.check_data_paths(&objects);

        // observe
        let observe = self.observe(
            by_kind.get("observe").and_then(|v| v.first()).copied(),
            module,
            &objects,
        );

        // realism
        let realism = by_kind
            .get("realism")
            .and_then(|v| v.first())
            .and_then(|b| self.realism(b, module, &points, &objects));

        // classify
        let classify = by_kind
            .get("classify")
            .and_then(|v| v.first())
            .and_then(|b| {
                self.classify(
                    b,
                    module,
                    &points,
                    observe.as_ref(),
                    realism.is_some(),
                    seed,
                )
            });

        // report
        let report = match by_kind.get("report").and_then(|v| v.first()) {
            None => ir::Report {
                formats: vec!["html".into(), "markdown".into()],
                title: name.clone(),
            },
            Some(b) => {
                let s = self.settings(b, module, REPORT_KEYS, &[], false);
                let formats = match self.typed(&s, "format", Ty::EnumList(registry::REPORT_FORMATS))
                {
                    Some(Value::List(l)) => l
                        .iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect(),
                    _ => vec!["html".into(), "markdown".into()],
                };
                let title = self.str_or(&s, "title", &name);
                ir::Report { formats, title }
            }
        };

        let observe = observe?;
        Some(ir::Study {
            name,
            description,
            output,
            seed,
            device,
            cpu_gflops,
            gpu_gflops,
            sweeps,
            observe,
            realism,
            classify,
            report,
            spec_hash: String::new(),
        })
    }

    /// A `classify` list that must not be empty.
    fn non_empty(&mut self, items: &[SVal], key: &str, span: Span, example: &str) -> bool {
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

    /// Warns when `stimuli` asks for more validation stimuli than a task has (every run then
    /// observes the whole validation set). Folder tasks are only counted when read.
    fn check_stimuli(&mut self, stimuli: i64, span: Span, objects: &FactorObjects) {
        if stimuli <= 0 {
            return;
        }
        for (f, n) in &objects.objs {
            if *f != "task"
                || !matches!(
                    n.call.name.as_str(),
                    "synthetic_images" | "synthetic_audio" | "cifar10"
                )
            {
                continue;
            }
            let (_, val) = crate::plan::cost::task_sizes(&n.call);
            if (stimuli as f64) > val {
                let val = val as i64;
                let mut d = Diag::warning(
                    codes::STIMULI_EXCEED_VAL,
                    format!(
                        "{stimuli} stimuli asked for, but the task `{}` has {val} validation stimuli",
                        n.label
                    ),
                )
                .at(span, "more than the validation set")
                .help(format!(
                    "every run observes all {val}; write `stimuli = val({val})`, or `val()` for the whole set"
                ));
                if let Some(o) = n.origin {
                    d = d.related(o, "this task");
                }
                self.err(d);
            }
        }
    }

    /// Warns about data paths (`path`, `val_path`) of the tasks that do not exist here
    /// (relative paths are relative to the working directory). A warning, not an error: a
    /// spec is often checked on one machine and run on another that has the data.
    fn check_data_paths(&mut self, objects: &FactorObjects) {
        for (f, n) in &objects.objs {
            // IDX tasks are looked up file by file (`warn_missing_data`).
            if *f != "task" || matches!(n.call.name.as_str(), "fashion_mnist" | "idx_images") {
                continue;
            }
            for key in ["path", "val_path"] {
                let Some(Value::Str(p)) = n.call.params.get(key) else {
                    continue;
                };
                if p.is_empty() || std::path::Path::new(p).exists() {
                    continue;
                }
                let span = self.def_arg_span(&n.label, key).or(n.origin);
                let mut d = Diag::warning(
                    codes::DATA_MISSING,
                    format!("the data path `{p}` of the task `{}` does not exist", n.label),
                )
                .help(format!(
                    "`lrx run` will fail here without it; check the path (relative paths are relative to the directory lrx runs in){}",
                    if key == "path" { "" } else { ", or leave `val_path` empty to hold out part of `path`" }
                ));
                if let Some(s) = span {
                    d = d.at(s, "no such file or directory");
                }
                self.err(d);
            }
        }
    }

    /// The span of a named argument of a definition's call, e.g. `path = ...` in
    /// `task cifar = cifar10(path = ...)`, looked up in every loaded module.
    fn def_arg_span(&self, def: &str, arg: &str) -> Option<Span> {
        for m in &self.modules {
            let Some(d) = m.defs.get(def) else {
                continue;
            };
            let super::eval::DefBody::Value { expr, .. } = &d.body else {
                continue;
            };
            let ExprKind::Call { args, .. } = &expr.kind else {
                continue;
            };
            for a in args {
                if let Arg::Named { name, value } = a {
                    if name.node == arg {
                        return Some(value.span);
                    }
                }
            }
        }
        None
    }

    /// The study's `output` must be a directory lrx can create: not empty, without a NUL byte,
    /// and neither it nor a directory above it an existing file (relative paths are relative
    /// to the working directory, as `lrx run` resolves them).
    fn check_output(&mut self, output: &str, span: Span) {
        let (msg, help) = if output.trim().is_empty() {
            (
                "the output path is empty".to_string(),
                "name a directory, e.g. `output = \"runs/my_study\"`".to_string(),
            )
        } else if output.contains('\0') {
            (
                "the output path holds a NUL byte".to_string(),
                "paths cannot contain `\\0`; remove it".to_string(),
            )
        } else {
            let path = std::path::Path::new(output);
            let Some(file) = path
                .ancestors()
                .filter(|a| !a.as_os_str().is_empty())
                .find(|a| a.exists() && !a.is_dir())
            else {
                return;
            };
            (
                if file == path {
                    format!("the output path `{output}` is an existing file, not a directory")
                } else {
                    format!(
                        "the output path `{output}` is inside `{}`, an existing file",
                        file.display()
                    )
                },
                "lrx writes the study into this directory; choose another path or move the file"
                    .to_string(),
            )
        };
        self.err(
            Diag::error(codes::BAD_PATH, msg)
                .at(span, "cannot be created")
                .help(help),
        );
    }

    fn device(&mut self, v: &SVal) -> Option<String> {
        let s = match &v.v {
            Val::Sym(s) | Val::Str(s) => s.clone(),
            o => return self.type_err_pub(v.span, "`cpu`, `cuda`, `cuda:N` or `auto`", o),
        };
        let ok = matches!(s.as_str(), "cpu" | "cuda" | "auto")
            || s.strip_prefix("cuda:")
                .is_some_and(|n| n.parse::<u32>().is_ok());
        if !ok {
            self.err(
                Diag::error(codes::DEVICE, format!("unknown device `{s}`"))
                    .at(v.span, "not a device")
                    .help(format!(
                        "{}; `\"cuda:1\"` picks a GPU",
                        suggest(&s, registry::DEVICES)
                    )),
            );
            return None;
        }
        Some(s)
    }

    pub fn type_err_pub<T>(&mut self, span: Span, expected: &str, found: &Val) -> Option<T> {
        self.err(
            Diag::error(
                codes::TYPE_MISMATCH,
                format!("expected {expected}, found {}", found.describe()),
            )
            .at(span, format!("expected {expected}")),
        );
        None
    }

    // --------------------------------------------------------------------------------------
    // train

    fn sweep(
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
                    self.block_keys
                        .entry(t.node.clone())
                        .or_insert(super::eval::BlockKey {
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
    fn too_many_runs(
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

    /// Resolves the names of an axis of tasks, architectures, rules or schedules to shared
    /// objects once, so the points that use them share their resolved calls. Items that do
    /// not resolve are left as they are (the expansion reports them).
    fn resolve_objects(&mut self, targets: &[Spanned<String>], items: Vec<SVal>) -> Vec<SVal> {
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
                (Some(k), Val::Sym(_)) => match s.to_obj(v.clone(), k) {
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
    fn warn_duplicates(&mut self, targets: &[Spanned<String>], items: &[SVal]) {
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

    fn expand(&mut self, x: &mut Expansion, i: usize, bindings: &mut Bindings) {
        if x.overflow {
            return;
        }
        let module = x.module;
        if i == x.axes.len() {
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
                    let _ = self.to_obj(v.clone(), kind);
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
                        return;
                    }
                }
            }
            self.expand(x, i + 1, bindings);
            bindings.truncate(n);
            if x.overflow {
                return;
            }
        }
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
                let _ = self.to_obj(p, kind);
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
                self.type_err_pub::<()>(o.span, "a condition (`true` or `false`)", &o.v);
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

    /// A warning when a task's data is not where its call says (`idx::data_path_problem`;
    /// looked up once per distinct call, however many sweep points share it).
    fn warn_missing_data(&mut self, task: &Obj, span: Span) {
        let key = format!("{}{:?}", task.builtin.name, task.params);
        if !self.data_checked.insert(key) {
            return;
        }
        if let Some(p) = crate::idx::data_path_problem(task.builtin.name, &task.params) {
            self.err(
                Diag::warning(codes::DATA_MISSING, p.message)
                    .at(span, format!("this task reads its data from `{}`", p.param))
                    .help(p.help),
            );
        }
    }

    fn get<'a>(vars: &'a Bindings, k: &str) -> Option<&'a SVal> {
        vars.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v)
    }

    fn named(&mut self, vars: &Bindings, key: &str, kind: Kind) -> Option<(Obj, Span)> {
        let v = Self::get(vars, key)?.clone();
        let span = v.span;
        self.to_obj(v, kind).map(|o| (o, span))
    }

    /// A point's schedule, resolved once per schedule object (and once for the default,
    /// `constant`, under the key `(0, 1)`, which no object has).
    fn schedule(&mut self, v: Option<&SVal>) -> Option<Arc<Call>> {
        let rc = match v.map(|v| &v.v) {
            Some(Val::Obj(o)) => Some(o.clone()),
            _ => None,
        };
        let key = (rc.as_ref().map_or(0, |o| Rc::as_ptr(o) as usize), 1);
        if v.is_none() || rc.is_some() {
            if let Some(i) = self.interned.get(&key) {
                return Some(i.call.clone());
            }
        }
        let obj = match v {
            None => Obj {
                builtin: registry::builtin("constant")?,
                label: "constant".into(),
                params: BTreeMap::new(),
                explicit: BTreeSet::new(),
            },
            Some(v) => self.to_obj(v.clone(), Kind::Schedule)?,
        };
        let call = Arc::new(Call {
            name: obj.builtin.name.into(),
            params: obj.params,
        });
        if v.is_none() || rc.is_some() {
            self.interned.insert(
                key,
                Interned {
                    label: obj.label,
                    call: call.clone(),
                    span: v.map(|v| v.span),
                    _pins: [rc, None],
                },
            );
        }
        Some(call)
    }

    /// Builds one concrete training point from the bound keys.
    fn point(&mut self, vars: &Bindings) -> Option<ir::Point> {
        // The same task, architecture and rule objects recur in many points: their resolved
        // calls are built once and shared (a 100,000-run sweep must stay fast).
        let rc = |k: &str| match Self::get(vars, k).map(|v| &v.v) {
            Some(Val::Obj(o)) => Some(o.clone()),
            _ => None,
        };
        let (rt, ra, rr) = (rc("task"), rc("arch"), rc("rule"));
        let key = |a: &Option<Rc<Obj>>, b: &Option<Rc<Obj>>| {
            (
                a.as_ref().map_or(0, |x| Rc::as_ptr(x) as usize),
                b.as_ref().map_or(0, |x| Rc::as_ptr(x) as usize),
            )
        };
        let cached = match (&rt, &ra, &rr) {
            (Some(_), Some(_), Some(_)) => {
                let get = |k| {
                    self.interned
                        .get(&k)
                        .map(|e: &Interned| (e.label.clone(), e.call.clone(), e.span))
                };
                match (
                    get(key(&rt, &None)),
                    get(key(&ra, &rt)),
                    get(key(&rr, &None)),
                ) {
                    (Some(t), Some(a), Some(r)) => Some((t, a, r)),
                    _ => None,
                }
            }
            _ => None,
        };
        let objs = if cached.is_none() {
            let task = self.named(vars, "task", Kind::Task);
            let arch = self.named(vars, "arch", Kind::Arch);
            let rule = self.named(vars, "rule", Kind::Rule);
            Some((task, arch, rule))
        } else {
            None
        };
        let num = |s: &mut Self, k: &str, ty: Ty| -> Option<Option<Value>> {
            match Self::get(vars, k) {
                None => Some(None),
                Some(v) => {
                    let v = v.clone();
                    s.coerce(&v, &ty, k).map(Some)
                }
            }
        };
        let lr = num(self, "lr", Ty::PosFloat { max: 1e6 });
        let batch = num(
            self,
            "batch",
            Ty::Int {
                min: 1,
                max: 1 << 24,
            },
        );
        let epochs = num(self, "epochs", Ty::Epochs { min: 1 });
        let wd = num(self, "weight_decay", Ty::Float { min: 0.0, max: 1e3 });
        let ms = num(self, "model_seed", Ty::Seed);
        let ds = num(self, "data_seed", Ty::Seed);
        let schedule = self.schedule(Self::get(vars, "schedule"));
        let (lr, batch, epochs) = (lr??.as_f64()?, batch??.as_i64()?, epochs??.as_i64()?);
        // Every epoch is a checkpoint by default: an unbounded count would allocate that many.
        if epochs > MAX_EPOCHS {
            let s = Self::get(vars, "epochs").map(|v| v.span)?;
            self.err(
                Diag::error(
                    codes::OUT_OF_RANGE,
                    format!("{epochs} epochs is out of range: expected at most {MAX_EPOCHS}"),
                )
                .at(s, "too many epochs")
                .help(format!("train for 1 to {MAX_EPOCHS} epochs")),
            );
            return None;
        }
        let weight_decay = wd?.and_then(|v| v.as_f64()).unwrap_or(0.0);
        let model_seed = ms?.and_then(|v| v.as_u64()).unwrap_or(0);
        let data_seed = ds?.and_then(|v| v.as_u64()).unwrap_or(0);
        let schedule = schedule?;
        // Checkpoints.
        let checkpoints = match Self::get(vars, "checkpoint").cloned() {
            None => (0..=epochs).collect(),
            Some(SVal {
                v: Val::Every(k),
                span,
            }) => {
                if k > epochs {
                    self.err(
                        Diag::warning(
                            codes::CHECKPOINT_PERIOD,
                            format!(
                                "a checkpoint every {k} epochs in a {epochs}-epoch run records only epoch 0"
                            ),
                        )
                        .at(span, "longer than training")
                        .help(format!(
                            "the features would be those of the untrained network; use a period of at most {epochs} epochs, e.g. `every(1 epoch)`"
                        )),
                    );
                }
                (0..=epochs).step_by(k as usize).collect()
            }
            Some(v) => {
                match self.coerce(
                    &v,
                    &Ty::IntList {
                        min: 0,
                        max: i64::MAX,
                    },
                    "checkpoint",
                ) {
                    Some(Value::List(l)) => {
                        let mut c: Vec<i64> = l.iter().filter_map(Value::as_i64).collect();
                        c.sort_unstable();
                        c.dedup();
                        if let Some(bad) = c.iter().find(|&&e| e > epochs) {
                            self.err(Diag::error(codes::OUT_OF_RANGE, format!("checkpoint at epoch {bad} is after the last epoch ({epochs})")).at(v.span, "here"));
                            return None;
                        }
                        c
                    }
                    _ => return None,
                }
            }
        };
        let (task, arch, rule) = match cached {
            Some((t, a, r)) => (
                Named {
                    label: t.0,
                    call: t.1,
                    origin: t.2,
                },
                Named {
                    label: a.0,
                    call: a.1,
                    origin: a.2,
                },
                Named {
                    label: r.0,
                    call: r.1,
                    origin: r.2,
                },
            ),
            None => {
                let (task, arch, rule) = objs?;
                let ((task, tspan), (mut arch, aspan), (rule, rspan)) = (task?, arch?, rule?);
                // Architecture inputs come from the task.
                let audio = crate::cochlea::is_audio_task(task.builtin.name);
                self.warn_missing_data(&task, tspan);
                let int = |k: &str, d: i64| task.params.get(k).and_then(Value::as_i64).unwrap_or(d);
                let (size, channels, classes) = match task.builtin.name {
                    "cifar10" => (32, 3, 10),
                    "fashion_mnist" => (int("size", 28), 1, 10),
                    "idx_images" => (int("size", 28), 1, int("classes", 10)),
                    _ if audio => {
                        let call = crate::value::Call {
                            name: task.builtin.name.to_string(),
                            params: task.params.clone(),
                        };
                        let p = crate::cochlea::CochleaParams::from_call(&call);
                        if let Some((param, msg)) = p.problems().into_iter().next() {
                            self.err(
                                Diag::error(
                                    codes::OUT_OF_RANGE,
                                    format!(
                                        "the task `{}` has a bad cochleagram `{param}`: {msg}",
                                        task.label
                                    ),
                                )
                                .at(tspan, "this task"),
                            );
                            return None;
                        }
                        // Non-square inputs carry `input_width` (as `Task::fill_arch` does).
                        let (rows, frames) = (p.n_filters() as i64, p.frames() as i64);
                        if frames != rows {
                            arch.params.insert("input_width".into(), Value::Int(frames));
                        }
                        (rows, 1, call.i64("classes").unwrap_or(10))
                    }
                    _ => (
                        task.params
                            .get("size")
                            .and_then(Value::as_i64)
                            .unwrap_or(32),
                        task.params
                            .get("channels")
                            .and_then(Value::as_i64)
                            .unwrap_or(3),
                        task.params
                            .get("classes")
                            .and_then(Value::as_i64)
                            .unwrap_or(10),
                    ),
                };
                arch.params.insert("input_size".into(), Value::Int(size));
                arch.params
                    .insert("in_channels".into(), Value::Int(channels));
                arch.params.insert("classes".into(), Value::Int(classes));
                let width = arch
                    .params
                    .get("input_width")
                    .and_then(Value::as_i64)
                    .unwrap_or(size);
                let min_side = width.min(size);
                let shape = if width == size {
                    format!("{size}")
                } else {
                    format!("{size}×{width}")
                };
                if arch.builtin.name == "alexnet" && min_side < 67 {
                    self.err(
                Diag::error(
                    codes::OUT_OF_RANGE,
                    format!(
                        "AlexNet needs inputs of at least 67 pixels; the task `{}` has {shape}",
                        task.label
                    ),
                )
                .at(aspan, "too small an input for this architecture")
                .related(tspan, "the task"),
            );
                    return None;
                }
                // `top_feedback = shared` needs a classifier reading a flattened C×H×W map
                // (`models::Model::with_backward`).
                if rule.params.get("top_feedback").and_then(Value::as_str) == Some("shared") {
                    let why = if !matches!(arch.builtin.name, "knet4" | "knet5") {
                        Some(format!(
                            "`{}`'s classifier does not read a flattened C×H×W map (only knet4's and knet5's do)",
                            arch.builtin.name
                        ))
                    } else if task.params.get("objective").and_then(Value::as_str)
                        == Some("contrastive")
                    {
                        Some("the contrastive objective has no classifier".into())
                    } else if rule.params.get("backward_init").and_then(Value::as_str)
                        == Some("same_draws")
                    {
                        Some("`backward_init = same_draws` gives B W's draws, which are not shared over positions".into())
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        self.err(
                            Diag::error(
                                codes::OUT_OF_RANGE,
                                format!("`top_feedback = shared` cannot be used here: {why}"),
                            )
                            .at(rspan, "this rule")
                            .related(aspan, "the architecture")
                            .help("use `top_feedback = random` (the default)"),
                        );
                        return None;
                    }
                }
                let named = |o: Obj, s: Span| Named {
                    label: o.label.clone(),
                    call: std::sync::Arc::new(Call {
                        name: o.builtin.name.into(),
                        params: o.params,
                    }),
                    origin: Some(s),
                };
                let (t, a, r) = (named(task, tspan), named(arch, aspan), named(rule, rspan));
                for (k, n, pins) in [
                    (key(&rt, &None), &t, [rt.clone(), None]),
                    (key(&ra, &rt), &a, [ra.clone(), rt.clone()]),
                    (key(&rr, &None), &r, [rr.clone(), None]),
                ] {
                    if pins[0].is_some() {
                        self.interned.insert(
                            k,
                            Interned {
                                label: n.label.clone(),
                                call: n.call.clone(),
                                span: n.origin,
                                _pins: pins,
                            },
                        );
                    }
                }
                (t, a, r)
            }
        };
        Some(ir::Point {
            task,
            arch,
            rule,
            lr,
            batch,
            epochs,
            checkpoints,
            weight_decay,
            schedule,
            model_seed,
            data_seed,
        })
    }

    // --------------------------------------------------------------------------------------
    // observe

    fn observe(
        &mut self,
        b: Option<&Block>,
        module: usize,
        objects: &FactorObjects,
    ) -> Option<ir::Observe> {
        let mut obs: Vec<Observable> = Vec::new();
        let mut o = ir::Observe {
            observables: Vec::new(),
            stimuli: 0,
            batch: 256,
            conventions: ir::Conventions {
                quantile: "tf_nearest".into(),
                skew: "pearson2".into(),
                kurtosis: "pearson".into(),
                precision: "float64".into(),
            },
            jacobian_via: "auto".into(),
            drop_nonfinite: true,
        };
        let Some(b) = b else {
            o.observables = all_candidates();
            return Some(o);
        };
        let mut ok = true;
        if let Some(h) = &b.head {
            match self.path(&h.node, h.span, module, &Vec::new()) {
                Some(SVal {
                    v: Val::Observables(l),
                    ..
                }) => obs.extend(l),
                Some(other) => {
                    self.type_err_pub::<()>(h.span, "an `observables` set", &other.v);
                    ok = false;
                }
                None => ok = false,
            }
        }
        let s = self.settings(b, module, OBSERVE_KEYS, &["*measure"], false);
        for n in &s.nested {
            match self.measure_block(n, module) {
                Some(l) => obs.extend(l),
                None => ok = false,
            }
        }
        if b.head.is_none() && s.nested.is_empty() {
            obs = all_candidates();
        }
        let mut seen = BTreeSet::new();
        obs.retain(|x| seen.insert(x.clone()));
        o.observables = obs;
        if let Some(v) = self.scalar(&s, "stimuli") {
            match v.v {
                Val::Stimuli(n) => o.stimuli = n,
                _ => match self.int(&v, 1, i64::MAX) {
                    Some(n) => o.stimuli = n,
                    None => ok = false,
                },
            }
            self.check_stimuli(o.stimuli, v.span, objects);
        }
        if let Some(Value::Int(n)) = self.typed(
            &s,
            "batch",
            Ty::Int {
                min: 1,
                max: 1 << 20,
            },
        ) {
            o.batch = n;
        }
        for (key, vals) in [
            ("quantile", registry::QUANTILE_CONVENTIONS),
            ("skew", registry::SKEW_CONVENTIONS),
            ("kurtosis", registry::KURTOSIS_CONVENTIONS),
            ("jacobian_via", registry::JACOBIAN_VIA),
            ("precision", registry::PRECISIONS),
        ] {
            if let Some(Value::Str(x)) = self.typed(&s, key, Ty::Enum(vals)) {
                match key {
                    "quantile" => o.conventions.quantile = x,
                    "skew" => o.conventions.skew = x,
                    "kurtosis" => o.conventions.kurtosis = x,
                    "precision" => o.conventions.precision = x,
                    _ => o.jacobian_via = x,
                }
            }
        }
        if let Some(Value::Bool(x)) = self.typed(&s, "drop_nonfinite", Ty::Bool) {
            o.drop_nonfinite = x;
        }
        if o.observables.is_empty() {
            self.err(Diag::error(codes::EMPTY_SWEEP, "no observables to record").at(b.kind.span, "empty").help("name an observables set (`observe paper.candidates { }`) or add measure blocks"));
            ok = false;
        }
        ok.then_some(o)
    }

    // --------------------------------------------------------------------------------------
    // realism

    fn realism(
        &mut self,
        b: &Block,
        module: usize,
        points: &[&ir::Point],
        objects: &FactorObjects,
    ) -> Option<ir::Realism> {
        let s = self.settings(b, module, REALISM_KEYS, &[], true);
        let sigmas = match self.scalar(&s, "noise") {
            None => vec![0.0],
            Some(v) => {
                let obj = self.to_obj(v, Kind::Noise)?;
                obj.params
                    .get("sigma")
                    .and_then(Value::as_list)
                    .map(|l| l.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default()
            }
        };
        let fractions: Vec<f64> = match s.values.get("units").map(|x| x.0.clone()) {
            None => vec![1.0],
            Some(v) => self
                .list_of(&v, &Ty::Fraction, "units")?
                .iter()
                .filter_map(Value::as_f64)
                .collect(),
        };
        if let Some((v, _, _)) = s.values.get("units") {
            if fractions.contains(&0.0) {
                self.err(
                    Diag::error(codes::OUT_OF_RANGE, "a unit fraction of 0 keeps no units")
                        .at(v.span, "here")
                        .help("fractions must be > 0; ceil(ρ·n) keeps at least one unit"),
                );
                return None;
            }
        }
        let mut seeds = Vec::new();
        match s.values.get("seeds").map(|x| x.0.clone()) {
            None => seeds = vec![1; fractions.len()],
            Some(v) => match &v.v {
                Val::Num { .. } => {
                    let n = self.int(&v, 1, 1000)?;
                    seeds = vec![n; fractions.len()];
                }
                Val::Map(entries) => {
                    for f in &fractions {
                        let key = Val::float(*f);
                        let hit = entries
                            .iter()
                            .find(|(k, _)| match &k.v {
                                Val::Num { n, unit } => {
                                    let v = n.f64();
                                    let kv = if unit.as_deref() == Some("%") {
                                        v / 100.0
                                    } else {
                                        v
                                    };
                                    (kv - f).abs() <= 1e-12 * f.abs().max(1e-300)
                                }
                                _ => false,
                            })
                            .or_else(|| entries.iter().find(|(k, _)| k.v == Val::Sym("_".into())));
                        let _ = key;
                        match hit {
                            Some((_, n)) => seeds.push(self.int(n, 1, 1000)?),
                            None => {
                                self.err(
                                    Diag::error(
                                        codes::TABLE_MISSING_KEY,
                                        format!("no seed count for the unit fraction {f}"),
                                    )
                                    .at(v.span, "here")
                                    .help("add an entry for it or a fallback `_: 2`"),
                                );
                                return None;
                            }
                        }
                    }
                }
                o => {
                    return self.type_err_pub(
                        v.span,
                        "a number of seeds, or a table `{fraction: seeds, _: n}`",
                        o,
                    );
                }
            },
        }
        if !self.check_filter_names(&s.filters, module, objects, "study") {
            return None;
        }
        let mut runs = Vec::new();
        let mut cache = HashMap::new();
        for (i, p) in points.iter().enumerate() {
            if s.filters.is_empty() {
                runs.push(i);
                continue;
            }
            let vars = point_vars_cached(p, None, &mut cache);
            let mut keep = true;
            for f in &s.filters {
                match self.eval(f, module, &vars) {
                    Some(SVal {
                        v: Val::Bool(b), ..
                    }) => keep &= b,
                    Some(o) => {
                        self.type_err_pub::<()>(o.span, "a condition", &o.v);
                        return None;
                    }
                    None => return None,
                }
            }
            if keep {
                runs.push(i);
            }
        }
        if runs.is_empty() && !points.is_empty() {
            self.err(
                Diag::error(codes::EMPTY_SWEEP, "the realism grid applies to no run")
                    .at(b.kind.span, "no run matches its `where`"),
            );
            return None;
        }
        Some(ir::Realism {
            sigmas,
            fractions,
            seeds,
            runs,
        })
    }

    fn list_of(&mut self, v: &SVal, item: &Ty, what: &str) -> Option<Vec<Value>> {
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

    // --------------------------------------------------------------------------------------
    // classify

    fn classify(
        &mut self,
        b: &Block,
        module: usize,
        points: &[&ir::Point],
        observe: Option<&ir::Observe>,
        has_realism: bool,
        study_seed: u64,
    ) -> Option<ir::Classify> {
        let s = self.settings(b, module, CLASSIFY_KEYS, &["trajectory"], false);
        let mut ok = true;
        // targets
        let mut targets = Vec::new();
        let mut target_spans = Vec::new();
        match s.values.get("targets").map(|x| x.0.clone()) {
            None => {
                targets.push(ir::Target::All {
                    factor: "rule".into(),
                });
                target_spans.push(b.kind.span);
            }
            Some(v) => {
                let items = match &v.v {
                    Val::List(l) => l.clone(),
                    _ => vec![v.clone()],
                };
                ok &= self.non_empty(&items, "targets", v.span, "targets = [rule, pairs(rule)]");
                for i in items {
                    match &i.v {
                        Val::Pairs(f) => {
                            targets.push(ir::Target::Pairs { factor: f.clone() });
                            target_spans.push(i.span);
                        }
                        _ => match self.factor_name(&i) {
                            Some(f) => {
                                targets.push(ir::Target::All { factor: f });
                                target_spans.push(i.span);
                            }
                            None => ok = false,
                        },
                    }
                }
            }
        }
        // A target needs two classes.
        for (t, span) in targets.iter().zip(&target_spans) {
            let (ir::Target::All { factor } | ir::Target::Pairs { factor }) = t;
            if points.is_empty() || varies(points, std::slice::from_ref(factor)) {
                continue;
            }
            let value = points[0]
                .factors()
                .get(factor.as_str())
                .cloned()
                .unwrap_or_default();
            self.err(
                Diag::error(
                    codes::TARGET_NOT_VARIED,
                    format!("cannot classify `{factor}`: every run has `{factor}` = `{value}`"),
                )
                .at(*span, "only one class")
                .help(format!(
                    "a target needs at least two values; sweep it (`{factor} in [...]`) or classify a factor the sweeps vary"
                )),
            );
            ok = false;
        }
        // measures
        let measures: Vec<String> = match s.values.get("measures").map(|x| x.0.clone()) {
            None => vec!["all".into()],
            Some(v) => {
                let items = match &v.v {
                    Val::List(l) => l.clone(),
                    _ => vec![v.clone()],
                };
                ok &= self.non_empty(
                    &items,
                    "measures",
                    v.span,
                    "measures in [weight, act, gradavg, all]",
                );
                let mut out = Vec::new();
                for i in items {
                    let name = match &i.v {
                        Val::Sym(x) | Val::Str(x) => x.clone(),
                        o => {
                            self.type_err_pub::<()>(i.span, "a measure subset", o);
                            ok = false;
                            continue;
                        }
                    };
                    match (name.as_str(), registry::measure(&name)) {
                        ("all", _) => out.push("all".to_string()),
                        // Task performance alone (validation accuracy and loss at each
                        // checkpoint): the performance-only baseline (docs/classify.md).
                        ("perf", _) => out.push("perf".to_string()),
                        (_, Some(m)) => out.push(m.to_string()),
                        _ => {
                            self.err(
                                Diag::error(
                                    codes::UNKNOWN_NAME,
                                    format!("unknown measure subset `{name}`"),
                                )
                                .at(i.span, "not a measure")
                                .help(suggest(
                                    &name,
                                    &[
                                        "weight",
                                        "act",
                                        "gradavg",
                                        "all",
                                        "perf",
                                        "activation",
                                        "activity_change",
                                    ],
                                )),
                            );
                            ok = false;
                        }
                    }
                }
                out
            }
        };
        // models
        let mut models = Vec::new();
        match s.values.get("models").map(|x| x.0.clone()) {
            None => {
                for n in ["random_forest", "linear_svm"] {
                    if let Some(o) =
                        self.to_obj(SVal::new(Val::Sym(n.into()), b.kind.span), Kind::Classifier)
                    {
                        models.push(Named {
                            label: o.label.clone(),
                            call: std::sync::Arc::new(Call {
                                name: n.into(),
                                params: o.params,
                            }),
                            origin: Some(b.kind.span),
                        });
                    }
                }
            }
            Some(v) => {
                let items = match &v.v {
                    Val::List(l) => l.clone(),
                    _ => vec![v.clone()],
                };
                ok &= self.non_empty(
                    &items,
                    "models",
                    v.span,
                    "models = [random_forest(), linear_svm()]",
                );
                for i in items {
                    let span = i.span;
                    match self.to_obj(i, Kind::Classifier) {
                        Some(o) => models.push(Named {
                            label: o.label.clone(),
                            call: std::sync::Arc::new(Call {
                                name: o.builtin.name.into(),
                                params: o.params,
                            }),
                            origin: Some(span),
                        }),
                        None => ok = false,
                    }
                }
            }
        }
        let obj_or = |s2: &mut Self, key: &str, default: &str, kind: Kind| -> Option<Call> {
            let v = s2
                .scalar(&s, key)
                .unwrap_or_else(|| SVal::new(Val::Sym(default.into()), b.kind.span));
            s2.to_obj(v, kind).map(|o| Call {
                name: o.builtin.name.into(),
                params: o.params,
            })
        };
        let splits = obj_or(self, "splits", "balanced", Kind::Split);
        let cv = obj_or(self, "cv", "stratified_kfold", Kind::Cv);
        // holdouts
        let mut holdouts = Vec::new();
        if let Some((v, _, _)) = s.values.get("holdout").cloned() {
            let items = match &v.v {
                Val::List(l) => l.clone(),
                _ => vec![v.clone()],
            };
            for i in items {
                let h = match &i.v {
                    Val::Composite(n, fs) => Some(ir::Holdout {
                        name: format!("{n}({})", fs.join(",")),
                        factors: fs.clone(),
                    }),
                    _ => self.factor_name(&i).map(|f| ir::Holdout {
                        name: f.clone(),
                        factors: vec![f],
                    }),
                };
                let Some(h) = h else {
                    ok = false;
                    continue;
                };
                // The holdout must vary in the sweep.
                if !points.is_empty() && !varies(points, &h.factors) {
                    self.err(
                        Diag::error(
                            codes::HOLDOUT_NOT_VARIED,
                            format!(
                                "cannot hold out `{}`: the sweep has only one value of it",
                                h.name
                            ),
                        )
                        .at(i.span, "this factor does not vary")
                        .help(format!(
                            "sweep it (`{} in [...]`) or remove this holdout",
                            h.factors[0]
                        )),
                    );
                    ok = false;
                    continue;
                }
                // Holding out the target factor leaves a test class that is never trained on.
                if let Some(t) = targets.iter().find_map(|t| {
                    let (ir::Target::All { factor } | ir::Target::Pairs { factor }) = t;
                    h.factors.contains(factor).then_some(factor)
                }) {
                    self.err(
                        Diag::warning(
                            codes::HOLDOUT_ON_TARGET,
                            format!("the holdout `{}` holds out the target `{t}` itself", h.name),
                        )
                        .at(i.span, "holds out the target factor")
                        .help(format!(
                            "a held-out `{t}` is a class the classifier never trains on, so these evaluations are skipped for the target `{t}`; hold out a factor that is not a target (e.g. `arch`)"
                        )),
                    );
                }
                holdouts.push(h);
            }
        }
        // trajectory
        let t_min = points
            .iter()
            .map(|p| p.checkpoints.len() as i64)
            .min()
            .unwrap_or(0);
        let mut trajectory = None;
        for n in &s.nested {
            let ts = self.settings(n, module, TRAJECTORY_KEYS, &[], false);
            let periods: Vec<i64> = match self.typed(
                &ts,
                "period",
                Ty::IntList {
                    min: 1,
                    max: 1_000_000,
                },
            ) {
                Some(Value::List(l)) => l.iter().filter_map(Value::as_i64).collect(),
                _ => vec![1],
            };
            let samples: Vec<i64> = match self.typed(
                &ts,
                "samples",
                Ty::IntList {
                    min: 1,
                    max: 1_000_000,
                },
            ) {
                Some(Value::List(l)) => l.iter().filter_map(Value::as_i64).collect(),
                // Written but wrong: already reported.
                _ if ts.written.contains("samples") => {
                    ok = false;
                    vec![]
                }
                _ => {
                    self.err(
                        Diag::error(codes::MISSING_KEY, "`trajectory` needs `samples`")
                            .at(n.kind.span, "here")
                            .help("write `samples in [2, 4, 6]`"),
                    );
                    ok = false;
                    vec![]
                }
            };
            let max_fit = periods
                .iter()
                .map(|p| (t_min - 1) / p + 1)
                .max()
                .unwrap_or(0);
            if let Some(bad) = samples.iter().find(|&&n| n > max_fit) {
                let span = ts.values.get("samples").map_or(n.kind.span, |x| x.1);
                self.err(
                    Diag::error(codes::GRID_CANNOT_FIT, format!("{bad} samples do not fit in {t_min} checkpoints at any of the periods"))
                        .at(span, "too many samples")
                        .help(format!("at most {max_fit} samples fit; record more checkpoints or ask for fewer samples")),
                );
                ok = false;
            }
            trajectory = Some(ir::Trajectory { periods, samples });
        }
        let portions: Vec<String> =
            match self.typed(&s, "portions", Ty::EnumList(registry::PORTIONS)) {
                Some(Value::List(l)) => l
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                _ => vec![],
            };
        for p in &portions {
            let need = if p == "thirds" { 3 } else { 7 };
            if t_min < need {
                let span = s.values.get("portions").map_or(b.kind.span, |x| x.1);
                self.err(
                    Diag::error(
                        codes::GRID_CANNOT_FIT,
                        format!(
                            "`{p}` needs at least {need} checkpoints; the sweep records {t_min}"
                        ),
                    )
                    .at(span, "too few checkpoints"),
                );
                ok = false;
            }
        }
        let boolean = |s2: &mut Self, k: &str, d: bool| match s2.typed(&s, k, Ty::Bool) {
            Some(Value::Bool(x)) => x,
            _ => d,
        };
        let average = boolean(self, "average", false);
        let zscore = boolean(self, "zscore", false);
        let realism = boolean(self, "realism", has_realism);
        if realism && !has_realism {
            let span = s.values.get("realism").map_or(b.kind.span, |x| x.1);
            self.err(
                Diag::error(
                    codes::MISSING_BLOCK,
                    "`realism = true` needs a `realism` block",
                )
                .at(span, "here")
                .help("add `realism { noise = awgn(sigma in [0, 1]) units in [10%, 100%] }`"),
            );
            ok = false;
        }
        // matched: the matched-performance control's tolerance on final validation accuracy.
        let matched = match self.typed(&s, "matched", Ty::Fraction) {
            Some(Value::Float(x)) => Some(x),
            _ => None,
        };
        let seed = match self.typed(&s, "seed", Ty::Seed).and_then(|v| v.as_u64()) {
            Some(x) => x,
            // Defaults to the study's seed, so `study { seed = ... }` moves the splits.
            None => study_seed,
        };
        // PCA grids that cannot fit (method.md §3.2: failed fits are skipped, so some
        // components above the feature count are fine; none fitting is an error).
        if let Some(obs) = observe {
            for m in &models {
                if m.call.name != "linear_svm" {
                    continue;
                }
                let pcas: Vec<Option<i64>> = m
                    .call
                    .get("pca")
                    .and_then(Value::as_list)
                    .map(|l| l.iter().map(Value::as_i64).collect())
                    .unwrap_or_default();
                if pcas.iter().any(Option::is_none) {
                    continue;
                }
                for meas in &measures {
                    let features = if meas == "perf" {
                        // Accuracy and loss at every checkpoint after epoch 0.
                        2 * (t_min - 1).max(0)
                    } else {
                        obs.observables
                            .iter()
                            .filter(|o| meas == "all" || &o.measure == meas)
                            .count() as i64
                            * t_min
                    };
                    if pcas.iter().all(|p| p.is_some_and(|c| c > features)) {
                        self.err(
                            Diag::error(codes::GRID_CANNOT_FIT, format!("no PCA setting of `{}` fits the `{meas}` features ({features} columns)", m.label))
                                .at(m.origin.unwrap_or(b.kind.span), "every `pca` value exceeds the feature count")
                                .help(format!("add `none` or a value ≤ {features} to `pca`")),
                        );
                        ok = false;
                    }
                }
            }
        }
        // analysis_models: names of classifier builtins among `models`.
        let analysis_models = match s.values.get("analysis_models").map(|x| x.0.clone()) {
            None => None,
            Some(v) => {
                let items = match &v.v {
                    Val::List(l) => l.clone(),
                    _ => vec![v.clone()],
                };
                let used: Vec<String> = models.iter().map(|m| m.call.name.clone()).collect();
                let mut out = Vec::new();
                for i in items {
                    let name = match &i.v {
                        Val::Sym(x) | Val::Str(x) => x.clone(),
                        Val::Obj(o) => o.builtin.name.to_string(),
                        o => {
                            self.type_err_pub::<()>(i.span, "a classifier name", o);
                            ok = false;
                            continue;
                        }
                    };
                    if used.contains(&name) {
                        out.push(name);
                    } else {
                        let cands: Vec<&str> = used.iter().map(String::as_str).collect();
                        self.err(
                            Diag::error(
                                codes::UNKNOWN_NAME,
                                format!("`{name}` is not one of this block's `models`"),
                            )
                            .at(i.span, "not in `models`")
                            .help(suggest(&name, &cands)),
                        );
                        ok = false;
                    }
                }
                Some(out)
            }
        };
        if !ok {
            return None;
        }
        Some(ir::Classify {
            analysis_models,
            matched,
            targets,
            measures,
            models,
            splits: splits?,
            cv: cv?,
            holdouts,
            trajectory,
            portions,
            average,
            zscore,
            seed,
            realism,
        })
    }
}

/// The 45 candidate observables of method.md §1.4 (3 functions × 7 statistics for weight and
/// act, 3 for gradavg).
pub fn all_candidates() -> Vec<Observable> {
    let mut out = Vec::new();
    for m in ["weight", "act"] {
        for f in registry::FUNCTIONS {
            for s in registry::STATISTICS {
                out.push(Observable {
                    measure: m.into(),
                    function: (*f).into(),
                    statistic: (*s).into(),
                });
            }
        }
    }
    for f in registry::FUNCTIONS {
        out.push(Observable {
            measure: "gradavg".into(),
            function: (*f).into(),
            statistic: "id".into(),
        });
    }
    out
}

/// Whether the points take at least two values of the factors (the first point against the
/// others: no string is built per point).
fn varies(points: &[&ir::Point], factors: &[String]) -> bool {
    let Some(first) = points.first() else {
        return false;
    };
    points
        .iter()
        .any(|p| factors.iter().any(|f| !same_factor(first, p, f)))
}

fn same_factor(a: &ir::Point, b: &ir::Point, f: &str) -> bool {
    match f {
        "task" => a.task.label == b.task.label,
        "arch" => a.arch.label == b.arch.label,
        "rule" => a.rule.label == b.rule.label,
        "lr" => a.lr == b.lr,
        "batch" => a.batch == b.batch,
        "epochs" => a.epochs == b.epochs,
        "weight_decay" => a.weight_decay == b.weight_decay,
        "model_seed" => a.model_seed == b.model_seed,
        "data_seed" => a.data_seed == b.data_seed,
        _ => true,
    }
}

/// The state of one sweep's expansion.
struct Expansion<'a> {
    axes: &'a [(Vec<Spanned<String>>, Expr, Span)],
    /// Axis values evaluated once (axes that name no earlier axis).
    pre: &'a [Option<Vec<SVal>>],
    module: usize,
    settings: &'a [(Spanned<String>, Expr)],
    /// Setting values evaluated once (settings that name no axis and no setting).
    pre_settings: &'a [Option<SVal>],
    filters: &'a [Expr],
    out: Vec<ir::Point>,
    empty_reported: bool,
    failed: usize,
    /// Points built (before filters), and the most allowed.
    visited: u64,
    limit: u64,
    overflow: bool,
    /// Task, architecture and rule values seen before filtering (for the names of `where`).
    objects: FactorObjects,
    /// The object a filter sees for each shared call (by address; the `Arc` pins it).
    filter_objs: HashMap<usize, (Arc<Call>, SVal)>,
}

/// The distinct task, architecture and rule values of a set of points.
#[derive(Default)]
struct FactorObjects {
    /// Calls already looked at (by address; the `Arc`s pin them so no address is reused).
    seen: HashMap<usize, Arc<Call>>,
    labels: BTreeSet<(&'static str, String)>,
    objs: Vec<(&'static str, Named)>,
}

impl FactorObjects {
    fn add(&mut self, p: &ir::Point) {
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

    fn of(points: &[&ir::Point]) -> Self {
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
                    if let Some(k) = n
                        .call
                        .params
                        .get(a)
                        .and_then(|v| super::eval::value_to_val(v).key())
                    {
                        out.insert(k);
                    }
                }
            }
        }
        out
    }
}

fn factor_kind(factor: &str) -> Option<Kind> {
    match factor {
        "task" => Some(Kind::Task),
        "arch" => Some(Kind::Arch),
        "rule" => Some(Kind::Rule),
        _ => None,
    }
}

/// `factor` or `factor.attr` in a `where`: the factor and its attributes.
fn factor_path(e: &Expr) -> Option<(&str, &[String])> {
    match &e.kind {
        ExprKind::Path { segments } if FACTORS.contains(&segments[0].as_str()) => {
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
    fn check_filter_names(
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
                if FACTORS.contains(&name)
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
        let all: BTreeSet<String> = ["task", "arch", "rule"]
            .iter()
            .flat_map(|f| objects.values(f, None))
            .collect();
        let Some((factor, attrs)) = ctx else {
            if all.contains(name) || known_name(name, None, None) {
                return;
            }
            let mut cands: Vec<&str> = FACTORS.to_vec();
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
                        FACTORS.join(", ")
                    ),
                }),
            );
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
                    format!(
                        "`{name}` is {}, not a value of {what}",
                        super::eval::a(kind)
                    ),
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

/// Variables a `where` filter sees for a point: the factors as values (the objects of shared
/// calls are built once).
fn point_vars_cached(
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

fn number_vars(p: &ir::Point, span: Span) -> Bindings {
    vec![
        ("lr".into(), SVal::new(Val::float(p.lr), span)),
        ("batch".into(), SVal::new(Val::int(p.batch.into()), span)),
        ("epochs".into(), SVal::new(Val::int(p.epochs.into()), span)),
        (
            "weight_decay".into(),
            SVal::new(Val::float(p.weight_decay), span),
        ),
        (
            "model_seed".into(),
            SVal::new(Val::int(p.model_seed.into()), span),
        ),
        (
            "data_seed".into(),
            SVal::new(Val::int(p.data_seed.into()), span),
        ),
    ]
}
