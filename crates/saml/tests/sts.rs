//! AssumeRoleWithSAML against a fake STS, and `SamlSource` end to end (fake IdP + fake STS).
//!
//! The fake STS (`POST /`, query protocol) answers by the role's name:
//!
//! | role name    | answer                                              |
//! |--------------|-----------------------------------------------------|
//! | `Developer`  | credentials expiring 2099-01-01T00:00:00Z           |
//! | `TooLong`    | 400 ValidationError (MaxSessionDuration)            |
//! | `Untrusted`  | 403 AccessDenied                                    |
//! | `Expired`    | 400 ExpiredTokenException                           |
//! | `Rejected`   | 400 IDPRejectedClaim                                |
//! | `Disabled`   | 403 RegionDisabledException                         |

mod common;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use chrono::{TimeZone, Utc};
use keyfob_core::Secret;
use keyfob_core::env::{Env, FixedClock};
use keyfob_core::profile::Plan;
use keyfob_core::source::CredentialSource;
use keyfob_saml::sts::{StsError, StsRequest, assume_role_with_saml};
use keyfob_saml::{RolePair, SamlSource};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One request to the fake: its form fields, and whether it carried an Authorization header.
type Request = (HashMap<String, String>, bool);

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Request>>>);

fn error(status: StatusCode, code: &str, message: &str) -> axum::response::Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml")],
        format!(
            r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"#
        ),
    )
        .into_response()
}

async fn sts(
    State(seen): State<Seen>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> axum::response::Response {
    let signed = headers.contains_key(header::AUTHORIZATION);
    let role = f.get("RoleArn").cloned().unwrap_or_default();
    seen.0.lock().unwrap().push((f, signed));
    match role.rsplit('/').next().unwrap_or_default() {
        "Developer" => (
            [(header::CONTENT_TYPE, "text/xml")],
            r#"<AssumeRoleWithSAMLResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithSAMLResult><Credentials><AccessKeyId>ASIAFAKE</AccessKeyId><SecretAccessKey>fake-secret</SecretAccessKey><SessionToken>fake-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><Audience>https://signin.aws.amazon.com/saml</Audience></AssumeRoleWithSAMLResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></AssumeRoleWithSAMLResponse>"#,
        )
            .into_response(),
        "TooLong" => error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ),
        "Untrusted" => error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithSAML",
        ),
        "Expired" => error(
            StatusCode::BAD_REQUEST,
            "ExpiredTokenException",
            "Token must be redeemed within 5 minutes of issuance",
        ),
        "Rejected" => error(
            StatusCode::BAD_REQUEST,
            "IDPRejectedClaim",
            "Error parsing the SAML assertion",
        ),
        "Disabled" => error(
            StatusCode::FORBIDDEN,
            "RegionDisabledException",
            "STS is not activated in this region",
        ),
        _ => error(StatusCode::BAD_REQUEST, "ValidationError", "unknown role"),
    }
}

async fn fake_sts() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new().route("/", post(sts)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn role(name: &str) -> RolePair {
    RolePair {
        role_arn: format!("arn:aws:iam::111122223333:role/{name}"),
        principal_arn: "arn:aws:iam::111122223333:saml-provider/corp".into(),
    }
}

async fn call(
    endpoint: &str,
    name: &str,
    duration: Option<i32>,
) -> Result<keyfob_core::Credentials, StsError> {
    let role = role(name);
    let assertion = Secret::new("PHNhbWxwOlJlc3BvbnNlLz4=");
    assume_role_with_saml(&StsRequest {
        profile: "work",
        region: "eu-west-1",
        endpoint_url: Some(endpoint),
        use_profile_config: false,
        role: &role,
        saml_assertion: &assertion,
        duration_seconds: duration,
    })
    .await
}

#[tokio::test]
async fn assume_role_with_saml_is_unsigned_and_sends_the_pair() {
    let (endpoint, seen) = fake_sts().await;
    let creds = call(&endpoint, "Developer", Some(3600)).await.unwrap();
    assert_eq!(creds.access_key_id, "ASIAFAKE");
    assert_eq!(creds.secret_access_key.expose(), "fake-secret");
    assert_eq!(creds.session_token.unwrap().expose(), "fake-token");
    assert_eq!(
        creds.expiration,
        Some(Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).unwrap())
    );
    let (form, signed) = seen.0.lock().unwrap()[0].clone();
    assert!(!signed, "AssumeRoleWithSAML must not be signed");
    assert_eq!(form["Action"], "AssumeRoleWithSAML");
    assert_eq!(form["RoleArn"], role("Developer").role_arn);
    assert_eq!(form["PrincipalArn"], role("Developer").principal_arn);
    assert_eq!(form["SAMLAssertion"], "PHNhbWxwOlJlc3BvbnNlLz4=");
    assert_eq!(form["DurationSeconds"], "3600");
}

#[tokio::test]
async fn sts_errors_say_what_fixes_them() {
    let (endpoint, _) = fake_sts().await;
    let cases = [
        (
            "TooLong",
            "DurationSeconds 43200 exceeds the role's MaxSessionDuration: lower duration_seconds in profile work",
        ),
        (
            "Untrusted",
            "STS refused arn:aws:iam::111122223333:role/Untrusted through arn:aws:iam::111122223333:saml-provider/corp (AccessDenied: Not authorized to perform sts:AssumeRoleWithSAML); the role's trust policy must allow sts:AssumeRoleWithSAML for that SAML provider: ask your AWS admin",
        ),
        (
            "Expired",
            "STS says the SAML assertion has expired (Token must be redeemed within 5 minutes of issuance); log in again, and if this keeps happening check this computer's clock",
        ),
        (
            "Rejected",
            "STS rejected the SAML assertion (IDPRejectedClaim: Error parsing the SAML assertion); the IAM SAML provider's metadata may not match the IdP's signing certificate: ask your AWS admin",
        ),
        (
            "Disabled",
            "STS is not activated in region eu-west-1 for this account; set region in profile work to a region where it is",
        ),
    ];
    for (name, message) in cases {
        let err = call(&endpoint, name, Some(43_200)).await.unwrap_err();
        assert_eq!(err.to_string(), message, "{name}");
    }
}

#[tokio::test]
async fn an_unreachable_sts_is_one_line() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = call(&format!("http://127.0.0.1:{port}"), "Developer", None)
        .await
        .unwrap_err();
    assert!(matches!(err, StsError::Unreachable { .. }), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");
}

fn plan(idp: &str, role_arn: Option<&str>, duration: Option<i32>) -> Plan {
    Plan::Saml {
        url: format!("{idp}/basic/start"),
        username: "alice".into(),
        role_arn: role_arn.map(str::to_owned),
        principal_arn: None,
        duration_seconds: duration,
        trusted_origins: Vec::new(),
        browser: false,
    }
}

fn source(plan: &Plan, sts: &str) -> SamlSource {
    SamlSource::from_plan("work", plan, Some(Secret::new(common::fake_idp::PASSWORD)))
        .unwrap()
        .with_env(&Env::from_pairs([("AWS_ENDPOINT_URL_STS", sts)]))
        .with_profile_config(false)
        .with_clock(Arc::new(FixedClock(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        )))
}

#[tokio::test]
async fn saml_source_fetches_credentials_silently() {
    let idp = common::fake_idp::serve().await;
    let (sts, seen) = fake_sts().await;
    let creds = source(&plan(&idp, None, Some(100_000)), &sts)
        .fetch()
        .await
        .unwrap();
    assert_eq!(creds.access_key_id, "ASIAFAKE");
    let (form, _) = seen.0.lock().unwrap()[0].clone();
    assert_eq!(form["RoleArn"], role("Developer").role_arn);
    // Clamped to 43200.
    assert_eq!(form["DurationSeconds"], "43200");
    assert_eq!(form["SAMLAssertion"], common::fake_idp::saml_response_b64());
}

#[tokio::test]
async fn a_role_the_idp_does_not_offer_is_named_with_the_offered_ones() {
    let idp = common::fake_idp::serve().await;
    let (sts, _) = fake_sts().await;
    let err = source(
        &plan(&idp, Some("arn:aws:iam::111122223333:role/Admin"), None),
        &sts,
    )
    .fetch()
    .await
    .unwrap_err();
    assert!(
        err.message.contains("role/Admin") && err.message.contains("role/Developer"),
        "{err}"
    );
    assert_eq!(err.hint.as_deref(), Some("keyfob login --profile work"));
}

#[tokio::test]
async fn silent_refresh_never_prompts_for_a_code() {
    let idp = common::fake_idp::serve().await;
    let (sts, seen) = fake_sts().await;
    let mut p = plan(&idp, None, None);
    if let Plan::Saml { url, .. } = &mut p {
        *url = format!("{idp}/mfa/start");
    }
    let err = source(&p, &sts).fetch().await.unwrap_err();
    assert!(err.needs_user, "{err}");
    assert_eq!(err.hint.as_deref(), Some("keyfob login --profile work"));
    assert!(seen.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_stopped_clock_past_the_assertion_refuses_it() {
    let idp = common::fake_idp::serve().await;
    let (sts, seen) = fake_sts().await;
    let err = source(&plan(&idp, None, None), &sts)
        .with_clock(Arc::new(FixedClock(
            Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap(),
        )))
        .fetch()
        .await
        .unwrap_err();
    assert!(err.message.contains("expired"), "{err}");
    assert!(seen.0.lock().unwrap().is_empty());
}
