//! Engine errors: each says what failed and where, with a stable code
//! ([`crate::diag::Coded`], documented in docs/diagnostics.md).

use std::path::PathBuf;

/// Everything that can go wrong while building or training a network (the engine, behind
/// `lrx run-task`): each variant says what failed and where. A run that fails this way is
/// recorded as `failed` with the message in its `status.json`; its code is
/// [`Coded::code`](crate::diag::Coded::code).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A builtin call's parameter is missing, of the wrong type or outside what the engine
    /// accepts (`lrx::engine::bad_param`).
    #[error("`{call}`: parameter `{param}` {msg}")]
    BadParam {
        /// The builtin's name (`knet4`, `sgdm`, ...).
        call: String,
        /// The parameter's name.
        param: String,
        /// What is wrong with it (`must be positive, got 0`).
        msg: String,
    },
    /// A builtin name the engine does not implement (`lrx::engine::unknown`).
    #[error("unknown {family} `{name}` (known: {known})")]
    Unknown {
        /// Its kind: `task`, `architecture`, `rule`, ...
        family: &'static str,
        /// The name asked for.
        name: String,
        /// The names the engine knows, comma-separated.
        known: &'static str,
    },
    /// A device that cannot be parsed or used (`cuda:3` on a machine with two GPUs)
    /// (`lrx::engine::device`).
    #[error("device `{spec}`: {msg}")]
    Device {
        /// The device as written (`--device`, the study's `device`).
        spec: String,
        /// Why it cannot be used.
        msg: String,
    },
    /// A data set that is missing, unreadable or malformed (`lrx::engine::data`).
    #[error("dataset `{task}` at {path}: {msg}")]
    Data {
        /// The task's builtin name.
        task: String,
        /// The file or directory read.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A file operation failed (`lrx::engine::io`).
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done (`cannot write`, `reading`).
        what: String,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A checkpoint that cannot be read back, or does not fit the run (`lrx::engine::checkpoint`).
    #[error("checkpoint {path}: {msg}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// libtorch raised an error (out of memory, a shape mismatch inside an operation)
    /// (`lrx::engine::torch`).
    #[error("libtorch error while {context}: {source}")]
    Torch {
        /// What the engine was doing.
        context: String,
        /// libtorch's error.
        source: tch::TchError,
    },
    /// The observer run at a checkpoint failed: the code of the observer's error (an
    /// `lrx::observe::...` code, ...), or `lrx::engine::observer` when it has none.
    #[error("observer callback failed at epoch {epoch}: {msg}")]
    Observer {
        /// The checkpoint epoch.
        epoch: u32,
        /// The observer's error, with its context.
        msg: String,
        /// The observer's error's code, when it has one.
        code: Option<&'static str>,
    },
    /// Any other inconsistency the engine detects (a bad optimizer state key, an objective the
    /// task cannot serve); the message says what (`lrx::engine::invalid`).
    #[error("{0}")]
    Invalid(String),
}

impl crate::diag::Coded for EngineError {
    fn code(&self) -> &'static str {
        match self {
            EngineError::BadParam { .. } => "lrx::engine::bad_param",
            EngineError::Unknown { .. } => "lrx::engine::unknown",
            EngineError::Device { .. } => "lrx::engine::device",
            EngineError::Data { .. } => "lrx::engine::data",
            EngineError::Io { .. } => "lrx::engine::io",
            EngineError::Checkpoint { .. } => "lrx::engine::checkpoint",
            EngineError::Torch { .. } => "lrx::engine::torch",
            EngineError::Observer { code, .. } => code.unwrap_or("lrx::engine::observer"),
            EngineError::Invalid(_) => "lrx::engine::invalid",
        }
    }
}

/// Result alias of the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    /// A [`EngineError::BadParam`] of `call`'s parameter `param`.
    pub fn param(call: &str, param: &str, msg: impl Into<String>) -> Self {
        EngineError::BadParam {
            call: call.into(),
            param: param.into(),
            msg: msg.into(),
        }
    }
    /// An [`EngineError::Io`]: `what` (`cannot write`) failed on `path`.
    pub fn io(what: impl Into<String>, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            what: what.into(),
            path: path.into(),
            source,
        }
    }
    /// An [`EngineError::Torch`] raised while doing `context`.
    pub fn torch(context: impl Into<String>, source: tch::TchError) -> Self {
        EngineError::Torch {
            context: context.into(),
            source,
        }
    }
}
