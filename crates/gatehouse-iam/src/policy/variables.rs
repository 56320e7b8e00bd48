//! Policy variables: `${aws:username}`, `${key, 'default'}` and the escapes `${*}`,
//! `${?}`, `${$}`, as IAM reads them in `Resource`/`NotResource` and in the values of
//! the String and ARN condition operators of a `"Version": "2012-10-17"` document.
//!
//! The text is cut into [`Token`]s once, at parse; the wildcard matcher resolves the
//! variables against the request context at evaluation.

use super::json::quote;

/// One piece of a pattern's source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// Text matched as is (escapes already turned into their character).
    Lit(String),
    /// `?` — any one character (only where wildcards apply).
    AnyOne,
    /// `*` — any run of characters, empty included (only where wildcards apply).
    AnyMany,
    /// `${key}` or `${key, 'default'}`.
    Var(Var),
}

/// A policy variable: the context key it reads (lower-cased, as context keys are
/// case-insensitive) and its default, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Var {
    pub(crate) key: Box<str>,
    pub(crate) default: Option<Box<str>>,
}

/// How to read a text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Syntax {
    /// `*` and `?` are wildcards (Action, Resource, StringLike, Arn*); otherwise literal.
    pub(crate) wildcards: bool,
    /// `${…}` is a variable (2012-10-17 documents); otherwise literal text.
    pub(crate) variables: bool,
}

/// Cuts `text` into tokens.
///
/// # Errors
/// A message (without path) when a `${` is not closed, names an empty key, or has a
/// malformed default (`${key, 'text'}` is the only form IAM documents).
pub(crate) fn tokenize(text: &str, syntax: Syntax) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if syntax.variables && rest.starts_with("${") {
            let (token, used) = variable(rest).map_err(|why| format!("{} {why}", quote(text)))?;
            match token {
                Token::Lit(s) => lit.push_str(&s),
                other => {
                    flush(&mut lit, &mut tokens);
                    tokens.push(other);
                }
            }
            rest = &rest[used..];
            continue;
        }
        rest = &rest[c.len_utf8()..];
        match c {
            '*' if syntax.wildcards => {
                flush(&mut lit, &mut tokens);
                // `**` means the same as `*`; one token keeps the matcher simple.
                if tokens.last() != Some(&Token::AnyMany) {
                    tokens.push(Token::AnyMany);
                }
            }
            '?' if syntax.wildcards => {
                flush(&mut lit, &mut tokens);
                tokens.push(Token::AnyOne);
            }
            _ => lit.push(c),
        }
    }
    flush(&mut lit, &mut tokens);
    Ok(tokens)
}

fn flush(lit: &mut String, tokens: &mut Vec<Token>) {
    if lit.is_empty() {
        return;
    }
    let text = std::mem::take(lit);
    if let Some(Token::Lit(prev)) = tokens.last_mut() {
        prev.push_str(&text);
    } else {
        tokens.push(Token::Lit(text));
    }
}

/// Reads one `${…}` at the start of `text`: the token and the bytes it used.
fn variable(text: &str) -> Result<(Token, usize), String> {
    let body_start = 2;
    let bytes = text.as_bytes();
    let mut at = body_start;
    // The key runs to `,` or `}`; a default may hold `}` inside its quotes.
    while at < bytes.len() && bytes[at] != b',' && bytes[at] != b'}' {
        at += 1;
    }
    if at == bytes.len() {
        return Err(format!(
            "has an unterminated policy variable {}",
            quote(text)
        ));
    }
    let key = text[body_start..at].trim();
    let (default, end) = if bytes[at] == b',' {
        let (default, end) = default_value(text, at + 1)?;
        (Some(default), end)
    } else {
        (None, at + 1)
    };
    let whole = &text[..end];
    if key.is_empty() {
        return Err(format!(
            "has a policy variable without a key: {}",
            quote(whole)
        ));
    }
    let escape = matches!(key, "*" | "?" | "$");
    if !escape
        && key
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '$' | '{' | '\''))
    {
        return Err(format!("has a malformed policy variable {}", quote(whole)));
    }
    let token = match key {
        "*" | "?" | "$" if default.is_none() => Token::Lit(key.to_owned()),
        "*" | "?" | "$" => {
            return Err(format!(
                "has an escape with a default value: {}",
                quote(whole)
            ))
        }
        _ => Token::Var(Var {
            key: key.to_ascii_lowercase().into(),
            default: default.map(String::into_boxed_str),
        }),
    };
    Ok((token, end))
}

/// Reads ` 'text' }` from `from`: the default (with `''` read as one `'`) and the end.
fn default_value(text: &str, from: usize) -> Result<(String, usize), String> {
    let malformed = || {
        format!(
            "has a malformed default in policy variable {} (expected ${{key, 'default'}})",
            quote(text)
        )
    };
    let rest = &text[from..];
    let trimmed = rest.trim_start();
    let mut chars = trimmed.char_indices();
    if chars.next().map(|(_, c)| c) != Some('\'') {
        return Err(malformed());
    }
    let base = from + (rest.len() - trimmed.len());
    let mut value = String::new();
    let mut iter = trimmed[1..].char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if c != '\'' {
            value.push(c);
            continue;
        }
        if iter.peek().map(|&(_, c)| c) == Some('\'') {
            iter.next();
            value.push('\'');
            continue;
        }
        // Closing quote: optional blanks, then `}`.
        let after = base + 1 + i + 1;
        let tail = &text[after..];
        let tail_trimmed = tail.trim_start();
        if !tail_trimmed.starts_with('}') {
            return Err(malformed());
        }
        return Ok((value, after + (tail.len() - tail_trimmed.len()) + 1));
    }
    Err(malformed())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FULL: Syntax = Syntax {
        wildcards: true,
        variables: true,
    };

    fn lit(s: &str) -> Token {
        Token::Lit(s.into())
    }

    fn var(key: &str, default: Option<&str>) -> Token {
        Token::Var(Var {
            key: key.into(),
            default: default.map(Into::into),
        })
    }

    #[test]
    fn wildcards_and_variables() {
        assert_eq!(
            tokenize("dbuser:*/${aws:UserName}", FULL).unwrap(),
            vec![
                lit("dbuser:"),
                Token::AnyMany,
                lit("/"),
                var("aws:username", None)
            ]
        );
        assert_eq!(
            tokenize("a**?b", FULL).unwrap(),
            vec![lit("a"), Token::AnyMany, Token::AnyOne, lit("b")]
        );
    }

    #[test]
    fn escapes_are_literal_text() {
        assert_eq!(
            tokenize("a${*}b${?}${$}", FULL).unwrap(),
            vec![lit("a*b?$")]
        );
        assert_eq!(tokenize("$x", FULL).unwrap(), vec![lit("$x")]);
    }

    #[test]
    fn defaults() {
        assert_eq!(
            tokenize("${ aws:PrincipalTag/team , 'company-wide' }", FULL).unwrap(),
            vec![var("aws:principaltag/team", Some("company-wide"))]
        );
        assert_eq!(
            tokenize("${k, 'it''s }'}x", FULL).unwrap(),
            vec![var("k", Some("it's }")), lit("x")]
        );
        assert_eq!(
            tokenize("${k, ''}", FULL).unwrap(),
            vec![var("k", Some(""))]
        );
    }

    #[test]
    fn without_variables_or_wildcards_everything_is_text() {
        let plain = Syntax {
            wildcards: false,
            variables: false,
        };
        assert_eq!(tokenize("${a}*?", plain).unwrap(), vec![lit("${a}*?")]);
    }

    #[test]
    fn malformed() {
        for bad in [
            "${aws:username",
            "${}",
            "${ }",
            "${a b}",
            "${a, default}",
            "${a, 'x'",
            "${a, 'x' y}",
            "${*, 'x'}",
        ] {
            assert!(tokenize(bad, FULL).is_err(), "{bad}");
        }
    }
}
