//! Observation at a checkpoint (method.md §1.1–§1.3, §5).
//!
//! Inputs: the network's learnable layers ([`ObservableLayer`]) and, batch by batch, each
//! layer's *input* on the validation stimuli. Output: tidy [`ObservationRow`]s, one per
//! (layer, realism condition, observable).
//!
//! - weight statistics are computed once, when the observer is created;
//! - act: per-stimulus statistics of the layer output, summed on the device over batches, then
//!   divided by the number of stimuli (mean over stimuli, §1.3);
//! - gradavg: g_b = (1/N_out)·Σ_i Σ_j ∂y_j/∂x_i from autograd of the summed output with respect
//!   to the input (per stimulus, since layers have no cross-stimulus ops), then f(g_b) averaged.
//!
//! Memory is bounded by one batch: nothing but per-condition sums of shape `[K]` is kept between
//! batches. Realism conditions sharing (ρ, seed) share their subsets, Jacobians and noise
//! (σ only scales the noise), so the paper's 135-condition grid costs 27 Jacobians per batch.
//! No libtorch RNG is used (see [`super::realism`]), and gradients are taken with
//! `accumulate_grad = false`, so parameters' `.grad` and the global generator are untouched.

use super::layer::{JacobianVia, ObservableLayer};
use super::realism::{
    Purpose, RealismCondition, RealismError, index_tensor, kept_units, standard_normal_tensor,
    stream_key, units_kept,
};
use super::stats::{StatsError, compute_kind, row_statistics, tensor_statistics, to_host};
use crate::features::observable::{Function, LayerPosition, Measure, ObservableId, Statistic};
use crate::features::schema::{ObservationRow, PLAIN_SEED};
use crate::ir::{Measurement, StatConventions};
use crate::measurement::CalciumState;
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use tch::{Kind, Tensor};

/// What to observe and under which conditions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObserveConfig {
    /// Observables to compute; default: the 45 candidates of method.md §1.4.
    pub observables: Vec<ObservableId>,
    /// Statistic conventions; default: method.md's (tf_nearest, pearson2, pearson, float64).
    pub conventions: StatConventions,
    /// Realism grid (method.md §5); default empty.
    pub realism: Vec<RealismCondition>,
    /// Also compute the plain condition (no noise, no subsampling); default true.
    pub include_plain: bool,
    /// Path of gradavg's Jacobian in layers with backward weights; default `backward`
    /// (method.md §1.1 UNCERTAIN; the reference code's behaviour).
    pub jacobian_via: JacobianVia,
}

impl Default for ObserveConfig {
    fn default() -> Self {
        ObserveConfig {
            observables: ObservableId::candidates(),
            conventions: StatConventions::default(),
            realism: Vec::new(),
            include_plain: true,
            jacobian_via: JacobianVia::Backward,
        }
    }
}

/// Errors of observation (the statistics of a checkpoint, in `lrx run-task`), naming the layer.
/// Each has a stable code ([`crate::diag::Coded`]): its own `lrx::observe::...`, or the code of
/// the error it wraps.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// A statistic cannot be computed on a layer's tensor (the `StatsError`'s code).
    #[error("layer `{layer}`, {measure}: {source}")]
    Stats {
        /// The layer's name.
        layer: String,
        /// The tensor measured (`weight`, `act`, `gradavg`).
        measure: Measure,
        /// What failed.
        #[source]
        source: StatsError,
    },
    /// libtorch raised an error while observing a layer (`lrx::observe::torch`).
    #[error("layer `{layer}`: libtorch failed while {what}: {source}")]
    Torch {
        /// The layer's name.
        layer: String,
        /// What the observer was doing.
        what: &'static str,
        /// libtorch's error.
        #[source]
        source: tch::TchError,
    },
    /// The observables or conventions asked for do not fit together
    /// (`lrx::observe::config`).
    #[error("invalid observable configuration: {0}")]
    Config(
        /// What does not fit.
        String,
    ),
    /// A realism condition is outside its domain (the `RealismError`'s code).
    #[error(transparent)]
    Realism(#[from] RealismError),
    /// A layer differs from the one the observer was built for (`lrx::observe::layer_mismatch`).
    #[error("layer {index} is `{got}`, but the observer was created with `{expected}` there")]
    LayerMismatch {
        /// The layer's index (0-based).
        index: usize,
        /// The layer the observer was created with.
        expected: String,
        /// The layer given now.
        got: String,
    },
    /// A layer index past the observer's layers (`lrx::observe::layer_index`).
    #[error("layer index {index} is out of range: the observer has {n} layers")]
    LayerIndex {
        /// The index given (0-based).
        index: usize,
        /// The number of layers.
        n: usize,
    },
    /// A batch with not one input per layer (`lrx::observe::batch_arity`).
    #[error("a batch has {got} layer inputs, expected one per layer ({expected})")]
    BatchArity {
        /// The number of layers.
        expected: usize,
        /// The number of inputs given.
        got: usize,
    },
    /// Not one position (early, middle, deep) per layer (`lrx::observe::positions`).
    #[error("{n} layer positions given for {layers} layers")]
    Positions {
        /// The number of positions given.
        n: usize,
        /// The number of layers.
        layers: usize,
    },
    /// A checkpoint finished without any stimulus batch (`lrx::observe::no_stimuli`).
    #[error("layer `{layer}` saw no stimuli: act and gradavg need at least one batch")]
    NoStimuli {
        /// The first layer without observations.
        layer: String,
    },
    /// A layer's activation or gradient has no batch axis of the batch's size
    /// (`lrx::observe::shape`).
    #[error("layer `{layer}`: {what} has shape {shape:?}, expected a batch axis of size {batch}")]
    Shape {
        /// The layer's name.
        layer: String,
        /// Which tensor (`input`, `output`).
        what: &'static str,
        /// Its shape.
        shape: Vec<i64>,
        /// The batch size expected on axis 0.
        batch: i64,
    },
    /// A layer's number of units changed between batches (`lrx::observe::unit_count`).
    #[error(
        "layer `{layer}`: the {what} has {got} units in this batch but {expected} in an earlier one"
    )]
    UnitCount {
        /// The layer's name.
        layer: String,
        /// Which tensor (`input`, `output`).
        what: &'static str,
        /// The units in the earlier batches.
        expected: i64,
        /// The units in this batch.
        got: i64,
    },
}

impl crate::diag::Coded for ObserveError {
    fn code(&self) -> &'static str {
        match self {
            ObserveError::Stats { source, .. } => source.code(),
            ObserveError::Torch { .. } => "lrx::observe::torch",
            ObserveError::Config(_) => "lrx::observe::config",
            ObserveError::Realism(e) => e.code(),
            ObserveError::LayerMismatch { .. } => "lrx::observe::layer_mismatch",
            ObserveError::LayerIndex { .. } => "lrx::observe::layer_index",
            ObserveError::BatchArity { .. } => "lrx::observe::batch_arity",
            ObserveError::Positions { .. } => "lrx::observe::positions",
            ObserveError::NoStimuli { .. } => "lrx::observe::no_stimuli",
            ObserveError::Shape { .. } => "lrx::observe::shape",
            ObserveError::UnitCount { .. } => "lrx::observe::unit_count",
        }
    }
}

/// A measurement condition: plain, or one realism condition of the grid.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cond {
    Plain,
    Real(RealismCondition),
}

impl Cond {
    /// (noise_sigma, unit_fraction, realism_seed) as stored.
    fn encode(self) -> (f64, f64, i64) {
        match self {
            Cond::Plain => (0.0, 1.0, PLAIN_SEED),
            Cond::Real(c) => (c.sigma, c.fraction, c.seed as i64),
        }
    }
}

/// Realism conditions that share (fraction, seed): same subsets, same noise up to σ.
#[derive(Debug, Clone)]
struct Group {
    fraction: f64,
    seed: u64,
    /// (condition index, σ, measurement model)
    members: Vec<(usize, f64, Measurement)>,
}

/// Kept units of one group for one layer and measure, as host indices and device tensor.
struct Kept {
    idx: Vec<i64>,
    t: Tensor,
}

struct LayerState {
    name: String,
    index: i32,
    position: LayerPosition,
    /// Per condition, per weight request.
    weight_values: Vec<Vec<f64>>,
    /// Per condition: running sum over stimuli of the act statistics, `[K_act]` f64 on device.
    act_sum: Vec<Option<Tensor>>,
    /// Per condition: running sum over stimuli of f(g_b), `[F]` f64 on device.
    grad_sum: Vec<Option<Tensor>>,
    n_stimuli: u64,
    n_out: Option<i64>,
    n_in: Option<i64>,
    /// Per group: act units; gradavg output units (seed+1); gradavg input units.
    act_kept: Vec<Option<Kept>>,
    out_kept: Vec<Option<Kept>>,
    in_kept: Vec<Option<Kept>>,
    /// Per condition: the calcium state of each kept act unit, carried across batches (empty
    /// unless the condition's model is `calcium`).
    calcium: Vec<Vec<CalciumState>>,
}

/// Accumulates the observables of one checkpoint, batch by batch.
pub struct CheckpointObserver {
    cfg: ObserveConfig,
    epoch: i64,
    weight_req: Vec<(Function, Statistic)>,
    act_req: Vec<(Function, Statistic)>,
    grad_req: Vec<(Function, Statistic)>,
    conds: Vec<Cond>,
    groups: Vec<Group>,
    plain: Option<usize>,
    layers: Vec<LayerState>,
}

fn requests(cfg: &ObserveConfig, m: Measure) -> Vec<(Function, Statistic)> {
    let mut out = Vec::new();
    for o in &cfg.observables {
        if o.measure == m && !out.contains(&(o.function, o.statistic)) {
            out.push((o.function, o.statistic));
        }
    }
    out
}

fn torch_err<'a>(
    layer: &'a str,
    what: &'static str,
) -> impl FnOnce(tch::TchError) -> ObserveError + 'a {
    move |source| ObserveError::Torch {
        layer: layer.to_string(),
        what,
        source,
    }
}

fn stats_err(layer: &str, measure: Measure) -> impl FnOnce(StatsError) -> ObserveError + '_ {
    move |source| ObserveError::Stats {
        layer: layer.to_string(),
        measure,
        source,
    }
}

fn add_into(slot: &mut Option<Tensor>, v: Tensor) {
    *slot = Some(match slot.take() {
        None => v,
        Some(s) => s + v,
    });
}

impl CheckpointObserver {
    /// Create the observer for one checkpoint and compute the weight statistics.
    /// `positions` defaults to method.md §1.5's grouping of the given layer list.
    pub fn new(
        layers: &[&dyn ObservableLayer],
        positions: Option<&[LayerPosition]>,
        epoch: i64,
        cfg: ObserveConfig,
    ) -> Result<Self, ObserveError> {
        for o in &cfg.observables {
            ObservableId::new(o.measure, o.function, o.statistic)
                .map_err(|e| ObserveError::Config(e.to_string()))?;
        }
        let positions = match positions {
            Some(p) if p.len() != layers.len() => {
                return Err(ObserveError::Positions {
                    n: p.len(),
                    layers: layers.len(),
                });
            }
            Some(p) => p.to_vec(),
            None => LayerPosition::group(layers.len()),
        };
        let mut conds = Vec::new();
        let mut plain = None;
        if cfg.include_plain {
            plain = Some(0);
            conds.push(Cond::Plain);
        }
        let mut groups: Vec<Group> = Vec::new();
        for c in &cfg.realism {
            c.validate()?;
            if conds.contains(&Cond::Real(*c)) {
                return Err(ObserveError::Config(format!(
                    "realism condition {c:?} is listed twice"
                )));
            }
            conds.push(Cond::Real(*c));
            let ci = conds.len() - 1;
            match groups
                .iter_mut()
                .find(|g| g.fraction == c.fraction && g.seed == c.seed)
            {
                Some(g) => g.members.push((ci, c.sigma, c.model)),
                None => groups.push(Group {
                    fraction: c.fraction,
                    seed: c.seed,
                    members: vec![(ci, c.sigma, c.model)],
                }),
            }
        }
        let mut obs = CheckpointObserver {
            weight_req: requests(&cfg, Measure::Weight),
            act_req: requests(&cfg, Measure::Act),
            grad_req: requests(&cfg, Measure::Gradavg),
            cfg,
            epoch,
            conds,
            groups,
            plain,
            layers: Vec::with_capacity(layers.len()),
        };
        for (i, layer) in layers.iter().enumerate() {
            let weight_values = obs.weight_statistics(*layer)?;
            let nc = obs.conds.len();
            let ng = obs.groups.len();
            obs.layers.push(LayerState {
                name: layer.name().to_string(),
                index: i as i32,
                position: positions[i],
                weight_values,
                act_sum: (0..nc).map(|_| None).collect(),
                grad_sum: (0..nc).map(|_| None).collect(),
                n_stimuli: 0,
                n_out: None,
                n_in: None,
                act_kept: (0..ng).map(|_| None).collect(),
                out_kept: (0..ng).map(|_| None).collect(),
                in_kept: (0..ng).map(|_| None).collect(),
                calcium: vec![Vec::new(); nc],
            });
        }
        Ok(obs)
    }

    fn weight_statistics(
        &self,
        layer: &dyn ObservableLayer,
    ) -> Result<Vec<Vec<f64>>, ObserveError> {
        let name = layer.name();
        let mut out: Vec<Vec<f64>> = vec![Vec::new(); self.conds.len()];
        if self.weight_req.is_empty() {
            return Ok(out);
        }
        let conv = &self.cfg.conventions;
        let kind = compute_kind(conv.precision);
        let w = tch::no_grad(|| layer.kernel().detach());
        let flat = w.reshape([1, -1]);
        let n = flat.size()[1] as usize;
        if let Some(p) = self.plain {
            out[p] = tensor_statistics(&flat, &self.weight_req, conv)
                .map_err(stats_err(name, Measure::Weight))?;
        }
        for g in &self.groups {
            let key = stream_key(g.seed, name, Measure::Weight, Purpose::Units);
            let idx = kept_units(key, n, units_kept(n, g.fraction));
            let sub = flat
                .f_index_select(1, &index_tensor(&idx, flat.device()))
                .and_then(|t| t.f_to_kind(kind))
                .map_err(torch_err(name, "subsampling the weights"))?;
            let noise = g.members.iter().any(|(_, s, _)| *s > 0.0).then(|| {
                let key = stream_key(g.seed, name, Measure::Weight, Purpose::Noise);
                standard_normal_tensor(key, 0..1, &idx, kind, flat.device())
            });
            // Poisson and calcium models leave weights plain (σ = 0 for them).
            for &(ci, sigma, _) in &g.members {
                let v = match &noise {
                    Some(z) if sigma > 0.0 => &sub + z * sigma,
                    _ => sub.shallow_clone(),
                };
                out[ci] = tensor_statistics(&v, &self.weight_req, conv)
                    .map_err(stats_err(name, Measure::Weight))?;
            }
        }
        Ok(out)
    }

    /// Number of layers observed.
    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// Observe one batch of `layer`'s inputs `x` (`[B, ...]`, on the layer's device).
    pub fn observe_batch(
        &mut self,
        layer_index: usize,
        layer: &dyn ObservableLayer,
        x: &Tensor,
    ) -> Result<(), ObserveError> {
        let st = layer_mut(&mut self.layers, layer_index)?;
        if st.name != layer.name() {
            return Err(ObserveError::LayerMismatch {
                index: layer_index,
                expected: st.name.clone(),
                got: layer.name().to_string(),
            });
        }
        let name = st.name.clone();
        let xs = x.size();
        let b = *xs.first().ok_or_else(|| ObserveError::Shape {
            layer: name.clone(),
            what: "input",
            shape: xs.clone(),
            batch: 0,
        })?;
        if self.act_req.is_empty() && self.grad_req.is_empty() {
            st.n_stimuli += b as u64;
            return Ok(());
        }
        let need_grad = !self.grad_req.is_empty();
        let via = self.cfg.jacobian_via;
        let (xi, y) = if need_grad {
            tch::with_grad(|| {
                let xi = x.detach().set_requires_grad(true);
                let y = layer.forward_layer(&xi, via);
                (Some(xi), y)
            })
        } else {
            tch::no_grad(|| (None, layer.forward_layer(&x.detach(), via)))
        };
        self.observe_output(layer_index, xi.as_ref(), &y)
    }

    /// Whether gradavg is asked (then [`Self::observe_output`] needs outputs attached to their
    /// inputs' graph).
    pub fn needs_gradient(&self) -> bool {
        !self.grad_req.is_empty()
    }

    /// The path of gradavg's Jacobian in layers with backward weights.
    pub fn jacobian_via(&self) -> JacobianVia {
        self.cfg.jacobian_via
    }

    /// Observe one batch from the layer's output `y` (`[B, ...]`) computed from its input `xi`
    /// by `forward_layer(xi, self.jacobian_via())`. `xi` must need a gradient (and `y` hold its
    /// graph) when [`Self::needs_gradient`]; it is ignored otherwise. Lets a caller that runs the
    /// whole network once (`Model::observe_outputs`) skip the per-layer forward of
    /// [`Self::observe_batch`].
    pub fn observe_output(
        &mut self,
        layer_index: usize,
        xi: Option<&Tensor>,
        y: &Tensor,
    ) -> Result<(), ObserveError> {
        let st = layer_mut(&mut self.layers, layer_index)?;
        let name = st.name.clone();
        let ys = y.size();
        let b = ys.first().copied().unwrap_or(0);
        if let Some(x) = xi {
            if x.size().first() != Some(&b) {
                return Err(ObserveError::Shape {
                    layer: name,
                    what: "input",
                    shape: x.size(),
                    batch: b,
                });
            }
        }
        if self.act_req.is_empty() && self.grad_req.is_empty() {
            st.n_stimuli += b as u64;
            return Ok(());
        }
        let xi = match xi {
            Some(x) if !self.grad_req.is_empty() => Some(x),
            None if !self.grad_req.is_empty() => {
                return Err(ObserveError::Config(format!(
                    "layer `{name}`: gradavg needs the layer input with its graph"
                )));
            }
            _ => None,
        };
        if ys.len() < 2 || ys[0] != b {
            return Err(ObserveError::Shape {
                layer: name,
                what: "output",
                shape: ys,
                batch: b,
            });
        }
        let y_flat = y.flatten(1, -1);
        let n_out = y_flat.size()[1];
        check_units(&mut st.n_out, n_out, &name, "output")?;
        let offset = st.n_stimuli;
        let conv = self.cfg.conventions;
        let kind = compute_kind(conv.precision);
        let device = y.device();

        if !self.act_req.is_empty() {
            let yd = y_flat.detach();
            if let Some(p) = self.plain {
                let s = row_statistics(&yd, &self.act_req, &conv)
                    .map_err(stats_err(&name, Measure::Act))?;
                add_into(
                    &mut st.act_sum[p],
                    s.sum_dim_intlist(0, false, None::<Kind>),
                );
            }
            for (gi, g) in self.groups.iter().enumerate() {
                let kept = st.act_kept[gi].get_or_insert_with(|| {
                    let key = stream_key(g.seed, &name, Measure::Act, Purpose::Units);
                    let idx =
                        kept_units(key, n_out as usize, units_kept(n_out as usize, g.fraction));
                    let t = index_tensor(&idx, device);
                    Kept { idx, t }
                });
                let sub = yd
                    .f_index_select(1, &kept.t)
                    .and_then(|t| t.f_to_kind(kind))
                    .map_err(torch_err(&name, "subsampling the activations"))?;
                let noise = g.members.iter().any(|(_, s, _)| *s > 0.0).then(|| {
                    let key = stream_key(g.seed, &name, Measure::Act, Purpose::Noise);
                    standard_normal_tensor(key, offset..offset + b as u64, &kept.idx, kind, device)
                });
                for &(ci, sigma, model) in &g.members {
                    let v = match (&noise, model) {
                        (Some(z), Measurement::Awgn) if sigma > 0.0 => &sub + z * sigma,
                        (_, Measurement::Awgn) => sub.shallow_clone(),
                        (_, m) => {
                            let key = stream_key(g.seed, &name, Measure::Act, Purpose::Model);
                            let x = to_host(&sub.to_kind(Kind::Double).reshape([-1]))
                                .map_err(torch_err(&name, "copying activations for a model"))?;
                            let rows = offset..offset + b as u64;
                            let o = match m {
                                Measurement::Poisson(p) => {
                                    p.observe_block(key, rows, &kept.idx, &x)
                                }
                                Measurement::Calcium(c) => {
                                    c.observe_block(key, rows, &kept.idx, &x, &mut st.calcium[ci])
                                }
                                Measurement::Awgn => unreachable!("matched above"),
                            };
                            Tensor::from_slice(&o)
                                .reshape([b, kept.idx.len() as i64])
                                .to_kind(kind)
                                .to_device(device)
                        }
                    };
                    let s = row_statistics(&v, &self.act_req, &conv)
                        .map_err(stats_err(&name, Measure::Act))?;
                    add_into(
                        &mut st.act_sum[ci],
                        s.sum_dim_intlist(0, false, None::<Kind>),
                    );
                }
            }
        }

        if let Some(xi) = xi {
            let n_in = xi.numel() as i64 / b.max(1);
            check_units(&mut st.n_in, n_in, &name, "input")?;
            // J restricted to a set of output units: gradient of their sum w.r.t. the input.
            let jacobian = |out: Option<&Tensor>| -> Result<Tensor, ObserveError> {
                tch::with_grad(|| {
                    let target = match out {
                        None => y_flat.f_sum(None::<Kind>),
                        Some(idx) => y_flat
                            .f_index_select(1, idx)
                            .and_then(|t| t.f_sum(None::<Kind>)),
                    }
                    .map_err(torch_err(&name, "summing the outputs for gradavg"))?;
                    let g = Tensor::f_run_backward(&[target], &[xi], true, false)
                        .map_err(torch_err(&name, "differentiating the outputs for gradavg"))?;
                    let j = g.into_iter().next().expect("one input, one gradient");
                    j.f_reshape([b, -1])
                        .and_then(|t| t.f_to_kind(kind))
                        .map_err(torch_err(&name, "reshaping the input gradient"))
                })
            };
            let grad_stats = |g: &Tensor| -> Result<Tensor, ObserveError> {
                let s = row_statistics(&g.unsqueeze(1), &self.grad_req, &conv)
                    .map_err(stats_err(&name, Measure::Gradavg))?;
                Ok(s.sum_dim_intlist(0, false, None::<Kind>))
            };
            let mut full_j: Option<Tensor> = None;
            if let Some(p) = self.plain {
                let j = jacobian(None)?;
                let g = j.sum_dim_intlist(1, false, None::<Kind>) / n_out as f64;
                add_into(&mut st.grad_sum[p], grad_stats(&g)?);
                full_j = Some(j);
            }
            for (gi, g) in self.groups.iter().enumerate() {
                let out_kept = st.out_kept[gi].get_or_insert_with(|| {
                    // method.md §5: the output subset uses seed+1.
                    let key = stream_key(g.seed + 1, &name, Measure::Gradavg, Purpose::Units);
                    let idx =
                        kept_units(key, n_out as usize, units_kept(n_out as usize, g.fraction));
                    let t = index_tensor(&idx, device);
                    Kept { idx, t }
                });
                let n_sel = out_kept.idx.len();
                let j = if n_sel as i64 == n_out {
                    if full_j.is_none() {
                        full_j = Some(jacobian(None)?);
                    }
                    full_j.as_ref().unwrap().shallow_clone()
                } else {
                    jacobian(Some(&out_kept.t))?
                };
                let in_kept = st.in_kept[gi].get_or_insert_with(|| {
                    let key = stream_key(g.seed, &name, Measure::Gradavg, Purpose::Units);
                    let idx = kept_units(key, n_in as usize, units_kept(n_in as usize, g.fraction));
                    let t = index_tensor(&idx, device);
                    Kept { idx, t }
                });
                let jk = j
                    .f_index_select(1, &in_kept.t)
                    .map_err(torch_err(&name, "subsampling the input gradient"))?;
                let noise = g.members.iter().any(|(_, s, _)| *s > 0.0).then(|| {
                    let key = stream_key(g.seed, &name, Measure::Gradavg, Purpose::Noise);
                    standard_normal_tensor(
                        key,
                        offset..offset + b as u64,
                        &in_kept.idx,
                        kind,
                        device,
                    )
                });
                // Poisson and calcium models leave activity change plain (σ = 0 for them):
                // it is a derivative of the network, not a recorded response.
                for &(ci, sigma, _) in &g.members {
                    let v = match &noise {
                        Some(z) if sigma > 0.0 => &jk + z * sigma,
                        _ => jk.shallow_clone(),
                    };
                    let gb = v.sum_dim_intlist(1, false, None::<Kind>) / n_sel as f64;
                    add_into(&mut st.grad_sum[ci], grad_stats(&gb)?);
                }
            }
        }
        st.n_stimuli += b as u64;
        Ok(())
    }

    /// Finish the checkpoint: mean over stimuli, and the rows in order layer → condition →
    /// observable (config order).
    pub fn finish(self) -> Result<Vec<ObservationRow>, ObserveError> {
        let mut rows = Vec::new();
        for st in &self.layers {
            let needs_stimuli = !self.act_req.is_empty() || !self.grad_req.is_empty();
            if needs_stimuli && st.n_stimuli == 0 {
                return Err(ObserveError::NoStimuli {
                    layer: st.name.clone(),
                });
            }
            let n = st.n_stimuli as f64;
            for (ci, cond) in self.conds.iter().enumerate() {
                let mean_of = |sum: &Option<Tensor>, what| -> Result<Vec<f64>, ObserveError> {
                    match sum {
                        Some(s) => Ok(to_host(s)
                            .map_err(torch_err(&st.name, what))?
                            .into_iter()
                            .map(|v| v / n)
                            .collect()),
                        None => Ok(Vec::new()),
                    }
                };
                let act = mean_of(&st.act_sum[ci], "copying act statistics")?;
                let grad = mean_of(&st.grad_sum[ci], "copying gradavg statistics")?;
                let (noise_sigma, unit_fraction, realism_seed) = cond.encode();
                for o in &self.cfg.observables {
                    let (req, vals) = match o.measure {
                        Measure::Weight => (&self.weight_req, &st.weight_values[ci]),
                        Measure::Act => (&self.act_req, &act),
                        Measure::Gradavg => (&self.grad_req, &grad),
                    };
                    let k = req
                        .iter()
                        .position(|r| *r == (o.function, o.statistic))
                        .expect("every observable has a request");
                    rows.push(ObservationRow {
                        epoch: self.epoch,
                        layer: st.name.clone(),
                        layer_index: st.index,
                        layer_position: st.position,
                        observable: *o,
                        noise_sigma,
                        unit_fraction,
                        realism_seed,
                        value: vals[k],
                        measurement: match cond {
                            Cond::Plain => Measurement::Awgn,
                            Cond::Real(c) => c.model,
                        },
                    });
                }
            }
        }
        Ok(rows)
    }
}

fn layer_mut(layers: &mut [LayerState], index: usize) -> Result<&mut LayerState, ObserveError> {
    let n = layers.len();
    layers
        .get_mut(index)
        .ok_or(ObserveError::LayerIndex { index, n })
}

fn check_units(
    slot: &mut Option<i64>,
    n: i64,
    layer: &str,
    what: &'static str,
) -> Result<(), ObserveError> {
    match *slot {
        None => {
            *slot = Some(n);
            Ok(())
        }
        Some(e) if e == n => Ok(()),
        Some(e) => Err(ObserveError::UnitCount {
            layer: layer.to_string(),
            what,
            expected: e,
            got: n,
        }),
    }
}

/// Observe one checkpoint: `batches` yields, per batch of validation stimuli, the input of every
/// layer in `layers` order. Returns the rows of all layers (see [`CheckpointObserver::finish`]).
pub fn observe_checkpoint<I, T>(
    layers: &[&dyn ObservableLayer],
    positions: Option<&[LayerPosition]>,
    epoch: i64,
    batches: I,
    cfg: &ObserveConfig,
) -> Result<Vec<ObservationRow>, ObserveError>
where
    I: IntoIterator<Item = Vec<T>>,
    T: Borrow<Tensor>,
{
    let mut obs = CheckpointObserver::new(layers, positions, epoch, cfg.clone())?;
    for inputs in batches {
        if inputs.len() != layers.len() {
            return Err(ObserveError::BatchArity {
                expected: layers.len(),
                got: inputs.len(),
            });
        }
        for (i, (layer, x)) in layers.iter().zip(&inputs).enumerate() {
            obs.observe_batch(i, *layer, x.borrow())?;
        }
    }
    obs.finish()
}

#[cfg(test)]
mod tests;
