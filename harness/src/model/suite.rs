//! Suites: YAML text -> raw serde types -> checked model.
//!
//! Raw types mirror the file (`deny_unknown_fields`, kebab-case). A step is
//! a map with one key naming its kind; a custom visitor reads it so every
//! error keeps the line, column and key path that yaml_serde tracks.
//! Cross-field checks (one matcher per expectation, variables bound before
//! use) run in the `TryFrom` conversions, still inside deserialization, so
//! they are located too.

use crate::model::units::{Celsius, Dur, Offset, Ramp, Volts};
use locker_proto::{CodeResult, ErrorCode, Event, LedPattern, Link, UplinkKind};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// Most runs after a failure a suite, a case or `--retries` may ask for.
pub const MAX_RETRIES: u32 = 10;
/// Steps one case may run, repeats multiplied out: far beyond any test
/// plan (a thousand cycles of a hundred steps), yet a case's record of its
/// steps stays a few megabytes. Nested repeats of 1000 x 1000 x 1000 would
/// otherwise pass `check` and then exhaust memory.
pub const MAX_CASE_STEPS: u64 = 100_000;

/// How many steps `steps` run, repeats multiplied out (saturating).
pub fn expanded_steps(steps: &[Step]) -> u64 {
    steps.iter().fold(0u64, |n, s| {
        let own = match s {
            Step::Repeat { times, steps } => {
                1u64.saturating_add(u64::from(*times).saturating_mul(expanded_steps(steps)))
            }
            _ => 1,
        };
        n.saturating_add(own)
    })
}

/// Default time between two injected keys.
pub const DEFAULT_KEY_INTERVAL: Duration = Duration::from_millis(200);
/// Default bound of an `expect` without `within`.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(1);

/// A checked suite file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Suite {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// How many times a failed case of this suite runs again before its
    /// failure counts (a case's own `retries` wins; `--retries` is the
    /// default for suites that do not say).
    pub retries: Option<u32>,
    /// Wall time a case of this suite may take before it is cut short as
    /// an error (a case's own `timeout` wins; `--case-timeout` is the
    /// default for suites that do not say).
    pub timeout: Option<Dur>,
    /// Cases known to be unreliable, kept out of the verdict until fixed:
    /// each is reported as skipped with its reason and link, never dropped.
    #[serde(default)]
    pub quarantine: Vec<Quarantine>,
    /// Whether the waits of this suite's cases may be shortened on a
    /// bench by moving the clocks (a case's own `waits` wins).
    pub waits: Option<Waits>,
    pub cases: Vec<Case>,
    /// The file's text, as it was read, and where each node of it is.
    #[serde(skip)]
    pub origin: std::sync::Arc<crate::model::places::Origin>,
}

/// What a case's long waits mean. On a bench, where waits are spent for
/// real, a wait of [`crate::model::cost::SHORTEN_FROM`] or more in a case
/// that means calendar time (a code's day window, a parcel's expiry) is
/// taken by moving the controller's and the back office's clocks forward;
/// a case whose meaning depends on time really passing (a lockout's
/// backoff, an hourly self-test, a thermal soak) says `waits: real`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Waits {
    /// Waits pass in full on every rig.
    Real,
    /// Long waits may be taken by moving the clocks (the default).
    Calendar,
}

/// One quarantined case: which, why, and where the work to fix it is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Quarantine {
    /// The case's name, as in `cases`.
    pub case: String,
    pub reason: String,
    /// The issue that tracks it.
    pub link: Option<String>,
}

impl Suite {
    /// The quarantine entry for `case`, if it is quarantined.
    pub fn quarantined(&self, case: &str) -> Option<&Quarantine> {
        self.quarantine.iter().find(|q| q.case == case)
    }
}

/// A checked case.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawCase")]
pub struct Case {
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub setup: Vec<Step>,
    pub steps: Vec<Step>,
    pub teardown: Vec<Step>,
    pub seed: Option<u64>,
    /// Why the case is not run; it stays visible as skipped.
    pub skip: Option<String>,
    /// Why the case is not run on a kind of rig, by kind.
    pub skip_on: SkipOn,
    /// How many times the case runs again after a failure.
    pub retries: Option<u32>,
    /// Wall time the case may take.
    pub timeout: Option<Duration>,
    /// What its long waits mean (the suite's when the case does not say).
    pub waits: Option<Waits>,
}

/// A case's sections by name, in the order they run.
pub const SECTIONS: [&str; 3] = ["setup", "steps", "teardown"];

impl Case {
    /// The case's sections with their steps, in the order they run.
    pub fn sections(&self) -> [(&'static str, &[Step]); 3] {
        [
            (SECTIONS[0], &self.setup),
            (SECTIONS[1], &self.steps),
            (SECTIONS[2], &self.teardown),
        ]
    }
}

/// Kinds of rig a case cannot run on, each with the reason, which the
/// report shows: a case is skipped visibly, never dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SkipOn {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sim: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qemu: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench: Option<String>,
}

impl SkipOn {
    /// The reason this case is not run on a rig of kind `kind`, if any.
    pub fn reason(&self, kind: &str) -> Option<&str> {
        match kind {
            "sim" => self.sim.as_deref(),
            "qemu" => self.qemu.as_deref(),
            "bench" => self.bench.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCase {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    setup: Vec<Step>,
    steps: Vec<Step>,
    #[serde(default)]
    teardown: Vec<Step>,
    seed: Option<u64>,
    skip: Option<String>,
    #[serde(default)]
    skip_on: SkipOn,
    retries: Option<u32>,
    /// Read as text and parsed in the conversion, so that a bad value is
    /// reported with its key (a `Dur` field's error would name the case only).
    timeout: Option<String>,
    waits: Option<Waits>,
}

impl TryFrom<RawCase> for Case {
    type Error = String;

    fn try_from(raw: RawCase) -> Result<Self, String> {
        if raw.name.trim().is_empty() {
            return Err("a case needs a non-empty `name`".into());
        }
        if raw.steps.is_empty() {
            return Err(format!(
                "case `{}`: `steps` is empty; a case must do something",
                raw.name
            ));
        }
        if let Some(n) = raw.retries.filter(|n| *n > MAX_RETRIES) {
            return Err(format!(
                "case `{}`: retries: {n} is too many; at most {MAX_RETRIES} (a case that fails that often is broken, not flaky)",
                raw.name
            ));
        }
        let timeout = match &raw.timeout {
            None => None,
            Some(t) => Some(
                crate::model::units::parse_duration(t)
                    .map_err(|e| format!("case `{}`: timeout: {e}", raw.name))?,
            ),
        };
        let mut bound = BTreeSet::new();
        for (section, steps) in [
            ("setup", &raw.setup),
            ("steps", &raw.steps),
            ("teardown", &raw.teardown),
        ] {
            check_vars(&raw.name, section, steps, &mut bound)?;
        }
        Ok(Self {
            name: raw.name,
            description: raw.description,
            tags: raw.tags,
            setup: raw.setup,
            steps: raw.steps,
            teardown: raw.teardown,
            seed: raw.seed,
            skip: raw.skip,
            skip_on: raw.skip_on,
            retries: raw.retries,
            timeout,
            waits: raw.waits,
        })
    }
}

fn check_vars(
    case: &str,
    section: &str,
    steps: &[Step],
    bound: &mut BTreeSet<String>,
) -> Result<(), String> {
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Keys { text, .. } => {
                for var in text.vars() {
                    if !bound.contains(var) {
                        return Err(format!(
                            "case `{case}`, {section}[{i}]: `${var}` is used before any step binds it \
                             (bind it with `parcel: {{ ..., code: ${var} }}` or `issue: {{ ..., as: ${var} }}`)"
                        ));
                    }
                }
            }
            Step::Parcel { bind, .. } | Step::Issue { bind, .. } => {
                bound.insert(bind.clone());
            }
            Step::Repeat { steps, .. } => {
                check_vars(case, &format!("{section}[{i}].repeat"), steps, bound)?
            }
            _ => {}
        }
    }
    Ok(())
}

/// Keys to type: digits, `*` (clear), `#` (enter) and `$variables`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyText(Vec<KeyPart>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyPart {
    Keys(String),
    Var(String),
}

impl KeyText {
    /// How many keys it presses, a variable counted as a code of `code`
    /// digits (its value is known only when the case runs).
    pub fn presses(&self, code: usize) -> usize {
        (self.0.iter())
            .map(|p| match p {
                KeyPart::Keys(k) => k.chars().count(),
                KeyPart::Var(_) => code,
            })
            .sum()
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut chars = s.chars().peekable();
        let mut lit = String::new();
        while let Some(c) = chars.next() {
            match c {
                '0'..='9' | '*' | '#' => lit.push(c),
                ' ' => {}
                '$' => {
                    if !lit.is_empty() {
                        parts.push(KeyPart::Keys(std::mem::take(&mut lit)));
                    }
                    let mut name = String::new();
                    while let Some(&n) = chars.peek() {
                        if n.is_ascii_alphanumeric() || n == '_' || n == '-' {
                            name.push(n);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    if name.is_empty() {
                        return Err(format!("`{s}`: `$` must be followed by a variable name"));
                    }
                    parts.push(KeyPart::Var(name));
                }
                other => {
                    return Err(format!(
                        "`{s}`: `{other}` is not a keypad key; expected digits, `*` (clear), `#` (enter) or a $variable"
                    ));
                }
            }
        }
        if !lit.is_empty() {
            parts.push(KeyPart::Keys(lit));
        }
        if parts.is_empty() {
            return Err("`keys` is empty; expected at least one key".into());
        }
        Ok(Self(parts))
    }

    /// The keys it names itself (not those of its variables).
    pub fn literal_keys(&self) -> impl Iterator<Item = char> + '_ {
        self.0.iter().flat_map(|p| match p {
            KeyPart::Keys(k) => k.chars().collect::<Vec<_>>(),
            KeyPart::Var(_) => Vec::new(),
        })
    }

    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            KeyPart::Var(v) => Some(v.as_str()),
            KeyPart::Keys(_) => None,
        })
    }

    /// Expand variables. The result holds secrets: never log it.
    pub fn expand(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                KeyPart::Keys(k) => out.push_str(k),
                KeyPart::Var(v) => {
                    out.push_str(&lookup(v).ok_or_else(|| format!("`${v}` is not bound"))?)
                }
            }
        }
        Ok(out)
    }
}

impl fmt::Display for KeyText {
    /// The redacted form: variables stay as `$name`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match p {
                KeyPart::Keys(k) => f.write_str(k)?,
                KeyPart::Var(v) => write!(f, "${v}")?,
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DoorAction {
    /// Push the door shut (one stroke).
    Push,
    /// Pull the door open (one stroke); a latched door does not move.
    Pull,
    /// Press the door against its bolt until released: the side load jams the bolt.
    Hold,
    Release,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageAction {
    In,
    Out,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpDown {
    Up,
    Down,
}

/// `Display` for a fixture word: the spelling the suite files use.
macro_rules! suite_words {
    ($($t:ty { $($v:ident => $s:literal),* $(,)? })*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $(Self::$v => $s),* })
            }
        }
    )*};
}

suite_words! {
    DoorAction { Push => "push", Pull => "pull", Hold => "hold", Release => "release" }
    PackageAction { In => "in", Out => "out" }
    UpDown { Up => "up", Down => "down" }
    Sensor { Door => "door", Bolt => "bolt", Package => "package" }
    Stuck {
        Open => "open", Closed => "closed", Extended => "extended",
        Retracted => "retracted", Present => "present", Absent => "absent", None => "none",
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PowerAction {
    Off,
    On,
    /// Off, then on after `off_for`.
    Cycle {
        off_for: Duration,
    },
    Volts(f64),
    /// Drop to `volts` for `for_`, then back to the previous level.
    Brownout {
        volts: f64,
        for_: Duration,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockAction {
    /// Controller clock = true time + offset (milliseconds).
    Drift(i64),
    /// Controller clock set to this unix time.
    Set(u64),
}

/// What kind of code is asked for (of an issuer, as in a suite).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodeKind {
    /// A customer's code for a parcel that was dropped off.
    Pickup,
    /// A courier's code to drop a parcel into a compartment.
    Dropoff,
    /// A customer's code to return a parcel into a free compartment of a size.
    Return,
    /// A courier's code to collect the returns.
    Collect,
}

/// What to do to the controller's non-volatile memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemoryAction {
    /// Flip bits in the stored image, as a failing flash cell would.
    Corrupt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sensor {
    Door,
    Bolt,
    Package,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stuck {
    Open,
    Closed,
    Extended,
    Retracted,
    Present,
    Absent,
    /// Remove the fault: the sensor reads the truth again.
    None,
}

/// One step of a case.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Keys {
        text: KeyText,
        interval: Duration,
    },
    Help {
        presses: u32,
    },
    Door {
        compartment: String,
        action: DoorAction,
    },
    Package {
        compartment: String,
        action: PackageAction,
    },
    Chamber {
        set: Celsius,
        ramp: Option<Ramp>,
    },
    Power(PowerAction),
    Link {
        primary: Option<UpDown>,
        secondary: Option<UpDown>,
    },
    Clock(ClockAction),
    Fault {
        compartment: String,
        sensor: Sensor,
        stuck: Stuck,
    },
    Memory(MemoryAction),
    Wait(Duration),
    /// Wait until this second of the (true) day comes round.
    WaitUntil {
        second_of_day: u32,
    },
    Repeat {
        times: u32,
        steps: Vec<Step>,
    },
    /// Courier drop-off into `compartment`, binding the pickup code.
    Parcel {
        compartment: String,
        bind: String,
    },
    /// Have the back office mint a code and bind it.
    Issue {
        kind: CodeKind,
        compartment: Option<String>,
        size: Option<char>,
        station: Option<u32>,
        window: i64,
        bind: String,
    },
    Expect(Expectation),
    Absent(Absence),
}

impl Step {
    /// Actions change the rig; expectations look at what followed the last action.
    pub fn is_action(&self) -> bool {
        !matches!(
            self,
            Self::Expect(_)
                | Self::Absent(_)
                | Self::Wait(_)
                | Self::WaitUntil { .. }
                | Self::Issue { .. }
                | Self::Repeat { .. }
        )
    }
}

impl fmt::Display for Step {
    /// How the step reads in transcripts and failure messages (secrets stay as `$name`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Keys { text, .. } => write!(f, "keys {text}"),
            Self::Help { presses } => write!(f, "help x{presses}"),
            Self::Door {
                compartment,
                action,
            } => write!(f, "door {compartment} {action}"),
            Self::Package {
                compartment,
                action,
            } => write!(f, "package {compartment} {action}"),
            Self::Chamber { set, ramp: Some(r) } => {
                write!(f, "chamber {set} at {:.3}C/min", r.0 * 60.0)
            }
            Self::Chamber { set, ramp: None } => write!(f, "chamber {set}"),
            Self::Power(p) => match p {
                PowerAction::Off => f.write_str("power off"),
                PowerAction::On => f.write_str("power on"),
                PowerAction::Cycle { off_for } => write!(f, "power cycle ({} off)", Dur(*off_for)),
                PowerAction::Volts(v) => write!(f, "power {v}V"),
                PowerAction::Brownout { volts, for_ } => {
                    write!(f, "power brownout {volts}V for {}", Dur(*for_))
                }
            },
            Self::Link { primary, secondary } => {
                f.write_str("link")?;
                if let Some(p) = primary {
                    write!(f, " primary {p}")?;
                }
                if let Some(s) = secondary {
                    write!(f, " secondary {s}")?;
                }
                Ok(())
            }
            Self::Clock(ClockAction::Drift(ms)) => write!(
                f,
                "clock drift {}{}",
                if *ms < 0 { "-" } else { "+" },
                Dur(Duration::from_millis(ms.unsigned_abs()))
            ),
            Self::Clock(ClockAction::Set(t)) => write!(f, "clock set {t}"),
            Self::Fault {
                compartment,
                sensor,
                stuck,
            } => write!(f, "fault {compartment} {sensor} {stuck}"),
            Self::Memory(MemoryAction::Corrupt) => f.write_str("memory corrupt"),
            Self::Wait(d) => write!(f, "wait {}", Dur(*d)),
            Self::WaitUntil { second_of_day } => {
                write!(
                    f,
                    "wait until {:02}:{:02}:{:02}",
                    second_of_day / 3600,
                    second_of_day / 60 % 60,
                    second_of_day % 60
                )
            }
            Self::Repeat { times, .. } => write!(f, "repeat x{times}"),
            Self::Parcel { compartment, bind } => write!(f, "parcel into {compartment} as ${bind}"),
            Self::Issue { kind, bind, .. } => write!(f, "issue {kind:?} code as ${bind}"),
            Self::Expect(e) => write!(f, "expect {} within {}", e.matcher, Dur(e.within)),
            Self::Absent(a) => write!(f, "absent {} for {}", a.matcher, Dur(a.for_)),
        }
    }
}

/// What an expectation looks for among the observations.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// Any event of this kind (first word of its text form).
    Event(String),
    Display(String),
    Led(LedPattern),
    Lock(locker_proto::LockState),
    Door(locker_proto::DoorState),
    Bolt(locker_proto::BoltState),
    Package(bool),
    Error(ErrorCode),
    Code(CodeResult),
    Heater(bool),
    Temperature {
        min: Option<Celsius>,
        max: Option<Celsius>,
    },
    Pulse {
        min: Option<Duration>,
        max: Option<Duration>,
    },
    Lockout {
        min: Option<Duration>,
        max: Option<Duration>,
    },
    /// The controller started an unlock pulse (what it commanded, not what was measured).
    Unlock {
        attempt: Option<u8>,
        min: Option<Duration>,
        max: Option<Duration>,
    },
    LinkActive(Option<Link>),
    Uplink(UplinkKind),
    /// The controller's answer to `STATUS` (asked when the step runs).
    Status {
        failed: Option<u8>,
        queued: Option<u16>,
        locked_out: Option<bool>,
    },
    /// The back office holds exactly `count` distinct records of `kind`.
    Backoffice {
        kind: UplinkKind,
        count: u32,
    },
}

impl Matcher {
    /// Whether what it looks for may name a compartment (so that a
    /// `compartment:` beside it can ever be met).
    pub fn looks_at_compartments(&self) -> bool {
        match self {
            Self::Event(k) => Event::WITH_COMPARTMENT.contains(&k.as_str()),
            Self::Lock(_)
            | Self::Door(_)
            | Self::Bolt(_)
            | Self::Package(_)
            | Self::Error(_)
            | Self::Code(_)
            | Self::Unlock { .. }
            | Self::Pulse { .. }
            // Records name one; narrowing a count by it is still to come.
            | Self::Backoffice { .. } => true,
            Self::Display(_)
            | Self::Led(_)
            | Self::Heater(_)
            | Self::Temperature { .. }
            | Self::Lockout { .. }
            | Self::LinkActive(_)
            | Self::Uplink(_)
            | Self::Status { .. } => false,
        }
    }

    /// The kind of event (its first word) it looks for, if it looks at
    /// events (not at measurements or at the controller's answers).
    pub fn event_kind(&self) -> Option<&str> {
        Some(match self {
            Self::Event(k) => k.as_str(),
            Self::Display(_) => "display",
            Self::Led(_) => "led",
            Self::Lock(_) => "lock",
            Self::Door(_) => "door",
            Self::Bolt(_) => "bolt",
            Self::Package(_) => "pkg",
            Self::Error(_) => "error",
            Self::Code(_) => "code",
            Self::Heater(_) => "heater",
            Self::Temperature { .. } => "temp",
            Self::Lockout { .. } => "lockout",
            Self::Unlock { .. } => "unlock",
            Self::LinkActive(_) => "link-active",
            Self::Uplink(_) => "uplink",
            Self::Pulse { .. } | Self::Status { .. } | Self::Backoffice { .. } => return None,
        })
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn range<T: fmt::Display>(
            f: &mut fmt::Formatter<'_>,
            min: &Option<T>,
            max: &Option<T>,
        ) -> fmt::Result {
            match (min, max) {
                (Some(a), Some(b)) => write!(f, " in [{a}, {b}]"),
                (Some(a), None) => write!(f, " >= {a}"),
                (None, Some(b)) => write!(f, " <= {b}"),
                (None, None) => Ok(()),
            }
        }
        match self {
            Self::Event(k) => write!(f, "event {k}"),
            Self::Display(t) => write!(f, "display {t:?}"),
            Self::Led(p) => write!(f, "led {p:?}", p = p.to_string()),
            Self::Lock(s) => write!(f, "lock {s}"),
            Self::Door(s) => write!(f, "door {s}"),
            Self::Bolt(s) => write!(f, "bolt {s}"),
            Self::Package(p) => write!(f, "package {}", if *p { "present" } else { "absent" }),
            Self::Error(c) => write!(f, "error {c}"),
            Self::Code(r) => write!(f, "code {r}"),
            Self::Heater(on) => write!(f, "heater {}", if *on { "on" } else { "off" }),
            Self::Temperature { min, max } => {
                f.write_str("temperature")?;
                range(f, min, max)
            }
            Self::Pulse { min, max } => {
                f.write_str("solenoid pulse")?;
                range(f, &min.map(Dur), &max.map(Dur))
            }
            Self::Lockout { min, max } => {
                f.write_str("lockout")?;
                range(f, &min.map(Dur), &max.map(Dur))
            }
            Self::Unlock { attempt, min, max } => {
                f.write_str("unlock")?;
                if let Some(a) = attempt {
                    write!(f, " attempt {a}")?;
                }
                if min.is_some() || max.is_some() {
                    f.write_str(" with pulse")?;
                }
                range(f, &min.map(Dur), &max.map(Dur))
            }
            Self::LinkActive(l) => write!(f, "link-active {}", l.map_or("none", |l| l.as_str())),
            Self::Uplink(k) => write!(f, "uplink {k}"),
            Self::Status {
                failed,
                queued,
                locked_out,
            } => {
                f.write_str("status")?;
                if let Some(n) = failed {
                    write!(f, " failed={n}")?;
                }
                if let Some(n) = queued {
                    write!(f, " queued={n}")?;
                }
                if let Some(l) = locked_out {
                    write!(f, " locked-out={l}")?;
                }
                Ok(())
            }
            Self::Backoffice { kind, count } => {
                write!(f, "back office holding {count} {kind} record(s)")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub matcher: Matcher,
    pub compartment: Option<String>,
    pub within: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Absence {
    pub matcher: Matcher,
    pub compartment: Option<String>,
    pub for_: Duration,
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.matcher)?;
        if let Some(c) = &self.compartment {
            write!(f, " on {c}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- raw steps

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum StepKind {
    Keys,
    Help,
    Door,
    Package,
    Chamber,
    Power,
    Link,
    Clock,
    Fault,
    Memory,
    Wait,
    WaitUntil,
    Repeat,
    Parcel,
    Issue,
    Expect,
    Absent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawKeysMap {
    text: String,
    interval: Option<Dur>,
}

/// `keys: "123#"` or `keys: { text: "123#", interval: 2s }`.
struct RawKeys(String, Option<Dur>);

impl<'de> Deserialize<'de> for RawKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("keys as a string like \"1234#\", or a map with `text` and `interval`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawKeys, E> {
                Ok(RawKeys(v.to_owned(), None))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawKeys, E> {
                Ok(RawKeys(v.to_string(), None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawKeys, A::Error> {
                let m = RawKeysMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawKeys(m.text, m.interval))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDoor {
    compartment: String,
    action: DoorAction,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPackage {
    compartment: String,
    action: PackageAction,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawChamber {
    set: Celsius,
    ramp: Option<Ramp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPowerMap {
    volts: Option<Volts>,
    brownout: Option<Volts>,
    #[serde(rename = "for")]
    for_: Option<Dur>,
    cycle: Option<Dur>,
}

struct RawPower(PowerAction);

impl<'de> Deserialize<'de> for RawPower {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPower;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`off`, `on`, `cycle`, or a map with `volts`, `cycle` (off time) or `brownout` and `for`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPower, E> {
                match v {
                    "off" => Ok(RawPower(PowerAction::Off)),
                    "on" => Ok(RawPower(PowerAction::On)),
                    "cycle" => Ok(RawPower(PowerAction::Cycle {
                        off_for: Duration::from_secs(1),
                    })),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPower, A::Error> {
                let m = RawPowerMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let action = match (m.volts, m.brownout, m.for_, m.cycle) {
                    (Some(v), None, None, None) => PowerAction::Volts(v.0),
                    (None, Some(v), Some(d), None) => PowerAction::Brownout {
                        volts: v.0,
                        for_: d.0,
                    },
                    (None, None, None, Some(d)) => PowerAction::Cycle { off_for: d.0 },
                    (None, Some(_), None, None) => {
                        return Err(de::Error::custom(
                            "`brownout` needs `for`: how long the voltage stays low",
                        ));
                    }
                    _ => {
                        return Err(de::Error::custom(
                            "power takes one of: `volts`, `cycle`, or `brownout` with `for`",
                        ));
                    }
                };
                Ok(RawPower(action))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLink {
    primary: Option<UpDown>,
    secondary: Option<UpDown>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawClock {
    drift: Option<Offset>,
    set: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFault {
    compartment: String,
    sensor: Sensor,
    stuck: Stuck,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRepeat {
    times: u32,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawParcel {
    compartment: String,
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawIssue {
    kind: CodeKind,
    compartment: Option<String>,
    size: Option<String>,
    station: Option<u32>,
    #[serde(default)]
    window: i64,
    #[serde(rename = "as")]
    as_: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRange {
    min: Option<Celsius>,
    max: Option<Celsius>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDurRange {
    min: Option<Dur>,
    max: Option<Dur>,
}

impl RawDurRange {
    /// Its bounds, refused when nothing can be between them.
    fn bounds(self) -> Result<(Option<Duration>, Option<Duration>), String> {
        match (self.min, self.max) {
            (Some(lo), Some(hi)) if lo.0 > hi.0 => Err(empty(lo, hi)),
            (min, max) => Ok((min.map(|d| d.0), max.map(|d| d.0))),
        }
    }
}

/// Why a range whose `min` is above its `max` is refused.
fn empty(min: impl fmt::Display, max: impl fmt::Display) -> String {
    format!("`min` ({min}) is above `max` ({max}): nothing is ever in this range")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawUnlock {
    attempt: Option<u8>,
    pulse: Option<RawDurRange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStatus {
    failed: Option<u8>,
    queued: Option<u16>,
    locked_out: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawBackoffice {
    kind: String,
    count: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawExpect {
    event: Option<String>,
    display: Option<String>,
    led: Option<String>,
    lock: Option<String>,
    door: Option<String>,
    bolt: Option<String>,
    package: Option<String>,
    error: Option<String>,
    code: Option<String>,
    heater: Option<String>,
    temperature: Option<RawRange>,
    pulse: Option<RawDurRange>,
    lockout: Option<RawDurRange>,
    unlock: Option<RawUnlock>,
    link_active: Option<String>,
    uplink: Option<String>,
    backoffice: Option<RawBackoffice>,
    status: Option<RawStatus>,
    compartment: Option<String>,
    within: Option<Dur>,
    #[serde(rename = "for")]
    for_: Option<Dur>,
}

fn word<T>(
    what: &str,
    v: &str,
    parse: impl Fn(&str) -> Result<T, locker_proto::DecodeError>,
    all: &[&str],
) -> Result<T, String> {
    parse(v).map_err(|_| format!("`{v}` is not a {what}; expected one of: {}", all.join(", ")))
}

fn names<T: Copy>(all: &[T], f: impl Fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|&x| f(x)).collect()
}

fn on_off(what: &str, v: &str) -> Result<bool, String> {
    match v {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!(
            "`{v}` is not a {what} state; expected `on` or `off`"
        )),
    }
}

/// The keys an `expect` or `absent` looks for one of, in the order errors name them.
const LOOKED_FOR: [&str; 18] = [
    "event",
    "display",
    "led",
    "lock",
    "door",
    "bolt",
    "package",
    "error",
    "code",
    "heater",
    "temperature",
    "pulse",
    "lockout",
    "unlock",
    "link-active",
    "uplink",
    "backoffice",
    "status",
];

/// What an `expect` or `absent` map says, before the two are told apart.
struct ParsedExpect {
    matcher: Matcher,
    compartment: Option<String>,
    within: Option<Dur>,
    for_: Option<Dur>,
}

impl RawExpect {
    fn matcher(mut self) -> Result<ParsedExpect, String> {
        let mut found = self.words();
        found.extend(self.measures());
        found.sort_by_key(|(key, _)| LOOKED_FOR.iter().position(|k| k == key));
        match found.len() {
            0 => {
                let keys: Vec<_> = LOOKED_FOR.iter().map(|k| format!("`{k}`")).collect();
                Err(format!(
                    "nothing to look for: expected one of {}",
                    keys.join(", ")
                ))
            }
            1 => {
                let (key, m) = found.remove(0);
                let m = m.map_err(|e| format!("{key}: {e}"))?;
                if self.compartment.is_some() && !m.looks_at_compartments() {
                    return Err(format!(
                        "`compartment` does not go with `{key}`: what it looks for never names a compartment, so this could never be seen"
                    ));
                }
                Ok(ParsedExpect {
                    matcher: m,
                    compartment: self.compartment.map(compartment_name).transpose()?,
                    within: self.within,
                    for_: self.for_,
                })
            }
            _ => {
                let keys: Vec<_> = found.iter().map(|(k, _)| format!("`{k}`")).collect();
                Err(format!(
                    "one expectation looks for one thing, found {}; split it into several steps",
                    keys.join(" and ")
                ))
            }
        }
    }

    /// What the controller reports in words, each key read into its
    /// matcher: an event kind, the display, the LED, a lock, door or bolt
    /// state, a package, an error, a code result, the heater, the active
    /// link, an uplink record.
    fn words(&mut self) -> Vec<(&'static str, Result<Matcher, String>)> {
        use locker_proto::{BoltState, DoorState, LockState};
        let mut found: Vec<(&'static str, Result<Matcher, String>)> = Vec::new();
        if let Some(k) = self.event.take() {
            let m = if Event::KINDS.contains(&k.as_str()) {
                Ok(Matcher::Event(k))
            } else {
                Err(format!(
                    "`{k}` is not an event kind; expected one of: {}",
                    Event::KINDS.join(", ")
                ))
            };
            found.push(("event", m));
        }
        if let Some(t) = self.display.take() {
            // The protocol's display text: what the controller can show.
            let width = locker_proto::Text::new().capacity();
            let m = if t.chars().count() > width {
                Err(format!(
                    "`{t}` is longer than the display's {width} characters: the controller can never show it"
                ))
            } else if let Some(c) = t.chars().find(|c| matches!(c, '*' | '"' | '\\')) {
                Err(format!(
                    "`{t}` has `{c}`, which a display text never holds (PROTOCOL.md)"
                ))
            } else {
                Ok(Matcher::Display(t))
            };
            found.push(("display", m));
        }
        if let Some(p) = self.led.take() {
            let m = LedPattern::parse(&p)
                .map(Matcher::Led)
                .map_err(|_| format!("`{p}` is not an LED pattern; expected a colour (off, green, amber, red) and an optional blink code like `red 2-1`"));
            found.push(("led", m));
        }
        // The state words come from the protocol crate, so suites accept
        // exactly what the controller can report.
        macro_rules! state {
            ($field:ident, $key:literal, $what:literal, $ty:ty, $variant:ident) => {
                if let Some(v) = self.$field.take() {
                    let all = names(<$ty>::ALL, <$ty>::as_str);
                    found.push((
                        $key,
                        word($what, &v, <$ty>::parse, &all).map(Matcher::$variant),
                    ));
                }
            };
        }
        state!(lock, "lock", "lock state", LockState, Lock);
        state!(door, "door", "door state", DoorState, Door);
        state!(bolt, "bolt", "bolt state", BoltState, Bolt);
        if let Some(s) = self.package.take() {
            let m = match s.as_str() {
                "present" => Ok(Matcher::Package(true)),
                "absent" => Ok(Matcher::Package(false)),
                _ => Err(format!(
                    "`{s}` is not a package state; expected `present` or `absent`"
                )),
            };
            found.push(("package", m));
        }
        if let Some(e) = self.error.take() {
            let m = e
                .strip_prefix('E')
                .and_then(|n| n.parse().ok())
                .map(|n| Matcher::Error(ErrorCode(n)))
                .ok_or_else(|| {
                    format!("`{e}` is not an error code; expected E and two digits, like E21")
                });
            found.push(("error", m));
        }
        if let Some(c) = self.code.take() {
            found.push((
                "code",
                word(
                    "code result",
                    &c,
                    CodeResult::parse,
                    &names(CodeResult::ALL, CodeResult::as_str),
                )
                .map(Matcher::Code),
            ));
        }
        if let Some(h) = self.heater.take() {
            found.push(("heater", on_off("heater", &h).map(Matcher::Heater)));
        }
        if let Some(l) = self.link_active.take() {
            let m = if l == "none" {
                Ok(Matcher::LinkActive(None))
            } else {
                word("link", &l, Link::parse, &["primary", "secondary", "none"])
                    .map(|l| Matcher::LinkActive(Some(l)))
            };
            found.push(("link-active", m));
        }
        let kinds = names(UplinkKind::ALL, UplinkKind::as_str);
        if let Some(k) = self.uplink.take() {
            found.push((
                "uplink",
                word("record kind", &k, UplinkKind::parse, &kinds).map(Matcher::Uplink),
            ));
        }
        found
    }

    /// What is measured or counted, each within its bounds: a temperature,
    /// a pulse, a lockout, an unlock, back-office records, the status.
    fn measures(&mut self) -> Vec<(&'static str, Result<Matcher, String>)> {
        let mut found: Vec<(&'static str, Result<Matcher, String>)> = Vec::new();
        let kinds = names(UplinkKind::ALL, UplinkKind::as_str);
        if let Some(r) = self.temperature.take() {
            let m = if r.min.is_none() && r.max.is_none() {
                Err("`temperature` needs `min`, `max` or both".to_owned())
            } else if let (Some(lo), Some(hi)) = (r.min, r.max)
                && lo.0 > hi.0
            {
                Err(empty(lo, hi))
            } else {
                Ok(Matcher::Temperature {
                    min: r.min,
                    max: r.max,
                })
            };
            found.push(("temperature", m));
        }
        if let Some(r) = self.pulse.take() {
            let m = r.bounds().map(|(min, max)| Matcher::Pulse { min, max });
            found.push(("pulse", m));
        }
        if let Some(r) = self.lockout.take() {
            let m = r.bounds().map(|(min, max)| Matcher::Lockout { min, max });
            found.push(("lockout", m));
        }
        if let Some(u) = self.unlock.take() {
            let bounds = u.pulse.map_or(Ok((None, None)), RawDurRange::bounds);
            let m = bounds.map(|(min, max)| Matcher::Unlock {
                attempt: u.attempt,
                min,
                max,
            });
            found.push(("unlock", m));
        }
        if let Some(b) = self.backoffice.take() {
            let m = word("record kind", &b.kind, UplinkKind::parse, &kinds).map(|kind| {
                Matcher::Backoffice {
                    kind,
                    count: b.count,
                }
            });
            found.push(("backoffice", m));
        }
        if let Some(st) = self.status.take() {
            let m = if st.failed.is_none() && st.queued.is_none() && st.locked_out.is_none() {
                Err("`status` needs `failed`, `queued` or `locked-out`".to_owned())
            } else {
                Ok(Matcher::Status {
                    failed: st.failed,
                    queued: st.queued,
                    locked_out: st.locked_out,
                })
            };
            found.push(("status", m));
        }
        found
    }
}

/// Seconds of the day from `HH:MM` or `HH:MM:SS`.
fn parse_time_of_day(s: &str) -> Result<u32, String> {
    let bad = || format!("`{s}` is not a time of day; expected HH:MM or HH:MM:SS (24-hour, UTC)");
    let parts: Vec<_> = s.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(bad());
    }
    let nums: Result<Vec<u32>, _> = parts.iter().map(|p| p.parse::<u32>()).collect();
    let nums = nums.map_err(|_| bad())?;
    let (h, m, sec) = (nums[0], nums[1], nums.get(2).copied().unwrap_or(0));
    if h > 23 || m > 59 || sec > 59 {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60 + sec)
}

/// Unix seconds from `YYYY-MM-DDTHH:MM:SSZ` (UTC only, which is what rigs run on).
pub fn parse_utc(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a UTC time; expected YYYY-MM-DDTHH:MM:SSZ");
    let (date, time) = s
        .strip_suffix('Z')
        .and_then(|t| t.split_once('T'))
        .ok_or_else(bad)?;
    let d: Vec<_> = date.split('-').collect();
    if d.len() != 3 {
        return Err(bad());
    }
    let (y, mo, day): (i64, u32, u32) = (
        d[0].parse().map_err(|_| bad())?,
        d[1].parse().map_err(|_| bad())?,
        d[2].parse().map_err(|_| bad())?,
    );
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&mo) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let secs = parse_time_of_day(time).map_err(|_| bad())?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((mo + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days as u64 * 86_400 + u64::from(secs))
}

fn var_name(s: &str) -> Result<String, String> {
    let name = s
        .strip_prefix('$')
        .ok_or_else(|| format!("`{s}` is not a variable; expected `$name`"))?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "`{s}` is not a variable; expected `$` and letters, digits, `_` or `-`"
        ));
    }
    Ok(name.to_owned())
}

fn compartment_name(s: String) -> Result<String, String> {
    if s.is_empty() || s.len() > 8 || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "`{s}` is not a compartment name; expected letters and digits like M1"
        ));
    }
    Ok(s)
}

/// A step's raw form (what serde reads under the step's key), checked into
/// the step: each kind's own rules beside its raw type.
trait RawStep: de::DeserializeOwned {
    fn check(self) -> Result<Step, String>;
}

/// The value under a step's key, read as `R` and checked.
fn checked<'de, R: RawStep, A: MapAccess<'de>>(map: &mut A) -> Result<Step, A::Error> {
    map.next_value::<R>()?.check().map_err(de::Error::custom)
}

/// The step under the key naming `kind`.
fn step_value<'de, A: MapAccess<'de>>(kind: StepKind, map: &mut A) -> Result<Step, A::Error> {
    match kind {
        StepKind::Keys => checked::<RawKeys, _>(map),
        StepKind::Help => checked::<RawHelp, _>(map),
        StepKind::Door => checked::<RawDoor, _>(map),
        StepKind::Package => checked::<RawPackage, _>(map),
        StepKind::Chamber => checked::<RawChamber, _>(map),
        StepKind::Power => Ok(Step::Power(map.next_value::<RawPower>()?.0)),
        StepKind::Link => checked::<RawLink, _>(map),
        StepKind::Clock => checked::<RawClock, _>(map),
        StepKind::Fault => checked::<RawFault, _>(map),
        StepKind::Memory => Ok(Step::Memory(map.next_value()?)),
        StepKind::Wait => Ok(Step::Wait(map.next_value::<Dur>()?.0)),
        StepKind::WaitUntil => checked::<RawWaitUntil, _>(map),
        StepKind::Repeat => checked::<RawRepeat, _>(map),
        StepKind::Parcel => checked::<RawParcel, _>(map),
        StepKind::Issue => checked::<RawIssue, _>(map),
        StepKind::Expect => checked::<RawExpect, _>(map),
        StepKind::Absent => checked::<RawAbsent, _>(map),
    }
}

impl RawStep for RawKeys {
    fn check(self) -> Result<Step, String> {
        let RawKeys(text, interval) = self;
        Ok(Step::Keys {
            text: KeyText::parse(&text)?,
            interval: interval.map_or(DEFAULT_KEY_INTERVAL, |d| d.0),
        })
    }
}

/// `help: N`: presses of the help button.
#[derive(Deserialize)]
#[serde(transparent)]
struct RawHelp(u32);

impl RawStep for RawHelp {
    fn check(self) -> Result<Step, String> {
        let presses = self.0;
        if !(1..=10).contains(&presses) {
            return Err(format!("help: {presses} presses; expected 1 to 10"));
        }
        Ok(Step::Help { presses })
    }
}

impl RawStep for RawDoor {
    fn check(self) -> Result<Step, String> {
        Ok(Step::Door {
            compartment: compartment_name(self.compartment)?,
            action: self.action,
        })
    }
}

impl RawStep for RawPackage {
    fn check(self) -> Result<Step, String> {
        Ok(Step::Package {
            compartment: compartment_name(self.compartment)?,
            action: self.action,
        })
    }
}

impl RawStep for RawChamber {
    fn check(self) -> Result<Step, String> {
        Ok(Step::Chamber {
            set: self.set,
            ramp: self.ramp,
        })
    }
}

impl RawStep for RawLink {
    fn check(self) -> Result<Step, String> {
        if self.primary.is_none() && self.secondary.is_none() {
            return Err(
                "link: expected `primary`, `secondary` or both, each `up` or `down`".into(),
            );
        }
        Ok(Step::Link {
            primary: self.primary,
            secondary: self.secondary,
        })
    }
}

impl RawStep for RawClock {
    fn check(self) -> Result<Step, String> {
        match (self.drift, self.set) {
            (Some(d), None) => Ok(Step::Clock(ClockAction::Drift(d.0))),
            (None, Some(t)) => Ok(Step::Clock(ClockAction::Set(parse_utc(&t)?))),
            _ => Err(
                "clock: expected exactly one of `drift` (like -3m) or `set` (like 2026-03-02T23:58:00Z)"
                    .into(),
            ),
        }
    }
}

impl RawStep for RawFault {
    fn check(self) -> Result<Step, String> {
        let ok = matches!(
            (self.sensor, self.stuck),
            (_, Stuck::None)
                | (Sensor::Door, Stuck::Open | Stuck::Closed)
                | (Sensor::Bolt, Stuck::Extended | Stuck::Retracted)
                | (Sensor::Package, Stuck::Present | Stuck::Absent)
        );
        if !ok {
            return Err(format!(
                "fault: a {} sensor cannot be stuck {}; door: open|closed, bolt: extended|retracted, package: present|absent, or none",
                self.sensor, self.stuck
            ));
        }
        Ok(Step::Fault {
            compartment: compartment_name(self.compartment)?,
            sensor: self.sensor,
            stuck: self.stuck,
        })
    }
}

/// `wait-until: "HH:MM"`: a time of day.
#[derive(Deserialize)]
#[serde(transparent)]
struct RawWaitUntil(String);

impl RawStep for RawWaitUntil {
    fn check(self) -> Result<Step, String> {
        Ok(Step::WaitUntil {
            second_of_day: parse_time_of_day(&self.0)?,
        })
    }
}

impl RawStep for RawRepeat {
    fn check(self) -> Result<Step, String> {
        if !(1..=1000).contains(&self.times) {
            return Err(format!(
                "repeat: times is {}; expected 1 to 1000",
                self.times
            ));
        }
        Ok(Step::Repeat {
            times: self.times,
            steps: self.steps,
        })
    }
}

impl RawStep for RawParcel {
    fn check(self) -> Result<Step, String> {
        Ok(Step::Parcel {
            compartment: compartment_name(self.compartment)?,
            bind: var_name(&self.code)?,
        })
    }
}

impl RawStep for RawIssue {
    fn check(self) -> Result<Step, String> {
        let size = match self.size.as_deref() {
            None => None,
            Some(s @ ("S" | "M" | "L")) => s.chars().next(),
            Some(s) => return Err(format!("issue: size `{s}`; expected S, M or L")),
        };
        let needs = match self.kind {
            CodeKind::Pickup | CodeKind::Dropoff => self.compartment.is_some(),
            CodeKind::Return => size.is_some(),
            CodeKind::Collect => true,
        };
        if !needs {
            return Err(format!(
                "issue: a {:?} code needs {}",
                self.kind,
                if self.kind == CodeKind::Return {
                    "`size` (S, M or L)"
                } else {
                    "`compartment`"
                }
            ));
        }
        Ok(Step::Issue {
            kind: self.kind,
            compartment: self.compartment.map(compartment_name).transpose()?,
            size,
            station: self.station,
            window: self.window,
            bind: var_name(&self.as_)?,
        })
    }
}

impl RawStep for RawExpect {
    fn check(self) -> Result<Step, String> {
        let ParsedExpect {
            matcher,
            compartment,
            within,
            for_,
        } = self.matcher()?;
        if for_.is_some() {
            return Err(
                "expect takes `within` (how long to wait for it); `for` belongs to `absent`".into(),
            );
        }
        Ok(Step::Expect(Expectation {
            matcher,
            compartment,
            within: within.map_or(DEFAULT_WITHIN, |d| d.0),
        }))
    }
}

/// `absent:` is written as `expect:` is, with `for` instead of `within`.
#[derive(Deserialize)]
#[serde(transparent)]
struct RawAbsent(RawExpect);

impl RawStep for RawAbsent {
    fn check(self) -> Result<Step, String> {
        let ParsedExpect {
            matcher,
            compartment,
            within,
            for_,
        } = self.0.matcher()?;
        if within.is_some() {
            return Err(
                "absent takes `for` (how long it must not happen); `within` belongs to `expect`"
                    .into(),
            );
        }
        let for_ =
            for_.ok_or("absent needs `for`: how long the thing must not happen, like 10s")?;
        Ok(Step::Absent(Absence {
            matcher,
            compartment,
            for_: for_.0,
        }))
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Step;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a step: a map with one key naming the step kind, like `keys: \"1234#\"`",
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
                let kind: StepKind = map.next_key()?.ok_or_else(|| {
                    de::Error::custom("empty step: expected a key naming the step kind")
                })?;
                let step = step_value(kind, &mut map)?;
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "a step has exactly one kind, found a second key `{extra}` (indent it under the first, or start a new `- ` item)"
                    )));
                }
                Ok(step)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_parses() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_utc("2026-03-02T09:00:00Z"), Ok(1_772_442_000));
        assert!(parse_utc("2026-13-02T09:00:00Z").is_err());
    }

    #[test]
    fn key_text_keeps_secrets_out_of_display() {
        let k = KeyText::parse("12 $pickup#").unwrap();
        assert_eq!(k.to_string(), "12$pickup#");
        assert_eq!(k.expand(|_| Some("99".into())).unwrap(), "1299#");
        assert!(KeyText::parse("12a").is_err());
    }
}
