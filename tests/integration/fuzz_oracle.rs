//! The oracles shared by the generator-based fuzzers (`fuzz_grammar`, `fuzz_schema`), a
//! line-deleting shrinker for their failures, and the run-count knobs.
//!
//! For any text, the front end must:
//! - not panic (check, plan, and rendering the diagnostics as text and as JSON);
//! - give every error a primary span, and every span (primary and related) must lie inside its
//!   file on character boundaries (a span outside the text is what makes a renderer panic);
//! - when it accepts the spec, plan it: `lrx::plan::plan` succeeds, or refuses only with a
//!   located over-budget error (the one refusal the plan stage documents; a new plan-stage
//!   code must be added to `PLAN_REFUSALS`).
//!
//! `lrx check` exits 0 when these hold and the spec is accepted, 1 when it is refused; that the
//! CLI maps the outcomes to exactly those codes is checked on a sample of files
//! (`fuzz_grammar::cli_exit_classes`).

use lrx::diag::{Diag, codes};
use lrx::source::{SourceMap, Span};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Plan-stage refusals that are not a failure of "every accepted spec plans".
const PLAN_REFUSALS: &[&str] = &[codes::OVER_BUDGET];

/// What the front end made of a text that passed every oracle.
#[derive(Debug)]
pub struct Outcome {
    /// Checked and planned.
    pub accepted: bool,
    /// Errors of the check, or of the plan (over budget).
    pub errors: Vec<Diag>,
    /// Planned runs (0 when refused).
    pub runs: usize,
    /// Warnings (located, like errors, when they have a span).
    pub warnings: Vec<Diag>,
}

/// A broken oracle: `class` groups failures of the same kind (the shrinker keeps it fixed),
/// `detail` says what happened.
#[derive(Debug, Clone)]
pub struct Failure {
    pub class: String,
    pub detail: String,
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".into()
    }
}

fn span_ok(sources: &SourceMap, s: Span) -> Result<(), String> {
    let Some(f) = sources.try_get(s.source) else {
        return Err(format!("span in unknown source {:?}", s.source));
    };
    let t = f.text.as_str();
    if s.start > s.end || s.end > t.len() {
        return Err(format!(
            "span {}..{} outside `{}` ({} bytes)",
            s.start,
            s.end,
            f.name,
            t.len()
        ));
    }
    if !t.is_char_boundary(s.start) || !t.is_char_boundary(s.end) {
        return Err(format!(
            "span {}..{} not on character boundaries",
            s.start, s.end
        ));
    }
    Ok(())
}

/// Runs every oracle on `text` (checked as if it were `specs/fuzz.lrx`, so relative paths
/// resolve against `specs/`).
pub fn check(text: &str) -> Result<Outcome, Failure> {
    let fail = |class: String, detail: String| Err(Failure { class, detail });
    let mut sources = SourceMap::new();
    let id = sources.add(
        "<fuzz>",
        Some(crate::root().join("specs/fuzz.lrx")),
        text.to_string(),
    );
    let r = catch_unwind(AssertUnwindSafe(|| {
        match lrx::check::check_source(id, &mut sources) {
            Err(d) => (false, d.0, None),
            Ok(w) => {
                let mut diags = w.warnings;
                match lrx::plan::plan(&w.value) {
                    Ok(p) => (true, diags, Some(p.runs.len())),
                    Err(d) => {
                        diags.extend(d.0);
                        (true, diags, None)
                    }
                }
            }
        }
    }));
    let (checked, diags, planned) = match r {
        Ok(x) => x,
        Err(p) => {
            let m = panic_message(p);
            let first = m.lines().next().unwrap_or("").to_string();
            return fail(format!("panic in check/plan: {first}"), m);
        }
    };
    for d in &diags {
        if d.is_error() && d.span.is_none() {
            return fail(
                format!("error without a span [{}]", d.code),
                d.message.clone(),
            );
        }
        for s in d.span.iter().chain(d.related.iter().map(|(s, _)| s)) {
            if let Err(e) = span_ok(&sources, *s) {
                return fail(
                    format!("bad span [{}]", d.code),
                    format!("{e}: {}", d.message),
                );
            }
        }
    }
    let rendered = catch_unwind(AssertUnwindSafe(|| {
        let t = lrx::diag::render_text(&diags, &sources, false, 100);
        let j = lrx::diag::render_json(&diags, &sources);
        (t, j)
    }));
    if let Err(p) = rendered {
        let m = panic_message(p);
        return fail(format!("panic rendering diagnostics: {m}"), m);
    }
    let (errors, warnings): (Vec<Diag>, Vec<Diag>) = diags.into_iter().partition(Diag::is_error);
    if checked && planned.is_none() {
        if let Some(d) = errors.iter().find(|d| !PLAN_REFUSALS.contains(&d.code)) {
            return fail(
                format!("accepted but the plan failed [{}]", d.code),
                d.message.clone(),
            );
        }
    }
    Ok(Outcome {
        accepted: planned.is_some(),
        errors,
        runs: planned.unwrap_or(0),
        warnings,
    })
}

/// Shrinks a failing text by deleting lines (then single characters of short texts) while the
/// failure keeps its class; cheap because generated specs are a few dozen lines.
pub fn shrink(text: &str, still_fails: &dyn Fn(&str) -> bool) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut chunk = lines.len().div_ceil(2).max(1);
    while chunk >= 1 {
        let mut i = 0;
        let mut progress = false;
        while i < lines.len() {
            let mut cand = lines.clone();
            cand.drain(i..(i + chunk).min(lines.len()));
            if still_fails(&cand.join("\n")) {
                lines = cand;
                progress = true;
            } else {
                i += chunk;
            }
        }
        if !progress {
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
    }
    // Then whitespace-separated tokens, for a short repro.
    let mut toks: Vec<String> = lines.join("\n").split(' ').map(String::from).collect();
    let mut i = 0;
    while i < toks.len() && toks.len() < 400 {
        let mut cand = toks.clone();
        cand.remove(i);
        if still_fails(&cand.join(" ")) {
            toks = cand;
        } else {
            i += 1;
        }
    }
    toks.join(" ")
}

/// How many cases a fuzzer runs: `base` in CI (sized to a few seconds in a debug build),
/// times `LRX_FUZZ_SCALE` when set (e.g. `LRX_FUZZ_SCALE=100` for a long local run).
pub fn cases(base: u64) -> u64 {
    let scale = std::env::var("LRX_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1);
    base * scale.max(1)
}

/// The first case seed: `LRX_FUZZ_SEED` or a fixed default, so CI is deterministic and a
/// printed seed reproduces one case (`LRX_FUZZ_SEED=<seed> LRX_FUZZ_ONE=1`).
pub fn first_seed(default: u64) -> u64 {
    std::env::var("LRX_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Whether to run only the case `first_seed` (for reproducing a printed failure).
pub fn only_one() -> bool {
    std::env::var("LRX_FUZZ_ONE").is_ok_and(|v| v == "1")
}

/// Collects failures by class: the first (shrunk) repro of each class is kept.
#[derive(Default)]
pub struct Failures {
    pub by_class: std::collections::BTreeMap<String, (u64, String, String, usize)>,
}

impl Failures {
    /// Records a failure of the case `seed`; shrinks only the first of each class.
    pub fn add(
        &mut self,
        seed: u64,
        text: &str,
        f: Failure,
        oracle: &dyn Fn(&str) -> Option<String>,
    ) {
        if let Some(e) = self.by_class.get_mut(&f.class) {
            e.3 += 1;
            return;
        }
        let class = f.class.clone();
        let small = shrink(text, &|t| oracle(t).as_deref() == Some(class.as_str()));
        self.by_class.insert(
            f.class,
            (
                seed,
                small,
                format!("{}\n--- full spec ---\n{text}", f.detail),
                1,
            ),
        );
    }
    pub fn report(&self) -> String {
        let mut s = String::new();
        for (class, (seed, small, detail, n)) in &self.by_class {
            s.push_str(&format!(
                "\n=== {class} ({n} cases; first: seed {seed})\n--- shrunk repro ---\n{small}\n--- detail ---\n{detail}\n"
            ));
        }
        s
    }
    pub fn is_empty(&self) -> bool {
        self.by_class.is_empty()
    }
}

/// Prints a fuzzer's summary line where CI logs show it: straight to the process's stderr,
/// which the test harness does not capture (it captures `print!`/`eprint!` only).
pub fn summary(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
