//! `lrx lsp`: a language server for `.lrx` specs over stdio (rust-analyzer's `lsp-server`
//! transport, synchronous, no async runtime). It gives the checker's diagnostics as the spec is
//! typed (the unsaved text, with imports resolved relative to the document), hover
//! documentation of builtins, parameters, block keys and definitions, completion, go to
//! definition, and formatting (`lrx fmt`'s layout). It is part of the front end: nothing here
//! reaches libtorch. docs/editors.md describes it and the editor set-up.
//!
//! The modules: `server` (the protocol loop and the open documents), `diagnostics`,
//! `hover`, `complete`, `definition`, and what they share: `scan` (what encloses a
//! cursor, in text that need not parse, on `token`'s forgiving tokenizer), `symbols`
//! (imports, definitions, presets → builtins), [`know`] (the registry and the reference's key
//! tables) and [`position`] (byte offsets ↔ UTF-16 positions, paths ↔ URIs).

pub(crate) mod complete;
pub(crate) mod definition;
pub(crate) mod diagnostics;
pub(crate) mod hover;
pub mod know;
pub mod position;
pub(crate) mod scan;
pub(crate) mod server;
pub(crate) mod symbols;
pub(crate) mod token;

/// Runs the language server on stdin/stdout until the client says `exit`. Returns the process
/// exit code: 0 after `shutdown` then `exit`, 1 when the client exits without `shutdown` or
/// the connection breaks (as the protocol asks).
pub fn run_stdio() -> i32 {
    let (connection, io) = lsp_server::Connection::stdio();
    let code = match server::serve(&connection) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error[lrx::lsp]: {e}");
            1
        }
    };
    // The writer thread ends when the last sender is gone.
    drop(connection);
    if let Err(e) = io.join() {
        eprintln!("error[lrx::lsp]: {e}");
        return 1;
    }
    code
}

#[cfg(test)]
mod tests {
    use super::symbols::Ctx;
    use std::path::{Path, PathBuf};

    /// Hover, completion and definition at every token of every spec and stdlib
    /// module, and of every prefix of one spec (text as it is typed): no panic, and hover
    /// finds something on most names.
    #[test]
    fn every_position_of_every_spec() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<PathBuf> = ["specs", "stdlib"]
            .iter()
            .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap())
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "lrx"))
            .collect();
        files.sort();
        assert!(files.len() >= 8, "{files:?}");
        let read = |p: &Path| std::fs::read_to_string(p).ok();
        let (mut names, mut hovered) = (0, 0);
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            let ctx = Ctx {
                path: Some(path),
                read: &read,
            };
            let doc = super::scan::Doc::new(&text);
            for t in &doc.toks {
                super::complete::complete(ctx, &text, t.end);
                super::definition::definition(ctx, &text, t.start);
                if t.kind == super::scan::Tok::Ident {
                    names += 1;
                    if super::hover::hover(ctx, &text, t.start + 1).is_some() {
                        hovered += 1;
                    }
                }
            }
        }
        // Plain uses of sweep keys and table keys (`sgdm:`) have nothing to show; nearly
        // everything else does.
        assert!(
            hovered * 10 >= names * 6,
            "hover on {hovered} of {names} names"
        );
        eprintln!("hover on {hovered} of {names} names");
        let text = std::fs::read_to_string(root.join("specs/quickstart.lrx")).unwrap();
        let ctx = Ctx {
            path: None,
            read: &read,
        };
        for end in (0..text.len())
            .step_by(7)
            .filter(|&e| text.is_char_boundary(e))
        {
            let typed = &text[..end];
            super::complete::complete(ctx, typed, end);
            super::hover::hover(ctx, typed, end);
        }
    }
}
