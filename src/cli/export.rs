//! `lrx export-reference`: one run's data, initial weights and batch order for an independent
//! implementation (src/exec/export.rs, docs/learning.md "Reference export").
#![cfg_attr(not(feature = "torch"), allow(unused_imports, dead_code))]

use super::{Cli, Out, load};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    pub spec: PathBuf,
    /// The run id (or a unique prefix; `lrx plan SPEC --emit plan` lists them).
    #[arg(long)]
    pub run: String,
    /// Output directory (created).
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

#[cfg(not(feature = "torch"))]
pub(super) fn cmd_export(_: &Cli, _: &ExportArgs, out: &mut Out) -> Result<(), i32> {
    let _ = writeln!(
        out.err,
        "error: this lrx was built without libtorch (feature `torch`); export needs it"
    );
    Err(2)
}

#[cfg(feature = "torch")]
pub(super) fn cmd_export(cli: &Cli, a: &ExportArgs, out: &mut Out) -> Result<(), i32> {
    let (_, _, plan) = load(cli, &a.spec, out)?;
    let hits: Vec<_> = plan
        .runs
        .iter()
        .filter(|r| r.id.starts_with(&a.run))
        .collect();
    let run = match hits.as_slice() {
        [r] => *r,
        [] => {
            let _ = writeln!(
                out.err,
                "error: no run of `{}` has an id starting with `{}` (`lrx plan {} --emit plan` lists the ids)",
                a.spec.display(),
                a.run,
                a.spec.display()
            );
            return Err(1);
        }
        many => {
            let _ = writeln!(
                out.err,
                "error: `{}` matches {} runs; give more of the id",
                a.run,
                many.len()
            );
            return Err(1);
        }
    };
    match crate::exec::export::export_reference(run, &a.out) {
        Ok(()) => {
            let _ = writeln!(out.err, "exported run {} to {}", run.id, a.out.display());
            Ok(())
        }
        Err(e) => {
            let _ = writeln!(
                out.err,
                "error[{}]: exporting run {}: {e}",
                crate::diag::Coded::code(&e),
                run.id
            );
            Err(1)
        }
    }
}
