//! The kubeconfig `users[]` entry that runs `keyfob eks-token`, and the edit that puts it in
//! a kubeconfig file.
//!
//! The file is read and written with a YAML library (`yaml-rust2`): every other user, cluster,
//! context and setting keeps its data and its order, but YAML comments are dropped, aliases are
//! written out as copies of their anchors' values, custom `!tags` are dropped (their values
//! stay), and quoting and indentation take the library's style. Values mean after the edit what
//! they meant to kubectl before it: plain scalars are read as a YAML 1.1 reader (kubectl's)
//! reads them (`on` is a boolean, `0644` octal) and written in words both YAML versions agree
//! on (`true`, `420`), and strings that a YAML 1.1 reader would take for something else
//! (`"yes"`, `"0123"`) are written quoted. The write follows kubectl's
//! own protocol, so the two never edit the file at once: `<file>.lock` is created exclusively
//! (kubectl refuses to write while it exists) and removed afterwards, and the file is replaced
//! atomically (a temp file renamed over it; an existing file keeps its mode, a new one is 0600).

use crate::editor::{EditError, Mode, write_atomic_under_foreign_lock};
use crate::env::Env;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use yaml_rust2::Yaml;
use yaml_rust2::yaml::Hash;

/// The `apiVersion` of the exec entry (kubectl then tells keyfob the same in
/// `KUBERNETES_EXEC_INFO`).
pub const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1beta1";

/// A kubeconfig user whose credentials come from a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// The user's name in the kubeconfig.
    pub name: String,
    /// The program (one argv word, not a shell line).
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
}

impl ExecUser {
    /// The `users[]` item: `name`, and `user.exec` with the command, `env: null`,
    /// `interactiveMode: Never` (keyfob never prompts kubectl's user) and
    /// `provideClusterInfo: false`.
    pub fn entry(&self) -> Yaml {
        let s = |v: &str| Yaml::String(v.to_owned());
        let mut exec = Hash::new();
        exec.insert(s("apiVersion"), s(EXEC_API_VERSION));
        exec.insert(s("command"), s(&self.command));
        exec.insert(
            s("args"),
            Yaml::Array(self.args.iter().map(|a| s(a)).collect()),
        );
        exec.insert(s("env"), Yaml::Null);
        exec.insert(s("interactiveMode"), s("Never"));
        exec.insert(s("provideClusterInfo"), Yaml::Boolean(false));
        let mut user = Hash::new();
        user.insert(s("exec"), Yaml::Hash(exec));
        let mut item = Hash::new();
        item.insert(s("name"), s(&self.name));
        item.insert(s("user"), Yaml::Hash(user));
        Yaml::Hash(item)
    }

    /// `users:` with this one entry, as YAML to paste into a kubeconfig.
    pub fn to_yaml(&self) -> String {
        let mut doc = Hash::new();
        doc.insert(
            Yaml::String("users".into()),
            Yaml::Array(vec![self.entry()]),
        );
        emit(&Yaml::Hash(doc)).expect("plain strings are written")
    }
}

/// A document as YAML text, without the `---` line the emitter starts with.
fn emit(doc: &Yaml) -> Option<String> {
    let mut out = String::new();
    let mut emitter = yaml_rust2::YamlEmitter::new(&mut out);
    emitter.multiline_strings(true);
    emitter.dump(doc).ok()?;
    let body = out.strip_prefix("---\n").unwrap_or(&out).to_owned();
    Some(body + "\n")
}

/// Why a kubeconfig could not be edited. Messages never quote the file's content (it may hold
/// client keys and tokens).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeconfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {}: {source}; check its permissions", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Not YAML keyfob can read.
    #[error(
        "{} is not a YAML document keyfob can read ({problem}); fix it, or name another file with --kubeconfig",
        path.display()
    )]
    NotYaml {
        /// The file.
        path: PathBuf,
        /// Where (line and column), never what.
        problem: String,
    },
    /// YAML, but not shaped like a kubeconfig.
    #[error(
        "{} is not a kubeconfig: {what}; fix it, or name another file with --kubeconfig",
        path.display()
    )]
    NotKubeconfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
    /// kubectl's lock file stayed in place.
    #[error(
        "{} exists: kubectl (or another keyfob) is editing the kubeconfig, or one stopped half-way; wait, or remove that file if no kubectl is running",
        path.display()
    )]
    Busy {
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file could not be made.
    #[error("cannot create the lock file {}: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Writing failed (the file is left as it was).
    #[error(transparent)]
    Write(#[from] EditError),
}

/// The kubeconfig kubectl reads first: the first path in `KUBECONFIG`, else `~/.kube/config`.
pub fn default_path(env: &Env) -> Option<PathBuf> {
    if let Some(list) = env.get_non_empty("KUBECONFIG")
        && let Some(first) = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty())
    {
        return Some(first);
    }
    env.home().map(|h| h.join(".kube").join("config"))
}

/// What [`write_user`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The file had no user of that name: it was added.
    Added,
    /// A user of that name was replaced.
    Replaced,
    /// The file did not exist: it was created with this one user.
    Created,
}

/// Puts `user` into the kubeconfig `text`: replaces the item of `users` with its name, or
/// appends it; everything else stays. Empty text becomes a new kubeconfig.
pub fn upsert_user(text: &str, user: &ExecUser) -> Result<(String, Written), UpsertError> {
    let mut docs = load_as_yaml_1_1(text).map_err(|e| {
        let at = e.marker();
        UpsertError::NotYaml(format!("line {}, column {}", at.line(), at.col() + 1))
    })?;
    if docs.len() > 1 {
        return Err(UpsertError::NotKubeconfig(
            "it holds several YAML documents",
        ));
    }
    let key = |k: &str| Yaml::String(k.to_owned());
    let (doc, written) = match docs.pop().unwrap_or(Yaml::Null) {
        Yaml::Null => {
            let mut m = Hash::new();
            m.insert(key("apiVersion"), key("v1"));
            m.insert(key("kind"), key("Config"));
            m.insert(key("preferences"), Yaml::Hash(Hash::new()));
            m.insert(key("users"), Yaml::Array(vec![user.entry()]));
            (Yaml::Hash(m), Written::Created)
        }
        Yaml::Hash(mut m) => {
            let users = m.entry(key("users")).or_insert(Yaml::Array(Vec::new()));
            if users.is_null() {
                *users = Yaml::Array(Vec::new());
            }
            let Yaml::Array(list) = users else {
                return Err(UpsertError::NotKubeconfig("its users is not a list"));
            };
            let same_name = |item: &Yaml| item["name"].as_str() == Some(user.name.as_str());
            let written = if let Some(item) = list.iter_mut().find(|item| same_name(item)) {
                *item = user.entry();
                Written::Replaced
            } else {
                list.push(user.entry());
                Written::Added
            };
            (Yaml::Hash(m), written)
        }
        _ => return Err(UpsertError::NotKubeconfig("its top level is not a mapping")),
    };
    let text = emit(&doc).ok_or(UpsertError::NotKubeconfig(
        "it holds values that cannot be written back as YAML",
    ))?;
    Ok((text, written))
}

/// The documents of `text`, with plain scalars read as a YAML 1.1 reader (kubectl's, and
/// every Go program's through `sigs.k8s.io/yaml`) reads them: `yes`, `on`, `y` and their kin
/// are booleans and `0755` is octal, where YAML 1.2 (yaml-rust2's own loader) reads strings and
/// decimals. Written back, they come out as `true` and `493`, which both readers agree on;
/// read the 1.2 way they would come out quoted, and kubectl would see strings where it saw
/// booleans. Everything else is yaml-rust2's loader: aliases become copies of their anchors.
fn load_as_yaml_1_1(text: &str) -> Result<Vec<Yaml>, yaml_rust2::ScanError> {
    let mut loader = Yaml11Loader::default();
    yaml_rust2::parser::Parser::new_from_str(text).load(&mut loader, true)?;
    match loader.error {
        Some(e) => Err(e),
        None => Ok(loader.docs),
    }
}

#[derive(Default)]
struct Yaml11Loader {
    docs: Vec<Yaml>,
    /// Open collections, with their anchor ids.
    stack: Vec<(Yaml, usize)>,
    /// For each open mapping, the key waiting for its value (`BadValue` when none).
    keys: Vec<Yaml>,
    anchors: std::collections::HashMap<usize, Yaml>,
    error: Option<yaml_rust2::ScanError>,
}

impl yaml_rust2::parser::MarkedEventReceiver for Yaml11Loader {
    fn on_event(&mut self, ev: yaml_rust2::parser::Event, mark: yaml_rust2::scanner::Marker) {
        use yaml_rust2::parser::Event;
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::DocumentEnd => {
                let doc = self.stack.pop().map_or(Yaml::Null, |(node, _)| node);
                self.docs.push(doc);
            }
            Event::SequenceStart(anchor, _) => self.stack.push((Yaml::Array(Vec::new()), anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack.push((Yaml::Hash(Hash::new()), anchor));
                self.keys.push(Yaml::BadValue);
            }
            Event::SequenceEnd => {
                let node = self.stack.pop().expect("the parser balances collections");
                self.insert(node, mark);
            }
            Event::MappingEnd => {
                self.keys.pop();
                let node = self.stack.pop().expect("the parser balances collections");
                self.insert(node, mark);
            }
            Event::Scalar(value, style, anchor, tag) => {
                let node = scalar(value, style, tag.as_ref());
                self.insert((node, anchor), mark);
            }
            Event::Alias(anchor) => {
                let node = self.anchors.get(&anchor).cloned().unwrap_or(Yaml::BadValue);
                self.insert((node, 0), mark);
            }
            _ => {}
        }
    }
}

impl Yaml11Loader {
    fn insert(&mut self, (node, anchor): (Yaml, usize), mark: yaml_rust2::scanner::Marker) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.stack.push((node, 0)),
            Some((Yaml::Array(list), _)) => list.push(node),
            Some((Yaml::Hash(map), _)) => {
                let key = self.keys.last_mut().expect("a key slot per mapping");
                if key.is_badvalue() {
                    *key = node;
                } else if map
                    .insert(std::mem::replace(key, Yaml::BadValue), node)
                    .is_some()
                {
                    self.error = Some(yaml_rust2::ScanError::new(
                        mark,
                        "duplicated key in mapping",
                    ));
                }
            }
            Some(_) => unreachable!("only collections are pushed"),
        }
    }
}

/// A scalar as a YAML 1.1 reader types it (see [`load_as_yaml_1_1`]).
fn scalar(
    value: String,
    style: yaml_rust2::scanner::TScalarStyle,
    tag: Option<&yaml_rust2::parser::Tag>,
) -> Yaml {
    use yaml_rust2::scanner::TScalarStyle;
    if style != TScalarStyle::Plain {
        return Yaml::String(value);
    }
    if let Some(tag) = tag {
        // `!!str 123` is a string; any other tag is dropped and the value typed as usual.
        if tag.handle == "tag:yaml.org,2002:" && tag.suffix == "str" {
            return Yaml::String(value);
        }
    }
    typed_plain(&value)
}

fn typed_plain(value: &str) -> Yaml {
    match value {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Yaml::Boolean(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Yaml::Boolean(false),
        _ => {}
    }
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    if digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
        && let Ok(n) = i64::from_str_radix(digits, 8)
    {
        return Yaml::Integer(if value.starts_with('-') { -n } else { n });
    }
    Yaml::from_str(value)
}

/// Why [`upsert_user`] refused a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpsertError {
    /// Not YAML (where, never what).
    #[error("not YAML ({0})")]
    NotYaml(String),
    /// YAML of another shape.
    #[error("not a kubeconfig: {0}")]
    NotKubeconfig(&'static str),
}

/// Puts `user` into the kubeconfig at `path` (see [`upsert_user`]), under kubectl's lock,
/// waiting at most `wait` for it.
pub fn write_user(
    path: &Path,
    user: &ExecUser,
    wait: Duration,
) -> Result<Written, KubeconfigError> {
    let _lock = KubectlLock::acquire(path, wait)?;
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| KubeconfigError::NotYaml {
            path: path.to_owned(),
            problem: "not UTF-8".to_owned(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(KubeconfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let (new_text, written) = upsert_user(&text, user).map_err(|e| match e {
        UpsertError::NotYaml(problem) => KubeconfigError::NotYaml {
            path: path.to_owned(),
            problem,
        },
        UpsertError::NotKubeconfig(what) => KubeconfigError::NotKubeconfig {
            path: path.to_owned(),
            what,
        },
    })?;
    let written = if text.trim().is_empty() && !path.exists() {
        Written::Created
    } else {
        written
    };
    write_atomic_under_foreign_lock(path, new_text.as_bytes(), Mode::KeepOr(0o600))?;
    Ok(written)
}

/// kubectl's lock on a kubeconfig: `<path>.lock`, created exclusively, removed when dropped.
struct KubectlLock {
    path: PathBuf,
}

impl KubectlLock {
    fn acquire(kubeconfig: &Path, wait: Duration) -> Result<Self, KubeconfigError> {
        let mut name = kubeconfig.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::lock::create_private_dir(dir).map_err(|source| KubeconfigError::Lock {
                path: path.clone(),
                source,
            })?;
        }
        let start = Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(Self { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if start.elapsed() >= wait {
                        return Err(KubeconfigError::Busy { path });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(source) => return Err(KubeconfigError::Lock { path, source }),
            }
        }
    }
}

impl Drop for KubectlLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl crate::error::UserError for KubeconfigError {}

impl crate::error::UserError for UpsertError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> ExecUser {
        ExecUser {
            name: name.to_owned(),
            command: "keyfob".to_owned(),
            args: ["eks-token", "--cluster", "demo", "--profile", "dev"]
                .map(str::to_owned)
                .to_vec(),
        }
    }

    /// A kubeconfig as `aws eks update-kubeconfig` and kubectl write them, with the values a
    /// careless round trip would change: YAML 1.1 booleans as strings, numbers as strings,
    /// long base64, multi-line strings, empty maps, nulls, a tagged value, an anchor.
    const KUBECONFIG: &str = r#"apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKY201bGRHVnpNQjRYRFRJek1ERXdNVEF3TURBd01Gb1hEVE16TURFd01UQXdNREF3TUZvd0ZURVRNQkVHQTFVRQpBeE1LYTNWaVpYSnVaWFJsY3pDQ0FTSXdEUVlKS29aSWh2Y05BUUVCQlFBRGdnRVBBRENDQVFvQ2dnRUJBTUl5Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
    server: https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com
  name: arn:aws:eks:eu-west-1:111122223333:cluster/demo
- cluster:
    insecure-skip-tls-verify: true
    server: https://127.0.0.1:6443
  name: kind
contexts:
- context:
    cluster: arn:aws:eks:eu-west-1:111122223333:cluster/demo
    user: arn:aws:eks:eu-west-1:111122223333:cluster/demo
    namespace: "0123"
  name: demo
- context: &ctx
    cluster: kind
    user: kind
  name: kind
- context: *ctx
  name: kind-again
current-context: demo
kind: Config
preferences: {}
users:
- name: arn:aws:eks:eu-west-1:111122223333:cluster/demo
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - --region
      - eu-west-1
      - eks
      - get-token
      - --cluster-name
      - demo
      command: aws
      env:
      - name: AWS_PROFILE
        value: "yes"
      interactiveMode: IfAvailable
      provideClusterInfo: false
- name: kind
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJU
    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=
    note: |
      two
      lines
    empty: null
    number: 0x1F
    port: 8080
    mode: 0644
    on: off
"#;

    #[test]
    fn adding_a_user_keeps_every_other_value() {
        let (text, written) = upsert_user(KUBECONFIG, &user("dev@demo")).unwrap();
        assert_eq!(written, Written::Added);
        let load = |t: &str| load_as_yaml_1_1(t).unwrap().remove(0);
        let (before, after) = (load(KUBECONFIG), load(&text));
        // Everything but the new user is the same data (aliases compare by value).
        let mut trimmed = after.clone();
        let Yaml::Hash(top) = &mut trimmed else {
            panic!("{text}")
        };
        let Some(Yaml::Array(users)) = top.get_mut(&Yaml::String("users".into())) else {
            panic!("{text}")
        };
        assert_eq!(users.pop().unwrap(), user("dev@demo").entry());
        assert_eq!(trimmed, before);
        // Strings that look like other types stay strings for YAML 1.1 readers too (kubectl).
        assert!(
            text.contains("value: 'yes'") || text.contains("value: \"yes\""),
            "{text}"
        );
        assert!(
            text.contains("namespace: '0123'") || text.contains("namespace: \"0123\""),
            "{text}"
        );
        // YAML 1.1 booleans and octals keep the meaning kubectl gave them, in words both
        // YAML versions agree on.
        assert!(text.contains("true: false"), "{text}");
        assert!(text.contains("mode: 420"), "{text}");
        // Top-level order is kept.
        let keys: Vec<&str> = after
            .as_hash()
            .unwrap()
            .keys()
            .filter_map(Yaml::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "apiVersion",
                "clusters",
                "contexts",
                "current-context",
                "kind",
                "preferences",
                "users"
            ]
        );
    }

    #[test]
    fn rerunning_replaces_only_that_user() {
        let (once, _) = upsert_user(KUBECONFIG, &user("dev@demo")).unwrap();
        let mut changed = user("dev@demo");
        changed.args.push("--region".into());
        changed.args.push("eu-west-1".into());
        let (twice, written) = upsert_user(&once, &changed).unwrap();
        assert_eq!(written, Written::Replaced);
        let doc = yaml_rust2::YamlLoader::load_from_str(&twice)
            .unwrap()
            .remove(0);
        let users = doc["users"].as_vec().unwrap();
        assert_eq!(users.len(), 3);
        assert_eq!(users[2], changed.entry());
        let (again, _) = upsert_user(&twice, &changed).unwrap();
        assert_eq!(again, twice, "idempotent");
    }

    #[test]
    fn the_entry_is_the_exec_plugin_kubectl_expects() {
        let yaml = user("dev@demo").to_yaml();
        assert_eq!(
            yaml,
            "users:\n  - name: dev@demo\n    user:\n      exec:\n        apiVersion: client.authentication.k8s.io/v1beta1\n        command: keyfob\n        args:\n          - eks-token\n          - \"--cluster\"\n          - demo\n          - \"--profile\"\n          - dev\n        env: ~\n        interactiveMode: Never\n        provideClusterInfo: false\n"
        );
        let (new, written) = upsert_user("", &user("dev@demo")).unwrap();
        assert_eq!(written, Written::Created);
        assert!(new.starts_with("apiVersion: v1\nkind: Config\n"), "{new}");
    }

    #[test]
    fn what_is_not_a_kubeconfig_is_refused_without_quoting_it() {
        for (text, want) in [
            ("users: [a, b\nsecret-token: hunter2\n", "not YAML (line"),
            ("- a\n- b\n", "its top level is not a mapping"),
            ("users: hunter2\n", "its users is not a list"),
        ] {
            let e = upsert_user(text, &user("u")).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let (t, _) = upsert_user("apiVersion: v1\nusers:\n", &user("u")).unwrap();
        assert!(t.contains("- name: u\n"), "{t}");
    }

    #[test]
    fn writes_take_and_release_kubectls_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kube").join("config");
        assert_eq!(
            write_user(&path, &user("a"), Duration::from_secs(1)).unwrap(),
            Written::Created
        );
        assert_eq!(
            write_user(&path, &user("b"), Duration::from_secs(1)).unwrap(),
            Written::Added
        );
        let lock = dir.path().join("kube").join("config.lock");
        assert!(!lock.exists(), "the lock is gone after the write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // While kubectl holds its lock, keyfob waits, then gives up with one line.
        std::fs::write(&lock, "").unwrap();
        let before = std::fs::read_to_string(&path).unwrap();
        let e = write_user(&path, &user("c"), Duration::from_millis(100)).unwrap_err();
        assert!(matches!(e, KubeconfigError::Busy { .. }), "{e}");
        assert!(lock.exists(), "someone else's lock is left alone");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    }
}
