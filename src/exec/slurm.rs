//! Slurm scale-out (`lrx submit --slurm`): job-array scripts over the manifest, chunked under
//! the cluster's MaxArraySize, a final job (`afterany`) that assembles, classifies and reports,
//! and the Slurm side of `lrx status` (squeue / scontrol / sacct).
//!
//! Chunking: manifest index i goes to chunk c = ⌊i / M⌋ (M = MaxArraySize, array ids must be
//! < M) with array id i − c·M; the script adds the chunk's offset back (`--index
//! $((SLURM_ARRAY_TASK_ID + offset))`). A resubmission lists only the missing indices
//! (`--array=3,7-9`), so the same rule covers both.
//!
//! Every array task is `exec lrx-engine run-task <manifest> --index N`: the task *is* the batch shell,
//! so `--signal=B:TERM@s` reaches lrx, which stops at the next step and keeps its last
//! checkpoint; a requeued or resubmitted task resumes from it, and a finished run is skipped
//! (idempotent by run id).

use super::ExecError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Options of `lrx submit --slurm`.
#[derive(Debug, Clone)]
pub struct SlurmOptions {
    /// `#SBATCH --partition` (none: the cluster's default).
    pub partition: Option<String>,
    /// GPUs of each array task (`#SBATCH --gres=gpu:N`; 0 writes no line).
    pub gpus_per_task: u32,
    /// CPUs of each array task (`#SBATCH --cpus-per-task`).
    pub cpus_per_task: u32,
    /// `#SBATCH --mem` of every job, in Slurm's syntax (`16G`).
    pub mem: Option<String>,
    /// `#SBATCH --time` of every job, in Slurm's syntax (`2:00:00`).
    pub time: Option<String>,
    /// `%K`: at most K array tasks at once.
    pub max_running: Option<usize>,
    /// Extra `#SBATCH` lines (with or without the `#SBATCH` prefix).
    pub extra: Vec<String>,
    /// Seconds before the time limit at which Slurm sends SIGTERM.
    pub signal_seconds: u32,
    /// Device of the training tasks (`cpu`, `cuda`, ...).
    pub device: String,
    /// CPUs / memory / time of the final job (default: those of the tasks).
    pub finalize_cpus: Option<u32>,
    /// The executable the scripts run (absolute): `lrx-engine`, which trains.
    pub lrx: PathBuf,
}

/// One job array: manifest indices `offset + id` for each array id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The manifest index of array id 0 (a multiple of the largest array size).
    pub offset: usize,
    /// The array ids submitted, ascending (each below the largest array size).
    pub array_ids: Vec<usize>,
}

impl Chunk {
    /// The manifest indices this chunk covers.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.array_ids.iter().map(|a| a + self.offset)
    }
}

/// Splits manifest indices into arrays whose ids are all < `max_array_size`.
pub fn chunks(indices: &[usize], max_array_size: usize) -> Vec<Chunk> {
    let m = max_array_size.max(1);
    let mut by: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in indices {
        by.entry(i / m).or_default().push(i % m);
    }
    by.into_iter()
        .map(|(c, mut ids)| {
            ids.sort_unstable();
            ids.dedup();
            Chunk {
                offset: c * m,
                array_ids: ids,
            }
        })
        .collect()
}

/// `0-3,7,9-10`: sorted ids as sbatch ranges.
pub fn array_ranges(ids: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            ids[i].to_string()
        } else {
            format!("{}-{}", ids[i], ids[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

/// Single-quotes a path or word for bash.
fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:=+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn common_lines(o: &SlurmOptions, cpus: u32, gpus: u32) -> Vec<String> {
    let mut l = Vec::new();
    if let Some(p) = &o.partition {
        l.push(format!("#SBATCH --partition={p}"));
    }
    l.push(format!("#SBATCH --cpus-per-task={cpus}"));
    if gpus > 0 {
        l.push(format!("#SBATCH --gres=gpu:{gpus}"));
    }
    if let Some(m) = &o.mem {
        l.push(format!("#SBATCH --mem={m}"));
    }
    if let Some(t) = &o.time {
        l.push(format!("#SBATCH --time={t}"));
    }
    l
}

fn extra_lines(o: &SlurmOptions) -> Vec<String> {
    o.extra
        .iter()
        .map(|e| {
            let e = e.trim();
            if e.starts_with("#SBATCH") {
                e.to_string()
            } else {
                format!("#SBATCH {e}")
            }
        })
        .collect()
}

/// The sbatch script of one array chunk.
pub fn array_script(study: &str, dir: &Path, chunk: &Chunk, k: usize, o: &SlurmOptions) -> String {
    let logs = dir.join("slurm").join("logs");
    let mut array = array_ranges(&chunk.array_ids);
    if let Some(m) = o.max_running {
        array.push_str(&format!("%{m}"));
    }
    let mut l = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name=lrx-{study}-{k}"),
        format!("#SBATCH --array={array}"),
        format!("#SBATCH --output={}/%A_%a.out", logs.display()),
    ];
    l.extend(common_lines(o, o.cpus_per_task, o.gpus_per_task));
    l.push(format!("#SBATCH --signal=B:TERM@{}", o.signal_seconds));
    l.push("#SBATCH --requeue".to_string());
    l.extend(extra_lines(o));
    l.push(String::new());
    l.push(format!(
        "# lrx study `{study}`, array {k}: manifest indices = SLURM_ARRAY_TASK_ID + {}",
        chunk.offset
    ));
    l.push(
        "# Idempotent: a finished run is skipped, an interrupted one resumes from its checkpoint."
            .to_string(),
    );
    l.push("set -euo pipefail".to_string());
    l.push(format!(
        "exec {} run-task {} --index $((SLURM_ARRAY_TASK_ID + {})) --device {} --threads {}",
        sh(&o.lrx.display().to_string()),
        sh(&dir.join("manifest.json").display().to_string()),
        chunk.offset,
        sh(&o.device),
        o.cpus_per_task.max(1)
    ));
    l.join("\n") + "\n"
}

/// The sbatch script of the final job: assemble the runs table, classify, report (trains
/// nothing; runs that are not finished are listed and left out).
pub fn finalize_script(study: &str, dir: &Path, spec: &Path, o: &SlurmOptions) -> String {
    let logs = dir.join("slurm").join("logs");
    let cpus = o.finalize_cpus.unwrap_or(o.cpus_per_task).max(1);
    let mut l = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name=lrx-{study}-finalize"),
        format!("#SBATCH --output={}/finalize_%j.out", logs.display()),
    ];
    l.extend(common_lines(o, cpus, 0));
    l.extend(extra_lines(o));
    l.push(String::new());
    l.push(format!(
        "# lrx study `{study}`: features → classifier stage → report, once the arrays end."
    ));
    l.push("set -euo pipefail".to_string());
    l.push(format!(
        "export RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-{cpus}}}\""
    ));
    l.push(format!(
        "exec {} run {} --output {} --no-train --log-format json",
        sh(&o.lrx.display().to_string()),
        sh(&spec.display().to_string()),
        sh(&dir.display().to_string()),
    ));
    l.join("\n") + "\n"
}

/// One submitted array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmittedArray {
    /// Slurm's job id of the array.
    pub job_id: String,
    /// The job script submitted.
    pub script: PathBuf,
    /// The runs it covers.
    pub chunk: Chunk,
}

/// One `lrx submit` invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// When, in seconds since the Unix epoch (as a string).
    pub submitted_at: String,
    /// The spec hash of the plan submitted.
    pub spec_hash: String,
    /// The arrays submitted, in order.
    pub arrays: Vec<SubmittedArray>,
    /// The final job (features, classifier stage, report): its job id and script; `None` when
    /// its submission failed.
    pub finalize: Option<(String, PathBuf)>,
}

/// `<dir>/slurm/jobs.json`: every submission of the study, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Jobs {
    /// Every `lrx submit` of the study, oldest first.
    pub submissions: Vec<Submission>,
}

/// `<dir>/slurm/jobs.json`, the jobs file of the study directory `dir`.
pub fn jobs_path(dir: &Path) -> PathBuf {
    dir.join("slurm").join("jobs.json")
}

impl Jobs {
    /// Reads the study directory `dir`'s jobs file; no submissions when it has none. Fails
    /// with [`ExecError::Read`] or [`ExecError::BadJobsFile`], naming the file.
    pub(crate) fn read(dir: &Path) -> Result<Jobs, ExecError> {
        let p = jobs_path(dir);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|source| ExecError::BadJobsFile { path: p, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Jobs::default()),
            Err(source) => Err(ExecError::Read { path: p, source }),
        }
    }

    /// Writes the jobs file of the study directory `dir` (atomically). Fails with
    /// [`ExecError::Write`].
    pub(crate) fn write(&self, dir: &Path) -> Result<(), ExecError> {
        let p = jobs_path(dir);
        super::write_atomic(&p, &serde_json::to_vec_pretty(self).unwrap_or_default())
            .map_err(|e| ExecError::write(p, e))
    }

    /// Maps an array job id to its chunk's offset.
    pub fn offsets(&self) -> BTreeMap<String, usize> {
        self.submissions
            .iter()
            .flat_map(|s| s.arrays.iter())
            .map(|a| (a.job_id.clone(), a.chunk.offset))
            .collect()
    }

    /// Every job id (arrays and final jobs).
    pub fn job_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for s in &self.submissions {
            v.extend(s.arrays.iter().map(|a| a.job_id.clone()));
            if let Some((j, _)) = &s.finalize {
                v.push(j.clone());
            }
        }
        v
    }
}

/// Runs a Slurm client with a time limit (a missing slurm.conf makes them retry for 60 s).
/// Returns its stdout. Fails with [`ExecError::SlurmMissing`] when it cannot be run,
/// [`ExecError::SlurmTimeout`] after 30 s, and [`ExecError::SlurmFailed`] (whose message is
/// the command's own) when it exits with an error.
pub(crate) fn slurm_cmd(prog: &str, args: &[&str]) -> Result<String, ExecError> {
    let out = Command::new("timeout")
        .arg("30")
        .arg(prog)
        .args(args)
        .output()
        .map_err(|source| ExecError::SlurmMissing {
            prog: prog.to_string(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let status = out.status.code().unwrap_or(-1);
        let command = format!("{prog} {}", args.join(" "));
        Err(if status == 124 {
            ExecError::SlurmTimeout { command }
        } else {
            ExecError::SlurmFailed {
                command,
                status,
                stderr,
            }
        })
    }
}

/// MaxArraySize from `scontrol show config` (Slurm's default is 1001). Fails with
/// [`slurm_cmd`]'s errors, or [`ExecError::NoMaxArraySize`] when the configuration lacks it.
pub(crate) fn cluster_max_array_size() -> Result<usize, ExecError> {
    let text = slurm_cmd("scontrol", &["show", "config"])?;
    parse_max_array_size(&text).ok_or(ExecError::NoMaxArraySize)
}

/// The `MaxArraySize` of `scontrol show config`'s output `text`; `None` when it has no such
/// line or its value is not a number.
pub fn parse_max_array_size(text: &str) -> Option<usize> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "MaxArraySize").then(|| v.trim().parse().ok())?
    })
}

/// `sbatch --parsable [extra args] script` → the job id. Fails with
/// [`ExecError::SbatchRefused`] (with sbatch's message) when sbatch cannot run or refuses the
/// script, and [`ExecError::SbatchNoJobId`] when its output has no job id.
pub(crate) fn sbatch(script: &Path, args: &[String]) -> Result<String, ExecError> {
    let mut a: Vec<&str> = vec!["--parsable"];
    a.extend(args.iter().map(String::as_str));
    let s = script.display().to_string();
    a.push(&s);
    let out = slurm_cmd("sbatch", &a).map_err(|e| ExecError::SbatchRefused {
        script: s.clone(),
        source: Box::new(e),
    })?;
    let id = out
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(ExecError::SbatchNoJobId {
            script: s,
            output: out.trim().to_string(),
        });
    }
    Ok(id)
}

/// The state of one Slurm job or array task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    /// Slurm's state (`PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, ...).
    pub state: String,
    /// squeue's reason (`Priority`, `Dependency`, ...) or scontrol's exit code.
    pub detail: String,
}

/// Parses `squeue -h -r -o %i|%T|%r` lines into job id (`123_4` or `125`) → state.
pub fn parse_squeue(text: &str) -> BTreeMap<String, TaskState> {
    text.lines()
        .filter_map(|l| {
            let mut p = l.trim().split('|');
            let id = p.next()?.trim();
            let st = p.next()?.trim();
            let r = p.next().unwrap_or("").trim();
            (!id.is_empty()).then(|| {
                (
                    id.to_string(),
                    TaskState {
                        state: st.to_string(),
                        detail: r.to_string(),
                    },
                )
            })
        })
        .collect()
}

/// Parses `scontrol -o show job ID` records into job id (`123_4` for array tasks) → state.
pub fn parse_scontrol_jobs(text: &str) -> BTreeMap<String, TaskState> {
    let mut m = BTreeMap::new();
    for l in text.lines() {
        let kv: BTreeMap<&str, &str> = l
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .collect();
        let (Some(job), Some(state)) = (kv.get("JobId"), kv.get("JobState")) else {
            continue;
        };
        let id = match (kv.get("ArrayJobId"), kv.get("ArrayTaskId")) {
            (Some(a), Some(t)) if t.chars().all(|c| c.is_ascii_digit()) => format!("{a}_{t}"),
            _ => job.to_string(),
        };
        m.insert(
            id,
            TaskState {
                state: state.to_string(),
                detail: kv
                    .get("ExitCode")
                    .map(|e| format!("exit {e}"))
                    .unwrap_or_default(),
            },
        );
    }
    m
}

/// Parses `sacct -X -n -P -o JobID,State,ExitCode` lines.
pub fn parse_sacct(text: &str) -> BTreeMap<String, TaskState> {
    text.lines()
        .filter_map(|l| {
            let mut p = l.split('|');
            let id = p.next()?.trim();
            let st = p.next()?.trim();
            let code = p.next().unwrap_or("").trim();
            (!id.is_empty() && !id.contains('[')).then(|| {
                (
                    id.to_string(),
                    TaskState {
                        state: st.split_whitespace().next().unwrap_or(st).to_string(),
                        detail: format!("exit {code}"),
                    },
                )
            })
        })
        .collect()
}

/// What Slurm says about the study's jobs: squeue for live ones, then scontrol (records kept
/// MinJobAge) and sacct (when accounting is on) for ended ones. Queries that fail are skipped
/// and noted.
pub fn query(jobs: &Jobs) -> (BTreeMap<String, TaskState>, Vec<String>) {
    let ids = jobs.job_ids();
    let mut notes = Vec::new();
    let mut states = BTreeMap::new();
    if ids.is_empty() {
        return (states, notes);
    }
    let list = ids.join(",");
    // Ended jobs first, so live squeue states override them.
    match slurm_cmd(
        "sacct",
        &["-X", "-n", "-P", "-j", &list, "-o", "JobID,State,ExitCode"],
    ) {
        Ok(t) => states.extend(parse_sacct(&t)),
        // Without slurmdbd, scontrol's records (kept MinJobAge) are what there is.
        Err(e) if e.to_string().contains("accounting storage is disabled") => {}
        Err(e) => notes.push(format!("sacct: {e}")),
    }
    for id in &ids {
        if let Ok(t) = slurm_cmd("scontrol", &["-o", "show", "job", id]) {
            states.extend(parse_scontrol_jobs(&t));
        }
    }
    match slurm_cmd("squeue", &["-h", "-r", "-j", &list, "-o", "%i|%T|%r"]) {
        Ok(t) => states.extend(parse_squeue(&t)),
        // squeue errors on job ids it no longer knows; that means none is queued.
        Err(e) if e.to_string().contains("Invalid job id") => {}
        Err(e) => notes.push(format!("squeue: {e}")),
    }
    (states, notes)
}

/// Slurm state per manifest index (the latest submission that covers it wins), from [`query`].
pub fn states_by_index(
    jobs: &Jobs,
    states: &BTreeMap<String, TaskState>,
) -> BTreeMap<usize, (String, TaskState)> {
    let mut out = BTreeMap::new();
    for s in &jobs.submissions {
        for a in &s.arrays {
            for (aid, idx) in a.chunk.array_ids.iter().zip(a.chunk.indices()) {
                let key = format!("{}_{aid}", a.job_id);
                if let Some(st) = states.get(&key) {
                    out.insert(idx, (key, st.clone()));
                } else if let Some(st) = states.get(&a.job_id) {
                    // A pending array may be listed as one line (`123_[0-9]`) or by its job id.
                    out.insert(idx, (key, st.clone()));
                }
            }
        }
    }
    out
}

/// Whether a Slurm state means the task may still run (so a resubmission must skip it).
pub fn is_live(state: &str) -> bool {
    matches!(
        state,
        "PENDING"
            | "RUNNING"
            | "CONFIGURING"
            | "COMPLETING"
            | "REQUEUED"
            | "REQUEUE_HOLD"
            | "REQUEUE_FED"
            | "RESIZING"
            | "SUSPENDED"
            | "STAGE_OUT"
            | "SIGNALING"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_index_once() {
        let idx: Vec<usize> = (0..23).collect();
        let c = chunks(&idx, 10);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].offset, 0);
        assert_eq!(c[2].offset, 20);
        assert_eq!(c[2].array_ids, vec![0, 1, 2]);
        let mut all: Vec<usize> = c
            .iter()
            .flat_map(|c| c.indices().collect::<Vec<_>>())
            .collect();
        all.sort_unstable();
        assert_eq!(all, idx);
        assert!(c.iter().all(|c| c.array_ids.iter().all(|&a| a < 10)));
        // A resubmission of scattered indices.
        let c = chunks(&[3, 15, 4, 5, 17], 10);
        assert_eq!(c.len(), 2);
        assert_eq!(array_ranges(&c[0].array_ids), "3-5");
        assert_eq!(array_ranges(&c[1].array_ids), "5,7");
        assert_eq!(array_ranges(&[0, 1, 2, 4, 6, 7]), "0-2,4,6-7");
    }

    #[test]
    fn scripts_carry_the_options() {
        let o = SlurmOptions {
            partition: Some("gpu".into()),
            gpus_per_task: 1,
            cpus_per_task: 4,
            mem: Some("16G".into()),
            time: Some("04:00:00".into()),
            max_running: Some(8),
            extra: vec!["--account=lab".into(), "#SBATCH --qos=normal".into()],
            signal_seconds: 120,
            device: "cuda".into(),
            finalize_cpus: Some(16),
            lrx: PathBuf::from("/opt/lrx bin/lrx"),
        };
        let c = Chunk {
            offset: 1000,
            array_ids: vec![0, 1, 2, 5],
        };
        let s = array_script("paper", Path::new("/scratch/study"), &c, 1, &o);
        for want in [
            "#SBATCH --array=0-2,5%8",
            "#SBATCH --partition=gpu",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --mem=16G",
            "#SBATCH --time=04:00:00",
            "#SBATCH --signal=B:TERM@120",
            "#SBATCH --account=lab",
            "#SBATCH --qos=normal",
            "exec '/opt/lrx bin/lrx' run-task /scratch/study/manifest.json --index $((SLURM_ARRAY_TASK_ID + 1000)) --device cuda --threads 4",
        ] {
            assert!(s.contains(want), "missing `{want}` in\n{s}");
        }
        let f = finalize_script(
            "paper",
            Path::new("/scratch/study"),
            Path::new("/w/p.lrx"),
            &o,
        );
        assert!(f.contains("#SBATCH --cpus-per-task=16"), "{f}");
        assert!(!f.contains("--gres"), "{f}");
        assert!(
            f.contains("run /w/p.lrx --output /scratch/study --no-train"),
            "{f}"
        );
    }

    #[test]
    fn parses_slurm_outputs() {
        assert_eq!(
            parse_max_array_size(
                "AccountingStorageType   = accounting_storage/none\nMaxArraySize            = 4\n"
            ),
            Some(4)
        );
        let q = parse_squeue("12_3|RUNNING|None\n12_4|PENDING|Priority\n13|PENDING|Dependency\n");
        assert_eq!(q["12_3"].state, "RUNNING");
        assert_eq!(q["13"].detail, "Dependency");
        let s = parse_scontrol_jobs(
            "JobId=15 ArrayJobId=12 ArrayTaskId=3 JobName=x JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0\nJobId=13 JobName=f JobState=COMPLETED ExitCode=0:0\n",
        );
        assert_eq!(s["12_3"].state, "FAILED");
        assert_eq!(s["12_3"].detail, "exit 1:0");
        assert_eq!(s["13"].state, "COMPLETED");
        let a = parse_sacct("12_3|CANCELLED by 0|0:15\n12_[5-9]|PENDING|0:0\n");
        assert_eq!(a["12_3"].state, "CANCELLED");
        assert!(!a.contains_key("12_[5-9]"));
        let jobs = Jobs {
            submissions: vec![Submission {
                submitted_at: String::new(),
                spec_hash: String::new(),
                arrays: vec![SubmittedArray {
                    job_id: "12".into(),
                    script: PathBuf::new(),
                    chunk: Chunk {
                        offset: 4,
                        array_ids: vec![3, 4],
                    },
                }],
                finalize: Some(("13".into(), PathBuf::new())),
            }],
        };
        let by = states_by_index(&jobs, &q);
        assert_eq!(by[&7].1.state, "RUNNING");
        assert_eq!(by[&8].1.state, "PENDING");
        assert!(is_live("PENDING") && !is_live("CANCELLED"));
    }
}
