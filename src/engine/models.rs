//! Architectures of method.md §7 built from their calls, with the canonical layer names of
//! `registry::arch` (checked at every build) and the observation accessors the observables need (method.md §1.1).

use super::error::{CallExt, EngineError, Result};
use super::layers::{
    Act, AlignedLayer, BatchNorm, Init, LayerKind, Padding, Param, Role, avg_pool_same, lrn,
    max_pool_same, out_size,
};
use super::rules::{BackwardInit, TopFeedback};
use crate::observe::ObservableLayer;
use crate::registry::Objective;
use crate::registry::arch::{CONTRASTIVE_HEAD, layer_names, mlp_hidden, resnet_blocks};
use crate::value::Call;
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq)]
enum Spec {
    KNet { conv4: bool, lrn: bool },
    AlexNet { lrn: bool, dropout: f64 },
    ResNet { blocks: [usize; 4], version: i64 },
    Mlp { hidden: usize },
}

/// A network: learnable layers in canonical order, BN layers, and every parameter by name.
pub struct Model {
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

struct Pending {
    layer: usize,
    shape: Vec<i64>,
    init: Init,
    fans: (i64, i64),
}

struct Builder {
    layers: Vec<AlignedLayer>,
    bn_names: Vec<String>,
    bns: Vec<BatchNorm>,
    backward: bool,
    pending_b: Vec<Pending>,
}

impl Builder {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        name: &str,
        kind: LayerKind,
        shape: Vec<i64>,
        fans: (i64, i64),
        init: Init,
        bias: Option<f64>,
        act: Act,
    ) {
        let w = init.draw(&shape, fans);
        let out = if kind == LayerKind::Dense {
            shape[1]
        } else {
            shape[0]
        };
        let bias = bias.map(|b| Init::Const(b).draw(&[out], (1, 1)));
        if self.backward {
            let bshape = if kind == LayerKind::Dense {
                vec![shape[1], shape[0]]
            } else {
                shape.clone()
            };
            self.pending_b.push(Pending {
                layer: self.layers.len(),
                shape: bshape,
                init,
                fans,
            });
        }
        self.layers.push(AlignedLayer {
            name: name.to_string(),
            kind,
            w,
            bwd: None,
            bias,
            act,
        });
    }
    fn dense(&mut self, name: &str, i: i64, o: i64, init: Init, bias: Option<f64>, act: Act) {
        self.add(name, LayerKind::Dense, vec![i, o], (i, o), init, bias, act);
    }
    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        name: &str,
        cin: i64,
        cout: i64,
        k: i64,
        stride: i64,
        padding: Padding,
        init: Init,
        bias: Option<f64>,
        act: Act,
    ) {
        let kind = LayerKind::Conv { stride, padding };
        self.add(
            name,
            kind,
            vec![cout, cin, k, k],
            (cin * k * k, cout * k * k),
            init,
            bias,
            act,
        );
    }
    fn bn(&mut self, name: &str, c: i64, gamma0: f64, center: bool, decay: f64) {
        let cpu = (Kind::Float, Device::Cpu);
        self.bn_names.push(name.to_string());
        self.bns.push(BatchNorm {
            gamma: Some(Tensor::full([c], gamma0, cpu)),
            beta: center.then(|| Tensor::zeros([c], cpu)),
            running_mean: Tensor::zeros([c], cpu),
            running_var: Tensor::ones([c], cpu),
            momentum: 1.0 - decay,
            eps: 1e-5,
        });
    }
}

fn scaled(n: i64, width: f64) -> i64 {
    ((n as f64 * width).round() as i64).max(1)
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
    pub via: crate::observe::JacobianVia,
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
        let contrastive = objective.contrastive;
        let width = arch.req_f64("width")?;
        if width <= 0.0 {
            return Err(arch.bad("width", "must be positive"));
        }
        let size = arch.req_pos_i64("input_size")?;
        // Non-square inputs (audio cochleagrams, frequency × time) carry `input_width`.
        let size_w = arch.i64("input_width").unwrap_or(size);
        if size_w <= 0 {
            return Err(arch.bad("input_width", "must be positive"));
        }
        let cin = arch.req_pos_i64("in_channels")?;
        let classes = arch.req_pos_i64("classes")?;
        let c = |n: i64| scaled(n, width);
        tch::manual_seed(model_seed as i64);
        let mut b = Builder {
            layers: vec![],
            bn_names: vec![],
            bns: vec![],
            backward,
            pending_b: vec![],
        };
        // The flattened map (channels, positions) the classifier reads, where it reads one.
        let mut top_map: Option<(i64, i64)> = None;
        let (spec, feat) = match arch.name.as_str() {
            "knet4" | "knet5" => {
                let conv4 = arch.name == "knet5";
                let lrn = arch.req_bool("lrn")?;
                let sp = Padding::Same;
                let he = knet_he(arch)?;
                let (i1, i2) = if he {
                    (Init::FanIn(1.0), Init::FanIn(2.0))
                } else {
                    (Init::Normal(1e-4), Init::Normal(0.01))
                };
                b.conv("conv1", cin, c(32), 5, 1, sp, i1, Some(0.0), Act::None);
                b.conv("conv2", c(32), c(32), 5, 1, sp, i2, Some(0.0), Act::Relu);
                b.conv("conv3", c(32), c(64), 5, 1, sp, i2, Some(0.0), Act::Relu);
                let (mut s, mut sw) = (size, size_w);
                for _ in 0..3 {
                    (s, sw) = (out_size(s, 3, 2, sp), out_size(sw, 3, 2, sp));
                }
                let mut ch = c(64);
                if conv4 {
                    b.conv("conv4", c(64), c(128), 5, 1, sp, i2, Some(0.0), Act::Relu);
                    (s, sw) = (out_size(s, 3, 2, sp), out_size(sw, 3, 2, sp));
                    ch = c(128);
                }
                top_map = Some((ch, s * sw));
                (Spec::KNet { conv4, lrn }, ch * s * sw)
            }
            "alexnet" => {
                let lrn = arch.req_bool("lrn")?;
                let dropout = arch.req_f64("dropout")?;
                if !(0.0..1.0).contains(&dropout) {
                    return Err(arch.bad("dropout", "must be in [0, 1)"));
                }
                if size.min(size_w) < 11 {
                    return Err(arch.bad(
                        "input_size",
                        "must be at least 11 for AlexNet's 11×11 stride-4 conv1",
                    ));
                }
                let (sp, g) = (Padding::Same, Init::GlorotUniform);
                b.conv(
                    "conv1",
                    cin,
                    c(96),
                    11,
                    4,
                    Padding::Valid,
                    g,
                    Some(0.0),
                    Act::Relu,
                );
                b.conv("conv2", c(96), c(256), 5, 1, sp, g, Some(0.0), Act::Relu);
                b.conv("conv3", c(256), c(384), 3, 1, sp, g, Some(0.0), Act::Relu);
                b.conv("conv4", c(384), c(384), 4, 1, sp, g, Some(0.0), Act::Relu);
                b.conv("conv5", c(384), c(256), 3, 1, sp, g, Some(0.0), Act::Relu);
                let mut s = out_size(size, 11, 4, Padding::Valid);
                let mut sw = out_size(size_w, 11, 4, Padding::Valid);
                for _ in 0..3 {
                    (s, sw) = (out_size(s, 3, 2, sp), out_size(sw, 3, 2, sp));
                }
                let flat = c(256) * s * sw;
                let t = Init::TruncNormal(0.01);
                b.dense("fc6", flat, c(4096), t, Some(0.1), Act::Relu);
                b.dense("fc7", c(4096), c(4096), t, Some(0.1), Act::Relu);
                (Spec::AlexNet { lrn, dropout }, c(4096))
            }
            "resnet18" | "resnet34" => {
                let blocks = resnet_blocks(&arch.name).expect("resnet");
                let version = arch.req_i64("version")?;
                if version != 1 && version != 2 {
                    return Err(arch.bad("version", &format!("must be 1 or 2, got {version}")));
                }
                let (word, decay) = if version == 1 {
                    ("group", 0.9)
                } else {
                    ("layer", 0.997)
                };
                let (vs, fx, no) = (Init::VarianceScaling, Padding::Fixed, Act::None);
                b.conv("conv0", cin, c(64), 7, 2, fx, vs, None, no);
                if version == 1 {
                    b.bn("conv0/bn", c(64), 1.0, true, decay);
                }
                let mut ch = c(64);
                for (g, &nb) in blocks.iter().enumerate() {
                    let filters = c(64 << g);
                    let stride = if g == 0 { 1 } else { 2 };
                    for blk in 0..nb {
                        let pre = format!("block_{word}{}_{blk}", g + 1);
                        let st = if blk == 0 { stride } else { 1 };
                        if version == 2 {
                            b.bn(&format!("{pre}/preact_bn"), ch, 1.0, true, decay);
                        }
                        if blk == 0 {
                            b.conv(
                                &format!("{pre}/conv0"),
                                ch,
                                filters,
                                1,
                                st,
                                fx,
                                vs,
                                None,
                                no,
                            );
                            if version == 1 {
                                b.bn(&format!("{pre}/conv0/bn"), filters, 1.0, true, decay);
                            }
                        }
                        b.conv(
                            &format!("{pre}/conv1"),
                            ch,
                            filters,
                            3,
                            st,
                            fx,
                            vs,
                            None,
                            no,
                        );
                        b.bn(&format!("{pre}/conv1/bn"), filters, 1.0, true, decay);
                        b.conv(
                            &format!("{pre}/conv2"),
                            filters,
                            filters,
                            3,
                            1,
                            fx,
                            vs,
                            None,
                            no,
                        );
                        if version == 1 {
                            b.bn(&format!("{pre}/conv2/bn"), filters, 0.0, true, decay);
                        }
                        ch = filters;
                    }
                }
                if version == 2 {
                    b.bn("final_bn", ch, 1.0, true, decay);
                }
                (Spec::ResNet { blocks, version }, ch)
            }
            "mlp" => {
                let hidden = mlp_hidden(arch);
                let listed = arch
                    .get("hidden")
                    .and_then(|v| v.as_list())
                    .map_or(0, |l| l.len());
                if hidden.len() != listed || hidden.iter().any(|h| *h <= 0) {
                    return Err(arch.bad("hidden", "must be a list of positive integers"));
                }
                let mut d = cin * size * size_w;
                for (i, h) in hidden.iter().enumerate() {
                    let h = c(*h);
                    b.dense(
                        &format!("fc{}", i + 1),
                        d,
                        h,
                        Init::GlorotUniform,
                        Some(0.0),
                        Act::Relu,
                    );
                    d = h;
                }
                (
                    Spec::Mlp {
                        hidden: hidden.len(),
                    },
                    d,
                )
            }
            other => {
                return Err(EngineError::Unknown {
                    family: "architecture",
                    name: other.to_string(),
                    known: "knet4, knet5, alexnet, resnet18, resnet34, mlp",
                });
            }
        };
        if feat <= 0 {
            return Err(arch.bad(
                "input_size",
                &format!("{size} is too small for {}", arch.name),
            ));
        }
        // The final layer(s).
        if contrastive {
            let hd = objective.head_dim;
            let n = Init::Normal(0.01);
            b.dense(CONTRASTIVE_HEAD[0], feat, feat, n, None, Act::None);
            b.bn("head_contrastive/nl_0/bn", feat, 1.0, true, 0.9);
            b.dense(CONTRASTIVE_HEAD[1], feat, hd, n, None, Act::None);
            b.bn("head_contrastive/nl_1/bn", hd, 1.0, false, 0.9);
        } else {
            let last = layer_names(arch, false).pop().expect("non-empty");
            let init = match &spec {
                Spec::AlexNet { .. } => Init::TruncNormal(0.01),
                Spec::ResNet { version: 2, .. } | Spec::Mlp { .. } => Init::GlorotUniform,
                Spec::KNet { .. } if knet_he(arch)? => Init::FanIn(1.0),
                _ => Init::Normal(0.01),
            };
            b.dense(&last, feat, classes, init, Some(0.0), Act::None);
        }
        let top_shared = if backward && top == TopFeedback::Shared {
            let why = if contrastive {
                Some("the contrastive objective has no classifier")
            } else if top_map.is_none() {
                Some(
                    "its classifier does not read a flattened C×H×W map (only knet4's and knet5's do)",
                )
            } else if b_init == BackwardInit::SameDraws {
                Some(
                    "`backward_init = same_draws` gives B W's draws, which are not shared over positions",
                )
            } else {
                None
            };
            if let Some(why) = why {
                return Err(EngineError::param(
                    &arch.name,
                    "top_feedback",
                    format!("= shared cannot be used: {why}; use `top_feedback = random`"),
                ));
            }
            let (channels, positions) = top_map.expect("checked");
            Some(TopShared {
                layer: b.layers.len() - 1,
                channels,
                positions,
            })
        } else {
            None
        };
        // Backward weights: same initialiser as W, drawn independently after all W; or W's own
        // draws (the paper code's seeding quirk, method.md §6).
        tch::manual_seed((model_seed ^ 0x5eed_b0c4_u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as i64);
        for p in std::mem::take(&mut b.pending_b) {
            let bw = match (b_init, top_shared) {
                (_, Some(t)) if t.layer == p.layer => {
                    let out = p.shape[0];
                    p.init
                        .draw(&[out, t.channels], p.fans)
                        .unsqueeze(-1)
                        .expand([out, t.channels, t.positions], false)
                        .reshape([out, t.channels * t.positions])
                }
                (BackwardInit::Independent, _) => p.init.draw(&p.shape, p.fans),
                (BackwardInit::SameDraws, _) => b.layers[p.layer].w.reshape(&p.shape).copy(),
            };
            b.layers[p.layer].bwd = Some(bw);
        }
        let expected = layer_names(arch, contrastive);
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
            [cin, size, size_w],
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
        via: crate::observe::JacobianVia,
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
            } => {
                let mut h = max_pool_same(&lay(x, pass), 3, 2);
                if *use_lrn {
                    h = lrn(&h.relu(), 3, 1.0, 5e-5, 0.75);
                }
                h = avg_pool_same(&lay(&h, pass), 3, 2);
                if *use_lrn {
                    h = lrn(&h, 3, 1.0, 5e-5, 0.75);
                }
                h = avg_pool_same(&lay(&h, pass), 3, 2);
                if *conv4 {
                    h = avg_pool_same(&lay(&h, pass), 3, 2);
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
fn knet_he(arch: &Call) -> Result<bool> {
    match arch.str("init").unwrap_or("paper") {
        "paper" => Ok(false),
        "he" => Ok(true),
        o => Err(arch.bad("init", &format!("must be \"paper\" or \"he\", got \"{o}\""))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    /// One forward pass with outputs (`observe_outputs` + `observe_output`) gives the same
    /// observations as recording the inputs and recomputing each layer (`observe_inputs` +
    /// `observe_checkpoint`): plain and realism conditions, gradavg through B and through W,
    /// on KNet and ResNet (BN, shortcuts) with backward weights.
    #[test]
    fn single_forward_observation_equals_per_layer_recompute() {
        use crate::observe::{CheckpointObserver, JacobianVia, ObserveConfig, RealismCondition};
        let _rng = crate::engine::test_rng_lock();
        for arch in [Call::new("knet4"), Call::new("resnet18")] {
            let m = build(arch.clone(), "supervised", 16);
            tch::manual_seed(5);
            let x = Tensor::randn([6, 3, 16, 16], (Kind::Float, Device::Cpu));
            for via in [JacobianVia::Backward, JacobianVia::Forward] {
                let cfg = ObserveConfig {
                    realism: vec![
                        RealismCondition {
                            sigma: 0.5,
                            fraction: 0.5,
                            seed: 3,
                        },
                        RealismCondition {
                            sigma: 0.0,
                            fraction: 0.1,
                            seed: 1,
                        },
                    ],
                    jacobian_via: via,
                    ..ObserveConfig::default()
                };
                let layers = m.layers();
                let batches: Vec<Vec<Tensor>> = [(0, 4), (4, 2)]
                    .iter()
                    .map(|&(s, n)| {
                        let mut ins = m.observe_inputs(&x.narrow(0, s, n));
                        ins.sort_by_key(|(k, _)| *k);
                        ins.into_iter().map(|(_, t)| t).collect()
                    })
                    .collect();
                let want =
                    crate::observe::observe_checkpoint(&layers, None, 2, batches, &cfg).unwrap();
                let mut obs = CheckpointObserver::new(&layers, None, 2, cfg.clone()).unwrap();
                assert!(obs.needs_gradient());
                for (s, n) in [(0, 4), (4, 2)] {
                    for (k, xi, y) in m.observe_outputs(&x.narrow(0, s, n), via, true) {
                        obs.observe_output(k, Some(&xi), &y).unwrap();
                    }
                }
                let got = obs.finish().unwrap();
                assert_eq!(got.len(), want.len());
                assert!(got.len() > 45 * 3 * layers.len() - 1);
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!(
                        (&g.layer, g.observable, g.noise_sigma, g.unit_fraction),
                        (&w.layer, w.observable, w.noise_sigma, w.unit_fraction)
                    );
                    let tol = 1e-12 * (1.0 + w.value.abs());
                    assert!(
                        (g.value - w.value).abs() <= tol || (g.value.is_nan() && w.value.is_nan()),
                        "{} {} {:?} {via:?}: {} vs {}",
                        arch.name,
                        g.layer,
                        g.observable,
                        g.value,
                        w.value
                    );
                }
            }
        }
    }

    fn build(arch: Call, obj: &str, size: i64) -> Model {
        let arch = arch
            .with("input_size", Value::Int(size))
            .with("width", Value::Float(0.25));
        Model::new(&arch, &Call::new(obj), true, 0, Device::Cpu).unwrap()
    }

    #[test]
    fn all_architectures_build_and_run() {
        let _rng = crate::engine::test_rng_lock();
        for (a, size, n) in [
            (Call::new("knet4"), 32, 4),
            (Call::new("knet5").with("lrn", Value::Bool(true)), 32, 5),
            (Call::new("alexnet").with("lrn", Value::Bool(true)), 64, 8),
            (Call::new("resnet18"), 32, 22),
            (Call::new("resnet34").with("version", Value::Int(2)), 32, 38),
            (Call::new("mlp"), 16, 3),
        ] {
            for obj in ["supervised", "contrastive"] {
                let m = build(a.clone(), obj, size);
                let want = layer_names(&crate::registry::complete(&a), obj == "contrastive");
                assert_eq!(m.layer_names(), want);
                let extra = usize::from(obj == "contrastive");
                assert_eq!(m.layers().len(), n + extra, "{} {obj}", a.name);
                let x = Tensor::randn([3, 3, size, size], (Kind::Float, Device::Cpu));
                let y = m.forward(&x, &mut Pass::plain(true));
                let width = if obj == "supervised" { 10 } else { 128 };
                assert_eq!(y.size(), vec![3, width], "{}", a.name);
                let ins = m.observe_inputs(&x);
                assert_eq!(ins.len(), m.layers().len());
                for (k, (i, t)) in ins.iter().enumerate() {
                    assert_eq!(k, *i);
                    // the recorded input reproduces the layer's output shape path
                    let out = m.layers()[*i].forward_layer(t, crate::observe::JacobianVia::Forward);
                    assert_eq!(out.size()[0], 3);
                }
            }
        }
    }

    /// The decoupled backward pass is backprop when B mirrors W: with B := W (conv) or Wᵀ
    /// (dense) in every layer, the FA network's gradients of every W, bias and BN parameter and
    /// of the input equal autograd's on the same network without B. This checks each layer's
    /// dx orientation (transpose, padding, stride) in place, through pools, LRN, BN, shortcuts
    /// and dropout, against libtorch's own backward rather than against our transposed conv.
    #[test]
    fn mirrored_backward_weights_give_backprop_gradients() {
        let _rng = crate::engine::test_rng_lock();
        let s = Call::new("supervised");
        for (name, a, size) in [
            ("knet4", Call::new("knet4"), 16),
            (
                "knet5-lrn",
                Call::new("knet5").with("lrn", Value::Bool(true)),
                16,
            ),
            (
                "alexnet-lrn",
                Call::new("alexnet").with("lrn", Value::Bool(true)),
                64,
            ),
            ("resnet18-v1", Call::new("resnet18"), 32),
            (
                "resnet18-v2",
                Call::new("resnet18").with("version", Value::Int(2)),
                32,
            ),
            ("mlp", Call::new("mlp"), 8),
        ] {
            let a = a
                .with("input_size", Value::Int(size))
                .with("width", Value::Float(0.125));
            // He init for KNet: the paper's N(0, 1e-4²) conv1 leaves gradients near 0.
            let a = if name.starts_with("knet") {
                a.with("init", Value::Str("he".into()))
            } else {
                a
            };
            let bp = Model::new(&a, &s, false, 3, Device::Cpu).unwrap();
            let fa = Model::new(&a, &s, true, 3, Device::Cpu).unwrap();
            tch::no_grad(|| {
                for l in fa.aligned_layers() {
                    l.bwd
                        .as_ref()
                        .unwrap()
                        .shallow_clone()
                        .copy_(&l.swap_layout(&l.w));
                }
            });
            tch::manual_seed(11);
            let x0 = Tensor::randn([4, 3, size, size], (Kind::Float, Device::Cpu));
            let y = Tensor::from_slice(&[0i64, 3, 1, 2]);
            let grads = |m: &Model| {
                let x = x0.copy().set_requires_grad(true);
                tch::manual_seed(12); // the same dropout masks in both networks
                let logits = m.forward(&x, &mut Pass::plain(true));
                logits.cross_entropy_for_logits(&y).backward();
                let mut g: Vec<(String, Tensor)> = m
                    .params()
                    .iter()
                    .filter(|p| p.trainable() && p.role != Role::Backward)
                    .map(|p| (p.name.clone(), p.tensor.grad().copy()))
                    .collect();
                g.push(("input".into(), x.grad().copy()));
                g
            };
            let (gb, gf) = (grads(&bp), grads(&fa));
            assert_eq!(gb.len(), gf.len(), "{name}");
            for ((nb, b), (nf, f)) in gb.iter().zip(&gf) {
                assert_eq!(nb, nf, "{name}");
                let scale = f64::try_from(b.abs().max()).unwrap().max(1e-30);
                let d = f64::try_from((b - f).abs().max()).unwrap();
                assert!(d <= 1e-4 * scale, "{name} {nb}: {d} against {scale}");
            }
            // and a random B does not give them
            let fr = Model::new(&a, &s, true, 3, Device::Cpu).unwrap();
            let gr = grads(&fr);
            let (b, f) = (&gb[0].1, &gr[0].1);
            let d = f64::try_from((b - f).abs().max()).unwrap();
            assert!(d > 1e-3 * f64::try_from(b.abs().max()).unwrap(), "{name}");
        }
    }

    #[test]
    fn seeds_and_rules_share_forward_weights() {
        let _rng = crate::engine::test_rng_lock();
        let a = Call::new("knet4").with("width", Value::Float(0.25));
        let s = Call::new("supervised");
        let m1 = Model::new(&a, &s, false, 7, Device::Cpu).unwrap();
        let m2 = Model::new(&a, &s, true, 7, Device::Cpu).unwrap();
        let m3 = Model::new(&a, &s, true, 8, Device::Cpu).unwrap();
        let k = |m: &Model, i: usize| m.aligned_layers()[i].w.shallow_clone();
        assert!(k(&m1, 1).equal(&k(&m2, 1)), "W independent of having B");
        assert!(!k(&m1, 1).equal(&k(&m3, 1)));
        let l = &m2.aligned_layers()[1];
        assert!(
            !l.w.equal(l.bwd.as_ref().unwrap()),
            "B drawn independently of W"
        );
        // init scales (method.md §7)
        let std = |t: &Tensor| f64::try_from(t.std(true)).unwrap();
        assert!((std(&k(&m1, 0)) - 1e-4).abs() < 2e-5);
        assert!((std(&k(&m1, 1)) - 1e-2).abs() < 2e-3);
        assert_eq!(m1.aligned_layers()[0].act, Act::None);
        // The paper code's seeding quirk: conv B = W, dense B = W's draws in B's shape.
        let q = Model::with_backward_init(&a, &s, true, BackwardInit::SameDraws, 7, Device::Cpu)
            .unwrap();
        let ql = q.aligned_layers();
        assert!(ql[1].w.equal(ql[1].bwd.as_ref().unwrap()));
        let (w, bw) = (&ql[3].w, ql[3].bwd.as_ref().unwrap());
        assert_eq!(bw.size(), vec![w.size()[1], w.size()[0]]);
        assert!(w.reshape([-1]).equal(&bw.reshape([-1])));
        assert!(k(&q, 1).equal(&k(&m2, 1)), "W unchanged by the option");
    }

    #[test]
    fn non_square_inputs() {
        let _rng = crate::engine::test_rng_lock();
        let s = Call::new("supervised");
        for name in ["knet4", "knet5", "alexnet", "resnet18", "mlp"] {
            let (h, w) = if name == "alexnet" {
                (75, 120)
            } else {
                (25, 40)
            };
            let a = Call::new(name)
                .with("width", Value::Float(0.125))
                .with("input_size", Value::Int(h))
                .with("input_width", Value::Int(w))
                .with("in_channels", Value::Int(1))
                .with("classes", Value::Int(7));
            let m = Model::new(&a, &s, true, 0, Device::Cpu).unwrap();
            let x = Tensor::randn([2, 1, h, w], (Kind::Float, Device::Cpu));
            let y = m.forward(&x, &mut Pass::plain(false));
            assert_eq!(y.size(), vec![2, 7], "{name}");
            // The planner's layer model agrees on the units of every layer.
            let plan = crate::registry::arch::layers(&a, false);
            assert_eq!(plan.len(), m.layers().len(), "{name}");
        }
    }

    #[test]
    fn bad_calls_are_reported() {
        let _rng = crate::engine::test_rng_lock();
        let s = Call::new("supervised");
        let e = Model::new(&Call::new("vgg"), &s, false, 0, Device::Cpu)
            .err()
            .unwrap();
        assert!(e.to_string().contains("vgg"));
        let e = Model::new(
            &Call::new("resnet18").with("version", Value::Int(3)),
            &s,
            false,
            0,
            Device::Cpu,
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("version"));
        let e = Model::new(
            &Call::new("alexnet").with("input_size", Value::Int(8)),
            &s,
            false,
            0,
            Device::Cpu,
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("input_size"));
    }
}
