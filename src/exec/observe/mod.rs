//! Observables at checkpoints (method.md §1, §5): measures, functions, statistics, realism.
//!
//! The engine's learnable layers implement [`ObservableLayer`]; observation code never needs to
//! know the architecture.

pub(crate) mod layer;
pub use layer::{JacobianVia, ObservableLayer};

pub(crate) mod checkpoint;
pub(crate) mod realism;
pub(crate) mod stats;

pub use checkpoint::{CheckpointObserver, ObserveConfig, ObserveError, observe_checkpoint};
pub use realism::RealismCondition;
