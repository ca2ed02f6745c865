//! PARSE stage: `.lrx` text → syntax tree (`ast`), and back to text in the canonical
//! layout ([`fmt`], `lrx fmt`).

pub(crate) mod ast;
pub mod fmt;
mod parser;

pub use parser::{MAX_EXPR_DEPTH, MAX_NESTING, parse, parse_source};
