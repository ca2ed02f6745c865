//! PARSE stage: `.lrx` text → syntax tree ([`ast`]).

pub mod ast;
mod parser;

pub use parser::{MAX_EXPR_DEPTH, MAX_NESTING, parse, parse_source};
