//! A small but complete demo study directory (for the report's tests and for trying `lrx report`
//! without training anything): `study.json`, `manifest.json`, `runs.parquet`, run statuses with
//! histories (one diverged run, one failed run), and classifier results. The main-setting and
//! pairwise results are real `crate::classify::evaluate` outputs on a synthetic feature table;
//! holdout, trajectory and realism entries carry plausible numbers in `evaluations.json` only.

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;
use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde_json::{Value, json};

use crate::classify::data::MeasureSubset;
use crate::classify::eval::{Classifier, EvalConfig, SplitScheme};
use crate::classify::forest::MaxFeatures;
use crate::classify::grid::ModelSpec;
use crate::classify::splits::SplitSize;
use crate::classify::{FeatureTable, evaluate};
use crate::features::schema::FactorValue;
use crate::features::{FileMetadata, RunRecord, write_runs};

pub const RULES: [&str; 4] = ["adam", "feedback", "information", "sgdm"];

fn write_json(path: &Path, v: &Value) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).expect("create fixture directory");
    }
    std::fs::write(path, serde_json::to_string_pretty(v).expect("json")).expect("write fixture");
}

/// A synthetic feature table: 4 rules, `n_per` examples each, 5 checkpoints, 6 statistics.
fn table(n_per: usize, seed: u64) -> FeatureTable {
    let stats = [
        "weightabs_mean",
        "weightraw_var",
        "actabs_norm",
        "actraw_mean",
        "gradavgabs_id",
        "gradavgsq_id",
    ];
    let (t, k) = (5, stats.len());
    let n = n_per * RULES.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array3::<f64>::zeros((n, t, k));
    let mut label = Vec::new();
    let mut position = Vec::new();
    let mut arch = Vec::new();
    for i in 0..n {
        let c = i % RULES.len();
        label.push(RULES[c].to_string());
        position.push((i / 4 % 3) as u8);
        arch.push(["knet4", "knet4_lrn"][i / 8 % 2].to_string());
        for tt in 0..t {
            for kk in 0..k {
                let drift = (c as f64 - 1.5) * 0.5 * (kk as f64 + 1.0) * tt as f64 / t as f64;
                let noise: f64 = rng.sample(StandardNormal);
                x[[i, tt, kk]] = drift + noise;
            }
        }
    }
    let mut factors = BTreeMap::new();
    factors.insert("arch".to_string(), arch);
    FeatureTable::new(
        stats.iter().map(|s| s.to_string()).collect(),
        x,
        position,
        label,
        factors,
    )
    .expect("valid synthetic table")
}

fn config(
    classifier: Classifier,
    measure: MeasureSubset,
    classes: Option<Vec<String>>,
) -> EvalConfig {
    let grid = match classifier {
        Classifier::RandomForest => vec![ModelSpec::RandomForest {
            n_trees: 6,
            max_features: MaxFeatures::Sqrt,
        }],
        Classifier::LinearSvm => vec![ModelSpec::LinearSvm {
            c: 1.0,
            pca_components: None,
        }],
        Classifier::Conv1d => vec![ModelSpec::Conv1d(crate::classify::conv1d::Conv1dParams {
            kernel: 2,
            stride: 1,
            filters: 4,
            pool: crate::classify::conv1d::Pool::Max,
            weight_decay: 0.0,
            lr: 1e-3,
            batch: 16,
            epochs: 5,
            n_times: 0,
        })],
    };
    EvalConfig {
        classifier,
        grid: Some(grid),
        measure,
        classes,
        split: SplitScheme::Balanced {
            n_splits: 2,
            n_test: SplitSize::Fraction(0.25),
            n_train: SplitSize::Fraction(0.75),
            train_filter: vec![],
            test_filter: vec![],
        },
        permutation_repeats: 1,
        ..Default::default()
    }
}

fn measure_name(m: &MeasureSubset) -> &'static str {
    match m {
        MeasureSubset::Weight => "weight",
        MeasureSubset::Act => "act",
        MeasureSubset::Grad => "gradavg",
        _ => "all",
    }
}

fn clf_name(c: Classifier) -> &'static str {
    match c {
        Classifier::RandomForest => "random_forest",
        Classifier::LinearSvm => "linear_svm",
        Classifier::Conv1d => "conv1d",
    }
}

fn entry(id: &str, target: &str, classes: &[&str], measure: &str, clf: &str) -> Value {
    json!({
        "id": id, "target": target, "classes": classes, "measure": measure, "classifier": clf,
        "split": "balanced", "holdout": null, "trajectory": null, "layout": "flat",
        "portion": null, "realism": null,
    })
}

/// Writes the demo study into `dir` (which must exist or be creatable).
pub fn write_demo_study(dir: &Path) {
    std::fs::create_dir_all(dir).expect("create study dir");
    write_json(
        &dir.join("study.json"),
        &json!({
            "name": "demo", "description": "Four learning rules on a synthetic task (report fixture)",
            "output": "runs/demo", "seed": 1, "spec_hash": "0123456789abcdef",
            "report": {"title": "Demo study report", "formats": ["html", "markdown"]}
        }),
    );
    // Runs: 2 per rule, one diverged, one failed; one more planned but never run.
    let mut runs = Vec::new();
    let mut planned = Vec::new();
    for (ri, rule) in RULES.iter().enumerate() {
        for k in 0..2 {
            let id = format!("{:016x}", 0xa000 + ri * 16 + k);
            let status = match (ri, k) {
                (1, 1) => "diverged",
                (3, 1) => "failed",
                _ => "done",
            };
            let mut factors = IndexMap::new();
            factors.insert("task".to_string(), FactorValue::from("shapes"));
            factors.insert(
                "arch".to_string(),
                FactorValue::from(["knet4", "knet4_lrn"][k]),
            );
            factors.insert("batch".to_string(), FactorValue::Int(32));
            factors.insert("lr".to_string(), FactorValue::Float(0.005));
            factors.insert("model_seed".to_string(), FactorValue::Int(k as i64));
            runs.push(RunRecord {
                run_id: id.clone(),
                rule: rule.to_string(),
                status: status.to_string(),
                factors,
                performance: Default::default(),
            });
            planned.push(json!({"id": id, "study": "demo", "rule": {"label": rule}}));
            let epochs = if status == "failed" { 0 } else { 4 };
            let history: Vec<Value> = (1..=epochs)
                .map(|e| {
                    let diverged = status == "diverged" && e >= 3;
                    let loss = 2.3 / (1.0 + 0.4 * e as f64 * (ri as f64 + 1.0) / 2.0);
                    json!({
                        "epoch": e, "lr": 0.005,
                        "train_loss": if diverged { Value::Null } else { json!(loss) },
                        "train_acc": if diverged { Value::Null } else { json!(1.0 - loss / 2.6) },
                        "alignment_loss": 0.0,
                        "val_loss": if diverged { Value::Null } else { json!(loss * 1.1) },
                        "val_acc": if diverged { Value::Null } else { json!(0.95 - loss / 2.6) },
                        "seconds": 1.5 + ri as f64 * 0.25,
                    })
                })
                .collect();
            write_json(
                &dir.join("runs").join(&id).join("status.json"),
                &json!({
                    "run_id": id, "status": status, "rule": rule, "device": "cpu",
                    "libtorch_version": "2.11.0", "threads": 1, "seconds": 6.0 + ri as f64 + k as f64,
                    "error": if status == "failed" { json!("out of memory (fixture)") } else { Value::Null },
                    "diverged_epoch": if status == "diverged" { json!(3) } else { Value::Null },
                    "history": history,
                }),
            );
        }
    }
    planned.push(json!({"id": "ffffffffffffffff", "study": "demo", "rule": {"label": "sgdm"}}));
    write_json(
        &dir.join("manifest.json"),
        &json!({
            "study": "demo", "spec_hash": "0123456789abcdef", "spec_path": "specs/demo.lrx",
            "lrx_version": env!("CARGO_PKG_VERSION"), "libtorch_version": "2.11.0",
            "runs": planned,
        }),
    );
    let meta = FileMetadata::new("", "0123456789abcdef", "2.11.0", "cpu");
    write_runs(dir, &runs, &meta).expect("write runs.parquet");

    // Classifier results: real evaluations of the main setting and one pair.
    let t = table(24, 7);
    let mut evals = Vec::new();
    let mut dropped = Vec::new();
    let measures = [
        MeasureSubset::Weight,
        MeasureSubset::Act,
        MeasureSubset::Grad,
        MeasureSubset::All,
    ];
    for clf in [Classifier::RandomForest, Classifier::LinearSvm] {
        for m in &measures {
            let id = format!("rule-{}-{}", measure_name(m), clf_name(clf));
            let r = evaluate(&t, &config(clf, m.clone(), None)).expect("evaluate fixture");
            dropped.extend(r.dropped_stats.iter().cloned());
            let mut e = entry(&id, "rule", &RULES, measure_name(m), clf_name(clf));
            e["accuracy"] = json!({"mean": r.summary.accuracy.mean, "sem": r.summary.accuracy.sem});
            e["chance"] = json!(r.summary.chance);
            e["result_file"] = json!(format!("eval/{id}.json"));
            write_json(
                &dir.join("results/eval").join(format!("{id}.json")),
                &serde_json::to_value(&r).expect("serialise result"),
            );
            evals.push(e);
        }
    }
    let pair = vec!["adam".to_string(), "sgdm".to_string()];
    let r = evaluate(
        &t,
        &config(Classifier::RandomForest, MeasureSubset::All, Some(pair)),
    )
    .expect("evaluate pair");
    let mut e = entry(
        "pair-adam-sgdm-all-rf",
        "pair:adam-sgdm",
        &["adam", "sgdm"],
        "all",
        "random_forest",
    );
    e["accuracy"] = json!({"mean": r.summary.accuracy.mean, "sem": r.summary.accuracy.sem});
    e["chance"] = json!(0.5);
    e["result_file"] = json!("eval/pair-adam-sgdm-all-rf.json");
    write_json(
        &dir.join("results/eval/pair-adam-sgdm-all-rf.json"),
        &serde_json::to_value(&r).expect("serialise result"),
    );
    evals.push(e);
    // Other pairs, holdouts, trajectories, realism and the average control: index entries only.
    let mut k = 0usize;
    let mut plausible = |base: f64| {
        k += 1;
        (base + 0.01 * (k % 7) as f64, 0.01 + 0.002 * (k % 3) as f64)
    };
    for (a, b) in [
        ("adam", "feedback"),
        ("adam", "information"),
        ("feedback", "information"),
        ("feedback", "sgdm"),
        ("information", "sgdm"),
    ] {
        let (m, s) = plausible(0.8);
        let mut e = entry(
            &format!("pair-{a}-{b}-all-rf"),
            &format!("pair:{a}-{b}"),
            &[a, b],
            "all",
            "random_forest",
        );
        e["accuracy"] = json!({"mean": m, "sem": s});
        e["chance"] = json!(0.5);
        evals.push(e);
    }
    for value in ["knet4", "knet4_lrn"] {
        for m in ["weight", "all"] {
            let (acc, s) = plausible(0.6);
            let mut e = entry(
                &format!("holdout-arch-{value}-{m}-rf"),
                "rule",
                &RULES,
                m,
                "random_forest",
            );
            e["split"] = json!("holdout");
            e["holdout"] = json!({"factor": "arch", "value": value});
            e["accuracy"] = json!({"mean": acc, "sem": s});
            e["chance"] = json!(0.25);
            evals.push(e);
        }
    }
    for period in [1, 2] {
        for samples in [2, 3] {
            let (acc, s) = plausible(0.5 + 0.08 * samples as f64);
            let mut e = entry(
                &format!("traj-p{period}-n{samples}-all-rf"),
                "rule",
                &RULES,
                "all",
                "random_forest",
            );
            e["trajectory"] = json!({"period": period, "samples": samples});
            e["accuracy"] = json!({"mean": acc, "sem": s});
            e["chance"] = json!(0.25);
            evals.push(e);
        }
    }
    for sigma in [0.0, 0.5, 1.0] {
        for fraction in [1.0, 0.5] {
            let (acc, s) = plausible(0.85 - 0.2 * sigma - 0.1 * (1.0 - fraction));
            let mut e = entry(
                &format!("realism-s{sigma}-f{fraction}-all-rf"),
                "rule",
                &RULES,
                "all",
                "random_forest",
            );
            e["realism"] = json!({"sigma": sigma, "fraction": fraction});
            e["accuracy"] = json!({"mean": acc, "sem": s});
            e["chance"] = json!(0.25);
            evals.push(e);
        }
    }
    let (acc, s) = plausible(0.55);
    let mut e = entry(
        "rule-all-rf-average",
        "rule",
        &RULES,
        "all",
        "random_forest",
    );
    e["layout"] = json!("trajectory_average");
    e["accuracy"] = json!({"mean": acc, "sem": s});
    e["chance"] = json!(0.25);
    evals.push(e);
    dropped.sort();
    dropped.dedup();
    write_json(
        &dir.join("results/evaluations.json"),
        &json!({
            "schema_version": 1, "study": "demo", "spec_hash": "0123456789abcdef",
            "dropped_stats": dropped, "notes": ["fixture: holdout, trajectory and realism numbers are made up"],
            "evaluations": evals,
        }),
    );
}
