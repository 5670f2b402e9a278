//! Shared by the tests against the fake: an in-memory store, a world, a browser.
#![allow(dead_code, unreachable_pub)]

use keyfob_core::Env;
use keyfob_core::env::SystemClock;
use keyfob_core::store::{Backend, SessionStore, StoreError};
use keyfob_sso::login::{DevicePrompt, LoginUi};
use keyfob_sso::{SsoContext, SsoSessionConfig};
use keyfob_tests::fake::{FakeAws, FakeConfig};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

/// What `KEYFOB_TEST_POLL_SCALE` is in every world (and the fake's `interval_scale`).
pub const POLL_SCALE: f64 = 0.01;

/// Keys and values in a map.
#[derive(Default)]
pub struct MemStore(Mutex<BTreeMap<String, String>>);

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

/// One test's world: a fake, a temp HOME, an environment pointing at both.
pub struct World {
    pub fake: FakeAws,
    pub home: tempfile::TempDir,
    pub env: Env,
    pub store: MemStore,
    pub cfg: SsoSessionConfig,
}

impl World {
    pub fn new(config: FakeConfig) -> Self {
        Self::with_env(config, &[])
    }

    /// A world whose keyfob waits 1 % of the real device-flow and backoff times, and whose
    /// fake enforces the interval at the same scale.
    pub fn with_env(mut config: FakeConfig, extra: &[(&str, &str)]) -> Self {
        config.device.interval_scale = POLL_SCALE;
        let fake = FakeAws::start(config).unwrap();
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap().to_owned();
        let mut pairs: Vec<(String, String)> = vec![
            ("HOME".into(), h.clone()),
            ("KEYFOB_CACHE_DIR".into(), format!("{h}/cache")),
            ("KEYFOB_TEST_POLL_SCALE".into(), POLL_SCALE.to_string()),
        ];
        pairs.extend(
            fake.endpoint_env()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v)),
        );
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let cfg = SsoSessionConfig {
            name: "acme".into(),
            start_url: format!("{}/start", fake.url()),
            region: "eu-west-1".into(),
            scopes: vec!["sso:account:access".into()],
            login_flow: None,
            write_sso_cache: true,
            legacy_profile: None,
        };
        Self {
            fake,
            home,
            env: Env::from_pairs(pairs),
            store: MemStore::default(),
            cfg,
        }
    }

    pub fn ctx(&self) -> SsoContext<'_> {
        SsoContext {
            store: &self.store,
            clock: &SystemClock,
            env: &self.env,
        }
    }
}

/// A blocking `GET` over a fresh connection: status and `Location`.
pub fn http_get(url: &str) -> (u16, Option<String>) {
    let u = url::Url::parse(url).unwrap();
    let host = u.host_str().unwrap();
    let port = u.port().unwrap();
    let mut target = u.path().to_owned();
    if let Some(q) = u.query() {
        target = format!("{target}?{q}");
    }
    let mut s = TcpStream::connect((host, port)).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = text.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("location")
            .then(|| v.trim().to_owned())
    });
    (status, location)
}

/// Acts as the user in a browser, on another thread (the UI must not block).
#[derive(Default)]
pub struct Browser {
    pub seen: Mutex<Vec<String>>,
    pub callback_status: Arc<Mutex<Option<u16>>>,
}

impl LoginUi for Browser {
    fn show_device_code(&self, prompt: &DevicePrompt) {
        let url = prompt.verification_uri_complete.clone().unwrap();
        self.seen.lock().unwrap().push(url.clone());
        std::thread::spawn(move || http_get(&url));
    }

    fn open_browser(&self, url: &str) {
        self.seen.lock().unwrap().push(url.to_owned());
        let url = url.to_owned();
        let status = self.callback_status.clone();
        std::thread::spawn(move || {
            let (code, location) = http_get(&url);
            assert_eq!(code, 302, "authorize must redirect");
            let (code, _) = http_get(&location.unwrap());
            *status.lock().unwrap() = Some(code);
        });
    }
}
