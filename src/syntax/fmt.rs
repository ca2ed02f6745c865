//! FORMAT: the canonical layout of a `.lrx` file (`lrx fmt`).
//!
//! The formatter prints the syntax tree (`ast`) again, in one layout whatever
//! the input's; the rules are in docs/reference/files-and-imports.md, "Formatting (`lrx fmt`)":
//!
//! - items in source order, at most one blank line between them, one newline at the end;
//! - a block is `kind name {`, one entry per line indented by two spaces per level, `}` on its
//!   own line; an empty block is `kind {}`, and a block with one setting, axis or filter and no
//!   comment inside stays on one line when it fits (`observe x { stimuli = val(128) }`);
//! - the `=` of settings and the `in` of axes of a block are aligned: keys are padded to the
//!   widest key of their group, a group being the entries between two blank lines (filters and
//!   nested blocks are not padded and do not end a group); a run of top-level definitions on
//!   consecutive lines (no blank line, comment line or other item between them) is aligned the
//!   same way on its `=`;
//! - expressions are spaced canonically (`a + b`, `[a, b]`, `{ k: v }`, `f(a = 1, b in [2])`,
//!   `-x`, `12 epochs`, `25%`); numbers and strings are written exactly as in the source, and so
//!   are parentheses (a redundant pair is kept, none is added);
//! - a line longer than [`MAX_WIDTH`] columns is wrapped after the commas of its lists, tuples,
//!   tables, call arguments and indexes (greedily: as many items per line as fit), continuation
//!   lines aligned with the first item; a chain of `&&`, `||`, ... is wrapped before an operator,
//!   continuation lines aligned with its first operand. A list, table, tuple or call written with
//!   a trailing comma keeps one item per line (`let lr = {` / `  sgdm: 0.01,` / `}`).
//!
//! Comments are silent in the grammar, so they are not in the tree: the formatter finds them by
//! scanning the text (skipping strings) and places each one relative to the tokens around it.
//! A comment between two items or entries stays there, on its own line, or at the end of the
//! line of the item before it when it was on that line in the source (trailing comments of
//! consecutive lines of one indentation are aligned, two spaces after the longest of these
//! lines). A comment inside an expression (or between the key and the value of an entry) is
//! never moved: the smallest expression (or entry) around it is written as in the source,
//! re-indented only.
//!
//! Spans: the parser's spans of expressions, names and blocks cover their tokens exactly, but
//! the span of an import, definition or entry can run on over the whitespace and comments
//! after its last token (a pest rule that ends with an optional or repeated part), so their
//! ends are taken from their last part (`item_span`, `entry_span`).
//!
//! Formatting is checked before it is returned: the output must parse to the same tree as the
//! input (spans aside) and hold the same comments, or [`format_file`] returns a bug diagnostic
//! instead of text that could change the meaning of a spec.

use super::ast::*;
use super::parser;
use crate::diag::{Diag, codes};
use crate::source::{BOM, SourceId, SourceMap, Span};

mod expr;

/// Lines longer than this are wrapped (where the expression has commas or operators to wrap
/// at: a long string or name stays as it is).
pub const MAX_WIDTH: usize = 100;
/// Indentation of one level of blocks and of the items of a list with a trailing comma.
const INDENT: usize = 2;
/// Spaces between the longest line of a run of trailing comments and the comments.
const COMMENT_GAP: usize = 2;

/// Formats a whole file given as text. Errors are those of the parser (the text is not a
/// valid `.lrx` file) or a bug diagnostic; their spans point into a source map of their own,
/// so callers that render diagnostics should use [`format_file`].
pub fn format_source(text: &str) -> Result<String, Diag> {
    let mut sources = SourceMap::new();
    let id = sources.add("<input>", None, text.to_string());
    format_file(&sources, id)
}

/// Formats file `id` of `sources`: the canonical text of the file, which may be its own text.
/// A file that does not parse gives the parser's diagnostic (the same as `lrx check`'s). The
/// result is verified: it parses to the same syntax tree (spans aside) and holds the same
/// comments, or this returns a bug diagnostic instead.
pub fn format_file(sources: &SourceMap, id: SourceId) -> Result<String, Diag> {
    let before = parser::parse_source(sources, id)?;
    let original = sources.get(id).text.as_str();
    let text = normalize(original);
    // Spans must point into the text laid out: parse again if normalizing changed it.
    let out = if text == original {
        Formatter::new(&text).file(&before)
    } else {
        let file = parser::parse(id, &text).map_err(|_| {
            bug(
                id,
                "the file no longer parses once its line ends are normalized",
            )
        })?;
        Formatter::new(&text).file(&file)
    };
    let after = parser::parse(id, &out).map_err(|_| {
        bug(
            id,
            "the formatted text does not parse; the file is left unchanged",
        )
    })?;
    if syntax_json(&before) != syntax_json(&after) {
        return Err(bug(
            id,
            "formatting would change the meaning of the file; it is left unchanged",
        ));
    }
    if comment_texts(&text) != comment_texts(&out) {
        return Err(bug(
            id,
            "formatting would lose or change a comment; the file is left unchanged",
        ));
    }
    Ok(out)
}

/// The syntax tree as JSON without its spans: two files with equal values say the same thing
/// (same items, entries, expressions, number texts and strings), whatever their layout.
pub fn syntax_json(file: &File) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("span");
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(file).unwrap_or_default();
    strip(&mut v);
    v
}

fn bug(id: SourceId, what: &str) -> Diag {
    Diag::error(codes::BUG, format!("this is a bug in lrx fmt: {what}"))
        .at(Span::new(id, 0, 0), "in this file")
        .help("please report it with the file that caused it")
}

/// The text the formatter works on: without a byte-order mark, with `\n` line ends (a `\r\n`
/// can only be whitespace or inside a comment: strings cannot span lines).
fn normalize(text: &str) -> String {
    text.strip_prefix(BOM).unwrap_or(text).replace("\r\n", "\n")
}

/// Every comment of `src`, in order, with trailing whitespace removed (sorted, for comparing
/// the comments of two texts as multisets).
fn comment_texts(src: &str) -> Vec<String> {
    let mut v: Vec<String> = scan_comments(src)
        .iter()
        .map(|c| src[c.start..c.end].trim_end().to_string())
        .collect();
    v.sort();
    v
}

/// A comment: `src[start..end]`, `// ...` (without its newline) or `/* ... */`.
#[derive(Debug, Clone, Copy)]
struct Comment {
    start: usize,
    end: usize,
    block: bool,
}

/// Finds the comments of a text that parses, as the grammar reads them: `//` and `/*` start a
/// comment anywhere but inside a string.
fn scan_comments(src: &str) -> Vec<Comment> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let start = i;
                i = src[i..].find('\n').map_or(b.len(), |j| i + j);
                out.push(Comment {
                    start,
                    end: i,
                    block: false,
                });
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let start = i;
                i = src[i + 2..].find("*/").map_or(b.len(), |j| i + 2 + j + 2);
                out.push(Comment {
                    start,
                    end: i,
                    block: true,
                });
            }
            _ => i += 1,
        }
    }
    out
}

/// Display width of a piece of text (characters; lrx text is mostly ASCII).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// The column after `s` when it is written starting at column `col`: continuation lines of
/// rendered text carry their own (absolute) indentation.
fn end_col(col: usize, s: &str) -> usize {
    match s.rfind('\n') {
        Some(i) => width(&s[i + 1..]),
        None => col + width(s),
    }
}

fn spaces(n: usize) -> String {
    " ".repeat(n)
}

/// One output line: its code (with indentation) and the comment at its end, if any.
#[derive(Debug, Default)]
struct Line {
    code: String,
    trailing: Option<String>,
}

/// The lines being written.
#[derive(Debug, Default)]
struct Lines(Vec<Line>);

impl Lines {
    /// Adds code, which may span lines (continuation lines carry their indentation).
    fn code(&mut self, code: &str) {
        for l in code.split('\n') {
            self.0.push(Line {
                code: l.to_string(),
                trailing: None,
            });
        }
    }
    fn blank(&mut self) {
        self.0.push(Line::default());
    }
    /// Appends a comment to the end of the last line.
    fn trail(&mut self, comment: String) {
        match self.0.last_mut() {
            Some(l) => {
                l.trailing = Some(match l.trailing.take() {
                    Some(t) => format!("{t} {comment}"),
                    None => comment,
                })
            }
            None => self.code(&comment),
        }
    }
    /// The text: blank lines collapsed (none first or last), trailing comments of consecutive
    /// lines of one indentation aligned, one newline at the end (none for an empty file).
    fn finish(self) -> String {
        let mut v: Vec<Line> = Vec::new();
        for l in self.0 {
            let blank = l.code.is_empty() && l.trailing.is_none();
            let after_blank = v
                .last()
                .is_none_or(|p| p.code.is_empty() && p.trailing.is_none());
            if !(blank && after_blank) {
                v.push(l);
            }
        }
        while v
            .last()
            .is_some_and(|l| l.code.is_empty() && l.trailing.is_none())
        {
            v.pop();
        }
        let mut out = String::new();
        let mut i = 0;
        while i < v.len() {
            // A run: consecutive lines with trailing comments and the same indentation.
            let indent = |l: &Line| l.code.len() - l.code.trim_start_matches(' ').len();
            let mut j = i;
            while j < v.len() && v[j].trailing.is_some() && indent(&v[j]) == indent(&v[i]) {
                j += 1;
            }
            if j == i {
                out.push_str(&v[i].code);
                out.push('\n');
                i += 1;
                continue;
            }
            let col = v[i..j].iter().map(|l| width(&l.code)).max().unwrap_or(0) + COMMENT_GAP;
            for l in &v[i..j] {
                let comment = l.trailing.as_deref().unwrap_or_default();
                out.push_str(&format!("{:<col$}{comment}\n", l.code));
            }
            i = j;
        }
        out
    }
}

/// An element of a bracketed sequence: a list or tuple item, a call argument, a table entry or
/// an index key.
#[derive(Clone, Copy)]
enum Piece<'a> {
    Value(&'a Expr),
    /// `name = value` or `name in values` (the `&str` is ` = ` or ` in `).
    Arg(&'a str, &'static str, &'a Expr),
    /// `key: value`.
    Entry(&'a Expr, &'a Expr),
}

/// Binding strength of a binary operator (the parser's precedence levels).
fn precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 0,
        BinOp::And => 1,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::In => 2,
        BinOp::Add | BinOp::Sub => 3,
        BinOp::Mul | BinOp::Div => 4,
    }
}

/// The keys of a setting or axis: `lr` or `(batch, lr)`.
fn targets_text(targets: &[crate::source::Spanned<String>]) -> String {
    match targets {
        [one] => one.node.clone(),
        many => {
            let names: Vec<&str> = many.iter().map(|t| t.node.as_str()).collect();
            format!("({})", names.join(", "))
        }
    }
}

/// Pads each element of a sequence to the widest in its group: `member(i)` is the width of
/// element `i` when it is aligned, `breaks(i)` says whether a new group starts at `i`.
fn group_pads(
    n: usize,
    member: impl Fn(usize) -> Option<usize>,
    breaks: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut pads = vec![0; n];
    let mut start = 0;
    for i in 0..=n {
        if i == n || (i > 0 && breaks(i)) {
            let w = (start..i).filter_map(&member).max().unwrap_or(0);
            pads[start..i].iter_mut().for_each(|p| *p = w);
            start = i;
        }
    }
    pads
}

/// Lays out one (normalized) source text; see the module documentation.
struct Formatter<'s> {
    src: &'s str,
    comments: Vec<Comment>,
}

impl<'s> Formatter<'s> {
    fn new(src: &'s str) -> Self {
        Formatter {
            src,
            comments: scan_comments(src),
        }
    }

    /// The comments that start in `start..end`.
    fn comments_in(&self, start: usize, end: usize) -> &[Comment] {
        let lo = self.comments.partition_point(|c| c.start < start);
        let hi = self.comments.partition_point(|c| c.start < end);
        &self.comments[lo..hi.max(lo)]
    }

    fn has_comment(&self, start: usize, end: usize) -> bool {
        !self.comments_in(start, end).is_empty()
    }

    /// Whether `pos` lies strictly inside a `/* */` comment.
    fn in_block_comment(&self, pos: usize) -> bool {
        let i = self.comments.partition_point(|c| c.start < pos);
        i > 0 && {
            let c = self.comments[i - 1];
            c.block && pos < c.end
        }
    }

    /// A comment's text, without trailing whitespace.
    fn comment_text(&self, c: Comment) -> &'s str {
        self.src[c.start..c.end].trim_end()
    }

    /// The position of the first character at or after `pos` that is neither whitespace nor in
    /// a comment (the length of the text at its end).
    fn next_token(&self, mut pos: usize) -> usize {
        let b = self.src.as_bytes();
        while pos < b.len() {
            let i = self.comments.partition_point(|c| c.start < pos);
            if let Some(c) = self.comments.get(i).filter(|c| c.start == pos) {
                pos = c.end;
            } else if b[pos].is_ascii_whitespace() {
                pos += 1;
            } else {
                break;
            }
        }
        pos
    }

    /// Whether `src[start..end]` (whitespace, commas and comments between two tokens) holds a
    /// blank line outside its comments.
    fn has_blank_line(&self, start: usize, end: usize) -> bool {
        let mut pos = start;
        for c in self.comments_in(start, end) {
            if self.src[pos..c.start].matches('\n').count() >= 2 {
                return true;
            }
            pos = c.end;
        }
        self.src[pos..end.max(pos)].matches('\n').count() >= 2
    }

    /// Whether a comment of `src[start..end]` (between two tokens) starts a line, rather
    /// than trailing the token before it.
    fn has_comment_line(&self, start: usize, end: usize) -> bool {
        self.comments_in(start, end)
            .iter()
            .any(|c| self.src[start..c.start].contains('\n'))
    }

    /// `src[start..end]` as written, to be placed at column `col`: lines after the first are
    /// shifted by the difference between `col` and the text's column in the source (spaces
    /// are removed only where there are some) and lose their trailing whitespace, except where
    /// a line starts or ends inside a block comment, whose text is never changed.
    fn verbatim(&self, start: usize, end: usize, col: usize) -> String {
        let line_start = self.src[..start].rfind('\n').map_or(0, |i| i + 1);
        let old_col = width(&self.src[line_start..start]);
        let mut out = String::new();
        let mut pos = start;
        for (i, line) in self.src[start..end].split('\n').enumerate() {
            let (lstart, lend) = (pos, pos + line.len());
            pos = lend + 1;
            let mut l = line;
            if lend < end && !self.in_block_comment(lend) {
                l = l.trim_end();
            }
            if i == 0 {
                out.push_str(l);
                continue;
            }
            out.push('\n');
            if self.in_block_comment(lstart) {
                out.push_str(l);
            } else if l.trim().is_empty() {
                // A blank line inside the expression stays blank.
            } else if col >= old_col {
                out.push_str(&spaces(col - old_col));
                out.push_str(l);
            } else {
                let lead = l.len() - l.trim_start_matches(' ').len();
                out.push_str(&l[lead.min(old_col - col)..]);
            }
        }
        out
    }

    /// Lays out the comments between two tokens of one level (the items of the file, or the
    /// entries of a block), at indentation `indent`. `start..end` is the gap between the
    /// tokens; `after_token`: a token ends at `start` (comments on its line trail it);
    /// `first`: nothing of this level is written yet (blank lines before the first comment are
    /// dropped); `last`: the gap ends the level (`}` or the end of the file: a blank line after
    /// the last comment is dropped). A blank line of the source between two comments, or
    /// between a comment or token and the next token, is kept (one at most).
    fn gap(
        &self,
        out: &mut Lines,
        (start, end): (usize, usize),
        indent: usize,
        after_token: bool,
        first: bool,
        last: bool,
    ) {
        let cs = self.comments_in(start, end);
        let mut pos = start;
        let mut i = 0;
        let mut written = !first;
        if after_token {
            while i < cs.len() && !self.src[pos..cs[i].start].contains('\n') {
                out.trail(self.comment_text(cs[i]).to_string());
                pos = cs[i].end;
                i += 1;
            }
        }
        while i < cs.len() {
            if written && self.src[pos..cs[i].start].matches('\n').count() >= 2 {
                out.blank();
            }
            // Comments on one line of the source stay on one line.
            let mut line = format!("{}{}", spaces(indent), self.comment_text(cs[i]));
            pos = cs[i].end;
            i += 1;
            while i < cs.len() && !self.src[pos..cs[i].start].contains('\n') {
                line.push(' ');
                line.push_str(self.comment_text(cs[i]));
                pos = cs[i].end;
                i += 1;
            }
            out.code(&line);
            written = true;
        }
        if written && !last && self.src[pos..end].matches('\n').count() >= 2 {
            out.blank();
        }
    }

    fn file(&self, file: &File) -> String {
        let mut out = Lines::default();
        let items = &file.items;
        let spans: Vec<Span> = items.iter().map(item_span).collect();
        let pads = group_pads(
            items.len(),
            |i| match &items[i] {
                Item::Definition(d) if !self.has_comment(d.span.start, d.value.span.start) => {
                    Some(width(&d.kind.node) + 1 + width(&d.name.node))
                }
                _ => None,
            },
            |i| {
                !matches!(items[i], Item::Definition(_))
                    || !matches!(items[i - 1], Item::Definition(_))
                    || self.has_blank_line(spans[i - 1].end, spans[i].start)
                    || self.has_comment_line(spans[i - 1].end, spans[i].start)
            },
        );
        let mut prev: Option<usize> = None;
        for (i, item) in items.iter().enumerate() {
            let from = prev.unwrap_or(0);
            self.gap(
                &mut out,
                (from, spans[i].start),
                0,
                prev.is_some(),
                prev.is_none(),
                false,
            );
            match item {
                Item::Import(im) => self.import(&mut out, im),
                Item::Definition(d) => self.definition(&mut out, d, pads[i]),
                Item::Block(b) => self.block(&mut out, b, 0),
            }
            prev = Some(spans[i].end);
        }
        let from = prev.unwrap_or(0);
        self.gap(
            &mut out,
            (from, self.src.len()),
            0,
            prev.is_some(),
            prev.is_none(),
            true,
        );
        out.finish()
    }

    fn import(&self, out: &mut Lines, im: &Import) {
        let span = import_span(im);
        if self.has_comment(span.start, span.end) {
            out.code(&self.verbatim(span.start, span.end, 0));
            return;
        }
        let target = match &im.target.node {
            ImportTarget::Stdlib(name) => name.as_str(),
            // The string as written (escapes and all).
            ImportTarget::File(_) => &self.src[im.target.span.start..im.target.span.end],
        };
        let alias = im
            .alias
            .as_ref()
            .map(|a| format!(" as {}", a.node))
            .unwrap_or_default();
        out.code(&format!("import {target}{alias}"));
    }

    fn definition(&self, out: &mut Lines, d: &Definition, pad: usize) {
        if self.has_comment(d.span.start, d.value.span.start) {
            out.code(&self.verbatim(d.span.start, d.value.span.end, 0));
            return;
        }
        let key = format!("{} {}", d.kind.node, d.name.node);
        let prefix = format!("{key:<pad$} = ");
        let value = self.render(&d.value, width(&prefix), 0, 0);
        out.code(&format!("{prefix}{value}"));
    }

    /// The position of a block's `{`.
    fn open_brace(&self, b: &Block) -> usize {
        let after_head = b.head.as_ref().map_or(b.kind.span.end, |h| h.span.end);
        self.next_token(after_head)
    }

    fn block(&self, out: &mut Lines, b: &Block, indent: usize) {
        let open = self.open_brace(b);
        let close = b.span.end - 1;
        let pad = spaces(indent);
        let header = if self.has_comment(b.span.start, open) {
            self.verbatim(b.span.start, open + 1, indent)
        } else {
            match &b.head {
                Some(h) => format!("{} {} {{", b.kind.node, h.node.join(".")),
                None => format!("{} {{", b.kind.node),
            }
        };
        let body_comments = self.has_comment(open + 1, close);
        if b.entries.is_empty() && !body_comments {
            out.code(&format!("{pad}{header}}}"));
            return;
        }
        if let [entry] = b.entries.as_slice()
            && !body_comments
            && let Some(flat) = self.entry_flat(entry)
        {
            let line = format!("{pad}{header} {flat} }}");
            if !line.contains('\n') && width(&line) <= MAX_WIDTH {
                out.code(&line);
                return;
            }
        }
        out.code(&format!("{pad}{header}"));
        let entries = &b.entries;
        let spans: Vec<Span> = entries.iter().map(entry_span).collect();
        let pads = group_pads(
            entries.len(),
            |i| match &entries[i] {
                Entry::Setting { targets, value, .. }
                | Entry::Axis {
                    targets,
                    values: value,
                    ..
                } if !self.has_comment(spans[i].start, value.span.start) => {
                    Some(width(&targets_text(targets)))
                }
                _ => None,
            },
            |i| self.has_blank_line(spans[i - 1].end, spans[i].start),
        );
        let inner = indent + INDENT;
        let mut prev = open + 1;
        for (i, e) in entries.iter().enumerate() {
            self.gap(out, (prev, spans[i].start), inner, true, i == 0, false);
            self.entry(out, e, inner, pads[i]);
            prev = spans[i].end;
        }
        self.gap(out, (prev, close), inner, true, entries.is_empty(), true);
        out.code(&format!("{pad}}}"));
    }

    /// An entry on one line, for a block written on one line: `None` when the entry is a
    /// nested block, holds a comment or does not fit on a line.
    fn entry_flat(&self, e: &Entry) -> Option<String> {
        let span = entry_span(e);
        let (key, op, value) = entry_parts(e)?;
        if self.has_comment(span.start, value.span.start) {
            return None;
        }
        let head = if op.is_empty() {
            key
        } else {
            format!("{key} {op}")
        };
        Some(format!("{head} {}", self.flat(value)?))
    }

    fn entry(&self, out: &mut Lines, e: &Entry, indent: usize, pad: usize) {
        let span = entry_span(e);
        let Some((key, op, value)) = entry_parts(e) else {
            if let Entry::Nested(b) = e {
                self.block(out, b, indent);
            }
            return;
        };
        // Settings and axes are padded to their group's widest key; a filter is not.
        let key = if op.is_empty() {
            format!("{key} ")
        } else {
            format!("{key:<pad$} {op} ")
        };
        if self.has_comment(span.start, value.span.start) {
            let text = self.verbatim(span.start, span.end, indent);
            out.code(&format!("{}{text}", spaces(indent)));
            return;
        }
        let col = indent + width(&key);
        let value = self.render(value, col, indent, 0);
        out.code(&format!("{}{key}{value}", spaces(indent)));
    }
}

fn unary(op: UnOp) -> &'static str {
    match op {
        UnOp::Not => "!",
        UnOp::Neg => "-",
    }
}

/// The text of an item, from its first token to its last. (The span of a pest pair that ends
/// with an optional or repeated part can include the whitespace and comments after its last
/// token: `import paper` followed by a comment, `lr = 0.1 // ...`.)
fn item_span(item: &Item) -> Span {
    match item {
        Item::Import(i) => import_span(i),
        Item::Definition(d) => Span::new(d.span.source, d.span.start, d.value.span.end),
        Item::Block(b) => b.span,
    }
}

/// The text of an import, from `import` to its last name or string (see [`item_span`]).
fn import_span(i: &Import) -> Span {
    let last = i.alias.as_ref().map_or(i.target.span, |a| a.span);
    Span::new(i.span.source, i.span.start, last.end)
}

/// The text of an entry, from its first token to its last (see [`item_span`]).
/// An entry's key, its operator (`=`, `in`, or empty for `where`) and its value; `None` for a
/// nested block.
fn entry_parts(e: &Entry) -> Option<(String, &'static str, &Expr)> {
    Some(match e {
        Entry::Setting { targets, value, .. } => (targets_text(targets), "=", value),
        Entry::Axis {
            targets, values, ..
        } => (targets_text(targets), "in", values),
        Entry::Filter { condition, .. } => ("where".to_string(), "", condition),
        Entry::Nested(_) => return None,
    })
}

fn entry_span(e: &Entry) -> Span {
    let span = e.span();
    match e {
        Entry::Setting { value, .. }
        | Entry::Axis { values: value, .. }
        | Entry::Filter {
            condition: value, ..
        } => Span::new(span.source, span.start, value.span.end),
        Entry::Nested(b) => b.span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(s: &str) -> String {
        format_source(s).unwrap_or_else(|d| panic!("{}: {s}", d.message))
    }

    #[test]
    fn comments_are_found_outside_strings() {
        let src = "let a = \"x // y /* z */\" // c\n/* d\n e */ let b = 1";
        let texts: Vec<&str> = scan_comments(src)
            .iter()
            .map(|c| &src[c.start..c.end])
            .collect();
        assert_eq!(texts, ["// c", "/* d\n e */"]);
    }

    #[test]
    fn parentheses_are_kept_and_not_added() {
        assert_eq!(
            fmt("let a = ( (1+2) )*3\nlet b = -( x )\nlet c = ((a, b))\n"),
            "let a = ((1 + 2)) * 3\nlet b = -(x)\nlet c = ((a, b))\n"
        );
    }

    #[test]
    fn empty_and_comment_only_files() {
        assert_eq!(fmt(""), "");
        assert_eq!(fmt("\n\n  \n"), "");
        assert_eq!(
            fmt("\u{feff}// only\r\n\r\n\r\n/* two */\r\n"),
            "// only\n\n/* two */\n"
        );
    }

    #[test]
    fn index_and_units_stay_attached() {
        assert_eq!(fmt("let x = t[ 0 ][a,b]\n"), "let x = t[0][a, b]\n");
        assert_eq!(
            fmt("train { c = every(2\tepochs), s = 25% }"),
            "train {\n  c = every(2 epochs)\n  s = 25%\n}\n"
        );
    }
}
