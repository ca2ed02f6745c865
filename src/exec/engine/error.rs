//! Engine errors: each says what failed and where.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("`{call}`: parameter `{param}` {msg}")]
    BadParam {
        call: String,
        param: String,
        msg: String,
    },
    #[error("unknown {family} `{name}` (known: {known})")]
    Unknown {
        family: &'static str,
        name: String,
        known: &'static str,
    },
    #[error("device `{spec}`: {msg}")]
    Device { spec: String, msg: String },
    #[error("dataset `{task}` at {path}: {msg}")]
    Data {
        task: String,
        path: PathBuf,
        msg: String,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint {path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },
    #[error("libtorch error while {context}: {source}")]
    Torch {
        context: String,
        source: tch::TchError,
    },
    #[error("observer callback failed at epoch {epoch}: {msg}")]
    Observer { epoch: u32, msg: String },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    pub fn param(call: &str, param: &str, msg: impl Into<String>) -> Self {
        EngineError::BadParam {
            call: call.into(),
            param: param.into(),
            msg: msg.into(),
        }
    }
    pub fn io(what: impl Into<String>, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            what: what.into(),
            path: path.into(),
            source,
        }
    }
    pub fn torch(context: impl Into<String>, source: tch::TchError) -> Self {
        EngineError::Torch {
            context: context.into(),
            source,
        }
    }
}
