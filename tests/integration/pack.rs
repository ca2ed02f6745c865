//! `lrx pack` and `lrx reproduce PACK` as a user runs them: a study on IDX data with a local
//! import is run, packed from its study directory, moved and reproduced from the pack alone;
//! a changed, missing or added data file is named before anything runs; a pack made from a
//! spec carries the data with `--with-data`.

use lrx::pack;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lrx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lrx"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Writes an IDX file: unsigned bytes with the given dimensions (big-endian header).
fn write_idx(path: &Path, dims: &[u32], bytes: &[u8], gz: bool) {
    let mut v = vec![0u8, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend_from_slice(bytes);
    if gz {
        let f = std::fs::File::create(
            path.with_extension(
                path.extension()
                    .map(|e| format!("{}.gz", e.to_string_lossy()))
                    .unwrap_or_else(|| "gz".into()),
            ),
        )
        .unwrap();
        let mut w = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        w.write_all(&v).unwrap();
        w.finish().unwrap();
    } else {
        std::fs::write(path, v).unwrap();
    }
}

/// A 4-class IDX data set of 8 × 8 images whose class is a bright quadrant.
fn write_data(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, n, gz) in [("train", 64u32, false), ("t10k", 32, true)] {
        let mut px = vec![];
        let mut labels = vec![];
        for i in 0..n {
            let c = (i % 4) as u8;
            labels.push(c);
            for r in 0..8u32 {
                for col in 0..8u32 {
                    let q = (r / 4) * 2 + col / 4;
                    px.push(if q == u32::from(c) {
                        200
                    } else {
                        (i * 7 + r * 3 + col) as u8 % 60
                    });
                }
            }
        }
        write_idx(
            &dir.join(format!("{name}-images-idx3-ubyte")),
            &[n, 8, 8],
            &px,
            gz,
        );
        write_idx(
            &dir.join(format!("{name}-labels-idx1-ubyte")),
            &[n],
            &labels,
            gz,
        );
    }
}

fn write_spec(lab: &Path, data: &Path) -> PathBuf {
    std::fs::create_dir_all(lab.join("lib")).unwrap();
    std::fs::write(
        lab.join("lib/common.lrx"),
        "// Shared settings of the lab.\nlet rules = [sgdm, fa]\n",
    )
    .unwrap();
    let spec = lab.join("study.lrx");
    std::fs::write(
        &spec,
        format!(
            r#"import paper
import "lib/common.lrx" as common

study packed {{
  output = "out"
  seed   = 1
  device = cpu
}}

task quads = idx_images(path = "{}", classes = 4, size = 8)

train {{
  task       = quads
  arch       = mlp(hidden = [16])
  rule       in common.rules
  lr         = 0.01
  batch      = 16
  epochs     = 1
  checkpoint = every(1 epochs)
}}

observe paper.candidates {{
  stimuli = val(16)
}}
"#,
            data.display()
        ),
    )
    .unwrap();
    spec
}

#[test]
fn pack_a_study_and_reproduce_it_from_the_pack() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data/quads");
    write_data(&data);
    let lab = d.path().join("lab");
    let spec = write_spec(&lab, &data);
    let study = lab.join("out");
    let o = lrx()
        .arg("run")
        .arg(&spec)
        .arg("-o")
        .arg(&study)
        .args(["--jobs", "1", "--no-classify"])
        .output()
        .unwrap();
    assert!(o.status.success(), "lrx run: {}", text(&o));

    // Pack the study directory; packing twice gives the same bytes.
    let p = d.path().join("packed.lrxpack");
    let o = lrx()
        .arg("pack")
        .arg(&study)
        .arg("-o")
        .arg(&p)
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "lrx pack: {out}");
    assert!(
        out.contains("packed study `packed` (2 runs") && out.contains("4 file(s)"),
        "{out}"
    );
    let p2 = d.path().join("again.lrxpack");
    assert!(
        lrx()
            .arg("pack")
            .arg(&study)
            .arg("-o")
            .arg(&p2)
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(&p2).unwrap());

    // The manifest: the spec and its import, the stdlib module, the data lock, the study.
    let m = pack::read_manifest(&p).unwrap();
    assert_eq!(
        (m.study.as_str(), m.entry.as_str()),
        ("packed", "spec/study.lrx")
    );
    assert!(m.with_study && !m.with_data);
    assert_eq!(m.run_ids.len(), 2);
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    for want in [
        "spec/study.lrx",
        "spec/lib/common.lrx",
        "stdlib/paper.lrx",
        "study/manifest.json",
        "study/runs.parquet",
    ] {
        assert!(paths.contains(&want), "{want} not in {paths:?}");
    }
    assert_eq!(
        paths
            .iter()
            .filter(|p| p.starts_with("study/features/"))
            .count(),
        2
    );
    assert_eq!(m.data.len(), 1);
    assert_eq!(m.data[0].task, "idx_images");
    assert_eq!(m.data[0].files.len(), 4);
    assert_eq!(m.trained_on, vec!["cpu".to_string()]);
    // Any tar reads it.
    if let Ok(o) = Command::new("tar").arg("tzf").arg(&p).output() {
        let list = String::from_utf8_lossy(&o.stdout);
        assert!(
            list.contains("packed/lrxpack.json") && list.contains("packed/spec/lib/common.lrx"),
            "{list}"
        );
    }

    // Another lab: only the pack, elsewhere. The rerun matches the packed features exactly.
    let other = d.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let moved = other.join("packed.lrxpack");
    std::fs::rename(&p, &moved).unwrap();
    std::fs::remove_dir_all(&lab).unwrap();
    let o = lrx().arg("reproduce").arg(&moved).output().unwrap();
    let out = text(&o);
    assert!(o.status.success(), "lrx reproduce: {out}");
    for want in [
        "files verified (SHA-256)",
        "run ids: identical (2 runs)",
        "data: 4 file(s) in 1 location(s) match",
        " 0 differ",
        "reproduced",
    ] {
        assert!(out.contains(want), "`{want}` missing: {out}");
    }
    assert!(
        other
            .join("packed-reproduced/pack/spec/lib/common.lrx")
            .is_file()
    );

    // A changed data file is named and nothing runs.
    let img = data.join("train-images-idx3-ubyte");
    let mut bytes = std::fs::read(&img).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&img, &bytes).unwrap();
    let o = lrx()
        .arg("reproduce")
        .arg(&moved)
        .arg("-o")
        .arg(other.join("changed"))
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("train-images-idx3-ubyte` changed") && out.contains("nothing was run"),
        "{out}"
    );
    assert!(!other.join("changed/features").exists());
    // A missing one too.
    std::fs::remove_file(&img).unwrap();
    let o = lrx()
        .arg("reproduce")
        .arg(&moved)
        .arg("--plan-only")
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("lacks `train-images-idx3-ubyte`"), "{out}");
}

#[test]
fn pack_a_spec_with_its_data_and_refuse_a_changed_spec() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("quads");
    write_data(&data);
    let lab = d.path().join("lab");
    let spec = write_spec(&lab, &data);
    let p = d.path().join("s.lrxpack");
    let o = lrx()
        .arg("pack")
        .arg(&spec)
        .arg("-o")
        .arg(&p)
        .arg("--with-data")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let m = pack::read_manifest(&p).unwrap();
    assert!(m.with_data && !m.with_study);
    assert_eq!(m.data[0].packed.as_deref(), Some("data/0-idx_images"));
    assert!(
        m.files
            .iter()
            .any(|f| f.path == "data/0-idx_images/t10k-images-idx3-ubyte.gz")
    );
    // With the data in place: verified, and nothing to compare with.
    let o = lrx().arg("reproduce").arg(&p).output().unwrap();
    let out = text(&o);
    assert!(
        o.status.success() && out.contains("holds no features to compare with"),
        "{out}"
    );
    // Without it: the help points at the packed copy.
    std::fs::remove_dir_all(&data).unwrap();
    let o = lrx()
        .arg("reproduce")
        .arg(&p)
        .arg("--plan-only")
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("the pack holds the data"), "{out}");

    // A spec that is not a pack needs --against.
    let o = lrx().arg("reproduce").arg(&spec).output().unwrap();
    assert!(text(&o).contains("--against"), "{}", text(&o));
    // Packing without the data is an error that names it.
    let o = lrx()
        .arg("pack")
        .arg(&spec)
        .arg("-o")
        .arg(d.path().join("x.lrxpack"))
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("train-images-idx3-ubyte"), "{out}");
}
