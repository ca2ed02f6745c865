//! The Arrow schemas of lrx's Parquet tables (docs/storage.md).
//!
//! - Observations: a tidy long table, one row per (run, epoch, layer, observable, realism
//!   condition), built by [`observations_schema`].
//! - Runs: one row per run with every factor as a column, built by [`runs_schema`].

use crate::features::observable::{LayerPosition, ObservableId};
use arrow_schema::{DataType, Field, Schema};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Version of the feature schema; bump on any change to column names, types or meaning.
/// Part of every file's metadata (`schema_version`) and of run ids.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// `realism_seed` of the plain condition (no noise, no subsampling). Plain rows also carry
/// `noise_sigma = 0` and `unit_fraction = 1`.
pub(crate) const PLAIN_SEED: i64 = -1;

/// Column names of the observations table, in order (the tests check
/// [`observations_schema`] and the written files against it).
#[cfg(test)]
pub(crate) const OBSERVATION_COLUMNS: [&str; 13] = [
    "run_id",
    "epoch",
    "layer",
    "layer_index",
    "layer_position",
    "measure",
    "function",
    "statistic",
    "observable",
    "noise_sigma",
    "unit_fraction",
    "realism_seed",
    "value",
];

/// The observations schema. Strings are Utf8 in Arrow and dictionary-encoded in Parquet
/// (readers see plain strings); nothing is nullable.
pub(crate) fn observations_schema() -> Schema {
    use DataType::*;
    let f = |name: &str, t: DataType| Field::new(name, t, false);
    Schema::new(vec![
        f("run_id", Utf8),
        f("epoch", Int64),
        f("layer", Utf8),
        f("layer_index", Int32),
        f("layer_position", Utf8),
        f("measure", Utf8),
        f("function", Utf8),
        f("statistic", Utf8),
        f("observable", Utf8),
        f("noise_sigma", Float64),
        f("unit_fraction", Float64),
        f("realism_seed", Int64),
        f("value", Float64),
    ])
}

/// One observation (a row of the tidy table without its `run_id`, which is per file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationRow {
    pub epoch: i64,
    pub layer: String,
    pub layer_index: i32,
    pub layer_position: LayerPosition,
    pub observable: ObservableId,
    pub noise_sigma: f64,
    pub unit_fraction: f64,
    /// [`PLAIN_SEED`] (−1) for the plain condition.
    pub realism_seed: i64,
    pub value: f64,
    /// The condition's measurement model (`awgn` for plain and Gaussian rows). A file holds the
    /// column `measurement` (Utf8, [`crate::ir::Measurement::canonical`]) only when some row's
    /// model is not `awgn`, so Gaussian-only feature files are unchanged.
    #[serde(default, skip_serializing_if = "crate::ir::Measurement::is_awgn")]
    pub measurement: crate::ir::Measurement,
}

/// A value of a run factor column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FactorValue {
    Bool(bool),
    Int(i64),
    /// An integer above `i64::MAX` (a 64-bit seed); its column is UInt64. Integers that fit
    /// are always `Int`, so a table round trip gives back the same variant.
    UInt(u64),
    Float(f64),
    Str(String),
}

/// One layer's W against B at an epoch's end (the engine's `EpochRecord::alignment`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerAlignment {
    /// The layer's name (as in the features' `layer` column).
    pub layer: String,
    /// Angle between W and B in W's layout, degrees (0 = backprop).
    pub angle: f64,
    /// ‖B‖ / ‖W‖.
    pub norm_ratio: f64,
    /// Angle in degrees between the rule's gradient signal for W (dW with the error sent down
    /// through B) and backprop's dW on the same fixed batch (the first `DIAG_STIMULI`
    /// validation images, eval mode): Lillicrap et al.'s "ΔW_FA ∠ ΔW_BP". Below 90° means the
    /// rule's update descends the task loss in this layer. `None` in records written before
    /// session 9, or when either gradient is zero or not finite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_angle: Option<f64>,
    /// ‖W‖ / ‖W₀‖ (W₀: the initial weights of the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w_growth: Option<f64>,
    /// IA with `b_step_cap`: the factor the cap applied to B's learning rate at the epoch's
    /// last step (1 = not capped), and λ_max(∂²R_l/∂B²) it was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b_step_factor: Option<f64>,
    /// λ_max(∂²R_l/∂B²) of the last estimate (`b_step_cap`), the alignment rate included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b_curvature: Option<f64>,
    /// `b_step_recheck`: the curvature estimates in the epoch that the layer's output-energy
    /// growth triggered, beside the scheduled ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b_rechecks: Option<u64>,
}

/// A seed in the runs table: an Int64 column, or UInt64 when some seed of the column is above
/// 2⁶³ − 1, so that every seed reads back as itself (pandas, polars and lrx alike).
pub fn seed_factor(seed: u64) -> FactorValue {
    match i64::try_from(seed) {
        Ok(i) => FactorValue::Int(i),
        Err(_) => FactorValue::UInt(seed),
    }
}

impl FactorValue {
    pub fn data_type(&self) -> DataType {
        match self {
            FactorValue::Bool(_) => DataType::Boolean,
            FactorValue::Int(_) => DataType::Int64,
            FactorValue::UInt(_) => DataType::UInt64,
            FactorValue::Float(_) => DataType::Float64,
            FactorValue::Str(_) => DataType::Utf8,
        }
    }
}

impl std::fmt::Display for FactorValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FactorValue::Bool(b) => write!(f, "{b}"),
            FactorValue::Int(i) => write!(f, "{i}"),
            FactorValue::UInt(u) => write!(f, "{u}"),
            FactorValue::Float(x) => write!(f, "{x}"),
            FactorValue::Str(s) => f.write_str(s),
        }
    }
}

impl From<&str> for FactorValue {
    fn from(s: &str) -> Self {
        FactorValue::Str(s.to_string())
    }
}
impl From<String> for FactorValue {
    fn from(s: String) -> Self {
        FactorValue::Str(s)
    }
}
impl From<i64> for FactorValue {
    fn from(i: i64) -> Self {
        FactorValue::Int(i)
    }
}
impl From<f64> for FactorValue {
    fn from(x: f64) -> Self {
        FactorValue::Float(x)
    }
}
impl From<bool> for FactorValue {
    fn from(b: bool) -> Self {
        FactorValue::Bool(b)
    }
}

/// One row of the runs table: the run id, its learning rule (also the `rule=` partition of its
/// feature file), its status (`done`, `diverged`, `failed`, ...), and every factor in order
/// (task, arch, batch size, seeds, ...). Factor names must not be `run_id`, `rule` or `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub rule: String,
    pub status: String,
    pub factors: IndexMap<String, FactorValue>,
    /// Task performance (validation accuracy and loss) at the end and at every checkpoint;
    /// empty for a run not yet trained.
    #[serde(default)]
    pub performance: RunPerformance,
}

/// Fixed leading columns of the runs table.
pub(crate) const RUNS_FIXED_COLUMNS: [&str; 3] = ["run_id", "rule", "status"];

/// Validation accuracy and loss after one epoch of training (`None` where the run did not
/// evaluate: epoch 0, the initialization, is never evaluated; `eval_every` > 1 skips epochs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CheckpointPerformance {
    pub epoch: i64,
    pub val_acc: Option<f64>,
    pub val_loss: Option<f64>,
}

/// A run's task performance: at each of its checkpoints (in order) and at its last evaluated
/// epoch. Written to the runs table (columns [`PERF_FINAL_COLUMNS`] and
/// `val_acc_e<epoch>`/`val_loss_e<epoch>`) and to the `performance` key of the run's feature
/// file's metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunPerformance {
    pub checkpoints: Vec<CheckpointPerformance>,
    /// The last epoch with a validation accuracy (the final one for a finished run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<CheckpointPerformance>,
}

impl RunPerformance {
    /// From a run's per-epoch history `(epoch, val_acc, val_loss)` and its checkpoint epochs.
    pub fn from_history(
        history: impl IntoIterator<Item = (i64, Option<f64>, Option<f64>)>,
        checkpoints: &[i64],
    ) -> Self {
        let h: Vec<(i64, Option<f64>, Option<f64>)> = history.into_iter().collect();
        let at = |e: i64| {
            h.iter()
                .rev()
                .find(|r| r.0 == e)
                .map_or((None, None), |r| (r.1, r.2))
        };
        RunPerformance {
            checkpoints: checkpoints
                .iter()
                .map(|&e| {
                    let (val_acc, val_loss) = at(e);
                    CheckpointPerformance {
                        epoch: e,
                        val_acc,
                        val_loss,
                    }
                })
                .collect(),
            last: h
                .iter()
                .rev()
                .find(|r| r.1.is_some())
                .map(|&(epoch, val_acc, val_loss)| CheckpointPerformance {
                    epoch,
                    val_acc,
                    val_loss,
                }),
        }
    }

    /// The record of checkpoint `epoch`, if any.
    fn at(&self, epoch: i64) -> Option<&CheckpointPerformance> {
        self.checkpoints.iter().find(|c| c.epoch == epoch)
    }

    /// The validation accuracy at `epoch`, if recorded.
    pub fn val_acc_at(&self, epoch: i64) -> Option<f64> {
        self.at(epoch).and_then(|c| c.val_acc)
    }

    /// The validation loss at `epoch`, if recorded.
    pub fn val_loss_at(&self, epoch: i64) -> Option<f64> {
        self.at(epoch).and_then(|c| c.val_loss)
    }

    /// The final validation accuracy (of the last evaluated epoch).
    pub fn final_val_acc(&self) -> Option<f64> {
        self.last.and_then(|c| c.val_acc)
    }
}

/// The task-performance columns of a runs table, after the factors: `val_epoch` (int64, the last
/// evaluated epoch), `val_acc`, `val_loss` (there), then `val_acc_e<E>`, `val_loss_e<E>` for every checkpoint epoch E ≥ 1
/// of any run, ascending (epoch 0 is never evaluated).
pub(crate) fn perf_columns(runs: &[RunRecord]) -> Vec<String> {
    let epochs: std::collections::BTreeSet<i64> = runs
        .iter()
        .flat_map(|r| r.performance.checkpoints.iter().map(|c| c.epoch))
        .filter(|&e| e >= 1)
        .collect();
    let mut out: Vec<String> = PERF_FINAL_COLUMNS.iter().map(|s| s.to_string()).collect();
    for e in epochs {
        for p in PERF_CHECKPOINT {
            out.push(perf_column(p, e));
        }
    }
    out
}

/// The value of task-performance column `name` for one run (see [`perf_columns`]).
pub(crate) fn perf_value(p: &RunPerformance, name: &str) -> Option<f64> {
    match parse_perf_column(name)? {
        ("val_epoch", _) => p.last.map(|c| c.epoch as f64),
        (q, None) => p.last.and_then(|c| quantity(&c, q)),
        (q, Some(e)) => p.at(e).and_then(|c| quantity(c, q)),
    }
}

/// Sets task-performance column `name` of a run read back from a runs table.
pub(crate) fn set_perf_value(p: &mut RunPerformance, name: &str, v: Option<f64>) {
    let blank = |epoch| CheckpointPerformance {
        epoch,
        val_acc: None,
        val_loss: None,
    };
    let Some((q, at)) = parse_perf_column(name) else {
        return;
    };
    let slot = match (q, at) {
        ("val_epoch", _) => {
            if let Some(e) = v {
                p.last.get_or_insert(blank(e as i64)).epoch = e as i64;
            }
            return;
        }
        (_, None) => p.last.get_or_insert(blank(0)),
        (_, Some(e)) => {
            if !p.checkpoints.iter().any(|c| c.epoch == e) {
                p.checkpoints.push(blank(e));
                p.checkpoints.sort_by_key(|c| c.epoch);
            }
            p.checkpoints
                .iter_mut()
                .find(|c| c.epoch == e)
                .expect("inserted above")
        }
    };
    match q {
        "val_acc" => slot.val_acc = v,
        _ => slot.val_loss = v,
    }
}

/// `val_acc` or `val_loss` of one record.
fn quantity(c: &CheckpointPerformance, q: &str) -> Option<f64> {
    match q {
        "val_acc" => c.val_acc,
        _ => c.val_loss,
    }
}

/// The one parser of the runs table's task-performance column names: `(quantity, epoch)` with
/// quantity `val_epoch`, `val_acc` or `val_loss` and the epoch of a `<quantity>_e<E>` column
/// (digits only), `None` for the last-epoch columns; `None` for any other name (a factor).
fn parse_perf_column(name: &str) -> Option<(&'static str, Option<i64>)> {
    if let Some(q) = PERF_FINAL_COLUMNS.iter().find(|q| **q == name) {
        return Some((*q, None));
    }
    PERF_CHECKPOINT.iter().find_map(|q| {
        let d = name.strip_prefix(q)?.strip_prefix("_e")?;
        if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((*q, Some(d.parse().ok()?)))
    })
}

/// The runs table's columns of the final task performance (nullable float64, after `status`).
pub(crate) const PERF_FINAL_COLUMNS: [&str; 3] = ["val_epoch", "val_acc", "val_loss"];

/// The per-checkpoint task-performance quantities of the runs table.
const PERF_CHECKPOINT: [&str; 2] = ["val_acc", "val_loss"];

/// The runs table's column of `what` (`val_acc` or `val_loss`) at checkpoint `epoch`.
pub(crate) fn perf_column(what: &str, epoch: i64) -> String {
    format!("{what}_e{epoch}")
}

/// Whether `name` is a task-performance column of the runs table (not a factor).
pub(crate) fn is_perf_column(name: &str) -> bool {
    parse_perf_column(name).is_some()
}

/// A runs table whose factor columns cannot be reconciled. Each variant has a stable code
/// `lrx::features::runs::...` ([`crate::diag::Coded`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunsSchemaError {
    /// A factor column has two types that do not widen to one (`lrx::features::runs::type_conflict`).
    #[error(
        "factor column `{column}` has type {first} in run `{first_run}` but {other} in run `{other_run}`"
    )]
    TypeConflict {
        /// The column's name.
        column: String,
        /// Its type in the first run that has it.
        first: DataType,
        /// That run's id.
        first_run: String,
        /// The conflicting type.
        other: DataType,
        /// The run with the conflicting type.
        other_run: String,
    },
    /// A factor named like a fixed or performance column (`lrx::features::runs::reserved`).
    #[error("run `{run}` uses the reserved column name `{column}` as a factor")]
    Reserved {
        /// The run's id.
        run: String,
        /// The column's name.
        column: String,
    },
}

impl crate::diag::Coded for RunsSchemaError {
    fn code(&self) -> &'static str {
        match self {
            RunsSchemaError::TypeConflict { .. } => "lrx::features::runs::type_conflict",
            RunsSchemaError::Reserved { .. } => "lrx::features::runs::reserved",
        }
    }
}

/// The runs schema: `run_id, rule, status` then the union of factor columns in order of first
/// appearance. A column absent from some run is nullable; an Int column that meets Float values
/// becomes Float64. Other type conflicts are errors.
pub(crate) fn runs_schema(runs: &[RunRecord]) -> Result<Schema, RunsSchemaError> {
    let mut cols: IndexMap<String, (DataType, String, usize)> = IndexMap::new();
    for r in runs {
        for (name, v) in &r.factors {
            if RUNS_FIXED_COLUMNS.contains(&name.as_str()) || is_perf_column(name) {
                return Err(RunsSchemaError::Reserved {
                    run: r.run_id.clone(),
                    column: name.clone(),
                });
            }
            let t = v.data_type();
            match cols.get_mut(name) {
                None => {
                    cols.insert(name.clone(), (t, r.run_id.clone(), 1));
                }
                Some((first, first_run, count)) => {
                    *count += 1;
                    if *first == t {
                        continue;
                    }
                    match (&*first, &t) {
                        (DataType::Int64, DataType::Float64) => *first = DataType::Float64,
                        (DataType::Float64, DataType::Int64) => {}
                        // Seeds: those above i64::MAX widen the column to UInt64 (the writer
                        // refuses a negative integer there).
                        (DataType::Int64, DataType::UInt64) => *first = DataType::UInt64,
                        (DataType::UInt64, DataType::Int64) => {}
                        _ => {
                            return Err(RunsSchemaError::TypeConflict {
                                column: name.clone(),
                                first: first.clone(),
                                first_run: first_run.clone(),
                                other: t,
                                other_run: r.run_id.clone(),
                            });
                        }
                    }
                }
            }
        }
    }
    let mut fields: Vec<Field> = RUNS_FIXED_COLUMNS
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, false))
        .collect();
    for (name, (t, _, count)) in cols {
        fields.push(Field::new(name, t, count < runs.len()));
    }
    for name in perf_columns(runs) {
        let t = if name == "val_epoch" {
            DataType::Int64
        } else {
            DataType::Float64
        };
        fields.push(Field::new(name, t, true));
    }
    Ok(Schema::new(fields))
}

/// Shared pointer form used by arrow writers.
pub(crate) fn observations_schema_ref() -> Arc<Schema> {
    Arc::new(observations_schema())
}

/// [`observations_schema`] with the column `measurement` (Utf8) appended, for files with
/// conditions of a model other than `awgn`.
pub(crate) fn observations_schema_with_measurement() -> Arc<Schema> {
    let mut fields: Vec<Field> = observations_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("measurement", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observation_columns_match_schema() {
        let s = observations_schema();
        let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, OBSERVATION_COLUMNS);
    }

    #[test]
    fn runs_schema_union_and_conflicts() {
        let mk = |id: &str, f: Vec<(&str, FactorValue)>| RunRecord {
            run_id: id.into(),
            rule: "sgdm".into(),
            status: "done".into(),
            factors: f.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            performance: RunPerformance::default(),
        };
        let a = mk(
            "a",
            vec![("task", "cifar10".into()), ("batch", 128i64.into())],
        );
        let b = mk(
            "b",
            vec![
                ("task", "cifar10".into()),
                ("batch", 256.5.into()),
                ("x", true.into()),
            ],
        );
        let s = runs_schema(&[a.clone(), b]).unwrap();
        let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            [
                "run_id",
                "rule",
                "status",
                "task",
                "batch",
                "x",
                "val_epoch",
                "val_acc",
                "val_loss"
            ]
        );
        assert_eq!(s.field(4).data_type(), &DataType::Float64);
        assert!(s.field(5).is_nullable() && !s.field(3).is_nullable());
        let c = mk("c", vec![("task", 3i64.into())]);
        let e = runs_schema(&[a.clone(), c]).unwrap_err().to_string();
        assert!(
            e.contains("`task`") && e.contains("`a`") && e.contains("`c`"),
            "{e}"
        );
        let d = mk("d", vec![("rule", "x".into())]);
        assert!(matches!(
            runs_schema(&[d]),
            Err(RunsSchemaError::Reserved { .. })
        ));
    }
}
