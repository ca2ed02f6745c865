//! [`ExecError`]: what can go wrong in the execution stage outside the engine itself: the study
//! directory's files, the engine executable and its children, Slurm, reference exports.

use crate::features::WriteError;
use crate::features::observable::ObservableError;
use std::path::PathBuf;

/// An error of the execution stage (`lrx run`, `run-task`, `submit`, `status`, `pack`,
/// `export-reference`), naming the file, command or setting. Each variant has a stable code
/// ([`crate::diag::Coded`]): its own `lrx::exec::...`, or the code of the error it wraps when
/// it adds nothing to its message. The messages are those the commands printed before the
/// codes existed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// `lrx` could not replace itself with the engine executable (`lrx::exec::engine`).
    #[error("cannot start {}: {source}", .path.display())]
    EngineStart {
        /// The engine executable.
        path: PathBuf,
        /// The operating system's error from `exec`.
        source: std::io::Error,
    },
    /// `lrx-engine` is not beside the running executable (`lrx::exec::engine`, as
    /// [`ExecError::EngineStart`]).
    #[error(
        "`{bin}`, the lrx executable that links libtorch (training, observing, the \
         Conv1D classifier), is missing: there is no `{}`; build both executables with \
         `cargo build` (or `cargo build --release`) without `--bin lrx`, or install both with \
         `cargo install --path .`",
        .path.display(),
        bin = super::exe::ENGINE_BIN
    )]
    EngineMissing {
        /// Where the engine was looked for.
        path: PathBuf,
    },
    /// The path of the running executable is unknown, or the engine's cannot be made
    /// absolute (`lrx::exec::current_exe`).
    #[error("cannot locate the {what}: {source}")]
    CurrentExe {
        /// Which executable (`running lrx executable`, `lrx engine <path>`).
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file of the study directory cannot be read (`lrx::exec::read`): most often
    /// `manifest.json` of a directory that is not a study (yet).
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file or directory cannot be created or written (`lrx::exec::write`).
    #[error("{verb} {}: {source}", .path.display())]
    Write {
        /// `cannot write` or `cannot create`.
        verb: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A tensor cannot be written as a `.npy` file (`lrx::exec::write`).
    #[cfg(feature = "torch")]
    #[error("cannot write {}: {source}", .path.display())]
    WriteTensor {
        /// The file.
        path: PathBuf,
        /// libtorch's error.
        source: tch::TchError,
    },
    /// `manifest.json` is not a manifest (`lrx::exec::bad_manifest`).
    #[error("{} is not a manifest: {source}", .path.display())]
    BadManifest {
        /// The file.
        path: PathBuf,
        /// serde_json's error, with line and column.
        source: serde_json::Error,
    },
    /// `slurm/jobs.json` is not a jobs file (`lrx::exec::bad_jobs_file`).
    #[error("{} is not an lrx jobs file: {source}", .path.display())]
    BadJobsFile {
        /// The file.
        path: PathBuf,
        /// serde_json's error, with line and column.
        source: serde_json::Error,
    },
    /// A `--only factor=value` filter names a factor runs do not have
    /// (`lrx::exec::unknown_filter`).
    #[error("--only `{filter}`: unknown factor `{factor}` (known: {known})")]
    UnknownFilter {
        /// The filter as given.
        filter: String,
        /// Its factor.
        factor: String,
        /// The factors a filter can name, comma-separated.
        known: String,
    },
    /// `runs.parquet` cannot be written (`lrx::exec::runs_table`).
    #[error("writing the runs table: {0}")]
    RunsTable(
        /// The writer's error.
        WriteError,
    ),
    /// A `run-task` child cannot be started (`lrx::exec::spawn`).
    #[error("cannot start `{} run-task`: {source}", .exe.display())]
    Spawn {
        /// The engine executable.
        exe: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A `run-task` child ended without writing its status file: it crashed (a segfault, the
    /// out-of-memory killer) or was killed (`lrx::exec::no_status`).
    #[error("the run-task process {} without a status file; see {}", ended_how(.exit), .log.display())]
    NoStatus {
        /// Its exit status (`None` when a signal ended it).
        exit: Option<i32>,
        /// Its `stderr.log`.
        log: PathBuf,
    },
    /// A Slurm client (`sbatch`, `scontrol`, ...) cannot be run (`lrx::exec::slurm_missing`).
    #[error("cannot run `{prog}`: {source} (is Slurm installed and on PATH on this machine?)")]
    SlurmMissing {
        /// The client.
        prog: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A Slurm client did not answer within 30 s (`lrx::exec::slurm_timeout`).
    #[error("`{command}` did not answer within 30 s")]
    SlurmTimeout {
        /// The command line run.
        command: String,
    },
    /// A Slurm client exited with an error (`lrx::exec::slurm_failed`). The message is the
    /// client's own (its stderr), or its exit status when it printed nothing.
    #[error("{}", if .stderr.is_empty() { format!("`{command}` exited with {status}") } else { .stderr.clone() })]
    SlurmFailed {
        /// The command line run.
        command: String,
        /// Its exit status (−1 when killed by a signal).
        status: i32,
        /// What it printed on stderr, trimmed.
        stderr: String,
    },
    /// `sbatch` refused a script (`lrx::exec::sbatch_refused`).
    #[error("sbatch refused {script}: {source}")]
    SbatchRefused {
        /// The script.
        script: String,
        /// Why: the Slurm client's error.
        source: Box<ExecError>,
    },
    /// `sbatch` accepted a script but printed no job id (`lrx::exec::sbatch_no_job_id`).
    #[error("sbatch gave no job id for {script} (output: {output:?})")]
    SbatchNoJobId {
        /// The script.
        script: String,
        /// What sbatch printed, trimmed.
        output: String,
    },
    /// `scontrol show config` has no `MaxArraySize` (`lrx::exec::no_max_array_size`).
    #[error("`scontrol show config` has no MaxArraySize line")]
    NoMaxArraySize,
    /// A learning-rate schedule the engine does not implement
    /// (`lrx::exec::unsupported_schedule`).
    #[error("schedule `{0}` is not implemented by the engine")]
    UnsupportedSchedule(
        /// The schedule's builtin name.
        String,
    ),
    /// A run's epoch count does not fit the engine's 32-bit counter
    /// (`lrx::exec::epochs_out_of_range`).
    #[error("epochs out of range")]
    EpochsOutOfRange(
        /// The epochs of the run.
        i64,
    ),
    /// An observable of the run's plan is not one the observer knows (the
    /// `ObservableError`'s code).
    #[error(transparent)]
    Observable(#[from] ObservableError),
    /// A checkpoint's observation file cannot be decoded (`lrx::exec::bad_observations`).
    #[error("{0}")]
    BadObservations(
        /// The JSON error, or the mismatch of rows and values.
        String,
    ),
    /// The engine refused the run (the [`crate::exec::engine::EngineError`]'s code).
    #[cfg(feature = "torch")]
    #[error(transparent)]
    Engine(#[from] crate::exec::engine::EngineError),
    /// The run cannot be exported for a reference implementation
    /// (`lrx::exec::export_unsupported`).
    #[error("{0}")]
    ExportUnsupported(
        /// Why, and what to change in the task when something can be.
        String,
    ),
}

impl crate::diag::Coded for ExecError {
    fn code(&self) -> &'static str {
        match self {
            ExecError::EngineStart { .. } => "lrx::exec::engine",
            ExecError::EngineMissing { .. } => "lrx::exec::engine",
            ExecError::CurrentExe { .. } => "lrx::exec::current_exe",
            ExecError::Read { .. } => "lrx::exec::read",
            ExecError::Write { .. } => "lrx::exec::write",
            #[cfg(feature = "torch")]
            ExecError::WriteTensor { .. } => "lrx::exec::write",
            ExecError::BadManifest { .. } => "lrx::exec::bad_manifest",
            ExecError::BadJobsFile { .. } => "lrx::exec::bad_jobs_file",
            ExecError::UnknownFilter { .. } => "lrx::exec::unknown_filter",
            ExecError::RunsTable(_) => "lrx::exec::runs_table",
            ExecError::Spawn { .. } => "lrx::exec::spawn",
            ExecError::NoStatus { .. } => "lrx::exec::no_status",
            ExecError::SlurmMissing { .. } => "lrx::exec::slurm_missing",
            ExecError::SlurmTimeout { .. } => "lrx::exec::slurm_timeout",
            ExecError::SlurmFailed { .. } => "lrx::exec::slurm_failed",
            ExecError::SbatchRefused { .. } => "lrx::exec::sbatch_refused",
            ExecError::SbatchNoJobId { .. } => "lrx::exec::sbatch_no_job_id",
            ExecError::NoMaxArraySize => "lrx::exec::no_max_array_size",
            ExecError::UnsupportedSchedule(_) => "lrx::exec::unsupported_schedule",
            ExecError::EpochsOutOfRange(_) => "lrx::exec::epochs_out_of_range",
            ExecError::Observable(e) => e.code(),
            ExecError::BadObservations(_) => "lrx::exec::bad_observations",
            #[cfg(feature = "torch")]
            ExecError::Engine(e) => e.code(),
            ExecError::ExportUnsupported(_) => "lrx::exec::export_unsupported",
        }
    }
}

impl ExecError {
    /// An [`ExecError::Write`] saying `cannot write <path>`.
    pub(crate) fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ExecError::Write {
            verb: "cannot write",
            path: path.into(),
            source,
        }
    }
    /// An [`ExecError::Write`] saying `cannot create <path>`.
    pub(crate) fn create(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ExecError::Write {
            verb: "cannot create",
            path: path.into(),
            source,
        }
    }
}

/// The code of the first coded error in `e`'s chain (outermost first): how a run's failure,
/// carried through `anyhow` by `lrx run-task`, keeps its code for `status.json` and the CLI.
/// `None` when no error of the chain has one (a bare I/O error).
#[cfg(feature = "torch")]
pub(crate) fn code_of(e: &anyhow::Error) -> Option<&'static str> {
    use crate::diag::Coded;
    use crate::exec::{engine::EngineError, observe};
    e.chain().find_map(|c| {
        None.or_else(|| c.downcast_ref::<Tagged>().map(|t| t.code))
            .or_else(|| c.downcast_ref::<ExecError>().map(Coded::code))
            .or_else(|| c.downcast_ref::<EngineError>().map(Coded::code))
            .or_else(|| c.downcast_ref::<observe::ObserveError>().map(Coded::code))
            .or_else(|| {
                c.downcast_ref::<observe::stats::StatsError>()
                    .map(Coded::code)
            })
            .or_else(|| {
                c.downcast_ref::<observe::realism::RealismError>()
                    .map(Coded::code)
            })
            .or_else(|| c.downcast_ref::<WriteError>().map(Coded::code))
            .or_else(|| {
                c.downcast_ref::<crate::features::ReadError>()
                    .map(Coded::code)
            })
            .or_else(|| c.downcast_ref::<ObservableError>().map(Coded::code))
    })
}

/// A message with a code, for an error whose message is built around another one (`building
/// run ...: <engine error>`) and must keep that error's code through `anyhow` ([`code_of`]).
#[cfg(feature = "torch")]
#[derive(Debug)]
pub(crate) struct Tagged {
    /// The code, from [`crate::diag::runtime::ALL`].
    pub(crate) code: &'static str,
    /// The whole message.
    pub(crate) message: String,
}

#[cfg(feature = "torch")]
impl std::fmt::Display for Tagged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(feature = "torch")]
impl std::error::Error for Tagged {}

/// How a `run-task` child ended, for [`ExecError::NoStatus`]: its exit status, or a signal
/// (`kill`, the out-of-memory killer, a crash), which leaves no exit status.
fn ended_how(exit: &Option<i32>) -> String {
    match exit {
        Some(c) => format!("exited with status {c}"),
        None => "was ended by a signal (killed, out of memory, or crashed)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Coded;

    /// A child that wrote no status says how it ended: its exit status, or a signal.
    #[test]
    fn no_status_says_how_the_child_ended() {
        let e = |exit| {
            ExecError::NoStatus {
                exit,
                log: PathBuf::from("runs/x/stderr.log"),
            }
            .to_string()
        };
        assert_eq!(
            e(Some(3)),
            "the run-task process exited with status 3 without a status file; see runs/x/stderr.log"
        );
        assert!(e(None).contains("was ended by a signal"), "{}", e(None));
    }

    /// The messages are those of the strings the functions returned before the enum, and
    /// every code is one of `diag::runtime::ALL`.
    #[test]
    fn messages_are_kept_and_codes_are_listed() {
        let failed = |stderr: &str| ExecError::SlurmFailed {
            command: "sbatch --parsable a.sbatch".into(),
            status: 1,
            stderr: stderr.into(),
        };
        assert_eq!(
            failed("").to_string(),
            "`sbatch --parsable a.sbatch` exited with 1"
        );
        assert_eq!(
            failed("sbatch: error: bad partition").to_string(),
            "sbatch: error: bad partition"
        );
        let refused = ExecError::SbatchRefused {
            script: "a.sbatch".into(),
            source: Box::new(ExecError::SlurmTimeout {
                command: "sbatch --parsable a.sbatch".into(),
            }),
        };
        assert_eq!(
            refused.to_string(),
            "sbatch refused a.sbatch: `sbatch --parsable a.sbatch` did not answer within 30 s"
        );
        let filter = ExecError::UnknownFilter {
            filter: "optimizer=sgdm".into(),
            factor: "optimizer".into(),
            known: "rule, arch".into(),
        };
        assert_eq!(
            filter.to_string(),
            "--only `optimizer=sgdm`: unknown factor `optimizer` (known: rule, arch)"
        );
        let io = || std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(
            ExecError::create("/s/runs/x", io())
                .to_string()
                .starts_with("cannot create /s/runs/x: ")
        );
        for e in [
            failed(""),
            refused,
            filter,
            ExecError::write("/s/manifest.json", io()),
            ExecError::NoMaxArraySize,
            ExecError::EpochsOutOfRange(-1),
            ExecError::NoStatus {
                exit: None,
                log: "/s/runs/x/stderr.log".into(),
            },
            ExecError::EngineMissing {
                path: "/bin/lrx-engine".into(),
            },
        ] {
            assert!(
                crate::diag::runtime::ALL.contains(&e.code()),
                "{}",
                e.code()
            );
        }
    }

    /// A run's failure keeps the code of the error under its context.
    #[cfg(feature = "torch")]
    #[test]
    fn a_chain_gives_its_first_code() {
        let e = anyhow::Error::new(ExecError::NoMaxArraySize).context("submitting");
        assert_eq!(code_of(&e), Some("lrx::exec::no_max_array_size"));
        let e = anyhow::Error::new(Tagged {
            code: "lrx::engine::data",
            message: "building run `x` (t): dataset ...".into(),
        });
        assert_eq!(code_of(&e), Some("lrx::engine::data"));
        assert_eq!(format!("{e:#}"), "building run `x` (t): dataset ...");
        assert_eq!(code_of(&anyhow::anyhow!("no code")), None);
    }
}
