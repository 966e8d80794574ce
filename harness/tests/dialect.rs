//! Issue 16: a firmware whose console prints plain-text logs, read through
//! a dialect file, gets the same verdicts as the framed protocol. The
//! reference firmware's plain console (`locker_core::plain`) is read
//! through the bundled `dialects/locker-plain.yaml`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{repo, run_on};
use locker_hil::model::rigfile::RigDescription;
use locker_hil::rigs::sim::SimRig;
use locker_hil::run::runner::{CaseReport, Outcome, plan};

fn run_bundled(rig: &str) -> Vec<CaseReport> {
    let mut files: Vec<_> = std::fs::read_dir(repo().join("suites"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let suites = locker_hil::model::load_suites(&files).unwrap_or_else(|e| panic!("{}", e[0]));
    let desc = RigDescription::load(&repo().join(rig)).unwrap_or_else(|e| panic!("{e}"));
    run_on(plan(&suites, |_, _| true), desc, |d| Ok(SimRig::new(d)))
}

fn verdict(o: &Outcome) -> &'static str {
    match o {
        Outcome::Passed => "passed",
        Outcome::Failed { .. } => "failed",
        Outcome::Error { .. } => "error",
        Outcome::Skipped { .. } => "skipped",
    }
}

#[test]
fn every_bundled_case_has_the_same_verdict_through_the_plain_text_dialect() {
    let framed = run_bundled("rigs/sim.yaml");
    let plain = run_bundled("rigs/sim-plain.yaml");
    assert_eq!(framed.len(), 124);
    assert_eq!(plain.len(), framed.len());
    let differ: Vec<String> = framed
        .iter()
        .zip(&plain)
        .filter(|(f, p)| verdict(&f.outcome) != verdict(&p.outcome))
        .map(|(f, p)| {
            format!(
                "{}::{}: framed {:?}, plain {:?}",
                f.suite, f.name, f.outcome, p.outcome
            )
        })
        .collect();
    assert!(differ.is_empty(), "{differ:#?}");
    // And the plain run really went through the dialect: its transcript is
    // the vendor-style log, and it says lost lines go unnoticed.
    let t = &plain[0].transcript.lines;
    assert!(
        t.iter()
            .any(|l| l.text.contains("lost lines cannot be detected"))
    );
    assert!(
        t.iter()
            .any(|l| l.text.starts_with("I (") && l.text.contains(") lcd: \""))
    );
    assert!(
        !t.iter().any(|l| l.text.contains("*")),
        "no frame checksums"
    );
}

/// `harness run` of one bundled case on the sim rig read through a copy
/// of the bundled dialect without its `banner`, with `expect`: exit code
/// and what it printed.
fn without_banner(expect: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let dialect = std::fs::read_to_string(repo().join("dialects/locker-plain.yaml")).unwrap();
    let start = dialect.find("banner:").unwrap();
    let end = dialect.find("events:").unwrap();
    let dialect = format!("{}{}", &dialect[..start], &dialect[end..]);
    std::fs::write(dir.path().join("quiet.yaml"), dialect).unwrap();
    let rig = std::fs::read_to_string(repo().join("rigs/sim-plain.yaml"))
        .unwrap()
        .replace("../dialects/locker-plain.yaml", "quiet.yaml")
        .replace(
            "../firmware/core",
            repo().join("firmware/core").to_str().unwrap(),
        )
        .replace(
            "controller:\n",
            &format!("controller:\n  expect-build: {expect}\n"),
        );
    std::fs::write(dir.path().join("rig.yaml"), rig).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["run", "--filter", "name:\"valid code opens\"", "--rig"])
        .arg(dir.path().join("rig.yaml"))
        .arg("--junit")
        .arg(dir.path().join("j.xml"))
        .arg("--html")
        .arg(dir.path().join("r.html"))
        .output()
        .unwrap();
    let xml = std::fs::read_to_string(dir.path().join("j.xml")).unwrap_or_default();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &xml,
    )
}

/// Issue 16: a firmware without a start-up banner says its build when
/// asked (`commands.identify`): that is what `expect-build` is checked
/// against, a pattern as well as a string; an image whose identity differs
/// from it is the rig's error before any case.
#[rstest::rstest]
#[case::exact(&locker_core::BUILD_ID.to_owned(), Some(0), "1 passed")]
#[case::pattern("{ matches: '^locker-core-' }", Some(0), "1 passed")]
// The image's own identity is checked against it before any case.
#[case::other(
    "acme-2.4.1",
    Some(3),
    "is build `locker-core-0.1.0`, but `acme-2.4.1` was expected (controller.expect-build in"
)]
fn a_firmware_without_a_banner_is_identified_by_asking_it(
    #[case] expect: &str,
    #[case] code: Option<i32>,
    #[case] says: &str,
) {
    let (got, text) = without_banner(expect);
    assert_eq!(got, code, "{text}");
    assert!(text.contains(says), "{says}\n{text}");
    if code == Some(0) {
        assert!(
            text.contains("&gt; version") || text.contains("> version"),
            "it was asked: {text}"
        );
        assert!(!text.contains("caveat.build"), "{text}");
    }
}

mod plain_codec {
    use locker_hil::model::dialect::{Dialect, Heard};
    use locker_proto::{
        BoltState, CodeResult, DiagItem, DiagResult, DoorState, ErrorCode, Event, LedColour,
        LedPattern, Link, LockState, Name, ResetCause, Text, UplinkKind,
    };
    use proptest::prelude::*;
    use proptest::sample::select;

    fn name() -> impl Strategy<Value = Name> {
        "[A-Z][0-9A-Z]{0,7}".prop_map(|s| Name::try_from(s.as_str()).unwrap())
    }

    fn event() -> impl Strategy<Value = Event> {
        let link = select(Link::ALL.to_vec());
        prop_oneof![
            (name(), select(DoorState::ALL.to_vec()))
                .prop_map(|(c, state)| Event::Door { c, state }),
            (name(), select(BoltState::ALL.to_vec()))
                .prop_map(|(c, state)| Event::Bolt { c, state }),
            (name(), select(LockState::ALL.to_vec()))
                .prop_map(|(c, state)| Event::Lock { c, state }),
            (name(), any::<bool>()).prop_map(|(c, present)| Event::Package { c, present }),
            "([A-Z0-9][A-Z0-9 ]{0,22}[A-Z0-9])?"
                .prop_map(|t| Event::Display(Text::try_from(t.as_str()).unwrap())),
            (
                select(LedColour::ALL.to_vec()),
                proptest::option::of((1u8..10, 1u8..10))
            )
                .prop_map(|(colour, blink)| Event::Led(LedPattern { colour, blink })),
            (10u8..100, proptest::option::of(name())).prop_map(|(n, c)| Event::Error {
                code: ErrorCode(n),
                c
            }),
            (10u8..100, proptest::option::of(name())).prop_map(|(n, c)| Event::ErrorCleared {
                code: ErrorCode(n),
                c
            }),
            (-9_999i32..20_000).prop_map(|centi| Event::Temp { centi }),
            any::<bool>().prop_map(Event::Heater),
            (link.clone(), any::<bool>()).prop_map(|(link, up)| Event::LinkState { link, up }),
            proptest::option::of(link.clone()).prop_map(Event::LinkActive),
            any::<u32>().prop_map(|seconds| Event::Lockout { seconds }),
            Just(Event::LockoutEnd),
            any::<u8>().prop_map(|digits| Event::Keypad { digits }),
            any::<bool>().prop_map(|timeout| Event::KeypadCleared { timeout }),
            (
                select(CodeResult::ALL.to_vec()),
                proptest::option::of(name())
            )
                .prop_map(|(result, c)| Event::Code { result, c }),
            (name(), any::<u8>(), any::<u16>()).prop_map(|(c, attempt, pulse_ms)| Event::Unlock {
                c,
                attempt,
                pulse_ms
            }),
            (name(), any::<u32>()).prop_map(|(c, parcel)| Event::Dropoff { c, parcel }),
            (name(), any::<u32>()).prop_map(|(c, parcel)| Event::Pickup { c, parcel }),
            (name(), any::<u32>()).prop_map(|(c, id)| Event::Return { c, id }),
            name().prop_map(|c| Event::Collected { c }),
            (name(), any::<u32>()).prop_map(|(c, parcel)| Event::Expired { c, parcel }),
            (name(), any::<u32>()).prop_map(|(c, parcel)| Event::Reinstated { c, parcel }),
            (any::<u32>(), select(UplinkKind::ALL.to_vec()), link.clone())
                .prop_map(|(seq, kind, via)| Event::Uplink { seq, kind, via }),
            (
                prop_oneof![
                    name().prop_map(DiagItem::Door),
                    link.prop_map(DiagItem::Link),
                    Just(DiagItem::Done)
                ],
                select(DiagResult::ALL.to_vec())
            )
                .prop_map(|(item, result)| Event::Diag { item, result }),
            select(ResetCause::ALL.to_vec()).prop_map(Event::Reset),
        ]
    }

    proptest! {
        /// Whatever the reference firmware logs in plain text, the bundled
        /// dialect reads back as the very event, at the firmware's time.
        #[test]
        fn the_bundled_dialect_reads_back_every_event_the_plain_console_writes(
            ev in event(),
            t_ms in 0u64..10_000_000_000,
        ) {
            static BUNDLED: std::sync::OnceLock<Dialect> = std::sync::OnceLock::new();
            let dialect = BUNDLED.get_or_init(|| {
                Dialect::load(&super::repo().join("dialects/locker-plain.yaml")).unwrap()
            });
            let mut line = String::new();
            locker_core::plain::event(&mut line, t_ms, &ev);
            let line = line.trim_end_matches("\r\n");
            prop_assert_eq!(dialect.read(line), Ok(Heard::Event { t_ms: Some(t_ms), event: ev }), "{}", line);
        }
    }
}
