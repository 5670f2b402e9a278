//! The `/_fake/*` control API, for shell scripts and out-of-process tests.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::config::{FakeConfig, StaticUser};
use super::oidc::approve;
use super::state::{App, Call, ExpireRequest, InjectedFailure, Op};

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

fn parse_op(name: &str) -> Result<Op, Response> {
    name.parse::<Op>().map_err(|e| {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": e.to_string() })),
        )
            .into_response()
    })
}

/// `GET /_fake/counters`.
pub(crate) async fn counters(State(app): State<App>) -> Response {
    Json(app.lock().counters()).into_response()
}

/// `POST /_fake/reset[?all=true]`.
pub(crate) async fn reset(State(app): State<App>, call: Call) -> Response {
    let all = call
        .query()
        .get("all")
        .is_some_and(|v| v == "true" || v == "1");
    let mut inner = app.lock();
    if all {
        inner.reset_all(app.initial.clone());
    } else {
        inner.reset_observations();
    }
    Json(json!({ "reset": if all { "all" } else { "observations" } })).into_response()
}

/// `GET /_fake/config`.
pub(crate) async fn get_config(State(app): State<App>) -> Response {
    Json(app.lock().config.clone()).into_response()
}

/// `POST /_fake/config`: a JSON merge patch (RFC 7386) of [`FakeConfig`].
pub(crate) async fn patch_config(State(app): State<App>, call: Call) -> Response {
    let patch: Value = match serde_json::from_slice(&call.body) {
        Ok(patch) => patch,
        Err(e) => return bad_request(&format!("body is not JSON: {e}")),
    };
    let mut inner = app.lock();
    match apply_patch(&inner.config, &patch) {
        Ok(config) => {
            inner.config = config.clone();
            Json(config).into_response()
        }
        Err(e) => bad_request(&e),
    }
}

/// `config` with a JSON merge patch applied.
pub(crate) fn apply_patch(config: &FakeConfig, patch: &Value) -> Result<FakeConfig, String> {
    let mut current = serde_json::to_value(config).map_err(|e| e.to_string())?;
    merge(&mut current, patch);
    serde_json::from_value(current).map_err(|e| format!("invalid config patch: {e}"))
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                match target.get_mut(key) {
                    Some(existing) if value.is_object() => merge(existing, value),
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// `POST /_fake/expire` with an optional [`ExpireRequest`] body.
pub(crate) async fn expire(State(app): State<App>, call: Call) -> Response {
    let what: ExpireRequest = if call.body.iter().all(u8::is_ascii_whitespace) {
        ExpireRequest::default()
    } else {
        match serde_json::from_slice(&call.body) {
            Ok(what) => what,
            Err(e) => return bad_request(&format!("invalid expire request: {e}")),
        }
    };
    Json(app.lock().expire(what)).into_response()
}

/// `GET /_fake/last/{op}`.
pub(crate) async fn last(State(app): State<App>, Path(op): Path<String>) -> Response {
    let op = match parse_op(&op) {
        Ok(op) => op,
        Err(response) => return response,
    };
    match app.lock().last(op) {
        Some(request) => Json(request).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no {op} request yet") })),
        )
            .into_response(),
    }
}

/// `GET /_fake/history/{op}`.
pub(crate) async fn history(State(app): State<App>, Path(op): Path<String>) -> Response {
    match parse_op(&op) {
        Ok(op) => Json(app.lock().history(op)).into_response(),
        Err(response) => response,
    }
}

/// `POST /_fake/fail`: queue an [`InjectedFailure`].
pub(crate) async fn fail(State(app): State<App>, call: Call) -> Response {
    match serde_json::from_slice::<InjectedFailure>(&call.body) {
        Ok(failure) => {
            app.lock().push_failure(failure.clone());
            Json(failure).into_response()
        }
        Err(e) => bad_request(&format!("invalid failure: {e}")),
    }
}

/// `POST /_fake/approve[?user_code=]`: approve one device code, or every pending one.
pub(crate) async fn approve_devices(State(app): State<App>, call: Call) -> Response {
    let query = call.query();
    let approved = approve(&mut app.lock(), query.get("user_code").map(String::as_str));
    Json(json!({ "approved": approved })).into_response()
}

/// `POST /_fake/keys`: register a long-term IAM user key ([`StaticUser`] as JSON), whose
/// signatures STS then verifies.
pub(crate) async fn register_key(State(app): State<App>, call: Call) -> Response {
    match serde_json::from_slice::<StaticUser>(&call.body) {
        Ok(user) if user.access_key_id.is_empty() || user.secret_access_key.is_empty() => {
            bad_request("access_key_id and secret_access_key are required")
        }
        Ok(user) => {
            let arn = user.arn();
            app.lock()
                .iam_users
                .insert(user.access_key_id.clone(), user);
            Json(json!({ "arn": arn })).into_response()
        }
        Err(e) => bad_request(&format!("invalid key: {e}")),
    }
}

/// `POST /_fake/forget_clients[?client_id=]`: the IdP forgets one client registration (or
/// all of them); they get `InvalidClientException` from then on.
pub(crate) async fn forget_clients(State(app): State<App>, call: Call) -> Response {
    let query = call.query();
    let forgotten = app
        .lock()
        .forget_clients(query.get("client_id").map(String::as_str));
    Json(json!({ "forgotten": forgotten })).into_response()
}

/// `GET /_fake/issued`: every token and credential handed out.
pub(crate) async fn issued(State(app): State<App>) -> Response {
    let inner = app.lock();
    Json(json!({
        "access_tokens": inner.issued_tokens(),
        "credentials": inner.issued_credentials(),
        "clients": inner.clients.values().collect::<Vec<_>>(),
        "device_authorizations": inner.devices.values().collect::<Vec<_>>(),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let config = FakeConfig::default();
        let patched = apply_patch(
            &config,
            &json!({"device": {"pending_polls": 3}, "throttle_every_n": 2}),
        )
        .unwrap();
        assert_eq!(patched.device.pending_polls, 3);
        assert_eq!(patched.device.interval_secs, config.device.interval_secs);
        assert_eq!(patched.throttle_every_n, 2);
        assert_eq!(patched.org, config.org);
    }

    #[test]
    fn a_typo_in_a_patch_is_an_error() {
        let err =
            apply_patch(&FakeConfig::default(), &json!({"device": {"pendng": 3}})).unwrap_err();
        assert!(err.contains("pendng"), "{err}");
    }
}
