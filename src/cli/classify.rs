//! `lrx classify <spec.lrx | study dir>`: the classifier stage of a trained study.

use super::{Cli, Out, load};
use crate::classify::stage::{self, StageEvent, StageOptions};
use crate::ir;
use std::path::{Path, PathBuf};

pub(super) fn cmd_classify(
    cli: &Cli,
    target: &Path,
    output: Option<&Path>,
    extra: &[PathBuf],
    quiet: bool,
    save_models: bool,
    out: &mut Out,
) -> Result<(), i32> {
    // The study: checked from the spec, or `<dir>/study.json` (written by `lrx run`).
    let (study, dir): (ir::Study, PathBuf) = if target.is_dir() {
        let s = stage::read_study_json(target).map_err(|e| {
            super::fail_code(
                out,
                crate::diag::Coded::code(&e),
                format!("{e} (a study directory needs the `study.json` that `lrx run` writes; or pass the spec)"),
            )
        })?;
        (s, output.unwrap_or(target).to_path_buf())
    } else {
        let (_, s, _) = load(cli, target, out)?;
        let d = output.map_or_else(|| PathBuf::from(&s.output), Path::to_path_buf);
        (s, d)
    };
    run_stage(&study, &dir, extra, quiet, save_models, out)
}

/// The classifier stage of `study` on the study directory `dir`, with progress on stderr and the
/// results table on stdout (also what `lrx run` calls after training).
pub(super) fn run_stage(
    study: &ir::Study,
    dir: &Path,
    extra: &[PathBuf],
    quiet: bool,
    save_models: bool,
    out: &mut Out,
) -> Result<(), i32> {
    let fail = |out: &mut Out, msg: String| {
        let _ = writeln!(out.err, "error: {msg}");
        1
    };
    let Some(classify) = &study.classify else {
        return Err(fail(
            out,
            format!(
                "study `{}` has no `classify` block: add one to the spec (see `lrx doc`)",
                study.name
            ),
        ));
    };
    let opts = StageOptions {
        study: study.name.clone(),
        spec_hash: study.spec_hash.clone(),
        extra_dirs: extra.to_vec(),
        save_models,
    };
    let err = &mut *out.err;
    let mut on_event = |e: StageEvent| {
        if quiet {
            return;
        }
        match e {
            StageEvent::Loaded {
                examples,
                checkpoints,
                observables,
                evaluations,
            } => {
                let _ = writeln!(
                    err,
                    "classify: {examples} examples × {checkpoints} checkpoints × {observables} observables; {evaluations} evaluations"
                );
            }
            StageEvent::Note(n) => {
                let _ = writeln!(err, "note: {n}");
            }
            StageEvent::Finished {
                done,
                total,
                id,
                accuracy,
            } => {
                let _ = writeln!(err, "[{done}/{total}] {id}: {accuracy:.3}");
            }
            StageEvent::Wrote(_) => {}
        }
    };
    let outcome = stage::classify_study_with(dir, classify, &opts, &mut on_event)
        .map_err(|e| super::fail_coded(out, &e))?;
    let _ = write!(out.out, "{}", summary_table(&outcome.evaluations));
    let _ = writeln!(
        out.out,
        "wrote {} evaluations to {} (per evaluation: {}, table: {})",
        outcome.evaluations.evaluations.len(),
        outcome.results_dir.join("evaluations.json").display(),
        outcome.results_dir.join("eval").display(),
        outcome.results_dir.join("summary.parquet").display(),
    );
    Ok(())
}

/// Accuracy ± s.e.m. per model × measure of the all-class targets, balanced splits, full
/// trajectories (the paper's main setting).
pub(super) fn summary_table(ev: &stage::Evaluations) -> String {
    let main: Vec<&stage::Entry> = ev
        .evaluations
        .iter()
        .filter(|e| {
            !e.target.starts_with("pair")
                && e.split == "balanced"
                && e.layout == "flat"
                && e.trajectory.is_none()
                && e.portion.is_none()
                && e.realism.is_none()
        })
        .collect();
    let mut measures: Vec<&str> = Vec::new();
    let mut rows: Vec<(&str, &str)> = Vec::new();
    for e in &main {
        if !measures.contains(&e.measure.as_str()) {
            measures.push(&e.measure);
        }
        if !rows.contains(&(e.target.as_str(), e.model.as_str())) {
            rows.push((&e.target, &e.model));
        }
    }
    if main.is_empty() {
        return String::new();
    }
    let mut s = String::new();
    let w = rows
        .iter()
        .map(|(t, m)| t.len() + m.len() + 3)
        .max()
        .unwrap_or(0)
        .max(10);
    s += &format!("{:w$}", "");
    for m in &measures {
        s += &format!("  {m:>15}");
    }
    s.push('\n');
    for (t, m) in &rows {
        s += &format!("{:w$}", format!("{t} · {m}"));
        for meas in &measures {
            match main
                .iter()
                .find(|e| e.target == *t && e.model == *m && e.measure == *meas)
            {
                Some(e) => s += &format!("  {:>7.3} ± {:.3}", e.accuracy.mean, e.accuracy.sem),
                None => s += &format!("  {:>15}", "-"),
            }
        }
        s.push('\n');
    }
    if let Some(e) = main.first() {
        s += &format!(
            "(chance {:.3}; mean ± s.e.m. over outer splits)\n",
            e.chance
        );
    }
    s
}
