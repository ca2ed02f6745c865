//! The files a task reads, without libtorch: what the engine's folder tasks read through
//! ([`class_dirs`], [`files_with`]) and what a study pack checksums and `lrx reproduce`
//! verifies ([`task_files`]), so the list is exactly the files training opens.

use crate::idx;
use crate::value::Call;
use std::path::{Path, PathBuf};

/// Image extensions `image_folder` reads (any case).
pub(crate) const IMAGE_EXTS: &[&str] = &["png", "jpg", "jpeg"];
/// Audio extensions `audio_folder` reads (any case).
pub(crate) const AUDIO_EXTS: &[&str] = &["wav"];

/// One location a task reads (a `path` or `val_path` parameter) and the files under it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Location {
    /// The parameter that names it.
    pub param: &'static str,
    /// Its value, as the spec resolved it.
    pub dir: PathBuf,
    /// The files read, relative to `dir` (`/`-separated), sorted.
    pub files: Vec<String>,
}

/// The class directories of a data folder (one directory per class), sorted by name.
pub(crate) fn class_dirs(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut v = vec![];
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.path().is_dir() {
            v.push((e.file_name().to_string_lossy().into_owned(), e.path()));
        }
    }
    v.sort();
    Ok(v)
}

/// Files of a class directory whose extension (any case) is one of `exts`, sorted.
pub(crate) fn files_with(dir: &Path, exts: &[&str]) -> std::io::Result<Vec<PathBuf>> {
    let mut v = vec![];
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let ext = p
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        if ext.is_some_and(|e| exts.contains(&e.as_str())) {
            v.push(p);
        }
    }
    v.sort();
    Ok(v)
}

/// The files of every class folder of `dir` with one of `exts`, relative to `dir`.
fn folder_files(dir: &Path, exts: &[&str]) -> Result<Vec<String>, String> {
    let io = |e: std::io::Error| format!("cannot list `{}`: {e}", dir.display());
    let mut out = vec![];
    for (_, d) in class_dirs(dir).map_err(io)? {
        for f in files_with(&d, exts).map_err(io)? {
            out.push(relative(dir, &f));
        }
    }
    Ok(out)
}

/// `f` relative to `dir`, `/`-separated (an archive or lock path).
pub(crate) fn relative(dir: &Path, f: &Path) -> String {
    f.strip_prefix(dir)
        .unwrap_or(f)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The locations a task call reads and their files: empty for the tasks that generate their
/// data. An error names the task, the location and what is missing.
pub(crate) fn task_files(call: &Call) -> Result<Vec<Location>, String> {
    let name = call.name.as_str();
    let path = |key: &str| {
        call.params
            .get(key)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    let missing = |dir: &Path, what: &str| {
        format!(
            "the data of task `{name}` is incomplete: `{}` {what}",
            dir.display()
        )
    };
    match name {
        "fashion_mnist" | "idx_images" => {
            let dir = path("path").ok_or_else(|| format!("task `{name}` has no `path`"))?;
            let mut files = vec![];
            for n in idx::Files::of(&call.params).names() {
                let f = idx::locate(&dir, n)
                    .ok_or_else(|| missing(&dir, &format!("lacks `{n}` (plain or .gz)")))?;
                files.push(relative(&dir, &f));
            }
            Ok(vec![Location {
                param: "path",
                dir,
                files,
            }])
        }
        "cifar10" => {
            let dir = path("path").ok_or_else(|| format!("task `{name}` has no `path`"))?;
            let mut files: Vec<String> = (1..=5).map(|i| format!("data_batch_{i}.bin")).collect();
            files.push("test_batch.bin".into());
            if let Some(f) = files.iter().find(|f| !dir.join(f).is_file()) {
                return Err(missing(&dir, &format!("lacks `{f}`")));
            }
            Ok(vec![Location {
                param: "path",
                dir,
                files,
            }])
        }
        "image_folder" | "audio_folder" => {
            let exts = if name == "image_folder" {
                IMAGE_EXTS
            } else {
                AUDIO_EXTS
            };
            let dir = path("path").ok_or_else(|| format!("task `{name}` has no `path`"))?;
            if !dir.is_dir() {
                return Err(missing(&dir, "is not a directory"));
            }
            let mut out = vec![];
            match path("val_path") {
                Some(v) => {
                    if !v.is_dir() {
                        return Err(missing(&v, "(`val_path`) is not a directory"));
                    }
                    out.push(Location {
                        param: "path",
                        files: folder_files(&dir, exts)?,
                        dir,
                    });
                    out.push(Location {
                        param: "val_path",
                        files: folder_files(&v, exts)?,
                        dir: v,
                    });
                }
                None => {
                    // image_folder reads train/ and val/ when both exist (the engine's rule).
                    let split = name == "image_folder"
                        && dir.join("train").is_dir()
                        && dir.join("val").is_dir();
                    let files = if split {
                        let mut f = vec![];
                        for sub in ["train", "val"] {
                            f.extend(
                                folder_files(&dir.join(sub), exts)?
                                    .into_iter()
                                    .map(|x| format!("{sub}/{x}")),
                            );
                        }
                        f
                    } else {
                        folder_files(&dir, exts)?
                    };
                    out.push(Location {
                        param: "path",
                        dir,
                        files,
                    });
                }
            }
            Ok(out)
        }
        _ => Ok(vec![]),
    }
}
