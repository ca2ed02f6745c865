//! Errors of the classifier stage.

use thiserror::Error;

/// Everything that can go wrong in the classifier's estimators, splits and tables. Each variant
/// says what failed and where, and has a stable code ([`crate::diag::Coded`],
/// `lrx::classify::...`, documented in docs/diagnostics.md).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ClassifyError {
    /// A feature table whose parts disagree in shape or content.
    #[error("invalid feature table: {0}")]
    InvalidTable(
        /// What disagrees (`x has 10 rows but y has 9`).
        String,
    ),
    /// A parameter outside its valid range (estimator params, split sizes, grids, configs).
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParam {
        /// The parameter (`C`, `pca`, `folds`, ...).
        name: String,
        /// Why its value is refused.
        reason: String,
    },
    /// Not enough examples of some class for the requested split.
    #[error("not enough examples for class `{class}` in {pool}: need {needed}, have {available}")]
    NotEnoughExamples {
        /// The class label.
        class: String,
        /// Where the examples were counted (`train`, `test`, a fold).
        pool: String,
        /// Examples the split needs of that class.
        needed: usize,
        /// Examples it has.
        available: usize,
    },
    /// A holdout that would leak the held-out value into training, or has nothing to hold out.
    #[error("holdout on factor `{factor}` = `{value}`: {reason}")]
    Holdout {
        /// The held-out factor (`arch`, `task`, ...).
        factor: String,
        /// The held-out value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A factor name that the table does not have.
    #[error("unknown factor `{0}` (the table has: {1})")]
    UnknownFactor(
        /// The name asked for.
        String,
        /// The table's factors, comma-separated.
        String,
    ),
    /// A learning-rule label that the table does not have.
    #[error("unknown class `{0}` (the table has: {1})")]
    UnknownClass(
        /// The label asked for.
        String,
        /// The table's labels, comma-separated.
        String,
    ),
    /// Input data with inconsistent dimensions for an estimator.
    #[error("shape mismatch in {context}: expected {expected}, got {got}")]
    Shape {
        /// The estimator or function that checked.
        context: String,
        /// The shape it needs.
        expected: String,
        /// The shape it got.
        got: String,
    },
    /// Non-finite values given to an estimator.
    #[error("non-finite value in {0}")]
    NonFinite(
        /// Whose data (`PCA training data`, ...).
        String,
    ),
    /// A model fit that cannot be done on this data (e.g. PCA with more components than features).
    #[error("fit failed in {model}: {reason}")]
    Fit {
        /// The model (`linear_svm`, `pca`, ...).
        model: String,
        /// Why it cannot be fitted.
        reason: String,
    },
    /// Every grid point failed on every fold.
    #[error("grid search: no grid point could be fitted on any fold ({0})")]
    NoValidGridPoint(
        /// How many grid points were tried (`12 grid points`).
        String,
    ),
    /// Reading or writing a file (npy, json) failed.
    #[error("i/o error on {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's or the format's error.
        reason: String,
    },
    /// An error of linfa's data-set API (the estimators implement linfa's `Fit`), as text.
    #[error("linfa: {0}")]
    Linfa(
        /// linfa's message.
        String,
    ),
}

impl crate::diag::Coded for ClassifyError {
    fn code(&self) -> &'static str {
        match self {
            ClassifyError::InvalidTable(_) => "lrx::classify::invalid_table",
            ClassifyError::InvalidParam { .. } => "lrx::classify::invalid_param",
            ClassifyError::NotEnoughExamples { .. } => "lrx::classify::not_enough_examples",
            ClassifyError::Holdout { .. } => "lrx::classify::holdout",
            ClassifyError::UnknownFactor(..) => "lrx::classify::unknown_factor",
            ClassifyError::UnknownClass(..) => "lrx::classify::unknown_class",
            ClassifyError::Shape { .. } => "lrx::classify::shape",
            ClassifyError::NonFinite(_) => "lrx::classify::non_finite",
            ClassifyError::Fit { .. } => "lrx::classify::fit",
            ClassifyError::NoValidGridPoint(_) => "lrx::classify::no_valid_grid_point",
            ClassifyError::Io { .. } => "lrx::classify::io",
            ClassifyError::Linfa(_) => "lrx::classify::linfa",
        }
    }
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
