//! `lrx run`: the study end to end (check → plan → train and observe → features → classify →
//! report), resumable by run id.
//!
//! Layout of a study directory (see docs/storage.md):
//!
//! ```text
//! <output>/
//!   manifest.json                  the plan: spec path and hash, every run (RunSpec JSON)
//!   study.json                     the checked study (ir::Study), for `lrx classify <dir>`
//!   runs/<id>/spec.json            the RunSpec of the run
//!   runs/<id>/status.json          done | diverged | failed | interrupted, history, timings
//!   runs/<id>/checkpoints/         model + optimizer state (latest only), for resume
//!   runs/<id>/obs/epoch_NNNN.json  observations of each finished checkpoint
//!   features/rule=<r>/run=<id>/part-0.parquet
//!   runs.parquet
//!   results/                       classifier results and the report
//! ```
//!
//! Each run is trained by a child process (`lrx-engine run-task`, see [`exe`]), so runs are isolated (libtorch's
//! global generator, memory, a crash) and `--jobs N` runs N at once; children report progress as
//! JSON lines on stdout ([`Event`]). The same command is what a Slurm array task runs.

#[cfg(feature = "torch")]
pub mod engine;
mod error;
pub mod exe;
#[cfg(feature = "torch")]
pub mod export;
#[cfg(feature = "torch")]
pub mod import;
#[cfg(feature = "torch")]
pub mod observe;
pub mod orchestrate;
pub mod slurm;
#[cfg(feature = "torch")]
pub mod task;

pub use error::ExecError;

use crate::features::schema::{FactorValue, RunRecord};
use crate::ir::{Factor, Hyper};
use crate::plan::{Plan, RunSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of the study-directory layout (manifest, status files).
pub const LAYOUT_VERSION: u32 = 1;

pub use crate::libtorch_version;

/// `<study>/runs/<id>`: a run's checkpoints, observations and status.
pub fn run_dir(study: &Path, id: &str) -> PathBuf {
    study.join("runs").join(id)
}
/// `<study>/runs/<id>/status.json`.
pub fn status_path(study: &Path, id: &str) -> PathBuf {
    run_dir(study, id).join("status.json")
}
/// `<study>/manifest.json`.
pub fn manifest_path(study: &Path) -> PathBuf {
    study.join("manifest.json")
}
/// `<study>/study.json` (the checked study, for the classifier stage and the report).
pub fn study_json_path(study: &Path) -> PathBuf {
    study.join("study.json")
}

/// JSON has no NaN: serde_json writes non-finite numbers as `null`; read them back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// One epoch of training, as the engine records it (non-finite values are `null` in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// Epochs completed (1-based).
    pub epoch: u32,
    /// The learning rate at the epoch's last step.
    pub lr: f64,
    /// Mean training loss over the epoch's steps.
    #[serde(deserialize_with = "nan_if_null")]
    pub train_loss: f64,
    /// Training accuracy over the epoch's steps.
    #[serde(deserialize_with = "nan_if_null")]
    pub train_acc: f64,
    /// Mean alignment loss (rules whose B learns; 0 otherwise).
    #[serde(deserialize_with = "nan_if_null")]
    pub alignment_loss: f64,
    /// Validation loss, when the epoch was evaluated.
    pub val_loss: Option<f64>,
    /// Validation accuracy, when the epoch was evaluated.
    pub val_acc: Option<f64>,
    /// Wall time of the epoch, seconds.
    pub seconds: f64,
    /// W against B per layer with backward weights (FA, IA, ...) at the epoch's end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alignment: Vec<LayerAlignment>,
}

pub use crate::features::schema::LayerAlignment;

/// `runs/<id>/status.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    /// The run's id.
    pub run_id: String,
    /// `done`, `diverged`, `failed` or `interrupted`.
    pub status: String,
    /// The rule's label.
    pub rule: String,
    /// The device it trained on (`cpu`, `cuda:N`).
    pub device: String,
    /// The libtorch of the process that wrote it.
    pub libtorch_version: String,
    /// The lrx of the process that wrote it.
    pub lrx_version: String,
    /// libtorch's CPU threads in the process that wrote it (`--threads`): CPU results depend on
    /// it, as a float sum's order follows the threads. Absent from status files of older lrx
    /// versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// Wall time of the last attempt, seconds.
    #[serde(deserialize_with = "nan_if_null")]
    pub seconds: f64,
    /// What failed, for a failed run.
    pub error: Option<String>,
    /// The stable code of what failed (`lrx::engine::data`, ...; docs/diagnostics.md), for a
    /// failed run whose error has one. Absent from status files of older lrx versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The epoch whose loss became non-finite, for a diverged run.
    pub diverged_epoch: Option<u32>,
    /// The checkpoint epoch the last attempt resumed from.
    pub resumed_from: Option<u32>,
    /// Every epoch's record.
    pub history: Vec<EpochLog>,
    /// Wall time of each observation (all observables and realism conditions of a checkpoint,
    /// written to `obs/`) made by the process that finished the run.
    #[serde(default)]
    pub observe_seconds: Vec<ObserveLog>,
}

/// The cost of observing one checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ObserveLog {
    /// The checkpoint epoch.
    pub epoch: u32,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl RunStatus {
    /// Finished: nothing left to do for this run (done with its features, or diverged).
    pub fn finished(&self) -> bool {
        self.status == "done" || self.status == "diverged"
    }
}

/// Reads a run's status file (None when absent or unreadable: the run is then redone).
pub fn read_status(study: &Path, id: &str) -> Option<RunStatus> {
    let bytes = std::fs::read(status_path(study, id)).ok()?;
    let s: RunStatus = serde_json::from_slice(&bytes).ok()?;
    (s.run_id == id).then_some(s)
}

/// A run is finished when its status says so, carries its id, and (when done) its feature file
/// exists.
pub fn is_finished(study: &Path, run: &RunSpec) -> bool {
    match read_status(study, &run.id) {
        Some(s) if s.status == "done" => {
            crate::features::writer::feature_path(study, &run.rule.label, &run.id).is_file()
        }
        Some(s) => s.finished(),
        None => false,
    }
}

/// The one atomic writer ([`crate::fsx::write_atomic`]), under its older name.
pub use crate::fsx::write_atomic;

/// `manifest.json`: what `lrx run-task` and `lrx status` read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// [`LAYOUT_VERSION`] of the writer.
    pub layout_version: u32,
    /// The study's name.
    pub study: String,
    /// The hash of the spec and its imports the plan was made from.
    pub spec_hash: String,
    /// Absolute path of the spec (children re-check it and verify the hash).
    pub spec_path: PathBuf,
    /// The study directory the runs write to.
    pub output: PathBuf,
    /// The lrx that planned the study.
    pub lrx_version: String,
    /// The libtorch of that lrx.
    pub libtorch_version: String,
    /// Run ids in plan order (`--index N` refers to this list).
    pub run_ids: Vec<String>,
    /// Every run as `lrx plan --emit plan` prints it.
    pub runs: Vec<serde_json::Value>,
}

impl Manifest {
    /// The manifest of `plan`, made from `spec`, writing to `output`.
    pub fn new(plan: &Plan, spec: &Path, output: &Path) -> Manifest {
        Manifest {
            layout_version: LAYOUT_VERSION,
            study: plan.study.clone(),
            spec_hash: plan.spec_hash.clone(),
            spec_path: std::fs::canonicalize(spec).unwrap_or_else(|_| spec.to_path_buf()),
            output: output.to_path_buf(),
            lrx_version: env!("CARGO_PKG_VERSION").to_string(),
            libtorch_version: libtorch_version().to_string(),
            run_ids: plan.runs.iter().map(|r| r.id.clone()).collect(),
            runs: plan
                .runs
                .iter()
                .map(|r| serde_json::to_value(r).unwrap_or_default())
                .collect(),
        }
    }

    /// Reads a study's manifest. Fails with [`ExecError::Read`] when `study/manifest.json`
    /// cannot be read (`study` is not a study directory, or `lrx run` has not written it yet)
    /// and [`ExecError::BadManifest`] when it is not a manifest; both name the file.
    pub(crate) fn read(study: &Path) -> Result<Manifest, ExecError> {
        let p = manifest_path(study);
        let bytes = std::fs::read(&p).map_err(|source| ExecError::Read {
            path: p.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| ExecError::BadManifest { path: p, source })
    }
}

/// The run factors that are columns of the runs table, in column order (`rule` is a column
/// of its own; `sweep` comes first).
pub const RUN_TABLE_FACTORS: [Factor; 8] = [
    Factor::Task,
    Factor::Arch,
    Factor::Batch,
    Factor::Lr,
    Factor::Epochs,
    Factor::WeightDecay,
    Factor::ModelSeed,
    Factor::DataSeed,
];

/// The factor columns of a run in the runs table (and the holdout factors of the classifier):
/// `sweep`, then [`RUN_TABLE_FACTORS`], typed (labels as strings, seeds by `seed_factor`).
pub fn run_factors(r: &RunSpec) -> indexmap::IndexMap<String, FactorValue> {
    let mut f = indexmap::IndexMap::new();
    f.insert("sweep".into(), FactorValue::Str(r.sweep.clone()));
    for factor in RUN_TABLE_FACTORS {
        f.insert(factor.name().into(), factor_value(&r.hyper, factor));
    }
    f
}

/// A run factor's value as the runs table types it.
fn factor_value(h: &Hyper, f: Factor) -> FactorValue {
    match f {
        Factor::Task => FactorValue::Str(h.task.label.clone()),
        Factor::Arch => FactorValue::Str(h.arch.label.clone()),
        Factor::Rule => FactorValue::Str(h.rule.label.clone()),
        Factor::Lr => FactorValue::Float(h.lr),
        Factor::Batch => FactorValue::Int(h.batch),
        Factor::Epochs => FactorValue::Int(h.epochs),
        Factor::WeightDecay => FactorValue::Float(h.weight_decay),
        Factor::ModelSeed => seed_factor(h.model_seed),
        Factor::DataSeed => seed_factor(h.data_seed),
    }
}

pub use crate::features::schema::seed_factor;

/// A run's task performance at its checkpoints and at its last evaluated epoch, from its
/// status history (what `runs.parquet` and the feature file's metadata record).
pub fn run_performance(
    history: &[EpochLog],
    checkpoints: &[i64],
) -> crate::features::schema::RunPerformance {
    crate::features::schema::RunPerformance::from_history(
        history
            .iter()
            .map(|h| (i64::from(h.epoch), h.val_acc, h.val_loss)),
        checkpoints,
    )
}

/// The runs table rows of a plan, with each run's current status (`pending` when not started).
pub fn run_records(study: &Path, plan: &Plan) -> Vec<RunRecord> {
    plan.runs
        .iter()
        .map(|r| {
            let st = read_status(study, &r.id);
            RunRecord {
                run_id: r.id.clone(),
                rule: r.rule.label.clone(),
                performance: st
                    .as_ref()
                    .map(|s| run_performance(&s.history, &r.checkpoints))
                    .unwrap_or_default(),
                status: st.map(|s| s.status).unwrap_or_else(|| "pending".into()),
                factors: run_factors(r),
            }
        })
        .collect()
}

/// A child's progress message (one JSON object per stdout line, tagged by `event`): what
/// `lrx run-task` prints and `lrx run` reads (and repeats with `--log-format json`). `run` is
/// always the run's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Training starts.
    Start {
        /// The run's id.
        run: String,
        /// Epochs the run trains in all.
        epochs: u32,
        /// Not filled by the engine today (`null`); the run's `status.json` has the epoch it
        /// resumed from.
        resumed_from: Option<u32>,
    },
    /// A training step ended.
    Step {
        /// The run's id.
        run: String,
        /// The epoch under way (1-based).
        epoch: u32,
        /// Steps done in this epoch.
        step: i64,
        /// Steps per epoch.
        steps: i64,
    },
    /// An epoch ended.
    Epoch {
        /// The run's id.
        run: String,
        /// Epochs completed (1-based).
        epoch: u32,
        /// Epochs the run trains in all.
        epochs: u32,
        /// Mean training loss over the epoch's steps.
        train_loss: f64,
        /// Validation accuracy, when the epoch was evaluated.
        val_acc: Option<f64>,
        /// Wall time of the epoch, seconds.
        seconds: f64,
    },
    /// A checkpoint was observed and saved.
    Checkpoint {
        /// The run's id.
        run: String,
        /// The checkpoint's epoch (0: before training).
        epoch: u32,
    },
    /// The run ended (its `status.json` is written).
    End {
        /// The run's id.
        run: String,
        /// `done`, `diverged`, `failed` or `interrupted`.
        status: String,
        /// What failed, or why the run diverged.
        error: Option<String>,
        /// Wall time of the attempt, seconds.
        seconds: f64,
    },
}

/// Counts of run states, overall and per factor value (`lrx status`).
pub fn status_table(study: &Path, manifest: &Manifest) -> String {
    use std::collections::BTreeMap;
    const STATES: [&str; 6] = [
        "done",
        "diverged",
        "failed",
        "interrupted",
        "started",
        "pending",
    ];
    let mut per: BTreeMap<(String, String), BTreeMap<&str, usize>> = BTreeMap::new();
    let mut total: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, run) in manifest.run_ids.iter().zip(&manifest.runs) {
        let st = match read_status(study, id) {
            Some(s) => STATES
                .iter()
                .copied()
                .find(|x| *x == s.status)
                .unwrap_or("failed"),
            None if run_dir(study, id).join("checkpoints").is_dir() => "started",
            None => "pending",
        };
        *total.entry(st).or_default() += 1;
        for factor in ["rule", "arch", "task", "batch"] {
            let v = match factor {
                "rule" | "arch" | "task" => {
                    run[factor]["label"].as_str().unwrap_or("?").to_string()
                }
                _ => run[factor].to_string(),
            };
            *per.entry((factor.to_string(), v))
                .or_default()
                .entry(st)
                .or_default() += 1;
        }
    }
    let mut s = format!(
        "study `{}`: {} runs in {}\n",
        manifest.study,
        manifest.run_ids.len(),
        study.display()
    );
    let counts = |m: &BTreeMap<&str, usize>| {
        STATES
            .iter()
            .map(|k| format!("{:>12}", m.get(k).copied().unwrap_or(0)))
            .collect::<String>()
    };
    s.push_str(&format!(
        "{:<32}{}\n",
        "",
        STATES
            .iter()
            .map(|k| format!("{k:>12}"))
            .collect::<String>()
    ));
    s.push_str(&format!("{:<32}{}\n", "all", counts(&total)));
    for ((f, v), m) in &per {
        let label = format!("{f}={v}");
        let label: String = label.chars().take(31).collect();
        s.push_str(&format!("{label:<32}{}\n", counts(m)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A diverged run's history holds non-finite losses; its status file must read back.
    #[test]
    fn status_with_non_finite_values_round_trips() {
        let st = RunStatus {
            run_id: "abc".into(),
            status: "diverged".into(),
            rule: "ia".into(),
            device: "cpu".into(),
            libtorch_version: "x".into(),
            lrx_version: "y".into(),
            threads: Some(1),
            seconds: 1.0,
            error: None,
            error_code: None,
            diverged_epoch: Some(2),
            resumed_from: None,
            history: vec![EpochLog {
                epoch: 1,
                lr: 0.1,
                train_loss: f64::NAN,
                train_acc: f64::INFINITY,
                alignment_loss: 0.0,
                val_loss: Some(f64::NAN),
                val_acc: None,
                seconds: 0.5,
                alignment: vec![],
            }],
            observe_seconds: vec![ObserveLog {
                epoch: 2,
                seconds: 0.5,
            }],
        };
        let d = tempfile::tempdir().unwrap();
        write_atomic(
            &status_path(d.path(), "abc"),
            &serde_json::to_vec(&st).unwrap(),
        )
        .unwrap();
        let back = read_status(d.path(), "abc").expect("readable");
        assert_eq!(back.status, "diverged");
        assert!(back.history[0].train_loss.is_nan());
        assert!(read_status(d.path(), "abd").is_none());
    }
}
