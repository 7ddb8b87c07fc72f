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

use alloy_primitives::Address;
use alloy_primitives::BloomInput;
use switchyard_lc_evm::{BlockRef, DISPATCH_TOPIC, Header, HeaderChain, extract_messages};
use switchyard_types::Domain;
use tokio_util::sync::CancellationToken;
use tracing::{info, instrument, warn};

use super::ancestry::{Ancestry, Walk};
use crate::chain::HeaderSource;
use crate::error::HubError;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::route::{Malformed, RouteStage, VerifiedBatch, VerifiedMessage};
use crate::store::OriginState;
use crate::tasks::{pace_round, start_or_give_up};
use crate::unix_ms;

/// How far (in blocks) header verification may run ahead of routing; keeps
/// the light client's window large enough to check every block still to be
/// routed after a restart.
const HEADER_LEAD: u64 = 128;

/// How far header verification may run ahead of routing for a chain with
/// `confirmations`, by default: past the confirmation depth by
/// [`HEADER_LEAD`], or no block would ever be confirmed while routing waits.
pub fn header_lead(confirmations: u64) -> u64 {
    confirmations + HEADER_LEAD
}

/// Headers kept by the light client.
const LC_WINDOW: usize = 512;

/// The light client's window: every header not yet routed stays in it.
fn lc_window(lead: u64) -> usize {
    LC_WINDOW.max(usize::try_from(2 * lead).unwrap_or(usize::MAX))
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
    /// Blocks header verification may run ahead of the slowest
    /// destination's routing (more than `confirmations`; see
    /// [`header_lead`]). It bounds how far one destination's backpressure
    /// lets the others get ahead.
    pub header_lead: u64,
    /// Endpoints that must return the light client's hash for a block at
    /// the confirmation depth before it is routed (header-chain mode with
    /// a quorum); 1 routes on the light client alone (a beacon anchor, or
    /// one endpoint trusted by explicit choice).
    pub quorum: usize,
}

/// One origin's watcher, over any [`HeaderSource`].
#[derive(Debug)]
pub struct Watcher<S> {
    spec: OriginSpec,
    source: S,
    state: OriginState,
    route: RouteStage,
    metrics: Metrics,
    health: Arc<Health>,
    /// The last (height, reason) refused, so a retried refusal is logged and
    /// counted once.
    last_refusal: Option<(u64, &'static str)>,
    /// Per destination chain, the highest origin block routed to it. A
    /// destination over its backlog limit falls behind alone; the others go
    /// on, up to the header lead past the slowest (in memory: after a
    /// restart all resume from `scanned` and the lane cursors make the
    /// repeated appends no-ops).
    routed: HashMap<u32, u64>,
    /// With a beacon anchor: the finalized execution blocks the beacon
    /// watcher publishes, and the height routing is gated at
    /// ([`super::beacon::gate`]).
    anchor: Option<tokio::sync::watch::Receiver<Option<BlockRef>>>,
    /// The highest block routing may reach: agreed by the endpoint quorum,
    /// or an ancestor of a beacon-finalized block. It never moves back, and
    /// the light client is never rewound below it, so a block once gated
    /// cannot be replaced by another branch.
    gated: u64,
    /// Whether the origin's evidence is disputed: the endpoints disagree on
    /// the block at the confirmation depth (until they agree again), or the
    /// header chain holds another block than the beacon chain finalized
    /// (until an operator restarts the hub). Counted and logged once.
    disputed: bool,
    /// With a beacon anchor past the light client's window: the hashes of
    /// its ancestors, read back from it, which headers are then fetched by
    /// (see [`crate::ancestry`]).
    ancestry: Ancestry,
    /// What the anchor is: a beacon-finalized block, or a rollup block
    /// proven from its settlement chain.
    anchor_kind: AnchorKind,
    /// Where the gated block is published for rollup origins settling on
    /// this chain: their proofs are read at it.
    verified: Option<tokio::sync::watch::Sender<Option<BlockRef>>>,
}

/// Where an origin's anchor comes from: the block the gate routes
/// ancestors of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnchorKind {
    /// The beacon light client's finalized execution block.
    Beacon,
    /// A rollup block proven from its settlement chain's verified state.
    Rollup,
}

impl AnchorKind {
    /// The rejection reason when the header chain holds another block at
    /// the anchor's height.
    fn mismatch_reason(self) -> &'static str {
        match self {
            Self::Beacon => crate::metrics::dispute::NOT_FINALIZED_BY_BEACON,
            Self::Rollup => crate::metrics::dispute::NOT_PROVEN_BY_SETTLEMENT,
        }
    }

    /// What vouched for the anchor, in words.
    fn source(self) -> &'static str {
        match self {
            Self::Beacon => "the beacon chain finalized",
            Self::Rollup => "the settlement chain's proof names",
        }
    }
}

impl<S: HeaderSource> Watcher<S> {
    /// A watcher; nothing runs until [`Watcher::run`].
    /// `state` keeps its light client and cursor; `route` takes what it
    /// verifies.
    pub fn new(
        spec: OriginSpec,
        source: S,
        state: OriginState,
        route: RouteStage,
        metrics: Metrics,
        health: Arc<Health>,
    ) -> Self {
        Self {
            spec,
            source,
            state,
            route,
            metrics,
            health,
            last_refusal: None,
            routed: HashMap::new(),
            anchor: None,
            gated: 0,
            disputed: false,
            ancestry: Ancestry::default(),
            anchor_kind: AnchorKind::Beacon,
            verified: None,
        }
    }

    /// Routes only ancestors of beacon-finalized blocks: `anchor` receives
    /// each finalized execution block the beacon light client binds.
    pub fn with_anchor(mut self, anchor: tokio::sync::watch::Receiver<Option<BlockRef>>) -> Self {
        self.anchor = Some(anchor);
        self
    }

    /// Routes only ancestors of rollup blocks proven from the settlement
    /// chain: `proven` receives each ([`super::rollup::RollupProver`]). The
    /// gate and the backward walk are the beacon anchor's.
    pub fn with_rollup_anchor(
        mut self,
        proven: tokio::sync::watch::Receiver<Option<BlockRef>>,
    ) -> Self {
        self.anchor = Some(proven);
        self.anchor_kind = AnchorKind::Rollup;
        self
    }

    /// Publishes every block this watcher gates (the highest it may route:
    /// verified by its light client and its trust mode) to `verified`, for
    /// the rollup origins that settle on this chain.
    pub fn publishing_verified(
        mut self,
        verified: tokio::sync::watch::Sender<Option<BlockRef>>,
    ) -> Self {
        self.verified = Some(verified);
        self
    }

    /// The highest block this round may route: with a beacon anchor, up to
    /// the latest finalized block the header chain holds; with a quorum, up
    /// to the confirmed block that enough endpoints agree on; otherwise the
    /// confirmed height.
    async fn routable(
        &mut self,
        lc: &mut HeaderChain,
        headers: &mut BTreeMap<u64, Header>,
    ) -> Result<u64, HubError> {
        if let Some(rx) = &self.anchor {
            if self.disputed {
                // Held since a mismatch, until an operator acts (restart).
                return Ok(self.gated);
            }
            let anchor = *rx.borrow();
            if let Some(a) = anchor
                && a.number > lc.tip().number
                && self.ancestry.top().is_none_or(|t| t < a.number)
            {
                // The finalized block is past the window: read its ancestry
                // back to what the watcher holds, or the gap never closes.
                match self
                    .ancestry
                    .walk(&self.source, lc, self.gated, a, &self.spec.name)
                    .await?
                {
                    Walk::Linked { height } => {
                        // The light client's blocks above the link that are
                        // not the finalized chain's are dropped.
                        let mut keep = lc.tip().number;
                        while keep > height && lc.hash_at(keep) != self.ancestry.get(keep) {
                            keep -= 1;
                        }
                        if keep < lc.tip().number && lc.rewind_to(keep).is_ok() {
                            headers.retain(|&k, _| k <= keep);
                        }
                        // The block linked to, and its ancestors in the
                        // window, descend to the finalized one: routable
                        // (the light client relays at its confirmation
                        // depth, as with any gate).
                        self.gated = self.gated.max(height.min(lc.confirmed_height()));
                        info!(
                            finalized = a.number,
                            linked_at = height,
                            ancestors = self.ancestry.len(),
                            "finalized block past the header window: its ancestry read back, catching up"
                        );
                    }
                    Walk::Mismatch {
                        height,
                        finalized,
                        held,
                    } => {
                        self.hold_not_finalized(height, finalized, held);
                        return Ok(self.gated);
                    }
                }
            }
            // Finalized ancestors the light client holds open the gate.
            if let Some(top) = self.ancestry.top() {
                let t = lc.confirmed_height().min(top);
                if t > self.gated
                    && lc.hash_at(t).is_some()
                    && lc.hash_at(t) == self.ancestry.get(t)
                {
                    self.gated = t;
                }
            }
            match super::beacon::gate(lc, anchor, self.gated) {
                Ok(h) => self.gated = h,
                Err(m) => self.hold_not_finalized(m.anchor.number, m.anchor.hash, m.held),
            }
            return Ok(self.gated);
        }
        let confirmed = lc.confirmed_height();
        if self.spec.quorum <= 1 {
            self.gated = self.gated.max(confirmed);
            return Ok(self.gated);
        }
        if confirmed <= self.gated {
            return Ok(self.gated);
        }
        let Some(mut ours) = lc.hash_at(confirmed) else {
            return Ok(self.gated);
        };
        let mut probed = confirmed;
        let mut votes = self.source.block_hashes(confirmed).await;
        let mut tally = Tally::of(&votes, ours);
        // Too few answers at the top (endpoints behind, or the light
        // client's source ahead of every other endpoint: a liar claiming a
        // higher head): ask about the next block to route, which the
        // others have, so a forged branch is caught where it starts.
        let next = self.gated + 1;
        if tally.agree + tally.other < self.spec.quorum
            && next < confirmed
            && let Some(ours_next) = lc.hash_at(next)
        {
            (probed, ours) = (next, ours_next);
            votes = self.source.block_hashes(next).await;
            tally = Tally::of(&votes, ours);
        }
        let confirmed = probed;
        if tally.agree >= self.spec.quorum {
            if self.disputed {
                self.disputed = false;
                self.health.release(&self.spec.name);
                info!(
                    height = confirmed,
                    agree = tally.agree,
                    "endpoints agree again: routing resumes"
                );
            }
            self.gated = confirmed;
            return Ok(self.gated);
        }
        if tally.other == 0 {
            // Endpoints that did not answer, or are behind: wait for them.
            return Ok(self.gated);
        }
        let reason = crate::metrics::dispute::ENDPOINT_DISAGREEMENT;
        if !self.disputed {
            self.disputed = true;
            self.metrics
                .rejections
                .with_label_values(&[&self.spec.name, reason])
                .inc();
            tracing::error!(
                height = confirmed,
                ours = %ours,
                agree = tally.agree,
                disagree = tally.other,
                quorum = self.spec.quorum,
                routed = self.gated,
                "endpoints disagree on the block at the confirmation depth: not routing past the last agreed block"
            );
            self.health.hold(
                &self.spec.name,
                format!(
                    "endpoints disagree on block {confirmed} ({} of {} name the light client's hash, {} another; {} must agree): nothing past block {} is routed until they agree",
                    tally.agree,
                    votes.len(),
                    tally.other,
                    self.spec.quorum,
                    self.gated
                ),
            );
        }
        // The light client's branch is outvoted (another hash has more
        // votes): drop everything above the last agreed block and read the
        // headers again from another endpoint. On a tie nothing tells which
        // branch is the chain's; routing waits for the endpoints to agree.
        if tally.best_other > tally.agree && lc.rewind_to(self.gated).is_ok() {
            headers.retain(|&k, _| k <= self.gated);
            self.source.switch_endpoint();
            warn!(
                height = confirmed,
                rewound_to = self.gated,
                "the light client's branch is outvoted: rewound to the last agreed block, reading from another endpoint"
            );
        }
        Ok(self.gated)
    }

    /// Resumes the persisted light client, or starts from the configured
    /// checkpoint.
    async fn init(&self) -> Result<(HeaderChain, u64), HubError> {
        let lc = match self.state.load_lc(self.spec.domain).await? {
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
                    lc_window(self.spec.header_lead),
                )
                .map_err(|e| HubError::State {
                    what: format!("light client of {}", self.spec.name),
                    reason: e.to_string(),
                })?
            }
        };
        let scanned = match self.state.scanned(self.spec.domain).await? {
            Some(s) => s,
            None => lc.checkpoint().number,
        };
        Ok((lc, scanned))
    }

    /// Runs until `shutdown`.
    #[instrument(name = "watcher", skip_all, fields(chain = %self.spec.name))]
    pub async fn run(mut self, shutdown: CancellationToken) {
        let this = &self;
        let Some((mut lc, mut scanned)) =
            start_or_give_up("watcher", &self.spec.name, &self.health, &shutdown, || {
                this.init()
            })
            .await
        else {
            return;
        };
        self.gated = scanned;
        info!(tip = lc.tip().number, scanned, "watcher started");
        let mut headers: BTreeMap<u64, Header> = BTreeMap::new();
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            let outcome = self
                .step(&mut lc, &mut scanned, &mut headers, &shutdown)
                .await;
            let (name, poll) = (&self.spec.name, self.spec.poll);
            if pace_round(
                outcome,
                &mut failures,
                "watcher step",
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
        let mut refused = None;
        while lc.tip().number < head
            && lc.tip().number.saturating_sub(*scanned) < self.spec.header_lead
            && !shutdown.is_cancelled()
        {
            let n = lc.tip().number + 1;
            // An ancestor of a finalized block is asked for by its hash: any
            // other block at that height is not the chain's.
            let (header, claimed) = match self.ancestry.get(n) {
                Some(hash) => match self.source.header_by_hash(hash).await? {
                    Some(h) => (h, hash),
                    None => {
                        return Err(HubError::Evm(switchyard_evm::EvmError::NotFound {
                            what: format!("block {hash} (finalized ancestry, height {n})"),
                        }));
                    }
                },
                None => self.source.header(n).await?,
            };
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
                    // again, never below what was already gated (a gate
                    // walked back would let an endpoint swap blocks the
                    // quorum or the beacon chain vouched for). A reorg
                    // deeper than that breaks the confirmation-depth
                    // assumption and stays visible as a rejection.
                    let floor = self.gated.max(*scanned);
                    if matches!(e, switchyard_lc_evm::Error::ParentMismatch { .. })
                        && lc.tip().number > floor
                    {
                        // With a quorum, everything above the last agreed
                        // block is one endpoint's word: drop it at once
                        // (normally `confirmations` headers) rather than
                        // block by block, which after a long dispute would
                        // take a backed-off round per block.
                        let back = if self.anchor.is_none() && self.spec.quorum > 1 {
                            floor
                        } else {
                            lc.tip().number - 1
                        };
                        if lc.rewind_to(back).is_ok() {
                            headers.retain(|&k, _| k <= back);
                            warn!(
                                height = n,
                                rewound_to = back,
                                "header does not link: rewinding the unconfirmed tip"
                            );
                        }
                    }
                    // Blocks already gated are still routed this round: a
                    // refused header holds up only what lies above it.
                    refused = Some(HubError::LightClient {
                        chain: name.clone(),
                        source: e,
                    });
                    break;
                }
            }
        }
        if advanced {
            let state = serde_json::to_string(&*lc).map_err(|e| HubError::State {
                what: format!("light client of {name}"),
                reason: e.to_string(),
            })?;
            self.state.save_lc(self.spec.domain, &state).await?;
            self.metrics
                .lc_height
                .with_label_values(&[&name, "tip"])
                .set(lc.tip().number as i64);
            self.metrics
                .lc_height
                .with_label_values(&[&name, "confirmed"])
                .set(lc.confirmed_height() as i64);
        }
        let confirmed = self.routable(lc, headers).await?;
        self.metrics
            .lc_height
            .with_label_values(&[&name, "gated"])
            .set(confirmed as i64);
        if let Some(tx) = &self.verified
            && let Some(hash) = lc
                .hash_at(confirmed)
                .or_else(|| self.ancestry.get(confirmed))
        {
            let b = BlockRef {
                number: confirmed,
                hash,
            };
            tx.send_if_modified(|v| {
                let newer = v.is_none_or(|o| o.number < b.number);
                if newer {
                    *v = Some(b);
                }
                newer
            });
        }
        self.route_confirmed(lc, scanned, headers, confirmed, shutdown)
            .await?;
        // Headers below the routed cursor are not needed any more.
        headers.retain(|&k, _| k > *scanned);
        self.ancestry.drop_to(*scanned);
        if let Some(e) = refused {
            return Err(e);
        }
        Ok(lc.tip().number < head
            && lc.tip().number.saturating_sub(*scanned) < self.spec.header_lead)
    }

    /// Routes blocks `scanned + 1 ..= confirmed` to every destination that
    /// still needs them, in order, each destination as far as its backlog
    /// allows; advances `scanned` to the slowest destination's routed block.
    async fn route_confirmed(
        &mut self,
        lc: &HeaderChain,
        scanned: &mut u64,
        headers: &mut BTreeMap<u64, Header>,
        confirmed: u64,
        shutdown: &CancellationToken,
    ) -> Result<(), HubError> {
        let name = self.spec.name.clone();
        let dests = self.route.router().chain_domains();
        for d in &dests {
            self.routed.entry(*d).or_insert(*scanned);
        }
        let mut blocked: Vec<(u32, String)> = Vec::new();
        let mut n = *scanned + 1;
        while n <= confirmed && !shutdown.is_cancelled() {
            // Destinations that still need block n, and which of them can
            // take more right now.
            // A destination held back at an earlier block of this round stays
            // held back for the rest of it: routing it a later block now
            // would skip the earlier one (its routed height would jump).
            let need: Vec<u32> = dests
                .iter()
                .copied()
                .filter(|d| self.routed.get(d).is_none_or(|r| *r < n))
                .filter(|d| !blocked.iter().any(|(b, _)| b == d))
                .collect();
            if need.is_empty() {
                n += 1;
                continue;
            }
            let over = |d: &u32| self.route.over_limit(*d);
            if !need.iter().all(over) {
                let header = match headers.get(&n) {
                    Some(h) => h.clone(),
                    // After a restart the light client has the hash, we
                    // refetch the header and the client checks it is the
                    // same one.
                    None => {
                        let h = self.source.header(n).await?.0;
                        headers.insert(n, h.clone());
                        h
                    }
                };
                let now_blocked = self.route_block(lc, &header, &need).await?;
                for d in &need {
                    if !now_blocked.iter().any(|(b, _)| b == d) {
                        self.routed.insert(*d, n);
                    }
                }
                for b in now_blocked {
                    if !blocked.iter().any(|(x, _)| *x == b.0) {
                        blocked.push(b);
                    }
                }
            } else {
                for d in &need {
                    if !blocked.iter().any(|(x, _)| x == d) {
                        blocked.push((
                            *d,
                            self.route
                                .router()
                                .route(*d)
                                .map(|r| r.name.clone())
                                .unwrap_or_default(),
                        ));
                    }
                }
            }
            // Fully routed up to the slowest destination.
            let low = self.routed.values().copied().min().unwrap_or(n);
            if low > *scanned {
                *scanned = low;
                self.state.set_scanned(self.spec.domain, low).await?;
                self.metrics
                    .lc_height
                    .with_label_values(&[&name, "scanned"])
                    .set(low as i64);
            }
            n += 1;
        }
        self.route.end_round(blocked);
        Ok(())
    }

    /// The header chain holds `held` at `height` where the beacon chain
    /// finalized `finalized`: either the endpoints lie or the chain's
    /// consensus broke. Nothing above the gate is routed until an operator
    /// has looked; the gate itself never moves back.
    fn hold_not_finalized(
        &mut self,
        height: u64,
        finalized: alloy_primitives::B256,
        held: alloy_primitives::B256,
    ) {
        self.disputed = true;
        let kind = self.anchor_kind;
        self.metrics
            .rejections
            .with_label_values(&[&self.spec.name, kind.mismatch_reason()])
            .inc();
        tracing::error!(
            height,
            finalized = %finalized,
            held = %held,
            routed = self.gated,
            "the header chain holds another block than {}: routing of this origin stops until an operator acts",
            kind.source()
        );
        self.health.hold(
            &self.spec.name,
            format!(
                "block {height} is {held} in the header chain but {finalized} in what {}; nothing past block {} is routed: check the execution endpoints, then restart",
                kind.source(),
                self.gated
            ),
        );
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

    /// Verifies block `header`'s receipts and hands its messages to the
    /// route stage for the destinations in `need`; returns those of them
    /// that are over their backlog limit (not routed).
    async fn route_block(
        &mut self,
        lc: &HeaderChain,
        header: &Header,
        need: &[u32],
    ) -> Result<Vec<(u32, String)>, HubError> {
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
            return Ok(Vec::new());
        }
        let fetched_receipts = self.source.receipts(n).await?;
        let receipts = &fetched_receipts.receipts;
        let block = match lc.verify_block(header, receipts) {
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
        let batch = VerifiedBatch {
            height: n,
            evidence_height: n,
            verified_at_ms,
            messages: extracted
                .messages
                .into_iter()
                .map(|pm| VerifiedMessage {
                    // Named by the source; not proven, only shown.
                    origin_tx: fetched_receipts.tx_hashes.get(pm.tx_index).copied(),
                    message: pm.message,
                })
                .collect(),
            malformed: extracted
                .rejected
                .iter()
                .map(|(pos, err)| Malformed {
                    reason: err.reason(),
                    detail: format!("{pos:?}: {err}"),
                })
                .collect(),
        };
        self.route.route(batch, Some(need)).await
    }
}

/// Endpoints' votes on a block's hash against the light client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tally {
    /// Endpoints naming the light client's hash.
    agree: usize,
    /// Endpoints naming another hash.
    other: usize,
    /// Votes of the most named other hash.
    best_other: usize,
}

impl Tally {
    fn of(votes: &[Option<alloy_primitives::B256>], ours: alloy_primitives::B256) -> Self {
        let mut others: HashMap<alloy_primitives::B256, usize> = HashMap::new();
        let mut agree = 0;
        for v in votes.iter().flatten() {
            if *v == ours {
                agree += 1;
            } else {
                *others.entry(*v).or_default() += 1;
            }
        }
        Self {
            agree,
            other: others.values().sum(),
            best_other: others.values().copied().max().unwrap_or(0),
        }
    }
}
