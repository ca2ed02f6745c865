//! Build script: when linking libtorch (feature `torch`), write an rpath to its `lib/` so
//! `target/*/lrx` starts without `LD_LIBRARY_PATH`, and keep `libtorch_cuda` linked when it is
//! present (the linker's `--as-needed` would otherwise drop it and CUDA would silently be
//! unavailable on a GPU machine). See ../shared/toolchain.md.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=grammar/lrx.pest");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    let Some(libtorch) = std::env::var_os("LIBTORCH") else {
        return;
    };
    // The libtorch version, for provenance (features metadata, reports): the PyPI wheel's
    // `version.py` or a libtorch archive's `build-version`.
    let root = std::path::Path::new(&libtorch);
    println!(
        "cargo:rerun-if-changed={}",
        root.join("version.py").display()
    );
    let version = std::fs::read_to_string(root.join("version.py"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("__version__ = "))
                .map(|v| v.trim().trim_matches('\'').to_string())
        })
        .or_else(|| std::fs::read_to_string(root.join("build-version")).ok())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=LRX_LIBTORCH_VERSION={}", version.trim());
    let lib = std::path::Path::new(&libtorch).join("lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        let search = format!("-L{}", lib.display());
        for a in [
            "-Wl,--no-as-needed",
            &search,
            "-ltorch_cuda",
            "-Wl,--as-needed",
        ] {
            println!("cargo:rustc-link-arg={a}");
        }
    }
}
