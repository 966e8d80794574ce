//! The sim rig: the reference firmware's logic compiled for the host, wired
//! to a physical plant model, in virtual time.
//!
//! Time jumps from one scheduled event to the next (a plant event or the
//! controller's next deadline), so `wait: 2h` costs what its events cost.
//! All noise comes from a seeded generator: a case replays exactly.

mod plant;
mod world;

pub use world::SimRig;
