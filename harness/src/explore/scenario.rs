//! A generated scenario in the terms of a suite: what a person would write
//! (`parcel`, `keys: "$p1#"`, `door`, `wait`, ...), kept as values the
//! shrinker can make shorter and simpler, and written as suite YAML, the
//! one form a scenario is ever run in.

use crate::model::suite::{CodeKind, DoorAction, PackageAction, UpDown};
use std::fmt::Write as _;

/// How long a guard waits for the door it expects open: a code's unlock
/// takes under 3 s even in the cold (three pulses and two reliefs).
pub const GUARD_WITHIN_MS: u64 = 3_000;

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// A courier drop-off through the front panel, binding the pickup code.
    Parcel {
        c: usize,
        var: String,
    },
    /// A code the back office mints (`window` days from today's).
    Issue {
        kind: CodeKind,
        c: Option<usize>,
        size: Option<char>,
        station: Option<u32>,
        window: i64,
        var: String,
    },
    /// Keys typed: digits, `*`, `#` and `$variables`.
    Keys(String),
    /// A guard: the scenario goes on only if this door opens. A scenario
    /// whose guard fails took another path (a lockout came first, a cold
    /// refusal): not a finding, unless a promise broke on the way.
    DoorOpens {
        c: usize,
    },
    Door {
        c: usize,
        action: DoorAction,
    },
    Package {
        c: usize,
        action: PackageAction,
    },
    /// Chamber set point in hundredths of a degree, and a ramp in C/h.
    Chamber {
        centi: i32,
        ramp_per_h: Option<u32>,
    },
    PowerOff,
    PowerOn,
    PowerCycle {
        off_ms: u64,
    },
    /// Supply down to `decivolts` for `ms`, then back.
    Brownout {
        decivolts: u32,
        ms: u64,
    },
    Link {
        primary: Option<UpDown>,
        secondary: Option<UpDown>,
    },
    /// The controller's clock set this many seconds off true time.
    Drift {
        s: i64,
    },
    /// The controller's clock set to this unix time.
    ClockSet {
        unix: u64,
    },
    Help(u32),
    Wait {
        ms: u64,
    },
}

impl Act {
    /// The variable it binds.
    pub fn binds(&self) -> Option<&str> {
        match self {
            Self::Parcel { var, .. } | Self::Issue { var, .. } => Some(var),
            _ => None,
        }
    }

    /// Whether it changes the rig (a guard, a wait or an issued code do not).
    pub fn is_action(&self) -> bool {
        !matches!(
            self,
            Self::DoorOpens { .. } | Self::Wait { .. } | Self::Issue { .. }
        )
    }

    /// The step as a suite writes it (`names`: the rig's compartments).
    pub fn yaml(&self, names: &[String]) -> String {
        let n = |c: &usize| names.get(*c).map_or("?", String::as_str);
        match self {
            Self::Parcel { c, var } => {
                format!("parcel: {{ compartment: {}, code: ${var} }}", n(c))
            }
            Self::Issue {
                kind,
                c,
                size,
                station,
                window,
                var,
            } => {
                let mut s = format!("issue: {{ kind: {}", kind_word(*kind));
                if let Some(c) = c {
                    let _ = write!(s, ", compartment: {}", n(c));
                }
                if let Some(z) = size {
                    let _ = write!(s, ", size: {z}");
                }
                if let Some(st) = station {
                    let _ = write!(s, ", station: {st}");
                }
                if *window != 0 {
                    let _ = write!(s, ", window: {window}");
                }
                let _ = write!(s, ", as: ${var} }}");
                s
            }
            Self::Keys(k) => format!("keys: \"{k}\""),
            Self::DoorOpens { c } => format!(
                "expect: {{ door: open, compartment: {}, within: {} }}",
                n(c),
                dur(GUARD_WITHIN_MS)
            ),
            Self::Door { c, action } => {
                format!("door: {{ compartment: {}, action: {action} }}", n(c))
            }
            Self::Package { c, action } => {
                format!("package: {{ compartment: {}, action: {action} }}", n(c))
            }
            Self::Chamber { centi, ramp_per_h } => match ramp_per_h {
                None => format!("chamber: {{ set: {} }}", celsius(*centi)),
                Some(r) => format!("chamber: {{ set: {}, ramp: {r}C/h }}", celsius(*centi)),
            },
            Self::PowerOff => "power: off".into(),
            Self::PowerOn => "power: on".into(),
            Self::PowerCycle { off_ms } => format!("power: {{ cycle: {} }}", dur(*off_ms)),
            Self::Brownout { decivolts, ms } => format!(
                "power: {{ brownout: {}.{}V, for: {} }}",
                decivolts / 10,
                decivolts % 10,
                dur(*ms)
            ),
            Self::Link { primary, secondary } => {
                let mut parts = Vec::new();
                if let Some(p) = primary {
                    parts.push(format!("primary: {p}"));
                }
                if let Some(s) = secondary {
                    parts.push(format!("secondary: {s}"));
                }
                format!("link: {{ {} }}", parts.join(", "))
            }
            Self::ClockSet { unix } => {
                let t = chrono::DateTime::from_timestamp(*unix as i64, 0).unwrap_or_default();
                format!("clock: {{ set: \"{}\" }}", t.format("%Y-%m-%dT%H:%M:%SZ"))
            }
            Self::Drift { s } => {
                let sign = if *s < 0 { '-' } else { '+' };
                format!("clock: {{ drift: {sign}{} }}", dur(s.unsigned_abs() * 1000))
            }
            Self::Help(n) => format!("help: {n}"),
            Self::Wait { ms } => format!("wait: {}", dur(*ms)),
        }
    }
}

fn kind_word(k: CodeKind) -> &'static str {
    match k {
        CodeKind::Pickup => "pickup",
        CodeKind::Dropoff => "dropoff",
        CodeKind::Return => "return",
        CodeKind::Collect => "collect",
    }
}

/// A duration in the largest unit that says it exactly: `3d`, `90s`, `250ms`.
pub fn dur(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    if ms == 0 {
        return "0s".into();
    }
    for (size, unit) in UNITS {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Hundredths of a degree as a suite writes them: `-20C`, `56.5C`.
fn celsius(centi: i32) -> String {
    let sign = if centi < 0 { "-" } else { "" };
    let a = centi.unsigned_abs();
    match a % 100 {
        0 => format!("{sign}{}C", a / 100),
        f if f % 10 == 0 => format!("{sign}{}.{}C", a / 100, f / 10),
        f => format!("{sign}{}.{f:02}C", a / 100),
    }
}

/// A whole scenario: parcels stocked at the start, the steps, and a tail
/// that gives the controller power, links and time to keep its promises
/// about records before the case ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The case's seed (the sim's noise): with it, a run is repeatable.
    pub seed: u64,
    pub setup: Vec<Act>,
    pub steps: Vec<Act>,
    pub tail: Vec<Act>,
}

/// What a repro file says of where it came from.
#[derive(Debug, Clone)]
pub struct Origin {
    pub explore_seed: u64,
    pub scenario: u64,
    pub rig: String,
    /// What broke, and where (a [`crate::explore::Signature`] as it reads).
    pub broken: String,
    /// Steps of the scenario as it was found.
    pub steps_before: usize,
}

impl Scenario {
    /// Steps a person reads: setup and steps (the tail is always the same).
    pub fn len(&self) -> usize {
        self.setup.len() + self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The scenario as a one-case suite file; `origin` adds the comment a
    /// repro carries (seed, promise, harness version).
    pub fn suite_yaml(&self, names: &[String], name: &str, origin: Option<&Origin>) -> String {
        let mut y = String::new();
        if let Some(o) = origin {
            let _ = writeln!(
                y,
                "# Found by `harness explore --seed {} --rig {}` (locker-hil {}), scenario {}.",
                o.explore_seed,
                o.rig,
                env!("CARGO_PKG_VERSION"),
                o.scenario
            );
            let _ = writeln!(y, "# Broken: {}.", o.broken);
            let _ = writeln!(
                y,
                "# Shrunk from {} steps to {}; `harness run --rig {} <this file>` fails it again.",
                o.steps_before,
                self.len(),
                o.rig
            );
        }
        let _ = writeln!(y, "name: {name}");
        y.push_str("tags: [explore]\ncases:\n");
        let _ = writeln!(y, "  - name: {name}");
        let _ = writeln!(y, "    seed: {}", self.seed);
        for (section, acts) in [
            ("setup", &self.setup),
            ("steps", &self.steps),
            ("teardown", &self.tail),
        ] {
            // A case must do something: an empty scenario still waits.
            if acts.is_empty() && section != "steps" {
                continue;
            }
            let _ = writeln!(y, "    {section}:");
            if acts.is_empty() {
                y.push_str("      - wait: 1s\n");
            }
            for a in acts {
                let _ = writeln!(y, "      - {}", a.yaml(names));
            }
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0, "0s")]
    #[case(250, "250ms")]
    #[case(1_500, "1500ms")]
    #[case(90_000, "90s")]
    #[case(120_000, "2m")]
    #[case(7_200_000, "2h")]
    #[case(259_200_000, "3d")]
    fn durations_read_as_a_person_writes_them(#[case] ms: u64, #[case] text: &str) {
        assert_eq!(dur(ms), text);
        let back = crate::model::units::parse_duration(text).unwrap();
        assert_eq!(back.as_millis() as u64, ms);
    }

    #[rstest]
    #[case(-2000, "-20C")]
    #[case(5650, "56.5C")]
    #[case(-1725, "-17.25C")]
    #[case(0, "0C")]
    fn temperatures_read_as_a_person_writes_them(#[case] centi: i32, #[case] text: &str) {
        assert_eq!(celsius(centi), text);
    }
}
