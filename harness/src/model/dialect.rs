//! Console dialects: how to read a firmware that prints plain-text lines
//! instead of the framed protocol (`firmware/proto/PROTOCOL.md`).
//!
//! A dialect file maps lines onto the protocol's own typed events, so the
//! suites never change with the console: each rule is a regular expression
//! with named captures and the event it makes, written in the protocol's
//! event words with captures in braces (`door {c} {state}`), through value
//! maps where the firmware words things its own way (`OPEN -> open`).
//!
//! ```yaml
//! name: acme-locker
//! line: { match: '^\[(?P<t>\d+\.\d{3})\] (?P<text>.*)$', time: s }
//! banner: { match: '^ACME (?P<build>\S+) on (?P<board>\S+)$', example: "ACME 2.4.1 on lk-12" }
//! events:
//!   - match: '^Door (?P<c>\w+) (?P<state>OPEN|CLOSED)$'
//!     event: "door {c} {state}"
//!     map: { state: { OPEN: open, CLOSED: closed } }
//!     example: "Door S1 OPEN"
//! commands:
//!   identify: { send: "version", answer: '^version (?P<build>\S+) (?P<board>\S+)$' }
//!   clock: { send: "settime {unix}", answer: '^time ok$' }
//! ```
//!
//! Every rule carries an example line, which must match it and make an
//! event of the kind it names: a rule that cannot work is refused when the
//! dialect is loaded, at its node, not met in the middle of a run.

use crate::model::diag::{InputError, Problems, in_reading_order, precheck, read_text};
use crate::model::places::{Origin, Seg};
use locker_proto::{Command, Event, Ident, Response, Status, ToHarness};
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Rules a dialect may have: each line is tried against them in order.
pub const MAX_RULES: usize = 500;
/// The compiled size a rule's expression may grow to (the regex crate's
/// own bound, lowered): a hostile pattern is refused, not compiled for
/// minutes.
const REGEX_SIZE: usize = 1 << 20;

/// A checked dialect.
#[derive(Debug, Clone)]
pub struct Dialect {
    pub file: PathBuf,
    pub name: String,
    /// What every line has around the part the rules see.
    line: Option<Regex>,
    /// How the controller's own time in a line is counted.
    time: Option<TimeUnit>,
    banner: Option<Banner>,
    rules: Vec<Rule>,
    pub commands: Commands,
}

/// A unit of the controller's own timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum TimeUnit {
    Ms,
    S,
}

#[derive(Debug, Clone)]
struct Banner {
    regex: Regex,
}

/// One event rule.
#[derive(Debug, Clone)]
struct Rule {
    /// `events[3]`, for messages.
    name: String,
    /// The kind of event it makes.
    kind: String,
    regex: Regex,
    event: Template,
    maps: BTreeMap<String, BTreeMap<String, String>>,
}

/// The commands the firmware understands, each as the line to send and
/// the answer that says it was done.
#[derive(Debug, Clone, Default)]
pub struct Commands {
    /// Who the firmware is: the answer captures `build` (and `board`).
    pub identify: Option<CommandRule>,
    /// Set the real-time clock: `{unix}` in the line is the time.
    pub clock: Option<CommandRule>,
    /// Back to factory state.
    pub factory: Option<CommandRule>,
    /// The controller's counters: the answer captures `failed`, `lockout`
    /// (seconds) and `queued` (and may capture `uptime` ms and `rtc`).
    pub status: Option<CommandRule>,
}

#[derive(Debug, Clone)]
pub struct CommandRule {
    send: Template,
    answer: Regex,
}

/// Text with `{capture}` places.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Value(String),
}

/// What a console line is, read through a dialect.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// The firmware's start-up line, with what it says of itself.
    Banner { build: String, board: String },
    /// An event, at the controller's own time when the line carries one.
    Event { t_ms: Option<u64>, event: Event },
    /// Any other line: for the transcript, not an error.
    Other,
}

impl Template {
    fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| {
                format!(
                    "`{{` at {} is not closed by `}}`",
                    text.len() - rest.len() + open + 1
                )
            })?;
            let name = &after[..close];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "`{{{name}}}` is not a capture name (letters, digits, `_`)"
                ));
            }
            pieces.push(Piece::Value(name.to_owned()));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Self(pieces))
    }

    fn values(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Piece::Value(v) => Some(v.as_str()),
            Piece::Text(_) => None,
        })
    }

    fn fill(
        &self,
        mut value: impl FnMut(&str) -> Result<String, String>,
    ) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Value(v) => out.push_str(&value(v)?),
            }
        }
        Ok(out)
    }
}

impl Rule {
    /// The event `text` makes, if the rule matches it.
    fn event(&self, text: &str) -> Option<Result<Event, String>> {
        let caps = self.regex.captures(text)?;
        let words = self.event.fill(|name| {
            let got = caps.name(name).map_or("", |m| m.as_str());
            match self.maps.get(name) {
                None => Ok(got.to_owned()),
                Some(map) => map.get(got).cloned().ok_or_else(|| {
                    let known: Vec<_> = map.keys().map(|k| format!("`{k}`")).collect();
                    format!(
                        "`{name}` is `{got}`, which its map does not have (it has {})",
                        known.join(", ")
                    )
                }),
            }
        });
        Some(words.and_then(|w| {
            // The protocol's own reading of its event words: the dialect
            // makes exactly the events framed firmware sends.
            match ToHarness::parse(&format!("EV 0 {w}")) {
                Ok(ToHarness::Event { event, .. }) => Ok(event),
                Ok(_) => Err(format!("`{w}` is not an event")),
                Err(e) => Err(format!("`{w}` is not an event the protocol knows: {e}")),
            }
        }))
    }
}

impl Dialect {
    /// Read and check the dialect file at `path`: every problem in it, or
    /// the dialect.
    pub fn load(path: &Path) -> Result<Self, Problems> {
        let text = read_text(path)?;
        Self::from_text(path, &text)
    }

    /// Check dialect text as if it were the file at `path`.
    pub fn from_text(path: &Path, text: &str) -> Result<Self, Problems> {
        precheck(path, text)?;
        let raw: RawDialect = yaml_serde::from_str(text)
            .map_err(|e| Problems::from(InputError::from_yaml(path, text, &e)))?;
        let origin = Origin::new(text.to_owned());
        let mut found = Findings::default();
        let dialect = Self::checked(path, raw, &mut found);
        match dialect {
            Some(d) if found.0.is_empty() => Ok(d),
            _ => {
                let mut errors: Vec<InputError> = (found.0.into_iter())
                    .map(|f| {
                        let place = origin.nearest(&f.at).map(|p| match f.column {
                            Some(c) => inside_pattern(text, p, c),
                            None => p,
                        });
                        InputError::placed(path, text, place, f.message)
                    })
                    .collect();
                in_reading_order(&mut errors);
                Err(Problems(errors))
            }
        }
    }

    fn checked(path: &Path, raw: RawDialect, found: &mut Findings) -> Option<Self> {
        if raw.events.len() > MAX_RULES {
            found.add(
                vec![Seg::Key("events")],
                format!(
                    "events: {} rules; a dialect has at most {MAX_RULES}",
                    raw.events.len()
                ),
            );
            return None;
        }
        let line = raw.line.as_ref().and_then(|l| {
            let at = || vec![Seg::Key("line"), Seg::Key("match")];
            let r = compile(&l.regex).map_err(|e| found.bad_pattern(at(), "line.match", e)).ok()?;
            if !has_group(&r, "text") {
                found.add(at(), "line.match: expected a capture `(?P<text>...)`: the part of the line the rules see".into());
            }
            if l.time.is_some() != has_group(&r, "t") {
                found.add(
                    at(),
                    "line.match: `time:` and a capture `(?P<t>...)` go together: the controller's time, in the unit `time` names".into(),
                );
            }
            Some(r)
        });
        let banner = raw.banner.as_ref().and_then(|b| {
            let at = |k| vec![Seg::Key("banner"), Seg::Key(k)];
            let regex = compile(&b.regex).map_err(|e| found.bad_pattern(at("match"), "banner.match", e)).ok()?;
            if !has_group(&regex, "build") {
                found.add(at("match"), "banner.match: expected a capture `(?P<build>...)`: the build the firmware says it is".into());
            }
            if let Some(ex) = &b.example
                && !regex.is_match(ex)
            {
                found.add(at("example"), format!("banner.example: `{ex}` does not match banner.match"));
            }
            Some(Banner { regex })
        });
        let rules = (raw.events.into_iter().enumerate())
            .filter_map(|(i, r)| rule(i, r, found))
            .collect();
        let commands = commands(raw.commands, found);
        Some(Self {
            file: path.to_owned(),
            name: raw.name,
            line,
            time: raw.line.and_then(|l| l.time),
            banner,
            rules,
            commands,
        })
    }

    /// Whether the firmware's lines carry its own time.
    pub fn has_time(&self) -> bool {
        self.time.is_some()
    }

    /// Read one console line (without its line ending). A line a rule
    /// matches but cannot turn into its event is an error naming the line
    /// and the rule: the dialect does not fit this firmware.
    pub fn read(&self, line: &str) -> Result<Heard, String> {
        let (text, t_ms) = match &self.line {
            None => (line, None),
            Some(re) => match re.captures(line) {
                None => return Ok(Heard::Other),
                Some(caps) => {
                    let t_ms = match (self.time, caps.name("t")) {
                        (Some(unit), Some(t)) => {
                            Some(millis(t.as_str(), unit).ok_or_else(|| {
                                format!("line `{line}`: `{}` is not a time in {unit:?}", t.as_str())
                            })?)
                        }
                        _ => None,
                    };
                    (caps.name("text").map_or("", |m| m.as_str()), t_ms)
                }
            },
        };
        if let Some(b) = &self.banner
            && let Some(caps) = b.regex.captures(text)
        {
            let get = |n| {
                caps.name(n)
                    .map_or(String::new(), |m| m.as_str().to_owned())
            };
            return Ok(Heard::Banner {
                build: get("build"),
                board: get("board"),
            });
        }
        for r in &self.rules {
            match r.event(text) {
                None => continue,
                Some(Ok(event)) => return Ok(Heard::Event { t_ms, event }),
                Some(Err(e)) => {
                    return Err(format!(
                        "line `{line}` matches {} of dialect `{}` ({}), but {e}",
                        r.name,
                        self.name,
                        self.file.display()
                    ));
                }
            }
        }
        Ok(Heard::Other)
    }
}

impl Dialect {
    /// The line that asks the firmware to do `cmd`, or why it cannot be
    /// asked through this dialect.
    pub fn command_line(&self, cmd: &Command) -> Result<String, String> {
        let (rule, unix) = self.rule_for(cmd)?;
        Ok(rule.line(unix))
    }

    /// The answer to `cmd` that `line` is, if it is one.
    pub fn answer(&self, cmd: &Command, line: &str) -> Option<Response> {
        let (rule, _) = self.rule_for(cmd).ok()?;
        let caps = rule.answered(self.text_of(line)?)?;
        Some(match cmd {
            Command::Identify | Command::Ping => Response::Ident {
                proto: 0,
                build: Ident::try_from(caps.get("build").map_or("", |b| b.as_str()))
                    .unwrap_or_default(),
                board: Ident::try_from(caps.get("board").map_or("", |b| b.as_str()))
                    .unwrap_or_default(),
            },
            Command::Status => {
                let num = |k: &str| caps.get(k).and_then(|v| v.parse::<u64>().ok());
                let small = |k: &str| num(k).and_then(|v| u8::try_from(v).ok());
                Response::Status(Status {
                    uptime_ms: num("uptime").unwrap_or(0),
                    rtc_s: num("rtc").unwrap_or(0),
                    failed: small("failed")?,
                    lockout_s: u32::try_from(num("lockout")?).ok()?,
                    queued: u16::try_from(num("queued")?).ok()?,
                })
            }
            _ => Response::Ok,
        })
    }

    fn rule_for(&self, cmd: &Command) -> Result<(&CommandRule, u64), String> {
        let missing = |what: &str, key: &str| {
            format!(
                "{what} through dialect `{}`: it has no `commands.{key}` ({})",
                self.name,
                self.file.display()
            )
        };
        match cmd {
            Command::ClockSet(unix) => (self.commands.clock.as_ref().map(|r| (r, *unix)))
                .ok_or_else(|| missing("set the controller's clock", "clock")),
            Command::FactoryReset => (self.commands.factory.as_ref().map(|r| (r, 0)))
                .ok_or_else(|| missing("reset the controller to factory state", "factory")),
            // A plain console's liveness is that it answers who it is.
            Command::Identify | Command::Ping => (self.commands.identify.as_ref().map(|r| (r, 0)))
                .ok_or_else(|| missing("ask the controller who it is", "identify")),
            Command::Status => (self.commands.status.as_ref().map(|r| (r, 0))).ok_or_else(|| {
                format!(
                    "ask the controller's status through dialect `{}`: it has no `commands.status`, and a plain-text console says its counters only when asked ({})",
                    self.name,
                    self.file.display()
                )
            }),
        }
    }

    /// Whether the firmware says who it is when it starts.
    pub fn has_banner(&self) -> bool {
        self.banner.is_some()
    }

    /// Whether some rule makes events of `kind`.
    pub fn makes(&self, kind: &str) -> bool {
        self.rules.iter().any(|r| r.kind == kind)
    }
}

impl CommandRule {
    /// The line to send, with `unix` for a clock command's `{unix}`.
    pub fn line(&self, unix: u64) -> String {
        self.send.fill(|_| Ok(unix.to_string())).unwrap_or_default()
    }

    /// The answer's captures, when `line` (its text part) is the answer.
    pub fn answered(&self, text: &str) -> Option<BTreeMap<String, String>> {
        let caps = self.answer.captures(text)?;
        Some(
            (self.answer.capture_names().flatten())
                .filter_map(|n| Some((n.to_owned(), caps.name(n)?.as_str().to_owned())))
                .collect(),
        )
    }
}

impl Dialect {
    /// The part of `line` the rules and answers see (`None`: not a line of
    /// this firmware's shape).
    pub fn text_of<'l>(&self, line: &'l str) -> Option<&'l str> {
        match &self.line {
            None => Some(line),
            Some(re) => re
                .captures(line)
                .and_then(|c| c.name("text"))
                .map(|m| m.as_str()),
        }
    }
}

/// A problem found while checking a dialect: the node it is about, what is
/// wrong, and, for a pattern that does not compile, the column in the
/// pattern where it fails.
struct Finding {
    at: Vec<Seg<'static>>,
    message: String,
    column: Option<usize>,
}

/// The problems found in one dialect file.
#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, at: Vec<Seg<'static>>, message: String) {
        self.0.push(Finding {
            at,
            message,
            column: None,
        });
    }

    /// The pattern at `at` (`what`: `events[2].match`) does not compile.
    fn bad_pattern(&mut self, at: Vec<Seg<'static>>, what: &str, e: BadPattern) {
        self.0.push(Finding {
            at,
            message: format!("{what}: {e}"),
            column: e.column,
        });
    }
}

/// Why a pattern does not compile, and where in it, as the regex crate says.
pub(crate) struct BadPattern {
    reason: String,
    /// 1-based column in the pattern.
    column: Option<usize>,
}

impl std::fmt::Display for BadPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a regular expression: {}", self.reason)?;
        match self.column {
            Some(c) => write!(f, " (column {c} of the pattern)"),
            None => Ok(()),
        }
    }
}

/// Event rule `i` checked: its pattern, its event, its maps and its example.
fn rule(i: usize, r: RawRule, found: &mut Findings) -> Option<Rule> {
    let at = |k: &'static str| vec![Seg::Key("events"), Seg::Index(i), Seg::Key(k)];
    let name = format!("events[{i}]");
    let Ok(regex) =
        compile(&r.regex).map_err(|e| found.bad_pattern(at("match"), &format!("{name}.match"), e))
    else {
        return None;
    };
    let Ok(event) =
        Template::parse(&r.event).map_err(|m| found.add(at("event"), format!("{name}.event: {m}")))
    else {
        return None;
    };
    let kind = r.event.split_whitespace().next().unwrap_or("");
    if !Event::KINDS.contains(&kind) {
        found.add(
            at("event"),
            format!(
                "{name}.event: `{kind}` is not an event kind; expected one of {}{}",
                Event::KINDS.join(", "),
                crate::model::diag::did_you_mean(kind, Event::KINDS.iter().copied())
            ),
        );
        return None;
    }
    let mut ok = true;
    for v in event.values() {
        if !has_group(&regex, v) {
            found.add(
                at("event"),
                format!("{name}.event: `{{{v}}}` is not a capture of {name}.match"),
            );
            ok = false;
        }
    }
    for m in r.map.keys() {
        if !has_group(&regex, m) {
            found.add(
                at("map"),
                format!("{name}.map: `{m}` is not a capture of {name}.match"),
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    let rule = Rule {
        name: name.clone(),
        kind: kind.to_owned(),
        regex,
        event,
        maps: r.map,
    };
    match rule.event(&r.example) {
        None => found.add(
            at("example"),
            format!(
                "{name}.example: `{}` does not match {name}.match",
                r.example
            ),
        ),
        Some(Err(e)) => found.add(
            at("example"),
            format!("{name}.example: `{}`: {e}", r.example),
        ),
        Some(Ok(ev)) if ev.kind() != kind => found.add(
            at("example"),
            format!(
                "{name}.example: `{}` makes a `{}` event, not `{kind}`",
                r.example,
                ev.kind()
            ),
        ),
        Some(Ok(_)) => return Some(rule),
    }
    None
}

/// A command's rule checked: its line (with only the values in `allowed`)
/// and its answer's pattern.
fn command(
    key: &'static str,
    c: Option<RawCommand>,
    found: &mut Findings,
    allowed: &[&str],
) -> Option<CommandRule> {
    let c = c?;
    let at = |k: &'static str| vec![Seg::Key("commands"), Seg::Key(key), Seg::Key(k)];
    let send = Template::parse(&c.send)
        .map_err(|m| found.add(at("send"), format!("commands.{key}.send: {m}")))
        .ok()?;
    for v in send.values() {
        if !allowed.contains(&v) {
            found.add(
                at("send"),
                format!(
                    "commands.{key}.send: `{{{v}}}` is not a value of this command (it has {})",
                    if allowed.is_empty() {
                        "none".to_owned()
                    } else {
                        allowed
                            .iter()
                            .map(|a| format!("`{{{a}}}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            );
        }
    }
    let answer = compile(&c.answer)
        .map_err(|e| found.bad_pattern(at("answer"), &format!("commands.{key}.answer"), e))
        .ok()?;
    Some(CommandRule { send, answer })
}

/// The commands a dialect has, checked.
fn commands(raw: RawCommands, found: &mut Findings) -> Commands {
    let identify = command("identify", raw.identify, found, &[]);
    if let Some(id) = &identify
        && !has_group(&id.answer, "build")
    {
        found.add(
            vec![Seg::Key("commands"), Seg::Key("identify"), Seg::Key("answer")],
            "commands.identify.answer: expected a capture `(?P<build>...)`: the build the firmware says it is".into(),
        );
    }
    let clock = command("clock", raw.clock, found, &["unix"]);
    let factory = command("factory", raw.factory, found, &[]);
    let status = command("status", raw.status, found, &[]);
    if let Some(st) = &status {
        for need in ["failed", "lockout", "queued"] {
            if !has_group(&st.answer, need) {
                found.add(
                    vec![Seg::Key("commands"), Seg::Key("status"), Seg::Key("answer")],
                    format!(
                        "commands.status.answer: expected a capture `(?P<{need}>...)`: the controller's {need} count"
                    ),
                );
            }
        }
    }
    Commands {
        identify,
        clock,
        factory,
        status,
    }
}

/// Where a bad pattern's fault is in the file: the pattern's scalar at
/// `at`, moved to `column` of the pattern (quoted or plain, no escapes on
/// the way).
fn inside_pattern(text: &str, at: (usize, usize), column: usize) -> (usize, usize) {
    let Some(line) = text.lines().nth(at.0 - 1) else {
        return at;
    };
    let from: String = line.chars().skip(at.1 - 1).collect();
    let quoted = usize::from(from.starts_with(['\'', '"']));
    (at.0, at.1 + quoted + column - 1)
}

fn millis(t: &str, unit: TimeUnit) -> Option<u64> {
    let v: f64 = t
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
    let ms = match unit {
        TimeUnit::Ms => v,
        TimeUnit::S => v * 1000.0,
    };
    (ms < 1e15).then(|| ms.round() as u64)
}

fn has_group(r: &Regex, name: &str) -> bool {
    r.capture_names().flatten().any(|n| n == name)
}

/// `pattern` compiled, or the regex crate's reason and the column in the
/// pattern where it is.
pub(crate) fn compile(pattern: &str) -> Result<Regex, BadPattern> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE)
        .dfa_size_limit(REGEX_SIZE)
        .build()
        .map_err(|e| BadPattern {
            reason: match &e {
                regex::Error::Syntax(s) => s
                    .lines()
                    .last()
                    .unwrap_or(s)
                    .trim_start_matches("error: ")
                    .to_owned(),
                other => other.to_string(),
            },
            column: regex_syntax::ast::parse::Parser::new()
                .parse(pattern)
                .err()
                .map(|a| a.span().start.column),
        })
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDialect {
    name: String,
    line: Option<RawLine>,
    banner: Option<RawBanner>,
    #[serde(default)]
    events: Vec<RawRule>,
    #[serde(default)]
    commands: RawCommands,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLine {
    #[serde(rename = "match")]
    regex: String,
    time: Option<TimeUnit>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawBanner {
    #[serde(rename = "match")]
    regex: String,
    example: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRule {
    #[serde(rename = "match")]
    regex: String,
    event: String,
    #[serde(default)]
    map: BTreeMap<String, BTreeMap<String, String>>,
    example: String,
}

#[derive(Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCommands {
    identify: Option<RawCommand>,
    clock: Option<RawCommand>,
    factory: Option<RawCommand>,
    status: Option<RawCommand>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCommand {
    send: String,
    answer: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use locker_proto::DoorState;

    const ACME: &str = r#"name: acme
line: { match: '^\[(?P<t>\d+\.\d{3})\] (?P<text>.*)$', time: s }
banner: { match: '^ACME (?P<build>\S+) on (?P<board>\S+)$', example: "ACME 2.4.1 on lk-12" }
events:
  - match: '^Door (?P<c>\w+) (?P<state>OPEN|CLOSED)$'
    event: "door {c} {state}"
    map: { state: { OPEN: open, CLOSED: closed } }
    example: "Door S1 OPEN"
  - match: '^LCD "(?P<text>[^"]*)"$'
    event: 'display "{text}"'
    example: 'LCD "ENTER CODE"'
commands:
  identify: { send: "version", answer: '^version (?P<build>\S+) (?P<board>\S+)$' }
  clock: { send: "settime {unix}", answer: '^time ok$' }
"#;

    fn acme() -> Dialect {
        Dialect::from_text(Path::new("acme.yaml"), ACME).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn lines_become_the_protocols_events_at_the_controllers_time() {
        let d = acme();
        assert_eq!(
            d.read("[12.345] Door S1 CLOSED"),
            Ok(Heard::Event {
                t_ms: Some(12_345),
                event: Event::Door {
                    c: "S1".try_into().unwrap(),
                    state: DoorState::Closed
                }
            })
        );
        assert_eq!(
            d.read("[0.100] ACME 2.4.1 on lk-12"),
            Ok(Heard::Banner {
                build: "2.4.1".into(),
                board: "lk-12".into()
            })
        );
        let Ok(Heard::Event { event, .. }) = d.read(r#"[1.000] LCD "ENTER CODE""#) else {
            panic!("no display event");
        };
        assert_eq!(event.to_string(), r#"display "ENTER CODE""#);
        // Lines no rule knows are for the transcript, not errors.
        assert_eq!(d.read("[1.000] heap 1234 free"), Ok(Heard::Other));
        assert_eq!(d.read("garbage without a time"), Ok(Heard::Other));
        assert!(d.has_time());
    }

    #[test]
    fn a_line_a_rule_matches_but_cannot_convert_names_the_line_and_the_rule() {
        let text = ACME.replace("(?P<state>OPEN|CLOSED)", r"(?P<state>\w+)");
        let d = Dialect::from_text(Path::new("acme.yaml"), &text).unwrap_or_else(|e| panic!("{e}"));
        let e = d.read("[2.000] Door S1 AJAR").unwrap_err();
        assert!(
            e.contains("line `[2.000] Door S1 AJAR` matches events[0]"),
            "{e}"
        );
        assert!(
            e.contains("`state` is `AJAR`, which its map does not have (it has `CLOSED`, `OPEN`)"),
            "{e}"
        );
    }

    #[test]
    fn commands_are_written_and_their_answers_read() {
        let d = acme();
        let clock = d.commands.clock.as_ref().unwrap();
        assert_eq!(clock.line(1_772_442_000), "settime 1772442000");
        assert!(clock.answered("time ok").is_some());
        let id = d.commands.identify.as_ref().unwrap();
        let caps = id.answered("version 2.4.1 lk-12").unwrap();
        assert_eq!(caps["build"], "2.4.1");
        assert_eq!(
            d.text_of("[3.000] version 2.4.1 lk-12"),
            Some("version 2.4.1 lk-12")
        );
    }

    /// Each mistake a dialect can have, at its node, all in one load.
    #[test]
    fn every_mistake_of_a_dialect_is_found_at_its_node() {
        let text = r#"name: broken
line: { match: '^(?P<text>.*)$', time: ms }
events:
  - match: '^Door (?P<c\w+)$'
    event: "door {c} open"
    example: "Door S1"
  - match: '^Bolt (?P<c>\w+)$'
    event: "bolt {c} {state}"
    example: "Bolt S1"
  - match: '^Temp (?P<v>\S+)$'
    event: "tmep {v}"
    example: "Temp 20.00"
  - match: '^Lock (?P<c>\w+)$'
    event: "lock {c}"
    example: "Lock S1"
  - match: '^Pkg (?P<c>\w+)$'
    event: "pkg {c} present"
    example: "Package S1"
commands:
  clock: { send: "settime {when}", answer: '^ok$' }
"#;
        let e = Dialect::from_text(Path::new("d.yaml"), text).unwrap_err();
        let got: Vec<(Option<(usize, usize)>, &str)> =
            e.iter().map(|e| (e.at, e.message.as_str())).collect();
        let says = |i: usize, what: &str| {
            assert!(got[i].1.contains(what), "{i}: {what}\n{e}");
        };
        assert_eq!(got.len(), 7, "{e}");
        says(
            0,
            "line.match: `time:` and a capture `(?P<t>...)` go together",
        );
        says(1, "events[0].match: not a regular expression");
        says(
            1,
            "invalid capture group character (column 12 of the pattern)",
        );
        says(
            2,
            "events[1].event: `{state}` is not a capture of events[1].match",
        );
        says(3, "events[2].event: `tmep` is not an event kind");
        says(3, "did you mean `temp`?");
        says(
            4,
            "events[3].example: `Lock S1`: `lock S1` is not an event the protocol knows",
        );
        says(
            5,
            "events[4].example: `Package S1` does not match events[4].match",
        );
        says(
            6,
            "commands.clock.send: `{when}` is not a value of this command (it has `{unix}`)",
        );
        let lines: Vec<usize> = got.iter().map(|(at, _)| at.unwrap().0).collect();
        assert_eq!(lines, [2, 4, 8, 11, 15, 18, 20], "{e}");
        // The bad character itself: `\` of `(?P<c\w+)`, after the quote.
        assert_eq!(got[1].0, Some((4, 24)), "{e}");
    }

    /// Only a pattern that does not compile is placed inside itself: an
    /// example that merely says "(column 9" stays at its own scalar.
    #[test]
    fn only_a_bad_pattern_moves_its_error_into_the_pattern() {
        let text = "name: x\nevents:\n  - match: '^Door (?P<c>\\w+) open$'\n    event: \"door {c} open\"\n    example: 'Door (column 9 of the pattern)'\n";
        let e = Dialect::from_text(Path::new("d.yaml"), text).unwrap_err();
        assert!(
            e[0].message.contains("does not match events[0].match"),
            "{e}"
        );
        assert_eq!(e[0].at, Some((5, 14)), "{e}");
    }

    #[test]
    fn a_hostile_pattern_is_refused_not_compiled_for_minutes() {
        let text = "name: x\nevents:\n  - match: '(\\w{100}){100}'\n    event: \"reset power\"\n    example: x\n";
        let e = Dialect::from_text(Path::new("d.yaml"), text).unwrap_err();
        assert!(
            e[0].message
                .contains("events[0].match: not a regular expression"),
            "{e}"
        );
        assert_eq!(e[0].at.map(|a| a.0), Some(3));
    }
}

#[cfg(feature = "schema")]
pub(crate) mod schema {
    /// The dialect file's schema.
    pub(crate) fn root(g: schemars::SchemaGenerator) -> schemars::Schema {
        g.into_root_schema_for::<super::RawDialect>()
    }
}
