//! Ethereum origins anchored by the beacon light client.
//!
//! The header-chain client (`switchyard_lc_evm`) links execution headers by
//! parent hash from a checkpoint and treats depth as finality. With a beacon
//! anchor the hub instead follows the sync committees: the
//! [`BeaconWatcher`] keeps a [`LightClientStore`] in step with a beacon node
//! (bootstrap, updates by period, finality updates), binds each new
//! finalized beacon header to its execution block (the execution header is
//! read over JSON-RPC and must hash to the block hash the beacon header
//! commits to) and publishes that block as the origin's anchor. The origin
//! watcher then routes a block only once the header chain holds the
//! anchor's hash at the anchor's height ([`gate`]): everything it routes is
//! an ancestor of a block the sync committee finalized.
//!
//! The store is persisted in Redis under the queue key's HMAC (as the other
//! light-client state) and resumed on restart, unless it is older than
//! `max_checkpoint_age`: past the weak-subjectivity period a committee's
//! signatures no longer prove anything, and the hub refuses to sync from it
//! rather than trust it.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::B256;
use switchyard_beacon::{BeaconApi, BeaconError};
use switchyard_evm::source::EvmSource;
use switchyard_lc_beacon::execution::bind_execution;
use switchyard_lc_beacon::{ChainSpec, LightClientStore, LightClientUpdate};
use switchyard_lc_evm::{BlockRef, HeaderChain};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use crate::config::beacon::SlotClock;
use crate::error::HubError;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::store::OriginState;
use crate::tasks::{pace_round, start_or_give_up};
use switchyard_types::Domain;

/// Most updates one `light_client/updates` request asks for
/// (`MAX_REQUEST_LIGHT_CLIENT_UPDATES`).
const MAX_UPDATES_PER_REQUEST: u64 = 128;

/// What a beacon watcher follows.
#[derive(Clone)]
pub struct BeaconSpec {
    /// Origin chain name.
    pub name: String,
    /// Origin domain (the persisted state's key).
    pub domain: Domain,
    /// Fork schedule, genesis validators root, preset.
    pub spec: ChainSpec,
    /// The checkpoint (beacon block root) trusted on first start, or when
    /// the persisted state is too old.
    pub trusted_root: B256,
    /// Oldest finalized state the watcher starts from, in slots.
    pub max_checkpoint_age_slots: u64,
    /// Pause between rounds.
    pub poll: Duration,
    /// The current slot.
    pub clock: SlotClock,
    /// Unix time of slot 0.
    pub genesis_time: u64,
    /// Seconds per slot.
    pub seconds_per_slot: u64,
}

impl std::fmt::Debug for BeaconSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeaconSpec")
            .field("name", &self.name)
            .field("trusted_root", &self.trusted_root)
            .field("max_checkpoint_age_slots", &self.max_checkpoint_age_slots)
            .finish_non_exhaustive()
    }
}

/// Follows the beacon chain for one origin and publishes the execution
/// block of each newly finalized beacon header.
#[derive(Debug)]
pub struct BeaconWatcher {
    spec: BeaconSpec,
    api: BeaconApi,
    exec: EvmSource,
    state: OriginState,
    metrics: Metrics,
    health: Arc<Health>,
    anchor: watch::Sender<Option<BlockRef>>,
}

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Updates applied.
    pub applied: usize,
    /// Updates refused.
    pub refused: usize,
    /// The finalized beacon slot after the round.
    pub finalized_slot: u64,
    /// The execution anchor after the round.
    pub anchor: Option<BlockRef>,
}

impl BeaconWatcher {
    /// A watcher and the receiver of its anchors.
    pub fn new(
        spec: BeaconSpec,
        api: BeaconApi,
        exec: EvmSource,
        state: OriginState,
        metrics: Metrics,
        health: Arc<Health>,
    ) -> (Self, watch::Receiver<Option<BlockRef>>) {
        let (anchor, rx) = watch::channel(None);
        (
            Self {
                spec,
                api,
                exec,
                state,
                metrics,
                health,
                anchor,
            },
            rx,
        )
    }

    fn api_err(&self, source: BeaconError) -> HubError {
        HubError::Beacon {
            chain: self.spec.name.clone(),
            source: Box::new(source),
        }
    }

    fn health_name(&self) -> String {
        format!("{}:beacon", self.spec.name)
    }

    fn too_old(&self, slot: u64, now: u64) -> bool {
        now.saturating_sub(slot) > self.spec.max_checkpoint_age_slots
    }

    /// Resumes the persisted store if it is recent enough, else bootstraps
    /// from the trusted checkpoint (which must be recent enough too).
    pub async fn init(&self) -> Result<LightClientStore, HubError> {
        let now = (self.spec.clock)();
        let name = &self.spec.name;
        let mut stale = None;
        if let Some(hex_state) = self.state.load_beacon(self.spec.domain).await? {
            let store = hex::decode(&hex_state)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    LightClientStore::restore(&b, self.spec.spec.clone()).map_err(|e| e.to_string())
                })
                .map_err(|reason| HubError::State {
                    what: format!("beacon light client of {name}"),
                    reason,
                })?;
            let slot = store.finalized_header().beacon.slot;
            if !self.too_old(slot, now) {
                info!(finalized_slot = slot, "beacon light client resumed");
                return Ok(store);
            }
            warn!(
                finalized_slot = slot,
                now,
                "persisted beacon state is older than max_checkpoint_age: bootstrapping from the configured checkpoint"
            );
            stale = Some(slot);
        }
        let bootstrap = self
            .api
            .bootstrap(self.spec.trusted_root)
            .await
            .map_err(|e| self.api_err(e))?;
        let slot = bootstrap.header.beacon.slot;
        if self.too_old(slot, now) {
            return Err(HubError::CheckpointTooOld {
                chain: name.clone(),
                slot,
                age_slots: now.saturating_sub(slot),
                max_slots: self.spec.max_checkpoint_age_slots,
                persisted: stale,
            });
        }
        let store = LightClientStore::from_bootstrap(
            self.spec.trusted_root,
            bootstrap,
            self.spec.spec.clone(),
        )
        .map_err(|source| HubError::BeaconLightClient {
            chain: name.clone(),
            source,
        })?;
        self.persist(&store).await?;
        info!(finalized_slot = slot, "beacon light client bootstrapped");
        Ok(store)
    }

    async fn persist(&self, store: &LightClientStore) -> Result<(), HubError> {
        self.state
            .save_beacon(self.spec.domain, &hex::encode(store.snapshot()))
            .await?;
        Ok(())
    }

    /// Exports the age the trusted state is judged by: its finalized slot's
    /// start time, and how long after it the state is still resumed
    /// (`max_checkpoint_age`), so an alert fires before a restart would
    /// refuse it.
    fn export_trust(&self, store: &LightClientStore) {
        let slot = store.finalized_header().beacon.slot;
        let at = self
            .spec
            .genesis_time
            .saturating_add(slot.saturating_mul(self.spec.seconds_per_slot));
        let period = self
            .spec
            .max_checkpoint_age_slots
            .saturating_mul(self.spec.seconds_per_slot);
        let name = &self.spec.name;
        self.metrics
            .lc_trusted_time
            .with_label_values(&[name])
            .set(i64::try_from(at).unwrap_or(i64::MAX));
        self.metrics
            .lc_trusting_period
            .with_label_values(&[name])
            .set(i64::try_from(period).unwrap_or(i64::MAX));
    }

    fn verdict(&self, outcome: &'static str) {
        self.metrics
            .lc_updates
            .with_label_values(&[&self.spec.name, outcome])
            .inc();
    }

    /// Applies `update` if the store accepts it; whether it did.
    fn apply(&self, store: &mut LightClientStore, update: &LightClientUpdate, now: u64) -> bool {
        match store
            .verify_update(update, now)
            .and_then(|v| store.apply_update(v))
        {
            Ok(_) => {
                self.verdict("accepted");
                true
            }
            Err(e) => {
                self.verdict("rejected");
                warn!(
                    err = %e,
                    attested_slot = update.attested_header.beacon.slot,
                    retryable = e.is_retryable(),
                    "beacon update refused"
                );
                false
            }
        }
    }

    /// One round: updates by period up to the current one, then the latest
    /// finality update; persists a store that moved; binds and publishes
    /// the finalized execution block.
    pub async fn step(&self, store: &mut LightClientStore) -> Result<Round, HubError> {
        let now = (self.spec.clock)();
        let spec = &self.spec.spec;
        let before = (
            store.finalized_header().beacon.slot,
            store.next_sync_committee().is_some(),
        );
        let (mut applied, mut refused) = (0, 0);
        let target = spec.period_at_slot(now);
        loop {
            let period = spec.period_at_slot(store.finalized_header().beacon.slot);
            // Up to date once the committee after the store's is known and
            // the store is in the current period.
            if period >= target && store.next_sync_committee().is_some() {
                break;
            }
            let mark = (
                store.finalized_header().beacon.slot,
                store.next_sync_committee().is_some(),
            );
            let count = (target.saturating_sub(period) + 1).min(MAX_UPDATES_PER_REQUEST);
            let updates = self
                .api
                .updates(period, count)
                .await
                .map_err(|e| self.api_err(e))?;
            for u in &updates {
                // Nodes may answer with periods the store already passed
                // (the range starts at the store's own period): nothing in
                // them is news, and the light client would refuse them as
                // irrelevant. Skip them rather than count them as refused
                // or stop at them.
                if u.attested_header.beacon.slot <= store.finalized_header().beacon.slot
                    && store.next_sync_committee().is_some()
                {
                    continue;
                }
                if self.apply(store, u, now) {
                    applied += 1;
                } else {
                    // The next ones are still tried: a refused update does
                    // not advance the store, so one that needs its
                    // committee is refused too, and counted.
                    refused += 1;
                }
            }
            let moved = mark
                != (
                    store.finalized_header().beacon.slot,
                    store.next_sync_committee().is_some(),
                );
            if !moved {
                break;
            }
        }
        let finality = self
            .api
            .finality_update()
            .await
            .map_err(|e| self.api_err(e))?;
        // An update no newer than the store is the common case between
        // finalizations: not an error.
        if finality.finality.finalized_header.beacon.slot > store.finalized_header().beacon.slot
            || finality.attested_header.beacon.slot > store.optimistic_header().beacon.slot
        {
            if self.apply(store, &finality.into(), now) {
                applied += 1;
            } else {
                refused += 1;
            }
        } else {
            debug!("finality update not newer than the store");
        }
        let finalized_slot = store.finalized_header().beacon.slot;
        if (finalized_slot, store.next_sync_committee().is_some()) != before {
            self.persist(store).await?;
        }
        self.export_trust(store);
        // Slots, not block numbers: a family of their own.
        self.metrics
            .beacon_slot
            .with_label_values(&[&self.spec.name, "finalized"])
            .set(finalized_slot as i64);
        self.metrics
            .beacon_slot
            .with_label_values(&[&self.spec.name, "optimistic"])
            .set(store.optimistic_header().beacon.slot as i64);
        let anchor = self.bind(store).await?;
        Ok(Round {
            applied,
            refused,
            finalized_slot,
            anchor,
        })
    }

    /// The finalized header's execution block, read over JSON-RPC and bound
    /// to the header; published when it is new. When the endpoints' block
    /// at that height is another one, the finalized block (number and hash
    /// from the verified header) is published all the same: the gate then
    /// holds the origin's routing on the mismatch.
    async fn bind(&self, store: &LightClientStore) -> Result<Option<BlockRef>, HubError> {
        let header = store.finalized_header();
        let Some(payload) = header.execution.as_ref() else {
            // Before Capella a light-client header carries no execution
            // payload: nothing to anchor.
            return Ok(*self.anchor.borrow());
        };
        let number = payload.block_number();
        if self.anchor.borrow().is_some_and(|a| a.number == number) {
            return Ok(*self.anchor.borrow());
        }
        let (exec, _claimed) = self.exec.header(number).await?;
        let anchor = match bind_execution(header, &self.spec.spec, &exec) {
            Ok(anchor) => anchor,
            // The endpoints hold another block at the finalized height. The
            // finalized block itself becomes the anchor: the origin
            // watcher's gate compares it with its header chain, holds
            // routing and says so (`not_finalized_by_beacon`, /readyz),
            // where failing the round would only retry without a word.
            Err(source @ switchyard_lc_beacon::Error::ExecutionHeaderMismatch { .. }) => {
                warn!(
                    err = %source,
                    height = number,
                    "the execution endpoints hold another block than the beacon chain finalized"
                );
                BlockRef {
                    number,
                    hash: payload.block_hash(),
                }
            }
            Err(source) => {
                return Err(HubError::BeaconLightClient {
                    chain: self.spec.name.clone(),
                    source,
                });
            }
        };
        self.metrics
            .lc_height
            .with_label_values(&[&self.spec.name, "finalized"])
            .set(anchor.number as i64);
        info!(
            beacon_slot = header.beacon.slot,
            block = anchor.number,
            hash = %anchor.hash,
            "finalized execution block anchored"
        );
        self.anchor.send_replace(Some(anchor));
        Ok(Some(anchor))
    }

    /// Runs until `shutdown`: init (retried while retryable), then rounds.
    #[instrument(name = "beacon", skip_all, fields(chain = %self.spec.name))]
    pub async fn run(self, shutdown: CancellationToken) {
        let name = self.health_name();
        let this = &self;
        let Some(mut store) = start_or_give_up(
            "beacon light client",
            &name,
            &self.health,
            &shutdown,
            || this.init(),
        )
        .await
        else {
            return;
        };
        self.export_trust(&store);
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            // A beacon round always waits for the next poll: updates come
            // once a slot at most.
            let outcome = self.step(&mut store).await.map(|_| false);
            let poll = self.spec.poll;
            if pace_round(
                outcome,
                &mut failures,
                "beacon round",
                &name,
                &self.health,
                poll,
                &shutdown,
            )
            .await
            {
                break;
            }
        }
    }
}

/// Why a block cannot be routed under a beacon anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorMismatch {
    /// The finalized execution block.
    pub anchor: BlockRef,
    /// What the header chain holds at that height.
    pub held: B256,
}

/// The highest block the origin watcher may route under `anchor`: the
/// anchor's height once the header chain holds the anchor's hash there (so
/// every block up to it is, by the parent links, an ancestor of a finalized
/// block), never less than `previous` (a gate only rises), never more than
/// the header chain's own confirmed height. Without an anchor yet, nothing
/// new. `Err` when the header chain holds another block at the anchor's
/// height: it followed a fork the beacon chain did not finalize.
pub fn gate(
    lc: &HeaderChain,
    anchor: Option<BlockRef>,
    previous: u64,
) -> Result<u64, AnchorMismatch> {
    let Some(anchor) = anchor else {
        return Ok(previous);
    };
    match lc.hash_at(anchor.number) {
        Some(h) if h == anchor.hash => Ok(previous.max(anchor.number.min(lc.confirmed_height()))),
        Some(held) => Err(AnchorMismatch { anchor, held }),
        // Not in the window (the header chain is behind the anchor, or the
        // anchor fell out of the window): route what is already gated.
        None => Ok(previous),
    }
}

#[cfg(test)]
mod tests {
    use switchyard_lc_evm::Header;

    use super::*;

    /// A header chain of `n` blocks above a checkpoint at height 100,
    /// confirmation depth 2.
    fn chain(n: u64) -> (HeaderChain, Vec<BlockRef>) {
        let cp = BlockRef {
            number: 100,
            hash: B256::repeat_byte(1),
        };
        let mut lc = HeaderChain::new(cp, 2, 64).expect("chain");
        let mut refs = vec![cp];
        for i in 1..=n {
            let h = Header {
                parent_hash: refs.last().expect("parent").hash,
                number: 100 + i,
                ..Header::default()
            };
            let v = lc.verify_header(&h).expect("links");
            lc.apply_header(v).expect("applies");
            refs.push(BlockRef {
                number: h.number,
                hash: h.hash(),
            });
        }
        (lc, refs)
    }

    #[test]
    fn the_gate_opens_to_a_finalized_anchor_the_header_chain_holds() {
        let (lc, refs) = chain(10); // tip 110, confirmed 108
        assert_eq!(gate(&lc, None, 100), Ok(100), "no anchor yet: nothing new");
        assert_eq!(gate(&lc, Some(refs[5]), 100), Ok(105));
        // An anchor above the confirmed height gates at the confirmed height.
        assert_eq!(gate(&lc, Some(refs[10]), 100), Ok(108));
        // A gate never closes again.
        assert_eq!(gate(&lc, Some(refs[3]), 105), Ok(105));
        // An anchor beyond the header chain's tip: wait.
        let ahead = BlockRef {
            number: 150,
            hash: B256::repeat_byte(9),
        };
        assert_eq!(gate(&lc, Some(ahead), 105), Ok(105));
        // Another block at the anchor's height: the header chain is on a
        // fork the beacon chain did not finalize.
        let other = BlockRef {
            number: 105,
            hash: B256::repeat_byte(9),
        };
        assert_eq!(
            gate(&lc, Some(other), 100),
            Err(AnchorMismatch {
                anchor: other,
                held: refs[5].hash
            })
        );
    }
}
