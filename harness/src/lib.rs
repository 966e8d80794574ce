//! locker-hil: a hardware-in-the-loop test harness for parcel-locker controllers.
//!
//! The rooms, in the order data flows through them:
//!
//! ```text
//! model/   YAML text -> raw serde types -> checked suites and rig files
//!            (suite, rigfile, units, filter; places: where each node is;
//!            load, diag: every problem, each at its node)
//!   v
//! rigs/    the `Rig` seam: sim/ and qemu/ on the shared plant/, and bench/
//!            (console, flasher, fixtures, preflight, lock); instruments/:
//!            the instruments' side of a bench's wires; any: the rig a rig
//!            file describes
//!   v
//! run/     the plan (plan) dealt to a pool of rigs (runner), one case
//!            (case: its steps, its expectations judged; verdict), its
//!            console conversation (session, obs), what it keeps (trace,
//!            transcript), redaction (privacy)
//!   v
//! explore/ random scenarios (draw) run as cases, judged by the run's
//!            promises, a failure shrunk (shrink) and written as a suite
//!            (scenario)
//!   v
//! report/  run events -> JUnit (a journal, a writer thread), HTML,
//!            terminal lines, behaviour snapshots, merged shards
//!   v
//! cli/     the `harness` command: parses arguments, calls the rooms above,
//!            picks the exit code
//! ```
//!
//! Each room uses only the rooms above it: a model knows nothing of rigs,
//! a rig nothing of runs, a run nothing of reports; and no two modules use
//! each other.

pub mod cli;
pub mod explore;
pub mod model;
pub mod report;
pub mod rigs;
pub mod run;
