//! Observables blocks: `observables name { weight { ... } ... }` and the measure blocks that
//! `observe` holds inline.

use super::Eval;
use crate::diag::{Diag, codes, suggest};
use crate::ir::Observable;
use crate::registry::{self, schema::Ty};
use crate::syntax::ast::{Block, Entry};
use crate::value::Value;

impl Eval<'_> {
    /// `observables name { weight { functions = [...], statistics = [...] } ... }` or the
    /// same entries inline in `observe`.
    pub(crate) fn observables_block(
        &mut self,
        b: &Block,
        module: usize,
    ) -> Option<Vec<Observable>> {
        let mut out = Vec::new();
        let mut ok = true;
        for e in &b.entries {
            match e {
                Entry::Nested(m) => match self.measure_block(m, module) {
                    Some(v) => out.extend(v),
                    None => ok = false,
                },
                other => {
                    self.err(
                        Diag::error(
                            codes::UNKNOWN_KEY,
                            "an `observables` block holds one block per measure",
                        )
                        .at(other.span(), "not a measure block")
                        .help(
                            "write `weight { functions = [raw, abs], statistics = [mean, norm] }`",
                        ),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    pub(crate) fn measure_block(&mut self, m: &Block, module: usize) -> Option<Vec<Observable>> {
        let Some(measure) = registry::measure(&m.kind.node) else {
            self.err(
                Diag::error(
                    codes::UNKNOWN_NAME,
                    format!("unknown measure `{}`", m.kind.node),
                )
                .at(m.kind.span, "not a measure")
                .help(suggest(
                    &m.kind.node,
                    &["weight", "act", "gradavg", "activation", "activity_change"],
                )),
            );
            return None;
        };
        let stats_allowed: &[&str] = if measure == "gradavg" {
            registry::GRADAVG_STATISTICS
        } else {
            registry::STATISTICS
        };
        let mut functions: Vec<String> =
            registry::FUNCTIONS.iter().map(|s| s.to_string()).collect();
        let mut statistics: Vec<String> = stats_allowed.iter().map(|s| s.to_string()).collect();
        let mut ok = true;
        for e in &m.entries {
            let Entry::Setting { targets, value, .. } = e else {
                self.err(
                    Diag::error(
                        codes::UNKNOWN_KEY,
                        "expected `functions = [...]` or `statistics = [...]`",
                    )
                    .at(e.span(), "here"),
                );
                ok = false;
                continue;
            };
            let key = &targets[0];
            let allowed = match key.node.as_str() {
                "functions" => registry::FUNCTIONS,
                "statistics" => stats_allowed,
                _ => {
                    self.err(
                        Diag::error(
                            codes::UNKNOWN_KEY,
                            format!("unknown key `{}` in a measure block", key.node),
                        )
                        .at(key.span, "unknown key")
                        .help(suggest(&key.node, &["functions", "statistics"])),
                    );
                    ok = false;
                    continue;
                }
            };
            let Some(v) = self.eval(value, module, &Vec::new()) else {
                ok = false;
                continue;
            };
            match self.coerce(&v, &Ty::EnumList(allowed), &key.node) {
                Some(Value::List(l)) => {
                    let l: Vec<String> = l
                        .iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect();
                    if key.node == "functions" {
                        functions = l;
                    } else {
                        statistics = l;
                    }
                }
                _ => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let mut out = Vec::new();
        for f in &functions {
            for s in &statistics {
                out.push(Observable {
                    measure: measure.into(),
                    function: f.clone(),
                    statistic: s.clone(),
                });
            }
        }
        Some(out)
    }
}
