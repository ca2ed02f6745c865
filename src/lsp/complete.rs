//! `textDocument/completion`: what can be written at the cursor, from its context: item
//! keywords at the top level, the keys and nested blocks of the enclosing block, the
//! parameters of the enclosing call, the values a key or parameter takes (builtins of the
//! right kind, fixed names, factor names in `where` conditions, indices, `targets` and
//! `holdout`), units after a number, the definitions of an imported module after `alias.`,
//! and stdlib modules after `import`.

use super::know::{self, Values};
use super::scan::{Cursor, Doc, Frame, FrameKind, Rel, Tok, TopItem};
use super::symbols::{self, Ctx};
use crate::check::eval::HELPERS;
use crate::ir::Factor;
use crate::registry::{self, Kind};
use lsp_types::{CompletionItem, CompletionItemKind, Documentation, MarkupContent, MarkupKind};

/// The completions at byte `offset`.
pub(crate) fn complete(ctx: Ctx, text: &str, offset: usize) -> Vec<CompletionItem> {
    let doc = Doc::new(text);
    let cur = doc.cursor(offset);
    if cur.in_comment || cur.in_string {
        return Vec::new();
    }
    let mut out = Items::default();
    let prev = cur.prev.map(|p| doc.t(p));
    // `alias.`: the definitions of a module; `factor.`: attributes.
    if let Some((alias, _)) = cur.prefix.rsplit_once('.') {
        after_dot(&mut out, &doc, ctx, alias);
        return out.0;
    }
    if prev == Some("import") {
        for (n, _) in crate::stdlib::MODULES {
            out.add(n, CompletionItemKind::MODULE, "stdlib module", None);
        }
        return out.0;
    }
    // A unit: after a number on the same line.
    if let Some(p) = cur.prev
        && doc.toks[p].kind == Tok::Number
        && !cur.line_start
    {
        for (u, d) in know::UNITS {
            out.add(u, CompletionItemKind::UNIT, "unit", Some(d.to_string()));
        }
        return out.0;
    }
    let Some(frame) = cur.frames.last() else {
        return out.0;
    };
    let entry_start = cur.line_start || matches!(prev, Some("{" | ","));
    match &frame.kind {
        FrameKind::Top => top_level(&mut out, &doc, ctx, &cur, frame, prev),
        FrameKind::Block { kind, .. } => {
            in_block(&mut out, &doc, ctx, frame, kind, prev, entry_start)
        }
        FrameKind::Call { callee } => in_call(&mut out, &doc, ctx, frame, callee, prev),
        FrameKind::List { index: true } => out.values(&doc, ctx, &[Values::Factors]),
        FrameKind::List { index: false } | FrameKind::Paren | FrameKind::Map => {
            in_value(&mut out, &doc, ctx, &cur)
        }
    }
    out.0
}

/// After `alias.`: the definitions of the imported module `alias`; after `factor.`, the
/// factor's attributes.
fn after_dot(out: &mut Items, doc: &Doc, ctx: Ctx, alias: &str) {
    if let Some(m) = symbols::module(doc, ctx, alias) {
        let inner = Doc::new(&m.text);
        for it in inner.items() {
            if let TopItem::Definition {
                kind,
                name,
                start,
                end,
            } = it
            {
                let md = symbols::item_markdown(&inner, start, end, None);
                out.add(
                    inner.t(name),
                    CompletionItemKind::VARIABLE,
                    inner.t(kind),
                    Some(md),
                );
            }
        }
    } else if Factor::parse(alias).is_some() {
        for a in ["family", "builtin", "label"] {
            out.add(a, CompletionItemKind::FIELD, "attribute", None);
        }
    }
}

/// At the top level: item keywords at the start of a line, else the values of the definition
/// being written.
fn top_level(
    out: &mut Items,
    doc: &Doc,
    ctx: Ctx,
    cur: &Cursor,
    frame: &Frame,
    prev: Option<&str>,
) {
    if cur.line_start || cur.prev.is_none() {
        out.add(
            "import",
            CompletionItemKind::KEYWORD,
            "import a module",
            None,
        );
        for k in know::DEF_KINDS {
            out.add(
                k,
                CompletionItemKind::KEYWORD,
                "definition",
                know::keyword_doc(k),
            );
        }
        for b in know::BLOCKS {
            out.add(b, CompletionItemKind::KEYWORD, "block", know::block_doc(b));
        }
    } else if let Some((kind, Rel::Set)) = &frame.key
        && matches!(prev, Some("=") | Some("[") | Some(","))
    {
        match know::def_kind(kind) {
            Some(k) => out.values(doc, ctx, &[Values::Kind(k)]),
            None => out.values(doc, ctx, &[]),
        }
    }
}

/// In a block `kind`: its keys and nested blocks at the start of an entry, else the values of
/// the entry's key.
fn in_block(
    out: &mut Items,
    doc: &Doc,
    ctx: Ctx,
    frame: &Frame,
    kind: &str,
    prev: Option<&str>,
    entry_start: bool,
) {
    if entry_start && !matches!(frame.key, Some((_, Rel::Where))) || prev == Some("{") {
        if let Some((keys, nested)) = crate::check::study::keys_of_block(kind) {
            for k in keys {
                out.add(
                    k,
                    CompletionItemKind::PROPERTY,
                    "key",
                    know::key_doc(kind, k),
                );
            }
            for n in nested {
                out.add(
                    n,
                    CompletionItemKind::MODULE,
                    "block",
                    know::key_doc(kind, n),
                );
            }
            if matches!(kind, "train" | "realism") {
                out.add(
                    "where",
                    CompletionItemKind::KEYWORD,
                    "filter",
                    know::keyword_doc("where"),
                );
            }
        }
    } else if let Some((key, _)) = &frame.key {
        out.values(doc, ctx, &know::key_values(kind, key));
    }
}

/// In the arguments of a call of `callee`: its parameters at the start of an argument, else
/// the values of the parameter being set.
fn in_call(out: &mut Items, doc: &Doc, ctx: Ctx, frame: &Frame, callee: &str, prev: Option<&str>) {
    if matches!(callee, "pairs" | "curriculum") {
        out.values(doc, ctx, &[Values::Factors]);
    } else if matches!(prev, Some("(" | ",")) {
        if let Some(b) = symbols::callee_builtin(doc, ctx, callee) {
            for p in b.params() {
                let mut item = item(
                    p.name,
                    CompletionItemKind::FIELD,
                    &p.ty.describe(),
                    Some(know::param_markdown(b, p)),
                );
                item.insert_text = Some(format!("{} = ", p.name));
                out.0.push(item);
            }
        }
        out.values(doc, ctx, &[]);
    } else if let Some((param, _)) = &frame.key
        && let Some(b) = symbols::callee_builtin(doc, ctx, callee)
        && let Some(p) = b.param(param)
    {
        for w in know::ty_words(&p.ty) {
            out.add(w, CompletionItemKind::ENUM_MEMBER, &p.ty.describe(), None);
        }
    }
}

/// In a list, parentheses or a table: the values of the nearest key outside (`arch in [`,
/// `models = [`, `where (`).
fn in_value(out: &mut Items, doc: &Doc, ctx: Ctx, cur: &Cursor) {
    // The value of the nearest key outside (`arch in [`, `models = [`, `where (`).
    let outer = cur
        .frames
        .iter()
        .rev()
        .find_map(|f| match (&f.kind, &f.key) {
            (FrameKind::List { index: true }, _) => Some(vec![Values::Factors]),
            (FrameKind::Block { kind, .. }, Some((k, _))) => Some(know::key_values(kind, k)),
            (FrameKind::Call { callee }, Some((param, _))) => {
                let b = symbols::callee_builtin(doc, ctx, callee)?;
                Some(vec![Values::Words(know::ty_words(&b.param(param)?.ty))])
            }
            (FrameKind::Top, Some((k, Rel::Set))) => {
                Some(know::def_kind(k).map(Values::Kind).into_iter().collect())
            }
            _ => None,
        });
    out.values(doc, ctx, &outer.unwrap_or_default());
}

fn item(
    label: &str,
    kind: CompletionItemKind,
    detail: &str,
    doc: Option<String>,
) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: Some(detail.to_string()),
        documentation: doc.map(|d| {
            Documentation::MarkupContent(MarkupContent {
                kind: MarkupKind::Markdown,
                value: d,
            })
        }),
        ..CompletionItem::default()
    }
}

/// Completion items, each label once.
#[derive(Default)]
struct Items(Vec<CompletionItem>);

impl Items {
    fn add(&mut self, label: &str, kind: CompletionItemKind, detail: &str, doc: Option<String>) {
        if !self.0.iter().any(|i| i.label == label) {
            self.0.push(item(label, kind, detail, doc));
        }
    }

    fn builtins(&mut self, kind: Kind) {
        for b in know::builtins_of(kind) {
            self.add(
                b.name,
                CompletionItemKind::FUNCTION,
                b.kind.name(),
                Some(know::builtin_markdown(b)),
            );
        }
    }

    /// The values described by `what`, then what any value may be: the document's
    /// definitions and imported modules (and, when nothing more precise is known, every
    /// builtin and helper).
    fn values(&mut self, doc: &Doc, ctx: Ctx, what: &[Values]) {
        for v in what {
            match v {
                Values::Kind(k) => self.builtins(*k),
                Values::Words(w) => {
                    for w in *w {
                        self.add(w, CompletionItemKind::ENUM_MEMBER, "name", None);
                    }
                }
                Values::Factors => {
                    for f in Factor::NAMES {
                        self.add(
                            f,
                            CompletionItemKind::ENUM_MEMBER,
                            "factor",
                            know::factor_doc(f),
                        );
                    }
                }
                Values::Helpers(h) => {
                    for h in *h {
                        self.add(
                            h,
                            CompletionItemKind::FUNCTION,
                            "helper",
                            know::helper_doc(h).map(str::to_string),
                        );
                    }
                }
            }
        }
        let kind = what.iter().find_map(|v| match v {
            Values::Kind(k) => Some(*k),
            _ => None,
        });
        for it in doc.items() {
            match it {
                TopItem::Definition {
                    kind: k,
                    name,
                    start,
                    end,
                } => {
                    let def = doc.t(k);
                    // A definition of another kind cannot be the value of a typed key.
                    if kind.is_some_and(|want| def != "let" && know::def_kind(def) != Some(want)) {
                        continue;
                    }
                    let md = symbols::item_markdown(doc, start, end, None);
                    self.add(doc.t(name), CompletionItemKind::VARIABLE, def, Some(md));
                }
                TopItem::Import { alias, .. } => {
                    self.add(&alias, CompletionItemKind::MODULE, "module", None);
                }
                TopItem::Block => {}
            }
        }
        let _ = ctx;
        if what.is_empty() {
            for (h, d) in HELPERS {
                self.add(
                    h,
                    CompletionItemKind::FUNCTION,
                    "helper",
                    Some(d.to_string()),
                );
            }
            for b in registry::BUILTINS.iter().copied() {
                self.add(
                    b.name,
                    CompletionItemKind::FUNCTION,
                    b.kind.name(),
                    Some(know::builtin_markdown(b)),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn no_files(_: &Path) -> Option<String> {
        None
    }

    /// The labels completed where `|` is.
    fn labels(text: &str) -> Vec<String> {
        let at = text.find('|').unwrap();
        let text = text.replace('|', "");
        let ctx = Ctx {
            path: None,
            read: &no_files,
        };
        complete(ctx, &text, at)
            .into_iter()
            .map(|i| i.label)
            .collect()
    }

    fn has(text: &str, want: &[&str], not: &[&str]) {
        let got = labels(text);
        for w in want {
            assert!(got.iter().any(|g| g == w), "{text}: no `{w}` in {got:?}");
        }
        for n in not {
            assert!(!got.iter().any(|g| g == n), "{text}: `{n}` in {got:?}");
        }
    }

    #[test]
    fn completion_contexts() {
        // Top level.
        has("|", &["import", "let", "task", "train", "study"], &["sgdm"]);
        has("import |", &["paper"], &["let"]);
        // Keys of a block, nested blocks.
        has(
            "train {\n  |\n}",
            &["task", "arch", "epochs", "where"],
            &["output"],
        );
        has(
            "classify {\n  average = true\n  tr|\n}",
            &["targets", "trajectory"],
            &["epochs"],
        );
        has("observe {\n  |", &["stimuli", "weight"], &[]);
        // Values of keys.
        has("train {\n  arch in [|", &["knet4", "resnet18"], &["sgdm"]);
        has("train {\n  rule = |", &["sgdm", "adam"], &["knet4"]);
        has("study s {\n  device = |\n}", &["cpu", "cuda"], &[]);
        has(
            "classify {\n  models = [random_forest(), |",
            &["linear_svm"],
            &["knet4"],
        );
        has("classify {\n  holdout in [|", &["arch", "curriculum"], &[]);
        // Factor names in conditions and indices.
        has("train {\n  where r|", &["rule", "batch"], &["task_seed"]);
        has("let t = {}\ntrain {\n  lr = t[|", &["rule", "arch"], &[]);
        // Parameters of a call, directly or through a preset, and their values.
        has(
            "task t = synthetic_images(|)",
            &["size", "classes", "objective"],
            &[],
        );
        has(
            "import paper\ntrain {\n  arch = paper.knet4_lrn(w|)",
            &["width", "lrn"],
            &[],
        );
        has("rule r = fa(optimizer = |)", &["sgdm", "adam"], &["knet4"]);
        // Units, module members, definitions.
        has(
            "train {\n  budget = 2 |",
            &["cpu_hours", "gpu_hours"],
            &["task"],
        );
        has(
            "import paper\ntrain {\n  rule in paper.|",
            &["rules", "sgdm", "lr_cifar"],
            &["import"],
        );
        has(
            "rule slow = sgdm(momentum = 0.5)\ntrain {\n  rule in [|",
            &["slow", "sgdm"],
            &[],
        );
        has(
            "task t = synthetic_images()\ntrain {\n  arch = |",
            &["knet4"],
            &["t"],
        );
        // Nothing in comments and strings.
        has("// train |", &[], &["task"]);
        has("study s { output = \"ru|", &[], &["task"]);
    }
}
