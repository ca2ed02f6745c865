//! The classifier stage at study level (method.md §2–§5): reads a study's feature files and runs
//! table, expands the spec's `classify` block into evaluations, runs them and writes
//! `results/evaluations.json`, `results/eval/<id>.json` and `results/summary.parquet`.
//!
//! - `expand`: the pure expansion, `ir::Classify` × the study's shape → the list of
//!   evaluations (`evaluation_specs`; the plan counts them with the same functions, so
//!   `lrx plan` and the stage agree).
//! - `grids`: the model grids of the block's models (`model_grid`; pure, used by the
//!   expansion).
//! - `run`: `to_classify_table` (the Parquet reader's table → the classifier's
//!   `FeatureTable`) and `classify_study_with`: load, check, run,
//!   write.
//! - `cache`: the resume cache of `results/eval/`.
//! - `results`: the types of `results/evaluations.json` and the `summary.parquet` writer.

use std::path::PathBuf;

use crate::classify::error::ClassifyError;
use crate::features;

pub(crate) mod cache;
pub(crate) mod expand;
pub(crate) mod grids;
pub(crate) mod results;
pub(crate) mod run;
pub(crate) mod save;

pub(crate) use expand::EvalSpec;
pub(crate) use results::{Accuracy, Entry, Evaluations};
pub use run::realism_conditions;
pub(crate) use run::{StageEvent, StageOptions, classify_study_with, read_study_json};

/// Errors of the classifier stage of a study (`lrx classify`, the end of `lrx run`), each naming
/// the file or the setting. Each has a stable code ([`crate::diag::Coded`]): its own
/// `lrx::classify::...`, or the code of the error it wraps when it only adds context.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The feature files or the runs table cannot be read (the [`features::ReadError`]'s code).
    #[error(transparent)]
    Read(#[from] features::ReadError),
    /// The study directory holds no feature files (`lrx::classify::no_features`).
    #[error(
        "no feature files under `{}`: train the study first (`lrx run`) or point at the study directory",
        .0.display()
    )]
    NoFeatures(
        /// The study directory searched.
        PathBuf,
    ),
    /// `study.json` cannot be read or parsed (`lrx::classify::study`).
    #[error("cannot read `{}`: {message}", .path.display())]
    Study {
        /// The `study.json` file.
        path: PathBuf,
        /// The I/O or JSON error.
        message: String,
    },
    /// A setting of the `classify` block does not fit the study's features
    /// (`lrx::classify::setting`).
    #[error("classify setting `{setting}`: {message}")]
    Setting {
        /// The setting (`holdout arch`, a target, ...).
        setting: String,
        /// What does not fit.
        message: String,
    },
    /// A holdout would put one network on both sides of the split (`lrx::classify::leak`).
    #[error("holdout `{holdout}` leaks: {message}")]
    Leak {
        /// The holdout's name.
        holdout: String,
        /// Which factor or run leaks, and how.
        message: String,
    },
    /// One evaluation failed (the [`ClassifyError`]'s code).
    #[error("evaluation `{id}` ({setting}): {source}")]
    Eval {
        /// The evaluation's id.
        id: String,
        /// The spec setting it comes from.
        setting: String,
        /// What failed.
        #[source]
        source: ClassifyError,
    },
    /// The feature or performance table cannot be built (the [`ClassifyError`]'s code).
    #[error("{what}: {source}")]
    Table {
        /// Which table (`the feature table of ...`).
        what: String,
        /// What failed.
        #[source]
        source: ClassifyError,
    },
    /// A result or cache file cannot be written (`lrx::classify::write`).
    #[error("cannot write `{}`: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A Parquet result file cannot be written (the features writer's error code).
    #[error(transparent)]
    Write(#[from] features::WriteError),
    /// A classifier cannot be saved (`--save-models`; the [`crate::classify::SavedError`]'s code).
    #[error("saving the classifier of `{id}`: {source}")]
    Saved {
        /// The evaluation's id.
        id: String,
        /// What failed.
        #[source]
        source: crate::classify::SavedError,
    },
}

impl crate::diag::Coded for StageError {
    fn code(&self) -> &'static str {
        match self {
            StageError::Read(e) => e.code(),
            StageError::NoFeatures(_) => "lrx::classify::no_features",
            StageError::Study { .. } => "lrx::classify::study",
            StageError::Setting { .. } => "lrx::classify::setting",
            StageError::Leak { .. } => "lrx::classify::leak",
            StageError::Eval { source, .. } | StageError::Table { source, .. } => source.code(),
            StageError::Io { .. } => "lrx::classify::write",
            StageError::Write(e) => e.code(),
            StageError::Saved { source, .. } => source.code(),
        }
    }
}

type Result<T> = std::result::Result<T, StageError>;

#[cfg(test)]
use run::prepare_holdouts;

#[cfg(test)]
mod tests;
