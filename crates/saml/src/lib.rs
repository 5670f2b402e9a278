//! keyfob's SAML source: sign in to an IdP's form login, read the AWS roles from its SAML
//! response, and trade the assertion for role credentials with STS AssumeRoleWithSAML.
//!
//! - [`browser`] signs in through the user's own Chromium-family browser over DevTools.
//! - [`assertion`] reads a SAML 2.0 response (pure, hardened, fuzzable).
//! - [`form`] reads IdP pages: login form, one-time-code form, auto-submit hop, SAML response.
//! - [`idp`] walks the IdP-initiated login over HTTP with a per-login cookie jar.
//! - [`origins`] decides where the password, and the login, may go.
//! - [`sts`] calls AssumeRoleWithSAML and chooses the role.
//! - [`SamlSource`] puts them together as a [`CredentialSource`] for silent refresh, and
//!   [`SamlSource::login`] for an interactive login (one-time code, role picker).
#![deny(missing_docs)]

pub mod assertion;
pub mod browser;
pub mod form;
pub mod idp;
pub mod origins;
pub mod sts;

pub use assertion::{Assertion, AssertionError, RolePair};
pub use idp::{IdpClient, IdpError, IdpOptions, MfaProvider, SamlResponse};
pub use keyfob_core::partition::{self, Partition};
pub use origins::PasswordOrigins;
pub use sts::{StsError, choose_role, choose_role_via};

use keyfob_core::env::{Clock, Env, SystemClock};
use keyfob_core::profile::Plan;
use keyfob_core::source::{CredentialSource, Fingerprint, SourceError};
use keyfob_core::{Credentials, Secret};
use std::fmt;
use std::sync::Arc;
use url::Url;

/// Anything that went wrong in a SAML login.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SamlError {
    /// The IdP login.
    #[error(transparent)]
    Idp(#[from] IdpError),
    /// The SAML response.
    #[error(transparent)]
    Assertion(#[from] AssertionError),
    /// The STS call.
    #[error(transparent)]
    Sts(#[from] StsError),
    /// The configured role is not among those the assertion offers.
    #[error(
        "the IdP does not offer you {wanted}; it offers: {}. Fix keyfob_saml_role_arn (or keyfob_saml_principal_arn) in the profile, or pick a role with `keyfob login`",
        list_roles(available)
    )]
    RoleNotOffered {
        /// What was asked for.
        wanted: String,
        /// What the assertion offers.
        available: Vec<RolePair>,
    },
    /// Several roles and no way to choose without asking.
    #[error(
        "the IdP offers {} roles and the profile names none; pick one with `keyfob login`, or set keyfob_saml_role_arn: {}",
        available.len(),
        list_roles(available)
    )]
    RoleAmbiguous {
        /// What the assertion offers.
        available: Vec<RolePair>,
    },
    /// The role picker was dismissed.
    #[error("no role was chosen")]
    NoRoleChosen,
    /// A sign-in was asked for without a password.
    #[error("no IdP password is stored for this profile")]
    NoPassword,
    /// The browser login.
    #[error(transparent)]
    Browser(#[from] browser::BrowserError),
}

fn list_roles(roles: &[RolePair]) -> String {
    roles
        .iter()
        .map(|r| r.role_arn.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl SamlError {
    /// True when the user must act (a password, a code, a choice) rather than retry.
    pub fn needs_user(&self) -> bool {
        match self {
            SamlError::Idp(e) => e.needs_user(),
            SamlError::Browser(e) => e.needs_user(),
            SamlError::RoleAmbiguous { .. } | SamlError::NoRoleChosen | SamlError::NoPassword => {
                true
            }
            _ => false,
        }
    }

    /// The error as a [`SourceError`] for `profile`, with the command that fixes it.
    pub fn to_source_error(&self, profile: &str) -> SourceError {
        let login = format!("keyfob login --profile {profile}");
        let message = self.to_string();
        match self {
            _ if self.needs_user() => SourceError::needs_login(message, login),
            SamlError::RoleNotOffered { .. }
            | SamlError::Assertion(AssertionError::Expired { .. })
            | SamlError::Sts(StsError::AssertionExpired(_)) => {
                SourceError::other(message).with_hint(login)
            }
            _ => SourceError::other(message),
        }
    }
}

/// Picks a role when the profile does not name one (the CLI's interactive picker).
pub trait RolePicker: Sync {
    /// The chosen role, or `None` when the user declines.
    fn pick(&self, roles: &[RolePair]) -> Option<RolePair>;
}

impl<F> RolePicker for F
where
    F: Fn(&[RolePair]) -> Option<RolePair> + Sync,
{
    fn pick(&self, roles: &[RolePair]) -> Option<RolePair> {
        self(roles)
    }
}

/// A finished SAML login.
#[derive(Debug, Clone)]
pub struct Login {
    /// The role credentials.
    pub credentials: Credentials,
    /// The role assumed (worth saving as `keyfob_saml_role_arn` after a pick).
    pub role: RolePair,
    /// What the SAML response said.
    pub assertion: Assertion,
}

/// Role credentials through an IdP form login and AssumeRoleWithSAML.
///
/// As a [`CredentialSource`] it never prompts: a one-time code or an ambiguous role choice is a
/// [`SourceError::needs_login`] naming `keyfob login --profile P`.
pub struct SamlSource {
    profile: String,
    url: String,
    username: String,
    /// The IdP password: needed to sign in, not to assume a role from a response in hand.
    password: Option<Secret>,
    role_arn: Option<String>,
    /// Whether the profile itself names the role (then only that role's credentials are its).
    role_pinned: bool,
    principal_arn: Option<String>,
    duration_seconds: Option<i32>,
    trusted_origins: Vec<String>,
    region: Option<String>,
    sts_endpoint: Option<String>,
    use_profile_config: bool,
    idp: IdpOptions,
    /// Sign in through this browser instead of the form login.
    browser: Option<browser::BrowserLogin>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for SamlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamlSource")
            .field("profile", &self.profile)
            .field("url", &Url::parse(&self.url).map(|u| redact_url(&u)))
            .field("username", &self.username)
            .field("password", &self.password)
            .field("role_arn", &self.role_arn)
            .field("principal_arn", &self.principal_arn)
            .field("duration_seconds", &self.duration_seconds)
            .field("trusted_origins", &self.trusted_origins)
            .field("region", &self.region)
            .field("sts_endpoint", &self.sts_endpoint)
            .finish_non_exhaustive()
    }
}

impl SamlSource {
    /// A source for `profile`'s SAML plan, signing in with `password` (`None`: only
    /// [`SamlSource::assume`] a response obtained otherwise); `None` when the plan is not SAML.
    /// Defaults: the system clock, no region (the assertion's partition decides), the STS
    /// endpoint from the shared config, 20 s IdP timeouts.
    pub fn from_plan(profile: &str, plan: &Plan, password: Option<Secret>) -> Option<Self> {
        let Plan::Saml {
            url,
            username,
            role_arn,
            principal_arn,
            duration_seconds,
            trusted_origins,
            ..
        } = plan
        else {
            return None;
        };
        Some(Self {
            profile: profile.to_owned(),
            url: url.clone(),
            username: username.clone(),
            password,
            role_arn: role_arn.clone(),
            role_pinned: role_arn.is_some(),
            principal_arn: principal_arn.clone(),
            duration_seconds: *duration_seconds,
            trusted_origins: trusted_origins.clone(),
            region: None,
            sts_endpoint: None,
            use_profile_config: true,
            idp: IdpOptions::default(),
            browser: None,
            clock: Arc::new(SystemClock),
        })
    }

    /// The profile's `region`: STS is called there when it is in the assertion's partition.
    #[must_use]
    pub fn with_region(mut self, region: Option<String>) -> Self {
        self.region = region.filter(|r| !r.trim().is_empty());
        self
    }

    /// Takes the STS endpoint from this environment (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`).
    #[must_use]
    pub fn with_env(mut self, env: &Env) -> Self {
        self.sts_endpoint = sts::endpoint_from_env(env);
        self
    }

    /// Calls STS at this endpoint, whatever the environment and config files say.
    #[must_use]
    pub fn with_sts_endpoint(mut self, endpoint: Option<String>) -> Self {
        self.sts_endpoint = endpoint;
        self
    }

    /// Whether the profile's section of the shared config files is read for STS settings
    /// (default true; tests turn it off so the machine's files do not matter).
    #[must_use]
    pub fn with_profile_config(mut self, use_it: bool) -> Self {
        self.use_profile_config = use_it;
        self
    }

    /// The role to assume instead of the profile's (`--role-arn`).
    #[must_use]
    pub fn with_role_arn(mut self, role_arn: Option<String>) -> Self {
        if role_arn.is_some() {
            self.role_arn = role_arn;
        }
        self
    }

    /// The clock that decides whether the assertion has expired.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The IdP client's limits.
    #[must_use]
    pub fn with_idp_options(mut self, options: IdpOptions) -> Self {
        self.idp = options;
        self
    }

    /// Signs in through this browser (`keyfob_saml_login = browser`) instead of the form
    /// login: [`SamlSource::login`] then needs no password.
    #[must_use]
    pub fn with_browser(mut self, login: Option<browser::BrowserLogin>) -> Self {
        self.browser = login;
        self
    }

    /// Checks the profile's IdP settings (`keyfob_saml_url`, `keyfob_saml_trusted_origins`)
    /// without a request, so that a bad one is reported before the password is asked for.
    pub fn check_plan(profile: &str, plan: &Plan) -> Result<(), SamlError> {
        let Plan::Saml {
            url,
            trusted_origins,
            ..
        } = plan
        else {
            return Ok(());
        };
        let start = Url::parse(url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| IdpError::BadUrl(url.clone()))?;
        PasswordOrigins::new(&start, trusted_origins, Some(profile))?;
        Ok(())
    }

    /// Signs in (through the browser when one is set, else the form login with the password),
    /// picks the role and calls STS. `mfa` answers a one-time-code page and `picker`
    /// chooses among several roles when the profile names none; without them those cases fail
    /// with errors whose [`SamlError::needs_user`] is true.
    pub async fn login(
        &self,
        mfa: Option<&dyn MfaProvider>,
        picker: Option<&dyn RolePicker>,
    ) -> Result<Login, SamlError> {
        if let Some(b) = &self.browser {
            let response = browser::capture(b, &self.url).await?;
            return self.assume(&response, picker).await;
        }
        // The one way to the IdP, for `keyfob login` and the silent re-login alike: the
        // password origins are checked here, before any request.
        let password = self.password.as_ref().ok_or(SamlError::NoPassword)?;
        let response = IdpClient::new(self.idp.clone())
            .with_trusted_origins(&self.trusted_origins)
            .for_profile(&self.profile)
            .login(&self.url, &self.username, password, mfa)
            .await?;
        self.assume(&response.base64, picker).await
    }

    /// From a SAML response to credentials: read the assertion, choose the role (the
    /// profile's, `--role-arn`, or `picker` among several), pick the STS region of the
    /// assertion's partition, call AssumeRoleWithSAML. The one path every SAML sign-in takes:
    /// the form login above, a pasted response, the browser.
    pub async fn assume(
        &self,
        response: &Secret,
        picker: Option<&dyn RolePicker>,
    ) -> Result<Login, SamlError> {
        let assertion = assertion::parse_response(response.expose(), self.clock.now())?;
        tracing::debug!(
            roles = assertion.roles.len(),
            partition = %assertion.partition,
            "SAML response read"
        );
        let role = match choose_role_via(
            &assertion.roles,
            self.role_arn.as_deref(),
            self.principal_arn.as_deref(),
        )? {
            Some(role) => role,
            None => match picker {
                Some(p) => p.pick(&assertion.roles).ok_or(SamlError::NoRoleChosen)?,
                None => {
                    return Err(SamlError::RoleAmbiguous {
                        available: assertion.roles.clone(),
                    });
                }
            },
        };
        let region = partition::sts_region(
            assertion.partition,
            assertion.signin_region.as_deref(),
            self.region.as_deref(),
        );
        let credentials = sts::assume_role_with_saml(&sts::StsRequest {
            profile: &self.profile,
            region: &region,
            endpoint_url: self.sts_endpoint.as_deref(),
            use_profile_config: self.use_profile_config,
            role: &role,
            saml_assertion: response,
            duration_seconds: sts::effective_duration(
                self.duration_seconds,
                assertion.session_duration,
            ),
        })
        .await?;
        Ok(Login {
            credentials,
            role,
            assertion,
        })
    }
}

/// Forgets `profile`'s stored IdP password when `err` says the IdP rejected it, so that it is
/// not sent again (IdPs lock accounts after a few failures). True when it was forgotten.
pub fn forget_rejected_password(
    store: &dyn keyfob_core::SessionStore,
    profile: &str,
    err: &SamlError,
) -> bool {
    matches!(err, SamlError::Idp(IdpError::BadCredentials))
        && store
            .delete(&keyfob_core::store::keys::saml_password(profile))
            .is_ok()
}

impl CredentialSource for SamlSource {
    /// With `--role-arn` on a profile that names another role, the credentials are cached
    /// under that role's fingerprint, which the profile's own never matches.
    fn fingerprint(&self) -> Fingerprint {
        keyfob_core::fingerprint::saml(
            &self.url,
            &self.username,
            self.role_arn.as_deref().filter(|_| self.role_pinned),
            self.principal_arn.as_deref(),
            self.duration_seconds,
        )
    }

    async fn fetch(&self) -> Result<Credentials, SourceError> {
        self.login(None, None)
            .await
            .map(|l| l.credentials)
            .map_err(|e| e.to_source_error(&self.profile))
    }
}

/// A URL for logs and messages: scheme, host, port and path; no query, fragment or user info.
pub fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

impl keyfob_core::error::UserError for SamlError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_lose_query_and_credentials() {
        let u = Url::parse("https://user:pw@idp.example.com:8443/sso?SAMLRequest=abc#f").unwrap();
        assert_eq!(redact_url(&u), "https://idp.example.com:8443/sso");
    }

    #[test]
    fn errors_become_source_errors_with_the_right_hint() {
        let e = SamlError::Idp(IdpError::NeedsInteraction).to_source_error("p");
        assert!(e.needs_user);
        assert_eq!(e.hint.as_deref(), Some("keyfob login --profile p"));
        let e = SamlError::Idp(IdpError::BadCredentials).to_source_error("p");
        assert!(e.needs_user);
        let e = SamlError::RoleAmbiguous { available: vec![] }.to_source_error("p");
        assert!(e.needs_user);
        let e = SamlError::Idp(IdpError::TooManySteps(10)).to_source_error("p");
        assert!(!e.needs_user && e.hint.is_none());
    }

    #[test]
    fn debug_hides_the_password() {
        let plan = Plan::Saml {
            url: "https://idp.example.com/sso?x=1".into(),
            username: "alice".into(),
            role_arn: None,
            principal_arn: None,
            duration_seconds: None,
            trusted_origins: Vec::new(),
            browser: false,
        };
        let s = SamlSource::from_plan("p", &plan, Some(Secret::new("hunter2"))).unwrap();
        let text = format!("{s:?}");
        assert!(!text.contains("hunter2") && !text.contains("x=1"), "{text}");
        assert!(
            SamlSource::from_plan(
                "p",
                &Plan::IamUser {
                    mfa_serial: None,
                    duration_seconds: None
                },
                Some(Secret::new("x"))
            )
            .is_none()
        );
    }
}
