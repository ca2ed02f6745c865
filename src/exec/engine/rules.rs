//! Learning rules (method.md §6): the optimizer, whether layers own backward weights B, the
//! per-layer alignment loss R_l (trains only B), and Kolen-Pollack's tied gradient.

use super::layers::AlignedLayer;
use super::optim::OptSpec;
use crate::registry::RuleConfig;
use tch::Tensor;

pub(crate) use crate::registry::rules::{
    Alignment, BOptimizer, BackwardInit, InputNoise, TopFeedback,
};

/// A learning rule as the training loop sees it.
pub(crate) trait LearningRule: Send + Sync {
    /// The optimizer that minimises the total loss.
    fn optimizer(&self) -> OptSpec;
    /// Whether every learnable layer owns backward weights B (dx = dy·B).
    fn has_backward_weights(&self) -> bool;
    /// Multiplier of Σ_l R_l in the total loss.
    fn alignment_rate(&self) -> f64;
    /// R_l for one layer given its input `x` (already stop-gradient). `None` when the rule has no
    /// alignment loss. Only B receives a gradient from it.
    fn alignment_loss(&self, layer: &AlignedLayer, x: &Tensor) -> Option<Tensor>;
    /// Kolen-Pollack: B also receives W's task gradient (transposed to B's layout).
    fn tied_backward_gradient(&self) -> bool;
    /// How B is initialised (rules with backward weights).
    fn backward_init(&self) -> BackwardInit {
        BackwardInit::Independent
    }
}

/// The training-regime options of a rule with backward weights (docs/engine.md "Regime
/// options"); [`Regime::default`] is the paper's behaviour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Regime {
    pub b_optimizer: BOptimizer,
    /// B's learning rate = `b_lr_scale` × the run's learning rate.
    pub b_lr_scale: f64,
    /// 0: task and alignment every step; k > 0: step s is alignment-only when s mod (k+1) = 0,
    /// else task-only.
    pub alternate: u32,
    /// Rescale each layer's W to its initial Frobenius norm after every step that moves it.
    pub constrain_norm: bool,
    /// Rescale each layer's B to its initial Frobenius norm after every step that moves it
    /// (rules whose B learns).
    pub constrain_b_norm: bool,
    pub top_feedback: TopFeedback,
    /// Learning rate of every parameter but the classifier's W and bias and B, as a multiple
    /// of the run's (any rule; 0 = the readout-only control).
    pub hidden_lr_scale: f64,
    /// IA's `b_step_cap` κ: each layer's B steps at most at κ/λ_max(∂²R_l/∂B²); 0 = off.
    pub b_step_cap: f64,
    /// `b_step_recheck` ρ: re-estimate a layer's curvature when its output energy has grown
    /// more than ρ-fold since the last estimate; 0 = every 50 steps only.
    pub b_step_recheck: f64,
}

impl Default for Regime {
    fn default() -> Self {
        Regime {
            b_optimizer: BOptimizer::Same,
            b_lr_scale: 1.0,
            alternate: 0,
            constrain_norm: false,
            constrain_b_norm: false,
            top_feedback: TopFeedback::Random,
            hidden_lr_scale: 1.0,
            b_step_cap: 0.0,
            b_step_recheck: 0.0,
        }
    }
}

impl Regime {
    /// Whether B is stepped apart from W (its own optimizer or learning rate).
    pub(crate) fn separate_b(&self) -> bool {
        self.b_optimizer != BOptimizer::Same || self.b_lr_scale != 1.0
    }
    /// What global step `s` (0-based, counted over the whole training) does.
    pub(crate) fn phase(&self, s: u64) -> Phase {
        if self.alternate == 0 {
            Phase::Both
        } else if s % (u64::from(self.alternate) + 1) == 0 {
            Phase::Alignment
        } else {
            Phase::Task
        }
    }
}

/// What one training step optimises (`alternate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Task loss and alignment loss (the paper).
    Both,
    /// Task loss only: the alignment loss is not computed; B moves only by a tied gradient
    /// (Kolen-Pollack).
    Task,
    /// Alignment loss only: no task backward; only B moves.
    Alignment,
}

/// The one implementation of [`LearningRule`], configured from a rule call.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub optimizer: OptSpec,
    pub alignment: Alignment,
    pub alignment_rate: f64,
    pub backward_init: BackwardInit,
    pub regime: Regime,
}

impl Rule {
    /// The rule of a typed rule config.
    pub(crate) fn new(c: &RuleConfig) -> Rule {
        let (b, l) = (&c.backward, &c.learned_b);
        Rule {
            optimizer: c.optimizer,
            alignment: c.alignment.clone(),
            alignment_rate: c.alignment_rate,
            backward_init: b.init,
            regime: Regime {
                b_optimizer: l.b_optimizer,
                b_lr_scale: l.b_lr_scale,
                alternate: l.alternate,
                constrain_norm: b.constrain_norm,
                constrain_b_norm: l.constrain_b_norm,
                top_feedback: b.top_feedback,
                hidden_lr_scale: c.hidden_lr_scale,
                b_step_cap: l.b_step_cap,
                b_step_recheck: l.b_step_recheck,
            },
        }
    }
}

/// Build a rule from its call; every parameter it leaves out takes its registry default
/// (tests; the trainer builds from the [`RuleConfig`] it makes once).
#[cfg(test)]
pub(crate) fn build_rule(call: &crate::value::Call) -> super::error::Result<Rule> {
    let c = RuleConfig::from_call(&crate::registry::complete(call))?;
    Ok(Rule::new(&c))
}

/// rms(x) = √mean(x²) over the whole tensor, a 0-d tensor (at least 1e-12) of x's kind.
fn rms(x: &Tensor) -> Tensor {
    x.detach().square().mean(x.kind()).sqrt().clamp_min(1e-12)
}

/// `input_scale = "rms"`: (x/s, P_f/s, the output positions) with s = rms(x): R on x/s, so
/// P_f = op(x, W)/s (op is linear; the bias is added after), its amp, null and sparse terms
/// averaged over the positions.
fn rms_scaled(x: &Tensor, pf: &Tensor) -> (Tensor, Tensor, f64) {
    let s = rms(x);
    (x / &s, pf / &s, positions(pf))
}

/// The number of output positions of a projection: H·W of a conv output [n, C, H, W], 1 for a
/// dense one.
fn positions(p: &Tensor) -> f64 {
    let s = p.size();
    if s.len() == 4 {
        (s[2] * s[3]) as f64
    } else {
        1.0
    }
}

/// Σ_units mean_batch(a ⊙ b).
fn sum_mean(a: &Tensor, b: &Tensor) -> Tensor {
    let n = a.size()[0] as f64;
    (a * b).sum(a.kind()) / n
}

/// The projections and reconstructions of method.md §6 for one layer.
pub(crate) struct Primitives<'a> {
    layer: &'a AlignedLayer,
    x: Tensor,
    xb: Tensor,
    w: Tensor,
    b: Tensor,
    /// B in W's layout (dense: Bᵀ).
    b_wl: Tensor,
    /// Add the layer's bias (detached) to both projections (`projection_bias`).
    bias: bool,
}

impl<'a> Primitives<'a> {
    pub(crate) fn new(layer: &'a AlignedLayer, x: &Tensor, batch_center: bool) -> Self {
        let b = layer
            .bwd
            .as_ref()
            .expect("alignment loss on a layer without B")
            .shallow_clone();
        let b_wl = layer.swap_layout(&b);
        let x = x.detach();
        let xb = if batch_center {
            &x - x.mean_dim(0, true, x.kind())
        } else {
            x.shallow_clone()
        };
        Primitives {
            layer,
            x,
            xb,
            w: layer.w.detach(),
            b,
            b_wl,
            bias: false,
        }
    }
    /// The projections with the layer's bias (stop-gradient) added: P_f = op(x, W) + b,
    /// P_b = op(x_b, B) + b (NA's `use_bias_forward` and `use_bias_backward`).
    pub(crate) fn with_bias(self, bias: bool) -> Self {
        Primitives { bias, ..self }
    }
    fn plus_bias(&self, t: Tensor) -> Tensor {
        match (&self.layer.bias, self.bias) {
            (Some(b), true) => self.layer.add_bias_of(t, &b.detach()),
            _ => t,
        }
    }
    /// P_f = op(x, W) (+ b with `with_bias`).
    pub(crate) fn p_f(&self) -> Tensor {
        self.plus_bias(self.layer.op_forward(&self.x, &self.w))
    }
    /// P_b = op(x_b, B) (dense x_b·Bᵀ; + b with `with_bias`).
    pub(crate) fn p_b(&self) -> Tensor {
        self.plus_bias(self.layer.op_backward(&self.xb, &self.b))
    }
    /// R_f = P_f·B (conv: conv_transpose(P_f, B)).
    pub(crate) fn r_f(&self, p_f: &Tensor) -> Tensor {
        self.layer.op_transpose(p_f, &self.b_wl, &self.x.size())
    }
    /// R_b = P_b·Wᵀ (conv: conv_transpose(P_b, W)).
    pub(crate) fn r_b(&self, p_b: &Tensor) -> Tensor {
        self.layer.op_transpose(p_b, &self.w, &self.x.size())
    }
    /// decay = ‖W‖² + ‖B‖².
    pub(crate) fn decay(&self) -> Tensor {
        self.w.square().sum(self.w.kind()) + self.b.square().sum(self.b.kind())
    }
    /// self = −Σ W ⊙ B.
    pub(crate) fn self_(&self) -> Tensor {
        -(&self.w * &self.b_wl).sum(self.w.kind())
    }
    /// amp(a, b) = −Σ_units mean_batch(a ⊙ b).
    pub(crate) fn amp(a: &Tensor, b: &Tensor) -> Tensor {
        -sum_mean(a, b)
    }
    /// sparse = Σ mean(P_f²) + Σ mean(P_b²).
    pub(crate) fn sparse(p_f: &Tensor, p_b: &Tensor) -> Tensor {
        sum_mean(p_f, p_f) + sum_mean(p_b, p_b)
    }
    /// Σ mean(r²) (one half of null).
    pub(crate) fn null_one(r: &Tensor) -> Tensor {
        sum_mean(r, r)
    }
    pub(crate) fn input(&self) -> &Tensor {
        &self.x
    }
}

/// What a training forward pass keeps of one layer with backward weights for IA's closed-form
/// alignment gradient: the layer input x and the projection P_f = op(x, W), both detached.
pub struct AlignParts {
    pub index: usize,
    pub x: Tensor,
    pub pf: Tensor,
}

impl Rule {
    /// Whether the alignment loss is taken in closed form (IA) rather than by autograd through
    /// [`LearningRule::alignment_loss`].
    pub(crate) fn closed_form_alignment(&self) -> bool {
        matches!(self.alignment, Alignment::Information { .. })
    }

    /// IA's R_l for one layer (its value, as [`LearningRule::alignment_loss`] gives it) and its
    /// gradient ∂R_l/∂B in closed form, as (value, G, c) with ∂R_l/∂B = G + c·B: the decay
    /// term's 2γB is left to the optimizer as L2 weight decay c on B (one fused pass instead of
    /// two more over B; c = 0 with `use_sparse`).
    ///
    /// Why: autograd through R_l recomputes P_f, and differentiates through both P_b = op(x_b, B)
    /// and R_f = op_T(P_f, B), so IA cost 3× an SGDM step. With G(z, P) = ∂⟨op(z, B), P⟩/∂B
    /// (bilinear; the weight gradient of a conv), every term of ∂R/∂B is a G:
    /// - amp(P_f, P_b) → −G(x_b, P_f)/n; amp(x, R_f) → −G(x, P_f)/n; amp(x, R_b) → −G(x_b, P_f)/n
    ///   (op_T is the adjoint of op);
    /// - null(R_f) → 2·G(R_f, P_f)/n; null(R_b) → 2·G(x_b, op(R_b, W))/n;
    /// - sparse → 2·G(x_b, P_b)/n (the P_f part has no B); decay → 2B.
    ///
    /// Terms sharing an argument merge by bilinearity, and G is taken without its forward op
    /// (`AlignedLayer::backward_weight_grad`), so the default IA costs one op_T (R_f) and one
    /// weight gradient on top of FA. Its value needs no P_b either: amp(P_f, P_b) =
    /// −⟨P_f, op(x_b, B)⟩/n = −⟨op_T(P_f, B), x_b⟩/n = −⟨R_f, x_b⟩/n. P_b is computed only for
    /// `reconstruction_reversal` and `use_sparse`.
    /// `information_gradient_matches_autograd` checks value and gradient against autograd of
    /// `alignment_loss` (itself checked against finite differences) for every flag combination.
    pub(crate) fn information_gradient(
        &self,
        layer: &AlignedLayer,
        parts: &AlignParts,
    ) -> Option<(Tensor, Tensor, f64)> {
        let b = layer.bwd.as_ref()?;
        self.information_at(layer, parts, &b.detach())
    }

    /// The largest eigenvalue of ∂²R_l/∂B² (IA; `b_step_cap`): R_l is quadratic in B, so its
    /// Hessian-vector product is exact as a difference of closed-form gradients,
    /// H·v = ∇R(v) − ∇R(0) (the linear amp and bias terms cancel), plus the decay term's c·v
    /// ([`Self::information_hvp`]).
    /// Power iteration from B itself (no random draw, so a resumed run re-estimates exactly),
    /// `iters` products; the Rayleigh quotient, which never exceeds λ_max. `None` for rules
    /// without a closed form. Cost: one closed-form gradient per iteration.
    pub(crate) fn information_curvature(
        &self,
        layer: &AlignedLayer,
        parts: &AlignParts,
        iters: usize,
    ) -> Option<f64> {
        let b = layer.bwd.as_ref()?.detach();
        tch::no_grad(|| {
            let g0 = self.information_grad_at_zero(layer, parts)?;
            let unit = |t: &Tensor| {
                let n = t.to_kind(tch::Kind::Double).norm().double_value(&[]);
                (n > 0.0 && n.is_finite()).then(|| t / n)
            };
            // From B, or (B = 0) from a constant tensor.
            let mut v = unit(&b).or_else(|| unit(&b.ones_like()))?;
            let mut lambda = 0.0f64;
            for _ in 0..iters {
                let hv = self.information_hvp(layer, parts, &v, &g0)?;
                lambda = (&v * &hv).sum(tch::Kind::Double).double_value(&[]);
                match unit(&hv) {
                    Some(u) => v = u,
                    None => break,
                }
            }
            Some(lambda.max(0.0))
        })
    }

    /// H·v, H = ∂²R_l/∂B² (IA), as ∇R(v) − ∇R(0) + c·v; `g0` = ∇R(0) without the decay term
    /// (`information_at` with B = 0).
    pub(crate) fn information_hvp(
        &self,
        layer: &AlignedLayer,
        parts: &AlignParts,
        v: &Tensor,
        g0: &Tensor,
    ) -> Option<Tensor> {
        let (_, gv, c) = self.information_at(layer, parts, v)?;
        Some(gv - g0 + v * c)
    }

    /// ∇R_l at B = 0 without the decay term: the `g0` of [`Self::information_hvp`].
    pub(crate) fn information_grad_at_zero(
        &self,
        layer: &AlignedLayer,
        parts: &AlignParts,
    ) -> Option<Tensor> {
        let b = layer.bwd.as_ref()?;
        Some(self.information_at(layer, parts, &b.zeros_like())?.1)
    }

    /// [`Self::information_gradient`] with B replaced by `bd` (detached).
    fn information_at(
        &self,
        layer: &AlignedLayer,
        parts: &AlignParts,
        bd: &Tensor,
    ) -> Option<(Tensor, Tensor, f64)> {
        let Alignment::Information {
            alpha,
            beta,
            gamma,
            reconstruction_amp: ramp,
            reconstruction_reversal: rev,
            use_sparse: sparse,
            batch_center,
            projection_bias,
            rms_input,
        } = self.alignment
        else {
            return None;
        };
        let scaled = rms_input.then(|| rms_scaled(&parts.x, &parts.pf));
        let (x, pf, per) = match &scaled {
            Some((xs, ps, per)) => (xs, ps, *per),
            None => (&parts.x, &parts.pf, 1.0),
        };
        // ÷1 is exact: the default is unchanged bit for bit. γ weighs sparse (per position)
        // or decay (not).
        let (alpha, beta) = (alpha / per, beta / per);
        let gamma = if sparse { gamma / per } else { gamma };
        let kind = x.kind();
        let n = x.size()[0] as f64;
        // Σ a⊙c in one pass (BLAS dot), without the product tensor.
        let dot = |a: &Tensor, c: &Tensor| {
            if a.is_contiguous() && c.is_contiguous() {
                a.view([-1]).dot(&c.view([-1]))
            } else {
                (a * c).sum(kind)
            }
        };
        let centre = |t: Tensor| {
            if batch_center {
                &t - t.mean_dim(0, true, kind)
            } else {
                t
            }
        };
        Some(tch::no_grad(|| {
            let bd = bd.shallow_clone();
            let w = layer.w.detach();
            let xb = centre(x.shallow_clone());
            // `projection_bias`: P_f = op(x, W) + b and P_b = op(x_b, B) + b. The bias is a
            // constant of R, so every gradient term keeps its form with the biased projections,
            // except amp(x, R_b) = −⟨op(x, W), P_b⟩/n, whose partner is the unbiased op(x, W).
            let bias = layer.bias.as_ref().filter(|_| projection_bias);
            let plus_bias = |t: Tensor| match bias {
                Some(bv) => layer.add_bias_of(t, bv),
                None => t,
            };
            let pf0 = pf;
            let pf = &plus_bias(pf0.shallow_clone());
            // op is linear without bias, so op(x − mean x, B) = P_b − mean P_b.
            let p_b = || plus_bias(centre(layer.op_backward(x, &bd)));
            // (z, P) pairs of the gradient Σ G(z, P), then the value.
            let mut terms: Vec<(Tensor, Tensor)> = vec![];
            let (amp, null, pb) = if rev {
                let pb = p_b();
                let rb = layer.reconstruct(&pb, &w, &x.size());
                let amp = if ramp {
                    -dot(x, &rb) / n
                } else {
                    -dot(pf, &pb) / n
                };
                let amp_partner = if ramp { pf0 } else { pf };
                let mut q =
                    amp_partner * (-alpha / n) + layer.op_forward(&rb, &w) * (2.0 * beta / n);
                if sparse {
                    q += &pb * (2.0 * gamma / n);
                }
                terms.push((xb.shallow_clone(), q));
                let null = dot(&rb, &rb) / n;
                (amp, null, Some(pb))
            } else {
                let b_wl = layer.swap_layout(&bd);
                let rf = layer.reconstruct(pf, &b_wl, &x.size());
                let za = if ramp { x } else { &xb };
                // amp(P_f, P_b) = −⟨R_f, x_b⟩/n − ⟨P_f, b⟩/n.
                let mut amp = -dot(za, &rf) / n;
                if let (Some(bv), false) = (bias, ramp) {
                    let dims: &[i64] = if pf.dim() == 2 { &[0] } else { &[0, 2, 3] };
                    amp -= (pf.sum_dim_intlist(dims, false, kind) * bv).sum(kind) / n;
                }
                terms.push((
                    za * (-alpha / n) + &rf * (2.0 * beta / n),
                    pf.shallow_clone(),
                ));
                let pb = sparse.then(p_b);
                if let Some(pb) = &pb {
                    terms.push((xb.shallow_clone(), pb * (2.0 * gamma / n)));
                }
                (amp, dot(&rf, &rf) / n, pb)
            };
            let (reg, decay) = match &pb {
                Some(pb) if sparse => ((dot(pf, pf) + dot(pb, pb)) / n, 0.0),
                _ => (dot(&w, &w) + dot(&bd, &bd), 2.0 * gamma),
            };
            let mut grad: Option<Tensor> = None;
            for (z, q) in &terms {
                let g = layer.backward_weight_grad(z, q);
                grad = Some(match grad {
                    None => g,
                    Some(acc) => acc + g,
                });
            }
            let grad = grad.expect("at least one weight-gradient term");
            (amp * alpha + null * beta + reg * gamma, grad, decay)
        }))
    }
}

impl LearningRule for Rule {
    fn optimizer(&self) -> OptSpec {
        self.optimizer
    }
    fn has_backward_weights(&self) -> bool {
        !matches!(self.alignment, Alignment::None)
    }
    fn alignment_rate(&self) -> f64 {
        self.alignment_rate
    }
    fn tied_backward_gradient(&self) -> bool {
        matches!(self.alignment, Alignment::KolenPollack { .. })
    }
    fn backward_init(&self) -> BackwardInit {
        self.backward_init
    }
    fn alignment_loss(&self, layer: &AlignedLayer, x: &Tensor) -> Option<Tensor> {
        type P<'a> = Primitives<'a>;
        Some(match &self.alignment {
            Alignment::None | Alignment::Feedback => return None,
            Alignment::Information {
                alpha,
                beta,
                gamma,
                reconstruction_amp,
                reconstruction_reversal,
                use_sparse,
                batch_center,
                projection_bias,
                rms_input,
            } => {
                let xs = if *rms_input {
                    x / rms(x)
                } else {
                    x.shallow_clone()
                };
                let pr = P::new(layer, &xs, *batch_center).with_bias(*projection_bias);
                let pf = pr.p_f();
                let pb = pr.p_b();
                let (amp, null) = if *reconstruction_reversal {
                    let rb = pr.r_b(&pb);
                    let amp = if *reconstruction_amp {
                        P::amp(pr.input(), &rb)
                    } else {
                        P::amp(&pf, &pb)
                    };
                    (amp, P::null_one(&rb))
                } else {
                    let rf = pr.r_f(&pf);
                    let amp = if *reconstruction_amp {
                        P::amp(pr.input(), &rf)
                    } else {
                        P::amp(&pf, &pb)
                    };
                    (amp, P::null_one(&rf))
                };
                let per = if *rms_input { positions(&pf) } else { 1.0 };
                let reg = if *use_sparse {
                    P::sparse(&pf, &pb) / per
                } else {
                    pr.decay()
                };
                amp * (*alpha / per) + null * (*beta / per) + reg * *gamma
            }
            Alignment::Symmetric { alpha, beta } => {
                let pr = P::new(layer, x, false);
                pr.decay() * *alpha + pr.self_() * *beta
            }
            Alignment::Activation {
                alpha,
                beta,
                batch_center,
            } => {
                let pr = P::new(layer, x, *batch_center);
                let (pf, pb) = (pr.p_f(), pr.p_b());
                P::sparse(&pf, &pb) * *alpha + P::amp(&pf, &pb) * *beta
            }
            Alignment::Mirror {
                alpha,
                beta,
                noise,
                stddev,
            } => {
                let xin = match noise {
                    InputNoise::None => x.detach(),
                    InputNoise::Normal => x.randn_like() * *stddev,
                    InputNoise::Uniform => (x.rand_like() * 2.0 - 1.0) * *stddev,
                };
                let pr = P::new(layer, &xin, false);
                let (pf, pb) = (pr.p_f(), pr.p_b());
                pr.decay() * *alpha + P::amp(&pf, &pb) * *beta
            }
            Alignment::KolenPollack { alpha } => P::new(layer, x, false).decay() * *alpha,
        })
    }
}

#[cfg(test)]
mod tests;
