//! Rig descriptions: what is on the bench, parsed raw then checked.

pub mod bench;

use crate::model::diag::{InputError, parse_yaml, read_text};
use crate::model::suite::parse_utc;
use crate::model::units::{Celsius, Volts};
use locker_core::Size;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A checked rig description.
#[derive(Debug, Clone)]
pub struct RigDescription {
    pub file: PathBuf,
    pub name: String,
    pub labels: Vec<String>,
    pub firmware: PathBuf,
    pub station: u32,
    pub key: [u8; 16],
    /// Compartments in door-sweep order (top right first).
    pub compartments: Vec<(String, Size)>,
    pub kind: RigKind,
}

#[derive(Debug, Clone)]
pub enum RigKind {
    /// Firmware logic in the harness, plant model around it.
    Sim(SimSettings),
    /// The firmware image in QEMU, the same plant model across the plant link.
    Qemu {
        plant: SimSettings,
        qemu: QemuSettings,
    },
    /// A real controller with a debug probe, a console port and instruments.
    Bench(bench::BenchSettings),
}

/// How the emulator is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuSettings {
    /// The `qemu-system-arm` executable (a name on PATH or a path).
    pub executable: String,
    pub machine: String,
}

/// The QEMU machine the board crate is built for.
pub const QEMU_MACHINE: &str = "mps2-an386";

/// How the simulated plant starts each case.
#[derive(Debug, Clone, Default)]
pub struct SimSettings {
    /// True time at the start of every case (unix seconds).
    pub start_unix: u64,
    pub ambient: Celsius,
    pub supply: Volts,
    /// Mixed with each case's name to seed its noise.
    pub seed: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRig {
    name: String,
    #[serde(default)]
    labels: Vec<String>,
    controller: RawController,
    plant: Option<RawPlant>,
    qemu: Option<RawQemu>,
    fixtures: Option<bench::RawFixtures>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawQemu {
    #[serde(default = "default_qemu")]
    executable: String,
    #[serde(default = "default_machine")]
    machine: String,
}

fn default_qemu() -> String {
    "qemu-system-arm".into()
}

fn default_machine() -> String {
    QEMU_MACHINE.into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawController {
    firmware: PathBuf,
    station: RawStation,
    compartments: Vec<RawCompartment>,
    flash: Option<bench::RawFlash>,
    console: Option<bench::RawConsole>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStation {
    id: u32,
    key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCompartment {
    name: String,
    size: RawSize,
}

#[derive(Deserialize, Clone, Copy)]
enum RawSize {
    S,
    M,
    L,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPlant {
    start: String,
    ambient: Celsius,
    supply: Volts,
    #[serde(default)]
    seed: u64,
}

fn parse_key(s: &str) -> Result<[u8; 16], String> {
    let s = s.trim();
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "controller.station.key: expected 32 hex digits (a 128-bit key), found {} characters",
            s.len()
        ));
    }
    let mut key = [0u8; 16];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(key)
}

/// Find the line of `key:` in the text, for checks made after parsing.
/// Find a key path such as `fixtures.board.port` in the text: each segment
/// is looked for after the previous one, so the right `port:` is found.
fn locate(text: &str, path: &str) -> (usize, usize) {
    let mut at = None;
    let mut from = 0;
    for seg in path.split('.') {
        // Keys start a line (after indentation) or follow `{` / `,` in a flow map.
        let found = text[from..]
            .match_indices(&format!("{seg}:"))
            .find(|(i, _)| {
                let before = text[..from + i].chars().next_back();
                before.is_none_or(|c| c == ' ' || c == '{' || c == ',' || c == '\n')
            });
        match found {
            Some((i, _)) => {
                from += i;
                at = Some(from);
                from += seg.len() + 1;
            }
            None => break,
        }
    }
    let Some(at) = at else { return (1, 1) };
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
    (line, col)
}

/// `rigs/../firmware/core` -> `firmware/core`, without touching the file system.
fn normalise(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

impl RigDescription {
    pub fn load(path: &Path) -> Result<Self, InputError> {
        let text = read_text(path)?;
        Self::from_text(path, &text)
    }

    /// Check rig text as if it were the file at `path` (relative paths in it
    /// are taken relative to that file).
    pub fn from_text(path: &Path, text: &str) -> Result<Self, InputError> {
        let text = text.to_owned();
        let raw: RawRig = parse_yaml(path, &text)?;
        let err = |key: &str, msg: String| {
            let (l, c) = locate(&text, key);
            InputError::at(path, &text, l, c, msg)
        };
        let key = parse_key(&raw.controller.station.key).map_err(|m| err("key", m))?;
        if raw.controller.compartments.is_empty()
            || raw.controller.compartments.len() > locker_core::config::MAX_COMPARTMENTS
        {
            return Err(err(
                "compartments",
                format!(
                    "controller.compartments: expected 1 to {} compartments",
                    locker_core::config::MAX_COMPARTMENTS
                ),
            ));
        }
        let mut compartments = Vec::new();
        for (i, c) in raw.controller.compartments.iter().enumerate() {
            if c.name.is_empty()
                || c.name.len() > 8
                || !c.name.chars().all(|ch| ch.is_ascii_alphanumeric())
            {
                return Err(err(
                    "name",
                    format!(
                        "controller.compartments[{i}].name: `{}` is not a compartment name (letters and digits, up to 8)",
                        c.name
                    ),
                ));
            }
            if compartments.iter().any(|(n, _)| n == &c.name) {
                return Err(err(
                    "name",
                    format!(
                        "controller.compartments[{i}].name: `{}` appears twice",
                        c.name
                    ),
                ));
            }
            let size = match c.size {
                RawSize::S => Size::S,
                RawSize::M => Size::M,
                RawSize::L => Size::L,
            };
            compartments.push((c.name.clone(), size));
        }
        let is_bench = raw.controller.flash.is_some()
            || raw.controller.console.is_some()
            || raw.fixtures.is_some();
        let kind = if is_bench {
            if raw.plant.is_some() || raw.qemu.is_some() {
                return Err(err(
                    if raw.plant.is_some() { "plant" } else { "qemu" },
                    "a bench rig (with `flash`, `console` or `fixtures`) has real hardware around the controller, not a `plant` model or `qemu`".into(),
                ));
            }
            let bench = bench::check(raw.controller.flash, raw.controller.console, raw.fixtures)
                .map_err(|(key, m)| err(&key, m))?;
            RigKind::Bench(bench)
        } else {
            let Some(plant) = raw.plant else {
                return Err(err(
                "name",
                "this rig has no `plant` section; sim and qemu rigs describe the plant model around the controller there, bench rigs their `flash`, `console` and `fixtures`".into(),
            ));
            };
            let plant = SimSettings {
                start_unix: parse_utc(&plant.start)
                    .map_err(|m| err("start", format!("plant.start: {m}")))?,
                ambient: plant.ambient,
                supply: plant.supply,
                seed: plant.seed,
            };
            match raw.qemu {
                None => RigKind::Sim(plant),
                Some(q) => {
                    if q.machine != QEMU_MACHINE {
                        return Err(err(
                            "machine",
                            format!(
                                "qemu.machine: expected `{QEMU_MACHINE}` (the machine the board crate is built for), found `{}`",
                                q.machine
                            ),
                        ));
                    }
                    RigKind::Qemu {
                        plant,
                        qemu: QemuSettings {
                            executable: q.executable,
                            machine: q.machine,
                        },
                    }
                }
            }
        };
        // Relative paths in a rig file are relative to the file, as in Cargo.toml.
        let firmware = normalise(
            &path
                .parent()
                .unwrap_or(Path::new("."))
                .join(&raw.controller.firmware),
        );
        // A board crate's folder or an image file; not yet there is for
        // the build or the flash to say, but a device or a FIFO never is.
        if let Ok(m) = std::fs::metadata(&firmware)
            && !m.is_file()
            && !m.is_dir()
        {
            return Err(err(
                "firmware",
                format!(
                    "controller.firmware: {} is {}; expected a board crate's folder or an ELF file",
                    firmware.display(),
                    crate::model::input::kind(m.file_type())
                ),
            ));
        }
        Ok(Self {
            file: path.to_owned(),
            name: raw.name,
            labels: raw.labels,
            firmware,
            station: raw.controller.station.id,
            key,
            compartments,
            kind,
        })
    }

    /// Settings of the plant model (sim and qemu rigs; a bench has none).
    pub fn model_settings(&self) -> Option<&SimSettings> {
        match &self.kind {
            RigKind::Sim(s) | RigKind::Qemu { plant: s, .. } => Some(s),
            RigKind::Bench(_) => None,
        }
    }

    /// Short name of the kind of rig, for reports and per-rig skips.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            RigKind::Sim(_) => "sim",
            RigKind::Qemu { .. } => "qemu",
            RigKind::Bench(_) => "bench",
        }
    }

    pub fn has_compartment(&self, name: &str) -> bool {
        self.compartments.iter().any(|(n, _)| n == name)
    }

    /// The controller configuration this rig's firmware is provisioned with.
    pub fn controller_config(&self) -> locker_core::Config {
        let mut compartments = heapless::Vec::new();
        for (name, size) in &self.compartments {
            let name = locker_proto::Name::try_from(name.as_str()).unwrap_or_default();
            let _ = compartments.push(locker_core::Compartment { name, size: *size });
        }
        locker_core::Config {
            station: self.station,
            key: self.key,
            compartments,
        }
    }
}
