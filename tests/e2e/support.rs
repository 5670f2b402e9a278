//! The sandbox each test runs in: its own HOME, config files, cache directory and keychain
//! service name, so tests run in parallel and never touch the user's real `~/.aws`.

use keyfob_core::store::{Keychain, SessionStore, StoreError};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A keychain backend a test can run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    SecretService,
    Keyutils,
}

impl Backend {
    pub(crate) fn env_value(self) -> &'static str {
        match self {
            Backend::SecretService => "secret-service",
            Backend::Keyutils => "keyutils",
        }
    }

    /// The backends this run can reach. `./scripts/test` sets `KEYFOB_TEST_REQUIRE_PEERS=1`,
    /// which turns a missing backend into a failure instead of a skip.
    pub(crate) fn available() -> Vec<Backend> {
        let mut v = Vec::new();
        for (var, b) in [
            ("KEYFOB_TEST_KEYUTILS", Backend::Keyutils),
            ("KEYFOB_TEST_SECRET_SERVICE", Backend::SecretService),
        ] {
            if std::env::var(var).as_deref() == Ok("1") {
                v.push(b);
            } else {
                require(var);
            }
        }
        v
    }

    /// One backend for tests whose subject is not the keychain (keyutils is the fast one).
    /// Tests whose subject is storing or reading sessions run on each backend instead: see
    /// [`on_each_backend!`].
    pub(crate) fn any() -> Option<Backend> {
        let all = Self::available();
        all.iter()
            .copied()
            .find(|b| *b == Backend::Keyutils)
            .or(all.first().copied())
    }

    /// This backend, if this run can reach it (else the caller skips, or with
    /// `KEYFOB_TEST_REQUIRE_PEERS=1` fails).
    pub(crate) fn get(self) -> Option<Backend> {
        let var = match self {
            Backend::Keyutils => "KEYFOB_TEST_KEYUTILS",
            Backend::SecretService => "KEYFOB_TEST_SECRET_SERVICE",
        };
        if std::env::var(var).as_deref() == Ok("1") {
            Some(self)
        } else {
            require(var);
            None
        }
    }
}

/// Turns `fn NAME(backend: Backend)` into one test per keychain backend, named
/// `NAME::keyutils` and `NAME::secret_service` so that the runner's output says which backend
/// ran. For the tests whose subject is storing or reading sessions; the others take
/// [`Backend::any`], since Secret Service calls cost 110–200 ms each in debug builds.
macro_rules! on_each_backend {
    ($name:ident) => {
        mod $name {
            #[test]
            fn keyutils() {
                if let Some(backend) = $crate::support::Backend::Keyutils.get() {
                    super::$name(backend);
                }
            }

            #[test]
            fn secret_service() {
                if let Some(backend) = $crate::support::Backend::SecretService.get() {
                    super::$name(backend);
                }
            }
        }
    };
}
pub(crate) use on_each_backend;

/// Fails when peers are required (CI, `./scripts/test`) and `var` is not set; else the caller
/// skips.
pub(crate) fn require(var: &str) {
    assert!(
        std::env::var("KEYFOB_TEST_REQUIRE_PEERS").as_deref() != Ok("1"),
        "{var} is not set but KEYFOB_TEST_REQUIRE_PEERS=1: run the tests with ./scripts/test"
    );
}

/// An optional peer's address from the environment (moto, the SAML IdP, python).
pub(crate) fn peer(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            require(var);
            None
        }
    }
}

/// The built binaries of this workspace (next to this test's own executable).
pub(crate) fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} not built: run cargo build --workspace first",
        p.display()
    );
    p
}

/// `keyfob` copied alone into a new directory of `sb`'s home, without `keyfob-engine` next to
/// it (`keyfob_core::programs`): it answers cache hits, and nothing else.
pub(crate) fn keyfob_alone(sb: &Sandbox) -> PathBuf {
    let dir = sb.home().join("alone");
    std::fs::create_dir_all(&dir).unwrap();
    let front = dir.join(format!("keyfob{}", std::env::consts::EXE_SUFFIX));
    std::fs::copy(bin("keyfob"), &front).unwrap();
    front
}

pub(crate) struct Sandbox {
    pub(crate) dir: tempfile::TempDir,
    /// The backend keyfob uses here: the one `KEYFOB_KEYRING` names, or with
    /// [`Sandbox::default_choice`] the one keyfob is expected to pick by itself.
    pub(crate) backend: Backend,
    pub(crate) service: String,
    /// `KEYFOB_KEYRING` is left unset: keyfob chooses (crates/core/src/store.rs `open_backend`).
    default_choice: bool,
    extra_env: Vec<(String, String)>,
    unset_env: Vec<String>,
}

impl Sandbox {
    pub(crate) fn new(backend: Backend) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("keyfob-e2e-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".aws")).expect("mkdir .aws");
        let service = format!("keyfob-test-{}", rand::random::<u64>());
        Self {
            dir,
            backend,
            service,
            default_choice: false,
            extra_env: Vec::new(),
            unset_env: Vec::new(),
        }
    }

    /// A sandbox without `KEYFOB_KEYRING`, where keyfob picks the keychain itself; `expected`
    /// is the backend the test expects it to pick (what [`Sandbox::stored_keys`] reads and
    /// what is cleaned up; [`Sandbox::stored_keys_in`] reads any other).
    pub(crate) fn default_choice(expected: Backend) -> Self {
        let mut sb = Self::new(expected);
        sb.default_choice = true;
        sb
    }

    pub(crate) fn home(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.home().join(".aws").join("config")
    }

    pub(crate) fn credentials_path(&self) -> PathBuf {
        self.home().join(".aws").join("credentials")
    }

    pub(crate) fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("write config");
    }

    pub(crate) fn read_config(&self) -> String {
        std::fs::read_to_string(self.config_path()).unwrap_or_default()
    }

    pub(crate) fn set_env(&mut self, k: &str, v: &str) {
        self.unset_env.retain(|u| u != k);
        self.extra_env.push((k.to_owned(), v.to_owned()));
    }

    /// Leaves `k` out of this sandbox's environment (e.g. `DBUS_SESSION_BUS_ADDRESS`: no bus).
    pub(crate) fn unset_env(&mut self, k: &str) {
        self.extra_env.retain(|(e, _)| e != k);
        self.unset_env.push(k.to_owned());
    }

    /// The environment every process of this sandbox gets (nothing of the caller's AWS_*).
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        let bin_dir = bin("keyfob").parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut env = vec![
            ("HOME".into(), self.home().display().to_string()),
            ("PATH".into(), path),
            (
                "AWS_CONFIG_FILE".into(),
                self.config_path().display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                self.credentials_path().display().to_string(),
            ),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("KEYFOB_KEYCHAIN_SERVICE".into(), self.service.clone()),
            (
                "KEYFOB_CACHE_DIR".into(),
                self.home().join(".cache/keyfob").display().to_string(),
            ),
            ("NO_COLOR".into(), "1".into()),
            // A sandbox's credential-process never signs in by itself, even when the runner
            // has a terminal: the tests of that (auto_login.rs) switch it back on.
            ("KEYFOB_AUTO_LOGIN".into(), "0".into()),
        ];
        if !self.default_choice {
            env.push(("KEYFOB_KEYRING".into(), self.backend.env_value().into()));
        }
        for var in ["DBUS_SESSION_BUS_ADDRESS", "LANG", "TMPDIR"] {
            if let Ok(v) = std::env::var(var) {
                env.push((var.into(), v));
            }
        }
        env.extend(self.extra_env.iter().cloned());
        env.retain(|(k, _)| !self.unset_env.contains(k));
        env
    }

    /// A command with this sandbox's environment and nothing else.
    pub(crate) fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear().envs(self.env()).current_dir(self.home());
        c.stdin(Stdio::null());
        c
    }

    pub(crate) fn keyfob(&self, args: &[&str]) -> Command {
        let mut c = self.command(bin("keyfob"));
        c.args(args);
        c
    }

    /// Runs keyfob with `stdin` as its input.
    pub(crate) fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut c = self.keyfob(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn keyfob");
        // keyfob may exit before reading everything (an early refusal): that is its answer.
        let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        if let Err(e) = written {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "writing stdin: {e}"
            );
        }
        child.wait_with_output().expect("wait keyfob")
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.keyfob(args).output().expect("run keyfob")
    }

    /// Stores an IAM user's keys the way a user would.
    pub(crate) fn add_user(&self, profile: &str, akid: &str, secret: &str) {
        let out = self.run_with_stdin(
            &["add", profile, "--from-stdin", "--yes"],
            &format!("{akid}\n{secret}\n"),
        );
        assert_success(&out);
    }

    fn keychain(&self) -> Keychain {
        self.keychain_of(self.backend).expect("open keychain")
    }

    /// This sandbox's entries in `backend`, opened the way keyfob opens it (on the sandbox's
    /// bus, for the Secret Service).
    pub(crate) fn keychain_of(&self, backend: Backend) -> Result<Keychain, StoreError> {
        let mut pairs = vec![
            ("KEYFOB_KEYRING".to_owned(), backend.env_value().to_owned()),
            ("KEYFOB_KEYCHAIN_SERVICE".to_owned(), self.service.clone()),
            (
                "KEYFOB_CACHE_DIR".to_owned(),
                self.home().join(".cache/keyfob").display().to_string(),
            ),
        ];
        pairs.extend(
            self.env()
                .into_iter()
                .filter(|(k, _)| k == "DBUS_SESSION_BUS_ADDRESS"),
        );
        Keychain::open(&keyfob_core::Env::from_pairs(pairs))
    }

    /// Writes `value` under `key` in this sandbox's keychain, as another program might.
    pub(crate) fn put_raw(&self, key: &str, value: &str) {
        self.keychain().put(key, value).expect("write keychain");
    }

    /// Every entry keyfob wrote for this sandbox.
    pub(crate) fn stored_keys(&self) -> Vec<String> {
        self.keychain().list().expect("list keychain")
    }

    /// Every entry keyfob wrote for this sandbox into `backend`.
    pub(crate) fn stored_keys_in(&self, backend: Backend) -> Vec<String> {
        self.keychain_of(backend)
            .and_then(|k| k.list())
            .unwrap_or_else(|e| panic!("list the {backend:?} keychain: {e}"))
    }

    /// Appends `LABEL<TAB>TEST` to `$KEYFOB_TEST_BACKEND_LOG`, which ./scripts/test counts for
    /// its summary line (tests per backend). Called when a sandbox is dropped without a panic:
    /// the test got through its work on this backend.
    fn record_backend(&self) {
        let Some(log) = std::env::var_os("KEYFOB_TEST_BACKEND_LOG") else {
            return;
        };
        let label = if self.default_choice {
            "default-choice"
        } else {
            self.backend.env_value()
        };
        // libtest names each test's thread after the test.
        let test = std::thread::current().name().unwrap_or("?").to_owned();
        let line = format!("{label}\t{test}\n");
        // One short O_APPEND write: lines from parallel tests do not interleave.
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
        if let Err(e) = written {
            panic!(
                "cannot append to KEYFOB_TEST_BACKEND_LOG {}: {e}",
                log.display()
            );
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.record_backend();
        }
        // keyutils entries outlive the session keyring (they are linked into the persistent
        // keyring too): delete what this test wrote. Where keyfob chose the backend, clean
        // both.
        let backends: &[Backend] = if self.default_choice {
            &[Backend::Keyutils, Backend::SecretService]
        } else {
            std::slice::from_ref(&self.backend)
        };
        for &backend in backends {
            if let Ok(Ok(k)) = std::panic::catch_unwind(|| self.keychain_of(backend))
                && let Ok(keys) = k.list()
            {
                for key in keys {
                    let _ = k.delete(&key);
                }
            }
        }
    }
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
pub(crate) fn assert_success(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

/// Asserts a failure with exit code 1 and exactly one line on stderr; returns that line.
#[track_caller]
pub(crate) fn assert_one_line_error(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got:\n{err}");
    assert!(
        stdout(o).is_empty(),
        "nothing on stdout on failure: {}",
        stdout(o)
    );
    lines[0].to_owned()
}

/// Runs a Python snippet with botocore (the venv that `./scripts/test` made).
pub(crate) fn python(sb: &Sandbox, code: &str, extra_env: &[(&str, &str)]) -> Option<Output> {
    let py = peer("KEYFOB_TEST_PYTHON")?;
    let mut c = sb.command(py);
    c.arg("-c").arg(code);
    for (k, v) in extra_env {
        c.env(k, v);
    }
    Some(c.output().expect("run python"))
}

pub(crate) const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
pub(crate) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
