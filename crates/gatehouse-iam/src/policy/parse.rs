//! From JSON text to compiled statements, refusing what IAM refuses in an identity-based
//! policy, each error with the JSON path of the offending value.

use super::condition::{Condition, Family, Operator, Values};
use super::document::{ActionMatch, Effect, PolicyVersion, ResourceMatch, Statement};
use super::json::{self, index_path, key_path, quote, Json};
use super::values;
use super::variables::{tokenize, Syntax, Token};
use super::wildcard::{Case, Pattern};
use super::{PolicyError, MAX_DOCUMENT_BYTES, MAX_DOCUMENT_CHARS};

/// A document's content once validated.
pub(crate) struct Parsed {
    pub(crate) version: PolicyVersion,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        path: path.into(),
        message: message.into(),
    }
}

/// Parses and validates a whole document.
pub(crate) fn document(text: &str) -> Result<Parsed, PolicyError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(err(
            "$",
            format!(
                "the document is {} bytes long; the limit is {MAX_DOCUMENT_BYTES} (whitespace included)",
                text.len()
            ),
        ));
    }
    let size = json::counted_chars(text);
    if size > MAX_DOCUMENT_CHARS {
        return Err(err(
            "$",
            format!(
                "the document has {size} characters not counting whitespace; the limit is {MAX_DOCUMENT_CHARS}"
            ),
        ));
    }
    let root = json::from_str(text).map_err(|e| err("$", format!("not valid JSON: {e}")))?;
    let members = object(&root, "$")?;
    let version = match members.iter().find(|(k, _)| k == "Version") {
        None => PolicyVersion::V2008_10_17,
        Some((_, value)) => match string(value, "$.Version")? {
            "2012-10-17" => PolicyVersion::V2012_10_17,
            "2008-10-17" => PolicyVersion::V2008_10_17,
            other => {
                return Err(err(
                    "$.Version",
                    format!(
                        "expected \"2012-10-17\" or \"2008-10-17\", found {}",
                        quote(other)
                    ),
                ))
            }
        },
    };
    let mut id = None;
    let mut statements = None;
    for (key, value) in members {
        let path = key_path("$", key);
        match key.as_str() {
            "Version" => {}
            "Id" => id = Some(string(value, &path)?.to_owned()),
            "Statement" => statements = Some(statement_list(value, &path, version)?),
            other => {
                return Err(err(
                    path,
                    format!(
                        "unknown element {} (a policy has Version, Id and Statement)",
                        quote(other)
                    ),
                ))
            }
        }
    }
    let statements = statements.ok_or_else(|| err("$", "missing \"Statement\""))?;
    Ok(Parsed {
        version,
        id,
        statements,
    })
}

/// An object's members, refusing a repeated key (at the repeat's path).
fn object<'a>(value: &'a Json, path: &str) -> Result<&'a [(String, Json)], PolicyError> {
    let Json::Object(members) = value else {
        return Err(err(
            path,
            format!("expected an object, found {}", value.kind()),
        ));
    };
    for (i, (key, _)) in members.iter().enumerate() {
        if members[..i].iter().any(|(earlier, _)| earlier == key) {
            return Err(err(
                key_path(path, key),
                format!("duplicate key {}", quote(key)),
            ));
        }
    }
    Ok(members)
}

fn string<'a>(value: &'a Json, path: &str) -> Result<&'a str, PolicyError> {
    match value {
        Json::String(s) => Ok(s),
        other => Err(err(
            path,
            format!("expected a string, found {}", other.kind()),
        )),
    }
}

/// A string, or a non-empty array of strings: each with its path.
fn strings<'a>(value: &'a Json, path: &str) -> Result<Vec<(String, &'a str)>, PolicyError> {
    match value {
        Json::String(s) => Ok(vec![(path.to_owned(), s.as_str())]),
        Json::Array(items) if items.is_empty() => Err(err(path, "expected at least one value")),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let item_path = index_path(path, i);
                let s = string(item, &item_path)?;
                Ok((item_path, s))
            })
            .collect(),
        other => Err(err(
            path,
            format!(
                "expected a string or an array of strings, found {}",
                other.kind()
            ),
        )),
    }
}

fn statement_list(
    value: &Json,
    path: &str,
    version: PolicyVersion,
) -> Result<Vec<Statement>, PolicyError> {
    let items: Vec<(String, &Json)> = match value {
        Json::Object(_) => vec![(path.to_owned(), value)],
        Json::Array(items) if items.is_empty() => {
            return Err(err(path, "expected at least one statement"))
        }
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (index_path(path, i), item))
            .collect(),
        other => {
            return Err(err(
                path,
                format!(
                    "expected a statement object or an array of them, found {}",
                    other.kind()
                ),
            ))
        }
    };
    let mut statements: Vec<Statement> = Vec::with_capacity(items.len());
    for (index, (item_path, item)) in items.into_iter().enumerate() {
        let statement = statement(item, &item_path, version)?;
        if let Some(sid) = &statement.sid {
            if let Some(first) = statements.iter().position(|s| s.sid.as_ref() == Some(sid)) {
                return Err(err(
                    key_path(&item_path, "Sid"),
                    format!(
                        "duplicate Sid {} (statement {first} has it too; statement {index} repeats it)",
                        quote(sid)
                    ),
                ));
            }
        }
        statements.push(statement);
    }
    Ok(statements)
}

const STATEMENT_ELEMENTS: &str = "Sid, Effect, Action, NotAction, Resource, NotResource, Condition";

fn statement(value: &Json, path: &str, version: PolicyVersion) -> Result<Statement, PolicyError> {
    let members = object(value, path)?;
    let mut sid = None;
    let mut effect = None;
    let mut action: Option<ActionMatch> = None;
    let mut resource: Option<ResourceMatch> = None;
    let mut conditions = Vec::new();
    for (key, value) in members {
        let path = key_path(path, key);
        match key.as_str() {
            "Sid" => sid = Some(sid_value(value, &path)?),
            "Effect" => {
                effect = Some(match string(value, &path)? {
                    "Allow" => Effect::Allow,
                    "Deny" => Effect::Deny,
                    other => {
                        return Err(err(
                            path,
                            format!("expected \"Allow\" or \"Deny\", found {}", quote(other)),
                        ))
                    }
                })
            }
            "Action" | "NotAction" => {
                if action.is_some() {
                    return Err(err(path, "a statement has Action or NotAction, not both"));
                }
                action = Some(ActionMatch {
                    not: key == "NotAction",
                    patterns: actions(value, &path)?,
                });
            }
            "Resource" | "NotResource" => {
                if resource.is_some() {
                    return Err(err(
                        path,
                        "a statement has Resource or NotResource, not both",
                    ));
                }
                resource = Some(ResourceMatch {
                    not: key == "NotResource",
                    patterns: resources(value, &path, version)?,
                });
            }
            "Condition" => conditions = condition_block(value, &path, version)?,
            "Principal" | "NotPrincipal" => {
                return Err(err(
                    path,
                    format!("{key} is not allowed in an identity-based policy"),
                ))
            }
            other => {
                return Err(err(
                    path,
                    format!(
                        "unknown element {} (a statement has {STATEMENT_ELEMENTS})",
                        quote(other)
                    ),
                ))
            }
        }
    }
    let effect = effect.ok_or_else(|| err(path, "missing \"Effect\""))?;
    let action = action.ok_or_else(|| err(path, "missing \"Action\" or \"NotAction\""))?;
    let resource = resource.ok_or_else(|| err(path, "missing \"Resource\" or \"NotResource\""))?;
    Ok(Statement {
        sid,
        effect,
        action,
        resource,
        conditions: conditions.into_boxed_slice(),
    })
}

/// IAM's Sid alphabet for identity policies: ASCII letters and digits.
fn sid_value(value: &Json, path: &str) -> Result<String, PolicyError> {
    let sid = string(value, path)?;
    if sid.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(sid.to_owned())
    } else {
        Err(err(
            path,
            format!(
                "{} is not a valid Sid (ASCII letters and digits only)",
                quote(sid)
            ),
        ))
    }
}

const WILDCARDS_ONLY: Syntax = Syntax {
    wildcards: true,
    variables: false,
};

fn actions(value: &Json, path: &str) -> Result<Box<[Pattern]>, PolicyError> {
    strings(value, path)?
        .into_iter()
        .map(|(path, text)| {
            let well_formed = text == "*"
                || text.split_once(':').is_some_and(|(service, name)| {
                    !service.is_empty()
                        && !name.is_empty()
                        && !name.contains(':')
                        && !text.chars().any(char::is_whitespace)
                });
            if !well_formed {
                return Err(err(
                    path,
                    format!(
                        "expected \"*\" or \"service:action\", found {}",
                        quote(text)
                    ),
                ));
            }
            // Matched in lower case against the request's lower-cased action (see
            // `document::lowercase_action`): case-insensitive, at memcmp speed.
            let tokens =
                tokenize(&text.to_lowercase(), WILDCARDS_ONLY).map_err(|m| err(&path, m))?;
            Ok(Pattern::new(tokens, Case::Sensitive))
        })
        .collect()
}

fn syntax(wildcards: bool, version: PolicyVersion) -> Syntax {
    Syntax {
        wildcards,
        variables: version == PolicyVersion::V2012_10_17,
    }
}

fn resources(
    value: &Json,
    path: &str,
    version: PolicyVersion,
) -> Result<Box<[Pattern]>, PolicyError> {
    strings(value, path)?
        .into_iter()
        .map(|(path, text)| {
            let tokens = tokenize(text, syntax(true, version)).map_err(|m| err(&path, m))?;
            // `arn:`, a partition and a service, as literal text; a `*` may stand for
            // the rest (`arn:aws:rds-db:us-east-1:*`).
            let is_arn = match tokens.first() {
                Some(Token::Lit(head)) => {
                    head.strip_prefix("arn:")
                        .and_then(|rest| rest.split_once(':'))
                        .is_some_and(|(partition, _)| !partition.is_empty())
                        && head
                            .split(':')
                            .nth(2)
                            .is_some_and(|service| !service.is_empty())
                }
                _ => false,
            };
            if text != "*" && !is_arn {
                return Err(err(
                    path,
                    format!(
                        "expected \"*\" or an ARN (arn:partition:service:…), found {}",
                        quote(text)
                    ),
                ));
            }
            Ok(Pattern::new(tokens, Case::Sensitive))
        })
        .collect()
}

/// Splits tokens at the first five `:` of their literal text into an ARN's six
/// components; `None` when there are fewer.
fn split_arn_tokens(tokens: &[Token]) -> Option<[Vec<Token>; 6]> {
    let mut parts: [Vec<Token>; 6] = Default::default();
    let mut current = 0;
    for token in tokens {
        match token {
            Token::Lit(text) => {
                let mut rest = text.as_str();
                while current < 5 {
                    let Some((head, tail)) = rest.split_once(':') else {
                        break;
                    };
                    if !head.is_empty() {
                        parts[current].push(Token::Lit(head.to_owned()));
                    }
                    current += 1;
                    rest = tail;
                }
                if !rest.is_empty() {
                    parts[current].push(Token::Lit(rest.to_owned()));
                }
            }
            other => parts[current].push(other.clone()),
        }
    }
    (current == 5).then_some(parts)
}

fn condition_block(
    value: &Json,
    path: &str,
    version: PolicyVersion,
) -> Result<Vec<Condition>, PolicyError> {
    let mut conditions = Vec::new();
    for (name, block) in object(value, path)? {
        let op_path = key_path(path, name);
        let operator = Operator::parse(name).map_err(|m| err(&op_path, m))?;
        let keys = object(block, &op_path)?;
        if keys.is_empty() {
            return Err(err(op_path, "expected at least one condition key"));
        }
        for (key, values) in keys {
            let key_path = key_path(&op_path, key);
            if key.is_empty() {
                return Err(err(key_path, "a condition key cannot be empty"));
            }
            let values = condition_values(values, &key_path, operator.family, version)?;
            conditions.push(Condition {
                operator,
                key: key.to_ascii_lowercase().into(),
                values,
            });
        }
    }
    Ok(conditions)
}

/// A condition's values: a scalar (string, number, boolean) or a non-empty array of
/// them, each with its path and text.
fn scalars<'a>(value: &'a Json, path: &str) -> Result<Vec<(String, &'a str)>, PolicyError> {
    let one = |value: &'a Json, path: String| match value.scalar_text() {
        Some(text) => Ok((path, text)),
        None => Err(err(
            path,
            format!(
                "expected a string, number or boolean, found {}",
                value.kind()
            ),
        )),
    };
    match value {
        Json::Array(items) if items.is_empty() => Err(err(path, "expected at least one value")),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| one(item, index_path(path, i)))
            .collect(),
        other => Ok(vec![one(other, path.to_owned())?]),
    }
}

fn condition_values(
    value: &Json,
    path: &str,
    family: Family,
    version: PolicyVersion,
) -> Result<Values, PolicyError> {
    let items = scalars(value, path)?;
    fn typed<T>(
        items: &[(String, &str)],
        parse: impl Fn(&str) -> Option<T>,
        what: &str,
    ) -> Result<Box<[T]>, PolicyError> {
        items
            .iter()
            .map(|(path, text)| {
                parse(text).ok_or_else(|| err(path, format!("{} is not {what}", quote(text))))
            })
            .collect()
    }
    let strings = |wildcards: bool, case: Case| -> Result<Values, PolicyError> {
        items
            .iter()
            .map(|(path, text)| {
                let tokens =
                    tokenize(text, syntax(wildcards, version)).map_err(|m| err(path, m))?;
                Ok(Pattern::new(tokens, case))
            })
            .collect::<Result<_, _>>()
            .map(Values::Strings)
    };
    Ok(match family {
        Family::StringEquals => strings(false, Case::Sensitive)?,
        Family::StringEqualsIgnoreCase => strings(false, Case::Insensitive)?,
        Family::StringLike => strings(true, Case::Sensitive)?,
        Family::Arn => Values::Arns(
            items
                .iter()
                .map(|(path, text)| {
                    let tokens = tokenize(text, syntax(true, version)).map_err(|m| err(path, m))?;
                    let parts = split_arn_tokens(&tokens).ok_or_else(|| {
                        err(
                            path,
                            format!(
                                "{} is not an ARN (arn:partition:service:region:account:resource)",
                                quote(text)
                            ),
                        )
                    })?;
                    Ok(parts.map(|tokens| Pattern::new(tokens, Case::Sensitive)))
                })
                .collect::<Result<_, PolicyError>>()?,
        ),
        Family::Ip => Values::Cidrs(typed(&items, values::parse_cidr, "a CIDR")?),
        Family::Numeric(_) => Values::Numbers(typed(&items, values::parse_number, "a number")?),
        Family::Date(_) => Values::Dates(typed(
            &items,
            values::parse_date,
            "a date (ISO 8601 or epoch seconds)",
        )?),
        Family::Bool => Values::Bools(typed(
            &items,
            values::parse_bool,
            "a boolean (\"true\" or \"false\")",
        )?),
        Family::Binary => Values::Binaries(typed(
            &items,
            |t| values::decode_base64(t).map(Vec::into_boxed_slice),
            "base64",
        )?),
        Family::Null => Values::Nulls(typed(
            &items,
            values::parse_bool,
            "a boolean (\"true\" or \"false\")",
        )?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Token {
        Token::Lit(s.into())
    }

    #[test]
    fn arn_tokens_split_at_five_colons() {
        let tokens = vec![
            lit("arn:aws:rds-db:"),
            Token::AnyMany,
            lit(":123:dbuser:db-1/"),
            Token::AnyOne,
        ];
        let parts = split_arn_tokens(&tokens);
        assert_eq!(
            parts,
            Some([
                vec![lit("arn")],
                vec![lit("aws")],
                vec![lit("rds-db")],
                vec![Token::AnyMany],
                vec![lit("123")],
                vec![lit("dbuser:db-1/"), Token::AnyOne],
            ])
        );
        assert_eq!(split_arn_tokens(&[lit("arn:aws:s3::")]), None);
        assert_eq!(split_arn_tokens(&[Token::AnyMany]), None);
    }
}
