//! Typed messages and their text form. `Display` writes a body, `parse` reads one.

use core::fmt::{self, Write};

/// A compartment name such as `M1` (size letter, then a number).
pub type Name = heapless::String<8>;
/// Display text and other short strings (at most 24 bytes).
pub type Text = heapless::String<24>;
/// Firmware build id or board name (at most 40 bytes).
pub type Ident = heapless::String<40>;

/// Why a frame body is not a message of this protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The first word names no message or event of this protocol.
    Unknown,
    /// The body ended where this field was expected.
    Missing(&'static str),
    /// This field was present but malformed.
    Bad(&'static str),
    /// Words were left over after a complete message.
    Trailing,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown => f.write_str("unknown message or event kind"),
            Self::Missing(what) => write!(f, "missing {what}"),
            Self::Bad(what) => write!(f, "malformed {what}"),
            Self::Trailing => f.write_str("unexpected words after the message"),
        }
    }
}

macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }
        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
            pub fn parse(word: &str) -> Result<Self, DecodeError> {
                match word { $($text => Ok(Self::$variant),)+ _ => Err(DecodeError::Bad($what)) }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

word_enum!(
    /// Door position as the door-closed switch reports it.
    DoorState, "door state" { Open = "open", Closed = "closed" });
word_enum!(
    /// Bolt position as the bolt switch reports it.
    BoltState, "bolt state" { Extended = "extended", Retracted = "retracted" });
word_enum!(
    /// The controller's verdict on a compartment: locked, or released for opening.
    LockState, "lock state" { Locked = "locked", Released = "released" });
word_enum!(
    /// The two network links to the back office.
    Link, "link" { Primary = "primary", Secondary = "secondary" });
word_enum!(
    /// Why the controller (re)started.
    ResetCause, "reset cause" { PowerOn = "power-on", Brownout = "brownout", Soft = "soft", Factory = "factory" });
word_enum!(
/// What a record sent to the back office is about.
UplinkKind, "uplink kind" {
    Dropoff = "dropoff", Pickup = "pickup", Return = "return", Collect = "collect",
    Expired = "expired", Jam = "jam", Lockout = "lockout", Fault = "fault",
    Tamper = "tamper", Reinstated = "reinstated",
});
word_enum!(
    /// LED colour.
    LedColour, "led colour" { Off = "off", Green = "green", Amber = "amber", Red = "red" });
word_enum!(
    /// Outcome of a self-test item.
    DiagResult, "diag result" { Ok = "ok", Fail = "fail" });
word_enum!(
/// The verdict on an entered code. Never carries the code itself.
CodeResult, "code result" {
    Accepted = "accepted", Wrong = "wrong", Expired = "expired", Early = "early",
    Refused = "refused", Unavailable = "unavailable", Used = "used",
});

/// One keypad key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Digit(u8),
    /// `*` on the keypad.
    Clear,
    /// `#` on the keypad.
    Enter,
}

impl Key {
    pub const fn as_char(self) -> char {
        match self {
            Self::Digit(d) => (b'0' + d % 10) as char,
            Self::Clear => '*',
            Self::Enter => '#',
        }
    }

    pub fn from_char(c: char) -> Option<Self> {
        match c {
            '0'..='9' => Some(Self::Digit(c as u8 - b'0')),
            '*' => Some(Self::Clear),
            '#' => Some(Self::Enter),
            _ => None,
        }
    }
}

/// An error code such as `E21`. The tens digit is the class (2 jam, 3 sensor,
/// 4 temperature, 5 memory, 6 link, 7 lockout), blinked by the LED as `red 2-1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub u8);

impl ErrorCode {
    pub const JAM: Self = Self(21);
    pub const DOOR_SENSOR: Self = Self(31);
    pub const BOLT_SENSOR: Self = Self(32);
    /// The package sensor changed behind a shut, locked door.
    pub const TAMPER: Self = Self(33);
    pub const TOO_COLD: Self = Self(41);
    pub const TOO_HOT: Self = Self(42);
    pub const MEMORY: Self = Self(51);
    pub const LINK_DOWN: Self = Self(61);
    pub const QUEUE_FULL: Self = Self(62);
    /// The periodic self-test found the primary link dead.
    pub const PRIMARY_DEAD: Self = Self(63);
    /// The periodic self-test found the secondary link dead.
    pub const SECONDARY_DEAD: Self = Self(64);
    pub const LOCKOUT: Self = Self(71);

    fn parse(word: &str) -> Result<Self, DecodeError> {
        word.strip_prefix('E')
            .and_then(|n| n.parse().ok())
            .map(Self)
            .ok_or(DecodeError::Bad("error code"))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E{}", self.0)
    }
}

/// What the status LED shows: steady colour, or a blink code `long-short`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedPattern {
    pub colour: LedColour,
    pub blink: Option<(u8, u8)>,
}

impl LedPattern {
    pub const OFF: Self = Self {
        colour: LedColour::Off,
        blink: None,
    };
    pub const GREEN: Self = Self {
        colour: LedColour::Green,
        blink: None,
    };
    pub const AMBER: Self = Self {
        colour: LedColour::Amber,
        blink: None,
    };

    /// The blink code of an error: `E21` blinks 2 long, 1 short.
    pub const fn for_error(code: ErrorCode, colour: LedColour) -> Self {
        Self {
            colour,
            blink: Some((code.0 / 10, code.0 % 10)),
        }
    }

    pub fn parse(text: &str) -> Result<Self, DecodeError> {
        let mut words = text.split(' ');
        let colour = LedColour::parse(words.next().unwrap_or(""))?;
        let blink = match words.next() {
            None => None,
            Some(code) => {
                let (l, s) = code
                    .split_once('-')
                    .ok_or(DecodeError::Bad("led blink code"))?;
                let l = l.parse().map_err(|_| DecodeError::Bad("led blink code"))?;
                let s = s.parse().map_err(|_| DecodeError::Bad("led blink code"))?;
                Some((l, s))
            }
        };
        if words.next().is_some() {
            return Err(DecodeError::Trailing);
        }
        Ok(Self { colour, blink })
    }
}

impl fmt::Display for LedPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.blink {
            None => write!(f, "{}", self.colour),
            Some((l, s)) => write!(f, "{} {l}-{s}", self.colour),
        }
    }
}

/// A self-test item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiagItem {
    Door(Name),
    Link(Link),
    Done,
}

/// Something the controller reports as it happens. Stamped with the
/// controller's clock by [`ToHarness::Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Door {
        c: Name,
        state: DoorState,
    },
    Bolt {
        c: Name,
        state: BoltState,
    },
    Lock {
        c: Name,
        state: LockState,
    },
    Package {
        c: Name,
        present: bool,
    },
    Display(Text),
    Led(LedPattern),
    Error {
        code: ErrorCode,
        c: Option<Name>,
    },
    ErrorCleared {
        code: ErrorCode,
        c: Option<Name>,
    },
    /// Temperature in hundredths of a degree Celsius.
    Temp {
        centi: i32,
    },
    Heater(bool),
    LinkState {
        link: Link,
        up: bool,
    },
    /// The link the controller now uses, or none (offline).
    LinkActive(Option<Link>),
    Lockout {
        seconds: u32,
    },
    LockoutEnd,
    /// Number of digits entered so far; the digits themselves never leave the controller.
    Keypad {
        digits: u8,
    },
    /// The entry was cleared: by the clear key, or by the inter-key timeout.
    KeypadCleared {
        timeout: bool,
    },
    Code {
        result: CodeResult,
        c: Option<Name>,
    },
    /// An unlock pulse started: attempt number and pulse length.
    Unlock {
        c: Name,
        attempt: u8,
        pulse_ms: u16,
    },
    Dropoff {
        c: Name,
        parcel: u32,
    },
    Pickup {
        c: Name,
        parcel: u32,
    },
    Return {
        c: Name,
        id: u32,
    },
    Collected {
        c: Name,
    },
    Expired {
        c: Name,
        parcel: u32,
    },
    /// A parcel announced expired waits for its customer again: the
    /// controller's clock, set right, no longer says it expired.
    Reinstated {
        c: Name,
        parcel: u32,
    },
    /// A record reached the back office (it acknowledged it).
    Uplink {
        seq: u32,
        kind: UplinkKind,
        via: Link,
    },
    Diag {
        item: DiagItem,
        result: DiagResult,
    },
    Reset(ResetCause),
}

/// Controller state returned by the `STATUS` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    pub uptime_ms: u64,
    pub rtc_s: u64,
    pub failed: u8,
    pub lockout_s: u32,
    pub queued: u16,
}

/// Answer to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Ident {
        proto: u16,
        build: Ident,
        board: Ident,
    },
    Status(Status),
    Ok,
    Err(Text),
}

/// Everything the controller sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToHarness {
    /// The boot banner, always the first line after a reset.
    Hello {
        proto: u16,
        build: Ident,
        board: Ident,
        reset: ResetCause,
    },
    Event {
        t_ms: u64,
        event: Event,
    },
    Response {
        to: u16,
        response: Response,
    },
}

/// What the harness may ask. Every command is answered with a [`Response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Identify,
    Status,
    Ping,
    /// Test hook: set the real-time clock (unix seconds).
    ClockSet(u64),
    /// Test hook: erase non-volatile state and restart, as from the factory.
    FactoryReset,
}

// ---------------------------------------------------------------- writing

fn quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for ch in text.chars() {
        // Quotes, stars and backslashes cannot appear on the wire: `*` starts
        // the checksum. The firmware never displays them; replace defensively.
        f.write_char(
            if matches!(ch, '"' | '*' | '\\') || !(' '..='~').contains(&ch) {
                '?'
            } else {
                ch
            },
        )?;
    }
    f.write_char('"')
}

fn opt_name(f: &mut fmt::Formatter<'_>, c: &Option<Name>) -> fmt::Result {
    match c {
        Some(c) => write!(f, " {c}"),
        None => Ok(()),
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Door { c, state } => write!(f, "door {c} {state}"),
            Self::Bolt { c, state } => write!(f, "bolt {c} {state}"),
            Self::Lock { c, state } => write!(f, "lock {c} {state}"),
            Self::Package { c, present } => {
                write!(f, "pkg {c} {}", if *present { "present" } else { "absent" })
            }
            Self::Display(text) => {
                f.write_str("display ")?;
                quoted(f, text)
            }
            Self::Led(p) => write!(f, "led {p}"),
            Self::Error { code, c } => {
                write!(f, "error {code}")?;
                opt_name(f, c)
            }
            Self::ErrorCleared { code, c } => {
                write!(f, "error-clear {code}")?;
                opt_name(f, c)
            }
            Self::Temp { centi } => {
                let sign = if *centi < 0 { "-" } else { "" };
                write!(
                    f,
                    "temp {sign}{}.{:02}",
                    centi.unsigned_abs() / 100,
                    centi.unsigned_abs() % 100
                )
            }
            Self::Heater(on) => write!(f, "heater {}", on_off(*on)),
            Self::LinkState { link, up } => {
                write!(f, "link {link} {}", if *up { "up" } else { "down" })
            }
            Self::LinkActive(Some(link)) => write!(f, "link-active {link}"),
            Self::LinkActive(None) => f.write_str("link-active none"),
            Self::Lockout { seconds } => write!(f, "lockout {seconds}"),
            Self::LockoutEnd => f.write_str("lockout-end"),
            Self::Keypad { digits } => write!(f, "keypad {digits}"),
            Self::KeypadCleared { timeout } => {
                write!(f, "keypad {}", if *timeout { "timeout" } else { "clear" })
            }
            Self::Code { result, c } => {
                write!(f, "code {result}")?;
                opt_name(f, c)
            }
            Self::Unlock {
                c,
                attempt,
                pulse_ms,
            } => write!(f, "unlock {c} {attempt} {pulse_ms}"),
            Self::Dropoff { c, parcel } => write!(f, "dropoff {c} {parcel}"),
            Self::Pickup { c, parcel } => write!(f, "pickup {c} {parcel}"),
            Self::Return { c, id } => write!(f, "return {c} {id}"),
            Self::Collected { c } => write!(f, "collect {c}"),
            Self::Expired { c, parcel } => write!(f, "expired {c} {parcel}"),
            Self::Reinstated { c, parcel } => write!(f, "reinstated {c} {parcel}"),
            Self::Uplink { seq, kind, via } => write!(f, "uplink {seq} {kind} {via}"),
            Self::Diag { item, result } => match item {
                DiagItem::Door(c) => write!(f, "diag door {c} {result}"),
                DiagItem::Link(l) => write!(f, "diag link {l} {result}"),
                DiagItem::Done => write!(f, "diag done {result}"),
            },
            Self::Reset(cause) => write!(f, "reset {cause}"),
        }
    }
}

impl Event {
    /// The first word of the event's text form, used by suites to name events.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Door { .. } => "door",
            Self::Bolt { .. } => "bolt",
            Self::Lock { .. } => "lock",
            Self::Package { .. } => "pkg",
            Self::Display(_) => "display",
            Self::Led(_) => "led",
            Self::Error { .. } => "error",
            Self::ErrorCleared { .. } => "error-clear",
            Self::Temp { .. } => "temp",
            Self::Heater(_) => "heater",
            Self::LinkState { .. } => "link",
            Self::LinkActive(_) => "link-active",
            Self::Lockout { .. } => "lockout",
            Self::LockoutEnd => "lockout-end",
            Self::Keypad { .. } | Self::KeypadCleared { .. } => "keypad",
            Self::Code { .. } => "code",
            Self::Unlock { .. } => "unlock",
            Self::Dropoff { .. } => "dropoff",
            Self::Pickup { .. } => "pickup",
            Self::Return { .. } => "return",
            Self::Collected { .. } => "collect",
            Self::Expired { .. } => "expired",
            Self::Reinstated { .. } => "reinstated",
            Self::Uplink { .. } => "uplink",
            Self::Diag { .. } => "diag",
            Self::Reset(_) => "reset",
        }
    }

    /// The kinds whose events may name a compartment (`door S1 open`,
    /// `error E31 M1`, `diag door S1 ok`); the others never do.
    pub const WITH_COMPARTMENT: &'static [&'static str] = &[
        "door",
        "bolt",
        "lock",
        "pkg",
        "error",
        "error-clear",
        "code",
        "unlock",
        "dropoff",
        "pickup",
        "return",
        "collect",
        "expired",
        "reinstated",
        "diag",
    ];

    /// Every event kind name, for suite validation.
    pub const KINDS: &'static [&'static str] = &[
        "door",
        "bolt",
        "lock",
        "pkg",
        "display",
        "led",
        "error",
        "error-clear",
        "temp",
        "heater",
        "link",
        "link-active",
        "lockout",
        "lockout-end",
        "keypad",
        "code",
        "unlock",
        "dropoff",
        "pickup",
        "return",
        "collect",
        "expired",
        "reinstated",
        "uplink",
        "diag",
        "reset",
    ];
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ident {
                proto,
                build,
                board,
            } => write!(f, "ID {proto} {build} {board}"),
            Self::Status(s) => write!(
                f,
                "STATUS {} {} {} {} {}",
                s.uptime_ms, s.rtc_s, s.failed, s.lockout_s, s.queued
            ),
            Self::Ok => f.write_str("OK"),
            Self::Err(text) => {
                f.write_str("ERR ")?;
                quoted(f, text)
            }
        }
    }
}

impl fmt::Display for ToHarness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hello {
                proto,
                build,
                board,
                reset,
            } => write!(f, "HELLO {proto} {build} {board} {reset}"),
            Self::Event { t_ms, event } => write!(f, "EV {t_ms} {event}"),
            Self::Response { to, response } => write!(f, "RE {to} {response}"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Identify => f.write_str("ID"),
            Self::Status => f.write_str("STATUS"),
            Self::Ping => f.write_str("PING"),
            Self::ClockSet(t) => write!(f, "CLOCK {t}"),
            Self::FactoryReset => f.write_str("FACTORY"),
        }
    }
}

// ---------------------------------------------------------------- reading

/// Words of a body; a word starting with `"` runs to the closing quote.
pub(crate) struct Words<'a> {
    rest: &'a str,
}

impl<'a> Words<'a> {
    pub(crate) fn new(body: &'a str) -> Self {
        Self { rest: body }
    }

    pub(crate) fn next(&mut self, what: &'static str) -> Result<&'a str, DecodeError> {
        self.rest = self.rest.trim_start_matches(' ');
        if self.rest.is_empty() {
            return Err(DecodeError::Missing(what));
        }
        if let Some(inner) = self.rest.strip_prefix('"') {
            let end = inner.find('"').ok_or(DecodeError::Bad(what))?;
            let word = &inner[..end];
            self.rest = &inner[end + 1..];
            if !(self.rest.is_empty() || self.rest.starts_with(' ')) {
                return Err(DecodeError::Bad(what));
            }
            return Ok(word);
        }
        let end = self.rest.find(' ').unwrap_or(self.rest.len());
        let word = &self.rest[..end];
        self.rest = &self.rest[end..];
        Ok(word)
    }

    fn rest(&mut self, what: &'static str) -> Result<&'a str, DecodeError> {
        let rest = self.rest.trim_matches(' ');
        self.rest = "";
        if rest.is_empty() {
            Err(DecodeError::Missing(what))
        } else {
            Ok(rest)
        }
    }

    fn opt(&mut self) -> Option<&'a str> {
        let w = self.next("").ok();
        w.filter(|w| !w.is_empty())
    }

    pub(crate) fn end(&mut self) -> Result<(), DecodeError> {
        if self.rest.trim_matches(' ').is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing)
        }
    }

    pub(crate) fn num<T: core::str::FromStr>(
        &mut self,
        what: &'static str,
    ) -> Result<T, DecodeError> {
        self.next(what)?.parse().map_err(|_| DecodeError::Bad(what))
    }

    pub(crate) fn text<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<heapless::String<N>, DecodeError> {
        let w = self.next(what)?;
        // Only what the encoder can write back (see `quoted`): a text it
        // would have to change is no sound frame's.
        if w.chars()
            .any(|c| matches!(c, '"' | '*' | '\\') || !(' '..='~').contains(&c))
        {
            return Err(DecodeError::Bad(what));
        }
        heapless::String::try_from(w).map_err(|_| DecodeError::Bad(what))
    }

    /// A word written bare (a build id, a board): a quoted one with a
    /// space in it would not survive being written back.
    pub(crate) fn ident<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<heapless::String<N>, DecodeError> {
        let w: heapless::String<N> = self.text(what)?;
        if w.is_empty() || w.contains(' ') {
            return Err(DecodeError::Bad(what));
        }
        Ok(w)
    }

    pub(crate) fn name(&mut self) -> Result<Name, DecodeError> {
        let w = self.next("compartment")?;
        if w.is_empty() || !w.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(DecodeError::Bad("compartment"));
        }
        Name::try_from(w).map_err(|_| DecodeError::Bad("compartment"))
    }
}

/// Two hex digits (either case) as a byte.
pub(crate) fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    match pair {
        [hi, lo] => Some((digit(*hi)? * 16 + digit(*lo)?) as u8),
        _ => None,
    }
}

fn parse_temp(word: &str) -> Result<i32, DecodeError> {
    const WHAT: DecodeError = DecodeError::Bad("temperature");
    let (neg, digits) = match word.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, word),
    };
    let (whole, frac) = digits.split_once('.').ok_or(WHAT)?;
    if frac.len() != 2 || whole.is_empty() {
        return Err(WHAT);
    }
    let whole: i32 = whole.parse().map_err(|_| WHAT)?;
    let frac: i32 = frac.parse().map_err(|_| WHAT)?;
    let v = whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .ok_or(WHAT)?;
    Ok(if neg { -v } else { v })
}

fn parse_event(w: &mut Words<'_>) -> Result<Event, DecodeError> {
    let kind = w.next("event kind")?;
    let ev = match kind {
        "door" => Event::Door {
            c: w.name()?,
            state: DoorState::parse(w.next("door state")?)?,
        },
        "bolt" => Event::Bolt {
            c: w.name()?,
            state: BoltState::parse(w.next("bolt state")?)?,
        },
        "lock" => Event::Lock {
            c: w.name()?,
            state: LockState::parse(w.next("lock state")?)?,
        },
        "pkg" => {
            let c = w.name()?;
            let present = match w.next("package state")? {
                "present" => true,
                "absent" => false,
                _ => return Err(DecodeError::Bad("package state")),
            };
            Event::Package { c, present }
        }
        "display" => Event::Display(w.text("display text")?),
        "led" => Event::Led(LedPattern::parse(w.rest("led pattern")?)?),
        "error" | "error-clear" => {
            let code = ErrorCode::parse(w.next("error code")?)?;
            let c = match w.opt() {
                Some(name) => {
                    Some(Name::try_from(name).map_err(|_| DecodeError::Bad("compartment"))?)
                }
                None => None,
            };
            if kind == "error" {
                Event::Error { code, c }
            } else {
                Event::ErrorCleared { code, c }
            }
        }
        "temp" => Event::Temp {
            centi: parse_temp(w.next("temperature")?)?,
        },
        "heater" => Event::Heater(match w.next("heater state")? {
            "on" => true,
            "off" => false,
            _ => return Err(DecodeError::Bad("heater state")),
        }),
        "link" => {
            let link = Link::parse(w.next("link")?)?;
            let up = match w.next("link state")? {
                "up" => true,
                "down" => false,
                _ => return Err(DecodeError::Bad("link state")),
            };
            Event::LinkState { link, up }
        }
        "link-active" => Event::LinkActive(match w.next("link")? {
            "none" => None,
            other => Some(Link::parse(other)?),
        }),
        "lockout" => Event::Lockout {
            seconds: w.num("lockout seconds")?,
        },
        "lockout-end" => Event::LockoutEnd,
        "keypad" => match w.next("keypad state")? {
            "clear" => Event::KeypadCleared { timeout: false },
            "timeout" => Event::KeypadCleared { timeout: true },
            n => Event::Keypad {
                digits: n.parse().map_err(|_| DecodeError::Bad("keypad state"))?,
            },
        },
        "code" => {
            let result = CodeResult::parse(w.next("code result")?)?;
            let c = match w.opt() {
                Some(name) => {
                    Some(Name::try_from(name).map_err(|_| DecodeError::Bad("compartment"))?)
                }
                None => None,
            };
            Event::Code { result, c }
        }
        "unlock" => Event::Unlock {
            c: w.name()?,
            attempt: w.num("attempt")?,
            pulse_ms: w.num("pulse")?,
        },
        "dropoff" => Event::Dropoff {
            c: w.name()?,
            parcel: w.num("parcel")?,
        },
        "pickup" => Event::Pickup {
            c: w.name()?,
            parcel: w.num("parcel")?,
        },
        "return" => Event::Return {
            c: w.name()?,
            id: w.num("return id")?,
        },
        "collect" => Event::Collected { c: w.name()? },
        "expired" => Event::Expired {
            c: w.name()?,
            parcel: w.num("parcel")?,
        },
        "reinstated" => Event::Reinstated {
            c: w.name()?,
            parcel: w.num("parcel")?,
        },
        "uplink" => Event::Uplink {
            seq: w.num("uplink seq")?,
            kind: UplinkKind::parse(w.next("uplink kind")?)?,
            via: Link::parse(w.next("link")?)?,
        },
        "diag" => {
            let item = match w.next("diag item")? {
                "door" => DiagItem::Door(w.name()?),
                "link" => DiagItem::Link(Link::parse(w.next("link")?)?),
                "done" => DiagItem::Done,
                _ => return Err(DecodeError::Bad("diag item")),
            };
            Event::Diag {
                item,
                result: DiagResult::parse(w.next("diag result")?)?,
            }
        }
        "reset" => Event::Reset(ResetCause::parse(w.next("reset cause")?)?),
        _ => return Err(DecodeError::Unknown),
    };
    w.end()?;
    Ok(ev)
}

impl ToHarness {
    /// Parse a frame body sent by the controller.
    pub fn parse(body: &str) -> Result<Self, DecodeError> {
        let mut w = Words::new(body);
        match w.next("message kind")? {
            "HELLO" => {
                let msg = Self::Hello {
                    proto: w.num("protocol version")?,
                    build: w.ident("build id")?,
                    board: w.ident("board")?,
                    reset: ResetCause::parse(w.next("reset cause")?)?,
                };
                w.end()?;
                Ok(msg)
            }
            "EV" => {
                let t_ms = w.num("timestamp")?;
                Ok(Self::Event {
                    t_ms,
                    event: parse_event(&mut w)?,
                })
            }
            "RE" => {
                let to = w.num("command sequence")?;
                let response = match w.next("response")? {
                    "ID" => Response::Ident {
                        proto: w.num("protocol version")?,
                        build: w.text("build id")?,
                        board: w.text("board")?,
                    },
                    "STATUS" => Response::Status(Status {
                        uptime_ms: w.num("uptime")?,
                        rtc_s: w.num("rtc")?,
                        failed: w.num("failed attempts")?,
                        lockout_s: w.num("lockout")?,
                        queued: w.num("queued")?,
                    }),
                    "OK" => Response::Ok,
                    "ERR" => Response::Err(w.text("error text")?),
                    _ => return Err(DecodeError::Bad("response")),
                };
                w.end()?;
                Ok(Self::Response { to, response })
            }
            _ => Err(DecodeError::Unknown),
        }
    }
}

impl Command {
    /// Parse a frame body sent by the harness.
    pub fn parse(body: &str) -> Result<Self, DecodeError> {
        let mut w = Words::new(body);
        let cmd = match w.next("command")? {
            "ID" => Self::Identify,
            "STATUS" => Self::Status,
            "PING" => Self::Ping,
            "CLOCK" => Self::ClockSet(w.num("unix time")?),
            "FACTORY" => Self::FactoryReset,
            _ => return Err(DecodeError::Unknown),
        };
        w.end()?;
        Ok(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_LINE, encode_frame, parse_frame};
    use proptest::prelude::*;
    use std::string::ToString;
    use std::vec::Vec;

    fn name() -> impl Strategy<Value = Name> {
        "[SML][1-9]".prop_map(|s| Name::try_from(s.as_str()).unwrap_or_default())
    }

    fn text() -> impl Strategy<Value = Text> {
        "[A-Z0-9 :.-]{0,20}".prop_map(|s| Text::try_from(s.as_str()).unwrap_or_default())
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            (name(), any::<bool>()).prop_map(|(c, o)| Event::Door {
                c,
                state: if o {
                    DoorState::Open
                } else {
                    DoorState::Closed
                }
            }),
            (name(), any::<bool>()).prop_map(|(c, o)| Event::Lock {
                c,
                state: if o {
                    LockState::Released
                } else {
                    LockState::Locked
                }
            }),
            text().prop_map(Event::Display),
            (
                prop::sample::select(LedColour::ALL),
                prop::option::of((0u8..10, 0u8..10))
            )
                .prop_map(|(colour, blink)| Event::Led(LedPattern { colour, blink })),
            (10u8..99, prop::option::of(name())).prop_map(|(c, n)| Event::Error {
                code: ErrorCode(c),
                c: n
            }),
            (-10_000i32..10_000).prop_map(|centi| Event::Temp { centi }),
            any::<u32>().prop_map(|seconds| Event::Lockout { seconds }),
            (0u8..13).prop_map(|digits| Event::Keypad { digits }),
            (
                prop::sample::select(CodeResult::ALL),
                prop::option::of(name())
            )
                .prop_map(|(result, c)| Event::Code { result, c }),
            (name(), 1u8..4, any::<u16>()).prop_map(|(c, attempt, pulse_ms)| Event::Unlock {
                c,
                attempt,
                pulse_ms
            }),
            (
                any::<u32>(),
                prop::sample::select(UplinkKind::ALL),
                prop::sample::select(Link::ALL)
            )
                .prop_map(|(seq, kind, via)| Event::Uplink { seq, kind, via }),
            (name(), prop::sample::select(DiagResult::ALL)).prop_map(|(c, result)| Event::Diag {
                item: DiagItem::Door(c),
                result
            }),
            prop::sample::select(ResetCause::ALL).prop_map(Event::Reset),
        ]
    }

    proptest! {
        #[test]
        fn events_round_trip_through_frames(seq: u16, t_ms: u64, event in event()) {
            let msg = ToHarness::Event { t_ms, event };
            let mut line = heapless::String::<MAX_LINE>::new();
            encode_frame(seq, &msg, &mut line).unwrap();
            let (s, body) = parse_frame(line.trim_end()).unwrap();
            prop_assert_eq!(s, seq);
            prop_assert_eq!(ToHarness::parse(body).unwrap(), msg);
        }

        #[test]
        fn any_single_bit_flip_is_detected_or_harmless(seq: u16, event in event(), pos: prop::sample::Index, bit in 0u8..7) {
            let msg = ToHarness::Event { t_ms: 1, event };
            let mut line = heapless::String::<MAX_LINE>::new();
            encode_frame(seq, &msg, &mut line).unwrap();
            let mut bytes = line.trim_end().as_bytes().to_vec();
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            // A flipped line is either rejected, or (flip inside the checksum
            // digits landing on another valid spelling) decodes to the same message.
            if let Ok(text) = core::str::from_utf8(&bytes)
                && let Ok((_, body)) = parse_frame(text) {
                    prop_assert_eq!(ToHarness::parse(body), Ok(msg));
                }
        }

        #[test]
        fn every_field_of_an_event_is_in_its_table_and_its_text(event in event()) {
            use crate::{FieldValue as V};
            let table = Event::fields_of(event.kind()).unwrap();
            let text = event.to_string();
            let mut names: Vec<&str> = Event::FIELDS.iter().flat_map(|(_, f)| f.iter().map(|(n, _)| *n)).collect();
            names.sort_unstable();
            names.dedup();
            for name in names {
                let Some(v) = event.field(name) else { continue };
                let ty = table.iter().find(|(n, _)| *n == name).map(|(_, t)| *t);
                prop_assert!(ty.is_some_and(|t| t.admits(v)), "{}: {} = {:?}", text, name, v);
                let word = match v {
                    V::Word(w) | V::Compartment(w) => w.to_string(),
                    V::Number(n) => n.to_string(),
                    V::Code(c) => c.to_string(),
                    V::Centi(_) | V::Text(_) | V::Led(_) => continue,
                };
                prop_assert!(text.split(' ').any(|w| w == word), "{}: {} = {}", text, name, word);
            }
        }

        #[test]
        fn decoding_arbitrary_text_never_panics(body in "\\PC{0,80}") {
            let _ = ToHarness::parse(&body);
            let _ = Command::parse(&body);
        }
    }

    #[test]
    fn commands_round_trip() {
        for cmd in [
            Command::Identify,
            Command::Status,
            Command::Ping,
            Command::ClockSet(1_772_000_000),
            Command::FactoryReset,
        ] {
            let mut s = heapless::String::<64>::new();
            write!(s, "{cmd}").unwrap();
            assert_eq!(Command::parse(&s), Ok(cmd));
        }
    }

    #[test]
    fn hello_and_responses_parse() {
        let hello = ToHarness::parse("HELLO 1 core-0.1.0+3f2a sim power-on").unwrap();
        assert!(matches!(
            hello,
            ToHarness::Hello {
                proto: 1,
                reset: ResetCause::PowerOn,
                ..
            }
        ));
        let st = ToHarness::parse("RE 4 STATUS 1000 1772000000 2 30 1").unwrap();
        assert!(matches!(
            st,
            ToHarness::Response {
                to: 4,
                response: Response::Status(Status { failed: 2, .. })
            }
        ));
        assert_eq!(
            ToHarness::parse("RE 4 BOGUS"),
            Err(DecodeError::Bad("response"))
        );
        assert_eq!(
            ToHarness::parse("EV 5 lock M1 locked extra"),
            Err(DecodeError::Trailing)
        );
        assert_eq!(
            ToHarness::parse("EV 5 teleport M1"),
            Err(DecodeError::Unknown)
        );
    }

    /// Found by the console fuzz target once it reached the parsers: an
    /// unquoted text with a quote in it parsed, and encoded back as `?`.
    #[test]
    fn a_text_the_encoder_could_not_write_back_is_refused() {
        assert_eq!(
            ToHarness::parse("EV 1150 display $\"CD9"),
            Err(DecodeError::Bad("display text"))
        );
        assert!(ToHarness::parse("EV 1150 display \"CODE ----\"").is_ok());
        // And a build or board quoted around a space: written back bare.
        assert_eq!(
            ToHarness::parse("HELLO 1 \"a b\" sim power-on"),
            Err(DecodeError::Bad("build id"))
        );
        assert_eq!(
            crate::plant::ToPlant::parse("READY 66 \"S) 8\""),
            Err(DecodeError::Bad("board"))
        );
    }

    #[test]
    fn display_text_cannot_break_framing() {
        let ev = Event::Display(Text::try_from("A*B\"C").unwrap());
        let mut s = heapless::String::<64>::new();
        write!(s, "{ev}").unwrap();
        assert_eq!(s.as_str(), "display \"A?B?C\"");
    }
}
