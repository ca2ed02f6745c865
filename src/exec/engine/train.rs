//! The training loop (method.md §7 "Training"): one optimisation step per rule, checkpoints
//! at declared epochs (atomic, resumable bit-identically on CPU), divergence detection and
//! per-epoch loss/accuracy records. The settings and the job are in `train/settings.rs`,
//! devices in `train/device.rs`.

use super::data::{Augment, Task};
use super::error::{EngineError, Result};
use super::layers::Role;
use super::models::{Model, Pass};
use super::optim::Optimizer;
use super::rules::{BOptimizer, LearningRule, Phase, Rule};
use crate::registry::Objective;
use crate::registry::{ArchConfig, RuleConfig, TaskConfig, complete};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

mod checkpoint;
mod device;
mod diagnostics;
mod settings;
use checkpoint::{ObservedMarker, write_atomic};
pub(crate) use device::{device_name, parse_device, set_threads};
pub(crate) use settings::{Schedule, TrainJob, TrainSettings, job_key};

/// Per-epoch record (`epoch` counts completed epochs, 1-based).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EpochRecord {
    pub epoch: u32,
    pub lr: f64,
    /// Mean task loss over the epoch's steps (cross-entropy or NT-Xent; no L2, no alignment).
    pub train_loss: f64,
    /// Training accuracy (supervised: top-1; contrastive: positive pair ranked first).
    pub train_acc: f64,
    /// Mean alignment loss Σ_l R_l (0 for rules without one).
    pub alignment_loss: f64,
    pub val_loss: Option<f64>,
    pub val_acc: Option<f64>,
    pub seconds: f64,
    /// At the epoch's end, for each layer with backward weights, in layer order: the W–B angle
    /// and norm ratio (`AlignedLayer::weight_alignment`). Empty for backprop rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alignment: Vec<LayerAlignment>,
}

/// One layer's W against B ([`EpochRecord::alignment`]); a plain record, defined beside the
/// status files that store it so that builds without libtorch read them too.
pub(crate) use crate::features::schema::LayerAlignment;

/// How many validation images the per-epoch update-angle diagnostic uses.
pub(crate) const DIAG_STIMULI: i64 = 128;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum TrainOutcome {
    Completed {
        history: Vec<EpochRecord>,
        resumed_from: Option<u32>,
    },
    /// The loss became NaN/inf during epoch `epoch` (1-based); training stopped there.
    Diverged {
        epoch: u32,
        history: Vec<EpochRecord>,
        resumed_from: Option<u32>,
    },
    /// The stop flag was raised during epoch `epoch` (1-based); the checkpoints written so far
    /// stay, and the next call resumes from the latest.
    Interrupted {
        epoch: u32,
        history: Vec<EpochRecord>,
        resumed_from: Option<u32>,
    },
}

impl TrainOutcome {
    pub(crate) fn history(&self) -> &[EpochRecord] {
        match self {
            TrainOutcome::Completed { history, .. }
            | TrainOutcome::Diverged { history, .. }
            | TrainOutcome::Interrupted { history, .. } => history,
        }
    }
}

/// Progress notifications.
#[derive(Debug, Clone)]
pub(crate) enum Progress<'a> {
    Step { epoch: u32, step: i64, steps: i64 },
    Epoch(&'a EpochRecord),
    Checkpoint { epoch: u32 },
}

/// NT-Xent of SimCLR (method.md §7) on head outputs `z` = [view 1; view 2] (2n rows).
/// Returns (loss, number of rows whose positive pair has the highest logit).
pub(crate) fn nt_xent(z: &Tensor, temperature: f64) -> (Tensor, Tensor) {
    let n = z.size()[0] / 2;
    let h = z / z
        .norm_scalaropt_dim(2, [1i64].as_slice(), true)
        .clamp_min(1e-12);
    let h1 = h.narrow(0, 0, n);
    let h2 = h.narrow(0, n, n);
    let mask = Tensor::eye(n, (Kind::Float, z.device())) * 1e9;
    let aa = h1.matmul(&h1.tr()) / temperature - &mask;
    let bb = h2.matmul(&h2.tr()) / temperature - &mask;
    let ab = h1.matmul(&h2.tr()) / temperature;
    let ba = h2.matmul(&h1.tr()) / temperature;
    let la = Tensor::cat(&[ab, aa], 1);
    let lb = Tensor::cat(&[ba, bb], 1);
    let target = Tensor::arange(n, (Kind::Int64, z.device()));
    let loss = la.cross_entropy_for_logits(&target) + lb.cross_entropy_for_logits(&target);
    let correct = la.argmax(1, false).eq_tensor(&target).sum(Kind::Float)
        + lb.argmax(1, false).eq_tensor(&target).sum(Kind::Float);
    (loss, correct)
}

/// A model, its rule, optimizer and task, ready to take steps.
pub(crate) struct Trainer {
    pub model: Model,
    pub rule: Rule,
    pub opt: Optimizer,
    /// B's own optimizer (`b_optimizer` other than `same`, or `b_lr_scale` ≠ 1).
    pub b_opt: Option<Optimizer>,
    /// ‖W₀‖ of each layer with backward weights, by layer index, taken when the model is built
    /// (before any checkpoint is loaded, so a resumed run keeps its true initial norms): the
    /// diagnostics' ‖W‖/‖W₀‖ and, with `constrain_norm`, the norms W is held to.
    pub w0_norms: Vec<(usize, f64)>,
    /// ‖B₀‖ of each layer with backward weights, taken with `w0_norms`: the norms
    /// `constrain_b_norm` holds B to.
    pub b0_norms: Vec<(usize, f64)>,
    pub task: Task,
    pub aug: Augment,
    /// `Some(temperature)` for the contrastive objective.
    pub temperature: Option<f64>,
    pub settings: TrainSettings,
    pub device: Device,
    /// Raised (e.g. by a SIGINT handler) to stop before the next step.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// `b_step_cap`: each aligned layer's curvature estimate and B's last rate factor, by
    /// layer index.
    pub b_step: BTreeMap<usize, BStep>,
    /// Whether the next step re-estimates the curvature (`b_step_cap`): at the first step of
    /// every epoch and every [`CURVATURE_EVERY`] steps in it, so a run resumed at an epoch
    /// boundary estimates at the same steps as one that was not interrupted.
    pub curvature_due: bool,
}

/// `b_step_cap`: steps between curvature estimates, within an epoch.
pub(crate) const CURVATURE_EVERY: i64 = 50;
/// `b_step_cap`: power-iteration products per estimate.
pub(crate) const CURVATURE_ITERS: usize = 10;

/// One layer's `b_step_cap` state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BStep {
    /// λ_max(∂²R_l/∂B²) × the alignment rate, at the last estimate.
    pub curvature: f64,
    /// The factor applied to B's learning rate at the last step (≤ 1).
    pub factor: f64,
    /// `b_step_recheck`: the layer's output energy ‖P_f‖²/n at the last estimate (0 when off).
    pub energy: f64,
    /// `b_step_recheck`: estimates the energy's growth triggered in this epoch (not counting
    /// the scheduled ones).
    pub rechecks: u64,
}

/// A layer's output energy ‖P_f‖²/n (P_f = op(x, W), n the batch size), summed over its
/// positions: the null term's curvature grows with it (`b_step_recheck`).
fn output_energy(pf: &Tensor) -> f64 {
    let n = pf.size().first().copied().unwrap_or(1).max(1) as f64;
    // One BLAS pass, without the squared (or double) copy of P_f: the trigger compares
    // energies by factors ≥ 1, which float accumulation serves.
    let e = if pf.is_contiguous() {
        let v = pf.view([-1]);
        v.dot(&v).double_value(&[])
    } else {
        pf.square().sum(Kind::Float).double_value(&[])
    } / n;
    // A non-finite energy always triggers (the comparison with NaN is false).
    if e.is_finite() { e } else { f64::INFINITY }
}

/// Why an epoch did not finish.
#[derive(Debug)]
pub(crate) enum Halt {
    Diverged,
    Interrupted,
    /// Reading the data failed (a streamed file that cannot be decoded).
    Failed(EngineError),
}

/// Seed of the global torch generator for an epoch (dropout, noise inputs).
fn epoch_seed(seed: u64, epoch: u32) -> i64 {
    let mut z = seed ^ (u64::from(epoch) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

impl Trainer {
    /// Build model, rule, optimizer and task from a job. The task's size, channels and classes
    /// fill the architecture call.
    pub(crate) fn new(job: &TrainJob, device: Device) -> Result<Trainer> {
        let task = Task::new(&TaskConfig::from_call(&complete(&job.task))?)?;
        Self::with_task(job, task, device)
    }

    pub(crate) fn with_task(job: &TrainJob, mut task: Task, device: Device) -> Result<Trainer> {
        task.to_device(device);
        // Every call becomes its typed config once, here.
        let rule = Rule::new(&RuleConfig::from_call(&complete(&job.rule))?);
        let objective = Objective::from_call(&job.objective).map_err(EngineError::Invalid)?;
        let arch = ArchConfig::from_call(&task.fill_arch(&job.arch))?;
        let model = Model::build(
            &arch,
            &objective,
            rule.has_backward_weights(),
            rule.backward_init(),
            rule.regime.top_feedback,
            job.settings.model_seed,
            device,
        )?;
        let temperature = objective.contrastive.then_some(objective.temperature);
        let mut aug = Augment::from_objective(&objective);
        if task.is_audio() {
            // A flipped cochleagram is a time-reversed sound: not a label-preserving view.
            aug.flip = false;
        }
        let mut opt = Optimizer::new(rule.optimizer());
        super::regime::scale_hidden_lr(&model, &mut opt, rule.regime.hidden_lr_scale);
        let b_opt = rule.regime.separate_b().then(|| {
            let spec = match rule.regime.b_optimizer {
                BOptimizer::Same => rule.optimizer(),
                BOptimizer::Separate(spec) => spec,
            };
            Optimizer::named(spec, "bopt")
        });
        let w0_norms = super::regime::weight_norms(&model);
        let b0_norms = super::regime::backward_norms(&model);
        Ok(Trainer {
            model,
            rule,
            opt,
            b_opt,
            w0_norms,
            b0_norms,
            task,
            aug,
            temperature,
            settings: job.settings.clone(),
            device,
            stop: None,
            b_step: BTreeMap::new(),
            curvature_due: true,
        })
    }

    /// One optimisation step on a preprocessed batch. Returns (task loss, correct count,
    /// alignment loss) as tensors (no device sync).
    #[cfg(test)]
    pub(crate) fn step(&mut self, x: &Tensor, y: &Tensor, lr: f64) -> (Tensor, Tensor, Tensor) {
        self.step_phase(x, y, lr, Phase::Both)
    }

    /// [`Self::step`] of one phase (`alternate`, [`Phase`]): a task step leaves out the
    /// alignment loss and does not move B (but for Kolen-Pollack's tied gradient); an alignment
    /// step runs the forward without a graph and moves only B.
    pub(crate) fn step_phase(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        lr: f64,
        phase: Phase,
    ) -> (Tensor, Tensor, Tensor) {
        let wants_align = self.model.aligned_layers().iter().any(|l| l.has_backward())
            && self.rule.alignment_rate() != 0.0
            && !matches!(self.rule.alignment, super::rules::Alignment::Feedback)
            && phase != Phase::Task;
        let task = phase != Phase::Alignment;
        // IA's alignment gradient is taken in closed form from the forward pass's projections
        // (`Rule::information_gradient`) and added to B's gradient; the other rules' through
        // autograd of R_l.
        let closed = wants_align && self.rule.closed_form_alignment();
        let mut rec = vec![];
        let mut parts = vec![];
        let mut pass = Pass {
            train: true,
            record: (wants_align && !closed).then_some(&mut rec),
            parts: closed.then_some(&mut parts),
            outputs: None,
        };
        let out = if task {
            self.model.forward(x, &mut pass)
        } else {
            tch::no_grad(|| self.model.forward(x, &mut pass))
        };
        let (loss, correct) = match self.temperature {
            None => {
                let loss = out.cross_entropy_for_logits(y);
                let correct = out.argmax(1, false).eq_tensor(y).sum(Kind::Float);
                (loss, correct)
            }
            Some(t) => nt_xent(&out, t),
        };
        let mut align = Tensor::zeros([], (Kind::Float, self.device));
        let mut b_grads: BTreeMap<String, (Tensor, f64)> = BTreeMap::new();
        for (i, xin) in &rec {
            if let Some(r) = self
                .rule
                .alignment_loss(&self.model.aligned_layers()[*i], xin)
            {
                align += r;
            }
        }
        let rate = self.rule.alignment_rate();
        let cap = self.rule.regime.b_step_cap;
        let recheck = self.rule.regime.b_step_recheck;
        for p in &parts {
            let layer = &self.model.aligned_layers()[p.index];
            // `b_step_recheck`: the output energy now, against the last estimate's.
            let energy = (cap > 0.0 && recheck > 0.0).then(|| output_energy(&p.pf));
            let grown = match (energy, self.b_step.get(&p.index)) {
                (Some(e), Some(st)) => e > recheck * st.energy,
                _ => false,
            };
            if cap > 0.0 && (self.curvature_due || grown || !self.b_step.contains_key(&p.index)) {
                if let Some(l) = self.rule.information_curvature(layer, p, CURVATURE_ITERS) {
                    let curvature = l * rate;
                    let rechecks = self.b_step.get(&p.index).map_or(0, |st| st.rechecks);
                    self.b_step.insert(
                        p.index,
                        BStep {
                            curvature,
                            factor: 1.0,
                            energy: energy.unwrap_or(0.0),
                            // A growth found where an estimate is scheduled anyway is not
                            // a recheck (docs/engine.md: scheduled ones are not counted).
                            rechecks: rechecks + u64::from(grown && !self.curvature_due),
                        },
                    );
                }
            }
            if let Some((v, g, c)) = self.rule.information_gradient(layer, p) {
                align += v;
                // ×1 is exact: skip the pass at the default rate.
                let g = if rate == 1.0 { g } else { g * rate };
                b_grads.insert(format!("{}/backward", layer.name), (g, c * rate));
            }
        }
        if task {
            let total = if wants_align && !closed {
                &loss + &align * rate
            } else {
                loss.shallow_clone()
            };
            total.backward();
        } else if wants_align && !closed {
            (&align * rate).backward();
        }
        self.apply_gradients_phase(lr, b_grads, phase);
        (loss.detach(), correct, align.detach())
    }

    /// Effective gradients (task, Kolen-Pollack tie, `extra` gradients of B by parameter name
    /// with an L2 coefficient c that adds c·B), optimizer update with weight decay, zero grads.
    /// (The benchmarks' entry point; training goes through [`Self::apply_gradients_phase`].)
    #[cfg(test)]
    pub(crate) fn apply_gradients(&mut self, lr: f64, extra: BTreeMap<String, (Tensor, f64)>) {
        self.apply_gradients_phase(lr, extra, Phase::Both)
    }

    /// [`Self::apply_gradients`] for one phase: an alignment step updates only B, a task step
    /// gives B only its tied gradient (a parameter without a gradient is skipped, its optimizer
    /// state untouched). Then the regime's options: B's own optimizer and rate, the shared
    /// classifier feedback's projection, the norm constraint.
    fn apply_gradients_phase(
        &mut self,
        lr: f64,
        extra: BTreeMap<String, (Tensor, f64)>,
        phase: Phase,
    ) {
        if phase != Phase::Task {
            self.cap_b_steps(lr);
        }
        let wd = self.settings.weight_decay;
        let params = self.model.params();
        let mut names = vec![];
        let mut grads = vec![];
        let mut decay = vec![];
        // `extra` splits into gradients added to B's and L2 coefficients for the optimizer.
        let mut b_decay: BTreeMap<String, f64> = BTreeMap::new();
        let mut tied: BTreeMap<String, Tensor> = BTreeMap::new();
        let mut extra_b: BTreeMap<String, Tensor> = BTreeMap::new();
        for (name, (g, c)) in extra {
            extra_b.insert(name.clone(), g);
            b_decay.insert(name, c);
        }
        // Kolen-Pollack: B's gradient += W's task gradient (transposed for dense).
        if self.rule.tied_backward_gradient() {
            for l in self.model.aligned_layers() {
                let gw = l.w.grad();
                if gw.defined() {
                    tied.insert(format!("{}/backward", l.name), l.swap_layout(&gw).detach());
                }
            }
        }
        let shared = self.model.top_shared().map(|t| {
            (
                format!("{}/backward", self.model.aligned_layers()[t.layer].name),
                t,
            )
        });
        tch::no_grad(|| {
            for p in params.iter().filter(|p| p.trainable()) {
                let is_b = p.role == Role::Backward;
                let g = p.tensor.grad();
                // A task step does not move B by its own gradient, an alignment step moves only B.
                let own = match phase {
                    Phase::Both => true,
                    Phase::Task => !is_b,
                    Phase::Alignment => is_b,
                };
                let mut g = if g.defined() && own {
                    Some(g.detach())
                } else {
                    None
                };
                if is_b && phase != Phase::Alignment {
                    if let Some(t) = tied.remove(&p.name) {
                        g = Some(match g {
                            Some(g) => g + t,
                            None => t,
                        });
                    }
                }
                if is_b && phase != Phase::Task {
                    if let Some(t) = extra_b.remove(&p.name) {
                        g = Some(match g {
                            Some(g) => g + t,
                            None => t,
                        });
                    }
                }
                if let (Some((name, t)), Some(gb)) = (&shared, &g) {
                    if *name == p.name {
                        g = Some(t.project(gb));
                    }
                }
                names.push(p.name.as_str());
                grads.push(g);
                let l2 = if p.weight_decayed() { wd } else { 0.0 };
                decay.push(l2 + b_decay.get(&p.name).copied().unwrap_or(0.0));
            }
        });
        let tensors: Vec<&Tensor> = params
            .iter()
            .filter(|p| p.trainable())
            .map(|p| &p.tensor)
            .collect();
        let pairs: Vec<(&str, &Tensor)> = names.iter().copied().zip(tensors).collect();
        match &mut self.b_opt {
            None => self.opt.step(&pairs, &grads, &decay, lr),
            Some(b_opt) => {
                // B on its own optimizer and rate; everything else on the rule's.
                let mut main = (vec![], vec![], vec![]);
                let mut back = (vec![], vec![], vec![]);
                let trainable = params.iter().filter(|p| p.trainable());
                for (((pair, g), d), p) in pairs.iter().zip(grads).zip(&decay).zip(trainable) {
                    let to = if p.role == Role::Backward {
                        &mut back
                    } else {
                        &mut main
                    };
                    to.0.push(*pair);
                    to.1.push(g);
                    to.2.push(*d);
                }
                self.opt.step(&main.0, &main.1, &main.2, lr);
                b_opt.step(&back.0, &back.1, &back.2, lr * self.rule.regime.b_lr_scale);
            }
        }
        if self.rule.regime.constrain_norm && phase != Phase::Alignment {
            super::regime::constrain_norms(&self.model, &self.w0_norms);
        }
        if self.rule.regime.constrain_b_norm && phase != Phase::Task {
            super::regime::constrain_backward_norms(&self.model, &self.b0_norms);
        }
        for p in params.iter().filter(|p| p.trainable()) {
            let mut g = p.tensor.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// `b_step_cap` κ: B's learning rate in each layer with a curvature estimate λ becomes
    /// min(lr_B, κ/λ), as a factor on B's parameter in the optimizer that steps it.
    fn cap_b_steps(&mut self, lr: f64) {
        let cap = self.rule.regime.b_step_cap;
        if cap <= 0.0 {
            return;
        }
        let lr_b = if self.b_opt.is_some() {
            lr * self.rule.regime.b_lr_scale
        } else {
            lr
        };
        let layers = self.model.aligned_layers();
        for (i, st) in self.b_step.iter_mut() {
            let step = lr_b * st.curvature;
            st.factor = if step > cap { cap / step } else { 1.0 };
            let name = format!("{}/backward", layers[*i].name);
            match &mut self.b_opt {
                Some(o) => o.scale_lr(&name, st.factor),
                None => self.opt.scale_lr(&name, st.factor),
            }
        }
    }

    /// `b_step_cap`'s schedule at step `s` of an epoch: an estimate at the epoch's first step
    /// and every [`CURVATURE_EVERY`] steps; `b_step_recheck`'s count restarts with the epoch (so
    /// a resumed run counts the same).
    fn curvature_schedule(&mut self, s: i64) {
        self.curvature_due = s % CURVATURE_EVERY == 0;
        if s == 0 {
            for st in self.b_step.values_mut() {
                st.rechecks = 0;
            }
        }
    }

    pub(crate) fn n_steps(&self) -> i64 {
        (self.task.n_train() / self.settings.batch).max(1)
    }

    fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// The training examples of each step of epoch `epoch` (0-based), in the order they are
    /// consumed, and the epoch's data generator after the shuffle (the augmentations draw from
    /// it next). A Fisher–Yates shuffle seeded by (data seed, epoch); the last partial batch is
    /// dropped. `lrx export-reference` writes this order for the PyTorch reference.
    pub(crate) fn epoch_order(&self, epoch: u32) -> (Vec<Vec<i64>>, ChaCha8Rng) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.settings.data_seed);
        rng.set_stream(u64::from(epoch) + 1);
        let n = self.task.n_train();
        let mut perm: Vec<i64> = (0..n).collect();
        for j in (1..perm.len()).rev() {
            perm.swap(j, rng.random_range(0..=j));
        }
        let steps = self.n_steps();
        let bs = self.settings.batch.min(n);
        let order = (0..steps)
            .map(|s| perm[(s * bs) as usize..((s + 1) * bs) as usize].to_vec())
            .collect();
        (order, rng)
    }

    /// Train one epoch (`epoch` is 0-based). Returns the record, or why it stopped.
    pub(crate) fn run_epoch(
        &mut self,
        epoch: u32,
        progress: &mut dyn FnMut(Progress),
    ) -> std::result::Result<EpochRecord, Halt> {
        let t0 = std::time::Instant::now();
        tch::manual_seed(epoch_seed(self.settings.model_seed, epoch));
        let (order, mut rng) = self.epoch_order(epoch);
        let n = self.task.n_train();
        let steps = self.n_steps();
        let bs = self.settings.batch.min(n);
        let (mut lsum, mut csum, mut asum) = (
            Tensor::zeros([], (Kind::Float, self.device)),
            Tensor::zeros([], (Kind::Float, self.device)),
            Tensor::zeros([], (Kind::Float, self.device)),
        );
        let mut seen = 0i64;
        let mut lr = 0.0;
        let mut batches = self.task.train.batches(order.clone());
        for (s, idx) in order.iter().enumerate() {
            let s = s as i64;
            // Every step (an atomic load; the finiteness check below syncs, so every 20 steps).
            if self.stopped() {
                return Err(Halt::Interrupted);
            }
            let xs = match batches.next() {
                Some(Ok(x)) => x,
                Some(Err(e)) => return Err(Halt::Failed(e)),
                None => {
                    return Err(Halt::Failed(EngineError::Invalid(
                        "the data loader stopped before the end of the epoch".into(),
                    )));
                }
            };
            let xu = self.task.inputs(&xs, self.device);
            let y = self
                .task
                .train
                .labels()
                .index_select(0, &Tensor::from_slice(idx))
                .to_device(self.device);
            let x = if self.temperature.is_some() {
                let v1 = self.aug.apply(&xu, &mut rng);
                let v2 = self.aug.apply(&xu, &mut rng);
                self.task.normalize(&Tensor::cat(&[v1, v2], 0))
            } else {
                self.task.normalize(&self.aug.apply(&xu, &mut rng))
            };
            lr = self
                .settings
                .lr_at(f64::from(epoch) + s as f64 / steps as f64);
            let global = u64::from(epoch) * steps as u64 + s as u64;
            let phase = self.rule.regime.phase(global);
            self.curvature_schedule(s);
            let (l, c, a) = self.step_phase(&x, &y, lr, phase);
            lsum += l;
            csum += c;
            asum += a;
            seen += if self.temperature.is_some() {
                2 * bs
            } else {
                bs
            };
            if (s + 1) % 20 == 0 || s + 1 == steps {
                if !lsum.double_value(&[]).is_finite() {
                    return Err(Halt::Diverged);
                }
                progress(Progress::Step {
                    epoch,
                    step: s + 1,
                    steps,
                });
            }
        }
        let train_loss = lsum.double_value(&[]) / steps as f64;
        if !train_loss.is_finite() {
            return Err(Halt::Diverged);
        }
        let (val_loss, val_acc) = if self.settings.eval_every > 0
            && (epoch + 1) % self.settings.eval_every == 0
            && self.task.n_val() > 0
        {
            let (l, a) = self.evaluate().map_err(Halt::Failed)?;
            (Some(l), Some(a))
        } else {
            (None, None)
        };
        Ok(EpochRecord {
            epoch: epoch + 1,
            lr,
            train_loss,
            train_acc: csum.double_value(&[]) / seen as f64,
            alignment_loss: asum.double_value(&[]) / steps as f64,
            val_loss,
            val_acc,
            seconds: t0.elapsed().as_secs_f64(),
            alignment: self.alignment(),
        })
    }
}

/// The observer: called at each declared checkpoint epoch with the model (after the checkpoint
/// is written) and the task. Resuming re-calls it for the resumed epoch if it had not returned.
pub(crate) type Observer<'a> = dyn FnMut(u32, &Model, &Task) -> anyhow::Result<()> + 'a;

/// Train `job` in `run_dir` on `device`, resuming from the latest complete checkpoint there
/// (tests; `exec::task` loads the task itself and calls [`train_with`]).
#[cfg(test)]
pub(crate) fn train(
    job: &TrainJob,
    run_dir: &Path,
    device: Device,
    observer: &mut Observer,
    progress: &mut dyn FnMut(Progress),
) -> Result<TrainOutcome> {
    let trainer = Trainer::new(job, device)?;
    train_with(trainer, job, run_dir, observer, progress)
}

/// [`train`] with a prepared trainer (e.g. a task already loaded).
pub(crate) fn train_with(
    mut tr: Trainer,
    job: &TrainJob,
    run_dir: &Path,
    observer: &mut Observer,
    progress: &mut dyn FnMut(Progress),
) -> Result<TrainOutcome> {
    std::fs::create_dir_all(run_dir)
        .map_err(|e| EngineError::io("creating run directory", run_dir, e))?;
    let key = job_key(job);
    let s = job.settings.clone();
    let marker_path = run_dir.join("observed.json");
    let mut marker: ObservedMarker = std::fs::read(&marker_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    // Resume from the latest checkpoint with both files present.
    let mut start = 0u32;
    let mut history = vec![];
    let mut resumed_from = None;
    for &e in s.checkpoints.iter().rev() {
        let (pt, js) = Trainer::ckpt_paths(run_dir, e);
        if pt.is_file() && js.is_file() {
            history = tr.load_checkpoint(run_dir, e, &key)?;
            start = e;
            resumed_from = Some(e);
            break;
        }
    }
    let mut observe = |epoch: u32, tr: &Trainer, marker: &mut ObservedMarker| -> Result<()> {
        observer(epoch, &tr.model, &tr.task).map_err(|e| EngineError::Observer {
            epoch,
            msg: format!("{e:#}"),
            code: crate::exec::error::code_of(&e),
        })?;
        marker.last_observed = Some(epoch);
        write_atomic(&marker_path, &serde_json::to_vec(marker).expect("json"))
    };
    let checkpoint = |epoch: u32,
                      tr: &Trainer,
                      history: &[EpochRecord],
                      progress: &mut dyn FnMut(Progress)|
     -> Result<()> {
        tr.save_checkpoint(run_dir, epoch, &key, history)?;
        progress(Progress::Checkpoint { epoch });
        if !s.keep_checkpoints {
            for &old in s.checkpoints.iter().filter(|&&o| o < epoch) {
                let (a, b) = Trainer::ckpt_paths(run_dir, old);
                let _ = std::fs::remove_file(a);
                let _ = std::fs::remove_file(b);
            }
        }
        Ok(())
    };
    match resumed_from {
        Some(e) if marker.last_observed.is_none_or(|o| o < e) => observe(e, &tr, &mut marker)?,
        Some(_) => {}
        None if s.checkpoints.first() == Some(&0) => {
            checkpoint(0, &tr, &history, progress)?;
            observe(0, &tr, &mut marker)?;
        }
        None => {}
    }
    for epoch in start..s.epochs {
        let rec = match tr.run_epoch(epoch, progress) {
            Ok(rec) => rec,
            Err(Halt::Diverged) => {
                return Ok(TrainOutcome::Diverged {
                    epoch: epoch + 1,
                    history,
                    resumed_from,
                });
            }
            Err(Halt::Interrupted) => {
                return Ok(TrainOutcome::Interrupted {
                    epoch: epoch + 1,
                    history,
                    resumed_from,
                });
            }
            // The checkpoints written so far stay: the run resumes from them once the data is
            // fixed.
            Err(Halt::Failed(e)) => return Err(e),
        };
        progress(Progress::Epoch(&rec));
        history.push(rec);
        if s.checkpoints.contains(&(epoch + 1)) {
            checkpoint(epoch + 1, &tr, &history, progress)?;
            observe(epoch + 1, &tr, &mut marker)?;
        }
    }
    Ok(TrainOutcome::Completed {
        history,
        resumed_from,
    })
}

#[cfg(test)]
#[path = "train_tests.rs"]
mod tests;
