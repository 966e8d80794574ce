//! Pickup codes never reach a person: the one pass every finished case goes
//! through before any reporter sees it ([`guard`], called by the runner as a
//! case's report is made). It replaces each bound code by its `$name` in
//! everything a report, a snapshot or the terminal can show (the outcome's
//! step and message, the transcript, the steps, the timeline's
//! observations), and a controller that showed a code on its console fails
//! the case for privacy, whatever else happened.

use crate::run::obs::{Dir, ObsKind};
use crate::run::verdict::{CaseReport, Outcome};
use locker_proto::Event;
use std::collections::{BTreeSet, HashMap};

pub mod redact;
pub mod typed;
pub use redact::code_digits;
use redact::redact_line;

/// The codes a case bound, `(digits, name)`.
fn codes(vars: &HashMap<String, String>) -> Vec<(&str, &str)> {
    let mut codes: Vec<(&str, &str)> = vars
        .iter()
        .filter_map(|(name, value)| Some((code_digits(value)?, name.as_str())))
        .collect();
    codes.sort_unstable();
    codes
}

/// `text` scrubbed in place; the names of the codes found go to `found`.
fn scrub<'c>(text: &mut String, codes: &[(&str, &'c str)], found: &mut BTreeSet<&'c str>) {
    if let Some(clean) = redact_line(text, codes, found) {
        *text = clean;
    }
}

/// A console text field (24 characters at most) scrubbed; `$name` is
/// shorter than the eight digits it replaces unless the name is long, and
/// then the text is cut rather than left with the code.
fn scrub_text<'c>(
    text: &mut locker_proto::Text,
    codes: &[(&str, &'c str)],
    found: &mut BTreeSet<&'c str>,
) {
    if let Some(clean) = redact_line(text, codes, found) {
        let mut cut = locker_proto::Text::new();
        for c in clean.chars() {
            if cut.push(c).is_err() {
                break;
            }
        }
        *text = cut;
    }
}

/// Scrub `report` of the codes in `vars` and fail it for privacy if the
/// controller showed one.
pub fn guard(report: &mut CaseReport, vars: &HashMap<String, String>) {
    let codes = codes(vars);
    if codes.is_empty() {
        return;
    }
    // What the controller showed: its console lines and the texts of its
    // events. What the harness wrote (actions as the suite words them,
    // notes that quote the console) is scrubbed too, but a code there is
    // an echo of the console, not a second leak.
    let mut shown = BTreeSet::new();
    let mut in_lines = BTreeSet::new();
    let mut quoted = BTreeSet::new();
    for t in &mut report.transcript.lines {
        let found = if t.dir == Dir::Rx {
            &mut in_lines
        } else {
            &mut quoted
        };
        scrub(&mut t.text, &codes, found);
    }
    // A short code in a console line may be a timestamp (see LEAK_DIGITS).
    shown.extend(in_lines.into_iter().filter(|n| {
        codes
            .iter()
            .any(|(d, name)| name == n && redact::leaks_in_lines(d))
    }));
    for o in &mut report.trace.obs {
        if let ObsKind::Event {
            event: Event::Display(text),
            ..
        } = &mut o.kind
        {
            scrub_text(text, &codes, &mut shown);
        }
    }
    // A code in a `keys` step's own text: the suite typed it as digits.
    let mut typed = BTreeSet::new();
    for s in &mut report.trace.steps {
        let found = if s.text.starts_with("keys ") {
            &mut typed
        } else {
            &mut quoted
        };
        scrub(&mut s.text, &codes, found);
    }
    for s in &mut report.trace.not_run {
        scrub(s, &codes, &mut quoted);
    }
    if let Outcome::Failed { step, message } | Outcome::Error { step, message } =
        &mut report.outcome
    {
        scrub(step, &codes, &mut quoted);
        scrub(message, &codes, &mut quoted);
    }
    // Lines the report does not keep were scrubbed as they left memory.
    let leaked = &report.transcript.leaked;
    shown.extend(
        codes
            .iter()
            .map(|(_, n)| *n)
            .filter(|n| leaked.contains(*n)),
    );
    if shown.is_empty() && typed.is_empty() {
        return;
    }
    let names = |set: &BTreeSet<&str>| {
        let all: Vec<String> = set.iter().map(|n| format!("${n}")).collect();
        all.join(", ")
    };
    let mut said = Vec::new();
    if !shown.is_empty() {
        said.push(format!(
            "a code appeared in clear on the console ({})",
            names(&shown)
        ));
    }
    if !typed.is_empty() {
        said.push(format!(
            "the suite types a code as digits ({}) where it should name it: type the `$name` an `issue` or `parcel` step binds it to (a courier's code, `$courier.<compartment>`, has none: bind a drop-off code with `issue`)",
            names(&typed)
        ));
    }
    let mut message = format!("{}; it is redacted in this report", said.join("; and "));
    match &report.outcome {
        Outcome::Failed { step, message: m } => {
            message.push_str(&format!("\nthe case also failed at {step}: {m}"));
        }
        Outcome::Error { step, message: m } => {
            message.push_str(&format!("\nthe rig also had an error at {step}: {m}"));
        }
        Outcome::Passed | Outcome::Skipped { .. } => {}
    }
    if !matches!(report.outcome, Outcome::Skipped { .. }) {
        report.outcome = Outcome::Failed {
            step: "privacy".into(),
            message,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::obs::{Obs, TranscriptLine};
    use crate::run::trace::StepMark;
    use std::time::Duration;

    fn report(outcome: Outcome) -> CaseReport {
        let suites = crate::model::load_suites(&[
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/privacy.yaml")
        ])
        .unwrap_or_else(|e| panic!("{}", e[0]));
        let p = crate::run::plan::plan(&suites, |_, _| true).remove(0);
        crate::run::verdict::not_run(0, &p, "sim", outcome)
    }

    fn line(dir: Dir, text: &str) -> TranscriptLine {
        TranscriptLine {
            at: Duration::ZERO,
            dir,
            text: text.into(),
        }
    }

    fn vars() -> HashMap<String, String> {
        [
            ("pickup".to_owned(), "12345678#".to_owned()),
            ("other".to_owned(), "99999999".to_owned()),
            ("short".to_owned(), "1234".to_owned()),
        ]
        .into()
    }

    /// Issue 14: with a firmware that showed the typed code on its display,
    /// the code was in the failure message, the quoted lines and the
    /// timeline, and a case that failed elsewhere did not fail for privacy.
    #[test]
    fn an_echoed_code_is_scrubbed_everywhere_and_fails_the_case_for_privacy() {
        let mut r = report(Outcome::Failed {
            step: "steps[1] `expect display \"OPEN\"`".into(),
            message: "seen instead: display \"CODE 12345678\" at +0.4s\nlast transcript lines:\n< EV 3 display \"CODE 12345678\"".into(),
        });
        r.transcript.lines = vec![
            line(Dir::Rx, "12 EV 350 display \"CODE 12345678\"*ABCD"),
            line(Dir::Note, "FAILED: seen display \"CODE 12345678\""),
            line(Dir::Act, "keys $pickup#"),
            line(Dir::Rx, "13 EV 360 display \"CODE 1234\"*ABCD"),
        ];
        r.trace.obs.push(Obs {
            at: Duration::from_millis(400),
            kind: ObsKind::Event {
                t_ms: 350,
                event: Event::Display(
                    locker_proto::Text::try_from("CODE 12345678").unwrap_or_default(),
                ),
            },
        });
        r.trace.steps.push(StepMark {
            at: Duration::ZERO,
            obs_before: 0,
            text: "expect display \"CODE 12345678\"".into(),
        });
        guard(&mut r, &vars());
        let all = format!("{r:?}");
        assert!(!all.contains("12345678"), "{all}");
        // Issue 16: a team's issuer gives short codes; they are scrubbed too,
        // but one in a console line alone is not called a leak.
        assert!(
            all.contains("CODE $short"),
            "short codes are scrubbed: {all}"
        );
        let Outcome::Failed { step, message } = &r.outcome else {
            panic!("{:?}", r.outcome)
        };
        assert_eq!(step, "privacy");
        assert!(
            message.starts_with("a code appeared in clear on the console ($pickup)"),
            "{message}"
        );
        assert!(
            message.contains("the case also failed at steps[1]"),
            "{message}"
        );
        assert!(r.trace.lines().iter().all(|l| !l.contains("12345678")));
    }

    /// Issue 16: a code of fewer than eight digits (a team's issuer) was
    /// neither scrubbed nor a leak when the controller displayed it.
    #[test]
    fn a_short_code_on_the_display_is_a_leak() {
        let mut r = report(Outcome::Passed);
        r.transcript.lines = vec![line(Dir::Rx, "I (350) lcd: \"CODE 1234\"")];
        r.trace.obs.push(Obs {
            at: Duration::from_millis(400),
            kind: ObsKind::Event {
                t_ms: 350,
                event: Event::Display(
                    locker_proto::Text::try_from("CODE 1234").unwrap_or_default(),
                ),
            },
        });
        guard(&mut r, &vars());
        let all = format!("{r:?}");
        assert!(!all.contains("1234"), "{all}");
        let Outcome::Failed { step, message } = &r.outcome else {
            panic!("{:?}", r.outcome)
        };
        assert_eq!(step, "privacy");
        assert!(message.contains("($short)"), "{message}");
    }

    #[test]
    fn a_code_the_harness_wrote_is_scrubbed_but_is_no_leak() {
        let mut r = report(Outcome::Passed);
        r.transcript.lines = vec![line(Dir::Note, "bound $pickup = 12345678")];
        guard(&mut r, &vars());
        assert_eq!(r.outcome, Outcome::Passed);
        assert_eq!(r.transcript.lines[0].text, "bound $pickup = $pickup");
    }
}
