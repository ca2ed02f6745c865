//! Optimizers written as tensor ops, so their whole state is a set of named tensors that a
//! checkpoint can hold. They reproduce `torch.optim.SGD(momentum, nesterov=True)` and
//! `torch.optim.Adam` step for step (tested against PyTorch in `tests/python/engine_optim.py`).
//!
//! The caller passes the *effective* gradient of every parameter (task gradient, plus weight
//! decay `wd·p` for decayed parameters, plus any tied gradient), or `None` to skip a parameter
//! this step (PyTorch skips parameters whose `.grad` is `None`).

use super::error::{EngineError, Result};
use crate::value::Call;
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

/// Which optimizer and its hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptSpec {
    Sgdm { momentum: f64, nesterov: bool },
    Adam { beta1: f64, beta2: f64, eps: f64 },
}

impl OptSpec {
    /// Read `optimizer` ("sgdm" | "adam") and its hyperparameters from a rule call. For the
    /// `sgdm`/`adam` rules themselves pass `name_override`.
    pub fn from_call(call: &Call, which: &str) -> Result<OptSpec> {
        use super::error::CallExt;
        match which {
            "sgdm" => Ok(OptSpec::Sgdm {
                momentum: call.req_f64("momentum")?,
                nesterov: call.req_bool("nesterov")?,
            }),
            "adam" => Ok(OptSpec::Adam {
                beta1: call.req_f64("beta1")?,
                beta2: call.req_f64("beta2")?,
                eps: call.req_f64("eps")?,
            }),
            o => Err(EngineError::param(
                &call.name,
                "optimizer",
                format!("must be \"sgdm\" or \"adam\", got \"{o}\""),
            )),
        }
    }
}

/// Per-parameter optimizer state.
enum Slot {
    Sgd { buf: Tensor },
    Adam { m: Tensor, v: Tensor, step: i64 },
}

/// A manual optimizer over a fixed, ordered list of parameters (by name).
pub struct Optimizer {
    pub spec: OptSpec,
    state: BTreeMap<String, Slot>,
}

impl Optimizer {
    pub fn new(spec: OptSpec) -> Self {
        Optimizer {
            spec,
            state: BTreeMap::new(),
        }
    }

    /// One update. `params[i]` is updated in place with gradient `grads[i]` (skipped if `None`).
    pub fn step(&mut self, params: &[(&str, &Tensor)], grads: &[Option<Tensor>], lr: f64) {
        tch::no_grad(|| {
            for ((name, p), g) in params.iter().zip(grads) {
                let Some(g) = g else { continue };
                let mut p = p.shallow_clone();
                match self.spec {
                    OptSpec::Sgdm { momentum, nesterov } => {
                        let slot = self
                            .state
                            .entry(name.to_string())
                            .or_insert_with(|| Slot::Sgd { buf: Tensor::new() });
                        let Slot::Sgd { buf } = slot else {
                            unreachable!("sgd slot")
                        };
                        if !buf.defined() {
                            *buf = g.detach().copy();
                        } else {
                            let _ = buf.g_mul_scalar_(momentum).g_add_(g);
                        }
                        let d = if nesterov {
                            g + &*buf * momentum
                        } else {
                            buf.shallow_clone()
                        };
                        let _ = p.g_add_(&(d * (-lr)));
                    }
                    OptSpec::Adam { beta1, beta2, eps } => {
                        let slot =
                            self.state
                                .entry(name.to_string())
                                .or_insert_with(|| Slot::Adam {
                                    m: g.zeros_like(),
                                    v: g.zeros_like(),
                                    step: 0,
                                });
                        let Slot::Adam { m, v, step } = slot else {
                            unreachable!("adam slot")
                        };
                        *step += 1;
                        let _ = m.lerp_(g, 1.0 - beta1);
                        let _ = v.g_mul_scalar_(beta2).addcmul_(g, &(g * (1.0 - beta2)));
                        let bc1 = 1.0 - beta1.powi(*step as i32);
                        let bc2 = 1.0 - beta2.powi(*step as i32);
                        let step_size = lr / bc1;
                        let denom = (v.sqrt() / bc2.sqrt()) + eps;
                        let _ = p.addcdiv_(&(&*m * (-step_size)), &denom);
                    }
                }
            }
        });
    }

    /// The state as named tensors (`opt/<param>/<slot>`), for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![];
        for (name, s) in &self.state {
            match s {
                Slot::Sgd { buf } => {
                    out.push((format!("opt/{name}/momentum_buffer"), buf.shallow_clone()))
                }
                Slot::Adam { m, v, step } => {
                    out.push((format!("opt/{name}/exp_avg"), m.shallow_clone()));
                    out.push((format!("opt/{name}/exp_avg_sq"), v.shallow_clone()));
                    out.push((format!("opt/{name}/step"), Tensor::from(*step)));
                }
            }
        }
        out
    }

    /// Restore the state written by [`Optimizer::state_tensors`] (tensors moved to `device`).
    pub fn load_state(
        &mut self,
        named: &BTreeMap<String, Tensor>,
        device: tch::Device,
    ) -> Result<()> {
        self.state.clear();
        for (k, t) in named {
            let Some(rest) = k.strip_prefix("opt/") else {
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

    /// 10 steps of our SGDM / Adam equal torch.optim's from the same weights and data.
    #[test]
    fn optimizers_match_torch() {
        let _rng = crate::engine::test_rng_lock();
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
                let grads: Vec<Option<Tensor>> = tch::no_grad(|| {
                    [&w, &b]
                        .iter()
                        .map(|p| Some(p.grad().copy() + *p * wd))
                        .collect()
                });
                opt.step(&[("W", &w), ("b", &b)], &grads, lr);
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
            assert!(e < 1e-5, "{name}: max abs difference to torch.optim {e}");
        }
    }
}
