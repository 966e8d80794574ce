//! The board side of the fixture board's line protocol (see
//! [`crate::rigs::bench::fixtures::board`]): what a command line asks of
//! the fixtures, and the board's answer once it has been done.

use crate::model::suite::{DoorAction, PackageAction, UpDown};
use crate::rigs::FixtureAction;
use locker_proto::Key;

/// What a line asks of the board.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `ID?`: who it is.
    Identify,
    /// One fixture moved.
    Act(FixtureAction),
    /// `REST`: every fixture at rest (doors free and shut, package sensors
    /// clear, both links up).
    Rest,
}

/// The board's side of the protocol: what a command line asks, or why it
/// is refused (the `ERR` text).
pub fn parse_command(line: &str, compartments: usize) -> Result<Request, String> {
    let mut w = line.split_whitespace();
    let verb = w.next().unwrap_or("");
    let comp = |w: Option<&str>| {
        w.and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n < compartments)
            .ok_or_else(|| "no such compartment".to_owned())
    };
    Ok(Request::Act(match verb {
        "KEY" => {
            let mut chars = w.next().unwrap_or("").chars();
            let k = match (chars.next(), chars.next()) {
                (Some(k), None) => k,
                _ => return Err("KEY <one key>".into()),
            };
            Key::from_char(k).ok_or("keys are 0-9 * #")?;
            FixtureAction::Key(k)
        }
        "HELP" => FixtureAction::HelpButton,
        "DOOR" => {
            let compartment = comp(w.next())?;
            let action = match w.next() {
                Some("PUSH") => DoorAction::Push,
                Some("PULL") => DoorAction::Pull,
                Some("HOLD") => DoorAction::Hold,
                Some("FREE") => DoorAction::Release,
                Some("FORCE") => DoorAction::Force,
                _ => return Err("door verbs are PUSH PULL HOLD FREE FORCE".into()),
            };
            FixtureAction::Door {
                compartment,
                action,
            }
        }
        "PKG" => {
            let compartment = comp(w.next())?;
            let action = match w.next() {
                Some("IN") => PackageAction::In,
                Some("OUT") => PackageAction::Out,
                _ => return Err("package states are IN OUT".into()),
            };
            FixtureAction::Package {
                compartment,
                action,
            }
        }
        "LINK" => {
            let state = match (w.next(), w.next()) {
                (Some(n @ ("1" | "2")), Some(s @ ("UP" | "DOWN"))) => {
                    let s = if s == "UP" { UpDown::Up } else { UpDown::Down };
                    (n == "1", s)
                }
                _ => return Err("LINK <1|2> <UP|DOWN>".into()),
            };
            FixtureAction::Link {
                primary: state.0.then_some(state.1),
                secondary: (!state.0).then_some(state.1),
            }
        }
        "ID?" => return Ok(Request::Identify),
        "REST" => return Ok(Request::Rest),
        other => return Err(format!("unknown command `{other}`")),
    }))
}

/// The board's answer to one line: `ID ...` naming `version` and the
/// compartments, `OK` once `act` has done what the line asks (a fixture
/// action or `REST`), or `ERR <reason>`.
pub fn answer(
    line: &str,
    compartments: usize,
    version: &str,
    act: impl FnOnce(&Request) -> Result<(), String>,
) -> String {
    match parse_command(line, compartments) {
        Ok(Request::Identify) => format!("ID locker-fixture-board {version} {compartments}"),
        Ok(request) => match act(&request) {
            Ok(()) => "OK".into(),
            Err(e) => format!("ERR {e}"),
        },
        Err(why) => format!("ERR {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn board_protocol_maps_to_fixture_actions() {
        assert_eq!(
            parse_command("KEY 5", 5),
            Ok(Request::Act(FixtureAction::Key('5')))
        );
        assert_eq!(
            parse_command("DOOR 2 HOLD", 5),
            Ok(Request::Act(FixtureAction::Door {
                compartment: 2,
                action: DoorAction::Hold
            }))
        );
        assert_eq!(parse_command("ID?", 5), Ok(Request::Identify));
        assert_eq!(parse_command("REST", 5), Ok(Request::Rest));
        assert!(
            parse_command("DOOR 9 PUSH", 5)
                .unwrap_err()
                .contains("no such compartment")
        );
        assert!(parse_command("FLY", 5).is_err());
    }
}
