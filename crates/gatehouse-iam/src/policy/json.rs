//! JSON as written: objects keep their members in order, duplicates included, so the
//! walker in `parse.rs` can refuse a duplicate key with its path (`serde_json::Value`
//! would silently keep the last one). serde_json does the lexing, including its
//! nesting limit, so deep input is an error rather than a stack overflow.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// One JSON value. Numbers keep the text serde_json gives them back (`1`, `1.5`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members in document order; a repeated key appears twice.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// What kind of value this is, for error messages (`expected a string, found a number`).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// The text of a scalar (string, number, boolean) as a condition value, `None` for
    /// null, arrays and objects.
    pub(crate) fn scalar_text(&self) -> Option<&str> {
        match self {
            Json::String(s) | Json::Number(s) => Some(s),
            Json::Bool(true) => Some("true"),
            Json::Bool(false) => Some("false"),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Json>()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Json>()?;
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

/// Parses JSON text, keeping duplicate keys.
pub(crate) fn from_str(text: &str) -> Result<Json, serde_json::Error> {
    serde_json::from_str(text)
}

/// The number of characters IAM counts against its size limits: everything except JSON
/// whitespace outside string literals.
pub(crate) fn counted_chars(text: &str) -> usize {
    let mut count = 0;
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            count += 1;
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            count += 1;
            in_string = c == '"';
        }
    }
    count
}

/// `parent.key`, or `parent["key"]` (JSON-quoted) when the key holds characters that
/// would make the dotted form ambiguous.
pub(crate) fn key_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '/' | '-' | '@' | '+'));
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{}]", quote(key))
    }
}

/// `parent[index]`.
pub(crate) fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// A string as a JSON string literal, for paths and messages.
pub(crate) fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keeps_duplicates_in_order() {
        let json = from_str(r#"{"a":1,"b":[true,null],"a":"x"}"#).unwrap();
        let Json::Object(members) = json else {
            panic!("not an object")
        };
        let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "a"]);
        assert_eq!(members[0].1, Json::Number("1".into()));
        assert_eq!(
            members[1].1,
            Json::Array(vec![Json::Bool(true), Json::Null])
        );
    }

    #[test]
    fn counts_without_whitespace_outside_strings() {
        assert_eq!(counted_chars("{ \"a b\" :\n 1 }"), 9);
        assert_eq!(counted_chars(r#"{"a\" b":1}"#), 11);
    }

    #[test]
    fn paths() {
        assert_eq!(key_path("$", "aws:SourceIp"), "$.aws:SourceIp");
        assert_eq!(key_path("$", "a.b"), "$[\"a.b\"]");
        assert_eq!(key_path("$", ""), "$[\"\"]");
        assert_eq!(index_path("$.Statement", 2), "$.Statement[2]");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(from_str(&deep).is_err());
    }
}
