//! STS clients as keyfob builds them: bounded ([`crate::net`]), pointed at the endpoint the
//! environment and the profile name (`AWS_ENDPOINT_URL_STS`, `endpoint_url`), and STS's
//! answers turned into keyfob's types.

use crate::credentials::Credentials;
use crate::net::ResponseCap;
use crate::secret::Secret;
use crate::source::SourceError;

/// Where an STS call goes.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The profile whose shared-config settings (`endpoint_url`, `[services]`) apply; `None`
    /// leaves the choice to the SDK's defaults (`AWS_PROFILE`).
    pub profile: Option<&'a str>,
    /// The region.
    pub region: &'a str,
    /// An endpoint that overrides whatever the environment and config say.
    pub endpoint_url: Option<&'a str>,
}

/// An STS client for `target`, signing with `creds` (`None`: unsigned calls such as
/// AssumeRoleWithSAML). Costs an SDK config: build it only when a call is about to be made.
pub async fn client(target: Target<'_>, creds: Option<&Credentials>) -> aws_sdk_sts::Client {
    let mut loader =
        crate::net::sdk_defaults().region(aws_types::region::Region::new(target.region.to_owned()));
    if let Some(p) = target.profile {
        loader = loader.profile_name(p);
    }
    loader = match creds {
        Some(c) => loader.credentials_provider(aws_credential_types::Credentials::new(
            &c.access_key_id,
            c.secret_access_key.expose(),
            c.session_token.as_ref().map(|t| t.expose().to_owned()),
            c.expiration.map(std::time::SystemTime::from),
            "keyfob",
        )),
        None => loader.no_credentials(),
    };
    let sdk = loader.load().await;
    let mut conf = aws_sdk_sts::config::Builder::from(&sdk).interceptor(ResponseCap);
    if let Some(url) = target.endpoint_url {
        conf = conf.endpoint_url(url);
    }
    aws_sdk_sts::Client::from_conf(conf.build())
}

/// STS credentials as keyfob's type.
pub fn from_sts(c: &aws_sdk_sts::types::Credentials) -> Result<Credentials, SourceError> {
    let exp = c.expiration();
    let expiration = chrono::DateTime::from_timestamp(exp.secs(), exp.subsec_nanos())
        .ok_or_else(|| SourceError::other("STS returned an expiration out of range"))?;
    Ok(Credentials {
        access_key_id: c.access_key_id().to_owned(),
        secret_access_key: Secret::new(c.secret_access_key()),
        session_token: Some(Secret::new(c.session_token())),
        expiration: Some(expiration),
    })
}

/// An SDK error on one line: the service's code and message, or the transport failure.
pub fn sdk_error_line<E, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: std::error::Error + aws_smithy_types::error::metadata::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::error::display::DisplayErrorContext;
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_owned(),
                _ => err.to_string(),
            }
        }
        SdkError::TimeoutError(_) => format!(
            "no answer within {} s",
            crate::net::OPERATION_TIMEOUT.as_secs()
        ),
        SdkError::DispatchFailure(_) => {
            format!("could not reach the endpoint ({})", DisplayErrorContext(e))
        }
        other => match find::<crate::net::TooLarge>(other) {
            Some(big) => big.to_string(),
            None => DisplayErrorContext(other).to_string(),
        },
    }
}

/// The first error of type `T` in `e`'s chain.
fn find<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        next = err.source();
    }
    None
}

/// Who a set of credentials belongs to (STS GetCallerIdentity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The account.
    pub account: String,
    /// The principal's ARN.
    pub arn: String,
    /// The principal's unique id.
    pub user_id: String,
}

/// STS GetCallerIdentity with `creds`, for `profile` (its endpoint settings) in `region`.
pub async fn caller_identity(
    profile: &str,
    region: &str,
    creds: &Credentials,
) -> Result<Identity, SourceError> {
    let out = client(
        Target {
            profile: Some(profile),
            region,
            endpoint_url: None,
        },
        Some(creds),
    )
    .await
    .get_caller_identity()
    .send()
    .await
    .map_err(|e| {
        SourceError::other(format!(
            "STS GetCallerIdentity for profile {profile} failed: {}",
            sdk_error_line(&e)
        ))
    })?;
    Ok(Identity {
        account: out.account().unwrap_or_default().to_owned(),
        arn: out.arn().unwrap_or_default().to_owned(),
        user_id: out.user_id().unwrap_or_default().to_owned(),
    })
}

/// STS GetSessionToken without MFA: temporary credentials for long-term keys (what a container
/// endpoint hands out, since the SDKs expect a token and an expiry there).
pub async fn session_token(
    profile: &str,
    region: &str,
    creds: &Credentials,
) -> Result<Credentials, SourceError> {
    let out = client(
        Target {
            profile: Some(profile),
            region,
            endpoint_url: None,
        },
        Some(creds),
    )
    .await
    .get_session_token()
    .send()
    .await
    .map_err(|e| {
        SourceError::other(format!(
            "STS GetSessionToken with the long-term keys of profile {profile} failed: {}",
            sdk_error_line(&e)
        ))
    })?;
    let c = out
        .credentials()
        .ok_or_else(|| SourceError::other("STS GetSessionToken returned no credentials"))?;
    from_sts(c)
}
