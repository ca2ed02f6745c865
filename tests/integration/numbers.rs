//! Numbers stay exact end to end: a 64-bit seed reaches the checked study, the run spec, its
//! identity document (`lrx why`), its id and the engine's settings unchanged.

use lrx::source::SourceMap;

const MAX: u64 = u64::MAX; // 18446744073709551615

fn plan_text(text: &str) -> (lrx::ir::Study, lrx::plan::Plan) {
    let mut sources = SourceMap::new();
    let id = sources.add("<numbers>", None, text.to_string());
    let study = match lrx::check::check_source(id, &mut sources) {
        Ok(w) => w.value,
        Err(d) => panic!("{}", lrx::diag::render_text(&d.0, &sources, false, 100)),
    };
    let plan = lrx::plan::plan(&study)
        .unwrap_or_else(|d| panic!("{}", lrx::diag::render_text(&d.0, &sources, false, 100)));
    (study, plan)
}

const SPEC: &str = r#"
study s { output = "runs/s", seed = 18446744073709551615 }
task t = synthetic_images(size = 16, classes = 4, train = 64, val = 32, seed = 18446744073709551615)
train {
  task = t
  arch = knet4(width = 0.25)
  rule = sgdm
  lr = 0.01
  batch = 8
  epochs = 1
  model_seed = 18446744073709551615
  data_seed in [9007199254740992, 9007199254740993, 18446744073709551614, 7]
}
"#;

#[test]
fn the_largest_seed_reaches_the_run_spec_and_its_identity_unchanged() {
    let (study, plan) = plan_text(SPEC);
    assert_eq!(study.seed, MAX);
    assert_eq!(plan.runs.len(), 4);
    let data: Vec<u64> = plan.runs.iter().map(|r| r.data_seed).collect();
    // 2^53 + 1 is not rounded to 2^53 (it would be through f64).
    assert_eq!(
        data,
        [9007199254740992, 9007199254740993, MAX - 1, 7],
        "seeds must not pass through f64"
    );
    for r in &plan.runs {
        assert_eq!(r.model_seed, MAX);
        assert_eq!(r.task.call.get("seed"), Some(&lrx::value::Value::UInt(MAX)));
        let doc = r.identity_json();
        assert_eq!(doc["model_seed"].as_u64(), Some(MAX));
        assert_eq!(doc["data_seed"].as_u64(), Some(r.data_seed));
        assert_eq!(doc["task"]["params"]["seed"].as_u64(), Some(MAX));
        let text = lrx::plan::canonical_json(&doc);
        assert!(
            text.contains("\"model_seed\":18446744073709551615"),
            "{text}"
        );
        assert!(!text.contains("null"), "no value may become null: {text}");
        // The id is the hash of exactly this document.
        assert_eq!(r.recompute_id(), r.id);
        // The run spec as written to disk carries the seed digit for digit.
        let json = serde_json::to_string(r).unwrap();
        assert!(
            json.contains("\"model_seed\":18446744073709551615"),
            "{json}"
        );
    }
    // Seeds that f64 would merge keep distinct runs.
    let ids: std::collections::BTreeSet<&str> = plan.runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 4);
}

#[cfg(feature = "torch")]
#[test]
fn the_engine_trains_with_the_exact_seed() {
    let (_, plan) = plan_text(SPEC);
    let r = &plan.runs[1];
    let job = lrx::exec::task::job_of(r).unwrap();
    assert_eq!(job.settings.model_seed, MAX);
    assert_eq!(job.settings.data_seed, 9007199254740993);
}
