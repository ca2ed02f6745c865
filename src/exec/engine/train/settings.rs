//! What one training run is: its settings (epochs, batch, learning rate and schedule, weight
//! decay, checkpoints, seeds), the job (architecture, rule, task, objective calls and the
//! settings) and the job's stable key, which checkpoints are checked against.

use crate::exec::engine::error::{EngineError, Result};
use crate::value::Call;
use serde::{Deserialize, Serialize};

/// Learning-rate schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// The base rate at every step.
    Constant,
    /// Linear warmup from 0 over `warmup_epochs` (per step), then × `gamma` at each milestone epoch.
    WarmupSteps {
        /// Epochs of the linear warm-up (fractional positions count).
        warmup_epochs: f64,
        /// Epochs at which the rate is multiplied by `gamma`.
        milestones: Vec<u32>,
        /// The factor at each milestone.
        gamma: f64,
    },
}

/// Training hyperparameters of a job (set from the run's `RunSpec`; [`Default`] for jobs built
/// without a spec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// Training epochs (the run's `epochs`).
    pub epochs: u32,
    /// Examples per step (the run's `batch`).
    pub batch: i64,
    /// Base learning rate (at `lr_base_batch` when `scale_lr`).
    pub lr: f64,
    /// lr · batch / lr_base_batch (method.md §7).
    pub scale_lr: bool,
    /// The batch size at which `lr` is the rate, when `scale_lr`.
    pub lr_base_batch: i64,
    /// The learning-rate schedule over epochs.
    pub schedule: Schedule,
    /// L2 coefficient on kernels and biases (TF `wd · l2_loss(v)` = wd·Σv²/2, gradient wd·v).
    pub weight_decay: f64,
    /// Epochs after which to checkpoint and observe (0 = before training).
    pub checkpoints: Vec<u32>,
    /// Seed of the initial weights (W and B).
    pub model_seed: u64,
    /// Seed of the batch order and augmentations.
    pub data_seed: u64,
    /// Evaluate on the validation split every this many epochs (0 = never).
    pub eval_every: u32,
    /// Keep every checkpoint file (otherwise only the latest is kept).
    pub keep_checkpoints: bool,
}

/// The defaults of a job built without a spec (tests, benches): 100 epochs at batch 256, SGD
/// rate 0.01 rescaled to the batch, a constant schedule, weight decay 1e-5, checkpoints every 5
/// epochs, seeds 0, validation every epoch. `lrx run` sets every field from the run's
/// [`crate::plan::RunSpec`] ([`TrainSettings::of_hyper`]).
impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            epochs: 100,
            batch: 256,
            lr: 0.01,
            scale_lr: true,
            lr_base_batch: 256,
            schedule: Schedule::Constant,
            weight_decay: 1e-5,
            checkpoints: (0..=20).map(|e| 5 * e).collect(),
            model_seed: 0,
            data_seed: 0,
            eval_every: 1,
            keep_checkpoints: false,
        }
    }
}

impl TrainSettings {
    /// The settings with their checkpoints sorted and deduplicated, or an error naming the
    /// field that is out of range (a batch or base batch under 1, a checkpoint after the last
    /// epoch).
    pub fn checked(mut self) -> Result<TrainSettings> {
        let bad = |p: &str, msg: String| EngineError::param("train", p, msg);
        if self.batch < 1 {
            return Err(bad("batch", format!("must be ≥ 1, got {}", self.batch)));
        }
        if self.lr_base_batch < 1 {
            return Err(bad(
                "lr_base_batch",
                format!("must be ≥ 1, got {}", self.lr_base_batch),
            ));
        }
        self.checkpoints.sort_unstable();
        self.checkpoints.dedup();
        if let Some(&c) = self.checkpoints.iter().find(|&&c| c > self.epochs) {
            return Err(bad(
                "checkpoints",
                format!("epoch {c} is after the last epoch {}", self.epochs),
            ));
        }
        Ok(self)
    }

    /// The schedule's base rate: `lr`, rescaled to the batch when `scale_lr`.
    pub fn base_lr(&self) -> f64 {
        if self.scale_lr {
            self.lr * self.batch as f64 / self.lr_base_batch as f64
        } else {
            self.lr
        }
    }

    /// Learning rate at a fractional epoch position.
    pub fn lr_at(&self, epoch_pos: f64) -> f64 {
        let base = self.base_lr();
        match &self.schedule {
            Schedule::Constant => base,
            Schedule::WarmupSteps {
                warmup_epochs,
                milestones,
                gamma,
            } => {
                if *warmup_epochs > 0.0 && epoch_pos < *warmup_epochs {
                    return base * epoch_pos / warmup_epochs;
                }
                let k = milestones
                    .iter()
                    .filter(|&&m| epoch_pos >= m as f64)
                    .count();
                base * gamma.powi(k as i32)
            }
        }
    }
}

impl TrainSettings {
    /// The schedules [`TrainSettings::of_hyper`] translates (the registry's `Schedule` builtins).
    pub const SCHEDULES: &[&str] = &["constant", "warmup_steps"];

    /// The settings of a planned run: its hyperparameters as the plan has them, the learning
    /// rate as written (`scale_lr` off), validation every epoch, only the latest checkpoint
    /// file kept; checked ([`TrainSettings::checked`]). An error names what the engine cannot
    /// run: a schedule it does not implement, or epochs or a batch out of range.
    pub fn of_hyper(h: &crate::ir::Hyper) -> Result<TrainSettings> {
        let s = &h.schedule;
        let schedule = match s.name.as_str() {
            "constant" => Schedule::Constant,
            "warmup_steps" => Schedule::WarmupSteps {
                warmup_epochs: s.f64("warmup").unwrap_or(0.0),
                milestones: s
                    .get("milestones")
                    .and_then(|v| v.as_list())
                    .map(|l| {
                        l.iter()
                            .filter_map(|v| v.as_i64())
                            .map(|x| x as u32)
                            .collect()
                    })
                    .unwrap_or_default(),
                gamma: s.f64("gamma").unwrap_or(0.1),
            },
            o => {
                return Err(EngineError::Invalid(format!(
                    "schedule `{o}` is not implemented by the engine"
                )));
            }
        };
        TrainSettings {
            epochs: u32::try_from(h.epochs)
                .map_err(|_| EngineError::Invalid("epochs out of range".into()))?,
            batch: h.batch,
            lr: h.lr,
            scale_lr: false,
            lr_base_batch: h.batch,
            schedule,
            weight_decay: h.weight_decay,
            checkpoints: h.checkpoints.iter().map(|&c| c as u32).collect(),
            model_seed: h.model_seed,
            data_seed: h.data_seed,
            eval_every: 1,
            keep_checkpoints: false,
        }
        .checked()
    }
}

/// Everything that defines one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainJob {
    /// The architecture's call (completed, and its input filled from the task, by the trainer).
    pub arch: Call,
    /// The learning rule's call.
    pub rule: Call,
    /// The task's call without its objective parameters.
    pub task: Call,
    /// The objective's call (`supervised` or `contrastive`, with the task's objective
    /// parameters: [`crate::registry::Objective`]).
    pub objective: Call,
    /// Epochs, batch, learning rate, seeds, checkpoints.
    pub settings: TrainSettings,
}

/// A stable key of the job (checkpoints refuse to resume a different job). The regime options
/// at their defaults (`registry::later::REGIME_DEFAULTS`) and the parameters builtins gained later
/// (`registry::later::LATER_BUILTIN_PARAMS`) are left out, so runs checkpointed before they existed
/// resume.
pub(crate) fn job_key(job: &TrainJob) -> String {
    use sha2::{Digest, Sha256};
    let mut job = job.clone();
    // The keys of earlier versions: the regime options and the parameters a builtin gained
    // later are left out at their old values, the older `LATER_PARAMS` are not.
    use crate::registry::later::{REGIME_DEFAULTS, at_later_builtin_default};
    let rule = job.rule.name.clone();
    job.rule.params.retain(|k, v| {
        !REGIME_DEFAULTS
            .iter()
            .any(|(p, d)| *p == k.as_str() && d.is(v))
            && !at_later_builtin_default(&rule, k, v)
    });
    let task = job.task.name.clone();
    job.task
        .params
        .retain(|k, v| !at_later_builtin_default(&task, k, v));
    let j = serde_json::to_vec(&job).expect("json");
    let h = Sha256::digest(&j);
    h.iter().take(12).map(|b| format!("{b:02x}")).collect()
}
