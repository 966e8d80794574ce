//! The back office's side of the codes: the harness mints the codes a real
//! back office would send to couriers and customers.
//!
//! Written from the code specification in `firmware/proto/PROTOCOL.md`, not
//! by calling the firmware, so a firmware change to how codes are formed is
//! caught by the suites instead of being mirrored by the harness.

use core::hash::Hasher;
use siphasher::sip::SipHasher24;

const DAY: u64 = 86_400;

fn mac8(key: &[u8; 16], bytes: &[u8]) -> String {
    let mut h = SipHasher24::new_with_key(key);
    h.write(bytes);
    format!("{:08}", h.finish() % 100_000_000)
}

/// The day window of a unix time.
pub fn window(unix_s: u64) -> u64 {
    unix_s / DAY
}

/// 8-digit pickup code for parcel `parcel` in compartment index `compartment`.
pub fn pickup(key: &[u8; 16], station: u32, compartment: u8, parcel: u32, window: u64) -> String {
    let mut b = vec![b'P'];
    b.extend_from_slice(&station.to_le_bytes());
    b.push(compartment);
    b.extend_from_slice(&parcel.to_le_bytes());
    b.extend_from_slice(&window.to_le_bytes());
    mac8(key, &b)
}

/// 10-digit service code: kind digit, argument digit, 8 MAC digits.
pub fn service(key: &[u8; 16], station: u32, kind: u8, arg: u8, window: u64) -> String {
    let mut b = vec![b'S'];
    b.extend_from_slice(&station.to_le_bytes());
    b.push(kind);
    b.push(arg);
    b.extend_from_slice(&window.to_le_bytes());
    format!("{kind}{arg}{}", mac8(key, &b))
}

pub const DROPOFF: u8 = 1;
pub const RETURN: u8 = 2;
pub const COLLECT: u8 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_reference_firmware() {
        // The firmware's own functions are the other implementation of the spec.
        let key = *b"0123456789abcdef";
        let fw = locker_core::codes::pickup_code(&key, 4711, 2, 17, 20_500);
        assert_eq!(pickup(&key, 4711, 2, 17, 20_500).as_bytes(), fw);
        let fw = locker_core::codes::service_mac(&key, 4711, DROPOFF, 3, 20_500);
        assert_eq!(&service(&key, 4711, DROPOFF, 3, 20_500).as_bytes()[2..], fw);
    }
}
