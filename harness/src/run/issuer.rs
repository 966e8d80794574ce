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

use crate::model::rigfile::issuer::{CODE_DIGITS, is_code};
use crate::model::rigfile::{IssuerSpec, RigDescription, TableCode};
use crate::rigs::{RigError, tool};
use crate::run::backoffice;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use crate::model::suite::CodeKind as Kind;

/// The most a command issuer may print: a code and its metadata.
const MAX_ANSWER: usize = 64 * 1024;

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
    /// The request as an error message names it: `a pickup code for M1
    /// (parcel 17) at station 4711`.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            Kind::Pickup => "pickup",
            Kind::Dropoff => "drop-off",
            Kind::Return => "return",
            Kind::Collect => "collect",
        };
        let mut s = format!("a {kind} code");
        if let Some(c) = &self.compartment {
            s.push_str(&format!(" for {c}"));
        }
        if let Some(p) = self.parcel {
            s.push_str(&format!(" (parcel {p})"));
        }
        if let Some(z) = self.size {
            s.push_str(&format!(" of size {z}"));
        }
        s.push_str(&format!(" at station {}", self.station));
        s
    }

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
        IssuerSpec::Table(codes) => from_table(desc, codes, req),
    }
}

/// The most specific entry of a provisioned table that `req` matches.
fn from_table(
    desc: &RigDescription,
    codes: &[TableCode],
    req: &CodeRequest,
) -> Result<String, RigError> {
    // A provisioned code is good on any day: a case that asks for another
    // day's code tests what a table cannot give.
    let today = backoffice::window(req.unix_time);
    if req.window != today {
        return Err(RigError::Unsupported(format!(
            "give {} for another day ({:+} from today) from the code table (controller.issuer.table in {}): provisioned codes have no days",
            req.describe(),
            req.window as i64 - today as i64,
            desc.file.display()
        )));
    }
    let matches = |c: &TableCode| {
        c.kind == req.kind
            && c.compartment
                .as_ref()
                .is_none_or(|n| req.compartment.as_ref() == Some(n))
            && c.size.is_none_or(|s| req.size == Some(s))
            && c.parcel.is_none_or(|p| req.parcel == Some(p))
            && c.station.unwrap_or(desc.station) == req.station
    };
    // The first of the most specific, as the table lists them.
    let best = codes
        .iter()
        .filter(|c| matches(c))
        .rev()
        .max_by_key(|c| c.specificity());
    best.map(|c| c.code.clone()).ok_or_else(|| {
        RigError::Console(format!(
            "the code table (controller.issuer.table in {}) has no code for {}",
            desc.file.display(),
            req.describe()
        ))
    })
}

fn run(
    desc: &RigDescription,
    argv: &[String],
    timeout: Duration,
    req: &CodeRequest,
) -> Result<String, RigError> {
    let fail = |what: String| {
        RigError::Console(format!(
            "the code issuer `{}` (controller.issuer in {}): {what}",
            argv.join(" "),
            desc.file.display()
        ))
    };
    let mut request = serde_json::to_string(req).map_err(|e| fail(e.to_string()))?;
    request.push('\n');
    let dir = desc.file.parent().unwrap_or(std::path::Path::new("."));
    let ran = tool::run(argv, dir, request.as_bytes(), timeout, MAX_ANSWER)
        .map_err(|e| fail(e.to_string()))?;
    if !ran.status.success() {
        let err = String::from_utf8_lossy(&ran.stderr);
        let err: String = err.trim().chars().take(4096).collect();
        return Err(fail(format!("it failed ({}): {err}", ran.status)));
    }
    let text = String::from_utf8_lossy(&ran.stdout);
    let answer: Answer = serde_json::from_str(text.trim()).map_err(|e| {
        let shown: String = text.trim().chars().take(120).collect();
        fail(format!(
            "its answer `{shown}` is not `{{\"code\": \"DIGITS\"}}`: {e}"
        ))
    })?;
    if !is_code(&answer.code) {
        return Err(fail(format!(
            "its code `{}` is not {} to {} digits",
            answer.code.chars().take(40).collect::<String>(),
            CODE_DIGITS.start(),
            CODE_DIGITS.end()
        )));
    }
    Ok(answer.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rig(issuer: &str) -> RigDescription {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = std::fs::read_to_string(root.join("rigs/sim.yaml"))
            .unwrap_or_default()
            .replace(
                "controller:\n",
                &format!("controller:\n  issuer: {issuer}\n"),
            );
        RigDescription::from_text(&root.join("rigs/table.yaml"), &text)
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn pickup(compartment: &str, parcel: u32, station: u32, window: u64) -> CodeRequest {
        CodeRequest {
            kind: Kind::Pickup,
            station,
            compartment: Some(compartment.into()),
            compartment_index: Some(2),
            parcel: Some(parcel),
            size: None,
            window,
            unix_time: 20_514 * 86_400 + 3_600,
        }
    }

    /// The entry that names the most wins; another station's entry is for
    /// that station only; another day's code is not the table's to give.
    #[test]
    fn a_table_gives_the_most_specific_matching_code_for_today() {
        let desc = rig(
            "{ table: [{ kind: pickup, code: \"1111\" }, { kind: pickup, compartment: M1, code: \"2222\" }, { kind: pickup, compartment: M1, parcel: 7, code: \"3333\" }, { kind: pickup, station: 9, code: \"4444\" }] }",
        );
        let code = |r: CodeRequest| issue(&desc, &r);
        assert_eq!(code(pickup("M1", 7, 4711, 20_514)).as_deref(), Ok("3333"));
        assert_eq!(code(pickup("M1", 8, 4711, 20_514)).as_deref(), Ok("2222"));
        assert_eq!(code(pickup("S1", 8, 4711, 20_514)).as_deref(), Ok("1111"));
        assert_eq!(code(pickup("M1", 7, 9, 20_514)).as_deref(), Ok("4444"));
        let e = code(pickup("M1", 7, 10, 20_514)).unwrap_err().to_string();
        assert!(
            e.contains("has no code for a pickup code for M1 (parcel 7) at station 10"),
            "{e}"
        );
        let e = code(pickup("M1", 7, 4711, 20_513)).unwrap_err().to_string();
        assert!(e.contains("for another day (-1 from today)"), "{e}");
    }
}
