//! The checker's diagnostics as LSP diagnostics: the document's unsaved text is checked as
//! `lrx check` checks a file (parse, check, plan), with its imports resolved relative to the
//! document's path. A diagnostic in an imported file is shown on the `import` line of the
//! document that leads to it (with the exact place as related information), so what a spec
//! pulls in from a library is visible where the spec is edited.

use super::position::{LineIndex, uri_of};
use crate::diag::{Diag, Severity};
use crate::source::{SourceId, SourceMap};
use crate::syntax::ast::{ImportTarget, Item};
use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Uri,
};
use std::path::{Path, PathBuf};

/// Checks a document's text and returns its diagnostics. `path` is where the document lives
/// (imports are relative to it); `None` for an unsaved buffer without a file.
pub(crate) fn check_text(path: Option<&Path>, text: &str) -> Vec<Diagnostic> {
    let name = path.map_or_else(|| "<buffer>".to_string(), |p| p.display().to_string());
    let mut sources = SourceMap::new();
    let id = sources.add(name, path.map(Path::to_path_buf), text.to_string());
    let diags = run_checker(id, &mut sources);
    let imports = import_sources(&sources, id);
    let index = LineIndex::new(text);
    diags
        .iter()
        .map(|d| to_lsp(d, id, &sources, &imports, &index))
        .collect()
}

/// Every diagnostic `lrx check` gives for the file (errors and warnings of the check and the
/// plan). A file with definitions only (a library that specs import) is checked as a module:
/// it needs no `study` block.
fn run_checker(id: SourceId, sources: &mut SourceMap) -> Vec<Diag> {
    let library = crate::syntax::parse_source(sources, id).is_ok_and(|f| {
        f.items
            .iter()
            .all(|i| !matches!(i, Item::Block(b) if b.kind.node != "observables"))
            && !f.items.is_empty()
    });
    if crate::check::is_recordings_spec(sources, id) {
        return match crate::check::check_recordings_source(id, sources) {
            Ok(w) => w.warnings,
            Err(d) => d.0,
        };
    }
    if library {
        return match crate::check::check_module(id, sources) {
            Ok(()) => Vec::new(),
            Err(d) => d.0,
        };
    }
    match crate::check::check_source(id, sources) {
        Err(d) => d.0,
        Ok(w) => {
            let mut out = w.warnings;
            match crate::plan::plan(&w.value) {
                Ok(p) => out.extend(p.warnings),
                Err(d) => out.extend(d.0),
            }
            out
        }
    }
}

/// The `import` items of the main file with the first source each loaded, in load order: the
/// imports are loaded depth first, so the files an import pulls in follow its own source id.
fn import_sources(sources: &SourceMap, main: SourceId) -> Vec<(SourceId, usize, usize)> {
    let Ok(file) = crate::syntax::parse_source(sources, main) else {
        return Vec::new();
    };
    let base = sources
        .get(main)
        .path
        .as_ref()
        .and_then(|f| f.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let mut out: Vec<(SourceId, usize, usize)> = file
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Import(imp) => {
                let name = match &imp.target.node {
                    ImportTarget::Stdlib(n) => crate::stdlib::source_name(n),
                    ImportTarget::File(p) => base.join(p).display().to_string(),
                };
                let id = sources.find_name(&name)?;
                Some((id, imp.span.start, imp.span.end))
            }
            _ => None,
        })
        .collect();
    out.sort_by_key(|(id, _, _)| *id);
    out
}

fn severity(d: &Diag) -> DiagnosticSeverity {
    match d.severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
    }
}

/// `name:line:col` of a byte offset in a loaded file.
fn place(sources: &SourceMap, id: SourceId, offset: usize) -> String {
    let f = sources.get(id);
    let (line, col) = f.line_col(offset);
    format!("{}:{line}:{col}", f.name)
}

fn location(sources: &SourceMap, span: crate::source::Span) -> Option<Location> {
    let f = sources.try_get(span.source)?;
    let uri: Uri = uri_of(f.path.as_deref()?)?;
    let ix = LineIndex::new(&f.text);
    Some(Location::new(uri, ix.range(span.start, span.end)))
}

fn to_lsp(
    d: &Diag,
    main: SourceId,
    sources: &SourceMap,
    imports: &[(SourceId, usize, usize)],
    index: &LineIndex,
) -> Diagnostic {
    let mut message = d.message.clone();
    let mut related = Vec::new();
    let range = match d.span {
        Some(s) if s.source == main => index.range(s.start, s.end),
        Some(s) => {
            // In an imported file: on the import that loaded it (the last one loaded before
            // it), or at the top when the file cannot be placed.
            message = format!("in {}: {message}", place(sources, s.source, s.start));
            if let Some(l) = location(sources, s) {
                related.push(DiagnosticRelatedInformation {
                    location: l,
                    message: d.label.clone(),
                });
            }
            match imports.iter().rev().find(|(id, _, _)| *id <= s.source) {
                Some((_, start, end)) => index.range(*start, *end),
                None => index.range(0, 0),
            }
        }
        None => index.range(0, 0),
    };
    if d.span.is_some_and(|s| s.source == main) && !d.label.is_empty() {
        message = format!("{message}: {}", d.label);
    }
    for (s, label) in &d.related {
        match location(sources, *s) {
            Some(l) => related.push(DiagnosticRelatedInformation {
                location: l,
                message: label.clone(),
            }),
            None => message.push_str(&format!("\n{label}: {}", place(sources, s.source, s.start))),
        }
    }
    if let Some(h) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(h);
    }
    Diagnostic {
        range,
        severity: Some(severity(d)),
        code: Some(NumberOrString::String(d.code.to_string())),
        code_description: None,
        source: Some("lrx".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_is_one_diagnostic_with_its_code_and_range() {
        let text = "study s {\n  seed = = 1\n}\n";
        let d = check_text(None, text);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].severity, Some(DiagnosticSeverity::ERROR));
        assert_eq!(d[0].range.start.line, 1);
        let Some(NumberOrString::String(code)) = &d[0].code else {
            panic!("no code: {d:?}")
        };
        assert!(code.starts_with("lrx::parse"), "{code}");
    }

    #[test]
    fn a_library_file_needs_no_study() {
        assert!(check_text(None, "let x = 1\nrule r = sgdm(momentum = 0.5)\n").is_empty());
        let d = check_text(None, "let x = 1\nrule r = sgdm(momentm = 0.5)\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].range.start.line, 1);
        assert!(d[0].message.contains("help:"), "{}", d[0].message);
    }
}
