//! Compiled patterns: literal text, `?`, `*` and policy variables, matched against a
//! whole string (IAM's matching of Action, Resource, StringLike and the ARN operators).
//!
//! The matcher is the classic greedy one with a single backtrack point: on a mismatch
//! only the most recent `*` is extended by one character. That is correct for globs
//! (every `*` matches any run, so the leftmost placement of the text after it is never
//! worse), runs in O(text × pattern) at worst, and allocates nothing.

use super::variables::{Token, Var};
use super::RequestContext;

/// How letters compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    /// Byte for byte (Resource, StringEquals, StringLike, ARNs).
    Sensitive,
    /// Letters compare without case, one character against one
    /// (StringEqualsIgnoreCase; actions are lower-cased on both sides instead).
    Insensitive,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(Box<str>),
    AnyOne,
    AnyMany,
    /// Index into [`Pattern::vars`].
    Var(usize),
}

/// A pattern compiled from [`Token`]s.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pattern {
    parts: Box<[Part]>,
    vars: Box<[Var]>,
    case: Case,
}

/// Variables resolved on the stack when a pattern has at most this many.
const INLINE_VARS: usize = 4;

impl Pattern {
    /// Compiles tokens (from [`super::variables::tokenize`]).
    pub(crate) fn new(tokens: Vec<Token>, case: Case) -> Pattern {
        let mut parts = Vec::with_capacity(tokens.len());
        let mut vars = Vec::new();
        for token in tokens {
            parts.push(match token {
                Token::Lit(s) => Part::Lit(s.into_boxed_str()),
                Token::AnyOne => Part::AnyOne,
                Token::AnyMany => Part::AnyMany,
                Token::Var(v) => {
                    vars.push(v);
                    Part::Var(vars.len() - 1)
                }
            });
        }
        Pattern {
            parts: parts.into_boxed_slice(),
            vars: vars.into_boxed_slice(),
            case,
        }
    }

    /// Whether `text` matches the whole pattern; `None` when a variable in the pattern
    /// has no value in `ctx` (absent, or several values) and no default.
    #[inline]
    pub(crate) fn matches(&self, text: &str, ctx: &RequestContext) -> Option<bool> {
        if !self.vars.is_empty() {
            return self.matches_with_variables(text, ctx);
        }
        Some(match (&*self.parts, self.case) {
            ([Part::Lit(lit)], Case::Sensitive) => **lit == *text,
            (parts, case) => glob(parts, &[], text, case),
        })
    }

    #[inline(never)]
    fn matches_with_variables(&self, text: &str, ctx: &RequestContext) -> Option<bool> {
        if self.vars.len() <= INLINE_VARS {
            let mut resolved = [""; INLINE_VARS];
            for (slot, var) in resolved.iter_mut().zip(self.vars.iter()) {
                *slot = resolve(var, ctx)?;
            }
            Some(glob(&self.parts, &resolved, text, self.case))
        } else {
            let resolved = self
                .vars
                .iter()
                .map(|var| resolve(var, ctx))
                .collect::<Option<Vec<&str>>>()?;
            Some(glob(&self.parts, &resolved, text, self.case))
        }
    }

    /// Whether the pattern is a lone `*` (matches everything, resolves nothing).
    pub(crate) fn is_any(&self) -> bool {
        matches!(&*self.parts, [Part::AnyMany])
    }
}

/// A variable's value: the context key's only value, else its default.
fn resolve<'a>(var: &'a Var, ctx: &'a RequestContext) -> Option<&'a str> {
    match ctx.values_lowercase(&var.key) {
        Some([one]) => Some(one.as_str()),
        _ => var.default.as_deref(),
    }
}

fn glob(parts: &[Part], resolved: &[&str], text: &str, case: Case) -> bool {
    let mut p = 0;
    let mut t = 0;
    // After the latest `*`: the part to resume at, and where in the text it began.
    let mut backtrack: Option<(usize, usize)> = None;
    loop {
        if let Some(part) = parts.get(p) {
            let literal = match part {
                Part::AnyMany => {
                    if p + 1 == parts.len() {
                        return true;
                    }
                    backtrack = Some((p + 1, t));
                    p += 1;
                    continue;
                }
                Part::AnyOne => None,
                Part::Lit(lit) => Some(&**lit),
                Part::Var(i) => Some(resolved.get(*i).copied().unwrap_or_default()),
            };
            let advanced = match literal {
                None => text[t..].chars().next().map(char::len_utf8),
                // Right after a `*`, jump to the literal's next occurrence instead of
                // trying every position: if it occurs nowhere further, nothing matches.
                Some(lit)
                    if case == Case::Sensitive
                        && backtrack.is_some_and(|(resume, _)| resume == p) =>
                {
                    let Some(skip) = find(&text[t..], lit) else {
                        return false;
                    };
                    t += skip;
                    backtrack = Some((p, t));
                    Some(lit.len())
                }
                Some(lit) => prefix_len(&text[t..], lit, case),
            };
            if let Some(n) = advanced {
                t += n;
                p += 1;
                continue;
            }
        } else if t == text.len() {
            return true;
        }
        let Some((resume, start)) = backtrack else {
            return false;
        };
        let Some(c) = text[start..].chars().next() else {
            return false;
        };
        let next = start + c.len_utf8();
        backtrack = Some((resume, next));
        p = resume;
        t = next;
    }
}

/// Where `needle` first occurs in `haystack` (a byte offset on a character boundary).
/// Needles here are short and texts are ARNs, so a scan for the first byte with a
/// prefix check beats setting up `str::find`'s searcher on every call.
fn find(haystack: &str, needle: &str) -> Option<usize> {
    let Some(&first) = needle.as_bytes().first() else {
        return Some(0);
    };
    let bytes = haystack.as_bytes();
    let mut from = 0;
    while let Some(at) = bytes[from..].iter().position(|&b| b == first) {
        let at = from + at;
        if bytes[at..].starts_with(needle.as_bytes()) {
            // `first` starts a UTF-8 sequence (it is a needle's first byte), so `at` is a
            // character boundary.
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// How many bytes of `text` the literal `lit` covers at its start, if it does.
fn prefix_len(text: &str, lit: &str, case: Case) -> Option<usize> {
    match case {
        Case::Sensitive => text.starts_with(lit).then_some(lit.len()),
        Case::Insensitive => {
            if lit.is_ascii() {
                let head = text.as_bytes().get(..lit.len())?;
                return head
                    .eq_ignore_ascii_case(lit.as_bytes())
                    .then_some(lit.len());
            }
            let mut used = 0;
            let mut chars = text.chars();
            for want in lit.chars() {
                let got = chars.next()?;
                if !same_letter(want, got) {
                    return None;
                }
                used += got.len_utf8();
            }
            Some(used)
        }
    }
}

/// Case-insensitive comparison of two characters.
pub(crate) fn same_letter(a: char, b: char) -> bool {
    a == b
        || (a.is_ascii() && b.is_ascii() && a.eq_ignore_ascii_case(&b))
        || (!a.is_ascii() && !b.is_ascii() && a.to_lowercase().eq(b.to_lowercase()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::variables::{tokenize, Syntax};
    use super::*;

    fn pattern(src: &str, case: Case) -> Pattern {
        let syntax = Syntax {
            wildcards: true,
            variables: true,
        };
        Pattern::new(tokenize(src, syntax).unwrap(), case)
    }

    fn glob_matches(src: &str, text: &str) -> bool {
        pattern(src, Case::Sensitive)
            .matches(text, &RequestContext::default())
            .unwrap()
    }

    #[test]
    fn table() {
        let cases = [
            ("*", "", true),
            ("*", "anything:at/all", true),
            ("", "", true),
            ("", "a", false),
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("abc", "ab", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "aéc", true),
            ("a*c", "ac", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("*c", "abcbc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxcyyb", false),
            ("a*bc*bd", "abcbcbd", true),
            ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", false),
            (
                "arn:aws:s3:::*",
                "arn:aws:s3:::bucket/key:with:colons",
                true,
            ),
            (
                "arn:*:rds-db:*",
                "arn:aws:rds-db:us-east-1:1:dbuser:x/y",
                true,
            ),
            ("Bob", "bob", false),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(glob_matches(pattern, text), want, "{pattern:?} vs {text:?}");
        }
    }

    #[test]
    fn find_agrees_with_str_find() {
        for (haystack, needle) in [
            ("abcabd", "abd"),
            ("abc", ""),
            ("", "a"),
            ("aaab", "aab"),
            ("héllo/wörld", "/w"),
            ("héllo", "é"),
            ("abc", "abcd"),
        ] {
            assert_eq!(
                find(haystack, needle),
                haystack.find(needle),
                "{haystack} {needle}"
            );
        }
    }

    #[test]
    fn insensitive() {
        let p = pattern("RDS-DB:Conn*", Case::Insensitive);
        let ctx = RequestContext::default();
        assert_eq!(p.matches("rds-db:connect", &ctx), Some(true));
        assert_eq!(p.matches("rds-db:Disconnect", &ctx), Some(false));
        let p = pattern("ÉTÉ", Case::Insensitive);
        assert_eq!(p.matches("été", &ctx), Some(true));
        assert!(same_letter('k', 'K'));
        assert!(!same_letter('k', 'l'));
    }

    #[test]
    fn variables_resolve_or_report_unresolved() {
        let mut ctx = RequestContext::default();
        ctx.set("aws:username", vec!["alice".into()]);
        ctx.set("multi", vec!["a".into(), "b".into()]);
        let p = pattern("u/${aws:UserName}", Case::Sensitive);
        assert_eq!(p.matches("u/alice", &ctx), Some(true));
        assert_eq!(p.matches("u/bob", &ctx), Some(false));
        let p = pattern("u/${missing}", Case::Sensitive);
        assert_eq!(p.matches("u/", &ctx), None);
        let p = pattern("u/${multi}", Case::Sensitive);
        assert_eq!(p.matches("u/a", &ctx), None);
        let p = pattern("u/${missing, 'dflt'}", Case::Sensitive);
        assert_eq!(p.matches("u/dflt", &ctx), Some(true));
        // A variable's value is literal text: its `*` is no wildcard.
        ctx.set("star", vec!["*".into()]);
        let p = pattern("u/${star}", Case::Sensitive);
        assert_eq!(p.matches("u/x", &ctx), Some(false));
        assert_eq!(p.matches("u/*", &ctx), Some(true));
        // More variables than fit on the stack.
        let p = pattern("${a,'1'}${a,'2'}${a,'3'}${a,'4'}${a,'5'}*", Case::Sensitive);
        assert_eq!(p.matches("12345xyz", &ctx), Some(true));
        assert_eq!(p.matches("1234", &ctx), Some(false));
    }
}
