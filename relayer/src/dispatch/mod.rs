//! Delivery to one destination.
//!
//! The destination's lane is split into shards. Dispatcher workers (several
//! per replica, several replicas) share the shards through leases in Redis:
//! each worker heartbeats into the destination's registry, takes its fair
//! share of free shards, renews its leases, and gives up shards beyond its
//! share so the work spreads as workers come and go. A shard is worked by one
//! worker at a time, which keeps every channel (always in one shard) in nonce
//! order.
//!
//! A shard pipeline reads the shard through the consumer group, cuts entries
//! into delivery batches, authenticates and re-checks every entry before
//! signing the attestation over each batch root, submits `Inbox.deliver`,
//! and acknowledges entries only after their batch is included at the
//! configured depth. Up to `max_in_flight` transactions are outstanding;
//! confirmations are processed in send order. A failed batch is sent again
//! after a backoff (the Inbox's replay protection makes the delivered part a
//! no-op), its attempts are recorded in Redis; past `max_attempts` or
//! `max_entry_age_ms`, or when the batch itself is bad, its entries move to
//! the dead-letter stream with the reason and the last error.
//!
//! Here: the dispatcher and its workers' leases; the shard pipeline's
//! phases are in [`pipeline`]. May import: the chain traits, the store
//! (lanes, leases, dead letters), the journal, metrics, task helpers. Never
//! an origin or the route stage: the only feedback to routing is the
//! backlog Redis holds, which `crate::backlog` measures.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, keccak256};
use switchyard_evm::attest::Attester;
use switchyard_types::Domain;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use crate::chain::BatchSink;
use crate::config::DispatcherConfig;
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::store::{LaneId, Leases, Store};
use crate::tasks::sleep_or_shutdown;
use crate::unix_ms;

pub mod claims;
mod pipeline;

use pipeline::ShardPipeline;

/// Who signs a destination's batches.
#[derive(Debug, Clone)]
pub enum Signing {
    /// The hub's own key alone (an Inbox of threshold 1).
    Local(Attester),
    /// The configured independent attesters, each verifying for itself;
    /// the Inbox's threshold of them.
    Attesters(Arc<crate::attest::Collector>),
}

/// Static facts about the destination.
#[derive(Debug, Clone)]
pub struct DestSpec {
    /// Chain name.
    pub name: String,
    /// Domain (lane id).
    pub domain: Domain,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Inbox address.
    pub inbox: Address,
    /// Route-group domains this chain serves besides its own (its Inbox
    /// accepts them as aliases).
    pub group_domains: Vec<Domain>,
}

/// What every worker and shard pipeline of a destination shares.
#[derive(Debug)]
pub(super) struct Shared<K> {
    pub(super) spec: DestSpec,
    pub(super) store: Store,
    pub(super) leases: Leases,
    pub(super) submitter: Arc<K>,
    pub(super) signing: Signing,
    pub(super) metrics: Metrics,
    /// Where a destination short of attester signatures is reported.
    pub(super) health: Option<Arc<crate::health::Health>>,
    pub(super) cfg: DispatcherConfig,
    pub(super) origin_names: Arc<HashMap<Domain, String>>,
    pub(super) journal: Journal,
}

impl<K> Shared<K> {
    pub(super) fn origin_name(&self, d: Domain) -> &str {
        self.origin_names
            .get(&d)
            .map(String::as_str)
            .unwrap_or("unknown")
    }
}

/// A destination's dispatchers in this replica, delivering to any
/// [`BatchSink`].
#[derive(Debug)]
pub struct Dispatcher<K> {
    shared: Arc<Shared<K>>,
    replica: String,
}

impl<K: BatchSink + std::fmt::Debug> Dispatcher<K> {
    /// A dispatcher; nothing runs until [`Dispatcher::run`].
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        spec: DestSpec,
        store: Store,
        submitter: Arc<K>,
        signing: Signing,
        metrics: Metrics,
        cfg: DispatcherConfig,
        replica: String,
        origin_names: Arc<HashMap<Domain, String>>,
    ) -> Self {
        let journal = Journal::disabled(metrics.clone());
        Self {
            shared: Arc::new(Shared {
                spec,
                leases: store.leases(),
                store,
                submitter,
                signing,
                metrics,
                health: None,
                cfg,
                origin_names,
                journal,
            }),
            replica,
        }
    }

    /// Reports submissions, deliveries and failures to `journal`.
    pub fn with_journal(mut self, journal: Journal) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.journal = journal;
        }
        self
    }

    /// Reports a destination whose batches wait for attester signatures on
    /// `/readyz`.
    pub fn with_health(mut self, health: Arc<crate::health::Health>) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.health = Some(health);
        }
        self
    }

    /// Runs the workers until `shutdown`, then drains them.
    #[instrument(name = "dispatcher", skip_all, fields(chain = %self.shared.spec.name))]
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tasks = Vec::new();
        if let (Signing::Attesters(collector), Some(health)) =
            (&self.shared.signing, &self.shared.health)
        {
            tasks.push(tokio::spawn(watch_attesters(
                Arc::clone(&self.shared),
                Arc::clone(collector),
                Arc::clone(health),
                shutdown.child_token(),
            )));
        }
        for w in 0..self.shared.cfg.workers {
            let id = format!("{}-{}-w{w}", self.replica, self.shared.spec.name);
            let worker = Worker {
                shared: Arc::clone(&self.shared),
                id,
                owned: BTreeMap::new(),
            };
            tasks.push(tokio::spawn(worker.run(shutdown.child_token())));
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// How often a destination's attesters are asked whether they answer.
const PROBE_EVERY: Duration = Duration::from_secs(10);

/// Asks the destination's attesters every [`PROBE_EVERY`] whether they
/// answer and take this hub's token, and reports on `/readyz` when fewer do
/// than the Inbox's threshold: a batch would wait for them, and an idle
/// hub would otherwise look ready until one did.
async fn watch_attesters<K: BatchSink>(
    s: Arc<Shared<K>>,
    collector: Arc<crate::attest::Collector>,
    health: Arc<crate::health::Health>,
    shutdown: CancellationToken,
) {
    loop {
        let answers = collector.probe().await;
        let threshold = collector
            .threshold(s.submitter.as_ref(), s.spec.chain_id, s.spec.inbox)
            .await;
        let up = answers.iter().filter(|(_, why)| why.is_none()).count() as u64;
        match threshold {
            Ok(t) if up < t => {
                let whys: Vec<String> = answers
                    .iter()
                    .filter_map(|(name, why)| why.as_ref().map(|w| format!("{name}: {w}")))
                    .collect();
                health.attesters_down(
                    &s.spec.name,
                    format!(
                        "{up} of {} attesters answer, the Inbox needs {t}: {}",
                        answers.len(),
                        whys.join("; ")
                    ),
                );
            }
            Ok(_) => health.attesters_up(&s.spec.name),
            // The chain's answer is the batches' concern (and the
            // submitter's health): nothing is concluded here.
            Err(e) => {
                debug!(err = %e, "reading the Inbox's threshold for the attester probe failed")
            }
        }
        if sleep_or_shutdown(PROBE_EVERY, &shutdown).await {
            return;
        }
    }
}

/// One worker: holds leases on shards and runs a pipeline per shard.
struct Worker<K> {
    shared: Arc<Shared<K>>,
    id: String,
    owned: BTreeMap<u16, Owned>,
}

struct Owned {
    stop: CancellationToken,
    task: JoinHandle<()>,
    /// Set when the worker decided to give the shard up: the lease is
    /// released once the pipeline has drained.
    releasing: bool,
}

impl<K: BatchSink + std::fmt::Debug> Worker<K> {
    #[instrument(name = "worker", skip_all, fields(worker = %self.id))]
    async fn run(mut self, shutdown: CancellationToken) {
        let s = Arc::clone(&self.shared);
        let ttl = Duration::from_millis(s.cfg.lease_ttl_ms);
        let tick = ttl / 3;
        let shards = s.cfg.lane_shards;
        // Start at a worker-specific shard so workers do not all race for
        // shard 0.
        let offset = (u64::from_be_bytes(
            keccak256(self.id.as_bytes())[..8]
                .try_into()
                .unwrap_or([0; 8]),
        ) % u64::from(shards)) as u16;
        let mut failures = 0u32;
        let mut reported = 0i64;
        while !shutdown.is_cancelled() {
            match self.rebalance(offset, ttl, &shutdown).await {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures += 1;
                    s.metrics.redis_errors.with_label_values(&[e.op()]).inc();
                    warn!(err = %e, attempt = failures, "lease round failed");
                    // Leases not renewed expire: stop the pipelines before
                    // someone else can take the shards.
                    if failures >= 2 {
                        self.stop_all(false).await;
                    }
                }
            }
            // The gauge is shared by this replica's workers: each adds its
            // own change.
            let now_owned = self.owned.len() as i64;
            s.metrics
                .shards_owned
                .with_label_values(&[&s.spec.name])
                .add(now_owned - reported);
            reported = now_owned;
            if sleep_or_shutdown(tick, &shutdown).await {
                break;
            }
        }
        self.stop_all(true).await;
        let _ = s.leases.leave(s.spec.domain, &self.id).await;
        s.metrics
            .shards_owned
            .with_label_values(&[&s.spec.name])
            .sub(reported);
        info!("worker stopped");
    }

    async fn rebalance(
        &mut self,
        offset: u16,
        ttl: Duration,
        shutdown: &CancellationToken,
    ) -> Result<(), crate::store::StoreError> {
        let s = Arc::clone(&self.shared);
        let shards = s.cfg.lane_shards;
        let live = s
            .leases
            .heartbeat(s.spec.domain, &self.id, unix_ms(), ttl * 3)
            .await?
            .max(1);
        let fair = usize::from(shards).div_ceil(live as usize);
        // Renew what we hold; drop what we lost.
        let held: Vec<u16> = self.owned.keys().copied().collect();
        for shard in held {
            let lane = LaneId {
                dst: s.spec.domain,
                shard,
            };
            let finished = self.owned.get(&shard).is_some_and(|o| o.task.is_finished());
            let releasing = self.owned.get(&shard).is_some_and(|o| o.releasing);
            if releasing && finished {
                self.owned.remove(&shard);
                s.leases.release_lease(lane, &self.id).await?;
                info!(shard, "shard handed over");
                continue;
            }
            if !s.leases.renew_lease(lane, &self.id, ttl).await? {
                warn!(shard, "lease lost; stopping the shard's pipeline");
                if let Some(o) = self.owned.remove(&shard) {
                    o.stop.cancel();
                }
            }
        }
        let active = self.owned.values().filter(|o| !o.releasing).count();
        if active > fair {
            // Give back the extra shards, highest first.
            for (shard, o) in self
                .owned
                .iter_mut()
                .rev()
                .filter(|(_, o)| !o.releasing)
                .take(active - fair)
            {
                info!(shard, fair, "giving a shard back to rebalance");
                o.releasing = true;
                o.stop.cancel();
            }
        } else if active < fair {
            let mut want = fair - active;
            for i in 0..shards {
                if want == 0 {
                    break;
                }
                let shard = (offset + i) % shards;
                if self.owned.contains_key(&shard) {
                    continue;
                }
                let lane = LaneId {
                    dst: s.spec.domain,
                    shard,
                };
                if s.leases.acquire_lease(lane, &self.id, ttl).await? {
                    info!(shard, "shard acquired");
                    let stop = shutdown.child_token();
                    let pipeline =
                        ShardPipeline::new(Arc::clone(&s), lane, self.id.clone()).await?;
                    let task = tokio::spawn(pipeline.run(stop.clone()));
                    self.owned.insert(
                        shard,
                        Owned {
                            stop,
                            task,
                            releasing: false,
                        },
                    );
                    want -= 1;
                }
            }
        }
        Ok(())
    }

    async fn stop_all(&mut self, release: bool) {
        for o in self.owned.values() {
            o.stop.cancel();
        }
        for (shard, o) in std::mem::take(&mut self.owned) {
            let _ = o.task.await;
            if release {
                let lane = LaneId {
                    dst: self.shared.spec.domain,
                    shard,
                };
                let _ = self.shared.leases.release_lease(lane, &self.id).await;
            }
        }
    }
}
