//! The CMSDK APB UART of the MPS2 FPGA images: transmit by polling the
//! one-byte holding register, receive by interrupt into a queue, so the CPU
//! sleeps in WFI whenever there is nothing to do.

use core::cell::RefCell;
use core::ptr::{read_volatile, write_volatile};
use critical_section::Mutex;
use heapless::Deque;

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const INTCLEAR: usize = 0x0C;
const BAUDDIV: usize = 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_RX_INT_EN: u32 = 1 << 3;
const INT_RX: u32 = 1 << 1;

/// SysTick's current-value register.
const SYST_CVR: usize = 0xE000_E018;

/// Make QEMU look at its input sockets again.
///
/// QEMU 7.2's model of this UART never tells the emulator's main loop that
/// the receive register was read, so the loop, which stopped watching the
/// socket while the register was full, would sleep until some other event
/// wakes it (on an idle board: never). Re-arming a timer is such an event:
/// a write to SysTick's current-value register reloads its timer and wakes
/// the loop, which then takes the next byte. SysTick runs free with its
/// interrupt off (see [`start_kick_timer`]), so the CPU is not woken by it.
pub fn kick_host() {
    // SAFETY: any write to SYST_CVR only clears the free-running counter.
    unsafe { write_volatile(SYST_CVR as *mut u32, 0) };
}

/// Start SysTick free-running with its interrupt disabled.
pub fn start_kick_timer(syst: &mut cortex_m::peripheral::SYST) {
    syst.set_clock_source(cortex_m::peripheral::syst::SystClkSource::Core);
    syst.set_reload(0x00FF_FFFF);
    syst.clear_current();
    syst.disable_interrupt();
    syst.enable_counter();
}

/// Received bytes waiting for the main loop.
pub type RxQueue = Mutex<RefCell<Deque<u8, 1024>>>;

/// One UART, by its register block address and receive interrupt number.
pub struct Uart {
    base: usize,
    rx: &'static RxQueue,
    /// Bytes lost because the queue was full (never expected: the harness
    /// waits for each step before it sends more).
    pub overruns: &'static core::sync::atomic::AtomicU32,
}

impl Uart {
    /// # Safety
    /// `base` must be the register block of a CMSDK APB UART that nothing
    /// else in the program drives.
    pub const unsafe fn new(
        base: usize,
        rx: &'static RxQueue,
        overruns: &'static core::sync::atomic::AtomicU32,
    ) -> Self {
        Self { base, rx, overruns }
    }

    fn reg(&self, off: usize) -> *mut u32 {
        (self.base + off) as *mut u32
    }

    /// Enable transmit, receive and the receive interrupt.
    pub fn enable(&self) {
        // SAFETY: the register block belongs to this driver (see `new`).
        unsafe {
            // QEMU refuses to transmit below a divider of 16; the rate
            // itself does not matter to an emulated line.
            write_volatile(self.reg(BAUDDIV), 16);
            write_volatile(self.reg(CTRL), CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN);
        }
    }

    pub fn write(&self, bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: as above; the holding register frees within a few
            // cycles of the host reading the socket.
            unsafe {
                while read_volatile(self.reg(STATE)) & STATE_TX_FULL != 0 {}
                write_volatile(self.reg(DATA), u32::from(b));
            }
        }
    }

    /// The receive interrupt: move the byte to the queue and clear the source.
    pub fn on_rx_interrupt(&self) {
        // SAFETY: as above.
        unsafe {
            // Clear first, then drain: a byte that lands after the last read
            // raises the interrupt again instead of sitting unnoticed.
            write_volatile(self.reg(INTCLEAR), INT_RX);
            while read_volatile(self.reg(STATE)) & STATE_RX_FULL != 0 {
                let b = read_volatile(self.reg(DATA)) as u8;
                let lost = critical_section::with(|cs| self.rx.borrow_ref_mut(cs).push_back(b));
                if lost.is_err() {
                    self.overruns
                        .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        kick_host();
    }

    /// Take one received byte, if any.
    pub fn pop(&self) -> Option<u8> {
        critical_section::with(|cs| self.rx.borrow_ref_mut(cs).pop_front())
    }

    pub fn has_input(&self, cs: critical_section::CriticalSection<'_>) -> bool {
        !self.rx.borrow_ref(cs).is_empty()
    }
}
