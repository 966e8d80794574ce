//! Non-volatile state: what survives a power cut, and its byte image.
//!
//! The image carries a magic, a layout version and a CRC. An erased image
//! (all `0xFF`) is a factory-fresh station. A corrupt one is reported and
//! treated fail-secure: the controller starts locked out (see `Controller::boot`).

use crate::config::MAX_COMPARTMENTS;
use crate::uplink::{QUEUE_LEN, Record};
use locker_proto::UplinkKind;

/// Bytes of the image; a board reserves one flash page of this size.
pub const NV_SIZE: usize = 512;
const MAGIC: u16 = 0x4C4B; // "LK"
/// Layout version. Version 1 images (no unlocks under way, no parcels
/// left behind) are read as they are.
const VERSION: u8 = 2;
const USED_RETURNS: usize = 8;
const CRC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);

/// Why the controller opened a door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Pickup,
    Dropoff,
    Return,
    Collect,
}

/// What a compartment holds, as remembered across power cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Slot {
    #[default]
    Empty,
    /// A parcel waiting for its customer; `window` is the drop-off day.
    Occupied { parcel: u32, window: u32 },
    /// Announced expired by the controller's clock; waits for the courier.
    /// The clock is asked again on every sample and every code, so a clock
    /// set right turns it back into `Occupied` (the correct clock wins).
    Expired { parcel: u32, window: u32 },
    /// Opened for its customer (or the courier) and shut with the parcel
    /// still inside: the code is spent; waits for the courier.
    LeftBehind { parcel: u32, window: u32 },
    /// A customer return waiting for the courier.
    Returned { id: u32 },
    /// The door was opened for `purpose` and has not been closed since.
    /// `window` is the pickup code's, so a parcel left behind keeps it.
    Open {
        purpose: Purpose,
        parcel: u32,
        window: u32,
    },
}

impl Slot {
    /// The parcel (or return) this slot holds; 0 when it holds none.
    pub const fn parcel(&self) -> u32 {
        match *self {
            Self::Occupied { parcel, .. }
            | Self::Expired { parcel, .. }
            | Self::LeftBehind { parcel, .. }
            | Self::Open { parcel, .. } => parcel,
            Self::Returned { id } => id,
            Self::Empty => 0,
        }
    }

    /// The day of the pickup code a slot's parcel carries; 0 when it has none.
    pub const fn window(&self) -> u32 {
        match *self {
            Self::Occupied { window, .. }
            | Self::Expired { window, .. }
            | Self::LeftBehind { window, .. }
            | Self::Open { window, .. } => window,
            Self::Returned { .. } | Self::Empty => 0,
        }
    }

    /// Whether the package sensor should see something while the door is
    /// shut on this slot.
    pub const fn holds_parcel(&self) -> bool {
        matches!(
            self,
            Self::Occupied { .. }
                | Self::Expired { .. }
                | Self::LeftBehind { .. }
                | Self::Returned { .. }
        )
    }
}

/// An unlock under way: saved before the solenoid fires and cleared when
/// the door opens or the unlock ends without it, so that after a power cut
/// at any instant the controller knows the door was released on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arming {
    Pickup,
    Dropoff,
    /// `mac` is the return code's, spent as the code is accepted and given
    /// back if the door never opens.
    Return {
        mac: u32,
    },
    Collect,
}

impl Arming {
    pub const fn purpose(self) -> Purpose {
        match self {
            Self::Pickup => Purpose::Pickup,
            Self::Dropoff => Purpose::Dropoff,
            Self::Return { .. } => Purpose::Return,
            Self::Collect => Purpose::Collect,
        }
    }
}

/// Everything the controller keeps in non-volatile memory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Nv {
    pub failed: u8,
    pub lockout_level: u8,
    /// Lockout time still to serve. Saved as it runs down, so a power cut
    /// never shortens it (time without power does not count).
    pub lockout_remaining_ms: u32,
    pub parcel_counter: u32,
    pub return_counter: u32,
    pub slots: [Slot; MAX_COMPARTMENTS],
    /// Unlocks under way, by compartment.
    pub arming: [Option<Arming>; MAX_COMPARTMENTS],
    pub used_returns: [u32; USED_RETURNS],
    pub used_returns_next: u8,
    pub next_seq: u32,
    pub queue: heapless::Deque<Record, QUEUE_LEN>,
}

/// How an image was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    Valid,
    Erased,
    Corrupt,
}

/// A slot as a tag and two words. The tag's low nibble is the slot, its
/// high nibble an unlock under way (0 none, 1-4 pickup, drop-off, return,
/// collection); a return's code sits in the first word of its empty slot.
fn slot_bytes(s: &Slot, arming: Option<Arming>) -> (u8, u32, u32) {
    let (tag, a, b) = match *s {
        Slot::Empty => (0, 0, 0),
        Slot::Occupied { parcel, window } => (1, parcel, window),
        Slot::Expired { parcel, window } => (2, parcel, window),
        Slot::Returned { id } => (3, id, 0),
        Slot::Open {
            purpose,
            parcel,
            window,
        } => (
            match purpose {
                Purpose::Pickup => 4,
                Purpose::Dropoff => 5,
                Purpose::Return => 6,
                Purpose::Collect => 7,
            },
            parcel,
            window,
        ),
        Slot::LeftBehind { parcel, window } => (8, parcel, window),
    };
    match arming {
        None => (tag, a, b),
        Some(Arming::Pickup) => (tag | 0x10, a, b),
        Some(Arming::Dropoff) => (tag | 0x20, a, b),
        Some(Arming::Return { mac }) => (tag | 0x30, mac, b),
        Some(Arming::Collect) => (tag | 0x40, a, b),
    }
}

fn arming_from(tag: u8, a: u32, slot: &Slot) -> Option<Option<Arming>> {
    let arming = match tag >> 4 {
        0 => return Some(None),
        1 => Arming::Pickup,
        2 => Arming::Dropoff,
        3 => Arming::Return { mac: a },
        4 => Arming::Collect,
        _ => return None,
    };
    // An unlock is armed only from the slot its purpose starts from.
    let fits = match arming {
        Arming::Pickup => matches!(slot, Slot::Occupied { .. } | Slot::Expired { .. }),
        Arming::Dropoff | Arming::Return { .. } => *slot == Slot::Empty,
        Arming::Collect => matches!(
            slot,
            Slot::Expired { .. } | Slot::LeftBehind { .. } | Slot::Returned { .. }
        ),
    };
    fits.then_some(Some(arming))
}

fn slot_from(tag: u8, a: u32, b: u32) -> Option<Slot> {
    let open = |purpose| {
        Some(Slot::Open {
            purpose,
            parcel: a,
            window: b,
        })
    };
    match tag & 0x0F {
        0 => Some(Slot::Empty),
        1 => Some(Slot::Occupied {
            parcel: a,
            window: b,
        }),
        2 => Some(Slot::Expired {
            parcel: a,
            window: b,
        }),
        3 => Some(Slot::Returned { id: a }),
        4 => open(Purpose::Pickup),
        5 => open(Purpose::Dropoff),
        6 => open(Purpose::Return),
        7 => open(Purpose::Collect),
        8 => Some(Slot::LeftBehind {
            parcel: a,
            window: b,
        }),
        _ => None,
    }
}

struct W<'a> {
    buf: &'a mut [u8; NV_SIZE],
    at: usize,
}

impl W<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
}

struct R<'a> {
    buf: &'a [u8],
    at: usize,
}

impl R<'_> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.buf.get(self.at)?;
        self.at += 1;
        Some(v)
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.buf.get(self.at..self.at + 4)?;
        self.at += 4;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

impl Nv {
    pub fn used_return(&self, mac: u32) -> bool {
        self.used_returns.contains(&(mac + 1))
    }

    /// Give back a return code marked used whose door never opened.
    pub fn unmark_return(&mut self, mac: u32) {
        for u in &mut self.used_returns {
            if *u == mac + 1 {
                *u = 0;
            }
        }
    }

    pub fn mark_return_used(&mut self, mac: u32) {
        // Stored plus one so the zeroed default never matches a real MAC.
        let i = usize::from(self.used_returns_next) % USED_RETURNS;
        self.used_returns[i] = mac + 1;
        self.used_returns_next = ((i + 1) % USED_RETURNS) as u8;
    }

    /// Write the image, CRC included.
    pub fn encode(&self, out: &mut [u8; NV_SIZE]) {
        out.fill(0);
        let mut w = W { buf: out, at: 0 };
        w.bytes(&MAGIC.to_le_bytes());
        w.u8(VERSION);
        w.u8(self.failed);
        w.u8(self.lockout_level);
        w.u32(self.lockout_remaining_ms);
        w.u32(self.parcel_counter);
        w.u32(self.return_counter);
        w.u32(self.next_seq);
        for (s, arming) in self.slots.iter().zip(self.arming) {
            let (tag, a, b) = slot_bytes(s, arming);
            w.u8(tag);
            w.u32(a);
            w.u32(b);
        }
        for r in &self.used_returns {
            w.u32(*r);
        }
        w.u8(self.used_returns_next);
        w.u8(self.queue.len() as u8);
        for r in &self.queue {
            w.u32(r.seq);
            w.u8(r.kind as u8);
            w.u8(r.compartment);
            w.u32(r.value);
        }
        let crc = CRC.checksum(&out[..NV_SIZE - 2]);
        out[NV_SIZE - 2..].copy_from_slice(&crc.to_le_bytes());
    }

    /// Read an image. Erased and corrupt images give defaults, and say so.
    pub fn decode(image: &[u8]) -> (Self, Loaded) {
        if image.len() != NV_SIZE || image.iter().all(|&b| b == 0xFF) {
            let how = if image.len() == NV_SIZE {
                Loaded::Erased
            } else {
                Loaded::Corrupt
            };
            return (Self::default(), how);
        }
        let stored = u16::from_le_bytes([image[NV_SIZE - 2], image[NV_SIZE - 1]]);
        if CRC.checksum(&image[..NV_SIZE - 2]) != stored {
            return (Self::default(), Loaded::Corrupt);
        }
        match Self::read(image) {
            Some(nv) => (nv, Loaded::Valid),
            None => (Self::default(), Loaded::Corrupt),
        }
    }

    fn read(image: &[u8]) -> Option<Self> {
        let mut r = R { buf: image, at: 0 };
        let magic = u16::from(r.u8()?) | (u16::from(r.u8()?) << 8);
        let version = r.u8()?;
        if magic != MAGIC || !(1..=VERSION).contains(&version) {
            return None;
        }
        let mut nv = Self {
            failed: r.u8()?,
            lockout_level: r.u8()?,
            lockout_remaining_ms: r.u32()?,
            parcel_counter: r.u32()?,
            return_counter: r.u32()?,
            next_seq: r.u32()?,
            ..Self::default()
        };
        for (s, arming) in nv.slots.iter_mut().zip(nv.arming.iter_mut()) {
            let (tag, a, b) = (r.u8()?, r.u32()?, r.u32()?);
            if version == 1 && tag > 7 {
                return None;
            }
            *s = slot_from(tag, a, b)?;
            if version == 1
                && let Slot::Expired { parcel, window } = *s
            {
                // Layout 1 kept a parcel left behind as expired: it waits
                // for the courier either way, and its code stays spent.
                *s = Slot::LeftBehind { parcel, window };
            }
            *arming = arming_from(tag, a, s)?;
        }
        for u in nv.used_returns.iter_mut() {
            *u = r.u32()?;
        }
        nv.used_returns_next = r.u8()?;
        let n = r.u8()?;
        for _ in 0..n {
            let seq = r.u32()?;
            let kind = *UplinkKind::ALL.get(usize::from(r.u8()?))?;
            let rec = Record {
                seq,
                kind,
                compartment: r.u8()?,
                value: r.u32()?,
            };
            nv.queue.push_back(rec).ok()?;
        }
        Some(nv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn image_round_trips(failed: u8, level in 0u8..8, remaining: u32, counter: u32, n in 0usize..QUEUE_LEN, slot_tag in 0u8..9, arming in 0u8..5, a: u32) {
            let mut nv = Nv { failed, lockout_level: level, lockout_remaining_ms: remaining, parcel_counter: counter, ..Nv::default() };
            nv.slots[3] = slot_from(slot_tag, a, 7).unwrap();
            // Any unlock that can start from this slot.
            nv.arming[3] = arming_from(arming << 4, a, &nv.slots[3]).flatten();
            for i in 0..n {
                nv.queue.push_back(Record { seq: i as u32, kind: UplinkKind::Pickup, compartment: 2, value: a }).unwrap();
            }
            nv.mark_return_used(a % 100_000_000);
            let mut img = [0u8; NV_SIZE];
            nv.encode(&mut img);
            let (back, how) = Nv::decode(&img);
            prop_assert_eq!(how, Loaded::Valid);
            prop_assert_eq!(back, nv);
        }

        #[test]
        fn any_corruption_is_detected(pos in 0usize..NV_SIZE, bit in 0u8..8) {
            let mut nv = Nv { failed: 3, lockout_remaining_ms: 30_000, ..Nv::default() };
            nv.slots[0] = Slot::Occupied { parcel: 5, window: 20_000 };
            let mut img = [0u8; NV_SIZE];
            nv.encode(&mut img);
            img[pos] ^= 1 << bit;
            prop_assert_eq!(Nv::decode(&img).1, Loaded::Corrupt);
        }
    }

    /// A station updated from a firmware with layout 1 keeps what it held.
    #[test]
    fn a_version_1_image_is_read() {
        let mut nv = Nv {
            failed: 2,
            ..Nv::default()
        };
        nv.slots[1] = Slot::Occupied {
            parcel: 9,
            window: 20_500,
        };
        nv.slots[2] = Slot::Expired {
            parcel: 4,
            window: 20_499,
        };
        let mut img = [0u8; NV_SIZE];
        nv.encode(&mut img);
        img[2] = 1;
        let crc = CRC.checksum(&img[..NV_SIZE - 2]);
        img[NV_SIZE - 2..].copy_from_slice(&crc.to_le_bytes());
        // Layout 1 did not tell an expired parcel from one left behind:
        // both wait for the courier, the code spent.
        nv.slots[2] = Slot::LeftBehind {
            parcel: 4,
            window: 20_499,
        };
        assert_eq!(Nv::decode(&img), (nv, Loaded::Valid));
    }

    /// An image of a later layout (or another magic), whole and with a good
    /// CRC, is not read as this one; nor is a layout 1 image with a slot
    /// only layout 2 has.
    #[test]
    fn an_image_of_another_layout_is_corrupt() {
        let nv = Nv::default();
        let mut img = [0u8; NV_SIZE];
        let seal = |img: &mut [u8; NV_SIZE]| {
            let crc = CRC.checksum(&img[..NV_SIZE - 2]);
            img[NV_SIZE - 2..].copy_from_slice(&crc.to_le_bytes());
        };
        for (at, byte) in [(2, VERSION + 1), (0, 0x4D)] {
            nv.encode(&mut img);
            img[at] = byte;
            seal(&mut img);
            assert_eq!(Nv::decode(&img).1, Loaded::Corrupt, "byte {at} = {byte}");
        }
        let mut left = Nv::default();
        left.slots[0] = Slot::LeftBehind {
            parcel: 1,
            window: 2,
        };
        left.encode(&mut img);
        img[2] = 1;
        seal(&mut img);
        assert_eq!(Nv::decode(&img).1, Loaded::Corrupt);
    }

    /// An unlock is remembered only from the slot its purpose starts from:
    /// anything else is a corrupt image, not a door to release.
    #[test]
    fn an_unlock_that_cannot_start_from_its_slot_is_corrupt() {
        let mut nv = Nv::default();
        nv.arming[0] = Some(Arming::Return { mac: 1234 });
        let mut img = [0u8; NV_SIZE];
        nv.encode(&mut img);
        assert_eq!(Nv::decode(&img), (nv.clone(), Loaded::Valid));
        nv.arming[0] = Some(Arming::Pickup); // a pickup from an empty slot
        nv.encode(&mut img);
        assert_eq!(Nv::decode(&img).1, Loaded::Corrupt);
    }

    #[test]
    fn erased_flash_is_factory_fresh() {
        assert_eq!(
            Nv::decode(&[0xFF; NV_SIZE]),
            (Nv::default(), Loaded::Erased)
        );
    }
}
