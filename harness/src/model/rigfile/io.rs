//! A bench's I/O map: the lab's own relay modules and I/O boxes, and which of
//! their outputs performs each fixture action a suite can ask for.
//!
//! A real lab does not have the project's fixture board. It has relay
//! modules (Modbus RTU or TCP), a lab supply with channels, a SCPI switch
//! unit, perhaps a GPIO expander driven by a tool of its own. The rig file
//! names them under `fixtures.modules`, and `io:` says which output does
//! what:
//!
//! ```yaml
//! fixtures:
//!   supply: { driver: scpi, port: "tcp://psu-3.lab:5025", channel: 1, limits: { max: 15V } }
//!   modules:
//!     keypad: { driver: modbus-rtu, port: /dev/ttyUSB2, baud: 19200, unit: 1 }
//!     doors:  { driver: modbus-tcp, port: "tcp://relay-3.lab:502", unit: 1 }
//! io:
//!   press: 120ms                  # how long a key or the help button is held
//!   stroke: 600ms                 # how long a door is pushed or pulled
//!   keys: { "1": keypad/0, "2": keypad/1, ..., "#": keypad/11 }
//!   help: keypad/12
//!   doors: { M1: { push: doors/0, pull: doors/1, hold: doors/2, force: doors/3 } }
//!   packages: { M1: doors/8 }     # on: a package is in
//!   links: { primary: "!supply/2", secondary: doors/15 }   # on: the link is cut
//!   inputs: { solenoids: { M1: doors/0 }, poll: 5ms }      # discrete inputs
//! ```
//!
//! An output is `MODULE/N`: coil `N` of a Modbus module, channel `N` of a
//! SCPI module (or of the supply, `supply/N`), argument `N` of a command
//! module. On means the action's active state (a key held, a door pushed,
//! a package in, a link cut); `!` in front inverts it, for a normally-closed
//! relay or a supply channel that powers a modem. Everything is checked when
//! the file is loaded, each problem at its node; which steps of a suite the
//! map cannot perform is for [`crate::model::fit`] to say.

use super::{Node, Problem};
use crate::model::units::Dur;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a key or the help button is held when the rig file does not say.
pub const DEFAULT_PRESS: Duration = Duration::from_millis(100);
/// How long a door is pushed or pulled when the rig file does not say.
pub const DEFAULT_STROKE: Duration = Duration::from_millis(500);
/// How often discrete inputs are read when the rig file does not say.
pub const DEFAULT_POLL: Duration = Duration::from_millis(5);
/// How long a command module's program may take when the rig file does not say.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// The keys of a keypad, as `io.keys` names them.
pub const KEYS: [char; 12] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'];
/// What `{n}` is replaced by in a SCPI module's commands.
pub const N: &str = "{n}";
/// The name an output of the bench supply's channels goes by.
pub const SUPPLY: &str = "supply";

/// How the harness reaches one I/O module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleDriver {
    /// Modbus TCP (`tcp://HOST:PORT`, 502 by convention): coils and discrete inputs.
    ModbusTcp { addr: String, unit: u8 },
    /// Modbus RTU on a serial line: coils and discrete inputs.
    ModbusRtu { path: String, baud: u32, unit: u8 },
    /// A SCPI switch or output unit: `on`/`off` commands with `{n}`, and a
    /// query `read` answering 0 or 1.
    Scpi {
        port: super::bench::PortRef,
        on: String,
        off: String,
        read: Option<String>,
    },
    /// The lab's own tool, run once per switching: `{n}` and `{state}`
    /// (`on`/`off`) in its arguments.
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
}

/// A named I/O module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub name: String,
    pub driver: ModuleDriver,
}

/// One output or input: `MODULE/N`, `!` in front for the inverse sense.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pin {
    /// A module of `fixtures.modules`, or [`SUPPLY`].
    pub module: String,
    pub n: u16,
    /// On means inactive (a normally-closed relay).
    pub inverted: bool,
}

impl Pin {
    /// The level to drive for `active`.
    pub fn level(&self, active: bool) -> bool {
        active != self.inverted
    }

    fn parse(s: &str) -> Result<Self, String> {
        let (inverted, rest) = match s.trim().strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, s.trim()),
        };
        let bad = || {
            format!(
                "`{s}` is not an output; expected MODULE/N (a module of `fixtures.modules` or `{SUPPLY}`, and a number), with `!` in front for a normally-closed one"
            )
        };
        let (module, n) = rest.rsplit_once('/').ok_or_else(bad)?;
        let n = n.parse::<u16>().map_err(|_| bad())?;
        if module.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            module: module.to_owned(),
            n,
            inverted,
        })
    }
}

impl std::fmt::Display for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bang = if self.inverted { "!" } else { "" };
        write!(f, "{bang}{}/{}", self.module, self.n)
    }
}

/// A door actuator's outputs: pushed shut, pulled open and forced open
/// past its bolt (tamper) for the stroke, held (a jam) until let go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoorPins {
    pub push: Option<Pin>,
    pub pull: Option<Pin>,
    pub hold: Option<Pin>,
    pub force: Option<Pin>,
}

/// The I/O map: every fixture action this bench performs through its modules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoMap {
    pub modules: Vec<Module>,
    pub press: Duration,
    pub stroke: Duration,
    pub keys: BTreeMap<char, Pin>,
    pub help: Option<Pin>,
    /// By compartment index.
    pub doors: BTreeMap<usize, DoorPins>,
    /// By compartment index; on: a package is in.
    pub packages: BTreeMap<usize, Pin>,
    /// On: the link is cut.
    pub primary: Option<Pin>,
    pub secondary: Option<Pin>,
    /// Discrete inputs on while a compartment's solenoid is energised.
    pub solenoids: BTreeMap<usize, Pin>,
    pub poll: Duration,
}

impl IoMap {
    pub fn module(&self, name: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// Every output the map drives, once each.
    pub fn outputs(&self) -> Vec<&Pin> {
        let mut all: Vec<&Pin> = (self.keys.values())
            .chain(&self.help)
            .chain(
                self.doors
                    .values()
                    .flat_map(|d| [&d.push, &d.pull, &d.hold, &d.force].into_iter().flatten()),
            )
            .chain(self.packages.values())
            .chain(&self.primary)
            .chain(&self.secondary)
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// What each output does: the other side of the map, as a rig wired
    /// this way sees a switching (`harness rig serve --as`).
    pub fn roles(&self) -> Vec<(Pin, Role)> {
        let mut all: Vec<(Pin, Role)> = Vec::new();
        all.extend(self.keys.iter().map(|(k, p)| (p.clone(), Role::Key(*k))));
        all.extend(self.help.iter().map(|p| (p.clone(), Role::Help)));
        for (&c, d) in &self.doors {
            all.extend(d.push.iter().map(|p| (p.clone(), Role::Push(c))));
            all.extend(d.pull.iter().map(|p| (p.clone(), Role::Pull(c))));
            all.extend(d.hold.iter().map(|p| (p.clone(), Role::Hold(c))));
            all.extend(d.force.iter().map(|p| (p.clone(), Role::Force(c))));
        }
        all.extend(
            self.packages
                .iter()
                .map(|(&c, p)| (p.clone(), Role::Package(c))),
        );
        all.extend(
            self.primary
                .iter()
                .map(|p| (p.clone(), Role::Cut(locker_proto::Link::Primary))),
        );
        all.extend(
            self.secondary
                .iter()
                .map(|p| (p.clone(), Role::Cut(locker_proto::Link::Secondary))),
        );
        all
    }
}

/// What an output does when active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Key(char),
    Help,
    Push(usize),
    Pull(usize),
    Hold(usize),
    Force(usize),
    /// A package in the compartment.
    Package(usize),
    /// The link cut.
    Cut(locker_proto::Link),
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
enum RawDriver {
    ModbusTcp,
    ModbusRtu,
    Scpi,
    Command,
}

/// `fixtures.modules.NAME` as written.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawModule {
    driver: RawDriver,
    port: Option<String>,
    baud: Option<u32>,
    unit: Option<u32>,
    on: Option<String>,
    off: Option<String>,
    read: Option<String>,
    command: Option<Vec<String>>,
    timeout: Option<Dur>,
}

/// `io:` as written.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawIo {
    press: Option<Dur>,
    stroke: Option<Dur>,
    #[serde(default)]
    keys: BTreeMap<String, String>,
    help: Option<String>,
    #[serde(default)]
    doors: BTreeMap<String, RawDoor>,
    #[serde(default)]
    packages: BTreeMap<String, String>,
    links: Option<RawLinks>,
    inputs: Option<RawInputs>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawDoor {
    push: Option<String>,
    pull: Option<String>,
    hold: Option<String>,
    force: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawLinks {
    primary: Option<String>,
    secondary: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawInputs {
    #[serde(default)]
    solenoids: BTreeMap<String, String>,
    poll: Option<Dur>,
}

/// The forms a module takes, as an error lists them.
const MODULE_FORMS: &str = "`{ driver: modbus-tcp, port: \"tcp://HOST:502\", unit: 1 }`, `{ driver: modbus-rtu, port: /dev/ttyUSB2, baud: 19200, unit: 1 }`, `{ driver: scpi, port: ..., on: \"ROUT:CLOS (@{n})\", off: \"ROUT:OPEN (@{n})\" }` or `{ driver: command, command: [PROGRAM, \"{n}\", \"{state}\"] }`";

/// Check `fixtures.modules`: every problem into `found`.
pub(crate) fn modules(raw: BTreeMap<String, RawModule>, found: &mut Vec<Problem>) -> Vec<Module> {
    let mut out = Vec::new();
    for (name, m) in raw {
        let key = ["fixtures", "modules", name.as_str()];
        let sub = |k: &'static str| [key[0], key[1], key[2], k];
        if name == SUPPLY || name.contains('/') || name.starts_with('!') || name.is_empty() {
            found.push(Problem::nodes(
                vec![
                    Node::key("fixtures"),
                    Node::key("modules"),
                    Node::key_itself(name.clone()),
                ],
                format!(
                    "fixtures.modules.{name}: not a module name (`{SUPPLY}` is the bench supply's; no `/` or `!`)"
                ),
            ));
            continue;
        }
        // Each driver's own keys; any other is a mistake worth saying.
        let own: &[&str] = match m.driver {
            RawDriver::ModbusTcp => &["port", "unit"],
            RawDriver::ModbusRtu => &["port", "baud", "unit"],
            RawDriver::Scpi => &["port", "baud", "on", "off", "read"],
            RawDriver::Command => &["command", "timeout"],
        };
        let given = [
            ("port", m.port.is_some()),
            ("baud", m.baud.is_some()),
            ("unit", m.unit.is_some()),
            ("on", m.on.is_some()),
            ("off", m.off.is_some()),
            ("read", m.read.is_some()),
            ("command", m.command.is_some()),
            ("timeout", m.timeout.is_some()),
        ];
        for (k, _) in given.iter().filter(|(k, is)| *is && !own.contains(k)) {
            found.push(Problem::path(
                &sub(k),
                format!("`{k}` does not go with this driver; expected one of {MODULE_FORMS}"),
            ));
        }
        let unit = |found: &mut Vec<Problem>| match m.unit.map(u8::try_from) {
            None => 1,
            Some(Ok(u)) if (1..=247).contains(&u) => u,
            Some(_) => {
                found.push(Problem::path(
                    &sub("unit"),
                    format!(
                        "expected a Modbus unit (slave) id from 1 to 247, found {}",
                        m.unit.unwrap_or_default()
                    ),
                ));
                1
            }
        };
        let driver = match m.driver {
            RawDriver::ModbusTcp => {
                let unit = unit(found);
                let port = m
                    .port
                    .as_deref()
                    .map(|p| super::bench::port(&key, p, None, 0));
                let addr = match port {
                    Some(Ok(super::bench::PortRef::Tcp { addr })) => addr,
                    Some(Err(p)) => {
                        found.push(p);
                        continue;
                    }
                    other => {
                        let port = sub("port");
                        let at: &[&str] = if other.is_some() { &port } else { &key };
                        found.push(Problem::path(
                            at,
                            "a Modbus TCP module needs `port: \"tcp://HOST:PORT\"` (502 by convention)",
                        ));
                        continue;
                    }
                };
                ModuleDriver::ModbusTcp { addr, unit }
            }
            RawDriver::ModbusRtu => {
                let unit = unit(found);
                let path = match m.port {
                    Some(p) if !p.trim().is_empty() && !p.starts_with("tcp://") => p,
                    Some(p) => {
                        found.push(Problem::path(
                            &sub("port"),
                            format!("expected the serial device a Modbus RTU line is on, found `{p}` (a module on the network is `driver: modbus-tcp`)"),
                        ));
                        continue;
                    }
                    None => {
                        found.push(Problem::path(
                            &key,
                            "a Modbus RTU module needs `port:` (a serial device path; `baud:` is 9600 unless given)",
                        ));
                        continue;
                    }
                };
                let baud = m.baud.unwrap_or(9600);
                if !(300..=4_000_000).contains(&baud) {
                    found.push(Problem::path(
                        &sub("baud"),
                        format!("expected 300 to 4000000, found {baud}"),
                    ));
                }
                ModuleDriver::ModbusRtu { path, baud, unit }
            }
            RawDriver::Scpi => {
                let Some(text) = m.port else {
                    found.push(Problem::path(
                        &key,
                        "a SCPI module needs `port:` (a serial device path or `tcp://HOST:PORT`)",
                    ));
                    continue;
                };
                let port = match super::bench::port(&key, &text, m.baud, 9600) {
                    Ok(p) => p,
                    Err(p) => {
                        found.push(p);
                        continue;
                    }
                };
                let on = m.on.unwrap_or_else(|| "ROUT:CLOS (@{n})".to_owned());
                let off = m.off.unwrap_or_else(|| "ROUT:OPEN (@{n})".to_owned());
                for (k, t) in [("on", &on), ("off", &off)]
                    .into_iter()
                    .chain(m.read.as_ref().map(|r| ("read", r)))
                {
                    if !t.contains(N) {
                        found.push(Problem::path(
                            &sub(k),
                            format!(
                                "`{t}` has no `{N}`, which the harness replaces with the channel"
                            ),
                        ));
                    }
                }
                ModuleDriver::Scpi {
                    port,
                    on,
                    off,
                    read: m.read,
                }
            }
            RawDriver::Command => {
                let argv = m.command.unwrap_or_default();
                if argv.first().is_none_or(|p| p.trim().is_empty()) {
                    found.push(Problem::path(
                        &key,
                        "a command module needs `command: [PROGRAM, ARG...]`, with `{n}` and `{state}` (on/off) where the output and its state go",
                    ));
                    continue;
                }
                if !argv.iter().any(|a| a.contains(N))
                    || !argv.iter().any(|a| a.contains("{state}"))
                {
                    found.push(Problem::path(
                        &sub("command"),
                        "no argument has `{n}` and `{state}`, which the harness replaces with the output and `on` or `off`",
                    ));
                }
                let timeout = duration(
                    &sub("timeout"),
                    m.timeout,
                    DEFAULT_COMMAND_TIMEOUT,
                    Duration::from_secs(60),
                    found,
                );
                ModuleDriver::Command { argv, timeout }
            }
        };
        out.push(Module { name, driver });
    }
    // Units on one line: one baud, each unit once.
    for (i, m) in out.iter().enumerate() {
        let before = &out[..i];
        let clash = |at: &'static str, message: String| {
            Problem::path(&["fixtures", "modules", m.name.as_str(), at], message)
        };
        match &m.driver {
            ModuleDriver::ModbusRtu { path, baud, unit } => {
                for o in before {
                    if let ModuleDriver::ModbusRtu {
                        path: p,
                        baud: b,
                        unit: u,
                    } = &o.driver
                        && p == path
                    {
                        if b != baud {
                            found.push(clash("baud", format!("{baud} baud, but module `{}` on the same line {path} is at {b}: a line has one speed", o.name)));
                        } else if u == unit {
                            found.push(clash(
                                "unit",
                                format!(
                                    "unit {unit} is module `{}` on the same line {path} too",
                                    o.name
                                ),
                            ));
                        }
                    }
                }
            }
            ModuleDriver::ModbusTcp { addr, unit } => {
                for o in before {
                    if let ModuleDriver::ModbusTcp { addr: a, unit: u } = &o.driver
                        && a == addr
                        && u == unit
                    {
                        found.push(clash(
                            "unit",
                            format!("unit {unit} at {addr} is module `{}` too", o.name),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// A duration of the file (`d`, else `default`), refused at `path` unless
/// above 0 and at most `max`.
fn duration(
    path: &[&str],
    d: Option<Dur>,
    default: Duration,
    max: Duration,
    found: &mut Vec<Problem>,
) -> Duration {
    let d = d.map_or(default, |d| d.0);
    if d.is_zero() || d > max {
        found.push(Problem::path(
            path,
            format!(
                "expected above 0 and at most {}",
                crate::model::units::fmt_duration(max)
            ),
        ));
    }
    d
}

/// What [`map`] needs to know of the rest of the rig file.
pub(crate) struct Context<'a> {
    pub compartments: &'a [(String, locker_core::Size)],
    /// The supply's channel that powers the controller, when the bench
    /// supply has channels.
    pub supply_channel: Option<u16>,
}

/// Check `io:` against the modules: every problem into `found`.
pub(crate) fn map(
    raw: RawIo,
    modules: Vec<Module>,
    cx: &Context<'_>,
    found: &mut Vec<Problem>,
) -> IoMap {
    let mut used: BTreeMap<(String, u16), String> = BTreeMap::new();
    let mut pin = |path: &[&str],
                   text: &str,
                   input: bool,
                   found: &mut Vec<Problem>|
     -> Option<Pin> {
        let p = match Pin::parse(text) {
            Ok(p) => p,
            Err(e) => {
                found.push(Problem::path(path, e));
                return None;
            }
        };
        let shown = path.join(".");
        if p.module == SUPPLY {
            if input {
                found.push(Problem::path(
                    path,
                    format!("`{text}`: the supply's channels are outputs, not inputs"),
                ));
                return None;
            }
            match cx.supply_channel {
                None => {
                    found.push(Problem::path(
                        path,
                        format!("`{text}`: the bench supply has no channels; give `fixtures.supply` a `channel:` (the one that powers the controller) to switch its others"),
                    ));
                    return None;
                }
                Some(c) if c == p.n => {
                    found.push(Problem::path(
                        path,
                        format!("`{text}`: channel {c} powers the controller (`fixtures.supply.channel`); `power:` steps switch it"),
                    ));
                    return None;
                }
                Some(_) => {}
            }
        } else {
            let Some(m) = modules.iter().find(|m| m.name == p.module) else {
                let names = modules.iter().map(|m| m.name.as_str()).chain([SUPPLY]);
                found.push(Problem::path(
                    path,
                    format!(
                        "`{}` is not a module of `fixtures.modules`{}",
                        p.module,
                        crate::model::diag::did_you_mean(&p.module, names)
                    ),
                ));
                return None;
            };
            if input {
                match &m.driver {
                    ModuleDriver::Command { .. } => {
                        found.push(Problem::path(path, format!("`{text}`: a command module cannot be read; use a Modbus module's discrete inputs or a SCPI module with `read:`")));
                        return None;
                    }
                    ModuleDriver::Scpi { read: None, .. } => {
                        found.push(Problem::path(path, format!("`{text}`: SCPI module `{}` has no `read:` query to read an input with", m.name)));
                        return None;
                    }
                    _ => {}
                }
            }
        }
        if !input {
            let key = (p.module.clone(), p.n);
            if let Some(before) = used.get(&key) {
                found.push(Problem::path(
                    path,
                    format!("`{text}` is already {before}: one output, one action"),
                ));
                return None;
            }
            used.insert(key, shown);
        }
        Some(p)
    };
    let compartment = |path: &[&str], name: &str, found: &mut Vec<Problem>| {
        let i = cx.compartments.iter().position(|(n, _)| n == name);
        if i.is_none() {
            found.push(Problem::nodes(
                path.iter()
                    .map(|k| Node::key((*k).to_owned()))
                    .chain([Node::key_itself(name.to_owned())])
                    .collect(),
                format!(
                    "{}.{name}: no compartment `{name}` in `controller.compartments`{}",
                    path.join("."),
                    crate::model::diag::did_you_mean(
                        name,
                        cx.compartments.iter().map(|(n, _)| n.as_str())
                    )
                ),
            ));
        }
        i
    };
    let press = duration(
        &["io", "press"],
        raw.press,
        DEFAULT_PRESS,
        Duration::from_secs(5),
        found,
    );
    let stroke = duration(
        &["io", "stroke"],
        raw.stroke,
        DEFAULT_STROKE,
        Duration::from_secs(30),
        found,
    );
    let mut keys = BTreeMap::new();
    for (k, text) in &raw.keys {
        let key = k
            .chars()
            .next()
            .filter(|c| k.chars().count() == 1 && KEYS.contains(c));
        let Some(key) = key else {
            found.push(Problem::nodes(
                vec![Node::key("io"), Node::key("keys"), Node::key_itself(k.clone())],
                format!("io.keys.{k}: not a keypad key; expected one of 0-9, `*` (clear) and `#` (enter), quoted"),
            ));
            continue;
        };
        if let Some(p) = pin(&["io", "keys", k], text, false, found) {
            keys.insert(key, p);
        }
    }
    let help = raw
        .help
        .and_then(|t| pin(&["io", "help"], &t, false, found));
    let mut doors = BTreeMap::new();
    for (c, d) in &raw.doors {
        let Some(i) = compartment(&["io", "doors"], c, found) else {
            continue;
        };
        let mut one = |k: &str, t: &Option<String>, found: &mut Vec<Problem>| {
            t.as_ref()
                .and_then(|t| pin(&["io", "doors", c, k], t, false, found))
        };
        let pins = DoorPins {
            push: one("push", &d.push, found),
            pull: one("pull", &d.pull, found),
            hold: one("hold", &d.hold, found),
            force: one("force", &d.force, found),
        };
        doors.insert(i, pins);
    }
    let mut packages = BTreeMap::new();
    for (c, t) in &raw.packages {
        let Some(i) = compartment(&["io", "packages"], c, found) else {
            continue;
        };
        if let Some(p) = pin(&["io", "packages", c], t, false, found) {
            packages.insert(i, p);
        }
    }
    let (mut primary, mut secondary) = (None, None);
    if let Some(l) = &raw.links {
        primary = l
            .primary
            .as_ref()
            .and_then(|t| pin(&["io", "links", "primary"], t, false, found));
        secondary = l
            .secondary
            .as_ref()
            .and_then(|t| pin(&["io", "links", "secondary"], t, false, found));
    }
    let mut solenoids = BTreeMap::new();
    let mut poll = DEFAULT_POLL;
    if let Some(inputs) = raw.inputs {
        poll = duration(
            &["io", "inputs", "poll"],
            inputs.poll,
            DEFAULT_POLL,
            Duration::from_secs(1),
            found,
        );
        for (c, t) in &inputs.solenoids {
            let Some(i) = compartment(&["io", "inputs", "solenoids"], c, found) else {
                continue;
            };
            if let Some(p) = pin(&["io", "inputs", "solenoids", c], t, true, found) {
                solenoids.insert(i, p);
            }
        }
    }
    IoMap {
        modules,
        press,
        stroke,
        keys,
        help,
        doors,
        packages,
        primary,
        secondary,
        solenoids,
        poll,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_read_as_written() {
        assert_eq!(
            Pin::parse("relays/3"),
            Ok(Pin {
                module: "relays".into(),
                n: 3,
                inverted: false
            })
        );
        let p = Pin::parse("!supply/2").unwrap();
        assert!(p.inverted && p.module == "supply" && p.n == 2);
        assert!(!p.level(true) && p.level(false));
        assert_eq!(p.to_string(), "!supply/2");
        for bad in ["relays", "relays/", "/3", "relays/x", "relays/70000", ""] {
            assert!(Pin::parse(bad).is_err(), "{bad}");
        }
    }
}
