//! PARSE stage: `.lrx` text → syntax tree ([`ast`]).

pub mod ast;
mod parser;

pub use parser::parse;
