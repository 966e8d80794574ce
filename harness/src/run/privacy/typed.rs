//! Codes a suite writes out as digits instead of naming them: a `keys`
//! step that types the digits a code of the same case is bound to passes,
//! and puts the code in the suite file and every report. Where `check` can
//! know the code before the case runs (an issuer whose codes do not depend
//! on the run: the reference scheme's service codes, a provisioned table),
//! it is refused at the `keys` step; at run time the case fails for privacy
//! ([`super::guard`]).

use crate::model::diag::InputError;
use crate::model::places::Seg;
use crate::model::rigfile::{IssuerSpec, RigDescription, RigKind};
use crate::model::suite::{Case, CodeKind, Step};
use crate::run::backoffice;
use crate::run::issuer::{self, CodeRequest};
use std::path::PathBuf;

const DAY_S: u64 = 86_400;

/// A code a step binds: its name, the step that binds it, and every value
/// it can take on the days the case may run.
struct Binding {
    name: String,
    by: String,
    codes: Vec<String>,
}

/// Every `keys` step of `suites` that types a code its case binds, as digits.
pub fn typed_codes(
    suites: &[(PathBuf, crate::model::suite::Suite)],
    rig: &RigDescription,
) -> Vec<InputError> {
    let mut errors = Vec::new();
    if matches!(rig.issuer, IssuerSpec::Command { .. }) {
        // A team's tool is not run to check a suite.
        return errors;
    }
    for (path, s) in suites {
        for (i, case) in s.cases.iter().enumerate() {
            let bound = bindings(rig, case);
            if bound.is_empty() {
                continue;
            }
            for (section, steps) in case.sections() {
                let at = [Seg::Key("cases"), Seg::Index(i), Seg::Key(section)];
                typed(steps, &at, &bound, &mut |at, b| {
                    let instead = if b.name.contains('.') {
                        // What a `parcel` step types has no name a suite can write.
                        "bind a drop-off code with `issue: { kind: dropoff, compartment: ..., as: $name }` and type `$name`".to_owned()
                    } else {
                        format!("type `${}` instead", b.name)
                    };
                    let msg = format!(
                        "cases[{i}] `{}`: `keys` types the digits of the code {} binds to `${}`: {instead} (a code written out is in the suite file and would be in every report)",
                        case.name, b.by, b.name
                    );
                    let o = &s.origin;
                    errors.push(InputError::placed(path, &o.text, o.nearest(at), msg));
                });
            }
        }
    }
    errors
}

/// The day windows a case may ask its codes for: from the day before the
/// rig's clock starts it to the day after its waits end.
fn days(rig: &RigDescription, case: &Case) -> std::ops::RangeInclusive<u64> {
    let start = match &rig.kind {
        RigKind::Sim(p) | RigKind::Qemu { plant: p, .. } => p.start_unix,
        RigKind::Bench(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let span = crate::model::cost::wall(case, false).as_secs() / DAY_S;
    let today = backoffice::window(start);
    today.saturating_sub(1)..=today + span + 1
}

/// The codes `case`'s steps bind whose values the rig's issuer gives
/// without running the case (not a pickup code: it names a parcel the
/// controller numbers).
fn bindings(rig: &RigDescription, case: &Case) -> Vec<Binding> {
    type Days = std::ops::RangeInclusive<u64>;
    fn walk(rig: &RigDescription, days: &Days, steps: &[Step], out: &mut Vec<Binding>) {
        for s in steps {
            let (kind, compartment, size, station, window, name, by) = match s {
                Step::Repeat { steps, .. } => {
                    walk(rig, days, steps, out);
                    continue;
                }
                Step::Parcel { compartment, .. } => (
                    CodeKind::Dropoff,
                    Some(compartment),
                    None,
                    None,
                    0,
                    format!("courier.{compartment}"),
                    format!("the `parcel` step into {compartment} (the courier's code)"),
                ),
                Step::Issue {
                    kind,
                    compartment,
                    size,
                    station,
                    window,
                    bind,
                } if *kind != CodeKind::Pickup => (
                    *kind,
                    compartment.as_ref(),
                    *size,
                    *station,
                    *window,
                    bind.clone(),
                    "an `issue` step".to_owned(),
                ),
                _ => continue,
            };
            let index = compartment.and_then(|c| rig.compartments.iter().position(|(n, _)| n == c));
            let codes = (days.clone())
                .filter_map(|day| {
                    let req = CodeRequest {
                        kind,
                        station: station.unwrap_or(rig.station),
                        compartment: compartment.cloned(),
                        compartment_index: index,
                        parcel: None,
                        size,
                        window: (day as i64 + window).max(0) as u64,
                        unix_time: day * DAY_S,
                    };
                    issuer::issue(rig, &req).ok()
                })
                .collect();
            out.push(Binding { name, by, codes });
        }
    }
    // The case's span is the same for each of its bindings: walked once.
    let days = days(rig, case);
    let mut out = Vec::new();
    for (_, steps) in case.sections() {
        walk(rig, &days, steps, &mut out);
    }
    out
}

/// Each `keys` step of `steps` with a run of digits that is one of the
/// bound codes, at its node.
fn typed(
    steps: &[Step],
    at: &[Seg<'static>],
    bound: &[Binding],
    found: &mut impl FnMut(&[Seg], &Binding),
) {
    for (j, s) in steps.iter().enumerate() {
        let mut here = at.to_vec();
        here.push(Seg::Index(j));
        match s {
            Step::Repeat { steps, .. } => {
                here.extend([Seg::Key("repeat"), Seg::Key("steps")]);
                typed(steps, &here, bound, found);
            }
            Step::Keys { text, .. } => {
                let runs = text
                    .literals()
                    .flat_map(|k| k.split(|c: char| !c.is_ascii_digit()));
                for run in runs.filter(|r| !r.is_empty()) {
                    if let Some(b) = bound
                        .iter()
                        .find(|b| b.codes.iter().any(|c| c.trim_end_matches('#') == run))
                    {
                        here.push(Seg::Key("keys"));
                        found(&here, b);
                        break;
                    }
                }
            }
            _ => {}
        }
    }
}
