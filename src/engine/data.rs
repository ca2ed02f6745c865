//! Tasks (datasets) and the augmentations of the objectives (method.md §7).
//!
//! Images are kept as u8 [N, C, H, W] on the CPU; a batch is gathered, moved to the device,
//! scaled to [0, 1], augmented, then normalised with the training set's per-channel mean/std.
//! All augmentation randomness comes from a ChaCha generator the training loop seeds from
//! (data seed, epoch), never from global state.

use super::error::{CallExt, EngineError, Result};
use super::store::{Decode, Examples, Load};
use crate::registry::Objective;
use crate::value::Call;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// A labelled image dataset with a train and a validation split.
pub struct Task {
    pub name: String,
    /// Training and validation examples, in memory or streamed from files (`store`).
    pub train: Examples,
    pub val: Examples,
    pub classes: i64,
    pub channels: i64,
    /// Input height and width of the networks (equal for images; filters × frames for audio).
    pub height: i64,
    pub width: i64,
    /// How stored examples become network inputs.
    front: Front,
    pub(super) mean: Vec<f64>,
    pub(super) std: Vec<f64>,
}

/// Stored examples: u8 images [N, C, H, W], or f32 waveforms [N, samples] that the cochleagram
/// turns into [N, 1, filters, frames] on the device.
enum Front {
    Images,
    Audio(Box<super::audio::Cochleagram>),
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Task({}: {} train, {} val, {} classes, {}×{}×{})",
            self.name,
            self.n_train(),
            self.n_val(),
            self.classes,
            self.channels,
            self.height,
            self.width
        )
    }
}

pub const TASKS: &str = "synthetic_images, cifar10, fashion_mnist, idx_images, image_folder, synthetic_audio, audio_folder";

impl Task {
    /// Build a task from its call (every parameter it leaves out takes its registry default).
    pub fn from_call(call: &Call) -> Result<Task> {
        let call = &crate::registry::complete(call);
        if crate::cochlea::is_audio_task(&call.name) {
            return Self::audio(call);
        }
        let memory =
            |(tx, ty, vx, vy, k): Split| (Examples::memory(tx, ty), Examples::memory(vx, vy), k);
        // Statistics a reader computed exactly from the bytes (one channel).
        let mut known_stats: Option<(f64, f64)> = None;
        let (train, val, classes) = match call.name.as_str() {
            "synthetic_images" => memory(synthetic(call)?),
            "cifar10" => memory(cifar10(call)?),
            "fashion_mnist" | "idx_images" => {
                let (split, stats) = idx_task(call)?;
                known_stats = Some(stats);
                memory(split)
            }
            "image_folder" => image_folder(call)?,
            o => {
                return Err(EngineError::Unknown {
                    family: "task",
                    name: o.into(),
                    known: TASKS,
                });
            }
        };
        if train.is_empty() {
            return Err(EngineError::Invalid(format!(
                "task `{}` has no training images",
                call.name
            )));
        }
        let sz = train.range(0, 1)?.size();
        let (mean, std) = match (known_stats, train.in_memory()) {
            (Some((m, s)), _) => (vec![m], vec![s.max(1e-3)]),
            (None, Some(tx)) if call.name != "image_folder" => tensor_stats(tx),
            _ => sampled_stats(&train, call.u64("seed").unwrap_or(0))?,
        };
        Ok(Task {
            name: call.name.clone(),
            train,
            val,
            classes,
            channels: sz[1],
            height: sz[2],
            width: sz[3],
            front: Front::Images,
            mean,
            std,
        })
    }

    /// An audio task: waveforms, the cochleagram front end (built for the CPU; the trainer
    /// moves it to its device) and the per-channel statistics of the training cochleagrams.
    fn audio(call: &Call) -> Result<Task> {
        let p = crate::cochlea::CochleaParams::from_call(call);
        if let Some((param, msg)) = p.problems().into_iter().next() {
            return Err(call.bad(param, &msg));
        }
        let (train, val, classes) = match call.name.as_str() {
            "synthetic_audio" => {
                let (tx, ty, vx, vy, k) = super::audio::synthetic(call, &p)?;
                (Examples::memory(tx, ty), Examples::memory(vx, vy), k)
            }
            _ => super::audio::folder(call, &p)?,
        };
        if train.is_empty() {
            return Err(EngineError::Invalid(format!(
                "task `{}` has no training clips",
                call.name
            )));
        }
        let coch = super::audio::Cochleagram::new(&p, Device::Cpu);
        let (height, width) = coch.shape();
        // Normalisation statistics from (at most) the first 512 training clips.
        let n = train.len().min(512);
        let c = coch.apply_chunked(&train.range(0, n)?, 32);
        let mean = vec![c.mean(Kind::Float).double_value(&[])];
        let std = vec![c.std(false).double_value(&[]).max(1e-6)];
        Ok(Task {
            name: call.name.clone(),
            train,
            val,
            classes,
            channels: 1,
            height,
            width,
            front: Front::Audio(Box::new(coch)),
            mean,
            std,
        })
    }

    /// Whether examples are audio clips (no image flips; see `Augment`).
    pub fn is_audio(&self) -> bool {
        matches!(self.front, Front::Audio(_))
    }

    /// Move the front end's constants to `device` (call once before training there).
    pub fn to_device(&mut self, device: Device) {
        if let Front::Audio(c) = &mut self.front {
            **c = c.to_device(device);
        }
    }

    /// Stored examples (a batch of `train` or `val` examples) → un-normalised network inputs
    /// on `device`: images in [0, 1], or cochleagrams.
    pub fn inputs(&self, x: &Tensor, device: Device) -> Tensor {
        match &self.front {
            Front::Images => Self::to_unit(x, device),
            // `apply` moves the waveforms to the front end's device (the trainer's).
            Front::Audio(c) => c.apply(x).to_device(device),
        }
    }

    /// The per-channel mean and std of the training inputs in [0, 1] units that
    /// [`Task::normalize`] applies.
    pub fn normalization(&self) -> (&[f64], &[f64]) {
        (&self.mean, &self.std)
    }

    pub fn n_train(&self) -> i64 {
        self.train.len()
    }
    pub fn n_val(&self) -> i64 {
        self.val.len()
    }

    /// Complete an architecture call with this task's `input_size`, `in_channels`, `classes`
    /// (what the checker does).
    pub fn fill_arch(&self, arch: &Call) -> Call {
        use crate::value::Value;
        let mut a = crate::registry::complete(arch);
        a.params
            .insert("input_size".into(), Value::Int(self.height));
        if self.width != self.height {
            a.params
                .insert("input_width".into(), Value::Int(self.width));
        }
        a.params
            .insert("in_channels".into(), Value::Int(self.channels));
        a.params.insert("classes".into(), Value::Int(self.classes));
        a
    }

    /// u8 images → float in [0, 1] on `device`.
    pub fn to_unit(x: &Tensor, device: Device) -> Tensor {
        x.to_device(device).to_kind(Kind::Float) / 255.0
    }

    /// [0, 1] images → normalised network input.
    pub fn normalize(&self, x: &Tensor) -> Tensor {
        let d = x.device();
        let m = Tensor::from_slice(&self.mean)
            .to_kind(Kind::Float)
            .to_device(d)
            .view([1, -1, 1, 1]);
        let s = Tensor::from_slice(&self.std)
            .to_kind(Kind::Float)
            .to_device(d)
            .view([1, -1, 1, 1]);
        (x - m) / s
    }

    /// The first `n` validation images, preprocessed (no augmentation), and their labels:
    /// the observation stimuli.
    pub fn val_batch(&self, n: i64, device: Device) -> Result<(Tensor, Tensor)> {
        let n = n.min(self.n_val());
        let x = self.normalize(&self.inputs(&self.val.range(0, n)?, device));
        Ok((x, self.val.labels().narrow(0, 0, n).to_device(device)))
    }
}

// ---------------------------------------------------------------------------------------------
// Augmentation

/// Augmentations of an objective: flip/shift for both; colour, grayscale and blur for the
/// contrastive views.
#[derive(Debug, Clone, PartialEq)]
pub struct Augment {
    pub flip: bool,
    pub shift: i64,
    pub color: f64,
    pub grayscale: f64,
    pub blur: f64,
    pub blur_sigma: f64,
}

impl Augment {
    /// The augmentations of a typed objective (checked when it was parsed).
    pub fn from_objective(obj: &Objective) -> Augment {
        Augment {
            flip: obj.flip,
            shift: obj.shift,
            color: obj.color,
            grayscale: obj.grayscale,
            blur: obj.blur,
            blur_sigma: obj.blur_sigma,
        }
    }

    /// Augment a batch of [0, 1] images [B, C, H, W] (on any device) with randomness from `rng`.
    pub fn apply(&self, x: &Tensor, rng: &mut ChaCha8Rng) -> Tensor {
        let sz = x.size();
        let (b, c, h, w) = (sz[0], sz[1], sz[2], sz[3]);
        let dev = x.device();
        let mut x = x.shallow_clone();
        let ftensor =
            |v: Vec<f32>, shape: &[i64]| Tensor::from_slice(&v).to_device(dev).view(shape);
        if self.flip {
            let m: Vec<f32> = (0..b)
                .map(|_| if rng.random::<bool>() { 1.0 } else { 0.0 })
                .collect();
            let m = ftensor(m, &[b, 1, 1, 1]);
            x = &x.flip([3]) * &m + &x * (1.0 - &m);
        }
        if self.shift > 0 {
            // Keras-style shift with "nearest" fill: replicate-pad, then crop at a random offset.
            let s = self.shift;
            let dy: Vec<i64> = (0..b).map(|_| rng.random_range(0..=2 * s)).collect();
            let dx: Vec<i64> = (0..b).map(|_| rng.random_range(0..=2 * s)).collect();
            let p = x.replication_pad2d([s, s, s, s]);
            let ar = |n: i64| Tensor::arange(n, (Kind::Int64, dev));
            let rows = (Tensor::from_slice(&dy).to_device(dev).view([b, 1, 1, 1])
                + ar(h).view([1, 1, h, 1]))
            .expand([b, c, h, w + 2 * s], false);
            let p = p.gather(2, &rows, false);
            let cols = (Tensor::from_slice(&dx).to_device(dev).view([b, 1, 1, 1])
                + ar(w).view([1, 1, 1, w]))
            .expand([b, c, h, w], false);
            x = p.gather(3, &cols, false);
        }
        if self.color > 0.0 {
            let s = self.color;
            let mut u = |_: i64| (1.0 + s * (2.0 * rng.random::<f64>() - 1.0)) as f32;
            let bri: Vec<f32> = (0..b).map(&mut u).collect();
            let con: Vec<f32> = (0..b).map(&mut u).collect();
            let sat: Vec<f32> = (0..b).map(&mut u).collect();
            x = &x * ftensor(bri, &[b, 1, 1, 1]);
            let mean = x.mean_dim([1i64, 2, 3].as_slice(), true, Kind::Float);
            x = (&x - &mean) * ftensor(con, &[b, 1, 1, 1]) + &mean;
            if c == 3 {
                let gray = x.mean_dim([1i64].as_slice(), true, Kind::Float);
                x = (&x - &gray) * ftensor(sat, &[b, 1, 1, 1]) + &gray;
            }
            x = x.clamp(0.0, 1.0);
        }
        if self.grayscale > 0.0 && c == 3 {
            let m: Vec<f32> = (0..b)
                .map(|_| f32::from(rng.random::<f64>() < self.grayscale))
                .collect();
            let m = ftensor(m, &[b, 1, 1, 1]);
            let gray = x
                .mean_dim([1i64].as_slice(), true, Kind::Float)
                .expand_as(&x);
            x = &gray * &m + &x * (1.0 - &m);
        }
        if self.blur > 0.0 {
            let m: Vec<f32> = (0..b)
                .map(|_| f32::from(rng.random::<f64>() < self.blur))
                .collect();
            let m = ftensor(m, &[b, 1, 1, 1]);
            let sig = self.blur_sigma.max(1e-3);
            let r = (2.0 * sig).ceil() as i64;
            let k: Vec<f32> = (-r..=r)
                .map(|i| (-(i * i) as f64 / (2.0 * sig * sig)).exp() as f32)
                .collect();
            let kt = Tensor::from_slice(&k).to_device(dev);
            let kt = &kt / kt.sum(Kind::Float);
            let n = 2 * r + 1;
            let kh = kt.view([1, 1, n, 1]).repeat([c, 1, 1, 1]);
            let kw = kt.view([1, 1, 1, n]).repeat([c, 1, 1, 1]);
            let bl = x
                .replication_pad2d([r, r, r, r])
                .conv2d(&kh, None::<Tensor>, [1, 1], [0, 0], [1, 1], c)
                .conv2d(&kw, None::<Tensor>, [1, 1], [0, 0], [1, 1], c);
            x = &bl * &m + &x * (1.0 - &m);
        }
        x
    }
}

// ---------------------------------------------------------------------------------------------
// Synthetic images

type Split = (Tensor, Tensor, Tensor, Tensor, i64);

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

fn synthetic(call: &Call) -> Result<Split> {
    let s = call.req_pos_i64("size")?;
    let c = call.req_pos_i64("channels")?;
    let k = call.req_pos_i64("classes")?;
    let ntr = call.req_pos_i64("train")?;
    let nva = call.req_pos_i64("val")?;
    let seed = call.req_seed("seed")?;
    let noise = call.req_f64("noise")?;
    if s < 8 {
        return Err(call.bad("size", "must be at least 8"));
    }
    if k > N_SHAPES * N_TEXTURES {
        return Err(call.bad(
            "classes",
            &format!("at most {} (5 shapes × 3 textures)", N_SHAPES * N_TEXTURES),
        ));
    }
    if noise < 0.0 {
        return Err(call.bad("noise", "must be ≥ 0"));
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

fn cifar10(call: &Call) -> Result<Split> {
    let dir = PathBuf::from(call.req_str("path")?);
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
    let first = |x: Tensor, y: Tensor, p: &str| -> (Tensor, Tensor) {
        match call.i64(p) {
            Some(n) if n > 0 && n < y.size()[0] => (x.narrow(0, 0, n), y.narrow(0, 0, n)),
            _ => (x, y),
        }
    };
    let (tx, ty) = first(tx, ty, "train");
    let (vx, vy) = first(vx, vy, "val");
    Ok((tx, ty, vx, vy, 10))
}

// ---------------------------------------------------------------------------------------------
// IDX (MNIST format): `fashion_mnist` and `idx_images`

/// The split of an IDX task and the exact per-pixel mean/std of its (padded) training images.
fn idx_task(call: &Call) -> Result<(Split, (f64, f64))> {
    use crate::idx;
    let task = call.name.as_str();
    let fashion = task == "fashion_mnist";
    let dir = PathBuf::from(call.req_str("path")?);
    let files = if fashion {
        idx::Files::default()
    } else {
        idx::Files::of(&call.params)
    };
    let classes = if fashion {
        10
    } else {
        call.req_pos_i64("classes")?
    };
    if !(2..=256).contains(&classes) {
        return Err(call.bad("classes", "must be in [2, 256] (IDX labels are bytes)"));
    }
    let size = call.req_pos_i64("size")?;
    if let Some(p) = idx::data_path_problem(task, &call.params) {
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
        return Err(call.bad(
            "size",
            &format!(
                "is {size}, smaller than the images ({} × {}); images are zero-padded to `size`, never cropped or resized",
                tx.rows, tx.cols
            ),
        ));
    }
    // `train` / `val`: that many images drawn from `seed` (0 = all, in file order).
    let seed = call.req_seed("seed")?;
    let pick = |im: idx::Images, lab: Vec<u8>, p: &str, stream: u64| -> Result<_> {
        let n = call.req_i64(p)?;
        if n < 0 || n as usize > im.n {
            return Err(call.bad(
                p,
                &format!("asks for {n} images; the data set has {}", im.n),
            ));
        }
        if n == 0 || n as usize == im.n {
            return Ok((im, lab));
        }
        let idx = idx::subset(im.n, n as usize, seed, stream);
        Ok(idx::select(&im, &lab, &idx))
    };
    let (tx, ty) = pick(tx, ty, "train", 0)?;
    let (vx, vy) = pick(vx, vy, "val", 1)?;
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

/// With `load = "memory"`, refuse a data set whose examples need more than the memory
/// available now (`MemAvailable` in /proc/meminfo), with a clear message, instead of being
/// killed by the kernel part-way through loading.
pub(super) fn fits_in_memory(
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
pub(super) fn files_with(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>> {
    crate::datafiles::files_with(dir, exts)
        .map_err(|e| EngineError::io("listing class folder", dir, e))
}

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

fn image_folder(call: &Call) -> Result<(Examples, Examples, i64)> {
    let dir = PathBuf::from(call.req_str("path")?);
    let size = call.req_pos_i64("size")?;
    let channels = call.req_pos_i64("channels")?;
    if channels != 1 && channels != 3 {
        return Err(call.bad("channels", "must be 1 or 3"));
    }
    let data_err = |msg: String| EngineError::Data {
        task: "image_folder".into(),
        path: dir.clone(),
        msg,
    };
    // `val_path` (the language's parameter) names the validation folder; else train/ and val/
    // folders with the same class folders, or class folders split by val_fraction.
    let val_path = call.str("val_path").unwrap_or("");
    let (train_dir, val_dir) = if !val_path.is_empty() {
        (dir.clone(), Some(PathBuf::from(val_path)))
    } else if dir.join("train").is_dir() && dir.join("val").is_dir() {
        (dir.join("train"), Some(dir.join("val")))
    } else {
        (dir.clone(), None)
    };
    let (tr_list, va_list, classes) = folder_listing(
        call,
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
        call,
        &tr_list,
        &va_list,
        &[channels, size, size],
        decode,
        &data_err,
    )?;
    Ok((train, val, classes.len() as i64))
}

/// Training and validation (file, class index) lists of a folder task, and its class names.
pub(super) type Listing = (Vec<(PathBuf, i64)>, Vec<(PathBuf, i64)>, Vec<String>);

/// The listing of a folder task whose classes are the directories of `train_dir`. With
/// `val_dir`, all of `train_dir` trains and `val_dir`'s class directories (each a training
/// class) validate; without, each class's files are shuffled from `seed` and its first
/// `val_fraction` validates.
pub(super) fn folder_listing(
    call: &Call,
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
            let frac = call.req_f64("val_fraction")?;
            if !(0.0..1.0).contains(&frac) {
                return Err(call.bad("val_fraction", "must be in [0, 1)"));
            }
            let mut rng = ChaCha8Rng::seed_from_u64(call.req_seed("seed")?);
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
/// decoded now, or streamed from the files, as the task's `load` parameter says.
pub(super) fn folder_examples(
    call: &Call,
    tr: &[(PathBuf, i64)],
    va: &[(PathBuf, i64)],
    shape: &[i64],
    decode: Decode,
    data_err: &dyn Fn(String) -> EngineError,
) -> Result<(Examples, Examples)> {
    let load = call.str("load").unwrap_or("auto");
    let load = Load::parse(load).ok_or_else(|| {
        call.bad(
            "load",
            &format!("must be one of {}", Load::NAMES.join(", ")),
        )
    })?;
    let elem = match decode {
        Decode::U8(_) => 1,
        Decode::F32(_) => 4,
    };
    let per: i64 = shape.iter().product();
    let bytes = (tr.len() + va.len()) as u64 * per as u64 * elem;
    let in_memory = super::store::keep_in_memory(load, bytes, super::store::available_memory())
        .map_err(data_err)?;
    Ok((
        Examples::from_files(tr, shape, decode.clone(), in_memory)?,
        Examples::from_files(va, shape, decode, in_memory)?,
    ))
}

/// Per-channel mean and (population) std of u8 images in [0, 1], over the whole tensor (the
/// in-memory tasks).
fn tensor_stats(tx: &Tensor) -> (Vec<f64>, Vec<f64>) {
    let f = tx.to_kind(Kind::Float) / 255.0;
    let mean_t = f.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float);
    let std_t = f.std_dim([0i64, 2, 3].as_slice(), false, false);
    let c = tx.size()[1];
    let mean = (0..c).map(|c| mean_t.double_value(&[c])).collect();
    let std = (0..c).map(|c| std_t.double_value(&[c]).max(1e-3)).collect();
    (mean, std)
}

/// At most this many training images give a folder task's normalisation statistics.
pub const STATS_SAMPLE: i64 = 50_000;

/// Per-channel mean and (population) std of a folder task's training images in [0, 1]: over
/// every image when there are at most `STATS_SAMPLE`, else over a sample of that many drawn
/// from `seed`. Sums of u8 values are exact integers, so the result does not depend on the
/// order or the chunking, nor on whether the images are in memory or streamed.
fn sampled_stats(train: &Examples, seed: u64) -> Result<(Vec<f64>, Vec<f64>)> {
    let n = train.len();
    let mut idx: Vec<i64> = (0..n).collect();
    if n > STATS_SAMPLE {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(7);
        for j in 0..STATS_SAMPLE as usize {
            let k = rng.random_range(j..n as usize);
            idx.swap(j, k);
        }
        idx.truncate(STATS_SAMPLE as usize);
        idx.sort_unstable();
    }
    let (mut s, mut ss, mut count) = (Vec::<f64>::new(), Vec::<f64>::new(), 0f64);
    for chunk in idx.chunks(1024) {
        let x = train.gather(chunk)?.to_kind(Kind::Int64);
        let dims = [0i64, 2, 3];
        let a = x.sum_dim_intlist(dims.as_slice(), false, Kind::Int64);
        let b = (&x * &x).sum_dim_intlist(dims.as_slice(), false, Kind::Int64);
        let c = a.size()[0] as usize;
        s.resize(c, 0.0);
        ss.resize(c, 0.0);
        for ch in 0..c {
            s[ch] += a.int64_value(&[ch as i64]) as f64;
            ss[ch] += b.int64_value(&[ch as i64]) as f64;
        }
        let sz = x.size();
        count += (sz[0] * sz[2] * sz[3]) as f64;
    }
    let mean: Vec<f64> = s.iter().map(|v| v / count / 255.0).collect();
    let std = ss
        .iter()
        .zip(&mean)
        .map(|(v, m)| {
            (v / count / (255.0 * 255.0) - m * m)
                .max(0.0)
                .sqrt()
                .max(1e-3)
        })
        .collect();
    Ok((mean, std))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn synthetic_is_deterministic_and_balanced() {
        let _rng = crate::engine::test_rng_lock();
        let c = Call::new("synthetic_images")
            .with("train", Value::Int(300))
            .with("val", Value::Int(50));
        let a = Task::from_call(&c).unwrap();
        let b = Task::from_call(&c).unwrap();
        assert!(
            a.train
                .in_memory()
                .unwrap()
                .equal(b.train.in_memory().unwrap())
                && a.val.labels().equal(b.val.labels())
        );
        assert_eq!(a.train.in_memory().unwrap().size(), vec![300, 3, 32, 32]);
        let d = Task::from_call(&c.clone().with("seed", Value::Int(1))).unwrap();
        assert!(
            !a.train
                .in_memory()
                .unwrap()
                .equal(d.train.in_memory().unwrap())
        );
        let counts = a.train.labels().bincount(None::<Tensor>, 10);
        assert!(counts.min().int64_value(&[]) > 10);
        assert!(Task::from_call(&c.clone().with("classes", Value::Int(99))).is_err());
    }

    #[test]
    fn cifar_binary_reader() {
        let _rng = crate::engine::test_rng_lock();
        let dir = tempfile::tempdir().unwrap();
        let rec = |n: usize, lab0: u8| {
            let mut v = vec![];
            for i in 0..n {
                v.push((lab0 as usize + i) as u8 % 10);
                v.extend((0..3072).map(|j| ((i * 7 + j) % 256) as u8));
            }
            v
        };
        for i in 1..=5 {
            std::fs::write(
                dir.path().join(format!("data_batch_{i}.bin")),
                rec(3, i as u8),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("test_batch.bin"), rec(2, 0)).unwrap();
        let call =
            Call::new("cifar10").with("path", Value::Str(dir.path().to_string_lossy().into()));
        let t = Task::from_call(&call).unwrap();
        assert_eq!(t.train.in_memory().unwrap().size(), vec![15, 3, 32, 32]);
        assert_eq!(t.val.labels().size(), vec![2]);
        assert_eq!(t.train.labels().int64_value(&[0]), 1);
        // pixel j of record i is (i*7+j)%256; channel-major layout
        assert_eq!(t.train.in_memory().unwrap().int64_value(&[1, 0, 0, 5]), 12);
        assert_eq!(
            t.train.in_memory().unwrap().int64_value(&[1, 1, 0, 0]),
            ((7 + 1024) % 256) as i64
        );
        std::fs::write(dir.path().join("test_batch.bin"), vec![0u8; 100]).unwrap();
        assert!(
            Task::from_call(&call)
                .unwrap_err()
                .to_string()
                .contains("3073")
        );
        std::fs::remove_file(dir.path().join("data_batch_3.bin")).unwrap();
        assert!(
            Task::from_call(&call)
                .unwrap_err()
                .to_string()
                .contains("data_batch_1.bin")
        );
    }

    /// A small MNIST-format data set in `dir` under the MNIST names: `ntr` training and `nva`
    /// validation images of r × c, pixel j of image i = (7i + j) mod 256 (validation: + 1),
    /// labels i mod k; training files gzip-compressed, validation files plain.
    fn write_idx_set(dir: &Path, ntr: usize, nva: usize, r: usize, c: usize, k: u8) {
        let f = crate::idx::Files::default();
        for (n, off, gz, images, labels) in [
            (ntr, 0, true, &f.train_images, &f.train_labels),
            (nva, 1, false, &f.val_images, &f.val_labels),
        ] {
            let px: Vec<u8> = (0..n)
                .flat_map(|i| (0..r * c).map(move |j| ((7 * i + j + off) % 256) as u8))
                .collect();
            let lab: Vec<u8> = (0..n).map(|i| (i % k as usize) as u8).collect();
            let name = |s: &str| if gz { format!("{s}.gz") } else { s.to_string() };
            let dims = [n as u32, r as u32, c as u32];
            std::fs::write(
                dir.join(name(images)),
                crate::idx::test_file(&dims, &px, gz),
            )
            .unwrap();
            std::fs::write(
                dir.join(name(labels)),
                crate::idx::test_file(&[n as u32], &lab, gz),
            )
            .unwrap();
        }
    }

    #[test]
    fn idx_tasks_read_pad_and_subset() {
        let _rng = crate::engine::test_rng_lock();
        let dir = tempfile::tempdir().unwrap();
        write_idx_set(dir.path(), 20, 6, 28, 28, 10);
        let path = Value::Str(dir.path().to_string_lossy().into());
        let call = Call::new("fashion_mnist").with("path", path.clone());
        let t = Task::from_call(&call).unwrap();
        assert_eq!((t.channels, t.height, t.width, t.classes), (1, 28, 28, 10));
        let tx = t.train.in_memory().unwrap();
        assert_eq!(tx.size(), vec![20, 1, 28, 28]);
        assert_eq!(tx.int64_value(&[3, 0, 1, 2]), 7 * 3 + 28 + 2);
        assert_eq!(t.val.in_memory().unwrap().int64_value(&[0, 0, 0, 0]), 1);
        assert_eq!(t.train.labels().int64_value(&[13]), 3);
        // the statistics: exact over the bytes, and equal to libtorch's over the tensor
        let (m, s) = tensor_stats(tx);
        assert!((t.mean[0] - m[0]).abs() < 1e-5 && (t.std[0] - s[0]).abs() < 1e-5);
        // size 32: zero-padded, centred (2 pixels each side)
        let t32 = Task::from_call(&call.clone().with("size", Value::Int(32))).unwrap();
        let x32 = t32.train.in_memory().unwrap();
        assert_eq!(x32.size(), vec![20, 1, 32, 32]);
        assert!(x32.narrow(2, 2, 28).narrow(3, 2, 28).equal(tx));
        assert_eq!(x32.narrow(2, 0, 2).sum(Kind::Int64).int64_value(&[]), 0);
        assert_eq!(x32.narrow(3, 30, 2).sum(Kind::Int64).int64_value(&[]), 0);
        assert!(t32.mean[0] < t.mean[0]);
        // subsets: seeded, in file order, labels follow their images
        let sub = call
            .clone()
            .with("train", Value::Int(5))
            .with("val", Value::Int(3))
            .with("seed", Value::Int(4));
        let a = Task::from_call(&sub).unwrap();
        assert_eq!((a.n_train(), a.n_val()), (5, 3));
        let idx = crate::idx::subset(20, 5, 4, 0);
        for (k, &i) in idx.iter().enumerate() {
            let k = k as i64;
            assert_eq!(a.train.labels().int64_value(&[k]), (i % 10) as i64);
            assert_eq!(
                a.train.in_memory().unwrap().int64_value(&[k, 0, 0, 0]),
                (7 * i % 256) as i64
            );
        }
        let b = Task::from_call(&sub.clone().with("seed", Value::Int(5))).unwrap();
        assert!(!a.train.labels().equal(b.train.labels()));
        // parameter errors
        let e = |c: &Call| Task::from_call(c).unwrap_err().to_string();
        let m = e(&call.clone().with("train", Value::Int(21)));
        assert!(
            m.contains("`train`") && m.contains("asks for 21 images; the data set has 20"),
            "{m}"
        );
        let m = e(&call.clone().with("size", Value::Int(24)));
        assert!(
            m.contains("`size`") && m.contains("smaller than the images (28 × 28)"),
            "{m}"
        );
        // idx_images: its own names, classes and sizes
        let d2 = tempfile::tempdir().unwrap();
        write_idx_set(d2.path(), 12, 4, 5, 7, 3);
        let f = crate::idx::Files::default();
        std::fs::rename(
            d2.path().join(format!("{}.gz", f.train_images)),
            d2.path().join("my-train.gz"),
        )
        .unwrap();
        let p2 = Value::Str(d2.path().to_string_lossy().into());
        let generic = Call::new("idx_images")
            .with("path", p2.clone())
            .with("classes", Value::Int(3))
            .with("size", Value::Int(8));
        let m = e(&generic);
        assert!(
            m.contains("lacks `train-images-idx3-ubyte` (plain or .gz)"),
            "{m}"
        );
        let generic = generic.with("train_images", Value::Str("my-train".into()));
        let t = Task::from_call(&generic).unwrap();
        assert_eq!((t.channels, t.height, t.width, t.classes), (1, 8, 8, 3));
        // 5 × 7 in 8 × 8: top 1, left 0; the odd row and column at the bottom and right
        let x = t.train.in_memory().unwrap();
        assert_eq!(x.int64_value(&[0, 0, 1, 0]), 0);
        assert_eq!(x.int64_value(&[0, 0, 1, 6]), 6);
        assert_eq!(x.int64_value(&[0, 0, 0, 0]), 0);
        assert_eq!(x.int64_value(&[0, 0, 6, 0]), 0);
        let m = e(&generic.clone().with("classes", Value::Int(2)));
        assert!(
            m.contains("dataset `idx_images` at ")
                && m.contains(
                    "train-labels-idx1-ubyte.gz: label 2 at index 2 is not below the number of classes (2); set `classes` to at least 3"
                ),
            "{m}"
        );
        // a missing data set: the install command for Fashion-MNIST
        let m = e(&Call::new("fashion_mnist").with(
            "path",
            Value::Str(dir.path().join("absent").to_string_lossy().into()),
        ));
        assert!(
            m.contains("dataset `fashion_mnist` at")
                && m.contains("does not exist")
                && m.contains("sudo apt-get install dataset-fashion-mnist"),
            "{m}"
        );
    }

    /// One-channel inputs (the IDX tasks) build and train every architecture family, with
    /// backprop and with a backward-weights rule (dx through B into a 1-channel input).
    #[test]
    fn one_channel_inputs_work_with_every_architecture() {
        let _rng = crate::engine::test_rng_lock();
        let dir = tempfile::tempdir().unwrap();
        write_idx_set(dir.path(), 8, 4, 28, 28, 10);
        let path = Value::Str(dir.path().to_string_lossy().into());
        let s = crate::value::Call::new("supervised");
        for (arch, size) in [
            (Call::new("knet4"), 28),
            (Call::new("knet5"), 32),
            (Call::new("alexnet"), 67),
            (Call::new("resnet18"), 32),
            (
                Call::new("mlp").with("hidden", Value::List(vec![Value::Int(16)])),
                28,
            ),
        ] {
            let t = Task::from_call(
                &Call::new("fashion_mnist")
                    .with("path", path.clone())
                    .with("size", Value::Int(size)),
            )
            .unwrap();
            let a = t.fill_arch(&arch.with("width", Value::Float(0.125)));
            assert_eq!(a.i64("in_channels"), Some(1));
            for backward in [false, true] {
                let m = crate::engine::Model::new(&a, &s, backward, 0, Device::Cpu).unwrap();
                let x = t
                    .normalize(&t.inputs(&t.train.range(0, 4).unwrap(), Device::Cpu))
                    .set_requires_grad(true);
                let y = m.forward(&x, &mut crate::engine::Pass::plain(true));
                assert_eq!(y.size(), vec![4, 10], "{}", a.name);
                y.cross_entropy_for_logits(&t.train.labels().narrow(0, 0, 4))
                    .backward();
                let g = x.grad();
                assert_eq!(g.size(), vec![4, 1, size, size]);
                assert!(
                    g.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                    "{} backward={backward}: no gradient reaches the input",
                    a.name
                );
            }
        }
    }

    /// A few hundred real Fashion-MNIST images (Debian's dataset-fashion-mnist, when installed)
    /// train a quarter-width KNet4 well above chance (0.1) in two epochs.
    #[test]
    fn knet4_learns_fashion_mnist_when_installed() {
        use crate::engine::train::{TrainJob, TrainOutcome, TrainSettings, train};
        let _rng = crate::engine::test_rng_lock();
        let dir = Path::new(crate::idx::FASHION_MNIST_DIR);
        if crate::idx::locate(dir, "train-images-idx3-ubyte").is_none() {
            eprintln!(
                "skipped: Fashion-MNIST is not installed ({})",
                crate::idx::FASHION_MNIST_INSTALL
            );
            return;
        }
        let settings = TrainSettings {
            epochs: 2,
            batch: 32,
            lr: 0.02,
            scale_lr: false,
            checkpoints: vec![],
            ..TrainSettings::default()
        };
        let job = TrainJob {
            arch: Call::new("knet4")
                .with("width", Value::Float(0.25))
                .with("init", Value::Str("he".into())),
            rule: Call::new("sgdm"),
            task: Call::new("fashion_mnist")
                .with("train", Value::Int(512))
                .with("val", Value::Int(256))
                .with("size", Value::Int(32)),
            objective: Call::new("supervised")
                .with("flip", Value::Bool(false))
                .with("shift", Value::Int(0)),
            settings,
        };
        let d = tempfile::tempdir().unwrap();
        let out = train(
            &job,
            d.path(),
            Device::Cpu,
            &mut |_, _, _| Ok(()),
            &mut |_| {},
        )
        .unwrap();
        assert!(matches!(out, TrainOutcome::Completed { .. }), "{out:?}");
        let h = out.history();
        let acc: Vec<f64> = h.iter().filter_map(|r| r.val_acc).collect();
        eprintln!("Fashion-MNIST, 512 images, KNet4 ×0.25, SGDM: val accuracy by epoch {acc:?}");
        // 0.63 on this machine; chance is 0.1 (± 0.02 with 256 images).
        assert!(*acc.last().unwrap() > 0.45, "{acc:?}");
        assert!(h.last().unwrap().train_loss < h[0].train_loss || h.len() == 1);
    }

    /// Time and peak memory of loading all of Fashion-MNIST (60,000 + 10,000 images) into a
    /// task: `cargo test --lib bench_fashion_load -- --ignored --nocapture` (docs/engine.md).
    #[test]
    #[ignore]
    fn bench_fashion_load() {
        let hwm = || {
            std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("VmHWM:"))
                        .map(|l| l.to_string())
                })
                .unwrap_or_default()
        };
        eprintln!("before: {}", hwm());
        let t0 = std::time::Instant::now();
        let dir = Path::new(crate::idx::FASHION_MNIST_DIR);
        let f = crate::idx::Files::default();
        for (x, y) in [
            (&f.train_images, &f.train_labels),
            (&f.val_images, &f.val_labels),
        ] {
            let find = |n: &str| crate::idx::locate(dir, n).unwrap();
            crate::idx::read_pair(&find(x), &find(y), 10).unwrap();
        }
        eprintln!(
            "reading and checking the four files: {:.2} s; peak {}",
            t0.elapsed().as_secs_f64(),
            hwm()
        );
        for size in [28, 32] {
            let t0 = std::time::Instant::now();
            let t = Task::from_call(&Call::new("fashion_mnist").with("size", Value::Int(size)))
                .unwrap();
            eprintln!(
                "size {size}: {t:?} in {:.2} s; mean {:.4} std {:.4}; peak {}",
                t0.elapsed().as_secs_f64(),
                t.mean[0],
                t.std[0],
                hwm()
            );
        }
    }

    #[test]
    fn image_folder_reader() {
        let _rng = crate::engine::test_rng_lock();
        let dir = tempfile::tempdir().unwrap();
        for (ci, cls) in ["cat", "dog"].iter().enumerate() {
            let d = dir.path().join(cls);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..5u8 {
                let img =
                    image::RgbImage::from_pixel(10, 8, image::Rgb([ci as u8 * 200, i * 10, 7]));
                img.save(d.join(format!("{i}.png"))).unwrap();
            }
        }
        let call = Call::new("image_folder")
            .with("path", Value::Str(dir.path().to_string_lossy().into()))
            .with("size", Value::Int(6))
            .with("val_fraction", Value::Float(0.2));
        let t = Task::from_call(&call).unwrap();
        assert_eq!(t.classes, 2);
        assert_eq!(t.train.in_memory().unwrap().size(), vec![8, 3, 6, 6]);
        assert_eq!(t.n_val(), 2);
        // class 1 ("dog") images have red 200
        let i = (0..8)
            .find(|&i| t.train.labels().int64_value(&[i]) == 1)
            .unwrap();
        assert_eq!(t.train.in_memory().unwrap().int64_value(&[i, 0, 3, 3]), 200);
        assert_eq!(t.train.in_memory().unwrap().int64_value(&[i, 2, 3, 3]), 7);
        // An explicit `val_path` with the same class folders: all of `path` trains.
        let val = tempfile::tempdir().unwrap();
        let d = val.path().join("dog");
        std::fs::create_dir_all(&d).unwrap();
        image::RgbImage::from_pixel(6, 6, image::Rgb([1, 2, 3]))
            .save(d.join("v.png"))
            .unwrap();
        let t = Task::from_call(
            &call
                .clone()
                .with("val_path", Value::Str(val.path().to_string_lossy().into())),
        )
        .unwrap();
        assert_eq!((t.n_train(), t.n_val()), (10, 1));
        assert_eq!(t.val.labels().int64_value(&[0]), 1);
    }

    #[test]
    fn augment_shapes_and_determinism() {
        let _rng = crate::engine::test_rng_lock();
        let x = Tensor::rand([4, 3, 8, 8], (Kind::Float, Device::Cpu));
        let obj = Objective::from_call(&Call::new("contrastive").with("blur", Value::Float(1.0)));
        let a = Augment::from_objective(&obj.unwrap());
        let y1 = a.apply(&x, &mut ChaCha8Rng::seed_from_u64(5));
        let y2 = a.apply(&x, &mut ChaCha8Rng::seed_from_u64(5));
        assert!(y1.equal(&y2));
        assert_eq!(y1.size(), x.size());
        // pure shift: every output pixel is an input pixel of the same row/col neighbourhood
        let s = Augment {
            flip: false,
            shift: 2,
            color: 0.0,
            grayscale: 0.0,
            blur: 0.0,
            blur_sigma: 1.0,
        };
        let y = s.apply(&x, &mut ChaCha8Rng::seed_from_u64(1));
        let e = Tensor::arange(64, (Kind::Float, Device::Cpu)).view([1, 1, 8, 8]);
        let ys = s.apply(&e, &mut ChaCha8Rng::seed_from_u64(3));
        let d = &ys - &e;
        // a shift by (dy, dx) adds a constant 8·dy + dx in the interior
        let centre = d.narrow(2, 2, 4).narrow(3, 2, 4);
        assert_eq!(
            centre.max().double_value(&[]),
            centre.min().double_value(&[])
        );
        assert_eq!(y.size(), x.size());
    }
}
