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

/// Errors while reading feature files and the runs table, naming the file (and run, where
/// known). Each variant has a stable code `lrx::features::read::...` ([`crate::diag::Coded`]).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A file cannot be opened or read (`lrx::features::read::io`).
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid Parquet (`lrx::features::read::parquet`).
    #[error("cannot decode Parquet file `{path}`: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The Parquet reader's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A Parquet file's columns cannot be decoded as Arrow arrays
    /// (`lrx::features::read::arrow`).
    #[error("cannot decode Arrow data in `{path}`: {source}")]
    Arrow {
        /// The file.
        path: PathBuf,
        /// Arrow's error.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// A required column is absent (`lrx::features::read::missing_column`).
    #[error("`{path}`: column `{column}` is missing")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column's name.
        column: String,
    },
    /// A column has another type than the schema's (`lrx::features::read::column_type`).
    #[error("`{path}`: column `{column}` has type {found}, expected {expected}")]
    ColumnType {
        /// The file.
        path: PathBuf,
        /// The column's name.
        column: String,
        /// Its type in the file.
        found: DataType,
        /// The type the schema gives it.
        expected: &'static str,
    },
    /// A null in a column that may not have one (`lrx::features::read::null`).
    #[error("`{path}`: column `{column}` has a null at row {row}")]
    Null {
        /// The file.
        path: PathBuf,
        /// The column's name.
        column: String,
        /// The row (0-based, within the file).
        row: usize,
    },
    /// A file written with another feature schema version
    /// (`lrx::features::read::schema_version`).
    #[error(
        "`{path}` was written with feature schema version {found}; this lrx reads version {expected}"
    )]
    SchemaVersion {
        /// The file.
        path: PathBuf,
        /// The `schema_version` in the file's metadata.
        found: String,
        /// The version this lrx reads (`features::schema::SCHEMA_VERSION`).
        expected: u32,
    },
    /// A file's content contradicts itself or the other files (`lrx::features::read::inconsistent`).
    #[error("`{path}`: {message}")]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// What does not agree.
        message: String,
    },
    /// No feature files under the directories read (`lrx::features::read::no_files`).
    #[error("no feature files (`features/**/*.parquet`) under {dirs}")]
    NoFiles {
        /// The study directories read, as a list.
        dirs: String,
    },
    /// No rows of the asked-for realism condition (`lrx::features::read::no_rows`).
    #[error("no rows for condition {condition:?} in the feature files under {dirs}")]
    NoRows {
        /// The condition asked for.
        condition: Condition,
        /// The study directories read, as a list.
        dirs: String,
    },
    /// One example lacks a checkpoint the others have
    /// (`lrx::features::read::missing_checkpoint`).
    #[error(
        "run `{run}` (`{path}`), layer `{layer}`: checkpoint at epoch {epoch} is missing \
         (other examples have it)"
    )]
    MissingCheckpoint {
        /// The run's feature file.
        path: PathBuf,
        /// The run's id.
        run: String,
        /// The layer.
        layer: String,
        /// The missing checkpoint epoch.
        epoch: i64,
    },
    /// An observable is missing at one checkpoint of one example
    /// (`lrx::features::read::missing_observable`).
    #[error(
        "run `{run}` (`{path}`), layer `{layer}`, epoch {epoch}: observable `{observable}` is missing"
    )]
    MissingObservable {
        /// The run's feature file.
        path: PathBuf,
        /// The run's id.
        run: String,
        /// The layer.
        layer: String,
        /// The checkpoint epoch.
        epoch: i64,
        /// The observable's name.
        observable: String,
    },
    /// An observable appears twice at one checkpoint of one example
    /// (`lrx::features::read::duplicate`).
    #[error(
        "run `{run}` (`{path}`), layer `{layer}`, epoch {epoch}: observable `{observable}` appears twice"
    )]
    Duplicate {
        /// The run's feature file.
        path: PathBuf,
        /// The run's id.
        run: String,
        /// The layer.
        layer: String,
        /// The checkpoint epoch.
        epoch: i64,
        /// The observable's name.
        observable: String,
    },
    /// Two feature files hold the same run (`lrx::features::read::run_in_two_files`).
    #[error("run `{run}` has feature files `{first}` and `{second}`")]
    RunInTwoFiles {
        /// The run's id.
        run: String,
        /// The first file found.
        first: PathBuf,
        /// The second file found.
        second: PathBuf,
    },
    /// A directory with feature files has no `runs.parquet`
    /// (`lrx::features::read::missing_runs_table`).
    #[error("`{path}` is missing: it holds the factors of the runs whose features are in `{dir}`")]
    MissingRunsTable {
        /// The runs table expected.
        path: PathBuf,
        /// The study directory.
        dir: PathBuf,
    },
    /// A feature file's run is not in the runs table
    /// (`lrx::features::read::run_not_in_runs_table`).
    #[error("run `{run}` (`{path}`) is not in the runs table `{runs}`")]
    RunNotInRunsTable {
        /// The run's id.
        run: String,
        /// The run's feature file.
        path: PathBuf,
        /// The runs table.
        runs: PathBuf,
    },
    /// A feature file's rule partition disagrees with the runs table
    /// (`lrx::features::read::rule_mismatch`).
    #[error("run `{run}`: rule `{partition}` in its path `{path}` but `{table}` in the runs table")]
    RuleMismatch {
        /// The run's id.
        run: String,
        /// The run's feature file.
        path: PathBuf,
        /// The rule in the file's `rule=` directory.
        partition: String,
        /// The rule in the runs table.
        table: String,
    },
}

impl crate::diag::Coded for ReadError {
    fn code(&self) -> &'static str {
        match self {
            ReadError::Io { .. } => "lrx::features::read::io",
            ReadError::Parquet { .. } => "lrx::features::read::parquet",
            ReadError::Arrow { .. } => "lrx::features::read::arrow",
            ReadError::MissingColumn { .. } => "lrx::features::read::missing_column",
            ReadError::ColumnType { .. } => "lrx::features::read::column_type",
            ReadError::Null { .. } => "lrx::features::read::null",
            ReadError::SchemaVersion { .. } => "lrx::features::read::schema_version",
            ReadError::Inconsistent { .. } => "lrx::features::read::inconsistent",
            ReadError::NoFiles { .. } => "lrx::features::read::no_files",
            ReadError::NoRows { .. } => "lrx::features::read::no_rows",
            ReadError::MissingCheckpoint { .. } => "lrx::features::read::missing_checkpoint",
            ReadError::MissingObservable { .. } => "lrx::features::read::missing_observable",
            ReadError::Duplicate { .. } => "lrx::features::read::duplicate",
            ReadError::RunInTwoFiles { .. } => "lrx::features::read::run_in_two_files",
            ReadError::MissingRunsTable { .. } => "lrx::features::read::missing_runs_table",
            ReadError::RunNotInRunsTable { .. } => "lrx::features::read::run_not_in_runs_table",
            ReadError::RuleMismatch { .. } => "lrx::features::read::rule_mismatch",
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

/// A decoded string column (lrx writes Utf8; other writers may use large/view/dictionary strings).
fn strings(col: &ArrayRef, path: &Path, column: &str) -> Result<Vec<String>, ReadError> {
    let null = |row| ReadError::Null {
        path: path.to_path_buf(),
        column: column.into(),
        row,
    };
    let get = |i: usize, v: Option<&str>| v.map(str::to_string).ok_or_else(|| null(i));
    macro_rules! collect {
        ($arr:expr) => {
            $arr.iter().enumerate().map(|(i, v)| get(i, v)).collect()
        };
    }
    match col.data_type() {
        DataType::Utf8 => collect!(col.as_any().downcast_ref::<StringArray>().unwrap()),
        DataType::LargeUtf8 => collect!(col.as_any().downcast_ref::<LargeStringArray>().unwrap()),
        DataType::Utf8View => collect!(col.as_any().downcast_ref::<StringViewArray>().unwrap()),
        DataType::Dictionary(k, _) => {
            let (keys, values): (Vec<Option<usize>>, ArrayRef) = match k.as_ref() {
                DataType::Int8 => dict_parts::<Int8Type>(col),
                DataType::Int16 => dict_parts::<Int16Type>(col),
                DataType::Int32 => dict_parts::<Int32Type>(col),
                DataType::Int64 => dict_parts::<Int64Type>(col),
                DataType::UInt8 => dict_parts::<UInt8Type>(col),
                DataType::UInt16 => dict_parts::<UInt16Type>(col),
                DataType::UInt32 => dict_parts::<UInt32Type>(col),
                other => {
                    return Err(ReadError::ColumnType {
                        path: path.to_path_buf(),
                        column: column.into(),
                        found: DataType::Dictionary(
                            Box::new(other.clone()),
                            Box::new(DataType::Utf8),
                        ),
                        expected: "string",
                    });
                }
            };
            let vals = strings(&values, path, column)?;
            keys.into_iter()
                .enumerate()
                .map(|(i, k)| k.map(|k| vals[k].clone()).ok_or_else(|| null(i)))
                .collect()
        }
        other => Err(ReadError::ColumnType {
            path: path.to_path_buf(),
            column: column.into(),
            found: other.clone(),
            expected: "string",
        }),
    }
}

fn arrow_buffer_native_usize<T: arrow_array::ArrowNativeTypeOp>(k: T) -> usize {
    k.as_usize()
}

fn dict_parts<K: arrow_array::types::ArrowDictionaryKeyType>(
    col: &ArrayRef,
) -> (Vec<Option<usize>>, ArrayRef) {
    let d = col.as_dictionary::<K>();
    let keys = d
        .keys()
        .iter()
        .map(|k| k.map(arrow_buffer_native_usize))
        .collect();
    (keys, d.values().clone())
}

fn ints(col: &ArrayRef, path: &Path, column: &str) -> Result<Vec<i64>, ReadError> {
    let null = |row| ReadError::Null {
        path: path.to_path_buf(),
        column: column.into(),
        row,
    };
    match col.data_type() {
        DataType::Int64 => col
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, v)| v.ok_or_else(|| null(i)))
            .collect(),
        DataType::Int32 => col
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, v)| v.map(i64::from).ok_or_else(|| null(i)))
            .collect(),
        other => Err(ReadError::ColumnType {
            path: path.to_path_buf(),
            column: column.into(),
            found: other.clone(),
            expected: "int32 or int64",
        }),
    }
}

fn floats(col: &ArrayRef, path: &Path, column: &str) -> Result<Vec<f64>, ReadError> {
    let null = |row| ReadError::Null {
        path: path.to_path_buf(),
        column: column.into(),
        row,
    };
    match col.data_type() {
        DataType::Float64 => col
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, v)| v.ok_or_else(|| null(i)))
            .collect(),
        DataType::Float32 => col
            .as_any()
            .downcast_ref::<Float32Array>()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, v)| v.map(f64::from).ok_or_else(|| null(i)))
            .collect(),
        other => Err(ReadError::ColumnType {
            path: path.to_path_buf(),
            column: column.into(),
            found: other.clone(),
            expected: "float64",
        }),
    }
}

fn column<'a>(b: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a ArrayRef, ReadError> {
    b.column_by_name(name)
        .ok_or_else(|| ReadError::MissingColumn {
            path: path.to_path_buf(),
            column: name.into(),
        })
}

/// A Parquet file's batches and key-value metadata.
pub(crate) fn read_parquet(
    path: &Path,
) -> Result<(Vec<RecordBatch>, BTreeMap<String, String>), ReadError> {
    let file = File::open(path).map_err(|source| ReadError::Io {
        path: path.into(),
        source,
    })?;
    let pq = |source| ReadError::Parquet {
        path: path.into(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
    let kv: BTreeMap<String, String> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .filter_map(|k| k.value.clone().map(|v| (k.key.clone(), v)))
                .collect()
        })
        .unwrap_or_default();
    let reader = builder.build().map_err(pq)?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ReadError::Arrow {
            path: path.into(),
            source,
        })?;
    Ok((batches, kv))
}

fn check_schema_version(path: &Path, kv: &BTreeMap<String, String>) -> Result<(), ReadError> {
    match kv.get("schema_version") {
        Some(v) if v == &SCHEMA_VERSION.to_string() => Ok(()),
        Some(v) => Err(ReadError::SchemaVersion {
            path: path.into(),
            found: v.clone(),
            expected: SCHEMA_VERSION,
        }),
        // Files written by other tools may lack lrx metadata; their columns are still checked.
        None => Ok(()),
    }
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
