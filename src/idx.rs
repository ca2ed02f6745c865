//! IDX files (the MNIST format): unsigned-byte images (`idx3`) and labels (`idx1`), plain or
//! gzip-compressed, read and checked without libtorch (the engine's `fashion_mnist` and
//! `idx_images` tasks build on it; the checker uses [`data_path_problem`]).
//!
//! Format (big endian): a magic number `0x0000 TT DD` (TT = 0x08 for unsigned bytes, DD the
//! number of dimensions: 3 for images, 1 for labels), one u32 per dimension, then the data in
//! row-major order. Every problem is reported with the file and what is wrong: magic numbers,
//! dimensions, file length against the header, image count against label count, and labels
//! against the number of classes.

use crate::value::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A malformed, truncated or unreadable IDX file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {msg}", path.display())]
pub(crate) struct IdxError {
    pub path: PathBuf,
    pub msg: String,
}

fn err<T>(path: &Path, msg: impl Into<String>) -> Result<T, IdxError> {
    Err(IdxError {
        path: path.to_path_buf(),
        msg: msg.into(),
    })
}

/// Unsigned-byte images, `n` × `rows` × `cols`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Images {
    pub n: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

/// Magic numbers of the two kinds of file lrx reads.
pub(crate) const IMAGES_MAGIC: u32 = 0x0000_0803;
pub(crate) const LABELS_MAGIC: u32 = 0x0000_0801;

/// The whole content of an IDX file, decompressed when it is gzip (recognised by its magic
/// bytes `1f 8b`, whatever the file is called).
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, IdxError> {
    let raw = std::fs::read(path).or_else(|e| err(path, format!("cannot read: {e}")))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        // The gzip trailer's ISIZE (size mod 2³²) sizes the buffer for files under 4 GB.
        let hint = raw
            .len()
            .checked_sub(4)
            .map(|i| u32::from_le_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]) as usize)
            .unwrap_or(0);
        // (capped by deflate's largest ratio, so a corrupt trailer cannot ask for more)
        let mut out = Vec::with_capacity(hint.min(raw.len().saturating_mul(1032)));
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .or_else(|e| {
                err(
                    path,
                    format!(
                        "is gzip-compressed but cannot be decompressed (corrupt or truncated): {e}"
                    ),
                )
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be32(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// What a magic number says, for messages.
fn describe_magic(m: u32) -> String {
    if m >> 16 != 0 {
        return format!(
            "0x{m:08x}, which is not an IDX magic number (those start with two zero bytes)"
        );
    }
    let ty = match (m >> 8) & 0xff {
        0x08 => "unsigned bytes",
        0x09 => "signed bytes",
        0x0b => "16-bit integers",
        0x0c => "32-bit integers",
        0x0d => "32-bit floats",
        0x0e => "64-bit floats",
        _ => "an unknown data type",
    };
    format!("0x{m:08x} ({} dimension(s) of {ty})", m & 0xff)
}

/// Checks the header of an IDX file of unsigned bytes with `dims` dimensions and its length;
/// returns the dimensions.
fn header(path: &Path, b: &[u8], magic: u32, what: &str) -> Result<Vec<usize>, IdxError> {
    let dims = (magic & 0xff) as usize;
    let head = 4 + 4 * dims;
    if b.len() < 4 {
        return err(
            path,
            format!(
                "is truncated: {} bytes, shorter than the {head}-byte header of an IDX {what} file",
                b.len()
            ),
        );
    }
    let m = be32(b, 0);
    if m != magic {
        let hint = match m {
            IMAGES_MAGIC => " (this is an image file)",
            LABELS_MAGIC => " (this is a label file)",
            _ => "",
        };
        return err(
            path,
            format!(
                "has magic number {}{hint}; an IDX {what} file of unsigned bytes starts with 0x{magic:08x}",
                describe_magic(m)
            ),
        );
    }
    if b.len() < head {
        return err(
            path,
            format!(
                "is truncated: {} bytes, shorter than the {head}-byte header of an IDX {what} file",
                b.len()
            ),
        );
    }
    let d: Vec<usize> = (0..dims).map(|k| be32(b, 4 + 4 * k) as usize).collect();
    let body = d
        .iter()
        .try_fold(1usize, |a, &x| a.checked_mul(x))
        .filter(|&n| n <= usize::MAX - head);
    let Some(body) = body else {
        return err(
            path,
            format!("announces dimensions {d:?}, too large to read"),
        );
    };
    let want = head + body;
    let shape = d
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(" × ");
    if b.len() < want {
        return err(
            path,
            format!(
                "is truncated: its header announces {shape} bytes of data ({want} bytes with the header) but it has {} bytes{}",
                b.len(),
                if what == "image" && d[1] * d[2] > 0 {
                    format!(" ({} whole images)", (b.len() - head) / (d[1] * d[2]))
                } else {
                    String::new()
                }
            ),
        );
    }
    if b.len() > want {
        return err(
            path,
            format!(
                "has {} bytes after the {shape} bytes of data its header announces (expected {want} bytes in all): not a single IDX {what} file",
                b.len() - want
            ),
        );
    }
    Ok(d)
}

/// Parses the bytes of an IDX image file (`path` only names it in errors).
pub(crate) fn parse_images(path: &Path, b: Vec<u8>) -> Result<Images, IdxError> {
    let d = header(path, &b, IMAGES_MAGIC, "image")?;
    let (n, rows, cols) = (d[0], d[1], d[2]);
    if rows == 0 || cols == 0 {
        return err(path, format!("has images of {rows} × {cols} pixels"));
    }
    let mut pixels = b;
    pixels.drain(..16);
    Ok(Images {
        n,
        rows,
        cols,
        pixels,
    })
}

/// Parses the bytes of an IDX label file, checking every label is below `classes`.
pub(crate) fn parse_labels(path: &Path, b: Vec<u8>, classes: usize) -> Result<Vec<u8>, IdxError> {
    header(path, &b, LABELS_MAGIC, "label")?;
    let mut labels = b;
    labels.drain(..8);
    if let Some((i, &l)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| usize::from(**l) >= classes)
    {
        return err(
            path,
            format!(
                "label {l} at index {i} is not below the number of classes ({classes}); set `classes` to at least {}",
                usize::from(labels.iter().copied().max().unwrap_or(l)) + 1
            ),
        );
    }
    Ok(labels)
}

pub(crate) fn read_images(path: &Path) -> Result<Images, IdxError> {
    parse_images(path, read_bytes(path)?)
}

pub(crate) fn read_labels(path: &Path, classes: usize) -> Result<Vec<u8>, IdxError> {
    parse_labels(path, read_bytes(path)?, classes)
}

/// Images and their labels, checked to be as many.
pub(crate) fn read_pair(
    images: &Path,
    labels: &Path,
    classes: usize,
) -> Result<(Images, Vec<u8>), IdxError> {
    let x = read_images(images)?;
    let y = read_labels(labels, classes)?;
    if x.n != y.len() {
        return err(
            images,
            format!(
                "has {} images but its label file {} has {} labels",
                x.n,
                labels.display(),
                y.len()
            ),
        );
    }
    Ok((x, y))
}

/// The file `name` in `dir`: `dir/name` when it exists, else `dir/name.gz`; `None` when neither
/// does. (`name` may be absolute.)
pub(crate) fn locate(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = dir.join(name);
    if p.is_file() {
        return Some(p);
    }
    let gz = dir.join(format!("{name}.gz"));
    gz.is_file().then_some(gz)
}

/// The four files of an MNIST-format data set, by role.
#[derive(Debug, Clone, PartialEq)]
pub struct Files {
    pub train_images: String,
    pub train_labels: String,
    pub val_images: String,
    pub val_labels: String,
}

impl Default for Files {
    /// The MNIST names (also Fashion-MNIST's and KMNIST's), without `.gz`.
    fn default() -> Self {
        Files {
            train_images: "train-images-idx3-ubyte".into(),
            train_labels: "train-labels-idx1-ubyte".into(),
            val_images: "t10k-images-idx3-ubyte".into(),
            val_labels: "t10k-labels-idx1-ubyte".into(),
        }
    }
}

impl Files {
    /// The file names a task call names (`idx_images`), or the MNIST names.
    pub fn of(params: &BTreeMap<String, Value>) -> Files {
        let d = Files::default();
        let get = |k: &str, d: String| {
            params
                .get(k)
                .and_then(Value::as_str)
                .map_or(d, str::to_string)
        };
        Files {
            train_images: get("train_images", d.train_images),
            train_labels: get("train_labels", d.train_labels),
            val_images: get("val_images", d.val_images),
            val_labels: get("val_labels", d.val_labels),
        }
    }
    pub fn names(&self) -> [&str; 4] {
        [
            &self.train_images,
            &self.train_labels,
            &self.val_images,
            &self.val_labels,
        ]
    }
}

/// Where the Debian package `dataset-fashion-mnist` installs Fashion-MNIST.
pub(crate) const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// How to install it.
pub(crate) const FASHION_MNIST_INSTALL: &str = "sudo apt-get install dataset-fashion-mnist";

/// A task's data that is not where its call says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DataProblem {
    /// The parameter that names the location.
    pub param: &'static str,
    /// The checker's message: "the data of task `T` is missing: <what>".
    pub message: String,
    /// What is missing ("the directory `D` does not exist"), for the run-time error.
    pub what: String,
    /// How to fix it.
    pub help: String,
}

/// Whether the data of a task call (its builtin name and bound parameters) is missing:
/// `None` when it is there, or for tasks this does not know how to look for (the ones that
/// generate their data, and for now `cifar10`, `image_folder` and `audio_folder`). Cheap (file
/// existence only), so the checker calls it for every task.
pub(crate) fn data_path_problem(
    task: &str,
    params: &BTreeMap<String, Value>,
) -> Option<DataProblem> {
    if task != "fashion_mnist" && task != "idx_images" {
        return None;
    }
    let dir = params.get("path").and_then(Value::as_str)?;
    files_problem(task, dir, &Files::of(params))
}

/// [`data_path_problem`] of an IDX task (`fashion_mnist` or `idx_images`) whose files `files`
/// are in the directory `dir`.
pub(crate) fn files_problem(task: &str, dir: &str, files: &Files) -> Option<DataProblem> {
    let missing: Vec<String> = files
        .names()
        .iter()
        .filter(|n| locate(Path::new(dir), n).is_none())
        .map(|n| format!("`{n}`"))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let what = if Path::new(dir).is_dir() {
        format!(
            "the directory `{dir}` lacks {} (plain or .gz)",
            missing.join(", ")
        )
    } else {
        format!("the directory `{dir}` does not exist")
    };
    let help = if task == "fashion_mnist" {
        format!(
            "install Fashion-MNIST with `{FASHION_MNIST_INSTALL}` (it goes to {FASHION_MNIST_DIR}, the default `path`), or set `path` to a directory holding its four IDX files"
        )
    } else {
        "set `path` to the directory holding the four IDX files (or name them with `train_images`, `train_labels`, `val_images`, `val_labels`)".to_string()
    };
    Some(DataProblem {
        param: "path",
        message: format!("the data of task `{task}` is missing: {what}"),
        what,
        help,
    })
}

/// Pads `images` with zeros, centred, to `size` × `size` (an odd margin puts the extra row or
/// column at the bottom or right). `size` must be at least the images' rows and columns;
/// images already of that size are returned as they are (no copy).
pub(crate) fn pad_centred(images: Images, size: usize) -> Vec<u8> {
    assert!(
        size >= images.rows && size >= images.cols,
        "pad to a smaller size"
    );
    if size == images.rows && size == images.cols {
        return images.pixels;
    }
    let (top, left) = ((size - images.rows) / 2, (size - images.cols) / 2);
    let per = images.rows * images.cols;
    let mut out = vec![0u8; images.n * size * size];
    for (k, img) in images.pixels.chunks_exact(per).enumerate() {
        let o = &mut out[k * size * size..(k + 1) * size * size];
        for (r, row) in img.chunks_exact(images.cols).enumerate() {
            let s = (top + r) * size + left;
            o[s..s + images.cols].copy_from_slice(row);
        }
    }
    out
}

/// Mean and population standard deviation of u8 pixels scaled to [0, 1], from exact integer
/// sums (independent of order and chunking).
pub(crate) fn pixel_stats(pixels: &[u8]) -> (f64, f64) {
    let mut hist = [0u64; 256];
    for &p in pixels {
        hist[usize::from(p)] += 1;
    }
    let (s, ss) = hist
        .iter()
        .enumerate()
        .fold((0u128, 0u128), |(s, ss), (v, &c)| {
            let (v, c) = (v as u128, u128::from(c));
            (s + v * c, ss + v * v * c)
        });
    let n = pixels.len().max(1) as u128;
    // n² var = n·Σx² − (Σx)², exact in integers.
    let var = (n * ss - s * s) as f64 / (n as f64 * n as f64) / (255.0 * 255.0);
    (s as f64 / n as f64 / 255.0, var.sqrt())
}

/// `n` of `0..total` drawn uniformly without replacement from `seed` (and the generator's
/// `stream`: one per split), in increasing order (all of them when `n == total`).
pub(crate) fn subset(total: usize, n: usize, seed: u64, stream: u64) -> Vec<usize> {
    use rand::{Rng, SeedableRng};
    assert!(n <= total);
    let mut idx: Vec<usize> = (0..total).collect();
    if n < total {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        for j in 0..n {
            let k = rng.random_range(j..total);
            idx.swap(j, k);
        }
        idx.truncate(n);
        idx.sort_unstable();
    }
    idx
}

/// The images at `idx` (and their labels).
pub(crate) fn select(images: &Images, labels: &[u8], idx: &[usize]) -> (Images, Vec<u8>) {
    let per = images.rows * images.cols;
    let mut pixels = Vec::with_capacity(idx.len() * per);
    for &i in idx {
        pixels.extend_from_slice(&images.pixels[i * per..(i + 1) * per]);
    }
    (
        Images {
            n: idx.len(),
            rows: images.rows,
            cols: images.cols,
            pixels,
        },
        idx.iter().map(|&i| labels[i]).collect(),
    )
}

/// An IDX file of unsigned bytes (magic `0x000008DD`, the dimensions, the data), gzip-compressed
/// or not: what the tests write.
#[cfg(test)]
pub(crate) fn test_file(dims: &[u32], data: &[u8], gzip: bool) -> Vec<u8> {
    use std::io::Write;
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend_from_slice(data);
    if !gzip {
        return v;
    }
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&v).unwrap();
    e.finish().unwrap()
}

#[cfg(test)]
mod tests;
