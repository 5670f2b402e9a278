//! The browser login: the user's own Chromium-family browser, driven over the DevTools
//! protocol, signs in on the IdP's real page (any MFA factor the IdP asks for); keyfob takes the
//! SAML response from the POST to the AWS sign-in endpoint and answers that POST itself, so it
//! never reaches AWS.
//!
//! - The browser is found at the platform's standard places, or named by `KEYFOB_BROWSER` /
//!   the profile key `keyfob_browser`. Nothing is ever downloaded.
//! - One profile directory per IdP origin under keyfob's cache directory (0700), so the IdP's
//!   session cookie survives and a second login while it lasts needs no typing. A lock file
//!   keeps two keyfob processes from starting browsers on the same directory.
//! - The DevTools endpoint binds 127.0.0.1 on a port Chromium picks; Chromium writes it into
//!   `DevToolsActivePort` in the profile directory, where a test playing the user can read it.
//! - The browser's whole process group is killed on every way out of [`capture`]: success,
//!   error, timeout, Ctrl-C, SIGTERM, and a dropped future.
//! - Nothing of the page, its cookies or the assertion is logged: the CLI's log filter also
//!   silences the DevTools crate, whose trace output holds whole protocol messages.

use crate::Secret;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chromiumoxide::cdp::browser_protocol::fetch::{
    ContinueRequestParams, EnableParams, EventRequestPaused, FulfillRequestParams, HeaderEntry,
    RequestPattern, RequestStage,
};
use chromiumoxide::cdp::browser_protocol::network::GetRequestPostDataParams;
use chromiumoxide::cdp::browser_protocol::page::{EventLoadEventFired, NavigateParams};
use chromiumoxide::handler::HandlerConfig;
use chromiumoxide::{Browser, Page};
use futures::StreamExt as _;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::time::{Instant, sleep_until, timeout};
use url::Url;

/// How long a visible login may take: a person reads, types, approves a push.
pub const VISIBLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a headless (silent) login may take in all.
pub const HEADLESS_TIMEOUT: Duration = Duration::from_secs(30);
/// A headless login gives up when a page has finished loading and nothing has happened for
/// this long: the IdP is showing something only a person can answer.
pub const HEADLESS_IDLE: Duration = Duration::from_secs(5);
/// How long Chromium may take to open its DevTools port.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Every DevTools command's bound.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The page the browser shows instead of the AWS console.
/// Its icon is inline: a page at the AWS sign-in URL would otherwise make the browser fetch
/// `/favicon.ico` from AWS.
const SIGNED_IN_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>keyfob: signed in</title></head>\
<body style=\"font-family:sans-serif;margin:3em\"><h1>Signed in</h1>\
<p>keyfob has the sign-in. You can close this window.</p></body></html>";

/// The AWS sign-in SAML endpoints of every partition, as DevTools URL patterns; a paused
/// request is taken only when [`keyfob_core::partition::signin_target`] recognises its URL.
const SIGNIN_PATTERNS: [&str; 3] = [
    "https://*signin.aws.amazon.com/saml*",
    "https://*signin.amazonaws-us-gov.com/saml*",
    "https://*signin.amazonaws.cn/saml*",
];

/// Anything that went wrong in a browser login.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrowserError {
    /// No Chromium-family browser was found.
    #[error(
        "no Chromium-family browser (Chrome, Chromium, Edge, Brave) was found{}; set KEYFOB_BROWSER (or keyfob_browser in the profile) to one, or use the form login: keyfob configure saml {profile} --url URL --username USER (without --browser)",
        configured.as_ref().map(|c| format!(" ({c} does not exist)")).unwrap_or_default()
    )]
    NotFound {
        /// The profile, for the hint.
        profile: String,
        /// The configured browser that does not exist, if one was configured.
        configured: Option<String>,
    },
    /// The browser could not be started or exited at once.
    #[error("cannot start the browser {}: {reason}", program.display())]
    Start {
        /// The browser.
        program: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The profile directory could not be prepared.
    #[error("cannot prepare the browser profile directory {}: {source}", dir.display())]
    ProfileDir {
        /// The directory.
        dir: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Another keyfob holds the profile directory.
    #[error(transparent)]
    Lock(#[from] keyfob_core::lock::LockError),
    /// The DevTools connection failed.
    #[error("the browser's DevTools connection failed: {0}")]
    Protocol(String),
    /// The IdP page could not be loaded.
    #[error("the browser could not open the IdP page: {0}")]
    Unreachable(String),
    /// The user closed the browser before signing in.
    #[error("the browser was closed before the sign-in reached AWS")]
    Closed,
    /// The sign-in did not finish in time.
    #[error("no SAML sign-in reached keyfob within {} s", .0.as_secs())]
    TimedOut(Duration),
    /// The headless browser stopped at a page that wants a person.
    #[error("the IdP wants a person to sign in (the headless browser stopped at its page)")]
    NeedsPerson,
    /// Ctrl-C or SIGTERM.
    #[error("the browser sign-in was interrupted")]
    Interrupted,
    /// The POST to AWS carried no SAMLResponse.
    #[error("the sign-in POST to AWS carried no SAMLResponse")]
    NoSamlResponse,
}

impl BrowserError {
    /// True when a person must sign in (a silent refresh cannot).
    pub fn needs_user(&self) -> bool {
        matches!(self, BrowserError::NeedsPerson | BrowserError::TimedOut(_))
    }
}

impl keyfob_core::error::UserError for BrowserError {}

/// Visible window, or headless (the silent refresh).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A window the user signs in in.
    Visible,
    /// No window: only an IdP session that is still valid can finish.
    Headless,
}

/// Where and how to run the browser.
#[derive(Debug, Clone)]
pub struct BrowserLogin {
    /// The browser executable.
    pub program: PathBuf,
    /// Arguments appended to keyfob's (`KEYFOB_BROWSER_ARGS`).
    pub extra_args: Vec<String>,
    /// keyfob's cache directory: profile directories and locks live under it.
    pub cache_dir: PathBuf,
    /// Visible or headless.
    pub mode: Mode,
    /// The bound on the whole login.
    pub timeout: Duration,
    /// Headless only: give up when a loaded page rests this long.
    pub idle: Duration,
}

impl BrowserLogin {
    /// A login with `program` in `mode` and that mode's default bounds.
    pub fn new(program: PathBuf, cache_dir: PathBuf, mode: Mode) -> Self {
        Self {
            program,
            extra_args: Vec::new(),
            cache_dir,
            mode,
            timeout: match mode {
                Mode::Visible => VISIBLE_TIMEOUT,
                Mode::Headless => HEADLESS_TIMEOUT,
            },
            idle: HEADLESS_IDLE,
        }
    }

    /// Appends `KEYFOB_BROWSER_ARGS` (split at whitespace).
    #[must_use]
    pub fn with_extra_args(mut self, args: Option<&str>) -> Self {
        self.extra_args = args
            .map(|a| a.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        self
    }
}

/// The Chromium-family executables looked up on `PATH`, in order.
const PATH_NAMES: [&str; 8] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "microsoft-edge",
    "microsoft-edge-stable",
    "brave-browser",
    "brave",
];

/// Standard install places besides `PATH`, for this platform. `home` is the user's home
/// (macOS per-user apps), `program_dirs` the Windows `ProgramFiles`, `ProgramFiles(x86)` and
/// `LocalAppData` directories.
fn standard_places(home: Option<&Path>, program_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if cfg!(target_os = "macos") {
        let apps = [
            "Google Chrome.app/Contents/MacOS/Google Chrome",
            "Chromium.app/Contents/MacOS/Chromium",
            "Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
            "Brave Browser.app/Contents/MacOS/Brave Browser",
        ];
        for app in apps {
            v.push(Path::new("/Applications").join(app));
            if let Some(h) = home {
                v.push(h.join("Applications").join(app));
            }
        }
    } else if cfg!(windows) {
        let exes = [
            r"Google\Chrome\Application\chrome.exe",
            r"Microsoft\Edge\Application\msedge.exe",
            r"BraveSoftware\Brave-Browser\Application\brave.exe",
            r"Chromium\Application\chrome.exe",
        ];
        for dir in program_dirs {
            for exe in exes {
                v.push(dir.join(exe));
            }
        }
    } else {
        for p in [
            "/opt/google/chrome/chrome",
            "/opt/microsoft/msedge/msedge",
            "/opt/brave.com/brave/brave",
            "/snap/bin/chromium",
        ] {
            v.push(PathBuf::from(p));
        }
    }
    v
}

/// What [`find`] looks at: the configured browser and the places to search.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// `KEYFOB_BROWSER`, else the profile's `keyfob_browser`.
    pub configured: Option<String>,
    /// The `PATH` variable.
    pub path: Option<OsString>,
    /// The user's home directory.
    pub home: Option<PathBuf>,
    /// Windows: `ProgramFiles`, `ProgramFiles(x86)`, `LocalAppData`.
    pub program_dirs: Vec<PathBuf>,
}

/// Finds the browser: the configured one (a path, or a name on `PATH`), else the first
/// Chromium-family browser on `PATH` or at the platform's standard places.
pub fn find(discovery: &Discovery, profile: &str) -> Result<PathBuf, BrowserError> {
    let on_path = |name: &str| -> Option<PathBuf> {
        let path = discovery.path.as_ref()?;
        std::env::split_paths(path).find_map(|dir| {
            let candidates = if cfg!(windows) {
                vec![dir.join(name), dir.join(format!("{name}.exe"))]
            } else {
                vec![dir.join(name)]
            };
            candidates.into_iter().find(|c| is_executable(c))
        })
    };
    if let Some(c) = &discovery.configured {
        let p = Path::new(c);
        let found = if p.components().count() > 1 || p.is_absolute() {
            is_executable(p).then(|| p.to_owned())
        } else {
            on_path(c)
        };
        return found.ok_or_else(|| BrowserError::NotFound {
            profile: profile.to_owned(),
            configured: Some(c.clone()),
        });
    }
    PATH_NAMES
        .iter()
        .find_map(|n| on_path(n))
        .or_else(|| {
            standard_places(discovery.home.as_deref(), &discovery.program_dirs)
                .into_iter()
                .find(|p| is_executable(p))
        })
        .ok_or_else(|| BrowserError::NotFound {
            profile: profile.to_owned(),
            configured: None,
        })
}

fn is_executable(p: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(p) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// The profile directory for the IdP at `idp_url`: one per origin, under `cache_dir/browser`.
pub fn profile_dir(cache_dir: &Path, idp_url: &Url) -> PathBuf {
    let origin = idp_url.origin().ascii_serialization();
    let name: String = origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    cache_dir.join("browser").join(name)
}

/// The DevTools port and browser path Chromium wrote into `DevToolsActivePort` in `dir`.
pub fn devtools_endpoint(dir: &Path) -> Option<(u16, String)> {
    let text = std::fs::read_to_string(dir.join("DevToolsActivePort")).ok()?;
    let mut lines = text.lines();
    let port = lines.next()?.trim().parse().ok()?;
    let path = lines.next()?.trim().to_owned();
    path.starts_with("/devtools/browser/")
        .then_some((port, path))
}

/// The browser process, killed with its whole process group when dropped.
struct Running {
    child: tokio::process::Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok())
            && let Some(pid) = rustix::process::Pid::from_raw(pid)
        {
            // The browser leads its own group: this ends its renderers and helpers too.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.child.start_kill();
    }
}

/// Opens `idp_url` in the browser and returns the SAMLResponse of the POST to AWS's sign-in
/// endpoint, which the browser never sends (keyfob answers it with a "signed in" page).
pub async fn capture(login: &BrowserLogin, idp_url: &str) -> Result<Secret, BrowserError> {
    let url = Url::parse(idp_url).map_err(|e| BrowserError::Start {
        program: login.program.clone(),
        reason: format!("the IdP URL does not parse ({e})"),
    })?;
    let dir = profile_dir(&login.cache_dir, &url);
    let lock_path =
        keyfob_core::lock::lock_path(&login.cache_dir, "browser", &dir.to_string_lossy());
    let wait = login.timeout + START_TIMEOUT;
    let _lock =
        tokio::task::spawn_blocking(move || keyfob_core::lock::FileLock::acquire(&lock_path, wait))
            .await
            .map_err(|e| BrowserError::Protocol(e.to_string()))??;
    prepare_dir(&dir)?;

    let mut running = launch(login, &dir)?;
    let (port, path) = wait_for_devtools(login, &dir, &mut running).await?;
    let proto = |e: chromiumoxide::error::CdpError| BrowserError::Protocol(e.to_string());
    let config = handler_config();
    let (mut browser, mut handler) = timeout(
        COMMAND_TIMEOUT,
        Browser::connect_with_config(format!("ws://127.0.0.1:{port}{path}"), config),
    )
    .await
    .map_err(|_| BrowserError::Protocol("no answer on the DevTools port".to_owned()))?
    .map_err(proto)?;
    let handler_task = tokio::spawn(async move {
        // Errors here are single protocol messages the crate could not read; the connection
        // ending ends the loop.
        while handler.next().await.is_some() {}
    });

    let result = drive(login, &browser, &url, &mut running).await;

    // A graceful close lets Chromium write its cookie store (the IdP session for next time).
    let _ = timeout(Duration::from_secs(5), browser.close()).await;
    let _ = timeout(Duration::from_secs(5), running.child.wait()).await;
    handler_task.abort();
    drop(running);
    result
}

/// The DevTools client's settings. Its defaults would tell the browser to ignore certificate
/// errors (a man in the middle would then see the user's IdP password) and shrink the window
/// to an 800×600 viewport: keyfob wants neither.
fn handler_config() -> HandlerConfig {
    HandlerConfig {
        ignore_https_errors: false,
        viewport: None,
        request_timeout: COMMAND_TIMEOUT,
        ..HandlerConfig::default()
    }
}

async fn drive(
    login: &BrowserLogin,
    browser: &Browser,
    url: &Url,
    running: &mut Running,
) -> Result<Secret, BrowserError> {
    let proto = |e: chromiumoxide::error::CdpError| BrowserError::Protocol(e.to_string());
    let bounded = |what: &'static str| move |_| BrowserError::Protocol(format!("{what} timed out"));
    let page: Page = timeout(COMMAND_TIMEOUT, browser.new_page("about:blank"))
        .await
        .map_err(bounded("opening a tab"))?
        .map_err(proto)?;
    let patterns: Vec<RequestPattern> = SIGNIN_PATTERNS
        .iter()
        .map(|p| {
            RequestPattern::builder()
                .url_pattern(*p)
                .request_stage(RequestStage::Request)
                .build()
        })
        .collect();
    let mut paused = page
        .event_listener::<EventRequestPaused>()
        .await
        .map_err(proto)?;
    let mut loads = page
        .event_listener::<EventLoadEventFired>()
        .await
        .map_err(proto)?;
    timeout(
        COMMAND_TIMEOUT,
        page.execute(EnableParams::builder().patterns(patterns).build()),
    )
    .await
    .map_err(bounded("intercepting the sign-in"))?
    .map_err(proto)?;
    // The navigation is answered when the page has loaded, which a busy IdP can make slow:
    // it runs inside the loop below, under the login's own bound.
    let navigation = page.execute(NavigateParams::new(url.as_str()));
    tokio::pin!(navigation);
    let mut navigated = false;
    tracing::debug!(mode = ?login.mode, "browser opening the IdP sign-in page");

    let deadline = Instant::now() + login.timeout;
    let far = deadline + Duration::from_secs(3600);
    let mut idle_until = far;
    let interrupted = interrupted();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            r = &mut navigation, if !navigated => {
                navigated = true;
                match r {
                    Err(e) => return Err(BrowserError::Unreachable(e.to_string())),
                    Ok(r) => {
                        if let Some(text) = r.result.error_text.clone() {
                            return Err(BrowserError::Unreachable(text));
                        }
                    }
                }
            }
            ev = paused.next() => {
                let Some(ev) = ev else { return Err(BrowserError::Closed) };
                if let Some(result) = answer(&page, &ev).await? {
                    return result;
                }
            }
            ev = loads.next() => {
                if ev.is_none() {
                    return Err(BrowserError::Closed);
                }
                if login.mode == Mode::Headless {
                    idle_until = Instant::now() + login.idle;
                }
            }
            () = sleep_until(idle_until) => return Err(BrowserError::NeedsPerson),
            () = sleep_until(deadline) => return Err(BrowserError::TimedOut(login.timeout)),
            _ = running.child.wait() => return Err(BrowserError::Closed),
            () = &mut interrupted => return Err(BrowserError::Interrupted),
        }
    }
}

/// Handles one paused request: the sign-in POST is answered locally and its SAMLResponse
/// returned; anything else the patterns caught continues unchanged.
async fn answer(
    page: &Page,
    ev: &EventRequestPaused,
) -> Result<Option<Result<Secret, BrowserError>>, BrowserError> {
    let proto = |e: chromiumoxide::error::CdpError| BrowserError::Protocol(e.to_string());
    let bounded = |_| BrowserError::Protocol("answering a request timed out".to_owned());
    let is_signin = ev.request.method.eq_ignore_ascii_case("POST")
        && Url::parse(&ev.request.url)
            .ok()
            .and_then(|u| keyfob_core::partition::signin_target(&u))
            .is_some();
    if !is_signin {
        timeout(
            COMMAND_TIMEOUT,
            page.execute(ContinueRequestParams::new(ev.request_id.clone())),
        )
        .await
        .map_err(bounded)?
        .map_err(proto)?;
        return Ok(None);
    }
    let body = post_body(page, ev).await;
    let fulfil = FulfillRequestParams::builder()
        .request_id(ev.request_id.clone())
        .response_code(200)
        .response_headers([
            HeaderEntry::new("Content-Type", "text/html; charset=utf-8"),
            HeaderEntry::new("Cache-Control", "no-store"),
        ])
        .body(STANDARD.encode(SIGNED_IN_PAGE))
        .build()
        .map_err(BrowserError::Protocol)?;
    timeout(COMMAND_TIMEOUT, page.execute(fulfil))
        .await
        .map_err(bounded)?
        .map_err(proto)?;
    tracing::debug!("the sign-in POST to AWS was answered locally");
    let response = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "SAMLResponse")
        .map(|(_, v)| v.split_ascii_whitespace().collect::<String>())
        .filter(|v| !v.is_empty());
    Ok(Some(
        response
            .map(Secret::new)
            .ok_or(BrowserError::NoSamlResponse),
    ))
}

/// The POST body of a paused request: its post data entries, or (when Chromium left them
/// out) the Network domain's copy.
async fn post_body(page: &Page, ev: &EventRequestPaused) -> Vec<u8> {
    let mut body = Vec::new();
    for entry in ev.request.post_data_entries.iter().flatten() {
        if let Some(bytes) = &entry.bytes
            && let Ok(b) = STANDARD.decode(AsRef::<str>::as_ref(bytes))
        {
            body.extend(b);
        }
    }
    if body.is_empty()
        && let Some(id) = &ev.network_id
        && let Ok(Ok(r)) = timeout(
            COMMAND_TIMEOUT,
            page.execute(GetRequestPostDataParams::new(id.clone())),
        )
        .await
    {
        body = r.result.post_data.into_bytes();
    }
    body
}

/// Resolves on Ctrl-C or (Unix) SIGTERM, so that the browser is killed before keyfob exits.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let Ok(mut term) = term else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn prepare_dir(dir: &Path) -> Result<(), BrowserError> {
    let err = |source| BrowserError::ProfileDir {
        dir: dir.to_owned(),
        source,
    };
    keyfob_core::lock::create_private_dir(dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    // A port file left by an earlier run would point at a dead browser.
    if let Err(e) = std::fs::remove_file(dir.join("DevToolsActivePort"))
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(err(e));
    }
    // The last session's tabs (the "signed in" page at the AWS sign-in URL) are never
    // restored: without this, "restore the last session" would load that URL from AWS.
    for stale in [
        "Default/Sessions",
        "Default/Current Session",
        "Default/Last Session",
    ] {
        let p = dir.join(stale);
        let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
    }
    write_prefs(dir).map_err(err)
}

/// The preferences keyfob's profile directories are started with:
/// - `session.restore_on_startup = 1`: Chromium drops cookies without an expiry (many IdPs'
///   session cookies) when it starts, unless the profile restores the last session. keyfob's
///   profiles are only ever used for sign-ins, so they keep them: the IdP session then outlives
///   the window, as in a browser that stays open. No tab is restored (`prepare_dir` removes
///   the session files; keyfob opens its own tab).
/// - `net.network_prediction_options = 2` (never): no preconnect to the form's target, so the
///   browser opens no connection to AWS's sign-in host, whose POST keyfob answers itself.
/// - `credentials_enable_service = false`: the browser does not offer to save the IdP password.
const PREFS: [(&str, &str, i64); 3] = [
    ("session", "restore_on_startup", 1),
    ("net", "network_prediction_options", 2),
    ("", "credentials_enable_service", 0),
];

fn write_prefs(dir: &Path) -> std::io::Result<()> {
    let default = dir.join("Default");
    keyfob_core::lock::create_private_dir(&default)?;
    let prefs_path = default.join("Preferences");
    let mut prefs: serde_json::Value = std::fs::read(&prefs_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    let mut changed = false;
    for (section, key, value) in PREFS {
        let want = if key == "credentials_enable_service" {
            serde_json::json!(value != 0)
        } else {
            serde_json::json!(value)
        };
        let obj = prefs.as_object_mut().expect("an object");
        let target = if section.is_empty() {
            obj
        } else {
            let entry = obj.entry(section).or_insert_with(|| serde_json::json!({}));
            if !entry.is_object() {
                *entry = serde_json::json!({});
            }
            entry.as_object_mut().expect("an object")
        };
        if target.get(key) != Some(&want) {
            target.insert(key.to_owned(), want);
            changed = true;
        }
    }
    if changed {
        std::fs::write(&prefs_path, serde_json::to_vec(&prefs)?)?;
    }
    Ok(())
}

fn launch(login: &BrowserLogin, dir: &Path) -> Result<Running, BrowserError> {
    let mut cmd = tokio::process::Command::new(&login.program);
    cmd.arg("--remote-debugging-address=127.0.0.1")
        .arg("--remote-debugging-port=0")
        .arg(format!("--user-data-dir={}", dir.display()))
        .args([
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-session-crashed-bubble",
            // No speculative DNS or preconnect: nothing to the AWS host keyfob answers itself.
            "--dns-prefetch-disable",
        ]);
    if login.mode == Mode::Headless && !login.extra_args.iter().any(|a| a.starts_with("--headless"))
    {
        cmd.arg("--headless=new");
    }
    cmd.args(&login.extra_args)
        .arg("about:blank")
        .stdin(Stdio::null())
        // The browser's own output can name pages and cookies: never shown, never logged.
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let child = cmd.spawn().map_err(|e| BrowserError::Start {
        program: login.program.clone(),
        reason: e.to_string(),
    })?;
    tracing::debug!(program = %login.program.display(), "browser started");
    Ok(Running { child })
}

async fn wait_for_devtools(
    login: &BrowserLogin,
    dir: &Path,
    running: &mut Running,
) -> Result<(u16, String), BrowserError> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(endpoint) = devtools_endpoint(dir) {
            return Ok(endpoint);
        }
        if let Ok(Some(status)) = running.child.try_wait() {
            return Err(BrowserError::Start {
                program: login.program.clone(),
                reason: format!(
                    "it exited at once ({status}); is another browser using {}?",
                    dir.display()
                ),
            });
        }
        if Instant::now() >= deadline {
            return Err(BrowserError::Start {
                program: login.program.clone(),
                reason: format!(
                    "it did not open its DevTools port within {} s",
                    START_TIMEOUT.as_secs()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_are_never_ignored() {
        let c = handler_config();
        assert!(!c.ignore_https_errors);
        assert!(c.viewport.is_none());
    }

    #[test]
    fn profile_dirs_are_per_origin() {
        let base = Path::new("/c");
        let a = profile_dir(
            base,
            &Url::parse("https://idp.example.com/sso?x=1").unwrap(),
        );
        let b = profile_dir(base, &Url::parse("https://idp.example.com/other").unwrap());
        let c = profile_dir(base, &Url::parse("http://127.0.0.1:8080/sso").unwrap());
        assert_eq!(a, b);
        assert_eq!(a, Path::new("/c/browser/https___idp.example.com"));
        assert_eq!(c, Path::new("/c/browser/http___127.0.0.1_8080"));
    }

    #[test]
    fn a_configured_browser_that_is_missing_is_named() {
        let d = Discovery {
            configured: Some("/nonexistent/chrome".into()),
            ..Discovery::default()
        };
        let e = find(&d, "p").unwrap_err().to_string();
        assert!(e.contains("/nonexistent/chrome does not exist"), "{e}");
        assert!(e.contains("KEYFOB_BROWSER"), "{e}");
        assert!(e.contains("keyfob configure saml p --url URL"), "{e}");
    }

    #[test]
    fn the_devtools_port_file_is_read() {
        let dir = tempfile_dir();
        std::fs::write(
            dir.join("DevToolsActivePort"),
            "41234\n/devtools/browser/abc-def\n",
        )
        .unwrap();
        assert_eq!(
            devtools_endpoint(&dir),
            Some((41234, "/devtools/browser/abc-def".to_owned()))
        );
        std::fs::write(dir.join("DevToolsActivePort"), "x\n").unwrap();
        assert_eq!(devtools_endpoint(&dir), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn prefs_keep_session_cookies_and_predict_nothing_and_other_prefs_survive() {
        let dir = tempfile_dir();
        std::fs::create_dir_all(dir.join("Default")).unwrap();
        std::fs::write(
            dir.join("Default/Preferences"),
            r#"{"session":{"restore_on_startup":5},"x":1}"#,
        )
        .unwrap();
        write_prefs(&dir).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("Default/Preferences")).unwrap())
                .unwrap();
        assert_eq!(v["session"]["restore_on_startup"], 1);
        assert_eq!(v["net"]["network_prediction_options"], 2);
        assert_eq!(v["credentials_enable_service"], false);
        assert_eq!(v["x"], 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "keyfob-browser-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
