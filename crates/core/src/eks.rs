//! EKS authentication tokens, made exactly as `aws eks get-token` and aws-iam-authenticator
//! make them, and cached in the keychain so that kubectl (which runs its exec plugin on every
//! call) pays a keychain read instead of a Python start-up and an STS signing.
//!
//! A token is `k8s-aws-v1.` and the unpadded base64url of a presigned STS `GetCallerIdentity`
//! URL (`X-Amz-Expires=60`) whose SigV4 signature also covers the header
//! `x-k8s-aws-id: CLUSTER`. The cluster's authenticator replays the URL at STS to learn who
//! signed it, and accepts it for 15 minutes after its `X-Amz-Date`; like the AWS CLI, keyfob
//! says it expires after 14 (or when the credentials that signed it do, if sooner), and serves
//! it from the keychain until then.
//!
//! A cached token is served only for the configuration that made it (trust rule "right
//! account"): its entry carries a [`Fingerprint`] of the profile, cluster, region, endpoint,
//! role ARN and [`configuration`] — what in the shared config decides whose credentials
//! sign. A cache hit builds no SDK or HTTP client and touches no network.

use crate::credentials::Credentials;
use crate::env::Env;
use crate::profile::{Plan, Profile, Profiles};
use crate::secret::Secret;
use crate::serve::{self, Context, Origin, ServeError};
use crate::source::{Fingerprint, SourceError};
use crate::store::{SessionStore, SessionStoreExt, StoreError, keys};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The signed header that names the cluster.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// `X-Amz-Expires` of the presigned URL, as the AWS CLI signs it.
pub const URL_EXPIRES: Duration = Duration::from_secs(60);
/// How long a token is said to be valid (and is served from the cache): a minute short of the
/// 15 minutes the cluster accepts it for, as the AWS CLI writes `expirationTimestamp`.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 60);
/// The session name of `--role-arn` role sessions, as `aws eks get-token --role-arn` names them.
pub const ROLE_SESSION_NAME: &str = "EKSGetTokenAuth";
/// The lock kind of token refreshes (a different lock from the profile's own, which the
/// credential request inside the refresh may take).
const LOCK_KIND: &str = "eks-token";

/// The `client.authentication.k8s.io` version of the `ExecCredential` printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `client.authentication.k8s.io/v1beta1` (the default, as in the AWS CLI).
    V1Beta1,
    /// `client.authentication.k8s.io/v1`.
    V1,
}

impl ApiVersion {
    /// The `apiVersion` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1Beta1 => "client.authentication.k8s.io/v1beta1",
            ApiVersion::V1 => "client.authentication.k8s.io/v1",
        }
    }

    /// The version kubectl asks for in `KUBERNETES_EXEC_INFO` (JSON with an `apiVersion`), if
    /// it is one keyfob speaks; the AWS CLI reads the same variable.
    pub fn from_exec_info(exec_info: &str) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_str(exec_info).ok()?;
        match v.get("apiVersion")?.as_str()? {
            "client.authentication.k8s.io/v1beta1" => Some(ApiVersion::V1Beta1),
            "client.authentication.k8s.io/v1" => Some(ApiVersion::V1),
            _ => None,
        }
    }
}

/// An argument that can never make a valid token. Checked before anything is read or stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// Not an EKS cluster name or id.
    #[error(
        "cluster name {0:?} cannot be used: EKS cluster names (and Outposts cluster ids) are 1 to 100 letters, digits, - and _, starting with a letter or digit"
    )]
    Cluster(String),
    /// Not a region name.
    #[error(
        "region {0:?} is not an AWS region name: use lower-case letters, digits and -, like eu-west-1"
    )]
    Region(String),
    /// Not an IAM role ARN.
    #[error(
        "role ARN {0:?} is not an IAM role ARN: use arn:PARTITION:iam::ACCOUNT:role/NAME, like arn:aws:iam::123456789012:role/Admin"
    )]
    RoleArn(String),
}

/// Checks a cluster name (or an Outposts cluster id).
pub fn validate_cluster(name: &str) -> Result<(), InputError> {
    let ok = (1..=100).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(InputError::Cluster(name.to_owned()))
    }
}

/// Checks a region name (it becomes part of the STS host name).
pub fn validate_region(region: &str) -> Result<(), InputError> {
    let ok = (1..=50).contains(&region.len())
        && region.starts_with(|c: char| c.is_ascii_lowercase())
        && !region.ends_with('-')
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(InputError::Region(region.to_owned()))
    }
}

/// Checks an IAM role ARN: `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
pub fn validate_role_arn(arn: &str) -> Result<(), InputError> {
    let err = || InputError::RoleArn(arn.to_owned());
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(err());
    };
    let name = resource.strip_prefix("role/").ok_or_else(err)?;
    let ok = !partition.is_empty()
        && partition
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-')
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && !name.is_empty()
        && !name.ends_with('/')
        && arn.len() <= 2048
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
    if ok { Ok(()) } else { Err(err()) }
}

/// The region a token is signed for, as the AWS CLI picks it: `--region`, else `AWS_REGION`,
/// else `AWS_DEFAULT_REGION`, else the profile's `region`; `None` means STS's global endpoint.
pub fn region(flag: Option<&str>, env: &Env, profile: Option<&Profile<'_>>) -> Option<String> {
    flag.map(str::to_owned)
        .or_else(|| env.get_non_empty("AWS_REGION"))
        .or_else(|| env.get_non_empty("AWS_DEFAULT_REGION"))
        .or_else(|| profile.and_then(|p| p.get("region")).map(str::to_owned))
        .map(|r| r.trim().to_owned())
}

/// The STS endpoint that configuration names for the URL, as the SDKs pick it: unless
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`, `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`,
/// else the profile's `endpoint_url`. `None`: STS's own endpoint for the region.
pub fn endpoint_override(env: &Env, profile: Option<&Profile<'_>>) -> Option<String> {
    if env
        .get_non_empty("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return None;
    }
    env.get_non_empty("AWS_ENDPOINT_URL_STS")
        .or_else(|| env.get_non_empty("AWS_ENDPOINT_URL"))
        .or_else(|| {
            profile
                .and_then(|p| p.get("endpoint_url"))
                .map(str::to_owned)
        })
        .map(|u| u.trim().to_owned())
}

/// Which cluster a token is for and where its URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The cluster name (or Outposts cluster id), signed as `x-k8s-aws-id`.
    pub cluster: String,
    /// The region; `None` signs for the global endpoint (`sts.amazonaws.com`, us-east-1).
    pub region: Option<String>,
    /// An endpoint that replaces STS's own (see [`endpoint_override`]).
    pub endpoint_url: Option<String>,
}

impl Target {
    /// The region in the signature's credential scope.
    pub fn signing_region(&self) -> &str {
        self.region.as_deref().unwrap_or("us-east-1")
    }

    /// The STS endpoint the URL points at, without a trailing `/`: the override, else what the
    /// SDK's own endpoint rules give for the region (regional; `sts.amazonaws.com` without one;
    /// `amazonaws.com.cn` and the other partitions' domains where they apply).
    pub fn sts_endpoint(&self) -> Result<String, SourceError> {
        use aws_sdk_sts::config::endpoint::{DefaultResolver, Params, ResolveEndpoint as _};
        if let Some(url) = &self.endpoint_url {
            return Ok(url.trim_end_matches('/').to_owned());
        }
        let params = Params::builder()
            .region(self.signing_region())
            .use_global_endpoint(self.region.is_none())
            .use_fips(false)
            .use_dual_stack(false)
            .build()
            .map_err(|e| SourceError::other(format!("no STS endpoint for the token: {e}")))?;
        // The default resolver answers at once; its future only fits the async interface.
        let endpoint = futures::executor::block_on(
            DefaultResolver::new().resolve_endpoint(&params),
        )
        .map_err(|e| {
            SourceError::other(format!(
                "no STS endpoint for region {}: {e}",
                self.signing_region()
            ))
        })?;
        Ok(endpoint.url().trim_end_matches('/').to_owned())
    }
}

/// A token and when keyfob says it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// `k8s-aws-v1.…`: whoever holds it can act as the signer on the cluster for 15 minutes.
    pub token: Secret,
    /// The `expirationTimestamp`, in whole seconds.
    pub expiration: DateTime<Utc>,
}

impl Token {
    /// The `ExecCredential` JSON kubectl reads, in the layout `aws eks get-token` (AWS CLI v2)
    /// prints: `kind`, `apiVersion`, `spec`, `status` {`expirationTimestamp`, `token`}.
    pub fn exec_credential(&self, api: ApiVersion) -> String {
        let s = |v: &str| serde_json::to_string(v).expect("a string serialises");
        format!(
            r#"{{"kind": "ExecCredential", "apiVersion": {}, "spec": {{}}, "status": {{"expirationTimestamp": {}, "token": {}}}}}"#,
            s(api.as_str()),
            s(&self
                .expiration
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            s(self.token.expose()),
        )
    }
}

/// Signs a token for `target` with `creds` at `now`.
pub fn sign(
    creds: &Credentials,
    target: &Target,
    now: DateTime<Utc>,
) -> Result<Token, SourceError> {
    let url = presigned_url(creds, target, now)?;
    let lifetime = chrono::Duration::from_std(TOKEN_LIFETIME).expect("14 minutes fit");
    let mut expiration = whole_seconds(now) + lifetime;
    if let Some(e) = creds.expiration {
        expiration = expiration.min(whole_seconds(e));
    }
    Ok(Token {
        token: Secret::new(token_for_url(&url)),
        expiration,
    })
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// The order botocore writes a presigned URL's signing parameters in; anything the signer adds
/// beyond these follows in its own order.
const PARAMETER_ORDER: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
];

/// The presigned `GetCallerIdentity` URL of a token, with its parameters in the order botocore
/// writes them. Signed by the AWS SDK's own SigV4 signer (`aws-sigv4`).
pub fn presigned_url(
    creds: &Credentials,
    target: &Target,
    at: DateTime<Utc>,
) -> Result<String, SourceError> {
    use aws_sigv4::http_request::{
        SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
    };
    use aws_sigv4::sign::v4;
    let base = format!(
        "{}/?Action=GetCallerIdentity&Version=2011-06-15",
        target.sts_endpoint()?
    );
    let identity = aws_credential_types::Credentials::new(
        &creds.access_key_id,
        creds.secret_access_key.expose(),
        creds.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        "keyfob",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(URL_EXPIRES);
    let failed = |e: &dyn std::fmt::Display| {
        SourceError::other(format!(
            "cannot sign the token for cluster {}: {e}",
            target.cluster
        ))
    };
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(target.signing_region())
        .name("sts")
        .time(at.into())
        .settings(settings)
        .build()
        .map_err(|e| failed(&e))?
        .into();
    let request = SignableRequest::new(
        "GET",
        base.as_str(),
        std::iter::once((CLUSTER_ID_HEADER, target.cluster.as_str())),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| failed(&e))?;
    let (instructions, _signature) = sign(request, &params).map_err(|e| failed(&e))?.into_parts();
    let (_headers, mut query) = instructions.into_parts();
    query.sort_by_key(|(k, _)| {
        PARAMETER_ORDER
            .iter()
            .position(|o| o == k)
            .unwrap_or(PARAMETER_ORDER.len())
    });
    let mut url = base;
    for (k, v) in &query {
        url.push('&');
        url.push_str(k);
        url.push('=');
        url.push_str(&percent_encode(v));
    }
    Ok(url)
}

/// Percent-encodes everything but SigV4's unreserved characters (`A-Z a-z 0-9 - _ . ~`), as
/// botocore's `quote(value, safe='-_.~')` does.
fn percent_encode(v: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `k8s-aws-v1.` and the unpadded base64url of `url`.
pub fn token_for_url(url: &str) -> String {
    use base64::Engine as _;
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    )
}

/// The URL inside a token (for tests and for `--verbose` checks); `None` if it is not one.
pub fn url_of_token(token: &str) -> Option<String> {
    use base64::Engine as _;
    let b64 = token.strip_prefix(TOKEN_PREFIX)?.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The profile keys that decide whose credentials a profile yields (the SDKs' and keyfob's
/// own), hashed into [`configuration`]. Secret values are not among them: the key id names the
/// key. Keys that only shape output (`output`, `cli_pager`, …) are left out, so editing them
/// keeps cached tokens.
const IDENTITY_KEYS: [&str; 30] = [
    "aws_access_key_id",
    "aws_account_id",
    "role_arn",
    "source_profile",
    "credential_source",
    "credential_process",
    "external_id",
    "role_session_name",
    "duration_seconds",
    "mfa_serial",
    "source_identity",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "sso_region",
    "sso_account_id",
    "sso_role_name",
    "keyfob_sso_session",
    "keyfob_sso_account_id",
    "keyfob_sso_role_name",
    "keyfob_saml_url",
    "keyfob_saml_username",
    "keyfob_saml_role_arn",
    "keyfob_saml_principal_arn",
    "keyfob_session_tags",
    "keyfob_transitive_tag_keys",
    "region",
    "endpoint_url",
    "sts_regional_endpoints",
    "use_fips_endpoint",
];

/// The `[sso-session]` keys that decide which directory and region a session signs in to.
const SSO_SESSION_KEYS: [&str; 3] = ["sso_start_url", "sso_region", "sso_registration_scopes"];

/// A digest of everything that decides whose credentials sign for profile `name`: the
/// identity keys of the profile and of every profile it reaches (`source_profile`, and the
/// profile a `keyfob credential-process` line serves, which `served_as` reads off a profile),
/// the sso-sessions they name, the access key id keyfob holds for an IAM user among them, and
/// `AWS_ACCESS_KEY_ID` where a `credential_source = Environment` reads it. A re-pointed account,
/// role, start URL, IdP, key or chain makes cached tokens misses.
pub fn configuration(
    profiles: &Profiles,
    name: &str,
    env: &Env,
    store: &dyn SessionStore,
    served_as: &dyn Fn(&Profile<'_>) -> Option<String>,
) -> Result<Fingerprint, StoreError> {
    let mut inputs: Vec<(String, Option<String>)> = Vec::new();
    let mut queue = vec![name.to_owned()];
    let mut seen = std::collections::BTreeSet::new();
    let mut sessions = std::collections::BTreeSet::new();
    while let Some(n) = queue.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        let Some(profile) = profiles.profile(&n) else {
            inputs.push((format!("profile {n}"), None));
            continue;
        };
        inputs.push((format!("profile {n}"), Some(String::new())));
        for key in IDENTITY_KEYS {
            inputs.push((format!("{n}.{key}"), profile.get(key).map(str::to_owned)));
        }
        queue.extend(profile.get("source_profile").map(str::to_owned));
        let served = served_as(&profile);
        // Keys keyfob holds are this profile's own only when nothing else serves it.
        let serves_itself = match profile.get("credential_process") {
            None => true,
            Some(_) => served.as_deref() == Some(n.as_str()),
        };
        queue.extend(served);
        for key in ["sso_session", "keyfob_sso_session"] {
            sessions.extend(profile.get(key).map(str::to_owned));
        }
        if profile
            .get("credential_source")
            .is_some_and(|s| s.eq_ignore_ascii_case("Environment"))
        {
            inputs.push(("env AWS_ACCESS_KEY_ID".into(), env.get("AWS_ACCESS_KEY_ID")));
        }
        let keys_in_keychain = serves_itself
            && matches!(profile.plan(), Ok(Some(Plan::IamUser { .. })))
            && profile.get("aws_access_key_id").is_none()
            && profile.get("role_arn").is_none();
        if keys_in_keychain {
            let key_id = match store.get_json::<serde_json::Value>(&keys::iam_user(&n)) {
                Ok(v) => v.and_then(|v| v.get("access_key_id")?.as_str().map(str::to_owned)),
                Err(StoreError::Corrupt { .. }) => None,
                Err(e) => return Err(e),
            };
            inputs.push((format!("keychain iam-user {n}"), key_id));
        }
    }
    for s in sessions {
        let section = profiles.sso_session(&s);
        inputs.push((format!("sso-session {s}"), section.map(|_| String::new())));
        for key in SSO_SESSION_KEYS {
            inputs.push((
                format!("sso-session {s}.{key}"),
                section.and_then(|sec| sec.get(key)).map(str::to_owned),
            ));
        }
    }
    let refs: Vec<(&str, Option<&str>)> = inputs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_deref()))
        .collect();
    Ok(Fingerprint::of("eks-configuration", &refs))
}

/// One token request: for whom, for which cluster, and through which role.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    /// The profile whose credentials sign (or assume the role that signs).
    pub profile: &'a str,
    /// The cluster, region and endpoint.
    pub target: Target,
    /// A role to assume with the profile's credentials first (`--role-arn`).
    pub role_arn: Option<&'a str>,
    /// The profile's [`configuration`].
    pub configuration: Fingerprint,
}

impl TokenRequest<'_> {
    /// The keychain entry that caches this request's token.
    pub fn key(&self) -> String {
        keys::eks_token(
            self.profile,
            &self.target.cluster,
            self.target.region.as_deref().unwrap_or("global"),
            self.role_arn,
        )
    }

    /// The fingerprint a cached token must carry to be served for this request.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(
            "eks-token",
            &[
                ("profile", Some(self.profile)),
                ("cluster", Some(&self.target.cluster)),
                ("region", self.target.region.as_deref()),
                ("endpoint_url", self.target.endpoint_url.as_deref()),
                ("role_arn", self.role_arn),
                ("configuration", Some(self.configuration.as_str())),
            ],
        )
    }
}

/// What the keychain holds for a token. `expiration` is at the top level so that `status`
/// shows it.
#[derive(Serialize, Deserialize)]
struct Entry {
    fingerprint: Fingerprint,
    expiration: DateTime<Utc>,
    token: Secret,
}

/// The token for `req`: from the keychain while it is unexpired and made for the request's
/// fingerprint (a keychain read, nothing more), else made under the request's lock — of many
/// concurrent callers only the first signs, the others read what it stored. Making one takes
/// `profile_credentials` (the profile's credentials, however they are served), then with a
/// role ARN one AssumeRole (session `EKSGetTokenAuth`), then the signature.
pub fn token(
    ctx: &Context<'_>,
    req: &TokenRequest<'_>,
    profile_credentials: impl FnOnce() -> Result<Credentials, SourceError>,
) -> Result<(Token, Origin), ServeError> {
    let key = req.key();
    let fingerprint = req.fingerprint();
    let lookup = || cached(ctx, &key, &fingerprint);
    let refresh = || {
        let mut creds = profile_credentials()?;
        if let Some(role) = req.role_arn {
            creds = assume_role_blocking(req, &creds, role)?;
        }
        let token = sign(&creds, &req.target, ctx.clock.now())?;
        ctx.store.put_json(
            &key,
            &Entry {
                fingerprint: fingerprint.clone(),
                expiration: token.expiration,
                token: token.token.clone(),
            },
        )?;
        tracing::debug!(profile = req.profile, cluster = %req.target.cluster, "signed a new EKS token");
        Ok(token)
    };
    let (token, origin) =
        serve::single_flight(ctx, req.profile, (LOCK_KIND, &key), lookup, refresh)?;
    tracing::debug!(profile = req.profile, cluster = %req.target.cluster, ?origin, "EKS token");
    Ok((token, origin))
}

/// The cached token under `key` if it was made for `fingerprint` and has not expired.
fn cached(
    ctx: &Context<'_>,
    key: &str,
    fingerprint: &Fingerprint,
) -> Result<Option<Token>, StoreError> {
    let entry: Option<Entry> = match ctx.store.get_json(key) {
        Ok(v) => v,
        // A corrupt entry is only a miss: the refresh overwrites it.
        Err(StoreError::Corrupt { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(entry
        .filter(|e| {
            let same = e.fingerprint == *fingerprint;
            if !same {
                tracing::debug!(key, "cached EKS token was made for another configuration");
            }
            same
        })
        .filter(|e| ctx.clock.now() < e.expiration)
        .map(|e| Token {
            token: e.token,
            expiration: e.expiration,
        }))
}

fn assume_role_blocking(
    req: &TokenRequest<'_>,
    creds: &Credentials,
    role_arn: &str,
) -> Result<Credentials, ServeError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SourceError::other(format!("cannot start the async runtime: {e}")))?;
    let region = req.target.signing_region();
    let call = assume_role(req.profile, region, creds, role_arn);
    match rt.block_on(async { tokio::time::timeout(serve::REFRESH_BUDGET, call).await }) {
        Ok(r) => Ok(r?),
        Err(_) => Err(ServeError::TimedOut {
            profile: req.profile.to_owned(),
            budget: serve::REFRESH_BUDGET,
        }),
    }
}

/// AssumeRole `role_arn` with `creds`, as `aws eks get-token --role-arn` does (session
/// `EKSGetTokenAuth`), through STS in `region` (endpoints as the profile and environment
/// configure them).
pub async fn assume_role(
    profile: &str,
    region: &str,
    creds: &Credentials,
    role_arn: &str,
) -> Result<Credentials, SourceError> {
    let sts = crate::sts::client(
        crate::sts::Target {
            profile: Some(profile),
            region,
            endpoint_url: None,
        },
        Some(creds),
    )
    .await;
    let out = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(ROLE_SESSION_NAME)
        .send()
        .await
        .map_err(|e| {
            SourceError::other(format!(
                "AssumeRole {role_arn} with the credentials of profile {profile} failed: {}",
                crate::sts::sdk_error_line(&e)
            ))
        })?;
    let c = out
        .credentials()
        .ok_or_else(|| SourceError::other("STS AssumeRole returned no credentials"))?;
    crate::sts::from_sts(c)
}

impl crate::error::UserError for InputError {
    fn exit_code(&self) -> u8 {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: Some(Secret::new("tok/en+=")),
            expiration: None,
        }
    }

    fn target(region: Option<&str>) -> Target {
        Target {
            cluster: "my-cluster".into(),
            region: region.map(str::to_owned),
            endpoint_url: None,
        }
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T15:28:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn urls_match_botocore_for_the_same_inputs() {
        // Made by botocore 1.44's generate_presigned_url with the AWS CLI's x-k8s-aws-id
        // handler, for these credentials at 2026-11-30T15:28:00Z (the e2e test recomputes
        // such URLs with botocore itself for any time).
        let cases = [
            (
                Some("us-east-1"),
                "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261130%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20261130T152800Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-Signature=43e4d2f40c10c084c9bb0bf75a495f01ba8b48da16ffd470902076e60a7e530a",
            ),
            (
                Some("eu-west-1"),
                "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261130%2Feu-west-1%2Fsts%2Faws4_request&X-Amz-Date=20261130T152800Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-Signature=d60368fa77b2e0c40ffd1e8e97c658ccff78e3d031c3595b03d900f27193bb8e",
            ),
            (
                Some("cn-north-1"),
                "https://sts.cn-north-1.amazonaws.com.cn/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261130%2Fcn-north-1%2Fsts%2Faws4_request&X-Amz-Date=20261130T152800Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-Signature=c6ac6d315c9468c0457760c9f2d126c24a515be127c699c5a2e2a05a1f868604",
            ),
            (
                None,
                "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261130%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20261130T152800Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-Signature=748e80f56e77b19e8ca832ff86589c48b157dd7f460a25b80087d31b3af85464",
            ),
        ];
        for (region, want) in cases {
            let url = presigned_url(&creds(), &target(region), at()).unwrap();
            assert_eq!(url, want, "{region:?}");
        }
    }

    #[test]
    fn tokens_round_trip_and_expire_with_their_credentials() {
        let t = sign(&creds(), &target(Some("eu-west-1")), at()).unwrap();
        assert!(t.token.expose().starts_with(TOKEN_PREFIX));
        assert!(!t.token.expose().contains('='), "unpadded");
        let url = url_of_token(t.token.expose()).unwrap();
        assert!(url.starts_with("https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&"));
        assert_eq!(t.expiration, at() + chrono::Duration::minutes(14));
        let mut short = creds();
        short.expiration = Some(at() + chrono::Duration::minutes(5));
        let t = sign(&short, &target(Some("eu-west-1")), at()).unwrap();
        assert_eq!(t.expiration, at() + chrono::Duration::minutes(5));
        let json = t.exec_credential(ApiVersion::V1);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["kind"], "ExecCredential");
        assert_eq!(v["apiVersion"], "client.authentication.k8s.io/v1");
        assert_eq!(v["spec"], serde_json::json!({}));
        assert_eq!(v["status"]["expirationTimestamp"], "2026-11-30T15:33:00Z");
        assert!(!format!("{t:?}").contains("k8s-aws-v1"), "Debug redacts");
    }

    #[test]
    fn an_endpoint_override_is_signed_as_given() {
        let mut t = target(Some("eu-west-1"));
        t.endpoint_url = Some("http://127.0.0.1:5000/".into());
        let url = presigned_url(&creds(), &t, at()).unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:5000/?Action=GetCallerIdentity&Version=2011-06-15&"),
            "{url}"
        );
        assert!(url.contains("%2Feu-west-1%2Fsts%2F"), "{url}");
    }

    #[test]
    fn inputs_are_checked() {
        for ok in ["a", "my-cluster_1", &"x".repeat(100)] {
            validate_cluster(ok).unwrap();
        }
        for bad in ["", "-a", "a b", "a#b", "a/b", &"x".repeat(101), "é"] {
            assert!(validate_cluster(bad).is_err(), "{bad:?}");
        }
        for ok in ["eu-west-1", "us-gov-west-1", "cn-north-1", "us-isob-east-1"] {
            validate_region(ok).unwrap();
        }
        for bad in ["", "EU-west-1", "eu west", "eu.west", "a/b", "eu-"] {
            assert!(validate_region(bad).is_err(), "{bad:?}");
        }
        for ok in [
            "arn:aws:iam::123456789012:role/Admin",
            "arn:aws-cn:iam::123456789012:role/path/to/R+=,.@_-",
        ] {
            validate_role_arn(ok).unwrap();
        }
        for bad in [
            "",
            "Admin",
            "arn:aws:iam::123456789012:user/Admin",
            "arn:aws:iam::12345:role/Admin",
            "arn:aws:sts::123456789012:role/Admin",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a#b",
            "arn:aws:iam::123456789012:role/a b",
        ] {
            assert!(validate_role_arn(bad).is_err(), "{bad:?}");
        }
    }

    /// For configurations that must not read the keychain: any read fails the test.
    struct NoKeychain;

    impl SessionStore for NoKeychain {
        fn backend(&self) -> crate::store::Backend {
            crate::store::Backend::Keyutils
        }
        fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
            panic!("read {key} from the keychain")
        }
        fn put(&self, key: &str, _: &str) -> Result<(), StoreError> {
            panic!("wrote {key}")
        }
        fn delete(&self, key: &str) -> Result<bool, StoreError> {
            panic!("deleted {key}")
        }
        fn list(&self) -> Result<Vec<String>, StoreError> {
            panic!("listed the keychain")
        }
    }

    fn fingerprint_of(config: &str, name: &str) -> Fingerprint {
        let profiles = Profiles::parse(config, "").unwrap();
        let served_as = |p: &Profile<'_>| {
            p.get("credential_process")?
                .strip_prefix("keyfob credential-process --profile ")
                .map(str::to_owned)
        };
        configuration(
            &profiles,
            name,
            &Env::from_pairs::<&str, &str>([]),
            &NoKeychain,
            &served_as,
        )
        .unwrap()
    }

    #[test]
    fn the_configuration_follows_the_chain_and_ignores_cosmetics() {
        let base = "[profile admin]\nrole_arn = arn:aws:iam::111122223333:role/Admin\nsource_profile = sso\noutput = json\n\
             [profile sso]\ncredential_process = keyfob credential-process --profile sso-real\n\
             [profile sso-real]\nkeyfob_sso_session = acme\nkeyfob_sso_account_id = 111122223333\nkeyfob_sso_role_name = Dev\n\
             [sso-session acme]\nsso_start_url = https://acme.awsapps.com/start\nsso_region = eu-west-1\n\
             [profile unrelated]\nkeyfob_sso_session = acme\nkeyfob_sso_account_id = 999999999999\nkeyfob_sso_role_name = Dev\nregion = us-east-1\n";
        let fp = fingerprint_of(base, "admin");
        assert_eq!(fp, fingerprint_of(base, "admin"));
        // Cosmetic keys and other profiles do not matter.
        assert_eq!(
            fp,
            fingerprint_of(&base.replace("output = json", "output = text"), "admin")
        );
        assert_eq!(
            fp,
            fingerprint_of(
                &base.replace("region = us-east-1", "region = eu-west-1"),
                "admin"
            )
        );
        // Re-pointing any link does.
        for (from, to) in [
            ("role/Admin", "role/ReadOnly"),
            (
                "keyfob_sso_account_id = 111122223333",
                "keyfob_sso_account_id = 444455556666",
            ),
            ("keyfob_sso_role_name = Dev", "keyfob_sso_role_name = Admin"),
            ("acme.awsapps.com", "other.awsapps.com"),
            ("sso_region = eu-west-1", "sso_region = us-east-1"),
            ("--profile sso-real", "--profile unrelated"),
        ] {
            assert_ne!(
                fp,
                fingerprint_of(&base.replace(from, to), "admin"),
                "{from} -> {to}"
            );
        }
        assert_ne!(fp, fingerprint_of(base, "sso"));
    }

    #[test]
    fn exec_info_picks_the_version_kubectl_asks_for() {
        let info = |v: &str| {
            format!(
                r#"{{"kind":"ExecCredential","apiVersion":"{v}","spec":{{"interactive":false}}}}"#
            )
        };
        assert_eq!(
            ApiVersion::from_exec_info(&info("client.authentication.k8s.io/v1")),
            Some(ApiVersion::V1)
        );
        assert_eq!(
            ApiVersion::from_exec_info(&info("client.authentication.k8s.io/v1beta1")),
            Some(ApiVersion::V1Beta1)
        );
        assert_eq!(
            ApiVersion::from_exec_info(&info("client.authentication.k8s.io/v1alpha1")),
            None
        );
        assert_eq!(ApiVersion::from_exec_info("not json"), None);
    }
}
