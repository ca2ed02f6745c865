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
    pub label: String,
    pub call: std::sync::Arc<Call>,
    #[serde(skip)]
    pub origin: Option<Span>,
}

/// A checked study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Study {
    pub name: String,
    pub description: String,
    pub output: String,
    pub seed: u64,
    /// Device for training (`cpu`, `cuda`, `cuda:N`, `auto`); also picks the cost unit.
    pub device: String,
    /// Calibration of the cost model: sustained training throughput of one CPU process and
    /// one GPU, in GFLOP/s.
    pub cpu_gflops: f64,
    pub gpu_gflops: f64,
    pub sweeps: Vec<Sweep>,
    pub observe: Observe,
    pub realism: Option<Realism>,
    pub classify: Option<Classify>,
    pub report: Report,
    /// Hash of the source text of the spec and every file it imports.
    pub spec_hash: String,
}

/// One `train` block, expanded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sweep {
    pub name: String,
    pub points: Vec<Point>,
    pub budget: Option<Budget>,
    #[serde(skip)]
    pub origin: Option<Span>,
}

/// A budget: `2 cpu_hours` or `100 gpu_hours`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub hours: f64,
    pub gpu: bool,
    #[serde(skip)]
    pub origin: Option<Span>,
}

/// One training run as the sweep defines it (before observables are attached).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub task: Named,
    pub arch: Named,
    pub rule: Named,
    pub lr: f64,
    pub batch: i64,
    pub epochs: i64,
    pub checkpoints: Vec<i64>,
    pub weight_decay: f64,
    pub schedule: std::sync::Arc<Call>,
    /// Seeds are exact up to 2⁶⁴ − 1.
    pub model_seed: u64,
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
    pub quantile: String,
    pub skew: String,
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
    pub measure: String,
    pub function: String,
    pub statistic: String,
}

impl Observable {
    pub fn name(&self) -> String {
        format!("{}{}_{}", self.measure, self.function, self.statistic)
    }
}

/// The `observe` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observe {
    pub observables: Vec<Observable>,
    /// Number of validation stimuli (0 = all).
    pub stimuli: i64,
    pub batch: i64,
    pub conventions: Conventions,
    /// `auto` (backward for rules with B, method.md §1.1), `forward` or `backward`.
    pub jacobian_via: String,
    pub drop_nonfinite: bool,
}

/// The `realism` block (method.md §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Realism {
    pub sigmas: Vec<f64>,
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
    All { factor: String },
    Pairs { factor: String },
}

/// A holdout: one factor, or a composite of factors (`curriculum(batch, data_seed)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holdout {
    pub name: String,
    pub factors: Vec<String>,
}

/// Trajectory subsampling grid (method.md §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    pub periods: Vec<i64>,
    pub samples: Vec<i64>,
}

/// The `classify` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classify {
    pub targets: Vec<Target>,
    pub measures: Vec<String>,
    pub models: Vec<Named>,
    pub splits: Call,
    pub cv: Call,
    pub holdouts: Vec<Holdout>,
    pub trajectory: Option<Trajectory>,
    pub portions: Vec<String>,
    pub average: bool,
    pub zscore: bool,
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
    pub formats: Vec<String>,
    pub title: String,
}

/// Re-export for convenience.
pub type Params = BTreeMap<String, Value>;
