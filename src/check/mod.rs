//! CHECK stage: syntax tree → [`ir::Study`]. Resolves imports (stdlib and local files) and
//! names, binds every builtin call against its schema (defaults, types, units, ranges),
//! expands the sweeps into concrete points, and collects every error in one pass.

pub mod eval;
/// The checked study (the IR), at the crate root since every later stage reads it.
pub use crate::ir;
pub mod study;
pub(crate) mod val;

pub use study::all_candidates;

use crate::diag::{Diag, Diags, Warned, codes};
use crate::source::{SourceId, SourceMap, Span};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Checks the spec at `path`. The source map receives the file and everything it imports, so
/// the caller can render the diagnostics.
pub fn check_path(path: &Path, sources: &mut SourceMap) -> Result<Warned<ir::Study>, Diags> {
    check_source(load_spec(path, sources)?, sources)
}

/// Loads a spec file into the source map; a file that cannot be read is `lrx::io::read`.
fn load_spec(path: &Path, sources: &mut SourceMap) -> Result<SourceId, Diags> {
    sources.load(path).map_err(|e| {
        let mut d = Diags::default();
        d.push(
            Diag::error(
                codes::IO_READ,
                format!("cannot read `{}`: {e}", path.display()),
            )
            .help("check the path; specs are `.lrx` text files"),
        );
        d
    })
}

/// Checks a file already in the source map.
pub fn check_source(id: SourceId, sources: &mut SourceMap) -> Result<Warned<ir::Study>, Diags> {
    check_source_with_uses(id, sources).0
}

/// [`check_source`], and the stdlib definitions the spec reached (`module.name`: those a
/// pinned spec is warned about when they changed).
pub fn check_source_with_uses(
    id: SourceId,
    sources: &mut SourceMap,
) -> (
    Result<Warned<ir::Study>, Diags>,
    std::collections::BTreeSet<String>,
) {
    let mut ev = eval::Eval::new(sources);
    let mut stack = vec![(id, None::<Span>)];
    let main = ev.load(id, crate::stdlib::get, &mut stack, true);
    let study = main.and_then(|m| ev.study(m));
    let diags = std::mem::take(&mut ev.diags);
    let pin = ev.stdlib_pin;
    let used = std::mem::take(&mut ev.stdlib_used);
    drop(ev);
    let r = finish_check(id, sources, study, diags, pin, &used);
    (r, used)
}

fn finish_check(
    id: SourceId,
    sources: &SourceMap,
    study: Option<ir::Study>,
    mut diags: Diags,
    pin: Option<(i64, Span)>,
    used: &std::collections::BTreeSet<String>,
) -> Result<Warned<ir::Study>, Diags> {
    // Report in file order.
    diags.0.sort_by_key(|d| d.span.map(|s| (s.source, s.start)));
    if diags.has_errors() {
        return Err(diags);
    }
    let Some(mut study) = study else {
        let mut d = diags;
        d.push(Diag::error(
            codes::BUG,
            "this is a bug in lrx: the check failed without an error",
        ));
        return Err(d);
    };
    study.spec_hash = spec_hash(sources, id);
    let mut warnings = diags.0;
    if let Some((pin, span)) = pin {
        warnings.extend(stdlib_pin_warnings(
            pin,
            span,
            used,
            crate::stdlib::lock(pin).as_ref(),
            &stdlib_values(),
        ));
    }
    Ok(Warned {
        value: study,
        warnings,
    })
}

/// Whether the file is a recordings spec: it parses and has a top-level `recording` or
/// `recordings` block ([`check_recordings_path`] checks it; a study spec has none).
pub fn is_recordings_spec(sources: &SourceMap, id: SourceId) -> bool {
    crate::syntax::parse_source(sources, id).is_ok_and(|f| {
        f.items.iter().any(|i| {
            matches!(i, crate::syntax::ast::Item::Block(b)
                if study::RECORDINGS_BLOCKS.contains(&b.kind.node.as_str()))
        })
    })
}

/// Checks the recordings spec at `path` (docs/reference/recordings.md): its `recording` blocks
/// become the declaration `lrx import` reads, with the spec hash of the file and its imports.
/// Session files are relative to the spec's directory; one that is not here is a warning.
pub fn check_recordings_path(
    path: &Path,
    sources: &mut SourceMap,
) -> Result<Warned<crate::features::recordings::RecordingsFile>, Diags> {
    let id = load_spec(path, sources)?;
    check_recordings_source(id, sources)
}

/// [`check_recordings_path`] for a file already in the source map (the language server's
/// way). Session files are relative to the file's directory (the working directory for a
/// file without a path).
pub fn check_recordings_source(
    id: SourceId,
    sources: &mut SourceMap,
) -> Result<Warned<crate::features::recordings::RecordingsFile>, Diags> {
    let base = sources
        .get(id)
        .path
        .as_ref()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let mut ev = eval::Eval::new(sources);
    let mut stack = vec![(id, None::<Span>)];
    let main = ev.load(id, crate::stdlib::get, &mut stack, true);
    let file = main.and_then(|m| ev.recordings(m, &base));
    let mut diags = std::mem::take(&mut ev.diags);
    drop(ev);
    diags.0.sort_by_key(|d| d.span.map(|s| (s.source, s.start)));
    if diags.has_errors() {
        return Err(diags);
    }
    let Some(mut file) = file else {
        diags.push(Diag::error(
            codes::BUG,
            "this is a bug in lrx: the check failed without an error",
        ));
        return Err(diags);
    };
    file.spec_hash = spec_hash(sources, id);
    Ok(Warned {
        value: file,
        warnings: diags.0,
    })
}

/// The canonical value (see `val::Val::canonical`) of every definition of every stdlib
/// module of this build, keyed `module.name`: the stdlib's lock (`lrx doc --stdlib-lock`).
pub fn stdlib_values() -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for (name, text) in crate::stdlib::MODULES {
        let mut sources = SourceMap::new();
        let id = sources.add(crate::stdlib::source_name(name), None, text.to_string());
        let mut ev = eval::Eval::new(&mut sources);
        for (n, v) in module_values(&mut ev, id) {
            if let Some(v) = v {
                out.insert(format!("{name}.{n}"), v.v.canonical());
            }
        }
    }
    out
}

/// Loads file `id` as a module (no study) and evaluates every definition in it, in order:
/// (name, value, `None` where it failed and `ev` holds the error).
fn module_values(ev: &mut eval::Eval, id: SourceId) -> Vec<(String, Option<val::SVal>)> {
    let mut stack = vec![(id, None::<Span>)];
    let Some(m) = ev.load(id, crate::stdlib::get, &mut stack, false) else {
        return Vec::new();
    };
    let names: Vec<String> = ev.modules[m].defs.keys().cloned().collect();
    let span = Span::new(id, 0, 0);
    names
        .into_iter()
        .map(|n| {
            let v = ev.path(std::slice::from_ref(&n), span, m, &Vec::new());
            (n, v)
        })
        .collect()
}

/// The stdlib lock of this build as a JSON document (`lrx doc --stdlib-lock`).
pub fn stdlib_lock_json() -> String {
    let doc = serde_json::json!({
        "version": crate::stdlib::VERSION,
        "values": stdlib_values(),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// The warnings of `study { stdlib = pin }` (at `span`): for each stdlib definition the spec
/// used (`used`, `module.name`) whose value in the pinned version's lock (`pinned`, `None`
/// when this build does not know that version) differs from `current`, one warning naming the
/// value then and now. A pin newer than this build, or unknown to it, is one warning.
pub fn stdlib_pin_warnings(
    pin: i64,
    span: Span,
    used: &std::collections::BTreeSet<String>,
    pinned: Option<&std::collections::BTreeMap<String, String>>,
    current: &std::collections::BTreeMap<String, String>,
) -> Vec<Diag> {
    let now = crate::stdlib::VERSION;
    let Some(pinned) = pinned else {
        let (msg, help) = if pin > now {
            (
                format!(
                    "the spec was written against stdlib version {pin}, newer than this lrx's ({now})"
                ),
                "update lrx to a version with that stdlib; the presets it resolves here may differ"
                    .to_string(),
            )
        } else {
            (
                format!("this lrx does not know stdlib version {pin}"),
                format!(
                    "known versions: {}",
                    crate::stdlib::LOCKS
                        .iter()
                        .map(|(v, _)| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        };
        return vec![
            Diag::warning(codes::STDLIB_CHANGED, msg)
                .at(span, "pinned here")
                .help(help),
        ];
    };
    let mut out = Vec::new();
    for name in used {
        let (then, today) = (pinned.get(name), current.get(name));
        if then == today {
            continue;
        }
        let show = |v: Option<&String>| v.map_or("(not defined)".to_string(), |v| format!("`{v}`"));
        out.push(
            Diag::warning(
                codes::STDLIB_CHANGED,
                format!("`{name}` changed since stdlib version {pin}"),
            )
            .at(span, format!("the spec pins stdlib version {pin}"))
            .help(format!(
                "in version {pin} it was {}; in version {now} (this lrx) it is {}. To keep the old \
                 value, write it in the spec; to accept the new one, pin `stdlib = {now}`",
                show(then),
                show(today)
            )),
        );
    }
    out
}

/// Checks only the syntax and imports of a file (for stdlib modules and library files that
/// hold definitions but no study).
pub fn check_module(id: SourceId, sources: &mut SourceMap) -> Result<(), Diags> {
    let mut ev = eval::Eval::new(sources);
    module_values(&mut ev, id);
    if ev.diags.has_errors() {
        Err(std::mem::take(&mut ev.diags))
    } else {
        Ok(())
    }
}

/// Hash of the spec text and everything it imports (in load order), with their file names.
fn spec_hash(sources: &SourceMap, main: SourceId) -> String {
    let mut h = Sha256::new();
    let mut i = main.0;
    loop {
        let id = SourceId(i);
        let Some(f) = sources_get(sources, id) else {
            break;
        };
        // Only the last path component: the same spec has the same hash wherever it lives and
        // however it was named on the command line.
        let name = std::path::Path::new(&f.name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        h.update(name.as_bytes());
        h.update([0]);
        h.update(f.text.as_bytes());
        h.update([0]);
        i += 1;
    }
    hex(&h.finalize())[..16].to_string()
}

fn sources_get(sources: &SourceMap, id: SourceId) -> Option<&crate::source::SourceFile> {
    sources.try_get(id)
}

pub use crate::value::hex;
