//! The readers of the image tasks (method.md §7): the procedural synthetic task, CIFAR-10's
//! binary batches, IDX files (Fashion-MNIST, MNIST-format sets) and image folders. Each gives
//! u8 images [N, C, H, W] and labels for the train and validation splits.

use crate::exec::engine::error::{EngineError, Result};
use crate::exec::engine::store::{Decode, Examples, files_with, folder_examples, folder_listing};
use crate::registry::tasks::{Cifar10, IdxImages, ImageFolder, SyntheticImages};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use tch::Tensor;

// ---------------------------------------------------------------------------------------------
// Synthetic images

pub(super) type Split = (Tensor, Tensor, Tensor, Tensor, i64);

const N_SHAPES: i64 = 5;
const N_TEXTURES: i64 = 3;

fn in_shape(shape: i64, u: f64, v: f64) -> bool {
    match shape {
        0 => u * u + v * v <= 1.0,
        1 => u.abs().max(v.abs()) <= 0.8,
        2 => v >= -0.5 && 3f64.sqrt() * u.abs() <= 1.0 - v,
        3 => (u.abs() <= 0.3 && v.abs() <= 1.0) || (v.abs() <= 0.3 && u.abs() <= 1.0),
        _ => {
            let r = (u * u + v * v).sqrt();
            (0.55..=1.0).contains(&r)
        }
    }
}

/// Draw one synthetic image of class `k` into `out` ([C, S, S] u8).
fn draw_synthetic(k: i64, s: usize, c: usize, noise: f64, rng: &mut ChaCha8Rng, out: &mut [u8]) {
    let shape = k % N_SHAPES;
    let texture = (k / N_SHAPES) % N_TEXTURES;
    let sf = s as f64;
    let cx = sf * rng.random_range(0.3..0.7);
    let cy = sf * rng.random_range(0.3..0.7);
    let rad = sf * rng.random_range(0.17..0.32);
    let theta = rng.random_range(0.0..std::f64::consts::TAU);
    let (ct, st) = (theta.cos(), theta.sin());
    let bg: Vec<f64> = (0..c).map(|_| rng.random_range(0.0..0.55)).collect();
    let fg: Vec<f64> = bg
        .iter()
        .map(|b| (b + rng.random_range(0.2..0.6)).min(1.0))
        .collect();
    // low-frequency background gradient (clutter)
    let (gx, gy) = (rng.random_range(-0.2..0.2), rng.random_range(-0.2..0.2));
    let period = rng.random_range(0.35..0.6);
    let phase = rng.random_range(0.0..1.0);
    let normal = rand_distr::Normal::new(0.0, noise.max(0.0)).expect("noise std");
    for yy in 0..s {
        for xx in 0..s {
            let (px, py) = (xx as f64 + 0.5 - cx, yy as f64 + 0.5 - cy);
            let (u, v) = ((ct * px + st * py) / rad, (-st * px + ct * py) / rad);
            let inside = in_shape(shape, u, v);
            let t = match texture {
                0 => 1.0,
                1 => {
                    if ((u / period + phase).floor() as i64) % 2 == 0 {
                        1.0
                    } else {
                        0.3
                    }
                }
                _ => {
                    let a =
                        (u / period + phase).floor() as i64 + (v / period + phase).floor() as i64;
                    if a.rem_euclid(2) == 0 { 1.0 } else { 0.3 }
                }
            };
            let grad = gx * (xx as f64 / sf - 0.5) + gy * (yy as f64 / sf - 0.5);
            for ch in 0..c {
                let base = bg[ch] + grad;
                let val = if inside {
                    base + t * (fg[ch] - bg[ch])
                } else {
                    base
                };
                let val = val + rng.sample(normal);
                out[(ch * s + yy) * s + xx] = (val.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
}

pub(super) fn synthetic(t: &SyntheticImages) -> Result<Split> {
    let &SyntheticImages {
        size: s,
        channels: c,
        classes: k,
        train: ntr,
        val: nva,
        seed,
        noise,
    } = t;
    let bad = |p: &str, msg: String| EngineError::param("synthetic_images", p, msg);
    if s < 8 {
        return Err(bad("size", "must be at least 8".into()));
    }
    if k > N_SHAPES * N_TEXTURES {
        return Err(bad(
            "classes",
            format!("at most {} (5 shapes × 3 textures)", N_SHAPES * N_TEXTURES),
        ));
    }
    if noise < 0.0 {
        return Err(bad("noise", "must be ≥ 0".into()));
    }
    let make = |n: i64, stream: u64| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        let per = (c * s * s) as usize;
        let mut buf = vec![0u8; n as usize * per];
        let mut labels = Vec::with_capacity(n as usize);
        for i in 0..n as usize {
            let lab = rng.random_range(0..k);
            labels.push(lab);
            draw_synthetic(
                lab,
                s as usize,
                c as usize,
                noise,
                &mut rng,
                &mut buf[i * per..(i + 1) * per],
            );
        }
        (
            Tensor::from_slice(&buf).view([n, c, s, s]),
            Tensor::from_slice(&labels),
        )
    };
    let (tx, ty) = make(ntr, 1);
    let (vx, vy) = make(nva, 2);
    Ok((tx, ty, vx, vy, k))
}

// ---------------------------------------------------------------------------------------------
// CIFAR-10 binary

fn read_cifar_file(path: &Path) -> Result<(Vec<u8>, Vec<i64>)> {
    let bytes =
        std::fs::read(path).map_err(|e| EngineError::io("reading CIFAR-10 file", path, e))?;
    const REC: usize = 3073;
    if bytes.is_empty() || bytes.len() % REC != 0 {
        return Err(EngineError::Data {
            task: "cifar10".into(),
            path: path.into(),
            msg: format!(
                "size {} is not a positive multiple of 3073 (1 label byte + 3072 pixels)",
                bytes.len()
            ),
        });
    }
    let n = bytes.len() / REC;
    let mut x = Vec::with_capacity(n * 3072);
    let mut y = Vec::with_capacity(n);
    for r in bytes.chunks_exact(REC) {
        if r[0] > 9 {
            return Err(EngineError::Data {
                task: "cifar10".into(),
                path: path.into(),
                msg: format!("label byte {} > 9", r[0]),
            });
        }
        y.push(r[0] as i64);
        x.extend_from_slice(&r[1..]);
    }
    Ok((x, y))
}

pub(super) fn cifar10(t: &Cifar10) -> Result<Split> {
    let dir = t.path.clone();
    let load = |files: &[String]| -> Result<(Tensor, Tensor)> {
        let (mut xs, mut ys) = (vec![], vec![]);
        for f in files {
            let (x, y) = read_cifar_file(&dir.join(f))?;
            xs.extend(x);
            ys.extend(y);
        }
        let n = ys.len() as i64;
        Ok((
            Tensor::from_slice(&xs).view([n, 3, 32, 32]),
            Tensor::from_slice(&ys),
        ))
    };
    let train: Vec<String> = (1..=5).map(|i| format!("data_batch_{i}.bin")).collect();
    let missing: Vec<&String> = train.iter().filter(|f| !dir.join(f).is_file()).collect();
    if !missing.is_empty() || !dir.join("test_batch.bin").is_file() {
        return Err(EngineError::Data {
            task: "cifar10".into(),
            path: dir.clone(),
            msg: "expected data_batch_1.bin … data_batch_5.bin and test_batch.bin (the CIFAR-10 binary version)".into(),
        });
    }
    let (tx, ty) = load(&train)?;
    let (vx, vy) = load(&["test_batch.bin".to_string()])?;
    // `train` / `val`: use only the first N images (0 or absent = all).
    let first = |x: Tensor, y: Tensor, n: i64| -> (Tensor, Tensor) {
        if n > 0 && n < y.size()[0] {
            (x.narrow(0, 0, n), y.narrow(0, 0, n))
        } else {
            (x, y)
        }
    };
    let (tx, ty) = first(tx, ty, t.train);
    let (vx, vy) = first(vx, vy, t.val);
    Ok((tx, ty, vx, vy, 10))
}

// ---------------------------------------------------------------------------------------------
// IDX (MNIST format): `fashion_mnist` and `idx_images`

/// The split of an IDX task and the exact per-pixel mean/std of its (padded) training images.
pub(super) fn idx_task(t: &IdxImages) -> Result<(Split, (f64, f64))> {
    use crate::idx;
    let task = if t.fashion {
        "fashion_mnist"
    } else {
        "idx_images"
    };
    let dir = t.path.clone();
    let files = &t.files;
    let (classes, size) = (t.classes, t.size);
    let bad = |p: &str, msg: String| EngineError::param(task, p, msg);
    if let Some(p) = idx::files_problem(task, &dir.to_string_lossy(), files) {
        return Err(EngineError::Data {
            task: task.into(),
            path: dir,
            msg: format!("{}; {}", p.what, p.help),
        });
    }
    let data_err = |e: idx::IdxError| EngineError::Data {
        task: task.into(),
        path: e.path,
        msg: e.msg,
    };
    let find = |n: &str| idx::locate(&dir, n).expect("checked by data_path_problem");
    let read = |images: &str, labels: &str| {
        idx::read_pair(&find(images), &find(labels), classes as usize).map_err(&data_err)
    };
    let (tx, ty) = read(&files.train_images, &files.train_labels)?;
    let (vx, vy) = read(&files.val_images, &files.val_labels)?;
    if (vx.rows, vx.cols) != (tx.rows, tx.cols) {
        return Err(EngineError::Data {
            task: task.into(),
            path: find(&files.val_images),
            msg: format!(
                "has images of {} × {} pixels, the training images ({}) are {} × {}",
                vx.rows,
                vx.cols,
                find(&files.train_images).display(),
                tx.rows,
                tx.cols
            ),
        });
    }
    if (size as usize) < tx.rows.max(tx.cols) {
        return Err(bad(
            "size",
            format!(
                "is {size}, smaller than the images ({} × {}); images are zero-padded to `size`, never cropped or resized",
                tx.rows, tx.cols
            ),
        ));
    }
    // `train` / `val`: that many images drawn from `seed` (0 = all, in file order).
    let seed = t.seed;
    let pick = |im: idx::Images, lab: Vec<u8>, p: &str, n: i64, stream: u64| -> Result<_> {
        if n < 0 || n as usize > im.n {
            return Err(bad(
                p,
                format!("asks for {n} images; the data set has {}", im.n),
            ));
        }
        if n == 0 || n as usize == im.n {
            return Ok((im, lab));
        }
        let idx = idx::subset(im.n, n as usize, seed, stream);
        Ok(idx::select(&im, &lab, &idx))
    };
    let (tx, ty) = pick(tx, ty, "train", t.train, 0)?;
    let (vx, vy) = pick(vx, vy, "val", t.val, 1)?;
    let s = size as usize;
    let tensors = |im: idx::Images, lab: Vec<u8>| {
        let n = im.n as i64;
        let px = idx::pad_centred(im, s);
        let labels: Vec<i64> = lab.iter().map(|&l| i64::from(l)).collect();
        (px, Tensor::from_slice(&labels), n)
    };
    let (tpx, ty, ntr) = tensors(tx, ty);
    let stats = idx::pixel_stats(&tpx);
    let tx = Tensor::from_slice(&tpx).view([ntr, 1, size, size]);
    drop(tpx);
    let (vpx, vy, nva) = tensors(vx, vy);
    let vx = Tensor::from_slice(&vpx).view([nva, 1, size, size]);
    Ok(((tx, ty, vx, vy, classes), stats))
}

// ---------------------------------------------------------------------------------------------
// Image folder

fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    files_with(dir, crate::datafiles::IMAGE_EXTS)
}

fn load_image(p: &Path, size: u32, channels: i64, out: &mut Vec<u8>) -> Result<()> {
    let img = image::open(p).map_err(|e| EngineError::Data {
        task: "image_folder".into(),
        path: p.into(),
        msg: e.to_string(),
    })?;
    let img = img.resize_exact(size, size, image::imageops::FilterType::Triangle);
    let (raw, c) = if channels == 1 {
        (img.to_luma8().into_raw(), 1)
    } else {
        (img.to_rgb8().into_raw(), 3)
    };
    let n = (size * size) as usize;
    for ch in 0..c {
        out.extend((0..n).map(|i| raw[i * c + ch]));
    }
    Ok(())
}

pub(super) fn image_folder(t: &ImageFolder) -> Result<(Examples, Examples, i64)> {
    let dir = t.folder.path.clone();
    let (size, channels) = (t.size, t.channels);
    let data_err = |msg: String| EngineError::Data {
        task: "image_folder".into(),
        path: dir.clone(),
        msg,
    };
    // `val_path` (the language's parameter) names the validation folder; else train/ and val/
    // folders with the same class folders, or class folders split by val_fraction.
    let (train_dir, val_dir) = if let Some(val_path) = &t.folder.val_path {
        (dir.clone(), Some(val_path.clone()))
    } else if dir.join("train").is_dir() && dir.join("val").is_dir() {
        (dir.join("train"), Some(dir.join("val")))
    } else {
        (dir.clone(), None)
    };
    let (tr_list, va_list, classes) = folder_listing(
        "image_folder",
        &t.folder,
        &train_dir,
        val_dir.as_deref(),
        &image_files,
        &data_err,
    )?;
    if classes.len() < 2 {
        return Err(data_err("needs at least two class folders".into()));
    }
    if tr_list.is_empty() {
        return Err(data_err("no .png/.jpg images found".into()));
    }
    let decode = Decode::U8(std::sync::Arc::new(move |p: &Path, buf: &mut Vec<u8>| {
        load_image(p, size as u32, channels, buf)
    }));
    let (train, val) = folder_examples(
        "image_folder",
        &t.folder,
        &tr_list,
        &va_list,
        &[channels, size, size],
        decode,
        &data_err,
    )?;
    Ok((train, val, classes.len() as i64))
}
