//! Generator-based fuzzing from the registry's schemas (src/registry): for every builtin, random
//! argument sets drawn from each parameter's type, range, enum and unit, placed where a spec
//! uses that kind of builtin (a task definition, `train.arch`, `train.rule`, `train.schedule`,
//! `realism.noise`, `classify.models`/`splits`/`cv`) in an otherwise valid spec. Oracles, on
//! top of `fuzz_oracle::check`'s (no panic, errors located, accepted specs plan):
//! - an in-range argument set is accepted and planned;
//! - one out-of-range argument (or one of the wrong type, or with a wrong unit) is refused,
//!   with an error inside that argument's value span.
//!
//! Cross-parameter constraints the checker documents as refusals are satisfied by construction
//! in the in-range sets, so that "in range" means "valid": the cochleagram of audio tasks
//! (`high_hz` ≤ `sample_rate`/2, `low_hz` < `high_hz`, `env_rate` ≤ `sample_rate`, at least 2
//! envelope frames), AlexNet's 67-pixel minimum input (the arch trials give AlexNet a 96-pixel
//! task) and a PCA grid with at least one value that fits the features (`pca` ≤ 84 here: 21
//! weight observables × 4 checkpoints), and `top_feedback = shared` never with
//! `backward_init = same_draws`.
//!
//! See `fuzz_grammar` for why the generators are hand-written. Integers cover their whole range
//! (exact since issue 21 item 4), out-of-range ones include `i64::MAX + 1` and `2⁶⁴`.

use super::fuzz_oracle::{self as oracle, Failure, Failures};
use lrx::registry::schema::{Default as D, Param, Ty};
use lrx::registry::{BUILTINS, Builtin, Kind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::ops::Range;

/// Feature columns of the base spec's `weight` measure (PCA components above this cannot fit).
const FEATURES: i64 = 84;

/// Draws parameter values from schemas.
pub struct ValueGen<'a> {
    pub rng: &'a mut ChaCha8Rng,
}

fn reserved(s: &str) -> bool {
    matches!(s, "import" | "as" | "where" | "in")
}

impl ValueGen<'_> {
    fn p(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }
    /// A float written in one of the grammar's number forms (`0.5`, `5e-1`); negative values
    /// through the prefix `-`.
    pub fn float_text(&mut self, x: f64) -> String {
        let s = if self.p(0.3) {
            format!("{x:e}")
        } else {
            format!("{x}")
        };
        debug_assert_eq!(
            s.trim_start_matches('-')
                .parse::<f64>()
                .ok()
                .map(|v| v * x.signum()),
            Some(x)
        );
        s
    }
    /// An integer in `[min, max]`, biased to the bounds and to small values.
    fn int_in(&mut self, min: i64, max: i64) -> i64 {
        match self.rng.random_range(0..8) {
            0 => min,
            1 => max.min(min.saturating_add(1_000_000)),
            2 if self.p(0.2) => max,
            _ => self.rng.random_range(min..=max.min(min.saturating_add(64))),
        }
    }
    fn float_in(&mut self, min: f64, max: f64) -> f64 {
        let hi = if max.is_finite() { max } else { 1e12 };
        match self.rng.random_range(0..8) {
            0 => min,
            1 if max.is_finite() => max,
            2 if min > 0.0 => {
                // Log-uniform over wide ranges.
                let (a, b) = (min.ln(), hi.ln());
                (self.rng.random_range(a..=b)).exp().clamp(min, hi)
            }
            _ => {
                let hi = hi.min(min + 100.0);
                self.rng.random_range(min..=hi)
            }
        }
    }

    /// A value of type `p.ty` within its range.
    pub fn value_in(&mut self, p: &Param) -> String {
        match p.ty {
            Ty::Bool => if self.p(0.5) { "true" } else { "false" }.into(),
            Ty::Int { min, max } => {
                let max = if p.name == "components" || p.name == "pca" {
                    max.min(FEATURES)
                } else {
                    max
                };
                let i = self.int_in(min, max);
                if p.unit == Some("pixels") && self.p(0.2) {
                    format!("{i} pixels")
                } else {
                    i.to_string()
                }
            }
            Ty::Float { min, max } => {
                let x = self.float_in(min, max);
                self.float_text(x)
            }
            Ty::Fraction => {
                if self.p(0.4) {
                    let pct = match self.rng.random_range(0..4) {
                        0 => 0.0,
                        1 => 100.0,
                        _ => f64::from(self.rng.random_range(0..1000u32)) / 10.0,
                    };
                    format!("{pct}%")
                } else {
                    let x = self.float_in(0.0, 1.0);
                    self.float_text(x)
                }
            }
            Ty::Seed => match self.rng.random_range(0..6) {
                0 => "0".into(),
                1 => u64::MAX.to_string(),
                2 => ((1u64 << 53) + 1).to_string(),
                _ => self.rng.random::<u64>().to_string(),
            },
            Ty::PosFloat { max } => {
                let x = self.float_in(f64::MIN_POSITIVE, max);
                self.float_text(x)
            }
            Ty::Epochs { min } => {
                let e = self.rng.random_range(min..=min + 10);
                match self.rng.random_range(0..3) {
                    0 => format!("{e} epochs"),
                    1 if e == 1 => "1 epoch".into(),
                    _ => e.to_string(),
                }
            }
            Ty::Str => {
                if p.name == "path" {
                    "\".\"".into()
                } else if p.name.ends_with("path") {
                    if self.p(0.5) { "\"\"" } else { "\".\"" }.into()
                } else {
                    "\"fuzz\"".into()
                }
            }
            Ty::Enum(vals) => {
                let v = vals[self.rng.random_range(0..vals.len())];
                if self.p(0.2) {
                    format!("\"{v}\"")
                } else {
                    v.into()
                }
            }
            Ty::IntList { min, max } => self.list(|g| g.int_in(min, max).to_string()),
            Ty::FloatList { min, max } => self.list(|g| {
                let x = g.float_in(min, max);
                g.float_text(x)
            }),
            Ty::PosFloatList { max } => self.list(|g| {
                let x = g.float_in(f64::MIN_POSITIVE, max);
                g.float_text(x)
            }),
            Ty::EnumList(vals) => {
                self.list(|g| vals[g.rng.random_range(0..vals.len())].to_string())
            }
            Ty::OptIntList => self.list(|g| {
                if g.p(0.3) {
                    "none".into()
                } else {
                    g.int_in(1, FEATURES).to_string()
                }
            }),
        }
    }

    /// One to three items as a list, or one item alone (a grid parameter accepts both).
    fn list(&mut self, mut item: impl FnMut(&mut Self) -> String) -> String {
        if self.p(0.2) {
            return item(self);
        }
        let n = self.rng.random_range(1..=3);
        let items: Vec<String> = (0..n).map(|_| item(self)).collect();
        format!("[{}]", items.join(", "))
    }

    /// A value of the right type but outside its range, if the type has one.
    pub fn value_out(&mut self, p: &Param) -> Option<String> {
        // Exact integers (i128: `i64::MAX + 1` and `2⁶⁴` are literals like any other).
        let int_out = |g: &mut Self, min: i128, max: i128| -> Option<String> {
            let below = min > i128::from(i64::MIN);
            let above = max < i128::from(u64::MAX) + 1;
            let go_below = match (below, above) {
                (false, false) => return None,
                (true, false) => true,
                (false, true) => false,
                _ => g.p(0.5),
            };
            let d: i128 = if g.p(0.5) {
                1
            } else {
                g.rng.random_range(1..1000)
            };
            Some(if go_below {
                let v = min - d;
                if v < 0 {
                    format!("-{}", -v)
                } else {
                    v.to_string()
                }
            } else {
                (max + d).to_string()
            })
        };
        let float_out = |g: &mut Self, min: f64, max: f64, open_zero: bool| -> Option<String> {
            let go_below = if max.is_finite() { g.p(0.5) } else { true };
            if go_below && open_zero && g.p(0.3) {
                return Some("0".into());
            }
            if go_below {
                let v = if min > 0.0 && g.p(0.5) {
                    0.0
                } else if min > 0.0 {
                    min / 2.0
                } else {
                    min - g.rng.random_range(1e-3..100.0)
                };
                debug_assert!(v < min);
                let t = g.float_text(v.abs());
                Some(if v < 0.0 { format!("-{t}") } else { t })
            } else {
                let v = max + (max.abs() * 1e-3).max(1e-6) * g.rng.random_range(1.0..1000.0);
                debug_assert!(v > max);
                Some(g.float_text(v))
            }
        };
        let in_list = |g: &mut Self, bad: String, good: &Param| -> String {
            // One bad item among good ones.
            let mut items: Vec<String> = (0..g.rng.random_range(0..3))
                .map(|_| {
                    let v = g.value_in(good);
                    v.trim_start_matches('[').trim_end_matches(']').to_string()
                })
                .collect();
            let at = g.rng.random_range(0..=items.len());
            items.insert(at, bad);
            format!("[{}]", items.join(", "))
        };
        match p.ty {
            Ty::Bool | Ty::Str => None,
            Ty::Int { min, max } => int_out(self, min.into(), max.into()),
            Ty::Seed => int_out(self, 0, u64::MAX.into()),
            Ty::Float { min, max } => float_out(self, min, max, false),
            Ty::PosFloat { max } => float_out(self, 0.0, max, true),
            Ty::Fraction => Some(
                ["1.5", "-0.25", "150%", "100.5%", "-5%", "2"][self.rng.random_range(0..6)].into(),
            ),
            Ty::Epochs { min } => Some(match self.rng.random_range(0..4) {
                0 => format!("{}", min - 1),
                1 => "2.5".into(),
                2 => format!("{} epochs", min - 1),
                _ => "0.5 epochs".into(),
            }),
            Ty::Enum(vals) => Some(self.non_member(vals)),
            Ty::IntList { min, max } => {
                let bad = int_out(self, min.into(), max.into())?;
                let one = Param {
                    ty: Ty::Int { min, max },
                    ..*p
                };
                Some(in_list(self, bad, &one))
            }
            Ty::FloatList { min, max } => {
                let bad = float_out(self, min, max, false)?;
                let one = Param {
                    ty: Ty::Float { min, max },
                    ..*p
                };
                Some(in_list(self, bad, &one))
            }
            Ty::PosFloatList { max } => {
                let bad = float_out(self, 0.0, max, true)?;
                let one = Param {
                    ty: Ty::PosFloat { max },
                    ..*p
                };
                Some(in_list(self, bad, &one))
            }
            Ty::EnumList(vals) => {
                let bad = self.non_member(vals);
                let one = Param {
                    ty: Ty::Enum(vals),
                    ..*p
                };
                Some(in_list(self, bad, &one))
            }
            Ty::OptIntList => {
                let bad = ["0", "-1", "-20"][self.rng.random_range(0..3)].to_string();
                Some(in_list(self, bad, p))
            }
        }
    }

    /// A name (bare or quoted) that is not one of `vals`: a near miss or random letters.
    fn non_member(&mut self, vals: &[&str]) -> String {
        loop {
            let base = vals[self.rng.random_range(0..vals.len())];
            let mut c: Vec<char> = base.chars().collect();
            let i = self.rng.random_range(0..c.len());
            if self.p(0.5) {
                c.insert(i, (b'a' + self.rng.random_range(0..26)) as char);
            } else {
                c[i] = (b'a' + self.rng.random_range(0..26)) as char;
            }
            let s: String = c.into_iter().collect();
            if vals.contains(&s.as_str())
                || reserved(&s)
                || s.starts_with(|c: char| c.is_ascii_digit())
                || matches!(s.as_str(), "true" | "false" | "none")
            {
                continue;
            }
            return if self.p(0.2) { format!("\"{s}\"") } else { s };
        }
    }

    /// A value of another type than `p.ty` (or a number with a unit it does not take).
    pub fn value_wrong_type(&mut self, p: &Param) -> String {
        let cands: &[&str] = match p.ty {
            Ty::Bool => &["1", "\"yes\"", "[true]", "yes_please"],
            Ty::Int { .. } | Ty::Seed | Ty::Float { .. } | Ty::PosFloat { .. } => &[
                "\"3\"",
                "true",
                "[1, [2]]",
                "{ a: 1 }",
                "2 cpu_hours",
                "(1, 2)",
            ],
            Ty::Fraction => &["\"half\"", "true", "0.5 epochs", "[0.5]"],
            Ty::Epochs { .. } => &["\"3\"", "true", "3 cpu_hours", "[1]"],
            Ty::Str => &["1", "true", "[\"a\"]", "2 epochs"],
            Ty::Enum(_) => &["1", "true", "[1]", "2.5%"],
            Ty::IntList { .. } | Ty::FloatList { .. } | Ty::PosFloatList { .. } => {
                &["\"1\"", "true", "[1, \"a\"]", "[true]"]
            }
            // Integers accept the units `epochs` and `pixels` (docs/reference/expressions.md).
            Ty::OptIntList => &["\"\"", "true", "[[1]]", "2 cpu_hours"],
            Ty::EnumList(_) => &["\"\"", "true", "[[1]]", "2 epochs"],
        };
        cands[self.rng.random_range(0..cands.len())].into()
    }

    /// A call of `b` with a random in-range argument set (required parameters always, each
    /// optional one with probability `p_opt`), with cross-parameter constraints satisfied.
    /// Returns the text and, for each argument, its parameter and the byte range of its value.
    pub fn call_in_range(
        &mut self,
        b: &'static Builtin,
        p_opt: f64,
    ) -> (String, Vec<(&'static str, Range<usize>)>) {
        let mut args: Vec<(&'static Param, String)> = Vec::new();
        for p in b.params() {
            match p.default {
                D::FromTask => continue,
                D::Required => {}
                _ if !self.p(p_opt) => continue,
                _ => {}
            }
            let v = self.value_in(p);
            args.push((p, v));
        }
        if lrx::registry::cochlea::is_audio_task(b.name) {
            repair_cochlea(b, &mut args);
        }
        if b.name == "calcium" {
            repair_calcium(b, &mut args, None);
        }
        repair_rule(&mut args);
        self.render(b, args)
    }

    /// Writes `b(args)`: a positional prefix where the order allows it, grid parameters
    /// sometimes as `name in [...]`.
    pub fn render(
        &mut self,
        b: &'static Builtin,
        mut args: Vec<(&'static Param, String)>,
    ) -> (String, Vec<(&'static str, Range<usize>)>) {
        // Positional order is the schema order without task-filled parameters.
        let order: Vec<&str> = b
            .params()
            .filter(|p| p.default != D::FromTask)
            .map(|p| p.name)
            .collect();
        args.sort_by_key(|(p, _)| order.iter().position(|n| *n == p.name));
        let positional = if self.p(0.3) {
            args.iter()
                .zip(&order)
                .take_while(|((p, _), n)| p.name == **n)
                .count()
        } else {
            0
        };
        // Named arguments in random order.
        let (head, tail) = args.split_at_mut(positional);
        for i in (1..tail.len()).rev() {
            let j = self.rng.random_range(0..=i);
            tail.swap(i, j);
        }
        let _ = head;
        let mut text = format!("{}(", b.name);
        let mut spans = Vec::new();
        for (i, (p, v)) in args.iter().enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            if i >= positional {
                let op = if p.ty.is_list() && self.p(0.3) {
                    "in"
                } else {
                    "="
                };
                text.push_str(&format!("{} {op} ", p.name));
            }
            let start = text.len();
            text.push_str(v);
            spans.push((p.name, start..text.len()));
        }
        text.push(')');
        (text, spans)
    }
}

/// `top_feedback = shared` is refused with `backward_init = same_draws` (B takes W's draws,
/// which are not shared over positions): such a set becomes `backward_init = independent`.
/// (The base spec's knet4 on a supervised task meets the other conditions of `shared`.)
fn repair_rule(args: &mut [(&'static Param, String)]) {
    let is = |args: &[(&'static Param, String)], name: &str, v: &str| {
        args.iter()
            .any(|(p, x)| p.name == name && x.trim_matches('"') == v)
    };
    if is(args, "top_feedback", "shared") && is(args, "backward_init", "same_draws") {
        for a in args.iter_mut().filter(|(p, _)| p.name == "backward_init") {
            a.1 = "independent".into();
        }
    }
}

/// Keeps every `rise` of a calcium grid below every `decay` (the kernel is a difference of
/// exponentials: the checker refuses `rise ≥ decay` with `lrx::measurement::kinetics`), setting
/// `decay` explicitly to twice the largest rise when the given or default decays are too short.
/// `keep = Some("decay")` changes `rise` instead.
fn repair_calcium(
    b: &'static Builtin,
    args: &mut Vec<(&'static Param, String)>,
    keep: Option<&str>,
) {
    let items = |s: &str| -> Vec<f64> {
        s.trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|x| x.trim().parse().unwrap())
            .collect()
    };
    let get = |args: &Vec<(&'static Param, String)>, name: &str| -> Vec<f64> {
        match args.iter().find(|(p, _)| p.name == name) {
            Some((_, v)) => items(v),
            None => match b.param(name).unwrap().default {
                D::FL(x) => x.to_vec(),
                d => panic!("unexpected default {d:?} of {name}"),
            },
        }
    };
    let rise = get(args, "rise").into_iter().fold(0.0, f64::max);
    let decay = get(args, "decay").into_iter().fold(f64::INFINITY, f64::min);
    if rise < decay {
        return;
    }
    let (name, x) = if keep != Some("decay") && (2.0 * rise).is_finite() {
        ("decay", 2.0 * rise)
    } else {
        ("rise", decay / 2.0)
    };
    let v = format!("{x:e}");
    match args.iter_mut().find(|(q, _)| q.name == name) {
        Some(a) => a.1 = v,
        None => args.push((b.param(name).unwrap(), v)),
    }
}

/// Makes an audio task's cochleagram consistent, setting explicitly every parameter it changes
/// (a default can conflict with a given value, e.g. `sample_rate = 1000` with the default
/// `high_hz` of 8000 Hz).
fn repair_cochlea(b: &'static Builtin, args: &mut Vec<(&'static Param, String)>) {
    let num = |s: &str| -> f64 { s.split(' ').next().unwrap().parse().unwrap() };
    let get = |args: &Vec<(&'static Param, String)>, name: &str| -> f64 {
        match args.iter().find(|(p, _)| p.name == name) {
            Some((_, v)) => num(v),
            None => match b.param(name).unwrap().default {
                D::F(x) => x,
                D::I(i) => i as f64,
                d => panic!("unexpected default {d:?} of {name}"),
            },
        }
    };
    let set = |args: &mut Vec<(&'static Param, String)>, name: &str, x: f64| {
        let p = b.param(name).unwrap();
        let v = format!("{x}");
        match args.iter_mut().find(|(q, _)| q.name == name) {
            Some(a) => a.1 = v,
            None => args.push((p, v)),
        }
    };
    let sr = get(args, "sample_rate");
    let nyq = sr / 2.0;
    let mut high = get(args, "high_hz");
    if high > nyq {
        high = nyq.floor();
        set(args, "high_hz", high);
    }
    if high < 2.0 {
        high = 2.0;
        set(args, "high_hz", high);
    }
    let low = get(args, "low_hz");
    if low >= high {
        set(args, "low_hz", (high / 2.0).floor().max(1.0));
    }
    let mut env = get(args, "env_rate");
    if env > sr {
        env = sr;
        set(args, "env_rate", env);
    }
    let dur = get(args, "duration");
    if (dur * env).round() < 2.0 {
        set(args, "env_rate", sr.min((2.5 / dur).ceil()));
    }
}

/// The base spec with `call` in the slot for its kind; returns the text and the offset of the
/// call in it.
pub fn spec_with(b: &Builtin, call: &str) -> (String, usize) {
    let mut task = "synthetic_images(size = 16, classes = 3, train = 64, val = 32)".to_string();
    let mut arch = "knet4(width = 0.25)".to_string();
    let other_rule = if b.name == "sgdm" { "adam" } else { "sgdm" };
    let mut rule = "[sgdm, adam]".to_string();
    let mut schedule = "constant".to_string();
    let mut noise = "awgn(sigma in [0, 1])".to_string();
    let mut models = "[random_forest(trees in [10])]".to_string();
    let mut splits = "balanced(2, test = 25%)".to_string();
    let mut cv = "stratified_kfold(2)".to_string();
    const MARK: &str = "\u{1}CALL\u{1}";
    match b.kind {
        Kind::Task => task = MARK.into(),
        Kind::Arch => {
            if b.name == "alexnet" {
                task = "synthetic_images(size = 96, classes = 3, train = 64, val = 32)".into();
            }
            arch = MARK.into();
        }
        Kind::Rule => rule = format!("[{MARK}, {other_rule}]"),
        Kind::Schedule => schedule = MARK.into(),
        Kind::Noise => noise = MARK.into(),
        Kind::Classifier => models = format!("[{MARK}]"),
        Kind::Split => splits = MARK.into(),
        Kind::Cv => cv = MARK.into(),
    }
    let text = format!(
        "study fuzz {{ output = \"runs/fuzz\", device = cpu }}
task t0 = {task}
train {{
  task = t0
  arch = {arch}
  rule in {rule}
  lr = 0.01
  batch = 8
  epochs = 3
  schedule = {schedule}
}}
observe {{ stimuli = val(1) }}
realism {{ noise = {noise}, units in [50%, 100%] }}
classify {{
  targets = [rule]
  measures in [weight]
  models = {models}
  splits = {splits}
  cv = {cv}
}}
"
    );
    let at = text.find(MARK).unwrap();
    (text.replacen(MARK, call, 1), at)
}

/// Which argument a trial makes bad.
#[derive(Clone, Copy, Debug)]
enum Bad {
    OutOfRange,
    WrongType,
}

/// One trial: a builtin, an argument set with at most one bad argument, the spec and the
/// expected outcome. Returns a failure class on a broken oracle.
fn trial(
    rng: &mut ChaCha8Rng,
    b: &'static Builtin,
    bad: Option<(Bad, &'static Param)>,
) -> Option<(String, Failure)> {
    let mut g = ValueGen { rng };
    let (call, spans) = match bad {
        None => g.call_in_range(b, 0.5),
        Some((kind, p)) => {
            // An in-range set, then the bad value for `p`.
            let mut args: Vec<(&'static Param, String)> = Vec::new();
            for q in b.params() {
                if q.default == D::FromTask || q.name == p.name {
                    continue;
                }
                if q.default == D::Required || g.p(0.3) {
                    let v = g.value_in(q);
                    args.push((q, v));
                }
            }
            if lrx::registry::cochlea::is_audio_task(b.name) {
                repair_cochlea(b, &mut args);
                args.retain(|(q, _)| q.name != p.name);
            }
            repair_rule(&mut args);
            let v = match kind {
                Bad::OutOfRange => g.value_out(p)?,
                Bad::WrongType => g.value_wrong_type(p),
            };
            args.push((p, v));
            g.render(b, args)
        }
    };
    let (text, at) = spec_with(b, &call);
    let outcome = match oracle::check(&text) {
        Ok(o) => o,
        Err(f) => return Some((text, f)),
    };
    let fail = |class: String, detail: String| Some((text.clone(), Failure { class, detail }));
    match bad {
        None => {
            if !outcome.accepted {
                let e = &outcome.errors[0];
                return fail(
                    format!("in-range arguments of `{}` refused [{}]", b.name, e.code),
                    e.message.clone(),
                );
            }
        }
        Some((kind, p)) => {
            let r = spans.iter().find(|(n, _)| *n == p.name).unwrap().1.clone();
            let r = (r.start + at)..(r.end + at);
            if outcome.accepted {
                return fail(
                    format!("{kind:?} `{}.{}` accepted", b.name, p.name),
                    format!("value `{}`", &text[r]),
                );
            }
            let inside =
                |e: &lrx::diag::Diag| e.span.is_some_and(|s| s.start >= r.start && s.end <= r.end);
            if !outcome.errors.iter().any(inside) {
                let e = &outcome.errors[0];
                return fail(
                    format!(
                        "{kind:?} `{}.{}` refused elsewhere [{}]",
                        b.name, p.name, e.code
                    ),
                    format!(
                        "value `{}` at {r:?}; first error at {:?}: {}",
                        &text[r.clone()],
                        e.span,
                        e.message
                    ),
                );
            }
            if let Some(e) = outcome.errors.iter().find(|e| !inside(e)) {
                return fail(
                    format!(
                        "{kind:?} `{}.{}` also refused elsewhere [{}]",
                        b.name, p.name, e.code
                    ),
                    format!(
                        "value `{}` at {r:?}; other error at {:?}: {}",
                        &text[r.clone()],
                        e.span,
                        e.message
                    ),
                );
            }
        }
    }
    None
}

fn run(name: &str, seed: u64, per_param: u64, bad: Option<Bad>) {
    let t0 = std::time::Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(oracle::first_seed(seed));
    let mut failures = Failures::default();
    let mut n = 0u64;
    let reps = oracle::cases(per_param);
    for b in BUILTINS.iter().copied() {
        let params: Vec<Option<&'static Param>> = match bad {
            None => vec![None],
            Some(_) => b
                .params()
                .filter(|p| p.default != D::FromTask)
                .map(Some)
                .collect(),
        };
        for p in params {
            for _ in 0..reps {
                // Each trial gets its own seed so a failure is reproducible on its own.
                let s: u64 = rng.random();
                let mut r = ChaCha8Rng::seed_from_u64(s);
                let res = trial(&mut r, b, bad.zip(p));
                n += 1;
                if let Some((text, f)) = res {
                    let replay = |t: &str| {
                        // Shrinking keeps the class of the oracle failure of the text alone.
                        oracle::check(t).err().map(|f| f.class)
                    };
                    if f.class.starts_with("panic")
                        || f.class.contains("span")
                        || f.class.contains("plan")
                    {
                        failures.add(s, &text, f, &replay);
                    } else {
                        failures
                            .by_class
                            .entry(f.class)
                            .or_insert((s, text, f.detail, 0))
                            .3 += 1;
                    }
                }
            }
        }
    }
    let summary = format!(
        "{name}: {n} specs generated and checked over {} builtins, {} failure classes, {:.1} s",
        BUILTINS.len(),
        failures.by_class.len(),
        t0.elapsed().as_secs_f64()
    );
    oracle::summary(&summary);
    assert!(failures.is_empty(), "{summary}\n{}", failures.report());
}

#[test]
fn fuzz_schema_in_range_is_accepted() {
    run("fuzz_schema_in_range", 0x1a_0000, 20, None);
}

#[test]
fn fuzz_schema_out_of_range_is_refused_at_the_argument() {
    run(
        "fuzz_schema_out_of_range",
        0x1b_0000,
        4,
        Some(Bad::OutOfRange),
    );
}

#[test]
fn fuzz_schema_wrong_type_is_refused_at_the_argument() {
    run("fuzz_schema_wrong_type", 0x1c_0000, 3, Some(Bad::WrongType));
}

/// Every bound of every parameter's range, alone in an otherwise default call, is accepted and
/// planned: the extremes the random in-range sets rarely draw.
#[test]
fn fuzz_schema_bounds_are_accepted() {
    let t0 = std::time::Instant::now();
    let mut failures = Vec::new();
    let mut n = 0;
    for b in BUILTINS.iter().copied() {
        for p in b.params().filter(|p| p.default != D::FromTask) {
            let bounds: Vec<String> = match p.ty {
                Ty::Int { min, max } | Ty::IntList { min, max } => {
                    let max = if p.name == "pca" { FEATURES } else { max };
                    vec![min.to_string(), max.to_string()]
                }
                Ty::Seed => vec!["0".into(), u64::MAX.to_string()],
                Ty::PosFloat { max } | Ty::PosFloatList { max } => {
                    let hi = if max.is_finite() {
                        format!("{max:e}")
                    } else {
                        "1e300".into()
                    };
                    vec![format!("{:e}", f64::MIN_POSITIVE), hi]
                }
                Ty::Float { min, max } | Ty::FloatList { min, max } => {
                    let mut v = vec![format!("{min:e}")];
                    if max.is_finite() {
                        v.push(format!("{max:e}"));
                    } else {
                        v.push("1e300".into());
                    }
                    v
                }
                Ty::Fraction => vec!["0".into(), "1".into()],
                Ty::Epochs { min } => vec![min.to_string()],
                _ => continue,
            };
            for v in bounds {
                let mut args = Vec::new();
                for q in b.params() {
                    if q.default == D::Required && q.name != p.name {
                        args.push(format!("{} = \".\"", q.name));
                    }
                }
                args.push(format!("{} = {v}", p.name));
                let mut call = format!("{}({})", b.name, args.join(", "));
                if b.name == "calcium" {
                    // Keep the calcium kernel's rise below its decay (see `repair_calcium`).
                    let mut a: Vec<(&'static Param, String)> =
                        vec![(b.param(p.name).unwrap(), v.clone())];
                    repair_calcium(b, &mut a, Some(p.name));
                    if a.iter().any(|(q, x)| q.name == p.name && *x != v) {
                        continue; // this bound alone cannot make a valid kernel
                    }
                    let mut g = ChaCha8Rng::seed_from_u64(0);
                    call = ValueGen { rng: &mut g }.render(b, a).0;
                }
                if lrx::registry::cochlea::is_audio_task(b.name) {
                    // Keep the cochleagram consistent around the bound (see `repair_cochlea`).
                    let mut g = ChaCha8Rng::seed_from_u64(0);
                    let mut vg = ValueGen { rng: &mut g };
                    let mut a: Vec<(&'static Param, String)> = b
                        .params()
                        .filter(|q| q.default == D::Required || q.name == p.name)
                        .map(|q| {
                            let x = if q.name == p.name {
                                v.clone()
                            } else {
                                "\".\"".into()
                            };
                            (q, x)
                        })
                        .collect();
                    repair_cochlea(b, &mut a);
                    if a.iter().any(|(q, x)| q.name == p.name && *x != v) {
                        continue; // this bound alone cannot make a valid cochleagram
                    }
                    call = vg.render(b, a).0;
                }
                let (text, _) = spec_with(b, &call);
                n += 1;
                match oracle::check(&text) {
                    Ok(o) if o.accepted => {}
                    Ok(o) => failures.push(format!("`{call}` refused: {}", o.errors[0].message)),
                    Err(f) => failures.push(format!("`{call}`: {}", f.class)),
                }
            }
        }
    }
    oracle::summary(&format!(
        "fuzz_schema_bounds: {n} specs generated and checked (each bound of each range), {} failures, {:.1} s",
        failures.len(),
        t0.elapsed().as_secs_f64()
    ));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
