#![doc = include_str!("../docs/architecture.md")]
#![warn(missing_docs)]
// Only with libtorch: without it, items that the engine's public paths re-export look unreachable.
#![cfg_attr(feature = "torch", warn(unreachable_pub))]

pub mod check;
pub mod classify;
pub mod cli;
pub(crate) mod datafiles;
pub mod diag;
pub mod exec;
pub mod features;
pub mod fsx;
// Most of `idx` is the engine's (feature `torch`); the checker and packs read only its file
// names and data paths.
#[cfg_attr(not(feature = "torch"), allow(dead_code))]
pub(crate) mod idx;
pub mod ir;
pub mod lsp;
pub mod measurement;
#[cfg(any(feature = "torch", test))]
pub(crate) mod npy;
pub mod pack;
pub mod plan;
pub mod registry;
pub mod report;
pub mod source;
pub mod stdlib;
pub mod syntax;
pub mod synthetic;
pub mod value;

/// The libtorch this binary links (`unknown` without the torch feature).
pub fn libtorch_version() -> &'static str {
    option_env!("LRX_LIBTORCH_VERSION").unwrap_or("unknown")
}
