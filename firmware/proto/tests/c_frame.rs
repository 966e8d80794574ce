//! `firmware/c/locker_frame.c`, the frame encoder for a firmware written in
//! C, against this crate: what it writes is what `encode_frame` writes, and
//! what `parse_frame` and `ToHarness::parse` read back as it was meant.
//!
//! The C file is built with the host's C compiler (`cc`, or `$CC`) as
//! strictly as a firmware team would (`-std=c99 -Wall -Wextra -Werror
//! -pedantic`). Outside CI a missing compiler skips with one line; in CI it
//! fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use locker_proto::{MAX_LINE, ToHarness, encode_frame, parse_frame};
use proptest::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The C encoder's host program, built once for all tests.
fn tool() -> Option<&'static Path> {
    static TOOL: OnceLock<Option<PathBuf>> = OnceLock::new();
    TOOL.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../c");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("locker-frame-tool");
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let built = Command::new(&cc)
            .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"])
            .arg(src.join("locker_frame.c"))
            .arg(src.join("frame_tool.c"))
            .arg("-o")
            .arg(&out)
            .output();
        match built {
            Ok(o) if o.status.success() => Some(out),
            Ok(o) => panic!(
                "locker_frame.c does not build with {cc}:\n{}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("no C compiler `{cc}` in CI ({e}): .ci/run must install gcc");
                }
                eprintln!(
                    "skipped: no C compiler `{cc}` ({e}); apt-get install -y --no-install-recommends gcc"
                );
                None
            }
        }
    })
    .as_deref()
}

/// The C encoder's answer to each request line (`F seq body`, `E seq t event`).
fn encode_in_c(tool: &Path, requests: &[String]) -> Vec<Option<String>> {
    let mut child = Command::new(tool)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = requests.join("\n");
    input.push('\n');
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let answers: Vec<Option<String>> = text
        .split_inclusive('\n')
        .map(|l| {
            assert_ne!(l, "OVERRUN\n", "the encoder wrote past its buffer");
            (l != "REFUSED\n").then(|| l.to_owned())
        })
        .collect();
    assert_eq!(answers.len(), requests.len(), "{text}");
    answers
}

/// What the protocol allows in a body: printable ASCII without `*`, not
/// only spaces.
fn allowed(body: &str) -> bool {
    body.bytes()
        .all(|b| (0x20..=0x7E).contains(&b) && b != b'*')
        && !body.trim().is_empty()
}

/// Events as PROTOCOL.md words them.
const EVENTS: &[&str] = &[
    "door S1 open",
    "bolt M2 retracted",
    "lock L1 released",
    "pkg S2 present",
    "display \"ENTER CODE\"",
    "display \"\"",
    "led red 2-1",
    "led green",
    "error E21 S1",
    "error-clear E61",
    "temp -12.50",
    "heater on",
    "link secondary down",
    "link-active none",
    "lockout 30",
    "lockout-end",
    "keypad 4",
    "keypad timeout",
    "code accepted M1",
    "code wrong",
    "unlock S1 1 120",
    "dropoff M1 17",
    "pickup M1 17",
    "uplink 3 dropoff primary",
    "diag door S1 ok",
    "diag done fail",
    "reset brownout",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any body: the C encoder writes exactly what `encode_frame` writes,
    /// refuses exactly what the protocol does not allow or cannot fit, and
    /// the decoder reads its frame back as the sequence number and body.
    #[test]
    fn frames_from_c_are_the_rust_frames(
        cases in proptest::collection::vec(
            (any::<u16>(), "[ -~]{0,170}|[ -)+-~]{1,20}|[ -~]{0,5}[\\x01-\\x09\\x0b-\\x1f\\x7f\\u{80}-\\u{ff}][ -~]{0,5}"),
            1..40,
        )
    ) {
        let Some(tool) = tool() else { return Ok(()) };
        let requests: Vec<String> = cases.iter().map(|(seq, body)| format!("F {seq} {body}")).collect();
        let answers = encode_in_c(tool, &requests);
        for ((seq, body), c) in cases.iter().zip(answers) {
            let mut rust = heapless::String::<{ MAX_LINE + 2 }>::new();
            let fits = encode_frame(*seq, body, &mut rust).is_ok();
            if !(allowed(body) && fits) {
                prop_assert_eq!(c, None, "body {:?}", body);
                continue;
            }
            let c = c.unwrap();
            prop_assert_eq!(c.as_str(), rust.as_str());
            prop_assert!(c.len() <= MAX_LINE + 1);
            let (s, b) = parse_frame(c.trim_end_matches('\n')).unwrap();
            prop_assert_eq!((s, b), (*seq, body.as_str()));
        }
    }

    /// Events written in C are read as the events they name, at their time.
    #[test]
    fn events_from_c_are_read_as_events(
        cases in proptest::collection::vec((any::<u16>(), any::<u64>(), 0..EVENTS.len()), 1..40)
    ) {
        let Some(tool) = tool() else { return Ok(()) };
        let requests: Vec<String> = cases
            .iter()
            .map(|(seq, t, e)| format!("E {seq} {t} {}", EVENTS[*e]))
            .collect();
        let answers = encode_in_c(tool, &requests);
        for ((seq, t, e), c) in cases.iter().zip(answers) {
            let c = c.unwrap();
            let (s, body) = parse_frame(c.trim_end_matches('\n')).unwrap();
            prop_assert_eq!(s, *seq);
            match ToHarness::parse(body).unwrap() {
                ToHarness::Event { t_ms, event } => {
                    prop_assert_eq!(t_ms, *t);
                    prop_assert_eq!(event.to_string(), EVENTS[*e]);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}

/// A buffer too small for the frame is refused, never overrun; one just
/// big enough (the frame, its newline and the NUL) takes it.
#[test]
fn a_frame_that_does_not_fit_is_refused_and_nothing_is_overrun() {
    let Some(tool) = tool() else { return };
    let body = "display \"OPEN\"";
    let mut rust = heapless::String::<{ MAX_LINE + 2 }>::new();
    encode_frame(65535, &body, &mut rust).unwrap();
    let need = rust.len() + 1;
    let requests: Vec<String> = (0..=need + 1)
        .map(|cap| format!("S {cap} 65535 {body}"))
        .chain([
            format!("F 1 {}", "x".repeat(MAX_LINE)),
            "F 2 a*b".into(),
            "F 3    ".into(),
        ])
        .collect();
    let answers = encode_in_c(tool, &requests);
    for (cap, a) in answers[..=need + 1].iter().enumerate() {
        if cap < need {
            assert_eq!(a.as_deref(), None, "a buffer of {cap} bytes");
        } else {
            assert_eq!(a.as_deref(), Some(rust.as_str()), "a buffer of {cap} bytes");
        }
    }
    assert_eq!(answers[need + 2..], [None, None, None]);
}
