//! The origin watcher of a CometBFT (Cosmos SDK) chain.
//!
//! Each round it verifies the node's latest header with the CometBFT light
//! client (skipping verification, bisecting where a skip lacks trust), then
//! walks the chain's outbox (`docs/cometbft-outbox.md`) from the next
//! nonce: message `n` is fetched from the state at height `H` and proven
//! with ICS-23 against the app hash of the verified header `H + 1`, routed
//! like an EVM origin's messages, and the walk goes on until an entry is
//! proven absent (not written yet). Nothing a node says is taken on its
//! word: a present entry, and the end of the outbox, are both proven.
//!
//! Exactly once: every message is its own lane entry with `height = nonce
//! + 1`, so the lanes' per-(lane, origin) cursor refuses a message appended
//! before; a walk repeated after a crash (the next nonce is persisted after
//! the appends) appends nothing twice. Route groups stay deterministic:
//! round robin, weighted and sticky picks depend on the message alone, and
//! a least-backlog pick is decided once per message in Redis
//! ([`OriginState::assign_group_member`], keyed by the same height).
//!
//! The trusted state and the next nonce are persisted together in Redis
//! under the queue key's HMAC, and resumed; reading the state back re-runs
//! the trusted-state checks. A persisted state past its trusting period is
//! replaced by the configured checkpoint (the next nonce is kept).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use switchyard_cometbft::{OutboxLookup, RpcClient, fetch_outbox_message, sync_to};
use switchyard_lc_cometbft::{Hash, LightClient, Time, TrustedState};
use switchyard_types::Domain;
use tokio_util::sync::CancellationToken;
use tracing::{info, instrument, warn};

use crate::error::HubError;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::route::{RouteStage, VerifiedBatch, VerifiedMessage};
use crate::store::OriginState;
use crate::tasks::{pace_round, start_or_give_up};
use crate::unix_ms;

/// Messages walked between two saves of the next nonce.
const SAVE_EVERY: u32 = 64;

/// Static facts about the watched chain.
#[derive(Debug, Clone)]
pub struct CometbftSpec {
    /// Chain name (metrics, logs).
    pub name: String,
    /// Its Switchyard domain.
    pub domain: Domain,
    /// The trusted checkpoint: height and header hash.
    pub trusted_height: u64,
    /// Its header hash.
    pub trusted_hash: Hash,
    /// Pause between rounds.
    pub poll: Duration,
}

/// What is persisted: the trusted block and where the outbox walk resumes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Persisted {
    trusted: TrustedState,
    next_nonce: u32,
}

/// One CometBFT origin's watcher.
#[derive(Debug)]
pub struct CometbftWatcher {
    spec: CometbftSpec,
    rpc: RpcClient,
    client: LightClient,
    state: OriginState,
    route: RouteStage,
    metrics: Metrics,
    health: Arc<Health>,
    /// The last (nonce, reason) refused, so a retried refusal is counted
    /// once.
    last_refusal: Option<(u32, &'static str)>,
    /// The verified height at which the walk last found its next nonce
    /// absent: no need to ask again before a newer header.
    exhausted_at: Option<u64>,
}

/// The current time for the light client.
fn now() -> Time {
    let ms = unix_ms();
    Time::from_unix_timestamp((ms / 1000) as i64, ((ms % 1000) * 1_000_000) as u32)
        .unwrap_or_else(|_| Time::unix_epoch())
}

/// The bounded label of a refusal.
pub(crate) fn reason(e: &switchyard_cometbft::Error) -> &'static str {
    use switchyard_lc_cometbft::Error as Lc;
    match e {
        switchyard_cometbft::Error::LightClient(lc) => match lc {
            Lc::ProofInvalid { .. } => "proof_invalid",
            Lc::ProofMalformed { .. } => "proof_malformed",
            Lc::OutboxEntry { .. } => "outbox_entry",
            Lc::NotEnoughTrust { .. } => "not_enough_trust",
            Lc::TrustExpired { .. } => "trust_expired",
            Lc::HeaderFromFuture { .. } => "header_from_future",
            Lc::Invalid { .. } => "header_invalid",
            _ => "light_client",
        },
        _ => "rpc",
    }
}

impl CometbftWatcher {
    /// A watcher; nothing runs until [`CometbftWatcher::run`].
    /// `state` keeps its trusted state and next nonce; `route` takes what
    /// it verifies.
    pub fn new(
        spec: CometbftSpec,
        rpc: RpcClient,
        client: LightClient,
        state: OriginState,
        route: RouteStage,
        metrics: Metrics,
        health: Arc<Health>,
    ) -> Self {
        Self {
            spec,
            rpc,
            client,
            state,
            route,
            metrics,
            health,
            last_refusal: None,
            exhausted_at: None,
        }
    }

    fn err(&self, source: switchyard_cometbft::Error) -> HubError {
        HubError::Cometbft {
            chain: self.spec.name.clone(),
            source: Box::new(source),
        }
    }

    /// The configured checkpoint, fetched and checked against its hash
    /// (a block that does not match is asked from every endpoint alone: it
    /// may be one endpoint's lie).
    async fn checkpoint(&self) -> Result<TrustedState, HubError> {
        let h = self.spec.trusted_height;
        let block = self.rpc.light_block(h).await.map_err(|e| self.err(e))?;
        let trusted = match TrustedState::from_checkpoint(block, self.spec.trusted_hash) {
            Ok(t) => t,
            Err(first) => {
                let mut found = None;
                for endpoint in 0..self.rpc.endpoint_count() {
                    if let Ok(b) = self.rpc.light_block_from(endpoint, h).await
                        && let Ok(t) = TrustedState::from_checkpoint(b, self.spec.trusted_hash)
                    {
                        found = Some(t);
                        break;
                    }
                }
                found.ok_or_else(|| self.err(first.into()))?
            }
        };
        trusted
            .check_fresh(self.client.options(), now())
            .map_err(|e| self.err(e.into()))?;
        Ok(trusted)
    }

    /// Resumes the persisted state, or starts from the checkpoint.
    async fn init(&self) -> Result<Persisted, HubError> {
        let what = || format!("CometBFT light client of {}", self.spec.name);
        let persisted = match self.state.load_cometbft(self.spec.domain).await? {
            Some(json) => {
                Some(
                    serde_json::from_str::<Persisted>(&json).map_err(|e| HubError::State {
                        what: what(),
                        reason: e.to_string(),
                    })?,
                )
            }
            None => None,
        };
        match persisted {
            Some(p) if p.trusted.check_fresh(self.client.options(), now()).is_ok() => Ok(p),
            Some(p) => {
                warn!(
                    height = p.trusted.height(),
                    "persisted trusted state is past its trusting period: starting from the configured checkpoint"
                );
                let trusted = self.checkpoint().await?;
                if trusted.height() < p.trusted.height() {
                    return Err(HubError::State {
                        what: what(),
                        reason: format!(
                            "the persisted state (height {}) has expired and the configured trusted_height {} is older: configure a recent trusted_height and trusted_hash",
                            p.trusted.height(),
                            trusted.height()
                        ),
                    });
                }
                Ok(Persisted {
                    trusted,
                    next_nonce: p.next_nonce,
                })
            }
            None => Ok(Persisted {
                trusted: self.checkpoint().await?,
                next_nonce: 0,
            }),
        }
    }

    async fn save(&self, state: &Persisted) -> Result<(), HubError> {
        let json = serde_json::to_string(state).map_err(|e| HubError::State {
            what: format!("CometBFT light client of {}", self.spec.name),
            reason: e.to_string(),
        })?;
        self.state.save_cometbft(self.spec.domain, &json).await?;
        Ok(())
    }

    /// Runs until `shutdown`.
    #[instrument(name = "cometbft_watcher", skip_all, fields(chain = %self.spec.name))]
    pub async fn run(mut self, shutdown: CancellationToken) {
        let this = &self;
        let Some(mut state) = start_or_give_up(
            "CometBFT watcher",
            &self.spec.name,
            &self.health,
            &shutdown,
            || this.init(),
        )
        .await
        else {
            return;
        };
        info!(
            height = state.trusted.height(),
            next_nonce = state.next_nonce,
            "CometBFT watcher started"
        );
        self.set_heights(&state);
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            let outcome = self.step(&mut state, &shutdown).await;
            let (name, poll) = (&self.spec.name, self.spec.poll);
            let what = "CometBFT watcher step";
            if pace_round(
                outcome,
                &mut failures,
                what,
                name,
                &self.health,
                poll,
                &shutdown,
            )
            .await
            {
                break;
            }
        }
        info!(next_nonce = state.next_nonce, "CometBFT watcher stopped");
    }

    /// Exports the trusted height, and the trusted header's time with the
    /// trusting period: past `time + period` nothing verifies from the
    /// state, so an alert fires well before.
    fn set_heights(&self, state: &Persisted) {
        let h = state.trusted.height() as i64;
        let name = &self.spec.name;
        for kind in ["tip", "confirmed"] {
            self.metrics
                .lc_height
                .with_label_values(&[name, kind])
                .set(h);
        }
        self.metrics
            .lc_trusted_time
            .with_label_values(&[name])
            .set(state.trusted.time().unix_timestamp());
        let period = self.client.options().trusting_period.as_secs();
        self.metrics
            .lc_trusting_period
            .with_label_values(&[name])
            .set(i64::try_from(period).unwrap_or(i64::MAX));
    }

    /// One round: verify the latest header, then walk the outbox. Returns
    /// whether there is more to do right away (the walk stopped early).
    async fn step(
        &mut self,
        state: &mut Persisted,
        shutdown: &CancellationToken,
    ) -> Result<bool, HubError> {
        let name = self.spec.name.clone();
        let status = self.rpc.status().await.map_err(|e| self.err(e))?;
        if status.latest_block_height > state.trusted.height() {
            match sync_to(
                &self.rpc,
                &self.client,
                &state.trusted,
                status.latest_block_height,
                now(),
            )
            .await
            {
                Ok(out) => {
                    self.metrics
                        .lc_updates
                        .with_label_values(&[&name, "accepted"])
                        .inc();
                    state.trusted = out.trusted;
                    self.save(state).await?;
                    self.set_heights(state);
                }
                Err(e) => {
                    self.metrics
                        .lc_updates
                        .with_label_values(&[&name, "rejected"])
                        .inc();
                    if matches!(e, switchyard_cometbft::Error::LightClient(_)) {
                        self.refuse(state.next_nonce, &e);
                    }
                    return Err(self.err(e));
                }
            }
        }
        let height = state.trusted.height();
        if self.exhausted_at == Some(height) || height < 2 {
            return Ok(false);
        }
        let mut walked = 0u32;
        let mut held = Vec::new();
        let result = loop {
            if shutdown.is_cancelled() {
                break Ok(false);
            }
            let nonce = state.next_nonce;
            let started = Instant::now();
            let lookup = fetch_outbox_message(&self.rpc, &state.trusted, self.spec.domain, nonce)
                .await
                .map_err(|e| {
                    if matches!(e, switchyard_cometbft::Error::LightClient(_)) {
                        self.refuse(nonce, &e);
                    }
                    self.err(e)
                });
            let message = match lookup {
                Ok(OutboxLookup::Present(m)) => m,
                Ok(OutboxLookup::Absent) => {
                    self.exhausted_at = Some(height);
                    break Ok(false);
                }
                Ok(_) => break Ok(false),
                Err(e) => break Err(e),
            };
            self.metrics
                .latency
                .with_label_values(&["verify"])
                .observe(started.elapsed().as_secs_f64());
            // Every message is its own entry, keyed by its nonce; the block
            // shown is the verified height its outbox entry was proven at
            // (there is no transaction to name).
            let batch = VerifiedBatch {
                height: u64::from(nonce) + 1,
                evidence_height: height,
                verified_at_ms: unix_ms(),
                messages: vec![VerifiedMessage {
                    message,
                    origin_tx: None,
                }],
                malformed: Vec::new(),
            };
            match self.route.route(batch, None).await {
                Ok(blocked) if blocked.is_empty() => {}
                // Backpressure: the destination's lane is full; the walk
                // resumes at this nonce in a later round.
                Ok(blocked) => {
                    held = blocked;
                    break Ok(false);
                }
                Err(e) => break Err(e),
            }
            state.next_nonce = nonce.checked_add(1).ok_or_else(|| HubError::State {
                what: format!("outbox of {name}"),
                reason: "nonce space exhausted".into(),
            })?;
            walked += 1;
            if walked.is_multiple_of(SAVE_EVERY) {
                self.save(state).await?;
            }
        };
        if walked > 0 {
            self.save(state).await?;
            info!(
                height,
                next_nonce = state.next_nonce,
                messages = walked,
                "outbox walked"
            );
        }
        self.route.end_round(held);
        result
    }

    fn refuse(&mut self, nonce: u32, e: &switchyard_cometbft::Error) {
        let reason = reason(e);
        if self.last_refusal != Some((nonce, reason)) {
            self.last_refusal = Some((nonce, reason));
            self.metrics
                .rejections
                .with_label_values(&[&self.spec.name, reason])
                .inc();
            warn!(nonce, reason, err = %e, "answer refused by the CometBFT light client; not relayed, will retry");
        }
    }
}
