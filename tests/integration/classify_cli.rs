//! `lrx classify` end to end on a synthetic study directory (no training).

use lrx::cli::run_captured;
use lrx::synthetic::{SyntheticStudy, write_synthetic_study};

fn spec(output: &str) -> String {
    format!(
        r#"import paper
study synth_cli {{
  output = "{output}"
  seed   = 5
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
classify {{
  targets  = [rule, pairs(rule)]
  measures in [weight, all]
  models   = [random_forest(trees in [10], max_features in [sqrt]),
              linear_svm(C in [1], pca in [none])]
  splits   = balanced(3, test = 25%)
  cv       = stratified_kfold(3)
  holdout  in [arch]
}}
"#
    )
}

#[test]
fn classify_cli_on_a_synthetic_study() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    let spec_path = tmp.path().join("synth.lrx");
    std::fs::write(&spec_path, spec(&dir.display().to_string())).unwrap();
    let sp = spec_path.display().to_string();
    // Before any features: a clear error naming the directory.
    let (code, _, err) = run_captured(&["classify", &sp]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no feature files") && err.contains("features"),
        "{err}"
    );
    // The plan's count.
    let (code, out, err) = run_captured(&["plan", &sp, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    let expected = summary["classifier_evaluations"].as_u64().unwrap() as usize;
    // 4-way: 2 measures × 2 models × (balanced + 2 archs); the 6 pairs run at the main
    // setting only (balanced splits): 6 × 2 measures × 2 models.
    assert_eq!(expected, 2 * 2 * 3 + 6 * 2 * 2);
    // Synthetic features + runs.parquet + study.json, as `lrx run` leaves them.
    let mut sources = lrx::source::SourceMap::new();
    let study = lrx::check::check_path(&spec_path, &mut sources)
        .ok()
        .unwrap()
        .value;
    let plan = lrx::plan::plan(&study).ok().unwrap();
    write_synthetic_study(
        &dir,
        &plan,
        &SyntheticStudy {
            observables: [
                "weightabs_median",
                "weightraw_mean",
                "actabs_mean",
                "gradavgraw_id",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            ..SyntheticStudy::default()
        },
    )
    .unwrap();
    std::fs::write(
        dir.join("study.json"),
        serde_json::to_string(&study).unwrap(),
    )
    .unwrap();
    let (code, out, err) = run_captured(&["classify", &sp]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rule · random_forest"), "{out}");
    assert!(out.contains("wrote 36 evaluations"), "{out}");
    assert!(err.contains("[36/36]"), "{err}");
    let first = std::fs::read(dir.join("results/evaluations.json")).unwrap();
    let j: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(j["evaluations"].as_array().unwrap().len(), expected);
    assert_eq!(j["study"], "synth_cli");
    assert_eq!(j["spec_hash"], study.spec_hash.as_str());
    // The study directory form (reads study.json) gives the same files.
    let (code, out2, err) = run_captured(&["classify", &dir.display().to_string(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    assert_eq!(out, out2);
    assert_eq!(
        first,
        std::fs::read(dir.join("results/evaluations.json")).unwrap()
    );
    // A directory without study.json.
    let (code, _, err) = run_captured(&["classify", &tmp.path().display().to_string()]);
    assert_eq!(code, 1);
    assert!(err.contains("study.json"), "{err}");
}
