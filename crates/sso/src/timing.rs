//! Waits: the device-flow poll interval and the backoff of throttled portal calls.
//!
//! `KEYFOB_TEST_POLL_SCALE` multiplies every such wait (e.g. `0.01`). It exists only so that
//! the end-to-end tests do not wait 5 s per device-flow poll or seconds per throttled call;
//! users have no reason to set it. It is honoured only when the endpoint being polled is on
//! loopback (`http(s)://127.x.x.x`, `[::1]` or `localhost`): against the real service a
//! stray value must not turn keyfob into a client that ignores the interval, `slow_down` and
//! throttling.

use keyfob_core::Env;
use std::time::Duration;

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
}
