//! The protocol loop: initialisation, the open documents (full-text sync), requests and
//! notifications, shutdown and exit. Diagnostics are published when the client has nothing
//! more queued, so a burst of edits is checked once, on its last text.

use super::definition::{Target, definition};
use super::position::{LineIndex, normalize, uri_of, uri_to_path};
use super::symbols::Ctx;
use super::{complete, diagnostics, hover};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::{
    CompletionOptions, CompletionParams, CompletionResponse, DidChangeTextDocumentParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DidSaveTextDocumentParams,
    DocumentFormattingParams, GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents,
    HoverParams, HoverProviderCapability, InitializeResult, Location, MarkupContent, MarkupKind,
    OneOf, PublishDiagnosticsParams, SaveOptions, ServerCapabilities, ServerInfo,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, TextEdit, Uri,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// An open document.
struct Document {
    uri: Uri,
    path: Option<PathBuf>,
    text: String,
    version: i32,
}

/// The server's state: the open documents, and those whose diagnostics are out of date.
#[derive(Default)]
pub(crate) struct Server {
    docs: BTreeMap<String, Document>,
    dirty: BTreeSet<String>,
    /// Documents closed since the last publication: their diagnostics are cleared.
    closed: Vec<Uri>,
    shutdown: bool,
}

/// What the server offers.
pub(crate) fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::FULL),
                save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                    include_text: Some(false),
                })),
                ..TextDocumentSyncOptions::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), "(".into(), "[".into(), " ".into()]),
            ..CompletionOptions::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        ..ServerCapabilities::default()
    }
}

/// Serves one client on `conn` until `exit`; the exit code (see [`super::run_stdio`]).
pub(crate) fn serve(conn: &Connection) -> Result<i32, String> {
    let (id, _params) = conn.initialize_start().map_err(|e| e.to_string())?;
    let init = InitializeResult {
        capabilities: capabilities(),
        server_info: Some(ServerInfo {
            name: "lrx".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
    };
    let init = serde_json::to_value(init).unwrap_or_default();
    conn.initialize_finish(id, init)
        .map_err(|e| e.to_string())?;
    let mut server = Server::default();
    loop {
        let Ok(msg) = conn.receiver.recv() else {
            // The client went away without `exit`.
            return Ok(1);
        };
        match msg {
            Message::Request(req) => {
                let resp = server.request(req);
                send(conn, resp.into())?;
            }
            Message::Notification(n) if n.method == "exit" => {
                return Ok(if server.shutdown { 0 } else { 1 });
            }
            Message::Notification(n) => server.notification(n),
            Message::Response(_) => {}
        }
        if conn.receiver.is_empty() {
            for params in server.publish() {
                let n = Notification::new("textDocument/publishDiagnostics".into(), params);
                send(conn, n.into())?;
            }
        }
    }
}

fn send(conn: &Connection, msg: Message) -> Result<(), String> {
    conn.sender
        .send(msg)
        .map_err(|_| "the connection to the client is closed".to_string())
}

fn params<P: serde::de::DeserializeOwned>(req: &Request) -> Result<P, Response> {
    serde_json::from_value(req.params.clone()).map_err(|e| {
        Response::new_err(
            req.id.clone(),
            ErrorCode::InvalidParams as i32,
            format!("invalid parameters of `{}`: {e}", req.method),
        )
    })
}

fn ok<R: serde::Serialize>(id: RequestId, r: R) -> Response {
    Response::new_ok(id, r)
}

impl Server {
    /// Answers a request. A request that fails (bad parameters, or a bug caught as a panic)
    /// gets an error response; the server keeps going.
    pub(crate) fn request(&mut self, req: Request) -> Response {
        if req.method == "shutdown" {
            self.shutdown = true;
            return ok(req.id, ());
        }
        if self.shutdown {
            return Response::new_err(
                req.id,
                ErrorCode::InvalidRequest as i32,
                "the server is shutting down".into(),
            );
        }
        let id = req.id.clone();
        let method = req.method.clone();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.dispatch(&req))) {
            Ok(Ok(r)) | Ok(Err(r)) => r,
            Err(_) => Response::new_err(
                id,
                ErrorCode::InternalError as i32,
                format!("lrx lsp failed on `{method}` (a bug: please report it)"),
            ),
        }
    }

    fn dispatch(&self, req: &Request) -> Result<Response, Response> {
        let id = req.id.clone();
        Ok(match req.method.as_str() {
            "textDocument/hover" => {
                let p: HoverParams = params(req)?;
                let tp = p.text_document_position_params;
                ok(
                    id,
                    self.at(&tp.text_document.uri, tp.position, |ctx, text, at, ix| {
                        let (md, s, e) = hover::hover(ctx, text, at)?;
                        Some(Hover {
                            contents: HoverContents::Markup(MarkupContent {
                                kind: MarkupKind::Markdown,
                                value: md,
                            }),
                            range: Some(ix.range(s, e)),
                        })
                    }),
                )
            }
            "textDocument/completion" => {
                let p: CompletionParams = params(req)?;
                let tp = p.text_document_position;
                let items = self.at(&tp.text_document.uri, tp.position, |ctx, text, at, _| {
                    Some(complete::complete(ctx, text, at))
                });
                ok(id, items.map(CompletionResponse::Array))
            }
            "textDocument/definition" => {
                let p: GotoDefinitionParams = params(req)?;
                let tp = p.text_document_position_params;
                let uri = tp.text_document.uri.clone();
                let loc = self.at(&uri, tp.position, |ctx, text, at, ix| {
                    Some(match definition(ctx, text, at)? {
                        Target::Here(s, e) => Location::new(uri.clone(), ix.range(s, e)),
                        Target::File(path, text, s, e) => {
                            Location::new(uri_of(&path)?, LineIndex::new(&text).range(s, e))
                        }
                    })
                });
                ok(id, loc.map(GotoDefinitionResponse::Scalar))
            }
            "textDocument/formatting" => {
                let p: DocumentFormattingParams = params(req)?;
                ok(id, self.format(&p.text_document.uri))
            }
            _ => Response::new_err(
                id,
                ErrorCode::MethodNotFound as i32,
                format!("lrx lsp does not handle `{}`", req.method),
            ),
        })
    }

    /// Runs `f` on an open document at a position: (how to read imports, the text, the byte
    /// offset, the line index). `None` when the document is not open.
    fn at<T>(
        &self,
        uri: &Uri,
        pos: lsp_types::Position,
        f: impl FnOnce(Ctx, &str, usize, &LineIndex) -> Option<T>,
    ) -> Option<T> {
        let doc = self.docs.get(uri.as_str())?;
        let ix = LineIndex::new(&doc.text);
        let read = |p: &Path| self.read(p);
        let ctx = Ctx {
            path: doc.path.as_deref(),
            read: &read,
        };
        f(ctx, &doc.text, ix.offset(pos), &ix)
    }

    /// A file's text: the open document's when it is open (unsaved edits included), else the
    /// disk's.
    fn read(&self, path: &Path) -> Option<String> {
        let want = normalize(path);
        self.docs
            .values()
            .find(|d| d.path.as_deref().is_some_and(|p| normalize(p) == want))
            .map(|d| d.text.clone())
            .or_else(|| std::fs::read_to_string(path).ok())
    }

    /// The whole document in `lrx fmt`'s layout (no edit when it does not parse or is
    /// already formatted).
    fn format(&self, uri: &Uri) -> Option<Vec<TextEdit>> {
        let doc = self.docs.get(uri.as_str())?;
        let mut sources = crate::source::SourceMap::new();
        let id = sources.add("<buffer>", None, doc.text.clone());
        let formatted = crate::syntax::fmt::format_file(&sources, id).ok()?;
        if formatted == doc.text {
            return Some(Vec::new());
        }
        let ix = LineIndex::new(&doc.text);
        Some(vec![TextEdit::new(ix.range(0, doc.text.len()), formatted)])
    }

    /// Applies a notification (document sync; others are ignored).
    pub(crate) fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            "textDocument/didOpen" => {
                if let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) {
                    let d = p.text_document;
                    let key = d.uri.as_str().to_string();
                    self.docs.insert(
                        key.clone(),
                        Document {
                            path: uri_to_path(d.uri.as_str()),
                            uri: d.uri,
                            text: d.text,
                            version: d.version,
                        },
                    );
                    self.dirty.insert(key);
                }
            }
            "textDocument/didChange" => {
                if let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) {
                    let key = p.text_document.uri.as_str().to_string();
                    // Full sync: the last change holds the whole text.
                    let (Some(doc), Some(change)) = (
                        self.docs.get_mut(&key),
                        p.content_changes.into_iter().last(),
                    ) else {
                        return;
                    };
                    doc.text = change.text;
                    doc.version = p.text_document.version;
                    let name = doc.path.as_deref().and_then(Path::file_name);
                    let name = name.map(|n| n.to_string_lossy().into_owned());
                    self.dirty.insert(key);
                    // The open files that may import this one see its new text.
                    if let Some(name) = name {
                        for (k, d) in &self.docs {
                            if d.text.contains(&name) {
                                self.dirty.insert(k.clone());
                            }
                        }
                    }
                }
            }
            // A saved file may be imported by the others: check them all again.
            "textDocument/didSave" if DidSaveTextDocumentParams::deserialize(&n.params).is_ok() => {
                self.dirty.extend(self.docs.keys().cloned());
            }
            "textDocument/didClose" => {
                if let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) {
                    let key = p.text_document.uri.as_str().to_string();
                    if self.docs.remove(&key).is_some() {
                        self.dirty.remove(&key);
                        self.closed.push(p.text_document.uri);
                    }
                }
            }
            _ => {}
        }
    }

    /// The diagnostics of every document whose diagnostics are out of date (an empty list
    /// for a closed one).
    pub(crate) fn publish(&mut self) -> Vec<PublishDiagnosticsParams> {
        let mut out: Vec<PublishDiagnosticsParams> = std::mem::take(&mut self.closed)
            .into_iter()
            .map(|uri| PublishDiagnosticsParams::new(uri, Vec::new(), None))
            .collect();
        for key in std::mem::take(&mut self.dirty) {
            let Some(doc) = self.docs.get(&key) else {
                continue;
            };
            let diags = diagnostics::check_text(doc.path.as_deref(), &doc.text);
            out.push(PublishDiagnosticsParams::new(
                doc.uri.clone(),
                diags,
                Some(doc.version),
            ));
        }
        out
    }
}
