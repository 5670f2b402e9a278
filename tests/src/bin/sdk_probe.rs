//! A real Rust SDK client for interop tests: resolves credentials for a profile with
//! `aws-config` (exactly as an application would, from the process environment) and prints the
//! caller's ARN from STS `GetCallerIdentity`.
//!
//! Usage: `keyfob-sdk-probe PROFILE` (endpoints from `AWS_ENDPOINT_URL_STS` and friends).

use aws_config::BehaviorVersion;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let profile = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "default".to_owned());
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .profile_name(&profile)
        .load()
        .await;
    let sts = aws_sdk_sts::Client::new(&conf);
    match sts.get_caller_identity().send().await {
        Ok(out) => {
            #[allow(clippy::print_stdout)] // this binary's output is its answer
            {
                println!("{}", out.arn().unwrap_or_default());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "keyfob-sdk-probe: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                );
            }
            std::process::ExitCode::from(1)
        }
    }
}
