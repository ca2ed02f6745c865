//! The evaluation cache of the stage (resume): an evaluation whose `results/eval/<id>.json` was
//! written by an earlier stage for the same configuration and the same feature table is read
//! back instead of refitted. The key ([`cache_key`]) covers the id, the table's contents
//! ([`table_digest`]) and the configuration; it is stored beside the result as `<id>.key`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::expand::EvalSpec;
use super::results::{RESULTS_SCHEMA_VERSION, to_json};
use super::{Result, StageError};
use crate::classify::data::FeatureTable;
use crate::classify::eval::EvalResult;

/// SHA-256 of a classifier table's contents (statistics, trajectories, positions, labels,
/// factors): part of the resume key of every evaluation on it.
pub(super) fn table_digest(t: &FeatureTable) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let field = |h: &mut Sha256, s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    for s in &t.stats {
        field(&mut h, s);
    }
    h.update(
        t.x.shape()
            .iter()
            .flat_map(|d| (*d as u64).to_le_bytes())
            .collect::<Vec<u8>>(),
    );
    for v in t.x.iter() {
        h.update(v.to_bits().to_le_bytes());
    }
    h.update(&t.position);
    for l in &t.label {
        field(&mut h, l);
    }
    for (k, vs) in &t.factors {
        field(&mut h, k);
        for v in vs {
            field(&mut h, v);
        }
    }
    format!("{:x}", h.finalize())
}

/// The resume key of an evaluation: its id, its table's digest and its configuration.
pub(super) fn cache_key(s: &EvalSpec, table_digest: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(RESULTS_SCHEMA_VERSION.to_le_bytes());
    h.update(s.id.as_bytes());
    h.update([0]);
    h.update(table_digest.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(&s.config).unwrap_or_default());
    format!("{:x}", h.finalize())
}

/// The result of an earlier stage for this evaluation, if its key file matches and its JSON
/// reads back (anything else means: compute it again).
pub(super) fn read_cached(edir: &Path, id: &str, key: &str) -> Option<EvalResult> {
    let k = std::fs::read_to_string(edir.join(format!("{id}.key"))).ok()?;
    if k.trim() != key {
        return None;
    }
    let text = std::fs::read(edir.join(format!("{id}.json"))).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Writes `eval/<id>.json`, then its key file (a crash in between leaves a stale key that does
/// not match, or no key: either way the evaluation is recomputed).
pub(super) fn write_cached(edir: &Path, id: &str, key: &str, r: &EvalResult) -> Result<()> {
    let kpath = edir.join(format!("{id}.key"));
    let _ = std::fs::remove_file(&kpath);
    write_atomic(&edir.join(format!("{id}.json")), &to_json(r))?;
    write_atomic(&kpath, format!("{key}\n").as_bytes())
}

/// [`crate::fsx::write_atomic`] with the stage's error.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fsx::write_atomic(path, bytes).map_err(|source| StageError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The resume keys of `specs` (each on its table; a table shared by several is digested once)
/// and the results an earlier stage left for them.
pub(super) fn lookup(
    specs: &[EvalSpec],
    tables: &[Arc<FeatureTable>],
    edir: &Path,
) -> (Vec<String>, Vec<Option<EvalResult>>) {
    let mut digests: BTreeMap<*const FeatureTable, String> = BTreeMap::new();
    let keys: Vec<String> = specs
        .iter()
        .zip(tables)
        .map(|(s, t)| {
            let d = digests
                .entry(Arc::as_ptr(t))
                .or_insert_with(|| table_digest(t))
                .clone();
            cache_key(s, &d)
        })
        .collect();
    let cached = specs
        .iter()
        .zip(&keys)
        .map(|(s, k)| read_cached(edir, &s.id, k))
        .collect();
    (keys, cached)
}
