//! Synthetic study directories with known structure (tests and demos of the classifier stage,
//! no training): for every run of a plan, observables whose trajectories depend on the learning
//! rule (weight and act observables), on the architecture and the layer, plus Gaussian noise;
//! `gradavg` observables carry no rule signal. Written with the real Parquet writers, so the
//! stage reads them exactly as it reads `lrx run`'s output.

use std::path::Path;

use indexmap::IndexMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::features::schema::{FactorValue, ObservationRow, PLAIN_SEED, RunPerformance, RunRecord};
use crate::features::{FileMetadata, LayerPosition, ObservableId, WriteError};
use crate::features::{write_features, write_runs};
use crate::plan::Plan;

/// What to write.
#[derive(Debug, Clone)]
pub struct SyntheticStudy {
    /// Observable names (`weightabs_median`, …); empty = the plan's observables.
    pub observables: Vec<String>,
    /// Size of the rule effect relative to the unit noise.
    pub signal: f64,
    /// Generate the signal from a random rule per run instead of the run's own (labels then
    /// carry no information: accuracy must be at chance).
    pub shuffle_labels: bool,
    /// Seed of every random stream (each is derived from it and a name, so the values are the
    /// same whatever the order of writing).
    pub seed: u64,
    /// Task performance: a run's final validation accuracy is 0.6 + `perf_signal` × (index of
    /// its signal rule) + N(0, `perf_noise`²), clipped to [0.05, 0.99]; at checkpoint e ≥ 1 it is
    /// that × (0.5 + 0.5 e / last epoch), the loss −ln of it; epoch 0 has none (as in `lrx
    /// run`). Drawn from its own stream, so the observables do not depend on these settings.
    pub perf_signal: f64,
    /// Standard deviation of the accuracy's noise (see `perf_signal`).
    pub perf_noise: f64,
}

impl Default for SyntheticStudy {
    fn default() -> Self {
        SyntheticStudy {
            observables: vec![],
            signal: 1.0,
            shuffle_labels: false,
            seed: 0,
            perf_signal: 0.05,
            perf_noise: 0.04,
        }
    }
}

fn stream(seed: u64, parts: &[&str]) -> ChaCha8Rng {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    let mut s = [0u8; 32];
    s.copy_from_slice(&d);
    ChaCha8Rng::from_seed(s)
}

/// Writes `features/` and `runs.parquet` for every run of `plan` under `dir` (plain rows, plus
/// each run's realism conditions with extra noise σ).
pub fn write_synthetic_study(
    dir: &Path,
    plan: &Plan,
    opts: &SyntheticStudy,
) -> Result<(), WriteError> {
    let mut rules: Vec<String> = plan.runs.iter().map(|r| r.rule.label.clone()).collect();
    rules.sort();
    rules.dedup();
    let mut archs: Vec<String> = plan.runs.iter().map(|r| r.arch.label.clone()).collect();
    archs.sort();
    archs.dedup();
    let names: Vec<String> = if opts.observables.is_empty() {
        plan.runs
            .first()
            .map(|r| r.observe.observables.iter().map(|o| o.name()).collect())
            .unwrap_or_default()
    } else {
        opts.observables.clone()
    };
    let obs: Vec<ObservableId> = names
        .iter()
        .map(|n| ObservableId::parse(n).expect("synthetic observables must be valid names"))
        .collect();
    let mut records = Vec::new();
    for run in &plan.runs {
        let rule = &run.rule.label;
        let mut rr = stream(opts.seed, &["run", &run.id]);
        let signal_rule = if opts.shuffle_labels {
            rr.random_range(0..rules.len())
        } else {
            rules.iter().position(|r| r == rule).unwrap_or(0)
        };
        let ai = archs.iter().position(|a| *a == run.arch.label).unwrap_or(0) as f64;
        let t_max = run.checkpoints.last().copied().unwrap_or(1).max(1) as f64;
        let mut rows = Vec::new();
        let mut conditions = vec![(0.0, 1.0, PLAIN_SEED)];
        conditions.extend(
            run.realism
                .iter()
                .map(|c| (c.sigma, c.fraction, c.seed as i64)),
        );
        for &epoch in &run.checkpoints {
            for (li, layer) in run.layers.iter().enumerate() {
                let position: LayerPosition = layer.position.parse().unwrap_or(LayerPosition::Deep);
                let mut clean = Vec::with_capacity(obs.len());
                for (k, o) in obs.iter().enumerate() {
                    // Rule effect: a fixed direction per (rule, observable), growing with time.
                    let mut re =
                        stream(opts.seed, &["effect", &signal_rule.to_string(), &names[k]]);
                    let effect: f64 = re.random_range(-1.0..1.0);
                    let carries = o.measure != crate::features::Measure::Gradavg;
                    let mean = if carries {
                        opts.signal * effect * (1.0 + epoch as f64 / t_max)
                    } else {
                        0.0
                    } + 0.5 * ai
                        + 0.3 * li as f64;
                    let noise: f64 = StandardNormal.sample(&mut rr);
                    clean.push(mean + noise);
                }
                for &(sigma, fraction, seed) in &conditions {
                    for (k, o) in obs.iter().enumerate() {
                        let extra = if seed == PLAIN_SEED {
                            0.0
                        } else {
                            let z: f64 = StandardNormal.sample(&mut rr);
                            sigma * z
                        };
                        rows.push(ObservationRow {
                            epoch,
                            layer: layer.name.clone(),
                            layer_index: li as i32,
                            layer_position: position,
                            observable: *o,
                            noise_sigma: sigma,
                            unit_fraction: fraction,
                            realism_seed: seed,
                            value: clean[k] + extra,
                            measurement: Default::default(),
                        });
                    }
                }
            }
        }
        let perf = performance(opts, run, signal_rule, t_max);
        let meta = FileMetadata::new(&run.id, &plan.spec_hash, "none", "synthetic")
            .with_performance(perf.clone());
        write_features(dir, rule, &meta, &rows)?;
        records.push(RunRecord {
            run_id: run.id.clone(),
            rule: rule.clone(),
            status: "done".into(),
            factors: factors(run),
            performance: perf.clone(),
        });
    }
    let meta = FileMetadata::new("", &plan.spec_hash, "none", "synthetic");
    write_runs(dir, &records, &meta)?;
    Ok(())
}

/// A run's task performance: its final validation accuracy is 0.6 + `perf_signal` × (index of
/// its signal rule) + noise (see [`SyntheticStudy::perf_signal`]), from the run's own `perf`
/// stream.
fn performance(
    opts: &SyntheticStudy,
    run: &crate::plan::RunSpec,
    signal_rule: usize,
    t_max: f64,
) -> RunPerformance {
    let mut rp = stream(opts.seed, &["perf", &run.id]);
    let z: f64 = StandardNormal.sample(&mut rp);
    let last =
        (0.6 + opts.perf_signal * signal_rule as f64 + opts.perf_noise * z).clamp(0.05, 0.99);
    let history: Vec<(i64, Option<f64>, Option<f64>)> = (1..=run.epochs)
        .map(|e| {
            let a = last * (0.5 + 0.5 * e as f64 / t_max);
            (e, Some(a), Some(-a.ln()))
        })
        .collect();
    RunPerformance::from_history(history, &run.checkpoints)
}

/// The factor columns of a run in the synthetic runs table: task, architecture,
/// hyperparameters and seeds (`lrx run` also records the sweep).
fn factors(run: &crate::plan::RunSpec) -> IndexMap<String, FactorValue> {
    let mut factors = IndexMap::new();
    factors.insert("task".into(), FactorValue::from(run.task.label.clone()));
    factors.insert("arch".into(), FactorValue::from(run.arch.label.clone()));
    factors.insert("lr".into(), FactorValue::Float(run.lr));
    factors.insert("batch".into(), FactorValue::Int(run.batch));
    factors.insert("epochs".into(), FactorValue::Int(run.epochs));
    factors.insert("weight_decay".into(), FactorValue::Float(run.weight_decay));
    factors.insert(
        "model_seed".into(),
        crate::features::schema::seed_factor(run.model_seed),
    );
    factors.insert(
        "data_seed".into(),
        crate::features::schema::seed_factor(run.data_seed),
    );
    factors
}
