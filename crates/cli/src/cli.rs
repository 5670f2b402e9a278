//! The command line, as clap derives it.
// Command-line switches are bools by nature.
#![allow(clippy::struct_excessive_bools)]

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Fresh, refreshable AWS credentials from IAM Identity Center or a SAML IdP, kept in the OS
/// keychain and served to every SDK through `credential_process`.
#[derive(Debug, Parser)]
#[command(
    name = "keyfob",
    // The engine reads its arguments as `keyfob` (keyfob_core::programs), whatever its file.
    bin_name = "keyfob",
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
    /// Print a profile's credentials for tools that read neither the config nor credential_process.
    Export(ExportArgs),
    /// Run one command with a profile's credentials and region in its environment.
    Exec(ExecArgs),
    /// Serve a profile's credentials on 127.0.0.1 as a container (ECS) endpoint, or as IMDSv2.
    ///
    /// Prints the variables to hand to the client, then serves until Ctrl-C or SIGTERM. The
    /// server answers only requests from this machine addressed to 127.0.0.1:PORT or
    /// localhost:PORT (other Host headers get 403, which stops web pages that rebind their name
    /// to 127.0.0.1), closes connections that take over 10 s to send their headers, serves at
    /// most 64 connections at once and refuses request bodies over 1 KiB.
    ///
    /// Prefer the default container (ECS) mode: every request must carry a random bearer token
    /// (AWS_CONTAINER_AUTHORIZATION_TOKEN, or with --token-file a 0600 file the SDKs re-read),
    /// so only the processes you hand it to get credentials. --imds mode, like the real
    /// instance metadata service, has no per-caller secret: any process on this machine that
    /// finds the port can take the credentials.
    Serve(ServeArgs),
    /// Sign in to the AWS console with a profile's credentials (federation URL).
    ///
    /// The sign-in URL is a secret: it is opened in the browser ($BROWSER, else the desktop's
    /// opener) or printed on stdout, never logged. KEYFOB_FEDERATION_ENDPOINT replaces the
    /// partition's https://signin…/federation endpoint (for tests or a proxy); it must be https,
    /// or http to 127.0.0.1, ::1 or localhost, since the session's keys travel to it.
    Console(ConsoleArgs),
    /// Show whose credentials a profile gives (STS GetCallerIdentity).
    Whoami(WhoamiArgs),
    /// Print a token for an EKS cluster as kubectl's ExecCredential JSON, cached in the keychain.
    ///
    /// The token is what `aws eks get-token` prints: a presigned STS GetCallerIdentity URL for
    /// the cluster, signed with the profile's credentials (or, with --role-arn, a role assumed
    /// with them). It is kept in the keychain until a minute before the 15 minutes the cluster
    /// accepts it for end, per profile, cluster, region and role, and only for the profile's
    /// current configuration: a re-pointed profile gets a new token. kubectl runs this on every
    /// call; `keyfob kubeconfig` writes the entry that makes it do so.
    EksToken(EksTokenArgs),
    /// Show the kubeconfig user that runs `keyfob eks-token`, or with --write add it to a kubeconfig.
    ///
    /// --write edits the file (--kubeconfig, else the first path in KUBECONFIG, else
    /// ~/.kube/config) under kubectl's own lock: it adds the user PROFILE@CLUSTER, or replaces
    /// the user of that name, and keeps every other user, cluster and context. The file is
    /// rewritten through a YAML library: its comments are dropped, aliases are written out as
    /// copies, and quoting and indentation change; the data stays. Point a context at the user
    /// with `kubectl config set-context NAME --cluster CLUSTER --user PROFILE@CLUSTER`.
    Kubeconfig(KubeconfigArgs),
    /// Print a shell completion script (profile names complete from the config).
    Completions(CompletionsArgs),
    /// Print keyfob's man page (roff) on stdout.
    Man,
    /// Print the profile names of the config, one a line (used by the completion scripts).
    #[command(name = "__complete-profiles", hide = true)]
    CompleteProfiles,
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
    // A name starting with `-` reaches keyfob's own check (one line), not clap's usage error.
    #[arg(allow_hyphen_values = true)]
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
    #[arg(long, value_name = "FILE", conflicts_with = "browser")]
    pub(crate) saml_response_file: Option<String>,
    /// SAML: sign in on the IdP's own page in your Chromium-family browser (any MFA factor),
    /// as `keyfob_saml_login = browser` profiles always do.
    #[arg(long, conflicts_with_all = ["password_stdin", "forget_password", "sso_session"])]
    pub(crate) browser: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Machine-readable output (every row, as with --all).
    #[arg(long)]
    pub(crate) json: bool,
    /// List every profile keyfob serves, also those with no credentials cached yet (by
    /// default they are counted, one line per sso-session).
    #[arg(long)]
    pub(crate) all: bool,
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
    /// Write a role profile that keyfob assumes from another profile's credentials and caches
    /// in the keychain (aws-vault's role chaining): keyfob_role_arn, keyfob_source_profile (or
    /// keyfob_credential_source) and credential_process, so that the SDKs run keyfob instead of
    /// assuming the role themselves on every start.
    Role(ConfigureRoleArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ConfigureRoleArgs {
    /// The profile name.
    #[arg(allow_hyphen_values = true)]
    pub(crate) profile: String,
    /// The role to assume.
    #[arg(long)]
    pub(crate) role_arn: String,
    /// The profile whose credentials assume it (any profile keyfob or the SDKs can resolve).
    #[arg(
        long,
        required_unless_present = "credential_source",
        conflicts_with = "credential_source"
    )]
    pub(crate) source_profile: Option<String>,
    /// Instead of a source profile: Environment, Ec2InstanceMetadata or EcsContainer.
    #[arg(long, value_parser = ["Environment", "Ec2InstanceMetadata", "EcsContainer"])]
    pub(crate) credential_source: Option<String>,
    /// An MFA device: its code is asked for once per role session (keyfob login --profile).
    #[arg(long)]
    pub(crate) mfa_serial: Option<String>,
    /// The external id the role's trust policy asks for.
    #[arg(long)]
    pub(crate) external_id: Option<String>,
    /// The role session's name (default `keyfob-<time>`).
    #[arg(long)]
    pub(crate) role_session_name: Option<String>,
    /// Session length in seconds (900–43200; a role assumed from role credentials gets at
    /// most 3600).
    #[arg(long, value_parser = clap::value_parser!(u32).range(900..=43200))]
    pub(crate) duration_seconds: Option<u32>,
    /// The source identity set on the session.
    #[arg(long)]
    pub(crate) source_identity: Option<String>,
    /// The profile's region.
    #[arg(long)]
    pub(crate) region: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ConfigureSsoArgs {
    /// The session name.
    #[arg(allow_hyphen_values = true)]
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
    #[arg(allow_hyphen_values = true)]
    pub(crate) profile: String,
    /// The IdP-initiated sign-in URL.
    #[arg(long)]
    pub(crate) url: String,
    /// The IdP user name (not needed with --browser).
    #[arg(long, required_unless_present = "browser")]
    pub(crate) username: Option<String>,
    /// Sign in through your Chromium-family browser on the IdP's own page (any MFA factor);
    /// written as keyfob_saml_login = browser.
    #[arg(long)]
    pub(crate) browser: bool,
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
    /// Another origin (https://… plus the port when it is not 443) that may receive the IdP
    /// password, besides the --url's; repeat for several. keyfob refuses to send the password
    /// anywhere else. Written as keyfob_saml_trusted_origins.
    #[arg(long = "trusted-origin", value_name = "ORIGIN")]
    pub(crate) trusted_origins: Vec<String>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    /// `export NAME='value'` lines for sh, bash and zsh (`eval "$(keyfob export …)"`).
    Env,
    /// `set -gx NAME 'value'` lines for fish.
    Fish,
    /// `$Env:NAME = 'value'` lines for PowerShell.
    Powershell,
    /// The credential_process JSON.
    Json,
    /// An `[PROFILE]` section written into a shared credentials file.
    Credentials,
    /// `NAME=value` lines for .env files.
    Dotenv,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The profile (else AWS_PROFILE, AWS_DEFAULT_PROFILE, default).
    #[arg(long, short = 'p')]
    pub(crate) profile: Option<String>,
    /// The output format.
    #[arg(long, short = 'f', value_enum, default_value_t = ExportFormat::Env)]
    pub(crate) format: ExportFormat,
    /// Write to this file (created 0600, replaced atomically) instead of stdout; for
    /// `--format credentials` the file to add the section to (default: the shared credentials
    /// file).
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<std::path::PathBuf>,
    /// MFA code, for profiles with mfa_serial whose session has run out.
    #[arg(long, value_name = "CODE")]
    pub(crate) mfa_code: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// The profile (else AWS_PROFILE, AWS_DEFAULT_PROFILE, default).
    #[arg(long, short = 'p')]
    pub(crate) profile: Option<String>,
    /// Give the command a local container endpoint (refreshing credentials) instead of keys.
    #[arg(long)]
    pub(crate) serve: bool,
    /// Run even inside another `keyfob exec` for a different profile.
    #[arg(long)]
    pub(crate) allow_nested: bool,
    /// MFA code, for profiles with mfa_serial whose session has run out.
    #[arg(long, value_name = "CODE")]
    pub(crate) mfa_code: Option<String>,
    /// The command and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub(crate) command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The profile (else AWS_PROFILE, AWS_DEFAULT_PROFILE, default).
    #[arg(long, short = 'p')]
    pub(crate) profile: Option<String>,
    /// The port on 127.0.0.1 (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub(crate) port: u16,
    /// Serve the EC2 instance metadata service (IMDSv2) instead of the container endpoint.
    /// Like real IMDS it has no per-caller secret: any local process can read the
    /// credentials. Prefer the container endpoint where the client supports it.
    #[arg(long)]
    pub(crate) imds: bool,
    /// Write the bearer token to this file (mode 0600, replaced atomically, removed on exit)
    /// and print AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE instead of the token itself; the SDKs
    /// read the file on each request (e.g. through a container's volume mount).
    #[arg(long, value_name = "PATH", conflicts_with = "imds")]
    pub(crate) token_file: Option<std::path::PathBuf>,
    /// MFA code, for profiles with mfa_serial whose session has run out.
    #[arg(long, value_name = "CODE")]
    pub(crate) mfa_code: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ConsoleArgs {
    /// The profile (else AWS_PROFILE, AWS_DEFAULT_PROFILE, default).
    #[arg(long, short = 'p')]
    pub(crate) profile: Option<String>,
    /// The console page to open (default: the console home of the profile's partition).
    #[arg(long, value_name = "URL")]
    pub(crate) destination: Option<String>,
    /// Print the sign-in URL on stdout instead of opening a browser.
    #[arg(long)]
    pub(crate) no_browser: bool,
    /// Console session length in seconds (900 to 43200); not for chained roles.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(900..=43200))]
    pub(crate) duration_seconds: Option<u32>,
    /// MFA code, for profiles with mfa_serial whose session has run out.
    #[arg(long, value_name = "CODE")]
    pub(crate) mfa_code: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct WhoamiArgs {
    /// The profile (else AWS_PROFILE, AWS_DEFAULT_PROFILE, default).
    #[arg(long, short = 'p')]
    pub(crate) profile: Option<String>,
    /// Machine-readable output (the shape of `aws sts get-caller-identity`).
    #[arg(long)]
    pub(crate) json: bool,
    /// MFA code, for profiles with mfa_serial whose session has run out.
    #[arg(long, value_name = "CODE")]
    pub(crate) mfa_code: Option<String>,
}

/// The `client.authentication.k8s.io` version of `keyfob eks-token`'s output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EksApiVersion {
    V1beta1,
    V1,
}

#[derive(Debug, Args)]
pub(crate) struct EksTokenArgs {
    /// The cluster's name (for a local cluster on AWS Outposts, its id).
    #[arg(long, value_name = "NAME")]
    pub(crate) cluster: String,
    /// The profile whose credentials sign (else AWS_PROFILE, AWS_DEFAULT_PROFILE, default).
    #[arg(long, short = 'p')]
    pub(crate) profile: Option<String>,
    /// The cluster's region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's region; with
    /// none, STS's global endpoint, as the AWS CLI does).
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// Sign with this role, assumed with the profile's credentials (session EKSGetTokenAuth).
    #[arg(long, value_name = "ARN")]
    pub(crate) role_arn: Option<String>,
    /// The output's apiVersion (else what kubectl asks for in KUBERNETES_EXEC_INFO, else v1beta1).
    #[arg(long, value_enum)]
    pub(crate) api_version: Option<EksApiVersion>,
}

#[derive(Debug, Args)]
pub(crate) struct KubeconfigArgs {
    /// The cluster's name (for a local cluster on AWS Outposts, its id).
    #[arg(long, value_name = "NAME")]
    pub(crate) cluster: String,
    /// The profile whose credentials sign the tokens.
    #[arg(long, short = 'p')]
    pub(crate) profile: String,
    /// The cluster's region, written into the command (else it is looked up on each run).
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// A role to sign with, assumed with the profile's credentials.
    #[arg(long, value_name = "ARN")]
    pub(crate) role_arn: Option<String>,
    /// The kubeconfig to edit with --write (else the first path in KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    pub(crate) kubeconfig: Option<std::path::PathBuf>,
    /// Edit the kubeconfig instead of printing the entry.
    #[arg(long)]
    pub(crate) write: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
