//! Syntax errors: what the parser says when pest rejects a file — the scan for unclosed
//! delimiters, bad strings and over-deep nesting, the token that was found, and the plain
//! description of what was expected.

use super::*;

/// Plain-language description of what a grammar rule expects.
pub(super) fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        Rule::item | Rule::import | Rule::definition | Rule::block => {
            "`import`, a definition (`task name = ...`) or a block (`train { ... }`)"
        }
        Rule::body => "`{`",
        Rule::entry | Rule::setting | Rule::axis | Rule::filter | Rule::nested => {
            "an entry (`key = value`, `key in [values]`, `where condition`) or `}`"
        }
        Rule::target => "a key",
        Rule::expr
        | Rule::postfixed
        | Rule::primary
        | Rule::prefix
        | Rule::op_not
        | Rule::op_neg => "a value",
        Rule::quantity | Rule::number => "a number",
        Rule::string | Rule::string_inner => "a string",
        Rule::list => "a list `[...]`",
        Rule::map | Rule::map_entry => "a table entry `key: value`",
        Rule::paren => "`(`",
        Rule::tuple_rest => "`,` or `)`",
        Rule::call | Rule::callee => "a call `name(...)`",
        Rule::arg | Rule::named_arg | Rule::axis_arg => "an argument",
        Rule::index => "`[`",
        Rule::path | Rule::ident | Rule::unit => "a name",
        Rule::percent => "`%`",
        Rule::infix
        | Rule::op_or
        | Rule::op_and
        | Rule::op_eq
        | Rule::op_ne
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_in
        | Rule::op_add
        | Rule::op_sub
        | Rule::op_mul
        | Rule::op_div => "an operator",
        Rule::kw_import => "`import`",
        Rule::kw_as => "`as`",
        Rule::kw_where => "`where`",
        Rule::kw_in => "`in`",
        _ => return None,
    })
}

pub(super) fn line_col(text: &str, off: usize) -> (usize, usize) {
    let before = &text[..off.min(text.len())];
    (
        before.matches('\n').count() + 1,
        before.rsplit('\n').next().map_or(0, str::len) + 1,
    )
}

/// Finds the innermost unclosed `{`, `[` or `(` before `pos` (skipping strings and comments).
pub(super) fn unclosed_before(text: &str, pos: usize) -> Option<(usize, char)> {
    let b = text.as_bytes();
    let mut stack: Vec<(usize, u8)> = Vec::new();
    let mut i = 0;
    while i < pos.min(b.len()) {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            c @ (b'{' | b'[' | b'(') => stack.push((i, c)),
            c @ (b'}' | b']' | b')') => {
                let open = match c {
                    b'}' => b'{',
                    b']' => b'[',
                    _ => b'(',
                };
                if stack.last().map(|x| x.1) == Some(open) {
                    stack.pop();
                }
            }
            _ => {}
        }
        i += 1;
    }
    stack.pop().map(|(i, c)| (i, c as char))
}

/// What one pass over the text finds before parsing (strings and comments skipped as the
/// grammar does): where bracket nesting first exceeds [`MAX_NESTING`] and the first malformed
/// string.
#[derive(Debug, Default)]
pub(super) struct Scan {
    pub(super) too_deep: Option<usize>,
    pub(super) bad_string: Option<BadString>,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum BadString {
    /// A string opened at `open` and not closed before the end of its line at `end`.
    Unterminated { open: usize, end: usize },
    /// An escape other than `\"`, `\\`, `\n`, `\t` at `at` (the backslash) in the string
    /// opened at `open`.
    Escape { open: usize, at: usize },
}

impl BadString {
    fn start(self) -> usize {
        match self {
            BadString::Unterminated { open, .. } => open,
            BadString::Escape { open, .. } => open,
        }
    }
}

pub(super) fn scan(text: &str) -> Scan {
    let b = text.as_bytes();
    let mut out = Scan::default();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let open = i;
                i += 1;
                loop {
                    match b.get(i) {
                        None | Some(b'\n') => {
                            if out.bad_string.is_none() {
                                let end = if b.get(i.wrapping_sub(1)) == Some(&b'\r') {
                                    i - 1
                                } else {
                                    i
                                };
                                out.bad_string = Some(BadString::Unterminated { open, end });
                            }
                            // The newline is an ordinary character again.
                            i = i.saturating_sub(1);
                            break;
                        }
                        Some(b'"') => break,
                        Some(b'\\') => match b.get(i + 1) {
                            Some(b'"' | b'\\' | b'n' | b't') => i += 1,
                            Some(b'\n') | None => {}
                            Some(_) => {
                                if out.bad_string.is_none() {
                                    out.bad_string = Some(BadString::Escape { open, at: i });
                                }
                                i += 1;
                            }
                        },
                        Some(_) => {}
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i + 1 < b.len() && b[i + 1] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..].find("*/").map_or(b.len(), |j| i + 2 + j + 1);
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    out.too_deep = Some(i);
                    return out;
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    out
}

pub(super) fn too_deep(source: SourceId, text: &str, open: usize) -> Diag {
    let c = &text[open..open + 1];
    Diag::error(
        codes::PARSE_TOO_DEEP,
        format!("nested too deeply: more than {MAX_NESTING} levels of brackets"),
    )
    .at(
        Span::new(source, open, open + 1),
        format!("this `{c}` opens level {}", MAX_NESTING + 1),
    )
    .help(format!(
        "lrx accepts up to {MAX_NESTING} nested `{{`, `[` and `(`; flatten the structure, e.g. \
         name inner values with `let name = ...`"
    ))
}

/// The end of the token that starts at `start`: a whole name, number, string (to its end or
/// the end of the line), two-character operator or comment opener, else one character.
pub(super) fn token_end(text: &str, start: usize) -> usize {
    let rest = &text[start..];
    let Some(first) = rest.chars().next() else {
        return start;
    };
    let len = if first.is_alphabetic() || first == '_' {
        rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len())
    } else if first.is_ascii_digit() {
        let b = rest.as_bytes();
        let mut n = 0;
        while n < b.len() {
            let c = b[n];
            let sign = (c == b'+' || c == b'-') && n > 0 && matches!(b[n - 1], b'e' | b'E');
            if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || sign {
                n += 1;
            } else {
                break;
            }
        }
        n
    } else if first == '"' {
        let line = rest.find('\n').unwrap_or(rest.len());
        let mut end = line;
        let mut escaped = false;
        for (j, c) in rest[..line].char_indices().skip(1) {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = j + 1;
                    break;
                }
                _ => escaped = false,
            }
        }
        end
    } else if ["==", "!=", "<=", ">=", "&&", "||", "//", "/*", "*/"]
        .iter()
        .any(|op| rest.starts_with(op))
    {
        2
    } else {
        first.len_utf8()
    };
    start + len
}

/// A character a reader cannot see (or tell from a space) in the message.
pub(super) fn invisible(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{feff}' => "byte-order mark",
        '\u{200b}' => "zero-width space",
        '\u{200c}' => "zero-width non-joiner",
        '\u{200d}' => "zero-width joiner",
        '\u{2060}' => "word joiner",
        '\u{00a0}' => "no-break space",
        '\u{00ad}' => "soft hyphen",
        '\u{0000}' => "NUL byte",
        '\r' => "carriage return",
        '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            "text-direction mark"
        }
        c if c.is_control() => "control character",
        c if c.is_whitespace() && !c.is_ascii() => "non-ASCII space",
        '\u{2061}'..='\u{2064}' | '\u{180e}' | '\u{061c}' => "invisible character",
        _ => return None,
    })
}

/// How a found token is quoted in a message: in backticks, shortened when long; an invisible
/// character by its code point and name.
pub(super) fn quote_token(tok: &str) -> String {
    let mut chars = tok.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && let Some(name) = invisible(c)
    {
        return format!("an invisible character, U+{:04X} ({name})", c as u32);
    }
    const MAX: usize = 40;
    let shown: String = tok
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .take(MAX)
        .collect();
    if tok.chars().count() > MAX {
        format!("`{shown}…`")
    } else {
        format!("`{shown}`")
    }
}

/// `lr = 0.01 batch = 16`: a name right after a number on the same line is read as the
/// number's unit, so the `=` (or `:`) after it is unexpected. Returns the number's and the
/// name's spans (byte ranges) when the text before `at` has that shape.
pub(super) fn unit_read_as_entry(
    text: &str,
    at: usize,
) -> Option<((usize, usize), (usize, usize))> {
    let before = &text[..at];
    let name_end = before.trim_end_matches([' ', '\t']).len();
    let name_start = before[..name_end]
        .char_indices()
        .rev()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let name = &before[name_start..name_end];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        return None;
    }
    let num_end = before[..name_start].trim_end_matches([' ', '\t']).len();
    if num_end == name_start {
        return None;
    }
    let b = before.as_bytes();
    let mut num_start = num_end;
    while num_start > 0 {
        let c = b[num_start - 1];
        let sign =
            (c == b'+' || c == b'-') && num_start >= 2 && matches!(b[num_start - 2], b'e' | b'E');
        if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || sign {
            num_start -= 1;
        } else {
            break;
        }
    }
    let number = &before[num_start..num_end];
    if !number.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some(((num_start, num_end), (name_start, name_end)))
}

pub(super) fn bad_string(source: SourceId, text: &str, b: BadString) -> Diag {
    match b {
        BadString::Unterminated { open, end } => {
            let shown = quote_token(&text[open..end]);
            Diag::error(
                codes::PARSE_BAD_STRING,
                format!("unterminated string: {shown} is not closed before the end of its line"),
            )
            .at(
                Span::new(source, open, end),
                "this string has no closing `\"`",
            )
            .help("close it with `\"`; a string cannot span lines (write `\\n` for a line break)")
        }
        BadString::Escape { at, .. } => {
            let end = at + 1 + text[at + 1..].chars().next().map_or(0, char::len_utf8);
            let esc = &text[at..end];
            Diag::error(
                codes::PARSE_BAD_STRING,
                format!("unknown escape `{esc}` in a string"),
            )
            .at(Span::new(source, at, end), "unknown escape")
            .help("strings know `\\\"`, `\\\\`, `\\n` and `\\t`; write a backslash as `\\\\`")
        }
    }
}

pub(super) fn syntax_error(
    source: SourceId,
    text: &str,
    e: &pest::error::Error<Rule>,
    scan: &Scan,
) -> Diag {
    use pest::error::{ErrorVariant, InputLocation};
    let (start, end) = match e.location {
        InputLocation::Pos(p) => (p, p),
        InputLocation::Span((s, e)) => (s, e),
    };
    // A malformed string at or before the error is its cause (the grammar gives up on the
    // string and reports where it stopped trying).
    if let Some(b) = scan.bad_string
        && b.start() <= start
    {
        return bad_string(source, text, b);
    }
    // Point at the offending token (or the end of file).
    let end = if end == start {
        token_end(text, start)
    } else {
        end
    };
    let found = text[start..end].to_string();
    let at_eof = start >= text.trim_end_matches([' ', '\t', '\r', '\n']).len();
    let mut expected: Vec<&str> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().filter_map(|r| describe(*r)).collect()
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    expected.sort_unstable();
    expected.dedup();
    let span = Span::new(source, start, end);

    if at_eof && let Some(d) = unclosed_at_eof(source, text, span) {
        return d;
    }
    if let Some(d) = mismatched_close(source, text, span, &found) {
        return d;
    }
    if let Some(d) = unit_as_entry(source, text, span, &found) {
        return d;
    }
    unexpected(span, &found, at_eof, &expected)
}

/// The file ends inside a bracket: the `{` of a block where a new block starts before it is
/// closed (at column 0), else the innermost unclosed bracket. `span` is the end of the file.
pub(super) fn unclosed_at_eof(source: SourceId, text: &str, span: Span) -> Option<Diag> {
    let start = span.start;
    if let Some((open_at, '{')) = unclosed_before(text, start) {
        // A block that starts at column 0 inside the unclosed one is where `}` is missing.
        let mut off = text[open_at..]
            .find('\n')
            .map_or(text.len(), |i| open_at + i + 1);
        while off < text.len() {
            let line_end = text[off..].find('\n').map_or(text.len(), |i| off + i);
            let line = &text[off..line_end];
            let starts_block = line.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && line.trim_end().ends_with('{');
            if starts_block {
                let (l, _) = line_col(text, open_at);
                return Some(
                    Diag::error(
                        codes::PARSE_UNCLOSED,
                        "unclosed `{`: a new block starts before the previous one is closed",
                    )
                    .at(Span::new(source, off, line_end), "a new block starts here")
                    .related(
                        Span::new(source, open_at, open_at + 1),
                        "this `{` is never closed",
                    )
                    .help(format!("add `}}` to close the block opened on line {l}")),
                );
            }
            off = line_end + 1;
        }
    }
    let (open_at, c) = unclosed_before(text, start)?;
    let close = closing(c);
    Some(
        Diag::error(
            codes::PARSE_UNCLOSED,
            format!("unclosed `{c}`: expected `{close}` before the end of the file"),
        )
        .at(span, format!("the file ends here, expected `{close}`"))
        .related(Span::new(source, open_at, open_at + 1), "opened here")
        .help(format!("add the missing `{close}`")),
    )
}

/// The bracket that closes `open` (`{`, `[` or `(`).
pub(super) fn closing(open: char) -> char {
    match open {
        '{' => '}',
        '[' => ']',
        _ => ')',
    }
}

/// A `[` or `(` opened earlier and a different closing bracket (`found`, at `span`) appears.
pub(super) fn mismatched_close(
    source: SourceId,
    text: &str,
    span: Span,
    found: &str,
) -> Option<Diag> {
    let (open_at, c) = unclosed_before(text, span.start)?;
    let close = closing(c);
    if c != '{' && (found == "}" || found == "]" || found == ")") && found != close.to_string() {
        return Some(
            Diag::error(
                codes::PARSE_UNCLOSED,
                format!("unclosed `{c}`: expected `{close}`, found `{found}`"),
            )
            .at(span, format!("expected `{close}` before this"))
            .related(Span::new(source, open_at, open_at + 1), "opened here")
            .help(format!("add the missing `{close}`")),
        );
    }
    None
}

/// `lr = 0.01 batch = 16`: `batch` was read as the unit of `0.01`, so the `=` or `:` found at
/// `span` is unexpected.
pub(super) fn unit_as_entry(source: SourceId, text: &str, span: Span, found: &str) -> Option<Diag> {
    if found != "=" && found != ":" {
        return None;
    }
    let ((ns, ne), (us, ue)) = unit_read_as_entry(text, span.start)?;
    let (number, unit) = (&text[ns..ne], &text[us..ue]);
    let sep = if found == "=" { " " } else { "" };
    Some(
        Diag::error(
            codes::PARSE_SYNTAX,
            format!("unknown unit `{unit}` after `{number}`: missing comma before `{unit}`?"),
        )
        .at(
            Span::new(source, us, ue),
            format!("read as the unit of `{number}`"),
        )
        .related(span, format!("so this `{found}` is unexpected"))
        .help(format!(
            "a name after a number on the same line is its unit (`12 epochs`); to start a new \
             entry, add a comma or a line break: `{number}, {unit}{sep}{found} ...`"
        )),
    )
}

/// The general syntax error: what the grammar expected and the token `found` instead, with a
/// help line for the usual slips (quotes, `#` comments, invisible characters).
pub(super) fn unexpected(span: Span, found: &str, at_eof: bool, expected: &[&str]) -> Diag {
    let what = if found.is_empty() || at_eof {
        "end of file".to_string()
    } else {
        quote_token(found)
    };
    let message = if expected.is_empty() {
        format!("unexpected {what}")
    } else {
        format!("expected {}, found {what}", expected.join(" or "))
    };
    let mut d = Diag::error(codes::PARSE_SYNTAX, message).at(span, "unexpected here");
    let first = found.chars().next().unwrap_or(' ');
    if found == "=" || found == ":" {
        d = d.help("settings are written `key = value`, table entries `key: value`");
    } else if first == '\'' || matches!(first, '“' | '”' | '‘' | '’') {
        d = d.help("strings use straight double quotes: \"...\"");
    } else if first == '#' {
        d = d.help("comments start with `//`");
    } else if first == BOM {
        d = d.help("delete it: a byte-order mark is only allowed at the very start of a file");
    } else if first == '\0' {
        d = d.help("a NUL byte: the file may be UTF-16; save it as UTF-8");
    } else if invisible(first).is_some() {
        d = d.help("delete it (or retype the line): it is invisible in most editors");
    }
    d
}
