//! Reading a SAML 2.0 response: the AWS roles it offers, its session attributes, when it expires
//! and which AWS partition it is addressed to.
//!
//! The signature is not checked here: STS checks it against the IAM SAML provider's metadata.
//! The parser is a pure function over bytes, hardened for hostile input: the input is capped
//! before decoding, DTDs (and with them entity expansion) are refused, and the node count is
//! limited.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, Utc};
use keyfob_core::partition::{Partition, signin_target};
use std::fmt;
use url::Url;

/// The largest decoded SAML response accepted (real ones are 5–30 KiB).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The most XML nodes a response may have (a 1 MiB document of tiny elements stays under it).
const MAX_NODES: u32 = 200_000;

/// The SAML 2.0 protocol namespace (`samlp:`).
pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// The SAML 2.0 assertion namespace (`saml:`).
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

/// The attribute whose values are the `role ARN,provider ARN` pairs AWS accepts.
pub const ROLE_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
/// The attribute naming the role session.
pub const ROLE_SESSION_NAME_ATTRIBUTE: &str =
    "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
/// The attribute limiting the session length, in seconds.
pub const SESSION_DURATION_ATTRIBUTE: &str =
    "https://aws.amazon.com/SAML/Attributes/SessionDuration";

const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// A SAML response could not be used. Messages never quote the whole assertion.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssertionError {
    /// Bigger than [`MAX_RESPONSE_BYTES`].
    #[error("the SAML response is {0} bytes, more than the 1 MiB keyfob accepts")]
    TooLarge(usize),
    /// Not base64.
    #[error("the SAML response is not base64: {0}")]
    NotBase64(String),
    /// Not well-formed XML (or XML with a DTD, which is refused).
    #[error("the SAML response is not well-formed XML: {0}")]
    NotXml(String),
    /// XML, but not a SAML 2.0 `samlp:Response`.
    #[error("the IdP's answer is not a SAML 2.0 Response (its root element is {0})")]
    NotSamlResponse(String),
    /// The IdP answered with a failure status.
    #[error("the IdP answered with SAML status {status}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        /// The status code(s), without the common URN prefix.
        status: String,
        /// The IdP's status message, if any.
        message: Option<String>,
    },
    /// The assertion is encrypted for AWS; keyfob cannot read its roles.
    #[error(
        "the SAML assertion is encrypted, so keyfob cannot read its roles; ask your IdP admin to turn off assertion encryption for AWS"
    )]
    Encrypted,
    /// A response with no assertion.
    #[error("the SAML response carries no assertion")]
    NoAssertion,
    /// No `Role` attribute, or one with no values.
    #[error(
        "the SAML response carries no AWS roles; ask your IdP admin to map https://aws.amazon.com/SAML/Attributes/Role"
    )]
    NoRoles,
    /// A `Role` value that is not a role ARN and a SAML provider ARN separated by a comma.
    #[error(
        "the SAML Role value {0:?} is not \"role ARN,SAML provider ARN\"; ask your IdP admin to fix the Role mapping"
    )]
    MalformedRole(String),
    /// A time attribute that is not an ISO 8601 date-time.
    #[error("the SAML assertion's {attribute} = {value:?} is not a date-time")]
    BadTime {
        /// Which attribute (`Conditions NotOnOrAfter`, …).
        attribute: &'static str,
        /// Its value.
        value: String,
    },
    /// `NotOnOrAfter` has passed.
    #[error(
        "the SAML assertion expired at {not_on_or_after} (it is now {now}); log in again, and if this keeps happening check this computer's clock"
    )]
    Expired {
        /// When it expired.
        not_on_or_after: DateTime<Utc>,
        /// The clock's time.
        now: DateTime<Utc>,
    },
}

/// A role the assertion lets the user assume, with the SAML provider that vouches for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RolePair {
    /// `arn:aws:iam::ACCOUNT:role/NAME`.
    pub role_arn: String,
    /// `arn:aws:iam::ACCOUNT:saml-provider/NAME`.
    pub principal_arn: String,
}

impl RolePair {
    /// Reads one `Role` attribute value: two ARNs separated by a comma, in either order.
    pub fn parse(value: &str) -> Result<Self, AssertionError> {
        let malformed = || AssertionError::MalformedRole(shorten(value, 200));
        let (a, b) = value.split_once(',').ok_or_else(malformed)?;
        let (a, b) = (a.trim(), b.trim());
        let is_role = |s: &str| s.starts_with("arn:") && s.contains(":role/");
        let is_provider = |s: &str| s.starts_with("arn:") && s.contains(":saml-provider/");
        let (role, provider) = if is_role(a) && is_provider(b) {
            (a, b)
        } else if is_provider(a) && is_role(b) {
            (b, a)
        } else {
            return Err(malformed());
        };
        if role.contains(',') || provider.contains(',') || role.contains(char::is_whitespace) {
            return Err(malformed());
        }
        Ok(Self {
            role_arn: role.to_owned(),
            principal_arn: provider.to_owned(),
        })
    }

    /// The account id in the role ARN (`arn:aws:iam::ACCOUNT:role/…`).
    pub fn account_id(&self) -> Option<&str> {
        self.role_arn.split(':').nth(4).filter(|a| !a.is_empty())
    }

    /// The role's name, after `:role/` (paths included).
    pub fn role_name(&self) -> &str {
        self.role_arn
            .split_once(":role/")
            .map_or(self.role_arn.as_str(), |(_, n)| n)
    }
}

impl fmt::Display for RolePair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.role_arn)
    }
}

/// What keyfob needs from a SAML response. It holds no secret: the assertion itself is kept by
/// the caller as a [`keyfob_core::Secret`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// The roles offered, in the IdP's order, without duplicates.
    pub roles: Vec<RolePair>,
    /// `RoleSessionName`, if sent.
    pub role_session_name: Option<String>,
    /// `SessionDuration` in seconds, if sent and a number.
    pub session_duration: Option<u32>,
    /// The earliest `NotOnOrAfter` of the assertion's conditions and subject confirmations.
    pub not_on_or_after: Option<DateTime<Utc>>,
    /// The response's `Destination`, else the subject confirmation's `Recipient`.
    pub destination: Option<String>,
    /// The partition the destination belongs to (commercial when it names no AWS sign-in host).
    pub partition: Partition,
    /// The region of a regional sign-in destination, if any.
    pub signin_region: Option<String>,
}

impl Assertion {
    /// Decodes and reads a base64 SAML response (whitespace and missing padding tolerated).
    pub fn from_base64(text: &str) -> Result<Self, AssertionError> {
        Self::from_xml(&decode_base64(text)?)
    }

    /// Reads a SAML response's XML.
    pub fn from_xml(xml: &[u8]) -> Result<Self, AssertionError> {
        if xml.len() > MAX_RESPONSE_BYTES {
            return Err(AssertionError::TooLarge(xml.len()));
        }
        let text = std::str::from_utf8(xml)
            .map_err(|e| AssertionError::NotXml(format!("not UTF-8 ({e})")))?;
        let options = roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: MAX_NODES,
            ..roxmltree::ParsingOptions::default()
        };
        let doc = roxmltree::Document::parse_with_options(text, options)
            .map_err(|e| AssertionError::NotXml(e.to_string()))?;
        read_response(doc.root_element())
    }

    /// Fails with [`AssertionError::Expired`] when `NotOnOrAfter` is at or before `now`.
    pub fn check_not_expired(&self, now: DateTime<Utc>) -> Result<(), AssertionError> {
        match self.not_on_or_after {
            Some(t) if t <= now => Err(AssertionError::Expired {
                not_on_or_after: t,
                now,
            }),
            _ => Ok(()),
        }
    }
}

/// Decodes, reads and checks the expiry of a base64 SAML response, as the IdP posted it.
pub fn parse_response(base64: &str, now: DateTime<Utc>) -> Result<Assertion, AssertionError> {
    let a = Assertion::from_base64(base64)?;
    a.check_not_expired(now)?;
    Ok(a)
}

/// Base64 to bytes, ignoring ASCII whitespace (IdPs wrap lines), padding optional.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, AssertionError> {
    // Base64 grows data by 4/3: refuse before allocating for anything far too big.
    let limit = MAX_RESPONSE_BYTES / 3 * 4 + 8;
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if compact.len() > limit {
        return Err(AssertionError::TooLarge(compact.len() / 4 * 3));
    }
    if compact.is_empty() {
        return Err(AssertionError::NotBase64("it is empty".into()));
    }
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    engine
        .decode(&compact)
        .map_err(|e| AssertionError::NotBase64(e.to_string()))
}

fn is(node: roxmltree::Node<'_, '_>, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().name() == local && node.tag_name().namespace() == Some(ns)
}

fn describe(node: roxmltree::Node<'_, '_>) -> String {
    let tag = node.tag_name();
    match tag.namespace() {
        Some(ns) => format!("{{{ns}}}{}", tag.name()),
        None => format!("{} with no namespace", tag.name()),
    }
}

fn read_response(root: roxmltree::Node<'_, '_>) -> Result<Assertion, AssertionError> {
    if !is(root, PROTOCOL_NS, "Response") {
        return Err(AssertionError::NotSamlResponse(shorten(
            &describe(root),
            120,
        )));
    }
    check_status(root)?;
    let Some(assertion) = root.children().find(|n| is(*n, ASSERTION_NS, "Assertion")) else {
        if root
            .children()
            .any(|n| is(n, ASSERTION_NS, "EncryptedAssertion"))
        {
            return Err(AssertionError::Encrypted);
        }
        return Err(AssertionError::NoAssertion);
    };

    let attributes = read_attributes(assertion)?;
    if attributes.roles.is_empty() {
        return Err(AssertionError::NoRoles);
    }
    let (not_on_or_after, recipient) = read_times(assertion)?;

    let destination = root
        .attribute("Destination")
        .map(str::to_owned)
        .filter(|d| !d.trim().is_empty())
        .or(recipient);
    let target = destination
        .as_deref()
        .and_then(|d| Url::parse(d.trim()).ok())
        .and_then(|u| signin_target(&u));
    if target.is_none() {
        tracing::debug!(
            destination = destination.as_deref().unwrap_or("none"),
            "the SAML response names no AWS sign-in host; assuming the commercial partition"
        );
    }
    let (partition, signin_region) =
        target.map_or((Partition::Aws, None), |t| (t.partition, t.region));

    Ok(Assertion {
        roles: attributes.roles,
        role_session_name: attributes.role_session_name,
        session_duration: attributes.session_duration,
        not_on_or_after,
        destination,
        partition,
        signin_region,
    })
}

/// The AWS attributes of an assertion.
struct Attributes {
    roles: Vec<RolePair>,
    role_session_name: Option<String>,
    session_duration: Option<u32>,
}

fn read_attributes(assertion: roxmltree::Node<'_, '_>) -> Result<Attributes, AssertionError> {
    let mut out = Attributes {
        roles: Vec::new(),
        role_session_name: None,
        session_duration: None,
    };
    for attr in assertion
        .descendants()
        .filter(|n| is(*n, ASSERTION_NS, "Attribute"))
    {
        let values = || {
            attr.children()
                .filter(|n| is(*n, ASSERTION_NS, "AttributeValue"))
                .map(|v| text_of(v).trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        match attr.attribute("Name") {
            Some(ROLE_ATTRIBUTE) => {
                for v in values() {
                    let pair = RolePair::parse(&v)?;
                    if !out.roles.contains(&pair) {
                        out.roles.push(pair);
                    }
                }
            }
            Some(ROLE_SESSION_NAME_ATTRIBUTE) => out.role_session_name = values().next(),
            Some(SESSION_DURATION_ATTRIBUTE) => {
                out.session_duration = values().find_map(|v| {
                    let n = v.parse::<u32>().ok();
                    if n.is_none() {
                        tracing::warn!(value = %shorten(&v, 40), "ignoring a SessionDuration that is not a number of seconds");
                    }
                    n
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The earliest `NotOnOrAfter` of the conditions and subject confirmations, and the first
/// subject confirmation's `Recipient`.
fn read_times(
    assertion: roxmltree::Node<'_, '_>,
) -> Result<(Option<DateTime<Utc>>, Option<String>), AssertionError> {
    let mut not_on_or_after: Option<DateTime<Utc>> = None;
    let mut recipient = None;
    let mut earliest = |attribute: &'static str, value: &str| -> Result<(), AssertionError> {
        let t = DateTime::parse_from_rfc3339(value.trim())
            .map_err(|_| AssertionError::BadTime {
                attribute,
                value: shorten(value, 60),
            })?
            .with_timezone(&Utc);
        not_on_or_after = Some(not_on_or_after.map_or(t, |old| old.min(t)));
        Ok(())
    };
    for node in assertion.descendants().filter(roxmltree::Node::is_element) {
        if is(node, ASSERTION_NS, "Conditions") {
            if let Some(v) = node.attribute("NotOnOrAfter") {
                earliest("Conditions NotOnOrAfter", v)?;
            }
        } else if is(node, ASSERTION_NS, "SubjectConfirmationData") {
            if let Some(v) = node.attribute("NotOnOrAfter") {
                earliest("SubjectConfirmationData NotOnOrAfter", v)?;
            }
            if recipient.is_none() {
                recipient = node.attribute("Recipient").map(str::to_owned);
            }
        }
    }
    Ok((not_on_or_after, recipient))
}

fn check_status(response: roxmltree::Node<'_, '_>) -> Result<(), AssertionError> {
    let Some(status) = response.children().find(|n| is(*n, PROTOCOL_NS, "Status")) else {
        return Ok(());
    };
    let Some(code) = status
        .children()
        .find(|n| is(*n, PROTOCOL_NS, "StatusCode"))
    else {
        return Ok(());
    };
    if code.attribute("Value") == Some(STATUS_SUCCESS) {
        return Ok(());
    }
    // A failure status may nest a second-level code that says more (AuthnFailed, …).
    let codes: Vec<&str> = code
        .descendants()
        .filter(|n| is(*n, PROTOCOL_NS, "StatusCode"))
        .filter_map(|n| n.attribute("Value"))
        .map(|v| v.trim_start_matches("urn:oasis:names:tc:SAML:2.0:status:"))
        .collect();
    let message = status
        .children()
        .find(|n| is(*n, PROTOCOL_NS, "StatusMessage"))
        .map(|m| shorten(text_of(m).trim(), 200))
        .filter(|m| !m.is_empty());
    Err(AssertionError::Status {
        status: shorten(&codes.join("/"), 200),
        message,
    })
}

fn text_of(node: roxmltree::Node<'_, '_>) -> String {
    node.descendants()
        .filter(roxmltree::Node::is_text)
        .filter_map(|n| n.text())
        .collect()
}

/// At most `max` characters, with an ellipsis when cut.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

impl keyfob_core::error::UserError for AssertionError {}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const ALICE: &str = "arn:aws:iam::111122223333:role/Developer";
    const CORP: &str = "arn:aws:iam::111122223333:saml-provider/corp";

    /// A minimal response with these Role values, destination and expiry.
    fn response(roles: &[&str], destination: &str, not_on_or_after: &str) -> String {
        let values: String = roles
            .iter()
            .flat_map(|r| ["<saml:AttributeValue>", r, "</saml:AttributeValue>"])
            .collect();
        format!(
            r#"<?xml version="1.0"?>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Destination="{destination}" Version="2.0">
  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
  <saml:Assertion Version="2.0">
    <saml:Subject><saml:SubjectConfirmation><saml:SubjectConfirmationData NotOnOrAfter="{not_on_or_after}" Recipient="{destination}"/></saml:SubjectConfirmation></saml:Subject>
    <saml:Conditions NotOnOrAfter="2030-01-01T00:00:00Z"/>
    <saml:AttributeStatement>
      <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role">{values}</saml:Attribute>
      <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName"><saml:AttributeValue>alice</saml:AttributeValue></saml:Attribute>
      <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/SessionDuration"><saml:AttributeValue>3600</saml:AttributeValue></saml:Attribute>
    </saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response>"#
        )
    }

    fn aws(roles: &[&str]) -> String {
        response(
            roles,
            "https://signin.aws.amazon.com/saml",
            "2026-05-01T12:05:00.000Z",
        )
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn role_pairs_are_read_in_either_order() {
        let a = Assertion::from_xml(
            aws(&[
                &format!("{ALICE},{CORP}"),
                &format!(" {CORP} , arn:aws:iam::111122223333:role/Admin "),
            ])
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            a.roles,
            vec![
                RolePair {
                    role_arn: ALICE.into(),
                    principal_arn: CORP.into()
                },
                RolePair {
                    role_arn: "arn:aws:iam::111122223333:role/Admin".into(),
                    principal_arn: CORP.into()
                },
            ]
        );
        assert_eq!(a.role_session_name.as_deref(), Some("alice"));
        assert_eq!(a.session_duration, Some(3600));
        assert_eq!(
            a.not_on_or_after,
            Some(Utc.with_ymd_and_hms(2026, 5, 1, 12, 5, 0).unwrap())
        );
        assert_eq!(a.partition, Partition::Aws);
        assert_eq!(a.roles[0].account_id(), Some("111122223333"));
        assert_eq!(a.roles[1].role_name(), "Admin");
    }

    #[test]
    fn duplicate_role_values_are_kept_once() {
        let pair = format!("{ALICE},{CORP}");
        let swapped = format!("{CORP},{ALICE}");
        let a = Assertion::from_xml(aws(&[&pair, &swapped, &pair]).as_bytes()).unwrap();
        assert_eq!(a.roles.len(), 1);
    }

    #[test]
    fn garbage_role_values_are_named_in_the_error() {
        for bad in [
            "arn:aws:iam::1:role/A",
            "arn:aws:iam::1:role/A,arn:aws:iam::1:role/B",
            "arn:aws:iam::1:saml-provider/P,arn:aws:iam::1:saml-provider/Q",
            "Developer,corp",
            "arn:aws:iam::1:role/A,arn:aws:iam::1:saml-provider/P,extra",
        ] {
            let err = Assertion::from_xml(aws(&[bad]).as_bytes()).unwrap_err();
            assert_eq!(err, AssertionError::MalformedRole(bad.into()), "{bad}");
            assert!(err.to_string().contains(bad));
            assert!(!err.to_string().contains("AttributeStatement"));
        }
    }

    #[test]
    fn a_response_without_roles_says_what_to_ask_for() {
        let xml = aws(&[]);
        let err = Assertion::from_xml(xml.as_bytes()).unwrap_err();
        assert_eq!(err, AssertionError::NoRoles);
        assert!(
            err.to_string()
                .contains("ask your IdP admin to map https://aws.amazon.com/SAML/Attributes/Role")
        );
        let no_attr = xml.replace(ROLE_ATTRIBUTE, "urn:other");
        assert_eq!(
            Assertion::from_xml(no_attr.as_bytes()).unwrap_err(),
            AssertionError::NoRoles
        );
    }

    #[test]
    fn expiry_uses_the_clock_passed_in() {
        let a = Assertion::from_xml(aws(&[&format!("{ALICE},{CORP}")]).as_bytes()).unwrap();
        let exp = a.not_on_or_after.unwrap();
        assert!(
            a.check_not_expired(exp - chrono::Duration::seconds(1))
                .is_ok()
        );
        let err = a.check_not_expired(exp).unwrap_err();
        assert!(matches!(err, AssertionError::Expired { .. }));
        assert!(err.to_string().contains("log in again"));
        let b = b64(&aws(&[&format!("{ALICE},{CORP}")]));
        assert!(parse_response(&b, exp + chrono::Duration::minutes(1)).is_err());
        assert!(parse_response(&b, exp - chrono::Duration::minutes(1)).is_ok());
    }

    #[test]
    fn the_earliest_not_on_or_after_wins() {
        let xml = response(
            &[&format!("{ALICE},{CORP}")],
            "https://signin.aws.amazon.com/saml",
            "2031-01-01T00:00:00Z",
        );
        let a = Assertion::from_xml(xml.as_bytes()).unwrap();
        // Conditions says 2030, SubjectConfirmationData 2031.
        assert_eq!(
            a.not_on_or_after,
            Some(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap())
        );
    }

    #[test]
    fn an_unreadable_time_is_an_error() {
        let xml = response(
            &[&format!("{ALICE},{CORP}")],
            "https://signin.aws.amazon.com/saml",
            "yesterday",
        );
        let err = Assertion::from_xml(xml.as_bytes()).unwrap_err();
        assert!(
            matches!(err, AssertionError::BadTime { ref value, .. } if value == "yesterday"),
            "{err}"
        );
    }

    #[test]
    fn non_saml_xml_is_refused() {
        let err = Assertion::from_xml(b"<html><body>hello</body></html>").unwrap_err();
        assert_eq!(
            err,
            AssertionError::NotSamlResponse("html with no namespace".into())
        );
        let wrong_ns = aws(&[&format!("{ALICE},{CORP}")]).replace(PROTOCOL_NS, "urn:example");
        assert!(matches!(
            Assertion::from_xml(wrong_ns.as_bytes()).unwrap_err(),
            AssertionError::NotSamlResponse(_)
        ));
        assert!(matches!(
            Assertion::from_xml(b"not xml at all").unwrap_err(),
            AssertionError::NotXml(_)
        ));
        assert!(matches!(
            Assertion::from_xml(&[0xff, 0xfe, 0x00]).unwrap_err(),
            AssertionError::NotXml(_)
        ));
    }

    #[test]
    fn dtds_and_entity_expansion_are_refused() {
        let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&lol3;</samlp:Response>"#;
        let err = Assertion::from_xml(laughs.as_bytes()).unwrap_err();
        assert!(matches!(err, AssertionError::NotXml(_)), "{err}");
        let external = r#"<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>"#;
        assert!(matches!(
            Assertion::from_xml(external.as_bytes()).unwrap_err(),
            AssertionError::NotXml(_)
        ));
        // Even a harmless DOCTYPE is refused: SAML never carries one.
        let plain = format!(
            "<!DOCTYPE r>{}",
            aws(&[&format!("{ALICE},{CORP}")]).replace("<?xml version=\"1.0\"?>", "")
        );
        assert!(matches!(
            Assertion::from_xml(plain.as_bytes()).unwrap_err(),
            AssertionError::NotXml(_)
        ));
    }

    #[test]
    fn base64_is_decoded_with_whitespace_and_without_padding() {
        let xml = aws(&[&format!("{ALICE},{CORP}")]);
        let encoded = b64(&xml);
        let wrapped: String = encoded
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n");
        assert_eq!(Assertion::from_base64(&wrapped).unwrap().roles.len(), 1);
        assert_eq!(
            Assertion::from_base64(encoded.trim_end_matches('='))
                .unwrap()
                .roles
                .len(),
            1
        );
    }

    #[test]
    fn invalid_base64_is_refused() {
        for bad in ["", "   ", "not*base64!", "PHNhbWw-_w"] {
            assert!(
                matches!(
                    Assertion::from_base64(bad).unwrap_err(),
                    AssertionError::NotBase64(_)
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let big = "A".repeat(MAX_RESPONSE_BYTES * 2);
        assert!(matches!(
            Assertion::from_base64(&big).unwrap_err(),
            AssertionError::TooLarge(_)
        ));
        let big_xml = vec![b' '; MAX_RESPONSE_BYTES + 1];
        assert!(matches!(
            Assertion::from_xml(&big_xml).unwrap_err(),
            AssertionError::TooLarge(_)
        ));
    }

    #[test]
    fn the_partition_comes_from_the_destination() {
        let role = format!("{ALICE},{CORP}");
        let gov_role = "arn:aws-us-gov:iam::1:role/R,arn:aws-us-gov:iam::1:saml-provider/P";
        let cases = [
            ("https://signin.aws.amazon.com/saml", Partition::Aws, None),
            (
                "https://signin.amazonaws-us-gov.com/saml",
                Partition::AwsUsGov,
                None,
            ),
            ("https://signin.amazonaws.cn/saml", Partition::AwsCn, None),
            (
                "https://ap-southeast-2.signin.aws.amazon.com/saml",
                Partition::Aws,
                Some("ap-southeast-2"),
            ),
            ("https://sp.example.com/acs", Partition::Aws, None),
        ];
        for (dest, partition, region) in cases {
            let xml = response(&[&role, gov_role], dest, "2030-01-01T00:00:00Z");
            let a = Assertion::from_xml(xml.as_bytes()).unwrap();
            assert_eq!(a.partition, partition, "{dest}");
            assert_eq!(a.signin_region.as_deref(), region, "{dest}");
            assert_eq!(a.destination.as_deref(), Some(dest));
        }
        // Without a Destination the Recipient decides.
        let xml = response(
            &[&role],
            "https://signin.amazonaws.cn/saml",
            "2030-01-01T00:00:00Z",
        )
        .replace(" Destination=\"https://signin.amazonaws.cn/saml\"", "");
        assert_eq!(
            Assertion::from_xml(xml.as_bytes()).unwrap().partition,
            Partition::AwsCn
        );
    }

    #[test]
    fn failure_status_and_encrypted_assertions_are_explained() {
        let xml = aws(&[&format!("{ALICE},{CORP}")]).replace(
            r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>"#,
            r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode><samlp:StatusMessage>locked out</samlp:StatusMessage>"#,
        );
        let err = Assertion::from_xml(xml.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the IdP answered with SAML status Responder/AuthnFailed: locked out"
        );
        let encrypted = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><saml:EncryptedAssertion/></samlp:Response>"#;
        assert_eq!(
            Assertion::from_xml(encrypted.as_bytes()).unwrap_err(),
            AssertionError::Encrypted
        );
        let empty = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>"#;
        assert_eq!(
            Assertion::from_xml(empty.as_bytes()).unwrap_err(),
            AssertionError::NoAssertion
        );
    }
}
