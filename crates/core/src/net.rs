//! Bounds for every network call keyfob makes (trust rule "nothing waits forever"): connect and
//! operation timeouts for the AWS SDK clients, and a cap on the size of any answer.
//!
//! The figures: a credential request must fail with a clear line before the SDK that spawned
//! `credential_process` gives up (about a minute in some SDKs), and a whole refresh — perhaps an
//! SSO token refresh and then GetRoleCredentials — gets [`crate::serve::REFRESH_BUDGET`].
//! - connect: 5 s. AWS endpoints answer a TCP handshake in milliseconds; 5 s allows a slow
//!   VPN or a proxy while leaving room for the retries.
//! - each attempt: 10 s, first byte to last. STS and IAM Identity Center answer in well under a
//!   second; a silent server costs at most 10 s per try.
//! - a whole operation with its retries: 25 s, so two calls in a row still fit the budget of
//!   one refresh.
//! - an answer: 1 MiB. The largest answers keyfob reads (a page of ListAccounts, an STS
//!   credential set) are a few kilobytes; a server that sends more is broken or hostile, and
//!   reading it whole would only cost memory.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use std::time::Duration;

/// Time to set up a connection (TCP and TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for one attempt of one call, the whole answer read.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for one call with all its retries.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(25);
/// The largest answer read from any server.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The SDK timeouts above, for `aws_config::ConfigLoader::timeout_config`.
pub fn timeout_config() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(ATTEMPT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The SDK defaults keyfob starts every client from: the latest behaviour version and the
/// timeouts above. Add the [`ResponseCap`] interceptor to each service client built from it.
pub fn sdk_defaults() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeout_config())
}

/// An SDK interceptor that fails a call whose answer is larger than [`MAX_RESPONSE_BYTES`]
/// instead of reading it whole.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseCap;

/// An answer over the cap.
#[derive(Debug, thiserror::Error)]
#[error("the server's answer is larger than {max} bytes; keyfob stopped reading it")]
pub struct TooLarge {
    /// The cap.
    pub max: usize,
}

impl Intercept for ResponseCap {
    fn name(&self) -> &'static str {
        "keyfob::ResponseCap"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use http_body_util::BodyExt as _;
        let response = context.response_mut();
        if let Some(len) = response
            .headers()
            .get("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            && len > MAX_RESPONSE_BYTES as u64
        {
            return Err(Box::new(TooLarge {
                max: MAX_RESPONSE_BYTES,
            }));
        }
        let body = response.take_body();
        let limited = http_body_util::Limited::new(body, MAX_RESPONSE_BYTES).map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Box::new(TooLarge {
                    max: MAX_RESPONSE_BYTES,
                }) as BoxError
            } else {
                e
            }
        });
        *response.body_mut() = SdkBody::from_body_1_x(limited);
        Ok(())
    }
}

impl crate::error::UserError for TooLarge {}
