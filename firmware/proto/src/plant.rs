//! The plant link: the host channel of a board whose pins the harness cannot
//! reach (the QEMU image, over ARM semihosting), carrying what real wires
//! would.
//!
//! No emulator lets a host drive GPIO or analog inputs while the CPU runs,
//! so on the qemu rig the sensors, actuators, thermistor, modem, EEPROM and
//! the timebase all cross this link to the harness's plant model, framed
//! like the console (`<seq> <body>*<crc>`).
//!
//! The harness is the master of time. It sends one [`ToBoard::Step`] at a
//! time; the board runs the firmware for exactly that instant, reports what
//! the firmware did (actuators, link requests, memory writes) in order, and
//! closes with [`ToPlant::Done`]. Nothing in the board waits on a timer, so
//! virtual time can jump hours between steps and a slow host can never make
//! the firmware time out: runs are deterministic however loaded the host is.
//!
//! ```text
//! harness (plant model)                       board (QEMU)
//!   |                      <- READY <build> <board>  |  after reset
//!   | STATION, COMP x n, NV x 0-8, PINS, BOOT ->     |
//!   |                      <- SOL / TEMP? / NVW ...  |  the firmware boots
//!   | TEMP <centi> ->                                |  (answer to TEMP?)
//!   |                      <- DONE <deadline> <tx>   |
//!   | PINS, STEP <ms> sensors ->                     |  one instant
//!   |                      <- ... DONE               |
//!   | RUN <from> <until> ->                               |  quiet stretch
//!   |          <- AT <ms>, TEMP?, ..., AT <ms>, ...  |  own deadlines
//!   |                      <- DONE                   |  (after an effect)
//! ```
//!
//! `RUN` exists for speed: a quiet day is thousands of instants, and a
//! harness message per instant would make each one a round trip between
//! processes. The board keeps its own real-time clock from `BOOT` (and from
//! `CLOCK`), exactly as the plant model does. What one instant sends the
//! harness crosses the link as one write (the board gathers its lines until
//! it next waits for the harness).
//!
//! `DONE` carries the count of console bytes the board has sent since
//! `READY`, so the harness reads the console up to that point before it
//! lets time move: console output belongs to the instant that caused it.

use crate::message::{Words, hex_byte};
use crate::{DecodeError, Ident, Key, Link, Name, ResetCause, UplinkKind};
use core::fmt::{self, Write};

/// Bytes of non-volatile memory per `NV` / `NVW` line.
pub const NV_CHUNK: usize = 64;

/// A chunk of non-volatile memory.
pub type Chunk = heapless::Vec<u8, NV_CHUNK>;

/// What happens at one instant of a [`ToBoard::Step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stimulus {
    /// The firmware's own deadline came.
    Tick,
    Key(Key),
    Help,
    /// A sensor line changed (the new levels came in `PINS`).
    Sensors,
    Probe {
        link: Link,
        ok: bool,
    },
    Ack {
        link: Link,
        seq: u32,
        ok: bool,
    },
    /// Handle console bytes until `upto` have been received since `READY`.
    Console {
        upto: u32,
    },
}

/// Harness to board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToBoard {
    /// Provisioning: station identity and code key.
    Station { id: u32, key: [u8; 16] },
    /// Provisioning: one compartment, in door-sweep order.
    Compartment { name: Name, size: char },
    /// EEPROM contents at `offset`, read by the board before it boots. The
    /// board's image starts erased (all `FF`) at every `READY`, so chunks
    /// that are still erased need not be sent.
    Nv { offset: u16, data: Chunk },
    /// Input levels: bit `c` set means closed / extended / present.
    Pins { door: u32, bolt: u32, package: u32 },
    /// Start the firmware (time zero of its uptime); `rtc_ms` is the
    /// battery-backed clock at that moment, in unix milliseconds.
    Boot { cause: ResetCause, rtc_ms: u64 },
    /// Run the firmware at uptime `ms` for one stimulus.
    Step { ms: u64, what: Stimulus },
    /// Nothing reaches the board before uptime `until`: run each of the
    /// firmware's own deadlines from `from` up to it (one already overdue runs
    /// at `from`), announcing each with `AT`, and stop after the first
    /// instant that acts on the plant or the console.
    Run { from: u64, until: u64 },
    /// One thermistor conversion, hundredths of a degree (answers `TEMP?`).
    Temp(i32),
}

/// Board to harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToPlant {
    /// The board came out of reset and waits for its boot exchange.
    Ready {
        build: Ident,
        board: Ident,
    },
    Solenoid {
        c: u8,
        on: bool,
    },
    Heater(bool),
    Probe(Link),
    Uplink {
        link: Link,
        seq: u32,
        kind: UplinkKind,
        compartment: u8,
        value: u32,
    },
    NvWrite {
        offset: u16,
        data: Chunk,
    },
    /// The `CLOCK` hook set the real-time clock.
    Rtc(u64),
    /// The firmware restarted itself: outputs off, exchanges abandoned.
    Reset,
    /// Convert the thermistor now; the answer is `TEMP`.
    TempRequest,
    /// During `RUN`: the firmware's deadline at uptime `ms` is being run.
    At(u64),
    /// The instant is over. `deadline`: uptime (ms) of the next tick;
    /// `console`: bytes sent on the console since `READY`.
    Done {
        deadline: u64,
        console: u32,
    },
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Display for Stimulus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tick => f.write_str("tick"),
            Self::Key(k) => write!(f, "key {}", k.as_char()),
            Self::Help => f.write_str("help"),
            Self::Sensors => f.write_str("sensors"),
            Self::Probe { link, ok } => write!(f, "probe {link} {}", ok_fail(*ok)),
            Self::Ack { link, seq, ok } => write!(f, "ack {link} {seq} {}", ok_fail(*ok)),
            Self::Console { upto } => write!(f, "console {upto}"),
        }
    }
}

fn ok_fail(ok: bool) -> &'static str {
    if ok { "ok" } else { "fail" }
}

impl fmt::Display for ToBoard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Station { id, key } => {
                write!(f, "STATION {id} ")?;
                write_hex(f, key)
            }
            Self::Compartment { name, size } => write!(f, "COMP {name} {size}"),
            Self::Nv { offset, data } => {
                write!(f, "NV {offset} ")?;
                write_hex(f, data)
            }
            Self::Pins {
                door,
                bolt,
                package,
            } => {
                write!(f, "PINS {door:x} {bolt:x} {package:x}")
            }
            Self::Boot { cause, rtc_ms } => write!(f, "BOOT {cause} {rtc_ms}"),
            Self::Step { ms, what } => write!(f, "STEP {ms} {what}"),
            Self::Run { from, until } => write!(f, "RUN {from} {until}"),
            Self::Temp(centi) => write!(f, "TEMP {centi}"),
        }
    }
}

impl fmt::Display for ToPlant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready { build, board } => write!(f, "READY {build} {board}"),
            Self::Solenoid { c, on } => write!(f, "SOL {c} {}", on_off(*on)),
            Self::Heater(on) => write!(f, "HEAT {}", on_off(*on)),
            Self::Probe(link) => write!(f, "PROBE {link}"),
            Self::Uplink {
                link,
                seq,
                kind,
                compartment,
                value,
            } => write!(f, "UP {link} {seq} {kind} {compartment} {value}"),
            Self::NvWrite { offset, data } => {
                write!(f, "NVW {offset} ")?;
                write_hex(f, data)
            }
            Self::Rtc(unix) => write!(f, "RTC {unix}"),
            Self::Reset => f.write_str("RESET"),
            Self::TempRequest => f.write_str("TEMP?"),
            Self::At(ms) => write!(f, "AT {ms}"),
            Self::Done { deadline, console } => write!(f, "DONE {deadline} {console}"),
        }
    }
}

fn parse_hex<const N: usize>(
    word: &str,
    what: &'static str,
) -> Result<heapless::Vec<u8, N>, DecodeError> {
    let bytes = word.as_bytes();
    // Empty (`""`) is no data: it would be written back as nothing at all.
    if bytes.is_empty() || !bytes.len().is_multiple_of(2) {
        return Err(DecodeError::Bad(what));
    }
    let mut out = heapless::Vec::new();
    for pair in bytes.chunks(2) {
        let b = hex_byte(pair).ok_or(DecodeError::Bad(what))?;
        out.push(b).map_err(|_| DecodeError::Bad(what))?;
    }
    Ok(out)
}

fn parse_on(word: &str, what: &'static str) -> Result<bool, DecodeError> {
    match word {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(DecodeError::Bad(what)),
    }
}

fn parse_ok(word: &str) -> Result<bool, DecodeError> {
    match word {
        "ok" => Ok(true),
        "fail" => Ok(false),
        _ => Err(DecodeError::Bad("result")),
    }
}

fn parse_mask(w: &mut Words<'_>, what: &'static str) -> Result<u32, DecodeError> {
    u32::from_str_radix(w.next(what)?, 16).map_err(|_| DecodeError::Bad(what))
}

fn parse_stimulus(w: &mut Words<'_>) -> Result<Stimulus, DecodeError> {
    Ok(match w.next("stimulus")? {
        "tick" => Stimulus::Tick,
        "key" => {
            let k = w.next("key")?;
            let mut chars = k.chars();
            match (chars.next().and_then(Key::from_char), chars.next()) {
                (Some(key), None) => Stimulus::Key(key),
                _ => return Err(DecodeError::Bad("key")),
            }
        }
        "help" => Stimulus::Help,
        "sensors" => Stimulus::Sensors,
        "probe" => Stimulus::Probe {
            link: Link::parse(w.next("link")?)?,
            ok: parse_ok(w.next("result")?)?,
        },
        "ack" => Stimulus::Ack {
            link: Link::parse(w.next("link")?)?,
            seq: w.num("record sequence")?,
            ok: parse_ok(w.next("result")?)?,
        },
        "console" => Stimulus::Console {
            upto: w.num("console byte count")?,
        },
        _ => return Err(DecodeError::Bad("stimulus")),
    })
}

impl ToBoard {
    /// Parse a frame body sent by the harness on the plant link.
    pub fn parse(body: &str) -> Result<Self, DecodeError> {
        let mut w = Words::new(body);
        let msg = match w.next("message kind")? {
            "STATION" => {
                let id = w.num("station id")?;
                let key: heapless::Vec<u8, 16> = parse_hex(w.next("key")?, "key")?;
                Self::Station {
                    id,
                    key: key
                        .as_slice()
                        .try_into()
                        .map_err(|_| DecodeError::Bad("key"))?,
                }
            }
            "COMP" => {
                let name = w.name()?;
                let size = match w.next("size")? {
                    "S" => 'S',
                    "M" => 'M',
                    "L" => 'L',
                    _ => return Err(DecodeError::Bad("size")),
                };
                Self::Compartment { name, size }
            }
            "NV" => Self::Nv {
                offset: w.num("offset")?,
                data: parse_hex(w.next("data")?, "data")?,
            },
            "PINS" => Self::Pins {
                door: parse_mask(&mut w, "door pins")?,
                bolt: parse_mask(&mut w, "bolt pins")?,
                package: parse_mask(&mut w, "package pins")?,
            },
            "BOOT" => Self::Boot {
                cause: ResetCause::parse(w.next("reset cause")?)?,
                rtc_ms: w.num("rtc")?,
            },
            "STEP" => Self::Step {
                ms: w.num("uptime")?,
                what: parse_stimulus(&mut w)?,
            },
            "RUN" => Self::Run {
                from: w.num("uptime")?,
                until: w.num("uptime")?,
            },
            "TEMP" => Self::Temp(w.num("temperature")?),
            _ => return Err(DecodeError::Unknown),
        };
        w.end()?;
        Ok(msg)
    }
}

impl ToPlant {
    /// Parse a frame body sent by the board on the plant link.
    pub fn parse(body: &str) -> Result<Self, DecodeError> {
        let mut w = Words::new(body);
        let msg = match w.next("message kind")? {
            "READY" => Self::Ready {
                build: w.ident("build id")?,
                board: w.ident("board")?,
            },
            "SOL" => Self::Solenoid {
                c: w.num("compartment index")?,
                on: parse_on(w.next("solenoid state")?, "solenoid state")?,
            },
            "HEAT" => Self::Heater(parse_on(w.next("heater state")?, "heater state")?),
            "PROBE" => Self::Probe(Link::parse(w.next("link")?)?),
            "UP" => Self::Uplink {
                link: Link::parse(w.next("link")?)?,
                seq: w.num("record sequence")?,
                kind: UplinkKind::parse(w.next("uplink kind")?)?,
                compartment: w.num("compartment index")?,
                value: w.num("value")?,
            },
            "NVW" => Self::NvWrite {
                offset: w.num("offset")?,
                data: parse_hex(w.next("data")?, "data")?,
            },
            "RTC" => Self::Rtc(w.num("rtc")?),
            "RESET" => Self::Reset,
            "TEMP?" => Self::TempRequest,
            "AT" => Self::At(w.num("uptime")?),
            "DONE" => Self::Done {
                deadline: w.num("deadline")?,
                console: w.num("console byte count")?,
            },
            _ => return Err(DecodeError::Unknown),
        };
        w.end()?;
        Ok(msg)
    }
}

/// Writes a message into a line buffer; used by both ends' tests and tools.
pub fn body<const N: usize>(msg: &dyn fmt::Display) -> heapless::String<N> {
    let mut s = heapless::String::new();
    let _ = write!(s, "{msg}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_LINE, encode_frame, parse_frame};
    use proptest::prelude::*;

    fn link() -> impl Strategy<Value = Link> {
        prop::sample::select(Link::ALL)
    }

    fn chunk() -> impl Strategy<Value = Chunk> {
        prop::collection::vec(any::<u8>(), 1..=NV_CHUNK)
            .prop_map(|v| Chunk::from_slice(&v).unwrap_or_default())
    }

    fn key() -> impl Strategy<Value = Key> {
        prop::sample::select(&['0', '5', '9', '*', '#'][..])
            .prop_map(|c| Key::from_char(c).unwrap_or(Key::Clear))
    }

    fn stimulus() -> impl Strategy<Value = Stimulus> {
        prop_oneof![
            Just(Stimulus::Tick),
            key().prop_map(Stimulus::Key),
            Just(Stimulus::Help),
            Just(Stimulus::Sensors),
            (link(), any::<bool>()).prop_map(|(link, ok)| Stimulus::Probe { link, ok }),
            (link(), any::<u32>(), any::<bool>()).prop_map(|(link, seq, ok)| Stimulus::Ack {
                link,
                seq,
                ok
            }),
            any::<u32>().prop_map(|upto| Stimulus::Console { upto }),
        ]
    }

    fn to_board() -> impl Strategy<Value = ToBoard> {
        prop_oneof![
            (any::<u32>(), any::<[u8; 16]>()).prop_map(|(id, key)| ToBoard::Station { id, key }),
            (
                "[A-Z][0-9]{1,7}",
                prop::sample::select(&['S', 'M', 'L'][..])
            )
                .prop_map(|(n, size)| ToBoard::Compartment {
                    name: Name::try_from(n.as_str()).unwrap_or_default(),
                    size
                }),
            (any::<u16>(), chunk()).prop_map(|(offset, data)| ToBoard::Nv { offset, data }),
            (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(door, bolt, package)| {
                ToBoard::Pins {
                    door,
                    bolt,
                    package,
                }
            }),
            (prop::sample::select(ResetCause::ALL), any::<u64>())
                .prop_map(|(cause, rtc_ms)| ToBoard::Boot { cause, rtc_ms }),
            (any::<u64>(), stimulus()).prop_map(|(ms, what)| ToBoard::Step { ms, what }),
            (any::<u64>(), any::<u64>()).prop_map(|(from, until)| ToBoard::Run { from, until }),
            any::<i32>().prop_map(ToBoard::Temp),
        ]
    }

    fn to_plant() -> impl Strategy<Value = ToPlant> {
        prop_oneof![
            ("[a-z0-9.+-]{1,40}", "[a-z0-9-]{1,40}").prop_map(|(b, o)| ToPlant::Ready {
                build: Ident::try_from(b.as_str()).unwrap_or_default(),
                board: Ident::try_from(o.as_str()).unwrap_or_default(),
            }),
            (any::<u8>(), any::<bool>()).prop_map(|(c, on)| ToPlant::Solenoid { c, on }),
            any::<bool>().prop_map(ToPlant::Heater),
            link().prop_map(ToPlant::Probe),
            (
                link(),
                any::<u32>(),
                prop::sample::select(UplinkKind::ALL),
                any::<u8>(),
                any::<u32>()
            )
                .prop_map(|(link, seq, kind, compartment, value)| ToPlant::Uplink {
                    link,
                    seq,
                    kind,
                    compartment,
                    value
                }),
            (any::<u16>(), chunk()).prop_map(|(offset, data)| ToPlant::NvWrite { offset, data }),
            any::<u64>().prop_map(ToPlant::Rtc),
            Just(ToPlant::Reset),
            Just(ToPlant::TempRequest),
            any::<u64>().prop_map(ToPlant::At),
            (any::<u64>(), any::<u32>())
                .prop_map(|(deadline, console)| ToPlant::Done { deadline, console }),
        ]
    }

    proptest! {
        /// Every message fits one frame and reads back as itself.
        #[test]
        fn to_board_round_trips(msg in to_board()) {
            let mut line = heapless::String::<{ MAX_LINE + 2 }>::new();
            encode_frame(65535, &msg, &mut line).unwrap();
            let (_, body) = parse_frame(line.trim_end()).unwrap();
            prop_assert_eq!(ToBoard::parse(body), Ok(msg));
        }

        #[test]
        fn to_plant_round_trips(msg in to_plant()) {
            let mut line = heapless::String::<{ MAX_LINE + 2 }>::new();
            encode_frame(65535, &msg, &mut line).unwrap();
            let (_, body) = parse_frame(line.trim_end()).unwrap();
            prop_assert_eq!(ToPlant::parse(body), Ok(msg));
        }

        /// Noise never parses as something else: any body either fails or
        /// re-encodes to the same text.
        #[test]
        fn arbitrary_bodies_never_panic(body in "[ -~]{0,150}") {
            if let Ok(m) = ToBoard::parse(&body) {
                let again: heapless::String<200> = super::body(&m);
                prop_assert_eq!(ToBoard::parse(&again), Ok(m));
            }
            if let Ok(m) = ToPlant::parse(&body) {
                let again: heapless::String<200> = super::body(&m);
                prop_assert_eq!(ToPlant::parse(&again), Ok(m));
            }
        }
    }

    #[test]
    fn readable_forms() {
        let b: heapless::String<80> = body(&ToBoard::Step {
            ms: 1500,
            what: Stimulus::Key(Key::Enter),
        });
        assert_eq!(b, "STEP 1500 key #");
        let b: heapless::String<80> = body(&ToPlant::Done {
            deadline: 60_000,
            console: 812,
        });
        assert_eq!(b, "DONE 60000 812");
        assert_eq!(
            ToBoard::parse("PINS 1f 1f 4"),
            Ok(ToBoard::Pins {
                door: 0x1f,
                bolt: 0x1f,
                package: 4
            })
        );
        assert_eq!(ToBoard::parse("NV 0 abc"), Err(DecodeError::Bad("data")));
        // Found by the plant-link fuzz target: a quoted empty chunk parsed
        // and was written back without its data.
        assert_eq!(ToPlant::parse("NVW 3 \"\""), Err(DecodeError::Bad("data")));
        assert_eq!(
            ToPlant::parse("DONE 5"),
            Err(DecodeError::Missing("console byte count"))
        );
    }
}
