//! What the editor features know about the language: the registry (builtins and their
//! parameters), the keys of every block with their documentation (the key tables of
//! docs/reference, embedded, so hover says what the reference says), the values each key
//! takes, units, factors and keywords.

use crate::check::eval::HELPERS;
use crate::ir::Factor;
use crate::registry::schema::{Param, Ty};
use crate::registry::{self, Builtin, Kind};

/// The kinds of definition (`let x = ...`, `rule r = ...`).
pub const DEF_KINDS: &[&str] = &[
    "let",
    "task",
    "arch",
    "rule",
    "schedule",
    "noise",
    "classifier",
    "split",
    "cv",
];

/// The top-level blocks.
pub use crate::check::study::BLOCKS;

/// Units written after a number (with a space), and what they are for.
pub const UNITS: &[(&str, &str)] = &[
    (
        "epochs",
        "epoch counts: `epochs = 10 epochs`, `every(2 epochs)`",
    ),
    (
        "cpu_hours",
        "a cost budget in CPU hours: `budget = 2 cpu_hours`",
    ),
    (
        "gpu_hours",
        "a cost budget in GPU hours: `budget = 1 gpu_hours`",
    ),
    ("pixels", "integer sizes: `size = 32 pixels`"),
];

/// The reference pages whose key tables document each block.
const PAGES: &[(&str, &str)] = &[
    ("study", include_str!("../../docs/reference/study.md")),
    ("train", include_str!("../../docs/reference/train.md")),
    ("observe", include_str!("../../docs/reference/observe.md")),
    ("realism", include_str!("../../docs/reference/realism.md")),
    ("classify", include_str!("../../docs/reference/classify.md")),
    ("report", include_str!("../../docs/reference/report.md")),
];

fn page(block: &str) -> Option<&'static str> {
    let block = match block {
        "trajectory" => "classify",
        "observables" => "observe",
        b if registry::measure(b).is_some() => "observe",
        b => b,
    };
    PAGES.iter().find(|(b, _)| *b == block).map(|(_, t)| *t)
}

/// The row of a block's key table: `| `key` | type | default | meaning |`.
pub fn key_doc(block: &str, key: &str) -> Option<String> {
    let text = page(block)?;
    let head = format!("| `{key}` |");
    let row = text.lines().find(|l| l.starts_with(&head))?;
    let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
    let (ty, default, meaning) = (cells.get(1)?, cells.get(2)?, cells.get(3).unwrap_or(&""));
    Some(format!(
        "**`{block} {{ {key} }}`**: {meaning}\n\n- type: {ty}\n- default: {default}"
    ))
}

/// The introduction of a block's reference page (its first paragraph).
pub fn block_doc(block: &str) -> Option<String> {
    let text = page(block)?;
    let body = text.split_once("\n\n")?.1;
    let para = body.split("\n\n").next()?.replace('\n', " ");
    Some(format!("**`{block}` block**: {para}"))
}

/// A builtin's documentation: what it is, and the table of its parameters.
pub fn builtin_markdown(b: &Builtin) -> String {
    let mut s = format!("**`{}`** ({}): {}\n", b.name, b.kind.name(), b.doc);
    if b.params().next().is_some() {
        s.push_str("\n| parameter | type | default | |\n|---|---|---|---|\n");
        for p in b.params() {
            s.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                p.name,
                describe(p),
                p.default.describe(),
                p.doc
            ));
        }
    }
    s
}

/// A parameter's type with its unit.
fn describe(p: &Param) -> String {
    match p.unit {
        Some(u) => format!("{} ({u})", p.ty.describe()),
        None => p.ty.describe(),
    }
}

/// One parameter's documentation.
pub fn param_markdown(b: &Builtin, p: &Param) -> String {
    format!(
        "**`{}({} = …)`**: {}\n\n- type: {}\n- default: {}",
        b.name,
        p.name,
        p.doc,
        describe(p),
        p.default.describe()
    )
}

/// The documentation of a helper function (`seeds`, `every`, ...).
pub fn helper_doc(name: &str) -> Option<&'static str> {
    HELPERS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

/// The names a parameter of type `ty` can take, written bare.
pub fn ty_words(ty: &Ty) -> &'static [&'static str] {
    match ty {
        Ty::Enum(v) | Ty::EnumList(v) => v,
        Ty::Bool => &["true", "false"],
        Ty::OptIntList => &["none"],
        _ => &[],
    }
}

/// What a key's value is made of, for completion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Values {
    /// Builtins (and definitions) of a kind.
    Kind(Kind),
    /// Fixed names.
    Words(&'static [&'static str]),
    /// Factor names (`rule`, `arch`, ...).
    Factors,
    /// Helper functions.
    Helpers(&'static [&'static str]),
}

/// The values of `key` in a block of kind `block`.
pub fn key_values(block: &str, key: &str) -> Vec<Values> {
    use Values::*;
    match (block, key) {
        ("train", "task") => vec![Kind(registry::Kind::Task)],
        ("train", "arch") => vec![Kind(registry::Kind::Arch)],
        ("train", "rule") => vec![Kind(registry::Kind::Rule)],
        ("train", "schedule") => vec![Kind(registry::Kind::Schedule)],
        ("train", "model_seed" | "data_seed") => vec![Helpers(&["seeds", "range"])],
        ("train", "checkpoint") => vec![Helpers(&["every", "range"])],
        ("train", "lr" | "batch" | "weight_decay" | "epochs") => vec![Factors],
        ("study", "device") => vec![Words(registry::DEVICES)],
        ("observe", "stimuli") => vec![Helpers(&["val"])],
        ("observe", "precision") => vec![Words(registry::PRECISIONS)],
        ("observe", "quantile") => vec![Words(registry::QUANTILE_CONVENTIONS)],
        ("observe", "skew") => vec![Words(registry::SKEW_CONVENTIONS)],
        ("observe", "kurtosis") => vec![Words(registry::KURTOSIS_CONVENTIONS)],
        ("observe", "jacobian_via") => vec![Words(registry::JACOBIAN_VIA)],
        ("observe", "drop_nonfinite" | "save_activations")
        | ("classify", "average" | "zscore" | "realism" | "save")
        | ("report", "title") => vec![Words(&["true", "false"])],
        ("realism", "noise") => vec![Kind(registry::Kind::Noise)],
        ("classify", "targets") => vec![Factors, Helpers(&["pairs"])],
        ("classify", "holdout") => vec![Factors, Helpers(&["curriculum"])],
        ("classify", "measures") => vec![Words(&["weight", "act", "gradavg", "all", "perf"])],
        ("classify", "models" | "analysis_models") => vec![Kind(registry::Kind::Classifier)],
        ("classify", "splits") => vec![Kind(registry::Kind::Split)],
        ("classify", "cv") => vec![Kind(registry::Kind::Cv)],
        ("classify", "portions") => vec![Words(registry::PORTIONS)],
        ("report", "format") => vec![Words(registry::REPORT_FORMATS)],
        (_, "functions") => vec![Words(registry::FUNCTIONS)],
        (_, "statistics") => vec![
            Words(registry::STATISTICS),
            Words(registry::GRADAVG_STATISTICS),
        ],
        (_, "where") => vec![Factors],
        _ => Vec::new(),
    }
}

/// The kind a definition keyword defines (`None` for `let`, which takes anything).
pub fn def_kind(keyword: &str) -> Option<Kind> {
    Kind::ALL.iter().copied().find(|k| k.keyword() == keyword)
}

/// A factor's description, for hover in conditions and indices.
pub fn factor_doc(name: &str) -> Option<String> {
    Factor::parse(name).is_some().then(|| {
        format!(
            "**`{name}`**: a run factor: in a `where` condition, an index (`paper.lr[rule]`), \
             `targets` and `holdout`, it stands for the run's `{name}`"
        )
    })
}

/// The documentation of a keyword (`import`, `where`, `in`, `as`, a definition kind).
pub fn keyword_doc(word: &str) -> Option<String> {
    let s = match word {
        "import" => "`import paper` (a stdlib module) or `import \"lib.lrx\" as lib` (a file, relative to this one): its definitions are then written `paper.name`".to_string(),
        "as" => "`import \"file.lrx\" as name`: the name the module's definitions are used by".to_string(),
        "where" => "`where condition`: keeps only the sweep points (or runs) for which the condition holds".to_string(),
        "in" => "`key in values`: a sweep axis (every value is tried); in a condition, membership".to_string(),
        "let" => "`let name = value`: a definition of any value (a number, list, table, ...)".to_string(),
        k => {
            let kind = def_kind(k)?;
            format!(
                "`{k} name = ...`: a definition that must be {}",
                crate::check::eval::a(kind.name())
            )
        }
    };
    Some(s)
}

/// Every builtin of a kind.
pub fn builtins_of(kind: Kind) -> impl Iterator<Item = &'static Builtin> {
    registry::BUILTINS
        .iter()
        .copied()
        .filter(move |b| b.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of every block has a row in its reference page, so hover has something to say.
    #[test]
    fn every_block_key_is_documented() {
        for block in BLOCKS.iter().chain(&["trajectory"]) {
            let (keys, _) = crate::check::study::keys_of_block(block).unwrap();
            for key in keys {
                let doc = key_doc(block, key).unwrap_or_else(|| panic!("{block} {{ {key} }}"));
                assert!(doc.contains("type:"), "{doc}");
            }
        }
        assert!(block_doc("train").unwrap().contains("sweep"));
    }

    #[test]
    fn builtin_docs_list_their_parameters() {
        let b = registry::builtin("sgdm").unwrap();
        let md = builtin_markdown(b);
        assert!(md.contains(b.doc) && md.contains("| `momentum` |"), "{md}");
        let p = b.param("momentum").unwrap();
        assert!(param_markdown(b, p).contains(p.doc));
    }
}
