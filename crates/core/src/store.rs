//! The session store: every secret keyfob keeps (SSO tokens, client registrations, SAML
//! passwords, STS credentials, IAM user keys) lives in the OS keychain under one service name.
//!
//! On Linux `KEYFOB_KEYRING=secret-service|keyutils` chooses. Unset, the Secret Service is used
//! when one answers on the session bus, else the kernel keyring (keyutils): no bus address, a
//! dead bus, or a bus with no Secret Service on it. A Secret Service that answers but is locked
//! is not a reason to fall back: secrets would be split over two keychains (the next, unlocked
//! session would not find them, `logout` would not reach them) and land outside the keychain
//! the user's desktop shows. Its prompt asks the user to unlock it; when it cannot (headless, or
//! dismissed), every call fails with [`StoreError::Locked`], which names both ways out. The
//! same for one that holds the bus name but does not answer (a hung daemon): an error after a
//! bounded wait, not a fallback. There is no in-memory or file fallback: a machine without a
//! usable keychain gets an error that says how to get one.

use crate::env::Env;
use crate::lock::FileLock;
use keyring_core::api::CredentialStore;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

/// The keychain service every keyfob entry is filed under (overridable for test isolation).
pub const DEFAULT_SERVICE: &str = "keyfob";

/// The entry that lists every key, for backends that cannot enumerate (keyutils).
const INDEX_KEY: &str = "__index__";

/// Which keychain holds the entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// The freedesktop Secret Service (gnome-keyring, KWallet) over D-Bus.
    SecretService,
    /// The Linux kernel keyring.
    Keyutils,
    /// The macOS login keychain.
    MacosKeychain,
    /// The Windows Credential Manager.
    WindowsCredentialManager,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::SecretService => "Secret Service",
            Backend::Keyutils => "kernel keyring (keyutils)",
            Backend::MacosKeychain => "macOS keychain",
            Backend::WindowsCredentialManager => "Windows Credential Manager",
        })
    }
}

/// What went wrong with the keychain. Messages never contain a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No keychain backend could be opened.
    #[error(
        "no usable keychain: {reason}; on Linux start a Secret Service (gnome-keyring) in your session or set KEYFOB_KEYRING=keyutils"
    )]
    Unavailable {
        /// Why, as the backend said it.
        reason: String,
    },
    /// `KEYFOB_KEYRING` names something that is not a backend here.
    #[error(
        "KEYFOB_KEYRING={0:?} is not a keychain keyfob can use here; use secret-service or keyutils"
    )]
    UnknownBackend(String),
    /// The keychain is locked and keyfob may not prompt.
    #[error(
        "the {backend} is locked: {reason}; unlock it (log in to the desktop session, or `gnome-keyring-daemon --unlock`) or pick another with KEYFOB_KEYRING=keyutils"
    )]
    Locked {
        /// The backend.
        backend: Backend,
        /// What it said.
        reason: String,
    },
    /// The kernel keyring refuses this process's session keyring.
    #[error(
        "the kernel keyring (keyutils) refused access ({reason}): this session keyring does not keep keys; run keyfob inside `keyctl session -` (or a login session with a persistent keyring), or set KEYFOB_KEYRING=secret-service"
    )]
    KeyutilsSession {
        /// What it said.
        reason: String,
    },
    /// A key that was just written cannot be read back.
    #[error(
        "the {backend} accepted entry {key:?} but cannot read it back: this session keyring drops keys; run keyfob inside `keyctl session -` (or a login session with a persistent keyring), or set KEYFOB_KEYRING=secret-service"
    )]
    Dropped {
        /// The backend.
        backend: Backend,
        /// The entry's name (never its value).
        key: String,
    },
    /// An entry holds something keyfob did not write.
    #[error(
        "keychain entry {key:?} is corrupt ({reason}); delete it with `keyfob remove` and log in again"
    )]
    Corrupt {
        /// The entry's name.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Any other failure from the backend.
    #[error("the {backend} failed on entry {key:?}: {reason}")]
    Backend {
        /// The backend.
        backend: Backend,
        /// The entry's name.
        key: String,
        /// What it said.
        reason: String,
    },
}

/// A place to keep keyfob's sessions: string values under string keys.
pub trait SessionStore: Send + Sync {
    /// Which keychain this is.
    fn backend(&self) -> Backend;
    /// The value under `key`, or `None`.
    fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Stores `value` under `key`, replacing what was there.
    fn put(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Deletes `key`; true if it existed.
    fn delete(&self, key: &str) -> Result<bool, StoreError>;
    /// Every key keyfob has stored, sorted.
    fn list(&self) -> Result<Vec<String>, StoreError>;
}

/// Typed helpers over any [`SessionStore`].
pub trait SessionStoreExt: SessionStore {
    /// Reads and deserialises a JSON value.
    fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.get(key)? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    key: key.to_owned(),
                    reason: json_problem(&e),
                }),
        }
    }

    /// Serialises and stores a JSON value.
    fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let text = serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        self.put(key, &text)
    }
}

impl<S: SessionStore + ?Sized> SessionStoreExt for S {}

/// What is wrong with an entry's JSON, without quoting it: serde_json's own messages quote the
/// offending value ("invalid type: string \"…\""), and an entry's values are secrets.
fn json_problem(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => "not valid JSON",
        Category::Eof => "JSON cut short",
        Category::Data => "JSON of another shape than keyfob writes",
        Category::Io => "unreadable",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// The OS keychain.
pub struct Keychain {
    store: Arc<CredentialStore>,
    backend: Backend,
    service: String,
    index_lock: PathBuf,
}

impl std::fmt::Debug for Keychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keychain")
            .field("backend", &self.backend)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Keychain {
    /// Opens the keychain this platform and environment call for.
    pub fn open(env: &Env) -> Result<Self, StoreError> {
        let service = env
            .get_non_empty("KEYFOB_KEYCHAIN_SERVICE")
            .unwrap_or_else(|| DEFAULT_SERVICE.to_owned());
        let index_lock = crate::paths::cache_dir(env).join(format!("index-{service}.lock"));
        let (store, backend) = open_backend(env)?;
        tracing::debug!(%backend, %service, "opened keychain");
        Ok(Self {
            store,
            backend,
            service,
            index_lock,
        })
    }

    fn entry(&self, key: &str) -> Result<keyring_core::Entry, StoreError> {
        self.store
            .build(&self.service, key, None)
            .map_err(|e| self.map_err(key, e))
    }

    fn map_err(&self, key: &str, e: keyring_core::Error) -> StoreError {
        match e {
            keyring_core::Error::NoStorageAccess(inner) if self.backend == Backend::Keyutils => {
                StoreError::KeyutilsSession {
                    reason: inner.to_string(),
                }
            }
            keyring_core::Error::NoStorageAccess(inner) => StoreError::Locked {
                backend: self.backend,
                reason: locked_reason(&inner.to_string()),
            },
            other => StoreError::Backend {
                backend: self.backend,
                key: key.to_owned(),
                reason: other.to_string(),
            },
        }
    }

    /// Runs one keychain call, again when a busy Secret Service did not answer in time.
    fn call<T>(
        &self,
        f: impl Fn() -> Result<T, keyring_core::Error>,
    ) -> Result<T, keyring_core::Error> {
        let mut tries = 1;
        loop {
            match f() {
                Err(e)
                    if self.backend == Backend::SecretService
                        && no_reply(&e)
                        && tries < SECRET_SERVICE_TRIES =>
                {
                    tracing::debug!(tries, "the Secret Service did not answer in time; again");
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    fn raw_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let entry = self.entry(key)?;
        match self.call(|| entry.get_password()) {
            Ok(v) => Ok(Some(v)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.map_err(key, e)),
        }
    }

    fn raw_put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let entry = self.entry(key)?;
        self.call(|| entry.set_password(value))
            .map_err(|e| self.map_err(key, e))?;
        // keyutils on some machines accepts the write into a session keyring that then drops
        // it; find out now rather than at the next credential request.
        if self.backend == Backend::Keyutils && self.raw_get(key)?.as_deref() != Some(value) {
            return Err(StoreError::Dropped {
                backend: self.backend,
                key: key.to_owned(),
            });
        }
        Ok(())
    }

    fn raw_delete(&self, key: &str) -> Result<bool, StoreError> {
        let entry = self.entry(key)?;
        match self.call(|| entry.delete_credential()) {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(self.map_err(key, e)),
        }
    }

    fn read_index(&self) -> Result<BTreeSet<String>, StoreError> {
        match self.raw_get(INDEX_KEY)? {
            None => Ok(BTreeSet::new()),
            Some(text) => serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                key: INDEX_KEY.to_owned(),
                reason: json_problem(&e),
            }),
        }
    }

    fn update_index(
        &self,
        f: impl FnOnce(&mut BTreeSet<String>) -> bool,
    ) -> Result<(), StoreError> {
        // Read-modify-write of the index must not interleave between processes.
        let _guard = FileLock::acquire(&self.index_lock, crate::lock::EDIT_WAIT).map_err(|e| {
            StoreError::Backend {
                backend: self.backend,
                key: INDEX_KEY.to_owned(),
                reason: e.to_string(),
            }
        })?;
        let mut index = self.read_index()?;
        if f(&mut index) {
            let text = serde_json::to_string(&index).expect("a set of strings serialises");
            if index.is_empty() {
                self.raw_delete(INDEX_KEY)?;
            } else {
                self.raw_put(INDEX_KEY, &text)?;
            }
        }
        Ok(())
    }
}

impl SessionStore for Keychain {
    fn backend(&self) -> Backend {
        self.backend
    }

    fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.raw_get(key)
    }

    fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        debug_assert!(key != INDEX_KEY);
        self.raw_put(key, value)?;
        self.update_index(|i| i.insert(key.to_owned()))
    }

    fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let existed = self.raw_delete(key)?;
        self.update_index(|i| i.remove(key))?;
        Ok(existed)
    }

    fn list(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.read_index()?.into_iter().collect())
    }
}

/// The automatic choice (see the module docs). Opening the Secret Service store connects to the
/// bus and opens a session with the `org.freedesktop.secrets` service, so it fails at once when
/// there is no bus, the bus is dead or nothing serves (or can be activated as) a Secret Service
/// on it: those fall back to keyutils. It does not look at collections, so a locked one is
/// chosen, and its first read or write reports [`StoreError::Locked`].
#[cfg(target_os = "linux")]
fn open_backend(env: &Env) -> Result<(Arc<CredentialStore>, Backend), StoreError> {
    let choice = env.get_non_empty("KEYFOB_KEYRING");
    match choice.as_deref() {
        Some("secret-service") => open_secret_service(),
        Some("keyutils") => open_keyutils(),
        Some(other) => Err(StoreError::UnknownBackend(other.to_owned())),
        None => {
            if env.get_non_empty("DBUS_SESSION_BUS_ADDRESS").is_some() {
                match open_secret_service_store() {
                    Ok(store) => return Ok((store, Backend::SecretService)),
                    // It is there, only slow: falling back would split the secrets.
                    Err(e) if no_reply(&e) => return Err(secret_service_unavailable(&e)),
                    Err(e) => {
                        tracing::debug!(error = %e, "no Secret Service on the session bus; using keyutils");
                    }
                }
            } else {
                tracing::debug!("no DBUS_SESSION_BUS_ADDRESS; using keyutils");
            }
            open_keyutils()
        }
    }
}

/// Why a keychain refused access, in the user's words rather than the D-Bus library's.
fn locked_reason(said: &str) -> String {
    let said = said.strip_prefix("Secret Service: ").unwrap_or(said);
    if said.contains("prompt was dismissed") {
        // Headless, the prompt cannot be shown at all; on a desktop the user closed it.
        "its unlock prompt was dismissed or could not be shown".to_owned()
    } else if said.contains("no result found") {
        // gnome-keyring started without --unlock: its default (login) collection does not
        // exist until someone types a password into a prompt.
        "it has no unlocked default keyring".to_owned()
    } else {
        said.to_owned()
    }
}

/// dbus-secret-service gives every D-Bus call a fixed 2 s reply timeout. A healthy gnome-keyring
/// can take longer when fifty SDK processes open sessions at once on a busy machine, so a call
/// that got no reply is made again, this many times in all (at most ~10 s a call: bounded).
const SECRET_SERVICE_TRIES: u32 = 5;

/// Whether a Secret Service call timed out waiting for its reply (D-Bus `NoReply`).
fn no_reply(e: &keyring_core::Error) -> bool {
    matches!(e, keyring_core::Error::PlatformFailure(inner)
        if inner.to_string().contains("Did not receive a reply"))
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn secret_service_unavailable(e: &keyring_core::Error) -> StoreError {
    StoreError::Unavailable {
        reason: if no_reply(e) {
            format!("the Secret Service did not answer ({SECRET_SERVICE_TRIES} tries of 2 s)")
        } else {
            format!("Secret Service: {e}")
        },
    }
}

/// Connects to the Secret Service and opens a session with it (no collection is touched).
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn open_secret_service_store() -> Result<Arc<CredentialStore>, keyring_core::Error> {
    let mut tries = 1;
    loop {
        match dbus_secret_service_keyring_store::Store::new() {
            Err(e) if no_reply(&e) && tries < SECRET_SERVICE_TRIES => {
                tracing::debug!(tries, "the Secret Service did not answer in time; again");
                tries += 1;
            }
            other => return other.map(|store| store as Arc<CredentialStore>),
        }
    }
}

#[cfg(target_os = "linux")]
fn open_secret_service() -> Result<(Arc<CredentialStore>, Backend), StoreError> {
    let store = open_secret_service_store().map_err(|e| secret_service_unavailable(&e))?;
    Ok((store, Backend::SecretService))
}

#[cfg(target_os = "linux")]
fn open_keyutils() -> Result<(Arc<CredentialStore>, Backend), StoreError> {
    let store =
        linux_keyutils_keyring_store::Store::new().map_err(|e| StoreError::Unavailable {
            reason: format!("keyutils: {e}"),
        })?;
    Ok((store, Backend::Keyutils))
}

#[cfg(all(
    unix,
    not(any(
        target_os = "linux",
        target_os = "macos",
        target_os = "ios",
        target_os = "android"
    ))
))]
fn open_backend(env: &Env) -> Result<(Arc<CredentialStore>, Backend), StoreError> {
    if let Some(other) = env
        .get_non_empty("KEYFOB_KEYRING")
        .filter(|v| v != "secret-service")
    {
        return Err(StoreError::UnknownBackend(other));
    }
    let store = open_secret_service_store().map_err(|e| secret_service_unavailable(&e))?;
    Ok((store, Backend::SecretService))
}

#[cfg(target_os = "macos")]
fn open_backend(_env: &Env) -> Result<(Arc<CredentialStore>, Backend), StoreError> {
    let store = apple_native_keyring_store::keychain::Store::new().map_err(|e| {
        StoreError::Unavailable {
            reason: format!("macOS keychain: {e}"),
        }
    })?;
    Ok((store, Backend::MacosKeychain))
}

#[cfg(target_os = "windows")]
fn open_backend(_env: &Env) -> Result<(Arc<CredentialStore>, Backend), StoreError> {
    let store =
        windows_native_keyring_store::Store::new().map_err(|e| StoreError::Unavailable {
            reason: format!("Windows Credential Manager: {e}"),
        })?;
    Ok((store, Backend::WindowsCredentialManager))
}

/// Keys of the entries keyfob keeps, in one place so that `status` and `remove` agree with the
/// writers.
pub mod keys {
    /// STS credentials cached for a profile.
    pub fn credentials(profile: &str) -> String {
        format!("creds/{profile}")
    }
    /// An IAM user's long-term key pair.
    pub fn iam_user(profile: &str) -> String {
        format!("iam-user/{profile}")
    }
    /// An SSO session's tokens.
    pub fn sso_token(session: &str) -> String {
        format!("sso-token/{session}")
    }
    /// An SSO session's OIDC client registration.
    pub fn sso_client(session: &str) -> String {
        format!("sso-client/{session}")
    }
    /// A SAML profile's IdP password.
    pub fn saml_password(profile: &str) -> String {
        format!("saml-password/{profile}")
    }
    /// An EKS token cached for a profile, cluster, STS region (`global` for the global
    /// endpoint) and role (`keyfob eks-token`). `#` joins the parts: no profile name, cluster
    /// name, region or role ARN that keyfob accepts holds one.
    pub fn eks_token(profile: &str, cluster: &str, region: &str, role_arn: Option<&str>) -> String {
        match role_arn {
            Some(role) => format!("eks-token/{profile}#{cluster}#{region}#{role}"),
            None => format!("eks-token/{profile}#{cluster}#{region}"),
        }
    }
    /// Whether `key` is one of `profile`'s EKS tokens.
    pub fn is_eks_token_of(key: &str, profile: &str) -> bool {
        key.strip_prefix("eks-token/")
            .and_then(|k| k.strip_prefix(profile))
            .is_some_and(|rest| rest.starts_with('#'))
    }
    /// Splits a key into its kind and name.
    pub fn split(key: &str) -> (&str, &str) {
        key.split_once('/').unwrap_or(("other", key))
    }
}

impl crate::error::UserError for StoreError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_entry_messages_never_quote_the_entry() {
        // serde_json's own message does quote it: the reason this test exists.
        let raw = serde_json::from_str::<crate::Credentials>(r#""hunter2-plaintext-secret""#);
        assert!(raw.unwrap_err().to_string().contains("hunter2"));
        for text in [
            r#""hunter2-plaintext-secret""#,
            r#"{"access_key_id": "AKIA", "secret_access_key": ["hunter2-plaintext-secret"]}"#,
            r#"{"access_key_id": "hunter2-plaintext-secret""#,
            "hunter2-plaintext-secret",
        ] {
            let e = serde_json::from_str::<crate::Credentials>(text).unwrap_err();
            let reason = json_problem(&e);
            assert!(!reason.contains("hunter2"), "{reason}");
            let err = StoreError::Corrupt {
                key: "creds/p".into(),
                reason,
            };
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }
}
