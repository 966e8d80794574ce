//! Real benches: what a rig file says about a controller on a desk, its
//! debug probe, its console port and its instruments.
//!
//! ```yaml
//! controller:
//!   firmware: ../firmware/boards/nucleo-f446re
//!   flash: { probe: "0483:374b:066DFF535155878281123456", chip: STM32F446RETx }
//!   console: { port: /dev/serial/by-id/usb-STMicroelectronics_STLINK-V2-1-if02, baud: 115200 }
//! fixtures:
//!   chamber: { driver: scpi, port: "tcp://chamber-3.lab:5025", limits: { min: -40C, max: 85C, ramp: 5C/min } }
//!   supply:  { driver: scpi, port: /dev/ttyUSB1, baud: 9600, limits: { max: 15V } }
//!   board:   { driver: fixture-board, port: /dev/ttyACM1 }
//! ```
//!
//! Raw serde types are checked into [`BenchSettings`]; what can be checked
//! without the hardware is checked when the file is loaded (the probe
//! selector's form, the chip against probe-rs's registry, limits that make
//! sense), so `harness check` catches a typo before anyone walks to the lab.

use crate::model::rigfile::Problem;
use crate::model::rigfile::io::{self, IoMap};
use crate::model::units::{Celsius, Dur, Ramp, Volts};
use serde::Deserialize;
use std::time::Duration;

/// Where an instrument or console is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    /// A serial device by path.
    Serial { path: String, baud: u32 },
    /// A USB serial adapter by its serial number (stable across re-plugging).
    UsbSerial { serial_number: String, baud: u32 },
    /// `tcp://host:port`, as LAN instruments (SCPI raw socket, port 5025) speak.
    Tcp { addr: String },
}

impl std::fmt::Display for PortRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Serial { path, baud } => write!(f, "{path} at {baud} baud"),
            Self::UsbSerial {
                serial_number,
                baud,
            } => write!(f, "USB serial number {serial_number} at {baud} baud"),
            Self::Tcp { addr } => write!(f, "tcp://{addr}"),
        }
    }
}

/// The debug probe and the chip behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSettings {
    /// `VID:PID` or `VID:PID:SERIAL`, as probe-rs selects probes.
    pub selector: String,
    /// A probe-rs target name, such as `STM32F446RETx`.
    pub chip: String,
}

/// Safe range of the thermal chamber, enforced by the harness.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChamberLimits {
    pub min: Celsius,
    pub max: Celsius,
    /// Fastest ramp the chamber (and the device in it) may be driven at, °C/s.
    pub ramp: Option<Ramp>,
}

/// Safe range of the bench supply, enforced by the harness, and the
/// channel that powers the controller on a supply with several.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SupplyLimits {
    pub max: Volts,
    /// `None`: a single-output supply (`VOLT 12`); `Some(n)`: commands
    /// name the channel (`VOLT 12,(@1)`), and the others are outputs the
    /// I/O map may switch (`supply/2`).
    pub channel: Option<u16>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instrument<L> {
    pub port: PortRef,
    pub limits: L,
}

/// The lab's own flashing tool (`flash: { command: [...], verify: [...] }`):
/// `{elf}` in an argument is the image's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashCommand {
    /// Writes the image (and leaves the controller running it).
    pub write: Vec<String>,
    /// Proves the image is there, when the lab has a way (exit status 0).
    pub verify: Option<Vec<String>>,
    /// The longest each of the two may take.
    pub timeout: Duration,
}

/// What `{elf}` in a flash command's argument stands for.
pub const ELF: &str = "{elf}";
/// How long a flash command is given when the rig file does not say.
pub const DEFAULT_FLASH_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest a flash command may be given.
pub const MAX_FLASH_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How a bench's controller gets its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlashMethod {
    /// The operator flashed it (`flash: none`); its identity is read from
    /// its console.
    ByHand,
    /// A debug probe, through probe-rs.
    Probe(ProbeSettings),
    /// The lab's own tool.
    Command(FlashCommand),
}

/// A checked real bench.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchSettings {
    pub flash: FlashMethod,
    pub console: PortRef,
    pub chamber: Option<Instrument<ChamberLimits>>,
    pub supply: Option<Instrument<SupplyLimits>>,
    /// Keypad injector, door actuator, package sensor and link relays.
    pub board: Option<PortRef>,
    /// The lab's own relay modules and I/O boxes, and what each output does.
    pub io: IoMap,
}

/// `flash: { ... }` as written: a probe's keys or a command's.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawFlashMap {
    probe: Option<String>,
    chip: Option<String>,
    command: Option<Vec<String>>,
    verify: Option<Vec<String>>,
    timeout: Option<Dur>,
}

/// `flash:` as written: `none` (the operator flashed it), a probe or a command.
#[derive(Debug)]
pub(crate) enum RawFlash {
    ByHand,
    Map(RawFlashMap),
}

impl<'de> Deserialize<'de> for RawFlash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawFlash;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(FLASH_FORMS)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawFlash, E> {
                match v {
                    "none" => Ok(RawFlash::ByHand),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawFlash, A::Error> {
                RawFlashMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawFlash::Map)
            }
        }
        d.deserialize_any(V)
    }
}

/// The three ways of flashing, as an error message lists them.
const FLASH_FORMS: &str = "`none` (flashed by hand), `{ probe: VID:PID[:SERIAL], chip: NAME }` or `{ command: [PROGRAM, ARG..., \"{elf}\"], verify: [...], timeout: 2min }`";

/// `flash:` checked: every problem into `found`.
fn flash_method(raw: RawFlash, found: &mut Vec<Problem>) -> FlashMethod {
    let m = match raw {
        RawFlash::ByHand => return FlashMethod::ByHand,
        RawFlash::Map(m) => m,
    };
    let probe_keys = m.probe.is_some() || m.chip.is_some();
    let command_keys = m.command.is_some() || m.verify.is_some() || m.timeout.is_some();
    if probe_keys == command_keys {
        found.push(Problem::new(
            "controller.flash",
            format!(
                "controller.flash: expected {FLASH_FORMS}{}",
                if probe_keys {
                    "; `probe`/`chip` and `command`/`verify`/`timeout` do not go together"
                } else {
                    ""
                }
            ),
        ));
        return FlashMethod::ByHand;
    }
    if probe_keys {
        let (Some(probe), Some(chip)) = (m.probe, m.chip) else {
            found.push(Problem::new(
                "controller.flash",
                "controller.flash: a probe needs both `probe: VID:PID[:SERIAL]` and `chip: NAME`"
                    .into(),
            ));
            return FlashMethod::ByHand;
        };
        if let Err(m) = check_selector(&probe) {
            found.push(Problem::new(
                "controller.flash.probe",
                format!("controller.flash.probe: {m}"),
            ));
        }
        if let Err(m) = check_chip(&chip) {
            found.push(Problem::new(
                "controller.flash.chip",
                format!("controller.flash.chip: {m}"),
            ));
        }
        return FlashMethod::Probe(ProbeSettings {
            selector: probe,
            chip,
        });
    }
    let Some(write) = m.command else {
        found.push(Problem::new(
            "controller.flash",
            "controller.flash: `verify` and `timeout` go with a `command` that writes the image"
                .into(),
        ));
        return FlashMethod::ByHand;
    };
    let mut argv = |key: &'static str, argv: &[String], needs_elf: bool| {
        if argv.first().is_none_or(|p| p.trim().is_empty()) {
            found.push(Problem::under(
                "controller.flash",
                key,
                format!("controller.flash.{key}: empty; expected the program and its arguments, like [openocd, -f, board.cfg, -c, \"program {ELF} verify reset exit\"]"),
            ));
        } else if needs_elf && !argv.iter().any(|a| a.contains(ELF)) {
            found.push(Problem::under(
                "controller.flash",
                key,
                format!("controller.flash.{key}: no argument has `{ELF}`, which the harness replaces with the path of the image to write"),
            ));
        }
    };
    argv("command", &write, true);
    if let Some(v) = &m.verify {
        argv("verify", v, false);
    }
    let timeout = m.timeout.map_or(DEFAULT_FLASH_TIMEOUT, |d| d.0);
    if timeout.is_zero() || timeout > MAX_FLASH_TIMEOUT {
        found.push(Problem::new(
            "controller.flash.timeout",
            format!(
                "controller.flash.timeout: expected above 0 and at most {}",
                crate::model::units::fmt_duration(MAX_FLASH_TIMEOUT)
            ),
        ));
    }
    FlashMethod::Command(FlashCommand {
        write,
        verify: m.verify,
        timeout,
    })
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawConsole {
    port: Option<String>,
    serial_number: Option<String>,
    baud: u32,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawFixtures {
    chamber: Option<RawChamber>,
    supply: Option<RawSupply>,
    board: Option<RawBoard>,
    #[serde(default)]
    modules: std::collections::BTreeMap<String, io::RawModule>,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
enum ScpiDriver {
    Scpi,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
enum BoardDriver {
    FixtureBoard,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawChamber {
    #[allow(dead_code)]
    driver: ScpiDriver,
    port: String,
    baud: Option<u32>,
    limits: RawChamberLimits,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawChamberLimits {
    min: Celsius,
    max: Celsius,
    ramp: Option<Ramp>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawSupply {
    #[allow(dead_code)]
    driver: ScpiDriver,
    port: String,
    baud: Option<u32>,
    channel: Option<u16>,
    limits: RawSupplyLimits,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSupplyLimits {
    max: Volts,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawBoard {
    #[allow(dead_code)]
    driver: BoardDriver,
    port: String,
    baud: Option<u32>,
}

/// `text` as a port; a serial port without a `baud` gets `default_baud`.
/// `key` is the instrument's path (`fixtures`, `chamber`).
pub(crate) fn port(
    key: &[&str],
    text: &str,
    baud: Option<u32>,
    default_baud: u32,
) -> Result<PortRef, Problem> {
    let at: Vec<&str> = key.iter().copied().chain(["port"]).collect();
    if let Some(addr) = text.strip_prefix("tcp://") {
        let ok = addr
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok || baud.is_some() {
            return Err(Problem::path(
                &at,
                format!(
                    "expected `tcp://HOST:PORT` (and no `baud` for a network instrument), found `{text}`"
                ),
            ));
        }
        return Ok(PortRef::Tcp {
            addr: addr.to_owned(),
        });
    }
    if text.trim().is_empty() {
        return Err(Problem::path(
            &at,
            "empty; expected a serial device path or `tcp://HOST:PORT`",
        ));
    }
    Ok(PortRef::Serial {
        path: text.to_owned(),
        baud: baud.unwrap_or(default_baud),
    })
}

fn check_baud(key: &'static str, baud: u32) -> Result<u32, Problem> {
    if (300..=4_000_000).contains(&baud) {
        Ok(baud)
    } else {
        Err(Problem::under(
            key,
            "baud",
            format!("{key}.baud: expected 300 to 4000000, found {baud}"),
        ))
    }
}

/// Is `selector` of the form probe-rs accepts (`VID:PID[:SERIAL]`, hex ids)?
pub fn check_selector(selector: &str) -> Result<(), String> {
    #[cfg(feature = "probe")]
    {
        selector
            .parse::<probe_rs::probe::DebugProbeSelector>()
            .map(|_| ())
            .map_err(|e| format!("`{selector}` is not a probe selector ({e}); expected VID:PID or VID:PID:SERIAL, as `probe-rs list` prints"))
    }
    #[cfg(not(feature = "probe"))]
    {
        let mut parts = selector.splitn(3, ':');
        let hex = |p: Option<&str>| p.is_some_and(|p| u16::from_str_radix(p, 16).is_ok());
        if hex(parts.next()) && hex(parts.next()) {
            Ok(())
        } else {
            Err(format!(
                "`{selector}` is not a probe selector; expected VID:PID or VID:PID:SERIAL"
            ))
        }
    }
}

/// Is `chip` a target probe-rs knows? Suggests close names when it is not.
pub fn check_chip(chip: &str) -> Result<(), String> {
    #[cfg(feature = "probe")]
    {
        let registry = probe_rs::config::Registry::from_builtin_families();
        if registry.get_target_by_name(chip).is_ok() {
            return Ok(());
        }
        let wanted = chip.to_ascii_lowercase();
        let prefix: String = wanted.chars().take(9).collect();
        let mut close: Vec<String> = registry
            .families()
            .iter()
            .flat_map(|f| f.variants.iter().map(|v| v.name.clone()))
            .filter(|n| n.to_ascii_lowercase().starts_with(&prefix))
            .collect();
        close.sort();
        close.truncate(6);
        Err(if close.is_empty() {
            format!("probe-rs knows no chip `{chip}`; `probe-rs chip list` shows the names")
        } else {
            format!(
                "probe-rs knows no chip `{chip}`; close names: {}",
                close.join(", ")
            )
        })
    }
    #[cfg(not(feature = "probe"))]
    {
        let _ = chip;
        Ok(())
    }
}

/// What [`check`] needs to know of the rest of the rig file.
pub(crate) struct Context<'a> {
    pub compartments: &'a [(String, locker_core::Size)],
}

/// Check the bench sections of a rig file: every problem into `found`,
/// the settings when there were none.
pub(crate) fn check(
    flash: Option<RawFlash>,
    console: Option<RawConsole>,
    fixtures: Option<RawFixtures>,
    io_map: Option<io::RawIo>,
    cx: &Context<'_>,
    found: &mut Vec<Problem>,
) -> Option<BenchSettings> {
    let before = found.len();
    let flash = match flash {
        None => {
            found.push(Problem::new(
                "controller",
                format!("controller.flash: a bench rig needs `flash:`, one of {FLASH_FORMS}"),
            ));
            None
        }
        Some(raw) => Some(flash_method(raw, found)),
    };
    let mut keep = |r: Result<(), Problem>| {
        if let Err(p) = r {
            found.push(p);
        }
    };
    let console = match console {
        None => Err(Problem::new(
            "controller",
            "controller.console: a bench rig needs `console: { port: PATH, baud: N }` (or `serial-number:` instead of `port:`)".into(),
        )),
        Some(c) => check_baud("controller.console", c.baud).and_then(|baud| {
            match (c.port, c.serial_number) {
                (Some(path), None) if !path.starts_with("tcp://") => Ok(PortRef::Serial { path, baud }),
                (None, Some(serial_number)) => Ok(PortRef::UsbSerial {
                    serial_number,
                    baud,
                }),
                _ => Err(Problem::new(
                    "controller.console",
                    "controller.console: expected exactly one of `port` (a serial device path) and `serial-number` (of a USB serial adapter)".into(),
                )),
            }
        }),
    };
    let console = console.map_err(|p| keep(Err(p))).ok();
    let fixtures = fixtures.unwrap_or(RawFixtures {
        chamber: None,
        supply: None,
        board: None,
        modules: Default::default(),
    });
    let chamber = fixtures.chamber.and_then(|c| {
        let key = "fixtures.chamber";
        let limits = ChamberLimits {
            min: c.limits.min,
            max: c.limits.max,
            ramp: c.limits.ramp,
        };
        let checked = c.baud.map_or(Ok(0), |b| check_baud(key, b)).map(|_| ());
        keep(checked);
        if limits.min.0 >= limits.max.0 {
            keep(Err(Problem::new(
                "fixtures.chamber.limits",
                format!(
                    "fixtures.chamber.limits: `min` ({}C) must be below `max` ({}C)",
                    limits.min.0, limits.max.0
                ),
            )));
        }
        let port = port(&["fixtures", "chamber"], &c.port, c.baud, 9600)
            .map_err(|p| keep(Err(p)))
            .ok()?;
        Some(Instrument { port, limits })
    });
    let supply = fixtures.supply.and_then(|s| {
        let key = "fixtures.supply";
        keep(s.baud.map_or(Ok(0), |b| check_baud(key, b)).map(|_| ()));
        if s.limits.max.0 <= 0.0 {
            keep(Err(Problem::new(
                "fixtures.supply.limits.max",
                "fixtures.supply.limits.max: expected a voltage above 0V".into(),
            )));
        }
        let port = port(&["fixtures", "supply"], &s.port, s.baud, 9600)
            .map_err(|p| keep(Err(p)))
            .ok()?;
        if s.channel == Some(0) {
            keep(Err(Problem::new(
                "fixtures.supply.channel",
                "fixtures.supply.channel: expected the channel's number, from 1".into(),
            )));
        }
        Some(Instrument {
            port,
            limits: SupplyLimits {
                max: s.limits.max,
                channel: s.channel,
            },
        })
    });
    let board = fixtures.board.and_then(|b| {
        let key = "fixtures.board";
        keep(
            b.baud
                .map_or(Ok(0), |baud| check_baud(key, baud))
                .map(|_| ()),
        );
        port(&["fixtures", "board"], &b.port, b.baud, 115_200)
            .map_err(|p| keep(Err(p)))
            .ok()
    });
    let modules = io::modules(fixtures.modules, found);
    let io = match io_map {
        Some(raw) => {
            let cx = io::Context {
                compartments: cx.compartments,
                supply_channel: supply.as_ref().and_then(|s| s.limits.channel),
            };
            io::map(raw, modules, &cx, found)
        }
        None => IoMap {
            modules,
            ..IoMap::default()
        },
    };
    let (Some(flash), Some(console)) = (flash, console) else {
        return None;
    };
    (found.len() == before).then_some(BenchSettings {
        flash,
        console,
        chamber,
        supply,
        board,
        io,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_and_chips_are_checked_before_the_lab() {
        assert!(check_selector("0483:374b").is_ok());
        assert!(check_selector("0483:374b:066DFF535155878281123456").is_ok());
        assert!(check_selector("stlink").is_err());
        #[cfg(feature = "probe")]
        {
            assert!(check_chip("STM32F446RETx").is_ok());
            let e = check_chip("STM32F446RTx").unwrap_err();
            assert!(e.contains("STM32F446"), "{e}");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(
            port(&["f"], "tcp://chamber-3.lab:5025", None, 9600),
            Ok(PortRef::Tcp {
                addr: "chamber-3.lab:5025".into()
            })
        );
        assert!(port(&["f"], "tcp://chamber-3.lab", None, 9600).is_err());
        assert!(port(&["f"], "tcp://h:5025", Some(9600), 9600).is_err());
        assert_eq!(
            port(&["f"], "/dev/ttyUSB1", None, 9600),
            Ok(PortRef::Serial {
                path: "/dev/ttyUSB1".into(),
                baud: 9600
            })
        );
    }
}

#[cfg(feature = "schema")]
mod schema {
    use super::{FLASH_FORMS, RawFlash, RawFlashMap};
    use crate::model::schema::short_or_long;

    short_or_long!(
        RawFlash,
        "Flash",
        RawFlashMap,
        { "type": "string", "enum": ["none"] },
        format!("How the image gets onto the controller: {FLASH_FORMS}.")
    );
}
