//! What a rig can do, read from its rig file, and the steps of a suite it
//! cannot: a chamber setting outside the chamber's limits, a voltage above
//! the supply's, a key press on a bench with nothing to press keys, a stuck
//! sensor where nothing can hold one, a clock a console cannot be told, an
//! event its dialect never makes. `harness check` and `harness run` refuse
//! such a step before anything runs, at the step and at the rig file's line
//! that says why; `harness list --rig` lists the cases that would be refused.

use crate::model::places::Seg;
use crate::model::rigfile::bench::BenchSettings;
use crate::model::rigfile::{RigDescription, RigKind};
use crate::model::suite::{
    Absence, Case, Check, DoorAction, Expectation, Matcher, PowerAction, Step,
};
use std::collections::BTreeSet;

/// Why a rig cannot do a step, and the node of its rig file that says so
/// (empty: the rig file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfit {
    pub why: String,
    pub rig_at: Vec<Seg<'static>>,
}

impl Unfit {
    fn new(why: impl Into<String>, rig_at: &[&'static str]) -> Self {
        Self {
            why: why.into(),
            rig_at: rig_at.iter().map(|k| Seg::Key(k)).collect(),
        }
    }
}

/// Why the case is not run on `rig` at all (its `skip:` or `skip-on:`).
pub fn skipped<'c>(rig: &RigDescription, case: &'c Case) -> Option<&'c str> {
    case.skip
        .as_deref()
        .or_else(|| case.skip_on.reason(rig.kind_name()))
}

/// Every step of `case` that `rig` cannot do, with its path under the
/// case (`steps`, 2, ...), in the order the case runs them.
pub fn unfit_steps(rig: &RigDescription, case: &Case) -> Vec<(Vec<Seg<'static>>, String, Unfit)> {
    let mut found = Vec::new();
    for (section, steps) in case.sections() {
        walk(rig, steps, &[Seg::Key(section)], section, &mut found);
    }
    found
}

fn walk(
    rig: &RigDescription,
    steps: &[Step],
    at: &[Seg<'static>],
    name: &str,
    found: &mut Vec<(Vec<Seg<'static>>, String, Unfit)>,
) {
    for (j, s) in steps.iter().enumerate() {
        let mut here = at.to_vec();
        here.push(Seg::Index(j));
        let shown = format!("{name}[{j}] `{s}`");
        if let Step::Repeat { steps, .. } = s {
            let mut inner = here.clone();
            inner.extend([Seg::Key("repeat"), Seg::Key("steps")]);
            walk(rig, steps, &inner, &format!("{name}[{j}].repeat"), found);
        } else {
            for u in unfit(rig, s) {
                found.push((here.clone(), shown.clone(), u));
            }
        }
    }
}

/// Every reason `rig` cannot do `step` (none: it can).
pub fn unfit(rig: &RigDescription, step: &Step) -> Vec<Unfit> {
    let mut found: Vec<Unfit> = console(rig, step).into_iter().collect();
    if let RigKind::Bench(_) = &rig.kind {
        found.extend(bench(rig, step));
    }
    found
}

/// What the console must be able to say or be told.
fn console(rig: &RigDescription, step: &Step) -> Option<Unfit> {
    let d = rig.dialect.as_deref()?;
    let at = ["controller", "dialect"];
    let checks: Vec<&Check> = match step {
        Step::Clock(_) if d.commands.clock.is_none() => {
            return Some(Unfit::new(
                format!(
                    "its console cannot be told the time: dialect `{}` has no `commands.clock`",
                    d.name
                ),
                &at,
            ));
        }
        Step::Expect(e) => e.look.checks().collect(),
        Step::Absent(a) => a.look.checks().collect(),
        Step::State(h) => vec![&h.check],
        _ => return None,
    };
    checks.into_iter().find_map(|c| heard(d, &c.matcher))
}

/// Whether a console read through dialect `d` can tell what `matcher` looks for.
fn heard(d: &crate::model::dialect::Dialect, matcher: &Matcher) -> Option<Unfit> {
    let at = ["controller", "dialect"];
    if let Matcher::Status { .. } = matcher {
        return d.commands.status.is_none().then(|| {
            Unfit::new(
                format!(
                    "its console cannot be asked its status: dialect `{}` has no `commands.status`",
                    d.name
                ),
                &at,
            )
        });
    }
    let kind = matcher.event_kind()?;
    (!d.makes(kind)).then(|| {
        Unfit::new(
            format!(
                "dialect `{}` has no rule that makes `{kind}` events, so this can never be seen (an absence could never fail)",
                d.name
            ),
            &at,
        )
    })
}

/// What a bench's fixtures and instruments can do.
fn bench(rig: &RigDescription, step: &Step) -> Vec<Unfit> {
    let RigKind::Bench(b) = &rig.kind else {
        return Vec::new();
    };
    let one = match step {
        Step::Keys { .. }
        | Step::Help { .. }
        | Step::Door { .. }
        | Step::Package { .. }
        | Step::Link { .. }
        | Step::Parcel { .. } => reach(rig, b, step),
        Step::Chamber { set, ramp } => {
            let Some(c) = &b.chamber else {
                return vec![Unfit::new(
                    format!(
                        "set the temperature: bench `{}` has no chamber (`fixtures.chamber`)",
                        rig.name
                    ),
                    &["fixtures"],
                )];
            };
            let at = |key: &'static str| ["fixtures", "chamber", "limits", key];
            let mut found = Vec::new();
            if set.0 < c.limits.min.0 {
                found.push(Unfit::new(
                    format!(
                        "{}C is below the chamber's limit of {}C",
                        set.0, c.limits.min.0
                    ),
                    &at("min"),
                ));
            }
            if set.0 > c.limits.max.0 {
                found.push(Unfit::new(
                    format!(
                        "{}C is above the chamber's limit of {}C",
                        set.0, c.limits.max.0
                    ),
                    &at("max"),
                ));
            }
            if let (Some(r), Some(max)) = (ramp, c.limits.ramp)
                && r.0 > max.0 + 1e-9
            {
                found.push(Unfit::new(
                    format!(
                        "a ramp of {}C/min is faster than the chamber's limit of {}C/min",
                        round(r.0 * 60.0),
                        round(max.0 * 60.0)
                    ),
                    &at("ramp"),
                ));
            }
            return found;
        }
        Step::Power(p) => {
            let Some(s) = &b.supply else {
                return vec![Unfit::new(
                    format!(
                        "switch power: bench `{}` has no supply (`fixtures.supply`)",
                        rig.name
                    ),
                    &["fixtures"],
                )];
            };
            let volts = match p {
                PowerAction::Volts(v) | PowerAction::Brownout { volts: v, .. } => *v,
                PowerAction::Off | PowerAction::On | PowerAction::Cycle { .. } => {
                    return Vec::new();
                }
            };
            (volts > s.limits.max.0).then(|| {
                Unfit::new(
                    format!(
                        "{volts}V is above the supply's limit of {}V",
                        s.limits.max.0
                    ),
                    &["fixtures", "supply", "limits", "max"],
                )
            })
        }
        Step::Fault { .. } => Some(Unfit::new(
            "hold a sensor stuck: a bench has no fault-injection fixture to do it (mark the case `skip-on: { bench: ... }`)",
            &[],
        )),
        Step::Memory(_) => Some(Unfit::new(
            "corrupt non-volatile memory: a bench cannot write the controller's flash mid-run (mark the case `skip-on: { bench: ... }`)",
            &[],
        )),
        Step::Expect(Expectation { look, .. }) | Step::Absent(Absence { look, .. }) => {
            (look.checks()).find_map(|c| measured(rig, b, &c.matcher, c.compartment.as_deref()))
        }
        _ => None,
    };
    one.into_iter().collect()
}

/// Why a bench cannot perform the fixture actions of `step` (none: it
/// can). The fixture board does them all; without one, the I/O map needs
/// an output for each.
fn reach(rig: &RigDescription, b: &BenchSettings, step: &Step) -> Option<Unfit> {
    // The bench acts through the map where it has the outputs, else
    // through the board.
    map_reach(rig, b, step).filter(|_| b.board.is_none())
}

/// Why the I/O map cannot perform the fixture actions of `step`.
fn map_reach(rig: &RigDescription, b: &BenchSettings, step: &Step) -> Option<Unfit> {
    let io = &b.io;
    let index = |c: &str| rig.compartments.iter().position(|(n, _)| n == c);
    let unfit = |what: String, at: &[&'static str]| {
        Some(Unfit::new(
            format!(
                "{what}: bench `{}` has no fixture board (`fixtures.board`) and its I/O map has no output for it",
                rig.name
            ),
            at,
        ))
    };
    let keys = |needed: BTreeSet<char>| {
        let missing: String = (needed.into_iter())
            .filter(|k| !io.keys.contains_key(k))
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        (!missing.is_empty()).then_some(missing)
    };
    let digits = || ('0'..='9').collect::<BTreeSet<char>>();
    match step {
        Step::Keys { text, .. } => {
            let mut needed: BTreeSet<char> = text.literal_keys().collect();
            if text.vars().next().is_some() {
                needed.extend(digits());
            }
            let missing = keys(needed)?;
            unfit(format!("press keys {missing}"), &["io", "keys"])
        }
        Step::Help { .. } if io.help.is_none() => {
            unfit("press the help button".into(), &["io", "help"])
        }
        Step::Door {
            compartment,
            action,
        } => {
            let door = index(compartment).and_then(|i| io.doors.get(&i));
            let (has, verb) = match action {
                DoorAction::Push => (door.is_some_and(|d| d.push.is_some()), "push"),
                DoorAction::Pull => (door.is_some_and(|d| d.pull.is_some()), "pull"),
                DoorAction::Hold => (door.is_some_and(|d| d.hold.is_some()), "hold"),
                DoorAction::Force => (door.is_some_and(|d| d.force.is_some()), "force"),
                DoorAction::Release => (true, "release"),
            };
            (!has).then(|| unfit(format!("{verb} door {compartment}"), &["io", "doors"]))?
        }
        Step::Package { compartment, .. } => {
            let has = index(compartment).is_some_and(|i| io.packages.contains_key(&i));
            (!has).then(|| {
                unfit(
                    format!("place or take a package in {compartment}"),
                    &["io", "packages"],
                )
            })?
        }
        Step::Link { primary, secondary } => {
            let cut = |state: &Option<_>, pin: &Option<_>| state.is_some() && pin.is_none();
            if cut(primary, &io.primary) {
                unfit("switch the primary link".into(), &["io", "links"])
            } else if cut(secondary, &io.secondary) {
                unfit("switch the secondary link".into(), &["io", "links"])
            } else {
                None
            }
        }
        Step::Parcel { compartment, .. } => {
            let i = index(compartment);
            let mut needed = digits();
            needed.insert('#');
            if let Some(missing) = keys(needed) {
                unfit(
                    format!("drop off a parcel: press keys {missing}"),
                    &["io", "keys"],
                )
            } else if !i.is_some_and(|i| io.packages.contains_key(&i)) {
                unfit(
                    format!("drop off a parcel: place a package in {compartment}"),
                    &["io", "packages"],
                )
            } else if i.is_none_or(|i| io.doors.get(&i).is_none_or(|d| d.push.is_none())) {
                unfit(
                    format!("drop off a parcel: push door {compartment} shut"),
                    &["io", "doors"],
                )
            } else {
                None
            }
        }
        _ => None,
    }
}

/// What a bench cannot measure.
fn measured(
    rig: &RigDescription,
    b: &BenchSettings,
    m: &Matcher,
    compartment: Option<&str>,
) -> Option<Unfit> {
    match m {
        Matcher::Pulse { .. } => {
            let solenoids = &b.io.solenoids;
            let has = match compartment {
                Some(c) => (rig.compartments.iter())
                    .position(|(n, _)| n == c)
                    .is_some_and(|i| solenoids.contains_key(&i)),
                None => !solenoids.is_empty(),
            };
            (!has).then(|| Unfit::new(
                "measure a solenoid's on-time: this bench reads no solenoid (`io.inputs.solenoids`: a discrete input that is on while it is energised), or mark the case `skip-on: { bench: ... }`",
                &["io"],
            ))
        }
        Matcher::Backoffice { .. } => Some(Unfit::new(
            "look at what reached the back office: only the model rigs observe it (mark the case `skip-on: { bench: ... }`)",
            &[],
        )),
        _ => None,
    }
}

/// `v` to two decimals, as a limit is written.
fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
