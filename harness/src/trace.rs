//! What a case's report keeps of its run, as data: the observations and the
//! steps, each at its rig time. Text is made from them only when someone
//! reads it (a snapshot, a report page): a run sees thousands of console
//! lines a case and should not spend its time formatting them.

use crate::rig::{FixtureAction, Measurement};
use crate::session::{Obs, ObsKind, fmt_at};
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// A step as it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepMark {
    /// Rig time when the step began.
    pub at: Duration,
    /// How many observations came before it.
    pub obs_before: usize,
    /// The step as the suite says it (`keys: $code#`).
    pub text: String,
}

/// A case's run as data; [`Trace::lines`] is its normalised text.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub obs: Vec<Obs>,
    /// Every step that started, in order: a failed case's failing step is
    /// the last one.
    pub steps: Vec<StepMark>,
    /// What the fixtures were made to do (all but key presses), at rig
    /// times: the chamber's set point, the supply, the links, doors held.
    pub actions: Vec<(Duration, FixtureAction)>,
    /// The rig's compartment names, by the index actions use.
    pub compartments: Vec<String>,
    /// Index into `steps` of the step that failed, when one did (a case can
    /// also fail at boot, or for privacy, with no step to blame).
    pub failed_step: Option<usize>,
    /// The case's top-level steps that never started (after a failure, or
    /// all of them when the controller did not boot), as `steps[4] text`.
    pub not_run: Vec<String>,
}

impl Trace {
    /// The normalised trace: rig times, observations and steps in the order
    /// they happened, no build ids, no codes. Identical on every rig that
    /// behaves the same, which is what snapshots compare.
    pub fn lines(&self) -> Vec<String> {
        if self.obs.is_empty() && self.steps.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(1 + self.obs.len() + self.steps.len());
        out.push(format!("{:>10} power on", fmt_at(Duration::ZERO)));
        let mut next = 0;
        let mut obs_until = |out: &mut Vec<String>, end: usize| {
            for o in &self.obs[next..end.min(self.obs.len())] {
                out.push(obs_line(o));
            }
            next = next.max(end.min(self.obs.len()));
        };
        for s in &self.steps {
            obs_until(&mut out, s.obs_before);
            out.push(format!("{:>10} {}", fmt_at(s.at), s.text));
        }
        obs_until(&mut out, self.obs.len());
        out
    }
}

fn obs_line(o: &Obs) -> String {
    match &o.kind {
        // The build differs from release to release; traces must not.
        ObsKind::Hello { board, proto, .. } => format!(
            "{:>10}   hello proto {proto} board {board} build <build>",
            fmt_at(o.at)
        ),
        _ => format!("{:>10}   {}", fmt_at(o.at), obs_text(o)),
    }
}

/// How an observation reads in traces and messages.
pub fn obs_text(o: &Obs) -> ObsText<'_> {
    ObsText(o)
}

#[derive(Debug)]
pub struct ObsText<'a>(&'a Obs);

impl fmt::Display for ObsText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.kind {
            ObsKind::Hello { board, proto, .. } => write!(f, "hello proto {proto} board {board}"),
            ObsKind::Event { event, .. } => write!(f, "{event}"),
            ObsKind::Measured(Measurement::Pulse { on, .. }) => {
                write!(f, "measured pulse {}ms", on.as_millis())
            }
            ObsKind::Measured(Measurement::Backoffice {
                seq,
                kind,
                duplicate,
                ..
            }) => write!(
                f,
                "back office {kind} #{seq}{}",
                if *duplicate { " (duplicate)" } else { "" }
            ),
        }
    }
}

/// `text` with every whole number (a run of digits not inside a longer one,
/// such as a timestamp) that is one of the `(digits, name)` codes replaced by
/// `$name`; `None` when there is none. One pass over the line, whatever the
/// number of codes.
pub(crate) fn redact_line<'c>(
    text: &str,
    codes: &[(&str, &'c str)],
    leaked: &mut BTreeSet<&'c str>,
) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let run = &text[start..i];
        if let Some(&(_, name)) = codes.iter().find(|(digits, _)| *digits == run) {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..start]);
            o.push('$');
            o.push_str(name);
            copied = i;
            leaked.insert(name);
        }
    }
    let mut out = out?;
    out.push_str(&text[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use locker_proto::{Event, Link};
    use rstest::rstest;

    #[rstest]
    #[case::alone("12345678", Some("$p"))]
    #[case::in_text("code 12345678 ok", Some("code $p ok"))]
    #[case::with_hash("KEY 12345678#", Some("KEY $p#"))]
    #[case::inside_a_longer_number("EV 912345678 x", None)]
    #[case::prefix_of_a_longer_number("t=123456789", None)]
    #[case::twice_and_two_codes("12345678,87654321 12345678", Some("$p,$q $p"))]
    #[case::no_digits("door A1 open", None)]
    fn redaction_replaces_whole_numbers_only(#[case] text: &str, #[case] want: Option<&str>) {
        let codes = [("12345678", "p"), ("87654321", "q")];
        let mut leaked = BTreeSet::new();
        assert_eq!(redact_line(text, &codes, &mut leaked).as_deref(), want);
        assert_eq!(leaked.is_empty(), want.is_none());
    }

    proptest::proptest! {
        /// Whatever the line, no code is left standing as a whole number,
        /// and a line without one comes back untouched.
        #[test]
        fn redaction_leaves_no_whole_code(parts in proptest::collection::vec(
            proptest::prop_oneof!["12345678", "87654321", "[0-9]{1,9}", "[ a-z#:,.+]{1,4}"], 0..12)
        ) {
            let text: String = parts.concat();
            let codes = [("12345678", "p"), ("87654321", "q")];
            let out = redact_line(&text, &codes, &mut BTreeSet::new());
            let clean = out.clone().unwrap_or_else(|| text.clone());
            let is_code = |r: &str| codes.iter().any(|(d, _)| *d == r);
            proptest::prop_assert!(!clean.split(|c: char| !c.is_ascii_digit()).any(is_code));
            let had = text.split(|c: char| !c.is_ascii_digit()).any(is_code);
            proptest::prop_assert_eq!(out.is_some(), had);
        }
    }

    fn ev(ms: u64, event: Event) -> Obs {
        Obs {
            at: Duration::from_millis(ms),
            kind: ObsKind::Event { t_ms: ms, event },
        }
    }

    fn step(ms: u64, obs_before: usize, text: &str) -> StepMark {
        StepMark {
            at: Duration::from_millis(ms),
            obs_before,
            text: text.into(),
        }
    }

    #[test]
    fn lines_interleave_steps_and_observations_in_order() {
        let trace = Trace {
            obs: vec![
                Obs {
                    at: Duration::ZERO,
                    kind: ObsKind::Hello {
                        build: "locker-1.0+abc".into(),
                        board: "sim".into(),
                        proto: 1,
                    },
                },
                ev(1200, Event::LinkActive(Some(Link::Primary))),
                ev(2500, Event::LinkActive(None)),
            ],
            steps: vec![step(1500, 2, "wait: 1s"), step(2600, 3, "wait: 1s")],
            actions: Vec::new(),
            compartments: Vec::new(),
            failed_step: None,
            not_run: Vec::new(),
        };
        insta::assert_snapshot!(trace.lines().join("\n"), @r"
            +0.000s power on
            +0.000s   hello proto 1 board sim build <build>
            +1.200s   link-active primary
            +1.500s wait: 1s
            +2.500s   link-active none
            +2.600s wait: 1s
        ");
    }

    #[test]
    fn an_unrun_case_has_no_lines() {
        assert!(Trace::default().lines().is_empty());
    }
}
