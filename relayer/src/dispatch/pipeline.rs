//! One shard's delivery pipeline, run by the worker holding the shard's
//! lease: it reads the shard through the consumer group, cuts entries into
//! batches, authenticates and re-checks every entry before signing the
//! attestation over each batch root, submits, and acknowledges entries only
//! after their batch is included at the configured depth. Each turn of its
//! loop runs the numbered phases: (0) sweep for stranded entries, (1) read,
//! (2) send, (3) confirm; on stop it drains.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::{B256, Bytes, keccak256};
use rand::Rng;
use switchyard_evm::EvmError;
use switchyard_evm::submitter::Included;
use switchyard_types::{Domain, Message, batch_root};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use crate::chain::BatchSink;
use crate::journal::Event as JournalEvent;
use crate::metrics::stage;
use crate::store::{DeadLetters, Delivery, EntryRefusal, LaneEntry, LaneId, Lanes};
use crate::tasks::{backoff, sleep_or_shutdown};
use crate::unix_ms;

use super::{Shared, Signing};

/// Messages sent in one transaction, and the entries they finish.
#[derive(Debug, Default)]
struct Batch {
    /// Creation order within the pipeline: the queue stays sorted by it, so
    /// a failed batch goes back ahead of every later one (channel order).
    seq: u64,
    messages: Vec<Bytes>,
    /// Origin of each message (metrics, and what attesters are told).
    origins: Vec<Domain>,
    /// Origin height of each message's entry (what attesters are told).
    heights: Vec<u64>,
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
    /// Failures that only said the destination could not be reached: they
    /// stretch the backoff but spend no attempt.
    outages: u32,
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

/// A pipeline's work in hand, carried from phase to phase.
struct Flow {
    /// Batches cut and waiting to be sent, in sequence order.
    queue: VecDeque<Batch>,
    /// Transactions sent and not yet confirmed, in send order.
    inflight: VecDeque<InFlight>,
    /// Lane reads failed in a row.
    redis_failures: u32,
    /// When phase 0 last swept.
    last_sweep: Instant,
    /// The highest stream id this pipeline has taken from the lane: an
    /// entry pending after it that a read did not return was taken by
    /// another reader (`Lanes::read_new`).
    upto: String,
}

impl Flow {
    fn note(&mut self, deliveries: &[Delivery]) {
        if let Some(top) = deliveries
            .iter()
            .map(|d| crate::store::stream_id_key(&d.id))
            .max()
            && top > crate::store::stream_id_key(&self.upto)
        {
            self.upto = format!("{}-{}", top.0, top.1);
        }
    }
}

/// One shard, worked by the worker holding its lease.
pub(super) struct ShardPipeline<K> {
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
    pub(super) async fn new(
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
    /// Works the shard until `stop`: (0) sweep for stranded entries, (1) read
    /// more work, (2) send queued batches, (3) process confirmations in send
    /// order; then drain what is in flight.
    pub(super) async fn run(self, stop: CancellationToken) {
        if !self.start(&stop).await {
            return;
        }
        let mut f = Flow {
            queue: VecDeque::new(),
            inflight: VecDeque::new(),
            redis_failures: 0,
            last_sweep: Instant::now(),
            upto: "0-0".into(),
        };
        self.take_over(&mut f).await;
        while !stop.is_cancelled() {
            self.sweep(&mut f).await;
            let Some(more) = self.read_more(&mut f, &stop).await else {
                break;
            };
            // Stopped (the lease lost, a shutdown): nothing new goes out;
            // the drain finishes what is in flight and partly delivered.
            if stop.is_cancelled() {
                break;
            }
            self.send_queued(&mut f).await;
            if !self.confirm(&mut f, more, &stop).await {
                break;
            }
        }
        self.drain(&mut f).await;
        debug!("shard pipeline stopped");
    }

    /// Creates the consumer group (retrying Redis); false on shutdown.
    async fn start(&self, stop: &CancellationToken) -> bool {
        let s = &self.s;
        let mut attempt = 0;
        while let Err(e) = self.lanes.ensure_group(self.lane).await {
            attempt += 1;
            warn!(err = %e, attempt, "cannot create consumer group, retrying");
            s.metrics.redis_errors.with_label_values(&[e.op()]).inc();
            if sleep_or_shutdown(backoff(attempt), stop).await {
                return false;
            }
        }
        true
    }

    /// We hold the lease: whatever another consumer left pending (a dead
    /// process, a lost lease) is ours now, and so is our own.
    async fn take_over(&self, f: &mut Flow) {
        match self
            .lanes
            .reclaim(self.lane, &self.consumer, Duration::ZERO, 10_000)
            .await
        {
            Ok(d) => {
                if !d.is_empty() {
                    info!(entries = d.len(), "took over pending entries");
                }
                self.adopt(f, d).await;
            }
            Err(e) => warn!(err = %e, "reclaiming pending entries failed; they stay pending"),
        }
    }

    /// Entries claimed from other readers (a take-over, a take-back): counted
    /// as reclaimed and batched behind what is queued.
    async fn adopt(&self, f: &mut Flow, d: Vec<Delivery>) {
        let s = &self.s;
        s.metrics
            .lane_reclaimed
            .with_label_values(&[&s.spec.name])
            .inc_by(d.len() as u64);
        f.note(&d);
        self.batch_up(d, &mut f.queue).await;
    }

    /// Phase 0. With nothing queued or in flight, any entry still pending
    /// on this consumer was dropped on a failure path (a dead-letter or ack
    /// that failed, a panicked confirmation), and an entry pending on
    /// another consumer for longer than the lease is orphaned: pick both up
    /// again rather than strand them.
    async fn sweep(&self, f: &mut Flow) {
        let s = &self.s;
        if !(f.queue.is_empty() && f.inflight.is_empty() && f.last_sweep.elapsed() >= SWEEP_EVERY) {
            return;
        }
        f.last_sweep = Instant::now();
        {
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
                f.note(&stranded);
                self.batch_up(stranded, &mut f.queue).await;
            }
        }
    }

    /// Phase 1. Reads more work while the pipeline has room. Idle, a
    /// blocking read waits for work; busy, the read only looks, and the
    /// wait happens in phase 3 where a finished confirmation can end it
    /// too. Returns whether more is waiting in the lane (None on shutdown).
    async fn read_more(&self, f: &mut Flow, stop: &CancellationToken) -> Option<bool> {
        let s = &self.s;
        let mut more = false;
        if f.queue.len() + f.inflight.len() < s.cfg.max_in_flight * 2 {
            let idle = f.queue.is_empty() && f.inflight.is_empty();
            let block = if idle {
                Duration::from_millis(500)
            } else {
                Duration::ZERO
            };
            match self
                .lanes
                .read_new(self.lane, &self.consumer, READ_COUNT, block, &f.upto)
                .await
            {
                Ok((deliveries, taken)) => {
                    f.redis_failures = 0;
                    more = deliveries.len() == READ_COUNT;
                    if !taken.is_empty() && !self.take_back(f, &taken).await {
                        // Not the lease holder any more: what was just read
                        // is left to the holder, who takes it back in order
                        // with the rest. The worker stops this pipeline at
                        // its next lease round.
                        sleep_or_shutdown(Duration::from_millis(s.cfg.lease_ttl_ms / 3), stop)
                            .await;
                        return Some(false);
                    }
                    f.note(&deliveries);
                    self.batch_up(deliveries, &mut f.queue).await;
                }
                Err(e) => {
                    f.redis_failures += 1;
                    s.metrics.redis_errors.with_label_values(&[e.op()]).inc();
                    warn!(err = %e, attempt = f.redis_failures, "reading the lane failed");
                    if sleep_or_shutdown(backoff(f.redis_failures), stop).await {
                        return None;
                    }
                }
            }
        }
        Some(more)
    }

    /// Entries `taken` were read out of the lane by another reader after
    /// everything this pipeline took and before its latest read: a holder
    /// that lost its lease and read once more before it knew. They go
    /// before the newer entries, as their channels' order wants. False when
    /// the lease is not this pipeline's (it is the stale one).
    async fn take_back(&self, f: &mut Flow, taken: &[String]) -> bool {
        let s = &self.s;
        match self.lanes.take_back(self.lane, &self.consumer, taken).await {
            Ok(Some(d)) => {
                warn!(
                    entries = d.len(),
                    "took back entries another reader took out of the lane (a holder that lost its lease); sent before newer ones"
                );
                self.adopt(f, d).await;
                true
            }
            Ok(None) => {
                debug!(
                    entries = taken.len(),
                    "entries pending on another reader, and the lease is not ours"
                );
                false
            }
            Err(e) => {
                s.metrics.redis_errors.with_label_values(&[e.op()]).inc();
                warn!(err = %e, "taking back entries another reader took failed; they stay pending until swept");
                true
            }
        }
    }

    /// Phase 2. Sends queued batches while there is room in flight; a batch
    /// waiting out its backoff holds back those behind it (order).
    async fn send_queued(&self, f: &mut Flow) {
        let s = &self.s;
        while f.inflight.len() < s.cfg.max_in_flight {
            if f.queue
                .front()
                .is_some_and(|b| b.not_before.is_some_and(|t| Instant::now() < t))
            {
                break;
            }
            let Some(mut batch) = f.queue.pop_front() else {
                break;
            };
            match self.send(&batch).await {
                Ok(task) => {
                    s.metrics.in_flight.with_label_values(&[&s.spec.name]).inc();
                    f.inflight.push_back(InFlight {
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
                        requeue(&mut f.queue, right);
                        requeue(&mut f.queue, left);
                        continue;
                    }
                    if self.failed(&mut batch, &e).await {
                        requeue(&mut f.queue, batch);
                    }
                    break;
                }
            }
        }
    }

    /// Phase 3. Processes confirmations in send order; when none finished,
    /// waits for the oldest (pipeline full) or for a confirmation, new work
    /// or a retry coming due. False on shutdown while waiting.
    async fn confirm(&self, f: &mut Flow, more: bool, stop: &CancellationToken) -> bool {
        let s = &self.s;
        let wait = Duration::from_millis(s.cfg.max_wait_ms.max(1));
        let mut finished_any = false;
        while f.inflight.front().is_some_and(|f| f.task.is_finished()) {
            let Some(done) = f.inflight.pop_front() else {
                break;
            };
            finished_any = true;
            self.finish(done, &mut f.queue).await;
        }
        if !finished_any && f.inflight.len() >= s.cfg.max_in_flight {
            // Pipeline full: wait for the oldest transaction. It is taken
            // out of the queue so its JoinHandle is awaited exactly once.
            if let Some(mut oldest) = f.inflight.pop_front() {
                let done = tokio::select! {
                    _ = stop.cancelled() => None,
                    r = &mut oldest.task => Some(r),
                };
                match done {
                    None => {
                        f.inflight.push_front(oldest);
                        return false;
                    }
                    Some(r) => {
                        self.finish_with(oldest.batch, oldest.sent_at, r, &mut f.queue)
                            .await;
                    }
                }
            }
        } else if !finished_any && !more && (!f.inflight.is_empty() || !f.queue.is_empty()) {
            // Until a confirmation ends or `max_wait_ms` passes (new
            // entries, a retry coming due), whichever is first. A
            // notification from a task already handled leaves a stale
            // permit: it costs one extra turn of the loop, nothing else.
            // With nothing in flight and the next batch waiting out a
            // retry backoff, nothing can happen before it is due (new
            // entries queue behind it): sleep until then, up to a second.
            let nap = match (
                f.inflight.is_empty(),
                f.queue.front().and_then(|b| b.not_before),
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
        true
    }

    /// On stop: in-flight transactions may still be included; acknowledge
    /// those that are, leave the rest pending for the next owner.
    async fn drain(&self, f: &mut Flow) {
        let s = &self.s;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while let Some(left) = f.inflight.pop_front() {
            s.metrics.in_flight.with_label_values(&[&s.spec.name]).dec();
            let abort = left.task.abort_handle();
            match tokio::time::timeout_at(deadline, left.task).await {
                Ok(Ok(Ok(inc))) => self.acknowledge(&left.batch, &inc, left.sent_at).await,
                _ => abort.abort(),
            }
        }
        // Then the rest of any entry partly delivered, batch by batch in
        // order, while the deadline allows; whatever is left stays pending
        // for the next owner, who resends it whole (the Inbox skips the
        // replayed part: at-least-once, never lost).
        while let Some(batch) = f.queue.pop_front() {
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
                        .with_label_values(&[&s.spec.name, crate::metrics::refusal::REFUSED_ENTRY])
                        .inc();
                    warn!(entry = %d.id, reason = %reason, "lane entry refused: never signed, moved to dead letters");
                    if let Err(e) = self
                        .dead
                        .dead_letter(self.lane, &d.id, &reason.to_string())
                        .await
                    {
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
                b.heights.push(entry.height);
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
    fn check_entry(&self, e: &LaneEntry) -> Result<(), EntryRefusal> {
        for (index, raw) in e.messages.iter().enumerate() {
            let refused = |err: &dyn std::fmt::Display| EntryRefusal::Message {
                index,
                reason: err.to_string(),
            };
            let m = Message::decode(raw).map_err(|err| refused(&err))?;
            m.check_version().map_err(|err| refused(&err))?;
            if m.destination != self.s.spec.domain
                && !self.s.spec.group_domains.contains(&m.destination)
            {
                return Err(EntryRefusal::Destination {
                    index,
                    expected: self.s.spec.domain,
                    groups: self.s.spec.group_domains.clone(),
                    got: m.destination,
                });
            }
            if m.origin != e.origin {
                return Err(EntryRefusal::Origin {
                    index,
                    expected: e.origin,
                    got: m.origin,
                });
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
        let signatures = match &s.signing {
            Signing::Local(attester) => {
                let sig = attester.sign_batch(s.spec.chain_id, s.spec.inbox, root)?;
                vec![Bytes::copy_from_slice(&sig)]
            }
            Signing::Attesters(collector) => {
                let got = collector
                    .collect(
                        s.submitter.as_ref(),
                        s.spec.chain_id,
                        s.spec.inbox,
                        &ids,
                        &batch.origins,
                        &batch.heights,
                        root,
                    )
                    .await;
                if got.is_ok() {
                    let now = unix_ms();
                    for (_, verified_at) in &batch.completes {
                        s.metrics
                            .latency
                            .with_label_values(&["attest"])
                            .observe(now.saturating_sub(*verified_at) as f64 / 1000.0);
                    }
                }
                match (&got, &s.health) {
                    (Ok(_), Some(h)) => h.attested(&s.spec.name),
                    (Err(e @ EvmError::BelowThreshold { .. }), Some(h)) => {
                        h.attestation_short(&s.spec.name, e.to_string());
                    }
                    _ => {}
                }
                if matches!(got, Err(EvmError::BelowThreshold { .. })) {
                    s.metrics
                        .attestation_short
                        .with_label_values(&[&s.spec.name])
                        .inc();
                }
                got?
            }
        };
        let pending = match s.submitter.submit(batch.messages.clone(), signatures).await {
            Err(e) if crate::attest::collect::is_signature_revert(&e) => {
                // The Inbox's set or threshold changed since it was read:
                // nothing is wrong with the batch. Read the set again and
                // retry, spending no attempt.
                if let Signing::Attesters(collector) = &s.signing {
                    collector.forget_set(s.spec.chain_id, s.spec.inbox);
                    return Err(EvmError::BelowThreshold {
                        got: 0,
                        threshold: 0,
                        detail: format!(
                            "the Inbox refused the signatures ({e}); its attester set is read again"
                        ),
                    });
                }
                return Err(e);
            }
            other => other?,
        };
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
        let too_old = unix_ms().saturating_sub(batch.oldest_ms) > s.cfg.max_entry_age_ms;
        if e.is_outage() && !too_old {
            // The destination (or its endpoints) is down: nothing was learnt
            // about this batch, so no attempt is spent; a long outage would
            // otherwise dead-letter everything waiting for it. Entries older
            // than max_entry_age_ms still go.
            batch.outages = batch.outages.saturating_add(1);
            s.metrics
                .lane_retries
                .with_label_values(&[&s.spec.name])
                .inc();
            let delay = retry_delay(s.cfg.retry_base_ms, batch.attempts + batch.outages);
            if matches!(e, EvmError::BelowThreshold { .. }) {
                // Usual for a moment (the attesters' light clients follow
                // the origins a little behind this hub's); a lasting one is
                // on /readyz and in switchyard_attestation_short_total.
                debug!(err = %e, outages = batch.outages, delay_ms = delay.as_millis() as u64, "batch waits for attester signatures");
            } else {
                warn!(err = %e, attempt = batch.attempts, outages = batch.outages, delay_ms = delay.as_millis() as u64, "destination unreachable, batch will be retried");
            }
            batch.not_before = Some(Instant::now() + delay);
            return true;
        }
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
                heights: self.heights[range.clone()].to_vec(),
                entry_of: self.entry_of[range.clone()]
                    .iter()
                    .map(|&e| e - first as u32)
                    .collect(),
                bytes: self.messages[range].iter().map(|m| m.len()).sum(),
                completes,
                touches,
                attempts: self.attempts,
                outages: self.outages,
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
            heights: vec![40, 40, 40, 41, 41, 42, 42, 42],
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
        assert_eq!(l.heights, [40, 40, 40, 41]);
        assert_eq!(r.heights, [41, 42, 42, 42]);
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
            heights: vec![5, 6],
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
