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

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes, keccak256};
use rand::Rng;
use switchyard_evm::EvmError;
use switchyard_evm::attest::Attester;
use switchyard_evm::submitter::Included;
use switchyard_types::{Domain, Message, batch_root};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use crate::chain::BatchSink;
use crate::config::DispatcherConfig;
use crate::journal::{Event as JournalEvent, Journal};
use crate::metrics::{Metrics, stage};
use crate::store::{DeadLetters, Delivery, LaneEntry, LaneId, Lanes, Leases, Store};
use crate::tasks::{backoff, sleep_or_shutdown};
use crate::unix_ms;

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
struct Shared<K> {
    spec: DestSpec,
    store: Store,
    leases: Leases,
    submitter: Arc<K>,
    attester: Attester,
    metrics: Metrics,
    cfg: DispatcherConfig,
    origin_names: Arc<HashMap<Domain, String>>,
    journal: Journal,
}

impl<K> Shared<K> {
    fn origin_name(&self, d: Domain) -> &str {
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
        attester: Attester,
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
                attester,
                metrics,
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

    /// Runs the workers until `shutdown`, then drains them.
    #[instrument(name = "dispatcher", skip_all, fields(chain = %self.shared.spec.name))]
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tasks = Vec::new();
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

/// Messages sent in one transaction, and the entries they finish.
#[derive(Debug, Default)]
struct Batch {
    /// Creation order within the pipeline: the queue stays sorted by it, so
    /// a failed batch goes back ahead of every later one (channel order).
    seq: u64,
    messages: Vec<Bytes>,
    /// Origin of each message (metrics).
    origins: Vec<Domain>,
    /// Index in `touches` of each message's entry.
    entry_of: Vec<u32>,
    /// Encoded bytes of `messages`.
    bytes: usize,
    /// Entries whose last message is in this batch: acknowledged on inclusion.
    completes: Vec<(String, u64)>,
    /// Every entry with a message in this batch: what goes to the
    /// dead-letter stream if the batch is given up.
    touches: Vec<String>,
    /// Attempts so far (the highest persisted count of its entries).
    attempts: u32,
    /// Oldest entry's stream time (unix ms).
    oldest_ms: u64,
    last_error: String,
    /// Not before this instant (retry backoff).
    not_before: Option<Instant>,
}

struct InFlight {
    batch: Batch,
    sent_at: Instant,
    task: JoinHandle<Result<Included, EvmError>>,
}

/// One shard, worked by the worker holding its lease.
struct ShardPipeline<K> {
    s: Arc<Shared<K>>,
    lane: LaneId,
    consumer: String,
    /// A connection of its own: blocking reads hold it.
    lanes: Lanes,
    /// Where entries given up go (on the same connection).
    dead: DeadLetters,
    /// Sequence of the next batch.
    next_seq: AtomicU64,
    /// Woken by each confirmation task as it ends, so the loop reacts to a
    /// finished transaction at once instead of polling for it.
    confirmed: Arc<Notify>,
    /// Entries some of whose messages were sent (`send`) but whose last
    /// message is not yet acknowledged (`acknowledge`): on stopping, the
    /// rest of them is sent too, or the next owner would resend the part
    /// already delivered. Only this pipeline's task touches it.
    partial: std::sync::Mutex<HashSet<String>>,
}

impl<K: BatchSink + std::fmt::Debug> ShardPipeline<K> {
    async fn new(
        s: Arc<Shared<K>>,
        lane: LaneId,
        consumer: String,
    ) -> Result<Self, crate::store::StoreError> {
        let store = s.store.dedicated().await?;
        Ok(Self {
            s,
            lane,
            consumer,
            lanes: store.lanes(),
            dead: store.dead_letters(),
            next_seq: AtomicU64::new(0),
            confirmed: Arc::new(Notify::new()),
            partial: std::sync::Mutex::new(HashSet::new()),
        })
    }

    #[instrument(name = "shard", skip_all, fields(shard = %self.lane))]
    async fn run(self, stop: CancellationToken) {
        let s = Arc::clone(&self.s);
        let mut attempt = 0;
        while let Err(e) = self.lanes.ensure_group(self.lane).await {
            attempt += 1;
            warn!(err = %e, attempt, "cannot create consumer group, retrying");
            s.metrics.redis_errors.with_label_values(&[e.op()]).inc();
            if sleep_or_shutdown(backoff(attempt), &stop).await {
                return;
            }
        }
        let mut queue: VecDeque<Batch> = VecDeque::new();
        let mut inflight: VecDeque<InFlight> = VecDeque::new();
        // We hold the lease: whatever another consumer left pending (a dead
        // process, a lost lease) is ours now, and so is our own.
        match self
            .lanes
            .reclaim(self.lane, &self.consumer, Duration::ZERO, 10_000)
            .await
        {
            Ok(d) => {
                if !d.is_empty() {
                    info!(entries = d.len(), "took over pending entries");
                    s.metrics
                        .lane_reclaimed
                        .with_label_values(&[&s.spec.name])
                        .inc_by(d.len() as u64);
                }
                self.batch_up(d, &mut queue).await;
            }
            Err(e) => warn!(err = %e, "reclaiming pending entries failed; they stay pending"),
        }
        let mut redis_failures = 0u32;
        let wait = Duration::from_millis(s.cfg.max_wait_ms.max(1));
        let mut last_sweep = Instant::now();
        loop {
            if stop.is_cancelled() {
                break;
            }
            // 0. With nothing queued or in flight, any entry still pending
            // on this consumer was dropped on a failure path (a dead-letter
            // or ack that failed, a panicked confirmation), and an entry
            // pending on another consumer for longer than the lease is
            // orphaned: pick both up again rather than strand them.
            if queue.is_empty() && inflight.is_empty() && last_sweep.elapsed() >= SWEEP_EVERY {
                last_sweep = Instant::now();
                let ttl = Duration::from_millis(s.cfg.lease_ttl_ms);
                let mut stranded = match self
                    .lanes
                    .read(self.lane, &self.consumer, 1000, Duration::ZERO, true)
                    .await
                {
                    Ok(d) => d,
                    Err(e) => {
                        warn!(err = %e, "sweeping pending entries failed");
                        Vec::new()
                    }
                };
                match self
                    .lanes
                    .reclaim(self.lane, &self.consumer, ttl * 2, 1000)
                    .await
                {
                    Ok(d) => {
                        s.metrics
                            .lane_reclaimed
                            .with_label_values(&[&s.spec.name])
                            .inc_by(d.len() as u64);
                        stranded.extend(d);
                    }
                    Err(e) => warn!(err = %e, "reclaiming orphaned entries failed"),
                }
                if !stranded.is_empty() {
                    warn!(
                        entries = stranded.len(),
                        "picked up stranded pending entries"
                    );
                    stranded.sort_by_key(|d| crate::store::stream_id_key(&d.id));
                    stranded.dedup_by(|a, b| a.id == b.id);
                    self.batch_up(stranded, &mut queue).await;
                }
            }
            // 1. Read more work while the pipeline has room.
            // Idle, a blocking read waits for work; busy, the read only
            // looks, and the wait happens in step 3 where a finished
            // confirmation can end it too.
            let mut more = false;
            if queue.len() + inflight.len() < s.cfg.max_in_flight * 2 {
                let idle = queue.is_empty() && inflight.is_empty();
                let block = if idle {
                    Duration::from_millis(500)
                } else {
                    Duration::ZERO
                };
                match self
                    .lanes
                    .read(self.lane, &self.consumer, READ_COUNT, block, false)
                    .await
                {
                    Ok(deliveries) => {
                        redis_failures = 0;
                        more = deliveries.len() == READ_COUNT;
                        self.batch_up(deliveries, &mut queue).await;
                    }
                    Err(e) => {
                        redis_failures += 1;
                        s.metrics.redis_errors.with_label_values(&[e.op()]).inc();
                        warn!(err = %e, attempt = redis_failures, "reading the lane failed");
                        if sleep_or_shutdown(backoff(redis_failures), &stop).await {
                            break;
                        }
                    }
                }
            }
            // 2. Send queued batches while there is room in flight; a batch
            // waiting out its backoff holds back those behind it (order).
            while inflight.len() < s.cfg.max_in_flight {
                if queue
                    .front()
                    .is_some_and(|b| b.not_before.is_some_and(|t| Instant::now() < t))
                {
                    break;
                }
                let Some(mut batch) = queue.pop_front() else {
                    break;
                };
                match self.send(&batch).await {
                    Ok(task) => {
                        s.metrics.in_flight.with_label_values(&[&s.spec.name]).inc();
                        inflight.push_back(InFlight {
                            batch,
                            sent_at: Instant::now(),
                            task,
                        });
                    }
                    Err(e) => {
                        s.metrics
                            .transactions
                            .with_label_values(&[&s.spec.name, e.kind()])
                            .inc();
                        if e.splits() && batch.messages.len() > 1 {
                            // One bad message (or too much gas) must not
                            // fail the others: halve until each part goes
                            // through or a single message fails alone.
                            let n = batch.messages.len();
                            let (left, right) = batch.split();
                            s.metrics
                                .lane_splits
                                .with_label_values(&[&s.spec.name])
                                .inc();
                            warn!(err = %e, messages = n, "batch refused in simulation: split in two");
                            requeue(&mut queue, right);
                            requeue(&mut queue, left);
                            continue;
                        }
                        if self.failed(&mut batch, &e).await {
                            requeue(&mut queue, batch);
                        }
                        break;
                    }
                }
            }
            // 3. Confirmations, in send order.
            let mut finished_any = false;
            while inflight.front().is_some_and(|f| f.task.is_finished()) {
                let Some(f) = inflight.pop_front() else { break };
                finished_any = true;
                self.finish(f, &mut queue).await;
            }
            if !finished_any && inflight.len() >= s.cfg.max_in_flight {
                // Pipeline full: wait for the oldest transaction. It is taken
                // out of the queue so its JoinHandle is awaited exactly once.
                if let Some(mut f) = inflight.pop_front() {
                    let done = tokio::select! {
                        _ = stop.cancelled() => None,
                        r = &mut f.task => Some(r),
                    };
                    match done {
                        None => {
                            inflight.push_front(f);
                            break;
                        }
                        Some(r) => self.finish_with(f.batch, f.sent_at, r, &mut queue).await,
                    }
                }
            } else if !finished_any && !more && (!inflight.is_empty() || !queue.is_empty()) {
                // Until a confirmation ends or `max_wait_ms` passes (new
                // entries, a retry coming due), whichever is first. A
                // notification from a task already handled leaves a stale
                // permit: it costs one extra turn of the loop, nothing else.
                // With nothing in flight and the next batch waiting out a
                // retry backoff, nothing can happen before it is due (new
                // entries queue behind it): sleep until then, up to a second.
                let nap = match (
                    inflight.is_empty(),
                    queue.front().and_then(|b| b.not_before),
                ) {
                    (true, Some(due)) => due
                        .saturating_duration_since(Instant::now())
                        .clamp(wait, Duration::from_secs(1)),
                    _ => wait,
                };
                tokio::select! {
                    () = self.confirmed.notified() => {}
                    () = tokio::time::sleep(nap) => {}
                    () = stop.cancelled() => {}
                }
            }
        }
        // Drain: in-flight transactions may still be included; acknowledge
        // those that are, leave the rest pending for the next owner.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while let Some(f) = inflight.pop_front() {
            s.metrics.in_flight.with_label_values(&[&s.spec.name]).dec();
            let abort = f.task.abort_handle();
            match tokio::time::timeout_at(deadline, f.task).await {
                Ok(Ok(Ok(inc))) => self.acknowledge(&f.batch, &inc, f.sent_at).await,
                _ => abort.abort(),
            }
        }
        // Then the rest of any entry partly delivered, batch by batch in
        // order, while the deadline allows; whatever is left stays pending
        // for the next owner, who resends it whole (the Inbox skips the
        // replayed part: at-least-once, never lost).
        while let Some(batch) = queue.pop_front() {
            if batch.not_before.is_some()
                || !self.is_partial(&batch)
                || tokio::time::Instant::now() >= deadline
            {
                break;
            }
            let Ok(task) = self.send(&batch).await else {
                break;
            };
            let sent_at = Instant::now();
            let abort = task.abort_handle();
            match tokio::time::timeout_at(deadline, task).await {
                Ok(Ok(Ok(inc))) => self.acknowledge(&batch, &inc, sent_at).await,
                _ => {
                    abort.abort();
                    break;
                }
            }
        }
        debug!("shard pipeline stopped");
    }

    /// Decodes deliveries into batches; refused entries go to dead letters.
    async fn batch_up(&self, deliveries: Vec<Delivery>, queue: &mut VecDeque<Batch>) {
        let s = &self.s;
        let max = s.cfg.max_batch_messages;
        for d in deliveries {
            let entry = match d.entry.and_then(|e| self.check_entry(&e).map(|()| e)) {
                Ok(e) => e,
                Err(reason) => {
                    s.metrics
                        .rejections
                        .with_label_values(&[&s.spec.name, "refused_entry"])
                        .inc();
                    warn!(entry = %d.id, reason = %reason, "lane entry refused: never signed, moved to dead letters");
                    if let Err(e) = self.dead.dead_letter(self.lane, &d.id, &reason).await {
                        warn!(err = %e, entry = %d.id, "dead-lettering failed; entry stays pending");
                    }
                    continue;
                }
            };
            let total = entry.messages.len();
            if total == 0 {
                let _ = self.lanes.ack(self.lane, std::slice::from_ref(&d.id)).await;
                continue;
            }
            let entry_ms =
                d.id.split('-')
                    .next()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
            // An entry that fits in a batch is not split across two: a
            // split entry is acknowledged only with its last message, so a
            // handover between the halves would resend the first half.
            let entry_bytes: usize = entry.messages.iter().map(|m| m.len()).sum();
            let max_bytes = s.cfg.max_batch_bytes;
            let fits_here = |b: &Batch| {
                (b.messages.len() + total <= max && b.bytes + entry_bytes <= max_bytes)
                    || total > max
                    || entry_bytes > max_bytes
            };
            if queue
                .back()
                .is_some_and(|b| !b.messages.is_empty() && !fits_here(b))
            {
                queue.push_back(Batch {
                    seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
                    oldest_ms: entry_ms,
                    ..Batch::default()
                });
            }
            for (i, m) in entry.messages.into_iter().enumerate() {
                if queue.back().is_none_or(|b| {
                    b.messages.len() >= max
                        || (!b.messages.is_empty() && b.bytes + m.len() > max_bytes)
                        || b.not_before.is_some()
                }) {
                    queue.push_back(Batch {
                        seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
                        oldest_ms: entry_ms,
                        ..Batch::default()
                    });
                }
                let b = queue.back_mut().expect("pushed above when missing");
                if b.touches.last() != Some(&d.id) {
                    b.touches.push(d.id.clone());
                }
                b.attempts = b.attempts.max(d.attempts);
                b.bytes += m.len();
                b.messages.push(m);
                b.origins.push(entry.origin);
                b.entry_of
                    .push(u32::try_from(b.touches.len() - 1).unwrap_or(u32::MAX));
                if i + 1 == total {
                    b.completes.push((d.id.clone(), entry.verified_at_ms));
                }
            }
        }
    }

    /// Defense in depth before signing: every message must decode, be of the
    /// relayed version, be addressed to this destination and come from the
    /// entry's origin.
    fn check_entry(&self, e: &LaneEntry) -> Result<(), String> {
        for (i, raw) in e.messages.iter().enumerate() {
            let m = Message::decode(raw).map_err(|err| format!("message {i}: {err}"))?;
            m.check_version()
                .map_err(|err| format!("message {i}: {err}"))?;
            if m.destination != self.s.spec.domain
                && !self.s.spec.group_domains.contains(&m.destination)
            {
                return Err(format!(
                    "message {i}: destination expected {} (or one of its groups {:?}), got {}",
                    self.s.spec.domain, self.s.spec.group_domains, m.destination
                ));
            }
            if m.origin != e.origin {
                return Err(format!(
                    "message {i}: origin expected {}, got {}",
                    e.origin, m.origin
                ));
            }
        }
        Ok(())
    }

    /// Signs, simulates and broadcasts `batch`; returns the confirmation task.
    async fn send(
        &self,
        batch: &Batch,
    ) -> Result<JoinHandle<Result<Included, EvmError>>, EvmError> {
        let s = &self.s;
        let ids: Vec<B256> = batch.messages.iter().map(keccak256).collect();
        let root = batch_root(&ids);
        let sig = s.attester.sign_batch(s.spec.chain_id, s.spec.inbox, root)?;
        let pending = s
            .submitter
            .submit(batch.messages.clone(), vec![Bytes::copy_from_slice(&sig)])
            .await?;
        debug!(messages = batch.messages.len(), "batch submitted");
        {
            let mut partial = self.partial.lock().unwrap_or_else(|p| p.into_inner());
            for id in &batch.touches {
                if !batch.completes.iter().any(|(c, _)| c == id) {
                    partial.insert(id.clone());
                }
            }
        }
        for (o, n) in count_by(&batch.origins) {
            s.metrics
                .count(stage::SUBMITTED, s.origin_name(o), &s.spec.name, n);
        }
        if let Some(tx) = s.submitter.pending_tx(&pending) {
            s.journal.record(|| JournalEvent::Submitted {
                dst: s.spec.domain,
                tx,
                at_ms: unix_ms(),
                ids: ids
                    .iter()
                    .copied()
                    .zip(batch.origins.iter().copied())
                    .collect(),
            });
        }
        let submitter = Arc::clone(&s.submitter);
        let confirmed = Arc::clone(&self.confirmed);
        Ok(tokio::spawn(async move {
            let r = submitter.confirm(pending).await;
            confirmed.notify_one();
            r
        }))
    }

    /// Records a failed attempt; returns whether to retry (after a backoff)
    /// or, having dead-lettered the batch, not.
    async fn failed(&self, batch: &mut Batch, e: &EvmError) -> bool {
        let s = &self.s;
        batch.last_error = e.to_string();
        let mut attempts = batch.attempts + 1;
        for id in &batch.touches {
            match self
                .lanes
                .record_failure(self.lane, id, &batch.last_error)
                .await
            {
                // The persisted count (it survives a restart) decides
                // retries. A batch that cannot succeed is given up now and
                // reports its own attempt: after a split, its entry's count
                // also holds the failures of the entry's other messages.
                Ok(n) if e.is_retryable() => attempts = attempts.max(n),
                Ok(_) => {}
                Err(err) => warn!(err = %err, entry = %id, "recording the attempt failed"),
            }
        }
        batch.attempts = attempts;
        let too_old = unix_ms().saturating_sub(batch.oldest_ms) > s.cfg.max_entry_age_ms;
        if !e.is_retryable() || batch.attempts >= s.cfg.max_attempts || too_old {
            let why = if !e.is_retryable() {
                "not retryable"
            } else if too_old {
                "older than max_entry_age_ms"
            } else {
                "max_attempts reached"
            };
            self.give_up(batch, why).await;
            return false;
        }
        s.metrics
            .lane_retries
            .with_label_values(&[&s.spec.name])
            .inc();
        s.journal.record(|| JournalEvent::Retrying {
            error: batch.last_error.clone(),
            at_ms: unix_ms(),
            ids: batch.messages.iter().map(keccak256).collect(),
        });
        let delay = retry_delay(s.cfg.retry_base_ms, batch.attempts);
        warn!(err = %e, attempt = batch.attempts, delay_ms = delay.as_millis() as u64, "batch failed, will retry");
        batch.not_before = Some(Instant::now() + delay);
        true
    }

    async fn finish(&self, f: InFlight, queue: &mut VecDeque<Batch>) {
        let r = f.task.await;
        self.finish_with(f.batch, f.sent_at, r, queue).await;
    }

    /// Whether `batch` holds the rest of an entry partly delivered.
    fn is_partial(&self, batch: &Batch) -> bool {
        let partial = self.partial.lock().unwrap_or_else(|p| p.into_inner());
        batch.touches.iter().any(|id| partial.contains(id))
    }

    async fn finish_with(
        &self,
        batch: Batch,
        sent_at: Instant,
        result: Result<Result<Included, EvmError>, tokio::task::JoinError>,
        queue: &mut VecDeque<Batch>,
    ) {
        let s = &self.s;
        s.metrics.in_flight.with_label_values(&[&s.spec.name]).dec();
        match result {
            Ok(Ok(inc)) => self.acknowledge(&batch, &inc, sent_at).await,
            Ok(Err(e)) => {
                s.metrics
                    .transactions
                    .with_label_values(&[&s.spec.name, e.kind()])
                    .inc();
                let mut batch = batch;
                if self.failed(&mut batch, &e).await {
                    requeue(queue, batch);
                }
            }
            Err(join) => {
                // The confirmation task panicked or was cancelled: the
                // entries stay pending and are read again by the next owner.
                warn!(err = %join, "confirmation task failed");
            }
        }
    }

    async fn acknowledge(&self, batch: &Batch, inc: &Included, sent_at: Instant) {
        let s = &self.s;
        {
            let mut partial = self.partial.lock().unwrap_or_else(|p| p.into_inner());
            for (id, _) in &batch.completes {
                partial.remove(id);
            }
        }
        s.metrics
            .transactions
            .with_label_values(&[&s.spec.name, "included"])
            .inc();
        s.metrics
            .gas_used
            .with_label_values(&[&s.spec.name])
            .inc_by(inc.gas_used);
        if inc.replacements > 0 {
            s.metrics
                .transactions
                .with_label_values(&[&s.spec.name, "replaced"])
                .inc_by(u64::from(inc.replacements));
        }
        s.metrics
            .latency
            .with_label_values(&["confirm"])
            .observe(sent_at.elapsed().as_secs_f64());
        for (o, n) in count_by(&inc.delivered) {
            s.metrics
                .count(stage::DELIVERED, s.origin_name(o), &s.spec.name, n);
        }
        for (o, n) in count_by(&inc.failed) {
            s.metrics
                .count(stage::FAILED, s.origin_name(o), &s.spec.name, n);
        }
        let now = unix_ms();
        s.journal.record(|| JournalEvent::Included {
            dst: s.spec.domain,
            tx: inc.tx_hash,
            block: inc.block,
            at_ms: now,
            delivered: inc
                .delivered_ids
                .iter()
                .copied()
                .zip(inc.delivered.iter().copied())
                .collect(),
            failed: inc
                .failed_ids
                .iter()
                .zip(inc.failed.iter())
                .map(|((id, why), o)| (*id, *o, why.clone()))
                .collect(),
        });
        for (_, verified_at) in &batch.completes {
            s.metrics
                .latency
                .with_label_values(&["deliver"])
                .observe(now.saturating_sub(*verified_at) as f64 / 1000.0);
        }
        let ids: Vec<String> = batch.completes.iter().map(|(id, _)| id.clone()).collect();
        let mut attempt = 0;
        // Acknowledging is idempotent; retry it rather than leave delivered
        // entries pending (they would be re-sent as no-ops, costing gas).
        while let Err(e) = self.lanes.ack(self.lane, &ids).await {
            attempt += 1;
            s.metrics.redis_errors.with_label_values(&[e.op()]).inc();
            if attempt >= 5 {
                warn!(err = %e, "acknowledging failed; entries will be re-sent as no-ops");
                break;
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        debug!(tx_hash = %inc.tx_hash, block = inc.block, delivered = inc.delivered.len(), failed = inc.failed.len(), "batch included");
    }

    async fn give_up(&self, batch: &Batch, why: &str) {
        let s = &self.s;
        warn!(attempts = batch.attempts, messages = batch.messages.len(), err = %batch.last_error, why, "batch given up; entries moved to dead letters");
        for (o, n) in count_by(&batch.origins) {
            s.metrics
                .count(stage::DEAD_LETTERED, s.origin_name(o), &s.spec.name, n);
        }
        let reason = format!(
            "{why} after {} attempts; last error: {}",
            batch.attempts, batch.last_error
        );
        s.journal.record(|| JournalEvent::DeadLettered {
            dst: s.spec.domain,
            reason: reason.clone(),
            at_ms: unix_ms(),
            ids: batch
                .messages
                .iter()
                .map(keccak256)
                .zip(batch.origins.iter().copied())
                .collect(),
        });
        for id in &batch.touches {
            if let Err(e) = self.dead.dead_letter(self.lane, id, &reason).await {
                warn!(err = %e, entry = %id, "dead-lettering failed; entry stays pending");
            }
        }
    }
}

/// Exponential backoff from `base_ms`, doubling per attempt up to 64x, with
/// jitter in [d/2, d] so retries of many batches do not synchronise.
fn retry_delay(base_ms: u64, attempts: u32) -> Duration {
    let d = base_ms.saturating_mul(1 << attempts.saturating_sub(1).min(6));
    let half = d / 2;
    Duration::from_millis(half + rand::rng().random_range(0..=half.max(1)))
}

impl Batch {
    /// The first half of the messages and the rest, each with the entries
    /// it touches and completes. An entry cut in two is touched by both and
    /// completed by the half holding its last message.
    fn split(self) -> (Batch, Batch) {
        let mid = self.messages.len() / 2;
        let part = |range: std::ops::Range<usize>| {
            let first = self.entry_of[range.start] as usize;
            let last = self.entry_of[range.end - 1] as usize;
            let touches: Vec<String> = self.touches[first..=last].to_vec();
            let completes = self
                .completes
                .iter()
                .filter(|(id, _)| {
                    // The entry's last message in this batch is in `range`.
                    self.touches
                        .iter()
                        .position(|t| t == id)
                        .and_then(|t| self.entry_of.iter().rposition(|&e| e as usize == t))
                        .is_some_and(|i| range.contains(&i))
                })
                .cloned()
                .collect();
            Batch {
                seq: self.seq,
                messages: self.messages[range.clone()].to_vec(),
                origins: self.origins[range.clone()].to_vec(),
                entry_of: self.entry_of[range.clone()]
                    .iter()
                    .map(|&e| e - first as u32)
                    .collect(),
                bytes: self.messages[range].iter().map(|m| m.len()).sum(),
                completes,
                touches,
                attempts: self.attempts,
                oldest_ms: self.oldest_ms,
                last_error: self.last_error.clone(),
                not_before: None,
            }
        };
        let n = self.messages.len();
        (part(0..mid), part(mid..n))
    }
}

/// Lane entries taken per read.
const READ_COUNT: usize = 64;

/// How often an idle pipeline sweeps for stranded pending entries.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Puts a failed batch back in sequence order: ahead of every batch created
/// after it, behind every batch created before it, and ahead of one with
/// the same sequence (the halves of a split: requeue the right half, then
/// the left).
fn requeue(queue: &mut VecDeque<Batch>, batch: Batch) {
    let at = queue
        .iter()
        .position(|b| b.seq >= batch.seq)
        .unwrap_or(queue.len());
    queue.insert(at, batch);
}

fn count_by(domains: &[Domain]) -> Vec<(Domain, u64)> {
    let mut out: Vec<(Domain, u64)> = Vec::new();
    for d in domains {
        match out.iter_mut().find(|(k, _)| k == d) {
            Some((_, n)) => *n += 1,
            None => out.push((*d, 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_halves_keep_entries_touched_and_completed_where_their_messages_are() {
        // Entries A (3 messages, last here), B (2, last here), C (3, more in
        // a later batch): A0 A1 A2 B0 | B1 C0 C1 C2.
        let msg = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        let b = Batch {
            seq: 7,
            messages: ["A0", "A1", "A2", "B0", "B1", "C0", "C1", "C2"]
                .map(msg)
                .to_vec(),
            origins: vec![1, 1, 1, 2, 2, 3, 3, 3],
            entry_of: vec![0, 0, 0, 1, 1, 2, 2, 2],
            bytes: 16,
            completes: vec![("A".into(), 10), ("B".into(), 11)],
            touches: vec!["A".into(), "B".into(), "C".into()],
            attempts: 2,
            ..Batch::default()
        };
        let (l, r) = b.split();
        assert_eq!(l.messages, ["A0", "A1", "A2", "B0"].map(msg));
        assert_eq!(l.touches, ["A", "B"]);
        assert_eq!(l.completes, [("A".to_owned(), 10)]);
        assert_eq!(l.entry_of, [0, 0, 0, 1]);
        assert_eq!(l.origins, [1, 1, 1, 2]);
        assert_eq!(r.messages, ["B1", "C0", "C1", "C2"].map(msg));
        assert_eq!(r.touches, ["B", "C"]);
        assert_eq!(r.completes, [("B".to_owned(), 11)]);
        assert_eq!(r.entry_of, [0, 1, 1, 1]);
        assert_eq!((l.seq, r.seq, l.attempts, r.bytes), (7, 7, 2, 8));
        // Requeued right then left, both land ahead of later batches and
        // in order.
        let mut q = VecDeque::from([Batch {
            seq: 9,
            ..Batch::default()
        }]);
        requeue(&mut q, r);
        requeue(&mut q, l);
        let order: Vec<(u64, usize)> = q.iter().map(|b| (b.seq, b.messages.len())).collect();
        assert_eq!(order, [(7, 4), (7, 4), (9, 0)]);
        assert_eq!(q[0].messages[0], msg("A0"));
        // Halving a single message is never asked for; two split into ones.
        let two = Batch {
            messages: vec![msg("x"), msg("y")],
            origins: vec![1, 1],
            entry_of: vec![0, 0],
            touches: vec!["X".into()],
            completes: vec![("X".into(), 1)],
            ..Batch::default()
        };
        let (a, b) = two.split();
        assert_eq!((a.touches.len(), a.completes.len()), (1, 0));
        assert_eq!((b.touches.len(), b.completes.len()), (1, 1));
    }

    #[test]
    fn retry_delay_doubles_with_jitter_and_is_capped() {
        for attempts in 1..12 {
            let d = retry_delay(100, attempts).as_millis() as u64;
            let cap = 100 * (1 << (attempts - 1).min(6));
            assert!(
                d >= cap / 2 && d <= cap,
                "attempt {attempts}: {d} not in [{}, {cap}]",
                cap / 2
            );
        }
    }

    #[test]
    fn count_by_groups() {
        assert_eq!(count_by(&[1, 2, 1, 1]), vec![(1, 3), (2, 1)]);
    }
}
