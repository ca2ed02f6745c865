//! The `realism` block: the noise levels, unit fractions and seeds of the realism grid, and
//! the runs it applies to.

use super::factors::{FactorObjects, point_vars_cached};
use super::keys::REALISM_KEYS;
use super::settings::Settings;
use crate::check::eval::Eval;
use crate::check::val::{SVal, Val};
use crate::diag::{Diag, codes};
use crate::ir;
use crate::registry::{Kind, schema::Ty};
use crate::syntax::ast::Block;
use crate::value::Value;
use std::collections::HashMap;

impl Eval<'_> {
    pub(super) fn realism(
        &mut self,
        b: &Block,
        module: usize,
        points: &[&ir::Point],
        objects: &FactorObjects,
    ) -> Option<ir::Realism> {
        let s = self.settings(b, module, REALISM_KEYS, &[], true);
        let sigmas = match self.scalar(&s, "noise") {
            None => vec![0.0],
            Some(v) => {
                let obj = self.coerce_obj(v, Kind::Noise)?;
                obj.params
                    .get("sigma")
                    .and_then(Value::as_list)
                    .map(|l| l.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default()
            }
        };
        let fractions: Vec<f64> = match s.values.get("units").map(|x| x.0.clone()) {
            None => vec![1.0],
            Some(v) => self
                .list_of(&v, &Ty::Fraction, "units")?
                .iter()
                .filter_map(Value::as_f64)
                .collect(),
        };
        if let Some((v, _, _)) = s.values.get("units") {
            if fractions.contains(&0.0) {
                self.err(
                    Diag::error(codes::OUT_OF_RANGE, "a unit fraction of 0 keeps no units")
                        .at(v.span, "here")
                        .help("fractions must be > 0; ceil(ρ·n) keeps at least one unit"),
                );
                return None;
            }
        }
        let seeds = self.realism_seeds(&s, &fractions)?;
        if !self.check_filter_names(&s.filters, module, objects, "study") {
            return None;
        }
        let runs = self.realism_runs(&s, b, module, points)?;
        Some(ir::Realism {
            sigmas,
            fractions,
            seeds,
            runs,
        })
    }

    /// The seeds of each unit fraction (`seeds`: one count for all, or a table by fraction).
    fn realism_seeds(&mut self, s: &Settings, fractions: &[f64]) -> Option<Vec<i64>> {
        let mut seeds = Vec::new();
        match s.values.get("seeds").map(|x| x.0.clone()) {
            None => seeds = vec![1; fractions.len()],
            Some(v) => match &v.v {
                Val::Num { .. } => {
                    let n = self.int(&v, 1, 1000)?;
                    seeds = vec![n; fractions.len()];
                }
                Val::Map(entries) => {
                    for f in fractions {
                        let key = Val::float(*f);
                        let hit = entries
                            .iter()
                            .find(|(k, _)| match &k.v {
                                Val::Num { n, unit } => {
                                    let v = n.f64();
                                    let kv = if unit.as_deref() == Some("%") {
                                        v / 100.0
                                    } else {
                                        v
                                    };
                                    (kv - f).abs() <= 1e-12 * f.abs().max(1e-300)
                                }
                                _ => false,
                            })
                            .or_else(|| entries.iter().find(|(k, _)| k.v == Val::Sym("_".into())));
                        let _ = key;
                        match hit {
                            Some((_, n)) => seeds.push(self.int(n, 1, 1000)?),
                            None => {
                                self.err(
                                    Diag::error(
                                        codes::TABLE_MISSING_KEY,
                                        format!("no seed count for the unit fraction {f}"),
                                    )
                                    .at(v.span, "here")
                                    .help("add an entry for it or a fallback `_: 2`"),
                                );
                                return None;
                            }
                        }
                    }
                }
                o => {
                    return self.type_err(
                        v.span,
                        "a number of seeds, or a table `{fraction: seeds, _: n}`",
                        o,
                    );
                }
            },
        }
        Some(seeds)
    }

    /// The runs (indices into `points`) the realism grid applies to: those that pass the
    /// block's `where` filters.
    fn realism_runs(
        &mut self,
        s: &Settings,
        b: &Block,
        module: usize,
        points: &[&ir::Point],
    ) -> Option<Vec<usize>> {
        let mut runs = Vec::new();
        let mut cache = HashMap::new();
        for (i, p) in points.iter().enumerate() {
            if s.filters.is_empty() {
                runs.push(i);
                continue;
            }
            let vars = point_vars_cached(p, None, &mut cache);
            let mut keep = true;
            for f in &s.filters {
                match self.eval(f, module, &vars) {
                    Some(SVal {
                        v: Val::Bool(b), ..
                    }) => keep &= b,
                    Some(o) => {
                        self.type_err::<()>(o.span, "a condition", &o.v);
                        return None;
                    }
                    None => return None,
                }
            }
            if keep {
                runs.push(i);
            }
        }
        if runs.is_empty() && !points.is_empty() {
            self.err(
                Diag::error(codes::EMPTY_SWEEP, "the realism grid applies to no run")
                    .at(b.kind.span, "no run matches its `where`"),
            );
            return None;
        }
        Some(runs)
    }
}
