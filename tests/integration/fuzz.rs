//! Robustness: random bytes, truncations and single-character mutations of every spec never
//! make the checker panic; it exits 0 or 1 and every error carries a span.

use lrx::source::SourceMap;
use rand::{Rng, SeedableRng};

fn check_text(text: &str) -> Result<(), String> {
    let mut sources = SourceMap::new();
    let id = sources.add(
        "<fuzz>",
        Some(crate::root().join("specs/fuzz.lrx")),
        text.to_string(),
    );
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let checked = lrx::check::check_source(id, &mut sources);
        match checked {
            Ok(w) => lrx::plan::plan(&w.value)
                .err()
                .map(|d| d.0)
                .unwrap_or_default(),
            Err(d) => d.0,
        }
    }));
    match r {
        Err(_) => Err(format!("panic on input:\n{text}")),
        Ok(diags) => {
            for d in diags.iter().filter(|d| d.is_error()) {
                if d.span.is_none() {
                    return Err(format!(
                        "error without a span: {} on input:\n{text}",
                        d.message
                    ));
                }
            }
            Ok(())
        }
    }
}

#[test]
fn mutations_never_panic() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20201206);
    let alphabet: Vec<char> = "{}[]()=,.:%\"\\/*!<>&|-+_ \n\tabcxyz0123456789éλ"
        .chars()
        .collect();
    let mut inputs: Vec<String> = Vec::new();
    let mut specs: Vec<String> = crate::lrx_files(&crate::root().join("specs"))
        .iter()
        .chain(crate::lrx_files(&crate::root().join("tests/cases/valid")).iter())
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    specs.extend(lrx::stdlib::MODULES.iter().map(|(_, s)| s.to_string()));
    for s in &specs {
        let chars: Vec<char> = s.chars().collect();
        // Truncations.
        for _ in 0..40 {
            let n = rng.random_range(0..=chars.len());
            inputs.push(chars[..n].iter().collect());
        }
        // Single-character mutations: replace, delete, insert.
        for _ in 0..150 {
            let mut c = chars.clone();
            let i = rng.random_range(0..c.len());
            match rng.random_range(0..3) {
                0 => c[i] = alphabet[rng.random_range(0..alphabet.len())],
                1 => {
                    c.remove(i);
                }
                _ => c.insert(i, alphabet[rng.random_range(0..alphabet.len())]),
            }
            inputs.push(c.into_iter().collect());
        }
    }
    // Random bytes (as lossy UTF-8) and deep nesting.
    for _ in 0..200 {
        let n = rng.random_range(0..200);
        let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
        inputs.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    inputs.push(format!("let x = {}1{}", "[".repeat(5000), "]".repeat(5000)));
    inputs.push(format!("let x = {}", "-".repeat(20000)));
    inputs.push(format!("let x = {}", "(".repeat(3000)));
    let failures: Vec<String> = inputs.iter().filter_map(|t| check_text(t).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} inputs failed; first:\n{}",
        failures.len(),
        inputs.len(),
        failures[0]
    );
}

#[test]
fn cli_check_exits_0_or_1_on_mutated_files() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(crate::root().join("specs/quickstart.lrx")).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for k in 0..30 {
        let mut c: Vec<char> = base.chars().collect();
        let i = rng.random_range(0..c.len());
        c.remove(i);
        let p = dir.path().join(format!("m{k}.lrx"));
        std::fs::write(&p, c.into_iter().collect::<String>()).unwrap();
        let (code, _, _) = lrx::cli::run_captured(&["check", &p.display().to_string()]);
        assert!(code == 0 || code == 1, "exit {code}");
    }
}
