//! The typed values of the non-string condition operators, parsed from text: the
//! policy's values once at parse, the request's at evaluation (without allocating,
//! except base64).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `2001:db8::/32`; a lone address is `/32` or
/// `/128`). Host bits below the prefix are ignored, as IAM ignores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cidr {
    V4 { net: u32, len: u8 },
    V6 { net: u128, len: u8 },
}

impl Cidr {
    /// Whether `ip` is inside the network. IPv4 never matches an IPv6 network and the
    /// other way round (an IPv4-mapped IPv6 request address was already made IPv4 by
    /// [`parse_ip`]).
    pub(crate) fn contains(self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Cidr::V4 { net, len }, IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(len) == net & mask32(len)
            }
            (Cidr::V6 { net, len }, IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(len) == net & mask128(len)
            }
            _ => false,
        }
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// `address` or `address/prefix-length` (decimal, at most 32 or 128).
pub(crate) fn parse_cidr(text: &str) -> Option<Cidr> {
    let (addr, len) = match text.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (text, None),
    };
    let len = match len {
        None => None,
        Some(len)
            if !len.is_empty() && len.len() <= 3 && len.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(len.parse::<u8>().ok()?)
        }
        Some(_) => return None,
    };
    if let Ok(v4) = addr.parse::<Ipv4Addr>() {
        let len = len.unwrap_or(32);
        return (len <= 32).then_some(Cidr::V4 {
            net: u32::from(v4),
            len,
        });
    }
    let v6 = addr.parse::<Ipv6Addr>().ok()?;
    let len = len.unwrap_or(128);
    (len <= 128).then_some(Cidr::V6 {
        net: u128::from(v6),
        len,
    })
}

/// A request's source address. An IPv4-mapped IPv6 address (`::ffff:10.0.0.5`, as a
/// dual-stack socket reports IPv4 peers) is read as the IPv4 address.
pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    match text.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }),
        v4 => Some(v4),
    }
}

/// A decimal number: `-?digits(.digits)?`, at most 40 characters (no exponents, `inf`,
/// `NaN`, or leading `+`).
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match digits.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if text.len() > 40 || !all_digits(int) || !frac.is_none_or(all_digits) {
        return None;
    }
    text.parse::<f64>().ok()
}

/// `true` or `false`, in any case.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A point in time, in nanoseconds since 1970-01-01T00:00:00Z.
pub(crate) type Instant = i128;

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// An ISO 8601 date or date-time, or epoch seconds.
///
/// Accepted: `YYYY-MM-DD`, `YYYY-MM-DDThh:mm`, `YYYY-MM-DDThh:mm:ss`, an optional
/// fraction of a second (`.123`, up to nanoseconds), then an optional zone `Z`, `±hh:mm`,
/// `±hhmm` or `±hh` (none = UTC); or a run of up to 12 digits, optionally negative
/// (seconds since the epoch).
pub(crate) fn parse_date(text: &str) -> Option<Instant> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    if !unsigned.is_empty() && unsigned.len() <= 12 && unsigned.bytes().all(|b| b.is_ascii_digit())
    {
        return Some(i128::from(text.parse::<i64>().ok()?) * NANOS_PER_SECOND);
    }
    let mut cur = Cursor { text, at: 0 };
    let year = cur.digits(4)?;
    cur.expect(b'-')?;
    let month = cur.digits(2)?;
    cur.expect(b'-')?;
    let day = cur.digits(2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    let mut nanos: i128 = 0;
    if cur.done() {
        return Some(seconds * NANOS_PER_SECOND);
    }
    if !matches!(cur.next()?, b'T' | b't') {
        return None;
    }
    let hour = cur.digits(2)?;
    cur.expect(b':')?;
    let minute = cur.digits(2)?;
    let mut second = 0;
    if cur.peek() == Some(b':') {
        cur.next();
        second = cur.digits(2)?;
        if cur.peek() == Some(b'.') {
            cur.next();
            let start = cur.at;
            while cur.peek().is_some_and(|b| b.is_ascii_digit()) {
                cur.next();
            }
            let frac = &text[start..cur.at];
            if frac.is_empty() || frac.len() > 9 {
                return None;
            }
            let scale = 10i128.pow(9 - frac.len() as u32);
            nanos = frac.parse::<i128>().ok()? * scale;
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    seconds += hour * 3600 + minute * 60 + second;
    match cur.next() {
        None => {}
        Some(b'Z' | b'z') => {}
        Some(sign @ (b'+' | b'-')) => {
            let zone_hours = cur.digits(2)?;
            let mut zone_minutes = 0;
            if !cur.done() {
                if cur.peek() == Some(b':') {
                    cur.next();
                }
                zone_minutes = cur.digits(2)?;
            }
            if zone_hours > 23 || zone_minutes > 59 {
                return None;
            }
            let offset = zone_hours * 3600 + zone_minutes * 60;
            // Local time = UTC + offset, so UTC = local - offset.
            seconds += if sign == b'+' { -offset } else { offset };
        }
        Some(_) => return None,
    }
    cur.done().then_some(seconds * NANOS_PER_SECOND + nanos)
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn done(&self) -> bool {
        self.at == self.text.len()
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    fn digits(&mut self, n: usize) -> Option<i128> {
        let slice = self.text.as_bytes().get(self.at..self.at + n)?;
        if !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.at += n;
        Some(
            slice
                .iter()
                .fold(0, |acc, b| acc * 10 + i128::from(b - b'0')),
        )
    }
}

fn is_leap(year: i128) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i128, month: i128) -> i128 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (years 0000-9999).
fn days_from_civil(year: i128, month: i128, day: i128) -> i128 {
    // Count whole years, then the days of this year's elapsed months.
    let y = year - 1;
    let leap_days = |y: i128| y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400);
    let days_before_year = 365 * (year - 1970) + leap_days(y) - leap_days(1969);
    let days_before_month: i128 = (1..month).map(|m| days_in_month(year, m)).sum();
    days_before_year + days_before_month + day - 1
}

/// Standard base64 (RFC 4648 alphabet, `=` padding optional, no whitespace).
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 || body.len() % 4 == 1 {
        return None;
    }
    if text.len() != body.len() && !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in body.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero (canonical encoding).
    (acc == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cidrs() {
        let net = parse_cidr("10.0.0.0/8").unwrap();
        assert!(net.contains(parse_ip("10.255.0.1").unwrap()));
        assert!(!net.contains(parse_ip("11.0.0.1").unwrap()));
        assert!(net.contains(parse_ip("::ffff:10.1.2.3").unwrap()));
        assert!(!net.contains(parse_ip("::1").unwrap()));
        let host = parse_cidr("192.0.2.7").unwrap();
        assert!(host.contains(parse_ip("192.0.2.7").unwrap()));
        assert!(!host.contains(parse_ip("192.0.2.8").unwrap()));
        let all = parse_cidr("0.0.0.0/0").unwrap();
        assert!(all.contains(parse_ip("203.0.113.9").unwrap()));
        let v6 = parse_cidr("2001:db8::/32").unwrap();
        assert!(v6.contains(parse_ip("2001:db8:1::5").unwrap()));
        assert!(!v6.contains(parse_ip("2001:db9::5").unwrap()));
        assert!(!v6.contains(parse_ip("10.0.0.1").unwrap()));
        assert!(parse_cidr("::/0")
            .unwrap()
            .contains(parse_ip("::1").unwrap()));
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0/8",
            "::/129",
            "x",
            "",
            "10.0.0.0/0008",
            "fe80::1%eth0",
        ] {
            assert_eq!(parse_cidr(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("10"), Some(10.0));
        assert_eq!(parse_number("-2.5"), Some(-2.5));
        for bad in ["", "-", "1.", ".5", "+1", "1e3", "inf", "NaN", "1 "] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates() {
        let s = |secs: i128| Some(secs * NANOS_PER_SECOND);
        assert_eq!(parse_date("1970-01-01"), s(0));
        assert_eq!(parse_date("1970-01-02T00:00:00Z"), s(86_400));
        assert_eq!(parse_date("2000-03-01T00:00:00Z"), s(951_868_800));
        assert_eq!(parse_date("2026-11-29T18:00:00Z"), s(1_795_975_200));
        assert_eq!(parse_date("2026-11-29T20:00:00+02:00"), s(1_795_975_200));
        assert_eq!(parse_date("2026-11-29T17:30:00-0030"), s(1_795_975_200));
        assert_eq!(parse_date("2026-11-29T18:00Z"), s(1_795_975_200));
        assert_eq!(parse_date("1795975200"), s(1_795_975_200));
        assert_eq!(parse_date("-86400"), s(-86_400));
        assert_eq!(parse_date("1969-12-31"), s(-86_400));
        assert_eq!(parse_date("1600-01-01"), s(-11_676_096_000));
        assert_eq!(
            parse_date("1970-01-01T00:00:00.25Z"),
            Some(NANOS_PER_SECOND / 4)
        );
        assert_eq!(parse_date("2024-02-29"), s(1_709_164_800));
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-11-31",
            "2026-11-29T24:00:00Z",
            "2026-11-29T18:60Z",
            "2026-11-29T18:00:00.Z",
            "2026-11-29T18:00:00ZZ",
            "2026-11-29 18:00:00Z",
            "26-11-29",
            "",
            "1234567890123",
            "now",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn base64() {
        assert_eq!(decode_base64("").unwrap(), b"");
        assert_eq!(decode_base64("Zg==").unwrap(), b"f");
        assert_eq!(decode_base64("Zg").unwrap(), b"f");
        assert_eq!(decode_base64("Zm9vYmFy").unwrap(), b"foobar");
        assert_eq!(decode_base64("Zm9vYg==").unwrap(), b"foob");
        for bad in [
            "Z",
            "Zh==",
            "Zg=",
            "Zg===",
            "Zm9v YmFy",
            "Zm9v!",
            "Zg==Zg==",
        ] {
            assert_eq!(decode_base64(bad), None, "{bad}");
        }
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("false"), Some(false));
        assert_eq!(parse_bool("1"), None);
    }
}
