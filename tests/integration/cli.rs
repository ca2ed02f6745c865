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

/// A data set that is not where the spec says is a located warning (the spec still checks),
/// with the install command for Fashion-MNIST; and where data lives is not part of run ids.
#[test]
fn missing_idx_data_warns_and_paths_stay_out_of_run_ids() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, task: &str| {
        let f = dir.path().join(name);
        std::fs::write(
            &f,
            format!(
                "study s {{ output = \"runs/s\" }}\ntask t = {task}\n\
                 train {{ task = t, arch = knet4(width = 0.25), rule = sgdm, lr = 0.01, batch = 32, epochs = 1 }}\n"
            ),
        )
        .unwrap();
        f.display().to_string()
    };
    let nowhere = dir.path().join("nowhere").display().to_string();
    let f = write(
        "missing.lrx",
        &format!("fashion_mnist(path = \"{nowhere}\", train = 100, val = 50)"),
    );
    let (code, _, err) = run_captured(&["check", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("lrx::check::data_missing") && err.contains("ok: study `s` is valid"),
        "{err}"
    );
    let (code, _, err) = run_captured(&["check", "--message-format", "json", &f]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(err.lines().next().unwrap()).unwrap();
    let d = &v[0];
    assert_eq!(d["code"], "lrx::check::data_missing");
    assert_eq!(d["severity"], "warning");
    assert_eq!(
        (d["line"].as_i64(), d["column"].as_i64()),
        (Some(3), Some(16))
    );
    assert_eq!(
        d["message"],
        format!(
            "the data of task `fashion_mnist` is missing: the directory `{nowhere}` does not exist"
        )
    );
    assert!(
        d["help"]
            .as_str()
            .unwrap()
            .starts_with("install Fashion-MNIST with `sudo apt-get install dataset-fashion-mnist`"),
        "{d}"
    );
    // The same data under other paths and file names: the same run ids.
    let ids = |f: &str| {
        let (code, out, err) = run_captured(&["plan", f, "--emit", "plan"]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["runs"][0]["id"].as_str().unwrap().to_string()
    };
    let a = write("a.lrx", "idx_images(path = \"/data/a\", classes = 5)");
    let b = write(
        "b.lrx",
        "idx_images(path = \"/data/b\", train_images = \"x.gz\", train_labels = \"y\", val_images = \"v\", val_labels = \"w\", classes = 5)",
    );
    let c = write("c.lrx", "idx_images(path = \"/data/a\", classes = 6)");
    assert_eq!(ids(&a), ids(&b));
    assert_ne!(ids(&a), ids(&c));
}
