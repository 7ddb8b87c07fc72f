//! The route stage: where a verified batch from any origin becomes lane
//! entries. An origin (EVM header chain, beacon-anchored, CometBFT) hands it
//! the messages its light client proved, with the height they were proven
//! at; this stage does the rest, once: the target (a chain, or a member of a
//! route group), backpressure, the lane entry, the append, the status
//! journal and the stage metrics.
//!
//! Exactly once starts here: an entry's `height` is the origin's
//! exactly-once key (a block number, or a CometBFT outbox nonce + 1); the
//! lanes refuse a height appended to a shard before, and a least-backlog
//! group member is decided once per height in Redis, so a batch routed
//! again after a crash, or by another replica, lands where it did before.
//!
//! May import: the routing table ([`table`]), the store, backlog, journal,
//! metrics. Imported by: origins, the hub.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use alloy_primitives::{B256, Bytes};
use switchyard_types::{Domain, Message};
use tracing::{info, warn};

use crate::attest::Verified;
use crate::backlog::BacklogView;
use crate::config::RoutePolicy;
use crate::error::HubError;
use crate::journal::{Event as JournalEvent, Journal, QueuedMessage};
use crate::metrics::{Metrics, stage};
use crate::store::{LaneEntry, LaneId, Lanes, OriginState};
use crate::unix_ms;

pub mod table;

pub use table::{Group, Route, Router, Target, shard_of};

/// Messages an origin's light client proved at one height.
#[derive(Debug, Clone, Default)]
pub struct VerifiedBatch {
    /// The lane entries' exactly-once key: the origin block, or for a
    /// CometBFT origin the outbox nonce + 1.
    pub height: u64,
    /// The height the evidence was verified at, as the status journal shows
    /// it (the block itself for EVM origins, the verified header for
    /// CometBFT).
    pub evidence_height: u64,
    /// When the light client verified it (unix ms).
    pub verified_at_ms: u64,
    /// The messages, in the origin's order.
    pub messages: Vec<VerifiedMessage>,
    /// Logs of the origin's Mailbox at this height that did not decode as
    /// messages: counted and logged, never relayed.
    pub malformed: Vec<Malformed>,
}

/// One verified message.
#[derive(Debug, Clone)]
pub struct VerifiedMessage {
    /// The message.
    pub message: Message,
    /// The origin transaction, when the source named it (shown, not
    /// proven).
    pub origin_tx: Option<B256>,
}

/// A Mailbox log the light client proved but which is not a message.
#[derive(Debug, Clone)]
pub struct Malformed {
    /// Bounded reason (metrics label).
    pub reason: &'static str,
    /// Where and what (logs).
    pub detail: String,
}

/// What one origin's batches share: where they go and what they are
/// counted as.
#[derive(Debug)]
pub struct RouteStage {
    /// Origin name (metrics, logs).
    origin: String,
    origin_domain: Domain,
    lanes: Lanes,
    state: OriginState,
    router: Arc<Router>,
    backlog: Arc<BacklogView>,
    metrics: Metrics,
    journal: Journal,
    /// Backpressure: a destination lane holding more entries waits.
    max_backlog: u64,
    /// Highest height whose messages were counted: a batch routed again
    /// for a destination that fell behind is not observed twice.
    counted_to: u64,
    /// Destinations held back at the end of the last round, and since when.
    throttling: Option<(Instant, Vec<(Domain, String)>)>,
    /// In an attester: where verified messages are recorded instead of
    /// being appended to lanes.
    witness: Option<Verified>,
}

impl RouteStage {
    /// The stage of origin `origin` (`origin_domain`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        origin: &str,
        origin_domain: Domain,
        lanes: Lanes,
        state: OriginState,
        router: Arc<Router>,
        backlog: Arc<BacklogView>,
        metrics: Metrics,
        max_backlog: u64,
    ) -> Self {
        let journal = Journal::disabled(metrics.clone());
        Self {
            origin: origin.to_owned(),
            origin_domain,
            lanes,
            state,
            router,
            backlog,
            metrics,
            journal,
            max_backlog,
            counted_to: 0,
            throttling: None,
            witness: None,
        }
    }

    /// An attester's stage: records what the origin's light client verified
    /// in `verified` (the attester's own store) and writes no lane.
    pub fn witnessing(mut self, verified: Verified) -> Self {
        self.witness = Some(verified);
        self
    }

    /// Reports queued messages to `journal` (status API).
    pub fn with_journal(mut self, journal: Journal) -> Self {
        self.journal = journal;
        self
    }

    /// The routing table.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Whether `dst`'s lane is over its backlog limit right now.
    pub fn over_limit(&self, dst: Domain) -> bool {
        self.backlog.get(dst) > self.max_backlog
    }

    /// Routes `batch` to the destinations in `need` (all when `None`).
    /// Returns those of them over their backlog limit, which got nothing
    /// (the origin routes the same height to them again later, in order).
    pub async fn route(
        &mut self,
        batch: VerifiedBatch,
        need: Option<&[Domain]>,
    ) -> Result<Vec<(Domain, String)>, HubError> {
        let n = batch.height;
        let first_time = n > self.counted_to;
        self.counted_to = self.counted_to.max(n);
        let name = self.origin.clone();
        for m in batch.malformed.iter().filter(|_| first_time) {
            self.metrics.count(stage::OBSERVED, &name, "unknown", 1);
            self.metrics.count(stage::REJECTED, &name, "unknown", 1);
            self.metrics
                .rejections
                .with_label_values(&[&name, m.reason])
                .inc();
            warn!(height = n, detail = %m.detail, "malformed Dispatch log rejected");
        }
        if let Some(verified) = &self.witness {
            let ids: Vec<(B256, Domain)> = batch
                .messages
                .iter()
                .map(|vm| (vm.message.id(), vm.message.destination))
                .collect();
            verified.record(self.origin_domain, n, &ids).await?;
            if first_time {
                let mut per_dest = PerDestination::default();
                for vm in &batch.messages {
                    per_dest.add(match self.router.target(vm.message.destination) {
                        Some(Target::Chain(r)) => r.name.as_str(),
                        Some(Target::Group(g)) => g.name.as_str(),
                        None => "unknown",
                    });
                }
                self.count_verified(&name, per_dest);
            }
            return Ok(Vec::new());
        }
        if batch.messages.is_empty() {
            return Ok(Vec::new());
        }
        let journal_on = self.journal.is_enabled();
        let router = Arc::clone(&self.router);
        let mut by_lane: HashMap<LaneId, (String, Vec<Bytes>)> = HashMap::new();
        let mut journal_of: HashMap<LaneId, Vec<QueuedMessage>> = HashMap::new();
        // Least-backlog decisions, once per group and height.
        let mut least: HashMap<Domain, Domain> = HashMap::new();
        let mut observed = PerDestination::default();
        for vm in batch.messages {
            let m = vm.message;
            let route = match router.target(m.destination) {
                Some(Target::Chain(r)) => r,
                Some(Target::Group(g)) => {
                    let choice = if g.policy == RoutePolicy::LeastBacklog {
                        match self.least_backlog_member(g, n, &mut least).await {
                            Ok(member) => Some(member),
                            Err(e) => {
                                // This height is not counted again when it
                                // is routed again: count what was seen.
                                self.count_verified(&name, observed);
                                return Err(e);
                            }
                        }
                    } else {
                        None
                    };
                    g.pick(&m, choice)
                }
                None => {
                    if first_time {
                        self.metrics.count(stage::OBSERVED, &name, "unknown", 1);
                        self.metrics.count(stage::REJECTED, &name, "unknown", 1);
                        self.metrics
                            .rejections
                            .with_label_values(&[&name, "unknown_destination"])
                            .inc();
                        warn!(height = n, destination = m.destination, nonce = m.nonce, msg_id = %m.id(), "message to an unknown destination rejected");
                    }
                    continue;
                }
            };
            if first_time {
                observed.add(&route.name);
            }
            if need.is_some_and(|need| !need.contains(&route.dst)) {
                continue;
            }
            let lane = router.lane(route, m.origin, &m.sender, &m.recipient);
            by_lane
                .entry(lane)
                .or_insert_with(|| (route.name.clone(), Vec::new()))
                .1
                .push(Bytes::from(m.encode()));
            if journal_on {
                journal_of.entry(lane).or_default().push(QueuedMessage {
                    message: m,
                    origin_tx: vm.origin_tx,
                });
            }
        }
        self.count_verified(&name, observed);
        let mut lanes: Vec<_> = by_lane.into_iter().collect();
        lanes.sort_by_key(|(lane, _)| *lane);
        // Backpressure, per destination: one over its limit gets nothing
        // from this height now; the others do.
        let mut blocked: Vec<(Domain, String)> = Vec::new();
        for (lane, (dest_name, _)) in &lanes {
            if self.over_limit(lane.dst) && !blocked.iter().any(|(d, _)| *d == lane.dst) {
                blocked.push((lane.dst, dest_name.clone()));
            }
        }
        // The appends go to different lanes (slots): issue them together,
        // pipelined on the connection, rather than one round trip each.
        let verified_at_ms = batch.verified_at_ms;
        let appends: Vec<_> = lanes
            .into_iter()
            .filter(|(lane, _)| !blocked.iter().any(|(d, _)| *d == lane.dst))
            .map(|(lane, (dest_name, messages))| {
                let entry = LaneEntry {
                    origin: self.origin_domain,
                    height: n,
                    verified_at_ms,
                    messages,
                };
                let lanes = &self.lanes;
                async move {
                    let appended = lanes.append(lane, &entry).await;
                    (lane, dest_name, entry.messages.len() as u64, appended)
                }
            })
            .collect();
        for (lane, dest_name, count, appended) in futures::future::join_all(appends).await {
            let appended = appended.inspect_err(|e| {
                // A short `WAIT` (redis.wait_replicas) lands here too: the
                // operator sees replication falling behind by `op`.
                self.metrics.redis_errors.with_label_values(&[e.op()]).inc();
            })?;
            if appended {
                // The monitor measures ten times a second; without this, an
                // origin would append a burst past the limit before seeing
                // it.
                self.backlog.add(lane.dst, 1);
                self.metrics
                    .count(stage::ENQUEUED, &name, &dest_name, count);
                if let Some(messages) = journal_of.remove(&lane) {
                    self.journal.record(|| JournalEvent::Queued {
                        route: dest_name.clone(),
                        lane,
                        height: batch.evidence_height,
                        verified_ms: verified_at_ms,
                        queued_ms: unix_ms(),
                        messages,
                    });
                }
            }
            tracing::debug!(height = n, destination = %dest_name, messages = count, appended, "batch routed");
        }
        self.metrics
            .latency
            .with_label_values(&["enqueue"])
            .observe(unix_ms().saturating_sub(verified_at_ms) as f64 / 1000.0);
        Ok(blocked)
    }

    /// The least-backlog member of `g` for height `height`: decided once
    /// per height in Redis (the first proposal wins, see
    /// [`OriginState::assign_group_member`]), so a batch re-read after a
    /// crash, or read by another replica, goes to the same member, whose
    /// lane cursor then makes the re-append a no-op.
    async fn least_backlog_member(
        &self,
        g: &Group,
        height: u64,
        cache: &mut HashMap<Domain, Domain>,
    ) -> Result<Domain, HubError> {
        if let Some(d) = cache.get(&g.domain) {
            return Ok(*d);
        }
        let proposed = g.least_backlog(&self.backlog);
        let member = self
            .state
            .assign_group_member(self.origin_domain, g.domain, height, proposed)
            .await?;
        cache.insert(g.domain, member);
        Ok(member)
    }

    /// Ends a round in which `blocked` destinations were held back: the time
    /// since the last round is counted in
    /// `switchyard_throttled_seconds_total` for those held back then, and a
    /// new hold-back is logged once.
    pub fn end_round(&mut self, blocked: Vec<(Domain, String)>) {
        let was_throttling = self.throttling.is_some();
        if let Some((since, before)) = self.throttling.take() {
            let secs = since.elapsed().as_secs_f64();
            for (_, dest) in before {
                self.metrics
                    .throttled_seconds
                    .with_label_values(&[&self.origin, &dest])
                    .inc_by(secs);
            }
        }
        if !blocked.is_empty() {
            if !was_throttling {
                let names: Vec<&str> = blocked.iter().map(|(_, n)| n.as_str()).collect();
                info!(origin = %self.origin, destinations = ?names, limit = self.max_backlog, "lanes over their backlog limit: routing to them waits, other destinations go on");
            }
            self.throttling = Some((Instant::now(), blocked));
        }
    }

    /// Counts `per` as observed and verified messages of `origin`.
    fn count_verified(&self, origin: &str, per: PerDestination<'_>) {
        for (dest, n) in per.0 {
            self.metrics.count(stage::OBSERVED, origin, dest, n);
            self.metrics.count(stage::VERIFIED, origin, dest, n);
        }
    }
}

/// Messages per destination name in one height, counted once per name
/// (a counter update per message costs more than the routing).
#[derive(Default)]
struct PerDestination<'a>(Vec<(&'a str, u64)>);

impl<'a> PerDestination<'a> {
    fn add(&mut self, dest: &'a str) {
        match self.0.iter_mut().find(|(d, _)| *d == dest) {
            Some((_, n)) => *n += 1,
            None => self.0.push((dest, 1)),
        }
    }
}
