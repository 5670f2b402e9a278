//! Plays the user of a browser SAML login: attaches over DevTools to the browser keyfob started
//! (the port Chromium wrote into `DevToolsActivePort` in keyfob's profile directory), waits for
//! the IdP's login page and types a user name and password into it, as a person would.

use chromiumoxide::Browser;
use futures::StreamExt as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The DevTools port and browser path in `dir`'s `DevToolsActivePort`, once it is there.
async fn endpoint(dir: &Path) -> (u16, String) {
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("DevToolsActivePort")) {
            let mut lines = text.lines();
            if let (Some(Ok(port)), Some(path)) =
                (lines.next().map(|l| l.trim().parse::<u16>()), lines.next())
                && path.starts_with("/devtools/browser/")
            {
                return (port, path.trim().to_owned());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the browser whose profile directory is `dir`, then for a page with a password
/// field, fills in `user` and `password` and submits that form. `probe`: first opens
/// `https://signin.aws.amazon.com/probe` (a GET keyfob does not intercept) in a new tab and
/// waits until this counter (a recorder's connections) moves, proving the host mapping.
pub async fn type_into_login_page(
    dir: &Path,
    user: &str,
    password: &str,
    probe: Option<Arc<AtomicUsize>>,
) -> Result<(), String> {
    // A port file left by an earlier browser of the same profile points at a dead port:
    // read it again until the browser it names answers.
    let (browser, mut handler) = loop {
        let (port, path) = endpoint(dir).await;
        match Browser::connect(format!("ws://127.0.0.1:{port}{path}")).await {
            Ok(attached) => break attached,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
    if let Some(seen) = probe {
        // The probe tab loads the AWS URL until the recorder has seen it: a navigation that a
        // busy machine drops is simply made again.
        let before = seen.load(Ordering::SeqCst);
        let page = browser
            .new_page("about:blank")
            .await
            .map_err(|e| format!("probe tab: {e}"))?;
        while seen.load(Ordering::SeqCst) == before {
            let _ = tokio::time::timeout(
                Duration::from_secs(10),
                page.goto("https://signin.aws.amazon.com/probe"),
            )
            .await;
            for _ in 0..20 {
                if seen.load(Ordering::SeqCst) != before {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let _ = page.close().await;
    }
    let fill = format!(
        "(() => {{ const p = document.querySelector('input[type=password]'); if (!p || !p.form) return false; \
         const u = p.form.querySelector('input[name=username], input[type=text], input[type=email]'); \
         if (u) u.value = {user:?}; p.value = {password:?}; \
         const b = p.form.querySelector('button[type=submit], input[type=submit], button'); \
         if (b) b.click(); else p.form.submit(); return true; }})()"
    );
    loop {
        for page in browser.pages().await.map_err(|e| format!("pages: {e}"))? {
            if let Ok(r) = page.evaluate(fill.as_str()).await
                && r.into_value::<bool>().unwrap_or(false)
            {
                handler.abort();
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
