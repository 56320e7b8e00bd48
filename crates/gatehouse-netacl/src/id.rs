//! Identifiers: `sg-…`, `sgr-…`, `pl-…`.
//!
//! AWS generates `sg-`/`sgr-`/`pl-` followed by 17 lowercase hex digits (8 for old
//! resources). gatehouse also accepts ids chosen by the operator in a configuration file
//! (`sg-db`, `sgr-app-to-db`), so every id is its prefix followed by 1 to 64 characters out
//! of `a-z`, `0-9` and `-`. Ids are cheap to clone (shared, reference-counted text), so a
//! compiled [`crate::Acl`] can hand them out in every verdict.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The longest suffix (after the `sg-`/`sgr-`/`pl-` prefix) an id may have.
pub const MAX_ID_SUFFIX: usize = 64;

/// Number of hex digits in an id AWS generates today (`sg-0123456789abcdef0`).
pub const GENERATED_HEX_DIGITS: usize = 17;

/// An id that does not have the form `PREFIX` + 1-64 of `a-z`, `0-9`, `-`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id {value:?}: expected {prefix} followed by 1-64 of a-z, 0-9 and -")]
pub struct IdError {
    /// What kind of id was expected ("security group", "security group rule", "prefix list").
    pub kind: &'static str,
    /// The prefix the id must start with (`sg-`, `sgr-`, `pl-`).
    pub prefix: &'static str,
    /// The rejected text.
    pub value: String,
}

fn check_id(value: &str, prefix: &'static str, kind: &'static str) -> Result<(), IdError> {
    let ok = value.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= MAX_ID_SUFFIX
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    if ok {
        Ok(())
    } else {
        Err(IdError {
            kind,
            prefix,
            value: value.to_owned(),
        })
    }
}

fn random_hex_suffix() -> String {
    let bits: u128 = rand::thread_rng().gen();
    let mask = (1u128 << (4 * GENERATED_HEX_DIGITS)) - 1;
    format!("{:0width$x}", bits & mask, width = GENERATED_HEX_DIGITS)
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Arc<str>);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// Parses and checks an id (`PREFIX` + 1-64 of `a-z`, `0-9`, `-`).
            ///
            /// # Errors
            /// [`IdError`] when the text does not have that form.
            pub fn new(value: &str) -> Result<Self, IdError> {
                check_id(value, $prefix, $kind)?;
                Ok(Self(Arc::from(value)))
            }

            /// A fresh random id as AWS makes them: the prefix and 17 lowercase hex digits
            /// (68 random bits, so collisions are not a practical concern).
            pub fn generate() -> Self {
                Self(Arc::from(format!("{}{}", $prefix, random_hex_suffix())))
            }

            /// The id as text, e.g. `sg-0123456789abcdef0`.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                check_id(&s, $prefix, $kind)?;
                Ok(Self(Arc::from(s)))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", &*self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A security group id (`sg-0123456789abcdef0`, `sg-01234567`, or operator-chosen `sg-db`),
    /// AWS's `GroupId`.
    GroupId,
    "sg-",
    "security group"
);

id_type!(
    /// A security group rule id (`sgr-0123456789abcdef0` or operator-chosen `sgr-app-to-db`),
    /// AWS's `SecurityGroupRuleId`. Ids order as text; that order decides which rule a
    /// verdict names when several rules give the same prefix (the lowest wins).
    RuleId,
    "sgr-",
    "security group rule"
);

id_type!(
    /// A managed prefix list id (`pl-0123456789abcdef0` or operator-chosen `pl-office`),
    /// AWS's `PrefixListId`.
    PrefixListId,
    "pl-",
    "prefix list"
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_aws_and_named_ids() {
        for ok in [
            "sg-01234567",
            "sg-0123456789abcdef0",
            "sg-db",
            "sg-app-tier-2",
        ] {
            assert!(GroupId::new(ok).is_ok(), "{ok}");
        }
        assert!(RuleId::new("sgr-0123456789abcdef0").is_ok());
        assert!(PrefixListId::new("pl-office").is_ok());
        let long = format!("sg-{}", "a".repeat(64));
        assert!(GroupId::new(&long).is_ok());
    }

    #[test]
    fn rejects_malformed_ids() {
        let long = format!("sg-{}", "a".repeat(65));
        for bad in [
            "", "sg-", "sg_db", "SG-db", "sg-DB", "sg-db.1", "sgr-1", "pl-x", &long,
        ] {
            let err = GroupId::new(bad).unwrap_err();
            assert_eq!(err.value, bad);
            assert!(err.to_string().contains("security group id"), "{err}");
        }
        assert!(RuleId::new("sg-1").is_err());
        assert!(PrefixListId::new("pl-").is_err());
    }

    #[test]
    fn generated_ids_look_like_aws() {
        let g = GroupId::generate();
        let r = RuleId::generate();
        assert_eq!(g.as_str().len(), 3 + 17);
        assert_eq!(r.as_str().len(), 4 + 17);
        assert!(r.as_str()[4..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(RuleId::generate(), RuleId::generate());
        assert!(GroupId::new(g.as_str()).is_ok());
    }

    #[test]
    fn serde_checks_ids() {
        let g: GroupId = serde_json::from_str("\"sg-db\"").unwrap();
        assert_eq!(serde_json::to_string(&g).unwrap(), "\"sg-db\"");
        assert!(serde_json::from_str::<GroupId>("\"db\"").is_err());
    }
}
