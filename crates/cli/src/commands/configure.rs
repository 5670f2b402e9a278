//! `keyfob configure`: write an sso-session or a SAML profile with the format-preserving editor.

use crate::app::App;
use crate::cli::{ConfigureCommand, ConfigureRoleArgs, ConfigureSamlArgs, ConfigureSsoArgs};
use keyfob_core::editor::{SectionId, edit_file};
use keyfob_core::profile::{NameKind, validate_name};
use std::process::ExitCode;

pub(crate) fn run(app: &App, cmd: ConfigureCommand) -> crate::Result<ExitCode> {
    match cmd {
        ConfigureCommand::SsoSession(a) => sso_session(app, &a),
        ConfigureCommand::Saml(a) => saml(app, &a),
        ConfigureCommand::Role(a) => role(app, &a),
    }
}

/// The keys `configure role` owns in a profile.
const ROLE_KEYS: &[&str] = &[
    "keyfob_role_arn",
    "keyfob_source_profile",
    "keyfob_credential_source",
    "mfa_serial",
    "external_id",
    "role_session_name",
    "duration_seconds",
    "source_identity",
];

fn role(app: &App, a: &ConfigureRoleArgs) -> crate::Result<ExitCode> {
    validate_name(NameKind::Profile, &a.profile)?;
    if let Some(source) = &a.source_profile {
        validate_name(NameKind::Profile, source)?;
        crate::ensure!(
            *source != a.profile,
            "profile {} cannot be its own source_profile; nothing was written",
            a.profile
        );
    }
    if !a.role_arn.starts_with("arn:") || !a.role_arn.contains(":role/") {
        crate::bail!(
            "--role-arn {:?} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME); nothing was written",
            a.role_arn
        );
    }
    let path = app.config_path();
    let cp = app.credential_process_line(&a.profile)?;
    let duration = a.duration_seconds.map(|d| d.to_string());
    let mut entries: Vec<(&str, &str)> = vec![("keyfob_role_arn", a.role_arn.as_str())];
    if let Some(s) = &a.source_profile {
        entries.push(("keyfob_source_profile", s));
    }
    if let Some(s) = &a.credential_source {
        entries.push(("keyfob_credential_source", s));
    }
    for (key, value) in [
        ("mfa_serial", &a.mfa_serial),
        ("external_id", &a.external_id),
        ("role_session_name", &a.role_session_name),
        ("duration_seconds", &duration),
        ("source_identity", &a.source_identity),
        ("region", &a.region),
    ] {
        if let Some(v) = value {
            entries.push((key, v));
        }
    }
    entries.push(("credential_process", &cp));
    let id = SectionId::Profile(a.profile.clone());
    edit_file(&path, |doc| {
        // The role's keys are exactly these now; the user's other keys stay.
        for key in ROLE_KEYS {
            if !entries.iter().any(|(k, _)| k == key) {
                doc.remove_key(&id, key);
            }
        }
        doc.upsert_section(&id, &entries);
        Ok::<(), std::convert::Infallible>(())
    })?
    .expect("infallible");
    crate::output::say(&format!(
        "Wrote [profile {}] to {}. Next: keyfob credential-process --profile {}",
        a.profile,
        path.display(),
        a.profile
    ));
    Ok(ExitCode::SUCCESS)
}

fn sso_session(app: &App, a: &ConfigureSsoArgs) -> crate::Result<ExitCode> {
    validate_name(NameKind::SsoSession, &a.name)?;
    check_url(&a.start_url, "--start-url")?;
    if !keyfob_sso::session::looks_like_region(&a.region) {
        crate::bail!(
            "--region {:?} is not an AWS region (like eu-west-1); nothing was written",
            a.region
        );
    }
    let path = app.config_path();
    let scopes = a
        .scopes
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",");
    edit_file(&path, |doc| {
        doc.upsert_section(
            &SectionId::SsoSession(a.name.clone()),
            &[
                ("sso_start_url", a.start_url.as_str()),
                ("sso_region", a.region.as_str()),
                ("sso_registration_scopes", scopes.as_str()),
            ],
        );
        Ok::<(), std::convert::Infallible>(())
    })?
    .expect("infallible");
    crate::output::say(&format!(
        "Wrote [sso-session {}] to {}. Next: keyfob login --sso-session {}",
        a.name,
        path.display(),
        a.name
    ));
    Ok(ExitCode::SUCCESS)
}

fn saml(app: &App, a: &ConfigureSamlArgs) -> crate::Result<ExitCode> {
    validate_name(NameKind::Profile, &a.profile)?;
    check_url(&a.url, "--url")?;
    let mut trusted = Vec::new();
    for entry in &a.trusted_origins {
        let origin = keyfob_saml::origins::parse_origin(entry).map_err(|reason| {
            crate::report!("--trusted-origin {entry:?} {reason}; nothing was written")
        })?;
        trusted.push(origin.ascii_serialization());
    }
    let trusted = trusted.join(" ");
    let path = app.config_path();
    let cp = app.credential_process_line(&a.profile)?;
    let duration = a.duration_seconds.map(|d| d.to_string());
    let mut entries: Vec<(&str, &str)> = vec![("keyfob_saml_url", a.url.as_str())];
    if let Some(u) = &a.username {
        entries.push(("keyfob_saml_username", u));
    }
    if a.browser {
        entries.push(("keyfob_saml_login", "browser"));
    }
    if let Some(r) = &a.role_arn {
        entries.push(("keyfob_saml_role_arn", r));
    }
    if let Some(p) = &a.principal_arn {
        entries.push(("keyfob_saml_principal_arn", p));
    }
    if let Some(d) = &duration {
        entries.push(("duration_seconds", d));
    }
    if let Some(r) = &a.region {
        entries.push(("region", r));
    }
    if !trusted.is_empty() {
        entries.push((keyfob_saml::origins::TRUSTED_ORIGINS_KEY, &trusted));
    }
    entries.push(("credential_process", &cp));
    edit_file(&path, |doc| {
        let id = SectionId::Profile(a.profile.clone());
        doc.upsert_section(&id, &entries);
        // Configuring without --browser is the form login again.
        if !a.browser {
            doc.remove_key(&id, "keyfob_saml_login");
        }
        Ok::<(), std::convert::Infallible>(())
    })?
    .expect("infallible");
    crate::output::say(&format!(
        "Wrote [profile {}] to {}. Next: keyfob login --profile {}",
        a.profile,
        path.display(),
        a.profile
    ));
    Ok(ExitCode::SUCCESS)
}

/// https only, except plain http on loopback (the local sandbox).
pub(crate) fn check_url(url: &str, flag: &str) -> crate::Result<()> {
    let parsed = url::Url::parse(url)
        .map_err(|e| crate::report!("{flag} {url:?} is not a URL ({e}); nothing was written"))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => crate::bail!("{flag} must be an https:// URL, got {url:?}; nothing was written"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("https://x.awsapps.com/start", "--start-url").is_ok());
        assert!(check_url("http://127.0.0.1:9/start", "--start-url").is_ok());
        assert!(check_url("http://x.awsapps.com/start", "--start-url").is_err());
    }
}
