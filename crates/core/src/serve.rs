//! Serving a profile's credentials from the keychain, refreshing through its source when they
//! are close to expiry, with one refresh for any number of concurrent callers.
//!
//! Every cached entry carries the [`Fingerprint`] of the configuration that made it; an entry
//! whose fingerprint differs from the profile's current one is a miss. Every wait is bounded:
//! a refresh gets [`REFRESH_BUDGET`], a caller queued behind it waits at most [`LOCK_WAIT`], and
//! callers queued behind a refresh that failed report that failure instead of trying again.

use crate::credentials::{Credentials, ExpiryPolicy};
use crate::env::Clock;
use crate::lock::{FileLock, LockError, lock_path};
use crate::source::{CredentialSource, Fingerprint, SourceError};
use crate::store::{SessionStore, SessionStoreExt, StoreError, keys};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// The longest one refresh may take, network calls and retries included. SDKs give a
/// credential process about a minute in all; a refresh must fail with a clear line before they
/// give up on it.
pub const REFRESH_BUDGET: Duration = Duration::from_secs(40);

/// The longest a caller waits for the profile's lock: one refresh, and a little more.
pub const LOCK_WAIT: Duration = Duration::from_secs(45);

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
    #[error("cannot refresh profile {profile}")]
    Lock {
        /// The profile.
        profile: String,
        /// Why.
        source: LockError,
    },
    /// The refresh took longer than it may.
    #[error(
        "refreshing the credentials of profile {profile} took longer than {} s; the endpoint did not answer in time",
        budget.as_secs()
    )]
    TimedOut {
        /// The profile.
        profile: String,
        /// The time it was given.
        budget: Duration,
    },
    /// The refresh this caller waited for failed.
    #[error("{message}")]
    SharedFailure {
        /// What the process that held the lock reported.
        message: String,
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

/// What the keychain holds for a profile: credentials and the fingerprint of the configuration
/// that made them. Entries without a fingerprint (older keyfob) do not parse and are misses.
#[derive(Serialize, Deserialize)]
struct Entry {
    fingerprint: Fingerprint,
    credentials: Credentials,
}

/// Credentials for `profile`: from the keychain when outside the refresh window and made for
/// the source's current configuration, else fetched from `source` under the profile's lock
/// (looking again after the lock is taken, so that of many concurrent callers only the first
/// refreshes).
pub async fn credentials<S: CredentialSource>(
    ctx: &Context<'_>,
    profile: &str,
    policy: ExpiryPolicy,
    source: &S,
) -> Result<(Credentials, Origin), ServeError> {
    let fingerprint = source.fingerprint();
    if let Some(c) = cached(ctx, profile, &fingerprint, policy)? {
        tracing::debug!(profile, "credentials served from the keychain");
        return Ok((c, Origin::Cache));
    }
    let started = ctx.clock.now();
    let mut guard = lock_profile(ctx, profile)?;
    if let Some(c) = cached(ctx, profile, &fingerprint, policy)? {
        tracing::debug!(profile, "credentials refreshed by another process");
        return Ok((c, Origin::CacheAfterWait));
    }
    // The refresh this caller queued behind failed: one failure for all, not one per caller.
    if let Some(note) = guard.previous_failure().filter(|n| n.at >= started) {
        tracing::debug!(profile, "the refresh this call waited for failed");
        // Taking the lock replaced the note with this process's pid: leave it for the next
        // caller in the queue.
        guard.record_failure(note.at, &note.message);
        return Err(ServeError::SharedFailure {
            message: note.message,
        });
    }
    tracing::debug!(profile, "refreshing credentials");
    match fetch_within_budget(profile, source).await {
        Ok(fresh) => {
            put(ctx, profile, &fingerprint, &fresh)?;
            Ok((fresh, Origin::Refreshed))
        }
        Err(e) => {
            guard.record_failure(ctx.clock.now(), &failure_line(&e));
            Err(e)
        }
    }
}

/// The line the callers queued behind a failed refresh report: the error and its hint.
fn failure_line(e: &ServeError) -> String {
    let line = crate::error::one_line(e);
    match e {
        ServeError::Source(SourceError {
            hint: Some(hint), ..
        }) if !line.contains(hint.as_str()) => format!("{line}; run: {hint}"),
        _ => line,
    }
}

async fn fetch_within_budget<S: CredentialSource>(
    profile: &str,
    source: &S,
) -> Result<Credentials, ServeError> {
    match tokio::time::timeout(REFRESH_BUDGET, source.fetch()).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ServeError::TimedOut {
            profile: profile.to_owned(),
            budget: REFRESH_BUDGET,
        }),
    }
}

/// The cached credentials of `profile` if they were made for `fingerprint` and are outside the
/// refresh window at the context's clock. A corrupt or outdated entry is a miss.
pub fn cached(
    ctx: &Context<'_>,
    profile: &str,
    fingerprint: &Fingerprint,
    policy: ExpiryPolicy,
) -> Result<Option<Credentials>, StoreError> {
    let found: Option<Entry> = match ctx.store.get_json(&keys::credentials(profile)) {
        Ok(v) => v,
        // A corrupt cache entry is only a cache miss: the refresh overwrites it.
        Err(StoreError::Corrupt { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(found
        .filter(|e| {
            let same = e.fingerprint == *fingerprint;
            if !same {
                tracing::debug!(
                    profile,
                    "cached credentials were made for another configuration"
                );
            }
            same
        })
        .map(|e| e.credentials)
        .filter(|c| !policy.needs_refresh(c, ctx.clock.now())))
}

/// The expiry of whatever `profile` has cached, whatever configuration made it (for `status`).
pub fn cached_expiry(
    store: &dyn SessionStore,
    profile: &str,
) -> Option<chrono::DateTime<chrono::Utc>> {
    store
        .get_json::<Entry>(&keys::credentials(profile))
        .ok()
        .flatten()
        .and_then(|e| e.credentials.expiration)
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
    put(ctx, profile, &source.fingerprint(), &fresh)?;
    Ok(fresh)
}

/// Stores credentials that a login produced outside any [`CredentialSource`] (a SAML sign-in
/// with a role picker) for the configuration `fingerprint` names, under the same lock that
/// refreshes take.
pub fn store_login(
    ctx: &Context<'_>,
    profile: &str,
    fingerprint: &Fingerprint,
    creds: &Credentials,
) -> Result<(), ServeError> {
    let _guard = lock_profile(ctx, profile)?;
    put(ctx, profile, fingerprint, creds)
}

/// Takes `profile`'s refresh lock, waiting at most [`LOCK_WAIT`]; it is held until the guard
/// is dropped.
fn lock_profile(ctx: &Context<'_>, profile: &str) -> Result<FileLock, ServeError> {
    let path = lock_path(ctx.cache_dir, "profile", profile);
    FileLock::acquire(&path, LOCK_WAIT).map_err(|source| ServeError::Lock {
        profile: profile.to_owned(),
        source,
    })
}

/// Caches temporary credentials (long-term keys have their own entry and are never cached here).
fn put(
    ctx: &Context<'_>,
    profile: &str,
    fingerprint: &Fingerprint,
    creds: &Credentials,
) -> Result<(), ServeError> {
    if creds.expiration.is_some() {
        ctx.store.put_json(
            &keys::credentials(profile),
            &Entry {
                fingerprint: fingerprint.clone(),
                credentials: creds.clone(),
            },
        )?;
    }
    Ok(())
}

/// The single-flight pattern of [`credentials`] for any other value keyfob keeps in the
/// keychain (an EKS token), for callers whose refresh is blocking code.
///
/// `lookup` reads the cache and returns a value only if it may be served (made for the current
/// configuration, not expired). On a miss the lock `kind`/`name` is taken, `lookup` runs again
/// (another process may have refreshed while this one waited), and only then `refresh` runs and
/// stores what it made — unless the refresh this caller queued behind failed, whose message is
/// reported instead, as [`credentials`] does. The lock wait is bounded by [`LOCK_WAIT`]; each
/// network call inside `refresh` must bring its own timeout. `profile` names the profile in
/// messages.
pub fn single_flight<T>(
    ctx: &Context<'_>,
    profile: &str,
    (kind, name): (&str, &str),
    lookup: impl Fn() -> Result<Option<T>, StoreError>,
    refresh: impl FnOnce() -> Result<T, ServeError>,
) -> Result<(T, Origin), ServeError> {
    if let Some(v) = lookup()? {
        return Ok((v, Origin::Cache));
    }
    let started = ctx.clock.now();
    let path = lock_path(ctx.cache_dir, kind, name);
    let mut guard = FileLock::acquire(&path, LOCK_WAIT).map_err(|source| ServeError::Lock {
        profile: profile.to_owned(),
        source,
    })?;
    if let Some(v) = lookup()? {
        return Ok((v, Origin::CacheAfterWait));
    }
    if let Some(note) = guard.previous_failure().filter(|n| n.at >= started) {
        guard.record_failure(note.at, &note.message);
        return Err(ServeError::SharedFailure {
            message: note.message,
        });
    }
    match refresh() {
        Ok(v) => Ok((v, Origin::Refreshed)),
        Err(e) => {
            guard.record_failure(ctx.clock.now(), &failure_line(&e));
            Err(e)
        }
    }
}

impl crate::error::UserError for ServeError {
    fn hint(&self) -> Option<String> {
        match self {
            ServeError::Source(e) => e.hint.clone(),
            _ => None,
        }
    }
}
