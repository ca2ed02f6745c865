//! The stage's results: the types of `results/evaluations.json` ([`Evaluations`], [`Entry`],
//! [`Accuracy`], [`MatchedInfo`]; serde both ways, read back by the report), what the stage
//! returns ([`StageOutcome`]) and the writer of `results/summary.parquet`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::expand::{HoldoutRef, PortionRef, TrajectoryRef};
use super::{Result, StageError};
use crate::classify::performance::MatchedCount;
use crate::features;
use crate::ir::RealismCondition;

/// Version of the `results/` files.
pub(crate) const RESULTS_SCHEMA_VERSION: u32 = 1;

/// The accuracy of one entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Accuracy {
    /// Mean test accuracy over the splits.
    pub mean: f64,
    /// Its standard error over the splits (ddof = 1; 0 for one split).
    pub sem: f64,
}

/// One entry of `results/evaluations.json`. Read tolerantly (a missing field takes its
/// default; unknown keys are ignored): the report reads these files with this type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Entry {
    /// The evaluation's id (its result file is `results/eval/<id>.json`).
    pub id: String,
    /// The target (`rule`, `pair:a-b`, `pair(<factor>):a-b`).
    pub target: String,
    /// The classes, in label order.
    pub classes: Vec<String>,
    /// The measure subset (`weight`, `act`, `gradavg`, `all`, `perf`).
    pub measure: String,
    /// The classifier builtin.
    pub classifier: String,
    /// The classifier's label in the spec (with its grid).
    pub model: String,
    /// The split: `balanced` or `holdout`.
    pub split: String,
    /// The held-out factor and value, for a holdout.
    pub holdout: Option<HoldoutRef>,
    /// The trajectory subsampling, if any.
    pub trajectory: Option<TrajectoryRef>,
    /// The feature layout: `flat` or `trajectory_average`.
    pub layout: String,
    /// The portion pair (train on one, test on another), if any.
    pub portion: Option<PortionRef>,
    /// The realism condition, if any.
    pub realism: Option<RealismCondition>,
    /// The matched-performance control: its tolerance and what survived per class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<MatchedInfo>,
    pub accuracy: Accuracy,
    /// Trace/total of the split-averaged confusion matrix.
    pub mean_accuracy: f64,
    /// Chance accuracy (1 / classes).
    pub chance: f64,
    /// Number of splits.
    pub n_splits: usize,
    /// Training examples per split.
    pub n_train: usize,
    /// Test examples per split.
    pub n_test: usize,
    /// `"<measure>:<statistic>"` dropped by the non-finite rule in this evaluation.
    pub dropped_stats: Vec<String>,
    /// The per-evaluation result file, relative to `results/`.
    pub result_file: String,
}

/// `"matched": {"tolerance": 0.02, "per_class": {"sgdm": {"runs": 3, "runs_total": 4,
/// "examples": 12}, …}}`: runs of each class kept by the matched-performance control, of those
/// in the table, and their examples (network × layer; one per run for `perf`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct MatchedInfo {
    /// The accuracy tolerance of the match.
    pub tolerance: f64,
    /// What survived, per class.
    pub per_class: BTreeMap<String, MatchedCount>,
}

/// `results/evaluations.json` (written by the stage, read by the report; read tolerantly like
/// [`Entry`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Evaluations {
    /// [`RESULTS_SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// The study's name.
    pub study: String,
    /// The spec hash of the study's plan.
    pub spec_hash: String,
    /// `"<measure>:<statistic>"` for every statistic dropped by the non-finite rule.
    pub dropped_stats: Vec<String>,
    /// Notes for the reader (too few runs for a control, …).
    pub notes: Vec<String>,
    /// Every evaluation.
    pub evaluations: Vec<Entry>,
}

/// What [`classify_study_with`](super::run::classify_study_with) did.
#[derive(Debug, Clone)]
pub(crate) struct StageOutcome {
    /// The `results/` directory.
    pub results_dir: PathBuf,
    /// What `evaluations.json` now holds.
    pub evaluations: Evaluations,
}

/// Pretty JSON with a final newline (the results files' format).
pub(super) fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut s = serde_json::to_vec_pretty(v).unwrap_or_default();
    s.push(b'\n');
    s
}

/// `results/summary.parquet`: one row per evaluation with the scalar columns of
/// `evaluations.json` (nested objects flattened: `holdout_factor`, `trajectory_period`, …).
pub(crate) fn write_summary_parquet(path: &Path, ev: &Evaluations) -> Result<()> {
    use arrow_array::{Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    let cols = summary_columns(&ev.evaluations);
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, a)| {
            let nullable = a.null_count() > 0
                || matches!(
                    *n,
                    "holdout_factor"
                        | "holdout_value"
                        | "trajectory_period"
                        | "trajectory_samples"
                        | "portion"
                        | "portion_train"
                        | "portion_test"
                        | "realism_sigma"
                        | "realism_fraction"
                        | "realism_seed"
                        | "realism_measurement"
                        | "matched_tolerance"
                );
            let dt: DataType = a.data_type().clone();
            Field::new(*n, dt, nullable)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), cols.into_iter().map(|(_, a)| a).collect())
        .map_err(|e| StageError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let kv = vec![
        parquet::file::metadata::KeyValue::new(
            "schema_version".into(),
            RESULTS_SCHEMA_VERSION.to_string(),
        ),
        parquet::file::metadata::KeyValue::new("table".into(), "classify_summary".to_string()),
        parquet::file::metadata::KeyValue::new("study".into(), ev.study.clone()),
        parquet::file::metadata::KeyValue::new("spec_hash".into(), ev.spec_hash.clone()),
        parquet::file::metadata::KeyValue::new(
            "lrx_version".into(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ];
    features::writer::write_parquet_atomic(path, schema, &[batch], kv)?;
    Ok(())
}

/// The columns of `summary.parquet`, one row per entry.
fn summary_columns(e: &[Entry]) -> Vec<(&'static str, arrow_array::ArrayRef)> {
    use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray};
    let s = |f: &dyn Fn(&Entry) -> Option<String>| -> ArrayRef {
        Arc::new(e.iter().map(f).collect::<StringArray>())
    };
    let i = |f: &dyn Fn(&Entry) -> Option<i64>| -> ArrayRef {
        Arc::new(e.iter().map(f).collect::<Int64Array>())
    };
    let x = |f: &dyn Fn(&Entry) -> Option<f64>| -> ArrayRef {
        Arc::new(e.iter().map(f).collect::<Float64Array>())
    };
    vec![
        ("id", s(&|r| Some(r.id.clone()))),
        ("target", s(&|r| Some(r.target.clone()))),
        ("classes", s(&|r| Some(r.classes.join(",")))),
        ("measure", s(&|r| Some(r.measure.clone()))),
        ("classifier", s(&|r| Some(r.classifier.clone()))),
        ("model", s(&|r| Some(r.model.clone()))),
        ("split", s(&|r| Some(r.split.clone()))),
        (
            "holdout_factor",
            s(&|r| r.holdout.as_ref().map(|h| h.factor.clone())),
        ),
        (
            "holdout_value",
            s(&|r| r.holdout.as_ref().map(|h| h.value.clone())),
        ),
        (
            "trajectory_period",
            i(&|r| r.trajectory.map(|t| t.period as i64)),
        ),
        (
            "trajectory_samples",
            i(&|r| r.trajectory.map(|t| t.samples as i64)),
        ),
        ("layout", s(&|r| Some(r.layout.clone()))),
        (
            "portion",
            s(&|r| r.portion.as_ref().map(|p| p.name.clone())),
        ),
        (
            "portion_train",
            i(&|r| r.portion.as_ref().map(|p| p.train as i64)),
        ),
        (
            "portion_test",
            i(&|r| r.portion.as_ref().map(|p| p.test as i64)),
        ),
        ("realism_sigma", x(&|r| r.realism.map(|p| p.sigma))),
        ("realism_fraction", x(&|r| r.realism.map(|p| p.fraction))),
        ("realism_seed", i(&|r| r.realism.map(|p| p.seed as i64))),
        (
            "realism_measurement",
            s(&|r| r.realism.map(|p| p.model.canonical())),
        ),
        (
            "matched_tolerance",
            x(&|r| r.matched.as_ref().map(|m| m.tolerance)),
        ),
        ("accuracy_mean", x(&|r| Some(r.accuracy.mean))),
        ("accuracy_sem", x(&|r| Some(r.accuracy.sem))),
        ("mean_accuracy", x(&|r| Some(r.mean_accuracy))),
        ("chance", x(&|r| Some(r.chance))),
        ("n_splits", i(&|r| Some(r.n_splits as i64))),
        ("n_train", i(&|r| Some(r.n_train as i64))),
        ("n_test", i(&|r| Some(r.n_test as i64))),
        ("result_file", s(&|r| Some(r.result_file.clone()))),
    ]
}
