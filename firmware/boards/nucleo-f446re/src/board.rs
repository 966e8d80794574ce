//! The Nucleo-F446RE's pins, ADC, flash and UARTs behind `locker_core::board::Board`.

use embassy_stm32::Peri;
use embassy_stm32::adc::{Adc, SampleTime};
use embassy_stm32::flash::{Blocking, Flash};
use embassy_stm32::gpio::{Input, Output};
use embassy_stm32::peripherals::{ADC1, PA0};
use embassy_stm32::usart::BufferedUartTx;
use embedded_io::Write;
use locker_core::board::Board;
use locker_core::nv::NV_SIZE;
use locker_core::{Input as FwInput, Record};
use locker_proto::{Key, Link, UplinkKind};

/// Keypad and sensor scan period.
pub const SCAN_MS: u64 = 10;
const COMPARTMENTS: usize = 5;

/// Non-volatile memory: the last 128 KiB sector, used as a log of 512-byte
/// slots so the sector is erased once per 256 writes, not on every write.
const NV_SECTOR: u32 = 0x6_0000;
const NV_SECTOR_SIZE: u32 = 0x2_0000;
const SLOTS: u32 = NV_SECTOR_SIZE / NV_SIZE as u32;

/// Keypad matrix: rows driven low one at a time, columns read with pull-ups.
const KEYS: [[char; 3]; 4] = [
    ['1', '2', '3'],
    ['4', '5', '6'],
    ['7', '8', '9'],
    ['*', '0', '#'],
];

pub struct Pins {
    /// Door-closed switches, closed to ground when the door is shut.
    pub door: [Input<'static>; COMPARTMENTS],
    /// Bolt switches, closed to ground when the bolt is extended.
    pub bolt: [Input<'static>; COMPARTMENTS],
    /// Package sensors (open collector), low when a parcel is in.
    pub package: [Input<'static>; COMPARTMENTS],
    /// Solenoid drivers (logic-level MOSFETs), high = energised.
    pub solenoid: [Output<'static>; COMPARTMENTS],
    pub heater: Output<'static>,
    pub rows: [Output<'static>; 4],
    pub cols: [Input<'static>; 3],
    /// B1, the Nucleo's user button, as the help button (low when pressed).
    pub help: Input<'static>,
    /// NTC 10 kΩ (B = 3950) to ground, 10 kΩ pull-up to 3.3 V.
    pub thermistor: Peri<'static, PA0>,
}

/// The board as the firmware drives it.
pub struct Real {
    pins: Pins,
    adc: Adc<'static, ADC1>,
    flash: Flash<'static, Blocking>,
    console: BufferedUartTx<'static>,
    modem: BufferedUartTx<'static>,
    /// Next NV slot to write.
    next_slot: u32,
    /// Unix ms minus MCU ms: the clock `CLOCK` sets (kept in RAM; see README).
    rtc_offset_ms: i64,
    /// Last scan: key seen (for one event per press), help, sensor levels.
    last_key: Option<char>,
    key_stable: u8,
    last_help: bool,
    last_sensors: (u32, u32, u32),
}

impl Real {
    pub fn new(
        pins: Pins,
        adc: Adc<'static, ADC1>,
        flash: Flash<'static, Blocking>,
        console: BufferedUartTx<'static>,
        modem: BufferedUartTx<'static>,
    ) -> Self {
        let mut real = Self {
            pins,
            adc,
            flash,
            console,
            modem,
            next_slot: 0,
            rtc_offset_ms: 0,
            last_key: None,
            key_stable: 0,
            last_help: false,
            last_sensors: (0, 0, 0),
        };
        real.last_sensors = real.sensors();
        real
    }

    fn slot_written(&mut self, slot: u32) -> bool {
        let mut first = [0u8; 4];
        let _ = self
            .flash
            .blocking_read(NV_SECTOR + slot * NV_SIZE as u32, &mut first);
        first != [0xFF; 4]
    }

    /// The newest image in the log (all `0xFF` when none: factory state).
    pub fn nv_load(&mut self) -> [u8; NV_SIZE] {
        let mut image = [0xFF; NV_SIZE];
        let used = (0..SLOTS).take_while(|&s| self.slot_written(s)).count() as u32;
        if used > 0 {
            let _ = self
                .flash
                .blocking_read(NV_SECTOR + (used - 1) * NV_SIZE as u32, &mut image);
        }
        self.next_slot = used;
        image
    }

    /// Real-time clock in unix seconds.
    pub fn rtc_at(&self, _uptime_ms: u64) -> u64 {
        let ms = embassy_time::Instant::now().as_millis() as i64 + self.rtc_offset_ms;
        (ms.max(0) / 1000) as u64
    }

    fn sensors(&self) -> (u32, u32, u32) {
        let mask = |pins: &[Input<'static>; COMPARTMENTS]| {
            pins.iter()
                .enumerate()
                .fold(0u32, |m, (i, p)| m | (u32::from(p.is_low()) << i))
        };
        (
            mask(&self.pins.door),
            mask(&self.pins.bolt),
            mask(&self.pins.package),
        )
    }

    fn key_down(&mut self) -> Option<char> {
        let mut down = None;
        for (r, row) in self.pins.rows.iter_mut().enumerate() {
            row.set_low();
            // Let the column lines settle through the pull-ups.
            cortex_m::asm::delay(200);
            for (c, col) in self.pins.cols.iter().enumerate() {
                if col.is_low() {
                    down = Some(KEYS[r][c]);
                }
            }
            row.set_high();
        }
        down
    }

    /// One 10 ms scan: a key pressed (after 20 ms stable), the help button
    /// pressed, whether any sensor line changed.
    pub fn scan(&mut self) -> (Option<Key>, bool, bool) {
        let key = self.key_down();
        let mut pressed = None;
        if key == self.last_key {
            self.key_stable = self.key_stable.saturating_add(1);
            if self.key_stable == 2 {
                pressed = key.and_then(Key::from_char);
            }
        } else {
            self.last_key = key;
            self.key_stable = 0;
        }
        let help = self.pins.help.is_low();
        let help_pressed = help && !self.last_help;
        self.last_help = help;
        let sensors = self.sensors();
        let changed = sensors != self.last_sensors;
        self.last_sensors = sensors;
        (pressed, help_pressed, changed)
    }

    fn modem_line(&mut self, args: core::fmt::Arguments<'_>) {
        let mut line = heapless::String::<96>::new();
        let _ = core::fmt::write(&mut line, args);
        let _ = self.modem.write_all(line.as_bytes());
        let _ = self.modem.write_all(b"\n");
    }
}

/// A line from the modem co-processor, as a firmware input.
pub fn modem_answer(line: &str) -> Option<FwInput> {
    let mut w = line.split_ascii_whitespace();
    let verb = w.next()?;
    let link = Link::parse(w.next()?).ok()?;
    match verb {
        "PROBE" => {
            let ok = w.next()? == "ok";
            Some(FwInput::LinkProbe { link, ok })
        }
        "ACK" => {
            let seq = w.next()?.parse().ok()?;
            let ok = w.next()? == "ok";
            Some(FwInput::UplinkResult { link, seq, ok })
        }
        _ => None,
    }
}

/// ADC counts (12 bit) to hundredths of a degree, for the NTC divider.
fn ntc_centi(raw: u16) -> i32 {
    let raw = f32::from(raw.clamp(1, 4094));
    let r = 10_000.0 * raw / (4095.0 - raw);
    let inv_t = 1.0 / 298.15 + libm::logf(r / 10_000.0) / 3950.0;
    ((1.0 / inv_t - 273.15) * 100.0) as i32
}

impl Board for Real {
    fn door_closed(&self, c: usize) -> bool {
        self.pins.door.get(c).is_some_and(Input::is_low)
    }
    fn bolt_extended(&self, c: usize) -> bool {
        self.pins.bolt.get(c).is_some_and(Input::is_low)
    }
    fn package_present(&self, c: usize) -> bool {
        self.pins.package.get(c).is_some_and(Input::is_low)
    }
    fn read_temp_centi(&mut self) -> i32 {
        let raw = self
            .adc
            .blocking_read(&mut self.pins.thermistor, SampleTime::CYCLES480);
        ntc_centi(raw)
    }
    fn set_solenoid(&mut self, c: usize, on: bool) {
        if let Some(p) = self.pins.solenoid.get_mut(c) {
            if on { p.set_high() } else { p.set_low() }
        }
    }
    fn set_heater(&mut self, on: bool) {
        if on {
            self.pins.heater.set_high();
        } else {
            self.pins.heater.set_low();
        }
    }
    fn link_probe(&mut self, link: Link) {
        self.modem_line(format_args!("PROBE {link}"));
    }
    fn uplink(&mut self, link: Link, r: &Record) {
        let kind: UplinkKind = r.kind;
        self.modem_line(format_args!(
            "SEND {link} {} {kind} {} {}",
            r.seq, r.compartment, r.value
        ));
    }
    fn nv_write(&mut self, image: &[u8; NV_SIZE]) {
        if self.next_slot >= SLOTS {
            let _ = self
                .flash
                .blocking_erase(NV_SECTOR, NV_SECTOR + NV_SECTOR_SIZE);
            self.next_slot = 0;
        }
        let _ = self
            .flash
            .blocking_write(NV_SECTOR + self.next_slot * NV_SIZE as u32, image);
        self.next_slot += 1;
    }
    fn console_write(&mut self, bytes: &[u8]) {
        let _ = self.console.write_all(bytes);
    }
    fn set_rtc(&mut self, unix_s: u64) {
        self.rtc_offset_ms =
            (unix_s * 1000) as i64 - embassy_time::Instant::now().as_millis() as i64;
    }
    fn reset_peripherals(&mut self) {
        for p in &mut self.pins.solenoid {
            p.set_low();
        }
        self.pins.heater.set_low();
    }
}
