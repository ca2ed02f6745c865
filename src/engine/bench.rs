//! Training-step benchmark (run by `scripts/bench-train`; ignored in normal test runs).
//!
//! For each (model, input size, batch) and rule: build the trainer on a synthetic task, take
//! warm-up steps on a fixed preprocessed batch, then time `LRX_BENCH_STEPS` steps. Prints one JSON
//! object per line: {"impl":"lrx","model":..,"rule":..,"ms_per_step":..}.

#[cfg(test)]
mod tests {
    use crate::engine::data::Task;
    use crate::engine::train::{TrainJob, TrainSettings, Trainer};
    use crate::value::{Call, Value};
    use tch::Device;

    fn env_i64(k: &str, d: i64) -> i64 {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
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
            let task = || {
                Task::from_call(
                    &Call::new("synthetic_images")
                        .with("size", Value::Int(size))
                        .with("train", Value::Int(batch))
                        .with("val", Value::Int(8)),
                )
                .unwrap()
            };
            for rule in ["sgdm", "fa", "ia"] {
                let job = TrainJob {
                    arch: Call::new(model),
                    rule: Call::new(rule),
                    task: Call::new("synthetic_images"),
                    objective: Call::new("supervised"),
                    settings: TrainSettings::from_call(
                        &Call::new("train").with("batch", Value::Int(batch)),
                    )
                    .unwrap(),
                };
                let mut tr = Trainer::with_task(&job, task(), Device::Cpu).unwrap();
                let (x, y) = {
                    let xu = tr.task.inputs(&tr.task.train_x, Device::Cpu);
                    (tr.task.normalize(&xu), tr.task.train_y.shallow_clone())
                };
                for _ in 0..3 {
                    let _ = tr.step(&x, &y, 1e-3);
                }
                let t0 = std::time::Instant::now();
                for _ in 0..steps {
                    let (l, _, _) = tr.step(&x, &y, 1e-3);
                    let _ = l.double_value(&[]);
                }
                let ms = t0.elapsed().as_secs_f64() * 1000.0 / steps as f64;
                println!(
                    "{{\"impl\":\"lrx\",\"model\":\"{model}\",\"size\":{size},\"batch\":{batch},\"rule\":\"{rule}\",\"threads\":{threads},\"ms_per_step\":{ms:.3}}}"
                );
            }
        }
    }
}
