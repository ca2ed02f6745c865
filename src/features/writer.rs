//! Atomic Parquet writers for the observation and runs tables (docs/storage.md).
//!
//! Every file is written to a hidden temporary file in its final directory
//! (`.part-0.parquet.tmp-<pid>-<n>`), fsynced, renamed into place and the directory fsynced, so
//! a crash leaves either the previous file or the complete new one, never half a file. Hidden
//! files are ignored by pyarrow/polars datasets and by [`super::reader`].
//!
//! Zstd compression, dictionary-encoded columns (all string columns repeat heavily), row groups
//! of at most [`ROW_GROUP_ROWS`] rows, and key-value metadata: `schema_version`, `lrx_version`,
//! `spec_hash`, `run_id`, `libtorch_version`, `device` (plus `table`).

use crate::features::schema::{
    FactorValue, ObservationRow, RunPerformance, RunRecord, RunsSchemaError, SCHEMA_VERSION,
    is_perf_column, observations_schema_ref, observations_schema_with_measurement, perf_value,
    runs_schema,
};
use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    UInt64Array,
};
use arrow_schema::{DataType, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Maximum rows per Parquet row group (bounded memory for writers and readers).
pub(crate) const ROW_GROUP_ROWS: usize = 64 * 1024;
/// Zstd level: a good ratio at a negligible cost next to training.
pub(crate) const ZSTD_LEVEL: i32 = 3;

/// Errors while writing feature files and the runs table, naming the file. Each has a stable
/// code ([`crate::diag::Coded`]): `lrx::features::write::...`, or the code of the
/// [`RunsSchemaError`] it wraps.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A file or directory cannot be created or written (`lrx::features::write::io`).
    #[error("cannot write `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The Parquet writer failed (`lrx::features::write::parquet`).
    #[error("cannot encode `{path}` as Parquet: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The Parquet writer's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// The rows do not make an Arrow batch of the schema (`lrx::features::write::arrow`).
    #[error("cannot build the Arrow batch for `{path}`: {source}")]
    Arrow {
        /// The file.
        path: PathBuf,
        /// Arrow's error.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// The runs' factor columns cannot be reconciled (the [`RunsSchemaError`]'s code).
    #[error(transparent)]
    RunsSchema(#[from] RunsSchemaError),
    /// A rule label or run id is empty, so it cannot name its `rule=`/`run=` directory
    /// (`lrx::features::write::empty_name`).
    #[error("empty {what}: `{value}` cannot name a partition directory")]
    EmptyName {
        /// Which name (`rule`, `run id`).
        what: &'static str,
        /// The value given.
        value: String,
    },
}

impl crate::diag::Coded for WriteError {
    fn code(&self) -> &'static str {
        match self {
            WriteError::Io { .. } => "lrx::features::write::io",
            WriteError::Parquet { .. } => "lrx::features::write::parquet",
            WriteError::Arrow { .. } => "lrx::features::write::arrow",
            WriteError::RunsSchema(e) => e.code(),
            WriteError::EmptyName { .. } => "lrx::features::write::empty_name",
        }
    }
}

/// Provenance written into every feature file's key-value metadata.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FileMetadata {
    pub run_id: String,
    pub spec_hash: String,
    pub libtorch_version: String,
    pub device: String,
    /// Defaults to this crate's version.
    pub lrx_version: String,
    /// The run's task performance (observation files only): key `performance`, JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance: Option<RunPerformance>,
}

impl FileMetadata {
    pub(crate) fn new(
        run_id: impl Into<String>,
        spec_hash: impl Into<String>,
        libtorch_version: impl Into<String>,
        device: impl Into<String>,
    ) -> Self {
        FileMetadata {
            run_id: run_id.into(),
            spec_hash: spec_hash.into(),
            libtorch_version: libtorch_version.into(),
            device: device.into(),
            lrx_version: env!("CARGO_PKG_VERSION").to_string(),
            performance: None,
        }
    }

    /// The same, with the run's task performance (written under the key `performance`).
    pub(crate) fn with_performance(mut self, p: RunPerformance) -> Self {
        self.performance = Some(p);
        self
    }

    fn key_values(&self, table: &str) -> Vec<KeyValue> {
        [
            ("schema_version", SCHEMA_VERSION.to_string()),
            ("table", table.to_string()),
            ("lrx_version", self.lrx_version.clone()),
            ("spec_hash", self.spec_hash.clone()),
            ("run_id", self.run_id.clone()),
            ("libtorch_version", self.libtorch_version.clone()),
            ("device", self.device.clone()),
        ]
        .into_iter()
        .chain(
            self.performance
                .as_ref()
                .map(|p| ("performance", serde_json::to_string(p).unwrap_or_default())),
        )
        .map(|(k, v)| KeyValue::new(k.to_string(), v))
        .collect()
    }
}

/// Hive partition value encoding: bytes outside `[A-Za-z0-9._-]` become `%XX` (pyarrow and polars
/// URI-decode partition values).
pub(crate) fn encode_partition_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Inverse of [`encode_partition_value`] (invalid escapes are kept literally).
pub(crate) fn decode_partition_value(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `<study>/features/rule=<rule>/run=<run_id>/part-0.parquet`.
pub(crate) fn feature_path(study_dir: &Path, rule: &str, run_id: &str) -> PathBuf {
    study_dir
        .join("features")
        .join(format!("rule={}", encode_partition_value(rule)))
        .join(format!("run={}", encode_partition_value(run_id)))
        .join("part-0.parquet")
}

/// `<study>/runs.parquet`.
pub(crate) fn runs_path(study_dir: &Path) -> PathBuf {
    study_dir.join("runs.parquet")
}

fn properties(kv: Vec<KeyValue>) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(ZSTD_LEVEL).expect("valid level"),
        ))
        .set_dictionary_enabled(true)
        .set_max_row_group_size(ROW_GROUP_ROWS)
        .set_created_by(format!("lrx {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(kv))
        .build()
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write `batches` to `path` atomically (temp file in the same directory, fsync, rename, fsync
/// of the directory).
pub(crate) fn write_parquet_atomic(
    path: &Path,
    schema: Arc<Schema>,
    batches: &[RecordBatch],
    kv: Vec<KeyValue>,
) -> Result<(), WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let fname = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{fname}.tmp-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let file = File::create(&tmp).map_err(io)?;
        let pq = |source| WriteError::Parquet {
            path: path.to_path_buf(),
            source,
        };
        let mut w = ArrowWriter::try_new(file, schema, Some(properties(kv))).map_err(pq)?;
        for b in batches {
            w.write(b).map_err(pq)?;
        }
        let file = w.into_inner().map_err(pq)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io)?;
        // Persist the rename itself.
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Arrow record batches (of at most [`ROW_GROUP_ROWS`] rows) of observation rows.
pub(crate) fn observation_batches(
    run_id: &str,
    rows: &[ObservationRow],
    path: &Path,
) -> Result<Vec<RecordBatch>, WriteError> {
    let with_model = rows.iter().any(|r| !r.measurement.is_awgn());
    let schema = if with_model {
        observations_schema_with_measurement()
    } else {
        observations_schema_ref()
    };
    let mut out = Vec::new();
    for chunk in rows.chunks(ROW_GROUP_ROWS) {
        let s = |f: &dyn Fn(&ObservationRow) -> String| -> ArrayRef {
            Arc::new(chunk.iter().map(|r| Some(f(r))).collect::<StringArray>())
        };
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![run_id; chunk.len()])),
            Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.epoch))),
            s(&|r| r.layer.clone()),
            Arc::new(Int32Array::from_iter_values(
                chunk.iter().map(|r| r.layer_index),
            )),
            s(&|r| r.layer_position.as_str().to_string()),
            s(&|r| r.observable.measure.as_str().to_string()),
            s(&|r| r.observable.function.as_str().to_string()),
            s(&|r| r.observable.statistic.as_str().to_string()),
            s(&|r| r.observable.name()),
            Arc::new(Float64Array::from_iter_values(
                chunk.iter().map(|r| r.noise_sigma),
            )),
            Arc::new(Float64Array::from_iter_values(
                chunk.iter().map(|r| r.unit_fraction),
            )),
            Arc::new(Int64Array::from_iter_values(
                chunk.iter().map(|r| r.realism_seed),
            )),
            Arc::new(Float64Array::from_iter_values(
                chunk.iter().map(|r| r.value),
            )),
        ];
        if with_model {
            cols.push(s(&|r| r.measurement.canonical()));
        }
        out.push(
            RecordBatch::try_new(schema.clone(), cols).map_err(|source| WriteError::Arrow {
                path: path.to_path_buf(),
                source,
            })?,
        );
    }
    if out.is_empty() {
        out.push(RecordBatch::new_empty(schema));
    }
    Ok(out)
}

/// Write one run's observations (all checkpoints) to `path`, atomically.
pub(crate) fn write_observations(
    path: &Path,
    meta: &FileMetadata,
    rows: &[ObservationRow],
) -> Result<(), WriteError> {
    let batches = observation_batches(&meta.run_id, rows, path)?;
    write_parquet_atomic(
        path,
        batches[0].schema(),
        &batches,
        meta.key_values("observations"),
    )
}

/// Write one run's observations to `<study>/features/rule=<rule>/run=<id>/part-0.parquet`
/// (replacing any previous file atomically). Returns the path.
pub(crate) fn write_features(
    study_dir: &Path,
    rule: &str,
    meta: &FileMetadata,
    rows: &[ObservationRow],
) -> Result<PathBuf, WriteError> {
    if rule.is_empty() {
        return Err(WriteError::EmptyName {
            what: "rule",
            value: rule.to_string(),
        });
    }
    if meta.run_id.is_empty() {
        return Err(WriteError::EmptyName {
            what: "run id",
            value: meta.run_id.clone(),
        });
    }
    let path = feature_path(study_dir, rule, &meta.run_id);
    write_observations(&path, meta, rows)?;
    Ok(path)
}

/// Write the runs table to `<study>/runs.parquet` atomically: `run_id, rule, status`, then one
/// column per factor (see [`runs_schema`]). `meta.run_id` is ignored (written empty).
pub(crate) fn write_runs(
    study_dir: &Path,
    runs: &[RunRecord],
    meta: &FileMetadata,
) -> Result<PathBuf, WriteError> {
    let path = runs_path(study_dir);
    let schema = Arc::new(runs_schema(runs)?);
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(
            runs.iter()
                .map(|r| Some(r.run_id.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            runs.iter()
                .map(|r| Some(r.rule.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            runs.iter()
                .map(|r| Some(r.status.as_str()))
                .collect::<StringArray>(),
        ),
    ];
    for field in schema.fields().iter().skip(3) {
        let name = field.name();
        fn get<'r>(r: &'r RunRecord, name: &str) -> Option<&'r FactorValue> {
            r.factors.get(name)
        }
        let col: ArrayRef = match field.data_type() {
            DataType::Int64 if is_perf_column(name) => Arc::new(
                runs.iter()
                    .map(|r| perf_value(&r.performance, name).map(|e| e as i64))
                    .collect::<Int64Array>(),
            ),
            DataType::Float64 if is_perf_column(name) => Arc::new(
                runs.iter()
                    .map(|r| perf_value(&r.performance, name))
                    .collect::<Float64Array>(),
            ),
            DataType::Utf8 => Arc::new(
                runs.iter()
                    .map(|r| match get(r, name) {
                        Some(FactorValue::Str(s)) => Some(s.clone()),
                        _ => None,
                    })
                    .collect::<StringArray>(),
            ),
            DataType::Int64 => Arc::new(
                runs.iter()
                    .map(|r| match get(r, name) {
                        Some(FactorValue::Int(i)) => Some(*i),
                        _ => None,
                    })
                    .collect::<Int64Array>(),
            ),
            // Seeds, when one is above i64::MAX (`exec::seed_factor`); never negative.
            DataType::UInt64 => Arc::new(
                runs.iter()
                    .map(|r| match get(r, name) {
                        Some(FactorValue::Int(i)) => u64::try_from(*i).ok(),
                        Some(FactorValue::UInt(u)) => Some(*u),
                        _ => None,
                    })
                    .collect::<UInt64Array>(),
            ),
            DataType::Float64 => Arc::new(
                runs.iter()
                    .map(|r| match get(r, name) {
                        Some(FactorValue::Int(i)) => Some(*i as f64),
                        Some(FactorValue::Float(x)) => Some(*x),
                        _ => None,
                    })
                    .collect::<Float64Array>(),
            ),
            DataType::Boolean => Arc::new(
                runs.iter()
                    .map(|r| match get(r, name) {
                        Some(FactorValue::Bool(b)) => Some(*b),
                        _ => None,
                    })
                    .collect::<BooleanArray>(),
            ),
            other => unreachable!("runs_schema only builds factor types, not {other}"),
        };
        cols.push(col);
    }
    let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|source| WriteError::Arrow {
        path: path.clone(),
        source,
    })?;
    let mut m = meta.clone();
    m.run_id = String::new();
    write_parquet_atomic(&path, schema, &[batch], m.key_values("runs"))?;
    Ok(path)
}
