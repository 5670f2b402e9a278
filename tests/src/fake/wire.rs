//! Response shapes shared by the protocols: restJson1 bodies and errors, awsQuery XML.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::request_id;

const REQUEST_ID: &str = "x-amzn-requestid";
const ERROR_TYPE: &str = "x-amzn-errortype";

/// A restJson1 success: the JSON body with the request-id header every AWS answer has.
pub(crate) fn json_ok(body: &Value) -> Response {
    json_response(StatusCode::OK, body, None)
}

/// A restJson1 error: the type goes in `x-amzn-errortype`, which both the Rust SDK and botocore
/// read before the body.
pub(crate) fn json_error(status: StatusCode, error_type: &str, body: &Value) -> Response {
    json_response(status, body, Some(error_type))
}

fn json_response(status: StatusCode, body: &Value, error_type: Option<&str>) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    insert(headers, REQUEST_ID, &request_id());
    if let Some(error_type) = error_type {
        insert(headers, ERROR_TYPE, error_type);
    }
    response
}

/// An SSO OIDC error: `{"error": "authorization_pending", "error_description": …}`.
pub(crate) fn oidc_error(
    status: StatusCode,
    error_type: &str,
    error: &str,
    description: &str,
) -> Response {
    json_error(
        status,
        error_type,
        &json!({ "error": error, "error_description": description }),
    )
}

/// An SSO portal error: `{"message": …}` plus the namespaced `__type` the service sends.
pub(crate) fn portal_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    json_error(
        status,
        error_type,
        &json!({
            "message": message,
            "__type": format!("com.amazonaws.switchboard.portal#{error_type}"),
        }),
    )
}

/// The STS XML namespace.
pub(crate) const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// An awsQuery success: `<ActionResponse><ActionResult>inner</ActionResult>…`.
pub(crate) fn sts_ok(action: &str, result_xml: &str) -> Response {
    let id = request_id();
    let body = format!(
        "<{action}Response xmlns=\"{STS_NS}\">\n  <{action}Result>{result_xml}</{action}Result>\n  \
         <ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata>\n</{action}Response>\n"
    );
    xml_response(StatusCode::OK, body, &id)
}

/// An awsQuery error: `<ErrorResponse><Error><Type>…<Code>…<Message>…`.
pub(crate) fn sts_error(status: StatusCode, code: &str, message: &str) -> Response {
    let id = request_id();
    let fault = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<ErrorResponse xmlns=\"{STS_NS}\">\n  <Error>\n    <Type>{fault}</Type>\n    \
         <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{id}</RequestId>\n\
         </ErrorResponse>\n",
        xml_escape(code),
        xml_escape(message)
    );
    xml_response(status, body, &id)
}

fn xml_response(status: StatusCode, body: String, id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    insert(headers, REQUEST_ID, id);
    response
}

/// A page for the browser side (`/authorize`, `/verify`).
pub(crate) fn html(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><title>{t}</title></head><body><h1>{t}</h1><p>{m}</p></body></html>\n",
        t = xml_escape(title),
        m = xml_escape(message)
    );
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// A 302 to `location`.
pub(crate) fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn insert(headers: &mut axum::http::HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Escape text for an XML element or attribute.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `response` with `x-amz-retry-after` (milliseconds, read by the AWS SDKs' retry) and
/// `Retry-After` (whole seconds, rounded up) when `retry_after_ms` is set.
pub(crate) fn with_retry_after(mut response: Response, retry_after_ms: Option<u64>) -> Response {
    if let Some(ms) = retry_after_ms {
        let headers = response.headers_mut();
        insert(headers, "x-amz-retry-after", &ms.to_string());
        headers.insert(header::RETRY_AFTER, HeaderValue::from(ms.div_ceil(1000)));
    }
    response
}

/// The status for an injected failure, falling back to 500 for nonsense numbers.
pub(crate) fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
