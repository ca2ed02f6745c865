//! Training engine on libtorch (method.md §6–§7): layers with forward and backward weights,
//! architectures, learning rules, optimizers, tasks and the checkpointed training loop.
//!
//! Builtin defaults and layer names come from the libtorch-free `registry`, the one description
//! of every builtin. The engine builds rules, models and tasks from typed configs
//! (`registry::config`, `registry::arch::ArchConfig`), made once from a job's calls in `Trainer::with_task`; the
//! `from_call` constructors (`Task::from_call`, `Model::new`, `build_rule`) do the same for
//! tests and benches.

pub mod error;
pub(crate) mod ext;
pub(crate) mod layers;
pub(crate) mod models;
pub(crate) mod optim;
pub(crate) mod regime;
pub(crate) mod rules;

pub use error::{EngineError, Result};
pub use models::Model;
#[cfg(test)]
pub(crate) use models::Pass;
pub(crate) use rules::LearningRule;

pub(crate) mod bench;

/// Tests that seed or draw from libtorch's global generator hold this lock, so parallel tests
/// do not interleave their draws (libtorch has one global CPU generator per process).
#[cfg(test)]
pub(crate) fn test_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
/// Copies of every parameter and buffer of a model (tests compare trainings bit for bit).
#[cfg(test)]
pub(crate) fn test_params_of(m: &Model) -> Vec<(String, tch::Tensor)> {
    m.named_tensors()
        .into_iter()
        .map(|(k, t)| (k, t.detach().copy()))
        .collect()
}
pub(crate) mod audio;
pub(crate) mod data;
pub(crate) mod store;
pub(crate) mod train;

pub use data::Task;
/// The device a model trains on (libtorch's; the CLI names it through the engine).
pub use tch::Device;
pub(crate) use train::{Progress, device_name, parse_device, set_threads};

/// A typed config's error is the engine's: an unknown builtin or a bad parameter, with the
/// same message.
impl From<crate::registry::ConfigError> for EngineError {
    fn from(e: crate::registry::ConfigError) -> Self {
        match e {
            crate::registry::ConfigError::Unknown {
                family,
                name,
                known,
            } => EngineError::Unknown {
                family,
                name,
                known,
            },
            crate::registry::ConfigError::Param { call, param, msg } => {
                EngineError::BadParam { call, param, msg }
            }
        }
    }
}
