//! Opens the HTML report in headless Chromium and checks that it renders: every figure has an
//! inline SVG laid out at a non-zero size with its text, and the page loads no resource at all
//! (it is self-contained).
//!
//! Needs `chromium` (Debian package `chromium`; `scripts/setup.sh` installs it when it can) on
//! PATH, or its path in `LRX_CHROMIUM`. Without it the test fails with a message saying so,
//! unless `LRX_SKIP_BROWSER=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The browser, or None when `LRX_SKIP_BROWSER=1`; panics with instructions when missing.
fn chromium() -> Option<PathBuf> {
    if std::env::var("LRX_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("LRX_SKIP_BROWSER=1: skipping the headless-browser check of the report");
        return None;
    }
    if let Some(p) = std::env::var_os("LRX_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let found = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .find_map(|n| on_path(n));
    assert!(
        found.is_some(),
        "headless Chromium is needed to check that the HTML report renders: install it \
         (`sudo apt-get install -y chromium`, or run scripts/setup.sh), set LRX_CHROMIUM to the \
         browser, or set LRX_SKIP_BROWSER=1 to skip this test"
    );
    found
}

/// Runs the browser with a deadline; returns stdout.
fn run(browser: &Path, args: &[&str], limit: Duration) -> String {
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .args(args)
        .stdout(Stdio::from(out_file.reopen().unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "{} exited with {status}",
                browser.display()
            );
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} did not finish in {limit:?}", browser.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(out_file.path()).unwrap()
}

/// Reads `data-check="..."` (HTML-escaped JSON) from the dumped DOM.
fn probe_result(dom: &str) -> serde_json::Value {
    let i = dom.find("data-check=\"").unwrap_or_else(|| {
        panic!(
            "the probe did not run; DOM starts with:\n{}",
            &dom[..dom.len().min(500)]
        )
    });
    let rest = &dom[i + 12..];
    let j = rest.find('"').expect("closing quote");
    let json = rest[..j]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("bad probe JSON {json}: {e}"))
}

const PROBE: &str = r#"<script>
window.addEventListener('load', () => {
  const figs = [...document.querySelectorAll('figure')].map(f => {
    const s = f.querySelector('svg');
    if (!s) return {id: f.id, svg: false};
    const r = s.getBoundingClientRect();
    const texts = [...s.querySelectorAll('text')].filter(t => t.textContent.trim().length > 0);
    const shown = texts.filter(t => t.getBBox().width > 0).length;
    return {id: f.id, svg: true, w: r.width, h: r.height, texts: texts.length, shown};
  });
  const resources = performance.getEntriesByType('resource').map(e => e.name);
  document.body.setAttribute('data-check', JSON.stringify({
    figures: figs, sections: document.querySelectorAll('section').length, resources}));
});
</script>"#;

#[test]
fn html_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    lrx::report::fixture::write_demo_study(&dir);
    let files = lrx::report::write_report(&dir).expect("report");
    let html_path = files.html.expect("html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    let n_svg = html.matches("<svg ").count();
    assert!(n_svg >= 10, "the demo report has {n_svg} figures");

    // The report itself, as the browser parses it: same figures, same sections.
    let url = format!("file://{}", html_path.display());
    let dom = run(&browser, &["--dump-dom", &url], Duration::from_secs(120));
    assert_eq!(
        dom.matches("<svg").count(),
        n_svg,
        "inline SVGs after parsing"
    );
    assert_eq!(dom.matches("<figure").count(), n_svg);

    // A copy with a probe script: every figure's SVG is laid out and its text is drawn, and no
    // resource (image, font, style sheet) is fetched.
    let probe_path = html_path.with_file_name("probe.html");
    std::fs::write(
        &probe_path,
        html.replace("</body>", &format!("{PROBE}</body>")),
    )
    .unwrap();
    let url = format!("file://{}", probe_path.display());
    let dom = run(
        &browser,
        &["--virtual-time-budget=5000", "--dump-dom", &url],
        Duration::from_secs(120),
    );
    let r = probe_result(&dom);
    assert_eq!(r["sections"].as_u64(), Some(11), "{r}");
    assert_eq!(r["resources"].as_array().map(|a| a.len()), Some(0), "{r}");
    let figs = r["figures"].as_array().expect("figures");
    assert_eq!(figs.len(), n_svg, "{r}");
    for f in figs {
        assert_eq!(f["svg"], true, "{f}");
        assert!(
            f["w"].as_f64().unwrap() > 100.0 && f["h"].as_f64().unwrap() > 100.0,
            "{f}"
        );
        let texts = f["texts"].as_u64().unwrap();
        assert!(texts > 0, "figure without text: {f}");
        assert_eq!(f["shown"].as_u64(), Some(texts), "text not rendered: {f}");
    }

    // And a screenshot of the top of the page is not blank.
    let shot = tmp.path().join("shot.png");
    run(
        &browser,
        &[
            "--window-size=1280,2400",
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", html_path.display()),
        ],
        Duration::from_secs(120),
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "screenshot is a PNG");
    assert!(
        png.len() > 20_000,
        "screenshot looks blank ({} bytes)",
        png.len()
    );
}
