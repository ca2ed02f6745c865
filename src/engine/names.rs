//! Canonical layer names and layer-position groups per architecture (method.md §1.5, §7).
//!
//! This file has no libtorch dependency: the planner uses it to know an architecture's layer
//! count at plan time. The model builders in [`super::models`] create their learnable layers in
//! exactly this order and with exactly these names (checked by tests).

use crate::value::Call;

/// Error for an architecture call that names no known architecture or has a bad parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NamesError {
    #[error("unknown architecture `{0}` (known: knet4, knet5, alexnet, resnet18, resnet34, mlp)")]
    UnknownArch(String),
    #[error("architecture `{arch}`: parameter `{param}` {msg}")]
    BadParam {
        arch: String,
        param: String,
        msg: String,
    },
    #[error("unknown objective `{0}` (known: supervised, contrastive)")]
    UnknownObjective(String),
}

/// Layer position (method.md §1.5), in one-hot order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Early,
    Middle,
    Deep,
}

impl Group {
    /// Index in the one-hot `[early, middle, deep]` (`grp_id0..2`).
    pub fn index(self) -> usize {
        match self {
            Group::Early => 0,
            Group::Middle => 1,
            Group::Deep => 2,
        }
    }
}

/// The two SimCLR head layers (method.md §7), appended after the base without its final dense.
pub const CONTRASTIVE_HEAD: [&str; 2] = ["head_contrastive/nl_0", "head_contrastive/nl_1"];

/// Whether the objective (its call name) is contrastive (SimCLR) or supervised.
pub fn is_contrastive(objective: &str) -> Result<bool, NamesError> {
    match objective {
        "supervised" => Ok(false),
        "contrastive" => Ok(true),
        o => Err(NamesError::UnknownObjective(o.to_string())),
    }
}

fn resnet_version(arch: &Call) -> Result<i64, NamesError> {
    let v = arch.i64("version").unwrap_or(1);
    if v == 1 || v == 2 {
        Ok(v)
    } else {
        Err(NamesError::BadParam {
            arch: arch.name.clone(),
            param: "version".into(),
            msg: format!("must be 1 or 2, got {v}"),
        })
    }
}

/// Number of hidden layers of an `mlp` call (`hidden` list).
pub fn mlp_hidden(arch: &Call) -> Result<Vec<i64>, NamesError> {
    let bad = |msg: &str| NamesError::BadParam {
        arch: arch.name.clone(),
        param: "hidden".into(),
        msg: msg.to_string(),
    };
    match arch.get("hidden") {
        None => Ok(vec![256, 256]),
        Some(v) => {
            let l = v
                .as_list()
                .ok_or_else(|| bad("must be a list of positive integers"))?;
            l.iter()
                .map(|x| match x.as_i64() {
                    Some(n) if n > 0 => Ok(n),
                    _ => Err(bad("must be a list of positive integers")),
                })
                .collect()
        }
    }
}

/// Blocks per group for the ResNets.
pub fn resnet_blocks(name: &str) -> Option<[usize; 4]> {
    match name {
        "resnet18" => Some([2, 2, 2, 2]),
        "resnet34" => Some([3, 4, 6, 3]),
        _ => None,
    }
}

/// The full canonical list of the supervised network, final classifier included.
pub fn base_layer_names(arch: &Call) -> Result<Vec<String>, NamesError> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    Ok(match arch.name.as_str() {
        "knet4" => s(&["conv1", "conv2", "conv3", "fc4"]),
        "knet5" => s(&["conv1", "conv2", "conv3", "conv4", "fc5"]),
        "alexnet" => s(&[
            "conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8",
        ]),
        "resnet18" | "resnet34" => {
            let blocks = resnet_blocks(&arch.name).expect("resnet");
            let word = if resnet_version(arch)? == 1 {
                "group"
            } else {
                "layer"
            };
            let mut v = vec!["conv0".to_string()];
            for (g, &nb) in blocks.iter().enumerate() {
                for b in 0..nb {
                    let convs: &[u32] = if b == 0 { &[0, 1, 2] } else { &[1, 2] };
                    for c in convs {
                        v.push(format!("block_{word}{}_{b}/conv{c}", g + 1));
                    }
                }
            }
            v.push("dense".into());
            v
        }
        "mlp" => {
            let n = mlp_hidden(arch)?.len() + 1;
            (1..=n).map(|i| format!("fc{i}")).collect()
        }
        other => return Err(NamesError::UnknownArch(other.to_string())),
    })
}

/// Canonical learnable-layer names in forward order (method.md §7). For the contrastive
/// objective the final dense is dropped and the two SimCLR head layers are appended.
pub fn layer_names(arch: &Call, objective: &str) -> Result<Vec<String>, NamesError> {
    let mut v = base_layer_names(arch)?;
    if is_contrastive(objective)? {
        v.pop();
        v.extend(CONTRASTIVE_HEAD.iter().map(|s| s.to_string()));
    }
    Ok(v)
}

/// Layer count (what the planner needs).
pub fn layer_count(arch: &Call, objective: &str) -> Result<usize, NamesError> {
    Ok(layer_names(arch, objective)?.len())
}

/// Layer-position groups (method.md §1.5): g = ⌊|L|/3⌋ on the full supervised list; early =
/// L[0:g], middle = L[g:2g], deep = the rest. SimCLR head layers are always deep, and the base
/// layers keep the grouping computed on the full list.
pub fn layer_groups(arch: &Call, objective: &str) -> Result<Vec<(String, Group)>, NamesError> {
    let full = base_layer_names(arch)?;
    let g = full.len() / 3;
    let grp = |i: usize| {
        if i < g {
            Group::Early
        } else if i < 2 * g {
            Group::Middle
        } else {
            Group::Deep
        }
    };
    let mut out: Vec<(String, Group)> = full
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), grp(i)))
        .collect();
    if is_contrastive(objective)? {
        out.pop();
        out.extend(
            CONTRASTIVE_HEAD
                .iter()
                .map(|s| (s.to_string(), Group::Deep)),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn count(arch: Call, obj: &str) -> usize {
        layer_count(&arch, obj).unwrap()
    }

    #[test]
    fn counts_match_method() {
        let _rng = crate::engine::test_rng_lock();
        assert_eq!(count(Call::new("knet4"), "supervised"), 4);
        assert_eq!(count(Call::new("knet5"), "supervised"), 5);
        assert_eq!(count(Call::new("alexnet"), "supervised"), 8);
        assert_eq!(count(Call::new("resnet18"), "supervised"), 22);
        assert_eq!(count(Call::new("resnet34"), "supervised"), 38);
        assert_eq!(
            count(
                Call::new("resnet18").with("version", Value::Int(2)),
                "supervised"
            ),
            22
        );
        for (a, n) in [
            ("knet4", 4),
            ("knet5", 5),
            ("alexnet", 8),
            ("resnet18", 22),
            ("resnet34", 38),
        ] {
            assert_eq!(count(Call::new(a), "contrastive"), n + 1, "{a}");
        }
        let mlp = Call::new("mlp").with("hidden", Value::List(vec![Value::Int(8); 3]));
        assert_eq!(count(mlp, "supervised"), 4);
    }

    #[test]
    fn groups_match_method() {
        let _rng = crate::engine::test_rng_lock();
        let gs = |a: &str, o: &str| -> Vec<usize> {
            let g = layer_groups(&Call::new(a), o).unwrap();
            (0..3)
                .map(|k| g.iter().filter(|(_, x)| x.index() == k).count())
                .collect()
        };
        assert_eq!(gs("knet4", "supervised"), vec![1, 1, 2]);
        assert_eq!(gs("knet5", "supervised"), vec![1, 1, 3]);
        assert_eq!(gs("alexnet", "supervised"), vec![2, 2, 4]);
        assert_eq!(gs("resnet18", "supervised"), vec![7, 7, 8]);
        assert_eq!(gs("resnet34", "supervised"), vec![12, 12, 14]);
        // SimCLR: base keeps full-list grouping, head is deep.
        assert_eq!(gs("knet4", "contrastive"), vec![1, 1, 3]);
        let g = layer_groups(&Call::new("resnet18"), "contrastive").unwrap();
        assert_eq!(g.last().unwrap().0, "head_contrastive/nl_1");
        assert_eq!(g.last().unwrap().1, Group::Deep);
    }

    #[test]
    fn resnet_names() {
        let _rng = crate::engine::test_rng_lock();
        let n = layer_names(&Call::new("resnet18"), "supervised").unwrap();
        assert_eq!(n[0], "conv0");
        assert_eq!(n[1], "block_group1_0/conv0");
        assert_eq!(n[4], "block_group1_1/conv1");
        assert_eq!(n[21], "dense");
        let n2 = layer_names(
            &Call::new("resnet34").with("version", Value::Int(2)),
            "supervised",
        )
        .unwrap();
        assert_eq!(n2[1], "block_layer1_0/conv0");
        assert!(layer_names(&Call::new("vgg"), "supervised").is_err());
        assert!(layer_names(&Call::new("knet4"), "rl").is_err());
    }
}
