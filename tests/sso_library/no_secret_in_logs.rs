//! A full session (PKCE login, refresh, role credentials, listing, logout) logged at the
//! verbosity of `keyfob -vvv` must not show a secret. Alone in its binary: tracing's callsite
//! interest is process-wide, and parallel tests without a subscriber would race it.

#[path = "common.rs"]
mod common;

use common::{Browser, World};
use keyfob_sso::accounts::ListOptions;
use keyfob_sso::login::LoginOptions;
use keyfob_sso::{Flow, RoleCredentialsSource, list_accounts, login, logout};
use keyfob_tests::fake::FakeConfig;

mod capture {
    //! A tracing subscriber that keeps every event and span field as text.
    use std::fmt::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    #[derive(Clone, Default)]
    pub(crate) struct Capture {
        pub(crate) text: Arc<Mutex<String>>,
        next: Arc<AtomicU64>,
    }

    struct Text<'a>(&'a mut String);

    impl Visit for Text<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, " {}={:?}", field.name(), value);
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            let _ = write!(self.0, " {}={}", field.name(), value);
        }
    }

    impl Subscriber for Capture {
        /// What `keyfob -vvv` shows: everything of keyfob's, debug and up of the rest. (The
        /// SDK's own trace events print request headers, bearer token included: they must
        /// stay off.)
        fn enabled(&self, meta: &Metadata<'_>) -> bool {
            meta.target().starts_with("keyfob") || *meta.level() <= tracing::Level::DEBUG
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut t = self.text.lock().unwrap();
            let _ = write!(t, "\nspan {}", span.metadata().name());
            span.record(&mut Text(&mut t));
            Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
        }
        fn record(&self, _: &Id, values: &Record<'_>) {
            values.record(&mut Text(&mut self.text.lock().unwrap()));
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut t = self.text.lock().unwrap();
            let _ = write!(
                t,
                "\n{} {}",
                event.metadata().level(),
                event.metadata().target()
            );
            event.record(&mut Text(&mut t));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    let mut config = FakeConfig::default();
    config.device.auto_approve = true;
    let w = World::new(config);
    let capture = capture::Capture::default();
    let guard = tracing::subscriber::set_default(capture.clone());
    let ui = Browser::default();
    login(&w.ctx(), &w.cfg, Flow::Pkce, &ui, &LoginOptions::default())
        .await
        .unwrap();
    w.fake.expire_all();
    let account = w.fake.config().org.accounts[0].clone();
    let source = RoleCredentialsSource::new(w.ctx(), w.cfg.clone(), &account.id, &account.roles[0]);
    let creds = source.fetch_credentials().await.unwrap();
    list_accounts(&w.ctx(), &w.cfg, &ListOptions::default(), &mut |_| {})
        .await
        .unwrap();
    let client_secret = keyfob_sso::token::load_registration(&w.store, &w.cfg)
        .unwrap()
        .unwrap()
        .client_secret;
    logout(&w.ctx(), &w.cfg).await.unwrap();
    drop(guard);
    let logs = capture.text.lock().unwrap().clone();
    assert!(logs.contains("signed in"), "nothing was captured: {logs}");
    let mut secrets: Vec<String> = vec![
        client_secret.expose().to_owned(),
        creds.secret_access_key.expose().to_owned(),
        creds.session_token.unwrap().expose().to_owned(),
    ];
    for t in w.fake.issued_tokens() {
        secrets.push(t.access_token);
        secrets.extend(t.refresh_token);
    }
    for c in w.fake.issued_credentials() {
        secrets.push(c.secret_access_key);
        secrets.push(c.session_token);
    }
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        if let Some(line) = logs.lines().find(|l| l.contains(s.as_str())) {
            panic!(
                "a secret reached the logs: {}",
                line.replace(s.as_str(), "<SECRET>")
            );
        }
    }
}
