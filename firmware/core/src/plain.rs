//! The plain-text console: the reference firmware printing logs the way
//! vendor firmware does (`I (12345) door: S1 is OPEN`), with no frames, no
//! sequence numbers and no checksums, and taking plain commands (`version`,
//! `time 1772442000`, `factory`, `status`, `ping`). It exists so that the
//! harness's console dialects are proven on a real firmware's output;
//! `dialects/locker-plain.yaml` is the dialect that reads it.

use core::fmt::Write;
use locker_proto::{Command, DiagItem, Event, ResetCause, Response};

/// A level letter, the uptime in milliseconds and a tag, as ESP-IDF's
/// logger writes them.
fn head(out: &mut impl Write, level: char, t_ms: u64, tag: &str) {
    let _ = write!(out, "{level} ({t_ms}) {tag}: ");
}

fn upper(out: &mut impl Write, word: &str) {
    for c in word.chars() {
        let _ = out.write_char(c.to_ascii_uppercase());
    }
}

/// The boot banner.
pub fn hello(out: &mut impl Write, build: &str, board: &str, reset: ResetCause) {
    head(out, 'I', 0, "boot");
    let _ = write!(
        out,
        "Locker controller {build} on {board} (reset: {reset})\r\n"
    );
}

/// One event as a log line.
pub fn event(out: &mut impl Write, t_ms: u64, event: &Event) {
    let (level, tag) = match event {
        Event::Door { .. } => ('I', "door"),
        Event::Bolt { .. } => ('I', "bolt"),
        Event::Lock { .. } => ('I', "lock"),
        Event::Package { .. } => ('I', "sensor"),
        Event::Display(_) => ('I', "lcd"),
        Event::Led(_) => ('I', "led"),
        Event::Error { .. } => ('E', "fault"),
        Event::ErrorCleared { .. } => ('I', "fault"),
        Event::Temp { .. } => ('D', "temp"),
        Event::Heater(_) => ('I', "heater"),
        Event::LinkState { up: false, .. } => ('W', "net"),
        Event::LinkState { .. } | Event::LinkActive(Some(_)) => ('I', "net"),
        Event::LinkActive(None) => ('W', "net"),
        Event::Lockout { .. } => ('W', "keypad"),
        Event::LockoutEnd | Event::Keypad { .. } | Event::KeypadCleared { .. } => ('D', "keypad"),
        Event::Code { .. } => ('I', "code"),
        Event::Unlock { .. } => ('I', "solenoid"),
        Event::Dropoff { .. }
        | Event::Pickup { .. }
        | Event::Return { .. }
        | Event::Collected { .. } => ('I', "parcel"),
        Event::Expired { .. } => ('W', "parcel"),
        Event::Reinstated { .. } => ('I', "parcel"),
        Event::Uplink { .. } => ('I', "uplink"),
        Event::Diag { .. } => ('I', "selftest"),
        Event::Reset(_) => ('W', "reset"),
    };
    head(out, level, t_ms, tag);
    let _ = match event {
        Event::Door { c, state } => {
            let _ = write!(out, "{c} is ");
            upper(out, state.as_str());
            Ok(())
        }
        Event::Bolt { c, state } => {
            let _ = write!(out, "{c} ");
            upper(out, state.as_str());
            Ok(())
        }
        Event::Lock { c, state } => {
            let _ = write!(out, "{c} ");
            upper(out, state.as_str());
            Ok(())
        }
        Event::Package { c, present } => {
            write!(
                out,
                "{c} package {}",
                if *present { "PRESENT" } else { "ABSENT" }
            )
        }
        Event::Display(text) => write!(out, "\"{text}\""),
        Event::Led(p) => write!(out, "{p}"),
        Event::Error { code, c: Some(c) } => write!(out, "{code} on {c}"),
        Event::Error { code, c: None } => write!(out, "{code}"),
        Event::ErrorCleared { code, c: Some(c) } => write!(out, "{code} cleared on {c}"),
        Event::ErrorCleared { code, c: None } => write!(out, "{code} cleared"),
        Event::Temp { centi } => {
            let sign = if *centi < 0 { "-" } else { "" };
            let a = centi.unsigned_abs();
            write!(out, "{sign}{}.{:02} C", a / 100, a % 100)
        }
        Event::Heater(on) => out.write_str(if *on { "ON" } else { "OFF" }),
        Event::LinkState { link, up } => {
            write!(out, "{link} link {}", if *up { "UP" } else { "DOWN" })
        }
        Event::LinkActive(Some(link)) => write!(out, "using {link}"),
        Event::LinkActive(None) => out.write_str("offline"),
        Event::Lockout { seconds } => write!(out, "locked out for {seconds} s"),
        Event::LockoutEnd => out.write_str("lockout over"),
        Event::Keypad { digits } => write!(out, "{digits} digit(s)"),
        Event::KeypadCleared { timeout: false } => out.write_str("entry cleared"),
        Event::KeypadCleared { timeout: true } => out.write_str("entry timed out"),
        Event::Code { result, c } => {
            upper(out, result.as_str());
            match c {
                Some(c) => write!(out, " for {c}"),
                None => Ok(()),
            }
        }
        Event::Unlock {
            c,
            attempt,
            pulse_ms,
        } => write!(out, "{c} pulse #{attempt} {pulse_ms} ms"),
        Event::Dropoff { c, parcel } => write!(out, "#{parcel} dropped off in {c}"),
        Event::Pickup { c, parcel } => write!(out, "#{parcel} picked up from {c}"),
        Event::Return { c, id } => write!(out, "return {id} into {c}"),
        Event::Collected { c } => write!(out, "returns collected from {c}"),
        Event::Expired { c, parcel } => write!(out, "#{parcel} in {c} expired"),
        Event::Reinstated { c, parcel } => write!(out, "#{parcel} in {c} waits again"),
        Event::Uplink { seq, kind, via } => write!(out, "record {seq} ({kind}) sent via {via}"),
        Event::Diag { item, result } => {
            let _ = match item {
                DiagItem::Door(c) => write!(out, "door {c} "),
                DiagItem::Link(l) => write!(out, "link {l} "),
                DiagItem::Done => out.write_str("done, "),
            };
            upper(out, result.as_str());
            Ok(())
        }
        Event::Reset(cause) => write!(out, "{cause}"),
    };
    let _ = out.write_str("\r\n");
}

/// The answer to a command, at uptime `t_ms`.
pub fn response(out: &mut impl Write, t_ms: u64, response: &Response) {
    let _ = match response {
        Response::Ok => {
            head(out, 'I', t_ms, "cmd");
            out.write_str("ok")
        }
        Response::Err(text) => {
            head(out, 'E', t_ms, "cmd");
            write!(out, "{text}")
        }
        Response::Ident { build, board, .. } => {
            head(out, 'I', t_ms, "version");
            write!(out, "{build} {board}")
        }
        Response::Status(s) => {
            head(out, 'I', t_ms, "status");
            write!(
                out,
                "uptime {} ms, rtc {}, failed {}, lockout {} s, queued {}",
                s.uptime_ms, s.rtc_s, s.failed, s.lockout_s, s.queued
            )
        }
    };
    let _ = out.write_str("\r\n");
}

/// A plain command line (without its line ending), or `None`.
pub fn command(line: &str) -> Option<Command> {
    let mut w = line.split_whitespace();
    let cmd = match w.next()? {
        "version" => Command::Identify,
        "status" => Command::Status,
        "ping" => Command::Ping,
        "time" => Command::ClockSet(w.next()?.parse().ok()?),
        "factory" => Command::FactoryReset,
        _ => return None,
    };
    w.next().is_none().then_some(cmd)
}
