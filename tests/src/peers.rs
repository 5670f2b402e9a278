//! The one rule for tests that need a peer (a keychain, moto, the SAML IdP, Python): when it
//! is missing they skip, unless `KEYFOB_TEST_REQUIRE_PEERS=1` (what `./scripts/test` and CI
//! set), where a missing peer is a failure.

/// Fails when peers are required and `var` (the peer's variable) is not set; else returns,
/// and the caller skips.
pub fn require(var: &str) {
    assert!(
        std::env::var("KEYFOB_TEST_REQUIRE_PEERS").as_deref() != Ok("1"),
        "{var} is not set but KEYFOB_TEST_REQUIRE_PEERS=1: run the tests with ./scripts/test"
    );
}

/// Whether the peer behind `var` is there (`var=1`); if not, [`require`] decides between
/// skipping (`false`) and failing.
pub fn available(var: &str) -> bool {
    if std::env::var(var).as_deref() == Ok("1") {
        true
    } else {
        require(var);
        false
    }
}
