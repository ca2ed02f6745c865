//! The provenance section: versions, devices, wall times, run outcomes.

use super::*;

/// Provenance: versions, devices, wall times, run outcomes, dropped statistics.
pub(crate) fn provenance(inp: &StudyInputs) -> Section {
    let mut s = Section {
        id: "provenance".into(),
        title: "Provenance and run outcomes".into(),
        reads: "`study.json`, `manifest.json`, `runs.parquet`, `runs/<run_id>/status.json`, \
                `results/evaluations.json`"
            .into(),
        blocks: vec![],
    };
    let rows = run_rows(inp);
    let mut kv: Vec<Vec<String>> = Vec::new();
    study_facts(inp, &mut kv);
    version_facts(inp, &mut kv);
    run_facts(inp, &rows, &mut kv);
    s.blocks.push(Block::Table(Table {
        header: vec!["".into(), "".into()],
        rows: kv,
    }));
    if inp.runs.is_none() && inp.statuses.is_empty() {
        s.blocks.push(Block::Note(
            "No run outcomes: neither `runs.parquet` nor any `runs/<run_id>/status.json` exists."
                .into(),
        ));
    }
    if !inp.runs_without_status.is_empty() {
        s.blocks.push(Block::Note(format!(
            "{} run directories have no `status.json` (in progress or interrupted).",
            inp.runs_without_status.len()
        )));
    }
    outcomes_per_rule(&rows, &mut s.blocks);
    diverged_runs(&rows, &mut s.blocks);
    failed_runs(&rows, &mut s.blocks);
    run_wall_times(&rows, &mut s.blocks);
    dropped_and_notes(inp, &mut s.blocks);
    s
}

/// `k, v` as a row of the two-column facts table.
fn add(kv: &mut Vec<Vec<String>>, k: &str, v: String) {
    kv.push(vec![k.to_string(), v]);
}

/// `–` for an empty set, else its items joined by `, `.
fn joined_or_dash(v: impl IntoIterator<Item = String>) -> String {
    let v: Vec<String> = v.into_iter().collect();
    if v.is_empty() {
        "–".into()
    } else {
        v.join(", ")
    }
}

/// The study's name, description, spec hashes and spec file.
fn study_facts(inp: &StudyInputs, kv: &mut Vec<Vec<String>>) {
    add(
        kv,
        "study",
        inp.study_name()
            .map(|n| format!("`{n}`"))
            .unwrap_or("–".into()),
    );
    if let Some(d) = inp.study_str("description").filter(|d| !d.is_empty()) {
        add(kv, "description", d.to_string());
    }
    let hashes: BTreeSet<String> = [
        inp.study_str("spec_hash").map(str::to_string),
        inp.manifest.as_ref().map(|m| m.spec_hash.clone()),
        inp.evaluations.as_ref().map(|e| e.spec_hash.clone()),
    ]
    .into_iter()
    .flatten()
    .filter(|h| !h.is_empty())
    .collect();
    add(
        kv,
        "spec hash",
        joined_or_dash(hashes.iter().map(|h| format!("`{h}`"))),
    );
    if let Some(m) = inp.manifest.as_ref().filter(|m| !m.spec_path.is_empty()) {
        add(kv, "spec file", format!("`{}`", m.spec_path));
    }
}

/// The lrx and libtorch versions of the runs, the report's lrx and the devices.
fn version_facts(inp: &StudyInputs, kv: &mut Vec<Vec<String>>) {
    let mut lrx: BTreeSet<String> = inp
        .statuses
        .iter()
        .filter_map(|s| s.lrx_version.clone())
        .filter(|v| !v.is_empty())
        .collect();
    if let Some(m) = inp.manifest.as_ref().filter(|m| !m.lrx_version.is_empty()) {
        lrx.insert(m.lrx_version.clone());
    }
    add(kv, "lrx version (runs)", joined_or_dash(lrx));
    add(
        kv,
        "report written by",
        format!("lrx {}", env!("CARGO_PKG_VERSION")),
    );
    let mut torch: BTreeSet<String> = inp
        .statuses
        .iter()
        .filter_map(|s| s.libtorch_version.clone())
        .filter(|v| !v.is_empty())
        .collect();
    if let Some(m) = inp
        .manifest
        .as_ref()
        .filter(|m| !m.libtorch_version.is_empty())
    {
        torch.insert(m.libtorch_version.clone());
    }
    add(kv, "libtorch version", joined_or_dash(torch));
    let devices = inp
        .statuses
        .iter()
        .filter_map(|s| s.device.clone().filter(|d| !d.is_empty()));
    add(kv, "devices", with_run_counts(devices));
    // CPU results are reproducible at the same thread count (docs/run.md, `threads`).
    let threads = inp.statuses.iter().filter_map(|s| s.threads);
    add(kv, "libtorch CPU threads per run", with_run_counts(threads));
}

/// Each distinct value with the number of runs that have it (`cpu (8 runs)`), or `–`.
fn with_run_counts<T: Ord + std::fmt::Display>(values: impl IntoIterator<Item = T>) -> String {
    let mut counts: BTreeMap<T, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    joined_or_dash(counts.iter().map(|(v, n)| format!("{v} ({n} runs)")))
}

/// Planned runs, runs by status, runs not recorded and wall times.
fn run_facts(inp: &StudyInputs, rows: &[RunRow], kv: &mut Vec<Vec<String>>) {
    let planned = inp.manifest.as_ref().map(|m| m.run_ids());
    if let Some(p) = &planned {
        add(kv, "planned runs", p.len().to_string());
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in rows {
        *counts
            .entry(if r.status.is_empty() {
                "unknown".into()
            } else {
                r.status.clone()
            })
            .or_default() += 1;
    }
    add(
        kv,
        "runs by status",
        if counts.is_empty() {
            "no runs recorded".into()
        } else {
            counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    if let Some(p) = &planned {
        let known: BTreeSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let not_started = p.iter().filter(|id| !known.contains(id.as_str())).count();
        if not_started > 0 {
            add(kv, "planned but not recorded", not_started.to_string());
        }
    }
    let times: Vec<f64> = inp
        .statuses
        .iter()
        .filter_map(|s| s.seconds)
        .filter(|t| t.is_finite())
        .collect();
    if !times.is_empty() {
        let total: f64 = times.iter().sum();
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        add(
            kv,
            "wall time",
            format!(
                "total {} over {} runs; per run mean {}, median {}, min {}, max {}",
                secs(total),
                times.len(),
                secs(total / times.len() as f64),
                secs(sorted[sorted.len() / 2]),
                secs(sorted[0]),
                secs(sorted[sorted.len() - 1])
            ),
        );
    }
}

/// Outcomes and wall times per rule.
fn outcomes_per_rule(rows: &[RunRow], blocks: &mut Vec<Block>) {
    if rows.is_empty() {
        return;
    }
    let mut per: BTreeMap<String, (usize, usize, usize, usize, Vec<f64>)> = BTreeMap::new();
    for r in rows {
        let e = per.entry(r.rule.clone()).or_default();
        match r.status.as_str() {
            "done" => e.0 += 1,
            "diverged" => e.1 += 1,
            "failed" => e.2 += 1,
            _ => e.3 += 1,
        }
        if let Some(t) = r.st.and_then(|s| s.seconds).filter(|t| t.is_finite()) {
            e.4.push(t);
        }
    }
    blocks.push(Block::Para("Runs and wall time per learning rule:".into()));
    blocks.push(Block::Table(Table {
        header: vec![
            "rule".into(),
            "done".into(),
            "diverged".into(),
            "failed".into(),
            "other".into(),
            "total wall time".into(),
            "mean per run".into(),
            "max per run".into(),
        ],
        rows: per
            .iter()
            .map(|(rule, (d, v, f, o, t))| {
                let total: f64 = t.iter().sum();
                vec![
                    rule.clone(),
                    d.to_string(),
                    v.to_string(),
                    f.to_string(),
                    o.to_string(),
                    if t.is_empty() {
                        "–".into()
                    } else {
                        secs(total)
                    },
                    if t.is_empty() {
                        "–".into()
                    } else {
                        secs(total / t.len() as f64)
                    },
                    t.iter()
                        .copied()
                        .reduce(f64::max)
                        .map(secs)
                        .unwrap_or("–".into()),
                ]
            })
            .collect(),
    }));
}

/// The diverged runs and their epoch.
fn diverged_runs(rows: &[RunRow], blocks: &mut Vec<Block>) {
    let diverged: Vec<&RunRow> = rows.iter().filter(|r| r.status == "diverged").collect();
    if diverged.is_empty() {
        return;
    }
    blocks.push(Block::Para(format!(
        "{} diverged run{} (the loss became non-finite; excluded from the training curves):",
        diverged.len(),
        if diverged.len() == 1 { "" } else { "s" }
    )));
    blocks.push(Block::Table(Table {
        header: vec!["run".into(), "rule".into(), "diverged at epoch".into()],
        rows: diverged
            .iter()
            .map(|r| {
                vec![
                    format!("`{}`", r.id),
                    r.rule.clone(),
                    r.st.and_then(|s| s.diverged_epoch)
                        .map(|e| e.to_string())
                        .unwrap_or("–".into()),
                ]
            })
            .collect(),
    }));
}

/// The failed runs and their errors.
fn failed_runs(rows: &[RunRow], blocks: &mut Vec<Block>) {
    let failed: Vec<&RunRow> = rows.iter().filter(|r| r.status == "failed").collect();
    if failed.is_empty() {
        return;
    }
    blocks.push(Block::Para(format!(
        "{} failed run{}:",
        failed.len(),
        if failed.len() == 1 { "" } else { "s" }
    )));
    blocks.push(Block::Table(Table {
        header: vec!["run".into(), "rule".into(), "error".into()],
        rows: failed
            .iter()
            .map(|r| {
                vec![
                    format!("`{}`", r.id),
                    r.rule.clone(),
                    r.st.and_then(|s| s.error.clone()).unwrap_or("–".into()),
                ]
            })
            .collect(),
    }));
}

/// Per-run wall times (the first [`MAX_ROWS`] runs with a status).
fn run_wall_times(rows: &[RunRow], blocks: &mut Vec<Block>) {
    let timed: Vec<&RunRow> = rows.iter().filter(|r| r.st.is_some()).collect();
    if timed.is_empty() {
        return;
    }
    blocks.push(Block::Para(if timed.len() > MAX_ROWS {
        format!(
            "Per-run wall time (first {MAX_ROWS} of {} runs by id; every run's \
             `status.json` has its own):",
            timed.len()
        )
    } else {
        "Per-run wall time:".into()
    }));
    blocks.push(Block::Table(Table {
        header: vec![
            "run".into(),
            "rule".into(),
            "status".into(),
            "device".into(),
            "epochs".into(),
            "wall time".into(),
        ],
        rows: timed
            .iter()
            .take(MAX_ROWS)
            .map(|r| {
                let st = r.st.expect("filtered");
                vec![
                    format!("`{}`", r.id),
                    r.rule.clone(),
                    r.status.clone(),
                    st.device.clone().unwrap_or("–".into()),
                    st.history
                        .last()
                        .map(|e| e.epoch.to_string())
                        .unwrap_or("–".into()),
                    st.seconds.map(secs).unwrap_or("–".into()),
                ]
            })
            .collect(),
    }));
}

/// Dropped statistics and the classifier stage's notes.
fn dropped_and_notes(inp: &StudyInputs, blocks: &mut Vec<Block>) {
    let Some(ev) = &inp.evaluations else {
        blocks.push(Block::Note(
            "Dropped statistics unknown: `results/evaluations.json` is missing.".into(),
        ));
        return;
    };
    let mut dropped: BTreeSet<String> = ev.dropped_stats.iter().cloned().collect();
    for f in inp.eval_files.values() {
        dropped.extend(f.dropped_stats.iter().cloned());
    }
    blocks.push(Block::Para(if dropped.is_empty() {
        "Dropped statistics: none (every statistic was finite for every example).".into()
    } else {
        format!(
            "Dropped statistics ({}; non-finite for some example, removed by the \
             classifier's drop rule): {}.",
            dropped.len(),
            dropped
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }));
    if !ev.notes.is_empty() {
        blocks.push(Block::Para("Notes of the classifier stage:".into()));
        blocks.push(Block::List(ev.notes.clone()));
    }
}
