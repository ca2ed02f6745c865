//! Architecture facts the planner needs without libtorch: canonical layer names (method.md §7),
//! layer-position groups (§1.5) and a FLOP model for the cost estimate. The engine builds the
//! same layers with libtorch and must agree on names (a test in the engine checks it).

use super::Builtin;
use super::Kind;
use super::config::{ConfigError, Params, unknown};
use super::schema::{COUNT, Default as D, Param, Ty, p, pu};
use crate::value::Call;

const ARCH_COMMON: &[Param] = &[
    p(
        "width",
        Ty::Float {
            min: 0.01,
            max: 16.0,
        },
        D::F(1.0),
        "multiplier on every channel and hidden-unit count (1 = the paper's size)",
    ),
    pu(
        "input_size",
        Ty::Int { min: 1, max: 4096 },
        D::FromTask,
        "pixels",
        "set from the task",
    ),
    p(
        "in_channels",
        Ty::Int { min: 1, max: 64 },
        D::FromTask,
        "set from the task",
    ),
    p("classes", COUNT, D::FromTask, "set from the task"),
];
const LRN: &[Param] = &[p(
    "lrn",
    Ty::Bool,
    D::B(false),
    "local response normalisation variant (method.md §7)",
)];
const KNET_BN: &[Param] = &[p(
    "batch_norm",
    Ty::Bool,
    D::B(false),
    "batch normalisation of each conv layer's output (after its activation, before pooling; batch statistics in training, running ones at evaluation). Not the paper's KNet: the variant that tests whether a rule needs normalised layer inputs (docs/learning.md, session 20)",
)];
const KNET_INITS: &[&str] = &["paper", "he"];
const KNET_INIT: &[Param] = &[p(
    "init",
    Ty::Enum(KNET_INITS),
    D::S("paper"),
    "weight initialisation: `paper` = method.md §7 (conv1 N(0, 1e-4²), the rest N(0, 0.01²); SGD needs hundreds of epochs to leave the initial plateau), `he` = N(0, 2/fan_in) for ReLU layers and N(0, 1/fan_in) for conv1 and the classifier (learns in a few epochs: laptop-scale studies)",
)];
const ALEX: &[Param] = &[p(
    "dropout",
    Ty::Float {
        min: 0.0,
        max: 0.99,
    },
    D::F(0.5),
    "dropout on fc6 and fc7 during training",
)];
const RESNET: &[Param] = &[p(
    "version",
    Ty::Int { min: 1, max: 2 },
    D::I(1),
    "1 = original (post-activation), 2 = pre-activation",
)];
const MLP: &[Param] = &[p(
    "hidden",
    Ty::IntList {
        min: 1,
        max: 1 << 20,
    },
    D::IL(&[256, 128]),
    "hidden layer sizes (before the width multiplier)",
)];

/// The architectures' builtins, in documentation order.
pub(super) const ARCHS: &[Builtin] = &[
    b!(
        "knet4",
        Arch,
        "knet",
        "KNet4: conv1–conv3 (5×5) and fc4, CIFAR-sized (method.md §7)",
        [LRN, KNET_INIT, KNET_BN, ARCH_COMMON]
    ),
    b!(
        "knet5",
        Arch,
        "knet",
        "KNet5: KNet4 with conv4 (128 filters) before the classifier",
        [LRN, KNET_INIT, KNET_BN, ARCH_COMMON]
    ),
    b!(
        "alexnet",
        Arch,
        "alexnet",
        "AlexNet: conv1–conv5, fc6–fc8",
        [LRN, ALEX, ARCH_COMMON]
    ),
    b!(
        "resnet18",
        Arch,
        "resnet",
        "ResNet-18 (v1 or v2), 22 learnable layers",
        [RESNET, ARCH_COMMON]
    ),
    b!(
        "resnet34",
        Arch,
        "resnet",
        "ResNet-34 (v1 or v2), 38 learnable layers",
        [RESNET, ARCH_COMMON]
    ),
    b!(
        "mlp",
        Arch,
        "mlp",
        "a multilayer perceptron on flattened inputs",
        [MLP, ARCH_COMMON]
    ),
];

/// Layer-position group of method.md §1.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Position {
    /// The first ⌊n/3⌋ of the n layers (n counts the supervised classifier, also for SimCLR).
    Early,
    /// The next ⌊n/3⌋ layers.
    Middle,
    /// The remaining layers, the contrastive head included.
    Deep,
}

impl Position {
    /// The name used in features and plans (`early`, `middle`, `deep`).
    pub fn as_str(self) -> &'static str {
        match self {
            Position::Early => "early",
            Position::Middle => "middle",
            Position::Deep => "deep",
        }
    }
    /// 0, 1 or 2, in depth order.
    pub fn index(self) -> u8 {
        self as u8
    }
}

/// A learnable layer as the planner sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LayerInfo {
    /// The canonical layer name (method.md §7), shared with the engine and the features.
    pub name: String,
    /// The depth group of the layer.
    pub position: Position,
    /// Forward multiply-adds ×2 for one example.
    pub flops: f64,
    /// Number of forward-kernel elements.
    pub weights: u64,
    /// Output units per example (for activation cost and subsampling counts).
    pub units: u64,
}

/// Channel count under a width multiplier (at least 1).
pub fn scaled(n: i64, width: f64) -> i64 {
    ((n as f64 * width).round() as i64).max(1)
}

struct Acc {
    layers: Vec<(String, f64, u64, u64)>,
}

/// Product of sizes, saturating: valid but huge settings (`classes` up to 2⁵³, hour-long
/// cochleagrams) must give a huge estimate, not an overflow.
fn prod(xs: &[i64]) -> u64 {
    xs.iter()
        .fold(1u64, |a, &x| a.saturating_mul(x.max(0) as u64))
}

/// The same product in floating point (for FLOPs).
fn prod_f(xs: &[i64]) -> f64 {
    xs.iter().map(|&x| x as f64).product()
}

impl Acc {
    fn conv(&mut self, name: String, k: i64, cin: i64, cout: i64, hout: i64, wout: i64) {
        let w = prod(&[k, k, cin, cout]);
        let units = prod(&[hout, wout, cout]);
        let flops = 2.0 * prod_f(&[k, k, cin, cout, hout, wout]);
        self.layers.push((name, flops, w, units));
    }
    fn dense(&mut self, name: String, din: i64, dout: i64) {
        let w = prod(&[din, dout]);
        self.layers
            .push((name, 2.0 * prod_f(&[din, dout]), w, dout.max(0) as u64));
    }
}

fn same(h: i64, stride: i64) -> i64 {
    (h + stride - 1) / stride
}

/// The two SimCLR head layers (method.md §7), appended after the base network without its
/// final classifier.
pub const CONTRASTIVE_HEAD: [&str; 2] = ["head_contrastive/nl_0", "head_contrastive/nl_1"];

/// Residual blocks per group of a ResNet.
pub fn resnet_blocks(name: &str) -> Option<[usize; 4]> {
    match name {
        "resnet18" => Some([2, 2, 2, 2]),
        "resnet34" => Some([3, 4, 6, 3]),
        _ => None,
    }
}

/// The hidden-layer sizes of an `mlp` call (before the width multiplier); the schema's
/// default when the call leaves `hidden` out. Items that are not integers are skipped (the
/// checker refuses them; the engine checks every size is positive).
pub fn mlp_hidden(arch: &Call) -> Vec<i64> {
    let arch = super::config::complete(arch);
    arch.get("hidden")
        .and_then(|v| v.as_list())
        .map(|l| l.iter().filter_map(|x| x.as_i64()).collect())
        .unwrap_or_default()
}

/// The canonical learnable-layer names of an architecture in forward order (method.md §7); for
/// the contrastive objective the final classifier is replaced by [`CONTRASTIVE_HEAD`]. Empty
/// for an unknown name.
pub fn layer_names(arch: &Call, contrastive: bool) -> Vec<String> {
    layers(arch, contrastive)
        .into_iter()
        .map(|l| l.name)
        .collect()
}

/// Whether a task objective is contrastive (SimCLR head instead of the classifier).
pub fn is_contrastive(task: &Call) -> bool {
    task.str("objective") == Some("contrastive")
}

/// The canonical learnable layers of an architecture, in forward order, with their position
/// groups. `arch` must be a resolved call with `input_size`, `in_channels` and `classes` filled.
pub fn layers(arch: &Call, contrastive: bool) -> Vec<LayerInfo> {
    let width = arch.f64("width").unwrap_or(1.0);
    let arch = &super::config::complete(arch);
    let size = arch.i64("input_size").unwrap_or(32);
    // Non-square inputs (audio cochleagrams: frequency × time) carry `input_width`.
    let size_w = arch.i64("input_width").unwrap_or(size);
    let cin = arch.i64("in_channels").unwrap_or(3);
    let classes = arch.i64("classes").unwrap_or(10);
    let mut a = Acc { layers: Vec::new() };
    let c = |n: i64| scaled(n, width);
    let feature_dim: i64;
    match arch.name.as_str() {
        "knet4" | "knet5" => {
            let (mut h, mut w) = (size, size_w);
            a.conv("conv1".into(), 5, cin, c(32), h, w);
            (h, w) = (same(h, 2), same(w, 2));
            a.conv("conv2".into(), 5, c(32), c(32), h, w);
            (h, w) = (same(h, 2), same(w, 2));
            a.conv("conv3".into(), 5, c(32), c(64), h, w);
            (h, w) = (same(h, 2), same(w, 2));
            let mut ch = c(64);
            let mut n = 4;
            if arch.name == "knet5" {
                a.conv("conv4".into(), 5, c(64), c(128), h, w);
                (h, w) = (same(h, 2), same(w, 2));
                ch = c(128);
                n = 5;
            }
            feature_dim = h * w * ch;
            if !contrastive {
                a.dense(format!("fc{n}"), feature_dim, classes);
            }
        }
        "alexnet" => {
            let (mut h, mut w) = ((size - 11) / 4 + 1, (size_w - 11) / 4 + 1);
            a.conv("conv1".into(), 11, cin, c(96), h, w);
            (h, w) = (same(h, 2), same(w, 2));
            a.conv("conv2".into(), 5, c(96), c(256), h, w);
            (h, w) = (same(h, 2), same(w, 2));
            a.conv("conv3".into(), 3, c(256), c(384), h, w);
            a.conv("conv4".into(), 4, c(384), c(384), h, w);
            a.conv("conv5".into(), 3, c(384), c(256), h, w);
            (h, w) = (same(h, 2), same(w, 2));
            let flat = h * w * c(256);
            a.dense("fc6".into(), flat, c(4096));
            a.dense("fc7".into(), c(4096), c(4096));
            feature_dim = c(4096);
            if !contrastive {
                a.dense("fc8".into(), c(4096), classes);
            }
        }
        "resnet18" | "resnet34" => {
            let ch = a.resnet(arch, width, size, size_w, cin);
            feature_dim = ch;
            if !contrastive {
                a.dense("dense".into(), ch, classes);
            }
        }
        "mlp" => {
            let hidden = mlp_hidden(arch);
            let mut din = size * size_w * cin;
            for (i, hdim) in hidden.iter().enumerate() {
                let hd = c(*hdim);
                a.dense(format!("fc{}", i + 1), din, hd);
                din = hd;
            }
            feature_dim = din;
            if !contrastive {
                a.dense(format!("fc{}", hidden.len() + 1), din, classes);
            }
        }
        _ => feature_dim = 0,
    }
    a.grouped(contrastive, feature_dim)
}

impl Acc {
    /// The convolutions of a ResNet (`arch` is `resnet18` or `resnet34`, version 1 or 2
    /// names), from an input of `size` × `size_w` × `cin`; returns the channels of its output.
    fn resnet(&mut self, arch: &Call, width: f64, size: i64, size_w: i64, cin: i64) -> i64 {
        let c = |n: i64| scaled(n, width);
        let v2 = arch.i64("version") == Some(2);
        let blocks = resnet_blocks(&arch.name).expect("a resnet");
        let tag = if v2 { "layer" } else { "group" };
        let (mut h, mut w) = (same(size, 2), same(size_w, 2));
        self.conv("conv0".into(), 7, cin, c(64), h, w);
        (h, w) = (same(h, 2), same(w, 2));
        let mut ch = c(64);
        for (g, (&nb, filters)) in blocks.iter().zip([64, 128, 256, 512]).enumerate() {
            let stride = if g == 0 { 1 } else { 2 };
            let out = c(filters);
            for b in 0..nb {
                let s = if b == 0 { stride } else { 1 };
                let (hout, wout) = (same(h, s), same(w, s));
                if b == 0 {
                    self.conv(
                        format!("block_{tag}{}_{b}/conv0", g + 1),
                        1,
                        ch,
                        out,
                        hout,
                        wout,
                    );
                }
                self.conv(
                    format!("block_{tag}{}_{b}/conv1", g + 1),
                    3,
                    ch,
                    out,
                    hout,
                    wout,
                );
                self.conv(
                    format!("block_{tag}{}_{b}/conv2", g + 1),
                    3,
                    out,
                    out,
                    hout,
                    wout,
                );
                (h, w) = (hout, wout);
                ch = out;
            }
        }
        ch
    }

    /// The layers with their position groups, and the contrastive head after them (the
    /// encoder's output has `feature_dim` units).
    fn grouped(self, contrastive: bool, feature_dim: i64) -> Vec<LayerInfo> {
        // Position groups (method.md §1.5) are computed on the supervised list (with the final
        // classifier layer) even for SimCLR, whose head layers are always deep.
        let full_len = if contrastive {
            self.layers.len() + 1
        } else {
            self.layers.len()
        };
        let g = full_len / 3;
        let mut out: Vec<LayerInfo> = self
            .layers
            .into_iter()
            .enumerate()
            .map(|(i, (name, flops, weights, units))| LayerInfo {
                name,
                position: if i < g {
                    Position::Early
                } else if i < 2 * g {
                    Position::Middle
                } else {
                    Position::Deep
                },
                flops,
                weights,
                units,
            })
            .collect();
        if contrastive {
            let d = feature_dim;
            let head = super::config::Objective::HEAD_DIM;
            for (name, dout) in [(CONTRASTIVE_HEAD[0], d), (CONTRASTIVE_HEAD[1], head)] {
                // nl_0: d → d; nl_1: d → 128 (method.md §7).
                let din = d;
                out.push(LayerInfo {
                    name: name.into(),
                    position: Position::Deep,
                    flops: 2.0 * prod_f(&[din, dout]),
                    weights: prod(&[din, dout]),
                    units: dout as u64,
                });
            }
        }
        out
    }
}

/// Forward FLOPs of one example through the whole network.
pub fn forward_flops(arch: &Call, contrastive: bool) -> f64 {
    layers(arch, contrastive).iter().map(|l| l.flops).sum()
}

// ------------------------------------------------------------------------------------------
// The typed architecture config (method.md §7)

/// The base network of an architecture and its own options.
#[derive(Debug, Clone, PartialEq)]
pub enum Net {
    /// KNet4 (conv1–conv3, fc4) or KNet5 (with conv4).
    KNet {
        /// KNet5's conv4 (128 filters) before the classifier.
        conv4: bool,
        /// The local response normalisation variant (`lrn`).
        lrn: bool,
        /// `init = he`: N(0, 2/fan_in) for ReLU layers and N(0, 1/fan_in) for conv1 and the
        /// classifier, instead of the paper's fixed standard deviations.
        he: bool,
        /// `batch_norm`: batch normalisation of each conv layer's output (not the paper's).
        batch_norm: bool,
    },
    /// AlexNet: conv1–conv5, fc6–fc8.
    AlexNet {
        /// The local response normalisation variant (`lrn`).
        lrn: bool,
        /// Dropout probability on fc6 and fc7 during training, in [0, 1).
        dropout: f64,
    },
    /// ResNet-18 or ResNet-34.
    ResNet {
        /// Residual blocks per group (`registry::arch::resnet_blocks`).
        blocks: [usize; 4],
        /// 1 = original (post-activation), 2 = pre-activation.
        version: i64,
    },
    /// A multilayer perceptron on flattened inputs.
    Mlp {
        /// Hidden layer sizes before the width multiplier, each positive.
        hidden: Vec<i64>,
    },
}

/// An architecture's completed call, typed: what `exec::engine::models::Model` is built
/// from. The input fields are set from the task (`Task::fill_arch`) or, without one, to the
/// architecture's native input ([`super::config::native_input`]). Built by `from_call`, the
/// only reader of an architecture's parameters besides the layer plan ([`layers`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ArchConfig {
    /// The builtin's name (`knet4`, `resnet18`, ...).
    pub name: String,
    /// The base network and its options.
    pub net: Net,
    /// Multiplier on every channel and hidden-unit count (`width`), positive.
    pub width: f64,
    /// Input height in pixels (`input_size`; cochleagram filters for audio).
    pub input_size: i64,
    /// Input width in pixels: `input_width` for non-square inputs (audio frames), else
    /// `input_size`.
    pub input_width: i64,
    /// Input channels (`in_channels`).
    pub in_channels: i64,
    /// Output classes of the classifier (`classes`).
    pub classes: i64,
    /// The completed call, for the layer plan ([`layers`], which the planner reads from
    /// calls).
    call: Call,
}

impl ArchConfig {
    /// The config of a completed architecture call.
    pub fn from_call(call: &Call) -> Result<ArchConfig, ConfigError> {
        let p = &Params(call);
        let name = call.name.as_str();
        if !matches!(
            name,
            "knet4" | "knet5" | "alexnet" | "resnet18" | "resnet34" | "mlp"
        ) {
            return Err(unknown(Kind::Arch, name));
        }
        let width = p.f64("width")?;
        if width <= 0.0 {
            return Err(p.bad("width", "must be positive"));
        }
        let input_size = p.pos_i64("input_size")?;
        let input_width = call.i64("input_width").unwrap_or(input_size);
        if input_width <= 0 {
            return Err(p.bad("input_width", "must be positive"));
        }
        let in_channels = p.pos_i64("in_channels")?;
        let classes = p.pos_i64("classes")?;
        let net = match name {
            n @ ("knet4" | "knet5") => Net::KNet {
                conv4: n == "knet5",
                lrn: p.bool("lrn")?,
                he: p.choice("init", false, &[("paper", false), ("he", true)])?,
                batch_norm: p.bool("batch_norm")?,
            },
            "alexnet" => {
                let lrn = p.bool("lrn")?;
                let dropout = p.f64("dropout")?;
                if !(0.0..1.0).contains(&dropout) {
                    return Err(p.bad("dropout", "must be in [0, 1)"));
                }
                if input_size.min(input_width) < 11 {
                    return Err(p.bad(
                        "input_size",
                        "must be at least 11 for AlexNet's 11×11 stride-4 conv1",
                    ));
                }
                Net::AlexNet { lrn, dropout }
            }
            n @ ("resnet18" | "resnet34") => {
                let version = p.i64("version")?;
                if version != 1 && version != 2 {
                    return Err(p.bad("version", format!("must be 1 or 2, got {version}")));
                }
                let blocks = resnet_blocks(n).expect("a resnet");
                Net::ResNet { blocks, version }
            }
            // `mlp`, the only name left.
            _ => {
                let hidden = mlp_hidden(call);
                let listed = call
                    .get("hidden")
                    .and_then(|v| v.as_list())
                    .map_or(0, |l| l.len());
                if hidden.len() != listed || hidden.iter().any(|h| *h <= 0) {
                    return Err(p.bad("hidden", "must be a list of positive integers"));
                }
                Net::Mlp { hidden }
            }
        };
        Ok(ArchConfig {
            name: call.name.clone(),
            net,
            width,
            input_size,
            input_width,
            in_channels,
            classes,
            call: call.clone(),
        })
    }

    /// The canonical learnable-layer names in forward order ([`layer_names`]):
    /// what the engine's builder must produce.
    pub fn layer_names(&self, contrastive: bool) -> Vec<String> {
        layer_names(&self.call, contrastive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn arch(name: &str, version: i64) -> Call {
        Call::new(name)
            .with("width", Value::Float(1.0))
            .with("input_size", Value::Int(224))
            .with("in_channels", Value::Int(3))
            .with("classes", Value::Int(1000))
            .with("version", Value::Int(version))
    }

    #[test]
    fn layer_counts_match_method() {
        let n = |name, v, c| layers(&arch(name, v), c).len();
        assert_eq!(n("knet4", 1, false), 4);
        assert_eq!(n("knet5", 1, false), 5);
        assert_eq!(n("alexnet", 1, false), 8);
        assert_eq!(n("resnet18", 1, false), 22);
        assert_eq!(n("resnet34", 2, false), 38);
        assert_eq!(n("resnet18", 1, true), 23);
        assert_eq!(n("alexnet", 1, true), 9);
    }

    #[test]
    fn position_groups_match_method() {
        let pos = |name, v| {
            let l = layers(&arch(name, v), false);
            [Position::Early, Position::Middle, Position::Deep]
                .map(|p| l.iter().filter(|x| x.position == p).count())
        };
        assert_eq!(pos("knet4", 1), [1, 1, 2]);
        assert_eq!(pos("knet5", 1), [1, 1, 3]);
        assert_eq!(pos("alexnet", 1), [2, 2, 4]);
        assert_eq!(pos("resnet18", 1), [7, 7, 8]);
        assert_eq!(pos("resnet34", 1), [12, 12, 14]);
    }

    #[test]
    fn resnet_names() {
        let v1: Vec<String> = layers(&arch("resnet18", 1), false)
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(v1[0], "conv0");
        assert_eq!(v1[1], "block_group1_0/conv0");
        assert_eq!(v1[4], "block_group1_1/conv1");
        assert_eq!(v1[21], "dense");
        let v2 = layers(&arch("resnet34", 2), false);
        assert_eq!(v2[1].name, "block_layer1_0/conv0");
        let c = layers(&arch("resnet18", 1), true);
        assert_eq!(
            c.last().map(|l| l.name.as_str()),
            Some("head_contrastive/nl_1")
        );
        assert_eq!(c.last().map(|l| l.position), Some(Position::Deep));
    }

    #[test]
    fn knet_flops_by_hand() {
        // conv1 of KNet4 at 32x32x3: 5*5*3*32 weights, 32*32 outputs.
        let a = arch("knet4", 1)
            .with("input_size", Value::Int(32))
            .with("classes", Value::Int(10));
        let l = layers(&a, false);
        assert_eq!(l[0].weights, 2400);
        assert_eq!(l[0].flops, 2.0 * 2400.0 * 1024.0);
        assert_eq!(l[3].weights, 4 * 4 * 64 * 10);
    }
}
