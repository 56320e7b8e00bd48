//! [`TrustPolicy`]: a role's trust policy (`AssumeRolePolicyDocument`), stored and shown
//! but not evaluated yet.
//!
//! A trust policy is a resource-based policy: its statements name a `Principal`, which the
//! identity-policy parser ([`crate::policy::PolicyDocument::parse`]) rightly refuses. So it
//! is checked here for its own shape — a JSON object with a known `Version` (if any) and a
//! `Statement` whose entries each have an `Effect` of `Allow` or `Deny`, a `Principal` or
//! `NotPrincipal`, and an `Action` or `NotAction` — with the JSON path of the first problem,
//! as the policy parser reports them.

use serde_json::Value;

use crate::policy::PolicyError;

/// A role's trust policy document, as given (checked for shape, not evaluated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicy {
    source: String,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        path: path.into(),
        message: message.into(),
    }
}

fn check_statement(path: &str, statement: &Value) -> Result<(), PolicyError> {
    let Value::Object(s) = statement else {
        return Err(err(path, "a statement must be a JSON object"));
    };
    match s.get("Effect") {
        Some(Value::String(e)) if e == "Allow" || e == "Deny" => {}
        Some(other) => {
            return Err(err(
                format!("{path}.Effect"),
                format!("expected \"Allow\" or \"Deny\", found {other}"),
            ))
        }
        None => return Err(err(path, "Effect is required")),
    }
    if !s.contains_key("Principal") && !s.contains_key("NotPrincipal") {
        return Err(err(
            path,
            "a trust policy statement names a Principal (or NotPrincipal)",
        ));
    }
    if !s.contains_key("Action") && !s.contains_key("NotAction") {
        return Err(err(path, "Action (or NotAction) is required"));
    }
    Ok(())
}

impl TrustPolicy {
    /// Checks the shape of a trust policy.
    ///
    /// # Errors
    /// [`PolicyError`] with the JSON path of the first problem (`$` when the text is not
    /// JSON).
    pub fn parse(json: &str) -> Result<TrustPolicy, PolicyError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| err("$", format!("not valid JSON: {e}")))?;
        let Value::Object(doc) = &value else {
            return Err(err("$", "a policy document must be a JSON object"));
        };
        match doc.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(other) => {
                return Err(err(
                    "$.Version",
                    format!("expected \"2012-10-17\" or \"2008-10-17\", found {other}"),
                ))
            }
        }
        match doc.get("Statement") {
            None => return Err(err("$", "Statement is required")),
            Some(Value::Array(list)) => {
                for (i, s) in list.iter().enumerate() {
                    check_statement(&format!("$.Statement[{i}]"), s)?;
                }
            }
            Some(one) => check_statement("$.Statement", one)?,
        }
        Ok(TrustPolicy {
            source: json.to_owned(),
        })
    }

    /// The document's text as given.
    pub fn source(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert_eq!(TrustPolicy::parse(ok).expect("ok").source(), ok);
        TrustPolicy::parse(
            r#"{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"*"},"NotAction":"x"}}"#,
        )
        .expect("single statement object");
        for (bad, path) in [
            ("{", "$"),
            ("[]", "$"),
            (r#"{"Version":"2020-01-01","Statement":[]}"#, "$.Version"),
            (r#"{"Version":"2012-10-17"}"#, "$"),
            (r#"{"Statement":[1]}"#, "$.Statement[0]"),
            (
                r#"{"Statement":[{"Effect":"allow","Principal":"*","Action":"a"}]}"#,
                "$.Statement[0].Effect",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"a"},{"Effect":"Allow","Action":"a"}]}"#,
                "$.Statement[1]",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*"}]}"#,
                "$.Statement[0]",
            ),
        ] {
            let e = TrustPolicy::parse(bad).expect_err(bad);
            assert_eq!(e.path, path, "{bad}: {e}");
        }
    }
}
