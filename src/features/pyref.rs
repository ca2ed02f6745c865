//! Test helper: run a Python reference script from `tests/python/` (cfg(test) only).
//!
//! The interpreter is `$LRX_PYTHON` (set by `scripts/setup.sh --print-env`), else `python3`.
//! A test that needs Python fails with a clear message when the interpreter or its packages are
//! missing, unless `LRX_SKIP_PYTHON=1`, in which case [`python_or_skip`] returns `None` and the
//! test returns early after saying so on stderr.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python interpreter to use, or `None` when `LRX_SKIP_PYTHON=1`.
pub(crate) fn python_or_skip(test: &str) -> Option<String> {
    if std::env::var("LRX_SKIP_PYTHON").as_deref() == Ok("1") {
        eprintln!("{test}: skipped (LRX_SKIP_PYTHON=1)");
        return None;
    }
    Some(std::env::var("LRX_PYTHON").unwrap_or_else(|_| "python3".to_string()))
}

/// Path of a script in `tests/python/`.
pub(crate) fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

/// Run `python script args...`, panicking with the interpreter's stderr on failure; returns
/// stdout.
pub(crate) fn run(python: &str, script_name: &str, args: &[&Path]) -> String {
    let path = script(script_name);
    let out = Command::new(python).arg(&path).args(args).output().unwrap_or_else(|e| {
        panic!(
            "cannot run the Python reference `{python} {}`: {e}. Set LRX_PYTHON to a Python with \
             numpy, scipy, torch, pyarrow and polars (eval \"$(scripts/setup.sh --print-env)\"), \
             or LRX_SKIP_PYTHON=1 to skip Python-backed tests",
            path.display()
        )
    });
    assert!(
        out.status.success(),
        "Python reference `{python} {}` failed ({}):\n{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("python prints UTF-8")
}

/// Encode f64 values as their IEEE bits, so JSON carries them exactly (NaN and inf included).
/// (Used by the `observe` tests, which need libtorch.)
#[cfg_attr(not(feature = "torch"), allow(dead_code))]
pub(crate) fn to_bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Decode IEEE bits written by a Python reference (`struct.unpack('<Q', struct.pack('<d', x))`).
pub(crate) fn from_bits(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array of bits")
        .iter()
        .map(|b| f64::from_bits(b.as_u64().expect("u64 bits")))
        .collect()
}

/// Relative/absolute closeness that treats NaN == NaN and equal infinities as equal.
pub(crate) fn close(a: f64, b: f64, rtol: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= rtol * a.abs().max(b.abs()) + 1e-300
}
