use super::*;
use crate::features::observable::ObservableId;
use crate::features::pyref;
use crate::features::schema::ObservationRow;
use crate::features::writer::{FileMetadata, feature_path, write_features, write_runs};
use crate::ir::RealismCondition;

const OBS: [&str; 4] = [
    "weightabs_median",
    "actraw_norm",
    "gradavgsq_id",
    "weightraw_skew",
];
const EPOCHS: [i64; 3] = [0, 5, 10];

/// A deterministic, distinct value per cell (NaN for weightraw_skew at epoch 10 of layer 1).
fn cell(run: usize, layer: usize, epoch: i64, k: usize, seed: i64) -> f64 {
    if k == 3 && epoch == 10 && layer == 1 {
        return f64::NAN;
    }
    run as f64 * 1000.0 + layer as f64 * 100.0 + epoch as f64 + k as f64 * 0.1 + seed as f64 * 0.01
}

fn rows_for(run: usize, layers: &[&str], epochs: &[i64]) -> Vec<ObservationRow> {
    let mut out = Vec::new();
    for &epoch in epochs {
        for (li, l) in layers.iter().enumerate() {
            for (seed, sigma, frac) in [(-1i64, 0.0, 1.0), (3, 0.5, 0.25)] {
                for (k, o) in OBS.iter().enumerate() {
                    out.push(ObservationRow {
                        epoch,
                        layer: l.to_string(),
                        layer_index: li as i32,
                        layer_position: LayerPosition::of(li, layers.len()),
                        observable: ObservableId::parse(o).unwrap(),
                        noise_sigma: sigma,
                        unit_fraction: frac,
                        realism_seed: seed,
                        value: cell(run, li, epoch, k, seed),
                        measurement: Default::default(),
                    });
                }
            }
        }
    }
    out
}

fn meta(run: &str) -> FileMetadata {
    FileMetadata::new(run, "spec-abc", "2.11.0", "cpu")
}

fn run_record(id: &str, rule: &str, batch: i64) -> RunRecord {
    RunRecord {
        run_id: id.into(),
        rule: rule.into(),
        status: "done".into(),
        performance: Default::default(),
        factors: [
            ("task".to_string(), FactorValue::Str("cifar10".into())),
            ("batch_size".to_string(), FactorValue::Int(batch)),
            ("lr".to_string(), FactorValue::Float(0.01)),
        ]
        .into_iter()
        .collect(),
    }
}

/// A study with runs r0 (sgdm), r1 (kolen pollack), r2 (sgdm); layers conv1, fc2.
fn study() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let layers = ["conv1", "fc2"];
    let runs = [("r0", "sgdm"), ("r1", "kolen pollack"), ("r2", "sgdm")];
    for (i, (id, rule)) in runs.iter().enumerate() {
        write_features(dir.path(), rule, &meta(id), &rows_for(i, &layers, &EPOCHS)).unwrap();
    }
    let recs: Vec<RunRecord> = runs
        .iter()
        .enumerate()
        .map(|(i, (id, r))| run_record(id, r, 128 << i))
        .collect();
    write_runs(dir.path(), &recs, &meta("")).unwrap();
    dir
}

#[test]
fn roundtrip_and_pivot() {
    let dir = study();
    let t = load_features(&[dir.path()], &Condition::Plain, None).unwrap();
    assert_eq!(t.x.shape(), &[6, 3, 4]);
    assert_eq!(t.observables, OBS);
    assert_eq!(t.epochs, EPOCHS);
    assert_eq!(t.run_ids, ["r0", "r0", "r1", "r1", "r2", "r2"]);
    assert_eq!(t.layers, ["conv1", "fc2", "conv1", "fc2", "conv1", "fc2"]);
    assert_eq!(
        t.rules,
        [
            "sgdm",
            "sgdm",
            "kolen pollack",
            "kolen pollack",
            "sgdm",
            "sgdm"
        ]
    );
    // Two layers: g = ⌊2/3⌋ = 0, so both are deep (method.md §1.5).
    assert_eq!(t.positions[0], LayerPosition::Deep);
    assert_eq!(t.factors["batch_size"][2], Some(FactorValue::Int(256)));
    assert_eq!(
        t.factors["task"][5],
        Some(FactorValue::Str("cifar10".into()))
    );
    assert_eq!(t.factors["lr"][0], Some(FactorValue::Float(0.01)));
    for n in 0..6 {
        let run = n / 2;
        let layer = n % 2;
        for (ti, &e) in EPOCHS.iter().enumerate() {
            for k in 0..4 {
                let want = cell(run, layer, e, k, -1);
                assert!(pyref::close(t.x[[n, ti, k]], want, 0.0), "{n} {e} {k}");
            }
        }
    }
    // Another condition, a chosen subset and order of observables.
    let cond = Condition::Realism(RealismCondition {
        sigma: 0.5,
        fraction: 0.25,
        seed: 3,
        model: Default::default(),
    });
    let pick = vec!["gradavgsq_id".to_string(), "weightabs_median".to_string()];
    let t = load_features(&[dir.path()], &cond, Some(&pick)).unwrap();
    assert_eq!(t.x.shape(), &[6, 3, 2]);
    assert_eq!(t.x[[3, 2, 0]], cell(1, 1, 10, 2, 3));
    assert_eq!(t.x[[3, 2, 1]], cell(1, 1, 10, 0, 3));
    // A condition nobody recorded.
    let none = Condition::Realism(RealismCondition {
        sigma: 9.0,
        fraction: 0.25,
        seed: 3,
        model: Default::default(),
    });
    assert!(matches!(
        load_features(&[dir.path()], &none, None),
        Err(ReadError::NoRows { .. })
    ));
}

#[test]
fn two_study_dirs_and_duplicate_runs() {
    let a = study();
    let b = tempfile::tempdir().unwrap();
    write_features(
        b.path(),
        "adam",
        &meta("q0"),
        &rows_for(7, &["conv1", "fc2"], &EPOCHS),
    )
    .unwrap();
    write_runs(b.path(), &[run_record("q0", "adam", 512)], &meta("")).unwrap();
    let t = load_features(&[a.path(), b.path()], &Condition::Plain, None).unwrap();
    assert_eq!(t.x.shape(), &[8, 3, 4]);
    assert_eq!(t.rules[0], "adam");
    // The same run in two studies is an error naming both files.
    let e = load_features(&[a.path(), a.path()], &Condition::Plain, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("run `r1` has feature files"), "{e}");
}

#[test]
fn missing_checkpoint_names_file_and_run() {
    let dir = study();
    write_features(
        dir.path(),
        "sgdm",
        &meta("r2"),
        &rows_for(2, &["conv1", "fc2"], &[0, 10]),
    )
    .unwrap();
    let e = load_features(&[dir.path()], &Condition::Plain, None).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, ReadError::MissingCheckpoint { epoch: 5, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("run `r2`") && msg.contains("run=r2/part-0.parquet"),
        "{msg}"
    );
}

#[test]
fn missing_observable_duplicate_and_runs_table_errors() {
    let dir = study();
    let mut rows = rows_for(0, &["conv1", "fc2"], &EPOCHS);
    rows.retain(|r| !(r.epoch == 5 && r.layer == "fc2" && r.observable.name() == "actraw_norm"));
    write_features(dir.path(), "sgdm", &meta("r0"), &rows).unwrap();
    let e = load_features(&[dir.path()], &Condition::Plain, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("run `r0`") && e.contains("`actraw_norm` is missing"),
        "{e}"
    );

    let mut rows = rows_for(0, &["conv1", "fc2"], &EPOCHS);
    rows.push(rows[0].clone());
    write_features(dir.path(), "sgdm", &meta("r0"), &rows).unwrap();
    let e = load_features(&[dir.path()], &Condition::Plain, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("appears twice"), "{e}");

    write_features(
        dir.path(),
        "sgdm",
        &meta("r0"),
        &rows_for(0, &["conv1", "fc2"], &EPOCHS),
    )
    .unwrap();
    write_features(
        dir.path(),
        "sgdm",
        &meta("zz"),
        &rows_for(0, &["conv1", "fc2"], &EPOCHS),
    )
    .unwrap();
    let e = load_features(&[dir.path()], &Condition::Plain, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("run `zz`") && e.contains("not in the runs table"),
        "{e}"
    );
    std::fs::remove_dir_all(feature_path(dir.path(), "sgdm", "zz").parent().unwrap()).unwrap();

    write_features(
        dir.path(),
        "adam",
        &meta("r0"),
        &rows_for(0, &["conv1", "fc2"], &EPOCHS),
    )
    .unwrap();
    let e = load_features(&[dir.path()], &Condition::Plain, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("rule `adam` in its path") && e.contains("`sgdm` in the runs table"),
        "{e}"
    );
    std::fs::remove_dir_all(feature_path(dir.path(), "adam", "r0").parent().unwrap()).unwrap();
    assert!(load_features(&[dir.path()], &Condition::Plain, None).is_ok());

    std::fs::remove_file(dir.path().join("runs.parquet")).unwrap();
    let e = load_features(&[dir.path()], &Condition::Plain, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("runs.parquet` is missing"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        load_features(&[empty.path()], &Condition::Plain, None),
        Err(ReadError::NoFiles { .. })
    ));
}

#[test]
fn writes_are_atomic_and_leave_no_temp_files() {
    let dir = study();
    let path = feature_path(dir.path(), "sgdm", "r0");
    let before = std::fs::read(&path).unwrap();
    // Rewriting replaces the file whole.
    write_features(
        dir.path(),
        "sgdm",
        &meta("r0"),
        &rows_for(0, &["conv1"], &[0]),
    )
    .unwrap();
    assert_ne!(std::fs::read(&path).unwrap(), before);
    let listing: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(listing, ["part-0.parquet"]);
    // A failed write (the target is a directory) keeps nothing behind.
    let bad = dir.path().join("features/rule=x/run=y/part-0.parquet");
    std::fs::create_dir_all(bad.join("sub")).unwrap();
    let e = crate::features::writer::write_observations(
        &bad,
        &meta("y"),
        &rows_for(0, &["conv1"], &[0]),
    );
    assert!(e.is_err());
    let listing: Vec<String> = std::fs::read_dir(bad.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        listing,
        ["part-0.parquet"],
        "only the (pre-existing) directory remains"
    );
    // A leftover hidden temp file from a crash is ignored by the reader.
    std::fs::remove_dir_all(dir.path().join("features/rule=x")).unwrap();
    std::fs::write(
        path.parent().unwrap().join(".part-0.parquet.tmp-1-0"),
        b"half a file",
    )
    .unwrap();
    write_features(
        dir.path(),
        "sgdm",
        &meta("r0"),
        &rows_for(0, &["conv1", "fc2"], &EPOCHS),
    )
    .unwrap();
    assert!(load_features(&[dir.path()], &Condition::Plain, None).is_ok());
}

#[test]
fn metadata_and_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    // More rows than one row group holds.
    let mut rows = Vec::new();
    for e in 0..(crate::features::writer::ROW_GROUP_ROWS as i64 / 8 + 50) {
        rows.extend(rows_for(0, &["conv1"], &[e]));
    }
    let path = write_features(dir.path(), "sgdm", &meta("big"), &rows).unwrap();
    let file = File::open(&path).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let md = b.metadata();
    assert_eq!(md.num_row_groups(), 2);
    assert!(
        md.row_groups()
            .iter()
            .all(|rg| rg.num_rows() as usize <= crate::features::writer::ROW_GROUP_ROWS)
    );
    let (batches, kv) = read_parquet(&path).unwrap();
    assert_eq!(
        batches.iter().map(|b| b.num_rows()).sum::<usize>(),
        rows.len()
    );
    assert_eq!(kv["schema_version"], SCHEMA_VERSION.to_string());
    assert_eq!(kv["run_id"], "big");
    assert_eq!(kv["spec_hash"], "spec-abc");
    assert_eq!(kv["libtorch_version"], "2.11.0");
    assert_eq!(kv["device"], "cpu");
    assert_eq!(kv["lrx_version"], env!("CARGO_PKG_VERSION"));
}

/// A file written by lrx, read by pyarrow and polars: schema, row counts, metadata, encodings
/// and every value equal what lrx wrote; hive partitions decode to the rule and run.
#[test]
fn pyarrow_and_polars_read_lrx_files() {
    let Some(py) = pyref::python_or_skip("pyarrow_and_polars_read_lrx_files") else {
        return;
    };
    let dir = study();
    let path = feature_path(dir.path(), "kolen pollack", "r1");
    let out = pyref::run(&py, "features_read_check.py", &[dir.path(), &path]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = rows_for(1, &["conv1", "fc2"], &EPOCHS);
    let pa = &v["pyarrow"];
    let names: Vec<&str> = pa["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(names, crate::features::schema::OBSERVATION_COLUMNS);
    let types: Vec<&str> = pa["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "string", "int64", "string", "int32", "string", "string", "string", "string", "string",
            "double", "double", "int64", "double"
        ]
    );
    assert_eq!(pa["num_rows"], rows.len());
    assert_eq!(pa["metadata"]["run_id"], "r1");
    assert_eq!(pa["metadata"]["schema_version"], SCHEMA_VERSION.to_string());
    assert_eq!(pa["metadata"]["spec_hash"], "spec-abc");
    assert_eq!(pa["metadata"]["device"], "cpu");
    assert_eq!(pa["metadata"]["libtorch_version"], "2.11.0");
    assert_eq!(pa["compression"], serde_json::json!(["ZSTD"]));
    for c in ["layer", "observable", "measure"] {
        let enc = pa["encodings"][c].to_string();
        assert!(enc.contains("DICTIONARY"), "{c}: {enc}");
    }
    let values = pyref::from_bits(&pa["floats"]["value"]);
    let sig = pyref::from_bits(&pa["floats"]["noise_sigma"]);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(values[i].to_bits(), r.value.to_bits(), "row {i}");
        assert_eq!(sig[i], r.noise_sigma);
        assert_eq!(pa["strings"]["observable"][i], r.observable.name());
        assert_eq!(pa["strings"]["layer"][i], r.layer);
        assert_eq!(pa["strings"]["run_id"][i], "r1");
        assert_eq!(
            pa["strings"]["layer_position"][i],
            r.layer_position.as_str()
        );
        assert_eq!(pa["ints"]["epoch"][i], r.epoch);
        assert_eq!(pa["ints"]["realism_seed"][i], r.realism_seed);
        assert_eq!(pa["ints"]["layer_index"][i], r.layer_index);
    }
    let pl = &v["polars"];
    assert_eq!(pl["num_rows"], rows.len());
    let pv = pyref::from_bits(&pl["value"]);
    assert!(
        pv.iter()
            .zip(&rows)
            .all(|(a, r)| a.to_bits() == r.value.to_bits())
    );
    assert_eq!(pl["observable"][5], rows[5].observable.name());
    let d = &v["dataset"];
    assert_eq!(d["pyarrow_rows"], 3 * rows.len());
    assert_eq!(d["polars_rows"], 3 * rows.len());
    assert_eq!(
        d["pyarrow_rules"],
        serde_json::json!(["kolen pollack", "sgdm"])
    );
    assert_eq!(d["pyarrow_runs"], serde_json::json!(["r0", "r1", "r2"]));
    assert_eq!(
        d["polars_rules"],
        serde_json::json!(["kolen pollack", "sgdm"])
    );
    let runs = &v["runs"];
    assert_eq!(
        runs["names"],
        serde_json::json!([
            "run_id",
            "rule",
            "status",
            "task",
            "batch_size",
            "lr",
            "val_epoch",
            "val_acc",
            "val_loss"
        ])
    );
    assert_eq!(
        runs["dtypes"],
        serde_json::json!([
            "String", "String", "String", "String", "Int64", "Float64", "Int64", "Float64",
            "Float64"
        ])
    );
    assert_eq!(runs["rows"][1]["rule"], "kolen pollack");
    assert_eq!(runs["rows"][2]["batch_size"], 512);
    assert_eq!(runs["rows"][0]["lr"], 0.01f64.to_bits());
    assert_eq!(runs["metadata"]["table"], "runs");
}

/// Seeds above i64::MAX widen their column to UInt64 and read back as themselves (issue 21:
/// they were stored as negative Int64 values); small seeds in the same column stay `Int`.
#[test]
fn huge_seeds_roundtrip_as_uint64() {
    let dir = tempfile::tempdir().unwrap();
    let rec = |id: &str, seed: u64| RunRecord {
        run_id: id.into(),
        rule: "sgdm".into(),
        status: "done".into(),
        performance: Default::default(),
        factors: [(
            "model_seed".to_string(),
            crate::features::schema::seed_factor(seed),
        )]
        .into_iter()
        .collect(),
    };
    let recs = [rec("r0", 3), rec("r1", u64::MAX), rec("r2", 1 << 63)];
    let path = write_runs(dir.path(), &recs, &meta("")).unwrap();
    let schema = crate::features::schema::runs_schema(&recs).unwrap();
    assert_eq!(
        schema.field_with_name("model_seed").unwrap().data_type(),
        &arrow_schema::DataType::UInt64
    );
    let back = read_runs(&path).unwrap();
    let seeds: Vec<_> = back
        .iter()
        .map(|r| r.factors["model_seed"].clone())
        .collect();
    assert_eq!(
        seeds,
        [
            FactorValue::Int(3),
            FactorValue::UInt(u64::MAX),
            FactorValue::UInt(1 << 63)
        ]
    );
    assert_eq!(seeds[1].to_string(), "18446744073709551615");
}

/// Task performance round-trips through `runs.parquet` (its `val_*` columns) and through the
/// feature file's `performance` metadata, which the reader prefers.
#[test]
fn performance_roundtrips_through_runs_table_and_file_metadata() {
    use crate::features::schema::RunPerformance;
    let dir = tempfile::tempdir().unwrap();
    let hist = |a: f64| (1..=4).map(move |e| (e, Some(a + 0.01 * e as f64), Some(1.0 - a)));
    let p0 = RunPerformance::from_history(hist(0.5), &[0, 2, 4]);
    // A run whose last epoch was not evaluated: `last` is the epoch before.
    let p1 = RunPerformance::from_history(
        hist(0.7).map(|(e, a, l)| if e == 4 { (e, None, None) } else { (e, a, l) }),
        &[0, 2, 4],
    );
    assert_eq!(p0.checkpoints[0].val_acc, None);
    assert_eq!(p0.val_acc_at(2), Some(0.52));
    assert_eq!(p1.last.map(|c| c.epoch), Some(3));
    let mut recs = vec![run_record("r0", "sgdm", 32), run_record("r1", "fa", 64)];
    recs[0].performance = p0.clone();
    recs[1].performance = p1.clone();
    write_runs(dir.path(), &recs, &meta("")).unwrap();
    let back = read_runs(&runs_path(dir.path())).unwrap();
    for (r, p) in back.iter().zip([&p0, &p1]) {
        assert_eq!(r.performance.last, p.last, "{}", r.run_id);
        for e in [2, 4] {
            assert_eq!(r.performance.val_acc_at(e), p.val_acc_at(e));
            assert_eq!(r.performance.val_loss_at(e), p.val_loss_at(e));
        }
        // Factors do not include the performance columns.
        assert!(
            r.factors.keys().all(|k| !k.starts_with("val_")),
            "{:?}",
            r.factors
        );
    }
    // The feature file's copy wins over the runs table.
    let mut other = p0.clone();
    other.checkpoints[1].val_acc = Some(0.99);
    for (i, (id, rule)) in [("r0", "sgdm"), ("r1", "fa")].into_iter().enumerate() {
        let m = if i == 0 {
            meta(id).with_performance(other.clone())
        } else {
            meta(id)
        };
        write_features(dir.path(), rule, &m, &rows_for(i, &["conv1"], &EPOCHS)).unwrap();
    }
    let t = load_features(&[dir.path()], &Condition::Plain, None).unwrap();
    let i0 = t.run_ids.iter().position(|r| r == "r0").unwrap();
    let i1 = t.run_ids.iter().position(|r| r == "r1").unwrap();
    assert_eq!(t.performance[i0].val_acc_at(2), Some(0.99));
    assert_eq!(t.performance[i1].val_acc_at(2), p1.val_acc_at(2));
    // A reserved name as a factor is refused.
    let mut bad = run_record("r2", "sgdm", 32);
    bad.factors
        .insert("val_acc_e3".into(), FactorValue::Float(0.1));
    assert!(write_runs(dir.path(), &[bad], &meta("")).is_err());
}
