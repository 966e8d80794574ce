//! Temperature policy: heater, cold pulses, and refusal outside the safe range,
//! each with hysteresis so a sensor hovering at a threshold does not chatter.
//! Temperatures are hundredths of a degree Celsius.

/// Heater switches on below this...
pub const HEATER_ON_BELOW: i32 = 500;
/// ...and off above this.
pub const HEATER_OFF_ABOVE: i32 = 800;
/// Below this the solenoid gets the long pulse.
pub const COLD_PULSE_BELOW: i32 = 0;
pub const PULSE_MS: u16 = 200;
pub const COLD_PULSE_MS: u16 = 400;
/// Refuse to actuate below this; resume above `COLD_RESUME_ABOVE`.
pub const COLD_REFUSE_BELOW: i32 = -2000;
pub const COLD_RESUME_ABOVE: i32 = -1700;
/// Refuse to actuate above this; resume below `HOT_RESUME_BELOW`.
pub const HOT_REFUSE_ABOVE: i32 = 6000;
pub const HOT_RESUME_BELOW: i32 = 5700;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Refusal {
    #[default]
    None,
    Cold,
    Hot,
}

/// State of the policy between samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TempPolicy {
    pub heater: bool,
    pub refusal: Refusal,
    pub last: Option<i32>,
}

impl TempPolicy {
    /// Take a sample; returns true when heater or refusal changed.
    pub fn sample(&mut self, t: i32) -> bool {
        let before = (self.heater, self.refusal);
        self.last = Some(t);
        if self.heater && t > HEATER_OFF_ABOVE {
            self.heater = false;
        } else if !self.heater && t < HEATER_ON_BELOW {
            self.heater = true;
        }
        self.refusal = match self.refusal {
            Refusal::None if t < COLD_REFUSE_BELOW => Refusal::Cold,
            Refusal::None if t > HOT_REFUSE_ABOVE => Refusal::Hot,
            Refusal::Cold if t > COLD_RESUME_ABOVE => Refusal::None,
            Refusal::Hot if t < HOT_RESUME_BELOW => Refusal::None,
            r => r,
        };
        before != (self.heater, self.refusal)
    }

    /// Solenoid pulse for the current temperature.
    pub fn pulse_ms(&self) -> u16 {
        match self.last {
            Some(t) if t < COLD_PULSE_BELOW => COLD_PULSE_MS,
            _ => PULSE_MS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heater_has_hysteresis() {
        let mut p = TempPolicy::default();
        p.sample(900);
        assert!(!p.heater);
        p.sample(499);
        assert!(p.heater);
        p.sample(800);
        assert!(p.heater, "stays on up to the off threshold");
        p.sample(801);
        assert!(!p.heater);
        p.sample(500);
        assert!(!p.heater, "stays off down to the on threshold");
    }

    #[test]
    fn refusal_has_hysteresis_at_both_ends() {
        let mut p = TempPolicy::default();
        p.sample(-2000);
        assert_eq!(p.refusal, Refusal::None);
        p.sample(-2001);
        assert_eq!(p.refusal, Refusal::Cold);
        p.sample(-1700);
        assert_eq!(p.refusal, Refusal::Cold);
        p.sample(-1699);
        assert_eq!(p.refusal, Refusal::None);
        p.sample(6001);
        assert_eq!(p.refusal, Refusal::Hot);
        p.sample(5700);
        assert_eq!(p.refusal, Refusal::Hot);
        p.sample(5699);
        assert_eq!(p.refusal, Refusal::None);
    }

    #[test]
    fn cold_gets_long_pulse() {
        let mut p = TempPolicy::default();
        // PROTOCOL.md: 200 ms, 400 ms below 0 C.
        assert_eq!(p.pulse_ms(), 200);
        p.sample(0);
        assert_eq!(p.pulse_ms(), 200);
        p.sample(-1);
        assert_eq!(p.pulse_ms(), 400);
    }
}
