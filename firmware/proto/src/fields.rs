//! The named fields of each event, as PROTOCOL.md's "Event fields" table
//! names them: what a suite may match an event's details by, and the
//! values each field can ever take, so a suite that asks for a field or a
//! value the protocol does not define is refused before it runs.

use crate::message::{
    BoltState, CodeResult, DiagItem, DiagResult, DoorState, ErrorCode, Event, LedColour,
    LedPattern, Link, LockState, ResetCause, UplinkKind,
};

/// What values a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// One of these words.
    Word(&'static [&'static str]),
    /// A compartment name, such as `M1`.
    Compartment,
    /// A whole number (a count, an identifier, seconds, milliseconds).
    Number,
    /// Degrees Celsius with two decimals.
    Celsius,
    /// Display text.
    Text,
    /// An error code the protocol defines, such as `E21`.
    Code,
    /// An LED pattern the protocol defines, such as `red 2-1`.
    Led,
}

impl FieldType {
    /// Whether `v` is a value of this type (a word among its words).
    pub fn admits(self, v: FieldValue<'_>) -> bool {
        match (self, v) {
            (Self::Word(all), FieldValue::Word(w)) => all.contains(&w),
            (Self::Compartment, FieldValue::Compartment(_))
            | (Self::Number, FieldValue::Number(_))
            | (Self::Celsius, FieldValue::Centi(_))
            | (Self::Text, FieldValue::Text(_))
            | (Self::Code, FieldValue::Code(_))
            | (Self::Led, FieldValue::Led(_)) => true,
            _ => false,
        }
    }
}

/// A field's value in one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValue<'a> {
    Word(&'static str),
    Compartment(&'a str),
    Number(u64),
    /// Hundredths of a degree Celsius.
    Centi(i32),
    Text(&'a str),
    Code(ErrorCode),
    Led(LedPattern),
}

macro_rules! words {
    ($ty:ty) => {{
        const N: usize = <$ty>::ALL.len();
        const W: [&str; N] = {
            let mut w = [""; N];
            let mut i = 0;
            while i < N {
                w[i] = <$ty>::ALL[i].as_str();
                i += 1;
            }
            w
        };
        FieldType::Word(&W)
    }};
}

const STATE_DOOR: FieldType = words!(DoorState);
const STATE_BOLT: FieldType = words!(BoltState);
const STATE_LOCK: FieldType = words!(LockState);
const LINK: FieldType = words!(Link);
const RESULT_CODE: FieldType = words!(CodeResult);
const RESULT_DIAG: FieldType = words!(DiagResult);
const UPLINK_KIND: FieldType = words!(UplinkKind);
const CAUSE: FieldType = words!(ResetCause);
const C: (&str, FieldType) = ("compartment", FieldType::Compartment);

impl Event {
    /// Each event kind's fields by name, in the order the event's text
    /// form has them (PROTOCOL.md, "Event fields").
    pub const FIELDS: &'static [(&'static str, &'static [(&'static str, FieldType)])] = &[
        ("door", &[C, ("state", STATE_DOOR)]),
        ("bolt", &[C, ("state", STATE_BOLT)]),
        ("lock", &[C, ("state", STATE_LOCK)]),
        (
            "pkg",
            &[C, ("state", FieldType::Word(&["present", "absent"]))],
        ),
        ("display", &[("text", FieldType::Text)]),
        ("led", &[("pattern", FieldType::Led)]),
        ("error", &[("code", FieldType::Code), C]),
        ("error-clear", &[("code", FieldType::Code), C]),
        ("temp", &[("celsius", FieldType::Celsius)]),
        ("heater", &[("state", FieldType::Word(&["on", "off"]))]),
        (
            "link",
            &[("link", LINK), ("state", FieldType::Word(&["up", "down"]))],
        ),
        (
            "link-active",
            &[("link", FieldType::Word(&["primary", "secondary", "none"]))],
        ),
        ("lockout", &[("seconds", FieldType::Number)]),
        ("lockout-end", &[]),
        (
            "keypad",
            &[
                ("digits", FieldType::Number),
                ("cleared", FieldType::Word(&["clear", "timeout"])),
            ],
        ),
        ("code", &[("result", RESULT_CODE), C]),
        (
            "unlock",
            &[
                C,
                ("attempt", FieldType::Number),
                ("pulse-ms", FieldType::Number),
            ],
        ),
        ("dropoff", &[C, ("parcel", FieldType::Number)]),
        ("pickup", &[C, ("parcel", FieldType::Number)]),
        ("return", &[C, ("id", FieldType::Number)]),
        ("collect", &[C]),
        ("expired", &[C, ("parcel", FieldType::Number)]),
        ("reinstated", &[C, ("parcel", FieldType::Number)]),
        (
            "uplink",
            &[
                ("seq", FieldType::Number),
                ("kind", UPLINK_KIND),
                ("link", LINK),
            ],
        ),
        (
            "diag",
            &[
                ("item", FieldType::Word(&["door", "link", "done"])),
                C,
                ("link", LINK),
                ("result", RESULT_DIAG),
            ],
        ),
        ("reset", &[("cause", CAUSE)]),
    ];

    /// The fields of events of `kind` (`None`: no such kind).
    pub fn fields_of(kind: &str) -> Option<&'static [(&'static str, FieldType)]> {
        Self::FIELDS
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, f)| *f)
    }

    /// The value of field `name` in this event; `None` when this event
    /// does not have it (`keypad clear` has no `digits`, `diag done` no
    /// compartment, an `error` no compartment when it names none).
    pub fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        use FieldValue as V;
        let on = |b: bool, yes: &'static str, no: &'static str| V::Word(if b { yes } else { no });
        Some(match (self, name) {
            (
                Self::Door { c, .. }
                | Self::Bolt { c, .. }
                | Self::Lock { c, .. }
                | Self::Package { c, .. }
                | Self::Unlock { c, .. }
                | Self::Dropoff { c, .. }
                | Self::Pickup { c, .. }
                | Self::Return { c, .. }
                | Self::Collected { c }
                | Self::Expired { c, .. }
                | Self::Reinstated { c, .. },
                "compartment",
            ) => V::Compartment(c),
            (
                Self::Error { c, .. } | Self::ErrorCleared { c, .. } | Self::Code { c, .. },
                "compartment",
            ) => V::Compartment(c.as_deref()?),
            (
                Self::Diag {
                    item: DiagItem::Door(c),
                    ..
                },
                "compartment",
            ) => V::Compartment(c),
            (Self::Door { state, .. }, "state") => V::Word(state.as_str()),
            (Self::Bolt { state, .. }, "state") => V::Word(state.as_str()),
            (Self::Lock { state, .. }, "state") => V::Word(state.as_str()),
            (Self::Package { present, .. }, "state") => on(*present, "present", "absent"),
            (Self::Display(t), "text") => V::Text(t),
            (Self::Led(p), "pattern") => V::Led(*p),
            (Self::Error { code, .. } | Self::ErrorCleared { code, .. }, "code") => V::Code(*code),
            (Self::Temp { centi }, "celsius") => V::Centi(*centi),
            (Self::Heater(h), "state") => on(*h, "on", "off"),
            (Self::LinkState { link, .. }, "link") => V::Word(link.as_str()),
            (Self::LinkState { up, .. }, "state") => on(*up, "up", "down"),
            (Self::LinkActive(l), "link") => V::Word(l.map_or("none", Link::as_str)),
            (Self::Lockout { seconds }, "seconds") => V::Number(u64::from(*seconds)),
            (Self::Keypad { digits }, "digits") => V::Number(u64::from(*digits)),
            (Self::KeypadCleared { timeout }, "cleared") => on(*timeout, "timeout", "clear"),
            (Self::Code { result, .. }, "result") => V::Word(result.as_str()),
            (Self::Unlock { attempt, .. }, "attempt") => V::Number(u64::from(*attempt)),
            (Self::Unlock { pulse_ms, .. }, "pulse-ms") => V::Number(u64::from(*pulse_ms)),
            (
                Self::Dropoff { parcel, .. }
                | Self::Pickup { parcel, .. }
                | Self::Expired { parcel, .. }
                | Self::Reinstated { parcel, .. },
                "parcel",
            ) => V::Number(u64::from(*parcel)),
            (Self::Return { id, .. }, "id") => V::Number(u64::from(*id)),
            (Self::Uplink { seq, .. }, "seq") => V::Number(u64::from(*seq)),
            (Self::Uplink { kind, .. }, "kind") => V::Word(kind.as_str()),
            (Self::Uplink { via, .. }, "link") => V::Word(via.as_str()),
            (Self::Diag { item, .. }, "item") => V::Word(match item {
                DiagItem::Door(_) => "door",
                DiagItem::Link(_) => "link",
                DiagItem::Done => "done",
            }),
            (
                Self::Diag {
                    item: DiagItem::Link(l),
                    ..
                },
                "link",
            ) => V::Word(l.as_str()),
            (Self::Diag { result, .. }, "result") => V::Word(result.as_str()),
            (Self::Reset(cause), "cause") => V::Word(cause.as_str()),
            _ => return None,
        })
    }
}

impl ErrorCode {
    /// Every error code PROTOCOL.md defines, with the LED colour it blinks in.
    pub const ALL: &'static [(Self, LedColour)] = &[
        (Self::JAM, LedColour::Red),
        (Self::DOOR_SENSOR, LedColour::Red),
        (Self::BOLT_SENSOR, LedColour::Red),
        (Self::TAMPER, LedColour::Red),
        (Self::TOO_COLD, LedColour::Red),
        (Self::TOO_HOT, LedColour::Red),
        (Self::MEMORY, LedColour::Red),
        (Self::LINK_DOWN, LedColour::Amber),
        (Self::QUEUE_FULL, LedColour::Amber),
        (Self::PRIMARY_DEAD, LedColour::Amber),
        (Self::SECONDARY_DEAD, LedColour::Amber),
        (Self::LOCKOUT, LedColour::Amber),
    ];

    /// Whether PROTOCOL.md defines this code.
    pub fn is_defined(self) -> bool {
        Self::ALL.iter().any(|(c, _)| *c == self)
    }
}

impl LedPattern {
    /// Whether the controller can ever show this: a steady colour, or the
    /// blink code of an error PROTOCOL.md defines, in that error's colour.
    pub fn is_defined(self) -> bool {
        match self.blink {
            None => true,
            Some(_) => (ErrorCode::ALL.iter())
                .any(|(c, colour)| LedPattern::for_error(*c, *colour) == self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Name;
    use std::vec::Vec;

    /// Every kind has its field table, and every field an event of the kind
    /// has is in it with a value of the field's type.
    #[test]
    fn every_kind_has_fields_and_every_value_its_type() {
        let kinds: Vec<_> = Event::FIELDS.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, Event::KINDS);
        let named: Vec<_> = (Event::FIELDS.iter())
            .filter(|(_, f)| f.iter().any(|(n, _)| *n == "compartment"))
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(named, Event::WITH_COMPARTMENT);
        let c = Name::try_from("M1").unwrap();
        let events = [
            Event::Door {
                c: c.clone(),
                state: DoorState::Open,
            },
            Event::Diag {
                item: DiagItem::Link(Link::Secondary),
                result: DiagResult::Fail,
            },
            Event::KeypadCleared { timeout: true },
            Event::Temp { centi: -1050 },
            Event::Error {
                code: ErrorCode::JAM,
                c: None,
            },
        ];
        for e in &events {
            let fields = Event::fields_of(e.kind()).unwrap();
            for (name, ty) in fields {
                let Some(v) = e.field(name) else { continue };
                assert!(ty.admits(v), "{e}: field {name} = {v:?} is not a {ty:?}");
            }
        }
        assert_eq!(events[1].field("link"), Some(FieldValue::Word("secondary")));
        assert_eq!(events[1].field("compartment"), None);
        assert_eq!(
            events[2].field("cleared"),
            Some(FieldValue::Word("timeout"))
        );
        assert_eq!(events[4].field("compartment"), None);
    }

    #[test]
    fn only_the_protocols_codes_and_blinks_are_defined() {
        assert!(ErrorCode::JAM.is_defined());
        assert!(!ErrorCode(99).is_defined());
        let p = |s| LedPattern::parse(s).unwrap();
        assert!(p("red 2-1").is_defined());
        assert!(p("amber 7-1").is_defined());
        assert!(p("green").is_defined());
        assert!(!p("red 9-9").is_defined());
        assert!(!p("red 7-1").is_defined(), "the lockout blinks amber");
    }
}
