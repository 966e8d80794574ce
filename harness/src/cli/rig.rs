//! `harness rig serve` and `harness rig check`.

use crate::cli::{Exit, report_errors};
use crate::model::rigfile::{RigDescription, RigKind};
use std::io::Read;
use std::path::Path;

/// `harness rig serve --pty`: runs until stopped.
pub(super) fn rig_serve(path: &Path, pty: bool, speed: f64, as_bench: Option<&Path>) -> Exit {
    let rig = match RigDescription::load(path) {
        Ok(r) => r,
        Err(e) => return report_errors(&e),
    };
    let bench = match as_bench.map(RigDescription::load) {
        None => None,
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => return report_errors(&e),
    };
    if !pty {
        eprintln!("error: say how to serve the rig: `--pty` (pseudo-terminals)");
        return Exit::BadInput;
    }
    if !(speed > 0.0 && speed <= 1000.0) {
        eprintln!("error: --speed must be above 0 and at most 1000");
        return Exit::BadInput;
    }
    if !matches!(rig.kind, RigKind::Sim(_)) {
        eprintln!(
            "error: rig `{}` is a {} rig; only sim rigs can be served",
            rig.name,
            rig.kind_name()
        );
        return Exit::BadInput;
    }
    let result = crate::rigs::sim::serve::serve(
        &rig,
        bench.as_ref(),
        speed,
        |s| {
            use std::io::Write;
            out!("console: {}", s.console);
            out!("board:   {}", s.board);
            out!("chamber: {}", s.chamber);
            out!("supply:  {}", s.supply);
            if let Some(b) = &bench {
                out!("as bench `{}` ({}):", b.name, b.file.display());
                for line in &s.also {
                    out!("  {line}");
                }
                out!(
                    "serving rig `{}` in real time (x{speed}) as {}; Ctrl-C stops it.",
                    rig.name,
                    b.file.display()
                );
            } else {
                out!(
                    "serving rig `{}` in real time (x{speed}); Ctrl-C stops it. As a bench rig file:\n  console: {{ port: {}, baud: 115200 }}\nfixtures:\n{}",
                    rig.name,
                    s.console,
                    s.fixtures_yaml()
                );
            }
            let _ = std::io::stdout().flush();
        },
        |line| out!("{line}"),
    );
    match result {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::RigError
        }
    }
}

/// `harness rig check`: exit 0 when every part is ready, 3 when one is not.
pub(super) fn rig_check(path: &Path) -> Exit {
    let rig = match RigDescription::load(path) {
        Ok(r) => r,
        Err(e) => return report_errors(&e),
    };
    let parts = crate::rigs::preflight::check(&rig);
    out!(
        "{}",
        crate::report::terminal::preflight(&rig, &parts).trim_end()
    );
    if parts
        .iter()
        .all(|p| matches!(p.verdict, crate::rigs::Verdict::Ok(_)))
    {
        Exit::Ok
    } else {
        Exit::RigError
    }
}

/// `harness rig issue-code`: one request on standard input, its code on
/// standard output.
pub(super) fn issue_code(path: &Path) -> Exit {
    let rig = match RigDescription::load(path) {
        Ok(r) => r,
        Err(e) => return report_errors(&e),
    };
    let mut input = String::new();
    if let Err(e) = std::io::stdin().take(64 * 1024).read_to_string(&mut input) {
        eprintln!("error: cannot read the request: {e}");
        return Exit::BadInput;
    }
    match serde_json::from_str::<crate::run::issuer::CodeRequest>(input.trim()) {
        Ok(req) => {
            out!("{}", serde_json::json!({ "code": req.reference(&rig.key) }));
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: the request is not a code request: {e}");
            Exit::BadInput
        }
    }
}
