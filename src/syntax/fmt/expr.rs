//! The expression half of the formatter: canonical spacing, the source kept where a comment
//! sits inside an expression, and wrapping at commas and operators (the rules are in the parent
//! module's documentation).

use super::*;

impl<'s> Formatter<'s> {
    // -----------------------------------------------------------------------------------------
    // Expressions

    /// Whether a comment lies inside `e` but outside its sub-expressions: then `e` is written
    /// as in the source.
    pub(super) fn keeps_source(&self, e: &Expr) -> bool {
        let cs = self.comments_in(e.span.start, e.span.end);
        if cs.is_empty() {
            return false;
        }
        let mut children: Vec<Span> = Vec::new();
        match &e.kind {
            ExprKind::Number { .. } | ExprKind::Str { .. } | ExprKind::Path { .. } => {}
            ExprKind::List { items } | ExprKind::Tuple { items } => {
                children.extend(items.iter().map(|i| i.span))
            }
            ExprKind::Map { entries } => {
                for (k, v) in entries {
                    children.push(k.span);
                    children.push(v.span);
                }
            }
            ExprKind::Call { args, .. } => children.extend(args.iter().map(|a| match a {
                Arg::Positional { value } => value.span,
                Arg::Named { value, .. } => value.span,
                Arg::Axis { values, .. } => values.span,
            })),
            ExprKind::Index { base, keys } => {
                children.push(base.span);
                children.extend(keys.iter().map(|k| k.span));
            }
            ExprKind::Unary { expr, .. } => children.push(expr.span),
            ExprKind::Binary { lhs, rhs, .. } => {
                children.push(lhs.span);
                children.push(rhs.span);
            }
        }
        cs.iter().any(|c| {
            !children
                .iter()
                .any(|s| s.start <= c.start && c.end <= s.end)
        })
    }

    /// How many pairs of grouping parentheses the source has around `e` (its span includes
    /// them; a tuple's own parentheses are not counted).
    pub(super) fn parens(&self, e: &Expr) -> usize {
        let count = |to: usize| self.src[e.span.start..to].matches('(').count();
        match &e.kind {
            ExprKind::Binary { lhs, .. } => count(lhs.span.start),
            ExprKind::Index { base, .. } => count(base.span.start),
            ExprKind::Unary { expr, .. } => count(expr.span.start),
            ExprKind::Call { callee, .. } => count(callee.span.start),
            ExprKind::Tuple { items } => count(items[0].span.start).saturating_sub(1),
            _ => {
                let text = &self.src[e.span.start..e.span.end];
                let lead = text.len()
                    - text
                        .trim_start_matches(|c: char| c == '(' || c.is_whitespace())
                        .len();
                text[..lead].matches('(').count()
            }
        }
    }

    /// Whether a list, tuple, table or call was written with a comma after its last item: it
    /// is then laid out one item per line.
    pub(super) fn trailing_comma(&self, e: &Expr) -> bool {
        let last = match &e.kind {
            ExprKind::List { items } | ExprKind::Tuple { items } => items.last().map(|i| i.span),
            ExprKind::Map { entries } => entries.last().map(|(_, v)| v.span),
            ExprKind::Call { args, .. } => args.last().map(Arg::span),
            _ => None,
        };
        last.is_some_and(|s| self.src.as_bytes().get(self.next_token(s.end)) == Some(&b','))
    }

    /// The pieces of a bracketed expression: (opening text, pieces, closing text).
    pub(super) fn sequence<'e>(
        &self,
        e: &'e Expr,
    ) -> Option<(String, Vec<Piece<'e>>, &'static str)> {
        Some(match &e.kind {
            ExprKind::List { items } => ("[".into(), items.iter().map(Piece::Value).collect(), "]"),
            ExprKind::Tuple { items } => {
                ("(".into(), items.iter().map(Piece::Value).collect(), ")")
            }
            ExprKind::Map { entries } => (
                "{ ".into(),
                entries.iter().map(|(k, v)| Piece::Entry(k, v)).collect(),
                " }",
            ),
            ExprKind::Call { callee, args } => (
                format!("{}(", callee.node.join(".")),
                args.iter()
                    .map(|a| match a {
                        Arg::Positional { value } => Piece::Value(value),
                        Arg::Named { name, value } => Piece::Arg(&name.node, " = ", value),
                        Arg::Axis { name, values } => Piece::Arg(&name.node, " in ", values),
                    })
                    .collect(),
                ")",
            ),
            _ => return None,
        })
    }

    /// `e` on one line, or `None` when it cannot be: it keeps a line break of the source
    /// (around a comment) or has a trailing comma (one item per line).
    pub(super) fn flat(&self, e: &Expr) -> Option<String> {
        if self.keeps_source(e) {
            let text = &self.src[e.span.start..e.span.end];
            return (!text.contains('\n')).then(|| text.to_string());
        }
        let inner = match &e.kind {
            ExprKind::Number { text, unit, .. } => match unit {
                Some(u) if u.node == "%" => format!("{text}%"),
                Some(u) => format!("{text} {}", u.node),
                None => text.clone(),
            },
            ExprKind::Str { .. } => {
                let text = &self.src[e.span.start..e.span.end];
                let (a, b) = (text.find('"')?, text.rfind('"')?);
                text[a..=b].to_string()
            }
            ExprKind::Path { segments } => segments.join("."),
            ExprKind::Index { base, keys } => {
                let keys: Option<Vec<String>> = keys.iter().map(|k| self.flat(k)).collect();
                format!("{}[{}]", self.flat(base)?, keys?.join(", "))
            }
            ExprKind::Unary { op, expr } => format!("{}{}", unary(*op), self.flat(expr)?),
            ExprKind::Binary { op, lhs, rhs } => {
                format!("{} {} {}", self.flat(lhs)?, op.symbol(), self.flat(rhs)?)
            }
            _ => {
                if self.trailing_comma(e) {
                    return None;
                }
                let (open, pieces, close) = self.sequence(e)?;
                let items: Option<Vec<String>> =
                    pieces.iter().map(|p| self.piece_flat(p, 0)).collect();
                let items = items?;
                if items.is_empty() {
                    format!("{}{}", open.trim_end(), close.trim_start())
                } else {
                    format!("{open}{}{close}", items.join(", "))
                }
            }
        };
        let k = self.parens(e);
        Some(format!("{}{inner}{}", "(".repeat(k), ")".repeat(k)))
    }

    /// A piece on one line; `pad`: the width a table key is padded to (0: none).
    pub(super) fn piece_flat(&self, p: &Piece, pad: usize) -> Option<String> {
        Some(match p {
            Piece::Value(e) => self.flat(e)?,
            Piece::Arg(name, op, e) => format!("{name}{op}{}", self.flat(e)?),
            Piece::Entry(k, v) => {
                let key = format!("{}:", self.flat(k)?);
                format!("{key:<pad$} {}", self.flat(v)?)
            }
        })
    }

    /// Writes `e` starting at column `col` of a line indented by `indent`, wrapping it where
    /// it would make a line longer than [`MAX_WIDTH`] once `trail` more columns follow it.
    pub(super) fn render(&self, e: &Expr, col: usize, indent: usize, trail: usize) -> String {
        if self.keeps_source(e) {
            return self.verbatim(e.span.start, e.span.end, col);
        }
        if let Some(f) = self.flat(e)
            && col + width(&f) + trail <= MAX_WIDTH
        {
            return f;
        }
        let k = self.parens(e);
        let (col, trail) = (col + k, trail + k);
        let inner = match &e.kind {
            ExprKind::Binary { .. } => self.chain(e, col, indent, trail),
            ExprKind::Unary { op, expr } => {
                format!(
                    "{}{}",
                    unary(*op),
                    self.render(expr, col + 1, indent, trail)
                )
            }
            ExprKind::Index { base, keys } => {
                let base = self.render(base, col, indent, 1);
                let open = format!("{base}[");
                let keys: Vec<Piece> = keys.iter().map(Piece::Value).collect();
                self.wrap(&open, &keys, "]", col, indent, trail, false)
            }
            _ => match self.sequence(e) {
                Some((open, pieces, close)) => {
                    let exploded = self.trailing_comma(e);
                    self.wrap(&open, &pieces, close, col, indent, trail, exploded)
                }
                // Numbers, strings and names: nothing to wrap at.
                None => return self.flat(e).unwrap_or_default(),
            },
        };
        format!("{}{inner}{}", "(".repeat(k), ")".repeat(k))
    }

    /// A piece written from column `col` (see [`Self::render`]).
    pub(super) fn piece(
        &self,
        p: &Piece,
        col: usize,
        indent: usize,
        trail: usize,
        pad: usize,
    ) -> String {
        match p {
            Piece::Value(e) => self.render(e, col, indent, trail),
            Piece::Arg(name, op, e) => {
                let head = format!("{name}{op}");
                let value = self.render(e, col + width(&head), indent, trail);
                format!("{head}{value}")
            }
            Piece::Entry(k, v) => {
                let key = format!("{}:", self.render(k, col, indent, 1));
                let key = if key.contains('\n') {
                    key
                } else {
                    format!("{key:<pad$}")
                };
                let vcol = end_col(col, &key) + 1;
                format!("{key} {}", self.render(v, vcol, indent, trail))
            }
        }
    }

    /// A bracketed sequence that does not fit on its line: `open` (which may span lines, for
    /// an index), the pieces and `close`, from column `col`. Filled: as many pieces per line as
    /// fit, continuation lines aligned with the first piece, a piece that spans lines ending its
    /// line. Exploded (`exploded`: written with a trailing comma): one piece per line, indented
    /// one level more than the line the sequence starts on, each followed by a comma, and the
    /// closing bracket on a line of its own.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn wrap(
        &self,
        open: &str,
        pieces: &[Piece],
        close: &str,
        col: usize,
        indent: usize,
        trail: usize,
        exploded: bool,
    ) -> String {
        if pieces.is_empty() {
            return format!("{}{}", open.trim_end(), close.trim_start());
        }
        if exploded {
            // Table keys are aligned: `sgdm: ...`, `ia:   ...`.
            let pad = pieces
                .iter()
                .filter_map(|p| match p {
                    Piece::Entry(k, _) => self.flat(k).map(|k| width(&k) + 1),
                    _ => None,
                })
                .max()
                .unwrap_or(0);
            let inner = indent + INDENT;
            let mut s = open.trim_end().to_string();
            for p in pieces {
                s.push('\n');
                s.push_str(&spaces(inner));
                s.push_str(&self.piece(p, inner, inner, 1, pad));
                s.push(',');
            }
            s.push('\n');
            s.push_str(&spaces(indent));
            s.push_str(close.trim_start());
            return s;
        }
        let item_col = end_col(col, open);
        let mut s = open.to_string();
        let mut cur = item_col;
        let mut line_indent = if open.contains('\n') {
            item_col
        } else {
            indent
        };
        let mut prev_multiline = false;
        for (i, p) in pieces.iter().enumerate() {
            let last = i + 1 == pieces.len();
            let suffix = if last { width(close) + trail } else { 1 };
            if i > 0 {
                let fits = !prev_multiline
                    && self
                        .piece_flat(p, 0)
                        .is_some_and(|f| cur + 1 + width(&f) + suffix <= MAX_WIDTH);
                if fits {
                    s.push(' ');
                    cur += 1;
                } else {
                    s.push('\n');
                    s.push_str(&spaces(item_col));
                    cur = item_col;
                    line_indent = item_col;
                }
            }
            let r = self.piece(p, cur, line_indent, suffix, 0);
            prev_multiline = r.contains('\n');
            cur = end_col(cur, &r);
            s.push_str(&r);
            if !last {
                s.push(',');
                cur += 1;
            }
        }
        s.push_str(close);
        s
    }

    /// A chain of binary operators of one precedence level (`a && b && c`, `x * y / z`) that
    /// does not fit on its line: as many operands per line as fit, each further line starting
    /// with an operator, aligned with the first operand.
    pub(super) fn chain(&self, e: &Expr, col: usize, indent: usize, trail: usize) -> String {
        let ExprKind::Binary { op, .. } = &e.kind else {
            return self.render(e, col, indent, trail);
        };
        let level = precedence(*op);
        // The left spine: `((a op b) op c) op d` → a, [(op, b), (op, c), (op, d)]. A grouped or
        // commented operand is one operand.
        let mut rest: Vec<(BinOp, &Expr)> = Vec::new();
        let mut first = e;
        while let ExprKind::Binary { op, lhs, rhs } = &first.kind
            && precedence(*op) == level
            && (std::ptr::eq(first, e) || (self.parens(first) == 0 && !self.keeps_source(first)))
        {
            rest.push((*op, &**rhs));
            first = &**lhs;
        }
        rest.reverse();
        let mut s = self.render(first, col, indent, 0);
        let mut cur = end_col(col, &s);
        let mut prev_multiline = s.contains('\n');
        for (i, (op, operand)) in rest.iter().enumerate() {
            let t = if i + 1 == rest.len() { trail } else { 0 };
            let sym = op.symbol();
            let fits = !prev_multiline
                && self
                    .flat(operand)
                    .is_some_and(|f| cur + 1 + width(sym) + 1 + width(&f) + t <= MAX_WIDTH);
            let at = if fits {
                s.push(' ');
                cur + 1
            } else {
                s.push('\n');
                s.push_str(&spaces(col));
                col
            };
            s.push_str(sym);
            s.push(' ');
            let ocol = at + width(sym) + 1;
            let r = self.render(operand, ocol, if fits { indent } else { col }, t);
            prev_multiline = r.contains('\n');
            cur = end_col(ocol, &r);
            s.push_str(&r);
        }
        s
    }
}
