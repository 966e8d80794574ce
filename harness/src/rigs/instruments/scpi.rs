//! The instrument side of the SCPI dialect the bench drivers speak (see
//! [`crate::rigs::bench::fixtures::scpi`]): a command as a chamber or a
//! supply receives it, and an instrument that answers it over a
//! [`Plant`]: the simulated one (`harness rig serve`) or a stand-alone
//! model (the emulated instruments tests drive the bench path with).

/// The two SCPI instruments of a bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstrumentKind {
    Chamber,
    Supply,
}

/// A command as an instrument receives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Received {
    Identify,
    NextError,
    Output(bool),
    /// Chamber set point, °C.
    Temp(f64),
    /// Chamber ramp, °C/min; 0 as fast as it can.
    Ramp(f64),
    MeasureTemp,
    Volts(f64),
    MeasureVolts,
}

impl Received {
    /// Parse one line; `Err` says why the instrument would not take it.
    /// Headers are case-insensitive, as SCPI has them.
    pub fn parse(line: &str) -> Result<Self, String> {
        let line = line.trim();
        let (header, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let arg = arg.trim();
        let number = || {
            arg.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("`{header}` takes a number, not `{arg}`"))
        };
        Ok(match header.to_ascii_uppercase().as_str() {
            "*IDN?" => Self::Identify,
            "SYST:ERR?" => Self::NextError,
            "OUTP" if arg.eq_ignore_ascii_case("ON") || arg == "1" => Self::Output(true),
            "OUTP" if arg.eq_ignore_ascii_case("OFF") || arg == "0" => Self::Output(false),
            "OUTP" => return Err(format!("`OUTP` takes ON or OFF, not `{arg}`")),
            "SOUR:TEMP" => Self::Temp(number()?),
            "SOUR:TEMP:RAMP" => Self::Ramp(number()?).non_negative()?,
            "MEAS:TEMP?" => Self::MeasureTemp,
            "VOLT" => Self::Volts(number()?).non_negative()?,
            "MEAS:VOLT?" => Self::MeasureVolts,
            _ => return Err(format!("unknown command `{header}`")),
        })
    }

    /// Parse one line sent to `to`: the other instrument's commands are
    /// refused like unknown ones.
    pub fn parse_for(line: &str, to: InstrumentKind) -> Result<Self, String> {
        match (to, Self::parse(line)?) {
            (InstrumentKind::Chamber, Self::Volts(_) | Self::MeasureVolts)
            | (InstrumentKind::Supply, Self::Temp(_) | Self::Ramp(_) | Self::MeasureTemp) => {
                Err("not a command of this instrument".into())
            }
            (_, c) => Ok(c),
        }
    }

    fn non_negative(self) -> Result<Self, String> {
        match self {
            Self::Ramp(v) | Self::Volts(v) if v < 0.0 => Err(format!("{v} is negative")),
            ok => Ok(ok),
        }
    }
}

/// A command without the channel list at its end (`VOLT 12,(@2)`,
/// `MEAS:VOLT? (@2)`, `OUTP ON,(@2)`), and the channel it names.
pub fn channel_of(line: &str) -> Result<(&str, Option<u16>), String> {
    let line = line.trim();
    let Some(open) = line.rfind("(@") else {
        return Ok((line, None));
    };
    let list = line[open + 2..]
        .strip_suffix(')')
        .ok_or_else(|| format!("`{line}`: a channel list is `(@N)`"))?;
    let n = list
        .trim()
        .parse::<u16>()
        .map_err(|_| format!("`{line}`: a channel list is `(@N)`, one channel"))?;
    let rest = line[..open].trim_end();
    Ok((rest.strip_suffix(',').unwrap_or(rest).trim_end(), Some(n)))
}

/// `SYST:ERR?`'s answer after a command, as instruments word it.
pub fn error_answer(last: &Result<Received, String>) -> String {
    match last {
        Ok(_) => "0,\"No error\"".into(),
        Err(why) => format!("-100,\"{}\"", why.replace('"', "'")),
    }
}

/// What a chamber's or a supply's settings act on.
pub trait Plant {
    /// The chamber runs toward `set` °C at `ramp` °C/min (0: as fast as it
    /// can), or, `None`, is stopped.
    fn chamber(&mut self, run: Option<(f64, f64)>) -> Result<(), String>;
    /// The air temperature in the chamber now, °C.
    fn air(&mut self) -> f64;
    /// The supply's output at this voltage, or, `None`, off.
    fn supply(&mut self, output: Option<f64>) -> Result<(), String>;
    /// Another channel of the supply than the controller's, switched.
    fn channel(&mut self, n: u16, on: bool) -> Result<(), String> {
        let _ = on;
        Err(format!("channel {n} is not connected to anything"))
    }
    /// The voltage at the supply's terminals now.
    fn volts(&mut self) -> f64;
}

/// A SCPI chamber or supply: what it was told, and its answers.
#[derive(Debug, Clone)]
pub struct ScpiInstrument {
    kind: InstrumentKind,
    identity: String,
    /// Chamber set point and ramp, or supply volts, as last told.
    pub set_point: f64,
    pub ramp: f64,
    pub volts: f64,
    /// Running (chamber) or output on (supply).
    pub output: bool,
    /// The supply channel that powers the controller (1 unless told);
    /// commands naming another go to [`Plant::channel`].
    pub main_channel: u16,
    /// The other channels' outputs, as last told.
    others: std::collections::BTreeMap<u16, bool>,
    /// The last command, for `SYST:ERR?`.
    last: Result<Received, String>,
}

impl ScpiInstrument {
    /// A `kind` that answers `*IDN?` with `identity`, its output as given
    /// and its settings at `set_point` °C or `volts`.
    pub fn new(
        kind: InstrumentKind,
        identity: String,
        set_point: f64,
        volts: f64,
        output: bool,
    ) -> Self {
        Self {
            kind,
            identity,
            set_point,
            ramp: 0.0,
            volts,
            output,
            main_channel: 1,
            others: std::collections::BTreeMap::new(),
            last: Ok(Received::Identify),
        }
    }

    /// Take one line: its answer, if the command has one, or why it was
    /// refused (real instruments say nothing then; `SYST:ERR?` tells).
    pub fn answer(&mut self, line: &str, plant: &mut impl Plant) -> Result<Option<String>, String> {
        let (line, channel) = match channel_of(line) {
            Ok(c) => c,
            Err(e) => {
                self.last = Err(e.clone());
                return Err(e);
            }
        };
        let command = Received::parse_for(line, self.kind);
        if let Some(n) = channel.filter(|&n| n != self.main_channel) {
            return self.other_channel(line, n, command, plant);
        }
        if let Ok(Received::NextError) = command {
            return Ok(Some(error_answer(&self.last)));
        }
        let mut answer = None;
        let chamber = |s: &Self| s.output.then_some((s.set_point, s.ramp));
        let taken = match &command {
            Err(e) => Err(e.clone()),
            Ok(Received::NextError) => Ok(()),
            Ok(Received::Identify) => {
                answer = Some(self.identity.clone());
                Ok(())
            }
            Ok(Received::Temp(t)) => {
                self.set_point = *t;
                match chamber(self) {
                    Some(run) => plant.chamber(Some(run)),
                    None => Ok(()),
                }
            }
            Ok(Received::Ramp(r)) => {
                self.ramp = *r;
                match chamber(self) {
                    Some(run) => plant.chamber(Some(run)),
                    None => Ok(()),
                }
            }
            Ok(Received::Output(on)) if self.kind == InstrumentKind::Chamber => {
                self.output = *on;
                plant.chamber(chamber(self))
            }
            Ok(Received::MeasureTemp) => {
                answer = Some(format!("{:.2}", plant.air()));
                Ok(())
            }
            Ok(Received::Volts(v)) => {
                self.volts = *v;
                match self.output {
                    true => plant.supply(Some(*v)),
                    false => Ok(()),
                }
            }
            Ok(Received::Output(on)) => {
                self.output = *on;
                plant.supply(on.then_some(self.volts))
            }
            Ok(Received::MeasureVolts) => {
                answer = Some(format!("{:.3}", plant.volts()));
                Ok(())
            }
        };
        self.last = taken.clone().and(command);
        taken.map(|()| answer)
    }
}

impl ScpiInstrument {
    /// A command for a supply channel other than the controller's.
    fn other_channel(
        &mut self,
        line: &str,
        n: u16,
        command: Result<Received, String>,
        plant: &mut impl Plant,
    ) -> Result<Option<String>, String> {
        let taken = match (self.kind, &command) {
            (InstrumentKind::Supply, Ok(Received::Output(on))) => plant.channel(n, *on).map(|()| {
                self.others.insert(n, *on);
                None
            }),
            (InstrumentKind::Supply, Ok(Received::Volts(_))) => Ok(None),
            (InstrumentKind::Supply, Ok(Received::MeasureVolts)) => {
                let on = self.others.get(&n).copied().unwrap_or(false);
                Ok(Some(if on { "5.000" } else { "0.000" }.to_owned()))
            }
            (_, Err(e)) => Err(e.clone()),
            _ => Err(format!("`{line}` takes no channel")),
        };
        self.last = taken.clone().and(command);
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("VOLT 12,(@2)", Ok(("VOLT 12", Some(2))))]
    #[case("MEAS:VOLT? (@1)", Ok(("MEAS:VOLT?", Some(1))))]
    #[case("OUTP ON, (@3)", Ok(("OUTP ON", Some(3))))]
    #[case("OUTP ON", Ok(("OUTP ON", None)))]
    #[case("OUTP ON,(@x)", Err("`OUTP ON,(@x)`: a channel list is `(@N)`, one channel".to_owned()))]
    fn channel_lists(#[case] line: &str, #[case] want: Result<(&str, Option<u16>), String>) {
        assert_eq!(channel_of(line), want);
    }

    #[test]
    fn a_supply_switches_its_other_channels_through_the_plant() {
        #[derive(Default)]
        struct Channels(Vec<(u16, bool)>, Vec<Option<f64>>);
        impl Plant for Channels {
            fn chamber(&mut self, _: Option<(f64, f64)>) -> Result<(), String> {
                Ok(())
            }
            fn air(&mut self) -> f64 {
                20.0
            }
            fn supply(&mut self, output: Option<f64>) -> Result<(), String> {
                self.1.push(output);
                Ok(())
            }
            fn volts(&mut self) -> f64 {
                12.0
            }
            fn channel(&mut self, n: u16, on: bool) -> Result<(), String> {
                self.0.push((n, on));
                Ok(())
            }
        }
        let mut s = ScpiInstrument::new(InstrumentKind::Supply, "s".into(), 0.0, 12.0, true);
        let mut p = Channels::default();
        assert_eq!(s.answer("OUTP OFF,(@2)", &mut p), Ok(None));
        assert_eq!(s.answer("OUTP ON,(@1)", &mut p), Ok(None));
        assert_eq!(
            s.answer("MEAS:VOLT? (@2)", &mut p),
            Ok(Some("0.000".into()))
        );
        assert_eq!(
            s.answer("MEAS:VOLT? (@1)", &mut p),
            Ok(Some("12.000".into()))
        );
        assert_eq!(p.0, [(2, false)]);
        assert_eq!(p.1, [Some(12.0)]);
    }

    #[rstest]
    #[case("*IDN?", Ok(Received::Identify))]
    #[case("syst:err?", Ok(Received::NextError))]
    #[case("OUTP ON", Ok(Received::Output(true)))]
    #[case("OUTP 0", Ok(Received::Output(false)))]
    #[case("SOUR:TEMP -20.5", Ok(Received::Temp(-20.5)))]
    #[case("SOUR:TEMP:RAMP 2", Ok(Received::Ramp(2.0)))]
    #[case("VOLT 11.5\r", Ok(Received::Volts(11.5)))]
    #[case("MEAS:VOLT?", Ok(Received::MeasureVolts))]
    #[case("VOLT -3", Err("-3 is negative".to_owned()))]
    #[case("SOUR:TEMP hot", Err("`SOUR:TEMP` takes a number, not `hot`".to_owned()))]
    #[case("OUTP maybe", Err("`OUTP` takes ON or OFF, not `maybe`".to_owned()))]
    #[case("FREQ 50", Err("unknown command `FREQ`".to_owned()))]
    fn instruments_parse_the_dialect(#[case] line: &str, #[case] want: Result<Received, String>) {
        assert_eq!(Received::parse(line), want);
    }

    #[rstest]
    #[case("VOLT 12", InstrumentKind::Chamber)]
    #[case("MEAS:VOLT?", InstrumentKind::Chamber)]
    #[case("SOUR:TEMP 5", InstrumentKind::Supply)]
    #[case("SOUR:TEMP:RAMP 1", InstrumentKind::Supply)]
    #[case("MEAS:TEMP?", InstrumentKind::Supply)]
    fn each_instrument_refuses_the_others_commands(#[case] line: &str, #[case] to: InstrumentKind) {
        assert_eq!(
            Received::parse_for(line, to),
            Err("not a command of this instrument".to_owned())
        );
        assert_eq!(Received::parse_for("*IDN?", to), Ok(Received::Identify));
    }

    /// What a plant was asked to do, in order.
    #[derive(Default)]
    struct Told(Vec<String>);

    impl Plant for Told {
        fn chamber(&mut self, run: Option<(f64, f64)>) -> Result<(), String> {
            self.0.push(format!("chamber {run:?}"));
            Ok(())
        }
        fn air(&mut self) -> f64 {
            21.5
        }
        fn supply(&mut self, output: Option<f64>) -> Result<(), String> {
            match output {
                Some(v) if v > 30.0 => Err("over the limit".into()),
                _ => {
                    self.0.push(format!("supply {output:?}"));
                    Ok(())
                }
            }
        }
        fn volts(&mut self) -> f64 {
            12.0
        }
    }

    #[test]
    fn a_chamber_applies_its_settings_only_while_it_runs() {
        let mut c = ScpiInstrument::new(InstrumentKind::Chamber, "c".into(), 20.0, 0.0, false);
        let mut p = Told::default();
        assert_eq!(c.answer("SOUR:TEMP -10", &mut p), Ok(None));
        assert_eq!(c.answer("SOUR:TEMP:RAMP 2", &mut p), Ok(None));
        assert!(p.0.is_empty());
        assert_eq!(c.answer("OUTP ON", &mut p), Ok(None));
        assert_eq!(c.answer("SOUR:TEMP 5", &mut p), Ok(None));
        assert_eq!(c.answer("OUTP OFF", &mut p), Ok(None));
        assert_eq!(
            p.0,
            [
                "chamber Some((-10.0, 2.0))",
                "chamber Some((5.0, 2.0))",
                "chamber None"
            ]
        );
        assert_eq!(c.answer("MEAS:TEMP?", &mut p), Ok(Some("21.50".into())));
        assert_eq!(c.answer("*IDN?", &mut p), Ok(Some("c".into())));
    }

    #[test]
    fn a_setting_the_plant_refuses_is_the_next_error() {
        let mut s = ScpiInstrument::new(InstrumentKind::Supply, "s".into(), 0.0, 12.0, true);
        let mut p = Told::default();
        assert_eq!(s.answer("VOLT 40", &mut p), Err("over the limit".into()));
        assert_eq!(
            s.answer("SYST:ERR?", &mut p),
            Ok(Some("-100,\"over the limit\"".into()))
        );
        assert_eq!(s.answer("VOLT 9", &mut p), Ok(None));
        assert_eq!(
            s.answer("SYST:ERR?", &mut p),
            Ok(Some("0,\"No error\"".into()))
        );
        assert_eq!(
            s.answer("SOUR:TEMP 5", &mut p),
            Err("not a command of this instrument".into())
        );
        assert_eq!(p.0, ["supply Some(9.0)"]);
    }
}
