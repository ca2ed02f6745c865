//! The `observe` block: the observables recorded and the conventions of their statistics.

use super::factors::FactorObjects;
use super::keys::OBSERVE_KEYS;
use crate::check::eval::Eval;
use crate::check::val::{SVal, Val};
use crate::diag::{Diag, codes};
use crate::ir::{self, Observable};
use crate::registry::{self, schema::Ty};
use crate::syntax::ast::Block;
use crate::value::Value;
use std::collections::BTreeSet;

impl Eval<'_> {
    pub(super) fn observe(
        &mut self,
        b: Option<&Block>,
        module: usize,
        objects: &FactorObjects,
    ) -> Option<ir::Observe> {
        let mut obs: Vec<Observable> = Vec::new();
        let mut o = ir::Observe {
            observables: Vec::new(),
            stimuli: 0,
            batch: 256,
            conventions: ir::StatConventions::default(),
            jacobian_via: ir::JacobianMode::default(),
            drop_nonfinite: true,
            save_activations: false,
        };
        let Some(b) = b else {
            o.observables = all_candidates();
            return Some(o);
        };
        let mut ok = true;
        if let Some(h) = &b.head {
            match self.path(&h.node, h.span, module, &Vec::new()) {
                Some(SVal {
                    v: Val::Observables(l),
                    ..
                }) => obs.extend(l),
                Some(other) => {
                    self.type_err::<()>(h.span, "an `observables` set", &other.v);
                    ok = false;
                }
                None => ok = false,
            }
        }
        let s = self.settings(b, module, OBSERVE_KEYS, &["*measure"], false);
        for n in &s.nested {
            match self.measure_block(n, module) {
                Some(l) => obs.extend(l),
                None => ok = false,
            }
        }
        if b.head.is_none() && s.nested.is_empty() {
            obs = all_candidates();
        }
        let mut seen = BTreeSet::new();
        obs.retain(|x| seen.insert(x.clone()));
        o.observables = obs;
        if let Some(v) = self.scalar(&s, "stimuli") {
            match v.v {
                Val::Stimuli(n) => o.stimuli = n,
                _ => match self.int(&v, 1, i64::MAX) {
                    Some(n) => o.stimuli = n,
                    None => ok = false,
                },
            }
            self.check_stimuli(o.stimuli, v.span, objects);
        }
        if let Some(Value::Int(n)) = self.typed(
            &s,
            "batch",
            Ty::Int {
                min: 1,
                max: 1 << 20,
            },
        ) {
            o.batch = n;
        }
        for (key, vals) in [
            ("quantile", registry::QUANTILE_CONVENTIONS),
            ("skew", registry::SKEW_CONVENTIONS),
            ("kurtosis", registry::KURTOSIS_CONVENTIONS),
            ("jacobian_via", registry::JACOBIAN_VIA),
            ("precision", registry::PRECISIONS),
        ] {
            // `Ty::Enum` admitted only the enum's own names (`vals` is its `NAMES`), so each
            // `parse` below succeeds.
            if let Some(Value::Str(x)) = self.typed(&s, key, Ty::Enum(vals)) {
                let c = &mut o.conventions;
                let set = match key {
                    "quantile" => ir::QuantileConvention::parse(&x).map(|v| c.quantile = v),
                    "skew" => ir::SkewConvention::parse(&x).map(|v| c.skew = v),
                    "kurtosis" => ir::KurtosisConvention::parse(&x).map(|v| c.kurtosis = v),
                    "precision" => ir::Precision::parse(&x).map(|v| c.precision = v),
                    _ => ir::JacobianMode::parse(&x).map(|v| o.jacobian_via = v),
                };
                debug_assert!(set.is_some(), "`{x}` is a registry name of `{key}`");
            }
        }
        if let Some(Value::Bool(x)) = self.typed(&s, "drop_nonfinite", Ty::Bool) {
            o.drop_nonfinite = x;
        }
        if let Some(Value::Bool(x)) = self.typed(&s, "save_activations", Ty::Bool) {
            o.save_activations = x;
        }
        if o.observables.is_empty() {
            self.err(Diag::error(codes::EMPTY_SWEEP, "no observables to record").at(b.kind.span, "empty").help("name an observables set (`observe paper.candidates { }`) or add measure blocks"));
            ok = false;
        }
        ok.then_some(o)
    }
}

/// The 45 candidate observables of method.md §1.4 (3 functions × 7 statistics for weight and
/// act, 3 for gradavg).
pub fn all_candidates() -> Vec<Observable> {
    let mut out = Vec::new();
    for m in ["weight", "act"] {
        for f in registry::FUNCTIONS {
            for s in registry::STATISTICS {
                out.push(Observable {
                    measure: m.into(),
                    function: (*f).into(),
                    statistic: (*s).into(),
                });
            }
        }
    }
    for f in registry::FUNCTIONS {
        out.push(Observable {
            measure: "gradavg".into(),
            function: (*f).into(),
            statistic: "id".into(),
        });
    }
    out
}
