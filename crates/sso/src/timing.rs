//! Waits: the device-flow poll interval, the backoff of failed portal calls, and the
//! governor (`Governor`) that paces the listing's calls under the portal's rate limit.
//!
//! `KEYFOB_TEST_POLL_SCALE` multiplies every such wait (e.g. `0.01`), and the listing's
//! overall deadline too. It exists only so that the end-to-end tests do not wait 5 s per
//! device-flow poll, seconds per failed call or 10 minutes for a deadline; users have no reason
//! to set it. It is honoured only when the endpoint being polled is on loopback
//! (`http(s)://127.x.x.x`, `[::1]` or `localhost`): against the real service a stray value must
//! not turn keyfob into a client that ignores the interval, `slow_down` and throttling. It never
//! scales the governor's rate (that is learnt from the service's answers) nor a wait the
//! service asked for (`Retry-After`).

use keyfob_core::Env;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// The variable that scales every wait, for the tests.
pub const POLL_SCALE_VAR: &str = "KEYFOB_TEST_POLL_SCALE";

/// The factor from `KEYFOB_TEST_POLL_SCALE` for waits on `endpoint`: a finite number in
/// (0, 1] when `endpoint` is on loopback, else 1.
pub(crate) fn poll_scale(env: &Env, endpoint: &str) -> f64 {
    let Some(v) = env.get_non_empty(POLL_SCALE_VAR) else {
        return 1.0;
    };
    match v.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 && f <= 1.0 => {
            if is_loopback_endpoint(endpoint) {
                f
            } else {
                tracing::warn!(%endpoint, "ignoring {POLL_SCALE_VAR}: the endpoint is not on loopback");
                1.0
            }
        }
        _ => {
            tracing::warn!(value = %v, "ignoring {POLL_SCALE_VAR}: not a number in (0, 1]");
            1.0
        }
    }
}

/// Whether `endpoint` is an http(s) URL whose host is a loopback address (`127.0.0.0/8`,
/// `::1`) or `localhost`.
pub(crate) fn is_loopback_endpoint(endpoint: &str) -> bool {
    let Ok(url) = url::Url::parse(endpoint.trim()) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// `d` times `scale`.
pub(crate) fn scaled(d: Duration, scale: f64) -> Duration {
    d.mul_f64(scale)
}

/// Exponential backoff with full jitter (the AWS architecture blog's "Full Jitter"): before
/// retry `n` (0-based) wait a uniformly random time in `[0, min(cap, base * 2^n)]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first ceiling.
    pub base: Duration,
    /// The largest ceiling.
    pub cap: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Multiplies every wait (see [`POLL_SCALE_VAR`]).
    pub scale: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
            max_attempts: 8,
            scale: 1.0,
        }
    }
}

impl Backoff {
    /// The default schedule for calls to `endpoint`, scaled by the environment (see
    /// [`POLL_SCALE_VAR`]: only for a loopback endpoint).
    pub fn from_env(env: &Env, endpoint: &str) -> Self {
        Self {
            scale: poll_scale(env, endpoint),
            ..Self::default()
        }
    }

    /// The largest wait before retry `retry` (0-based).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        scaled(self.base.saturating_mul(factor).min(self.cap), self.scale)
    }

    /// The wait before retry `retry`, given a uniform random number in `[0, 1)`.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        self.ceiling(retry).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait before retry `retry`, with a fresh random draw.
    pub(crate) fn jittered(&self, retry: u32) -> Duration {
        self.delay(retry, rand::random::<f64>())
    }
}

/// The rate-limit governor's constants; see [`Governor`] for how they play together.
mod aimd {
    /// Multiplicative decrease: the rate after a 429 is this share of the rate before it.
    pub(super) const DECREASE: f64 = 0.8;
    /// ... or this share, when not one call got through since the last decrease: the rate
    /// is far too high (the first estimate, made from a burst, often is).
    pub(super) const DECREASE_HARD: f64 = 0.5;
    /// Additive increase below the ceiling: this share of the ceiling is added per second of
    /// successes, so the rate is back at the ceiling 2 s after a decrease.
    pub(super) const RECOVER_PER_SEC: f64 = 0.1;
    /// Probing above the ceiling: requests a second added per success, which doubles the rate
    /// about every 0.7 s until the service pushes back.
    pub(super) const PROBE_PER_SUCCESS: f64 = 1.0;
    /// The rate never goes below this many requests a second.
    pub(super) const MIN_RATE: f64 = 0.5;
    /// Nor above this many times the rate calls actually started at over the last second: a
    /// rate nothing has tried says nothing about the service.
    pub(super) const MAX_OVER_MEASURED: f64 = 2.0;
    /// The window the started rate is measured over.
    pub(super) const WINDOW: std::time::Duration = std::time::Duration::from_secs(1);
    /// The shortest time a rate is measured over (the first calls come all at once).
    pub(super) const MIN_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);
}

/// Paces calls to a service that limits its request rate (IAM Identity Center's portal answers
/// 429 `TooManyRequestsException` beyond a token bucket whose size is not published).
///
/// Until the first 429 nothing is paced: against an unthrottled service only the caller's
/// concurrency limits the listing. The first 429 sets a rate: 0.8 × the rate calls started at
/// over the last second. From then on calls start at most at that rate, and it moves with
/// the answers (AIMD):
/// - a 429 multiplies it by 0.8 ([`aimd::DECREASE`]), or by 0.5 when not one call got
///   through since the last decrease, and makes the rate before the decrease the *ceiling*;
///   only a 429 to a call started at the current rate counts, so the calls already in flight
///   when the rate came down do not bring it down again;
/// - a success below the ceiling adds to it linearly, 10 % of the ceiling per second: back at
///   the ceiling 2 s after a decrease. The deficit on the way (a fifth of a second's worth of
///   calls) is what a bucket's burst absorbs, so the tokens it gains meanwhile are not lost;
/// - a success at or above the ceiling adds 1 request a second: the service stopped pushing
///   back where it did before, so the rate grows geometrically (doubling every 0.7 s) until
///   it does again;
/// - never below 0.5 requests a second, nor above twice the rate calls actually started at
///   over the last second (a rate nothing has tried says nothing).
///
/// A bucket loses tokens only while it is full; a 429 takes none. So a rate that hovers just
/// above the bucket's finishes at the bucket's floor, `(calls - burst) / rate`, and the few
/// 429s it meets (one decrease every few seconds) are the price of finding the rate without
/// being told it. Calls on the critical path (the next page of accounts, on which later work
/// depends) can ask to go first.
#[derive(Debug, Default)]
pub(crate) struct Governor {
    state: Mutex<Pace>,
}

/// Proof that a call was let start, at the rate of a given epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    epoch: u64,
}

#[derive(Debug, Default)]
struct Pace {
    /// Requests a second; `None` until the first 429.
    rate: Option<f64>,
    /// The rate before the last decrease.
    ceiling: f64,
    /// The earliest start of the next call.
    next_start: Option<Instant>,
    /// Decreases so far.
    epoch: u64,
    /// Whether any call has got through since the last decrease.
    served_since_decrease: bool,
    /// Calls waiting that asked to go first.
    urgent: usize,
    /// Starts within the last [`aimd::WINDOW`].
    starts: VecDeque<Instant>,
    /// The first start.
    first: Option<Instant>,
    /// 429s seen.
    throttled: u64,
}

impl Pace {
    /// Start a call at `now`, or the instant to try again.
    fn try_start(&mut self, now: Instant, urgent: bool) -> Result<Ticket, Instant> {
        if let Some(rate) = self.rate {
            let due = self.next_start.unwrap_or(now);
            let interval = Duration::from_secs_f64(1.0 / rate);
            if !urgent && self.urgent > 0 {
                // Half an interval after the urgent call has had its turn.
                return Err(due.max(now) + interval / 2);
            }
            if now < due {
                return Err(due);
            }
            self.next_start = Some(now + interval);
        }
        self.first.get_or_insert(now);
        self.starts.push_back(now);
        Ok(Ticket { epoch: self.epoch })
    }

    /// Calls started per second over the last [`aimd::WINDOW`].
    fn measured(&mut self, now: Instant) -> f64 {
        while self
            .starts
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > aimd::WINDOW)
        {
            self.starts.pop_front();
        }
        let since_first = self
            .first
            .map_or(Duration::ZERO, |f| now.saturating_duration_since(f));
        let window = since_first.clamp(aimd::MIN_WINDOW, aimd::WINDOW);
        // A count of calls in one second: far below 2^52.
        #[allow(clippy::cast_precision_loss)]
        let count = self.starts.len() as f64;
        count / window.as_secs_f64()
    }

    fn succeeded(&mut self, now: Instant) {
        self.served_since_decrease = true;
        let Some(rate) = self.rate else { return };
        let grown = if rate < self.ceiling {
            // Per success, at `rate` successes a second: `RECOVER_PER_SEC × ceiling` a second.
            rate + aimd::RECOVER_PER_SEC * self.ceiling / rate
        } else {
            rate + aimd::PROBE_PER_SUCCESS
        };
        let tried = aimd::MAX_OVER_MEASURED * self.measured(now);
        self.rate = Some(grown.min(tried.max(self.ceiling)).max(aimd::MIN_RATE));
    }

    fn throttled(&mut self, ticket: Ticket, now: Instant) {
        self.throttled += 1;
        if ticket.epoch != self.epoch {
            // Started before the last decrease: its answer says nothing about the new rate.
            return;
        }
        let (before, factor) = match self.rate {
            Some(rate) if !self.served_since_decrease => (rate, aimd::DECREASE_HARD),
            Some(rate) => (rate, aimd::DECREASE),
            None => (self.measured(now), aimd::DECREASE),
        };
        let after = (factor * before).max(aimd::MIN_RATE);
        self.ceiling = before;
        self.rate = Some(after);
        self.epoch += 1;
        self.served_since_decrease = false;
        tracing::debug!(
            before = format!("{before:.1}/s"),
            after = format!("{after:.1}/s"),
            "throttled: slowing down"
        );
    }
}

impl Governor {
    fn lock(&self) -> MutexGuard<'_, Pace> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait until a call may start; `urgent` calls go before the others.
    pub(crate) async fn start(&self, urgent: bool) -> Ticket {
        struct Urgent<'a>(&'a Governor);
        impl Drop for Urgent<'_> {
            fn drop(&mut self) {
                self.0.lock().urgent -= 1;
            }
        }
        let _urgent = urgent.then(|| {
            self.lock().urgent += 1;
            Urgent(self)
        });
        loop {
            let next = self.lock().try_start(Instant::now(), urgent);
            match next {
                Ok(ticket) => return ticket,
                Err(at) => tokio::time::sleep_until(at).await,
            }
        }
    }

    /// A call succeeded.
    pub(crate) fn succeeded(&self) {
        self.lock().succeeded(Instant::now());
    }

    /// The call of `ticket` was throttled.
    pub(crate) fn throttled(&self, ticket: Ticket) {
        self.lock().throttled(ticket, Instant::now());
    }

    /// How many calls were throttled.
    pub(crate) fn throttled_count(&self) -> u64 {
        self.lock().throttled
    }

    /// The current rate limit in requests a second (`None`: not pacing).
    #[cfg(test)]
    fn rate(&self) -> Option<f64> {
        self.lock().rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_doubles_to_the_cap() {
        let b = Backoff::default();
        let ms: Vec<u128> = (0..8).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(b.ceiling(100), Duration::from_secs(5));
        assert_eq!(b.delay(3, 0.5), Duration::from_millis(400));
        assert_eq!(b.delay(3, 0.0), Duration::ZERO);
        for n in 0..10 {
            assert!(b.jittered(n) <= b.ceiling(n));
        }
    }

    const LOCAL: &str = "http://127.0.0.1:4567";

    fn same(a: f64, b: f64) -> bool {
        (a - b).abs() < f64::EPSILON
    }

    #[test]
    fn scale_comes_from_the_environment() {
        let b = Backoff::from_env(&Env::from_pairs([(POLL_SCALE_VAR, "0.01")]), LOCAL);
        assert_eq!(b.ceiling(0), Duration::from_millis(1));
        assert_eq!(b.ceiling(10), Duration::from_millis(50));
        assert!(same(
            poll_scale(&Env::from_pairs([(POLL_SCALE_VAR, "abc")]), LOCAL),
            1.0
        ));
        assert!(same(
            poll_scale(&Env::from_pairs([(POLL_SCALE_VAR, "0")]), LOCAL),
            1.0
        ));
        assert!(same(
            poll_scale(&Env::from_pairs([(POLL_SCALE_VAR, "1.5")]), LOCAL),
            1.0
        ));
        assert!(same(
            poll_scale(&Env::from_pairs::<&str, &str>([]), LOCAL),
            1.0
        ));
        assert_eq!(
            scaled(Duration::from_secs(5), 0.01),
            Duration::from_millis(50)
        );
    }

    #[test]
    fn scale_is_honoured_only_for_loopback_endpoints() {
        let env = Env::from_pairs([(POLL_SCALE_VAR, "0.01")]);
        for local in [
            "http://127.0.0.1:4567",
            "http://127.0.0.1",
            "https://127.1.2.3:443/",
            "http://[::1]:8080",
            "http://localhost:9000",
            "https://LOCALHOST",
        ] {
            assert!(same(poll_scale(&env, local), 0.01), "{local}");
        }
        for remote in [
            "https://oidc.eu-west-1.amazonaws.com",
            "https://portal.sso.us-east-1.amazonaws.com",
            "http://10.0.0.1:4567",
            "http://128.0.0.1",
            "http://127.0.0.1.nip.io",
            "http://localhost.example.com",
            "http://[::2]",
            "ftp://127.0.0.1",
            "not a url",
            "",
        ] {
            assert!(same(poll_scale(&env, remote), 1.0), "{remote}");
        }
        let b = Backoff::from_env(&env, "https://portal.sso.eu-west-1.amazonaws.com");
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
    }

    // ---- the governor, on synthetic time ----

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nothing_is_paced_before_the_first_429() {
        let t0 = Instant::now();
        let mut pace = Pace::default();
        for _ in 0..100 {
            pace.try_start(t0, false).unwrap();
        }
        for _ in 0..100 {
            pace.succeeded(t0 + ms(20));
        }
        assert_eq!(pace.rate, None);
    }

    #[test]
    fn the_first_429_paces_at_four_fifths_of_the_measured_rate() {
        let t0 = Instant::now();
        let mut pace = Pace::default();
        // 50 calls over the first second, one every 20 ms.
        let tickets: Vec<Ticket> = (0..50)
            .map(|i| pace.try_start(t0 + ms(20 * i), false).unwrap())
            .collect();
        let now = t0 + ms(1000);
        pace.throttled(tickets[49], now);
        let rate = pace.rate.unwrap();
        assert!((rate - 40.0).abs() < 1e-9, "{rate}");
        // Calls already in flight at the old rate do not bring it down again.
        pace.throttled(tickets[48], now);
        pace.throttled(tickets[47], now + ms(1));
        assert_eq!(pace.rate, Some(rate));
        assert_eq!(pace.throttled, 3);
        // From now on one call every 25 ms.
        let first = pace.try_start(now, false).unwrap();
        assert_eq!(pace.try_start(now, false).unwrap_err(), now + ms(25));
        assert_eq!(
            pace.try_start(now + ms(24), false).unwrap_err(),
            now + ms(25)
        );
        let second = pace.try_start(now + ms(25), false).unwrap();
        assert_eq!(first.epoch, second.epoch);
        // A 429 at the new rate does count: × 0.8, one call at it having got through (which
        // added a tenth of the ceiling of 50 per second's worth of calls: 50 × 0.1 / 40).
        pace.succeeded(now + ms(20));
        pace.throttled(second, now + ms(45));
        let grown = 40.0 + 50.0 * 0.1 / 40.0;
        assert!((pace.rate.unwrap() - 0.8 * grown).abs() < 1e-9);
        assert!((pace.ceiling - grown).abs() < 1e-9);
        // None at that rate gets through: it was far too high, halve it.
        let third = pace.try_start(now + ms(50), false).unwrap();
        pace.throttled(third, now + ms(70));
        assert!((pace.rate.unwrap() - 0.4 * grown).abs() < 1e-9);
        assert!((pace.ceiling - 0.8 * grown).abs() < 1e-9);
    }

    #[test]
    fn the_rate_recovers_linearly_to_the_ceiling_then_probes_faster() {
        let t0 = Instant::now();
        let mut pace = Pace::default();
        let ticket = pace.try_start(t0, false).unwrap();
        // One start in the first 50 ms counts as 20 a second: the rate becomes 16.
        pace.throttled(ticket, t0);
        assert!((pace.rate.unwrap() - 16.0).abs() < 1e-9);
        // Calls at the paced rate, all served: 2 s back to the ceiling, 20 a second ...
        let mut now = t0;
        let mut back_at = None;
        while now < t0 + Duration::from_secs(6) {
            match pace.try_start(now, false) {
                Ok(_) => {
                    pace.succeeded(now);
                    if back_at.is_none() && pace.rate.unwrap() >= 20.0 {
                        back_at = Some(now - t0);
                    }
                }
                Err(at) => now = at,
            }
        }
        let back_at = back_at.unwrap();
        assert!(
            (ms(1800)..=ms(2300)).contains(&back_at),
            "back at the ceiling after {back_at:?}"
        );
        // ... then more than doubling a second, within twice the measured rate.
        let rate = pace.rate.unwrap();
        assert!(rate > 80.0, "{rate}");
        assert!(rate <= 2.0 * pace.measured(now) + 1e-9, "{rate}");
    }

    #[test]
    fn the_rate_never_falls_below_the_floor() {
        let t0 = Instant::now();
        let mut pace = Pace::default();
        let mut now = t0;
        for _ in 0..100 {
            let ticket = loop {
                match pace.try_start(now, false) {
                    Ok(t) => break t,
                    Err(at) => now = at,
                }
            };
            pace.throttled(ticket, now);
        }
        assert_eq!(pace.rate, Some(aimd::MIN_RATE));
        assert_eq!(pace.epoch, 100);
        // One start every 2 s at the floor: 100 throttled calls took about 3 minutes.
        assert!(now - t0 > Duration::from_secs(150), "{:?}", now - t0);
    }

    #[test]
    fn urgent_calls_go_first() {
        let t0 = Instant::now();
        let mut pace = Pace::default();
        let ticket = pace.try_start(t0, false).unwrap();
        pace.throttled(ticket, t0); // 16 a second: every 62.5 ms
        pace.try_start(t0, false).unwrap();
        pace.urgent = 1;
        let due = t0 + Duration::from_secs_f64(1.0 / 16.0);
        // At the due time the others wait another half interval; the urgent call goes.
        assert!(pace.try_start(due, false).unwrap_err() > due);
        pace.try_start(due, true).unwrap();
        pace.urgent = 0;
        assert_eq!(
            pace.try_start(due, false).unwrap_err(),
            due + Duration::from_secs_f64(1.0 / 16.0)
        );
    }

    #[tokio::test]
    async fn the_governor_lets_urgent_callers_count_down_when_they_leave() {
        let governor = Governor::default();
        let ticket = governor.start(true).await;
        assert_eq!(governor.lock().urgent, 0);
        governor.throttled(ticket);
        assert!(governor.rate().is_some());
        assert_eq!(governor.throttled_count(), 1);
        // A waiting urgent caller that is given up on (the deadline) leaves no trace.
        let waiting = tokio::time::timeout(ms(1), async {
            governor.start(true).await;
            governor.start(true).await;
            governor.start(true).await;
        });
        assert!(waiting.await.is_err());
        assert_eq!(governor.lock().urgent, 0);
    }

    /// A token bucket as the service keeps it: full at the start, `rate` tokens a second.
    struct Bucket {
        rate: f64,
        burst: f64,
        tokens: f64,
        at: Instant,
    }

    impl Bucket {
        fn take(&mut self, now: Instant) -> bool {
            let gained = (now - self.at).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + gained).min(self.burst);
            self.at = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                true
            } else {
                false
            }
        }
    }

    /// `calls` calls, at most `in_flight` at once, each answered after `latency`, against a
    /// bucket of `rate` a second and `burst`; a throttled call is started again as soon as
    /// the governor lets it. How long it all took, and how many 429s.
    fn simulate(
        rate: f64,
        burst: u32,
        calls: usize,
        latency: Duration,
        in_flight: usize,
    ) -> (Duration, usize) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let t0 = Instant::now();
        let mut pace = Pace::default();
        let mut bucket = Bucket {
            rate,
            burst: f64::from(burst),
            tokens: f64::from(burst),
            at: t0,
        };
        let (mut waiting, mut done, mut throttled) = (calls, 0, 0);
        let mut answers: BinaryHeap<Reverse<(Instant, u64, bool)>> = BinaryHeap::new();
        let mut now = t0;
        while done < calls {
            let mut retry_at = None;
            while waiting > 0 && answers.len() < in_flight {
                match pace.try_start(now, false) {
                    Ok(ticket) => {
                        let served = bucket.take(now);
                        answers.push(Reverse((now + latency, ticket.epoch, served)));
                        waiting -= 1;
                    }
                    Err(at) => {
                        retry_at = Some(at);
                        break;
                    }
                }
            }
            let next_answer = answers.peek().map(|a| a.0.0);
            now = match (next_answer, retry_at) {
                (Some(a), Some(r)) => a.min(r),
                (Some(a), None) => a,
                (None, Some(r)) => r,
                (None, None) => unreachable!("nothing in flight and nothing to start"),
            };
            while let Some(Reverse((at, epoch, served))) = answers.peek().copied() {
                if at > now {
                    break;
                }
                answers.pop();
                if served {
                    pace.succeeded(at);
                    done += 1;
                } else {
                    pace.throttled(Ticket { epoch }, at);
                    throttled += 1;
                    waiting += 1;
                }
            }
        }
        (now - t0, throttled)
    }

    #[test]
    fn a_simulated_bucket_is_used_to_within_a_fifth_of_its_floor() {
        // (rate, burst, calls, latency ms, largest share of requests throttled): the bench's
        // bucket, the e2e test's, a large one, one without burst, a slow service, and a tiny
        // bucket, whose first second (16 calls at once, then 2 a second) makes most of its
        // 429s.
        let mut report = Vec::new();
        for (rate, burst, calls, latency, share) in [
            (20.0, 10, 315, 20, 0.15),
            (10.0, 10, 1050, 20, 0.15),
            (100.0, 10, 1050, 20, 0.15),
            (100.0, 100, 1050, 20, 0.15),
            (10.0, 1, 315, 20, 0.15),
            (20.0, 10, 315, 200, 0.15),
            (2.0, 5, 105, 20, 0.4),
        ] {
            let (took, throttled) = simulate(rate, burst, calls, ms(latency), 16);
            // Of every request sent, the share that was throttled.
            #[allow(clippy::cast_precision_loss)]
            let (floor, throttled_share) = (
                (calls - burst as usize) as f64 / rate,
                throttled as f64 / (calls + throttled) as f64,
            );
            let ratio = took.as_secs_f64() / floor;
            let case = format!(
                "{rate}/s, burst {burst}, {calls} calls, {latency} ms: {took:.2?} for a floor of \
                 {floor:.2} s ({ratio:.2}x), {throttled} throttled"
            );
            report.push((case, ratio <= 1.2 && throttled_share <= share));
        }
        let lines: Vec<String> = report
            .iter()
            .map(|(case, ok)| format!("{} {case}", if *ok { "ok  " } else { "FAIL" }))
            .collect();
        #[allow(clippy::print_stderr)] // the figures, for whoever reads the test's output
        {
            eprintln!("{}", lines.join("\n"));
        }
        assert!(report.iter().all(|(_, ok)| *ok), "{}", lines.join("\n"));
    }

    #[test]
    fn an_unthrottled_service_is_not_paced() {
        let (took, throttled) = simulate(1e9, 1_000_000, 320, ms(20), 16);
        assert_eq!(throttled, 0);
        assert_eq!(took, ms(400)); // 20 rounds of 16 calls
    }
}
