//! The holdout section: accuracies per held-out factor value against the balanced splits.

use super::*;
use crate::classify::stage::Accuracy;

/// Holdout accuracies per factor value against the balanced baseline.
pub(crate) fn holdout(doc: &mut Doc, inp: &StudyInputs) -> Result<Section, ReportError> {
    let mut s = Section {
        id: "holdout".into(),
        title: "Generalisation to held-out conditions".into(),
        reads: EVALS.into(),
        blocks: vec![],
    };
    if inp.evaluations.is_none() {
        s.blocks.push(no_results(EVALS));
        return Ok(s);
    }
    let hs: Vec<&EvalEntry> = entries(inp)
        .iter()
        .filter(|e| e.is_rule_target() && e.is_holdout())
        .collect();
    if hs.is_empty() {
        s.blocks.push(Block::Note(
            "No holdout evaluations (`holdout in [...]`) in the results.".into(),
        ));
        return Ok(s);
    }
    s.blocks.push(Block::Para(
        "Train on every value of a factor but one, test on the held-out value (mean ± s.e.m. \
         over repeats). The first group, `balanced`, is the same classifier and measure with \
         category-balanced random splits."
            .into(),
    ));
    let main = main_entries(inp);
    let factors: BTreeSet<String> = hs
        .iter()
        .filter_map(|e| e.holdout.as_ref().map(|h| h.factor.clone()))
        .collect();
    let mut rows = Vec::new();
    for factor in &factors {
        let fe: Vec<&EvalEntry> = hs
            .iter()
            .copied()
            .filter(|e| e.holdout.as_ref().is_some_and(|h| &h.factor == factor))
            .collect();
        let h = HoldoutFactor::new(factor, fe, &main);
        let r = render(&format!("holdout-{factor}"), &h.bars())?;
        s.blocks.push(doc.figure(
            &format!("holdout-{factor}"),
            format!(
                "Holdout over `{factor}`: accuracy per held-out value vs the balanced baseline."
            ),
            r,
        ));
        h.rows(&mut rows);
    }
    s.blocks.push(Block::Table(Table {
        header: vec![
            "factor".into(),
            "held-out value".into(),
            "measure".into(),
            "classifier".into(),
            "holdout accuracy".into(),
            "balanced baseline".into(),
        ],
        rows,
    }));
    Ok(s)
}

/// The holdout evaluations of one factor, with its values, its (classifier, measure) keys and
/// the main entries for the baseline.
struct HoldoutFactor<'a> {
    factor: &'a String,
    fe: Vec<&'a EvalEntry>,
    values: Vec<String>,
    keys: Vec<(String, String)>,
    main: &'a [&'a EvalEntry],
}

impl<'a> HoldoutFactor<'a> {
    fn new(factor: &'a String, fe: Vec<&'a EvalEntry>, main: &'a [&'a EvalEntry]) -> Self {
        let values: Vec<String> = fe
            .iter()
            .filter_map(|e| e.holdout.as_ref().map(|h| h.value.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut keys: Vec<(String, String)> = fe
            .iter()
            .map(|e| (e.classifier.clone(), e.measure.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        keys.sort_by_key(|(c, m)| (classifier_rank(c), measure_rank(m)));
        HoldoutFactor {
            factor,
            fe,
            values,
            keys,
            main,
        }
    }

    /// The balanced baseline: the main entry of the same classifier and measure.
    fn baseline(&self, c: &str, m: &str) -> Option<Accuracy> {
        self.main
            .iter()
            .find(|e| e.classifier == c && e.measure == m)
            .map(|e| e.accuracy)
    }

    /// The holdout entry of classifier `c` and measure `m` for held-out value `val`.
    fn find(&self, c: &str, m: &str, val: &str) -> Option<&'a EvalEntry> {
        self.fe
            .iter()
            .find(|e| {
                e.classifier == c
                    && e.measure == m
                    && e.holdout.as_ref().is_some_and(|h| h.value == val)
            })
            .copied()
    }

    /// Bars: the baseline, then each held-out value, per (classifier, measure).
    fn bars(&self) -> Bars {
        let factor = self.factor;
        let mut categories = vec!["balanced".to_string()];
        categories.extend(self.values.iter().cloned());
        let series: Vec<BarSeries> = self
            .keys
            .iter()
            .map(|(c, m)| {
                let mut v = vec![self.baseline(c, m).map(|a| (a.mean, a.sem))];
                v.extend(self.values.iter().map(|val| {
                    self.find(c, m, val)
                        .map(|e| (e.accuracy.mean, e.accuracy.sem))
                }));
                BarSeries {
                    name: format!("{}, {}", classifier_label(c), m),
                    values: v,
                }
            })
            .collect();
        let chance = chance_of(self.fe.iter().copied());
        Bars {
            title: format!("Holdout accuracy by held-out {factor}"),
            x_label: format!("held-out value of {factor}"),
            y_label: "test accuracy".into(),
            categories,
            series,
            hline: chance.map(|c| (c, format!("chance ({c:.2})"))),
            y_top: 1.0,
            y_axis_max: 1.3,
        }
    }

    /// The table rows of this factor.
    fn rows(&self, rows: &mut Vec<Vec<String>>) {
        for (c, m) in &self.keys {
            let base = self.baseline(c, m);
            for val in &self.values {
                if let Some(e) = self.find(c, m, val) {
                    rows.push(vec![
                        self.factor.clone(),
                        val.clone(),
                        m.clone(),
                        classifier_label(c),
                        ms(&e.accuracy.into()),
                        base.map(|a| ms(&a.into())).unwrap_or("–".into()),
                    ]);
                }
            }
        }
    }
}
