//! Generator-based fuzzing from the grammar (grammar/lrx.pest): random but syntactically
//! well-formed specs, with random names, numbers, units, operators, nesting, comments and
//! block structure, checked against the oracles of `fuzz_oracle` (no panic, every error
//! located, every accepted spec plans).
//!
//! Two shapes of spec:
//! - *structured*: a plausible study (`study`, definitions, one or two `train` blocks,
//!   `observe`, `realism`, `classify`, `report`) whose slots are filled with plausible values
//!   (builtin calls bound from the registry's schemas, tables indexed by factors, `seeds`,
//!   `zip`, `every`, `where` conditions), each slot replaced by a random expression or a
//!   near-miss name with a small per-spec probability. Many of these are accepted, which is
//!   what exercises "every accepted spec plans".
//! - *free*: any sequence of imports, definitions and blocks of random kinds, with random
//!   entries and expressions: exercises the parser and the checker's refusals.
//!
//! Why a hand-written generator rather than a crate: `proptest`/`arbitrary` are not
//! dependencies, and neither knows the grammar: a generator that produces well-formed specs
//! with the registry's names and parameter types is grammar- and registry-aware code in either
//! case; `rand`/`rand_chacha` (already dependencies) give deterministic seeds. Shrinking is a
//! line/token deletion pass (`fuzz_oracle::shrink`), enough for specs of a few dozen lines.
//!
//! Sweep sizes are kept small by construction (≤ 3 values per axis, `seeds(n)` and `range`
//! with small arguments), for speed: huge sweeps are `fuzz_found_sweep_explosion_is_refused_quickly`.
//! Numbers include the extremes of issue 21 item 4 (integers beyond 2⁵³, `i64::MAX`, 2⁶⁴ and
//! above, `1e400`).

use super::fuzz_oracle::{self as oracle, Failures};
use super::fuzz_schema::ValueGen;
use lrx::registry::{self, BUILTINS, Kind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use lrx::check::study::BLOCKS as BLOCK_KINDS;
use lrx::lsp::know::DEF_KINDS;
/// Setting names: every block key of the checker (`lrx::check::study::block_keys`) plus the
/// keys of nested blocks (observables' measures, `trajectory`).
static KEYS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let mut k = lrx::check::study::block_keys();
    k.extend(["functions", "statistics", "period", "samples"]);
    k
});
const HELPERS: &[&str] = &[
    "seeds",
    "every",
    "range",
    "env",
    "zip",
    "pairs",
    "curriculum",
    "val",
];
const SYMBOLS: &[&str] = &[
    "true",
    "false",
    "none",
    "cpu",
    "auto",
    "he",
    "sqrt",
    "log2",
    "max",
    "weight",
    "act",
    "gradavg",
    "all",
    "raw",
    "abs",
    "sq",
    "mean",
    "norm",
    "thirds",
    "sevenths",
    "html",
    "markdown",
    "float32",
    "linear",
    "fisher",
    "excess",
    "contrastive",
];
const UNITS: &[&str] = &[
    "epochs",
    "epoch",
    "cpu_hours",
    "gpu_hours",
    "pixels",
    "hz",
    "ms",
];
const FACTORS: &[&str] = lrx::ir::Factor::NAMES;

/// The random source plus the per-spec noise level (probability that a slot is replaced by a
/// random expression).
pub struct Gen {
    pub rng: ChaCha8Rng,
    noise: f64,
    /// Names defined so far (usable as references), with their definition keyword.
    defs: Vec<(String, String)>,
}

impl Gen {
    pub fn new(seed: u64) -> Self {
        Gen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            noise: 0.0,
            defs: Vec::new(),
        }
    }
    fn p(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.rng.random_range(0..v.len())]
    }
    fn ws(&mut self) -> &'static str {
        match self.rng.random_range(0..40) {
            0 => "\n",
            1 => " /* c */ ",
            2 => "\t",
            3 => "  ",
            _ => " ",
        }
    }

    /// A random identifier: mostly a vocabulary word, sometimes a near miss (one edit) or
    /// random letters. Never a reserved word (the grammar forbids them as names).
    pub fn ident(&mut self) -> String {
        let w = match self.rng.random_range(0..10) {
            0..=4 => {
                let pools: [&[&str]; 5] = [&KEYS, SYMBOLS, FACTORS, HELPERS, DEF_KINDS];
                let pool = pools[self.rng.random_range(0..pools.len())];
                self.pick(pool).to_string()
            }
            5 | 6 => BUILTINS[self.rng.random_range(0..BUILTINS.len())]
                .name
                .to_string(),
            7 => {
                let base = self.pick(&KEYS).to_string();
                self.near_miss(&base)
            }
            _ => {
                let n = self.rng.random_range(1..9);
                let mut s = String::new();
                for i in 0..n {
                    let c = if i > 0 && self.p(0.2) {
                        (b'0' + self.rng.random_range(0..10)) as char
                    } else if self.p(0.1) {
                        '_'
                    } else {
                        (b'a' + self.rng.random_range(0..26)) as char
                    };
                    s.push(c);
                }
                s
            }
        };
        if matches!(w.as_str(), "import" | "as" | "where" | "in") {
            "x".into()
        } else {
            w
        }
    }

    fn near_miss(&mut self, w: &str) -> String {
        let mut c: Vec<char> = w.chars().collect();
        let i = self.rng.random_range(0..c.len());
        match self.rng.random_range(0..3) {
            0 => c[i] = (b'a' + self.rng.random_range(0..26)) as char,
            1 if c.len() > 1 => {
                c.remove(i);
            }
            _ => c.insert(i, (b'a' + self.rng.random_range(0..26)) as char),
        }
        let s: String = c.into_iter().collect();
        if s.starts_with(|ch: char| ch.is_ascii_digit()) || s.is_empty() {
            format!("x{s}")
        } else {
            s
        }
    }

    /// A number literal (non-negative; negation is the prefix operator).
    pub fn number(&mut self) -> String {
        match self.rng.random_range(0..11) {
            0..=3 => self.rng.random_range(0..20).to_string(),
            4 => self.rng.random_range(0..100_000).to_string(),
            5 => format!("0.{}", self.rng.random_range(0..1000)),
            6 => format!(
                "{}e{}{}",
                self.rng.random_range(1..10),
                self.pick(&["", "-", "+"]),
                self.rng.random_range(0..13)
            ),
            7 => format!(
                "{}.{}E-{}",
                self.rng.random_range(0..10),
                self.rng.random_range(0..100),
                self.rng.random_range(0..8)
            ),
            8 => self.pick(&["0", "1", "0.5", "2", "100", "1e6"]).to_string(),
            9 => match self.rng.random_range(0..5) {
                0 => self.rng.random::<u64>().to_string(),
                1 => "9007199254740993".into(),
                2 => "9223372036854775808".into(),
                3 => "18446744073709551616".into(),
                _ => self
                    .pick(&["1e400", "1e308", "5e-324", "1e-400"])
                    .to_string(),
            },
            _ => self.rng.random_range(0..(1u64 << 40)).to_string(),
        }
    }

    /// A quantity: a number with an optional unit (`%` or a word on the same line).
    fn quantity(&mut self) -> String {
        let n = self.number();
        match self.rng.random_range(0..10) {
            0 => format!("{n}%"),
            1 => {
                let u = self.pick(UNITS);
                format!("{n} {u}")
            }
            2 => {
                let u = self.ident();
                format!("{n} {u}")
            }
            _ => n,
        }
    }

    fn string(&mut self) -> String {
        let parts = [
            "runs/x",
            "",
            "a b",
            "é λ",
            "\\n",
            "\\\"q\\\"",
            "../x",
            "cuda:0",
            "/tmp",
        ];
        let s = parts[self.rng.random_range(0..parts.len())];
        format!("\"{s}\"")
    }

    fn path(&mut self) -> String {
        let mut p = self.ident();
        if self.p(0.2) {
            p = format!("paper.{}", self.ident());
        } else if self.p(0.1) {
            let seg = self.ident();
            p = format!("{p}.{seg}");
        } else if !self.defs.is_empty() && self.p(0.3) {
            p = self.defs[self.rng.random_range(0..self.defs.len())]
                .1
                .clone();
        }
        p
    }

    /// A random expression of nesting depth at most `d`.
    pub fn expr(&mut self, d: u32) -> String {
        if d == 0 {
            return match self.rng.random_range(0..4) {
                0 => self.string(),
                1 => self.path(),
                _ => self.quantity(),
            };
        }
        match self.rng.random_range(0..14) {
            0 | 1 => self.quantity(),
            2 => self.string(),
            3 | 4 => self.path(),
            5 => {
                let n = self.rng.random_range(0..4);
                let items: Vec<String> = (0..n).map(|_| self.expr(d - 1)).collect();
                format!(
                    "[{}{}]",
                    items.join(", "),
                    if self.p(0.1) { "," } else { "" }
                )
            }
            6 => {
                let n = self.rng.random_range(0..3);
                let items: Vec<String> = (0..n)
                    .map(|_| {
                        let k = if self.p(0.2) {
                            "_".to_string()
                        } else {
                            self.expr(0)
                        };
                        let v = self.expr(d - 1);
                        format!("{k}: {v}")
                    })
                    .collect();
                format!("{{ {} }}", items.join(", "))
            }
            7 => {
                let (a, b) = (self.expr(d - 1), self.expr(d - 1));
                format!("({a}, {b})")
            }
            8 => format!("({})", self.expr(d - 1)),
            9 => {
                let op = self.pick(&[
                    "||", "&&", "==", "!=", "<=", ">=", "<", ">", "in", "+", "-", "*", "/",
                ]);
                let (a, b) = (self.expr(d - 1), self.expr(d - 1));
                format!("{a} {op} {b}")
            }
            10 => {
                let op = self.pick(&["!", "-", "--", "!-"]);
                format!("{op}{}", self.expr(d - 1))
            }
            11 => {
                // Index directly after the value (no space), as the grammar requires.
                let base = self.path();
                let k = self.expr(d - 1);
                if self.p(0.3) {
                    let k2 = self.expr(0);
                    format!("{base}[{k}, {k2}]")
                } else {
                    format!("{base}[{k}]")
                }
            }
            12 => self.helper_call(),
            _ => self.random_call(d - 1),
        }
    }

    /// A call of a random callee with random arguments (named, axis or positional).
    fn random_call(&mut self, d: u32) -> String {
        let callee = self.path();
        let n = self.rng.random_range(0..4);
        let args: Vec<String> = (0..n)
            .map(|_| match self.rng.random_range(0..3) {
                0 => self.expr(d),
                1 => format!("{} = {}", self.ident(), self.expr(d)),
                _ => format!("{} in {}", self.ident(), self.expr(d)),
            })
            .collect();
        format!("{callee}({})", args.join(", "))
    }

    /// A helper call with small arguments (sweeps stay small).
    fn helper_call(&mut self) -> String {
        let k = self.rng.random_range(0..5);
        match self.rng.random_range(0..8) {
            0 => format!("seeds({})", k),
            1 => format!("seeds({}, start = {})", k, self.rng.random_range(0..100)),
            2 => format!("every({} epochs)", k),
            3 => format!("range(0, {k})"),
            4 => format!("zip([1, 2], [{}, {}])", self.expr(0), self.expr(0)),
            5 => format!("pairs({})", self.pick(FACTORS)),
            6 => format!("curriculum({}, {})", self.pick(FACTORS), self.pick(FACTORS)),
            _ => format!("val({})", self.rng.random_range(0..200)),
        }
    }

    /// A plausible value for `slot`, or (with the spec's noise probability) a random
    /// expression.
    fn slot(&mut self, f: impl FnOnce(&mut Self) -> String) -> String {
        if self.p(self.noise) {
            let d = self.rng.random_range(0..4);
            self.expr(d)
        } else {
            f(self)
        }
    }

    /// A call of a random builtin of `kind` with a random subset of its parameters, values in
    /// range (from the schema), sometimes a preset from `paper` or a defined name.
    fn builtin(&mut self, kind: Kind) -> String {
        let names = registry::names_of(kind);
        let b = registry::builtin(self.pick(&names)).unwrap();
        let mut vg = ValueGen { rng: &mut self.rng };
        vg.call_in_range(b, 0.25).0
    }

    fn small_task(&mut self) -> String {
        let size = self.pick(&["8", "16", "32"]);
        match self.rng.random_range(0..6) {
            0 => "synthetic_audio(duration = 0.2, train = 32, val = 16)".into(),
            1 => self.builtin(Kind::Task),
            _ => format!(
                "synthetic_images(size = {size}, classes = {}, train = 64, val = 32)",
                self.rng.random_range(2..5)
            ),
        }
    }

    fn small_list(&mut self, f: impl Fn(&mut Self) -> String) -> String {
        let n = self.rng.random_range(1..4);
        let items: Vec<String> = (0..n).map(|_| f(self)).collect();
        format!("[{}]", items.join(", "))
    }

    /// `key = value` or `key in [values]` with a plausible value.
    fn entry(&mut self, key: &str, axis_ok: bool, f: impl Fn(&mut Self) -> String) -> String {
        let v = if axis_ok && self.p(0.35) {
            let l = self.slot(|g| g.small_list(&f));
            return format!("{key} in {l}");
        } else {
            self.slot(|g| f(g))
        };
        format!("{key} = {v}")
    }

    fn condition(&mut self, d: u32) -> String {
        if d == 0 || self.p(0.5) {
            let f = self.pick(&[
                "rule",
                "batch",
                "arch",
                "model_seed",
                "data_seed",
                "lr",
                "task",
            ]);
            return match f {
                "rule" => {
                    let r = self.pick(&registry::names_of(Kind::Rule));
                    if self.p(0.5) {
                        format!("rule {} {r}", self.pick(&["==", "!="]))
                    } else {
                        format!("rule in [{r}, sgdm]")
                    }
                }
                "batch" | "model_seed" | "data_seed" => {
                    let op = self.pick(&["==", "!=", "<", "<=", ">", ">="]);
                    format!("{f} {op} {}", self.rng.random_range(0..64))
                }
                "lr" => format!("lr < {}", self.number()),
                _ => format!("{f} == {}", self.ident()),
            };
        }
        match self.rng.random_range(0..3) {
            0 => format!("!({})", self.condition(d - 1)),
            1 => format!("{} && {}", self.condition(d - 1), self.condition(d - 1)),
            _ => format!("({} || {})", self.condition(d - 1), self.condition(d - 1)),
        }
    }

    /// A plausible study with a few random deviations.
    pub fn structured(&mut self) -> String {
        self.noise = *[0.0, 0.0, 0.0, 0.01, 0.03, 0.1]
            .get(self.rng.random_range(0..6))
            .unwrap();
        let mut out = String::new();
        let paper = self.p(0.7);
        if paper {
            out.push_str("import paper\n");
        }
        // study
        let mut st = vec!["output = \"runs/fuzz\"".to_string()];
        if self.p(0.5) {
            st.push(self.entry("seed", false, |g| g.rng.random_range(0..100).to_string()));
        }
        if self.p(0.5) {
            st.push(self.entry("device", false, |g| {
                g.pick(&["cpu", "auto", "\"cuda:0\"", "cuda", "\"cpu\""])
                    .to_string()
            }));
        }
        if self.p(0.2) {
            st.push(self.entry("cpu_gflops", false, |g| g.number()));
        }
        if self.p(0.2) {
            st.push(self.entry("description", false, |g| g.string()));
        }
        let sep = if self.p(0.5) { ", " } else { "\n  " };
        out.push_str(&format!("study fuzz {{\n  {}\n}}\n", st.join(sep)));
        // definitions
        for i in 0..self.rng.random_range(0..4) {
            let name = format!("d{i}");
            let (kind, value) = match self.rng.random_range(0..5) {
                0 => ("task", self.slot(|g| g.small_task())),
                1 => ("arch", self.slot(|g| g.builtin(Kind::Arch))),
                2 => ("rule", self.slot(|g| g.builtin(Kind::Rule))),
                3 => (
                    "let",
                    self.slot(|g| {
                        format!(
                            "{{ sgdm: {}, adam: {}, _: {} }}",
                            g.pick(&["0.01", "0.1"]),
                            g.pick(&["0.001", "1e-3"]),
                            g.pick(&["0.002", "0.02"])
                        )
                    }),
                ),
                _ => ("schedule", self.slot(|g| g.builtin(Kind::Schedule))),
            };
            out.push_str(&format!("{kind} {name} = {value}\n"));
            self.defs.push((kind.to_string(), name));
        }
        let defs = self.defs.clone();
        let def_of = |kind: &str| -> Vec<String> {
            defs.iter()
                .filter(|(k, _)| k == kind)
                .map(|(_, n)| n.clone())
                .collect()
        };
        // train blocks
        let n_train = if self.p(0.8) { 1 } else { 2 };
        let mut epochs_max = 1;
        for t in 0..n_train {
            let mut e: Vec<String> = Vec::new();
            let tasks = def_of("task");
            e.push(self.entry("task", true, |g| {
                if !tasks.is_empty() && g.p(0.3) {
                    tasks[g.rng.random_range(0..tasks.len())].clone()
                } else {
                    g.small_task()
                }
            }));
            let archs = def_of("arch");
            e.push(
                self.entry("arch", true, |g| match g.rng.random_range(0..5) {
                    0 => "knet4(width = 0.25)".into(),
                    4 if !archs.is_empty() => archs[g.rng.random_range(0..archs.len())].clone(),
                    1 => "mlp(hidden = [16])".into(),
                    2 if paper => "paper.knet4(width = 0.25, init = he)".into(),
                    _ => g.builtin(Kind::Arch),
                }),
            );
            let rule = if self.p(0.5) && paper {
                "rule in paper.rules".to_string()
            } else {
                self.entry("rule", true, |g| {
                    if g.p(0.5) {
                        g.pick(&registry::names_of(Kind::Rule)).to_string()
                    } else {
                        g.builtin(Kind::Rule)
                    }
                })
            };
            e.push(rule);
            e.push(self.entry("batch", true, |g| {
                g.pick(&["1", "8", "16", "32", "64"]).to_string()
            }));
            if self.p(0.5) {
                e.push(self.entry("lr", true, |g| {
                    g.pick(&["0.01", "0.001", "1e-3", "0.1"]).to_string()
                }));
            } else {
                let table = if paper && self.p(0.5) {
                    "paper.lr_cifar"
                } else {
                    "{ sgdm: 0.01, adam: 0.001, fa: 0.001, ia: 0.002, _: 0.005 }"
                };
                let lr = self.slot(|g| {
                    format!(
                        "{table}[rule]{}",
                        g.pick(&["", " * batch / 32", " / 2", " + 0.001"])
                    )
                });
                e.push(format!("lr = {lr}"));
            }
            let epochs = self.rng.random_range(1..6);
            epochs_max = epochs_max.max(epochs);
            e.push(self.entry("epochs", false, |g| {
                if g.p(0.5) {
                    format!("{epochs} epochs")
                } else {
                    epochs.to_string()
                }
            }));
            if self.p(0.5) {
                e.push(self.entry("checkpoint", false, |g| {
                    if g.p(0.5) {
                        format!("every({} epoch)", g.rng.random_range(1..=epochs))
                    } else {
                        let mut c: Vec<String> = vec!["0".into()];
                        c.push(epochs.to_string());
                        format!("[{}]", c.join(", "))
                    }
                }));
            }
            if self.p(0.4) {
                let v = if self.p(0.5) {
                    format!("model_seed in seeds({})", self.rng.random_range(1..4))
                } else {
                    self.entry("model_seed", true, |g| g.rng.random_range(0..9).to_string())
                };
                e.push(v);
            }
            if self.p(0.3) {
                e.push("(data_seed, weight_decay) in zip([0, 1], [0, 1e-4])".into());
            } else if self.p(0.3) {
                e.push(self.entry("weight_decay", true, |g| {
                    if paper && g.p(0.5) {
                        "paper.wd_cifar[rule]".into()
                    } else {
                        g.pick(&["0", "1e-4", "1e-5"]).to_string()
                    }
                }));
            }
            if self.p(0.3) {
                e.push(self.entry("schedule", false, |g| g.builtin(Kind::Schedule)));
            }
            if self.p(0.2) {
                e.push(self.entry("budget", false, |g| {
                    format!("{} {}", g.number(), g.pick(&["cpu_hours", "gpu_hours"]))
                }));
            }
            if self.p(0.3) {
                let c = self.condition(2);
                e.push(format!("where {c}"));
            }
            // Random order of entries (the checker must not depend on it), except that `lr`
            // comes last: a setting may only use settings written before it.
            for i in (1..e.len()).rev() {
                let j = self.rng.random_range(0..=i);
                e.swap(i, j);
            }
            if let Some(i) = e.iter().position(|x| x.starts_with("lr ")) {
                let lr = e.remove(i);
                e.push(lr);
            }
            let name = if n_train > 1 {
                format!(" t{t}")
            } else {
                String::new()
            };
            out.push_str(&format!("train{name} {{\n  {}\n}}\n", e.join("\n  ")));
        }
        // observe
        if self.p(0.7) {
            let head = if paper && self.p(0.4) {
                self.pick(&[" paper.candidates", " paper.admissible"])
            } else {
                ""
            };
            let mut e = vec![self.entry("stimuli", false, |g| {
                format!("val({})", g.rng.random_range(1..40))
            })];
            if self.p(0.3) {
                e.push(self.entry("precision", false, |g| {
                    g.pick(&["float32", "float64"]).to_string()
                }));
            }
            if self.p(0.3) {
                let m = self.pick(&["weight", "act", "gradavg", "activation"]);
                let f = self.small_list(|g| g.pick(&["raw", "abs", "sq"]).to_string());
                let s = if m == "gradavg" {
                    "[id]".to_string()
                } else {
                    self.small_list(|g| g.pick(&["mean", "norm", "var", "skew"]).to_string())
                };
                e.push(format!("{m} {{ functions = {f}, statistics = {s} }}"));
            }
            out.push_str(&format!("observe{head} {{ {} }}\n", e.join("\n  ")));
        }
        // realism
        let realism = self.p(0.3);
        if realism {
            let noise = self.slot(|g| g.builtin(Kind::Noise));
            let units = self.slot(|g| g.pick(&["[10%, 100%]", "[0.5, 1]", "[1%]"]).to_string());
            out.push_str(&format!(
                "realism {{\n  noise = {noise}\n  units in {units}\n"
            ));
            if self.p(0.3) {
                let s = self.slot(|g| g.pick(&["2", "{ _: 2 }", "{ 10%: 3, _: 1 }"]).to_string());
                out.push_str(&format!("  seeds = {s}\n"));
            }
            if self.p(0.3) {
                let c = self.condition(1);
                out.push_str(&format!("  where {c}\n"));
            }
            out.push_str("}\n");
        }
        // classify
        if self.p(0.7) {
            let mut e = vec![self.entry("targets", false, |g| {
                g.pick(&["[rule]", "[rule, pairs(rule)]", "[arch]", "rule"])
                    .to_string()
            })];
            if self.p(0.6) {
                e.push(self.entry("measures", true, |g| {
                    g.pick(&["weight", "act", "gradavg", "all"]).to_string()
                }));
            }
            if self.p(0.7) {
                let m = self.slot(|g| g.small_list(|g| g.builtin(Kind::Classifier)));
                e.push(format!("models = {m}"));
            }
            if self.p(0.5) {
                e.push(self.entry("splits", false, |g| g.builtin(Kind::Split)));
            }
            if self.p(0.5) {
                e.push(self.entry("cv", false, |g| g.builtin(Kind::Cv)));
            }
            if self.p(0.3) {
                e.push(self.entry("holdout", true, |g| {
                    g.pick(&[
                        "arch",
                        "batch",
                        "curriculum(batch, data_seed)",
                        "model_seed",
                    ])
                    .to_string()
                }));
            }
            if self.p(0.3) {
                let p = self.small_list(|g| g.rng.random_range(1..4).to_string());
                let s = self.small_list(|g| g.rng.random_range(1..5).to_string());
                e.push(format!("trajectory {{ period in {p}, samples in {s} }}"));
            }
            if self.p(0.2) {
                e.push(self.entry("portions", true, |g| {
                    g.pick(&["thirds", "sevenths"]).to_string()
                }));
            }
            for k in ["average", "zscore"] {
                if self.p(0.2) {
                    e.push(self.entry(k, false, |g| g.pick(&["true", "false"]).to_string()));
                }
            }
            if self.p(0.2) {
                e.push(format!(
                    "realism = {}",
                    if realism { "true" } else { "false" }
                ));
            }
            out.push_str(&format!("classify {{\n  {}\n}}\n", e.join("\n  ")));
        }
        if self.p(0.4) {
            let f = self.slot(|g| {
                g.pick(&["[html]", "[markdown]", "[html, markdown]"])
                    .to_string()
            });
            out.push_str(&format!("report {{ format = {f}, title = \"t\" }}\n"));
        }
        out
    }

    /// Any sequence of items of random kinds.
    pub fn free(&mut self) -> String {
        let mut out = String::new();
        for _ in 0..self.rng.random_range(0..7) {
            match self.rng.random_range(0..6) {
                0 => {
                    if self.p(0.5) {
                        out.push_str("import paper");
                    } else {
                        let a = self.ident();
                        out.push_str(&format!("import {} as {a}", self.string()));
                    }
                }
                1 | 2 => {
                    let k = if self.p(0.7) {
                        self.pick(DEF_KINDS).to_string()
                    } else {
                        self.ident()
                    };
                    let n = self.ident();
                    self.defs.push((k.clone(), n.clone()));
                    let d = self.rng.random_range(0..4);
                    out.push_str(&format!("{k} {n} = {}", self.expr(d)));
                }
                _ => {
                    let b = self.block(2);
                    out.push_str(&b);
                }
            }
            let w = self.ws();
            out.push_str(w);
            out.push('\n');
        }
        out
    }

    fn block(&mut self, d: u32) -> String {
        let kind = if self.p(0.7) {
            self.pick(BLOCK_KINDS).to_string()
        } else {
            self.ident()
        };
        let head = if self.p(0.3) {
            format!(" {}", self.path())
        } else {
            String::new()
        };
        let mut entries = Vec::new();
        for _ in 0..self.rng.random_range(0..6) {
            let e = match self.rng.random_range(0..8) {
                0 if d > 0 => self.block(d - 1),
                1 => format!("where {}", self.expr(2)),
                2 => {
                    let k = self.pick(&KEYS);
                    format!("{k} in {}", self.expr(2))
                }
                3 => format!("({}, {}) in {}", self.ident(), self.ident(), self.expr(2)),
                _ => {
                    let k = if self.p(0.8) {
                        self.pick(&KEYS).to_string()
                    } else {
                        self.ident()
                    };
                    format!("{k} = {}", self.expr(3))
                }
            };
            entries.push(e);
        }
        let seps: Vec<String> = (0..entries.len())
            .map(|_| match self.rng.random_range(0..3) {
                0 => ", ".to_string(),
                1 => "\n".to_string(),
                _ => self.ws().to_string(),
            })
            .collect();
        let body: String = entries
            .iter()
            .zip(seps)
            .map(|(e, s)| format!("{e}{s}"))
            .collect();
        format!("{kind}{head} {{ {body} }}")
    }
}

/// Runs `n` generated specs from seed `seed0` through the oracles; returns the summary line.
fn run(name: &str, seed0: u64, base: u64, make: fn(&mut Gen) -> String) -> (String, u64) {
    let t0 = std::time::Instant::now();
    let n = if oracle::only_one() {
        1
    } else {
        oracle::cases(base)
    };
    let first = oracle::first_seed(seed0);
    let mut failures = Failures::default();
    let (mut accepted, mut runs) = (0u64, 0usize);
    let mut codes: std::collections::BTreeMap<&'static str, u64> = Default::default();
    let class_of = |t: &str| oracle::check(t).err().map(|f| f.class);
    for i in 0..n {
        let seed = first.wrapping_add(i);
        let mut g = Gen::new(seed);
        let text = make(&mut g);
        let r = oracle::check(&text);
        if std::env::var("LRX_FUZZ_PRINT").is_ok() {
            let first = match &r {
                Ok(o) => o.errors.first().map_or("accepted".to_string(), |e| {
                    format!("{}: {}", e.code, e.message)
                }),
                Err(f) => f.class.clone(),
            };
            println!("--- seed {seed}: {first}\n{text}");
        }
        match r {
            Ok(o) => {
                if o.accepted {
                    accepted += 1;
                    runs += o.runs;
                }
                if let Some(e) = o.errors.first() {
                    *codes.entry(e.code).or_default() += 1;
                }
            }
            Err(f) => failures.add(seed, &text, f, &class_of),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let summary = format!(
        "{name}: {n} specs generated and checked (seeds {first}..{}), {accepted} accepted and planned ({runs} runs), {} refused with located errors, {} failure classes, {secs:.1} s",
        first.wrapping_add(n),
        n - accepted - failures.by_class.values().map(|v| v.3 as u64).sum::<u64>(),
        failures.by_class.len()
    );
    oracle::summary(&summary);
    if std::env::var("LRX_FUZZ_VERBOSE").is_ok() {
        println!("first error codes of refused specs: {codes:?}");
    }
    assert!(failures.is_empty(), "{summary}\n{}", failures.report());
    (summary, accepted)
}

#[test]
fn fuzz_grammar_structured() {
    let (s, accepted) = run("fuzz_grammar_structured", 0x5eed_0000, 300, Gen::structured);
    // The generator must produce accepted specs, or the "accepted specs plan" oracle is idle.
    assert!(accepted > 0, "no generated spec was accepted: {s}");
}

#[test]
fn fuzz_grammar_free() {
    run("fuzz_grammar_free", 0xf4ee_0000, 1200, Gen::free);
}

/// The CLI maps the outcomes to exit 0 (accepted) and 1 (refused), in both message formats.
#[test]
fn fuzz_cli_exit_classes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut zero, mut one) = (0, 0);
    for i in 0..oracle::cases(40) {
        let mut g = Gen::new(0xc11 + i);
        let text = if i % 2 == 0 { g.structured() } else { g.free() };
        let expected = match oracle::check(&text) {
            Ok(o) => i32::from(!o.accepted),
            Err(f) => panic!("oracle failure {} on:\n{text}", f.class),
        };
        let p = dir.path().join(format!("f{i}.lrx"));
        std::fs::write(&p, &text).unwrap();
        let p = p.display().to_string();
        for args in [
            vec!["check", p.as_str()],
            vec!["--message-format", "json", "check", p.as_str()],
        ] {
            let (code, _, err) = lrx::cli::run_captured(&args);
            assert_eq!(
                code,
                expected,
                "`lrx {}`: {err}\non:\n{text}",
                args.join(" ")
            );
        }
        if expected == 0 { zero += 1 } else { one += 1 }
    }
    oracle::summary(&format!(
        "fuzz_cli_exit_classes: {} specs through `lrx check` (human and JSON): {zero} exit 0, {one} exit 1",
        zero + one
    ));
    assert!(zero > 0 && one > 0);
}
