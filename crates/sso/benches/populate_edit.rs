//! The edit `keyfob populate` makes to the config file, timed in-process: parse the file, apply
//! the plan, render the result (no network, no file write). Run by `bench/populate-edit.sh`,
//! which builds it on two trees (the base commit and the working tree) and pools the samples:
//!
//! ```sh
//! cargo bench -p keyfob-sso --bench populate_edit -- --runs 21        # a table
//! cargo bench -p keyfob-sso --bench populate_edit -- --runs 21 --raw  # one sample a line
//! ```
//!
//! Every case writes 10,000 profiles (2,500 accounts × 4 roles) into a config that already
//! holds 10,000 sections, with `--prune`:
//!
//! - `first`: 10,000 hand-written profiles; all 10,000 planned ones are added;
//! - `update`: 10,000 profiles from an earlier populate; a new `--region` updates all of them;
//! - `rename`: the same, with a new `--name-template`: 10,000 added and 10,000 pruned;
//! - `same`: the same plan again: 10,000 unchanged.
#![allow(clippy::print_stdout)]

use keyfob_core::editor::ConfigDocument;
use keyfob_sso::{Account, ApplySummary, PlanOptions, PopulatePlan, Style, apply_plan, plan};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

const ACCOUNTS: u64 = 2_500;
const ROLES: &[&str] = &["Admin", "Billing", "Dev", "ReadOnly"];
const SECTIONS: usize = 10_000;

const SESSION: &str = "\
# my notes
[sso-session acme]
sso_start_url = https://acme.awsapps.com/start
sso_region = eu-west-1
sso_registration_scopes = sso:account:access
";

struct Case {
    name: &'static str,
    config: String,
    plan: PopulatePlan,
    /// (added, updated, unchanged, removed): checked on every run.
    expect: (usize, usize, usize, usize),
}

fn options(template: &str, region: &str) -> PlanOptions {
    PlanOptions {
        session: "acme".into(),
        sso_region: "eu-west-1".into(),
        region: Some(region.into()),
        template: template.into(),
        lowercase: false,
        style: Style::Process,
        keyfob_command: "keyfob".into(),
    }
}

fn cases() -> Vec<Case> {
    let accounts: Vec<Account> = (0..ACCOUNTS)
        .map(|i| Account {
            account_id: format!("{:012}", 111_100_000_000 + i),
            account_name: format!("acct-{i:05}"),
            email: None,
            roles: ROLES.iter().map(|r| (*r).to_owned()).collect(),
        })
        .collect();
    let planned = |template: &str, region: &str| {
        plan(&accounts, &options(template, region)).expect("a valid plan")
    };
    let first = planned("{account_name}.{role_name}", "eu-west-1");
    let update = planned("{account_name}.{role_name}", "us-west-2");
    let rename = planned("{account_id}.{role_name}", "eu-west-1");
    assert_eq!(first.profiles.len(), SECTIONS);

    let mut hand = String::from(SESSION);
    for i in 1..SECTIONS {
        let _ = write!(
            hand,
            "\n[profile hand-{i:05}]\n# written by hand\nregion = eu-west-1\noutput = json\n"
        );
    }
    let mut doc = ConfigDocument::parse(SESSION);
    apply_plan(&mut doc, &first, true);
    let populated = doc.render();

    let n = SECTIONS;
    vec![
        Case {
            name: "first",
            config: hand,
            plan: first.clone(),
            expect: (n, 0, 0, 0),
        },
        Case {
            name: "update",
            config: populated.clone(),
            plan: update,
            expect: (0, n, 0, 0),
        },
        Case {
            name: "rename",
            config: populated.clone(),
            plan: rename,
            expect: (n, 0, 0, n),
        },
        Case {
            name: "same",
            config: populated,
            plan: first,
            expect: (0, 0, n, 0),
        },
    ]
}

/// The time this thread has spent on a CPU (Linux's scheduler statistics, in nanoseconds):
/// unlike wall time, it does not grow while other processes have the CPU.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        stat.split_whitespace().next()?.parse().ok()?,
    ))
}

/// Parse, apply, render: the edit itself. Returns the wall time and the CPU time it took.
fn run(case: &Case) -> (Duration, Option<Duration>) {
    let cpu_started = cpu_time();
    let started = Instant::now();
    let mut doc = ConfigDocument::parse(black_box(&case.config));
    let summary: ApplySummary = apply_plan(&mut doc, black_box(&case.plan), true);
    let rendered = doc.render();
    let elapsed = started.elapsed();
    let cpu = cpu_time()
        .zip(cpu_started)
        .map(|(end, start)| end.saturating_sub(start));
    let got = (
        summary.added.len(),
        summary.updated.len(),
        summary.unchanged.len(),
        summary.removed.len(),
    );
    assert_eq!(got, case.expect, "{}", case.name);
    black_box(rendered);
    (elapsed, cpu)
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    if samples.len() % 2 == 1 {
        samples[mid]
    } else {
        f64::midpoint(samples[mid - 1], samples[mid])
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .map_or(21, |n| n.parse().expect("--runs N"));
    let raw = args.iter().any(|a| a == "--raw");
    let cases = cases();
    if !raw {
        println!(
            "| case | wall median | wall min | CPU median | CPU min | runs |\n|---|---|---|---|---|---|"
        );
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for case in &cases {
        // One run to warm the allocator and the caches.
        run(case);
        let samples: Vec<(Duration, Option<Duration>)> = (0..runs).map(|_| run(case)).collect();
        let mut wall: Vec<f64> = samples.iter().map(|s| ms(s.0)).collect();
        let mut cpu: Vec<f64> = samples.iter().filter_map(|s| s.1.map(ms)).collect();
        if raw {
            for (w, c) in &samples {
                let c = c.map_or_else(|| "-".to_owned(), |c| format!("{:.3}", ms(c)));
                println!("{}\t{:.3}\t{c}", case.name, ms(*w));
            }
        } else {
            let min = |s: &[f64]| s.iter().copied().fold(f64::INFINITY, f64::min);
            let (cpu_median, cpu_min) = if cpu.is_empty() {
                ("-".to_owned(), "-".to_owned())
            } else {
                (
                    format!("{:.1} ms", median(&mut cpu)),
                    format!("{:.1} ms", min(&cpu)),
                )
            };
            println!(
                "| {} | {:.1} ms | {:.1} ms | {cpu_median} | {cpu_min} | {runs} |",
                case.name,
                median(&mut wall),
                min(&wall)
            );
        }
    }
}
