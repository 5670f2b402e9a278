//! The person at this machine, reached past the program that runs keyfob. An SDK that runs
//! `credential_process` holds its stdout (the JSON) and its stderr (captured, often never
//! shown); what reaches the person is the controlling terminal (`/dev/tty`; the console on
//! Windows), the graphical session (a browser, a desktop notification), or nothing (CI, cron).

use std::fs::File;
use std::io::{self, Write as _};
use std::time::Duration;

/// What of the person this process can reach.
pub(crate) struct Person {
    /// The controlling terminal, if one can be opened.
    pub(crate) tty: Option<Tty>,
    /// A graphical session where a browser can open: `DISPLAY` or `WAYLAND_DISPLAY` on Linux
    /// and the BSDs; always on macOS and Windows.
    pub(crate) display: bool,
}

impl Person {
    /// Looks for a terminal and a display (no side effect beyond opening the terminal).
    pub(crate) fn find(env: &keyfob_core::Env) -> Self {
        Self {
            tty: Tty::open(),
            display: has_display(env),
        }
    }

    /// True when there is anyone to ask.
    pub(crate) fn reachable(&self) -> bool {
        self.tty.is_some() || self.display
    }

    /// Says `line` where the person sees it: the terminal, else stderr (for whoever reads it)
    /// and a desktop notification.
    pub(crate) fn tell(&self, line: &str) {
        match &self.tty {
            Some(tty) => tty.say(line),
            None => crate::output::say(line),
        }
    }

    /// A desktop notification with `line`, where the desktop has a way to show one.
    pub(crate) fn notify(&self, line: &str) {
        if self.display {
            notify(line);
        }
    }
}

/// True when a browser opened here shows up in front of the person.
pub(crate) fn has_display(env: &keyfob_core::Env) -> bool {
    if cfg!(any(target_os = "macos", windows)) {
        return true;
    }
    env.get_non_empty("DISPLAY").is_some() || env.get_non_empty("WAYLAND_DISPLAY").is_some()
}

/// Shows `line` as a desktop notification, best effort: `notify-send` (Linux, BSD) or
/// `osascript` (macOS) when present; nothing on Windows. The line holds no secret (it names a
/// session), and the command is never waited for.
fn notify(line: &str) {
    use std::process::{Command, Stdio};
    let mut cmd = if cfg!(target_os = "macos") {
        let quoted = line.replace('\\', "\\\\").replace('"', "\\\"");
        let mut c = Command::new("osascript");
        c.arg("-e").arg(format!(
            "display notification \"{quoted}\" with title \"keyfob\""
        ));
        c
    } else if cfg!(windows) {
        return;
    } else {
        let mut c = Command::new("notify-send");
        c.args(["--app-name=keyfob", "keyfob"]).arg(line);
        c
    };
    let spawned = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        tracing::debug!(error = %e, "no desktop notification");
    }
}

/// The terminal the person types at, opened directly: never stdin, stdout or stderr.
pub(crate) struct Tty {
    #[cfg(unix)]
    file: File,
    #[cfg(windows)]
    out: File,
}

/// What a prompt got: the answer, or nothing before its deadline.
#[derive(Debug)]
pub(crate) enum Answer {
    /// What was typed, without the line end.
    Typed(String),
    /// The deadline passed.
    TimedOut,
}

impl Tty {
    /// The controlling terminal, or `None` (no terminal: a daemon, CI, `setsid`).
    pub(crate) fn open() -> Option<Self> {
        #[cfg(unix)]
        {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/tty")
                .ok()?;
            Some(Self { file })
        }
        #[cfg(windows)]
        {
            let out = std::fs::OpenOptions::new()
                .write(true)
                .open("CONOUT$")
                .ok()?;
            // Reading needs the console's input too.
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("CONIN$")
                .ok()?;
            Some(Self { out })
        }
    }

    /// Writes `line` and a line end.
    pub(crate) fn say(&self, line: &str) {
        let _ = self.writer().write_all(format!("{line}\n").as_bytes());
    }

    fn writer(&self) -> &File {
        #[cfg(unix)]
        {
            &self.file
        }
        #[cfg(windows)]
        {
            &self.out
        }
    }

    /// Asks `question` and reads a line without echo, waiting at most `wait`. The terminal's
    /// echo comes back however this returns.
    pub(crate) fn secret(&self, question: &str, wait: Duration) -> io::Result<Answer> {
        self.ask(question, wait, false)
    }

    /// Asks `question` and reads a line with echo, waiting at most `wait`.
    pub(crate) fn line(&self, question: &str, wait: Duration) -> io::Result<Answer> {
        self.ask(question, wait, true)
    }

    #[cfg(unix)]
    fn ask(&self, question: &str, wait: Duration, echo: bool) -> io::Result<Answer> {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let deadline = std::time::Instant::now() + wait;
        let mut out = &self.file;
        // Echo goes off before the question shows, and without flushing input: a person (or a
        // password manager) that types as soon as the question appears loses nothing.
        let _restore = if echo {
            None
        } else {
            let original = tcgetattr(&self.file)?;
            let mut quiet = original.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            // The line end the person types still shows, so the next line starts fresh.
            quiet.local_modes.insert(LocalModes::ECHONL);
            tcsetattr(&self.file, OptionalActions::Now, &quiet)?;
            Some(Restore {
                file: &self.file,
                original,
            })
        };
        out.write_all(question.as_bytes())?;
        out.flush()?;
        let mut typed = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                if !echo {
                    out.write_all(b"\n")?;
                }
                return Ok(Answer::TimedOut);
            }
            // A blocking read cannot be given a deadline: wait for input with poll first.
            let mut fds = [rustix::event::PollFd::new(
                &self.file,
                rustix::event::PollFlags::IN,
            )];
            let timeout = rustix::event::Timespec::try_from(left.min(Duration::from_secs(1)))
                .map_err(io::Error::other)?;
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(0) | Err(rustix::io::Errno::INTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
            let mut buf = [0u8; 256];
            let n = rustix::io::read(&self.file, &mut buf)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the terminal closed",
                ));
            }
            typed.extend_from_slice(&buf[..n]);
            if let Some(end) = typed.iter().position(|b| *b == b'\n') {
                typed.truncate(end);
                if typed.last() == Some(&b'\r') {
                    typed.pop();
                }
                let text = String::from_utf8(typed)
                    .map_err(|_| io::Error::other("the answer is not UTF-8"))?;
                return Ok(Answer::Typed(text));
            }
        }
    }

    #[cfg(windows)]
    fn ask(&self, question: &str, wait: Duration, echo: bool) -> io::Result<Answer> {
        // The console has no poll: the read runs on a thread that is left behind on timeout
        // (the process exits right after).
        let question = question.to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let answer = if echo {
                (|| {
                    let mut out = std::fs::OpenOptions::new().write(true).open("CONOUT$")?;
                    out.write_all(question.as_bytes())?;
                    let input = std::fs::File::open("CONIN$")?;
                    let mut s = String::new();
                    io::BufRead::read_line(&mut io::BufReader::new(input), &mut s)?;
                    Ok(s)
                })()
            } else {
                rpassword::prompt_password(&question)
            };
            let _ = tx.send(answer);
        });
        match rx.recv_timeout(wait) {
            Ok(r) => Ok(Answer::Typed(r?.trim_end_matches(['\r', '\n']).to_owned())),
            Err(_) => Ok(Answer::TimedOut),
        }
    }
}

/// Puts the terminal's modes back as they were.
#[cfg(unix)]
struct Restore<'a> {
    file: &'a File,
    original: rustix::termios::Termios,
}

#[cfg(unix)]
impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            self.file,
            rustix::termios::OptionalActions::Now,
            &self.original,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_display_is_a_variable_on_linux_and_always_there_elsewhere() {
        let none = keyfob_core::Env::from_pairs([("DISPLAY", String::new())]);
        let x11 = keyfob_core::Env::from_pairs([("DISPLAY", ":0".to_owned())]);
        let wayland = keyfob_core::Env::from_pairs([("WAYLAND_DISPLAY", "wayland-0".to_owned())]);
        assert!(has_display(&x11));
        assert!(has_display(&wayland));
        assert_eq!(has_display(&none), cfg!(any(target_os = "macos", windows)));
    }
}
