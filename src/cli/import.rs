//! `lrx import`: recorded neural activity as `act` features in the study layout
//! (src/exec/import.rs, docs/reference/recordings.md).
#![cfg_attr(not(feature = "torch"), allow(unused_imports, dead_code))]

use super::{Cli, Deny, Out, report};
use crate::check;
use crate::source::SourceMap;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The recordings spec (`.lrx`: `recording` blocks, checked like `lrx check` does) or its
    /// JSON form: recordings, their sessions (one file per epoch), layers.
    pub recordings: PathBuf,
    /// Output directory (created): `features/rule=<rule>/run=<id>/part-0.parquet`,
    /// `runs.parquet`, `import.json`.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

#[cfg(not(feature = "torch"))]
pub(super) fn cmd_import(_: &Cli, _: &ImportArgs, out: &mut Out) -> Result<(), i32> {
    let _ = writeln!(
        out.err,
        "error: this lrx was built without libtorch (feature `torch`); import needs it"
    );
    Err(2)
}

#[cfg(feature = "torch")]
pub(super) fn cmd_import(cli: &Cli, a: &ImportArgs, out: &mut Out) -> Result<(), i32> {
    let json = a
        .recordings
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let result = if json {
        crate::exec::import::import(&a.recordings, &a.out)
    } else {
        let file = check_recordings(cli, &a.recordings, out)?;
        crate::exec::import::import_checked(&file, &a.recordings, &a.out)
    };
    match result {
        Ok(m) => {
            let _ = writeln!(
                out.err,
                "imported {} recording(s) from {} ({} source files) to {}",
                m.runs.len(),
                a.recordings.display(),
                m.sources.len(),
                a.out.display()
            );
            Ok(())
        }
        Err(e) => {
            let _ = writeln!(
                out.err,
                "error[{}]: importing {}: {e}",
                crate::diag::Coded::code(&e),
                a.recordings.display()
            );
            Err(1)
        }
    }
}

/// Checks a recordings spec, printing its diagnostics; `Err(1)` when it is invalid (or has
/// warnings under `--deny warnings`).
pub(super) fn check_recordings(
    cli: &Cli,
    spec: &std::path::Path,
    out: &mut Out,
) -> Result<crate::features::recordings::RecordingsFile, i32> {
    let mut sources = SourceMap::new();
    match check::check_recordings_path(spec, &mut sources) {
        Ok(w) => {
            if !w.warnings.is_empty() {
                report(cli, &w.warnings, &sources, out);
                if cli.deny.contains(&Deny::Warnings) {
                    return Err(1);
                }
            }
            Ok(w.value)
        }
        Err(d) => {
            report(cli, &d.0, &sources, out);
            Err(1)
        }
    }
}

/// Whether `spec` is a recordings spec (a file that cannot be read is left to the study
/// checker, which says so).
pub(super) fn is_recordings(spec: &std::path::Path) -> bool {
    let mut sources = SourceMap::new();
    sources
        .load(spec)
        .is_ok_and(|id| check::is_recordings_spec(&sources, id))
}
