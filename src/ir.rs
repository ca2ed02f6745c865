//! The checked study: names resolved, defaults filled, values range-checked, sweeps expanded
//! into concrete points. Nothing after `check` sees an unresolved name. Every value the user
//! wrote keeps an `origin` span so later stages can point at the spec.

use crate::source::Span;
use crate::value::{Call, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// The hyperparameters of one training run: what it trains (task, architecture, rule) and
/// how (rate, batch, epochs, schedule, weight decay, seeds, the epochs observed). The checker
/// builds one per sweep point ([`Point`]); the planner embeds it unchanged in each
/// `plan::RunSpec`, and the engine's `TrainSettings` is built from it
/// (`TrainSettings::of_hyper`). Embedded with `#[serde(flatten)]`, so its fields appear at the
/// top level of a point (`lrx plan --emit ir`) and of a run (`manifest.json`, a run's
/// `spec.json`), as before it existed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
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

impl Hyper {
    /// The value of run factor `f` as a string, as targets, holdouts and `lrx diff` compare
    /// it: the label for `task`/`arch`/`rule`, [`fmt_num`] for the floats, decimal integers
    /// else. (The runs table keeps numbers typed: `exec::run_factors`.)
    pub fn factor(&self, f: Factor) -> String {
        match f {
            Factor::Task => self.task.label.clone(),
            Factor::Arch => self.arch.label.clone(),
            Factor::Rule => self.rule.label.clone(),
            Factor::Lr => fmt_num(self.lr),
            Factor::Batch => self.batch.to_string(),
            Factor::Epochs => self.epochs.to_string(),
            Factor::WeightDecay => fmt_num(self.weight_decay),
            Factor::ModelSeed => self.model_seed.to_string(),
            Factor::DataSeed => self.data_seed.to_string(),
        }
    }
}

/// One training run as the sweep defines it (before observables are attached): its
/// hyperparameters. Dereferences to [`Hyper`], so `point.lr` reads `point.hyper.lr`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The run's hyperparameters (flattened: serialised as before `Hyper` existed).
    #[serde(flatten)]
    pub hyper: Hyper,
}

impl std::ops::Deref for Point {
    type Target = Hyper;
    fn deref(&self) -> &Hyper {
        &self.hyper
    }
}

impl std::ops::DerefMut for Point {
    fn deref_mut(&mut self) -> &mut Hyper {
        &mut self.hyper
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

/// The spelling of a closed set of values in the spec language, JSON and Parquet: `NAMES` lists
/// them in declaration order (what `registry` offers the checker, completion and `lrx doc`),
/// `name` and `parse` convert. Serde's names (`rename_all`/`rename`) must equal these (a test
/// checks every such enum).
macro_rules! spelled {
    ($t:ident { $($v:ident => $n:literal),+ $(,)? }) => {
        impl $t {
            /// Every value, in declaration order.
            pub const ALL: &'static [$t] = &[$($t::$v),+];
            /// Their names as the spec writes them, in the order of `ALL`.
            pub const NAMES: &'static [&'static str] = &[$($n),+];
            /// The name the spec, JSON and tables use.
            pub fn name(self) -> &'static str {
                match self {
                    $($t::$v => $n),+
                }
            }
            /// The value named `s`, if any (exact match).
            pub fn parse(s: &str) -> Option<$t> {
                match s {
                    $($n => Some($t::$v),)+
                    _ => None,
                }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

/// A run factor: what a `where` filter, a classification target or a holdout may name, and a
/// column of the runs table and of the feature files. Strings remain only at the boundaries
/// (spec text, Parquet column names, JSON), spelled by [`Factor::name`]; the order of
/// [`Factor::ALL`] is the order `lrx diff` and `lrx doc` list factors in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// The task's label.
    Task,
    /// The architecture's label.
    Arch,
    /// The learning rule's label.
    Rule,
    /// The base learning rate.
    Lr,
    /// The batch size.
    Batch,
    /// Training epochs.
    Epochs,
    /// The weight-decay coefficient.
    WeightDecay,
    /// The seed of the initial weights.
    ModelSeed,
    /// The seed of the batch order and augmentations.
    DataSeed,
}

spelled!(Factor {
    Task => "task",
    Arch => "arch",
    Rule => "rule",
    Lr => "lr",
    Batch => "batch",
    Epochs => "epochs",
    WeightDecay => "weight_decay",
    ModelSeed => "model_seed",
    DataSeed => "data_seed",
});

/// Quantile convention for `median` and `thirdquartile` (`observe { quantile = ... }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantileConvention {
    /// TF `percentile(interpolation='nearest')` (method.md §1.2, the default): sort descending,
    /// idx = round_half_even((n−1)(1−q/100)), value `z_desc[idx]`.
    #[default]
    TfNearest,
    /// numpy's default `method='linear'`: z_asc at (n−1)q/100, linearly interpolated.
    Linear,
}

spelled!(QuantileConvention {
    TfNearest => "tf_nearest",
    Linear => "linear",
});

/// Skewness convention (`observe { skew = ... }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkewConvention {
    /// Pearson's second coefficient 3(mean − median)/std, population std, median by the quantile
    /// convention (method.md §1.2, the default).
    #[default]
    Pearson2,
    /// Moment skewness m3/m2^1.5 (scipy.stats.skew, bias=True).
    Fisher,
}

spelled!(SkewConvention {
    Pearson2 => "pearson2",
    Fisher => "fisher",
});

/// Kurtosis convention (`observe { kurtosis = ... }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KurtosisConvention {
    /// m4/m2² (method.md §1.2, the default).
    #[default]
    Pearson,
    /// m4/m2² − 3 (scipy.stats.kurtosis, fisher=True, bias=True).
    Excess,
}

spelled!(KurtosisConvention {
    Pearson => "pearson",
    Excess => "excess",
});

/// Floating-point type the statistics are computed in, on the device
/// (`observe { precision = ... }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Precision {
    /// Cast to float64 before reducing (default): exact enough for 10⁸-element sums.
    #[default]
    #[serde(rename = "float64")]
    F64,
    /// Reduce in float32 (as TF did on TPU); faster on GPUs with slow float64.
    #[serde(rename = "float32")]
    F32,
}

spelled!(Precision {
    F64 => "float64",
    F32 => "float32",
});

impl Precision {
    /// Whether it is the default, float64 (then left out of run ids).
    pub fn is_default(&self) -> bool {
        *self == Precision::F64
    }
}

/// All statistic conventions (method.md §1.2); `Default` is method.md's. The IR's
/// `observe` block carries them and the observer reads them unchanged. Serialised into the
/// run id's `observe` digest as `{"quantile", "skew", "kurtosis"}`, plus `precision` only when
/// it is not float64 (so ids from before it existed stay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StatConventions {
    /// The quantile convention (`median`, `thirdquartile`, and Pearson's skew).
    pub quantile: QuantileConvention,
    /// The skewness convention.
    pub skew: SkewConvention,
    /// The kurtosis convention.
    pub kurtosis: KurtosisConvention,
    /// The type statistics are reduced in.
    #[serde(skip_serializing_if = "Precision::is_default")]
    pub precision: Precision,
}

/// Which kernel `gradavg`'s Jacobian flows through in layers with backward weights
/// (`observe { jacobian_via = ... }`, method.md §1.1). The engine resolves `Auto` per run into
/// its own two-valued `exec::observe::JacobianVia`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JacobianMode {
    /// Backward for rules with backward weights B, forward otherwise (the default).
    #[default]
    Auto,
    /// Always the forward kernels.
    Forward,
    /// The backward weights where a layer has them.
    Backward,
}

spelled!(JacobianMode {
    Auto => "auto",
    Forward => "forward",
    Backward => "backward",
});

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
    pub conventions: StatConventions,
    /// Which kernel `gradavg`'s Jacobian flows through (`auto`: backward for rules with B,
    /// method.md §1.1).
    pub jacobian_via: JacobianMode,
    /// Apply the non-finite drop rule to features (docs/reference/observe.md).
    pub drop_nonfinite: bool,
    /// Also write every layer's plain activations at every checkpoint as `.npy` files in the
    /// run's directory (docs/reference/observe.md). Not part of run ids when off (the default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub save_activations: bool,
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
    /// Measurement models other than `awgn` (`poisson`, `calcium`), every point of their
    /// parameter grids, in spec order. Empty (and then not serialised) for Gaussian-only specs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<Measurement>,
}

impl Realism {
    /// Every condition: the Gaussian (σ, ρ, seed) conditions first (σ outermost, then ρ, then
    /// seeds `0..count`), then for each model of `models` its (ρ, seed) conditions (σ = 0).
    pub fn conditions(&self) -> Vec<RealismCondition> {
        let mut v = Vec::new();
        let grid = self
            .sigmas
            .iter()
            .map(|&s| (s, Measurement::Awgn))
            .chain(self.models.iter().map(|&m| (0.0, m)));
        for (sigma, model) in grid {
            for (&fraction, &n) in self.fractions.iter().zip(&self.seeds) {
                for seed in 0..n.max(0) as u64 {
                    v.push(RealismCondition {
                        sigma,
                        fraction,
                        seed,
                        model,
                    });
                }
            }
        }
        v
    }
}

/// One measurement-realism condition (method.md §5): additive Gaussian noise of standard
/// deviation σ, then ceil(ρ·n) of a layer's n units kept by a seeded permutation. The one type
/// for a condition everywhere: the plan's runs (`RunSpec::realism`, hashed into run ids as
/// JSON `{"sigma", "fraction", "seed"}`), the observer (`exec::observe`, which adds `new` and
/// `validate`), the feature reader (`features::Condition::Realism`) and the classifier's
/// evaluations (`EvalSpec::realism`, `results/evaluations.json`). In the feature files its
/// fields are the columns `noise_sigma`, `unit_fraction` and `realism_seed` (int64; −1 there
/// marks the plain observables, which are no condition). Deserialises tolerantly (missing
/// fields are 0), as the report reads `evaluations.json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RealismCondition {
    /// Standard deviation σ ≥ 0 of the additive white Gaussian noise, in the tensor's own units.
    pub sigma: f64,
    /// Unit fraction ρ ∈ (0, 1]; ceil(ρ·n) units are kept.
    pub fraction: f64,
    /// Seed of the unit permutation and of the noise (the same seed drives both; below
    /// 2⁶³ − 1, as the feature files store it as int64).
    pub seed: u64,
    /// The measurement model applied to the kept units' activations (`awgn`, the default,
    /// adds σ-noise; `poisson` and `calcium` replace the values by simulated recordings, σ is
    /// then 0). Not serialised for `awgn`, so Gaussian conditions keep their JSON
    /// `{"sigma", "fraction", "seed"}` and existing run ids.
    #[serde(default, skip_serializing_if = "Measurement::is_awgn")]
    pub model: Measurement,
}

/// A condition's measurement model (docs/reference/realism.md, "Measurement models").
/// Serialised with a `kind` tag: `{"kind": "poisson", "rate_scale": 20, ...}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measurement {
    /// Additive white Gaussian noise of the condition's σ (today's model).
    #[default]
    Awgn,
    /// Poisson spike counts read out as rates.
    Poisson(crate::measurement::PoissonModel),
    /// Calcium imaging, ΔF/F per stimulus.
    Calcium(crate::measurement::CalciumModel),
}

impl Measurement {
    /// Whether this is the Gaussian model (then σ is the condition's noise).
    pub fn is_awgn(&self) -> bool {
        matches!(self, Measurement::Awgn)
    }

    /// The canonical text of the feature column `measurement`: `awgn`, or the model with every
    /// parameter, e.g. `poisson(rate_scale=20,baseline=0,window=0.5,repeats=1)`.
    pub fn canonical(&self) -> String {
        match self {
            Measurement::Awgn => "awgn".into(),
            Measurement::Poisson(m) => m.canonical(),
            Measurement::Calcium(m) => m.canonical(),
        }
    }

    /// Parse a [`canonical`](Self::canonical) text back (as stored in the feature column
    /// `measurement`); `None` when it is not one. Parameters left out take their defaults.
    pub fn parse(text: &str) -> Option<Measurement> {
        use crate::measurement::{CalciumModel, PoissonModel};
        let text = text.trim();
        if text == "awgn" {
            return Some(Measurement::Awgn);
        }
        let (name, rest) = text.split_once('(')?;
        let body = rest.strip_suffix(')')?;
        let mut kv = Vec::new();
        for part in body.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part.split_once('=')?;
            kv.push((k.trim(), v.trim().parse::<f64>().ok()?));
        }
        let count =
            |v: f64| (v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64).then_some(v as u32);
        match name.trim() {
            "poisson" => {
                let mut m = PoissonModel::default();
                for (k, v) in kv {
                    match k {
                        "rate_scale" => m.rate_scale = v,
                        "baseline" => m.baseline = v,
                        "window" => m.window = v,
                        "repeats" => m.repeats = count(v)?,
                        _ => return None,
                    }
                }
                Some(Measurement::Poisson(m))
            }
            "calcium" => {
                let mut m = CalciumModel::default();
                for (k, v) in kv {
                    match k {
                        "rate_scale" => m.rate_scale = v,
                        "baseline" => m.baseline = v,
                        "frame_rate" => m.frame_rate = v,
                        "rise" => m.rise = v,
                        "decay" => m.decay = v,
                        "kd" => m.kd = v,
                        "hill" => m.hill = v,
                        "shot" => m.shot = v,
                        "read" => m.read = v,
                        "frames_per_stimulus" => m.frames_per_stimulus = count(v)?,
                        _ => return None,
                    }
                }
                Some(Measurement::Calcium(m))
            }
            _ => None,
        }
    }

    /// Check the model's parameters.
    pub fn validate(&self) -> Result<(), crate::measurement::MeasurementError> {
        match self {
            Measurement::Awgn => Ok(()),
            Measurement::Poisson(m) => m.validate(),
            Measurement::Calcium(m) => m.validate(),
        }
    }
}

/// A classification target: 4-way over a factor, or every pair of its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// One classifier over every value of the factor.
    All {
        /// The factor (`rule`, …).
        factor: Factor,
    },
    /// One classifier per pair of the factor's values.
    Pairs {
        /// The factor.
        factor: Factor,
    },
}

/// A holdout: one factor, or a composite of factors (`curriculum(batch, data_seed)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holdout {
    /// Its name (the factor, or the composite's name).
    pub name: String,
    /// The factors whose values are held out together.
    pub factors: Vec<Factor>,
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
    /// Save the final model of every saveable evaluation (`results/models/`,
    /// docs/saved-classifiers.md); the same as `lrx classify --save-models`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub save: bool,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Serde, the spec language and `registry` spell every closed set the same way.
    #[test]
    fn serde_names_are_the_spelled_names() {
        fn check<
            T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + Copy,
        >(
            all: &[T],
            names: &[&str],
            name: impl Fn(T) -> &'static str,
            parse: impl Fn(&str) -> Option<T>,
        ) {
            assert_eq!(all.len(), names.len());
            for (&v, &n) in all.iter().zip(names) {
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(n));
                assert_eq!(
                    serde_json::from_value::<T>(serde_json::json!(n)).unwrap(),
                    v
                );
                assert_eq!(name(v), n);
                assert_eq!(parse(n), Some(v));
            }
        }
        check(Factor::ALL, Factor::NAMES, Factor::name, Factor::parse);
        check(
            QuantileConvention::ALL,
            crate::registry::QUANTILE_CONVENTIONS,
            QuantileConvention::name,
            QuantileConvention::parse,
        );
        check(
            SkewConvention::ALL,
            crate::registry::SKEW_CONVENTIONS,
            SkewConvention::name,
            SkewConvention::parse,
        );
        check(
            KurtosisConvention::ALL,
            crate::registry::KURTOSIS_CONVENTIONS,
            KurtosisConvention::name,
            KurtosisConvention::parse,
        );
        check(
            Precision::ALL,
            crate::registry::PRECISIONS,
            Precision::name,
            Precision::parse,
        );
        check(
            JacobianMode::ALL,
            crate::registry::JACOBIAN_VIA,
            JacobianMode::name,
            JacobianMode::parse,
        );
        assert_eq!(Factor::parse("layer"), None);
    }

    /// The conventions enter run ids as they did when they were strings: precision only when
    /// it is not float64.
    #[test]
    fn conventions_serialise_as_before() {
        let d = StatConventions::default();
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"quantile":"tf_nearest","skew":"pearson2","kurtosis":"pearson"}"#
        );
        let c = StatConventions {
            precision: Precision::F32,
            ..d
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"quantile":"tf_nearest","skew":"pearson2","kurtosis":"pearson","precision":"float32"}"#
        );
        assert_eq!(
            serde_json::from_str::<StatConventions>(r#"{"quantile":"linear"}"#).unwrap(),
            StatConventions {
                quantile: QuantileConvention::Linear,
                ..d
            }
        );
    }

    /// Realism conditions come in grid order and serialise as `{"sigma", "fraction", "seed"}`.
    #[test]
    fn realism_conditions() {
        let r = Realism {
            sigmas: vec![0.0, 0.5],
            fractions: vec![0.5, 1.0],
            seeds: vec![2, 1],
            runs: vec![],
            models: vec![],
        };
        let c = r.conditions();
        let t: Vec<(f64, f64, u64)> = c.iter().map(|c| (c.sigma, c.fraction, c.seed)).collect();
        assert_eq!(
            t,
            [
                (0.0, 0.5, 0),
                (0.0, 0.5, 1),
                (0.0, 1.0, 0),
                (0.5, 0.5, 0),
                (0.5, 0.5, 1),
                (0.5, 1.0, 0)
            ]
        );
        assert_eq!(
            serde_json::to_string(&c[1]).unwrap(),
            r#"{"sigma":0.0,"fraction":0.5,"seed":1}"#
        );
        assert!(c.iter().all(|c| c.model.is_awgn()));
        // Models other than awgn come after the Gaussian grid, with σ = 0, and carry a tagged
        // model in their JSON, which reads back.
        let p = Measurement::Poisson(crate::measurement::PoissonModel::default());
        let r2 = Realism {
            models: vec![p],
            ..r
        };
        let c2 = r2.conditions();
        assert_eq!(c2.len(), 9);
        assert_eq!(c2[..6], c[..]);
        assert_eq!(
            (c2[6].sigma, c2[6].fraction, c2[6].seed, c2[6].model),
            (0.0, 0.5, 0, p)
        );
        let j = serde_json::to_string(&c2[8]).unwrap();
        assert_eq!(
            j,
            r#"{"sigma":0.0,"fraction":1.0,"seed":0,"model":{"kind":"poisson","rate_scale":20.0,"baseline":0.0,"window":0.5,"repeats":1}}"#
        );
        assert_eq!(serde_json::from_str::<RealismCondition>(&j).unwrap(), c2[8]);
        assert_eq!(
            serde_json::from_str::<RealismCondition>(r#"{"sigma":0.5,"fraction":1.0,"seed":2}"#)
                .unwrap()
                .model,
            Measurement::Awgn
        );
        assert_eq!(
            p.canonical(),
            "poisson(rate_scale=20,baseline=0,window=0.5,repeats=1)"
        );
        let c = Measurement::Calcium(crate::measurement::CalciumModel {
            rise: 0.1 + 0.2,
            ..Default::default()
        });
        for m in [Measurement::Awgn, p, c] {
            assert_eq!(Measurement::parse(&m.canonical()), Some(m));
        }
        assert_eq!(
            Measurement::parse("poisson(window=2)").unwrap().canonical(),
            "poisson(rate_scale=20,baseline=0,window=2,repeats=1)"
        );
        assert_eq!(Measurement::parse("poisson(speed=2)"), None);
        assert_eq!(Measurement::parse("gauss"), None);
    }
}
