//! What `expect`, `absent` and `state` steps look for, read from a suite
//! and checked: a [`Check`] is one thing the controller reports (an event,
//! with any of its fields), an instrument measures, the back office
//! receives, or the controller answers to `STATUS`; a [`Look`] is one
//! check, several in order, or any one of several; a [`Since`] says where
//! the window it looks through opens.
//!
//! Everything a suite names here is checked against the protocol crate
//! (event kinds and fields, error codes, LED patterns, display width), so
//! what can never be true is refused at `check`, for an `absent` as for an
//! `expect` (an absence that can never fail checks nothing).

use crate::model::diag::did_you_mean;
use crate::model::units::{Celsius, Dur};
use locker_proto::{
    CodeResult, ErrorCode, Event, FieldType, FieldValue, LedPattern, Link, UplinkKind,
};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::time::Duration;

/// Lower and upper bounds, either open; never empty (refused when read).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bounds<T> {
    pub min: Option<T>,
    pub max: Option<T>,
}

impl<T: PartialOrd + Copy> Bounds<T> {
    pub fn exactly(v: T) -> Self {
        Self {
            min: Some(v),
            max: Some(v),
        }
    }

    pub fn contains(&self, v: T) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }

    pub fn is_open(&self) -> bool {
        self.min.is_none() && self.max.is_none()
    }

    /// `= 3`, ` in [1, 3]`, ` >= 1`, ` <= 3`, or nothing, with values shown by `show`.
    fn write<D: fmt::Display>(
        &self,
        f: &mut fmt::Formatter<'_>,
        show: impl Fn(T) -> D,
    ) -> fmt::Result {
        match (self.min, self.max) {
            (Some(a), Some(b)) if a == b => write!(f, "={}", show(a)),
            (Some(a), Some(b)) => write!(f, " in [{}, {}]", show(a), show(b)),
            (Some(a), None) => write!(f, " >= {}", show(a)),
            (None, Some(b)) => write!(f, " <= {}", show(b)),
            (None, None) => Ok(()),
        }
    }
}

/// What an expectation looks for among the observations.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// An event of a kind, with what its fields must hold.
    Event(EventMatch),
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
    Status(StatusMatch),
    /// What the back office holds.
    Backoffice(Records),
}

/// An event kind and what its fields must hold (PROTOCOL.md, "Event fields").
#[derive(Debug, Clone, PartialEq)]
pub struct EventMatch {
    pub kind: &'static str,
    pub fields: Vec<(&'static str, Want)>,
}

/// What one field of an event must be.
#[derive(Debug, Clone, PartialEq)]
pub enum Want {
    Word(&'static str),
    Number(Bounds<u64>),
    /// Hundredths of a degree.
    Centi(Bounds<i32>),
    Text(String),
    Code(ErrorCode),
    Led(LedPattern),
}

impl EventMatch {
    pub fn matches(&self, e: &Event) -> bool {
        e.kind() == self.kind
            && (self.fields.iter()).all(|(name, want)| {
                e.field(name).is_some_and(|v| match (want, v) {
                    (Want::Word(w), FieldValue::Word(v)) => *w == v,
                    (Want::Number(b), FieldValue::Number(v)) => b.contains(v),
                    (Want::Centi(b), FieldValue::Centi(v)) => b.contains(v),
                    (Want::Text(t), FieldValue::Text(v)) => t == v,
                    (Want::Code(c), FieldValue::Code(v)) => *c == v,
                    (Want::Led(p), FieldValue::Led(v)) => *p == v,
                    _ => false,
                })
            })
    }
}

impl fmt::Display for EventMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind)?;
        for (name, want) in &self.fields {
            write!(f, " {name}")?;
            match want {
                Want::Word(w) => write!(f, "={w}")?,
                Want::Number(b) => b.write(f, |n| n)?,
                Want::Centi(b) => b.write(f, |c| format!("{:.2}C", f64::from(c) / 100.0))?,
                Want::Text(t) => write!(f, "={t:?}")?,
                Want::Code(c) => write!(f, "={c}")?,
                Want::Led(p) => write!(f, "={:?}", p.to_string())?,
            }
        }
        Ok(())
    }
}

/// What the controller's `STATUS` answer must hold.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StatusMatch {
    /// Wrong codes entered in a row.
    pub failed: Bounds<u64>,
    /// Records waiting for the back office.
    pub queued: Bounds<u64>,
    /// Keypad lockout time remaining.
    pub lockout: Bounds<Duration>,
    pub locked_out: Option<bool>,
    /// Time since the controller's last reset.
    pub uptime: Bounds<Duration>,
    /// The controller's clock less true time, in milliseconds.
    pub clock: Bounds<i64>,
}

impl StatusMatch {
    /// Whether `st`, answered when true time was `true_unix_ms`, holds it.
    pub fn matches(&self, st: &locker_proto::Status, true_unix_ms: u64) -> bool {
        // The controller's clock counts whole seconds: its offset is known
        // to a second, and any offset within that second may be the truth.
        let lag = st.rtc_s as i64 * 1000 - true_unix_ms as i64;
        let clock_ok = (self.clock.min).is_none_or(|m| lag + 999 >= m)
            && self.clock.max.is_none_or(|m| lag <= m);
        self.failed.contains(u64::from(st.failed))
            && self.queued.contains(u64::from(st.queued))
            && (self.lockout).contains(Duration::from_secs(u64::from(st.lockout_s)))
            && self.locked_out.is_none_or(|l| l == (st.lockout_s > 0))
            && (self.uptime).contains(Duration::from_millis(st.uptime_ms))
            && clock_ok
    }
}

/// What the back office must hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Records {
    /// Exactly `count` distinct records of `kind` (of `compartment`, if
    /// it names one), each sent `sent` times.
    Count {
        kind: UplinkKind,
        compartment: Option<String>,
        count: u32,
        sent: Bounds<u32>,
    },
    /// The records of these kinds (and compartments), as first received,
    /// are exactly these, in this order.
    Order(Vec<(UplinkKind, Option<String>)>),
}

impl Matcher {
    /// Whether what it looks for may name a compartment (so that a
    /// `compartment:` beside it can ever be met).
    pub fn looks_at_compartments(&self) -> bool {
        match self {
            Self::Event(e) => Event::WITH_COMPARTMENT.contains(&e.kind),
            Self::Lock(_)
            | Self::Door(_)
            | Self::Bolt(_)
            | Self::Package(_)
            | Self::Error(_)
            | Self::Code(_)
            | Self::Unlock { .. }
            | Self::Pulse { .. } => true,
            Self::Display(_)
            | Self::Led(_)
            | Self::Heater(_)
            | Self::Temperature { .. }
            | Self::Lockout { .. }
            | Self::LinkActive(_)
            | Self::Uplink(_)
            | Self::Status(_)
            // A record's compartment is said inside `backoffice`.
            | Self::Backoffice(_) => false,
        }
    }

    /// The kind of event (its first word) it looks for, if it looks at
    /// events (not at measurements or at the controller's answers).
    pub fn event_kind(&self) -> Option<&str> {
        Some(match self {
            Self::Event(e) => e.kind,
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
            Self::Pulse { .. } | Self::Status(_) | Self::Backoffice(_) => return None,
        })
    }

    /// Whether it looks at something that happens at an instant (an event,
    /// a measurement), which an order or a choice can be made of; `STATUS`
    /// and the back office's holdings are asked when the step runs.
    pub fn is_happening(&self) -> bool {
        !matches!(self, Self::Status(_) | Self::Backoffice(_))
    }

    /// Whether the controller's reports of it make a state (the last one
    /// holds until the next), which a `state` step can look at.
    pub fn is_state(&self) -> bool {
        self.event_kind().is_some_and(|k| STATE_KINDS.contains(&k))
    }

    /// Does event `e` satisfy it? (Measurements, status and the back
    /// office are judged apart.)
    pub fn matches_event(&self, e: &Event) -> bool {
        fn in_range<T: PartialOrd + Copy>(v: T, min: Option<T>, max: Option<T>) -> bool {
            Bounds { min, max }.contains(v)
        }
        match (self, e) {
            (Self::Event(m), e) => m.matches(e),
            (Self::Display(t), Event::Display(d)) => d.as_str() == t,
            (Self::Led(p), Event::Led(l)) => p == l,
            (Self::Lock(s), Event::Lock { state, .. }) => s == state,
            (Self::Door(s), Event::Door { state, .. }) => s == state,
            (Self::Bolt(s), Event::Bolt { state, .. }) => s == state,
            (Self::Package(p), Event::Package { present, .. }) => p == present,
            (Self::Error(c), Event::Error { code, .. }) => c == code,
            (Self::Code(r), Event::Code { result, .. }) => r == result,
            (Self::Heater(on), Event::Heater(h)) => on == h,
            (Self::Temperature { min, max }, Event::Temp { centi }) => in_range(
                f64::from(*centi) / 100.0,
                min.map(|c| c.0),
                max.map(|c| c.0),
            ),
            (Self::Lockout { min, max }, Event::Lockout { seconds }) => {
                in_range(Duration::from_secs(u64::from(*seconds)), *min, *max)
            }
            (
                Self::Unlock { attempt, min, max },
                Event::Unlock {
                    attempt: a,
                    pulse_ms,
                    ..
                },
            ) => {
                attempt.is_none_or(|want| want == *a)
                    && in_range(Duration::from_millis(u64::from(*pulse_ms)), *min, *max)
            }
            (Self::LinkActive(l), Event::LinkActive(a)) => l == a,
            (Self::Uplink(k), Event::Uplink { kind, .. }) => k == kind,
            _ => false,
        }
    }
}

/// Event kinds whose last report is a state that holds until the next:
/// what a `state` step can look at.
pub const STATE_KINDS: &[&str] = &[
    "door",
    "bolt",
    "lock",
    "pkg",
    "display",
    "led",
    "heater",
    "temp",
    "link",
    "link-active",
];

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
            Self::Event(e) => write!(f, "event {e}"),
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
            Self::Status(st) => {
                f.write_str("status")?;
                if !st.failed.is_open() {
                    f.write_str(" failed")?;
                    st.failed.write(f, |n| n)?;
                }
                if !st.queued.is_open() {
                    f.write_str(" queued")?;
                    st.queued.write(f, |n| n)?;
                }
                if !st.lockout.is_open() {
                    f.write_str(" lockout")?;
                    st.lockout.write(f, Dur)?;
                }
                if let Some(l) = st.locked_out {
                    write!(f, " locked-out={l}")?;
                }
                if !st.uptime.is_open() {
                    f.write_str(" uptime")?;
                    st.uptime.write(f, Dur)?;
                }
                if !st.clock.is_open() {
                    f.write_str(" clock")?;
                    st.clock.write(f, |ms| {
                        let sign = if ms < 0 { "-" } else { "+" };
                        format!("{sign}{}", Dur(Duration::from_millis(ms.unsigned_abs())))
                    })?;
                }
                Ok(())
            }
            Self::Backoffice(Records::Count {
                kind,
                compartment,
                count,
                sent,
            }) => {
                write!(f, "back office holding {count} {kind} record(s)")?;
                if let Some(c) = compartment {
                    write!(f, " of {c}")?;
                }
                match (sent.min, sent.max) {
                    (Some(a), Some(b)) if a == b => write!(f, ", each sent {a} time(s)")?,
                    (None, None) => {}
                    _ => {
                        f.write_str(", each sent")?;
                        sent.write(f, |n| n)?;
                        f.write_str(" time(s)")?;
                    }
                }
                Ok(())
            }
            Self::Backoffice(Records::Order(items)) => {
                f.write_str("back office records in order:")?;
                for (kind, c) in items {
                    write!(f, " {kind}")?;
                    if let Some(c) = c {
                        write!(f, "@{c}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// One thing looked for, on one compartment or on any.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub matcher: Matcher,
    pub compartment: Option<String>,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.matcher)?;
        if let Some(c) = &self.compartment {
            write!(f, " on {c}")?;
        }
        Ok(())
    }
}

/// What an `expect` or `absent` looks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Look {
    One(Check),
    /// Each seen, each after the one before it.
    InOrder(Vec<Check>),
    /// Any one of them seen.
    AnyOf(Vec<Check>),
}

impl Look {
    /// Every check it makes.
    pub fn checks(&self) -> impl Iterator<Item = &Check> {
        match self {
            Self::One(c) => std::slice::from_ref(c).iter(),
            Self::InOrder(v) | Self::AnyOf(v) => v.iter(),
        }
    }

    /// How a step that looks for it reads in a trace: one check by what
    /// it looks for alone (as traces always showed it), a list in full.
    pub fn step_text(&self) -> StepText<'_> {
        StepText(self)
    }

    /// The one check, when it is one.
    pub fn one(&self) -> Option<&Check> {
        match self {
            Self::One(c) => Some(c),
            _ => None,
        }
    }
}

impl fmt::Display for Look {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, v: &[Check], sep: &str| {
            for (i, c) in v.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{c}")?;
            }
            Ok(())
        };
        match self {
            Self::One(c) => write!(f, "{c}"),
            Self::InOrder(v) => {
                f.write_str("in order: ")?;
                list(f, v, ", then ")
            }
            Self::AnyOf(v) => {
                f.write_str("any of: ")?;
                list(f, v, " or ")
            }
        }
    }
}

/// A [`Look`] as a step's line in a trace shows it.
#[derive(Debug)]
pub struct StepText<'a>(&'a Look);

impl fmt::Display for StepText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Look::One(c) => write!(f, "{}", c.matcher),
            look => write!(f, "{look}"),
        }
    }
}

/// Where the window an expectation looks through opens.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Since {
    /// The last fixture action (or the end of the boot self-test before the first).
    #[default]
    LastAction,
    /// The case's start: everything the controller said since power-on.
    Start,
    /// A `mark` step of this name, the latest one run.
    Mark(String),
}

impl fmt::Display for Since {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LastAction => f.write_str("the last action"),
            Self::Start => f.write_str("the start"),
            Self::Mark(m) => write!(f, "mark {m}"),
        }
    }
}

/// Words a mark cannot be called: they name the other places `from` looks from.
pub const FROM_WORDS: [&str; 2] = ["last-action", "start"];

#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub look: Look,
    pub within: Duration,
    pub from: Since,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Absence {
    pub look: Look,
    pub for_: Duration,
    pub from: Since,
}

/// A `state` step: what the controller last reported of something holds,
/// now or within `within`, or throughout `for`.
#[derive(Debug, Clone, PartialEq)]
pub struct Holds {
    pub check: Check,
    pub how: HoldsHow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldsHow {
    /// Holds now, or comes to hold within this.
    Within(Duration),
    /// Holds now and throughout this.
    For(Duration),
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.look)?;
        if self.from != Since::LastAction {
            write!(f, " (from {})", self.from)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- raw forms

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRange {
    min: Option<Celsius>,
    max: Option<Celsius>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawDurRange {
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

/// A scalar as the file wrote it (a word, a number), as text.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarOrRange::visitor())
            .and_then(|v| match v {
                ScalarOrRange::Scalar(s) => Ok(Scalar(s)),
                ScalarOrRange::Range { .. } => {
                    Err(de::Error::custom("expected a value, not a range"))
                }
            })
    }
}

/// A field's value as a suite writes it: `3`, `fail`, or `{ min: 1, max: 3 }`.
enum ScalarOrRange {
    Scalar(String),
    Range {
        min: Option<String>,
        max: Option<String>,
    },
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
struct RawBounds {
    min: Option<Scalar>,
    max: Option<Scalar>,
}

impl ScalarOrRange {
    fn visitor() -> impl for<'de> Visitor<'de, Value = Self> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ScalarOrRange;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value, or a range `{ min: ..., max: ... }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ScalarOrRange::Scalar(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(ScalarOrRange::Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(ScalarOrRange::Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ScalarOrRange::Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(ScalarOrRange::Scalar(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let b = RawBounds::deserialize(de::value::MapAccessDeserializer::new(map))?;
                if b.min.is_none() && b.max.is_none() {
                    return Err(de::Error::custom("a range needs `min`, `max` or both"));
                }
                Ok(ScalarOrRange::Range {
                    min: b.min.map(|s| s.0),
                    max: b.max.map(|s| s.0),
                })
            }
        }
        V
    }
}

impl<'de> Deserialize<'de> for ScalarOrRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Self::visitor())
    }
}

/// Bounds of whole numbers from a value or a range.
fn number_bounds<T: std::str::FromStr + PartialOrd + Copy + fmt::Display>(
    v: ScalarOrRange,
    what: &str,
) -> Result<Bounds<T>, String> {
    let num = |s: &str| {
        s.parse::<T>()
            .map_err(|_| format!("`{s}` is not {what}; expected a whole number"))
    };
    match v {
        ScalarOrRange::Scalar(s) => Ok(Bounds::exactly(num(&s)?)),
        ScalarOrRange::Range { min, max } => {
            let min = min.as_deref().map(num).transpose()?;
            let max = max.as_deref().map(num).transpose()?;
            if let (Some(lo), Some(hi)) = (min, max)
                && lo > hi
            {
                return Err(empty(lo, hi));
            }
            Ok(Bounds { min, max })
        }
    }
}

/// `event: door`, or `event: { kind: diag, item: door, result: fail }`.
pub(crate) struct RawEvent {
    kind: String,
    fields: Vec<(String, ScalarOrRange)>,
}

impl<'de> Deserialize<'de> for RawEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEvent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event kind like `diag`, or a map with `kind` and the event's fields, like `{ kind: diag, item: door, result: fail }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawEvent, E> {
                Ok(RawEvent {
                    kind: v.to_owned(),
                    fields: Vec::new(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEvent, A::Error> {
                let mut kind = None;
                let mut fields: Vec<(String, ScalarOrRange)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "kind" {
                        kind = Some(map.next_value::<Scalar>()?.0);
                    } else if fields.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("`{key}` is given twice")));
                    } else {
                        let v = map.next_value::<ScalarOrRange>()?;
                        fields.push((key, v));
                    }
                }
                let kind = kind.ok_or_else(|| {
                    de::Error::custom("`event` needs `kind`: the event's first word, like `diag`")
                })?;
                Ok(RawEvent { kind, fields })
            }
        }
        d.deserialize_any(V)
    }
}

impl RawEvent {
    fn check(self) -> Result<EventMatch, String> {
        let Some(kind) = Event::KINDS.iter().copied().find(|k| *k == self.kind) else {
            return Err(format!(
                "`{}` is not an event kind; expected one of: {}{}",
                self.kind,
                Event::KINDS.join(", "),
                did_you_mean(&self.kind, Event::KINDS.iter().copied()),
            ));
        };
        let table = Event::fields_of(kind).unwrap_or(&[]);
        let mut fields = Vec::new();
        for (name, v) in self.fields {
            let Some(&(name, ty)) = table.iter().find(|(n, _)| *n == name) else {
                let names: Vec<_> = table.iter().map(|(n, _)| *n).collect();
                return Err(if names.is_empty() {
                    format!("`{name}`: `{kind}` events have no fields (PROTOCOL.md, Event fields)")
                } else {
                    format!(
                        "`{name}` is not a field of `{kind}` events; they have {} (PROTOCOL.md, Event fields){}",
                        names.join(", "),
                        did_you_mean(&name, names.iter().copied()),
                    )
                });
            };
            let want = field_want(kind, name, ty, v).map_err(|e| format!("{name}: {e}"))?;
            fields.push((name, want));
        }
        if kind == "keypad"
            && ["digits", "cleared"]
                .iter()
                .all(|f| fields.iter().any(|(n, _)| n == f))
        {
            return Err("a `keypad` event has `digits` (`keypad <n>`) or `cleared` (`keypad clear`, `keypad timeout`), never both".into());
        }
        // A diag item names a compartment or a link, never both.
        if kind == "diag"
            && let Some((_, Want::Word(item))) = fields.iter().find(|(n, _)| *n == "item")
            && *item != "link"
            && fields.iter().any(|(n, _)| *n == "link")
        {
            return Err(format!(
                "`link` goes with `item: link`, not `item: {item}`: a `diag {item}` event never names a link"
            ));
        }
        Ok(EventMatch { kind, fields })
    }
}

fn scalar_only(v: ScalarOrRange, what: &str) -> Result<String, String> {
    match v {
        ScalarOrRange::Scalar(s) => Ok(s),
        ScalarOrRange::Range { .. } => Err(format!("{what} is a value, not a range")),
    }
}

/// What field `name` (of type `ty`) of a `kind` event must be.
fn field_want(kind: &str, name: &str, ty: FieldType, v: ScalarOrRange) -> Result<Want, String> {
    Ok(match ty {
        FieldType::Word(all) => {
            let s = scalar_only(v, "a word")?;
            let Some(w) = all.iter().copied().find(|w| *w == s) else {
                return Err(format!(
                    "`{s}` is never the {name} of a `{kind}` event; expected one of: {}{}",
                    all.join(", "),
                    did_you_mean(&s, all.iter().copied()),
                ));
            };
            Want::Word(w)
        }
        FieldType::Compartment => {
            return Err(
                "write `compartment` beside `event`, as for every expectation, not inside it"
                    .into(),
            );
        }
        FieldType::Number => Want::Number(number_bounds(v, "a number")?),
        FieldType::Celsius => {
            let centi = |s: &str| {
                crate::model::units::parse_celsius(s).map(|c| (c.0 * 100.0).round() as i32)
            };
            match v {
                ScalarOrRange::Scalar(s) => Want::Centi(Bounds::exactly(centi(&s)?)),
                ScalarOrRange::Range { min, max } => {
                    let lo = min.as_deref().map(centi).transpose()?;
                    let hi = max.as_deref().map(centi).transpose()?;
                    if let (Some(a), Some(b)) = (lo, hi)
                        && a > b
                    {
                        return Err(empty(min.unwrap_or_default(), max.unwrap_or_default()));
                    }
                    Want::Centi(Bounds { min: lo, max: hi })
                }
            }
        }
        FieldType::Text => Want::Text(display_text(scalar_only(v, "a display text")?)?),
        FieldType::Code => Want::Code(error_code(&scalar_only(v, "an error code")?)?),
        FieldType::Led => Want::Led(led(&scalar_only(v, "an LED pattern")?)?),
    })
}

/// A display text the controller can show (PROTOCOL.md: at most the
/// display's width, never `*`, `"` or `\`).
fn display_text(t: String) -> Result<String, String> {
    let width = locker_proto::Text::new().capacity();
    if t.chars().count() > width {
        Err(format!(
            "`{t}` is longer than the display's {width} characters: the controller can never show it"
        ))
    } else if let Some(c) = t.chars().find(|c| matches!(c, '*' | '"' | '\\')) {
        Err(format!(
            "`{t}` has `{c}`, which a display text never holds (PROTOCOL.md)"
        ))
    } else {
        Ok(t)
    }
}

fn defined_codes() -> String {
    let all: Vec<_> = ErrorCode::ALL.iter().map(|(c, _)| c.to_string()).collect();
    all.join(", ")
}

/// An error code PROTOCOL.md defines.
fn error_code(e: &str) -> Result<ErrorCode, String> {
    let code = e
        .strip_prefix('E')
        .filter(|n| n.len() == 2)
        .and_then(|n| n.parse().ok())
        .map(ErrorCode)
        .ok_or_else(|| {
            format!("`{e}` is not an error code; expected E and two digits, like E21")
        })?;
    if !code.is_defined() {
        return Err(format!(
            "`{e}` is not an error code the protocol defines, so the controller never raises it; expected one of: {}",
            defined_codes()
        ));
    }
    Ok(code)
}

/// An LED pattern the controller can show.
fn led(p: &str) -> Result<LedPattern, String> {
    let pattern = LedPattern::parse(p).map_err(|_| format!("`{p}` is not an LED pattern; expected a colour (off, green, amber, red) and an optional blink code like `red 2-1`"))?;
    if !pattern.is_defined() {
        let blinks: Vec<_> = (ErrorCode::ALL.iter())
            .map(|(c, colour)| LedPattern::for_error(*c, *colour).to_string())
            .collect();
        return Err(format!(
            "`{p}` is never shown: a blink code is an error's (PROTOCOL.md, Error codes), one of: {}",
            blinks.join(", ")
        ));
    }
    Ok(pattern)
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawUnlock {
    attempt: Option<u8>,
    pulse: Option<RawDurRange>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStatus {
    failed: Option<ScalarOrRange>,
    queued: Option<ScalarOrRange>,
    lockout: Option<RawDurRange>,
    locked_out: Option<bool>,
    uptime: Option<RawDurRange>,
    clock: Option<RawOffsetRange>,
}

/// `{ min: -2s, max: 2s }`: how far a clock may be from true time.
#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawOffsetRange {
    min: Option<crate::model::units::Offset>,
    max: Option<crate::model::units::Offset>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawBackoffice {
    kind: Option<String>,
    compartment: Option<String>,
    count: Option<u32>,
    sent: Option<ScalarOrRange>,
    order: Option<Vec<RawRecord>>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRecord {
    kind: String,
    compartment: Option<String>,
}

/// Each expectation key, and its example and what it means: the README's
/// expectation table (a test keeps the two the same) and the descriptions
/// an editor shows from the suite schema.
pub const EXPECT_DOCS: &[(&[&str], &str)] = &[
    (
        &["event"],
        "`expect: { event: lockout }` (any event kind), or by its fields: `expect: { event: { kind: diag, item: door, result: fail }, compartment: S2 }`, `expect: { event: { kind: unlock, attempt: 3, pulse-ms: { min: 380, max: 420 } } }`, `expect: { event: { kind: link, link: primary, state: down } }`: every field PROTOCOL.md's \"Event fields\" table names, with its name there; numbers and temperatures take a value or `{ min, max }`",
    ),
    (
        &["display"],
        "`expect: { display: \"WRONG CODE\", within: 1s }`",
    ),
    (
        &["led"],
        "`expect: { led: \"red 2-1\" }`, `expect: { led: green }`",
    ),
    (
        &["lock", "door", "bolt", "package"],
        "`expect: { lock: released, compartment: M1, within: 2s }`",
    ),
    (
        &["error"],
        "`expect: { error: E21, compartment: M1, within: 5s }`",
    ),
    (
        &["code"],
        "`expect: { code: wrong }` (`accepted`, `wrong`, `expired`, `early`, `refused`, `unavailable`, `used`)",
    ),
    (&["heater"], "`expect: { heater: on, within: 1h }`"),
    (
        &["temperature"],
        "`expect: { temperature: { min: 4C, max: 9C } }` (a measurement inside limits)",
    ),
    (
        &["pulse"],
        "`expect: { pulse: { min: 390ms }, compartment: M1 }` (solenoid on-time measured by the rig)",
    ),
    (
        &["unlock"],
        "`expect: { unlock: { attempt: 1, pulse: { min: 400ms, max: 400ms } } }` (the pulse the controller commanded)",
    ),
    (
        &["lockout"],
        "`expect: { lockout: { min: 60s, max: 60s } }`",
    ),
    (
        &["link-active"],
        "`expect: { link-active: secondary, within: 10s }`",
    ),
    (
        &["uplink"],
        "`expect: { uplink: pickup, within: 2s }` (the back office acknowledged a record)",
    ),
    (
        &["backoffice"],
        "`expect: { backoffice: { kind: dropoff, count: 2 }, within: 1m }` (distinct records held); `backoffice: { kind: dropoff, compartment: M1, count: 1, sent: 2 }` (and how many times each arrived: `sent: 2` is a resend after a lost acknowledgement, `sent: 1` says nothing came twice; a value or `{ min, max }`); `backoffice: { order: [ { kind: dropoff, compartment: M1 }, { kind: pickup } ] }` (the records of those kinds, as first received, are exactly these in this order)",
    ),
    (
        &["status"],
        "`expect: { status: { failed: 4, queued: 0, locked-out: false } }`, `expect: { status: { lockout: { min: 4s, max: 5s }, queued: { max: 2 } } }` (asks the controller with `STATUS`, retrying until `within`; `lockout` is the time left, `failed` and `queued` take a value or `{ min, max }`); `expect: { status: { uptime: { min: 1h }, clock: { min: -2s, max: 2s } } }` (time since the last reset; the controller's clock less true time, to its whole second)",
    ),
    (
        &["in-order"],
        "`expect: { in-order: [ { code: accepted, compartment: M1 }, { lock: released, compartment: M1 }, { door: open, compartment: M1 } ], within: 3s }` (each seen after the one before; the failure lists what came in what order)",
    ),
    (
        &["any-of"],
        "`expect: { any-of: [ { event: pickup, compartment: M1 }, { lock: locked, compartment: M1 } ], within: 5s }` (any one is enough)",
    ),
    (
        &["absent"],
        "`absent: { lock: released, for: 5s }`; with `in-order`, the order must not be seen; with `any-of`, none of them",
    ),
];

/// The keys that place and time an expectation, as the README says them.
pub const WINDOW_DOCS: &[(&str, &str)] = &[
    (
        "compartment",
        "narrow the expectation to one compartment (`compartment: M1`)",
    ),
    (
        "within",
        "how long an `expect` or a `state` may wait for its match (default 1s)",
    ),
    ("for", "how long an `absent` waits, or a `state` must hold"),
    (
        "from",
        "where the window opens: `start`, `last-action` (the default), or a `mark`'s name",
    ),
];

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(transform = schema::describe_keys))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawExpect {
    event: Option<RawEvent>,
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
    in_order: Option<Vec<RawExpect>>,
    any_of: Option<Vec<RawExpect>>,
    compartment: Option<String>,
    from: Option<String>,
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
    parse(v).map_err(|_| {
        format!(
            "`{v}` is not a {what}; expected one of: {}{}",
            all.join(", "),
            did_you_mean(v, all.iter().copied()),
        )
    })
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

/// The keys an `expect`, `absent` or `state` looks for one of, in the order errors name them.
pub const LOOKED_FOR: [&str; 20] = [
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
    "in-order",
    "any-of",
];

/// What an `expect`, `absent` or `state` map says, before they are told apart.
pub(crate) struct ParsedExpect {
    pub look: Look,
    pub within: Option<Dur>,
    pub for_: Option<Dur>,
    pub from: Since,
}

impl RawExpect {
    pub(crate) fn parse(mut self) -> Result<ParsedExpect, String> {
        let from = match self.from.take() {
            None => Since::LastAction,
            Some(f) => from_word(&f)?,
        };
        let (within, for_) = (self.within.take(), self.for_.take());
        let lists = [
            ("in-order", self.in_order.take()),
            ("any-of", self.any_of.take()),
        ];
        let mut found = self.words();
        found.extend(self.measures());
        let lists: Vec<_> = lists
            .into_iter()
            .filter_map(|(k, l)| Some((k, l?)))
            .collect();
        let n = found.len() + lists.len();
        if n > 1 {
            let mut keys: Vec<_> = (found.iter().map(|(k, _)| *k))
                .chain(lists.iter().map(|(k, _)| *k))
                .collect();
            keys.sort_by_key(|key| LOOKED_FOR.iter().position(|k| k == key));
            let keys: Vec<_> = keys.iter().map(|k| format!("`{k}`")).collect();
            return Err(format!(
                "one expectation looks for one thing, found {}; split it into several steps, or list them under `in-order` or `any-of`",
                keys.join(" and ")
            ));
        }
        if let Some((key, items)) = lists.into_iter().next() {
            if self.compartment.is_some() {
                return Err(format!(
                    "`compartment` goes on each item of `{key}`, not beside it"
                ));
            }
            if items.len() < 2 {
                return Err(format!(
                    "`{key}` lists {} item(s); it needs at least two (one is a plain expectation)",
                    items.len()
                ));
            }
            let mut checks = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                let c = item.item(key).map_err(|e| format!("{key}[{i}]: {e}"))?;
                checks.push(c);
            }
            let look = if key == "in-order" {
                Look::InOrder(checks)
            } else {
                Look::AnyOf(checks)
            };
            return Ok(ParsedExpect {
                look,
                within,
                for_,
                from,
            });
        }
        let Some((key, m)) = found.pop() else {
            let keys: Vec<_> = LOOKED_FOR.iter().map(|k| format!("`{k}`")).collect();
            return Err(format!(
                "nothing to look for: expected one of {}",
                keys.join(", ")
            ));
        };
        let m = m.map_err(|e| format!("{key}: {e}"))?;
        let check = self.check_with(key, m)?;
        if from != Since::LastAction && !check.matcher.is_happening() {
            return Err(format!(
                "`from` does not go with `{key}`: it is asked when the step runs, not looked for in a window"
            ));
        }
        Ok(ParsedExpect {
            look: Look::One(check),
            within,
            for_,
            from,
        })
    }

    /// The check of one item of an `in-order` or `any-of` list.
    fn item(mut self, list: &str) -> Result<Check, String> {
        for (key, given) in [
            ("within", self.within.is_some()),
            ("for", self.for_.is_some()),
            ("from", self.from.is_some()),
            ("in-order", self.in_order.is_some()),
            ("any-of", self.any_of.is_some()),
        ] {
            if given {
                return Err(format!(
                    "`{key}` goes beside `{list}`, not on one of its items"
                ));
            }
        }
        let mut found = self.words();
        found.extend(self.measures());
        if found.len() != 1 {
            let keys: Vec<_> = found.iter().map(|(k, _)| format!("`{k}`")).collect();
            return Err(format!(
                "an item looks for one thing, found {}",
                if keys.is_empty() {
                    "none".to_owned()
                } else {
                    keys.join(" and ")
                }
            ));
        }
        let (key, m) = found.remove(0);
        let m = m.map_err(|e| format!("{key}: {e}"))?;
        if !m.is_happening() {
            return Err(format!(
                "`{key}` is asked when the step runs, so it has no place in an order or a choice of things seen; give it a step of its own"
            ));
        }
        self.check_with(key, m)
    }

    fn check_with(self, key: &str, m: Matcher) -> Result<Check, String> {
        if self.compartment.is_some() && matches!(m, Matcher::Backoffice(_)) {
            return Err(
                "a record's `compartment` goes inside `backoffice`, beside its `kind`".into(),
            );
        }
        if let (Some(_), Matcher::Event(e)) = (&self.compartment, &m)
            && e.kind == "diag"
            && let Some((_, Want::Word(item))) = e.fields.iter().find(|(n, _)| *n == "item")
            && *item != "door"
        {
            return Err(format!(
                "`compartment` does not go with `item: {item}`: only a door's self-test names a compartment"
            ));
        }
        if self.compartment.is_some() && !m.looks_at_compartments() {
            return Err(format!(
                "`compartment` does not go with `{key}`: what it looks for never names a compartment, so this could never be seen"
            ));
        }
        Ok(Check {
            matcher: m,
            compartment: self.compartment.map(compartment_name).transpose()?,
        })
    }

    /// What the controller reports in words, each key read into its
    /// matcher: an event kind, the display, the LED, a lock, door or bolt
    /// state, a package, an error, a code result, the heater, the active
    /// link, an uplink record.
    fn words(&mut self) -> Vec<(&'static str, Result<Matcher, String>)> {
        use locker_proto::{BoltState, DoorState, LockState};
        let mut found: Vec<(&'static str, Result<Matcher, String>)> = Vec::new();
        if let Some(e) = self.event.take() {
            found.push(("event", e.check().map(Matcher::Event)));
        }
        if let Some(t) = self.display.take() {
            found.push(("display", display_text(t).map(Matcher::Display)));
        }
        if let Some(p) = self.led.take() {
            found.push(("led", led(&p).map(Matcher::Led)));
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
            found.push(("error", error_code(&e).map(Matcher::Error)));
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
            found.push(("backoffice", b.check().map(Matcher::Backoffice)));
        }
        if let Some(st) = self.status.take() {
            found.push(("status", st.check().map(Matcher::Status)));
        }
        found
    }
}

impl RawStatus {
    fn check(self) -> Result<StatusMatch, String> {
        if self.failed.is_none()
            && self.queued.is_none()
            && self.lockout.is_none()
            && self.locked_out.is_none()
            && self.uptime.is_none()
            && self.clock.is_none()
        {
            return Err(
                "`status` needs `failed`, `queued`, `lockout`, `locked-out`, `uptime` or `clock`"
                    .into(),
            );
        }
        let uptime = match self.uptime {
            None => Bounds::default(),
            Some(r) => {
                let (min, max) = r.bounds().map_err(|e| format!("uptime: {e}"))?;
                Bounds { min, max }
            }
        };
        let clock = match self.clock {
            None => Bounds::default(),
            Some(RawOffsetRange {
                min: None,
                max: None,
            }) => {
                return Err("clock: a range needs `min`, `max` or both".into());
            }
            Some(RawOffsetRange { min, max }) => {
                let (min, max) = (min.map(|o| o.0), max.map(|o| o.0));
                if let (Some(a), Some(b)) = (min, max)
                    && a > b
                {
                    return Err(format!(
                        "clock: {}",
                        empty(format!("{a}ms"), format!("{b}ms"))
                    ));
                }
                Bounds { min, max }
            }
        };
        let lockout = match self.lockout {
            None => Bounds::default(),
            Some(r) => {
                let (min, max) = r.bounds().map_err(|e| format!("lockout: {e}"))?;
                Bounds { min, max }
            }
        };
        let status = StatusMatch {
            failed: (self.failed.map(|v| number_bounds(v, "a count")))
                .transpose()
                .map_err(|e| format!("failed: {e}"))?
                .unwrap_or_default(),
            queued: (self.queued.map(|v| number_bounds(v, "a count")))
                .transpose()
                .map_err(|e| format!("queued: {e}"))?
                .unwrap_or_default(),
            lockout,
            locked_out: self.locked_out,
            uptime,
            clock,
        };
        // A lockout of some time left, and none: never both.
        if let (Some(false), Some(min)) = (status.locked_out, status.lockout.min)
            && min > Duration::ZERO
        {
            return Err(
                "`locked-out: false` and a `lockout` of at least some time can never both hold"
                    .into(),
            );
        }
        if let (Some(true), Some(Duration::ZERO)) = (status.locked_out, status.lockout.max) {
            return Err(
                "`locked-out: true` and a `lockout` of no time left can never both hold".into(),
            );
        }
        Ok(status)
    }
}

impl RawBackoffice {
    fn check(self) -> Result<Records, String> {
        let kinds = names(UplinkKind::ALL, UplinkKind::as_str);
        let kind = |k: &str| word("record kind", k, UplinkKind::parse, &kinds);
        match (self.order, self.kind, self.count) {
            (Some(items), None, None) if self.sent.is_none() && self.compartment.is_none() => {
                if items.is_empty() {
                    return Err("`order` is empty; list the records in the order they must arrive".into());
                }
                let mut order = Vec::new();
                for (i, r) in items.into_iter().enumerate() {
                    let k = kind(&r.kind).map_err(|e| format!("order[{i}]: {e}"))?;
                    let c = (r.compartment.map(compartment_name))
                        .transpose()
                        .map_err(|e| format!("order[{i}]: {e}"))?;
                    order.push((k, c));
                }
                Ok(Records::Order(order))
            }
            (None, Some(k), Some(count)) => {
                let sent = (self.sent.map(|v| number_bounds::<u32>(v, "a count")))
                    .transpose()
                    .map_err(|e| format!("sent: {e}"))?
                    .unwrap_or_default();
                if sent.max == Some(0) {
                    return Err("sent: a record the back office holds was sent at least once".into());
                }
                if count == 0 && !sent.is_open() {
                    return Err("`sent` says how often each record was sent, and `count: 0` holds none".into());
                }
                Ok(Records::Count {
                    kind: kind(&k)?,
                    compartment: (self.compartment.map(compartment_name))
                        .transpose()?,
                    count,
                    sent,
                })
            }
            _ => Err(
                "`backoffice` takes `kind` and `count` (and `compartment`, and `sent`: how many times each record was sent), or `order`: a list of `{ kind, compartment }`"
                    .into(),
            ),
        }
    }
}

/// A compartment's name as a suite writes it.
pub(crate) fn compartment_name(s: String) -> Result<String, String> {
    if s.is_empty() || s.len() > 8 || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "`{s}` is not a compartment name; expected letters and digits like M1"
        ));
    }
    Ok(s)
}

/// Where `from:` says a window opens.
fn from_word(f: &str) -> Result<Since, String> {
    Ok(match f {
        "last-action" => Since::LastAction,
        "start" => Since::Start,
        m => Since::Mark(mark_name(m)?),
    })
}

/// A mark's name: letters, digits, `-` and `_`, and not a `from` word.
pub fn mark_name(m: &str) -> Result<String, String> {
    if m.is_empty()
        || m.len() > 40
        || !m
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "`{m}` is not a mark; expected `last-action`, `start`, or a mark's name (letters, digits, `-`, `_`)"
        ));
    }
    Ok(m.to_owned())
}

/// Schemas of the values read by hand above.
#[cfg(feature = "schema")]
mod schema {
    use super::{EXPECT_DOCS, Event, RawEvent, Scalar, ScalarOrRange, WINDOW_DOCS};
    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
    use std::borrow::Cow;

    /// An expectation's keys described from the README's table.
    pub(super) fn describe_keys(schema: &mut Schema) {
        let Some(props) = (schema.as_object_mut())
            .and_then(|s| s.get_mut("properties"))
            .and_then(serde_json::Value::as_object_mut)
        else {
            return;
        };
        let docs = (EXPECT_DOCS.iter())
            .flat_map(|(keys, text)| keys.iter().map(move |k| (*k, *text)))
            .chain(WINDOW_DOCS.iter().copied());
        for (key, text) in docs {
            if let Some(p) = props
                .get_mut(key)
                .and_then(serde_json::Value::as_object_mut)
            {
                p.insert("description".into(), text.into());
            }
        }
    }

    impl JsonSchema for Scalar {
        fn schema_name() -> Cow<'static, str> {
            "Scalar".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": ["string", "number", "boolean"],
                "description": "A value: a word, a number, a temperature (`4C`) or a duration (`2s`).",
            })
        }
    }

    impl JsonSchema for ScalarOrRange {
        fn schema_name() -> Cow<'static, str> {
            "ValueOrRange".into()
        }
        fn json_schema(g: &mut SchemaGenerator) -> Schema {
            let scalar = g.subschema_for::<Scalar>();
            json_schema!({
                "description": "A value, or a range `{ min: ..., max: ... }` (either bound may be left out).",
                "anyOf": [
                    scalar.clone(),
                    {
                        "type": "object",
                        "properties": { "min": scalar.clone(), "max": scalar },
                        "additionalProperties": false,
                    },
                ],
            })
        }
    }

    impl JsonSchema for RawEvent {
        fn schema_name() -> Cow<'static, str> {
            "EventMatch".into()
        }
        fn json_schema(g: &mut SchemaGenerator) -> Schema {
            let value = g.subschema_for::<ScalarOrRange>();
            json_schema!({
                "description": "An event kind (`diag`), or a map with `kind` and the event's fields as PROTOCOL.md's \"Event fields\" table names them, each a value or `{ min, max }`.",
                "anyOf": [
                    { "type": "string", "enum": Event::KINDS },
                    {
                        "type": "object",
                        "properties": { "kind": { "type": "string", "enum": Event::KINDS } },
                        "required": ["kind"],
                        "additionalProperties": value,
                    },
                ],
            })
        }
    }
}

#[cfg(test)]
mod readme {
    use super::EXPECT_DOCS;

    /// The README's expectation table is this table, row for row.
    #[test]
    fn the_readme_expectation_table_is_the_schema_descriptions() {
        let readme = include_str!("../../../README.md");
        for (keys, example) in EXPECT_DOCS {
            let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
            let row = format!("| {} | {example} |", keys.join(", "));
            assert!(readme.contains(&row), "README lacks the row\n{row}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ParsedExpect, String> {
        let raw: RawExpect = yaml_serde::from_str(yaml).map_err(|e| e.to_string())?;
        raw.parse()
    }

    #[test]
    fn an_event_matches_by_its_fields() {
        let p =
            parse("{ event: { kind: diag, item: door, result: fail }, compartment: S2 }").unwrap();
        let Look::One(c) = &p.look else { panic!() };
        let name = |s| locker_proto::Name::try_from(s).unwrap();
        let fail = Event::Diag {
            item: locker_proto::DiagItem::Door(name("S2")),
            result: locker_proto::DiagResult::Fail,
        };
        let ok = Event::Diag {
            item: locker_proto::DiagItem::Door(name("S2")),
            result: locker_proto::DiagResult::Ok,
        };
        assert!(c.matcher.matches_event(&fail));
        assert!(!c.matcher.matches_event(&ok));
        assert_eq!(c.to_string(), "event diag item=door result=fail on S2");
    }

    #[test]
    fn numbers_match_in_their_bounds() {
        let p = parse("{ event: { kind: unlock, attempt: 2, pulse-ms: { min: 300 } } }").unwrap();
        let m = &p.look.one().unwrap().matcher;
        let u = |attempt, pulse_ms| Event::Unlock {
            c: locker_proto::Name::try_from("M1").unwrap(),
            attempt,
            pulse_ms,
        };
        assert!(m.matches_event(&u(2, 300)));
        assert!(!m.matches_event(&u(2, 299)));
        assert!(!m.matches_event(&u(1, 400)));
        assert_eq!(m.to_string(), "event unlock attempt=2 pulse-ms >= 300");
    }
}
