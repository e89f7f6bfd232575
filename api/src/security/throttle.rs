//! Rate limits per client, DRF's `AnonRateThrottle` (per client address) and
//! `UserRateThrottle` (per token), as GCRA: `requests` allowed in a burst, refilled evenly
//! over `per` (a rolling window, as in DRF).
//!
//! Two stores (`throttle.store`): `memory`, the `governor` crate's limiter in this process
//! (every instance counts on its own), and `redis`, one Lua script per request that runs the
//! same algorithm atomically in Redis on Redis' clock, so the rate holds across replicas.
//! A Redis that fails or does not answer within `throttle.redis_timeout_ms` lets the request
//! through (`throttle.fail_open`, the default) or answers 503; either way a warning is logged
//! (at most one per 10 s) and `throttle_store_errors_total` counts it.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use domain::auth::{Principal, Rate};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::{ApiError, ApiResult};
use crate::settings::{ThrottleSettings, ThrottleStore};

/// GCRA in one round trip. KEYS[1] holds the theoretical arrival time (microseconds of
/// Redis' clock); ARGV: the emission interval (microseconds per request) and the burst.
/// Returns 0 when the request is allowed (and counted), else the microseconds to wait.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then return math.ceil(allow_at - now) end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return 0
";

/// The throttle of one worker. Built once at start-up; each worker takes
/// [`Throttle::for_worker`] (the memory store is shared, a Redis connection is per worker).
pub struct Throttle {
    anon: Rate,
    user: Rate,
    store: Store,
}

enum Store {
    Memory(Arc<Memory>),
    Redis(Box<Redis>),
}

struct Memory {
    anon: DefaultKeyedRateLimiter<IpAddr>,
    user: DefaultKeyedRateLimiter<i64>,
    clock: DefaultClock,
}

struct Redis {
    client: redis::Client,
    /// `None` in the start-up template; each worker opens its own, lazily.
    connection: Option<ConnectionManager>,
    script: Arc<redis::Script>,
    prefix: Arc<str>,
    timeout: Duration,
    fail_open: bool,
    /// Requests whose rate could not be checked, across this service's workers
    /// (`throttle_store_errors_total`).
    errors: Arc<AtomicU64>,
}

/// `requests` per `per`, allowed in a burst, refilled evenly.
fn quota(rate: Rate) -> Quota {
    let burst = NonZeroU32::new(rate.requests).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(interval(rate))
        .map_or(Quota::per_second(burst), |quota| quota.allow_burst(burst))
}

fn interval(rate: Rate) -> Duration {
    (rate.per / rate.requests.max(1)).max(Duration::from_nanos(1))
}

fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl Throttle {
    /// The start-up template. Connects to nothing: a Redis that is down at start-up is an
    /// outage like any other. A `redis_url` that does not parse is an error naming the key.
    pub fn new(settings: &ThrottleSettings) -> Result<Throttle, String> {
        let store = match settings.store {
            ThrottleStore::Memory => Store::Memory(Arc::new(Memory {
                anon: RateLimiter::dashmap(quota(settings.anon)),
                user: RateLimiter::dashmap(quota(settings.user)),
                clock: DefaultClock::default(),
            })),
            ThrottleStore::Redis => Store::Redis(Box::new(Redis {
                client: redis_client(settings.redis_url.expose(), &settings.redis_ca_file)?,
                connection: None,
                script: Arc::new(redis::Script::new(GCRA)),
                prefix: settings.redis_key_prefix.as_str().into(),
                timeout: Duration::from_millis(settings.redis_timeout_ms.max(1)),
                fail_open: settings.fail_open,
                errors: Arc::default(),
            })),
        };
        Ok(Throttle {
            anon: settings.anon,
            user: settings.user,
            store,
        })
    }

    /// A worker's throttle: the same memory store, or a Redis connection of its own (opened
    /// on first use, reopened after a failure).
    pub fn for_worker(&self) -> Throttle {
        let store = match &self.store {
            Store::Memory(memory) => Store::Memory(memory.clone()),
            Store::Redis(redis) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(redis.timeout.max(Duration::from_secs(1))))
                    .set_response_timeout(Some(redis.timeout))
                    .set_number_of_retries(0);
                let connection =
                    ConnectionManager::new_lazy_with_config(redis.client.clone(), config)
                        .inspect_err(
                            |error| tracing::warn!(%error, "throttle store: no Redis connection"),
                        )
                        .ok();
                Store::Redis(Box::new(Redis {
                    client: redis.client.clone(),
                    connection,
                    script: redis.script.clone(),
                    prefix: redis.prefix.clone(),
                    timeout: redis.timeout,
                    fail_open: redis.fail_open,
                    errors: redis.errors.clone(),
                }))
            }
        };
        Throttle {
            anon: self.anon,
            user: self.user,
            store,
        }
    }

    /// The count of requests whose rate the store could not check (none for the memory
    /// store, which cannot fail), shared by every worker's throttle made from this one.
    pub fn store_errors(&self) -> Option<Arc<AtomicU64>> {
        match &self.store {
            Store::Memory(_) => None,
            Store::Redis(redis) => Some(redis.errors.clone()),
        }
    }

    /// Counts this request against its caller's rate: the token's, else the address's.
    pub async fn check(&self, principal: Option<&Principal>, client_ip: IpAddr) -> ApiResult<()> {
        let client_ip = anonymous_client(client_ip);
        match &self.store {
            Store::Memory(memory) => {
                let outcome = match principal {
                    Some(principal) => memory.user.check_key(&principal.token_id),
                    None => memory.anon.check_key(&client_ip),
                };
                outcome.map_err(|not_until| ApiError::Throttled {
                    wait_secs: whole_seconds(not_until.wait_time_from(memory.clock.now())),
                })
            }
            Store::Redis(redis) => {
                let (key, rate) = match principal {
                    Some(principal) => (
                        format!("{}user:{}", redis.prefix, principal.token_id),
                        self.user,
                    ),
                    None => (format!("{}anon:{client_ip}", redis.prefix), self.anon),
                };
                redis.check(&key, rate).await
            }
        }
    }

    /// Forgets clients whose limits are back to full, so memory does not grow with every
    /// address ever seen (Redis expires its keys itself).
    pub fn purge(&self) {
        if let Store::Memory(memory) = &self.store {
            memory.anon.retain_recent();
            memory.user.retain_recent();
            memory.anon.shrink_to_fit();
            memory.user.shrink_to_fit();
        }
    }
}

/// The address an anonymous client is counted by. An IPv6 client is its /64: one subscriber's
/// network, in which it can pick any of 2^64 addresses (an IPv4-mapped address is its IPv4
/// address).
fn anonymous_client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
        v4 => v4,
    }
}

/// The Redis client of `throttle.redis_url`: `redis://`, or `rediss://` (TLS, the server's
/// certificate checked against the Mozilla roots built in, or against the PEM certificates
/// of `throttle.redis_ca_file` when it is set).
fn redis_client(url: &str, ca_file: &str) -> Result<redis::Client, String> {
    if url.trim().is_empty() {
        return Err("throttle.redis_url: required when throttle.store = \"redis\"".into());
    }
    // The URL may hold a password: the message never repeats it, nor the parser's detail.
    let not_a_url = |_| {
        "throttle.redis_url: not a Redis URL (redis://[:PASSWORD@]HOST[:PORT][/DB], or rediss:// \
         for TLS)"
            .to_string()
    };
    if ca_file.is_empty() {
        return redis::Client::open(url).map_err(not_a_url);
    }
    if !url.starts_with("rediss://") {
        return Err(
            "throttle.redis_ca_file: set, but throttle.redis_url is not a rediss:// (TLS) URL"
                .into(),
        );
    }
    let pem = std::fs::read(ca_file)
        .map_err(|error| format!("throttle.redis_ca_file: cannot read {ca_file}: {error}"))?;
    // (An empty list of roots would only fail at the first connection.)
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    if !pem.windows(BEGIN.len()).any(|w| w == BEGIN) {
        return Err(format!(
            "throttle.redis_ca_file: no PEM certificate in {ca_file}"
        ));
    }
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    redis::Client::build_with_tls(url, certificates).map_err(|error| {
        if redis::IntoConnectionInfo::into_connection_info(url).is_err() {
            not_a_url(error)
        } else {
            format!("throttle.redis_ca_file: {ca_file}: {error}")
        }
    })
}

/// Checks `throttle.redis_url` (and `throttle.redis_ca_file`) without connecting.
pub fn check_redis(url: &str, ca_file: &str) -> Result<(), String> {
    redis_client(url, ca_file).map(drop)
}

impl Redis {
    async fn check(&self, key: &str, rate: Rate) -> ApiResult<()> {
        let Some(connection) = &self.connection else {
            return self.unavailable("no connection");
        };
        let mut connection = connection.clone();
        let interval = u64::try_from(interval(rate).as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut invocation = self.script.key(key);
        invocation.arg(interval).arg(rate.requests);
        // A connection found dead (Redis restarted, a proxy dropped it) is being replaced by
        // the manager: the command goes once more, on the new one, within the same deadline.
        // (A connection that broke after Redis ran the command counts that request twice.)
        let run = async {
            match invocation.invoke_async::<i64>(&mut connection).await {
                Err(error) if error.is_connection_dropped() || error.is_io_error() => {
                    invocation.invoke_async::<i64>(&mut connection).await
                }
                outcome => outcome,
            }
        };
        match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(wait)) if wait <= 0 => Ok(()),
            Ok(Ok(wait)) => Err(ApiError::Throttled {
                wait_secs: whole_seconds(Duration::from_micros(wait.unsigned_abs())),
            }),
            Ok(Err(error)) => self.unavailable(&error.to_string()),
            Err(_) => self.unavailable("no answer within throttle.redis_timeout_ms"),
        }
    }

    fn unavailable(&self, cause: &str) -> ApiResult<()> {
        self.errors.fetch_add(1, Ordering::Relaxed);
        warn_now_and_then(cause, self.fail_open);
        if self.fail_open {
            Ok(())
        } else {
            Err(ApiError::ThrottleUnavailable)
        }
    }
}

/// One warning per 10 s at most, with the number of failures it stands for.
fn warn_now_and_then(cause: &str, fail_open: bool) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    static SINCE: AtomicU64 = AtomicU64::new(0);
    let failures = SINCE.fetch_add(1, Ordering::Relaxed) + 1;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    if now >= last + 10
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        SINCE.fetch_sub(failures, Ordering::Relaxed);
        let outcome = if fail_open {
            "served without a rate check"
        } else {
            "refused with 503"
        };
        tracing::warn!(
            error = %cause,
            failures,
            "throttle store (Redis) unavailable: requests are {outcome}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(store: ThrottleStore, redis_url: &str) -> ThrottleSettings {
        ThrottleSettings {
            enabled: true,
            anon: "5/minute".parse().unwrap(),
            user: "2/minute".parse().unwrap(),
            store,
            redis_url: infrastructure::Secret::new(redis_url.into()),
            redis_ca_file: String::new(),
            redis_key_prefix: "test:".into(),
            redis_timeout_ms: 50,
            fail_open: true,
        }
    }

    #[tokio::test]
    async fn the_request_after_the_rate_is_throttled_with_a_wait() {
        let throttle = Throttle::new(&settings(ThrottleStore::Memory, ""))
            .unwrap()
            .for_worker();
        let ip: IpAddr = "1.2.3.4".parse().unwrap();
        for _ in 0..5 {
            throttle.check(None, ip).await.unwrap();
        }
        match throttle.check(None, ip).await {
            Err(ApiError::Throttled { wait_secs }) => {
                assert!((1..=12).contains(&wait_secs), "{wait_secs}")
            }
            other => panic!("expected a throttle, got {other:?}"),
        }
        throttle
            .check(None, "5.6.7.8".parse().unwrap())
            .await
            .expect("other clients are counted apart");
        let principal = Principal {
            token_id: 1,
            name: "ci".into(),
        };
        throttle
            .check(Some(&principal), ip)
            .await
            .expect("tokens have their own rate");
        throttle.check(Some(&principal), ip).await.unwrap();
        assert!(throttle.check(Some(&principal), ip).await.is_err());
        throttle.purge();
    }

    #[tokio::test]
    async fn an_ipv6_client_is_counted_by_its_64() {
        let throttle = Throttle::new(&settings(ThrottleStore::Memory, ""))
            .unwrap()
            .for_worker();
        for last in 1..=5 {
            let ip = format!("2001:db8:1:2::{last}").parse().unwrap();
            throttle.check(None, ip).await.unwrap();
        }
        let same_network = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert!(throttle.check(None, same_network).await.is_err());
        let next_network = "2001:db8:1:3::1".parse().unwrap();
        throttle.check(None, next_network).await.unwrap();
        assert_eq!(
            anonymous_client("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn redis_urls_are_checked_without_echoing_them() {
        for bad in ["", "http://x", "redis://:hunter2@[bad"] {
            let error = Throttle::new(&settings(ThrottleStore::Redis, bad))
                .err()
                .expect(bad);
            assert!(error.starts_with("throttle.redis_url:"), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        assert!(Throttle::new(&settings(ThrottleStore::Redis, "redis://127.0.0.1:1/0")).is_ok());
    }
}
