//! The registry of builtins: every task, architecture, learning rule, schedule, noise model,
//! classifier, split and cross-validation scheme a spec can name, each with a typed parameter
//! schema, plus the fixed vocabularies (measures, functions, statistics, conventions).
//! The checker resolves names here; `lrx doc --stdlib` renders it (docs/reference/builtins.md).

pub mod arch;
pub mod cochlea;
pub mod config;
pub mod later;
pub mod schema;

pub use arch::ArchConfig;
pub use config::{ConfigError, Objective, RuleConfig, TaskConfig, complete};

use schema::{COUNT, NONNEG, SEED};
use schema::{Default as D, POS, Param, Ty, UNIT, p, pu};

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
    /// A noise model of the realism conditions (`awgn`).
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
// Tasks

use config::OBJECTIVES;
/// How folder tasks read their examples (`engine::store::Load`).
pub const LOAD_MODES: &[&str] = &["auto", "memory", "stream"];

const TASK_COMMON: &[Param] = &[
    p(
        "objective",
        Ty::Enum(OBJECTIVES),
        D::S("supervised"),
        "supervised cross-entropy, or SimCLR-style contrastive learning (two augmented views, NT-Xent)",
    ),
    p(
        "temperature",
        Ty::Float {
            min: 1e-6,
            max: 100.0,
        },
        D::F(1.0),
        "NT-Xent temperature for the contrastive objective (UNCERTAIN in the paper; the authors' code default is 1.0)",
    ),
    p(
        "flip",
        Ty::Bool,
        D::B(true),
        "random horizontal flips during training",
    ),
    pu(
        "shift",
        Ty::Int { min: 0, max: 64 },
        D::I(4),
        "pixels",
        "random translation (pad and crop) during training (UNCERTAIN for CIFAR: the paper's shift range is not given)",
    ),
    p(
        "color",
        UNIT,
        D::F(0.5),
        "colour-jitter strength of the contrastive views",
    ),
    p(
        "blur",
        Ty::Bool,
        D::B(true),
        "random Gaussian blur of the contrastive views (training only)",
    ),
];

const SYNTHETIC: &[Param] = &[
    pu(
        "size",
        Ty::Int { min: 8, max: 512 },
        D::I(32),
        "pixels",
        "image height and width",
    ),
    p(
        "channels",
        Ty::Int { min: 1, max: 4 },
        D::I(3),
        "image channels",
    ),
    p(
        "classes",
        Ty::Int { min: 2, max: 1000 },
        D::I(10),
        "number of classes",
    ),
    p("train", COUNT, D::I(5000), "training images"),
    p(
        "val",
        COUNT,
        D::I(1000),
        "validation images (observation stimuli come from these)",
    ),
    p(
        "seed",
        SEED,
        D::I(0),
        "seed of the generated data set (separate from model and data-order seeds)",
    ),
    p(
        "noise",
        Ty::Float {
            min: 0.0,
            max: 10.0,
        },
        D::F(0.3),
        "pixel noise standard deviation",
    ),
];

const CIFAR: &[Param] = &[
    p(
        "path",
        Ty::Str,
        D::Required,
        "directory with data_batch_1.bin … data_batch_5.bin and test_batch.bin",
    ),
    p(
        "train",
        NONNEG,
        D::I(0),
        "use only the first N training images (0 = all 50,000)",
    ),
    p(
        "val",
        NONNEG,
        D::I(0),
        "use only the first N test images as validation (0 = all 10,000)",
    ),
];

const FASHION: &[Param] = &[
    p(
        "path",
        Ty::Str,
        D::S(crate::idx::FASHION_MNIST_DIR),
        "directory with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each plain or .gz); the default is where `sudo apt-get install dataset-fashion-mnist` puts them; not part of run ids",
    ),
    p(
        "train",
        NONNEG,
        D::I(0),
        "use N of the 60,000 training images, drawn without replacement from `seed` and kept in file order (0 = all)",
    ),
    p(
        "val",
        NONNEG,
        D::I(0),
        "use N of the 10,000 test images as validation, drawn the same way (0 = all)",
    ),
    pu(
        "size",
        Ty::Int { min: 28, max: 512 },
        D::I(28),
        "pixels",
        "input height and width: the 28 × 28 images are zero-padded, centred, to size × size (32 = CIFAR's size, where KNet4's top map is 4 × 4); never resized",
    ),
    p(
        "seed",
        NONNEG,
        D::I(0),
        "seed of the `train` and `val` subsets (unused when both are 0)",
    ),
];

const IDX: &[Param] = &[
    p(
        "path",
        Ty::Str,
        D::Required,
        "directory with the four IDX files (unsigned-byte images and labels, each plain or .gz)",
    ),
    p(
        "train_images",
        Ty::Str,
        D::S("train-images-idx3-ubyte"),
        "training images in `path` (`.gz` appended when only that file exists); not part of run ids",
    ),
    p(
        "train_labels",
        Ty::Str,
        D::S("train-labels-idx1-ubyte"),
        "training labels in `path`, as `train_images`",
    ),
    p(
        "val_images",
        Ty::Str,
        D::S("t10k-images-idx3-ubyte"),
        "validation images in `path`, as `train_images`",
    ),
    p(
        "val_labels",
        Ty::Str,
        D::S("t10k-labels-idx1-ubyte"),
        "validation labels in `path`, as `train_images`",
    ),
    p(
        "classes",
        Ty::Int { min: 2, max: 256 },
        D::I(10),
        "number of classes: every label must be below it; fixes the output layer",
    ),
    p(
        "train",
        NONNEG,
        D::I(0),
        "use N of the training images, drawn without replacement from `seed` and kept in file order (0 = all)",
    ),
    p(
        "val",
        NONNEG,
        D::I(0),
        "use N of the validation images, drawn the same way (0 = all)",
    ),
    pu(
        "size",
        Ty::Int { min: 1, max: 512 },
        D::I(28),
        "pixels",
        "input height and width: images are zero-padded, centred, to size × size (at least the images' own size; never resized)",
    ),
    p(
        "seed",
        NONNEG,
        D::I(0),
        "seed of the `train` and `val` subsets (unused when both are 0)",
    ),
];

const FOLDER: &[Param] = &[
    p(
        "path",
        Ty::Str,
        D::Required,
        "training directory with one sub-directory of images per class",
    ),
    p(
        "val_path",
        Ty::Str,
        D::S(""),
        "validation directory of the same layout (empty: hold out `val_fraction` of `path`)",
    ),
    p(
        "val_fraction",
        Ty::Fraction,
        D::F(0.1),
        "fraction of `path` held out for validation when `val_path` is empty",
    ),
    p(
        "load",
        Ty::Enum(LOAD_MODES),
        D::S("auto"),
        "how examples are read: `memory` decodes them all before training, `stream` decodes each batch from disk (one batch ahead, in parallel), `auto` keeps them in memory when they need at most half the memory available; results are the same either way, and it is not part of run ids",
    ),
    pu(
        "size",
        Ty::Int { min: 8, max: 1024 },
        D::I(224),
        "pixels",
        "images are resized to size × size",
    ),
    p(
        "channels",
        Ty::Int { min: 1, max: 4 },
        D::I(3),
        "1 = grayscale, 3 = RGB",
    ),
    p(
        "classes",
        NONNEG,
        D::I(0),
        "number of classes (0 = the number of class directories); fixes the output layer for the plan",
    ),
    p(
        "seed",
        SEED,
        D::I(0),
        "seed of the validation hold-out drawn with `val_fraction`",
    ),
];

/// Cochleagram front end of the audio tasks (method.md §7; docs/audio.md).
const COCHLEA: &[Param] = &[
    pu(
        "sample_rate",
        Ty::Float {
            min: 1000.0,
            max: 192_000.0,
        },
        D::F(20_000.0),
        "Hz",
        "waveform sampling rate; clips at other rates are resampled to it (Fourier method)",
    ),
    pu(
        "filters",
        Ty::Int { min: 1, max: 512 },
        D::I(50),
        "filters",
        "ERB-spaced half-cosine filters at sample factor 1 (the cochleagram has sample_factor·(filters+1)−1 rows: 203 for the paper)",
    ),
    pu(
        "low_hz",
        Ty::Float {
            min: 1.0,
            max: 96_000.0,
        },
        D::F(20.0),
        "Hz",
        "lowest filter edge",
    ),
    pu(
        "high_hz",
        Ty::Float {
            min: 1.0,
            max: 96_000.0,
        },
        D::F(8000.0),
        "Hz",
        "highest filter edge (at most sample_rate / 2)",
    ),
    p(
        "sample_factor",
        Ty::Int { min: 1, max: 16 },
        D::I(4),
        "filter overcomplete factor (filters per ERB band)",
    ),
    pu(
        "env_rate",
        Ty::Float {
            min: 1.0,
            max: 192_000.0,
        },
        D::F(200.0),
        "Hz",
        "envelope sampling rate: the cochleagram has duration·env_rate columns",
    ),
    p(
        "power",
        Ty::Float {
            min: 1e-3,
            max: 10.0,
        },
        D::F(0.3),
        "compression exponent applied to the clipped envelopes",
    ),
    p(
        "envelope",
        Ty::Enum(crate::registry::cochlea::Envelope::NAMES),
        D::S("exact"),
        "sub-band envelopes at the full sampling rate (`exact`, as pycochleagram), or `fast`: each band at 8× its width, about 5× faster and within 2 % of exact on the tests' clips, more at single points of long clips (docs/audio.md)",
    ),
];

const SYNTH_AUDIO: &[Param] = &[
    pu(
        "duration",
        Ty::Float {
            min: 0.01,
            max: 60.0,
        },
        D::F(0.5),
        "s",
        "clip length",
    ),
    p(
        "classes",
        Ty::Int { min: 2, max: 18 },
        D::I(10),
        "number of classes (6 vowels × 3 temporal patterns at most)",
    ),
    p("train", COUNT, D::I(2000), "training clips"),
    p(
        "val",
        COUNT,
        D::I(400),
        "validation clips (observation stimuli come from these)",
    ),
    p(
        "seed",
        SEED,
        D::I(0),
        "seed of the generated data set (separate from model and data-order seeds)",
    ),
    p(
        "noise",
        Ty::Float {
            min: 0.0,
            max: 10.0,
        },
        D::F(0.3),
        "white-noise standard deviation relative to the clip's RMS",
    ),
];

const AUDIO_FOLDER: &[Param] = &[
    p(
        "path",
        Ty::Str,
        D::Required,
        "training directory with one sub-directory of .wav files per class",
    ),
    p(
        "val_path",
        Ty::Str,
        D::S(""),
        "validation directory of the same layout (empty: hold out `val_fraction` of `path`)",
    ),
    p(
        "val_fraction",
        Ty::Fraction,
        D::F(0.1),
        "fraction of `path` held out for validation when `val_path` is empty",
    ),
    p(
        "load",
        Ty::Enum(LOAD_MODES),
        D::S("auto"),
        "how examples are read: `memory` decodes them all before training, `stream` decodes each batch from disk (one batch ahead, in parallel), `auto` keeps them in memory when they need at most half the memory available; results are the same either way, and it is not part of run ids",
    ),
    pu(
        "duration",
        Ty::Float {
            min: 0.01,
            max: 60.0,
        },
        D::F(2.0),
        "s",
        "clip length: longer files are cut to their first `duration` seconds, shorter ones zero-padded",
    ),
    p(
        "classes",
        NONNEG,
        D::I(0),
        "number of classes (0 = the number of class directories); fixes the output layer for the plan",
    ),
    p("seed", SEED, D::I(0), "seed of the validation hold-out"),
];

// ------------------------------------------------------------------------------------------
// Architectures

const ARCH_COMMON: &[Param] = &[
    p(
        "width",
        Ty::Float {
            min: 0.01,
            max: 16.0,
        },
        D::F(1.0),
        "multiplier on every channel and hidden-unit count (1 = the paper's size)",
    ),
    pu(
        "input_size",
        Ty::Int { min: 1, max: 4096 },
        D::FromTask,
        "pixels",
        "set from the task",
    ),
    p(
        "in_channels",
        Ty::Int { min: 1, max: 64 },
        D::FromTask,
        "set from the task",
    ),
    p("classes", COUNT, D::FromTask, "set from the task"),
];
const LRN: &[Param] = &[p(
    "lrn",
    Ty::Bool,
    D::B(false),
    "local response normalisation variant (method.md §7)",
)];
const KNET_INITS: &[&str] = &["paper", "he"];
const KNET_INIT: &[Param] = &[p(
    "init",
    Ty::Enum(KNET_INITS),
    D::S("paper"),
    "weight initialisation: `paper` = method.md §7 (conv1 N(0, 1e-4²), the rest N(0, 0.01²); SGD needs hundreds of epochs to leave the initial plateau), `he` = N(0, 2/fan_in) for ReLU layers and N(0, 1/fan_in) for conv1 and the classifier (learns in a few epochs: laptop-scale studies)",
)];
const ALEX: &[Param] = &[p(
    "dropout",
    Ty::Float {
        min: 0.0,
        max: 0.99,
    },
    D::F(0.5),
    "dropout on fc6 and fc7 during training",
)];
const RESNET: &[Param] = &[p(
    "version",
    Ty::Int { min: 1, max: 2 },
    D::I(1),
    "1 = original (post-activation), 2 = pre-activation",
)];
const MLP: &[Param] = &[p(
    "hidden",
    Ty::IntList {
        min: 1,
        max: 1 << 20,
    },
    D::IL(&[256, 128]),
    "hidden layer sizes (before the width multiplier)",
)];

// ------------------------------------------------------------------------------------------
// Learning rules (method.md §6)

const OPTIMIZERS: &[&str] = &["sgdm", "adam"];
const SGDM: &[Param] = &[
    p(
        "momentum",
        Ty::Float {
            min: 0.0,
            max: 0.9999,
        },
        D::F(0.9),
        "momentum",
    ),
    p(
        "nesterov",
        Ty::Bool,
        D::B(true),
        "Nesterov momentum (TF `use_nesterov=True`)",
    ),
];
const ADAM: &[Param] = &[
    p(
        "beta1",
        Ty::Float {
            min: 0.0,
            max: 0.9999,
        },
        D::F(0.9),
        "Adam β1",
    ),
    p(
        "beta2",
        Ty::Float {
            min: 0.0,
            max: 0.999999,
        },
        D::F(0.999),
        "Adam β2",
    ),
    p(
        "eps",
        Ty::Float { min: 0.0, max: 1.0 },
        D::F(1e-8),
        "Adam ε",
    ),
];
const ALIGN_RATE: &[Param] = &[p(
    "alignment_rate",
    POS,
    D::F(1.0),
    "weight of the alignment loss Σ R_l in the total loss",
)];
/// Options of every rule (docs/engine.md "Regime options").
const LAYER_RATE: &[Param] = &[p(
    "hidden_lr_scale",
    Ty::Float {
        min: 0.0,
        max: 1000.0,
    },
    D::F(1.0),
    "learning rate of every parameter but the classifier's (its W and bias) and B, as a multiple of the run's learning rate; 0 freezes them at their initial values (the readout-only control: a linear classifier on the random features). Not the paper's protocol",
)];
/// Options of every rule with backward weights B (docs/engine.md "Regime options").
const BACKWARD_INIT: &[Param] = &[
    p(
        "backward_init",
        Ty::Enum(&["independent", "same_draws"]),
        D::S("independent"),
        "initial backward weights B: drawn independently of W from the same initialiser, or `same_draws`, the paper code's seeding quirk (method.md §6: conv B = W, dense B = W's draws reshaped)",
    ),
    p(
        "constrain_norm",
        Ty::Bool,
        D::B(false),
        "after every step that moves W, rescale each layer's W (not its bias) to its initial Frobenius norm (BioTorch's `constrain_weights`, after Moskovitz et al. 2018); not the paper's protocol",
    ),
    p(
        "top_feedback",
        Ty::Enum(&["random", "shared"]),
        D::S("random"),
        "the classifier's B: `random` (the paper) or `shared`, constant over the spatial positions of each channel of the flattened C×H×W map it reads (knet4, knet5; drawn as [classes, C] with B's initialiser, broadcast over H×W; a learning B keeps that form). Not the paper's protocol",
    ),
];
/// Options of the rules whose B learns (docs/engine.md "Regime options").
const LEARNED_B: &[Param] = &[
    p(
        "b_optimizer",
        Ty::Enum(&["same", "sgdm", "adam"]),
        D::S("same"),
        "optimizer of B (NA's `alignment_optimizer`): `same` = the rule's `optimizer`, or a separate SGDM or Adam with the rule's momentum/nesterov or beta1/beta2/eps",
    ),
    p(
        "b_lr_scale",
        Ty::Float {
            min: 0.0,
            max: f64::INFINITY,
        },
        D::F(1.0),
        "B's learning rate as a multiple of the run's learning rate at each step (schedule and batch rescaling included)",
    ),
    p(
        "alternate",
        Ty::Int {
            min: 0,
            max: 1_000_000,
        },
        D::I(0),
        "NA's `alternate_step_freq`: 0 = task and alignment in every step; k > 0 = global step s (from 0) is an alignment step (only B moves, by the alignment loss) when s mod (k+1) = 0, else a task step (no alignment loss, B does not move except Kolen-Pollack's tied gradient)",
    ),
    p(
        "constrain_b_norm",
        Ty::Bool,
        D::B(false),
        "after every step that moves B, rescale each layer's B to its initial Frobenius norm (B's direction learns, its size stays; for an alignment loss whose amp term grows B without bound); not the paper's protocol",
    ),
];
const FA: &[Param] = &[p(
    "optimizer",
    Ty::Enum(OPTIMIZERS),
    D::S("adam"),
    "optimizer of the pseudogradient (the paper: Adam)",
)];
const IA: &[Param] = &[
    p(
        "optimizer",
        Ty::Enum(OPTIMIZERS),
        D::S("sgdm"),
        "optimizer (the paper: SGDM, Nesterov)",
    ),
    p(
        "alpha",
        POS,
        D::F(2e-3),
        "weight of the amp term (UNCERTAIN: the paper's TPE values are not public)",
    ),
    p("beta", POS, D::F(1e-3), "weight of the null term"),
    p("gamma", POS, D::F(1e-3), "weight of the decay term"),
    p(
        "reconstruction_amp",
        Ty::Bool,
        D::B(false),
        "amp(x, R_f) instead of amp(P_f, P_b)",
    ),
    p(
        "reconstruction_reversal",
        Ty::Bool,
        D::B(false),
        "null(0, R_b) instead of null(R_f, 0)",
    ),
    p(
        "use_sparse",
        Ty::Bool,
        D::B(false),
        "sparse instead of decay",
    ),
    p(
        "batch_center_backward_input",
        Ty::Bool,
        D::B(false),
        "subtract the batch mean of x before the backward projection",
    ),
    p(
        "projection_bias",
        Ty::Bool,
        D::B(false),
        "add the layer's bias (stop-gradient) to both projections, P_f = op(x, W) + b and P_b = op(x_b, B) + b (NA's `use_bias_forward` and `use_bias_backward`, on in NA's training script)",
    ),
];
const SYM: &[Param] = &[
    p("optimizer", Ty::Enum(OPTIMIZERS), D::S("sgdm"), "optimizer"),
    p("alpha", POS, D::F(1e-3), "weight of the decay term"),
    p("beta", POS, D::F(2e-3), "weight of the self term"),
];
const ACT: &[Param] = &[
    p("optimizer", Ty::Enum(OPTIMIZERS), D::S("sgdm"), "optimizer"),
    p("alpha", POS, D::F(1e-3), "weight of the sparse term"),
    p("beta", POS, D::F(2e-3), "weight of the amp term"),
    p(
        "batch_center_backward_input",
        Ty::Bool,
        D::B(false),
        "subtract the batch mean of x before the backward projection",
    ),
];
const MIRROR: &[Param] = &[
    p("optimizer", Ty::Enum(OPTIMIZERS), D::S("sgdm"), "optimizer"),
    p("alpha", POS, D::F(1e-3), "weight of the decay term"),
    p("beta", POS, D::F(1e-3), "weight of the amp term"),
    p(
        "input_noise",
        Ty::Enum(&["none", "normal", "uniform"]),
        D::S("none"),
        "the input of the alignment loss: the layer's input x (`none`), or noise of x's shape drawn at every step, N(0, input_stddev²) (`normal`) or U(−input_stddev, input_stddev) (`uniform`), as Kunin et al. run the weight mirror (NA's `input_distribution`)",
    ),
    p(
        "input_stddev",
        POS,
        D::F(1.0),
        "scale of the noise inputs (`input_noise` `normal` or `uniform`)",
    ),
];
const KP: &[Param] = &[
    p("optimizer", Ty::Enum(OPTIMIZERS), D::S("sgdm"), "optimizer"),
    p("alpha", POS, D::F(1e-3), "weight of the decay term"),
];

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

macro_rules! b {
    ($name:expr, $kind:ident, $family:expr, $doc:expr, [$($g:expr),*]) => {
        Builtin { name: $name, kind: Kind::$kind, family: $family, doc: $doc, params: &[$($g),*] }
    };
}

/// Every builtin, grouped by kind in documentation order.
pub static BUILTINS: &[Builtin] = &[
    b!(
        "synthetic_images",
        Task,
        "synthetic",
        "procedural image classification (shapes, textures, positions, noise), generated from a seed: the embedded default, no download",
        [SYNTHETIC, TASK_COMMON]
    ),
    b!(
        "cifar10",
        Task,
        "cifar10",
        "CIFAR-10 in its binary format, read from `path` (32×32×3, 10 classes)",
        [CIFAR, TASK_COMMON]
    ),
    b!(
        "fashion_mnist",
        Task,
        "fashion_mnist",
        "Fashion-MNIST (Zalando; 28×28 grayscale clothing, 10 classes, 60,000 training and 10,000 test images) from its IDX files; `sudo apt-get install dataset-fashion-mnist` installs them at the default `path`",
        [FASHION, TASK_COMMON]
    ),
    b!(
        "idx_images",
        Task,
        "idx_images",
        "any data set in the MNIST (IDX) format: unsigned-byte images (one channel) and labels, plain or gzip, read from `path`",
        [IDX, TASK_COMMON]
    ),
    b!(
        "image_folder",
        Task,
        "image_folder",
        "images in one directory per class (ImageNet layout), read from `path`",
        [FOLDER, TASK_COMMON]
    ),
    b!(
        "synthetic_audio",
        Task,
        "synthetic_audio",
        "procedural word-like sounds (vowel formants × temporal pattern, random pitch, timing and noise) as cochleagrams: the embedded audio default, no download; image flips are not applied to audio",
        [SYNTH_AUDIO, COCHLEA, TASK_COMMON]
    ),
    b!(
        "audio_folder",
        Task,
        "audio_folder",
        "WAV files in one directory per class (the paper's WSN layout), read from `path`, as cochleagrams; image flips are not applied to audio",
        [AUDIO_FOLDER, COCHLEA, TASK_COMMON]
    ),
    b!(
        "knet4",
        Arch,
        "knet",
        "KNet4: conv1–conv3 (5×5) and fc4, CIFAR-sized (method.md §7)",
        [LRN, KNET_INIT, ARCH_COMMON]
    ),
    b!(
        "knet5",
        Arch,
        "knet",
        "KNet5: KNet4 with conv4 (128 filters) before the classifier",
        [LRN, KNET_INIT, ARCH_COMMON]
    ),
    b!(
        "alexnet",
        Arch,
        "alexnet",
        "AlexNet: conv1–conv5, fc6–fc8",
        [LRN, ALEX, ARCH_COMMON]
    ),
    b!(
        "resnet18",
        Arch,
        "resnet",
        "ResNet-18 (v1 or v2), 22 learnable layers",
        [RESNET, ARCH_COMMON]
    ),
    b!(
        "resnet34",
        Arch,
        "resnet",
        "ResNet-34 (v1 or v2), 38 learnable layers",
        [RESNET, ARCH_COMMON]
    ),
    b!(
        "mlp",
        Arch,
        "mlp",
        "a multilayer perceptron on flattened inputs",
        [MLP, ARCH_COMMON]
    ),
    b!(
        "sgdm",
        Rule,
        "backprop",
        "backpropagation with SGD and Nesterov momentum",
        [SGDM, LAYER_RATE]
    ),
    b!(
        "adam",
        Rule,
        "backprop",
        "backpropagation with Adam",
        [ADAM, LAYER_RATE]
    ),
    b!(
        "fa",
        Rule,
        "alignment",
        "feedback alignment: dx = dy·B with B random and fixed",
        [FA, SGDM, ADAM, BACKWARD_INIT, LAYER_RATE]
    ),
    b!(
        "ia",
        Rule,
        "alignment",
        "information alignment: B trained by α·amp + β·null + γ·decay",
        [
            IA,
            SGDM,
            ADAM,
            ALIGN_RATE,
            LEARNED_B,
            BACKWARD_INIT,
            LAYER_RATE
        ]
    ),
    b!(
        "symmetric",
        Rule,
        "alignment",
        "symmetric alignment: B trained by α·decay + β·self",
        [
            SYM,
            SGDM,
            ADAM,
            ALIGN_RATE,
            LEARNED_B,
            BACKWARD_INIT,
            LAYER_RATE
        ]
    ),
    b!(
        "activation",
        Rule,
        "alignment",
        "activation alignment: B trained by α·sparse + β·amp",
        [
            ACT,
            SGDM,
            ADAM,
            ALIGN_RATE,
            LEARNED_B,
            BACKWARD_INIT,
            LAYER_RATE
        ]
    ),
    b!(
        "weight_mirror",
        Rule,
        "alignment",
        "weight mirror: B trained by α·decay + β·amp",
        [
            MIRROR,
            SGDM,
            ADAM,
            ALIGN_RATE,
            LEARNED_B,
            BACKWARD_INIT,
            LAYER_RATE
        ]
    ),
    b!(
        "kolen_pollack",
        Rule,
        "alignment",
        "Kolen-Pollack: B receives W's gradient (tied), plus α·decay",
        [
            KP,
            SGDM,
            ADAM,
            ALIGN_RATE,
            LEARNED_B,
            BACKWARD_INIT,
            LAYER_RATE
        ]
    ),
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

/// Looks up a builtin by name.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
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
        for b in BUILTINS {
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
        for b in BUILTINS {
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
