//! Every account and role the signed-in user can reach: all pages of `ListAccounts` and, as
//! each page comes in, all pages of `ListAccountRoles` for its accounts, a bounded number in
//! flight. The portal limits its request rate: a rate governor (`timing::Governor`) learns
//! that limit from its 429s and paces the calls (see there), throttled calls are retried until
//! an overall deadline ([`DEFAULT_DEADLINE`]) rather than a number of attempts, and other
//! transient failures (5xx, network) a bounded number of times.

use crate::SsoContext;
use crate::clients;
use crate::error::{Service, SsoError};
use crate::refresh::{refresh_rejected, valid_token};
use crate::session::SsoSessionConfig;
use crate::timing::{Backoff, Governor, poll_scale, scaled};
use crate::token::SsoToken;
use aws_sdk_sso::config::http::HttpResponse;
use aws_sdk_sso::operation::list_account_roles::ListAccountRolesError;
use aws_sdk_sso::operation::list_accounts::ListAccountsError;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Page size asked for (the API's maximum).
const PAGE_SIZE: i32 = 100;

/// How long a whole listing may take, throttling included: 10 minutes. At the 20 requests a
/// second IAM Identity Center documents for its APIs that is 12,000 calls, an organisation of
/// about 10,000 accounts (one `ListAccountRoles` call each, a `ListAccounts` page per 100); the
/// 1,000 accounts of the end-to-end test at 10 a second need 105 s. When it passes, the
/// listing ends with one line saying how far it got, and `populate` writes nothing.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);

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
    /// Accounts found so far: all of them once the last page of `ListAccounts` is in (roles
    /// are listed while later pages are still coming).
    pub accounts_total: usize,
}

/// Knobs of the listing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ListOptions {
    /// Most `ListAccountRoles` calls in flight at once (the rate governor paces them further
    /// once the portal throttles).
    pub concurrency: usize,
    /// Retry schedule; `None`: the default, scaled by `KEYFOB_TEST_POLL_SCALE` when the portal
    /// endpoint is on loopback.
    pub backoff: Option<Backoff>,
    /// How long the whole listing may take; `None`: [`DEFAULT_DEADLINE`], scaled like the
    /// backoff.
    pub deadline: Option<Duration>,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            concurrency: 16,
            backoff: None,
            deadline: None,
        }
    }
}

/// Lists every account and its roles, sorted by account name then id. `progress` is called
/// after each page of accounts and after each account's roles.
pub async fn list_accounts(
    ctx: &SsoContext<'_>,
    cfg: &SsoSessionConfig,
    opts: &ListOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<Account>, SsoError> {
    let (client, endpoint) = clients::portal(ctx.env, &cfg.region, true).await;
    let scale = poll_scale(ctx.env, &endpoint);
    let backoff = opts.backoff.unwrap_or(Backoff {
        scale,
        ..Backoff::default()
    });
    let limit = opts
        .deadline
        .unwrap_or_else(|| scaled(DEFAULT_DEADLINE, scale));
    // The token must last the whole listing: refresh one that would expire before the
    // deadline (a minute's margin), rather than be refused half-way.
    let window = chrono::Duration::from_std(limit).unwrap_or(chrono::Duration::MAX)
        + chrono::Duration::minutes(1);
    let token = valid_token(ctx, cfg, window).await?;
    let deadline = Instant::now() + limit;
    let governor = Arc::new(Governor::default());
    let endpoint = Arc::<str>::from(endpoint);
    let run = |token: &SsoToken| Listing {
        client: client.clone(),
        endpoint: endpoint.clone(),
        access: Arc::from(token.access_token.expose()),
        backoff,
        governor: governor.clone(),
        cfg: Arc::new(cfg.clone()),
    };
    let limits = Limits {
        concurrency: opts.concurrency,
        deadline,
        limit,
    };
    match run(&token).list(&limits, progress).await {
        // Refused although not expired by the clock: refresh once and list again.
        Err(SsoError::SessionExpired { .. }) => {
            let fresh = refresh_rejected(ctx, cfg, &token).await?;
            run(&fresh).list(&limits, progress).await
        }
        other => other,
    }
}

/// How much the listing may do and for how long.
struct Limits {
    concurrency: usize,
    deadline: Instant,
    limit: Duration,
}

/// One listing with one token; clones of its parts go into each call's task.
struct Listing {
    client: aws_sdk_sso::Client,
    endpoint: Arc<str>,
    access: Arc<str>,
    backoff: Backoff,
    governor: Arc<Governor>,
    cfg: Arc<SsoSessionConfig>,
}

/// What a task of the listing brings back.
enum Answer {
    /// A page of `ListAccounts`: its accounts and the token of the next page.
    Page(Result<(Vec<Account>, Option<String>), SsoError>),
    /// The roles of the account at this index.
    Roles(usize, Result<Vec<String>, SsoError>),
}

impl Listing {
    async fn list(
        &self,
        limits: &Limits,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<Account>, SsoError> {
        let in_flight = Arc::new(Semaphore::new(limits.concurrency.max(1)));
        // Dropping the set (on any early return) aborts every call still in flight.
        let mut tasks = JoinSet::new();
        tasks.spawn(self.page(None));
        let mut accounts: Vec<Account> = Vec::new();
        let mut seen = HashSet::new();
        let (mut all_found, mut roles_listed) = (false, 0);
        let mut reported = None;
        loop {
            let joined = match tokio::time::timeout_at(limits.deadline, tasks.join_next()).await {
                Ok(Some(joined)) => joined,
                Ok(None) => break,
                Err(_) => {
                    return Err(SsoError::ListingDeadline {
                        session: self.cfg.name.clone(),
                        limit: human(limits.limit),
                        accounts: accounts.len(),
                        all_found,
                        roles_listed,
                        throttled: self.governor.throttled_count(),
                    });
                }
            };
            let answer = joined.map_err(|e| SsoError::Unreachable {
                endpoint: self.endpoint.to_string(),
                reason: format!("a listing task failed: {e}"),
            })?;
            match answer {
                Answer::Page(page) => {
                    let (found, next) = page?;
                    for account in found {
                        if seen.insert(account.account_id.clone()) {
                            tasks.spawn(self.roles(
                                accounts.len(),
                                account.account_id.clone(),
                                in_flight.clone(),
                            ));
                            accounts.push(account);
                        }
                    }
                    if let Some(next) = next {
                        tasks.spawn(self.page(Some(next)));
                    } else {
                        all_found = true;
                        tracing::debug!(accounts = accounts.len(), "listed accounts");
                    }
                }
                Answer::Roles(index, roles) => {
                    let mut roles = roles?;
                    roles.sort();
                    roles.dedup();
                    accounts[index].roles = roles;
                    roles_listed += 1;
                }
            }
            let now = Progress {
                accounts_done: roles_listed,
                accounts_total: accounts.len(),
            };
            if reported != Some(now) {
                progress(now);
                reported = Some(now);
            }
        }
        tracing::debug!(
            accounts = accounts.len(),
            throttled = self.governor.throttled_count(),
            "listed accounts and roles"
        );
        accounts.sort_by(|a, b| {
            (a.account_name.as_str(), a.account_id.as_str())
                .cmp(&(b.account_name.as_str(), b.account_id.as_str()))
        });
        Ok(accounts)
    }

    /// The task that lists the page of accounts `next` points at (the first: `None`).
    fn page(&self, next: Option<String>) -> impl Future<Output = Answer> + Send + 'static {
        let (client, access, endpoint, governor, backoff, cfg) = self.parts();
        async move {
            let page = with_retry(&governor, &backoff, true, "ListAccounts", || {
                let req = client
                    .list_accounts()
                    .access_token(access.as_ref())
                    .max_results(PAGE_SIZE)
                    .set_next_token(next.clone());
                portal_request("ListAccounts", &endpoint, &cfg, req.send(), |e| {
                    matches!(e, ListAccountsError::UnauthorizedException(_))
                })
            })
            .await;
            Answer::Page(page.map(|page| {
                let accounts = page
                    .account_list()
                    .iter()
                    .filter_map(|a| {
                        let id = a.account_id()?;
                        Some(Account {
                            account_id: id.to_owned(),
                            account_name: a.account_name().unwrap_or(id).to_owned(),
                            email: a.email_address().map(str::to_owned),
                            roles: Vec::new(),
                        })
                    })
                    .collect();
                let next = page
                    .next_token()
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned);
                (accounts, next)
            }))
        }
    }

    /// The task that lists every page of the roles of the account at `index`, once one of
    /// `in_flight`'s permits is free.
    fn roles(
        &self,
        index: usize,
        account_id: String,
        in_flight: Arc<Semaphore>,
    ) -> impl Future<Output = Answer> + Send + 'static {
        let (client, access, endpoint, governor, backoff, cfg) = self.parts();
        async move {
            let _permit = in_flight
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let mut roles = Vec::new();
            let mut next: Option<String> = None;
            loop {
                let page = with_retry(&governor, &backoff, false, "ListAccountRoles", || {
                    let req = client
                        .list_account_roles()
                        .access_token(access.as_ref())
                        .account_id(&account_id)
                        .max_results(PAGE_SIZE)
                        .set_next_token(next.clone());
                    portal_request("ListAccountRoles", &endpoint, &cfg, req.send(), |e| {
                        matches!(e, ListAccountRolesError::UnauthorizedException(_))
                    })
                })
                .await;
                let page = match page {
                    Ok(page) => page,
                    Err(e) => return Answer::Roles(index, Err(e)),
                };
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
                    return Answer::Roles(index, Ok(roles));
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn parts(
        &self,
    ) -> (
        aws_sdk_sso::Client,
        Arc<str>,
        Arc<str>,
        Arc<Governor>,
        Backoff,
        Arc<SsoSessionConfig>,
    ) {
        (
            self.client.clone(),
            self.access.clone(),
            self.endpoint.clone(),
            self.governor.clone(),
            self.backoff,
            self.cfg.clone(),
        )
    }
}

/// A failed call, and how long the service asked to wait before the next try.
struct Failed {
    error: SsoError,
    retry_after: Option<Duration>,
}

/// One portal request for the retry loop: `send` makes it, and its error becomes a [`Failed`]
/// (`unauthorized` picks the answer that means the sign-in has ended).
fn portal_request<T, E>(
    operation: &'static str,
    endpoint: &Arc<str>,
    cfg: &Arc<SsoSessionConfig>,
    send: impl Future<Output = Result<T, aws_sdk_sso::error::SdkError<E, HttpResponse>>>,
    unauthorized: fn(&E) -> bool,
) -> impl Future<Output = Result<T, Failed>>
where
    E: aws_sdk_sso::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (endpoint, cfg) = (endpoint.clone(), cfg.clone());
    async move {
        send.await.map_err(|e| {
            let unauthorized = e.as_service_error().is_some_and(unauthorized);
            Failed::portal(operation, unauthorized, &endpoint, &cfg, e)
        })
    }
}

impl Failed {
    /// A portal call's failure: an `unauthorized` answer means the sign-in has ended (no
    /// retry); anything else carries the wait the service asked for.
    fn portal<E>(
        operation: &'static str,
        unauthorized: bool,
        endpoint: &str,
        cfg: &SsoSessionConfig,
        e: aws_sdk_sso::error::SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: aws_sdk_sso::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if unauthorized {
            return Self::from(cfg.expired());
        }
        Self {
            retry_after: retry_after(e.raw_response()),
            error: SsoError::from_sdk(Service::Portal, operation, endpoint, e),
        }
    }
}

impl From<SsoError> for Failed {
    fn from(error: SsoError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

/// The wait a throttled answer asks for: `x-amz-retry-after` (milliseconds, what the AWS SDKs
/// read), else `Retry-After` in seconds (an HTTP date is ignored).
fn retry_after(response: Option<&HttpResponse>) -> Option<Duration> {
    let headers = response?.headers();
    retry_after_in(|name| headers.get(name))
}

fn retry_after_in<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Option<Duration> {
    let number = |name: &str| header(name)?.trim().parse::<u64>().ok();
    number("x-amz-retry-after")
        .map(Duration::from_millis)
        .or_else(|| number("retry-after").map(Duration::from_secs))
}

/// Runs `call` until it succeeds or fails for good, each attempt started when `governor` lets
/// it (`urgent`: before the others). Throttling is retried for as long as the caller waits
/// (the listing's deadline ends it), after a jittered backoff and never sooner than the
/// service's `Retry-After`; other transient failures (5xx, network) at most
/// `backoff.max_attempts` times in all.
async fn with_retry<T, F, Fut>(
    governor: &Governor,
    backoff: &Backoff,
    urgent: bool,
    what: &str,
    mut call: F,
) -> Result<T, SsoError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failed>>,
{
    let (mut throttled, mut failed) = (0u32, 0u32);
    loop {
        let ticket = governor.start(urgent).await;
        match call().await {
            Ok(v) => {
                governor.succeeded();
                return Ok(v);
            }
            Err(Failed { error, retry_after }) if error.is_throttling() => {
                governor.throttled(ticket);
                let wait = backoff
                    .jittered(throttled)
                    .max(retry_after.unwrap_or_default());
                tracing::debug!(call = what, throttled, wait_ms = wait.as_millis(), retry_after_ms = ?retry_after.map(|d| d.as_millis()), "throttled; retrying");
                throttled = throttled.saturating_add(1);
                tokio::time::sleep(wait).await;
            }
            Err(Failed { error, .. })
                if error.is_retryable() && failed + 1 < backoff.max_attempts =>
            {
                let wait = backoff.jittered(failed);
                tracing::debug!(call = what, retry = failed, wait_ms = wait.as_millis(), error = %error, "retrying");
                failed += 1;
                tokio::time::sleep(wait).await;
            }
            Err(Failed { error, .. }) => return Err(error),
        }
    }
}

/// A deadline as the user reads it: `10 min`, `6 s`, `1.5 s`.
fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if d.as_secs() >= 60 && d.as_secs().is_multiple_of(60) && d.subsec_nanos() == 0 {
        format!("{} min", d.as_secs() / 60)
    } else if (secs - secs.round()).abs() < 0.05 {
        format!("{secs:.0} s")
    } else {
        format!("{secs:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn throttled() -> SsoError {
        SsoError::Service {
            service: Service::Portal,
            operation: "ListAccounts",
            code: "TooManyRequestsException".into(),
            message: "slow down".into(),
            status: Some(429),
        }
    }

    fn unavailable() -> SsoError {
        SsoError::Service {
            service: Service::Portal,
            operation: "ListAccounts",
            code: "HTTP 503".into(),
            message: "down".into(),
            status: Some(503),
        }
    }

    fn fast() -> Backoff {
        Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            max_attempts: 4,
            scale: 1.0,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_throttling_then_succeeds() {
        let governor = Governor::default();
        let calls = Cell::new(0);
        let out = with_retry(&governor, &fast(), false, "t", || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(Failed::from(throttled()))
                } else {
                    Ok(n)
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(out, 3);
        assert_eq!(governor.throttled_count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_never_runs_out_of_attempts() {
        // Four attempts for a server error, but throttling goes on as long as the caller
        // waits: 30 429s (a minute of pacing at the slowest rate, on paused time), then the
        // answer.
        let governor = Governor::default();
        let calls = Cell::new(0);
        let out = with_retry(&governor, &fast(), false, "t", || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n <= 30 {
                    Err(Failed::from(throttled()))
                } else {
                    Ok(n)
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(out, 31);
    }

    #[tokio::test(start_paused = true)]
    async fn server_errors_give_up_after_max_attempts() {
        let calls = Cell::new(0);
        let err = with_retry(&Governor::default(), &fast(), false, "t", || {
            calls.set(calls.get() + 1);
            async { Err::<(), _>(Failed::from(unavailable())) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls.get(), 4);
        assert_eq!(err.code(), Some("HTTP 503"));
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_what_will_not_change() {
        let calls = Cell::new(0);
        let _ = with_retry(&Governor::default(), &fast(), false, "t", || {
            calls.set(calls.get() + 1);
            async {
                Err::<(), _>(Failed::from(SsoError::SessionExpired {
                    what: "session s".into(),
                    login: "keyfob login --sso-session s".into(),
                }))
            }
        })
        .await;
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_is_waited_out_whatever_the_backoff_says() {
        let calls = Cell::new(0);
        let started = Instant::now();
        with_retry(&Governor::default(), &fast(), false, "t", || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(Failed {
                        error: throttled(),
                        retry_after: Some(Duration::from_millis(40)),
                    })
                } else {
                    Ok(())
                }
            }
        })
        .await
        .unwrap();
        // Two waits of at least 40 ms (the backoff alone would be 1–2 ms).
        assert!(started.elapsed() >= Duration::from_millis(80));
    }

    #[test]
    fn retry_after_reads_the_milliseconds_header_first() {
        let headers = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
        };
        assert_eq!(
            retry_after_in(headers(&[
                ("x-amz-retry-after", "1500"),
                ("retry-after", "2")
            ])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after_in(headers(&[("retry-after", " 3 ")])),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after_in(headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")])),
            None
        );
        assert_eq!(
            retry_after_in(headers(&[("x-amz-retry-after", "-5")])),
            None
        );
        assert_eq!(retry_after_in(headers(&[])), None);
    }

    #[test]
    fn deadlines_read_as_minutes_or_seconds() {
        assert_eq!(human(DEFAULT_DEADLINE), "10 min");
        assert_eq!(human(scaled(DEFAULT_DEADLINE, 0.01)), "6 s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human(Duration::from_secs(90)), "90 s");
    }

    #[test]
    fn the_deadline_error_says_how_far_the_listing_got() {
        let e = SsoError::ListingDeadline {
            session: "acme".into(),
            limit: "10 min".into(),
            accounts: 1000,
            all_found: true,
            roles_listed: 412,
            throttled: 97,
        };
        assert_eq!(
            e.to_string(),
            "listing accounts and roles did not finish within 10 min (the portal throttled 97 calls): found 1000 accounts and the roles of 412; nothing was written; run keyfob populate --sso-session acme again later"
        );
        assert_eq!(
            e.hint().as_deref(),
            Some("keyfob populate --sso-session acme")
        );
        let e = SsoError::ListingDeadline {
            session: "acme".into(),
            limit: "6 s".into(),
            accounts: 20,
            all_found: false,
            roles_listed: 0,
            throttled: 0,
        };
        assert_eq!(
            e.to_string(),
            "listing accounts and roles did not finish within 6 s: found 20 accounts so far and the roles of 0; nothing was written; run keyfob populate --sso-session acme again later"
        );
    }
}
