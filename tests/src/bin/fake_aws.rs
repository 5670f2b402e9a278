//! `keyfob-fake-aws`: the fake IAM Identity Center + STS as a process, for shell scripts,
//! demos and out-of-process tests. Drive it with the `/_fake/*` control API (see
//! `keyfob_tests::fake`).
//!
//! ```text
//! keyfob-fake-aws [--port 0] [--accounts 3] [--roles 2] [--page-size 20] [--latency-ms 0]
//!                 [--pending-polls 0] [--auto-approve] [--port-file PATH]
//!                 [--rate-limit RATE [--rate-burst 10] [--rate-retry-after]]
//! ```
//!
//! `--rate-limit RATE` puts a token bucket in front of the portal calls (`ListAccounts`,
//! `ListAccountRoles`, `GetRoleCredentials`, together): RATE requests a second, bursts of
//! `--rate-burst`, 429 `TooManyRequestsException` beyond; `--rate-retry-after` adds
//! `x-amz-retry-after` and `Retry-After` to each 429 (see `keyfob_tests::fake::RateLimit`).
//!
//! Prints `listening on http://127.0.0.1:PORT` on stdout once it accepts connections, and
//! serves until killed.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use keyfob_tests::fake::{FakeAws, FakeConfig, Org, RateLimit};

const USAGE: &str = "usage: keyfob-fake-aws [--port N] [--accounts N] [--roles N] [--page-size N] \
                     [--latency-ms N] [--pending-polls N] [--auto-approve] [--port-file PATH] \
                     [--rate-limit RATE [--rate-burst N] [--rate-retry-after]]";

struct Args {
    port: u16,
    port_file: Option<PathBuf>,
    config: FakeConfig,
}

fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<Args>> {
    let mut port = 0;
    let mut port_file = None;
    let (mut accounts, mut roles) = (3, 2);
    let mut config = FakeConfig::default();
    let mut rate: Option<f64> = None;
    let mut limit = RateLimit::default();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .with_context(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--port" => port = value()?.parse().context("--port")?,
            "--accounts" => accounts = value()?.parse().context("--accounts")?,
            "--roles" => roles = value()?.parse().context("--roles")?,
            "--page-size" => config.page_size = value()?.parse().context("--page-size")?,
            "--latency-ms" => config.latency_ms = value()?.parse().context("--latency-ms")?,
            "--pending-polls" => {
                config.device.pending_polls = value()?.parse().context("--pending-polls")?;
            }
            "--auto-approve" => config.device.auto_approve = true,
            "--port-file" => port_file = Some(PathBuf::from(value()?)),
            "--rate-limit" => {
                let r: f64 = value()?.parse().context("--rate-limit")?;
                if !(r.is_finite() && r >= 0.0) {
                    bail!("--rate-limit must be a number of requests per second, 0 or more");
                }
                rate = Some(r);
            }
            "--rate-burst" => limit.burst = value()?.parse().context("--rate-burst")?,
            "--rate-retry-after" => limit.retry_after = true,
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    match rate {
        Some(rate) => config.rate_limit = Some(RateLimit { rate, ..limit }),
        None if limit != RateLimit::default() => {
            bail!("--rate-burst and --rate-retry-after need --rate-limit RATE\n{USAGE}")
        }
        None => {}
    }
    config.org = Org::generated(accounts, roles);
    Ok(Some(Args {
        port,
        port_file,
        config,
    }))
}

/// Write the port so a script waiting for the file never reads half of it.
fn write_port_file(path: &PathBuf, port: u16) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{port}\n"))
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

// stdout is this program's interface: the one `listening on` line scripts wait for.
#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> std::process::ExitCode {
    let run = || -> anyhow::Result<()> {
        let Some(args) = parse(std::env::args().skip(1))? else {
            println!("{USAGE}");
            return Ok(());
        };
        let fake = FakeAws::start_on(args.port, args.config)
            .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
        if let Some(path) = &args.port_file {
            write_port_file(path, fake.port())?;
        }
        println!("listening on {}", fake.url());
        std::io::stdout().flush().context("writing stdout")?;
        loop {
            std::thread::park();
        }
    };
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyfob-fake-aws: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
