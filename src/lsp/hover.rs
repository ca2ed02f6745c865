//! `textDocument/hover`: the documentation of what is under the cursor: a builtin (its doc
//! and parameter table from the registry), a parameter inside a call (type, default, range,
//! doc), a block or block key (from the reference), a definition (its code and the comment
//! above it, in this file or an imported one, stdlib presets included), a unit, a factor, a
//! helper function or a keyword.

use super::know;
use super::scan::{Cursor, Doc, FrameKind, Tok, TopItem};
use super::symbols::{self, Ctx};
use crate::registry;

/// The hover text (Markdown) at byte `offset`, and the byte range it is about.
pub(crate) fn hover(ctx: Ctx, text: &str, offset: usize) -> Option<(String, usize, usize)> {
    let doc = Doc::new(text);
    if doc.cursor(offset).in_comment {
        return None;
    }
    let i = doc.token_at(offset)?;
    let tok = doc.toks[i];
    let range = (tok.start, tok.end);
    if tok.kind == Tok::Str {
        // An import's path: the module.
        let target = doc.items().into_iter().find_map(|it| match it {
            TopItem::Import { target, tok, .. } if tok == i => Some(target),
            _ => None,
        })?;
        let m = symbols::load(&target, ctx)?;
        return Some((module_markdown(&m), range.0, range.1));
    }
    if tok.kind != Tok::Ident {
        return None;
    }
    ident(&doc, ctx, i).map(|md| (md, range.0, range.1))
}

fn module_markdown(m: &symbols::Module) -> String {
    let head = Doc::new(&m.text);
    let first = head.toks.first().map_or(m.text.len(), |t| t.start);
    let intro = head.comment_above(first);
    let defs = head
        .items()
        .into_iter()
        .filter(|i| matches!(i, TopItem::Definition { .. }))
        .count();
    format!("**{}**: {defs} definitions\n\n{intro}", m.name)
}

fn ident(doc: &Doc, ctx: Ctx, i: usize) -> Option<String> {
    let word = doc.t(i);
    let (ps, pe) = (doc.path_start(i), doc.path_end(i));
    let seg = (i - ps) / 2;
    let next = doc.toks.get(pe + 1).map(|_| doc.t(pe + 1));
    let cur = doc.cursor(doc.toks[ps].start);
    let frame = cur.frames.last()?;
    // A unit: a name right after a number on the same line.
    if ps == i
        && i > 0
        && doc.toks[i - 1].kind == Tok::Number
        && !doc.toks[i].newline_before
        && let Some((u, d)) = know::UNITS
            .iter()
            .find(|(u, _)| *u == word || u.trim_end_matches('s') == word)
    {
        return Some(format!("**`{u}`** (unit): {d}"));
    }
    // A key: `name =` or `name in` at the start of an entry or argument.
    let keyed = matches!(next, Some("=" | "in")) && ps == pe;
    if keyed {
        match &frame.kind {
            FrameKind::Call { callee } => {
                let b = symbols::callee_builtin(doc, ctx, callee)?;
                return match b.param(word) {
                    Some(p) => Some(know::param_markdown(b, p)),
                    None => Some(format!(
                        "`{word}` is not a parameter of `{}`; its parameters: {}",
                        b.name,
                        b.params()
                            .map(|p| format!("`{}`", p.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
            }
            FrameKind::Block { kind, .. } => {
                if let Some(d) = know::key_doc(kind, word) {
                    return Some(d);
                }
            }
            _ => {}
        }
    }
    // A block: `train {`, `observe paper.candidates {`, `trajectory {`.
    let opens_block = next == Some("{")
        || (doc.toks.get(pe + 1).is_some_and(|t| t.kind == Tok::Ident)
            && !matches!(next, Some("in" | "as" | "where"))
            && (pe + 2 >= doc.toks.len() || doc.t(doc.path_end(pe + 1) + 1) == "{"));
    if opens_block && ps == pe && (cur.line_start || cur.prev.is_some_and(|p| doc.t(p) == "{")) {
        let nested = match &frame.kind {
            FrameKind::Block { kind, .. } => know::key_doc(kind, word),
            _ => None,
        };
        if let Some(d) = nested.or_else(|| know::block_doc(word)) {
            return Some(d);
        }
        if registry::measure(word).is_some() {
            return Some(format!(
                "**`{word}`** (measure block): `functions = [...]` ({}) and `statistics = [...]` ({})",
                registry::FUNCTIONS.join(", "),
                registry::STATISTICS.join(", ")
            ));
        }
    }
    // A definition keyword at the start of an item, and the other keywords.
    if matches!(word, "import" | "as" | "where" | "in")
        || (ps == pe
            && know::DEF_KINDS.contains(&word)
            && doc.toks.get(i + 2).is_some_and(|_| doc.t(i + 2) == "="))
    {
        return know::keyword_doc(word);
    }
    // `alias.name`: a definition of an imported module, or an attribute of a factor.
    if pe > ps {
        return dotted(doc, ctx, ps, seg, word);
    }
    name(doc, ctx, &cur, word)
}

/// The hover of segment `seg` of a dotted path starting at token `ps` (`word` is the
/// segment's text): the module for `alias`, a definition for `alias.name`, an attribute for
/// `factor.attribute`.
fn dotted(doc: &Doc, ctx: Ctx, ps: usize, seg: usize, word: &str) -> Option<String> {
    let alias = doc.t(ps);
    if let Some(m) = symbols::module(doc, ctx, alias) {
        let inner = Doc::new(&m.text);
        if seg == 0 {
            return Some(module_markdown(&m));
        }
        let name = doc.t(ps + 2);
        let mut md = symbols::definition_markdown(&inner, name, Some(&m.name))?;
        let mctx = Ctx {
            path: m.path.as_deref(),
            read: ctx.read,
        };
        if let Some((_, n, _, _)) = inner.definition(name)
            && let Some(callee) = inner.def_callee(n)
            && let Some(b) = symbols::callee_builtin(&inner, mctx, &callee)
        {
            md.push_str(&format!("\n---\n{}", know::builtin_markdown(b)));
        }
        return Some(md);
    }
    // `arch.family`, `rule.momentum`: an attribute of a factor.
    if seg == 1 && know::factor_doc(alias).is_some() {
        return Some(format!(
            "**`{alias}.{word}`**: the `{word}` of the run's `{alias}` (`family`, `builtin`, `label`, or any parameter)"
        ));
    }
    None
}

/// The hover of a plain name `word`: a definition here (shadows a builtin of the same name),
/// an import, a builtin, a helper, a key of the enclosing block, a factor.
fn name(doc: &Doc, ctx: Ctx, cur: &Cursor, word: &str) -> Option<String> {
    if let Some(mut md) = symbols::definition_markdown(doc, word, None) {
        if let Some((_, n, _, _)) = doc.definition(word)
            && let Some(callee) = doc.def_callee(n)
            && let Some(b) = symbols::callee_builtin(doc, ctx, &callee)
        {
            md.push_str(&format!("\n---\n{}", know::builtin_markdown(b)));
        }
        return Some(md);
    }
    if let Some(m) = symbols::module(doc, ctx, word) {
        return Some(module_markdown(&m));
    }
    if let Some(b) = registry::builtin(word) {
        return Some(know::builtin_markdown(b));
    }
    if let Some(h) = know::helper_doc(word) {
        return Some(format!("**`{word}`** (helper): {h}"));
    }
    if let Some(block) = cur.frames.iter().rev().find_map(|f| match &f.kind {
        FrameKind::Block { kind, .. } => Some(kind.clone()),
        _ => None,
    }) && let Some(d) = know::key_doc(&block, word)
    {
        return Some(d);
    }
    know::factor_doc(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn no_files(_: &Path) -> Option<String> {
        None
    }

    fn hover_at(text: &str, needle: &str) -> String {
        let ctx = Ctx {
            path: None,
            read: &no_files,
        };
        let at = text.find(needle).unwrap_or_else(|| panic!("{needle}")) + 1;
        hover(ctx, text, at).map(|h| h.0).unwrap_or_default()
    }

    const SPEC: &str = "import paper\n// Quick rates.\nlet lr_quick = { sgdm: 0.01 }\n\
        task shapes = synthetic_images(size = 16)\n\
        train {\n  task = shapes\n  arch in [paper.knet4_lrn(width = 0.5)]\n  lr = lr_quick[rule]\n  \
        checkpoint = every(2 epochs)\n  rule in paper.rules\n}\n";

    #[test]
    fn hover_texts() {
        let h = hover_at(SPEC, "synthetic_images");
        assert!(
            h.contains(registry::builtin("synthetic_images").unwrap().doc),
            "{h}"
        );
        let h = hover_at(SPEC, "size =");
        assert!(
            h.contains("synthetic_images(size = …)") && h.contains("default"),
            "{h}"
        );
        let h = hover_at(SPEC, "width =");
        assert!(h.contains("knet4(width"), "{h}");
        let h = hover_at(SPEC, "knet4_lrn");
        assert!(
            h.contains("arch knet4_lrn") && h.contains("**`knet4`**"),
            "{h}"
        );
        let h = hover_at(SPEC, "lr_quick[");
        assert!(
            h.contains("let lr_quick") && h.contains("Quick rates."),
            "{h}"
        );
        let h = hover_at(SPEC, "train {");
        assert!(h.contains("`train` block"), "{h}");
        let h = hover_at(SPEC, "checkpoint =");
        assert!(h.contains("train { checkpoint }"), "{h}");
        let h = hover_at(SPEC, "epochs)");
        assert!(h.contains("(unit)"), "{h}");
        let h = hover_at(SPEC, "every(");
        assert!(h.contains("(helper)"), "{h}");
        let h = hover_at(SPEC, "rule]");
        assert!(h.contains("train { rule }"), "{h}");
        let h = hover_at(SPEC, "paper\n");
        assert!(h.contains("stdlib module `paper`"), "{h}");
        assert_eq!(hover_at(SPEC, "Quick"), "");
    }
}
