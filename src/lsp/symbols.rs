//! Names across files: the modules a document imports (stdlib modules and local files, the
//! latter read from the editor's open buffers first), the definitions in them, and the builtin
//! a call ends up at (`paper.knet4_lrn(...)` → `knet4`).

use super::scan::{Doc, ImportOf, TopItem};
use crate::registry::{self, Builtin};
use std::path::{Path, PathBuf};

/// Reads a file: the editor's unsaved text when the file is open, the disk otherwise.
pub(crate) type Reader<'a> = &'a dyn Fn(&Path) -> Option<String>;

/// The document a request is about: where it lives and how to read the files it imports.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub path: Option<&'a Path>,
    pub read: Reader<'a>,
}

impl Ctx<'_> {
    /// The directory imports are relative to.
    pub(crate) fn base(&self) -> PathBuf {
        self.path
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }
}

/// An imported module: its text and where it lives (for a stdlib module, the copy that
/// [`stdlib_file`] writes, so an editor can open it).
pub(crate) struct Module {
    pub name: String,
    pub path: Option<PathBuf>,
    pub text: String,
}

/// The module a document imports under `alias`, read.
pub(crate) fn module(doc: &Doc, ctx: Ctx, alias: &str) -> Option<Module> {
    doc.items().into_iter().find_map(|it| match it {
        TopItem::Import {
            target, alias: a, ..
        } if a == alias => load(&target, ctx),
        _ => None,
    })
}

/// Reads an import target.
pub(crate) fn load(target: &ImportOf, ctx: Ctx) -> Option<Module> {
    match target {
        ImportOf::Stdlib(n) => Some(Module {
            name: format!("stdlib module `{n}`"),
            path: stdlib_file(n),
            text: crate::stdlib::get(n)?.to_string(),
        }),
        ImportOf::File(p) => {
            let path = ctx.base().join(p);
            let text = (ctx.read)(&path)?;
            Some(Module {
                name: format!("`{p}`"),
                path: Some(path),
                text,
            })
        }
    }
}

/// A stdlib module's text in a file (written once per version and content, under the temp
/// directory), so that go-to-definition can open the presets lrx resolves against.
pub(crate) fn stdlib_file(name: &str) -> Option<PathBuf> {
    static WRITTEN: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut written = WRITTEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = written.iter().find(|(n, _)| n == name) {
        return Some(p.clone());
    }
    let p = write_stdlib_file(name)?;
    written.push((name.to_string(), p.clone()));
    Some(p)
}

fn write_stdlib_file(name: &str) -> Option<PathBuf> {
    let text = crate::stdlib::get(name)?;
    let hash = crate::value::hex(&<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()))[..12]
        .to_string();
    let dir = std::env::temp_dir().join(format!("lrx-stdlib-{}-{hash}", crate::stdlib::VERSION));
    let path = dir.join(format!("{name}.lrx"));
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
        std::fs::create_dir_all(&dir).ok()?;
        // Written aside and renamed, so that two servers never see half a file.
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).ok()?;
        std::fs::rename(&tmp, &path).ok()?;
    }
    Some(path)
}

/// The builtin a call of `callee` (a name or dotted path) in `doc` binds against: the builtin
/// of that name, or the one a preset's value calls, followed through definitions and imports.
pub(crate) fn callee_builtin(doc: &Doc, ctx: Ctx, callee: &str) -> Option<&'static Builtin> {
    resolve(doc, ctx, callee, 0)
}

fn resolve(doc: &Doc, ctx: Ctx, callee: &str, depth: usize) -> Option<&'static Builtin> {
    if depth > 8 {
        return None;
    }
    if let Some((alias, rest)) = callee.split_once('.') {
        let m = module(doc, ctx, alias)?;
        let inner = Doc::new(&m.text);
        let ctx = Ctx {
            path: m.path.as_deref(),
            read: ctx.read,
        };
        return resolve(&inner, ctx, rest, depth + 1);
    }
    if let Some(b) = registry::builtin(callee) {
        return Some(b);
    }
    let (_, name, _, _) = doc.definition(callee)?;
    let next = doc.def_callee(name)?;
    resolve(doc, ctx, &next, depth + 1)
}

/// A definition shown in a hover: its code, the comment above it, and where it comes from.
pub(crate) fn definition_markdown(doc: &Doc, name: &str, from: Option<&str>) -> Option<String> {
    let (_, _, start, end) = doc.definition(name)?;
    Some(item_markdown(doc, start, end, from))
}

/// [`definition_markdown`] of the item at bytes `start..end`.
pub(crate) fn item_markdown(doc: &Doc, start: usize, end: usize, from: Option<&str>) -> String {
    let code: Vec<&str> = doc.text[start..end].trim_end().lines().collect();
    let shown = if code.len() > 16 {
        format!("{}\n…", code[..16].join("\n"))
    } else {
        code.join("\n")
    };
    let mut s = format!("```lrx\n{shown}\n```\n");
    let comment = doc.comment_above(start);
    if !comment.is_empty() {
        s.push_str(&format!("\n{comment}\n"));
    }
    if let Some(from) = from {
        s.push_str(&format!("\nDefined in {from}.\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_files(_: &Path) -> Option<String> {
        None
    }

    #[test]
    fn presets_resolve_to_their_builtins() {
        let text = "import paper\narch mine = paper.knet4_lrn(width = 0.5)\n";
        let doc = Doc::new(text);
        let ctx = Ctx {
            path: None,
            read: &no_files,
        };
        assert_eq!(
            callee_builtin(&doc, ctx, "paper.knet4_lrn").unwrap().name,
            "knet4"
        );
        assert_eq!(callee_builtin(&doc, ctx, "mine").unwrap().name, "knet4");
        assert_eq!(callee_builtin(&doc, ctx, "sgdm").unwrap().name, "sgdm");
        assert!(callee_builtin(&doc, ctx, "nothing").is_none());
        let p = stdlib_file("paper").unwrap();
        assert_eq!(
            std::fs::read_to_string(p).unwrap(),
            crate::stdlib::get("paper").unwrap()
        );
    }
}
