//! lrx: virtual experiments on learning rules.
//!
//! See `docs/architecture.md` for the pipeline: parse → check → plan → train/observe →
//! features (Parquet) → classify → report.

pub mod value;

pub mod classify;
pub mod features;

#[cfg(feature = "torch")]
pub mod engine;
#[cfg(feature = "torch")]
pub mod observe;
