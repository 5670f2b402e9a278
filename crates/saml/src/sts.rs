//! AssumeRoleWithSAML: trading the assertion for role credentials, and choosing the role.
//!
//! The call is unsigned. The client comes from aws-config's loader with no credentials, so the
//! shared config files' `endpoint_url`, `[services]` sections, FIPS and dual-stack settings and
//! the `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL` variables apply; an endpoint read from an
//! injected environment ([`endpoint_from_env`]) overrides them all.

use crate::SamlError;
use crate::assertion::RolePair;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role_with_saml::AssumeRoleWithSAMLError;
use keyfob_core::env::Env;
use keyfob_core::{Credentials, Secret};

/// The shortest session STS grants.
pub const MIN_DURATION_SECONDS: i32 = 900;
/// The longest session STS grants (a role's MaxSessionDuration may be lower).
pub const MAX_DURATION_SECONDS: i32 = 43_200;

/// AssumeRoleWithSAML failed. Each message says what fixes it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StsError {
    /// The requested duration is over the role's MaxSessionDuration.
    #[error(
        "DurationSeconds {requested} exceeds the role's MaxSessionDuration: lower duration_seconds in profile {profile}"
    )]
    DurationTooLong {
        /// The profile.
        profile: String,
        /// What was asked for.
        requested: i32,
    },
    /// The role does not trust the SAML provider (or the pair is not in the assertion).
    #[error(
        "STS refused {role} through {provider} ({message}); the role's trust policy must allow sts:AssumeRoleWithSAML for that SAML provider: ask your AWS admin"
    )]
    NotTrusted {
        /// The role ARN.
        role: String,
        /// The SAML provider ARN.
        provider: String,
        /// STS's words.
        message: String,
    },
    /// STS considers the assertion expired.
    #[error(
        "STS says the SAML assertion has expired ({0}); log in again, and if this keeps happening check this computer's clock"
    )]
    AssertionExpired(String),
    /// STS could not validate the assertion against the IAM SAML provider.
    #[error(
        "STS rejected the SAML assertion ({code}: {message}); the IAM SAML provider's metadata may not match the IdP's signing certificate: ask your AWS admin"
    )]
    Rejected {
        /// The error code.
        code: String,
        /// STS's words.
        message: String,
    },
    /// STS is not active in the region.
    #[error(
        "STS is not activated in region {region} for this account; set region in profile {profile} to a region where it is"
    )]
    RegionDisabled {
        /// The region.
        region: String,
        /// The profile.
        profile: String,
    },
    /// Any other answer from STS.
    #[error("STS AssumeRoleWithSAML failed: {0}")]
    Service(String),
    /// STS did not answer in time.
    #[error("STS did not answer in time (region {0})")]
    Timeout(String),
    /// STS could not be reached.
    #[error("could not reach STS in region {region}: {reason}")]
    Unreachable {
        /// The region.
        region: String,
        /// What the network said.
        reason: String,
    },
    /// STS answered without credentials.
    #[error("STS answered AssumeRoleWithSAML without credentials")]
    NoCredentials,
}

/// One AssumeRoleWithSAML call.
#[derive(Debug, Clone)]
pub struct StsRequest<'a> {
    /// The profile, for messages and for its shared-config settings.
    pub profile: &'a str,
    /// The region to call STS in (see [`keyfob_core::partition::sts_region`]).
    pub region: &'a str,
    /// An endpoint that overrides every other source (tests, [`endpoint_from_env`]).
    pub endpoint_url: Option<&'a str>,
    /// Read the profile's section of the shared config files (endpoint, FIPS, retries).
    pub use_profile_config: bool,
    /// The role and provider to assume.
    pub role: &'a RolePair,
    /// The base64 SAML response.
    pub saml_assertion: &'a Secret,
    /// The session length (see [`effective_duration`]); `None` lets STS decide (one hour).
    pub duration_seconds: Option<i32>,
}

/// The STS endpoint the environment asks for: `AWS_ENDPOINT_URL_STS`, then `AWS_ENDPOINT_URL`,
/// unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`.
pub fn endpoint_from_env(env: &Env) -> Option<String> {
    if env
        .get_non_empty("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return None;
    }
    env.get_non_empty("AWS_ENDPOINT_URL_STS")
        .or_else(|| env.get_non_empty("AWS_ENDPOINT_URL"))
        .map(|v| v.trim().to_owned())
}

/// The DurationSeconds to request: the profile's `duration_seconds`, else the assertion's
/// `SessionDuration`, clamped to 900..=43200 and to `SessionDuration`; `None` when neither says.
pub fn effective_duration(profile: Option<i32>, session_duration: Option<u32>) -> Option<i32> {
    let session = session_duration.map(|s| i32::try_from(s).unwrap_or(i32::MAX));
    let wanted = profile.or(session)?;
    let mut d = wanted.clamp(MIN_DURATION_SECONDS, MAX_DURATION_SECONDS);
    if let Some(s) = session {
        d = d.min(s.max(MIN_DURATION_SECONDS));
    }
    Some(d)
}

/// Picks the role to assume: `wanted` (from `keyfob_saml_role_arn` or `--role-arn`) when the
/// assertion offers it, the only role when there is one, else `None` so the caller can show a
/// picker. Fails, listing the roles, when `wanted` is not offered.
pub fn choose_role(
    roles: &[RolePair],
    wanted: Option<&str>,
) -> Result<Option<RolePair>, SamlError> {
    choose_role_via(roles, wanted, None)
}

/// Like [`choose_role`], also narrowing to the SAML provider `principal`
/// (`keyfob_saml_principal_arn`) when the same role is offered through several providers.
pub fn choose_role_via(
    roles: &[RolePair],
    wanted: Option<&str>,
    principal: Option<&str>,
) -> Result<Option<RolePair>, SamlError> {
    let wanted = wanted.map(str::trim).filter(|w| !w.is_empty());
    let principal = principal.map(str::trim).filter(|p| !p.is_empty());
    let matching: Vec<&RolePair> = roles
        .iter()
        .filter(|r| wanted.is_none_or(|w| r.role_arn == w))
        .filter(|r| principal.is_none_or(|p| r.principal_arn == p))
        .collect();
    match (matching.as_slice(), wanted) {
        ([one], _) => Ok(Some((*one).clone())),
        ([], _) if wanted.is_some() || principal.is_some() => Err(SamlError::RoleNotOffered {
            wanted: match (wanted, principal) {
                (Some(w), Some(p)) => format!("{w} through {p}"),
                (Some(w), None) => w.to_owned(),
                (None, p) => format!("any role through {}", p.unwrap_or_default()),
            },
            available: roles.to_vec(),
        }),
        // One role through several providers: the first, as the AWS console would offer it.
        ([first, ..], Some(_)) => Ok(Some((*first).clone())),
        _ => Ok(None),
    }
}

/// Calls AssumeRoleWithSAML.
pub async fn assume_role_with_saml(req: &StsRequest<'_>) -> Result<Credentials, StsError> {
    let client = keyfob_core::sts::client(
        keyfob_core::sts::Target {
            profile: req.use_profile_config.then_some(req.profile),
            region: req.region,
            endpoint_url: req.endpoint_url,
        },
        None,
    )
    .await;
    tracing::debug!(
        region = req.region,
        role = %req.role.role_arn,
        provider = %req.role.principal_arn,
        duration_seconds = ?req.duration_seconds,
        "STS AssumeRoleWithSAML"
    );
    let out = client
        .assume_role_with_saml()
        .role_arn(&req.role.role_arn)
        .principal_arn(&req.role.principal_arn)
        .saml_assertion(req.saml_assertion.expose())
        .set_duration_seconds(req.duration_seconds)
        .send()
        .await
        .map_err(|e| map_error(&e, req))?;
    let c = out.credentials.ok_or(StsError::NoCredentials)?;
    let exp = c.expiration();
    let expiration = chrono::DateTime::from_timestamp(exp.secs(), exp.subsec_nanos())
        .ok_or(StsError::NoCredentials)?;
    Ok(Credentials {
        access_key_id: c.access_key_id().to_owned(),
        secret_access_key: Secret::new(c.secret_access_key()),
        session_token: Some(Secret::new(c.session_token())),
        expiration: Some(expiration),
    })
}

fn map_error<R: std::fmt::Debug>(
    e: &SdkError<AssumeRoleWithSAMLError, R>,
    req: &StsRequest<'_>,
) -> StsError {
    let err = match e {
        SdkError::ServiceError(se) => se.err(),
        SdkError::TimeoutError(_) => return StsError::Timeout(req.region.to_owned()),
        SdkError::DispatchFailure(d) => {
            if d.is_timeout() {
                return StsError::Timeout(req.region.to_owned());
            }
            return StsError::Unreachable {
                region: req.region.to_owned(),
                reason: d.as_connector_error().map_or_else(
                    || DisplayErrorContext(e).to_string(),
                    |c| DisplayErrorContext(c).to_string(),
                ),
            };
        }
        other => return StsError::Service(DisplayErrorContext(other).to_string()),
    };
    let code = err.code().unwrap_or("Unknown").to_owned();
    let message = err.message().unwrap_or_default().to_owned();
    let lower = message.to_ascii_lowercase();
    match code.as_str() {
        "ValidationError"
            if lower.contains("maxsessionduration")
                || lower.contains("durationseconds exceeds") =>
        {
            StsError::DurationTooLong {
                profile: req.profile.to_owned(),
                requested: req.duration_seconds.unwrap_or(3600),
            }
        }
        "AccessDenied" | "AccessDeniedException" => StsError::NotTrusted {
            role: req.role.role_arn.clone(),
            provider: req.role.principal_arn.clone(),
            message: format!("{code}: {message}"),
        },
        "ExpiredTokenException" => StsError::AssertionExpired(message),
        "IDPRejectedClaim"
        | "IdpRejectedClaimException"
        | "InvalidIdentityToken"
        | "InvalidIdentityTokenException" => StsError::Rejected { code, message },
        "RegionDisabledException" => StsError::RegionDisabled {
            region: req.region.to_owned(),
            profile: req.profile.to_owned(),
        },
        _ if message.is_empty() => StsError::Service(code),
        _ => StsError::Service(format!("{code}: {message}")),
    }
}

impl keyfob_core::error::UserError for StsError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(role: &str, provider: &str) -> RolePair {
        RolePair {
            role_arn: format!("arn:aws:iam::111122223333:role/{role}"),
            principal_arn: format!("arn:aws:iam::111122223333:saml-provider/{provider}"),
        }
    }

    #[test]
    fn duration_is_clamped_to_sts_limits_and_session_duration() {
        assert_eq!(effective_duration(None, None), None);
        assert_eq!(effective_duration(Some(100), None), Some(900));
        assert_eq!(effective_duration(Some(100_000), None), Some(43_200));
        assert_eq!(effective_duration(Some(7200), Some(3600)), Some(3600));
        assert_eq!(effective_duration(Some(1800), Some(3600)), Some(1800));
        assert_eq!(effective_duration(None, Some(28_800)), Some(28_800));
        assert_eq!(effective_duration(None, Some(60)), Some(900));
        assert_eq!(effective_duration(None, Some(u32::MAX)), Some(43_200));
    }

    #[test]
    fn role_choice() {
        let roles = vec![pair("Developer", "corp"), pair("Admin", "corp")];
        assert_eq!(choose_role(&roles, None).unwrap(), None);
        assert_eq!(
            choose_role(&roles[..1], None).unwrap(),
            Some(roles[0].clone())
        );
        assert_eq!(
            choose_role(&roles, Some(&roles[1].role_arn)).unwrap(),
            Some(roles[1].clone())
        );
        let err = choose_role(&roles, Some("arn:aws:iam::111122223333:role/Nope")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("role/Nope"), "{text}");
        assert!(
            text.contains("role/Developer") && text.contains("role/Admin"),
            "{text}"
        );
    }

    #[test]
    fn role_choice_through_a_provider() {
        let roles = vec![pair("Developer", "corp"), pair("Developer", "other")];
        let dev = roles[0].role_arn.clone();
        assert_eq!(
            choose_role_via(&roles, Some(&dev), Some(&roles[1].principal_arn)).unwrap(),
            Some(roles[1].clone())
        );
        assert_eq!(
            choose_role_via(&roles, Some(&dev), None).unwrap(),
            Some(roles[0].clone())
        );
        assert!(
            choose_role_via(&roles, Some(&dev), Some("arn:aws:iam::1:saml-provider/x")).is_err()
        );
        assert_eq!(
            choose_role_via(&roles, None, Some(&roles[1].principal_arn)).unwrap(),
            Some(roles[1].clone())
        );
    }

    #[test]
    fn endpoint_comes_from_the_injected_environment() {
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://all"),
            ("AWS_ENDPOINT_URL_STS", " http://sts "),
        ]);
        assert_eq!(endpoint_from_env(&env).as_deref(), Some("http://sts"));
        let env = Env::from_pairs([("AWS_ENDPOINT_URL", "http://all")]);
        assert_eq!(endpoint_from_env(&env).as_deref(), Some("http://all"));
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL_STS", "http://sts"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]);
        assert_eq!(endpoint_from_env(&env), None);
        assert_eq!(endpoint_from_env(&Env::from_pairs::<&str, &str>([])), None);
    }
}
