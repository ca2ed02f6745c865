//! Tasks (datasets) and the augmentations of the objectives (method.md §7).
//!
//! Images are kept as u8 [N, C, H, W] on the CPU; a batch is gathered, moved to the device,
//! scaled to [0, 1], augmented, then normalised with the training set's per-channel mean/std.
//! All augmentation randomness comes from a ChaCha generator the training loop seeds from
//! (data seed, epoch), never from global state.

use super::error::{EngineError, Result};
use super::store::Examples;
use crate::registry::Objective;
use crate::registry::tasks::TaskConfig;
use crate::value::Call;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use read::{Split, cifar10, idx_task, image_folder, synthetic};
use tch::{Device, Kind, Tensor};

/// A labelled image dataset with a train and a validation split.
pub struct Task {
    /// The task builtin's name (`synthetic_images`, `audio_folder`, ...).
    pub name: String,
    /// Training and validation examples, in memory or streamed from files (`store`).
    pub train: Examples,
    /// The validation examples (the observation stimuli are their first ones).
    pub val: Examples,
    /// Number of classes; labels are in [0, classes).
    pub classes: i64,
    /// Input channels of the networks (1 for audio).
    pub channels: i64,
    /// Input height and width of the networks (equal for images; filters × frames for audio).
    pub height: i64,
    /// Input width of the networks (see `height`).
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

impl Task {
    /// Build a task from its call (every parameter it leaves out takes its registry default).
    pub fn from_call(call: &Call) -> Result<Task> {
        Self::new(&TaskConfig::from_call(&crate::registry::complete(call))?)
    }

    /// Read the task of a typed task config.
    pub fn new(config: &TaskConfig) -> Result<Task> {
        let memory =
            |(tx, ty, vx, vy, k): Split| (Examples::memory(tx, ty), Examples::memory(vx, vy), k);
        // Statistics a reader computed exactly from the bytes (one channel).
        let mut known_stats: Option<(f64, f64)> = None;
        // The seed of the sampled statistics of streamed examples.
        let mut sample_seed = None;
        let (train, val, classes) = match config {
            TaskConfig::SyntheticImages(t) => memory(synthetic(t)?),
            TaskConfig::Cifar10(t) => memory(cifar10(t)?),
            TaskConfig::Idx(t) => {
                let (split, stats) = idx_task(t)?;
                known_stats = Some(stats);
                memory(split)
            }
            TaskConfig::ImageFolder(t) => {
                sample_seed = Some(t.folder.seed);
                image_folder(t)?
            }
            TaskConfig::SyntheticAudio(_) | TaskConfig::AudioFolder(_) => {
                return Self::audio(config);
            }
        };
        let name = config.name();
        if train.is_empty() {
            return Err(EngineError::Invalid(format!(
                "task `{name}` has no training images"
            )));
        }
        let sz = train.range(0, 1)?.size();
        let (mean, std) = match (known_stats, train.in_memory(), sample_seed) {
            (Some((m, s)), _, _) => (vec![m], vec![s.max(1e-3)]),
            (None, Some(tx), None) => tensor_stats(tx),
            (_, _, seed) => sampled_stats(&train, seed.unwrap_or(0))?,
        };
        Ok(Task {
            name: name.to_string(),
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
    fn audio(config: &TaskConfig) -> Result<Task> {
        let (train, val, classes, p) = match config {
            TaskConfig::SyntheticAudio(t) => {
                let (tx, ty, vx, vy, k) = super::audio::synthetic(t)?;
                let (train, val) = (Examples::memory(tx, ty), Examples::memory(vx, vy));
                (train, val, k, &t.cochlea)
            }
            TaskConfig::AudioFolder(t) => {
                let (train, val, k) = super::audio::folder(t)?;
                (train, val, k, &t.cochlea)
            }
            _ => unreachable!("an audio task"),
        };
        let name = config.name();
        if train.is_empty() {
            return Err(EngineError::Invalid(format!(
                "task `{name}` has no training clips"
            )));
        }
        let coch = super::audio::Cochleagram::new(p, Device::Cpu);
        let (height, width) = coch.shape();
        // Normalisation statistics from (at most) the first 512 training clips.
        let n = train.len().min(512);
        let c = coch.apply_chunked(&train.range(0, n)?, 32);
        let mean = vec![c.mean(Kind::Float).double_value(&[])];
        let std = vec![c.std(false).double_value(&[]).max(1e-6)];
        Ok(Task {
            name: name.to_string(),
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

    /// Number of training examples.
    pub fn n_train(&self) -> i64 {
        self.train.len()
    }
    /// Number of validation examples.
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
pub(crate) struct Augment {
    pub flip: bool,
    pub shift: i64,
    pub color: f64,
    pub grayscale: f64,
    pub blur: f64,
    pub blur_sigma: f64,
}

impl Augment {
    /// The augmentations of a typed objective (checked when it was parsed).
    pub(crate) fn from_objective(obj: &Objective) -> Augment {
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
    pub(crate) fn apply(&self, x: &Tensor, rng: &mut ChaCha8Rng) -> Tensor {
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
pub(crate) const STATS_SAMPLE: i64 = 50_000;

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

mod read;
#[cfg(test)]
mod tests;
