//! Read feature files and pivot them into the classifier's `[N, T, K]` arrays.
//!
//! A study directory holds `features/rule=<r>/run=<id>/part-*.parquet` and `runs.parquet`
//! (docs/storage.md). [`load_features`] reads every feature file under one or several study
//! directories, keeps the rows of one realism [`Condition`], and returns a [`FeatureTable`]:
//! one example per (run, layer), `x[n, t, k]` = observable k at checkpoint t, with the run's
//! factors joined from `runs.parquet`. Missing checkpoints or observables, duplicated rows, and
//! files that disagree with their metadata, their partition path or the runs table are errors
//! naming the file and the run.

use crate::features::observable::LayerPosition;
use crate::features::schema::{
    FactorValue, PLAIN_SEED, RunPerformance, RunRecord, SCHEMA_VERSION, is_perf_column,
    set_perf_value,
};
use crate::features::writer::{decode_partition_value, runs_path};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array,
    LargeStringArray, RecordBatch, StringArray, StringViewArray,
    cast::AsArray,
    types::{Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type},
};
use arrow_schema::DataType;
use indexmap::IndexMap;
use ndarray::Array3;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

mod columns;
mod error;
pub(crate) use columns::read_parquet;
use columns::*;
pub use error::ReadError;

/// Which measurement condition to load.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// No noise, no subsampling (`realism_seed = -1`).
    Plain,
    /// One realism condition, matched exactly (σ and ρ bit for bit, the seed as stored).
    Realism(crate::ir::RealismCondition),
}

impl Condition {
    /// Whether a row with these `noise_sigma`, `unit_fraction` and `realism_seed` columns
    /// belongs to the condition.
    /// `measurement` is the row's model text (`awgn` where the file has no such column).
    fn matches(&self, sigma: f64, fraction: f64, seed: i64, measurement: &str) -> bool {
        match *self {
            Condition::Plain => seed == PLAIN_SEED,
            Condition::Realism(c) => {
                u64::try_from(seed) == Ok(c.seed)
                    && sigma == c.sigma
                    && fraction == c.fraction
                    && match c.model {
                        crate::ir::Measurement::Awgn => measurement == "awgn",
                        m => measurement == m.canonical(),
                    }
            }
        }
    }
}

/// The pivoted feature table: one example per (run, layer), sorted by (run_id, layer_index).
#[derive(Debug, Clone)]
pub struct FeatureTable {
    /// `[N examples, T checkpoints, K observables]`.
    pub x: Array3<f64>,
    /// K observable names, in the requested order (or the first file's order).
    pub observables: Vec<String>,
    /// T epochs, ascending.
    pub epochs: Vec<i64>,
    /// Run id of each example (N entries, like every per-example field below).
    pub run_ids: Vec<String>,
    /// Learning rule of each example's run (the label).
    pub rules: Vec<String>,
    /// Status of each example's run in `runs.parquet` (`done`, `diverged`, ...).
    pub status: Vec<String>,
    /// Layer name of each example.
    pub layers: Vec<String>,
    /// Index of each example's layer in its network's layer plan (the sort key within a run).
    pub layer_index: Vec<i32>,
    /// Depth group of each example's layer (early, middle, deep; the classifier's one-hot).
    pub positions: Vec<LayerPosition>,
    /// Run factors joined from `runs.parquet`: column → one value per example (`None` where the
    /// run lacks that factor).
    pub factors: IndexMap<String, Vec<Option<FactorValue>>>,
    /// The feature file of each example's run.
    pub files: Vec<PathBuf>,
    /// Task performance of each example's run: the `performance` key of its feature file's
    /// metadata, else its `runs.parquet` columns (empty for files written before lrx recorded
    /// it).
    pub performance: Vec<RunPerformance>,
}

/// Feature files under a study directory: `features/**/*.parquet`, hidden (`.`/`_`) names
/// skipped, sorted.
pub(crate) fn feature_files(study_dir: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let mut out = Vec::new();
    let root = study_dir.join("features");
    if !root.exists() {
        return Ok(out);
    }
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let io = |source| ReadError::Io {
            path: dir.clone(),
            source,
        };
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let p = entry.path();
            if entry.file_type().map_err(io)?.is_dir() {
                stack.push(p);
            } else if name.ends_with(".parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Rows of one observations file, already filtered to one condition.
#[derive(Debug, Clone, Default)]
pub(crate) struct FileRows {
    pub run_id: String,
    pub epoch: Vec<i64>,
    pub layer: Vec<String>,
    pub layer_index: Vec<i64>,
    pub layer_position: Vec<String>,
    pub observable: Vec<String>,
    pub value: Vec<f64>,
    pub metadata: BTreeMap<String, String>,
}

/// Read one observations file, keeping the rows of `condition`. The file must hold exactly one
/// run (its metadata `run_id`, when present, must match).
pub(crate) fn read_observations(path: &Path, condition: &Condition) -> Result<FileRows, ReadError> {
    let (batches, kv) = read_parquet(path)?;
    check_schema_version(path, &kv)?;
    let mut out = FileRows {
        metadata: kv,
        ..Default::default()
    };
    let mut run: Option<String> = out
        .metadata
        .get("run_id")
        .filter(|s| !s.is_empty())
        .cloned();
    for b in &batches {
        let run_ids = strings(column(b, "run_id", path)?, path, "run_id")?;
        let sigma = floats(column(b, "noise_sigma", path)?, path, "noise_sigma")?;
        let frac = floats(column(b, "unit_fraction", path)?, path, "unit_fraction")?;
        let seed = ints(column(b, "realism_seed", path)?, path, "realism_seed")?;
        let epoch = ints(column(b, "epoch", path)?, path, "epoch")?;
        let layer = strings(column(b, "layer", path)?, path, "layer")?;
        let li = ints(column(b, "layer_index", path)?, path, "layer_index")?;
        let pos = strings(column(b, "layer_position", path)?, path, "layer_position")?;
        let obs = strings(column(b, "observable", path)?, path, "observable")?;
        let value = floats(column(b, "value", path)?, path, "value")?;
        // Files written before measurement models (or with Gaussian conditions only) have no
        // `measurement` column: every row is `awgn`.
        let measurement = match b.column_by_name("measurement") {
            Some(_) => strings(column(b, "measurement", path)?, path, "measurement")?,
            None => vec!["awgn".to_string(); b.num_rows()],
        };
        for i in 0..b.num_rows() {
            match &run {
                None => run = Some(run_ids[i].clone()),
                Some(r) if *r != run_ids[i] => {
                    return Err(ReadError::Inconsistent {
                        path: path.into(),
                        message: format!(
                            "row {i} has run_id `{}` but the file belongs to run `{r}`",
                            run_ids[i]
                        ),
                    });
                }
                _ => {}
            }
            if !condition.matches(sigma[i], frac[i], seed[i], &measurement[i]) {
                continue;
            }
            out.epoch.push(epoch[i]);
            out.layer.push(layer[i].clone());
            out.layer_index.push(li[i]);
            out.layer_position.push(pos[i].clone());
            out.observable.push(obs[i].clone());
            out.value.push(value[i]);
        }
    }
    out.run_id = run.ok_or_else(|| ReadError::Inconsistent {
        path: path.into(),
        message: "the file has no rows and no run_id metadata".into(),
    })?;
    Ok(out)
}

/// Read a runs table.
pub fn read_runs(path: &Path) -> Result<Vec<RunRecord>, ReadError> {
    let (batches, kv) = read_parquet(path)?;
    check_schema_version(path, &kv)?;
    let mut out = Vec::new();
    for b in &batches {
        let ids = strings(column(b, "run_id", path)?, path, "run_id")?;
        let rules = strings(column(b, "rule", path)?, path, "rule")?;
        let status = strings(column(b, "status", path)?, path, "status")?;
        let mut factor_cols: Vec<(String, Vec<Option<FactorValue>>)> = Vec::new();
        let mut perf_cols: Vec<(String, Vec<Option<f64>>)> = Vec::new();
        for (fi, field) in b.schema().fields().iter().enumerate() {
            if ["run_id", "rule", "status"].contains(&field.name().as_str()) {
                continue;
            }
            let col = b.column(fi);
            let name = field.name().clone();
            if is_perf_column(&name) {
                // `val_epoch` is int64, the others float64; nulls are unknown values.
                let value = |i: usize| -> Result<Option<f64>, ReadError> {
                    if col.is_null(i) {
                        return Ok(None);
                    }
                    let one = col.slice(i, 1);
                    Ok(Some(match col.data_type() {
                        DataType::Int64 | DataType::Int32 => ints(&one, path, &name)?[0] as f64,
                        _ => floats(&one, path, &name)?[0],
                    }))
                };
                let vals = (0..col.len()).map(value).collect::<Result<Vec<_>, _>>()?;
                perf_cols.push((name, vals));
                continue;
            }
            let vals: Vec<Option<FactorValue>> = match col.data_type() {
                DataType::Boolean => col
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .unwrap()
                    .iter()
                    .map(|v| v.map(FactorValue::Bool))
                    .collect(),
                DataType::Int64 | DataType::Int32 => (0..col.len())
                    .map(|i| {
                        (!col.is_null(i)).then(|| {
                            let one = col.slice(i, 1);
                            FactorValue::Int(ints(&one, path, &name).expect("typed")[0])
                        })
                    })
                    .collect(),
                DataType::UInt64 => col
                    .as_any()
                    .downcast_ref::<arrow_array::UInt64Array>()
                    .unwrap()
                    .iter()
                    .map(|v| v.map(super::schema::seed_factor))
                    .collect(),
                DataType::Float64 | DataType::Float32 => (0..col.len())
                    .map(|i| {
                        (!col.is_null(i)).then(|| {
                            FactorValue::Float(
                                floats(&col.slice(i, 1), path, &name).expect("typed")[0],
                            )
                        })
                    })
                    .collect(),
                _ => (0..col.len())
                    .map(|i| {
                        if col.is_null(i) {
                            Ok(None)
                        } else {
                            strings(&col.slice(i, 1), path, &name)
                                .map(|v| Some(FactorValue::Str(v[0].clone())))
                        }
                    })
                    .collect::<Result<_, _>>()?,
            };
            factor_cols.push((name, vals));
        }
        for i in 0..b.num_rows() {
            let mut factors = IndexMap::new();
            for (name, vals) in &factor_cols {
                if let Some(v) = &vals[i] {
                    factors.insert(name.clone(), v.clone());
                }
            }
            let mut performance = RunPerformance::default();
            for (name, vals) in &perf_cols {
                set_perf_value(&mut performance, name, vals[i]);
            }
            out.push(RunRecord {
                run_id: ids[i].clone(),
                rule: rules[i].clone(),
                status: status[i].clone(),
                factors,
                performance,
            });
        }
    }
    Ok(out)
}

/// The `rule=<r>` partition of a feature file path, if any.
fn partition_rule(path: &Path) -> Option<String> {
    path.ancestors()
        .filter_map(|p| p.file_name())
        .find_map(|n| {
            n.to_str()?
                .strip_prefix("rule=")
                .map(decode_partition_value)
        })
}

struct Example {
    run: String,
    layer: String,
    layer_index: i32,
    position: LayerPosition,
    file: PathBuf,
    /// (epoch, observable) → value
    values: BTreeMap<(i64, String), f64>,
}

/// Read every feature file under `dirs` for one `condition` and pivot to a [`FeatureTable`].
/// `observables`: the K observables in order (default: every observable present, in the order of
/// first appearance in the first file). Runs' factors come from each dir's `runs.parquet`.
pub fn load_features<P: AsRef<Path>>(
    dirs: &[P],
    condition: &Condition,
    observables: Option<&[String]>,
) -> Result<FeatureTable, ReadError> {
    let dir_list = || {
        dirs.iter()
            .map(|d| format!("`{}`", d.as_ref().display()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut c = Collected::default();
    for dir in dirs {
        c.add_dir(dir.as_ref(), condition, observables.is_none())?;
    }
    if c.n_files == 0 {
        return Err(ReadError::NoFiles { dirs: dir_list() });
    }
    if c.examples.is_empty() {
        return Err(ReadError::NoRows {
            condition: *condition,
            dirs: dir_list(),
        });
    }
    let obs: Vec<String> = match observables {
        Some(o) => o.to_vec(),
        None => c.order,
    };
    pivot(&c.examples, &c.run_info, &c.run_perf, obs)
}

/// What [`load_features`] gathers from the feature files before pivoting.
#[derive(Default)]
struct Collected {
    /// (run, layer index) → that layer's values.
    examples: BTreeMap<(String, i32), Example>,
    /// Run → the feature file holding it (a run in two files is an error).
    run_file: BTreeMap<String, PathBuf>,
    /// Run → its `runs.parquet` record.
    run_info: BTreeMap<String, RunRecord>,
    /// Run → its task performance (the file's `performance` metadata, else the runs table's).
    run_perf: BTreeMap<String, RunPerformance>,
    /// Observables in order of first appearance (kept only when the caller gives none).
    order: Vec<String>,
    /// Feature files seen.
    n_files: usize,
}

impl Collected {
    /// Adds the feature files of one study directory (none: nothing to do; files without a
    /// runs table: an error).
    fn add_dir(
        &mut self,
        dir: &Path,
        condition: &Condition,
        record_order: bool,
    ) -> Result<(), ReadError> {
        let files = feature_files(dir)?;
        if files.is_empty() {
            return Ok(());
        }
        self.n_files += files.len();
        let rp = runs_path(dir);
        if !rp.exists() {
            return Err(ReadError::MissingRunsTable {
                path: rp,
                dir: dir.into(),
            });
        }
        let runs: BTreeMap<String, RunRecord> = read_runs(&rp)?
            .into_iter()
            .map(|r| (r.run_id.clone(), r))
            .collect();
        for path in files {
            self.add_file(path, condition, &runs, &rp, record_order)?;
        }
        Ok(())
    }

    /// Adds one feature file (one run), checked against the runs table `runs` read from `rp`.
    fn add_file(
        &mut self,
        path: PathBuf,
        condition: &Condition,
        runs: &BTreeMap<String, RunRecord>,
        rp: &Path,
        record_order: bool,
    ) -> Result<(), ReadError> {
        let rows = read_observations(&path, condition)?;
        let run = rows.run_id.clone();
        if let Some(first) = self.run_file.insert(run.clone(), path.clone()) {
            return Err(ReadError::RunInTwoFiles {
                run,
                first,
                second: path,
            });
        }
        let rec = runs.get(&run).ok_or_else(|| ReadError::RunNotInRunsTable {
            run: run.clone(),
            path: path.clone(),
            runs: rp.to_path_buf(),
        })?;
        if let Some(r) = partition_rule(&path)
            && r != rec.rule
        {
            return Err(ReadError::RuleMismatch {
                run,
                path,
                partition: r,
                table: rec.rule.clone(),
            });
        }
        let perf = match rows.metadata.get("performance") {
            Some(j) => {
                serde_json::from_str::<RunPerformance>(j).map_err(|e| ReadError::Inconsistent {
                    path: path.clone(),
                    message: format!("the `performance` metadata is not valid: {e}"),
                })?
            }
            None => rec.performance.clone(),
        };
        self.run_perf.insert(run.clone(), perf);
        self.run_info.insert(run.clone(), rec.clone());
        self.add_rows(&rows, &run, &path, record_order)
    }

    /// Files the rows of run `run` (read from `path`) under their examples: a layer index must
    /// keep its name and position, and each (epoch, observable) appears once per layer.
    fn add_rows(
        &mut self,
        rows: &FileRows,
        run: &str,
        path: &Path,
        record_order: bool,
    ) -> Result<(), ReadError> {
        for i in 0..rows.value.len() {
            let li = rows.layer_index[i] as i32;
            let position: LayerPosition =
                rows.layer_position[i]
                    .parse()
                    .map_err(|e| ReadError::Inconsistent {
                        path: path.to_path_buf(),
                        message: format!("{e}"),
                    })?;
            let ex = self
                .examples
                .entry((run.to_string(), li))
                .or_insert_with(|| Example {
                    run: run.to_string(),
                    layer: rows.layer[i].clone(),
                    layer_index: li,
                    position,
                    file: path.to_path_buf(),
                    values: BTreeMap::new(),
                });
            if ex.layer != rows.layer[i] || ex.position != position {
                return Err(ReadError::Inconsistent {
                    path: path.to_path_buf(),
                    message: format!(
                        "run `{run}`: layer index {li} is `{}` ({}) in one row and `{}` ({}) in another",
                        ex.layer, ex.position, rows.layer[i], position
                    ),
                });
            }
            let key = (rows.epoch[i], rows.observable[i].clone());
            if ex.values.insert(key, rows.value[i]).is_some() {
                return Err(ReadError::Duplicate {
                    path: path.to_path_buf(),
                    run: run.to_string(),
                    layer: ex.layer.clone(),
                    epoch: rows.epoch[i],
                    observable: rows.observable[i].clone(),
                });
            }
            if record_order && !self.order.contains(&rows.observable[i]) {
                self.order.push(rows.observable[i].clone());
            }
        }
        Ok(())
    }
}

/// The pivot of [`load_features`]: one example per (run, layer) in key order, every example at
/// every epoch any example has (a missing checkpoint or observable is an error).
fn pivot(
    examples: &BTreeMap<(String, i32), Example>,
    run_info: &BTreeMap<String, RunRecord>,
    run_perf: &BTreeMap<String, RunPerformance>,
    obs: Vec<String>,
) -> Result<FeatureTable, ReadError> {
    let mut epochs: Vec<i64> = examples
        .values()
        .flat_map(|e| e.values.keys().map(|k| k.0))
        .collect();
    epochs.sort_unstable();
    epochs.dedup();
    let (n, t, k) = (examples.len(), epochs.len(), obs.len());
    let mut x = Array3::<f64>::zeros((n, t, k));
    let mut table = FeatureTable {
        x: Array3::zeros((0, 0, 0)),
        observables: obs.clone(),
        epochs: epochs.clone(),
        run_ids: Vec::with_capacity(n),
        rules: Vec::with_capacity(n),
        status: Vec::with_capacity(n),
        layers: Vec::with_capacity(n),
        layer_index: Vec::with_capacity(n),
        positions: Vec::with_capacity(n),
        factors: IndexMap::new(),
        files: Vec::with_capacity(n),
        performance: Vec::with_capacity(n),
    };
    for rec in run_info.values() {
        for name in rec.factors.keys() {
            table.factors.entry(name.clone()).or_default();
        }
    }
    for (ni, ex) in examples.values().enumerate() {
        let epochs_here: std::collections::BTreeSet<i64> = ex.values.keys().map(|k| k.0).collect();
        for (ti, &ep) in epochs.iter().enumerate() {
            if !epochs_here.contains(&ep) {
                return Err(ReadError::MissingCheckpoint {
                    path: ex.file.clone(),
                    run: ex.run.clone(),
                    layer: ex.layer.clone(),
                    epoch: ep,
                });
            }
            for (ki, o) in obs.iter().enumerate() {
                let v = ex.values.get(&(ep, o.clone())).ok_or_else(|| {
                    ReadError::MissingObservable {
                        path: ex.file.clone(),
                        run: ex.run.clone(),
                        layer: ex.layer.clone(),
                        epoch: ep,
                        observable: o.clone(),
                    }
                })?;
                x[[ni, ti, ki]] = *v;
            }
        }
        let rec = &run_info[&ex.run];
        table.run_ids.push(ex.run.clone());
        table.rules.push(rec.rule.clone());
        table.status.push(rec.status.clone());
        table.layers.push(ex.layer.clone());
        table.layer_index.push(ex.layer_index);
        table.positions.push(ex.position);
        table.files.push(ex.file.clone());
        table
            .performance
            .push(run_perf.get(&ex.run).cloned().unwrap_or_default());
        for (name, col) in table.factors.iter_mut() {
            col.push(rec.factors.get(name).cloned());
        }
    }
    table.x = x;
    Ok(table)
}

#[cfg(test)]
mod tests;
