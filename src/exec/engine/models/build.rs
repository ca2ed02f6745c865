//! Building a [`Model`](super::Model): the layer builder, one base network per architecture
//! (KNet4/5, AlexNet, ResNet-18/34, MLP), the classifier or SimCLR head, and the backward
//! weights' draws. Layer order and names match `registry::arch` (checked after every build).

use super::{Spec, TopShared};
use crate::exec::engine::error::{EngineError, Result};
use crate::exec::engine::layers::*;
use crate::exec::engine::rules::BackwardInit;
use crate::registry::arch::CONTRASTIVE_HEAD;
use crate::registry::arch::Net;
use crate::registry::{ArchConfig, Objective};
use tch::{Device, Kind, Tensor};

pub(super) struct Pending {
    layer: usize,
    shape: Vec<i64>,
    init: Init,
    fans: (i64, i64),
}

pub(super) struct Builder {
    pub(super) layers: Vec<AlignedLayer>,
    pub(super) bn_names: Vec<String>,
    pub(super) bns: Vec<BatchNorm>,
    pub(super) backward: bool,
    pub(super) pending_b: Vec<Pending>,
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

pub(super) fn scaled(n: i64, width: f64) -> i64 {
    ((n as f64 * width).round() as i64).max(1)
}

/// The input an architecture config declares.
#[derive(Debug, Clone, Copy)]
pub(super) struct Input {
    pub(super) width: f64,
    pub(super) size: i64,
    /// Non-square inputs (audio cochleagrams, frequency × time) carry `input_width`.
    pub(super) size_w: i64,
    pub(super) cin: i64,
    pub(super) classes: i64,
}

impl Input {
    pub(super) fn of(arch: &ArchConfig) -> Input {
        Input {
            width: arch.width,
            size: arch.input_size,
            size_w: arch.input_width,
            cin: arch.in_channels,
            classes: arch.classes,
        }
    }
}

/// What a base network (everything before the classifier or the SimCLR head) gives the
/// layers after it: its kind, the width of its output features, and the flattened map
/// (channels, positions) the classifier reads, where it reads one.
pub(super) type Base = (Spec, i64, Option<(i64, i64)>);

impl Builder {
    /// The base network of `arch`.
    pub(super) fn base(&mut self, arch: &ArchConfig, inp: &Input) -> Result<Base> {
        match &arch.net {
            &Net::KNet {
                conv4,
                lrn,
                he,
                batch_norm,
            } => Ok(self.knet(conv4, lrn, he, batch_norm, inp)),
            &Net::AlexNet { lrn, dropout } => Ok(self.alexnet(lrn, dropout, inp)),
            &Net::ResNet { blocks, version } => Ok(self.resnet(blocks, version, inp)),
            Net::Mlp { hidden } => Ok(self.mlp(hidden, inp)),
        }
    }

    /// KNet4 / KNet5 (method.md §7).
    fn knet(&mut self, conv4: bool, lrn: bool, he: bool, bn: bool, inp: &Input) -> Base {
        let b = self;
        let Input {
            cin, size, size_w, ..
        } = *inp;
        let c = |n: i64| scaled(n, inp.width);
        let sp = Padding::Same;
        let (i1, i2) = if he {
            (Init::FanIn(1.0), Init::FanIn(2.0))
        } else {
            (Init::Normal(1e-4), Init::Normal(0.01))
        };
        // `batch_norm`: one BatchNorm per conv layer, on its output (ResNet v1's momentum).
        let norm = |b: &mut Self, name: &str, ch: i64| {
            if bn {
                b.bn(&format!("{name}/bn"), ch, 1.0, true, 0.9);
            }
        };
        b.conv("conv1", cin, c(32), 5, 1, sp, i1, Some(0.0), Act::None);
        norm(b, "conv1", c(32));
        b.conv("conv2", c(32), c(32), 5, 1, sp, i2, Some(0.0), Act::Relu);
        norm(b, "conv2", c(32));
        b.conv("conv3", c(32), c(64), 5, 1, sp, i2, Some(0.0), Act::Relu);
        norm(b, "conv3", c(64));
        let (mut s, mut sw) = (size, size_w);
        for _ in 0..3 {
            (s, sw) = (out_size(s, 3, 2, sp), out_size(sw, 3, 2, sp));
        }
        let mut ch = c(64);
        if conv4 {
            b.conv("conv4", c(64), c(128), 5, 1, sp, i2, Some(0.0), Act::Relu);
            norm(b, "conv4", c(128));
            (s, sw) = (out_size(s, 3, 2, sp), out_size(sw, 3, 2, sp));
            ch = c(128);
        }
        (
            Spec::KNet { conv4, lrn, bn },
            ch * s * sw,
            Some((ch, s * sw)),
        )
    }

    /// AlexNet (method.md §7).
    fn alexnet(&mut self, lrn: bool, dropout: f64, inp: &Input) -> Base {
        let b = self;
        let Input {
            cin, size, size_w, ..
        } = *inp;
        let c = |n: i64| scaled(n, inp.width);
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
        (Spec::AlexNet { lrn, dropout }, c(4096), None)
    }

    /// ResNet-18 / ResNet-34, v1 (post-activation) or v2 (pre-activation).
    fn resnet(&mut self, blocks: [usize; 4], version: i64, inp: &Input) -> Base {
        let b = self;
        let Input { cin, .. } = *inp;
        let c = |n: i64| scaled(n, inp.width);
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
        (Spec::ResNet { blocks, version }, ch, None)
    }

    /// The MLP on flattened inputs.
    fn mlp(&mut self, hidden: &[i64], inp: &Input) -> Base {
        let b = self;
        let Input {
            cin, size, size_w, ..
        } = *inp;
        let c = |n: i64| scaled(n, inp.width);
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
            None,
        )
    }

    /// The classifier, or the SimCLR head for the contrastive objective.
    pub(super) fn head(
        &mut self,
        arch: &ArchConfig,
        objective: &Objective,
        spec: &Spec,
        feat: i64,
        classes: i64,
    ) {
        let b = self;
        if objective.contrastive {
            let hd = objective.head_dim;
            let n = Init::Normal(0.01);
            b.dense(CONTRASTIVE_HEAD[0], feat, feat, n, None, Act::None);
            b.bn("head_contrastive/nl_0/bn", feat, 1.0, true, 0.9);
            b.dense(CONTRASTIVE_HEAD[1], feat, hd, n, None, Act::None);
            b.bn("head_contrastive/nl_1/bn", hd, 1.0, false, 0.9);
        } else {
            let last = arch.layer_names(false).pop().expect("non-empty");
            let init = match spec {
                Spec::AlexNet { .. } => Init::TruncNormal(0.01),
                Spec::ResNet { version: 2, .. } | Spec::Mlp { .. } => Init::GlorotUniform,
                Spec::KNet { .. } if matches!(arch.net, Net::KNet { he: true, .. }) => {
                    Init::FanIn(1.0)
                }
                _ => Init::Normal(0.01),
            };
            b.dense(&last, feat, classes, init, Some(0.0), Act::None);
        }
    }

    /// The shared top feedback's shape, when `top_feedback = shared` is asked for and can be
    /// used; an error saying why it cannot otherwise.
    pub(super) fn top_shared(
        &self,
        arch: &ArchConfig,
        contrastive: bool,
        top_map: Option<(i64, i64)>,
        b_init: BackwardInit,
    ) -> Result<TopShared> {
        let why = if contrastive {
            Some("the contrastive objective has no classifier")
        } else if top_map.is_none() {
            Some("its classifier does not read a flattened C×H×W map (only knet4's and knet5's do)")
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
        Ok(TopShared {
            layer: self.layers.len() - 1,
            channels,
            positions,
        })
    }

    /// Backward weights: same initialiser as W, drawn independently after all W; or W's own
    /// draws (the paper code's seeding quirk, method.md §6); the classifier's shared over
    /// positions with `top_shared`.
    pub(super) fn draw_backward(
        &mut self,
        b_init: BackwardInit,
        top_shared: Option<TopShared>,
        model_seed: u64,
    ) {
        tch::manual_seed((model_seed ^ 0x5eed_b0c4_u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as i64);
        for p in std::mem::take(&mut self.pending_b) {
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
                (BackwardInit::SameDraws, _) => self.layers[p.layer].w.reshape(&p.shape).copy(),
            };
            self.layers[p.layer].bwd = Some(bw);
        }
    }
}
