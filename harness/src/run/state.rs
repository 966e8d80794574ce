//! What a case knows of its rig's state and of its back office: the last
//! report of each state the controller reports (a compartment's lock, the
//! LED, a link) since it last started, kept whatever the observation log
//! lets go, and every record the back office received, in the order it
//! first did, with how many times each was sent.

use crate::model::look::STATE_KINDS;
use locker_proto::{Event, FieldValue, UplinkKind};
use std::time::Duration;

/// The last report of one state: which thing, what was said, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Last {
    pub event: Event,
    pub at: Duration,
}

/// The last report of each state, one per kind and thing (a compartment,
/// a link): a handful for a whole case, however long it runs.
#[derive(Debug, Default)]
pub struct States {
    last: Vec<Last>,
}

/// What a state is of: its kind and the thing it names (`lock` of `M1`,
/// `link` of `primary`), or the kind alone (`led`).
fn thing(e: &Event) -> (&'static str, Option<FieldValue<'_>>) {
    let kind = e.kind();
    let of = match kind {
        "link" => e.field("link"),
        _ => e.field("compartment"),
    };
    (kind, of)
}

impl States {
    /// Take in an event: a state's report replaces the one before it.
    pub fn see(&mut self, e: &Event, at: Duration) {
        if !STATE_KINDS.contains(&e.kind()) {
            return;
        }
        let key = thing(e);
        let last = Last {
            event: e.clone(),
            at,
        };
        match self.last.iter_mut().find(|l| thing(&l.event) == key) {
            Some(l) => *l = last,
            None => self.last.push(last),
        }
    }

    /// The controller lost power or restarted: what it said before holds
    /// no more (it says everything again as it starts).
    pub fn forget(&mut self) {
        self.last.clear();
    }

    /// The last reports of `kind`, of every thing it names.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Last> {
        self.last.iter().filter(move |l| l.event.kind() == kind)
    }
}

/// One record the back office holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u32,
    pub kind: UplinkKind,
    /// The compartment's index on the rig.
    pub compartment: usize,
    /// How many times it arrived: more than once is a repeat the back
    /// office dropped (a lost acknowledgement, a duplicate delivery).
    pub sent: u32,
}

/// The back office's records, in the order it first received them.
#[derive(Debug, Default)]
pub struct Records {
    all: Vec<Record>,
}

impl Records {
    /// A record arrived (`duplicate`: the back office had it already).
    pub fn arrived(&mut self, seq: u32, kind: UplinkKind, compartment: usize, duplicate: bool) {
        if duplicate
            && let Some(r) = (self.all.iter_mut())
                .rev()
                .find(|r| r.seq == seq && r.kind == kind)
        {
            r.sent += 1;
            return;
        }
        self.all.push(Record {
            seq,
            kind,
            compartment,
            sent: 1,
        });
    }

    pub fn all(&self) -> &[Record] {
        &self.all
    }

    /// Distinct records of `kind`.
    pub fn count(&self, kind: UplinkKind) -> u32 {
        self.all.iter().filter(|r| r.kind == kind).count() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locker_proto::{LockState, Name};

    #[test]
    fn a_state_is_its_last_report_per_thing() {
        let lock = |c: &str, state| Event::Lock {
            c: Name::try_from(c).unwrap(),
            state,
        };
        let mut s = States::default();
        s.see(&lock("M1", LockState::Locked), Duration::from_secs(1));
        s.see(&lock("M2", LockState::Locked), Duration::from_secs(1));
        s.see(&lock("M1", LockState::Released), Duration::from_secs(2));
        s.see(&Event::Keypad { digits: 3 }, Duration::from_secs(3));
        let locks: Vec<_> = s.of_kind("lock").map(|l| l.event.to_string()).collect();
        assert_eq!(locks, ["lock M1 released", "lock M2 locked"]);
        assert_eq!(s.of_kind("keypad").count(), 0, "keypad is not a state");
    }

    #[test]
    fn a_repeat_counts_as_a_sending_not_a_record() {
        let mut r = Records::default();
        r.arrived(1, UplinkKind::Dropoff, 2, false);
        r.arrived(2, UplinkKind::Pickup, 2, false);
        r.arrived(1, UplinkKind::Dropoff, 2, true);
        assert_eq!(r.count(UplinkKind::Dropoff), 1);
        assert_eq!(r.all()[0].sent, 2);
        assert_eq!(r.all()[1].sent, 1);
    }
}
