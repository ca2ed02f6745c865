//! `lrx lsp`: a language server for `.lrx` specs over stdio (rust-analyzer's `lsp-server`
//! transport, synchronous, no async runtime). It gives the checker's diagnostics as the spec is
//! typed (the unsaved text, with imports resolved relative to the document), hover
//! documentation of builtins, parameters, block keys and definitions, completion, go to
//! definition, and formatting (`lrx fmt`'s layout). It is part of the front end: nothing here
//! reaches libtorch. docs/editors.md describes it and the editor set-up.
//!
//! The modules: [`server`] (the protocol loop and the open documents), [`diagnostics`],
//! [`hover`], [`complete`], [`definition`], and what they share: [`scan`] (a forgiving
//! tokenizer that finds what encloses a cursor in text that does not parse), [`symbols`]
//! (imports, definitions, presets → builtins), [`know`] (the registry and the reference's key
//! tables) and [`position`] (byte offsets ↔ UTF-16 positions, paths ↔ URIs).

pub mod complete;
pub mod definition;
pub mod diagnostics;
pub mod hover;
pub mod know;
pub mod position;
pub mod scan;
pub mod server;
pub mod symbols;

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
