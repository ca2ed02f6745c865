//! `lrx lsp` driven as an editor drives it: LSP messages with Content-Length framing over the
//! stdin and stdout of the `lrx` binary.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// How long a test waits for one message before it fails (the server answers in
/// milliseconds; this only keeps a broken server from hanging the suite).
const WAIT: Duration = Duration::from_secs(60);

/// A client of one `lrx lsp` process.
pub struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Value>,
    next_id: i64,
    /// Notifications received while waiting for something else.
    pub notes: Vec<Value>,
}

/// Reads one framed message (`None` at the end of the stream).
fn read_message(r: &mut impl BufRead) -> Option<Value> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            len = v.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; len?];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

pub fn uri(path: &Path) -> String {
    lrx::lsp::position::path_to_uri(path)
}

impl Client {
    pub fn start() -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lrx"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start lrx lsp");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            while let Some(v) = read_message(&mut r) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Client {
            child,
            stdin,
            rx,
            next_id: 0,
            notes: Vec::new(),
        }
    }

    /// Sends raw bytes (for malformed input).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let w = self.stdin.as_mut().unwrap();
        w.write_all(bytes).unwrap();
        w.flush().unwrap();
    }

    pub fn send(&mut self, msg: &Value) {
        let body = msg.to_string();
        self.send_raw(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn recv(&mut self) -> Value {
        match self.rx.recv_timeout(WAIT) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => panic!("no message from lrx lsp in {WAIT:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("lrx lsp closed its output"),
        }
    }

    /// Sends a request and returns its response (`result` or `error`), keeping the
    /// notifications that come first.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let v = self.recv();
            if v.get("id") == Some(&json!(id)) {
                return v;
            }
            self.notes.push(v);
        }
    }

    /// The next diagnostics published for `uri` (kept notifications first).
    pub fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let is_for = |v: &Value| {
            v["method"] == "textDocument/publishDiagnostics" && v["params"]["uri"] == uri
        };
        if let Some(i) = self.notes.iter().position(is_for) {
            let v = self.notes.remove(i);
            return v["params"]["diagnostics"].as_array().unwrap().clone();
        }
        loop {
            let v = self.recv();
            if is_for(&v) {
                return v["params"]["diagnostics"].as_array().unwrap().clone();
            }
            self.notes.push(v);
        }
    }

    pub fn initialize(&mut self) -> Value {
        let r = self.request(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": {}}),
        );
        self.notify("initialized", json!({}));
        r
    }

    pub fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "lrx", "version": 1, "text": text}}),
        );
    }

    pub fn change(&mut self, uri: &str, version: i32, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version},
                   "contentChanges": [{"text": text}]}),
        );
    }

    /// A request at a position (`textDocument/hover`, `completion`, `definition`).
    pub fn at(&mut self, method: &str, uri: &str, line: usize, character: usize) -> Value {
        self.request(
            method,
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
        )
    }

    /// `shutdown` then `exit`; the exit code.
    pub fn shutdown(mut self) -> Option<i32> {
        let r = self.request("shutdown", Value::Null);
        assert!(r.get("error").is_none(), "{r}");
        self.notify("exit", Value::Null);
        self.wait()
    }

    pub fn wait(mut self) -> Option<i32> {
        drop(self.stdin.take());
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(start.elapsed() < WAIT, "lrx lsp did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// (line, character) of the first `needle` in `text` (+ `skip` characters), in UTF-16 units.
fn pos(text: &str, needle: &str, skip: usize) -> (usize, usize) {
    let at = text.find(needle).unwrap_or_else(|| panic!("no `{needle}`"));
    let line = text[..at].matches('\n').count();
    let start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    let col: usize = text[start..at].chars().map(char::len_utf16).sum();
    (line, col + skip)
}

fn labels(v: &Value) -> Vec<String> {
    let items = v["result"]
        .as_array()
        .or_else(|| v["result"]["items"].as_array())
        .unwrap_or_else(|| panic!("no completion items: {v}"));
    items
        .iter()
        .map(|i| i["label"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn lsp_session_diagnostics_hover_completion_definition() {
    let path = crate::root().join("specs/quickstart.lrx");
    let text = std::fs::read_to_string(&path).unwrap();
    let u = uri(&path);
    let mut c = Client::start();
    let init = c.initialize();
    let caps = &init["result"]["capabilities"];
    assert_eq!(caps["hoverProvider"], json!(true), "{init}");
    assert_eq!(caps["definitionProvider"], json!(true), "{init}");
    assert!(caps["completionProvider"].is_object(), "{init}");

    // A valid spec: no diagnostics.
    c.open(&u, &text);
    let d = c.diagnostics(&u);
    assert!(d.is_empty(), "quickstart.lrx: {d:?}");
    // It is formatted: formatting changes nothing.
    let f = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": u}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(f["result"], json!([]), "{f}");

    // Hover: a builtin (the registry's doc), a parameter, a preset of the stdlib.
    let (l, ch) = pos(&text, "synthetic_images(", 3);
    let h = c.at("textDocument/hover", &u, l, ch);
    let doc = lrx::registry::builtin("synthetic_images").unwrap().doc;
    let md = h["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(md.contains(doc), "{h}");
    assert_eq!(
        h["result"]["range"]["start"],
        json!({"line": l, "character": ch - 3})
    );
    let (l, ch) = pos(&text, "channels = 3", 2);
    let h = c.at("textDocument/hover", &u, l, ch);
    let md = h["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(
        md.contains("synthetic_images(channels") && md.contains("default"),
        "{h}"
    );
    let (l, ch) = pos(&text, "knet4(width", 1);
    let h = c.at("textDocument/hover", &u, l, ch);
    let md = h["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(
        md.contains("arch knet4") && md.contains("stdlib module `paper`"),
        "{h}"
    );

    // Definition: a `let` name, and a stdlib preset (in a copy of the module).
    let (l, ch) = pos(&text, "lr_quick[rule]", 2);
    let d = c.at("textDocument/definition", &u, l, ch);
    let (def_line, def_col) = pos(&text, "lr_quick =", 0);
    assert_eq!(d["result"]["uri"], json!(u), "{d}");
    assert_eq!(
        d["result"]["range"]["start"],
        json!({"line": def_line, "character": def_col}),
        "{d}"
    );
    let (l, ch) = pos(&text, "paper.rules", 7);
    let d = c.at("textDocument/definition", &u, l, ch);
    let target = d["result"]["uri"].as_str().unwrap_or_default();
    assert!(target.ends_with("/paper.lrx"), "{d}");
    let stdlib = lrx::stdlib::get("paper").unwrap();
    let (want, _) = pos(stdlib, "let rules", 0);
    assert_eq!(d["result"]["range"]["start"]["line"], json!(want), "{d}");

    // Completion: builtins of the key's kind, parameters of the call, units.
    let edited = text.replace("  epochs       = 10\n", "  epochs       = 10\n  rule = \n");
    c.change(&u, 2, &edited);
    let (l, _) = pos(&edited, "  rule = \n", 0);
    let labels_at = |c: &mut Client, l, ch| labels(&c.at("textDocument/completion", &u, l, ch));
    let got = labels_at(&mut c, l, 9);
    for want in ["sgdm", "adam", "fa", "ia"] {
        assert!(
            got.iter().any(|g| g == want),
            "rule = |: no {want} in {got:?}"
        );
    }
    assert!(!got.iter().any(|g| g == "knet4"), "{got:?}");
    let (l, ch) = pos(&edited, "size = 16", 0);
    let got = labels_at(&mut c, l, ch);
    assert!(got.iter().any(|g| g == "classes"), "{got:?}");
    let (l, ch) = pos(&edited, "2 cpu_hours", 2);
    let got = labels_at(&mut c, l, ch);
    assert!(got.iter().any(|g| g == "gpu_hours"), "{got:?}");
    let (l, ch) = pos(&edited, "  model_seed", 2);
    let got = labels_at(&mut c, l, ch);
    assert!(got.iter().any(|g| g == "weight_decay"), "{got:?}");

    // A broken spec: the checker's diagnostic, with its code and exact range; the unsaved
    // text is what is checked.
    let broken = text.replace("every(2 epochs)", "every(2 epoks)");
    c.change(&u, 3, &broken);
    let d = loop {
        // The completion edit's diagnostics may come first.
        let d = c.diagnostics(&u);
        if !d.is_empty() && !edited_only(&d) {
            break d;
        }
    };
    // (The checker may add follow-on errors, such as checkpoints the classifier lacks.)
    let unit = d
        .iter()
        .find(|d| d["code"] == "lrx::check::unknown_unit")
        .unwrap_or_else(|| panic!("{d:?}"));
    assert_eq!(unit["severity"], 1);
    let (l, ch) = pos(&broken, "epoks", 0);
    assert_eq!(
        unit["range"],
        json!({"start": {"line": l, "character": ch}, "end": {"line": l, "character": ch + 5}})
    );
    let message = unit["message"].as_str().unwrap();
    assert!(
        message.contains("`epoks`") && message.contains("help:"),
        "{message}"
    );

    // Fixed again: the diagnostics are cleared.
    c.change(&u, 4, &text);
    assert!(c.diagnostics(&u).is_empty());
    assert_eq!(c.shutdown(), Some(0));
}

/// Whether diagnostics are those of the completion edit (`rule = ` with no value).
fn edited_only(d: &[Value]) -> bool {
    d.iter()
        .all(|d| d["code"] == "lrx::parse::syntax" || d["code"] == "lrx::check::duplicate")
}

#[test]
fn lsp_positions_are_utf16_and_imported_errors_show_on_the_import() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lib.lrx"),
        "let a = 1\nrule r = sgdm(momentm = 0.5)\n",
    )
    .unwrap();
    let main = dir.path().join("main.lrx");
    // `𝔁` is two UTF-16 units: the unknown key after it is at character 30, not 29.
    let text = "import \"lib.lrx\" as lib\nstudy s { description = \"𝔁\", bogus = 1 }\n\
                train {\n  task = synthetic_images()\n  arch = knet4()\n  rule = lib.r\n  \
                lr = 0.1\n  batch = 8\n  epochs = 1\n}\n";
    let u = uri(&main);
    let mut c = Client::start();
    c.initialize();
    c.open(&u, text);
    let d = c.diagnostics(&u);
    let bogus = d
        .iter()
        .find(|d| d["code"] == "lrx::check::unknown_key")
        .unwrap_or_else(|| panic!("{d:?}"));
    let (l, ch) = pos(text, "bogus", 0);
    assert_eq!((l, ch), (1, 30));
    assert_eq!(bogus["range"]["start"], json!({"line": l, "character": ch}));
    let lib = d
        .iter()
        .find(|d| d["code"] == "lrx::check::unknown_param")
        .unwrap_or_else(|| panic!("{d:?}"));
    assert_eq!(
        lib["range"]["start"],
        json!({"line": 0, "character": 0}),
        "{lib}"
    );
    assert!(
        lib["message"].as_str().unwrap().contains("lib.lrx:2:"),
        "{lib}"
    );
    let rel = &lib["relatedInformation"][0]["location"];
    assert_eq!(rel["uri"], json!(uri(&dir.path().join("lib.lrx"))), "{lib}");
    assert_eq!(rel["range"]["start"]["line"], json!(1), "{lib}");

    // Go to definition on the import: the file.
    let d = c.at("textDocument/definition", &u, 0, 9);
    assert_eq!(
        d["result"]["uri"],
        json!(uri(&dir.path().join("lib.lrx"))),
        "{d}"
    );

    // Formatting: one edit to `lrx fmt`'s layout (one entry per line).
    let f = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": u}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let edits = f["result"].as_array().unwrap_or_else(|| panic!("{f}"));
    assert_eq!(edits.len(), 1, "{f}");
    let new = edits[0]["newText"].as_str().unwrap();
    assert!(
        new.contains("  description = \"𝔁\"\n  bogus       = 1\n"),
        "{new}"
    );
    assert_eq!(
        edits[0]["range"]["end"]["line"],
        json!(text.lines().count()),
        "{f}"
    );
    assert_eq!(c.shutdown(), Some(0));
}

#[test]
fn lsp_survives_bad_requests_and_exits_1_without_shutdown() {
    let mut c = Client::start();
    c.initialize();
    // A method it does not know, parameters of the wrong shape, a document never opened.
    let r = c.request("textDocument/references", json!({}));
    assert_eq!(r["error"]["code"], json!(-32601), "{r}");
    let r = c.request("textDocument/hover", json!({"nonsense": true}));
    assert_eq!(r["error"]["code"], json!(-32602), "{r}");
    let r = c.at("textDocument/hover", "file:///nowhere.lrx", 0, 0);
    assert_eq!(r["result"], Value::Null, "{r}");
    // Text that is not a spec at all, positions past the end.
    let u = "file:///tmp/lrx-lsp-garbage.lrx";
    c.open(u, "}{ ))( \"unterminated\n/* open comment");
    let d = c.diagnostics(u);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0]["code"].as_str().unwrap().starts_with("lrx::parse"),
        "{d:?}"
    );
    for method in [
        "textDocument/hover",
        "textDocument/completion",
        "textDocument/definition",
    ] {
        for (l, ch) in [(0, 0), (0, 3), (1, 5), (99, 99)] {
            let r = c.at(method, u, l, ch);
            assert!(r.get("error").is_none(), "{method} {l}:{ch}: {r}");
        }
    }
    c.notify("exit", Value::Null);
    assert_eq!(c.wait(), Some(1));
}
