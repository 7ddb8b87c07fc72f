//! Rollup origins proved through the chain they settle on.
//!
//! A rollup's own endpoints are trusted for liveness only. The
//! [`RollupProver`] takes each block the settlement chain's light client
//! verified (the L1 origin's gated block: beacon-finalized ancestors, or a
//! header-chain quorum), reads the rollup's commitments from L1 storage
//! with `eth_getProof` at that block, and has the rollup light client
//! (`switchyard_lc_rollup`) prove an L2 block from that verified state
//! root: an OP Stack output root (a dispute game, the L2OutputOracle, the
//! AnchorStateRegistry's anchor) or an Arbitrum BoLD assertion, whose
//! proposal is final under the configured [`FinalityPolicy`]. It publishes the proven L2 block; the L2
//! origin's EVM watcher routes only ancestors of it, by parent hash (the
//! gate and the backward walk it uses for beacon anchors), so a message is
//! relayed only from a block the L1 state commits to.
//!
//! Which proposal to prove is chosen from what the endpoints say (the list
//! of games, their status, their extra data; the Rollup's
//! `latestConfirmed()` and its `AssertionCreated` logs): hints, each then
//! proven or refused. An endpoint that lies can make the prover look at the wrong
//! proposal, which the light client refuses (counted in
//! `switchyard_rejections_total` with the crate's bounded reason, logged
//! once): a delay, never a forged block.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use alloy::eips::BlockId;
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{SolCall, SolEvent};
use switchyard_evm::bindings::{IBoldRollup, IDisputeGame};
use switchyard_evm::source::{AccountProof, EvmSource};
use switchyard_lc_evm::{BlockRef, Header};
use switchyard_lc_rollup::arbitrum::{
    self, AssertionNode, AssertionState, AssertionStatus, GlobalState,
};
use switchyard_lc_rollup::op::{self, FaultGameState, GameId, OutputProposalMeta};
use switchyard_lc_rollup::slots::array_slot;
use switchyard_lc_rollup::{
    AccountProofParams, ArbitrumBundle, Bundle, DisputeGameProof, FinalityPolicy, Now,
    OpStackBundle, OutputOracleProof, RollupError, Settlement, StateProofParams, Target, Verdict,
    verify_bundle_at_state_root,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use crate::error::HubError;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::tasks::pace_round;

/// The OP Stack's L2ToL1MessagePasser predeploy, whose storage root is part
/// of every output root.
pub const MESSAGE_PASSER: Address = Address::new([
    0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16,
]);

/// Storage slots read in one `eth_getProof` while looking through the
/// factory's game list.
const LIST_CHUNK: u64 = 16;

/// L1 blocks looked through for recent Arbitrum assertions in one round,
/// newest first (with the minimum-age policy): BoLD chains assert about
/// every hour (300 L1 blocks), so the newest old-enough one is in the first
/// `eth_getLogs` range or two.
const ASSERTION_LOOKBACK: u64 = 8 * switchyard_evm::source::MAX_LOG_RANGE;

/// Refused proposals remembered, so a proposal refused again next round is
/// not counted and logged again.
const REMEMBERED_REFUSALS: usize = 256;

/// What a rollup prover follows.
#[derive(Debug, Clone)]
pub struct RollupSpec {
    /// The rollup origin's chain name (metrics, logs).
    pub name: String,
    /// The chain it settles on (logs).
    pub settles_on: String,
    /// The settlement contract (from the configuration, never from an
    /// endpoint).
    pub target: Target,
    /// Which proposals are final.
    pub policy: FinalityPolicy,
    /// Pause between rounds.
    pub poll: Duration,
    /// Most proposals looked at in one round.
    pub max_candidates: u32,
}

/// Proves the rollup's blocks from its settlement chain's verified state
/// and publishes the highest one proven.
#[derive(Debug)]
pub struct RollupProver {
    spec: RollupSpec,
    l1: EvmSource,
    l2: EvmSource,
    l1_verified: watch::Receiver<Option<BlockRef>>,
    proven: watch::Sender<Option<BlockRef>>,
    metrics: Metrics,
    health: Arc<Health>,
    /// The L1 block the last round completed at: the L1 state and clock
    /// only change with a new one.
    done_at: Option<BlockRef>,
    /// Proposals refused (L2 block, the slot proven), most recent last.
    refused: VecDeque<(u64, B256)>,
}

/// A proposal worth proving: the L2 block it is about and how to build its
/// bundle.
#[derive(Debug, Clone)]
struct Candidate {
    l2_block: u64,
    /// The output root the L1 says (or a game claims) for it: a hint to
    /// pick the message-passer root by.
    claimed_root: Option<B256>,
    form: Form,
}

#[derive(Debug, Clone)]
enum Form {
    /// The AnchorStateRegistry's anchor, its root slot proven.
    Anchor { root: SlotAt },
    /// `l2Outputs[index]`, both its words proven.
    Output {
        index: u64,
        root: SlotAt,
        meta: SlotAt,
    },
    /// A game the factory created.
    Game {
        id: GameId,
        extra_data: Bytes,
        status: SlotAt,
    },
}

/// One slot of an account, with its proofs.
#[derive(Debug, Clone)]
struct SlotAt {
    proof: AccountProof,
    slot: usize,
}

impl SlotAt {
    fn params(&self) -> AccountProofParams {
        let s = &self.proof.slots[self.slot];
        AccountProofParams {
            storage_key: s.key,
            storage_value: Bytes::from(s.value.to_be_bytes::<32>().to_vec()),
            account_proof: self.proof.account_proof.clone(),
            storage_proof: s.proof.clone(),
        }
    }
}

/// The verified L1 block a round works at.
#[derive(Debug, Clone, Copy)]
struct L1At {
    block: BlockRef,
    state_root: B256,
    now: Now,
}

/// The L1 state a bundle is proven against: the verified header's state
/// root itself, so no beacon branch.
fn state_proof(at: L1At) -> StateProofParams {
    StateProofParams {
        beacon_root: B256::ZERO,
        beacon_oracle_timestamp: 0,
        execution_state_root: at.state_root,
        state_root_proof: Vec::new(),
    }
}

/// An assertion's after state as the Rollup emitted it, in the light
/// client's form.
fn after_state(a: &IBoldRollup::AssertionState) -> AssertionState {
    AssertionState {
        global_state: GlobalState {
            bytes32_vals: a.globalState.bytes32Vals,
            u64_vals: a.globalState.u64Vals,
        },
        machine_status: a.machineStatus,
        end_history_root: a.endHistoryRoot,
    }
}

/// Reads on L1 are at the verified block, by its hash.
fn l1_at(at: L1At) -> BlockId {
    BlockId::hash(at.block.hash)
}

fn word(n: u64) -> B256 {
    B256::from(U256::from(n).to_be_bytes::<32>())
}

fn plus_one(slot: B256) -> B256 {
    B256::from(
        U256::from_be_bytes(slot.0)
            .wrapping_add(U256::from(1u8))
            .to_be_bytes::<32>(),
    )
}

impl RollupProver {
    /// A prover reading L1 through `l1` and the rollup through `l2`, at the
    /// blocks `l1_verified` publishes; and the receiver of the L2 blocks it
    /// proves.
    pub fn new(
        spec: RollupSpec,
        l1: EvmSource,
        l2: EvmSource,
        l1_verified: watch::Receiver<Option<BlockRef>>,
        metrics: Metrics,
        health: Arc<Health>,
    ) -> (Self, watch::Receiver<Option<BlockRef>>) {
        let (proven, rx) = watch::channel(None);
        (
            Self {
                spec,
                l1,
                l2,
                l1_verified,
                proven,
                metrics,
                health,
                done_at: None,
                refused: VecDeque::new(),
            },
            rx,
        )
    }

    /// The name `/readyz` reports the prover by.
    pub fn health_name(name: &str) -> String {
        format!("{name}:rollup")
    }

    fn proven_height(&self) -> Option<u64> {
        self.proven.borrow().map(|b| b.number)
    }

    /// Runs until `shutdown`: a round on each new verified L1 block.
    #[instrument(name = "rollup", skip_all, fields(chain = %self.spec.name))]
    pub async fn run(mut self, shutdown: CancellationToken) {
        let name = Self::health_name(&self.spec.name);
        info!(settles_on = %self.spec.settles_on, settlement = ?self.spec.target.settlement, "rollup prover started");
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            let outcome = self.round().await.map(|_| false);
            if pace_round(
                outcome,
                &mut failures,
                "rollup round",
                &name,
                &self.health,
                self.spec.poll,
                &shutdown,
            )
            .await
            {
                break;
            }
        }
        info!("rollup prover stopped");
    }

    /// One round at the latest verified L1 block: looks through the
    /// settlement's proposals, newest first, and publishes the first that
    /// proves an L2 block above the one already proven. Returns the L2
    /// block proven this round, if any.
    pub async fn round(&mut self) -> Result<Option<BlockRef>, HubError> {
        let Some(block) = *self.l1_verified.borrow() else {
            debug!("no verified block of the settlement chain yet");
            return Ok(None);
        };
        if self.done_at == Some(block) {
            return Ok(None);
        }
        // The verified block's header, by its hash (recomputed by the
        // source): its state root is what every proof must reach, its
        // timestamp the clock finality is judged by (the L1's own, as the
        // rollup's contracts judge it).
        let header = self.l1.header_by_hash(block.hash).await?.ok_or_else(|| {
            HubError::Evm(switchyard_evm::EvmError::NotFound {
                what: format!(
                    "block {} of {} (verified by its light client)",
                    block.hash, self.spec.settles_on
                ),
            })
        })?;
        let at = L1At {
            block,
            state_root: header.state_root,
            now: Now {
                unix: header.timestamp,
                l1_block: Some(header.number),
            },
        };
        self.metrics
            .lc_height
            .with_label_values(&[&self.spec.name, "settlement_verified"])
            .set(block.number as i64);
        let proven = match self.spec.target.settlement.clone() {
            Settlement::OpDisputeGameFactory {
                factory,
                game_types,
                layout,
            } => {
                self.games(at, factory, &game_types, layout.dispute_games_slot())
                    .await?
            }
            Settlement::OpL2OutputOracle { oracle } => self.outputs(at, oracle).await?,
            Settlement::OpAnchorStateRegistry {
                registry,
                game_type,
            } => self.anchor(at, registry, game_type).await?,
            Settlement::ArbitrumRollup { rollup } => self.assertions(at, rollup).await?,
            // A settlement form the light client may gain later.
            other => {
                return Err(HubError::State {
                    what: format!("rollup origin {}", self.spec.name),
                    reason: format!("settlement {other:?} is not followed by the rollup origin"),
                });
            }
        };
        self.done_at = Some(block);
        Ok(proven)
    }

    /// Proves `c`; on success publishes its block. Whether it proved.
    async fn try_candidate(&mut self, at: L1At, c: Candidate) -> Result<bool, HubError> {
        let key = (c.l2_block, self.key_of(&c));
        let (header, hash) = self.l2_header(c.l2_block).await?;
        let mp_root = self
            .message_passer_root(&header, hash, c.claimed_root)
            .await?;
        let bundle = match self.bundle(at, &c, &header, mp_root).await? {
            Some(b) => b,
            None => return Ok(false),
        };
        Ok(self.conclude(at, key, &bundle))
    }

    /// Has the light client judge `bundle` at `at`: publishes the block it
    /// proves, or counts and logs the refusal. Whether it proved.
    fn conclude(&mut self, at: L1At, key: (u64, B256), bundle: &Bundle) -> bool {
        // Microseconds of hashing (BENCHMARKS.md, rollup light client): run
        // in place rather than handed to the blocking pool.
        let verdict = verify_bundle_at_state_root(
            &self.spec.target,
            bundle,
            at.state_root,
            &self.spec.policy,
            at.now,
        );
        match verdict {
            Ok(v) => {
                self.metrics
                    .lc_updates
                    .with_label_values(&[&self.spec.name, "accepted"])
                    .inc();
                self.publish(at, &v);
                true
            }
            Err(e) if e.is_retryable() => {
                debug!(l2_block = key.0, err = %e, "proposal not final yet");
                false
            }
            Err(e) => {
                self.metrics
                    .lc_updates
                    .with_label_values(&[&self.spec.name, "rejected"])
                    .inc();
                self.refuse(key, at, &e);
                false
            }
        }
    }

    fn key_of(&self, c: &Candidate) -> B256 {
        match &c.form {
            Form::Anchor { root } => root.proof.slots[root.slot].key,
            Form::Output { root, .. } => root.proof.slots[root.slot].key,
            Form::Game { id, .. } => B256::left_padding_from(id.proxy.as_slice()),
        }
    }

    fn publish(&mut self, at: L1At, v: &Verdict) {
        let b = v.block_ref();
        if self.proven_height().is_some_and(|p| p >= b.number) {
            return;
        }
        self.metrics
            .lc_height
            .with_label_values(&[&self.spec.name, "proven"])
            .set(b.number as i64);
        info!(
            height = b.number,
            hash = %b.hash,
            trust = ?v.trust,
            l1_block = at.block.number,
            commitment = ?v.commitment,
            "rollup block proven from the settlement chain's verified state"
        );
        self.proven.send_replace(Some(b));
    }

    /// Counts and logs a refusal once per proposal and reason.
    fn refuse(&mut self, key: (u64, B256), at: L1At, e: &RollupError) {
        if self.refused.contains(&key) {
            return;
        }
        if self.refused.len() >= REMEMBERED_REFUSALS {
            self.refused.pop_front();
        }
        self.refused.push_back(key);
        let reason = e.reason();
        self.metrics
            .rejections
            .with_label_values(&[&self.spec.name, reason])
            .inc();
        warn!(
            height = key.0,
            reason,
            hop = %e.hop(),
            l1_block = at.block.number,
            err = %e,
            "rollup proposal refused by the light client; not relayed from"
        );
    }

    /// The L2 header the endpoint serves at `number` and its hash: a claim,
    /// proven or refused against the L1 commitment.
    async fn l2_header(&self, number: u64) -> Result<(Header, B256), HubError> {
        let (header, _) = self.l2.header(number).await?;
        let hash = header.hash();
        Ok((header, hash))
    }

    /// The message passer's storage root at the block, which the output
    /// root commits to and the header alone holds only since Isthmus (as
    /// its withdrawals root): the header's when that gives the root the L1
    /// holds, else the L2 endpoint's `eth_getProof`. Either is checked by
    /// the output root.
    async fn message_passer_root(
        &self,
        header: &Header,
        hash: B256,
        claimed: Option<B256>,
    ) -> Result<B256, HubError> {
        if let (Some(w), Some(c)) = (header.withdrawals_root, claimed)
            && op::output_root(header.state_root, w, hash) == c
        {
            return Ok(w);
        }
        // By number: a lying endpoint's forged header (whose hash the node
        // does not know) then meets the chain's real root, and the output
        // root refuses it, rather than the read failing without a word.
        let _ = hash;
        Ok(self
            .l2
            .proof(MESSAGE_PASSER, &[], BlockId::number(header.number))
            .await?
            .storage_hash)
    }

    /// The bundle of candidate `c` over `header`; `None` when a part the
    /// endpoints should have cannot be read consistently.
    async fn bundle(
        &self,
        at: L1At,
        c: &Candidate,
        header: &Header,
        mp_root: B256,
    ) -> Result<Option<Bundle>, HubError> {
        let mut b = OpStackBundle {
            state_proof_params: state_proof(at),
            dst_l2_state_root_proof_params: AccountProofParams {
                storage_key: B256::ZERO,
                storage_value: Bytes::new(),
                account_proof: Vec::new(),
                storage_proof: Vec::new(),
            },
            dst_l2_account_proof_params: None,
            encoded_block_array: Bytes::from(header.encoded()),
            l2_message_passer_storage_root: mp_root,
            dispute_game: None,
            output_oracle: None,
        };
        match &c.form {
            Form::Anchor { root } => b.dst_l2_state_root_proof_params = root.params(),
            Form::Output { index, root, meta } => {
                b.dst_l2_state_root_proof_params = root.params();
                b.output_oracle = Some(OutputOracleProof {
                    index: *index,
                    proposal_proof_params: meta.params(),
                });
            }
            Form::Game {
                id,
                extra_data,
                status,
            } => {
                let Settlement::OpDisputeGameFactory {
                    factory, layout, ..
                } = &self.spec.target.settlement
                else {
                    return Ok(None);
                };
                // The factory's slot of the game whose root claim is this
                // header's output root: a game claiming anything else is
                // not found there.
                let hash = header.hash();
                let root = op::output_root(header.state_root, mp_root, hash);
                let slot = op::game_slot(op::game_uuid(id.game_type, root, extra_data), *layout);
                let p = self.l1.proof(*factory, &[slot], l1_at(at)).await?;
                b.dst_l2_state_root_proof_params = SlotAt { proof: p, slot: 0 }.params();
                b.dispute_game = Some(DisputeGameProof {
                    game_type: id.game_type,
                    extra_data: extra_data.clone(),
                    game_proof_params: status.params(),
                });
            }
        }
        Ok(Some(Bundle::OpStack(b)))
    }

    /// The oldest timestamp a proposal may have and still pass the policy
    /// at `now`, final or (opted in) old enough: nothing newer can.
    fn newest_acceptable(&self, now: u64, wait: u64) -> u64 {
        let wait = match self.spec.policy.min_age {
            Some(m) => wait.min(m.seconds),
            None => wait,
        };
        now.saturating_sub(wait)
    }

    /// The AnchorStateRegistry's anchor of `game_type`.
    async fn anchor(
        &mut self,
        at: L1At,
        registry: Address,
        game_type: u32,
    ) -> Result<Option<BlockRef>, HubError> {
        let root_slot = op::anchor_root_slot(game_type);
        let p = self
            .l1
            .proof(registry, &[root_slot, plus_one(root_slot)], l1_at(at))
            .await?;
        let Ok(l2_block) = u64::try_from(p.slots[1].value) else {
            return Ok(None);
        };
        if self.proven_height().is_some_and(|h| h >= l2_block) || p.slots[0].value.is_zero() {
            return Ok(None);
        }
        let c = Candidate {
            l2_block,
            claimed_root: Some(B256::from(p.slots[0].value.to_be_bytes::<32>())),
            form: Form::Anchor {
                root: SlotAt { proof: p, slot: 0 },
            },
        };
        Ok(if self.try_candidate(at, c).await? {
            *self.proven.borrow()
        } else {
            None
        })
    }

    /// The L2OutputOracle's outputs: the newest one the policy accepts
    /// (timestamps rise with the index, so it is found by bisection), then
    /// older ones while the newer are refused.
    async fn outputs(&mut self, at: L1At, oracle: Address) -> Result<Option<BlockRef>, HubError> {
        let len_slot = word(op::L2_OUTPUTS_SLOT);
        let n = self.l1.proof(oracle, &[len_slot], l1_at(at)).await?.slots[0].value;
        let Ok(n) = u64::try_from(n) else {
            return Ok(None);
        };
        let limit =
            self.newest_acceptable(at.now.unix, self.spec.policy.output_finalization_period);
        // The last index whose proposal is at most `limit`: the first one
        // newer, minus one.
        let (mut lo, mut hi) = (0u64, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (_, meta_slot) = op::l2_output_slots(mid);
            let v = self.l1.proof(oracle, &[meta_slot], l1_at(at)).await?.slots[0].value;
            match OutputProposalMeta::unpack(v) {
                Some(m) if m.timestamp <= limit => lo = mid + 1,
                _ => hi = mid,
            }
        }
        let mut index = lo;
        let mut looked = 0;
        while index > 0 && looked < self.spec.max_candidates {
            index -= 1;
            looked += 1;
            let (root_slot, meta_slot) = op::l2_output_slots(index);
            let p = self
                .l1
                .proof(oracle, &[root_slot, meta_slot], l1_at(at))
                .await?;
            let Some(meta) = OutputProposalMeta::unpack(p.slots[1].value) else {
                continue;
            };
            if self
                .proven_height()
                .is_some_and(|h| h >= meta.l2_block_number)
            {
                // Outputs are for ever higher blocks: the older ones are
                // already covered.
                break;
            }
            let c = Candidate {
                l2_block: meta.l2_block_number,
                claimed_root: Some(B256::from(p.slots[0].value.to_be_bytes::<32>())),
                form: Form::Output {
                    index,
                    root: SlotAt {
                        proof: p.clone(),
                        slot: 0,
                    },
                    meta: SlotAt { proof: p, slot: 1 },
                },
            };
            if self.try_candidate(at, c).await? {
                return Ok(*self.proven.borrow());
            }
        }
        Ok(None)
    }

    /// The factory's games, newest first among those old enough to pass
    /// the policy (creation times rise with the list index), each of an
    /// accepted type, about a block above the proven one, and final (or old
    /// enough) by its status word.
    async fn games(
        &mut self,
        at: L1At,
        factory: Address,
        game_types: &[u32],
        games_slot: u64,
    ) -> Result<Option<BlockRef>, HubError> {
        let list_slot = games_slot + 1;
        let n = self
            .l1
            .proof(factory, &[word(list_slot)], l1_at(at))
            .await?
            .slots[0]
            .value;
        let Ok(n) = u64::try_from(n) else {
            return Ok(None);
        };
        let element = |i: u64| array_slot(list_slot, i, 1, 0);
        let limit = self.newest_acceptable(at.now.unix, self.spec.policy.game_finality_delay);
        let (mut lo, mut hi) = (0u64, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let v = self
                .l1
                .proof(factory, &[element(mid)], l1_at(at))
                .await?
                .slots[0]
                .value;
            let id = GameId::unpack(B256::from(v.to_be_bytes::<32>()));
            if id.created_at <= limit {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut next = lo;
        let mut looked = 0u32;
        while next > 0 && looked < self.spec.max_candidates {
            // A chunk of the list, newest first.
            let first = next.saturating_sub(LIST_CHUNK);
            let slots: Vec<B256> = (first..next).map(element).collect();
            let chunk = self.l1.proof(factory, &slots, l1_at(at)).await?;
            for s in chunk.slots.iter().rev() {
                if looked >= self.spec.max_candidates {
                    break;
                }
                looked += 1;
                let id = GameId::unpack(B256::from(s.value.to_be_bytes::<32>()));
                if !game_types.contains(&id.game_type) {
                    continue;
                }
                if let Some(b) = self.game(at, id).await? {
                    return Ok(Some(b));
                }
            }
            next = first;
        }
        Ok(None)
    }

    /// One game: its extra data and root claim (hints, from the game's
    /// code), its status word (proven), then the bundle.
    async fn game(&mut self, at: L1At, id: GameId) -> Result<Option<BlockRef>, HubError> {
        let call = |data: Vec<u8>| self.l1.call(id.proxy, data.into(), l1_at(at));
        let extra = call(IDisputeGame::extraDataCall {}.abi_encode()).await?;
        let Ok(extra_data) = IDisputeGame::extraDataCall::abi_decode_returns(&extra) else {
            debug!(game = %id.proxy, "extraData() did not decode: not a game of the accepted form");
            return Ok(None);
        };
        let Some(l2_block) = op::game_l2_block_number(&extra_data) else {
            return Ok(None);
        };
        if self.proven_height().is_some_and(|h| h >= l2_block) {
            return Ok(None);
        }
        let status = self
            .l1
            .proof(id.proxy, &[op::GAME_STATUS_SLOT], l1_at(at))
            .await?;
        let state = FaultGameState::unpack(status.slots[0].value);
        // The status as the endpoint shows it: a game that is not final
        // (or not old enough) is not worth proving yet; the light client
        // judges the proven word again.
        if let Err(e) = self.spec.policy.judge_game(id.proxy, &state, at.now) {
            debug!(game = %id.proxy, l2_block, err = %e, "dispute game not usable yet");
            return Ok(None);
        }
        let claim = call(IDisputeGame::rootClaimCall {}.abi_encode()).await?;
        let claimed_root = IDisputeGame::rootClaimCall::abi_decode_returns(&claim).ok();
        let c = Candidate {
            l2_block,
            claimed_root,
            form: Form::Game {
                id,
                extra_data,
                status: SlotAt {
                    proof: status,
                    slot: 0,
                },
            },
        };
        Ok(if self.try_candidate(at, c).await? {
            *self.proven.borrow()
        } else {
            None
        })
    }
    /// The BoLD Rollup's assertions: with the minimum-age policy, the
    /// newest pending ones old enough (from the `AssertionCreated` logs);
    /// then the latest confirmed one (`latestConfirmed()`). Each hash is a
    /// hint: its node is proven from storage and its parts hashed to it.
    async fn assertions(
        &mut self,
        at: L1At,
        rollup: Address,
    ) -> Result<Option<BlockRef>, HubError> {
        let mut hashes = Vec::new();
        if let Some(m) = self.spec.policy.min_age
            && m.l1_blocks != u64::MAX
        {
            hashes = self.recent_assertions(at, rollup, m.l1_blocks).await?;
        }
        let latest = self
            .l1
            .call(
                rollup,
                IBoldRollup::latestConfirmedCall {}.abi_encode().into(),
                l1_at(at),
            )
            .await?;
        match IBoldRollup::latestConfirmedCall::abi_decode_returns(&latest) {
            Ok(h) if !h.is_zero() && !hashes.contains(&h) => hashes.push(h),
            Ok(_) => {}
            Err(e) => debug!(err = %e, "latestConfirmed() did not decode: not a BoLD Rollup"),
        }
        for h in hashes.into_iter().take(self.spec.max_candidates as usize) {
            if self.assertion(at, rollup, h).await? {
                return Ok(*self.proven.borrow());
            }
        }
        Ok(None)
    }

    /// Hashes of the assertions created between `lookback` and `min_age`
    /// L1 blocks before the verified block, newest first: the candidates
    /// the minimum-age policy may accept.
    async fn recent_assertions(
        &self,
        at: L1At,
        rollup: Address,
        min_age: u64,
    ) -> Result<Vec<B256>, HubError> {
        let Some(mut to) = at.block.number.checked_sub(min_age) else {
            return Ok(Vec::new());
        };
        let floor = to.saturating_sub(ASSERTION_LOOKBACK);
        let mut found = Vec::new();
        loop {
            let from = to
                .saturating_sub(switchyard_evm::source::MAX_LOG_RANGE - 1)
                .max(floor);
            let logs = self
                .l1
                .logs(
                    rollup,
                    IBoldRollup::AssertionCreated::SIGNATURE_HASH,
                    None,
                    from,
                    to,
                )
                .await?;
            found.extend(logs.iter().rev().filter_map(|l| l.topics().get(1).copied()));
            if !found.is_empty() || from == floor || from == 0 {
                return Ok(found);
            }
            to = from - 1;
        }
    }

    /// One assertion: its node proven from storage (its status, its
    /// creation block), its parts from its creation log (a hint the hash
    /// binds), the L2 header by the block hash it ends at, then the bundle.
    /// Whether it proved a block above the one already proven.
    async fn assertion(&mut self, at: L1At, rollup: Address, hash: B256) -> Result<bool, HubError> {
        let p = self
            .l1
            .proof(rollup, &[arbitrum::assertion_slot(hash)], l1_at(at))
            .await?;
        let node = AssertionNode::unpack(p.slots[0].value);
        if node.status == AssertionStatus::NoAssertion as u8 {
            debug!(assertion = %hash, "no such assertion in the Rollup's storage");
            return Ok(false);
        }
        // The status as proven; the light client judges the word again.
        if let Err(e) = self.spec.policy.judge_assertion(hash, &node, at.now) {
            debug!(assertion = %hash, err = %e, "assertion not usable yet");
            return Ok(false);
        }
        // Its creation log, in the block its node names (a bounded read,
        // however old the assertion).
        let created = node.created_at_block;
        let logs = self
            .l1
            .logs(
                rollup,
                IBoldRollup::AssertionCreated::SIGNATURE_HASH,
                Some(hash),
                created,
                created,
            )
            .await?;
        let Some((parent, event)) = logs.iter().find_map(|l| {
            let parent = *l.topics().get(2)?;
            let ev = IBoldRollup::AssertionCreated::decode_log_data(l.data()).ok()?;
            Some((parent, ev))
        }) else {
            debug!(assertion = %hash, block = created, "no AssertionCreated log of the assertion where its node says");
            return Ok(false);
        };
        let after = after_state(&event.assertion.afterState);
        let Some(header) = self.l2.header_by_hash(after.block_hash()).await? else {
            debug!(assertion = %hash, block = %after.block_hash(), "the L2 endpoint does not have the asserted block yet");
            return Ok(false);
        };
        if self.proven_height().is_some_and(|h| h >= header.number) {
            return Ok(false);
        }
        let bundle = Bundle::Arbitrum(ArbitrumBundle {
            state_proof_params: state_proof(at),
            dst_l2_state_root_proof_params: SlotAt { proof: p, slot: 0 }.params(),
            dst_l2_account_proof_params: None,
            encoded_block_array: Bytes::from(header.encoded()),
            after_state: after,
            prev_assertion_hash: parent,
            sequencer_batch_acc: event.afterInboxBatchAcc,
        });
        Ok(self.conclude(at, (header.number, hash), &bundle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_passer_is_the_predeploy() {
        assert_eq!(
            MESSAGE_PASSER,
            "0x4200000000000000000000000000000000000016"
                .parse::<Address>()
                .expect("address")
        );
    }

    #[test]
    fn slots_after_a_slot_wrap() {
        assert_eq!(plus_one(word(1)), word(2));
        assert_eq!(plus_one(B256::repeat_byte(0xff)), B256::ZERO);
    }
}
