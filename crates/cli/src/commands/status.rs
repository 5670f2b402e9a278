//! `keyfob status`: what is stored, of which kind, until when. Never a secret.

use crate::app::App;
use crate::cli::StatusArgs;
use chrono::{DateTime, Utc};
use keyfob_core::Clock;
use keyfob_core::store::{SessionStore, keys};
use serde::Serialize;
use std::fmt::Write as _;
use std::process::ExitCode;

#[derive(Serialize)]
struct Row {
    kind: &'static str,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
    state: &'static str,
}

#[derive(serde::Deserialize)]
struct Expiring {
    #[serde(alias = "expiration", alias = "expires_at")]
    expiration: Option<DateTime<Utc>>,
    /// Cached credentials sit inside an entry with their fingerprint.
    #[serde(default)]
    credentials: Option<Box<Expiring>>,
}

impl Expiring {
    fn at(&self) -> Option<DateTime<Utc>> {
        self.expiration
            .or_else(|| self.credentials.as_ref().and_then(|c| c.at()))
    }
}

pub(crate) fn run(app: &App, args: &StatusArgs) -> crate::Result<ExitCode> {
    let store = app.store()?;
    let now = app.clock.now();
    let mut rows = Vec::new();
    for key in store.list()? {
        let (kind, name) = keys::split(&key);
        let kind = match kind {
            "creds" => "credentials",
            "iam-user" => "iam-user keys",
            "sso-token" => "sso token",
            "sso-client" => "sso client",
            "saml-password" => "saml password",
            "eks-token" => "eks token",
            _ => "other",
        };
        // Only the expiry is read out of the value; the value itself never leaves this scope.
        let expiration = store
            .get(&key)?
            .and_then(|v| serde_json::from_str::<Expiring>(&v).ok())
            .and_then(|e| e.at());
        let state = match expiration {
            Some(e) if e <= now => "expired",
            Some(_) => "valid",
            None => "stored",
        };
        rows.push(Row {
            kind,
            name: name.to_owned(),
            expires: expiration.map(keyfob_core::credentials::rfc3339),
            state,
        });
    }
    // Every profile keyfob serves, with the time left of its cached credentials.
    if let Ok(profiles) = app.profiles() {
        let is_keyfob = |program: &str| app.is_self_command(program);
        for p in app.served(&is_keyfob, None).profiles(&profiles, now) {
            rows.push(Row {
                kind: p.kind,
                name: p.profile,
                expires: p.expires.map(keyfob_core::credentials::rfc3339),
                state: p.state,
            });
        }
    }
    if args.json {
        crate::output::data(&serde_json::to_string_pretty(&rows)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        crate::output::say(&format!("Nothing stored in the {}.", store.backend()));
        return Ok(ExitCode::SUCCESS);
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:<14} {:<width$} {:<8} EXPIRES\n", "KIND", "NAME", "STATE");
    for r in &rows {
        let left = r
            .expires
            .as_ref()
            .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
            .map(|e| human_left(e.with_timezone(&Utc) - now))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<14} {:<width$} {:<8} {} {}",
            r.kind,
            r.name,
            r.state,
            r.expires.as_deref().unwrap_or("-"),
            left
        );
    }
    crate::output::data(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn human_left(d: chrono::Duration) -> String {
    if d <= chrono::Duration::zero() {
        return String::new();
    }
    let m = d.num_minutes();
    if m >= 60 {
        format!("({}h{:02}m left)", m / 60, m % 60)
    } else {
        format!("({m}m left)")
    }
}
