//! One run: RunSpec → engine job, training with observation at every checkpoint, features.
//! What `lrx run-task` executes (in a child of `lrx run`, or a Slurm array task).

use super::error::Tagged;
use super::{EpochLog, Event, ExecError, ObserveLog, RunStatus, run_dir, write_atomic};
use crate::exec::engine::train::{TrainJob, TrainOutcome, TrainSettings, Trainer, train_with};
use crate::exec::engine::{LearningRule, Model, Progress, Task};
use crate::exec::observe::{CheckpointObserver, JacobianVia, ObserveConfig};
use crate::features::observable::{LayerPosition, ObservableId};
use crate::features::schema::ObservationRow;
use crate::features::writer::{FileMetadata, write_features};
use crate::ir::JacobianMode;
use crate::plan::RunSpec;
use crate::value::{Call, Value};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tch::{Device, Tensor};

/// The engine job of a run. The task call carries the objective and augmentation parameters in
/// the language; the engine takes them as a separate objective call. Fails with
/// [`ExecError::UnsupportedSchedule`], [`ExecError::EpochsOutOfRange`], or
/// [`ExecError::Engine`] when the engine refuses the training settings (batch, learning rate,
/// checkpoints, ...).
pub fn job_of(run: &RunSpec) -> Result<TrainJob, ExecError> {
    let t = &run.task.call;
    let objective_name = t.str("objective").unwrap_or("supervised");
    let mut objective = Call::new(objective_name);
    for k in ["flip", "shift", "temperature", "color"] {
        if let Some(v) = t.get(k) {
            objective = objective.with(k, v.clone());
        }
    }
    if let Some(b) = t.bool("blur") {
        // The language's `blur` switches the contrastive blur on (probability 0.5, SimCLR's).
        objective = objective.with("blur", Value::Float(if b { 0.5 } else { 0.0 }));
    }
    if objective_name == "supervised" {
        objective.params.remove("temperature");
        objective.params.remove("color");
        objective.params.remove("blur");
    }
    let mut task = Call::new(&t.name);
    for (k, v) in &t.params {
        if !["objective", "flip", "shift", "temperature", "color", "blur"].contains(&k.as_str()) {
            task.params.insert(k.clone(), v.clone());
        }
    }
    let h = &run.hyper;
    if !TrainSettings::SCHEDULES.contains(&h.schedule.name.as_str()) {
        return Err(ExecError::UnsupportedSchedule(h.schedule.name.clone()));
    }
    u32::try_from(h.epochs).map_err(|_| ExecError::EpochsOutOfRange(h.epochs))?;
    let settings = TrainSettings::of_hyper(h)?;
    Ok(TrainJob {
        arch: run.arch.call.as_ref().clone(),
        rule: run.rule.call.as_ref().clone(),
        task,
        objective,
        settings,
    })
}

/// The observer configuration of a run (its observables, conventions and realism grid);
/// `has_backward` (the rule has backward weights) picks the Jacobian's direction when the plan
/// leaves it to the engine. Fails with [`ExecError::Observable`] when the plan names an
/// observable the observer does not know.
pub(crate) fn observe_config(
    run: &RunSpec,
    has_backward: bool,
) -> Result<ObserveConfig, ExecError> {
    let o = &run.observe;
    let observables = o
        .observables
        .iter()
        .map(|x| ObservableId::parse(&x.name()).map_err(ExecError::Observable))
        .collect::<Result<Vec<_>, _>>()?;
    let jacobian_via = match o.jacobian_via {
        JacobianMode::Forward => JacobianVia::Forward,
        JacobianMode::Backward => JacobianVia::Backward,
        JacobianMode::Auto if has_backward => JacobianVia::Backward,
        JacobianMode::Auto => JacobianVia::Forward,
    };
    Ok(ObserveConfig {
        observables,
        conventions: o.conventions,
        realism: run.realism.to_vec(),
        include_plain: true,
        jacobian_via,
    })
}

fn position(p: &str) -> LayerPosition {
    match p {
        "early" => LayerPosition::Early,
        "middle" => LayerPosition::Middle,
        _ => LayerPosition::Deep,
    }
}

/// Observe a model at a checkpoint on the first `stimuli` validation images, in batches. With
/// `save` (the run's directory, when `observe { save_activations = true }`), also write every
/// layer's plain activations there ([`activations_path`]).
pub fn observe_model(
    model: &Model,
    task: &Task,
    run: &RunSpec,
    cfg: &ObserveConfig,
    epoch: u32,
    save: Option<&Path>,
) -> anyhow::Result<Vec<ObservationRow>> {
    let names = model.layer_names();
    let want: Vec<&str> = run.layers.iter().map(|l| l.name.as_str()).collect();
    if names != want {
        anyhow::bail!(
            "internal: the engine's layers {names:?} differ from the plan's {want:?} (a bug in lrx)"
        );
    }
    let positions: Vec<LayerPosition> = run.layers.iter().map(|l| position(&l.position)).collect();
    let n = if run.observe.stimuli > 0 {
        run.observe.stimuli.min(task.n_val())
    } else {
        task.n_val()
    };
    if n == 0 {
        anyhow::bail!(
            "task `{}` has no validation images to observe",
            run.task.label
        );
    }
    let (x, _) = task.val_batch(n, model.device())?;
    let bs = run.observe.batch.max(1);
    let layers = model.layers();
    let mut obs =
        CheckpointObserver::new(&layers, Some(&positions), i64::from(epoch), cfg.clone())?;
    // One forward pass per batch gives every layer's input and output (and, for gradavg, the
    // graph from each output to its own input); memory stays at one batch.
    let mut i = 0;
    let mut saved: Vec<Vec<Tensor>> = (0..layers.len()).map(|_| Vec::new()).collect();
    while i < n {
        let m = bs.min(n - i);
        let grad = obs.needs_gradient();
        let outs = model.observe_outputs(&x.narrow(0, i, m), obs.jacobian_via(), grad);
        if outs.len() != layers.len() {
            anyhow::bail!(
                "internal: the forward pass recorded {} layers, the model has {} (a bug in lrx)",
                outs.len(),
                layers.len()
            );
        }
        for (k, xi, y) in &outs {
            obs.observe_output(*k, grad.then_some(xi), y)?;
            if save.is_some() {
                saved[*k].push(tch::no_grad(|| {
                    y.detach()
                        .reshape([m, -1])
                        .to_kind(tch::Kind::Float)
                        .to_device(tch::Device::Cpu)
                }));
            }
        }
        i += m;
    }
    if let Some(dir) = save {
        for (name, parts) in names.iter().zip(&saved) {
            let a = Tensor::cat(parts, 0).contiguous();
            let (rows, cols) = (a.size()[0] as usize, a.size()[1] as usize);
            let mut v = vec![0f32; rows * cols];
            a.copy_data(&mut v, rows * cols);
            let data: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            let path = activations_path(dir, epoch, name);
            if let Some(p) = path.parent() {
                std::fs::create_dir_all(p).map_err(|e| ExecError::create(p, e))?;
            }
            write_atomic(&path, &crate::npy::npy_bytes("<f4", &[rows, cols], &data))
                .map_err(|e| ExecError::create(&path, e))?;
        }
    }
    Ok(obs.finish()?)
}

/// Where `observe { save_activations = true }` writes layer `layer`'s plain activations at
/// checkpoint `epoch`: `<run dir>/activations/epoch_<epoch, 4 digits>/<layer>.npy`, float32
/// [stimuli, units] in C order, the stimuli being the observed validation images in order and
/// the units the layer's output flattened in (channel, height, width) order.
pub fn activations_path(run_dir: &Path, epoch: u32, layer: &str) -> std::path::PathBuf {
    run_dir
        .join("activations")
        .join(format!("epoch_{epoch:04}"))
        .join(format!("{layer}.npy"))
}

/// A checkpoint's observations as JSON. JSON has no NaN or ±inf (serde_json writes them as
/// `null`), and non-finite observables must reach the features as they are (method.md §1.4's drop
/// rule is applied later), so every value is also kept as its IEEE-754 bits.
pub fn encode_observations(rows: &[ObservationRow]) -> serde_json::Result<Vec<u8>> {
    let bits: Vec<u64> = rows.iter().map(|r| r.value.to_bits()).collect();
    let clean: Vec<ObservationRow> = rows
        .iter()
        .map(|r| ObservationRow {
            value: 0.0,
            ..r.clone()
        })
        .collect();
    serde_json::to_vec(&(clean, bits))
}

/// Inverse of [`encode_observations`]. Fails with [`ExecError::BadObservations`] when `bytes`
/// is not such a file (truncated, or rows and values of different lengths).
pub(crate) fn decode_observations(bytes: &[u8]) -> Result<Vec<ObservationRow>, ExecError> {
    let (mut rows, bits): (Vec<ObservationRow>, Vec<u64>) =
        serde_json::from_slice(bytes).map_err(|e| ExecError::BadObservations(e.to_string()))?;
    if rows.len() != bits.len() {
        return Err(ExecError::BadObservations(format!(
            "{} rows but {} values",
            rows.len(),
            bits.len()
        )));
    }
    for (r, b) in rows.iter_mut().zip(bits) {
        r.value = f64::from_bits(b);
    }
    Ok(rows)
}

fn obs_path(dir: &Path, epoch: u32) -> std::path::PathBuf {
    dir.join("obs").join(format!("epoch_{epoch:04}.json"))
}

/// Options of one run.
pub struct TaskOptions<'a> {
    /// The device to train and observe on.
    pub device: Device,
    /// Its name as recorded in `status.json` and the feature file (`cpu`, `cuda:0`).
    pub device_name: String,
    /// Set (by SIGINT, SIGTERM) to stop training at the next step; the run is then recorded
    /// as `interrupted` and resumes from its last checkpoint.
    pub stop: Arc<AtomicBool>,
    /// Receives every progress event (`lrx run-task` prints them as JSON lines).
    pub emit: &'a mut dyn FnMut(&Event),
}

/// Train, observe and write one run; returns its final status (also written to status.json).
pub fn execute(study: &Path, spec_hash: &str, run: &RunSpec, opts: TaskOptions) -> RunStatus {
    let t0 = std::time::Instant::now();
    let dir = run_dir(study, &run.id);
    let emit = opts.emit;
    let mut status = RunStatus {
        run_id: run.id.clone(),
        status: "failed".into(),
        rule: run.rule.label.clone(),
        device: opts.device_name.clone(),
        libtorch_version: super::libtorch_version().into(),
        lrx_version: env!("CARGO_PKG_VERSION").into(),
        threads: u32::try_from(tch::get_num_threads()).ok(),
        seconds: 0.0,
        error: None,
        error_code: None,
        diverged_epoch: None,
        resumed_from: None,
        history: vec![],
        observe_seconds: vec![],
    };
    let result = (|| -> anyhow::Result<()> {
        // The message of a bare I/O error, as before codes, with the code of a write.
        let write = |e: std::io::Error| Tagged {
            code: "lrx::exec::write",
            message: e.to_string(),
        };
        std::fs::create_dir_all(&dir).map_err(write)?;
        write_atomic(
            &dir.join("spec.json"),
            &serde_json::to_vec_pretty(run).unwrap_or_default(),
        )
        .map_err(write)?;
        let job = job_of(run)?;
        let mut trainer = Trainer::new(&job, opts.device).map_err(|e| Tagged {
            code: crate::diag::Coded::code(&e),
            message: format!("building run `{}` ({}): {e}", run.id, run.task.label),
        })?;
        trainer.stop = Some(opts.stop.clone());
        let has_b = trainer.rule.has_backward_weights();
        let cfg = observe_config(run, has_b)?;
        let epochs = job.settings.epochs;
        let id = run.id.clone();
        emit(&Event::Start {
            run: id.clone(),
            epochs,
            resumed_from: None,
        });
        let ckpt_dir = dir.join("checkpoints");
        let mut observe_times = Vec::new();
        let mut observer = |epoch: u32, model: &Model, task: &Task| -> anyhow::Result<()> {
            let t = std::time::Instant::now();
            let save = run.observe.save_activations.then_some(dir.as_path());
            let rows = observe_model(model, task, run, &cfg, epoch, save)?;
            write_atomic(&obs_path(&dir, epoch), &encode_observations(&rows)?)?;
            observe_times.push(ObserveLog {
                epoch,
                seconds: t.elapsed().as_secs_f64(),
            });
            Ok(())
        };
        let mut progress = |p: Progress| {
            let ev = match p {
                Progress::Step { epoch, step, steps } => Event::Step {
                    run: id.clone(),
                    epoch: epoch + 1,
                    step,
                    steps,
                },
                Progress::Epoch(r) => Event::Epoch {
                    run: id.clone(),
                    epoch: r.epoch,
                    epochs,
                    train_loss: r.train_loss,
                    val_acc: r.val_acc,
                    seconds: r.seconds,
                },
                Progress::Checkpoint { epoch, .. } => Event::Checkpoint {
                    run: id.clone(),
                    epoch,
                },
            };
            emit(&ev);
        };
        let outcome = train_with(trainer, &job, &ckpt_dir, &mut observer, &mut progress)?;
        status.observe_seconds = observe_times;
        status.history = outcome
            .history()
            .iter()
            .map(|r| EpochLog {
                epoch: r.epoch,
                lr: r.lr,
                train_loss: r.train_loss,
                train_acc: r.train_acc,
                alignment_loss: r.alignment_loss,
                val_loss: r.val_loss,
                val_acc: r.val_acc,
                seconds: r.seconds,
                alignment: r.alignment.clone(),
            })
            .collect();
        match outcome {
            TrainOutcome::Completed { resumed_from, .. } => {
                status.resumed_from = resumed_from;
                let mut rows = vec![];
                for &e in &job.settings.checkpoints {
                    let p = obs_path(&dir, e);
                    let bytes = std::fs::read(&p).map_err(|err| Tagged {
                        code: "lrx::exec::read",
                        message: format!(
                            "observations of epoch {e} missing ({}): {err}",
                            p.display()
                        ),
                    })?;
                    let mut r = decode_observations(&bytes).map_err(|err| Tagged {
                        code: crate::diag::Coded::code(&err),
                        message: format!("observations of epoch {e} ({}) are unreadable: {err}; remove {} to retrain this run", p.display(), dir.display()),
                    })?;
                    rows.append(&mut r);
                }
                let meta = FileMetadata::new(
                    run.id.clone(),
                    spec_hash,
                    super::libtorch_version(),
                    opts.device_name.clone(),
                )
                .with_performance(super::run_performance(&status.history, &run.checkpoints));
                write_features(study, &run.rule.label, &meta, &rows)?;
                status.status = "done".into();
                // The checkpoint is only needed to resume; the features are written.
                let _ = std::fs::remove_dir_all(&ckpt_dir);
            }
            TrainOutcome::Diverged {
                epoch,
                resumed_from,
                ..
            } => {
                status.resumed_from = resumed_from;
                status.status = "diverged".into();
                status.diverged_epoch = Some(epoch);
                status.error = Some(format!(
                    "the loss became non-finite in epoch {epoch} (learning rate {}); the run is recorded as diverged and left out of the features",
                    run.lr
                ));
            }
            TrainOutcome::Interrupted { resumed_from, .. } => {
                status.resumed_from = resumed_from;
                status.status = "interrupted".into();
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        status.status = "failed".into();
        status.error = Some(format!("{e:#}"));
        status.error_code = super::error::code_of(&e).map(str::to_string);
    }
    status.seconds = t0.elapsed().as_secs_f64();
    if let Err(e) = write_atomic(
        &super::status_path(study, &run.id),
        &serde_json::to_vec_pretty(&status).unwrap_or_default(),
    ) {
        status.status = "failed".into();
        status.error = Some(format!("cannot write the status file: {e}"));
        status.error_code = Some("lrx::exec::write".into());
    }
    emit(&Event::End {
        run: run.id.clone(),
        status: status.status.clone(),
        error: status.error.clone(),
        seconds: status.seconds,
    });
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::observable::{LayerPosition, ObservableId};

    /// Non-finite observables survive the per-checkpoint files bit for bit (a realism condition
    /// can make a statistic NaN or infinite; the features must store it as it is).
    #[test]
    fn observation_files_keep_non_finite_values() {
        let row = |v: f64| ObservationRow {
            epoch: 3,
            layer: "conv1".into(),
            layer_index: 0,
            layer_position: LayerPosition::Early,
            observable: ObservableId::parse("actraw_kurtosis").unwrap(),
            noise_sigma: 0.5,
            unit_fraction: 0.25,
            realism_seed: 1,
            value: v,
            measurement: Default::default(),
        };
        let rows: Vec<ObservationRow> =
            [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 1.5e-300]
                .into_iter()
                .map(row)
                .collect();
        let back = decode_observations(&encode_observations(&rows).unwrap()).unwrap();
        assert_eq!(back.len(), rows.len());
        for (a, b) in rows.iter().zip(&back) {
            assert_eq!(a.value.to_bits(), b.value.to_bits());
            assert_eq!(a.observable, b.observable);
        }
    }
}
