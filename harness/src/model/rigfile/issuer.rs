//! `controller.issuer`: who mints the codes a rig's controller is given.
//!
//! ```yaml
//! issuer: reference                                  # the default
//! issuer: { command: [./mint-code, --test], timeout: 5s }
//! issuer:
//!   table:                                           # codes built into a test firmware
//!     - { kind: dropoff, compartment: M1, code: "11223344" }
//!     - { kind: pickup, compartment: M1, code: "55667788" }
//!     - { kind: pickup, code: "99990000" }           # any other compartment
//!     - { kind: return, size: M, code: "24681357" }
//!     - { kind: collect, code: "13572468" }
//! ```

use crate::model::rigfile::{Node, Problem};
use crate::model::suite::CodeKind;
use crate::model::units::Dur;
use serde::Deserialize;
use std::time::Duration;

/// Who mints a rig's codes (see `crate::run::issuer`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IssuerSpec {
    /// The reference scheme, with the station's key.
    #[default]
    Reference,
    /// The team's own back-office tool: a request as JSON on its standard
    /// input, the code as JSON on its standard output, within `timeout`.
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
    /// Codes provisioned into the test firmware, in the rig file's order.
    Table(Vec<TableCode>),
}

/// The most digits an issued code may have, and the fewest.
pub const CODE_DIGITS: std::ops::RangeInclusive<usize> = 4..=16;

/// Whether `code` is a code a keypad can take: 4 to 16 digits.
pub fn is_code(code: &str) -> bool {
    CODE_DIGITS.contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit())
}

/// One code of a provisioned table: given for a request of its kind that
/// has what the entry names (an entry that names less matches more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCode {
    pub kind: CodeKind,
    pub compartment: Option<String>,
    /// `S`, `M` or `L`, for return codes.
    pub size: Option<char>,
    /// The parcel number the controller gave at drop-off, for pickup codes.
    pub parcel: Option<u32>,
    /// Another station's code (a code for the wrong station is a test too).
    pub station: Option<u32>,
    pub code: String,
}

impl TableCode {
    /// How many things it names besides its kind: the most specific
    /// matching entry is the one given.
    pub fn specificity(&self) -> usize {
        [
            self.compartment.is_some(),
            self.size.is_some(),
            self.parcel.is_some(),
            self.station.is_some(),
        ]
        .into_iter()
        .filter(|b| *b)
        .count()
    }

    /// Whether some request could match both entries with neither the more
    /// specific: then which code it gets is the table's order, not its
    /// meaning. (`own` is the rig's station, which an entry without
    /// `station` is for.)
    fn ambiguous_with(&self, other: &Self, own: u32) -> bool {
        fn agree<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
        }
        self.kind == other.kind
            && self.station.unwrap_or(own) == other.station.unwrap_or(own)
            && agree(&self.compartment, &other.compartment)
            && agree(&self.size, &other.size)
            && agree(&self.parcel, &other.parcel)
            && self.naming(own) == other.naming(own)
    }

    /// How many things it names that tell requests apart (its own
    /// station does not).
    fn naming(&self, own: u32) -> usize {
        self.specificity() - usize::from(self.station == Some(own))
    }
}

/// The longest a command issuer may be given to answer.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a command issuer is given when its rig file does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// `issuer:` as written.
#[derive(Debug)]
pub(crate) enum RawIssuer {
    Reference,
    Map(RawIssuerMap),
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawIssuerMap {
    command: Option<Vec<String>>,
    timeout: Option<Dur>,
    table: Option<Vec<RawTableCode>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTableCode {
    kind: CodeKind,
    compartment: Option<String>,
    size: Option<super::RawSize>,
    parcel: Option<u32>,
    station: Option<u32>,
    code: String,
}

impl<'de> Deserialize<'de> for RawIssuer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawIssuer;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "`reference`, `{ command: [PROGRAM, ARG...], timeout: 5s }` or `{ table: [{ kind: pickup, code: \"12345678\" }, ...] }`",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawIssuer, E> {
                match v {
                    "reference" => Ok(RawIssuer::Reference),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawIssuer, A::Error> {
                RawIssuerMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawIssuer::Map)
            }
        }
        d.deserialize_any(V)
    }
}

/// `issuer:` checked against the rig's `station` and `compartments`: every
/// problem into `found`.
pub(crate) fn check(
    raw: Option<RawIssuer>,
    station: u32,
    compartments: &[(String, locker_core::Size)],
    found: &mut Vec<Problem>,
) -> IssuerSpec {
    let map = match raw {
        None | Some(RawIssuer::Reference) => return IssuerSpec::Reference,
        Some(RawIssuer::Map(m)) => m,
    };
    match (map.command, map.table) {
        (Some(argv), None) => {
            let timeout = map.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
            if argv.first().is_none_or(|p| p.trim().is_empty()) {
                found.push(Problem::new(
                    "controller.issuer.command",
                    "controller.issuer.command: empty; expected the program and its arguments, like [./mint-code, --test]".into(),
                ));
            }
            if timeout.is_zero() || timeout > MAX_TIMEOUT {
                found.push(Problem::new(
                    "controller.issuer.timeout",
                    format!(
                        "controller.issuer.timeout: expected above 0 and at most {}s",
                        MAX_TIMEOUT.as_secs()
                    ),
                ));
            }
            IssuerSpec::Command { argv, timeout }
        }
        (None, Some(rows)) => {
            if map.timeout.is_some() {
                found.push(Problem::new(
                    "controller.issuer.timeout",
                    "controller.issuer.timeout: a code table answers at once; `timeout` is for a `command` issuer".into(),
                ));
            }
            IssuerSpec::Table(table(rows, station, compartments, found))
        }
        (Some(_), Some(_)) => {
            found.push(Problem::new(
                "controller.issuer",
                "controller.issuer: expected one of `command` (a program that mints codes) and `table` (codes provisioned into the firmware), not both".into(),
            ));
            IssuerSpec::Reference
        }
        (None, None) => {
            found.push(Problem::new(
                "controller.issuer",
                "controller.issuer: expected `command: [PROGRAM, ARG...]` or `table: [...]`".into(),
            ));
            IssuerSpec::Reference
        }
    }
}

fn table(
    rows: Vec<RawTableCode>,
    station: u32,
    compartments: &[(String, locker_core::Size)],
    found: &mut Vec<Problem>,
) -> Vec<TableCode> {
    if rows.is_empty() {
        found.push(Problem::new(
            "controller.issuer.table",
            "controller.issuer.table: empty; expected the codes the firmware was provisioned with"
                .into(),
        ));
    }
    let mut codes: Vec<TableCode> = Vec::with_capacity(rows.len());
    for (i, r) in rows.into_iter().enumerate() {
        let at = |key: &'static str, message: String| {
            Problem::nodes(
                vec![
                    Node::key("controller"),
                    Node::key("issuer"),
                    Node::key("table"),
                    Node::Index(i),
                    Node::key(key),
                ],
                format!("controller.issuer.table[{i}].{key}: {message}"),
            )
        };
        if !is_code(&r.code) {
            found.push(at(
                "code",
                format!(
                    "`{}` is not a code; expected {} to {} digits, in quotes so that leading zeros stay",
                    r.code.chars().take(40).collect::<String>(),
                    CODE_DIGITS.start(),
                    CODE_DIGITS.end()
                ),
            ));
        }
        let kind = match r.kind {
            CodeKind::Pickup => "pickup",
            CodeKind::Dropoff => "dropoff",
            CodeKind::Return => "return",
            CodeKind::Collect => "collect",
        };
        // What each kind of request has (see crate::run::issuer::CodeRequest).
        let has_compartment = matches!(r.kind, CodeKind::Pickup | CodeKind::Dropoff);
        let mut not_in = |key: &'static str, given: bool, has: bool| {
            if given && !has {
                found.push(at(key, format!("a {kind} request has no `{key}`")));
            }
        };
        not_in("compartment", r.compartment.is_some(), has_compartment);
        not_in("size", r.size.is_some(), r.kind == CodeKind::Return);
        not_in("parcel", r.parcel.is_some(), r.kind == CodeKind::Pickup);
        if let Some(c) = &r.compartment
            && !compartments.iter().any(|(n, _)| n == c)
        {
            let names: Vec<&str> = compartments.iter().map(|(n, _)| n.as_str()).collect();
            found.push(at(
                "compartment",
                format!(
                    "`{c}` is not one of this rig's compartments ({})",
                    names.join(", ")
                ),
            ));
        }
        let code = TableCode {
            kind: r.kind,
            compartment: r.compartment,
            size: r.size.map(super::RawSize::letter),
            parcel: r.parcel,
            station: r.station,
            code: r.code,
        };
        if let Some(j) = codes.iter().position(|c| c.ambiguous_with(&code, station)) {
            found.push(at(
                "kind",
                format!(
                    "a request could match this entry and entry {j} alike: which of the two codes is meant? (name what tells them apart: compartment, parcel, size or station)"
                ),
            ));
        }
        codes.push(code);
    }
    codes
}

#[cfg(feature = "schema")]
mod schema {
    use super::{RawIssuer, RawIssuerMap};
    use crate::model::schema::short_or_long;

    short_or_long!(
        RawIssuer,
        "Issuer",
        RawIssuerMap,
        { "type": "string", "enum": ["reference"] },
        "Who mints codes for `issue` steps: `reference` (the reference scheme), `{ command: [PROGRAM, ARG...], timeout: 5s }` or `{ table: [{ kind: pickup, code: \"12345678\" }, ...] }`."
    );
}
