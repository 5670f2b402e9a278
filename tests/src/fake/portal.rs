//! The SSO portal (restJson1, bearer token in `x-amz-sso_bearer_token`): accounts, roles,
//! role credentials, logout.

use std::collections::BTreeMap;
use std::ops::Range;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::state::{
    ALNUM, App, Call, CredentialKind, InjectedFailure, Inner, IssuedToken, Op, PageCursor,
    new_credentials, now, random,
};
use super::wire::{json_ok, portal_error, status, with_retry_after};

const BEARER: &str = "x-amz-sso_bearer_token";

fn unauthorized() -> Response {
    portal_error(
        StatusCode::UNAUTHORIZED,
        "UnauthorizedException",
        "Session token not found or invalid",
    )
}

fn invalid(message: &str) -> Response {
    portal_error(StatusCode::BAD_REQUEST, "InvalidRequestException", message)
}

/// What the service answers for an assignment the user does not have.
fn forbidden() -> Response {
    portal_error(StatusCode::FORBIDDEN, "ForbiddenException", "No access")
}

fn injected(failure: &InjectedFailure) -> Response {
    let error_type = failure.code.as_deref().unwrap_or(match failure.status {
        401 => "UnauthorizedException",
        403 => "ForbiddenException",
        404 => "ResourceNotFoundException",
        429 => "TooManyRequestsException",
        500..=599 => "InternalServerException",
        _ => "InvalidRequestException",
    });
    with_retry_after(
        portal_error(
            status(failure.status),
            error_type,
            failure.message.as_deref().unwrap_or("injected failure"),
        ),
        failure.retry_after_ms,
    )
}

/// The live access token the request carries.
fn bearer(inner: &Inner, call: &Call) -> Result<IssuedToken, Response> {
    let token = call.header(BEARER).ok_or_else(unauthorized)?;
    inner
        .tokens
        .get(token)
        .filter(|t| !t.revoked && t.expires_at > now())
        .cloned()
        .ok_or_else(unauthorized)
}

/// The slice of `len` items this request asks for, and the token for the next page. A
/// `nextToken` is opaque and good only for the caller, operation and account it was handed
/// out for; any other use is refused, as the service refuses it.
fn page(
    inner: &mut Inner,
    len: usize,
    query: &BTreeMap<String, String>,
    binding: &PageCursor,
) -> Result<(Range<usize>, Option<String>), Response> {
    let page_size = inner.config.page_size;
    let start = match query.get("next_token").filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => inner
            .page_tokens
            .get(token)
            .filter(|c| {
                c.access_token == binding.access_token
                    && c.op == binding.op
                    && c.account_id == binding.account_id
            })
            .map(|c| c.position)
            .filter(|n| *n < len)
            .ok_or_else(|| invalid("The nextToken is not valid for this request"))?,
    };
    let max = match query.get("max_result") {
        None => page_size,
        Some(n) => n
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid("max_result must be a positive integer"))?
            .min(page_size),
    };
    let end = len.min(start + usize::try_from(max.max(1)).unwrap_or(usize::MAX));
    let next = (end < len).then(|| {
        let token = random(ALNUM, 64);
        inner.page_tokens.insert(
            token.clone(),
            PageCursor {
                position: end,
                ..binding.clone()
            },
        );
        token
    });
    Ok((start..end, next))
}

fn with_next(mut body: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        body["nextToken"] = json!(next);
    }
    body
}

/// `GET /assignment/accounts?next_token=&max_result=`.
pub(crate) async fn list_accounts(State(app): State<App>, call: Call) -> Response {
    if let Some(failure) = app.begin(Op::ListAccounts, &call).await {
        return injected(&failure);
    }
    let mut inner = app.lock();
    let result = (|| {
        let token = bearer(&inner, &call)?;
        let binding = PageCursor {
            access_token: token.access_token,
            op: Op::ListAccounts,
            account_id: None,
            position: 0,
        };
        let len = inner.config.org.accounts.len();
        let (range, next) = page(&mut inner, len, &call.query(), &binding)?;
        let list: Vec<Value> = inner.config.org.accounts[range]
            .iter()
            .map(|a| json!({"accountId": a.id, "accountName": a.name, "emailAddress": a.email}))
            .collect();
        Ok(json_ok(&with_next(json!({ "accountList": list }), next)))
    })();
    match result {
        Ok(response) | Err(response) => response,
    }
}

/// `GET /assignment/roles?account_id=&next_token=&max_result=`.
pub(crate) async fn list_account_roles(State(app): State<App>, call: Call) -> Response {
    if let Some(failure) = app.begin(Op::ListAccountRoles, &call).await {
        return injected(&failure);
    }
    let mut inner = app.lock();
    let result = (|| {
        let token = bearer(&inner, &call)?;
        let query = call.query();
        let account_id = query
            .get("account_id")
            .filter(|a| !a.is_empty())
            .ok_or_else(|| invalid("account_id is required"))?;
        let account = inner
            .config
            .org
            .account(account_id)
            .ok_or_else(forbidden)?
            .clone();
        let binding = PageCursor {
            access_token: token.access_token,
            op: Op::ListAccountRoles,
            account_id: Some(account.id.clone()),
            position: 0,
        };
        let (range, next) = page(&mut inner, account.roles.len(), &query, &binding)?;
        let list: Vec<Value> = account.roles[range]
            .iter()
            .map(|r| json!({"roleName": r, "accountId": account.id}))
            .collect();
        Ok(json_ok(&with_next(json!({ "roleList": list }), next)))
    })();
    match result {
        Ok(response) | Err(response) => response,
    }
}

/// `GET /federation/credentials?role_name=&account_id=`.
pub(crate) async fn get_role_credentials(State(app): State<App>, call: Call) -> Response {
    if let Some(failure) = app.begin(Op::GetRoleCredentials, &call).await {
        return injected(&failure);
    }
    let mut inner = app.lock();
    let result = (|| {
        bearer(&inner, &call)?;
        let query = call.query();
        let param = |k: &str| {
            query
                .get(k)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| invalid(&format!("{k} is required")))
        };
        let (role_name, account_id) = (param("role_name")?, param("account_id")?);
        inner
            .config
            .org
            .account(account_id)
            .filter(|a| a.roles.contains(role_name))
            .ok_or_else(forbidden)?;
        let user = &inner.config.user_name;
        let creds = new_credentials(
            CredentialKind::RoleCredentials,
            account_id,
            format!("arn:aws:sts::{account_id}:assumed-role/{role_name}/{user}"),
            format!(
                "AROA{}:{user}",
                super::state::random(super::state::UPPER_ALNUM, 17)
            ),
            now() + chrono::Duration::seconds(inner.config.credential_lifetime_secs),
        );
        let response = json_ok(&json!({
            "roleCredentials": {
                "accessKeyId": creds.access_key_id,
                "secretAccessKey": creds.secret_access_key,
                "sessionToken": creds.session_token,
                "expiration": creds.expires_at.timestamp_millis(),
            }
        }));
        inner.add_credentials(creds);
        Ok(response)
    })();
    match result {
        Ok(response) | Err(response) => response,
    }
}

/// `POST /logout`: the sign-in session ends — its access tokens stop working and its refresh
/// tokens are gone; role credentials already issued last until they expire.
pub(crate) async fn logout(State(app): State<App>, call: Call) -> Response {
    if let Some(failure) = app.begin(Op::Logout, &call).await {
        return injected(&failure);
    }
    let mut inner = app.lock();
    match bearer(&inner, &call) {
        Ok(token) => {
            inner.end_session(&token.session);
            json_ok(&json!({}))
        }
        Err(response) => response,
    }
}
