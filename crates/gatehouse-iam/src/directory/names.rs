//! Names, paths, ARNs and generated identifiers, with AWS IAM's rules.
//!
//! - User and role names: `[\w+=,.@-]{1,64}`; group, managed policy and inline policy
//!   names: the same characters, up to 128 (AWS's limits). `\w` is ASCII:
//!   `[A-Za-z0-9_]`. Names are unique regardless of case, as in AWS.
//! - Paths: `/` or `/` + printable ASCII (`!`..`~`) + `/`, at most 512 characters.
//! - Account ids: 12 digits.
//! - Unique ids (`AIDA…`, `AGPA…`, `AROA…`, `ANPA…`): the prefix and 17 characters of
//!   `A-Z0-9`. Access key ids: `AKIA` and 16 characters of `A-Z2-7`. Secret access keys:
//!   40 characters of `A-Za-z0-9+/`.

use rand::rngs::OsRng;
use rand::Rng;

/// Why a name, path or account id was refused: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value:?}: {message}")]
pub struct NameError {
    /// The field, e.g. `UserName`, `Path`, `PolicyName`, `account_id`.
    pub field: &'static str,
    /// The refused value (cut to 200 characters).
    pub value: String,
    /// What is wrong.
    pub message: String,
}

impl NameError {
    fn new(field: &'static str, value: &str, message: impl Into<String>) -> NameError {
        NameError {
            field,
            value: value.chars().take(200).collect(),
            message: message.into(),
        }
    }
}

/// Longest user name.
pub const MAX_USER_NAME: usize = 64;
/// Longest role name.
pub const MAX_ROLE_NAME: usize = 64;
/// Longest group name.
pub const MAX_GROUP_NAME: usize = 128;
/// Longest managed or inline policy name.
pub const MAX_POLICY_NAME: usize = 128;
/// Longest path.
pub const MAX_PATH: usize = 512;

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// Checks a name against `[\w+=,.@-]{1,max}`; `field` names it in the error
/// (`UserName`, `RoleName`, `GroupName`, `PolicyName`).
///
/// # Errors
/// [`NameError`] saying which rule is broken.
pub fn check_name(field: &'static str, value: &str, max: usize) -> Result<(), NameError> {
    let len = value.chars().count();
    if len == 0 || len > max {
        return Err(NameError::new(
            field,
            value,
            format!("must be 1 to {max} characters long (it has {len})"),
        ));
    }
    if let Some(bad) = value.chars().find(|c| !name_char(*c)) {
        return Err(NameError::new(
            field,
            value,
            format!(
                "{:?} is not allowed: use letters, digits and _+=,.@- (the pattern \
                 [\\w+=,.@-]{{1,{max}}})",
                bad
            ),
        ));
    }
    Ok(())
}

/// Checks a path: `/`, or `/` followed by printable ASCII (`!`..`~`) and ending with `/`,
/// at most 512 characters (AWS's `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`).
///
/// # Errors
/// [`NameError`] for the field `Path`.
pub fn check_path(value: &str) -> Result<(), NameError> {
    let len = value.chars().count();
    if len == 0 || len > MAX_PATH {
        return Err(NameError::new(
            "Path",
            value,
            format!("must be 1 to {MAX_PATH} characters long (it has {len})"),
        ));
    }
    if !value.starts_with('/') || !value.ends_with('/') {
        return Err(NameError::new(
            "Path",
            value,
            "must begin and end with / (for example /division_abc/subdivision_xyz/)",
        ));
    }
    if let Some(bad) = value.chars().find(|c| !('!'..='~').contains(c)) {
        return Err(NameError::new(
            "Path",
            value,
            format!("{bad:?} is not allowed: use printable ASCII characters without spaces"),
        ));
    }
    if value == "//" {
        return Err(NameError::new(
            "Path",
            value,
            "is / or has at least one character between its slashes",
        ));
    }
    Ok(())
}

/// Checks an AWS account id: exactly 12 digits.
///
/// # Errors
/// [`NameError`] for the field `account_id`.
pub fn check_account_id(value: &str) -> Result<(), NameError> {
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(NameError::new(
            "account_id",
            value,
            "must be exactly 12 digits, like 123456789012",
        ))
    }
}

/// An IAM ARN: `arn:aws:iam::ACCOUNT:KIND` + path + name, e.g.
/// `arn:aws:iam::123456789012:user/division/alice` for `kind` `user`, path
/// `/division/` and name `alice`.
pub fn arn(account_id: &str, kind: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:{kind}{path}{name}")
}

/// The parts of an IAM ARN of this account: (kind, path, name), e.g.
/// `("user", "/division/", "alice")`. `None` when it is not an IAM ARN of `account_id`
/// or has no `kind/…` resource.
pub fn parse_arn<'a>(account_id: &str, arn: &'a str) -> Option<(&'a str, &'a str, &'a str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let rest = rest.strip_prefix(account_id)?.strip_prefix(':')?;
    let slash = rest.find('/')?;
    let last = rest.rfind('/')?;
    let kind = &rest[..slash];
    let path = &rest[slash..=last];
    let name = &rest[last + 1..];
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    Some((kind, path, name))
}

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Length of a secret access key.
pub const SECRET_LEN: usize = 40;

fn random_string(prefix: &str, charset: &[u8], len: usize) -> String {
    let mut rng = OsRng;
    let mut out = String::with_capacity(prefix.len() + len);
    out.push_str(prefix);
    for _ in 0..len {
        out.push(char::from(charset[rng.gen_range(0..charset.len())]));
    }
    out
}

/// The kind of unique id AWS gives an entity, by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdPrefix {
    /// `AIDA`: a user.
    User,
    /// `AGPA`: a group.
    Group,
    /// `AROA`: a role.
    Role,
    /// `ANPA`: a managed policy.
    Policy,
}

impl IdPrefix {
    /// The four letters.
    pub fn as_str(self) -> &'static str {
        match self {
            IdPrefix::User => "AIDA",
            IdPrefix::Group => "AGPA",
            IdPrefix::Role => "AROA",
            IdPrefix::Policy => "ANPA",
        }
    }
}

/// A fresh unique id: the prefix and 17 random characters of `A-Z0-9`
/// (`AIDAJQABLZS4A3QDU576Q`).
pub fn generate_unique_id(prefix: IdPrefix) -> String {
    random_string(prefix.as_str(), UPPER_ALNUM, 17)
}

/// A fresh access key id: `AKIA` and 16 random characters of `A-Z2-7` (80 bits).
pub fn generate_access_key_id() -> String {
    random_string("AKIA", BASE32, 16)
}

/// A fresh secret access key: 40 random characters of `A-Za-z0-9+/` (240 bits), as bytes.
pub fn generate_secret() -> Vec<u8> {
    random_string("", SECRET_CHARS, SECRET_LEN).into_bytes()
}

/// Whether `id` has the shape of an access key id this gatehouse makes (`AKIA` + 16 of
/// `A-Z2-7`). Ids of other shapes may still be stored (imported), so this is advice for
/// error messages, not a gate.
pub fn looks_like_access_key_id(id: &str) -> bool {
    id.len() == 20 && id.starts_with("AKIA") && id.bytes().skip(4).all(|b| BASE32.contains(&b))
}

/// Whether `secret` has the shape of a secret access key: 40 characters of
/// `A-Za-z0-9+/`.
pub fn looks_like_secret(secret: &[u8]) -> bool {
    secret.len() == SECRET_LEN && secret.iter().all(|b| SECRET_CHARS.contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["alice", "a", "A_b+c=d,e.f@g-h", &"x".repeat(64)] {
            check_name("UserName", ok, MAX_USER_NAME).expect(ok);
        }
        let err = check_name("UserName", "", MAX_USER_NAME).expect_err("empty");
        assert_eq!(err.field, "UserName");
        assert!(err.to_string().contains("1 to 64"), "{err}");
        check_name("UserName", &"x".repeat(65), MAX_USER_NAME).expect_err("65");
        check_name("GroupName", &"x".repeat(128), MAX_GROUP_NAME).expect("128 for a group");
        for bad in ["al ice", "al/ice", "é", "a:b", "a*b", "a\nb"] {
            let err = check_name("RoleName", bad, MAX_ROLE_NAME).expect_err(bad);
            assert!(err.to_string().starts_with("RoleName "), "{err}");
        }
    }

    #[test]
    fn paths() {
        for ok in [
            "/",
            "/a/",
            "/division_abc/subdivision_xyz/",
            "/!~/",
            "/a//b/",
        ] {
            check_path(ok).expect(ok);
        }
        for bad in ["", "a", "/a", "a/", "/a b/", "//", "/é/"] {
            check_path(bad).expect_err(bad);
        }
        check_path(&format!("/{}/", "x".repeat(510))).expect("512");
        check_path(&format!("/{}/", "x".repeat(511))).expect_err("513");
    }

    #[test]
    fn account_ids() {
        check_account_id("123456789012").expect("ok");
        for bad in [
            "",
            "12345678901",
            "1234567890123",
            "12345678901a",
            "１23456789012",
        ] {
            let err = check_account_id(bad).expect_err(bad);
            assert_eq!(err.field, "account_id");
        }
    }

    #[test]
    fn arns_round_trip() {
        let a = arn("123456789012", "user", "/eng/db/", "alice");
        assert_eq!(a, "arn:aws:iam::123456789012:user/eng/db/alice");
        assert_eq!(
            parse_arn("123456789012", &a),
            Some(("user", "/eng/db/", "alice"))
        );
        assert_eq!(
            parse_arn("123456789012", "arn:aws:iam::123456789012:role/r"),
            Some(("role", "/", "r"))
        );
        assert_eq!(
            parse_arn("123456789012", "arn:aws:iam::999999999999:user/a"),
            None
        );
        assert_eq!(
            parse_arn("123456789012", "arn:aws:iam::123456789012:user/"),
            None
        );
        assert_eq!(
            parse_arn("123456789012", "arn:aws:iam::123456789012:root"),
            None
        );
        assert_eq!(parse_arn("123456789012", "arn:aws:s3:::bucket/x"), None);
    }

    #[test]
    fn generated_ids_have_aws_shapes() {
        for _ in 0..200 {
            let id = generate_unique_id(IdPrefix::User);
            assert_eq!(id.len(), 21);
            assert!(id.starts_with("AIDA"));
            assert!(id.bytes().all(|b| UPPER_ALNUM.contains(&b)), "{id}");
            let key = generate_access_key_id();
            assert!(looks_like_access_key_id(&key), "{key}");
            let secret = generate_secret();
            assert!(looks_like_secret(&secret));
        }
        assert!(generate_unique_id(IdPrefix::Role).starts_with("AROA"));
        assert!(generate_unique_id(IdPrefix::Group).starts_with("AGPA"));
        assert!(generate_unique_id(IdPrefix::Policy).starts_with("ANPA"));
        assert_ne!(generate_secret(), generate_secret());
        assert!(
            !looks_like_access_key_id("AKIA0000000000000000"),
            "0 and 1 are not base32"
        );
        assert!(!looks_like_secret(b"short"));
    }
}
