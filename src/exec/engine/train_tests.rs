//! Tests of the trainer (`train.rs`).

use super::diagnostics::angle_degrees;
use super::settings::Schedule;
use super::*;
use crate::value::Call;
use crate::value::Value;

fn job(rule: &str, epochs: i64, lr: f64) -> TrainJob {
    let settings = TrainSettings {
        epochs: epochs as u32,
        batch: 32,
        lr,
        scale_lr: false,
        checkpoints: (0..=epochs as u32).collect(),
        keep_checkpoints: true,
        ..TrainSettings::default()
    };
    TrainJob {
        arch: Call::new("knet4")
            .with("width", Value::Float(0.5))
            .with("init", Value::Str("he".into())),
        rule: Call::new(rule),
        task: Call::new("synthetic_images")
            .with("train", Value::Int(256))
            .with("val", Value::Int(64)),
        objective: Call::new("supervised"),
        settings,
    }
}

#[test]
fn resume_is_bit_identical() {
    let _rng = crate::exec::engine::test_rng_lock();
    for rule in ["ia", "kolen_pollack"] {
        let mut j = job(rule, 3, 0.05);
        // The paper's init: stable at this rate for IA and KP (He init diverges here).
        j.arch = j.arch.with("init", Value::Str("paper".into()));
        let a = tempfile::tempdir().unwrap();
        let mut final_a = vec![];
        let mut seen_a = vec![];
        let out_a = train(
            &j,
            a.path(),
            Device::Cpu,
            &mut |e, m, _| {
                seen_a.push(e);
                if e == 3 {
                    final_a = crate::exec::engine::test_params_of(m);
                }
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(seen_a, vec![0, 1, 2, 3]);
        // Interrupted run: the observer fails at epoch 2 (after checkpoint 2 is written).
        let b = tempfile::tempdir().unwrap();
        let err = train(
            &j,
            b.path(),
            Device::Cpu,
            &mut |e, _, _| {
                if e == 2 {
                    anyhow::bail!("simulated crash")
                } else {
                    Ok(())
                }
            },
            &mut |_| {},
        );
        assert!(err.unwrap_err().to_string().contains("simulated crash"));
        let mut final_b = vec![];
        let mut seen_b = vec![];
        let out_b = train(
            &j,
            b.path(),
            Device::Cpu,
            &mut |e, m, _| {
                seen_b.push(e);
                if e == 3 {
                    final_b = crate::exec::engine::test_params_of(m);
                }
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            seen_b,
            vec![2, 3],
            "resumed epoch 2 is observed again, then 3"
        );
        let TrainOutcome::Completed { resumed_from, .. } = &out_b else {
            panic!("diverged")
        };
        assert_eq!(*resumed_from, Some(2));
        assert_eq!(final_a.len(), final_b.len());
        for ((ka, ta), (kb, tb)) in final_a.iter().zip(&final_b) {
            assert_eq!(ka, kb);
            assert!(ta.equal(tb), "{rule}: parameter {ka} differs after resume");
        }
        let strip = |h: &[EpochRecord]| {
            h.iter()
                .map(|r| (r.epoch, r.train_loss, r.train_acc, r.val_loss, r.val_acc))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(out_a.history()), strip(out_b.history()));
        // B moved for IA (alignment loss) and KP (tied gradient)
        assert!(out_a.history()[0].alignment_loss != 0.0);
    }
}

/// SIGINT / SIGTERM raise the stop flag: training halts before the next step (it once ran on to
/// the next 20-step boundary, ≈ 25 s of IA on a CPU, past a short Slurm KillWait).
#[test]
fn a_raised_stop_flag_halts_before_the_next_step() {
    let _rng = crate::exec::engine::test_rng_lock();
    // 256 images at batch 32: 8 steps, all of which the old 20-step check let run.
    let j = job("sgdm", 1, 0.05);
    let mut tr = Trainer::new(&j, Device::Cpu).unwrap();
    let before = crate::exec::engine::test_params_of(&tr.model);
    tr.stop = Some(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(
        true,
    )));
    let r = tr.run_epoch(0, &mut |_| {});
    assert!(matches!(r, Err(Halt::Interrupted)), "{r:?}");
    let after = crate::exec::engine::test_params_of(&tr.model);
    assert_eq!(before.len(), after.len());
    for ((k, a), (_, b)) in before.iter().zip(&after) {
        assert!(
            a.equal(b),
            "`{k}` changed: a step ran after the stop flag was raised"
        );
    }
}

#[test]
fn divergence_is_detected() {
    let _rng = crate::exec::engine::test_rng_lock();
    let j = job("sgdm", 2, 1e12);
    let d = tempfile::tempdir().unwrap();
    let out = train(
        &j,
        d.path(),
        Device::Cpu,
        &mut |_, _, _| Ok(()),
        &mut |_| {},
    )
    .unwrap();
    assert!(
        matches!(out, TrainOutcome::Diverged { epoch: 1, .. }),
        "{out:?}"
    );
}

#[test]
fn fa_keeps_backward_weights_fixed() {
    let _rng = crate::exec::engine::test_rng_lock();
    let j = job("fa", 1, 1e-3);
    let mut tr = Trainer::new(&j, Device::Cpu).unwrap();
    let before: Vec<Tensor> = tr
        .model
        .aligned_layers()
        .iter()
        .map(|l| l.bwd.as_ref().unwrap().copy())
        .collect();
    let w0 = tr.model.aligned_layers()[1].w.copy();
    tr.run_epoch(0, &mut |_| {}).unwrap();
    for (l, b) in tr.model.aligned_layers().iter().zip(&before) {
        assert!(
            l.bwd.as_ref().unwrap().equal(b),
            "B of {} changed under FA",
            l.name
        );
    }
    assert!(!tr.model.aligned_layers()[1].w.equal(&w0), "W must move");
}

/// The update-angle diagnostic: 0° when every B mirrors W (FA is then backprop), clearly
/// above 0° for FA's random B in every layer whose error comes through a B (all but the
/// top layer), B and the gradients untouched afterwards, and ‖W‖/‖W₀‖ = 1 before training.
/// Checked independently against an explicit computation: backprop's dW from a model
/// without B (libtorch autograd) and FA's dW from the trainer's own step gradients.
#[test]
fn update_angles_against_backprop() {
    let _rng = crate::exec::engine::test_rng_lock();
    let j = job("fa", 1, 1e-3);
    let tr = Trainer::new(&j, Device::Cpu).unwrap();
    let b_before: Vec<Tensor> = tr
        .model
        .aligned_layers()
        .iter()
        .map(|l| l.bwd.as_ref().unwrap().copy())
        .collect();
    let rec = tr.alignment();
    assert_eq!(rec.len(), 4);
    for (l, r) in tr.model.aligned_layers().iter().zip(&rec) {
        assert_eq!(r.w_growth, Some(1.0), "{}", l.name);
        let a = r.update_angle.expect("update angle");
        if l.name == "fc4" {
            // The top layer's dW needs no error from above: identical to backprop's.
            assert!(a < 1e-2, "fc4 update angle {a}");
        } else {
            assert!(a > 5.0 && a < 175.0, "{} update angle {a}", l.name);
        }
    }
    for (l, b) in tr.model.aligned_layers().iter().zip(&b_before) {
        assert!(l.bwd.as_ref().unwrap().equal(b), "B of {} restored", l.name);
        let g = l.w.grad();
        assert!(!g.defined() || g.abs().sum(Kind::Double).double_value(&[]) == 0.0);
    }
    // Independent: backprop's dW on the same batch from a model with the same W and no B.
    let arch = tr.task.fill_arch(&j.arch);
    let bp = Model::new(&arch, &j.objective, false, 0, Device::Cpu).unwrap();
    tch::no_grad(|| {
        for (d, s) in bp.aligned_layers().iter().zip(tr.model.aligned_layers()) {
            d.w.shallow_clone().copy_(&s.w);
            if let (Some(db), Some(sb)) = (&d.bias, &s.bias) {
                db.shallow_clone().copy_(sb);
            }
        }
    });
    let (x, y) = tr.task.val_batch(DIAG_STIMULI, Device::Cpu).unwrap();
    let out = bp.forward(&x, &mut Pass::plain(false));
    out.cross_entropy_for_logits(&y).backward();
    let fa = tr.model.forward(&x, &mut Pass::plain(false));
    fa.cross_entropy_for_logits(&y).backward();
    for ((lb, lf), r) in bp
        .aligned_layers()
        .iter()
        .zip(tr.model.aligned_layers())
        .zip(&rec)
    {
        let a = angle_degrees(&lf.w.grad(), &lb.w.grad()).unwrap();
        let got = r.update_angle.unwrap();
        assert!((a - got).abs() < 1e-3, "{}: {got} vs {a}", lf.name);
    }
    // B := W makes every angle 0.
    tch::no_grad(|| {
        for l in tr.model.aligned_layers() {
            let _ = l.w.grad().zero_();
            l.bwd
                .as_ref()
                .unwrap()
                .shallow_clone()
                .copy_(&l.swap_layout(&l.w));
        }
    });
    for (n, a) in tr.update_angles().unwrap() {
        assert!(a < 1e-2, "{n}: {a}");
    }
    // Backprop rules record nothing.
    let sgd = Trainer::new(&job("sgdm", 1, 1e-2), Device::Cpu).unwrap();
    assert!(sgd.alignment().is_empty());
}

/// KNet4 on the synthetic task learns clearly above chance (10%) with each main rule.
#[test]
fn knet4_learns_synthetic_with_each_rule() {
    let _rng = crate::exec::engine::test_rng_lock();
    let task = || {
        Task::from_call(
            &Call::new("synthetic_images")
                .with("train", Value::Int(2048))
                .with("val", Value::Int(512))
                .with("noise", Value::Float(0.25)),
        )
        .unwrap()
    };
    let mut report = vec![];
    // Deterministic on CPU (seeded data, init and order). Chance is 0.1; with 512 validation
    // images 0.14 is 3 standard errors above it. He init: the paper's KNet init needs far
    // more epochs to leave its plateau under SGD (docs/engine.md).
    let epochs = 5;
    for (rule, lr) in [("sgdm", 0.05), ("adam", 2e-3), ("fa", 2e-3), ("ia", 2e-3)] {
        let mut j = job(rule, epochs, lr);
        j.settings.batch = 64;
        j.settings.weight_decay = 1e-5;
        j.settings.checkpoints = vec![];
        let tr = Trainer::with_task(&j, task(), Device::Cpu).unwrap();
        let d = tempfile::tempdir().unwrap();
        let out = train_with(tr, &j, d.path(), &mut |_, _, _| Ok(()), &mut |_| {}).unwrap();
        assert!(
            matches!(out, TrainOutcome::Completed { .. }),
            "{rule}: {out:?}"
        );
        let acc = out.history().last().unwrap().val_acc.unwrap();
        report.push((rule, acc));
    }
    eprintln!("val accuracy after {epochs} epochs: {report:?}");
    for (rule, acc) in report {
        assert!(
            acc > 0.14,
            "{rule}: val accuracy {acc} not clearly above chance"
        );
    }
}

#[test]
fn contrastive_objective_trains() {
    let _rng = crate::exec::engine::test_rng_lock();
    let mut j = job("sgdm", 1, 0.05);
    j.objective = Call::new("contrastive").with("temperature", Value::Float(0.5));
    j.settings.checkpoints = vec![];
    let d = tempfile::tempdir().unwrap();
    let out = train(
        &j,
        d.path(),
        Device::Cpu,
        &mut |_, _, _| Ok(()),
        &mut |_| {},
    )
    .unwrap();
    let r = &out.history()[0];
    assert!(r.train_loss.is_finite() && r.val_acc.unwrap() > 0.0);
    // NT-Xent of perfectly matched, well separated views is small
    let z = Tensor::eye(4, (Kind::Float, Device::Cpu)).repeat([2, 1]);
    let (l, c) = nt_xent(&z, 0.1);
    assert!(l.double_value(&[]) < 1e-3);
    assert_eq!(c.double_value(&[]), 8.0);
}

#[test]
fn settings_and_devices() {
    let _rng = crate::exec::engine::test_rng_lock();
    let s = TrainSettings {
        schedule: Schedule::WarmupSteps {
            warmup_epochs: 6.0,
            milestones: vec![30, 60, 80],
            gamma: 0.1,
        },
        lr: 0.1,
        batch: 512,
        ..TrainSettings::default()
    }
    .checked()
    .unwrap();
    assert!((s.lr_at(0.0)).abs() < 1e-12);
    assert!(
        (s.lr_at(3.0) - 0.1).abs() < 1e-12,
        "half of warmup of 2·0.1"
    );
    assert!((s.lr_at(10.0) - 0.2).abs() < 1e-12);
    assert!((s.lr_at(30.0) - 0.02).abs() < 1e-12);
    assert!((s.lr_at(85.0) - 0.0002).abs() < 1e-12);
    let bad = TrainSettings {
        checkpoints: vec![200],
        ..TrainSettings::default()
    }
    .checked();
    assert!(bad.unwrap_err().to_string().contains("checkpoints"));
    assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
    assert!(parse_device("tpu").is_err());
    if !tch::Cuda::is_available() {
        let e = parse_device("cuda:0").unwrap_err().to_string();
        assert!(e.contains("not available"), "{e}");
        assert_eq!(parse_device("auto").unwrap(), Device::Cpu);
    }
}
