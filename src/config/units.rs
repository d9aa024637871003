//! The value types of the configuration — durations ("500ms", "5s", "2m"), sizes ("300MB"), regular
//! expressions, names — as operators write them. A leaf: every section type may use it; it imports nothing of wasp.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A duration from the config file. Zero is allowed (e.g. "no cooldown"); use [`Interval`] where it is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

/// A strictly positive duration: collection intervals, timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval(pub Duration);

impl Dur {
    pub const fn secs(s: u64) -> Self {
        Dur(Duration::from_secs(s))
    }
}

impl Interval {
    pub const fn secs(s: u64) -> Self {
        Interval(Duration::from_secs(s))
    }
    pub const fn millis(ms: u64) -> Self {
        Interval(Duration::from_millis(ms))
    }
}

/// Parses "250ms", "5s", "1.5s", "2m", "1h", "1d" and combinations like "1m30s".
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("an empty duration; write e.g. \"5s\", \"500ms\", \"2m\"".into());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!(
                "\"{s}\" is not a duration; write e.g. \"5s\", \"500ms\", \"2m\""
            ));
        }
        let n: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("\"{s}\" has a malformed number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let mult = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "" => {
                return Err(format!(
                    "\"{s}\" lacks a unit; write e.g. \"5s\" (units: ms, s, m, h, d)"
                ));
            }
            u => {
                return Err(format!(
                    "\"{s}\" has an unknown unit \"{u}\" (units: ms, s, m, h, d)"
                ));
            }
        };
        total += n * mult;
    }
    if !total.is_finite() || total > 365.0 * 86400.0 {
        return Err(format!("\"{s}\" is longer than a year"));
    }
    Ok(Duration::from_secs_f64(total))
}

pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", ms / 1000)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let v = parse_duration(&s).map_err(serde::de::Error::custom)?;
        if v.is_zero() {
            return Err(serde::de::Error::custom(format!(
                "\"{s}\" is zero; this must be a positive duration such as \"5s\""
            )));
        }
        Ok(Interval(v))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}
impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}
impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// A regular expression from the config file, compiled when the file is read.
#[derive(Clone)]
pub struct Pattern(pub regex::Regex);

impl Pattern {
    pub fn new(s: &str) -> Result<Self, String> {
        regex::Regex::new(s)
            .map(Pattern)
            .map_err(|e| format!("\"{s}\" is not a valid regular expression: {e}"))
    }
    pub fn is_match(&self, s: &str) -> bool {
        self.0.is_match(s)
    }
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/", self.0.as_str())
    }
}

impl PartialEq for Pattern {
    fn eq(&self, o: &Self) -> bool {
        self.0.as_str() == o.0.as_str()
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Pattern::new(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

/// A size in bytes, written "300MB", "64KiB", "1GB" or a plain number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("\"{s}\" is not a size; write e.g. \"300MB\", \"64KiB\""))?;
    let mult: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" | "K" => 1e3,
        "MB" | "M" => 1e6,
        "GB" | "G" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        u => {
            return Err(format!(
                "\"{s}\" has an unknown unit \"{u}\" (B, KB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    let v = n * mult;
    if !v.is_finite() || v > u64::MAX as f64 {
        return Err(format!("\"{s}\" is too large"));
    }
    Ok(v as u64)
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => parse_size(&s)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl std::str::FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration(s).map(Dur)
    }
}

impl std::str::FromStr for Interval {
    type Err = String;
    /// Also what clap uses for `--interval 1s`: the same syntax and the same refusal of zero as the file.
    fn from_str(s: &str) -> Result<Self, String> {
        match parse_duration(s)? {
            d if d.is_zero() => Err("must be greater than zero".into()),
            d => Ok(Interval(d)),
        }
    }
}

/// The rule for names an operator gives things (rules, log watches, checks, sinks, apps): a letter or `_` first,
/// then letters, digits, `_` or `-`. Safe as label values, in file names and in URLs.
pub fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The rule for label names (`[agent] labels` keys): Prometheus' `[a-zA-Z_][a-zA-Z0-9_]*`, so that every backend
/// accepts them.
pub fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5").unwrap_err().contains("lacks a unit"));
        assert!(parse_duration("5x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn round_trips_through_display() {
        for s in ["5s", "500ms", "2m", "1h"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_duration(&s);
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("300MB").unwrap(), 300_000_000);
        assert_eq!(parse_size("64KiB").unwrap(), 65536);
        assert_eq!(parse_size("12").unwrap(), 12);
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("MB").is_err());
    }

    #[test]
    fn from_str_is_the_config_syntax() {
        assert_eq!("2s".parse::<Interval>().unwrap(), Interval::secs(2));
        assert!("0s".parse::<Interval>().is_err());
        assert_eq!("0s".parse::<Dur>().unwrap(), Dur::secs(0));
        assert!("5".parse::<Dur>().is_err());
    }

    #[test]
    fn names() {
        for ok in ["env", "app_1", "a-b", "X", "_x"] {
            assert!(is_name(ok), "{ok}");
        }
        for bad in ["", "1abc", "a b", "a.b", "é"] {
            assert!(!is_name(bad), "{bad}");
        }
        assert!(is_label_name("_env1") && !is_label_name("a-b") && !is_label_name("9"));
    }
}
