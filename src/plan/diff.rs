//! `lrx diff A.lrx B.lrx`: the plan-level difference between two studies (issue 24), for "our
//! variant of your study" and for the review of a spec change. Pure: two checked studies and
//! their plans in, a [`PlanDiff`] out; the CLI renders it as text or JSON.
//!
//! Runs are compared by id (an id is the hash of everything that determines a run's results,
//! so equal ids are the same run). Runs in one plan only are then explained in two ways:
//! - **changed**: a run of A and a run of B with the same factors (task, arch, rule, lr, batch,
//!   epochs, weight decay, seeds, as labels) but different ids; the identity fields that differ
//!   are named (e.g. `observe`, `checkpoints`, or `task` when a label now names another call);
//! - **only in A / only in B**: the rest, grouped by their values of the factors whose value
//!   sets differ between the two plans (e.g. `batch = 16` when B dropped batch 16).
//!
//! Evaluations are compared by id (the classifier stage's ids, which name target, measure,
//! classifier and split), and the summaries (examples, evaluations, fits, cost, disk) side by
//! side.

use super::{Plan, RunSpec};
use crate::ir::Study;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

// The run factors compared between two plans, in the order they are shown: the factors a
// filter, holdout or target may name.
use crate::ir::Factor;

/// The difference between two plans.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PlanDiff {
    pub a: Side,
    pub b: Side,
    /// Runs with the same id in both plans.
    pub shared_runs: usize,
    /// Factors whose sets of values differ: factor → (values only in A, values only in B).
    pub factors: BTreeMap<String, (Vec<String>, Vec<String>)>,
    /// Pairs of runs with equal factors but different ids, grouped by the identity fields
    /// that differ.
    pub changed: Vec<Changed>,
    /// Runs only in A (not paired), grouped by the differing factors.
    pub only_a: Vec<RunGroup>,
    /// Runs only in B (not paired), grouped by the differing factors.
    pub only_b: Vec<RunGroup>,
    /// Evaluation ids in both plans.
    pub shared_evaluations: usize,
    pub evaluations_only_a: Vec<String>,
    pub evaluations_only_b: Vec<String>,
}

/// One plan's side of a [`PlanDiff`].
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Side {
    pub study: String,
    pub spec_hash: String,
    pub plan_hash: String,
    pub runs: usize,
    pub examples: usize,
    pub evaluations: usize,
    pub classifier_fits: usize,
    pub cpu_hours: f64,
    pub gpu_hours: f64,
    pub disk_bytes: f64,
}

/// Runs of A and B that agree on every factor but not on their ids.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Changed {
    /// Identity fields (as in `lrx why`) that differ.
    pub fields: Vec<String>,
    /// Number of (A run, B run) pairs.
    pub runs: usize,
    /// One example pair (A id, B id).
    pub example: (String, String),
}

/// Runs of one side grouped by their values of the differing factors.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunGroup {
    /// (factor, value) for each differing factor; empty when the runs differ from the other
    /// plan's only in how existing values are combined.
    pub values: Vec<(String, String)>,
    pub runs: usize,
}

impl PlanDiff {
    /// True when the two plans train the same runs and make the same evaluations.
    pub(crate) fn is_empty(&self) -> bool {
        self.changed.is_empty()
            && self.only_a.is_empty()
            && self.only_b.is_empty()
            && self.evaluations_only_a.is_empty()
            && self.evaluations_only_b.is_empty()
    }
}

fn side(plan: &Plan) -> Side {
    let s = &plan.summary;
    Side {
        study: plan.study.clone(),
        spec_hash: plan.spec_hash.clone(),
        plan_hash: s.plan_hash.clone(),
        runs: s.training_runs,
        examples: s.examples,
        evaluations: s.classifier_evaluations,
        classifier_fits: s.classifier_fits,
        cpu_hours: s.cost.cpu_hours,
        gpu_hours: s.cost.gpu_hours,
        disk_bytes: s.disk_bytes,
    }
}

fn factors_of(r: &RunSpec) -> Vec<String> {
    Factor::ALL.iter().map(|&f| r.factor(f)).collect()
}

/// The identity fields of two runs' documents (`lrx why`) that differ, in document order.
fn differing_fields(a: &RunSpec, b: &RunSpec) -> Vec<String> {
    let (ja, jb) = (a.identity_json(), b.identity_json());
    let (Some(ma), Some(mb)) = (ja.as_object(), jb.as_object()) else {
        return vec![];
    };
    let keys: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
    keys.into_iter()
        .filter(|k| ma.get(*k) != mb.get(*k))
        .map(|k| k.to_string())
        .collect()
}

/// Evaluation ids of a plan's classifier stage (empty without a `classify` block).
fn evaluation_ids(study: &Study, plan: &Plan) -> BTreeSet<String> {
    let Some(c) = &study.classify else {
        return BTreeSet::new();
    };
    let Some(shape) = super::study_shape(study, &plan.runs, plan.summary.checkpoints_per_run.0)
    else {
        return BTreeSet::new();
    };
    crate::classify::stage::expand::evaluation_specs(c, &shape)
        .0
        .into_iter()
        .map(|s| s.id)
        .collect()
}

/// Groups `runs` by the factor values that only their side has (`exclusive`: factor → values
/// absent from the other plan), in [`Factor::ALL`] order: a run of A at `batch = 16` when B has no
/// batch 16 goes to the group `batch = 16`. Runs without such a value form the group with no
/// values (new combinations of values both plans have).
fn group(runs: &[&RunSpec], exclusive: &BTreeMap<Factor, BTreeSet<String>>) -> Vec<RunGroup> {
    let mut groups: BTreeMap<Vec<(String, String)>, usize> = BTreeMap::new();
    for r in runs {
        let key = Factor::ALL
            .iter()
            .filter_map(|&f| {
                let v = r.factor(f);
                exclusive
                    .get(&f)
                    .is_some_and(|e| e.contains(&v))
                    .then(|| (f.name().to_string(), v))
            })
            .collect();
        *groups.entry(key).or_default() += 1;
    }
    groups
        .into_iter()
        .map(|(values, runs)| RunGroup { values, runs })
        .collect()
}

/// The plan-level difference between study `a` (plan `pa`) and study `b` (plan `pb`).
pub(crate) fn diff(a: &Study, pa: &Plan, b: &Study, pb: &Plan) -> PlanDiff {
    let ids_b: BTreeSet<&str> = pb.runs.iter().map(|r| r.id.as_str()).collect();
    let ids_a: BTreeSet<&str> = pa.runs.iter().map(|r| r.id.as_str()).collect();
    let shared_runs = ids_a.intersection(&ids_b).count();
    let rest_a: Vec<&RunSpec> = pa
        .runs
        .iter()
        .filter(|r| !ids_b.contains(r.id.as_str()))
        .collect();
    let rest_b: Vec<&RunSpec> = pb
        .runs
        .iter()
        .filter(|r| !ids_a.contains(r.id.as_str()))
        .collect();

    // Pair the unshared runs by their factors (in order, so duplicates pair one to one).
    let mut by_factors_b: BTreeMap<Vec<String>, Vec<&RunSpec>> = BTreeMap::new();
    for r in &rest_b {
        by_factors_b.entry(factors_of(r)).or_default().push(r);
    }
    for v in by_factors_b.values_mut() {
        v.reverse();
    }
    let mut changed: BTreeMap<Vec<String>, (usize, (String, String))> = BTreeMap::new();
    let mut paired_b: BTreeSet<&str> = BTreeSet::new();
    let mut only_a: Vec<&RunSpec> = Vec::new();
    for r in &rest_a {
        match by_factors_b.get_mut(&factors_of(r)).and_then(|v| v.pop()) {
            Some(rb) => {
                paired_b.insert(rb.id.as_str());
                let e = changed
                    .entry(differing_fields(r, rb))
                    .or_insert((0, (r.id.clone(), rb.id.clone())));
                e.0 += 1;
            }
            None => only_a.push(r),
        }
    }
    let only_b: Vec<&RunSpec> = rest_b
        .iter()
        .copied()
        .filter(|r| !paired_b.contains(r.id.as_str()))
        .collect();

    // Factors whose value sets differ between the two plans, and the values only one side has.
    let mut factors = BTreeMap::new();
    let (mut excl_a, mut excl_b) = (BTreeMap::new(), BTreeMap::new());
    for &f in Factor::ALL {
        let va: BTreeSet<String> = pa.runs.iter().map(|r| r.factor(f)).collect();
        let vb: BTreeSet<String> = pb.runs.iter().map(|r| r.factor(f)).collect();
        if va != vb {
            let (oa, ob): (BTreeSet<String>, BTreeSet<String>) = (
                va.difference(&vb).cloned().collect(),
                vb.difference(&va).cloned().collect(),
            );
            factors.insert(
                f.name().to_string(),
                (oa.iter().cloned().collect(), ob.iter().cloned().collect()),
            );
            excl_a.insert(f, oa);
            excl_b.insert(f, ob);
        }
    }

    let (ea, eb) = (evaluation_ids(a, pa), evaluation_ids(b, pb));
    PlanDiff {
        a: side(pa),
        b: side(pb),
        shared_runs,
        factors,
        changed: changed
            .into_iter()
            .map(|(fields, (runs, example))| Changed {
                fields,
                runs,
                example,
            })
            .collect(),
        only_a: group(&only_a, &excl_a),
        only_b: group(&only_b, &excl_b),
        shared_evaluations: ea.intersection(&eb).count(),
        evaluations_only_a: ea.difference(&eb).cloned().collect(),
        evaluations_only_b: eb.difference(&ea).cloned().collect(),
    }
}

/// How many groups or ids the text form lists before "… and N more".
const SHOW: usize = 20;

fn list_more(t: &mut String, items: &[String], indent: &str) {
    for s in items.iter().take(SHOW) {
        t.push_str(&format!("{indent}{s}\n"));
    }
    if items.len() > SHOW {
        t.push_str(&format!("{indent}… and {} more\n", items.len() - SHOW));
    }
}

fn groups_text(gs: &[RunGroup]) -> Vec<String> {
    gs.iter()
        .map(|g| {
            let what = if g.values.is_empty() {
                "new combinations of values the other plan also has".to_string()
            } else {
                g.values
                    .iter()
                    .map(|(f, v)| format!("{f} = {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "{:>6} run{}  {what}",
                g.runs,
                if g.runs == 1 { " " } else { "s" }
            )
        })
        .collect()
}

fn delta(t: &mut String, what: &str, a: String, b: String, d: String) {
    t.push_str(&format!("  {what:<18}{a:>14} → {b:<14}{d}\n"));
}

/// The text form of `lrx diff`.
pub(crate) fn render_text(d: &PlanDiff) -> String {
    let mut t = String::new();
    t.push_str(&format!(
        "A: study `{}` (spec {}, plan {})\nB: study `{}` (spec {}, plan {})\n",
        d.a.study, d.a.spec_hash, d.a.plan_hash, d.b.study, d.b.spec_hash, d.b.plan_hash
    ));
    if d.a.plan_hash == d.b.plan_hash && d.is_empty() {
        t.push_str("same plan: the same runs and the same evaluations\n");
    }
    let only_a: usize = d.only_a.iter().map(|g| g.runs).sum();
    let only_b: usize = d.only_b.iter().map(|g| g.runs).sum();
    let changed: usize = d.changed.iter().map(|c| c.runs).sum();
    t.push_str(&format!(
        "\nruns: A {}, B {}: {} shared, {} changed, {} only in A, {} only in B\n",
        d.a.runs, d.b.runs, d.shared_runs, changed, only_a, only_b
    ));
    if !d.factors.is_empty() {
        t.push_str("\nfactors whose values differ (only in A → only in B):\n");
        for (f, (a, b)) in &d.factors {
            let show = |v: &Vec<String>| {
                if v.is_empty() {
                    "–".to_string()
                } else {
                    v.join(", ")
                }
            };
            t.push_str(&format!("  {f:<13} {} → {}\n", show(a), show(b)));
        }
    }
    if !d.changed.is_empty() {
        t.push_str("\nchanged (same factors, different run ids; `lrx why` shows each side):\n");
        for c in &d.changed {
            t.push_str(&format!(
                "{:>6} run{}  differ in {} (e.g. A {} ↔ B {})\n",
                c.runs,
                if c.runs == 1 { " " } else { "s" },
                c.fields.join(", "),
                c.example.0,
                c.example.1
            ));
        }
    }
    for (side, groups, n) in [("A", &d.only_a, only_a), ("B", &d.only_b, only_b)] {
        if !groups.is_empty() {
            only_in(&mut t, side, groups, n);
        }
    }
    t.push_str(&format!(
        "\nevaluations: A {}, B {}: {} shared, {} only in A, {} only in B\n",
        d.a.evaluations,
        d.b.evaluations,
        d.shared_evaluations,
        d.evaluations_only_a.len(),
        d.evaluations_only_b.len()
    ));
    if !d.evaluations_only_a.is_empty() {
        t.push_str("  only in A:\n");
        list_more(&mut t, &d.evaluations_only_a, "    ");
    }
    if !d.evaluations_only_b.is_empty() {
        t.push_str("  only in B:\n");
        list_more(&mut t, &d.evaluations_only_b, "    ");
    }
    size_and_cost(&mut t, d);
    t
}

/// The runs only in plan `side` (`n` of them), in `groups`: listed by group, or counted by
/// factor value when there are more than `SHOW` groups.
fn only_in(t: &mut String, side: &str, groups: &[RunGroup], n: usize) {
    t.push_str(&format!("\nonly in {side} ({n}):\n"));
    if groups.len() > SHOW {
        // Too many groups to list: how many runs carry each value the other plan lacks.
        let mut per_value: BTreeMap<(usize, &str), usize> = BTreeMap::new();
        for g in groups {
            for (f, v) in &g.values {
                let i = Factor::NAMES
                    .iter()
                    .position(|x| x == f)
                    .unwrap_or(Factor::ALL.len());
                *per_value.entry((i, v.as_str())).or_default() += g.runs;
            }
        }
        for ((i, v), runs) in per_value {
            let f = Factor::NAMES.get(i).copied().unwrap_or("?");
            t.push_str(&format!(
                "{runs:>6} run{}  {f} = {v}\n",
                if runs == 1 { " " } else { "s" }
            ));
        }
        t.push_str(&format!(
            "  ({} groups of runs by these values: `--format json` lists them)\n",
            groups.len()
        ));
    } else {
        list_more(t, &groups_text(groups), "");
    }
}

/// The table of sizes and costs of both plans with their differences.
fn size_and_cost(t: &mut String, d: &PlanDiff) {
    t.push_str("\nsize and cost (A → B):\n");
    let count = |a: usize, b: usize| {
        let d = b as i64 - a as i64;
        (a.to_string(), b.to_string(), format!("{d:+}"))
    };
    for (what, a, b) in [
        ("training runs", d.a.runs, d.b.runs),
        ("examples", d.a.examples, d.b.examples),
        ("evaluations", d.a.evaluations, d.b.evaluations),
        ("classifier fits", d.a.classifier_fits, d.b.classifier_fits),
    ] {
        let (x, y, z) = count(a, b);
        delta(t, what, x, y, z);
    }
    for (what, a, b, scale, digits) in [
        ("cpu_hours", d.a.cpu_hours, d.b.cpu_hours, 1.0, 2),
        ("gpu_hours", d.a.gpu_hours, d.b.gpu_hours, 1.0, 2),
        ("disk (MB)", d.a.disk_bytes, d.b.disk_bytes, 1e6, 1),
    ] {
        let ratio = if a > 0.0 {
            format!("×{:.2}", b / a)
        } else {
            String::new()
        };
        let (x, y) = (
            format!("{:.digits$}", a / scale),
            format!("{:.digits$}", b / scale),
        );
        delta(t, what, x, y, ratio);
    }
}
