//! Errors of the classifier stage.

use thiserror::Error;

/// Everything that can go wrong in the classifier stage. Each variant says what failed and where.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ClassifyError {
    /// A feature table whose parts disagree in shape or content.
    #[error("invalid feature table: {0}")]
    InvalidTable(String),
    /// A parameter outside its valid range (estimator params, split sizes, grids, configs).
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParam { name: String, reason: String },
    /// Not enough examples of some class for the requested split.
    #[error("not enough examples for class `{class}` in {pool}: need {needed}, have {available}")]
    NotEnoughExamples {
        class: String,
        pool: String,
        needed: usize,
        available: usize,
    },
    /// A holdout that would leak the held-out value into training, or has nothing to hold out.
    #[error("holdout on factor `{factor}` = `{value}`: {reason}")]
    Holdout {
        factor: String,
        value: String,
        reason: String,
    },
    /// A factor name that the table does not have.
    #[error("unknown factor `{0}` (the table has: {1})")]
    UnknownFactor(String, String),
    /// A learning-rule label that the table does not have.
    #[error("unknown class `{0}` (the table has: {1})")]
    UnknownClass(String, String),
    /// Input data with inconsistent dimensions for an estimator.
    #[error("shape mismatch in {context}: expected {expected}, got {got}")]
    Shape {
        context: String,
        expected: String,
        got: String,
    },
    /// Non-finite values given to an estimator.
    #[error("non-finite value in {0}")]
    NonFinite(String),
    /// A model fit that cannot be done on this data (e.g. PCA with more components than features).
    #[error("fit failed in {model}: {reason}")]
    Fit { model: String, reason: String },
    /// Every grid point failed on every fold.
    #[error("grid search: no grid point could be fitted on any fold ({0})")]
    NoValidGridPoint(String),
    /// Reading or writing a file (npy, json) failed.
    #[error("i/o error on {path}: {reason}")]
    Io { path: String, reason: String },
    /// An error of linfa's data-set API (the estimators implement linfa's `Fit`), as text.
    #[error("linfa: {0}")]
    Linfa(String),
}

impl From<linfa::Error> for ClassifyError {
    fn from(e: linfa::Error) -> Self {
        ClassifyError::Linfa(e.to_string())
    }
}

/// Result alias of the classifier stage.
pub type Result<T> = std::result::Result<T, ClassifyError>;

pub(crate) fn param(name: &str, reason: impl Into<String>) -> ClassifyError {
    ClassifyError::InvalidParam {
        name: name.to_string(),
        reason: reason.into(),
    }
}
