//! The classifier stage at study level (method.md §2–§5): reads a study's feature files and runs
//! table, expands the spec's `classify` block into evaluations, runs them and writes
//! `results/evaluations.json`, `results/eval/<id>.json` and `results/summary.parquet`.
//!
//! - [`to_classify_table`]: the Parquet reader's table → the classifier's [`FeatureTable`].
//! - [`evaluation_specs`]: `ir::Classify` × the study's shape → the list of evaluations (the plan
//!   counts them with the same function, so `lrx plan` and the stage agree).
//! - [`classify_study`]: load, run, write.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::conv1d::{Conv1dParams, Pool};
use super::data::{FeatureTable, MeasureSubset};
use super::error::ClassifyError;
use super::eval::{
    Classifier, EvalConfig, EvalResult, FeatureLayout, SplitScheme, TimeSpec, evaluate, make_splits,
};
use super::forest::MaxFeatures;
use super::grid::ModelSpec;
use super::performance::{
    MatchedCount, PERF_STATS, add_matched_factor, matched_counts, matched_factor,
    matched_filter_factor, perf_table,
};
use super::splits::{FactorFilter, SplitSize, factor_values, portions};
use crate::check::ir;
use crate::features;
use crate::value::Value;

/// Version of the `results/` files.
pub const RESULTS_SCHEMA_VERSION: u32 = 1;

/// Errors of the stage, each naming the file or the setting.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Read(#[from] features::ReadError),
    #[error(
        "no feature files under `{}`: train the study first (`lrx run`) or point at the study directory",
        .0.display()
    )]
    NoFeatures(PathBuf),
    #[error("cannot read `{}`: {message}", .path.display())]
    Study { path: PathBuf, message: String },
    #[error("classify setting `{setting}`: {message}")]
    Setting { setting: String, message: String },
    #[error("holdout `{holdout}` leaks: {message}")]
    Leak { holdout: String, message: String },
    #[error("evaluation `{id}` ({setting}): {source}")]
    Eval {
        id: String,
        /// The spec setting it comes from.
        setting: String,
        #[source]
        source: ClassifyError,
    },
    #[error("{what}: {source}")]
    Table {
        what: String,
        #[source]
        source: ClassifyError,
    },
    #[error("cannot write `{}`: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] features::WriteError),
}

type Result<T> = std::result::Result<T, StageError>;

// ------------------------------------------------------------------------------------------
// Table conversion

/// Converts the reader's table into the classifier's: label = rule, positions from the layer
/// position, factors as strings: `run_id`, `layer`, `layer_position`, `rule`, `status` and every
/// column of `runs.parquet` (a run lacking a factor gets `none`).
pub fn to_classify_table(
    ft: &features::FeatureTable,
) -> std::result::Result<FeatureTable, ClassifyError> {
    let mut factors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    factors.insert("run_id".into(), ft.run_ids.clone());
    factors.insert("layer".into(), ft.layers.clone());
    factors.insert(
        "layer_position".into(),
        ft.positions
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
    );
    factors.insert("rule".into(), ft.rules.clone());
    factors.insert("status".into(), ft.status.clone());
    for (k, v) in &ft.factors {
        factors.entry(k.clone()).or_insert_with(|| {
            v.iter()
                .map(|x| {
                    x.as_ref()
                        .map_or_else(|| "none".into(), ToString::to_string)
                })
                .collect()
        });
    }
    FeatureTable::new(
        ft.observables.clone(),
        ft.x.clone(),
        ft.positions
            .iter()
            .map(|p| p.one_hot_index() as u8)
            .collect(),
        ft.rules.clone(),
        factors,
    )
}

/// Factors that vary within a run (a holdout on them would put one network on both sides).
const PER_EXAMPLE_FACTORS: [&str; 2] = ["layer", "layer_position"];

/// The name of the table factor a holdout uses (a composite gets its own combined factor).
pub fn holdout_factor(h: &ir::Holdout) -> String {
    if h.factors.len() == 1 {
        h.factors[0].clone()
    } else {
        h.name.clone()
    }
}

// ------------------------------------------------------------------------------------------
// The list of evaluations

/// What the evaluation list depends on besides the spec: the values of the factors (for targets
/// and holdouts), the number of checkpoints and the realism conditions.
#[derive(Debug, Clone, Default)]
pub struct StudyShape {
    /// Sorted distinct values of each target factor and of each holdout (keyed by the holdout's
    /// table factor: the factor itself, or the composite's name with values joined by `|`).
    pub values: BTreeMap<String, Vec<String>>,
    /// Checkpoints per example (T).
    pub n_times: usize,
    /// Realism conditions (σ, ρ, seed) present.
    pub realism: Vec<(f64, f64, i64)>,
}

/// `"holdout": {"factor": .., "value": ..}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutRef {
    pub factor: String,
    pub value: String,
}

/// `"trajectory": {"period": .., "samples": ..}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryRef {
    pub period: usize,
    pub samples: usize,
}

/// `"portion": {"name": "thirds", "train": a, "test": b}` (0-based portion indices).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortionRef {
    pub name: String,
    pub train: usize,
    pub test: usize,
}

/// `"realism": {"sigma": .., "fraction": .., "seed": ..}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RealismRef {
    pub sigma: f64,
    pub fraction: f64,
    pub seed: i64,
}

/// One evaluation of the stage (a classifier × setting, all its outer splits).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalSpec {
    pub id: String,
    /// `rule` (all classes of the factor) or `pair:adam-sgdm` (`pair(<factor>):a-b` for a factor
    /// other than `rule`).
    pub target: String,
    /// The factor whose values are the classes.
    pub target_factor: String,
    pub measure: String,
    /// `random_forest` | `linear_svm`.
    pub classifier: String,
    /// The model's label in the spec.
    pub model: String,
    /// `balanced` | `holdout`.
    pub split: String,
    pub holdout: Option<HoldoutRef>,
    pub trajectory: Option<TrajectoryRef>,
    /// `flat` | `trajectory_average`.
    pub layout: String,
    pub portion: Option<PortionRef>,
    pub realism: Option<RealismRef>,
    /// The matched-performance control's tolerance (`classify { matched = … }`).
    pub matched: Option<f64>,
    pub config: EvalConfig,
}

fn measure_subset(m: &str) -> Option<MeasureSubset> {
    Some(match m {
        "weight" => MeasureSubset::Weight,
        "act" => MeasureSubset::Act,
        "gradavg" => MeasureSubset::Grad,
        "all" => MeasureSubset::All,
        "perf" => MeasureSubset::Stats(PERF_STATS.iter().map(|s| s.to_string()).collect()),
        _ => return None,
    })
}

fn list(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::List(l)) => l.clone(),
        Some(x) => vec![x.clone()],
        None => vec![],
    }
}

/// The grid of a `random_forest` or `linear_svm` model (spec order: outer parameter first as
/// in the paper grids: max_features × trees, pca × C). `Err(reason)` for a model this build
/// cannot run.
pub fn model_grid(m: &ir::Named) -> std::result::Result<(Classifier, Vec<ModelSpec>), String> {
    match m.call.name.as_str() {
        "random_forest" => {
            let trees = list(m.call.get("trees"));
            let mfs = list(m.call.get("max_features"));
            let mut g = Vec::new();
            for mf in &mfs {
                let max_features = match mf.as_str() {
                    Some("sqrt") => MaxFeatures::Sqrt,
                    Some("log2") => MaxFeatures::Log2,
                    Some("all") => MaxFeatures::All,
                    _ => return Err(format!("`{}`: unknown max_features {mf:?}", m.label)),
                };
                for t in &trees {
                    let n_trees = t
                        .as_i64()
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| format!("`{}`: bad trees {t:?}", m.label))?;
                    g.push(ModelSpec::RandomForest {
                        n_trees: n_trees as usize,
                        max_features,
                    });
                }
            }
            Ok((Classifier::RandomForest, g))
        }
        "linear_svm" => {
            let cs = list(m.call.get("C"));
            let pcas = list(m.call.get("pca"));
            let pcas = if pcas.is_empty() {
                vec![Value::Str("none".into())]
            } else {
                pcas
            };
            let mut g = Vec::new();
            for p in &pcas {
                let pca_components = match p {
                    Value::Str(s) if s == "none" => None,
                    v => Some(
                        v.as_i64()
                            .filter(|&n| n >= 1)
                            .ok_or_else(|| format!("`{}`: bad pca {v:?}", m.label))?
                            as usize,
                    ),
                };
                for c in &cs {
                    let c = c
                        .as_f64()
                        .filter(|c| *c > 0.0)
                        .ok_or_else(|| format!("`{}`: bad C {c:?}", m.label))?;
                    g.push(ModelSpec::LinearSvm { c, pca_components });
                }
            }
            Ok((Classifier::LinearSvm, g))
        }
        "conv1d" => {
            if !cfg!(feature = "torch") {
                return Err(format!(
                    "`{}`: this lrx was built without libtorch (`--no-default-features`), so the Conv1D evaluations are skipped",
                    m.label
                ));
            }
            let ints = |k: &str| -> std::result::Result<Vec<usize>, String> {
                list(m.call.get(k))
                    .iter()
                    .map(|v| {
                        v.as_i64()
                            .filter(|&n| n >= 1)
                            .map(|n| n as usize)
                            .ok_or_else(|| format!("`{}`: bad {k} {v:?}", m.label))
                    })
                    .collect()
            };
            let floats = |k: &str| -> std::result::Result<Vec<f64>, String> {
                list(m.call.get(k))
                    .iter()
                    .map(|v| {
                        v.as_f64()
                            .filter(|f| *f >= 0.0)
                            .ok_or_else(|| format!("`{}`: bad {k} {v:?}", m.label))
                    })
                    .collect()
            };
            let pools = list(m.call.get("pool"))
                .iter()
                .map(|v| match v.as_str() {
                    Some("none") => Ok(Pool::None),
                    Some("max") => Ok(Pool::Max),
                    Some("mean") => Ok(Pool::Mean),
                    _ => Err(format!("`{}`: unknown pool {v:?}", m.label)),
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let epochs = m
                .call
                .get("epochs")
                .and_then(Value::as_i64)
                .filter(|&n| n >= 1)
                .unwrap_or(400) as usize;
            let (kernels, strides, filters) = (ints("kernel")?, ints("stride")?, ints("filters")?);
            let (wds, lrs, batches) = (floats("weight_decay")?, floats("lr")?, ints("batch")?);
            // The paper's order (method.md §3.3): kernel × stride × filters × pool × wd × lr × batch.
            let mut g = Vec::new();
            for &kernel in &kernels {
                for &stride in &strides {
                    for &f in &filters {
                        for &pool in &pools {
                            for &weight_decay in &wds {
                                for &lr in &lrs {
                                    for &batch in &batches {
                                        g.push(ModelSpec::Conv1d(Conv1dParams {
                                            kernel,
                                            stride,
                                            filters: f,
                                            pool,
                                            weight_decay,
                                            lr,
                                            batch,
                                            epochs,
                                            n_times: 0,
                                        }));
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Ok((Classifier::Conv1d, g))
        }
        other => Err(format!(
            "`{}`: the `{other}` classifier is not known to this build; its evaluations are skipped",
            m.label
        )),
    }
}

/// Replaces every byte outside `[A-Za-z0-9._-]` by `_` (ids are file names).
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Expands a `classify` block over a study's shape: targets × measures × models × split schemes
/// (balanced; each holdout value; each fitting trajectory setting; the trajectory average; each
/// portion pair) plus, for the 4-way targets, each realism condition with balanced splits.
/// Returns the evaluations (ids unique and stable) and notes on what was skipped.
pub fn evaluation_specs(c: &ir::Classify, shape: &StudyShape) -> (Vec<EvalSpec>, Vec<String>) {
    let mut out = Vec::new();
    let notes = visit_evaluations(c, shape, &mut |_, make| out.push(make()));
    // Unique, file-safe ids.
    let mut used = BTreeSet::new();
    for s in &mut out {
        let b = sanitize(&s.id);
        let mut id = b.clone();
        let mut k = 2;
        while !used.insert(id.clone()) {
            id = format!("{b}-{k}");
            k += 1;
        }
        s.id = id;
    }
    (out, notes)
}

/// The number of evaluations [`evaluation_specs`] makes and of the model fits they need
/// ([`fits_of`] summed), counted without building them: `lrx check`/`lrx plan` report these for
/// studies with thousands of evaluations, and building each one's config (grid, time indices,
/// strings) cost a front-end process most of its memory (55 of 67 MB on specs/paper.lrx).
pub fn evaluation_counts(c: &ir::Classify, shape: &StudyShape) -> (usize, usize) {
    let (mut n, mut fits) = (0usize, 0usize);
    visit_evaluations(c, shape, &mut |f, _| {
        n += 1;
        fits = fits.saturating_add(f);
    });
    (n, fits)
}

/// An evaluation as [`visit_evaluations`] hands it on: its model fits and how to build it.
type Emit<'a> = dyn FnMut(usize, &dyn Fn() -> EvalSpec) + 'a;

/// The expansion behind [`evaluation_specs`] and [`evaluation_counts`]: calls `emit` once per
/// evaluation, in order (ids not yet made unique), and returns the notes.
fn visit_evaluations(c: &ir::Classify, shape: &StudyShape, emit: &mut Emit) -> Vec<String> {
    let mut notes = Vec::new();
    let n_splits = c.splits.i64("n").unwrap_or(10).max(1) as usize;
    let test = c.splits.f64("test").unwrap_or(0.25);
    let balanced = SplitScheme::Balanced {
        n_splits,
        n_test: SplitSize::Fraction(test),
        n_train: SplitSize::Fraction(1.0 - test),
        train_filter: vec![],
        test_filter: vec![],
    };
    let cv_folds = c.cv.i64("k").unwrap_or(5).max(2) as usize;
    let seed = c.seed;
    // Models this build can run, with their ids.
    let mut models = Vec::new();
    let mut per_builtin: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &c.models {
        *per_builtin.entry(m.call.name.as_str()).or_default() += 1;
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &c.models {
        let name = m.call.name.as_str();
        let k = seen.entry(name).or_default();
        *k += 1;
        let mid = if per_builtin[name] > 1 {
            format!("{name}-{k}")
        } else {
            name.to_string()
        };
        match model_grid(m) {
            Ok((cl, g)) if !g.is_empty() => models.push((m, cl, g, mid)),
            Ok(_) => notes.push(format!("`{}`: empty grid; skipped", m.label)),
            Err(e) => notes.push(e),
        }
    }
    // Split-scheme variants.
    struct Variant {
        sid: String,
        split: SplitScheme,
        holdout: Option<HoldoutRef>,
        holdout_factors: Vec<String>,
        trajectory: Option<TrajectoryRef>,
        layout: FeatureLayout,
        portion: Option<PortionRef>,
        time: TimeSpec,
        test_time: Option<TimeSpec>,
        permutation_repeats: usize,
    }
    let base = |sid: String, split: SplitScheme| Variant {
        sid,
        split,
        holdout: None,
        holdout_factors: vec![],
        trajectory: None,
        layout: FeatureLayout::Flat,
        portion: None,
        time: TimeSpec::All,
        test_time: None,
        permutation_repeats: 0,
    };
    let mut variants = vec![Variant {
        permutation_repeats: 5,
        ..base("balanced".into(), balanced.clone())
    }];
    for h in &c.holdouts {
        let f = holdout_factor(h);
        for v in shape.values.get(&f).map(Vec::as_slice).unwrap_or(&[]) {
            variants.push(Variant {
                holdout: Some(HoldoutRef {
                    factor: f.clone(),
                    value: v.clone(),
                }),
                holdout_factors: h.factors.clone(),
                ..base(
                    format!("holdout-{}-{v}", h.name),
                    // One split per held-out value (method.md §4: train on ≠ v, test on = v).
                    SplitScheme::Holdout {
                        factor: f.clone(),
                        value: v.clone(),
                        n_splits: 1,
                    },
                )
            });
        }
    }
    if let Some(tr) = &c.trajectory {
        for &p in &tr.periods {
            for &s in &tr.samples {
                let (p, s) = (p.max(1) as usize, s.max(1) as usize);
                if (s - 1) * p + 1 > shape.n_times {
                    notes.push(format!(
                        "trajectory period {p}, {s} samples: does not fit in {} checkpoints; skipped",
                        shape.n_times
                    ));
                    continue;
                }
                variants.push(Variant {
                    trajectory: Some(TrajectoryRef {
                        period: p,
                        samples: s,
                    }),
                    time: TimeSpec::Subsample {
                        stride: p,
                        n: s,
                        seed,
                    },
                    ..base(format!("traj-p{p}-n{s}"), balanced.clone())
                });
            }
        }
    }
    if c.average {
        variants.push(Variant {
            layout: FeatureLayout::TrajectoryAverage,
            ..base("average".into(), balanced.clone())
        });
    }
    for name in &c.portions {
        let n = if name == "thirds" { 3 } else { 7 };
        match portions(shape.n_times, n) {
            Ok(mut parts) => {
                // Cross-portion tests need equal widths: when T does not divide evenly, every
                // portion keeps its first m checkpoints (m = the shortest portion), aligned by
                // position within the window (method.md §4).
                let m = parts.iter().map(Vec::len).min().unwrap_or(0);
                if parts.iter().any(|p| p.len() != m) {
                    notes.push(format!(
                        "portions `{name}`: {} checkpoints do not divide into {n} equal portions; each keeps its first {m}",
                        shape.n_times
                    ));
                    for p in &mut parts {
                        p.truncate(m);
                    }
                }
                for (a, pa) in parts.iter().enumerate() {
                    for (b, pb) in parts.iter().enumerate() {
                        variants.push(Variant {
                            portion: Some(PortionRef {
                                name: name.clone(),
                                train: a,
                                test: b,
                            }),
                            time: TimeSpec::Indices(pa.clone()),
                            test_time: (a != b).then(|| TimeSpec::Indices(pb.clone())),
                            ..base(format!("{name}-{a}-{b}"), balanced.clone())
                        });
                    }
                }
            }
            Err(e) => notes.push(format!("portions `{name}`: {e}; skipped")),
        }
    }
    // Targets: (target string, factor, classes restriction, id part, realism too).
    struct Tgt(String, String, Option<Vec<String>>, String, bool);
    let mut targets: Vec<Tgt> = Vec::new();
    for t in &c.targets {
        match t {
            ir::Target::All { factor } => targets.push(Tgt(
                factor.clone(),
                factor.clone(),
                None,
                factor.clone(),
                true,
            )),
            ir::Target::Pairs { factor } => {
                let vals = shape.values.get(factor).cloned().unwrap_or_default();
                for (i, a) in vals.iter().enumerate() {
                    for b in &vals[i + 1..] {
                        let t = if factor == "rule" {
                            format!("pair:{a}-{b}")
                        } else {
                            format!("pair({factor}):{a}-{b}")
                        };
                        let idp = if factor == "rule" {
                            format!("pair-{a}-{b}")
                        } else {
                            format!("pair-{factor}-{a}-{b}")
                        };
                        targets.push(Tgt(
                            t,
                            factor.clone(),
                            Some(vec![a.clone(), b.clone()]),
                            idp,
                            false,
                        ));
                    }
                }
            }
        }
    }
    for Tgt(target, factor, classes, tid, with_realism) in &targets {
        if let Some(h) = c
            .holdouts
            .iter()
            .find(|h| h.factors.iter().any(|f| f == factor))
        {
            notes.push(format!(
                "target `{target}`: holdout `{}` holds out the target factor itself; its holdout evaluations are skipped",
                h.name
            ));
        }
        for meas in &c.measures {
            let Some(subset) = measure_subset(meas) else {
                notes.push(format!("unknown measure `{meas}`; skipped"));
                continue;
            };
            // The performance-only baseline runs in the main setting and the matched control.
            let is_perf = meas == "perf";
            for (m, cl, grid, mid) in &models {
                let cfg = |v: &Variant| EvalConfig {
                    classifier: *cl,
                    grid: Some(grid.clone()),
                    measure: subset.clone(),
                    layout: v.layout,
                    time: v.time.clone(),
                    test_time: v.test_time.clone(),
                    classes: classes.clone(),
                    split: v.split.clone(),
                    cv_folds,
                    zscore: c.zscore,
                    seed,
                    permutation_repeats: v.permutation_repeats,
                    keep_tree_importances: true,
                };
                // Models outside `analysis_models` run the main setting only.
                let in_analyses = c
                    .analysis_models
                    .as_ref()
                    .is_none_or(|a| a.iter().any(|n| *n == m.call.name));
                for v in &variants {
                    if v.holdout_factors.iter().any(|f| f == factor) {
                        continue;
                    }
                    if !in_analyses && v.sid != "balanced" {
                        continue;
                    }
                    // Pairwise targets are the paper's confusion analysis (Fig. S1): main
                    // setting only.
                    if (classes.is_some() || is_perf) && v.sid != "balanced" {
                        continue;
                    }
                    let n_fits = fits(split_count(&v.split), grid.len(), cv_folds);
                    emit(n_fits, &|| EvalSpec {
                        id: format!("{tid}.{meas}.{mid}.{}", v.sid),
                        target: target.clone(),
                        target_factor: factor.clone(),
                        measure: meas.clone(),
                        classifier: m.call.name.clone(),
                        model: m.label.clone(),
                        split: if v.holdout.is_some() {
                            "holdout".into()
                        } else {
                            "balanced".into()
                        },
                        holdout: v.holdout.clone(),
                        trajectory: v.trajectory,
                        layout: match v.layout {
                            FeatureLayout::Flat => "flat".into(),
                            FeatureLayout::TrajectoryAverage => "trajectory_average".into(),
                        },
                        portion: v.portion.clone(),
                        realism: None,
                        matched: None,
                        config: cfg(v),
                    });
                }
                // The balanced, flat, whole-trajectory evaluations beside the variants: the
                // matched control and the realism conditions.
                let balanced_flat =
                    |sid: String,
                     realism: Option<RealismRef>,
                     matched: Option<f64>,
                     config: EvalConfig| EvalSpec {
                        id: format!("{tid}.{meas}.{mid}.{sid}"),
                        target: target.clone(),
                        target_factor: factor.clone(),
                        measure: meas.clone(),
                        classifier: m.call.name.clone(),
                        model: m.label.clone(),
                        split: "balanced".into(),
                        holdout: None,
                        trajectory: None,
                        layout: "flat".into(),
                        portion: None,
                        realism,
                        matched,
                        config,
                    };
                if let Some(tol) = c.matched.filter(|_| in_analyses) {
                    let keep = vec![FactorFilter {
                        factor: matched_factor(tid),
                        values: vec!["yes".into()],
                        exclude: false,
                    }];
                    let split = SplitScheme::Balanced {
                        n_splits,
                        n_test: SplitSize::Fraction(test),
                        n_train: SplitSize::Fraction(1.0 - test),
                        train_filter: keep.clone(),
                        test_filter: keep,
                    };
                    let n_fits = fits(n_splits, grid.len(), cv_folds);
                    emit(n_fits, &|| {
                        balanced_flat(
                            "matched".into(),
                            None,
                            Some(tol),
                            cfg(&base("matched".into(), split.clone())),
                        )
                    });
                }
                if *with_realism && c.realism && in_analyses && !is_perf {
                    for &(sigma, fraction, rseed) in &shape.realism {
                        let n_fits = fits(n_splits, grid.len(), cv_folds);
                        emit(n_fits, &|| {
                            balanced_flat(
                                format!("realism-s{sigma}-f{fraction}-r{rseed}"),
                                Some(RealismRef {
                                    sigma,
                                    fraction,
                                    seed: rseed,
                                }),
                                None,
                                cfg(&base(String::new(), balanced.clone())),
                            )
                        });
                    }
                }
            }
        }
    }
    notes
}

/// Model fits of an evaluation: per outer split, the grid × CV folds (skipped for a single grid
/// point) plus the refit.
pub fn fits_of(spec: &EvalSpec) -> usize {
    let g = spec.config.grid.as_ref().map_or(1, Vec::len);
    fits(split_count(&spec.config.split), g, spec.config.cv_folds)
}

fn split_count(split: &SplitScheme) -> usize {
    match split {
        SplitScheme::Balanced { n_splits, .. } | SplitScheme::Holdout { n_splits, .. } => *n_splits,
    }
}

/// Fits of `n_splits` outer splits with a grid of `g` points and `cv_folds` inner folds.
fn fits(n_splits: usize, g: usize, cv_folds: usize) -> usize {
    // Saturating: `balanced(n = ...)` may be any count the schema allows.
    let cv = if g > 1 { g.saturating_mul(cv_folds) } else { 0 };
    n_splits.saturating_mul(cv.saturating_add(1))
}

// ------------------------------------------------------------------------------------------
// Running

/// Progress of [`classify_study`].
#[derive(Debug, Clone, PartialEq)]
pub enum StageEvent {
    /// The plain features are loaded.
    Loaded {
        examples: usize,
        checkpoints: usize,
        observables: usize,
        evaluations: usize,
    },
    /// Something of the spec is not evaluated (with why).
    Note(String),
    /// One evaluation finished (`done` of `total`, in completion order).
    Finished {
        done: usize,
        total: usize,
        id: String,
        accuracy: f64,
    },
    /// A results file was written.
    Wrote(PathBuf),
}

/// Provenance recorded in `evaluations.json`.
#[derive(Debug, Clone, Default)]
pub struct StageOptions {
    pub study: String,
    pub spec_hash: String,
    /// More study directories whose features join the study's own (e.g. another lab's runs of
    /// the same design); results are written under the study directory only.
    pub extra_dirs: Vec<PathBuf>,
}

/// The accuracy of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub mean: f64,
    pub sem: f64,
}

/// One entry of `results/evaluations.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub target: String,
    pub classes: Vec<String>,
    pub measure: String,
    pub classifier: String,
    pub model: String,
    pub split: String,
    pub holdout: Option<HoldoutRef>,
    pub trajectory: Option<TrajectoryRef>,
    pub layout: String,
    pub portion: Option<PortionRef>,
    pub realism: Option<RealismRef>,
    /// The matched-performance control: its tolerance and what survived per class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<MatchedInfo>,
    pub accuracy: Accuracy,
    /// Trace/total of the split-averaged confusion matrix.
    pub mean_accuracy: f64,
    pub chance: f64,
    pub n_splits: usize,
    pub n_train: usize,
    pub n_test: usize,
    pub dropped_stats: Vec<String>,
    pub result_file: String,
}

/// `"matched": {"tolerance": 0.02, "per_class": {"sgdm": {"runs": 3, "runs_total": 4,
/// "examples": 12}, …}}`: runs of each class kept by the matched-performance control, of those
/// in the table, and their examples (network × layer; one per run for `perf`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchedInfo {
    pub tolerance: f64,
    pub per_class: BTreeMap<String, MatchedCount>,
}

/// `results/evaluations.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluations {
    pub schema_version: u32,
    pub study: String,
    pub spec_hash: String,
    /// `"<measure>:<statistic>"` for every statistic dropped by the non-finite rule.
    pub dropped_stats: Vec<String>,
    pub notes: Vec<String>,
    pub evaluations: Vec<Entry>,
}

/// What [`classify_study`] did.
#[derive(Debug, Clone)]
pub struct StageOutcome {
    pub results_dir: PathBuf,
    pub evaluations: Evaluations,
    pub files: Vec<PathBuf>,
}

/// Reads `<dir>/study.json` (written by `lrx run`), if present.
pub fn read_study_json(dir: &Path) -> Result<ir::Study> {
    let path = dir.join("study.json");
    let text = std::fs::read_to_string(&path).map_err(|e| StageError::Study {
        path: path.clone(),
        message: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| StageError::Study {
        path,
        message: e.to_string(),
    })
}

/// Runs the classifier stage of a study directory (provenance from `<dir>/study.json` when it
/// exists, else the directory name). See [`classify_study_with`].
pub fn classify_study(
    study_dir: &Path,
    classify: &ir::Classify,
    on_event: &mut dyn FnMut(StageEvent),
) -> Result<StageOutcome> {
    let opts = match read_study_json(study_dir) {
        Ok(s) => StageOptions {
            study: s.name,
            spec_hash: s.spec_hash,
            extra_dirs: vec![],
        },
        Err(_) => StageOptions {
            study: study_dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            spec_hash: String::new(),
            extra_dirs: vec![],
        },
    };
    classify_study_with(study_dir, classify, &opts, on_event)
}

/// Distinct realism conditions (σ, ρ, seed ≠ −1) in a study's feature files, sorted.
pub fn realism_conditions(study_dir: &Path) -> Result<Vec<(f64, f64, i64)>> {
    use arrow_array::{Float64Array, Int64Array};
    let mut set: BTreeSet<(u64, u64, i64)> = BTreeSet::new();
    for path in features::reader::feature_files(study_dir)? {
        let (batches, _) = features::reader::read_parquet(&path)?;
        for b in &batches {
            let col = |n: &str| b.column_by_name(n).cloned();
            let (Some(s), Some(f), Some(k)) = (
                col("noise_sigma"),
                col("unit_fraction"),
                col("realism_seed"),
            ) else {
                continue;
            };
            let (Some(s), Some(f), Some(k)) = (
                s.as_any().downcast_ref::<Float64Array>(),
                f.as_any().downcast_ref::<Float64Array>(),
                k.as_any().downcast_ref::<Int64Array>(),
            ) else {
                continue;
            };
            for i in 0..b.num_rows() {
                if k.value(i) != features::schema::PLAIN_SEED {
                    set.insert((s.value(i).to_bits(), f.value(i).to_bits(), k.value(i)));
                }
            }
        }
    }
    let mut v: Vec<(f64, f64, i64)> = set
        .into_iter()
        .map(|(s, f, k)| (f64::from_bits(s), f64::from_bits(f), k))
        .collect();
    v.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(b.1.total_cmp(&a.1))
            .then(a.2.cmp(&b.2))
    });
    Ok(v)
}

/// Adds the composite holdout factors and checks that every holdout is a run-level factor of
/// the table (one value per run) and not a layer-level one.
fn prepare_holdouts(table: &mut FeatureTable, c: &ir::Classify) -> Result<()> {
    for h in &c.holdouts {
        for f in &h.factors {
            if PER_EXAMPLE_FACTORS.contains(&f.as_str()) {
                return Err(StageError::Leak {
                    holdout: h.name.clone(),
                    message: format!(
                        "`{f}` varies within a run, so one network's layers would be on both sides of the split"
                    ),
                });
            }
            if !table.factors.contains_key(f) {
                return Err(StageError::Setting {
                    setting: format!("holdout {}", h.name),
                    message: format!(
                        "factor `{f}` is not a column of runs.parquet (have: {})",
                        table.factors.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
        let name = holdout_factor(h);
        if h.factors.len() > 1 && !table.factors.contains_key(&name) {
            let parts: Vec<&str> = h.factors.iter().map(String::as_str).collect();
            table
                .add_combined_factor(&name, &parts)
                .map_err(|e| StageError::Setting {
                    setting: format!("holdout {}", h.name),
                    message: e.to_string(),
                })?;
        }
        // One value per run.
        let runs = table.factors["run_id"].clone();
        let vals = &table.factors[&name];
        let mut of_run: BTreeMap<&String, &String> = BTreeMap::new();
        for (r, v) in runs.iter().zip(vals) {
            if let Some(prev) = of_run.insert(r, v) {
                if prev != v {
                    return Err(StageError::Leak {
                        holdout: h.name.clone(),
                        message: format!(
                            "run `{r}` has examples with values `{prev}` and `{v}`, so it would be on both sides"
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

/// The setting of the spec an evaluation comes from (for error messages).
fn setting_of(spec: &EvalSpec) -> String {
    let setting = match (&spec.holdout, &spec.realism, &spec.config.split) {
        (Some(h), _, _) => format!("classify `holdout` {} = {}", h.factor, h.value),
        (_, Some(r), SplitScheme::Balanced { n_splits, .. }) => format!(
            "realism σ = {}, ρ = {}, seed {}: classify `splits` ({n_splits} balanced splits)",
            r.sigma, r.fraction, r.seed
        ),
        (
            _,
            _,
            SplitScheme::Balanced {
                n_splits, n_test, ..
            },
        ) => {
            let test = match n_test {
                SplitSize::Fraction(f) => format!("{}%", f * 100.0),
                SplitSize::Count(n) => n.to_string(),
            };
            format!("classify `splits` = balanced({n_splits}, test = {test})")
        }
        _ => "classify".to_string(),
    };
    format!("{setting}, target `{}`", spec.target)
}

/// Checks an evaluation's outer splits before fitting: they exist (enough examples per class)
/// and, for a holdout, no run is on both sides and the held-out value is never trained on.
fn precheck(table: &FeatureTable, spec: &EvalSpec) -> Result<()> {
    let err = |source: ClassifyError| StageError::Eval {
        id: spec.id.clone(),
        setting: setting_of(spec),
        source,
    };
    let restricted;
    let t = match &spec.config.classes {
        Some(c) => {
            restricted = table.restrict_classes(c).map_err(err)?;
            &restricted
        }
        None => table,
    };
    let classes = t.classes();
    if classes.len() < 2 {
        return Err(err(ClassifyError::InvalidTable(format!(
            "need at least two classes of `{}`, found {classes:?}",
            spec.target_factor
        ))));
    }
    let y = t.class_indices(&classes).map_err(err)?;
    let splits = make_splits(t, &y, &classes, &spec.config.split, spec.config.seed).map_err(err)?;
    // Balanced splits sample (network, layer) examples, so a network's layers may be on both
    // sides (method.md §3.1); a holdout must keep whole networks apart.
    let Some(h) = &spec.holdout else {
        return Ok(());
    };
    let runs = t.factor("run_id").map_err(err)?;
    for sp in &splits {
        let train: BTreeSet<&String> = sp.train.iter().map(|&i| &runs[i]).collect();
        if let Some(r) = sp
            .test
            .iter()
            .map(|&i| &runs[i])
            .find(|r| train.contains(r))
        {
            return Err(StageError::Leak {
                holdout: h.factor.clone(),
                message: format!("run `{r}` is on both sides of the split of `{}`", spec.id),
            });
        }
        {
            let f = t.factor(&h.factor).map_err(err)?;
            if sp.train.iter().any(|&i| f[i] == h.value) || sp.test.iter().any(|&i| f[i] != h.value)
            {
                return Err(StageError::Leak {
                    holdout: h.factor.clone(),
                    message: format!("value `{}` is not confined to the test side", h.value),
                });
            }
        }
    }
    Ok(())
}

/// The matched control's counts per class for an evaluation on its table (empty for others).
fn spec_matched_counts(t: &FeatureTable, s: &EvalSpec) -> Result<BTreeMap<String, MatchedCount>> {
    let Some(name) = matched_filter_factor(s) else {
        return Ok(BTreeMap::new());
    };
    matched_counts(t, &name, s.config.classes.as_deref()).map_err(|source| StageError::Eval {
        id: s.id.clone(),
        setting: setting_of(s),
        source,
    })
}

/// A table with `factor` as the label.
fn relabel(table: &FeatureTable, factor: &str) -> Result<FeatureTable> {
    let mut t = table.clone();
    if factor != "rule" {
        t.label = table
            .factor(factor)
            .map_err(|e| StageError::Setting {
                setting: format!("targets {factor}"),
                message: e.to_string(),
            })?
            .to_vec();
    }
    Ok(t)
}

fn shape_of(table: &FeatureTable, c: &ir::Classify, realism: Vec<(f64, f64, i64)>) -> StudyShape {
    let mut values = BTreeMap::new();
    for t in &c.targets {
        let (ir::Target::All { factor } | ir::Target::Pairs { factor }) = t;
        if let Ok(v) = factor_values(table, factor) {
            values.insert(factor.clone(), v);
        }
    }
    for h in &c.holdouts {
        let f = holdout_factor(h);
        if let Ok(v) = factor_values(table, &f) {
            values.insert(f, v);
        }
    }
    StudyShape {
        values,
        n_times: table.n_times(),
        realism,
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |source| StageError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let r = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.map_err(io)
}

/// SHA-256 of a classifier table's contents (statistics, trajectories, positions, labels,
/// factors): part of the resume key of every evaluation on it.
fn table_digest(t: &FeatureTable) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let field = |h: &mut Sha256, s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    for s in &t.stats {
        field(&mut h, s);
    }
    h.update(
        t.x.shape()
            .iter()
            .flat_map(|d| (*d as u64).to_le_bytes())
            .collect::<Vec<u8>>(),
    );
    for v in t.x.iter() {
        h.update(v.to_bits().to_le_bytes());
    }
    h.update(&t.position);
    for l in &t.label {
        field(&mut h, l);
    }
    for (k, vs) in &t.factors {
        field(&mut h, k);
        for v in vs {
            field(&mut h, v);
        }
    }
    format!("{:x}", h.finalize())
}

/// The resume key of an evaluation: its id, its table's digest and its configuration.
fn cache_key(s: &EvalSpec, table_digest: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(RESULTS_SCHEMA_VERSION.to_le_bytes());
    h.update(s.id.as_bytes());
    h.update([0]);
    h.update(table_digest.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(&s.config).unwrap_or_default());
    format!("{:x}", h.finalize())
}

/// The result of an earlier stage for this evaluation, if its key file matches and its JSON
/// reads back (anything else means: compute it again).
fn read_cached(edir: &Path, id: &str, key: &str) -> Option<EvalResult> {
    let k = std::fs::read_to_string(edir.join(format!("{id}.key"))).ok()?;
    if k.trim() != key {
        return None;
    }
    let text = std::fs::read(edir.join(format!("{id}.json"))).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Writes `eval/<id>.json`, then its key file (a crash in between leaves a stale key that does
/// not match, or no key: either way the evaluation is recomputed).
fn write_cached(edir: &Path, id: &str, key: &str, r: &EvalResult) -> Result<()> {
    let kpath = edir.join(format!("{id}.key"));
    let _ = std::fs::remove_file(&kpath);
    write_atomic(&edir.join(format!("{id}.json")), &to_json(r))?;
    write_atomic(&kpath, format!("{key}\n").as_bytes())
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut s = serde_json::to_vec_pretty(v).unwrap_or_default();
    s.push(b'\n');
    s
}

/// Loads the plain features of `study_dir`, runs every evaluation of `classify` and writes
/// `results/evaluations.json`, `results/eval/<id>.json` and `results/summary.parquet`
/// (each atomically; eval files of ids no longer listed are removed).
pub fn classify_study_with(
    study_dir: &Path,
    classify: &ir::Classify,
    opts: &StageOptions,
    on_event: &mut dyn FnMut(StageEvent),
) -> Result<StageOutcome> {
    let dirs: Vec<&Path> = std::iter::once(study_dir)
        .chain(opts.extra_dirs.iter().map(PathBuf::as_path))
        .collect();
    for d in &dirs {
        if features::reader::feature_files(d)?.is_empty() {
            return Err(StageError::NoFeatures(d.join("features")));
        }
    }
    let ft = features::load_features(&dirs, &features::Condition::Plain, None)?;
    if ft.run_ids.is_empty() {
        return Err(StageError::NoFeatures(study_dir.join("features")));
    }
    let observables = ft.observables.clone();
    let mut plain = to_classify_table(&ft).map_err(|source| StageError::Table {
        what: format!("the feature table of `{}`", study_dir.display()),
        source,
    })?;
    // Task performance: each example's final validation accuracy (the matched control) and the
    // run-level table of the `perf` measure.
    let final_acc: Vec<Option<f64>> = ft
        .performance
        .iter()
        .map(features::RunPerformance::final_val_acc)
        .collect();
    let perf = perf_table(&ft, &plain).map_err(|source| StageError::Table {
        what: "the task-performance table (`perf`)".into(),
        source,
    })?;
    drop(ft);
    prepare_holdouts(&mut plain, classify)?;
    let realism = if classify.realism {
        let mut all = Vec::new();
        for d in &dirs {
            for c in realism_conditions(d)? {
                if !all.contains(&c) {
                    all.push(c);
                }
            }
        }
        all.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then(b.1.total_cmp(&a.1))
                .then(a.2.cmp(&b.2))
        });
        all
    } else {
        vec![]
    };
    let shape = shape_of(&plain, classify, realism.clone());
    let (specs, mut notes) = evaluation_specs(classify, &shape);
    // Without recorded task performance, the `perf` measure and the matched control cannot run.
    let (specs, perf): (Vec<EvalSpec>, Option<(FeatureTable, Vec<usize>)>) = {
        let no_perf = perf.is_none();
        let no_acc = final_acc.iter().all(Option::is_none);
        let (keep, skip): (Vec<EvalSpec>, Vec<EvalSpec>) = specs
            .into_iter()
            .partition(|s| !((s.measure == "perf" && no_perf) || (s.matched.is_some() && no_acc)));
        if !skip.is_empty() {
            notes.push(format!(
                "{} evaluations of the `perf` measure or the matched control skipped: the feature files record no validation accuracy (written before lrx recorded task performance, or no checkpoint after epoch 0 was evaluated)",
                skip.len()
            ));
        }
        (keep, perf)
    };
    on_event(StageEvent::Loaded {
        examples: plain.n_examples(),
        checkpoints: plain.n_times(),
        observables: plain.stats.len(),
        evaluations: specs.len(),
    });
    for n in &notes {
        on_event(StageEvent::Note(n.clone()));
    }
    // Tables: (target factor, realism condition, perf, matched target) → table.
    type TableKey = (String, Option<usize>, bool, Option<String>);
    let mut tables: BTreeMap<TableKey, Arc<FeatureTable>> = BTreeMap::new();
    let mut realism_tables: BTreeMap<usize, FeatureTable> = BTreeMap::new();
    for (ri, &(sigma, fraction, seed)) in realism.iter().enumerate() {
        let cond = features::Condition::Realism {
            sigma,
            fraction,
            seed,
        };
        let rt = features::load_features(&dirs, &cond, Some(observables.as_slice()))?;
        let t = to_classify_table(&rt).map_err(|source| StageError::Table {
            what: format!("the realism condition σ = {sigma}, ρ = {fraction}, seed {seed}"),
            source,
        })?;
        realism_tables.insert(ri, t);
    }
    let mut spec_table = Vec::with_capacity(specs.len());
    for s in &specs {
        let ri = s.realism.map(|r| {
            realism
                .iter()
                .position(|&(a, b, k)| a == r.sigma && b == r.fraction && k == r.seed)
                .unwrap_or(0)
        });
        let is_perf = s.measure == "perf";
        let mfactor = s.matched.and_then(|_| matched_filter_factor(s));
        let key: TableKey = (s.target_factor.clone(), ri, is_perf, mfactor.clone());
        if !tables.contains_key(&key) {
            let (src, rows): (&FeatureTable, Option<&[usize]>) = match (ri, &perf) {
                (Some(i), _) => (&realism_tables[&i], None),
                (None, Some((p, rows))) if is_perf => (p, Some(rows.as_slice())),
                _ => (&plain, None),
            };
            let mut t = relabel(src, &s.target_factor)?;
            if let (Some(name), Some(tol)) = (&mfactor, s.matched) {
                let acc: Vec<Option<f64>> = match rows {
                    Some(r) => r.iter().map(|&i| final_acc[i]).collect(),
                    None => final_acc.clone(),
                };
                add_matched_factor(&mut t, name, s.config.classes.as_deref(), &acc, tol).map_err(
                    |source| StageError::Eval {
                        id: s.id.clone(),
                        setting: setting_of(s),
                        source,
                    },
                )?;
            }
            tables.insert(key.clone(), Arc::new(t));
        }
        spec_table.push(tables[&key].clone());
    }
    drop(realism_tables);
    // Check every split before any fit. A holdout value that leaves a class without test or
    // training examples (e.g. every IA run of that curriculum diverged) cannot be evaluated: it is
    // skipped with a note; leaks and other errors stop the stage.
    let mut kept_specs = Vec::with_capacity(specs.len());
    let mut kept_tables = Vec::with_capacity(specs.len());
    for (s, t) in specs.into_iter().zip(spec_table) {
        match precheck(&t, &s) {
            Ok(()) => {
                kept_specs.push(s);
                kept_tables.push(t);
            }
            // Too few runs of similar accuracy for the matched control's splits.
            Err(StageError::Eval { id, source, .. }) if s.matched.is_some() => {
                let survived = spec_matched_counts(&t, &s)?
                    .iter()
                    .map(|(c, k)| format!("{c} {} of {}", k.runs, k.runs_total))
                    .collect::<Vec<_>>()
                    .join(", ");
                let n = format!(
                    "skipped `{id}` (matched control, tolerance {}): {source}; runs kept per class: {survived}",
                    s.matched.unwrap_or(0.0)
                );
                on_event(StageEvent::Note(n.clone()));
                notes.push(n);
            }
            Err(StageError::Eval {
                id,
                source: source @ ClassifyError::Holdout { .. },
                ..
            }) => {
                let n = format!("skipped `{id}`: {source}");
                on_event(StageEvent::Note(n.clone()));
                notes.push(n);
            }
            Err(e) => return Err(e),
        }
    }
    let (specs, spec_table) = (kept_specs, kept_tables);
    let rdir = study_dir.join("results");
    let edir = rdir.join("eval");
    // Resume: an evaluation whose `eval/<id>.json` was written by an earlier (possibly
    // interrupted) stage for the same configuration and the same feature table is read back
    // instead of refitted. The key covers the id, the table's contents and the configuration.
    let mut digests: BTreeMap<*const FeatureTable, String> = BTreeMap::new();
    let keys: Vec<String> = specs
        .iter()
        .zip(&spec_table)
        .map(|(s, t)| {
            let d = digests
                .entry(Arc::as_ptr(t))
                .or_insert_with(|| table_digest(t))
                .clone();
            cache_key(s, &d)
        })
        .collect();
    let cached: Vec<Option<EvalResult>> = specs
        .iter()
        .zip(&keys)
        .map(|(s, k)| read_cached(&edir, &s.id, k))
        .collect();
    let n_cached = cached.iter().filter(|c| c.is_some()).count();
    if n_cached > 0 {
        on_event(StageEvent::Note(format!(
            "{n_cached} of {} evaluations reused from an earlier run of the stage (results/eval/)",
            specs.len()
        )));
    }
    // Run (in parallel; progress through a channel to the caller's thread). Each result is
    // written as soon as it is computed, so an interrupted stage loses only the evaluations in
    // flight.
    let total = specs.len();
    let (tx, rx) = std::sync::mpsc::channel::<(String, f64)>();
    let results: Vec<std::result::Result<EvalResult, StageError>> = std::thread::scope(|sc| {
        let h = sc.spawn(|| {
            let tx = tx;
            specs
                .par_iter()
                .zip(spec_table.par_iter())
                .zip(cached.into_par_iter().zip(keys.par_iter()))
                .map(|((s, t), (c, key))| {
                    let r = match c {
                        Some(r) => Ok(r),
                        None => evaluate(t, &s.config)
                            .map_err(|source| StageError::Eval {
                                id: s.id.clone(),
                                setting: setting_of(s),
                                source,
                            })
                            .and_then(|mut r| {
                                // Per-tree importances are summarised in
                                // `summary.gini_importance`; the raw [n_trees, groups] arrays
                                // would make the files megabytes each.
                                for sp in &mut r.splits {
                                    sp.tree_group_importances = None;
                                }
                                write_cached(&edir, &s.id, key, &r)?;
                                Ok(r)
                            }),
                    };
                    let acc = r.as_ref().map_or(f64::NAN, |r| r.summary.accuracy.mean);
                    let _ = tx.send((s.id.clone(), acc));
                    r
                })
                .collect()
        });
        for (i, (id, accuracy)) in rx.into_iter().enumerate() {
            on_event(StageEvent::Finished {
                done: i + 1,
                total,
                id,
                accuracy,
            });
        }
        h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    });
    let results = results.into_iter().collect::<Result<Vec<_>>>()?;
    // Write.
    let mut files = Vec::new();
    let mut entries = Vec::with_capacity(total);
    let mut dropped: BTreeSet<String> = BTreeSet::new();
    for ((s, r), t) in specs.iter().zip(results.iter()).zip(&spec_table) {
        for d in &r.dropped_stats {
            dropped.insert(format!("{}:{d}", s.measure));
        }
        let rel = format!("eval/{}.json", s.id);
        files.push(rdir.join(&rel));
        entries.push(Entry {
            id: s.id.clone(),
            target: s.target.clone(),
            classes: r.classes.clone(),
            measure: s.measure.clone(),
            classifier: s.classifier.clone(),
            model: s.model.clone(),
            split: s.split.clone(),
            holdout: s.holdout.clone(),
            trajectory: s.trajectory,
            layout: s.layout.clone(),
            portion: s.portion.clone(),
            realism: s.realism,
            matched: match s.matched {
                Some(tolerance) => Some(MatchedInfo {
                    tolerance,
                    per_class: spec_matched_counts(t, s)?,
                }),
                None => None,
            },
            accuracy: Accuracy {
                mean: r.summary.accuracy.mean,
                sem: r.summary.accuracy.sem,
            },
            mean_accuracy: r.summary.mean_accuracy,
            chance: r.summary.chance,
            n_splits: r.splits.len(),
            n_train: r.splits.first().map_or(0, |x| x.n_train),
            n_test: r.splits.first().map_or(0, |x| x.n_test),
            dropped_stats: r.dropped_stats.clone(),
            result_file: rel,
        });
    }
    // Remove eval files of ids no longer listed.
    let keep: BTreeSet<String> = specs
        .iter()
        .flat_map(|s| [format!("{}.json", s.id), format!("{}.key", s.id)])
        .collect();
    if let Ok(rd) = std::fs::read_dir(&edir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if (n.ends_with(".json") || n.ends_with(".key"))
                && !n.starts_with('.')
                && !keep.contains(&n)
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let evaluations = Evaluations {
        schema_version: RESULTS_SCHEMA_VERSION,
        study: opts.study.clone(),
        spec_hash: opts.spec_hash.clone(),
        dropped_stats: dropped.into_iter().collect(),
        notes,
        evaluations: entries,
    };
    let sp = rdir.join("summary.parquet");
    write_summary_parquet(&sp, &evaluations)?;
    let ej = rdir.join("evaluations.json");
    write_atomic(&ej, &to_json(&evaluations))?;
    on_event(StageEvent::Wrote(ej.clone()));
    on_event(StageEvent::Wrote(sp.clone()));
    files.push(sp);
    files.push(ej);
    Ok(StageOutcome {
        results_dir: rdir,
        evaluations,
        files,
    })
}

/// `results/summary.parquet`: one row per evaluation with the scalar columns of
/// `evaluations.json` (nested objects flattened: `holdout_factor`, `trajectory_period`, …).
pub fn write_summary_parquet(path: &Path, ev: &Evaluations) -> Result<()> {
    use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    let e = &ev.evaluations;
    let s = |f: &dyn Fn(&Entry) -> Option<String>| -> ArrayRef {
        Arc::new(e.iter().map(f).collect::<StringArray>())
    };
    let i = |f: &dyn Fn(&Entry) -> Option<i64>| -> ArrayRef {
        Arc::new(e.iter().map(f).collect::<Int64Array>())
    };
    let x = |f: &dyn Fn(&Entry) -> Option<f64>| -> ArrayRef {
        Arc::new(e.iter().map(f).collect::<Float64Array>())
    };
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("id", s(&|r| Some(r.id.clone()))),
        ("target", s(&|r| Some(r.target.clone()))),
        ("classes", s(&|r| Some(r.classes.join(",")))),
        ("measure", s(&|r| Some(r.measure.clone()))),
        ("classifier", s(&|r| Some(r.classifier.clone()))),
        ("model", s(&|r| Some(r.model.clone()))),
        ("split", s(&|r| Some(r.split.clone()))),
        (
            "holdout_factor",
            s(&|r| r.holdout.as_ref().map(|h| h.factor.clone())),
        ),
        (
            "holdout_value",
            s(&|r| r.holdout.as_ref().map(|h| h.value.clone())),
        ),
        (
            "trajectory_period",
            i(&|r| r.trajectory.map(|t| t.period as i64)),
        ),
        (
            "trajectory_samples",
            i(&|r| r.trajectory.map(|t| t.samples as i64)),
        ),
        ("layout", s(&|r| Some(r.layout.clone()))),
        (
            "portion",
            s(&|r| r.portion.as_ref().map(|p| p.name.clone())),
        ),
        (
            "portion_train",
            i(&|r| r.portion.as_ref().map(|p| p.train as i64)),
        ),
        (
            "portion_test",
            i(&|r| r.portion.as_ref().map(|p| p.test as i64)),
        ),
        ("realism_sigma", x(&|r| r.realism.map(|p| p.sigma))),
        ("realism_fraction", x(&|r| r.realism.map(|p| p.fraction))),
        ("realism_seed", i(&|r| r.realism.map(|p| p.seed))),
        (
            "matched_tolerance",
            x(&|r| r.matched.as_ref().map(|m| m.tolerance)),
        ),
        ("accuracy_mean", x(&|r| Some(r.accuracy.mean))),
        ("accuracy_sem", x(&|r| Some(r.accuracy.sem))),
        ("mean_accuracy", x(&|r| Some(r.mean_accuracy))),
        ("chance", x(&|r| Some(r.chance))),
        ("n_splits", i(&|r| Some(r.n_splits as i64))),
        ("n_train", i(&|r| Some(r.n_train as i64))),
        ("n_test", i(&|r| Some(r.n_test as i64))),
        ("result_file", s(&|r| Some(r.result_file.clone()))),
    ];
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, a)| {
            let nullable = a.null_count() > 0
                || matches!(
                    *n,
                    "holdout_factor"
                        | "holdout_value"
                        | "trajectory_period"
                        | "trajectory_samples"
                        | "portion"
                        | "portion_train"
                        | "portion_test"
                        | "realism_sigma"
                        | "realism_fraction"
                        | "realism_seed"
                        | "matched_tolerance"
                );
            let dt: DataType = a.data_type().clone();
            Field::new(*n, dt, nullable)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), cols.into_iter().map(|(_, a)| a).collect())
        .map_err(|e| StageError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let kv = vec![
        parquet::file::metadata::KeyValue::new(
            "schema_version".into(),
            RESULTS_SCHEMA_VERSION.to_string(),
        ),
        parquet::file::metadata::KeyValue::new("table".into(), "classify_summary".to_string()),
        parquet::file::metadata::KeyValue::new("study".into(), ev.study.clone()),
        parquet::file::metadata::KeyValue::new("spec_hash".into(), ev.spec_hash.clone()),
        parquet::file::metadata::KeyValue::new(
            "lrx_version".into(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ];
    features::writer::write_parquet_atomic(path, schema, &[batch], kv)?;
    Ok(())
}

#[cfg(test)]
#[path = "stage_tests.rs"]
mod tests;
