//! Parquet storage of observations and runs (design.md, storage; docs/storage.md).
//!
//! - [`observable`]: the observable vocabulary (no libtorch), shared with `observe`.
//! - [`schema`]: the Arrow schemas of the tidy observation table and the runs table.
//! - [`writer`]: atomic Parquet writers (Zstd, dictionary strings, bounded row groups, metadata).
//! - [`reader`]: read a study's feature files and pivot them into `[N, T, K]` arrays.

pub mod observable;
#[cfg(test)]
pub(crate) mod pyref;
pub mod reader;
pub mod schema;
pub mod writer;

pub use observable::Function;
pub use observable::{
    KurtosisConvention, LayerPosition, Measure, ObservableId, Precision, QuantileConvention,
    SkewConvention, StatConventions, Statistic,
};
pub use reader::{Condition, FeatureTable, ReadError, load_features};
pub use schema::{
    CheckpointPerformance, ObservationRow, RunPerformance, RunRecord, SCHEMA_VERSION,
};
pub use writer::{FileMetadata, WriteError, feature_path, write_features, write_runs};
