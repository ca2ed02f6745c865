//! Observables at checkpoints (method.md §1, §5): measures, functions, statistics, realism.
//!
//! The engine's learnable layers implement [`ObservableLayer`]; observation code never needs to
//! know the architecture.

pub mod layer;
pub use layer::{JacobianVia, ObservableLayer};

pub mod checkpoint;
pub mod realism;
pub mod stats;

pub use checkpoint::{CheckpointObserver, ObserveConfig, ObserveError, observe_checkpoint};
pub use realism::RealismCondition;
