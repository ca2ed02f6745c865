//! Study packs (`lrx pack`, `lrx reproduce PACK`; docs/run.md "`lrx pack`"): one `.tar.gz` archive with
//! a spec, every local file it imports, the stdlib modules it resolved against, a lock
//! (lrx and libtorch versions, device, run ids, a SHA-256 of every data file the tasks read)
//! and, when packed from a study directory, its features and results.
//!
//! Layout inside the archive (every path under one top folder, the study's name, so that
//! `tar xzf` makes one directory):
//!
//! ```text
//! <study>/lrxpack.json       the manifest (first entry; [`PackManifest`])
//! <study>/spec/…             the spec and its local imports, relative to their common folder
//! <study>/stdlib/<m>.lrx     the stdlib modules the spec imported, as this lrx resolved them
//! <study>/data/<k>-<task>/…  the data files, with `--with-data` only
//! <study>/study/…            manifest.json, study.json, runs.parquet, runs/*/status.json,
//!                            features/ and results/ of a study directory
//! ```
//!
//! Written by hand on the `tar` and `flate2` crates: no crate packs a study, and the format has
//! to stay a plain archive a person can open with `tar`. Packs are byte-for-byte reproducible
//! (entries in a fixed order, zero mtimes and owners).

pub(crate) mod collect;
pub(crate) mod data;

use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// The manifest's `format` value.
pub const FORMAT: &str = "lrxpack";
/// The manifest layout this lrx writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's file name (under the top folder).
pub const MANIFEST: &str = "lrxpack.json";

/// `lrxpack.json`: what a pack holds and the lock it was made under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackManifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The study's name (also the archive's top folder).
    pub study: String,
    /// The spec hash (`lrx plan` prints it; run ids do not depend on it).
    pub spec_hash: String,
    /// The spec to check, relative to the top folder (`spec/…`).
    pub entry: String,
    /// The version of the lrx that packed (`CARGO_PKG_VERSION`).
    pub lrx_version: String,
    /// libtorch of the lrx that packed ("unknown" in a build without it).
    pub libtorch_version: String,
    /// The study's `device` setting.
    pub device: String,
    /// The devices the packed study's runs trained on (from their status files; empty for a
    /// pack of a spec).
    pub trained_on: Vec<String>,
    /// The stdlib version of the lrx that packed (`stdlib::VERSION`).
    pub stdlib_version: i64,
    /// The run ids of the plan, in plan order.
    pub run_ids: Vec<String>,
    /// Every file of the archive except the manifest, in archive order.
    pub files: Vec<PackedFile>,
    /// Every location a task reads, with a checksum of each file.
    pub data: Vec<DataLocation>,
    /// Whether the data files are in the archive (`--with-data`).
    pub with_data: bool,
    /// Whether the archive holds a study directory's features and results (`study/`).
    pub with_study: bool,
}

/// A file of the archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackedFile {
    /// Relative to the top folder, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
}

/// One data location (a task's `path` or `val_path`) and its files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataLocation {
    /// The builtin (`fashion_mnist`, `cifar10`, `image_folder`, …).
    pub task: String,
    /// The tasks' labels in the spec that read it.
    pub labels: Vec<String>,
    /// `path` or `val_path`.
    pub param: String,
    /// The location as the spec gives it (resolved on the packing machine; relative paths are
    /// relative to the directory lrx ran in).
    pub location: String,
    /// Every file the tasks read there, sorted by path.
    pub files: Vec<DataFile>,
    /// Where the files are in the archive (`data/<k>-<task>`), with `--with-data`.
    pub packed: Option<String>,
}

/// A data file: its path relative to the location, size and checksum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataFile {
    /// Relative to the location, `/`-separated.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
}

/// Where an archive entry's bytes come from.
#[derive(Debug, Clone)]
pub enum Content {
    /// Bytes made in memory (the manifest, documents written for the pack).
    Bytes(Vec<u8>),
    /// A file on disk, streamed into the archive.
    File(PathBuf),
}

/// An archive entry to write: its path under the top folder and its content.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Relative to the top folder, `/`-separated.
    pub path: String,
    /// What the entry holds.
    pub content: Content,
}

impl Entry {
    /// Size and SHA-256 of the content (reads a file once).
    pub fn checksum(&self) -> Result<PackedFile, String> {
        let (sha256, bytes) = match &self.content {
            Content::Bytes(b) => (data::sha256(b), b.len() as u64),
            Content::File(p) => {
                data::sha256_file(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))?
            }
        };
        Ok(PackedFile {
            path: self.path.clone(),
            bytes,
            sha256,
        })
    }
}

/// Whether `p` is a safe relative archive path: `/`-separated normal components only (no
/// `..`, no root, nothing empty).
pub fn safe_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Writes the archive: the manifest first, then `entries` in order (the manifest's `files`
/// must list them). Atomic: a temporary file renamed over `out`.
pub fn write(out: &Path, manifest: &PackManifest, entries: &[Entry]) -> Result<(), String> {
    let top = &manifest.study;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pack".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let io = |e: std::io::Error| format!("cannot write `{}`: {e}", out.display());
    let r = (|| -> Result<(), String> {
        let f = std::fs::File::create(&tmp).map_err(io)?;
        let gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(std::io::BufWriter::new(f), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        tar.mode(tar::HeaderMode::Deterministic);
        let json = serde_json::to_vec_pretty(manifest).map_err(|e| e.to_string())?;
        tar.append_data(
            &mut header(json.len() as u64),
            format!("{top}/{MANIFEST}"),
            json.as_slice(),
        )
        .map_err(io)?;
        for e in entries {
            let path = format!("{top}/{}", e.path);
            match &e.content {
                Content::Bytes(b) => tar
                    .append_data(&mut header(b.len() as u64), &path, b.as_slice())
                    .map_err(io)?,
                Content::File(p) => {
                    let rd = |e: std::io::Error| format!("cannot read `{}`: {e}", p.display());
                    let f = std::fs::File::open(p).map_err(rd)?;
                    let n = f.metadata().map_err(rd)?.len();
                    tar.append_data(&mut header(n), &path, f).map_err(io)?;
                }
            }
        }
        let gz = tar.into_inner().map_err(io)?;
        let mut w = gz.finish().map_err(io)?;
        w.flush().map_err(io)?;
        w.into_inner()
            .map_err(|e| io(e.into_error()))?
            .sync_all()
            .map_err(io)?;
        std::fs::rename(&tmp, out).map_err(io)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Reads the manifest of a pack (its first entry) without extracting anything.
pub fn read_manifest(pack: &Path) -> Result<PackManifest, String> {
    let (m, _) = open(pack, None)?;
    Ok(m)
}

/// Extracts a pack into `dest` (the top folder's content lands in `dest`), checking every
/// entry's size and SHA-256 against the manifest on the way: a changed, extra or missing
/// entry is an error naming it. Returns the manifest and the number of files verified.
pub fn extract(pack: &Path, dest: &Path) -> Result<(PackManifest, usize), String> {
    open(pack, Some(dest))
}

fn open(pack: &Path, dest: Option<&Path>) -> Result<(PackManifest, usize), String> {
    let name = pack.display();
    let f = std::fs::File::open(pack).map_err(|e| format!("cannot open the pack `{name}`: {e}"))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
    let bad = |what: String| {
        format!("`{name}` is not a valid lrx pack: {what} (packs are written by `lrx pack`)")
    };
    let mut entries = ar.entries().map_err(|e| bad(e.to_string()))?;
    let first = entries
        .next()
        .ok_or_else(|| bad("the archive is empty".into()))?
        .map_err(|e| bad(e.to_string()))?;
    let mut first = first;
    let path = entry_path(&first).map_err(&bad)?;
    let (top, rest) = path.split_once('/').ok_or_else(|| {
        bad(format!(
            "its first entry `{path}` is not `<study>/{MANIFEST}`"
        ))
    })?;
    if rest != MANIFEST {
        return Err(bad(format!(
            "its first entry is `{path}`, not `{top}/{MANIFEST}`"
        )));
    }
    let mut json = vec![];
    first
        .read_to_end(&mut json)
        .map_err(|e| bad(e.to_string()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| bad(format!("{MANIFEST}: {e}")))?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(bad(format!("{MANIFEST} has no `\"format\": \"{FORMAT}\"`")));
    }
    let version = v
        .get("format_version")
        .and_then(|f| f.as_u64())
        .unwrap_or(0);
    if version != u64::from(FORMAT_VERSION) {
        return Err(format!(
            "`{name}` is a version {version} pack; this lrx ({}) reads version {FORMAT_VERSION}: use the lrx version that wrote it",
            env!("CARGO_PKG_VERSION")
        ));
    }
    let m: PackManifest = serde_json::from_value(v).map_err(|e| bad(format!("{MANIFEST}: {e}")))?;
    if m.study != top {
        return Err(bad(format!(
            "the top folder `{top}` is not the study `{}`",
            m.study
        )));
    }
    let Some(dest) = dest else {
        return Ok((m, 0));
    };
    let mut expect: std::collections::BTreeMap<&str, &PackedFile> =
        m.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut n = 0;
    for e in entries {
        let mut e = e.map_err(|e| bad(format!("the archive is damaged: {e}")))?;
        let path = entry_path(&e).map_err(&bad)?;
        let rel = path
            .strip_prefix(&format!("{top}/"))
            .ok_or_else(|| bad(format!("`{path}` is outside the top folder `{top}`")))?;
        let want = expect.remove(rel).ok_or_else(|| {
            bad(format!(
                "`{rel}` is not listed in {MANIFEST} (added after packing?)"
            ))
        })?;
        let target = dest.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
        }
        let (sha, bytes) = copy_hashing(&mut e, &target)
            .map_err(|err| format!("cannot extract `{rel}` to `{}`: {err}", target.display()))?;
        if sha != want.sha256 || bytes != want.bytes {
            return Err(format!(
                "`{name}` is damaged or was changed after packing: `{rel}` has SHA-256 {sha} ({bytes} bytes), the manifest says {} ({} bytes)",
                want.sha256, want.bytes
            ));
        }
        n += 1;
    }
    if let Some(missing) = expect.keys().next() {
        return Err(format!(
            "`{name}` is incomplete: `{missing}` (and {} more) listed in {MANIFEST} is not in the archive",
            expect.len() - 1
        ));
    }
    Ok((m, n))
}

fn entry_path<R: Read>(e: &tar::Entry<R>) -> Result<String, String> {
    if e.header().entry_type() != tar::EntryType::Regular {
        return Err(format!(
            "entry of type {:?}: packs hold regular files only",
            e.header().entry_type()
        ));
    }
    let p = e.path().map_err(|e| e.to_string())?;
    let s = p.to_string_lossy().into_owned();
    if !safe_path(&s) {
        return Err(format!("unsafe entry path `{s}`"));
    }
    Ok(s)
}

/// Copies `r` to a new file at `target` and returns the SHA-256 and size of what it copied.
fn copy_hashing(r: &mut impl Read, target: &Path) -> std::io::Result<(String, u64)> {
    data::sha256_copy(
        r,
        &mut std::io::BufWriter::new(std::fs::File::create(target)?),
    )
}

#[cfg(test)]
mod tests;
