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
    pub train_flops: f64,
    pub observe_flops: f64,
    pub cpu_hours: f64,
    pub gpu_hours: f64,
}

impl Cost {
    pub fn add(&mut self, o: &Cost) {
        self.train_flops += o.train_flops;
        self.observe_flops += o.observe_flops;
        self.cpu_hours += o.cpu_hours;
        self.gpu_hours += o.gpu_hours;
    }
}

/// Training and validation set sizes the model assumes for a task.
pub fn task_sizes(task: &crate::value::Call) -> (f64, f64) {
    let get = |k: &str, d: f64| task.i64(k).filter(|&n| n > 0).map_or(d, |n| n as f64);
    match task.name.as_str() {
        "synthetic_images" => (get("train", 5000.0), get("val", 1000.0)),
        "cifar10" => (get("train", 50_000.0), get("val", 10_000.0)),
        // `idx_images` is assumed to be MNIST-sized until it is read.
        "fashion_mnist" | "idx_images" => (get("train", 60_000.0), get("val", 10_000.0)),
        "synthetic_audio" => (get("train", 2000.0), get("val", 400.0)),
        // An audio folder's size is unknown until it is read: assume WSN's (method.md §7).
        "audio_folder" => (5_810_600.0, 369_864.0),
        // An image folder's size is unknown until it is read: assume ImageNet's.
        _ => (1_281_167.0, 50_000.0),
    }
}

/// Relative step cost of a learning rule (forward weights plus backward weights and their
/// alignment losses).
pub fn rule_factor(rule: &str) -> f64 {
    match rule {
        "sgdm" | "adam" => 1.0,
        "fa" => 1.35,
        _ => 1.7,
    }
}

pub fn run_cost(study: &crate::check::ir::Study, r: &RunSpec) -> Cost {
    let contrastive = arch::is_contrastive(&r.task.call);
    // Forward FLOPs per (architecture, objective), computed once per thread.
    thread_local! {
        static FLOPS: std::cell::RefCell<[std::collections::HashMap<crate::value::Call, f64>; 2]> =
            Default::default();
    }
    let cached = FLOPS.with(|m| {
        m.borrow()[usize::from(contrastive)]
            .get(&r.arch.call)
            .copied()
    });
    let fwd = cached.unwrap_or_else(|| {
        let f = arch::forward_flops(&r.arch.call, contrastive);
        FLOPS.with(|m| m.borrow_mut()[usize::from(contrastive)].insert((*r.arch.call).clone(), f));
        f
    });
    let (train_n, val_n) = task_sizes(&r.task.call);
    // Audio tasks compute a cochleagram per example on the device.
    let front = if crate::cochlea::is_audio_task(&r.task.call.name) {
        thread_local! {
            static FRONT: std::cell::RefCell<std::collections::HashMap<crate::value::Call, f64>> =
                Default::default();
        }
        FRONT.with(|m| {
            *m.borrow_mut()
                .entry((*r.task.call).clone())
                .or_insert_with(|| crate::cochlea::CochleaParams::from_call(&r.task.call).flops())
        })
    } else {
        0.0
    };
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
