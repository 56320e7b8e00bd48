//! What the quickstart writes in its folder: the gateway's configuration files, the
//! certificate, the people's passwords and the application's IAM user and key. Each is
//! made once; a later run reads it back (so it keeps the user's edits).

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use gatehouse_iam::directory::{MasterKey, PrincipalKind};
use gatehouse_state::{StateError, StateStore};
use rand::Rng;

/// The AWS account of the quickstart's ARNs.
pub const ACCOUNT_ID: &str = "123456789012";
/// The region tokens are signed for.
pub const REGION: &str = "us-east-1";
/// The IAM user of the application.
pub const IAM_USER: &str = "app";
/// Its inline policy's name.
pub const POLICY_NAME: &str = "connect-as-app_user";
/// The deciding statement's Sid in the decision log.
pub const POLICY_SID: &str = "AppConnectsAsAppUser";
/// The database role the application logs in as.
pub const APP_ROLE: &str = "app_user";
/// The people (login roles with a password) and their team.
pub const PEOPLE: [(&str, &str); 3] = [
    ("alice", "admin"),
    ("bob", "developers"),
    ("carol", "support"),
];

/// docs/upstream-setup.sql: the `gatehouse_auth` login and `gatehouse.get_auth`.
pub const UPSTREAM_SETUP_SQL: &str = include_str!("../../../../docs/upstream-setup.sql");
/// examples/quickstart/seed.sql: the shop database and its teams.
pub const SEED_SQL: &str = include_str!("../../../../examples/quickstart/seed.sql");

/// Writes `text` to a new file `path` with `mode` (0600 for secrets): refuses to
/// replace one that exists.
pub fn write_new(path: &Path, text: &str, mode: u32) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    // The umask may have taken bits away; secrets stay 0600 either way.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

fn random(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

/// A password of 24 letters and digits (about 143 bits), safe to paste in a shell
/// and in a libpq connection string.
pub fn new_password() -> String {
    random(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        24,
    )
}

/// A DB resource id as RDS makes them: `db-` and 26 of `A-Z0-9`.
pub fn new_resource_id() -> String {
    format!("db-{}", random(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 26))
}

/// `(person, password)` for each of [`PEOPLE`].
pub type Passwords = Vec<(String, String)>;

/// passwords.txt: a comment, then `name password` per line.
pub fn passwords_text(passwords: &Passwords) -> String {
    let mut s = String::from(
        "# gatehouse quickstart: the people's passwords (stored in PostgreSQL as SCRAM-SHA-256\n\
         # secrets; gatehouse reads those secrets, never this file). Kept for the next run.\n",
    );
    for (name, pw) in passwords {
        s.push_str(&format!("{name} {pw}\n"));
    }
    s
}

/// Reads passwords.txt back; every person must be there.
///
/// # Errors
/// Unreadable, or a person missing.
pub fn read_passwords(path: &Path) -> Result<Passwords> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (name, _) in PEOPLE {
        let pw = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .find_map(|l| {
                let mut parts = l.split_whitespace();
                (parts.next() == Some(name)).then(|| parts.next()).flatten()
            })
            .with_context(|| {
                format!(
                    "{}: no password for {name} (start over with --reset)",
                    path.display()
                )
            })?;
        out.push((name.to_string(), pw.to_string()));
    }
    Ok(out)
}

/// The psql script that sets up the database: the `auth_query` function, then the shop
/// and its teams, with the passwords as psql variables (on psql's stdin, never on a
/// command line).
pub fn seed_script(passwords: &Passwords) -> String {
    let mut s = String::new();
    for (name, pw) in passwords {
        // Letters and digits only (new_password), so no quoting question arises.
        s.push_str(&format!("\\set {name}_password '{pw}'\n"));
    }
    s.push_str(UPSTREAM_SETUP_SQL);
    s.push('\n');
    s.push_str(SEED_SQL);
    s
}

/// The gateway's pg_hba.conf.
pub fn hba_text() -> String {
    "# gatehouse quickstart: who may log in through the gateway, and how (layer 3).\n\
     # PostgreSQL's own format and rules; the first line that matches decides. Members of a\n\
     # role are written +role (memberships come from the database's catalogs).\n\
     #\n\
     # TYPE   DATABASE  USER                          ADDRESS  METHOD\n\
     \n\
     # Applications: an IAM auth token (SigV4, checked against the IAM policies of the key's\n\
     # user), as with Amazon RDS IAM database authentication. app_user is in rds_iam.\n\
     hostssl  shop      +rds_iam                      all      iam\n\
     \n\
     # People: a password, proved with SCRAM-SHA-256 (channel binding when the client asks).\n\
     hostssl  shop      +admin,+developers,+support   all      scram-sha-256\n\
     \n\
     # Everything else: refused (no TLS, another database, another user).\n\
     host     all       all                           all      reject\n"
        .to_string()
}

/// The gateway's gatehouse.toml for `port`; `ipv6`: also listen on `[::1]`.
pub fn config_text(port: u16, ipv6: bool, resource_id: &str) -> String {
    let listen = if ipv6 {
        format!("\"127.0.0.1:{port}\", \"[::1]:{port}\"")
    } else {
        format!("\"127.0.0.1:{port}\"")
    };
    let v6_note = if ipv6 {
        "# [::1] is outside the security group below: a client connecting there is closed at\n\
         # layer 1, before a byte is read (the \"source outside the group\" of the quickstart).\n"
    } else {
        "# (this machine could not listen on [::1], so only 127.0.0.1 is used)\n"
    };
    format!(
        r#"# gatehouse quickstart: the gateway in front of the throwaway PostgreSQL of this folder.
# Written once by `gatehouse quickstart`; your edits are kept (`--reset` starts over).
# Relative paths are relative to this file. Every key: docs/configuration.md; this
# setup, file by file: docs/quickstart.md.

[listen]
{v6_note}addresses = [{listen}]

[tls]
# Self-signed, for localhost and 127.0.0.1. Clients use sslmode=require (or
# sslmode=verify-full sslrootcert=server.crt to check it).
cert_file = "server.crt"
key_file = "server.key"

[hba]
file = "pg_hba.conf"                  # scram-sha-256 for people, iam for applications

[upstream]
# PostgreSQL listens only on a Unix socket in socket/ (listen_addresses = '') and
# trusts it (its data/pg_hba.conf: `local all all trust`, nothing else): only the
# gateway reaches the database, which logs the client in as the role it proved.
socket_dir = "socket"
port = 5432
auth = "trust"

[auth]
# People's SCRAM secrets and role memberships (+group lines, rds_iam) are read from
# the database through the gatehouse_auth login (docs/upstream-setup.sql): a changed
# password or membership counts within cache_ttl seconds.
source = "auth_query"
cache_ttl = 5

[log]
format = "text"                       # for people, on the terminal
level = "info"
decision_file = "decisions.log"       # one JSON object per connection decision

[network]
# Layer 1, security groups: only what an attached group's ingress rules allow may
# even open a TCP connection; anything else is closed without a reply.
attach = ["sg-quickstart"]

[[network.groups]]
id = "sg-quickstart"
name = "quickstart"
description = "clients of the quickstart database"

[[network.rules]]
id = "sgr-loopback-v4"
group_id = "sg-quickstart"
protocol = "tcp"
from_port = {port}
to_port = {port}
source = {{ cidr = "127.0.0.0/8" }}
description = "this machine, over IPv4"

[admin]
socket = "gatehouse-admin.sock"       # `gatehouse sg … --config gatehouse.toml`
state_file = "gatehouse-state.sqlite" # IAM users, keys, policies; rules added at run time

[iam]
# RDS IAM database authentication: tokens signed for these endpoints, in this region,
# checked against the key's user's policies for rds-db:connect on
# arn:aws:rds-db:{REGION}:{ACCOUNT_ID}:dbuser:{resource_id}/<role>.
account_id = "{ACCOUNT_ID}"
region = "{REGION}"
resource_id = "{resource_id}"
endpoints = ["localhost:{port}", "127.0.0.1:{port}"]
key_file = "gatehouse-iam.key"        # encrypts the secret access keys in the state file
# token_only_role = "rds_iam"         # the default: its members log in only with a token
"#
    )
}

/// A self-signed certificate for localhost and 127.0.0.1: (certificate PEM, key PEM).
///
/// # Errors
/// rcgen fails.
pub fn certificate() -> Result<(String, String)> {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".into()])
        .map_err(|e| anyhow!("cannot make the TLS certificate: {e}"))?;
    Ok((c.cert.pem(), c.signing_key.serialize_pem()))
}

/// The application's access key.
pub struct Credentials {
    /// `AKIA…`.
    pub access_key_id: String,
    /// The 40-character secret.
    pub secret_access_key: String,
}

/// aws-credentials, in the AWS CLI's shared credentials format.
pub fn credentials_text(c: &Credentials) -> String {
    format!(
        "# gatehouse quickstart: the access key of IAM user {IAM_USER} (its inline policy\n\
         # {POLICY_NAME} allows rds-db:connect as {APP_ROLE} only). With\n\
         # AWS_SHARED_CREDENTIALS_FILE set to this file, the AWS CLI, the SDKs and\n\
         # `gatehouse token generate` sign with it.\n\
         [default]\n\
         aws_access_key_id = {}\n\
         aws_secret_access_key = {}\n\
         region = {REGION}\n",
        c.access_key_id, c.secret_access_key
    )
}

fn read_credentials(path: &Path) -> Result<Credentials> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    match (value("aws_access_key_id"), value("aws_secret_access_key")) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
            access_key_id,
            secret_access_key,
        }),
        _ => bail!(
            "{}: no aws_access_key_id / aws_secret_access_key (start over with --reset)",
            path.display()
        ),
    }
}

/// The IAM policy of the application's user: connect as `app_user`, nothing else.
pub fn policy_document(resource_id: &str) -> String {
    format!(
        r#"{{
  "Version": "2012-10-17",
  "Statement": [
    {{
      "Sid": "{POLICY_SID}",
      "Effect": "Allow",
      "Action": "rds-db:connect",
      "Resource": "arn:aws:rds-db:{REGION}:{ACCOUNT_ID}:dbuser:{resource_id}/{APP_ROLE}"
    }}
  ]
}}"#
    )
}

/// The IAM user `app`, its policy and its access key: made on the first run (the
/// access key also written to `credentials_file`, mode 0600), read back on later ones.
/// Returns the key and whether it was made now.
///
/// # Errors
/// The state store or key file cannot be used.
pub fn iam_user(
    state_file: &Path,
    key_file: &Path,
    resource_id: &str,
    credentials_file: &Path,
) -> Result<(Credentials, bool)> {
    if credentials_file.exists() {
        return Ok((read_credentials(credentials_file)?, false));
    }
    let store = StateStore::open(state_file)
        .with_context(|| format!("state store {}", state_file.display()))?;
    let iam = store.iam(ACCOUNT_ID)?;
    let key =
        MasterKey::load_or_create(key_file).map_err(|e| anyhow!("{}: {e}", key_file.display()))?;
    match iam.get_user(IAM_USER) {
        Ok(_) => {}
        Err(StateError::IamNoSuchEntity { .. }) => {
            iam.create_user(IAM_USER, None)?;
            iam.put_inline_policy(
                PrincipalKind::User,
                IAM_USER,
                POLICY_NAME,
                &policy_document(resource_id),
            )?;
        }
        Err(e) => return Err(e.into()),
    }
    // The file is gone but the user is there: reuse its key if it has one.
    let directory = store.iam_directory(ACCOUNT_ID, &key)?;
    let existing = directory
        .access_keys()
        .find(|k| k.user_name == IAM_USER && k.is_active())
        .map(|k| Credentials {
            access_key_id: k.access_key_id.clone(),
            secret_access_key: String::from_utf8_lossy(k.secret()).into_owned(),
        });
    let (credentials, made) = match existing {
        Some(c) => (c, false),
        None => {
            let k = iam.create_access_key(IAM_USER, &key)?;
            (
                Credentials {
                    access_key_id: k.access_key_id.clone(),
                    secret_access_key: String::from_utf8_lossy(k.secret()).into_owned(),
                },
                true,
            )
        }
    };
    write_new(credentials_file, &credentials_text(&credentials), 0o600)?;
    Ok((credentials, made))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwords.txt");
        let pws: Passwords = PEOPLE
            .iter()
            .map(|(n, _)| (n.to_string(), new_password()))
            .collect();
        write_new(&path, &passwords_text(&pws), 0o600).unwrap();
        assert_eq!(read_passwords(&path).unwrap(), pws);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Never replaced.
        assert!(write_new(&path, "x", 0o600).is_err());
        std::fs::write(&path, "alice a\nbob b\n").unwrap();
        let e = read_passwords(&path).unwrap_err().to_string();
        assert!(e.contains("no password for carol"), "{e}");
    }

    #[test]
    fn passwords_and_ids_have_their_shape() {
        let p = new_password();
        assert_eq!(p.len(), 24);
        assert!(p.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(p, new_password());
        let r = new_resource_id();
        assert_eq!(r.len(), 29);
        assert!(r[3..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    }

    #[test]
    fn the_policy_parses_and_names_app_user_only() {
        let doc = policy_document("db-ABC");
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["Statement"][0]["Sid"], POLICY_SID);
        assert_eq!(
            v["Statement"][0]["Resource"],
            "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC/app_user"
        );
    }

    #[test]
    fn the_iam_user_is_made_once_and_its_key_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.sqlite");
        let key = dir.path().join("iam.key");
        let creds = dir.path().join("aws-credentials");
        let (first, made) = iam_user(&state, &key, "db-ABC", &creds).unwrap();
        assert!(made);
        assert!(first.access_key_id.starts_with("AKIA"));
        assert_eq!(first.secret_access_key.len(), 40);
        let (again, made) = iam_user(&state, &key, "db-ABC", &creds).unwrap();
        assert!(!made);
        assert_eq!(again.access_key_id, first.access_key_id);
        // The file lost: the stored key is recovered, not a second one made.
        std::fs::remove_file(&creds).unwrap();
        let (recovered, made) = iam_user(&state, &key, "db-ABC", &creds).unwrap();
        assert!(!made);
        assert_eq!(recovered.secret_access_key, first.secret_access_key);
        let text = std::fs::read_to_string(&creds).unwrap();
        assert!(text.contains(&format!("aws_access_key_id = {}", first.access_key_id)));
    }

    #[test]
    fn the_generated_files_load() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (cert, key) = certificate().unwrap();
        std::fs::write(d.join("server.crt"), cert).unwrap();
        std::fs::write(d.join("server.key"), key).unwrap();
        std::fs::write(d.join("pg_hba.conf"), hba_text()).unwrap();
        std::fs::write(
            d.join("gatehouse.toml"),
            config_text(6432, true, &new_resource_id()),
        )
        .unwrap();
        let loaded = crate::config::load(&d.join("gatehouse.toml")).unwrap();
        assert_eq!(loaded.gateway.listen.len(), 2);
        assert_eq!(loaded.gateway.rules.hba.lines.len(), 3);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(
            loaded.log.decision_file.as_deref(),
            Some(d.join("decisions.log").as_path())
        );
    }
}
