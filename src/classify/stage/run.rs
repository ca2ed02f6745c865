//! Running the stage: loads a study's feature tables, expands the `classify` block
//! ([`super::expand`]), checks every evaluation's splits, runs them (reusing cached results,
//! [`super::cache`]) and writes `results/` ([`super::results`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use super::cache::{self, write_atomic, write_cached};
use super::expand::{EvalSpec, StudyShape, evaluation_specs, holdout_factor};
use super::results::{
    Accuracy, Entry, Evaluations, MatchedInfo, RESULTS_SCHEMA_VERSION, StageOutcome, to_json,
    write_summary_parquet,
};
use super::{Result, StageError};
use crate::classify::data::FeatureTable;
use crate::classify::error::ClassifyError;
use crate::classify::eval::{EvalResult, SplitScheme, evaluate, make_splits};
use crate::classify::performance::{
    MatchedCount, add_matched_factor, matched_counts, matched_filter_factor, perf_table,
};
use crate::classify::splits::{SplitSize, factor_values};
use crate::features;
use crate::ir::{self, RealismCondition};

// ------------------------------------------------------------------------------------------
// Table conversion

/// Converts the reader's table into the classifier's: label = rule, positions from the layer
/// position, factors as strings: `run_id`, `layer`, `layer_position`, `rule`, `status` and every
/// column of `runs.parquet` (a run lacking a factor gets `none`).
pub(crate) fn to_classify_table(
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

// ------------------------------------------------------------------------------------------
// Running

/// Progress of [`classify_study_with`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StageEvent {
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
pub(crate) struct StageOptions {
    pub study: String,
    pub spec_hash: String,
    /// More study directories whose features join the study's own (e.g. another lab's runs of
    /// the same design); results are written under the study directory only.
    pub extra_dirs: Vec<PathBuf>,
    /// Save the classifiers of the saveable evaluations under `results/models/`
    /// ([`super::save`]).
    pub save_models: bool,
}

/// Reads `<dir>/study.json` (written by `lrx run`), if present.
pub(crate) fn read_study_json(dir: &Path) -> Result<ir::Study> {
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

/// Distinct realism conditions (σ, ρ, seed ≠ −1, measurement model) in a study's feature
/// files, sorted: Gaussian conditions first (grid order), then each model's.
pub fn realism_conditions(study_dir: &Path) -> Result<Vec<RealismCondition>> {
    use arrow_array::{Float64Array, Int64Array, StringArray};
    let mut set: BTreeSet<(u64, u64, u64, String)> = BTreeSet::new();
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
            let m = col("measurement");
            let m = m
                .as_ref()
                .and_then(|m| m.as_any().downcast_ref::<StringArray>());
            for i in 0..b.num_rows() {
                // −1 marks the plain observables; seeds are never otherwise negative.
                if let Ok(seed) = u64::try_from(k.value(i)) {
                    let model = m.map_or("awgn", |m| m.value(i)).to_string();
                    set.insert((s.value(i).to_bits(), f.value(i).to_bits(), seed, model));
                }
            }
        }
    }
    let mut v: Vec<RealismCondition> = set
        .into_iter()
        .filter_map(|(s, f, seed, model)| {
            Some(RealismCondition {
                sigma: f64::from_bits(s),
                fraction: f64::from_bits(f),
                seed,
                // A text no model parses is no condition this version can evaluate.
                model: ir::Measurement::parse(&model)?,
            })
        })
        .collect();
    v.sort_by(grid_order);
    Ok(v)
}

/// Adds the composite holdout factors and checks that every holdout is a run-level factor of
/// the table (one value per run). A layer-level factor (`layer`, `layer_position`) cannot be
/// held out at all: it is no [`ir::Factor`].
pub(super) fn prepare_holdouts(table: &mut FeatureTable, c: &ir::Classify) -> Result<()> {
    for h in &c.holdouts {
        for f in &h.factors {
            if !table.factors.contains_key(f.name()) {
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
            let parts: Vec<&str> = h.factors.iter().map(|f| f.name()).collect();
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

fn shape_of(table: &FeatureTable, c: &ir::Classify, realism: Vec<RealismCondition>) -> StudyShape {
    let mut values = BTreeMap::new();
    for t in &c.targets {
        let (ir::Target::All { factor } | ir::Target::Pairs { factor }) = t;
        if let Ok(v) = factor_values(table, factor.name()) {
            values.insert(factor.name().to_string(), v);
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

/// The plain features of a study, converted, with what the `perf` measure and the matched
/// control need.
struct Plain {
    table: FeatureTable,
    observables: Vec<String>,
    /// The checkpoints' epochs (saved classifiers record them).
    epochs: Vec<i64>,
    /// Each example's final validation accuracy (the matched control).
    final_acc: Vec<Option<f64>>,
    /// The run-level table of the `perf` measure and, per row, its example in `table`.
    perf: Option<(FeatureTable, Vec<usize>)>,
}

/// Loads the plain features of `dirs` (the study's own first).
fn load_plain(dirs: &[&Path], study_dir: &Path) -> Result<Plain> {
    for d in dirs {
        if features::reader::feature_files(d)?.is_empty() {
            return Err(StageError::NoFeatures(d.join("features")));
        }
    }
    let ft = features::load_features(dirs, &features::Condition::Plain, None)?;
    if ft.run_ids.is_empty() {
        return Err(StageError::NoFeatures(study_dir.join("features")));
    }
    let observables = ft.observables.clone();
    let table = to_classify_table(&ft).map_err(|source| StageError::Table {
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
    let perf = perf_table(&ft, &table).map_err(|source| StageError::Table {
        what: "the task-performance table (`perf`)".into(),
        source,
    })?;
    Ok(Plain {
        table,
        observables,
        epochs: ft.epochs.clone(),
        final_acc,
        perf,
    })
}

/// The realism conditions of all `dirs` (none unless the block asks for realism), sorted.
fn all_realism_conditions(
    dirs: &[&Path],
    classify: &ir::Classify,
) -> Result<Vec<RealismCondition>> {
    if !classify.realism {
        return Ok(vec![]);
    }
    let mut all = Vec::new();
    for d in dirs {
        for c in realism_conditions(d)? {
            if !all.contains(&c) {
                all.push(c);
            }
        }
    }
    all.sort_by(grid_order);
    Ok(all)
}

/// The order realism conditions are listed in: Gaussian conditions first, then by model text;
/// within one model σ ascending, then ρ descending, then seed.
fn grid_order(a: &RealismCondition, b: &RealismCondition) -> std::cmp::Ordering {
    let model = |c: &RealismCondition| (!c.model.is_awgn(), c.model.canonical());
    model(a)
        .cmp(&model(b))
        .then(a.sigma.total_cmp(&b.sigma))
        .then(b.fraction.total_cmp(&a.fraction))
        .then(a.seed.cmp(&b.seed))
}

/// Without recorded task performance, the `perf` measure and the matched control cannot run:
/// their evaluations are dropped with a note.
fn drop_without_perf(
    specs: Vec<EvalSpec>,
    plain: &Plain,
    notes: &mut Vec<String>,
) -> Vec<EvalSpec> {
    let no_perf = plain.perf.is_none();
    let no_acc = plain.final_acc.iter().all(Option::is_none);
    let (keep, skip): (Vec<EvalSpec>, Vec<EvalSpec>) = specs
        .into_iter()
        .partition(|s| !((s.measure == "perf" && no_perf) || (s.matched.is_some() && no_acc)));
    if !skip.is_empty() {
        notes.push(format!(
            "{} evaluations of the `perf` measure or the matched control skipped: the feature files record no validation accuracy (written before lrx recorded task performance, or no checkpoint after epoch 0 was evaluated)",
            skip.len()
        ));
    }
    keep
}

/// Loads the classifier table of each realism condition.
fn load_realism_tables(
    dirs: &[&Path],
    realism: &[RealismCondition],
    observables: &[String],
) -> Result<BTreeMap<usize, FeatureTable>> {
    let mut realism_tables = BTreeMap::new();
    for (ri, &c) in realism.iter().enumerate() {
        let RealismCondition {
            sigma,
            fraction,
            seed,
            ..
        } = c;
        let cond = features::Condition::Realism(c);
        let rt = features::load_features(dirs, &cond, Some(observables))?;
        let t = to_classify_table(&rt).map_err(|source| StageError::Table {
            what: format!("the realism condition σ = {sigma}, ρ = {fraction}, seed {seed}"),
            source,
        })?;
        realism_tables.insert(ri, t);
    }
    Ok(realism_tables)
}

/// The table of each evaluation, shared between evaluations of the same (target factor,
/// realism condition, perf, matched target).
fn spec_tables(
    specs: &[EvalSpec],
    plain: &Plain,
    realism: &[RealismCondition],
    realism_tables: &BTreeMap<usize, FeatureTable>,
) -> Result<Vec<Arc<FeatureTable>>> {
    type TableKey = (String, Option<usize>, bool, Option<String>);
    let mut tables: BTreeMap<TableKey, Arc<FeatureTable>> = BTreeMap::new();
    let mut spec_table = Vec::with_capacity(specs.len());
    for s in specs {
        let ri = s
            .realism
            .map(|r| realism.iter().position(|&c| c == r).unwrap_or(0));
        let is_perf = s.measure == "perf";
        let mfactor = s.matched.and_then(|_| matched_filter_factor(s));
        let key: TableKey = (s.target_factor.clone(), ri, is_perf, mfactor.clone());
        if !tables.contains_key(&key) {
            let (src, rows): (&FeatureTable, Option<&[usize]>) = match (ri, &plain.perf) {
                (Some(i), _) => (&realism_tables[&i], None),
                (None, Some((p, rows))) if is_perf => (p, Some(rows.as_slice())),
                _ => (&plain.table, None),
            };
            let mut t = relabel(src, &s.target_factor)?;
            if let (Some(name), Some(tol)) = (&mfactor, s.matched) {
                let acc: Vec<Option<f64>> = match rows {
                    Some(r) => r.iter().map(|&i| plain.final_acc[i]).collect(),
                    None => plain.final_acc.clone(),
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
    Ok(spec_table)
}

/// Checks every split before any fit. A holdout value that leaves a class without test or
/// training examples (e.g. every IA run of that curriculum diverged) cannot be evaluated: it is
/// skipped with a note, as is a matched control with too few runs of similar accuracy; leaks
/// and other errors stop the stage.
fn precheck_all(
    specs: Vec<EvalSpec>,
    spec_table: Vec<Arc<FeatureTable>>,
    notes: &mut Vec<String>,
    on_event: &mut dyn FnMut(StageEvent),
) -> Result<(Vec<EvalSpec>, Vec<Arc<FeatureTable>>)> {
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
    Ok((kept_specs, kept_tables))
}

/// Evaluates one spec on its table (or takes its cached result) and, when computed, writes
/// `eval/<id>.json` and its key.
fn run_one(
    s: &EvalSpec,
    t: &FeatureTable,
    cached: Option<EvalResult>,
    key: &str,
    edir: &Path,
) -> Result<EvalResult> {
    match cached {
        Some(r) => Ok(r),
        None => evaluate(t, &s.config)
            .map_err(|source| StageError::Eval {
                id: s.id.clone(),
                setting: setting_of(s),
                source,
            })
            .and_then(|mut r| {
                // Per-tree importances are summarised in `summary.gini_importance`; the raw
                // [n_trees, groups] arrays would make the files megabytes each.
                for sp in &mut r.splits {
                    sp.tree_group_importances = None;
                }
                write_cached(edir, &s.id, key, &r)?;
                Ok(r)
            }),
    }
}

/// Runs every evaluation (in parallel; progress through a channel to the caller's thread). Each
/// result is written as soon as it is computed, so an interrupted stage loses only the
/// evaluations in flight.
fn run_all(
    specs: &[EvalSpec],
    spec_table: &[Arc<FeatureTable>],
    cached: Vec<Option<EvalResult>>,
    keys: &[String],
    edir: &Path,
    on_event: &mut dyn FnMut(StageEvent),
) -> Result<Vec<EvalResult>> {
    let total = specs.len();
    let (tx, rx) = std::sync::mpsc::channel::<(String, f64)>();
    let results: Vec<Result<EvalResult>> = std::thread::scope(|sc| {
        let h = sc.spawn(|| {
            let tx = tx;
            specs
                .par_iter()
                .zip(spec_table.par_iter())
                .zip(cached.into_par_iter().zip(keys.par_iter()))
                .map(|((s, t), (c, key))| {
                    let r = run_one(s, t, c, key, edir);
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
    results.into_iter().collect()
}

/// The `evaluations.json` entry of an evaluation and its result.
fn entry_of(s: &EvalSpec, r: &EvalResult, t: &FeatureTable, rel: String) -> Result<Entry> {
    Ok(Entry {
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
    })
}

/// Removes eval files (`<id>.json`, `<id>.key`) of ids no longer listed.
fn remove_stale(edir: &Path, specs: &[EvalSpec]) {
    let keep: BTreeSet<String> = specs
        .iter()
        .flat_map(|s| [format!("{}.json", s.id), format!("{}.key", s.id)])
        .collect();
    if let Ok(rd) = std::fs::read_dir(edir) {
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
}

/// Loads the plain features of `study_dir`, runs every evaluation of `classify` and writes
/// `results/evaluations.json`, `results/eval/<id>.json` and `results/summary.parquet`
/// (each atomically; eval files of ids no longer listed are removed).
pub(crate) fn classify_study_with(
    study_dir: &Path,
    classify: &ir::Classify,
    opts: &StageOptions,
    on_event: &mut dyn FnMut(StageEvent),
) -> Result<StageOutcome> {
    let dirs: Vec<&Path> = std::iter::once(study_dir)
        .chain(opts.extra_dirs.iter().map(PathBuf::as_path))
        .collect();
    let mut plain = load_plain(&dirs, study_dir)?;
    prepare_holdouts(&mut plain.table, classify)?;
    let realism = all_realism_conditions(&dirs, classify)?;
    let shape = shape_of(&plain.table, classify, realism.clone());
    let (specs, mut notes) = evaluation_specs(classify, &shape);
    let specs = drop_without_perf(specs, &plain, &mut notes);
    on_event(StageEvent::Loaded {
        examples: plain.table.n_examples(),
        checkpoints: plain.table.n_times(),
        observables: plain.table.stats.len(),
        evaluations: specs.len(),
    });
    for n in &notes {
        on_event(StageEvent::Note(n.clone()));
    }
    let realism_tables = load_realism_tables(&dirs, &realism, &plain.observables)?;
    let spec_table = spec_tables(&specs, &plain, &realism, &realism_tables)?;
    drop(realism_tables);
    let (specs, spec_table) = precheck_all(specs, spec_table, &mut notes, on_event)?;
    let rdir = study_dir.join("results");
    let edir = rdir.join("eval");
    let (keys, cached) = cache::lookup(&specs, &spec_table, &edir);
    let n_cached = cached.iter().filter(|c| c.is_some()).count();
    if n_cached > 0 {
        on_event(StageEvent::Note(format!(
            "{n_cached} of {} evaluations reused from an earlier run of the stage (results/eval/)",
            specs.len()
        )));
    }
    let results = run_all(&specs, &spec_table, cached, &keys, &edir, on_event)?;
    // Write.
    let mut entries = Vec::with_capacity(specs.len());
    let mut dropped: BTreeSet<String> = BTreeSet::new();
    for ((s, r), t) in specs.iter().zip(results.iter()).zip(&spec_table) {
        for d in &r.dropped_stats {
            dropped.insert(format!("{}:{d}", s.measure));
        }
        let rel = format!("eval/{}.json", s.id);
        entries.push(entry_of(s, r, t, rel)?);
    }
    remove_stale(&edir, &specs);
    let evaluations = Evaluations {
        schema_version: RESULTS_SCHEMA_VERSION,
        study: opts.study.clone(),
        spec_hash: opts.spec_hash.clone(),
        dropped_stats: dropped.into_iter().collect(),
        notes,
        evaluations: entries,
    };
    if opts.save_models || classify.save {
        for path in
            super::save::save_models(&specs, &spec_table, &results, &rdir, &plain.epochs, opts)?
        {
            on_event(StageEvent::Wrote(path));
        }
    }
    let sp = rdir.join("summary.parquet");
    write_summary_parquet(&sp, &evaluations)?;
    let ej = rdir.join("evaluations.json");
    write_atomic(&ej, &to_json(&evaluations))?;
    on_event(StageEvent::Wrote(ej));
    on_event(StageEvent::Wrote(sp));
    Ok(StageOutcome {
        results_dir: rdir,
        evaluations,
    })
}
