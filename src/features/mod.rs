//! Parquet storage of observations and runs (design.md, storage; docs/storage.md).
//!
//! - `observable`: the observable vocabulary (no libtorch), shared with `observe`.
//! - `schema`: the Arrow schemas of the tidy observation table and the runs table.
//! - `writer`: atomic Parquet writers (Zstd, dictionary strings, bounded row groups, metadata).
//! - [`reader`]: read a study's feature files and pivot them into `[N, T, K]` arrays.
//! - [`recordings`]: the declaration of recorded sessions that `lrx import` turns into feature
//!   files (a checked recordings spec, or its JSON form).

pub(crate) mod observable;
#[cfg(test)]
pub(crate) mod pyref;
pub mod reader;
pub mod recordings;
pub(crate) mod schema;
pub(crate) mod writer;

pub(crate) use observable::{LayerPosition, Measure, ObservableId};
pub use reader::{Condition, FeatureTable, ReadError, load_features};
pub(crate) use schema::{RunPerformance, RunRecord};
pub(crate) use writer::{FileMetadata, WriteError, write_features, write_runs};
