//! The vocabulary of the blocks: the top-level block kinds and the keys each block takes (what
//! the checker checks every key against, and what the language server and the fuzzers use).

use crate::registry;

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
pub(super) const STUDY_KEYS: &[&str] = &[
    "output",
    "seed",
    "description",
    "device",
    "cpu_gflops",
    "gpu_gflops",
    "max_runs",
    "stdlib",
];

pub(super) const TRAIN_KEYS: &[&str] = &[
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

pub(super) const TRAIN_REQUIRED: &[&str] = &["task", "arch", "rule", "lr", "batch", "epochs"];
pub(super) const OBSERVE_KEYS: &[&str] = &[
    "stimuli",
    "precision",
    "batch",
    "quantile",
    "skew",
    "kurtosis",
    "jacobian_via",
    "drop_nonfinite",
    "save_activations",
];
pub(super) const REALISM_KEYS: &[&str] = &["noise", "units", "seeds"];
pub(super) const CLASSIFY_KEYS: &[&str] = &[
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
    "save",
];
pub(super) const REPORT_KEYS: &[&str] = &["format", "title"];
/// The keys of `classify { trajectory { ... } }`.
pub(super) const TRAJECTORY_KEYS: &[&str] = &["period", "samples"];
/// The keys of a measure block (`observe { weight { ... } }`).
pub(super) const MEASURE_KEYS: &[&str] = &["functions", "statistics"];

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
        "recordings" => (super::recordings::RECORDINGS_KEYS, &[]),
        "recording" => (super::recordings::RECORDING_KEYS, &["layer", "nwb"]),
        "layer" => (super::recordings::LAYER_KEYS, &[]),
        "nwb" => (super::recordings::NWB_KEYS, &[]),
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
