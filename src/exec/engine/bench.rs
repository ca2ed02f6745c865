//! Training-step benchmark (run by `scripts/bench-train`) and the cochleagram's cost against a
//! training step (`scripts/bench-cochleagram`); ignored in normal test runs.
//!
//! For each (model, input size, batch) and rule: build the trainer on a synthetic task, take
//! warm-up steps on a fixed preprocessed batch, then time `LRX_BENCH_STEPS` steps. Prints one JSON
//! object per line: {"impl":"lrx","model":..,"rule":..,"ms_per_step":..}.

#[cfg(test)]
mod tests {
    use crate::exec::engine::data::Task;
    use crate::exec::engine::train::{TrainJob, TrainSettings, Trainer};
    use crate::value::{Call, Value};
    use tch::Device;

    /// `LRX_BENCH_DEVICE` (`cpu` by default, `cuda`, `cuda:N`, `auto`). Timings call
    /// `double_value` on a result, which waits for the device.
    fn bench_device() -> Device {
        let d = std::env::var("LRX_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into());
        crate::exec::engine::train::parse_device(&d).expect("LRX_BENCH_DEVICE")
    }

    fn env_i64(k: &str, d: i64) -> i64 {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    }

    /// A trainer of `model` with `rule` on a synthetic task of one batch (`size`², `batch`
    /// images), and that batch preprocessed on `dev`.
    fn trainer_on_batch(
        model: &str,
        rule: &str,
        size: i64,
        batch: i64,
        dev: Device,
    ) -> (Trainer, tch::Tensor, tch::Tensor) {
        trainer_with_rule(model, Call::new(rule), size, batch, dev)
    }

    /// [`trainer_on_batch`] with a rule call that carries options.
    fn trainer_with_rule(
        model: &str,
        rule: Call,
        size: i64,
        batch: i64,
        dev: Device,
    ) -> (Trainer, tch::Tensor, tch::Tensor) {
        let task = Task::from_call(
            &Call::new("synthetic_images")
                .with("size", Value::Int(size))
                .with("train", Value::Int(batch))
                .with("val", Value::Int(8)),
        )
        .unwrap();
        let job = TrainJob {
            arch: Call::new(model),
            rule,
            task: Call::new("synthetic_images"),
            objective: Call::new("supervised"),
            settings: TrainSettings {
                batch,
                ..TrainSettings::default()
            },
        };
        let tr = Trainer::with_task(&job, task, dev).unwrap();
        let xu = tr.task.inputs(tr.task.train.in_memory().unwrap(), dev);
        let x = tr.task.normalize(&xu);
        let y = tr.task.train.labels().to_device(dev);
        (tr, x, y)
    }

    #[test]
    #[ignore = "benchmark; run through scripts/bench-train"]
    fn bench_train_steps() {
        let threads = env_i64("LRX_BENCH_THREADS", 2);
        let steps = env_i64("LRX_BENCH_STEPS", 20);
        tch::set_num_threads(threads as i32);
        let configs: Vec<(&str, i64, i64)> = vec![("knet4", 32, 64), ("resnet18", 64, 32)];
        let only = std::env::var("LRX_BENCH_MODELS").unwrap_or_default();
        for (model, size, batch) in configs {
            if !only.is_empty() && !only.split(',').any(|m| m == model) {
                continue;
            }
            // The rules' steps are interleaved in blocks, so that the machine's drift over the
            // run falls on all of them alike; each rule's time is its mean over its steps.
            let rules = ["sgdm", "fa", "ia"];
            let dev = bench_device();
            let mut cells = vec![];
            for rule in rules {
                let (tr, x, y) = trainer_on_batch(model, rule, size, batch, dev);
                cells.push((tr, x, y, 0.0f64));
            }
            for (tr, x, y, _) in cells.iter_mut() {
                for _ in 0..3 {
                    let _ = tr.step(x, y, 1e-3).0.double_value(&[]);
                }
            }
            // Blocks of 10 timed steps per rule, after one untimed step that brings the rule's
            // own tensors back into the caches.
            let block = 10.min(steps);
            let mut done = 0;
            while done < steps {
                let n = block.min(steps - done);
                for (tr, x, y, total) in cells.iter_mut() {
                    let _ = tr.step(x, y, 1e-3).0.double_value(&[]);
                    let t0 = std::time::Instant::now();
                    for _ in 0..n {
                        let (l, _, _) = tr.step(x, y, 1e-3);
                        let _ = l.double_value(&[]);
                    }
                    *total += t0.elapsed().as_secs_f64();
                }
                done += n;
            }
            for (rule, (_, _, _, total)) in rules.iter().zip(&cells) {
                let ms = total * 1000.0 / steps as f64;
                println!(
                    "{{\"impl\":\"lrx\",\"device\":\"{dev:?}\",\"model\":\"{model}\",\"size\":{size},\"batch\":{batch},\"rule\":\"{rule}\",\"threads\":{threads},\"ms_per_step\":{ms:.3}}}"
                );
            }
        }
    }

    /// The cost of IA's `b_step_cap` against IA's plain step, side by side in one run: per
    /// model, IA without the cap, IA with a cap whose curvature estimate is not due (the 49 of
    /// every 50 steps that only rescale B's rate), and IA with the estimate due (power iteration,
    /// `CURVATURE_ITERS` closed-form products per layer). Steps interleave in blocks of 10 so the
    /// machine's drift falls on all three alike. Prints one JSON object per model with the three
    /// means and the overhead of the schedule training uses, one estimate per
    /// `CURVATURE_EVERY` steps: (estimate + (N − 1)·steady) / N / plain − 1; and a fourth cell,
    /// the cap with `b_step_recheck` watching every layer's output energy (a ρ that never
    /// triggers), whose cost against the cap alone is the recheck's per-step price. Run through
    /// `scripts/bench-ia-cap`.
    #[test]
    #[ignore = "benchmark; run through scripts/bench-ia-cap"]
    fn bench_b_step_cap() {
        use crate::exec::engine::train::CURVATURE_EVERY;
        let threads = env_i64("LRX_BENCH_THREADS", 2);
        let steps = env_i64("LRX_BENCH_STEPS", 20);
        let batch = env_i64("LRX_BENCH_BATCH", 64);
        tch::set_num_threads(threads as i32);
        let only = std::env::var("LRX_BENCH_MODELS").unwrap_or_default();
        let dev = bench_device();
        for (model, size) in [("knet4", 32i64), ("resnet18", 64)] {
            if !only.is_empty() && !only.split(',').any(|m| m == model) {
                continue;
            }
            let plain = Call::new("ia");
            let capped = Call::new("ia").with("b_step_cap", Value::Float(0.5));
            // (label, trainer, x, y, estimate due at every step, seconds)
            let mut cells = vec![];
            let watched = capped.clone().with("b_step_recheck", Value::Float(1e6));
            for (label, rule, due) in [
                ("plain", plain, false),
                ("steady", capped.clone(), false),
                ("estimate", capped, true),
                ("watched", watched, false),
            ] {
                let (tr, x, y) = trainer_with_rule(model, rule, size, batch, dev);
                cells.push((label, tr, x, y, due, 0.0f64));
            }
            let step = |tr: &mut Trainer, x: &tch::Tensor, y: &tch::Tensor, due: bool| {
                tr.curvature_due = due;
                let _ = tr.step(x, y, 1e-3).0.double_value(&[]);
            };
            // Warm-up: the capped trainers make their first estimate here (a layer without one
            // is estimated whatever `curvature_due` says).
            for (_, tr, x, y, due, _) in cells.iter_mut() {
                for _ in 0..3 {
                    step(tr, x, y, *due);
                }
            }
            let block = 10.min(steps);
            let mut done = 0;
            while done < steps {
                let n = block.min(steps - done);
                for (_, tr, x, y, due, total) in cells.iter_mut() {
                    step(tr, x, y, *due);
                    let t0 = std::time::Instant::now();
                    for _ in 0..n {
                        step(tr, x, y, *due);
                    }
                    *total += t0.elapsed().as_secs_f64();
                }
                done += n;
            }
            let ms: Vec<f64> = cells.iter().map(|c| c.5 * 1000.0 / steps as f64).collect();
            let every = CURVATURE_EVERY as f64;
            let amortized = (ms[2] + (every - 1.0) * ms[1]) / every;
            println!(
                "{{\"model\":\"{model}\",\"device\":\"{dev:?}\",\"batch\":{batch},\"threads\":{threads},\"plain_ms\":{:.3},\"steady_ms\":{:.3},\"estimate_ms\":{:.3},\"watched_ms\":{:.3},\"every\":{},\"overhead\":{:.4}}}",
                ms[0],
                ms[1],
                ms[2],
                ms[3],
                CURVATURE_EVERY,
                amortized / ms[0] - 1.0
            );
        }
    }

    /// Where a training step's time goes, by phase (forward + loss, IA's closed-form alignment
    /// gradient, backward, optimizer), for SGDM, FA and IA on the `bench_train_steps` configs.
    /// Prints one JSON object per (model, rule): median milliseconds of each phase over
    /// `LRX_BENCH_STEPS` steps. Run: `cargo test --release --lib bench_step_phases -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore = "benchmark"]
    fn bench_step_phases() {
        use crate::exec::engine::models::Pass;
        let threads = env_i64("LRX_BENCH_THREADS", 2);
        let steps = env_i64("LRX_BENCH_STEPS", 20) as usize;
        tch::set_num_threads(threads as i32);
        let only = std::env::var("LRX_BENCH_MODELS").unwrap_or_default();
        for (model, size, batch) in [("knet4", 32i64, 64i64), ("resnet18", 64, 32)] {
            if !only.is_empty() && !only.split(',').any(|m| m == model) {
                continue;
            }
            for rule in ["sgdm", "fa", "ia"] {
                let (mut tr, x, y) = trainer_on_batch(model, rule, size, batch, Device::Cpu);
                let closed = rule == "ia";
                let mut t: Vec<[f64; 4]> = vec![];
                for s in 0..steps + 3 {
                    let t0 = std::time::Instant::now();
                    let mut parts = vec![];
                    let out = tr.model.forward(
                        &x,
                        &mut Pass {
                            train: true,
                            record: None,
                            parts: closed.then_some(&mut parts),
                            outputs: None,
                        },
                    );
                    let loss = out.cross_entropy_for_logits(&y);
                    let _ = loss.double_value(&[]);
                    let t1 = std::time::Instant::now();
                    let mut extra = std::collections::BTreeMap::new();
                    for p in &parts {
                        let layer = &tr.model.aligned_layers()[p.index];
                        if let Some((v, g, c)) = tr.rule.information_gradient(layer, p) {
                            let _ = v.double_value(&[]);
                            extra.insert(format!("{}/backward", layer.name), (g, c));
                        }
                    }
                    let t2 = std::time::Instant::now();
                    loss.backward();
                    let t3 = std::time::Instant::now();
                    tr.apply_gradients(1e-3, extra);
                    let t4 = std::time::Instant::now();
                    if s >= 3 {
                        let ms = |a: std::time::Instant, b: std::time::Instant| {
                            (b - a).as_secs_f64() * 1e3
                        };
                        t.push([ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t3, t4)]);
                    }
                }
                let med = |k: usize| {
                    let mut v: Vec<f64> = t.iter().map(|r| r[k]).collect();
                    v.sort_by(f64::total_cmp);
                    v[v.len() / 2]
                };
                let totals: Vec<f64> = t.iter().map(|r| r.iter().sum()).collect();
                let mean = totals.iter().sum::<f64>() / totals.len() as f64;
                let mut sorted = totals.clone();
                sorted.sort_by(f64::total_cmp);
                println!(
                    "{{\"model\":\"{model}\",\"rule\":\"{rule}\",\"forward_ms\":{:.2},\"ia_grad_ms\":{:.2},\"backward_ms\":{:.2},\"optimizer_ms\":{:.2},\"step_median_ms\":{:.2},\"step_mean_ms\":{mean:.2},\"step_max_ms\":{:.2}}}",
                    med(0),
                    med(1),
                    med(2),
                    med(3),
                    sorted[sorted.len() / 2],
                    sorted[sorted.len() - 1]
                );
            }
        }
    }

    /// Where IA's closed-form alignment gradient spends its time, layer by layer: R_f, the
    /// weight-gradient input z with the two recorded dots, the weight gradient, and the whole
    /// `information_gradient` call (ms, mean of 10). `LRX_BENCH_MODELS=knet4|resnet18`. Run:
    /// `cargo test --release --lib bench_ia_layers -- --ignored --nocapture`.
    #[test]
    #[ignore = "benchmark"]
    fn bench_ia_layers() {
        use crate::exec::engine::models::Pass;
        tch::set_num_threads(env_i64("LRX_BENCH_THREADS", 2) as i32);
        let model = std::env::var("LRX_BENCH_MODELS").unwrap_or("resnet18".into());
        let (size, batch) = if model == "knet4" { (32, 64) } else { (64, 32) };
        let (tr, x, _) = trainer_on_batch(&model, "ia", size, batch, Device::Cpu);
        let mut parts = vec![];
        let _ = tr.model.forward(
            &x,
            &mut Pass {
                train: true,
                record: None,
                parts: Some(&mut parts),
                outputs: None,
            },
        );
        let time = |f: &mut dyn FnMut()| {
            f();
            let t0 = std::time::Instant::now();
            for _ in 0..10 {
                f();
            }
            t0.elapsed().as_secs_f64() * 100.0
        };
        let mut tot = [0.0; 4];
        tch::no_grad(|| {
            for p in &parts {
                let layer = &tr.model.aligned_layers()[p.index];
                let b = layer.bwd.as_ref().unwrap().detach();
                let n = p.x.size()[0] as f64;
                if layer.kind == crate::exec::engine::layers::LayerKind::Dense {
                    continue;
                }
                let rf = layer.reconstruct(&p.pf, &b, &p.x.size());
                let t_rf = time(&mut || {
                    let _ = layer.reconstruct(&p.pf, &b, &p.x.size());
                });
                let z = &p.x * (-1e-3 / n) + &rf * (2e-3 / n);
                let t_z = time(&mut || {
                    let z = &p.x * (-1e-3 / n) + &rf * (2e-3 / n);
                    let _ = (&p.x * &rf).sum(tch::Kind::Float);
                    let _ = (&rf * &rf).sum(tch::Kind::Float);
                    let _ = z;
                });
                let t_g = time(&mut || {
                    let _ = layer.backward_weight_grad(&z, &p.pf);
                });
                let t_all = time(&mut || {
                    let _ = tr.rule.information_gradient(layer, p);
                });
                tot[0] += t_rf;
                tot[1] += t_z;
                tot[2] += t_g;
                tot[3] += t_all;
                println!(
                    "{} x {:?} pf {:?} rf {t_rf:.2} z+dots {t_z:.2} wgrad {t_g:.2} all {t_all:.2}",
                    layer.name,
                    p.x.size(),
                    p.pf.size(),
                );
            }
        });
        println!(
            "conv layers: rf {:.1} z+dots {:.1} wgrad {:.1} all {:.1}",
            tot[0], tot[1], tot[2], tot[3]
        );
    }

    /// Where a checkpoint's observation time goes, against a training epoch (issue 5), on a
    /// quickstart-sized run: KNet4 ×0.5, 16×16, 512 training images, batch 64, 128 stimuli, one
    /// thread. Prints one JSON object: median milliseconds of each part over `LRX_BENCH_STEPS`
    /// repetitions. Run: `cargo test --release --lib bench_observe_parts -- --ignored --nocapture`.
    #[test]
    #[ignore = "benchmark"]
    fn bench_observe_parts() {
        use crate::exec::observe::{CheckpointObserver, ObserveConfig};
        use crate::features::observable::{Function, Measure, ObservableId};
        tch::set_num_threads(env_i64("LRX_BENCH_THREADS", 1) as i32);
        let reps = env_i64("LRX_BENCH_STEPS", 7) as usize;
        let rule = std::env::var("LRX_BENCH_RULE").unwrap_or_else(|_| "sgdm".into());
        let job = TrainJob {
            arch: Call::new("knet4")
                .with("width", Value::Float(0.5))
                .with("init", Value::Str("he".into())),
            rule: Call::new(&rule),
            task: Call::new("synthetic_images")
                .with("size", Value::Int(16))
                .with("train", Value::Int(512))
                .with("val", Value::Int(128)),
            objective: Call::new("supervised"),
            settings: TrainSettings {
                batch: 64,
                ..TrainSettings::default()
            },
        };
        let mut tr = Trainer::new(&job, Device::Cpu).unwrap();
        let (x, _) = tr.task.val_batch(128, Device::Cpu).unwrap();
        let median = |f: &mut dyn FnMut()| {
            f();
            let mut t: Vec<f64> = (0..reps)
                .map(|_| {
                    let t0 = std::time::Instant::now();
                    f();
                    t0.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        };
        let mut epoch = 0;
        let epoch_ms = median(&mut || {
            let _ = tr.run_epoch(epoch, &mut |_| {});
            epoch += 1;
        });
        let model = &tr.model;
        let layers = model.layers();
        let observe = |keep: &dyn Fn(&ObservableId) -> bool| {
            let cfg = ObserveConfig {
                observables: ObservableId::candidates()
                    .into_iter()
                    .filter(|o| keep(o))
                    .collect(),
                ..ObserveConfig::default()
            };
            let mut obs = CheckpointObserver::new(&layers, None, 0, cfg).unwrap();
            let grad = obs.needs_gradient();
            for (k, xi, y) in model.observe_outputs(&x, obs.jacobian_via(), grad) {
                obs.observe_output(k, grad.then_some(&xi), &y).unwrap();
            }
            obs.finish().unwrap();
        };
        let mut parts = vec![("epoch", epoch_ms)];
        let fwd = |grad: bool| {
            let _ = model.observe_outputs(&x, crate::exec::observe::JacobianVia::Backward, grad);
        };
        parts.push(("forward_no_grad", median(&mut || fwd(false))));
        parts.push(("forward_grad", median(&mut || fwd(true))));
        parts.push(("all_45", median(&mut || observe(&|_| true))));
        for (name, m) in [
            ("weight", Measure::Weight),
            ("act", Measure::Act),
            ("gradavg", Measure::Gradavg),
        ] {
            parts.push((name, median(&mut || observe(&|o| o.measure == m))));
        }
        for (name, f) in [
            ("act_raw", Function::Raw),
            ("act_abs", Function::Abs),
            ("act_sq", Function::Sq),
        ] {
            parts.push((
                name,
                median(&mut || observe(&|o| o.measure == Measure::Act && o.function == f)),
            ));
        }
        use crate::features::observable::Statistic as S;
        for (name, st) in [
            ("act_norm", vec![S::Norm]),
            ("act_mean", vec![S::Mean]),
            ("act_var", vec![S::Var]),
            ("act_kurtosis", vec![S::Kurtosis]),
            ("act_median_q3", vec![S::Median, S::ThirdQuartile]),
        ] {
            parts.push((
                name,
                median(&mut || {
                    observe(&|o| o.measure == Measure::Act && st.contains(&o.statistic))
                }),
            ));
        }
        let body: Vec<String> = parts
            .iter()
            .map(|(k, v)| format!("\"{k}_ms\":{v:.2}"))
            .collect();
        println!("{{\"rule\":\"{rule}\",{}}}", body.join(","));
    }

    /// The cochleagram of a batch against one training step on the cochleagrams it gives
    /// (issue 10's target: ≤ 20 %). Prints one JSON object per configuration.
    #[test]
    #[ignore = "benchmark; run through scripts/bench-cochleagram"]
    fn bench_cochleagram() {
        let threads = env_i64("LRX_BENCH_THREADS", 2);
        let steps = env_i64("LRX_BENCH_STEPS", 10);
        tch::set_num_threads(threads as i32);
        let f = Value::Float;
        let i = Value::Int;
        // (name, task call, arch, width, batch)
        let configs: Vec<(&str, Call, &str, f64, i64)> = vec![
            (
                "specs/audio.lrx (16 kHz, 0.4 s, 41x80)",
                Call::new("synthetic_audio")
                    .with("duration", f(0.4))
                    .with("sample_rate", f(16_000.0))
                    .with("filters", i(20))
                    .with("sample_factor", i(2))
                    .with("high_hz", f(6000.0)),
                "knet4",
                0.5,
                32,
            ),
            (
                "paper WSN (20 kHz, 2 s, 203x400)",
                Call::new("synthetic_audio").with("duration", f(2.0)),
                "resnet18",
                1.0,
                8,
            ),
        ];
        let only = std::env::var("LRX_BENCH_CONFIGS").unwrap_or_default();
        for (ci, (name, task_call, arch, width, batch)) in configs.into_iter().enumerate() {
            if !only.is_empty() && !only.split(',').any(|c| c == ci.to_string()) {
                continue;
            }
            for envelope in ["exact", "fast"] {
                let call = task_call
                    .clone()
                    .with("train", i(batch))
                    .with("val", i(4))
                    .with("envelope", Value::Str(envelope.into()));
                let task = Task::from_call(&call).unwrap();
                let job = TrainJob {
                    arch: Call::new(arch).with("width", f(width)),
                    rule: Call::new("sgdm"),
                    task: call.clone(),
                    objective: Call::new("supervised"),
                    settings: TrainSettings {
                        batch,
                        ..TrainSettings::default()
                    },
                };
                let dev = bench_device();
                let mut tr = Trainer::with_task(&job, task, dev).unwrap();
                let wav = tr.task.train.in_memory().unwrap().shallow_clone();
                let time = |f: &mut dyn FnMut()| {
                    f();
                    let t0 = std::time::Instant::now();
                    for _ in 0..steps {
                        f();
                    }
                    t0.elapsed().as_secs_f64() * 1000.0 / steps as f64
                };
                let coch_ms = time(&mut || {
                    let _ = tr
                        .task
                        .inputs(&wav, dev)
                        .sum(tch::Kind::Float)
                        .double_value(&[]);
                });
                let x = tr.task.normalize(&tr.task.inputs(&wav, dev));
                let y = tr.task.train.labels().to_device(dev);
                let step_ms = time(&mut || {
                    let (l, _, _) = tr.step(&x, &y, 1e-3);
                    let _ = l.double_value(&[]);
                });
                println!(
                    "{{\"config\":\"{name}\",\"envelope\":\"{envelope}\",\"arch\":\"{arch}\",\"width\":{width},\"batch\":{batch},\"threads\":{threads},\"cochleagram_ms\":{coch_ms:.2},\"step_ms\":{step_ms:.2},\"ratio\":{:.3}}}",
                    coch_ms / step_ms
                );
            }
        }
    }
}

/// The regime options' cost (docs/engine.md "Regime options"): ms per training step of KNet4
/// (full width, 32×32, batch 32) at each rule's defaults and with each option, and a
/// fingerprint (SHA-256 of every parameter's bytes after the timed steps) that shows the
/// default path reproduces the previous code bit for bit. Run:
/// `cargo test --lib bench_regime_options -- --ignored --nocapture`.
#[cfg(test)]
mod regime_bench {
    use crate::exec::engine::data::Task;
    use crate::exec::engine::train::{TrainJob, TrainSettings, Trainer};
    use crate::value::{Call, Value};
    use tch::Device;

    fn fingerprint(tr: &Trainer) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for (k, t) in tr.model.named_tensors() {
            h.update(k.as_bytes());
            let t = t.detach().to_kind(tch::Kind::Float).contiguous().view([-1]);
            let v: Vec<f32> = Vec::try_from(&t).expect("float tensor");
            for x in v {
                h.update(x.to_bits().to_le_bytes());
            }
        }
        crate::value::hex(&h.finalize())[..16].to_string()
    }

    #[test]
    #[ignore = "benchmark"]
    fn bench_regime_options() {
        let _rng = crate::exec::engine::test_rng_lock();
        tch::set_num_threads(
            std::env::var("LRX_BENCH_THREADS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(2),
        );
        let steps: usize = std::env::var("LRX_BENCH_STEPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10);
        let (b, f, i, s) = (Value::Bool, Value::Float, Value::Int, |x: &str| {
            Value::Str(x.into())
        });
        let rows: Vec<(&str, Call)> = vec![
            ("sgdm default", Call::new("sgdm")),
            ("fa default", Call::new("fa")),
            (
                "fa constrain_norm",
                Call::new("fa").with("constrain_norm", b(true)),
            ),
            (
                "fa top_feedback=shared",
                Call::new("fa").with("top_feedback", s("shared")),
            ),
            ("ia default", Call::new("ia")),
            (
                "ia projection_bias",
                Call::new("ia").with("projection_bias", b(true)),
            ),
            (
                "ia b_optimizer=adam b_lr_scale=0.5",
                Call::new("ia")
                    .with("b_optimizer", s("adam"))
                    .with("b_lr_scale", f(0.5)),
            ),
            ("ia alternate=1", Call::new("ia").with("alternate", i(1))),
            (
                "ia top_feedback=shared",
                Call::new("ia").with("top_feedback", s("shared")),
            ),
            ("kolen_pollack default", Call::new("kolen_pollack")),
            ("symmetric default", Call::new("symmetric")),
        ];
        let task = || {
            Task::from_call(
                &Call::new("synthetic_images")
                    .with("train", Value::Int(32 * (steps as i64 + 2)))
                    .with("val", Value::Int(8)),
            )
            .unwrap()
        };
        for (label, rule) in rows {
            let job = TrainJob {
                arch: Call::new("knet4").with("init", s("he")),
                rule,
                task: Call::new("synthetic_images"),
                objective: Call::new("supervised"),
                settings: TrainSettings {
                    batch: 32,
                    epochs: 1,
                    checkpoints: vec![],
                    eval_every: 0,
                    ..TrainSettings::default()
                },
            };
            let mut tr = Trainer::with_task(&job, task(), Device::Cpu).unwrap();
            let t0 = std::time::Instant::now();
            let rec = tr.run_epoch(0, &mut |_| {}).expect("epoch");
            let ms = t0.elapsed().as_secs_f64() * 1e3 / (steps + 2) as f64;
            println!(
                "{{\"row\":\"{label}\",\"steps\":{},\"ms_per_step\":{ms:.2},\"train_loss\":{:.6},\"fingerprint\":\"{}\"}}",
                steps + 2,
                rec.train_loss,
                fingerprint(&tr)
            );
        }
    }
}
