//! CHECK stage: syntax tree → [`ir::Study`]. Resolves imports (stdlib and local files) and
//! names, binds every builtin call against its schema (defaults, types, units, ranges),
//! expands the sweeps into concrete points, and collects every error in one pass.

pub mod eval;
pub mod ir;
pub mod study;
pub mod val;

pub use study::all_candidates;

use crate::diag::{Diag, Diags, Warned, codes};
use crate::source::{SourceId, SourceMap, Span};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Checks the spec at `path`. The source map receives the file and everything it imports, so
/// the caller can render the diagnostics.
pub fn check_path(path: &Path, sources: &mut SourceMap) -> Result<Warned<ir::Study>, Diags> {
    let id = match sources.load(path) {
        Ok(id) => id,
        Err(e) => {
            let mut d = Diags::default();
            d.push(
                Diag::error(
                    codes::IO_READ,
                    format!("cannot read `{}`: {e}", path.display()),
                )
                .help("check the path; specs are `.lrx` text files"),
            );
            return Err(d);
        }
    };
    check_source(id, sources)
}

/// Checks a file already in the source map.
pub fn check_source(id: SourceId, sources: &mut SourceMap) -> Result<Warned<ir::Study>, Diags> {
    let mut ev = eval::Eval::new(sources);
    let mut stack = vec![(id, None::<Span>)];
    let main = ev.load(id, crate::stdlib::get, &mut stack, true);
    let study = main.and_then(|m| ev.study(m));
    let mut diags = std::mem::take(&mut ev.diags);
    // Report in file order.
    diags.0.sort_by_key(|d| d.span.map(|s| (s.source, s.start)));
    let n_files = ev.modules.len();
    let _ = n_files;
    if diags.has_errors() {
        return Err(diags);
    }
    let Some(mut study) = study else {
        let mut d = diags;
        d.push(Diag::error(
            codes::BUG,
            "this is a bug in lrx: the check failed without an error",
        ));
        return Err(d);
    };
    study.spec_hash = spec_hash(sources, id);
    Ok(Warned {
        value: study,
        warnings: diags.0,
    })
}

/// Checks only the syntax and imports of a file (for stdlib modules and library files that
/// hold definitions but no study).
pub fn check_module(id: SourceId, sources: &mut SourceMap) -> Result<(), Diags> {
    let mut ev = eval::Eval::new(sources);
    let mut stack = vec![(id, None::<Span>)];
    let m = ev.load(id, crate::stdlib::get, &mut stack, false);
    if let Some(m) = m {
        let names: Vec<String> = ev.modules[m].defs.keys().cloned().collect();
        for n in names {
            let segs = vec![n];
            let span = Span::new(id, 0, 0);
            let _ = ev.path(&segs, span, m, &Vec::new());
        }
    }
    if ev.diags.has_errors() {
        Err(std::mem::take(&mut ev.diags))
    } else {
        Ok(())
    }
}

/// Hash of the spec text and everything it imports (in load order), with their file names.
fn spec_hash(sources: &SourceMap, main: SourceId) -> String {
    let mut h = Sha256::new();
    let mut i = main.0;
    loop {
        let id = SourceId(i);
        let Some(f) = sources_get(sources, id) else {
            break;
        };
        // Only the last path component: the same spec has the same hash wherever it lives and
        // however it was named on the command line.
        let name = std::path::Path::new(&f.name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        h.update(name.as_bytes());
        h.update([0]);
        h.update(f.text.as_bytes());
        h.update([0]);
        i += 1;
    }
    hex(&h.finalize())[..16].to_string()
}

fn sources_get(sources: &SourceMap, id: SourceId) -> Option<&crate::source::SourceFile> {
    sources.try_get(id)
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}
