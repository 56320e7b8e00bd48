//! Condition operators: their names, their compiled values, and IAM's rules for
//! evaluating one `"Operator": {"key": values}` pair against the request context.
//!
//! Rules mirrored (IAM User Guide, "Condition operators" and "Conditions with multiple
//! context keys or values"):
//! - several values for one key: OR; for a negated operator (`…Not…`, `NotIpAddress`)
//!   NOR — the request value must match none of them;
//! - a key absent from the request: false, except negated operators (true), `…IfExists`
//!   (true) and `Null` (which tests exactly that);
//! - `ForAllValues:` — every request value must satisfy the operator (true when the key
//!   is absent or has no values); `ForAnyValue:` — at least one must (false when absent);
//! - without a set operator, a key with several request values satisfies a positive
//!   operator when any of them matches, a negated one when none does.
//!
//! gatehouse's additions, all "fail closed": a request value that does not parse for
//! the operator (a non-IP for `IpAddress`) makes the condition false; a policy variable
//! without a value makes its policy value match nothing, and makes a negated operator
//! false.

use super::values::{self, Cidr, Instant};
use super::wildcard::Pattern;
use super::RequestContext;

/// How the request's values of a key are quantified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetOp {
    /// No set operator: any request value (see the module documentation).
    Plain,
    /// `ForAnyValue:`.
    AnyValue,
    /// `ForAllValues:`.
    AllValues,
}

/// An ordering comparison of the Numeric and Date operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// The family of an operator, which decides how its values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// StringEquals, StringNotEquals: exact, case-sensitive, variables.
    StringEquals,
    /// StringEqualsIgnoreCase, StringNotEqualsIgnoreCase.
    StringEqualsIgnoreCase,
    /// StringLike, StringNotLike: `*` and `?`, case-sensitive, variables.
    StringLike,
    /// ArnEquals, ArnLike, ArnNotEquals, ArnNotLike: the six colon-separated components
    /// matched one by one, each with `*` and `?`.
    Arn,
    /// IpAddress, NotIpAddress.
    Ip,
    /// Numeric*.
    Numeric(Cmp),
    /// Date*.
    Date(Cmp),
    /// Bool.
    Bool,
    /// BinaryEquals.
    Binary,
    /// Null.
    Null,
}

/// A parsed operator name: `[ForAnyValue:|ForAllValues:]Base[IfExists]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Operator {
    pub(crate) family: Family,
    pub(crate) negated: bool,
    pub(crate) set: SetOp,
    pub(crate) if_exists: bool,
}

impl Operator {
    /// Reads an operator name (case-sensitive, as IAM spells them).
    ///
    /// # Errors
    /// A message naming the operator when it is unknown, or `Null` with `IfExists` or a
    /// set operator.
    pub(crate) fn parse(name: &str) -> Result<Operator, String> {
        let (set, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (SetOp::AnyValue, rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (SetOp::AllValues, rest)
        } else {
            (SetOp::Plain, name)
        };
        let (if_exists, base) = match rest.strip_suffix("IfExists") {
            Some(base) => (true, base),
            None => (false, rest),
        };
        use Family::*;
        let (family, negated) = match base {
            "StringEquals" => (StringEquals, false),
            "StringNotEquals" => (StringEquals, true),
            "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
            "StringLike" => (StringLike, false),
            "StringNotLike" => (StringLike, true),
            "ArnEquals" | "ArnLike" => (Arn, false),
            "ArnNotEquals" | "ArnNotLike" => (Arn, true),
            "IpAddress" => (Ip, false),
            "NotIpAddress" => (Ip, true),
            "NumericEquals" => (Numeric(Cmp::Eq), false),
            "NumericNotEquals" => (Numeric(Cmp::Eq), true),
            "NumericLessThan" => (Numeric(Cmp::Lt), false),
            "NumericLessThanEquals" => (Numeric(Cmp::Le), false),
            "NumericGreaterThan" => (Numeric(Cmp::Gt), false),
            "NumericGreaterThanEquals" => (Numeric(Cmp::Ge), false),
            "DateEquals" => (Date(Cmp::Eq), false),
            "DateNotEquals" => (Date(Cmp::Eq), true),
            "DateLessThan" => (Date(Cmp::Lt), false),
            "DateLessThanEquals" => (Date(Cmp::Le), false),
            "DateGreaterThan" => (Date(Cmp::Gt), false),
            "DateGreaterThanEquals" => (Date(Cmp::Ge), false),
            "Bool" => (Bool, false),
            "BinaryEquals" => (Binary, false),
            "Null" if !if_exists && set == SetOp::Plain => (Null, false),
            "Null" => {
                return Err(format!(
                    "condition operator \"{name}\": Null takes neither IfExists nor ForAnyValue:/ForAllValues:"
                ))
            }
            _ => return Err(format!("unknown condition operator \"{name}\"")),
        };
        Ok(Operator {
            family,
            negated,
            set,
            if_exists,
        })
    }
}

/// The policy's values of one condition, compiled for the operator's family.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    /// String families: one pattern per value.
    Strings(Box<[Pattern]>),
    /// ARN family: six component patterns per value.
    Arns(Box<[[Pattern; 6]]>),
    Cidrs(Box<[Cidr]>),
    Numbers(Box<[f64]>),
    Dates(Box<[Instant]>),
    Bools(Box<[bool]>),
    Binaries(Box<[Box<[u8]>]>),
    /// Null: `true` = the key must be absent, `false` = present.
    Nulls(Box<[bool]>),
}

/// One compiled `"Operator": {"key": values}` pair.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    pub(crate) operator: Operator,
    /// The context key, lower-cased.
    pub(crate) key: Box<str>,
    pub(crate) values: Values,
}

/// How one request value compares with the policy's values.
#[derive(Clone, Copy)]
struct ValueMatch {
    /// It matches at least one policy value.
    matched: bool,
    /// Some policy value could not be compared (a variable without a value).
    unresolved: bool,
}

impl Condition {
    /// Whether the condition holds for the request.
    pub(crate) fn holds(&self, ctx: &RequestContext) -> bool {
        let request = ctx.values_lowercase(&self.key).filter(|v| !v.is_empty());
        if let Values::Nulls(wanted) = &self.values {
            let absent = request.is_none();
            return wanted.contains(&absent);
        }
        let op = self.operator;
        let Some(request) = request else {
            return op.if_exists
                || match op.set {
                    SetOp::AllValues => true,
                    SetOp::AnyValue => false,
                    SetOp::Plain => op.negated,
                };
        };
        // Whether one request value satisfies the operator; None = unusable value.
        let satisfies = |value: &str| -> Option<bool> {
            let m = self.compare(value, ctx)?;
            Some(if op.negated {
                !m.matched && !m.unresolved
            } else {
                m.matched
            })
        };
        match op.set {
            SetOp::Plain => {
                let mut matched = false;
                let mut unresolved = false;
                for value in request {
                    let Some(m) = self.compare(value, ctx) else {
                        return false;
                    };
                    matched |= m.matched;
                    unresolved |= m.unresolved;
                }
                if op.negated {
                    !matched && !unresolved
                } else {
                    matched
                }
            }
            SetOp::AnyValue => {
                let mut any = false;
                for value in request {
                    match satisfies(value) {
                        None => return false,
                        Some(s) => any |= s,
                    }
                }
                any
            }
            SetOp::AllValues => request.iter().all(|value| satisfies(value) == Some(true)),
        }
    }

    /// Compares one request value with every policy value; `None` when the request value
    /// does not parse for the operator.
    fn compare(&self, value: &str, ctx: &RequestContext) -> Option<ValueMatch> {
        let mut m = ValueMatch {
            matched: false,
            unresolved: false,
        };
        let mut record = |outcome: Option<bool>| match outcome {
            Some(hit) => m.matched |= hit,
            None => m.unresolved = true,
        };
        match &self.values {
            Values::Strings(patterns) => {
                for p in patterns.iter() {
                    record(p.matches(value, ctx));
                }
            }
            Values::Arns(arns) => {
                let parts = split_arn(value)?;
                for arn in arns.iter() {
                    record(arn_matches(arn, &parts, ctx));
                }
            }
            Values::Cidrs(cidrs) => {
                let ip = values::parse_ip(value)?;
                m.matched = cidrs.iter().any(|c| c.contains(ip));
            }
            Values::Numbers(numbers) => {
                let Family::Numeric(cmp) = self.operator.family else {
                    return None;
                };
                let n = values::parse_number(value)?;
                m.matched = numbers.iter().any(|&p| cmp.holds(n, p));
            }
            Values::Dates(dates) => {
                let Family::Date(cmp) = self.operator.family else {
                    return None;
                };
                let d = values::parse_date(value)?;
                m.matched = dates.iter().any(|&p| cmp.holds(d, p));
            }
            Values::Bools(bools) => {
                let b = values::parse_bool(value)?;
                m.matched = bools.contains(&b);
            }
            Values::Binaries(binaries) => {
                let bytes = values::decode_base64(value)?;
                m.matched = binaries.iter().any(|p| **p == *bytes);
            }
            Values::Nulls(_) => return None,
        }
        Some(m)
    }
}

/// An ARN's six components (`arn`, partition, service, region, account, resource — the
/// last may hold further colons), or `None` when it has fewer.
pub(crate) fn split_arn(text: &str) -> Option<[&str; 6]> {
    let mut parts = [""; 6];
    let mut rest = text;
    for slot in parts.iter_mut().take(5) {
        let (head, tail) = rest.split_once(':')?;
        *slot = head;
        rest = tail;
    }
    parts[5] = rest;
    Some(parts)
}

fn arn_matches(arn: &[Pattern; 6], parts: &[&str; 6], ctx: &RequestContext) -> Option<bool> {
    let mut all = true;
    for (pattern, part) in arn.iter().zip(parts) {
        // Keep going after a mismatch only to report an unresolved variable.
        all &= pattern.matches(part, ctx)?;
    }
    Some(all)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn operator_names() {
        let op = Operator::parse("ForAllValues:StringNotLikeIfExists").unwrap();
        assert_eq!(op.family, Family::StringLike);
        assert!(op.negated && op.if_exists);
        assert_eq!(op.set, SetOp::AllValues);
        assert_eq!(Operator::parse("Null").unwrap().family, Family::Null);
        for bad in [
            "NullIfExists",
            "ForAnyValue:Null",
            "stringequals",
            "StringEqual",
            "IfExists",
            "ForAnyValue:",
            "BinaryNotEquals",
            "BoolNot",
        ] {
            assert!(Operator::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arns_split_in_six() {
        assert_eq!(
            split_arn("arn:aws:rds-db:us-east-1:123:dbuser:db-X/u"),
            Some(["arn", "aws", "rds-db", "us-east-1", "123", "dbuser:db-X/u"])
        );
        assert_eq!(
            split_arn("arn:aws:s3:::b"),
            Some(["arn", "aws", "s3", "", "", "b"])
        );
        assert_eq!(split_arn("arn:aws:s3::"), None);
    }
}
