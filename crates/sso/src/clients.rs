//! The SDK clients, built only when a call is about to go on the wire (an SDK config costs
//! ~8 ms: a cache hit must not pay it).

use aws_sdk_sso::config::retry::RetryConfig;
use aws_types::region::Region;
use keyfob_core::Env;
use keyfob_core::net::ResponseCap;

/// Attempts for one call (the SDK's standard retry: throttling, 5xx, transient I/O).
const MAX_ATTEMPTS: u32 = 3;

/// The endpoint a service is reached at, as the SDK resolves it: the service's
/// `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`, else the regional default.
fn endpoint(env: &Env, service_var: &str, default: String) -> (String, bool) {
    let ignore = env
        .get_non_empty("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let configured = if ignore {
        None
    } else {
        env.get_non_empty(service_var)
            .or_else(|| env.get_non_empty("AWS_ENDPOINT_URL"))
    };
    match configured {
        Some(url) => (url.trim().trim_end_matches('/').to_owned(), true),
        None => (default, false),
    }
}

fn oidc_target(env: &Env, region: &str) -> (String, bool) {
    endpoint(
        env,
        "AWS_ENDPOINT_URL_SSO_OIDC",
        format!("https://oidc.{region}.amazonaws.com"),
    )
}

fn portal_target(env: &Env, region: &str) -> (String, bool) {
    endpoint(
        env,
        "AWS_ENDPOINT_URL_SSO",
        format!("https://portal.sso.{region}.amazonaws.com"),
    )
}

/// The OIDC endpoint (`AWS_ENDPOINT_URL_SSO_OIDC`, else `https://oidc.REGION.amazonaws.com`);
/// the PKCE authorize URL is built on it.
pub(crate) fn oidc_endpoint(env: &Env, region: &str) -> String {
    oidc_target(env, region).0
}

async fn sdk_config(region: &str) -> aws_types::SdkConfig {
    // Timeouts and the answer cap: keyfob_core::net (every call is bounded).
    keyfob_core::net::sdk_defaults()
        .no_credentials()
        .region(Region::new(region.to_owned()))
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .load()
        .await
}

/// An OIDC client for `region`.
pub(crate) async fn oidc(env: &Env, region: &str) -> (aws_sdk_ssooidc::Client, String) {
    let sdk = sdk_config(region).await;
    let (url, configured) = oidc_target(env, region);
    let mut conf = aws_sdk_ssooidc::config::Builder::from(&sdk).interceptor(ResponseCap);
    // The SDK loader reads the same variables from the process environment; setting them
    // from keyfob's `Env` as well makes an injected environment (tests, `exec`) count too.
    if configured {
        conf = conf.endpoint_url(&url);
    }
    (aws_sdk_ssooidc::Client::from_conf(conf.build()), url)
}

/// A portal client for `region`. `own_retries`: the caller retries throttling itself (the
/// listing in `populate`), so the SDK must not multiply the attempts.
pub(crate) async fn portal(
    env: &Env,
    region: &str,
    own_retries: bool,
) -> (aws_sdk_sso::Client, String) {
    let sdk = sdk_config(region).await;
    let (url, configured) = portal_target(env, region);
    let mut conf = aws_sdk_sso::config::Builder::from(&sdk).interceptor(ResponseCap);
    if configured {
        conf = conf.endpoint_url(&url);
    }
    if own_retries {
        conf = conf.retry_config(RetryConfig::disabled());
    }
    (aws_sdk_sso::Client::from_conf(conf.build()), url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_sdk_variables() {
        let env = Env::from_pairs([("X", "y")]);
        assert_eq!(
            oidc_endpoint(&env, "eu-west-1"),
            "https://oidc.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            portal_target(&env, "eu-west-1").0,
            "https://portal.sso.eu-west-1.amazonaws.com"
        );
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9/"),
            ("AWS_ENDPOINT_URL_SSO_OIDC", "http://127.0.0.1:1234/"),
        ]);
        assert_eq!(oidc_endpoint(&env, "eu-west-1"), "http://127.0.0.1:1234");
        assert_eq!(
            portal_target(&env, "eu-west-1"),
            ("http://127.0.0.1:9".to_owned(), true)
        );
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL_SSO_OIDC", "http://127.0.0.1:1234"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]);
        assert_eq!(
            oidc_endpoint(&env, "us-east-1"),
            "https://oidc.us-east-1.amazonaws.com"
        );
    }
}
