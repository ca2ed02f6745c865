//! `lrx export-reference`: everything an independent implementation needs to train the same
//! network as one run of a study, on the same bytes, from the same initial weights, in the same
//! batch order (issue 19; the consumer is `scripts/ref/knet_ref.py`). The format is written up
//! in docs/learning.md "Reference export".

use super::ExecError;
use crate::exec::engine::layers::Role;
use crate::exec::engine::train::{Schedule, Trainer};
use crate::plan::RunSpec;
use crate::value::{Call, Value};
use serde_json::{Map, Value as Json, json};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Version of the export layout (bump on any change of files or meaning).
pub const FORMAT: i64 = 1;

fn call_json(c: &Call) -> Json {
    let mut m = Map::new();
    m.insert("name".into(), Json::String(c.name.clone()));
    for (k, v) in &c.params {
        m.insert(k.clone(), value_json(v));
    }
    Json::Object(m)
}

/// The schedule as the reference reads it: `{"name": "constant"}` or `{"name": "warmup_steps",
/// "warmup_epochs", "milestones", "gamma"}`; the rate at step s of epoch e (both from 0, S steps
/// an epoch) is `base_lr` × the schedule's factor at the epoch position e + s/S.
fn schedule_json(s: &Schedule) -> Json {
    match s {
        Schedule::Constant => json!({ "name": "constant" }),
        Schedule::WarmupSteps {
            warmup_epochs,
            milestones,
            gamma,
        } => json!({
            "name": "warmup_steps", "warmup_epochs": warmup_epochs, "milestones": milestones,
            "gamma": gamma,
        }),
    }
}

fn value_json(v: &Value) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

fn npy(t: &Tensor, path: &Path) -> Result<(), ExecError> {
    t.write_npy(path).map_err(|source| ExecError::WriteTensor {
        path: path.to_path_buf(),
        source,
    })
}

/// Write the export of `run` to `out` (created; existing files are overwritten). Fails with
/// [`ExecError::ExportUnsupported`] for a run the reference cannot replay (contrastive
/// training, augmentation), the errors of [`super::task::job_of`] and of building the network
/// ([`ExecError::Engine`]), and [`ExecError::Write`] naming a file that cannot be written.
pub(crate) fn export_reference(run: &RunSpec, out: &Path) -> Result<(), ExecError> {
    let job = super::task::job_of(run)?;
    let tr = Trainer::new(&job, Device::Cpu)?;
    if tr.temperature.is_some() {
        return Err(ExecError::ExportUnsupported(
            "the reference export covers supervised training only".into(),
        ));
    }
    let (flip, shift) = (tr.aug.flip, tr.aug.shift);
    if flip || shift != 0 {
        return Err(ExecError::ExportUnsupported(format!(
            "run {} augments its inputs (flip = {flip}, shift = {shift}): the reference \
             cannot replay augmentation draws; set `flip = false, shift = 0` in the task",
            run.id
        )));
    }
    std::fs::create_dir_all(out.join("init")).map_err(|e| ExecError::create(out, e))?;
    // Parameters in PyTorch's layout: conv [out, in, kh, kw] for W and B; dense W [out, in]
    // (lrx stores dense W as [in, out]) and B [out, in] (dx = dy · B).
    let dense: std::collections::BTreeSet<String> = tr
        .model
        .aligned_layers()
        .iter()
        .filter(|l| matches!(l.kind, crate::exec::engine::layers::LayerKind::Dense))
        .map(|l| l.name.clone())
        .collect();
    let mut params = vec![];
    for p in tr.model.params() {
        let (layer, part) = p.name.split_once('/').unwrap_or((p.name.as_str(), ""));
        let t = p.tensor.detach().to_kind(Kind::Float).contiguous();
        let t = if dense.contains(layer) && p.role == Role::Kernel && t.dim() == 2 {
            t.tr().contiguous()
        } else {
            t
        };
        // A BatchNorm's parameters are named `conv1/bn/gamma`: one file per parameter, flat in
        // `init/` (`conv1.bn.gamma.npy`).
        let file = format!("init/{}.{}.npy", layer, part.replace('/', "."));
        npy(&t, &out.join(&file))?;
        let role = match p.role {
            Role::Kernel => "forward",
            Role::Bias => "bias",
            Role::Backward => "backward",
            Role::BnScale => "bn_scale",
            Role::BnShift => "bn_shift",
            Role::Buffer => "buffer",
        };
        params.push(json!({
            "name": p.name, "file": file, "shape": t.size(), "role": role,
            "trainable": p.trainable(), "weight_decayed": p.weight_decayed(),
        }));
    }
    let epochs = job.settings.epochs;
    let mut order = vec![];
    for e in 0..epochs {
        let (steps, _) = tr.epoch_order(e);
        order.extend(steps.into_iter().flatten());
    }
    let steps = tr.n_steps();
    let per_epoch = (order.len() / epochs.max(1) as usize) as i64;
    npy(
        &Tensor::from_slice(&order).view([i64::from(epochs), per_epoch]),
        &out.join("order.npy"),
    )?;
    let task = &tr.task;
    for (name, ex, n) in [
        ("train", &task.train, task.n_train()),
        ("val", &task.val, task.n_val()),
    ] {
        let x = ex.range(0, n)?;
        if x.kind() != Kind::Uint8 {
            return Err(ExecError::ExportUnsupported(
                "the reference export covers image tasks (u8 pixels) only".into(),
            ));
        }
        npy(&x.contiguous(), &out.join(format!("{name}_x.npy")))?;
        npy(
            &ex.labels().to_kind(Kind::Int64),
            &out.join(format!("{name}_y.npy")),
        )?;
    }
    let (mean, std) = task.normalization();
    let s = &job.settings;
    let manifest = json!({
        "format": FORMAT,
        "run_id": run.id,
        "lrx_version": env!("CARGO_PKG_VERSION"),
        "task": {
            "name": task.name, "channels": task.channels, "height": task.height,
            "width": task.width, "classes": task.classes, "n_train": task.n_train(),
            "n_val": task.n_val(), "mean": mean, "std": std,
        },
        "arch": call_json(&crate::registry::complete(&task.fill_arch(&job.arch))),
        "rule": call_json(&crate::registry::complete(&job.rule)),
        "settings": {
            "lr": s.lr, "batch": s.batch, "epochs": s.epochs, "weight_decay": s.weight_decay,
            "steps_per_epoch": steps, "base_lr": s.base_lr(), "schedule": schedule_json(&s.schedule),
            "model_seed": s.model_seed, "data_seed": s.data_seed,
        },
        "params": params,
    });
    // A `serde_json::Value` always serializes.
    let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    super::write_atomic(&out.join("manifest.json"), &text)
        .map_err(|e| ExecError::write("manifest.json", e))
}
