//! Classifier stage (method.md §2–§4): reads feature tables, fits and evaluates classifiers.
//!
//! - [`data`]: the in-memory [`FeatureTable`] and feature assembly (measure subsets, flat and 3-D
//!   layouts, trajectory average, time selection, the non-finite drop rule, z-scoring).
//! - [`splits`]: category-balanced splits, holdouts, scikit-learn `StratifiedKFold`, trajectory
//!   subsampling and consecutive portions.
//! - [`forest`], [`svm`], [`pca`]: hand-written estimators (see each file for why not linfa's);
//!   [`linfa_api`] makes the forest and the SVM linfa estimators (`Fit`, `Predict`).
//! - [`conv1d`]: the Conv1D classifier (libtorch; an error without the `torch` feature).
//! - [`grid`]: model specs, the paper grids and the grid search.
//! - [`metrics`], [`eval`]: metrics and the [`evaluate`] driver.
//! - [`stage`]: the study-level stage (`lrx classify`): Parquet features → every evaluation of
//!   the spec's `classify` block → `results/`.

pub mod conv1d;
pub mod data;
pub mod error;
pub mod eval;
pub mod forest;
pub mod grid;
pub mod linfa_api;
pub mod metrics;
pub mod npy;
pub mod pca;
pub mod performance;
pub mod splits;
pub mod stage;
pub mod svm;

#[cfg(test)]
mod testutil;

pub use data::{FeatureTable, MeasureSubset, TimeSelection};
pub use error::{ClassifyError, Result};
pub use eval::{EvalConfig, EvalResult, evaluate, evaluate_holdouts};
pub use forest::{ForestParams, MaxFeatures, RandomForest};
pub use grid::{FittedModel, ModelSpec, grid_search};
pub use pca::Pca;
pub use svm::{LinearSvc, SvcParams};
#[cfg(test)]
mod bench;
#[cfg(test)]
mod sklearn_tests;
