//! keyfob's core: how a profile becomes credentials.
//!
//! - [`profile`] reads the shared config files (through aws-config's own parser) and decides
//!   which of keyfob's sources serves a profile; [`chain`] plans a profile's role chain;
//!   [`engine`] runs the plan: the one place to read for "how does a profile become
//!   credentials".
//! - [`serve`] is the single-flight cache in the OS keychain ([`store`]), every entry tied to
//!   its configuration by a [`source::Fingerprint`], every wait bounded ([`lock`]).
//! - STS-backed sources live here: [`iam_user`] (keys and MFA sessions) and the engine's
//!   AssumeRole hops, on [`sts`] clients with [`net`]'s bounds. SSO and SAML live in their own
//!   crates and plug in through [`source::CredentialSource`] and [`engine::ServeBase`]; this
//!   crate never depends on them.
//! - [`editor`] is the format-preserving `~/.aws/config` editor.
#![deny(missing_docs)]

pub mod auto_login;
pub mod chain;
pub mod console;
pub mod credential_process_line;
pub mod credentials;
pub mod editor;
pub mod eks;
pub mod engine;
pub mod env;
pub mod error;
pub mod fingerprint;
pub mod hit;
pub mod iam_user;
pub mod kubeconfig;
pub mod lock;
pub mod net;
pub mod partition;
pub mod paths;
pub mod profile;
pub mod programs;
pub mod sdk_credentials;
pub mod secret;
pub mod serve;
pub mod served;
pub mod server;
pub mod source;
pub mod store;
pub mod sts;

pub use credentials::{Credentials, ExpiryPolicy};
pub use engine::Error;
pub use env::{Clock, Env, SystemClock};
pub use error::{Report, ResultExt, UserError};
pub use secret::Secret;
pub use store::SessionStore;
