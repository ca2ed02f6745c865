//! The `report` block: the formats and the title of the report.

use super::keys::REPORT_KEYS;
use crate::check::eval::Eval;
use crate::ir;
use crate::registry::{self, schema::Ty};
use crate::syntax::ast::Block;
use crate::value::Value;

impl Eval<'_> {
    /// The `report` block (`None`: the defaults, titled by the study's `name`).
    pub(super) fn report(&mut self, b: Option<&Block>, module: usize, name: &str) -> ir::Report {
        match b {
            None => ir::Report {
                formats: vec!["html".into(), "markdown".into()],
                title: name.to_string(),
            },
            Some(b) => {
                let s = self.settings(b, module, REPORT_KEYS, &[], false);
                let formats = match self.typed(&s, "format", Ty::EnumList(registry::REPORT_FORMATS))
                {
                    Some(Value::List(l)) => l
                        .iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect(),
                    _ => vec!["html".into(), "markdown".into()],
                };
                let title = self.str_or(&s, "title", name);
                ir::Report { formats, title }
            }
        }
    }
}
