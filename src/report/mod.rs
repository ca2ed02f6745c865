//! The report stage: reads a study directory and writes `results/report.html` (self-contained:
//! every plot inline as SVG) and `results/report.md` (plots as PNG and SVG files in
//! `results/plots/`). No libtorch. See `docs/report.md` for what each section shows.
//!
//! - `inputs`: tolerant readers of `study.json`, `manifest.json`, `runs.parquet`,
//!   `runs/<id>/status.json`, `results/evaluations.json` and `results/eval/<id>.json`.
//! - `sections`: the sections (tables and figures) built from them.
//! - `plot`: the figures (plotters; SVG and PNG; embedded DejaVu Sans font).
//! - `doc`: the document model and its HTML and Markdown renderers.
//!
//! Missing inputs give a report that says what is missing; a file that exists but cannot be
//! parsed is a [`ReportError`] naming it.

pub(crate) mod doc;
#[doc(hidden)]
pub mod fixture;
pub(crate) mod inputs;
pub(crate) mod performance;
pub(crate) mod plot;
pub(crate) mod sections;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub(crate) use doc::Doc;
pub(crate) use inputs::StudyInputs;

/// What went wrong while writing a report (`lrx report`, the end of `lrx run`), naming the file.
/// Each variant has a stable code `lrx::report::...` ([`crate::diag::Coded`]).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The directory given is not a study directory (`lrx::report::not_a_directory`).
    #[error("`{path}` is not a study directory (it does not exist or is not a directory)")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// An input file exists but cannot be read (`lrx::report::read`).
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An input file is not the JSON it should be (`lrx::report::bad_json`).
    #[error("`{path}` is not valid JSON for {what}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What it should hold (`a study`, `a run status`, ...).
        what: &'static str,
        /// serde_json's error, with line and column.
        source: serde_json::Error,
    },
    /// An input file parses but its content is inconsistent (`lrx::report::bad_json`).
    #[error("`{path}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `runs.parquet` cannot be read (`lrx::report::bad_parquet`).
    #[error("cannot read the runs table `{path}`: {source}")]
    Parquet {
        /// The runs table.
        path: PathBuf,
        /// The reader's error.
        source: Box<crate::features::ReadError>,
    },
    /// A figure cannot be drawn (`lrx::report::plot`).
    #[error("cannot draw the figure `{name}`: {message}")]
    Plot {
        /// The figure's file name.
        name: String,
        /// The plotting library's error.
        message: String,
    },
    /// An output file cannot be written (`lrx::report::write`).
    #[error("cannot write `{path}`: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl crate::diag::Coded for ReportError {
    fn code(&self) -> &'static str {
        match self {
            ReportError::NotADirectory { .. } => "lrx::report::not_a_directory",
            ReportError::Read { .. } => "lrx::report::read",
            ReportError::Json { .. } | ReportError::Invalid { .. } => "lrx::report::bad_json",
            ReportError::Parquet { .. } => "lrx::report::bad_parquet",
            ReportError::Plot { .. } => "lrx::report::plot",
            ReportError::Write { .. } => "lrx::report::write",
        }
    }
}

/// The files [`write_report`] wrote, and what it found missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportFiles {
    /// `results/report.html` (when the study's `report.formats` has `html`).
    pub html: Option<PathBuf>,
    /// `results/report.md` (when `report.formats` has `markdown`).
    pub markdown: Option<PathBuf>,
    /// `results/plots/<name>.png` and `.svg` (with the Markdown report).
    pub plots: Vec<PathBuf>,
    /// Missing inputs, in words (the report says the same).
    pub missing: Vec<String>,
}

impl ReportFiles {
    /// Every path written.
    pub fn all(&self) -> Vec<&Path> {
        self.html
            .iter()
            .chain(self.markdown.iter())
            .map(|p| p.as_path())
            .chain(self.plots.iter().map(|p| p.as_path()))
            .collect()
    }
}

/// Builds the report document of a study directory (no files written).
pub(crate) fn build(inp: &StudyInputs) -> Result<Doc, ReportError> {
    let mut doc = Doc {
        title: inp.title(),
        ..Default::default()
    };
    let name = inp.study_name();
    let hash = inp
        .study_str("spec_hash")
        .map(str::to_string)
        .or_else(|| inp.manifest.as_ref().map(|m| m.spec_hash.clone()))
        .filter(|h| !h.is_empty());
    doc.subtitle = Some(format!(
        "Learning-rule identification report for study `{}`{}, from `{}`.",
        name.as_deref().unwrap_or("?"),
        hash.map(|h| format!(" (spec `{h}`)")).unwrap_or_default(),
        inp.dir.display()
    ));
    let mut secs = vec![sections::overview(inp)];
    secs.push(sections::accuracy(&mut doc, inp)?);
    secs.push(sections::pairwise(&mut doc, inp)?);
    secs.push(sections::confusion(&mut doc, inp)?);
    secs.push(sections::importance(&mut doc, inp)?);
    secs.push(sections::holdout(&mut doc, inp)?);
    secs.push(sections::trajectory(&mut doc, inp)?);
    secs.push(sections::realism(&mut doc, inp)?);
    if let Some(p) = performance::section(inp)? {
        secs.push(p);
    }
    if let Some(c) = sections::calibration(&mut doc, inp)? {
        secs.push(c);
    }
    secs.push(sections::training(&mut doc, inp)?);
    if let Some(a) = sections::alignment(&mut doc, inp)? {
        secs.push(a);
    }
    secs.push(sections::provenance(inp));
    secs.push(sections::all_evaluations(inp));
    doc.sections = secs;
    Ok(doc)
}

/// Writes `bytes` to `path` atomically ([`crate::fsx::write_atomic`]).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    crate::fsx::write_atomic(path, bytes).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads `study_dir` and writes its report under `study_dir/results/`: `report.html` and/or
/// `report.md` (per `report.formats` of `study.json`; both when unset) and, with the Markdown
/// report, the figures as `results/plots/<name>.png` and `.svg` (PNG/SVG files there that the
/// new report does not have are removed).
pub fn write_report(study_dir: &Path) -> Result<ReportFiles, ReportError> {
    let inp = inputs::load(study_dir)?;
    let doc = build(&inp)?;
    let results = study_dir.join("results");
    let formats = inp.formats();
    let want = |f: &[&str]| formats.iter().any(|x| f.contains(&x.as_str()));
    let mut files = ReportFiles {
        missing: inp.missing.clone(),
        ..Default::default()
    };
    if want(&["markdown", "md"]) {
        let plots = results.join("plots");
        for f in &doc.figures {
            let png = plots.join(format!("{}.png", f.name));
            write_atomic(&png, &f.rendered.png)?;
            files.plots.push(png);
            let svg = plots.join(format!("{}.svg", f.name));
            write_atomic(&svg, f.rendered.svg.as_bytes())?;
            files.plots.push(svg);
        }
        // Figures of an earlier report that this one no longer has.
        if let Ok(rd) = std::fs::read_dir(&plots) {
            for e in rd.flatten() {
                let p = e.path();
                let ours = p.extension().is_some_and(|x| x == "png" || x == "svg");
                if ours && p.is_file() && !files.plots.contains(&p) {
                    std::fs::remove_file(&p).map_err(|source| ReportError::Write {
                        path: p.clone(),
                        source,
                    })?;
                }
            }
        }
        let md = results.join("report.md");
        write_atomic(&md, doc.to_markdown("plots").as_bytes())?;
        files.markdown = Some(md);
    }
    if want(&["html"]) || files.markdown.is_none() {
        let html = results.join("report.html");
        write_atomic(&html, doc.to_html().as_bytes())?;
        files.html = Some(html);
    }
    Ok(files)
}
