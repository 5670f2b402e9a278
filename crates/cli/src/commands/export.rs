//! `keyfob export`: a profile's credentials for tools that read neither `~/.aws/config` nor
//! `credential_process` — shell variables, a .env file, the credential_process JSON, or a
//! section of a shared credentials file. The output is a secret: stdout or a 0600 file only.

use crate::app::App;
use crate::cli::{ExportArgs, ExportFormat};
use crate::output::{say, warn};
use crate::sources::resolve;
use keyfob_core::Credentials;
use keyfob_core::editor::{Mode, SectionId, edit_file, write_atomic};
use keyfob_core::engine::profile_region;
use keyfob_core::profile::select_profile;
use std::fmt::Write as _;
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &ExportArgs) -> crate::Result<ExitCode> {
    let profiles = app.profiles()?;
    let name = select_profile(args.profile.as_deref(), &app.env);
    let creds = resolve::credentials(app, &profiles, &name, args.mfa_code.clone())?.credentials;
    if args.format == ExportFormat::Credentials {
        let path = args
            .file
            .clone()
            .unwrap_or_else(|| keyfob_core::paths::credentials_file(&app.env));
        write_credentials_section(&path, &name, &creds)?;
        say(&format!("Wrote [{name}] to {}.", path.display()));
        match creds.expiration {
            Some(exp) => {
                let left = (exp - keyfob_core::Clock::now(&app.clock)).num_minutes();
                warn(&format!(
                    "these credentials expire at {} (in {left} minutes) and will not be refreshed there; run this again then, or let the tool use credential_process",
                    keyfob_core::credentials::rfc3339(exp)
                ));
            }
            None => warn(&format!(
                "these are long-term keys, now in plain text in {}",
                path.display()
            )),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let vars = variables(&creds, profile_region(&profiles, &name).as_deref());
    let text = render(args.format, &creds, &vars);
    match &args.file {
        Some(path) => {
            write_atomic(path, text.as_bytes(), Mode::Exactly(0o600))?;
            say(&format!(
                "Wrote the credentials of {name} to {}.",
                path.display()
            ));
        }
        None => crate::output::data(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Sets `[profile]` in a shared credentials file, leaving its other keys and the rest of the
/// file alone.
fn write_credentials_section(
    path: &std::path::Path,
    profile: &str,
    creds: &Credentials,
) -> crate::Result<()> {
    let id = SectionId::Bare(profile.to_owned());
    edit_file(path, |doc| {
        let mut entries = vec![
            ("aws_access_key_id", creds.access_key_id.as_str()),
            ("aws_secret_access_key", creds.secret_access_key.expose()),
        ];
        match &creds.session_token {
            Some(t) => entries.push(("aws_session_token", t.expose())),
            None => {
                doc.remove_key(&id, "aws_session_token");
            }
        }
        doc.upsert_section(&id, &entries);
        Ok::<_, std::convert::Infallible>(())
    })?
    .map_err(|e| match e {})
}

/// The environment variables of these credentials, in the order they are printed.
fn variables(creds: &Credentials, region: Option<&str>) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("AWS_ACCESS_KEY_ID", creds.access_key_id.clone()),
        (
            "AWS_SECRET_ACCESS_KEY",
            creds.secret_access_key.expose().to_owned(),
        ),
    ];
    if let Some(t) = &creds.session_token {
        vars.push(("AWS_SESSION_TOKEN", t.expose().to_owned()));
    }
    if let Some(e) = creds.expiration {
        vars.push((
            "AWS_CREDENTIAL_EXPIRATION",
            keyfob_core::credentials::rfc3339(e),
        ));
    }
    if let Some(r) = region {
        vars.push(("AWS_REGION", r.to_owned()));
        vars.push(("AWS_DEFAULT_REGION", r.to_owned()));
    }
    vars
}

fn render(format: ExportFormat, creds: &Credentials, vars: &[(&str, String)]) -> String {
    let mut out = String::new();
    match format {
        ExportFormat::Json => out = creds.to_process_json(),
        ExportFormat::Env => {
            // A session that had these variables unset them, so nothing stale stays.
            if creds.session_token.is_none() {
                out.push_str("unset AWS_SESSION_TOKEN AWS_CREDENTIAL_EXPIRATION\n");
            }
            for (k, v) in vars {
                let _ = writeln!(out, "export {k}={}", sh_quote(v));
            }
        }
        ExportFormat::Fish => {
            for (k, v) in vars {
                let _ = writeln!(out, "set -gx {k} {};", fish_quote(v));
            }
        }
        ExportFormat::Powershell => {
            for (k, v) in vars {
                let _ = writeln!(out, "$Env:{k} = {}", powershell_quote(v));
            }
        }
        ExportFormat::Dotenv => {
            for (k, v) in vars {
                let _ = writeln!(out, "{k}={}", dotenv_quote(v));
            }
        }
        ExportFormat::Credentials => unreachable!("written to a file"),
    }
    out
}

/// POSIX shell: single quotes, a quote written as `'\''`.
fn sh_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// fish: single quotes, with `\` and `'` escaped.
fn fish_quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', r"\\").replace('\'', r"\'"))
}

/// PowerShell: single quotes, a quote doubled.
fn powershell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// .env: bare when the value is plain (docker's --env-file takes values literally), else
/// double-quoted with escapes (python-dotenv, node dotenv, compose).
fn dotenv_quote(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "+/=-_.:".contains(c))
    {
        v.to_owned()
    } else {
        let escaped = v
            .replace('\\', r"\\")
            .replace('"', "\\\"")
            .replace('\n', r"\n")
            .replace('$', r"\$");
        format!("\"{escaped}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyfob_core::Secret;

    fn sample() -> Credentials {
        Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new("se'cr/et+="),
            session_token: Some(Secret::new("tok$en")),
            expiration: chrono::DateTime::from_timestamp(1_767_323_045, 0),
        }
    }

    #[test]
    fn every_format_quotes_for_its_reader() {
        let c = sample();
        let vars = variables(&c, Some("eu-west-1"));
        let env = render(ExportFormat::Env, &c, &vars);
        assert_eq!(
            env,
            "export AWS_ACCESS_KEY_ID='ASIAEXAMPLE'\nexport AWS_SECRET_ACCESS_KEY='se'\\''cr/et+='\nexport AWS_SESSION_TOKEN='tok$en'\nexport AWS_CREDENTIAL_EXPIRATION='2026-01-02T03:04:05Z'\nexport AWS_REGION='eu-west-1'\nexport AWS_DEFAULT_REGION='eu-west-1'\n"
        );
        let fish = render(ExportFormat::Fish, &c, &vars);
        assert!(
            fish.contains("set -gx AWS_SECRET_ACCESS_KEY 'se\\'cr/et+=';\n"),
            "{fish}"
        );
        let ps = render(ExportFormat::Powershell, &c, &vars);
        assert!(
            ps.contains("$Env:AWS_SECRET_ACCESS_KEY = 'se''cr/et+='\n"),
            "{ps}"
        );
        let dotenv = render(ExportFormat::Dotenv, &c, &vars);
        assert!(
            dotenv.contains("AWS_ACCESS_KEY_ID=ASIAEXAMPLE\n"),
            "{dotenv}"
        );
        assert!(
            dotenv.contains("AWS_SESSION_TOKEN=\"tok\\$en\"\n"),
            "{dotenv}"
        );
        let json = render(ExportFormat::Json, &c, &vars);
        assert!(
            json.starts_with(r#"{"Version":1,"AccessKeyId":"ASIAEXAMPLE""#),
            "{json}"
        );
    }

    #[test]
    fn long_term_keys_unset_a_stale_session() {
        let c = Credentials::long_term("AKIA", "s");
        let env = render(ExportFormat::Env, &c, &variables(&c, None));
        assert_eq!(
            env,
            "unset AWS_SESSION_TOKEN AWS_CREDENTIAL_EXPIRATION\nexport AWS_ACCESS_KEY_ID='AKIA'\nexport AWS_SECRET_ACCESS_KEY='s'\n"
        );
    }
}
