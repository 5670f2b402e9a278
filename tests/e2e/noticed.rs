//! Issue 11.4: small things a person notices in a terminal. `status` after a populate of 200
//! accounts counts the profiles that hold nothing (one line per sso-session) instead of listing
//! 600 "none" rows; a browser that cannot be opened is one plain line, never the launcher's raw
//! error; and the device login prints where to sign in before its spinner starts (seen on a
//! pseudo-terminal, where the spinner is drawn).

use crate::sso_support::*;
use crate::support::*;
use keyfob_tests::fake::{FakeAws, FakeConfig, Org};
use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What keyfob says when no browser could be opened (crates/cli/src/sources/browser.rs).
const NO_BROWSER: &str =
    "keyfob: warning: no browser could be opened here, so open the URL above yourself";

/// A bound for a wait on keyfob, not a timing assertion: a hang fails instead of blocking.
const HANG: Duration = Duration::from_secs(60);

fn start(config: FakeConfig) -> FakeAws {
    FakeAws::start(config).expect("start the fake IAM Identity Center")
}

/// An executable shell script `name` in `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

// ---------------------------------------------------------------------------------------------
// status after a big populate

on_each_backend!(status_after_populating_200_accounts_counts_empty_profiles_per_sso_session);
fn status_after_populating_200_accounts_counts_empty_profiles_per_sso_session(backend: Backend) {
    let fake = start(FakeConfig::with_org(Org::generated(200, 3)));
    let sb = sso_sandbox(backend, &fake);
    login(&sb, &[]);
    let out = populate(&sb, &[]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("200 accounts, 600 profiles"),
        "{}",
        stderr(&out)
    );
    // A second sso-session, never signed in to, with one profile of its own.
    let mut config = sb.read_config();
    config.push_str(
        "\n[sso-session other]\nsso_start_url = https://other.awsapps.com/start\nsso_region = eu-west-1\n\
         \n[profile other-dev]\nkeyfob_sso_session = other\nkeyfob_sso_account_id = 222200000001\n\
         keyfob_sso_role_name = Dev\nregion = eu-west-1\n",
    );
    sb.write_config(&config);
    // Two profiles get used: they hold credentials now.
    for profile in ["acct-0001.Admin", "acct-0150.ReadOnly"] {
        assert_success(&sb.run(&["credential-process", "--profile", profile]));
    }

    let out = sb.run(&["status"]);
    assert_success(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    // The header, the session's token and client, two cached credentials, the two profiles
    // that hold them, and one line per sso-session for the rest.
    assert_eq!(lines.len(), 9, "{text}");
    assert!(lines[0].starts_with("KIND"), "{text}");
    for profile in ["acct-0001.Admin", "acct-0150.ReadOnly"] {
        assert!(
            lines.iter().any(|l| l.starts_with("profile/sso")
                && l.split_whitespace().nth(1) == Some(profile)
                && l.split_whitespace().nth(2) == Some("valid")),
            "{profile}: {text}"
        );
    }
    assert!(
        !lines
            .iter()
            .any(|l| l.split_whitespace().nth(2) == Some("none")),
        "{text}"
    );
    assert_eq!(
        &lines[7..],
        [
            "598 of 600 profiles of sso-session demo hold no credentials yet (keyfob status --all lists them)",
            "1 of 1 profile of sso-session other holds no credentials yet (keyfob status --all lists them)",
        ],
        "{text}"
    );

    // --all keeps the full list: every served profile, one row each, and no summary.
    let out = sb.run(&["status", "--all"]);
    assert_success(&out);
    let all = stdout(&out);
    let rows = |state: &str| {
        all.lines()
            .filter(|l| l.starts_with("profile/sso") && l.split_whitespace().nth(2) == Some(state))
            .count()
    };
    assert_eq!((rows("none"), rows("valid")), (599, 2), "{all}");
    assert!(
        all.lines()
            .any(|l| l.starts_with("profile/sso")
                && l.split_whitespace().nth(1) == Some("other-dev")),
        "{all}"
    );
    assert!(!all.contains("hold no credentials yet"), "{all}");
    assert_eq!(all.lines().count(), 1 + 4 + 601, "{all}");

    // --json is for programs: every row, as before.
    let out = sb.run(&["status", "--json"]);
    assert_success(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let none = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "profile/sso" && r["state"] == "none")
        .count();
    assert_eq!(none, 599, "{rows}");
}

// ---------------------------------------------------------------------------------------------
// no browser

/// keyfob running with its stderr read line by line as it comes, so a test can act (approve a
/// sign-in, open a URL) once keyfob has said something.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn spawn(mut cmd: Command) -> Self {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn keyfob");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for the first stderr line that `wanted` accepts (and returns it).
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + HANG;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(e) => {
                    let _ = self.child.kill();
                    panic!(
                        "no {what} on stderr ({e:?}); it said:\n{}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    /// Waits for keyfob to exit; returns whether it succeeded, and all it wrote to stderr.
    fn finish(mut self) -> (bool, String) {
        let deadline = Instant::now() + HANG;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait keyfob") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("keyfob did not exit; it said:\n{}", self.seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader ends at EOF, once keyfob (and the launcher it left behind) closed stderr.
        while let Ok(line) = self.lines.recv_timeout(HANG) {
            self.seen.push(line);
        }
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        assert!(out.is_empty(), "nothing on stdout from login: {out}");
        (status.success(), self.seen.join("\n"))
    }
}

/// The plain line, once, and nothing of the launcher's own error.
#[track_caller]
fn assert_plain_no_browser_line(err: &str) {
    assert_eq!(err.matches(NO_BROWSER).count(), 1, "{err}");
    for raw in [
        "ExitStatus",
        "Launcher",
        "exited with",
        "xdg-open",
        "exit status",
    ] {
        assert!(!err.contains(raw), "{raw:?} in:\n{err}");
    }
}

#[test]
fn login_with_a_failing_browser_says_so_in_one_plain_line() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let mut sb = sso_sandbox(backend, &fake);
    // A $BROWSER that fails as xdg-open does without a desktop (exit 3).
    let browser = script(
        sb.home(),
        "no-browser",
        "echo 'xdg-open: no method available' >&2; exit 3",
    );
    sb.set_env("BROWSER", browser.to_str().unwrap());

    let mut run =
        Running::spawn(sb.keyfob(&["login", "--sso-session", SESSION, "--use-device-code"]));
    run.wait_for("device instructions", |l| l.contains("enter the code"));
    run.wait_for("the no-browser line", |l| {
        l.contains("no browser could be opened")
    });
    // The person opens the URL above themselves and approves.
    assert_eq!(fake.approve_all(), 1);
    let (ok, err) = run.finish();
    assert!(ok, "{err}");
    assert!(err.contains("Signed in to SSO session demo"), "{err}");
    assert_plain_no_browser_line(&err);
    // The line comes after the URL it points at.
    let url_at = err
        .find("If it does not open, visit:")
        .expect("the URL line");
    assert!(err.find(NO_BROWSER).unwrap() > url_at, "{err}");
}

#[test]
fn login_without_a_desktop_opener_says_so_and_the_url_above_still_works() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let mut sb = sso_sandbox(backend, &fake);
    // No $BROWSER, a display (so keyfob takes the PKCE flow and asks the desktop), and an
    // xdg-open that fails the way the issue shows (exit status 3, "ExitStatus(unix_wait_status(768))"
    // in the launcher's error); no other desktop opener on PATH.
    sb.unset_env("BROWSER");
    sb.set_env("DISPLAY", ":99");
    let bin = sb.home().join("bin");
    std::fs::create_dir(&bin).unwrap();
    script(&bin, "xdg-open", "exit 3");
    sb.set_env("PATH", bin.to_str().unwrap());

    let mut run = Running::spawn(sb.keyfob(&["login", "--sso-session", SESSION]));
    run.wait_for("the URL line", |l| {
        l.contains("If it does not open, visit:")
    });
    let url = run.wait_for("the URL", |l| l.starts_with("  http"));
    run.wait_for("the no-browser line", |l| {
        l.contains("no browser could be opened")
    });
    // The person opens the URL above in a browser of their own: it redirects back to keyfob.
    let opened = Command::new(fixture("browser.sh"))
        .arg(url.trim())
        .status()
        .expect("run browser.sh");
    assert!(opened.success());
    let (ok, err) = run.finish();
    assert!(ok, "{err}");
    assert!(err.contains("Signed in to SSO session demo"), "{err}");
    assert_plain_no_browser_line(&err);
}

// ---------------------------------------------------------------------------------------------
// device login on a terminal

/// A pseudo-terminal: keyfob's stderr is its slave side, so keyfob draws its spinner; the test
/// reads everything written to it, in order, from the master side.
struct Pty {
    master: std::fs::File,
    slave: std::fs::File,
}

impl Pty {
    fn open() -> Self {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("open a pty");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().expect("pts path"))
            .expect("open the pty's slave side");
        Self {
            master: std::fs::File::from(master),
            slave,
        }
    }
}

#[test]
fn device_login_on_a_terminal_prints_where_to_sign_in_before_the_spinner() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = start(FakeConfig::default());
    let mut sb = sso_sandbox(backend, &fake);
    // A browser that opens and leaves the approving to the person (the test, below).
    let browser = script(sb.home(), "quiet-browser", "exit 0");
    sb.set_env("BROWSER", browser.to_str().unwrap());
    sb.set_env("TERM", "xterm");

    let Pty { master, slave } = Pty::open();
    let mut cmd = sb.keyfob(&["login", "--sso-session", SESSION, "--use-device-code"]);
    cmd.stdout(Stdio::null())
        .stderr(slave.try_clone().expect("dup pty"));
    let mut child = cmd.spawn().expect("spawn keyfob on the pty");
    // Only keyfob holds the slave side now: the master reads EOF (EIO) once keyfob is gone.
    drop(cmd);
    drop(slave);
    let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let reader = {
        let screen = screen.clone();
        let mut master = master;
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                screen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let text = || String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();

    // Approve only once the spinner is on screen, so it has certainly been drawn.
    let deadline = Instant::now() + HANG;
    while !text().contains("Waiting for the sign-in") {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("no spinner on the terminal; it shows:\n{}", text());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(fake.approve_all(), 1);
    let deadline = Instant::now() + HANG;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("keyfob did not exit; the terminal shows:\n{}", text());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    reader.join().unwrap();
    let screen = text();
    assert!(status.success(), "{screen}");

    let at = |what: &str| {
        screen
            .find(what)
            .unwrap_or_else(|| panic!("{what:?} not on the terminal:\n{screen}"))
    };
    let instructions = at("and enter the code");
    let url = at("If it does not open, visit:");
    let spinner = at("Waiting for the sign-in");
    assert!(
        instructions < spinner && url < spinner,
        "the spinner was drawn before the instructions:\n{screen:?}"
    );
    // The spinner is cleared once the sign-in is done, before the closing line.
    assert!(at("Signed in to SSO session demo") > spinner, "{screen:?}");
}
