//! Blocks of the main file → [`ir::Study`]: `study`, `train` (sweeps, expanded here), `observe`,
//! `realism`, `classify`, `report`. Every key is checked against the block's list of keys.
//! One file per block (`header` for `study`, `sweep`, `expand` and `point` for `train`,
//! `observe`, `realism`, `classify`, `report`), with the block vocabulary (`keys`), the
//! settings of simple blocks (`settings`), the factor-name machinery (`factors`) and the data
//! warnings (`data`). Built on the evaluator (`super::eval`), which never uses this module.

mod classify;
mod data;
mod expand;
mod factors;
mod header;
mod keys;
mod observe;
mod point;
mod realism;
mod settings;
mod sweep;

pub use keys::{BLOCKS, block_keys, keys_of_block};
pub use observe::all_candidates;
pub use point::MAX_EPOCHS;
pub use sweep::{DEFAULT_MAX_RUNS, RunLimits};

use super::eval::Eval;
use super::ir;
use crate::diag::{Diag, codes, suggest};
use crate::registry::{self, Kind, schema::Ty};
use crate::source::Span;
use crate::syntax::ast::Block;
use crate::value::Value;
use factors::FactorObjects;
use keys::{REPORT_KEYS, STUDY_KEYS};
use std::collections::BTreeMap;

impl Eval<'_> {
    /// Checks the main module's blocks and builds the study.
    pub fn study(&mut self, module: usize) -> Option<ir::Study> {
        // Check every definition of the study file, used or not.
        let names: Vec<(String, Span)> = self.modules[module]
            .defs
            .values()
            .map(|d| (d.name.node.clone(), d.name.span))
            .collect();
        for (n, span) in names {
            let _ = self.path(&[n], span, module, &Vec::new());
        }
        let blocks = std::mem::take(&mut self.modules[module].blocks);
        let mut by_kind: BTreeMap<String, Vec<&Block>> = BTreeMap::new();
        for b in &blocks {
            if !BLOCKS.contains(&b.kind.node.as_str()) {
                let mut kws: Vec<&str> = BLOCKS.to_vec();
                kws.extend(Kind::ALL.iter().map(|k| k.keyword()));
                self.err(
                    Diag::error(
                        codes::UNKNOWN_KIND,
                        format!("unknown block `{}`", b.kind.node),
                    )
                    .at(b.kind.span, "not a block kind")
                    .help(suggest(&b.kind.node, &kws)),
                );
                continue;
            }
            by_kind.entry(b.kind.node.clone()).or_default().push(b);
        }
        for (k, bs) in &by_kind {
            if k != "train" && bs.len() > 1 {
                self.err(
                    Diag::error(codes::DUPLICATE, format!("more than one `{k}` block"))
                        .at(bs[1].kind.span, "second block")
                        .related(bs[0].kind.span, "first block")
                        .help("merge them into one"),
                );
            }
        }
        let file_start = Span::new(
            self.modules[module]
                .source
                .unwrap_or(crate::source::SourceId(0)),
            0,
            0,
        );

        // study
        let mut limits = RunLimits {
            max_runs: DEFAULT_MAX_RUNS,
            used: 0,
        };
        let (name, output, seed, description, device, cpu_gflops, gpu_gflops) =
            match by_kind.get("study").and_then(|v| v.first()) {
                None => {
                    self.err(
                        Diag::error(codes::MISSING_BLOCK, "the spec has no `study` block")
                            .at(file_start, "missing `study`")
                            .help("add `study my_study { output = \"runs/my_study\" }`"),
                    );
                    (
                        "study".to_string(),
                        "runs/study".to_string(),
                        0,
                        String::new(),
                        "auto".to_string(),
                        20.0,
                        10_000.0,
                    )
                }
                Some(b) => {
                    let name = match &b.head {
                        Some(h) if h.node.len() == 1 => h.node[0].clone(),
                        _ => {
                            self.err(
                                Diag::error(codes::MISSING_KEY, "the study needs a name")
                                    .at(b.kind.span, "no name")
                                    .help("write `study my_study { ... }`"),
                            );
                            "study".into()
                        }
                    };
                    let s = self.settings(b, module, STUDY_KEYS, &[], false);
                    let output = self.str_or(&s, "output", &format!("runs/{name}"));
                    if let Some((v, _, _)) = s.values.get("output") {
                        self.check_output(&output, v.span);
                    }
                    if let Some(Value::Int(n)) = self.typed(
                        &s,
                        "max_runs",
                        Ty::Int {
                            min: 1,
                            max: i64::MAX,
                        },
                    ) {
                        limits.max_runs = n as u64;
                    }
                    let seed = self
                        .typed(&s, "seed", Ty::Seed)
                        .and_then(|v| v.as_u64())
                        .unwrap_or(0);
                    if let Some(Value::Int(n)) = self.typed(
                        &s,
                        "stdlib",
                        Ty::Int {
                            min: 1,
                            max: i64::MAX,
                        },
                    ) && let Some((v, _, _)) = s.values.get("stdlib")
                    {
                        self.stdlib_pin = Some((n, v.span));
                    }
                    let description = self.str_or(&s, "description", "");
                    let device = match self.scalar(&s, "device") {
                        None => "auto".to_string(),
                        Some(v) => self.device(&v).unwrap_or_else(|| "auto".into()),
                    };
                    let cpu = self
                        .typed(
                            &s,
                            "cpu_gflops",
                            Ty::Float {
                                min: 1e-3,
                                max: 1e9,
                            },
                        )
                        .and_then(|v| v.as_f64())
                        .unwrap_or(20.0);
                    let gpu = self
                        .typed(
                            &s,
                            "gpu_gflops",
                            Ty::Float {
                                min: 1e-3,
                                max: 1e9,
                            },
                        )
                        .and_then(|v| v.as_f64())
                        .unwrap_or(10_000.0);
                    (name, output, seed, description, device, cpu, gpu)
                }
            };

        // train
        let mut sweeps = Vec::new();
        match by_kind.get("train") {
            None => self.err(
                Diag::error(codes::MISSING_BLOCK, "the spec has no `train` block")
                    .at(file_start, "missing `train`")
                    .help("add `train { task = ..., arch = ..., rule in [...], lr = ..., batch = ..., epochs = ... }`"),
            ),
            Some(bs) => {
                let mut names: BTreeMap<String, Span> = BTreeMap::new();
                for (i, b) in bs.iter().enumerate() {
                    let sname = b.head.as_ref().map_or_else(|| if bs.len() == 1 { "train".to_string() } else { format!("train{}", i + 1) }, |h| h.node.join("."));
                    if let Some(f) = names.get(&sname) {
                        self.err(Diag::error(codes::DUPLICATE, format!("two `train` blocks named `{sname}`")).at(b.kind.span, "second").related(*f, "first"));
                    }
                    names.insert(sname.clone(), b.kind.span);
                    if let Some(sw) = self.sweep(b, module, sname, &mut limits) {
                        sweeps.push(sw);
                    }
                }
            }
        }
        let points: Vec<&ir::Point> = sweeps.iter().flat_map(|s| s.points.iter()).collect();
        let objects = FactorObjects::of(&points);
        self.check_data_paths(&objects);

        // observe
        let observe = self.observe(
            by_kind.get("observe").and_then(|v| v.first()).copied(),
            module,
            &objects,
        );

        // realism
        let realism = by_kind
            .get("realism")
            .and_then(|v| v.first())
            .and_then(|b| self.realism(b, module, &points, &objects));

        // classify
        let classify = by_kind
            .get("classify")
            .and_then(|v| v.first())
            .and_then(|b| {
                self.classify(
                    b,
                    module,
                    &points,
                    observe.as_ref(),
                    realism.is_some(),
                    seed,
                )
            });

        // report
        let report = match by_kind.get("report").and_then(|v| v.first()) {
            None => ir::Report {
                formats: vec!["html".into(), "markdown".into()],
                title: name.clone(),
            },
            Some(b) => {
                let s = self.settings(b, module, REPORT_KEYS, &[], false);
                let formats = match self.typed(&s, "format", Ty::EnumList(registry::REPORT_FORMATS))
                {
                    Some(Value::List(l)) => l
                        .iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect(),
                    _ => vec!["html".into(), "markdown".into()],
                };
                let title = self.str_or(&s, "title", &name);
                ir::Report { formats, title }
            }
        };

        let observe = observe?;
        Some(ir::Study {
            name,
            description,
            output,
            seed,
            device,
            cpu_gflops,
            gpu_gflops,
            sweeps,
            observe,
            realism,
            classify,
            report,
            spec_hash: String::new(),
        })
    }
}
