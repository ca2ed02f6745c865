//! The two executables. `lrx` is the front end: it parses, checks and plans, and does not link
//! libtorch, so `lrx check` starts in milliseconds. `lrx-engine` links libtorch and runs every
//! command; `lrx` hands it the commands that need libtorch (`run`, `run-task`, `reproduce`,
//! `classify`, `export-reference`) by replacing itself with it, and the training children of
//! `lrx run` and Slurm's array tasks are `lrx-engine run-task`. The engine is found beside the
//! running executable, as `cargo build` and `cargo install` place it. See docs/architecture.md.

use super::ExecError;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The file name of the engine executable.
pub const ENGINE_BIN: &str = "lrx-engine";

/// Whether `exe` is the engine itself (its file name is [`ENGINE_BIN`]).
fn is_engine(exe: &Path) -> bool {
    exe.file_stem().is_some_and(|s| s == ENGINE_BIN)
}

/// The engine executable: this process's own when it is the engine, else `lrx-engine` in the
/// directory of the running executable. Fails with [`ExecError::CurrentExe`] when the running
/// executable's path is unknown, and [`ExecError::EngineMissing`] (whose message says how to
/// build it) when there is no engine beside it.
pub(crate) fn engine_exe() -> Result<PathBuf, ExecError> {
    let me = std::env::current_exe().map_err(|source| ExecError::CurrentExe {
        what: "running lrx executable".into(),
        source,
    })?;
    engine_beside(&me)
}

/// [`engine_exe`] for the executable `me`.
pub(crate) fn engine_beside(me: &Path) -> Result<PathBuf, ExecError> {
    if is_engine(me) {
        return Ok(me.to_path_buf());
    }
    let dir = me.parent().unwrap_or(Path::new("."));
    let engine = dir.join(format!("{ENGINE_BIN}{}", std::env::consts::EXE_SUFFIX));
    if engine.is_file() {
        return Ok(engine);
    }
    Err(ExecError::EngineMissing { path: engine })
}

/// Replaces this process with the engine, run with `args` (`args[0]` is kept as its `argv[0]`,
/// so messages still say `lrx`). Returns only on failure, with the reason: an error of
/// `engine_exe`, or [`ExecError::EngineStart`] when `exec` fails.
pub fn exec_engine(args: &[OsString]) -> ExecError {
    use std::os::unix::process::CommandExt;
    let engine = match engine_exe() {
        Ok(e) => e,
        Err(e) => return e,
    };
    let mut cmd = std::process::Command::new(&engine);
    if let Some(arg0) = args.first() {
        cmd.arg0(arg0);
    }
    let source = cmd.args(args.iter().skip(1)).exec();
    ExecError::EngineStart {
        path: engine,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_runs_itself() {
        let p = Path::new("/nonexistent/dir/lrx-engine");
        assert_eq!(engine_beside(p).unwrap(), p);
    }

    #[test]
    fn a_missing_engine_says_how_to_build_it() {
        let dir = tempfile::tempdir().unwrap();
        let front = dir.path().join("lrx");
        let e = engine_beside(&front).unwrap_err().to_string();
        assert!(e.contains("lrx-engine"), "{e}");
        assert!(e.contains("cargo build"), "{e}");
        std::fs::write(dir.path().join("lrx-engine"), "").unwrap();
        assert_eq!(
            engine_beside(&front).unwrap(),
            dir.path().join("lrx-engine")
        );
    }
}

/// The library's unit-test binary runs engine tests on CUDA when there is a GPU, so it must load
/// `libtorch_cuda` (whose static initialisers register CUDA with libtorch). build.rs cannot give
/// it `--no-as-needed -ltorch_cuda` without giving it to `lrx` too (cargo has no link argument
/// for a library's tests alone), so this test refers to a symbol of `libtorch_cuda`, which keeps
/// the library on the test binary's NEEDED list, and checks that it is loaded.
#[cfg(all(test, feature = "torch", lrx_cuda))]
#[allow(unsafe_code)]
mod cuda_linked {
    #[link(name = "torch_cuda")]
    unsafe extern "C" {
        /// `int at::cuda::warp_size()`; only its address is taken, it is never called.
        #[link_name = "_ZN2at4cuda9warp_sizeEv"]
        fn at_cuda_warp_size() -> i32;
    }

    #[test]
    fn the_unit_tests_load_libtorch_cuda() {
        let anchor = std::hint::black_box(at_cuda_warp_size as *const ());
        assert!(!anchor.is_null());
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        assert!(
            maps.contains("libtorch_cuda.so"),
            "libtorch_cuda is not loaded: CUDA would be unavailable to the engine's tests"
        );
    }
}
