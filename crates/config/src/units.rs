//! Human-readable durations (`"30s"`, `"500ms"`, `"1m30s"`) and sizes
//! (`"512M"`, `"1G"`, or a plain number of bytes), parsed and printed.

use std::time::Duration;

/// Parses a duration written as one or more `<integer><unit>` groups with
/// no spaces between them: `"500ms"`, `"30s"`, `"2m"`, `"1h"`, `"1d"`,
/// `"1m30s"`. Units: `ms`, `s`, `m`, `h`, `d`.
///
/// The error is a phrase to put after the key's name.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let hint =
        "write a number followed by a unit (ms, s, m, h, d), like \"30s\", \"500ms\" or \"1m30s\"";
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("is an empty duration; {hint}"));
    }
    let mut total_ms: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("has an invalid duration \"{text}\"; {hint}"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("has a duration \"{text}\" that is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let factor_ms: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(format!("has a duration \"{text}\" without a unit; {hint}"));
            }
            u if u.starts_with('.') => {
                return Err(format!(
                    "has a fractional duration \"{text}\"; use a smaller unit instead (\"1500ms\", not \"1.5s\")"
                ));
            }
            other => {
                return Err(format!(
                    "has an unknown duration unit \"{other}\" in \"{text}\"; {hint}"
                ));
            }
        };
        total_ms = number
            .checked_mul(factor_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| format!("has a duration \"{text}\" that is too large"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Prints a duration the way [`parse_duration`] reads it: `"1m30s"`, `"500ms"`.
pub(crate) fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    if ms > 0 {
        out.push_str(&format!("{ms}ms"));
    }
    out
}

const KIB: u64 = 1024;

/// Parses a size: a plain number of bytes (`"1048576"`), or a number with a
/// binary unit — `K`, `M`, `G`, `T`, optionally followed by `i`/`B`/`iB`
/// (`"512M"`, `"512MiB"`, `"1G"`), case-insensitive. Every unit is a power
/// of 1024, as in Docker and cgroups.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let hint =
        "write a number of bytes or a number with a unit (K, M, G, T), like \"512M\" or \"1G\"";
    let s = text.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits == 0 {
        return Err(format!("has an invalid size \"{text}\"; {hint}"));
    }
    let number: u64 = s[..digits]
        .parse()
        .map_err(|_| format!("has a size \"{text}\" that is too large"))?;
    let unit = s[digits..].trim().to_ascii_lowercase();
    let factor = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" | "ki" | "kib" => KIB,
        "m" | "mb" | "mi" | "mib" => KIB * KIB,
        "g" | "gb" | "gi" | "gib" => KIB * KIB * KIB,
        "t" | "tb" | "ti" | "tib" => KIB * KIB * KIB * KIB,
        _ => return Err(format!("has an unknown size unit in \"{text}\"; {hint}")),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("has a size \"{text}\" that is too large"))
}

/// Prints a size with the largest binary unit that divides it: `"512 MiB"`.
pub(crate) fn format_size(bytes: u64) -> String {
    for (unit, size) in [
        ("TiB", KIB.pow(4)),
        ("GiB", KIB.pow(3)),
        ("MiB", KIB.pow(2)),
        ("KiB", KIB),
    ] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        let ok = [
            ("500ms", 500),
            ("30s", 30_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("1d", 86_400_000),
            ("1m30s", 90_000),
            (" 0s ", 0),
            ("1h2m3s4ms", 3_723_004),
        ];
        for (text, ms) in ok {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_durations_say_how_to_write_one() {
        for text in [
            "",
            "30",
            "s",
            "30 s",
            "1.5s",
            "30sec",
            "-1s",
            "10y",
            "99999999999999999999s",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(
                err.contains(text.trim()) || text.trim().is_empty(),
                "{text}: {err}"
            );
            assert!(
                err.contains("like \"30s\"")
                    || err.contains("too large")
                    || err.contains("\"1500ms\""),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn durations_round_trip_through_format() {
        for text in ["500ms", "30s", "1m30s", "1h", "2d3h", "1s1ms", "0s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }

    #[test]
    fn sizes_parse() {
        let ok = [
            ("4096", 4096),
            ("1K", 1024),
            ("512M", 512 << 20),
            ("512MiB", 512 << 20),
            ("512mb", 512 << 20),
            ("1G", 1 << 30),
            ("2 GiB", 2 << 30),
            ("1T", 1 << 40),
        ];
        for (text, bytes) in ok {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for text in ["", "M", "1.5G", "12X", "-1", "99999999999T"] {
            assert!(parse_size(text).is_err(), "{text}");
        }
        assert_eq!(format_size(512 << 20), "512 MiB");
        assert_eq!(format_size(1000), "1000 bytes");
    }
}
