//! The `study` block's own checks: the output directory and the device.

use crate::check::eval::Eval;
use crate::check::val::{SVal, Val};
use crate::diag::{Diag, codes, suggest};
use crate::registry;
use crate::source::Span;

impl Eval<'_> {
    /// The study's `output` must be a directory lrx can create: not empty, without a NUL byte,
    /// and neither it nor a directory above it an existing file (relative paths are relative
    /// to the working directory, as `lrx run` resolves them).
    pub(super) fn check_output(&mut self, output: &str, span: Span) {
        let (msg, help) = if output.trim().is_empty() {
            (
                "the output path is empty".to_string(),
                "name a directory, e.g. `output = \"runs/my_study\"`".to_string(),
            )
        } else if output.contains('\0') {
            (
                "the output path holds a NUL byte".to_string(),
                "paths cannot contain `\\0`; remove it".to_string(),
            )
        } else {
            let path = std::path::Path::new(output);
            let Some(file) = path
                .ancestors()
                .filter(|a| !a.as_os_str().is_empty())
                .find(|a| a.exists() && !a.is_dir())
            else {
                return;
            };
            (
                if file == path {
                    format!("the output path `{output}` is an existing file, not a directory")
                } else {
                    format!(
                        "the output path `{output}` is inside `{}`, an existing file",
                        file.display()
                    )
                },
                "lrx writes the study into this directory; choose another path or move the file"
                    .to_string(),
            )
        };
        self.err(
            Diag::error(codes::BAD_PATH, msg)
                .at(span, "cannot be created")
                .help(help),
        );
    }

    pub(super) fn device(&mut self, v: &SVal) -> Option<String> {
        let s = match &v.v {
            Val::Sym(s) | Val::Str(s) => s.clone(),
            o => return self.type_err(v.span, "`cpu`, `cuda`, `cuda:N` or `auto`", o),
        };
        let ok = matches!(s.as_str(), "cpu" | "cuda" | "auto")
            || s.strip_prefix("cuda:")
                .is_some_and(|n| n.parse::<u32>().is_ok());
        if !ok {
            self.err(
                Diag::error(codes::DEVICE, format!("unknown device `{s}`"))
                    .at(v.span, "not a device")
                    .help(format!(
                        "{}; `\"cuda:1\"` picks a GPU",
                        suggest(&s, registry::DEVICES)
                    )),
            );
            return None;
        }
        Some(s)
    }
}
