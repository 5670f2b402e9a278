//! Where the shared AWS files and keyfob's own cache live.

use crate::env::Env;
use std::path::{Path, PathBuf};

/// Expands a leading `~` the way the SDKs do.
pub fn expand_home(path: &str, env: &Env) -> PathBuf {
    let Some(home) = env.home() else {
        return PathBuf::from(path);
    };
    if let Some(rest) = path.strip_prefix("~/").or_else(|| path.strip_prefix("~\\")) {
        return home.join(rest);
    }
    if path == "~" {
        return home;
    }
    PathBuf::from(path)
}

fn home_or_dot(env: &Env) -> PathBuf {
    env.home().unwrap_or_else(|| PathBuf::from("."))
}

/// The shared config file: `AWS_CONFIG_FILE` or `~/.aws/config`.
pub fn config_file(env: &Env) -> PathBuf {
    match env.get_non_empty("AWS_CONFIG_FILE") {
        Some(p) => expand_home(&p, env),
        None => home_or_dot(env).join(".aws").join("config"),
    }
}

/// The shared credentials file: `AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`.
pub fn credentials_file(env: &Env) -> PathBuf {
    match env.get_non_empty("AWS_SHARED_CREDENTIALS_FILE") {
        Some(p) => expand_home(&p, env),
        None => home_or_dot(env).join(".aws").join("credentials"),
    }
}

/// The AWS CLI's SSO token cache directory, `~/.aws/sso/cache`.
pub fn sso_cache_dir(env: &Env) -> PathBuf {
    home_or_dot(env).join(".aws").join("sso").join("cache")
}

/// keyfob's own cache directory (lock files; never secrets): `KEYFOB_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/keyfob`, else `~/.cache/keyfob`.
pub fn cache_dir(env: &Env) -> PathBuf {
    if let Some(p) = env.get_non_empty("KEYFOB_CACHE_DIR") {
        return expand_home(&p, env);
    }
    if let Some(p) = env.get_non_empty("XDG_CACHE_HOME") {
        return Path::new(&p).join("keyfob");
    }
    home_or_dot(env).join(".cache").join("keyfob")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_home_expansion() {
        let env = Env::from_pairs([("HOME", "/h"), ("AWS_CONFIG_FILE", "~/cfg")]);
        assert_eq!(config_file(&env), PathBuf::from("/h/cfg"));
        assert_eq!(credentials_file(&env), PathBuf::from("/h/.aws/credentials"));
        assert_eq!(cache_dir(&env), PathBuf::from("/h/.cache/keyfob"));
        let env = Env::from_pairs([("HOME", "/h"), ("AWS_CONFIG_FILE", "")]);
        assert_eq!(config_file(&env), PathBuf::from("/h/.aws/config"));
    }
}
