//! Issue 12: which keychain keyfob picks when `KEYFOB_KEYRING` is unset (a Secret Service that
//! answers, no bus, a dead bus, a bus without a Secret Service, a hung, locked or never
//! unlocked Secret Service), and how it names itself in
//! `credential_process` lines (`KEYFOB_COMMAND`, quoting checked against botocore's splitters).

use crate::support::*;
use keyfob_core::credential_process_line::{self as line, Style};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

// ---------------------------------------------------------------------------------------------
// The default choice

/// A private D-Bus session bus with its own gnome-keyring (`scripts/peers/secret-service-bus`),
/// so that a test can lock its Secret Service without touching the one other tests share.
/// Stopped when dropped.
struct PrivateBus {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    address: String,
}

impl PrivateBus {
    /// `mode`: `unlocked`, `not-unlocked` or `no-secret-service` (see the script).
    fn start(mode: &str) -> Self {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/peers/secret-service-bus");
        let mut child = Command::new(&script)
            .arg(mode)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", script.display()));
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut address = String::new();
        stdout
            .read_line(&mut address)
            .expect("read the bus address");
        let address = address.trim().to_owned();
        assert!(
            address.starts_with("unix:"),
            "secret-service-bus {mode} did not start (its stderr is above): {address:?}"
        );
        Self {
            child,
            stdin,
            stdout,
            address,
        }
    }

    /// Sends the script a command and checks its one-line answer.
    fn ask(&mut self, command: &str, answer: &str) {
        writeln!(self.stdin.as_mut().unwrap(), "{command}").expect("write a command");
        let mut got = String::new();
        self.stdout.read_line(&mut got).expect("read the answer");
        assert_eq!(got.trim(), answer, "{command}");
    }

    /// Locks the login collection, as a screen lock does.
    fn lock(&mut self) {
        self.ask("lock", "locked");
    }

    /// Stops gnome-keyring (SIGSTOP): it keeps its name on the bus and answers nothing.
    fn hang(&mut self) {
        self.ask("stop", "stopped");
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        // Closing stdin ends the script, which stops gnome-keyring and the bus.
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `secret-tool lookup`: what libsecret (not keyfob) finds on `bus` for this sandbox's `key`.
fn secret_tool_lookup(sb: &Sandbox, bus: &str, key: &str) -> Option<String> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", &sb.service, "username", key])
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .output()
        .expect("run secret-tool (apt-get install libsecret-tools)");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Both backends must be there: the test proves where the entries went and where they did not.
fn both_backends() -> bool {
    Backend::Keyutils.get().is_some() && Backend::SecretService.get().is_some()
}

#[test]
fn default_choice_with_a_secret_service_on_the_bus_stores_there() {
    if !both_backends() {
        return;
    }
    let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS").expect("the test bus");
    let sb = Sandbox::default_choice(Backend::SecretService);
    assert!(!sb.env().iter().any(|(k, _)| k == "KEYFOB_KEYRING"));
    let out = sb.run_with_stdin(
        &["add", "base", "--from-stdin", "--yes"],
        &format!("{AKID}\n{SECRET}\n"),
    );
    assert_success(&out);
    assert!(
        stderr(&out).contains("in the Secret Service"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sb.stored_keys_in(Backend::SecretService), ["iam-user/base"]);
    assert!(sb.stored_keys_in(Backend::Keyutils).is_empty());
    // libsecret reads it too: a real Secret Service item, not something only keyfob can see.
    let stored = secret_tool_lookup(&sb, &bus, "iam-user/base").expect("secret-tool finds it");
    assert!(stored.contains(AKID), "{stored}");
    let out = sb.run(&["credential-process", "--profile", "base"]);
    assert_success(&out);
    assert!(stdout(&out).contains(SECRET));
}

#[test]
fn default_choice_without_a_session_bus_uses_the_kernel_keyring() {
    if !both_backends() {
        return;
    }
    let mut sb = Sandbox::default_choice(Backend::Keyutils);
    sb.unset_env("DBUS_SESSION_BUS_ADDRESS");
    let out = sb.run_with_stdin(
        &["add", "base", "--from-stdin", "--yes"],
        &format!("{AKID}\n{SECRET}\n"),
    );
    assert_success(&out);
    assert!(
        stderr(&out).contains("in the kernel keyring (keyutils)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sb.stored_keys_in(Backend::Keyutils), ["iam-user/base"]);
    assert!(sb.stored_keys_in(Backend::SecretService).is_empty());
    let out = sb.run(&["credential-process", "--profile", "base"]);
    assert_success(&out);
    assert!(stdout(&out).contains(SECRET));
}

#[test]
fn default_choice_with_a_dead_bus_falls_back_to_the_kernel_keyring() {
    if !both_backends() {
        return;
    }
    let mut sb = Sandbox::default_choice(Backend::Keyutils);
    // A stale bus socket: the file is there, nobody listens (a session that crashed).
    let socket = sb.home().join("dead-bus");
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind a socket"));
    sb.set_env(
        "DBUS_SESSION_BUS_ADDRESS",
        &format!("unix:path={}", socket.display()),
    );
    let out = sb.run_with_stdin(
        &["add", "base", "--from-stdin", "--yes"],
        &format!("{AKID}\n{SECRET}\n"),
    );
    assert_success(&out);
    assert!(
        stderr(&out).contains("in the kernel keyring (keyutils)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sb.stored_keys_in(Backend::Keyutils), ["iam-user/base"]);
    let out = sb.run(&["credential-process", "--profile", "base"]);
    assert_success(&out);
    assert!(stdout(&out).contains(SECRET));
    // The shared, working bus got nothing either.
    sb.unset_env("DBUS_SESSION_BUS_ADDRESS");
    assert!(sb.stored_keys_in(Backend::SecretService).is_empty());
}

#[test]
fn default_choice_with_a_bus_but_no_secret_service_uses_the_kernel_keyring() {
    if !both_backends() {
        return;
    }
    // A server's session bus: it answers, but nothing on it (or activatable) is a Secret Service.
    let bus = PrivateBus::start("no-secret-service");
    let mut sb = Sandbox::default_choice(Backend::Keyutils);
    sb.set_env("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    let out = sb.run_with_stdin(
        &["add", "base", "--from-stdin", "--yes"],
        &format!("{AKID}\n{SECRET}\n"),
    );
    assert_success(&out);
    assert!(
        stderr(&out).contains("in the kernel keyring (keyutils)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sb.stored_keys_in(Backend::Keyutils), ["iam-user/base"]);
    let out = sb.run(&["credential-process", "--profile", "base"]);
    assert_success(&out);
    assert!(stdout(&out).contains(SECRET));
}

#[test]
fn default_choice_with_a_secret_service_that_does_not_answer_is_one_line_and_never_falls_back() {
    if !both_backends() {
        return;
    }
    // A hung gnome-keyring: it owns org.freedesktop.secrets, so a Secret Service is there and
    // holds the user's secrets; keyfob must not take its silence for "no Secret Service".
    let mut bus = PrivateBus::start("unlocked");
    let mut sb = Sandbox::default_choice(Backend::SecretService);
    sb.set_env("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    bus.hang();
    let start = std::time::Instant::now();
    let out = sb.run_with_stdin(
        &["add", "base", "--from-stdin", "--yes"],
        &format!("{AKID}\n{SECRET}\n"),
    );
    // Each call waits 2 s for its reply, and is tried 5 times: bounded, well inside the minute
    // some SDKs give a credential process.
    assert!(start.elapsed() < std::time::Duration::from_secs(60));
    let line = assert_one_line_error(&out);
    assert!(line.contains("the Secret Service did not answer"), "{line}");
    assert!(line.contains("KEYFOB_KEYRING=keyutils"), "{line}");
    assert_eq!(sb.read_config(), "");
    assert!(sb.stored_keys_in(Backend::Keyutils).is_empty());
    // The bus goes first, so that the sandbox's clean-up meets no bus rather than a silent one.
    drop(bus);
}

/// What a locked Secret Service must answer: one line naming how to unlock it or how to pick
/// the kernel keyring instead.
#[track_caller]
fn assert_locked_line(out: &std::process::Output, why: &str) {
    let line = assert_one_line_error(out);
    assert!(
        line.starts_with(&format!(
            "keyfob: error: the Secret Service is locked: {why}; "
        )),
        "{line}"
    );
    assert!(line.contains("gnome-keyring-daemon --unlock"), "{line}");
    assert!(line.contains("KEYFOB_KEYRING=keyutils"), "{line}");
}

#[test]
fn default_choice_with_a_locked_secret_service_is_one_line_and_never_falls_back() {
    if !both_backends() {
        return;
    }
    let mut bus = PrivateBus::start("unlocked");
    let mut sb = Sandbox::default_choice(Backend::SecretService);
    sb.set_env("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    sb.add_user("base", AKID, SECRET);
    assert!(secret_tool_lookup(&sb, &bus.address, "iam-user/base").is_some());
    bus.lock();

    // Reading a stored secret, writing a new one, listing: each is the same one line.
    let prompt = "its unlock prompt was dismissed or could not be shown";
    assert_locked_line(
        &sb.run(&["credential-process", "--profile", "base"]),
        prompt,
    );
    let before = sb.read_config();
    assert_locked_line(
        &sb.run_with_stdin(
            &["add", "other", "--from-stdin", "--yes"],
            &format!("AKIAOTHEROTHEROTHER1\n{SECRET}\n"),
        ),
        prompt,
    );
    assert_eq!(sb.read_config(), before, "a refused add writes no config");
    assert_locked_line(&sb.run(&["status"]), prompt);
    // Nothing went to the kernel keyring behind the user's back.
    assert!(sb.stored_keys_in(Backend::Keyutils).is_empty());
    // Naming the kernel keyring explicitly is the way out the line offers.
    sb.set_env("KEYFOB_KEYRING", "keyutils");
    sb.add_user("other", "AKIAOTHEROTHEROTHER1", SECRET);
    assert_eq!(sb.stored_keys_in(Backend::Keyutils), ["iam-user/other"]);
}

#[test]
fn default_choice_with_a_secret_service_never_unlocked_is_one_line_and_never_falls_back() {
    if !both_backends() {
        return;
    }
    // gnome-keyring started without --unlock: it answers on the bus, but its login keyring
    // does not exist until a password is typed into a prompt nobody can show.
    let bus = PrivateBus::start("not-unlocked");
    let mut sb = Sandbox::default_choice(Backend::SecretService);
    sb.set_env("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    assert_locked_line(
        &sb.run_with_stdin(
            &["add", "base", "--from-stdin", "--yes"],
            &format!("{AKID}\n{SECRET}\n"),
        ),
        "it has no unlocked default keyring",
    );
    assert_eq!(sb.read_config(), "");
    assert!(sb.stored_keys_in(Backend::Keyutils).is_empty());
}

// ---------------------------------------------------------------------------------------------
// How credential_process lines name keyfob

/// Paths a program can live at that need care on one platform or the other.
const AWKWARD_PATHS: &[&str] = &[
    "/usr/local/bin/keyfob",
    "/opt/my tools/keyfob",
    "/home/o'brien/bin/keyfob",
    r#"/tmp/say "hi"/keyfob"#,
    r"/tmp/back\slash/keyfob",
    "/home/jörg/bin/kéyfob",
    "/tmp/a&b|c;d/$HOME/`x`/keyfob",
    "/tmp/trailing backslash\\",
    r"C:\Program Files\keyfob\keyfob.exe",
    r"C:\Program Files (x86)\Tools & More\keyfob.exe",
    r"\\server\share\keyfob.exe",
    r"C:\Users\Jörg\AppData\Local\keyfob\keyfob.exe",
    r"C:\100%\keyfob.exe",
    r"Z:\tmp\quote's\keyfob.exe",
];

#[test]
fn credential_process_lines_split_back_with_botocores_own_splitters_on_both_platforms() {
    let profiles = ["dev", "acme prod.Admin", "it's"];
    let mut cases = Vec::new();
    for path in AWKWARD_PATHS {
        for profile in profiles {
            for (style, name) in [(Style::Posix, "posix"), (Style::Windows, "windows")] {
                let written = line::write(path, profile, style);
                // keyfob's own reader agrees with what it wrote.
                assert_eq!(
                    line::split(&written, style).unwrap(),
                    [*path, "credential-process", "--profile", profile],
                    "{written}"
                );
                cases.push(serde_json::json!({"style": name, "line": written}));
            }
        }
    }
    // botocore.compat: shlex.split on Unix, _windows_shell_split on Windows (what its
    // ProcessProvider calls through compat_shell_split).
    let code = "import json, sys, shlex\nfrom botocore.compat import _windows_shell_split\n\
                cases = json.load(sys.stdin)\n\
                print(json.dumps([shlex.split(c['line']) if c['style'] == 'posix' else _windows_shell_split(c['line']) for c in cases]))";
    let Some(py) = peer("KEYFOB_TEST_PYTHON") else {
        return;
    };
    let mut child = Command::new(py)
        .args(["-c", code])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_success(&out);
    let split: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
    let mut i = 0;
    for path in AWKWARD_PATHS {
        for profile in profiles {
            for style in ["posix", "windows"] {
                assert_eq!(
                    split[i],
                    [*path, "credential-process", "--profile", profile],
                    "botocore's {style} split of {}",
                    cases[i]["line"]
                );
                i += 1;
            }
        }
    }

    // And `sh -c`, which aws-config, the Go and the JS SDKs run the line with on Unix.
    for path in AWKWARD_PATHS {
        let written = line::write(path, "acme prod.Admin", Style::Posix);
        let out = Command::new("sh")
            .args(["-c", &format!("printf '%s\\n' {written}")])
            .output()
            .unwrap();
        assert_success(&out);
        assert_eq!(
            stdout(&out),
            format!("{path}\ncredential-process\n--profile\nacme prod.Admin\n"),
            "sh -c of {written}"
        );
    }
}

/// A wrapper at a path with a space that logs each run, then runs keyfob.
fn wrapper(sb: &Sandbox) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = sb.home().join("my tools");
    std::fs::create_dir_all(&dir).unwrap();
    let calls = sb.home().join("wrapper-calls.log");
    let path = dir.join("keyfob wrapper");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            calls.display(),
            bin("keyfob").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (path, calls)
}

fn calls(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |t| t.lines().count())
}

#[test]
fn keyfob_command_with_a_space_is_written_quoted_and_run_by_botocore_and_recognised_by_keyfob() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let mut sb = Sandbox::new(backend);
    let (wrapper, log) = wrapper(&sb);
    let program = wrapper.to_str().unwrap().to_owned();
    sb.set_env("KEYFOB_COMMAND", &program);
    let quoted = format!("'{program}'");

    // add writes the line…
    sb.add_user("base", AKID, SECRET);
    let config = sb.read_config();
    assert!(
        config.contains(&format!(
            "credential_process = {quoted} credential-process --profile base\n"
        )),
        "{config}"
    );
    // …and so does configure saml.
    assert_success(&sb.run(&[
        "configure",
        "saml",
        "corp",
        "--url",
        "https://idp.example.com/sso",
        "--username",
        "alice",
    ]));
    assert!(
        sb.read_config().contains(&format!(
            "credential_process = {quoted} credential-process --profile corp\n"
        )),
        "{}",
        sb.read_config()
    );

    // botocore splits the line and runs the wrapper, which runs keyfob.
    let code = "import boto3\nc = boto3.Session(profile_name='base').get_credentials()\nprint(c.method, c.access_key)";
    if let Some(out) = python(&sb, code, &[]) {
        assert_success(&out);
        assert_eq!(stdout(&out), format!("custom-process {AKID}\n"));
        assert_eq!(calls(&log), 1, "botocore ran the wrapper once");
    }
    let ran = calls(&log);

    // keyfob recognises its own line and serves the profile in process: no wrapper run.
    let out = sb.run(&["export", "--profile", "base", "--format", "json"]);
    assert_success(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["AccessKeyId"], AKID);
    let out = sb.run(&["status", "--json"]);
    assert_success(&out);
    assert!(stdout(&out).contains("\"base\""), "{}", stdout(&out));
    assert_eq!(
        calls(&log),
        ran,
        "keyfob served base without running the wrapper"
    );

    // Without KEYFOB_COMMAND the wrapper is just another program, run the way an SDK runs it.
    sb.unset_env("KEYFOB_COMMAND");
    let out = sb.run(&["export", "--profile", "base", "--format", "json"]);
    assert_success(&out);
    assert!(stdout(&out).contains(AKID));
    assert_eq!(
        calls(&log),
        ran + 1,
        "without KEYFOB_COMMAND the wrapper ran"
    );
}

#[test]
fn keyfob_command_is_one_program_or_a_one_line_refusal_that_changes_nothing() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let mut sb = Sandbox::new(backend);
    sb.write_config("[profile keep]\nregion = eu-west-1\n");
    let (wrapper, _) = wrapper(&sb);
    for bad in [
        // A command with arguments is not a program: its words would be quoted as one.
        format!("{} --verbose", wrapper.display()),
        // Relative to whichever directory the SDK runs in.
        "bin/keyfob".to_owned(),
        "/nonexistent/keyfob".to_owned(),
        "no-such-program-on-path".to_owned(),
    ] {
        sb.set_env("KEYFOB_COMMAND", &bad);
        let out = sb.run_with_stdin(
            &["add", "base", "--from-stdin", "--yes"],
            &format!("{AKID}\n{SECRET}\n"),
        );
        let line = assert_one_line_error(&out);
        assert!(line.contains("KEYFOB_COMMAND="), "{line}");
        assert!(line.contains("nothing was written"), "{line}");
        assert!(sb.stored_keys().is_empty(), "{bad}: nothing stored");
        let out = sb.run(&[
            "configure",
            "saml",
            "corp",
            "--url",
            "https://idp.example.com/sso",
            "--username",
            "alice",
        ]);
        assert_one_line_error(&out);
        assert_eq!(sb.read_config(), "[profile keep]\nregion = eu-west-1\n");
    }
    // A program on PATH is written by its name.
    sb.set_env("KEYFOB_COMMAND", "keyfob");
    sb.add_user("base", AKID, SECRET);
    assert!(
        sb.read_config()
            .contains("credential_process = keyfob credential-process --profile base\n"),
        "{}",
        sb.read_config()
    );
}

#[test]
fn populate_writes_keyfob_command_quoted_and_both_sdks_run_it() {
    use crate::sso_support::*;
    use keyfob_tests::fake::{FakeAws, FakeConfig};
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::default()).expect("start the fake IAM Identity Center");
    let mut sb = sso_sandbox(backend, &fake);
    let (wrapper, log) = wrapper(&sb);
    sb.set_env("KEYFOB_COMMAND", wrapper.to_str().unwrap());
    login(&sb, &[]);
    assert_success(&populate(&sb, &[]));
    let config = sb.read_config();
    assert!(
        config.contains(&format!(
            "credential_process = '{}' credential-process --profile acct-0001.Admin\n",
            wrapper.display()
        )),
        "{config}"
    );
    // aws-config runs the line with `sh -c`, botocore splits it with shlex: both reach keyfob
    // through the wrapper.
    assert_eq!(
        aws_config_arn(&sb, "acct-0001.Admin"),
        assumed_role_arn("111100000001", "Admin")
    );
    assert_eq!(calls(&log), 1, "aws-config ran the wrapper");
    if let Some(arn) = botocore_arn(&sb, "acct-0002.ReadOnly") {
        assert_eq!(arn, assumed_role_arn("111100000002", "ReadOnly"));
        assert_eq!(calls(&log), 2, "botocore ran the wrapper");
    }
}
