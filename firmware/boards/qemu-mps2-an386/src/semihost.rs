//! The plant link over ARM semihosting, QEMU's channel to its host.
//!
//! The emulated CMSDK UART takes one received byte per interrupt, and each
//! byte is handed between QEMU's main loop and its CPU thread; a frame of
//! 40 bytes costs 40 of those hand-offs. Semihosting moves whole frames:
//! QEMU's semihosting console (`-semihosting-config chardev=...`) fills a
//! 1 KiB queue from the harness's socket in one read, `SYS_READC` takes a
//! byte of it without leaving the CPU thread, and `SYS_WRITE0` writes a
//! whole buffer of frames to the socket in one call. When the queue is
//! empty QEMU parks the CPU until bytes arrive, so an idle board still
//! costs nothing.
//!
//! Frames to the harness are gathered in [`Outbox`] and written when the
//! board next waits for the harness (or the outbox is full): what one
//! instant does crosses the link as one write.

use core::arch::asm;

const SYS_WRITE0: u32 = 0x04;
const SYS_READC: u32 = 0x07;

/// One semihosting call: `BKPT 0xAB` on M-profile cores.
///
/// # Safety
/// `arg` must be what operation `op` expects (for `SYS_WRITE0`, a
/// NUL-terminated string that stays alive for the call).
unsafe fn call(op: u32, arg: usize) -> u32 {
    let ret: u32;
    // SAFETY: the caller upholds the operation's contract; the host reads
    // or writes only what the operation names (SYS_READC one byte below
    // the stack pointer, which nothing live occupies).
    unsafe { asm!("bkpt #0xab", inout("r0") op => ret, in("r1") arg) };
    ret
}

/// The receiving end: bytes from QEMU's semihosting queue.
pub struct Inbox {
    /// Bytes taken since QEMU's main loop was last woken.
    unkicked: u32,
}

/// Bytes taken between two wake-ups of QEMU's main loop.
const KICK_EVERY: u32 = 256;

impl Inbox {
    pub const fn new() -> Self {
        Self { unkicked: 0 }
    }

    /// Block until the harness sends a byte.
    ///
    /// QEMU stops reading the socket while its 1 KiB queue is full and is
    /// not told when the CPU empties it (the same gap as in its UART model,
    /// see [`crate::uart::kick_host`]), so a burst over 1 KiB (provisioning
    /// sends about 1.3 KiB) would wait for an unrelated timer, measured at
    /// about 0.7 s. Waking the main loop every 256 bytes taken keeps the
    /// queue flowing for a few microseconds per 256 bytes.
    pub fn read_byte(&mut self) -> u8 {
        self.unkicked += 1;
        if self.unkicked >= KICK_EVERY {
            self.unkicked = 0;
            crate::uart::kick_host();
        }
        read_byte()
    }
}

/// Block until the harness sends a byte.
///
/// `SYS_READC` leaves the byte one below the stack pointer and is meant to
/// return it in r0 as well, but QEMU 7.2 (Debian 12's) fills r0 from that
/// memory before it has written the byte there, so r0 holds the byte before
/// it. The byte is taken from memory instead, right after the call and with
/// interrupts masked so that no exception frame lands on it first; this is
/// correct with and without that bug.
fn read_byte() -> u8 {
    let byte: u32;
    // SAFETY: SYS_READC takes no argument block and writes one byte below
    // the stack pointer, which is read back before anything else can use
    // it; PRIMASK is restored to enabled afterwards (the board never reads
    // the link from inside a critical section).
    unsafe {
        asm!(
            "cpsid i",
            "bkpt #0xab",
            "ldrb {byte}, [sp, #-1]",
            "cpsie i",
            byte = out(reg) byte,
            inout("r0") SYS_READC => _,
            in("r1") 0,
        );
    }
    byte as u8
}

/// Frames waiting to be written, NUL-terminated for `SYS_WRITE0`.
pub struct Outbox {
    buf: [u8; 2048],
    len: usize,
}

impl Outbox {
    pub const fn new() -> Self {
        Self {
            buf: [0; 2048],
            len: 0,
        }
    }

    /// Queue `bytes` (which never contain NUL: frames are printable ASCII).
    pub fn push(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(self.buf.len() - 1) {
            if self.len + chunk.len() >= self.buf.len() {
                self.flush();
            }
            self.buf[self.len..self.len + chunk.len()].copy_from_slice(chunk);
            self.len += chunk.len();
        }
    }

    /// Write everything queued.
    pub fn flush(&mut self) {
        if self.len == 0 {
            return;
        }
        self.buf[self.len] = 0;
        // SAFETY: the buffer is NUL-terminated at `len` and lives in self.
        unsafe { call(SYS_WRITE0, self.buf.as_ptr() as usize) };
        self.len = 0;
    }
}
