//! Every file in `specs/` and `stdlib/` parses, checks and plans; plan summaries are
//! snapshotted; the paper spec has the paper's counts; run ids are stable.

use lrx::source::SourceMap;

fn plan_of(path: &std::path::Path) -> (lrx::ir::Study, lrx::plan::Plan) {
    let mut sources = SourceMap::new();
    let study = match lrx::check::check_path(path, &mut sources) {
        Ok(w) => w.value,
        Err(d) => panic!(
            "{}:\n{}",
            path.display(),
            lrx::diag::render_text(&d.0, &sources, false, 100)
        ),
    };
    let plan = lrx::plan::plan(&study)
        .unwrap_or_else(|d| panic!("{}", lrx::diag::render_text(&d.0, &sources, false, 100)));
    (study, plan)
}

#[test]
fn specs_check_and_plan_with_snapshots() {
    let files = crate::lrx_files(&crate::root().join("specs"));
    assert!(
        files.len() >= 3,
        "quickstart, mini and paper specs expected"
    );
    for f in files {
        let (study, plan) = plan_of(&f);
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        let text = lrx::cli::summary_text(&study, &plan);
        // The spec hash changes with every edit of the spec; the plan hash is the contract.
        let text = text.replace(&plan.spec_hash, "<spec-hash>");
        insta::assert_snapshot!(format!("plan__{name}"), text);
        let head = std::fs::read_to_string(&f).unwrap();
        assert!(
            head.starts_with("//"),
            "{name}: specs start with a header comment"
        );
    }
}

#[test]
fn stdlib_modules_check() {
    for (name, _) in lrx::stdlib::MODULES {
        let mut sources = SourceMap::new();
        let id = sources.add(format!("<test {name}>"), None, format!("import {name}\n"));
        lrx::check::check_module(id, &mut sources)
            .unwrap_or_else(|d| panic!("{}", lrx::diag::render_text(&d.0, &sources, false, 100)));
        // Every definition of the module evaluates.
        let src = lrx::stdlib::get(name).unwrap();
        let mut s2 = SourceMap::new();
        let id2 = s2.add(format!("<stdlib/{name}.lrx>"), None, src.to_string());
        lrx::check::check_module(id2, &mut s2)
            .unwrap_or_else(|d| panic!("{}", lrx::diag::render_text(&d.0, &s2, false, 100)));
    }
    // The stdlib directory and the embedded modules are the same files.
    for f in crate::lrx_files(&crate::root().join("stdlib")) {
        let stem = f.file_stem().unwrap().to_string_lossy().to_string();
        let embedded =
            lrx::stdlib::get(&stem).unwrap_or_else(|| panic!("stdlib/{stem}.lrx is not embedded"));
        assert_eq!(std::fs::read_to_string(&f).unwrap(), embedded);
    }
}

#[test]
fn paper_spec_has_the_papers_counts() {
    let (_, plan) = plan_of(&crate::root().join("specs/paper.lrx"));
    let s = &plan.summary;
    assert_eq!(s.training_runs, 1056);
    assert_eq!(s.examples, 20_736);
    for (rule, n) in &s.examples_per_class {
        assert_eq!(*n, 5184, "examples of {rule}");
    }
    assert_eq!(s.checkpoints_per_run, (21, 21));
    assert_eq!(s.observables, 45);
    // 4 networks in the realism population (ResNet-18, ImageNet and SimCLR, FA and IA).
    assert_eq!(s.realism_runs, 4);
}

#[test]
fn run_ids_are_stable_across_invocations_and_field_order() {
    let a = plan_of(&crate::root().join("specs/quickstart.lrx")).1;
    let b = plan_of(&crate::root().join("specs/quickstart.lrx")).1;
    let ids = |p: &lrx::plan::Plan| p.runs.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    let r = plan_of(&crate::root().join("tests/cases/reorder/quickstart_reordered.lrx")).1;
    let mut x = ids(&a);
    let mut y = ids(&r);
    x.sort();
    y.sort();
    assert_eq!(
        x, y,
        "reordering fields and axes must not change the set of run ids"
    );
    assert_eq!(a.summary.plan_hash, r.summary.plan_hash);
    // Ids are 16 hex digits and unique.
    let set: std::collections::BTreeSet<_> = x.iter().collect();
    assert_eq!(set.len(), x.len());
    assert!(
        x.iter()
            .all(|i| i.len() == 16 && i.chars().all(|c| c.is_ascii_hexdigit()))
    );
}

#[test]
fn a_changed_field_changes_only_the_affected_ids() {
    let base = std::fs::read_to_string(crate::root().join("specs/quickstart.lrx")).unwrap();
    let line = base
        .lines()
        .find(|l| l.trim_start().starts_with("epochs") && l.trim_end().ends_with("= 10"))
        .expect("quickstart.lrx sets `epochs = 10`");
    let changed = base.replace(line, &line.replace("= 10", "= 11"));
    assert_ne!(base, changed);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("q.lrx");
    std::fs::write(&p, changed).unwrap();
    let a = plan_of(&crate::root().join("specs/quickstart.lrx")).1;
    let b = plan_of(&p).1;
    let sa: std::collections::BTreeSet<_> = a.runs.iter().map(|r| r.id.clone()).collect();
    let sb: std::collections::BTreeSet<_> = b.runs.iter().map(|r| r.id.clone()).collect();
    assert!(
        sa.is_disjoint(&sb),
        "every run trains for another number of epochs"
    );
}

#[test]
fn run_id_is_the_hash_of_the_identity_document() {
    let (_, plan) = plan_of(&crate::root().join("specs/mini.lrx"));
    for r in &plan.runs {
        assert_eq!(
            r.recompute_id(),
            r.id,
            "`lrx why` must show exactly what is hashed"
        );
    }
}
