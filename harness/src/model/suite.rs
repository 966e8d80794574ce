//! Suites: YAML text -> raw serde types -> checked model.
//!
//! Raw types mirror the file (`deny_unknown_fields`, kebab-case). A step is
//! a map with one key naming its kind; a custom visitor reads it so every
//! error keeps the line, column and key path that yaml_serde tracks.
//! Cross-field checks (one matcher per expectation, variables bound before
//! use) run in the `TryFrom` conversions, still inside deserialization, so
//! they are located too.

pub use crate::model::look::{
    Absence, Bounds, Check, EventMatch, Expectation, Holds, HoldsHow, Look, Matcher, Records,
    Since, StatusMatch,
};
use crate::model::look::{ParsedExpect, RawExpect, compartment_name};
use crate::model::units::{Celsius, Dur, Offset, Ramp, Volts};
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Waits {
    /// Waits pass in full on every rig.
    Real,
    /// Long waits may be taken by moving the clocks (the default).
    Calendar,
}

/// One quarantined case: which, why, and where the work to fix it is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
        let mut bound = Bound::default();
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

/// What earlier steps of a case bound.
#[derive(Default)]
struct Bound {
    vars: BTreeSet<String>,
}

fn check_vars(case: &str, section: &str, steps: &[Step], bound: &mut Bound) -> Result<(), String> {
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Keys { text, .. } => {
                for var in text.vars() {
                    if !bound.vars.contains(var) {
                        return Err(format!(
                            "case `{case}`, {section}[{i}]: `${var}` is used before any step binds it \
                             (bind it with `parcel: {{ ..., code: ${var} }}` or `issue: {{ ..., as: ${var} }}`)"
                        ));
                    }
                }
            }
            Step::Parcel { bind, .. } | Step::Issue { bind, .. } => {
                bound.vars.insert(bind.clone());
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

    /// Its runs of keys written out, each apart (a variable between two
    /// splits them: `12$x34` is `12` and `34`).
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            KeyPart::Keys(k) => Some(k.as_str()),
            KeyPart::Var(_) => None,
        })
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum DoorAction {
    /// Push the door shut (one stroke).
    Push,
    /// Pull the door open (one stroke); a latched door does not move.
    Pull,
    /// Press the door against its bolt until released: the side load jams the bolt.
    Hold,
    Release,
    /// Force the door open past its bolt, latched or not (tamper: the
    /// strike gives way); it stays open until pushed shut.
    Force,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum PackageAction {
    /// Place a package through the open door.
    In,
    /// Take the package out through the open door.
    Out,
    /// Take the package out with the door shut (tamper: through a broken panel).
    Steal,
    /// Put a package in with the door shut (tamper).
    SlipIn,
}

impl PackageAction {
    /// Whether the compartment holds a package after it.
    pub fn leaves_present(self) -> bool {
        matches!(self, Self::In | Self::SlipIn)
    }

    /// Whether it goes through the door, which must be open.
    pub fn through_the_door(self) -> bool {
        matches!(self, Self::In | Self::Out)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    DoorAction { Push => "push", Pull => "pull", Hold => "hold", Release => "release", Force => "force" }
    PackageAction { In => "in", Out => "out", Steal => "steal", SlipIn => "slip-in" }
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum MemoryAction {
    /// Flip bits in the stored image, as a failing flash cell would.
    Corrupt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Sensor {
    Door,
    Bolt,
    Package,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// What the controller last reported of something holds (now, within
    /// a bound, or throughout a time).
    State(Holds),
    /// Open a window named `name` here, for later expectations to look from.
    Mark(String),
}

impl Step {
    /// Actions change the rig; expectations look at what followed the last action.
    pub fn is_action(&self) -> bool {
        !matches!(
            self,
            Self::Expect(_)
                | Self::Absent(_)
                | Self::State(_)
                | Self::Mark(_)
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
            Self::Expect(e) => {
                write!(f, "expect {} within {}", e.look.step_text(), Dur(e.within))?;
                if e.from != Since::LastAction {
                    write!(f, " (from {})", e.from)?;
                }
                Ok(())
            }
            Self::Absent(a) => {
                write!(f, "absent {} for {}", a.look.step_text(), Dur(a.for_))?;
                if a.from != Since::LastAction {
                    write!(f, " (from {})", a.from)?;
                }
                Ok(())
            }
            Self::State(h) => match h.how {
                HoldsHow::Within(d) => write!(f, "state {} within {}", h.check, Dur(d)),
                HoldsHow::For(d) => write!(f, "state {} for {}", h.check, Dur(d)),
            },
            Self::Mark(m) => write!(f, "mark {m}"),
        }
    }
}

// ---------------------------------------------------------------- raw steps

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    State,
    Mark,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDoor {
    compartment: String,
    action: DoorAction,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPackage {
    compartment: String,
    action: PackageAction,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawChamber {
    set: Celsius,
    ramp: Option<Ramp>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLink {
    primary: Option<UpDown>,
    secondary: Option<UpDown>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawClock {
    drift: Option<Offset>,
    set: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFault {
    compartment: String,
    sensor: Sensor,
    stuck: Stuck,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRepeat {
    times: u32,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawParcel {
    compartment: String,
    code: String,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
        StepKind::State => checked::<RawState, _>(map),
        StepKind::Mark => checked::<RawMark, _>(map),
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
            look,
            within,
            for_,
            from,
        } = self.parse()?;
        if for_.is_some() {
            return Err(
                "expect takes `within` (how long to wait for it); `for` belongs to `absent`".into(),
            );
        }
        Ok(Step::Expect(Expectation {
            look,
            within: within.map_or(DEFAULT_WITHIN, |d| d.0),
            from,
        }))
    }
}

/// `absent:` is written as `expect:` is, with `for` instead of `within`.
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
struct RawAbsent(RawExpect);

impl RawStep for RawAbsent {
    fn check(self) -> Result<Step, String> {
        let ParsedExpect {
            look,
            within,
            for_,
            from,
        } = self.0.parse()?;
        if within.is_some() {
            return Err(
                "absent takes `for` (how long it must not happen); `within` belongs to `expect`"
                    .into(),
            );
        }
        let for_ =
            for_.ok_or("absent needs `for`: how long the thing must not happen, like 10s")?;
        if let Some(Check {
            matcher: Matcher::Status(_),
            ..
        }) = look.one()
        {
            return Err(
                "`absent` does not ask `STATUS` (it is an answer at an instant, not something that happens): write the `expect: { status: ... }` that must hold instead"
                    .into(),
            );
        }
        Ok(Step::Absent(Absence {
            look,
            for_: for_.0,
            from,
        }))
    }
}

/// `state:` is written as `expect:` is, about a state the controller
/// reports, with `within` (holds now or comes to) or `for` (holds throughout).
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
struct RawState(RawExpect);

impl RawStep for RawState {
    fn check(self) -> Result<Step, String> {
        let ParsedExpect {
            look,
            within,
            for_,
            from,
        } = self.0.parse()?;
        let Look::One(check) = look else {
            return Err(
                "a state is one thing; `in-order` and `any-of` belong to `expect` and `absent`"
                    .into(),
            );
        };
        if from != Since::LastAction {
            return Err("a state is what was last reported, whenever that was: `from` belongs to `expect` and `absent`".into());
        }
        if !check.matcher.is_state() {
            let kinds = crate::model::look::STATE_KINDS.join(", ");
            return Err(format!(
                "`{}` is not a state the controller reports; a state is the last report of one of: {kinds} (use `expect` for what happens)",
                check.matcher
            ));
        }
        let how = match (within, for_) {
            (Some(_), Some(_)) => {
                return Err("state takes `within` (holds now or comes to) or `for` (holds throughout), not both".into());
            }
            (None, Some(d)) => HoldsHow::For(d.0),
            (w, None) => HoldsHow::Within(w.map_or(DEFAULT_WITHIN, |d| d.0)),
        };
        Ok(Step::State(Holds { check, how }))
    }
}

/// `mark: name`: a window opens here.
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
struct RawMark(String);

impl RawStep for RawMark {
    fn check(self) -> Result<Step, String> {
        if crate::model::look::FROM_WORDS.contains(&self.0.as_str()) {
            return Err(format!(
                "`{}` names where every window can open already; call the mark something else",
                self.0
            ));
        }
        Ok(Step::Mark(crate::model::look::mark_name(&self.0)?))
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

/// Each step kind, an example, and what it does: the README's step table
/// (a test keeps the two the same) and the descriptions an editor shows
/// from the suite schema.
pub const STEP_DOCS: &[(&str, &str, &str)] = &[
    (
        "keys",
        "`keys: \"1234#\"` or `keys: { text: \"$pickup#\", interval: 11s }`",
        "keypad injector: digits, `*` clear, `#` enter, `$variables`; 200ms between keys by default",
    ),
    (
        "help",
        "`help: 3`",
        "press the help button (500ms apart); three within 30s is a soft reset",
    ),
    (
        "door",
        "`door: { compartment: M1, action: hold }`",
        "door actuator: `push` (shut), `pull` (open an unlatched door), `hold` (press against the bolt: a jam), `release`, `force` (tamper: pry a door open past its latched bolt; it stays open until pushed)",
    ),
    (
        "package",
        "`package: { compartment: M1, action: in }`",
        "place (`in`) or take (`out`) a package through an open door; tamper: `steal` takes it out, `slip-in` puts one in, with the door shut",
    ),
    (
        "chamber",
        "`chamber: { set: -25C, ramp: 10C/h }`",
        "thermal chamber set point; without `ramp` the ambient jumps",
    ),
    (
        "power",
        "`power: cycle`, `power: off`, `power: on`, `power: { volts: 8.5V }`, `power: { cycle: 10s }`, `power: { brownout: 6V, for: 300ms }`",
        "supply: cut, restore, set, dip",
    ),
    (
        "link",
        "`link: { primary: down, secondary: up }`",
        "network link relays",
    ),
    (
        "clock",
        "`clock: { drift: -3m }` or `clock: { set: \"2026-03-02T23:58:00Z\" }`",
        "set the controller's real-time clock relative to true time, or to a UTC time",
    ),
    (
        "fault",
        "`fault: { compartment: M2, sensor: door, stuck: open }`",
        "force a sensor reading (door `open`/`closed`, bolt `extended`/`retracted`, package `present`/`absent`, or `none` to clear)",
    ),
    (
        "memory",
        "`memory: corrupt`",
        "flip bits in the controller's non-volatile memory (sim; a bench would use its debug probe)",
    ),
    (
        "wait",
        "`wait: 2h`",
        "let time pass, taking in everything that happens",
    ),
    (
        "wait-until",
        "`wait-until: \"23:57\"`",
        "wait until that time of the (true, UTC) day comes round",
    ),
    (
        "repeat",
        "`repeat: { times: 5, steps: [ ... ] }`",
        "run steps several times",
    ),
    (
        "parcel",
        "`parcel: { compartment: M1, code: $pickup }`",
        "a courier drop-off through the front panel (courier code, door opens, package in, door shut), then bind the pickup code the back office would send",
    ),
    (
        "issue",
        "`issue: { kind: return, size: M, as: $ret }`",
        "have the back office mint a code: `pickup` (needs `compartment`), `dropoff` (`compartment`), `return` (`size`), `collect`; optional `station` (another station's code) and `window` (days relative to today)",
    ),
    (
        "expect",
        "`expect: { display: \"WRONG CODE\", within: 1s }`",
        "pass as soon as a match is seen in the window (since the last action, or `from:` a mark or the start); fail after `within` (default 1s)",
    ),
    (
        "absent",
        "`absent: { lock: released, for: 5s }`",
        "wait `for` and fail if a match was seen in the window",
    ),
    (
        "state",
        "`state: { lock: locked, compartment: M1, for: 5s }`",
        "what the controller last reported holds now or comes to `within` (default 1s), or with `for` holds throughout",
    ),
    (
        "mark",
        "`mark: links-down`",
        "open a named window here without acting on the rig (`from: links-down`)",
    ),
];

#[cfg(feature = "schema")]
mod schema;

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's table of action steps is this table's first rows,
    /// word for word: what a reader sees there, an editor shows on hover.
    #[test]
    fn the_readme_step_table_is_the_schema_descriptions() {
        let readme = include_str!("../../../README.md");
        for (kind, example, what) in STEP_DOCS.iter().take_while(|(k, ..)| *k != "expect") {
            let row = format!("| `{kind}` | {example} | {what} |");
            assert!(readme.contains(&row), "README lacks the row\n{row}");
        }
    }

    /// Every step kind has its description, and every description a kind.
    #[test]
    fn every_step_kind_is_described_once() {
        let kinds: Vec<&str> = STEP_DOCS.iter().map(|(k, ..)| *k).collect();
        for k in &kinds {
            assert!(
                yaml_serde::from_str::<StepKind>(k).is_ok(),
                "`{k}` is described but is no step kind"
            );
            assert_eq!(kinds.iter().filter(|x| *x == k).count(), 1, "{k}");
        }
        // A kind without a description would not parse into this list.
        let all = [
            StepKind::Keys,
            StepKind::Help,
            StepKind::Door,
            StepKind::Package,
            StepKind::Chamber,
            StepKind::Power,
            StepKind::Link,
            StepKind::Clock,
            StepKind::Fault,
            StepKind::Memory,
            StepKind::Wait,
            StepKind::WaitUntil,
            StepKind::Repeat,
            StepKind::Parcel,
            StepKind::Issue,
            StepKind::Expect,
            StepKind::Absent,
            StepKind::State,
            StepKind::Mark,
        ];
        assert_eq!(all.len(), kinds.len());
        for k in all {
            // Exhaustive: a new kind must be added above, and so here.
            match k {
                StepKind::Keys
                | StepKind::Help
                | StepKind::Door
                | StepKind::Package
                | StepKind::Chamber
                | StepKind::Power
                | StepKind::Link
                | StepKind::Clock
                | StepKind::Fault
                | StepKind::Memory
                | StepKind::Wait
                | StepKind::WaitUntil
                | StepKind::Repeat
                | StepKind::Parcel
                | StepKind::Issue
                | StepKind::Expect
                | StepKind::Absent
                | StepKind::State
                | StepKind::Mark => {}
            }
        }
    }

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
