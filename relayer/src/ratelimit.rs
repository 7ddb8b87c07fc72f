//! The per-client rate limit of the public status API and explorer: a token
//! bucket per client address, in a table of bounded size.
//!
//! A client is its peer address as the socket reports it, never a header a
//! client could write (`X-Forwarded-For`): behind a proxy every request
//! comes from the proxy, which is then limited as one client. An IPv6
//! client is its /64, the block one subscriber usually holds, so rotating
//! addresses inside it does not buy more requests.
//!
//! The table holds at most [`MAX_CLIENTS`]. When it is full, clients whose
//! bucket has refilled (idle long enough that forgetting them changes
//! nothing) are dropped; if none has, the one seen least recently is.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics::Metrics;

/// Most clients tracked at once (about 50 bytes each).
pub const MAX_CLIENTS: usize = 10_000;

/// The rate limit; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens added per second; 0 disables the limit.
    per_sec: f64,
    /// Bucket size.
    burst: f64,
    max_clients: usize,
    clients: Mutex<HashMap<u128, Bucket>>,
    metrics: Metrics,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The key of a client: an IPv4 address whole, an IPv6 address by its /64.
fn client_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // A dual-stack listener reports IPv4 clients this way.
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6) & !u128::from(u64::MAX),
        },
    }
}

impl RateLimiter {
    /// `per_sec` requests per second per client after a burst of `burst`;
    /// `per_sec == 0` disables the limit. Limited requests are counted in
    /// `switchyard_http_rate_limited_total`, tracked clients shown in
    /// `switchyard_http_rate_limit_clients`.
    pub fn new(per_sec: u32, burst: u32, metrics: Metrics) -> Self {
        Self::with_capacity(per_sec, burst, MAX_CLIENTS, metrics)
    }

    fn with_capacity(per_sec: u32, burst: u32, max_clients: usize, metrics: Metrics) -> Self {
        Self {
            per_sec: f64::from(per_sec),
            burst: f64::from(burst.max(1)),
            max_clients: max_clients.max(1),
            clients: Mutex::default(),
            metrics,
        }
    }

    /// No limit at all.
    pub fn disabled() -> Self {
        Self::new(0, 1, Metrics::new())
    }

    /// Takes one request's token for `client` at `now`: `Err` is how long
    /// until the client has one again.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_sec <= 0.0 {
            return Ok(());
        }
        let key = client_key(client);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() >= self.max_clients && !clients.contains_key(&key) {
            self.make_room(&mut clients, now);
        }
        let b = clients.entry(key).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.tokens = self.refilled(b, now);
        b.at = now;
        let outcome = if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.per_sec))
        };
        self.metrics
            .http_rate_limit_clients
            .set(i64::try_from(clients.len()).unwrap_or(i64::MAX));
        drop(clients);
        if outcome.is_err() {
            self.metrics.http_rate_limited.inc();
        }
        outcome
    }

    /// Tokens of `b` at `now`.
    fn refilled(&self, b: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + elapsed * self.per_sec).min(self.burst)
    }

    /// Drops every client whose bucket is full again; if there is none, the
    /// one seen least recently.
    fn make_room(&self, clients: &mut HashMap<u128, Bucket>, now: Instant) {
        let before = clients.len();
        clients.retain(|_, b| self.refilled(b, now) < self.burst);
        if clients.len() < before {
            return;
        }
        if let Some(oldest) = clients.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| *k) {
            clients.remove(&oldest);
        }
    }

    /// Clients tracked now.
    pub fn tracked(&self) -> usize {
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn a_burst_then_the_rate_and_each_client_apart() {
        let m = Metrics::new();
        let l = RateLimiter::new(2, 3, m.clone());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check(v4(1), t0), Ok(()));
        }
        let wait = l.check(v4(1), t0).expect_err("over the burst");
        assert_eq!(wait, Duration::from_millis(500), "one token at 2/s");
        assert_eq!(l.check(v4(2), t0), Ok(()), "another client is served");
        assert_eq!(l.check(v4(1), t0 + Duration::from_millis(500)), Ok(()));
        assert!(l.check(v4(1), t0 + Duration::from_millis(500)).is_err());
        // Idle for long: back to a full burst, never more.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(l.check(v4(1), later), Ok(()));
        }
        assert!(l.check(v4(1), later).is_err());
        assert_eq!(m.http_rate_limited.get(), 3);
        assert_eq!(m.http_rate_limit_clients.get(), 2);
    }

    #[test]
    fn zero_disables_the_limit() {
        let l = RateLimiter::new(0, 1, Metrics::new());
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert_eq!(l.check(v4(1), t0), Ok(()));
        }
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn ipv6_clients_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let l = RateLimiter::new(1, 1, Metrics::new());
        let t0 = Instant::now();
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().expect("ip");
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let other: Ipv6Addr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(l.check(IpAddr::V6(a), t0), Ok(()));
        assert!(l.check(IpAddr::V6(b), t0).is_err(), "same /64");
        assert_eq!(l.check(IpAddr::V6(other), t0), Ok(()));
        assert_eq!(l.check(v4(7), t0), Ok(()));
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert!(l.check(mapped, t0).is_err(), "the same IPv4 client");
    }

    #[test]
    fn the_table_stays_bounded_dropping_idle_clients_first() {
        let l = RateLimiter::with_capacity(1, 2, 3, Metrics::new());
        let t0 = Instant::now();
        // Client 1 is idle (full again after 2 s); 2 and 3 stay busy.
        assert_eq!(l.check(v4(1), t0), Ok(()));
        let t1 = t0 + Duration::from_secs(10);
        for c in [2, 3] {
            assert_eq!(l.check(v4(c), t1), Ok(()));
            assert_eq!(l.check(v4(c), t1), Ok(()));
        }
        assert_eq!(l.check(v4(4), t1), Ok(()));
        assert_eq!(l.tracked(), 3);
        assert!(l.check(v4(2), t1).is_err(), "a busy client was kept");
        assert!(l.check(v4(3), t1).is_err(), "a busy client was kept");
        // All busy: the least recently seen makes room.
        assert_eq!(l.check(v4(5), t1 + Duration::from_millis(1)), Ok(()));
        assert_eq!(l.tracked(), 3);
    }
}
