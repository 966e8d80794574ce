//! The instruments' side of a bench's wires, played by the harness: the
//! commands a SCPI chamber or supply and the fixture board receive, and how
//! each answers. Shared by `harness rig serve` (the sim's plant behind real
//! serial devices) and the emulated instruments (a stand-alone model on
//! loopback), so that both speak exactly what the bench drivers expect.

pub mod board;
pub mod scpi;
