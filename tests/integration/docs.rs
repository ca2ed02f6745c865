//! Every ```lrx block in docs/ and README.md checks; the generated builtins page is current.

use lrx::source::SourceMap;

#[test]
fn lrx_blocks_in_docs_check() {
    let mut files = vec![crate::root().join("README.md")];
    crate::files_below(&crate::root().join("docs"), "md", &mut files);
    let mut n = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut in_block = false;
        let mut block = String::new();
        for line in text.lines() {
            if !in_block && line.trim_start() == "```lrx" {
                in_block = true;
                block.clear();
            } else if in_block && line.trim_start() == "```" {
                in_block = false;
                n += 1;
                let mut sources = SourceMap::new();
                // A block that defines a study is checked and planned; a fragment (only
                // definitions) is checked as a module.
                let id = sources.add(
                    format!("{} block {n}", f.display()),
                    Some(f.clone()),
                    block.clone(),
                );
                let is_study = block.lines().any(|l| l.trim_start().starts_with("study "));
                let r = if is_study {
                    lrx::check::check_source(id, &mut sources)
                        .map(|w| lrx::plan::plan(&w.value).map(|_| ()))
                        .and_then(|x| x)
                } else {
                    lrx::check::check_module(id, &mut sources)
                };
                if let Err(d) = r {
                    panic!(
                        "{}:\n{block}\n{}",
                        f.display(),
                        lrx::diag::render_text(&d.0, &sources, false, 100)
                    );
                }
            } else if in_block {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(n >= 5, "expected lrx examples in the docs, found {n}");
}

#[test]
fn builtins_reference_is_current() {
    let (code, out, _) = lrx::cli::run_captured(&["doc"]);
    assert_eq!(code, 0);
    let committed = std::fs::read_to_string(crate::root().join("docs/reference/builtins.md"))
        .unwrap_or_default();
    assert!(
        committed == out,
        "docs/reference/builtins.md is stale: run `cargo run -- doc > docs/reference/builtins.md`"
    );
}

/// The editor grammar's builtin list is the registry's (`lrx doc --textmate`), so adding a
/// builtin edits no grammar by hand.
#[test]
fn editor_grammar_builtins_are_current() {
    let (code, out, _) = lrx::cli::run_captured(&["doc", "--textmate"]);
    assert_eq!(code, 0);
    let path = "editors/vscode/syntaxes/lrx.tmLanguage.json";
    let committed = std::fs::read_to_string(crate::root().join(path)).unwrap_or_default();
    assert!(
        committed == out,
        "{path} is stale: run `cargo run -- doc --textmate > {path}`"
    );
    for b in lrx::registry::BUILTINS.iter().copied() {
        assert!(
            out.contains(&format!("|{}|", b.name))
                || out.contains(&format!("({}|", b.name))
                || out.contains(&format!("|{})", b.name)),
            "{}",
            b.name
        );
    }
}

#[test]
fn grammar_reference_includes_the_grammar() {
    let g = std::fs::read_to_string(crate::root().join("grammar/lrx.pest")).unwrap();
    let doc = std::fs::read_to_string(crate::root().join("docs/reference/grammar.md")).unwrap();
    assert!(
        doc.contains(g.trim()),
        "docs/reference/grammar.md must embed grammar/lrx.pest verbatim"
    );
}
