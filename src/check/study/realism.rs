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
        let (sigmas, models) = match s.values.get("noise").map(|x| x.0.clone()) {
            None => (vec![0.0], Vec::new()),
            Some(v) => {
                // One model, or a list of models (`noise in [awgn(...), poisson(...)]`).
                let items = match &v.v {
                    Val::List(l) => l.clone(),
                    _ => vec![v.clone()],
                };
                let mut sigmas = Vec::new();
                let mut models = Vec::new();
                for item in items {
                    let span = item.span;
                    let obj = self.coerce_obj(item, Kind::Noise)?;
                    match obj.builtin.name {
                        "awgn" => sigmas.extend(floats(&obj, "sigma")),
                        name => {
                            for m in model_grid(name, &obj) {
                                if let Err(e) = m.validate() {
                                    self.err(
                                        Diag::error(codes::OUT_OF_RANGE, e.to_string())
                                            .at(span, "in this measurement model")
                                            .help(
                                                "see docs/reference/realism.md, \
                                                 \"Measurement models\", for each parameter's domain",
                                            ),
                                    );
                                    return None;
                                }
                                if !models.contains(&m) {
                                    models.push(m);
                                }
                            }
                        }
                    }
                }
                (sigmas, models)
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
            models,
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

/// The float list of a parameter of a checked builtin object (its schema makes it a list).
fn floats(obj: &crate::check::val::Obj, name: &str) -> Vec<f64> {
    obj.params
        .get(name)
        .and_then(Value::as_list)
        .map(|l| l.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// Every point of a `poisson`/`calcium` object's parameter grid (the cartesian product of its
/// list parameters, the first parameter outermost).
fn model_grid(name: &str, obj: &crate::check::val::Obj) -> Vec<ir::Measurement> {
    use crate::measurement::{CalciumModel, PoissonModel};
    let names: Vec<&str> = obj.builtin.params().map(|p| p.name).collect();
    let lists: Vec<Vec<f64>> = names.iter().map(|n| floats(obj, n)).collect();
    let mut points: Vec<Vec<f64>> = vec![Vec::new()];
    for l in &lists {
        points = points
            .iter()
            .flat_map(|p| {
                l.iter().map(move |&x| {
                    let mut q = p.clone();
                    q.push(x);
                    q
                })
            })
            .collect();
    }
    let get = |p: &[f64], n: &str| p[names.iter().position(|x| *x == n).expect("a parameter")];
    points
        .iter()
        .map(|p| match name {
            "poisson" => ir::Measurement::Poisson(PoissonModel {
                rate_scale: get(p, "rate_scale"),
                baseline: get(p, "baseline"),
                window: get(p, "window"),
                repeats: get(p, "repeats") as u32,
            }),
            "calcium" => ir::Measurement::Calcium(CalciumModel {
                rate_scale: get(p, "rate_scale"),
                baseline: get(p, "baseline"),
                frame_rate: get(p, "frame_rate"),
                rise: get(p, "rise"),
                decay: get(p, "decay"),
                kd: get(p, "kd"),
                hill: get(p, "hill"),
                shot: get(p, "shot"),
                read: get(p, "read"),
                frames_per_stimulus: get(p, "frames_per_stimulus") as u32,
            }),
            other => unreachable!("noise builtin `{other}` without a measurement model"),
        })
        .collect()
}
