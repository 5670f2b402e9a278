//! `keyfob populate`: one profile per account and role. Planning is pure (accounts in, named
//! profiles out); applying edits a [`ConfigDocument`] in place, touching only the sections
//! keyfob manages for this session.

use crate::accounts::Account;
use crate::error::SsoError;
use keyfob_core::editor::{ConfigDocument, SectionId};
use std::collections::{BTreeMap, HashSet};

/// The default `--name-template`.
pub const DEFAULT_TEMPLATE: &str = "{account_name}.{role_name}";

/// The key that marks a profile as generated for an SSO session (its value: the session).
pub const MANAGED_KEY: &str = "keyfob_managed";

/// Which keys generated profiles carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// `keyfob_sso_*` keys and `credential_process = keyfob credential-process …`: every SDK
    /// gets its credentials from keyfob.
    #[default]
    Process,
    /// The SDKs' own `sso_session`/`sso_account_id`/`sso_role_name`: for tools that speak SSO
    /// natively (they then read the `~/.aws/sso/cache` mirror).
    Native,
}

/// A field of the name template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    AccountName,
    AccountId,
    RoleName,
    SsoSession,
    Region,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// A parsed `--name-template`: text with `{field}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTemplate {
    pieces: Vec<Piece>,
}

impl NameTemplate {
    /// Parses a template; unknown fields and unbalanced braces are errors.
    pub fn parse(template: &str) -> Result<Self, SsoError> {
        let fail = |reason: String| SsoError::Template {
            template: template.to_owned(),
            reason,
        };
        let mut pieces = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    pieces.push(Piece::Text(rest.to_owned()));
                    break;
                }
                Some(i) if rest[i..].starts_with('}') => {
                    return Err(fail("a '}' without its '{'".to_owned()));
                }
                Some(i) => {
                    if i > 0 {
                        pieces.push(Piece::Text(rest[..i].to_owned()));
                    }
                    let after = &rest[i + 1..];
                    let close = after
                        .find('}')
                        .ok_or_else(|| fail("a '{' without its '}'".to_owned()))?;
                    let name = &after[..close];
                    let field = match name.trim() {
                        "account_name" => Field::AccountName,
                        "account_id" => Field::AccountId,
                        "role_name" => Field::RoleName,
                        "sso_session" => Field::SsoSession,
                        "region" => Field::Region,
                        other => return Err(fail(format!("unknown field {{{other}}}"))),
                    };
                    pieces.push(Piece::Field(field));
                    rest = &after[close + 1..];
                }
            }
        }
        if !pieces.iter().any(|p| matches!(p, Piece::Field(_))) {
            return Err(fail(
                "it has no field, so every profile would get the same name".to_owned(),
            ));
        }
        Ok(Self { pieces })
    }

    fn render(&self, account: &Account, role: &str, session: &str, region: &str) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(Field::AccountName) => out.push_str(&account.account_name),
                Piece::Field(Field::AccountId) => out.push_str(&account.account_id),
                Piece::Field(Field::RoleName) => out.push_str(role),
                Piece::Field(Field::SsoSession) => out.push_str(session),
                Piece::Field(Field::Region) => out.push_str(region),
            }
        }
        out
    }
}

/// Replaces every character outside `[A-Za-z0-9._-]` with `-`: the name must be safe as a
/// section header and on a `credential_process` command line.
pub fn sanitise(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// The sso-session the profiles use.
    pub session: String,
    /// The session's `sso_region` (the `{region}` field when `region` is not set).
    pub sso_region: String,
    /// `region` to write into each profile, if any.
    pub region: Option<String>,
    /// The name template (see [`DEFAULT_TEMPLATE`]).
    pub template: String,
    /// Lower-case the names.
    pub lowercase: bool,
    /// Which keys to write.
    pub style: Style,
    /// How `credential_process` runs keyfob (`keyfob` when it is on PATH, else its absolute
    /// path, quoted for a shell-like split).
    pub keyfob_command: String,
}

/// One profile to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedProfile {
    /// The profile name.
    pub name: String,
    /// The account.
    pub account_id: String,
    /// The account's name.
    pub account_name: String,
    /// The role.
    pub role_name: String,
    /// The keys of its section, in order.
    pub entries: Vec<(String, String)>,
}

/// Every profile to generate for a session, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopulatePlan {
    /// The sso-session.
    pub session: String,
    /// The profiles.
    pub profiles: Vec<PlannedProfile>,
}

/// Names every account × role and lays out its keys. Names that collide (after sanitising and
/// lower-casing) all get `.{account_id}` appended; any still colliding get `-2`, `-3`, … in
/// order of account id then role name, so the same input always gives the same names.
pub fn plan(accounts: &[Account], opts: &PlanOptions) -> Result<PopulatePlan, SsoError> {
    let template = NameTemplate::parse(&opts.template)?;
    let field_region = opts.region.as_deref().unwrap_or(&opts.sso_region);
    let mut items: Vec<(&Account, &str)> = accounts
        .iter()
        .flat_map(|a| a.roles.iter().map(move |r| (a, r.as_str())))
        .collect();
    items.sort_by(|x, y| (&x.0.account_id, x.1).cmp(&(&y.0.account_id, y.1)));
    items.dedup_by(|x, y| x.0.account_id == y.0.account_id && x.1 == y.1);

    let finish = |raw: String| {
        // A leading `-` would read as an option on keyfob's command line.
        let s = sanitise(&raw).trim_start_matches('-').to_owned();
        if opts.lowercase { s.to_lowercase() } else { s }
    };
    let base: Vec<String> = items
        .iter()
        .map(|(a, r)| finish(template.render(a, r, &opts.session, field_region)))
        .collect();
    if let Some(i) = base
        .iter()
        .position(|n| n.trim_matches(['-', '.']).is_empty())
    {
        return Err(SsoError::Template {
            template: opts.template.clone(),
            reason: format!(
                "it gives the empty name {:?} for role {} in account {}",
                base[i], items[i].1, items[i].0.account_id
            ),
        });
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for n in &base {
        *counts.entry(n.as_str()).or_default() += 1;
    }
    let suffixed: Vec<String> = base
        .iter()
        .zip(&items)
        .map(|(n, (a, _))| {
            if counts[n.as_str()] > 1 {
                finish(format!("{n}.{}", a.account_id))
            } else {
                n.clone()
            }
        })
        .collect();
    let mut taken: HashSet<String> = HashSet::new();
    let mut profiles = Vec::with_capacity(items.len());
    for (name, (account, role)) in suffixed.into_iter().zip(&items) {
        let mut unique = name.clone();
        let mut k = 2;
        while taken.contains(&unique) {
            unique = format!("{name}-{k}");
            k += 1;
        }
        taken.insert(unique.clone());
        keyfob_core::profile::validate_name(keyfob_core::profile::NameKind::Profile, &unique)
            .map_err(|e| SsoError::Template {
                template: opts.template.clone(),
                reason: e.to_string(),
            })?;
        let entries = entries(&unique, account, role, opts);
        profiles.push(PlannedProfile {
            name: unique,
            account_id: account.account_id.clone(),
            account_name: account.account_name.clone(),
            role_name: (*role).to_owned(),
            entries,
        });
    }
    profiles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(PopulatePlan {
        session: opts.session.clone(),
        profiles,
    })
}

fn entries(name: &str, account: &Account, role: &str, opts: &PlanOptions) -> Vec<(String, String)> {
    let mut e: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: &str| e.push((k.to_owned(), v.to_owned()));
    match opts.style {
        Style::Process => {
            push("keyfob_sso_session", &opts.session);
            push("keyfob_sso_account_id", &account.account_id);
            push("keyfob_sso_role_name", role);
        }
        Style::Native => {
            push("sso_session", &opts.session);
            push("sso_account_id", &account.account_id);
            push("sso_role_name", role);
        }
    }
    if let Some(region) = &opts.region {
        push("region", region);
    }
    if opts.style == Style::Process {
        push(
            "credential_process",
            &format!(
                "{} credential-process --profile {name}",
                opts.keyfob_command
            ),
        );
    }
    push(MANAGED_KEY, &opts.session);
    e
}

/// What [`apply_plan`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplySummary {
    /// Profiles created.
    pub added: Vec<String>,
    /// Managed profiles whose keys changed.
    pub updated: Vec<String>,
    /// Managed profiles already as planned.
    pub unchanged: Vec<String>,
    /// Managed profiles removed (with `prune`).
    pub removed: Vec<String>,
    /// Planned names taken by a profile keyfob does not manage for this session (written by
    /// hand, or for another session): left alone.
    pub skipped: Vec<String>,
}

/// Writes `plan` into `doc`: each planned profile's section is made to hold exactly its keys
/// (keeping its place and the comments between its lines); new profiles go at the end, each
/// after a blank line; with `prune`, `[profile X]` sections managed for this session but no
/// longer planned are removed (with the blank lines after them; comments after them stay, as
/// they usually describe what follows). Sections not managed for this session are never
/// touched, even when a planned name is theirs.
///
/// Pruning happens before the new profiles are added, in one edit
/// ([`ConfigDocument::remove_and_append`]): blank lines that separated a pruned last section
/// now separate the first new one. Each step reads and edits only its own section of the
/// document, so the whole apply is linear in the file.
pub fn apply_plan(doc: &mut ConfigDocument, plan: &PopulatePlan, prune: bool) -> ApplySummary {
    let mut summary = ApplySummary::default();
    let mut new: Vec<(SectionId, Vec<(&str, &str)>)> = Vec::new();
    for p in &plan.profiles {
        let id = SectionId::Profile(p.name.clone());
        let entries = || -> Vec<(&str, &str)> {
            p.entries
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        };
        if !doc.has_section(&id) {
            summary.added.push(p.name.clone());
            new.push((id, entries()));
            continue;
        }
        if doc.get(&id, MANAGED_KEY).as_deref() != Some(plan.session.as_str()) {
            summary.skipped.push(p.name.clone());
            continue;
        }
        let mut have = doc.keys(&id);
        let mut want: Vec<&(String, String)> = p.entries.iter().collect();
        have.sort();
        want.sort();
        if have.iter().eq(want) {
            summary.unchanged.push(p.name.clone());
            continue;
        }
        summary.updated.push(p.name.clone());
        doc.replace_section(&id, &entries());
    }
    let mut gone = Vec::new();
    if prune {
        let planned: HashSet<&str> = plan.profiles.iter().map(|p| p.name.as_str()).collect();
        for id in doc.sections() {
            let SectionId::Profile(name) = &id else {
                continue;
            };
            if planned.contains(name.as_str())
                || doc.get(&id, MANAGED_KEY).as_deref() != Some(plan.session.as_str())
            {
                continue;
            }
            summary.removed.push(name.clone());
            gone.push(id);
        }
    }
    doc.remove_and_append(&gone, &new);
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward [`apply_plan`]: every edit on the whole document (quadratic). The
    /// reference the split one must agree with.
    fn apply_plan_in_one_document(
        doc: &mut ConfigDocument,
        plan: &PopulatePlan,
        prune: bool,
    ) -> ApplySummary {
        let mut summary = ApplySummary::default();
        for p in &plan.profiles {
            let id = SectionId::Profile(p.name.clone());
            if doc.has_section(&id) {
                if doc.get(&id, MANAGED_KEY).as_deref() != Some(plan.session.as_str()) {
                    summary.skipped.push(p.name.clone());
                    continue;
                }
                let mut have = doc.keys(&id);
                let mut want = p.entries.clone();
                have.sort();
                want.sort();
                if have == want {
                    summary.unchanged.push(p.name.clone());
                    continue;
                }
                summary.updated.push(p.name.clone());
            } else {
                summary.added.push(p.name.clone());
            }
            let entries: Vec<(&str, &str)> = p
                .entries
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            doc.replace_section(&id, &entries);
        }
        if prune {
            let planned: HashSet<&str> = plan.profiles.iter().map(|p| p.name.as_str()).collect();
            for id in doc.sections() {
                let SectionId::Profile(name) = &id else {
                    continue;
                };
                if planned.contains(name.as_str())
                    || doc.get(&id, MANAGED_KEY).as_deref() != Some(plan.session.as_str())
                {
                    continue;
                }
                if doc.remove_section(&id) {
                    summary.removed.push(name.clone());
                }
            }
        }
        summary
    }

    fn account(id: &str, name: &str, roles: &[&str]) -> Account {
        Account {
            account_id: id.into(),
            account_name: name.into(),
            email: None,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    fn opts(template: &str) -> PlanOptions {
        PlanOptions {
            session: "acme".into(),
            sso_region: "eu-west-1".into(),
            region: Some("eu-central-1".into()),
            template: template.into(),
            lowercase: false,
            style: Style::Process,
            keyfob_command: "keyfob".into(),
        }
    }

    fn names(p: &PopulatePlan) -> Vec<&str> {
        p.profiles.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn template_fields_and_errors() {
        let t = NameTemplate::parse("{sso_session}/{account_id}-{role_name}@{region}").unwrap();
        let a = account("111122223333", "Prod", &[]);
        assert_eq!(
            t.render(&a, "Admin", "acme", "eu-west-1"),
            "acme/111122223333-Admin@eu-west-1"
        );
        for (bad, why) in [
            ("{account}.{role_name}", "unknown field {account}"),
            ("{account_name", "without its '}'"),
            ("x}", "without its '{'"),
            ("static", "no field"),
        ] {
            let e = NameTemplate::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(e.contains("{account_name}, {account_id}"), "{e}");
        }
    }

    #[test]
    fn sanitising_and_lowercase() {
        assert_eq!(
            sanitise("Acme Prod (EU)/Admin_1.x"),
            "Acme-Prod--EU--Admin_1.x"
        );
        assert_eq!(sanitise("Ünïcode"), "-n-code");
        let mut o = opts(DEFAULT_TEMPLATE);
        o.lowercase = true;
        let p = plan(&[account("1", "Acme Prod", &["AdminAccess"])], &o).unwrap();
        assert_eq!(names(&p), ["acme-prod.adminaccess"]);
    }

    #[test]
    fn collisions_get_the_account_id_then_a_counter() {
        let accounts = [
            account("222222222222", "Shared", &["Admin", "ReadOnly"]),
            account("111111111111", "Shared", &["Admin"]),
            account("333333333333", "Solo", &["Admin", "admin"]),
        ];
        let p = plan(&accounts, &opts(DEFAULT_TEMPLATE)).unwrap();
        assert_eq!(
            names(&p),
            [
                "Shared.Admin.111111111111",
                "Shared.Admin.222222222222",
                "Shared.ReadOnly",
                "Solo.Admin",
                "Solo.admin",
            ]
        );
        let mut o = opts(DEFAULT_TEMPLATE);
        o.lowercase = true;
        let p = plan(&accounts, &o).unwrap();
        assert_eq!(
            names(&p),
            [
                "shared.admin.111111111111",
                "shared.admin.222222222222",
                "shared.readonly",
                "solo.admin.333333333333",
                "solo.admin.333333333333-2",
            ]
        );
        // The input order does not matter.
        let mut reversed = accounts.to_vec();
        reversed.reverse();
        assert_eq!(plan(&reversed, &o).unwrap(), p);
    }

    #[test]
    fn styles_write_their_keys() {
        let a = [account("111122223333", "Prod", &["Admin"])];
        let p = plan(&a, &opts(DEFAULT_TEMPLATE)).unwrap();
        let kv = |p: &PopulatePlan| -> Vec<String> {
            p.profiles[0]
                .entries
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect()
        };
        assert_eq!(
            kv(&p),
            [
                "keyfob_sso_session = acme",
                "keyfob_sso_account_id = 111122223333",
                "keyfob_sso_role_name = Admin",
                "region = eu-central-1",
                "credential_process = keyfob credential-process --profile Prod.Admin",
                "keyfob_managed = acme",
            ]
        );
        let mut o = opts(DEFAULT_TEMPLATE);
        o.style = Style::Native;
        o.region = None;
        let p = plan(&a, &o).unwrap();
        assert_eq!(
            kv(&p),
            [
                "sso_session = acme",
                "sso_account_id = 111122223333",
                "sso_role_name = Admin",
                "keyfob_managed = acme",
            ]
        );
    }

    const USER_CONFIG: &str = "\
# my own notes, keep them
[default]
region = us-east-1   ; inline comment

[sso-session acme]
sso_start_url = https://acme.awsapps.com/start
sso_region = eu-west-1

[profile handmade]
# hand written
region = eu-north-1

[profile Prod.Admin]
keyfob_sso_session = acme
keyfob_sso_account_id = 111122223333
# a comment inside a managed section
keyfob_sso_role_name = Admin
region = eu-central-1
credential_process = keyfob credential-process --profile Prod.Admin
keyfob_managed = acme

[profile Gone.Admin]
keyfob_sso_session = acme
keyfob_managed = acme

[profile Other.Session]
keyfob_managed = other

[services x]
sso_oidc =
  endpoint_url = http://127.0.0.1:1
";

    /// Documents with the shapes that matter to the split: CRLF, no final line break, a
    /// managed section last (with and without blank lines or a comment after it), a section
    /// written in two places, a bare `[default]`, an empty file.
    fn shapes() -> Vec<String> {
        let mut docs = vec![
            USER_CONFIG.to_owned(),
            USER_CONFIG.replace('\n', "\r\n"),
            USER_CONFIG.trim_end().to_owned(),
            String::new(),
            "[profile Gone.Admin]\nkeyfob_managed = acme\n".to_owned(),
        ];
        let gone_last = USER_CONFIG.replace(
            "[profile Gone.Admin]\nkeyfob_sso_session = acme\nkeyfob_managed = acme\n\n",
            "",
        ) + "\n\n[profile Gone.Admin]\nkeyfob_managed = acme\n";
        docs.push(gone_last.clone());
        docs.push(format!("{gone_last}\n\n  \n"));
        docs.push(format!("{gone_last}# about what follows\n"));
        docs.push(gone_last.trim_end().to_owned());
        docs.push(gone_last.replace('\n', "\r\n"));
        docs.push(format!(
            "{USER_CONFIG}[profile Prod.Admin]\nregion = ap-east-1\n\n[profile Gone.Admin]\nextra = 1\n"
        ));
        docs
    }

    #[test]
    fn the_split_apply_agrees_with_editing_one_document() {
        let mut o = opts(DEFAULT_TEMPLATE);
        o.region = Some("us-west-2".into());
        let plans = [
            // Only updates and appends.
            plan(
                &[account("111122223333", "Prod", &["Admin", "ReadOnly"])],
                &o,
            )
            .unwrap(),
            // Nothing new: only what prune removes.
            plan(
                &[account("111122223333", "Prod", &["Admin"])],
                &opts(DEFAULT_TEMPLATE),
            )
            .unwrap(),
            // Nothing at all.
            plan(&[], &o).unwrap(),
            // A profile named default (template `{role_name}`), against a bare [default].
            {
                let mut d = opts("{role_name}");
                d.session = "acme".into();
                plan(&[account("111122223333", "Prod", &["default"])], &d).unwrap()
            },
        ];
        for (d, text) in shapes().iter().enumerate() {
            for (n, p) in plans.iter().enumerate() {
                for prune in [false, true] {
                    let mut expected_doc = ConfigDocument::parse(text);
                    let expected = apply_plan_in_one_document(&mut expected_doc, p, prune);
                    let mut doc = ConfigDocument::parse(text);
                    let got = apply_plan(&mut doc, p, prune);
                    assert_eq!(got, expected, "summary: shape {d}, plan {n}, prune {prune}");
                    assert_eq!(
                        doc.render(),
                        expected_doc.render(),
                        "shape {d}, plan {n}, prune {prune}: {text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_pruned_last_section_makes_room_for_new_ones_with_one_blank_line() {
        // Editing one document, the blank line put before the first new profile belonged to
        // the pruned section before it and went with it; the split apply keeps one.
        let text =
            "[profile keep]\nregion = eu-west-1\n[profile Gone.Admin]\nkeyfob_managed = acme\n";
        let p = plan(
            &[account("111122223333", "Prod", &["Admin"])],
            &opts(DEFAULT_TEMPLATE),
        )
        .unwrap();
        let mut doc = ConfigDocument::parse(text);
        let s = apply_plan(&mut doc, &p, true);
        assert_eq!(s.removed, ["Gone.Admin"]);
        assert_eq!(s.added, ["Prod.Admin"]);
        assert!(
            doc.render()
                .starts_with("[profile keep]\nregion = eu-west-1\n\n[profile Prod.Admin]\n"),
            "{}",
            doc.render()
        );
    }

    #[test]
    fn thousands_of_profiles_apply_in_linear_time() {
        let accounts: Vec<Account> = (0..1000)
            .map(|i| {
                account(
                    &format!("{:012}", 111_100_000_000_u64 + i),
                    &format!("acct-{i:04}"),
                    &["Admin", "ReadOnly", "Dev"],
                )
            })
            .collect();
        let p = plan(&accounts, &opts(DEFAULT_TEMPLATE)).unwrap();
        let started = std::time::Instant::now();
        let mut doc = ConfigDocument::parse(USER_CONFIG);
        assert_eq!(apply_plan(&mut doc, &p, true).added.len(), 3000);
        let again = apply_plan(&mut doc, &p, true);
        assert_eq!(again.unchanged.len(), 3000);
        let mut renamed = opts("{account_id}.{role_name}");
        renamed.region = Some("us-west-2".into());
        let q = plan(&accounts, &renamed).unwrap();
        let swapped = apply_plan(&mut doc, &q, true);
        assert_eq!((swapped.added.len(), swapped.removed.len()), (3000, 3000));
        // Editing one document took minutes here, unoptimised; split, a few seconds.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn apply_keeps_user_bytes_and_counts() {
        let accounts = [
            account("111122223333", "Prod", &["Admin", "ReadOnly"]),
            account("444455556666", "handmade", &[]),
        ];
        let p = plan(&accounts, &opts(DEFAULT_TEMPLATE)).unwrap();
        let mut doc = ConfigDocument::parse(USER_CONFIG);
        let s = apply_plan(&mut doc, &p, false);
        assert_eq!(s.added, ["Prod.ReadOnly"]);
        assert_eq!(s.unchanged, ["Prod.Admin"]);
        assert!(s.updated.is_empty() && s.removed.is_empty() && s.skipped.is_empty());
        let out = doc.render();
        // Only the new section was added, at the end: every original byte is still there.
        assert!(out.starts_with(USER_CONFIG), "{out}");
        assert!(
            out.contains("[profile Prod.ReadOnly]\nkeyfob_sso_session = acme\n"),
            "{out}"
        );
        // Applying again changes nothing.
        let again = apply_plan(&mut doc, &p, false);
        assert_eq!(again.unchanged, ["Prod.Admin", "Prod.ReadOnly"]);
        assert_eq!(doc.render(), out);
    }

    #[test]
    fn prune_removes_only_this_sessions_managed_profiles() {
        let p = plan(
            &[account("111122223333", "Prod", &["Admin"])],
            &opts(DEFAULT_TEMPLATE),
        )
        .unwrap();
        let mut doc = ConfigDocument::parse(USER_CONFIG);
        let s = apply_plan(&mut doc, &p, true);
        assert_eq!(s.removed, ["Gone.Admin"]);
        let out = doc.render();
        let expected = USER_CONFIG.replace(
            "[profile Gone.Admin]\nkeyfob_sso_session = acme\nkeyfob_managed = acme\n\n",
            "",
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn update_rewrites_a_managed_section_in_place_and_skips_foreign_ones() {
        let mut o = opts(DEFAULT_TEMPLATE);
        o.region = Some("us-west-2".into());
        let accounts = [
            account("111122223333", "Prod", &["Admin"]),
            account("999999999999", "Other", &["Session"]),
            account("888888888888", "x", &[]),
        ];
        let mut p = plan(&accounts, &o).unwrap();
        // Also plan a name a hand-written profile holds.
        let mut hand = p.profiles[0].clone();
        hand.name = "handmade".into();
        p.profiles.push(hand);
        let mut doc = ConfigDocument::parse(USER_CONFIG);
        let s = apply_plan(&mut doc, &p, false);
        assert_eq!(s.updated, ["Prod.Admin"]);
        assert_eq!(s.skipped, ["Other.Session", "handmade"]);
        let out = doc.render();
        let expected = USER_CONFIG.replace(
            "region = eu-central-1\ncredential_process",
            "region = us-west-2\ncredential_process",
        );
        assert_eq!(out, expected);
    }
}
