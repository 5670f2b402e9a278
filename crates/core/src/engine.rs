//! Running a profile's plan: how a profile becomes credentials. Its [`Error`] is the crate's
//! one error enum (`keyfob_core::Error`): every module's error converts into it.
//!
//! [`crate::chain`] decides the chain from the files; this module runs it. A base keyfob
//! serves itself is handed to the composition root (the CLI), which builds the SSO, SAML or
//! IAM-user source for it ([`ServeBase`]); keys in the files and `credential_source` bases are
//! read here; every role hop above a base is an STS AssumeRole made here, **cached in the
//! keychain** under the hop profile's single-flight lock and a fingerprint of the hop's keys and
//! of everything below it. A cache hit on the top hop needs no base and no network at all.
//! Chains keyfob does not run itself (web identity, another tool's `credential_process`, a
//! native SSO profile keyfob holds no token for) go to aws-config's provider, as in any SDK.

use crate::chain::{Base, ChainError, ChainPlan, RoleHop};
use crate::credentials::{BadRefreshWindow, Credentials, ExpiryPolicy};
use crate::env::Env;
use crate::profile::{ConfigError, Plan, PlanError, Profiles};
use crate::serve::{self, Context, Origin, ServeError};
use crate::served::Served;
use crate::source::{CredentialSource, Fingerprint, SourceError};
use crate::store::StoreError;
use std::future::Future;
use std::pin::Pin;

/// Why a profile could not be resolved to credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The chain cannot be planned from the files.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A profile of keyfob's is misconfigured.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The shared files cannot be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `keyfob_refresh_window` is not a duration.
    #[error(transparent)]
    Window(#[from] BadRefreshWindow),
    /// The keychain failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Serving (cache, lock, refresh) failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// A source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// An IAM user's keys are missing.
    #[error(transparent)]
    Keys(#[from] crate::iam_user::KeysError),
    /// A file edit failed.
    #[error(transparent)]
    Edit(#[from] crate::editor::EditError),
    /// A name the config cannot carry.
    #[error(transparent)]
    Name(#[from] crate::profile::NameError),
    /// A lock could not be taken.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// A console sign-in failed.
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    /// The credential server could not start.
    #[error(transparent)]
    Server(#[from] crate::server::StartError),
    /// An EKS token argument is unusable.
    #[error(transparent)]
    EksInput(#[from] crate::eks::InputError),
    /// A kubeconfig could not be edited.
    #[error(transparent)]
    Kubeconfig(#[from] crate::kubeconfig::KubeconfigError),
    /// The profile is not one keyfob serves by itself (no keyfob keys, no role).
    #[error("profile {profile} is not served by keyfob: {why}")]
    NotKeyfobs {
        /// The profile.
        profile: String,
        /// What it is instead.
        why: String,
    },
    /// A chain that aws-config ran failed.
    #[error("profile {profile} ({via}): {message}")]
    Sdk {
        /// The selected profile.
        profile: String,
        /// Where its credentials come from.
        via: String,
        /// What aws-config said, on one line.
        message: String,
    },
    /// The base of a role chain failed.
    #[error("profile {profile} gets its credentials through {chain}")]
    Through {
        /// The selected profile.
        profile: String,
        /// The chain, `selected → … → base`.
        chain: String,
        /// What failed.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// The command (or edit) that fixes it, wherever in the error it was found.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Chain(e) => Some(e.hint()),
            Error::Source(e) | Error::Serve(ServeError::Source(e)) => e.hint.clone(),
            Error::Keys(e) => e.hint(),
            Error::Console(e) => e.hint(),
            Error::Server(e) => e.hint(),
            Error::Through { source, .. } => source.hint(),
            Error::Plan(_) | Error::Window(_) => {
                Some("edit the profile in the shared config file".to_owned())
            }
            _ => None,
        }
    }

    /// Whether a person can fix it by signing in (SSO, IdP password, MFA code).
    pub fn needs_user(&self) -> bool {
        match self {
            Error::Source(e) | Error::Serve(ServeError::Source(e)) => e.needs_user,
            Error::Through { source, .. } => source.needs_user(),
            _ => false,
        }
    }
}

/// How a request may reach the person: a one-time code, from a flag or a prompt (given the
/// question), or `None` when nobody can be asked.
pub struct Interaction<'a> {
    /// Asks for an MFA code.
    pub mfa_code: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

/// The composition root's half of the engine: the credentials of a profile keyfob serves with
/// one of its own sources (SSO, SAML, an IAM user's keys or MFA session), cached and
/// single-flight (through [`serve::credentials`]).
pub trait ServeBase {
    /// The credentials of `profile`, whose plan is `plan`.
    fn credentials(
        &self,
        profile: &str,
        plan: &Plan,
    ) -> impl Future<Output = Result<(Credentials, Origin), Error>>;
}

/// A level of a chain, resolved (boxed: the levels call each other).
type LevelFuture<'s> = Pin<Box<dyn Future<Output = Result<(Credentials, Origin), Error>> + 's>>;

/// Credentials with the chain they came through.
#[derive(Debug)]
pub struct Resolved {
    /// The credentials.
    pub credentials: Credentials,
    /// Where they came from.
    pub origin: Origin,
    /// The chain.
    pub plan: ChainPlan,
}

/// What resolving needs besides the composition root.
pub struct Engine<'a> {
    /// The keychain, the clock and the lock directory.
    pub ctx: Context<'a>,
    /// The shared files.
    pub profiles: &'a Profiles,
    /// The process environment.
    pub env: &'a Env,
    /// Which profiles keyfob serves.
    pub served: &'a Served<'a>,
    /// How to reach the person.
    pub ui: &'a Interaction<'a>,
}

impl Engine<'_> {
    /// The refresh window of a profile (see [`policy`]).
    pub fn policy(&self, name: &str) -> Result<ExpiryPolicy, Error> {
        policy(self.profiles, name)
    }

    /// The chain of `name`.
    pub fn plan(&self, name: &str) -> Result<ChainPlan, Error> {
        Ok(self.served.plan(self.profiles, name)?)
    }

    /// Credentials for any profile the SDKs could resolve, through keyfob's caches where
    /// keyfob runs the chain.
    pub async fn credentials<B: ServeBase>(&self, name: &str, base: &B) -> Result<Resolved, Error> {
        let plan = self.plan(name)?;
        tracing::debug!(profile = name, chain = %plan.describe(), "resolving");
        let Some(base_fp) = self.base_fingerprint(&plan.base)? else {
            let credentials = self.via_aws_config(name, &plan).await?;
            return Ok(Resolved {
                credentials,
                origin: Origin::Refreshed,
                plan,
            });
        };
        let through = |e: Error| {
            if plan.hops.is_empty() {
                e
            } else {
                Error::Through {
                    profile: name.to_owned(),
                    chain: plan.describe(),
                    source: Box::new(e),
                }
            }
        };
        let fingerprints = hop_fingerprints(&base_fp, &plan.hops);
        let (credentials, origin) = self
            .level(&plan, plan.hops.len(), &fingerprints, base, name)
            .await
            .map_err(through)?;
        Ok(Resolved {
            credentials,
            origin,
            plan,
        })
    }

    /// A cache hit for `name` served on [`Served::presumed`]: the one keychain read a hit
    /// needs, without first reading the token or keys that decide that keyfob serves it, and
    /// without an async runtime. Any other outcome (a miss, a chain, an error) is `None`, and
    /// the caller goes on to [`Engine::credentials`], so that errors and misses read as they
    /// always did.
    pub fn presumed_hit(&self, name: &str) -> Option<Resolved> {
        let profile = self.profiles.profile(name)?;
        let own = self.served.presumed(&profile)?;
        let presume = |p: &crate::profile::Profile<'_>| (p.name() == name).then(|| name.to_owned());
        let plan = crate::chain::plan(self.profiles, name, &presume).ok()?;
        if !plan.hops.is_empty()
            || !matches!(&plan.base, Base::Keyfob { served_as, .. } if served_as == name)
        {
            return None;
        }
        let credentials = match &own {
            Plan::Sso { .. } => {
                let fingerprint = crate::fingerprint::of_plan(self.profiles, name, &own);
                let policy = self.policy(name).ok()?;
                serve::cached(&self.ctx, name, &fingerprint, policy).ok()??
            }
            Plan::IamUser {
                mfa_serial: None, ..
            } => long_term(self.ctx.store, name).ok()?,
            _ => return None,
        };
        tracing::debug!(profile = name, "credentials served from the keychain");
        Some(Resolved {
            credentials,
            origin: Origin::Cache,
            plan,
        })
    }

    /// The credentials at `level` of the chain: 0 is the base, `i` the `i`-th hop.
    fn level<'s, B: ServeBase>(
        &'s self,
        plan: &'s ChainPlan,
        level: usize,
        fingerprints: &'s [Fingerprint],
        base: &'s B,
        selected: &'s str,
    ) -> LevelFuture<'s> {
        Box::pin(async move {
            if level == 0 {
                return self.base_credentials(&plan.base, base).await;
            }
            let hop = &plan.hops[level - 1];
            let source = AssumeRole {
                engine: self,
                hop,
                fingerprint: fingerprints[level - 1].clone(),
                region: sts_region(self.env, self.profiles, selected),
                below: || async move {
                    self.level(plan, level - 1, fingerprints, base, selected)
                        .await
                        .map(|(c, _)| c)
                },
                from: if level == 1 {
                    plan.base.profile().to_owned()
                } else {
                    plan.hops[level - 2].profile.clone()
                },
            };
            let policy = self.policy(&hop.profile)?;
            Ok(serve::credentials(&self.ctx, &hop.profile, policy, &source).await?)
        })
    }

    /// The fingerprint of what a base is configured to give, from the files (and the
    /// environment for `credential_source = Environment`); `None` for bases keyfob leaves to
    /// aws-config.
    fn base_fingerprint(&self, base: &Base) -> Result<Option<Fingerprint>, Error> {
        Ok(match base {
            Base::Keyfob { served_as, .. } => {
                let plan = self.keyfob_plan(served_as)?;
                Some(crate::fingerprint::of_plan(self.profiles, served_as, &plan))
            }
            Base::AccessKey {
                access_key_id,
                session_token,
                ..
            } => Some(Fingerprint::of(
                "access-key",
                &[
                    ("access_key_id", Some(access_key_id)),
                    ("temporary", session_token.as_ref().map(|_| "yes")),
                ],
            )),
            Base::NamedSource { source, .. } => {
                let env = |k: &str| self.env.get_non_empty(k);
                let detail = match source.as_str() {
                    "Environment" => env("AWS_ACCESS_KEY_ID"),
                    "EcsContainer" => env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
                        .or_else(|| env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")),
                    "Ec2InstanceMetadata" => env("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
                    _ => return Ok(None),
                };
                Some(Fingerprint::of(
                    "credential-source",
                    &[("source", Some(source)), ("detail", detail.as_deref())],
                ))
            }
            Base::WebIdentity { .. } | Base::Sso { .. } | Base::Process { .. } => None,
        })
    }

    /// The plan of a profile keyfob serves with one of its own sources.
    fn keyfob_plan(&self, served_as: &str) -> Result<Plan, Error> {
        let profile =
            self.profiles
                .profile(served_as)
                .ok_or_else(|| ChainError::UnknownProfile {
                    profile: served_as.to_owned(),
                    config: self.profiles.config_path.display().to_string(),
                    credentials: self.profiles.credentials_path.display().to_string(),
                })?;
        profile.plan()?.ok_or_else(|| Error::NotKeyfobs {
            profile: served_as.to_owned(),
            why: "it names no SSO session, SAML IdP or IAM user of keyfob's".to_owned(),
        })
    }

    async fn base_credentials<B: ServeBase>(
        &self,
        base: &Base,
        serve_base: &B,
    ) -> Result<(Credentials, Origin), Error> {
        match base {
            Base::Keyfob { served_as, .. } => {
                let plan = self.keyfob_plan(served_as)?;
                serve_base.credentials(served_as, &plan).await
            }
            Base::AccessKey {
                access_key_id,
                secret_access_key,
                session_token,
                ..
            } => Ok((
                Credentials {
                    access_key_id: access_key_id.clone(),
                    secret_access_key: secret_access_key.clone(),
                    session_token: session_token.clone(),
                    expiration: None,
                },
                Origin::Cache,
            )),
            Base::NamedSource { profile, source } => {
                let c = crate::sdk_credentials::named_source(source, self.env)
                    .await
                    .map_err(|message| Error::Sdk {
                        profile: profile.clone(),
                        via: format!("credential_source {source}"),
                        message,
                    })?;
                Ok((c, Origin::Refreshed))
            }
            // Chains with these bases go to aws-config whole (they have no fingerprint).
            Base::WebIdentity { profile, .. }
            | Base::Sso { profile, .. }
            | Base::Process { profile, .. } => Err(Error::NotKeyfobs {
                profile: profile.clone(),
                why: "aws-config resolves it".to_owned(),
            }),
        }
    }

    async fn via_aws_config(&self, name: &str, plan: &ChainPlan) -> Result<Credentials, Error> {
        let region = sts_region(self.env, self.profiles, name);
        crate::sdk_credentials::profile_chain(name, &region)
            .await
            .map_err(|message| Error::Sdk {
                profile: name.to_owned(),
                via: plan.source_label(),
                message,
            })
    }
}

/// The refresh window of a profile (`keyfob_refresh_window`, default 15 minutes).
pub fn policy(profiles: &Profiles, name: &str) -> Result<ExpiryPolicy, Error> {
    match profiles
        .profile(name)
        .and_then(|p| p.get("keyfob_refresh_window"))
    {
        Some(w) => Ok(ExpiryPolicy::parse_window(w)?),
        None => Ok(ExpiryPolicy::default()),
    }
}

/// Each hop's fingerprint: its own keys, and the fingerprint of what it was assumed from.
fn hop_fingerprints(base: &Fingerprint, hops: &[RoleHop]) -> Vec<Fingerprint> {
    let mut below = base.clone();
    hops.iter()
        .map(|hop| {
            let inputs = hop.fingerprint_inputs();
            let mut pairs: Vec<(&str, Option<&str>)> = vec![
                ("profile", Some(hop.profile.as_str())),
                ("below", Some(below.as_str())),
            ];
            pairs.extend(inputs.iter().map(|(k, v)| (*k, v.as_deref())));
            let fp = Fingerprint::of("assume-role", &pairs);
            below = fp.clone();
            fp
        })
        .collect()
}

/// One hop of a chain: STS AssumeRole with the credentials of the level below, fetched only
/// when this hop's own cache misses.
struct AssumeRole<'a, F> {
    engine: &'a Engine<'a>,
    hop: &'a RoleHop,
    fingerprint: Fingerprint,
    region: String,
    below: F,
    from: String,
}

impl<F, Fut> CredentialSource for AssumeRole<'_, F>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Credentials, Error>>,
{
    fn fingerprint(&self) -> Fingerprint {
        self.fingerprint.clone()
    }

    async fn fetch(&self) -> Result<Credentials, SourceError> {
        let hop = self.hop;
        let login = format!("keyfob login --profile {}", hop.profile);
        // Asked before anything else, so that a missing code fails at once.
        let code = match &hop.mfa_serial {
            Some(serial) => Some(
                (self.engine.ui.mfa_code)(&format!("MFA code for {serial}: ")).ok_or_else(
                    || {
                        SourceError::needs_login(
                            format!(
                                "profile {} needs an MFA code to assume {}",
                                hop.profile, hop.role_arn
                            ),
                            login.clone(),
                        )
                    },
                )?,
            ),
            None => None,
        };
        let creds = (self.below)().await.map_err(|e| {
            let hint = e.hint();
            let mut err = SourceError::other(crate::error::one_line(&e));
            err.hint = hint;
            err.needs_user = e.needs_user();
            err
        })?;
        let sts = crate::sts::client(
            crate::sts::Target {
                profile: Some(&hop.profile),
                region: &self.region,
                endpoint_url: None,
            },
            Some(&creds),
        )
        .await;
        let mut request = sts
            .assume_role()
            .role_arn(&hop.role_arn)
            .role_session_name(
                hop.session_name
                    .clone()
                    .unwrap_or_else(|| default_session_name(self.engine.ctx.clock)),
            )
            .set_external_id(hop.external_id.clone())
            .set_duration_seconds(hop.duration_seconds)
            .set_source_identity(hop.source_identity.clone());
        for (key, value) in &hop.session_tags {
            request = request.tags(
                aws_sdk_sts::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build()
                    .map_err(|e| SourceError::other(e.to_string()))?,
            );
        }
        for key in &hop.transitive_tag_keys {
            request = request.transitive_tag_keys(key);
        }
        if let (Some(serial), Some(code)) = (&hop.mfa_serial, code) {
            request = request.serial_number(serial).token_code(code.trim());
        }
        let out = request.send().await.map_err(|e| {
            SourceError::other(format!(
                "AssumeRole {} for profile {} (with the credentials of {}) failed: {}",
                hop.role_arn,
                hop.profile,
                self.from,
                crate::sts::sdk_error_line(&e)
            ))
        })?;
        crate::sts::from_sts("AssumeRole", out.credentials())
    }
}

/// `keyfob-<unix seconds>`, as the SDKs name sessions they start.
fn default_session_name(clock: &dyn crate::env::Clock) -> String {
    format!("keyfob-{}", clock.now().timestamp())
}

/// The `region` of the profile itself (what `export` and `exec` hand on).
pub fn profile_region(profiles: &Profiles, name: &str) -> Option<String> {
    profiles
        .profile(name)
        .and_then(|p| p.get("region"))
        .map(str::to_owned)
}

/// The region STS calls use: AWS_REGION, AWS_DEFAULT_REGION, the profile's, else us-east-1.
pub fn sts_region(env: &Env, profiles: &Profiles, name: &str) -> String {
    env.get_non_empty("AWS_REGION")
        .or_else(|| env.get_non_empty("AWS_DEFAULT_REGION"))
        .or_else(|| profile_region(profiles, name))
        .unwrap_or_else(|| "us-east-1".to_owned())
}

/// Long-term keys from the keychain, as a base of a chain or of a profile itself.
pub fn long_term(
    store: &dyn crate::store::SessionStore,
    profile: &str,
) -> Result<Credentials, Error> {
    Ok(crate::iam_user::load_keys(store, profile)?.credentials())
}

impl crate::error::UserError for Error {
    fn hint(&self) -> Option<String> {
        Error::hint(self)
    }

    fn exit_code(&self) -> u8 {
        match self {
            Error::Name(_) | Error::EksInput(_) => 2,
            _ => 1,
        }
    }
}
