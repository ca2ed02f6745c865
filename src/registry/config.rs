//! From a checked call to what the engine takes: every parameter filled from the builtin's one
//! schema in [`super::BUILTINS`] ([`complete`]), then parsed once into plain data, the typed
//! configs: the objective ([`Objective`]), rules ([`super::RuleConfig`]) and tasks ([`super::TaskConfig`]);
//! architectures' is [`super::arch::ArchConfig`], beside their layer plan.
//!
//! The registry is the only description of a builtin: the checker binds spec calls against
//! it, `lrx doc` renders it, and the engine fills the calls it is given directly (tests,
//! benches) from it through [`complete`], so a default cannot differ between the language and
//! the engine. Each config's `from_call` is the one place that reads its builtin's parameters
//! by name (it expects what [`complete`] returns); the engine (`exec::engine::{rules, models,
//! data, audio}`) reads fields. Adding a rule or a task means a variant here, read in its
//! `from_call`, and its engine code.

use super::Kind;
use super::schema::Default as D;
use crate::value::{Call, Value};

/// `call` with every parameter it leaves out filled from its builtin's schema: the value the
/// checker fills when it binds a spec's call. Parameters set from the task (input size,
/// channels, classes) take the architecture's native input ([`native_input`])
/// when absent. An unknown name is returned as it is (its builder reports it).
pub fn complete(call: &Call) -> Call {
    let Some(b) = super::builtin(&call.name) else {
        return call.clone();
    };
    let mut out = call.clone();
    for p in b.params() {
        if out.params.contains_key(p.name) {
            continue;
        }
        let v = match p.default {
            D::FromTask => native_input(&call.name, p.name),
            d => d.to_value(),
        };
        if let Some(v) = v {
            out.params.insert(p.name.to_string(), v);
        }
    }
    out
}

/// The value a task-filled architecture parameter (`input_size`, `in_channels`, `classes`)
/// takes when an architecture is built without a task (tests, benches): the input the
/// architecture was designed for. KNets and MLPs: 32×32×3 (CIFAR); AlexNet and the ResNets:
/// 224×224×3 (ImageNet); 10 classes for all. `None` for another parameter or name.
pub fn native_input(arch: &str, param: &str) -> Option<crate::value::Value> {
    let size = match arch {
        "knet4" | "knet5" | "mlp" => 32,
        "alexnet" | "resnet18" | "resnet34" => 224,
        _ => return None,
    };
    let v = match param {
        "input_size" => size,
        "in_channels" => 3,
        "classes" => 10,
        _ => return None,
    };
    Some(crate::value::Value::Int(v))
}

/// The objectives a task can train with.
pub const OBJECTIVES: &[&str] = &["supervised", "contrastive"];

/// A training objective, typed: the engine's view of a task's `objective`, `temperature`,
/// `flip`, `shift`, `color` and `blur` (method.md §7), with SimCLR's fixed constants.
///
/// The engine receives it as a call named after the objective (`supervised` or `contrastive`)
/// holding the task's objective parameters (`exec::task::job_of` moves them out of the task
/// call); what the call leaves out takes the task schema's default.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// SimCLR (two augmented views, NT-Xent, a projection head) instead of cross-entropy.
    pub contrastive: bool,
    /// NT-Xent temperature (contrastive only).
    pub temperature: f64,
    /// Random horizontal flips.
    pub flip: bool,
    /// Random translation, in pixels.
    pub shift: i64,
    /// Colour-jitter strength of the contrastive views (0 for supervised).
    pub color: f64,
    /// Probability of a grayscale view (contrastive only).
    pub grayscale: f64,
    /// Probability of a Gaussian blur of a view (contrastive only).
    pub blur: f64,
    /// Standard deviation of that blur, in pixels.
    pub blur_sigma: f64,
    /// Output width of the SimCLR projection head.
    pub head_dim: i64,
}

impl Objective {
    /// SimCLR's grayscale probability (Chen et al. 2020), not settable from a spec.
    pub const GRAYSCALE: f64 = 0.2;
    /// The blur probability of a view when the task's `blur = true` (SimCLR's 0.5).
    pub const BLUR: f64 = 0.5;
    /// The blur's standard deviation, in pixels.
    pub const BLUR_SIGMA: f64 = 1.0;
    /// The SimCLR projection head's output width.
    pub const HEAD_DIM: i64 = 128;

    /// The objective of an engine objective call (`supervised` or `contrastive`); every
    /// parameter left out takes the task schema's default. `blur` is the blur's probability
    /// (a float), or a bool as the language writes it (`true` = [`Objective::BLUR`]).
    pub fn from_call(call: &Call) -> Result<Objective, String> {
        let contrastive = match call.name.as_str() {
            "supervised" => false,
            "contrastive" => true,
            o => {
                return Err(format!(
                    "unknown objective `{o}` (known: {})",
                    OBJECTIVES.join(", ")
                ));
            }
        };
        let task = super::builtin("synthetic_images").expect("the synthetic task is a builtin");
        let get = |name: &str| -> Result<Value, String> {
            call.get(name)
                .cloned()
                .or_else(|| task.param(name).and_then(|p| p.default.to_value()))
                .or(match name {
                    "grayscale" => Some(Value::Float(Self::GRAYSCALE)),
                    "blur_sigma" => Some(Value::Float(Self::BLUR_SIGMA)),
                    "head_dim" => Some(Value::Int(Self::HEAD_DIM)),
                    _ => None,
                })
                .ok_or_else(|| format!("objective `{}` lacks `{name}`", call.name))
        };
        let bad = |name: &str, what: &str| format!("objective `{}`: `{name}` {what}", call.name);
        let float = |name: &str| -> Result<f64, String> {
            let v = get(name)?;
            v.as_f64()
                .or(v.as_bool().map(|b| if b { Self::BLUR } else { 0.0 }))
                .ok_or_else(|| bad(name, "must be a number"))
        };
        let shift = get("shift")?
            .as_i64()
            .filter(|s| *s >= 0)
            .ok_or_else(|| bad("shift", "must be an integer ≥ 0"))?;
        let flip = get("flip")?
            .as_bool()
            .ok_or_else(|| bad("flip", "must be `true` or `false`"))?;
        let c = |name: &str| {
            if contrastive { float(name) } else { Ok(0.0) }
        };
        let o = Objective {
            contrastive,
            temperature: float("temperature")?,
            flip,
            shift,
            color: c("color")?,
            grayscale: c("grayscale")?,
            blur: c("blur")?,
            blur_sigma: if contrastive {
                float("blur_sigma")?
            } else {
                Self::BLUR_SIGMA
            },
            head_dim: get("head_dim")?
                .as_i64()
                .filter(|d| *d > 0)
                .ok_or_else(|| bad("head_dim", "must be a positive integer"))?,
        };
        for (p, v) in [("grayscale", o.grayscale), ("blur", o.blur)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(p, "is a probability and must be in [0, 1]"));
            }
        }
        if contrastive && (o.temperature <= 0.0 || o.temperature.is_nan()) {
            return Err(bad("temperature", "must be positive"));
        }
        Ok(o)
    }
}

// ------------------------------------------------------------------------------------------
// Typed configs

/// Why a completed call does not convert to its typed config. The engine reports it as an
/// `EngineError` with the same message.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    /// The call names no builtin of this kind.
    Unknown {
        /// The kind, as [`Kind::name`] words it (`learning rule`, `architecture`, `task`).
        family: &'static str,
        /// The name the call has.
        name: String,
        /// The names of the builtins of this kind, comma-separated, in registry order.
        known: &'static str,
    },
    /// A parameter is missing, of the wrong type, or out of range.
    Param {
        /// The call's name.
        call: String,
        /// The parameter's name.
        param: String,
        /// What is wrong, worded to follow the parameter's name.
        msg: String,
    },
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Unknown {
                family,
                name,
                known,
            } => write!(f, "unknown {family} `{name}` (known: {known})"),
            ConfigError::Param { call, param, msg } => {
                write!(f, "`{call}`: parameter `{param}` {msg}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// The names of the builtins of `kind`, comma-separated in registry order (for "unknown"
/// errors).
pub fn known(kind: Kind) -> &'static str {
    use std::sync::OnceLock;
    static KNOWN: [OnceLock<String>; Kind::ALL.len()] = [const { OnceLock::new() }; 8];
    let i = Kind::ALL.iter().position(|k| *k == kind).expect("a kind");
    KNOWN[i].get_or_init(|| {
        super::BUILTINS
            .iter()
            .filter(|b| b.kind == kind)
            .map(|b| b.name)
            .collect::<Vec<_>>()
            .join(", ")
    })
}

pub(super) fn unknown(kind: Kind, name: &str) -> ConfigError {
    ConfigError::Unknown {
        family: kind.name(),
        name: name.into(),
        known: known(kind),
    }
}

pub(super) type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// Erroring, typed access to a completed call's parameters (the typed configs' only reader).
pub(super) struct Params<'a>(pub(super) &'a Call);

impl Params<'_> {
    pub(super) fn bad(&self, p: &str, msg: impl Into<String>) -> ConfigError {
        ConfigError::Param {
            call: self.0.name.clone(),
            param: p.into(),
            msg: msg.into(),
        }
    }
    pub(super) fn f64(&self, p: &str) -> Result<f64> {
        self.0
            .f64(p)
            .ok_or_else(|| self.bad(p, "is missing or not a number"))
    }
    pub(super) fn i64(&self, p: &str) -> Result<i64> {
        self.0
            .i64(p)
            .ok_or_else(|| self.bad(p, "is missing or not an integer"))
    }
    pub(super) fn pos_i64(&self, p: &str) -> Result<i64> {
        let v = self.i64(p)?;
        if v <= 0 {
            return Err(self.bad(p, format!("must be positive, got {v}")));
        }
        Ok(v)
    }
    pub(super) fn seed(&self, p: &str) -> Result<u64> {
        self.0
            .u64(p)
            .ok_or_else(|| self.bad(p, "is missing or not an integer in [0, 2^64 - 1]"))
    }
    pub(super) fn bool(&self, p: &str) -> Result<bool> {
        self.0
            .bool(p)
            .ok_or_else(|| self.bad(p, "is missing or not a boolean"))
    }
    pub(super) fn str(&self, p: &str) -> Result<&str> {
        self.0
            .str(p)
            .ok_or_else(|| self.bad(p, "is missing or not a string"))
    }
    /// An enum parameter: the value `names` pairs with its string; `default` when absent.
    pub(super) fn choice<T: Copy>(&self, p: &str, default: T, names: &[(&str, T)]) -> Result<T> {
        let Some(v) = self.0.str(p) else {
            return Ok(default);
        };
        names
            .iter()
            .find(|(n, _)| *n == v)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let list: Vec<String> = names.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                let list = match list.split_last() {
                    Some((last, rest)) if !rest.is_empty() => {
                        format!("{} or {last}", rest.join(", "))
                    }
                    _ => list.join(""),
                };
                self.bad(p, format!("must be {list}, got \"{v}\""))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_fills_every_parameter_from_the_schema() {
        for b in super::super::BUILTINS.iter().copied() {
            let c = complete(&Call::new(b.name));
            for p in b.params() {
                match p.default.to_value() {
                    Some(v) => assert_eq!(c.get(p.name), Some(&v), "{}.{}", b.name, p.name),
                    None if p.default == D::FromTask => {
                        assert!(c.get(p.name).is_some(), "{}.{}", b.name, p.name)
                    }
                    None => assert!(c.get(p.name).is_none()),
                }
            }
        }
        // What a call sets stays.
        let c = complete(&Call::new("ia").with("alpha", Value::Float(0.5)));
        assert_eq!(c.f64("alpha"), Some(0.5));
        assert_eq!(c.f64("beta"), Some(1e-3));
        assert_eq!(c.str("optimizer"), Some("sgdm"));
        assert_eq!(complete(&Call::new("nope")), Call::new("nope"));
        // The task-filled parameters take the architecture's native input.
        let a = complete(&Call::new("alexnet"));
        assert_eq!(a.i64("input_size"), Some(224));
        assert_eq!(a.i64("in_channels"), Some(3));
        assert_eq!(complete(&Call::new("knet4")).i64("input_size"), Some(32));
    }

    #[test]
    fn objectives_take_the_task_schema_defaults() {
        let s = Objective::from_call(&Call::new("supervised")).unwrap();
        assert!(!s.contrastive && s.flip && s.shift == 4);
        assert_eq!((s.color, s.grayscale, s.blur), (0.0, 0.0, 0.0));
        let c = Objective::from_call(&Call::new("contrastive")).unwrap();
        assert!(c.contrastive);
        assert_eq!((c.color, c.blur, c.temperature), (0.5, 0.5, 1.0));
        assert_eq!((c.grayscale, c.head_dim), (0.2, 128));
        let off = Objective::from_call(&Call::new("contrastive").with("blur", Value::Bool(false)));
        assert_eq!(off.unwrap().blur, 0.0);
        assert!(Objective::from_call(&Call::new("rl")).is_err());
        let bad = Call::new("contrastive").with("blur", Value::Float(1.5));
        assert!(
            Objective::from_call(&bad)
                .unwrap_err()
                .contains("probability")
        );
        let bad = Call::new("supervised").with("shift", Value::Int(-1));
        assert!(Objective::from_call(&bad).is_err());
    }
}

#[cfg(test)]
mod typed_tests {
    use super::*;
    use crate::registry::BUILTINS;
    use crate::registry::arch::{ArchConfig, Net};
    use crate::registry::rules::{Alignment, BOptimizer, BackwardInit, Optimizer, RuleConfig};
    use crate::registry::tasks::{SyntheticImages, TaskConfig};

    /// A builtin's call with only its required parameters set (a data location).
    fn defaults(b: &super::super::Builtin) -> Call {
        let mut c = Call::new(b.name);
        for p in b.params() {
            if p.default == D::Required {
                c = c.with(p.name, Value::Str("/data".into()));
            }
        }
        complete(&c)
    }
    use crate::value::Value;

    #[test]
    fn every_rule_architecture_and_task_converts_from_its_defaults() {
        let mut n = 0;
        for b in BUILTINS.iter().copied() {
            let c = defaults(b);
            let name = match b.kind {
                Kind::Rule => RuleConfig::from_call(&c).map(|r| r.name),
                Kind::Arch => ArchConfig::from_call(&c).map(|a| a.name),
                Kind::Task => TaskConfig::from_call(&c).map(|t| t.name().to_string()),
                _ => continue,
            };
            assert_eq!(name.as_deref(), Ok(b.name), "{}", b.name);
            n += 1;
        }
        assert_eq!(n, 8 + 6 + 7);
        for k in [Kind::Rule, Kind::Arch, Kind::Task] {
            assert_eq!(
                known(k).split(", ").count(),
                BUILTINS.iter().filter(|b| b.kind == k).count()
            );
        }
    }

    #[test]
    fn defaults_are_the_schema_values() {
        let ia = RuleConfig::from_call(&complete(&Call::new("ia"))).unwrap();
        assert_eq!(
            ia.optimizer,
            Optimizer::Sgdm {
                momentum: 0.9,
                nesterov: true
            }
        );
        assert!(matches!(
            ia.alignment,
            Alignment::Information {
                alpha: 2e-3,
                beta: 1e-3,
                gamma: 1e-3,
                ..
            }
        ));
        assert_eq!((ia.alignment_rate, ia.hidden_lr_scale), (1.0, 1.0));
        assert_eq!(ia.learned_b.b_optimizer, BOptimizer::Same);
        assert_eq!(ia.backward.init, BackwardInit::Independent);
        let fa = RuleConfig::from_call(&complete(&Call::new("fa"))).unwrap();
        assert!(matches!(fa.optimizer, Optimizer::Adam { .. }));
        assert_eq!(fa.alignment_rate, 0.0);
        let k = ArchConfig::from_call(&complete(&Call::new("knet5"))).unwrap();
        assert_eq!(
            k.net,
            Net::KNet {
                conv4: true,
                lrn: false,
                he: false,
                batch_norm: false
            }
        );
        assert_eq!(
            (k.input_size, k.input_width, k.in_channels, k.classes),
            (32, 32, 3, 10)
        );
        let t = TaskConfig::from_call(&complete(&Call::new("synthetic_images"))).unwrap();
        assert!(matches!(
            t,
            TaskConfig::SyntheticImages(SyntheticImages {
                size: 32,
                channels: 3,
                classes: 10,
                ..
            })
        ));
    }

    #[test]
    fn bad_calls_name_the_parameter() {
        let e = |c: Call, kind: Kind| match kind {
            Kind::Rule => RuleConfig::from_call(&complete(&c)).unwrap_err(),
            Kind::Arch => ArchConfig::from_call(&complete(&c)).unwrap_err(),
            _ => TaskConfig::from_call(&complete(&c)).unwrap_err(),
        };
        let s = |v: &str| Value::Str(v.into());
        let msg = e(Call::new("fa").with("backward_init", s("x")), Kind::Rule).to_string();
        assert_eq!(
            msg,
            "`fa`: parameter `backward_init` must be \"independent\" or \"same_draws\", got \"x\""
        );
        let msg = e(
            Call::new("sgdm").with("top_feedback", s("shared")),
            Kind::Rule,
        )
        .to_string();
        assert!(
            msg.contains("applies only to rules with backward weights"),
            "{msg}"
        );
        // `b_step_cap` bounds an SGD step: refused where Adam steps B, accepted where SGDM does.
        let cap = || Call::new("ia").with("b_step_cap", Value::Float(0.5));
        for c in [
            cap().with("optimizer", s("adam")),
            cap().with("b_optimizer", s("adam")),
        ] {
            let msg = e(c, Kind::Rule).to_string();
            assert!(msg.contains("B here is stepped by Adam"), "{msg}");
        }
        for c in [
            cap(),
            cap()
                .with("optimizer", s("adam"))
                .with("b_optimizer", s("sgdm")),
        ] {
            assert!(RuleConfig::from_call(&complete(&c)).is_ok());
        }
        // `b_step_recheck` re-estimates the cap's curvature: a growth factor > 1, with the cap.
        let recheck = |c: Call, rho: f64| c.with("b_step_recheck", Value::Float(rho));
        let msg = e(recheck(Call::new("ia"), 2.0), Kind::Rule).to_string();
        assert!(msg.contains("`b_step_cap`, which is off here"), "{msg}");
        let msg = e(recheck(cap(), 0.5), Kind::Rule).to_string();
        assert!(msg.contains("growth factor > 1"), "{msg}");
        assert!(RuleConfig::from_call(&complete(&recheck(cap(), 2.0))).is_ok());
        let msg = e(Call::new("knet4").with("init", s("x")), Kind::Arch).to_string();
        assert_eq!(
            msg,
            "`knet4`: parameter `init` must be \"paper\" or \"he\", got \"x\""
        );
        let msg = e(Call::new("hebb"), Kind::Rule).to_string();
        assert!(
            msg.starts_with("unknown learning rule `hebb` (known: sgdm, adam, fa"),
            "{msg}"
        );
        let msg = e(Call::new("mnist"), Kind::Task).to_string();
        assert!(msg.contains("(known: synthetic_images, cifar10,"), "{msg}");
        let msg = e(
            Call::new("image_folder")
                .with("path", s("/d"))
                .with("channels", Value::Int(2)),
            Kind::Task,
        );
        assert_eq!(
            msg.to_string(),
            "`image_folder`: parameter `channels` must be 1 or 3"
        );
    }
}
