//! The one backoff policy of wasp's retries (sinks and webhooks): an exponential window with jitter, so that a
//! fleet of agents that lost the same backend does not come back in step.

use std::time::Duration;

/// The window before attempt `n` (1-based): `initial`, doubling, capped at `max`.
pub(crate) fn window(n: u32, initial: Duration, max: Duration) -> Duration {
    initial
        .saturating_mul(1u32 << n.saturating_sub(1).min(20))
        .min(max)
}

/// A random point of `[lo, hi]`.
fn jitter(lo: Duration, hi: Duration) -> Duration {
    lo + hi.saturating_sub(lo).mul_f64(fastrand::f64())
}

/// Backoff before attempt `n` (1-based): full jitter over the window, never below a tenth of it so a loop cannot
/// spin; Retry-After wins if longer.
pub(crate) fn backoff(
    n: u32,
    initial: Duration,
    max: Duration,
    after: Option<Duration>,
) -> Duration {
    let w = window(n, initial, max);
    let jittered = jitter(w / 10, w);
    match after {
        Some(a) if a > jittered => a,
        _ => jittered,
    }
}

/// Backoff before attempt `n` where the step is promised as a minimum ("retried after `backoff`, doubling", as
/// webhooks document it): the window plus up to half of it again.
pub(crate) fn at_least(n: u32, initial: Duration, max: Duration) -> Duration {
    let w = window(n, initial, max);
    jitter(w, w + w / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_honours_retry_after() {
        let (i, m) = (Duration::from_secs(1), Duration::from_secs(60));
        for n in 1..30 {
            let b = backoff(n, i, m, None);
            assert!(b <= m && b >= Duration::from_millis(100), "{n}: {b:?}");
        }
        assert_eq!(
            backoff(1, i, m, Some(Duration::from_secs(20))),
            Duration::from_secs(20)
        );
    }

    #[test]
    fn at_least_keeps_the_promised_step_and_spreads_above_it() {
        let (i, m) = (Duration::from_millis(50), Duration::from_secs(60));
        let waits: Vec<Duration> = (0..50).map(|_| at_least(2, i, m)).collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= Duration::from_millis(100) && *w <= Duration::from_millis(150))
        );
        assert!(waits.iter().any(|w| *w != waits[0]), "no jitter: {waits:?}");
        assert_eq!(window(40, i, m), m);
    }
}
