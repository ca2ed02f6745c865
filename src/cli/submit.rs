//! `lrx submit --slurm spec.lrx`: the study as Slurm job arrays plus a final job (docs/slurm.md).

use super::{Cli, Out, fail, fail_code, fail_coded, load};
use crate::diag::Coded;
use crate::exec::slurm::{
    self, Chunk, Jobs, SlurmOptions, Submission, SubmittedArray, array_script, chunks,
    finalize_script,
};
use crate::exec::{ExecError, is_finished, orchestrate};
use crate::ir;
use crate::plan::Plan;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct SubmitArgs {
    pub spec: PathBuf,
    /// Submit to Slurm (the only scheduler lrx drives).
    #[arg(long)]
    pub slurm: bool,
    /// Study directory (overrides the spec's `output`; must be on a file system the compute
    /// nodes share).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    #[arg(long)]
    pub partition: Option<String>,
    /// GPUs per array task (`--gres=gpu:N`). Default: 1 when the device is CUDA, else 0.
    #[arg(long)]
    pub gpus_per_task: Option<u32>,
    /// CPUs per array task (also libtorch's thread count in the task).
    #[arg(long, default_value_t = 2)]
    pub cpus_per_task: u32,
    /// Memory per task, as sbatch takes it (`16G`).
    #[arg(long)]
    pub mem: Option<String>,
    /// Time limit per task, as sbatch takes it (`04:00:00`).
    #[arg(long)]
    pub time: Option<String>,
    /// At most this many array tasks at once (`--array=...%K`).
    #[arg(long)]
    pub max_running: Option<usize>,
    /// An extra `#SBATCH` line for every script (repeat: `--sbatch-line=--account=lab`).
    #[arg(long = "sbatch-line", allow_hyphen_values = true)]
    pub sbatch_lines: Vec<String>,
    /// Largest array size (default: MaxArraySize from `scontrol show config`).
    #[arg(long)]
    pub max_array_size: Option<usize>,
    /// Seconds before the time limit at which a task gets SIGTERM and saves.
    #[arg(long, default_value_t = 120)]
    pub signal_seconds: u32,
    /// Device of the training tasks (default: the spec's `device`).
    #[arg(long)]
    pub device: Option<String>,
    /// CPUs of the final (classify + report) job (default: --cpus-per-task).
    #[arg(long)]
    pub finalize_cpus: Option<u32>,
    /// Only write the manifest and the scripts, and print the scripts.
    #[arg(long)]
    pub dry_run: bool,
    /// Submit only the runs that are neither finished nor queued/running in Slurm.
    #[arg(long)]
    pub resume: bool,
}

fn now() -> String {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{s}")
}

pub(super) fn cmd_submit(cli: &Cli, a: &SubmitArgs, out: &mut Out) -> Result<(), i32> {
    if !a.slurm {
        return Err(fail(
            out,
            "say which scheduler: `lrx submit --slurm <spec>` (Slurm is the only one lrx drives; `lrx run` trains on this machine)",
        ));
    }
    let (_, study, plan) = load(cli, &a.spec, out)?;
    let dir = a
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(&study.output));
    std::fs::create_dir_all(&dir)
        .map_err(|e| fail(out, format!("cannot create {}: {e}", dir.display())))?;
    // Absolute paths: the scripts run on other machines, from another directory.
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let spec = std::fs::canonicalize(&a.spec).unwrap_or_else(|_| a.spec.clone());
    let opts = slurm_options(a, &study, out)?;
    orchestrate::write_study_files(&dir, &spec, &study, &plan).map_err(|e| fail_coded(out, &e))?;
    let mut jobs = Jobs::read(&dir).map_err(|e| fail_coded(out, &e))?;
    let Some(todo) = to_submit(a, &study, &plan, &dir, &jobs, out)? else {
        return Ok(());
    };
    let max = max_array_size(a, out)?;
    let sub_no = jobs.submissions.len() + 1;
    let sdir = dir.join("slurm");
    std::fs::create_dir_all(sdir.join("logs"))
        .map_err(|e| fail(out, format!("cannot create {}: {e}", sdir.display())))?;
    let mut scripts = Vec::new();
    for (k, c) in chunks(&todo, max).iter().enumerate() {
        let p = sdir.join(format!("submit{sub_no}-array{k}.sbatch"));
        let text = array_script(&study.name, &dir, c, k, &opts);
        crate::fsx::write_atomic(&p, text.as_bytes())
            .map_err(|e| fail(out, format!("cannot write {}: {e}", p.display())))?;
        scripts.push((p, text, c.clone()));
    }
    let fpath = sdir.join(format!("submit{sub_no}-finalize.sbatch"));
    let ftext = finalize_script(&study.name, &dir, &spec, &opts);
    crate::fsx::write_atomic(&fpath, ftext.as_bytes())
        .map_err(|e| fail(out, format!("cannot write {}: {e}", fpath.display())))?;
    if a.dry_run {
        print_dry_run(&scripts, &fpath, &ftext, todo.len(), max, &sdir, out);
        return Ok(());
    }
    let (sub, err) = sbatch_all(&scripts, &fpath, &plan.spec_hash, out);
    // Record what was submitted, even on a partial failure, so status and --resume know it.
    let submitted = !sub.arrays.is_empty() || sub.finalize.is_some();
    if submitted {
        jobs.submissions.push(sub);
        jobs.write(&dir).map_err(|e| fail_coded(out, &e))?;
    }
    if let Some(e) = err {
        return Err(fail_code(
            out,
            e.code(),
            format!(
                "{e}{}",
                if submitted {
                    " (the jobs submitted before it are recorded in slurm/jobs.json; fix the cause and run `lrx submit --slurm --resume`)"
                } else {
                    ""
                }
            ),
        ));
    }
    let _ = writeln!(
        out.err,
        "follow with `lrx status {}`; logs in {}",
        dir.display(),
        sdir.join("logs").display()
    );
    Ok(())
}

/// The sbatch options of the array and final jobs, from the flags and the study's device.
fn slurm_options(a: &SubmitArgs, study: &ir::Study, out: &mut Out) -> Result<SlurmOptions, i32> {
    let device = a.device.clone().unwrap_or_else(|| study.device.clone());
    let gpus = a
        .gpus_per_task
        .unwrap_or(if device.starts_with("cuda") { 1 } else { 0 });
    if device.starts_with("cuda") && gpus == 0 {
        return Err(fail(
            out,
            format!(
                "device `{device}` needs a GPU per task: drop --gpus-per-task 0 or pass --device cpu"
            ),
        ));
    }
    if a.cpus_per_task == 0 {
        return Err(fail(out, "--cpus-per-task must be at least 1"));
    }
    // The array tasks train, so the scripts run the engine (crate::exec::exe).
    let lrx = crate::exec::exe::engine_exe()
        .and_then(|p| {
            std::fs::canonicalize(&p).map_err(|source| ExecError::CurrentExe {
                what: format!("lrx engine {}", p.display()),
                source,
            })
        })
        .map_err(|e| fail_coded(out, &e))?;
    Ok(SlurmOptions {
        partition: a.partition.clone(),
        gpus_per_task: gpus,
        cpus_per_task: a.cpus_per_task,
        mem: a.mem.clone(),
        time: a.time.clone(),
        max_running: a.max_running,
        extra: a.sbatch_lines.clone(),
        signal_seconds: a.signal_seconds,
        device,
        finalize_cpus: a.finalize_cpus,
        lrx,
    })
}

/// The manifest indices of the runs to submit: unfinished and not queued or running in Slurm.
/// `None` when there is nothing to submit (said on stderr); an error when runs are still live
/// and neither `--resume` nor `--dry-run` was given.
fn to_submit(
    a: &SubmitArgs,
    study: &ir::Study,
    plan: &Plan,
    dir: &Path,
    jobs: &Jobs,
    out: &mut Out,
) -> Result<Option<Vec<usize>>, i32> {
    // What Slurm still runs for this study.
    let (states, notes) = if jobs.submissions.is_empty() {
        (Default::default(), vec![])
    } else {
        slurm::query(jobs)
    };
    let by_index = slurm::states_by_index(jobs, &states);
    let live: Vec<usize> = by_index
        .iter()
        .filter(|(_, (_, s))| slurm::is_live(&s.state))
        .map(|(i, _)| *i)
        .collect();
    let unfinished: Vec<usize> = plan
        .runs
        .iter()
        .enumerate()
        .filter(|(_, r)| !is_finished(dir, r))
        .map(|(i, _)| i)
        .collect();
    let live_unfinished: Vec<usize> = unfinished
        .iter()
        .copied()
        .filter(|i| live.contains(i))
        .collect();
    if !live_unfinished.is_empty() && !a.resume && !a.dry_run {
        for n in &notes {
            let _ = writeln!(out.err, "note: {n}");
        }
        return Err(fail(
            out,
            format!(
                "{} run(s) of this study are still queued or running in Slurm (see `lrx status {}`): pass --resume to submit only the others, or scancel those jobs first",
                live_unfinished.len(),
                dir.display()
            ),
        ));
    }
    let todo: Vec<usize> = unfinished
        .iter()
        .copied()
        .filter(|i| !live.contains(i))
        .collect();
    let finalize_live = jobs.submissions.iter().any(|s| {
        s.finalize
            .as_ref()
            .is_some_and(|(j, _)| states.get(j).is_some_and(|st| slurm::is_live(&st.state)))
    });
    let results_exist = dir.join("results").join("evaluations.json").is_file()
        || study.classify.is_none() && dir.join("results").join("report.html").is_file();
    if todo.is_empty() && (finalize_live || results_exist || !live_unfinished.is_empty()) {
        let _ = writeln!(
            out.err,
            "nothing to submit: {} run(s) finished, {} queued or running in Slurm{}",
            plan.runs.len() - unfinished.len(),
            live_unfinished.len(),
            if results_exist {
                "; the results exist"
            } else if finalize_live {
                "; the final job is queued"
            } else {
                ""
            }
        );
        return Ok(None);
    }
    Ok(Some(todo))
}

/// The largest array: `--max-array-size`, or the cluster's `MaxArraySize` (Slurm's default
/// 1001 for a dry run that cannot read it).
fn max_array_size(a: &SubmitArgs, out: &mut Out) -> Result<usize, i32> {
    match a.max_array_size {
        Some(m) if m >= 1 => Ok(m),
        Some(_) => Err(fail(out, "--max-array-size must be at least 1")),
        None => match slurm::cluster_max_array_size() {
            Ok(m) => Ok(m),
            Err(e) if a.dry_run => {
                let _ = writeln!(
                    out.err,
                    "note: cannot read MaxArraySize ({e}); the dry run assumes Slurm's default 1001"
                );
                Ok(1001)
            }
            Err(e) => Err(fail_code(
                out,
                e.code(),
                format!("cannot read the cluster's MaxArraySize: {e} (or pass --max-array-size)"),
            )),
        },
    }
}

/// `--dry-run`: the scripts on stdout, a summary on stderr.
fn print_dry_run(
    scripts: &[(PathBuf, String, Chunk)],
    fpath: &Path,
    ftext: &str,
    runs: usize,
    max: usize,
    sdir: &Path,
    out: &mut Out,
) {
    for (p, text, c) in scripts {
        let _ = writeln!(
            out.out,
            "# {} ({} runs, manifest indices {}..={})\n{text}",
            p.display(),
            c.array_ids.len(),
            c.offset + c.array_ids.first().copied().unwrap_or(0),
            c.offset + c.array_ids.last().copied().unwrap_or(0)
        );
    }
    let _ = writeln!(
        out.out,
        "# {} (after the arrays: --dependency=afterany:<their job ids>)\n{ftext}",
        fpath.display()
    );
    let _ = writeln!(
        out.err,
        "dry run: {runs} run(s) in {} array(s) (MaxArraySize {max}); scripts in {}; nothing submitted",
        scripts.len(),
        sdir.display()
    );
}

/// Submits the array scripts, then the final job after them; stops at the first refusal.
/// Returns what was submitted and that refusal.
fn sbatch_all(
    scripts: &[(PathBuf, String, Chunk)],
    fpath: &Path,
    spec_hash: &str,
    out: &mut Out,
) -> (Submission, Option<ExecError>) {
    let mut sub = Submission {
        submitted_at: now(),
        spec_hash: spec_hash.to_string(),
        arrays: vec![],
        finalize: None,
    };
    for (p, _, c) in scripts {
        match slurm::sbatch(p, &[]) {
            Ok(id) => {
                let _ = writeln!(
                    out.err,
                    "submitted array job {id}: {} run(s) ({})",
                    c.array_ids.len(),
                    p.display()
                );
                sub.arrays.push(SubmittedArray {
                    job_id: id,
                    script: p.clone(),
                    chunk: c.clone(),
                });
            }
            Err(e) => return (sub, Some(e)),
        }
    }
    let dep: Vec<String> = if sub.arrays.is_empty() {
        vec![]
    } else {
        vec![format!(
            "--dependency=afterany:{}",
            sub.arrays
                .iter()
                .map(|a| a.job_id.as_str())
                .collect::<Vec<_>>()
                .join(":")
        )]
    };
    match slurm::sbatch(fpath, &dep) {
        Ok(id) => {
            let _ = writeln!(
                out.err,
                "submitted final job {id} (features, classifier stage, report; runs after the arrays end)"
            );
            sub.finalize = Some((id, fpath.to_path_buf()));
            (sub, None)
        }
        Err(e) => (sub, Some(e)),
    }
}

/// The Slurm part of `lrx status`: per-state counts of the study's unfinished runs, failed
/// tasks with their logs, the final job. Empty when the study was never submitted.
pub(super) fn slurm_status(dir: &Path, plan_ids: &[String]) -> Result<String, String> {
    let jobs = Jobs::read(dir).map_err(|e| e.to_string())?;
    if jobs.submissions.is_empty() {
        return Ok(String::new());
    }
    let (states, notes) = slurm::query(&jobs);
    let by = slurm::states_by_index(&jobs, &states);
    let mut s = String::from("\nslurm (slurm/jobs.json):\n");
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut bad = Vec::new();
    for (i, id) in plan_ids.iter().enumerate() {
        let finished = crate::exec::read_status(dir, id).is_some_and(|st| st.finished());
        if finished {
            continue;
        }
        match by.get(&i) {
            Some((task, st)) => {
                *counts.entry(st.state.as_str()).or_default() += 1;
                if !slurm::is_live(&st.state) {
                    bad.push(format!(
                        "  run {} (index {i}): task {task} {} {}; log slurm/logs/{}.out",
                        &id[..12.min(id.len())],
                        st.state,
                        st.detail,
                        task
                    ));
                }
            }
            None => *counts.entry("not in Slurm").or_default() += 1,
        }
    }
    if counts.is_empty() {
        s.push_str("  every run is finished\n");
    } else {
        s.push_str("  unfinished runs by Slurm state: ");
        s.push_str(
            &counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        s.push('\n');
    }
    for b in bad.iter().take(20) {
        s.push_str(b);
        s.push('\n');
    }
    if bad.len() > 20 {
        s.push_str(&format!("  … and {} more\n", bad.len() - 20));
    }
    if let Some((j, _)) = jobs.submissions.last().and_then(|x| x.finalize.as_ref()) {
        let st = states
            .get(j)
            .map(|t| format!("{} {}", t.state, t.detail))
            .unwrap_or_else(|| "ended (no longer known to Slurm)".into());
        s.push_str(&format!("  final job {j}: {st}\n"));
    }
    if !counts.is_empty() && counts.keys().any(|k| !slurm::is_live(k)) {
        s.push_str("  resubmit the unfinished runs with `lrx submit --slurm --resume <spec>`\n");
    }
    for n in notes {
        s.push_str(&format!("  note: {n}\n"));
    }
    Ok(s)
}
