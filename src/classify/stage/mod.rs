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

pub(crate) use expand::EvalSpec;
pub(crate) use results::{Accuracy, Entry, Evaluations};
pub use run::realism_conditions;
pub(crate) use run::{StageEvent, StageOptions, classify_study_with, read_study_json};

/// Errors of the stage, each naming the file or the setting.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Read(#[from] features::ReadError),
    #[error(
        "no feature files under `{}`: train the study first (`lrx run`) or point at the study directory",
        .0.display()
    )]
    NoFeatures(PathBuf),
    #[error("cannot read `{}`: {message}", .path.display())]
    Study { path: PathBuf, message: String },
    #[error("classify setting `{setting}`: {message}")]
    Setting { setting: String, message: String },
    #[error("holdout `{holdout}` leaks: {message}")]
    Leak { holdout: String, message: String },
    #[error("evaluation `{id}` ({setting}): {source}")]
    Eval {
        id: String,
        /// The spec setting it comes from.
        setting: String,
        #[source]
        source: ClassifyError,
    },
    #[error("{what}: {source}")]
    Table {
        what: String,
        #[source]
        source: ClassifyError,
    },
    #[error("cannot write `{}`: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] features::WriteError),
}

type Result<T> = std::result::Result<T, StageError>;

#[cfg(test)]
use run::prepare_holdouts;

#[cfg(test)]
mod tests;
