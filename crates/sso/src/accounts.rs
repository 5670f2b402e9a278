//! Every account and role the signed-in user can reach: all pages of `ListAccounts`, then all
//! pages of `ListAccountRoles` for each account, a bounded number in flight, with backoff on
//! throttling and server errors.

use crate::SsoContext;
use crate::clients;
use crate::error::{Service, SsoError};
use crate::refresh::{refresh_rejected, valid_token};
use crate::session::SsoSessionConfig;
use crate::timing::Backoff;
use crate::token::SsoToken;
use aws_sdk_sso::operation::list_account_roles::ListAccountRolesError;
use aws_sdk_sso::operation::list_accounts::ListAccountsError;
use chrono::Duration;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Page size asked for (the API's maximum).
const PAGE_SIZE: i32 = 100;

/// An account and the roles (permission sets) the user has in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The 12-digit account id.
    pub account_id: String,
    /// Its display name.
    pub account_name: String,
    /// Its root email address, if the API gave one.
    pub email: Option<String>,
    /// Role names, sorted.
    pub roles: Vec<String>,
}

/// How far the listing has got, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Accounts whose roles are listed.
    pub accounts_done: usize,
    /// Accounts in all (known once `ListAccounts` is done).
    pub accounts_total: usize,
}

/// Knobs of the listing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ListOptions {
    /// `ListAccountRoles` calls in flight at once.
    pub concurrency: usize,
    /// Retry schedule; `None`: the default, scaled by `KEYFOB_TEST_POLL_SCALE` when the portal
    /// endpoint is on loopback.
    pub backoff: Option<Backoff>,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            concurrency: 16,
            backoff: None,
        }
    }
}

/// Lists every account and its roles, sorted by account name then id. `progress` is called
/// once the accounts are known and after each account's roles.
pub async fn list_accounts(
    ctx: &SsoContext<'_>,
    cfg: &SsoSessionConfig,
    opts: &ListOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<Account>, SsoError> {
    // A few minutes are enough for a listing; no need to refresh a token that has them.
    let token = valid_token(ctx, cfg, Duration::minutes(5)).await?;
    let (client, endpoint) = clients::portal(ctx.env, &cfg.region, true).await;
    let backoff = opts
        .backoff
        .unwrap_or_else(|| Backoff::from_env(ctx.env, &endpoint));
    let endpoint = Arc::<str>::from(endpoint);
    let run = |token: &SsoToken| Listing {
        client: client.clone(),
        endpoint: endpoint.clone(),
        access: Arc::from(token.access_token.expose()),
        backoff,
        concurrency: opts.concurrency,
    };
    match run(&token).list(cfg, progress).await {
        // Refused although not expired by the clock: refresh once and list again.
        Err(SsoError::SessionExpired { .. }) => {
            let fresh = refresh_rejected(ctx, cfg, &token).await?;
            run(&fresh).list(cfg, progress).await
        }
        other => other,
    }
}

/// One listing with one token.
struct Listing {
    client: aws_sdk_sso::Client,
    endpoint: Arc<str>,
    access: Arc<str>,
    backoff: Backoff,
    concurrency: usize,
}

impl Listing {
    async fn list(
        &self,
        cfg: &SsoSessionConfig,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<Account>, SsoError> {
        let Listing {
            client,
            endpoint,
            access,
            backoff,
            concurrency,
        } = self;
        let (backoff, concurrency) = (*backoff, *concurrency);

        let mut accounts = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = with_retry(&backoff, "ListAccounts", || {
                let req = client
                    .list_accounts()
                    .access_token(access.as_ref())
                    .max_results(PAGE_SIZE)
                    .set_next_token(next.clone());
                let endpoint = endpoint.clone();
                async move {
                    req.send().await.map_err(|e| {
                        if let Some(ListAccountsError::UnauthorizedException(_)) =
                            e.as_service_error()
                        {
                            return cfg.expired();
                        }
                        SsoError::from_sdk(Service::Portal, "ListAccounts", &endpoint, e)
                    })
                }
            })
            .await?;
            for a in page.account_list() {
                let Some(id) = a.account_id() else { continue };
                accounts.push(Account {
                    account_id: id.to_owned(),
                    account_name: a.account_name().unwrap_or(id).to_owned(),
                    email: a.email_address().map(str::to_owned),
                    roles: Vec::new(),
                });
            }
            next = page
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if next.is_none() {
                break;
            }
        }
        accounts.sort_by(|a, b| {
            (a.account_name.as_str(), a.account_id.as_str())
                .cmp(&(b.account_name.as_str(), b.account_id.as_str()))
        });
        accounts.dedup_by(|a, b| a.account_id == b.account_id);
        let total = accounts.len();
        tracing::debug!(accounts = total, "listed accounts");
        progress(Progress {
            accounts_done: 0,
            accounts_total: total,
        });

        let limit = Arc::new(Semaphore::new(concurrency.max(1)));
        let shared_cfg = Arc::new(cfg.clone());
        let mut tasks = JoinSet::new();
        for (index, account) in accounts.iter().enumerate() {
            let (client, access, endpoint, limit) = (
                client.clone(),
                access.clone(),
                endpoint.clone(),
                limit.clone(),
            );
            let account_id = account.account_id.clone();
            let cfg = shared_cfg.clone();
            tasks.spawn(async move {
                let _permit = limit
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let roles =
                    list_roles(&client, &access, &endpoint, &account_id, backoff, &cfg).await;
                (index, roles)
            });
        }
        let mut done = 0;
        while let Some(joined) = tasks.join_next().await {
            let (index, roles) = joined.map_err(|e| SsoError::Unreachable {
                endpoint: endpoint.to_string(),
                reason: format!("a listing task failed: {e}"),
            })?;
            // Dropping `tasks` on the error path aborts the calls still in flight.
            let mut roles = roles?;
            roles.sort();
            roles.dedup();
            accounts[index].roles = roles;
            done += 1;
            progress(Progress {
                accounts_done: done,
                accounts_total: total,
            });
        }
        Ok(accounts)
    }
}

async fn list_roles(
    client: &aws_sdk_sso::Client,
    access: &str,
    endpoint: &str,
    account_id: &str,
    backoff: Backoff,
    cfg: &SsoSessionConfig,
) -> Result<Vec<String>, SsoError> {
    let mut roles = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = with_retry(&backoff, "ListAccountRoles", || {
            let req = client
                .list_account_roles()
                .access_token(access)
                .account_id(account_id)
                .max_results(PAGE_SIZE)
                .set_next_token(next.clone());
            async move {
                req.send().await.map_err(|e| {
                    if let Some(ListAccountRolesError::UnauthorizedException(_)) =
                        e.as_service_error()
                    {
                        return cfg.expired();
                    }
                    SsoError::from_sdk(Service::Portal, "ListAccountRoles", endpoint, e)
                })
            }
        })
        .await?;
        roles.extend(
            page.role_list()
                .iter()
                .filter_map(|r| r.role_name())
                .map(str::to_owned),
        );
        next = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if next.is_none() {
            return Ok(roles);
        }
    }
}

/// Runs `call` until it succeeds, fails for good, or runs out of attempts.
async fn with_retry<T, F, Fut>(backoff: &Backoff, what: &str, mut call: F) -> Result<T, SsoError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SsoError>>,
{
    let mut retry = 0;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && retry + 1 < backoff.max_attempts => {
                let wait = backoff.jittered(retry);
                tracing::debug!(call = what, retry, wait_ms = wait.as_millis(), error = %e, "retrying");
                tokio::time::sleep(wait).await;
                retry += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::time::Duration as StdDuration;

    fn throttled() -> SsoError {
        SsoError::Service {
            service: Service::Portal,
            operation: "ListAccounts",
            code: "TooManyRequestsException".into(),
            message: "slow down".into(),
            status: Some(429),
        }
    }

    fn fast() -> Backoff {
        Backoff {
            base: StdDuration::from_millis(1),
            cap: StdDuration::from_millis(2),
            max_attempts: 4,
            scale: 1.0,
        }
    }

    #[tokio::test]
    async fn retries_throttling_then_succeeds() {
        let calls = Cell::new(0);
        let out = with_retry(&fast(), "t", || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { if n < 3 { Err(throttled()) } else { Ok(n) } }
        })
        .await
        .unwrap();
        assert_eq!(out, 3);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let calls = Cell::new(0);
        let err = with_retry(&fast(), "t", || {
            calls.set(calls.get() + 1);
            async { Err::<(), _>(throttled()) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls.get(), 4);
        assert_eq!(err.code(), Some("TooManyRequestsException"));
    }

    #[tokio::test]
    async fn does_not_retry_what_will_not_change() {
        let calls = Cell::new(0);
        let _ = with_retry(&fast(), "t", || {
            calls.set(calls.get() + 1);
            async {
                Err::<(), _>(SsoError::SessionExpired {
                    what: "session s".into(),
                    login: "keyfob login --sso-session s".into(),
                })
            }
        })
        .await;
        assert_eq!(calls.get(), 1);
    }
}
