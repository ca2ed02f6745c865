//! Stable codes of the errors raised after a spec has checked: training, observation, feature
//! files, the classifier stage, the report, the study directory and Slurm (the back end), and
//! the few command-line errors that are not a [`super::Diag`].
//!
//! The front end's codes are in [`super::codes`]; a back-end error is an enum (`EngineError`,
//! `ClassifyError`, `ExecError`, ...) whose [`Coded::code`] gives each variant its code. The CLI
//! prints such an error as `error[<code>]: <message>`. `docs/diagnostics.md`, part "Run-time
//! errors", has one section per code in [`ALL`]; a test checks that every code written in the
//! source is listed here or in [`super::codes::ALL`] and has its section.

use std::fmt::Display;

/// An error with a stable code per variant (`lrx::engine::device`, `lrx::exec::bad_manifest`,
/// ...), the contract tools and scripts match on; the message (`Display`) may change.
pub trait Coded: Display {
    /// The variant's code: one of [`ALL`]. An error that wraps another (a file read failing
    /// inside a stage) gives the inner error's code when the wrapper adds only context.
    fn code(&self) -> &'static str;

    /// The line the CLI prints: `error[<code>]: <message>`.
    fn coded(&self) -> String {
        format!("error[{}]: {self}", self.code())
    }
}

/// Every back-end code, grouped by the error enum that raises it, in the order of
/// `docs/diagnostics.md`.
pub const ALL: &[&str] = &[
    // exec::ExecError: the study directory, child processes, Slurm, exports.
    "lrx::exec::engine",
    "lrx::exec::current_exe",
    "lrx::exec::read",
    "lrx::exec::write",
    "lrx::exec::bad_manifest",
    "lrx::exec::bad_jobs_file",
    "lrx::exec::unknown_filter",
    "lrx::exec::runs_table",
    "lrx::exec::spawn",
    "lrx::exec::no_status",
    "lrx::exec::slurm_missing",
    "lrx::exec::slurm_timeout",
    "lrx::exec::slurm_failed",
    "lrx::exec::sbatch_refused",
    "lrx::exec::sbatch_no_job_id",
    "lrx::exec::no_max_array_size",
    "lrx::exec::unsupported_schedule",
    "lrx::exec::epochs_out_of_range",
    "lrx::exec::bad_observations",
    "lrx::exec::export_unsupported",
    // exec::import::ImportError: `lrx import` of recordings.
    "lrx::import::io",
    "lrx::import::manifest",
    "lrx::import::bad_array",
    "lrx::import::unit_not_found",
    "lrx::import::location_not_found",
    "lrx::import::nwb",
    // exec::engine::EngineError: building and training a network.
    "lrx::engine::bad_param",
    "lrx::engine::unknown",
    "lrx::engine::device",
    "lrx::engine::data",
    "lrx::engine::io",
    "lrx::engine::checkpoint",
    "lrx::engine::torch",
    "lrx::engine::observer",
    "lrx::engine::invalid",
    // exec::observe::ObserveError, StatsError, RealismError: observation.
    "lrx::observe::torch",
    "lrx::observe::config",
    "lrx::observe::layer_mismatch",
    "lrx::observe::layer_index",
    "lrx::observe::batch_arity",
    "lrx::observe::positions",
    "lrx::observe::no_stimuli",
    "lrx::observe::shape",
    "lrx::observe::unit_count",
    "lrx::stats::shape",
    "lrx::stats::empty",
    "lrx::stats::id_needs_scalar",
    "lrx::stats::torch",
    "lrx::realism::sigma",
    "lrx::realism::fraction",
    "lrx::realism::seed",
    "lrx::measurement::negative",
    "lrx::measurement::positive",
    "lrx::measurement::kinetics",
    // features::observable::ObservableError: observable names.
    "lrx::features::observable::gradavg_statistic",
    "lrx::features::observable::id_on_tensor",
    "lrx::features::observable::malformed",
    "lrx::features::observable::unknown",
    // features::schema::RunsSchemaError: the runs table's columns.
    "lrx::features::runs::type_conflict",
    "lrx::features::runs::reserved",
    // features::WriteError: writing feature files and the runs table.
    "lrx::features::write::io",
    "lrx::features::write::parquet",
    "lrx::features::write::arrow",
    "lrx::features::write::empty_name",
    // features::ReadError: reading feature files and the runs table.
    "lrx::features::read::io",
    "lrx::features::read::parquet",
    "lrx::features::read::arrow",
    "lrx::features::read::missing_column",
    "lrx::features::read::column_type",
    "lrx::features::read::null",
    "lrx::features::read::schema_version",
    "lrx::features::read::inconsistent",
    "lrx::features::read::no_files",
    "lrx::features::read::no_rows",
    "lrx::features::read::missing_checkpoint",
    "lrx::features::read::missing_observable",
    "lrx::features::read::duplicate",
    "lrx::features::read::run_in_two_files",
    "lrx::features::read::missing_runs_table",
    "lrx::features::read::run_not_in_runs_table",
    "lrx::features::read::rule_mismatch",
    // classify::stage::StageError: the classifier stage of a study.
    "lrx::classify::no_features",
    "lrx::classify::study",
    "lrx::classify::setting",
    "lrx::classify::leak",
    "lrx::classify::write",
    // classify::ClassifyError: tables, splits and estimators.
    "lrx::classify::invalid_table",
    "lrx::classify::invalid_param",
    "lrx::classify::not_enough_examples",
    "lrx::classify::holdout",
    "lrx::classify::unknown_factor",
    "lrx::classify::unknown_class",
    "lrx::classify::shape",
    "lrx::classify::non_finite",
    "lrx::classify::fit",
    "lrx::classify::no_valid_grid_point",
    "lrx::classify::io",
    "lrx::classify::linfa",
    // classify::saved::SavedError: saved classifiers and `lrx predict`.
    "lrx::saved::io",
    "lrx::saved::not_classifier",
    "lrx::saved::version",
    "lrx::saved::schema",
    "lrx::saved::not_saveable",
    // report::ReportError: `lrx report`.
    "lrx::report::not_a_directory",
    "lrx::report::read",
    "lrx::report::bad_json",
    "lrx::report::bad_parquet",
    "lrx::report::plot",
    "lrx::report::write",
    // Command-line errors printed without an enum.
    "lrx::why::unknown_run",
    "lrx::why::ambiguous",
    "lrx::lsp",
];
