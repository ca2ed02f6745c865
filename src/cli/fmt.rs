//! `lrx fmt`: rewrites `.lrx` files in the canonical layout ([`crate::syntax::fmt`]), checks
//! that they are in it (`--check`, for CI), or formats stdin to stdout (`-`, for editors).

use super::{Cli, Out, report};
use crate::diag::{Diag, codes};
use crate::source::SourceMap;
use crate::syntax::fmt::format_file;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub(crate) struct FmtArgs {
    /// Files and directories to format (in a directory: every `*.lrx` file below it, hidden
    /// directories aside); `-` reads a spec from stdin and writes it formatted to stdout.
    #[arg(required_unless_present = "stdin")]
    pub paths: Vec<PathBuf>,
    /// Change nothing: print a diff of every file that is not formatted and exit 1 if there is
    /// one (0 when every file is formatted).
    #[arg(long)]
    pub check: bool,
    /// Read a spec from stdin and write it formatted to stdout (the same as `-`).
    #[arg(long)]
    pub stdin: bool,
}

/// What happened to one file.
enum Outcome {
    Unchanged,
    /// Rewritten, or (with `--check`) would be.
    Changed,
    /// Not formatted: a syntax error or an I/O error (already reported).
    Failed,
}

pub(super) fn cmd_fmt(cli: &Cli, a: &FmtArgs, out: &mut Out) -> Result<(), i32> {
    let dash = a.paths.iter().any(|p| p.as_os_str() == "-");
    if a.stdin || dash {
        if a.paths.iter().any(|p| p.as_os_str() != "-") || (a.stdin && dash) {
            let _ = writeln!(
                out.err,
                "error: `lrx fmt -` (or `--stdin`) formats stdin alone: give no file with it"
            );
            return Err(2);
        }
        return fmt_stdin(cli, a.check, out);
    }
    let mut files = Vec::new();
    let mut failed = false;
    for p in &a.paths {
        if p.is_dir() {
            lrx_files_below(p, &mut files);
        } else {
            // A missing file is reported when it is read.
            files.push(p.clone());
        }
    }
    let (mut changed, mut unchanged) = (0, 0);
    for f in &files {
        match fmt_file(cli, f, a.check, out) {
            Outcome::Unchanged => unchanged += 1,
            Outcome::Changed => changed += 1,
            Outcome::Failed => failed = true,
        }
    }
    let s = |n: usize| if n == 1 { "" } else { "s" };
    let _ = if a.check {
        if changed > 0 {
            writeln!(
                out.err,
                "{changed} file{} not formatted ({unchanged} formatted): `lrx fmt` rewrites them",
                s(changed)
            )
        } else {
            writeln!(out.err, "{unchanged} file{} formatted", s(unchanged))
        }
    } else {
        writeln!(
            out.err,
            "formatted {changed} file{}, {unchanged} already formatted",
            s(changed)
        )
    };
    if failed || (a.check && changed > 0) {
        Err(1)
    } else {
        Ok(())
    }
}

/// Formats one file: rewrites it, or with `check` prints its diff.
fn fmt_file(cli: &Cli, path: &Path, check: bool, out: &mut Out) -> Outcome {
    let mut sources = SourceMap::new();
    let id = match sources.load(path) {
        Ok(id) => id,
        Err(e) => {
            let d = Diag::error(
                codes::IO_READ,
                format!("cannot read `{}`: {e}", path.display()),
            );
            report(cli, &[d], &sources, out);
            return Outcome::Failed;
        }
    };
    let formatted = match format_file(&sources, id) {
        Ok(t) => t,
        Err(d) => {
            report(cli, &[d], &sources, out);
            return Outcome::Failed;
        }
    };
    let original = sources.get(id).text.as_str();
    if formatted == original {
        return Outcome::Unchanged;
    }
    let name = path.display().to_string();
    if check {
        let _ = write!(out.out, "{}", diff(&name, original, &formatted));
        return Outcome::Changed;
    }
    match std::fs::write(path, &formatted) {
        Ok(()) => {
            let _ = writeln!(out.err, "formatted {name}");
            Outcome::Changed
        }
        Err(e) => {
            let _ = writeln!(out.err, "error: cannot write `{name}`: {e}");
            Outcome::Failed
        }
    }
}

/// `lrx fmt -`: stdin to stdout; with `check`, the diff instead and exit 1 if there is one.
fn fmt_stdin(cli: &Cli, check: bool, out: &mut Out) -> Result<(), i32> {
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        let _ = writeln!(out.err, "error: cannot read stdin: {e}");
        return Err(1);
    }
    let mut sources = SourceMap::new();
    let id = sources.add_bytes("<stdin>", None, bytes);
    let formatted = format_file(&sources, id).map_err(|d| {
        report(cli, &[d], &sources, out);
        1
    })?;
    let original = sources.get(id).text.as_str();
    if !check {
        let _ = write!(out.out, "{formatted}");
        Ok(())
    } else if formatted == original {
        Ok(())
    } else {
        let _ = write!(out.out, "{}", diff("<stdin>", original, &formatted));
        Err(1)
    }
}

/// A unified diff (3 lines of context) from `old` to `new`, headed by the file's name.
fn diff(name: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(name, &format!("{name} (formatted)"))
        .to_string()
}

/// Every `*.lrx` file below `dir`, in name order, skipping hidden entries (`.git`, ...).
fn lrx_files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let p = e.path();
        // `file_type` does not follow symbolic links: a linked directory is not walked.
        match e.file_type() {
            Ok(t) if t.is_dir() => lrx_files_below(&p, out),
            Ok(_) if p.extension().is_some_and(|x| x == "lrx") && p.is_file() => out.push(p),
            _ => {}
        }
    }
}
