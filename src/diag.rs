//! Diagnostics: every error a user can cause in the front end (parse, check, plan) is a [`Diag`]
//! with a stable code from [`codes`], a primary labelled span, optional secondary labels
//! ("first defined here") and a help line. Stages collect all diagnostics and return them
//! together; rendering goes through miette (graphical for people, JSON for tools).
//!
//! One struct rather than one enum per stage: the checker produces diagnostics from many places
//! with data-dependent messages (did-you-mean, lists of valid values), and the codes, which are
//! the stable contract, are checked against `docs/diagnostics.md` by a test.

use crate::source::{SourceMap, Span};
use miette::{LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;
use std::fmt;

/// Error or warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A diagnostic tied to source spans.
#[derive(Debug, Clone, Serialize)]
pub struct Diag {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    /// Primary label: where the problem is.
    pub span: Option<Span>,
    pub label: String,
    /// Secondary labels, e.g. "first defined here".
    pub related: Vec<(Span, String)>,
    pub help: Option<String>,
}

impl Diag {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diag {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            label: String::new(),
            related: Vec::new(),
            help: None,
        }
    }
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diag {
            severity: Severity::Warning,
            ..Diag::error(code, message)
        }
    }
    pub fn at(mut self, span: Span, label: impl Into<String>) -> Self {
        self.span = Some(span);
        self.label = label.into();
        self
    }
    pub fn related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
    /// `file:line:col` of the primary span, for plain-text and JSON output.
    pub fn location(&self, sources: &SourceMap) -> Option<(String, usize, usize)> {
        let span = self.span?;
        let (line, col) = sources.line_col(span.source, span.start);
        Some((sources.get(span.source).name.clone(), line, col))
    }
}

/// A list of diagnostics returned by a stage that failed.
#[derive(Debug, Clone, Default)]
pub struct Diags(pub Vec<Diag>);

impl Diags {
    pub fn push(&mut self, d: Diag) {
        self.0.push(d);
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diag::is_error)
    }
    pub fn errors(&self) -> impl Iterator<Item = &Diag> {
        self.0.iter().filter(|d| d.is_error())
    }
    pub fn extend(&mut self, other: Diags) {
        self.0.extend(other.0);
    }
}

/// A value with the warnings produced while computing it.
#[derive(Debug, Clone)]
pub struct Warned<T> {
    pub value: T,
    pub warnings: Vec<Diag>,
}

/// A diagnostic bound to its source text, ready for miette.
#[derive(Debug)]
pub struct Rendered {
    diag: Diag,
    source: Option<NamedSource<String>>,
    offset: usize,
}

impl Rendered {
    pub fn new(diag: &Diag, sources: &SourceMap) -> Self {
        // miette labels must be in one source: keep related labels of the primary file only,
        // and mention the others in the help text.
        let mut diag = diag.clone();
        let source = diag.span.map(|s| {
            let f = sources.get(s.source);
            NamedSource::new(f.name.clone(), f.text.as_str().to_string())
        });
        if let Some(primary) = diag.span {
            let (keep, other): (Vec<_>, Vec<_>) = diag
                .related
                .drain(..)
                .partition(|(s, _)| s.source == primary.source);
            diag.related = keep;
            for (s, l) in other {
                let (line, col) = sources.line_col(s.source, s.start);
                let note = format!("{l}: {}:{line}:{col}", sources.get(s.source).name);
                diag.help = Some(match diag.help.take() {
                    Some(h) => format!("{h}\n{note}"),
                    None => note,
                });
            }
        }
        Rendered {
            diag,
            source,
            offset: 0,
        }
    }
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.diag.message)
    }
}

impl std::error::Error for Rendered {}

fn sspan(s: Span, offset: usize) -> SourceSpan {
    SourceSpan::new((s.start + offset).into(), s.len())
}

impl miette::Diagnostic for Rendered {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diag.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = self.diag.span?;
        let mut v = vec![LabeledSpan::new_primary_with_span(
            Some(self.diag.label.clone()),
            sspan(primary, self.offset),
        )];
        for (s, l) in &self.diag.related {
            v.push(LabeledSpan::new_with_span(
                Some(l.clone()),
                sspan(*s, self.offset),
            ));
        }
        Some(Box::new(v.into_iter()))
    }
}

/// Renders diagnostics for a terminal or a test snapshot (`color: false`, fixed width).
pub fn render_text(diags: &[Diag], sources: &SourceMap, color: bool, width: usize) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(width);
    let mut out = String::new();
    for d in diags {
        let r = Rendered::new(d, sources);
        if handler.render_report(&mut out, &r).is_err() {
            out.push_str(&format!("error[{}]: {}\n", d.code, d.message));
        }
    }
    out
}

/// JSON for tools: one object per diagnostic with code, severity, message, file, line, column,
/// byte range, label, help.
pub fn render_json(diags: &[Diag], sources: &SourceMap) -> serde_json::Value {
    serde_json::Value::Array(
        diags
            .iter()
            .map(|d| {
                let loc = d.location(sources);
                serde_json::json!({
                    "code": d.code,
                    "severity": d.severity,
                    "message": d.message,
                    "file": loc.as_ref().map(|l| l.0.clone()),
                    "line": loc.as_ref().map(|l| l.1),
                    "column": loc.as_ref().map(|l| l.2),
                    "start": d.span.map(|s| s.start),
                    "end": d.span.map(|s| s.end),
                    "label": d.label,
                    "help": d.help,
                })
            })
            .collect(),
    )
}

/// Suggests the closest candidate for a misspelled name (Jaro-Winkler / Levenshtein, with a
/// threshold of about a third of the name's length), as rustc and just do.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(&str, usize)> = None;
    for c in candidates {
        let d = strsim::osa_distance(&name.to_lowercase(), &c.to_lowercase());
        let prefix = c.starts_with(name) || name.starts_with(c);
        let d = if prefix && d > limit { limit } else { d };
        if d <= limit && best.is_none_or(|(_, bd)| d < bd) {
            best = Some((c, d));
        }
    }
    best.map(|(c, _)| c)
}

/// "did you mean `x`?" or "expected one of: `a`, `b`, `c`".
pub fn suggest(name: &str, candidates: &[&str]) -> String {
    match did_you_mean(name, candidates.iter().copied()) {
        Some(c) => format!("did you mean `{c}`?"),
        None => one_of(candidates),
    }
}

pub fn one_of(candidates: &[&str]) -> String {
    let list: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
    format!("expected one of: {}", list.join(", "))
}

/// Every diagnostic code lrx emits. `docs/diagnostics.md` has one section per code; a test
/// checks both lists agree.
pub mod codes {
    pub const PARSE_SYNTAX: &str = "lrx::parse::syntax";
    pub const PARSE_UNCLOSED: &str = "lrx::parse::unclosed";
    pub const PARSE_BAD_NUMBER: &str = "lrx::parse::bad_number";
    pub const PARSE_BAD_STRING: &str = "lrx::parse::bad_string";
    pub const IO_READ: &str = "lrx::io::read";
    pub const IMPORT_NOT_FOUND: &str = "lrx::check::import_not_found";
    pub const IMPORT_CYCLE: &str = "lrx::check::import_cycle";
    pub const UNKNOWN_KIND: &str = "lrx::check::unknown_kind";
    pub const UNKNOWN_NAME: &str = "lrx::check::unknown_name";
    pub const UNKNOWN_BUILTIN: &str = "lrx::check::unknown_builtin";
    pub const UNKNOWN_PARAM: &str = "lrx::check::unknown_param";
    pub const UNKNOWN_KEY: &str = "lrx::check::unknown_key";
    pub const UNKNOWN_UNIT: &str = "lrx::check::unknown_unit";
    pub const MISSING_PARAM: &str = "lrx::check::missing_param";
    pub const MISSING_KEY: &str = "lrx::check::missing_key";
    pub const MISSING_BLOCK: &str = "lrx::check::missing_block";
    pub const DUPLICATE: &str = "lrx::check::duplicate";
    pub const TYPE_MISMATCH: &str = "lrx::check::type_mismatch";
    pub const OUT_OF_RANGE: &str = "lrx::check::out_of_range";
    pub const BAD_UNIT: &str = "lrx::check::bad_unit";
    pub const EMPTY_SWEEP: &str = "lrx::check::empty_sweep";
    pub const AXIS_NOT_ALLOWED: &str = "lrx::check::axis_not_allowed";
    pub const TABLE_MISSING_KEY: &str = "lrx::check::table_missing_key";
    pub const ZIP_LENGTH: &str = "lrx::check::zip_length";
    pub const HOLDOUT_NOT_VARIED: &str = "lrx::check::holdout_not_varied";
    pub const GRID_CANNOT_FIT: &str = "lrx::check::grid_cannot_fit";
    pub const OVER_BUDGET: &str = "lrx::check::over_budget";
    pub const BAD_ARGUMENT: &str = "lrx::check::bad_argument";
    pub const EVAL: &str = "lrx::check::eval";
    pub const DEVICE: &str = "lrx::check::device";
    pub const INT_OVERFLOW: &str = "lrx::check::int_overflow";
    pub const NOT_FINITE: &str = "lrx::check::not_finite";
    pub const INEXACT_NUMBER: &str = "lrx::check::inexact_number";
    pub const USED_BEFORE_DECLARED: &str = "lrx::check::used_before_declared";
    /// A warning: a task's data is not where its call says.
    pub const DATA_MISSING: &str = "lrx::check::data_missing";
    pub const BUG: &str = "lrx::bug";

    /// All codes, for the docs test.
    pub const ALL: &[&str] = &[
        PARSE_SYNTAX,
        PARSE_UNCLOSED,
        PARSE_BAD_NUMBER,
        PARSE_BAD_STRING,
        IO_READ,
        IMPORT_NOT_FOUND,
        IMPORT_CYCLE,
        UNKNOWN_KIND,
        UNKNOWN_NAME,
        UNKNOWN_BUILTIN,
        UNKNOWN_PARAM,
        UNKNOWN_KEY,
        UNKNOWN_UNIT,
        MISSING_PARAM,
        MISSING_KEY,
        MISSING_BLOCK,
        DUPLICATE,
        TYPE_MISMATCH,
        OUT_OF_RANGE,
        BAD_UNIT,
        EMPTY_SWEEP,
        AXIS_NOT_ALLOWED,
        TABLE_MISSING_KEY,
        ZIP_LENGTH,
        HOLDOUT_NOT_VARIED,
        GRID_CANNOT_FIT,
        OVER_BUDGET,
        BAD_ARGUMENT,
        EVAL,
        DEVICE,
        INT_OVERFLOW,
        NOT_FINITE,
        INEXACT_NUMBER,
        USED_BEFORE_DECLARED,
        DATA_MISSING,
        BUG,
    ];
}
