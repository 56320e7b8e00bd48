//! Helpers shared by the IAM store tests.
#![allow(dead_code)]

use gatehouse_state::{ChangeAction, IamStore, StateError, StateStore};

pub const ACCOUNT: &str = "123456789012";
pub const ALLOW: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Connect","Effect":"Allow","Action":"rds-db:connect","Resource":"*"}]}"#;

pub fn store() -> StateStore {
    StateStore::open_in_memory().expect("in-memory store")
}

pub fn iam(s: &StateStore) -> IamStore<'_> {
    s.iam(ACCOUNT).expect("account")
}

pub fn code(e: &StateError) -> &'static str {
    e.code().unwrap_or("none")
}

pub fn actions(s: &StateStore, since: i64) -> Vec<ChangeAction> {
    s.changes_since(since)
        .expect("changes")
        .into_iter()
        .map(|c| c.action)
        .collect()
}
