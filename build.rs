//! Build script: when linking libtorch (feature `torch`), write an rpath to its `lib/` so
//! `target/*/lrx-engine` starts without `LD_LIBRARY_PATH`, and keep `libtorch_cuda` linked in
//! `lrx-engine` when it is present (the linker's `--as-needed` would otherwise drop it and CUDA
//! would silently be unavailable on a GPU machine). See ../shared/toolchain.md.
//!
//! The front end `lrx` (src/main.rs) must not load libtorch (it starts in milliseconds, see
//! src/exec/exe.rs). Its code never reaches tch, so the linker (`--gc-sections`, `--as-needed`)
//! drops the libtorch libraries that torch-sys names, given two things:
//! - nothing names one with `--no-as-needed` for it: the `-ltorch_cuda` arguments go to
//!   `lrx-engine` and the integration tests only; the library's unit-test binary keeps
//!   `libtorch_cuda` by referring to one of its symbols (cfg `lrx_cuda`, src/exec/exe.rs);
//! - `lrx` exports no symbol (`--exclude-libs ALL`). The C++ objects that the link pulls in
//!   with dead engine code (torch-sys's `torch_api.cpp`, our `decoupled.cpp`) define inline
//!   template functions that libtorch also refers to; exported, they would "interpose" libtorch's
//!   copies, count as live, and keep libtorch on the NEEDED list.
//!
//! It also compiles `src/exec/engine/ext/decoupled.cpp` (custom autograd functions that tch cannot
//! express, see that file) against the libtorch that torch-sys links.
use std::path::PathBuf;

/// The libtorch root: torch-sys's lib dir (DEP_TCH_LIBTORCH_LIB, set however torch-sys found
/// libtorch) minus `lib/`, else $LIBTORCH.
fn libtorch_root() -> PathBuf {
    if let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") {
        let lib = PathBuf::from(lib);
        if let Some(root) = lib.parent() {
            return root.to_path_buf();
        }
    }
    match std::env::var_os("LIBTORCH") {
        Some(l) => PathBuf::from(l),
        None => panic!(
            "lrx: cannot find libtorch for src/exec/engine/ext/decoupled.cpp: set LIBTORCH \
             (scripts/setup.sh --print-env does), see ../shared/toolchain.md"
        ),
    }
}

fn compile_ext() {
    let src = "src/exec/engine/ext/decoupled.cpp";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let root = libtorch_root();
    // PyTorch wheels since 2.7 use the C++11 ABI; torch-sys defaults to it too.
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file(src)
        .compile("lrx_ext");
    // After the archive, so its references resolve whatever order torch-sys's libraries came in.
    println!(
        "cargo:rustc-link-search=native={}",
        root.join("lib").display()
    );
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lrx_cuda)");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=grammar/lrx.pest");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    compile_ext();
    println!("cargo:rustc-link-arg-bin=lrx=-Wl,--exclude-libs,ALL");
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
    // Every linked target: `lrx-engine`, the test binaries. Harmless in `lrx`, which names no
    // libtorch library (an rpath only says where to look).
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-cfg=lrx_cuda");
        let search = format!("-L{}", lib.display());
        for a in [
            "-Wl,--no-as-needed",
            &search,
            "-ltorch_cuda",
            "-Wl,--as-needed",
        ] {
            println!("cargo:rustc-link-arg-bin=lrx-engine={a}");
            println!("cargo:rustc-link-arg-tests={a}");
        }
    }
}
