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
    pub source: SourceId,
    pub start: usize,
    pub end: usize,
}

impl Span {
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
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// A value with the span of the text it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

/// One loaded file: a display name (a path as the user wrote it, or `<stdlib/paper.lrx>`),
/// where it lives on disk (none for embedded stdlib files) and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub path: Option<PathBuf>,
    pub text: Arc<String>,
}

/// All files of one invocation. Files are only ever added, so `SourceId`s stay valid.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }
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
        });
        SourceId(self.files.len() as u32 - 1)
    }
    /// Reads a file from disk; the caller turns an I/O error into a diagnostic.
    pub fn load(&mut self, path: &Path) -> std::io::Result<SourceId> {
        let text = std::fs::read_to_string(path)?;
        Ok(self.add(path.display().to_string(), Some(path.to_path_buf()), text))
    }
    pub fn get(&self, id: SourceId) -> &SourceFile {
        &self.files[id.0 as usize]
    }
    pub fn try_get(&self, id: SourceId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }
    pub fn len(&self) -> usize {
        self.files.len()
    }
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
    pub fn find_name(&self, name: &str) -> Option<SourceId> {
        self.files
            .iter()
            .position(|f| f.name == name)
            .map(|i| SourceId(i as u32))
    }
    pub fn text(&self, span: Span) -> &str {
        &self.get(span.source).text[span.start..span.end]
    }
    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, id: SourceId, offset: usize) -> (usize, usize) {
        let text = &self.get(id).text;
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}
