//! The back-office queue and link failover.
//!
//! Records wait in non-volatile memory until the back office acknowledges
//! them, so neither link loss nor power loss drops one. The back office
//! deduplicates by sequence number, which makes a resend after a lost
//! acknowledgement harmless: every record is delivered exactly once.

use locker_proto::{ErrorCode, Link, UplinkKind};

/// Records the queue holds. When full, the oldest stays and new records are
/// refused with `E62`: losing the newest is reported, losing silently is not.
pub const QUEUE_LEN: usize = 32;
/// How long a send or probe may take before it counts as failed.
pub const LINK_TIMEOUT_MS: u64 = 3_000;
/// While offline, how often the primary is tried again.
pub const OFFLINE_RETRY_MS: u64 = 30_000;
/// While on the secondary, how often the primary is probed to fail back.
pub const FAILBACK_PROBE_MS: u64 = 60_000;

/// One message for the back office.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub seq: u32,
    pub kind: UplinkKind,
    pub compartment: u8,
    pub value: u32,
}

/// What the link manager is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pending {
    Probe { link: Link, until: u64 },
    Send { link: Link, seq: u32, until: u64 },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct LinkManager {
    pub active: Option<Link>,
    pub pending: Option<Pending>,
    /// Last known state of each link, to report changes once.
    pub known: [Option<bool>; 2],
    /// When to next try the primary (offline retry or failback).
    pub next_primary_try: Option<u64>,
    /// Links the periodic self-test has still to probe, by `idx`.
    pub check: [bool; 2],
}

impl LinkManager {
    /// The next link the periodic self-test probes: the primary first.
    pub fn next_check(&self) -> Option<Link> {
        Link::ALL.iter().copied().find(|l| self.check[idx(*l)])
    }
}

/// The error the periodic self-test raises for a dead link.
pub(crate) const fn dead(link: Link) -> ErrorCode {
    match link {
        Link::Primary => ErrorCode::PRIMARY_DEAD,
        Link::Secondary => ErrorCode::SECONDARY_DEAD,
    }
}

pub(crate) const fn idx(link: Link) -> usize {
    match link {
        Link::Primary => 0,
        Link::Secondary => 1,
    }
}
