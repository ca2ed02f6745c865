//! The command line. The two binaries only call in here: `lrx` (src/main.rs) calls
//! [`front_main`], `lrx-engine` (src/bin/lrx-engine.rs) calls [`main`]. Every subcommand lives
//! here and writes through `Out`, so tests can capture output.

mod classify;
mod doc;
mod export;
mod fmt;
mod import;
mod pack;
mod predict;
mod run;
mod submit;

use crate::check;
use crate::diag::{self, Diag, Diags};
use crate::ir;
use crate::plan::{self, Plan};
use crate::source::SourceMap;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

/// lrx: virtual experiments on learning rules.
#[derive(Debug, Parser)]
#[command(name = "lrx", version, about, long_about = None, disable_help_subcommand = true)]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// How diagnostics are printed.
    #[arg(long, global = true, value_enum, default_value_t = MessageFormat::Human)]
    pub(crate) message_format: MessageFormat,
    /// Colour in diagnostics: auto (on a terminal), always, never.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub(crate) color: Color,
    /// Turn a class of diagnostics into errors: `--deny warnings` fails (exit 1) on any
    /// warning of the check (for CI and editors).
    #[arg(long, global = true, value_enum)]
    pub(crate) deny: Vec<Deny>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Deny {
    Warnings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MessageFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Emit {
    Ast,
    Ir,
    Plan,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Parse and check a spec; exit 0 when it is valid, 1 with every error otherwise.
    Check { spec: PathBuf },
    /// Expand a spec into its plan: runs, examples, features, classifier fits, cost, disk.
    Plan {
        spec: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Print a stage's output instead of the summary (for debugging).
        #[arg(long, value_enum)]
        emit: Option<Emit>,
    },
    /// Show what a run id is made of (the resolved fields hashed into it).
    Why { spec: PathBuf, run_id: String },
    /// Compare the plans of two specs: runs shared, changed (same factors, new ids) and only in
    /// one, grouped by the factors that differ; evaluations; size and cost.
    Diff {
        a: PathBuf,
        b: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Exit 1 when the plans differ (runs or evaluations), as `git diff --exit-code`.
        #[arg(long)]
        exit_code: bool,
    },
    /// Run a study end to end: train and observe every run not yet finished, write the
    /// features, classify, report. Resumable: run the same command again after a crash.
    Run(run::RunArgs),
    /// Submit the study to Slurm: job arrays of `lrx run-task`, then a final job that
    /// classifies and reports (docs/slurm.md).
    Submit(submit::SubmitArgs),
    /// Train and observe one run of a manifest (what `lrx run` and Slurm array tasks start).
    RunTask(run::RunTaskArgs),
    /// Rerun (or re-plan) a shared study and compare run ids and features with its results:
    /// from a spec and the study directory (`--against`), or from a pack, whose checksums are
    /// verified first.
    Reproduce(run::ReproduceArgs),
    /// Write a study pack: the spec, its imports, the stdlib it resolved against, a lock
    /// (versions, run ids, a checksum of every data file) and, from a study directory, its
    /// features and results, in one `.tar.gz` (docs/run.md).
    Pack(pack::PackArgs),
    /// Show finished / diverged / failed / pending runs of a study, per factor.
    Status {
        /// A spec (its `output` directory) or a study directory.
        target: PathBuf,
    },
    /// Run the classifier stage of a trained study: every evaluation of the `classify` block,
    /// results under `<output>/results/`.
    Classify {
        /// A spec (its `output` directory is the study) or a study directory with `study.json`.
        target: PathBuf,
        /// The study directory (overrides the spec's `output`).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Also read the features of this study directory (repeatable): runs of the same design
        /// trained elsewhere join the study's own; results go to the study directory.
        #[arg(long = "features")]
        features: Vec<PathBuf>,
        /// Print only the results table.
        #[arg(long)]
        quiet: bool,
        /// Also refit and save the classifier of every saveable evaluation (balanced split,
        /// random forest or linear SVM) as `results/models/<eval-id>.lrxc.json`
        /// (docs/saved-classifiers.md).
        #[arg(long)]
        save_models: bool,
    },
    /// Apply a saved classifier (`results/models/<eval-id>.lrxc.json`) to a features directory
    /// (`features/rule=*/run=*/part-0.parquet` + `runs.parquet`): per example (run, layer) the
    /// predicted class, calibrated probabilities and an out-of-distribution warning; accuracy
    /// when the directory carries true labels (docs/saved-classifiers.md).
    Predict(predict::PredictArgs),
    /// Write the study's report: `results/report.html` (self-contained) and `results/report.md`.
    Report { study_dir: PathBuf },
    /// Write one run's data, initial weights and batch order for an independent
    /// implementation to replay (docs/learning.md "Reference export").
    ExportReference(export::ExportArgs),
    /// Import recorded neural activity (a recordings file, docs/reference/recordings.md) as
    /// `act` features in the study layout: `<out>/features/`, `runs.parquet`, `import.json`.
    Import(import::ImportArgs),
    /// Rewrite `.lrx` files in the canonical layout (`--check`: only print the diff, exit 1
    /// if a file is not formatted; `-`: stdin to stdout). The rules:
    /// docs/reference/files-and-imports.md, "Formatting".
    Fmt(fmt::FmtArgs),
    /// Run the language server on stdin/stdout (for editors): the checker's diagnostics as
    /// you type, hover documentation, completion, go to definition, formatting
    /// (docs/editors.md).
    Lsp,
    /// Print the reference of every builtin (Markdown).
    Doc {
        /// Document the builtins and the stdlib modules.
        #[arg(long, default_value_t = true)]
        stdlib: bool,
        /// Print the stdlib lock instead: the canonical value of every stdlib definition, as
        /// `stdlib/versions/<version>.json` holds it (for pinned specs, `study { stdlib = N }`).
        #[arg(long)]
        stdlib_lock: bool,
        /// Print the editor grammar (editors/vscode/syntaxes/lrx.tmLanguage.json) with its
        /// list of builtins taken from the registry, for `> editors/vscode/syntaxes/...`.
        #[arg(long)]
        textmate: bool,
    },
}

/// Where output goes (stdout/stderr in the binary, buffers in tests).
pub(crate) struct Out<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub color: bool,
}

/// Runs the CLI in this process (the `lrx-engine` binary); returns the process exit code (0 ok,
/// 1 user error, 2 usage/bug).
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    match parse(&args) {
        Ok(cli) => serve_stdio(&cli).unwrap_or_else(|| with_stdio(&cli, |out| run(&cli, out))),
        Err(code) => code,
    }
}

/// The commands that own stdin and stdout (`lrx lsp`): run before anything locks them, since
/// the language server's writer thread would wait forever on a lock held here.
fn serve_stdio(cli: &Cli) -> Option<i32> {
    matches!(cli.command, Command::Lsp).then(crate::lsp::run_stdio)
}

/// Runs a parsed command (the `lrx-engine` binary, tests): [`run_front`]'s commands, and the
/// ones that need libtorch.
pub(crate) fn run(cli: &Cli, out: &mut Out) -> i32 {
    if let Some(code) = run_front(cli, out) {
        return code;
    }
    let r = match &cli.command {
        Command::Run(a) => run::cmd_run(cli, a, out),
        Command::RunTask(a) => run::cmd_run_task(cli, a, out),
        Command::Reproduce(a) => run::cmd_reproduce(cli, a, out),
        Command::Classify {
            target,
            output,
            features,
            quiet,
            save_models,
        } => classify::cmd_classify(
            cli,
            target,
            output.as_deref(),
            features,
            *quiet,
            *save_models,
            out,
        ),
        Command::Predict(a) => predict::cmd_predict(a, out),
        Command::ExportReference(a) => export::cmd_export(cli, a, out),
        Command::Import(a) => import::cmd_import(cli, a, out),
        // run_front ran every other command.
        _ => Ok(()),
    };
    exit_code(r)
}

/// Runs `cli` if it is a command of the front end: one whose code never reaches libtorch (the
/// `lrx` binary does not link it, see docs/architecture.md). `None` for the commands that
/// train or use the Conv1D classifier, which `lrx` hands to `lrx-engine` ([`front_main`]).
/// A command added to [`Command`] goes to the engine unless it is listed here.
pub(crate) fn run_front(cli: &Cli, out: &mut Out) -> Option<i32> {
    let r = match &cli.command {
        Command::Check { spec } => cmd_check(cli, spec, out),
        Command::Plan { spec, format, emit } => cmd_plan(cli, spec, *format, *emit, out),
        Command::Why { spec, run_id } => cmd_why(cli, spec, run_id, out),
        Command::Diff {
            a,
            b,
            format,
            exit_code,
        } => cmd_diff(cli, a, b, *format, *exit_code, out),
        Command::Submit(a) => submit::cmd_submit(cli, a, out),
        Command::Status { target } => run::cmd_status(cli, target, out),
        Command::Report { study_dir } => cmd_report(study_dir, out),
        Command::Fmt(a) => fmt::cmd_fmt(cli, a, out),
        // The server writes the protocol to stdout from its own thread: [`main`] and
        // [`front_main`] start it before they lock stdout for `out` ([`serve_stdio`]).
        Command::Lsp => match crate::lsp::run_stdio() {
            0 => Ok(()),
            code => Err(code),
        },
        Command::Pack(a) => pack::cmd_pack(cli, a, out),
        Command::Doc {
            stdlib_lock: true, ..
        } => {
            let _ = write!(out.out, "{}", crate::check::stdlib_lock_json());
            Ok(())
        }
        Command::Doc { textmate: true, .. } => {
            let _ = write!(out.out, "{}", doc::textmate_grammar());
            Ok(())
        }
        Command::Doc { .. } => {
            let _ = write!(out.out, "{}", doc::builtins_markdown());
            Ok(())
        }
        _ => return None,
    };
    Some(exit_code(r))
}

fn exit_code(r: Result<(), i32>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(code) => code,
    }
}

/// The `lrx` binary: runs the front-end commands (`run_front`) in this process, which has no
/// libtorch loaded, and replaces itself with `lrx-engine` (beside it) for the others, with the
/// same arguments. Returns the exit code, or does not return.
#[cfg(feature = "torch")]
pub fn front_main(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let cli = match parse(&args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(code) = serve_stdio(&cli) {
        return code;
    }
    if let Some(code) = with_stdio(&cli, |out| run_front(&cli, out)) {
        return code;
    }
    let err = crate::exec::exe::exec_engine(&args);
    let _ = writeln!(std::io::stderr(), "{}", diag::Coded::coded(&err));
    2
}

/// Without libtorch there is nothing to hand over: `lrx` runs every command itself (the
/// training commands say that this build cannot train).
#[cfg(not(feature = "torch"))]
pub fn front_main(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    main(args)
}

fn parse(args: &[std::ffi::OsString]) -> Result<Cli, i32> {
    Cli::try_parse_from(args).map_err(|e| {
        let _ = e.print();
        if e.use_stderr() { 2 } else { 0 }
    })
}

fn with_stdio<T>(cli: &Cli, f: impl FnOnce(&mut Out) -> T) -> T {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::IsTerminal::is_terminal(&stderr),
    };
    let mut o = stdout.lock();
    let mut e = stderr.lock();
    let mut out = Out {
        out: &mut o,
        err: &mut e,
        color,
    };
    f(&mut out)
}

/// Prints diagnostics in the chosen format.
pub(crate) fn report(cli: &Cli, diags: &[Diag], sources: &SourceMap, out: &mut Out) {
    match cli.message_format {
        MessageFormat::Json => {
            let _ = writeln!(out.err, "{}", diag::render_json(diags, sources));
        }
        MessageFormat::Human => {
            let _ = write!(
                out.err,
                "{}",
                diag::render_text(diags, sources, out.color, 100)
            );
            let n = diags.iter().filter(|d| d.is_error()).count();
            if n > 0 {
                let _ = writeln!(
                    out.err,
                    "error: {n} error{} found",
                    if n == 1 { "" } else { "s" }
                );
            }
            let w = diags.len() - n;
            if w > 0 {
                let _ = writeln!(
                    out.err,
                    "warning: {w} warning{}{}",
                    if w == 1 { "" } else { "s" },
                    if cli.deny.contains(&Deny::Warnings) {
                        " (denied by `--deny warnings`)"
                    } else {
                        ""
                    }
                );
            }
        }
    }
}

/// Parse, check and plan a spec, printing diagnostics; `Err(1)` when it is invalid.
/// Prints `error: msg` and gives exit code 1 (the commands' one way to fail with a message).
pub(super) fn fail(out: &mut Out, msg: impl std::fmt::Display) -> i32 {
    let _ = writeln!(out.err, "error: {msg}");
    1
}

/// Prints a back-end error as `error[<code>]: <message>` and gives exit code 1 ([`fail`] for
/// errors with a stable code, [`diag::Coded`]).
pub(super) fn fail_coded(out: &mut Out, e: &impl diag::Coded) -> i32 {
    fail_code(out, e.code(), e)
}

/// Prints `error[<code>]: msg` and gives exit code 1: [`fail_coded`] for a message that adds
/// to a coded error's (a hint, the file it came from).
pub(super) fn fail_code(out: &mut Out, code: &str, msg: impl std::fmt::Display) -> i32 {
    let _ = writeln!(out.err, "error[{code}]: {msg}");
    1
}

pub(crate) fn load(
    cli: &Cli,
    spec: &std::path::Path,
    out: &mut Out,
) -> Result<(SourceMap, ir::Study, Plan), i32> {
    if import::is_recordings(spec) {
        return Err(fail_code(
            out,
            diag::codes::UNKNOWN_KIND,
            format_args!(
                "`{}` is a recordings spec (it has `recording` blocks), not a study: check it with \
                 `lrx check`, import it with `lrx import {} --out DIR`, then `lrx predict MODEL DIR`",
                spec.display(),
                spec.display()
            ),
        ));
    }
    let mut sources = SourceMap::new();
    let checked = check::check_path(spec, &mut sources);
    let deny = cli.deny.contains(&Deny::Warnings);
    let (study, mut warnings) = match checked {
        Ok(w) => (w.value, w.warnings),
        Err(d) => {
            report(cli, &d.0, &sources, out);
            return Err(1);
        }
    };
    match plan::plan(&study) {
        Ok(p) => {
            warnings.extend(p.warnings.iter().cloned());
            if !warnings.is_empty() {
                report(cli, &warnings, &sources, out);
                if deny {
                    return Err(1);
                }
            }
            Ok((sources, study, p))
        }
        Err(d) => {
            warnings.extend(d.0);
            report(cli, &warnings, &sources, out);
            Err(1)
        }
    }
}

fn cmd_check(cli: &Cli, spec: &std::path::Path, out: &mut Out) -> Result<(), i32> {
    if import::is_recordings(spec) {
        let file = import::check_recordings(cli, spec, out)?;
        let sessions: usize = file.recordings.iter().map(|r| r.sessions.len()).sum();
        let _ = writeln!(
            out.err,
            "ok: recordings spec is valid: {} recording(s), {sessions} session(s); read it with `lrx import {} --out DIR`",
            file.recordings.len(),
            spec.display()
        );
        return Ok(());
    }
    let (_, study, plan) = load(cli, spec, out)?;
    let _ = writeln!(
        out.err,
        "ok: study `{}` is valid: {} training runs, {} examples",
        study.name, plan.summary.training_runs, plan.summary.examples
    );
    Ok(())
}

fn cmd_plan(
    cli: &Cli,
    spec: &std::path::Path,
    format: Format,
    emit: Option<Emit>,
    out: &mut Out,
) -> Result<(), i32> {
    if emit == Some(Emit::Ast) {
        let mut sources = SourceMap::new();
        let id = sources.load(spec).map_err(|e| {
            let d = Diag::error(
                diag::codes::IO_READ,
                format!("cannot read `{}`: {e}", spec.display()),
            );
            report(cli, &[d], &sources, out);
            1
        })?;
        return match crate::syntax::parse_source(&sources, id) {
            Ok(ast) => {
                let _ = writeln!(
                    out.out,
                    "{}",
                    serde_json::to_string_pretty(&ast).unwrap_or_default()
                );
                Ok(())
            }
            Err(d) => {
                report(cli, &[d], &sources, out);
                Err(1)
            }
        };
    }
    let (_, study, plan) = load(cli, spec, out)?;
    match emit {
        Some(Emit::Ir) => {
            let _ = writeln!(
                out.out,
                "{}",
                serde_json::to_string_pretty(&study).unwrap_or_default()
            );
        }
        Some(Emit::Plan) => {
            let _ = writeln!(
                out.out,
                "{}",
                serde_json::to_string_pretty(&plan).unwrap_or_default()
            );
        }
        _ => match format {
            Format::Json => {
                let _ = writeln!(
                    out.out,
                    "{}",
                    serde_json::to_string_pretty(&plan.summary).unwrap_or_default()
                );
            }
            Format::Text => {
                let _ = write!(out.out, "{}", summary_text(&study, &plan));
            }
        },
    }
    Ok(())
}

fn cmd_diff(
    cli: &Cli,
    a: &std::path::Path,
    b: &std::path::Path,
    format: Format,
    exit_code: bool,
    out: &mut Out,
) -> Result<(), i32> {
    let (_, sa, pa) = load(cli, a, out)?;
    let (_, sb, pb) = load(cli, b, out)?;
    let d = plan::diff::diff(&sa, &pa, &sb, &pb);
    match format {
        Format::Json => {
            let _ = writeln!(
                out.out,
                "{}",
                serde_json::to_string_pretty(&d).unwrap_or_default()
            );
        }
        Format::Text => {
            let _ = write!(out.out, "{}", plan::diff::render_text(&d));
        }
    }
    if exit_code && !d.is_empty() {
        return Err(1);
    }
    Ok(())
}

fn cmd_why(cli: &Cli, spec: &std::path::Path, run_id: &str, out: &mut Out) -> Result<(), i32> {
    let (_, _, plan) = load(cli, spec, out)?;
    let matches: Vec<_> = plan
        .runs
        .iter()
        .filter(|r| r.id.starts_with(run_id))
        .collect();
    match matches.as_slice() {
        [r] => {
            let _ = writeln!(
                out.out,
                "run {} of study `{}` (sweep `{}`)",
                r.id, r.study, r.sweep
            );
            let _ = writeln!(
                out.out,
                "the id is the first 16 hex digits of SHA-256 over this canonical JSON"
            );
            let _ = writeln!(
                out.out,
                "(data locations `path`/`val_path` and labels are not part of it):"
            );
            let _ = writeln!(
                out.out,
                "{}",
                serde_json::to_string_pretty(&r.identity_json()).unwrap_or_default()
            );
            Ok(())
        }
        [] => {
            let _ = writeln!(
                out.err,
                "error[lrx::why::unknown_run]: no run of `{}` has an id starting with `{run_id}`",
                spec.display()
            );
            let _ = writeln!(
                out.err,
                "  help: `lrx plan {} --emit plan` lists the run ids",
                spec.display()
            );
            Err(1)
        }
        many => {
            let _ = writeln!(
                out.err,
                "error[lrx::why::ambiguous]: {} runs have ids starting with `{run_id}`; give more digits",
                many.len()
            );
            Err(1)
        }
    }
}

pub(crate) fn cmd_report(study_dir: &std::path::Path, out: &mut Out) -> Result<(), i32> {
    match crate::report::write_report(study_dir) {
        Ok(files) => {
            for m in &files.missing {
                let _ = writeln!(out.err, "note: missing {m}");
            }
            for p in files.html.iter().chain(files.markdown.iter()) {
                let _ = writeln!(out.err, "wrote {}", p.display());
            }
            if !files.plots.is_empty() {
                let _ = writeln!(out.err, "wrote {} plot files", files.plots.len());
            }
            Ok(())
        }
        Err(e) => {
            let _ = writeln!(out.err, "{}", diag::Coded::coded(&e));
            Err(1)
        }
    }
}

/// `b` bytes in decimal units (`31.1 kB`).
pub(super) fn human_bytes(b: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut x = b;
    let mut i = 0;
    while x >= 1000.0 && i < units.len() - 1 {
        x /= 1000.0;
        i += 1;
    }
    format!("{x:.1} {}", units[i])
}

fn human_count<K: std::fmt::Display>(m: &std::collections::BTreeMap<K, usize>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text printed by `lrx plan`.
pub fn summary_text(study: &ir::Study, plan: &Plan) -> String {
    let s = &plan.summary;
    let mut t = String::new();
    let line = |t: &mut String, k: &str, v: String| t.push_str(&format!("  {k:<22}{v}\n"));
    t.push_str(&format!(
        "study `{}` (spec {}, plan {})\n",
        plan.study, plan.spec_hash, s.plan_hash
    ));
    line(
        &mut t,
        "training runs",
        format!("{}  ({})", s.training_runs, human_count(&s.runs_per_rule)),
    );
    if s.duplicates_removed > 0 {
        line(
            &mut t,
            "duplicates removed",
            s.duplicates_removed.to_string(),
        );
    }
    line(
        &mut t,
        "examples (net×layer)",
        format!(
            "{}  (per class: {})",
            s.examples,
            human_count(&s.examples_per_class)
        ),
    );
    let (a, b) = s.checkpoints_per_run;
    line(
        &mut t,
        "checkpoints per run",
        if a == b {
            a.to_string()
        } else {
            format!("{a}–{b}")
        },
    );
    line(
        &mut t,
        "observables",
        format!(
            "{} per layer (before the non-finite drop rule)",
            s.observables
        ),
    );
    line(
        &mut t,
        "feature columns",
        s.feature_columns
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    if s.realism_conditions > 0 {
        line(
            &mut t,
            "realism",
            match study.realism.as_ref().map_or(0, |r| r.models.len()) {
                0 => format!(
                    "{} conditions (σ × units × seeds) on {} runs",
                    s.realism_conditions, s.realism_runs
                ),
                m => format!(
                    "{} conditions ((σ + {m} measurement models) × units × seeds) on {} runs",
                    s.realism_conditions, s.realism_runs
                ),
            },
        );
    }
    if study.classify.is_some() {
        line(
            &mut t,
            "classifier",
            format!(
                "{} evaluations, {} model fits",
                s.classifier_evaluations, s.classifier_fits
            ),
        );
    }
    line(
        &mut t,
        "estimated cost",
        format!(
            "{:.2} cpu_hours at {} GFLOP/s per process, or {:.2} gpu_hours at {} GFLOP/s ({:.3e} FLOPs)",
            s.cost.cpu_hours,
            study.cpu_gflops,
            s.cost.gpu_hours,
            study.gpu_gflops,
            s.cost.train_flops + s.cost.observe_flops
        ),
    );
    line(&mut t, "disk for features", human_bytes(s.disk_bytes));
    line(
        &mut t,
        "slurm array chunks",
        format!(
            "{} (at most {} tasks per array)",
            s.slurm_array_chunks,
            plan::DEFAULT_MAX_ARRAY
        ),
    );
    t
}

/// Convenience for tests: run with arguments and capture (exit code, stdout, stderr).
pub fn run_captured(args: &[&str]) -> (i32, String, String) {
    let mut o = Vec::new();
    let mut e = Vec::new();
    let code = match Cli::try_parse_from(std::iter::once("lrx").chain(args.iter().copied())) {
        Ok(cli) => {
            let mut out = Out {
                out: &mut o,
                err: &mut e,
                color: false,
            };
            run(&cli, &mut out)
        }
        Err(err) => {
            let _ = write!(e, "{err}");
            2
        }
    };
    (
        code,
        String::from_utf8_lossy(&o).into_owned(),
        String::from_utf8_lossy(&e).into_owned(),
    )
}

#[allow(dead_code)]
fn unused(_: Diags) {}
