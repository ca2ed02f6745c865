//! The two executables (src/exec/exe.rs): `lrx` checks, plans and explains without loading
//! libtorch, and hands the commands that train to `lrx-engine` beside it. (`lrx run` through the
//! front end is covered by run.rs, which runs `CARGO_BIN_EXE_lrx`.)

use clap::CommandFactory;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const FRONT: &str = env!("CARGO_BIN_EXE_lrx");
const ENGINE: &str = env!("CARGO_BIN_EXE_lrx-engine");

fn spec(name: &str) -> String {
    crate::root().join(name).display().to_string()
}

/// Runs `exe args` with the dynamic loader reporting every shared object it initialises (glibc's
/// `LD_DEBUG=libs`, which covers the NEEDED libraries and any `dlopen` alike); returns the exit
/// code, the objects' paths and stderr.
fn loaded_objects(exe: &str, args: &[&str]) -> (Option<i32>, Vec<String>, String) {
    loaded_objects_with_input(exe, args, b"")
}

/// [`loaded_objects`] with `input` on the process's stdin.
fn loaded_objects_with_input(
    exe: &str,
    args: &[&str],
    input: &[u8],
) -> (Option<i32>, Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ld");
    let mut child = Command::new(exe)
        .args(args)
        .env("LD_DEBUG", "libs")
        .env("LD_DEBUG_OUTPUT", &log)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    // glibc writes to `<LD_DEBUG_OUTPUT>.<pid>`.
    let mut text = String::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        text.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    let objects = text
        .lines()
        .filter_map(|l| {
            l.split_once("calling init: ")
                .map(|(_, p)| p.trim().to_string())
        })
        .collect();
    (
        o.status.code(),
        objects,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn is_torch(object: &str) -> bool {
    let name = Path::new(object)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.starts_with("libtorch") || name.starts_with("libc10") || name.starts_with("libcud")
}

#[test]
fn the_front_end_loads_no_libtorch() {
    let paper = spec("specs/paper.lrx");
    let quickstart = spec("specs/quickstart.lrx");
    for args in [
        vec!["check", paper.as_str()],
        vec!["check", "--message-format", "json", quickstart.as_str()],
        vec!["plan", paper.as_str()],
        vec!["doc"],
        vec!["--help"],
    ] {
        let (code, objects, err) = loaded_objects(FRONT, &args);
        assert_eq!(code, Some(0), "lrx {args:?}: {err}");
        // The probe sees the libraries a process loads: libc at least.
        assert!(
            objects.iter().any(|o| o.contains("libc.so")),
            "lrx {args:?}: LD_DEBUG reported no libc: {objects:?}"
        );
        let torch: Vec<&String> = objects.iter().filter(|o| is_torch(o)).collect();
        assert!(
            torch.is_empty(),
            "lrx {args:?} loaded libtorch: {torch:?} (does src/cli's `run_front` reach the engine?)"
        );
    }
    // The same probe on the engine: it does load libtorch.
    let (code, objects, err) = loaded_objects(ENGINE, &["check", &paper]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        objects.iter().any(|o| o.ends_with("libtorch_cpu.so")),
        "lrx-engine did not load libtorch_cpu: {objects:?}"
    );
}

/// `lrx lsp` serves a whole session (diagnostics of the paper's spec included) in the front
/// end.
#[test]
fn the_language_server_loads_no_libtorch() {
    let paper = std::path::PathBuf::from(spec("specs/paper.lrx"));
    let text = std::fs::read_to_string(&paper).unwrap();
    let uri = lrx::lsp::position::path_to_uri(&paper);
    let mut input = Vec::new();
    for (id, method, params) in [
        (
            Some(1),
            "initialize",
            serde_json::json!({"capabilities": {}}),
        ),
        (None, "initialized", serde_json::json!({})),
        (
            None,
            "textDocument/didOpen",
            serde_json::json!({"textDocument": {"uri": uri, "languageId": "lrx", "version": 1, "text": text}}),
        ),
        (
            Some(2),
            "textDocument/hover",
            serde_json::json!({"textDocument": {"uri": uri}, "position": {"line": 20, "character": 20}}),
        ),
        (Some(3), "shutdown", serde_json::Value::Null),
        (None, "exit", serde_json::Value::Null),
    ] {
        let mut m = serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params});
        if let Some(id) = id {
            m["id"] = id.into();
        }
        let body = m.to_string();
        input.extend(format!("Content-Length: {}\r\n\r\n{body}", body.len()).bytes());
    }
    let (code, objects, err) = loaded_objects_with_input(FRONT, &["lsp"], &input);
    assert_eq!(code, Some(0), "lrx lsp: {err}");
    assert!(objects.iter().any(|o| o.contains("libc.so")), "{objects:?}");
    let torch: Vec<&String> = objects.iter().filter(|o| is_torch(o)).collect();
    assert!(torch.is_empty(), "lrx lsp loaded libtorch: {torch:?}");
}

#[test]
fn the_front_end_lists_every_command() {
    let o = Command::new(FRONT).arg("--help").output().unwrap();
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    let names: Vec<String> = lrx::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    for n in &names {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{n} "))),
            "`lrx --help` does not list `{n}`:\n{help}"
        );
    }
    let o = Command::new(ENGINE).arg("--help").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).replace("lrx-engine", "lrx"),
        help,
        "`lrx --help` and `lrx-engine --help` differ"
    );
}

/// Commands that need libtorch run in `lrx-engine` with the same arguments; their usage errors
/// still say `lrx`.
#[test]
fn the_front_end_hands_training_commands_to_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let against = dir.path().display().to_string();
    // `reproduce --plan-only` compares plans and trains nothing, but it is an engine command.
    let (code, objects, err) = loaded_objects(
        FRONT,
        &[
            "reproduce",
            &spec("specs/quickstart.lrx"),
            "--plan-only",
            "--against",
            &against,
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&against), "{err}");
    assert!(
        objects.iter().any(|o| o.ends_with("libtorch_cpu.so")),
        "`lrx reproduce` did not run in lrx-engine: {objects:?}"
    );
    let o = Command::new(FRONT)
        .args(["run-task", "--bogus"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("Usage: lrx run-task"), "{err}");
}

/// `lrx` without `lrx-engine` beside it still checks, and says how to get the engine for the
/// commands that train.
#[test]
fn a_missing_engine_is_named_with_its_fix() {
    let dir = tempfile::Builder::new()
        .prefix("lone-front")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let lone = dir.path().join("lrx");
    if std::fs::hard_link(FRONT, &lone).is_err() {
        std::fs::copy(FRONT, &lone).unwrap();
    }
    let o = Command::new(&lone)
        .args(["check", &spec("specs/quickstart.lrx")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(&lone)
        .args(["run", &spec("specs/quickstart.lrx"), "--dry-run"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("error[lrx::exec::engine]"), "{err}");
    assert!(
        err.contains(&format!("{}", dir.path().join("lrx-engine").display())),
        "{err}"
    );
    assert!(err.contains("cargo build"), "{err}");
}
