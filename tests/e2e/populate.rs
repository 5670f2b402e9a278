//! Issue 9: `populate` under the portal's rate limit. The fake IAM Identity Center enforces a
//! token bucket (`RateLimit`) on the portal calls; keyfob must get through it without failing,
//! close to the bucket's own floor, with few 429s, honouring `Retry-After`, and give up only at
//! its deadline, with one line and nothing written. No timed assertions: the fake's counters
//! say what happened, and the wall time is printed next to the bucket's floor.

use crate::sso_support::*;
use crate::support::*;
use keyfob_tests::fake::{FakeAws, FakeConfig, Op, Org, RETRIED_TOO_SOON, RateLimit};
use std::time::Instant;

/// The fake with `accounts` accounts of 3 roles (pages of 20) behind `limit`, a sandbox signed
/// in to it, and keyfob's backoff and deadline at their real length.
fn throttled_world(backend: Backend, accounts: u32, limit: RateLimit) -> (FakeAws, Sandbox) {
    let fake = FakeAws::start(FakeConfig::with_org(Org::generated(accounts, 3)))
        .expect("start the fake IAM Identity Center");
    let mut sb = sso_sandbox(backend, &fake);
    login(&sb, &[]);
    fake.configure(|c| c.rate_limit = Some(limit));
    fake.reset();
    sb.set_env("KEYFOB_TEST_POLL_SCALE", "1");
    (fake, sb)
}

/// List calls that reached the fake, and the ones of them that were served.
fn list_calls(fake: &FakeAws) -> (u64, u64) {
    let sent = fake.count(Op::ListAccounts) + fake.count(Op::ListAccountRoles);
    (sent, sent - fake.throttled())
}

#[test]
fn populate_a_thousand_accounts_through_a_bucket_of_ten_a_second() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let limit = RateLimit::new(10.0, 10);
    let (fake, sb) = throttled_world(backend, 1000, limit.clone());
    let started = Instant::now();
    let out = populate(&sb, &[]);
    let took = started.elapsed();
    assert_success(&out);
    assert!(
        stderr(&out).contains("1000 accounts, 3000 profiles: 3000 were added"),
        "{}",
        stderr(&out)
    );
    let config = sb.read_config();
    let names = profile_names(&config);
    let unique: std::collections::BTreeSet<&String> = names.iter().collect();
    assert_eq!((names.len(), unique.len()), (3000, 3000));
    for n in ["acct-0001.Admin", "acct-0500.ReadOnly", "acct-1000.Dev"] {
        assert!(unique.contains(&n.to_owned()), "{n}");
    }

    // 50 pages of accounts and one page of roles per account: each served exactly once.
    let (sent, served) = list_calls(&fake);
    assert_eq!(served, 50 + 1000, "{:?}", fake.counters());
    let throttled = fake.throttled();
    // The bucket was met (10 calls of burst, then 10 a second) ...
    assert!(throttled > 0, "{:?}", fake.counters());
    // ... and the governor kept under it: few of the requests sent were turned away. (The
    // fixed 16-way fan-out this replaces had 2 of 3 turned away, then failed.)
    assert!(
        throttled * 100 <= sent * 15,
        "{throttled} of {sent} requests throttled"
    );
    let floor = limit.floor_secs(served);
    #[allow(clippy::print_stderr)] // the figures, for whoever reads the test's output
    {
        eprintln!(
            "populate of 1000 x 3 through a bucket of 10/s (burst 10): {took:.1?}, floor {floor:.1} s \
             ({:.2}x); {throttled} of {sent} requests throttled",
            took.as_secs_f64() / floor
        );
    }
}

#[test]
fn populate_waits_out_retry_after_and_never_comes_back_sooner() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let limit = RateLimit {
        retry_after: true,
        ..RateLimit::new(50.0, 10)
    };
    let (fake, sb) = throttled_world(backend, 200, limit.clone());
    let started = Instant::now();
    let out = populate(&sb, &[]);
    let took = started.elapsed();
    assert_success(&out);
    assert_eq!(profile_names(&sb.read_config()).len(), 600);
    let (sent, served) = list_calls(&fake);
    assert_eq!(served, 10 + 200);
    assert!(fake.throttled() > 0, "{:?}", fake.counters());
    assert_eq!(
        fake.counters()[RETRIED_TOO_SOON],
        0,
        "every throttled request waited its Retry-After"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "populate of 200 x 3 through a bucket of 50/s (burst 10) with Retry-After: {took:.1?}, \
             floor {:.1} s; {} of {sent} requests throttled",
            limit.floor_secs(served),
            fake.throttled()
        );
    }
}

#[test]
fn populate_throttled_throughout_ends_at_its_deadline_with_one_line_and_writes_nothing() {
    let Some(backend) = Backend::any() else {
        return;
    };
    let fake = FakeAws::start(FakeConfig::with_org(Org::generated(3, 3)))
        .expect("start the fake IAM Identity Center");
    // The test scale (0.01) makes the 10-minute deadline 6 s.
    let sb = sso_sandbox(backend, &fake);
    login(&sb, &[]);
    // A bucket that never refills and is empty: every list call is throttled.
    fake.configure(|c| c.rate_limit = Some(RateLimit::new(0.0, 0)));
    fake.reset();
    let before = snapshot(&sb);
    let line = assert_one_line_error(&populate(&sb, &[]));
    let throttled = fake.throttled();
    // keyfob counts the 429s it read; a call still in flight at the deadline reached the
    // fake but was never answered to keyfob, so the fake may count one more.
    let said: u64 = line
        .split_once("throttled ")
        .and_then(|(_, rest)| rest.split_once(' '))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in: {line}"));
    assert!(
        said == throttled || said + 1 == throttled,
        "keyfob said {said}, the fake throttled {throttled}"
    );
    assert_eq!(
        line,
        format!(
            "keyfob: error: listing accounts and roles did not finish within 6 s (the portal \
             throttled {said} calls): found 0 accounts so far and the roles of 0; nothing \
             was written; run keyfob populate --sso-session {SESSION} again later"
        )
    );
    assert_eq!(snapshot(&sb), before, "nothing written, nothing stored");
    // The governor slowed down (halving to one call every 2 s) rather than hammering the
    // portal with its 1–50 ms test-scale backoff.
    assert!(
        (2..=30).contains(&throttled),
        "{throttled} ListAccounts calls in 6 s"
    );
    assert_eq!(fake.count(Op::ListAccounts), throttled);
}
