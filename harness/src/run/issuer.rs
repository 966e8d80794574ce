//! Who mints a case's codes: the reference scheme ([`crate::run::backoffice`]),
//! or the firmware team's own back-office tool, run as a command.
//!
//! A command issuer gets one request as JSON on its standard input and
//! answers with JSON on its standard output, within its timeout:
//!
//! ```text
//! $ echo '{"kind":"pickup","station":4711,"compartment":"M1","compartment_index":2,
//!          "parcel":17,"window":20514,"unix_time":1772442000}' | their-backoffice mint
//! {"code":"48213307"}
//! ```
//!
//! `harness issue-code --rig RIG` is such a command for the reference
//! scheme: what a team's tool must answer for the reference firmware.

use crate::model::rigfile::{IssuerSpec, RigDescription};
use crate::rigs::RigError;
use crate::run::backoffice;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The most a command issuer may print: a code and its metadata.
const MAX_ANSWER: u64 = 64 * 1024;

/// What kind of code is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A customer's code for a parcel that was dropped off.
    Pickup,
    /// A courier's code to drop a parcel into a compartment.
    Dropoff,
    /// A customer's code to return a parcel into a free compartment of a size.
    Return,
    /// A courier's code to collect the returns.
    Collect,
}

/// One request for a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    pub kind: Kind,
    pub station: u32,
    /// The compartment's name, for pickup and drop-off codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compartment: Option<String>,
    /// Its place in the rig's door-sweep order (0 is the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compartment_index: Option<usize>,
    /// The parcel number the controller reported at drop-off (pickup codes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parcel: Option<u32>,
    /// `S`, `M` or `L` (return codes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<char>,
    /// The day window the code is for (unix time / 86400).
    pub window: u64,
    /// True time now, unix seconds.
    pub unix_time: u64,
}

/// What a command issuer answers.
#[derive(Debug, Deserialize)]
struct Answer {
    code: String,
}

impl CodeRequest {
    /// The code the reference scheme gives this request with `key`.
    pub fn reference(&self, key: &[u8; 16]) -> String {
        let c = self.compartment_index.unwrap_or(0) as u8;
        let (station, w) = (self.station, self.window);
        match self.kind {
            Kind::Pickup => backoffice::pickup(key, station, c, self.parcel.unwrap_or(0), w),
            Kind::Dropoff => backoffice::service(key, station, backoffice::DROPOFF, c, w),
            Kind::Return => {
                let digit = match self.size {
                    Some('S') => 1,
                    Some('M') => 2,
                    _ => 3,
                };
                backoffice::service(key, station, backoffice::RETURN, digit, w)
            }
            Kind::Collect => backoffice::service(key, station, backoffice::COLLECT, 0, w),
        }
    }
}

/// The code `desc`'s issuer gives `req`. Blocks while a command runs, never
/// past its timeout; whatever goes wrong is the rig's error.
pub fn issue(desc: &RigDescription, req: &CodeRequest) -> Result<String, RigError> {
    match &desc.issuer {
        IssuerSpec::Reference => Ok(req.reference(&desc.key)),
        IssuerSpec::Command { argv, timeout } => run(desc, argv, *timeout, req),
    }
}

fn run(
    desc: &RigDescription,
    argv: &[String],
    timeout: Duration,
    req: &CodeRequest,
) -> Result<String, RigError> {
    let who = format!(
        "the code issuer `{}` (controller.issuer in {})",
        argv.join(" "),
        desc.file.display()
    );
    let fail = |what: String| RigError::Console(format!("{who}: {what}"));
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| fail("no command".into()))?;
    let mut child = Command::new(program)
        .args(args)
        .current_dir(desc.file.parent().unwrap_or(std::path::Path::new(".")))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    let request = serde_json::to_string(req).map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A tool that does not read its input is told so by a broken pipe,
        // which is not ours to report: its answer (or silence) says.
        let _ = stdin.write_all(request.as_bytes());
        let _ = stdin.write_all(b"\n");
    }
    // Read its output on the side, so a tool that prints much never blocks.
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(MAX_ANSWER).read_to_end(&mut out);
        }
        out
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "no answer within {}s; it was stopped",
                    timeout.as_secs_f64()
                )));
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = (&mut e).take(4096).read_to_string(&mut err);
        }
        return Err(fail(format!("it failed ({status}): {}", err.trim())));
    }
    let text = String::from_utf8_lossy(&out);
    let answer: Answer = serde_json::from_str(text.trim()).map_err(|e| {
        let shown: String = text.trim().chars().take(120).collect();
        fail(format!(
            "its answer `{shown}` is not `{{\"code\": \"DIGITS\"}}`: {e}"
        ))
    })?;
    let ok =
        (4..=16).contains(&answer.code.len()) && answer.code.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err(fail(format!(
            "its code `{}` is not 4 to 16 digits",
            answer.code.chars().take(40).collect::<String>()
        )));
    }
    Ok(answer.code)
}
