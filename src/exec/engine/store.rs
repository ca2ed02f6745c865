//! Where a task's examples live: decoded in memory, or listed files decoded batch by batch
//! ("streaming"), for folder data sets larger than memory (ImageNet as u8 is about 193 GB, the
//! Word-Speaker-Noise clips as f32 about 930 GB).
//!
//! Both give the same bytes for the same indices, so a run's results do not depend on how its
//! data is read: the trainer asks for batches by index (`Examples::batches`), which gathers rows
//! of the in-memory tensor, or decodes the files of the batch in parallel (rayon) while a
//! background thread already decodes the next one (prefetch). The choice is the folder tasks'
//! `load` parameter (`auto`, `memory`, `stream`); it never takes part in run ids.
//!
//! Written by hand: tch has no data loader, and the crates that stream image folders decode into
//! their own tensor types; this is a file list, a decoder and a bounded channel.

use super::error::{EngineError, Result};
use crate::registry::tasks::Folder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use tch::Tensor;

/// Files decoded at a time when a whole split is loaded into memory (see `Files::gather_chunked`).
const GATHER_CHUNK_BYTES: usize = 64 << 20;

/// Decodes one file, appending exactly one example (the store's shape) to the buffer.
pub(crate) type Decoder<T> = Arc<dyn Fn(&Path, &mut Vec<T>) -> Result<()> + Send + Sync>;

/// A decoder of u8 examples (images) or f32 examples (waveforms).
#[derive(Clone)]
pub enum Decode {
    U8(Decoder<u8>),
    F32(Decoder<f32>),
}

/// How a folder task holds its examples (the `load` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Load {
    /// In memory when the examples need at most half the memory available now, else streamed.
    Auto,
    Memory,
    Stream,
}

impl Load {
    pub(crate) const NAMES: &'static [&'static str] = crate::registry::LOAD_MODES;
    pub(crate) fn parse(s: &str) -> Option<Load> {
        match s {
            "auto" => Some(Load::Auto),
            "memory" => Some(Load::Memory),
            "stream" => Some(Load::Stream),
            _ => None,
        }
    }
}

/// Listed files, their labels and their decoder.
pub struct Files {
    list: Vec<PathBuf>,
    shape: Vec<i64>,
    decode: Decode,
}

/// A split's examples (images u8 [N, C, H, W] or waveforms f32 [N, samples]) and labels.
pub enum Examples {
    Memory { x: Tensor, y: Tensor },
    Files { files: Arc<Files>, y: Tensor },
}

impl Examples {
    pub fn memory(x: Tensor, y: Tensor) -> Examples {
        Examples::Memory { x, y }
    }

    /// Examples of the listed (file, label) pairs: decoded now (`in_memory`) or on demand.
    pub fn from_files(
        list: &[(PathBuf, i64)],
        shape: &[i64],
        decode: Decode,
        in_memory: bool,
    ) -> Result<Examples> {
        let y = Tensor::from_slice(&list.iter().map(|(_, l)| *l).collect::<Vec<i64>>());
        let files = Arc::new(Files {
            list: list.iter().map(|(p, _)| p.clone()).collect(),
            shape: shape.to_vec(),
            decode,
        });
        if in_memory {
            let all: Vec<i64> = (0..list.len() as i64).collect();
            Ok(Examples::Memory {
                x: files.gather(&all)?,
                y,
            })
        } else {
            Ok(Examples::Files { files, y })
        }
    }

    pub fn len(&self) -> i64 {
        self.labels().size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn labels(&self) -> &Tensor {
        match self {
            Examples::Memory { y, .. } | Examples::Files { y, .. } => y,
        }
    }

    /// Whether examples are decoded from files on demand.
    pub fn streamed(&self) -> bool {
        matches!(self, Examples::Files { .. })
    }

    /// Every example as one tensor, when they are in memory (tests, benchmarks).
    pub fn in_memory(&self) -> Option<&Tensor> {
        match self {
            Examples::Memory { x, .. } => Some(x),
            Examples::Files { .. } => None,
        }
    }

    /// The examples at `idx`, stacked in that order (stored dtype, on the CPU).
    pub fn gather(&self, idx: &[i64]) -> Result<Tensor> {
        match self {
            Examples::Memory { x, .. } => Ok(x.index_select(0, &Tensor::from_slice(idx))),
            Examples::Files { files, .. } => files.gather(idx),
        }
    }

    /// Examples `start .. start + n` (a view when in memory).
    pub fn range(&self, start: i64, n: i64) -> Result<Tensor> {
        match self {
            Examples::Memory { x, .. } => Ok(x.narrow(0, start, n)),
            Examples::Files { files, .. } => files.gather(&(start..start + n).collect::<Vec<_>>()),
        }
    }

    /// The batches `order[0]`, `order[1]`, … in turn. Streamed examples are decoded one batch
    /// ahead on a background thread, so decoding overlaps the training step.
    pub fn batches(&self, order: Vec<Vec<i64>>) -> Batches {
        match self {
            Examples::Memory { x, .. } => Batches::Direct {
                x: x.shallow_clone(),
                order: order.into_iter(),
            },
            Examples::Files { files, .. } => {
                let (tx, rx) = sync_channel(1);
                let files = files.clone();
                let handle = std::thread::spawn(move || prefetch(&files, order, tx));
                Batches::Prefetch {
                    rx: Some(rx),
                    handle: Some(handle),
                }
            }
        }
    }
}

fn prefetch(files: &Files, order: Vec<Vec<i64>>, tx: SyncSender<Result<Tensor>>) {
    for idx in order {
        let b = files.gather(&idx);
        let failed = b.is_err();
        // The receiver is gone when the trainer stopped early: nothing left to do.
        if tx.send(b).is_err() || failed {
            return;
        }
    }
}

/// Iterator of `Examples::batches`; it owns what it reads (a shallow clone of the in-memory
/// tensor, or the file list), so the trainer can step while it iterates.
pub enum Batches {
    Direct {
        x: Tensor,
        order: std::vec::IntoIter<Vec<i64>>,
    },
    Prefetch {
        rx: Option<Receiver<Result<Tensor>>>,
        handle: Option<std::thread::JoinHandle<()>>,
    },
}

impl Iterator for Batches {
    type Item = Result<Tensor>;
    fn next(&mut self) -> Option<Result<Tensor>> {
        match self {
            Batches::Direct { x, order } => order
                .next()
                .map(|idx| Ok(x.index_select(0, &Tensor::from_slice(&idx)))),
            Batches::Prefetch { rx, .. } => rx.as_ref()?.recv().ok(),
        }
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        if let Batches::Prefetch { rx, handle } = self {
            // Closing the channel stops the decoder after its current batch.
            drop(rx.take());
            if let Some(h) = handle.take() {
                let _ = h.join();
            }
        }
    }
}

impl Files {
    fn per_example(&self) -> usize {
        self.shape.iter().product::<i64>() as usize
    }

    /// Decode the files at `idx` in parallel into one tensor [idx.len(), shape…].
    fn gather(&self, idx: &[i64]) -> Result<Tensor> {
        self.gather_chunked(idx, GATHER_CHUNK_BYTES)
    }

    /// [`Self::gather`], decoding at most `chunk_bytes` at a time into a tensor allocated once:
    /// loading a whole data set (`load = memory`) then peaks at its size plus two chunks, not
    /// twice its size (the size is what the memory check compares with what is available).
    fn gather_chunked(&self, idx: &[i64], chunk_bytes: usize) -> Result<Tensor> {
        match &self.decode {
            Decode::U8(d) => self.gather_into(idx, d, chunk_bytes),
            Decode::F32(d) => self.gather_into(idx, d, chunk_bytes),
        }
    }

    fn gather_into<T: tch::kind::Element + Copy + Default + Send + Sync>(
        &self,
        idx: &[i64],
        decode: &Decoder<T>,
        chunk_bytes: usize,
    ) -> Result<Tensor> {
        let dims = |n: usize| {
            let mut d = vec![n as i64];
            d.extend_from_slice(&self.shape);
            d
        };
        let bytes = (self.per_example() * std::mem::size_of::<T>()).max(1);
        let chunk = (chunk_bytes / bytes).max(1);
        if idx.len() <= chunk {
            return Ok(
                Tensor::from_slice(&self.decode_all(idx, decode)?).view(dims(idx.len()).as_slice())
            );
        }
        let out = Tensor::empty(dims(idx.len()).as_slice(), (T::KIND, tch::Device::Cpu));
        for (i, part) in idx.chunks(chunk).enumerate() {
            let values = Tensor::from_slice(&self.decode_all(part, decode)?);
            out.narrow(0, (i * chunk) as i64, part.len() as i64)
                .copy_(&values.view(dims(part.len()).as_slice()));
        }
        Ok(out)
    }

    fn decode_all<T: Copy + Default + Send + Sync>(
        &self,
        idx: &[i64],
        decode: &Decoder<T>,
    ) -> Result<Vec<T>> {
        let per = self.per_example();
        let mut out = vec![T::default(); idx.len() * per];
        out.par_chunks_mut(per.max(1))
            .zip(idx.par_iter())
            .try_for_each_init(
                || Vec::with_capacity(per),
                |buf, (dst, &i)| -> Result<()> {
                    let path = self.list.get(i as usize).ok_or_else(|| {
                        EngineError::Invalid(format!(
                            "example {i} asked of a store of {} files",
                            self.list.len()
                        ))
                    })?;
                    buf.clear();
                    decode(path, buf)?;
                    if buf.len() != per {
                        return Err(EngineError::Invalid(format!(
                            "decoding {} gave {} values, expected {per}",
                            path.display(),
                            buf.len()
                        )));
                    }
                    dst.copy_from_slice(buf);
                    Ok(())
                },
            )?;
        Ok(out)
    }
}

/// Whether `bytes` of examples go in memory under `load`: `memory` always (after checking they
/// fit), `stream` never, `auto` when they need at most half of `available`.
pub(crate) fn keep_in_memory(
    load: Load,
    bytes: u64,
    available: Option<u64>,
) -> std::result::Result<bool, String> {
    match load {
        Load::Stream => Ok(false),
        Load::Memory => fits_in_memory(bytes, available).map(|_| true),
        Load::Auto => Ok(available.is_none_or(|a| bytes <= a / 2)),
    }
}

/// `MemAvailable` of /proc/meminfo, in bytes (None where it cannot be read).
pub(crate) fn available_memory() -> Option<u64> {
    let m = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

// ---------------------------------------------------------------------------------------------
// Folder tasks: listing class directories and building their stored examples (read by the
// image folder task in `data/read.rs` and the audio folder task in `audio.rs`).

/// With `load = "memory"`, refuse a data set whose examples need more than the memory
/// available now (`MemAvailable` in /proc/meminfo), with a clear message, instead of being
/// killed by the kernel part-way through loading.
pub(crate) fn fits_in_memory(
    bytes: u64,
    available: Option<u64>,
) -> std::result::Result<(), String> {
    match available {
        Some(limit) if bytes > limit => Err(format!(
            "the examples need {:.1} GB in memory and {:.1} GB are available: set the task's \
             `load = \"stream\"` (or `auto`) to decode them from disk batch by batch",
            bytes as f64 / 1e9,
            limit as f64 / 1e9
        )),
        _ => Ok(()),
    }
}

/// The class directories of a data folder (one directory per class), sorted by name (the
/// walk `lrx pack` checksums: `pack::data`).
fn class_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    crate::datafiles::class_dirs(dir).map_err(|e| EngineError::io("listing data folder", dir, e))
}

/// Files of a class directory whose extension (any case) is one of `exts`, sorted.
pub(crate) fn files_with(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>> {
    crate::datafiles::files_with(dir, exts)
        .map_err(|e| EngineError::io("listing class folder", dir, e))
}

/// Training and validation (file, class index) lists of a folder task, and its class names.
pub(crate) type Listing = (Vec<(PathBuf, i64)>, Vec<(PathBuf, i64)>, Vec<String>);

/// The listing of a folder task whose classes are the directories of `train_dir`. With
/// `val_dir`, all of `train_dir` trains and `val_dir`'s class directories (each a training
/// class) validate; without, each class's files are shuffled from `seed` and its first
/// `val_fraction` validates. `task` names the task in errors.
pub(crate) fn folder_listing(
    task: &str,
    folder: &Folder,
    train_dir: &Path,
    val_dir: Option<&Path>,
    files: &dyn Fn(&Path) -> Result<Vec<PathBuf>>,
    data_err: &dyn Fn(String) -> EngineError,
) -> Result<Listing> {
    let classes = class_dirs(train_dir)?;
    let names: Vec<String> = classes.iter().map(|(n, _)| n.clone()).collect();
    let (mut tr, mut va) = (vec![], vec![]);
    match val_dir {
        Some(vd) => {
            for (i, (_, d)) in classes.iter().enumerate() {
                tr.extend(files(d)?.into_iter().map(|f| (f, i as i64)));
            }
            for (n, d) in class_dirs(vd)? {
                let i = names.iter().position(|x| *x == n).ok_or_else(|| {
                    data_err(format!(
                        "validation class `{n}` (in {}) is not a training class",
                        vd.display()
                    ))
                })?;
                va.extend(files(&d)?.into_iter().map(|f| (f, i as i64)));
            }
        }
        None => {
            let frac = folder.val_fraction;
            if !(0.0..1.0).contains(&frac) {
                return Err(EngineError::param(
                    task,
                    "val_fraction",
                    "must be in [0, 1)",
                ));
            }
            let mut rng = ChaCha8Rng::seed_from_u64(folder.seed);
            for (i, (_, d)) in classes.iter().enumerate() {
                let mut fs = files(d)?;
                // deterministic shuffle
                for j in (1..fs.len()).rev() {
                    fs.swap(j, rng.random_range(0..=j));
                }
                let nv = (fs.len() as f64 * frac).round() as usize;
                for (j, f) in fs.into_iter().enumerate() {
                    if j < nv {
                        va.push((f, i as i64))
                    } else {
                        tr.push((f, i as i64))
                    }
                }
            }
        }
    }
    Ok((tr, va, names))
}

/// The training and validation examples of a folder task's listing, each of shape `shape`:
/// decoded now, or streamed from the files, as the task's `load` parameter says. `task` names
/// the task in errors.
pub(crate) fn folder_examples(
    task: &str,
    folder: &Folder,
    tr: &[(PathBuf, i64)],
    va: &[(PathBuf, i64)],
    shape: &[i64],
    decode: Decode,
    data_err: &dyn Fn(String) -> EngineError,
) -> Result<(Examples, Examples)> {
    let load = Load::parse(&folder.load).ok_or_else(|| {
        EngineError::param(
            task,
            "load",
            format!("must be one of {}", Load::NAMES.join(", ")),
        )
    })?;
    let elem = match decode {
        Decode::U8(_) => 1,
        Decode::F32(_) => 4,
    };
    let per: i64 = shape.iter().product();
    let bytes = (tr.len() + va.len()) as u64 * per as u64 * elem;
    let in_memory = crate::exec::engine::store::keep_in_memory(
        load,
        bytes,
        crate::exec::engine::store::available_memory(),
    )
    .map_err(data_err)?;
    Ok((
        Examples::from_files(tr, shape, decode.clone(), in_memory)?,
        Examples::from_files(va, shape, decode, in_memory)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::engine::Task;
    use crate::exec::engine::train::{TrainJob, TrainSettings, Trainer};
    use crate::value::{Call, Value};
    use tch::Device;

    /// Three class folders of 7 distinct 9×7 RGB images each.
    fn image_folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (ci, cls) in ["a", "b", "c"].iter().enumerate() {
            let d = dir.path().join(cls);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..7u32 {
                let img = image::RgbImage::from_fn(9, 7, |x, y| {
                    let v = (x * 31 + y * 17 + i * 13 + ci as u32 * 71) % 256;
                    image::Rgb([v as u8, (v * 3 % 256) as u8, (255 - v) as u8])
                });
                img.save(d.join(format!("{i}.png"))).unwrap();
            }
        }
        dir
    }

    fn folder_task(dir: &Path, load: &str) -> Call {
        Call::new("image_folder")
            .with("path", Value::Str(dir.to_string_lossy().into()))
            .with("size", Value::Int(8))
            .with("val_fraction", Value::Float(0.3))
            .with("load", Value::Str(load.into()))
    }

    #[test]
    fn streamed_images_equal_the_in_memory_ones() {
        let _rng = crate::exec::engine::test_rng_lock();
        let dir = image_folder();
        let mem = Task::from_call(&folder_task(dir.path(), "memory")).unwrap();
        let st = Task::from_call(&folder_task(dir.path(), "stream")).unwrap();
        let auto = Task::from_call(&folder_task(dir.path(), "auto")).unwrap();
        assert!(!mem.train.streamed() && st.train.streamed() && !auto.train.streamed());
        assert_eq!((st.n_train(), st.n_val()), (mem.n_train(), mem.n_val()));
        assert!(st.train.labels().equal(mem.train.labels()));
        assert!(st.val.labels().equal(mem.val.labels()));
        // Same bytes for any order of indices, and the same normalisation statistics.
        let idx = [5i64, 0, 13, 2, 2, 9];
        // Decoding in chunks (1, 2 and 4 examples at a time) gives the same tensor.
        if let Examples::Files { files, .. } = &st.train {
            let whole = files.gather_chunked(&idx, usize::MAX).unwrap();
            for per in [1, 2, 4] {
                let c = files
                    .gather_chunked(&idx, per * files.per_example())
                    .unwrap();
                assert!(c.equal(&whole), "chunks of {per}");
            }
        }
        assert!(
            st.train
                .gather(&idx)
                .unwrap()
                .equal(&mem.train.gather(&idx).unwrap())
        );
        assert!(
            st.val
                .range(1, 3)
                .unwrap()
                .equal(&mem.val.range(1, 3).unwrap())
        );
        assert_eq!((&st.mean, &st.std), (&mem.mean, &mem.std));
        // The statistics are those of every training image (numpy's population std).
        let f = mem.train.in_memory().unwrap().to_kind(tch::Kind::Double) / 255.0;
        for c in 0..3 {
            let fc = f.select(1, c);
            assert!(
                (mem.mean[c as usize] - fc.mean(tch::Kind::Double).double_value(&[])).abs() < 1e-12
            );
            assert!((mem.std[c as usize] - fc.std(false).double_value(&[])).abs() < 1e-12);
        }
        // Batches come in order, prefetched, and an early stop joins the decoder.
        let order = vec![vec![3, 1], vec![0], vec![4, 4, 2]];
        let got: Vec<Tensor> = st
            .train
            .batches(order.clone())
            .map(|b| b.unwrap())
            .collect();
        for (o, g) in order.iter().zip(&got) {
            assert!(g.equal(&mem.train.gather(o).unwrap()));
        }
        let mut b = st.train.batches(order);
        assert!(b.next().is_some());
        drop(b);
    }

    #[test]
    fn streamed_training_is_bit_identical() {
        let _rng = crate::exec::engine::test_rng_lock();
        let dir = image_folder();
        let job = |load: &str| TrainJob {
            arch: Call::new("knet4").with("width", Value::Float(0.125)),
            rule: Call::new("sgdm"),
            task: folder_task(dir.path(), load),
            objective: Call::new("supervised"),
            settings: TrainSettings {
                batch: 4,
                lr: 0.01,
                ..TrainSettings::default()
            },
        };
        let run = |load: &str| {
            let mut tr = Trainer::new(&job(load), Device::Cpu).unwrap();
            let r0 = tr.run_epoch(0, &mut |_| {}).ok().unwrap();
            let r1 = tr.run_epoch(1, &mut |_| {}).ok().unwrap();
            (
                crate::exec::engine::test_params_of(&tr.model),
                (r0.train_loss, r1.train_loss, r1.val_loss),
            )
        };
        let (pm, lm) = run("memory");
        let (ps, ls) = run("stream");
        assert_eq!(lm, ls);
        for ((k, a), (_, b)) in pm.iter().zip(&ps) {
            assert!(
                a.equal(b),
                "parameter {k} differs between memory and stream"
            );
        }
    }

    fn vm_kb(key: &str) -> i64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = s.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Peak memory of loading a whole split (`load = memory`): decoding in chunks into one
    /// tensor against decoding into a Vec copied into a tensor. 2,000 waveforms of 40,000 f32
    /// (320 MB) from a decoder that reads no file. Linux only (VmHWM, reset by clear_refs).
    #[test]
    #[ignore = "benchmark: cargo test --release --lib engine::store::tests::bench_load_peak -- --ignored --nocapture"]
    fn bench_load_peak() {
        let per = 40_000usize;
        let files = Files {
            list: (0..2000)
                .map(|i| PathBuf::from(format!("clip{i}.wav")))
                .collect(),
            shape: vec![per as i64],
            decode: Decode::F32(Arc::new(move |p: &Path, buf: &mut Vec<f32>| {
                let k = p.to_string_lossy().len() as f32;
                buf.extend((0..per).map(|j| (j as f32 * 1e-3 + k).sin()));
                Ok(())
            })),
        };
        let idx: Vec<i64> = (0..2000).collect();
        let data_mb = (2000 * per * 4) as f64 / 1e6;
        for (name, chunk) in [
            ("whole (before)", usize::MAX),
            ("chunked", GATHER_CHUNK_BYTES),
        ] {
            std::fs::write("/proc/self/clear_refs", "5").unwrap();
            let base = vm_kb("VmRSS:");
            let t = files.gather_chunked(&idx, chunk).unwrap();
            let peak = vm_kb("VmHWM:") - base;
            println!(
                "{{\"load\":\"{name}\",\"data_mb\":{data_mb:.0},\"peak_extra_mb\":{:.0},\"ratio\":{:.2}}}",
                peak as f64 * 1.024e-3,
                peak as f64 * 1.024e-3 / data_mb
            );
            drop(t);
        }
    }

    #[test]
    fn a_bad_file_is_named() {
        let _rng = crate::exec::engine::test_rng_lock();
        let dir = image_folder();
        let st = Task::from_call(&folder_task(dir.path(), "stream")).unwrap();
        // A file that breaks after the listing: the batch that needs it fails, naming it.
        let victim = dir.path().join("b/3.png");
        std::fs::write(&victim, b"not a png").unwrap();
        let all: Vec<i64> = (0..st.n_train()).collect();
        let val: Vec<i64> = (0..st.n_val()).collect();
        let e = match (st.train.gather(&all), st.val.gather(&val)) {
            (Err(e), _) | (_, Err(e)) => e.to_string(),
            _ => panic!("the broken file was read"),
        };
        assert!(e.contains("3.png") && e.contains("image_folder"), "{e}");
        let e = match st.train.batches(vec![all]).next() {
            Some(Err(e)) => e.to_string(),
            _ => String::new(),
        };
        assert!(e.is_empty() || e.contains("3.png"), "{e}");
        // A bad `load` value is a parameter error.
        let e = Task::from_call(&folder_task(dir.path(), "disk"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("load") && e.contains("stream"), "{e}");
    }

    #[test]
    fn memory_decisions() {
        let gb = 1_000_000_000u64;
        assert_eq!(keep_in_memory(Load::Auto, 10 * gb, Some(24 * gb)), Ok(true));
        assert_eq!(
            keep_in_memory(Load::Auto, 13 * gb, Some(24 * gb)),
            Ok(false)
        );
        assert_eq!(keep_in_memory(Load::Auto, 193 * gb, None), Ok(true));
        assert_eq!(keep_in_memory(Load::Stream, 1, Some(24 * gb)), Ok(false));
        let e = keep_in_memory(Load::Memory, 193 * gb, Some(24 * gb)).unwrap_err();
        assert!(e.contains("193.0 GB") && e.contains("stream"), "{e}");
    }
}
