//! File-driven cases: every `tests/cases/check/*.lrx` holds `//~ ERROR <code> [file:]line:col`
//! annotations, and the checker must report exactly those (code, position) pairs; every
//! `tests/cases/valid/*.lrx` must check and plan without errors. Rendered diagnostics are
//! snapshotted so a change in wording is reviewed.

use lrx::source::SourceMap;
use std::collections::BTreeSet;

fn expected(text: &str, case: &str) -> BTreeSet<(String, String, usize, usize)> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("//~ ERROR ") else {
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
        out.insert((code, file, l, c));
    }
    out
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
        assert!(!want.is_empty(), "{name} has no //~ ERROR annotation");
        let mut sources = SourceMap::new();
        // Relative to the package root (cargo's working directory for tests), so rendered
        // paths and their line wrapping do not depend on where the repository lives.
        let rel = f.strip_prefix(crate::root()).unwrap_or(&f).to_path_buf();
        let got_diags = match lrx::check::check_path(&rel, &mut sources) {
            Ok(w) => match lrx::plan::plan(&w.value) {
                Ok(_) => vec![],
                Err(d) => d.0,
            },
            Err(d) => d.0,
        };
        let mut got = BTreeSet::new();
        for d in got_diags.iter().filter(|d| d.is_error()) {
            let (file, l, c) = d.location(&sources).unwrap_or_else(|| (name.clone(), 1, 1));
            let file = if file.ends_with(&name) {
                name.clone()
            } else {
                // Other files are named relative to the cases directory.
                file.rsplit_once("check/")
                    .map_or(file.clone(), |(_, r)| r.to_string())
            };
            got.insert((d.code.to_string(), file, l, c));
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
    for code in lrx::diag::codes::ALL {
        assert!(
            docs.contains(&format!("## `{code}`")),
            "docs/diagnostics.md lacks a section for `{code}`"
        );
    }
    for f in crate::lrx_files(&crate::root().join("tests/cases/check")) {
        let mut sources = SourceMap::new();
        if let Err(d) = lrx::check::check_path(&f, &mut sources) {
            for x in &d.0 {
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
