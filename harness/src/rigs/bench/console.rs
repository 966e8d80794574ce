//! A real controller's console port, read from the moment it opens and
//! reopened when it vanishes, so output around a reset is never lost.
//!
//! Lost serial output around reset and flashing is the most common
//! complaint about bench harnesses: the port is opened after the board has
//! already printed its banner, or a USB CDC port disappears while the board
//! resets and the harness gives up. Here one thread owns reading: it starts
//! before anything resets the board, queues every byte, and when the port
//! goes away it opens the same path again (a `/dev/serial/by-id` name
//! follows the device) for as long as the rig allows, queueing what the
//! board printed meanwhile (the kernel's tty buffer holds it).

use crate::model::rigfile::bench::PortRef;
use crate::rigs::bench::fixtures::link::{Transport, open};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the reader thread reports.
#[derive(Debug)]
enum Event {
    Bytes(Vec<u8>),
    /// The port went away and came back.
    Reopened,
    /// The port went away and did not come back in time.
    Lost(String),
}

/// What a read produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    Bytes(Vec<u8>),
    /// The port vanished and was opened again (a reset, a USB re-enumeration).
    Reopened,
    /// Nothing within the timeout.
    Idle,
}

/// The console of a controller on a bench.
pub struct ConsolePort {
    port: PortRef,
    events: mpsc::Receiver<Event>,
    writer: Arc<Mutex<Option<Box<dyn Transport>>>>,
    stop: Arc<AtomicBool>,
    lost: Option<String>,
}

impl std::fmt::Debug for ConsolePort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsolePort")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Drop for ConsolePort {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl ConsolePort {
    /// Open `port` and start reading; `reopen_for` is how long the port may
    /// be gone (a reset) before that is an error.
    pub fn open(port: PortRef, reopen_for: Duration) -> Result<Self, String> {
        let first =
            open(&port, Duration::from_secs(2)).map_err(|e| format!("console {port}: {e}"))?;
        let writer = Arc::new(Mutex::new(Some(
            first
                .try_clone()
                .map_err(|e| format!("console {port}: {e}"))?,
        )));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, events) = mpsc::channel();
        let (p, w, s) = (port.clone(), writer.clone(), stop.clone());
        std::thread::Builder::new()
            .name("console-reader".into())
            .spawn(move || reader(first, &p, &w, &s, &tx, reopen_for))
            .map_err(|e| format!("console {port}: cannot start its reader: {e}"))?;
        Ok(Self {
            port,
            events,
            writer,
            stop,
            lost: None,
        })
    }

    pub fn write(&self, bytes: &[u8]) -> Result<(), String> {
        let mut w = self
            .writer
            .lock()
            .map_err(|_| format!("console {}: writer poisoned", self.port))?;
        match w.as_mut() {
            Some(t) => t
                .write_all(bytes)
                .map_err(|e| format!("console {}: {e}", self.port)),
            None => Err(format!(
                "console {}: the port is gone (the board is resetting?)",
                self.port
            )),
        }
    }

    /// Bytes that arrived, waiting at most `timeout` for some.
    pub fn read(&mut self, timeout: Duration) -> Result<Read, String> {
        if let Some(why) = &self.lost {
            return Err(why.clone());
        }
        match self.events.recv_timeout(timeout) {
            Ok(Event::Bytes(b)) => {
                // Take whatever else is already queued: fewer, larger reads.
                let mut all = b;
                while let Ok(Event::Bytes(more)) = self.events.try_recv() {
                    all.extend_from_slice(&more);
                }
                Ok(Read::Bytes(all))
            }
            Ok(Event::Reopened) => Ok(Read::Reopened),
            Ok(Event::Lost(why)) => {
                self.lost = Some(why.clone());
                Err(why)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(Read::Idle),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let why = format!("console {}: the reader stopped", self.port);
                self.lost = Some(why.clone());
                Err(why)
            }
        }
    }
}

fn reader(
    mut port: Box<dyn Transport>,
    name: &PortRef,
    writer: &Mutex<Option<Box<dyn Transport>>>,
    stop: &AtomicBool,
    tx: &mpsc::Sender<Event>,
    reopen_for: Duration,
) {
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::Relaxed) {
        match port.read_some(&mut buf, Duration::from_millis(50)) {
            Ok(n) if n > 0 => {
                if tx.send(Event::Bytes(buf[..n].to_vec())).is_err() {
                    return;
                }
                continue;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            // Closed, or an I/O error: the device is gone. Reopen it.
            _ => {}
        }
        if let Ok(mut w) = writer.lock() {
            *w = None;
        }
        let since = Instant::now();
        let again = loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match open(name, Duration::from_millis(500)) {
                Ok(p) => break Some(p),
                Err(e) if since.elapsed() > reopen_for => {
                    let _ = tx.send(Event::Lost(format!(
                        "console {name}: gone and not back within {} ms ({e})",
                        reopen_for.as_millis()
                    )));
                    break None;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        let Some(p) = again else { return };
        if let (Ok(clone), Ok(mut w)) = (p.try_clone(), writer.lock()) {
            *w = Some(clone);
        }
        port = p;
        if tx.send(Event::Reopened).is_err() {
            return;
        }
    }
}
