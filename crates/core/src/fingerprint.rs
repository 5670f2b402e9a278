//! The fingerprints of what each kind of source is configured to fetch: one definition each,
//! shared by the sources (which cache their own credentials under them) and by role chains
//! (whose hops carry the fingerprint of the base they were assumed from).

use crate::profile::{Plan, Profiles};
use crate::source::Fingerprint;

/// Role credentials through IAM Identity Center: start URL, SSO region, account and role.
pub fn sso_role(start_url: &str, region: &str, account_id: &str, role_name: &str) -> Fingerprint {
    Fingerprint::of(
        "sso-role",
        &[
            ("start_url", Some(start_url)),
            ("region", Some(region)),
            ("account_id", Some(account_id)),
            ("role_name", Some(role_name)),
        ],
    )
}

/// A SAML role: IdP URL, user name, role ARN, principal ARN and duration. `role_arn` is the
/// role the profile names; a profile that names none serves whichever role its last login
/// chose.
pub fn saml(
    url: &str,
    username: &str,
    role_arn: Option<&str>,
    principal_arn: Option<&str>,
    duration_seconds: Option<i32>,
) -> Fingerprint {
    let duration = duration_seconds.map(|d| d.to_string());
    Fingerprint::of(
        "saml",
        &[
            ("url", Some(url)),
            ("username", Some(username)),
            ("role_arn", role_arn),
            ("principal_arn", principal_arn),
            ("duration_seconds", duration.as_deref()),
        ],
    )
}

/// A GetSessionToken session: the access key it was bought with, the MFA device and the
/// duration.
pub fn mfa_session(
    access_key_id: &str,
    mfa_serial: &str,
    duration_seconds: Option<i32>,
) -> Fingerprint {
    let duration = duration_seconds.map(|d| d.to_string());
    Fingerprint::of(
        "mfa-session",
        &[
            ("access_key_id", Some(access_key_id)),
            ("mfa_serial", Some(mfa_serial)),
            ("duration_seconds", duration.as_deref()),
        ],
    )
}

/// The configuration behind a keyfob plan, from the files alone (no keychain read): what a
/// role chain's first hop was assumed from. An IAM user's plan names the profile, its MFA
/// device and duration; its keys are the keychain's.
pub fn of_plan(profiles: &Profiles, profile: &str, plan: &Plan) -> Fingerprint {
    match plan {
        Plan::Sso {
            session,
            legacy,
            account_id,
            role_name,
        } => {
            let (url, region) = match (session, legacy) {
                (_, Some((url, region))) => (url.as_str(), region.as_str()),
                (Some(s), None) => profiles.sso_session(s).map_or(("", ""), |sec| {
                    (
                        sec.get("sso_start_url").unwrap_or_default(),
                        sec.get("sso_region").unwrap_or_default(),
                    )
                }),
                (None, None) => ("", ""),
            };
            sso_role(url, region, account_id, role_name)
        }
        Plan::Saml {
            url,
            username,
            role_arn,
            principal_arn,
            duration_seconds,
            ..
        } => saml(
            url,
            username,
            role_arn.as_deref(),
            principal_arn.as_deref(),
            *duration_seconds,
        ),
        Plan::IamUser {
            mfa_serial,
            duration_seconds,
        } => {
            let duration = duration_seconds.map(|d| d.to_string());
            Fingerprint::of(
                "iam-user",
                &[
                    ("profile", Some(profile)),
                    ("mfa_serial", mfa_serial.as_deref()),
                    ("duration_seconds", duration.as_deref()),
                ],
            )
        }
    }
}
