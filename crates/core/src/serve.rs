//! Serving a profile's credentials from the keychain, refreshing through its source when they
//! are close to expiry, with one refresh for any number of concurrent callers.

use crate::credentials::{Credentials, ExpiryPolicy};
use crate::env::Clock;
use crate::lock::{FileLock, lock_path};
use crate::source::{CredentialSource, SourceError};
use crate::store::{SessionStore, SessionStoreExt, StoreError, keys};
use std::path::Path;

/// Why credentials could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The keychain failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The lock file could not be taken.
    #[error("cannot lock {path}: {reason}")]
    Lock {
        /// The lock file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Where a credential answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The keychain, still fresh.
    Cache,
    /// A refresh that another process made while this one waited for the lock.
    CacheAfterWait,
    /// A refresh this process made.
    Refreshed,
}

/// The shared parts a request needs.
pub struct Context<'a> {
    /// The keychain.
    pub store: &'a dyn SessionStore,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// keyfob's cache directory (lock files).
    pub cache_dir: &'a Path,
}

/// Credentials for `profile`: from the keychain when outside the refresh window, else fetched
/// from `source` under the profile's lock (looking again after the lock is taken, so that of
/// many concurrent callers only the first refreshes).
pub async fn credentials<S: CredentialSource>(
    ctx: &Context<'_>,
    profile: &str,
    policy: ExpiryPolicy,
    source: &S,
) -> Result<(Credentials, Origin), ServeError> {
    let key = keys::credentials(profile);
    if let Some(c) = cached(ctx, &key, policy)? {
        tracing::debug!(profile, "credentials served from the keychain");
        return Ok((c, Origin::Cache));
    }
    let _guard = lock_profile(ctx, profile)?;
    if let Some(c) = cached(ctx, &key, policy)? {
        tracing::debug!(profile, "credentials refreshed by another process");
        return Ok((c, Origin::CacheAfterWait));
    }
    tracing::debug!(profile, "refreshing credentials");
    let fresh = source.fetch().await?;
    put(ctx, profile, &fresh)?;
    Ok((fresh, Origin::Refreshed))
}

fn cached(
    ctx: &Context<'_>,
    key: &str,
    policy: ExpiryPolicy,
) -> Result<Option<Credentials>, StoreError> {
    let found: Option<Credentials> = match ctx.store.get_json(key) {
        Ok(v) => v,
        // A corrupt cache entry is only a cache miss: the refresh overwrites it.
        Err(StoreError::Corrupt { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(found.filter(|c| !policy.needs_refresh(c, ctx.clock.now())))
}

/// Fetches new credentials for `profile` now, whatever the cache holds (a deliberate login),
/// under the same lock as [`credentials`], and stores them.
pub async fn refresh_now<S: CredentialSource>(
    ctx: &Context<'_>,
    profile: &str,
    source: &S,
) -> Result<Credentials, ServeError> {
    let _guard = lock_profile(ctx, profile)?;
    let fresh = source.fetch().await?;
    put(ctx, profile, &fresh)?;
    Ok(fresh)
}

/// Stores credentials that a login produced outside any [`CredentialSource`] (a SAML sign-in
/// with a role picker), under the same lock that refreshes take.
pub fn store_login(
    ctx: &Context<'_>,
    profile: &str,
    creds: &Credentials,
) -> Result<(), ServeError> {
    let _guard = lock_profile(ctx, profile)?;
    put(ctx, profile, creds)
}

/// Takes `profile`'s refresh lock; it is held until the guard is dropped.
fn lock_profile(ctx: &Context<'_>, profile: &str) -> Result<FileLock, ServeError> {
    let path = lock_path(ctx.cache_dir, "profile", profile);
    FileLock::acquire(&path).map_err(|e| ServeError::Lock {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Caches temporary credentials (long-term keys have their own entry and are never cached here).
fn put(ctx: &Context<'_>, profile: &str, creds: &Credentials) -> Result<(), ServeError> {
    if creds.expiration.is_some() {
        ctx.store.put_json(&keys::credentials(profile), creds)?;
    }
    Ok(())
}
