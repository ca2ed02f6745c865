use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::expand::{StudyShape, evaluation_counts, evaluation_specs, fits_of};
use super::run::to_classify_table;
use super::*;
use crate::classify::data::MeasureSubset;
use crate::classify::eval::{EvalResult, TimeSpec, make_splits};
use crate::classify::performance::matched_runs;
use crate::classify::performance::perf_table;
use crate::ir;
use crate::source::SourceMap;
use crate::synthetic::{SyntheticStudy, write_synthetic_study};
use crate::value::Value;

const OBS: [&str; 6] = [
    "weightabs_median",
    "weightraw_mean",
    "weightsq_norm",
    "actabs_mean",
    "actraw_var",
    "gradavgraw_id",
];

/// A 64-run study (4 rules × 2 archs × 2 batches × 2 model seeds × 2 data seeds), 5 checkpoints,
/// a realism condition on fa/ia at batch 32, and `classify`.
fn spec(classify: &str) -> String {
    format!(
        r#"import paper
study synth {{
  output = "runs/synth"
  seed   = 3
  device = cpu
}}
task shapes = synthetic_images(size = 8, channels = 1, classes = 2, train = 64, val = 32, seed = 0)
train {{
  task       = shapes
  arch       in [paper.knet4(width = 0.25), paper.knet4_lrn(width = 0.25)]
  rule       in paper.rules
  lr         = 0.01
  batch      in [32, 64]
  model_seed in seeds(2)
  data_seed  in seeds(2)
  epochs     = 4
  checkpoint = every(1 epoch)
}}
observe paper.candidates {{ stimuli = val(16) }}
realism {{
  noise = awgn(sigma in [0.5])
  units in [100%]
  seeds = {{ _: 1 }}
  where rule in [fa, ia] && batch == 32
}}
{classify}
"#
    )
}

pub(super) fn checked(classify: &str) -> (ir::Study, crate::plan::Plan) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.lrx");
    std::fs::write(&p, spec(classify)).unwrap();
    let mut sources = SourceMap::new();
    let study = match crate::check::check_path(&p, &mut sources) {
        Ok(w) => w.value,
        Err(d) => panic!("{}", crate::diag::render_text(&d.0, &sources, false, 100)),
    };
    let plan = crate::plan::plan(&study).unwrap();
    (study, plan)
}

fn synth(dir: &Path, plan: &crate::plan::Plan, shuffle: bool) {
    write_synthetic_study(
        dir,
        plan,
        &SyntheticStudy {
            observables: OBS.iter().map(|s| s.to_string()).collect(),
            signal: 2.0,
            shuffle_labels: shuffle,
            seed: 7,
            ..Default::default()
        },
    )
    .unwrap();
}

const MAIN: &str = r#"classify {
  targets  = [rule]
  measures in [weight, gradavg, all]
  models   = [random_forest(trees in [15], max_features in [sqrt]),
              linear_svm(C in [0.1, 1], pca in [none])]
  splits   = balanced(3, test = 25%)
  cv       = stratified_kfold(3)
  holdout  in [arch, curriculum(batch, data_seed)]
  trajectory { period in [1, 2], samples in [2, 4] }
  average  = true
  realism  = true
}"#;

fn opts() -> StageOptions {
    StageOptions {
        study: "synth".into(),
        spec_hash: "h".into(),
        extra_dirs: vec![],
        save_models: false,
    }
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn stage_runs_every_evaluation_of_the_spec() {
    let (study, plan) = checked(MAIN);
    let c = study.classify.clone().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    synth(&dir, &plan, false);
    let mut events = Vec::new();
    let out = classify_study_with(&dir, &c, &opts(), &mut |e| events.push(e)).unwrap();
    let ev = &out.evaluations;
    // 1 target × 3 measures × 2 models × (balanced + 2 arch + 4 curricula + 3 fitting
    // trajectory settings + average) + realism: 1 × 3 × 2 × 1 condition.
    assert_eq!(ev.evaluations.len(), 3 * 2 * 11 + 6);
    assert_eq!(ev.evaluations.len(), plan.summary.classifier_evaluations);
    assert!(
        ev.notes.iter().any(|n| n.contains("period 2, 4 samples")),
        "{:?}",
        ev.notes
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StageEvent::Loaded { .. }))
    );
    let finished = events
        .iter()
        .filter(|e| matches!(e, StageEvent::Finished { .. }))
        .count();
    assert_eq!(finished, ev.evaluations.len());
    // Files and keys.
    let j = read_json(&dir.join("results/evaluations.json"));
    assert_eq!(j["schema_version"], 1);
    assert_eq!(j["study"], "synth");
    let e0 = &j["evaluations"][0];
    for k in [
        "id",
        "target",
        "classes",
        "measure",
        "classifier",
        "split",
        "holdout",
        "trajectory",
        "layout",
        "portion",
        "accuracy",
        "chance",
        "result_file",
        "realism",
    ] {
        assert!(e0.get(k).is_some(), "missing key {k}");
    }
    let ids: BTreeSet<&str> = ev.evaluations.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), ev.evaluations.len());
    for e in &ev.evaluations {
        let r: EvalResult = serde_json::from_str(
            &std::fs::read_to_string(dir.join("results").join(&e.result_file)).unwrap(),
        )
        .unwrap();
        // serde_json parses floats to within an ulp.
        assert!((r.summary.accuracy.mean - e.accuracy.mean).abs() < 1e-12);
    }
    assert!(dir.join("results/summary.parquet").exists());
    // Structured data: well above chance on weight and all; gradavg carries no rule signal.
    let acc = |m: &str, cl: &str| {
        ev.evaluations
            .iter()
            .find(|e| {
                e.measure == m
                    && e.classifier == cl
                    && e.split == "balanced"
                    && e.layout == "flat"
                    && e.trajectory.is_none()
                    && e.realism.is_none()
            })
            .unwrap()
            .accuracy
            .mean
    };
    for cl in ["random_forest", "linear_svm"] {
        assert!(acc("all", cl) > 0.7, "{cl} all {}", acc("all", cl));
        assert!(acc("weight", cl) > 0.7, "{cl} weight {}", acc("weight", cl));
        assert!(
            acc("gradavg", cl) < 0.5,
            "{cl} gradavg {}",
            acc("gradavg", cl)
        );
    }
    assert_eq!(ev.evaluations[0].chance, 0.25);
    // Realism entries: the condition's classes only (fa, ia).
    let re: Vec<_> = ev
        .evaluations
        .iter()
        .filter(|e| e.realism.is_some())
        .collect();
    assert_eq!(re.len(), 6);
    for e in &re {
        assert_eq!(e.classes, vec!["fa".to_string(), "ia".to_string()]);
        assert_eq!(e.realism.unwrap().sigma, 0.5);
    }
    // Holdouts never train on the held-out value, and no run is on both sides.
    let ft = features::load_features(&[&dir], &features::Condition::Plain, None).unwrap();
    let mut table = to_classify_table(&ft).unwrap();
    prepare_holdouts(&mut table, &c).unwrap();
    let mut n_holdout = 0;
    for e in ev.evaluations.iter().filter(|e| e.split == "holdout") {
        n_holdout += 1;
        let h = e.holdout.as_ref().unwrap();
        let r: EvalResult = serde_json::from_str(
            &std::fs::read_to_string(dir.join("results").join(&e.result_file)).unwrap(),
        )
        .unwrap();
        let classes = table.classes();
        let y = table.class_indices(&classes).unwrap();
        let splits = make_splits(&table, &y, &classes, &r.config.split, r.config.seed).unwrap();
        let f = table.factor(&h.factor).unwrap();
        let runs = table.factor("run_id").unwrap();
        for sp in &splits {
            assert!(sp.train.iter().all(|&i| f[i] != h.value));
            assert!(sp.test.iter().all(|&i| f[i] == h.value));
            let tr: BTreeSet<&String> = sp.train.iter().map(|&i| &runs[i]).collect();
            assert!(sp.test.iter().all(|&i| !tr.contains(&runs[i])));
            assert_eq!(sp.test.len(), r.splits[0].n_test);
        }
    }
    assert_eq!(n_holdout, 3 * 2 * 6);
    // Deterministic: a second study dir with the same data gives the same files.
    let dir2 = tmp.path().join("b");
    synth(&dir2, &plan, false);
    classify_study_with(&dir2, &c, &opts(), &mut |_| {}).unwrap();
    for f in std::iter::once("evaluations.json".to_string())
        .chain(ev.evaluations.iter().map(|e| e.result_file.clone()))
    {
        assert_eq!(
            std::fs::read(dir.join("results").join(&f)).unwrap(),
            std::fs::read(dir2.join("results").join(&f)).unwrap(),
            "{f} differs"
        );
    }
    // Resume: a second stage on the same directory reuses every evaluation (same bytes); a
    // deleted result and a stale key are recomputed, and only those.
    let first = ev.evaluations[0].result_file.clone();
    let second = ev.evaluations[1].result_file.clone();
    let before = std::fs::read(dir.join("results").join(&first)).unwrap();
    std::fs::remove_file(dir.join("results").join(&first)).unwrap();
    let key2 = dir.join("results").join(second.replace(".json", ".key"));
    std::fs::write(&key2, "stale\n").unwrap();
    let mut events = Vec::new();
    let again = classify_study_with(&dir, &c, &opts(), &mut |e| events.push(e)).unwrap();
    let n = ev.evaluations.len();
    let want = format!("{} of {n} evaluations reused", n - 2);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StageEvent::Note(s) if s.starts_with(&want))),
        "no `{want}` note: {events:?}"
    );
    assert_eq!(again.evaluations, out.evaluations);
    assert_eq!(
        std::fs::read(dir.join("results").join(&first)).unwrap(),
        before
    );
    assert_ne!(std::fs::read_to_string(&key2).unwrap(), "stale\n");
}

/// Features of several study directories are classified together (results in the first).
#[test]
fn several_study_directories_at_once() {
    let (study, plan) = checked(MAIN);
    let c = study.classify.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut pa = plan.clone();
    let mut pb = plan.clone();
    pa.runs.retain(|r| r.model_seed == 0);
    pb.runs.retain(|r| r.model_seed != 0);
    assert!(!pa.runs.is_empty() && !pb.runs.is_empty());
    synth(&a, &pa, false);
    synth(&b, &pb, false);
    let mut loaded = 0;
    let o = StageOptions {
        extra_dirs: vec![b.clone()],
        ..opts()
    };
    let out = classify_study_with(&a, &c, &o, &mut |e| {
        if let StageEvent::Loaded { examples, .. } = e {
            loaded = examples;
        }
    })
    .unwrap();
    let one = crate::features::load_features(&[&a], &crate::features::Condition::Plain, None)
        .unwrap()
        .run_ids
        .len();
    assert!(loaded > 0);
    assert_eq!(
        out.evaluations.evaluations.len(),
        plan.summary.classifier_evaluations
    );
    assert!(a.join("results/evaluations.json").is_file());
    assert!(!b.join("results").exists());
    // Every (run, layer) example of both directories is classified.
    let both = crate::features::load_features(&[&a, &b], &crate::features::Condition::Plain, None)
        .unwrap()
        .run_ids
        .len();
    assert_eq!(loaded, both);
    assert!(one < both);
    // The same directory twice is refused (a run in two files).
    let dup = StageOptions {
        extra_dirs: vec![a.clone()],
        ..opts()
    };
    let e = classify_study_with(&a, &c, &dup, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("has feature files"), "{e}");
}

#[test]
fn shuffled_labels_are_at_chance() {
    let (study, plan) = checked(
        r#"classify {
  targets = [rule]
  measures in [all]
  models  = [random_forest(trees in [25], max_features in [sqrt])]
  splits  = balanced(5, test = 25%)
  cv      = stratified_kfold(3)
  realism = false
}"#,
    );
    let tmp = tempfile::tempdir().unwrap();
    synth(tmp.path(), &plan, true);
    let out = classify_study_with(
        tmp.path(),
        study.classify.as_ref().unwrap(),
        &opts(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(out.evaluations.evaluations.len(), 1);
    let a = out.evaluations.evaluations[0].accuracy.mean;
    assert!(a < 0.45, "accuracy {a} on shuffled labels");
}

#[test]
fn spec_expansion_pairs_conv1d_and_portions() {
    let (study, plan) = checked(
        r#"classify {
  targets  = [rule, pairs(rule)]
  measures in [weight, all]
  models   = [random_forest(trees in [10, 20], max_features in [sqrt, all]),
              conv1d(kernel = [2], stride = [1], filters = [20], pool = [max],
                     weight_decay = [1e-4], lr = [1e-3], batch = [64], epochs = 10)]
  splits   = balanced(4, test = 25%)
  cv       = stratified_kfold(3)
  portions in [thirds]
  analysis_models = [random_forest]
}"#,
    );
    let c = study.classify.unwrap();
    let mut values = BTreeMap::new();
    values.insert(
        "rule".to_string(),
        vec!["adam", "fa", "ia", "sgdm"]
            .into_iter()
            .map(String::from)
            .collect(),
    );
    let shape = StudyShape {
        values,
        n_times: 5,
        realism: vec![crate::ir::RealismCondition {
            sigma: 0.5,
            fraction: 1.0,
            seed: 0,
            model: Default::default(),
        }],
    };
    let (specs, notes) = evaluation_specs(&c, &shape);
    // Random forest (in `analysis_models`): the 4-way target × (balanced + 3 × 3 portions +
    // 1 realism condition) and 6 pairs at the main setting, × 2 measures. The Conv1D (not in
    // `analysis_models`): main setting only, 4-way + 6 pairs, × 2 measures.
    let rf = (10 + 1 + 6) * 2;
    let conv = (1 + 6) * 2;
    if cfg!(feature = "torch") {
        assert_eq!(specs.len(), rf + conv, "{notes:?}");
        assert!(!notes.iter().any(|n| n.contains("conv1d")), "{notes:?}");
        let conv_specs: Vec<_> = specs.iter().filter(|s| s.classifier == "conv1d").collect();
        assert_eq!(conv_specs.len(), conv);
        assert!(conv_specs.iter().all(|s| s.id.ends_with(".balanced")));
    } else {
        assert_eq!(specs.len(), rf);
        assert!(
            notes
                .iter()
                .any(|n| n.contains("conv1d") && n.contains("without libtorch"))
        );
    }
    assert_eq!(specs.len(), plan.summary.classifier_evaluations);
    // The count-only expansion (what `lrx plan` reports) agrees with the built list.
    assert_eq!(
        evaluation_counts(&c, &shape),
        (specs.len(), specs.iter().map(fits_of).sum())
    );
    // Pairwise targets: main setting only.
    assert!(
        specs
            .iter()
            .filter(|s| s.target.starts_with("pair"))
            .all(|s| s.id.ends_with(".balanced"))
    );
    let pair = specs
        .iter()
        .find(|s| s.target == "pair:adam-fa")
        .expect("pair target");
    assert_eq!(pair.config.classes, Some(vec!["adam".into(), "fa".into()]));
    let cross = specs
        .iter()
        .find(|s| {
            s.portion
                .as_ref()
                .is_some_and(|p| p.train == 0 && p.test == 2)
        })
        .unwrap();
    assert_eq!(cross.config.time, TimeSpec::Indices(vec![0]));
    assert_eq!(cross.config.test_time, Some(TimeSpec::Indices(vec![4])));
    assert_eq!(pair.config.grid.as_ref().unwrap().len(), 4);
    assert_eq!(fits_of(pair), 4 * (4 * 3 + 1));
    assert!(specs.iter().all(|s| {
        s.id.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    }));
}

#[test]
fn errors_name_the_file_or_setting() {
    let (study, plan) = checked(MAIN);
    let c = study.classify.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // No features.
    let e = classify_study_with(tmp.path(), &c, &opts(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, StageError::NoFeatures(_)), "{e}");
    assert!(e.to_string().contains("features"), "{e}");
    // Missing runs.parquet.
    synth(tmp.path(), &plan, false);
    std::fs::remove_file(tmp.path().join("runs.parquet")).unwrap();
    let e = classify_study_with(tmp.path(), &c, &opts(), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("runs.parquet"), "{e}");
    // A holdout on a layer-level factor cannot be written: `ir::Holdout` holds `ir::Factor`s,
    // which are all run-level.
    synth(tmp.path(), &plan, false);
    // Too few examples for the splits: the evaluation is named.
    let mut c3 = c.clone();
    c3.holdouts.clear();
    c3.splits.params.insert("test".into(), Value::Float(0.999));
    let e = classify_study_with(tmp.path(), &c3, &opts(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, StageError::Eval { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("classify `splits` = balanced(3, test = 99.9"),
        "{e}"
    );
    assert!(e.to_string().contains("n_train = 0"), "{e}");
}

/// One evaluation against scikit-learn: Python reads the same Parquet files independently
/// (pyarrow), builds the flat matrix, and fits LinearSVC(C) on the stage's first split. The
/// matrices must be equal and the test accuracies within 2 points (liblinear's coordinate order
/// is not reproduced, so exact equality is not expected when the solver stops early).
#[test]
fn one_evaluation_matches_sklearn() {
    use crate::classify::data::{TimeSelection, flat_features, select_stats};
    use crate::classify::npy::{read_f64_2d, write_i64_1d};
    use crate::classify::testutil::{python, run_ref};
    let Some(py) = python() else { return };
    let (study, plan) = checked(
        r#"classify {
  targets = [rule]
  measures in [all]
  models  = [linear_svm(C in [0.1], pca in [none])]
  splits  = balanced(1, test = 25%)
  cv      = stratified_kfold(3)
  realism = false
}"#,
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    synth(&dir, &plan, false);
    let out =
        classify_study_with(&dir, study.classify.as_ref().unwrap(), &opts(), &mut |_| {}).unwrap();
    let e = &out.evaluations.evaluations[0];
    let r: EvalResult = serde_json::from_str(
        &std::fs::read_to_string(dir.join("results").join(&e.result_file)).unwrap(),
    )
    .unwrap();
    let ft = features::load_features(&[&dir], &features::Condition::Plain, None).unwrap();
    let table = to_classify_table(&ft).unwrap();
    let classes = table.classes();
    let y = table.class_indices(&classes).unwrap();
    let sp = make_splits(&table, &y, &classes, &r.config.split, r.config.seed)
        .unwrap()
        .remove(0);
    let ours = flat_features(
        &table,
        &select_stats(&table, &MeasureSubset::All).unwrap(),
        &TimeSelection::All,
    )
    .unwrap();
    let f = |n: &str| tmp.path().join(n);
    let idx = |v: &[usize]| v.iter().map(|&i| i as i64).collect::<Vec<_>>();
    write_i64_1d(&f("tr.npy"), &idx(&sp.train)).unwrap();
    write_i64_1d(&f("te.npy"), &idx(&sp.test)).unwrap();
    std::fs::write(
        f("stats.json"),
        serde_json::to_string(&table.stats).unwrap(),
    )
    .unwrap();
    let s = |p: std::path::PathBuf| p.display().to_string();
    run_ref(
        &py,
        &[
            "stage",
            &s(dir.clone()),
            &s(f("stats.json")),
            &s(f("tr.npy")),
            &s(f("te.npy")),
            "0.1",
            &s(f("out.json")),
            &s(f("x.npy")),
        ],
    );
    let x = read_f64_2d(&f("x.npy")).unwrap();
    assert_eq!(x.dim(), ours.x.dim());
    let diff = (&x - &ours.x).iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(diff < 1e-12, "feature matrices differ by {diff}");
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f("out.json")).unwrap()).unwrap();
    let sk = want["accuracy"].as_f64().unwrap();
    let mine = r.splits[0].test_accuracy;
    eprintln!(
        "lrx {mine:.4} sklearn {sk:.4} (sklearn n_iter {})",
        want["n_iter"]
    );
    assert!((mine - sk).abs() <= 0.02, "lrx {mine} vs scikit-learn {sk}");
}

/// On a real lrx feature table (tests/fixtures/mini-real: the plain features of a `lrx run
/// specs/mini-synthetic.lrx` at checkpoints 0, 5 and 10; 864 examples), the stage's random forest and
/// linear SVM accuracies are within 2 points of scikit-learn's on the same table, read on its own
/// by `scripts/check-classify-real` (pyarrow, its own 10 balanced splits).
#[test]
fn real_feature_table_matches_sklearn() {
    let Some(py) = crate::classify::testutil::python() else {
        return;
    };
    let (study, _) = checked(
        r#"classify {
  targets  = [rule]
  measures in [all]
  models   = [random_forest(trees in [100], max_features in [sqrt]),
              linear_svm(C in [1], pca in [none])]
  zscore   = true
  splits   = balanced(10, test = 25%)
  realism  = false
}"#,
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mini-real");
    let copy = std::process::Command::new("cp")
        .arg("-r")
        .arg(root.join("tests/fixtures/mini-real"))
        .arg(&dir)
        .status()
        .unwrap();
    assert!(copy.success());
    let out =
        classify_study_with(&dir, study.classify.as_ref().unwrap(), &opts(), &mut |_| {}).unwrap();
    assert_eq!(out.evaluations.evaluations.len(), 2);
    let o = std::process::Command::new(root.join("scripts/check-classify-real"))
        .arg(&dir)
        .env("LRX_PYTHON", &py)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    eprintln!("{text}");
    assert!(
        o.status.success(),
        "lrx and scikit-learn differ by more than 2 points on the real table:\n{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn matched_rule_keeps_runs_close_to_every_other_class() {
    let r = |id: &str, c: &str, a: Option<f64>| (id.to_string(), c.to_string(), a);
    let runs = vec![
        r("a1", "a", Some(0.80)),
        r("a2", "a", Some(0.90)),
        r("b1", "b", Some(0.81)),
        r("b2", "b", Some(0.60)),
        r("c1", "c", Some(0.83)),
        r("c2", "c", Some(0.79)),
        r("c3", "c", None),
        r("d1", "d", Some(0.80)),
    ];
    let cl = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let ids = |s: BTreeSet<String>| s.into_iter().collect::<Vec<_>>();
    // Pair a–b within 0.02: a1–b1 only.
    assert_eq!(
        ids(matched_runs(&runs, &cl(&["a", "b"]), 0.02)),
        ["a1", "b1"]
    );
    // a, b, c within 0.02: a1 (b1, c2), b1 (a1, c1 at 0.02), c1 (b1; a1 is 0.03 away: dropped),
    // c2 (a1, b1 0.02). Then nothing else changes.
    assert_eq!(
        ids(matched_runs(&runs, &cl(&["a", "b", "c"]), 0.02)),
        ["a1", "b1", "c2"]
    );
    // The fixpoint: with d the only d run at 0.80 and tolerance 0.005, b1 (0.81) has no a or d
    // within it, so a1 loses b, and nothing survives.
    assert!(matched_runs(&runs, &cl(&["a", "b", "d"]), 0.005).is_empty());
    // Runs without an accuracy are never kept, even at a huge tolerance.
    assert!(!matched_runs(&runs, &cl(&["a", "c"]), 1.0).contains("c3"));
}

#[test]
fn performance_controls_match_an_independent_reference() {
    use crate::classify::testutil::python;
    let (study, plan) = checked(
        r#"classify {
  targets  = [rule, pairs(rule)]
  measures in [all, perf]
  models   = [random_forest(trees in [15], max_features in [sqrt])]
  splits   = balanced(3, test = 25%)
  cv       = stratified_kfold(3)
  realism  = false
  matched  = 4%
}"#,
    );
    let c = study.classify.clone().unwrap();
    assert_eq!(c.matched, Some(0.04));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    synth(&dir, &plan, false);
    let out = classify_study_with(&dir, &c, &opts(), &mut |_| {}).unwrap();
    let ev = &out.evaluations.evaluations;
    // (4-way + 6 pairs) × 2 measures × (main + matched), minus matched evaluations whose
    // classes kept too few runs for 3 balanced splits (noted).
    let skipped = out
        .evaluations
        .notes
        .iter()
        .filter(|n| n.contains("matched control"))
        .count();
    assert_eq!(ev.len() + skipped, 7 * 2 * 2, "{:?}", out.evaluations.notes);
    assert_eq!(ev.len() + skipped, plan.summary.classifier_evaluations);
    // The performance-only baseline: one example per run (64 runs, 16 per rule; 25% test).
    let perf_main = ev
        .iter()
        .find(|e| e.target == "rule" && e.measure == "perf" && e.matched.is_none())
        .unwrap();
    assert_eq!((perf_main.n_train, perf_main.n_test), (48, 16));
    assert!(
        perf_main.accuracy.mean > perf_main.chance + 0.1,
        "the synthetic accuracies depend on the rule: {}",
        perf_main.accuracy.mean
    );
    let Some(py) = python() else { return };
    let refj = tmp.path().join("ref.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/perf_ref.py");
    let o = std::process::Command::new(&py)
        .arg(&script)
        .arg(&dir)
        .arg("0.04")
        .arg(&refj)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = read_json(&refj);
    // The perf features, run by run.
    let ft = features::load_features(&[&dir], &features::Condition::Plain, None).unwrap();
    let plain = to_classify_table(&ft).unwrap();
    let (pt, _) = perf_table(&ft, &plain).unwrap().unwrap();
    assert_eq!(pt.n_examples(), 64);
    for (n, run) in pt.factors["run_id"].iter().enumerate() {
        let want: Vec<f64> = r["perf"][run]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let got: Vec<f64> = (0..pt.n_times())
            .flat_map(|t| [pt.x[[n, t, 0]], pt.x[[n, t, 1]]])
            .collect();
        assert_eq!(got, want, "perf features of run {run}");
    }
    // The matched control: runs kept per class, for every target, against the reference.
    let runs_of = |ids: &serde_json::Value, class: &str| {
        ids.as_array()
            .unwrap()
            .iter()
            .filter(|id| {
                let i = ft
                    .run_ids
                    .iter()
                    .position(|r| r == id.as_str().unwrap())
                    .unwrap();
                ft.rules[i] == class
            })
            .count()
    };
    let mut compared = 0;
    for e in ev.iter().filter(|e| e.matched.is_some()) {
        let key = match e.target.strip_prefix("pair:") {
            Some(_) => e.classes.join("|"),
            None => "rule".to_string(),
        };
        let m = e.matched.as_ref().unwrap();
        assert_eq!(m.tolerance, 0.04);
        for (class, k) in &m.per_class {
            assert_eq!(
                k.runs,
                runs_of(&r["matched"][&key], class),
                "{} {class}",
                e.id
            );
            assert_eq!(k.runs_total, 16);
            let per_run = if e.measure == "perf" { 1 } else { 4 };
            assert_eq!(k.examples, k.runs * per_run, "{} {class}", e.id);
            compared += 1;
        }
    }
    assert!(compared >= 8, "{compared}");
    // Some pair of neighbouring rules keeps runs, and the 4-way target keeps fewer runs than
    // the pairs (every class must be matched).
    let rule_kept: usize = ev
        .iter()
        .find(|e| e.target == "rule" && e.matched.is_some())
        .map_or(0, |e| {
            e.matched
                .as_ref()
                .unwrap()
                .per_class
                .values()
                .map(|k| k.runs)
                .sum()
        });
    assert!(rule_kept < 64);
}
