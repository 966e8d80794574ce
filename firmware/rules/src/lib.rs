//! The reference firmware's rules, written from `firmware/proto/PROTOCOL.md`
//! ("The reference firmware by the numbers", "Codes") and `shared/DESIGN.md`,
//! never from the controller's code: what the model test
//! (`firmware/core/tests/model.rs`) and the harness's check of the rules in
//! every case (`harness/src/run/rules.rs`) hold a controller to.
//!
//! The firmware must never depend on this crate: a rule taken from the code
//! it checks checks nothing. When a documented number changes, it changes
//! here and in PROTOCOL.md together, and the controller is then held to it.
#![no_std]

use core::time::Duration;

/// Wrong codes in a row that lock the keypad.
pub const WRONG_CODES_TO_LOCK: u8 = 5;
/// The first lockout; each further one doubles, up to [`LOCKOUT_MAX`].
pub const LOCKOUT_FIRST: Duration = Duration::from_secs(30);
/// The longest lockout, which further lockouts stay at.
pub const LOCKOUT_MAX: Duration = Duration::from_secs(3_600);
/// How often the time left of a lockout is saved as it runs down: power
/// returns to at most this much more than was left at the cut.
pub const LOCKOUT_SAVED_EVERY: Duration = Duration::from_secs(5);
/// An entry is cleared this long after its last key.
pub const KEYPAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Digits of a pickup code and of a service code.
pub const PICKUP_DIGITS: usize = 8;
pub const SERVICE_DIGITS: usize = 10;
pub const DAY_S: u64 = 86_400;
/// Days a pickup code is valid from the start of the day it was issued.
pub const PICKUP_VALID_DAYS: u64 = 3;
/// Days a service code is valid: its own.
pub const SERVICE_VALID_DAYS: u64 = 1;
/// Clock error the controller tolerates either way, seconds.
pub const CLOCK_TOLERANCE_S: u64 = 300;
/// No actuation below -20 C until above -17 C (hundredths of a degree).
pub const COLD_REFUSE_BELOW: i32 = -2_000;
pub const COLD_RESUME_ABOVE: i32 = -1_700;
/// No actuation above 60 C until below 57 C.
pub const HOT_REFUSE_ABOVE: i32 = 6_000;
pub const HOT_RESUME_BELOW: i32 = 5_700;
/// The thermistor is sampled this often.
pub const TEMP_SAMPLE: Duration = Duration::from_secs(10);

/// The lockout that follows `earlier` lockouts since the last pickup.
pub fn lockout(earlier: u32) -> Duration {
    let doubled = LOCKOUT_FIRST.saturating_mul(1u32.checked_shl(earlier).unwrap_or(u32::MAX));
    doubled.min(LOCKOUT_MAX)
}

/// What power returns to when a lockout had `left` at the cut: the last
/// value saved, taken at the lockout's start and every
/// [`LOCKOUT_SAVED_EVERY`] since, so at least `left` and less than `left`
/// plus one saving period (never more than the whole lockout, `len`).
pub fn resumed(left: Duration, len: Duration) -> (Duration, Duration) {
    (left, (left + LOCKOUT_SAVED_EVERY).min(len))
}

/// Wrong codes in a row and lockouts since the last pickup, as the keypad
/// counts them (both kept across every kind of reset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attempts {
    pub wrong: u8,
    pub lockouts: u32,
}

impl Attempts {
    /// A wrong code: the lockout it starts when it is the last of a row.
    pub fn wrong(&mut self) -> Option<Duration> {
        self.wrong += 1;
        if self.wrong < WRONG_CODES_TO_LOCK {
            return None;
        }
        self.wrong = 0;
        let len = lockout(self.lockouts);
        self.lockouts = self.lockouts.saturating_add(1);
        Some(len)
    }

    /// A pickup (the customer's door opened): earlier mistakes and the
    /// lockout's doubling are forgiven.
    pub fn forgive(&mut self) {
        *self = Self::default();
    }
}

/// Whether the controller refuses to actuate for the temperature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Refusal {
    #[default]
    None,
    Cold,
    Hot,
}

/// The refusal after one sample of `centi` hundredths of a degree: it
/// starts past a limit and ends only back past the resume point, one state
/// per sample (from too hot to too cold passes through none).
pub fn refusal(prev: Refusal, centi: i32) -> Refusal {
    match prev {
        Refusal::None if centi < COLD_REFUSE_BELOW => Refusal::Cold,
        Refusal::None if centi > HOT_REFUSE_ABOVE => Refusal::Hot,
        Refusal::Cold if centi > COLD_RESUME_ABOVE => Refusal::None,
        Refusal::Hot if centi < HOT_RESUME_BELOW => Refusal::None,
        r => r,
    }
}

/// Where a code stands at a reading of the controller's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Early,
    Valid,
    Expired,
}

/// A code issued for day `window` (unix days) and valid `days` days, at
/// clock reading `rtc_s`: valid when its validity overlaps
/// [`rtc_s` - 5 min, `rtc_s` + 5 min].
pub fn validity(window: u64, days: u64, rtc_s: u64) -> Validity {
    let start = window.saturating_mul(DAY_S);
    let end = window.saturating_add(days).saturating_mul(DAY_S);
    if rtc_s.saturating_add(CLOCK_TOLERANCE_S) < start {
        Validity::Early
    } else if rtc_s.saturating_sub(CLOCK_TOLERANCE_S) >= end {
        Validity::Expired
    } else {
        Validity::Valid
    }
}

/// Seconds from `rtc_s` to the nearest reading at which [`validity`]
/// changes: a checker that knows the controller's clock only to a few
/// seconds judges a code only farther than that from an edge.
pub fn margin(window: u64, days: u64, rtc_s: u64) -> u64 {
    let start = window
        .saturating_mul(DAY_S)
        .saturating_sub(CLOCK_TOLERANCE_S);
    let end = (window.saturating_add(days).saturating_mul(DAY_S)).saturating_add(CLOCK_TOLERANCE_S);
    rtc_s.abs_diff(start).min(rtc_s.abs_diff(end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    // The documented numbers, as PROTOCOL.md writes them.

    #[rstest]
    #[case(0, 30)]
    #[case(1, 60)]
    #[case(2, 120)]
    #[case(6, 1_920)]
    #[case(7, 3_600)]
    #[case(8, 3_600)]
    #[case(40, 3_600)]
    fn lockouts_double_from_30_s_up_to_an_hour(#[case] earlier: u32, #[case] secs: u64) {
        assert_eq!(lockout(earlier), Duration::from_secs(secs));
    }

    #[test]
    fn five_wrong_codes_in_a_row_lock_and_a_pickup_forgives() {
        let mut a = Attempts::default();
        for _ in 0..4 {
            assert_eq!(a.wrong(), None);
        }
        assert_eq!(a.wrong(), Some(Duration::from_secs(30)));
        for _ in 0..4 {
            assert_eq!(a.wrong(), None);
        }
        assert_eq!(a.wrong(), Some(Duration::from_secs(60)));
        a.wrong();
        a.forgive();
        for _ in 0..4 {
            assert_eq!(a.wrong(), None);
        }
        assert_eq!(a.wrong(), Some(Duration::from_secs(30)));
    }

    #[test]
    fn a_resumed_lockout_is_what_was_left_up_to_5_s_more() {
        let (lo, hi) = resumed(Duration::from_secs(12), Duration::from_secs(30));
        assert_eq!((lo, hi), (Duration::from_secs(12), Duration::from_secs(17)));
        let (_, hi) = resumed(Duration::from_secs(28), Duration::from_secs(30));
        assert_eq!(hi, Duration::from_secs(30));
    }

    #[rstest]
    #[case(Refusal::None, -2001, Refusal::Cold)]
    #[case(Refusal::None, -2000, Refusal::None)]
    #[case(Refusal::Cold, -1700, Refusal::Cold)]
    #[case(Refusal::Cold, -1699, Refusal::None)]
    #[case(Refusal::None, 6001, Refusal::Hot)]
    #[case(Refusal::None, 6000, Refusal::None)]
    #[case(Refusal::Hot, 5700, Refusal::Hot)]
    #[case(Refusal::Hot, 5699, Refusal::None)]
    #[case(Refusal::Hot, -2500, Refusal::None)]
    fn refusal_below_minus_20_and_above_60_with_3_degrees_of_hysteresis(
        #[case] prev: Refusal,
        #[case] centi: i32,
        #[case] next: Refusal,
    ) {
        assert_eq!(refusal(prev, centi), next);
    }

    /// 2026-03-02 is day 20514.
    const DAY: u64 = 20_514;

    #[rstest]
    // A pickup code: 3 days from the start of its day, 5 minutes either way.
    #[case(PICKUP_VALID_DAYS, DAY * 86_400 - 301, Validity::Early)]
    #[case(PICKUP_VALID_DAYS, DAY * 86_400 - 300, Validity::Valid)]
    #[case(PICKUP_VALID_DAYS, (DAY + 3) * 86_400 + 299, Validity::Valid)]
    #[case(PICKUP_VALID_DAYS, (DAY + 3) * 86_400 + 300, Validity::Expired)]
    // A service code: its own day.
    #[case(SERVICE_VALID_DAYS, (DAY + 1) * 86_400 + 299, Validity::Valid)]
    #[case(SERVICE_VALID_DAYS, (DAY + 1) * 86_400 + 300, Validity::Expired)]
    fn codes_are_valid_for_their_days_with_5_minutes_either_way(
        #[case] days: u64,
        #[case] rtc: u64,
        #[case] v: Validity,
    ) {
        assert_eq!(validity(DAY, days, rtc), v);
    }

    proptest! {
        /// Along the clock, a code is early, then valid, then expired,
        /// and changes only where the margin is zero.
        #[test]
        fn validity_moves_one_way_and_changes_only_at_an_edge(
            window in 5u64..40_000, days in 1u64..4, a in 0u64..10_000_000, d in 1u64..1_000_000,
        ) {
            let t0 = window * DAY_S - 5 * DAY_S + a;
            let rank = |v| match v { Validity::Early => 0, Validity::Valid => 1, Validity::Expired => 2 };
            let (v0, v1) = (validity(window, days, t0), validity(window, days, t0 + d));
            prop_assert!(rank(v0) <= rank(v1));
            if v0 != v1 {
                prop_assert!(margin(window, days, t0) <= d);
            }
        }

        /// A lockout is never shorter than the one before it, never longer
        /// than an hour, and a row of wrong codes locks exactly every fifth.
        #[test]
        fn lockouts_grow_to_their_cap(n in 1usize..200) {
            let mut a = Attempts::default();
            let mut last = Duration::ZERO;
            for i in 1..=n {
                match a.wrong() {
                    Some(len) => {
                        prop_assert_eq!(i % 5, 0);
                        prop_assert!(len >= last && len <= Duration::from_secs(3_600));
                        last = len;
                    }
                    None => prop_assert_ne!(i % 5, 0),
                }
            }
        }
    }
}
