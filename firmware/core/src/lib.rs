//! The reference parcel-locker controller: portable logic with no HAL.
//!
//! The controller is a sans-IO state machine. A board (the sim rig's model,
//! the QEMU image, a real board) owns the hardware and calls in with the time:
//!
//! - [`Controller::boot`] after power-on, with the non-volatile image;
//! - [`Controller::handle`] for each [`Input`] (a key, a sensor edge, a link result);
//! - [`Controller::tick`] when [`Controller::next_deadline`] has passed.
//!
//! The controller acts only through the [`Hw`] trait: solenoids, heater,
//! console events, the uplink, and writes of its non-volatile image.
//! Everything it must remember across a power cut lives in [`nv::Nv`].
#![no_std]

#[cfg(test)]
#[macro_use]
extern crate std;

pub mod board;
pub mod codes;
pub mod config;
pub mod console;
mod controller;
pub mod nv;
pub mod plain;
pub mod temp;
mod uplink;

pub use config::{Compartment, Config, Size};
pub use controller::{Controller, Hw, Input, Now};
pub use uplink::Record;

/// Identity of this firmware build, carried in the banner.
pub const BUILD_ID: &str = concat!("locker-core-", env!("CARGO_PKG_VERSION"));
