//! A lab's own tool, run as a command: a flashing script, a back-office
//! code minter. Whatever the tool does, the harness gets an answer within
//! the tool's timeout. Its output is read on the side and bounded (the
//! beginning and the end are kept, so a tool that prints without end
//! neither blocks nor fills memory, and its last words survive). It runs in
//! a process group of its own: one that overruns is stopped with whatever
//! it started, what it leaves running when it exits (a daemon holding the
//! probe) is stopped too, and a run stopped by a signal stops every tool
//! still running ([`stop_all`]).

use std::collections::{BTreeSet, VecDeque};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

/// What a finished tool left.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    /// Its standard output, at most `keep` bytes of it (see [`Output`]).
    pub stdout: Vec<u8>,
    /// Its standard error, likewise.
    pub stderr: Vec<u8>,
    pub took: Duration,
}

impl Ran {
    /// Its output as lines, standard output first, lossy UTF-8.
    pub fn lines(&self) -> Vec<String> {
        lines(&self.stdout, &self.stderr)
    }

    /// The last `n` lines of its output, for an error message.
    pub fn tail(&self, n: usize) -> String {
        tail(&self.lines(), n)
    }
}

fn lines(stdout: &[u8], stderr: &[u8]) -> Vec<String> {
    [stdout, stderr]
        .iter()
        .flat_map(|b| {
            String::from_utf8_lossy(b)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn tail(lines: &[String], n: usize) -> String {
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Lines of an overrun tool's output quoted in its error.
const QUOTED: usize = 20;

/// Why a tool gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("it cannot start: {0}")]
    Start(String),
    #[error("no answer within {}s; it was stopped{}", .after.as_secs_f64(), if .said.is_empty() { String::new() } else { format!("; its last lines:\n{}", .said) })]
    TimedOut {
        after: Duration,
        /// The last lines it printed before it was stopped.
        said: String,
    },
    #[error("{0}")]
    Wait(String),
}

/// The process groups of the tools running now.
static RUNNING: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// Stop every tool running now, with what it started (a run stopped by a
/// signal: a tool in its own process group does not get the terminal's
/// Ctrl-C). Each one's [`run`] then returns at once.
pub fn stop_all() {
    if let Ok(running) = RUNNING.lock() {
        for &g in running.iter() {
            Group(g).kill();
        }
    }
}

/// Run `argv` in `dir` with `input` on its standard input, for at most
/// `timeout`; keep at most `keep` bytes of each output stream.
pub fn run(
    argv: &[String],
    dir: &Path,
    input: &[u8],
    timeout: Duration,
    keep: usize,
) -> Result<Ran, ToolError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| ToolError::Start("no command".into()))?;
    let started = Instant::now();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().map_err(|e| ToolError::Start(e.to_string()))?;
    let group = Group(child.id());
    if let Ok(mut running) = RUNNING.lock() {
        running.insert(group.0);
    }
    let (tx, rx) = mpsc::channel();
    for (i, stream) in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .enumerate()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let _ = tx.send((i, stream.map(|s| drain(s, keep)).unwrap_or_default()));
        });
    }
    drop(tx);
    if let Some(mut stdin) = child.stdin.take() {
        // On the side too: a tool that does not read its input must not
        // hold up the wait for it. A broken pipe is not ours to report:
        // its answer (or silence) says.
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let status = wait(&mut child, started + timeout);
    // What it left running would hold its output open; an overrun tool
    // goes with everything it started.
    group.kill();
    if status.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    if let Ok(mut running) = RUNNING.lock() {
        running.remove(&group.0);
    }
    let mut out = [Vec::new(), Vec::new()];
    // A stream still held by a process that left the group (a daemon that
    // made a session of its own) is given up on rather than waited for.
    let give_up = Instant::now() + Duration::from_secs(1);
    for _ in 0..2 {
        match rx.recv_timeout(give_up.saturating_duration_since(Instant::now())) {
            Ok((i, bytes)) => out[i] = bytes,
            Err(_) => break,
        }
    }
    let [stdout, stderr] = out;
    match status {
        Ok(status) => Ok(Ran {
            status,
            stdout,
            stderr,
            took: started.elapsed(),
        }),
        Err(None) => Err(ToolError::TimedOut {
            after: timeout,
            said: tail(&lines(&stdout, &stderr), QUOTED),
        }),
        Err(Some(e)) => Err(ToolError::Wait(e)),
    }
}

/// Its exit status, or `Err(None)` at the deadline.
fn wait(child: &mut Child, deadline: Instant) -> Result<ExitStatus, Option<String>> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => return Err(None),
            Err(e) => return Err(Some(e.to_string())),
        }
    }
}

/// Read all of `r`, keeping its first quarter of `keep` bytes and its last
/// three quarters, with a line saying how much was cut between them.
fn drain(mut r: impl Read, keep: usize) -> Vec<u8> {
    let (head_room, tail_room) = (keep / 4, keep - keep / 4);
    let mut head = Vec::new();
    let mut tail: VecDeque<u8> = VecDeque::new();
    let mut cut = 0u64;
    let mut buf = [0u8; 8192];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut bytes = &buf[..n];
        let to_head = bytes.len().min(head_room - head.len().min(head_room));
        head.extend_from_slice(&bytes[..to_head]);
        bytes = &bytes[to_head..];
        tail.extend(bytes);
        while tail.len() > tail_room {
            tail.pop_front();
            cut += 1;
        }
    }
    if cut > 0 {
        head.extend_from_slice(format!("\n[... {cut} bytes of output not kept ...]\n").as_bytes());
    }
    head.extend(tail);
    head
}

/// A tool's process group.
struct Group(u32);

impl Group {
    /// Stop every process still in it.
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    fn kill(&self) {
        let Ok(pgid) = libc::pid_t::try_from(self.0) else {
            return;
        };
        // SAFETY: kill(2) with a negative pid signals a process group; it
        // touches no memory of ours. The group is the tool's own (set at
        // spawn), so nothing of the harness is in it.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }

    /// Elsewhere the tool is not in a group of its own: only it is stopped.
    #[cfg(not(target_os = "linux"))]
    fn kill(&self) {}
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// `stop_all` stops every tool of the process: one test at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn sh(script: &str, timeout: Duration) -> Result<Ran, ToolError> {
        let _one = SERIAL.lock();
        let argv = ["sh".to_owned(), "-c".to_owned(), script.to_owned()];
        run(&argv, Path::new("."), b"in\n", timeout, 1024)
    }

    /// Whether the process runs (a zombie, killed and not yet reaped by
    /// whoever adopted it, does not).
    fn alive(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|s| {
            s.rsplit(") ")
                .next()
                .is_some_and(|rest| !rest.starts_with('Z'))
        })
    }

    #[test]
    fn output_is_kept_bounded_with_its_end_and_the_input_given() {
        let ran = sh(
            "cat; echo err >&2; yes | head -c 100000; echo last",
            Duration::from_secs(10),
        )
        .unwrap();
        assert!(ran.status.success());
        let out = String::from_utf8(ran.stdout.clone()).unwrap();
        assert!(out.starts_with("in\ny\n"), "{out}");
        assert!(out.contains("bytes of output not kept"), "{out}");
        assert!(out.ends_with("y\nlast\n"), "the end survives: {out}");
        assert!(out.len() < 1024 + 64);
        assert_eq!(ran.stderr, b"err\n");
    }

    #[test]
    fn a_tool_that_overruns_is_stopped_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("pid");
        let t = Instant::now();
        let script = format!(
            "sleep 30 & echo $! > {}; echo waiting; sleep 30",
            pid.display()
        );
        let err = sh(&script, Duration::from_millis(500)).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5));
        let ToolError::TimedOut { said, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(said, "waiting", "what it said before it was stopped");
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !alive(&std::fs::read_to_string(&pid).unwrap()),
            "its background child is gone"
        );
    }

    #[test]
    fn a_tool_that_leaves_a_child_behind_is_not_waited_for() {
        let t = Instant::now();
        let ran = sh("sleep 30 & echo done", Duration::from_secs(10)).unwrap();
        assert!(ran.status.success());
        assert_eq!(ran.stdout, b"done\n");
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_tool_that_never_reads_its_input_is_not_waited_on() {
        let _one = SERIAL.lock();
        let argv = ["sleep".to_owned(), "0.1".to_owned()];
        let big = vec![b'x'; 1 << 20];
        let ran = run(&argv, Path::new("."), &big, Duration::from_secs(5), 10).unwrap();
        assert!(ran.status.success());
    }

    #[test]
    fn stop_all_stops_a_running_tool_at_once() {
        let t = Instant::now();
        let running = std::thread::spawn(|| sh("sleep 30", Duration::from_secs(30)));
        // `sh` holds SERIAL while it runs, so RUNNING is this tool's alone.
        while RUNNING.lock().unwrap().is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        stop_all();
        let ran = running.join().unwrap().unwrap();
        assert!(!ran.status.success());
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_missing_program_cannot_start() {
        let _one = SERIAL.lock();
        let argv = ["/nonexistent/tool".to_owned()];
        let err = run(&argv, Path::new("."), b"", Duration::from_secs(1), 10).unwrap_err();
        assert!(matches!(err, ToolError::Start(_)), "{err}");
    }
}
