//! `lrx import`: recorded neural activity in the study's feature layout (issue 23, item 3).
//!
//! A recordings file (JSON, docs/reference/recordings.md) declares, per recording (one
//! trajectory), its sessions in order — each a `[stimuli × units]` `.npy` array and the epoch
//! (checkpoint) it stands for — and which units form each "layer" with its `layer_position`.
//! Every session is reduced by the observer itself ([`CheckpointObserver`], plain condition,
//! `act` observables only), so identical arrays give identical features, and written as
//! `DIR/features/rule=<rule>/run=<id>/part-0.parquet` + `DIR/runs.parquet` + `DIR/import.json`,
//! which `features::reader` reads like a study.

use crate::exec::observe::{CheckpointObserver, JacobianVia, ObservableLayer, ObserveConfig};
use crate::features::observable::{LayerPosition, Measure, ObservableId};
use crate::features::schema::{ObservationRow, RunRecord};
use crate::features::writer::{FileMetadata, write_features, write_runs};
use serde::{Deserialize, Serialize};

pub use crate::features::recordings::{
    NwbSource, RecordedLayer, Recording, RecordingsFile, Session, UNKNOWN_RULE,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Errors of `lrx import`, each naming the file and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file cannot be read or written.
    #[error("`{path}`: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// The recordings file is not valid JSON of the documented form, or is inconsistent.
    #[error("recordings file `{path}`: {message}")]
    Manifest {
        /// The recordings file.
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
    /// A session array is not a 2-D float32/float64 C-order `.npy`.
    #[error("session file `{path}`: {message}")]
    BadArray {
        /// The `.npy` file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An NWB file lacks a group or dataset lrx reads, or it is malformed.
    #[error("NWB file `{path}`, `/{object}`: {message}")]
    Nwb {
        /// The NWB file.
        path: PathBuf,
        /// The HDF5 group or dataset.
        object: String,
        /// What is missing or wrong.
        message: String,
    },
    /// A layer names a unit the session does not have.
    #[error(
        "session file `{path}`: layer `{layer}` names unit {unit}, not among the session's {units} units"
    )]
    UnitNotFound {
        /// The `.npy` file.
        path: PathBuf,
        /// The layer.
        layer: String,
        /// The missing unit (column index or unit id).
        unit: i64,
        /// The session's number of units.
        units: usize,
    },
    /// A layer selects units by a location no unit of the session has.
    #[error(
        "session file `{path}`: layer `{layer}` selects location `{location}`, which no unit's electrodes have (locations: {available})"
    )]
    LocationNotFound {
        /// The NWB file.
        path: PathBuf,
        /// The layer.
        layer: String,
        /// The location asked for.
        location: String,
        /// The session's locations, comma-separated.
        available: String,
    },
    /// The observer failed on a session (its statistics).
    #[error("session file `{path}`: {source}")]
    Observe {
        /// The `.npy` file.
        path: PathBuf,
        /// The observer's error.
        source: crate::exec::observe::ObserveError,
    },
    /// Writing the feature files failed.
    #[error(transparent)]
    Write(#[from] crate::features::writer::WriteError),
}

impl crate::diag::Coded for ImportError {
    fn code(&self) -> &'static str {
        match self {
            ImportError::Io { .. } => "lrx::import::io",
            ImportError::Manifest { .. } => "lrx::import::manifest",
            ImportError::BadArray { .. } => "lrx::import::bad_array",
            ImportError::Nwb { .. } => "lrx::import::nwb",
            ImportError::UnitNotFound { .. } => "lrx::import::unit_not_found",
            ImportError::LocationNotFound { .. } => "lrx::import::location_not_found",
            ImportError::Observe { source, .. } => source.code(),
            ImportError::Write(e) => e.code(),
        }
    }
}

/// What [`import`] wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportManifest {
    /// SHA-256 of the recordings file.
    pub spec_hash: String,
    /// This lrx's version.
    pub lrx_version: String,
    /// Every source file read, with its SHA-256.
    pub sources: Vec<SourceFile>,
    /// The recording ids written, in order.
    pub runs: Vec<String>,
}

/// A source file of an import and its checksum.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceFile {
    /// The path as read.
    pub path: PathBuf,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path).map_err(|e| ImportError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// A 2-D `.npy` array as float64, row-major: `(rows, cols, values)`.
pub(crate) fn parse_npy(path: &Path, buf: &[u8]) -> Result<(usize, usize, Vec<f64>), ImportError> {
    let bad = |m: String| ImportError::BadArray {
        path: path.to_path_buf(),
        message: m,
    };
    if buf.len() < 10 || &buf[..6] != b"\x93NUMPY" {
        return Err(bad("not an .npy file (no \\x93NUMPY magic)".into()));
    }
    let (hlen, off) = match buf[6] {
        1 => (u16::from_le_bytes([buf[8], buf[9]]) as usize, 10),
        2 | 3 if buf.len() >= 12 => (
            u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported .npy version {v}"))),
    };
    let header = buf
        .get(off..off + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("truncated or non-text .npy header".into()))?;
    let after = |key: &str| -> Result<&str, ImportError> {
        header
            .find(key)
            .map(|i| header[i + key.len()..].trim_start())
            .ok_or_else(|| bad(format!("no {key} in the .npy header")))
    };
    let descr = after("'descr':")?.trim_start_matches('\'');
    let descr = &descr[..descr.find('\'').unwrap_or(0)];
    if after("'fortran_order':")?.starts_with("True") {
        return Err(bad(
            "Fortran-order array; save it in C order (np.ascontiguousarray)".into(),
        ));
    }
    let sh = after("'shape':")?;
    let sh = &sh[sh.find('(').map_or(0, |i| i + 1)..sh.find(')').unwrap_or(0)];
    let shape: Vec<usize> = sh
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("bad shape in the .npy header: {e}")))?;
    let [rows, cols] = shape[..] else {
        return Err(bad(format!(
            "shape {shape:?}: expected 2-D (stimuli × units)"
        )));
    };
    let data = &buf[off + hlen..];
    let (size, values): (usize, Vec<f64>) = match descr {
        "<f8" => (
            8,
            data.chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
        ),
        "<f4" => (
            4,
            data.chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64)
                .collect(),
        ),
        d => {
            return Err(bad(format!(
                "dtype `{d}`: expected little-endian float32 (<f4) or float64 (<f8)"
            )));
        }
    };
    if data.len() != rows * cols * size {
        return Err(bad(format!(
            "{} data bytes for shape ({rows}, {cols}) of {descr}: truncated file",
            data.len()
        )));
    }
    if rows == 0 || cols == 0 {
        return Err(bad(format!("empty array of shape ({rows}, {cols})")));
    }
    Ok((rows, cols, values))
}

/// A layer for the observer that is just a name: the recorded responses are its output.
struct Recorded<'a>(&'a str);

impl ObservableLayer for Recorded<'_> {
    fn name(&self) -> &str {
        self.0
    }
    fn kernel(&self) -> Tensor {
        // Never read: recordings have no weights and only act observables are requested.
        Tensor::zeros([0], (Kind::Double, tch::Device::Cpu))
    }
    fn forward_layer(&self, x: &Tensor, _: JacobianVia) -> Tensor {
        x.shallow_clone()
    }
}

/// The `act` observables to compute: the named ones, else every `act` candidate.
pub(crate) fn act_observables(
    names: Option<&[String]>,
    path: &Path,
) -> Result<Vec<ObservableId>, ImportError> {
    let Some(names) = names else {
        return Ok(ObservableId::candidates()
            .into_iter()
            .filter(|o| o.measure == Measure::Act)
            .collect());
    };
    let manifest = |message: String| ImportError::Manifest {
        path: path.to_path_buf(),
        message,
    };
    if names.is_empty() {
        return Err(manifest("`observables` is empty".into()));
    }
    names
        .iter()
        .map(|n| {
            let o = ObservableId::parse(n).map_err(|e| manifest(format!("`observables`: {e}")))?;
            if o.measure != Measure::Act {
                return Err(manifest(format!(
                    "`observables`: `{n}` is not an act observable (recordings have no weights \
                     and no activity change)"
                )));
            }
            Ok(o)
        })
        .collect()
}

/// Observe one session: each layer's columns of `x` (`[stimuli × units]`, row-major) through the
/// observer, plain condition. Rows in order layer → observable.
pub(crate) fn observe_session(
    epoch: i64,
    layers: &[RecordedLayer],
    observables: &[ObservableId],
    (rows, cols, x): (usize, usize, &[f64]),
    ids: &[i64],
    path: &Path,
) -> Result<Vec<ObservationRow>, ImportError> {
    let names: Vec<Recorded> = layers.iter().map(|l| Recorded(&l.name)).collect();
    let dyns: Vec<&dyn ObservableLayer> = names.iter().map(|l| l as &dyn ObservableLayer).collect();
    let positions: Vec<LayerPosition> = layers.iter().map(|l| l.position).collect();
    let cfg = ObserveConfig {
        observables: observables.to_vec(),
        ..ObserveConfig::default()
    };
    let obs_err = |source| ImportError::Observe {
        path: path.to_path_buf(),
        source,
    };
    let mut obs = CheckpointObserver::new(&dyns, Some(&positions), epoch, cfg).map_err(obs_err)?;
    let all = Tensor::from_slice(x).reshape([rows as i64, cols as i64]);
    for (i, l) in layers.iter().enumerate() {
        let y = match &l.units {
            None => all.shallow_clone(),
            Some(units) => {
                let idx = units
                    .iter()
                    .map(|&u| match ids.iter().position(|&i| i == u) {
                        Some(c) => Ok(c as i64),
                        None => Err(ImportError::UnitNotFound {
                            path: path.to_path_buf(),
                            layer: l.name.clone(),
                            unit: u,
                            units: cols,
                        }),
                    })
                    .collect::<Result<Vec<i64>, _>>()?;
                all.index_select(1, &Tensor::from_slice(&idx))
            }
        };
        obs.observe_output(i, None, &y).map_err(obs_err)?;
    }
    obs.finish().map_err(obs_err)
}

/// The layers with every `location` replaced by the ids of the session's units in it (NWB
/// units, `nwb::unit_locations`); the layers unchanged when none selects by location.
fn by_location(
    layers: &[RecordedLayer],
    path: &Path,
    ids: &[i64],
) -> Result<Vec<RecordedLayer>, ImportError> {
    if layers.iter().all(|l| l.location.is_none()) {
        return Ok(layers.to_vec());
    }
    let locs = nwb::unit_locations(path)?;
    layers
        .iter()
        .map(|l| {
            let Some(want) = &l.location else {
                return Ok(l.clone());
            };
            let units: Vec<i64> = ids
                .iter()
                .zip(&locs)
                .filter(|(_, loc)| *loc == want)
                .map(|(id, _)| *id)
                .collect();
            if units.is_empty() {
                let mut available: Vec<&str> = locs.iter().map(String::as_str).collect();
                available.sort_unstable();
                available.dedup();
                return Err(ImportError::LocationNotFound {
                    path: path.to_path_buf(),
                    layer: l.name.clone(),
                    location: want.clone(),
                    available: available.join(", "),
                });
            }
            Ok(RecordedLayer {
                units: Some(units),
                location: None,
                ..l.clone()
            })
        })
        .collect()
}

fn validate(file: &RecordingsFile, path: &Path) -> Result<(), ImportError> {
    let manifest = |message: String| ImportError::Manifest {
        path: path.to_path_buf(),
        message,
    };
    if file.recordings.is_empty() {
        return Err(manifest("no recordings".into()));
    }
    let mut ids = std::collections::BTreeSet::new();
    for r in &file.recordings {
        let at = format!("recording `{}`", r.id);
        if r.id.is_empty() || r.id.contains(['/', '\\']) {
            return Err(manifest(format!(
                "recording id `{}` must be non-empty and contain no path separator",
                r.id
            )));
        }
        if !ids.insert(r.id.as_str()) {
            return Err(manifest(format!("{at} is declared twice")));
        }
        match (r.format.as_str(), &r.nwb) {
            ("plain", None) | ("nwb", Some(_)) => {}
            ("plain", Some(_)) => {
                return Err(manifest(format!(
                    "{at}: `nwb` is given but the format is `plain`"
                )));
            }
            ("nwb", None) => {
                return Err(manifest(format!(
                    "{at}: format `nwb` needs `nwb`: {{\"responses\": \"units\" or a RoiResponseSeries path, \"intervals\": TABLE}}"
                )));
            }
            (f, _) => {
                return Err(manifest(format!(
                    "{at}: format `{f}` is not supported (`plain`: one .npy per session; `nwb`: one NWB 2.x file per session)"
                )));
            }
        }
        if r.layers.is_empty() {
            return Err(manifest(format!("{at} has no layers")));
        }
        for (i, l) in r.layers.iter().enumerate() {
            if r.layers[..i].iter().any(|m| m.name == l.name) {
                return Err(manifest(format!(
                    "{at}: layer `{}` is declared twice",
                    l.name
                )));
            }
            if l.units.as_ref().is_some_and(|u| u.is_empty()) {
                return Err(manifest(format!("{at}: layer `{}` has no units", l.name)));
            }
            if l.location.is_some() && l.units.is_some() {
                return Err(manifest(format!(
                    "{at}: layer `{}` gives both `units` and `location`; give one",
                    l.name
                )));
            }
            if l.location.is_some() && r.nwb.as_ref().is_none_or(|n| n.responses != "units") {
                return Err(manifest(format!(
                    "{at}: layer `{}` selects by `location`, which needs NWB units (`\"responses\": \"units\"`)",
                    l.name
                )));
            }
        }
        if r.sessions.is_empty() {
            return Err(manifest(format!("{at} has no sessions")));
        }
        for w in r.sessions.windows(2) {
            if w[1].epoch <= w[0].epoch {
                return Err(manifest(format!(
                    "{at}: session epochs must increase (epoch {} after {})",
                    w[1].epoch, w[0].epoch
                )));
            }
        }
    }
    Ok(())
}

/// Import every recording of the JSON recordings file `path` into `out` (the study layout).
/// A recordings spec (`.lrx`) is checked first (`check::check_recordings_path`), then
/// imported with [`import_checked`].
pub fn import(path: &Path, out: &Path) -> Result<ImportManifest, ImportError> {
    let text = read_bytes(path)?;
    let file: RecordingsFile =
        serde_json::from_slice(&text).map_err(|e| ImportError::Manifest {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let spec_hash = sha256_hex(&text);
    import_declared(&file, path, spec_hash.clone(), spec_hash, out)
}

/// Import the recordings of a checked recordings spec at `spec` (its session files are
/// relative to the spec's directory) into `out`. The manifest's `spec_hash` is the spec's
/// (as `lrx check` computes it for a study: the file and its imports).
pub fn import_checked(
    file: &RecordingsFile,
    spec: &Path,
    out: &Path,
) -> Result<ImportManifest, ImportError> {
    let sha = sha256_hex(&read_bytes(spec)?);
    import_declared(file, spec, file.spec_hash.clone(), sha, out)
}

fn import_declared(
    file: &RecordingsFile,
    path: &Path,
    spec_hash: String,
    spec_sha256: String,
    out: &Path,
) -> Result<ImportManifest, ImportError> {
    validate(file, path)?;
    let observables = act_observables(file.observables.as_deref(), path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut sources = vec![SourceFile {
        path: path.to_path_buf(),
        sha256: spec_sha256,
    }];
    let mut records = Vec::new();
    for r in &file.recordings {
        let mut rows = Vec::new();
        for s in &r.sessions {
            let p = base.join(&s.file);
            let bytes = read_bytes(&p)?;
            let (n, u, x, ids) = match &r.nwb {
                None => {
                    let (n, u, x) = parse_npy(&p, &bytes)?;
                    (n, u, x, (0..u as i64).collect::<Vec<_>>())
                }
                Some(src) => nwb::read_session(&p, src)?,
            };
            let layers = by_location(&r.layers, &p, &ids)?;
            rows.extend(observe_session(
                s.epoch,
                &layers,
                &observables,
                (n, u, &x),
                &ids,
                &p,
            )?);
            sources.push(SourceFile {
                path: p,
                sha256: sha256_hex(&bytes),
            });
        }
        let rule = r.rule.clone().unwrap_or_else(|| UNKNOWN_RULE.into());
        let meta = FileMetadata::new(
            r.id.clone(),
            spec_hash.clone(),
            crate::libtorch_version(),
            "recording",
        );
        write_features(out, &rule, &meta, &rows)?;
        records.push(RunRecord {
            run_id: r.id.clone(),
            rule,
            status: "done".into(),
            factors: Default::default(),
            performance: Default::default(),
        });
    }
    let meta = FileMetadata::new(
        "",
        spec_hash.clone(),
        crate::libtorch_version(),
        "recording",
    );
    write_runs(out, &records, &meta)?;
    let manifest = ImportManifest {
        spec_hash,
        lrx_version: env!("CARGO_PKG_VERSION").to_string(),
        sources,
        runs: file.recordings.iter().map(|r| r.id.clone()).collect(),
    };
    let mp = out.join("import.json");
    std::fs::write(
        &mp,
        serde_json::to_string_pretty(&manifest).expect("manifest serialises"),
    )
    .map_err(|e| ImportError::Io {
        path: mp,
        message: e.to_string(),
    })?;
    Ok(manifest)
}

#[cfg(feature = "nwb")]
mod nwb;
/// Without the `nwb` feature: NWB sessions are refused with a clear error.
#[cfg(not(feature = "nwb"))]
mod nwb {
    use super::{ImportError, NwbSource};
    use std::path::Path;
    pub(crate) fn read_session(
        path: &Path,
        _: &NwbSource,
    ) -> Result<(usize, usize, Vec<f64>, Vec<i64>), ImportError> {
        Err(ImportError::Nwb {
            path: path.to_path_buf(),
            object: String::new(),
            message: "this lrx was built without the `nwb` feature (HDF5); rebuild with it".into(),
        })
    }
    pub(crate) fn unit_locations(path: &Path) -> Result<Vec<String>, ImportError> {
        read_session(
            path,
            &NwbSource {
                responses: String::new(),
                intervals: String::new(),
                stimulus: None,
            },
        )
        .map(|_| Vec::new())
    }
}
#[cfg(test)]
mod tests;
