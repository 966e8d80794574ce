//! Fixture drivers for real benches: what real lab instruments speak.
//!
//! - [`scpi`]: thermal chamber and bench supply over SCPI, with the rig
//!   file's limits enforced before anything is sent;
//! - [`board`]: the fixture board (keypad, doors, packages, link relays);
//! - [`link`]: the line links they share (serial port or TCP), with timeouts;
//! - [`emulated`]: the same instruments played on loopback, well or badly
//!   behaved, for tests and dry runs.

pub mod board;
pub mod emulated;
pub mod link;
pub mod scpi;
