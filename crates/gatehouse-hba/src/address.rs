//! The address column: numeric addresses as glibc's `getaddrinfo(AI_NUMERICHOST)`
//! reads them, CIDR masks as `pg_sockaddr_cidr_mask()`, and the numeric text
//! `getnameinfo(NI_NUMERICHOST)` prints for the `pg_hba_file_rules` view.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address and mask of one family; the mask may be non-contiguous, as
/// PostgreSQL accepts in the separate netmask column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrMask {
    /// The address as written (host bits are kept, as PostgreSQL keeps them).
    pub addr: IpAddr,
    /// The mask; always the same family as `addr`.
    pub mask: IpAddr,
}

impl AddrMask {
    /// PostgreSQL's `check_ip()`: same family and equal under the mask. An IPv4
    /// rule never matches an IPv6 client, and the reverse.
    pub fn contains(&self, client: IpAddr) -> bool {
        match (self.addr, self.mask, client) {
            (IpAddr::V4(a), IpAddr::V4(m), IpAddr::V4(c)) => {
                (u32::from(a) ^ u32::from(c)) & u32::from(m) == 0
            }
            (IpAddr::V6(a), IpAddr::V6(m), IpAddr::V6(c)) => {
                (u128::from(a) ^ u128::from(c)) & u128::from(m) == 0
            }
            _ => false,
        }
    }
}

/// Parses a numeric host address as `getaddrinfo(…, AI_NUMERICHOST)` on glibc:
/// IPv4 in every `inet_aton` form (`127.1`, `0x7f.0.0.1`, `017.0.0.1`,
/// `2130706433`), or IPv6 (a `%zone` suffix is accepted and dropped).
/// `None` means "not numeric", which PostgreSQL then treats as a host name.
pub fn parse_numeric_host(s: &str) -> Option<IpAddr> {
    if let Some(v4) = inet_aton(s) {
        return Some(IpAddr::V4(v4));
    }
    let (base, zone) = match s.find('%') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if zone.is_some_and(str::is_empty) {
        return None;
    }
    base.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// glibc's `__inet_aton_exact()`.
fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let b = s.as_bytes();
    let mut parts: Vec<u64> = Vec::with_capacity(4);
    let mut i = 0usize;
    let val: u64 = loop {
        let c = *b.get(i)?;
        if !c.is_ascii_digit() {
            return None;
        }
        let mut base = 10u64;
        let mut val = 0u64;
        let mut digit = false;
        if c == b'0' {
            i += 1;
            match b.get(i) {
                Some(b'x') | Some(b'X') => {
                    base = 16;
                    i += 1;
                }
                _ => {
                    base = 8;
                    digit = true;
                }
            }
        }
        while let Some(&c) = b.get(i) {
            let d = match c {
                b'0'..=b'9' => u64::from(c - b'0'),
                b'a'..=b'f' if base == 16 => u64::from(c - b'a' + 10),
                b'A'..=b'F' if base == 16 => u64::from(c - b'A' + 10),
                _ => break,
            };
            if base == 8 && d >= 8 {
                return None;
            }
            val = val * base + d;
            if val > 0xffff_ffff {
                return None;
            }
            digit = true;
            i += 1;
        }
        if !digit {
            return None;
        }
        match b.get(i) {
            Some(b'.') => {
                if parts.len() >= 3 || val > 0xff {
                    return None;
                }
                parts.push(val);
                i += 1;
            }
            None => break val,
            Some(_) => return None,
        }
    };
    let max = [0xffff_ffffu64, 0xff_ffff, 0xffff, 0xff];
    if val > max[parts.len()] {
        return None;
    }
    let mut out = val;
    for (n, p) in parts.iter().enumerate() {
        out |= p << (24 - 8 * n);
    }
    u32::try_from(out).ok().map(Ipv4Addr::from)
}

/// `pg_sockaddr_cidr_mask()`: the mask for `numbits` (parsed like C `strtol`, whole
/// string required) in the family of `family_of`. `None` on a bad or out-of-range
/// length.
pub fn cidr_mask(numbits: &str, family_of: IpAddr) -> Option<IpAddr> {
    let bits = crate::cnum::strtol_exact(numbits)?;
    match family_of {
        IpAddr::V4(_) => {
            if !(0..=32).contains(&bits) {
                return None;
            }
            let m = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            Some(IpAddr::V4(Ipv4Addr::from(m)))
        }
        IpAddr::V6(_) => {
            if !(0..=128).contains(&bits) {
                return None;
            }
            let m = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            Some(IpAddr::V6(Ipv6Addr::from(m)))
        }
    }
}

/// The numeric text of an address as `getnameinfo(NI_NUMERICHOST)` prints it on
/// glibc (IPv6 as `inet_ntop`, including its `::a.b.c.d` forms).
pub fn format_numeric(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format_v6(v6),
    }
}

fn format_v6(addr: Ipv6Addr) -> String {
    let w = addr.segments();
    // Longest run of zero words (first one on ties), only if at least 2 long.
    let (mut best_base, mut best_len) = (usize::MAX, 0usize);
    let mut i = 0;
    while i < 8 {
        if w[i] == 0 {
            let start = i;
            while i < 8 && w[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best_base = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        best_base = usize::MAX;
    }
    let in_run = |i: usize| best_base != usize::MAX && i >= best_base && i < best_base + best_len;
    let mut out = String::new();
    for i in 0..8 {
        if in_run(i) {
            if i == best_base {
                out.push(':');
            }
            continue;
        }
        if i != 0 {
            out.push(':');
        }
        if i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)) {
            let o = addr.octets();
            out.push_str(&format!("{}.{}.{}.{}", o[12], o[13], o[14], o[15]));
            return out;
        }
        out.push_str(&format!("{:x}", w[i]));
    }
    if best_base != usize::MAX && best_base + best_len == 8 {
        out.push(':');
    }
    out
}

/// The all-ones mask of `addr`'s family (used by `samehost`).
pub fn host_mask(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::MAX)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(u128::MAX)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Option<String> {
        inet_aton(s).map(|a| a.to_string())
    }

    #[test]
    fn inet_aton_forms() {
        assert_eq!(v4("127.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("0x7f.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("017.0.0.1").as_deref(), Some("15.0.0.1"));
        assert_eq!(v4("2130706433").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("10.1.65535").as_deref(), Some("10.1.255.255"));
        assert_eq!(v4("256.0.0.1"), None);
        assert_eq!(v4("1.2.3.4.5"), None);
        assert_eq!(v4("08.0.0.1"), None);
        assert_eq!(v4("1.2.3.4 "), None);
        assert_eq!(v4("0x"), None);
        assert_eq!(v4(""), None);
        assert_eq!(v4("1..2"), None);
    }

    #[test]
    fn masks() {
        let a4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(
            cidr_mask("8", a4).map(format_numeric).as_deref(),
            Some("255.0.0.0")
        );
        assert_eq!(
            cidr_mask("+8", a4).map(format_numeric).as_deref(),
            Some("255.0.0.0")
        );
        assert_eq!(
            cidr_mask("0", a4).map(format_numeric).as_deref(),
            Some("0.0.0.0")
        );
        assert_eq!(cidr_mask("33", a4), None);
        assert_eq!(cidr_mask("", a4), None);
        assert_eq!(cidr_mask("8x", a4), None);
        let a6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(
            cidr_mask("64", a6).map(format_numeric).as_deref(),
            Some("ffff:ffff:ffff:ffff::")
        );
        assert_eq!(
            cidr_mask("0", a6).map(format_numeric).as_deref(),
            Some("::")
        );
        assert_eq!(
            cidr_mask("128", a6).map(format_numeric).as_deref(),
            Some("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        );
    }

    #[test]
    fn glibc_v6_text() {
        let f = |s: &str| format_v6(s.parse().expect("test address"));
        assert_eq!(f("::1"), "::1");
        assert_eq!(f("::"), "::");
        assert_eq!(f("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(f("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(f("fe80::1"), "fe80::1");
        assert_eq!(f("1:0:2:0:0:3:0:0"), "1:0:2::3:0:0");
        assert_eq!(f("1:0:0:2:0:0:3:4"), "1::2:0:0:3:4");
        assert_eq!(f("2001:db8::"), "2001:db8::");
        assert_eq!(f("1:2:3:4:5:6:0:8"), "1:2:3:4:5:6:0:8");
    }

    #[test]
    fn non_contiguous_masks_match_bitwise() {
        let r = AddrMask {
            addr: "10.0.0.1".parse().expect("addr"),
            mask: "255.0.255.0".parse().expect("mask"),
        };
        assert!(r.contains("10.9.0.77".parse().expect("c")));
        assert!(!r.contains("10.9.1.77".parse().expect("c")));
        assert!(!r.contains("::1".parse().expect("c")));
    }
}
