//! Quantities with units, as written in suites and rig files: `500ms`, `2h`,
//! `-25C`, `9.5V`, `2C/min`. This is the one place they are parsed.

use serde::de::{self, Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;

/// Longest duration a suite may ask for: a year of simulated soak is
/// plenty, and it bounds what one step can cost.
const MAX_DURATION_MS: f64 = 366.0 * 86_400e3;

fn split_number(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || ((c == '-' || c == '+') && i == 0)))
        .map_or(s.len(), |(i, _)| i);
    let (num, unit) = s.split_at(end);
    let v: f64 = num.parse().ok()?;
    v.is_finite().then_some((v, unit.trim()))
}

/// Parse a duration: a number and one of `ms`, `s`, `m`/`min`, `h`, `d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "`{s}` is not a duration: expected a number and a unit (ms, s, m, h, d), like 500ms or 2h"
        )
    };
    let (v, unit) = split_number(s).ok_or_else(bad)?;
    let ms = match unit {
        "ms" => v,
        "s" => v * 1e3,
        "m" | "min" => v * 60e3,
        "h" => v * 3_600e3,
        "d" => v * 86_400e3,
        _ => return Err(bad()),
    };
    if !(0.0..=MAX_DURATION_MS).contains(&ms) {
        return Err(format!(
            "`{s}` is out of range: a duration is between 0 and 366d"
        ));
    }
    Ok(Duration::from_micros((ms * 1e3).round() as u64))
}

/// Parse a signed offset (clock drift): `+3m`, `-90s`. Returns milliseconds.
pub fn parse_offset(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let d = parse_duration(rest).map_err(|_| {
        format!("`{s}` is not a clock offset: expected a signed duration like +3m or -90s")
    })?;
    Ok(sign * d.as_millis() as i64)
}

/// Render a duration the way suites write it.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".into()
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A duration for people, to two units: `3d 4h`, `5h 12m`, `4m 3s`,
/// `12.5s`, `850ms`.
pub fn fmt_span(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    let two = |a: u64, ua: &str, b: u64, ub: &str| match b {
        0 => format!("{a}{ua}"),
        b => format!("{a}{ua} {b}{ub}"),
    };
    match (days, s / 3600, s / 60) {
        (1.., _, _) => two(days, "d", h, "h"),
        (0, 1.., _) => two(s / 3600, "h", m, "m"),
        (0, 0, 1..) => two(s / 60, "m", s % 60, "s"),
        _ if s >= 10 => format!("{:.1}s", d.as_secs_f64()),
        _ if s >= 1 => format!("{:.2}s", d.as_secs_f64()),
        _ => format!("{}ms", d.as_millis()),
    }
}

/// A case's length for people, exact to the second from a minute up and
/// with every unit below the largest: `3d 0h 0m 7s`, `2h 5m 0s`, `4m 3s`,
/// `14.2s`, `850ms`. The terminal and the page both say rig time this way.
pub fn fmt_elapsed(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (days, s / 3600, s / 60) {
        (1.., _, _) => format!("{days}d {h}h {m}m {sec}s"),
        (0, 1.., _) => format!("{h}h {m}m {sec}s"),
        (0, 0, 1..) => format!("{m}m {sec}s"),
        _ if s >= 1 => {
            let tenths = d.as_millis() / 100;
            match tenths % 10 {
                0 => format!("{s}s"),
                t => format!("{s}.{t}s"),
            }
        }
        _ => format!("{}ms", d.as_millis()),
    }
}

/// A duration read from YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(d, "a duration like 500ms or 2h", |s| {
            parse_duration(s).map(Dur)
        })
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_duration(self.0))
    }
}

/// A signed clock offset in milliseconds read from YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset(pub i64);

impl<'de> Deserialize<'de> for Offset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(d, "a signed duration like +3m or -90s", |s| {
            parse_offset(s).map(Offset)
        })
    }
}

/// Temperature in degrees Celsius: `-25C`, `8.5C`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Celsius(pub f64);

impl Celsius {
    pub fn centi(self) -> i32 {
        (self.0 * 100.0).round() as i32
    }
}

pub fn parse_celsius(s: &str) -> Result<Celsius, String> {
    let bad = || format!("`{s}` is not a temperature: expected a number and C, like -25C or 8.5C");
    match split_number(s) {
        Some((v, "C")) if (-100.0..=200.0).contains(&v) => Ok(Celsius(v)),
        Some((_, "C")) => Err(format!(
            "`{s}` is out of range: a temperature is between -100C and 200C"
        )),
        _ => Err(bad()),
    }
}

impl<'de> Deserialize<'de> for Celsius {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(d, "a temperature like -25C", parse_celsius)
    }
}

impl fmt::Display for Celsius {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}C", self.0)
    }
}

/// A supply voltage: `12V`, `9.5V`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Volts(pub f64);

fn parse_volts(s: &str) -> Result<Volts, String> {
    match split_number(s) {
        Some((v, "V")) if (0.0..=60.0).contains(&v) => Ok(Volts(v)),
        Some((_, "V")) => Err(format!(
            "`{s}` is out of range: a voltage is between 0V and 60V"
        )),
        _ => Err(format!(
            "`{s}` is not a voltage: expected a number and V, like 12V or 9.5V"
        )),
    }
}

impl<'de> Deserialize<'de> for Volts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(d, "a voltage like 12V", parse_volts)
    }
}

impl fmt::Display for Volts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}V", self.0)
    }
}

/// A temperature ramp rate: `2C/min`, `30C/h`. Stored as degrees per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Ramp(pub f64);

fn parse_ramp(s: &str) -> Result<Ramp, String> {
    let bad =
        || format!("`{s}` is not a ramp rate: expected degrees per time, like 2C/min or 30C/h");
    let (deg, per) = s.split_once('/').ok_or_else(bad)?;
    let Celsius(v) = parse_celsius(deg).map_err(|_| bad())?;
    let secs = match per.trim() {
        "s" => 1.0,
        "min" | "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    if v <= 0.0 {
        return Err(format!("`{s}`: a ramp rate must be above zero"));
    }
    Ok(Ramp(v / secs))
}

impl<'de> Deserialize<'de> for Ramp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(d, "a ramp rate like 2C/min", parse_ramp)
    }
}

/// A YAML scalar read as text (numbers too, so `0` reaches our own error)
/// and parsed inside the parser's own call: an error is placed at the
/// scalar, not at the mapping around it.
fn scalar<'de, D, T>(
    d: D,
    expected: &'static str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct V<F>(&'static str, F);
    impl<T, F: FnOnce(&str) -> Result<T, String>> de::Visitor<'_> for V<F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.1)(v).map_err(E::custom)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }
    }
    d.deserialize_any(V(expected, parse))
}

/// Schemas of the units as suites write them: text a pattern describes
/// (a number alone is refused, whatever it means).
#[cfg(feature = "schema")]
mod schema {
    use super::{Celsius, Dur, Offset, Ramp, Volts, patterns};
    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
    use std::borrow::Cow;

    macro_rules! text {
        ($ty:ty, $name:literal, $pattern:expr, $description:literal) => {
            impl JsonSchema for $ty {
                fn schema_name() -> Cow<'static, str> {
                    $name.into()
                }
                fn json_schema(_: &mut SchemaGenerator) -> Schema {
                    json_schema!({
                        "type": "string",
                        "pattern": $pattern,
                        "description": $description,
                    })
                }
            }
        };
    }

    text!(
        Dur,
        "Duration",
        patterns::DURATION,
        "A duration: a number and a unit, `500ms`, `2s`, `1.5s`, `30m` (or `30min`), `2h`, `3d`."
    );
    text!(
        Offset,
        "Offset",
        patterns::OFFSET,
        "A signed duration: `+3m`, `-90s`."
    );
    text!(
        Celsius,
        "Celsius",
        patterns::CELSIUS,
        "A temperature in degrees Celsius: `20C`, `-25C`, `4.5C`."
    );
    text!(Volts, "Volts", patterns::VOLTS, "A voltage: `12V`, `8.5V`.");
    text!(
        Ramp,
        "Ramp",
        patterns::RAMP,
        "A rate of temperature change: `2C/min`, `30C/h`."
    );
}

/// The unit texts as regular expressions, for the schemas: every text the
/// parsers above read matches, and a text they refuse for its form does
/// not (a test holds them to it; ranges are the parsers' alone).
#[cfg_attr(not(feature = "schema"), allow(dead_code))]
mod patterns {
    pub const DURATION: &str = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*(ms|s|min|m|h|d)\s*$";
    pub const OFFSET: &str = r"^\s*[+-]?\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*(ms|s|min|m|h|d)\s*$";
    pub const CELSIUS: &str = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*C\s*$";
    pub const VOLTS: &str = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*V\s*$";
    pub const RAMP: &str = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*C\s*/\s*(s|min|m|h)\s*$";
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0, "0ms")]
    #[case(850, "850ms")]
    #[case(1_234, "1.23s")]
    #[case(12_500, "12.5s")]
    #[case(243_000, "4m 3s")]
    #[case(18_720_000, "5h 12m")]
    #[case(540_000, "9m")]
    #[case(172_800_000, "2d")]
    #[case(1_879_052_000, "21d 17h")]
    fn spans_for_people(#[case] ms: u64, #[case] text: &str) {
        assert_eq!(fmt_span(Duration::from_millis(ms)), text);
    }

    /// Issue 13: a terminal line said `[259207130ms rig time]`.
    #[rstest]
    #[case(0, "0ms")]
    #[case(850, "850ms")]
    #[case(14_000, "14s")]
    #[case(14_230, "14.2s")]
    #[case(243_000, "4m 3s")]
    #[case(7_500_000, "2h 5m 0s")]
    #[case(259_207_130, "3d 0h 0m 7s")]
    fn rig_times_for_people(#[case] ms: u64, #[case] text: &str) {
        assert_eq!(fmt_elapsed(Duration::from_millis(ms)), text);
    }

    #[rstest]
    #[case("500ms", 500)]
    #[case("2s", 2_000)]
    #[case("1.5s", 1_500)]
    #[case("30m", 1_800_000)]
    #[case("2h", 7_200_000)]
    #[case("1d", 86_400_000)]
    #[case(" 10 s ", 10_000)]
    fn durations(#[case] text: &str, #[case] ms: u128) {
        assert_eq!(parse_duration(text).unwrap().as_millis(), ms);
    }

    #[rstest]
    #[case("5")]
    #[case("5q")]
    #[case("ms")]
    #[case("-1s")]
    #[case("1e400s")]
    #[case("367d")]
    #[case("NaNs")]
    fn bad_durations(#[case] text: &str) {
        assert!(parse_duration(text).is_err(), "{text}");
    }

    /// The schemas' patterns read what the parsers read: each sample the
    /// parser takes matches, each it refuses for its form does not.
    #[rstest]
    #[case(patterns::DURATION, (|s| parse_duration(s).is_ok()) as fn(&str) -> bool, &["500ms", "2s", "1.5s", " 10 s ", "30m", "1min", "2h", "1d", ".5s", "1.s", "+2s", "0ms"], &["5", "5q", "ms", "2 hours", "s2", "1e3s", ""])]
    #[case(patterns::OFFSET, (|s| parse_offset(s).is_ok()) as fn(&str) -> bool, &["-3m", "+90s", "2h", "- 3m", "0s"], &["3", "-m", "+-"])]
    #[case(patterns::CELSIUS, (|s| parse_celsius(s).is_ok()) as fn(&str) -> bool, &["20C", "-25C", "4.5C", "+8C", " 8 C "], &["20", "20F", "C", "-"])]
    #[case(patterns::VOLTS, (|s| parse_volts(s).is_ok()) as fn(&str) -> bool, &["12V", "8.5V", " 9 V"], &["12", "12v", "V"])]
    #[case(patterns::RAMP, (|s| parse_ramp(s).is_ok()) as fn(&str) -> bool, &["2C/min", "30C/h", "10C/m", "1C / s"], &["2C", "2/min", "2C/day", "C/h"])]
    fn schema_patterns_read_what_the_parsers_read(
        #[case] pattern: &str,
        #[case] parse: fn(&str) -> bool,
        #[case] taken: &[&str],
        #[case] refused: &[&str],
    ) {
        let re = regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{e}"));
        for s in taken {
            assert!(parse(s), "the parser refuses `{s}`");
            assert!(
                re.is_match(s),
                "`{pattern}` refuses `{s}`, which the parser takes"
            );
        }
        for s in refused {
            assert!(!parse(s), "the parser takes `{s}`");
            assert!(
                !re.is_match(s),
                "`{pattern}` takes `{s}`, which the parser refuses"
            );
        }
    }

    #[test]
    fn offsets_and_temperatures() {
        assert_eq!(parse_offset("-3m"), Ok(-180_000));
        assert_eq!(parse_offset("+90s"), Ok(90_000));
        assert_eq!(parse_celsius("-25C").unwrap().centi(), -2500);
        assert!(parse_celsius("-25").is_err());
        assert!(parse_celsius("-400C").is_err());
        assert_eq!(fmt_duration(Duration::from_secs(7200)), "2h");
    }
}
