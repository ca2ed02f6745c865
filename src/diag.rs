//! Diagnostics: every error a user can cause in the front end (parse, check, plan) is a [`Diag`]
//! with a stable code from [`codes`], a primary labelled span, optional secondary labels
//! ("first defined here") and a help line. Stages collect all diagnostics and return them
//! together; rendering goes through miette (graphical for people, JSON for tools).
//!
//! One struct rather than one enum per stage: the checker produces diagnostics from many places
//! with data-dependent messages (did-you-mean, lists of valid values), and the codes, which are
//! the stable contract, are checked against `docs/diagnostics.md` by a test.

use crate::source::{SourceMap, Span};
use miette::{LabeledSpan, SourceSpan};
use serde::Serialize;
use std::fmt;

pub mod runtime;
pub use runtime::Coded;

/// Error or warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The spec cannot run as written: the command stops with exit code 1.
    Error,
    /// The spec runs but is most likely not what was meant; `--deny warnings` makes it fail.
    Warning,
}

/// A diagnostic tied to source spans.
#[derive(Debug, Clone, Serialize)]
pub struct Diag {
    /// Error or warning.
    pub severity: Severity,
    /// The stable code, one of [`codes`] (`lrx::check::unknown_name`).
    pub code: &'static str,
    /// The one-line message (the heading of the rendered report).
    pub message: String,
    /// Primary label: where the problem is.
    pub span: Option<Span>,
    /// The text of the primary label (empty when there is none).
    pub label: String,
    /// Secondary labels, e.g. "first defined here".
    pub related: Vec<(Span, String)>,
    /// A hint for the fix, printed after the labels (may have several lines).
    pub help: Option<String>,
}

impl Diag {
    /// An error with `code` and `message` and no span yet (add one with [`Diag::at`]).
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
    /// A warning with `code` and `message` and no span yet.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diag {
            severity: Severity::Warning,
            ..Diag::error(code, message)
        }
    }
    /// Sets the primary span and its label.
    pub fn at(mut self, span: Span, label: impl Into<String>) -> Self {
        self.span = Some(span);
        self.label = label.into();
        self
    }
    /// Adds a secondary label (`first defined here`).
    pub fn related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }
    /// Sets the help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    /// Sets the help line when `help` is `Some`; keeps the current one otherwise.
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }
    /// Whether this is an error (not a warning).
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
    /// Adds one diagnostic.
    pub fn push(&mut self, d: Diag) {
        self.0.push(d);
    }
    /// Whether any of them is an error (warnings alone do not fail a stage).
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diag::is_error)
    }
    /// The errors, in order, without the warnings.
    pub fn errors(&self) -> impl Iterator<Item = &Diag> {
        self.0.iter().filter(|d| d.is_error())
    }
    /// Appends the diagnostics of another stage.
    pub fn extend(&mut self, other: Diags) {
        self.0.extend(other.0);
    }
}

/// A value with the warnings produced while computing it.
#[derive(Debug, Clone)]
pub struct Warned<T> {
    /// The result.
    pub value: T,
    /// The warnings, in the order they were found.
    pub warnings: Vec<Diag>,
}

/// A diagnostic bound to an excerpt of its source text, ready for miette.
#[derive(Debug)]
struct Rendered {
    diag: Diag,
    source: Option<Excerpt>,
}

impl Rendered {
    /// Binds `diag` to an excerpt of its primary file. Related labels in other files cannot be
    /// shown by miette, so they move to the help text as `label: file:line:col`.
    pub(crate) fn new(diag: &Diag, sources: &SourceMap) -> Self {
        // miette labels must be in one source: keep related labels of the primary file only,
        // and mention the others in the help text.
        let mut diag = diag.clone();
        let mut source = None;
        if let Some(primary) = diag.span
            && let Some(f) = sources.try_get(primary.source)
        {
            let (keep, other): (Vec<_>, Vec<_>) = diag
                .related
                .drain(..)
                .partition(|(s, _)| s.source == primary.source);
            diag.related = keep;
            for (s, l) in other {
                let note = match sources.try_get(s.source) {
                    Some(o) => {
                        let (line, col) = o.line_col(s.start);
                        format!("{l}: {}:{line}:{col}", o.name)
                    }
                    None => l,
                };
                diag.help = Some(match diag.help.take() {
                    Some(h) => format!("{h}\n{note}"),
                    None => note,
                });
            }
            let mut spans = vec![primary];
            spans.extend(diag.related.iter().map(|(s, _)| *s));
            let (excerpt, mapped) = Excerpt::new(f, &spans);
            let id = primary.source;
            diag.span = Some(Span::new(id, mapped[0].0, mapped[0].1));
            for ((s, _), m) in diag.related.iter_mut().zip(&mapped[1..]) {
                *s = Span::new(id, m.0, m.1);
            }
            source = Some(excerpt);
        }
        Rendered { diag, source }
    }
}

/// The lines of a file that a diagnostic shows, cut to a window around the labels when they
/// are long, with their real line and column numbers. miette only ever sees this excerpt, so
/// what it renders (and its cost) does not depend on the size of the file or the length of
/// its lines.
#[derive(Debug)]
struct Excerpt {
    name: String,
    text: String,
    lines: Vec<ExLine>,
}

#[derive(Debug, Clone, Copy)]
struct ExLine {
    /// Where the line starts in the excerpt, and its length there (without the newline).
    at: usize,
    len: usize,
    /// 0-based line number in the file.
    line: usize,
    /// 0-based column (characters) in the file of the first character shown.
    col: usize,
    /// Bytes of the `…` shown before the first character (0 or 3).
    prefix: usize,
    /// The window of the file shown (bytes).
    from: usize,
    to: usize,
}

/// Longest part of a line shown (bytes); longer lines are cut around their labels.
const MAX_SHOWN: usize = 160;
/// Characters of context shown before a label on a cut line.
const CUT_CONTEXT: usize = 40;
/// A label over more lines than this is shown on its first line only.
const MAX_LABEL_LINES: usize = 12;
const ELLIPSIS: &str = "…";

/// How a character of the file is shown: control characters as their visible pictures
/// (`␀`, `␍`), so that they neither vanish nor move the terminal's cursor.
fn shown_char(c: char) -> char {
    match c {
        '\t' => c,
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
        '\u{7f}' => '\u{2421}',
        c if c.is_control() => '\u{fffd}',
        c => c,
    }
}

/// `o` clamped to `text` and moved back to a character boundary.
fn floor_boundary(text: &str, o: usize) -> usize {
    let mut o = o.min(text.len());
    while !text.is_char_boundary(o) {
        o -= 1;
    }
    o
}

/// The end of line `l` (before `\r\n` or `\n`), given the line starts.
fn line_end(text: &str, starts: &[usize], l: usize) -> usize {
    let e = starts.get(l + 1).map_or(text.len(), |s| s - 1);
    if e > starts[l] && text.as_bytes()[e - 1] == b'\r' {
        e - 1
    } else {
        e
    }
}

/// The lines an excerpt of `f` shows: those of each span and one on either side. (The empty
/// "line" after a final newline is not context.)
fn shown_lines(
    f: &crate::source::SourceFile,
    spans: &[(usize, usize)],
) -> std::collections::BTreeSet<usize> {
    let starts = f.line_starts();
    let mut last = starts.len() - 1;
    if last > 0 && starts[last] == f.text.len() {
        last -= 1;
    }
    let mut lines = std::collections::BTreeSet::new();
    for &(a, b) in spans {
        let (la, _) = f.line_of(a);
        let (lb, _) = f.line_of(b);
        for l in la.saturating_sub(1)..=(lb + 1).min(last).max(lb) {
            lines.insert(l);
        }
    }
    lines
}

/// The labelled part of each shown line as (line, from, to, labelled): the whole line when it
/// has no label, else the bytes its labels cover (the caller widens a long line's window around
/// it). The primary label (`spans[0]`) comes first: a cut line always shows it; other labels on
/// the same line are shown when they fit in the window (else they point at its `…`).
fn windows(
    lines: &std::collections::BTreeSet<usize>,
    spans: &[(usize, usize)],
    starts: &[usize],
    end_of: &dyn Fn(usize) -> usize,
) -> Vec<(usize, usize, usize, bool)> {
    let mut windows = Vec::new();
    for &l in lines {
        let (ls, le) = (starts[l], end_of(l));
        let on_line = |&&(a, b): &&(usize, usize)| a <= le && b >= ls;
        let (mut lo, mut hi) = (usize::MAX, 0);
        let primary = spans.first().filter(|s| on_line(s));
        for &(a, b) in primary.into_iter().chain(spans.iter().filter(on_line)) {
            let (a, b) = (a.max(ls), b.min(le));
            let (nlo, nhi) = (lo.min(a), hi.max(b));
            if primary.is_none() || lo == usize::MAX || nhi - nlo <= MAX_SHOWN - 2 * CUT_CONTEXT {
                (lo, hi) = (nlo, nhi);
            }
        }
        windows.push(if lo == usize::MAX {
            (l, ls, le, false)
        } else {
            (l, lo, hi, true)
        });
    }
    windows
}

impl Excerpt {
    /// The excerpt showing `spans` (all in `f`), and the spans moved into it.
    fn new(f: &crate::source::SourceFile, spans: &[Span]) -> (Excerpt, Vec<(usize, usize)>) {
        let text = f.text.as_str();
        let starts = f.line_starts();
        let floor = |o: usize| floor_boundary(text, o);
        let end_of = |l: usize| line_end(text, starts, l);
        // Clamp the spans to the file and shorten very long multi-line ones.
        let spans: Vec<(usize, usize)> = spans
            .iter()
            .map(|s| {
                let a = floor(s.start);
                let b = floor(s.end.max(s.start));
                let (la, _) = f.line_of(a);
                let (lb, _) = f.line_of(b);
                if lb > la + MAX_LABEL_LINES {
                    (a, end_of(la).max(a))
                } else {
                    (a, b)
                }
            })
            .collect();
        let lines = shown_lines(f, &spans);
        let windows = windows(&lines, &spans, starts, &end_of);
        let labelled: Vec<(usize, usize, usize)> = windows
            .iter()
            .filter(|w| w.3)
            .map(|w| (w.0, w.1 - starts[w.0], w.2 - starts[w.0]))
            .collect();
        let mut out = Excerpt {
            name: f.name.clone(),
            text: String::new(),
            lines: Vec::new(),
        };
        for &(l, lo, hi, has_label) in &windows {
            let (ls, le) = (starts[l], end_of(l));
            let (from, to) = if le - ls <= MAX_SHOWN {
                (ls, le)
            } else {
                let (lo, hi) = if has_label {
                    (lo, hi)
                } else {
                    let near = labelled
                        .iter()
                        .min_by_key(|w| w.0.abs_diff(l))
                        .map_or((0, 0), |w| (w.1, w.2));
                    (ls + near.0, ls + near.1)
                };
                let from = lo.saturating_sub(CUT_CONTEXT).max(ls);
                let to = (hi + CUT_CONTEXT)
                    .max(from + MAX_SHOWN / 2)
                    .min(from + MAX_SHOWN);
                (from, to.min(le))
            };
            out.push_line(f, l, from, to);
        }
        let mapped = spans
            .iter()
            .map(|&(a, b)| {
                let a2 = out.map(f, a);
                (a2, out.map(f, b).max(a2))
            })
            .collect();
        (out, mapped)
    }

    /// Appends line `l` of `f`, bytes `from..to` of it (moved to character boundaries), with
    /// `…` where the line is cut.
    fn push_line(&mut self, f: &crate::source::SourceFile, l: usize, from: usize, to: usize) {
        let text = f.text.as_str();
        let starts = f.line_starts();
        let (ls, le) = (starts[l], line_end(text, starts, l));
        // A byte-order mark is not shown (nor counted as a column).
        let first = if l == 0 && text.starts_with(crate::source::BOM) {
            crate::source::BOM.len_utf8().min(le)
        } else {
            ls
        };
        let from = floor_boundary(text, from.max(first));
        let mut to = to.max(from);
        while !text.is_char_boundary(to) {
            to += 1;
        }
        let at = self.text.len();
        let prefix = if from > first {
            self.text.push_str(ELLIPSIS);
            ELLIPSIS.len()
        } else {
            0
        };
        self.text.extend(text[from..to].chars().map(shown_char));
        if to < le {
            self.text.push_str(ELLIPSIS);
        }
        let col = f.line_col(from).1 - 1;
        self.lines.push(ExLine {
            at,
            len: self.text.len() - at,
            line: l,
            col,
            prefix,
            from,
            to,
        });
        self.text.push('\n');
    }

    /// The excerpt offset showing file offset `o` (on a line of the excerpt).
    fn map(&self, f: &crate::source::SourceFile, o: usize) -> usize {
        let (l, _) = f.line_of(o);
        let Some(x) = self.lines.iter().find(|x| x.line == l) else {
            return 0;
        };
        if o <= x.from {
            x.at + if o == x.from { x.prefix } else { 0 }
        } else if o >= x.to {
            x.at + if o == x.to {
                x.len - self.suffix(x)
            } else {
                x.len
            }
        } else {
            let shown: usize = f.text[x.from..o]
                .chars()
                .map(|c| shown_char(c).len_utf8())
                .sum();
            x.at + x.prefix + shown
        }
    }

    fn suffix(&self, x: &ExLine) -> usize {
        if self.text[x.at..x.at + x.len].ends_with(ELLIPSIS) && x.len >= x.prefix + ELLIPSIS.len() {
            ELLIPSIS.len()
        } else {
            0
        }
    }

    /// Index of the excerpt line holding excerpt offset `o`.
    fn line_at(&self, o: usize) -> usize {
        self.lines.partition_point(|x| x.at <= o).saturating_sub(1)
    }

    /// The file column of excerpt offset `o` on excerpt line `i`.
    fn column(&self, i: usize, o: usize) -> usize {
        let x = &self.lines[i];
        let start = (x.at + x.prefix).min(o);
        x.col
            + self.text[start..o.min(x.at + x.len).max(start)]
                .chars()
                .count()
    }
}

impl miette::SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        if self.lines.is_empty() || span.offset() > self.text.len() {
            return Err(miette::MietteError::OutOfBounds);
        }
        let start = span.offset();
        let end = (start + span.len()).min(self.text.len());
        let first = self.line_at(start);
        let last = self.line_at(if end > start { end - 1 } else { start });
        if before == 0 {
            // The span itself (miette asks this for the `file:line:col` header).
            let x = &self.lines[first];
            return Ok(Box::new(miette::MietteSpanContents::new_named(
                self.name.clone(),
                &self.text.as_bytes()[start..end],
                *span,
                x.line,
                self.column(first, start),
                last - first + 1,
            )));
        }
        // Context lines, as long as they are consecutive lines of the file.
        let (mut i, mut j) = (first, last);
        for _ in 0..before {
            if i > 0 && self.lines[i - 1].line + 1 == self.lines[i].line {
                i -= 1;
            }
        }
        for _ in 0..after {
            if j + 1 < self.lines.len() && self.lines[j].line + 1 == self.lines[j + 1].line {
                j += 1;
            }
        }
        let from = self.lines[i].at;
        let to = (self.lines[j].at + self.lines[j].len + 1).min(self.text.len());
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            &self.text.as_bytes()[from..to],
            SourceSpan::new(from.into(), to - from),
            self.lines[i].line,
            0,
            j - i + 1,
        )))
    }
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.diag.message)
    }
}

impl std::error::Error for Rendered {}

fn sspan(s: Span) -> SourceSpan {
    SourceSpan::new(s.start.into(), s.len())
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
        self.source.as_ref()?;
        let mut v = vec![LabeledSpan::new_primary_with_span(
            Some(self.diag.label.clone()),
            sspan(primary),
        )];
        for (s, l) in &self.diag.related {
            v.push(LabeledSpan::new_with_span(Some(l.clone()), sspan(*s)));
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

/// Formats `candidates` as "expected one of: `a`, `b`, `c`".
pub fn one_of(candidates: &[&str]) -> String {
    let list: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
    format!("expected one of: {}", list.join(", "))
}

/// Every diagnostic code lrx emits. `docs/diagnostics.md` has one section per code; a test
/// checks both lists agree.
pub mod codes {
    /// The text does not follow the grammar: a token is missing or out of place.
    pub const PARSE_SYNTAX: &str = "lrx::parse::syntax";
    /// A `{`, `[` or `(` is never closed.
    pub const PARSE_UNCLOSED: &str = "lrx::parse::unclosed";
    /// A number does not fit a 64-bit float.
    pub const PARSE_BAD_NUMBER: &str = "lrx::parse::bad_number";
    /// A string is not terminated on its line, or holds an unknown escape.
    pub const PARSE_BAD_STRING: &str = "lrx::parse::bad_string";
    /// Brackets nest more than `MAX_NESTING` levels, or an expression more than `MAX_EXPR_DEPTH`.
    pub const PARSE_TOO_DEEP: &str = "lrx::parse::too_deep";
    /// The file is not UTF-8 text.
    pub const PARSE_ENCODING: &str = "lrx::parse::encoding";
    /// A spec file cannot be read.
    pub const IO_READ: &str = "lrx::io::read";
    /// An `import` names a stdlib module that does not exist or a file that cannot be read.
    pub const IMPORT_NOT_FOUND: &str = "lrx::check::import_not_found";
    /// Files import each other in a cycle.
    pub const IMPORT_CYCLE: &str = "lrx::check::import_cycle";
    /// A block or definition kind is not known, or an imported file contains a block.
    pub const UNKNOWN_KIND: &str = "lrx::check::unknown_kind";
    /// A name is not defined, imported, a run factor, a measure or a valid value.
    pub const UNKNOWN_NAME: &str = "lrx::check::unknown_name";
    /// A call or bare name does not name a builtin of the expected kind.
    pub const UNKNOWN_BUILTIN: &str = "lrx::check::unknown_builtin";
    /// A builtin has no parameter of that name.
    pub const UNKNOWN_PARAM: &str = "lrx::check::unknown_param";
    /// A block has no key of that name (or no nested block of that kind).
    pub const UNKNOWN_KEY: &str = "lrx::check::unknown_key";
    /// A number carries a unit lrx does not know.
    pub const UNKNOWN_UNIT: &str = "lrx::check::unknown_unit";
    /// A required parameter of a builtin is not given.
    pub const MISSING_PARAM: &str = "lrx::check::missing_param";
    /// A required key of a block is missing, or a block lacks its name.
    pub const MISSING_KEY: &str = "lrx::check::missing_key";
    /// A required block is missing, or a setting needs a block that is absent.
    pub const MISSING_BLOCK: &str = "lrx::check::missing_block";
    /// A name, import, key, parameter or table key is given twice.
    pub const DUPLICATE: &str = "lrx::check::duplicate";
    /// A value has the wrong type (a string where a number is expected, ...).
    pub const TYPE_MISMATCH: &str = "lrx::check::type_mismatch";
    /// A value is outside its parameter's range, or an architecture or rule option does not fit.
    pub const OUT_OF_RANGE: &str = "lrx::check::out_of_range";
    /// A unit is not allowed for this value (`lr = 5%`).
    pub const BAD_UNIT: &str = "lrx::check::bad_unit";
    /// A sweep axis has no values, or `where` removes every point.
    pub const EMPTY_SWEEP: &str = "lrx::check::empty_sweep";
    /// `key in [...]` is used for something that takes one value.
    pub const AXIS_NOT_ALLOWED: &str = "lrx::check::axis_not_allowed";
    /// A table has no entry for the key it is indexed with, and no `_` fallback.
    pub const TABLE_MISSING_KEY: &str = "lrx::check::table_missing_key";
    /// `zip` got lists of different lengths.
    pub const ZIP_LENGTH: &str = "lrx::check::zip_length";
    /// A holdout names a factor that has a single value in the sweep.
    pub const HOLDOUT_NOT_VARIED: &str = "lrx::check::holdout_not_varied";
    /// A classifier grid cannot fit the features (PCA, trajectory samples, portions).
    pub const GRID_CANNOT_FIT: &str = "lrx::check::grid_cannot_fit";
    /// A sweep's estimated cost exceeds its `budget`.
    pub const OVER_BUDGET: &str = "lrx::check::over_budget";
    /// A call has too many positional arguments, sets a parameter that comes from the task, or a
    /// helper gets wrong arguments.
    pub const BAD_ARGUMENT: &str = "lrx::check::bad_argument";
    /// An expression cannot be evaluated (a definition refers to itself, a division by zero).
    pub const EVAL: &str = "lrx::check::eval";
    /// The study names an unknown device.
    pub const DEVICE: &str = "lrx::check::device";
    /// An integer lies outside the range lrx holds exactly, [−2⁶³, 2⁶⁴ − 1].
    pub const INT_OVERFLOW: &str = "lrx::check::int_overflow";
    /// Float arithmetic gave an infinite value or NaN.
    pub const NOT_FINITE: &str = "lrx::check::not_finite";
    /// A number would not be the one written (a float literal that becomes 0, a float above 2⁵³
    /// used as an integer).
    pub const INEXACT_NUMBER: &str = "lrx::check::inexact_number";
    /// A `train` key is used above the line that declares it.
    pub const USED_BEFORE_DECLARED: &str = "lrx::check::used_before_declared";
    /// A warning: a task's data is not where its call says.
    pub const DATA_MISSING: &str = "lrx::check::data_missing";
    /// The sweeps expand to more training runs than the study's `max_runs`.
    pub const TOO_MANY_RUNS: &str = "lrx::check::too_many_runs";
    /// `targets`, `measures` or `models` of `classify` is an empty list.
    pub const EMPTY_LIST: &str = "lrx::check::empty_list";
    /// A classification target takes a single value in every run, so there is only one class.
    pub const TARGET_NOT_VARIED: &str = "lrx::check::target_not_varied";
    /// The study's `output` cannot be created.
    pub const BAD_PATH: &str = "lrx::check::bad_path";
    /// A warning: a `where` compares a factor with a known name that no run of the sweep has.
    pub const FILTER_NEVER_MATCHES: &str = "lrx::check::filter_never_matches";
    /// A warning: a sweep axis lists the same value twice.
    pub const DUPLICATE_VALUE: &str = "lrx::check::duplicate_value";
    /// A warning: `stimuli = val(n)` asks for more validation stimuli than a task has.
    pub const STIMULI_EXCEED_VAL: &str = "lrx::check::stimuli_exceed_val";
    /// A warning: a holdout holds out a factor that is also a classification target.
    pub const HOLDOUT_ON_TARGET: &str = "lrx::check::holdout_on_target";
    /// A warning: `checkpoint = every(k epochs)` with `k` larger than `epochs`.
    pub const CHECKPOINT_PERIOD: &str = "lrx::check::checkpoint_period";
    /// A warning: a stdlib definition the spec uses changed since the stdlib version it pins.
    pub const STDLIB_CHANGED: &str = "lrx::check::stdlib_changed";
    /// A warning: IA's `b_step_cap` with W stepped by Adam and no `b_step_recheck`.
    pub const CAP_OUTRUN: &str = "lrx::check::cap_outrun";
    /// lrx hit an internal inconsistency (a bug to report).
    pub const BUG: &str = "lrx::bug";

    /// All codes, for the docs test.
    pub const ALL: &[&str] = &[
        PARSE_SYNTAX,
        PARSE_UNCLOSED,
        PARSE_BAD_NUMBER,
        PARSE_BAD_STRING,
        PARSE_TOO_DEEP,
        PARSE_ENCODING,
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
        TOO_MANY_RUNS,
        EMPTY_LIST,
        TARGET_NOT_VARIED,
        BAD_PATH,
        FILTER_NEVER_MATCHES,
        DUPLICATE_VALUE,
        STIMULI_EXCEED_VAL,
        HOLDOUT_ON_TARGET,
        CHECKPOINT_PERIOD,
        STDLIB_CHANGED,
        CAP_OUTRUN,
        BUG,
    ];
}
