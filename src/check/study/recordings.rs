//! A recordings spec → [`RecordingsFile`]: the `recording ID { ... }` blocks (one recorded
//! trajectory each: its sessions by epoch, its layers, an optional `nwb` source and known rule)
//! and an optional `recordings { observables = [...] }` block. What `lrx import` reads
//! (docs/reference/recordings.md); `lrx check` checks it with the same coded diagnostics as a
//! study, and warns about session files that are not here.

use super::settings::Settings;
use crate::check::eval::Eval;
use crate::check::val::{SVal, Val};
use crate::diag::{Diag, codes};
use crate::features::observable::{LayerPosition, Measure, ObservableId};
use crate::features::recordings::{NwbSource, RecordedLayer, Recording, RecordingsFile, Session};
use crate::registry::schema::Ty;
use crate::source::Span;
use crate::syntax::ast::Block;
use crate::value::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The top-level blocks of a recordings spec; a file with any of them is one.
pub const RECORDINGS_BLOCKS: &[&str] = &["recording", "recordings"];
/// The keys of `recordings { ... }`.
pub(super) const RECORDINGS_KEYS: &[&str] = &["observables"];
/// The keys of `recording ID { ... }` (and its nested blocks `layer NAME { ... }`, `nwb { ... }`).
pub(super) const RECORDING_KEYS: &[&str] = &["id", "rule", "sessions"];
/// The keys of `layer NAME { ... }` in a recording.
pub(super) const LAYER_KEYS: &[&str] = &["position", "units", "location"];
/// The keys of `nwb { ... }` in a recording.
pub(super) const NWB_KEYS: &[&str] = &["responses", "intervals", "stimulus"];

const POSITIONS: &[&str] = &["early", "middle", "deep"];

/// Whether a name can be a recording id or a rule label: it becomes a directory name
/// (`rule=<rule>/run=<id>`), so letters, digits, `_`, `-` and `.` only, not starting with `.`.
fn safe_label(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl Eval<'_> {
    /// Checks the main module of a recordings spec. `base` is the spec's directory: session
    /// files are relative to it (and looked up there, a warning when absent).
    pub(crate) fn recordings(&mut self, module: usize, base: &Path) -> Option<RecordingsFile> {
        let blocks = std::mem::take(&mut self.modules[module].blocks);
        let file_start = Span::new(
            self.modules[module]
                .source
                .unwrap_or(crate::source::SourceId(0)),
            0,
            0,
        );
        let mut observables = None;
        let mut settings_block: Option<Span> = None;
        let mut recordings = Vec::new();
        let mut ids: BTreeMap<String, Span> = BTreeMap::new();
        let mut failed = false;
        for b in &blocks {
            match b.kind.node.as_str() {
                "recordings" => {
                    if let Some(first) = settings_block {
                        self.err(
                            Diag::error(codes::DUPLICATE, "more than one `recordings` block")
                                .at(b.kind.span, "second block")
                                .related(first, "first block")
                                .help("merge them into one"),
                        );
                        continue;
                    }
                    settings_block = Some(b.kind.span);
                    let s = self.settings(b, module, RECORDINGS_KEYS, &[], false);
                    observables = self.act_names(&s);
                }
                "recording" => {
                    let Some(name) = self.recording_id(b) else {
                        failed = true;
                        continue;
                    };
                    let Some((r, span)) = self.recording(b, name, module, base) else {
                        failed = true;
                        continue;
                    };
                    if let Some(first) = ids.get(&r.id) {
                        self.err(
                            Diag::error(
                                codes::DUPLICATE,
                                format!("recording `{}` is declared twice", r.id),
                            )
                            .at(span, "declared again here")
                            .related(*first, "first declared here")
                            .help("each recording is one trajectory; give each a unique id"),
                        );
                        failed = true;
                        continue;
                    }
                    ids.insert(r.id.clone(), span);
                    recordings.push(r);
                }
                other => self.err(
                    Diag::error(
                        codes::UNKNOWN_KIND,
                        format!("a `{other}` block in a recordings spec"),
                    )
                    .at(b.kind.span, "not allowed in a recordings spec")
                    .help(
                        "a recordings spec holds `recording ID { ... }` blocks and an optional \
                         `recordings { observables = [...] }`; study blocks go in a study spec",
                    ),
                ),
            }
        }
        if ids.is_empty() && !failed {
            self.err(
                Diag::error(codes::MISSING_BLOCK, "no `recording` block")
                    .at(file_start, "in this file")
                    .help(
                        "declare each recorded trajectory: `recording mouse1 { sessions = { 0: \"day0.npy\" }, layer V1 { position = early } }`",
                    ),
            );
        }
        if failed {
            return None;
        }
        Some(RecordingsFile {
            observables,
            recordings,
            spec_hash: String::new(),
        })
    }

    /// `observables = [actraw_mean, ...]`: `act` observables by name.
    fn act_names(&mut self, s: &Settings) -> Option<Vec<String>> {
        let (v, span, _) = s.values.get("observables")?.clone();
        let items = match &v.v {
            Val::List(l) => l.clone(),
            _ => vec![v.clone()],
        };
        if items.is_empty() {
            self.err(
                Diag::error(codes::EMPTY_LIST, "`observables` is empty")
                    .at(span, "no items")
                    .help("name at least one `act` observable, e.g. `[actraw_mean]`, or leave `observables` out for all 21"),
            );
            return None;
        }
        let mut out = Vec::new();
        for i in &items {
            let name = match &i.v {
                Val::Sym(n) | Val::Str(n) => n.clone(),
                o => return self.type_err(i.span, "an observable name such as `actraw_mean`", o),
            };
            match ObservableId::parse(&name) {
                Ok(o) if o.measure == Measure::Act => out.push(name),
                Ok(_) => self.err(
                    Diag::error(
                        codes::OUT_OF_RANGE,
                        format!("`{name}` is not an `act` observable"),
                    )
                    .at(i.span, "recordings have no weights and no activity change")
                    .help("recordings give `act{raw,abs,sq}_{norm,mean,median,thirdquartile,var,skew,kurtosis}`"),
                ),
                Err(e) => self.err(
                    Diag::error(codes::UNKNOWN_NAME, format!("unknown observable `{name}`"))
                        .at(i.span, "not an observable")
                        .help(format!("{e}")),
                ),
            }
        }
        (out.len() == items.len()).then_some(out)
    }

    /// The name of `recording NAME { ... }` (the recording's id unless `id = "..."` says).
    fn recording_id(&mut self, b: &Block) -> Option<(String, Span)> {
        let Some(head) = &b.head else {
            self.err(
                Diag::error(codes::MISSING_KEY, "a `recording` block needs an id")
                    .at(b.kind.span, "no id")
                    .help("write `recording mouse1 { ... }`: the name becomes the recording's `run_id` (or `id = \"2023-05-01_m3\"` inside)"),
            );
            return None;
        };
        let id = head.node.join(".");
        if head.node.len() != 1 || !safe_label(&id) {
            self.err(
                Diag::error(codes::OUT_OF_RANGE, format!("recording id `{id}`"))
                    .at(head.span, "not a plain name")
                    .help("use one name of letters, digits and `_`; for another id, write `id = \"...\"` inside"),
            );
            return None;
        }
        Some((id, head.span))
    }

    /// One `recording ID { ... }` block.
    fn recording(
        &mut self,
        b: &Block,
        (name, name_span): (String, Span),
        module: usize,
        base: &Path,
    ) -> Option<(Recording, Span)> {
        let s = self.settings(b, module, RECORDING_KEYS, &["layer", "nwb"], false);
        let (id, id_span) = match self.scalar(&s, "id") {
            None if s.written.contains("id") => return None,
            None => (name, name_span),
            Some(v) => match &v.v {
                Val::Str(x) if safe_label(x) => (x.clone(), v.span),
                Val::Str(x) => {
                    self.err(
                        Diag::error(codes::OUT_OF_RANGE, format!("recording id `{x}`"))
                            .at(v.span, "not usable as a directory name")
                            .help("use letters, digits, `_`, `-` and `.`, not starting with `.`"),
                    );
                    return None;
                }
                o => return self.type_err(v.span, "the recording id in double quotes", o),
            },
        };
        let rule = self.rule_label(&s);
        let nwb = self.nwb_source(&s, module);
        let sessions = self.sessions(&s, b, &id, base);
        let mut layers = Vec::new();
        let mut names: BTreeMap<String, Span> = BTreeMap::new();
        let mut ok = true;
        for n in s.nested.iter().filter(|n| n.kind.node == "layer") {
            match self.layer(n, module) {
                Some((l, span)) => {
                    if let Some(first) = names.get(&l.name) {
                        self.err(
                            Diag::error(
                                codes::DUPLICATE,
                                format!("layer `{}` is declared twice in recording `{id}`", l.name),
                            )
                            .at(span, "declared again here")
                            .related(*first, "first declared here"),
                        );
                        ok = false;
                        continue;
                    }
                    names.insert(l.name.clone(), span);
                    layers.push(l);
                }
                None => ok = false,
            }
        }
        if layers.is_empty() && ok {
            self.err(
                Diag::error(
                    codes::MISSING_BLOCK,
                    format!("recording `{id}` has no `layer`"),
                )
                .at(b.kind.span, "no layer")
                .help(
                    "say which units form each layer: `layer V1 { position = early, units = [0, 1, 2] }` (without `units`: every unit)",
                ),
            );
            ok = false;
        }
        let (rule, nwb, sessions) = (rule?, nwb?, sessions?);
        let units_source = nwb.as_ref().is_some_and(|n| n.responses == "units");
        for l in layers
            .iter()
            .filter(|l| l.location.is_some() && !units_source)
        {
            self.err(
                Diag::error(
                    codes::OUT_OF_RANGE,
                    format!("layer `{}` selects units by `location`", l.name),
                )
                .at(names[&l.name], "selects by `location`, which needs NWB units")
                .help(
                    "`location` picks NWB units by their electrodes' brain area: it needs `nwb { responses = \"units\", ... }`; for other sources list `units`",
                ),
            );
            ok = false;
        }
        ok.then(|| {
            (
                Recording {
                    id,
                    rule,
                    format: if nwb.is_some() { "nwb" } else { "plain" }.into(),
                    nwb,
                    layers,
                    sessions,
                },
                id_span,
            )
        })
    }

    /// `rule = bp` (a known rule label, for simulated recordings); `Some(None)` when absent.
    fn rule_label(&mut self, s: &Settings) -> Option<Option<String>> {
        let Some(v) = self.scalar(s, "rule") else {
            return Some(None);
        };
        let label = match &v.v {
            Val::Sym(n) | Val::Str(n) => n.clone(),
            Val::Obj(o) => o.builtin.name.to_string(),
            o => return self.type_err(v.span, "a rule label such as `bp` or `unknown`", o),
        };
        if !safe_label(&label) {
            self.err(
                Diag::error(codes::OUT_OF_RANGE, format!("rule label `{label}`"))
                    .at(v.span, "not a plain name")
                    .help("use letters, digits, `_`, `-` and `.` (it becomes a directory name)"),
            );
            return None;
        }
        Some(Some(label))
    }

    /// `nwb { responses = "units", intervals = "trials", stimulus = "image" }`; `Some(None)`
    /// when absent (the plain format).
    fn nwb_source(&mut self, s: &Settings, module: usize) -> Option<Option<NwbSource>> {
        let blocks: Vec<&Block> = s.nested.iter().filter(|n| n.kind.node == "nwb").collect();
        let Some(b) = blocks.first() else {
            return Some(None);
        };
        if let Some(second) = blocks.get(1) {
            self.err(
                Diag::error(codes::DUPLICATE, "more than one `nwb` block")
                    .at(second.kind.span, "second block")
                    .related(b.kind.span, "first block"),
            );
            return None;
        }
        let n = self.settings(b, module, NWB_KEYS, &[], false);
        let need = |ev: &mut Self, key: &str, example: &str| -> Option<String> {
            if !n.written.contains(key) {
                ev.err(
                    Diag::error(codes::MISSING_KEY, format!("`nwb` needs `{key}`"))
                        .at(b.kind.span, format!("no `{key}`"))
                        .help(format!("e.g. `{key} = {example}`")),
                );
                return None;
            }
            match ev.typed(&n, key, Ty::Str) {
                Some(Value::Str(x)) if !x.is_empty() => Some(x),
                Some(_) => {
                    let span = n.values.get(key).map_or(b.kind.span, |v| v.0.span);
                    ev.err(
                        Diag::error(codes::OUT_OF_RANGE, format!("`{key}` is empty"))
                            .at(span, "empty")
                            .help(format!("e.g. `{key} = {example}`")),
                    );
                    None
                }
                None => None,
            }
        };
        let responses = need(
            self,
            "responses",
            "\"units\" or \"processing/ophys/Fluorescence/RoiResponseSeries\"",
        );
        let intervals = need(self, "intervals", "\"trials\"");
        let stimulus = match n.written.contains("stimulus") {
            true => Some(need(self, "stimulus", "\"image\"")?),
            false => None,
        };
        Some(Some(NwbSource {
            responses: responses?,
            intervals: intervals?,
            stimulus,
        }))
    }

    /// `sessions = { 0: "day0.npy", 5: "day5.npy" }`: one file per trajectory sample, keyed
    /// by the epoch it stands for, in epoch order.
    fn sessions(&mut self, s: &Settings, b: &Block, id: &str, base: &Path) -> Option<Vec<Session>> {
        if !s.written.contains("sessions") {
            self.err(
                Diag::error(
                    codes::MISSING_KEY,
                    format!("recording `{id}` needs `sessions`"),
                )
                .at(b.kind.span, "no `sessions`")
                .help(
                    "map each session's epoch to its file: `sessions = { 0: \"day0.npy\", 5: \"day5.npy\" }`",
                ),
            );
            return None;
        }
        let v = self.scalar(s, "sessions")?;
        let Val::Map(entries) = &v.v else {
            return self.type_err(
                v.span,
                "a table of epoch: file, e.g. `{ 0: \"day0.npy\", 5: \"day5.npy\" }`",
                &v.v,
            );
        };
        if entries.is_empty() {
            self.err(
                Diag::error(codes::EMPTY_LIST, "`sessions` is empty")
                    .at(v.span, "no sessions")
                    .help("give at least one: `{ 0: \"day0.npy\" }`"),
            );
            return None;
        }
        let mut out: Vec<(i64, PathBuf, Span)> = Vec::new();
        let mut ok = true;
        for (k, f) in entries.iter() {
            let epoch = self.session_epoch(k);
            let file = match &f.v {
                Val::Str(p) if !p.is_empty() => Some(PathBuf::from(p)),
                o => {
                    self.type_err::<()>(f.span, "a file path in double quotes", o);
                    None
                }
            };
            let (Some(epoch), Some(file)) = (epoch, file) else {
                ok = false;
                continue;
            };
            if let Some((_, _, first)) = out.iter().find(|(e, _, _)| *e == epoch) {
                self.err(
                    Diag::error(
                        codes::DUPLICATE,
                        format!("two sessions of recording `{id}` at epoch {epoch}"),
                    )
                    .at(k.span, "again here")
                    .related(*first, "first here")
                    .help("each session is one trajectory sample; give each its own epoch"),
                );
                ok = false;
                continue;
            }
            let path = base.join(&file);
            if !path.exists() {
                self.err(
                    Diag::warning(
                        codes::DATA_MISSING,
                        format!("session file `{}` is not here", path.display()),
                    )
                    .at(f.span, "no such file")
                    .help(
                        "paths are relative to the recordings spec's directory; `lrx import` needs the file",
                    ),
                );
            }
            out.push((epoch, file, k.span));
        }
        if !ok {
            return None;
        }
        out.sort_by_key(|(e, _, _)| *e);
        Some(
            out.into_iter()
                .map(|(epoch, file, _)| Session { epoch, file })
                .collect(),
        )
    }

    /// A session's key: a whole epoch ≥ 0 (`5` or `5 epochs`).
    fn session_epoch(&mut self, k: &SVal) -> Option<i64> {
        let e = self.exact_int(
            k,
            0,
            i64::MAX.into(),
            "a session's epoch",
            "a whole epoch ≥ 0",
        )?;
        i64::try_from(e).ok()
    }

    /// `layer NAME { position = early, units = [0, 1, 2] }`.
    fn layer(&mut self, n: &Block, module: usize) -> Option<(RecordedLayer, Span)> {
        let Some(head) = &n.head else {
            self.err(
                Diag::error(codes::MISSING_KEY, "a `layer` needs a name")
                    .at(n.kind.span, "no name")
                    .help(
                        "write `layer V1 { position = early }`: the name is the feature's `layer`",
                    ),
            );
            return None;
        };
        let name = head.node.join(".");
        let s = self.settings(n, module, LAYER_KEYS, &[], false);
        let position = if s.written.contains("position") {
            match self.typed(&s, "position", Ty::Enum(POSITIONS))? {
                Value::Str(p) => match p.as_str() {
                    "early" => LayerPosition::Early,
                    "middle" => LayerPosition::Middle,
                    _ => LayerPosition::Deep,
                },
                _ => return None,
            }
        } else {
            self.err(
                Diag::error(
                    codes::MISSING_KEY,
                    format!("layer `{name}` needs `position`"),
                )
                .at(head.span, "no `position`")
                .help(
                    "`position = early`, `middle` or `deep`: the classifier's layer-position feature; say where the area sits, lrx does not guess",
                ),
            );
            return None;
        };
        let units = match s.values.get("units") {
            None if s.written.contains("units") => return None,
            None => None,
            Some((v, _, _)) => {
                let span = v.span;
                if matches!(&v.v, Val::List(l) if l.is_empty()) {
                    self.err(
                        Diag::error(codes::EMPTY_LIST, format!("layer `{name}` has no units"))
                            .at(span, "no items")
                            .help("list its units, or leave `units` out for every unit"),
                    );
                    return None;
                }
                let Value::List(l) = self.typed(
                    &s,
                    "units",
                    Ty::IntList {
                        min: 0,
                        max: i64::MAX,
                    },
                )?
                else {
                    return None;
                };
                let units: Vec<i64> = l.iter().filter_map(Value::as_i64).collect();
                let mut seen = std::collections::BTreeSet::new();
                if let Some(d) = units.iter().find(|u| !seen.insert(**u)) {
                    self.err(
                        Diag::error(
                            codes::DUPLICATE,
                            format!("layer `{name}` lists unit {d} twice"),
                        )
                        .at(span, "a unit listed twice")
                        .help("a unit counted twice would weigh twice in the layer's statistics"),
                    );
                    return None;
                }
                Some(units)
            }
        };
        let location = match s.values.get("location") {
            None if s.written.contains("location") => return None,
            None => None,
            Some((v, _, _)) => {
                let span = v.span;
                let loc = match self.typed(&s, "location", Ty::Str)? {
                    Value::Str(x) if !x.is_empty() => x,
                    _ => {
                        self.err(
                            Diag::error(codes::OUT_OF_RANGE, "`location` is empty")
                                .at(span, "empty")
                                .help(
                                    "the brain area of the electrodes, e.g. `location = \"CA1\"`",
                                ),
                        );
                        return None;
                    }
                };
                if let Some((u, _, _)) = s.values.get("units") {
                    self.err(
                        Diag::error(
                            codes::DUPLICATE,
                            format!("layer `{name}` selects its units twice"),
                        )
                        .at(span, "by location")
                        .related(u.span, "and by id")
                        .help("give `units` or `location`, not both"),
                    );
                    return None;
                }
                Some(loc)
            }
        };
        Some((
            RecordedLayer {
                name,
                position,
                units,
                location,
            },
            head.span,
        ))
    }
}
