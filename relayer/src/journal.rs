//! The message status journal: where each message is, for the status API
//! (`/v1/messages`), `switchyard status` and the explorer page.
//!
//! Watchers and dispatchers report stages ([`Event`]) to a [`Journal`]
//! handle, which never waits: events go through a queue bounded in message
//! updates (one per message and stage) to one writer task that pipelines
//! them into Redis. When Redis cannot keep up or fails, updates are dropped
//! and counted (`switchyard_status_updates_total{outcome}`); delivery never
//! waits for the journal, and the journal never decides anything about
//! delivery. Its capacity is measured in BENCHMARKS.md ("Status journal").
//!
//! In Redis (prefix `sy` by default), each expiring `retention_secs` after
//! its last write:
//! - `…:status:msg:<id>`: a hash of the message's record (fields below);
//! - `…:status:by_tx:<hash>`: the messages of an origin or destination
//!   transaction, in its order;
//! - `…:status:by_sender:<origin>:<sender>`: the sender's newest messages
//!   (both sorted sets, see [`crate::status_index`]);
//! - `…:status:counts`: deployment-wide counts per `origin:dst:stage`
//!   (never expires), from which the explorer computes rates.
//!
//! The journal shares the lanes' Redis, which runs with `noeviction`: a
//! Redis it filled would refuse the lanes' writes too. So it keeps off the
//! last [`JOURNAL_MAX_MEMORY_PERCENT`] of `maxmemory`: on a single server
//! the writer reads `INFO memory` every [`MEMORY_CHECK_EVERY`] and, while
//! Redis uses more, drops its updates (`outcome="redis_full"`) instead of
//! writing them. (On a Cluster each node has its own memory: the bound is
//! not checked there; size the nodes for the journal.)
//!
//! The records are not authenticated: they are what the hub saw, shown to
//! people, and a party that can write to Redis can make them lie. What is
//! relayed is decided by the lanes, whose entries are.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::{B256, Bytes, hex, keccak256};
use switchyard_sdk::{DestinationInfo, MessageFields, MessageStatus, OriginInfo, Stage, StageAt};
use switchyard_types::{Domain, Message};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::input::InputError;
use crate::metrics::Metrics;
use crate::status_index::{sender_member, tx_member};
use crate::store::{LaneId, StatusOp, StatusStore, Store};

/// Field names of a record in Redis. Short, and every value at most 64
/// bytes (32-byte hashes raw, numbers in decimal, a body only when it fits),
/// so Redis keeps a record in its compact (listpack) hash encoding: about a
/// third of the memory of a hash table with the message in hex.
mod field {
    pub(super) const VERSION: &str = "v";
    pub(super) const NONCE: &str = "n";
    pub(super) const ORIGIN: &str = "o";
    pub(super) const SENDER: &str = "s";
    pub(super) const DESTINATION: &str = "d";
    pub(super) const RECIPIENT: &str = "r";
    pub(super) const BODY_LEN: &str = "bl";
    /// The body itself, when at most [`super::INLINE_BODY`] bytes.
    pub(super) const BODY: &str = "b";
    pub(super) const BODY_HASH: &str = "bh";
    pub(super) const ORIGIN_BLOCK: &str = "ob";
    pub(super) const ORIGIN_TX: &str = "ot";
    pub(super) const LANE: &str = "l";
    pub(super) const ROUTE: &str = "rt";
    pub(super) const SUBMITTED_TX: &str = "st";
    pub(super) const DEST_TX: &str = "dt";
    pub(super) const DEST_BLOCK: &str = "db";
    pub(super) const FAILURE: &str = "f";
    pub(super) const LAST_ERROR: &str = "e";
    pub(super) const LAST_ERROR_MS: &str = "em";

    /// The field holding the time a stage was reached.
    pub(super) fn at(stage: super::Stage) -> &'static str {
        use super::Stage;
        match stage {
            Stage::Verified => "tv",
            Stage::Queued => "tq",
            Stage::Submitted => "ts",
            Stage::Delivered => "td",
            Stage::Failed => "tf",
            Stage::DeadLettered => "tx",
        }
    }
}

/// Bodies up to this size are kept in the record; longer ones by length
/// and hash (the body is in the origin transaction).
pub const INLINE_BODY: usize = 64;

fn num(n: impl std::fmt::Display) -> Vec<u8> {
    n.to_string().into_bytes()
}

fn raw(b: &B256) -> Vec<u8> {
    b.as_slice().to_vec()
}

/// A message appended to a lane, as the journal records it.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    /// The message as relayed.
    pub message: Message,
    /// The origin transaction, when the source named it (not proven).
    pub origin_tx: Option<B256>,
}

/// A stage reached by messages. Times are unix milliseconds.
#[derive(Debug, Clone)]
pub enum Event {
    /// Messages of one origin block appended to one lane shard.
    Queued {
        /// Destination chain name.
        route: String,
        /// The shard.
        lane: LaneId,
        /// Origin block.
        height: u64,
        /// When the block was verified.
        verified_ms: u64,
        /// When the entry was appended.
        queued_ms: u64,
        /// The messages.
        messages: Vec<QueuedMessage>,
    },
    /// A batch broadcast.
    Submitted {
        /// Destination domain.
        dst: Domain,
        /// Transaction hash (of the first broadcast; a fee bump changes it,
        /// and the delivery event then names the one mined).
        tx: B256,
        /// When.
        at_ms: u64,
        /// (id, origin) of every message in the batch.
        ids: Vec<(B256, Domain)>,
    },
    /// A batch included at the configured depth.
    Included {
        /// Destination domain.
        dst: Domain,
        /// The mined transaction.
        tx: B256,
        /// Its block.
        block: u64,
        /// When.
        at_ms: u64,
        /// (id, origin) of the messages delivered.
        delivered: Vec<(B256, Domain)>,
        /// (id, origin, revert reason) of those whose recipient failed.
        failed: Vec<(B256, Domain, String)>,
    },
    /// A batch attempt failed and will be retried.
    Retrying {
        /// The error.
        error: String,
        /// When.
        at_ms: u64,
        /// Ids of the batch.
        ids: Vec<B256>,
    },
    /// Messages moved to dead letters.
    DeadLettered {
        /// Destination domain.
        dst: Domain,
        /// Why.
        reason: String,
        /// When.
        at_ms: u64,
        /// (id, origin) of the messages.
        ids: Vec<(B256, Domain)>,
    },
}

impl Event {
    /// Message updates the event carries (what the buffer bound counts).
    pub fn updates(&self) -> usize {
        match self {
            Self::Queued { messages, .. } => messages.len(),
            Self::Submitted { ids, .. } | Self::DeadLettered { ids, .. } => ids.len(),
            Self::Retrying { ids, .. } => ids.len(),
            Self::Included {
                delivered, failed, ..
            } => delivered.len() + failed.len(),
        }
        .max(1)
    }
}

/// Where stages are reported; cheap to clone. A disabled journal ignores
/// everything.
#[derive(Debug, Clone)]
pub struct Journal {
    tx: Option<mpsc::UnboundedSender<Event>>,
    /// Message updates queued and not yet written: the bound is on these,
    /// not on events (one event may carry a thousand messages).
    queued: Arc<AtomicUsize>,
    limit: usize,
    metrics: Metrics,
}

impl Journal {
    /// A journal that records nothing.
    pub fn disabled(metrics: Metrics) -> Self {
        Self {
            tx: None,
            queued: Arc::new(AtomicUsize::new(0)),
            limit: 0,
            metrics,
        }
    }

    /// The journal `cfg` asks for and its writer (on a connection of its
    /// own) for the caller to spawn; or a disabled journal and no writer.
    pub async fn start(
        cfg: &crate::config::StatusConfig,
        store: &Store,
        metrics: &Metrics,
    ) -> Result<(Self, Option<JournalWriter>), crate::store::StoreError> {
        if !cfg.enabled {
            return Ok((Self::disabled(metrics.clone()), None));
        }
        let (journal, writer) = Self::new(
            store.dedicated().await?.status(),
            metrics.clone(),
            cfg.retention_secs,
            cfg.buffer,
        );
        Ok((journal, Some(writer)))
    }

    /// A journal writing to `status`, and its writer (spawn it). `buffer`
    /// bounds the message updates waiting for Redis.
    pub fn new(
        status: StatusStore,
        metrics: Metrics,
        retention_secs: u64,
        buffer: usize,
    ) -> (Self, JournalWriter) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = JournalWriter {
            rx,
            status,
            metrics: metrics.clone(),
            retention_secs,
            queued: Arc::clone(&queued),
            memory_check_every: MEMORY_CHECK_EVERY,
            memory_checked: None,
            redis_full: false,
        };
        (
            Self {
                tx: Some(tx),
                queued,
                limit: buffer.max(1),
                metrics,
            },
            writer,
        )
    }

    /// Records the event `make` builds, or drops it (counted) if the writer
    /// is behind. A disabled journal does not even build it: callers on the
    /// delivery path pay nothing when the journal is off.
    pub fn record(&self, make: impl FnOnce() -> Event) {
        let Some(tx) = &self.tx else { return };
        let event = make();
        let n = event.updates();
        // Reserve, then check: concurrent callers may overshoot the limit
        // by one event each, never more.
        let before = self.queued.fetch_add(n, Ordering::Relaxed);
        if before + n > self.limit || tx.send(event).is_err() {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            self.metrics
                .status_updates
                .with_label_values(&["buffer_full"])
                .inc_by(n as u64);
        }
    }

    /// Whether events are recorded at all (lets callers skip building them).
    pub fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }
}

/// The task that writes journal events to Redis.
#[derive(Debug)]
pub struct JournalWriter {
    rx: mpsc::UnboundedReceiver<Event>,
    status: StatusStore,
    metrics: Metrics,
    retention_secs: u64,
    queued: Arc<AtomicUsize>,
    /// How often Redis' memory is read.
    memory_check_every: Duration,
    /// When it was last read.
    memory_checked: Option<Instant>,
    /// Redis uses more than [`JOURNAL_MAX_MEMORY_PERCENT`] of `maxmemory`
    /// (last reading): updates are dropped.
    redis_full: bool,
}

/// The share of Redis' `maxmemory` (percent) above which the journal stops
/// writing, so the lanes keep the rest.
pub const JOURNAL_MAX_MEMORY_PERCENT: u64 = 90;

/// How often the writer reads Redis' memory use.
pub const MEMORY_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Whether `used` bytes are over the journal's share of `maxmemory` (0: no
/// limit, never over).
pub fn over_journal_share(used: u64, maxmemory: u64) -> bool {
    maxmemory > 0
        && u128::from(used) * 100 > u128::from(maxmemory) * u128::from(JOURNAL_MAX_MEMORY_PERCENT)
}

/// Message updates written per Redis round (one pipeline).
const UPDATES_PER_WRITE: usize = 4096;

/// How long a stopping writer keeps writing what is queued.
const DRAIN_FOR: Duration = Duration::from_secs(2);

impl JournalWriter {
    /// Writes until `shutdown`, then what is queued for up to two seconds.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut failing = false;
        loop {
            let first = tokio::select! {
                e = self.rx.recv() => e,
                () = shutdown.cancelled() => None,
            };
            let Some(first) = first else { break };
            let events = self.more(first);
            self.write(&events, &mut failing).await;
        }
        // Stopping: what is queued gets a short while, not a long drain that
        // would hold up the process's exit.
        let deadline = Instant::now() + DRAIN_FOR;
        while let Ok(first) = self.rx.try_recv() {
            let events = self.more(first);
            if Instant::now() < deadline {
                self.write(&events, &mut failing).await;
            } else {
                let n: usize = events.iter().map(Event::updates).sum();
                self.done(n, "shutdown");
            }
        }
        debug!("status journal writer stopped");
    }

    /// `first` and what else is queued, up to one write's worth.
    fn more(&mut self, first: Event) -> Vec<Event> {
        let mut n = first.updates();
        let mut events = vec![first];
        while n < UPDATES_PER_WRITE {
            match self.rx.try_recv() {
                Ok(e) => {
                    n += e.updates();
                    events.push(e);
                }
                Err(_) => break,
            }
        }
        events
    }

    /// `n` updates left the queue with `outcome`.
    fn done(&self, n: usize, outcome: &str) {
        self.queued.fetch_sub(n, Ordering::Relaxed);
        self.metrics
            .status_updates
            .with_label_values(&[outcome])
            .inc_by(n as u64);
    }

    /// Reads Redis' memory when due; whether the journal must keep off it.
    async fn redis_full(&mut self) -> bool {
        if self
            .memory_checked
            .is_some_and(|t| t.elapsed() < self.memory_check_every)
        {
            return self.redis_full;
        }
        self.memory_checked = Some(Instant::now());
        // A failed reading keeps the last one: the write says what fails.
        if let Ok(Some((used, max))) = self.status.memory().await {
            let full = over_journal_share(used, max);
            if full && !self.redis_full {
                warn!(
                    used_memory = used,
                    maxmemory = max,
                    "Redis is over the status journal's share of maxmemory ({JOURNAL_MAX_MEMORY_PERCENT}%): status updates are dropped so the lanes keep the rest (messages are unaffected)"
                );
            }
            self.redis_full = full;
        }
        self.redis_full
    }

    async fn write(&mut self, events: &[Event], failing: &mut bool) {
        let ops: Vec<StatusOp> = events.iter().flat_map(ops_of).collect();
        let n: usize = events.iter().map(Event::updates).sum();
        if self.redis_full().await {
            self.done(n, "redis_full");
            return;
        }
        match self.status.write_status(&ops, self.retention_secs).await {
            Ok(()) => {
                *failing = false;
                self.done(n, "written");
            }
            Err(e) => {
                self.done(n, "redis_error");
                // Once per outage, not once per batch.
                if !*failing {
                    warn!(err = %e, "writing the status journal failed; status updates are dropped until Redis answers (messages are unaffected)");
                }
                *failing = true;
            }
        }
    }
}

/// Members to add to one index ([`crate::status_index`]).
type Members = Vec<Vec<u8>>;

/// The Redis writes of one event.
pub fn ops_of(event: &Event) -> Vec<StatusOp> {
    let mut ops = Vec::new();
    let mut counts: Vec<(Domain, Domain, Stage, u64)> = Vec::new();
    let mut count = |origin: Domain, dst: Domain, stage: Stage| match counts
        .iter_mut()
        .find(|(o, d, s, _)| (*o, *d, *s) == (origin, dst, stage))
    {
        Some(c) => c.3 += 1,
        None => counts.push((origin, dst, stage, 1)),
    };
    match event {
        Event::Queued {
            route,
            lane,
            height,
            verified_ms,
            queued_ms,
            messages,
        } => {
            let mut by_tx: Vec<(B256, Members)> = Vec::new();
            let mut by_sender: Vec<((Domain, B256), Members)> = Vec::new();
            for q in messages {
                let m = &q.message;
                let id = m.id();
                let mut fields = vec![
                    (field::VERSION, num(m.version)),
                    (field::NONCE, num(m.nonce)),
                    (field::ORIGIN, num(m.origin)),
                    (field::SENDER, raw(&m.sender)),
                    (field::DESTINATION, num(m.destination)),
                    (field::RECIPIENT, raw(&m.recipient)),
                    (field::BODY_LEN, num(m.body.len())),
                    (field::ORIGIN_BLOCK, num(height)),
                    (field::at(Stage::Verified), num(verified_ms)),
                    (field::at(Stage::Queued), num(queued_ms)),
                    (field::LANE, lane.to_string().into_bytes()),
                    (field::ROUTE, route.clone().into_bytes()),
                ];
                if m.body.len() <= INLINE_BODY {
                    fields.push((field::BODY, m.body.to_vec()));
                } else {
                    fields.push((field::BODY_HASH, raw(&keccak256(&m.body))));
                }
                if let Some(tx) = q.origin_tx {
                    fields.push((field::ORIGIN_TX, raw(&tx)));
                    // In a dispatch transaction, nonces give its order.
                    push_to(&mut by_tx, tx, tx_member(m.nonce, &id));
                }
                ops.push(StatusOp::Fields { id, fields });
                push_to(
                    &mut by_sender,
                    (m.origin, m.sender),
                    sender_member(*verified_ms, m.nonce, &id),
                );
                count(m.origin, lane.dst, Stage::Queued);
            }
            ops.extend(
                by_tx
                    .into_iter()
                    .map(|(hash, members)| StatusOp::Tx { hash, members }),
            );
            ops.extend(
                by_sender
                    .into_iter()
                    .map(|((origin, sender), members)| StatusOp::Sender {
                        origin,
                        sender,
                        members,
                    }),
            );
        }
        Event::Submitted {
            dst,
            tx,
            at_ms,
            ids,
        } => {
            for (id, origin) in ids {
                ops.push(StatusOp::Fields {
                    id: *id,
                    fields: vec![
                        (field::at(Stage::Submitted), num(at_ms)),
                        (field::SUBMITTED_TX, raw(tx)),
                    ],
                });
                count(*origin, *dst, Stage::Submitted);
            }
        }
        Event::Included {
            dst,
            tx,
            block,
            at_ms,
            delivered,
            failed,
        } => {
            let mut all = Vec::new();
            for (id, origin) in delivered {
                ops.push(StatusOp::Fields {
                    id: *id,
                    fields: vec![
                        (field::at(Stage::Delivered), num(at_ms)),
                        (field::DEST_TX, raw(tx)),
                        (field::DEST_BLOCK, num(block)),
                    ],
                });
                all.push(*id);
                count(*origin, *dst, Stage::Delivered);
            }
            for (id, origin, reason) in failed {
                ops.push(StatusOp::Fields {
                    id: *id,
                    fields: vec![
                        (field::at(Stage::Failed), num(at_ms)),
                        (field::DEST_TX, raw(tx)),
                        (field::DEST_BLOCK, num(block)),
                        (
                            field::FAILURE,
                            format!("recipient call failed: {reason}").into_bytes(),
                        ),
                    ],
                });
                all.push(*id);
                count(*origin, *dst, Stage::Failed);
            }
            if !all.is_empty() {
                // In a delivery, the place in the batch (delivered ones
                // first: the event keeps them apart).
                let members = (0u32..).zip(&all).map(|(i, id)| tx_member(i, id));
                ops.push(StatusOp::Tx {
                    hash: *tx,
                    members: members.collect(),
                });
            }
        }
        Event::Retrying { error, at_ms, ids } => {
            for id in ids {
                ops.push(StatusOp::Fields {
                    id: *id,
                    fields: vec![
                        (field::LAST_ERROR, error.clone().into_bytes()),
                        (field::LAST_ERROR_MS, num(at_ms)),
                    ],
                });
            }
        }
        Event::DeadLettered {
            dst,
            reason,
            at_ms,
            ids,
        } => {
            for (id, origin) in ids {
                ops.push(StatusOp::Fields {
                    id: *id,
                    fields: vec![
                        (field::at(Stage::DeadLettered), num(at_ms)),
                        (field::FAILURE, reason.clone().into_bytes()),
                    ],
                });
                count(*origin, *dst, Stage::DeadLettered);
            }
        }
    }
    ops.extend(
        counts
            .into_iter()
            .map(|(origin, dst, stage, n)| StatusOp::Count {
                origin,
                dst,
                stage: stage.as_str(),
                n,
            }),
    );
    ops
}

fn push_to<K: PartialEq, V>(v: &mut Vec<(K, Vec<V>)>, k: K, x: V) {
    match v.iter_mut().find(|(y, _)| *y == k) {
        Some((_, xs)) => xs.push(x),
        None => v.push((k, vec![x])),
    }
}

/// Builds the API view of record `fields` of message `id`; `None` for an
/// empty (unknown) record. `chain_name` names configured domains.
pub fn status_of(
    id: &B256,
    fields: &HashMap<String, Vec<u8>>,
    chain_name: impl Fn(Domain) -> Option<String>,
) -> Option<MessageStatus> {
    if fields.is_empty() {
        return None;
    }
    let bytes = |k: &str| fields.get(k).filter(|v| !v.is_empty());
    let text = |k: &str| bytes(k).map(|v| String::from_utf8_lossy(v).into_owned());
    let num = |k: &str| text(k).and_then(|v| v.parse::<u64>().ok());
    // A hash is 32 raw bytes; anything else in its place is not shown.
    let hash = |k: &str| {
        bytes(k)
            .filter(|v| v.len() == 32)
            .map(|v| B256::from_slice(v))
    };
    let message = match (
        num(field::VERSION),
        num(field::NONCE),
        num(field::ORIGIN),
        hash(field::SENDER),
        num(field::DESTINATION),
        hash(field::RECIPIENT),
        num(field::BODY_LEN),
    ) {
        (Some(v), Some(n), Some(o), Some(sender), Some(d), Some(recipient), Some(len)) => {
            let body = bytes(field::BODY)
                .map(|b| Bytes::copy_from_slice(b))
                .or((len == 0).then(Bytes::new));
            Some(MessageFields {
                version: u8::try_from(v).unwrap_or(u8::MAX),
                nonce: u32::try_from(n).unwrap_or(u32::MAX),
                origin: Domain::try_from(o).unwrap_or(Domain::MAX),
                sender,
                destination: Domain::try_from(d).unwrap_or(Domain::MAX),
                recipient,
                body_len: len,
                body_hash: match &body {
                    Some(b) => keccak256(b),
                    None => hash(field::BODY_HASH).unwrap_or_default(),
                },
                body,
            })
        }
        _ => None,
    };
    let mut stages: Vec<StageAt> = Stage::ALL
        .iter()
        .filter_map(|s| num(field::at(*s)).map(|at_ms| StageAt { stage: *s, at_ms }))
        .collect();
    // By time; equal times keep journey order (the sort is stable).
    stages.sort_by_key(|s| s.at_ms);
    let status = current_stage(&stages);
    let dst_domain = text(field::LANE)
        .and_then(|l| l.split('/').next().and_then(|d| d.parse().ok()))
        .or(message.as_ref().map(|m| m.destination));
    let origin_domain = message.as_ref().map(|m| m.origin);
    Some(MessageStatus {
        id: *id,
        status,
        message,
        origin: OriginInfo {
            domain: origin_domain,
            chain: origin_domain.and_then(&chain_name),
            block: num(field::ORIGIN_BLOCK),
            tx_hash: hash(field::ORIGIN_TX),
        },
        destination: DestinationInfo {
            domain: dst_domain,
            chain: text(field::ROUTE).or_else(|| dst_domain.and_then(&chain_name)),
            lane: text(field::LANE),
            tx_hash: hash(field::DEST_TX).or_else(|| hash(field::SUBMITTED_TX)),
            block: num(field::DEST_BLOCK),
        },
        failure: if matches!(status, Stage::Failed | Stage::DeadLettered) {
            text(field::FAILURE)
        } else {
            None
        },
        last_error: if status.is_final() {
            None
        } else {
            text(field::LAST_ERROR)
        },
        stages,
    })
}

/// The stage a message is at, from the stages it reached (in time order).
/// Delivered and failed are final on chain (the Inbox never takes them
/// back), so they win over a later `submitted`: a message resent after its
/// delivery (an entry handed over half delivered is resent whole, and the
/// Inbox skips the replay) stays delivered. A dead letter counts only if it
/// is the latest of the rest: a replayed dead letter is submitted again.
fn current_stage(stages: &[StageAt]) -> Stage {
    let has = |stage: Stage| stages.iter().any(|s| s.stage == stage);
    if has(Stage::Delivered) {
        return Stage::Delivered;
    }
    if has(Stage::Failed) {
        return Stage::Failed;
    }
    stages.last().map_or(Stage::Queued, |s| s.stage)
}

/// Parses a 32-byte `0x…` hex value (a message id or transaction hash).
pub fn parse_b256(what: &str, text: &str) -> Result<B256, InputError> {
    let h = text.strip_prefix("0x").unwrap_or(text);
    let wrong = || InputError::new(what, "0x and 64 hex digits (32 bytes)", text);
    if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(wrong());
    }
    h.parse::<B256>().map_err(|_| wrong())
}

/// Parses a sender: a 20-byte address (left-padded, as messages carry it)
/// or 32 bytes.
pub fn parse_sender(text: &str) -> Result<B256, InputError> {
    let h = text.strip_prefix("0x").unwrap_or(text);
    let wrong = || {
        InputError::new(
            "sender",
            "0x and 40 hex digits (an address) or 64 (32 bytes)",
            text,
        )
    };
    if !h.bytes().all(|b| b.is_ascii_hexdigit()) || (h.len() != 40 && h.len() != 64) {
        return Err(wrong());
    }
    let bytes = hex::decode(h).map_err(|_| wrong())?;
    let mut out = [0u8; 32];
    out[32 - bytes.len()..].copy_from_slice(&bytes);
    Ok(B256::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::Bytes;

    fn msg(nonce: u32) -> Message {
        Message {
            version: switchyard_types::MESSAGE_VERSION,
            nonce,
            origin: 7,
            sender: B256::repeat_byte(0xaa),
            destination: 9,
            recipient: B256::repeat_byte(0xbb),
            body: Bytes::from_static(b"hi"),
        }
    }

    /// Applies ops to an in-memory record map the way Redis would.
    fn apply(ops: &[StatusOp], records: &mut HashMap<B256, HashMap<String, Vec<u8>>>) {
        for op in ops {
            if let StatusOp::Fields { id, fields } = op {
                let r = records.entry(*id).or_default();
                for (k, v) in fields {
                    r.insert((*k).to_owned(), v.clone());
                }
            }
        }
    }

    #[test]
    fn a_journey_reads_back_stage_by_stage() {
        let m = msg(3);
        let id = m.id();
        let tx = B256::repeat_byte(1);
        let dest_tx = B256::repeat_byte(2);
        let lane = LaneId { dst: 9, shard: 1 };
        let mut records = HashMap::new();
        let queued = Event::Queued {
            route: "beta".into(),
            lane,
            height: 42,
            verified_ms: 1000,
            queued_ms: 1001,
            messages: vec![QueuedMessage {
                message: m.clone(),
                origin_tx: Some(tx),
            }],
        };
        let ops = ops_of(&queued);
        assert!(ops.contains(&StatusOp::Tx {
            hash: tx,
            members: vec![tx_member(3, &id)]
        }));
        assert!(ops.contains(&StatusOp::Sender {
            origin: 7,
            sender: m.sender,
            members: vec![sender_member(1000, 3, &id)]
        }));
        assert!(ops.contains(&StatusOp::Count {
            origin: 7,
            dst: 9,
            stage: "queued",
            n: 1
        }));
        apply(&ops, &mut records);
        let name = |d: Domain| (d == 7).then(|| "alpha".to_owned());
        let s = status_of(&id, &records[&id], name).expect("known");
        assert_eq!(s.status, Stage::Queued);
        assert_eq!(s.origin.block, Some(42));
        assert_eq!(s.origin.chain.as_deref(), Some("alpha"));
        assert_eq!(s.origin.tx_hash, Some(tx));
        assert_eq!(s.destination.lane.as_deref(), Some("9/1"));
        assert_eq!(s.message.as_ref().map(|f| f.nonce), Some(3));
        let fields = s.message.as_ref().expect("fields");
        assert_eq!(
            fields.body.as_ref().map(|b| &b[..]),
            Some(&b"hi"[..]),
            "a short body is kept"
        );
        assert_eq!(fields.body_hash, keccak256(b"hi"));
        assert_eq!(fields.sender, m.sender);

        apply(
            &ops_of(&Event::Retrying {
                error: "rpc timeout".into(),
                at_ms: 1002,
                ids: vec![id],
            }),
            &mut records,
        );
        apply(
            &ops_of(&Event::Submitted {
                dst: 9,
                tx: dest_tx,
                at_ms: 1003,
                ids: vec![(id, 7)],
            }),
            &mut records,
        );
        let s = status_of(&id, &records[&id], name).expect("known");
        assert_eq!(s.status, Stage::Submitted);
        assert_eq!(s.last_error.as_deref(), Some("rpc timeout"));
        assert_eq!(s.destination.tx_hash, Some(dest_tx));
        assert_eq!(s.destination.block, None);

        apply(
            &ops_of(&Event::Included {
                dst: 9,
                tx: dest_tx,
                block: 88,
                at_ms: 1010,
                delivered: vec![(id, 7)],
                failed: vec![],
            }),
            &mut records,
        );
        let s = status_of(&id, &records[&id], name).expect("known");
        assert_eq!(s.status, Stage::Delivered);
        assert_eq!(s.destination.block, Some(88));
        assert_eq!(
            s.last_error, None,
            "a delivered message shows no stale error"
        );
        let names: Vec<_> = s.stages.iter().map(|s| s.stage.as_str()).collect();
        assert_eq!(names, ["verified", "queued", "submitted", "delivered"]);
    }

    #[test]
    fn common_records_stay_in_redis_compact_encoding() {
        // Redis keeps a hash as a listpack while every value is at most 64
        // bytes (hash-max-listpack-value): true of every field but a
        // failure text, whatever the body's size.
        let mut m = msg(9);
        m.body = Bytes::from(vec![7u8; 5000]);
        let id = m.id();
        let events = [
            Event::Queued {
                route: "a-chain-name-of-32-characters-xx".into(),
                lane: LaneId {
                    dst: u32::MAX,
                    shard: 1023,
                },
                height: u64::MAX,
                verified_ms: u64::MAX,
                queued_ms: u64::MAX,
                messages: vec![QueuedMessage {
                    message: m.clone(),
                    origin_tx: Some(B256::repeat_byte(1)),
                }],
            },
            Event::Submitted {
                dst: 9,
                tx: B256::ZERO,
                at_ms: u64::MAX,
                ids: vec![(id, 7)],
            },
            Event::Included {
                dst: 9,
                tx: B256::ZERO,
                block: u64::MAX,
                at_ms: u64::MAX,
                delivered: vec![(id, 7)],
                failed: vec![],
            },
        ];
        let mut records = HashMap::new();
        for e in &events {
            let ops = ops_of(e);
            for op in &ops {
                if let StatusOp::Fields { fields, .. } = op {
                    for (k, v) in fields {
                        assert!(v.len() <= 64, "field {k} holds {} bytes", v.len());
                    }
                }
            }
            apply(&ops, &mut records);
        }
        let s = status_of(&id, &records[&id], |_| None).expect("known");
        let f = s.message.expect("fields");
        assert_eq!(f.body, None, "a long body is not kept");
        assert_eq!(f.body_len, 5000);
        assert_eq!(f.body_hash, keccak256(&m.body));
        assert_eq!(s.status, Stage::Delivered);
    }

    #[test]
    fn a_delivered_message_resent_after_a_handover_stays_delivered() {
        let id = msg(4).id();
        let mut records = HashMap::new();
        let submitted = |at_ms| Event::Submitted {
            dst: 9,
            tx: B256::repeat_byte(3),
            at_ms,
            ids: vec![(id, 7)],
        };
        apply(&ops_of(&submitted(10)), &mut records);
        apply(
            &ops_of(&Event::Included {
                dst: 9,
                tx: B256::repeat_byte(3),
                block: 5,
                at_ms: 20,
                delivered: vec![(id, 7)],
                failed: vec![],
            }),
            &mut records,
        );
        apply(&ops_of(&submitted(30)), &mut records);
        let s = status_of(&id, &records[&id], |_| None).expect("known");
        assert_eq!(s.status, Stage::Delivered);
        // A dead letter replayed by an operator is submitted again.
        let id2 = msg(5).id();
        apply(
            &ops_of(&Event::DeadLettered {
                dst: 9,
                reason: "max_attempts reached".into(),
                at_ms: 40,
                ids: vec![(id2, 7)],
            }),
            &mut records,
        );
        apply(
            &ops_of(&Event::Submitted {
                dst: 9,
                tx: B256::repeat_byte(4),
                at_ms: 50,
                ids: vec![(id2, 7)],
            }),
            &mut records,
        );
        let s = status_of(&id2, &records[&id2], |_| None).expect("known");
        assert_eq!(s.status, Stage::Submitted);
        assert_eq!(s.failure, None);
    }

    #[test]
    fn failures_and_dead_letters_carry_their_reason() {
        let id = msg(1).id();
        let mut records = HashMap::new();
        apply(
            &ops_of(&Event::Included {
                dst: 9,
                tx: B256::ZERO,
                block: 5,
                at_ms: 10,
                delivered: vec![],
                failed: vec![(id, 7, "nope".into())],
            }),
            &mut records,
        );
        let s = status_of(&id, &records[&id], |_| None).expect("known");
        assert_eq!(s.status, Stage::Failed);
        assert_eq!(s.failure.as_deref(), Some("recipient call failed: nope"));
        // The queue event lost (buffer full): what is known is still shown.
        assert!(s.message.is_none());

        let id2 = msg(2).id();
        apply(
            &ops_of(&Event::DeadLettered {
                dst: 9,
                reason: "max_attempts reached".into(),
                at_ms: 20,
                ids: vec![(id2, 7)],
            }),
            &mut records,
        );
        let s = status_of(&id2, &records[&id2], |_| None).expect("known");
        assert_eq!(s.status, Stage::DeadLettered);
        assert_eq!(s.failure.as_deref(), Some("max_attempts reached"));
        assert!(status_of(&B256::ZERO, &HashMap::new(), |_| None).is_none());
    }

    #[test]
    fn ids_and_senders_parse_or_say_what_is_wrong() {
        assert!(parse_b256("id", &format!("0x{}", "ab".repeat(32))).is_ok());
        let e = parse_b256("id", "0x1234")
            .expect_err("too short")
            .to_string();
        assert!(e.contains("64 hex digits") && e.contains("0x1234"), "{e}");
        let s = parse_sender("0x00000000000000000000000000000000000000aa").expect("20 bytes");
        assert_eq!(s.as_slice()[31], 0xaa);
        assert_eq!(s.as_slice()[..12], [0u8; 12]);
        assert!(parse_sender(&format!("0x{}", "cd".repeat(32))).is_ok());
        let e = parse_sender("0xzz").expect_err("not hex").to_string();
        assert!(e.contains("40 hex digits"), "{e}");
    }

    #[test]
    fn the_buffer_bounds_message_updates_not_events() {
        let metrics = Metrics::new();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let j = Journal {
            tx: Some(tx),
            queued: Arc::new(AtomicUsize::new(0)),
            limit: 10,
            metrics: metrics.clone(),
        };
        let retry = |n: usize| Event::Retrying {
            error: String::new(),
            at_ms: 0,
            ids: vec![B256::ZERO; n],
        };
        j.record(|| retry(6));
        // 6 + 6 > 10: the whole second event is dropped, and counted as 6.
        j.record(|| retry(6));
        j.record(|| retry(4));
        let dropped = metrics
            .status_updates
            .with_label_values(&["buffer_full"])
            .get();
        assert_eq!(dropped, 6);
        assert_eq!(j.queued.load(Ordering::Relaxed), 10);
        assert_eq!(rx.try_recv().map(|e| e.updates()).ok(), Some(6));
        assert_eq!(rx.try_recv().map(|e| e.updates()).ok(), Some(4));
    }

    #[test]
    fn the_journals_share_of_maxmemory() {
        assert!(!over_journal_share(u64::MAX, 0), "no maxmemory: no bound");
        assert!(!over_journal_share(900, 1000));
        assert!(over_journal_share(901, 1000));
        assert!(over_journal_share(u64::MAX, u64::MAX - 1));
    }

    /// Against a real redis-server: over 90% of maxmemory the journal
    /// drops its updates (`redis_full`) while Redis still takes the lanes'
    /// writes; under it, it writes again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_journal_keeps_off_the_last_tenth_of_redis_memory() {
        use crate::store::{QueueKey, RedisTarget};
        let redis = switchyard_localnet::procs::RedisServer::spawn(None).expect("redis-server");
        let store = Store::connect(
            &RedisTarget::Single(redis.url.clone()),
            "sy",
            QueueKey::from_secret(&"k".repeat(32)).expect("key"),
        )
        .await
        .expect("connects");
        let metrics = Metrics::new();
        let (journal, mut writer) = Journal::new(store.status(), metrics.clone(), 60, 1000);
        writer.memory_check_every = Duration::ZERO;
        let client = redis::Client::open(redis.url.as_str()).expect("url");
        let mut c = client
            .get_multiplexed_async_connection()
            .await
            .expect("connection");
        let (used, _) = store
            .status()
            .memory()
            .await
            .expect("INFO")
            .expect("single");
        // Redis at about 95% of its maxmemory.
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory")
            .arg(used + used / 19)
            .query_async(&mut c)
            .await
            .expect("CONFIG SET");
        let retry = |n: usize| Event::Retrying {
            error: "e".into(),
            at_ms: 1,
            ids: vec![B256::repeat_byte(7); n],
        };
        let mut failing = false;
        journal.record(|| retry(3));
        let events = vec![writer.rx.try_recv().expect("queued")];
        writer.write(&events, &mut failing).await;
        let count = |o: &str| metrics.status_updates.with_label_values(&[o]).get();
        assert_eq!((count("redis_full"), count("written")), (3, 0));
        // The lanes still have room.
        let _: () = redis::cmd("SET")
            .arg("sy:lane-like")
            .arg("x")
            .query_async(&mut c)
            .await
            .expect("a lane write still fits");
        // No limit: the journal writes again.
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory")
            .arg(0)
            .query_async(&mut c)
            .await
            .expect("CONFIG SET");
        journal.record(|| retry(2));
        let events = vec![writer.rx.try_recv().expect("queued")];
        writer.write(&events, &mut failing).await;
        assert_eq!((count("redis_full"), count("written")), (3, 2));
    }
}
