//! Pickup and service codes: keyed, station-bound, time-windowed, verified offline.
//!
//! A code is a keyed MAC (SipHash-2-4 under the station key) of what it
//! grants, reduced to 8 decimal digits. The back office mints codes with the
//! same key; the controller recomputes candidates and compares in constant
//! time, so no network is needed to accept a good code.
//!
//! - pickup code (8 digits): MAC(`P`, station, compartment, parcel, window).
//!   The parcel number is assigned at drop-off, so a code is single-use: once
//!   the parcel is taken, nothing matches it any more.
//! - service code (10 digits) `K A dddddddd`: kind `K` (1 drop-off into
//!   compartment `A`, 2 return of size `A`, 3 courier collection with `A` = 0)
//!   and the MAC of (`S`, station, K, A, window) in the last 8 digits.
//!
//! Windows are days (UTC). A pickup code is valid for [`VALID_WINDOWS`] days
//! from its window; a service code for its own day. The controller's clock
//! may be off by up to [`DRIFT_TOLERANCE_S`] either way: a code is accepted
//! when its validity overlaps `[now - tolerance, now + tolerance]`.

use core::hash::Hasher;
use siphasher::sip::SipHasher24;

/// Length of a window in seconds: one day.
pub const WINDOW_S: u64 = 86_400;
/// Days a pickup code stays valid, counting the day it was issued.
pub const VALID_WINDOWS: u64 = 3;
/// Clock error the controller tolerates when judging a window.
pub const DRIFT_TOLERANCE_S: u64 = 300;
/// Digits in a pickup code.
pub const PICKUP_LEN: usize = 8;
/// Digits in a service code.
pub const SERVICE_LEN: usize = 10;

/// Service code kinds (the first digit).
pub const SERVICE_DROPOFF: u8 = 1;
pub const SERVICE_RETURN: u8 = 2;
pub const SERVICE_COLLECT: u8 = 3;

pub const fn window_of(unix_s: u64) -> u64 {
    unix_s / WINDOW_S
}

fn mac8(key: &[u8; 16], parts: &[&[u8]]) -> u32 {
    let mut h = SipHasher24::new_with_key(key);
    for p in parts {
        h.write(p);
    }
    (h.finish() % 100_000_000) as u32
}

fn digits8(v: u32) -> [u8; 8] {
    let mut out = [b'0'; 8];
    let mut v = v;
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out
}

/// The pickup code for a parcel, as ASCII digits.
pub fn pickup_code(
    key: &[u8; 16],
    station: u32,
    compartment: u8,
    parcel: u32,
    window: u64,
) -> [u8; 8] {
    digits8(mac8(
        key,
        &[
            b"P",
            &station.to_le_bytes(),
            &[compartment],
            &parcel.to_le_bytes(),
            &window.to_le_bytes(),
        ],
    ))
}

/// The MAC part (last 8 digits) of a service code.
pub fn service_mac(key: &[u8; 16], station: u32, kind: u8, arg: u8, window: u64) -> [u8; 8] {
    digits8(mac8(
        key,
        &[
            b"S",
            &station.to_le_bytes(),
            &[kind, arg],
            &window.to_le_bytes(),
        ],
    ))
}

/// Compare two digit strings in time independent of where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // Read through black_box so the compiler cannot turn the fold into an early exit.
    core::hint::black_box(diff) == 0
}

/// Where a window's validity stands, seen from a clock that may be off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Early,
    Valid,
    Expired,
}

/// Judge a code of `window` valid for `span` windows at controller time `now`.
pub fn validity(window: u64, span: u64, now: u64) -> Validity {
    let start = window * WINDOW_S;
    let end = (window + span) * WINDOW_S;
    if now + DRIFT_TOLERANCE_S < start {
        Validity::Early
    } else if now.saturating_sub(DRIFT_TOLERANCE_S) >= end {
        Validity::Expired
    } else {
        Validity::Valid
    }
}

/// Windows a service code may carry at `now`: the days touched by the tolerance.
pub fn service_windows(now: u64) -> core::ops::RangeInclusive<u64> {
    window_of(now.saturating_sub(DRIFT_TOLERANCE_S))..=window_of(now + DRIFT_TOLERANCE_S)
}

#[cfg(test)]
mod tests {
    use super::*;
    const KEY: [u8; 16] = *b"0123456789abcdef";

    #[test]
    fn codes_depend_on_every_input() {
        let base = pickup_code(&KEY, 1, 2, 3, 4);
        assert_ne!(base, pickup_code(&KEY, 9, 2, 3, 4));
        assert_ne!(base, pickup_code(&KEY, 1, 9, 3, 4));
        assert_ne!(base, pickup_code(&KEY, 1, 2, 9, 4));
        assert_ne!(base, pickup_code(&KEY, 1, 2, 3, 9));
        assert_ne!(base, pickup_code(b"fedcba9876543210", 1, 2, 3, 4));
        assert!(base.iter().all(u8::is_ascii_digit));
    }

    #[test]
    fn validity_tolerates_drift_at_both_ends() {
        let w = 20_000;
        // PROTOCOL.md: valid 3 days from the start of its day, 5 minutes
        // of clock error either way.
        let (day, tolerance) = (86_400, 300);
        let start = w * day;
        let end = (w + 3) * day;
        assert_eq!(
            validity(w, VALID_WINDOWS, start - tolerance),
            Validity::Valid
        );
        assert_eq!(
            validity(w, VALID_WINDOWS, start - tolerance - 1),
            Validity::Early
        );
        assert_eq!(
            validity(w, VALID_WINDOWS, end + tolerance - 1),
            Validity::Valid
        );
        assert_eq!(
            validity(w, VALID_WINDOWS, end + tolerance),
            Validity::Expired
        );
    }

    #[test]
    fn ct_eq_is_plain_equality() {
        assert!(ct_eq(b"12345678", b"12345678"));
        assert!(!ct_eq(b"12345678", b"12345679"));
        assert!(!ct_eq(b"1234567", b"12345678"));
    }
}
