//! Rig descriptions: what is on the bench, parsed raw then checked.

pub mod bench;
pub mod io;
pub mod issuer;

pub use issuer::{IssuerSpec, TableCode};

use crate::model::diag::{InputError, Problems, in_reading_order, precheck, read_text};
use crate::model::dialect::Dialect;
use crate::model::places::{Origin, Seg};
use crate::model::suite::parse_utc;
use crate::model::units::{Celsius, Volts};
use locker_core::Size;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A checked rig description.
#[derive(Debug, Clone)]
pub struct RigDescription {
    pub file: PathBuf,
    /// The rig file's text and where each of its nodes is: what lets a
    /// check of a suite against the rig point at the rig's line too.
    pub origin: std::sync::Arc<Origin>,
    pub name: String,
    pub labels: Vec<String>,
    pub firmware: PathBuf,
    /// How to read the controller's console when it is not the framed
    /// protocol: a dialect file's rules from its plain-text lines to events.
    pub dialect: Option<std::sync::Arc<Dialect>>,
    /// Cargo features the board crate is built with (a board's build
    /// options, such as `plain-console`).
    pub features: Vec<String>,
    /// The build the controller must say it is (`controller.expect-build`);
    /// for an image without a `LOCKER-IMAGE` identity, the only check of
    /// what it runs.
    pub expect_build: ExpectBuild,
    /// Who mints the codes the controller is given.
    pub issuer: IssuerSpec,
    /// Whether every case holds the controller to the reference firmware's
    /// documented rules (`controller.rules`; see [`crate::run::rules`]).
    pub rules: Rules,
    pub station: u32,
    pub key: [u8; 16],
    /// Compartments in door-sweep order (top right first).
    pub compartments: Vec<(String, Size)>,
    pub kind: RigKind,
}

/// The rules every case holds the controller to, besides the promises any
/// locker keeps ([`crate::run::invariants`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Rules {
    /// The reference firmware's documented numbers (PROTOCOL.md): lockout,
    /// code validity, temperature policy. The default for a controller
    /// that speaks the framed protocol.
    Reference,
    /// None: a firmware with numbers of its own (the default for one read
    /// through a dialect); its suites say what they are.
    None,
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
    Bench(Box<bench::BenchSettings>),
}

/// What the controller must say it runs, as its banner or its answer to
/// `identify` gives its build.
#[derive(Debug, Clone, Default)]
pub enum ExpectBuild {
    /// Nothing is known: what it says is reported, not checked.
    #[default]
    Unstated,
    /// Exactly this build (`expect-build: 2.4.1`, or the image's identity).
    Exact(String),
    /// A build this pattern matches (`expect-build: { matches: '^2\.4\.' }`).
    Matches(regex::Regex),
}

impl PartialEq for ExpectBuild {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Unstated, Self::Unstated) => true,
            (Self::Exact(a), Self::Exact(b)) => a == b,
            (Self::Matches(a), Self::Matches(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl Eq for ExpectBuild {}

impl ExpectBuild {
    /// Whether a controller that says it is `build` runs what is expected;
    /// why not when it does not.
    pub fn check(&self, build: &str) -> Result<(), String> {
        match self {
            Self::Unstated => Ok(()),
            Self::Exact(b) if b == build => Ok(()),
            Self::Exact(b) => Err(format!("`{b}` was expected")),
            Self::Matches(r) if r.is_match(build) => Ok(()),
            Self::Matches(r) => Err(format!("the rig expects a build matching `{}`", r.as_str())),
        }
    }

    /// The build as the reports name it before the controller says: the
    /// exact one, or the pattern.
    pub fn describe(&self) -> String {
        match self {
            Self::Unstated => "(build not known)".into(),
            Self::Exact(b) => b.clone(),
            Self::Matches(r) => format!("(a build matching `{}`)", r.as_str()),
        }
    }
}

/// `expect-build:` as written: the build, or `{ matches: REGEX }`.
#[derive(Debug)]
enum RawExpectBuild {
    Exact(String),
    Matches(String),
}

impl<'de> Deserialize<'de> for RawExpectBuild {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(deny_unknown_fields)]
        struct M {
            matches: String,
        }
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawExpectBuild;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "the build the controller says it is (`2.4.1`), or `{ matches: REGEX }`",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawExpectBuild, E> {
                Ok(RawExpectBuild::Exact(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawExpectBuild, A::Error> {
                M::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|m| RawExpectBuild::Matches(m.matches))
            }
        }
        d.deserialize_any(V)
    }
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRig {
    name: String,
    #[serde(default)]
    labels: Vec<String>,
    controller: RawController,
    plant: Option<RawPlant>,
    qemu: Option<RawQemu>,
    fixtures: Option<bench::RawFixtures>,
    io: Option<io::RawIo>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawController {
    firmware: PathBuf,
    /// A dialect file (relative to the rig file) for a plain-text console.
    dialect: Option<PathBuf>,
    #[serde(default)]
    features: Vec<String>,
    expect_build: Option<RawExpectBuild>,
    issuer: Option<issuer::RawIssuer>,
    rules: Option<Rules>,
    station: RawStation,
    compartments: Vec<RawCompartment>,
    flash: Option<bench::RawFlash>,
    console: Option<bench::RawConsole>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStation {
    id: u32,
    key: String,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCompartment {
    name: String,
    size: RawSize,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
enum RawSize {
    S,
    M,
    L,
}

impl RawSize {
    fn letter(self) -> char {
        match self {
            Self::S => 'S',
            Self::M => 'M',
            Self::L => 'L',
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

/// One step of the path to a node a problem is about: a key (of the file's
/// own text, such as a compartment's or a module's name, or a fixed one),
/// the key itself rather than its value, or a list's item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Key(std::borrow::Cow<'static, str>),
    KeyItself(std::borrow::Cow<'static, str>),
    Index(usize),
}

impl Node {
    pub(crate) fn key(k: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self::Key(k.into())
    }

    pub(crate) fn key_itself(k: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self::KeyItself(k.into())
    }

    fn seg(&self) -> Seg<'_> {
        match self {
            Self::Key(k) => Seg::Key(k),
            Self::KeyItself(k) => Seg::KeyItself(k),
            Self::Index(i) => Seg::Index(*i),
        }
    }
}

/// A check of a rig file that failed: the node it is about (a key path
/// such as `fixtures.board.port`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    at: Vec<Node>,
    message: String,
}

impl Problem {
    pub(crate) fn new(path: &'static str, message: String) -> Self {
        Self {
            at: path.split('.').map(Node::key).collect(),
            message,
        }
    }

    /// About the node at `at`.
    pub(crate) fn nodes(at: Vec<Node>, message: String) -> Self {
        Self { at, message }
    }

    /// About the node at the keys `path` (which may be the file's own,
    /// such as a module's name); the message starts with the dotted path.
    pub(crate) fn path(path: &[&str], message: impl std::fmt::Display) -> Self {
        Self {
            at: path.iter().map(|k| Node::key((*k).to_owned())).collect(),
            message: format!("{}: {message}", path.join(".")),
        }
    }

    /// About `key` of the node at `path`.
    pub(crate) fn under(path: &'static str, key: &'static str, message: String) -> Self {
        let mut p = Self::new(path, message);
        p.at.push(Node::key(key));
        p
    }

    fn item(mut self, list: usize, index: usize, key: &'static str) -> Self {
        self.at.truncate(list);
        self.at.extend([Node::Index(index), Node::key(key)]);
        self
    }

    fn segs(&self) -> Vec<Seg<'_>> {
        self.at.iter().map(Node::seg).collect()
    }
}

/// A rig file that does not deserialize: its first problem, and the first
/// of each of its sections (and compartments) read on its own, so that a
/// file with a mistake in each section takes one run, not one per section.
fn every_problem(path: &Path, text: &str, first: InputError) -> Vec<InputError> {
    use crate::model::locate::part;
    use serde::de::{DeserializeOwned, IgnoredAny};
    fn problem<T: DeserializeOwned>(text: &str, at: &[Seg]) -> Option<yaml_serde::Error> {
        part::<T>(text, at).err()
    }
    let (c, f) = (Seg::Key("controller"), Seg::Key("fixtures"));
    let mut errors = vec![
        problem::<RawStation>(text, &[c, Seg::Key("station")]),
        problem::<issuer::RawIssuer>(text, &[c, Seg::Key("issuer")]),
        problem::<RawExpectBuild>(text, &[c, Seg::Key("expect-build")]),
        problem::<bench::RawFlash>(text, &[c, Seg::Key("flash")]),
        problem::<bench::RawConsole>(text, &[c, Seg::Key("console")]),
        problem::<RawPlant>(text, &[Seg::Key("plant")]),
        problem::<RawQemu>(text, &[Seg::Key("qemu")]),
        problem::<bench::RawChamber>(text, &[f, Seg::Key("chamber")]),
        problem::<bench::RawSupply>(text, &[f, Seg::Key("supply")]),
        problem::<bench::RawBoard>(text, &[f, Seg::Key("board")]),
        problem::<std::collections::BTreeMap<String, io::RawModule>>(
            text,
            &[f, Seg::Key("modules")],
        ),
        problem::<io::RawIo>(text, &[Seg::Key("io")]),
    ];
    let compartments = [c, Seg::Key("compartments")];
    let n = part::<Vec<IgnoredAny>>(text, &compartments)
        .ok()
        .flatten()
        .map_or(0, |v| v.len());
    for i in 0..n.min(locker_core::config::MAX_COMPARTMENTS) {
        let at = [compartments[0], compartments[1], Seg::Index(i)];
        errors.push(problem::<RawCompartment>(text, &at));
    }
    let mut found = vec![first];
    found.extend((errors.into_iter().flatten()).map(|e| InputError::from_yaml(path, text, &e)));
    in_reading_order(&mut found);
    found
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
    /// Read and check the rig file at `path`: every problem in it, or the rig.
    pub fn load(path: &Path) -> Result<Self, Problems> {
        let text = read_text(path)?;
        Self::from_text(path, &text)
    }

    /// Check rig text as if it were the file at `path` (relative paths in it
    /// are taken relative to that file).
    pub fn from_text(path: &Path, text: &str) -> Result<Self, Problems> {
        precheck(path, text)?;
        let raw: RawRig = match yaml_serde::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let first = InputError::from_yaml(path, text, &e);
                return Err(Problems(every_problem(path, text, first)));
            }
        };
        let mut found = Vec::new();
        // A dialect's own problems are its file's, each at its node there.
        let mut elsewhere = Vec::new();
        let dialect = raw.controller.dialect.as_ref().and_then(|d| {
            let file = normalise(&path.parent().unwrap_or(Path::new(".")).join(d));
            if !file.is_file() {
                found.push(Problem::new(
                    "controller.dialect",
                    format!(
                        "controller.dialect: {} is not a file; expected a console dialect (see docs/own-firmware.md)",
                        file.display()
                    ),
                ));
                return None;
            }
            Dialect::load(&file)
                .map_err(|p| elsewhere.extend(p.0))
                .ok()
                .map(std::sync::Arc::new)
        });
        let rig = Self::checked(path, raw, &mut found);
        // A build to expect needs a way to hear it.
        if let (Some(rig), Some(d)) = (&rig, &dialect)
            && rig.expect_build != ExpectBuild::Unstated
            && !d.has_banner()
            && d.command_line(&locker_proto::Command::Identify).is_err()
        {
            found.push(Problem::new(
                "controller.expect-build",
                format!(
                    "controller.expect-build: dialect `{}` gives no way to hear the build: it has no `banner` and no `commands.identify`",
                    d.name
                ),
            ));
        }
        match rig {
            Some(mut rig) if found.is_empty() && elsewhere.is_empty() => {
                rig.dialect = dialect;
                rig.origin = std::sync::Arc::new(Origin::new(text.to_owned()));
                Ok(rig)
            }
            _ => {
                let origin = Origin::new(text.to_owned());
                let mut errors: Vec<InputError> = (found.into_iter())
                    .map(|p| InputError::placed(path, text, origin.nearest(&p.segs()), p.message))
                    .collect();
                in_reading_order(&mut errors);
                errors.extend(elsewhere);
                Err(Problems(errors))
            }
        }
    }

    /// A raw rig to a checked one: every problem into `found`.
    fn checked(path: &Path, raw: RawRig, found: &mut Vec<Problem>) -> Option<Self> {
        let mut keep = |r: Result<(), Problem>| found.extend(r.err());
        let key = parse_key(&raw.controller.station.key)
            .map_err(|m| keep(Err(Problem::new("controller.station.key", m))))
            .ok();
        let listed = raw.controller.compartments.len();
        if listed == 0 || listed > locker_core::config::MAX_COMPARTMENTS {
            keep(Err(Problem::new(
                "controller.compartments",
                format!(
                    "controller.compartments: expected 1 to {} compartments, found {listed}",
                    locker_core::config::MAX_COMPARTMENTS
                ),
            )));
        }
        let mut compartments: Vec<(String, Size)> = Vec::new();
        for (i, c) in raw.controller.compartments.iter().enumerate() {
            let name = |m: String| Problem::new("controller.compartments", m).item(2, i, "name");
            if c.name.is_empty()
                || c.name.len() > 8
                || !c.name.chars().all(|ch| ch.is_ascii_alphanumeric())
            {
                keep(Err(name(format!(
                    "controller.compartments[{i}].name: `{}` is not a compartment name (letters and digits, up to 8)",
                    c.name
                ))));
            } else if compartments.iter().any(|(n, _)| n == &c.name) {
                keep(Err(name(format!(
                    "controller.compartments[{i}].name: `{}` appears twice",
                    c.name
                ))));
            }
            let size = match c.size {
                RawSize::S => Size::S,
                RawSize::M => Size::M,
                RawSize::L => Size::L,
            };
            compartments.push((c.name.clone(), size));
        }
        for (i, f) in raw.controller.features.iter().enumerate() {
            let ok = !f.is_empty()
                && f.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                keep(Err(Problem {
                    at: vec![
                        Node::key("controller"),
                        Node::key("features"),
                        Node::Index(i),
                    ],
                    message: format!(
                        "controller.features[{i}]: `{f}` is not a cargo feature name (letters, digits, `-`, `_`)"
                    ),
                }));
            }
        }
        let is_bench = raw.controller.flash.is_some()
            || raw.controller.console.is_some()
            || raw.fixtures.is_some()
            || raw.io.is_some();
        let kind = if is_bench {
            if raw.plant.is_some() || raw.qemu.is_some() {
                keep(Err(Problem::new(
                    if raw.plant.is_some() { "plant" } else { "qemu" },
                    "a bench rig (with `flash`, `console` or `fixtures`) has real hardware around the controller, not a `plant` model or `qemu`".into(),
                )));
            }
            let (flash, console) = (raw.controller.flash, raw.controller.console);
            let cx = bench::Context {
                compartments: &compartments,
            };
            bench::check(flash, console, raw.fixtures, raw.io, &cx, found)
                .map(|b| RigKind::Bench(Box::new(b)))
        } else {
            Self::model(raw.plant, raw.qemu, found)
        };
        let issuer = issuer::check(
            raw.controller.issuer,
            raw.controller.station.id,
            &compartments,
            found,
        );
        let expect_build = match raw.controller.expect_build {
            None => ExpectBuild::Unstated,
            Some(RawExpectBuild::Exact(b)) if b.trim().is_empty() => {
                found.push(Problem::new(
                    "controller.expect-build",
                    "controller.expect-build: empty; expected the build the controller says it is"
                        .into(),
                ));
                ExpectBuild::Unstated
            }
            Some(RawExpectBuild::Exact(b)) => ExpectBuild::Exact(b),
            Some(RawExpectBuild::Matches(m)) => match crate::model::dialect::compile(&m) {
                Ok(r) => ExpectBuild::Matches(r),
                Err(e) => {
                    found.push(Problem::under(
                        "controller.expect-build",
                        "matches",
                        format!("controller.expect-build.matches: {e}"),
                    ));
                    ExpectBuild::Unstated
                }
            },
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
            found.push(Problem::new(
                "controller.firmware",
                format!(
                    "controller.firmware: {} is {}; expected a board crate's folder or an ELF file",
                    firmware.display(),
                    crate::model::input::kind(m.file_type())
                ),
            ));
        }
        Some(Self {
            file: path.to_owned(),
            origin: std::sync::Arc::default(),
            name: raw.name,
            labels: raw.labels,
            firmware,
            dialect: None,
            features: raw.controller.features,
            expect_build,
            issuer,
            // A firmware read through a dialect is another team's, with
            // its own numbers: held to them only when its rig file asks.
            rules: (raw.controller.rules).unwrap_or(match raw.controller.dialect {
                Some(_) => Rules::None,
                None => Rules::Reference,
            }),
            station: raw.controller.station.id,
            key: key?,
            compartments,
            kind: kind?,
        })
    }

    /// The plant model of a sim or qemu rig, and the emulator of a qemu rig.
    fn model(
        plant: Option<RawPlant>,
        qemu: Option<RawQemu>,
        found: &mut Vec<Problem>,
    ) -> Option<RigKind> {
        let Some(plant) = plant else {
            found.push(Problem::new(
                "name",
                "this rig has no `plant` section; sim and qemu rigs describe the plant model around the controller there, bench rigs their `flash`, `console` and `fixtures`".into(),
            ));
            return None;
        };
        let start_unix = parse_utc(&plant.start)
            .map_err(|m| found.push(Problem::new("plant.start", format!("plant.start: {m}"))))
            .ok();
        let qemu = match qemu {
            Some(q) if q.machine != QEMU_MACHINE => {
                found.push(Problem::new(
                    "qemu.machine",
                    format!(
                        "qemu.machine: expected `{QEMU_MACHINE}` (the machine the board crate is built for), found `{}`",
                        q.machine
                    ),
                ));
                return None;
            }
            q => q,
        };
        let plant = SimSettings {
            start_unix: start_unix?,
            ambient: plant.ambient,
            supply: plant.supply,
            seed: plant.seed,
        };
        Some(match qemu {
            None => RigKind::Sim(plant),
            Some(q) => RigKind::Qemu {
                plant,
                qemu: QemuSettings {
                    executable: q.executable,
                    machine: q.machine,
                },
            },
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

    /// Where `path` is in the rig file, as `FILE:LINE` (the nearest node
    /// there is; the file alone when the path is empty).
    pub fn place(&self, path: &[Seg<'_>]) -> String {
        match (path.is_empty(), self.origin.nearest(path)) {
            (false, Some((line, _))) => format!("{}:{line}", self.file.display()),
            _ => self.file.display().to_string(),
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

#[cfg(feature = "schema")]
pub(crate) mod schema {
    use super::{RawExpectBuild, RawRig};
    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
    use std::borrow::Cow;

    impl JsonSchema for RawExpectBuild {
        fn schema_name() -> Cow<'static, str> {
            "ExpectBuild".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "description": "The build the controller says it is (`2.4.1`), or `{ matches: REGEX }`.",
                "anyOf": [
                    { "type": "string" },
                    {
                        "type": "object",
                        "properties": { "matches": { "type": "string" } },
                        "required": ["matches"],
                        "additionalProperties": false,
                    },
                ],
            })
        }
    }

    /// The rig file's schema.
    pub(crate) fn root(g: SchemaGenerator) -> Schema {
        g.into_root_schema_for::<RawRig>()
    }
}
