//! Positions and file names in the protocol's terms: the checker's byte offsets ↔ LSP positions
//! (0-based line and UTF-16 code unit, the encoding every client supports), and `file://` URIs
//! ↔ paths.

use lsp_types::{Position, Range};
use std::path::{Path, PathBuf};

/// The line starts of a text, for converting offsets and positions. Lines end at `\n` (a `\r`
/// before it is the line's last character, so `\r\n` files convert correctly).
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes the lines of `text`.
    pub fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// The position of a byte offset (clamped to the text, and back to a character boundary).
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let character: usize = self.text[start..offset].chars().map(char::len_utf16).sum();
        Position::new(line as u32, character as u32)
    }

    /// The byte offset of a position. A line past the end is the end of the text; a character
    /// past the end of its line is the end of the line (before its `\n`, or `\r\n`); a
    /// position inside a surrogate pair is the start of its character.
    pub fn offset(&self, pos: Position) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return self.text.len();
        };
        let end = self
            .starts
            .get(pos.line as usize + 1)
            .map_or(self.text.len(), |&next| next - 1);
        let line = self.text[start..end].trim_end_matches('\r');
        let mut units = 0usize;
        for (i, c) in line.char_indices() {
            let next = units + c.len_utf16();
            if next > pos.character as usize {
                return start + i;
            }
            units = next;
        }
        start + line.len()
    }

    /// The range of a byte range.
    pub fn range(&self, start: usize, end: usize) -> Range {
        Range::new(self.position(start), self.position(end.max(start)))
    }
}

/// The local path a `file://` URI names (percent-decoded); `None` for other schemes.
pub fn uri_to_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    // `file:///p` (empty authority) or `file://localhost/p`.
    let path = if rest.starts_with('/') {
        rest
    } else {
        rest.strip_prefix("localhost")?
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let bytes = percent_decode(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
    }
    #[cfg(not(unix))]
    {
        Some(PathBuf::from(String::from_utf8(bytes).ok()?))
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The `file://` URI of a path (made absolute against the working directory), with every byte
/// outside the unreserved set and `/` percent-encoded.
pub fn path_to_uri(path: &Path) -> String {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let abs = normalize(&abs);
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        abs.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = abs.to_string_lossy().replace('\\', "/").into_bytes();
    let mut s = String::from("file://");
    if !bytes.starts_with(b"/") {
        s.push('/');
    }
    for b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// `a/./b/../c` → `a/c`, without touching the file system (an import path joined to its
/// directory names the file the way an editor would).
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The [`lsp_types::Uri`] of a path (see [`path_to_uri`]).
pub fn uri_of(path: &Path) -> Option<lsp_types::Uri> {
    path_to_uri(path).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_positions_round_trip_in_utf16() {
        // `é` is 2 bytes and 1 unit; `𝔁` is 4 bytes and 2 units (a surrogate pair).
        let text = "ab\nxé𝔁z\r\nlast";
        let ix = LineIndex::new(text);
        let z = text.find('z').unwrap();
        assert_eq!(ix.position(z), Position::new(1, 4));
        assert_eq!(ix.offset(Position::new(1, 4)), z);
        // Inside the surrogate pair: the start of the character.
        assert_eq!(ix.offset(Position::new(1, 3)), text.find('𝔁').unwrap());
        // Past the end of a line: before `\r\n`; past the last line: the end.
        assert_eq!(ix.offset(Position::new(1, 99)), z + 1);
        assert_eq!(ix.offset(Position::new(9, 0)), text.len());
        assert_eq!(ix.position(text.len()), Position::new(2, 4));
        // An offset inside a character is moved back to its start.
        assert_eq!(
            ix.position(text.find('é').unwrap() + 1),
            Position::new(1, 1)
        );
    }

    #[test]
    fn uris_and_paths() {
        let p = Path::new("/tmp/a dir/ü.lrx");
        let uri = path_to_uri(p);
        assert_eq!(uri, "file:///tmp/a%20dir/%C3%BC.lrx");
        assert_eq!(uri_to_path(&uri).unwrap(), p);
        assert_eq!(
            uri_to_path("file://localhost/x/y.lrx").unwrap(),
            Path::new("/x/y.lrx")
        );
        assert_eq!(uri_to_path("untitled:Untitled-1"), None);
        assert_eq!(path_to_uri(Path::new("/a/./b/../c.lrx")), "file:///a/c.lrx");
        assert!(uri_of(p).is_some());
    }
}
