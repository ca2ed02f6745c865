//! Loading: a file's definitions, imports (stdlib modules and local files, with import cycles
//! reported) and, for the main file, its blocks.

use super::{Def, DefBody, Eval, Module, Stdlib};
use crate::diag::{Diag, codes, suggest};
use crate::source::{SourceId, Span, Spanned};
use crate::syntax::ast::*;
use indexmap::IndexMap;
use std::path::PathBuf;

impl Eval<'_> {
    /// Loads a file and, recursively, its imports. Returns the module index.
    pub(crate) fn load(
        &mut self,
        source: SourceId,
        stdlib: Stdlib,
        stack: &mut Vec<(SourceId, Option<Span>)>,
        main: bool,
    ) -> Option<usize> {
        let file = match crate::syntax::parse_source(self.sources, source) {
            Ok(f) => f,
            Err(d) => {
                self.err(d);
                return None;
            }
        };
        let idx = self.modules.len();
        self.modules.push(Module {
            source: Some(source),
            ..Module::default()
        });
        let mut defs: IndexMap<String, Def> = IndexMap::new();
        let mut imports = IndexMap::new();
        let mut blocks = Vec::new();
        for item in file.items {
            match item {
                Item::Import(imp) => {
                    let alias = match (&imp.alias, &imp.target.node) {
                        (Some(a), _) => a.node.clone(),
                        (None, ImportTarget::Stdlib(n)) => n.clone(),
                        (None, ImportTarget::File(p)) => std::path::Path::new(p)
                            .file_stem()
                            .map(|s| s.to_string_lossy().to_string())
                            .unwrap_or_default(),
                    };
                    if let Some((_, first)) = imports.get(&alias) {
                        let first: &Span = first;
                        self.err(
                            Diag::error(codes::DUPLICATE, format!("`{alias}` is imported twice"))
                                .at(imp.span, "imported again here")
                                .related(*first, "first imported here")
                                .help("give one of them another name with `as`"),
                        );
                        continue;
                    }
                    if let Some(m) = self.import(source, &imp, stdlib, stack) {
                        imports.insert(alias, (m, imp.span));
                    }
                }
                Item::Definition(d) => {
                    let name = d.name.clone();
                    let def = Def { name: name.clone(), body: DefBody::Value { kind: d.kind, expr: d.value } };
                    self.add_def(&mut defs, def);
                }
                Item::Block(b) if b.kind.node == "observables" => match &b.head {
                    Some(h) if h.node.len() == 1 => {
                        let name = Spanned::new(h.node[0].clone(), h.span);
                        self.add_def(&mut defs, Def { name, body: DefBody::Observables(b) });
                    }
                    _ => self.err(
                        Diag::error(codes::MISSING_KEY, "an `observables` block needs a name")
                            .at(b.kind.span, "no name")
                            .help("write `observables my_set { ... }` and use it as `observe my_set { ... }`"),
                    ),
                },
                Item::Block(b) => {
                    if main {
                        blocks.push(b);
                    } else {
                        self.err(
                            Diag::error(
                                codes::UNKNOWN_KIND,
                                format!("an imported file cannot contain a `{}` block", b.kind.node),
                            )
                            .at(b.kind.span, "only definitions are allowed in an imported file")
                            .help("move this block into the study file that imports this one"),
                        );
                    }
                }
            }
        }
        let m = &mut self.modules[idx];
        m.defs = defs;
        m.imports = imports;
        m.blocks = blocks;
        Some(idx)
    }

    fn add_def(&mut self, defs: &mut IndexMap<String, Def>, def: Def) {
        if let Some(first) = defs.get(&def.name.node) {
            self.err(
                Diag::error(
                    codes::DUPLICATE,
                    format!("`{}` is defined twice", def.name.node),
                )
                .at(def.name.span, "defined again here")
                .related(first.name.span, "first defined here")
                .help("rename one of the definitions"),
            );
            return;
        }
        defs.insert(def.name.node.clone(), def);
    }

    fn import(
        &mut self,
        from: SourceId,
        imp: &Import,
        stdlib: Stdlib,
        stack: &mut Vec<(SourceId, Option<Span>)>,
    ) -> Option<usize> {
        let (name, path, text) = match &imp.target.node {
            ImportTarget::Stdlib(n) => match stdlib(n) {
                Some(t) => (crate::stdlib::source_name(n), None, t.as_bytes().to_vec()),
                None => {
                    let names: Vec<&str> = crate::stdlib::MODULES.iter().map(|(n, _)| *n).collect();
                    self.err(
                        Diag::error(
                            codes::IMPORT_NOT_FOUND,
                            format!("there is no stdlib module `{n}`"),
                        )
                        .at(imp.target.span, "not in the standard library")
                        .help(format!(
                            "{}; to import a local file write `import \"{n}.lrx\"`",
                            suggest(n, &names)
                        )),
                    );
                    return None;
                }
            },
            ImportTarget::File(p) => {
                let base = self
                    .sources
                    .get(from)
                    .path
                    .as_ref()
                    .and_then(|f| f.parent().map(|d| d.to_path_buf()))
                    .unwrap_or_else(|| PathBuf::from("."));
                let full = base.join(p);
                let canon = full.canonicalize().unwrap_or(full.clone());
                match std::fs::read(&canon) {
                    // Named as written (relative stays relative, so messages do not depend
                    // on where the repository lives); cycles compare canonical paths.
                    Ok(t) => (full.display().to_string(), Some(full.clone()), t),
                    Err(e) => {
                        self.err(
                            Diag::error(
                                codes::IMPORT_NOT_FOUND,
                                format!("cannot read `{}`: {e}", full.display()),
                            )
                            .at(imp.target.span, "imported here")
                            .help("import paths are relative to the importing file"),
                        );
                        return None;
                    }
                }
            }
        };
        // Cycle: the same file is already on the import stack.
        let existing = match &path {
            Some(p) => self
                .sources
                .find_path(&p.canonicalize().unwrap_or(p.clone())),
            None => self.sources.find_name(&name),
        };
        if let Some(id) = existing {
            if stack.iter().any(|(s, _)| *s == id) {
                let chain: Vec<String> = stack
                    .iter()
                    .skip_while(|(s, _)| *s != id)
                    .map(|(s, _)| self.sources.get(*s).name.clone())
                    .chain(std::iter::once(name.clone()))
                    .collect();
                self.err(
                    Diag::error(
                        codes::IMPORT_CYCLE,
                        format!("import cycle: {}", chain.join(" → ")),
                    )
                    .at(imp.span, "this import closes the cycle")
                    .help("move the shared definitions into a third file that both import"),
                );
                return None;
            }
            if let Some(m) = self.modules.iter().position(|m| m.source == Some(id)) {
                return Some(m);
            }
        }
        let id = self.sources.add_bytes(name, path, text);
        stack.push((id, Some(imp.span)));
        let m = self.load(id, stdlib, stack, false);
        stack.pop();
        m
    }
}
