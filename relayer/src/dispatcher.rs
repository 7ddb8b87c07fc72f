//! A destination's dispatcher: reads its lane through the consumer group,
//! cuts entries into delivery batches, signs the attestation over each batch
//! root, submits `Inbox.deliver`, and acknowledges entries only after their
//! batch is included at the configured depth. Up to `max_in_flight`
//! transactions are outstanding; confirmations are processed in send order.
//!
//! A failed transaction is sent again (the Inbox's replay protection makes
//! the already delivered part a no-op); past `max_attempts`, or when the batch
//! itself is bad, its entries move to the dead-letter stream with the reason.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes, keccak256};
use switchyard_evm::EvmError;
use switchyard_evm::attest::Attester;
use switchyard_evm::submitter::{EvmSubmitter, Included};
use switchyard_types::{Domain, Message, batch_root};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use crate::config::DispatcherConfig;
use crate::lane::{Delivery, Lanes};
use crate::metrics::{Metrics, stage};
use crate::unix_ms;
use crate::watcher::{backoff, sleep_or_shutdown};

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
}

/// Messages sent in one transaction, and the entries they finish.
#[derive(Debug, Default)]
struct Batch {
    messages: Vec<Bytes>,
    /// Origin of each message (metrics).
    origins: Vec<Domain>,
    /// Entries whose last message is in this batch: acknowledged on inclusion.
    completes: Vec<(String, u64)>,
    /// Every entry with a message in this batch, with its raw body: what goes
    /// to the dead-letter stream if the batch is given up.
    touches: Vec<(String, Vec<u8>)>,
    attempts: u32,
    last_error: String,
}

struct InFlight {
    batch: Batch,
    sent_at: Instant,
    task: JoinHandle<Result<Included, EvmError>>,
}

/// One destination's dispatcher.
#[derive(Debug)]
pub struct Dispatcher {
    spec: DestSpec,
    lanes: Lanes,
    submitter: Arc<EvmSubmitter>,
    attester: Attester,
    metrics: Metrics,
    cfg: DispatcherConfig,
    consumer: String,
    origin_names: Arc<HashMap<Domain, String>>,
}

impl Dispatcher {
    /// A dispatcher; nothing runs until [`Dispatcher::run`].
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        spec: DestSpec,
        lanes: Lanes,
        submitter: Arc<EvmSubmitter>,
        attester: Attester,
        metrics: Metrics,
        cfg: DispatcherConfig,
        consumer: String,
        origin_names: Arc<HashMap<Domain, String>>,
    ) -> Self {
        Self {
            spec,
            lanes,
            submitter,
            attester,
            metrics,
            cfg,
            consumer,
            origin_names,
        }
    }

    fn origin_name(&self, d: Domain) -> &str {
        self.origin_names
            .get(&d)
            .map(String::as_str)
            .unwrap_or("unknown")
    }

    /// Runs until `shutdown`, then waits (bounded) for in-flight transactions.
    #[instrument(name = "dispatcher", skip_all, fields(chain = %self.spec.name))]
    pub async fn run(self, shutdown: CancellationToken) {
        let mut attempt = 0;
        while let Err(e) = self.lanes.ensure_group(self.spec.domain).await {
            attempt += 1;
            warn!(err = %e, attempt, "cannot create consumer group, retrying");
            self.metrics.redis_errors.with_label_values(&[e.op()]).inc();
            if sleep_or_shutdown(backoff(attempt), &shutdown).await {
                return;
            }
        }
        info!(consumer = %self.consumer, "dispatcher started");
        let mut queue: VecDeque<Batch> = VecDeque::new();
        let mut inflight: VecDeque<InFlight> = VecDeque::new();
        let mut read_pending = true;
        let mut last_reclaim = Instant::now();
        let mut last_backlog = Instant::now() - Duration::from_secs(10);
        let mut redis_failures = 0u32;
        let wait = Duration::from_millis(self.cfg.max_wait_ms.max(1));
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if last_backlog.elapsed() >= Duration::from_secs(1) {
                last_backlog = Instant::now();
                self.report_backlog().await;
            }
            // 1. Read more work while the pipeline has room.
            if queue.len() + inflight.len() < self.cfg.max_in_flight * 2 {
                let idle = queue.is_empty() && inflight.is_empty();
                let block = if idle {
                    Duration::from_millis(500)
                } else {
                    wait
                };
                let mut read = self
                    .lanes
                    .read(self.spec.domain, &self.consumer, 64, block, read_pending)
                    .await;
                if let Ok(d) = &read
                    && read_pending
                    && d.is_empty()
                {
                    read_pending = false;
                }
                if last_reclaim.elapsed() >= Duration::from_millis(self.cfg.reclaim_idle_ms / 2) {
                    last_reclaim = Instant::now();
                    let idle = Duration::from_millis(self.cfg.reclaim_idle_ms);
                    match self
                        .lanes
                        .reclaim(self.spec.domain, &self.consumer, idle, 64)
                        .await
                    {
                        Ok(more) if !more.is_empty() => {
                            info!(
                                entries = more.len(),
                                "reclaimed entries idle on another consumer"
                            );
                            if let Ok(d) = &mut read {
                                d.extend(more);
                            }
                        }
                        Ok(_) => {}
                        Err(e) => warn!(err = %e, "reclaim failed"),
                    }
                }
                match read {
                    Ok(deliveries) => {
                        redis_failures = 0;
                        self.batch_up(deliveries, &mut queue).await;
                    }
                    Err(e) => {
                        redis_failures += 1;
                        self.metrics.redis_errors.with_label_values(&[e.op()]).inc();
                        warn!(err = %e, attempt = redis_failures, "reading the lane failed");
                        if sleep_or_shutdown(backoff(redis_failures), &shutdown).await {
                            break;
                        }
                    }
                }
            }
            // 2. Send queued batches while there is room in flight.
            while inflight.len() < self.cfg.max_in_flight {
                let Some(mut batch) = queue.pop_front() else {
                    break;
                };
                match self.send(&batch).await {
                    Ok(task) => {
                        self.metrics
                            .in_flight
                            .with_label_values(&[&self.spec.name])
                            .inc();
                        inflight.push_back(InFlight {
                            batch,
                            sent_at: Instant::now(),
                            task,
                        });
                    }
                    Err(e) => {
                        batch.attempts += 1;
                        batch.last_error = e.to_string();
                        self.metrics
                            .transactions
                            .with_label_values(&[&self.spec.name, e.kind()])
                            .inc();
                        if !e.is_retryable() || batch.attempts >= self.cfg.max_attempts {
                            self.give_up(batch, &e.to_string()).await;
                        } else {
                            warn!(err = %e, attempt = batch.attempts, "submit failed, will retry");
                            queue.push_front(batch);
                            if sleep_or_shutdown(backoff(batch_attempts(&queue)), &shutdown).await {
                                break;
                            }
                            break;
                        }
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
            if !finished_any && queue.is_empty() && inflight.len() >= self.cfg.max_in_flight {
                // Pipeline full: wait for the oldest transaction.
                if let Some(f) = inflight.front_mut() {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = &mut f.task => {}
                    }
                }
            } else if !finished_any && !inflight.is_empty() && queue.is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        // Drain: in-flight transactions may still be included; acknowledge
        // those that are, leave the rest pending for a restart or a replica.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while let Some(f) = inflight.pop_front() {
            let abort = f.task.abort_handle();
            match tokio::time::timeout_at(deadline, f.task).await {
                Ok(Ok(Ok(inc))) => self.acknowledge(&f.batch, &inc, f.sent_at).await,
                _ => abort.abort(),
            }
        }
        info!("dispatcher stopped");
    }

    /// Decodes deliveries into batches; malformed entries go to dead letters.
    async fn batch_up(&self, deliveries: Vec<Delivery>, queue: &mut VecDeque<Batch>) {
        let max = self.cfg.max_batch_messages;
        for d in deliveries {
            let entry = match d.entry.and_then(|e| self.check_entry(&e).map(|()| e)) {
                Ok(e) => e,
                Err(reason) => {
                    self.metrics
                        .rejections
                        .with_label_values(&[&self.spec.name, "malformed_entry"])
                        .inc();
                    warn!(entry = %d.id, reason = %reason, "lane entry refused: never signed, moved to dead letters");
                    if let Err(e) = self
                        .lanes
                        .dead_letter(self.spec.domain, &d.id, &d.raw, &reason)
                        .await
                    {
                        warn!(err = %e, entry = %d.id, "dead-lettering failed; entry stays pending");
                    }
                    continue;
                }
            };
            let total = entry.messages.len();
            if total == 0 {
                // Nothing to deliver; acknowledge right away.
                let _ = self
                    .lanes
                    .ack(self.spec.domain, std::slice::from_ref(&d.id))
                    .await;
                continue;
            }
            for (i, m) in entry.messages.into_iter().enumerate() {
                if queue.back().is_none_or(|b| b.messages.len() >= max) {
                    queue.push_back(Batch::default());
                }
                let b = queue.back_mut().expect("pushed above when missing");
                if b.touches.last().is_none_or(|(id, _)| id != &d.id) {
                    b.touches.push((d.id.clone(), d.raw.clone()));
                }
                b.messages.push(m);
                b.origins.push(entry.origin);
                if i + 1 == total {
                    b.completes.push((d.id.clone(), entry.verified_at_ms));
                }
            }
        }
    }

    /// Defense in depth before signing: every message must decode, be of the
    /// relayed version and be addressed to this destination.
    fn check_entry(&self, e: &crate::lane::LaneEntry) -> Result<(), String> {
        for (i, raw) in e.messages.iter().enumerate() {
            let m = Message::decode(raw).map_err(|err| format!("message {i}: {err}"))?;
            m.check_version()
                .map_err(|err| format!("message {i}: {err}"))?;
            if m.destination != self.spec.domain {
                return Err(format!(
                    "message {i}: destination expected {}, got {}",
                    self.spec.domain, m.destination
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
        let ids: Vec<B256> = batch.messages.iter().map(keccak256).collect();
        let root = batch_root(&ids);
        let sig = self
            .attester
            .sign_batch(self.spec.chain_id, self.spec.inbox, root)?;
        let prepared = self
            .submitter
            .prepare(batch.messages.clone(), vec![Bytes::copy_from_slice(&sig)])
            .await?;
        let pending = self.submitter.submit(&prepared).await?;
        debug!(tx_hash = %pending.tx_hash, messages = batch.messages.len(), "batch broadcast");
        for (o, n) in count_by(&batch.origins) {
            self.metrics
                .count(stage::SUBMITTED, self.origin_name(o), &self.spec.name, n);
        }
        let submitter = Arc::clone(&self.submitter);
        Ok(tokio::spawn(
            async move { submitter.confirm(&pending).await },
        ))
    }

    async fn finish(&self, f: InFlight, queue: &mut VecDeque<Batch>) {
        self.metrics
            .in_flight
            .with_label_values(&[&self.spec.name])
            .dec();
        match f.task.await {
            Ok(Ok(inc)) => self.acknowledge(&f.batch, &inc, f.sent_at).await,
            Ok(Err(e)) => {
                let mut batch = f.batch;
                batch.attempts += 1;
                batch.last_error = e.to_string();
                self.metrics
                    .transactions
                    .with_label_values(&[&self.spec.name, e.kind()])
                    .inc();
                if !e.is_retryable() || batch.attempts >= self.cfg.max_attempts {
                    self.give_up(batch, &e.to_string()).await;
                } else {
                    warn!(err = %e, attempt = batch.attempts, "delivery not confirmed, sending again");
                    queue.push_front(batch);
                }
            }
            Err(join) => {
                // The confirmation task panicked or was cancelled: the entries
                // stay pending and are read again after a restart.
                warn!(err = %join, "confirmation task failed");
            }
        }
    }

    async fn acknowledge(&self, batch: &Batch, inc: &Included, sent_at: Instant) {
        self.metrics
            .transactions
            .with_label_values(&[&self.spec.name, "included"])
            .inc();
        self.metrics
            .gas_used
            .with_label_values(&[&self.spec.name])
            .inc_by(inc.gas_used);
        self.metrics
            .latency
            .with_label_values(&["confirm"])
            .observe(sent_at.elapsed().as_secs_f64());
        for (o, n) in count_by(&inc.delivered) {
            self.metrics
                .count(stage::DELIVERED, self.origin_name(o), &self.spec.name, n);
        }
        for (o, n) in count_by(&inc.failed) {
            self.metrics
                .count(stage::FAILED, self.origin_name(o), &self.spec.name, n);
        }
        let now = unix_ms();
        for (_, verified_at) in &batch.completes {
            self.metrics
                .latency
                .with_label_values(&["deliver"])
                .observe(now.saturating_sub(*verified_at) as f64 / 1000.0);
        }
        let ids: Vec<String> = batch.completes.iter().map(|(id, _)| id.clone()).collect();
        let mut attempt = 0;
        // Acknowledging is idempotent; retry it rather than leave delivered
        // entries pending (they would be re-sent as no-ops, costing gas).
        while let Err(e) = self.lanes.ack(self.spec.domain, &ids).await {
            attempt += 1;
            self.metrics.redis_errors.with_label_values(&[e.op()]).inc();
            if attempt >= 5 {
                warn!(err = %e, "acknowledging failed; entries will be re-sent as no-ops");
                break;
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        debug!(tx_hash = %inc.tx_hash, block = inc.block, delivered = inc.delivered.len(), failed = inc.failed.len(), "batch included");
    }

    async fn give_up(&self, batch: Batch, reason: &str) {
        warn!(attempts = batch.attempts, messages = batch.messages.len(), err = %reason, "batch given up; entries moved to dead letters");
        for (o, n) in count_by(&batch.origins) {
            self.metrics.count(
                stage::DEAD_LETTERED,
                self.origin_name(o),
                &self.spec.name,
                n,
            );
        }
        let reason = format!("after {} attempts: {}", batch.attempts, batch.last_error);
        for (id, raw) in &batch.touches {
            if let Err(e) = self
                .lanes
                .dead_letter(self.spec.domain, id, raw, &reason)
                .await
            {
                warn!(err = %e, entry = %id, "dead-lettering failed; entry stays pending");
            }
        }
    }

    async fn report_backlog(&self) {
        match self.lanes.backlog(self.spec.domain, unix_ms()).await {
            Ok((len, age_ms)) => {
                self.metrics
                    .lane_backlog
                    .with_label_values(&[&self.spec.name])
                    .set(len as i64);
                self.metrics
                    .lane_oldest_age
                    .with_label_values(&[&self.spec.name])
                    .set((age_ms / 1000) as i64);
            }
            Err(e) => {
                self.metrics.redis_errors.with_label_values(&[e.op()]).inc();
            }
        }
    }
}

fn batch_attempts(queue: &VecDeque<Batch>) -> u32 {
    queue.front().map_or(0, |b| b.attempts)
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
