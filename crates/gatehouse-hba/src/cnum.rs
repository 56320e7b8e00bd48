//! C's number parsing as PostgreSQL relies on it (`strtol`, `atoi`), so option and
//! mask values are accepted or refused exactly as on the server.

/// Parses like `strtol(s, &end, 10)`: leading C whitespace, an optional sign, then
/// digits. Returns the value (saturated) and how many bytes were consumed; `None`
/// when there are no digits.
fn strtol_prefix(s: &str) -> Option<(i64, usize)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut val: i64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        val = val
            .saturating_mul(10)
            .saturating_add(i64::from(b[i] - b'0'));
        i += 1;
    }
    if i == start {
        return None;
    }
    Some((if neg { -val } else { val }, i))
}

/// `strtol` with PostgreSQL's checks `*s != '\0' && *end == '\0'`: the whole string
/// must be the number.
pub(crate) fn strtol_exact(s: &str) -> Option<i64> {
    match strtol_prefix(s) {
        Some((v, used)) if used == s.len() => Some(v),
        _ => None,
    }
}

/// glibc's `atoi()`, which is `(int) strtol(s, NULL, 10)`: the leading number
/// (saturated to 64 bits, then truncated to 32 bits), 0 when there is none.
pub(crate) fn atoi(s: &str) -> i32 {
    strtol_prefix(s).map_or(0, |(v, _)| v as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_c() {
        assert_eq!(strtol_exact("+8"), Some(8));
        assert_eq!(strtol_exact(" 8"), Some(8));
        assert_eq!(strtol_exact("8x"), None);
        assert_eq!(strtol_exact(""), None);
        assert_eq!(atoi("389"), 389);
        assert_eq!(atoi(" 12abc"), 12);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi("-5"), -5);
        assert_eq!(atoi("4294967296"), 0);
        assert_eq!(atoi("4294967297"), 1);
    }
}
