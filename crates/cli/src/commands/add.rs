//! `keyfob add`: an IAM user's long-term keys into the keychain, and `credential_process` into
//! the profile.

use crate::app::App;
use crate::cli::AddArgs;
use crate::output::{hinted, say, warn};
use keyfob_core::ResultExt as _;
use keyfob_core::Secret;
use keyfob_core::editor::{SectionId, check_can_write, edit_file};
use keyfob_core::iam_user::StoredKeys;
use keyfob_core::profile::{NameKind, validate_name};
use keyfob_core::store::{SessionStore, SessionStoreExt, keys};
use std::io::BufRead;
use std::process::ExitCode;

pub(crate) fn run(app: &App, args: &AddArgs) -> crate::Result<ExitCode> {
    let name = args.profile.as_str();
    validate_name(NameKind::Profile, name)?;
    // Decide about the config file before anything is stored, so that a refusal leaves
    // nothing behind.
    let write_config = if args.no_config {
        false
    } else if args.yes || crate::prompt::interactive() {
        true // without --yes, asked below once the keys are in hand
    } else {
        return Err(hinted(
            format!(
                "keyfob add {name} would write credential_process into {} and cannot ask",
                app.config_path().display()
            ),
            format!("keyfob add {name} --yes (or --no-config)"),
        ));
    };

    if write_config {
        check_can_write(&app.config_path())?;
    }

    let (akid, secret) = read_keys(args)?;
    validate(&akid, &secret)?;
    let cp_line = if write_config {
        app.credential_process_line(name)?
    } else {
        String::new()
    };
    let write_config = write_config
        && (args.yes
            || crate::prompt::confirm(&format!(
                "Write `credential_process = {cp_line}` into [profile {name}] of {}?",
                app.config_path().display()
            ))?);

    let store = app.store()?;
    store.put_json(
        &keys::iam_user(name),
        &StoredKeys {
            access_key_id: akid.clone(),
            secret_access_key: secret,
        },
    )?;
    // A cached MFA session belongs to the old keys.
    store.delete(&keys::credentials(name))?;
    say(&format!(
        "Stored the access key {} for profile {name} in the {}.",
        mask(&akid),
        store.backend()
    ));

    if write_config {
        let path = app.config_path();
        edit_file(&path, |doc| {
            doc.set(
                &SectionId::Profile(name.to_owned()),
                "credential_process",
                &cp_line,
            );
            Ok::<(), std::convert::Infallible>(())
        })?
        .expect("infallible");
        say(&format!(
            "Profile {name} in {} now uses keyfob.",
            path.display()
        ));
    }

    check_credentials_file(app, name, &akid, args.remove_from_credentials_file)?;
    Ok(ExitCode::SUCCESS)
}

fn read_keys(args: &AddArgs) -> crate::Result<(String, Secret)> {
    if args.from_stdin {
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        let akid = lines.next().transpose()?.unwrap_or_default();
        let secret = lines.next().transpose()?.unwrap_or_default();
        return Ok((akid.trim().to_owned(), Secret::new(secret.trim())));
    }
    if !crate::prompt::interactive() {
        return Err(hinted(
            "no terminal to ask for the keys",
            format!(
                "printf '%s\\n%s\\n' AKID SECRET | keyfob add {} --from-stdin --yes",
                args.profile
            ),
        ));
    }
    let akid = crate::prompt::line("Access key id: ")?;
    let secret = crate::prompt::secret("Secret access key: ")?;
    Ok((akid, Secret::new(secret)))
}

fn validate(akid: &str, secret: &Secret) -> crate::Result<()> {
    let ok_id = (16..=128).contains(&akid.len()) && akid.chars().all(|c| c.is_ascii_alphanumeric());
    if !ok_id {
        crate::bail!(
            "the access key id must be 16 to 128 letters and digits (like AKIA…); nothing was stored"
        );
    }
    if secret.is_empty() || secret.expose().chars().any(char::is_whitespace) {
        crate::bail!("the secret access key is empty or contains spaces; nothing was stored");
    }
    Ok(())
}

/// Shows only the start of a key id, as the AWS console does.
fn mask(akid: &str) -> String {
    format!("{}…", &akid[..akid.len().min(8)])
}

fn check_credentials_file(app: &App, name: &str, akid: &str, remove: bool) -> crate::Result<()> {
    let path = keyfob_core::paths::credentials_file(&app.env);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let doc = keyfob_core::editor::ConfigDocument::parse(&text);
    let id = SectionId::Bare(name.to_owned());
    if doc.get(&id, "aws_access_key_id").as_deref() != Some(akid) {
        return Ok(());
    }
    if !remove {
        warn(&format!(
            "the same keys are still in [{name}] of {}; run `keyfob add {name} --remove-from-credentials-file` to delete them there",
            path.display()
        ));
        return Ok(());
    }
    edit_file(&path, |doc| {
        for key in [
            "aws_access_key_id",
            "aws_secret_access_key",
            "aws_session_token",
        ] {
            doc.remove_key(&id, key);
        }
        if doc.keys(&id).is_empty() {
            doc.remove_section(&id);
        }
        Ok::<(), std::convert::Infallible>(())
    })?
    .expect("infallible");
    say(&format!(
        "Removed the keys from [{name}] of {}.",
        path.display()
    ));
    Ok(())
}
