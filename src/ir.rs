//! The checked study: names resolved, defaults filled, values range-checked, sweeps expanded
//! into concrete points. Nothing after `check` sees an unresolved name. Every value the user
//! wrote keeps an `origin` span so later stages can point at the spec.

use crate::source::Span;
use crate::value::{Call, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The run factors a filter, holdout or target may name.
pub const FACTORS: &[&str] = &[
    "task",
    "arch",
    "rule",
    "lr",
    "batch",
    "epochs",
    "weight_decay",
    "model_seed",
    "data_seed",
];

/// A resolved builtin instance with the label it is known by (the definition name, e.g.
/// `knet4_lrn`, or for an inline call the builtin name plus its explicit arguments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Named {
    /// How tables and reports name it.
    pub label: String,
    /// The builtin call with every parameter filled.
    pub call: std::sync::Arc<Call>,
    /// Where the spec wrote it.
    #[serde(skip)]
    pub origin: Option<Span>,
}

/// A checked study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Study {
    /// The study's name (`study NAME { ... }`).
    pub name: String,
    /// Its `description`, empty when not given.
    pub description: String,
    /// The study directory (`output`), as written.
    pub output: String,
    /// The study seed (classifier splits and other study-level draws).
    pub seed: u64,
    /// Device for training (`cpu`, `cuda`, `cuda:N`, `auto`); also picks the cost unit.
    pub device: String,
    /// Calibration of the cost model: sustained training throughput of one CPU process and
    /// one GPU, in GFLOP/s.
    pub cpu_gflops: f64,
    /// See `cpu_gflops`.
    pub gpu_gflops: f64,
    /// The `train` blocks, expanded.
    pub sweeps: Vec<Sweep>,
    /// The `observe` block.
    pub observe: Observe,
    /// The `realism` block, if any.
    pub realism: Option<Realism>,
    /// The `classify` block, if any.
    pub classify: Option<Classify>,
    /// The `report` block (its defaults when absent).
    pub report: Report,
    /// Hash of the source text of the spec and every file it imports.
    pub spec_hash: String,
}

/// One `train` block, expanded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sweep {
    /// The block's name (`train NAME { ... }`), or `train` for an unnamed one.
    pub name: String,
    /// Its runs, in expansion order (depth-first, declaration order).
    pub points: Vec<Point>,
    /// Its `budget`, if any.
    pub budget: Option<Budget>,
    /// Where the block starts.
    #[serde(skip)]
    pub origin: Option<Span>,
}

/// A budget: `2 cpu_hours` or `100 gpu_hours`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// The hours allowed.
    pub hours: f64,
    /// GPU hours (else CPU hours).
    pub gpu: bool,
    /// Where the budget was written.
    #[serde(skip)]
    pub origin: Option<Span>,
}

/// One training run as the sweep defines it (before observables are attached).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The task (data set and objective).
    pub task: Named,
    /// The architecture.
    pub arch: Named,
    /// The learning rule.
    pub rule: Named,
    /// The base learning rate.
    pub lr: f64,
    /// The batch size.
    pub batch: i64,
    /// Training epochs.
    pub epochs: i64,
    /// The epochs observed (0 = before training), sorted.
    pub checkpoints: Vec<i64>,
    /// L2 coefficient on kernels and biases.
    pub weight_decay: f64,
    /// The learning-rate schedule call.
    pub schedule: std::sync::Arc<Call>,
    /// Seed of the initial weights. Seeds are exact up to 2⁶⁴ − 1.
    pub model_seed: u64,
    /// Seed of the batch order and augmentations.
    pub data_seed: u64,
}

impl Point {
    /// The run factors (for the runs table, holdouts and filters), as strings.
    pub fn factors(&self) -> BTreeMap<&'static str, String> {
        let mut m = BTreeMap::new();
        m.insert("task", self.task.label.clone());
        m.insert("arch", self.arch.label.clone());
        m.insert("rule", self.rule.label.clone());
        m.insert("lr", fmt_num(self.lr));
        m.insert("batch", self.batch.to_string());
        m.insert("epochs", self.epochs.to_string());
        m.insert("weight_decay", fmt_num(self.weight_decay));
        m.insert("model_seed", self.model_seed.to_string());
        m.insert("data_seed", self.data_seed.to_string());
        m
    }
}

/// Shortest round-trip decimal form of a float (the same on every machine).
pub fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Conventions for statistics (method.md §1.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conventions {
    /// `tf_nearest` (the paper's code) or `linear` (numpy's default).
    pub quantile: String,
    /// `pearson2` or `fisher`.
    pub skew: String,
    /// `pearson` or `excess`.
    pub kurtosis: String,
    /// `float64` (default) or `float32`: the type statistics are reduced in. Left out of the
    /// serialised form (and so of run ids) at its default.
    #[serde(default = "float64", skip_serializing_if = "is_float64")]
    pub precision: String,
}

fn float64() -> String {
    "float64".into()
}

fn is_float64(s: &str) -> bool {
    s == "float64"
}

/// One observable: `{measure}{function}_{statistic}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Observable {
    /// `weight`, `act` or `gradavg`.
    pub measure: String,
    /// `raw`, `abs` or `sq`, applied before the statistic.
    pub function: String,
    /// `norm`, `mean`, `median`, `thirdquartile`, `var`, `skew`, `kurtosis`, or `id` (gradavg).
    pub statistic: String,
}

impl Observable {
    /// Its name as feature columns carry it (`weightabs_median`).
    pub fn name(&self) -> String {
        format!("{}{}_{}", self.measure, self.function, self.statistic)
    }
}

/// The `observe` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observe {
    /// The observables recorded at every checkpoint.
    pub observables: Vec<Observable>,
    /// Number of validation stimuli (0 = all).
    pub stimuli: i64,
    /// Stimuli per forward pass while observing.
    pub batch: i64,
    /// The statistics' conventions.
    pub conventions: Conventions,
    /// `auto` (backward for rules with B, method.md §1.1), `forward` or `backward`.
    pub jacobian_via: String,
    /// Apply the non-finite drop rule to features (docs/reference/observe.md).
    pub drop_nonfinite: bool,
}

/// The `realism` block (method.md §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Realism {
    /// Noise levels σ of the additive Gaussian noise.
    pub sigmas: Vec<f64>,
    /// Unit fractions ρ kept.
    pub fractions: Vec<f64>,
    /// Seeds per fraction, aligned with `fractions`.
    pub seeds: Vec<i64>,
    /// Indices (into the concatenated points of all sweeps) of the runs the grid applies to.
    pub runs: Vec<usize>,
}

impl Realism {
    /// Every (σ, ρ, seed) condition.
    pub fn conditions(&self) -> Vec<(f64, f64, i64)> {
        let mut v = Vec::new();
        for &s in &self.sigmas {
            for (f, &n) in self.fractions.iter().zip(&self.seeds) {
                for seed in 0..n {
                    v.push((s, *f, seed));
                }
            }
        }
        v
    }
}

/// A classification target: 4-way over a factor, or every pair of its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// One classifier over every value of the factor.
    All {
        /// The factor (`rule`, …).
        factor: String,
    },
    /// One classifier per pair of the factor's values.
    Pairs {
        /// The factor.
        factor: String,
    },
}

/// A holdout: one factor, or a composite of factors (`curriculum(batch, data_seed)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holdout {
    /// Its name (the factor, or the composite's name).
    pub name: String,
    /// The factors whose values are held out together.
    pub factors: Vec<String>,
}

/// Trajectory subsampling grid (method.md §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// Periods: every `period`-th checkpoint is taken.
    pub periods: Vec<i64>,
    /// How many checkpoints a subsampled trajectory holds.
    pub samples: Vec<i64>,
}

/// The `classify` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classify {
    /// What to classify.
    pub targets: Vec<Target>,
    /// Measure subsets (`weight`, `act`, `gradavg`, `all`, `perf`).
    pub measures: Vec<String>,
    /// The classifiers, each with its grid.
    pub models: Vec<Named>,
    /// The split scheme call (`balanced(...)`).
    pub splits: Call,
    /// The cross-validation scheme of the grid search.
    pub cv: Call,
    /// The holdouts to evaluate.
    pub holdouts: Vec<Holdout>,
    /// Trajectory subsampling, if asked for.
    pub trajectory: Option<Trajectory>,
    /// Consecutive portions (`thirds`, `sevenths`).
    pub portions: Vec<String>,
    /// Also classify the trajectory average.
    pub average: bool,
    /// Z-score features on the training part.
    pub zscore: bool,
    /// Seed of the splits, trajectory starts and classifiers.
    pub seed: u64,
    /// Also classify under every realism condition.
    pub realism: bool,
    /// Classifier builtins that run the analyses beyond the main setting (holdouts, trajectory
    /// subsampling, the trajectory average, portions, realism); `None` = every model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_models: Option<Vec<String>>,
    /// The matched-performance control: also evaluate each target on the runs whose final
    /// validation accuracies lie within this tolerance of a run of every other class
    /// (docs/classify.md "Task performance").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<f64>,
}

/// The `report` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `html` and/or `markdown`.
    pub formats: Vec<String>,
    /// The report's title.
    pub title: String,
}

/// A call's parameters by name.
pub type Params = BTreeMap<String, Value>;
