//! Architectures of method.md §7 built from their calls (`models/build.rs`), with the
//! canonical layer names of `registry::arch` (checked at every build) and the observation
//! accessors the observables need (method.md §1.1).

use super::error::{EngineError, Result};
use super::layers::{AlignedLayer, BatchNorm, Param, Role, avg_pool_same, lrn, max_pool_same};
use super::rules::{BackwardInit, TopFeedback};
use crate::exec::observe::ObservableLayer;
use crate::registry::{ArchConfig, Objective};
use crate::value::Call;
use build::{Builder, Input};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq)]
enum Spec {
    /// `bn`: BatchNorm on each conv layer's output, before pooling (`batch_norm`).
    KNet {
        conv4: bool,
        lrn: bool,
        bn: bool,
    },
    AlexNet {
        lrn: bool,
        dropout: f64,
    },
    ResNet {
        blocks: [usize; 4],
        version: i64,
    },
    Mlp {
        hidden: usize,
    },
}

/// A network: learnable layers in canonical order, BN layers, and every parameter by name.
pub struct Model {
    /// The architecture builtin's name (`knet4`, `resnet18`, ...).
    pub arch: String,
    spec: Spec,
    layers: Vec<AlignedLayer>,
    bns: Vec<BatchNorm>,
    params: Vec<Param>,
    contrastive: bool,
    device: Device,
    in_shape: [i64; 3],
    /// `top_feedback = shared`: the classifier's B is constant over spatial positions.
    top_shared: Option<TopShared>,
}

/// The classifier of a `top_feedback = shared` model: its layer index and the flattened
/// C×(H·W) map it reads, so that B[o, c·HW + p] = S[o, c] for every position p.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopShared {
    pub layer: usize,
    pub channels: i64,
    pub positions: i64,
}

impl TopShared {
    /// The orthogonal projection of a tensor in B's layout [out, C·HW] onto the shared ones:
    /// each (o, c) block replaced by its mean over the positions. Gradients of a shared B go
    /// through it, so every optimizer keeps B shared (its update is then the steepest descent
    /// within the shared ones, in B's own metric).
    pub fn project(&self, g: &Tensor) -> Tensor {
        let out = g.size()[0];
        g.view([out, self.channels, self.positions])
            .mean_dim(2, true, g.kind())
            .expand([out, self.channels, self.positions], false)
            .reshape([out, self.channels * self.positions])
    }
}

/// Forward-pass context: training mode, an optional recorder of each learnable layer's input,
/// and an optional recorder of the projections IA's closed-form alignment gradient reuses.
pub struct Pass<'a> {
    pub train: bool,
    pub record: Option<&'a mut Vec<(usize, Tensor)>>,
    pub parts: Option<&'a mut Vec<super::rules::AlignParts>>,
    /// Observation: each learnable layer's input and output, computed once.
    pub outputs: Option<&'a mut LayerOutputs>,
}

/// What an observation forward pass records of every learnable layer (`Model::observe_outputs`).
pub struct LayerOutputs {
    /// Path of dx in layers with backward weights (gradavg's Jacobian).
    pub via: crate::exec::observe::JacobianVia,
    /// Whether the outputs keep their graph to the layer input (gradavg needs it).
    pub grad: bool,
    /// (layer index, input, output): the input needs a gradient when `grad`; the output is the
    /// layer's own activation, attached to that input only.
    pub out: Vec<(usize, Tensor, Tensor)>,
}

impl Pass<'_> {
    /// A pass that records nothing.
    pub fn plain(train: bool) -> Pass<'static> {
        Pass {
            train,
            record: None,
            parts: None,
            outputs: None,
        }
    }
}

impl Model {
    /// Build the network of `arch` for `objective` (`supervised` | `contrastive`; the objective
    /// call's `head_dim` sets the SimCLR output width). Parameters are drawn on the CPU from
    /// `model_seed` (W and biases first, then every B from a derived seed, so W is the same for
    /// every rule) and moved to `device`.
    pub fn new(
        arch: &Call,
        objective: &Call,
        backward: bool,
        model_seed: u64,
        device: Device,
    ) -> Result<Model> {
        Self::with_backward_init(
            arch,
            objective,
            backward,
            BackwardInit::Independent,
            model_seed,
            device,
        )
    }

    /// [`Model::new`] with the initialisation of B chosen (rules with backward weights).
    pub fn with_backward_init(
        arch: &Call,
        objective: &Call,
        backward: bool,
        b_init: BackwardInit,
        model_seed: u64,
        device: Device,
    ) -> Result<Model> {
        Self::with_backward(
            arch,
            objective,
            backward,
            b_init,
            TopFeedback::Random,
            model_seed,
            device,
        )
    }

    /// [`Model::with_backward_init`] with the classifier's feedback chosen (`top_feedback`):
    /// `Shared` draws S ∈ [classes, C] from the classifier's initialiser and fans (so every
    /// element of B has the distribution it has under `Random`, and E‖B‖² is the same) and
    /// sets B[o, c·HW + p] = S[o, c]. Only for KNet4/KNet5 with the supervised objective, whose
    /// classifier reads a flattened C×H×W map.
    pub fn with_backward(
        arch: &Call,
        objective: &Call,
        backward: bool,
        b_init: BackwardInit,
        top: TopFeedback,
        model_seed: u64,
        device: Device,
    ) -> Result<Model> {
        let arch = &crate::registry::complete(arch);
        let objective = Objective::from_call(objective).map_err(EngineError::Invalid)?;
        let arch = ArchConfig::from_call(arch)?;
        Self::build(&arch, &objective, backward, b_init, top, model_seed, device)
    }

    /// Build the network of a typed architecture config for `objective` (its `head_dim` sets
    /// the SimCLR output width), with backward weights when `backward` (initialised by
    /// `b_init`, the classifier's as `top` says). Parameters are drawn on the CPU from
    /// `model_seed` (W and biases first, then every B from a derived seed, so W is the same
    /// for every rule) and moved to `device`. [`Model::with_backward`] builds from calls.
    pub fn build(
        arch: &ArchConfig,
        objective: &Objective,
        backward: bool,
        b_init: BackwardInit,
        top: TopFeedback,
        model_seed: u64,
        device: Device,
    ) -> Result<Model> {
        let contrastive = objective.contrastive;
        let inp = Input::of(arch);
        tch::manual_seed(model_seed as i64);
        let mut b = Builder {
            layers: vec![],
            bn_names: vec![],
            bns: vec![],
            backward,
            pending_b: vec![],
        };
        let (spec, feat, top_map) = b.base(arch, &inp)?;
        if feat <= 0 {
            return Err(EngineError::param(
                &arch.name,
                "input_size",
                format!("{} is too small for {}", inp.size, arch.name),
            ));
        }
        b.head(arch, objective, &spec, feat, inp.classes);
        let top_shared = if backward && top == TopFeedback::Shared {
            Some(b.top_shared(arch, contrastive, top_map, b_init)?)
        } else {
            None
        };
        b.draw_backward(b_init, top_shared, model_seed);
        let expected = arch.layer_names(contrastive);
        let got: Vec<String> = b.layers.iter().map(|l| l.name.clone()).collect();
        debug_assert_eq!(expected, got, "builder order must match registry::arch");
        if expected != got {
            return Err(EngineError::Invalid(format!(
                "internal: layer order {got:?} differs from {expected:?}"
            )));
        }
        let mut m = Self::finish(
            arch.name.clone(),
            spec,
            b,
            contrastive,
            device,
            [inp.cin, inp.size, inp.size_w],
        );
        m.top_shared = top_shared;
        Ok(m)
    }

    fn finish(
        arch: String,
        spec: Spec,
        b: Builder,
        contrastive: bool,
        device: Device,
        in_shape: [i64; 3],
    ) -> Model {
        let mv = |t: &Tensor, grad: bool| t.to_device(device).detach().set_requires_grad(grad);
        let mut params = vec![];
        let mut layers = b.layers;
        for l in &mut layers {
            l.w = mv(&l.w, true);
            params.push(Param {
                name: format!("{}/kernel", l.name),
                tensor: l.w.shallow_clone(),
                role: Role::Kernel,
            });
            if let Some(t) = &l.bwd {
                let t = mv(t, true);
                params.push(Param {
                    name: format!("{}/backward", l.name),
                    tensor: t.shallow_clone(),
                    role: Role::Backward,
                });
                l.bwd = Some(t);
            }
            if let Some(t) = &l.bias {
                let t = mv(t, true);
                params.push(Param {
                    name: format!("{}/bias", l.name),
                    tensor: t.shallow_clone(),
                    role: Role::Bias,
                });
                l.bias = Some(t);
            }
        }
        let mut bns = b.bns;
        for (bn, name) in bns.iter_mut().zip(&b.bn_names) {
            if let Some(t) = &bn.gamma {
                let t = mv(t, true);
                params.push(Param {
                    name: format!("{name}/gamma"),
                    tensor: t.shallow_clone(),
                    role: Role::BnScale,
                });
                bn.gamma = Some(t);
            }
            if let Some(t) = &bn.beta {
                let t = mv(t, true);
                params.push(Param {
                    name: format!("{name}/beta"),
                    tensor: t.shallow_clone(),
                    role: Role::BnShift,
                });
                bn.beta = Some(t);
            }
            bn.running_mean = mv(&bn.running_mean, false);
            bn.running_var = mv(&bn.running_var, false);
            params.push(Param {
                name: format!("{name}/running_mean"),
                tensor: bn.running_mean.shallow_clone(),
                role: Role::Buffer,
            });
            params.push(Param {
                name: format!("{name}/running_var"),
                tensor: bn.running_var.shallow_clone(),
                role: Role::Buffer,
            });
        }
        Model {
            arch,
            spec,
            layers,
            bns,
            params,
            contrastive,
            device,
            in_shape,
            top_shared: None,
        }
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.device
    }
    /// The classifier whose B is shared over positions (`top_feedback = shared`).
    pub fn top_shared(&self) -> Option<TopShared> {
        self.top_shared
    }
    /// [C, H, W] of one input stimulus.
    pub fn input_shape(&self) -> [i64; 3] {
        self.in_shape
    }
    /// Whether the model ends in the SimCLR head instead of the classifier.
    pub fn is_contrastive(&self) -> bool {
        self.contrastive
    }
    /// Every parameter and buffer, by unique name (`<layer>/kernel|backward|bias`,
    /// `<bn>/gamma|beta|running_mean|running_var`).
    pub fn params(&self) -> &[Param] {
        &self.params
    }
    /// The learnable Dense/Conv layers in canonical order.
    pub fn aligned_layers(&self) -> &[AlignedLayer] {
        &self.layers
    }
    /// The learnable layers as the observables see them, in canonical order.
    pub fn layers(&self) -> Vec<&dyn ObservableLayer> {
        self.layers
            .iter()
            .map(|l| l as &dyn ObservableLayer)
            .collect()
    }
    /// Canonical layer names in forward order (equal to `registry::arch::layer_names`).
    pub fn layer_names(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.name.clone()).collect()
    }

    /// Each learnable layer's input for a batch of stimuli `x` ([B, C, H, W], on the model's
    /// device), in forward order, with the layer index into [`Model::layers`]. Eval mode
    /// (BN running statistics, no dropout), no gradient.
    pub fn observe_inputs(&self, x: &Tensor) -> Vec<(usize, Tensor)> {
        let mut rec = vec![];
        tch::no_grad(|| {
            let _ = self.forward(
                x,
                &mut Pass {
                    train: false,
                    record: Some(&mut rec),
                    parts: None,
                    outputs: None,
                },
            );
        });
        rec
    }

    /// Each learnable layer's input and own output for a batch of stimuli `x`, from one forward
    /// pass in eval mode (`Model::observe_inputs` and a second per-layer forward would compute
    /// every layer twice). With `grad`, each output keeps its graph to its layer's input (with
    /// dx through `via` in layers with backward weights) for gradavg; the network continues
    /// from the detached output, so nothing else is differentiated.
    pub fn observe_outputs(
        &self,
        x: &Tensor,
        via: crate::exec::observe::JacobianVia,
        grad: bool,
    ) -> Vec<(usize, Tensor, Tensor)> {
        let mut rec = LayerOutputs {
            via,
            grad,
            out: vec![],
        };
        let run = || {
            let _ = self.forward(
                x,
                &mut Pass {
                    train: false,
                    record: None,
                    parts: None,
                    outputs: Some(&mut rec),
                },
            );
        };
        if grad {
            tch::with_grad(run);
        } else {
            tch::no_grad(run);
        }
        rec.out
    }

    fn layer(&self, i: usize, x: &Tensor, pass: &mut Pass) -> Tensor {
        if let Some(r) = pass.record.as_deref_mut() {
            r.push((i, x.detach()));
        }
        if let Some(o) = pass.outputs.as_deref_mut() {
            let xi = if o.grad {
                x.detach().set_requires_grad(true)
            } else {
                x.detach()
            };
            let y = self.layers[i].forward_layer(&xi, o.via);
            let next = y.detach();
            o.out.push((i, xi, y));
            return next;
        }
        if let Some(parts) = pass.parts.as_deref_mut() {
            if self.layers[i].has_backward() {
                let (y, pf) = self.layers[i].forward_parts(x);
                parts.push(super::rules::AlignParts {
                    index: i,
                    x: x.detach(),
                    pf,
                });
                return y;
            }
        }
        self.layers[i].forward(x)
    }

    /// Logits (supervised) or the SimCLR head output (contrastive).
    pub fn forward(&self, x: &Tensor, pass: &mut Pass) -> Tensor {
        let mut li = 0usize;
        let mut bi = 0usize;
        let train = pass.train;
        let mut lay = |x: &Tensor, pass: &mut Pass| {
            li += 1;
            self.layer(li - 1, x, pass)
        };
        let mut bn = |x: &Tensor| {
            bi += 1;
            self.bns[bi - 1].forward(x, train)
        };
        let feat = match &self.spec {
            Spec::KNet {
                conv4,
                lrn: use_lrn,
                bn: use_bn,
            } => {
                // A conv layer and, with `batch_norm`, its BatchNorm.
                let mut conv = |h: &Tensor, pass: &mut Pass| {
                    let y = lay(h, pass);
                    if *use_bn { bn(&y) } else { y }
                };
                let mut h = max_pool_same(&conv(x, pass), 3, 2);
                if *use_lrn {
                    h = lrn(&h.relu(), 3, 1.0, 5e-5, 0.75);
                }
                h = avg_pool_same(&conv(&h, pass), 3, 2);
                if *use_lrn {
                    h = lrn(&h, 3, 1.0, 5e-5, 0.75);
                }
                h = avg_pool_same(&conv(&h, pass), 3, 2);
                if *conv4 {
                    h = avg_pool_same(&conv(&h, pass), 3, 2);
                }
                h.flatten(1, -1)
            }
            Spec::AlexNet {
                lrn: use_lrn,
                dropout,
            } => {
                let mut h = lay(x, pass);
                if *use_lrn {
                    h = lrn(&h, 5, 1.0, 1e-4, 0.75);
                }
                h = max_pool_same(&h, 3, 2);
                h = lay(&h, pass);
                if *use_lrn {
                    h = lrn(&h, 5, 1.0, 1e-4, 0.75);
                }
                h = max_pool_same(&h, 3, 2);
                h = lay(&h, pass);
                h = lay(&h, pass);
                h = max_pool_same(&lay(&h, pass), 3, 2).flatten(1, -1);
                h = lay(&h, pass).dropout(*dropout, train);
                lay(&h, pass).dropout(*dropout, train)
            }
            Spec::ResNet { blocks, version } => {
                let v1 = *version == 1;
                let mut h = lay(x, pass);
                if v1 {
                    h = bn(&h).relu();
                }
                h = max_pool_same(&h, 3, 2);
                for &nb in blocks.iter() {
                    for blk in 0..nb {
                        if v1 {
                            let short = if blk == 0 {
                                bn(&lay(&h, pass))
                            } else {
                                h.shallow_clone()
                            };
                            let mut r = bn(&lay(&h, pass)).relu();
                            r = bn(&lay(&r, pass));
                            h = (r + short).relu();
                        } else {
                            let pre = bn(&h).relu();
                            let short = if blk == 0 {
                                lay(&pre, pass)
                            } else {
                                h.shallow_clone()
                            };
                            let mut r = bn(&lay(&pre, pass)).relu();
                            r = lay(&r, pass);
                            h = r + short;
                        }
                    }
                }
                if !v1 {
                    h = bn(&h).relu();
                }
                h.mean_dim([2i64, 3].as_slice(), false, Kind::Float)
            }
            Spec::Mlp { hidden } => {
                let mut h = x.flatten(1, -1);
                for _ in 0..*hidden {
                    h = lay(&h, pass);
                }
                h
            }
        };
        if self.contrastive {
            let h = bn(&lay(&feat, pass)).relu();
            bn(&lay(&h, pass))
        } else {
            lay(&feat, pass)
        }
    }

    /// All parameters and buffers as named tensors (for checkpoints).
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .map(|p| (p.name.clone(), p.tensor.shallow_clone()))
            .collect()
    }

    /// Copy saved values into the model's tensors (names must match exactly).
    pub fn load_named(&self, named: &std::collections::BTreeMap<String, Tensor>) -> Result<()> {
        for p in &self.params {
            let src = named.get(&p.name).ok_or_else(|| {
                EngineError::Invalid(format!("checkpoint lacks parameter `{}`", p.name))
            })?;
            if src.size() != p.tensor.size() {
                return Err(EngineError::Invalid(format!(
                    "checkpoint parameter `{}` has shape {:?}, model has {:?}",
                    p.name,
                    src.size(),
                    p.tensor.size()
                )));
            }
            tch::no_grad(|| p.tensor.shallow_clone().copy_(src));
        }
        Ok(())
    }
}

/// KNet's `init` parameter: `paper` (method.md §7) or `he` (fan-in scaled, for short trainings).
mod build;
#[cfg(test)]
mod tests;
