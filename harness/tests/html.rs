//! The HTML report in a real browser: headless Chromium loads the page
//! (no network: it is one self-contained file), runs its script, and the
//! failing case shows a timeline with its failing step marked. A
//! screenshot is left in the target directory for people to look at.
//!
//! Outside CI a missing Chromium skips this with one line; in CI it fails.

mod common;

use common::repo;

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("chromium is missing in CI: .ci/run must install it");
        }
        eprintln!(
            "skipped: chromium not found (apt-get install -y --no-install-recommends chromium)"
        );
    }
    found
}

/// A case that fails half an hour in: the door is held shut, so the lock
/// can never report released.
const FAILING: &str = r#"name: demo
cases:
  - name: held door is expected to open
    setup:
      - parcel: { compartment: M1, code: $pickup }
    steps:
      - chamber: { set: -5C }
      - wait: 30m
      - door: { compartment: M1, action: hold }
      - keys: "$pickup#"
      - expect: { lock: released, compartment: M1, within: 5s }
      - door: { compartment: M1, action: release }
  - name: passes
    steps:
      - keys: "1#"
      - expect: { display: "WRONG CODE", within: 2s }
"#;

fn headless(browser: &str, args: &[&str], page: &Path) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

#[test]
fn the_report_shows_a_timeline_with_the_failing_step_in_a_browser() {
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = dir.path().join("demo.yaml");
    std::fs::write(&suite, FAILING).expect("suite written");
    let page = dir.path().join("index.html");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .arg("run")
        .arg(&suite)
        .arg("--junit")
        .arg(dir.path().join("junit.xml"))
        .arg("--html")
        .arg(&page)
        .output()
        .expect("harness runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let html = std::fs::read_to_string(&page).expect("page written");
    // Self-contained: nothing to fetch.
    for outside in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(
            !html.contains(outside),
            "the page refers outside itself: {outside}"
        );
    }

    let Some(browser) = chromium() else { return };
    // The DOM after the page's script ran.
    let dom = headless(browser, &["--dump-dom"], &page);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains(r#"data-ready="1""#),
        "the page's script did not run:\n{dom:.2000}"
    );
    let sections: Vec<&str> = dom.split("<section").skip(1).collect();
    let failing = sections
        .iter()
        .find(|s| s.contains(r#"data-outcome="failed""#))
        .expect("a section for the failing case");
    assert!(
        failing.contains(r#"<svg class="timeline""#),
        "no timeline in the failing case"
    );
    assert!(
        failing.contains(r#"class="step failing-step""#),
        "the failing step is not marked on the timeline"
    );
    assert!(
        failing.contains(r#"<li class="failing-step">"#),
        "the failing step is not marked in the steps"
    );
    assert!(failing.contains("expect lock released within 5s"));
    assert!(
        failing.contains("<li>steps[5] door M1 release</li>"),
        "the step after the failing one is listed as not run"
    );
    for lane in [
        "M1 door held",
        "M1 package",
        "LED",
        "display",
        "temperature",
        "link primary",
        "steps",
    ] {
        assert!(failing.contains(&format!(">{lane}<")), "no `{lane}` lane");
    }
    assert!(failing.contains(r#"class="set-point""#) && failing.contains(r#"class="measured""#));
    let passing = sections
        .iter()
        .find(|s| s.contains(r#"data-outcome="passed""#))
        .expect("a section for the passing case");
    assert!(!passing.contains("failing-step"));

    // A screenshot for people to look at.
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let out = headless(
        browser,
        &[
            "--window-size=1280,1600",
            &format!("--screenshot={}", shot.display()),
        ],
        &page,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    eprintln!("screenshot of the report: {}", shot.display());
}
