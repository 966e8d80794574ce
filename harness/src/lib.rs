//! locker-hil: a hardware-in-the-loop test harness for parcel-locker controllers.
//!
//! Data flows one way: YAML text ([`suite`], [`rigfile`]) -> checked model
//! -> [`runner`] on [`rig::Rig`]s -> events -> reporters ([`report`]).

pub mod backoffice;
pub mod bench;
pub mod bench_rig;
pub mod cli;
pub mod console_port;
pub mod diag;
pub mod exit;
pub mod faults;
pub mod filter;
pub mod fixtures;
pub mod flash;
pub mod image;
pub mod input;
pub mod lock;
pub mod preflight;
pub mod privacy;
pub mod report;
pub mod rig;
pub mod rigfile;
pub mod runner;
pub mod session;
pub mod shard;
pub mod sim;
pub mod snapshots;
pub mod stop;
pub mod suite;
pub mod terminal;
pub mod trace;
pub mod transcript;
pub mod units;
