//! PARSE: text → [`ast::File`]. pest does the matching (grammar/lrx.pest); this module lowers
//! pest pairs to the AST, one function per rule, and turns pest errors into lrx diagnostics so a
//! user never sees a grammar rule name.

use super::ast::*;
use crate::diag::{Diag, codes};
use crate::source::{BOM, InvalidUtf8, SourceFile, SourceId, SourceMap, Span, Spanned};
use pest::Parser as _;
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::cell::Cell;
use std::sync::OnceLock;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/lrx.pest"]
struct LrxParser;

/// How deeply brackets (`{`, `[`, `(`) may nest. The parser and the checker recurse once per
/// level, so this bounds their stack use; real specs nest a handful of levels.
pub const MAX_NESTING: usize = 64;

/// How deep one expression tree may be: operators (`a + b + ...`, `!!x`, `x[i][j]`) and the
/// brackets around sub-expressions together. Bounds the recursion of the checker and of
/// dropping the tree.
pub const MAX_EXPR_DEPTH: usize = 256;

/// Parses a file of the source map: refuses text that is not UTF-8 (with the location of the
/// first invalid byte), then [`parse`]s it.
pub fn parse_source(sources: &SourceMap, id: SourceId) -> Result<File, Diag> {
    let f = sources.get(id);
    if let Some(bad) = &f.invalid_utf8 {
        return Err(encoding_error(id, f, bad));
    }
    parse(id, &f.text)
}

fn encoding_error(id: SourceId, f: &SourceFile, bad: &InvalidUtf8) -> Diag {
    let (line, col) = f.line_col(bad.offset);
    let bytes: Vec<String> = bad.bytes.iter().map(|b| format!("0x{b:02X}")).collect();
    let end = f.text[bad.offset..]
        .chars()
        .next()
        .map_or(bad.offset, |c| bad.offset + c.len_utf8());
    // UTF-16 text has a NUL byte in every ASCII character.
    let utf16 = f.text.as_bytes().iter().take(64).any(|b| *b == 0);
    let help = if utf16 {
        "the file looks like UTF-16: save it as UTF-8 (most editors: \"Save with encoding\" → UTF-8)"
            .to_string()
    } else {
        "specs are UTF-8 text: save the file as UTF-8, or convert it, e.g. \
         `iconv -f latin1 -t utf-8 old.lrx > new.lrx`"
            .to_string()
    };
    Diag::error(
        codes::PARSE_ENCODING,
        format!(
            "`{}` is not UTF-8: invalid byte {} at line {line}, column {col}",
            f.name,
            bytes.join(" ")
        ),
    )
    .at(Span::new(id, bad.offset, end), "not UTF-8")
    .help(help)
}

/// Parses one file. On a syntax error returns exactly one diagnostic (pest stops at the first
/// error; the checker, which runs on a parsed file, collects all of its errors).
pub fn parse(source: SourceId, text: &str) -> Result<File, Diag> {
    // Bracket nesting is what makes the parser recurse: refuse it above a fixed depth before
    // parsing, so no input can overflow the stack. (pest's call limit would count every rule
    // call in the file, which refuses large flat files instead.)
    let scan = scan(text);
    if let Some(open) = scan.too_deep {
        return Err(too_deep(source, text, open));
    }
    let pairs =
        LrxParser::parse(Rule::file, text).map_err(|e| syntax_error(source, text, &e, &scan))?;
    let lower = Lower {
        source,
        depth: Cell::new(0),
    };
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
    /// Depth of the expression tree being lowered (see [`MAX_EXPR_DEPTH`]).
    depth: Cell<usize>,
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
        // Every operator and index of this expression may add a level to the tree (a bound:
        // `a + b + c` is two deep); sub-expressions in brackets start below this one's levels.
        let base = self.depth.get();
        let mut depth = base + 1;
        for c in p.clone().into_inner() {
            let steps: Vec<Span> = if c.as_rule() == Rule::postfixed {
                c.into_inner().skip(1).map(|i| self.span(&i)).collect()
            } else {
                vec![self.span(&c)]
            };
            for at in steps {
                depth += 1;
                if depth > MAX_EXPR_DEPTH {
                    return Err(Diag::error(
                        codes::PARSE_TOO_DEEP,
                        format!(
                            "expression nested too deeply: more than {MAX_EXPR_DEPTH} levels of \
                             operators, indexes and brackets"
                        ),
                    )
                    .at(at, format!("level {depth} of this expression"))
                    .help("split the expression: name parts of it with `let name = ...`"));
                }
            }
        }
        self.depth.set(depth);
        let e = self.expr_tree(p);
        self.depth.set(base);
        e
    }

    fn expr_tree(&self, p: Pair<Rule>) -> R<Expr> {
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
            Rule::quantity => self.quantity(p)?,
            Rule::string => ExprKind::Str {
                value: unescape(&p),
            },
            Rule::path => ExprKind::Path {
                segments: self.path(p).node,
            },
            Rule::list => ExprKind::List {
                items: self.exprs(p)?,
            },
            Rule::paren => {
                let mut it = p.into_inner();
                let first = it
                    .next()
                    .ok_or_else(|| bug(self.source, "empty parentheses"))?;
                match it.next() {
                    // `(a)`: a group.
                    None => return self.expr(first).map(|e| Expr { span, ..e }),
                    // `(a, b, ...)`: a tuple.
                    Some(rest) => {
                        let mut items = vec![self.expr(first)?];
                        for c in rest.into_inner() {
                            items.push(self.expr(c)?);
                        }
                        ExprKind::Tuple { items }
                    }
                }
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
            Rule::call => self.call(p, span)?,
            r => return Err(self.unexpected(&p, r)),
        };
        Ok(Expr { kind, span })
    }

    /// A number with its unit (`0.01`, `25%`, `5 epochs`); a number that does not fit a
    /// 64-bit float is an error.
    fn quantity(&self, p: Pair<Rule>) -> R<ExprKind> {
        let mut value = 0.0;
        let mut text = String::new();
        let mut unit = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::number => {
                    text = c.as_str().to_string();
                    value = text.parse::<f64>().map_err(|_| {
                        Diag::error(codes::PARSE_BAD_NUMBER, format!("`{text}` is not a number"))
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
        Ok(ExprKind::Number { value, text, unit })
    }

    /// A call `callee(args)`: positional, named (`k = v`) and axis (`k in values`) arguments.
    fn call(&self, p: Pair<Rule>, span: Span) -> R<ExprKind> {
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
                    let name = self.ident(ai.next().ok_or_else(|| bug(self.source, "arg name"))?);
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
        Ok(ExprKind::Call { callee, args })
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

/// What one pass over the text finds before parsing (strings and comments skipped as the
/// grammar does): where bracket nesting first exceeds [`MAX_NESTING`] and the first malformed
/// string.
#[derive(Debug, Default)]
struct Scan {
    too_deep: Option<usize>,
    bad_string: Option<BadString>,
}

#[derive(Debug, Clone, Copy)]
enum BadString {
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

fn scan(text: &str) -> Scan {
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

fn too_deep(source: SourceId, text: &str, open: usize) -> Diag {
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
fn token_end(text: &str, start: usize) -> usize {
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
fn invisible(c: char) -> Option<&'static str> {
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
fn quote_token(tok: &str) -> String {
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
fn unit_read_as_entry(text: &str, at: usize) -> Option<((usize, usize), (usize, usize))> {
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

fn bad_string(source: SourceId, text: &str, b: BadString) -> Diag {
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

fn syntax_error(source: SourceId, text: &str, e: &pest::error::Error<Rule>, scan: &Scan) -> Diag {
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
fn unclosed_at_eof(source: SourceId, text: &str, span: Span) -> Option<Diag> {
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
fn closing(open: char) -> char {
    match open {
        '{' => '}',
        '[' => ']',
        _ => ')',
    }
}

/// A `[` or `(` opened earlier and a different closing bracket (`found`, at `span`) appears.
fn mismatched_close(source: SourceId, text: &str, span: Span, found: &str) -> Option<Diag> {
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
fn unit_as_entry(source: SourceId, text: &str, span: Span, found: &str) -> Option<Diag> {
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
fn unexpected(span: Span, found: &str, at_eof: bool, expected: &[&str]) -> Diag {
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
