//! JSON Schemas of the input files, generated from the raw model that
//! serde reads them with (built with `--features schema`; the generated
//! schemas are checked in under `schemas/`, and a test keeps them equal).
//!
//! A schema lets an editor that speaks the YAML language server complete
//! keys, show each step's description on hover and flag a wrong key as it
//! is typed. It says what a file can hold; `harness check` still says
//! whether it holds together (names, variables, the rig's compartments).

use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use serde_json::Value;

/// A YAML scalar read as text is read from any plain scalar: `name: 42` and
/// `display: 404` load as `"42"` and `"404"`. A text field's schema takes
/// numbers and booleans too, so that an editor does not flag what the
/// harness reads; a text with a pattern or a list of words stays text.
fn plain_scalars_are_text(schema: &mut Schema) {
    let Some(s) = schema.as_object_mut() else {
        return;
    };
    if s.contains_key("pattern") || s.contains_key("enum") || s.contains_key("const") {
        return;
    }
    let widened = match s.get("type") {
        Some(Value::String(t)) if t == "string" => {
            serde_json::json!(["string", "number", "boolean"])
        }
        Some(Value::Array(ts)) if ts.iter().any(|t| t == "string") => {
            let mut all: Vec<Value> = ts.clone();
            for t in ["number", "boolean"] {
                if !all.iter().any(|x| x == t) {
                    all.insert(1, t.into());
                }
            }
            Value::Array(all)
        }
        _ => return,
    };
    s.insert("type".into(), widened);
}

/// `impl JsonSchema` for a value written in a short form (`$short`, a JSON
/// Schema) or at length as the map `$long`, described by `$description`
/// (empty: none).
macro_rules! short_or_long {
    ($ty:ty, $name:literal, $long:ty, $short:tt, $description:expr) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let long = g.subschema_for::<$long>();
                let mut schema = schemars::json_schema!({ "anyOf": [$short, long] });
                let description: String = $description.into();
                if !description.is_empty() {
                    schema.insert("description".into(), description.into());
                }
                schema
            }
        }
    };
}
pub(crate) use short_or_long;

/// The files there are schemas of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Suite,
    Rig,
    Dialect,
}

impl Kind {
    pub const ALL: [Self; 3] = [Self::Suite, Self::Rig, Self::Dialect];

    /// The word `harness schema` takes.
    pub fn word(self) -> &'static str {
        match self {
            Self::Suite => "suite",
            Self::Rig => "rig",
            Self::Dialect => "dialect",
        }
    }

    /// The checked-in file, relative to the repository.
    pub fn file(self) -> &'static str {
        match self {
            Self::Suite => "schemas/suite.schema.json",
            Self::Rig => "schemas/rig.schema.json",
            Self::Dialect => "schemas/dialect.schema.json",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Suite => "locker-hil suite",
            Self::Rig => "locker-hil rig description",
            Self::Dialect => "locker-hil console dialect",
        }
    }
}

/// The schema of `kind`, as the checked-in file holds it (pretty, with a
/// final newline).
pub fn text(kind: Kind) -> String {
    let g = SchemaSettings::draft2020_12()
        .with_transform(RecursiveTransform(plain_scalars_are_text))
        .into_generator();
    let mut schema = match kind {
        Kind::Suite => g.into_root_schema_for::<crate::model::suite::Suite>(),
        Kind::Rig => crate::model::rigfile::schema::root(g),
        Kind::Dialect => crate::model::dialect::schema::root(g),
    };
    schema.insert("title".into(), kind.title().into());
    let mut out = serde_json::to_string_pretty(&schema).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in schemas are the generated ones: regenerate with
    /// `cargo run -p locker-hil --features schema -- schema suite > schemas/suite.schema.json`
    /// (and `rig`, `dialect`).
    #[test]
    fn the_checked_in_schemas_are_generated_from_the_model() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for kind in Kind::ALL {
            let file = repo.join(kind.file());
            let kept = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(
                kept == text(kind),
                "{} differs from the model; regenerate it: cargo run -p locker-hil --features schema -- schema {} > {}",
                kind.file(),
                kind.word(),
                kind.file()
            );
        }
    }
}
