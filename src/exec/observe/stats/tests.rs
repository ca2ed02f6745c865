use super::*;
use crate::features::observable::{Function, Statistic};
use crate::features::pyref;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

const STATS: [Statistic; 7] = Statistic::TENSOR_STATS;

fn all_requests() -> Vec<(Function, Statistic)> {
    let mut v = Vec::new();
    for f in [Function::Raw, Function::Abs, Function::Sq] {
        for s in STATS {
            v.push((f, s));
        }
    }
    v
}

fn t64(v: &[f64], rows: i64) -> Tensor {
    Tensor::from_slice(v).reshape([rows, -1])
}

fn row_values(x: &Tensor, requests: &[(Function, Statistic)], conv: &StatConventions) -> Vec<f64> {
    let r = row_statistics(x, requests, conv).unwrap();
    to_host(&r.reshape([-1])).unwrap()
}

/// method.md §1.2 test vectors, default conventions, raw function:
/// (z, mean, var, median, Q3, skew, kurtosis, norm).
#[allow(clippy::type_complexity)]
const VECTORS: [(&[f64], f64, f64, f64, f64, f64, f64, f64); 5] = [
    (
        &[1., 2., 3., 4.],
        2.5,
        1.25,
        2.,
        3.,
        1.341641,
        1.64,
        5.477226,
    ),
    (
        &[1., 2., 3., 4., 5., 6.],
        3.5,
        2.916667,
        4.,
        5.,
        -0.878310,
        1.731429,
        9.539392,
    ),
    (&[1., 2., 3., 4., 5.], 3., 2., 3., 4., 0., 1.7, 7.416198),
    (&[0., 0., 0., 4.], 1., 3., 0., 0., 1.732051, 2.333333, 4.),
    (
        &[3., -1., 2., -4., 0.5],
        0.1,
        6.04,
        0.5,
        2.,
        -0.488273,
        2.016501,
        5.5,
    ),
];

#[test]
fn method_test_vectors() {
    let conv = StatConventions::default();
    let req: Vec<_> = STATS.iter().map(|s| (Function::Raw, *s)).collect();
    for (z, mean, var, median, q3, skew, kurt, norm) in VECTORS {
        // Both as a weight (all elements) and as one stimulus row.
        let got = tensor_statistics(&Tensor::from_slice(z), &req, &conv).unwrap();
        let got_row = row_values(&t64(z, 1), &req, &conv);
        assert_eq!(got, got_row);
        let want = [norm, mean, median, q3, var, skew, kurt];
        for (k, s) in STATS.iter().enumerate() {
            assert!(
                (got[k] - want[k]).abs() <= 1e-6,
                "{z:?} {s}: got {} want {}",
                got[k],
                want[k]
            );
        }
    }
}

#[test]
fn sort_keys_order_like_total_cmp() {
    let v = [
        f64::NEG_INFINITY,
        -1e300,
        -1.0,
        -1e-310,
        -0.0,
        0.0,
        1e-310,
        2.5,
        1e300,
        f64::INFINITY,
    ];
    for w in v.windows(2) {
        assert!(sort_key(w[0]) < sort_key(w[1]), "{} < {}", w[0], w[1]);
    }
    for x in v {
        assert_eq!(from_sort_key(sort_key(x)).to_bits(), x.to_bits());
    }
    assert!(sort_key(f64::NAN) > sort_key(f64::INFINITY));
    assert!(sort_key(-f64::NAN) < sort_key(f64::NEG_INFINITY));
}

#[test]
fn sampled_selection_matches_full_selection() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let n = 200_003usize;
    let rows: Vec<Vec<i64>> = vec![
        (0..n)
            .map(|_| sort_key(rng.random::<f64>() - 0.5))
            .collect(),
        (0..n as i64).map(|i| sort_key(i as f64)).collect(), // sorted: strided sample is exact
        (0..n)
            .map(|_| sort_key((rng.random::<f64>() * 3.0).floor()))
            .collect(), // heavy ties
        (0..n as i64)
            .map(|i| sort_key(((i * 7919) % 1000) as f64))
            .collect(), // periodic
    ];
    for (ri, row) in rows.iter().enumerate() {
        for k in [0usize, 1, n / 4, n / 2, 3 * n / 4, n - 2, n - 1] {
            let mut sorted = row.clone();
            sorted.sort_unstable();
            let want = from_sort_key(sorted[k]);
            let mut o = [0.0];
            select_ranks(&mut row.clone(), &[k as i64], &mut o);
            assert_eq!(o[0], want, "row {ri} rank {k}");
            if let Some(v) = select_sampled(row, k) {
                assert_eq!(from_sort_key(v), want, "row {ri} rank {k} (sampled)");
            }
        }
    }
}

#[test]
fn tf_nearest_index_rule() {
    // n=4 median is the lower middle, n=6 the upper middle (method.md §1.2).
    assert_eq!(tf_nearest_ascending_index(4, 50.0), 1);
    assert_eq!(tf_nearest_ascending_index(6, 50.0), 3);
    assert_eq!(tf_nearest_ascending_index(1, 50.0), 0);
    assert_eq!(tf_nearest_ascending_index(1, 75.0), 0);
    assert_eq!(tf_nearest_ascending_index(3, 75.0), 2); // round(0.5) = 0 → z_desc[0]
    assert_eq!(tf_nearest_ascending_index(7, 75.0), 4); // round(1.5) = 2 → z_desc[2] = z_asc[4]
}

#[test]
fn identities_and_f32_precision() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let v: Vec<f64> = (0..5000).map(|_| rng.random::<f64>() * 4.0 - 2.0).collect();
    let w = Tensor::from_slice(&v)
        .reshape([50, 10, 10])
        .to_kind(Kind::Float);
    let conv = StatConventions::default();
    let raw = statistic(&w, Function::Raw, Statistic::Norm, &conv).unwrap();
    let abs = statistic(&w, Function::Abs, Statistic::Norm, &conv).unwrap();
    let sqm = statistic(&w, Function::Sq, Statistic::Mean, &conv).unwrap();
    assert_eq!(raw, abs, "raw_norm == abs_norm");
    assert!(
        (sqm - raw * raw / 5000.0).abs() <= 1e-12 * sqm,
        "sq_mean = raw_norm²/n"
    );
    let f32conv = StatConventions {
        precision: Precision::F32,
        ..conv
    };
    let a = tensor_statistics(&w, &all_requests(), &conv).unwrap();
    let b = tensor_statistics(&w, &all_requests(), &f32conv).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert!(
            (x - y).abs() <= 1e-4 * x.abs().max(1e-3),
            "f32 {y} vs f64 {x}"
        );
    }
}

#[test]
fn id_statistic_and_errors() {
    let conv = StatConventions::default();
    let g = Tensor::from_slice(&[1.5f64, -2.0, 3.0]).reshape([3, 1]);
    let v = row_values(
        &g,
        &[
            (Function::Raw, Statistic::Id),
            (Function::Sq, Statistic::Id),
        ],
        &conv,
    );
    assert_eq!(v, vec![1.5, 2.25, -2.0, 4.0, 3.0, 9.0]);
    let e = row_statistics(&t64(&[1., 2.], 1), &[(Function::Raw, Statistic::Id)], &conv);
    assert!(matches!(e, Err(StatsError::IdNeedsScalar(2))));
    let e = row_statistics(
        &Tensor::zeros([2, 0], (Kind::Double, tch::Device::Cpu)),
        &[],
        &conv,
    );
    assert!(matches!(e, Err(StatsError::Empty(_))));
    let e = row_statistics(
        &Tensor::zeros([2], (Kind::Double, tch::Device::Cpu)),
        &[],
        &conv,
    );
    assert!(matches!(e, Err(StatsError::Shape(_))), "{e:?}");
}

fn conventions() -> Vec<StatConventions> {
    use KurtosisConvention::*;
    use QuantileConvention::*;
    use SkewConvention::*;
    [
        (TfNearest, Pearson2, Pearson),
        (Linear, Fisher, Excess),
        (TfNearest, Fisher, Pearson),
        (Linear, Pearson2, Excess),
    ]
    .into_iter()
    .map(|(quantile, skew, kurtosis)| StatConventions {
        quantile,
        skew,
        kurtosis,
        precision: Precision::F64,
    })
    .collect()
}

fn conv_json(c: &StatConventions) -> serde_json::Value {
    serde_json::json!({
        "quantile": serde_json::to_value(c.quantile).unwrap(),
        "skew": serde_json::to_value(c.skew).unwrap(),
        "kurtosis": serde_json::to_value(c.kurtosis).unwrap(),
    })
}

/// The edge and random cases compared against numpy/scipy.
fn cases() -> Vec<(String, i64, Vec<f64>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(2020);
    let mut normal = |n: usize, scale: f64| -> Vec<f64> {
        (0..n)
            .map(|_| {
                let u1: f64 = 1.0 - rng.random::<f64>();
                let u2: f64 = rng.random();
                scale * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
            })
            .collect()
    };
    let mut cases = vec![
        ("random_rows".to_string(), 7, normal(7 * 1001, 1.0)),
        ("random_even".to_string(), 3, normal(3 * 1000, 2.5)),
        ("n1".to_string(), 3, vec![2.0, -3.5, 0.0]),
        ("n2".to_string(), 1, vec![1.0, 4.0]),
        ("constant".to_string(), 2, vec![3.25; 14]),
        ("huge".to_string(), 2, normal(2 * 301, 1e60)),
        ("tiny".to_string(), 2, normal(2 * 301, 1e-60)),
        ("f32_range".to_string(), 1, normal(999, 3e30)),
        (
            "nan".to_string(),
            2,
            vec![1.0, f64::NAN, 3.0, 2.0, 0.5, -1.0, 2.0, 7.0],
        ),
        ("inf".to_string(), 1, vec![1.0, f64::INFINITY, 3.0, 2.0]),
        ("neg_inf".to_string(), 1, vec![1.0, f64::NEG_INFINITY, 3.0]),
    ];
    // Rows long enough for the sampled selection path.
    cases.push(("large_row".to_string(), 1, normal(100_003, 1.0)));
    let big_ties: Vec<f64> = normal(2 * 70_000, 1.0)
        .iter()
        .map(|x| (x * 2.0).round())
        .collect();
    cases.push(("large_ties".to_string(), 2, big_ties));
    let ties: Vec<f64> = normal(2 * 500, 1.0)
        .iter()
        .map(|x| (x * 1.5).round())
        .collect();
    cases.push(("ties".to_string(), 2, ties));
    for n in [3usize, 4, 5, 6, 7, 8, 9] {
        cases.push((format!("small{n}"), 1, normal(n, 1.0)));
    }
    cases
}

#[test]
fn statistics_match_numpy_scipy() {
    let Some(py) = pyref::python_or_skip("statistics_match_numpy_scipy") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    let convs = conventions();
    let input = serde_json::json!({
        "cases": cases.iter().map(|(name, rows, v)| serde_json::json!({
            "name": name, "rows": rows, "units": v.len() as i64 / rows, "bits": pyref::to_bits(v),
        })).collect::<Vec<_>>(),
        "conventions": convs.iter().map(conv_json).collect::<Vec<_>>(),
    });
    let inp = dir.path().join("in.json");
    let outp = dir.path().join("out.json");
    std::fs::write(&inp, input.to_string()).unwrap();
    pyref::run(&py, "observe_stats_ref.py", &[&inp, &outp]);
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&outp).unwrap()).unwrap();
    let req = all_requests();
    let mut checked = 0;
    for (name, rows, v) in &cases {
        for (ci, conv) in convs.iter().enumerate() {
            let got = row_values(&t64(v, *rows), &req, conv);
            for r in 0..*rows as usize {
                let want = pyref::from_bits(&reference[name][ci][r]);
                for (k, (f, s)) in req.iter().enumerate() {
                    let g = got[r * req.len() + k];
                    let w = want[k];
                    assert!(
                        pyref::close(g, w, 1e-9),
                        "case {name} row {r} {f}_{s} {conv:?}: lrx {g:e} vs numpy/scipy {w:e}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1000);
}

fn time<F: FnMut() -> f64>(mut f: F) -> f64 {
    let _ = f(); // warm-up
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        std::hint::black_box(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

/// `scripts/bench-observe` runs this with `--release --ignored`. Prints one JSON line per
/// statistic with the best-of-5 wall time in seconds on a 10-million-element float64 tensor;
/// `LRX_BENCH_N` overrides the size, `LRX_BENCH_DEVICE=cuda` runs on the GPU.
#[test]
#[ignore]
fn bench_statistics_10m() {
    let n: i64 = std::env::var("LRX_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let device = match std::env::var("LRX_BENCH_DEVICE").as_deref() {
        Ok("cuda") => tch::Device::Cuda(0),
        _ => tch::Device::Cpu,
    };
    let path = std::env::var("LRX_BENCH_INPUT").ok();
    let x = match path {
        // The benchmark script writes the same values numpy uses.
        Some(p) => {
            let bytes = std::fs::read(&p).unwrap();
            let v: Vec<f64> = bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            Tensor::from_slice(&v)
        }
        None => {
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            let v: Vec<f64> = (0..n).map(|_| rng.random::<f64>() - 0.3).collect(); // uniform
            Tensor::from_slice(&v)
        }
    }
    .to_device(device);
    let sync = || {
        if let tch::Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let mut convs: Vec<(&str, StatConventions)> = vec![("default", StatConventions::default())];
    convs.push((
        "linear_fisher_excess",
        StatConventions {
            quantile: QuantileConvention::Linear,
            skew: SkewConvention::Fisher,
            kurtosis: KurtosisConvention::Excess,
            precision: Precision::F64,
        },
    ));
    if let Some(t) = std::env::var("LRX_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        tch::set_num_threads(t);
    }
    // On its own line: libtest prints the test name before it.
    println!(
        "\n{{\"threads\": {}, \"n\": {}}}",
        tch::get_num_threads(),
        x.numel()
    );
    for (cname, conv) in &convs {
        for s in STATS {
            let secs = time(|| {
                let v = statistic(&x, Function::Raw, s, conv).unwrap();
                sync();
                v
            });
            println!("{{\"conv\": \"{cname}\", \"stat\": \"{s}\", \"seconds\": {secs:.6}}}");
        }
        let secs = time(|| {
            let v = tensor_statistics(&x, &all_requests(), conv).unwrap();
            sync();
            v[0]
        });
        println!("{{\"conv\": \"{cname}\", \"stat\": \"all21\", \"seconds\": {secs:.6}}}");
    }
}

/// Phase timings of the CPU selection path (diagnostics for `scripts/bench-observe`).
#[test]
#[ignore]
fn bench_selection_phases() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let v: Vec<f64> = (0..10_000_000).map(|_| rng.random::<f64>() - 0.3).collect();
    let x = Tensor::from_slice(&v);
    let mut keys = vec![0i64; v.len()];
    for _ in 0..3 {
        let t = Instant::now();
        let bits = x.view_dtype(Kind::Int64);
        bits.copy_data(&mut keys, v.len());
        let t_copy = t.elapsed();
        let t = Instant::now();
        keys.par_iter_mut().for_each(|k| *k = key_bits(*k));
        let t_key = t.elapsed();
        let t = Instant::now();
        let nan = keys.iter().fold(false, |a, &k| a | (k > i64::MAX - 5));
        let t_nan = t.elapsed();
        let t = Instant::now();
        let m = select_sampled(&keys, 5_000_000);
        let t_sel = t.elapsed();
        let t = Instant::now();
        let _ = tensor_statistics(
            &x,
            &[(Function::Raw, Statistic::Median)],
            &Default::default(),
        );
        let t_stat = t.elapsed();
        println!("statistic(median) {t_stat:?}");
        let t = Instant::now();
        let o = order_statistics(&x.view([1, -1]), &[5_000_000]).unwrap();
        let t_all = t.elapsed();
        println!(
            "\ncopy {t_copy:?} key {t_key:?} nan {t_nan:?} ({nan}) sampled {t_sel:?} {:?} order_statistics {t_all:?} {}",
            m.map(from_sort_key),
            o.double_value(&[0, 0])
        );
    }
}

/// The fused host kernel and the libtorch ops (the accelerators' path) agree on every case and
/// convention, to rounding; order statistics exactly.
#[test]
fn host_equals_torch_path() {
    let req = all_requests();
    let mut checked = 0;
    for (name, rows, v) in cases() {
        let x = t64(&v, rows);
        for conv in conventions() {
            for requests in [req.clone(), vec![(Function::Sq, Statistic::ThirdQuartile)]] {
                let a = to_host(
                    &host::row_statistics(&x, &requests, &conv)
                        .unwrap()
                        .reshape([-1]),
                )
                .unwrap();
                let b = to_host(
                    &row_statistics_torch(&x, &requests, &conv)
                        .unwrap()
                        .reshape([-1]),
                )
                .unwrap();
                for (i, (p, q)) in a.iter().zip(&b).enumerate() {
                    let (f, s) = requests[i % requests.len()];
                    let exact = matches!(s, Statistic::Median | Statistic::ThirdQuartile);
                    let ok = if exact {
                        p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan())
                    } else if s == Statistic::Kurtosis
                        && conv.kurtosis == KurtosisConvention::Excess
                    {
                        // m4/m2² − 3 loses digits near 0: compare m4/m2².
                        pyref::close(p + 3.0, q + 3.0, 1e-10)
                    } else {
                        pyref::close(*p, *q, 1e-10)
                    };
                    assert!(ok, "{name} {conv:?} {f:?} {s:?}: host {p} vs torch {q}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 2000, "{checked}");
}
