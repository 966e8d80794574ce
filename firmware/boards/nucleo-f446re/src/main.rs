//! The reference parcel-locker firmware on a Nucleo-F446RE (embassy-stm32).
//!
//! The firmware is `locker_core::board::Firmware`, the code the sim and qemu
//! rigs run; this crate wires it to real pins. See `README.md` beside this
//! file for the wiring table and the modem's line protocol.
//!
//! One async loop waits, with the CPU asleep, for the first of: console
//! bytes, a modem line, the firmware's next deadline, or the 10 ms scan of
//! the keypad matrix and sensor switches.
#![no_std]
#![no_main]

mod board;

use board::{Pins, Real, SCAN_MS};
use embassy_executor::Spawner;
use embassy_futures::select::{Either4, select4};
use embassy_stm32::adc::Adc;
use embassy_stm32::flash::Flash;
use embassy_stm32::gpio::{Input, Level, Output, Pull, Speed};
use embassy_stm32::usart::{BufferedUart, Config as UartConfig};
use embassy_stm32::{bind_interrupts, peripherals, usart};
use embassy_time::{Instant, Timer};
use embedded_io_async::Read;
use locker_core::board::{Firmware, Identity};
use locker_core::{Config, Input as FwInput, Now};
use locker_proto::ResetCause;

// BUILD_ID, BOARD and the LOCKER_IMAGE marker, from the build script.
include!(concat!(env!("OUT_DIR"), "/image.rs"));

bind_interrupts!(struct Irqs {
    USART1 => usart::BufferedInterruptHandler<peripherals::USART1>;
    USART2 => usart::BufferedInterruptHandler<peripherals::USART2>;
});

/// The test station this reference image is provisioned as; a product
/// writes its own identity and key at the factory.
const STATION: u32 = 4711;
const KEY: [u8; 16] = *b"locker-hil-test-";

/// Why the MCU started, from the reset flags (then cleared).
fn reset_cause() -> ResetCause {
    let rcc = embassy_stm32::pac::RCC;
    let csr = rcc.csr().read();
    let cause = if csr.borrstf() && !csr.porrstf() {
        ResetCause::Brownout
    } else if csr.sftrstf() {
        ResetCause::Soft
    } else {
        ResetCause::PowerOn
    };
    rcc.csr().modify(|w| w.set_rmvf(true));
    cause
}

#[embassy_executor::main]
async fn main(_spawner: Spawner) {
    let p = embassy_stm32::init(Default::default());
    let cause = reset_cause();

    let mut cfg = UartConfig::default();
    cfg.baudrate = 115_200;
    static mut CONSOLE_TX: [u8; 512] = [0; 512];
    static mut CONSOLE_RX: [u8; 256] = [0; 256];
    static mut MODEM_TX: [u8; 256] = [0; 256];
    static mut MODEM_RX: [u8; 256] = [0; 256];
    // SAFETY: main runs once; these buffers are handed out exactly once.
    #[allow(static_mut_refs)]
    let (ctx, crx, mtx, mrx) = unsafe {
        (
            &mut CONSOLE_TX,
            &mut CONSOLE_RX,
            &mut MODEM_TX,
            &mut MODEM_RX,
        )
    };
    let Ok(console) = BufferedUart::new(p.USART2, p.PA3, p.PA2, ctx, crx, Irqs, cfg) else {
        panic!("console UART");
    };
    let Ok(modem) = BufferedUart::new(p.USART1, p.PA10, p.PA9, mtx, mrx, Irqs, cfg) else {
        panic!("modem UART");
    };
    let (console_tx, mut console_rx) = console.split();
    let (modem_tx, mut modem_rx) = modem.split();

    let pins = Pins {
        door: [
            Input::new(p.PB0, Pull::Up),
            Input::new(p.PB1, Pull::Up),
            Input::new(p.PB2, Pull::Up),
            Input::new(p.PB3, Pull::Up),
            Input::new(p.PB4, Pull::Up),
        ],
        bolt: [
            Input::new(p.PB5, Pull::Up),
            Input::new(p.PB6, Pull::Up),
            Input::new(p.PB7, Pull::Up),
            Input::new(p.PB8, Pull::Up),
            Input::new(p.PB9, Pull::Up),
        ],
        package: [
            Input::new(p.PB10, Pull::Up),
            Input::new(p.PB12, Pull::Up),
            Input::new(p.PB13, Pull::Up),
            Input::new(p.PB14, Pull::Up),
            Input::new(p.PB15, Pull::Up),
        ],
        solenoid: [
            Output::new(p.PA6, Level::Low, Speed::Low),
            Output::new(p.PA7, Level::Low, Speed::Low),
            Output::new(p.PA8, Level::Low, Speed::Low),
            Output::new(p.PA11, Level::Low, Speed::Low),
            Output::new(p.PA12, Level::Low, Speed::Low),
        ],
        heater: Output::new(p.PC7, Level::Low, Speed::Low),
        rows: [
            Output::new(p.PC0, Level::High, Speed::Low),
            Output::new(p.PC1, Level::High, Speed::Low),
            Output::new(p.PC2, Level::High, Speed::Low),
            Output::new(p.PC3, Level::High, Speed::Low),
        ],
        cols: [
            Input::new(p.PC4, Pull::Up),
            Input::new(p.PC5, Pull::Up),
            Input::new(p.PC6, Pull::Up),
        ],
        help: Input::new(p.PC13, Pull::None),
        thermistor: p.PA0,
    };
    let mut hw = Real::new(
        pins,
        Adc::new(p.ADC1),
        Flash::new_blocking(p.FLASH),
        console_tx,
        modem_tx,
    );

    let id = Identity {
        build: BUILD_ID,
        board: BOARD,
        console: locker_core::console::Style::Framed,
    };
    let nv = hw.nv_load();
    let mut boot_ms = Instant::now().as_millis();
    let now = |boot_ms: u64, hw: &Real| {
        let ms = Instant::now().as_millis() - boot_ms;
        Now {
            ms,
            rtc: hw.rtc_at(ms),
        }
    };
    let mut fw = Firmware::boot(
        Config::reference(STATION, KEY),
        id,
        &nv,
        now(boot_ms, &hw),
        cause,
        &mut hw,
    );

    let mut console_buf = [0u8; 64];
    let mut modem_buf = [0u8; 64];
    let mut modem_line = heapless::String::<96>::new();
    let mut next_scan = Instant::now();
    loop {
        let deadline = Instant::from_millis(boot_ms.saturating_add(fw.next_deadline()));
        let event = select4(
            console_rx.read(&mut console_buf),
            modem_rx.read(&mut modem_buf),
            Timer::at(deadline),
            Timer::at(next_scan),
        )
        .await;
        match event {
            Either4::First(Ok(n)) => {
                for &b in &console_buf[..n] {
                    let t = now(boot_ms, &hw);
                    if fw.console_rx(b, t, &mut hw) {
                        // The firmware restarted: uptime starts again.
                        boot_ms = Instant::now().as_millis();
                    }
                }
            }
            Either4::Second(Ok(n)) => {
                for &b in &modem_buf[..n] {
                    if b == b'\n' {
                        if let Some(input) = board::modem_answer(modem_line.trim()) {
                            fw.handle(now(boot_ms, &hw), input, &mut hw);
                        }
                        modem_line.clear();
                    } else if modem_line.push(b as char).is_err() {
                        modem_line.clear();
                    }
                }
            }
            // A UART error (noise, overrun) loses bytes; the protocols' CRCs
            // and timeouts deal with that.
            Either4::First(Err(_)) | Either4::Second(Err(_)) => {}
            Either4::Third(()) => fw.tick(now(boot_ms, &hw), &mut hw),
            Either4::Fourth(()) => {
                next_scan += embassy_time::Duration::from_millis(SCAN_MS);
                let t = now(boot_ms, &hw);
                let (key, help, sensors) = hw.scan();
                if let Some(k) = key {
                    fw.handle(t, FwInput::Key(k), &mut hw);
                }
                if help {
                    fw.handle(t, FwInput::Help, &mut hw);
                }
                if sensors {
                    fw.handle(t, FwInput::Sensors, &mut hw);
                }
            }
        }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // Restart: the reset drops every output, and the next banner says `soft`.
    cortex_m::peripheral::SCB::sys_reset()
}
