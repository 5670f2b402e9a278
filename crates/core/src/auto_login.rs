//! The auto-login settings every request checks first: `KEYFOB_AUTO_LOGIN` and the
//! `keyfob_auto_login` key of profiles and sso-sessions. Whether and how a sign-in starts is
//! the CLI's; what the settings say, and that a bad value is an error before anything else
//! happens (also on a cache hit), is here.

use crate::env::Env;
use crate::error::Report;
use crate::profile::Profiles;

/// The environment variable that overrides `keyfob_auto_login`.
pub const ENV_VAR: &str = "KEYFOB_AUTO_LOGIN";
/// The profile and sso-session key.
pub const KEY: &str = "keyfob_auto_login";

/// `true`, `false` or an error for a `keyfob_auto_login` value.
pub fn parse_flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `KEYFOB_AUTO_LOGIN`, checked.
pub fn env_setting(env: &Env) -> Result<Option<bool>, Report> {
    env.get_non_empty(ENV_VAR)
        .map(|v| {
            parse_flag(&v).ok_or_else(|| {
                Report::usage(format!(
                    "{ENV_VAR}={v} is neither 1 (sign in when needed) nor 0 (never)"
                ))
            })
        })
        .transpose()
}

/// `keyfob_auto_login` of profile `name`, checked.
pub fn profile_setting(profiles: &Profiles, name: &str) -> Result<Option<bool>, Report> {
    let Some(v) = profiles.profile(name).and_then(|p| p.get(KEY)) else {
        return Ok(None);
    };
    parse_flag(v).map(Some).ok_or_else(|| {
        Report::usage(format!(
            "{KEY} = {v} in profile {name} is neither true nor false; fix it in {}",
            profiles.config_path.display()
        ))
    })
}

/// Checks the settings a request reads before anything else happens.
pub fn check(env: &Env, profiles: &Profiles, name: &str) -> Result<(), Report> {
    env_setting(env)?;
    profile_setting(profiles, name)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_true_or_false_and_nothing_else() {
        for v in ["1", "true", "TRUE", "yes", "on", " true "] {
            assert_eq!(parse_flag(v), Some(true), "{v}");
        }
        for v in ["0", "false", "False", "no", "off"] {
            assert_eq!(parse_flag(v), Some(false), "{v}");
        }
        for v in ["", "2", "maybe", "truee"] {
            assert_eq!(parse_flag(v), None, "{v}");
        }
    }
}
