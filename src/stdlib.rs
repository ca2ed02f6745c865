//! The standard library: `.lrx` files under `stdlib/`, embedded in the binary and imported by
//! name (`import paper`). They go through the same front end as user files.

/// Every stdlib module: (name, source).
pub const MODULES: &[(&str, &str)] = &[("paper", include_str!("../stdlib/paper.lrx"))];

/// The source of a stdlib module.
pub fn get(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The version of the stdlib in this build. Bump it whenever a preset, list or table of a
/// stdlib module resolves to another value, and add the new lock (`lrx doc --stdlib-lock >
/// stdlib/versions/<VERSION>.json`) to [`LOCKS`]: a spec pinned to an older version
/// (`study { stdlib = N }`) is then told which of the values it uses changed. The test
/// `stdlib_lock_matches_the_stdlib` fails when the stdlib changed without a new version.
pub const VERSION: i64 = 2;

/// The lock of every stdlib version this build knows: (version, JSON document with the
/// canonical value of every definition, keyed `module.name`).
pub const LOCKS: &[(i64, &str)] = &[
    (1, include_str!("../stdlib/versions/1.json")),
    (2, include_str!("../stdlib/versions/2.json")),
];

/// The name a stdlib module's source file has in a source map (`<stdlib/paper.lrx>`): what
/// diagnostics show and what [`module_of_source`] reads back.
pub fn source_name(module: &str) -> String {
    format!("<stdlib/{module}.lrx>")
}

/// The stdlib module a source file is, from its [`source_name`].
pub fn module_of_source(name: &str) -> Option<&str> {
    name.strip_prefix("<stdlib/")?.strip_suffix(".lrx>")
}

/// The values of stdlib version `version` (`module.name` → canonical value), when this build
/// knows that version.
pub fn lock(version: i64) -> Option<std::collections::BTreeMap<String, String>> {
    let (_, text) = LOCKS.iter().find(|(v, _)| *v == version)?;
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    serde_json::from_value(doc.get("values")?.clone()).ok()
}
