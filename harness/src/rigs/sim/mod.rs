//! The sim rig: the reference firmware's logic compiled for the host, wired
//! to the plant model ([`crate::rigs::plant`]), in virtual time.
//!
//! Time jumps from one scheduled event to the next (a plant event or the
//! controller's next deadline), so `wait: 2h` costs what its events cost.
//! All noise comes from a seeded generator: a case replays exactly.
//!
//! [`serve`] puts a sim behind real device files, as a bench: a console
//! pseudo-terminal and emulated instruments.

pub mod serve;

pub use crate::rigs::plant::world::{InProcess, ModelRig, SimRig};
