//! A corpus of malformed and hostile suite and rig files: each is refused
//! with exit 2 and an error naming the file and line, in bounded time, and
//! never panics (alias bombs, deep nesting, huge files included).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;

use rstest::rstest;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn alias_bomb(top: &str) -> Vec<u8> {
    let mut s = format!(
        "name: bomb\n{top}:\n  - &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
    );
    let mut prev = 'a';
    for n in 'b'..='j' {
        s += &format!(
            "  - &{n} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        );
        prev = n;
    }
    s += &format!("description: *{prev}\ncases: *{prev}\n");
    s.into_bytes()
}

fn corpus(name: &str) -> Vec<u8> {
    match name {
        "empty" => Vec::new(),
        "only_comments" => b"# nothing here\n\n# still nothing\n".to_vec(),
        "not_utf8" => b"name: caf\xe9\ncases: []\n".to_vec(),
        "nul_byte" => b"name: a\x00b\ncases: []\n".to_vec(),
        "tab_indent" => b"name: t\ncases:\n\t- name: x\n".to_vec(),
        "unterminated_string" => b"name: \"abc\ncases: []\n".to_vec(),
        "unterminated_flow" => b"name: x\ncases: [{ name: y, steps: [\n".to_vec(),
        "duplicate_key" => b"name: a\ncases: []\nname: b\n".to_vec(),
        "top_level_list" => b"- name: x\n- name: y\n".to_vec(),
        "top_level_scalar" => b"just a string\n".to_vec(),
        "unknown_step" => {
            b"name: s\ncases:\n  - name: c\n    steps:\n      - teleport: M1\n".to_vec()
        }
        "wrong_unit" => {
            b"name: s\ncases:\n  - name: c\n    steps:\n      - wait: 5 parsecs\n".to_vec()
        }
        "huge_duration" => {
            b"name: s\ncases:\n  - name: c\n    steps:\n      - wait: 99999999999d\n".to_vec()
        }
        "alias_bomb" => alias_bomb("tags"),
        "alias_bomb_cases" => alias_bomb("x-anchors"),
        "deep_flow_seq" => format!(
            "name: x\ncases: {}{}\n",
            "[".repeat(200_000),
            "]".repeat(200_000)
        )
        .into_bytes(),
        "deep_flow_map" => format!(
            "name: x\ncases: {}1{}\n",
            "{a: ".repeat(100_000),
            "}".repeat(100_000)
        )
        .into_bytes(),
        "deep_block" => {
            let mut s = String::from("name: x\ncases:\n");
            for i in 0..2_000 {
                s += &" ".repeat(2 * (i + 1));
                s += "-\n";
            }
            s.into_bytes()
        }
        "many_keys" => {
            let mut s = String::from("name: x\ncases:\n  - name: c\n    steps:\n");
            for _ in 0..200_000 {
                s += "      - wait: 1s\n";
            }
            s += "      - teleport: x\n";
            s.into_bytes()
        }
        "over_size_limit" => {
            let mut v = b"name: big\ndescription: \"".to_vec();
            v.resize(v.len() + 20 * 1024 * 1024, b'x');
            v.extend_from_slice(b"\"\ncases: []\n");
            v
        }
        // Fourteen million items: the parser would hold them all in memory.
        "wide_flow" => format!("name: x\ncases: [{}1]\n", "1,".repeat(7_000_000)).into_bytes(),
        "long_line_error" => {
            format!("name: x\ncases: [{}teleport]\n", "\" \", ".repeat(50_000)).into_bytes()
        }
        other => panic!("no corpus file {other}"),
    }
}

/// The sim rig, its console read through the dialect file `dialect` (a
/// name in the same folder).
fn dialect_rig(dialect: &str) -> String {
    let sim = std::fs::read_to_string(repo().join("rigs/sim.yaml")).unwrap();
    let firmware = repo().join("firmware/core");
    sim.replace(
        "controller:\n",
        &format!("controller:\n  dialect: {dialect}\n"),
    )
    .replace("../firmware/core", firmware.to_str().unwrap())
}

fn check(args: &[&str], dir: &Path) -> (Option<i32>, String, Duration) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.code(), text, t.elapsed())
}

#[rstest]
fn hostile_suite_files_are_refused_promptly(
    #[values(
        "empty",
        "only_comments",
        "not_utf8",
        "nul_byte",
        "tab_indent",
        "unterminated_string",
        "unterminated_flow",
        "duplicate_key",
        "top_level_list",
        "top_level_scalar",
        "unknown_step",
        "wrong_unit",
        "huge_duration",
        "alias_bomb",
        "alias_bomb_cases",
        "deep_flow_seq",
        "deep_flow_map",
        "deep_block",
        "many_keys",
        "over_size_limit",
        "long_line_error",
        "wide_flow"
    )]
    name: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let file = format!("{name}.yaml");
    std::fs::write(dir.path().join(&file), corpus(name)).unwrap();
    let rig = repo().join("rigs/sim.yaml");
    // As a suite, as a rig file, and as the console dialect a rig names.
    let abs = dir.path().join(&file);
    let with_dialect = dir.path().join("with-dialect.yaml");
    std::fs::write(&with_dialect, dialect_rig(&file)).unwrap();
    for (args, cwd) in [
        (
            vec!["check", file.as_str(), "--rig", rig.to_str().unwrap()],
            dir.path().to_owned(),
        ),
        (vec!["check", "--rig", abs.to_str().unwrap()], repo()),
        (
            vec!["check", "--rig", with_dialect.to_str().unwrap()],
            repo(),
        ),
    ] {
        let (code, text, took) = check(&args, &cwd);
        assert_eq!(code, Some(2), "{args:?}:\n{text}");
        assert!(text.contains(&file), "names the file: {text}");
        assert!(!text.contains("panicked"), "{text}");
        assert!(took < Duration::from_secs(10), "{args:?} took {took:?}");
        // Errors about a place in the file say which line; size and emptiness have none.
        if !matches!(name, "empty" | "only_comments" | "over_size_limit") {
            assert!(text.contains(&format!("{file}:")), "names the line: {text}");
        }
        // A long line is shown as a window, not pasted whole into the terminal.
        assert!(
            text.lines().all(|l| l.chars().count() < 400),
            "{}",
            &text[..text.len().min(600)]
        );
    }
}

/// Issue 14: a FIFO or `/dev/stdin` named as an input hung forever,
/// `/dev/zero` was read without limit, `firmware: /dev/zero` passed
/// `check`, and nested repeats passed `check` and then exhausted memory.
/// Each is refused at once, naming the input, without reading it.
#[rstest]
#[case::fifo_suite("fifo-suite", "a FIFO, not a regular file")]
#[case::dev_zero_suite("zero-suite", "a character device, not a regular file")]
#[case::stdin_suite("stdin-suite", "not a regular file")]
#[case::fifo_rig("fifo-rig", "a FIFO, not a regular file")]
#[case::fifo_durations("fifo-durations", "a FIFO, not a regular file")]
#[case::device_firmware(
    "zero-firmware",
    "controller.firmware: /dev/zero is a character device"
)]
#[case::nested_repeats("repeats", "runs 1001001001 steps with its repeats multiplied out")]
fn unbounded_inputs_are_refused_without_reading_them(#[case] input: &str, #[case] says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.yaml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let fifo = fifo.to_str().unwrap().to_owned();
    let suite = repo().join("suites/jams.yaml").to_str().unwrap().to_owned();
    let rig = repo().join("rigs/sim.yaml").to_str().unwrap().to_owned();
    let bad_rig = dir.path().join("zero.yaml");
    let sim = std::fs::read_to_string(repo().join("rigs/sim.yaml")).unwrap();
    std::fs::write(&bad_rig, sim.replace("../firmware/core", "/dev/zero")).unwrap();
    let repeats = dir.path().join("repeats.yaml");
    std::fs::write(
        &repeats,
        "name: r\ncases:\n  - name: a billion waits\n    steps:\n      - repeat:\n          times: 1000\n          steps:\n            - repeat:\n                times: 1000\n                steps:\n                  - repeat: { times: 1000, steps: [ { wait: 1s } ] }\n",
    )
    .unwrap();
    let args: Vec<&str> = match input {
        "fifo-suite" => vec!["check", &fifo, "--rig", &rig],
        "zero-suite" => vec!["check", "/dev/zero", "--rig", &rig],
        "stdin-suite" => vec!["check", "/dev/stdin", "--rig", &rig],
        "fifo-rig" => vec!["check", &suite, "--rig", &fifo],
        "fifo-durations" => vec!["list", &suite, "--shard", "1/2", "--durations", &fifo],
        "zero-firmware" => vec!["check", &suite, "--rig", bad_rig.to_str().unwrap()],
        "repeats" => vec!["check", repeats.to_str().unwrap(), "--rig", &rig],
        other => panic!("no input {other}"),
    };
    // Standard input a pipe that never ends: reading it would hang.
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
    assert!(text.contains(says), "{args:?}: {text}");
    assert!(!text.contains("panicked"), "{text}");
}

/// Issue 16: a dialect that cannot work is refused by `harness check`,
/// each mistake at its node in the dialect file, with what was expected.
#[rstest]
#[case::bad_regex(
    "name: d\nevents:\n  - match: '^Door (?P<c\\w+)$'\n    event: \"door {c} open\"\n    example: Door S1\n",
    "d.yaml:3:24",
    "events[0].match: not a regular expression: invalid capture group character (column 12 of the pattern)"
)]
#[case::regex_too_big(
    "name: d\nevents:\n  - match: '(\\w{200}){200}'\n    event: \"reset soft\"\n    example: x\n",
    "d.yaml:3:12",
    "events[0].match: not a regular expression"
)]
#[case::undefined_capture(
    "name: d\nevents:\n  - match: '^Bolt (?P<c>\\w+)$'\n    event: \"bolt {c} {state}\"\n    example: Bolt S1\n",
    "d.yaml:4:12",
    "`{state}` is not a capture of events[0].match"
)]
#[case::missing_field(
    "name: d\nevents:\n  - match: '^Lock (?P<c>\\w+)$'\n    event: \"lock {c}\"\n    example: Lock S1\n",
    "d.yaml:5:14",
    "`lock S1` is not an event the protocol knows: missing lock state"
)]
#[case::unknown_event(
    "name: d\nevents:\n  - match: '^T (?P<v>\\S+)$'\n    event: \"tmep {v}\"\n    example: T 1.00\n",
    "d.yaml:4:12",
    "did you mean `temp`?"
)]
#[case::unknown_key(
    "name: d\nevents:\n  - match: '^x$'\n    evnet: \"reset soft\"\n    example: x\n",
    "d.yaml:4:5",
    "unknown field `evnet`"
)]
fn hostile_dialects_are_refused_at_their_node(
    #[case] dialect: &str,
    #[case] at: &str,
    #[case] says: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("d.yaml"), dialect).unwrap();
    let rig = dir.path().join("rig.yaml");
    std::fs::write(&rig, dialect_rig("d.yaml")).unwrap();
    let (code, text, _) = check(&["check", "--rig", rig.to_str().unwrap()], &repo());
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains(at), "{at}:\n{text}");
    assert!(text.contains(says), "{says}:\n{text}");
    assert!(!text.contains("panicked"), "{text}");
}
