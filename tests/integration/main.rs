//! One integration test binary, one module per area.

mod cases;
mod classify_cli;
mod cli;
mod diff;
mod docs;
mod editors;
mod fmt;
#[cfg(feature = "torch")]
mod frontend;
mod fuzz;
mod fuzz_found;
mod fuzz_grammar;
mod fuzz_oracle;
mod fuzz_schema;
mod lsp;
mod numbers;
#[cfg(feature = "torch")]
mod pack;
#[cfg(feature = "torch")]
mod reference;
#[cfg(feature = "torch")]
mod run;
mod specs;
mod stdlib_pin;

use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn lrx_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lrx"))
        .collect();
    v.sort();
    v
}

/// Every file below `dir` (recursively) whose extension is `ext`, in directory order.
pub fn files_below(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_below(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}
