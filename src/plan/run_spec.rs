//! [`RunSpec`]: one fully concrete training run, and its id.

use super::FEATURE_SCHEMA_VERSION;
use crate::ir::{Factor, Hyper, Observe, Point, RealismCondition, Study};
use crate::value::{Call, Value};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Parameters that say where data lives, not what it is: excluded from run ids so the same
/// study has the same ids in every lab.
pub(super) const LOCATION_PARAMS: &[&str] = &[
    "path",
    "val_path",
    "load",
    // `idx_images`'s file names inside `path`
    "train_images",
    "train_labels",
    "val_images",
    "val_labels",
];

use crate::registry::later::at_later_default;

/// Whether a parameter of builtin `call` takes part in run ids.
fn in_id(call: &str, k: &str, v: &Value) -> bool {
    !LOCATION_PARAMS.contains(&k) && !at_later_default(call, k, v)
}

/// Layer name and position group, for the runs table and the features.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Layer {
    /// Canonical layer name (`conv1`, `fc4`, `block_group1_0/conv0`).
    pub name: String,
    /// Its position group: `early`, `middle` or `deep`.
    pub position: String,
}

/// A fully concrete training run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSpec {
    /// The run id: 16 hex digits of the hash of its identity (`Identity`, `lrx why`).
    pub id: String,
    /// The study's name.
    pub study: String,
    /// The name of the `train` block the run comes from.
    pub sweep: String,
    /// The run's hyperparameters, as its sweep point has them (flattened: `manifest.json`
    /// lists them beside `id`, as before `Hyper` existed). `RunSpec` dereferences to it, so
    /// `run.lr` reads `run.hyper.lr`.
    #[serde(flatten)]
    pub hyper: Hyper,
    /// Shared by every run of the study (an `Arc`: a 100,000-run plan must not copy it).
    pub observe: Arc<Observe>,
    /// Realism conditions observed for this run (empty: plain observables only).
    pub realism: Arc<Vec<RealismCondition>>,
    /// The network's observed layers, in order (shared by the runs of one architecture).
    pub layers: Arc<Vec<Layer>>,
}

impl std::ops::Deref for RunSpec {
    type Target = Hyper;
    fn deref(&self) -> &Hyper {
        &self.hyper
    }
}

/// The identity of a run: the fields hashed into its id, in sorted order.
struct Identity<'a> {
    arch: &'a str,
    batch: i64,
    checkpoints: &'a [i64],
    data_seed: u64,
    epochs: i64,
    lr: f64,
    model_seed: u64,
    observe: &'a str,
    realism: &'a str,
    rule: &'a str,
    schedule: &'a str,
    schema_version: u32,
    task: &'a str,
    weight_decay: f64,
}

impl Identity<'_> {
    /// SHA-256 over a length-prefixed binary encoding of the fields in declaration order
    /// (strings as bytes, integers as i64 — seeds as u64, the same bytes for every seed up to
    /// 2⁶³ − 1, so ids from before seeds reached 2⁶⁴ − 1 are unchanged — and floats as IEEE
    /// bits, little endian); the first 16
    /// hex digits. Calls, observables and realism settings enter as the SHA-256 of their
    /// canonical JSON (what `lrx why` prints), so the id is a function of that document.
    fn id(&self) -> String {
        let mut h = Sha256::new();
        let key = |h: &mut Sha256, k: &str| {
            h.update(k.as_bytes());
            h.update([0u8]);
        };
        // Sub-digests enter with their first 16 hex digits (64 bits each).
        let s = |h: &mut Sha256, k: &str, v: &str| {
            let v = &v[..v.len().min(16)];
            key(h, k);
            h.update((v.len() as u64).to_le_bytes());
            h.update(v.as_bytes());
        };
        s(&mut h, "arch", self.arch);
        h.update(b"batch\0");
        h.update(self.batch.to_le_bytes());
        h.update(b"checkpoints\0");
        h.update((self.checkpoints.len() as u64).to_le_bytes());
        for c in self.checkpoints {
            h.update(c.to_le_bytes());
        }
        h.update(b"data_seed\0");
        h.update(self.data_seed.to_le_bytes());
        h.update(b"epochs\0");
        h.update(self.epochs.to_le_bytes());
        h.update(b"lr\0");
        h.update(self.lr.to_bits().to_le_bytes());
        h.update(b"model_seed\0");
        h.update(self.model_seed.to_le_bytes());
        s(&mut h, "observe", self.observe);
        s(&mut h, "realism", self.realism);
        s(&mut h, "rule", self.rule);
        s(&mut h, "schedule", self.schedule);
        h.update(b"schema_version\0");
        h.update(u64::from(self.schema_version).to_le_bytes());
        s(&mut h, "task", self.task);
        h.update(b"weight_decay\0");
        h.update(self.weight_decay.to_bits().to_le_bytes());
        crate::value::hex(&h.finalize()[..8])
    }
}

/// A call minus its data-location parameters.
#[derive(Serialize)]
struct CallId<'a> {
    name: &'a str,
    params: std::collections::BTreeMap<&'a str, &'a Value>,
}

fn call_id(c: &Call) -> CallId<'_> {
    CallId {
        name: &c.name,
        params: c
            .params
            .iter()
            .filter(|(k, v)| in_id(&c.name, k, v))
            .map(|(k, v)| (k.as_str(), v))
            .collect(),
    }
}

/// Writes serde output straight into the hasher.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Parts of the id shared by every run (hashed once: a 100,000-run plan must stay fast).
pub(super) struct Shared {
    observe_hash: String,
    realism_hash: String,
    observe: Arc<Observe>,
    conditions: Arc<Vec<RealismCondition>>,
    no_conditions: Arc<Vec<RealismCondition>>,
    /// Layers per (architecture call, contrastive), computed once.
    layers: std::cell::RefCell<[std::collections::HashMap<Call, Arc<Vec<Layer>>>; 2]>,
    /// Layers and cost terms per (task, architecture) pair of shared calls, by address (the
    /// `Arc`s kept here pin the addresses).
    pairs: std::cell::RefCell<std::collections::HashMap<(usize, usize), PairInfo>>,
    /// Digest of each distinct call's identity, computed once.
    digests: std::cell::RefCell<std::collections::HashMap<Call, Arc<str>>>,
    /// The same, by the address of a shared call (points share their calls' `Arc`s).
    by_ptr: std::cell::RefCell<std::collections::HashMap<usize, Arc<str>>>,
}

impl Shared {
    pub(super) fn new(study: &Study) -> Self {
        let conditions: Vec<RealismCondition> = study
            .realism
            .as_ref()
            .map(|r| r.conditions())
            .unwrap_or_default();
        let h = |v: serde_json::Value| hash_hex(canonical_json(&v).as_bytes());
        Shared {
            observe_hash: h(serde_json::to_value(&study.observe).unwrap_or_default()),
            realism_hash: h(serde_json::to_value(&conditions).unwrap_or_default()),
            observe: Arc::new(study.observe.clone()),
            conditions: Arc::new(conditions),
            no_conditions: Arc::new(Vec::new()),
            layers: Default::default(),
            pairs: Default::default(),
            digests: Default::default(),
            by_ptr: Default::default(),
        }
    }

    fn digest_arc(&self, c: &Arc<Call>) -> Arc<str> {
        let k = Arc::as_ptr(c) as usize;
        if let Some(d) = self.by_ptr.borrow().get(&k) {
            return d.clone();
        }
        let d = self.digest(c);
        self.by_ptr.borrow_mut().insert(k, d.clone());
        d
    }

    fn digest(&self, c: &Call) -> Arc<str> {
        if let Some(d) = self.digests.borrow().get(c) {
            return d.clone();
        }
        let mut w = HashWriter(Sha256::new());
        serde_json::to_writer(&mut w, &call_id(c)).expect("serialising to a hasher cannot fail");
        let d: Arc<str> = crate::value::hex(&w.0.finalize()).into();
        self.digests.borrow_mut().insert(c.clone(), d.clone());
        d
    }
}

/// What a (task, architecture) pair determines for its runs.
#[derive(Clone)]
struct PairInfo {
    _pins: (Arc<Call>, Arc<Call>),
    layers: Arc<Vec<Layer>>,
    cost: super::cost::TaskArch,
}

impl Shared {
    fn pair(&self, p: &Point) -> PairInfo {
        let k = (
            Arc::as_ptr(&p.task.call) as usize,
            Arc::as_ptr(&p.arch.call) as usize,
        );
        if let Some(i) = self.pairs.borrow().get(&k) {
            return i.clone();
        }
        let cost = super::cost::TaskArch::new(&p.task.call, &p.arch.call);
        let contrastive = usize::from(cost.contrastive);
        let cached = self.layers.borrow()[contrastive].get(&p.arch.call).cloned();
        let layers = match cached {
            Some(l) => l,
            None => {
                let l: Arc<Vec<Layer>> = Arc::new(
                    super::run_layers(p)
                        .into_iter()
                        .map(|l| Layer {
                            name: l.name,
                            position: l.position.as_str().to_string(),
                        })
                        .collect(),
                );
                self.layers.borrow_mut()[contrastive].insert((*p.arch.call).clone(), l.clone());
                l
            }
        };
        let info = PairInfo {
            _pins: (p.task.call.clone(), p.arch.call.clone()),
            layers,
            cost,
        };
        self.pairs.borrow_mut().insert(k, info.clone());
        info
    }
}

fn hash_hex(b: &[u8]) -> String {
    crate::value::hex(&Sha256::digest(b))
}

/// The identity-bearing content of a call: name and parameters, minus data locations.
fn identity(c: &Call) -> serde_json::Value {
    let params: serde_json::Map<String, serde_json::Value> = c
        .params
        .iter()
        .filter(|(k, v)| in_id(&c.name, k, v))
        .map(|(k, v)| (k.clone(), value_json(v)))
        .collect();
    serde_json::json!({ "name": c.name, "params": params })
}

fn value_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

impl RunSpec {
    /// The run of a point, and the cost terms of its task and architecture.
    pub(super) fn new(
        study: &Study,
        sweep: &str,
        p: &Point,
        shared: &Shared,
        with_realism: bool,
    ) -> (Self, super::cost::TaskArch) {
        let pair = shared.pair(p);
        let (dt, da, dr, ds) = (
            shared.digest_arc(&p.task.call),
            shared.digest_arc(&p.arch.call),
            shared.digest_arc(&p.rule.call),
            shared.digest_arc(&p.schedule),
        );
        let realism = if with_realism {
            shared.conditions.clone()
        } else {
            shared.no_conditions.clone()
        };
        let ident = Identity {
            arch: &da,
            batch: p.batch,
            checkpoints: &p.checkpoints,
            data_seed: p.data_seed,
            epochs: p.epochs,
            lr: p.lr,
            model_seed: p.model_seed,
            observe: &shared.observe_hash,
            realism: if with_realism {
                &shared.realism_hash
            } else {
                ""
            },
            rule: &dr,
            schedule: &ds,
            schema_version: FEATURE_SCHEMA_VERSION,
            task: &dt,
            weight_decay: p.weight_decay,
        };
        let id = ident.id();
        let run = RunSpec {
            id,
            study: study.name.clone(),
            sweep: sweep.to_string(),
            hyper: p.hyper.clone(),
            observe: shared.observe.clone(),
            realism,
            layers: pair.layers,
        };
        (run, pair.cost)
    }

    /// The id recomputed from [`Self::identity_json`] (with the observables and realism
    /// settings hashed as in the plan); equals `self.id`.
    pub fn recompute_id(&self) -> String {
        let v = self.identity_json();
        let h = |x: &serde_json::Value| hash_hex(canonical_json(x).as_bytes());
        let (dt, da, dr, ds) = (
            h(&v["task"]),
            h(&v["arch"]),
            h(&v["rule"]),
            h(&v["schedule"]),
        );
        let observe = h(&v["observe"]);
        let realism = if self.realism.is_empty() {
            String::new()
        } else {
            h(&v["realism"])
        };
        Identity {
            arch: &da,
            batch: self.batch,
            checkpoints: &self.checkpoints,
            data_seed: self.data_seed,
            epochs: self.epochs,
            lr: self.lr,
            model_seed: self.model_seed,
            observe: &observe,
            realism: &realism,
            rule: &dr,
            schedule: &ds,
            schema_version: FEATURE_SCHEMA_VERSION,
            task: &dt,
            weight_decay: self.weight_decay,
        }
        .id()
    }

    /// The identity document of this run (what `lrx why` prints).
    pub fn identity_json(&self) -> serde_json::Value {
        serde_json::json!({
            "schema_version": FEATURE_SCHEMA_VERSION,
            "task": identity(&self.task.call),
            "arch": identity(&self.arch.call),
            "rule": identity(&self.rule.call),
            "lr": self.lr,
            "batch": self.batch,
            "epochs": self.epochs,
            "checkpoints": self.checkpoints,
            "weight_decay": self.weight_decay,
            "schedule": identity(&self.schedule),
            "model_seed": self.model_seed,
            "data_seed": self.data_seed,
            "observe": serde_json::to_value(&*self.observe).unwrap_or_default(),
            "realism": serde_json::to_value(&*self.realism).unwrap_or_default(),
        })
    }

    /// A run factor as a string (`rule`, `arch`, `batch`, ...): [`Hyper::factor`].
    pub fn factor(&self, f: Factor) -> String {
        self.hyper.factor(f)
    }
}

/// JSON with object keys sorted recursively and no whitespace: the same document gives the
/// same bytes on every machine, whatever order fields were written in.
pub fn canonical_json(v: &serde_json::Value) -> String {
    fn canon(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), canon(&m[k]));
                }
                serde_json::Value::Object(out)
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(canon).collect()),
            x => x.clone(),
        }
    }
    serde_json::to_string(&canon(v)).unwrap_or_default()
}

/// A run id: the first 16 hex digits of SHA-256 over the canonical JSON.
pub fn run_id(body: &serde_json::Value) -> String {
    hash_hex(canonical_json(body).as_bytes())[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::later::{LATER_BUILTIN_PARAMS, LATER_PARAMS, REGIME_DEFAULTS};

    /// Options added later leave a call's identity alone at their defaults (so existing
    /// studies keep their run ids) and enter it at any other value.
    #[test]
    fn later_params_at_their_defaults_leave_ids_alone() {
        let base = Call::new("ia").with("alpha", Value::Float(2e-3));
        let id = |c: &Call| canonical_json(&identity(c));
        let mut all = base.clone();
        for (k, d) in LATER_PARAMS.iter().chain(REGIME_DEFAULTS) {
            all = all.with(k, d.value());
        }
        assert_eq!(id(&base), id(&all));
        // Per-builtin later parameters leave their builtin's identity alone at their old
        // value, and only theirs: IA's (older) `batch_center_backward_input` stays in IA's.
        for (builtin, k, d) in LATER_BUILTIN_PARAMS {
            let v = d.value();
            // The schema's default is the old value, so a spec that leaves it out keeps its id.
            let schema = crate::registry::builtin(builtin).and_then(|b| b.param(k));
            assert_eq!(
                schema.and_then(|p| p.default.to_value()),
                Some(v.clone()),
                "{builtin}.{k}"
            );
            let c = Call::new(*builtin);
            assert_eq!(id(&c), id(&c.clone().with(k, v.clone())), "{builtin}.{k}");
            assert_ne!(id(&base), id(&base.clone().with(k, v)), "ia.{k}");
        }
        // `b_lr_scale = 1` written as an integer is the default too.
        assert_eq!(
            id(&base),
            id(&base.clone().with("b_lr_scale", Value::Int(1)))
        );
        for (k, v) in [
            ("b_optimizer", Value::Str("adam".into())),
            ("b_lr_scale", Value::Float(0.5)),
            ("alternate", Value::Int(1)),
            ("projection_bias", Value::Bool(true)),
            ("constrain_norm", Value::Bool(true)),
            ("top_feedback", Value::Str("shared".into())),
            ("backward_init", Value::Str("same_draws".into())),
        ] {
            assert_ne!(id(&base), id(&base.clone().with(k, v)), "{k}");
        }
    }
}
