//! Pinned stdlib versions (`study { stdlib = N }`, issue 24): the lock of this build's stdlib
//! is committed, and a pinned spec is told which stdlib values it uses changed.

use lrx::cli::run_captured;
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn stdlib_lock_matches_the_stdlib() {
    let v = lrx::stdlib::VERSION;
    let path = crate::root().join(format!("stdlib/versions/{v}.json"));
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        committed,
        lrx::check::stdlib_lock_json(),
        "the stdlib resolves to other values than {}: bump stdlib::VERSION, write the new lock \
         with `lrx doc --stdlib-lock > stdlib/versions/<version>.json` and add it to \
         stdlib::LOCKS (keep the old ones: pinned specs compare against them)",
        path.display()
    );
    // Every known version's lock parses, and the current one is among them.
    for (version, _) in lrx::stdlib::LOCKS {
        assert!(lrx::stdlib::lock(*version).is_some_and(|m| !m.is_empty()));
    }
    assert!(lrx::stdlib::LOCKS.iter().any(|(x, _)| *x == v));
}

fn spec_with_pin(dir: &std::path::Path, pin: &str) -> String {
    let s = format!(
        "import paper\nstudy pinned {{ stdlib = {pin} }}\n\
         task shapes = synthetic_images(size = 16, train = 256, val = 64)\n\
         train {{\n  task = shapes\n  arch = paper.knet4(width = 0.25, init = he)\n  \
         rule in paper.rules\n  lr = paper.lr_cifar[rule]\n  batch = 32\n  epochs = 2\n}}\n"
    );
    let p = dir.join(format!("pinned{pin}.lrx"));
    std::fs::write(&p, s).unwrap();
    p.display().to_string()
}

#[test]
fn a_spec_pinned_to_this_stdlib_checks_without_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let p = spec_with_pin(tmp.path(), &lrx::stdlib::VERSION.to_string());
    let (code, _, err) = run_captured(&["check", "--deny", "warnings", &p]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_pin_this_lrx_does_not_know_is_a_warning_at_the_pin() {
    let tmp = tempfile::tempdir().unwrap();
    let p = spec_with_pin(tmp.path(), "999");
    let (code, _, err) = run_captured(&["check", "--message-format", "json", &p]);
    assert_eq!(code, 0, "a warning, not an error: {err}");
    let v: serde_json::Value = serde_json::from_str(err.lines().next().unwrap()).unwrap();
    let d = &v[0];
    assert_eq!(d["code"], "lrx::check::stdlib_changed");
    assert_eq!(d["line"], 2);
    assert!(d["message"].as_str().unwrap().contains("newer"), "{d}");
    let (code, _, _) = run_captured(&["check", "--deny", "warnings", &p]);
    assert_eq!(code, 1);
}

#[test]
fn each_changed_value_the_spec_uses_is_named_with_both_values() {
    let current = lrx::check::stdlib_values();
    // An older lock in which two presets had other values, one of them unused by the spec.
    let mut old: BTreeMap<String, String> = current.clone();
    old.insert("paper.ia_regime".into(), "ia(alpha = 0.5)".into());
    old.insert("paper.readout_sgdm".into(), "sgdm(momentum = 0.5)".into());
    old.remove("paper.fa_regime");
    let used: BTreeSet<String> = ["paper.ia_regime", "paper.fa_regime", "paper.sgdm"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let span = lrx::source::Span::new(lrx::source::SourceId(0), 0, 1);
    let ws = lrx::check::stdlib_pin_warnings(1, span, &used, Some(&old), &current);
    let msgs: Vec<String> = ws.iter().map(|d| d.message.clone()).collect();
    assert_eq!(ws.len(), 2, "{msgs:?}");
    assert!(msgs[0].contains("paper.fa_regime"), "{msgs:?}");
    assert!(msgs[1].contains("paper.ia_regime"), "{msgs:?}");
    let help = ws[1].help.clone().unwrap_or_default();
    assert!(help.contains("ia(alpha = 0.5)"), "{help}");
    assert!(help.contains(&current["paper.ia_regime"]), "{help}");
    assert!(
        ws[0]
            .help
            .clone()
            .unwrap_or_default()
            .contains("(not defined)")
    );
    // Nothing changed: no warning.
    assert!(lrx::check::stdlib_pin_warnings(1, span, &used, Some(&current), &current).is_empty());
}

#[test]
fn the_checker_records_the_stdlib_values_a_spec_uses() {
    // The definitions reached, directly or through another stdlib value, are the ones a
    // pinned spec is warned about: here `paper.rules` (a list of presets), `paper.lr_cifar` and
    // `paper.knet4`, and not `paper.ia_regime`, which the spec never names.
    let tmp = tempfile::tempdir().unwrap();
    let p = spec_with_pin(tmp.path(), "1");
    let mut sources = lrx::source::SourceMap::new();
    let id = sources.load(std::path::Path::new(&p)).unwrap();
    let (r, used) = lrx::check::check_source_with_uses(id, &mut sources);
    assert!(r.is_ok());
    for name in ["paper.rules", "paper.lr_cifar", "paper.knet4"] {
        assert!(used.contains(name), "{name} not in {used:?}");
    }
    assert!(!used.contains("paper.ia_regime"), "{used:?}");
}
