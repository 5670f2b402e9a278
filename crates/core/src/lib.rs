//! keyfob's core: the profile model over the shared AWS config files, the session store in the
//! OS keychain, the `Credentials` type and its `credential_process` JSON, the expiry policy, the
//! cross-process single-flight lock, and the format-preserving `~/.aws/config` editor.
//!
//! Nothing here talks to the network: sources of credentials (SSO, SAML, STS) live in other
//! crates and plug in through [`source::CredentialSource`].
#![deny(missing_docs)]

pub mod credentials;
pub mod editor;
pub mod eks;
pub mod env;
pub mod error;
pub mod kubeconfig;
pub mod lock;
pub mod net;
pub mod paths;
pub mod profile;
pub mod secret;
pub mod serve;
pub mod source;
pub mod store;
pub mod sts;

pub use credentials::{Credentials, ExpiryPolicy};
pub use env::{Clock, Env, SystemClock};
pub use secret::Secret;
pub use store::SessionStore;
