//! The trainer's per-epoch diagnostics and its validation pass: each layer's W against B, the
//! angle between the rule's update and backprop's gradient, and the validation loss and accuracy.

use super::*;

impl Trainer {
    /// Every layer's W against B, for rules with backward weights: the W–B angle and norm
    /// ratio, the update angle against backprop ([`Trainer::update_angles`]) and ‖W‖/‖W₀‖.
    pub(crate) fn alignment(&self) -> Vec<LayerAlignment> {
        if !self.model.aligned_layers().iter().any(|l| l.has_backward()) {
            return vec![];
        }
        let angles = self.update_angles().unwrap_or_default();
        self.model
            .aligned_layers()
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                l.weight_alignment()
                    .map(|(angle, norm_ratio)| LayerAlignment {
                        layer: l.name.clone(),
                        angle,
                        norm_ratio,
                        update_angle: angles.get(&l.name).copied(),
                        w_growth: self
                            .w0_norms
                            .iter()
                            .find(|(j, n)| *j == i && *n > 0.0)
                            .map(|(_, n)| crate::exec::engine::regime::frobenius(&l.w) / n),
                        b_step_factor: self.b_step.get(&i).map(|s| s.factor),
                        b_curvature: self.b_step.get(&i).map(|s| s.curvature),
                        b_rechecks: self
                            .b_step
                            .get(&i)
                            .filter(|_| self.rule.regime.b_step_recheck > 0.0)
                            .map(|s| s.rechecks),
                    })
            })
            .collect()
    }

    /// For each layer with backward weights, the angle (degrees) between the rule's dW and
    /// backprop's dW on the first [`DIAG_STIMULI`] validation images, in eval mode (no dropout,
    /// BatchNorm on its running statistics, so no state changes): the rule's gradient comes from
    /// a backward pass through B, backprop's from the same pass with every B set to W (dense:
    /// Wᵀ), which gives libtorch autograd's gradients exactly
    /// (`models::tests::mirrored_backward_weights_give_backprop_gradients`). B is restored
    /// afterwards and every gradient zeroed. `None` for the contrastive objective and without
    /// validation images.
    pub(crate) fn update_angles(&self) -> Option<BTreeMap<String, f64>> {
        if self.temperature.is_some() || self.task.n_val() == 0 {
            return None;
        }
        let (x, y) = self
            .task
            .val_batch(DIAG_STIMULI.min(self.task.n_val()), self.device)
            .ok()?;
        let layers = self.model.aligned_layers();
        let zero_grads = || {
            for p in self.model.params() {
                let mut g = p.tensor.grad();
                if g.defined() {
                    let _ = g.zero_();
                }
            }
        };
        let w_grads = || -> Vec<Option<Tensor>> {
            zero_grads();
            let out = self.model.forward(&x, &mut Pass::plain(false));
            out.cross_entropy_for_logits(&y).backward();
            let g = layers
                .iter()
                .map(|l| {
                    let g = l.w.grad();
                    (l.has_backward() && g.defined()).then(|| g.detach().copy())
                })
                .collect();
            zero_grads();
            g
        };
        let rule = w_grads();
        let saved: Vec<Option<Tensor>> = tch::no_grad(|| {
            layers
                .iter()
                .map(|l| {
                    l.bwd.as_ref().map(|b| {
                        let old = b.copy();
                        b.shallow_clone().copy_(&l.swap_layout(&l.w));
                        old
                    })
                })
                .collect()
        });
        let bp = w_grads();
        tch::no_grad(|| {
            for (l, old) in layers.iter().zip(&saved) {
                if let (Some(b), Some(old)) = (&l.bwd, old) {
                    b.shallow_clone().copy_(old);
                }
            }
        });
        let mut out = BTreeMap::new();
        for ((l, r), b) in layers.iter().zip(&rule).zip(&bp) {
            if let (Some(r), Some(b)) = (r, b) {
                if let Some(a) = angle_degrees(r, b) {
                    out.insert(l.name.clone(), a);
                }
            }
        }
        Some(out)
    }

    /// Validation loss and accuracy (eval mode, no augmentation; contrastive: two identical
    /// views are not informative, so flip-only views with a fixed seed are used).
    pub(crate) fn evaluate(&self) -> Result<(f64, f64)> {
        tch::no_grad(|| {
            let n = self.task.n_val();
            let bs = self.settings.batch.clamp(1, 512);
            let (mut lsum, mut csum, mut cnt) = (0.0, 0.0, 0.0);
            let mut rng = ChaCha8Rng::seed_from_u64(0xE7A1);
            let order: Vec<Vec<i64>> = (0..n)
                .step_by(bs as usize)
                .map(|i| (i..(i + bs).min(n)).collect())
                .collect();
            for (idx, xs) in order.iter().zip(self.task.val.batches(order.clone())) {
                let (i, m) = (idx[0], idx.len() as i64);
                let xu = self.task.inputs(&xs?, self.device);
                let y = self
                    .task
                    .val
                    .labels()
                    .narrow(0, i, m)
                    .to_device(self.device);
                match self.temperature {
                    None => {
                        let out = self
                            .model
                            .forward(&self.task.normalize(&xu), &mut Pass::plain(false));
                        lsum += out.cross_entropy_for_logits(&y).double_value(&[]) * m as f64;
                        csum += out
                            .argmax(1, false)
                            .eq_tensor(&y)
                            .sum(Kind::Float)
                            .double_value(&[]);
                        cnt += m as f64;
                    }
                    Some(t) => {
                        if m < 2 {
                            break;
                        }
                        let v1 = self.aug.apply(&xu, &mut rng);
                        let v2 = self.aug.apply(&xu, &mut rng);
                        let z = self.model.forward(
                            &self.task.normalize(&Tensor::cat(&[v1, v2], 0)),
                            &mut Pass::plain(false),
                        );
                        let (l, c) = nt_xent(&z, t);
                        lsum += l.double_value(&[]) * m as f64;
                        csum += c.double_value(&[]);
                        cnt += 2.0 * m as f64;
                    }
                }
            }
            let denom = if self.temperature.is_some() {
                cnt / 2.0
            } else {
                cnt
            };
            Ok((lsum / denom.max(1.0), csum / cnt.max(1.0)))
        })
    }
}

/// The angle in degrees between two tensors seen as vectors; `None` when either is zero or
/// not finite.
pub(super) fn angle_degrees(a: &Tensor, b: &Tensor) -> Option<f64> {
    tch::no_grad(|| {
        let a = a.to_kind(Kind::Double).reshape([-1]);
        let b = b.to_kind(Kind::Double).reshape([-1]);
        let (aa, bb, ab) = (
            a.dot(&a).double_value(&[]),
            b.dot(&b).double_value(&[]),
            a.dot(&b).double_value(&[]),
        );
        if aa <= 0.0 || bb <= 0.0 || !(aa.is_finite() && bb.is_finite() && ab.is_finite()) {
            return None;
        }
        Some(
            (ab / (aa.sqrt() * bb.sqrt()))
                .clamp(-1.0, 1.0)
                .acos()
                .to_degrees(),
        )
    })
}
