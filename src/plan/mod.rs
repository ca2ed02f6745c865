//! PLAN stage: checked study → concrete [`RunSpec`]s with stable ids, plus counts, a cost
//! estimate and a disk estimate. Pure: no disk, no devices.

pub mod cost;
pub(crate) mod diff;
mod run_spec;

pub use crate::registry::later::{
    Later, REGIME_DEFAULTS, at_later_builtin_default, at_later_default,
};
pub use run_spec::{RunSpec, canonical_json, run_id};

use crate::diag::{Diag, Diags, codes};
use crate::ir::{self, Study};
use crate::registry::arch;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Version of the feature schema; part of every run id, so a change of what runs compute
/// invalidates old results instead of mixing them.
pub const FEATURE_SCHEMA_VERSION: u32 = 1;

/// Slurm's default MaxArraySize is 1001 (indices 0..=1000).
pub const DEFAULT_MAX_ARRAY: usize = 1000;

/// The expanded plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The study's name (`study <name> { ... }`).
    pub study: String,
    /// SHA-256 (hex) of the spec and everything it imports, as in [`crate::ir::Study::spec_hash`].
    pub spec_hash: String,
    /// The version of lrx that made the plan (`CARGO_PKG_VERSION`).
    pub lrx_version: String,
    /// [`FEATURE_SCHEMA_VERSION`] at planning time.
    pub schema_version: u32,
    /// The distinct runs, in sweep order (depth-first, declaration order); a point whose run id
    /// an earlier point already has is left out.
    pub runs: Vec<RunSpec>,
    /// Counts and estimates over `runs`.
    pub summary: Summary,
    /// Warnings of the planner (the spec can run, but likely not as meant).
    #[serde(skip)]
    pub warnings: Vec<Diag>,
}

/// Counts and estimates printed by `lrx plan`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Number of distinct runs to train.
    pub training_runs: usize,
    /// Runs by the label of their rule (`sgd`, `paper.sgdm`).
    pub runs_per_rule: BTreeMap<String, usize>,
    /// Examples for the classifiers: one per (run, layer).
    pub examples: usize,
    /// Examples by the label of their run's rule (the classes of a `rule` target).
    pub examples_per_class: BTreeMap<String, usize>,
    /// Fewest and most checkpoints of a run (0 and 0 for an empty plan).
    pub checkpoints_per_run: (usize, usize),
    /// Number of observables, over every measure.
    pub observables: usize,
    /// Feature columns of a matrix per measure (`weight`, `act`, `gradavg`, `all`; `perf` when
    /// classified): 3 identifying columns plus one per observable and checkpoint every run has
    /// (for `perf`, accuracy and loss at each such checkpoint after epoch 0).
    pub feature_columns: BTreeMap<String, usize>,
    /// Number of realism conditions (each a noise σ, a fraction of units and a seed), 0 without
    /// `realism`.
    pub realism_conditions: usize,
    /// Runs observed under the realism conditions too.
    pub realism_runs: usize,
    /// Classifier evaluations (entries of `results/evaluations.json`).
    pub classifier_evaluations: usize,
    /// Model fits the classifier stage will make over all evaluations.
    pub classifier_fits: usize,
    /// Training and observation cost of all runs.
    pub cost: cost::Cost,
    /// Estimated size in bytes of the runs' feature tables (see [`cost::run_disk_bytes`]).
    pub disk_bytes: f64,
    /// Slurm job arrays needed at [`DEFAULT_MAX_ARRAY`] tasks each.
    pub slurm_array_chunks: usize,
    /// Sweep points left out because an earlier point has the same run id.
    pub duplicates_removed: usize,
    /// Hash of the sorted run ids: two plans with the same value run the same study.
    pub plan_hash: String,
}

/// Expands the study. Errors: a sweep over its budget.
pub fn plan(study: &Study) -> Result<Plan, Diags> {
    let shared = run_spec::Shared::new(study);
    let mut runs = Vec::new();
    // Run ids are 16 hex digits: the 64-bit number they spell identifies them.
    let mut seen: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let mut duplicates = 0;
    let realism_runs: BTreeSet<usize> = study
        .realism
        .as_ref()
        .map(|r| r.runs.iter().copied().collect())
        .unwrap_or_default();
    let mut diags = Diags::default();
    let mut index = 0usize;
    let mut costs = Vec::new();
    for sweep in &study.sweeps {
        let mut sweep_cost = cost::Cost::default();
        for p in &sweep.points {
            let with_realism = realism_runs.contains(&index);
            index += 1;
            let (r, pair) = RunSpec::new(study, &sweep.name, p, &shared, with_realism);
            if !seen.insert(id_number(&r.id)) {
                duplicates += 1;
                continue;
            }
            let c = cost::run_cost_with(study, &r, &pair);
            sweep_cost.add(&c);
            costs.push(c);
            runs.push(r);
        }
        if let Some(b) = sweep.budget {
            let est = if b.gpu {
                sweep_cost.gpu_hours
            } else {
                sweep_cost.cpu_hours
            };
            if est > b.hours {
                let unit = if b.gpu { "gpu_hours" } else { "cpu_hours" };
                let mut d = Diag::error(
                    codes::OVER_BUDGET,
                    format!("the sweep `{}` is estimated at {est:.2} {unit}, over its budget of {} {unit}", sweep.name, ir::fmt_num(b.hours)),
                )
                .help(format!(
                    "{} runs; shrink the sweep (fewer epochs, seeds or a smaller `width`) or raise the budget; the estimate assumes {} GFLOP/s per {} (set `{}` in `study` to calibrate)",
                    sweep.points.len(),
                    if b.gpu { study.gpu_gflops } else { study.cpu_gflops },
                    if b.gpu { "GPU" } else { "CPU process" },
                    if b.gpu { "gpu_gflops" } else { "cpu_gflops" },
                ));
                if let Some(s) = b.origin {
                    d = d.at(s, format!("estimate: {est:.2} {unit}"));
                }
                diags.push(d);
            }
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    let summary = summarize(study, &runs, &costs, duplicates);
    Ok(Plan {
        study: study.name.clone(),
        spec_hash: study.spec_hash.clone(),
        lrx_version: env!("CARGO_PKG_VERSION").to_string(),
        schema_version: FEATURE_SCHEMA_VERSION,
        runs,
        summary,
        warnings: Vec::new(),
    })
}

fn summarize(study: &Study, runs: &[RunSpec], costs: &[cost::Cost], duplicates: usize) -> Summary {
    let mut runs_per_rule = BTreeMap::new();
    let mut examples_per_class = BTreeMap::new();
    let mut examples = 0;
    let mut cmin = usize::MAX;
    let mut cmax = 0;
    let mut total = cost::Cost::default();
    let mut disk = 0.0;
    for (r, c) in runs.iter().zip(costs) {
        let n = r.layers.len();
        examples += n;
        match runs_per_rule.get_mut(&r.rule.label) {
            Some(k) => *k += 1,
            None => {
                runs_per_rule.insert(r.rule.label.clone(), 1);
            }
        }
        match examples_per_class.get_mut(&r.rule.label) {
            Some(k) => *k += n,
            None => {
                examples_per_class.insert(r.rule.label.clone(), n);
            }
        }
        cmin = cmin.min(r.checkpoints.len());
        cmax = cmax.max(r.checkpoints.len());
        total.add(c);
        disk += cost::run_disk_bytes(r);
    }
    if runs.is_empty() {
        cmin = 0;
    }
    let k_all = study.observe.observables.len();
    let mut feature_columns = BTreeMap::new();
    for m in ["weight", "act", "gradavg", "all"] {
        let k = study
            .observe
            .observables
            .iter()
            .filter(|o| m == "all" || o.measure == m)
            .count();
        if k > 0 {
            feature_columns.insert(m.to_string(), 3 + k * cmin);
        }
    }
    // The `perf` measure (classify::performance): accuracy and loss at each checkpoint after
    // epoch 0 that every run has.
    if study
        .classify
        .as_ref()
        .is_some_and(|c| c.measures.iter().any(|m| m == "perf"))
    {
        let after_0 = runs
            .iter()
            .map(|r| r.checkpoints.iter().filter(|&&e| e >= 1).count())
            .min()
            .unwrap_or(0);
        feature_columns.insert("perf".to_string(), 3 + 2 * after_0);
    }
    let realism_conditions = study.realism.as_ref().map_or(0, |r| r.conditions().len());
    let (evals, fits) = classifier_counts(study, runs, cmin);
    // Sorted by their number, which is their order as (fixed-length, lower-case hex) strings.
    let mut ids: Vec<(u64, &str)> = runs
        .iter()
        .map(|r| (id_number(&r.id), r.id.as_str()))
        .collect();
    ids.sort_unstable();
    let plan_hash = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for (_, id) in &ids {
            h.update(id.as_bytes());
            h.update(b"\n");
        }
        crate::value::hex(&h.finalize())[..16].to_string()
    };
    Summary {
        training_runs: runs.len(),
        runs_per_rule,
        examples,
        examples_per_class,
        checkpoints_per_run: (cmin, cmax),
        observables: k_all,
        feature_columns,
        realism_conditions,
        realism_runs: runs.iter().filter(|r| !r.realism.is_empty()).count(),
        classifier_evaluations: evals,
        classifier_fits: fits,
        cost: total,
        disk_bytes: disk,
        slurm_array_chunks: runs.len().div_ceil(DEFAULT_MAX_ARRAY),
        duplicates_removed: duplicates,
        plan_hash,
    }
}

/// Number of classifier evaluations (entries of `results/evaluations.json`: a classifier ×
/// target × measure × split scheme or setting, each over its outer splits) and of model fits
/// the classifier stage will make, counted by [`crate::classify::stage::expand::evaluation_counts`] over
/// the expansion the stage runs, so the two agree.
fn classifier_counts(study: &Study, runs: &[RunSpec], t: usize) -> (usize, usize) {
    match (&study.classify, study_shape(study, runs, t)) {
        (Some(c), Some(shape)) => crate::classify::stage::expand::evaluation_counts(c, &shape),
        _ => (0, 0),
    }
}

/// What the classifier stage's expansion needs to know of a plan's runs: the distinct values of
/// each target and holdout factor, `t` checkpoints per example and the realism conditions.
/// `None` without a `classify` block.
pub(crate) fn study_shape(
    study: &Study,
    runs: &[RunSpec],
    t: usize,
) -> Option<crate::classify::stage::expand::StudyShape> {
    use crate::classify::stage::expand as stage;
    let c = study.classify.as_ref()?;
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut distinct = |key: String, f: &dyn Fn(&RunSpec) -> String| {
        let v: BTreeSet<String> = runs.iter().map(f).collect();
        values.insert(key, v.into_iter().collect());
    };
    for tg in &c.targets {
        let (ir::Target::All { factor } | ir::Target::Pairs { factor }) = tg;
        distinct(factor.name().to_string(), &|r| r.factor(*factor));
    }
    for h in &c.holdouts {
        // Composite values are joined with `|`, as `FeatureTable::add_combined_factor` does.
        distinct(stage::holdout_factor(h), &|r| {
            h.factors
                .iter()
                .map(|&f| r.factor(f))
                .collect::<Vec<_>>()
                .join("|")
        });
    }
    let realism = match (&study.realism, c.realism) {
        (Some(r), true) => r.conditions(),
        _ => vec![],
    };
    Some(stage::StudyShape {
        values,
        n_times: t,
        realism,
    })
}

/// The number a run id spells (ids are 16 lower-case hex digits).
fn id_number(id: &str) -> u64 {
    u64::from_str_radix(id, 16).expect("a run id is 16 hex digits")
}

/// Layer names, positions and sizes of a run's network.
pub fn run_layers(r: &ir::Point) -> Vec<arch::LayerInfo> {
    arch::layers(&r.arch.call, arch::is_contrastive(&r.task.call))
}
