//! The tokens of a `.lrx` text for the editor features: names, numbers, strings, operators and
//! comments with their byte ranges, read from any text (nothing here fails).

/// The kind of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident,
    Number,
    Str,
    /// An operator or a bracket (`==` and friends are one token).
    Punct,
    Comment,
}

/// A token: its kind, byte range, and whether a line break separates it from the token before.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    pub kind: Tok,
    pub start: usize,
    pub end: usize,
    pub newline_before: bool,
}

/// The tokens of a text, comments included. Never fails: an unterminated string or comment
/// runs to the end of its line or of the text, and an unknown character is a `Punct`.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut newline = true;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            newline = true;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let kind = if b[i..].starts_with(b"//") {
            i = text[i..].find('\n').map_or(b.len(), |n| i + n);
            Tok::Comment
        } else if b[i..].starts_with(b"/*") {
            i = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            Tok::Comment
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                i += if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] != b'\n' {
                    2
                } else {
                    1
                };
            }
            if i < b.len() && b[i] == b'"' {
                i += 1;
            }
            Tok::Str
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                let exp = (b[i] == b'e' || b[i] == b'E')
                    && i + 1 < b.len()
                    && (b[i + 1] == b'-' || b[i + 1] == b'+');
                i += if exp { 2 } else { 1 };
            }
            Tok::Number
        } else if is_ident_start(c) {
            while i < b.len() && is_ident_char(b[i]) {
                i += 1;
            }
            Tok::Ident
        } else {
            let two = &b[i..(i + 2).min(b.len())];
            i += if [b"==", b"!=", b"<=", b">=", b"&&", b"||"]
                .iter()
                .any(|op| two == *op)
            {
                2
            } else {
                // One character, however many bytes it has.
                text[i..].chars().next().map_or(1, char::len_utf8)
            };
            Tok::Punct
        };
        if kind == Tok::Comment && text[start..i].contains('\n') {
            // A block comment over several lines: what follows is on a new line.
            out.push(Token {
                kind,
                start,
                end: i,
                newline_before: newline,
            });
            newline = true;
            continue;
        }
        out.push(Token {
            kind,
            start,
            end: i,
            newline_before: newline,
        });
        newline = false;
    }
    out
}

/// Whether a byte can start a name (a letter or `_`).
pub(crate) fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

/// Whether a byte can continue a name (a letter, a digit or `_`).
pub(crate) fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}
