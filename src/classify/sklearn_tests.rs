//! Comparisons with scikit-learn on the same data (tests only): random forest, LinearSVC,
//! PCA + LinearSVC accuracies, and PCA explained variance.

use ndarray::Axis;

use super::forest::{ForestParams, RandomForest};
use super::grid::ModelSpec;
use super::metrics::accuracy;
use super::npy::{write_f64_2d, write_i64_1d};
use super::pca::Pca;
use super::splits::{SplitSize, balanced_splits};
use super::svm::{LinearSvc, SvcParams};
use super::testutil::{python, run_ref, synthetic};

const SEEDS: usize = 3;

#[test]
fn accuracies_match_sklearn_within_two_points() {
    let Some(py) = python() else { return };
    let (x, y) = synthetic(2000, 100, 4, 11);
    let names: Vec<String> = (0..4).map(|c| c.to_string()).collect();
    let ok = vec![true; y.len()];
    let sp = balanced_splits(&y, &names, 1, SplitSize::Count(125), SplitSize::Count(375), &ok, &ok, 0)
        .unwrap()
        .remove(0);
    let xtr = x.select(Axis(0), &sp.train);
    let xte = x.select(Axis(0), &sp.test);
    let ytr: Vec<usize> = sp.train.iter().map(|&i| y[i]).collect();
    let yte: Vec<usize> = sp.test.iter().map(|&i| y[i]).collect();
    let dir = tempfile::tempdir().unwrap();
    let f = |n: &str| dir.path().join(n);
    write_f64_2d(&f("xtr.npy"), xtr.view()).unwrap();
    write_f64_2d(&f("xte.npy"), xte.view()).unwrap();
    write_i64_1d(&f("ytr.npy"), &ytr.iter().map(|&v| v as i64).collect::<Vec<_>>()).unwrap();
    write_i64_1d(&f("yte.npy"), &yte.iter().map(|&v| v as i64).collect::<Vec<_>>()).unwrap();
    let out = f("models.json");
    let s = |p: std::path::PathBuf| p.to_str().unwrap().to_string();
    run_ref(
        &py,
        &[
            "models",
            &s(f("xtr.npy")),
            &s(f("ytr.npy")),
            &s(f("xte.npy")),
            &s(f("yte.npy")),
            &SEEDS.to_string(),
            &s(out.clone()),
        ],
    );
    let want: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let mean = |k: &str| {
        let v: Vec<f64> = want[k].as_array().unwrap().iter().map(|a| a.as_f64().unwrap()).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let mut ours = [0.0f64; 3];
    for seed in 0..SEEDS as u64 {
        let rf = RandomForest::fit(
            xtr.view(),
            &ytr,
            4,
            &ForestParams { n_trees: 100, seed, ..Default::default() },
        )
        .unwrap();
        ours[0] += accuracy(&yte, &rf.predict(xte.view()).unwrap()).unwrap();
        let svc = LinearSvc::fit(xtr.view(), &ytr, 4, &SvcParams { seed, ..Default::default() })
            .unwrap();
        ours[1] += accuracy(&yte, &svc.predict(xte.view()).unwrap()).unwrap();
        let ps = ModelSpec::LinearSvm { c: 1.0, pca_components: Some(20) }
            .fit(xtr.view(), &ytr, 4, 0, seed)
            .unwrap();
        ours[2] += accuracy(&yte, &ps.predict(xte.view()).unwrap()).unwrap();
    }
    let names = ["rf", "svc", "pca_svc"];
    let mut report = String::new();
    for (i, n) in names.iter().enumerate() {
        let o = ours[i] / SEEDS as f64;
        let w = mean(n);
        report.push_str(&format!("{n}: lrx {o:.4} sklearn {w:.4}\n"));
    }
    eprintln!("{report}");
    for (i, n) in names.iter().enumerate() {
        let o = ours[i] / SEEDS as f64;
        assert!((o - mean(n)).abs() <= 0.02, "{n} differs by more than 2 points:\n{report}");
    }
    // the structure is learnable: the forest is well above chance
    assert!(ours[0] / SEEDS as f64 > 0.5, "{report}");
}

#[test]
fn pca_explained_variance_matches_sklearn() {
    let Some(py) = python() else { return };
    let (x, _) = synthetic(600, 40, 3, 21);
    let dir = tempfile::tempdir().unwrap();
    let xp = dir.path().join("x.npy");
    let out = dir.path().join("pca.json");
    write_f64_2d(&xp, x.view()).unwrap();
    run_ref(&py, &["pca", xp.to_str().unwrap(), "15", out.to_str().unwrap()]);
    let want: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let p = Pca::fit(x.view(), 15).unwrap();
    let ev: Vec<f64> = want["explained_variance"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let er: Vec<f64> =
        want["explained_variance_ratio"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    for i in 0..15 {
        let rel = (p.explained_variance[i] - ev[i]).abs() / ev[i];
        assert!(rel < 1e-6, "explained_variance[{i}]: {} vs {} ({rel:e})", p.explained_variance[i], ev[i]);
        let rel = (p.explained_variance_ratio[i] - er[i]).abs() / er[i];
        assert!(rel < 1e-6, "ratio[{i}]: {} vs {}", p.explained_variance_ratio[i], er[i]);
    }
    // components agree up to sign
    let comps = want["components"].as_array().unwrap();
    for i in 0..5 {
        let c: Vec<f64> = comps[i].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let d: f64 = c.iter().zip(p.components.row(i)).map(|(a, b)| a * b).sum();
        assert!((d.abs() - 1.0).abs() < 1e-6, "component {i}: |dot| = {}", d.abs());
    }
}
