//! Exit codes: the one place that decides them.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | every case that ran passed (skipped cases allowed) |
//! | 1 | at least one case failed: the controller did something wrong |
//! | 2 | bad input or usage: a suite or rig file, a flag, a filter |
//! | 3 | rig or infrastructure error: flashing, console, fixture, report writing |
//! | 129 | stopped by SIGHUP (the terminal closed), as 130 otherwise |
//! | 130 | interrupted (Ctrl-C, SIGINT): finished cases in the reports, cases that were running as errors (`interrupted`), the rest skipped with the reason |
//! | 143 | stopped by SIGTERM (a CI job's timeout), as 130 otherwise |
//!
//! The three stops are 128 plus the signal's number, as a shell reports a
//! process the signal killed, so a CI system reads them the same way.
//!
//! When a run has both failures and rig errors it exits 3: its results are
//! incomplete, and that needs attention before the failures can be trusted.

use crate::report::Tally;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Ok = 0,
    Failed = 1,
    BadInput = 2,
    RigError = 3,
    HungUp = 129,
    Interrupted = 130,
    Terminated = 143,
}

impl Exit {
    pub fn from_tally(t: Tally) -> Self {
        if t.errors > 0 {
            Self::RigError
        } else if t.failed > 0 {
            Self::Failed
        } else {
            Self::Ok
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        Self::from(e as u8)
    }
}
