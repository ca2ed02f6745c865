//! Tests of the tasks and augmentations (`data.rs`, `data/read.rs`).

use super::*;
use crate::value::Value;
use std::path::Path;

#[test]
fn synthetic_is_deterministic_and_balanced() {
    let _rng = crate::exec::engine::test_rng_lock();
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
    let _rng = crate::exec::engine::test_rng_lock();
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
    let call = Call::new("cifar10").with("path", Value::Str(dir.path().to_string_lossy().into()));
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
    let _rng = crate::exec::engine::test_rng_lock();
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
    let _rng = crate::exec::engine::test_rng_lock();
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
            let m = crate::exec::engine::Model::new(&a, &s, backward, 0, Device::Cpu).unwrap();
            let x = t
                .normalize(&t.inputs(&t.train.range(0, 4).unwrap(), Device::Cpu))
                .set_requires_grad(true);
            let y = m.forward(&x, &mut crate::exec::engine::Pass::plain(true));
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
    use crate::exec::engine::train::{TrainJob, TrainOutcome, TrainSettings, train};
    let _rng = crate::exec::engine::test_rng_lock();
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
        let t =
            Task::from_call(&Call::new("fashion_mnist").with("size", Value::Int(size))).unwrap();
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
    let _rng = crate::exec::engine::test_rng_lock();
    let dir = tempfile::tempdir().unwrap();
    for (ci, cls) in ["cat", "dog"].iter().enumerate() {
        let d = dir.path().join(cls);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..5u8 {
            let img = image::RgbImage::from_pixel(10, 8, image::Rgb([ci as u8 * 200, i * 10, 7]));
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
    let _rng = crate::exec::engine::test_rng_lock();
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
