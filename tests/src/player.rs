//! Plays the user of a browser SAML login: attaches over DevTools to the browser keyfob started
//! (the port Chromium wrote into `DevToolsActivePort` in keyfob's profile directory), waits for
//! the IdP's login page and types a user name and password into it, as a person would.

use chromiumoxide::Browser;
use futures::StreamExt as _;
use std::path::Path;
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
/// field, fills in `user` and `password` and submits that form, all within `limit`. It returns
/// the steps taken (`Err` when it did not type), so that a stuck run says where it stuck.
pub async fn type_into_login_page(
    dir: &Path,
    user: &str,
    password: &str,
    limit: Duration,
) -> Result<String, String> {
    let steps = Steps::new();
    let played = tokio::time::timeout(limit, play(dir, user, password, &steps)).await;
    let failed = match played {
        Ok(Ok(())) => return Ok(steps.render()),
        Ok(Err(e)) => e,
        Err(_) => format!("no login page typed into within {} s", limit.as_secs()),
    };
    Err(format!("{failed}; steps: {}", steps.render()))
}

/// What the player did, in order: when each step first happened (seconds from the start) and
/// how often in a row, for a failure's message.
struct Steps {
    start: std::time::Instant,
    done: std::sync::Mutex<Vec<(f32, u32, String)>>,
}

impl Steps {
    fn new() -> Self {
        Self {
            start: std::time::Instant::now(),
            done: std::sync::Mutex::default(),
        }
    }

    fn add(&self, what: impl Into<String>) {
        let what = what.into();
        let mut done = self.done.lock().unwrap();
        match done.last_mut() {
            Some((_, n, last)) if *last == what => *n += 1,
            _ => done.push((self.start.elapsed().as_secs_f32(), 1, what)),
        }
    }

    fn render(&self) -> String {
        let done = self.done.lock().unwrap();
        let lines: Vec<String> = done
            .iter()
            .map(|(t, n, what)| format!("{t:.1}s {what} (x{n})"))
            .collect();
        lines.join(" | ")
    }
}

async fn play(dir: &Path, user: &str, password: &str, steps: &Steps) -> Result<(), String> {
    // A port file left by an earlier browser of the same profile points at a dead port:
    // read it again until the browser it names answers.
    let (browser, mut handler) = loop {
        let (port, path) = endpoint(dir).await;
        match Browser::connect(format!("ws://127.0.0.1:{port}{path}")).await {
            Ok(attached) => break attached,
            Err(e) => {
                steps.add(format!("connect to port {port}: {e}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    steps.add("attached");
    let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
    let fill = format!(
        "(() => {{ const p = document.querySelector('input[type=password]'); if (!p || !p.form) return false; \
         const u = p.form.querySelector('input[name=username], input[type=text], input[type=email]'); \
         if (u) u.value = {user:?}; p.value = {password:?}; \
         const b = p.form.querySelector('button[type=submit], input[type=submit], button'); \
         if (b) b.click(); else p.form.submit(); return true; }})()"
    );
    loop {
        let pages = browser.pages().await.map_err(|e| format!("pages: {e}"))?;
        let mut urls = Vec::new();
        for page in pages {
            urls.push(page.url().await.ok().flatten().unwrap_or_default());
            match page.evaluate(fill.as_str()).await {
                Ok(r) => {
                    if r.into_value::<bool>().unwrap_or(false) {
                        steps.add(format!("typed and submitted (pages: {urls:?})"));
                        handler.abort();
                        return Ok(());
                    }
                }
                Err(e) => urls.push(format!("(evaluate: {e})")),
            }
        }
        // Page addresses only: a login page's URL carries no secret of the test's.
        steps.add(format!("no password field yet in {urls:?}"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
