//! `gatehouse token generate`: an RDS IAM auth token, the same bytes as
//! `aws rds generate-db-auth-token` makes (docs/iam-tokens.md).
//!
//! Credentials are found as the AWS CLI finds them: with `--profile`, that
//! profile only; otherwise `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
//! `AWS_SESSION_TOKEN`, then the profile named by `AWS_PROFILE` (or `default`).
//! A profile is read from the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`,
//! default `~/.aws/credentials`, sections `[name]`), then from the config file
//! (`AWS_CONFIG_FILE`, default `~/.aws/config`, sections `[profile name]` and
//! `[default]`). The region: `--region`, else `AWS_REGION`, `AWS_DEFAULT_REGION`,
//! else the profile's `region` in the config file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use gatehouse_iam::token::{generate, Credentials};

use crate::output::say;

/// `gatehouse token …`.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Make an RDS IAM auth token (as `aws rds generate-db-auth-token`), valid 15 minutes.
    Generate(GenerateArgs),
    /// What the gateway would decide for a token: each check, then the policies (exit 0
    /// allowed, 1 refused).
    Verify(crate::token_verify::VerifyArgs),
}

/// Arguments of `token generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The endpoint's host name (the gateway's endpoint name, as clients connect to it).
    #[arg(long)]
    hostname: String,
    /// The endpoint's port.
    #[arg(long)]
    port: u16,
    /// The region to sign for (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region).
    #[arg(long)]
    region: Option<String>,
    /// The database user to log in as.
    #[arg(long)]
    username: String,
    /// The credentials profile (default: AWS_PROFILE, else `default`).
    #[arg(long)]
    profile: Option<String>,
}

/// Runs a `token` subcommand; returns the exit code.
pub fn run(cmd: TokenCommand, out: &mut String) -> Result<u8> {
    match cmd {
        TokenCommand::Generate(a) => generate_cmd(&a, &Env::from_process(), out),
        TokenCommand::Verify(a) => crate::token_verify::verify_cmd(&a, out),
    }
}

fn generate_cmd(a: &GenerateArgs, env: &Env, out: &mut String) -> Result<u8> {
    let found = find_credentials(env, a.profile.as_deref())?;
    let region = match &a.region {
        Some(r) => r.clone(),
        None => find_region(env, &found)?,
    };
    if region.is_empty() {
        bail!("the region is empty: pass --region");
    }
    let token = generate(
        &found.credentials,
        &a.hostname,
        a.port,
        &region,
        &a.username,
        SystemTime::now(),
    );
    say!(out, "{token}");
    Ok(0)
}

/// The environment variables and home directory the lookup reads (a seam for tests).
#[derive(Debug, Default)]
struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    fn from_process() -> Env {
        Env {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// A variable, unless unset or empty (as botocore treats empty ones).
    fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `~/…` expanded with HOME.
    fn path(&self, var: &str, default: &str) -> Option<PathBuf> {
        let raw = self.get(var).unwrap_or(default);
        match raw.strip_prefix("~/") {
            Some(rest) => self.get("HOME").map(|h| Path::new(h).join(rest)),
            None => Some(PathBuf::from(raw)),
        }
    }
}

/// Credentials and where they came from (the profile, for its region).
#[derive(Debug)]
struct Found {
    credentials: Credentials,
    profile: String,
}

fn find_credentials(env: &Env, flag_profile: Option<&str>) -> Result<Found> {
    if flag_profile.is_none() {
        let id = env.get("AWS_ACCESS_KEY_ID");
        let secret = env.get("AWS_SECRET_ACCESS_KEY");
        match (id, secret) {
            (Some(id), Some(secret)) => {
                return Ok(Found {
                    credentials: Credentials {
                        access_key_id: id.to_owned(),
                        secret_access_key: secret.to_owned(),
                        session_token: env.get("AWS_SESSION_TOKEN").map(str::to_owned),
                    },
                    profile: env.get("AWS_PROFILE").unwrap_or("default").to_owned(),
                })
            }
            (Some(_), None) => {
                bail!("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
            }
            (None, Some(_)) => {
                bail!("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
            }
            (None, None) => {}
        }
    }
    let explicit = flag_profile.or_else(|| env.get("AWS_PROFILE"));
    let profile = explicit.unwrap_or("default");
    let files = [
        (
            env.path("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
            false,
        ),
        (env.path("AWS_CONFIG_FILE", "~/.aws/config"), true),
    ];
    let mut looked = Vec::new();
    let mut seen_profile = false;
    for (path, is_config) in files {
        let Some(path) = path else { continue };
        looked.push(path.display().to_string());
        let Some(section) = read_profile(&path, profile, is_config)? else {
            continue;
        };
        seen_profile = true;
        let id = section.get("aws_access_key_id");
        let secret = section.get("aws_secret_access_key");
        match (id, secret) {
            (Some(id), Some(secret)) => {
                return Ok(Found {
                    credentials: Credentials {
                        access_key_id: id.clone(),
                        secret_access_key: secret.clone(),
                        session_token: section
                            .get("aws_session_token")
                            .or_else(|| section.get("aws_security_token"))
                            .cloned(),
                    },
                    profile: profile.to_owned(),
                })
            }
            (Some(_), None) => bail!(
                "profile {profile:?} in {} has aws_access_key_id but no aws_secret_access_key",
                path.display()
            ),
            (None, Some(_)) => bail!(
                "profile {profile:?} in {} has aws_secret_access_key but no aws_access_key_id",
                path.display()
            ),
            (None, None) => {}
        }
    }
    let files = looked.join(" and ");
    if explicit.is_some() && !seen_profile {
        bail!("the profile {profile:?} is not in {files}");
    }
    bail!(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put \
         aws_access_key_id and aws_secret_access_key in profile {profile:?} of {files}"
    )
}

fn find_region(env: &Env, found: &Found) -> Result<String> {
    if let Some(r) = env
        .get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
    {
        return Ok(r.to_owned());
    }
    if let Some(path) = env.path("AWS_CONFIG_FILE", "~/.aws/config") {
        if let Some(section) = read_profile(&path, &found.profile, true)? {
            if let Some(r) = section.get("region").filter(|r| !r.is_empty()) {
                return Ok(r.clone());
            }
        }
    }
    bail!(
        "no region: pass --region, or set AWS_REGION (or AWS_DEFAULT_REGION), or set region in profile {:?} of the AWS config file",
        found.profile
    )
}

/// The keys of `[profile]` (`[profile NAME]` or `[default]` in a config file),
/// or `None` when the file or the section does not exist.
fn read_profile(
    path: &Path,
    profile: &str,
    is_config: bool,
) -> Result<Option<BTreeMap<String, String>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(ini_sections(&text).remove(&section_name(profile, is_config)))
}

/// The section that holds `profile`: `[name]` in the credentials file; in the
/// config file `[profile name]`, except `[default]`.
fn section_name(profile: &str, is_config: bool) -> String {
    if is_config && profile != "default" {
        format!("profile {profile}")
    } else {
        profile.to_owned()
    }
}

/// An INI file as botocore reads it (Python's configparser): `[section]` headers
/// (inner whitespace runs folded, so `[profile  x]` is `profile x`), `key = value`
/// or `key: value` lines with keys lower-cased and both sides trimmed, full-line
/// `#` / `;` comments, indented lines continuing the previous value (nested
/// settings, ignored here). A later section of the same name adds to the first.
fn ini_sections(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue; // continuation of a nested value
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let Some(section) = &current else { continue };
        let split = trimmed.find(['=', ':']);
        if let Some(at) = split {
            let key = trimmed[..at].trim().to_lowercase();
            let value = trimmed[at + 1..].trim().to_owned();
            if let Some(s) = sections.get_mut(section) {
                s.insert(key, value);
            }
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ini_like_configparser() {
        let s = ini_sections(
            "# comment\n[default]\naws_access_key_id = AKID\nAWS_Secret_Access_Key=sec=ret\n\
             ; other\n[profile  dev]\nregion: eu-west-1\ns3 =\n  max_concurrency = 4\n[default]\nregion=us-east-1\n",
        );
        assert_eq!(s["default"]["aws_access_key_id"], "AKID");
        assert_eq!(s["default"]["aws_secret_access_key"], "sec=ret");
        assert_eq!(s["default"]["region"], "us-east-1");
        assert_eq!(s["profile dev"]["region"], "eu-west-1");
        assert_eq!(s["profile dev"]["s3"], "");
        assert!(!s["profile dev"].contains_key("max_concurrency"));
        assert_eq!(section_name("dev", true), "profile dev");
        assert_eq!(section_name("default", true), "default");
        assert_eq!(section_name("dev", false), "dev");
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let env = Env {
            vars: [("AWS_ACCESS_KEY_ID".to_owned(), String::new())].into(),
        };
        assert_eq!(env.get("AWS_ACCESS_KEY_ID"), None);
        assert_eq!(env.path("AWS_CONFIG_FILE", "~/.aws/config"), None);
    }
}
