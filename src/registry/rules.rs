//! The learning rules (method.md §6), one place per rule: its parameter schema, its entry in
//! [`super::BUILTINS`] (`RULES`) and its typed form [`RuleConfig`], parsed once from a completed
//! call and taken by the engine. A new rule touches this file and its math in
//! `src/exec/engine/rules.rs` (docs/architecture.md "Where to add things").

use super::config::{Params, Result, unknown};
use super::schema::{Default as D, POS, Param, Ty, p};
use super::{Builtin, Kind};
use crate::value::Call;

const OPTIMIZERS: &[&str] = &["sgdm", "adam"];
const SGDM: &[Param] = &[
    p(
        "momentum",
        Ty::Float {
            min: 0.0,
            max: 0.9999,
        },
        D::F(0.9),
        "momentum",
    ),
    p(
        "nesterov",
        Ty::Bool,
        D::B(true),
        "Nesterov momentum (TF `use_nesterov=True`)",
    ),
];
const ADAM: &[Param] = &[
    p(
        "beta1",
        Ty::Float {
            min: 0.0,
            max: 0.9999,
        },
        D::F(0.9),
        "Adam β1",
    ),
    p(
        "beta2",
        Ty::Float {
            min: 0.0,
            max: 0.999999,
        },
        D::F(0.999),
        "Adam β2",
    ),
    p(
        "eps",
        Ty::Float { min: 0.0, max: 1.0 },
        D::F(1e-8),
        "Adam ε",
    ),
];
const ALIGN_RATE: &[Param] = &[p(
    "alignment_rate",
    POS,
    D::F(1.0),
    "weight of the alignment loss Σ R_l in the total loss",
)];
/// Options of every rule (docs/engine.md "Regime options").
const LAYER_RATE: &[Param] = &[p(
    "hidden_lr_scale",
    Ty::Float {
        min: 0.0,
        max: 1000.0,
    },
    D::F(1.0),
    "learning rate of every parameter but the classifier's (its W and bias) and B, as a multiple of the run's learning rate; 0 freezes them at their initial values (the readout-only control: a linear classifier on the random features). Not the paper's protocol",
)];
/// Options of every rule with backward weights B (docs/engine.md "Regime options").
const BACKWARD_INIT: &[Param] = &[
    p(
        "backward_init",
        Ty::Enum(&["independent", "same_draws"]),
        D::S("independent"),
        "initial backward weights B: drawn independently of W from the same initialiser, or `same_draws`, the paper code's seeding quirk (method.md §6: conv B = W, dense B = W's draws reshaped)",
    ),
    p(
        "constrain_norm",
        Ty::Bool,
        D::B(false),
        "after every step that moves W, rescale each layer's W (not its bias) to its initial Frobenius norm (BioTorch's `constrain_weights`, after Moskovitz et al. 2018); not the paper's protocol",
    ),
    p(
        "top_feedback",
        Ty::Enum(&["random", "shared"]),
        D::S("random"),
        "the classifier's B: `random` (the paper) or `shared`, constant over the spatial positions of each channel of the flattened C×H×W map it reads (knet4, knet5; drawn as [classes, C] with B's initialiser, broadcast over H×W; a learning B keeps that form). Not the paper's protocol",
    ),
];
/// Options of the rules whose B learns (docs/engine.md "Regime options").
const LEARNED_B: &[Param] = &[
    p(
        "b_optimizer",
        Ty::Enum(&["same", "sgdm", "adam"]),
        D::S("same"),
        "optimizer of B (NA's `alignment_optimizer`): `same` = the rule's `optimizer`, or a separate SGDM or Adam with the rule's momentum/nesterov or beta1/beta2/eps",
    ),
    p(
        "b_lr_scale",
        Ty::Float {
            min: 0.0,
            max: f64::INFINITY,
        },
        D::F(1.0),
        "B's learning rate as a multiple of the run's learning rate at each step (schedule and batch rescaling included)",
    ),
    p(
        "alternate",
        Ty::Int {
            min: 0,
            max: 1_000_000,
        },
        D::I(0),
        "NA's `alternate_step_freq`: 0 = task and alignment in every step; k > 0 = global step s (from 0) is an alignment step (only B moves, by the alignment loss) when s mod (k+1) = 0, else a task step (no alignment loss, B does not move except Kolen-Pollack's tied gradient)",
    ),
    p(
        "constrain_b_norm",
        Ty::Bool,
        D::B(false),
        "after every step that moves B, rescale each layer's B to its initial Frobenius norm (B's direction learns, its size stays; for an alignment loss whose amp term grows B without bound); not the paper's protocol",
    ),
];
const FA: &[Param] = &[p(
    "optimizer",
    Ty::Enum(OPTIMIZERS),
    D::S("adam"),
    "optimizer of the pseudogradient (the paper: Adam)",
)];
const IA: &[Param] = &[
    p(
        "optimizer",
        Ty::Enum(OPTIMIZERS),
        D::S("sgdm"),
        "optimizer (the paper: SGDM, Nesterov)",
    ),
    p(
        "alpha",
        POS,
        D::F(2e-3),
        "weight of the amp term (UNCERTAIN: the paper's TPE values are not public)",
    ),
    p("beta", POS, D::F(1e-3), "weight of the null term"),
    p("gamma", POS, D::F(1e-3), "weight of the decay term"),
    p(
        "reconstruction_amp",
        Ty::Bool,
        D::B(false),
        "amp(x, R_f) instead of amp(P_f, P_b)",
    ),
    p(
        "reconstruction_reversal",
        Ty::Bool,
        D::B(false),
        "null(0, R_b) instead of null(R_f, 0)",
    ),
    p(
        "use_sparse",
        Ty::Bool,
        D::B(false),
        "sparse instead of decay",
    ),
    p(
        "batch_center_backward_input",
        Ty::Bool,
        D::B(false),
        "subtract the batch mean of x before the backward projection",
    ),
    p(
        "projection_bias",
        Ty::Bool,
        D::B(false),
        "add the layer's bias (stop-gradient) to both projections, P_f = op(x, W) + b and P_b = op(x_b, B) + b (NA's `use_bias_forward` and `use_bias_backward`, on in NA's training script)",
    ),
    p(
        "input_scale",
        Ty::Enum(&["raw", "rms"]),
        D::S("raw"),
        "`raw` (the paper): R on the layer input x. `rms`: R on x/rms(x) (rms over the whole batch, stop-gradient), with its amp, null and sparse terms averaged over the layer's output positions instead of summed, so B's fixed point B* ≈ (α/2γ)·W·E[x̂x̂ᵀ] has W's scale whatever the activations' scale and the layer's size (the role batch normalisation plays in the paper's ResNets). Not the paper's protocol",
    ),
    p(
        "b_step_cap",
        Ty::Float {
            min: 0.0,
            max: 100.0,
        },
        D::F(0.0),
        "0 (the paper): off. κ > 0: each layer's B steps at a learning rate of at most κ/λ, λ the largest eigenvalue of ∂²R_l/∂B² (power iteration every 50 steps), so SGD on R_l cannot pass its stability limit (Nesterov 0.9: lr·λ < 1.36) as the null term's curvature grows with W; R's minimiser is unchanged. Refused where Adam steps B. Costs 8–10 % more per IA step (scripts/bench-ia-cap, KNet4 on CPU). Not the paper's protocol",
    ),
    p(
        "b_step_recheck",
        Ty::Float { min: 0.0, max: 1e6 },
        D::F(0.0),
        "with `b_step_cap`: 0 (default): λ is re-estimated every 50 steps only. ρ > 1: also at any step where a layer's output energy ‖W·x‖²/n has grown more than ρ-fold since that layer's last estimate (the null term's curvature grows with it), so a W that grows fast between two scheduled estimates (e.g. stepped by Adam from the paper's small init) cannot outrun the cap. Costs +3.3 % on the capped IA step (one dot product of P_f per layer; scripts/bench-ia-cap, KNet4, batch 256, CPU), and an estimate (≈ 4.5 IA steps for every layer) per trigger",
    ),
];
const SYM: &[Param] = &[
    p("optimizer", Ty::Enum(OPTIMIZERS), D::S("sgdm"), "optimizer"),
    p("alpha", POS, D::F(1e-3), "weight of the decay term"),
    p("beta", POS, D::F(2e-3), "weight of the self term"),
];
const ACT: &[Param] = &[
    p("optimizer", Ty::Enum(OPTIMIZERS), D::S("sgdm"), "optimizer"),
    p("alpha", POS, D::F(1e-3), "weight of the sparse term"),
    p("beta", POS, D::F(2e-3), "weight of the amp term"),
    p(
        "batch_center_backward_input",
        Ty::Bool,
        D::B(false),
        "subtract the batch mean of x before the backward projection",
    ),
];
const MIRROR: &[Param] = &[
    p("optimizer", Ty::Enum(OPTIMIZERS), D::S("sgdm"), "optimizer"),
    p("alpha", POS, D::F(1e-3), "weight of the decay term"),
    p("beta", POS, D::F(1e-3), "weight of the amp term"),
    p(
        "input_noise",
        Ty::Enum(&["none", "normal", "uniform"]),
        D::S("none"),
        "the input of the alignment loss: the layer's input x (`none`), or noise of x's shape drawn at every step, N(0, input_stddev²) (`normal`) or U(−input_stddev, input_stddev) (`uniform`), as Kunin et al. run the weight mirror (NA's `input_distribution`)",
    ),
    p(
        "input_stddev",
        POS,
        D::F(1.0),
        "scale of the noise inputs (`input_noise` `normal` or `uniform`)",
    ),
];
const KP: &[Param] = &[
    p("optimizer", Ty::Enum(OPTIMIZERS), D::S("sgdm"), "optimizer"),
    p("alpha", POS, D::F(1e-3), "weight of the decay term"),
];

/// The learning rules' builtins, in documentation order.
pub(super) const RULES: &[Builtin] = &[
    b!(
        "sgdm",
        Rule,
        "backprop",
        "backpropagation with SGD and Nesterov momentum",
        [SGDM, LAYER_RATE]
    ),
    b!(
        "adam",
        Rule,
        "backprop",
        "backpropagation with Adam",
        [ADAM, LAYER_RATE]
    ),
    b!(
        "fa",
        Rule,
        "alignment",
        "feedback alignment: dx = dy·B with B random and fixed",
        [FA, SGDM, ADAM, BACKWARD_INIT, LAYER_RATE]
    ),
    b!(
        "ia",
        Rule,
        "alignment",
        "information alignment: B trained by α·amp + β·null + γ·decay",
        [
            IA,
            SGDM,
            ADAM,
            ALIGN_RATE,
            LEARNED_B,
            BACKWARD_INIT,
            LAYER_RATE
        ]
    ),
    b!(
        "symmetric",
        Rule,
        "alignment",
        "symmetric alignment: B trained by α·decay + β·self",
        [
            SYM,
            SGDM,
            ADAM,
            ALIGN_RATE,
            LEARNED_B,
            BACKWARD_INIT,
            LAYER_RATE
        ]
    ),
    b!(
        "activation",
        Rule,
        "alignment",
        "activation alignment: B trained by α·sparse + β·amp",
        [
            ACT,
            SGDM,
            ADAM,
            ALIGN_RATE,
            LEARNED_B,
            BACKWARD_INIT,
            LAYER_RATE
        ]
    ),
    b!(
        "weight_mirror",
        Rule,
        "alignment",
        "weight mirror: B trained by α·decay + β·amp",
        [
            MIRROR,
            SGDM,
            ADAM,
            ALIGN_RATE,
            LEARNED_B,
            BACKWARD_INIT,
            LAYER_RATE
        ]
    ),
    b!(
        "kolen_pollack",
        Rule,
        "alignment",
        "Kolen-Pollack: B receives W's gradient (tied), plus α·decay",
        [
            KP,
            SGDM,
            ADAM,
            ALIGN_RATE,
            LEARNED_B,
            BACKWARD_INIT,
            LAYER_RATE
        ]
    ),
];

/// An optimizer and its hyperparameters (the `SGDM` and `ADAM` parameter groups).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// SGD with momentum, as `torch.optim.SGD(momentum, nesterov)`.
    Sgdm {
        /// Momentum coefficient.
        momentum: f64,
        /// Nesterov momentum (TF `use_nesterov=True`).
        nesterov: bool,
    },
    /// Adam, as `torch.optim.Adam`.
    Adam {
        /// First-moment decay β1.
        beta1: f64,
        /// Second-moment decay β2.
        beta2: f64,
        /// ε added to the second moment's square root.
        eps: f64,
    },
}

impl Optimizer {
    /// The optimizer named `which` (`sgdm` | `adam`) with its hyperparameters from `p`.
    fn read(p: &Params, which: &str) -> Result<Optimizer> {
        match which {
            "sgdm" => Ok(Optimizer::Sgdm {
                momentum: p.f64("momentum")?,
                nesterov: p.bool("nesterov")?,
            }),
            "adam" => Ok(Optimizer::Adam {
                beta1: p.f64("beta1")?,
                beta2: p.f64("beta2")?,
                eps: p.f64("eps")?,
            }),
            o => Err(p.bad(
                "optimizer",
                format!("must be \"sgdm\" or \"adam\", got \"{o}\""),
            )),
        }
    }
}

/// The alignment loss R_l of a rule (method.md §6 table): which rule family it is and its
/// term weights.
#[derive(Debug, Clone, PartialEq)]
pub enum Alignment {
    /// Backprop rules (sgdm, adam): no B at all.
    None,
    /// Feedback alignment: B random and fixed, R ≡ 0.
    Feedback,
    /// IA: α·amp + β·null + γ·decay (or sparse), with the variant flags.
    Information {
        /// Weight of the amp term.
        alpha: f64,
        /// Weight of the null term.
        beta: f64,
        /// Weight of the decay (or sparse) term.
        gamma: f64,
        /// amp(x, R_f) instead of amp(P_f, P_b).
        reconstruction_amp: bool,
        /// null(0, R_b) instead of null(R_f, 0).
        reconstruction_reversal: bool,
        /// sparse instead of decay.
        use_sparse: bool,
        /// Subtract the batch mean of x before the backward projection.
        batch_center: bool,
        /// P_f = op(x, W) + b and P_b = op(x_b, B) + b (NA's `use_bias_forward/backward`).
        projection_bias: bool,
        /// `input_scale = "rms"`: R on x/rms(x), its amp, null and sparse terms averaged over
        /// the layer's output positions.
        rms_input: bool,
    },
    /// α·decay + β·self.
    Symmetric {
        /// Weight of the decay term.
        alpha: f64,
        /// Weight of the self term.
        beta: f64,
    },
    /// α·sparse + β·amp.
    Activation {
        /// Weight of the sparse term.
        alpha: f64,
        /// Weight of the amp term.
        beta: f64,
        /// Subtract the batch mean of x before the backward projection.
        batch_center: bool,
    },
    /// α·decay + β·amp, optionally on noise inputs.
    Mirror {
        /// Weight of the decay term.
        alpha: f64,
        /// Weight of the amp term.
        beta: f64,
        /// The alignment loss's input: x or noise of x's shape.
        noise: InputNoise,
        /// Scale of the noise inputs.
        stddev: f64,
    },
    /// α·decay plus the tied gradient dB = dWᵀ.
    KolenPollack {
        /// Weight of the decay term.
        alpha: f64,
    },
}

/// The weight mirror's alignment input (`input_noise`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputNoise {
    /// The layer's input x.
    None,
    /// N(0, input_stddev²) of x's shape, drawn every step.
    Normal,
    /// U(−input_stddev, input_stddev) of x's shape, drawn every step.
    Uniform,
}

/// Initial backward weights (method.md §6, "seeding quirk").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackwardInit {
    /// B drawn from W's initialiser, independently of W (the default).
    Independent,
    /// B takes W's own draws, as the paper's code did with a seeded initialiser object: conv
    /// B = W; dense B = W's draws in B's shape.
    SameDraws,
}

/// The classifier's backward weights (`top_feedback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopFeedback {
    /// As every other layer's B (the paper).
    Random,
    /// Constant over the spatial positions of each channel of the flattened map it reads.
    Shared,
}

/// Which optimizer updates B (`b_optimizer`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BOptimizer {
    /// The rule's optimizer, at the run's learning rate (the paper).
    Same,
    /// A separate optimizer state of this kind.
    Separate(Optimizer),
}

/// The options of every rule with backward weights B (the registry's `BACKWARD_INIT`
/// group; docs/engine.md "Regime options").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackwardOptions {
    /// How B is initialised (`backward_init`).
    pub init: BackwardInit,
    /// Rescale each layer's W to its initial Frobenius norm after every step that moves it.
    pub constrain_norm: bool,
    /// The classifier's B (`top_feedback`).
    pub top_feedback: TopFeedback,
}

/// The options of the rules whose B learns (the registry's `LEARNED_B` group).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearnedB {
    /// B's optimizer.
    pub b_optimizer: BOptimizer,
    /// B's learning rate = `b_lr_scale` × the run's learning rate.
    pub b_lr_scale: f64,
    /// 0: task and alignment every step; k > 0: step s is alignment-only when s mod (k+1) = 0,
    /// else task-only.
    pub alternate: u32,
    /// Rescale each layer's B to its initial Frobenius norm after every step that moves it.
    pub constrain_b_norm: bool,
    /// IA's `b_step_cap` κ: B's learning rate ≤ κ/λ_max(∂²R_l/∂B²) per layer; 0 = off.
    pub b_step_cap: f64,
    /// `b_step_recheck` ρ: with the cap, re-estimate a layer's λ at any step where its output
    /// energy has grown more than ρ-fold since its last estimate; 0 = on schedule only.
    pub b_step_recheck: f64,
}

/// A learning rule's completed call, typed: what `exec::engine::rules::Rule` is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleConfig {
    /// The builtin's name (`sgdm`, `fa`, `ia`, ...).
    pub name: String,
    /// The optimizer of the total loss: the `sgdm` and `adam` rules' own, else the rule's
    /// `optimizer`.
    pub optimizer: Optimizer,
    /// The alignment loss: the rule's family and its term weights.
    pub alignment: Alignment,
    /// Multiplier of Σ_l R_l in the total loss (`alignment_rate`; 0 for rules without an
    /// alignment loss).
    pub alignment_rate: f64,
    /// The `BACKWARD_INIT` options (their defaults for rules without them).
    pub backward: BackwardOptions,
    /// The `LEARNED_B` options (their defaults for rules without them).
    pub learned_b: LearnedB,
    /// Learning rate of every parameter but the classifier's W and bias and B, as a multiple
    /// of the run's (`hidden_lr_scale`, the `LAYER_RATE` group of every rule; 0 = the
    /// readout-only control).
    pub hidden_lr_scale: f64,
}

impl RuleConfig {
    /// The number parameter `name` (`default` when absent), refused unless finite and ≥ 0.
    fn nonneg(call: &Call, p: &Params, name: &str, default: f64) -> Result<f64> {
        let v = call.f64(name).unwrap_or(default);
        if !(v.is_finite() && v >= 0.0) {
            return Err(p.bad(name, format!("must be a finite number ≥ 0, got {v}")));
        }
        Ok(v)
    }

    /// IA's `b_step_cap`: a finite number ≥ 0, 0 for every other rule, and 0 where Adam steps
    /// B (`b_steps_by`): the cap bounds an SGD step (lr·λ under SGD's stability limit); Adam's
    /// step does not scale with the curvature, so a cap on its rate would be a different,
    /// unchecked knob.
    fn b_step_cap(
        call: &Call,
        p: &Params,
        alignment: &Alignment,
        b_steps_by: &Optimizer,
    ) -> Result<f64> {
        let cap = Self::nonneg(call, p, "b_step_cap", 0.0)?;
        if cap > 0.0 && !matches!(alignment, Alignment::Information { .. }) {
            return Err(p.bad("b_step_cap", "applies only to ia"));
        }
        if cap > 0.0 && matches!(b_steps_by, Optimizer::Adam { .. }) {
            return Err(p.bad(
                "b_step_cap",
                "bounds an SGD step on B, but B here is stepped by Adam (its step does not grow with the curvature); use it with optimizer = sgdm, or b_optimizer = \"sgdm\"",
            ));
        }
        Ok(cap)
    }

    /// IA's `b_step_recheck`: 0 (off), or a growth factor > 1 that needs `b_step_cap`.
    fn b_step_recheck(call: &Call, p: &Params, cap: f64) -> Result<f64> {
        let rho = Self::nonneg(call, p, "b_step_recheck", 0.0)?;
        if rho > 0.0 && rho <= 1.0 {
            return Err(p.bad(
                "b_step_recheck",
                format!("must be 0 (off) or a growth factor > 1 (e.g. 2), got {rho}"),
            ));
        }
        if rho > 0.0 && cap == 0.0 {
            return Err(p.bad(
                "b_step_recheck",
                "re-estimates the curvature of `b_step_cap`, which is off here; set b_step_cap (e.g. 0.5) as well",
            ));
        }
        Ok(rho)
    }

    /// The config of a completed rule call. A regime option of a group the rule lacks is an
    /// error when set to anything but its default: `b_optimizer`, `b_lr_scale`, `alternate`
    /// and `constrain_b_norm` need a B that learns, `constrain_norm` and `top_feedback` a B;
    /// `b_step_cap` needs IA.
    pub fn from_call(call: &Call) -> Result<RuleConfig> {
        let p = &Params(call);
        let (optimizer, alignment, alignment_rate) = Self::learning(call, p)?;
        let init = p.choice(
            "backward_init",
            BackwardInit::Independent,
            &[
                ("independent", BackwardInit::Independent),
                ("same_draws", BackwardInit::SameDraws),
            ],
        )?;
        let b_optimizer = match call.str("b_optimizer") {
            None | Some("same") => BOptimizer::Same,
            Some(k @ ("sgdm" | "adam")) => BOptimizer::Separate(Optimizer::read(p, k)?),
            Some(o) => {
                return Err(p.bad(
                    "b_optimizer",
                    format!("must be \"same\", \"sgdm\" or \"adam\", got \"{o}\""),
                ));
            }
        };
        let b_lr_scale = Self::nonneg(call, p, "b_lr_scale", 1.0)?;
        let alternate = match call.get("alternate") {
            None => 0,
            Some(v) => v
                .as_i64()
                .and_then(|k| u32::try_from(k).ok())
                .ok_or_else(|| p.bad("alternate", format!("must be an integer ≥ 0, got {v}")))?,
        };
        let top_feedback = p.choice(
            "top_feedback",
            TopFeedback::Random,
            &[
                ("random", TopFeedback::Random),
                ("shared", TopFeedback::Shared),
            ],
        )?;
        let constrain_norm = call.bool("constrain_norm").unwrap_or(false);
        let constrain_b_norm = call.bool("constrain_b_norm").unwrap_or(false);
        let b_steps_by = match &b_optimizer {
            BOptimizer::Separate(o) => o,
            BOptimizer::Same => &optimizer,
        };
        let b_step_cap = Self::b_step_cap(call, p, &alignment, b_steps_by)?;
        let b_step_recheck = Self::b_step_recheck(call, p, b_step_cap)?;
        let hidden_lr_scale = Self::nonneg(call, p, "hidden_lr_scale", 1.0)?;
        let has_b = !matches!(alignment, Alignment::None);
        let learns_b = has_b && !matches!(alignment, Alignment::Feedback);
        for (name, set) in [
            ("b_optimizer", b_optimizer != BOptimizer::Same),
            ("b_lr_scale", b_lr_scale != 1.0),
            ("alternate", alternate != 0),
            ("constrain_b_norm", constrain_b_norm),
        ] {
            if set && !learns_b {
                return Err(p.bad(
                    name,
                    "applies only to rules whose backward weights learn (ia, symmetric, activation, weight_mirror, kolen_pollack)",
                ));
            }
        }
        for (name, set) in [
            ("constrain_norm", constrain_norm),
            ("top_feedback", top_feedback != TopFeedback::Random),
        ] {
            if set && !has_b {
                return Err(p.bad(name, "applies only to rules with backward weights"));
            }
        }
        Ok(RuleConfig {
            name: call.name.clone(),
            optimizer,
            alignment,
            alignment_rate,
            backward: BackwardOptions {
                init,
                constrain_norm,
                top_feedback,
            },
            learned_b: LearnedB {
                b_optimizer,
                b_lr_scale,
                alternate,
                constrain_b_norm,
                b_step_cap,
                b_step_recheck,
            },
            hidden_lr_scale,
        })
    }
    /// The rule's optimizer, its alignment rule with the term weights, and the weight of the
    /// alignment loss (0 for the rules whose B does not learn by a loss).
    fn learning(call: &Call, p: &Params) -> Result<(Optimizer, Alignment, f64)> {
        let opt = || Optimizer::read(p, p.str("optimizer")?);
        let rate = || p.f64("alignment_rate");
        Ok(match call.name.as_str() {
            "sgdm" => (Optimizer::read(p, "sgdm")?, Alignment::None, 0.0),
            "adam" => (Optimizer::read(p, "adam")?, Alignment::None, 0.0),
            "fa" => (opt()?, Alignment::Feedback, 0.0),
            "ia" => (
                opt()?,
                Alignment::Information {
                    alpha: p.f64("alpha")?,
                    beta: p.f64("beta")?,
                    gamma: p.f64("gamma")?,
                    reconstruction_amp: p.bool("reconstruction_amp")?,
                    reconstruction_reversal: p.bool("reconstruction_reversal")?,
                    use_sparse: p.bool("use_sparse")?,
                    batch_center: p.bool("batch_center_backward_input")?,
                    projection_bias: call.bool("projection_bias").unwrap_or(false),
                    rms_input: p.choice("input_scale", false, &[("raw", false), ("rms", true)])?,
                },
                rate()?,
            ),
            "symmetric" => (
                opt()?,
                Alignment::Symmetric {
                    alpha: p.f64("alpha")?,
                    beta: p.f64("beta")?,
                },
                rate()?,
            ),
            "activation" => (
                opt()?,
                Alignment::Activation {
                    alpha: p.f64("alpha")?,
                    beta: p.f64("beta")?,
                    batch_center: p.bool("batch_center_backward_input")?,
                },
                rate()?,
            ),
            "weight_mirror" => {
                let noise = p.choice(
                    "input_noise",
                    InputNoise::None,
                    &[
                        ("none", InputNoise::None),
                        ("normal", InputNoise::Normal),
                        ("uniform", InputNoise::Uniform),
                    ],
                )?;
                (
                    opt()?,
                    Alignment::Mirror {
                        alpha: p.f64("alpha")?,
                        beta: p.f64("beta")?,
                        noise,
                        stddev: p.f64("input_stddev")?,
                    },
                    rate()?,
                )
            }
            "kolen_pollack" => (
                opt()?,
                Alignment::KolenPollack {
                    alpha: p.f64("alpha")?,
                },
                rate()?,
            ),
            other => return Err(unknown(Kind::Rule, other)),
        })
    }
}
