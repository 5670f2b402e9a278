//! Server-side AWS Signature Version 4 verification for the fake STS: the canonical request,
//! the string to sign and the HMAC-SHA256 key chain, recomputed from the request as it arrived
//! and the secret the fake knows for the access key. A client that signs with another secret,
//! or changes a signed header or the body after signing, is refused as STS refuses it.

use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
/// How far the signing time may be from the fake's clock (STS allows 15 minutes).
const MAX_SKEW_MINUTES: i64 = 15;

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authorization<'a> {
    pub(crate) access_key_id: &'a str,
    /// `YYYYMMDD` of the credential scope.
    pub(crate) date: &'a str,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
    /// `host;x-amz-date;…` as the client listed them.
    pub(crate) signed_headers: &'a str,
    pub(crate) signature: &'a str,
}

/// Why a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The header or the signing inputs are malformed (STS: `IncompleteSignature`, 400).
    Incomplete(String),
    /// The signature is not the one the secret gives, or its scope or time is wrong
    /// (STS: `SignatureDoesNotMatch`, 403).
    Mismatch(String),
}

/// Parses an `AWS4-HMAC-SHA256` `Authorization` header; `None` for any other scheme.
pub(crate) fn parse_authorization(header: &str) -> Option<Result<Authorization<'_>, Rejection>> {
    let rest = header.trim().strip_prefix(ALGORITHM)?;
    let incomplete = |what: &str| {
        Rejection::Incomplete(format!(
            "Authorization header requires '{what}' parameter. Authorization={header}"
        ))
    };
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let parsed = (|| {
        let credential = credential.ok_or_else(|| incomplete("Credential"))?;
        let signed_headers = signed_headers.ok_or_else(|| incomplete("SignedHeaders"))?;
        let signature = signature.ok_or_else(|| incomplete("Signature"))?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, terminator] = scope[..] else {
            return Err(Rejection::Incomplete(format!(
                "Credential should have 5 slash-separated parts: {credential}"
            )));
        };
        if terminator != "aws4_request" || access_key_id.is_empty() {
            return Err(Rejection::Incomplete(format!(
                "Credential should end with aws4_request: {credential}"
            )));
        }
        Ok(Authorization {
            access_key_id,
            date,
            region,
            service,
            signed_headers,
            signature,
        })
    })();
    Some(parsed)
}

/// A request as it arrived, for verification.
pub(crate) struct Received<'a> {
    pub(crate) method: &'a str,
    /// The path as sent (still percent-encoded).
    pub(crate) path: &'a str,
    /// The raw query string, without `?`.
    pub(crate) query: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

/// Checks `auth` against `request`, signed with `secret` for `service`, at `now`.
pub(crate) fn verify(
    request: &Received<'_>,
    auth: &Authorization<'_>,
    secret: &str,
    service: &str,
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    if auth.service != service {
        return Err(Rejection::Mismatch(format!(
            "Credential should be scoped to correct service: '{service}'."
        )));
    }
    let names: Vec<&str> = auth.signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err(Rejection::Mismatch(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    let amz_date = header_values(request.headers, "x-amz-date")
        .ok_or_else(|| Rejection::Incomplete("the request has no X-Amz-Date header".to_owned()))?;
    let signed_at = NaiveDateTime::parse_from_str(&amz_date, AMZ_DATE_FORMAT)
        .map_err(|_| {
            Rejection::Incomplete(format!("X-Amz-Date {amz_date} is not YYYYMMDD'T'HHMMSS'Z'"))
        })?
        .and_utc();
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
        return Err(Rejection::Mismatch(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            auth.date,
            &amz_date[..amz_date.len().min(8)]
        )));
    }
    let skew = chrono::Duration::minutes(MAX_SKEW_MINUTES);
    if signed_at < now - skew || signed_at > now + skew {
        return Err(Rejection::Mismatch(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            (now - skew).format(AMZ_DATE_FORMAT),
            now.format(AMZ_DATE_FORMAT)
        )));
    }
    let canonical = canonical_request(request, &names)?;
    let expected = signature(secret, &amz_date, auth, &canonical);
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(Rejection::Mismatch(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
                .to_owned(),
        ));
    }
    Ok(())
}

/// The signing parts of a presigned URL's query (`X-Amz-Algorithm`, `X-Amz-Credential`,
/// `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`), decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Presigned {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
    amz_date: String,
    expires: i64,
    signed_headers: String,
    signature: String,
}

impl Presigned {
    /// The parts as an [`Authorization`], for the checks both forms share.
    pub(crate) fn authorization(&self) -> Authorization<'_> {
        Authorization {
            access_key_id: &self.access_key_id,
            date: &self.date,
            region: &self.region,
            service: &self.service,
            signed_headers: &self.signed_headers,
            signature: &self.signature,
        }
    }
}

/// Reads a presigned request's query (already decoded).
pub(crate) fn parse_presigned(
    query: &std::collections::BTreeMap<String, String>,
) -> Result<Presigned, Rejection> {
    let get = |k: &str| {
        query
            .get(k)
            .cloned()
            .ok_or_else(|| Rejection::Incomplete(format!("the presigned URL has no {k}")))
    };
    if get("X-Amz-Algorithm")? != ALGORITHM {
        return Err(Rejection::Incomplete(
            "X-Amz-Algorithm must be AWS4-HMAC-SHA256".to_owned(),
        ));
    }
    let credential = get("X-Amz-Credential")?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(Rejection::Incomplete(format!(
            "Credential should have 5 slash-separated parts ending with aws4_request: {credential}"
        )));
    };
    let expires = get("X-Amz-Expires")?
        .parse::<i64>()
        .ok()
        .filter(|e| (1..=604_800).contains(e))
        .ok_or_else(|| Rejection::Incomplete("X-Amz-Expires is not 1..604800".to_owned()))?;
    Ok(Presigned {
        access_key_id: access_key_id.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        amz_date: get("X-Amz-Date")?,
        expires,
        signed_headers: get("X-Amz-SignedHeaders")?,
        signature: get("X-Amz-Signature")?,
    })
}

/// Checks a presigned request: the same scope and signature rules as [`verify`], the signing
/// time from the query, the URL not used after `X-Amz-Expires`, and the canonical query
/// without `X-Amz-Signature`. The payload is the empty body's hash or `UNSIGNED-PAYLOAD`,
/// whichever the signer used.
pub(crate) fn verify_presigned(
    request: &Received<'_>,
    presigned: &Presigned,
    secret: &str,
    service: &str,
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    let auth = presigned.authorization();
    if auth.service != service {
        return Err(Rejection::Mismatch(format!(
            "Credential should be scoped to correct service: '{service}'."
        )));
    }
    let names: Vec<&str> = auth.signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err(Rejection::Mismatch(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    let amz_date = &presigned.amz_date;
    let signed_at = NaiveDateTime::parse_from_str(amz_date, AMZ_DATE_FORMAT)
        .map_err(|_| {
            Rejection::Incomplete(format!("X-Amz-Date {amz_date} is not YYYYMMDD'T'HHMMSS'Z'"))
        })?
        .and_utc();
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
        return Err(Rejection::Mismatch(
            "Date in Credential scope does not match X-Amz-Date".to_owned(),
        ));
    }
    if now > signed_at + chrono::Duration::seconds(presigned.expires)
        || signed_at > now + chrono::Duration::minutes(MAX_SKEW_MINUTES)
    {
        return Err(Rejection::Mismatch(format!(
            "Signature expired: {amz_date} + {} s is before {}",
            presigned.expires,
            now.format(AMZ_DATE_FORMAT)
        )));
    }
    let query: String = request
        .query
        .split('&')
        .filter(|p| !p.starts_with("X-Amz-Signature="))
        .collect::<Vec<_>>()
        .join("&");
    let unsigned = Received {
        query: &query,
        ..*request
    };
    let with_payload = |payload: &str| -> Result<bool, Rejection> {
        let canonical = canonical_request_with(&unsigned, &names, payload)?;
        let expected = signature(secret, amz_date, &auth, &canonical);
        Ok(constant_time_eq(
            expected.as_bytes(),
            auth.signature.as_bytes(),
        ))
    };
    let empty = hex(&Sha256::digest(b""));
    if with_payload(&empty)? || with_payload("UNSIGNED-PAYLOAD")? {
        return Ok(());
    }
    Err(Rejection::Mismatch(
        "The request signature we calculated does not match the signature you provided.".to_owned(),
    ))
}

/// The hex signature of `canonical_request` for this scope, with `secret`.
fn signature(secret: &str, amz_date: &str, auth: &Authorization<'_>, canonical: &str) -> String {
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    let k_region = hmac(&k_date, auth.region.as_bytes());
    let k_service = hmac(&k_region, auth.service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex(&hmac(&k_signing, string_to_sign.as_bytes()))
}

/// `method \n canonical URI \n canonical query \n canonical headers \n signed headers \n
/// payload hash`, for every service but S3 (whose paths are encoded once, not twice).
fn canonical_request(request: &Received<'_>, signed: &[&str]) -> Result<String, Rejection> {
    let payload = hex(&Sha256::digest(request.body));
    if let Some(claimed) = header_values(request.headers, "x-amz-content-sha256")
        && claimed != payload
    {
        return Err(Rejection::Mismatch(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
                .to_owned(),
        ));
    }
    canonical_request_with(request, signed, &payload)
}

/// [`canonical_request`] with the payload hash given.
fn canonical_request_with(
    request: &Received<'_>,
    signed: &[&str],
    payload: &str,
) -> Result<String, Rejection> {
    let mut headers = String::new();
    for name in signed {
        let value = header_values(request.headers, name).ok_or_else(|| {
            Rejection::Mismatch(format!(
                "The request signature we calculated does not match the signature you provided: \
                 the signed header {name} is not in the request"
            ))
        })?;
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&value);
        headers.push('\n');
    }
    Ok(format!(
        "{}\n{}\n{}\n{headers}\n{}\n{payload}",
        request.method,
        canonical_uri(request.path),
        canonical_query(request.query),
        signed.join(";"),
    ))
}

/// The path, normalised (`.`/`..` and empty segments removed) and each segment encoded once
/// more, as the SDKs do for every service but S3.
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut uri = String::from("/");
    uri.push_str(
        &segments
            .iter()
            .map(|s| uri_encode(s.as_bytes()))
            .collect::<Vec<_>>()
            .join("/"),
    );
    if path.ends_with('/') && !segments.is_empty() {
        uri.push('/');
    }
    uri
}

/// The query's pairs, decoded, encoded the SigV4 way and sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k)),
                uri_encode(&percent_decode(v)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Every value of a header, trimmed, inner runs of spaces collapsed, joined with `,`.
fn header_values(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// RFC 3986 encoding with AWS's unreserved set (`A-Z a-z 0-9 - _ . ~`), upper-case hex.
fn uri_encode(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_pair = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex_pair) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// The example credentials of AWS's published Signature Version 4 test suite.
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const AMZ_DATE: &str = "20150830T123600Z";

    fn signed_at() -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(AMZ_DATE, AMZ_DATE_FORMAT)
            .unwrap()
            .and_utc()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn auth_header(signed_headers: &str, signature: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders={signed_headers}, Signature={signature}"
        )
    }

    /// (method, path, query, headers, body, signed headers, signature) from the test suite's
    /// `get-vanilla`, `get-vanilla-query-order-encoded`, `get-header-value-trim` and
    /// `post-x-www-form-urlencoded` cases.
    #[allow(clippy::type_complexity)]
    fn vectors() -> Vec<(
        &'static str,
        &'static str,
        &'static str,
        Vec<(&'static str, &'static str)>,
        &'static str,
        &'static str,
        &'static str,
    )> {
        vec![
            (
                "GET",
                "/",
                "",
                vec![],
                "",
                "host;x-amz-date",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "GET",
                "/",
                "Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
                vec![],
                "",
                "host;x-amz-date",
                "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac",
            ),
            (
                "GET",
                "/",
                "",
                vec![("my-header1", " value1"), ("my-header2", " \"a   b   c\"")],
                "",
                "host;my-header1;my-header2;x-amz-date",
                "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
            ),
            (
                "POST",
                "/",
                "",
                vec![
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("content-length", "13"),
                    (
                        "x-amz-content-sha256",
                        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
                    ),
                ],
                "Param1=value1",
                "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
                "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
            ),
        ]
    }

    #[test]
    fn published_vectors_verify_and_a_wrong_secret_does_not() {
        for (method, path, query, extra, body, signed, sig) in vectors() {
            let mut pairs = vec![("host", "example.amazonaws.com"), ("x-amz-date", AMZ_DATE)];
            pairs.extend(extra);
            let headers = headers(&pairs);
            let request = Received {
                method,
                path,
                query,
                headers: &headers,
                body: body.as_bytes(),
            };
            let header = auth_header(signed, sig);
            let auth = parse_authorization(&header).unwrap().unwrap();
            assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
            verify(&request, &auth, SECRET, "service", signed_at())
                .unwrap_or_else(|e| panic!("{method} {path}?{query}: {e:?}"));
            let wrong = verify(&request, &auth, "not-the-secret", "service", signed_at());
            assert!(matches!(wrong, Err(Rejection::Mismatch(_))), "{wrong:?}");
        }
    }

    #[test]
    fn tampering_scope_and_time_are_refused() {
        let (method, path, query, extra, body, signed, sig) = vectors().pop().unwrap();
        let mut pairs = vec![("host", "example.amazonaws.com"), ("x-amz-date", AMZ_DATE)];
        pairs.extend(extra);
        let header = auth_header(signed, sig);
        let auth = parse_authorization(&header).unwrap().unwrap();
        let headers = headers(&pairs);
        let request = |body: &'static str| Received {
            method,
            path,
            query,
            headers: &headers,
            body: body.as_bytes(),
        };
        // Another body under the same signature.
        assert!(matches!(
            verify(
                &request("Param1=value2"),
                &auth,
                SECRET,
                "service",
                signed_at()
            ),
            Err(Rejection::Mismatch(_))
        ));
        // Another service, another day.
        assert!(matches!(
            verify(&request(body), &auth, SECRET, "sts", signed_at()),
            Err(Rejection::Mismatch(_))
        ));
        let later = signed_at() + chrono::Duration::minutes(16);
        let err = verify(&request(body), &auth, SECRET, "service", later).unwrap_err();
        assert!(
            matches!(&err, Rejection::Mismatch(m) if m.starts_with("Signature expired")),
            "{err:?}"
        );
        // Host unsigned, missing parts, other schemes.
        let unsigned_host = auth_header("x-amz-date", sig);
        let auth = parse_authorization(&unsigned_host).unwrap().unwrap();
        assert!(matches!(
            verify(&request(body), &auth, SECRET, "service", signed_at()),
            Err(Rejection::Mismatch(_))
        ));
        assert!(matches!(
            parse_authorization(
                "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sts/aws4_request"
            ),
            Some(Err(Rejection::Incomplete(_)))
        ));
        assert!(parse_authorization("Bearer abc").is_none());
    }

    #[test]
    fn paths_are_normalised_and_encoded_twice() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/a/./b/../c//d/"), "/a/c/d/");
        assert_eq!(
            canonical_uri("/test/@connections/JBDvjfGEIAMCERw%3D"),
            "/test/%40connections/JBDvjfGEIAMCERw%253D"
        );
        assert_eq!(canonical_query("b=2&a=%20x&a=1"), "a=%20x&a=1&b=2");
    }
}
