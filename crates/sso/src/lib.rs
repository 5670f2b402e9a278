//! keyfob's IAM Identity Center (SSO) support: OIDC client registration, the device and PKCE
//! sign-in flows, the token cache (keychain, plus an optional mirror in the AWS CLI's
//! `~/.aws/sso/cache`), token refresh, role credentials, and the account × role listing behind
//! `keyfob populate`.
//!
//! The SDK clients (`aws-sdk-ssooidc`, `aws-sdk-sso`) are built only when a call has to go on
//! the wire: serving a cached credential costs no SDK config. Endpoints follow the SDKs'
//! variables (`AWS_ENDPOINT_URL_SSO_OIDC`, `AWS_ENDPOINT_URL_SSO`, `AWS_ENDPOINT_URL`).
//!
//! Nothing here prompts or prints: [`login::LoginUi`] is the caller's side of a sign-in.
#![deny(missing_docs)]

pub mod accounts;
mod callback;
mod clients;
pub mod error;
pub mod login;
pub mod logout;
pub mod populate;
pub mod refresh;
pub mod role;
pub mod session;
pub mod timing;
pub mod token;

pub use accounts::{Account, ListOptions, Progress, list_accounts};
pub use error::SsoError;
pub use login::{DevicePrompt, LoginOptions, LoginUi, login};
pub use logout::{LogoutSummary, logout};
pub use populate::{ApplySummary, PlanOptions, PopulatePlan, Style, apply_plan, plan};
pub use refresh::{DEFAULT_TOKEN_WINDOW, valid_token};
pub use role::RoleCredentialsSource;
pub use session::{Flow, SsoSessionConfig};
pub use token::{ClientRegistration, SsoToken};

use keyfob_core::{Clock, Env, SessionStore};

/// What every network-facing call needs: the keychain, the clock and the environment
/// (endpoints, `HOME` for the AWS CLI cache, keyfob's cache directory for locks).
#[derive(Clone, Copy)]
pub struct SsoContext<'a> {
    /// The keychain.
    pub store: &'a dyn SessionStore,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The environment.
    pub env: &'a Env,
}

impl std::fmt::Debug for SsoContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoContext")
            .field("backend", &self.store.backend())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! An in-memory session store for unit tests (production has no such fallback).

    use keyfob_core::store::{Backend, SessionStore, StoreError};
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// Keys and values in a map.
    #[derive(Default)]
    pub(crate) struct MemStore(pub(crate) Mutex<BTreeMap<String, String>>);

    impl SessionStore for MemStore {
        fn backend(&self) -> Backend {
            Backend::Keyutils
        }
        fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
            Ok(self.0.lock().unwrap().get(key).cloned())
        }
        fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
            self.0
                .lock()
                .unwrap()
                .insert(key.to_owned(), value.to_owned());
            Ok(())
        }
        fn delete(&self, key: &str) -> Result<bool, StoreError> {
            Ok(self.0.lock().unwrap().remove(key).is_some())
        }
        fn list(&self) -> Result<Vec<String>, StoreError> {
            Ok(self.0.lock().unwrap().keys().cloned().collect())
        }
    }
}
