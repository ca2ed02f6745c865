//! Classifier stage (method.md §2–§4): reads feature tables, fits and evaluates classifiers.
//!
//! - `data`: the in-memory `FeatureTable` and feature assembly (measure subsets, flat and 3-D
//!   layouts, trajectory average, time selection, the non-finite drop rule, z-scoring).
//! - `splits`: category-balanced splits, holdouts, scikit-learn `StratifiedKFold`, trajectory
//!   subsampling and consecutive portions.
//! - [`forest`], [`svm`], `pca`: hand-written estimators (see each file for why not linfa's);
//!   [`linfa_api`] makes the forest and the SVM linfa estimators (`Fit`, `Predict`).
//! - `conv1d`: the Conv1D classifier (libtorch; an error without the `torch` feature).
//! - `grid`: model specs, the paper grids and the grid search.
//! - `metrics`, `eval`: metrics and the `evaluate` driver.
//! - [`stage`]: the study-level stage (`lrx classify`): Parquet features → every evaluation of
//!   the spec's `classify` block → `results/`.

pub(crate) mod calibrate;
pub(crate) mod conv1d;
pub(crate) mod data;
pub mod error;
pub(crate) mod eval;
pub mod forest;
pub(crate) mod grid;
pub mod linfa_api;
pub(crate) mod metrics;
#[cfg(test)]
pub(crate) mod npy;
pub(crate) mod pca;
pub(crate) mod performance;
pub mod saved;
pub(crate) mod splits;
pub mod stage;
pub mod svm;

#[cfg(test)]
mod testutil;

pub(crate) use data::FeatureTable;
pub use error::{ClassifyError, Result};
pub(crate) use eval::evaluate;
pub use forest::{ForestParams, MaxFeatures, RandomForest};
pub use saved::SavedError;
pub use svm::{LinearSvc, SvcParams};
#[cfg(test)]
mod bench;
#[cfg(test)]
mod sklearn_tests;
