//! Source files and spans. Every AST node carries a [`Span`] into a file of the [`SourceMap`],
//! so diagnostics from any stage can point at the text the user wrote.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a file in the [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceId(pub u32);

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    /// The file the range is in.
    pub source: SourceId,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte (`start` for an empty span).
    pub end: usize,
}

impl Span {
    /// The bytes `start..end` of file `source`.
    pub fn new(source: SourceId, start: usize, end: usize) -> Self {
        Span { source, start, end }
    }
    /// The smallest span covering both (same file assumed).
    pub fn join(self, other: Span) -> Span {
        Span {
            source: self.source,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    /// Whether the span covers no byte (a position, such as the end of a file).
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// A value with the span of the text it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spanned<T> {
    /// The value.
    pub node: T,
    /// Where its text is.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Pairs `node` with the span of its text.
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

/// One loaded file: a display name (a path as the user wrote it, or `<stdlib/paper.lrx>`),
/// where it lives on disk (none for embedded stdlib files) and its text.
///
/// A file that is not valid UTF-8 is still loaded (its text with U+FFFD in place of the bad
/// bytes, so spans and line numbers up to the first bad byte are those of the file) and
/// `invalid_utf8` holds the byte offset of its first invalid byte: the parser reports it
/// (`lrx::parse::encoding`) with a location instead of parsing the replaced text.
/// A UTF-8 byte-order mark is kept in the text (byte offsets stay those of the file); the
/// grammar skips it and [`SourceMap::line_col`] does not count it as a column.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown in diagnostics.
    pub name: String,
    /// The file on disk; `None` for embedded stdlib files and text given in memory.
    pub path: Option<PathBuf>,
    /// The text (shared, so that later stages can hold it without copying).
    pub text: Arc<String>,
    /// Where the text stops being UTF-8, when it does.
    pub invalid_utf8: Option<InvalidUtf8>,
    /// Line starts and whether the text is ASCII (computed on first use).
    index: Arc<std::sync::OnceLock<LineIndex>>,
}

/// Where a file stops being UTF-8: the byte offset and the offending bytes (at most 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidUtf8 {
    /// Byte offset of the first invalid byte (everything before it is valid UTF-8).
    pub offset: usize,
    /// The invalid sequence (1 to 4 bytes), shown in the diagnostic.
    pub bytes: Vec<u8>,
}

/// The UTF-8 byte-order mark some editors write at the start of a file.
pub const BOM: char = '\u{feff}';

/// Decodes a file's bytes: the text, and where the first invalid UTF-8 sequence is when there
/// is one (the text then has U+FFFD in place of each invalid sequence; everything before the
/// first one is byte-for-byte the file's).
pub fn decode(bytes: Vec<u8>) -> (String, Option<InvalidUtf8>) {
    match String::from_utf8(bytes) {
        Ok(s) => (s, None),
        Err(e) => {
            let u = e.utf8_error();
            let offset = u.valid_up_to();
            let bytes = e.as_bytes();
            let n = u.error_len().unwrap_or(bytes.len() - offset).min(4);
            let bad = bytes[offset..offset + n].to_vec();
            let text = String::from_utf8_lossy(bytes).into_owned();
            (text, Some(InvalidUtf8 { offset, bytes: bad }))
        }
    }
}

/// All files of one invocation. Files are only ever added, so `SourceId`s stay valid.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a file from its text and returns its id (ids are given in order from 0).
    pub fn add(
        &mut self,
        name: impl Into<String>,
        path: Option<PathBuf>,
        text: String,
    ) -> SourceId {
        self.files.push(SourceFile {
            name: name.into(),
            path,
            text: Arc::new(text),
            invalid_utf8: None,
            index: Arc::default(),
        });
        SourceId(self.files.len() as u32 - 1)
    }
    /// Adds a file from its bytes; invalid UTF-8 is recorded (see [`SourceFile`]), not refused,
    /// so that the error can point into the file.
    pub fn add_bytes(
        &mut self,
        name: impl Into<String>,
        path: Option<PathBuf>,
        bytes: Vec<u8>,
    ) -> SourceId {
        let (text, invalid) = decode(bytes);
        let id = self.add(name, path, text);
        self.files[id.0 as usize].invalid_utf8 = invalid;
        id
    }
    /// Reads a file from disk; the caller turns an I/O error into a diagnostic. A file that is
    /// not UTF-8 loads (the parser reports where it stops being UTF-8).
    pub fn load(&mut self, path: &Path) -> std::io::Result<SourceId> {
        let bytes = std::fs::read(path)?;
        Ok(self.add_bytes(path.display().to_string(), Some(path.to_path_buf()), bytes))
    }
    /// The file `id`; panics when `id` is not of this map.
    pub fn get(&self, id: SourceId) -> &SourceFile {
        &self.files[id.0 as usize]
    }
    /// The file `id`, or `None` when `id` is not of this map.
    pub fn try_get(&self, id: SourceId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }
    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }
    /// Whether no file was added yet.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
    /// The file whose path is `path` (compared after canonicalisation).
    pub fn find_path(&self, path: &Path) -> Option<SourceId> {
        self.files
            .iter()
            .position(|f| {
                f.path
                    .as_deref()
                    .is_some_and(|p| p == path || p.canonicalize().ok().as_deref() == Some(path))
            })
            .map(|i| SourceId(i as u32))
    }
    /// The file with display name `name` (`<stdlib/paper.lrx>` for a stdlib module).
    pub fn find_name(&self, name: &str) -> Option<SourceId> {
        self.files
            .iter()
            .position(|f| f.name == name)
            .map(|i| SourceId(i as u32))
    }
    /// The text a span covers; panics when the span is not in the file.
    pub fn text(&self, span: Span) -> &str {
        &self.get(span.source).text[span.start..span.end]
    }
    /// 1-based line and column (in characters) of a byte offset. A byte-order mark at the
    /// start of the file is not a column.
    pub fn line_col(&self, id: SourceId, offset: usize) -> (usize, usize) {
        self.get(id).line_col(offset)
    }
}

#[derive(Debug, Default)]
struct LineIndex {
    starts: Vec<usize>,
    ascii: bool,
}

impl SourceFile {
    fn index(&self) -> &LineIndex {
        self.index.get_or_init(|| LineIndex {
            starts: std::iter::once(0)
                .chain(
                    self.text
                        .bytes()
                        .enumerate()
                        .filter(|(_, c)| *c == b'\n')
                        .map(|(i, _)| i + 1),
                )
                .collect(),
            ascii: self.text.is_ascii(),
        })
    }
    /// Byte offsets where lines start (0 and after each `\n`), computed once per file.
    pub fn line_starts(&self) -> &[usize] {
        &self.index().starts
    }
    /// 0-based line index and the byte offset where that line starts.
    pub fn line_of(&self, offset: usize) -> (usize, usize) {
        let starts = self.line_starts();
        let line = starts.partition_point(|&s| s <= offset).saturating_sub(1);
        (line, starts[line])
    }
    /// 1-based line and column (in characters) of a byte offset; see [`SourceMap::line_col`].
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let text = self.text.as_str();
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let (line, start) = self.line_of(offset);
        let mut col = if self.index().ascii {
            offset - start
        } else {
            text[start..offset].chars().count()
        } + 1;
        if start == 0 && text.starts_with(BOM) && offset > 0 {
            col -= 1;
        }
        (line + 1, col)
    }
}
