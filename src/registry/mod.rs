//! The registry of builtins: every task, architecture, learning rule, schedule, noise model,
//! classifier, split and cross-validation scheme a spec can name, each with a typed parameter
//! schema, plus the fixed vocabularies (measures, functions, statistics, conventions).
//! The checker resolves names here; `lrx doc --stdlib` renders it (docs/reference/builtins.md).

macro_rules! b {
    ($name:expr, $kind:ident, $family:expr, $doc:expr, [$($g:expr),*]) => {
        Builtin { name: $name, kind: Kind::$kind, family: $family, doc: $doc, params: &[$($g),*] }
    };
}

pub mod arch;
pub mod cochlea;
pub mod config;
pub mod later;
pub mod rules;
pub mod schema;
pub mod tasks;

pub use arch::ArchConfig;
pub use config::{ConfigError, Objective, complete};
pub use rules::RuleConfig;
pub use tasks::{LOAD_MODES, TaskConfig};

use schema::COUNT;
use schema::{Default as D, POS, Param, Ty, p, pu};

/// What a builtin produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A data set and its objective (`fashion_mnist`, `image_folder`).
    Task,
    /// A network architecture (`knet4`, `alexnet`).
    Arch,
    /// A learning rule (`sgdm`, `fa`, `ia`).
    Rule,
    /// A learning-rate schedule (`constant`, `warmup_steps`).
    Schedule,
    /// A measurement model of the realism conditions (`awgn`, `poisson`, `calcium`).
    Noise,
    /// A classifier of the classify stage (`random_forest`, `linear_svm`, `conv1d`).
    Classifier,
    /// A scheme of train/test splits of the classify stage (`balanced`).
    Split,
    /// A cross-validation scheme of the classifiers' hyperparameter search (`stratified_kfold`).
    Cv,
}

impl Kind {
    /// The kind in words, for messages and docs (`learning rule`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Task => "task",
            Kind::Arch => "architecture",
            Kind::Rule => "learning rule",
            Kind::Schedule => "learning-rate schedule",
            Kind::Noise => "noise model",
            Kind::Classifier => "classifier",
            Kind::Split => "split scheme",
            Kind::Cv => "cross-validation scheme",
        }
    }
    /// The keyword used for definitions of this kind (`task x = ...`).
    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Task => "task",
            Kind::Arch => "arch",
            Kind::Rule => "rule",
            Kind::Schedule => "schedule",
            Kind::Noise => "noise",
            Kind::Classifier => "classifier",
            Kind::Split => "split",
            Kind::Cv => "cv",
        }
    }
    /// Every kind, in the order the docs list them.
    pub const ALL: [Kind; 8] = [
        Kind::Task,
        Kind::Arch,
        Kind::Rule,
        Kind::Schedule,
        Kind::Noise,
        Kind::Classifier,
        Kind::Split,
        Kind::Cv,
    ];
}

/// One builtin.
#[derive(Debug)]
pub struct Builtin {
    /// The name a spec calls it by (`knet4`).
    pub name: &'static str,
    /// What it produces.
    pub kind: Kind,
    /// Family used in tables (`arch.family`): `knet`, `alexnet`, `resnet`, `mlp`; for rules,
    /// `backprop` or `alignment` (rules with backward weights B).
    pub family: &'static str,
    /// One paragraph of Markdown for `lrx doc` and hover.
    pub doc: &'static str,
    /// Parameter groups (shared groups are listed once in the source).
    pub params: &'static [&'static [Param]],
}

impl Builtin {
    /// Every parameter, in schema order.
    pub fn params(&self) -> impl Iterator<Item = &'static Param> {
        self.params.iter().flat_map(|g| g.iter())
    }
    /// The parameter `name`, when the builtin has one.
    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.params().find(|p| p.name == name)
    }
}

// ------------------------------------------------------------------------------------------
// Schedules, noise, classifiers, splits

const WARMUP: &[Param] = &[
    pu(
        "warmup",
        Ty::Epochs { min: 0 },
        D::I(6),
        "epochs",
        "linear warm-up from 0 over this many epochs",
    ),
    pu(
        "milestones",
        Ty::IntList {
            min: 0,
            max: 1_000_000,
        },
        D::IL(&[30, 60, 80]),
        "epochs",
        "epochs at which the rate is multiplied by `gamma`",
    ),
    p(
        "gamma",
        Ty::Float { min: 0.0, max: 1.0 },
        D::F(0.1),
        "multiplier at each milestone",
    ),
];
const AWGN: &[Param] = &[p(
    "sigma",
    Ty::FloatList {
        min: 0.0,
        max: f64::INFINITY,
    },
    D::FL(&[0.0]),
    "noise standard deviations, in the tensor's own units (a grid)",
)];

const NONNEG: Ty = Ty::FloatList {
    min: 0.0,
    max: f64::INFINITY,
};
const POSITIVE: Ty = Ty::PosFloatList { max: f64::INFINITY };
const COUNTS: Ty = Ty::IntList {
    min: 1,
    max: 1_000_000,
};
/// The rate map both spiking measurement models share.
const RATE_SCALE: Param = pu(
    "rate_scale",
    NONNEG,
    D::FL(&[20.0]),
    "Hz",
    "firing rate per unit of activation: rate = baseline + rate_scale·max(x, 0) (a grid)",
);
const BASELINE: Param = pu(
    "baseline",
    NONNEG,
    D::FL(&[0.0]),
    "Hz",
    "spontaneous firing rate (a grid)",
);
const POISSON: &[Param] = &[
    RATE_SCALE,
    BASELINE,
    pu(
        "window",
        POSITIVE,
        D::FL(&[0.5]),
        "s",
        "counting window, > 0; the observable is counts / window (a grid)",
    ),
    p(
        "repeats",
        COUNTS,
        D::IL(&[1]),
        "independent trials averaged per stimulus (a grid)",
    ),
];
const CALCIUM: &[Param] = &[
    RATE_SCALE,
    BASELINE,
    pu(
        "frame_rate",
        POSITIVE,
        D::FL(&[30.0]),
        "Hz",
        "imaging frame rate, > 0 (a grid)",
    ),
    pu(
        "rise",
        POSITIVE,
        D::FL(&[0.05]),
        "s",
        "rise time constant of the calcium kernel, > 0 and < decay (a grid)",
    ),
    pu(
        "decay",
        POSITIVE,
        D::FL(&[0.4]),
        "s",
        "decay time constant of the calcium kernel (a grid)",
    ),
    p(
        "kd",
        POSITIVE,
        D::FL(&[10.0]),
        "half-saturation of the Hill curve, in peak calcium of one spike, > 0 (a grid)",
    ),
    p(
        "hill",
        POSITIVE,
        D::FL(&[2.5]),
        "Hill coefficient, > 0 (a grid)",
    ),
    p(
        "shot",
        NONNEG,
        D::FL(&[0.01]),
        "shot noise: variance shot·F, F in units of the baseline F0 (a grid)",
    ),
    p(
        "read",
        NONNEG,
        D::FL(&[0.01]),
        "read noise standard deviation, in units of F0 (a grid)",
    ),
    p(
        "frames_per_stimulus",
        COUNTS,
        D::IL(&[15]),
        "frames each stimulus is shown; the response is the mean ΔF/F over them (a grid)",
    ),
];

const MAX_FEATURES: &[&str] = &["sqrt", "log2", "all"];
const RF: &[Param] = &[
    p(
        "trees",
        Ty::IntList {
            min: 1,
            max: 100_000,
        },
        D::IL(&[20, 50, 100, 500, 1000]),
        "numbers of trees (grid)",
    ),
    p(
        "max_features",
        Ty::EnumList(MAX_FEATURES),
        D::SL(&["sqrt", "log2", "all"]),
        "features tried per split (grid)",
    ),
];
const SVM: &[Param] = &[
    p(
        "C",
        Ty::FloatList {
            min: 1e-12,
            max: f64::INFINITY,
        },
        D::FL(&[1.0, 50.0, 500.0, 5e3, 5e4, 5e5, 5e6]),
        "inverse regularisation strengths (grid)",
    ),
    p(
        "pca",
        Ty::OptIntList,
        D::OIL(&[-1, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 600]),
        "PCA components before the SVM, `none` for no PCA (grid)",
    ),
    p("tol", POS, D::F(1e-4), "stopping tolerance (liblinear)"),
    p("max_iter", COUNT, D::I(1000), "maximum passes (liblinear)"),
];
const POOLS: &[&str] = &["none", "max", "mean"];
const CONV1D: &[Param] = &[
    p(
        "kernel",
        Ty::IntList {
            min: 1,
            max: 10_000,
        },
        D::IL(&[1, 2, 6, 11, 21]),
        "kernel sizes over time (grid)",
    ),
    p(
        "stride",
        Ty::IntList {
            min: 1,
            max: 10_000,
        },
        D::IL(&[1, 2, 4]),
        "strides (grid)",
    ),
    p(
        "filters",
        Ty::IntList {
            min: 1,
            max: 100_000,
        },
        D::IL(&[20, 40]),
        "filters (grid)",
    ),
    p(
        "pool",
        Ty::EnumList(POOLS),
        D::SL(&["none", "max", "mean"]),
        "pooling over time (grid)",
    ),
    p(
        "weight_decay",
        Ty::FloatList {
            min: 0.0,
            max: f64::INFINITY,
        },
        D::FL(&[1e-4, 0.0]),
        "L2 penalty (grid)",
    ),
    p(
        "lr",
        Ty::FloatList {
            min: 0.0,
            max: f64::INFINITY,
        },
        D::FL(&[1e-3, 1e-4]),
        "Adam learning rates (grid)",
    ),
    p(
        "batch",
        Ty::IntList {
            min: 1,
            max: 1 << 20,
        },
        D::IL(&[512, 1024]),
        "batch sizes (grid)",
    ),
    pu(
        "epochs",
        Ty::Int {
            min: 1,
            max: 1_000_000,
        },
        D::I(400),
        "epochs",
        "training epochs",
    ),
];
const BALANCED: &[Param] = &[
    p(
        "n",
        // Bounded: each outer split is a full fit (with its CV grid); the paper uses 10.
        Ty::Int { min: 1, max: 1000 },
        D::I(10),
        "number of outer splits",
    ),
    p("test", Ty::Fraction, D::F(0.25), "test fraction per class"),
];
const KFOLD: &[Param] = &[p(
    "k",
    Ty::Int { min: 2, max: 100 },
    D::I(5),
    "folds (no shuffle, as scikit-learn's default)",
)];

/// The builtins other than tasks, architectures and rules, in documentation order.
const OTHERS: &[Builtin] = &[
    b!(
        "constant",
        Schedule,
        "schedule",
        "a constant learning rate",
        []
    ),
    b!(
        "warmup_steps",
        Schedule,
        "schedule",
        "linear warm-up, then step decay at milestones (the paper's ImageNet schedule)",
        [WARMUP]
    ),
    b!(
        "awgn",
        Noise,
        "noise",
        "additive white Gaussian noise, applied before unit subsampling (method.md §5)",
        [AWGN]
    ),
    b!(
        "poisson",
        Noise,
        "noise",
        "Poisson spike counts of rectified activations, read out as rates (issue 23)",
        [POISSON]
    ),
    b!(
        "calcium",
        Noise,
        "noise",
        "calcium imaging: Poisson spikes, double-exponential kernel, Hill saturation, shot and read noise, mean ΔF/F per stimulus",
        [CALCIUM]
    ),
    b!(
        "random_forest",
        Classifier,
        "classifier",
        "random forest (gini, bootstrap, per-split feature sampling)",
        [RF]
    ),
    b!(
        "linear_svm",
        Classifier,
        "classifier",
        "one-vs-rest linear SVM (squared hinge, L2), optionally after PCA",
        [SVM]
    ),
    b!(
        "conv1d",
        Classifier,
        "classifier",
        "one 1-D convolution over time, then a linear read-out (method.md §3.4)",
        [CONV1D]
    ),
    b!(
        "balanced",
        Split,
        "split",
        "category-balanced random train/test splits",
        [BALANCED]
    ),
    b!(
        "stratified_kfold",
        Cv,
        "cv",
        "stratified k-fold cross-validation on the training part",
        [KFOLD]
    ),
];

/// Every builtin, grouped by kind in documentation order: tasks, architectures, rules, then the
/// rest (each family's list lives with its schemas and typed config).
pub static BUILTINS: std::sync::LazyLock<Vec<&'static Builtin>> = std::sync::LazyLock::new(|| {
    [tasks::TASKS, arch::ARCHS, rules::RULES, OTHERS]
        .iter()
        .flat_map(|f| f.iter())
        .collect()
});

/// Looks up a builtin by name.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().copied().find(|b| b.name == name)
}

/// Names of every builtin of a kind.
pub fn names_of(kind: Kind) -> Vec<&'static str> {
    BUILTINS
        .iter()
        .filter(|b| b.kind == kind)
        .map(|b| b.name)
        .collect()
}

// ------------------------------------------------------------------------------------------
// Vocabularies of the observables (method.md §1)

/// Measures, with accepted aliases.
pub const MEASURES: &[&str] = &["weight", "act", "gradavg"];
/// Other names accepted for a measure, as (alias, measure).
pub const MEASURE_ALIASES: &[(&str, &str)] = &[
    ("activation", "act"),
    ("activity_change", "gradavg"),
    ("weights", "weight"),
];
/// Functions applied to a measure before its statistic (`raw`, `abs`, `sq`).
pub const FUNCTIONS: &[&str] = &["raw", "abs", "sq"];
/// Statistics of `weight` and `act` over a layer's values (`method.md` §1).
pub const STATISTICS: &[&str] = &[
    "norm",
    "mean",
    "median",
    "thirdquartile",
    "var",
    "skew",
    "kurtosis",
];
/// The only statistic of `gradavg` (one value per stimulus).
pub const GRADAVG_STATISTICS: &[&str] = &["id"];
/// Quantile conventions (`observe { quantile = ... }`): [`crate::ir::QuantileConvention`]'s names.
pub const QUANTILE_CONVENTIONS: &[&str] = crate::ir::QuantileConvention::NAMES;
/// Skewness conventions (`observe { skew = ... }`): [`crate::ir::SkewConvention`]'s names.
pub const SKEW_CONVENTIONS: &[&str] = crate::ir::SkewConvention::NAMES;
/// Kurtosis conventions (`observe { kurtosis = ... }`): [`crate::ir::KurtosisConvention`]'s names.
pub const KURTOSIS_CONVENTIONS: &[&str] = crate::ir::KurtosisConvention::NAMES;
/// Paths of `gradavg`'s Jacobian (`observe { jacobian_via = ... }`): [`crate::ir::JacobianMode`]'s names.
pub const JACOBIAN_VIA: &[&str] = crate::ir::JacobianMode::NAMES;
/// Floating-point type of the statistics (`observe { precision = ... }`): [`crate::ir::Precision`]'s names.
pub const PRECISIONS: &[&str] = crate::ir::Precision::NAMES;
/// Device names of `study { device = ... }` (`"cuda:N"` picks a GPU too).
pub const DEVICES: &[&str] = &["cpu", "cuda", "auto"];
/// The measure subsets a classifier reads, as `lrx doc` lists them (`all`: every observable;
/// `classify { measures = ... }` also takes `perf` and the measures' aliases).
pub const MEASURE_SUBSETS: &[&str] = &["weight", "act", "gradavg", "all"];
/// Portions of training a trajectory can be cut into (`classify { portions = ... }`).
pub const PORTIONS: &[&str] = &["thirds", "sevenths"];
/// Formats of the report (`report { format = ... }`).
pub const REPORT_FORMATS: &[&str] = &["html", "markdown"];

/// Canonical measure name for a name or alias.
pub fn measure(name: &str) -> Option<&'static str> {
    MEASURES.iter().find(|m| **m == name).copied().or_else(|| {
        MEASURE_ALIASES
            .iter()
            .find(|(a, _)| *a == name)
            .map(|(_, m)| *m)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_params_too() {
        let mut seen = std::collections::BTreeSet::new();
        for b in BUILTINS.iter().copied() {
            assert!(seen.insert(b.name), "duplicate builtin {}", b.name);
            let mut ps = std::collections::BTreeSet::new();
            for p in b.params() {
                assert!(ps.insert(p.name), "duplicate param {}.{}", b.name, p.name);
                assert!(!p.doc.is_empty());
            }
        }
    }

    #[test]
    fn defaults_have_their_types() {
        for b in BUILTINS.iter().copied() {
            for p in b.params() {
                if let Some(v) = p.default.to_value() {
                    let ok = p.ty.admits(&v);
                    assert!(
                        ok,
                        "{}.{} default {v} is not {}",
                        b.name,
                        p.name,
                        p.ty.describe()
                    );
                }
            }
        }
    }
}
