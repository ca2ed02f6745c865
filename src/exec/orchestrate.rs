//! The parent side of `lrx run`: pick the runs still to do, start `lrx-engine run-task` children
//! (`--jobs` at once), show their progress, stop cleanly on SIGINT/SIGTERM, and write the runs
//! table.

use super::{Event, ExecError, Manifest, is_finished, read_status, run_dir, run_records};
use crate::diag::Coded;
use crate::features::writer::{FileMetadata, write_runs};
use crate::ir::{self, Factor};
use crate::plan::{Plan, RunSpec};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    /// indicatif bars (on a terminal).
    Bars,
    /// One line per event.
    Lines,
    /// JSON lines on stdout, for tools.
    Json,
    /// Nothing (`--quiet`).
    Quiet,
}

/// Options of `lrx run` that concern training.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Children training at once (`--jobs`; 0 counts as 1).
    pub jobs: usize,
    /// Keep only runs matching every `factor=value` (or a run-id prefix).
    pub only: Vec<String>,
    /// The study directory.
    pub output: PathBuf,
    /// Only list the runs that would train (`--dry-run`).
    pub dry_run: bool,
    /// How progress is shown.
    pub log: LogMode,
    /// libtorch intra-op threads per child (0: 1 on CPU, so features do not depend on --jobs).
    pub threads: usize,
}

/// What happened to the training stage ([`train_all`]).
#[derive(Debug, Default)]
pub struct TrainSummary {
    /// Runs of the plan that `--only` selects (all without filters).
    pub selected: usize,
    /// Selected runs already finished before this call (done or diverged), not trained again.
    pub already_finished: usize,
    /// Runs trained, observed and written in this call.
    pub done: usize,
    /// Runs whose loss became non-finite in this call.
    pub diverged: usize,
    /// Runs that failed in this call, in the order they ended.
    pub failed: Vec<FailedRun>,
    /// Whether the stage was stopped (SIGINT, SIGTERM) or a child reported itself interrupted.
    pub interrupted: bool,
    /// Wall time of the call, seconds.
    pub seconds: f64,
}

/// A run that failed, as its status file (or the lack of one) says.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedRun {
    /// The run's id.
    pub id: String,
    /// What failed: the status file's `error`.
    pub error: String,
    /// Its stable code (docs/diagnostics.md), when it has one.
    pub code: Option<String>,
}

/// The factor values a `--only` filter can name.
fn matches(run: &RunSpec, filters: &[String]) -> bool {
    let f = super::run_factors(run);
    filters.iter().all(|flt| match flt.split_once('=') {
        Some(("rule", v)) => run.rule.label == v || run.rule.call.name == v,
        Some(("arch", v)) => run.arch.label == v || run.arch.call.name == v,
        Some(("task", v)) => run.task.label == v || run.task.call.name == v,
        Some((k, v)) => f.get(k).is_some_and(|x| x.to_string() == v),
        None => run.id.starts_with(flt.as_str()),
    })
}

/// Checks `--only` filters name known factors: [`ExecError::UnknownFilter`] names the first
/// `factor=value` filter whose factor is neither a run factor nor `sweep` (a filter without `=`
/// is a run-id prefix and always accepted).
pub fn check_filters(filters: &[String]) -> Result<(), ExecError> {
    for f in filters {
        if let Some((k, _)) = f.split_once('=')
            && k != "sweep"
            && Factor::parse(k).is_none()
        {
            return Err(ExecError::UnknownFilter {
                filter: f.clone(),
                factor: k.to_string(),
                known: format!("sweep, {}", Factor::NAMES.join(", ")),
            });
        }
    }
    Ok(())
}

/// Writes `manifest.json` and `study.json` into the study directory `dir` (atomically, each
/// replacing the one there): the plan of `spec` and the checked study. Fails with
/// [`ExecError::Write`] naming the file.
pub(crate) fn write_study_files(
    dir: &Path,
    spec: &Path,
    study: &ir::Study,
    plan: &Plan,
) -> Result<(), ExecError> {
    let m = Manifest::new(plan, spec, dir);
    let io = |p: &Path, e: std::io::Error| ExecError::write(p, e);
    let mp = super::manifest_path(dir);
    super::write_atomic(&mp, &serde_json::to_vec_pretty(&m).unwrap_or_default())
        .map_err(|e| io(&mp, e))?;
    let sp = super::study_json_path(dir);
    super::write_atomic(&sp, &serde_json::to_vec_pretty(study).unwrap_or_default())
        .map_err(|e| io(&sp, e))
}

/// Writes `dir/runs.parquet` with every run's factors and current status (`device` goes into its
/// metadata) and returns its path. Fails with [`ExecError::RunsTable`].
pub fn write_runs_table(dir: &Path, plan: &Plan, device: &str) -> Result<PathBuf, ExecError> {
    let recs = run_records(dir, plan);
    let meta = FileMetadata::new(
        "",
        plan.spec_hash.clone(),
        super::libtorch_version(),
        device,
    );
    write_runs(dir, &recs, &meta).map_err(ExecError::RunsTable)
}

fn describe(r: &RunSpec) -> String {
    format!(
        "{} {} {} batch {} seeds {}/{}",
        &r.id[..8.min(r.id.len())],
        r.rule.label,
        r.arch.label,
        r.batch,
        r.model_seed,
        r.data_seed
    )
}

/// What every child of one [`train_all`] shares: the engine, the manifest, the study directory,
/// the device and the threads per child.
struct Launch<'a> {
    exe: &'a Path,
    manifest: &'a Path,
    dir: &'a Path,
    device: &'a str,
    threads: usize,
}

/// Start `lrx-engine run-task` for run `r` (its stderr to the run's `stderr.log`) and a thread
/// that forwards its JSON events to `tx` under `key`, then `(key, None)` when its stdout closes.
fn spawn_run(
    c: &Launch,
    r: &RunSpec,
    key: usize,
    tx: mpsc::Sender<(usize, Option<Event>)>,
) -> Result<Child, ExecError> {
    let rd = run_dir(c.dir, &r.id);
    std::fs::create_dir_all(&rd).map_err(|e| ExecError::create(&rd, e))?;
    let stderr_path = rd.join("stderr.log");
    let stderr =
        std::fs::File::create(&stderr_path).map_err(|e| ExecError::create(&stderr_path, e))?;
    let mut child = Command::new(c.exe)
        .arg("run-task")
        .arg(c.manifest)
        .args(["--run", &r.id, "--device", c.device])
        .args(["--threads", &c.threads.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .map_err(|source| ExecError::Spawn {
            exe: c.exe.to_path_buf(),
            source,
        })?;
    let out = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(ev) = serde_json::from_str::<Event>(&l) {
                let _ = tx.send((key, Some(ev)));
            }
        }
        let _ = tx.send((key, None));
    });
    Ok(child)
}

/// The progress bar of one run's epochs.
fn run_bar(m: &MultiProgress, r: &RunSpec) -> ProgressBar {
    let b = m.add(ProgressBar::new(r.epochs.max(1) as u64));
    b.set_style(
        ProgressStyle::with_template("  {prefix:.bold} {bar:20} epoch {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b.set_prefix(describe(r));
    b
}

/// A child of run `r` has exited with `code`: count the outcome its status file records (or a
/// failure, [`ExecError::NoStatus`], when it wrote none) in `sum`, and return the line to print.
fn record_finished(dir: &Path, r: &RunSpec, code: Option<i32>, sum: &mut TrainSummary) -> String {
    let st = read_status(dir, &r.id);
    let (state, msg, error_code) = match (&st, code) {
        (Some(s), _) => (
            s.status.clone(),
            s.error.clone().unwrap_or_default(),
            s.error_code.clone(),
        ),
        (None, exit) => {
            let e = ExecError::NoStatus {
                exit,
                log: run_dir(dir, &r.id).join("stderr.log"),
            };
            ("failed".to_string(), e.to_string(), Some(e.code().into()))
        }
    };
    match state.as_str() {
        "done" => sum.done += 1,
        "diverged" => sum.diverged += 1,
        "interrupted" => sum.interrupted = true,
        _ => sum.failed.push(FailedRun {
            id: r.id.clone(),
            error: msg.clone(),
            code: error_code,
        }),
    }
    let secs = st.as_ref().map(|s| s.seconds).unwrap_or(0.0);
    let note = if msg.is_empty() {
        String::new()
    } else {
        format!(": {msg}")
    };
    format!("{state:>8} {} ({secs:.1} s){note}", describe(r))
}

struct Running {
    child: Child,
    run: usize,
    bar: Option<ProgressBar>,
}

/// Train and observe every run of `plan` selected by `opts.only` and not yet finished, on
/// `device`, in `opts.jobs` `lrx-engine run-task` children at once, with progress on `err` (or
/// stdout, in JSON mode). Setting `stop` (SIGINT, SIGTERM) interrupts the children, which save
/// their checkpoint. A run that fails is counted in the summary, not returned as an error; the
/// error is for what stops the whole stage: no engine executable
/// (`exe::engine_exe`'s errors), a run directory or log that cannot be created
/// ([`ExecError::Write`]), a child that cannot be started ([`ExecError::Spawn`]).
pub fn train_all(
    plan: &Plan,
    device: &str,
    opts: &RunOptions,
    stop: Arc<AtomicBool>,
    err: &mut dyn Write,
) -> Result<TrainSummary, ExecError> {
    let t0 = std::time::Instant::now();
    let dir = &opts.output;
    let selected: Vec<usize> = (0..plan.runs.len())
        .filter(|&i| matches(&plan.runs[i], &opts.only))
        .collect();
    let todo: Vec<usize> = selected
        .iter()
        .copied()
        .filter(|&i| !is_finished(dir, &plan.runs[i]))
        .collect();
    let mut sum = TrainSummary {
        selected: selected.len(),
        already_finished: selected.len() - todo.len(),
        ..Default::default()
    };
    let log = opts.log;
    let line = |err: &mut dyn Write, s: &str| {
        if matches!(log, LogMode::Lines | LogMode::Bars) {
            let _ = writeln!(err, "{s}");
        }
    };
    line(
        err,
        &format!(
            "lrx: {} runs selected, {} already finished, {} to train on {device} with {} job(s) → {}",
            sum.selected,
            sum.already_finished,
            todo.len(),
            opts.jobs,
            dir.display()
        ),
    );
    if opts.dry_run {
        for &i in &todo {
            let r = &plan.runs[i];
            let resume = run_dir(dir, &r.id).join("checkpoints").is_dir();
            let _ = writeln!(
                err,
                "  would train {}{}",
                describe(r),
                if resume { " (resume)" } else { "" }
            );
        }
        return Ok(sum);
    }
    let exe = super::exe::engine_exe()?;
    let manifest = super::manifest_path(dir);
    let threads = if opts.threads > 0 { opts.threads } else { 1 };
    let (tx, rx) = mpsc::channel::<(usize, Option<Event>)>();
    let multi = (log == LogMode::Bars).then(MultiProgress::new);
    let total_bar = multi.as_ref().map(|m| {
        let b = m.add(ProgressBar::new(todo.len() as u64));
        b.set_style(
            ProgressStyle::with_template(
                "runs  [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let mut queue: std::collections::VecDeque<usize> = todo.iter().copied().collect();
    let mut running: BTreeMap<usize, Running> = BTreeMap::new();
    let mut finished = 0usize;
    let mut slot = 0usize;
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        while !stopping && running.len() < opts.jobs.max(1) {
            let Some(i) = queue.pop_front() else { break };
            let r = &plan.runs[i];
            slot += 1;
            let key = slot;
            let child = spawn_run(
                &Launch {
                    exe: &exe,
                    manifest: &manifest,
                    dir,
                    device,
                    threads,
                },
                r,
                key,
                tx.clone(),
            )?;
            let bar = multi.as_ref().map(|m| run_bar(m, r));
            line(err, &format!("start {}", describe(r)));
            running.insert(key, Running { child, run: i, bar });
        }
        if running.is_empty() {
            break;
        }
        let (key, ev) = match rx.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(x) => x,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::SeqCst) {
                    for r in running.values() {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(r.child.id() as i32),
                            nix::sys::signal::Signal::SIGINT,
                        );
                    }
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let Some(rn) = running.get_mut(&key) else {
            continue;
        };
        let r = &plan.runs[rn.run];
        if log == LogMode::Json
            && let Some(e) = &ev
        {
            println!("{}", serde_json::to_string(e).unwrap_or_default());
        }
        match ev {
            Some(Event::Epoch {
                epoch,
                epochs,
                train_loss,
                val_acc,
                ..
            }) => {
                let acc = val_acc
                    .map(|a| format!(" val acc {a:.3}"))
                    .unwrap_or_default();
                if let Some(b) = &rn.bar {
                    b.set_position(u64::from(epoch));
                    b.set_message(format!("loss {train_loss:.4}{acc}"));
                }
                if log == LogMode::Lines {
                    line(
                        err,
                        &format!(
                            "  {} epoch {epoch}/{epochs} loss {train_loss:.4}{acc}",
                            &r.id[..8]
                        ),
                    );
                }
            }
            Some(_) => {}
            None => {
                // The child closed its stdout: wait for it and read its status file.
                let mut rn = running.remove(&key).expect("present");
                let code = rn.child.wait().map(|s| s.code()).unwrap_or(None);
                if let Some(b) = rn.bar.take() {
                    b.finish_and_clear();
                }
                finished += 1;
                let text = record_finished(dir, r, code, &mut sum);
                match &multi {
                    Some(m) => {
                        let _ = m.println(text);
                    }
                    None => line(err, &text),
                }
                if let Some(b) = &total_bar {
                    b.set_position(finished as u64);
                    b.set_message(format!(
                        "{} done, {} diverged, {} failed",
                        sum.done,
                        sum.diverged,
                        sum.failed.len()
                    ));
                }
            }
        }
    }
    if let Some(b) = total_bar {
        b.finish_and_clear();
    }
    if stop.load(Ordering::SeqCst) {
        sum.interrupted = true;
    }
    sum.seconds = t0.elapsed().as_secs_f64();
    Ok(sum)
}
