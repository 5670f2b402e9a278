//! Credentials keyfob leaves to aws-config's own providers, exactly as an SDK would get them:
//! a whole chain keyfob does not run itself, and the `credential_source` bases of chains it does.

use crate::credentials::Credentials;
use crate::env::Env;
use crate::secret::Secret;
use aws_credential_types::provider::ProvideCredentials;

/// The credentials of `profile`'s whole chain, by aws-config's `ProfileFileCredentialsProvider`.
pub async fn profile_chain(profile: &str, region: &str) -> Result<Credentials, String> {
    use aws_config::profile::ProfileFileCredentialsProvider;
    use aws_config::provider_config::ProviderConfig;
    let conf = ProviderConfig::without_region()
        .with_region(Some(aws_types::region::Region::new(region.to_owned())));
    let provider = ProfileFileCredentialsProvider::builder()
        .configure(&conf)
        .profile_name(profile)
        .build();
    provide(&provider).await
}

/// The credentials of a `credential_source`: `Environment`, `Ec2InstanceMetadata` or
/// `EcsContainer`.
pub async fn named_source(source: &str, env: &Env) -> Result<Credentials, String> {
    match source {
        // As aws-config's EnvironmentVariableCredentialsProvider reads them, from keyfob's Env.
        "Environment" => {
            let get = |k: &str| env.get_non_empty(k);
            match (
                get("AWS_ACCESS_KEY_ID"),
                get("AWS_SECRET_ACCESS_KEY").or_else(|| get("AWS_SECRET_KEY")),
            ) {
                (Some(id), Some(secret)) => Ok(Credentials {
                    access_key_id: id.trim().to_owned(),
                    secret_access_key: Secret::new(secret.trim()),
                    session_token: get("AWS_SESSION_TOKEN").map(|t| Secret::new(t.trim())),
                    expiration: None,
                }),
                _ => Err(
                    "credential_source = Environment, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set"
                        .to_owned(),
                ),
            }
        }
        "Ec2InstanceMetadata" => {
            let provider =
                aws_config::imds::credentials::ImdsCredentialsProvider::builder().build();
            provide(&provider).await
        }
        "EcsContainer" => {
            let provider = aws_config::ecs::EcsCredentialsProvider::builder().build();
            provide(&provider).await
        }
        other => Err(format!(
            "credential_source {other:?} is not one of Environment, Ec2InstanceMetadata, EcsContainer"
        )),
    }
}

async fn provide(provider: &impl ProvideCredentials) -> Result<Credentials, String> {
    let c = tokio::time::timeout(
        crate::net::OPERATION_TIMEOUT,
        provider.provide_credentials(),
    )
    .await
    .map_err(|_| {
        format!(
            "no credentials within {} s",
            crate::net::OPERATION_TIMEOUT.as_secs()
        )
    })?
    .map_err(|e| crate::error::one_line(&e))?;
    Ok(Credentials {
        access_key_id: c.access_key_id().to_owned(),
        secret_access_key: Secret::new(c.secret_access_key()),
        session_token: c.session_token().map(Secret::new),
        expiration: c.expiry().map(chrono::DateTime::<chrono::Utc>::from),
    })
}
