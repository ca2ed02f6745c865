//! The Rust side of `scripts/bench-classify` (an ignored test, run in release mode).

use std::path::PathBuf;
use std::time::Instant;

use ndarray::{Axis, s};

use super::data::ZScore;
use super::forest::{ForestParams, MaxFeatures, RandomForest};
use super::grid::RF_TREES_GRID;
use super::metrics::accuracy;
use super::npy::{read_f64_2d, read_i64_1d};
use super::svm::{LinearSvc, SvcParams};

#[test]
#[ignore = "benchmark: run through scripts/bench-classify"]
fn bench_classify() {
    let dir = PathBuf::from(
        std::env::var("LRX_BENCH_DIR").expect("LRX_BENCH_DIR (see scripts/bench-classify)"),
    );
    let x = read_f64_2d(&dir.join("x.npy")).unwrap();
    let y: Vec<usize> = read_i64_1d(&dir.join("y.npy"))
        .unwrap()
        .iter()
        .map(|&v| v as usize)
        .collect();
    let tr: Vec<usize> = read_i64_1d(&dir.join("train.npy"))
        .unwrap()
        .iter()
        .map(|&v| v as usize)
        .collect();
    let te: Vec<usize> = read_i64_1d(&dir.join("test.npy"))
        .unwrap()
        .iter()
        .map(|&v| v as usize)
        .collect();
    let sk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sklearn.json")).unwrap()).unwrap();
    let f = |k: &str| sk[k].as_f64().unwrap_or(f64::NAN);
    let xtr = x.select(Axis(0), &tr);
    let xte = x.select(Axis(0), &te);
    let ytr: Vec<usize> = tr.iter().map(|&i| y[i]).collect();
    let yte: Vec<usize> = te.iter().map(|&i| y[i]).collect();
    println!(
        "data: {} train / {} test × {} features, {} rayon threads",
        tr.len(),
        te.len(),
        x.ncols(),
        rayon::current_num_threads()
    );

    let t0 = Instant::now();
    let rf = RandomForest::fit(
        xtr.view(),
        &ytr,
        4,
        &ForestParams {
            n_trees: 100,
            seed: 0,
            ..Default::default()
        },
    )
    .unwrap();
    let rf_acc = accuracy(&yte, &rf.predict(xte.view()).unwrap()).unwrap();
    let rf_t = t0.elapsed().as_secs_f64();

    let t0 = Instant::now();
    let z = ZScore::fit(xtr.view(), 0).unwrap();
    let (mut a, mut b) = (xtr.clone(), xte.clone());
    z.transform(&mut a).unwrap();
    z.transform(&mut b).unwrap();
    let svc = LinearSvc::fit(a.view(), &ytr, 4, &SvcParams::with_c(1.0)).unwrap();
    let std_acc = accuracy(&yte, &svc.predict(b.view()).unwrap()).unwrap();
    let std_t = t0.elapsed().as_secs_f64();
    let std_iter = svc.n_iter.clone();

    let t0 = Instant::now();
    let svc = LinearSvc::fit(xtr.view(), &ytr, 4, &SvcParams::with_c(1.0)).unwrap();
    let raw_acc = accuracy(&yte, &svc.predict(xte.view()).unwrap()).unwrap();
    let raw_t = t0.elapsed().as_secs_f64();

    println!("\n| method | lrx s | sklearn s | lrx/sklearn | lrx acc | sklearn acc |");
    println!("|---|---|---|---|---|---|");
    let row = |n: &str, t: f64, st: f64, a: f64, sa: f64| {
        println!(
            "| {n} | {t:.2} | {st:.2} | {:.2} | {a:.4} | {sa:.4} |",
            t / st
        );
    };
    row(
        "RF 100 trees sqrt, fit+predict",
        rf_t,
        f("rf_time"),
        rf_acc,
        f("rf_acc"),
    );
    row(
        "StandardScaler+LinearSVC C=1",
        std_t,
        f("svc_std_time"),
        std_acc,
        f("svc_std_acc"),
    );
    row(
        "LinearSVC C=1 on raw features",
        raw_t,
        f("svc_raw_time"),
        raw_acc,
        f("svc_raw_acc"),
    );
    println!(
        "(lrx LinearSVC passes: standardized {std_iter:?}, raw {:?})",
        svc.n_iter
    );

    // paper RF grid estimate: 15 settings × 5 folds (fold = 4/5 of train) + the final refit
    let nf = tr.len() * 4 / 5;
    let fx = xtr.slice(s![..nf, ..]);
    let fy = &ytr[..nf];
    let trees_per_mf: usize = RF_TREES_GRID.iter().sum();
    let mut est = 0.0;
    let mut sk_est = 0.0;
    println!("\nper-tree fit time on one CV fold ({nf} rows):");
    for (mf, key, nt) in [
        (MaxFeatures::Sqrt, "sqrt", 20),
        (MaxFeatures::Log2, "log2", 20),
        (MaxFeatures::All, "None", 4),
    ] {
        let t0 = Instant::now();
        RandomForest::fit(
            fx,
            fy,
            4,
            &ForestParams {
                n_trees: nt,
                max_features: mf,
                seed: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let per = t0.elapsed().as_secs_f64() / nt as f64;
        let sper = sk["per_tree_fold_fit"][key].as_f64().unwrap_or(f64::NAN);
        println!("  max_features {key}: lrx {per:.3} s/tree, sklearn {sper:.3} s/tree");
        est += per * trees_per_mf as f64 * 5.0;
        sk_est += sper * trees_per_mf as f64 * 5.0;
    }
    println!(
        "paper RF grid (15 settings × 5 folds = {} trees): lrx ≈ {:.0} s ({:.1} h), sklearn ≈ {:.0} s ({:.1} h), ratio {:.2}",
        trees_per_mf * 3 * 5,
        est,
        est / 3600.0,
        sk_est,
        sk_est / 3600.0,
        est / sk_est
    );
}

/// Presorted vs per-node sorting for max_features = all on the benchmark data (same trees).
#[test]
#[ignore = "benchmark: LRX_BENCH_DIR=... cargo test --release -- --ignored bench_presort"]
fn bench_presort() {
    let dir = PathBuf::from(std::env::var("LRX_BENCH_DIR").expect("LRX_BENCH_DIR"));
    let x = read_f64_2d(&dir.join("x.npy")).unwrap();
    let y: Vec<usize> = read_i64_1d(&dir.join("y.npy"))
        .unwrap()
        .iter()
        .map(|&v| v as usize)
        .collect();
    let nf = 12000;
    let fx = x.slice(s![..nf, ..]);
    let p = ForestParams {
        n_trees: 2,
        max_features: MaxFeatures::All,
        seed: 1,
        ..Default::default()
    };
    for presort in [true, false, true, false] {
        let t0 = Instant::now();
        RandomForest::fit_impl(fx, &y[..nf], 4, &p, Some(presort)).unwrap();
        println!(
            "presort {presort}: {:.3} s/tree",
            t0.elapsed().as_secs_f64() / 2.0
        );
    }
}
