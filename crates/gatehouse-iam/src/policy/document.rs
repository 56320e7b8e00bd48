//! Compiled statements and whether one applies to a request.

use super::condition::Condition;
use super::wildcard::Pattern;
use super::RequestContext;
use std::borrow::Cow;
use std::fmt;

/// The policy language version (`Version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyVersion {
    /// `"2012-10-17"`: the current language, with policy variables.
    V2012_10_17,
    /// `"2008-10-17"`, also what a document without `Version` gets (as in IAM): `${…}` is
    /// plain text, not a policy variable.
    V2008_10_17,
}

impl PolicyVersion {
    /// The version as written in a document.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyVersion::V2012_10_17 => "2012-10-17",
            PolicyVersion::V2008_10_17 => "2008-10-17",
        }
    }
}

impl fmt::Display for PolicyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A statement's `Effect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// `"Allow"`.
    Allow,
    /// `"Deny"`.
    Deny,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        })
    }
}

/// `Action` (any pattern matches) or `NotAction` (no pattern matches).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActionMatch {
    pub(crate) not: bool,
    pub(crate) patterns: Box<[Pattern]>,
}

/// `Resource` or `NotResource`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceMatch {
    pub(crate) not: bool,
    pub(crate) patterns: Box<[Pattern]>,
}

/// One compiled statement of a [`super::PolicyDocument`].
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) action: ActionMatch,
    pub(crate) resource: ResourceMatch,
    pub(crate) conditions: Box<[Condition]>,
}

impl Statement {
    /// The statement's `Sid`, if it has one.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// Allow or Deny.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Whether the statement applies to the request: its Action/NotAction matches the
    /// action (case-insensitively), its Resource/NotResource matches the resource
    /// (case-sensitively), and every condition holds.
    pub fn applies_to(&self, ctx: &RequestContext) -> bool {
        self.applies(ctx, &lowercase_action(&ctx.action))
    }

    /// [`Statement::applies_to`] with the action already through [`lowercase_action`]
    /// (once per evaluation rather than once per statement).
    pub(crate) fn applies(&self, ctx: &RequestContext, action: &str) -> bool {
        self.action.matches(action, ctx) && self.resource.matches(ctx) && self.conditions_hold(ctx)
    }

    fn conditions_hold(&self, ctx: &RequestContext) -> bool {
        self.conditions.iter().all(|c| c.holds(ctx))
    }
}

/// The request's action in lower case, as the action patterns are stored; borrowed when
/// it already is (`rds-db:connect`).
pub(crate) fn lowercase_action(action: &str) -> Cow<'_, str> {
    if action.chars().any(char::is_uppercase) {
        Cow::Owned(action.to_lowercase())
    } else {
        Cow::Borrowed(action)
    }
}

impl ActionMatch {
    /// `action` is lower-cased, as the patterns are.
    fn matches(&self, action: &str, ctx: &RequestContext) -> bool {
        // Actions hold no variables, so a match is never unresolved.
        let any = self
            .patterns
            .iter()
            .any(|p| p.matches(action, ctx) == Some(true));
        any != self.not
    }
}

impl ResourceMatch {
    /// `Resource`: some pattern matches (one with an unresolved variable matches
    /// nothing). `NotResource`: no pattern matches and every pattern could be resolved —
    /// an unresolved variable never widens what a statement covers.
    fn matches(&self, ctx: &RequestContext) -> bool {
        let resource = ctx.resource.as_str();
        if self.not {
            self.patterns
                .iter()
                .all(|p| p.matches(resource, ctx) == Some(false))
        } else {
            self.patterns
                .iter()
                .any(|p| p.is_any() || p.matches(resource, ctx) == Some(true))
        }
    }
}
