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

/// Typed, erroring parameter access on a [`crate::value::Call`] (after `registry::complete`).
pub(crate) trait CallExt {
    fn req_f64(&self, p: &str) -> Result<f64>;
    fn req_i64(&self, p: &str) -> Result<i64>;
    fn req_bool(&self, p: &str) -> Result<bool>;
    /// A seed: an exact integer in [0, 2⁶⁴ − 1].
    fn req_seed(&self, p: &str) -> Result<u64>;
    fn req_str(&self, p: &str) -> Result<&str>;
    fn req_pos_i64(&self, p: &str) -> Result<i64> {
        let v = self.req_i64(p)?;
        if v <= 0 {
            return Err(self.bad(p, &format!("must be positive, got {v}")));
        }
        Ok(v)
    }
    fn bad(&self, p: &str, msg: &str) -> EngineError;
}

impl CallExt for crate::value::Call {
    fn req_f64(&self, p: &str) -> Result<f64> {
        self.f64(p)
            .ok_or_else(|| self.bad(p, "is missing or not a number"))
    }
    fn req_i64(&self, p: &str) -> Result<i64> {
        self.i64(p)
            .ok_or_else(|| self.bad(p, "is missing or not an integer"))
    }
    fn req_seed(&self, p: &str) -> Result<u64> {
        self.u64(p)
            .ok_or_else(|| self.bad(p, "is missing or not an integer in [0, 2^64 - 1]"))
    }
    fn req_bool(&self, p: &str) -> Result<bool> {
        self.bool(p)
            .ok_or_else(|| self.bad(p, "is missing or not a boolean"))
    }
    fn req_str(&self, p: &str) -> Result<&str> {
        self.str(p)
            .ok_or_else(|| self.bad(p, "is missing or not a string"))
    }
    fn bad(&self, p: &str, msg: &str) -> EngineError {
        EngineError::param(&self.name, p, msg)
    }
}
