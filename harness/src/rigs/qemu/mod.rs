//! The qemu rig: the reference firmware image, built for the `mps2-an386`
//! board, running in `qemu-system-arm`, wired to the same plant model as the
//! sim rig through the plant link (`locker_proto::plant`).
//!
//! ```text
//! harness                                        qemu-system-arm (client)
//!   World ── plant link (semihosting, unix socket) ──> board firmware
//!   Session ─ console (UART0, two FIFOs) ───────────>  (the same Firmware)
//!   Emulator ─ QMP (unix socket) ───────────────────>  machine reset
//! ```
//!
//! Time belongs to the harness: the firmware runs one instant per `STEP`
//! and never waits on a timer, so a 15-minute lockout costs what its steps
//! cost and a loaded host cannot make a case flaky. "Flashing" is building
//! the image (cargo, thumb target) and reading its identity out of the ELF;
//! every power-on resets the machine and checks the build id the board
//! announces before it is booted.
//!
//! Emulators are warm: a QEMU outlives its case and is reset in place
//! (QMP `system_reset`: CPU, devices and the image's memory as QEMU loaded
//! it) at the next power-on, which costs a fraction of starting a process.
//! One that misbehaves (a link error, a reset that brings no `READY`) is
//! killed and replaced. None outlives its rig: emulators are killed when
//! the rig is dropped (the end of the run, Ctrl-C included) and by the
//! kernel if the harness itself dies (see `spawn_tied`).

use crate::model::rigfile::{QEMU_MACHINE, QemuSettings, RigDescription};
use crate::rigs::image::{ImageId, identify, locate};
use crate::rigs::plant::Plant;
use crate::rigs::plant::world::{Mcu, McuKind, ModelRig};
use crate::rigs::{FlashReport, RigError};
use locker_core::board::Board;
use locker_core::nv::NV_SIZE;
use locker_core::{Config, Input, Record};
use locker_proto::plant::{NV_CHUNK, Stimulus, ToBoard, ToPlant};
use locker_proto::{LineDecoder, MAX_LINE, ResetCause, encode_frame, parse_frame};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Wall time QEMU gets to start and connect its sockets.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Wall time one instant of firmware may take before the rig is declared broken.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the harness waits on the plant link alone before it takes the
/// console bytes waiting in their pipe (see `Emulator::drain_console`).
const LINK_SLICE: Duration = Duration::from_millis(20);
/// Messages one exchange may carry without the board's time moving on
/// before the board is declared stuck (an instant says a few dozen).
const STALL_MESSAGES: u32 = 100_000;
/// Console bytes sent to the board per instant: less than a pipe holds, so
/// the harness never blocks writing bytes the board reads only once told.
const CONSOLE_CHUNK: usize = 16 * 1024;

/// Start a process that the kernel kills when the harness dies, on `cpu`
/// (an index into the CPUs this process may use) when given.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked exits, so every
/// emulator is forked by one thread that lives as long as the process.
///
/// Pinning matters for speed: QEMU's main loop and its CPU thread hand each
/// received byte to each other, and on one core that hand-off is a context
/// switch, while across cores it waits for an idle core to wake. Measured
/// on the 2-core CI machine, an idle simulated day takes 12 s unpinned and
/// 6 s pinned (`benches/RESULTS.md`).
fn spawn_tied(cmd: Command, cpu: Option<usize>) -> std::io::Result<Child> {
    type Job = (Command, Option<usize>, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: std::sync::OnceLock<std::sync::Mutex<mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("qemu-spawner".into())
            .spawn(move || {
                for (mut cmd, cpu, reply) in rx {
                    tie_to_parent(&mut cmd, cpu);
                    let _ = reply.send(cmd.spawn());
                }
            })
            .ok();
        std::sync::Mutex::new(tx)
    });
    let (reply, rx) = mpsc::channel();
    tx.lock()
        .map_err(|_| std::io::Error::other("spawner poisoned"))?
        .send((cmd, cpu, reply))
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn tie_to_parent(cmd: &mut Command, cpu: Option<usize>) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity
    // writes at most size_of::<cpu_set_t>() bytes into it.
    let pinned = cpu.and_then(|i| unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut allowed) != 0 {
            return None;
        }
        let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &allowed))
            .collect();
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(*cpus.get(i % cpus.len().max(1))?, &mut one);
        Some(one)
    });
    // SAFETY: the closure runs between fork and exec and calls only
    // async-signal-safe functions (prctl, getppid, kill on self,
    // sched_setaffinity on self with a set built before the fork).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            if let Some(set) = &pinned {
                // Best effort: an emulator on any core still runs correctly.
                libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn tie_to_parent(_cmd: &mut Command, _cpu: Option<usize>) {}

/// Wall time QEMU gets to answer a QMP command before the emulator is
/// replaced by a new one.
const RESET_TIMEOUT: Duration = Duration::from_secs(5);

/// One QEMU process with its sockets and console pipes; killed and reaped,
/// and its folder removed, on drop.
struct Emulator {
    child: Child,
    dir: PathBuf,
    plant: UnixStream,
    /// The console UART's line into the board.
    console_in: std::fs::File,
    /// Its line out of the board, a pipe read (without blocking) when the
    /// board has said how many bytes it sent (`DONE`): QEMU writes a byte
    /// at a time, which into a pipe wakes nobody and costs no buffer space
    /// per byte (a unix socket charges each one-byte write about 700 bytes
    /// of its send buffer and stalled the board's banner).
    console_out: std::fs::File,
    /// Console bytes taken out of the pipe before their `DONE`.
    console_early: Vec<u8>,
    qmp: Qmp,
    /// Plant-link bytes read but not decoded yet.
    pending: std::collections::VecDeque<u8>,
    /// Nothing is in flight on any link: the board has answered everything
    /// it was sent. Only a quiet emulator may be reset and used again.
    quiet: bool,
}

/// QEMU's machine protocol (QMP), just enough to reset the machine.
struct Qmp {
    stream: std::io::BufReader<UnixStream>,
    /// The greeting was read and capabilities negotiated.
    ready: bool,
}

impl Qmp {
    /// Run `command` and wait for its answer; events in between are skipped.
    fn execute(&mut self, command: &str) -> Result<(), String> {
        if !self.ready {
            self.answer("the greeting")?;
            self.send("qmp_capabilities")?;
            self.answer("qmp_capabilities")?;
            self.ready = true;
        }
        self.send(command)?;
        self.answer(command)
    }

    fn send(&mut self, command: &str) -> Result<(), String> {
        let line = format!("{}\n", serde_json::json!({ "execute": command }));
        self.stream
            .get_mut()
            .write_all(line.as_bytes())
            .map_err(|e| format!("QMP `{command}`: {e}"))
    }

    /// Read lines until a greeting, a return or an error.
    fn answer(&mut self, what: &str) -> Result<(), String> {
        use std::io::BufRead;
        loop {
            let mut line = String::new();
            match self.stream.read_line(&mut line) {
                Ok(0) => return Err(format!("QMP closed while waiting for {what}")),
                Ok(_) => {}
                Err(e) => return Err(format!("QMP, waiting for {what}: {e}")),
            }
            let reply: serde_json::Value = serde_json::from_str(&line)
                .map_err(|e| format!("QMP sent `{}` ({e})", line.trim()))?;
            if let Some(err) = reply.get("error") {
                return Err(format!("QMP refused {what}: {err}"));
            }
            if reply.get("return").is_some() || reply.get("QMP").is_some() {
                return Ok(());
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn accept(listener: &UnixListener, child: &mut Child, what: &str) -> Result<UnixStream, RigError> {
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)
                    .map_err(|e| RigError::Flash(format!("{what} socket: {e}")))?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(RigError::Flash(format!("{what} socket: {e}"))),
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(RigError::Flash(format!(
                "qemu exited ({status}) before connecting its {what} UART"
            )));
        }
        if Instant::now() > deadline {
            return Err(RigError::Flash(format!(
                "qemu did not connect its {what} UART within {}s",
                CONNECT_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The console's two FIFOs in `dir` (`console.in`, `console.out`, which
/// QEMU's `pipe` chardev opens read-write): the harness's writing end of
/// the first and non-blocking reading end of the second, enlarged to 1 MiB
/// where the system allows.
fn console_pipes(dir: &Path) -> std::io::Result<(std::fs::File, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    for end in ["console.in", "console.out"] {
        let path = std::ffi::CString::new(dir.join(end).as_os_str().as_encoded_bytes())
            .map_err(std::io::Error::other)?;
        #[allow(unsafe_code)]
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        if unsafe { libc::mkfifo(path.as_ptr(), 0o600) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    // Read-write opens of a FIFO never wait for the other end.
    let open = |end: &str, flags: i32| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(flags)
            .open(dir.join(end))
    };
    let input = open("console.in", 0)?;
    let output = open("console.out", libc::O_NONBLOCK)?;
    #[allow(unsafe_code)]
    // SAFETY: F_SETPIPE_SZ on a pipe this function owns; best effort.
    unsafe {
        libc::fcntl(output.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
    Ok((input, output))
}

/// Remove the socket folders of harness processes that are gone: a run
/// killed with SIGKILL cannot clean up after itself, the next one does.
/// A folder whose process still exists (or whose number was reused) stays.
fn sweep_stale(tmp: &Path) {
    // Which processes exist is read from /proc; without it, sweep nothing.
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    if !Path::new("/proc/self").exists() {
        return;
    }
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = (name.to_str())
            .and_then(|n| n.strip_prefix("locker-hil-"))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, n)| n.parse::<u64>().ok().and(pid.parse::<u32>().ok()))
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Emulator {
    fn start(exe: &str, elf: &Path, cpu: Option<usize>) -> Result<Self, RigError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| sweep_stale(&std::env::temp_dir()));
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("locker-hil-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| RigError::Flash(format!("cannot create {}: {e}", dir.display())))?;
        let listen = |name: &str| {
            let l = UnixListener::bind(dir.join(name))
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|e| RigError::Flash(format!("cannot listen on {name} socket: {e}")));
            if l.is_err() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            l
        };
        let (plant_l, qmp_l) = (listen("plant")?, listen("qmp")?);
        let (console_in, console_out) = console_pipes(&dir).map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            RigError::Flash(format!("cannot make the console pipes: {e}"))
        })?;
        let stderr = std::fs::File::create(dir.join("qemu.log")).map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            RigError::Flash(format!("cannot create the qemu log: {e}"))
        })?;
        let mut cmd = Command::new(exe);
        cmd.args(["-machine", QEMU_MACHINE, "-nographic", "-nodefaults"])
            .args(["-monitor", "none", "-nic", "none"])
            .arg("-chardev")
            .arg(format!(
                "pipe,id=con,path={}",
                dir.join("console").display()
            ))
            .arg("-chardev")
            .arg(format!(
                "socket,id=plant,path={}",
                dir.join("plant").display()
            ))
            .arg("-chardev")
            .arg(format!("socket,id=qmp,path={}", dir.join("qmp").display()))
            .args(["-mon", "chardev=qmp,mode=control"])
            .args(["-serial", "chardev:con"])
            .args([
                "-semihosting-config",
                "enable=on,target=native,chardev=plant",
            ])
            .arg("-kernel")
            .arg(elf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let mut child = spawn_tied(cmd, cpu).map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            RigError::Flash(format!(
                "cannot start `{exe}`: {e} (install it with `apt-get install qemu-system-arm`)"
            ))
        })?;
        let sockets = accept(&plant_l, &mut child, "plant link")
            .and_then(|p| Ok((p, accept(&qmp_l, &mut child, "QMP")?)));
        let (plant, qmp) = match sockets {
            Ok(s) => s,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(dir.join("qemu.log")).unwrap_or_default();
                let _ = std::fs::remove_dir_all(&dir);
                return Err(match e {
                    RigError::Flash(m) if !log.trim().is_empty() => {
                        RigError::Flash(format!("{m}; qemu said: {}", log.trim()))
                    }
                    other => other,
                });
            }
        };
        // From here on a failure drops the emulator, which kills QEMU and
        // removes its folder.
        let emulator = Self {
            child,
            dir,
            plant,
            console_in,
            console_out,
            console_early: Vec::new(),
            qmp: Qmp {
                stream: std::io::BufReader::new(qmp),
                ready: false,
            },
            pending: Default::default(),
            quiet: false,
        };
        emulator
            .plant
            .set_read_timeout(Some(LINK_SLICE))
            .and_then(|()| (emulator.qmp.stream.get_ref()).set_read_timeout(Some(RESET_TIMEOUT)))
            .map_err(|e| RigError::Flash(format!("plant link: {e}")))?;
        Ok(emulator)
    }

    /// Reset the machine in place: CPU, devices, and memory as QEMU loaded
    /// the image. Only a quiet emulator is reset, so no byte of its last
    /// life is left on any link; the board announces itself again.
    fn reset(&mut self) -> Result<(), String> {
        if !self.quiet {
            return Err("the board had not finished its last exchange".into());
        }
        self.qmp.execute("system_reset")?;
        self.pending.clear();
        self.console_early.clear();
        self.quiet = false;
        Ok(())
    }

    /// Take the console bytes waiting in the pipe now. An instant that
    /// prints more than the pipe holds (1 MiB, or 64 KiB where the system
    /// refuses to enlarge it) would otherwise
    /// stall QEMU's UART, and with it the `DONE` that says how many there
    /// are; the harness calls this whenever the plant link is quiet for
    /// [`LINK_SLICE`].
    fn drain_console(&mut self) -> std::io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            match self.console_out.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => self.console_early.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// A rig's warm emulator between its cases.
type Spare = std::sync::Arc<std::sync::Mutex<Option<Emulator>>>;

/// The firmware image in QEMU, as the world sees it.
pub struct QemuMcu {
    exe: String,
    cpu: Option<usize>,
    elf: PathBuf,
    expect: ImageId,
    cfg: Config,
    /// The emulator, powered or not; `None` before the first power-on and
    /// after a link error killed it.
    emu: Option<Emulator>,
    /// Where the emulator waits for the rig's next case.
    spare: Spare,
    /// The MCU has power.
    on: bool,
    decoder: LineDecoder,
    tx_seq: u16,
    boot_at: u64,
    deadline: Option<u64>,
    /// Console bytes sent to, and received from, the board since its reset.
    console_sent: u32,
    console_seen: u32,
    pins: Option<(u32, u32, u32)>,
}

impl std::fmt::Debug for QemuMcu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QemuMcu")
            .field("elf", &self.elf)
            .field("on", &self.on)
            .finish_non_exhaustive()
    }
}

impl Drop for QemuMcu {
    fn drop(&mut self) {
        // A quiet emulator waits for the rig's next case; any other is killed.
        if let Some(emu) = self.emu.take().filter(|e| e.quiet)
            && let Ok(mut spare) = self.spare.lock()
        {
            *spare = Some(emu);
        }
    }
}

fn link_err(e: impl std::fmt::Display) -> RigError {
    RigError::Console(format!("plant link: {e}"))
}

impl QemuMcu {
    fn emu(&mut self) -> Result<&mut Emulator, RigError> {
        self.emu
            .as_mut()
            .ok_or_else(|| link_err("the emulator was stopped after an earlier link error"))
    }

    /// Run `exchange` with the board; an emulator whose link failed is
    /// killed, never reset and used again.
    fn exchange(
        &mut self,
        plant: &mut Plant,
        exchange: impl FnOnce(&mut Self, &mut Plant) -> Result<(), RigError>,
    ) -> Result<(), RigError> {
        let emu = self.emu()?;
        emu.quiet = false;
        let result = exchange(self, plant);
        match (&result, self.emu.as_mut()) {
            (Ok(()), Some(emu)) => emu.quiet = true,
            _ => self.emu = None,
        }
        result
    }

    /// A board that has just announced itself: a fresh emulator, or the
    /// rig's warm one reset in place (replaced by a fresh one if the reset
    /// fails).
    fn power_up(&mut self) -> Result<(), RigError> {
        let warm = self
            .emu
            .take()
            .or_else(|| self.spare.lock().ok().and_then(|mut s| s.take()));
        if let Some(mut emu) = warm
            && emu.reset().is_ok()
        {
            self.emu = Some(emu);
            self.reset_link();
            match self.ready() {
                Ok(()) => return Ok(()),
                // A wrong image is a verdict on the image, not the emulator.
                Err(e @ RigError::Flash(_)) => return Err(e),
                Err(_) => self.emu = None,
            }
        }
        self.emu = Some(Emulator::start(&self.exe, &self.elf, self.cpu)?);
        self.reset_link();
        self.ready()
    }

    fn reset_link(&mut self) {
        self.decoder = LineDecoder::new();
        self.tx_seq = 0;
        self.console_sent = 0;
        self.console_seen = 0;
        self.pins = None;
    }

    /// Take the board's `READY` and check it names the image that was built.
    fn ready(&mut self) -> Result<(), RigError> {
        match self.recv()? {
            ToPlant::Ready { build, board } => {
                if build.as_str() != self.expect.build || board.as_str() != self.expect.board {
                    return Err(RigError::Flash(format!(
                        "the board announced build `{build}` on `{board}`, but `{}` for `{}` was loaded",
                        self.expect.build, self.expect.board
                    )));
                }
                Ok(())
            }
            other => Err(link_err(format!(
                "expected READY after reset, got `{other}`"
            ))),
        }
    }

    fn send(&mut self, msg: &ToBoard) -> Result<(), RigError> {
        let mut line = heapless::String::<{ MAX_LINE + 2 }>::new();
        encode_frame(self.tx_seq, msg, &mut line)
            .map_err(|_| link_err(format!("message too long: {msg}")))?;
        self.tx_seq = self.tx_seq.wrapping_add(1);
        self.emu()?
            .plant
            .write_all(line.as_bytes())
            .map_err(link_err)
    }

    fn recv(&mut self) -> Result<ToPlant, RigError> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let emu = self.emu.as_mut().ok_or_else(|| link_err("not powered"))?;
            let Some(b) = emu.pending.pop_front() else {
                let mut buf = [0u8; 512];
                match emu.plant.read(&mut buf) {
                    Ok(0) => {
                        let status = emu.child.try_wait().ok().flatten();
                        return Err(link_err(format!(
                            "qemu closed the link{}",
                            status.map(|s| format!(" ({s})")).unwrap_or_default()
                        )));
                    }
                    Ok(n) => emu.pending.extend(&buf[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        if Instant::now() > deadline {
                            return Err(link_err(format!(
                                "the board did not answer within {}s",
                                STEP_TIMEOUT.as_secs()
                            )));
                        }
                        emu.drain_console()
                            .map_err(|e| RigError::Console(format!("console: {e}")))?;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(link_err(e)),
                }
                continue;
            };
            let Some(line) = self.decoder.push(b) else {
                if Instant::now() > deadline {
                    return Err(link_err("the board never finished its line"));
                }
                continue;
            };
            let parsed = match line {
                Err(e) => Err(format!("unreadable line ({e})")),
                Ok(text) => match parse_frame(text) {
                    Err(e) => Err(format!("bad frame `{text}` ({e})")),
                    Ok((_, body)) => ToPlant::parse(body).map_err(|e| format!("`{body}`: {e}")),
                },
            };
            self.decoder.clear_line();
            return parsed.map_err(link_err);
        }
    }

    /// Send the input levels if they changed since the board last heard them.
    fn sync_pins(&mut self, plant: &Plant) -> Result<(), RigError> {
        let mut pins = (0u32, 0u32, 0u32);
        for c in 0..plant.comps.len().min(32) {
            pins.0 |= u32::from(plant.door_closed(c)) << c;
            pins.1 |= u32::from(plant.bolt_extended(c)) << c;
            pins.2 |= u32::from(plant.package_present(c)) << c;
        }
        if self.pins != Some(pins) {
            self.pins = Some(pins);
            self.send(&ToBoard::Pins {
                door: pins.0,
                bolt: pins.1,
                package: pins.2,
            })?;
        }
        Ok(())
    }

    /// Play what the firmware does during one instant onto the plant, until `DONE`.
    fn finish_instant(&mut self, plant: &mut Plant) -> Result<(), RigError> {
        // A board that keeps talking without its time moving on (a deadline
        // its tick never clears) would hold the harness forever: each
        // message comes within the step timeout, and a quiet stretch of
        // `RUN` may rightly take minutes. Progress is time moving.
        let mut since_progress = 0u32;
        let mut last_at = None;
        loop {
            since_progress += 1;
            if since_progress > STALL_MESSAGES {
                return Err(link_err(format!(
                    "the board sent {STALL_MESSAGES} messages without its time moving on{}",
                    last_at.map_or_else(String::new, |ms| format!(" (stuck at {ms} ms of uptime)"))
                )));
            }
            match self.recv()? {
                ToPlant::Solenoid { c, on } => {
                    let c = usize::from(c);
                    if c >= plant.comps.len() {
                        return Err(link_err(format!("solenoid {c} does not exist")));
                    }
                    Board::set_solenoid(plant, c, on);
                }
                ToPlant::Heater(on) => Board::set_heater(plant, on),
                ToPlant::Probe(link) => Board::link_probe(plant, link),
                ToPlant::Uplink {
                    link,
                    seq,
                    kind,
                    compartment,
                    value,
                } => Board::uplink(
                    plant,
                    link,
                    &Record {
                        seq,
                        kind,
                        compartment,
                        value,
                    },
                ),
                ToPlant::NvWrite { offset, data } => {
                    let at = usize::from(offset);
                    let dst = plant
                        .nv
                        .get_mut(at..at + data.len())
                        .ok_or_else(|| link_err(format!("EEPROM write past the end at {at}")))?;
                    dst.copy_from_slice(&data);
                }
                ToPlant::Rtc(unix) => Board::set_rtc(plant, unix),
                ToPlant::Reset => {
                    Board::reset_peripherals(plant);
                    self.boot_at = plant.now;
                }
                ToPlant::TempRequest => {
                    let centi = plant.temp_centi();
                    self.send(&ToBoard::Temp(centi))?;
                }
                ToPlant::At(ms) => {
                    if last_at.is_none_or(|last| ms > last) {
                        since_progress = 0;
                    }
                    last_at = Some(ms);
                    plant.now = plant.now.max(self.boot_at.saturating_add(ms));
                }
                ToPlant::Done { deadline, console } => {
                    self.deadline = Some(self.boot_at.saturating_add(deadline));
                    return self.read_console(plant, console);
                }
                ToPlant::Ready { .. } => return Err(link_err("the board reset unexpectedly")),
            }
        }
    }

    /// Take console output up to what the board says it sent this instant.
    fn read_console(&mut self, plant: &mut Plant, upto: u32) -> Result<(), RigError> {
        let seen = self.console_seen;
        let short = |got: u32| {
            RigError::Console(format!(
                "the board reported {upto} console bytes but {got} arrived"
            ))
        };
        let emu = self.emu()?;
        let mut owed = upto.wrapping_sub(seen) as usize;
        if emu.console_early.len() > owed {
            return Err(short(seen.wrapping_add(emu.console_early.len() as u32)));
        }
        owed -= emu.console_early.len();
        plant.console_out.append(&mut emu.console_early);
        let mut buf = [0u8; 4096];
        // Written before `DONE`, so normally all there; a pipe that was full
        // lets QEMU finish a little later.
        let deadline = Instant::now() + STEP_TIMEOUT;
        while owed > 0 {
            let want = owed.min(buf.len());
            match emu.console_out.read(&mut buf[..want]) {
                Ok(0) => return Err(short(upto.wrapping_sub(owed as u32))),
                Ok(n) => {
                    plant.console_out.extend_from_slice(&buf[..n]);
                    owed -= n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err(short(upto.wrapping_sub(owed as u32)));
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(_) => return Err(short(upto.wrapping_sub(owed as u32))),
            }
        }
        self.console_seen = upto;
        Ok(())
    }

    fn step(&mut self, plant: &mut Plant, what: Stimulus) -> Result<(), RigError> {
        if !self.on {
            return Ok(());
        }
        self.exchange(plant, |me, plant| me.instant(plant, what))
    }

    /// One instant at the plant's time: the pins if they changed, `STEP`,
    /// and what the firmware did, until `DONE`.
    fn instant(&mut self, plant: &mut Plant, what: Stimulus) -> Result<(), RigError> {
        self.sync_pins(plant)?;
        self.send(&ToBoard::Step {
            ms: plant.now - self.boot_at,
            what,
        })?;
        self.finish_instant(plant)
    }
}

impl Mcu for QemuMcu {
    fn is_on(&self) -> bool {
        self.on
    }

    fn deadline(&self) -> Option<u64> {
        if self.on { self.deadline } else { None }
    }

    fn boot(&mut self, plant: &mut Plant, cause: ResetCause) -> Result<(), RigError> {
        self.boot_at = plant.now;
        self.power_up()?;
        self.on = true;
        self.exchange(plant, |me, plant| me.provision(plant, cause))
    }

    fn power_off(&mut self) {
        // The board stops where it is (waiting for the harness); the next
        // power-on resets it.
        self.on = false;
        self.deadline = None;
    }

    fn input(&mut self, plant: &mut Plant, input: Input) -> Result<(), RigError> {
        let what = match input {
            Input::Key(k) => Stimulus::Key(k),
            Input::Help => Stimulus::Help,
            Input::Sensors => Stimulus::Sensors,
            Input::LinkProbe { link, ok } => Stimulus::Probe { link, ok },
            Input::UplinkResult { link, seq, ok } => Stimulus::Ack { link, seq, ok },
        };
        self.step(plant, what)
    }

    fn tick(&mut self, plant: &mut Plant) -> Result<(), RigError> {
        self.step(plant, Stimulus::Tick)
    }

    fn run(&mut self, plant: &mut Plant, horizon: u64) -> Result<(), RigError> {
        if !self.on {
            return Ok(());
        }
        self.exchange(plant, |me, plant| {
            me.sync_pins(plant)?;
            me.send(&ToBoard::Run {
                from: plant.now - me.boot_at,
                until: horizon - me.boot_at,
            })?;
            me.finish_instant(plant)
        })
    }

    fn console_write(&mut self, plant: &mut Plant, bytes: &[u8]) -> Result<(), RigError> {
        if !self.on {
            return Ok(());
        }
        // The board reads the console only when a step tells it how far:
        // a pipe's worth at a time, each with its step, all at this instant.
        for chunk in bytes.chunks(CONSOLE_CHUNK) {
            self.exchange(plant, |me, plant| {
                me.emu()?
                    .console_in
                    .write_all(chunk)
                    .map_err(|e| RigError::Console(format!("console: {e}")))?;
                me.console_sent = me.console_sent.wrapping_add(chunk.len() as u32);
                let upto = me.console_sent;
                me.instant(plant, Stimulus::Console { upto })
            })?;
        }
        Ok(())
    }
}

impl QemuMcu {
    /// Tell a board that has announced itself who it is, what its EEPROM
    /// holds and what its pins read, then boot it.
    fn provision(&mut self, plant: &mut Plant, cause: ResetCause) -> Result<(), RigError> {
        let station = ToBoard::Station {
            id: self.cfg.station,
            key: self.cfg.key,
        };
        self.send(&station)?;
        for c in self.cfg.compartments.clone() {
            let size = match c.size {
                locker_core::Size::S => 'S',
                locker_core::Size::M => 'M',
                locker_core::Size::L => 'L',
            };
            self.send(&ToBoard::Compartment { name: c.name, size })?;
        }
        let nv: [u8; NV_SIZE] = plant.nv;
        // The board's image starts erased: only written chunks cross.
        for (i, chunk) in nv.chunks(NV_CHUNK).enumerate() {
            if chunk.iter().all(|&b| b == 0xFF) {
                continue;
            }
            let data = heapless::Vec::from_slice(chunk).map_err(|_| link_err("chunk"))?;
            self.send(&ToBoard::Nv {
                offset: (i * NV_CHUNK) as u16,
                data,
            })?;
        }
        self.sync_pins(plant)?;
        self.send(&ToBoard::Boot {
            cause,
            rtc_ms: plant.rtc_ms().max(0) as u64,
        })?;
        self.finish_instant(plant)
    }
}

/// Builds the board crate, and keeps the rig's warm emulator between cases.
pub struct InQemu {
    settings: QemuSettings,
    image: Option<(PathBuf, ImageId)>,
    cpu: Option<usize>,
    spare: Spare,
}

impl std::fmt::Debug for InQemu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InQemu")
            .field("settings", &self.settings)
            .field("image", &self.image)
            .field("cpu", &self.cpu)
            .finish_non_exhaustive()
    }
}

impl InQemu {
    /// `cpu`: pin this rig's emulators to one core (an index into the cores
    /// the harness may use, taken modulo their number); one per worker.
    pub fn new(settings: QemuSettings, cpu: Option<usize>) -> Self {
        Self {
            settings,
            image: None,
            cpu,
            spare: Spare::default(),
        }
    }
}

impl McuKind for InQemu {
    type Mcu = QemuMcu;
    const BLOCKING: bool = true;

    async fn flash(&mut self, desc: &RigDescription) -> Result<FlashReport, RigError> {
        // Fail once, up front, rather than at every power-on of every case.
        let exe = &self.settings.executable;
        let version = Command::new(exe)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                RigError::Flash(format!(
                    "cannot run `{exe}`: {e}; install QEMU with \
                     `apt-get install -y --no-install-recommends qemu-system-arm`"
                ))
            })?;
        if !version.status.success() {
            return Err(RigError::Flash(format!(
                "`{exe} --version` failed ({})",
                version.status
            )));
        }
        // A board crate is built; a file is taken as a prebuilt image (a
        // firmware team's own ELF).
        let (path, features) = (desc.firmware.clone(), desc.features.clone());
        let elf = tokio::task::spawn_blocking(move || locate(&path, &features))
            .await
            .map_err(|e| RigError::Flash(format!("build task: {e}")))??;
        let id = identify(&elf)?;
        if id.board != self.settings.machine {
            return Err(RigError::Flash(format!(
                "{} is built for board `{}`, but this rig emulates `{}`",
                elf.display(),
                id.board,
                self.settings.machine
            )));
        }
        let report = FlashReport {
            expect: crate::rigs::image::expected_build(desc, &elf, Some(&id.build))?,
            image: elf.display().to_string(),
            skipped: false,
            output: Vec::new(),
        };
        self.image = Some((elf, id));
        // A warm emulator runs the image it started with.
        if let Ok(mut spare) = self.spare.lock() {
            *spare = None;
        }
        Ok(report)
    }

    fn mcu(&mut self, desc: &RigDescription) -> Result<QemuMcu, RigError> {
        let (elf, expect) = self
            .image
            .clone()
            .ok_or_else(|| RigError::Flash("the image was never built".into()))?;
        Ok(QemuMcu {
            exe: self.settings.executable.clone(),
            cpu: self.cpu,
            elf,
            expect,
            cfg: desc.controller_config(),
            emu: None,
            spare: self.spare.clone(),
            on: false,
            decoder: LineDecoder::new(),
            tx_seq: 0,
            boot_at: 0,
            deadline: None,
            console_sent: 0,
            console_seen: 0,
            pins: None,
        })
    }
}

/// The qemu rig: the firmware image in an emulator, the plant model around it.
pub type QemuRig = ModelRig<InQemu>;

impl QemuRig {
    /// A qemu rig for a description of kind `qemu`.
    pub fn new(desc: RigDescription) -> Result<Self, RigError> {
        Self::with_cpu(desc, None)
    }

    /// The qemu rig of run worker `worker`: its emulators are pinned to one
    /// core, a different one per worker while there are cores to go round.
    pub fn for_worker(desc: RigDescription, worker: usize) -> Result<Self, RigError> {
        Self::with_cpu(desc, Some(worker))
    }

    fn with_cpu(desc: RigDescription, cpu: Option<usize>) -> Result<Self, RigError> {
        match &desc.kind {
            crate::model::rigfile::RigKind::Qemu { qemu, .. } => {
                let kind = InQemu::new(qemu.clone(), cpu);
                Ok(Self::with_kind(desc, kind))
            }
            _ => Err(RigError::Unsupported(format!(
                "run rig `{}` under QEMU: its file has no `qemu` section",
                desc.name
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_of_dead_runs_are_swept_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // A process that has certainly ended.
        let dead = Command::new("true")
            .spawn()
            .and_then(|mut c| c.wait().map(|_| c.id()))
            .unwrap_or_else(|e| panic!("{e}"));
        let mine = std::process::id();
        for name in [
            format!("locker-hil-{dead}-0"),
            format!("locker-hil-{mine}-3"),
            "locker-hil-notes".to_owned(),
        ] {
            std::fs::create_dir(tmp.path().join(name)).unwrap_or_else(|e| panic!("{e}"));
        }
        sweep_stale(tmp.path());
        assert!(!tmp.path().join(format!("locker-hil-{dead}-0")).exists());
        assert!(tmp.path().join(format!("locker-hil-{mine}-3")).exists());
        assert!(tmp.path().join("locker-hil-notes").exists());
    }
}
