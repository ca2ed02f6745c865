//! IDX reader tests: small files written here (plain and gzip, well-formed and malformed), and
//! the real Fashion-MNIST files when the Debian package is installed.

use super::*;
use std::io::Write;

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    test_file(dims, data, false)
}

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// 5 images of 3 × 4, pixel j of image i = 10·i + j, and labels 0..5 mod 3.
fn sample() -> (Vec<u8>, Vec<u8>) {
    let px: Vec<u8> = (0..5)
        .flat_map(|i| (0..12).map(move |j| 10 * i + j))
        .collect();
    let labels: Vec<u8> = (0..5).map(|i| i % 3).collect();
    (idx(&[5, 3, 4], &px), idx(&[5], &labels))
}

fn write(dir: &Path, name: &str, b: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, b).unwrap();
    p
}

/// The error message of reading `images` (and `labels`) as a pair with 10 classes.
fn pair_err(dir: &Path, images: &[u8], labels: &[u8]) -> String {
    let x = write(dir, "x-idx3-ubyte", images);
    let y = write(dir, "y-idx1-ubyte", labels);
    read_pair(&x, &y, 10).unwrap_err().to_string()
}

#[test]
fn reads_plain_and_gzip_alike() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = sample();
    let plain = read_pair(&write(dir.path(), "a", &x), &write(dir.path(), "b", &y), 3).unwrap();
    // gzip is recognised by its magic bytes, not by the name
    let zipped = read_pair(
        &write(dir.path(), "c.gz", &gz(&x)),
        &write(dir.path(), "d", &gz(&y)),
        3,
    )
    .unwrap();
    assert_eq!(plain, zipped);
    let (im, lab) = plain;
    assert_eq!((im.n, im.rows, im.cols), (5, 3, 4));
    assert_eq!(im.pixels.len(), 60);
    assert_eq!(im.pixels[12 + 5], 15, "image 1, row 1, column 1");
    assert_eq!(lab, vec![0, 1, 2, 0, 1]);
}

#[test]
fn bad_magic_numbers_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = sample();
    // label and image files swapped
    let e = pair_err(dir.path(), &y, &x);
    assert!(e.contains("x-idx3-ubyte"), "{e}");
    assert!(
        e.contains("magic number 0x00000801") && e.contains("(this is a label file)"),
        "{e}"
    );
    assert!(e.contains("starts with 0x00000803"), "{e}");
    // a file that is not IDX at all
    let e = pair_err(dir.path(), b"<html>not found</html>", &y);
    assert!(e.contains("not an IDX magic number"), "{e}");
    // IDX, but of floats
    let mut f = x.clone();
    f[2] = 0x0d;
    let e = pair_err(dir.path(), &f, &y);
    assert!(
        e.contains("0x00000d03 (3 dimension(s) of 32-bit floats)"),
        "{e}"
    );
    // images with 2 dimensions
    let e = pair_err(dir.path(), &idx(&[5, 12], &x[16..]), &y);
    assert!(e.contains("0x00000802"), "{e}");
}

#[test]
fn truncated_and_overlong_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = sample();
    let e = pair_err(dir.path(), &x[..10], &y);
    assert!(
        e.contains("x-idx3-ubyte: is truncated: 10 bytes, shorter than the 16-byte header"),
        "{e}"
    );
    let e = pair_err(dir.path(), &x[..2], &y);
    assert!(e.contains("is truncated: 2 bytes"), "{e}");
    let e = pair_err(dir.path(), &x[..16 + 30], &y);
    assert!(
        e.contains(
            "its header announces 5 × 3 × 4 bytes of data (76 bytes with the header) but it has 46 bytes (2 whole images)"
        ),
        "{e}"
    );
    let e = pair_err(dir.path(), &x, &y[..11]);
    assert!(
        e.contains("y-idx1-ubyte: is truncated") && e.contains("announces 5 bytes"),
        "{e}"
    );
    let mut long = x.clone();
    long.extend([0u8; 7]);
    let e = pair_err(dir.path(), &long, &y);
    assert!(
        e.contains("has 7 bytes after the 5 × 3 × 4 bytes of data its header announces"),
        "{e}"
    );
    // a truncated gzip stream
    let z = gz(&x);
    let e = pair_err(dir.path(), &z[..z.len() / 2], &y);
    assert!(
        e.contains("is gzip-compressed but cannot be decompressed"),
        "{e}"
    );
    // empty images
    let e = pair_err(dir.path(), &idx(&[5, 0, 4], &[]), &y);
    assert!(e.contains("has images of 0 × 4 pixels"), "{e}");
}

#[test]
fn counts_and_labels_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (x, _) = sample();
    let e = pair_err(dir.path(), &x, &idx(&[4], &[0, 1, 2, 3]));
    assert!(
        e.contains("x-idx3-ubyte: has 5 images but its label file")
            && e.contains("y-idx1-ubyte has 4 labels"),
        "{e}"
    );
    let e = pair_err(dir.path(), &x, &idx(&[5], &[0, 1, 12, 3, 11]));
    assert!(
        e.contains(
            "y-idx1-ubyte: label 12 at index 2 is not below the number of classes (10); set `classes` to at least 13"
        ),
        "{e}"
    );
    let e = read_images(&dir.path().join("absent")).unwrap_err();
    assert!(e.to_string().contains("absent: cannot read"), "{e}");
}

#[test]
fn locate_prefers_the_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(locate(dir.path(), "f"), None);
    write(dir.path(), "f.gz", b"");
    assert_eq!(locate(dir.path(), "f"), Some(dir.path().join("f.gz")));
    write(dir.path(), "f", b"");
    assert_eq!(locate(dir.path(), "f"), Some(dir.path().join("f")));
}

#[test]
fn padding_is_centred() {
    let im = Images {
        n: 2,
        rows: 2,
        cols: 3,
        pixels: (1..=12).collect(),
    };
    let p = pad_centred(im.clone(), 5);
    assert_eq!(p.len(), 2 * 25);
    // margins: top (5-2)/2 = 1, left (5-3)/2 = 1; the odd row goes to the bottom
    #[rustfmt::skip]
    let first = [
        0, 0, 0, 0, 0,
        0, 1, 2, 3, 0,
        0, 4, 5, 6, 0,
        0, 0, 0, 0, 0,
        0, 0, 0, 0, 0,
    ];
    assert_eq!(&p[..25], &first);
    assert_eq!(p[25 + 6], 7);
    assert_eq!(pad_centred(im, 3).len(), 18, "rows 2 < 3: padded to 3 × 3");
    let same = Images {
        n: 1,
        rows: 2,
        cols: 2,
        pixels: vec![1, 2, 3, 4],
    };
    assert_eq!(pad_centred(same.clone(), 2), vec![1, 2, 3, 4]);
    assert_eq!(pad_centred(same, 4)[5..7], [1, 2]);
}

#[test]
fn pixel_stats_are_exact() {
    let px: Vec<u8> = (0..1000u32).map(|i| ((i * 37) % 256) as u8).collect();
    // two-pass reference in f64
    let f: Vec<f64> = px.iter().map(|&p| f64::from(p) / 255.0).collect();
    let m = f.iter().sum::<f64>() / f.len() as f64;
    let v = f.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / f.len() as f64;
    let (mean, std) = pixel_stats(&px);
    assert!((mean - m).abs() < 1e-15, "{mean} {m}");
    assert!((std - v.sqrt()).abs() < 1e-12, "{std} {}", v.sqrt());
    assert_eq!(pixel_stats(&[7, 7, 7]), (7.0 / 255.0, 0.0));
}

#[test]
fn subsets_are_seeded_sorted_and_distinct() {
    assert_eq!(subset(5, 5, 3, 0), vec![0, 1, 2, 3, 4]);
    let a = subset(1000, 100, 1, 0);
    assert_eq!(a, subset(1000, 100, 1, 0));
    assert_ne!(a, subset(1000, 100, 2, 0));
    assert_ne!(a, subset(1000, 100, 1, 1));
    assert_eq!(a.len(), 100);
    assert!(a.windows(2).all(|w| w[0] < w[1]));
    assert!(*a.last().unwrap() < 1000);
    // not the first 100
    assert!(*a.last().unwrap() > 500);
    let (x, y) = sample();
    let im = parse_images(Path::new("x"), x).unwrap();
    let lab = parse_labels(Path::new("y"), y, 3).unwrap();
    let (s, l) = select(&im, &lab, &[1, 4]);
    assert_eq!((s.n, l), (2, vec![1, 1]));
    assert_eq!(s.pixels[..2], [10, 11]);
    assert_eq!(s.pixels[12..14], [40, 41]);
}

#[test]
fn missing_data_is_a_problem_with_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let params = |p: &Path| {
        let mut m = BTreeMap::new();
        m.insert("path".to_string(), Value::Str(p.to_string_lossy().into()));
        m
    };
    let absent = dir.path().join("nowhere");
    let p = data_path_problem("fashion_mnist", &params(&absent)).unwrap();
    assert_eq!(p.param, "path");
    assert!(p.message.contains("does not exist"), "{}", p.message);
    assert!(
        p.help
            .contains("sudo apt-get install dataset-fashion-mnist"),
        "{}",
        p.help
    );
    let (x, y) = sample();
    let d = dir.path();
    write(d, "train-images-idx3-ubyte.gz", &gz(&x));
    write(d, "train-labels-idx1-ubyte", &y);
    write(d, "t10k-images-idx3-ubyte", &x);
    let p = data_path_problem("fashion_mnist", &params(d)).unwrap();
    assert!(
        p.message
            .contains("lacks `t10k-labels-idx1-ubyte` (plain or .gz)"),
        "{}",
        p.message
    );
    write(d, "t10k-labels-idx1-ubyte.gz", &gz(&y));
    assert_eq!(data_path_problem("fashion_mnist", &params(d)), None);
    // idx_images reads its file names from the call
    let mut q = params(d);
    q.insert("val_labels".into(), Value::Str("other-labels".into()));
    let p = data_path_problem("idx_images", &q).unwrap();
    assert!(p.message.contains("lacks `other-labels`"), "{}", p.message);
    assert!(p.help.contains("val_labels"), "{}", p.help);
    assert_eq!(data_path_problem("cifar10", &params(&absent)), None);
    assert_eq!(
        data_path_problem("synthetic_images", &BTreeMap::new()),
        None
    );
}

/// The real Fashion-MNIST (Debian's `dataset-fashion-mnist`), when installed: 60,000 + 10,000
/// images of 28 × 28, 6,000 / 1,000 per class, first labels and pixel sums as numpy reads them
/// (`gzip.open(...).read()`, `np.frombuffer(..., offset=16)`).
#[test]
fn real_fashion_mnist_when_installed() {
    let dir = Path::new(FASHION_MNIST_DIR);
    let Some(p) = locate(dir, "train-images-idx3-ubyte") else {
        eprintln!("skipped: {FASHION_MNIST_DIR} not installed ({FASHION_MNIST_INSTALL})");
        return;
    };
    let f = Files::default();
    let (x, y) = read_pair(&p, &locate(dir, &f.train_labels).unwrap(), 10).unwrap();
    let (vx, vy) = read_pair(
        &locate(dir, &f.val_images).unwrap(),
        &locate(dir, &f.val_labels).unwrap(),
        10,
    )
    .unwrap();
    assert_eq!((x.n, x.rows, x.cols, vx.n), (60_000, 28, 28, 10_000));
    let counts = |l: &[u8]| {
        let mut c = [0usize; 10];
        for &v in l {
            c[usize::from(v)] += 1;
        }
        c
    };
    assert_eq!(counts(&y), [6000; 10]);
    assert_eq!(counts(&vy), [1000; 10]);
    assert_eq!(y[..10], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    assert_eq!(vy[..10], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    let sum = |p: &[u8]| p.iter().map(|&v| u64::from(v)).sum::<u64>();
    assert_eq!(sum(&x.pixels[..784]), 76_247);
    assert_eq!(sum(&x.pixels), 3_431_114_169);
    assert_eq!(sum(&vx.pixels[..784]), 33_456);
    // numpy: (x / 255).mean(), .std() over the training set, at 28 and zero-padded to 32
    let (m, s) = pixel_stats(&x.pixels);
    assert!((m - 0.286_040_596_988_795_5).abs() < 1e-12, "{m}");
    assert!((s - 0.353_024_244_514_922_5).abs() < 1e-9, "{s}");
    let (m, s) = pixel_stats(&pad_centred(x, 32));
    assert!((m - 0.218_999_832_069_546_6).abs() < 1e-12, "{m}");
    assert!((s - 0.331_811_372_999_959).abs() < 1e-9, "{s}");
}
