//! Optimizers written as tensor ops, so their whole state is a set of named tensors that a
//! checkpoint can hold. They reproduce `torch.optim.SGD(momentum, nesterov=True)` and
//! `torch.optim.Adam` step for step (tested against PyTorch in `tests/python/engine_optim.py`).
//!
//! The caller passes the *effective* gradient of every parameter (task gradient, plus weight
//! decay `wd·p` for decayed parameters, plus any tied gradient), or `None` to skip a parameter
//! this step (PyTorch skips parameters whose `.grad` is `None`).

use super::error::{EngineError, Result};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

/// Which optimizer and its hyperparameters (the registry's typed optimizer).
pub(crate) use crate::registry::rules::Optimizer as OptSpec;

/// Per-parameter optimizer state.
enum Slot {
    Sgd { buf: Tensor },
    Adam { m: Tensor, v: Tensor, step: i64 },
}

/// A manual optimizer over a fixed, ordered list of parameters (by name).
pub(crate) struct Optimizer {
    pub spec: OptSpec,
    state: BTreeMap<String, Slot>,
    /// Prefix of its state's names in checkpoints (`opt`; B's own optimizer: `bopt`).
    prefix: &'static str,
    /// Per-parameter learning-rate factors (`hidden_lr_scale`); absent = 1. A parameter at 0
    /// is not stepped at all (no state, no weight decay): frozen.
    lr_scale: BTreeMap<String, f64>,
}

fn refs(v: &[Tensor]) -> Vec<&Tensor> {
    v.iter().collect()
}

impl Optimizer {
    pub(crate) fn new(spec: OptSpec) -> Self {
        Self::named(spec, "opt")
    }

    /// An optimizer whose checkpointed state is named `<prefix>/<param>/<slot>`, so two
    /// optimizers (the rule's and B's own, `b_optimizer`) share a checkpoint.
    pub(crate) fn named(spec: OptSpec, prefix: &'static str) -> Self {
        Optimizer {
            spec,
            state: BTreeMap::new(),
            prefix,
            lr_scale: BTreeMap::new(),
        }
    }

    /// Step the named parameter at `factor` × the step's learning rate from now on.
    pub(crate) fn scale_lr(&mut self, param: &str, factor: f64) {
        self.lr_scale.insert(param.to_string(), factor);
    }

    /// One update. `params[i]` is updated in place with gradient `grads[i]` plus L2 weight decay
    /// `decay[i]·params[i]` (skipped if `grads[i]` is `None`), as torch.optim with
    /// `weight_decay` does. Parameters that share their decay (and, for SGDM, whether this is
    /// their first step; for Adam, their step count) are updated in one call of libtorch's fused
    /// multi-tensor kernel (`ext::fused_sgd`, `ext::fused_adam`).
    pub(crate) fn step(
        &mut self,
        params: &[(&str, &Tensor)],
        grads: &[Option<Tensor>],
        decay: &[f64],
        lr: f64,
    ) {
        assert!(params.len() == grads.len() && params.len() == decay.len());
        // (parameters, gradients, state tensors…) per group.
        type Group = (Vec<Tensor>, Vec<Tensor>, Vec<Tensor>, Vec<Tensor>);
        // Keyed by (decay, first step or Adam step, lr factor), as bits.
        let mut groups: BTreeMap<(u64, i64, u64), Group> = BTreeMap::new();
        let spec = self.spec;
        tch::no_grad(|| {
            for (((name, p), g), wd) in params.iter().zip(grads).zip(decay) {
                let Some(g) = g else { continue };
                let factor = self.lr_scale.get(*name).copied().unwrap_or(1.0);
                if factor == 0.0 {
                    continue;
                }
                let g = g.detach().contiguous();
                let slot = self
                    .state
                    .entry(name.to_string())
                    .or_insert_with(|| match spec {
                        OptSpec::Sgdm { .. } => Slot::Sgd { buf: Tensor::new() },
                        OptSpec::Adam { .. } => Slot::Adam {
                            m: p.zeros_like(),
                            v: p.zeros_like(),
                            step: 0,
                        },
                    });
                let (key, s1, s2) = match slot {
                    Slot::Sgd { buf } => {
                        let first = !buf.defined();
                        if first {
                            *buf = p.zeros_like();
                        }
                        (first as i64, buf.shallow_clone(), Tensor::new())
                    }
                    Slot::Adam { m, v, step } => {
                        *step += 1;
                        (*step, m.shallow_clone(), v.shallow_clone())
                    }
                };
                let e = groups
                    .entry((wd.to_bits(), key, factor.to_bits()))
                    .or_default();
                e.0.push(p.shallow_clone());
                e.1.push(g);
                e.2.push(s1);
                e.3.push(s2);
            }
            for ((wd, key, factor), (p, g, s1, s2)) in &groups {
                let wd = f64::from_bits(*wd);
                // ×1 is exact, so the default run is bit for bit the unscaled one.
                let lr = lr * f64::from_bits(*factor);
                match spec {
                    OptSpec::Sgdm { momentum, nesterov } => super::ext::fused_sgd(
                        &refs(p),
                        &refs(g),
                        &refs(s1),
                        wd,
                        momentum,
                        lr,
                        nesterov,
                        *key == 1,
                    ),
                    OptSpec::Adam { beta1, beta2, eps } => {
                        let step = Tensor::from(*key as f32).to_device(p[0].device());
                        let steps = vec![&step; p.len()];
                        super::ext::fused_adam(
                            &refs(p),
                            &refs(g),
                            &refs(s1),
                            &refs(s2),
                            &steps,
                            lr,
                            (beta1, beta2, eps),
                            wd,
                        )
                    }
                }
            }
        });
    }

    /// The state as named tensors (`opt/<param>/<slot>`), for checkpoints.
    pub(crate) fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![];
        let pre = self.prefix;
        for (name, s) in &self.state {
            match s {
                Slot::Sgd { buf } => {
                    out.push((format!("{pre}/{name}/momentum_buffer"), buf.shallow_clone()))
                }
                Slot::Adam { m, v, step } => {
                    out.push((format!("{pre}/{name}/exp_avg"), m.shallow_clone()));
                    out.push((format!("{pre}/{name}/exp_avg_sq"), v.shallow_clone()));
                    out.push((format!("{pre}/{name}/step"), Tensor::from(*step)));
                }
            }
        }
        out
    }

    /// Restore the state written by [`Optimizer::state_tensors`] (tensors moved to `device`).
    pub(crate) fn load_state(
        &mut self,
        named: &BTreeMap<String, Tensor>,
        device: tch::Device,
    ) -> Result<()> {
        self.state.clear();
        for (k, t) in named {
            let Some(rest) = k
                .strip_prefix(self.prefix)
                .and_then(|r| r.strip_prefix('/'))
            else {
                continue;
            };
            let (pname, slot) = rest
                .rsplit_once('/')
                .ok_or_else(|| EngineError::Invalid(format!("bad optimizer state key `{k}`")))?;
            let t = t.to_device(device);
            match (self.spec, slot) {
                (OptSpec::Sgdm { .. }, "momentum_buffer") => {
                    self.state.insert(pname.to_string(), Slot::Sgd { buf: t });
                }
                (OptSpec::Adam { .. }, "exp_avg" | "exp_avg_sq" | "step") => {
                    let e = self
                        .state
                        .entry(pname.to_string())
                        .or_insert_with(|| Slot::Adam {
                            m: Tensor::new(),
                            v: Tensor::new(),
                            step: 0,
                        });
                    let Slot::Adam { m, v, step } = e else {
                        unreachable!("adam slot")
                    };
                    match slot {
                        "exp_avg" => *m = t,
                        "exp_avg_sq" => *v = t,
                        _ => *step = t.to_kind(Kind::Int64).int64_value(&[]),
                    }
                }
                _ => {
                    return Err(EngineError::Invalid(format!(
                        "optimizer state `{k}` does not fit optimizer {:?}",
                        self.spec
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    pub(crate) fn python() -> String {
        std::env::var("LRX_PYTHON").unwrap_or_else(|_| "python3".to_string())
    }

    /// 10 steps of our SGDM / Adam equal torch.optim's (its per-parameter loop, not the fused
    /// kernels) from the same weights and data, with weight decay on both parameters or on W
    /// only (two fused groups).
    #[test]
    fn optimizers_match_torch() {
        let _rng = crate::exec::engine::test_rng_lock();
        for w_only in [false, true] {
            for (name, spec, lr) in [
                (
                    "sgdm",
                    OptSpec::Sgdm {
                        momentum: 0.9,
                        nesterov: true,
                    },
                    0.3,
                ),
                (
                    "adam",
                    OptSpec::Adam {
                        beta1: 0.9,
                        beta2: 0.999,
                        eps: 1e-8,
                    },
                    0.05,
                ),
            ] {
                let dir = tempfile::tempdir().unwrap();
                let d = dir.path();
                tch::manual_seed(1);
                let o = (Kind::Float, Device::Cpu);
                let w0 = Tensor::randn([6, 4], o);
                let b0 = Tensor::randn([4], o) * 0.1;
                let x = Tensor::randn([16, 6], o);
                let y = Tensor::randint(4, [16], (Kind::Int64, Device::Cpu));
                for (t, f) in [(&w0, "W0"), (&b0, "b0"), (&x, "X"), (&y, "Y")] {
                    t.write_npy(d.join(format!("{f}.npy"))).unwrap();
                }
                let wd = 0.01;
                let w = w0.copy().set_requires_grad(true);
                let b = b0.copy().set_requires_grad(true);
                let mut opt = Optimizer::new(spec);
                for _ in 0..10 {
                    let loss = (x.matmul(&w) + &b).cross_entropy_for_logits(&y);
                    loss.backward();
                    let grads: Vec<Option<Tensor>> =
                        [&w, &b].iter().map(|p| Some(p.grad().copy())).collect();
                    let db = if w_only { 0.0 } else { wd };
                    opt.step(&[("W", &w), ("b", &b)], &grads, &[wd, db], lr);
                    for p in [&w, &b] {
                        let _ = p.grad().zero_();
                    }
                }
                let st = std::process::Command::new(python())
                    .arg(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/tests/python/engine_optim.py"
                    ))
                    .args([
                        d.to_str().unwrap(),
                        name,
                        &lr.to_string(),
                        &wd.to_string(),
                        "10",
                        if w_only { "w_only" } else { "both" },
                    ])
                    .status()
                    .expect("run python reference (set LRX_PYTHON)");
                assert!(st.success(), "python reference failed");
                let wt = Tensor::read_npy(d.join("W_torch.npy")).unwrap();
                let bt = Tensor::read_npy(d.join("b_torch.npy")).unwrap();
                let e = (&w - &wt)
                    .abs()
                    .max()
                    .double_value(&[])
                    .max((&b - &bt).abs().max().double_value(&[]));
                let moved = (&w - &w0).abs().max().double_value(&[]);
                assert!(moved > 0.05, "{name}: parameters barely moved ({moved})");
                assert!(
                    e < 1e-5,
                    "{name} (w_only {w_only}): max abs difference to torch.optim {e}"
                );
            }
        }
    }

    /// On a GPU machine: the fused kernels on CUDA give the CPU's update (to rounding), over 5
    /// steps with two decay groups and a skipped parameter. Skipped without CUDA.
    #[test]
    fn fused_steps_on_cuda_when_available() {
        if !tch::Cuda::is_available() {
            eprintln!("no CUDA device: skipped");
            return;
        }
        let _rng = crate::exec::engine::test_rng_lock();
        for spec in [
            OptSpec::Sgdm {
                momentum: 0.9,
                nesterov: true,
            },
            OptSpec::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
        ] {
            tch::manual_seed(2);
            let o = (Kind::Float, Device::Cpu);
            let p0 = [Tensor::randn([7, 5], o), Tensor::randn([5], o)];
            let gs: Vec<Vec<Tensor>> = (0..5)
                .map(|_| vec![Tensor::randn([7, 5], o), Tensor::randn([5], o)])
                .collect();
            let run = |dev: Device| {
                // A copy: `to_device` to the tensor's own device returns the tensor itself, and
                // the fused steps update in place, so the CPU run would move `p0` under the
                // CUDA run's feet.
                let ps: Vec<Tensor> = p0.iter().map(|p| p.to_device(dev).copy()).collect();
                let mut opt = Optimizer::new(spec);
                for (k, g) in gs.iter().enumerate() {
                    let grads: Vec<Option<Tensor>> = g
                        .iter()
                        .enumerate()
                        .map(|(i, g)| (k != 2 || i == 0).then(|| g.to_device(dev).copy()))
                        .collect();
                    opt.step(&[("W", &ps[0]), ("b", &ps[1])], &grads, &[0.01, 0.0], 0.1);
                }
                ps.iter()
                    .map(|p| p.to_device(Device::Cpu))
                    .collect::<Vec<_>>()
            };
            let (cpu, cuda) = (run(Device::Cpu), run(Device::Cuda(0)));
            for (a, b) in cpu.iter().zip(&cuda) {
                let e = (a - b).abs().max().double_value(&[]);
                assert!(e < 1e-5, "{spec:?}: CUDA differs from CPU by {e}");
            }
        }
    }

    /// A parameter without a gradient is left alone and its Adam step count does not advance;
    /// the others, now one step ahead, form their own fused group and still match a lone run.
    #[test]
    fn skipped_parameters_keep_their_state() {
        let _rng = crate::exec::engine::test_rng_lock();
        tch::manual_seed(9);
        let o = (Kind::Float, Device::Cpu);
        let spec = OptSpec::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        };
        let (w, b) = (Tensor::randn([4, 3], o), Tensor::randn([3], o));
        let (w1, b1) = (w.copy(), b.copy());
        let gs: Vec<(Tensor, Tensor)> = (0..4)
            .map(|_| (Tensor::randn([4, 3], o), Tensor::randn([3], o)))
            .collect();
        let mut both = Optimizer::new(spec);
        let (mut lone_w, mut lone_b) = (Optimizer::new(spec), Optimizer::new(spec));
        for (k, (gw, gb)) in gs.iter().enumerate() {
            let gb_k = (k != 1).then(|| gb.shallow_clone());
            both.step(
                &[("W", &w), ("b", &b)],
                &[
                    Some(gw.shallow_clone()),
                    gb_k.as_ref().map(|g| g.shallow_clone()),
                ],
                &[0.01, 0.0],
                0.1,
            );
            lone_w.step(&[("W", &w1)], &[Some(gw.shallow_clone())], &[0.01], 0.1);
            if let Some(g) = gb_k {
                lone_b.step(&[("b", &b1)], &[Some(g)], &[0.0], 0.1);
            }
        }
        assert!(w.equal(&w1) && b.equal(&b1));
        let steps: BTreeMap<String, i64> = both
            .state_tensors()
            .into_iter()
            .filter(|(k, _)| k.ends_with("/step"))
            .map(|(k, t)| (k, t.int64_value(&[])))
            .collect();
        assert_eq!(steps["opt/W/step"], 4);
        assert_eq!(steps["opt/b/step"], 3);
    }
}
