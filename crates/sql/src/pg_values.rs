//! PostgreSQL values in and out: parameters go as text (the server parses
//! them into whatever type the statement needs), results come back in the
//! binary format and are decoded here for the common types. Other types
//! arrive as a note telling the model to cast them to text.

use std::error::Error;
use std::fmt::Write;

use bytes::BytesMut;
use serde_json::{Number, Value, json};
use tokio_postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

type BoxError = Box<dyn Error + Sync + Send>;

/// A JSON scalar sent in the text format.
#[derive(Debug)]
pub(crate) struct TextParam(pub(crate) Option<String>);

impl TextParam {
    pub(crate) fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(Self(None)),
            Value::Bool(b) => Some(Self(Some(b.to_string()))),
            Value::Number(n) => Some(Self(Some(n.to_string()))),
            Value::String(s) => Some(Self(Some(s.clone()))),
            Value::Array(_) | Value::Object(_) => None,
        }
    }
}

impl ToSql for TextParam {
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match &self.0 {
            Some(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// One result cell as JSON.
pub(crate) struct Cell(pub(crate) Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Cell(decode(ty, raw)?))
    }

    fn from_sql_null(_ty: &Type) -> Result<Self, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

fn fixed<const N: usize>(raw: &[u8]) -> Result<[u8; N], BoxError> {
    raw.try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", raw.len()).into())
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
}

fn decode(ty: &Type, raw: &[u8]) -> Result<Value, BoxError> {
    if let Kind::Domain(inner) = ty.kind() {
        return decode(inner, raw);
    }
    if let Kind::Enum(_) = ty.kind() {
        return Ok(Value::String(String::from_utf8_lossy(raw).into_owned()));
    }
    let value = match *ty {
        Type::BOOL => Value::Bool(raw.first().is_some_and(|b| *b != 0)),
        Type::INT2 => json!(i16::from_be_bytes(fixed(raw)?)),
        Type::INT4 => json!(i32::from_be_bytes(fixed(raw)?)),
        Type::INT8 => json!(i64::from_be_bytes(fixed(raw)?)),
        Type::OID => json!(u32::from_be_bytes(fixed(raw)?)),
        Type::FLOAT4 => float(f64::from(f32::from_be_bytes(fixed(raw)?))),
        Type::FLOAT8 => float(f64::from_be_bytes(fixed(raw)?)),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::XML => {
            Value::String(String::from_utf8_lossy(raw).into_owned())
        }
        Type::JSON => serde_json::from_slice(raw)?,
        Type::JSONB => serde_json::from_slice(raw.get(1..).unwrap_or_default())?,
        Type::NUMERIC => Value::String(numeric(raw)?),
        Type::UUID => Value::String(uuid(&fixed::<16>(raw)?)),
        Type::BYTEA => {
            let mut s = String::from("\\x");
            for b in raw {
                let _ = write!(s, "{b:02x}");
            }
            Value::String(s)
        }
        Type::DATE => Value::String(date(i32::from_be_bytes(fixed(raw)?))),
        Type::TIME => Value::String(time_of_day(i64::from_be_bytes(fixed(raw)?))),
        Type::TIMESTAMP => Value::String(timestamp(i64::from_be_bytes(fixed(raw)?))),
        Type::TIMESTAMPTZ => {
            Value::String(format!("{}+00", timestamp(i64::from_be_bytes(fixed(raw)?))))
        }
        _ if ty.name() == "citext" => Value::String(String::from_utf8_lossy(raw).into_owned()),
        _ => Value::String(format!(
            "<{} value: cast it to text in the SQL (`::text`) to see it>",
            ty.name()
        )),
    };
    Ok(value)
}

fn uuid(b: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s
}

/// PostgreSQL's binary NUMERIC: base-10000 digits with a weight.
fn numeric(raw: &[u8]) -> Result<String, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        let b = raw
            .get(i * 2..i * 2 + 2)
            .ok_or("numeric value is cut short")?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    };
    let ndigits = usize::from(word(0)?);
    let weight = i32::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = usize::from(word(3)?);
    match sign {
        0xC000 => return Ok("NaN".to_owned()),
        0xD000 => return Ok("Infinity".to_owned()),
        0xF000 => return Ok("-Infinity".to_owned()),
        _ => {}
    }
    let digits = (0..ndigits)
        .map(|i| word(4 + i))
        .collect::<Result<Vec<_>, _>>()?;
    let digit = |pos: i32| -> u16 {
        usize::try_from(pos)
            .ok()
            .and_then(|p| digits.get(p).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for w in 0..=weight {
            let d = digit(w);
            if w == 0 {
                let _ = write!(out, "{d}");
            } else {
                let _ = write!(out, "{d:04}");
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut frac = String::new();
        let mut pos = weight + 1;
        while frac.len() < dscale {
            let _ = write!(frac, "{:04}", digit(pos));
            pos += 1;
        }
        frac.truncate(dscale);
        out.push_str(&frac);
    }
    Ok(out)
}

/// Days since 2000-01-01 as `YYYY-MM-DD` (Howard Hinnant's civil_from_days).
fn date(days: i32) -> String {
    let z = i64::from(days) + 10957 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn time_of_day(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}.{frac:06}")
    }
}

/// Microseconds since 2000-01-01 00:00 as `YYYY-MM-DD HH:MM:SS[.ffffff]`.
fn timestamp(micros: i64) -> String {
    if micros == i64::MAX {
        return "infinity".to_owned();
    }
    if micros == i64::MIN {
        return "-infinity".to_owned();
    }
    let day = micros.div_euclid(86_400_000_000);
    let rest = micros.rem_euclid(86_400_000_000);
    let day = i32::try_from(day).unwrap_or(i32::MAX);
    format!("{} {}", date(day), time_of_day(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-1), "1999-12-31");
        assert_eq!(date(9_824), "2026-11-24");
        assert_eq!(
            timestamp(86_400_000_000 + 1_500_000),
            "2000-01-02 00:00:01.500000"
        );
    }

    #[test]
    fn numerics() {
        // 12345.678: weight 1, digits [1, 2345, 6780], dscale 3
        let raw = [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c];
        assert_eq!(numeric(&raw).unwrap(), "12345.678");
        // -0.05: weight -1, digits [500], dscale 2
        let raw = [0, 1, 0xff, 0xff, 0x40, 0, 0, 2, 0x01, 0xf4];
        assert_eq!(numeric(&raw).unwrap(), "-0.05");
    }
}
