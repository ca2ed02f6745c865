//! The tasks (method.md §7): each task's parameter schema, its entry in [`super::BUILTINS`]
//! (`TASKS`) and its typed form [`TaskConfig`], parsed once from a completed call and taken
//! by the engine's readers (docs/architecture.md "Where to add things").

use super::cochlea::CochleaParams;
use super::config::{Params, Result, unknown};
use super::schema::{COUNT, Default as D, NONNEG, Param, SEED, Ty, UNIT, p, pu};
use super::{Builtin, Kind};
use crate::value::Call;
use std::path::PathBuf;

use super::config::OBJECTIVES;
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

/// Training and validation set sizes a task is assumed to have before it is read (the cost
/// model's and the checker's stimulus checks): its `train`/`val` when set, else the data
/// set's own size (or, for folders, ImageNet's and Word-Speaker-Noise's).
pub fn task_sizes(task: &crate::value::Call) -> (f64, f64) {
    let get = |k: &str, d: f64| task.i64(k).filter(|&n| n > 0).map_or(d, |n| n as f64);
    match task.name.as_str() {
        "synthetic_images" => (get("train", 5000.0), get("val", 1000.0)),
        "cifar10" => (get("train", 50_000.0), get("val", 10_000.0)),
        // `idx_images` is assumed to be MNIST-sized until it is read.
        "fashion_mnist" | "idx_images" => (get("train", 60_000.0), get("val", 10_000.0)),
        "synthetic_audio" => (get("train", 2000.0), get("val", 400.0)),
        // An audio folder's size is unknown until it is read: assume WSN's (method.md §7).
        "audio_folder" => (5_810_600.0, 369_864.0),
        // An image folder's size is unknown until it is read: assume ImageNet's.
        _ => (1_281_167.0, 50_000.0),
    }
}

/// The tasks' builtins, in documentation order.
pub(super) const TASKS: &[Builtin] = &[
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
];

/// `synthetic_images`: procedural images generated from a seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticImages {
    /// Image side in pixels.
    pub size: i64,
    /// Colour channels.
    pub channels: i64,
    /// Classes (shape × texture combinations).
    pub classes: i64,
    /// Training images.
    pub train: i64,
    /// Validation images.
    pub val: i64,
    /// Seed of the generator.
    pub seed: u64,
    /// Standard deviation of the pixel noise (in [0, 1] intensity units).
    pub noise: f64,
}

/// `cifar10`: CIFAR-10's binary batches.
#[derive(Debug, Clone, PartialEq)]
pub struct Cifar10 {
    /// The directory holding `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`.
    pub path: PathBuf,
    /// Use only the first `train` training images (0 = all).
    pub train: i64,
    /// Use only the first `val` test images (0 = all).
    pub val: i64,
}

/// `fashion_mnist` and `idx_images`: unsigned-byte images and labels in the IDX format.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxImages {
    /// Fashion-MNIST (fixed file names, 10 classes) rather than `idx_images`.
    pub fashion: bool,
    /// The directory holding the four files (plain or gzip).
    pub path: PathBuf,
    /// The four file names (Fashion-MNIST's: the MNIST names).
    pub files: crate::idx::Files,
    /// Classes: labels are in [0, classes).
    pub classes: i64,
    /// Side the images are zero-padded to, centred, in pixels.
    pub size: i64,
    /// Training images drawn from `seed` (0 = all, in file order).
    pub train: i64,
    /// Validation images drawn from `seed` (0 = all, in file order).
    pub val: i64,
    /// Seed of those draws.
    pub seed: u64,
}

/// Where a folder task's examples are and how it reads them (`image_folder`,
/// `audio_folder`).
#[derive(Debug, Clone, PartialEq)]
pub struct Folder {
    /// The directory of class directories (or, for images, of `train/` and `val/`).
    pub path: PathBuf,
    /// The validation directory (`val_path`; `None` when empty).
    pub val_path: Option<PathBuf>,
    /// Without a validation directory, this fraction of each class validates.
    pub val_fraction: f64,
    /// `auto`, `memory` or `stream` (`registry::LOAD_MODES`; the engine's `store::Load`).
    pub load: String,
    /// Seed of the per-class shuffle that picks the validation fraction.
    pub seed: u64,
}

/// `image_folder`: images in one directory per class.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFolder {
    /// The files and how they are read.
    pub folder: Folder,
    /// Side the images are resized to, in pixels.
    pub size: i64,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: i64,
}

/// `synthetic_audio`: procedural word-like sounds as cochleagrams.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticAudio {
    /// The cochleagram front end (also the clips' rate and duration).
    pub cochlea: CochleaParams,
    /// Classes (vowel × temporal pattern).
    pub classes: i64,
    /// Training clips.
    pub train: i64,
    /// Validation clips.
    pub val: i64,
    /// Seed of the generator.
    pub seed: u64,
    /// Standard deviation of the added noise, relative to the clip's amplitude.
    pub noise: f64,
}

/// `audio_folder`: WAV files in one directory per class, as cochleagrams.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioFolder {
    /// The files and how they are read.
    pub folder: Folder,
    /// The cochleagram front end (also the clips' rate and duration).
    pub cochlea: CochleaParams,
}

/// A task's completed call, typed: what `exec::engine::data::Task` reads its examples from.
/// The objective's parameters (`objective`, `flip`, ...) are not part of it
/// ([`super::Objective`]).
#[derive(Debug, Clone, PartialEq)]
pub enum TaskConfig {
    /// `synthetic_images`.
    SyntheticImages(SyntheticImages),
    /// `cifar10`.
    Cifar10(Cifar10),
    /// `fashion_mnist` or `idx_images`.
    Idx(IdxImages),
    /// `image_folder`.
    ImageFolder(ImageFolder),
    /// `synthetic_audio`.
    SyntheticAudio(SyntheticAudio),
    /// `audio_folder`.
    AudioFolder(AudioFolder),
}

impl TaskConfig {
    /// The config of a completed task call.
    pub fn from_call(call: &Call) -> Result<TaskConfig> {
        let p = &Params(call);
        let path = || p.str("path").map(PathBuf::from);
        let folder = || -> Result<Folder> {
            let val_path = call.str("val_path").unwrap_or("");
            Ok(Folder {
                path: path()?,
                val_path: (!val_path.is_empty()).then(|| PathBuf::from(val_path)),
                val_fraction: p.f64("val_fraction")?,
                load: call.str("load").unwrap_or("auto").to_string(),
                seed: p.seed("seed")?,
            })
        };
        let cochlea = || -> Result<CochleaParams> {
            let c = CochleaParams::from_call(call);
            match c.problems().into_iter().next() {
                Some((param, msg)) => Err(p.bad(param, msg)),
                None => Ok(c),
            }
        };
        Ok(match call.name.as_str() {
            "synthetic_images" => TaskConfig::SyntheticImages(SyntheticImages {
                size: p.pos_i64("size")?,
                channels: p.pos_i64("channels")?,
                classes: p.pos_i64("classes")?,
                train: p.pos_i64("train")?,
                val: p.pos_i64("val")?,
                seed: p.seed("seed")?,
                noise: p.f64("noise")?,
            }),
            "cifar10" => TaskConfig::Cifar10(Cifar10 {
                path: path()?,
                train: call.i64("train").unwrap_or(0),
                val: call.i64("val").unwrap_or(0),
            }),
            n @ ("fashion_mnist" | "idx_images") => {
                let fashion = n == "fashion_mnist";
                let path = path()?;
                let files = if fashion {
                    crate::idx::Files::default()
                } else {
                    crate::idx::Files::of(&call.params)
                };
                let classes = if fashion { 10 } else { p.pos_i64("classes")? };
                if !(2..=256).contains(&classes) {
                    return Err(p.bad("classes", "must be in [2, 256] (IDX labels are bytes)"));
                }
                TaskConfig::Idx(IdxImages {
                    fashion,
                    path,
                    files,
                    classes,
                    size: p.pos_i64("size")?,
                    train: p.i64("train")?,
                    val: p.i64("val")?,
                    seed: p.seed("seed")?,
                })
            }
            "image_folder" => {
                let folder = folder()?;
                let size = p.pos_i64("size")?;
                let channels = p.pos_i64("channels")?;
                if channels != 1 && channels != 3 {
                    return Err(p.bad("channels", "must be 1 or 3"));
                }
                TaskConfig::ImageFolder(ImageFolder {
                    folder,
                    size,
                    channels,
                })
            }
            "synthetic_audio" => TaskConfig::SyntheticAudio(SyntheticAudio {
                cochlea: cochlea()?,
                classes: p.pos_i64("classes")?,
                train: p.pos_i64("train")?,
                val: p.pos_i64("val")?,
                seed: p.seed("seed")?,
                noise: p.f64("noise")?,
            }),
            "audio_folder" => {
                let cochlea = cochlea()?;
                TaskConfig::AudioFolder(AudioFolder {
                    folder: folder()?,
                    cochlea,
                })
            }
            other => return Err(unknown(Kind::Task, other)),
        })
    }

    /// The builtin's name (`cifar10`, `audio_folder`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            TaskConfig::SyntheticImages(_) => "synthetic_images",
            TaskConfig::Cifar10(_) => "cifar10",
            TaskConfig::Idx(i) if i.fashion => "fashion_mnist",
            TaskConfig::Idx(_) => "idx_images",
            TaskConfig::ImageFolder(_) => "image_folder",
            TaskConfig::SyntheticAudio(_) => "synthetic_audio",
            TaskConfig::AudioFolder(_) => "audio_folder",
        }
    }
}
