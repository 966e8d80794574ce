//! Station configuration: identity, key and the compartments on the wall.

use locker_proto::Name;

/// Most compartments one controller drives.
pub const MAX_COMPARTMENTS: usize = 12;

/// Compartment size class; returns go into an empty compartment of the right one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    S,
    M,
    L,
}

impl Size {
    /// The size a return code's digit stands for (1 S, 2 M, 3 L).
    pub const fn from_digit(d: u8) -> Option<Self> {
        match d {
            1 => Some(Self::S),
            2 => Some(Self::M),
            3 => Some(Self::L),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compartment {
    pub name: Name,
    pub size: Size,
}

/// What a controller is provisioned with.
///
/// Compartments are listed in door-sweep order: top right first, then down
/// the column, then the next column to the left (the order a service
/// technician walks the wall).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub station: u32,
    pub key: [u8; 16],
    pub compartments: heapless::Vec<Compartment, MAX_COMPARTMENTS>,
}

impl Config {
    /// The reference station: five compartments of three sizes.
    pub fn reference(station: u32, key: [u8; 16]) -> Self {
        let mut compartments = heapless::Vec::new();
        for (name, size) in [
            ("S1", Size::S),
            ("S2", Size::S),
            ("M1", Size::M),
            ("M2", Size::M),
            ("L1", Size::L),
        ] {
            let name = Name::try_from(name).unwrap_or_default();
            // Capacity is MAX_COMPARTMENTS, far above five.
            let _ = compartments.push(Compartment { name, size });
        }
        Self {
            station,
            key,
            compartments,
        }
    }
}
