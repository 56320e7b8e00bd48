//! `/regex` tokens: PostgreSQL's Advanced Regular Expressions (ARE) on a Rust engine.
//!
//! PostgreSQL compiles these with its own Spencer engine (`REG_ADVANCED`). gatehouse
//! uses `fancy-regex` (backreferences and lookaround on top of the `regex` crate)
//! and first rewrites the ARE-only spellings: `\m`, `\M`, `\y`, `\Y`, `\Z`, `\e`,
//! `[[:<:]]`, `[[:>:]]`, single-character collating elements `[.c.]` inside
//! brackets, and the `***=` (literal) and `***:` (ARE) directors. Matching is an
//! unanchored search, as in PostgreSQL.

use fancy_regex::Regex;

/// A compiled `/regex` token.
#[derive(Clone, Debug)]
pub struct PgRegex {
    re: Regex,
}

impl PgRegex {
    /// Compiles an ARE pattern (the token text after its leading `/`).
    ///
    /// Errors: the engine's reason (wording differs from PostgreSQL's).
    pub fn new(pattern: &str) -> Result<PgRegex, String> {
        let translated = translate(pattern);
        fancy_regex::RegexBuilder::new(&translated)
            .backtrack_limit(100_000)
            .delegate_size_limit(1 << 20)
            .build()
            .map(|re| PgRegex { re })
            .map_err(|e| e.to_string())
    }

    /// Whether the pattern matches anywhere in `text` (a match that exceeds the
    /// backtracking budget counts as no match).
    pub fn is_match(&self, text: &str) -> bool {
        self.re.is_match(text).unwrap_or(false)
    }

    /// `None` when the pattern does not match; otherwise the text of the first
    /// capture group, if the pattern has one that took part in the match.
    pub fn first_group(&self, text: &str) -> Option<Option<String>> {
        let caps = self.re.captures(text).ok()??;
        Some(caps.get(1).map(|m| m.as_str().to_owned()))
    }
}

/// Rewrites ARE-only spellings into ones the Rust engine understands.
fn translate(pattern: &str) -> String {
    if let Some(lit) = pattern.strip_prefix("***=") {
        return fancy_regex::escape(lit).into_owned();
    }
    let p = pattern.strip_prefix("***:").unwrap_or(pattern);
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let rest: String = chars[i..chars.len().min(i + 7)].iter().collect();
        if rest == "[[:<:]]" {
            out.push_str(r"\b{start}");
            i += 7;
            continue;
        }
        if rest == "[[:>:]]" {
            out.push_str(r"\b{end}");
            i += 7;
            continue;
        }
        match c {
            '\\' if i + 1 < chars.len() => {
                let e = chars[i + 1];
                match e {
                    'm' => out.push_str(r"\b{start}"),
                    'M' => out.push_str(r"\b{end}"),
                    'y' => out.push_str(r"\b"),
                    'Y' => out.push_str(r"\B"),
                    'Z' => out.push_str(r"\z"),
                    'e' => out.push_str(r"\x1B"),
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
                i += 2;
            }
            '[' => i = copy_bracket(&chars, i, &mut out),
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Copies a bracket expression starting at `chars[start] == '['`, rewriting
/// single-character collating elements; returns the index after it.
fn copy_bracket(chars: &[char], start: usize, out: &mut String) -> usize {
    let mut i = start + 1;
    out.push('[');
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        out.push_str(r"\]");
        i += 1;
    }
    while i < chars.len() {
        let c = chars[i];
        if c == ']' {
            out.push(']');
            return i + 1;
        }
        if c == '[' && matches!(chars.get(i + 1), Some('.') | Some('=') | Some(':')) {
            let kind = chars[i + 1];
            // Find the closing `kind]`.
            let mut j = i + 2;
            while j + 1 < chars.len() && !(chars[j] == kind && chars[j + 1] == ']') {
                j += 1;
            }
            let inner: String = chars[(i + 2).min(j)..j].iter().collect();
            if kind != ':' && inner.chars().count() == 1 {
                out.push_str(&fancy_regex::escape(&inner));
            } else {
                out.extend(&chars[i..(j + 2).min(chars.len())]);
            }
            i = j + 2;
            continue;
        }
        if c == '\\' {
            out.push('\\');
            if let Some(&n) = chars.get(i + 1) {
                out.push(n);
            }
            i += 2;
            continue;
        }
        if c == '[' {
            out.push_str(r"\[");
        } else {
            out.push(c);
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        PgRegex::new(p).expect("compiles").is_match(s)
    }

    #[test]
    fn are_escapes() {
        assert!(m(r"\mfoo", "a foo"));
        assert!(!m(r"\mfoo", "afoo"));
        assert!(m(r"foo\M", "foo bar"));
        assert!(m(r"^a\y", "a b"));
        assert!(!m(r"^a\y", "ab"));
        assert!(m(r"^a\Z", "a"));
        assert!(m(r"^\e$", "\u{1b}"));
        assert!(m(r"^[[:<:]]foo", "foo"));
        assert!(m(r"^[[.-.]]$", "-"));
        assert!(m(r"***=a.b", "xa.by"));
        assert!(!m(r"***=a.b", "axb"));
        assert!(m(r"***:^a", "ab"));
    }

    #[test]
    fn backreferences_and_captures() {
        assert!(m(r"^(\w+)\1$", "abab"));
        let r = PgRegex::new(r"^(.*)@example\.com$").expect("compiles");
        assert_eq!(
            r.first_group("alice@example.com"),
            Some(Some("alice".to_owned()))
        );
        assert_eq!(r.first_group("alice@other"), None);
        let r = PgRegex::new(r"^x$").expect("compiles");
        assert_eq!(r.first_group("x"), Some(None));
    }

    #[test]
    fn brackets_keep_their_meaning() {
        assert!(m(r"^[]a]$", "]"));
        assert!(m(r"^[^]a]$", "b"));
        assert!(m(r"^[[:digit:]]+$", "123"));
        assert!(PgRegex::new("(").is_err());
    }
}
