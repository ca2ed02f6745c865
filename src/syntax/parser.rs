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

mod errors;
use errors::*;

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
