//! The suite file's JSON Schema pieces that serde's derive cannot say: a
//! step (a map with one key naming its kind) and the steps whose value has
//! a short and a long form.

use super::{
    Case, RawAbsent, RawCase, RawChamber, RawClock, RawDoor, RawExpect, RawFault, RawHelp,
    RawIssue, RawKeys, RawKeysMap, RawLink, RawMark, RawPackage, RawParcel, RawPower, RawPowerMap,
    RawRepeat, RawState, RawWaitUntil, STEP_DOCS, Step,
};
use crate::model::schema::short_or_long;
use crate::model::suite::MemoryAction;
use crate::model::units::Dur;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use std::borrow::Cow;

/// A case is read as its raw form and checked.
impl JsonSchema for Case {
    fn schema_name() -> Cow<'static, str> {
        "Case".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        RawCase::json_schema(g)
    }
}

short_or_long!(RawKeys, "Keys", RawKeysMap, { "type": ["string", "integer"] }, "");
short_or_long!(
    RawPower,
    "Power",
    RawPowerMap,
    { "type": "string", "enum": ["off", "on", "cycle"] },
    ""
);

impl JsonSchema for Step {
    fn schema_name() -> Cow<'static, str> {
        "Step".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let value = |g: &mut SchemaGenerator, kind: &str| -> Schema {
            match kind {
                "keys" => g.subschema_for::<RawKeys>(),
                "help" => g.subschema_for::<RawHelp>(),
                "door" => g.subschema_for::<RawDoor>(),
                "package" => g.subschema_for::<RawPackage>(),
                "chamber" => g.subschema_for::<RawChamber>(),
                "power" => g.subschema_for::<RawPower>(),
                "link" => g.subschema_for::<RawLink>(),
                "clock" => g.subschema_for::<RawClock>(),
                "fault" => g.subschema_for::<RawFault>(),
                "memory" => g.subschema_for::<MemoryAction>(),
                "wait" => g.subschema_for::<Dur>(),
                "wait-until" => g.subschema_for::<RawWaitUntil>(),
                "repeat" => g.subschema_for::<RawRepeat>(),
                "parcel" => g.subschema_for::<RawParcel>(),
                "issue" => g.subschema_for::<RawIssue>(),
                "expect" => g.subschema_for::<RawExpect>(),
                "absent" => g.subschema_for::<RawAbsent>(),
                "state" => g.subschema_for::<RawState>(),
                _ => g.subschema_for::<RawMark>(),
            }
        };
        let kinds: Vec<serde_json::Value> = STEP_DOCS
            .iter()
            .map(|(kind, example, what)| {
                serde_json::json!({
                    "type": "object",
                    "title": kind,
                    "description": format!("{what}. Example: {example}"),
                    "properties": { *kind: value(g, kind) },
                    "required": [kind],
                    "additionalProperties": false,
                })
            })
            .collect();
        json_schema!({
            "description": "A step: a map with one key naming its kind, like `keys: \"1234#\"`.",
            "oneOf": kinds,
        })
    }
}
