//! Rate limits per client, DRF's `AnonRateThrottle` and `UserRateThrottle`, with the GCRA
//! limiter of the `governor` crate. State lives in this process: every instance of the
//! service counts separately.

use std::num::NonZeroU32;
use std::time::Duration;

use domain::auth::{Principal, Rate};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{ApiError, ApiResult};

pub struct Throttle {
    anon: DefaultKeyedRateLimiter<String>,
    user: DefaultKeyedRateLimiter<i64>,
    clock: DefaultClock,
}

/// `requests` per `per`, allowed in a burst, refilled evenly (a rolling window, as in DRF).
fn quota(rate: Rate) -> Quota {
    let burst = NonZeroU32::new(rate.requests).unwrap_or(NonZeroU32::MIN);
    let interval = (rate.per / rate.requests.max(1)).max(Duration::from_nanos(1));
    Quota::with_period(interval).map_or(Quota::per_second(burst), |quota| quota.allow_burst(burst))
}

impl Throttle {
    pub fn new(anon: Rate, user: Rate) -> Throttle {
        Throttle {
            anon: RateLimiter::dashmap(quota(anon)),
            user: RateLimiter::dashmap(quota(user)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts this request against its caller's rate: the token's, else the address's.
    pub fn check(&self, principal: Option<&Principal>, client_ip: &str) -> ApiResult<()> {
        let outcome = match principal {
            Some(principal) => self.user.check_key(&principal.token_id),
            None => self.anon.check_key(&client_ip.to_string()),
        };
        outcome.map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::Throttled {
                wait_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    /// Forgets clients whose limits are back to full, so memory does not grow with every
    /// address ever seen.
    pub fn purge(&self) {
        self.anon.retain_recent();
        self.user.retain_recent();
        self.anon.shrink_to_fit();
        self.user.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_after_the_rate_is_throttled_with_a_wait() {
        let throttle = Throttle::new("5/minute".parse().unwrap(), "2/minute".parse().unwrap());
        for _ in 0..5 {
            throttle.check(None, "1.2.3.4").unwrap();
        }
        match throttle.check(None, "1.2.3.4") {
            Err(ApiError::Throttled { wait_secs }) => {
                assert!((1..=12).contains(&wait_secs), "{wait_secs}")
            }
            other => panic!("expected a throttle, got {other:?}"),
        }
        throttle
            .check(None, "5.6.7.8")
            .expect("other clients are counted apart");
        let principal = Principal {
            token_id: 1,
            name: "ci".into(),
        };
        throttle
            .check(Some(&principal), "1.2.3.4")
            .expect("tokens have their own rate");
        throttle.check(Some(&principal), "1.2.3.4").unwrap();
        assert!(throttle.check(Some(&principal), "1.2.3.4").is_err());
        throttle.purge();
    }
}
