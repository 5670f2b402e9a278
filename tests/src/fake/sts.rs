//! STS (awsQuery): form-encoded `POST /` with `Action=…`, XML answers.
//!
//! Every call but `AssumeRoleWithSAML` (which is unsigned) must carry a `SigV4` signature made
//! with the secret of a key this fake knows: the static user's, one registered over the control
//! API, or temporary credentials it issued (whose session token must come with them). A key
//! it does not know is `InvalidClientTokenId`; a signature the secret does not give is
//! `SignatureDoesNotMatch`, as at STS.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::config::FakeConfig;
use super::sigv4::{self, Received, Rejection};
use super::state::{
    App, Call, CredentialKind, InjectedFailure, Inner, IssuedCredentials, Op, UPPER_ALNUM,
    new_credentials, now, random,
};
use super::wire::{status, sts_error, sts_ok, with_retry_after, xml_escape};

const API_VERSION: &str = "2011-06-15";
const SAML_ROLE_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
const SAML_SESSION_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/RoleSessionName";

fn sender(code: &str, message: &str) -> Response {
    sts_error(StatusCode::BAD_REQUEST, code, message)
}

fn access_denied(message: &str) -> Response {
    sts_error(StatusCode::FORBIDDEN, "AccessDenied", message)
}

fn injected(failure: &InjectedFailure) -> Response {
    let code = failure.code.as_deref().unwrap_or(match failure.status {
        403 => "AccessDenied",
        429 => "Throttling",
        500..=599 => "InternalFailure",
        _ => "ValidationError",
    });
    with_retry_after(
        sts_error(
            status(failure.status),
            code,
            failure.message.as_deref().unwrap_or("injected failure"),
        ),
        failure.retry_after_ms,
    )
}

/// `POST /`: every STS action; `GET /`: a presigned one (the parameters in the query).
pub(crate) async fn dispatch(State(app): State<App>, call: Call) -> Response {
    let form = if call.method == axum::http::Method::GET {
        call.query()
    } else {
        call.form()
    };
    let action = form.get("Action").map(String::as_str).unwrap_or_default();
    let op = match action {
        "GetCallerIdentity" => Op::GetCallerIdentity,
        "GetSessionToken" => Op::GetSessionToken,
        "AssumeRole" => Op::AssumeRole,
        "AssumeRoleWithSAML" => Op::AssumeRoleWithSaml,
        _ => {
            return sender(
                "InvalidAction",
                &format!("Could not find operation {action} for version {API_VERSION}"),
            );
        }
    };
    if let Some(failure) = app.begin(op, &call).await {
        return injected(&failure);
    }
    if form.get("Version").is_some_and(|v| v != API_VERSION) {
        return sender(
            "InvalidAction",
            &format!("Could not find operation {action} for the requested version"),
        );
    }
    let mut inner = app.lock();
    let result = match op {
        Op::GetCallerIdentity => get_caller_identity(&inner, &call),
        Op::GetSessionToken => get_session_token(&mut inner, &call, &form),
        Op::AssumeRole => assume_role(&mut inner, &call, &form),
        _ => assume_role_with_saml(&mut inner, &form),
    };
    match result {
        Ok(response) | Err(response) => response,
    }
}

/// Who signed the request.
struct Caller {
    arn: String,
    user_id: String,
    account_id: String,
    /// Signed with temporary credentials (a role chain, or a session token).
    kind: Option<CredentialKind>,
}

fn caller(inner: &Inner, call: &Call) -> Result<Caller, Response> {
    let missing = || {
        sts_error(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )
    };
    let invalid = || {
        sts_error(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    };
    // A presigned URL (an EKS token) carries the signature's parts in its query instead.
    let query = call.query();
    let presigned = match call.header("authorization") {
        Some(_) => None,
        None if query.contains_key("X-Amz-Signature") => {
            Some(sigv4::parse_presigned(&query).map_err(rejected)?)
        }
        None => return Err(missing()),
    };
    let auth = match (&presigned, call.header("authorization")) {
        (Some(p), _) => p.authorization(),
        (None, Some(header)) => match sigv4::parse_authorization(header) {
            None => return Err(missing()),
            Some(Err(rejection)) => return Err(rejected(rejection)),
            Some(Ok(auth)) => auth,
        },
        (None, None) => return Err(missing()),
    };
    let session_token = call
        .header("x-amz-security-token")
        .or(query.get("X-Amz-Security-Token").map(String::as_str));
    let (secret, caller, temporary) = if let Some(user) = inner.long_term_user(auth.access_key_id) {
        // Long-term keys come without a session token.
        if session_token.is_some() {
            return Err(invalid());
        }
        let caller = Caller {
            arn: user.arn(),
            user_id: user_id_of(&user.access_key_id),
            account_id: user.account_id.clone(),
            kind: None,
        };
        (user.secret_access_key.as_str(), caller, None)
    } else if let Some(creds) = inner.credentials.get(auth.access_key_id) {
        let caller = Caller {
            arn: creds.arn.clone(),
            user_id: creds.user_id.clone(),
            account_id: creds.account_id.clone(),
            kind: Some(creds.kind),
        };
        (creds.secret_access_key.as_str(), caller, Some(creds))
    } else {
        return Err(invalid());
    };
    let received = Received {
        method: call.method.as_str(),
        path: call.uri.path(),
        query: call.uri.query().unwrap_or_default(),
        headers: &call.headers,
        body: &call.body,
    };
    match &presigned {
        Some(p) => sigv4::verify_presigned(&received, p, secret, "sts", now()),
        None => sigv4::verify(&received, &auth, secret, "sts", now()),
    }
    .map_err(rejected)?;
    if let Some(creds) = temporary {
        if session_token != Some(creds.session_token.as_str()) {
            return Err(invalid());
        }
        if creds.expires_at <= now() {
            return Err(sts_error(
                StatusCode::FORBIDDEN,
                "ExpiredToken",
                "The security token included in the request is expired",
            ));
        }
    }
    Ok(caller)
}

/// STS's answer to a signature it does not accept.
fn rejected(rejection: Rejection) -> Response {
    match rejection {
        Rejection::Incomplete(message) => {
            sts_error(StatusCode::BAD_REQUEST, "IncompleteSignature", &message)
        }
        Rejection::Mismatch(message) => {
            sts_error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", &message)
        }
    }
}

/// An IAM user's `UserId`, stable per access key so repeated calls agree.
fn user_id_of(access_key_id: &str) -> String {
    format!(
        "AIDA{}",
        &access_key_id[access_key_id.len().saturating_sub(16)..]
    )
}

fn get_caller_identity(inner: &Inner, call: &Call) -> Result<Response, Response> {
    let caller = caller(inner, call)?;
    Ok(sts_ok(
        "GetCallerIdentity",
        &format!(
            "<UserId>{}</UserId><Account>{}</Account><Arn>{}</Arn>",
            xml_escape(&caller.user_id),
            xml_escape(&caller.account_id),
            xml_escape(&caller.arn)
        ),
    ))
}

/// `DurationSeconds`, or the configured lifetime, within `min..=max`.
fn duration(
    form: &BTreeMap<String, String>,
    config: &FakeConfig,
    max: i64,
) -> Result<i64, Response> {
    let Some(raw) = form.get("DurationSeconds") else {
        return Ok(config.credential_lifetime_secs);
    };
    let value: i64 = raw.parse().map_err(|_| {
        sender(
            "ValidationError",
            &format!("Value '{raw}' at 'durationSeconds' failed to satisfy constraint: Member must be a number"),
        )
    })?;
    if value < 900 {
        return Err(sender(
            "ValidationError",
            &format!(
                "1 validation error detected: Value '{value}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
            ),
        ));
    }
    if value > max {
        return Err(sender(
            "ValidationError",
            &format!(
                "1 validation error detected: Value '{value}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {max}"
            ),
        ));
    }
    Ok(value)
}

/// Check `SerialNumber` / `TokenCode` against the script.
fn check_mfa(form: &BTreeMap<String, String>, config: &FakeConfig) -> Result<(), Response> {
    let serial = form.get("SerialNumber").filter(|s| !s.is_empty());
    let code = form.get("TokenCode").filter(|s| !s.is_empty());
    match (serial, code) {
        (None, None) if config.sts.require_mfa => Err(access_denied(
            "MultiFactorAuthentication is required for this operation",
        )),
        (None, None) => Ok(()),
        (Some(_), None) | (None, Some(_)) => Err(sender(
            "ValidationError",
            "SerialNumber and TokenCode must be given together",
        )),
        (Some(_), Some(code)) => {
            if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(sender(
                    "ValidationError",
                    &format!(
                        "1 validation error detected: Value '{code}' at 'tokenCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\d]*"
                    ),
                ));
            }
            if config.sts.bad_mfa {
                return Err(access_denied(
                    "MultiFactorAuthentication failed with invalid MFA one time pass code. ",
                ));
            }
            Ok(())
        }
    }
}

fn credentials_xml(creds: &IssuedCredentials) -> String {
    format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\
         <SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>",
        creds.access_key_id,
        xml_escape(&creds.secret_access_key),
        xml_escape(&creds.session_token),
        creds
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

fn get_session_token(
    inner: &mut Inner,
    call: &Call,
    form: &BTreeMap<String, String>,
) -> Result<Response, Response> {
    let caller = caller(inner, call)?;
    if caller.kind.is_some() {
        return Err(access_denied(
            "Cannot call GetSessionToken with session credentials",
        ));
    }
    let seconds = duration(form, &inner.config, 129_600)?;
    check_mfa(form, &inner.config)?;
    let creds = new_credentials(
        CredentialKind::SessionToken,
        &caller.account_id,
        caller.arn,
        caller.user_id,
        now() + chrono::Duration::seconds(seconds),
    );
    let response = sts_ok("GetSessionToken", &credentials_xml(&creds));
    inner.add_credentials(creds);
    Ok(response)
}

/// `(account, role name)` from `arn:aws:iam::ACCOUNT:role/PATH/NAME`.
fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path = resource.strip_prefix("role/")?;
    let name = path.rsplit('/').next()?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty())
        .then_some((account, name))
}

fn role_arn(form: &BTreeMap<String, String>) -> Result<(String, String, String), Response> {
    let arn = form
        .get("RoleArn")
        .ok_or_else(|| missing_parameter("RoleArn"))?;
    let (account, name) = parse_role_arn(arn).ok_or_else(|| {
        sender(
            "ValidationError",
            &format!(
                "{arn} is invalid: RoleArn must look like arn:aws:iam::123456789012:role/Name"
            ),
        )
    })?;
    Ok((arn.clone(), account.to_owned(), name.to_owned()))
}

fn missing_parameter(name: &str) -> Response {
    sender(
        "MissingParameter",
        &format!("The request must contain the parameter {name}"),
    )
}

fn valid_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

/// Issue assumed-role credentials and answer with `AssumedRoleUser` and `Credentials`.
fn issue_role(
    inner: &mut Inner,
    kind: CredentialKind,
    account: &str,
    role: &str,
    session: &str,
    seconds: i64,
) -> (String, IssuedCredentials) {
    let role_id = format!("AROA{}", random(UPPER_ALNUM, 17));
    let arn = format!("arn:aws:sts::{account}:assumed-role/{role}/{session}");
    let user_id = format!("{role_id}:{session}");
    let creds = new_credentials(
        kind,
        account,
        arn.clone(),
        user_id.clone(),
        now() + chrono::Duration::seconds(seconds),
    );
    let xml = format!(
        "<AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>{}",
        xml_escape(&user_id),
        xml_escape(&arn),
        credentials_xml(&creds)
    );
    inner.add_credentials(creds.clone());
    (xml, creds)
}

fn assume_role(
    inner: &mut Inner,
    call: &Call,
    form: &BTreeMap<String, String>,
) -> Result<Response, Response> {
    let caller = caller(inner, call)?;
    let (_, account, role) = role_arn(form)?;
    let session = form
        .get("RoleSessionName")
        .ok_or_else(|| missing_parameter("RoleSessionName"))?;
    if !valid_session_name(session) {
        return Err(sender(
            "ValidationError",
            &format!(
                "1 validation error detected: Value '{session}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
            ),
        ));
    }
    let seconds = duration(form, &inner.config, 43_200)?;
    let chained = matches!(
        caller.kind,
        Some(
            CredentialKind::AssumeRole
                | CredentialKind::AssumeRoleWithSaml
                | CredentialKind::RoleCredentials
        )
    );
    if chained && seconds > 3600 {
        return Err(sender(
            "ValidationError",
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }
    check_mfa(form, &inner.config)?;
    let (xml, _) = issue_role(
        inner,
        CredentialKind::AssumeRole,
        &account,
        &role,
        session,
        seconds,
    );
    Ok(sts_ok("AssumeRole", &xml))
}

fn assume_role_with_saml(
    inner: &mut Inner,
    form: &BTreeMap<String, String>,
) -> Result<Response, Response> {
    let (role_arn, account, role) = role_arn(form)?;
    let principal = form
        .get("PrincipalArn")
        .ok_or_else(|| missing_parameter("PrincipalArn"))?;
    if !principal.starts_with("arn:aws:iam::") || !principal.contains(":saml-provider/") {
        return Err(sender(
            "ValidationError",
            &format!("{principal} is invalid: PrincipalArn must name a saml-provider"),
        ));
    }
    let encoded = form
        .get("SAMLAssertion")
        .ok_or_else(|| missing_parameter("SAMLAssertion"))?;
    let assertion = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            sender(
                "InvalidIdentityToken",
                "The SAML assertion is not valid base64-encoded XML",
            )
        })?;
    if inner.config.sts.deny_saml {
        return Err(access_denied(
            "Not authorized to perform sts:AssumeRoleWithSAML",
        ));
    }
    if !(assertion.contains(SAML_ROLE_ATTRIBUTE) && assertion.contains(role_arn.as_str())) {
        return Err(access_denied(
            "Not authorized to perform sts:AssumeRoleWithSAML: the assertion does not grant this role",
        ));
    }
    let seconds = duration(form, &inner.config, 43_200)?;
    let subject = element_text(&assertion, "NameID").unwrap_or_else(|| "saml-user".to_owned());
    let session = attribute_value(&assertion, SAML_SESSION_ATTRIBUTE)
        .filter(|s| valid_session_name(s))
        .unwrap_or_else(|| subject.clone());
    let issuer =
        element_text(&assertion, "Issuer").unwrap_or_else(|| "https://idp.example.com/".to_owned());
    let (xml, _) = issue_role(
        inner,
        CredentialKind::AssumeRoleWithSaml,
        &account,
        &role,
        &session,
        seconds,
    );
    let xml = format!(
        "{xml}<Subject>{}</Subject><SubjectType>persistent</SubjectType><Issuer>{}</Issuer>\
         <Audience>https://signin.aws.amazon.com/saml</Audience><NameQualifier>{}</NameQualifier>",
        xml_escape(&subject),
        xml_escape(&issuer),
        random(super::state::ALNUM, 27)
    );
    Ok(sts_ok("AssumeRoleWithSAML", &xml))
}

/// The text of the first element whose local name is `local` (any prefix), unescaped only
/// for the common entities: enough to read a test identity provider's assertion.
fn element_text(xml: &str, local: &str) -> Option<String> {
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let tag_end = rest.find('>')?;
        let tag = &rest[..tag_end];
        let name = tag
            .split([' ', '\t', '\n', '\r', '/'])
            .next()
            .unwrap_or_default();
        let name = name.rsplit(':').next().unwrap_or_default();
        if name == local && !tag.ends_with('/') {
            let body = &rest[tag_end + 1..];
            let text = &body[..body.find('<')?];
            return Some(unescape(text.trim()));
        }
    }
    None
}

/// The first `AttributeValue` of the `Attribute` whose `Name` is `name`.
fn attribute_value(xml: &str, name: &str) -> Option<String> {
    let at = xml.find(&format!("Name=\"{name}\""))?;
    element_text(&xml[at..], "AttributeValue")
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_role_arns_with_paths() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/team/Deploy"),
            Some(("123456789012", "Deploy"))
        );
        assert_eq!(parse_role_arn("arn:aws:iam::1234:role/x"), None);
        assert_eq!(parse_role_arn("arn:aws:iam::123456789012:user/x"), None);
    }

    #[test]
    fn reads_subject_and_session_name_from_an_assertion() {
        let xml = r#"<saml2:Assertion><saml2:Issuer>https://idp/</saml2:Issuer>
            <saml2:Subject><saml2:NameID Format="x">alice@example.com</saml2:NameID></saml2:Subject>
            <saml2:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName">
              <saml2:AttributeValue xsi:type="xs:string">alice</saml2:AttributeValue>
            </saml2:Attribute></saml2:Assertion>"#;
        assert_eq!(
            element_text(xml, "NameID").as_deref(),
            Some("alice@example.com")
        );
        assert_eq!(element_text(xml, "Issuer").as_deref(), Some("https://idp/"));
        assert_eq!(
            attribute_value(xml, SAML_SESSION_ATTRIBUTE).as_deref(),
            Some("alice")
        );
    }
}
