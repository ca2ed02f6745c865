//! The observable vocabulary (method.md §1): measures, functions, statistics, their conventions,
//! the 45 candidates and the 24 admissible observables, and the layer-position grouping.
//!
//! This module has no libtorch dependency, so the checker, the planner and the classifier stage
//! can name observables without the `torch` feature.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What is measured in a layer (method.md §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// The forward kernel W (no bias, no BN parameters).
    Weight,
    /// The layer's own output, per stimulus.
    Act,
    /// The layer-wise activity change g_b, one scalar per stimulus.
    Gradavg,
}

/// Elementwise function applied before any statistic (method.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Function {
    Raw,
    Abs,
    Sq,
}

/// Reduction of the function-applied values (method.md §1.2). `Id` is the only statistic of
/// `gradavg` (the per-stimulus scalar itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    Norm,
    Mean,
    Median,
    #[serde(rename = "thirdquartile")]
    ThirdQuartile,
    Var,
    Skew,
    Kurtosis,
    Id,
}

/// Layer position group (method.md §1.5), in one-hot order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerPosition {
    Early,
    Middle,
    Deep,
}

/// A name that is not one of the vocabulary's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}` (expected one of: {expected})")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
    pub expected: String,
}

macro_rules! named_enum {
    ($ty:ident, $kind:literal, [$(($var:ident, $name:literal)),* $(,)?]) => {
        impl $ty {
            /// Every variant, in canonical order.
            #[cfg_attr(not(feature = "torch"), allow(dead_code))] // used with the torch feature only
            pub const ALL: &'static [$ty] = &[$($ty::$var),*];
            /// The name used in observable names, Parquet columns and specs.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$var => $name),* }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($name => Ok($ty::$var),)*
                    _ => Err(UnknownName {
                        kind: $kind,
                        name: s.to_string(),
                        expected: [$($name),*].join(", "),
                    }),
                }
            }
        }
    };
}

named_enum!(
    Measure,
    "measure",
    [(Weight, "weight"), (Act, "act"), (Gradavg, "gradavg")]
);
named_enum!(
    Function,
    "function",
    [(Raw, "raw"), (Abs, "abs"), (Sq, "sq")]
);
named_enum!(
    Statistic,
    "statistic",
    [
        (Norm, "norm"),
        (Mean, "mean"),
        (Median, "median"),
        (ThirdQuartile, "thirdquartile"),
        (Var, "var"),
        (Skew, "skew"),
        (Kurtosis, "kurtosis"),
        (Id, "id"),
    ]
);
named_enum!(
    LayerPosition,
    "layer position",
    [(Early, "early"), (Middle, "middle"), (Deep, "deep")]
);

impl Statistic {
    /// The seven statistics of weight and act, in config order (method.md §1.2).
    #[cfg_attr(not(feature = "torch"), allow(dead_code))] // used with the torch feature only
    pub const TENSOR_STATS: [Statistic; 7] = [
        Statistic::Norm,
        Statistic::Mean,
        Statistic::Median,
        Statistic::ThirdQuartile,
        Statistic::Var,
        Statistic::Skew,
        Statistic::Kurtosis,
    ];
}

impl Function {
    /// The order of `FUNCTIONS` in the reference config (method.md §1.2).
    #[cfg_attr(not(feature = "torch"), allow(dead_code))] // used with the torch feature only
    pub const CONFIG_ORDER: [Function; 3] = [Function::Raw, Function::Sq, Function::Abs];
}

impl LayerPosition {
    /// method.md §1.5: with g = ⌊n/3⌋, early = [0, g), middle = [g, 2g), deep = the rest.
    pub fn of(index: usize, n_layers: usize) -> LayerPosition {
        let g = n_layers / 3;
        if index < g {
            LayerPosition::Early
        } else if index < 2 * g {
            LayerPosition::Middle
        } else {
            LayerPosition::Deep
        }
    }
    /// Position of each layer of a canonical layer list of length `n_layers`.
    pub fn group(n_layers: usize) -> Vec<LayerPosition> {
        (0..n_layers)
            .map(|i| LayerPosition::of(i, n_layers))
            .collect()
    }
    /// Index in the one-hot `[early, middle, deep]`.
    pub fn one_hot_index(self) -> usize {
        match self {
            LayerPosition::Early => 0,
            LayerPosition::Middle => 1,
            LayerPosition::Deep => 2,
        }
    }
}

/// One observable: `{measure}{function}_{statistic}`, e.g. `weightabs_median`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObservableId {
    pub measure: Measure,
    pub function: Function,
    pub statistic: Statistic,
}

/// An observable triple that method.md does not define (gradavg only has `id`; weight and act
/// never have `id`), or a name that is not an observable. Each variant has a stable code
/// `lrx::features::observable::...` ([`crate::diag::Coded`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObservableError {
    /// `gradavg` with a statistic other than `id`
    /// (`lrx::features::observable::gradavg_statistic`).
    #[error("`{0}` is not an observable: `gradavg` only has the statistic `id`")]
    GradavgStatistic(
        /// The name (`gradavgraw_mean`).
        String,
    ),
    /// The statistic `id` on `weight` or `act` (`lrx::features::observable::id_on_tensor`).
    #[error("`{0}` is not an observable: the statistic `id` exists only for `gradavg`")]
    IdOnTensor(
        /// The name (`weightraw_id`).
        String,
    ),
    /// A name not of the form `{measure}{function}_{statistic}`
    /// (`lrx::features::observable::malformed`).
    #[error("`{name}` is not an observable name of the form {{measure}}{{function}}_{{statistic}}")]
    Malformed {
        /// The name given.
        name: String,
    },
    /// A measure, function or statistic name that does not exist
    /// (`lrx::features::observable::unknown`).
    #[error(transparent)]
    Unknown(#[from] UnknownName),
}

impl crate::diag::Coded for ObservableError {
    fn code(&self) -> &'static str {
        match self {
            ObservableError::GradavgStatistic(_) => "lrx::features::observable::gradavg_statistic",
            ObservableError::IdOnTensor(_) => "lrx::features::observable::id_on_tensor",
            ObservableError::Malformed { .. } => "lrx::features::observable::malformed",
            ObservableError::Unknown(_) => "lrx::features::observable::unknown",
        }
    }
}

impl ObservableId {
    pub fn new(
        measure: Measure,
        function: Function,
        statistic: Statistic,
    ) -> Result<Self, ObservableError> {
        let id = ObservableId {
            measure,
            function,
            statistic,
        };
        match (measure, statistic) {
            (Measure::Gradavg, Statistic::Id) => Ok(id),
            (Measure::Gradavg, _) => Err(ObservableError::GradavgStatistic(id.name())),
            (_, Statistic::Id) => Err(ObservableError::IdOnTensor(id.name())),
            _ => Ok(id),
        }
    }
    /// `{measure}{function}_{statistic}`.
    pub fn name(&self) -> String {
        format!("{}{}_{}", self.measure, self.function, self.statistic)
    }
    /// Parse `weightabs_median` and the like.
    pub fn parse(name: &str) -> Result<Self, ObservableError> {
        let malformed = || ObservableError::Malformed {
            name: name.to_string(),
        };
        let (head, stat) = name.split_once('_').ok_or_else(malformed)?;
        let measure = Measure::ALL
            .iter()
            .copied()
            .find(|m| head.starts_with(m.as_str()))
            .ok_or_else(malformed)?;
        let function: Function = head[measure.as_str().len()..].parse()?;
        let statistic: Statistic = stat.parse()?;
        ObservableId::new(measure, function, statistic)
    }

    /// The 45 candidates of method.md §1.4, in config order: weight (functions in config order
    /// raw, sq, abs; statistics in config order), act likewise, then `gradavg{raw,sq,abs}_id`.
    #[cfg_attr(not(feature = "torch"), allow(dead_code))] // used with the torch feature only
    pub fn candidates() -> Vec<ObservableId> {
        let mut out = Vec::with_capacity(45);
        for measure in [Measure::Weight, Measure::Act] {
            for function in Function::CONFIG_ORDER {
                for statistic in Statistic::TENSOR_STATS {
                    out.push(ObservableId {
                        measure,
                        function,
                        statistic,
                    });
                }
            }
        }
        for function in Function::CONFIG_ORDER {
            out.push(ObservableId {
                measure: Measure::Gradavg,
                function,
                statistic: Statistic::Id,
            });
        }
        out
    }

    /// The 24 retained observables (ADMISSIBLE_OBS), in their canonical feature order
    /// (method.md §1.4).
    #[cfg_attr(not(feature = "torch"), allow(dead_code))] // used with the torch feature only
    pub fn admissible() -> Vec<ObservableId> {
        ADMISSIBLE
            .iter()
            .map(|n| ObservableId::parse(n).expect("ADMISSIBLE names are valid"))
            .collect()
    }
}

impl fmt::Display for ObservableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The 24 admissible observable names in canonical order (method.md §1.4).
#[cfg_attr(not(feature = "torch"), allow(dead_code))] // used with the torch feature only
pub(crate) const ADMISSIBLE: [&str; 24] = [
    "weightabs_mean",
    "weightabs_median",
    "weightabs_norm",
    "weightabs_thirdquartile",
    "weightabs_var",
    "weightraw_mean",
    "weightraw_median",
    "weightraw_norm",
    "weightraw_thirdquartile",
    "weightraw_var",
    "weightsq_mean",
    "weightsq_median",
    "weightsq_thirdquartile",
    "actabs_mean",
    "actabs_median",
    "actabs_norm",
    "actabs_thirdquartile",
    "actraw_mean",
    "actraw_median",
    "actraw_norm",
    "actraw_thirdquartile",
    "gradavgabs_id",
    "gradavgraw_id",
    "gradavgsq_id",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_and_admissible() {
        let c = ObservableId::candidates();
        assert_eq!(c.len(), 45);
        assert_eq!(c[0].name(), "weightraw_norm");
        assert_eq!(c[44].name(), "gradavgabs_id");
        let a = ObservableId::admissible();
        assert_eq!(a.len(), 24);
        for id in &a {
            assert!(c.contains(id), "{id} is a candidate");
            assert_eq!(ObservableId::parse(&id.name()).unwrap(), *id);
        }
        let mut names: Vec<String> = c.iter().map(|i| i.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 45);
    }

    #[test]
    fn parse_errors() {
        assert!(matches!(
            ObservableId::parse("gradavgabs_mean"),
            Err(ObservableError::GradavgStatistic(_))
        ));
        assert!(matches!(
            ObservableId::parse("weightraw_id"),
            Err(ObservableError::IdOnTensor(_))
        ));
        assert!(ObservableId::parse("weightcube_mean").is_err());
        assert!(ObservableId::parse("weightraw").is_err());
        let e = ObservableId::parse("actraw_meen").unwrap_err().to_string();
        assert!(e.contains("meen") && e.contains("thirdquartile"), "{e}");
    }

    #[test]
    fn layer_positions() {
        use LayerPosition::*;
        // method.md §1.5 groups
        assert_eq!(LayerPosition::group(4), vec![Early, Middle, Deep, Deep]);
        assert_eq!(
            LayerPosition::group(5),
            vec![Early, Middle, Deep, Deep, Deep]
        );
        assert_eq!(
            LayerPosition::group(8),
            vec![Early, Early, Middle, Middle, Deep, Deep, Deep, Deep]
        );
        let r18 = LayerPosition::group(22);
        assert_eq!(r18.iter().filter(|p| **p == Early).count(), 7);
        assert_eq!(r18.iter().filter(|p| **p == Middle).count(), 7);
        assert_eq!(r18.iter().filter(|p| **p == Deep).count(), 8);
        let r34 = LayerPosition::group(38);
        assert_eq!(r34.iter().filter(|p| **p == Deep).count(), 14);
    }
}
