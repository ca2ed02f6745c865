//! The standard library: `.lrx` files under `stdlib/`, embedded in the binary and imported by
//! name (`import paper`). They go through the same front end as user files.

/// Every stdlib module: (name, source).
pub const MODULES: &[(&str, &str)] = &[("paper", include_str!("../stdlib/paper.lrx"))];

/// The source of a stdlib module.
pub fn get(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
