//! `lrx run`, `lrx run-task`, `lrx status`.
// Without libtorch only `lrx status` is live here; the training commands print an error.
#![cfg_attr(not(feature = "torch"), allow(unused_imports, dead_code))]

use super::{Cli, Out, fail, fail_code, fail_coded, load};
use crate::diag::Coded;
#[cfg(feature = "torch")]
use crate::exec::engine::Device;
use crate::exec::orchestrate::{self, LogMode, RunOptions};
use crate::exec::{Manifest, status_table};
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Progress bars on a terminal, one line per event otherwise.
    Human,
    /// One JSON object per event on stdout.
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    pub spec: PathBuf,
    /// Show what would be trained, then stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Runs trained at once (each in its own process). Default: the number of CPU cores on
    /// `cpu`, 1 on a GPU.
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Device: cpu, cuda, cuda:N or auto (overrides the spec's `device`).
    #[arg(long)]
    pub device: Option<String>,
    /// Only runs matching `factor=value` (rule, arch, task, batch, lr, model_seed, data_seed,
    /// ...) or a run-id prefix; repeat to combine.
    #[arg(long)]
    pub only: Vec<String>,
    /// Study directory (overrides the spec's `output`).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// libtorch threads per run (default 1 on CPU, so features do not depend on --jobs).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// No progress output.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// Train and observe only: skip the classifier stage and the report.
    #[arg(long)]
    pub no_classify: bool,
    /// Train nothing: assemble the runs table, classify and report what is finished (the
    /// final job of `lrx submit` runs this).
    #[arg(long, conflicts_with_all = ["no_classify", "dry_run"])]
    pub no_train: bool,
    /// Also save the classifiers of the saveable evaluations as
    /// `results/models/<eval-id>.lrxc.json` (as `lrx classify --save-models`).
    #[arg(long, conflicts_with = "no_classify")]
    pub save_models: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RunTaskArgs {
    /// The study's manifest.json (written by `lrx run` / `lrx submit`).
    pub manifest: PathBuf,
    /// The run id (or a unique prefix).
    #[arg(long, conflicts_with = "index")]
    pub run: Option<String>,
    /// The run's index in the manifest (a Slurm array index plus offset).
    #[arg(long)]
    pub index: Option<usize>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// SIGINT / SIGTERM raise the returned flag (once per process).
fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let _ = ctrlc::set_handler(move || s.store(true, std::sync::atomic::Ordering::SeqCst));
    stop
}

#[cfg(not(feature = "torch"))]
pub(super) fn cmd_run(_: &Cli, _: &RunArgs, out: &mut Out) -> Result<(), i32> {
    Err(fail(
        out,
        "this lrx was built without libtorch (feature `torch`): it cannot train",
    ))
}

#[cfg(not(feature = "torch"))]
pub(super) fn cmd_run_task(_: &Cli, _: &RunTaskArgs, out: &mut Out) -> Result<(), i32> {
    Err(fail(
        out,
        "this lrx was built without libtorch (feature `torch`): it cannot train",
    ))
}

#[cfg(feature = "torch")]
pub(super) fn cmd_run(cli: &Cli, a: &RunArgs, out: &mut Out) -> Result<(), i32> {
    let (_, study, plan) = load(cli, &a.spec, out)?;
    let output = a
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(&study.output));
    let device = a.device.clone().unwrap_or_else(|| study.device.clone());
    let dev = crate::exec::engine::parse_device(&device).map_err(|e| fail_coded(out, &e))?;
    orchestrate::check_filters(&a.only).map_err(|e| fail_coded(out, &e))?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let jobs = a.jobs.unwrap_or(if dev == Device::Cpu { cores } else { 1 });
    if jobs == 0 {
        return Err(fail(out, "--jobs must be at least 1"));
    }
    let log = log_mode(a);
    let opts = RunOptions {
        jobs,
        only: a.only.clone(),
        output: output.clone(),
        dry_run: a.dry_run,
        log,
        threads: a.threads,
    };
    if !a.dry_run {
        orchestrate::write_study_files(&output, &a.spec, &study, &plan)
            .map_err(|e| fail_coded(out, &e))?;
    }
    if a.no_train {
        return without_training(cli, &study, &plan, &output, &device, log, out);
    }
    let stop = stop_flag();
    let sum = orchestrate::train_all(&plan, &device, &opts, stop, out.err)
        .map_err(|e| fail_coded(out, &e))?;
    if a.dry_run {
        return Ok(());
    }
    let table =
        orchestrate::write_runs_table(&output, &plan, &device).map_err(|e| fail_coded(out, &e))?;
    let say = |out: &mut Out, s: String| {
        if log != LogMode::Quiet {
            let _ = writeln!(out.err, "{s}");
        }
    };
    say(
        out,
        format!(
            "training: {} trained, {} diverged, {} failed, {} already finished ({:.1} s); runs table {}",
            sum.done,
            sum.diverged,
            sum.failed.len(),
            sum.already_finished,
            sum.seconds,
            table.display()
        ),
    );
    if sum.interrupted {
        let _ = writeln!(
            out.err,
            "interrupted: finished runs are kept and unfinished ones resume from their last checkpoint; run the same command again to continue"
        );
        return Err(130);
    }
    if !sum.failed.is_empty() {
        for f in &sum.failed {
            let _ = writeln!(
                out.err,
                "{}: run {} failed: {}",
                error_tag(f.code.as_deref()),
                f.id,
                f.error
            );
        }
        let _ = writeln!(
            out.err,
            "error: {} run(s) failed (status in {}/runs/<id>/status.json, stderr.log beside it); finished runs are kept, rerun to retry the failed ones",
            sum.failed.len(),
            output.display()
        );
        return Err(1);
    }
    if a.no_classify || !a.only.is_empty() {
        return Ok(());
    }
    post_training(cli, &study, &output, log, out)
}

/// How `lrx run` shows progress: `--quiet`, `--log-format json`, bars on a terminal, else lines.
#[cfg(feature = "torch")]
fn log_mode(a: &RunArgs) -> LogMode {
    if a.quiet {
        LogMode::Quiet
    } else if a.log_format == LogFormat::Json {
        LogMode::Json
    } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        LogMode::Bars
    } else {
        LogMode::Lines
    }
}

/// `lrx run --no-train`: the stages after training on the runs already finished (a warning
/// names those that are not).
#[cfg(feature = "torch")]
fn without_training(
    cli: &Cli,
    study: &crate::ir::Study,
    plan: &crate::plan::Plan,
    output: &Path,
    device: &str,
    log: LogMode,
    out: &mut Out,
) -> Result<(), i32> {
    let missing: Vec<&str> = plan
        .runs
        .iter()
        .filter(|r| !crate::exec::is_finished(output, r))
        .map(|r| r.id.as_str())
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(
            out.err,
            "warning: {} of {} runs are not finished and are left out (`lrx status {}`): {}{}",
            missing.len(),
            plan.runs.len(),
            output.display(),
            missing
                .iter()
                .take(5)
                .map(|s| &s[..12.min(s.len())])
                .collect::<Vec<_>>()
                .join(", "),
            if missing.len() > 5 { ", …" } else { "" }
        );
    }
    let table =
        orchestrate::write_runs_table(output, plan, device).map_err(|e| fail_coded(out, &e))?;
    if log != LogMode::Quiet {
        let _ = writeln!(out.err, "runs table {}", table.display());
    }
    post_training(cli, study, output, log, out)
}

/// `error[<code>]` for a failed run's error with a code, else `error` (a status file of an
/// older lrx, or an error without one).
#[cfg(feature = "torch")]
fn error_tag(code: Option<&str>) -> String {
    match code {
        Some(c) => format!("error[{c}]"),
        None => "error".into(),
    }
}

/// The stages after training: features are already on disk; classify, then report.
#[cfg(feature = "torch")]
fn post_training(
    cli: &Cli,
    study: &crate::ir::Study,
    output: &Path,
    log: LogMode,
    out: &mut Out,
) -> Result<(), i32> {
    let quiet = matches!(log, LogMode::Quiet | LogMode::Json);
    let t0 = std::time::Instant::now();
    if study.classify.is_some() {
        let save = matches!(&cli.command, super::Command::Run(a) if a.save_models);
        super::classify::run_stage(study, output, &[], quiet, save, out)?;
        if !quiet {
            let _ = writeln!(
                out.err,
                "classification took {:.1} s",
                t0.elapsed().as_secs_f64()
            );
        }
    }
    super::cmd_report(output, out)
}

#[cfg(feature = "torch")]
pub(super) fn cmd_run_task(cli: &Cli, a: &RunTaskArgs, out: &mut Out) -> Result<(), i32> {
    use crate::exec::task::{TaskOptions, execute};
    // Die with the parent: a killed `lrx run` must not leave trainings behind (SIGTERM lets
    // this process stop cleanly; its checkpoints stay).
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    let study_dir = a
        .manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let m = Manifest::read(&study_dir).map_err(|e| fail_coded(out, &e))?;
    let (_, _, plan) = load(cli, &m.spec_path, out)?;
    if plan.spec_hash != m.spec_hash {
        return Err(fail(
            out,
            format!(
                "the spec {} changed since {} was written (hash {} → {}); run `lrx run` again to rewrite the manifest",
                m.spec_path.display(),
                a.manifest.display(),
                m.spec_hash,
                plan.spec_hash
            ),
        ));
    }
    let id = match (&a.run, a.index) {
        (Some(r), _) => {
            let hits: Vec<&String> = m
                .run_ids
                .iter()
                .filter(|x| x.starts_with(r.as_str()))
                .collect();
            match hits.as_slice() {
                [one] => (*one).clone(),
                [] => {
                    return Err(fail(
                        out,
                        format!("no run `{r}` in {}", a.manifest.display()),
                    ));
                }
                _ => return Err(fail(out, format!("run id prefix `{r}` is ambiguous"))),
            }
        }
        (None, Some(i)) => m.run_ids.get(i).cloned().ok_or_else(|| {
            fail(
                out,
                format!(
                    "--index {i} is out of range: the manifest has {} runs",
                    m.run_ids.len()
                ),
            )
        })?,
        (None, None) => return Err(fail(out, "give --run <id> or --index <n>")),
    };
    let run = plan.runs.iter().find(|r| r.id == id).ok_or_else(|| {
        fail(
            out,
            format!("run {id} is not in the plan of {}", m.spec_path.display()),
        )
    })?;
    let device = crate::exec::engine::parse_device(&a.device).map_err(|e| fail_coded(out, &e))?;
    crate::exec::engine::set_threads(a.threads);
    let device_name = crate::exec::engine::device_name(device);
    let stop = stop_flag();
    let mut emit = |e: &crate::exec::Event| {
        let mut so = std::io::stdout().lock();
        let _ = writeln!(so, "{}", serde_json::to_string(e).unwrap_or_default());
        let _ = so.flush();
    };
    let st = execute(
        &study_dir,
        &m.spec_hash,
        run,
        TaskOptions {
            device,
            device_name,
            stop,
            emit: &mut emit,
        },
    );
    match st.status.as_str() {
        "done" | "diverged" => Ok(()),
        "interrupted" => Err(130),
        _ => {
            let _ = writeln!(
                out.err,
                "{}: run {id} failed: {}",
                error_tag(st.error_code.as_deref()),
                st.error.unwrap_or_default()
            );
            Err(1)
        }
    }
}

pub(super) fn cmd_status(cli: &Cli, target: &Path, out: &mut Out) -> Result<(), i32> {
    let dir = if target.is_dir() {
        target.to_path_buf()
    } else {
        let (_, study, _) = load(cli, target, out)?;
        PathBuf::from(study.output)
    };
    let m = Manifest::read(&dir).map_err(|e| {
        fail_code(
            out,
            e.code(),
            format!(
                "{e} (has `lrx run` started this study in {}?)",
                dir.display()
            ),
        )
    })?;
    let _ = write!(out.out, "{}", status_table(&dir, &m));
    match super::submit::slurm_status(&dir, &m.run_ids) {
        Ok(s) => {
            let _ = write!(out.out, "{s}");
        }
        Err(e) => {
            let _ = writeln!(out.err, "note: {e}");
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct ReproduceArgs {
    /// The spec (with `--against`), or a study pack (`.lrxpack`, from `lrx pack`).
    pub spec: PathBuf,
    /// The shared study directory (with its manifest.json and features); a pack made from a
    /// study directory carries it.
    #[arg(long)]
    pub against: Option<PathBuf>,
    /// Only compare the plans (run ids, spec hash) and, for a pack, verify its checksums and
    /// the data files'; train nothing.
    #[arg(long)]
    pub plan_only: bool,
    /// Where to rerun the study (default: `<against>-reproduced`, or `<pack>-reproduced` beside
    /// the pack; a pack is extracted into its `pack/` folder).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Largest accepted |difference| / max(1, |value|) between features (default: 0 on CPU,
    /// 1e-2 on a GPU, where cuDNN rounds differently: measured 1e-3 after 2 epochs).
    #[arg(long)]
    pub tolerance: Option<f64>,
    #[arg(long)]
    pub device: Option<String>,
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
}

/// Whether `path` is a study pack: a file named `*.lrxpack`, or any file that starts with the
/// gzip magic bytes (a spec is text).
pub(super) fn is_pack(path: &std::path::Path) -> bool {
    if !path.is_file() {
        return false;
    }
    if path.extension().is_some_and(|e| e == "lrxpack") {
        return true;
    }
    let mut magic = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && magic == [0x1f, 0x8b]
}

/// Prints the comparison of the plan's run ids with a shared study's; `Err(1)` when they
/// differ.
fn compare_ids(
    plan: &crate::plan::Plan,
    theirs: &[String],
    their_hash: &str,
    there: &str,
    out: &mut Out,
) -> Result<(), i32> {
    let mine: Vec<&String> = plan.runs.iter().map(|r| &r.id).collect();
    let missing: Vec<&String> = theirs.iter().filter(|i| !mine.contains(i)).collect();
    let extra: Vec<&&String> = mine.iter().filter(|i| !theirs.contains(i)).collect();
    let _ = writeln!(
        out.out,
        "plan: {} runs here, {} in {there}; spec hash {} here, {their_hash} there",
        mine.len(),
        theirs.len(),
        plan.spec_hash,
    );
    if !missing.is_empty() || !extra.is_empty() {
        let _ = writeln!(
            out.out,
            "run ids differ: {} only there, {} only here (first: {:?} / {:?}); `lrx why` shows what an id is made of",
            missing.len(),
            extra.len(),
            missing.first(),
            extra.first()
        );
        return Err(1);
    }
    let _ = writeln!(out.out, "run ids: identical ({} runs)", mine.len());
    Ok(())
}

/// `<path>-reproduced` (a pack's extension dropped).
fn reproduced_dir(path: &std::path::Path) -> PathBuf {
    let base = if path.extension().is_some_and(|e| e == "lrxpack") {
        path.with_extension("")
    } else {
        path.to_path_buf()
    };
    let mut p = base.into_os_string();
    p.push("-reproduced");
    PathBuf::from(p)
}

/// The pack half of `lrx reproduce PACK`: extracts and verifies the pack, checks the spec it
/// holds, compares run ids and verifies the data files against the pack's lock. Returns the
/// extracted spec and, when the pack carries a study and training is asked for, the study
/// directory to compare with (`None`: done).
#[cfg(feature = "torch")]
fn open_pack(
    cli: &Cli,
    a: &ReproduceArgs,
    output: &std::path::Path,
    out: &mut Out,
) -> Result<Option<(PathBuf, PathBuf)>, i32> {
    use crate::pack;
    let dest = output.join("pack");
    if dest.exists() {
        std::fs::remove_dir_all(&dest).map_err(|e| {
            fail(
                out,
                format!("cannot clear `{}` to extract the pack: {e}", dest.display()),
            )
        })?;
    }
    let (m, n) = pack::extract(&a.spec, &dest).map_err(|e| fail(out, e))?;
    let trained = if m.trained_on.is_empty() {
        String::new()
    } else {
        format!(", trained on {}", m.trained_on.join(", "))
    };
    let _ = writeln!(
        out.out,
        "pack: {n} files verified (SHA-256), extracted to {}; made by lrx {} with libtorch {} (device {}{trained}); this is lrx {} with libtorch {}",
        dest.display(),
        m.lrx_version,
        m.libtorch_version,
        m.device,
        env!("CARGO_PKG_VERSION"),
        crate::exec::libtorch_version()
    );
    if m.stdlib_version != crate::stdlib::VERSION {
        let _ = writeln!(
            out.out,
            "note: the pack was made with stdlib version {}, this lrx has version {} (the pack's modules are in {}/stdlib; a spec that pins `stdlib = N` is warned about every changed value it uses)",
            m.stdlib_version,
            crate::stdlib::VERSION,
            dest.display()
        );
    }
    let spec = dest.join(&m.entry);
    let (_, _, plan) = load(cli, &spec, out)?;
    compare_ids(&plan, &m.run_ids, &m.spec_hash, "the pack", out)?;
    let mut checked = 0;
    let problems = pack::collect::verify_data(&m, &plan, &mut checked);
    if !problems.is_empty() {
        for p in &problems {
            let _ = writeln!(out.err, "error: data: {p}");
        }
        let help = if m.with_data {
            format!(
                "the pack holds the data it was made with, under {}/data/: copy it to the locations above, or point the tasks' `path` at it (paths are not part of run ids)",
                dest.display()
            )
        } else {
            "get the data the study was made with (the pack's lrxpack.json lists every file and its SHA-256), or ask for a pack made with `--with-data`".to_string()
        };
        let _ = writeln!(out.err, "help: {help}");
        return Err(fail(
            out,
            format!("{} data problem(s): nothing was run", problems.len()),
        ));
    }
    let _ = writeln!(
        out.out,
        "data: {checked} file(s) in {} location(s) match the pack's lock",
        m.data.len()
    );
    if a.plan_only {
        return Ok(None);
    }
    if !m.with_study {
        let _ = writeln!(
            out.out,
            "the pack holds no features to compare with (it was made from a spec); `lrx run {}` runs the study",
            spec.display()
        );
        return Ok(None);
    }
    Ok(Some((spec, dest.join("study"))))
}

/// Compares two feature tables of the same runs: (values compared, differing beyond `tol`,
/// largest relative difference).
pub(super) fn compare_features(
    a: &crate::features::reader::FeatureTable,
    b: &crate::features::reader::FeatureTable,
    tol: f64,
) -> Result<(usize, usize, f64), String> {
    if a.run_ids != b.run_ids || a.layers != b.layers {
        return Err("the two studies do not hold the same (run, layer) examples".into());
    }
    if a.observables != b.observables || a.epochs != b.epochs {
        return Err("the two studies do not hold the same observables and checkpoints".into());
    }
    let (mut n, mut bad, mut worst) = (0usize, 0usize, 0f64);
    for (x, y) in a.x.iter().zip(b.x.iter()) {
        n += 1;
        let d = if x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()) {
            0.0
        } else {
            (x - y).abs() / x.abs().max(1.0)
        };
        let d = if d.is_nan() { f64::INFINITY } else { d };
        worst = worst.max(d);
        if d > tol {
            bad += 1;
        }
    }
    Ok((n, bad, worst))
}

#[cfg(not(feature = "torch"))]
pub(super) fn cmd_reproduce(_: &Cli, _: &ReproduceArgs, out: &mut Out) -> Result<(), i32> {
    Err(fail(
        out,
        "this lrx was built without libtorch (feature `torch`): it cannot train",
    ))
}

#[cfg(feature = "torch")]
pub(super) fn cmd_reproduce(cli: &Cli, a: &ReproduceArgs, out: &mut Out) -> Result<(), i32> {
    use crate::features::reader::{Condition, load_features};
    let from_pack = is_pack(&a.spec);
    let (spec, against, output) = if from_pack {
        let output = a.output.clone().unwrap_or_else(|| reproduced_dir(&a.spec));
        match open_pack(cli, a, &output, out)? {
            None => return Ok(()),
            Some((spec, against)) => (spec, against, output),
        }
    } else {
        let Some(against) = a.against.clone() else {
            return Err(fail(
                out,
                format!(
                    "`{}` is a spec: say which study it reproduces with `--against STUDY_DIR` (or give a pack made by `lrx pack`)",
                    a.spec.display()
                ),
            ));
        };
        let output = a.output.clone().unwrap_or_else(|| reproduced_dir(&against));
        (a.spec.clone(), against, output)
    };
    let (_, study, plan) = load(cli, &spec, out)?;
    // A pack's ids were compared when it was opened (its study holds the same manifest).
    if !from_pack {
        let theirs = Manifest::read(&against).map_err(|e| fail_coded(out, &e))?;
        compare_ids(
            &plan,
            &theirs.run_ids,
            &theirs.spec_hash,
            &against.display().to_string(),
            out,
        )?;
    }
    if a.plan_only {
        return Ok(());
    }
    let device = a.device.clone().unwrap_or_else(|| study.device.clone());
    let dev = crate::exec::engine::parse_device(&device).map_err(|e| fail_coded(out, &e))?;
    let tol = a
        .tolerance
        .unwrap_or(if dev == Device::Cpu { 0.0 } else { 1e-2 });
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let opts = RunOptions {
        jobs: a.jobs.unwrap_or(if dev == Device::Cpu { cores } else { 1 }),
        only: vec![],
        output: output.clone(),
        dry_run: false,
        log: LogMode::Lines,
        threads: 0,
    };
    orchestrate::write_study_files(&output, &spec, &study, &plan)
        .map_err(|e| fail_coded(out, &e))?;
    let sum = orchestrate::train_all(&plan, &device, &opts, stop_flag(), out.err)
        .map_err(|e| fail_coded(out, &e))?;
    orchestrate::write_runs_table(&output, &plan, &device).map_err(|e| fail_coded(out, &e))?;
    if sum.interrupted || !sum.failed.is_empty() {
        return Err(fail(
            out,
            "the rerun did not finish; run the same command again to resume it",
        ));
    }
    let fa =
        load_features(&[&against], &Condition::Plain, None).map_err(|e| fail_coded(out, &e))?;
    let fb = load_features(&[&output], &Condition::Plain, None).map_err(|e| fail_coded(out, &e))?;
    let (n, bad, worst) = compare_features(&fa, &fb, tol).map_err(|e| fail(out, e))?;
    let _ = writeln!(
        out.out,
        "features: {n} values compared, {bad} differ by more than {tol:e} (largest relative difference {worst:e}); rerun in {}",
        output.display()
    );
    if bad > 0 {
        return Err(1);
    }
    let _ = writeln!(out.out, "reproduced");
    Ok(())
}
