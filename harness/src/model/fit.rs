//! What a rig can do, read from its rig file, and the steps of a suite it
//! cannot: a chamber setting outside the chamber's limits, a voltage above
//! the supply's, a key press on a bench with nothing to press keys, a stuck
//! sensor where nothing can hold one, a clock a console cannot be told, an
//! event its dialect never makes. `harness check` and `harness run` refuse
//! such a step before anything runs, at the step and at the rig file's line
//! that says why; `harness list --rig` lists the cases that would be refused.

use crate::model::places::Seg;
use crate::model::rigfile::{RigDescription, RigKind};
use crate::model::suite::{Case, Matcher, PowerAction, Step};

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
    let matcher = match step {
        Step::Clock(_) if d.commands.clock.is_none() => {
            return Some(Unfit::new(
                format!(
                    "its console cannot be told the time: dialect `{}` has no `commands.clock`",
                    d.name
                ),
                &at,
            ));
        }
        Step::Expect(e) => &e.matcher,
        Step::Absent(a) => &a.matcher,
        _ => return None,
    };
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
    let board = |what: &str| {
        b.board.is_none().then(|| {
            Unfit::new(
                format!(
                    "{what}: bench `{}` has no fixture board (`fixtures.board`)",
                    rig.name
                ),
                &["fixtures"],
            )
        })
    };
    let one = match step {
        Step::Keys { .. } => board("press keys"),
        Step::Help { .. } => board("press the help button"),
        Step::Door { .. } => board("move a door"),
        Step::Package { .. } => board("place or take a package"),
        Step::Link { .. } => board("switch a network link"),
        Step::Parcel { .. } => board("drop off a parcel (keys, a door and a package)"),
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
        Step::Expect(e) => measured(&e.matcher),
        Step::Absent(a) => measured(&a.matcher),
        _ => None,
    };
    one.into_iter().collect()
}

/// What a bench cannot measure.
fn measured(m: &Matcher) -> Option<Unfit> {
    match m {
        Matcher::Pulse { .. } => Some(Unfit::new(
            "measure a solenoid's on-time: a bench has no current probe to do it (mark the case `skip-on: { bench: ... }`)",
            &[],
        )),
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
