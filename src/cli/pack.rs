//! `lrx pack SPEC_OR_STUDY_DIR -o study.lrxpack [--with-data]` (docs/run.md "`lrx pack`"): a spec, its
//! imports, the stdlib it resolved against and a lock with a checksum of every data file,
//! plus a study directory's features and results, in one `.tar.gz`.

use super::{Cli, Out, fail, fail_coded, human_bytes, load};
use crate::pack::{self, collect};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct PackArgs {
    /// A spec (`.lrx`), or a study directory (`lrx run`'s output: its spec, features and
    /// results are packed).
    pub target: PathBuf,
    /// The pack to write (default: `<study>.lrxpack` in the current directory).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Copy the data files the tasks read into the pack (default: their checksums only).
    #[arg(long)]
    pub with_data: bool,
}

/// The spec of a study directory: the manifest's `spec_path`, which must still check to the
/// hash the study ran with. Prints the error and gives the exit code when there is none.
fn study_spec(dir: &Path, out: &mut Out) -> Result<PathBuf, i32> {
    let m = crate::exec::Manifest::read(dir).map_err(|e| fail_coded(out, &e))?;
    if !m.spec_path.is_file() {
        return Err(fail(
            out,
            format!(
                "the study's spec `{}` (from {}) is gone: pack the spec itself with `lrx pack SPEC`, and the study with it once the spec is back",
                m.spec_path.display(),
                crate::exec::manifest_path(dir).display()
            ),
        ));
    }
    Ok(m.spec_path)
}

pub(super) fn cmd_pack(cli: &Cli, a: &PackArgs, out: &mut Out) -> Result<(), i32> {
    let study_dir = a.target.is_dir().then(|| a.target.clone());
    let spec = match &study_dir {
        Some(d) => study_spec(d, out)?,
        None => a.target.clone(),
    };
    let (sources, study, plan) = load(cli, &spec, out)?;
    if let Some(d) = &study_dir {
        let m = crate::exec::Manifest::read(d).map_err(|e| fail_coded(out, &e))?;
        if m.spec_hash != plan.spec_hash {
            return Err(fail(
                out,
                format!(
                    "the spec `{}` changed since the study in `{}` ran (spec hash {} now, {} in its manifest): restore the spec the study ran with, or pack the new spec alone",
                    spec.display(),
                    d.display(),
                    plan.spec_hash,
                    m.spec_hash
                ),
            ));
        }
    }
    let opts = collect::Options {
        with_data: a.with_data,
        study_dir: study_dir.clone(),
    };
    let err = &mut *out.err;
    let mut progress = |s: &str| {
        let _ = writeln!(err, "{s}");
    };
    let (manifest, entries) =
        collect::collect(&spec, &sources, &study, &plan, &opts, &mut progress)
            .map_err(|e| fail(out, format!("cannot pack `{}`: {e}", a.target.display())))?;
    let output = a
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.lrxpack", plan.study)));
    pack::write(&output, &manifest, &entries).map_err(|e| fail(out, e))?;
    let count = |prefix: &str| {
        entries
            .iter()
            .filter(|e| e.path.starts_with(prefix))
            .count()
    };
    let data_files: usize = manifest.data.iter().map(|d| d.files.len()).sum();
    let data_bytes: u64 = manifest
        .data
        .iter()
        .flat_map(|d| d.files.iter().map(|f| f.bytes))
        .sum();
    let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
    let _ = writeln!(
        out.out,
        "packed study `{}` ({} runs, spec hash {}) into {} ({})",
        manifest.study,
        manifest.run_ids.len(),
        manifest.spec_hash,
        output.display(),
        human_bytes(size as f64)
    );
    let _ = writeln!(
        out.out,
        "  spec: {} file(s), entry {}; stdlib version {}: {} module(s)",
        count("spec/"),
        manifest.entry,
        manifest.stdlib_version,
        count("stdlib/")
    );
    let _ = writeln!(
        out.out,
        "  data: {} location(s), {} file(s), {} checksummed{}",
        manifest.data.len(),
        data_files,
        human_bytes(data_bytes as f64),
        if a.with_data {
            " and copied in"
        } else {
            " (not copied; --with-data copies them)"
        }
    );
    if study_dir.is_some() {
        let _ = writeln!(
            out.out,
            "  study: {} file(s) (features, results, runs table, status files)",
            count("study/")
        );
    }
    let _ = writeln!(
        out.out,
        "check it elsewhere with `lrx reproduce {} --plan-only`",
        output.display()
    );
    Ok(())
}
