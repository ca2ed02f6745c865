use super::data::{Location, task_files};
use super::*;
use crate::value::{Call, Value};

fn manifest(files: Vec<PackedFile>) -> PackManifest {
    PackManifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        study: "s".into(),
        spec_hash: "0123".into(),
        entry: "spec/a.lrx".into(),
        lrx_version: "0".into(),
        libtorch_version: "unknown".into(),
        device: "cpu".into(),
        trained_on: vec![],
        stdlib_version: 1,
        run_ids: vec!["r1".into()],
        files,
        data: vec![],
        with_data: false,
        with_study: false,
    }
}

fn entries() -> Vec<Entry> {
    vec![
        Entry {
            path: "spec/a.lrx".into(),
            content: Content::Bytes(b"study s {}\n".to_vec()),
        },
        Entry {
            // Longer than tar's 100-byte name field: a GNU long-name entry.
            path: format!(
                "study/features/rule=fa/run={}/part-0.parquet",
                "x".repeat(90)
            ),
            content: Content::Bytes(vec![7u8; 5000]),
        },
    ]
}

fn checksums(e: &[Entry]) -> Vec<PackedFile> {
    e.iter().map(|e| e.checksum().unwrap()).collect()
}

#[test]
fn safe_paths() {
    for ok in ["a", "spec/a.lrx", "data/0-cifar10/data_batch_1.bin"] {
        assert!(safe_path(ok), "{ok}");
    }
    for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/."] {
        assert!(!safe_path(bad), "{bad}");
    }
}

#[test]
fn write_extract_round_trip_and_determinism() {
    let d = tempfile::tempdir().unwrap();
    let e = entries();
    let m = manifest(checksums(&e));
    let (p1, p2) = (d.path().join("a.lrxpack"), d.path().join("b.lrxpack"));
    write(&p1, &m, &e).unwrap();
    write(&p2, &m, &e).unwrap();
    assert_eq!(
        std::fs::read(&p1).unwrap(),
        std::fs::read(&p2).unwrap(),
        "packs must be byte-for-byte reproducible"
    );
    assert_eq!(read_manifest(&p1).unwrap(), m);
    let out = d.path().join("x");
    let (m2, n) = extract(&p1, &out).unwrap();
    assert_eq!((m2, n), (m, 2));
    assert_eq!(
        std::fs::read(out.join("spec/a.lrx")).unwrap(),
        b"study s {}\n"
    );
    assert_eq!(
        std::fs::read(out.join(&e[1].path)).unwrap(),
        vec![7u8; 5000]
    );
    // No temporary file is left beside the pack.
    let names: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn extraction_refuses_a_changed_missing_or_unlisted_entry() {
    let d = tempfile::tempdir().unwrap();
    let e = entries();
    let good = checksums(&e);
    // A manifest whose checksum of the first file is not the content's.
    let mut changed = good.clone();
    changed[0].sha256 = "0".repeat(64);
    let p = d.path().join("changed.lrxpack");
    write(&p, &manifest(changed), &e).unwrap();
    let err = extract(&p, &d.path().join("c")).unwrap_err();
    assert!(
        err.contains("spec/a.lrx") && err.contains("changed after packing"),
        "{err}"
    );
    // A manifest that lists a file the archive lacks.
    let mut more = good.clone();
    more.push(PackedFile {
        path: "spec/b.lrx".into(),
        bytes: 1,
        sha256: "0".repeat(64),
    });
    let p = d.path().join("more.lrxpack");
    write(&p, &manifest(more), &e).unwrap();
    let err = extract(&p, &d.path().join("m")).unwrap_err();
    assert!(
        err.contains("incomplete") && err.contains("spec/b.lrx"),
        "{err}"
    );
    // An archive entry the manifest does not list.
    let p = d.path().join("fewer.lrxpack");
    write(&p, &manifest(good[..1].to_vec()), &e).unwrap();
    let err = extract(&p, &d.path().join("f")).unwrap_err();
    assert!(err.contains("not listed"), "{err}");
}

#[test]
fn non_packs_are_named() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("spec.lrxpack");
    std::fs::write(&p, "study s {}\n").unwrap();
    let err = read_manifest(&p).unwrap_err();
    assert!(err.contains("is not a valid lrx pack"), "{err}");
    let err = read_manifest(&d.path().join("absent.lrxpack")).unwrap_err();
    assert!(err.contains("cannot open the pack"), "{err}");
    // A newer format version is refused with what to do.
    let mut m = manifest(vec![]);
    m.format_version = FORMAT_VERSION + 1;
    let p = d.path().join("new.lrxpack");
    write(&p, &m, &[]).unwrap();
    let err = read_manifest(&p).unwrap_err();
    assert!(err.contains("version 2 pack"), "{err}");
}

fn call(name: &str, params: &[(&str, &str)]) -> Call {
    let mut c = Call::new(name);
    for (k, v) in params {
        c = c.with(k, Value::Str((*v).into()));
    }
    c
}

fn touch(p: &std::path::Path) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, p.to_string_lossy().as_bytes()).unwrap();
}

#[test]
fn data_files_of_each_task() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    // IDX: plain or .gz, the four MNIST names.
    let idx = root.join("idx");
    for n in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte",
    ] {
        touch(&idx.join(n));
    }
    let got = task_files(&call("idx_images", &[("path", idx.to_str().unwrap())])).unwrap();
    assert_eq!(
        got,
        vec![Location {
            param: "path",
            dir: idx.clone(),
            files: vec![
                "train-images-idx3-ubyte".into(),
                "train-labels-idx1-ubyte.gz".into(),
                "t10k-images-idx3-ubyte.gz".into(),
                "t10k-labels-idx1-ubyte".into(),
            ],
        }]
    );
    std::fs::remove_file(idx.join("t10k-labels-idx1-ubyte")).unwrap();
    let err = task_files(&call("idx_images", &[("path", idx.to_str().unwrap())])).unwrap_err();
    assert!(err.contains("t10k-labels-idx1-ubyte"), "{err}");

    // image_folder with train/ and val/: class folders, image extensions only, sorted.
    let img = root.join("img");
    for f in [
        "train/cat/1.png",
        "train/cat/2.JPG",
        "train/cat/notes.txt",
        "train/dog/1.jpeg",
        "val/cat/9.png",
        "README.md",
    ] {
        touch(&img.join(f));
    }
    let got = task_files(&call("image_folder", &[("path", img.to_str().unwrap())])).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].files,
        vec![
            "train/cat/1.png",
            "train/cat/2.JPG",
            "train/dog/1.jpeg",
            "val/cat/9.png"
        ]
    );

    // audio_folder with val_path: two locations.
    let (tr, va) = (root.join("a/train"), root.join("a/val"));
    touch(&tr.join("yes/1.wav"));
    touch(&tr.join("no/1.WAV"));
    touch(&va.join("yes/2.wav"));
    let got = task_files(&call(
        "audio_folder",
        &[
            ("path", tr.to_str().unwrap()),
            ("val_path", va.to_str().unwrap()),
        ],
    ))
    .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].files, vec!["no/1.WAV", "yes/1.wav"]);
    assert_eq!(
        (got[1].param, got[1].files.clone()),
        ("val_path", vec!["yes/2.wav".to_string()])
    );

    // cifar10 names the first missing batch; generated tasks read nothing.
    let err = task_files(&call("cifar10", &[("path", root.to_str().unwrap())])).unwrap_err();
    assert!(err.contains("data_batch_1.bin"), "{err}");
    assert!(
        task_files(&Call::new("synthetic_images"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn sha256_matches_a_known_digest() {
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    let want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(super::data::sha256(b"abc"), want);
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("abc");
    std::fs::write(&p, b"abc").unwrap();
    assert_eq!(super::data::sha256_file(&p).unwrap(), (want.to_string(), 3));
}
