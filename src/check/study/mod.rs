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
mod recordings;
mod report;
mod settings;
mod sweep;

pub use keys::{BLOCKS, block_keys, keys_of_block};
pub use observe::all_candidates;
pub use point::MAX_EPOCHS;
pub use recordings::RECORDINGS_BLOCKS;
pub use sweep::{DEFAULT_MAX_RUNS, RunLimits};

use super::eval::Eval;
use crate::diag::{Diag, codes, suggest};
use crate::ir;
use crate::registry::Kind;
use crate::source::Span;
use crate::syntax::ast::Block;
use factors::FactorObjects;
use std::collections::BTreeMap;

impl Eval<'_> {
    /// Checks the main module's blocks and builds the study.
    pub(crate) fn study(&mut self, module: usize) -> Option<ir::Study> {
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
        let by_kind = self.blocks_by_kind(&blocks);
        let first = |kind: &str| by_kind.get(kind).and_then(|v| v.first()).copied();
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
        let head = self.study_head(first("study"), module, file_start, &mut limits);

        // train
        let sweeps = self.train(
            by_kind.get("train").map(Vec::as_slice),
            module,
            file_start,
            &mut limits,
        );
        let points: Vec<&ir::Point> = sweeps.iter().flat_map(|s| s.points.iter()).collect();
        let objects = FactorObjects::of(&points);
        self.check_data_paths(&objects);

        // observe
        let observe = self.observe(first("observe"), module, &objects);

        // realism
        let realism = first("realism").and_then(|b| self.realism(b, module, &points, &objects));

        // classify
        let classify = first("classify").and_then(|b| {
            self.classify(
                b,
                module,
                &points,
                observe.as_ref(),
                realism.is_some(),
                head.seed,
            )
        });

        // report
        let report = self.report(first("report"), module, &head.name);

        let observe = observe?;
        Some(ir::Study {
            name: head.name,
            description: head.description,
            output: head.output,
            seed: head.seed,
            device: head.device,
            cpu_gflops: head.cpu_gflops,
            gpu_gflops: head.gpu_gflops,
            sweeps,
            observe,
            realism,
            classify,
            report,
            spec_hash: String::new(),
        })
    }

    /// The blocks of the main file by kind; an unknown kind, and a second block of a kind
    /// other than `train`, is reported.
    fn blocks_by_kind<'b>(&mut self, blocks: &'b [Block]) -> BTreeMap<String, Vec<&'b Block>> {
        let mut by_kind: BTreeMap<String, Vec<&Block>> = BTreeMap::new();
        for b in blocks {
            if !BLOCKS.contains(&b.kind.node.as_str()) {
                let mut kws: Vec<&str> = BLOCKS.to_vec();
                kws.extend(Kind::ALL.iter().map(|k| k.keyword()));
                self.err(
                    Diag::error(
                        codes::UNKNOWN_KIND,
                        format!("unknown block `{}`", b.kind.node),
                    )
                    .at(b.kind.span, "not a block kind")
                    .help(if RECORDINGS_BLOCKS.contains(&b.kind.node.as_str()) {
                        "`recording` blocks make a recordings spec of their own (docs/reference/recordings.md): \
                         move them to a file without study blocks, and read it with `lrx import FILE --out DIR`"
                            .to_string()
                    } else {
                        suggest(&b.kind.node, &kws)
                    }),
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
        by_kind
    }
}
