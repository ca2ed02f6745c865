//! `lrx run` end to end on a tiny study: idempotence, and killing the process (SIGKILL of the
//! parent, SIGINT) at any moment loses nothing and changes nothing in the final features.

use lrx::features::reader::{Condition, load_features};
use lrx::ir::RealismCondition;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SPEC: &str = r#"
import paper

study tiny {
  output = "out"
  seed   = 1
  device = cpu
}

task shapes = synthetic_images(size = 16, channels = 3, classes = 10, train = 512, val = 64, seed = 0)

train {
  task       = shapes
  arch       = paper.knet4(width = 0.25, init = he)
  rule       in paper.rules
  lr         = paper.lr_cifar[rule]
  batch      = 32
  epochs     = 4
  checkpoint = every(1 epochs)
  weight_decay = paper.wd_cifar[rule]
}

observe paper.candidates {
  stimuli = val(32)
}

realism {
  noise = awgn(sigma in [0, 1])
  units in [100%, 50%]
  seeds = { _: 1 }
  where rule in [fa, ia]
}
"#;

fn lrx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lrx"))
}

fn run_to_end(spec: &Path, out: &Path) -> String {
    run_with(spec, out, &["--no-classify"])
}

/// `lrx run SPEC -o OUT --jobs 2 EXTRA...`, which must succeed; its stderr.
fn run_with(spec: &Path, out: &Path, extra: &[&str]) -> String {
    let o = lrx()
        .arg("run")
        .arg(spec)
        .arg("-o")
        .arg(out)
        .args(["--jobs", "2"])
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "lrx run failed: {err}");
    err
}

fn statuses(out: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(out.join("runs")) else {
        return vec![];
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("status.json")).ok())
        .collect()
}

/// Starts `lrx run`, waits until `ready` holds for the study directory, then sends `signal`.
fn interrupt(spec: &Path, out: &Path, signal: &str, ready: impl Fn(&Path) -> bool) -> Option<i32> {
    let mut child = lrx()
        .arg("run")
        .arg(spec)
        .arg("-o")
        .arg(out)
        .args(["--jobs", "1", "--no-classify"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !ready(out) {
        assert!(t0.elapsed() < Duration::from_secs(300), "timed out");
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    let st = child.wait().unwrap();
    // Children die with the parent (SIGTERM, then they save): wait for their status files.
    std::thread::sleep(Duration::from_millis(1500));
    st.code()
}

#[test]
fn killed_runs_resume_to_identical_features() {
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("tiny.lrx");
    std::fs::write(&spec, SPEC).unwrap();
    // Reference: uninterrupted.
    let a = d.path().join("a");
    run_to_end(&spec, &a);
    assert_eq!(statuses(&a).len(), 4);
    // Each status file records the libtorch CPU thread count it trained with (1 by default).
    assert!(
        statuses(&a).iter().all(|s| s.contains("\"threads\": 1")),
        "status.json lacks the thread count"
    );
    // Idempotent: nothing is retrained.
    let again = run_to_end(&spec, &a);
    assert!(again.contains("4 already finished"), "{again}");

    // SIGKILL of `lrx run` while the second run is training (the first is finished).
    let b = d.path().join("b");
    interrupt(&spec, &b, "-KILL", |out| {
        statuses(out).iter().any(|s| s.contains("\"done\""))
            && std::fs::read_dir(out.join("runs"))
                .map(|rd| {
                    rd.filter_map(|e| e.ok()).any(|e| {
                        e.path().join("obs/epoch_0001.json").exists()
                            && !e.path().join("status.json").exists()
                    })
                })
                .unwrap_or(false)
    });
    let done_before = statuses(&b)
        .iter()
        .filter(|s| s.contains("\"done\""))
        .count();
    assert!(
        (1..4).contains(&done_before),
        "{done_before} runs done at the kill"
    );
    // SIGINT: stops cleanly with exit code 130.
    let code = interrupt(&spec, &b, "-INT", |out| {
        statuses(out)
            .iter()
            .filter(|s| s.contains("\"done\""))
            .count()
            > done_before
    });
    assert_eq!(code, Some(130), "SIGINT must end `lrx run` with 130");
    let resumed = run_to_end(&spec, &b);
    assert!(resumed.contains("already finished"), "{resumed}");
    // Some run resumed from a checkpoint rather than starting over.
    assert!(
        statuses(&b)
            .iter()
            .any(|s| s.contains("\"resumed_from\": ") && !s.contains("\"resumed_from\": null")),
        "no run resumed from a checkpoint"
    );

    let fa = load_features(&[&a], &Condition::Plain, None).unwrap();
    let fb = load_features(&[&b], &Condition::Plain, None).unwrap();
    // Task performance (issue 20): each feature file's `performance` metadata and the runs
    // table's `val_*` columns hold the validation accuracy and loss of status.json's history at
    // every checkpoint after epoch 0 and at the last epoch.
    let runs = lrx::features::reader::read_runs(&a.join("runs.parquet")).unwrap();
    let mut checked = 0;
    for (i, run) in fa.run_ids.iter().enumerate() {
        let st: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(a.join("runs").join(run).join("status.json")).unwrap(),
        )
        .unwrap();
        let hist = st["history"].as_array().unwrap();
        let at = |e: i64, k: &str| {
            hist.iter()
                .find(|h| h["epoch"].as_i64() == Some(e))
                .and_then(|h| h[k].as_f64())
        };
        let p = &fa.performance[i];
        let rec = runs.iter().find(|r| &r.run_id == run).unwrap();
        assert_eq!(
            p.checkpoints.iter().map(|c| c.epoch).collect::<Vec<_>>(),
            fa.epochs,
            "run {run}"
        );
        for c in &p.checkpoints {
            assert_eq!(
                c.val_acc,
                at(c.epoch, "val_acc"),
                "run {run} epoch {}",
                c.epoch
            );
            assert_eq!(
                c.val_loss,
                at(c.epoch, "val_loss"),
                "run {run} epoch {}",
                c.epoch
            );
            if c.epoch >= 1 {
                assert_eq!(rec.performance.val_acc_at(c.epoch), c.val_acc);
                assert_eq!(rec.performance.val_loss_at(c.epoch), c.val_loss);
                checked += 1;
            } else {
                assert_eq!(c.val_acc, None, "epoch 0 is never evaluated");
            }
        }
        let last = hist.last().unwrap();
        assert_eq!(p.final_val_acc(), last["val_acc"].as_f64(), "run {run}");
        assert_eq!(rec.performance.final_val_acc(), last["val_acc"].as_f64());
        assert_eq!(
            rec.performance.last.map(|c| c.epoch),
            last["epoch"].as_i64(),
            "run {run}"
        );
    }
    assert!(checked > 0);
    assert_eq!(fa.run_ids, fb.run_ids);
    assert_eq!(fa.observables, fb.observables);
    assert_eq!(fa.epochs, fb.epochs);
    assert_eq!(fa.x.shape(), fb.x.shape());
    for (x, y) in fa.x.iter().zip(fb.x.iter()) {
        assert!(
            x.to_bits() == y.to_bits(),
            "features differ after resume: {x} vs {y}"
        );
    }

    // Measurement realism through a real run (method.md §5): only the `where` runs carry it;
    // σ = 0 with every unit equals the plain statistics (up to summation order), and σ = 1 on
    // half the units moves the weight statistics.
    let conds = lrx::classify::stage::realism_conditions(&a).unwrap();
    assert_eq!(
        conds,
        [(0.0, 1.0), (0.0, 0.5), (1.0, 1.0), (1.0, 0.5)]
            .map(|(sigma, fraction)| RealismCondition {
                sigma,
                fraction,
                seed: 0,
                model: Default::default(),
            })
            .to_vec()
    );
    let identity = load_features(
        &[&a],
        &Condition::Realism(RealismCondition {
            sigma: 0.0,
            fraction: 1.0,
            seed: 0,
            model: Default::default(),
        }),
        Some(&fa.observables),
    )
    .unwrap();
    // (The IA run of this spec may diverge at its rate: diverged runs have no features.)
    assert!(!identity.rules.is_empty());
    assert!(
        identity.rules.iter().all(|r| r == "fa" || r == "ia"),
        "realism only on the `where` runs: {:?}",
        identity.rules
    );
    let index = |t: &lrx::features::reader::FeatureTable, i: usize| {
        (t.run_ids[i].clone(), t.layer_index[i])
    };
    let plain_row: std::collections::HashMap<_, usize> =
        (0..fa.run_ids.len()).map(|i| (index(&fa, i), i)).collect();
    let mut compared = 0;
    for i in 0..identity.run_ids.len() {
        let j = plain_row[&index(&identity, i)];
        for (x, y) in identity
            .x
            .index_axis(ndarray::Axis(0), i)
            .iter()
            .zip(fa.x.index_axis(ndarray::Axis(0), j).iter())
        {
            assert!(
                (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-9 * y.abs().max(1e-12),
                "σ = 0, ρ = 1 differs from the plain features: {x} vs {y}"
            );
            compared += 1;
        }
    }
    assert!(compared > 0);
    let noisy = load_features(
        &[&a],
        &Condition::Realism(RealismCondition {
            sigma: 1.0,
            fraction: 0.5,
            seed: 0,
            model: Default::default(),
        }),
        Some(&fa.observables),
    )
    .unwrap();
    let k = fa
        .observables
        .iter()
        .position(|o| o == "weightraw_norm")
        .expect("weightraw_norm observed");
    let i = 0;
    let j = plain_row[&index(&noisy, i)];
    assert_ne!(
        noisy.x[[i, 1, k]].to_bits(),
        fa.x[[j, 1, k]].to_bits(),
        "noise and subsampling must change the weight norm"
    );

    // `lrx reproduce`: the same spec re-plans to the same ids and retrains to identical features.
    let o = lrx()
        .args(["reproduce"])
        .arg(&spec)
        .arg("--against")
        .arg(&a)
        .arg("--plan-only")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && text.contains("run ids: identical (4 runs)"),
        "{text}"
    );
    let c = d.path().join("c");
    let o = lrx()
        .args(["reproduce"])
        .arg(&spec)
        .arg("--against")
        .arg(&a)
        .arg("-o")
        .arg(&c)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        text.contains(" 0 differ") && text.contains("reproduced"),
        "{text}"
    );
}

/// An audio study end to end: the checker sizes the networks from the cochleagram (rows ×
/// frames, non-square), every run trains on cochleagrams computed from the synthetic clips,
/// and the features carry the layers of the same networks as for images.
#[test]
fn audio_study_end_to_end() {
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("audio.lrx");
    std::fs::write(
        &spec,
        r#"
import paper

study audio {
  output = "out"
  seed   = 1
  device = cpu
}

task words = synthetic_audio(classes = 6, train = 96, val = 32, duration = 0.2,
                             sample_rate = 16000, filters = 12, sample_factor = 2, high_hz = 6000)

train {
  task       = words
  arch       = paper.knet4(width = 0.25, init = he)
  rule       in [paper.sgdm, paper.fa]
  lr         = paper.lr_cifar[rule]
  batch      = 32
  epochs     = 2
  checkpoint = every(1 epochs)
  weight_decay = paper.wd_cifar[rule]
}

observe paper.candidates { stimuli = val(16) }
"#,
    )
    .unwrap();
    let plan = lrx().arg("plan").arg(&spec).output().unwrap();
    let text =
        String::from_utf8_lossy(&plan.stdout).into_owned() + &String::from_utf8_lossy(&plan.stderr);
    assert!(plan.status.success(), "{text}");
    let out = d.path().join("out");
    run_to_end(&spec, &out);
    let s = statuses(&out);
    assert_eq!(s.len(), 2);
    assert!(s.iter().all(|x| x.contains("\"done\"")), "{s:?}");
    let f = load_features(&[&out], &Condition::Plain, None).unwrap();
    assert_eq!(f.epochs, vec![0, 1, 2]);
    assert_eq!(f.x.shape()[0], 8, "2 runs × 4 layers");
    assert!(f.layers.iter().any(|l| l == "fc4"));
    // The first layer's weights: 5×5 kernels on 1 input channel, 8 filters.
    let k = f
        .observables
        .iter()
        .position(|o| o == "weightraw_norm")
        .unwrap();
    assert!(f.x[[0, 0, k]].is_finite());
    // A bad cochleagram is a check error that names the parameter.
    let bad = d.path().join("bad.lrx");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&spec)
            .unwrap()
            .replace("high_hz = 6000", "high_hz = 9000"),
    )
    .unwrap();
    let o = lrx().arg("check").arg(&bad).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("high_hz") && err.contains("Nyquist"),
        "{err}"
    );
}

/// `observe { save_activations = true }` writes each layer's plain activations at every
/// checkpoint as `.npy` (float32 [stimuli, units]); numpy's statistics of those arrays give the
/// run's `act` features (mean, squared mean, L2 norm per stimulus, then the mean over stimuli).
#[test]
fn saved_activations_give_the_act_features() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("acts.lrx");
    std::fs::write(
        &spec,
        r#"
import paper
study acts { output = "out", seed = 3, device = cpu }
task shapes = synthetic_images(size = 16, channels = 3, classes = 4, train = 64, val = 32, seed = 0)
train {
  task = shapes, arch = paper.knet4(width = 0.25, init = he), rule in [sgdm, fa]
  lr = 0.01, batch = 16, epochs = 2, checkpoint = every(1 epochs)
}
observe paper.candidates { stimuli = val(24), save_activations = true }
"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    run_to_end(&spec, &out);
    let py = std::env::var("LRX_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import sys, os, glob, numpy as np, pyarrow.dataset as ds
out = sys.argv[1]
t = ds.dataset(os.path.join(out, "features"), partitioning="hive").to_table().to_pylist()
feat = {(r["run_id"], r["epoch"], r["layer"], r["observable"]): r["value"] for r in t if r["realism_seed"] == -1}
n = 0
for f in sorted(glob.glob(os.path.join(out, "runs", "*", "activations", "epoch_*", "*.npy"))):
    run = f.split(os.sep)[-4]
    epoch = int(f.split(os.sep)[-2][len("epoch_"):])
    layer = os.path.basename(f)[:-4]
    a = np.load(f).astype(np.float64)
    assert a.dtype == np.float64 and a.shape[0] == 24, (f, a.shape)
    ref = {"actraw_mean": a.mean(1).mean(), "actsq_mean": (a * a).mean(1).mean(),
           "actraw_norm": np.linalg.norm(a, axis=1).mean(), "actabs_mean": np.abs(a).mean(1).mean()}
    for k, v in ref.items():
        got = feat[(run, epoch, layer, k)]
        assert abs(got - v) <= 1e-5 * max(1.0, abs(v)), (f, k, got, v)
        n += 1
print(n)
"#;
    let o = Command::new(&py)
        .args(["-c", script])
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {py} (set LRX_PYTHON): {e}"));
    assert!(
        o.status.success(),
        "numpy check failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // 2 runs × 3 checkpoints (0, 1, 2) × 4 layers × 4 statistics.
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "96");
}

const MEASUREMENT_SPEC: &str = r#"
import paper

study models {
  output = "out"
  seed   = 2
  device = cpu
}

task shapes = synthetic_images(size = 8, channels = 1, classes = 2, train = 64, val = 32, seed = 0)

train {
  task       = shapes
  arch       = paper.knet4(width = 0.25, init = he)
  rule       in paper.rules
  lr         = 0.01
  batch      = 32
  model_seed in seeds(3)
  epochs     = 2
  checkpoint = every(1 epoch)
}

observe paper.candidates { stimuli = val(16) }

realism {
  noise in [awgn(sigma = 0.5), poisson(), calcium()]
  units in [50%]
}

classify {
  targets  = [rule]
  measures in [act, weight]
  models   = [random_forest(trees in [10])]
  splits   = balanced(2, test = 25%)
  cv       = stratified_kfold(2)
  realism  = true
}
"#;

/// Measurement models end to end (issue 23): a real `lrx run` with `noise in [awgn, poisson,
/// calcium]` writes features whose `measurement` column names each model, the act features
/// of the models differ from the Gaussian ones while the weight features under Poisson and
/// calcium are the plain subsampled ones, and the classifier's evaluations carry each model.
#[test]
fn measurement_models_reach_features_and_evaluations() {
    use lrx::ir::Measurement;
    use lrx::measurement::{CalciumModel, PoissonModel};
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("m.lrx");
    std::fs::write(&spec, MEASUREMENT_SPEC).unwrap();
    let out = dir.path().join("out");
    run_with(&spec, &out, &[]);
    let conds = lrx::classify::stage::realism_conditions(&out).unwrap();
    let models: Vec<Measurement> = conds.iter().map(|c| c.model).collect();
    assert_eq!(
        models,
        [
            Measurement::Awgn,
            Measurement::Calcium(CalciumModel::default()),
            Measurement::Poisson(PoissonModel::default()),
        ]
    );
    assert_eq!(conds[0].sigma, 0.5);
    assert!(conds.iter().all(|c| c.fraction == 0.5 && c.seed == 0));
    assert!(conds[1..].iter().all(|c| c.sigma == 0.0));
    let load =
        |c: &RealismCondition| load_features(&[&out], &Condition::Realism(*c), None).unwrap();
    let (g, ca, po) = (load(&conds[0]), load(&conds[1]), load(&conds[2]));
    let col = |t: &lrx::features::reader::FeatureTable, name: &str| {
        let k = t.observables.iter().position(|o| o == name).unwrap();
        t.x.index_axis(ndarray::Axis(2), k).to_owned()
    };
    // Poisson rates are non-negative multiples of 1/window = 2 Hz.
    let pm = col(&po, "actraw_mean");
    assert!(pm.iter().all(|v| *v >= 0.0 && v.is_finite()));
    let cm = col(&ca, "actraw_mean");
    assert!(cm.iter().all(|v| v.is_finite()));
    assert_ne!(pm, col(&g, "actraw_mean"));
    assert_ne!(cm, pm);
    // Weights stay plain under Poisson and calcium: both equal the σ = 0 subsampled values,
    // which differ from the Gaussian σ = 0.5 ones.
    assert_eq!(col(&po, "weightraw_mean"), col(&ca, "weightraw_mean"));
    assert_ne!(col(&po, "weightraw_mean"), col(&g, "weightraw_mean"));
    // Evaluations carry the models.
    let ev: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("results/evaluations.json")).unwrap(),
    )
    .unwrap();
    let text = ev.to_string();
    assert!(text.contains(r#""kind":"poisson""#), "{text:.2000}");
    assert!(text.contains(r#""kind":"calcium""#));
    // summary.parquet names each evaluation's measurement model.
    let f = std::fs::File::open(out.join("results/summary.parquet")).unwrap();
    let mut models = std::collections::BTreeSet::new();
    for b in parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
    {
        let b = b.unwrap();
        let c = b.column_by_name("realism_measurement").unwrap();
        let c = c
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        models.extend(
            c.iter()
                .flatten()
                .map(|m| m.split('(').next().unwrap().to_string()),
        );
    }
    assert_eq!(
        models.into_iter().collect::<Vec<_>>(),
        ["awgn", "calcium", "poisson"]
    );
}
