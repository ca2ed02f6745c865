use std::path::Path;

use super::fixture::write_demo_study;
use super::*;

const SECTIONS: [&str; 11] = [
    "overview",
    "accuracy",
    "pairwise",
    "confusion",
    "importance",
    "holdout",
    "trajectory",
    "realism",
    "training",
    "provenance",
    "evaluations",
];

/// References that would make the HTML depend on something outside the file.
pub(super) fn external_references(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut bad = Vec::new();
    for pat in [
        "src=",
        "<link",
        "<script",
        "@import",
        "url(",
        "<iframe",
        "<object",
        "<embed",
        "xlink:href",
    ] {
        if lower.contains(pat) {
            bad.push(pat.to_string());
        }
    }
    // Only in-page anchors may be linked.
    for (i, _) in lower.match_indices("href=\"") {
        let rest = &lower[i + 6..];
        if !rest.starts_with('#') {
            bad.push(rest.chars().take(40).collect());
        }
    }
    bad
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

#[test]
fn full_study_report_has_every_section_and_image() {
    let tmp = tempfile::tempdir().unwrap();
    // LRX_REPORT_KEEP=<dir>: write the demo study there (to look at the report).
    let dir = match std::env::var_os("LRX_REPORT_KEEP") {
        Some(d) => std::path::PathBuf::from(d),
        None => tmp.path().join("demo"),
    };
    write_demo_study(&dir);
    let files = write_report(&dir).expect("report");
    assert!(files.missing.is_empty(), "missing: {:?}", files.missing);
    let html_path = files.html.clone().expect("html written");
    let md_path = files.markdown.clone().expect("markdown written");
    assert_eq!(html_path, dir.join("results/report.html"));
    assert_eq!(md_path, dir.join("results/report.md"));
    let html = read(&html_path);
    let md = read(&md_path);
    for id in SECTIONS {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "html lacks {id}"
        );
        assert!(
            md.contains(&format!("<a id=\"{id}\"></a>")),
            "md lacks {id}"
        );
    }
    // Expected figures: accuracy, 1 pairwise (all), 4 confusion, importance, holdout-arch,
    // trajectory, realism (all, rf), training.
    let expected = [
        "accuracy",
        "pairwise-all",
        "confusion-weight",
        "confusion-act",
        "confusion-gradavg",
        "confusion-all",
        "importance",
        "holdout-arch",
        "trajectory",
        "realism-all-random_forest",
        "training",
    ];
    let svgs = html.matches("<svg ").count();
    assert_eq!(svgs, expected.len(), "inline svg count");
    assert_eq!(files.plots.len(), 2 * expected.len());
    for name in expected {
        assert!(
            html.contains(&format!("id=\"fig-{name}\"")),
            "html figure {name}"
        );
        assert!(
            md.contains(&format!("](plots/{name}.png)")),
            "md figure {name}"
        );
        let png = dir.join("results/plots").join(format!("{name}.png"));
        let bytes = std::fs::read(&png).unwrap();
        let img = image::load_from_memory(&bytes)
            .unwrap_or_else(|e| panic!("{} does not decode: {e}", png.display()));
        assert!(img.width() >= 300 && img.height() >= 200);
        // Not blank: some pixels are dark (axes, text, bars).
        let dark = img.to_luma8().pixels().filter(|p| p.0[0] < 100).count();
        assert!(dark > 500, "{name}.png looks blank ({dark} dark pixels)");
        let svg = read(&dir.join("results/plots").join(format!("{name}.svg")));
        assert!(svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<text"), "{name}.svg has text");
    }
    assert_eq!(external_references(&html), Vec::<String>::new());
    // Numbers are in tables too.
    assert!(md.contains("| measure | classifier | features | accuracy (mean ± s.e.m.) |"));
    assert!(md.contains("| random forest |") || md.contains("random forest"));
    assert!(html.contains("<table>"));
    // Provenance: spec hash, versions, devices, diverged run and epoch, failed error, not run.
    for needle in [
        "0123456789abcdef",
        "2.11.0",
        "cpu (8 runs)",
        "| libtorch CPU threads per run | 1 (8 runs) |",
        "diverged 1, done 6, failed 1",
        "planned but not recorded",
        "out of memory (fixture)",
        "diverged at epoch",
        "Demo study report",
    ] {
        assert!(md.contains(needle), "md lacks `{needle}`");
    }
    let diverged_row = md
        .lines()
        .find(|l| l.contains("000000000000a011") && l.ends_with("| 3 |"));
    assert!(diverged_row.is_some(), "diverged run id and epoch row");
    // Confusion tables carry balanced accuracy and d′.
    assert!(md.contains("balanced accuracy | d′"));
    // Atomic writes leave no temporary files.
    for d in [dir.join("results"), dir.join("results/plots")] {
        for e in std::fs::read_dir(&d).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!n.starts_with('.'), "temporary file left: {n}");
        }
    }
    // Rewriting replaces the files and removes figures the new report no longer has.
    let stale = dir.join("results/plots/old-figure.png");
    std::fs::write(&stale, b"x").unwrap();
    let again = write_report(&dir).unwrap();
    assert_eq!(again.all().len(), files.all().len());
    assert!(!stale.exists(), "stale figure removed");
}

#[test]
fn empty_study_dir_says_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let files = write_report(tmp.path()).expect("report of an empty dir");
    let html = read(files.html.as_ref().unwrap());
    let md = read(files.markdown.as_ref().unwrap());
    assert!(files.plots.is_empty());
    assert_eq!(html.matches("<svg").count(), 0);
    for needle in [
        "study.json",
        "manifest.json",
        "runs.parquet",
        "status.json",
        "results/evaluations.json",
        "No classifier results yet",
        "No training histories",
    ] {
        assert!(md.contains(needle), "md lacks `{needle}`");
        assert!(html.contains(needle), "html lacks `{needle}`");
    }
    assert_eq!(files.missing.len(), 5, "{:?}", files.missing);
    for id in SECTIONS {
        assert!(html.contains(&format!("<section id=\"{id}\">")));
    }
}

#[test]
fn partial_inputs_degrade_per_section() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_demo_study(dir);
    // No results at all, no histories for one format; only html requested.
    std::fs::remove_dir_all(dir.join("results")).unwrap();
    let mut study: serde_json::Value =
        serde_json::from_str(&read(&dir.join("study.json"))).unwrap();
    study["report"]["formats"] = serde_json::json!(["html"]);
    std::fs::write(dir.join("study.json"), study.to_string()).unwrap();
    let files = write_report(dir).unwrap();
    assert!(files.markdown.is_none() && files.plots.is_empty());
    let html = read(files.html.as_ref().unwrap());
    assert!(html.contains("No classifier results yet"));
    assert!(
        html.contains("id=\"fig-training\""),
        "training curves still drawn"
    );
    assert_eq!(html.matches("<svg ").count(), 1);

    // Results index present but a listed result file missing: the section notes it.
    let tmp2 = tempfile::tempdir().unwrap();
    let d2 = tmp2.path();
    write_demo_study(d2);
    std::fs::remove_file(d2.join("results/eval/rule-act-random_forest.json")).unwrap();
    std::fs::remove_file(d2.join("results/eval/rule-act-linear_svm.json")).unwrap();
    let files = write_report(d2).unwrap();
    assert_eq!(files.missing.len(), 1, "{:?}", files.missing);
    assert!(files.missing[0].contains("2 classifier result files"));
    let md = read(files.markdown.as_ref().unwrap());
    assert!(md.contains("confusion matrix cannot be shown"));
}

#[test]
fn bad_files_are_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("manifest.json"), "{ not json").unwrap();
    let e = write_report(dir).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("manifest.json") && msg.contains("not valid JSON"),
        "{msg}"
    );
    assert_eq!(crate::diag::Coded::code(&e), "lrx::report::bad_json");

    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    std::fs::write(dir.join("runs.parquet"), b"PAR1 garbage").unwrap();
    let e = write_report(dir).unwrap_err();
    assert!(e.to_string().contains("runs.parquet"), "{e}");

    std::fs::remove_file(dir.join("runs.parquet")).unwrap();
    std::fs::create_dir_all(dir.join("runs/abc")).unwrap();
    std::fs::write(dir.join("runs/abc/status.json"), r#"{"history": 3}"#).unwrap();
    let e = write_report(dir).unwrap_err();
    assert!(e.to_string().contains("runs/abc/status.json"), "{e}");

    let e = write_report(&dir.join("nope")).unwrap_err();
    assert_eq!(crate::diag::Coded::code(&e), "lrx::report::not_a_directory");
}

#[test]
fn tolerant_readers_ignore_unknown_keys_and_missing_optional_parts() {
    let e: inputs::EvalEntry = serde_json::from_str(
        r#"{"id":"x","target":"pair:adam-sgdm","accuracy":{"mean":0.9,"sem":0.01},"future":1}"#,
    )
    .unwrap();
    assert_eq!(e.pair(), Some(("adam".into(), "sgdm".into())));
    assert!(e.is_main());
    let f: inputs::EvalFile =
        serde_json::from_str(r#"{"classes":["a","b"],"summary":{"chance":0.5}}"#).unwrap();
    assert!(f.summary.gini_importance.is_none());
    assert!(f.summary.confusion_mean.is_empty());
}

#[test]
fn markdown_and_html_escape_text() {
    let mut d = Doc {
        title: "a <b> & c".into(),
        ..Default::default()
    };
    d.sections.push(doc::Section {
        id: "s".into(),
        title: "x|y".into(),
        reads: String::new(),
        blocks: vec![doc::Block::Table(doc::Table {
            header: vec!["h".into()],
            rows: vec![vec!["p|q `r|s`".into()]],
        })],
    });
    let h = d.to_html();
    assert!(h.contains("<h1>a &lt;b&gt; &amp; c</h1>"));
    assert!(h.contains("<td>p|q <code>r|s</code></td>"));
    let m = d.to_markdown("plots");
    assert!(m.contains("| p\\|q `r|s` |"));
    assert_eq!(doc::slug("Holdout: arch / KNet4"), "holdout-arch-knet4");
}

#[test]
fn cli_report_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    let (code, _out, err) = crate::cli::run_captured(&["report", d]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("report.html") && err.contains("report.md"),
        "{err}"
    );
    assert!(err.contains("missing"), "{err}");
    let (code, _, err) = crate::cli::run_captured(&["report", &format!("{d}/nope")]);
    assert_eq!(code, 1);
    assert!(err.contains("error[lrx::report::not_a_directory]"), "{err}");
}
