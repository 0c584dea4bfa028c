//! Date operands as exact instants: days and RFC 3339 date-times become integer nanoseconds
//! since the Unix epoch by calendar arithmetic, not through a bounded timestamp type, so every
//! date the language accepts (years 0000 to 9999, any offset from -23:59 to +23:59) has a
//! value, and no bound can overflow into "matches everything".

use std::fmt;

use jiff::civil::Date;

const NS_PER_SEC: i128 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d` (negative before it).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01, as (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// Microseconds since the epoch at which the UTC day `d` starts.
pub fn day_start_us(d: Date) -> i64 {
    let days = days_from_civil(d.year().into(), d.month().into(), d.day().into());
    days * SECS_PER_DAY * 1_000_000
}

/// An exact instant from a filter, with the offset it was written in (kept only so that it
/// can be printed back as valid filter text when its UTC form is outside years 0000-9999).
/// Equality and order are those of the instant.
#[derive(Clone, Copy, Debug)]
pub struct Instant {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    pub ns: i128,
    /// Offset from UTC in seconds, as written.
    offset_s: i32,
}

impl PartialEq for Instant {
    fn eq(&self, other: &Self) -> bool {
        self.ns == other.ns
    }
}

impl Eq for Instant {}

impl Instant {
    pub fn from_timestamp(t: jiff::Timestamp) -> Instant {
        Instant { ns: t.as_nanosecond(), offset_s: 0 }
    }

    /// Parse an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`.
    /// `t`, `z` and a space instead of `T` are accepted (RFC 3339 §5.6 allows them); a
    /// fraction has 1 to 9 digits; a leap second `:60` counts as `:59`, as jiff reads it.
    pub fn parse(s: &str) -> Result<Instant, String> {
        let b = s.as_bytes();
        let num = |from: usize, len: usize| -> Option<i64> {
            let part = b.get(from..from + len)?;
            part.iter()
                .all(u8::is_ascii_digit)
                .then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
        };
        let shape = || "not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SSZ or +HH:MM)".to_string();
        let at = |i: usize, c: u8| b.get(i) == Some(&c);
        let separators = at(4, b'-') && at(7, b'-') && at(13, b':') && at(16, b':');
        if !separators || !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
            return Err(shape());
        }
        let (y, mo, d) = (num(0, 4), num(5, 2), num(8, 2));
        let (h, mi, sec) = (num(11, 2), num(14, 2), num(17, 2));
        let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = (y, mo, d, h, mi, sec)
        else {
            return Err(shape());
        };
        let date = format!("{y:04}-{mo:02}-{d:02}");
        if date.parse::<Date>().is_err() {
            return Err(format!("{date} is not a day of the calendar"));
        }
        if h > 23 || mi > 59 || sec > 60 {
            return Err(format!("{h:02}:{mi:02}:{sec:02} is not a time of day"));
        }
        let mut i = 19;
        let mut frac_ns: i128 = 0;
        if at(i, b'.') {
            let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 || digits > 9 {
                return Err("a fraction of a second has 1 to 9 digits".into());
            }
            let n = num(i + 1, digits).expect("digits");
            frac_ns = i128::from(n) * 10i128.pow(9 - digits as u32);
            i += 1 + digits;
        }
        let offset_s = match b.get(i..) {
            Some([b'Z' | b'z']) => 0,
            Some([sign @ (b'+' | b'-'), _, _, b':', _, _]) => {
                let (Some(oh), Some(om)) = (num(i + 1, 2), num(i + 4, 2)) else {
                    return Err(shape());
                };
                if oh > 23 || om > 59 {
                    return Err(format!(
                        "the offset {} is out of range: -23:59 to +23:59",
                        &s[i..]
                    ));
                }
                let o = (oh * 3600 + om * 60) as i32;
                if *sign == b'-' { -o } else { o }
            }
            _ => return Err(shape()),
        };
        let days = days_from_civil(y, mo, d);
        let secs = days * SECS_PER_DAY + h * 3600 + mi * 60 + sec.min(59) - i64::from(offset_s);
        Ok(Instant { ns: i128::from(secs) * NS_PER_SEC + frac_ns, offset_s })
    }
}

impl fmt::Display for Instant {
    /// In UTC (`…Z`) when that is a year 0000-9999 date-time, else in the offset written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let utc_year = civil_from_days(self.ns.div_euclid(NS_PER_SEC * 86_400) as i64).0;
        let offset = if (0..=9999).contains(&utc_year) { 0 } else { self.offset_s };
        let local = self.ns + i128::from(offset) * NS_PER_SEC;
        let secs = local.div_euclid(NS_PER_SEC) as i64;
        let frac = local.rem_euclid(NS_PER_SEC);
        let (y, mo, d) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
        let tod = secs.rem_euclid(SECS_PER_DAY);
        write!(f, "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}", tod / 3600, tod / 60 % 60, tod % 60)?;
        if frac != 0 {
            let digits = format!("{frac:09}");
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        if offset == 0 {
            return f.write_str("Z");
        }
        let sign = if offset < 0 { '-' } else { '+' };
        let a = offset.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", a / 3600, a / 60 % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_agree_with_jiff_over_the_whole_range() {
        let epoch = jiff::civil::date(1970, 1, 1);
        for y in (0..=9999).step_by(37).chain([0, 1, 1969, 1970, 2000, 2100, 9999]) {
            for (m, d) in [(1, 1), (2, 28), (3, 1), (12, 31)] {
                let date = jiff::civil::date(y as i16, m, d);
                let want = i64::from(date.since(epoch).unwrap().get_days());
                let got = days_from_civil(y, m.into(), d.into());
                assert_eq!(got, want, "{date}");
                assert_eq!(civil_from_days(got), (y, m.into(), d.into()));
            }
        }
    }

    #[test]
    fn instants_parse_exactly_and_print_back() {
        for (text, shown) in [
            ("2026-01-01T09:00:00+02:00", "2026-01-01T07:00:00Z"),
            ("2026-01-01t09:00:00.5z", "2026-01-01T09:00:00.5Z"),
            ("2026-01-01 09:00:00.123456789Z", "2026-01-01T09:00:00.123456789Z"),
            ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"),
            ("9999-12-31T23:00:00-05:00", "9999-12-31T23:00:00-05:00"),
            ("0000-01-01T00:00:00+01:00", "0000-01-01T00:00:00+01:00"),
        ] {
            let i = Instant::parse(text).unwrap();
            assert_eq!(i.to_string(), shown, "{text}");
            assert_eq!(Instant::parse(shown).unwrap(), i);
        }
        for bad in [
            "2026-01-01T00:00:00+25:00",
            "2026-01-01T00:00:00+24:00",
            "2026-01-01T00:00:00+02:60",
            "2026-02-30T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00.1234567890Z",
            "2026-01-01T00:00Z",
            "+2026-01-01T00:00:00Z",
        ] {
            assert!(Instant::parse(bad).is_err(), "{bad}");
        }
    }
}
