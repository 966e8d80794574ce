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
const VERSION: u8 = 1;
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
    /// Uncollected past its validity; waits for the courier.
    Expired { parcel: u32, window: u32 },
    /// A customer return waiting for the courier.
    Returned { id: u32 },
    /// The door was opened for `purpose` and has not been closed since.
    Open { purpose: Purpose, parcel: u32 },
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

fn slot_bytes(s: &Slot) -> (u8, u32, u32) {
    match *s {
        Slot::Empty => (0, 0, 0),
        Slot::Occupied { parcel, window } => (1, parcel, window),
        Slot::Expired { parcel, window } => (2, parcel, window),
        Slot::Returned { id } => (3, id, 0),
        Slot::Open { purpose, parcel } => (
            match purpose {
                Purpose::Pickup => 4,
                Purpose::Dropoff => 5,
                Purpose::Return => 6,
                Purpose::Collect => 7,
            },
            parcel,
            0,
        ),
    }
}

fn slot_from(tag: u8, a: u32, b: u32) -> Option<Slot> {
    let open = |purpose| Some(Slot::Open { purpose, parcel: a });
    match tag {
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
        for s in &self.slots {
            let (tag, a, b) = slot_bytes(s);
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
        if magic != MAGIC || r.u8()? != VERSION {
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
        for s in nv.slots.iter_mut() {
            let (tag, a, b) = (r.u8()?, r.u32()?, r.u32()?);
            *s = slot_from(tag, a, b)?;
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
        fn image_round_trips(failed: u8, level in 0u8..8, remaining: u32, counter: u32, n in 0usize..QUEUE_LEN, slot_tag in 0u8..8, a: u32) {
            let mut nv = Nv { failed, lockout_level: level, lockout_remaining_ms: remaining, parcel_counter: counter, ..Nv::default() };
            nv.slots[3] = slot_from(slot_tag, a, 7).unwrap();
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

    #[test]
    fn erased_flash_is_factory_fresh() {
        assert_eq!(
            Nv::decode(&[0xFF; NV_SIZE]),
            (Nv::default(), Loaded::Erased)
        );
    }
}
