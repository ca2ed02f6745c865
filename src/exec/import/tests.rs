//! `lrx import` against numpy/scipy, against the observer fed batch by batch, and its errors.

use super::*;
use crate::diag::Coded;
use crate::features::pyref;
use crate::features::reader::{Condition, feature_files, read_observations, read_runs};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

fn layers_ab() -> serde_json::Value {
    serde_json::json!([
        {"name": "a", "position": "early", "units": [0, 1, 2, 3]},
        {"name": "b", "position": "deep", "units": [4, 5, 6]},
    ])
}

fn write_json(path: &Path, v: &serde_json::Value) {
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

/// Write a C-order `<f8` `.npy` (for tests that do not need Python).
fn write_npy_f64(path: &Path, rows: usize, cols: usize, v: &[f64]) {
    let mut header =
        format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut buf = b"\x93NUMPY\x01\x00".to_vec();
    buf.extend((header.len() as u16).to_le_bytes());
    buf.extend(header.as_bytes());
    for x in v {
        buf.extend(x.to_le_bytes());
    }
    std::fs::write(path, buf).unwrap();
}

#[test]
fn plain_npy_import_matches_numpy_and_reads_as_a_study() {
    let Some(py) = pyref::python_or_skip("plain_npy_import_matches_numpy") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    pyref::run(&py, "import_ref.py", &[dir.path()]);
    let spec = dir.path().join("recordings.json");
    write_json(
        &spec,
        &serde_json::json!({
            "recordings": [{
                "id": "mouse1", "rule": "bp", "format": "plain", "layers": layers_ab(),
                "sessions": [{"epoch": 0, "file": "s0.npy"}, {"epoch": 5, "file": "s1.npy"}],
            }],
        }),
    );
    let out = dir.path().join("out");
    let m = import(&spec, &out).unwrap();
    assert_eq!(m.runs, vec!["mouse1".to_string()]);
    assert_eq!(m.sources.len(), 3);
    assert!(m.sources.iter().all(|s| s.sha256.len() == 64));
    assert!(out.join("import.json").exists());

    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("expected.json")).unwrap())
            .unwrap();
    let files = feature_files(&out).unwrap();
    assert_eq!(files.len(), 1);
    assert!(files[0].ends_with("features/rule=bp/run=mouse1/part-0.parquet"));
    let rows = read_observations(&files[0], &Condition::Plain).unwrap();
    assert_eq!(rows.run_id, "mouse1");
    // 2 sessions × 2 layers × 21 act observables, all in the plain condition.
    assert_eq!(rows.value.len(), 2 * 2 * 21);
    let session = |e: i64| if e == 0 { "s0" } else { "s1" };
    let mut checked = 0;
    for i in 0..rows.value.len() {
        let want = f64::from_bits(
            expected[session(rows.epoch[i])][&rows.layer[i]][&rows.observable[i]]
                .as_u64()
                .unwrap(),
        );
        let got = rows.value[i];
        assert!(
            pyref::close(got, want, 1e-9),
            "epoch {} layer {} {}: lrx {got:e} vs numpy {want:e}",
            rows.epoch[i],
            rows.layer[i],
            rows.observable[i]
        );
        let pos = if rows.layer[i] == "a" {
            "early"
        } else {
            "deep"
        };
        assert_eq!(rows.layer_position[i], pos);
        checked += 1;
    }
    assert_eq!(checked, 84);
    let runs = read_runs(&out.join("runs.parquet")).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].run_id.as_str(), runs[0].rule.as_str()),
        ("mouse1", "bp")
    );
    // The study reader pivots it like a study: one example per layer, T = 2 epochs.
    let t = crate::features::reader::load_features(&[&out], &Condition::Plain, None).unwrap();
    assert_eq!(t.x.shape(), &[2, 2, 21]);
    assert_eq!(t.epochs, vec![0, 5]);
}

/// The observer as the engine drives it (batch by batch) and the import of the same array give
/// the same features.
#[test]
fn import_equals_the_observer_fed_in_batches() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let (n, u) = (40usize, 9usize);
    let x: Vec<f64> = (0..n * u)
        .map(|_| rng.random::<f64>() * 3.0 - 1.0)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    write_npy_f64(&dir.path().join("s.npy"), n, u, &x);
    let spec = dir.path().join("r.json");
    write_json(
        &spec,
        &serde_json::json!({
            "recordings": [{"id": "r", "layers": [{"name": "all", "position": "middle"}],
                            "sessions": [{"epoch": 3, "file": "s.npy"}]}],
        }),
    );
    let out = dir.path().join("out");
    import(&spec, &out).unwrap();
    let rows = read_observations(&feature_files(&out).unwrap()[0], &Condition::Plain).unwrap();
    let got: BTreeMap<String, f64> = rows.observable.iter().cloned().zip(rows.value).collect();

    let layer = Recorded("all");
    let obs_ids: Vec<ObservableId> = act_observables(None, &spec).unwrap();
    let mut obs = CheckpointObserver::new(
        &[&layer as &dyn ObservableLayer],
        Some(&[LayerPosition::Middle]),
        3,
        ObserveConfig {
            observables: obs_ids,
            ..ObserveConfig::default()
        },
    )
    .unwrap();
    let all = Tensor::from_slice(&x).reshape([n as i64, u as i64]);
    for b in 0..(n / 8) {
        obs.observe_output(0, None, &all.narrow(0, 8 * b as i64, 8))
            .unwrap();
    }
    let want = obs.finish().unwrap();
    assert_eq!(want.len(), 21);
    for w in want {
        let g = got[&w.observable.name()];
        assert!(
            pyref::close(g, w.value, 1e-12),
            "{}: import {g:e} vs observer {:e}",
            w.observable.name(),
            w.value
        );
    }
}

fn import_err(spec: serde_json::Value, arrays: &[(&str, usize, usize)]) -> ImportError {
    let dir = tempfile::tempdir().unwrap();
    for (name, r, c) in arrays {
        let v: Vec<f64> = (0..r * c).map(|i| (i as f64).sin()).collect();
        write_npy_f64(&dir.path().join(name), *r, *c, &v);
    }
    let p = dir.path().join("r.json");
    write_json(&p, &spec);
    import(&p, &dir.path().join("out")).unwrap_err()
}

#[test]
fn import_errors_are_coded_and_name_the_file() {
    let rec = |layers: serde_json::Value, file: &str| {
        serde_json::json!({"recordings": [{"id": "r", "layers": layers,
            "sessions": [{"epoch": 0, "file": file}]}]})
    };
    let e = import_err(rec(layers_ab(), "missing.npy"), &[]);
    assert_eq!(e.code(), "lrx::import::io");
    assert!(e.to_string().contains("missing.npy"), "{e}");

    let e = import_err(rec(layers_ab(), "s.npy"), &[("s.npy", 5, 6)]);
    assert_eq!(e.code(), "lrx::import::unit_not_found");
    assert!(
        e.to_string().contains("layer `b`") && e.to_string().contains("unit 6"),
        "{e}"
    );

    let e = import_err(rec(layers_ab(), "s.npy"), &[("s.npy", 5, 0)]);
    assert_eq!(e.code(), "lrx::import::bad_array");

    let mut spec = rec(layers_ab(), "s.npy");
    spec["observables"] = serde_json::json!(["weightraw_mean"]);
    let e = import_err(spec, &[("s.npy", 5, 7)]);
    assert_eq!(e.code(), "lrx::import::manifest");
    assert!(e.to_string().contains("not an act observable"), "{e}");

    let mut spec = rec(layers_ab(), "s.npy");
    spec["recordings"][0]["format"] = serde_json::json!("nwb");
    let e = import_err(spec, &[("s.npy", 5, 7)]);
    assert_eq!(e.code(), "lrx::import::manifest");

    // A wrong dtype and a truncated file.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.npy");
    write_npy_f64(&p, 2, 2, &[1.0, 2.0, 3.0, 4.0]);
    let mut bytes = std::fs::read(&p).unwrap();
    let e = parse_npy(&p, &bytes[..bytes.len() - 3]).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    let i = bytes.windows(3).position(|w| w == b"<f8").unwrap();
    bytes[i..i + 3].copy_from_slice(b"<i8");
    let e = parse_npy(&p, &bytes).unwrap_err();
    assert_eq!(e.code(), "lrx::import::bad_array");
    assert!(
        e.to_string().contains("x.npy") && e.to_string().contains("<i8"),
        "{e}"
    );
}

#[cfg(feature = "nwb")]
mod nwb_files {
    use super::*;

    fn matrix(v: &serde_json::Value) -> (usize, usize, Vec<f64>) {
        let rows = v.as_array().unwrap();
        let cols = rows[0].as_array().unwrap().len();
        let x = rows
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
            .collect();
        (rows.len(), cols, x)
    }

    fn src(responses: &str, intervals: &str, stimulus: Option<&str>) -> NwbSource {
        NwbSource {
            responses: responses.into(),
            intervals: intervals.into(),
            stimulus: stimulus.map(Into::into),
        }
    }

    /// pynwb writes the files; numpy computes the per-stimulus responses.
    #[test]
    fn nwb_units_and_ophys_responses_match_numpy_and_import() {
        let Some(py) = pyref::python_or_skip("nwb_responses_match_numpy") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        pyref::run(&py, "nwb_ref.py", &[dir.path()]);
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("expected.json")).unwrap(),
        )
        .unwrap();
        let cases = [
            (
                "units.nwb",
                src("units", "trials", Some("stimulus")),
                "units",
            ),
            (
                "ophys.nwb",
                src(
                    "processing/ophys/Fluorescence/RoiResponseSeries",
                    "stims",
                    Some("image"),
                ),
                "ophys",
            ),
        ];
        for (file, s, key) in &cases {
            let (n, u, x, ids) = nwb::read_session(&dir.path().join(file), s).unwrap();
            let (wn, wu, wx) = matrix(&expected[key]["rows"]);
            assert_eq!((n, u), (wn, wu), "{file}");
            let want_ids: Vec<i64> = expected[key]["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            assert_eq!(ids, want_ids, "{file}");
            for (i, (g, w)) in x.iter().zip(&wx).enumerate() {
                assert!(
                    pyref::close(*g, *w, 1e-12),
                    "{file} [{i}]: lrx {g} vs numpy {w}"
                );
            }
        }
        assert_eq!(matrix(&expected["units"]["rows"]).0, 6);
        assert_eq!(matrix(&expected["ophys"]["rows"]).0, 4);

        // The whole import: layers by unit id; features = the observer's on numpy's responses.
        let spec = dir.path().join("r.json");
        write_json(
            &spec,
            &serde_json::json!({"recordings": [{
                "id": "ephys1", "format": "nwb",
                "nwb": {"responses": "units", "intervals": "trials", "stimulus": "stimulus"},
                "layers": [{"name": "ca1", "position": "early", "units": [10, 11, 12]},
                           {"name": "ctx", "position": "deep", "units": [13, 14]}],
                "sessions": [{"epoch": 1, "file": "units.nwb"}],
            }]}),
        );
        let out = dir.path().join("out");
        import(&spec, &out).unwrap();
        let rows = read_observations(&feature_files(&out).unwrap()[0], &Condition::Plain).unwrap();
        assert!(
            feature_files(&out).unwrap()[0].ends_with("rule=unknown/run=ephys1/part-0.parquet")
        );
        let (n, u, x) = matrix(&expected["units"]["rows"]);
        let layers: Vec<RecordedLayer> = serde_json::from_value(serde_json::json!([
            {"name": "ca1", "position": "early", "units": [0, 1, 2]},
            {"name": "ctx", "position": "deep", "units": [3, 4]},
        ]))
        .unwrap();
        let obs = act_observables(None, &spec).unwrap();
        let want = observe_session(1, &layers, &obs, (n, u, &x), &[0, 1, 2, 3, 4], &spec).unwrap();
        assert_eq!(rows.value.len(), want.len());
        assert_eq!(want.len(), 42);
        for (i, w) in want.iter().enumerate() {
            assert_eq!(rows.layer[i], w.layer);
            assert_eq!(rows.observable[i], w.observable.name());
            assert!(
                pyref::close(rows.value[i], w.value, 1e-10),
                "{} {}: {} vs {}",
                w.layer,
                w.observable.name(),
                rows.value[i],
                w.value
            );
        }

        // Layers by the electrodes' location (a recordings spec) = the same units by id.
        let by_loc = dir.path().join("loc.lrx");
        std::fs::write(
            &by_loc,
            r#"recording ephys1 {
  nwb { responses = "units", intervals = "trials", stimulus = "stimulus" }
  sessions = { 1: "units.nwb" }
  layer ca1 { position = early, location = "CA1" }
  layer ctx { position = deep, location = "VISp" }
}
"#,
        )
        .unwrap();
        let mut sources = crate::source::SourceMap::new();
        let checked = crate::check::check_recordings_path(&by_loc, &mut sources).unwrap();
        let out_loc = dir.path().join("out_loc");
        import_checked(&checked.value, &by_loc, &out_loc).unwrap();
        let loc_rows =
            read_observations(&feature_files(&out_loc).unwrap()[0], &Condition::Plain).unwrap();
        assert_eq!(loc_rows.observable, rows.observable);
        assert_eq!(loc_rows.layer, rows.layer);
        assert_eq!(loc_rows.value, rows.value);
        let mut bad_loc = checked.value.clone();
        bad_loc.recordings[0].layers[1].location = Some("LM".into());
        let e = import_checked(&bad_loc, &by_loc, &out_loc).unwrap_err();
        assert_eq!(e.code(), "lrx::import::location_not_found");
        assert!(
            e.to_string().contains("`LM`") && e.to_string().contains("CA1, VISp"),
            "{e}"
        );
        let e = nwb::unit_locations(&dir.path().join("mixed.nwb")).unwrap_err();
        assert_eq!(e.code(), "lrx::import::nwb");
        assert!(
            e.to_string().contains("unit 7") && e.to_string().contains("CA1, VISp"),
            "{e}"
        );

        // Malformed files and unknown ids: coded errors naming the file and the object.
        let e = nwb::read_session(&dir.path().join("bad_index.nwb"), &cases[0].1).unwrap_err();
        assert_eq!(e.code(), "lrx::import::nwb");
        let m = e.to_string();
        assert!(
            m.contains("bad_index.nwb")
                && m.contains("/units/spike_times_index")
                && m.contains("missing"),
            "{m}"
        );
        let e = nwb::read_session(&dir.path().join("bad_intervals.nwb"), &cases[0].1).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("bad_intervals.nwb")
                && m.contains("/intervals/trials")
                && m.contains("missing group"),
            "{m}"
        );
        let e = nwb::read_session(
            &dir.path().join("units.nwb"),
            &src("units", "trials", Some("nope")),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/intervals/trials/nope"), "{e}");
        let mut bad =
            serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&spec).unwrap())
                .unwrap();
        bad["recordings"][0]["layers"][0]["units"] = serde_json::json!([10, 99]);
        write_json(&spec, &bad);
        let e = import(&spec, &out).unwrap_err();
        assert_eq!(e.code(), "lrx::import::unit_not_found");
        assert!(
            e.to_string().contains("unit 99") && e.to_string().contains("units.nwb"),
            "{e}"
        );
    }
}

/// A recordings spec (`.lrx`) checks to the same declaration as its JSON form and imports to
/// the same features, and its manifest carries the spec hash `lrx check` computes.
#[test]
fn recordings_spec_imports_like_its_json_form() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("m1")).unwrap();
    for (f, n) in [("m1/day0.npy", 12), ("m1/day5.npy", 12)] {
        let x: Vec<f64> = (0..n * 7).map(|_| rng.random::<f64>() - 0.3).collect();
        write_npy_f64(&dir.path().join(f), n, 7, &x);
    }
    let lrx = dir.path().join("rec.lrx");
    std::fs::write(
        &lrx,
        r#"// two areas of one mouse
recordings { observables = [actraw_mean, actsq_median, actabs_kurtosis] }
recording m { id = "mouse-1", rule = bp
  sessions = { 5 epochs: "m1/day5.npy", 0: "m1/day0.npy" }
  layer V1 { position = early, units = [0, 1, 2, 3] }
  layer LM { position = deep, units = [6, 4, 5] }
}
"#,
    )
    .unwrap();
    let json = dir.path().join("rec.json");
    write_json(
        &json,
        &serde_json::json!({
            "observables": ["actraw_mean", "actsq_median", "actabs_kurtosis"],
            "recordings": [{
                "id": "mouse-1", "rule": "bp",
                "layers": [
                    {"name": "V1", "position": "early", "units": [0, 1, 2, 3]},
                    {"name": "LM", "position": "deep", "units": [6, 4, 5]},
                ],
                "sessions": [{"epoch": 0, "file": "m1/day0.npy"}, {"epoch": 5, "file": "m1/day5.npy"}],
            }],
        }),
    );
    let mut sources = crate::source::SourceMap::new();
    let checked = crate::check::check_recordings_path(&lrx, &mut sources).unwrap();
    assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
    let from_json: RecordingsFile = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        serde_json::to_value(&checked.value).unwrap(),
        serde_json::to_value(&from_json).unwrap()
    );
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let ma = import_checked(&checked.value, &lrx, &a).unwrap();
    import(&json, &b).unwrap();
    assert_eq!(ma.spec_hash, checked.value.spec_hash);
    assert_eq!(ma.spec_hash.len(), 16);
    let rows = |d: &Path| {
        let r = read_observations(&feature_files(d).unwrap()[0], &Condition::Plain).unwrap();
        (r.observable, r.value)
    };
    let (ra, rb) = (rows(&a), rows(&b));
    assert_eq!(ra.0.len(), 2 * 2 * 3);
    assert_eq!(ra, rb);
    let runs = |d: &Path| format!("{:?}", read_runs(&d.join("runs.parquet")).unwrap());
    assert_eq!(runs(&a), runs(&b));
}
