//! PARSE: text → [`ast::File`]. pest does the matching (grammar/lrx.pest); this module lowers
//! pest pairs to the AST, one function per rule, and turns pest errors into lrx diagnostics so a
//! user never sees a grammar rule name.

use super::ast::*;
use crate::diag::{Diag, codes};
use crate::source::{SourceId, Span, Spanned};
use pest::Parser as _;
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::sync::OnceLock;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/lrx.pest"]
struct LrxParser;

/// Parses one file. On a syntax error returns exactly one diagnostic (pest stops at the first
/// error; the checker, which runs on a parsed file, collects all of its errors).
pub fn parse(source: SourceId, text: &str) -> Result<File, Diag> {
    // Deeply nested input must not overflow the stack (fuzzing found this in PRQL/typst).
    pest::set_call_limit(std::num::NonZeroUsize::new(5_000_000));
    let pairs = LrxParser::parse(Rule::file, text).map_err(|e| syntax_error(source, text, &e))?;
    let lower = Lower { source };
    let file = pairs
        .into_iter()
        .next()
        .ok_or_else(|| bug(source, "empty parse"))?;
    let mut items = Vec::new();
    for p in file.into_inner() {
        match p.as_rule() {
            Rule::import => items.push(Item::Import(lower.import(p)?)),
            Rule::definition => items.push(Item::Definition(lower.definition(p)?)),
            Rule::block => items.push(Item::Block(lower.block(p)?)),
            Rule::EOI => {}
            r => return Err(lower.unexpected(&p, r)),
        }
    }
    Ok(File { items })
}

fn bug(source: SourceId, what: &str) -> Diag {
    Diag::error(codes::BUG, format!("this is a bug in lrx: {what}"))
        .at(Span::new(source, 0, 0), "here")
        .help("please report it with the spec that caused it")
}

fn pratt() -> &'static PrattParser<Rule> {
    static P: OnceLock<PrattParser<Rule>> = OnceLock::new();
    P.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::op_or, Assoc::Left))
            .op(Op::infix(Rule::op_and, Assoc::Left))
            .op(Op::infix(Rule::op_eq, Assoc::Left)
                | Op::infix(Rule::op_ne, Assoc::Left)
                | Op::infix(Rule::op_lt, Assoc::Left)
                | Op::infix(Rule::op_le, Assoc::Left)
                | Op::infix(Rule::op_gt, Assoc::Left)
                | Op::infix(Rule::op_ge, Assoc::Left)
                | Op::infix(Rule::op_in, Assoc::Left))
            .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
            .op(Op::infix(Rule::op_mul, Assoc::Left) | Op::infix(Rule::op_div, Assoc::Left))
            .op(Op::prefix(Rule::op_not) | Op::prefix(Rule::op_neg))
    })
}

struct Lower {
    source: SourceId,
}

type R<T> = Result<T, Diag>;

impl Lower {
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.source, s.start(), s.end())
    }
    fn unexpected(&self, p: &Pair<Rule>, r: Rule) -> Diag {
        Diag::error(
            codes::BUG,
            format!("this is a bug in lrx: unexpected syntax node {r:?}"),
        )
        .at(self.span(p), "here")
        .help("please report it with the spec that caused it")
    }
    fn expect<'i>(&self, p: Option<Pair<'i, Rule>>, rule: Rule, parent: Span) -> R<Pair<'i, Rule>> {
        match p {
            Some(p) if p.as_rule() == rule => Ok(p),
            Some(p) => {
                let r = p.as_rule();
                Err(self.unexpected(&p, r))
            }
            None => Err(Diag::error(
                codes::BUG,
                format!("this is a bug in lrx: missing {rule:?}"),
            )
            .at(parent, "here")),
        }
    }
    fn ident(&self, p: Pair<Rule>) -> Spanned<String> {
        Spanned::new(p.as_str().to_string(), self.span(&p))
    }
    fn path(&self, p: Pair<Rule>) -> Spanned<Vec<String>> {
        let span = self.span(&p);
        Spanned::new(
            p.into_inner().map(|i| i.as_str().to_string()).collect(),
            span,
        )
    }

    fn import(&self, p: Pair<Rule>) -> R<Import> {
        let span = self.span(&p);
        let mut target = None;
        let mut alias = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_import | Rule::kw_as => {}
                Rule::string => {
                    let s = self.span(&c);
                    target = Some(Spanned::new(ImportTarget::File(unescape(&c)), s));
                }
                Rule::ident if target.is_none() => {
                    let s = self.span(&c);
                    target = Some(Spanned::new(ImportTarget::Stdlib(c.as_str().into()), s));
                }
                Rule::ident => alias = Some(self.ident(c)),
                r => return Err(self.unexpected(&c, r)),
            }
        }
        let target = target.ok_or_else(|| bug(self.source, "import without target"))?;
        Ok(Import {
            target,
            alias,
            span,
        })
    }

    fn definition(&self, p: Pair<Rule>) -> R<Definition> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let kind = self.ident(self.expect(it.next(), Rule::ident, span)?);
        let name = self.ident(self.expect(it.next(), Rule::ident, span)?);
        let value = self.expr(self.expect(it.next(), Rule::expr, span)?)?;
        Ok(Definition {
            kind,
            name,
            value,
            span,
        })
    }

    fn block(&self, p: Pair<Rule>) -> R<Block> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let kind = self.ident(self.expect(it.next(), Rule::ident, span)?);
        let mut head = None;
        let mut entries = Vec::new();
        for c in it {
            match c.as_rule() {
                Rule::path => head = Some(self.path(c)),
                Rule::body => entries = self.body(c)?,
                r => return Err(self.unexpected(&c, r)),
            }
        }
        Ok(Block {
            kind,
            head,
            entries,
            span,
        })
    }

    fn body(&self, p: Pair<Rule>) -> R<Vec<Entry>> {
        p.into_inner().map(|c| self.entry(c)).collect()
    }

    fn entry(&self, p: Pair<Rule>) -> R<Entry> {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::filter => {
                let cond = p
                    .into_inner()
                    .find(|c| c.as_rule() == Rule::expr)
                    .ok_or_else(|| bug(self.source, "where without condition"))?;
                Ok(Entry::Filter {
                    condition: self.expr(cond)?,
                    span,
                })
            }
            Rule::nested => Ok(Entry::Nested(self.block(p)?)),
            Rule::setting | Rule::axis => {
                let is_axis = p.as_rule() == Rule::axis;
                let mut targets = Vec::new();
                let mut value = None;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::target => targets = c.into_inner().map(|i| self.ident(i)).collect(),
                        Rule::kw_in => {}
                        Rule::expr => value = Some(self.expr(c)?),
                        r => return Err(self.unexpected(&c, r)),
                    }
                }
                let value = value.ok_or_else(|| bug(self.source, "entry without value"))?;
                Ok(if is_axis {
                    Entry::Axis {
                        targets,
                        values: value,
                        span,
                    }
                } else {
                    Entry::Setting {
                        targets,
                        value,
                        span,
                    }
                })
            }
            r => Err(self.unexpected(&p, r)),
        }
    }

    fn expr(&self, p: Pair<Rule>) -> R<Expr> {
        pratt()
            .map_primary(|p| self.postfixed(p))
            .map_prefix(|op, rhs| {
                let rhs = rhs?;
                let span = self.span(&op).join(rhs.span);
                let op = if op.as_rule() == Rule::op_not {
                    UnOp::Not
                } else {
                    UnOp::Neg
                };
                Ok(Expr {
                    kind: ExprKind::Unary {
                        op,
                        expr: Box::new(rhs),
                    },
                    span,
                })
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let op = match op.as_rule() {
                    Rule::op_or => BinOp::Or,
                    Rule::op_and => BinOp::And,
                    Rule::op_eq => BinOp::Eq,
                    Rule::op_ne => BinOp::Ne,
                    Rule::op_lt => BinOp::Lt,
                    Rule::op_le => BinOp::Le,
                    Rule::op_gt => BinOp::Gt,
                    Rule::op_ge => BinOp::Ge,
                    Rule::op_in => BinOp::In,
                    Rule::op_add => BinOp::Add,
                    Rule::op_sub => BinOp::Sub,
                    Rule::op_mul => BinOp::Mul,
                    r => {
                        debug_assert_eq!(r, Rule::op_div);
                        BinOp::Div
                    }
                };
                let span = lhs.span.join(rhs.span);
                Ok(Expr {
                    kind: ExprKind::Binary {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                    span,
                })
            })
            .parse(p.into_inner())
    }

    fn postfixed(&self, p: Pair<Rule>) -> R<Expr> {
        let mut it = p.into_inner();
        let first = it.next().ok_or_else(|| bug(self.source, "empty value"))?;
        let mut e = self.primary(first)?;
        for idx in it {
            let span = e.span.join(self.span(&idx));
            let keys = idx
                .into_inner()
                .map(|k| self.expr(k))
                .collect::<R<Vec<_>>>()?;
            e = Expr {
                kind: ExprKind::Index {
                    base: Box::new(e),
                    keys,
                },
                span,
            };
        }
        Ok(e)
    }

    fn primary(&self, p: Pair<Rule>) -> R<Expr> {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::quantity => {
                let mut value = 0.0;
                let mut text = String::new();
                let mut unit = None;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::number => {
                            text = c.as_str().to_string();
                            value = text.parse::<f64>().map_err(|_| {
                                Diag::error(
                                    codes::PARSE_BAD_NUMBER,
                                    format!("`{text}` is not a number"),
                                )
                                .at(self.span(&c), "not a number")
                            })?;
                            if !value.is_finite() {
                                return Err(Diag::error(
                                    codes::PARSE_BAD_NUMBER,
                                    format!("`{text}` is too large"),
                                )
                                .at(self.span(&c), "does not fit a 64-bit float"));
                            }
                        }
                        Rule::percent | Rule::unit => unit = Some(self.ident(c)),
                        r => return Err(self.unexpected(&c, r)),
                    }
                }
                ExprKind::Number { value, text, unit }
            }
            Rule::string => ExprKind::Str {
                value: unescape(&p),
            },
            Rule::path => ExprKind::Path {
                segments: self.path(p).node,
            },
            Rule::list => ExprKind::List {
                items: self.exprs(p)?,
            },
            Rule::tuple => ExprKind::Tuple {
                items: self.exprs(p)?,
            },
            Rule::group => {
                let inner = p
                    .into_inner()
                    .next()
                    .ok_or_else(|| bug(self.source, "empty group"))?;
                return self.expr(inner).map(|e| Expr { span, ..e });
            }
            Rule::map => {
                let mut entries = Vec::new();
                for e in p.into_inner() {
                    let mut kv = e.into_inner();
                    let k = kv.next().ok_or_else(|| bug(self.source, "map key"))?;
                    let v = kv.next().ok_or_else(|| bug(self.source, "map value"))?;
                    entries.push((self.expr(k)?, self.expr(v)?));
                }
                ExprKind::Map { entries }
            }
            Rule::call => {
                let mut it = p.into_inner();
                let callee = self.expect(it.next(), Rule::callee, span)?;
                let path = callee
                    .into_inner()
                    .next()
                    .ok_or_else(|| bug(self.source, "call without name"))?;
                let callee = self.path(path);
                let mut args = Vec::new();
                for a in it {
                    args.push(match a.as_rule() {
                        Rule::named_arg | Rule::axis_arg => {
                            let axis = a.as_rule() == Rule::axis_arg;
                            let mut ai = a.into_inner().filter(|c| c.as_rule() != Rule::kw_in);
                            let name =
                                self.ident(ai.next().ok_or_else(|| bug(self.source, "arg name"))?);
                            let value =
                                self.expr(ai.next().ok_or_else(|| bug(self.source, "arg value"))?)?;
                            if axis {
                                Arg::Axis {
                                    name,
                                    values: value,
                                }
                            } else {
                                Arg::Named { name, value }
                            }
                        }
                        Rule::expr => Arg::Positional {
                            value: self.expr(a)?,
                        },
                        r => return Err(self.unexpected(&a, r)),
                    });
                }
                ExprKind::Call { callee, args }
            }
            r => return Err(self.unexpected(&p, r)),
        };
        Ok(Expr { kind, span })
    }

    fn exprs(&self, p: Pair<Rule>) -> R<Vec<Expr>> {
        p.into_inner().map(|c| self.expr(c)).collect()
    }
}

fn unescape(p: &Pair<Rule>) -> String {
    let raw = p.as_str();
    let inner = raw
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(raw);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Plain-language description of what a grammar rule expects.
fn describe(rule: Rule) -> Option<&'static str> {
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
        Rule::tuple | Rule::group => "`(`",
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

fn line_col(text: &str, off: usize) -> (usize, usize) {
    let before = &text[..off.min(text.len())];
    (
        before.matches('\n').count() + 1,
        before.rsplit('\n').next().map_or(0, str::len) + 1,
    )
}

/// Finds the innermost unclosed `{`, `[` or `(` before `pos` (skipping strings and comments).
fn unclosed_before(text: &str, pos: usize) -> Option<(usize, char)> {
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

fn syntax_error(source: SourceId, text: &str, e: &pest::error::Error<Rule>) -> Diag {
    use pest::error::{ErrorVariant, InputLocation};
    let (start, end) = match e.location {
        InputLocation::Pos(p) => (p, p),
        InputLocation::Span((s, e)) => (s, e),
    };
    // Point at the offending character (or the end of file).
    let end = if end == start {
        text[start..]
            .chars()
            .next()
            .map_or(start, |c| start + c.len_utf8())
    } else {
        end
    };
    let found = text[start..end].to_string();
    let at_eof = start >= text.trim_end().len();
    let mut expected: Vec<&str> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().filter_map(|r| describe(*r)).collect()
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    expected.sort_unstable();
    expected.dedup();
    let span = Span::new(source, start, end);

    if at_eof {
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
                    return Diag::error(
                        codes::PARSE_UNCLOSED,
                        "unclosed `{`: a new block starts before the previous one is closed",
                    )
                    .at(Span::new(source, off, line_end), "a new block starts here")
                    .related(
                        Span::new(source, open_at, open_at + 1),
                        "this `{` is never closed",
                    )
                    .help(format!("add `}}` to close the block opened on line {l}"));
                }
                off = line_end + 1;
            }
        }
        if let Some((open_at, c)) = unclosed_before(text, start) {
            let close = match c {
                '{' => '}',
                '[' => ']',
                _ => ')',
            };
            return Diag::error(
                codes::PARSE_UNCLOSED,
                format!("unclosed `{c}`: expected `{close}` before the end of the file"),
            )
            .at(span, format!("the file ends here, expected `{close}`"))
            .related(Span::new(source, open_at, open_at + 1), "opened here")
            .help(format!("add the missing `{close}`"));
        }
    }
    // A `{` opened earlier and a new block keyword appears: most likely a missing `}`.
    if let Some((open_at, c)) = unclosed_before(text, start) {
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line = text[line_start..].trim_start();
        let closes = [('{', '}'), ('[', ']'), ('(', ')')];
        let close = closes
            .iter()
            .find(|(o, _)| *o == c)
            .map_or('}', |(_, cl)| *cl);
        if c != '{' && (found == "}" || found == "]" || found == ")") && found != close.to_string()
        {
            return Diag::error(
                codes::PARSE_UNCLOSED,
                format!("unclosed `{c}`: expected `{close}`, found `{found}`"),
            )
            .at(span, format!("expected `{close}` before this"))
            .related(Span::new(source, open_at, open_at + 1), "opened here")
            .help(format!("add the missing `{close}`"));
        }
        let _ = line;
    }
    let what = if found.trim().is_empty() || at_eof {
        "end of file".to_string()
    } else {
        format!("`{}`", found.trim())
    };
    let message = if expected.is_empty() {
        format!("unexpected {what}")
    } else if expected.len() == 1 {
        format!("expected {}, found {what}", expected[0])
    } else {
        format!("expected {}, found {what}", expected.join(" or "))
    };
    let mut d = Diag::error(codes::PARSE_SYNTAX, message).at(span, "unexpected here");
    if found == "=" || found == ":" {
        d = d.help("settings are written `key = value`, table entries `key: value`");
    } else if found.starts_with('\'') {
        d = d.help("strings use double quotes: \"...\"");
    } else if found.starts_with('#') {
        d = d.help("comments start with `//`");
    }
    d
}
