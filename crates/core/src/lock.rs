//! Cross-process locks on files under keyfob's cache directory: one refresh for many callers.
//!
//! Every wait is bounded (trust rule "nothing waits forever"): a caller that cannot get the
//! lock in time fails with one line naming the process that holds it, whose pid the holder
//! writes into the lock file. The holder of a refresh lock can also leave a note that its
//! refresh failed, so that the callers queued behind it report that failure at once instead of
//! each trying again in turn.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a caller waits for a lock that guards a quick file or keychain edit.
pub const EDIT_WAIT: Duration = Duration::from_secs(10);

/// A lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The lock file could not be created or locked.
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Another process held the lock for longer than the wait allows.
    #[error(
        "another process ({}) held the lock {} for more than {} s; wait for it to finish or stop it, then run the command again",
        holder.as_ref().map_or_else(|| "unknown pid".to_owned(), Holder::to_string),
        path.display(),
        waited.as_secs()
    )]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, if the lock file says.
        holder: Option<Holder>,
        /// How long this process waited.
        waited: Duration,
    },
}

/// The process that holds a lock, as its lock file names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its process id.
    pub pid: u32,
    /// Its program name, where the OS tells (Linux: `/proc/PID/comm`).
    pub name: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "pid {} {name}", self.pid),
            None => write!(f, "pid {}", self.pid),
        }
    }
}

/// What a lock file said when this process took it over: the note of a refresh that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureNote {
    /// When it failed, as RFC 3339 (the holder's clock).
    pub at: chrono::DateTime<chrono::Utc>,
    /// The one-line message the holder reported (never a secret).
    pub message: String,
}

/// An exclusive advisory lock, held until dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    previous: String,
}

impl FileLock {
    /// Locks `path` exclusively (created 0600, parents 0700), waiting at most `wait` for
    /// another holder to let go. On success the file names this process as the holder.
    pub fn acquire(path: &Path, wait: Duration) -> Result<Self, LockError> {
        let io_err = |source| LockError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            create_private_dir(dir).map_err(io_err)?;
        }
        let mut opts = OpenOptions::new();
        opts.create(true).truncate(false).read(true).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(path).map_err(io_err)?;
        let start = Instant::now();
        // Polling, not a blocking flock: a blocking call cannot be given a deadline. The pause
        // grows from 2 ms so that an uncontended or briefly held lock costs almost nothing.
        let mut pause = Duration::from_millis(2);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
            }
            let waited = start.elapsed();
            if waited >= wait {
                return Err(LockError::Busy {
                    path: path.to_owned(),
                    holder: read_holder(path),
                    waited,
                });
            }
            std::thread::sleep(pause.min(wait.saturating_sub(waited)));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
        let mut previous = String::new();
        // What the last holder left (its pid, perhaps a failure note); unreadable is empty.
        let _ = file.read_to_string(&mut previous);
        let mut lock = Self { file, previous };
        lock.rewrite(&format!("{}\n", std::process::id()));
        Ok(lock)
    }

    /// The failure the previous holder recorded with [`FileLock::record_failure`], if any.
    pub fn previous_failure(&self) -> Option<FailureNote> {
        let mut lines = self.previous.lines();
        let _pid = lines.next()?;
        let at = lines.next()?.strip_prefix("failed ")?;
        let at = chrono::DateTime::parse_from_rfc3339(at)
            .ok()?
            .with_timezone(&chrono::Utc);
        let message = lines.next()?.to_owned();
        Some(FailureNote { at, message })
    }

    /// Leaves a note for the processes queued behind this one that the work it held the lock
    /// for failed at `at` with `message` (one line, no secret in it).
    pub fn record_failure(&mut self, at: chrono::DateTime<chrono::Utc>, message: &str) {
        let message = message.replace(['\n', '\r'], " ");
        self.rewrite(&format!(
            "{}\nfailed {}\n{message}\n",
            std::process::id(),
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ));
    }

    fn rewrite(&mut self, text: &str) {
        // The note is advice for other processes, never needed for correctness: a failed
        // write only costs them the pid in their message.
        let _ = self
            .file
            .set_len(0)
            .and_then(|()| self.file.seek(SeekFrom::Start(0)))
            .and_then(|_| self.file.write_all(text.as_bytes()));
    }
}

/// The holder a lock file names (its first line is a pid).
fn read_holder(path: &Path) -> Option<Holder> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    let pid: u32 = text.lines().next()?.trim().parse().ok()?;
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    Some(Holder { pid, name })
}

/// The lock file that serialises refreshes of one named thing (a profile, an SSO session).
pub fn lock_path(cache_dir: &Path, kind: &str, name: &str) -> PathBuf {
    // Profile names may hold characters a file name cannot; a digest is safe everywhere.
    use sha1::{Digest, Sha1};
    let digest = hex::encode(Sha1::digest(name.as_bytes()));
    cache_dir
        .join("locks")
        .join(format!("{kind}-{digest}.lock"))
}

/// Creates `dir` and its parents with mode 0700 (where missing).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

impl crate::error::UserError for LockError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn lock_excludes_other_holders() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), "profile", "a/b c");
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (path, inside) = (path.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        let _g = FileLock::acquire(&path, Duration::from_secs(30)).unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn a_held_lock_times_out_naming_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), "profile", "busy");
        let held = FileLock::acquire(&path, Duration::ZERO).unwrap();
        let err = FileLock::acquire(&path, Duration::from_millis(50)).unwrap_err();
        let LockError::Busy { holder, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(holder.as_ref().map(|h| h.pid), Some(std::process::id()));
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(held);
        FileLock::acquire(&path, Duration::ZERO).unwrap();
    }

    #[test]
    fn the_next_holder_reads_the_failure_note() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), "profile", "p");
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let mut first = FileLock::acquire(&path, Duration::ZERO).unwrap();
        assert_eq!(first.previous_failure(), None);
        first.record_failure(at, "STS did not answer\nin time");
        drop(first);
        let second = FileLock::acquire(&path, Duration::ZERO).unwrap();
        assert_eq!(
            second.previous_failure(),
            Some(FailureNote {
                at,
                message: "STS did not answer in time".into()
            })
        );
        drop(second);
        // A holder that succeeded leaves only its pid.
        let third = FileLock::acquire(&path, Duration::ZERO).unwrap();
        assert_eq!(third.previous_failure(), None);
    }
}
