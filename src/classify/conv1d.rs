//! The Conv1D classifier of method.md §3.4 on libtorch (`tch`): one 1-D convolution over the
//! checkpoints (VALID padding, bias, ReLU), max/mean pooling over time or flattening, a dense
//! layer to the class logits; Glorot-uniform kernels, zero biases; softmax cross-entropy plus
//! wd·½‖w‖² over kernels and biases; Adam (0.9, 0.999, 1e-8), constant rate; every epoch
//! reshuffles and drops the last incomplete batch; prediction = argmax.
//!
//! Input: the flat statistic-major features `[one-hot | K·T]` of [`super::data::flat_features`],
//! rearranged into `[N, one-hot + K channels, T]` with the one-hot repeated at every time step (the
//! layout of `data::conv_features`, which the tests compare it with).
//!
//! Choices where the method leaves room (also in docs/classify.md):
//! - a kernel longer than the trajectory (trajectory subsampling, the trajectory average) is
//!   clamped to its length T, so every grid point stays fittable;
//! - a batch larger than the training set is clamped to it (the realism populations are small);
//! - initial weights and batch order come from a ChaCha8 stream of the fit seed (not libtorch's
//!   global generator), so fits running in parallel are reproducible.
//!
//! Without the `torch` feature, fitting returns a clear error and the stage records it.

use serde::{Deserialize, Serialize};

use super::error::{ClassifyError, Result, param};

/// Pooling over time before the dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Pool {
    /// Flatten `[T', F]` (no pooling).
    None,
    Max,
    Mean,
}

/// One Conv1D grid point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Conv1dParams {
    pub kernel: usize,
    pub stride: usize,
    pub filters: usize,
    pub pool: Pool,
    pub weight_decay: f64,
    pub lr: f64,
    pub batch: usize,
    pub epochs: usize,
    /// Time steps of the input (set by the evaluation from its features; 0 = not yet known).
    #[serde(default)]
    pub n_times: usize,
}

impl Conv1dParams {
    /// Checks the parameters (n_times is checked at fit time).
    pub(crate) fn validate(&self) -> Result<()> {
        if self.kernel == 0 {
            return Err(param("kernel", "must be at least 1"));
        }
        if self.stride == 0 {
            return Err(param("stride", "must be at least 1"));
        }
        if self.filters == 0 {
            return Err(param("filters", "must be at least 1"));
        }
        if self.batch == 0 {
            return Err(param("batch", "must be at least 1"));
        }
        if self.epochs == 0 {
            return Err(param("epochs", "must be at least 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(param("lr", format!("must be positive, got {}", self.lr)));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(param(
                "weight_decay",
                format!("must be ≥ 0, got {}", self.weight_decay),
            ));
        }
        Ok(())
    }

    /// The kernel actually used on `t` time steps.
    #[cfg_attr(not(feature = "torch"), allow(dead_code))] // used with the torch feature only
    pub(crate) fn effective_kernel(&self, t: usize) -> usize {
        self.kernel.min(t).max(1)
    }
}

/// The paper's 720-point grid (method.md §3.3): kernel {1, 2, 6, 11, 21} × stride {1, 2, 4} ×
/// filters {20, 40} × pool {none, max, mean} × wd {1e-4, 0} × lr {1e-3, 1e-4} × batch {512, 1024},
/// 400 epochs.
pub(crate) fn paper_grid() -> Vec<Conv1dParams> {
    let mut g = Vec::new();
    for kernel in [1, 2, 6, 11, 21] {
        for stride in [1, 2, 4] {
            for filters in [20, 40] {
                for pool in [Pool::None, Pool::Max, Pool::Mean] {
                    for weight_decay in [1e-4, 0.0] {
                        for lr in [1e-3, 1e-4] {
                            for batch in [512, 1024] {
                                g.push(Conv1dParams {
                                    kernel,
                                    stride,
                                    filters,
                                    pool,
                                    weight_decay,
                                    lr,
                                    batch,
                                    epochs: 400,
                                    n_times: 0,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    g
}

/// A fitted Conv1D (weights kept as plain vectors so the model is serialisable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Conv1dNet {
    pub params: Conv1dParams,
    pub n_onehot: usize,
    pub n_stats: usize,
    pub n_times: usize,
    pub n_classes: usize,
    /// Conv kernel [F, C, k], conv bias [F], dense [n_classes, D], dense bias [n_classes].
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
    /// Mean training loss of the last epoch.
    pub final_loss: f64,
}

/// What a traced fit records for the reference comparison (tests).
#[derive(Debug, Clone, Default)]
#[cfg_attr(not(feature = "torch"), allow(dead_code))] // used with the torch feature only
pub(crate) struct Trace {
    /// Initial w1, b1, w2, b2.
    pub init: Vec<Vec<f32>>,
    /// Row indices of every optimizer step, in order.
    pub batches: Vec<Vec<usize>>,
}

/// Shape of the input: (channels, statistics) for `p` flat columns over `n_times` steps.
#[cfg_attr(not(feature = "torch"), allow(dead_code))] // used with the torch feature only
pub(crate) fn layout(p: usize, n_onehot: usize, n_times: usize) -> Result<(usize, usize)> {
    if n_times == 0 {
        return Err(param("n_times", "the number of time steps is not set"));
    }
    if n_onehot > p || (p - n_onehot) % n_times != 0 {
        return Err(ClassifyError::Shape {
            context: "Conv1D input".into(),
            expected: format!("{n_onehot} one-hot columns + K·{n_times} statistic columns"),
            got: format!("{p} columns"),
        });
    }
    let k = (p - n_onehot) / n_times;
    Ok((n_onehot + k, k))
}

/// Flat rows `[one-hot | K·T]` (statistic-major) → `[N, C, T]` f32, one-hot repeated over time.
#[cfg_attr(not(feature = "torch"), allow(dead_code))] // used with the torch feature only
pub(crate) fn to_channels(
    x: ndarray::ArrayView2<f64>,
    n_onehot: usize,
    n_times: usize,
) -> Result<Vec<f32>> {
    let (n, p) = x.dim();
    let (c, k) = layout(p, n_onehot, n_times)?;
    let mut out = vec![0f32; n * c * n_times];
    for i in 0..n {
        let row = x.row(i);
        let base = i * c * n_times;
        for ch in 0..n_onehot {
            let v = row[ch] as f32;
            out[base + ch * n_times..base + (ch + 1) * n_times].fill(v);
        }
        for s in 0..k {
            for t in 0..n_times {
                out[base + (n_onehot + s) * n_times + t] = row[n_onehot + s * n_times + t] as f32;
            }
        }
    }
    Ok(out)
}

#[cfg(feature = "torch")]
mod imp {
    use super::*;
    use ndarray::ArrayView2;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use tch::{Device, Kind, Tensor, nn, nn::OptimizerConfig};

    fn threads_once() {
        // The stage parallelises over evaluations with rayon; libtorch's own intra-op pool on top
        // would oversubscribe the cores.
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| tch::set_num_threads(1));
    }

    fn glorot(rng: &mut ChaCha8Rng, n: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
        let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
        (0..n)
            .map(|_| rng.random_range(-limit..limit) as f32)
            .collect()
    }

    fn tensor(v: &[f32], shape: &[i64]) -> Tensor {
        Tensor::from_slice(v).reshape(shape)
    }

    fn to_vec(t: &Tensor) -> Vec<f32> {
        let t = t.detach().to_kind(Kind::Float).flatten(0, -1).contiguous();
        Vec::<f32>::try_from(&t).unwrap_or_default()
    }

    struct Dims {
        c: usize,
        k: usize,
        t: usize,
        ke: usize,
        tp: usize,
        d: usize,
    }

    fn dims(p: &Conv1dParams, cols: usize, n_onehot: usize) -> Result<Dims> {
        let t = p.n_times;
        let (c, k) = layout(cols, n_onehot, t)?;
        let ke = p.effective_kernel(t);
        let tp = (t - ke) / p.stride + 1;
        let d = match p.pool {
            Pool::None => tp * p.filters,
            _ => p.filters,
        };
        Ok(Dims { c, k, t, ke, tp, d })
    }

    fn forward(
        x: &Tensor,
        w1: &Tensor,
        b1: &Tensor,
        w2: &Tensor,
        b2: &Tensor,
        p: &Conv1dParams,
    ) -> Tensor {
        let h = x
            .conv1d(w1, Some(b1), [p.stride as i64], [0], [1], 1)
            .relu(); // [B, F, T']
        let h = match p.pool {
            Pool::Max => h.amax([2], false),
            Pool::Mean => h.mean_dim(&[2i64][..], false, Kind::Float),
            // Channels-last flatten, as TensorFlow's Flatten of [B, T', F].
            Pool::None => h.permute([0, 2, 1]).flatten(1, -1),
        };
        h.matmul(&w2.tr()) + b2
    }

    /// `n` rows need `n > 0` labels, each below `n_classes`.
    fn check_labels(n: usize, y: &[usize], n_classes: usize) -> Result<()> {
        if n == 0 || y.len() != n {
            return Err(ClassifyError::Shape {
                context: "Conv1D fit".into(),
                expected: format!("{n} labels for {n} rows (n > 0)"),
                got: y.len().to_string(),
            });
        }
        if y.iter().any(|&c| c >= n_classes) {
            return Err(param("y", format!("labels must be < {n_classes}")));
        }
        Ok(())
    }

    /// Initial w1, b1, w2, b2 (flat, row-major): Glorot-uniform kernels drawn from `rng` (w1
    /// first), zero biases.
    fn initial_weights(
        rng: &mut ChaCha8Rng,
        f: usize,
        dm: &Dims,
        n_classes: usize,
    ) -> Vec<Vec<f32>> {
        vec![
            glorot(rng, f * dm.c * dm.ke, dm.ke * dm.c, dm.ke * f),
            vec![0f32; f],
            glorot(rng, n_classes * dm.d, dm.d, n_classes),
            vec![0f32; n_classes],
        ]
    }

    /// The training loss on the rows `idx` of `xs`/`ys`: softmax cross-entropy plus
    /// wd·½‖w‖² over the weights `[w1, b1, w2, b2]`.
    fn batch_loss(
        xs: &Tensor,
        ys: &Tensor,
        idx: &[usize],
        [w1, b1, w2, b2]: [&Tensor; 4],
        p: &Conv1dParams,
    ) -> Tensor {
        let it = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>());
        let xb = xs.index_select(0, &it);
        let yb = ys.index_select(0, &it);
        let logits = forward(&xb, w1, b1, w2, b2, p);
        let mut loss = logits.cross_entropy_for_logits(&yb);
        if p.weight_decay > 0.0 {
            let l2 = w1.square().sum(Kind::Float)
                + b1.square().sum(Kind::Float)
                + w2.square().sum(Kind::Float)
                + b2.square().sum(Kind::Float);
            loss += l2 * (0.5 * p.weight_decay);
        }
        loss
    }

    pub(super) fn fit(
        x: ArrayView2<f64>,
        y: &[usize],
        n_classes: usize,
        n_onehot: usize,
        p: &Conv1dParams,
        seed: u64,
        mut trace: Option<&mut Trace>,
    ) -> Result<Conv1dNet> {
        p.validate()?;
        threads_once();
        let fail = |reason: String| ClassifyError::Fit {
            model: "conv1d".into(),
            reason,
        };
        let n = x.nrows();
        check_labels(n, y, n_classes)?;
        let dm = dims(p, x.ncols(), n_onehot)?;
        let f = p.filters;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let init = initial_weights(&mut rng, f, &dm, n_classes);
        if let Some(t) = trace.as_deref_mut() {
            t.init = init.clone();
        }
        let xs = tensor(
            &to_channels(x, n_onehot, dm.t)?,
            &[n as i64, dm.c as i64, dm.t as i64],
        );
        let ys = Tensor::from_slice(&y.iter().map(|&c| c as i64).collect::<Vec<_>>());
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let w1 = root.var_copy(
            "w1",
            &tensor(&init[0], &[f as i64, dm.c as i64, dm.ke as i64]),
        );
        let b1 = root.var_copy("b1", &tensor(&init[1], &[f as i64]));
        let w2 = root.var_copy("w2", &tensor(&init[2], &[n_classes as i64, dm.d as i64]));
        let b2 = root.var_copy("b2", &tensor(&init[3], &[n_classes as i64]));
        let mut opt = nn::Adam {
            beta1: 0.9,
            beta2: 0.999,
            wd: 0.0,
            eps: 1e-8,
            amsgrad: false,
        }
        .build(&vs, p.lr)
        .map_err(|e| fail(e.to_string()))?;
        let b = p.batch.min(n);
        let steps = n / b;
        let mut order: Vec<usize> = (0..n).collect();
        let mut last = f64::NAN;
        for epoch in 0..p.epochs {
            order.shuffle(&mut rng);
            let mut sum = 0.0;
            for s in 0..steps {
                let idx = &order[s * b..(s + 1) * b];
                if let Some(t) = trace.as_deref_mut() {
                    t.batches.push(idx.to_vec());
                }
                let loss = batch_loss(&xs, &ys, idx, [&w1, &b1, &w2, &b2], p);
                let lv = loss.double_value(&[]);
                if !lv.is_finite() {
                    return Err(fail(format!(
                        "the training loss became {lv} at epoch {} (lr {}); try a smaller lr or z-scoring",
                        epoch + 1,
                        p.lr
                    )));
                }
                sum += lv;
                opt.backward_step(&loss);
            }
            last = sum / steps.max(1) as f64;
        }
        Ok(Conv1dNet {
            params: p.clone(),
            n_onehot,
            n_stats: dm.k,
            n_times: dm.t,
            n_classes,
            w1: to_vec(&w1),
            b1: to_vec(&b1),
            w2: to_vec(&w2),
            b2: to_vec(&b2),
            final_loss: last,
        })
    }

    pub(super) fn predict(net: &Conv1dNet, x: ArrayView2<f64>) -> Result<Vec<usize>> {
        threads_once();
        let p = &net.params;
        let dm = dims(
            &Conv1dParams {
                n_times: net.n_times,
                ..p.clone()
            },
            x.ncols(),
            net.n_onehot,
        )?;
        if dm.k != net.n_stats {
            return Err(ClassifyError::Shape {
                context: "Conv1D predict".into(),
                expected: format!("{} statistics", net.n_stats),
                got: dm.k.to_string(),
            });
        }
        let n = x.nrows();
        if n == 0 {
            return Ok(vec![]);
        }
        let _g = tch::no_grad_guard();
        let xs = tensor(
            &to_channels(x, net.n_onehot, dm.t)?,
            &[n as i64, dm.c as i64, dm.t as i64],
        );
        let f = p.filters as i64;
        let logits = forward(
            &xs,
            &tensor(&net.w1, &[f, dm.c as i64, dm.ke as i64]),
            &tensor(&net.b1, &[f]),
            &tensor(&net.w2, &[net.n_classes as i64, dm.d as i64]),
            &tensor(&net.b2, &[net.n_classes as i64]),
            &Conv1dParams {
                n_times: dm.t,
                ..p.clone()
            },
        );
        let _ = dm.tp;
        let am = logits.argmax(1, false);
        let v = Vec::<i64>::try_from(&am).map_err(|e| ClassifyError::Fit {
            model: "conv1d".into(),
            reason: e.to_string(),
        })?;
        Ok(v.into_iter().map(|c| c as usize).collect())
    }
}

/// Fits a Conv1D on flat features (first `n_onehot` columns one-hot); `p.n_times` must be set.
pub(crate) fn fit(
    x: ndarray::ArrayView2<f64>,
    y: &[usize],
    n_classes: usize,
    n_onehot: usize,
    p: &Conv1dParams,
    seed: u64,
) -> Result<Conv1dNet> {
    fit_traced(x, y, n_classes, n_onehot, p, seed, None)
}

/// [`fit`] that also records the initial weights and the batch order.
pub(crate) fn fit_traced(
    x: ndarray::ArrayView2<f64>,
    y: &[usize],
    n_classes: usize,
    n_onehot: usize,
    p: &Conv1dParams,
    seed: u64,
    trace: Option<&mut Trace>,
) -> Result<Conv1dNet> {
    #[cfg(feature = "torch")]
    {
        imp::fit(x, y, n_classes, n_onehot, p, seed, trace)
    }
    #[cfg(not(feature = "torch"))]
    {
        let _ = (x, y, n_classes, n_onehot, p, seed, trace);
        Err(unavailable())
    }
}

/// Predicted class indices.
pub(crate) fn predict(net: &Conv1dNet, x: ndarray::ArrayView2<f64>) -> Result<Vec<usize>> {
    #[cfg(feature = "torch")]
    {
        imp::predict(net, x)
    }
    #[cfg(not(feature = "torch"))]
    {
        let _ = (net, x);
        Err(unavailable())
    }
}

#[cfg(not(feature = "torch"))]
fn unavailable() -> ClassifyError {
    ClassifyError::Fit {
        model: "conv1d".into(),
        reason: "this lrx was built without libtorch (`--no-default-features`); rebuild with the default `torch` feature".into(),
    }
}

#[cfg(test)]
#[cfg(feature = "torch")]
mod tests {
    use super::*;
    use crate::classify::npy::{write_f64_2d, write_i64_1d};
    use crate::classify::testutil::{python, synthetic};
    use ndarray::Array2;

    fn params() -> Conv1dParams {
        Conv1dParams {
            kernel: 3,
            stride: 1,
            filters: 8,
            pool: Pool::Max,
            weight_decay: 1e-4,
            lr: 1e-2,
            batch: 32,
            epochs: 40,
            n_times: 7,
        }
    }

    /// Flat features with a one-hot block: 3 one-hot + 5 statistics × 7 times.
    fn data(n: usize, seed: u64) -> (Array2<f64>, Vec<usize>) {
        let (z, y) = synthetic(n, 35, 3, seed);
        let mut x = Array2::<f64>::zeros((n, 38));
        for i in 0..n {
            x[[i, i % 3]] = 1.0;
            for j in 0..35 {
                // Standardise the synthetic scales so Adam at 1e-2 is well-behaved.
                x[[i, 3 + j]] = z[[i, j]].signum() * z[[i, j]].abs().ln_1p();
            }
        }
        (x, y)
    }

    #[test]
    fn channels_layout_is_statistic_major() {
        // 1 one-hot + 2 stats × 3 times: [oh | s0t0 s0t1 s0t2 | s1t0 s1t1 s1t2]
        let x = ndarray::arr2(&[[1.0, 10.0, 11.0, 12.0, 20.0, 21.0, 22.0]]);
        let c = to_channels(x.view(), 1, 3).unwrap();
        assert_eq!(c, vec![1.0, 1.0, 1.0, 10.0, 11.0, 12.0, 20.0, 21.0, 22.0]);
        assert!(to_channels(x.view(), 1, 4).is_err());
    }

    #[test]
    fn learns_and_is_deterministic() {
        let (x, y) = data(300, 3);
        let (xtr, ytr) = (x.slice(ndarray::s![..200, ..]), &y[..200]);
        let (xte, yte) = (x.slice(ndarray::s![200.., ..]), &y[200..]);
        for pool in [Pool::None, Pool::Max, Pool::Mean] {
            let p = Conv1dParams { pool, ..params() };
            let a = fit(xtr, ytr, 3, 3, &p, 5).unwrap();
            let b = fit(xtr, ytr, 3, 3, &p, 5).unwrap();
            assert_eq!(a, b, "same seed, same weights ({pool:?})");
            let pred = predict(&a, xte).unwrap();
            let acc = crate::classify::metrics::accuracy(yte, &pred).unwrap();
            assert!(acc > 0.6, "{pool:?}: test accuracy {acc} (chance 0.33)");
        }
        // A kernel longer than the trajectory is clamped; a batch larger than the set too.
        let p = Conv1dParams {
            kernel: 21,
            batch: 1000,
            epochs: 3,
            ..params()
        };
        let m = fit(xtr, ytr, 3, 3, &p, 1).unwrap();
        assert_eq!(m.w1.len(), 8 * 8 * 7);
    }

    /// The same initial weights and batches through PyTorch's conv1d, cross-entropy and
    /// torch.optim.Adam (tests/python/conv1d_ref.py) give the same final weights.
    #[test]
    fn matches_pytorch_reference() {
        let Some(py) = python() else { return };
        let (x, y) = data(96, 9);
        for pool in [Pool::None, Pool::Max, Pool::Mean] {
            let p = Conv1dParams {
                pool,
                epochs: 5,
                stride: 2,
                ..params()
            };
            let mut tr = Trace::default();
            let net = fit_traced(x.view(), &y, 3, 3, &p, 7, Some(&mut tr)).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let f = |n: &str| dir.path().join(n);
            let xc = to_channels(x.view(), 3, 7).unwrap();
            let xc = Array2::from_shape_vec((96, 8 * 7), xc.iter().map(|&v| v as f64).collect())
                .unwrap();
            write_f64_2d(&f("x.npy"), xc.view()).unwrap();
            write_i64_1d(
                &f("y.npy"),
                &y.iter().map(|&c| c as i64).collect::<Vec<_>>(),
            )
            .unwrap();
            let b: Vec<f64> = tr.batches.iter().flatten().map(|&i| i as f64).collect();
            let nb = tr.batches.len();
            write_f64_2d(
                &f("batches.npy"),
                Array2::from_shape_vec((nb, b.len() / nb), b)
                    .unwrap()
                    .view(),
            )
            .unwrap();
            let save = |prefix: &str, vs: [&Vec<f32>; 4]| {
                for (name, v) in ["w1", "b1", "w2", "b2"].iter().zip(vs) {
                    let a =
                        Array2::from_shape_vec((1, v.len()), v.iter().map(|&a| a as f64).collect())
                            .unwrap();
                    write_f64_2d(&f(&format!("{prefix}_{name}.npy")), a.view()).unwrap();
                }
            };
            save("init", [&tr.init[0], &tr.init[1], &tr.init[2], &tr.init[3]]);
            save("final", [&net.w1, &net.b1, &net.w2, &net.b2]);
            let script =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/conv1d_ref.py");
            let pool_s = format!("{pool:?}").to_lowercase();
            let out = std::process::Command::new(&py)
                .arg(&script)
                .arg(dir.path())
                .args([
                    "--channels",
                    "8",
                    "--times",
                    "7",
                    "--filters",
                    "8",
                    "--kernel",
                    "3",
                    "--stride",
                    "2",
                    "--pool",
                    &pool_s,
                    "--classes",
                    "3",
                    "--lr",
                    "0.01",
                    "--wd",
                    "1e-4",
                ])
                .output()
                .expect("run python");
            assert!(
                out.status.success(),
                "conv1d_ref.py ({pool_s}) failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            eprint!("{pool_s}: {}", String::from_utf8_lossy(&out.stdout));
        }
    }
}
