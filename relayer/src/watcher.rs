//! The origin watcher of an EVM chain: follows the head, feeds every header to
//! the header-chain light client, and for each block the light client
//! confirms, fetches its receipts, has the light client check them against the
//! header, extracts the Mailbox's messages and appends them to their lanes.
//!
//! Nothing is relayed that the light client did not accept. A block whose
//! evidence is refused is retried (with backoff) and never skipped: skipping
//! would lose its messages. The block cursor only moves after every lane has
//! the block's messages, so a restart re-reads at most a few blocks, and the
//! lane cursors make those re-reads no-ops.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::BloomInput;
use alloy_primitives::{Address, Bytes};
use switchyard_evm::source::EvmSource;
use switchyard_lc_evm::{BlockRef, DISPATCH_TOPIC, Header, HeaderChain, extract_messages};
use switchyard_types::Domain;
use tokio_util::sync::CancellationToken;
use tracing::{info, instrument, warn};

use crate::config::RoutePolicy;
use crate::error::HubError;
use crate::health::Health;
use crate::lane::LaneId;
use crate::lane::{LaneEntry, Lanes};
use crate::metrics::{Metrics, stage};
use crate::router::{BacklogView, Group, Router, Target};
use crate::unix_ms;

/// How far (in blocks) header verification may run ahead of routing; keeps
/// the light client's window large enough to check every block still to be
/// routed after a restart.
const HEADER_LEAD: u64 = 128;

/// How far header verification may run ahead of routing for a chain with
/// `confirmations`: past the confirmation depth by [`HEADER_LEAD`], or no
/// block would ever be confirmed while routing waits.
fn header_lead(confirmations: u64) -> u64 {
    confirmations + HEADER_LEAD
}

/// Headers kept by the light client.
const LC_WINDOW: usize = 512;

/// The light client's window: every header not yet routed stays in it.
fn lc_window(confirmations: u64) -> usize {
    LC_WINDOW.max(usize::try_from(2 * header_lead(confirmations)).unwrap_or(usize::MAX))
}

/// Static facts about the watched chain.
#[derive(Debug, Clone)]
pub struct OriginSpec {
    /// Chain name (metrics, logs).
    pub name: String,
    /// Its domain.
    pub domain: Domain,
    /// Its Mailbox.
    pub mailbox: Address,
    /// Confirmation depth of the header-chain client.
    pub confirmations: u64,
    /// Checkpoint for a first start.
    pub checkpoint: Option<BlockRef>,
    /// Head polling interval.
    pub poll: Duration,
    /// Backpressure: wait while a destination lane holds more entries.
    pub max_backlog: u64,
}

/// One origin's watcher.
#[derive(Debug)]
pub struct Watcher {
    spec: OriginSpec,
    source: EvmSource,
    lanes: Lanes,
    router: Arc<Router>,
    metrics: Metrics,
    health: Arc<Health>,
    backlog: Arc<BacklogView>,
    /// The last (height, reason) refused, so a retried refusal is logged and
    /// counted once.
    last_refusal: Option<(u64, &'static str)>,
}

impl Watcher {
    /// A watcher; nothing runs until [`Watcher::run`].
    pub fn new(
        spec: OriginSpec,
        source: EvmSource,
        lanes: Lanes,
        router: Arc<Router>,
        metrics: Metrics,
        health: Arc<Health>,
        backlog: Arc<BacklogView>,
    ) -> Self {
        Self {
            spec,
            source,
            lanes,
            router,
            metrics,
            health,
            backlog,
            last_refusal: None,
        }
    }

    /// Resumes the persisted light client, or starts from the configured
    /// checkpoint.
    async fn init(&self) -> Result<(HeaderChain, u64), HubError> {
        let lc = match self.lanes.load_lc(self.spec.domain).await? {
            Some(json) => {
                serde_json::from_str::<HeaderChain>(&json).map_err(|e| HubError::State {
                    what: format!("light client of {}", self.spec.name),
                    reason: e.to_string(),
                })?
            }
            None => {
                let cp = self.spec.checkpoint.ok_or_else(|| HubError::State {
                    what: format!("light client of {}", self.spec.name),
                    reason: "no persisted state and no checkpoint configured: set chains[].checkpoint (a block number and hash you trust)".into(),
                })?;
                HeaderChain::new(
                    cp,
                    self.spec.confirmations,
                    lc_window(self.spec.confirmations),
                )
                .map_err(|e| HubError::State {
                    what: format!("light client of {}", self.spec.name),
                    reason: e.to_string(),
                })?
            }
        };
        let scanned = match self.lanes.scanned(self.spec.domain).await? {
            Some(s) => s,
            None => lc.checkpoint().number,
        };
        Ok((lc, scanned))
    }

    /// Runs until `shutdown`.
    #[instrument(name = "watcher", skip_all, fields(chain = %self.spec.name))]
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut attempt = 0u32;
        let (mut lc, mut scanned) = loop {
            match self.init().await {
                Ok(v) => break v,
                Err(e) if e.is_retryable() => {
                    warn!(err = %e, attempt, "watcher init failed, retrying");
                    attempt += 1;
                    if sleep_or_shutdown(backoff(attempt), &shutdown).await {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(err = %e, "watcher cannot start");
                    self.health.set_fatal(&self.spec.name, e.to_string());
                    return;
                }
            }
        };
        info!(tip = lc.tip().number, scanned, "watcher started");
        let mut headers: BTreeMap<u64, Header> = BTreeMap::new();
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            match self
                .step(&mut lc, &mut scanned, &mut headers, &shutdown)
                .await
            {
                Ok(busy) => {
                    failures = 0;
                    self.health.watcher_ok(&self.spec.name, unix_ms());
                    if !busy && sleep_or_shutdown(self.spec.poll, &shutdown).await {
                        break;
                    }
                }
                Err(e) => {
                    failures += 1;
                    warn!(err = %e, attempt = failures, "watcher step failed, retrying");
                    if sleep_or_shutdown(backoff(failures), &shutdown).await {
                        break;
                    }
                }
            }
        }
        info!(scanned, "watcher stopped");
    }

    /// One round: verify new headers, then route every newly confirmed block.
    /// Returns whether there is more to do right away.
    async fn step(
        &mut self,
        lc: &mut HeaderChain,
        scanned: &mut u64,
        headers: &mut BTreeMap<u64, Header>,
        shutdown: &CancellationToken,
    ) -> Result<bool, HubError> {
        let name = self.spec.name.clone();
        let head = self.source.head().await?;
        let mut advanced = false;
        while lc.tip().number < head
            && lc.tip().number.saturating_sub(*scanned) < header_lead(self.spec.confirmations)
            && !shutdown.is_cancelled()
        {
            let n = lc.tip().number + 1;
            let (header, claimed) = self.source.header(n).await?;
            match lc
                .verify_header_with_hash(&header, claimed)
                .and_then(|v| lc.apply_header(v))
            {
                Ok(()) => {
                    headers.insert(n, header);
                    advanced = true;
                    self.metrics
                        .lc_updates
                        .with_label_values(&[&name, "accepted"])
                        .inc();
                }
                Err(e) => {
                    self.metrics
                        .lc_updates
                        .with_label_values(&[&name, "rejected"])
                        .inc();
                    self.refuse(n, &e);
                    // A header that does not link to our tip means the chain
                    // reorganised above the confirmed part (or the endpoint
                    // lied): step the unconfirmed tip back one block and try
                    // again, never below what was already routed. A reorg
                    // deeper than that breaks the confirmation-depth
                    // assumption and stays visible as a rejection.
                    if matches!(e, switchyard_lc_evm::Error::ParentMismatch { .. })
                        && lc.tip().number > *scanned
                    {
                        let back = lc.tip().number - 1;
                        if lc.rewind_to(back).is_ok() {
                            headers.retain(|&k, _| k <= back);
                            warn!(
                                height = n,
                                rewound_to = back,
                                "header does not link: rewinding the unconfirmed tip"
                            );
                        }
                    }
                    return Err(HubError::LightClient {
                        chain: name,
                        source: e,
                    });
                }
            }
        }
        if advanced {
            let state = serde_json::to_string(&*lc).map_err(|e| HubError::State {
                what: format!("light client of {name}"),
                reason: e.to_string(),
            })?;
            self.lanes.save_lc(self.spec.domain, &state).await?;
            self.metrics
                .lc_height
                .with_label_values(&[&name, "tip"])
                .set(lc.tip().number as i64);
            self.metrics
                .lc_height
                .with_label_values(&[&name, "confirmed"])
                .set(lc.confirmed_height() as i64);
        }
        let confirmed = lc.confirmed_height();
        while *scanned < confirmed && !shutdown.is_cancelled() {
            let n = *scanned + 1;
            let header = match headers.remove(&n) {
                Some(h) => h,
                // After a restart the light client has the hash, we refetch
                // the header and the client checks it is the same one.
                None => self.source.header(n).await?.0,
            };
            if let Err(e) = self.route_block(lc, &header, shutdown).await {
                headers.insert(n, header);
                return Err(e);
            }
            *scanned = n;
            self.lanes.set_scanned(self.spec.domain, n).await?;
            self.metrics
                .lc_height
                .with_label_values(&[&name, "scanned"])
                .set(n as i64);
        }
        // Headers below the routed cursor are not needed any more.
        headers.retain(|&k, _| k > *scanned);
        Ok(lc.tip().number < head
            && lc.tip().number.saturating_sub(*scanned) < header_lead(self.spec.confirmations))
    }

    fn refuse(&mut self, height: u64, e: &switchyard_lc_evm::Error) {
        let reason = e.reason();
        if self.last_refusal != Some((height, reason)) {
            self.last_refusal = Some((height, reason));
            self.metrics
                .rejections
                .with_label_values(&[&self.spec.name, reason])
                .inc();
            warn!(height, reason, err = %e, "evidence refused by the light client; not relayed, will retry");
        }
    }

    /// Verifies block `header`'s receipts and appends its messages to lanes.
    async fn route_block(
        &mut self,
        lc: &HeaderChain,
        header: &Header,
        shutdown: &CancellationToken,
    ) -> Result<(), HubError> {
        let name = self.spec.name.clone();
        let n = header.number;
        let fetched = Instant::now();
        // The bloom is part of a header the light client accepted (same hash
        // at this height), and blooms have no false negatives: if it rules
        // out a Dispatch log from our Mailbox, the block has none and its
        // receipts need not be fetched.
        if lc.hash_at(n) == Some(header.hash())
            && n <= lc.confirmed_height()
            && !(header
                .logs_bloom
                .contains_input(BloomInput::Raw(self.spec.mailbox.as_slice()))
                && header
                    .logs_bloom
                    .contains_input(BloomInput::Raw(DISPATCH_TOPIC.as_slice())))
        {
            return Ok(());
        }
        let receipts = self.source.receipts(n).await?;
        let block = match lc.verify_block(header, &receipts) {
            Ok(b) => b,
            Err(e) => {
                self.refuse(n, &e);
                return Err(HubError::LightClient {
                    chain: name,
                    source: e,
                });
            }
        };
        let extracted = extract_messages(&block, self.spec.mailbox, self.spec.domain);
        let verified_at_ms = unix_ms();
        self.metrics
            .latency
            .with_label_values(&["verify"])
            .observe(fetched.elapsed().as_secs_f64());
        let observed = extracted.messages.len() + extracted.rejected.len();
        if observed == 0 {
            return Ok(());
        }
        let mut by_lane: HashMap<LaneId, (String, Vec<Bytes>)> = HashMap::new();
        for (pos, err) in &extracted.rejected {
            self.metrics.count(stage::OBSERVED, &name, "unknown", 1);
            self.metrics.count(stage::REJECTED, &name, "unknown", 1);
            self.metrics
                .rejections
                .with_label_values(&[&name, err.reason()])
                .inc();
            warn!(height = n, position = ?pos, err = %err, "malformed Dispatch log rejected");
        }
        let router = Arc::clone(&self.router);
        let mut least: HashMap<u32, u32> = HashMap::new();
        for pm in extracted.messages {
            let m = pm.message;
            let route = match router.target(m.destination) {
                Some(Target::Chain(r)) => Some(r),
                Some(Target::Group(g)) => {
                    let choice = if g.policy == RoutePolicy::LeastBacklog {
                        Some(self.least_backlog_member(g, n, &mut least).await?)
                    } else {
                        None
                    };
                    Some(g.pick(&m, choice))
                }
                None => None,
            };
            match route {
                Some(route) => {
                    self.metrics.count(stage::OBSERVED, &name, &route.name, 1);
                    self.metrics.count(stage::VERIFIED, &name, &route.name, 1);
                    by_lane
                        .entry(router.lane(route, m.origin, &m.sender, &m.recipient))
                        .or_insert_with(|| (route.name.clone(), Vec::new()))
                        .1
                        .push(Bytes::from(m.encode()));
                }
                None => {
                    self.metrics.count(stage::OBSERVED, &name, "unknown", 1);
                    self.metrics.count(stage::REJECTED, &name, "unknown", 1);
                    self.metrics
                        .rejections
                        .with_label_values(&[&name, "unknown_destination"])
                        .inc();
                    warn!(height = n, destination = m.destination, nonce = m.nonce, msg_id = %m.id(), "message to an unknown destination rejected");
                }
            }
        }
        let mut lanes: Vec<_> = by_lane.into_iter().collect();
        lanes.sort_by_key(|(lane, _)| *lane);
        for (lane, (dest_name, messages)) in lanes {
            self.wait_for_room(lane.dst, &dest_name, shutdown).await;
            let count = messages.len() as u64;
            let entry = LaneEntry {
                origin: self.spec.domain,
                height: n,
                verified_at_ms,
                messages,
            };
            let appended = self.lanes.append(lane, &entry).await?;
            if appended {
                // The monitor measures once a second; without this, a
                // watcher would append a second's worth of blocks past the
                // limit before seeing it.
                self.backlog.add(lane.dst, 1);
                self.metrics
                    .count(stage::ENQUEUED, &name, &dest_name, count);
            }
            tracing::debug!(height = n, destination = %dest_name, messages = count, appended, "block routed");
        }
        self.metrics
            .latency
            .with_label_values(&["enqueue"])
            .observe(unix_ms().saturating_sub(verified_at_ms) as f64 / 1000.0);
        Ok(())
    }
}

impl Watcher {
    /// The least-backlog member of `g` for origin block `height`: decided
    /// once per block in Redis (the first watcher's proposal wins, see
    /// [`Lanes::assign_group_member`]), so a block re-read after a crash, or
    /// read by another replica, goes to the same member, whose lane cursor
    /// then makes the re-append a no-op.
    async fn least_backlog_member(
        &self,
        g: &Group,
        height: u64,
        cache: &mut HashMap<u32, u32>,
    ) -> Result<u32, HubError> {
        if let Some(d) = cache.get(&g.domain) {
            return Ok(*d);
        }
        let proposed = g.least_backlog(&self.backlog);
        let member = self
            .lanes
            .assign_group_member(self.spec.domain, g.domain, height, proposed)
            .await?;
        cache.insert(g.domain, member);
        Ok(member)
    }

    /// Backpressure: while `dst`'s lane is over its limit, wait (the block
    /// stays unrouted, so nothing grows in this process) and count the time.
    async fn wait_for_room(&self, dst: u32, dest_name: &str, shutdown: &CancellationToken) {
        let mut logged = false;
        while self.backlog.get(dst) > self.spec.max_backlog && !shutdown.is_cancelled() {
            if !logged {
                logged = true;
                info!(
                    destination = dst,
                    backlog = self.backlog.get(dst),
                    limit = self.spec.max_backlog,
                    "lane over its backlog limit: throttling"
                );
            }
            let t = Instant::now();
            let _ = sleep_or_shutdown(Duration::from_millis(100), shutdown).await;
            self.metrics
                .throttled_seconds
                .with_label_values(&[&self.spec.name, dest_name])
                .inc_by(t.elapsed().as_secs_f64());
        }
    }
}

/// Exponential backoff: 200 ms doubling to 10 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(6))).min(Duration::from_secs(10))
}

/// Sleeps `d` unless shutdown comes first; returns true on shutdown.
pub(crate) async fn sleep_or_shutdown(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}
