//! A pool of JSON-RPC endpoints for one chain: every call has a timeout, is
//! retried with exponential backoff and jitter, and fails over to the next
//! endpoint; an endpoint that failed stops being the preferred one.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy::providers::RootProvider;
use alloy::transports::{RpcError, TransportErrorKind};
use rand::Rng;

use crate::EvmError;
pub use crate::transport::{DEFAULT_MAX_RESPONSE_BYTES, HttpOptions};

/// Called after every RPC attempt with (chain, method, outcome), outcome one of
/// `ok`, `error`, `timeout`: lets the relayer count RPC outcomes without this
/// crate knowing about Prometheus (the beacon and CometBFT clients take
/// the same observer).
pub use switchyard_http::RpcObserver;

/// Timeouts and retries of a pool.
#[derive(Debug, Clone, Copy)]
pub struct RpcPolicy {
    /// Time allowed for one attempt.
    pub timeout: Duration,
    /// Attempts in total (across endpoints) before giving up.
    pub attempts: u32,
    /// First backoff; doubles per attempt, with jitter.
    pub backoff: Duration,
    /// Backoff ceiling.
    pub max_backoff: Duration,
    /// How often [`RpcPool::block_number`] compares every endpoint's head.
    pub stale_check_every: Duration,
    /// A preferred endpoint whose head has not moved for this long, while
    /// another is [`STALE_LAG_BLOCKS`] ahead, is stale even when no second
    /// endpoint confirms the other's head (longer than a few block times).
    pub frozen_after: Duration,
}

impl Default for RpcPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            attempts: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            stale_check_every: STALE_CHECK_EVERY,
            frozen_after: Duration::from_secs(60),
        }
    }
}

/// The preferred endpoint's head as last seen by a stale check, and since
/// when it has not moved.
#[derive(Debug, Clone, Copy)]
struct Progress {
    endpoint: usize,
    head: u64,
    since: std::time::Instant,
}

struct Endpoint {
    /// "endpoint#i": URLs may embed API keys, so they never reach logs.
    label: String,
    provider: RootProvider,
}

/// Endpoints of one chain.
#[derive(Clone)]
pub struct RpcPool {
    chain: Arc<str>,
    endpoints: Arc<[Endpoint]>,
    preferred: Arc<AtomicUsize>,
    policy: RpcPolicy,
    observer: Option<RpcObserver>,
    /// When the other endpoints' heads were last compared with the
    /// preferred one's (see [`RpcPool::block_number`]).
    last_stale_check: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    /// The preferred endpoint's progress across stale checks.
    progress: Arc<std::sync::Mutex<Option<Progress>>>,
}

/// How often [`RpcPool::block_number`] compares every endpoint's head.
pub const STALE_CHECK_EVERY: Duration = Duration::from_secs(10);
/// An endpoint this many blocks behind the best one is stale.
pub const STALE_LAG_BLOCKS: u64 = 3;

impl std::fmt::Debug for RpcPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcPool")
            .field("chain", &self.chain)
            .field("endpoints", &self.endpoints.len())
            .field("policy", &self.policy)
            .finish()
    }
}

impl RpcPool {
    /// A pool over `urls` (at least one), trusting the webpki roots, answers
    /// bounded by [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub fn new(chain: &str, urls: &[String], policy: RpcPolicy) -> Result<Self, EvmError> {
        Self::with_http(chain, urls, policy, &HttpOptions::default())
    }

    /// A pool over `urls` (at least one) reached as `http` says: the TLS
    /// roots (an operator's CA bundle) and the bound of one answer.
    pub fn with_http(
        chain: &str,
        urls: &[String],
        policy: RpcPolicy,
        http: &HttpOptions,
    ) -> Result<Self, EvmError> {
        if urls.is_empty() {
            return Err(EvmError::Malformed {
                what: "rpc endpoint list",
                reason: format!("chain {chain}: expected at least one URL, got none"),
            });
        }
        // One client (one connection pool) for the chain's endpoints; each
        // call's time is bounded by the pool's policy around it.
        let client = switchyard_http::client_builder(&http.roots)
            .and_then(|b| switchyard_http::build(b.connect_timeout(policy.timeout)))
            .map_err(|e| EvmError::Malformed {
                what: "rpc client",
                reason: format!("chain {chain}: {e}"),
            })?;
        let endpoints = urls
            .iter()
            .enumerate()
            .map(|(i, url)| {
                Ok(Endpoint {
                    label: format!("{chain}/endpoint#{i}"),
                    provider: crate::transport::provider(
                        &client,
                        url,
                        http.max_response_bytes,
                        &format!("chain {chain} endpoint#{i}"),
                    )?,
                })
            })
            .collect::<Result<Vec<_>, EvmError>>()?;
        Ok(Self {
            chain: chain.into(),
            endpoints: endpoints.into(),
            preferred: Arc::new(AtomicUsize::new(0)),
            policy,
            observer: None,
            last_stale_check: Arc::new(std::sync::Mutex::new(None)),
            progress: Arc::new(std::sync::Mutex::new(None)),
        })
    }

    /// Reports every attempt's outcome to `observer`.
    pub fn with_observer(mut self, observer: RpcObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The chain name this pool serves.
    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// How many endpoints the pool has.
    pub fn endpoint_count(&self) -> usize {
        self.endpoints.len()
    }

    /// The policy in force.
    pub fn policy(&self) -> RpcPolicy {
        self.policy
    }

    /// The currently preferred endpoint's provider, for one-shot calls whose
    /// retry the caller owns (raw transaction broadcast).
    pub fn preferred(&self) -> (RootProvider, String) {
        let i = self.preferred.load(Ordering::Relaxed) % self.endpoints.len();
        (
            self.endpoints[i].provider.clone(),
            self.endpoints[i].label.clone(),
        )
    }

    /// Moves preference away from endpoint label `label` (after a failure the
    /// caller observed itself).
    pub fn demote(&self, label: &str) {
        if let Some(i) = self.endpoints.iter().position(|e| e.label == label) {
            let _ = self.preferred.compare_exchange(
                i,
                (i + 1) % self.endpoints.len(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// The chain head (`eth_blockNumber`) from the preferred endpoint, with
    /// the pool's retries and failover. Every `stale_check_every` it also
    /// asks every other endpoint (a read, so asking several is harmless)
    /// and moves preference when the preferred endpoint is
    /// [`STALE_LAG_BLOCKS`] or more behind a head that two endpoints report,
    /// or behind another's head while its own has not moved for
    /// `frozen_after`: a node that stopped syncing answers every call
    /// successfully, so failures alone would never demote it, but one
    /// endpoint's claim alone must not move preference from a node that
    /// follows the chain (a liar claiming head + 3 would capture the pool).
    pub async fn block_number(&self) -> Result<u64, EvmError> {
        let head = self
            .read("eth_blockNumber", |p| async move {
                use alloy::providers::Provider;
                p.get_block_number().await
            })
            .await?;
        let due = {
            let mut last = self
                .last_stale_check
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let due = self.endpoints.len() > 1
                && last.is_none_or(|t| t.elapsed() >= self.policy.stale_check_every);
            if due {
                *last = Some(std::time::Instant::now());
            }
            due
        };
        if !due {
            return Ok(head);
        }
        let heads: Vec<Option<u64>> = self
            .each("eth_blockNumber", |p| async move {
                use alloy::providers::Provider;
                p.get_block_number().await
            })
            .await
            .into_iter()
            .map(Result::ok)
            .collect();
        let i = self.preferred.load(Ordering::Relaxed) % self.endpoints.len();
        let mine = heads[i].unwrap_or(head);
        let frozen = {
            let mut p = self.progress.lock().unwrap_or_else(|p| p.into_inner());
            match *p {
                Some(pr) if pr.endpoint == i && pr.head == mine => {
                    pr.since.elapsed() >= self.policy.frozen_after
                }
                _ => {
                    *p = Some(Progress {
                        endpoint: i,
                        head: mine,
                        since: std::time::Instant::now(),
                    });
                    false
                }
            }
        };
        let switch = corroborated_switch(&heads, i, mine)
            .or_else(|| frozen.then(|| ahead_of(&heads, i, mine)).flatten());
        match switch {
            Some((k, corroborated)) => {
                tracing::warn!(chain = %self.chain, stale = %self.endpoints[i].label, head = mine, frozen, best = %self.endpoints[k].label, best_head = corroborated, "preferred endpoint is behind (a head two endpoints report, or its own stopped moving): switching");
                self.observe("eth_blockNumber", "stale");
                let _ = self
                    .preferred
                    .compare_exchange(i, k, Ordering::Relaxed, Ordering::Relaxed);
                Ok(corroborated)
            }
            None => Ok(head),
        }
    }

    /// Asks every endpoint once, in parallel, each with the pool's timeout
    /// (no retries, no failover): for questions whose answers are compared
    /// across endpoints, such as a quorum on a block's hash. The answers are
    /// in endpoint order.
    pub async fn each<T, F, Fut>(&self, method: &'static str, f: F) -> Vec<Result<T, EvmError>>
    where
        F: Fn(RootProvider) -> Fut,
        Fut: Future<Output = Result<T, RpcError<TransportErrorKind>>>,
    {
        let asks = self.endpoints.iter().map(|ep| {
            let call = f(ep.provider.clone());
            async move {
                match tokio::time::timeout(self.policy.timeout, call).await {
                    Ok(Ok(v)) => {
                        self.observe(method, "ok");
                        Ok(v)
                    }
                    Ok(Err(e)) => {
                        self.observe(method, "error");
                        Err(EvmError::Rpc {
                            method,
                            endpoint: ep.label.clone(),
                            message: switchyard_types::redact::urls_in(&e.to_string()),
                        })
                    }
                    Err(_) => {
                        self.observe(method, "timeout");
                        Err(EvmError::Timeout {
                            method,
                            after: self.policy.timeout,
                        })
                    }
                }
            }
        });
        futures::future::join_all(asks).await
    }

    /// Moves preference to the next endpoint: the caller found the preferred
    /// one's answers disputed by the others (see the header-chain quorum).
    pub fn rotate(&self) {
        let i = self.preferred.load(Ordering::Relaxed) % self.endpoints.len();
        let _ = self.preferred.compare_exchange(
            i,
            (i + 1) % self.endpoints.len(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Label of the endpoint currently preferred (for logs and tests).
    pub fn preferred_label(&self) -> String {
        let i = self.preferred.load(Ordering::Relaxed) % self.endpoints.len();
        self.endpoints[i].label.clone()
    }

    fn observe(&self, method: &'static str, outcome: &'static str) {
        if let Some(o) = &self.observer {
            o(&self.chain, method, outcome);
        }
    }

    /// Runs an idempotent read with timeout, retries and failover. `None`
    /// from the node ("not found") is returned as is: it is an answer.
    pub async fn read<T, F, Fut>(&self, method: &'static str, f: F) -> Result<T, EvmError>
    where
        F: Fn(RootProvider) -> Fut,
        Fut: Future<Output = Result<T, RpcError<TransportErrorKind>>>,
    {
        let mut last = None;
        for attempt in 0..self.policy.attempts.max(1) {
            let i = self.preferred.load(Ordering::Relaxed) % self.endpoints.len();
            let ep = &self.endpoints[i];
            match tokio::time::timeout(self.policy.timeout, f(ep.provider.clone())).await {
                Ok(Ok(v)) => {
                    self.observe(method, "ok");
                    return Ok(v);
                }
                Ok(Err(e)) => {
                    self.observe(method, "error");
                    last = Some(EvmError::Rpc {
                        method,
                        endpoint: ep.label.clone(),
                        message: switchyard_types::redact::urls_in(&e.to_string()),
                    });
                }
                Err(_) => {
                    self.observe(method, "timeout");
                    last = Some(EvmError::Timeout {
                        method,
                        after: self.policy.timeout,
                    });
                }
            }
            // Fail over: the next attempt goes to the next endpoint.
            let _ = self.preferred.compare_exchange(
                i,
                (i + 1) % self.endpoints.len(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            if attempt + 1 < self.policy.attempts {
                tokio::time::sleep(backoff(self.policy, attempt)).await;
            }
        }
        Err(last.unwrap_or(EvmError::Timeout {
            method,
            after: self.policy.timeout,
        }))
    }
}

/// Where preference moves from endpoint `preferred` (head `mine`), given
/// every endpoint's reported head: the highest head reported by at least two
/// endpoints (the second highest), when it is [`STALE_LAG_BLOCKS`] or more
/// ahead of `mine`; the endpoint moved to is the first listed that reports at
/// least that head. None with fewer than two answers: one claim alone never
/// moves preference.
fn corroborated_switch(heads: &[Option<u64>], preferred: usize, mine: u64) -> Option<(usize, u64)> {
    let mut reported: Vec<u64> = heads.iter().flatten().copied().collect();
    reported.sort_unstable_by(|a, b| b.cmp(a));
    let corroborated = *reported.get(1)?;
    if corroborated < mine.saturating_add(STALE_LAG_BLOCKS) {
        return None;
    }
    let k = heads
        .iter()
        .position(|h| h.is_some_and(|h| h >= corroborated))?;
    (k != preferred).then_some((k, corroborated))
}

/// The first endpoint other than `preferred` whose head is
/// [`STALE_LAG_BLOCKS`] or more past `mine`: where a preferred endpoint
/// whose own head stopped moving hands over.
fn ahead_of(heads: &[Option<u64>], preferred: usize, mine: u64) -> Option<(usize, u64)> {
    heads.iter().enumerate().find_map(|(k, h)| {
        let h = (*h)?;
        (k != preferred && h >= mine.saturating_add(STALE_LAG_BLOCKS)).then_some((k, h))
    })
}

/// Exponential backoff with full jitter in [d/2, d].
pub fn backoff(policy: RpcPolicy, attempt: u32) -> Duration {
    let base = policy
        .backoff
        .saturating_mul(1u32 << attempt.min(16))
        .min(policy.max_backoff);
    let half = base / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RpcPolicy {
            timeout: Duration::from_secs(1),
            attempts: 3,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(800),
            ..RpcPolicy::default()
        };
        for attempt in 0..10 {
            let d = backoff(p, attempt);
            let cap = (Duration::from_millis(100) * (1 << attempt.min(16))).min(p.max_backoff);
            assert!(
                d >= cap / 2 && d <= cap,
                "attempt {attempt}: {d:?} not in [{:?}, {cap:?}]",
                cap / 2
            );
        }
    }

    #[tokio::test]
    async fn unreachable_endpoint_fails_after_attempts_with_rpc_error() {
        let p = RpcPolicy {
            timeout: Duration::from_millis(500),
            attempts: 2,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            ..RpcPolicy::default()
        };
        // Port 9 (discard) on loopback: nothing listens there in tests.
        let pool = RpcPool::new("t", &["http://127.0.0.1:9".into()], p).expect("valid url");
        let err = pool
            .read("eth_blockNumber", |p| async move {
                use alloy::providers::Provider;
                p.get_block_number().await
            })
            .await
            .expect_err("nothing listens");
        assert!(err.is_retryable());
        assert!(
            matches!(err, EvmError::Rpc { .. } | EvmError::Timeout { .. }),
            "{err}"
        );
    }

    #[test]
    fn one_endpoint_claiming_a_higher_head_never_moves_preference() {
        // Preferred endpoint 0 at 100; a liar listed second claims 103.
        assert_eq!(corroborated_switch(&[Some(100), Some(103)], 0, 100), None);
        // A third, honest endpoint at 100: still one claim alone.
        assert_eq!(
            corroborated_switch(&[Some(100), Some(1_000_000), Some(100)], 0, 100),
            None
        );
        // The preferred endpoint stalled at 100 while two others are at 110
        // and 111: move to the first of them.
        assert_eq!(
            corroborated_switch(&[Some(100), Some(111), Some(110)], 0, 100),
            Some((1, 110))
        );
        // A liar's claim never picks the target: the others agree on 110.
        assert_eq!(
            corroborated_switch(&[Some(100), Some(110), Some(9_999), Some(110)], 0, 100),
            Some((1, 110))
        );
        // Unreachable endpoints do not vote; less than two answers: stay.
        assert_eq!(corroborated_switch(&[None, Some(200)], 0, 100), None);
        // Behind by less than the lag: stay.
        assert_eq!(
            corroborated_switch(&[Some(100), Some(102), Some(102)], 0, 100),
            None
        );
    }

    #[tokio::test]
    async fn errors_name_an_endpoint_without_its_keys() {
        let p = RpcPolicy {
            timeout: Duration::from_millis(500),
            attempts: 1,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            ..RpcPolicy::default()
        };
        // Keys where providers put them: user info, path, query.
        let url = "http://user:KEYPASS@127.0.0.1:9/v2/KEYPATH?apikey=KEYQUERY";
        let pool = RpcPool::new("t", &[url.into()], p).expect("valid url");
        let read = pool
            .read("eth_blockNumber", |p| async move {
                use alloy::providers::Provider;
                p.get_block_number().await
            })
            .await
            .expect_err("nothing listens");
        let each = pool
            .each("eth_blockNumber", |p| async move {
                use alloy::providers::Provider;
                p.get_block_number().await
            })
            .await
            .pop()
            .expect("one endpoint")
            .expect_err("nothing listens");
        for err in [read, each] {
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("KEY"), "{shown}");
        }
    }

    #[test]
    fn empty_url_list_is_refused() {
        let err = RpcPool::new("t", &[], RpcPolicy::default()).expect_err("empty");
        assert!(
            err.to_string().contains("expected at least one URL"),
            "{err}"
        );
    }
}
