//! AWS partitions: their sign-in and console hosts, which sign-in host a SAML assertion is
//! meant for, and which STS region can take it.

use std::fmt;
use url::Url;

/// An AWS partition, chosen from the sign-in URL an assertion is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Partition {
    /// The commercial partition (`signin.aws.amazon.com`).
    #[default]
    Aws,
    /// AWS GovCloud (US) (`signin.amazonaws-us-gov.com`).
    AwsUsGov,
    /// AWS China (`signin.amazonaws.cn`).
    AwsCn,
}

impl Partition {
    /// The partition's name as it appears in ARNs (`aws`, `aws-us-gov`, `aws-cn`).
    pub fn name(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsUsGov => "aws-us-gov",
            Partition::AwsCn => "aws-cn",
        }
    }

    /// The region whose STS endpoint serves this partition when nothing else says which.
    pub fn default_region(self) -> &'static str {
        match self {
            Partition::Aws => "us-east-1",
            Partition::AwsUsGov => "us-gov-west-1",
            Partition::AwsCn => "cn-north-1",
        }
    }

    /// The partition a region belongs to.
    pub fn of_region(region: &str) -> Self {
        if region.starts_with("cn-") {
            Partition::AwsCn
        } else if region.starts_with("us-gov-") {
            Partition::AwsUsGov
        } else {
            Partition::Aws
        }
    }

    /// The sign-in host's domain for this partition (SAML, the console's federation endpoint).
    pub fn signin_domain(self) -> &'static str {
        match self {
            Partition::Aws => "signin.aws.amazon.com",
            Partition::AwsUsGov => "signin.amazonaws-us-gov.com",
            Partition::AwsCn => "signin.amazonaws.cn",
        }
    }
}

impl Partition {
    /// The console's host for this partition.
    pub fn console_domain(self) -> &'static str {
        match self {
            Partition::Aws => "console.aws.amazon.com",
            Partition::AwsUsGov => "console.amazonaws-us-gov.com",
            Partition::AwsCn => "console.amazonaws.cn",
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An AWS sign-in endpoint that takes SAML responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigninTarget {
    /// The partition of the sign-in host.
    pub partition: Partition,
    /// The region of a regional sign-in host (`us-east-2.signin.aws.amazon.com`), if any.
    pub region: Option<String>,
}

/// If `url` is an AWS sign-in SAML endpoint of any partition (`https://signin.aws.amazon.com/saml`,
/// its regional forms, GovCloud and China), which partition it belongs to.
pub fn signin_target(url: &Url) -> Option<SigninTarget> {
    if url.scheme() != "https" || !url.path().starts_with("/saml") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    for partition in [Partition::Aws, Partition::AwsUsGov, Partition::AwsCn] {
        let domain = partition.signin_domain();
        if host == domain {
            return Some(SigninTarget {
                partition,
                region: None,
            });
        }
        if let Some(prefix) = host.strip_suffix(domain).and_then(|p| p.strip_suffix('.')) {
            // Regional sign-in hosts are `<region>.signin…`; anything deeper is not AWS's.
            if is_region_name(prefix) {
                return Some(SigninTarget {
                    partition,
                    region: Some(prefix.to_owned()),
                });
            }
        }
    }
    None
}

fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && s.bytes().last().is_some_and(|b| b.is_ascii_digit())
}

/// The region to call STS in for an assertion of `partition`: the profile's region when it is in
/// that partition, else the regional sign-in host's region, else the partition's default.
pub fn sts_region(
    partition: Partition,
    signin_region: Option<&str>,
    profile_region: Option<&str>,
) -> String {
    if let Some(r) = profile_region.filter(|r| Partition::of_region(r) == partition) {
        return r.to_owned();
    }
    if let Some(r) = signin_region.filter(|r| Partition::of_region(r) == partition) {
        return r.to_owned();
    }
    partition.default_region().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(u: &str) -> Option<SigninTarget> {
        signin_target(&Url::parse(u).unwrap())
    }

    #[test]
    fn every_partitions_signin_host_is_recognised() {
        assert_eq!(
            target("https://signin.aws.amazon.com/saml")
                .unwrap()
                .partition,
            Partition::Aws
        );
        assert_eq!(
            target("https://signin.amazonaws-us-gov.com/saml")
                .unwrap()
                .partition,
            Partition::AwsUsGov
        );
        assert_eq!(
            target("https://signin.amazonaws.cn/saml")
                .unwrap()
                .partition,
            Partition::AwsCn
        );
        let regional = target("https://eu-west-1.signin.aws.amazon.com/saml/acs/SAMLSP1").unwrap();
        assert_eq!(regional.partition, Partition::Aws);
        assert_eq!(regional.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn look_alikes_are_not_aws() {
        for u in [
            "http://signin.aws.amazon.com/saml",
            "https://signin.aws.amazon.com.evil.example/saml",
            "https://evilsignin.aws.amazon.com/saml",
            "https://a.b.signin.aws.amazon.com/saml",
            "https://signin.aws.amazon.com/console",
            "https://idp.example.com/saml",
        ] {
            assert_eq!(target(u), None, "{u}");
        }
    }

    #[test]
    fn sts_region_stays_in_the_partition() {
        assert_eq!(
            sts_region(Partition::Aws, None, Some("eu-west-1")),
            "eu-west-1"
        );
        assert_eq!(
            sts_region(Partition::AwsCn, None, Some("eu-west-1")),
            "cn-north-1"
        );
        assert_eq!(sts_region(Partition::AwsUsGov, None, None), "us-gov-west-1");
        assert_eq!(
            sts_region(Partition::Aws, Some("us-east-2"), None),
            "us-east-2"
        );
        assert_eq!(
            sts_region(Partition::AwsCn, None, Some("cn-northwest-1")),
            "cn-northwest-1"
        );
    }
}
