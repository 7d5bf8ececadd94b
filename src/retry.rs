//! Retrying with backoff: one policy for every place strata waits before
//! trying again (Kubernetes requests, webhooks, the `watch` loop).
//!
//! The wait doubles with each failure up to a cap, with jitter on its
//! upper half, so that replicas and concurrent requests do not retry in
//! step.

use std::future::Future;
use std::time::Duration;

/// How long to wait after failures.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The wait after the first failure (before jitter).
    pub first: Duration,
    /// The longest wait.
    pub cap: Duration,
}

impl Backoff {
    /// The wait after `failures` failures in a row: `first × 2^(failures-1)`,
    /// at most `cap`, times a random factor between ½ and 1.
    pub fn wait(&self, failures: u32) -> Duration {
        let doubled = self
            .first
            .saturating_mul(1 << failures.saturating_sub(1).min(16));
        doubled.min(self.cap).mul_f64(0.5 + fastrand::f64() / 2.0)
    }
}

/// Runs `attempt` until it succeeds, or fails in a way `again(error,
/// failures)` says not to retry; waits [`Backoff::wait`] in between.
///
/// # Errors
/// The last failure.
pub async fn retry<T, E, F, Fut>(
    backoff: Backoff,
    mut attempt: F,
    mut again: impl FnMut(&E, u32) -> bool,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut failures = 0;
    loop {
        match attempt().await {
            Err(e) => {
                failures += 1;
                if !again(&e, failures) {
                    return Err(e);
                }
                tokio::time::sleep(backoff.wait(failures)).await;
            }
            ok => return ok,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_the_cap_with_jitter() {
        let b = Backoff {
            first: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        };
        for _ in 0..50 {
            let one = b.wait(1);
            assert!(one >= Duration::from_millis(500) && one <= Duration::from_secs(1));
            let four = b.wait(4);
            assert!(four >= Duration::from_secs(4) && four <= Duration::from_secs(8));
            let capped = b.wait(30);
            assert!(capped >= Duration::from_secs(30) && capped <= Duration::from_secs(60));
        }
    }

    #[tokio::test]
    async fn retries_until_told_to_stop_and_returns_the_last_failure() {
        let b = Backoff {
            first: Duration::from_millis(1),
            cap: Duration::from_millis(1),
        };
        let mut calls = 0;
        let result: Result<(), u32> = retry(
            b,
            || {
                calls += 1;
                let n = calls;
                async move { Err(n) }
            },
            |_, failures| failures < 3,
        )
        .await;
        assert_eq!(result, Err(3));
        let mut calls = 0;
        let ok: Result<u32, u32> = retry(
            b,
            || {
                calls += 1;
                let n = calls;
                async move { if n == 2 { Ok(n) } else { Err(n) } }
            },
            |_, _| true,
        )
        .await;
        assert_eq!(ok, Ok(2));
    }
}
