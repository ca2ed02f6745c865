//! What goes into a pack ([`collect`]) and the check of a pack's data lock against this
//! machine's files ([`verify_data`]).

use super::data::{self, Location};
use super::{
    Content, DataFile, DataLocation, Entry, FORMAT, FORMAT_VERSION, PackManifest, PackedFile,
};
use crate::ir;
use crate::plan::Plan;
use crate::source::SourceMap;
use crate::value::Call;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to pack besides the spec.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// Copy the data files into the pack (else only their checksums).
    pub with_data: bool,
    /// A study directory whose features and results go in (`study/`).
    pub study_dir: Option<PathBuf>,
}

/// The plan's task calls, each once (runs share their task's `Arc`), with their labels.
fn task_calls(plan: &Plan) -> Vec<(&str, &Call)> {
    let mut seen = std::collections::HashSet::new();
    plan.runs
        .iter()
        .filter(|r| seen.insert((r.task.label.as_str(), std::sync::Arc::as_ptr(&r.task.call))))
        .map(|r| (r.task.label.as_str(), &*r.task.call))
        .collect()
}

/// Every location the plan's tasks read, deduplicated, in plan order, with the labels of the
/// tasks that read it. An error names the task and what is missing.
pub(crate) fn locations(plan: &Plan) -> Result<Vec<(String, Vec<String>, Location)>, String> {
    let mut out: Vec<(String, Vec<String>, Location)> = vec![];
    for (label, call) in task_calls(plan) {
        for loc in data::task_files(call).map_err(|e| format!("{e} (task `{label}`)"))? {
            match out
                .iter_mut()
                .find(|(t, _, l)| *t == call.name && l.param == loc.param && l.dir == loc.dir)
            {
                Some((_, labels, _)) => {
                    if !labels.iter().any(|l| l == label) {
                        labels.push(label.to_string());
                    }
                }
                None => out.push((call.name.clone(), vec![label.to_string()], loc)),
            }
        }
    }
    Ok(out)
}

/// The spec's local files (the entry first) as archive entries under `spec/`, relative to
/// their common folder, and the entry's archive path.
fn spec_entries(sources: &SourceMap, main: &Path) -> Result<(Vec<Entry>, String), String> {
    let main = std::fs::canonicalize(main)
        .map_err(|e| format!("cannot read `{}`: {e}", main.display()))?;
    let mut files: Vec<(PathBuf, std::sync::Arc<String>)> = vec![];
    for i in 0..sources.len() {
        let f = sources.get(crate::source::SourceId(i as u32));
        if let Some(p) = &f.path {
            let p = std::fs::canonicalize(p)
                .map_err(|e| format!("cannot read `{}`: {e}", p.display()))?;
            if !files.iter().any(|(q, _)| *q == p) {
                files.push((p, f.text.clone()));
            }
        }
    }
    if !files.iter().any(|(p, _)| *p == main) {
        return Err(format!(
            "`{}` is not among the files the check read",
            main.display()
        ));
    }
    // The deepest folder holding every file.
    let mut root = main.parent().map(Path::to_path_buf).unwrap_or_default();
    while !files.iter().all(|(p, _)| p.starts_with(&root)) {
        root = root
            .parent()
            .map(Path::to_path_buf)
            .ok_or("the spec's files share no folder")?;
    }
    let rel = |p: &Path| data::relative(&root, p);
    files.sort_by_key(|(p, _)| (*p != main, rel(p)));
    let entry = format!("spec/{}", rel(&main));
    let entries = files
        .iter()
        .map(|(p, text)| Entry {
            path: format!("spec/{}", rel(p)),
            // The text the check read (a file changed since would not match the hash).
            content: Content::Bytes(text.as_bytes().to_vec()),
        })
        .collect();
    Ok((entries, entry))
}

/// The stdlib modules the spec imported, as this lrx's embedded text.
fn stdlib_entries(sources: &SourceMap) -> Vec<Entry> {
    let mut v: Vec<Entry> = (0..sources.len())
        .map(|i| sources.get(crate::source::SourceId(i as u32)))
        .filter(|f| f.path.is_none())
        .filter_map(|f| {
            crate::stdlib::module_of_source(&f.name).map(|m| Entry {
                path: format!("stdlib/{m}.lrx"),
                content: Content::Bytes(f.text.as_bytes().to_vec()),
            })
        })
        .collect();
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v.dedup_by(|a, b| a.path == b.path);
    v
}

/// The files of a study directory a pack carries, relative to it, sorted: the manifest, the
/// checked study, the runs table and status files, the features and the results (not the
/// checkpoints, logs or temporary files).
pub(crate) fn study_files(dir: &Path) -> Result<Vec<String>, String> {
    let mut out = vec![];
    for f in ["manifest.json", "study.json", "runs.parquet"] {
        if dir.join(f).is_file() {
            out.push(f.to_string());
        }
    }
    if !dir.join("manifest.json").is_file() {
        return Err(format!(
            "`{}` is not a study directory (no manifest.json; `lrx run` writes one)",
            dir.display()
        ));
    }
    let runs = dir.join("runs");
    if runs.is_dir() {
        let mut ids: Vec<String> = std::fs::read_dir(&runs)
            .map_err(|e| format!("cannot list `{}`: {e}", runs.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|id| runs.join(id).join("status.json").is_file())
            .collect();
        ids.sort();
        out.extend(ids.into_iter().map(|id| format!("runs/{id}/status.json")));
    }
    for sub in ["features", "results"] {
        let mut v = vec![];
        walk(dir, &dir.join(sub), &mut v)?;
        v.sort();
        out.extend(v);
    }
    Ok(out)
}

/// Every visible regular file below `d` (hidden `.`/`_` files are temporary or ignored by
/// the readers), relative to `root`.
fn walk(root: &Path, d: &Path, out: &mut Vec<String>) -> Result<(), String> {
    if !d.is_dir() {
        return Ok(());
    }
    let rd = std::fs::read_dir(d).map_err(|e| format!("cannot list `{}`: {e}", d.display()))?;
    for e in rd {
        let e = e.map_err(|e| format!("cannot list `{}`: {e}", d.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out)?;
        } else if p.is_file() {
            let rel = data::relative(root, &p);
            if super::safe_path(&rel) {
                out.push(rel);
            }
        }
    }
    Ok(())
}

/// The devices a study directory's runs trained on (their status files), sorted, distinct.
fn trained_on(dir: &Path, files: &[String]) -> Vec<String> {
    let mut v: Vec<String> = files
        .iter()
        .filter(|f| f.ends_with("/status.json"))
        .filter_map(|f| std::fs::read(dir.join(f)).ok())
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter_map(|s| s.get("device")?.as_str().map(str::to_string))
        .filter(|d| !d.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The manifest and entries of a pack of the checked spec at `spec` (its sources, study and
/// plan as `lrx plan` made them). Reads and checksums every data file the tasks read.
pub(crate) fn collect(
    spec: &Path,
    sources: &SourceMap,
    study: &ir::Study,
    plan: &Plan,
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<(PackManifest, Vec<Entry>), String> {
    let (mut entries, entry) = spec_entries(sources, spec)?;
    entries.extend(stdlib_entries(sources));
    let mut data_locs = vec![];
    // The checksums of the copied data files, taken once for the lock and the entry list.
    let mut known: Vec<PackedFile> = vec![];
    let locs = locations(plan)?;
    for (k, (task, labels, loc)) in locs.into_iter().enumerate() {
        progress(&format!(
            "checksumming {} file(s) of `{}` ({})",
            loc.files.len(),
            loc.dir.display(),
            task
        ));
        let packed = opts.with_data.then(|| format!("data/{k}-{task}"));
        let mut files = vec![];
        for name in &loc.files {
            let p = loc.dir.join(name);
            let (sha256, bytes) = data::sha256_file(&p)
                .map_err(|e| format!("cannot read the data file `{}`: {e}", p.display()))?;
            if let Some(dst) = &packed {
                let path = format!("{dst}/{name}");
                known.push(PackedFile {
                    path: path.clone(),
                    bytes,
                    sha256: sha256.clone(),
                });
                entries.push(Entry {
                    path,
                    content: Content::File(p),
                });
            }
            files.push(DataFile {
                name: name.clone(),
                bytes,
                sha256,
            });
        }
        data_locs.push(DataLocation {
            task,
            labels,
            param: loc.param.to_string(),
            location: loc.dir.to_string_lossy().into_owned(),
            files,
            packed,
        });
    }
    let mut devices = vec![];
    if let Some(dir) = &opts.study_dir {
        let files = study_files(dir)?;
        devices = trained_on(dir, &files);
        entries.extend(files.into_iter().map(|f| Entry {
            content: Content::File(dir.join(&f)),
            path: format!("study/{f}"),
        }));
    }
    let mut packed = vec![];
    for e in &entries {
        packed.push(match known.iter().position(|k| k.path == e.path) {
            Some(i) => known.swap_remove(i),
            None => e.checksum()?,
        });
    }
    let manifest = PackManifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        study: plan.study.clone(),
        spec_hash: plan.spec_hash.clone(),
        entry,
        lrx_version: env!("CARGO_PKG_VERSION").into(),
        libtorch_version: crate::libtorch_version().into(),
        device: study.device.clone(),
        trained_on: devices,
        stdlib_version: crate::stdlib::VERSION,
        run_ids: plan.runs.iter().map(|r| r.id.clone()).collect(),
        files: packed,
        data: data_locs,
        with_data: opts.with_data,
        with_study: opts.study_dir.is_some(),
    };
    Ok((manifest, entries))
}

/// One difference between a pack's data lock and this machine's files.
#[cfg_attr(not(feature = "torch"), allow(dead_code))] // read by `lrx run` only
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DataProblem {
    /// A location of the lock that the plan here does not read, or reads no more.
    Unread { location: String },
    /// The location or a file cannot be read here.
    Missing { location: String, what: String },
    /// A file whose content differs.
    Changed {
        path: String,
        sha256: String,
        expected: String,
    },
    /// A file of a folder task that the pack's lock does not have.
    Added { path: String },
}

impl std::fmt::Display for DataProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataProblem::Unread { location } => {
                write!(
                    f,
                    "`{location}`: in the pack's lock, not read by the spec here"
                )
            }
            DataProblem::Missing { location, what } => write!(f, "`{location}`: {what}"),
            DataProblem::Changed {
                path,
                sha256,
                expected,
            } => write!(
                f,
                "`{path}` changed: SHA-256 {sha256}, the pack's lock says {expected}"
            ),
            DataProblem::Added { path } => write!(
                f,
                "`{path}` is not in the pack's lock (added since; a folder task would train on it)"
            ),
        }
    }
}

/// Checks the data the plan's tasks read here against a pack's lock: every file present with
/// the locked checksum, no file added to a folder. Empty when everything matches. `checked`
/// receives the number of files hashed.
#[cfg_attr(not(feature = "torch"), allow(dead_code))] // read by `lrx run` only
pub(crate) fn verify_data(
    manifest: &PackManifest,
    plan: &Plan,
    checked: &mut usize,
) -> Vec<DataProblem> {
    let mut problems = vec![];
    // The locations the plan reads here, by (task, param, location); a task whose data is
    // missing here reports that instead of a file list.
    let mut here: BTreeMap<(String, String, String), Result<Vec<String>, String>> = BTreeMap::new();
    for (_, call) in task_calls(plan) {
        match data::task_files(call) {
            Ok(locs) => {
                for l in locs {
                    here.insert(
                        (
                            call.name.clone(),
                            l.param.to_string(),
                            l.dir.to_string_lossy().into_owned(),
                        ),
                        Ok(l.files),
                    );
                }
            }
            Err(e) => {
                // Which of the lock's locations this task would read.
                for d in manifest.data.iter().filter(|d| d.task == call.name) {
                    let v = call.params.get(&d.param).and_then(|v| v.as_str());
                    if v == Some(d.location.as_str()) {
                        here.insert(
                            (d.task.clone(), d.param.clone(), d.location.clone()),
                            Err(e.clone()),
                        );
                    }
                }
            }
        }
    }
    for d in &manifest.data {
        let key = (d.task.clone(), d.param.clone(), d.location.clone());
        let files = match here.remove(&key) {
            None => {
                problems.push(DataProblem::Unread {
                    location: d.location.clone(),
                });
                continue;
            }
            Some(Err(e)) => {
                problems.push(DataProblem::Missing {
                    location: d.location.clone(),
                    what: e,
                });
                continue;
            }
            Some(Ok(f)) => f,
        };
        let dir = Path::new(&d.location);
        for f in &d.files {
            let p = dir.join(&f.name);
            match data::sha256_file(&p) {
                Err(e) => problems.push(DataProblem::Missing {
                    location: p.to_string_lossy().into_owned(),
                    what: e.to_string(),
                }),
                Ok((sha, _)) => {
                    *checked += 1;
                    if sha != f.sha256 {
                        problems.push(DataProblem::Changed {
                            path: p.to_string_lossy().into_owned(),
                            sha256: sha,
                            expected: f.sha256.clone(),
                        });
                    }
                }
            }
        }
        for name in files {
            if !d.files.iter().any(|f| f.name == name) {
                problems.push(DataProblem::Added {
                    path: dir.join(&name).to_string_lossy().into_owned(),
                });
            }
        }
    }
    // Locations read here that the lock does not have are a different spec; the run-id
    // comparison reports that, so they are not listed twice.
    problems
}
