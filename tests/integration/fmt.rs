//! `lrx fmt` (src/syntax/fmt.rs, src/cli/fmt.rs): on every `.lrx` text of the repository (specs,
//! stdlib, the ```lrx blocks of the docs, the test cases that parse) and on generated specs
//! (`fuzz_grammar::Gen`), formatting is idempotent, keeps every comment, and keeps the meaning:
//! the same syntax tree, and for specs the same plan hash and run ids. Golden cases pin the
//! layout rules; the CLI rewrites, checks (`--check`: diff and exit 1) and refuses syntax
//! errors without touching the file.

use super::fuzz_grammar::Gen;
use super::fuzz_oracle as oracle;
use lrx::cli::run_captured;
use lrx::source::SourceMap;
use lrx::syntax::fmt::{format_source, syntax_json};
use std::path::{Path, PathBuf};

fn fmt(text: &str) -> String {
    format_source(text).unwrap_or_else(|d| panic!("{}:\n{text}", d.message))
}

/// The comments of a text, sorted (a multiset), found independently of the formatter: `//`
/// to the end of the line and `/* */`, outside strings; trailing whitespace removed.
fn comments(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
        } else if text[i..].starts_with("//") {
            let end = text[i..].find('\n').map_or(text.len(), |j| i + j);
            out.push(text[i..end].trim_end().to_string());
            i = end;
        } else if text[i..].starts_with("/*") {
            let end = text[i + 2..].find("*/").map_or(text.len(), |j| i + j + 4);
            out.push(text[i..end].replace("\r\n", "\n"));
            i = end - 1;
        }
        i += 1;
    }
    out.sort();
    out
}

/// A corpus text: where it comes from, its text, and the path it is checked as (specs and doc
/// blocks resolve relative imports and data paths against it).
struct Text {
    name: String,
    text: String,
    path: Option<PathBuf>,
}

/// Every ```lrx block of README.md and docs/ (as tests/integration/docs.rs reads them).
fn doc_blocks() -> Vec<Text> {
    let mut files = vec![crate::root().join("README.md")];
    crate::files_below(&crate::root().join("docs"), "md", &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut block: Option<String> = None;
        for (n, line) in text.lines().enumerate() {
            match &mut block {
                None if line.trim_start() == "```lrx" => block = Some(String::new()),
                Some(b) if line.trim_start() == "```" => {
                    out.push(Text {
                        name: format!("{} (block ending on line {})", f.display(), n + 1),
                        text: std::mem::take(b),
                        path: Some(f.clone()),
                    });
                    block = None;
                }
                Some(b) => {
                    b.push_str(line);
                    b.push('\n');
                }
                None => {}
            }
        }
    }
    out
}

fn files(dir: &str) -> Vec<Text> {
    let mut paths = Vec::new();
    crate::files_below(&crate::root().join(dir), "lrx", &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| Text {
            name: p.display().to_string(),
            text: std::fs::read_to_string(&p).unwrap(),
            path: Some(p),
        })
        .collect()
}

/// Whether a text parses (test cases and generated specs include syntax errors on purpose).
fn parses(text: &str) -> bool {
    lrx::syntax::parse(lrx::source::SourceId(0), text).is_ok()
}

/// Generated specs that parse: structured (plausible studies, many accepted) and free (any
/// items), with the generator's whitespace and `/* c */` comments between tokens.
fn generated() -> Vec<Text> {
    let mut out = Vec::new();
    for i in 0..oracle::cases(150) {
        for (kind, seed) in [("structured", 0xf0_0000 + i), ("free", 0xf1_0000 + i)] {
            let mut g = Gen::new(seed);
            let text = if kind == "structured" {
                g.structured()
            } else {
                g.free()
            };
            if parses(&text) {
                out.push(Text {
                    name: format!("generated {kind} spec, seed {seed}"),
                    text,
                    path: Some(crate::root().join("specs/fuzz.lrx")),
                });
            }
        }
    }
    out
}

/// The layout properties every formatted text has.
fn assert_layout(name: &str, out: &str) {
    if out.is_empty() {
        return;
    }
    assert!(
        out.ends_with('\n') && !out.ends_with("\n\n"),
        "{name}: must end with exactly one newline:\n{out}"
    );
    assert!(!out.contains("\n\n\n"), "{name}: two blank lines:\n{out}");
    for (n, line) in out.lines().enumerate() {
        assert!(
            line.trim_end() == line || line.contains("/*"),
            "{name}: trailing whitespace on line {}:\n{out}",
            n + 1
        );
    }
}

/// Formats every text twice: the second pass changes nothing, the comments are those of the
/// input, the syntax tree is the input's.
fn check_idempotent(texts: &[Text]) -> usize {
    for t in texts {
        let once = format_source(&t.text)
            .unwrap_or_else(|d| panic!("{}: {}:\n{}", t.name, d.message, t.text));
        let twice = format_source(&once)
            .unwrap_or_else(|d| panic!("{}: formatted text: {}:\n{once}", t.name, d.message));
        assert!(
            once == twice,
            "{}: formatting is not idempotent\n--- input ---\n{}\n--- once ---\n{once}\n--- twice ---\n{twice}",
            t.name,
            t.text
        );
        assert_eq!(
            comments(&t.text),
            comments(&once),
            "{}: comments changed\n--- input ---\n{}\n--- formatted ---\n{once}",
            t.name,
            t.text
        );
        let a = lrx::syntax::parse(lrx::source::SourceId(0), &t.text).unwrap();
        let b = lrx::syntax::parse(lrx::source::SourceId(0), &once).unwrap();
        assert_eq!(
            syntax_json(&a),
            syntax_json(&b),
            "{}: syntax tree changed",
            t.name
        );
        assert_layout(&t.name, &once);
    }
    texts.len()
}

#[test]
fn fmt_is_idempotent_and_keeps_comments_on_the_repository() {
    let specs = files("specs");
    let stdlib = files("stdlib");
    let docs = doc_blocks();
    let cases: Vec<Text> = files("tests/cases")
        .into_iter()
        .filter(|t| parses(&t.text))
        .collect();
    assert!(specs.len() >= 5 && !stdlib.is_empty() && docs.len() >= 5 && cases.len() >= 20);
    let n = check_idempotent(&specs)
        + check_idempotent(&stdlib)
        + check_idempotent(&docs)
        + check_idempotent(&cases);
    oracle::summary(&format!(
        "fmt: {n} repository texts formatted twice ({} specs, {} stdlib, {} doc blocks, {} test cases)",
        specs.len(),
        stdlib.len(),
        docs.len(),
        cases.len()
    ));
}

#[test]
fn fmt_is_idempotent_and_keeps_comments_on_generated_specs() {
    let texts = generated();
    assert!(
        texts.len() >= 100,
        "only {} generated specs parse",
        texts.len()
    );
    let n = check_idempotent(&texts);
    let commented = texts.iter().filter(|t| t.text.contains("/*")).count();
    oracle::summary(&format!(
        "fmt: {n} generated specs formatted twice ({commented} with block comments)"
    ));
}

/// A comment anywhere between two tokens: at runs of whitespace spread over two specs and the
/// stdlib (`LRX_FUZZ_SCALE` times 60 per file), a `/* */` comment, a `//` comment, a blank line
/// or a comment spanning lines is inserted; every variant that parses formats without a bug,
/// idempotently and with its comments.
#[test]
fn fmt_handles_a_comment_between_any_two_tokens() {
    let mut texts = Vec::new();
    for f in [
        "specs/quickstart.lrx",
        "specs/paper.lrx",
        "stdlib/paper.lrx",
    ] {
        let text = std::fs::read_to_string(crate::root().join(f)).unwrap();
        let b = text.as_bytes();
        let gaps: Vec<usize> = (1..b.len())
            .filter(|&i| b[i].is_ascii_whitespace() && !b[i - 1].is_ascii_whitespace())
            .collect();
        let per_file = oracle::cases(60) as usize;
        let step = gaps.len().div_ceil(per_file).max(1);
        for (n, &at) in gaps.iter().step_by(step).enumerate() {
            let insert = ["/* c */", "// c\n", "\n\n", " /* a\n  b */ "][n % 4];
            let variant = format!("{}{insert}{}", &text[..at], &text[at..]);
            if parses(&variant) {
                texts.push(Text {
                    name: format!("{f} with {insert:?} at byte {at}"),
                    text: variant,
                    path: None,
                });
            }
        }
    }
    assert!(texts.len() > 100, "only {} variants parse", texts.len());
    let n = check_idempotent(&texts);
    oracle::summary(&format!(
        "fmt: {n} variants with a comment between two tokens formatted twice"
    ));
}

/// Checks and plans `text` as the file `path`: (plan hash, run ids), or `None` when it does
/// not check or plan.
fn plan_of(name: &str, text: &str, path: &Path) -> Option<(String, Vec<String>)> {
    let mut sources = SourceMap::new();
    let id = sources.add(name, Some(path.to_path_buf()), text.to_string());
    let study = lrx::check::check_source(id, &mut sources).ok()?.value;
    let plan = lrx::plan::plan(&study).ok()?;
    let ids = plan.runs.iter().map(|r| r.id.clone()).collect();
    Some((plan.summary.plan_hash, ids))
}

#[test]
fn fmt_keeps_plan_hashes_and_run_ids() {
    let mut texts = files("specs");
    texts.extend(doc_blocks());
    let mut planned = 0;
    for t in texts.iter() {
        let path = t.path.clone().unwrap();
        let Some(before) = plan_of(&t.name, &t.text, &path) else {
            continue;
        };
        let after = plan_of(&t.name, &fmt(&t.text), &path)
            .unwrap_or_else(|| panic!("{}: no longer checks once formatted", t.name));
        assert_eq!(before, after, "{}: plan changed by formatting", t.name);
        planned += 1;
    }
    assert!(planned >= 8, "only {planned} specs and doc blocks planned");
    // The accepted generated specs too.
    let mut accepted = 0;
    for t in generated() {
        let path = t.path.clone().unwrap();
        if let Some(before) = plan_of(&t.name, &t.text, &path) {
            let after = plan_of(&t.name, &fmt(&t.text), &path);
            assert_eq!(
                Some(before),
                after,
                "{}: plan changed by formatting",
                t.name
            );
            accepted += 1;
        }
    }
    assert!(accepted > 0, "no generated spec was accepted");
    oracle::summary(&format!(
        "fmt: plan hash and run ids unchanged by formatting for {planned} specs and doc blocks, {accepted} generated specs"
    ));
}

#[test]
fn fmt_keeps_the_stdlib_syntax_tree() {
    for (name, src) in lrx::stdlib::MODULES {
        let a = lrx::syntax::parse(lrx::source::SourceId(0), src).unwrap();
        let b = lrx::syntax::parse(lrx::source::SourceId(0), &fmt(src)).unwrap();
        assert_eq!(syntax_json(&a), syntax_json(&b), "stdlib {name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Golden cases: input → expected output (each written from the line after `r#"`).

#[track_caller]
fn golden(input: &str, expected: &str) {
    let (input, expected) = (&input[1..], &expected[1..]);
    let out = fmt(input);
    assert!(
        out == expected,
        "--- input ---\n{input}\n--- got ---\n{out}\n--- expected ---\n{expected}"
    );
    assert_eq!(fmt(&out), out, "the expected output must be a fixed point");
}

#[test]
fn golden_one_line_block_with_commas_becomes_one_entry_per_line() {
    golden(
        r#"
study probe { output = "x", seed = 2, device = cpu }
"#,
        r#"
study probe {
  output = "x"
  seed   = 2
  device = cpu
}
"#,
    );
    // One entry that fits stays on the line; an empty block is `kind {}`.
    golden(
        r#"
observe   paper.candidates {
  stimuli=val( 128 )
}
report {
}
"#,
        r#"
observe paper.candidates { stimuli = val(128) }
report {}
"#,
    );
}

#[test]
fn golden_alignment_of_settings_axes_and_definitions() {
    // A blank line starts a new group; filters and nested blocks are not padded.
    golden(
        r#"
train {
  task = shapes
  rule in paper.rules
  where batch == 32
  trajectory { period in [1, 2], samples in [2] }
  // a comment does not end the group
  model_seed in seeds(2)

  lr = 0.1
  weight_decay=1e-5
}
"#,
        r#"
train {
  task       = shapes
  rule       in paper.rules
  where batch == 32
  trajectory {
    period  in [1, 2]
    samples in [2]
  }
  // a comment does not end the group
  model_seed in seeds(2)

  lr           = 0.1
  weight_decay = 1e-5
}
"#,
    );
    // Definitions on consecutive lines; a blank line or a comment line ends the run.
    golden(
        r#"
rule sgdm = sgdm(momentum = 0.9) // Nesterov
rule fa = fa(optimizer = adam)
// rates
let lr_a = 1
let lr_bc = 2

let x = 1
"#,
        r#"
rule sgdm = sgdm(momentum = 0.9)  // Nesterov
rule fa   = fa(optimizer = adam)
// rates
let lr_a  = 1
let lr_bc = 2

let x = 1
"#,
    );
}

#[test]
fn golden_expressions_are_spaced_and_numbers_kept() {
    golden(
        r#"
let a = {sgdm:1e-3,_:0.10}
let b = f(x=1,y in[2,3],-z)
let c = !(a||b)&&c[rule,arch]
let d = 12   epochs
let e = 25%
let f = (a, "s // t")
let g = ( (1+2) )*3E+2
"#,
        r#"
let a = { sgdm: 1e-3, _: 0.10 }
let b = f(x = 1, y in [2, 3], -z)
let c = !(a || b) && c[rule, arch]
let d = 12 epochs
let e = 25%
let f = (a, "s // t")
let g = ((1 + 2)) * 3E+2
"#,
    );
}

#[test]
fn golden_long_lists_and_calls_wrap_after_commas() {
    golden(
        r#"
classify {
  targets = [rule]
  models = [random_forest(trees in [100], max_features in [sqrt]), linear_svm(C in [1], pca in [none]), conv1d(kernel = [2], stride = [1], filters = [20], pool = [max], weight_decay = [1e-4], lr = [1e-3], batch = [64], epochs = 100)]
}
"#,
        r#"
classify {
  targets = [rule]
  models  = [random_forest(trees in [100], max_features in [sqrt]),
             linear_svm(C in [1], pca in [none]),
             conv1d(kernel = [2], stride = [1], filters = [20], pool = [max], weight_decay = [1e-4],
                    lr = [1e-3], batch = [64], epochs = 100)]
}
"#,
    );
    // A chain of `&&` wraps before an operator, aligned with its first operand.
    golden(
        r#"
realism {
  where arch == resnet18 && task in [imagenet, simclr] && rule in [fa, ia] && batch == 256 && model_seed == 0 && data_seed == 0
}
"#,
        r#"
realism {
  where arch == resnet18 && task in [imagenet, simclr] && rule in [fa, ia] && batch == 256
        && model_seed == 0 && data_seed == 0
}
"#,
    );
    // A trailing comma keeps one item per line; table keys are aligned.
    golden(
        r#"
let lr = { sgdm: { resnet: 0.125 }, ia: { resnet: 0.125 }, fa: { _: 0.001 }, }
"#,
        r#"
let lr = {
  sgdm: { resnet: 0.125 },
  ia:   { resnet: 0.125 },
  fa:   { _: 0.001 },
}
"#,
    );
}

#[test]
fn golden_comments() {
    // A comment inside a list: the list is kept as written (re-indented with its entry).
    golden(
        r#"
train {
    rule in [sgdm, // the baseline
             fa]
    batch = 32
}
"#,
        r#"
train {
  rule  in [sgdm, // the baseline
            fa]
  batch = 32
}
"#,
    );
    // Trailing comments stay at the end of their line, aligned in a run of lines of one
    // indentation; a comment on its own line stays on its own line; blank lines collapse.
    golden(
        r#"
// header



observe paper.candidates { // measures
  stimuli = val() // every stimulus
  quantile = tf_nearest    // conventions
  // own line
  skew = pearson2
}   // end
"#,
        r#"
// header

observe paper.candidates {  // measures
  stimuli  = val()       // every stimulus
  quantile = tf_nearest  // conventions
  // own line
  skew     = pearson2
}  // end
"#,
    );
    // Block comments: before an entry on its line, trailing, inside an expression (kept in
    // place), spanning lines (their text untouched).
    golden(
        r#"
train {
  /* first */ lr = 1 /* one */
  batch = f(a /* b */ , c)
      /* several
     lines */
}
"#,
        r#"
train {
  /* first */
  lr    = 1  /* one */
  batch = f(a /* b */ , c)
  /* several
     lines */
}
"#,
    );
    // A comment between the key and the value keeps the entry as written.
    golden(
        r#"
train {
   lr /* per rule */ = 0.1
   batch = 32
}
"#,
        r#"
train {
  lr /* per rule */ = 0.1
  batch = 32
}
"#,
    );
}

// ---------------------------------------------------------------------------------------------
// The command.

#[test]
fn cli_check_rewrite_and_syntax_errors() {
    let dir = tempfile::tempdir().unwrap();
    let messy = dir.path().join("messy.lrx");
    std::fs::write(&messy, "study s { output = \"runs/s\", seed = 1 }  // c\n").unwrap();
    let tidy = dir.path().join("sub/tidy.lrx");
    std::fs::create_dir_all(tidy.parent().unwrap()).unwrap();
    std::fs::write(&tidy, "let x = [1, 2]\n").unwrap();
    let (m, t) = (messy.display().to_string(), tidy.display().to_string());

    // --check: a diff and exit 1 for the unformatted file, nothing written.
    let (code, out, err) = run_captured(&["fmt", "--check", &m]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains(&format!("--- {m}")), "{out}");
    assert!(
        out.contains("-study s { output = \"runs/s\", seed = 1 }  // c"),
        "{out}"
    );
    assert!(out.contains("+  seed   = 1"), "{out}");
    assert!(err.contains("1 file not formatted"), "{err}");
    assert!(
        std::fs::read_to_string(&messy)
            .unwrap()
            .starts_with("study s { output")
    );
    let (code, out, err) = run_captured(&["fmt", "--check", &t]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");

    // A directory: every .lrx below it.
    let d = dir.path().display().to_string();
    let (code, _, err) = run_captured(&["fmt", "--check", &d]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = run_captured(&["fmt", &d]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("formatted {m}")), "{err}");
    assert!(
        err.contains("formatted 1 file, 1 already formatted"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        "study s {\n  output = \"runs/s\"\n  seed   = 1\n}  // c\n"
    );
    let (code, out, err) = run_captured(&["fmt", "--check", &d]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");

    // A syntax error: the diagnostic of `lrx check`, exit 1, the file untouched.
    let broken = dir.path().join("broken.lrx");
    let text = "train {\n  lr = 0.01 batch = 16\n}\n";
    std::fs::write(&broken, text).unwrap();
    let b = broken.display().to_string();
    let (code, _, err) = run_captured(&["fmt", &b]);
    let (check_code, _, check_err) = run_captured(&["check", &b]);
    assert_eq!((code, check_code), (1, 1), "{err}");
    let first = |s: &str| s.lines().next().unwrap_or_default().to_string();
    assert!(err.contains("lrx::parse::syntax"), "{err}");
    assert_eq!(first(&err), first(&check_err));
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), text);
    let (code, _, _) = run_captured(&["fmt", "--check", &b]);
    assert_eq!(code, 1);

    // Nothing to format is a usage error.
    let (code, _, _) = run_captured(&["fmt"]);
    assert_eq!(code, 2);
}

/// `lrx fmt -` reads stdin and writes stdout (through the binary: stdin is the process's).
#[test]
fn cli_stdin_to_stdout() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let run = |args: &[&str], input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lrx"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (code, out) = run(&["fmt", "-"], "let   x=[1,2]");
    assert_eq!((code, out.as_str()), (Some(0), "let x = [1, 2]\n"));
    let (code, out) = run(&["fmt", "--stdin", "--check"], "let   x=[1,2]");
    assert_eq!(code, Some(1));
    assert!(out.contains("+let x = [1, 2]"), "{out}");
    let (code, _) = run(&["fmt", "-"], "let x = [1,");
    assert_eq!(code, Some(1));
}

#[test]
fn the_repository_specs_and_stdlib_are_formatted() {
    // `.ci/run` also runs `lrx fmt --check specs stdlib`; this says which file to format.
    for t in files("specs").into_iter().chain(files("stdlib")) {
        assert!(
            fmt(&t.text) == t.text,
            "{} is not formatted: run `lrx fmt {}`",
            t.name,
            t.name
        );
    }
}
