//! A firmware whose only bug is to show the typed pickup code on its display
//! (issue 14: the code then appeared in clear 8 times in the JUnit file, 8
//! times in the HTML, and on the terminal). The echo is made at the console:
//! the sim controller's masked entry (`CODE ----`) is rewritten, correctly
//! framed, to show the digits the keypad injector typed. No report, page or
//! terminal line may hold the code, and the case fails for privacy even when
//! it also fails elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;

use locker_hil::model::rigfile::RigDescription;
use locker_hil::report::html::RunInfo;
use locker_hil::rigs::sim::SimRig;
use locker_hil::rigs::{FixtureAction, FlashReport, Rig, RigError, RigOutput};
use locker_hil::run::runner::{self, CaseReport, Outcome};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A controller that echoes what is typed instead of masking it.
struct Echoing {
    inner: SimRig,
    typed: String,
    /// Every whole code typed (eight digits or more before `#`).
    codes: Arc<Mutex<Vec<String>>>,
    pending: Vec<u8>,
}

impl Echoing {
    fn rewrite(&self, line: &str) -> String {
        let Ok((seq, body)) = locker_proto::parse_frame(line) else {
            return line.to_owned();
        };
        let Some(at) = body.find("display \"CODE ") else {
            return line.to_owned();
        };
        let shown = &body[at + 14..];
        let masked = shown.bytes().take_while(|&b| b == b'-').count();
        if masked == 0 || self.typed.len() < masked {
            return line.to_owned();
        }
        let digits = &self.typed[self.typed.len() - masked..];
        let echoed = format!("{}{digits}{}", &body[..at + 14], &shown[masked..]);
        let mut out = heapless::String::<{ locker_proto::MAX_LINE }>::new();
        locker_proto::encode_frame(seq, &echoed, &mut out).unwrap();
        out.trim_end().to_owned()
    }
}

impl Rig for Echoing {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn now(&self) -> Duration {
        self.inner.now()
    }
    fn true_unix_ms(&self) -> u64 {
        self.inner.true_unix_ms()
    }
    async fn flash(&mut self) -> Result<FlashReport, RigError> {
        self.inner.flash().await
    }
    async fn prepare(&mut self, seed: u64) -> Result<(), RigError> {
        self.typed.clear();
        self.pending.clear();
        self.inner.prepare(seed).await
    }
    async fn send(&mut self, bytes: &[u8]) -> Result<(), RigError> {
        self.inner.send(bytes).await
    }
    async fn recv(&mut self, until: Duration) -> Result<RigOutput, RigError> {
        match self.inner.recv(until).await? {
            RigOutput::Console(bytes) => {
                self.pending.extend_from_slice(&bytes);
                let Some(end) = self.pending.iter().rposition(|&b| b == b'\n') else {
                    return Ok(RigOutput::Idle);
                };
                let whole: Vec<u8> = self.pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&whole);
                let mut out = String::new();
                for line in text.lines() {
                    out.push_str(&self.rewrite(line));
                    out.push('\n');
                }
                Ok(RigOutput::Console(out.into_bytes()))
            }
            other => Ok(other),
        }
    }
    async fn act(&mut self, action: &FixtureAction) -> Result<(), RigError> {
        if let FixtureAction::Key(k) = action {
            match k {
                '0'..='9' => self.typed.push(*k),
                '#' => {
                    if self.typed.len() >= 8 {
                        self.codes.lock().unwrap().push(self.typed.clone());
                    }
                    self.typed.clear();
                }
                _ => self.typed.clear(),
            }
        }
        self.inner.act(action).await
    }
}

fn run(suite: &str) -> (Vec<CaseReport>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("echo.yaml");
    std::fs::write(&file, suite).unwrap();
    let suites = locker_hil::model::load_suites(&[file]).unwrap();
    let plan = runner::plan(&suites, |_, _| true);
    let desc = Arc::new(RigDescription::load(&repo().join("rigs/sim.yaml")).unwrap());
    let codes = Arc::new(Mutex::new(Vec::new()));
    let (d, c) = (desc.clone(), codes.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let reports = rt.block_on(runner::run(
        plan,
        1,
        desc,
        move |_| {
            Ok(Echoing {
                inner: SimRig::new((*d).clone()),
                typed: String::new(),
                codes: c.clone(),
                pending: Vec::new(),
            })
        },
        |_| {},
    ));
    let codes = codes.lock().unwrap().clone();
    (reports, codes)
}

const SUITE: &str = r##"name: echo
cases:
  - name: the code opens its compartment
    setup:
      - parcel: { compartment: M1, code: $pickup }
    steps:
      - keys: "$pickup#"
      - expect: { lock: released, compartment: M1, within: 2s }
  - name: the code is typed and then something else fails
    setup:
      - parcel: { compartment: M1, code: $pickup }
    steps:
      - keys: "$pickup"
      - expect: { display: "NEVER SHOWN", within: 1s }
      - keys: "#"
"##;

#[test]
fn an_echoed_code_is_in_no_report_page_or_terminal_line_and_fails_the_case() {
    let (reports, codes) = run(SUITE);
    assert!(!codes.is_empty(), "the keypad typed no code");
    // The echo is real: a masked entry would have shown dashes.
    let xml = locker_hil::report::junit(&reports, false)
        .to_string()
        .unwrap();
    let page = locker_hil::report::html::render(
        &reports,
        &RunInfo {
            rig: "sim".into(),
            started: SystemTime::UNIX_EPOCH,
            wall: Duration::ZERO,
            state: locker_hil::report::RunState::Complete,
            page: None,
        },
    );
    let terminal: String = (reports.iter())
        .map(|r| locker_hil::report::terminal::case_line(r, usize::MAX, usize::MAX))
        .chain([locker_hil::report::terminal::summary(
            &reports,
            Duration::ZERO,
        )])
        .collect();
    let traces: String = reports.iter().flat_map(|r| r.trace.lines()).collect();
    for (what, text) in [
        ("JUnit", &xml),
        ("HTML", &page),
        ("terminal", &terminal),
        ("trace", &traces),
    ] {
        for code in &codes {
            assert!(
                !text.contains(code.as_str()),
                "{what} holds the code {code} in clear"
            );
        }
    }
    assert!(xml.contains("CODE $pickup"), "the echo is shown, redacted");
    for r in &reports {
        let Outcome::Failed { step, message } = &r.outcome else {
            panic!("{}: {:?}", r.name, r.outcome);
        };
        assert_eq!(step, "privacy", "{}", r.name);
        assert!(
            message.starts_with("a code appeared in clear on the console (")
                && message.lines().next().unwrap_or("").contains("$pickup"),
            "{message}"
        );
    }
    let Outcome::Failed { message, .. } = &reports[1].outcome else {
        unreachable!()
    };
    assert!(
        message.contains("the case also failed at steps[1] `expect display \"NEVER SHOWN\""),
        "{message}"
    );
}

/// The code `harness rig issue-code` gives `request` on the sim rig.
fn minted(request: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["rig", "issue-code", "--rig", "rigs/sim.yaml"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split('"').nth(3).unwrap().to_owned()
}

/// Issue 18: a suite that typed a code's digits instead of its `$name`
/// passed, with the code in the suite and every report. Where `check` can
/// know the code (a service code the reference scheme gives for the sim's
/// day), it is refused at the `keys` step; where it cannot (a pickup code
/// names the parcel the controller numbers), the case fails for privacy
/// and no report holds the digits.
#[test]
fn a_code_typed_as_digits_is_refused_at_check_or_fails_the_case() {
    let dir = tempfile::tempdir().unwrap();
    // 2026-03-02, the sim's first day: window 20514.
    let courier = minted(
        r#"{"kind":"dropoff","station":4711,"compartment":"M1","compartment_index":2,"window":20514,"unix_time":1772442000}"#,
    );
    let suite = dir.path().join("typed.yaml");
    std::fs::write(
        &suite,
        format!(
            "name: typed\ncases:\n  - name: courier\n    steps:\n      - issue: {{ kind: dropoff, compartment: M1, as: $c }}\n      - keys: \"{courier}#\"\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["check", suite.to_str().unwrap(), "--rig", "rigs/sim.yaml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`keys` types the digits of the code an `issue` step binds to `$c`"),
        "{err}"
    );
    assert!(err.contains("typed.yaml:6:15"), "{err}");

    let pickup = minted(
        r#"{"kind":"pickup","station":4711,"compartment":"M1","compartment_index":2,"parcel":1,"window":20514,"unix_time":1772442000}"#,
    );
    std::fs::write(
        &suite,
        format!(
            "name: typed\ncases:\n  - name: pickup\n    steps:\n      - parcel: {{ compartment: M1, code: $pickup }}\n      - keys: \"{pickup}#\"\n      - expect: {{ lock: released, compartment: M1, within: 2s }}\n"
        ),
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["run", suite.to_str().unwrap(), "--junit"])
        .arg(&junit)
        .arg("--html")
        .arg(dir.path().join("index.html"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("the suite types a code as digits ($pickup)"),
        "{said}"
    );
    for f in ["junit.xml", "index.html"] {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(!text.contains(&pickup), "{f} holds the code");
    }
    assert!(!said.contains(&pickup));
}
