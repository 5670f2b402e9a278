//! The command line, as clap derives it.
// Command-line switches are bools by nature.
#![allow(clippy::struct_excessive_bools)]

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Fresh, refreshable AWS credentials from IAM Identity Center or a SAML IdP, kept in the OS
/// keychain and served to every SDK through `credential_process`.
#[derive(Debug, Parser)]
#[command(
    name = "keyfob",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// More logging on stderr (-v info, -vv debug, -vvv trace). Secrets are never logged.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print a profile's credentials as credential_process JSON (what ~/.aws/config points at).
    CredentialProcess(CredentialProcessArgs),
    /// Store an IAM user's access key in the keychain and serve it through credential_process.
    Add(AddArgs),
    /// Sign in: an SSO session (browser, PKCE or device code), a SAML profile, or an MFA profile.
    Login(LoginArgs),
    /// List what keyfob has stored (never a secret).
    Status(StatusArgs),
    /// Forget what keyfob stored for a profile.
    Remove(RemoveArgs),
    /// Write an sso-session or a SAML profile into ~/.aws/config.
    #[command(subcommand)]
    Configure(ConfigureCommand),
    /// Write one profile per account and role the SSO user can reach into ~/.aws/config.
    Populate(PopulateArgs),
    /// Sign out of an SSO session and forget its tokens.
    Logout(LogoutArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CredentialProcessArgs {
    /// The profile to serve (else AWS_PROFILE, AWS_DEFAULT_PROFILE, default).
    #[arg(long, short = 'p')]
    pub(crate) profile: Option<String>,
    /// MFA code for profiles with mfa_serial whose session has run out.
    #[arg(long, value_name = "CODE")]
    pub(crate) mfa_code: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// The profile to create or update.
    pub(crate) profile: String,
    /// Read the access key id and the secret access key as two lines on stdin.
    #[arg(long)]
    pub(crate) from_stdin: bool,
    /// Write credential_process into the profile without asking.
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// Only store the keys; leave ~/.aws/config alone.
    #[arg(long, conflicts_with = "yes")]
    pub(crate) no_config: bool,
    /// Delete the same keys from the shared credentials file.
    #[arg(long)]
    pub(crate) remove_from_credentials_file: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The sso-session to sign in to.
    #[arg(long, conflicts_with = "profile")]
    pub(crate) sso_session: Option<String>,
    /// A profile: its sso-session, its SAML IdP, or its MFA device.
    #[arg(long, short = 'p')]
    pub(crate) profile: Option<String>,
    /// SSO: use the device-code flow instead of the browser redirect (PKCE).
    #[arg(long)]
    pub(crate) use_device_code: bool,
    /// Print the sign-in URL instead of opening a browser.
    #[arg(long)]
    pub(crate) no_browser: bool,
    /// SSO: also write the token to ~/.aws/sso/cache for tools that read it natively.
    #[arg(long)]
    pub(crate) write_sso_cache: bool,
    /// MFA code (MFA profiles, and SAML IdPs that ask for one).
    #[arg(long, value_name = "CODE")]
    pub(crate) mfa_code: Option<String>,
    /// SAML: read the IdP password from stdin.
    #[arg(long)]
    pub(crate) password_stdin: bool,
    /// SAML: forget the stored IdP password.
    #[arg(long)]
    pub(crate) forget_password: bool,
    /// SAML: the role to assume when the assertion offers several.
    #[arg(long)]
    pub(crate) role_arn: Option<String>,
    /// SAML: a base64 SAMLResponse copied from the browser (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub(crate) saml_response_file: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RemoveArgs {
    /// The profile whose stored keys, credentials and password to delete.
    pub(crate) profile: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigureCommand {
    /// Write an [sso-session NAME] section.
    SsoSession(ConfigureSsoArgs),
    /// Write a SAML role profile.
    Saml(ConfigureSamlArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ConfigureSsoArgs {
    /// The session name.
    pub(crate) name: String,
    /// The AWS access portal URL (https://…/start).
    #[arg(long)]
    pub(crate) start_url: String,
    /// The IAM Identity Center region.
    #[arg(long)]
    pub(crate) region: String,
    /// Registration scopes, comma-separated.
    #[arg(long, default_value = "sso:account:access")]
    pub(crate) scopes: String,
}

#[derive(Debug, Args)]
pub(crate) struct ConfigureSamlArgs {
    /// The profile name.
    pub(crate) profile: String,
    /// The IdP-initiated sign-in URL.
    #[arg(long)]
    pub(crate) url: String,
    /// The IdP user name.
    #[arg(long)]
    pub(crate) username: String,
    /// The role to assume (else chosen at login).
    #[arg(long)]
    pub(crate) role_arn: Option<String>,
    /// The SAML provider ARN (else taken from the assertion).
    #[arg(long)]
    pub(crate) principal_arn: Option<String>,
    /// Session length in seconds.
    #[arg(long)]
    pub(crate) duration_seconds: Option<u32>,
    /// The profile's region.
    #[arg(long)]
    pub(crate) region: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum PopulateStyle {
    /// keyfob_sso_* keys and credential_process.
    Process,
    /// sso_session / sso_account_id / sso_role_name, read natively by the SDKs.
    Native,
}

#[derive(Debug, Args)]
pub(crate) struct PopulateArgs {
    /// The sso-session whose accounts to list.
    #[arg(long)]
    pub(crate) sso_session: String,
    /// Profile name template: {account_name} {account_id} {role_name} {sso_session} {region}.
    #[arg(long, default_value = "{account_name}.{role_name}")]
    pub(crate) name_template: String,
    /// Lower-case the profile names.
    #[arg(long)]
    pub(crate) lower: bool,
    /// The region written into each profile.
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// Which keys the profiles get.
    #[arg(long, value_enum, default_value_t = PopulateStyle::Process)]
    pub(crate) style: PopulateStyle,
    /// Remove profiles keyfob wrote earlier for this session that are no longer assigned.
    #[arg(long)]
    pub(crate) prune: bool,
    /// Print a unified diff and write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// The sso-session to sign out of.
    #[arg(long, conflicts_with = "all")]
    pub(crate) sso_session: Option<String>,
    /// Every sso-session keyfob holds tokens for.
    #[arg(long)]
    pub(crate) all: bool,
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
