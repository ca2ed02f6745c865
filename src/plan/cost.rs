//! Cost and disk model for `lrx plan` and budgets. Training FLOPs = 3 × forward FLOPs
//! (forward + backward) × training examples × epochs × a rule factor; observation FLOPs per
//! checkpoint = 3 × forward × stimuli × (1 + realism conditions). Hours follow from the
//! study's `cpu_gflops`/`gpu_gflops` calibration (defaults: 20 GFLOP/s per CPU process,
//! 10 TFLOP/s per GPU). It is an estimate for planning, not a promise.

use super::RunSpec;
use crate::registry::arch;
use serde::Serialize;

/// Estimated cost of runs.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Cost {
    /// FLOPs of training (forward and backward passes over every epoch).
    pub train_flops: f64,
    /// FLOPs of observation (every checkpoint, stimulus and realism condition).
    pub observe_flops: f64,
    /// Hours of one CPU process at the study's `cpu_gflops`.
    pub cpu_hours: f64,
    /// Hours of one GPU at the study's `gpu_gflops`.
    pub gpu_hours: f64,
}

impl Cost {
    /// Adds the cost of `o` (costs of runs add up).
    pub fn add(&mut self, o: &Cost) {
        self.train_flops += o.train_flops;
        self.observe_flops += o.observe_flops;
        self.cpu_hours += o.cpu_hours;
        self.gpu_hours += o.gpu_hours;
    }
}

pub use crate::registry::tasks::task_sizes;

/// Relative step cost of a learning rule (forward weights plus backward weights and their
/// alignment losses).
pub fn rule_factor(rule: &str) -> f64 {
    match rule {
        "sgdm" | "adam" => 1.0,
        "fa" => 1.35,
        _ => 1.7,
    }
}

/// The parts of a run's cost that depend only on its task and architecture.
#[derive(Debug, Clone, Copy)]
pub struct TaskArch {
    /// Forward FLOPs of one example.
    pub fwd: f64,
    /// FLOPs of the audio front end (cochleagram) per example; 0 for images.
    pub front: f64,
    /// Training examples per epoch ([`task_sizes`]).
    pub train_n: f64,
    /// Validation examples, the most stimuli an observation can use.
    pub val_n: f64,
    /// Whether the run trains on two views of each example (contrastive objective).
    pub contrastive: bool,
}

impl TaskArch {
    /// The parts for a run of `task` on the architecture `arch_call`.
    pub fn new(task: &crate::value::Call, arch_call: &crate::value::Call) -> Self {
        let contrastive = arch::is_contrastive(task);
        let (train_n, val_n) = task_sizes(task);
        // Audio tasks compute a cochleagram per example on the device.
        let front = if crate::registry::cochlea::is_audio_task(&task.name) {
            crate::registry::cochlea::CochleaParams::from_call(task).flops()
        } else {
            0.0
        };
        TaskArch {
            fwd: arch::forward_flops(arch_call, contrastive),
            front,
            train_n,
            val_n,
            contrastive,
        }
    }
}

/// The estimated cost of training and observing run `r` of `study`.
pub fn run_cost(study: &crate::ir::Study, r: &RunSpec) -> Cost {
    run_cost_with(study, r, &TaskArch::new(&r.task.call, &r.arch.call))
}

/// [`run_cost`] with the task and architecture parts computed already (the plan computes
/// them once per distinct pair).
pub fn run_cost_with(study: &crate::ir::Study, r: &RunSpec, ta: &TaskArch) -> Cost {
    let TaskArch {
        fwd,
        front,
        train_n,
        val_n,
        contrastive,
    } = *ta;
    let views = if contrastive { 2.0 } else { 1.0 };
    let train =
        (3.0 * fwd * rule_factor(&r.rule.call.name) + front) * train_n * views * r.epochs as f64;
    let stimuli = if r.observe.stimuli > 0 {
        (r.observe.stimuli as f64).min(val_n)
    } else {
        val_n
    };
    let observe =
        (3.0 * fwd * (1.0 + r.realism.len() as f64) + front) * stimuli * r.checkpoints.len() as f64;
    let total = train + observe;
    Cost {
        train_flops: train,
        observe_flops: observe,
        cpu_hours: total / (study.cpu_gflops * 1e9) / 3600.0,
        gpu_hours: total / (study.gpu_gflops * 1e9) / 3600.0,
    }
}

/// Bytes of the feature table of one run (about 12 bytes a row after Zstd and dictionary
/// encoding of the repeated strings).
pub fn run_disk_bytes(r: &RunSpec) -> f64 {
    let rows_per_layer_ckpt = r.observe.observables.len() as f64 * (1.0 + r.realism.len() as f64);
    12.0 * rows_per_layer_ckpt * r.layers.len() as f64 * r.checkpoints.len() as f64
}
