//! The training-regime options of rules with backward weights (docs/engine.md "Regime
//! options"; issue 19): B's own optimizer and rate, alternating task and alignment steps
//! (`rules::Regime`, `train::Trainer::step_phase`), bias in IA's projections
//! (`rules::Rule::information_gradient`), the weight-norm constraint and the hidden layers'
//! learning-rate factor (here) and the shared
//! classifier feedback (`models::TopShared`). Each option's default is the paper's behaviour.

use super::layers::Role;
use super::models::Model;
use super::optim::Optimizer;
use tch::{Kind, Tensor};

/// ‖W‖ (Frobenius) of every layer with backward weights, by layer index: the norms
/// `constrain_norm` holds W to.
pub(crate) fn weight_norms(model: &Model) -> Vec<(usize, f64)> {
    tch::no_grad(|| {
        model
            .aligned_layers()
            .iter()
            .enumerate()
            .filter(|(_, l)| l.has_backward())
            .map(|(i, l)| (i, frobenius(&l.w)))
            .collect()
    })
}

/// ‖B‖ (Frobenius) of every layer with backward weights, by layer index: the norms
/// `constrain_b_norm` holds B to.
pub(crate) fn backward_norms(model: &Model) -> Vec<(usize, f64)> {
    tch::no_grad(|| {
        model
            .aligned_layers()
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.bwd.as_ref().map(|b| (i, frobenius(b))))
            .collect()
    })
}

/// `hidden_lr_scale`: every trainable parameter but the last layer's (the classifier: W and
/// bias) and B steps at `scale` × the rate in `opt`. Nothing to do at 1.
pub(crate) fn scale_hidden_lr(model: &Model, opt: &mut Optimizer, scale: f64) {
    if scale == 1.0 {
        return;
    }
    let top = model
        .aligned_layers()
        .last()
        .map(|l| format!("{}/", l.name));
    for p in model.params().iter().filter(|p| p.trainable()) {
        let classifier = top.as_ref().is_some_and(|t| p.name.starts_with(t.as_str()));
        if p.role != Role::Backward && !classifier {
            opt.scale_lr(&p.name, scale);
        }
    }
}

/// ‖t‖ (Frobenius, in f64): the one formula for ‖W₀‖ and the diagnostics' ‖W‖, so that
/// ‖W‖/‖W₀‖ is exactly 1 before the first step.
pub(crate) fn frobenius(t: &Tensor) -> f64 {
    tch::no_grad(|| {
        t.to_kind(Kind::Double)
            .reshape([-1])
            .norm()
            .double_value(&[])
    })
}

/// Rescale each listed layer's W in place to its norm in `norms` (BioTorch's
/// `constrain_weights`: W ← W·‖W₀‖/‖W‖; the bias is left alone). In place, so the optimizer's
/// state stays attached to the parameter; on the device, without a synchronisation.
pub(crate) fn constrain_norms(model: &Model, norms: &[(usize, f64)]) {
    for &(i, n0) in norms {
        rescale(&model.aligned_layers()[i].w, n0);
    }
}

/// `constrain_b_norm`: [`constrain_norms`] for B (each layer's B ← B·‖B₀‖/‖B‖, in place).
pub(crate) fn constrain_backward_norms(model: &Model, norms: &[(usize, f64)]) {
    for &(i, n0) in norms {
        if let Some(b) = &model.aligned_layers()[i].bwd {
            rescale(b, n0);
        }
    }
}

/// t ← t·n0/‖t‖ in place, without a synchronisation.
fn rescale(t: &Tensor, n0: f64) {
    tch::no_grad(|| {
        let n = t.square().sum(Kind::Double).sqrt();
        let factor = (Tensor::from(n0).to_device(t.device()) / n).to_kind(t.kind());
        let mut t = t.shallow_clone();
        let _ = t.g_mul_(&factor);
    })
}

#[cfg(test)]
mod tests {
    use crate::exec::engine::data::Task;
    use crate::exec::engine::rules::{Phase, build_rule};
    use crate::exec::engine::train::{TrainJob, TrainOutcome, TrainSettings, Trainer};
    use crate::value::{Call, Value};
    use tch::{Device, Kind, Tensor};

    fn task(train: i64) -> Task {
        Task::from_call(
            &Call::new("synthetic_images")
                .with("size", Value::Int(16))
                .with("train", Value::Int(train))
                .with("val", Value::Int(16)),
        )
        .unwrap()
    }

    fn job(rule: Call, lr: f64, batch: i64) -> TrainJob {
        TrainJob {
            arch: Call::new("knet4")
                .with("width", Value::Float(0.25))
                .with("init", Value::Str("he".into())),
            rule,
            task: Call::new("synthetic_images"),
            objective: Call::new("supervised"),
            settings: TrainSettings {
                epochs: 2,
                batch,
                lr,
                scale_lr: false,
                checkpoints: vec![],
                eval_every: 0,
                ..TrainSettings::default()
            },
        }
    }

    fn trainer(rule: Call, lr: f64) -> Trainer {
        Trainer::with_task(&job(rule, lr, 8), task(24), Device::Cpu).unwrap()
    }

    /// A fixed preprocessed batch of the trainer's task.
    fn batch(tr: &Trainer) -> (Tensor, Tensor) {
        let xu = tr
            .task
            .inputs(tr.task.train.in_memory().unwrap(), Device::Cpu);
        let x = tr.task.normalize(&xu).narrow(0, 0, 8);
        let y = tr.task.train.labels().narrow(0, 0, 8);
        (x, y)
    }

    fn snapshot(tr: &Trainer) -> Vec<(String, Tensor)> {
        crate::exec::engine::test_params_of(&tr.model)
    }

    fn same(a: &[(String, Tensor)], b: &[(String, Tensor)]) -> bool {
        a.iter().zip(b).all(|((_, x), (_, y))| x.equal(y))
    }

    /// Which parameters changed between two snapshots: (any B, any other).
    fn moved(a: &[(String, Tensor)], b: &[(String, Tensor)]) -> (bool, bool) {
        let (mut bm, mut wm) = (false, false);
        for ((k, x), (_, y)) in a.iter().zip(b) {
            if !x.equal(y) {
                if k.ends_with("/backward") {
                    bm = true;
                } else {
                    wm = true;
                }
            }
        }
        (bm, wm)
    }

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    /// `b_step_cap`: a cap above every layer's lr·λ changes nothing (bit for bit); a binding
    /// cap scales each layer's first B step by exactly its recorded factor κ/(lr·λ) and leaves
    /// every W step as it was.
    #[test]
    fn b_step_cap_scales_only_b_steps() {
        let _rng = crate::exec::engine::test_rng_lock();
        let lr = 0.02;
        let cap = |k: f64| Call::new("ia").with("b_step_cap", Value::Float(k));
        let mut a = trainer(Call::new("ia"), lr);
        let mut loose = trainer(cap(100.0), lr);
        let (x, y) = batch(&a);
        let p0 = snapshot(&a);
        for t in [&mut a, &mut loose] {
            let _ = t.step(&x, &y, lr);
        }
        assert!(same(&snapshot(&a), &snapshot(&loose)));
        let lambdas: Vec<f64> = loose.b_step.values().map(|s| s.curvature).collect();
        assert!(loose.b_step.values().all(|s| s.factor == 1.0));
        assert!(lambdas.iter().all(|l| *l > 0.0));
        // A cap at half the smallest lr·λ binds in every layer.
        let k = 0.5 * lr * lambdas.iter().copied().fold(f64::MAX, f64::min);
        let mut tight = trainer(cap(k), lr);
        let _ = tight.step(&x, &y, lr);
        let layers: Vec<String> = a
            .model
            .aligned_layers()
            .iter()
            .map(|l| l.name.clone())
            .collect();
        assert_eq!(tight.b_step.len(), layers.len());
        let (sa, st) = (snapshot(&a), snapshot(&tight));
        let mut checked = 0;
        for (((key, pa), (_, pt)), (_, p)) in sa.iter().zip(&st).zip(&p0) {
            if let Some(name) = key.strip_suffix("/backward") {
                let i = layers.iter().position(|l| l == name).unwrap();
                let f = tight.b_step[&i].factor;
                let want = k / (tight.b_step[&i].curvature * lr);
                assert!(
                    f < 1.0 && (f - want).abs() <= 1e-12,
                    "{name}: {f} vs {want}"
                );
                let (da, dt) = (pa - p, pt - p);
                let err = (&dt - &da * f).abs().max().double_value(&[]);
                let scale = (&da * f).abs().max().double_value(&[]);
                // float32: B + ΔB rounds to ~1e-7 of |B|.
                let ulp = 2.5e-7 * p.abs().max().double_value(&[]);
                assert!(
                    scale > 0.0 && err <= 1e-3 * scale + ulp,
                    "{name}: {err} vs {scale}"
                );
                checked += 1;
            } else {
                assert!(pa.equal(pt), "{key} moved differently");
            }
        }
        assert_eq!(checked, layers.len());
    }

    /// `b_step_recheck`: when a layer's output energy grows past ρ × its energy at the last
    /// estimate between two scheduled estimates (here: the classifier's W scaled by 10, so its
    /// energy × 100), that layer's curvature is re-estimated at the next step (the null term's
    /// λ grows with the energy) and counted, while the other layers keep theirs; without it
    /// the estimate stays stale. A ρ that never triggers changes nothing, bit for bit.
    #[test]
    fn b_step_recheck_reestimates_when_energy_grows() {
        let _rng = crate::exec::engine::test_rng_lock();
        let lr = 0.02;
        let ia = |rho: f64| {
            let c = Call::new("ia").with("b_step_cap", Value::Float(100.0));
            if rho > 0.0 {
                c.with("b_step_recheck", Value::Float(rho))
            } else {
                c
            }
        };
        let mut plain = trainer(ia(0.0), lr);
        let mut loose = trainer(ia(1e6), lr);
        let mut watched = trainer(ia(2.0), lr);
        let (x, y) = batch(&plain);
        let top = plain.model.aligned_layers().len() - 1;
        let mut before = vec![];
        for t in [&mut plain, &mut loose, &mut watched] {
            let _ = t.step(&x, &y, lr);
            before.push(t.b_step.clone());
            t.curvature_due = false;
            tch::no_grad(|| {
                let _ = t.model.aligned_layers()[top]
                    .w
                    .shallow_clone()
                    .g_mul_scalar_(10.0);
            });
            let _ = t.step(&x, &y, lr);
        }
        assert!(same(&snapshot(&plain), &snapshot(&loose)));
        assert!(loose.b_step.values().all(|st| st.rechecks == 0));
        // Without the recheck the top layer's estimate is the first step's.
        assert_eq!(plain.b_step[&top].curvature, before[0][&top].curvature);
        let (old, new) = (before[2][&top].curvature, watched.b_step[&top].curvature);
        assert_eq!(watched.b_step[&top].rechecks, 1);
        assert!(new > 10.0 * old, "top layer: λ {old} → {new}");
        for (i, st) in &watched.b_step {
            if *i != top {
                assert_eq!(st.rechecks, 0, "layer {i}");
                assert_eq!(st.curvature, before[2][i].curvature, "layer {i}");
            }
        }
    }

    /// B on a separate optimizer of the rule's own kind at the same rate is the default
    /// training, bit for bit (the split optimizer step is the fused one).
    #[test]
    fn separate_b_optimizer_of_the_same_kind_is_the_default() {
        let _rng = crate::exec::engine::test_rng_lock();
        for rule in ["ia", "symmetric", "kolen_pollack"] {
            let mut a = trainer(Call::new(rule), 0.02);
            let mut b = trainer(Call::new(rule).with("b_optimizer", s("sgdm")), 0.02);
            assert!(b.b_opt.is_some() && a.b_opt.is_none());
            for e in 0..2 {
                a.run_epoch(e, &mut |_| {}).unwrap();
                b.run_epoch(e, &mut |_| {}).unwrap();
            }
            assert!(same(&snapshot(&a), &snapshot(&b)), "{rule}");
        }
    }

    /// `b_optimizer = adam` with `b_lr_scale`: B's first step is Adam's, |ΔB| = lr·scale
    /// wherever its gradient is not tiny, while W takes the rule's SGDM step, as the default
    /// does on the first step.
    #[test]
    fn b_optimizer_adam_at_its_own_rate() {
        let _rng = crate::exec::engine::test_rng_lock();
        let (lr, scale) = (0.01, 0.5);
        let mut a = trainer(Call::new("ia"), lr);
        let mut b = trainer(
            Call::new("ia")
                .with("b_optimizer", s("adam"))
                .with("b_lr_scale", Value::Float(scale)),
            lr,
        );
        let (x, y) = batch(&a);
        let b0 = snapshot(&b);
        let _ = a.step(&x, &y, lr);
        let _ = b.step(&x, &y, lr);
        let (sa, sb) = (snapshot(&a), snapshot(&b));
        let mut checked = 0;
        for (((k, pa), (_, pb)), (_, p0)) in sa.iter().zip(&sb).zip(&b0) {
            if k.ends_with("/backward") {
                let d = (pb - p0).abs().view([-1]);
                let max = d.max().double_value(&[]);
                let med = d.median().double_value(&[]);
                assert!(max <= lr * scale * (1.0 + 1e-5), "{k}: max |ΔB| {max}");
                assert!(med >= 0.99 * lr * scale, "{k}: median |ΔB| {med}");
                assert!(!pa.equal(pb), "{k}: B must differ from SGDM's update");
                checked += 1;
            } else {
                assert!(pa.equal(pb), "{k}: W's first step is the rule's");
            }
        }
        assert_eq!(checked, 4);
    }

    /// `alternate = k`: an alignment step moves only B, a task step only W (for IA's and the
    /// autograd rules' B), also right after the other kind of step has built momentum; for
    /// Kolen-Pollack a task step also moves B by its tied gradient.
    #[test]
    fn alternating_steps_move_only_their_parameters() {
        let _rng = crate::exec::engine::test_rng_lock();
        for rule in ["ia", "symmetric", "kolen_pollack"] {
            let mut tr = trainer(Call::new(rule).with("alternate", Value::Int(1)), 0.02);
            let (x, y) = batch(&tr);
            for phase in [
                Phase::Task,
                Phase::Alignment,
                Phase::Task,
                Phase::Alignment,
                Phase::Both,
                Phase::Alignment,
                Phase::Task,
            ] {
                let before = snapshot(&tr);
                let (_, _, align) = tr.step_phase(&x, &y, 0.02, phase);
                let (b_moved, w_moved) = moved(&before, &snapshot(&tr));
                let want = match phase {
                    Phase::Task => (rule == "kolen_pollack", true),
                    Phase::Alignment => (true, false),
                    Phase::Both => (true, true),
                };
                assert_eq!(
                    (b_moved, w_moved),
                    want,
                    "{rule} {phase:?}: (B moved, W moved)"
                );
                if phase == Phase::Task {
                    assert_eq!(align.double_value(&[]), 0.0, "no alignment loss");
                }
            }
        }
        let r = build_rule(&Call::new("ia").with("alternate", Value::Int(2))).unwrap();
        let got: Vec<Phase> = (0..7).map(|s| r.regime.phase(s)).collect();
        use Phase::{Alignment as A, Task as T};
        assert_eq!(got, vec![A, T, T, A, T, T, A]);
        let d = build_rule(&Call::new("ia")).unwrap();
        assert!((0..5).all(|s| d.regime.phase(s) == Phase::Both));
    }

    /// The training loop counts steps over the whole run: with 3 steps per epoch and
    /// `alternate = 1`, 2 epochs are A T A | T A T (3 updates of B, 3 of W), with
    /// `alternate = 2` A T T | A T T (2 of B, 4 of W). Counted by B's and W's Adam step counts.
    #[test]
    fn alternation_counts_steps_across_epochs() {
        let _rng = crate::exec::engine::test_rng_lock();
        for (k, want_b, want_w) in [(1, 3, 3), (2, 2, 4)] {
            let rule = Call::new("ia")
                .with("optimizer", s("adam"))
                .with("b_optimizer", s("adam"))
                .with("alternate", Value::Int(k));
            let mut tr = trainer(rule, 1e-3);
            for e in 0..2 {
                tr.run_epoch(e, &mut |_| {}).unwrap();
            }
            let count = |st: Vec<(String, Tensor)>, name: &str| {
                st.iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, t)| t.int64_value(&[]))
                    .unwrap_or(0)
            };
            let b = count(
                tr.b_opt.as_ref().unwrap().state_tensors(),
                "bopt/fc4/backward/step",
            );
            let w = count(tr.opt.state_tensors(), "opt/fc4/kernel/step");
            assert_eq!((b, w), (want_b, want_w), "alternate = {k}");
        }
    }

    /// A run with B's own optimizer and alternation resumes bit for bit from a checkpoint (B's
    /// optimizer state is saved as `bopt/...`).
    #[test]
    fn regime_options_resume_bit_identically() {
        let _rng = crate::exec::engine::test_rng_lock();
        let rule = Call::new("ia")
            .with("b_optimizer", s("adam"))
            .with("b_lr_scale", Value::Float(0.1))
            .with("alternate", Value::Int(1))
            .with("projection_bias", Value::Bool(true));
        let mut j = job(rule, 0.01, 8);
        j.settings.epochs = 3;
        j.settings.checkpoints = vec![0, 1, 2, 3];
        let run = |dir: &std::path::Path, crash: bool| {
            let tr = Trainer::with_task(&j, task(24), Device::Cpu).unwrap();
            let mut last = vec![];
            let out = crate::exec::engine::train::train_with(
                tr,
                &j,
                dir,
                &mut |e, m, _| {
                    if crash && e == 2 {
                        anyhow::bail!("simulated crash")
                    }
                    if e == 3 {
                        last = crate::exec::engine::test_params_of(m);
                    }
                    Ok(())
                },
                &mut |_| {},
            );
            (out, last)
        };
        let a = tempfile::tempdir().unwrap();
        let (out_a, pa) = run(a.path(), false);
        assert!(matches!(out_a.unwrap(), TrainOutcome::Completed { .. }));
        let b = tempfile::tempdir().unwrap();
        assert!(run(b.path(), true).0.is_err());
        let (out_b, pb) = run(b.path(), false);
        let TrainOutcome::Completed { resumed_from, .. } = out_b.unwrap() else {
            panic!("not completed")
        };
        assert_eq!(resumed_from, Some(2));
        assert!(!pa.is_empty() && same(&pa, &pb), "resumed run differs");
    }

    /// `constrain_norm`: after every step each layer's ‖W‖ is its initial norm; without it the
    /// norms drift at this rate.
    #[test]
    fn constrained_norms_stay_at_their_initial_values() {
        let _rng = crate::exec::engine::test_rng_lock();
        for constrain in [true, false] {
            let rule = Call::new("fa").with("constrain_norm", Value::Bool(constrain));
            let mut tr = trainer(rule, 0.01);
            let n0 = super::weight_norms(&tr.model);
            assert_eq!(n0.len(), 4);
            for e in 0..2 {
                tr.run_epoch(e, &mut |_| {}).unwrap();
            }
            let n1 = super::weight_norms(&tr.model);
            let worst = n0
                .iter()
                .zip(&n1)
                .map(|((_, a), (_, b))| (a - b).abs() / a)
                .fold(0.0, f64::max);
            if constrain {
                assert!(worst < 1e-5, "relative norm change {worst}");
            } else {
                assert!(worst > 1e-2, "norms barely moved ({worst}): test too weak");
            }
        }
    }

    /// `constrain_b_norm`: IA's B keeps its initial norm while its direction learns; without
    /// it IA's alignment loss changes ‖B‖ at this rate. W is left alone either way.
    #[test]
    fn constrained_backward_norms_stay_at_their_initial_values() {
        let _rng = crate::exec::engine::test_rng_lock();
        let rel = |a: &[(usize, f64)], b: &[(usize, f64)]| {
            a.iter()
                .zip(b)
                .map(|((_, x), (_, y))| (x - y).abs() / x)
                .fold(0.0, f64::max)
        };
        for constrain in [true, false] {
            let rule = Call::new("ia")
                .with("alpha", Value::Float(0.2))
                .with("constrain_b_norm", Value::Bool(constrain));
            let mut tr = trainer(rule, 0.01);
            let (b0, w0) = (
                super::backward_norms(&tr.model),
                super::weight_norms(&tr.model),
            );
            assert_eq!(b0.len(), 4);
            let before = snapshot(&tr);
            tr.run_epoch(0, &mut |_| {}).unwrap();
            let (b1, w1) = (
                super::backward_norms(&tr.model),
                super::weight_norms(&tr.model),
            );
            let (b_moved, _) = moved(&before, &snapshot(&tr));
            assert!(b_moved, "B did not learn");
            assert!(rel(&w0, &w1) > 1e-3, "W's norms must stay free");
            if constrain {
                assert!(
                    rel(&b0, &b1) < 1e-5,
                    "relative ‖B‖ change {}",
                    rel(&b0, &b1)
                );
            } else {
                assert!(rel(&b0, &b1) > 1e-3, "‖B‖ barely moved: test too weak");
            }
        }
        let e = build_rule(&Call::new("fa").with("constrain_b_norm", Value::Bool(true)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("constrain_b_norm"), "{e}");
    }

    /// `hidden_lr_scale`: every parameter but the classifier's and B steps at the factor × the
    /// rate. For SGD with Nesterov momentum the first step is linear in the rate, so at 0.5
    /// the hidden layers move by exactly half their unscaled first step while the classifier
    /// moves as unscaled; at 0 the hidden layers stay at their initial values for a whole
    /// epoch (the readout-only control) under FA and backprop; B is untouched by the factor.
    #[test]
    fn hidden_lr_scale_scales_all_but_the_classifier() {
        let _rng = crate::exec::engine::test_rng_lock();
        let classifier = |k: &str| k.starts_with("fc4/") && !k.ends_with("/backward");
        let step = |scale: f64| {
            let rule = Call::new("sgdm").with("hidden_lr_scale", Value::Float(scale));
            let mut tr = trainer(rule, 0.01);
            let (x, y) = batch(&tr);
            let p0 = snapshot(&tr);
            let _ = tr.step(&x, &y, 0.01);
            let p1 = snapshot(&tr);
            p0.iter()
                .zip(&p1)
                .map(|((k, a), (_, b))| (k.clone(), b - a))
                .collect::<Vec<_>>()
        };
        let (full, half) = (step(1.0), step(0.5));
        for ((k, d1), (_, dh)) in full.iter().zip(&half) {
            let want = if classifier(k) {
                d1.shallow_clone()
            } else {
                d1 * 0.5
            };
            let err = (dh - &want).abs().max().double_value(&[]);
            let size = d1.abs().max().double_value(&[]);
            assert!(size > 0.0, "{k} did not move");
            // The difference of float32 weights carries rounding of the weights themselves.
            assert!(
                err <= 1e-3 * size + 1e-7,
                "{k}: step off by {err} (step {size})"
            );
        }
        for rule in ["fa", "adam"] {
            let rule = Call::new(rule).with("hidden_lr_scale", Value::Float(0.0));
            let mut tr = trainer(rule, 0.01);
            let p0 = snapshot(&tr);
            tr.run_epoch(0, &mut |_| {}).unwrap();
            let p1 = snapshot(&tr);
            for ((k, a), (_, b)) in p0.iter().zip(&p1) {
                let frozen = !classifier(k);
                assert_eq!(a.equal(b), frozen, "{k}: frozen {frozen} expected");
            }
        }
    }

    /// `top_feedback = shared`: the classifier's B is constant over the positions of each
    /// channel, its norm is comparable to a random B's, the other layers' B are unchanged, and
    /// under IA (B learns) it stays shared while it moves.
    #[test]
    fn shared_top_feedback() {
        let _rng = crate::exec::engine::test_rng_lock();
        let mk = |rule: &str, top: &str| {
            let j = TrainJob {
                arch: Call::new("knet4").with("init", s("he")),
                ..job(Call::new(rule).with("top_feedback", s(top)), 0.02, 8)
            };
            Trainer::with_task(&j, task(24), Device::Cpu).unwrap()
        };
        let spread = |b: &Tensor, c: i64| {
            let v = b.view([10, c, -1]);
            (v.amax([2i64].as_slice(), false) - v.amin([2i64].as_slice(), false))
                .abs()
                .max()
                .double_value(&[])
        };
        let (rnd, shd) = (mk("fa", "random"), mk("fa", "shared"));
        let t = shd.model.top_shared().expect("shared");
        // 16×16 input: 64 channels × 2×2 positions at full width.
        assert_eq!((t.channels, t.positions), (64, 4));
        let br = rnd.model.aligned_layers()[3].bwd.as_ref().unwrap();
        let bs = shd.model.aligned_layers()[3].bwd.as_ref().unwrap();
        assert_eq!(bs.size(), br.size());
        assert_eq!(spread(bs, 64), 0.0);
        assert!(spread(br, 64) > 0.0);
        let ratio = bs.norm().double_value(&[]) / br.norm().double_value(&[]);
        assert!(
            (0.8..1.25).contains(&ratio),
            "‖B_shared‖/‖B_random‖ = {ratio}"
        );
        for i in 0..3 {
            let (a, b) = (
                rnd.model.aligned_layers()[i].bwd.as_ref().unwrap(),
                shd.model.aligned_layers()[i].bwd.as_ref().unwrap(),
            );
            assert!(a.equal(b), "layer {i}'s B must not change");
        }
        // The projection is orthogonal: idempotent, and the residual is orthogonal to it.
        let g = Tensor::randn([10, 256], (Kind::Double, Device::Cpu));
        let pg = t.project(&g);
        assert!(t.project(&pg).allclose(&pg, 1e-12, 1e-12, false));
        let r = (&g - &pg).view([-1]).dot(&pg.view([-1])).double_value(&[]);
        assert!(r.abs() < 1e-9, "residual · projection = {r}");
        // IA: B learns and stays shared.
        let mut ia = mk("ia", "shared");
        let b0 = ia.model.aligned_layers()[3].bwd.as_ref().unwrap().copy();
        for e in 0..2 {
            ia.run_epoch(e, &mut |_| {}).unwrap();
        }
        let b1 = ia.model.aligned_layers()[3].bwd.as_ref().unwrap();
        assert!(!b1.equal(&b0), "IA's B must move");
        let rel = spread(b1, 64) / b1.abs().max().double_value(&[]);
        assert!(rel < 1e-6, "IA's B left the shared form: {rel}");
    }

    /// `top_feedback = shared` is refused where the classifier reads no spatial map, for the
    /// contrastive objective and with `backward_init = same_draws`; the options that need a
    /// learning B are refused on FA and the backprop rules.
    #[test]
    fn options_are_refused_where_they_do_not_apply() {
        let _rng = crate::exec::engine::test_rng_lock();
        let shared = Call::new("fa").with("top_feedback", s("shared"));
        for (arch, objective, rule) in [
            (Call::new("mlp"), "supervised", shared.clone()),
            (Call::new("resnet18"), "supervised", shared.clone()),
            (Call::new("knet4"), "contrastive", shared.clone()),
            (
                Call::new("knet4"),
                "supervised",
                shared.clone().with("backward_init", s("same_draws")),
            ),
        ] {
            let j = TrainJob {
                arch,
                objective: Call::new(objective),
                ..job(rule, 0.01, 8)
            };
            let e = match Trainer::with_task(&j, task(24), Device::Cpu) {
                Ok(_) => panic!("{j:?} was accepted"),
                Err(e) => e.to_string(),
            };
            assert!(e.contains("top_feedback") && e.contains("random"), "{e}");
        }
        for (rule, p, v) in [
            ("fa", "b_optimizer", s("adam")),
            ("fa", "alternate", Value::Int(1)),
            ("fa", "b_lr_scale", Value::Float(2.0)),
            ("sgdm", "constrain_norm", Value::Bool(true)),
            ("adam", "top_feedback", s("shared")),
            ("ia", "b_optimizer", s("rmsprop")),
            ("ia", "b_lr_scale", Value::Float(-1.0)),
            ("ia", "alternate", Value::Int(-1)),
            ("sgdm", "hidden_lr_scale", Value::Float(-0.5)),
            ("fa", "hidden_lr_scale", Value::Float(f64::NAN)),
        ] {
            let e = build_rule(&Call::new(rule).with(p, v))
                .unwrap_err()
                .to_string();
            assert!(e.contains(p), "{rule}.{p}: {e}");
        }
    }
}
