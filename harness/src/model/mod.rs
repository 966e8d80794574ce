//! The input model: suite and rig files from text to a checked model
//! (YAML text -> raw serde types -> checked types), the units and filters
//! they are written in, and the errors that point into them. Nothing here
//! runs anything.

pub mod cost;
pub mod diag;
pub mod dialect;
pub mod filter;
pub mod fit;
pub mod input;
mod load;
pub mod locate;
pub mod look;
pub mod places;
pub mod rigfile;
#[cfg(feature = "schema")]
pub mod schema;
pub mod suite;
pub mod units;

pub use load::{Suites, check_against_rig, check_fit, load_suites, suite_from_text};
