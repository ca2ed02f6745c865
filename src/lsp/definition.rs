//! `textDocument/definition`: where a name is defined: a definition of this file (`let`,
//! `task`, `rule`, ..., `observables`), a definition of an imported module (`paper.sgdm`,
//! `common.lr`, into the file, or into a copy of the stdlib module), the module an import or
//! an alias names, or the entry of the enclosing block that declares a key used in an
//! expression (`rule` in `lr = paper.lr_cifar[rule]`).

use super::scan::{Doc, FrameKind, Tok, TopItem};
use super::symbols::{self, Ctx};
use std::path::PathBuf;

/// Where a definition is.
#[derive(Debug, PartialEq)]
pub(crate) enum Target {
    /// In the document itself: a byte range.
    Here(usize, usize),
    /// In another file: its path, text (to convert the range) and a byte range.
    File(PathBuf, String, usize, usize),
}

/// The definition of what is at byte `offset`.
pub(crate) fn definition(ctx: Ctx, text: &str, offset: usize) -> Option<Target> {
    let doc = Doc::new(text);
    if doc.cursor(offset).in_comment {
        return None;
    }
    let i = doc.token_at(offset)?;
    // An import: the module's file.
    for it in doc.items() {
        if let TopItem::Import { target, tok, .. } = it
            && tok == i
        {
            let m = symbols::load(&target, ctx)?;
            return Some(Target::File(m.path?, m.text, 0, 0));
        }
    }
    if doc.toks[i].kind != Tok::Ident {
        return None;
    }
    let (ps, pe) = (doc.path_start(i), doc.path_end(i));
    let word = doc.t(i);
    if pe > ps {
        let m = symbols::module(&doc, ctx, doc.t(ps))?;
        let path = m.path.clone()?;
        if i == ps {
            return Some(Target::File(path, m.text, 0, 0));
        }
        let inner = Doc::new(&m.text);
        let (_, n, _, _) = inner.definition(doc.t(ps + 2))?;
        let (s, e) = (inner.toks[n].start, inner.toks[n].end);
        return Some(Target::File(path, m.text, s, e));
    }
    if let Some((_, n, _, _)) = doc.definition(word) {
        return Some(Target::Here(doc.toks[n].start, doc.toks[n].end));
    }
    if let Some(m) = symbols::module(&doc, ctx, word) {
        return Some(Target::File(m.path?, m.text, 0, 0));
    }
    // A key of an enclosing block, declared in it.
    let cur = doc.cursor(doc.toks[i].start);
    cur.frames
        .iter()
        .rev()
        .find_map(|f| match (&f.kind, f.open) {
            (FrameKind::Block { .. }, Some(open)) => {
                let k = doc.key_in_block(open, word)?;
                (k != i).then(|| Target::Here(doc.toks[k].start, doc.toks[k].end))
            }
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn definitions_here_in_imports_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let lib = "// Shared.\nlet lr = 0.1\n";
        std::fs::write(dir.path().join("lib.lrx"), lib).unwrap();
        let main = dir.path().join("main.lrx");
        let text = "import paper\nimport \"lib.lrx\" as common\nlet base = 1\n\
                    train {\n  rule in paper.rules\n  lr = common.lr * base\n  batch = 1\n  where rule in [sgdm]\n}\n";
        let read = |p: &Path| std::fs::read_to_string(p).ok();
        let ctx = Ctx {
            path: Some(&main),
            read: &read,
        };
        let at = |needle: &str| text.find(needle).unwrap() + 1;
        assert_eq!(
            definition(ctx, text, at("base\n")),
            Some(Target::Here(
                text.find("base").unwrap(),
                text.find("base").unwrap() + 4
            ))
        );
        let Some(Target::File(p, t, s, e)) = definition(ctx, text, at("lr *")) else {
            panic!()
        };
        assert_eq!((p, &t[s..e]), (dir.path().join("lib.lrx"), "lr"));
        let Some(Target::File(p, t, s, e)) = definition(ctx, text, at("rules")) else {
            panic!()
        };
        assert_eq!(&t[s..e], "rules");
        assert!(p.ends_with("paper.lrx"));
        let Some(Target::File(p, ..)) = definition(ctx, text, at("\"lib.lrx\"")) else {
            panic!()
        };
        assert_eq!(p, dir.path().join("lib.lrx"));
        // `rule` in the condition: the axis that declares it.
        let key = text.find("rule in paper").unwrap();
        assert_eq!(
            definition(ctx, text, at("rule in [")),
            Some(Target::Here(key, key + 4))
        );
        assert_eq!(definition(ctx, text, at("sgdm")), None);
    }
}
