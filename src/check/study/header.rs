//! The `study` block: the study's name, output directory, seed, device, speeds, run limit and
//! pinned stdlib version.

use super::keys::STUDY_KEYS;
use super::sweep::RunLimits;
use crate::check::eval::Eval;
use crate::check::val::{SVal, Val};
use crate::diag::{Diag, codes, suggest};
use crate::registry::{self, schema::Ty};
use crate::source::Span;
use crate::syntax::ast::Block;
use crate::value::Value;

/// What the `study` block sets for the whole study.
pub(super) struct StudyHead {
    pub(super) name: String,
    pub(super) output: String,
    pub(super) seed: u64,
    pub(super) description: String,
    pub(super) device: String,
    pub(super) cpu_gflops: f64,
    pub(super) gpu_gflops: f64,
}

impl Eval<'_> {
    /// The `study` block (`None`: missing, reported, and the defaults used); sets the run
    /// limit and the pinned stdlib version.
    pub(super) fn study_head(
        &mut self,
        b: Option<&Block>,
        module: usize,
        file_start: Span,
        limits: &mut RunLimits,
    ) -> StudyHead {
        let Some(b) = b else {
            self.err(
                Diag::error(codes::MISSING_BLOCK, "the spec has no `study` block")
                    .at(file_start, "missing `study`")
                    .help("add `study my_study { output = \"runs/my_study\" }`"),
            );
            return StudyHead {
                name: "study".to_string(),
                output: "runs/study".to_string(),
                seed: 0,
                description: String::new(),
                device: "auto".to_string(),
                cpu_gflops: 20.0,
                gpu_gflops: 10_000.0,
            };
        };
        let name = match &b.head {
            Some(h) if h.node.len() == 1 => h.node[0].clone(),
            _ => {
                self.err(
                    Diag::error(codes::MISSING_KEY, "the study needs a name")
                        .at(b.kind.span, "no name")
                        .help("write `study my_study { ... }`"),
                );
                "study".into()
            }
        };
        let s = self.settings(b, module, STUDY_KEYS, &[], false);
        let output = self.str_or(&s, "output", &format!("runs/{name}"));
        if let Some((v, _, _)) = s.values.get("output") {
            self.check_output(&output, v.span);
        }
        if let Some(Value::Int(n)) = self.typed(
            &s,
            "max_runs",
            Ty::Int {
                min: 1,
                max: i64::MAX,
            },
        ) {
            limits.max_runs = n as u64;
        }
        let seed = self
            .typed(&s, "seed", Ty::Seed)
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if let Some(Value::Int(n)) = self.typed(
            &s,
            "stdlib",
            Ty::Int {
                min: 1,
                max: i64::MAX,
            },
        ) && let Some((v, _, _)) = s.values.get("stdlib")
        {
            self.stdlib_pin = Some((n, v.span));
        }
        let description = self.str_or(&s, "description", "");
        let device = match self.scalar(&s, "device") {
            None => "auto".to_string(),
            Some(v) => self.device(&v).unwrap_or_else(|| "auto".into()),
        };
        let gflops = |e: &mut Self, key: &str, default: f64| {
            e.typed(
                &s,
                key,
                Ty::Float {
                    min: 1e-3,
                    max: 1e9,
                },
            )
            .and_then(|v| v.as_f64())
            .unwrap_or(default)
        };
        let cpu_gflops = gflops(self, "cpu_gflops", 20.0);
        let gpu_gflops = gflops(self, "gpu_gflops", 10_000.0);
        StudyHead {
            name,
            output,
            seed,
            description,
            device,
            cpu_gflops,
            gpu_gflops,
        }
    }

    /// The study's `output` must be a directory lrx can create: not empty, without a NUL byte,
    /// and neither it nor a directory above it an existing file (relative paths are relative
    /// to the working directory, as `lrx run` resolves them).
    fn check_output(&mut self, output: &str, span: Span) {
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

    fn device(&mut self, v: &SVal) -> Option<String> {
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
