//! Reading a study directory for the report: every input is optional (a missing file becomes a
//! note in the report), but a file that exists and cannot be parsed is an error naming the file.
//!
//! The serde types here are deliberately tolerant (`#[serde(default)]`, unknown keys ignored): the
//! report reads what the training stage writes and the classifier's per-evaluation result files
//! without depending on their types. The classifier's index, `results/evaluations.json`, is read
//! with the stage's own types ([`Evaluations`], [`EvalEntry`]), which are tolerant in the same
//! way; the report's views of an entry (main setting, holdout, …) are derived after reading.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::ReportError;
use crate::classify::stage::Accuracy;
use crate::features::RunRecord;
use crate::features::reader::read_runs;

/// Mean ± s.e.m. as the classifier stage writes it (`n` is optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct MeanSem {
    pub mean: f64,
    pub sem: f64,
    pub n: usize,
}

/// `manifest.json`: the plan the study was run from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Manifest {
    pub study: String,
    pub spec_hash: String,
    pub spec_path: String,
    pub lrx_version: String,
    pub libtorch_version: String,
    /// Run ids in plan order (when present; else the ids of `runs`).
    pub run_ids: Vec<String>,
    /// RunSpec JSON; only `id` is used.
    pub runs: Vec<serde_json::Value>,
}

impl Manifest {
    /// The planned run ids.
    pub(crate) fn run_ids(&self) -> Vec<String> {
        if !self.run_ids.is_empty() {
            return self.run_ids.clone();
        }
        self.runs
            .iter()
            .filter_map(|r| r.get("id").and_then(|v| v.as_str()).map(str::to_string))
            .collect()
    }
}

/// One epoch of a run's training history (`status.json` → `history`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Epoch {
    pub epoch: u32,
    pub lr: Option<f64>,
    pub train_loss: Option<f64>,
    pub train_acc: Option<f64>,
    pub alignment_loss: Option<f64>,
    pub val_loss: Option<f64>,
    pub val_acc: Option<f64>,
    pub seconds: Option<f64>,
    /// Per layer with backward weights (FA, IA, ...): W–B angle, update angle, ‖W‖/‖W₀‖.
    pub alignment: Vec<LayerAlign>,
}

/// One layer's alignment diagnostics in an epoch record (`engine::train::LayerAlignment`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LayerAlign {
    pub layer: String,
    pub angle: Option<f64>,
    pub norm_ratio: Option<f64>,
    pub update_angle: Option<f64>,
    pub w_growth: Option<f64>,
}

/// `runs/<run_id>/status.json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RunStatus {
    pub run_id: String,
    pub status: String,
    pub rule: String,
    pub device: Option<String>,
    pub libtorch_version: Option<String>,
    pub lrx_version: Option<String>,
    pub threads: Option<u32>,
    pub seconds: Option<f64>,
    pub error: Option<String>,
    pub diverged_epoch: Option<u32>,
    pub resumed_from: Option<u32>,
    pub history: Vec<Epoch>,
}

/// `results/evaluations.json` and its entries: the classifier stage's own types (one
/// definition of the format; read tolerantly), with the report's derived views below.
pub(crate) use crate::classify::stage::{Entry as EvalEntry, Evaluations};

impl From<Accuracy> for MeanSem {
    fn from(a: Accuracy) -> MeanSem {
        MeanSem {
            mean: a.mean,
            sem: a.sem,
            n: 0,
        }
    }
}

impl EvalEntry {
    /// The 4-way (all rules) task.
    pub(crate) fn is_rule_target(&self) -> bool {
        self.target == "rule"
    }
    /// A pairwise task: the two classes (from `classes`, else parsed from `pair:a-b`).
    pub(crate) fn pair(&self) -> Option<(String, String)> {
        let rest = self.target.strip_prefix("pair:")?;
        if self.classes.len() == 2 {
            return Some((self.classes[0].clone(), self.classes[1].clone()));
        }
        let (a, b) = rest.split_once('-')?;
        Some((a.to_string(), b.to_string()))
    }
    fn is_flat(&self) -> bool {
        self.layout.is_empty() || self.layout == "flat"
    }
    fn is_balanced(&self) -> bool {
        self.split.is_empty() || self.split == "balanced"
    }
    /// Plain setting: balanced splits, flat layout, whole trajectories, no portion, no realism,
    /// every run (not the matched control).
    pub(crate) fn is_plain(&self) -> bool {
        self.is_balanced()
            && self.matched.is_none()
            && self.holdout.is_none()
            && self.trajectory.is_none()
            && self.portion.is_none()
            && self.realism.is_none()
    }
    /// The main setting of Fig. 2: plain and flat.
    pub(crate) fn is_main(&self) -> bool {
        self.is_plain() && self.is_flat()
    }
    /// The trajectory-average control (plain otherwise).
    pub(crate) fn is_average(&self) -> bool {
        self.is_plain() && self.layout == "trajectory_average"
    }
    pub(crate) fn is_holdout(&self) -> bool {
        self.holdout.is_some()
            && self.is_flat()
            && self.trajectory.is_none()
            && self.portion.is_none()
            && self.realism.is_none()
    }
    pub(crate) fn is_trajectory(&self) -> bool {
        self.trajectory.is_some()
            && self.is_balanced()
            && self.holdout.is_none()
            && self.is_flat()
            && self.portion.is_none()
            && self.realism.is_none()
    }
    pub(crate) fn is_realism(&self) -> bool {
        self.realism.is_some()
            && self.is_balanced()
            && self.holdout.is_none()
            && self.is_flat()
            && self.trajectory.is_none()
            && self.portion.is_none()
    }
}

/// `summary` of a classifier result (`crate::classify::eval::Summary`, read tolerantly).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct EvalSummary {
    pub mean_accuracy: Option<f64>,
    pub accuracy: MeanSem,
    pub chance: f64,
    pub confusion_mean: Vec<Vec<f64>>,
    pub balanced_accuracy: Vec<MeanSem>,
    pub dprime: Vec<MeanSem>,
    pub gini_importance: Option<Vec<MeanSem>>,
    pub permutation_importance: Option<Vec<MeanSem>>,
}

/// `results/eval/<id>.json` (a serialised `crate::classify::EvalResult`, read tolerantly).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct EvalFile {
    pub classes: Vec<String>,
    pub groups: Vec<String>,
    pub stats: Vec<String>,
    pub dropped_stats: Vec<String>,
    pub summary: EvalSummary,
}

/// Everything read from a study directory.
#[derive(Debug, Default)]
pub(crate) struct StudyInputs {
    pub dir: PathBuf,
    pub study: Option<serde_json::Value>,
    pub manifest: Option<Manifest>,
    pub runs: Option<Vec<RunRecord>>,
    /// Sorted by run id.
    pub statuses: Vec<RunStatus>,
    /// Run directories without a `status.json`.
    pub runs_without_status: Vec<String>,
    pub evaluations: Option<Evaluations>,
    /// Result files by evaluation id (only those that exist).
    pub eval_files: BTreeMap<String, EvalFile>,
    /// What is missing, in words (shown at the top of the report).
    pub missing: Vec<String>,
}

impl StudyInputs {
    /// A string field of `study.json`.
    pub(crate) fn study_str(&self, key: &str) -> Option<&str> {
        self.study.as_ref()?.get(key)?.as_str()
    }
    /// The report title: `report.title`, else the study name, else the directory name.
    pub(crate) fn title(&self) -> String {
        self.study
            .as_ref()
            .and_then(|s| s.pointer("/report/title"))
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| self.study_name())
            .unwrap_or_else(|| {
                self.dir
                    .file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "study".to_string())
            })
    }
    pub(crate) fn study_name(&self) -> Option<String> {
        self.study_str("name")
            .map(str::to_string)
            .or_else(|| {
                self.manifest
                    .as_ref()
                    .map(|m| m.study.clone())
                    .filter(|s| !s.is_empty())
            })
            .or_else(|| {
                self.evaluations
                    .as_ref()
                    .map(|e| e.study.clone())
                    .filter(|s| !s.is_empty())
            })
    }
    /// `report.formats` of `study.json` (default html and markdown).
    pub(crate) fn formats(&self) -> Vec<String> {
        let f: Vec<String> = self
            .study
            .as_ref()
            .and_then(|s| s.pointer("/report/formats"))
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(|s| s.to_ascii_lowercase()))
                    .collect()
            })
            .unwrap_or_default();
        if f.is_empty() {
            vec!["html".to_string(), "markdown".to_string()]
        } else {
            f
        }
    }
}

fn read_json<T: DeserializeOwned>(path: &Path, what: &'static str) -> Result<T, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        what,
        source,
    })
}

/// Reads what exists of a study directory. Errors only for a missing directory or a file that
/// exists but cannot be read or parsed.
pub(crate) fn load(dir: &Path) -> Result<StudyInputs, ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let mut inp = StudyInputs {
        dir: dir.to_path_buf(),
        ..Default::default()
    };
    let study = dir.join("study.json");
    if study.is_file() {
        let v: serde_json::Value = read_json(&study, "a study (`lrx plan --emit ir`)")?;
        if !v.is_object() {
            return Err(ReportError::Invalid {
                path: study,
                message: "expected a JSON object".into(),
            });
        }
        inp.study = Some(v);
    } else {
        inp.missing
            .push("`study.json` (study name, description and report settings)".into());
    }
    let manifest = dir.join("manifest.json");
    if manifest.is_file() {
        inp.manifest = Some(read_json(&manifest, "a run manifest")?);
    } else {
        inp.missing
            .push("`manifest.json` (the planned runs, lrx and libtorch versions)".into());
    }
    let runs = dir.join("runs.parquet");
    if runs.is_file() {
        inp.runs = Some(read_runs(&runs).map_err(|source| ReportError::Parquet {
            path: runs.clone(),
            source: Box::new(source),
        })?);
    } else {
        inp.missing
            .push("`runs.parquet` (one row per run: rule, status, factors)".into());
    }
    read_statuses(dir, &mut inp)?;
    if inp.statuses.is_empty() {
        inp.missing.push(
            "`runs/<run_id>/status.json` (wall times, devices, training histories): no run has one"
                .into(),
        );
    }
    read_evaluations(dir, &mut inp)?;
    Ok(inp)
}

/// Reads `runs/<run_id>/status.json` of every run directory (sorted by run id); directories
/// without one are listed in `runs_without_status`.
fn read_statuses(dir: &Path, inp: &mut StudyInputs) -> Result<(), ReportError> {
    let runs_dir = dir.join("runs");
    if runs_dir.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&runs_dir)
            .map_err(|source| ReportError::Read {
                path: runs_dir.clone(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .filter(|p| {
                !p.file_name()
                    .map(|n| n.to_string_lossy().starts_with(['.', '_']))
                    .unwrap_or(true)
            })
            .collect();
        entries.sort();
        for d in entries {
            let sp = d.join("status.json");
            if sp.is_file() {
                let mut s: RunStatus = read_json(&sp, "a run status")?;
                if s.run_id.is_empty() {
                    s.run_id = d
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                }
                inp.statuses.push(s);
            } else if let Some(n) = d.file_name() {
                inp.runs_without_status
                    .push(n.to_string_lossy().into_owned());
            }
        }
        inp.statuses.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    }
    Ok(())
}

/// Reads `results/evaluations.json` and the result files it lists (absent ones are noted).
fn read_evaluations(dir: &Path, inp: &mut StudyInputs) -> Result<(), ReportError> {
    let evals = dir.join("results").join("evaluations.json");
    if evals.is_file() {
        let e: Evaluations = read_json(&evals, "the classifier results index")?;
        let mut absent = Vec::new();
        for entry in &e.evaluations {
            let Some(rf) = Some(entry.result_file.as_str()).filter(|s| !s.is_empty()) else {
                continue;
            };
            let p = dir.join("results").join(rf);
            if p.is_file() {
                let f: EvalFile = read_json(&p, "a classifier result (`EvalResult`)")?;
                inp.eval_files.insert(entry.id.clone(), f);
            } else {
                absent.push(format!("`results/{rf}`"));
            }
        }
        if !absent.is_empty() {
            let n = absent.len();
            absent.truncate(5);
            inp.missing.push(format!(
                "{n} classifier result file{} listed in `results/evaluations.json` ({}{})",
                if n == 1 { "" } else { "s" },
                absent.join(", "),
                if n > 5 { ", …" } else { "" }
            ));
        }
        inp.evaluations = Some(e);
    } else {
        inp.missing
            .push("`results/evaluations.json` (classifier results: `lrx classify`)".into());
    }
    Ok(())
}
