//! The model grids of a `classify` block's models (`random_forest`, `linear_svm`, `conv1d`):
//! the spec's parameter lists → the [`ModelSpec`]s the grid search tries (pure; part of the
//! expansion, [`super::expand`]).

use crate::classify::conv1d::{Conv1dParams, Pool};
use crate::classify::eval::Classifier;
use crate::classify::forest::MaxFeatures;
use crate::classify::grid::ModelSpec;
use crate::ir;
use crate::value::Value;

/// A parameter's values: its list, a single value, or none.
fn list(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::List(l)) => l.clone(),
        Some(x) => vec![x.clone()],
        None => vec![],
    }
}

/// The grid of a `random_forest` or `linear_svm` model (spec order: outer parameter first as
/// in the paper grids: max_features × trees, pca × C). `Err(reason)` for a model this build
/// cannot run.
pub(crate) fn model_grid(
    m: &ir::Named,
) -> std::result::Result<(Classifier, Vec<ModelSpec>), String> {
    match m.call.name.as_str() {
        "random_forest" => Ok((Classifier::RandomForest, forest_grid(m)?)),
        "linear_svm" => Ok((Classifier::LinearSvm, svm_grid(m)?)),
        "conv1d" => {
            if !cfg!(feature = "torch") {
                return Err(format!(
                    "`{}`: this lrx was built without libtorch (`--no-default-features`), so the Conv1D evaluations are skipped",
                    m.label
                ));
            }
            Ok((Classifier::Conv1d, conv1d_grid(m)?))
        }
        other => Err(format!(
            "`{}`: the `{other}` classifier is not known to this build; its evaluations are skipped",
            m.label
        )),
    }
}

/// The `random_forest` grid: max_features × trees.
fn forest_grid(m: &ir::Named) -> std::result::Result<Vec<ModelSpec>, String> {
    let trees = list(m.call.get("trees"));
    let mfs = list(m.call.get("max_features"));
    let mut g = Vec::new();
    for mf in &mfs {
        let max_features = match mf.as_str() {
            Some("sqrt") => MaxFeatures::Sqrt,
            Some("log2") => MaxFeatures::Log2,
            Some("all") => MaxFeatures::All,
            _ => return Err(format!("`{}`: unknown max_features {mf:?}", m.label)),
        };
        for t in &trees {
            let n_trees = t
                .as_i64()
                .filter(|&n| n >= 1)
                .ok_or_else(|| format!("`{}`: bad trees {t:?}", m.label))?;
            g.push(ModelSpec::RandomForest {
                n_trees: n_trees as usize,
                max_features,
            });
        }
    }
    Ok(g)
}

/// The `linear_svm` grid: pca × C.
fn svm_grid(m: &ir::Named) -> std::result::Result<Vec<ModelSpec>, String> {
    let cs = list(m.call.get("C"));
    let pcas = list(m.call.get("pca"));
    let pcas = if pcas.is_empty() {
        vec![Value::Str("none".into())]
    } else {
        pcas
    };
    let mut g = Vec::new();
    for p in &pcas {
        let pca_components = match p {
            Value::Str(s) if s == "none" => None,
            v => Some(
                v.as_i64()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| format!("`{}`: bad pca {v:?}", m.label))?
                    as usize,
            ),
        };
        for c in &cs {
            let c = c
                .as_f64()
                .filter(|c| *c > 0.0)
                .ok_or_else(|| format!("`{}`: bad C {c:?}", m.label))?;
            g.push(ModelSpec::LinearSvm { c, pca_components });
        }
    }
    Ok(g)
}

/// The `conv1d` grid in the paper's order (method.md §3.3): kernel × stride × filters × pool ×
/// wd × lr × batch.
fn conv1d_grid(m: &ir::Named) -> std::result::Result<Vec<ModelSpec>, String> {
    let ints = |k: &str| -> std::result::Result<Vec<usize>, String> {
        list(m.call.get(k))
            .iter()
            .map(|v| {
                v.as_i64()
                    .filter(|&n| n >= 1)
                    .map(|n| n as usize)
                    .ok_or_else(|| format!("`{}`: bad {k} {v:?}", m.label))
            })
            .collect()
    };
    let floats = |k: &str| -> std::result::Result<Vec<f64>, String> {
        list(m.call.get(k))
            .iter()
            .map(|v| {
                v.as_f64()
                    .filter(|f| *f >= 0.0)
                    .ok_or_else(|| format!("`{}`: bad {k} {v:?}", m.label))
            })
            .collect()
    };
    let pools = list(m.call.get("pool"))
        .iter()
        .map(|v| match v.as_str() {
            Some("none") => Ok(Pool::None),
            Some("max") => Ok(Pool::Max),
            Some("mean") => Ok(Pool::Mean),
            _ => Err(format!("`{}`: unknown pool {v:?}", m.label)),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let epochs = m
        .call
        .get("epochs")
        .and_then(Value::as_i64)
        .filter(|&n| n >= 1)
        .unwrap_or(400) as usize;
    let (kernels, strides, filters) = (ints("kernel")?, ints("stride")?, ints("filters")?);
    let (wds, lrs, batches) = (floats("weight_decay")?, floats("lr")?, ints("batch")?);
    let mut g = Vec::new();
    for &kernel in &kernels {
        for &stride in &strides {
            for &f in &filters {
                for &pool in &pools {
                    for &weight_decay in &wds {
                        for &lr in &lrs {
                            for &batch in &batches {
                                g.push(ModelSpec::Conv1d(Conv1dParams {
                                    kernel,
                                    stride,
                                    filters: f,
                                    pool,
                                    weight_decay,
                                    lr,
                                    batch,
                                    epochs,
                                    n_times: 0,
                                }));
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(g)
}
