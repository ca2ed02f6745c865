//! `lrx diff A.lrx B.lrx`: the plan-level difference between two specs (issue 24).

use lrx::cli::run_captured;

/// specs/quickstart.lrx with `edits` (from → to) applied, written to `dir/name`. Runs of
/// spaces are collapsed first (the spec's alignment is `lrx fmt`'s business), so `from` is
/// written with single spaces.
fn variant(dir: &std::path::Path, name: &str, edits: &[(&str, &str)]) -> String {
    let text = std::fs::read_to_string(crate::root().join("specs/quickstart.lrx")).unwrap();
    let mut s = text
        .lines()
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            let body: Vec<&str> = l.split(' ').filter(|w| !w.is_empty()).collect();
            format!("{}{}", " ".repeat(indent), body.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n");
    for (from, to) in edits {
        assert!(
            s.contains(from),
            "quickstart.lrx no longer contains {from:?}"
        );
        s = s.replace(from, to);
    }
    let p = dir.join(name);
    std::fs::write(&p, s).unwrap();
    p.display().to_string()
}

fn json_diff(a: &str, b: &str) -> serde_json::Value {
    let (code, out, err) = run_captured(&["diff", a, b, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn total(groups: &serde_json::Value) -> u64 {
    groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["runs"].as_u64().unwrap())
        .sum()
}

#[test]
fn a_spec_against_itself_is_the_same_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let a = variant(tmp.path(), "a.lrx", &[]);
    let (code, out, err) = run_captured(&["diff", &a, &a, "--exit-code"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("same plan"), "{out}");
    assert!(
        out.contains("runs: A 64, B 64: 64 shared, 0 changed, 0 only in A, 0 only in B"),
        "{out}"
    );
}

#[test]
fn added_axis_values_are_only_in_b_grouped_by_the_factors_that_differ() {
    let tmp = tempfile::tempdir().unwrap();
    let a = variant(tmp.path(), "a.lrx", &[]);
    let b = variant(
        tmp.path(),
        "b.lrx",
        &[("batch in [32, 64]", "batch in [32, 64, 128]")],
    );
    let d = json_diff(&a, &b);
    assert_eq!(d["shared_runs"], 64);
    assert_eq!(total(&d["only_a"]), 0);
    // 2 architectures × 4 rules × 2 × 2 seeds at batch 128.
    assert_eq!(total(&d["only_b"]), 32);
    assert_eq!(d["changed"].as_array().unwrap().len(), 0);
    // The rate follows the batch, so both factors differ; every group is at batch 128.
    assert_eq!(d["factors"]["batch"][1], serde_json::json!(["128"]));
    assert!(d["factors"].get("lr").is_some());
    for g in d["only_b"].as_array().unwrap() {
        let values = g["values"].as_array().unwrap();
        assert!(values.contains(&serde_json::json!(["batch", "128"])), "{g}");
    }
    // More runs, more examples and more evaluations (holdout values of batch 128) in B.
    assert!(d["b"]["evaluations"].as_u64() > d["a"]["evaluations"].as_u64());
    assert!(!d["evaluations_only_b"].as_array().unwrap().is_empty());
    assert!(d["b"]["cpu_hours"].as_f64() > d["a"]["cpu_hours"].as_f64());
    // The text form says the same, and --exit-code fails on a difference.
    let (code, out, _) = run_captured(&["diff", &a, &b, "--exit-code"]);
    assert_eq!(code, 1);
    assert!(out.contains("only in B (32):"), "{out}");
    assert!(out.contains("batch = 128"), "{out}");
}

#[test]
fn same_factors_with_a_new_identity_are_changed_and_name_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let a = variant(tmp.path(), "a.lrx", &[]);
    let b = variant(
        tmp.path(),
        "b.lrx",
        &[("stimuli = val(128)", "stimuli = val(64)")],
    );
    let d = json_diff(&a, &b);
    assert_eq!(d["shared_runs"], 0);
    assert_eq!(total(&d["only_a"]) + total(&d["only_b"]), 0);
    let changed = d["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["runs"], 64);
    assert_eq!(changed[0]["fields"], serde_json::json!(["observe"]));
    assert!(d["factors"].as_object().unwrap().is_empty());
}

#[test]
fn classify_changes_show_as_evaluations_only_in_one_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let a = variant(tmp.path(), "a.lrx", &[]);
    let b = variant(
        tmp.path(),
        "b.lrx",
        &[(
            "holdout in [arch, curriculum(batch, data_seed)]",
            "holdout in [arch]",
        )],
    );
    let d = json_diff(&a, &b);
    assert_eq!(
        d["shared_runs"], 64,
        "the runs do not depend on the classify block"
    );
    let only_a = d["evaluations_only_a"].as_array().unwrap();
    assert!(!only_a.is_empty());
    assert!(d["evaluations_only_b"].as_array().unwrap().is_empty());
    assert_eq!(
        d["shared_evaluations"].as_u64().unwrap() + only_a.len() as u64,
        d["a"]["evaluations"].as_u64().unwrap()
    );
}

#[test]
fn an_invalid_spec_is_reported_like_check() {
    let tmp = tempfile::tempdir().unwrap();
    let a = variant(tmp.path(), "a.lrx", &[]);
    let b = variant(
        tmp.path(),
        "b.lrx",
        &[("rule in paper.rules", "rule in paper.rulez")],
    );
    let (code, _, err) = run_captured(&["diff", &a, &b]);
    assert_eq!(code, 1);
    assert!(err.contains("b.lrx"), "{err}");
}
