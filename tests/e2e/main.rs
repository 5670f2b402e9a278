//! End-to-end tests: the built `keyfob` binary against real processes on 127.0.0.1 — the OS
//! keychains (gnome-keyring's Secret Service, the kernel keyring), moto's STS, our fake IAM
//! Identity Center, botocore and the Rust `aws-config`. Run them with `./scripts/test`, which
//! starts those peers and exports where they are (see CONTRIBUTING.md).

mod auto_login;
mod bridges;
mod browser;
mod chains;
mod eks;
mod foundation;
mod keychains;
mod mfa;
mod noticed;
mod populate;
mod saml;
mod snapshots;
mod sso;
mod sso_support;
mod support;
mod trust;
