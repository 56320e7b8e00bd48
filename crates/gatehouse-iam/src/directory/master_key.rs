//! [`MasterKey`]: the key file that encrypts secret access keys at rest.
//!
//! The file holds exactly 32 random bytes and must be readable by its owner only (mode
//! 0600; any group or other permission bit is refused). Each secret is sealed with
//! XChaCha20-Poly1305 under a fresh random 24-byte nonce, with the access key id as
//! associated data: a ciphertext copied onto another key's row does not decrypt.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use rand::RngCore;

/// Length of the key in the key file.
pub const MASTER_KEY_LEN: usize = 32;

/// Length of the nonce stored with each secret.
pub const NONCE_LEN: usize = 24;

/// The key file could not be read, created or used. Never contains key material.
#[derive(Debug, thiserror::Error)]
#[error("IAM key file {}: {reason}", .path.display())]
pub struct MasterKeyError {
    /// The key file.
    pub path: PathBuf,
    /// What is wrong, e.g. `is readable by group or others (mode 0644): run chmod 600 …`.
    pub reason: String,
}

/// A secret could not be sealed or opened. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The stored secret did not decrypt: the key file is not the one it was encrypted
    /// with, or the row was altered (or copied from another access key).
    #[error(
        "access key {access_key_id}: its secret access key does not decrypt with this key \
         file (a different key file than the one it was created with, or the stored row \
         was altered or copied from another access key)"
    )]
    Decrypt {
        /// The access key whose secret failed.
        access_key_id: String,
    },
    /// Encryption failed (not expected for a 40-byte secret).
    #[error("access key {access_key_id}: its secret access key could not be encrypted")]
    Encrypt {
        /// The access key.
        access_key_id: String,
    },
}

/// A secret encrypted under a [`MasterKey`]: the nonce and the ciphertext (with its
/// 16-byte tag) as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// The random nonce used for this secret.
    pub nonce: [u8; NONCE_LEN],
    /// XChaCha20-Poly1305 ciphertext followed by the tag.
    pub ciphertext: Vec<u8>,
}

/// The key that encrypts secret access keys at rest (32 bytes from a key file).
/// `Debug` shows no key material.
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; MASTER_KEY_LEN],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

fn file_error(path: &Path, reason: impl Into<String>) -> MasterKeyError {
    MasterKeyError {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Refuses a file that is not a regular file, or that its group or others may access.
fn check_file(path: &Path, file: &File) -> Result<(), MasterKeyError> {
    let meta = file
        .metadata()
        .map_err(|e| file_error(path, format!("cannot read its metadata: {e}")))?;
    if !meta.is_file() {
        return Err(file_error(path, "is not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(file_error(
                path,
                format!(
                    "is accessible by group or others (mode {mode:04o}); the key that \
                     protects the secret access keys must be private: run chmod 600 {}",
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}

impl MasterKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(key: [u8; MASTER_KEY_LEN]) -> MasterKey {
        MasterKey { key }
    }

    /// A fresh random key (from the operating system's generator).
    pub fn generate() -> MasterKey {
        let mut key = [0u8; MASTER_KEY_LEN];
        OsRng.fill_bytes(&mut key);
        MasterKey { key }
    }

    /// Reads the key file: exactly 32 bytes, owner-only permissions.
    ///
    /// # Errors
    /// [`MasterKeyError`] when the file cannot be read, is not a regular file, is
    /// accessible by group or others, or does not hold exactly 32 bytes.
    pub fn load(path: &Path) -> Result<MasterKey, MasterKeyError> {
        let mut file = File::open(path).map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                file_error(
                    path,
                    "does not exist (`gatehouse iam` creates it on the first command that \
                     stores a secret)",
                )
            } else {
                file_error(path, format!("cannot open: {e}"))
            }
        })?;
        check_file(path, &file)?;
        let mut bytes = Vec::with_capacity(MASTER_KEY_LEN + 1);
        Read::by_ref(&mut file)
            .take(MASTER_KEY_LEN as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| file_error(path, format!("cannot read: {e}")))?;
        let key: [u8; MASTER_KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            let size = if bytes.len() > MASTER_KEY_LEN {
                "more than 32 bytes".to_owned()
            } else {
                format!("{} bytes", bytes.len())
            };
            file_error(
                path,
                format!(
                    "holds {size}; an IAM key file holds exactly {MASTER_KEY_LEN} random bytes"
                ),
            )
        })?;
        Ok(MasterKey { key })
    }

    /// Reads the key file, or creates it (mode 0600, 32 fresh random bytes) when it does
    /// not exist. Creation is atomic: the key is written to a private temporary file in
    /// the same directory, flushed, and linked into place only if nothing else created the
    /// file meanwhile (then that file is loaded instead), so two processes never end up
    /// with different keys.
    ///
    /// # Errors
    /// [`MasterKeyError`] as [`MasterKey::load`], or when the file cannot be created.
    pub fn load_or_create(path: &Path) -> Result<MasterKey, MasterKeyError> {
        match std::fs::symlink_metadata(path) {
            Ok(_) => return MasterKey::load(path),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(file_error(path, format!("cannot inspect: {e}"))),
        }
        let key = MasterKey::generate();
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .ok_or_else(|| file_error(path, "is not a file name"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(
            ".tmp-{}-{:08x}",
            std::process::id(),
            OsRng.next_u32()
        ));
        let tmp = dir.join(tmp_name);
        let result = write_new(&tmp, &key.key).and_then(|()| {
            match std::fs::hard_link(&tmp, path) {
                Ok(()) => {
                    if let Ok(d) = File::open(dir) {
                        // Make the new name durable; failure here loses nothing yet.
                        let _ = d.sync_all();
                    }
                    Ok(true)
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(file_error(path, format!("cannot create: {e}"))),
            }
        });
        let _ = std::fs::remove_file(&tmp);
        if result? {
            Ok(key)
        } else {
            MasterKey::load(path)
        }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.key.into())
    }

    /// Encrypts `secret` for the access key `access_key_id` under a fresh random nonce.
    ///
    /// # Errors
    /// [`SecretError::Encrypt`] (not expected: only absurdly long inputs fail).
    pub fn seal(&self, access_key_id: &str, secret: &[u8]) -> Result<SealedSecret, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: access_key_id.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Encrypt {
                access_key_id: access_key_id.to_owned(),
            })?;
        Ok(SealedSecret { nonce, ciphertext })
    }

    /// Decrypts the secret of `access_key_id`.
    ///
    /// # Errors
    /// [`SecretError::Decrypt`] naming the access key when the ciphertext does not
    /// authenticate with this key, this nonce and this access key id.
    pub fn open(&self, access_key_id: &str, sealed: &SealedSecret) -> Result<Vec<u8>, SecretError> {
        self.cipher()
            .decrypt(
                &XNonce::from(sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: access_key_id.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Decrypt {
                access_key_id: access_key_id.to_owned(),
            })
    }
}

/// Creates `path` (which must not exist) with mode 0600 and writes `bytes`, flushed to disk.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), MasterKeyError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| file_error(path, format!("cannot create: {e}")))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| file_error(path, format!("cannot write: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let key = MasterKey::generate();
        let sealed = key
            .seal("AKIAAAAAAAAAAAAAAAAA", b"secret-40")
            .expect("seal");
        assert_eq!(sealed.ciphertext.len(), 9 + 16);
        assert_eq!(
            key.open("AKIAAAAAAAAAAAAAAAAA", &sealed).expect("open"),
            b"secret-40"
        );
        // Another nonce each time.
        let again = key
            .seal("AKIAAAAAAAAAAAAAAAAA", b"secret-40")
            .expect("seal");
        assert_ne!(sealed.nonce, again.nonce);
        assert_ne!(sealed.ciphertext, again.ciphertext);
        // Another id (associated data), another key, a flipped bit: refused.
        let err = key
            .open("AKIABBBBBBBBBBBBBBBB", &sealed)
            .expect_err("other id");
        assert_eq!(
            err,
            SecretError::Decrypt {
                access_key_id: "AKIABBBBBBBBBBBBBBBB".into()
            }
        );
        MasterKey::generate()
            .open("AKIAAAAAAAAAAAAAAAAA", &sealed)
            .expect_err("other key");
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        key.open("AKIAAAAAAAAAAAAAAAAA", &flipped)
            .expect_err("flipped");
        assert_eq!(format!("{key:?}"), "MasterKey(<redacted>)");
    }

    #[test]
    fn files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("iam.key");
        let err = MasterKey::load(&path).expect_err("missing");
        assert!(err.to_string().contains("does not exist"), "{err}");

        let created = MasterKey::load_or_create(&path).expect("create");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len(), MASTER_KEY_LEN);
        assert_eq!(bytes, created.key);
        let loaded = MasterKey::load_or_create(&path).expect("load");
        assert_eq!(loaded.key, created.key);
        assert_eq!(MasterKey::load(&path).expect("load").key, created.key);
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            for bad in [0o640, 0o604, 0o660, 0o620] {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bad))
                    .expect("chmod");
                let err = MasterKey::load(&path).expect_err("too open");
                assert!(err.to_string().contains("chmod 600"), "{err}");
                assert!(err.to_string().contains(&format!("{bad:04o}")), "{err}");
                MasterKey::load_or_create(&path).expect_err("too open as well");
            }
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).expect("chmod");
            MasterKey::load(&path).expect("0400 is fine");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }

        std::fs::write(&path, [7u8; 31]).expect("write");
        let err = MasterKey::load(&path).expect_err("short");
        assert!(err.to_string().contains("holds 31 bytes"), "{err}");
        std::fs::write(&path, [7u8; 33]).expect("write");
        let err = MasterKey::load(&path).expect_err("long");
        assert!(err.to_string().contains("more than 32 bytes"), "{err}");
        assert!(!err.to_string().contains("7, 7"), "{err}");

        let err = MasterKey::load(dir.path()).expect_err("a directory");
        assert!(err.to_string().contains("not a regular file"), "{err}");

        let nested = dir.path().join("no-such-dir").join("k");
        MasterKey::load_or_create(&nested).expect_err("no parent");
    }

    #[test]
    fn concurrent_creation_agrees_on_one_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("iam.key");
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| MasterKey::load_or_create(&path).map(|k| k.key)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread").expect("key"))
                .collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]));
        assert_eq!(std::fs::read(&path).expect("read"), keys[0]);
    }
}
