//! Checkpoints: model, optimizer state and history at an epoch, written atomically (temp file
//! and rename) and read back bit-identically; the marker of the last observed epoch.

use super::{EpochRecord, Trainer};
use crate::exec::engine::error::{EngineError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

impl Trainer {
    pub(super) fn ckpt_paths(dir: &Path, epoch: u32) -> (PathBuf, PathBuf) {
        (
            dir.join(format!("ckpt_{epoch:04}.pt")),
            dir.join(format!("ckpt_{epoch:04}.json")),
        )
    }

    /// Save model + optimizer state + history at `epoch` (temp file + rename).
    pub(crate) fn save_checkpoint(
        &self,
        dir: &Path,
        epoch: u32,
        job_key: &str,
        history: &[EpochRecord],
    ) -> Result<PathBuf> {
        let (pt, js) = Self::ckpt_paths(dir, epoch);
        let mut named = self.model.named_tensors();
        named.extend(self.opt.state_tensors());
        if let Some(b) = &self.b_opt {
            named.extend(b.state_tensors());
        }
        let keys: Vec<String> = named.iter().map(|(k, _)| k.clone()).collect();
        let slots: Vec<(String, Tensor)> = named
            .into_iter()
            .enumerate()
            .map(|(i, (_, t))| (format!("t{i}"), t.to_device(Device::Cpu)))
            .collect();
        let tmp = pt.with_extension("pt.tmp");
        Tensor::save_multi(&slots, &tmp)
            .map_err(|e| EngineError::torch(format!("saving checkpoint {}", tmp.display()), e))?;
        std::fs::rename(&tmp, &pt).map_err(|e| EngineError::io("renaming checkpoint", &tmp, e))?;
        let meta = CkptMeta {
            epoch,
            job_key: job_key.to_string(),
            keys,
            history: history.to_vec(),
        };
        write_atomic(&js, &serde_json::to_vec_pretty(&meta).expect("json"))?;
        Ok(pt)
    }

    /// Load a checkpoint written by [`Trainer::save_checkpoint`]; returns its history.
    pub(crate) fn load_checkpoint(
        &mut self,
        dir: &Path,
        epoch: u32,
        job_key: &str,
    ) -> Result<Vec<EpochRecord>> {
        let (pt, js) = Self::ckpt_paths(dir, epoch);
        let bad = |msg: String| EngineError::Checkpoint {
            path: js.clone(),
            msg,
        };
        let text = std::fs::read(&js)
            .map_err(|e| EngineError::io("reading checkpoint metadata", &js, e))?;
        let meta: CkptMeta = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        if meta.job_key != job_key {
            return Err(bad("was written by a different job (arch/rule/task/objective/settings changed); remove the run directory to start over".into()));
        }
        let slots = Tensor::load_multi(&pt)
            .map_err(|e| EngineError::torch(format!("loading checkpoint {}", pt.display()), e))?;
        let by_slot: BTreeMap<String, Tensor> = slots.into_iter().collect();
        let mut named = BTreeMap::new();
        for (i, k) in meta.keys.iter().enumerate() {
            let t = by_slot
                .get(&format!("t{i}"))
                .ok_or_else(|| bad(format!("tensor file lacks slot t{i} ({k})")))?;
            named.insert(k.clone(), t.to_device(self.device));
        }
        self.model.load_named(&named)?;
        self.opt.load_state(&named, self.device)?;
        if let Some(b) = &mut self.b_opt {
            b.load_state(&named, self.device)?;
        }
        Ok(meta.history)
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct CkptMeta {
    pub(super) epoch: u32,
    pub(super) job_key: String,
    pub(super) keys: Vec<String>,
    pub(super) history: Vec<EpochRecord>,
}

#[derive(Serialize, Deserialize, Default)]
pub(super) struct ObservedMarker {
    pub(super) last_observed: Option<u32>,
}

pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fsx::write_atomic(path, bytes).map_err(|e| EngineError::io("writing", path, e))
}
