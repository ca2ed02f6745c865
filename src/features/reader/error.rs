//! The reader's errors: what cannot be read, where, and its stable code.

use super::Condition;
use arrow_schema::DataType;
use std::path::PathBuf;

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
