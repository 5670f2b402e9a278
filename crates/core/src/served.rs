//! Which profiles keyfob serves itself, and what `status` says about them.

use crate::chain::{self, ChainError, ChainPlan, ServedKind};
use crate::credential_process_line::{Style, Target, keyfob_invocation};
use crate::env::Env;
use crate::profile::{Plan, Profile, Profiles, select_profile};
use crate::store::{SessionStore, keys};
use chrono::{DateTime, Utc};

/// What deciding "does keyfob serve this profile?" needs: the environment (a
/// `credential_process` line without `--profile` serves the selected profile), the keychain
/// (an IAM user's keys, an SSO session's token) and a test for "this program is keyfob".
pub struct Served<'a> {
    /// The process environment.
    pub env: &'a Env,
    /// The keychain, if one could be opened.
    pub store: Option<&'a dyn SessionStore>,
    /// Whether a `credential_process` program is this keyfob (by path or on PATH).
    pub is_keyfob: &'a dyn Fn(&str) -> bool,
    /// The profile whose `credential_process` this process runs as (`keyfob
    /// credential-process --profile P`): that line is keyfob, whatever program it names (a
    /// wrapper script, a copy elsewhere), so it is never run again from here.
    pub running_as: Option<&'a str>,
}

impl Served<'_> {
    /// Whether keyfob serves `profile` itself, and as which profile: its credential_process
    /// runs keyfob; it has keyfob's SSO or SAML keys; it is a native SSO profile whose session
    /// keyfob holds a token for; or keyfob holds its IAM user keys.
    pub fn as_which(&self, profile: &Profile<'_>) -> Option<String> {
        let name = profile.name();
        if self.running_as == Some(name) && profile.get("credential_process").is_some() {
            return Some(name.to_owned());
        }
        if let Some(command) = profile.get("credential_process") {
            return keyfob_invocation(command, Style::native(), self.is_keyfob).map(|target| {
                match target {
                    Target::Named(n) => n,
                    Target::Selected => select_profile(None, self.env),
                }
            });
        }
        if profile.get("keyfob_sso_session").is_some() || profile.get("keyfob_saml_url").is_some() {
            return Some(name.to_owned());
        }
        let key = match profile.plan() {
            Ok(Some(Plan::Sso {
                session, legacy, ..
            })) => keys::sso_token(&session.or(legacy.map(|(url, _)| url))?),
            Ok(Some(Plan::IamUser { .. })) => keys::iam_user(name),
            _ => return None,
        };
        match self.store?.get(&key) {
            Ok(Some(_)) => Some(name.to_owned()),
            _ => None,
        }
    }

    /// The plan by which this process, asked for `profile` itself (`running_as`), may serve
    /// a cache hit without first deciding with [`Served::as_which`]: an SSO profile (keyfob's
    /// keys or native ones) or an IAM user without MFA. For the native ones that decision
    /// reads the keychain (the SSO token, the IAM user's keys), which made a hit a third
    /// dearer than the one read it needs (issue 8). `None` for anything else. Only a hit may
    /// be served on this presumption: anything else goes through [`Served::plan`], which
    /// decides with the read.
    pub fn presumed(&self, profile: &Profile<'_>) -> Option<Plan> {
        // Its own credential_process line, if any, is this process (see `as_which`).
        if self.running_as != Some(profile.name()) {
            return None;
        }
        match profile.plan() {
            Ok(Some(
                plan @ (Plan::Sso { .. }
                | Plan::IamUser {
                    mfa_serial: None, ..
                }),
            )) => Some(plan),
            _ => None,
        }
    }

    /// The chain of `name` with keyfob's own profiles as bases.
    pub fn plan(&self, profiles: &Profiles, name: &str) -> Result<ChainPlan, ChainError> {
        chain::plan(profiles, name, &|p| self.as_which(p))
    }

    /// Every profile of the config that keyfob serves, with the expiry of its cached
    /// credentials at `now`.
    pub fn profiles(&self, profiles: &Profiles, now: DateTime<Utc>) -> Vec<ServedProfile> {
        profiles
            .profile_names()
            .into_iter()
            .filter_map(|name| {
                let profile = profiles.profile(&name)?;
                let served_as = self.as_which(&profile)?;
                let kind = ServedKind::of(profiles, &served_as);
                let expires = self
                    .store
                    .and_then(|s| crate::serve::cached_expiry(s, &served_as));
                let state = match expires {
                    Some(e) if e <= now => "expired",
                    Some(_) => "valid",
                    None if kind == Some(ServedKind::Keys) => "stored",
                    None => "none",
                };
                Some(ServedProfile {
                    profile: name,
                    kind: kind.map_or("profile", ServedKind::status_kind),
                    state,
                    expires,
                })
            })
            .collect()
    }
}

/// A profile keyfob serves and what its cached credentials have left.
#[derive(Debug)]
pub struct ServedProfile {
    /// The profile.
    pub profile: String,
    /// `profile/sso`, `profile/saml`, `profile/mfa`, `profile/keys`.
    pub kind: &'static str,
    /// `valid`, `expired`, `none` (nothing cached yet) or `stored` (long-term keys).
    pub state: &'static str,
    /// When its cached credentials expire.
    pub expires: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "[sso-session s]\nsso_start_url = https://x.awsapps.com/start\nsso_region = eu-west-1\n\
        [profile native]\nsso_session = s\nsso_account_id = 111100000001\nsso_role_name = Admin\n\
        [profile own]\nkeyfob_sso_session = s\nkeyfob_sso_account_id = 111100000001\nkeyfob_sso_role_name = Admin\n\
        [profile line]\nsso_session = s\nsso_account_id = 111100000001\nsso_role_name = Admin\n\
        credential_process = keyfob credential-process --profile line\n\
        [profile user]\nregion = eu-west-1\n\
        [profile added]\ncredential_process = keyfob credential-process --profile added\n\
        [profile mfa]\nmfa_serial = arn:aws:iam::1:mfa/me\n\
        [profile saml]\nkeyfob_saml_url = https://idp.example/sso\nkeyfob_saml_username = me\n\
        [profile role]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = native\n";

    fn presumed(running_as: Option<&str>, name: &str) -> Option<Plan> {
        let profiles = Profiles::parse(CONFIG, "").unwrap();
        let env = Env::from_pairs(Vec::<(String, String)>::new());
        let served = Served {
            env: &env,
            store: None,
            is_keyfob: &|_| true,
            running_as,
        };
        served.presumed(&profiles.profile(name).unwrap())
    }

    /// Issue 8: which profiles `credential-process` may serve a cache hit for without the
    /// keychain read that decides whether keyfob serves them.
    #[test]
    fn only_the_asked_for_sso_or_plain_iam_user_profile_is_presumed_keyfobs() {
        for name in ["native", "own", "user", "line", "added"] {
            assert!(presumed(Some(name), name).is_some(), "{name}");
            assert!(presumed(None, name).is_none(), "{name}: not running as it");
            assert!(
                presumed(Some("other"), name).is_none(),
                "{name}: running as another"
            );
        }
        assert!(matches!(
            presumed(Some("native"), "native"),
            Some(Plan::Sso { .. })
        ));
        assert!(matches!(
            presumed(Some("line"), "line"),
            Some(Plan::Sso { .. })
        ));
        for name in ["user", "added"] {
            assert!(matches!(
                presumed(Some(name), name),
                Some(Plan::IamUser { .. })
            ));
        }
        // MFA and SAML read more than a hit; a role profile is a chain.
        for name in ["mfa", "saml", "role"] {
            assert!(presumed(Some(name), name).is_none(), "{name}");
        }
    }
}
