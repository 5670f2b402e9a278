//! `keyfob status`: what is stored, of which kind, until when. Never a secret.

use crate::app::App;
use crate::cli::StatusArgs;
use chrono::{DateTime, Utc};
use keyfob_core::Clock;
use keyfob_core::profile::{Plan, Profiles};
use keyfob_core::store::{SessionStore, keys};
use serde::Serialize;
use std::collections::BTreeMap;
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
    // Every profile keyfob serves, with the time left of its cached credentials. After a
    // populate most hold nothing yet: unless --all (or --json), those are counted per
    // sso-session instead of listed.
    let list_all = args.all || args.json;
    let mut unused = Unused::default();
    let profiles = app.profiles();
    if let Err(e) = &profiles {
        // The keychain rows still show; the profiles need a config that parses.
        crate::output::warn(&format!("profiles left out: {e}"));
    }
    if let Ok(profiles) = profiles {
        let is_keyfob = |program: &str| app.is_self_command(program);
        for p in app.served(&is_keyfob, None).profiles(&profiles, now) {
            let group = (!list_all).then(|| group_of(&profiles, &p.profile, p.kind));
            if let Some(group) = &group {
                unused.count(group, p.state == NOTHING_CACHED);
                if p.state == NOTHING_CACHED {
                    continue;
                }
            }
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
    let summary = unused.lines();
    if rows.is_empty() && summary.is_empty() {
        crate::output::say(&format!("Nothing stored in the {}.", store.backend()));
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        crate::output::data(&summary)?;
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
    out.push_str(&summary);
    crate::output::data(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The state of a served profile whose credentials were never fetched (or were forgotten).
const NOTHING_CACHED: &str = "none";

/// What a served profile is counted under when it holds nothing: its sso-session (or legacy
/// start URL), else its kind.
fn group_of(profiles: &Profiles, name: &str, kind: &str) -> String {
    match profiles.profile(name).and_then(|p| p.plan().ok().flatten()) {
        Some(Plan::Sso {
            session: Some(session),
            ..
        }) => format!("sso-session {session}"),
        Some(Plan::Sso {
            legacy: Some((start_url, _)),
            ..
        }) => format!("start URL {start_url}"),
        _ => kind.strip_prefix("profile/").unwrap_or(kind).to_owned(),
    }
}

/// Served profiles per group: how many, and how many of them hold nothing.
#[derive(Default)]
struct Unused(BTreeMap<String, (usize, usize)>);

impl Unused {
    fn count(&mut self, group: &str, holds_nothing: bool) {
        let (nothing, total) = self.0.entry(group.to_owned()).or_default();
        *total += 1;
        if holds_nothing {
            *nothing += 1;
        }
    }

    /// One line per group with profiles that hold nothing.
    fn lines(&self) -> String {
        let mut out = String::new();
        for (group, (nothing, total)) in &self.0 {
            if *nothing == 0 {
                continue;
            }
            let profiles = if *total == 1 { "profile" } else { "profiles" };
            let whose = if group.starts_with("sso-session ") || group.starts_with("start URL ") {
                format!("{profiles} of {group}")
            } else {
                format!("{group} {profiles}")
            };
            let hold = if *nothing == 1 { "holds" } else { "hold" };
            let _ = writeln!(
                out,
                "{nothing} of {total} {whose} {hold} no credentials yet (keyfob status --all lists them)"
            );
        }
        out
    }
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
