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

// ---------------------------------------------------------------------------------------------
// Hostile and careless input (issue 21): whatever the spec's size, line lengths or bytes, the
// binary exits 0 or 1 with located diagnostics, never a panic or a stack overflow. These run
// the real executable, so a crash shows as its exit status.

/// Runs the `lrx` executable on `args` (human diagnostics, no colour).
fn lrx_process(args: &[&str]) -> (i32, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lrx"))
        .args(args)
        .arg("--color")
        .arg("never")
        .output()
        .expect("start lrx");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    (o.status.code().unwrap_or(-1), err)
}

/// `lrx check` on `bytes` written to a temporary file, human and JSON: both exit with
/// `want`, and the JSON diagnostics are returned (code, line, column of each).
fn check_bytes(
    dir: &std::path::Path,
    name: &str,
    bytes: &[u8],
    want: i32,
) -> (String, Vec<(String, u64, u64)>) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let p = path.display().to_string();
    let (code, human) = lrx_process(&["check", &p]);
    assert_eq!(code, want, "{name}: human output exit {code}:\n{human}");
    assert!(!human.contains("panicked"), "{name}:\n{human}");
    let (code, json) = lrx_process(&["check", "--message-format", "json", &p]);
    assert_eq!(code, want, "{name}: json output exit {code}:\n{json}");
    let diags = if want == 0 {
        Vec::new()
    } else {
        let v: serde_json::Value =
            serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("{name}: {e}: {json}"));
        v.as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["code"].as_str().unwrap().to_string(),
                    d["line"].as_u64().unwrap_or(0),
                    d["column"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    (human, diags)
}

#[test]
fn diagnostics_past_column_65535_render() {
    let dir = tempfile::tempdir().unwrap();
    let pad = "x".repeat(70_000);
    // A parse error, a checker error, an error whose "first defined here" label is on the
    // same long line, an error at the end of a 200 000-character line, and a long line of
    // control characters and CRLF endings.
    let parse = format!("let pad = \"{pad}\" let x = = 1\n");
    let parse_col = parse.find("= = 1").unwrap() + 3;
    let unknown =
        format!("study s {{ description = \"{pad}\", output = \"runs/s\", bogus_key = 1 }}\n");
    let unknown_col = unknown.find("bogus_key").unwrap() + 1;
    let dup = format!("let a = \"{pad}\" let a = 2\n");
    let dup_col = dup.rfind("a = 2").unwrap() + 1;
    let end = format!("let a = \"{}\" =", "é".repeat(200_000));
    let end_col = 200_000 + 12;
    let ctrl = format!(
        "// \u{7}\r\nlet a = \"{}\" \u{1}\r\n",
        "\u{1b}[2J".repeat(20_000)
    );
    let ctrl_col = 20_000 * 4 + 12;
    for (name, text, code, col) in [
        ("parse.lrx", parse, "lrx::parse::syntax", parse_col),
        (
            "unknown.lrx",
            unknown,
            "lrx::check::unknown_key",
            unknown_col,
        ),
        ("dup.lrx", dup, "lrx::check::duplicate", dup_col),
        ("end.lrx", end, "lrx::parse::syntax", end_col),
        ("ctrl.lrx", ctrl, "lrx::parse::syntax", ctrl_col),
    ] {
        let (human, diags) = check_bytes(dir.path(), name, text.as_bytes(), 1);
        assert!(
            diags.iter().any(|d| d.0 == code && d.2 == col as u64),
            "{name}: expected {code} at column {col}, got {diags:?}"
        );
        // The header has the same location, and the rendered lines are cut, not 70 000
        // characters wide.
        let line = if name == "ctrl.lrx" { 2 } else { 1 };
        assert!(
            human.contains(&format!("{name}:{line}:{col}]")),
            "{name}: no `{name}:{line}:{col}` in\n{}",
            &human[..human.len().min(3000)]
        );
        assert!(human.lines().all(|l| l.chars().count() < 400), "{name}");
        assert!(!human.contains('\u{1b}'), "{name}: raw escape in output");
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let dir = tempfile::tempdir().unwrap();
    let n = 200_000;
    let cases: Vec<(&str, String, &str, usize)> = vec![
        (
            "brackets.lrx",
            format!("let x = {}1{}", "[".repeat(n), "]".repeat(n)),
            "lrx::parse::too_deep",
            9 + lrx::syntax::MAX_NESTING,
        ),
        (
            "unclosed.lrx",
            format!("study s {}", "{ a ".repeat(n)),
            "lrx::parse::too_deep",
            9 + lrx::syntax::MAX_NESTING * 4,
        ),
        (
            "calls.lrx",
            format!("let x = {}1{}", "f(".repeat(n), ")".repeat(n)),
            "lrx::parse::too_deep",
            10 + lrx::syntax::MAX_NESTING * 2,
        ),
        (
            "negations.lrx",
            format!("let x = {}1", "-".repeat(n)),
            "lrx::parse::too_deep",
            9 + lrx::syntax::MAX_EXPR_DEPTH - 1,
        ),
        (
            "sum.lrx",
            format!("let x = 1{}", " + 1".repeat(n)),
            "lrx::parse::too_deep",
            11 + (lrx::syntax::MAX_EXPR_DEPTH - 1) * 4,
        ),
        (
            "index.lrx",
            format!("let x = a{}", "[1]".repeat(n)),
            "lrx::parse::too_deep",
            10 + (lrx::syntax::MAX_EXPR_DEPTH - 1) * 3,
        ),
    ];
    for (name, text, code, col) in cases {
        let (_, diags) = check_bytes(dir.path(), name, text.as_bytes(), 1);
        assert_eq!(diags, vec![(code.to_string(), 1, col as u64)], "{name}");
    }
}

#[test]
fn nesting_up_to_the_limit_checks() {
    // The deepest accepted structures go through the parser and the whole checker (and are
    // dropped) without overflowing the main thread's stack.
    let dir = tempfile::tempdir().unwrap();
    let quick = std::fs::read_to_string(spec("specs/quickstart.lrx")).unwrap();
    let levels = lrx::syntax::MAX_NESTING - 2;
    let seed = format!("{}1{}", "1 + (".repeat(levels), ")".repeat(levels));
    let text = quick.replace("seed        = 1", &format!("seed = {seed}"));
    assert_ne!(text, quick);
    let (human, _) = check_bytes(dir.path(), "deep_ok.lrx", text.as_bytes(), 0);
    assert!(human.contains("is valid"), "{human}");
    // A list nested to the limit is evaluated (and refused by its type), not overflowed.
    let list = format!(
        "{}1{}",
        "[".repeat(lrx::syntax::MAX_NESTING - 2),
        "]".repeat(lrx::syntax::MAX_NESTING - 2)
    );
    let text = quick.replace("seed        = 1", &format!("seed = {list}"));
    let (_, diags) = check_bytes(dir.path(), "deep_list.lrx", text.as_bytes(), 1);
    assert!(!diags.is_empty());
    let sum = format!("1{}", " + 1".repeat(lrx::syntax::MAX_EXPR_DEPTH - 2));
    let text = quick.replace("seed        = 1", &format!("seed = {sum}"));
    check_bytes(dir.path(), "long_sum.lrx", text.as_bytes(), 0);
}

/// quickstart with a `lr_quick` table of about `bytes` bytes (one entry per line; the rules'
/// entries come last so the lookup goes through the whole table).
fn big_table_spec(bytes: usize) -> String {
    let quick = std::fs::read_to_string(spec("specs/quickstart.lrx")).unwrap();
    let mut table = String::from("let lr_quick = {\n");
    let mut i = 0;
    while table.len() < bytes {
        table.push_str(&format!("  unused_key_{i}: 0.{:06},\n", i % 1_000_000));
        i += 1;
    }
    table.push_str("  sgdm: 0.01, ia: 0.002, fa: 0.001, adam: 0.001\n}\n");
    let old = "let lr_quick = { sgdm: 0.01, ia: 0.002, fa: 0.001, adam: 0.001 }";
    assert!(quick.contains(old));
    quick.replace(old, &table)
}

#[test]
fn large_flat_specs_check() {
    // Size is not limited, only nesting: a 1 MB spec (a 36 000-line table; the old call limit
    // refused 30 000 lines) checks. (10 MB checks too, in minutes in a debug build: measured
    // with `/usr/bin/time -v lrx check`, not here.)
    let dir = tempfile::tempdir().unwrap();
    let text = big_table_spec(1 << 20);
    assert!(text.len() > 1 << 20);
    let t = std::time::Instant::now();
    let (human, _) = check_bytes(dir.path(), "big.lrx", text.as_bytes(), 0);
    assert!(human.contains("ok: study `quickstart` is valid"), "{human}");
    eprintln!("1 MB spec: two checks in {:?}", t.elapsed());
    // An error at its end is located and rendered.
    let bad = text.replace("adam: 0.001\n}", "adam: 0.001\n}}");
    let (human, diags) = check_bytes(dir.path(), "big_bad.lrx", bad.as_bytes(), 1);
    let line = bad[..bad.find("}}").unwrap()].lines().count() + 1;
    assert_eq!(
        diags,
        vec![("lrx::parse::syntax".to_string(), line as u64, 2)]
    );
    assert!(human.contains(&format!("big_bad.lrx:{line}:2]")), "{human}");
}

#[test]
fn encodings() {
    let dir = tempfile::tempdir().unwrap();
    let quick = std::fs::read_to_string(spec("specs/quickstart.lrx")).unwrap();
    // A byte-order mark is accepted.
    let mut bom = "\u{feff}".as_bytes().to_vec();
    bom.extend(quick.as_bytes());
    let (human, _) = check_bytes(dir.path(), "bom.lrx", &bom, 0);
    assert!(human.contains("is valid"), "{human}");
    // Latin-1: the first invalid byte is located (line 3, after `  output = "r`).
    let latin1 = b"// caf\xc3\xa9 in UTF-8 is fine\nstudy s {\n  output = \"r\xe9sum\xe9\"\n}\n";
    let (human, diags) = check_bytes(dir.path(), "latin1.lrx", latin1, 1);
    assert_eq!(diags, vec![("lrx::parse::encoding".to_string(), 3, 14)]);
    assert!(
        human.contains("invalid byte 0xE9 at line 3, column 14"),
        "{human}"
    );
    assert!(human.contains("latin1.lrx:3:14]"), "{human}");
    // UTF-16 (with its byte-order mark) is named.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("study s { }".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let (human, diags) = check_bytes(dir.path(), "utf16.lrx", &utf16, 1);
    assert_eq!(diags, vec![("lrx::parse::encoding".to_string(), 1, 1)]);
    assert!(human.contains("UTF-16"), "{human}");
    // An imported file that is not UTF-8 is located in that file.
    std::fs::write(dir.path().join("lib.lrx"), b"let x = 1\nlet y = \"\xff\"\n").unwrap();
    let main = quick.replace("import paper", "import paper\nimport \"lib.lrx\" as lib");
    let (_, diags) = check_bytes(dir.path(), "imports.lrx", main.as_bytes(), 1);
    assert_eq!(diags, vec![("lrx::parse::encoding".to_string(), 2, 10)]);
}

#[test]
fn random_long_lines_never_crash_the_renderer() {
    // Random specs with lines of random length (up to 150 000 characters) and random bytes,
    // rendered for a terminal in-process: no panic, every error located.
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
    let pieces = [
        "let a = ",
        "study s { ",
        "}",
        "[",
        "]",
        "(",
        ")",
        "\"",
        "= ",
        ": ",
        ", ",
        "1 ",
        "0.5 epochs ",
        "x ",
        "\n",
        "\r\n",
        "\t",
        "é",
        "\u{200b}",
        "\u{feff}",
        "\u{0}",
        "//",
        "/*",
        "*/",
        "output = \"r\" ",
    ];
    for case in 0..60 {
        let mut text = String::new();
        let n = rng.random_range(1..40);
        for _ in 0..n {
            if rng.random_bool(0.2) {
                let len = rng.random_range(60_000..150_000);
                text.push_str(&"a".repeat(len));
            }
            text.push_str(pieces[rng.random_range(0..pieces.len())]);
        }
        let mut sources = lrx::source::SourceMap::new();
        let id = sources.add(format!("case{case}.lrx"), None, text.clone());
        let diags = match lrx::check::check_source(id, &mut sources) {
            Ok(w) => w.warnings,
            Err(d) => d.0,
        };
        for d in &diags {
            assert!(d.span.is_some() || !d.is_error(), "{}", d.message);
        }
        let out = lrx::diag::render_text(&diags, &sources, true, 100);
        if let Some(d) = diags.iter().find(|d| d.is_error()) {
            let (_, l, c) = d.location(&sources).unwrap();
            assert!(
                out.contains(&format!(":{l}:{c}")),
                "case {case}: no {l}:{c} in\n{out}\nfor {:?}",
                &text[..text.len().min(300)]
            );
        }
    }
}
