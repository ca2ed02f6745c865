//! Builtin schemas of the engine: every parameter of every builtin call with its default
//! (documented in `docs/engine.md`). No libtorch dependency, so the language checker can use it.
//!
//! `defaults(name)` returns a complete [`Call`]; [`complete`] fills the parameters a partial call
//! leaves out (what tests and direct callers use).

use crate::value::{Call, Value};

fn f(x: f64) -> Value {
    Value::Float(x)
}
fn i(x: i64) -> Value {
    Value::Int(x)
}
fn b(x: bool) -> Value {
    Value::Bool(x)
}
fn s(x: &str) -> Value {
    Value::Str(x.to_string())
}

/// Which family a builtin belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Arch,
    Rule,
    Task,
    Objective,
    Train,
}

/// All builtin names the engine implements, with their family.
pub const BUILTINS: &[(&str, Kind)] = &[
    ("knet4", Kind::Arch),
    ("knet5", Kind::Arch),
    ("alexnet", Kind::Arch),
    ("resnet18", Kind::Arch),
    ("resnet34", Kind::Arch),
    ("mlp", Kind::Arch),
    ("sgdm", Kind::Rule),
    ("adam", Kind::Rule),
    ("fa", Kind::Rule),
    ("ia", Kind::Rule),
    ("symmetric", Kind::Rule),
    ("activation", Kind::Rule),
    ("weight_mirror", Kind::Rule),
    ("kolen_pollack", Kind::Rule),
    ("synthetic_images", Kind::Task),
    ("cifar10", Kind::Task),
    ("fashion_mnist", Kind::Task),
    ("idx_images", Kind::Task),
    ("image_folder", Kind::Task),
    ("synthetic_audio", Kind::Task),
    ("audio_folder", Kind::Task),
    ("supervised", Kind::Objective),
    ("contrastive", Kind::Objective),
    ("train", Kind::Train),
];

/// Family of a builtin name.
pub fn kind_of(name: &str) -> Option<Kind> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

fn arch_common(c: Call, input_size: i64) -> Call {
    c.with("width", f(1.0))
        .with("input_size", i(input_size))
        .with("in_channels", i(3))
        .with("classes", i(10))
}

/// Inner-optimizer parameters carried by every rule (the ones of the unused optimizer are
/// ignored), so every rule call is complete whatever `optimizer` names.
fn optimizer_params(c: Call, optimizer: &str) -> Call {
    c.with("optimizer", s(optimizer))
        .with("momentum", f(0.9))
        .with("nesterov", b(true))
        .with("beta1", f(0.9))
        .with("beta2", f(0.999))
        .with("eps", f(1e-8))
        .with("backward_init", s("independent"))
        .with("constrain_norm", b(false))
        .with("top_feedback", s("random"))
        .with("hidden_lr_scale", f(1.0))
}

/// The regime options of rules whose B learns (an alignment loss or a tied gradient):
/// docs/engine.md "Regime options".
fn learned_b(c: Call) -> Call {
    c.with("b_optimizer", s("same"))
        .with("b_lr_scale", f(1.0))
        .with("alternate", i(0))
        .with("constrain_b_norm", b(false))
}

pub use crate::plan::{Later, REGIME_DEFAULTS};

/// Cochleagram parameters of the audio tasks (method.md §7: the paper's values).
fn cochlea(c: Call, duration: f64) -> Call {
    let d = crate::cochlea::CochleaParams::default();
    c.with("sample_rate", f(d.sample_rate))
        .with("duration", f(duration))
        .with("filters", i(d.filters as i64))
        .with("low_hz", f(d.low_hz))
        .with("high_hz", f(d.high_hz))
        .with("sample_factor", i(d.sample_factor as i64))
        .with("env_rate", f(d.env_rate))
        .with("power", f(d.power))
        .with("envelope", s("exact"))
}

/// The complete default call of a builtin, or `None` for an unknown name.
pub fn defaults(name: &str) -> Option<Call> {
    let c = Call::new(name);
    Some(match name {
        "knet4" | "knet5" => arch_common(c, 32)
            .with("lrn", b(false))
            .with("init", s("paper")),
        "alexnet" => arch_common(c, 224)
            .with("lrn", b(false))
            .with("dropout", f(0.5)),
        "resnet18" | "resnet34" => arch_common(c, 224).with("version", i(1)),
        "mlp" => arch_common(c, 32).with("hidden", Value::List(vec![i(256), i(128)])),
        "sgdm" => c
            .with("momentum", f(0.9))
            .with("nesterov", b(true))
            .with("hidden_lr_scale", f(1.0)),
        "adam" => c
            .with("beta1", f(0.9))
            .with("beta2", f(0.999))
            .with("eps", f(1e-8))
            .with("hidden_lr_scale", f(1.0)),
        "fa" => optimizer_params(c, "adam"),
        "ia" => learned_b(optimizer_params(c, "sgdm"))
            .with("projection_bias", b(false))
            .with("alpha", f(2e-3))
            .with("beta", f(1e-3))
            .with("gamma", f(1e-3))
            .with("reconstruction_amp", b(false))
            .with("reconstruction_reversal", b(false))
            .with("use_sparse", b(false))
            .with("batch_center_backward_input", b(false))
            .with("alignment_rate", f(1.0)),
        "symmetric" => learned_b(optimizer_params(c, "sgdm"))
            .with("alpha", f(1e-3))
            .with("beta", f(2e-3))
            .with("alignment_rate", f(1.0)),
        "activation" => learned_b(optimizer_params(c, "sgdm"))
            .with("alpha", f(1e-3))
            .with("beta", f(2e-3))
            .with("batch_center_backward_input", b(false))
            .with("alignment_rate", f(1.0)),
        "weight_mirror" => learned_b(optimizer_params(c, "sgdm"))
            .with("alpha", f(1e-3))
            .with("beta", f(1e-3))
            .with("input_noise", s("none"))
            .with("input_stddev", f(1.0))
            .with("alignment_rate", f(1.0)),
        "kolen_pollack" => learned_b(optimizer_params(c, "sgdm"))
            .with("alpha", f(1e-3))
            .with("alignment_rate", f(1.0)),
        "synthetic_images" => c
            .with("size", i(32))
            .with("channels", i(3))
            .with("classes", i(10))
            .with("train", i(10000))
            .with("val", i(2000))
            .with("seed", i(0))
            .with("noise", f(0.25)),
        "cifar10" => c
            .with("path", s("data/cifar-10-batches-bin"))
            .with("train", i(0))
            .with("val", i(0)),
        "fashion_mnist" => c
            .with("path", s(crate::idx::FASHION_MNIST_DIR))
            .with("train", i(0))
            .with("val", i(0))
            .with("size", i(28))
            .with("seed", i(0)),
        "idx_images" => {
            let f = crate::idx::Files::default();
            c.with("path", s("data/mnist"))
                .with("train_images", s(&f.train_images))
                .with("train_labels", s(&f.train_labels))
                .with("val_images", s(&f.val_images))
                .with("val_labels", s(&f.val_labels))
                .with("classes", i(10))
                .with("train", i(0))
                .with("val", i(0))
                .with("size", i(28))
                .with("seed", i(0))
        }
        "image_folder" => c
            .with("path", s("data/images"))
            .with("val_path", s(""))
            .with("size", i(64))
            .with("channels", i(3))
            .with("val_fraction", f(0.1))
            .with("load", s("auto"))
            .with("seed", i(0)),
        "synthetic_audio" => cochlea(c, 0.5)
            .with("classes", i(10))
            .with("train", i(2000))
            .with("val", i(400))
            .with("seed", i(0))
            .with("noise", f(0.3)),
        "audio_folder" => cochlea(c, 2.0)
            .with("path", s("data/audio"))
            .with("val_path", s(""))
            .with("val_fraction", f(0.1))
            .with("load", s("auto"))
            .with("seed", i(0)),
        "supervised" => c.with("flip", b(true)).with("shift", i(4)),
        "contrastive" => c
            .with("temperature", f(1.0))
            .with("flip", b(true))
            .with("shift", i(4))
            .with("color", f(0.4))
            .with("grayscale", f(0.2))
            .with("blur", f(0.5))
            .with("blur_sigma", f(1.0))
            .with("head_dim", i(128)),
        "train" => c
            .with("epochs", i(100))
            .with("batch", i(256))
            .with("lr", f(0.01))
            .with("scale_lr", b(true))
            .with("lr_base_batch", i(256))
            .with("schedule", s("constant"))
            .with("warmup_epochs", f(6.0))
            .with("milestones", Value::List(vec![i(30), i(60), i(80)]))
            .with("gamma", f(0.1))
            .with("weight_decay", f(1e-5))
            .with(
                "checkpoints",
                Value::List((0..=20).map(|e| i(5 * e)).collect()),
            )
            .with("model_seed", i(0))
            .with("data_seed", i(0))
            .with("eval_every", i(1))
            .with("keep_checkpoints", b(false)),
        _ => return None,
    })
}

/// Fill every parameter `call` leaves out with its default. Unknown names are returned as-is
/// (the builders report them).
pub fn complete(call: &Call) -> Call {
    let mut d = match defaults(&call.name) {
        Some(d) => d,
        None => return call.clone(),
    };
    for (k, v) in &call.params {
        d.params.insert(k.clone(), v.clone());
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The language's schemas (src/registry) and the engine agree: every architecture, rule and
    /// task parameter a spec can set is one the engine reads, every task's registry default
    /// equals the engine's, and every engine builtin is in the registry.
    #[test]
    fn registry_and_engine_agree() {
        let _rng = crate::engine::test_rng_lock();
        use crate::registry::{BUILTINS as REG, Kind as RK};
        for b in REG.iter().filter(|b| matches!(b.kind, RK::Arch | RK::Rule)) {
            let d = defaults(b.name).unwrap_or_else(|| panic!("engine lacks builtin `{}`", b.name));
            for p in b.params() {
                assert!(
                    d.params.contains_key(p.name),
                    "engine's `{}` lacks parameter `{}`",
                    b.name,
                    p.name
                );
                // A default the registry states is the engine's too.
                if let (Some(r), Some(e)) = (p.default.to_value(), d.params.get(p.name)) {
                    assert!(
                        values_equal(&r, e),
                        "default of `{}.{}`: registry {r}, engine {e}",
                        b.name,
                        p.name
                    );
                }
            }
        }
        // Tasks: every parameter a spec can set reaches the engine, except the objective's
        // (`run::task::job_of` moves those to the objective call) and the folder tasks'
        // `classes`, which only sizes the plan's output layer (the engine counts directories).
        let common: Vec<&str> = crate::registry::builtin("synthetic_images")
            .unwrap()
            .params
            .last()
            .unwrap()
            .iter()
            .map(|p| p.name)
            .collect();
        assert!(common.contains(&"objective") && common.contains(&"flip"));
        for b in REG.iter().filter(|b| b.kind == RK::Task) {
            let d = defaults(b.name).unwrap_or_else(|| panic!("engine lacks task `{}`", b.name));
            for p in b.params() {
                let plan_only = p.name == "classes" && b.name.ends_with("_folder");
                assert!(
                    d.params.contains_key(p.name) || common.contains(&p.name) || plan_only,
                    "engine's task `{}` lacks parameter `{}`",
                    b.name,
                    p.name
                );
                // A default the registry states is the engine's too (what `complete` fills),
                // except these older ones: the checker always fills them from the registry,
                // and the engine's smaller values are what its own tests use.
                const ENGINE_TEST_SIZES: &[(&str, &str)] = &[
                    ("synthetic_images", "train"),
                    ("synthetic_images", "val"),
                    ("synthetic_images", "noise"),
                    ("image_folder", "size"),
                ];
                if let (Some(r), Some(e)) = (p.default.to_value(), d.params.get(p.name)) {
                    if !ENGINE_TEST_SIZES.contains(&(b.name, p.name)) {
                        assert_eq!(&r, e, "default of `{}.{}`", b.name, p.name);
                    }
                }
            }
        }
        for (n, k) in BUILTINS {
            if matches!(k, Kind::Arch | Kind::Rule | Kind::Task) {
                assert!(
                    REG.iter().any(|b| b.name == *n),
                    "`{n}` is not in the language's registry"
                );
            }
        }
    }

    /// Equal, with an integer and a float of the same value equal (`1` against `1.0`).
    fn values_equal(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::List(x), Value::List(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
            }
            (Value::Int(i), Value::Float(f)) | (Value::Float(f), Value::Int(i)) => *i as f64 == *f,
            _ => a == b,
        }
    }

    #[test]
    fn every_builtin_has_defaults() {
        let _rng = crate::engine::test_rng_lock();
        for (n, _) in BUILTINS {
            let d = defaults(n).unwrap();
            assert_eq!(&d.name, n);
        }
        assert!(defaults("nope").is_none());
        let c = complete(&Call::new("ia").with("alpha", f(0.5)));
        assert_eq!(c.f64("alpha"), Some(0.5));
        assert_eq!(c.f64("beta"), Some(1e-3));
        assert_eq!(c.str("optimizer"), Some("sgdm"));
    }
}
