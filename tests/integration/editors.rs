//! Editor support (editors/): the VS Code extension's manifest, and its TextMate grammar
//! checked on every spec, stdlib module and docs `lrx` block by tests/python/tmgrammar_check.py
//! (a TextMate tokenizer and an independent lexer; Python 3 standard library only).

use std::process::Command;

#[test]
fn the_textmate_grammar_scopes_the_repository_specs() {
    let root = crate::root();
    let py = std::env::var("LRX_PYTHON").unwrap_or_else(|_| "python3".into());
    let builtins: Vec<&str> = lrx::registry::BUILTINS.iter().map(|b| b.name).collect();
    let helpers: Vec<&str> = lrx::check::eval::HELPERS.iter().map(|h| h.0).collect();
    let o = Command::new(&py)
        .arg(root.join("tests/python/tmgrammar_check.py"))
        .args(["--builtins", &builtins.join(",")])
        .args(["--helpers", &helpers.join(",")])
        .output()
        .unwrap_or_else(|e| panic!("cannot start {py} (set LRX_PYTHON): {e}"));
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.starts_with("ok: "), "{out}");
}

#[test]
fn the_vscode_extension_points_at_its_files() {
    let dir = crate::root().join("editors/vscode");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&read("package.json")).unwrap();
    let lang = &manifest["contributes"]["languages"][0];
    assert_eq!(lang["extensions"][0], ".lrx");
    let config = lang["configuration"].as_str().unwrap();
    let _: serde_json::Value = serde_json::from_str(&read(config)).unwrap();
    let grammar = &manifest["contributes"]["grammars"][0];
    let g: serde_json::Value =
        serde_json::from_str(&read(grammar["path"].as_str().unwrap())).unwrap();
    assert_eq!(g["scopeName"], grammar["scopeName"]);
    assert!(dir.join(manifest["main"].as_str().unwrap()).exists());
}
