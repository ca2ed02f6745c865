//! The CLI as a user runs it: exit codes, outputs, formats.

use lrx::cli::run_captured;

fn spec(name: &str) -> String {
    crate::root().join(name).display().to_string()
}

#[test]
fn check_ok_and_errors() {
    let (code, _, err) = run_captured(&["check", &spec("specs/quickstart.lrx")]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("ok: study `quickstart` is valid"));
    let (code, _, err) = run_captured(&["check", &spec("tests/cases/check/five_errors.lrx")]);
    assert_eq!(code, 1);
    assert!(err.contains("error: 5 errors found"), "{err}");
    let (code, _, err) = run_captured(&["check", "/no/such/file.lrx"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn json_diagnostics() {
    let (code, _, err) = run_captured(&[
        "check",
        "--message-format",
        "json",
        &spec("tests/cases/check/misspelled_rule.lrx"),
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    let d = &v[0];
    assert_eq!(d["code"], "lrx::check::unknown_builtin");
    assert_eq!(d["line"], 6);
    assert_eq!(d["column"], 18);
    assert!(d["help"].as_str().unwrap().contains("`fa`"));
}

#[test]
fn plan_formats_and_emits() {
    let q = spec("specs/quickstart.lrx");
    let (code, out, _) = run_captured(&["plan", &q, "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["training_runs"], 64);
    for emit in ["ast", "ir", "plan"] {
        let (code, out, err) = run_captured(&["plan", &q, "--emit", emit]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(!v.is_null());
    }
}

#[test]
fn why_shows_the_identity_of_a_run() {
    let q = spec("specs/quickstart.lrx");
    let (_, out, _) = run_captured(&["plan", &q, "--emit", "plan"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = v["runs"][0]["id"].as_str().unwrap().to_string();
    let (code, out, err) = run_captured(&["why", &q, &id[..8]]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&id));
    assert!(out.contains("\"model_seed\""));
    let (code, _, _) = run_captured(&["why", &q, "zzzz"]);
    assert_eq!(code, 1);
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, _) = run_captured(&["frobnicate"]);
    assert_eq!(code, 2);
}
