//! File-driven cases: every `tests/cases/check/*.lrx` holds `//~ ERROR <code> [file:]line:col`
//! and `//~ WARN <code> [file:]line:col` annotations, and the checker and planner must report
//! exactly those (severity, code, position) triples; every `tests/cases/valid/*.lrx` must
//! check and plan without errors or warnings (but for missing data, which depends on the
//! machine). Rendered diagnostics are snapshotted so a change
//! in wording is reviewed.

use lrx::source::SourceMap;
use std::collections::BTreeSet;

type Expected = BTreeSet<(&'static str, String, String, usize, usize)>;

fn expected(text: &str, case: &str) -> Expected {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        let (severity, rest) = if let Some(r) = line.strip_prefix("//~ ERROR ") {
            ("ERROR", r)
        } else if let Some(r) = line.strip_prefix("//~ WARN ") {
            ("WARN", r)
        } else {
            assert!(
                !line.starts_with("//~"),
                "{case}: bad annotation `{line}` (write `//~ ERROR code line:col` or `//~ WARN code line:col`)"
            );
            continue;
        };
        let mut parts = rest.split_whitespace();
        let code = parts.next().expect("code");
        let code = if code.contains("::") {
            format!("lrx::{code}")
        } else {
            format!("lrx::check::{code}")
        };
        let pos = parts.next().expect("position");
        let segs: Vec<&str> = pos.split(':').collect();
        let (file, l, c) = match segs.as_slice() {
            [l, c] => (case.to_string(), l.parse().unwrap(), c.parse().unwrap()),
            [f, l, c] => (f.to_string(), l.parse().unwrap(), c.parse().unwrap()),
            _ => panic!("bad annotation {line}"),
        };
        out.insert((severity, code, file, l, c));
    }
    out
}

/// Every diagnostic of checking and planning a file: errors, and warnings of both stages.
fn diagnose(path: &std::path::Path, sources: &mut SourceMap) -> Vec<lrx::diag::Diag> {
    let mut probe = SourceMap::new();
    if probe
        .load(path)
        .is_ok_and(|id| lrx::check::is_recordings_spec(&probe, id))
    {
        // A recordings spec (`recording` blocks): checked, nothing to plan.
        return match lrx::check::check_recordings_path(path, sources) {
            Ok(w) => w.warnings,
            Err(d) => d.0,
        };
    }
    match lrx::check::check_path(path, sources) {
        Ok(w) => {
            let mut all = w.warnings;
            match lrx::plan::plan(&w.value) {
                Ok(p) => all.extend(p.warnings),
                Err(d) => all.extend(d.0),
            }
            all
        }
        Err(d) => d.0,
    }
}

#[test]
fn check_cases_report_exactly_the_annotated_errors() {
    let dir = crate::root().join("tests/cases/check");
    let files = crate::lrx_files(&dir);
    assert!(
        files.len() >= 20,
        "expected the check cases, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&f).unwrap();
        let want = expected(&text, &name);
        assert!(
            !want.is_empty(),
            "{name} has no //~ ERROR or //~ WARN annotation"
        );
        let mut sources = SourceMap::new();
        // Relative to the package root (cargo's working directory for tests), so rendered
        // paths and their line wrapping do not depend on where the repository lives.
        let rel = f.strip_prefix(crate::root()).unwrap_or(&f).to_path_buf();
        let got_diags = diagnose(&rel, &mut sources);
        let mut got = BTreeSet::new();
        for d in &got_diags {
            let (file, l, c) = d.location(&sources).unwrap_or_else(|| (name.clone(), 1, 1));
            let file = if file.ends_with(&name) {
                name.clone()
            } else {
                // Other files are named relative to the cases directory.
                file.rsplit_once("check/")
                    .map_or(file.clone(), |(_, r)| r.to_string())
            };
            let severity = if d.is_error() { "ERROR" } else { "WARN" };
            got.insert((severity, d.code.to_string(), file, l, c));
        }
        if got != want {
            failures.push(format!(
                "{name}:\n  expected {want:?}\n  got      {got:?}\n{}",
                lrx::diag::render_text(&got_diags, &sources, false, 100)
            ));
        }
        // Snapshot of the rendered text (names relative to the repo for stable output).
        let rendered = lrx::diag::render_text(&got_diags, &sources, false, 100)
            .replace(&crate::root().display().to_string(), "<repo>");
        insta::assert_snapshot!(
            format!("check__{}", name.trim_end_matches(".lrx")),
            rendered
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_cases_check_and_plan() {
    for f in crate::lrx_files(&crate::root().join("tests/cases/valid")) {
        let mut sources = SourceMap::new();
        match lrx::check::check_path(&f, &mut sources) {
            Ok(w) => {
                let plan = lrx::plan::plan(&w.value).unwrap_or_else(|d| {
                    panic!("{}", lrx::diag::render_text(&d.0, &sources, false, 100))
                });
                assert!(!plan.runs.is_empty());
                let mut warnings = w.warnings;
                warnings.extend(plan.warnings);
                // Whether data is installed depends on the machine, not on the spec.
                warnings.retain(|d| d.code != lrx::diag::codes::DATA_MISSING);
                assert!(
                    warnings.is_empty(),
                    "{}: a valid case warns:\n{}",
                    f.display(),
                    lrx::diag::render_text(&warnings, &sources, false, 100)
                );
            }
            Err(d) => panic!(
                "{}:\n{}",
                f.display(),
                lrx::diag::render_text(&d.0, &sources, false, 100)
            ),
        }
    }
}

#[test]
fn every_error_has_a_span_and_a_documented_code() {
    let docs = std::fs::read_to_string(crate::root().join("docs/diagnostics.md")).unwrap();
    for code in lrx::diag::codes::ALL.iter().chain(lrx::diag::runtime::ALL) {
        assert!(
            docs.contains(&format!("## `{code}`")),
            "docs/diagnostics.md lacks a section for `{code}`"
        );
    }
    for f in crate::lrx_files(&crate::root().join("tests/cases/check")) {
        let mut sources = SourceMap::new();
        {
            for x in &diagnose(&f, &mut sources) {
                assert!(
                    x.span.is_some(),
                    "{}: `{}` has no span",
                    f.display(),
                    x.message
                );
                assert!(
                    lrx::diag::codes::ALL.contains(&x.code),
                    "unlisted code {}",
                    x.code
                );
            }
        }
    }
}

#[test]
fn an_output_path_with_a_nul_byte_is_refused() {
    let mut sources = SourceMap::new();
    let text = "study s { output = \"runs/a\u{0}b\" }\ntask t = synthetic_images(size = 16)\ntrain { task = t, arch = knet4, rule in [sgdm, adam], lr = 0.01, batch = 8, epochs = 1 }\n";
    let id = sources.add("<nul>".to_string(), None, text.to_string());
    let d = lrx::check::check_source(id, &mut sources).expect_err("a NUL byte is refused");
    let codes: Vec<&str> = d.0.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["lrx::check::bad_path"], "{:?}", d.0);
    assert!(d.0[0].message.contains("NUL"), "{}", d.0[0].message);
}

/// Every code written in the source (a string literal `"lrx::..."`, or `error[lrx::...]` in a
/// message) is listed in `diag::codes::ALL` (the front end) or `diag::runtime::ALL` (the back
/// end), so that the docs test above covers it; each is listed once, and every section of
/// docs/diagnostics.md is a listed code.
#[test]
fn every_code_in_the_source_is_listed() {
    use std::collections::BTreeSet;
    let listed: Vec<&str> = lrx::diag::codes::ALL
        .iter()
        .chain(lrx::diag::runtime::ALL)
        .copied()
        .collect();
    let unique: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "a code is listed twice");
    let mut files = vec![crate::root().join("src")];
    let mut found = BTreeSet::new();
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if p.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for (i, _) in text.match_indices("lrx::") {
            let open = text[..i].chars().next_back();
            let rest = &text[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let close = rest[end..].chars().next();
            // A whole code, not a prefix that a test matches (`starts_with("lrx::parse")`).
            let whole = matches!(
                (open, close),
                (Some('"'), Some('"')) | (Some('['), Some(']'))
            ) && !text[..i].ends_with("starts_with(\"");
            if whole {
                found.insert((rest[..end].to_string(), p.display().to_string()));
            }
        }
    }
    assert!(
        found.len() > 100,
        "the scan found only {} codes",
        found.len()
    );
    for (code, file) in &found {
        assert!(
            unique.contains(code.as_str()),
            "{file}: code `{code}` is in neither diag::codes::ALL nor diag::runtime::ALL"
        );
    }
    let docs = std::fs::read_to_string(crate::root().join("docs/diagnostics.md")).unwrap();
    for line in docs.lines() {
        if let Some(code) = line.strip_prefix("## `").and_then(|l| l.strip_suffix('`')) {
            assert!(
                unique.contains(code),
                "docs/diagnostics.md documents `{code}`, which lrx does not list"
            );
        }
    }
}
