//! What the fake serves and how it misbehaves: the organisation, lifetimes and scripts.
//!
//! Every struct here is `serde` with `#[serde(default, deny_unknown_fields)]`, so
//! `POST /_fake/config` can send a partial JSON patch and a typo is a 400, not a no-op.

use serde::{Deserialize, Serialize};

use super::state::Op;

/// Role names handed out by [`Org::generated`], in order; more roles become `Role7`, `Role8`, ….
const ROLE_NAMES: [&str; 6] = ["Admin", "ReadOnly", "Dev", "Billing", "Audit", "Ops"];

/// Everything the fake can be told: the organisation, lifetimes, latency and failure scripts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FakeConfig {
    /// The accounts and roles the signed-in user is assigned to.
    pub org: Org,
    /// The user's name: the session name in the ARN of role credentials.
    pub user_name: String,
    /// Most items per page of `ListAccounts` / `ListAccountRoles` (a smaller `max_result` wins).
    pub page_size: u32,
    /// Lifetime of role credentials and of STS credentials when no `DurationSeconds` is sent.
    pub credential_lifetime_secs: i64,
    /// Lifetime of OIDC access tokens (`expiresIn`).
    pub token_lifetime_secs: i64,
    /// Lifetime of refresh tokens.
    pub refresh_token_lifetime_secs: i64,
    /// Lifetime of client registrations (`clientSecretExpiresAt`).
    pub registration_lifetime_secs: i64,
    /// Delay added to every AWS call (not to `/_fake/*`), in milliseconds.
    pub latency_ms: u64,
    /// Answer 429 `TooManyRequestsException` (STS: `Throttling`) to every nth call of
    /// [`Self::throttled_ops`], counted together; 0 turns it off.
    pub throttle_every_n: u32,
    /// The operations [`Self::throttle_every_n`] applies to: by default the two list calls,
    /// which `populate` makes by the thousand.
    pub throttled_ops: Vec<Op>,
    /// A token bucket in front of some operations, as the real service limits its request
    /// rate; `None` (JSON `null`): no limit.
    pub rate_limit: Option<RateLimit>,
    /// Give a refresh token to clients registered with scopes or the `refresh_token` grant
    /// (as Identity Center does for sso-session clients) and to PKCE logins.
    pub issue_refresh_tokens: bool,
    /// A refresh grant returns a new refresh token and invalidates the one it used.
    pub rotate_refresh_tokens: bool,
    /// How the device authorization grant behaves.
    pub device: DeviceScript,
    /// How the authorization code (PKCE) grant behaves.
    pub pkce: PkceScript,
    /// How STS behaves.
    pub sts: StsScript,
    /// The long-lived IAM user whose keys STS accepts (for `GetSessionToken` and role chains).
    pub static_user: StaticUser,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            org: Org::generated(3, 3),
            user_name: "test-user".to_owned(),
            page_size: 20,
            credential_lifetime_secs: 3600,
            token_lifetime_secs: 8 * 3600,
            refresh_token_lifetime_secs: 90 * 24 * 3600,
            registration_lifetime_secs: 90 * 24 * 3600,
            latency_ms: 0,
            throttle_every_n: 0,
            throttled_ops: vec![Op::ListAccounts, Op::ListAccountRoles],
            rate_limit: None,
            issue_refresh_tokens: true,
            rotate_refresh_tokens: true,
            device: DeviceScript::default(),
            pkce: PkceScript::default(),
            sts: StsScript::default(),
            static_user: StaticUser::default(),
        }
    }
}

impl FakeConfig {
    /// The default configuration serving `org`.
    pub fn with_org(org: Org) -> Self {
        Self {
            org,
            ..Self::default()
        }
    }
}

/// A token bucket shared by [`RateLimit::ops`]: it holds up to `burst` tokens (full at the
/// start and after a reset), gains `rate` tokens a second, and each call of those operations
/// takes one. A call that finds less than a whole token is answered 429
/// `TooManyRequestsException` (STS: `Throttling`), takes nothing, and is counted as
/// [`super::THROTTLED`]. The bucket is checked when the call arrives, before
/// [`FakeConfig::latency_ms`], as a service's front door does.
///
/// By default it covers the three portal calls that carry the user's token, in one bucket: IAM
/// Identity Center's quotas page gives its (admin) APIs one collective limit of 20 requests a
/// second rather than one per operation, and says nothing separate about the portal, so the
/// fake assumes the portal counts the same way: a `credential-process` made while `populate`
/// runs spends from the same budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimit {
    /// Tokens gained per second: the sustained requests per second (0: none after the burst).
    pub rate: f64,
    /// The most tokens the bucket holds: how many calls may arrive at once after a quiet spell.
    pub burst: u32,
    /// Tell the throttled caller when the next token is due: `x-amz-retry-after` in
    /// milliseconds and `Retry-After` in whole seconds (rounded up). A caller that comes back
    /// with the same request sooner is counted as [`super::RETRIED_TOO_SOON`].
    pub retry_after: bool,
    /// The operations that take from the bucket.
    pub ops: Vec<Op>,
}

impl Default for RateLimit {
    /// 20 requests a second, bursts of 10, on `ListAccounts`, `ListAccountRoles` and
    /// `GetRoleCredentials`, without `Retry-After`.
    fn default() -> Self {
        Self {
            rate: 20.0,
            burst: 10,
            retry_after: false,
            ops: vec![
                Op::ListAccounts,
                Op::ListAccountRoles,
                Op::GetRoleCredentials,
            ],
        }
    }
}

impl RateLimit {
    /// `rate` requests a second in bursts of up to `burst`, on the default operations.
    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            rate,
            burst,
            ..Self::default()
        }
    }

    /// The least time `calls` calls can take through a bucket that starts full, however they
    /// are made: `(calls - burst) / rate` seconds.
    pub fn floor_secs(&self, calls: u64) -> f64 {
        // Counts far below 2^52: the conversions are exact.
        #[allow(clippy::cast_precision_loss)]
        let beyond = calls.saturating_sub(u64::from(self.burst)) as f64;
        beyond / self.rate
    }
}

/// The accounts (and their roles) assigned to the signed-in user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Org {
    /// Accounts in the order `ListAccounts` returns them.
    pub accounts: Vec<Account>,
}

impl Org {
    /// An organisation of exactly these accounts.
    pub fn new(accounts: Vec<Account>) -> Self {
        Self { accounts }
    }

    /// `accounts` accounts (`acct-0001` with id `111100000001`, …), each with the first
    /// `roles` of `Admin`, `ReadOnly`, `Dev`, `Billing`, `Audit`, `Ops`, `Role7`, ….
    pub fn generated(accounts: u32, roles: u32) -> Self {
        let role_names: Vec<String> = (0..roles)
            .map(|r| {
                ROLE_NAMES
                    .get(r as usize)
                    .map_or_else(|| format!("Role{}", r + 1), |name| (*name).to_owned())
            })
            .collect();
        Self {
            accounts: (1..=accounts)
                .map(|i| Account {
                    id: format!("{}", 111_100_000_000_u64 + u64::from(i)),
                    name: format!("acct-{i:04}"),
                    email: format!("acct-{i:04}@example.com"),
                    roles: role_names.clone(),
                })
                .collect(),
        }
    }

    /// The account with this 12-digit id.
    pub fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }
}

/// One AWS account and the roles the user may take in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Account {
    /// The 12-digit account id.
    pub id: String,
    /// The display name (`accountName`).
    pub name: String,
    /// The root email address (`emailAddress`).
    pub email: String,
    /// Permission set names assigned in this account, in `ListAccountRoles` order.
    pub roles: Vec<String>,
}

impl Account {
    /// An account with an `@example.com` email derived from its name.
    pub fn new(id: &str, name: &str, roles: &[&str]) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            email: format!("{name}@example.com"),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }
}

/// The device authorization grant's script, consulted on each `CreateToken` poll.
///
/// A poll answers, in this order: `slow_down` if it came too soon (`enforce_interval`),
/// `slow_down` while fewer than `slow_down_polls` were given, `authorization_pending` while
/// fewer than `pending_polls` were given, `expired_token` if `expire`, `authorization_pending`
/// until the user approves (`GET /verify`) unless `auto_approve`, `access_denied` if `deny`,
/// and otherwise the token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
// Independent knobs, each patched alone over HTTP: bools read best in `{"deny": true}`.
#[allow(clippy::struct_excessive_bools)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceScript {
    /// Approve without anyone visiting `verificationUriComplete`.
    pub auto_approve: bool,
    /// `authorization_pending` answers before the approval counts.
    pub pending_polls: u32,
    /// `slow_down` answers given first.
    pub slow_down_polls: u32,
    /// The user denies the request.
    pub deny: bool,
    /// The device code expires before it is approved.
    pub expire: bool,
    /// `interval` sent to the client, in seconds.
    pub interval_secs: i32,
    /// `expiresIn` of the device code, in seconds; polls after it get `expired_token`.
    pub expires_in_secs: i32,
    /// Answer `slow_down` to a poll that comes sooner after the last one than `interval_secs`
    /// plus 5 s for every `slow_down` already given (RFC 8628 §3.5), as Identity Center
    /// does; such polls are counted as `CreateToken.polled_too_fast`.
    pub enforce_interval: bool,
    /// The length of the enforced seconds, as a fraction of a real one: tests that run keyfob
    /// with `KEYFOB_TEST_POLL_SCALE=0.01` set `0.01` here, so the fake enforces the same
    /// (scaled) interval keyfob must keep.
    pub interval_scale: f64,
}

impl Default for DeviceScript {
    fn default() -> Self {
        Self {
            auto_approve: false,
            pending_polls: 0,
            slow_down_polls: 0,
            deny: false,
            expire: false,
            interval_secs: 1,
            expires_in_secs: 600,
            enforce_interval: true,
            interval_scale: 1.0,
        }
    }
}

/// The authorization code (PKCE) grant's script.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PkceScript {
    /// `/authorize` redirects back with `error=access_denied` instead of a code.
    pub deny: bool,
}

/// STS's script.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
// Independent knobs, each patched alone over HTTP.
#[allow(clippy::struct_excessive_bools)]
#[serde(default, deny_unknown_fields)]
pub struct StsScript {
    /// Every MFA `TokenCode` is wrong: `AccessDenied`.
    pub bad_mfa: bool,
    /// `GetSessionToken` and `AssumeRole` without `SerialNumber`/`TokenCode` are `AccessDenied`.
    pub require_mfa: bool,
    /// `AssumeRoleWithSAML` is `AccessDenied`.
    pub deny_saml: bool,
}

/// A long-lived IAM user's access key: the configured one is known to STS from the start,
/// others are registered with [`super::FakeAws::register_user`] (`POST /_fake/keys`). STS
/// checks the SigV4 signature of every call made with it against its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaticUser {
    /// `AKIA…` access key id.
    pub access_key_id: String,
    /// Its secret access key.
    pub secret_access_key: String,
    /// The user's account.
    pub account_id: String,
    /// The user's name, as in `arn:aws:iam::ACCOUNT:user/NAME`.
    pub user_name: String,
}

impl Default for StaticUser {
    fn default() -> Self {
        Self {
            access_key_id: "AKIAFAKESTATICUSER01".to_owned(),
            secret_access_key: "fakeStaticSecretAccessKey000000000000000".to_owned(),
            account_id: "123456789012".to_owned(),
            user_name: "static-user".to_owned(),
        }
    }
}

impl StaticUser {
    /// `arn:aws:iam::ACCOUNT:user/NAME`.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:user/{}", self.account_id, self.user_name)
    }
}
