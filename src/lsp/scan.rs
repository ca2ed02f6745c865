//! A forgiving reading of a document for hover, completion and go-to-definition: tokens, the
//! top-level items, and what encloses a cursor (blocks, calls, lists, the entry's key). It
//! works on text that does not parse, which is most of what an editor sends while typing.

pub(crate) use super::token::{Tok, Token, is_ident_char, tokenize};

/// A document's tokens (comments apart) with its text.
pub(crate) struct Doc<'a> {
    pub text: &'a str,
    /// Significant tokens: every token but comments.
    pub toks: Vec<Token>,
    pub comments: Vec<Token>,
}

/// A top-level item, found from the tokens.
#[derive(Debug, Clone)]
pub(crate) enum TopItem {
    /// `import paper` / `import "lib.lrx" as lib`: the target (a module name or a path), the
    /// name it is used by, and the token of the target.
    Import {
        target: ImportOf,
        alias: String,
        tok: usize,
    },
    /// `kind name = value` (or `observables name { ... }`): token indices of the kind and the
    /// name, and the item's byte range.
    Definition {
        kind: usize,
        name: usize,
        start: usize,
        end: usize,
    },
    /// A block (`study x { ... }`).
    Block,
}

/// What an import names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImportOf {
    Stdlib(String),
    File(String),
}

/// What encloses a position: one open bracket, or the top level.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FrameKind {
    Top,
    /// A block: its kind (`train`, `trajectory`, `weight`) and head (`observe paper.candidates`).
    Block {
        kind: String,
        head: Option<String>,
    },
    /// A table `{ key: value }`.
    Map,
    /// The arguments of a call of `callee` (a name or a dotted path).
    Call {
        callee: String,
    },
    /// A list `[...]`, or an index `x[...]` when `index`.
    List {
        index: bool,
    },
    /// Parentheses that are not a call.
    Paren,
}

/// How the current entry of a frame relates its key to the value being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rel {
    /// `key = value` (a setting, a named argument, a definition).
    Set,
    /// `key in values` (an axis).
    Axis,
    /// `where condition`.
    Where,
}

/// One enclosing frame and the entry of it the position is in.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub kind: FrameKind,
    /// Index of the opening token (`None` for the top level).
    pub open: Option<usize>,
    /// The key, argument name or definition kind of the entry being written, and how it is
    /// related to its value.
    pub key: Option<(String, Rel)>,
}

/// Where a position is, as far as completion and hover need.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    /// The frames enclosing the position, outermost (the top level) first.
    pub frames: Vec<Frame>,
    /// The last significant token that ends at or before the word at the position.
    pub prev: Option<usize>,
    /// Whether a line break comes between `prev` and the position.
    pub line_start: bool,
    /// The name or dotted path ending at the position (`paper.kn`).
    pub prefix: String,
    /// The position is inside a comment or a string.
    pub in_comment: bool,
    pub in_string: bool,
}

impl<'a> Doc<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let (comments, toks) = tokenize(text)
            .into_iter()
            .partition(|t| t.kind == Tok::Comment);
        Doc {
            text,
            toks,
            comments,
        }
    }

    /// The text of a significant token.
    pub(crate) fn t(&self, i: usize) -> &'a str {
        let t = self.toks[i];
        &self.text[t.start..t.end]
    }

    fn is(&self, i: usize, s: &str) -> bool {
        i < self.toks.len() && self.t(i) == s && self.toks[i].kind != Tok::Str
    }

    fn is_ident(&self, i: usize) -> bool {
        i < self.toks.len() && self.toks[i].kind == Tok::Ident
    }

    /// Whether tokens `i` and `i + 1` touch (no space between).
    fn adjacent(&self, i: usize) -> bool {
        i + 1 < self.toks.len() && self.toks[i].end == self.toks[i + 1].start
    }

    /// The first token of the dotted path that ends at token `end` (an identifier).
    pub(crate) fn path_start(&self, end: usize) -> usize {
        let mut s = end;
        while s >= 2 && self.is(s - 1, ".") && self.is_ident(s - 2) && self.adjacent(s - 2) {
            if !self.adjacent(s - 1) {
                break;
            }
            s -= 2;
        }
        s
    }

    /// The last token of the dotted path that starts at token `start`.
    pub(crate) fn path_end(&self, start: usize) -> usize {
        let mut e = start;
        while self.is(e + 1, ".")
            && self.is_ident(e + 2)
            && self.adjacent(e)
            && self.adjacent(e + 1)
        {
            e += 2;
        }
        e
    }

    /// The text of the tokens `from..=to`.
    pub(crate) fn span_text(&self, from: usize, to: usize) -> &'a str {
        &self.text[self.toks[from].start..self.toks[to].end]
    }

    /// The significant token containing a byte offset, or ending exactly there (so a cursor
    /// just after a name is on it).
    pub(crate) fn token_at(&self, offset: usize) -> Option<usize> {
        let i = self.toks.partition_point(|t| t.end < offset);
        let t = self.toks.get(i)?;
        (t.start <= offset).then_some(i)
    }

    /// Index of the first token at or after `offset`.
    fn first_from(&self, offset: usize) -> usize {
        self.toks.partition_point(|t| t.start < offset)
    }

    /// Whether a token can end a value (so that a name after it on a new line starts a new
    /// entry or item).
    fn ends_value(&self, i: usize) -> bool {
        let t = self.toks[i];
        match t.kind {
            Tok::Ident => !matches!(self.t(i), "in" | "where" | "import" | "as"),
            Tok::Number | Tok::Str => true,
            Tok::Punct => matches!(self.t(i), ")" | "]" | "}" | "%"),
            Tok::Comment => false,
        }
    }

    /// The top-level items, in order.
    pub(crate) fn items(&self) -> Vec<TopItem> {
        let mut starts = Vec::new();
        let mut depth = 0i32;
        for i in 0..self.toks.len() {
            let s = self.t(i);
            if depth == 0
                && self.is_ident(i)
                && (i == 0 || (self.toks[i].newline_before && self.ends_value(i - 1)))
            {
                starts.push(i);
            }
            match s {
                "(" | "[" | "{" if self.toks[i].kind == Tok::Punct => depth += 1,
                ")" | "]" | "}" if self.toks[i].kind == Tok::Punct => depth = (depth - 1).max(0),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for (n, &i) in starts.iter().enumerate() {
            let end_tok = starts.get(n + 1).map_or(self.toks.len(), |&e| e) - 1;
            let start = self.toks[i].start;
            let end = self.toks[end_tok].end;
            if self.t(i) == "import" {
                let Some(t) = self.toks.get(i + 1) else {
                    continue;
                };
                let target = match t.kind {
                    Tok::Str => ImportOf::File(unquote(self.t(i + 1))),
                    Tok::Ident => ImportOf::Stdlib(self.t(i + 1).to_string()),
                    _ => continue,
                };
                let alias = if self.is(i + 2, "as") && self.is_ident(i + 3) {
                    self.t(i + 3).to_string()
                } else {
                    match &target {
                        ImportOf::Stdlib(n) => n.clone(),
                        ImportOf::File(p) => std::path::Path::new(p)
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    }
                };
                out.push(TopItem::Import {
                    target,
                    alias,
                    tok: i + 1,
                });
            } else if self.is_ident(i + 1) && (self.is(i + 2, "=") || self.t(i) == "observables") {
                out.push(TopItem::Definition {
                    kind: i,
                    name: i + 1,
                    start,
                    end,
                });
            } else {
                out.push(TopItem::Block);
            }
        }
        out
    }

    /// The definition of `name` among the top-level items: (kind token, name token, item
    /// byte range).
    pub(crate) fn definition(&self, name: &str) -> Option<(usize, usize, usize, usize)> {
        self.items().into_iter().find_map(|it| match it {
            TopItem::Definition {
                kind,
                name: n,
                start,
                end,
            } if self.t(n) == name => Some((kind, n, start, end)),
            _ => None,
        })
    }

    /// The `//` comment lines right above a byte offset (no blank line between), without
    /// their slashes: the documentation of a definition.
    pub(crate) fn comment_above(&self, offset: usize) -> String {
        let mut lines = Vec::new();
        let mut line_start = self.text[..offset].rfind('\n').map_or(0, |n| n + 1);
        while line_start > 0 {
            let prev_start = self.text[..line_start - 1].rfind('\n').map_or(0, |n| n + 1);
            let line = self.text[prev_start..line_start - 1].trim();
            match line.strip_prefix("//") {
                Some(c) if !c.trim_start().starts_with("---") => lines.push(c.trim().to_string()),
                _ => break,
            }
            line_start = prev_start;
        }
        lines.reverse();
        lines.join("\n")
    }

    /// The callee of a definition's value, when the value is a call (`knet4(...)` in
    /// `arch knet4_lrn = knet4(lrn = true)`).
    pub(crate) fn def_callee(&self, name_tok: usize) -> Option<String> {
        let first = name_tok + 2;
        if !self.is(name_tok + 1, "=") || !self.is_ident(first) {
            return None;
        }
        let last = self.path_end(first);
        (self.is(last + 1, "(") && self.adjacent(last))
            .then(|| self.span_text(first, last).to_string())
    }

    /// The key of the entry an `=` or `in` at token `i` belongs to: the name before it, when
    /// that name starts an entry (after `{`, `(`, `,` or at the start of a line).
    fn key_before(&self, i: usize) -> Option<String> {
        if i == 0 || !self.is_ident(i - 1) {
            return None;
        }
        let k = i - 1;
        let starts =
            k == 0 || self.toks[k].newline_before || matches!(self.t(k - 1), "{" | "(" | ",");
        starts.then(|| self.t(k).to_string())
    }

    /// What encloses byte offset `offset`.
    pub(crate) fn cursor(&self, offset: usize) -> Cursor {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let (in_comment, in_string) = self.in_comment_or_string(offset);
        let ps = self.prefix_start(offset);
        let upto = self.first_from(ps);
        let prev = upto.checked_sub(1);
        // (A token around the position, a string being typed, ends after it.)
        let line_start = prev.is_none()
            || self.text[self.toks[prev.unwrap_or(0)].end.min(ps)..ps].contains('\n');
        let mut frames = vec![Frame {
            kind: FrameKind::Top,
            open: None,
            key: None,
        }];
        for i in 0..upto {
            self.step(&mut frames, i);
        }
        Cursor {
            frames,
            prev,
            line_start,
            prefix: self.text[ps..offset].to_string(),
            in_comment,
            in_string,
        }
    }

    /// Whether `offset` lies in a comment, and whether in a string (an unclosed string being
    /// typed reaches the position).
    fn in_comment_or_string(&self, offset: usize) -> (bool, bool) {
        let in_comment = self.comments.iter().any(|c| {
            c.start < offset
                && (offset < c.end || (offset == c.end && !self.text[c.start..].starts_with("/*")))
        });
        let in_string = self.toks.iter().any(|t| {
            t.kind == Tok::Str
                && t.start < offset
                && (offset < t.end
                    || (offset == t.end && !closed_string(&self.text[t.start..t.end])))
        });
        (in_comment, in_string)
    }

    /// Where the word before `offset` starts (letters, digits, `_` and `.`); `offset` itself
    /// when that word is a number, not a name.
    fn prefix_start(&self, offset: usize) -> usize {
        let bytes = self.text.as_bytes();
        let mut ps = offset;
        while ps > 0 && (is_ident_char(bytes[ps - 1]) || bytes[ps - 1] == b'.') {
            ps -= 1;
        }
        if ps < offset && bytes[ps].is_ascii_digit() {
            ps = offset;
        }
        ps
    }

    /// Updates the open frames with token `i`: a bracket opens or closes one, `=`, `in` and
    /// `where` set the innermost frame's key, a new top-level item clears it.
    fn step(&self, frames: &mut Vec<Frame>, i: usize) {
        let s = self.t(i);
        let punct = self.toks[i].kind == Tok::Punct;
        let top = frames.len() - 1;
        if punct && matches!(s, "(" | "[" | "{") {
            let kind = self.opened_kind(i);
            frames.push(Frame {
                kind,
                open: Some(i),
                key: None,
            });
        } else if punct && matches!(s, ")" | "]" | "}") {
            let want = match s {
                ")" => "(",
                "]" => "[",
                _ => "{",
            };
            // Close the innermost frame opened by the matching bracket (a stray bracket
            // closes nothing).
            if let Some(f) = frames
                .iter()
                .rposition(|f| f.open.is_some_and(|o| self.t(o) == want))
            {
                frames.truncate(f.max(1));
            }
        } else if (punct && s == "=") || (s == "in" && self.toks[i].kind == Tok::Ident) {
            self.set_key(&mut frames[top], i);
        } else if s == "where" && self.toks[i].kind == Tok::Ident {
            frames[top].key = Some(("where".to_string(), Rel::Where));
        } else if self.is_ident(i)
            && matches!(frames[top].kind, FrameKind::Top)
            && (i == 0 || (self.toks[i].newline_before && self.ends_value(i - 1)))
        {
            // A new top-level item.
            frames[top].key = None;
        }
    }

    /// The frame an opening bracket at token `i` starts: a call (a name right before `(`), a
    /// parenthesis, a list or index (`[`), a block or a table (`{`).
    fn opened_kind(&self, i: usize) -> FrameKind {
        let glued = i > 0 && self.toks[i - 1].end == self.toks[i].start;
        match self.t(i) {
            "(" if glued && self.is_ident(i - 1) => FrameKind::Call {
                callee: self.span_text(self.path_start(i - 1), i - 1).to_string(),
            },
            "(" => FrameKind::Paren,
            "[" => FrameKind::List {
                index: glued && self.ends_value(i - 1),
            },
            _ => self.brace_kind(i),
        }
    }

    /// The key an `=` or `in` at token `i` gives the frame it is written in.
    fn set_key(&self, frame: &mut Frame, i: usize) {
        let s = self.t(i);
        let rel = if s == "=" { Rel::Set } else { Rel::Axis };
        // After `where`, `x in [...]` is part of the condition unless it starts a line.
        let in_where = matches!(frame.key, Some((_, Rel::Where)))
            && !(i > 0 && self.toks[i - 1].newline_before);
        match &frame.kind {
            FrameKind::Top
                if s == "=" && i >= 2 && self.is_ident(i - 2) && self.is_ident(i - 1) =>
            {
                frame.key = Some((self.t(i - 2).to_string(), Rel::Set));
            }
            FrameKind::Block { .. } | FrameKind::Call { .. } if !(in_where && s == "in") => {
                if let Some(k) = self.key_before(i) {
                    frame.key = Some((k, rel));
                }
            }
            _ => {}
        }
    }

    /// A `{` opens a block when a name comes before it (`train {`, `observe paper.x {`), and
    /// a table otherwise (`= {`, `[{`, `: {`).
    fn brace_kind(&self, i: usize) -> FrameKind {
        if i == 0 || !self.is_ident(i - 1) || matches!(self.t(i - 1), "in" | "where") {
            return FrameKind::Map;
        }
        let last = i - 1;
        let first = self.path_start(last);
        let path = self.span_text(first, last).to_string();
        // `observe paper.candidates {`: a name before the path on the same line is the kind.
        if first > 0
            && self.is_ident(first - 1)
            && !self.toks[first].newline_before
            && !matches!(self.t(first - 1), "in" | "where")
        {
            return FrameKind::Block {
                kind: self.t(first - 1).to_string(),
                head: Some(path),
            };
        }
        FrameKind::Block {
            kind: path,
            head: None,
        }
    }

    /// Where the key `key` is declared in the block whose `{` is token `open` (`rule in
    /// paper.rules`): the key's token.
    pub(crate) fn key_in_block(&self, open: usize, key: &str) -> Option<usize> {
        let mut depth = 0;
        for i in open + 1..self.toks.len() {
            let s = self.t(i);
            if self.toks[i].kind == Tok::Punct {
                match s {
                    "(" | "[" | "{" => depth += 1,
                    ")" | "]" | "}" if depth == 0 => return None,
                    ")" | "]" | "}" => depth -= 1,
                    _ => {}
                }
            }
            if depth == 0
                && s == key
                && self.is_ident(i)
                && (self.is(i + 1, "=") || self.is(i + 1, "in"))
                && self.key_before(i + 1).is_some()
            {
                return Some(i);
            }
        }
        None
    }
}

fn closed_string(s: &str) -> bool {
    s.len() >= 2 && s.ends_with('"') && !s.ends_with("\\\"")
}

/// A string token's text without its quotes (escapes are kept: paths have none).
pub(crate) fn unquote(s: &str) -> String {
    let s = s.strip_prefix('"').unwrap_or(s);
    s.strip_suffix('"').unwrap_or(s).to_string()
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
