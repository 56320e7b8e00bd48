//! PgBouncer's `auth_file` (userlist.txt): one role per line,
//! `"username" "secret"`, the secret being a clear-text password, an MD5 hash or a
//! SCRAM secret ([`StoredSecret::parse`]).
//!
//! Rules, from PgBouncer's `load_auth_file` (`src/loader.c`) and its documentation:
//! leading whitespace is skipped; blank lines and lines whose first non-blank
//! character is `;` are ignored; both fields are in double quotes, `""` standing for
//! one `"` inside a field; whatever follows the second field on its line is ignored;
//! a user name of 128 bytes or more, or a secret of 2048 bytes or more (counted as
//! written, escapes included), is refused; when a user appears twice the later line
//! wins.
//!
//! Stricter than PgBouncer, which stops loading at the first broken line and keeps
//! what it read so far: every error is collected with its line, and a file with any
//! error is refused as a whole. Also refused: a field running past the end of its
//! line, anything but blanks between the two fields (PgBouncer skips to the next
//! quote, even on a later line), and an empty user name.

use std::collections::BTreeMap;
use std::fmt;

use thiserror::Error;

use super::secret::StoredSecret;

/// PgBouncer's `MAX_USERNAME` (128, including the C string terminator).
const MAX_USERNAME: usize = 128;
/// PgBouncer's `MAX_PASSWORD` (2048, including the C string terminator).
const MAX_PASSWORD: usize = 2048;

/// A parsed auth file: role name to stored secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Userlist {
    entries: BTreeMap<String, StoredSecret>,
}

/// A line of an auth file that could not be read. `Display`: `path:line: what`.
/// Never contains the line's text (it may hold a password).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path}:{line}: {kind}")]
pub struct UserlistError {
    /// The file name given to [`Userlist::parse`].
    pub path: String,
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub kind: UserlistErrorKind,
}

/// What was wrong with a line of an auth file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UserlistErrorKind {
    /// The line starts with something other than `"`, `;` or blanks.
    #[error("expected a double-quoted user name at the start of the line")]
    ExpectedUser,
    /// The user name's closing quote is missing on this line.
    #[error("closing double quote of the user name missing")]
    UnterminatedUser,
    /// No `"` (after blanks) following the user name.
    #[error("expected blanks and a double-quoted secret after the user name")]
    ExpectedSecret,
    /// The secret's closing quote is missing on this line.
    #[error("closing double quote of the secret missing")]
    UnterminatedSecret,
    /// `""` as user name.
    #[error("empty user name")]
    EmptyUser,
    /// A user name of 128 bytes or more.
    #[error("user name too long (at most {} bytes)", MAX_USERNAME - 1)]
    UserTooLong,
    /// A secret of 2048 bytes or more.
    #[error("secret too long (at most {} bytes)", MAX_PASSWORD - 1)]
    SecretTooLong,
}

impl Userlist {
    /// Parses the text of an auth file; `path_for_errors` names it in errors.
    pub fn parse(path_for_errors: &str, text: &str) -> Result<Userlist, Vec<UserlistError>> {
        let mut entries = BTreeMap::new();
        let mut errors = Vec::new();
        for (index, line) in text.split('\n').enumerate() {
            match parse_line(line) {
                Ok(None) => {}
                Ok(Some((user, secret))) => {
                    entries.insert(user, StoredSecret::parse(&secret));
                }
                Err(kind) => errors.push(UserlistError {
                    path: path_for_errors.to_string(),
                    line: index + 1,
                    kind,
                }),
            }
        }
        if errors.is_empty() {
            Ok(Userlist { entries })
        } else {
            Err(errors)
        }
    }

    /// The secret stored for `role`.
    pub fn get(&self, role: &str) -> Option<&StoredSecret> {
        self.entries.get(role)
    }

    /// The role names, sorted.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Number of roles.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no role.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Debug for Userlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v.kind())))
            .finish()
    }
}

/// C `isspace` in the "C" locale.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// One line: `Ok(None)` for blank and comment lines.
fn parse_line(line: &str) -> Result<Option<(String, String)>, UserlistErrorKind> {
    let line = line.trim_start_matches(is_space);
    if line.is_empty() || line.starts_with(';') {
        return Ok(None);
    }
    let Some(after_quote) = line.strip_prefix('"') else {
        return Err(UserlistErrorKind::ExpectedUser);
    };
    let (user, rest) = quoted_field(after_quote).ok_or(UserlistErrorKind::UnterminatedUser)?;
    if user.len() >= MAX_USERNAME {
        return Err(UserlistErrorKind::UserTooLong);
    }
    if user.is_empty() {
        return Err(UserlistErrorKind::EmptyUser);
    }
    let rest = rest
        .trim_start_matches([' ', '\t'])
        .strip_prefix('"')
        .ok_or(UserlistErrorKind::ExpectedSecret)?;
    let (secret, _ignored) = quoted_field(rest).ok_or(UserlistErrorKind::UnterminatedSecret)?;
    if secret.len() >= MAX_PASSWORD {
        return Err(UserlistErrorKind::SecretTooLong);
    }
    Ok(Some((unescape(user), unescape(secret))))
}

/// Splits `text` (after an opening quote) at its closing quote, `""` being an
/// escaped quote: (raw field, text after the closing quote).
fn quoted_field(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            if bytes.get(i + 1) == Some(&b'"') {
                i += 2;
                continue;
            }
            return Some((&text[..i], &text[i + 1..]));
        }
        i += 1;
    }
    None
}

fn unescape(raw: &str) -> String {
    raw.replace("\"\"", "\"")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::secret::{md5_secret_text, ScramSecret};

    #[test]
    fn reads_pgbouncer_files() {
        let scram = ScramSecret::from_password("pw", b"salt", 4).to_text();
        let md5 = md5_secret_text("bob", "pw");
        let text = format!(
            "; comment\n\n   \t\n\"alice\" \"plain pw\"\n  \"bob\"\t\"{md5}\" trailing \"junk\"\r\n\
             \"car\"\"ol\" \"{scram}\"\n\"dave\" \"a\"\"b\"\"\"\n\"alice\" \"second\"\n"
        );
        let list = Userlist::parse("userlist.txt", &text).unwrap();
        assert_eq!(list.len(), 4);
        assert_eq!(
            list.roles().collect::<Vec<_>>(),
            ["alice", "bob", "car\"ol", "dave"]
        );
        assert_eq!(
            list.get("alice"),
            Some(&StoredSecret::Plain("second".into()))
        );
        assert!(matches!(list.get("bob"), Some(StoredSecret::Md5(_))));
        assert!(matches!(list.get("car\"ol"), Some(StoredSecret::Scram(_))));
        assert_eq!(
            list.get("dave"),
            Some(&StoredSecret::Plain("a\"b\"".into()))
        );
        assert_eq!(list.get("eve"), None);
        let debug = format!("{list:?}");
        assert!(
            !debug.contains("second") && !debug.contains(&md5[3..]),
            "{debug}"
        );
        assert!(debug.contains("\"bob\": \"md5\""), "{debug}");
    }

    #[test]
    fn empty_file_and_empty_secret() {
        assert!(Userlist::parse("f", "").unwrap().is_empty());
        let list = Userlist::parse("f", "\"u\" \"\"").unwrap();
        assert_eq!(list.get("u"), Some(&StoredSecret::Plain(String::new())));
    }

    #[test]
    fn errors_name_file_and_line() {
        let long_user = "u".repeat(128);
        let long_secret = "s".repeat(2048);
        let text = format!(
            "\"ok\" \"pw\"\nalice \"pw\"\n\"bob \"pw\"\n\"carol\"\n\"dave\" x \"pw\"\n\
             \"erin\" \"pw\n\"\" \"pw\"\n\"{long_user}\" \"pw\"\n\"u\" \"{long_secret}\"\n\
             # not a comment\n"
        );
        let errors = Userlist::parse("/etc/gh/userlist.txt", &text).unwrap_err();
        let got: Vec<(usize, UserlistErrorKind)> =
            errors.iter().map(|e| (e.line, e.kind)).collect();
        use UserlistErrorKind as K;
        assert_eq!(
            got,
            [
                (2, K::ExpectedUser),
                // `"bob "` is the user; `pw"` is not a quoted secret.
                (3, K::ExpectedSecret),
                (4, K::ExpectedSecret),
                (5, K::ExpectedSecret),
                (6, K::UnterminatedSecret),
                (7, K::EmptyUser),
                (8, K::UserTooLong),
                (9, K::SecretTooLong),
                (10, K::ExpectedUser),
            ]
        );
        assert_eq!(
            errors[0].to_string(),
            "/etc/gh/userlist.txt:2: expected a double-quoted user name at the start of the line"
        );
        // Limits are PgBouncer's: 127 and 2047 bytes pass.
        let ok = format!("\"{}\" \"{}\"", &long_user[1..], &long_secret[1..]);
        assert_eq!(Userlist::parse("f", &ok).unwrap().len(), 1);
        assert_eq!(
            Userlist::parse("f", "\"unterminated").unwrap_err()[0].kind,
            K::UnterminatedUser
        );
    }
}
