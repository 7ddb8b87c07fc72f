//! The chain of proofs from a trusted L1 root to an L2 block, and the
//! verdict.
//!
//! Hops, in the order they are walked (each refusal names its
//! [`Hop`](crate::Hop)):
//!
//! 1. beacon block root → L1 execution state root (when a beacon root is
//!    given);
//! 2. L1 state root → the settlement contract's account;
//! 3. its storage root → the slot the contract's layout keeps the
//!    commitment in;
//! 4. the commitment against the L2 block and the bundle's parts (output
//!    root, dispute game id, assertion hash);
//! 5. the L2 header, by the proven hash;
//! 6. optionally, an L2 storage slot under the header's state root;
//! 7. last, the proposal's finality under the policy: a retryable "not
//!    final yet" is only ever said of a bundle whose every proof holds, so
//!    that waiting for it is never waiting for a forgery.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use serde::{Deserialize, Serialize};
use switchyard_lc_evm::{BlockRef, Header};

use crate::arbitrum::{self, AssertionNode, MACHINE_FINISHED};
use crate::beacon::verify_state_root_branch;
use crate::bundle::{
    AccountProofParams, ArbitrumBundle, Bundle, OpStackBundle, RollupKind, StateProofParams,
};
use crate::error::{Layer, RollupError};
use crate::mpt::{Account, verify_account, verify_storage};
use crate::op::{self, FactoryLayout, FaultGameState, GameId, OutputProposalMeta};
use crate::policy::{FinalityPolicy, Now, TrustMode};

/// At most this many bytes of L2 header RLP. Real headers are 500 to 700
/// bytes; chains with long extra data stay far below this.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// Where, on L1, the rollup's commitments are kept: the contract and its
/// form. The address comes from the operator's configuration, never from a
/// bundle: a bundle proving another contract's storage proves nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Settlement {
    /// An Arbitrum BoLD Rollup contract (`_assertions`).
    ArbitrumRollup {
        /// The Rollup proxy.
        rollup: Address,
    },
    /// An OP Stack AnchorStateRegistry (`anchors[game_type]`): the form of
    /// the RIP-7755 OP vector.
    OpAnchorStateRegistry {
        /// The registry proxy.
        registry: Address,
        /// The game type whose anchor is proven.
        game_type: u32,
    },
    /// An OP Stack DisputeGameFactory and the FaultDisputeGame it created.
    OpDisputeGameFactory {
        /// The factory proxy.
        factory: Address,
        /// The game types accepted (e.g. 0 CANNON, 1 PERMISSIONED_CANNON).
        game_types: Vec<u32>,
        /// The factory's storage layout.
        #[serde(default)]
        layout: FactoryLayout,
    },
    /// A legacy OP Stack L2OutputOracle (`l2Outputs`).
    OpL2OutputOracle {
        /// The oracle proxy.
        oracle: Address,
    },
}

impl Settlement {
    /// The rollup family this settlement form belongs to.
    pub fn kind(&self) -> RollupKind {
        match self {
            Self::ArbitrumRollup { .. } => RollupKind::Arbitrum,
            _ => RollupKind::OpStack,
        }
    }

    /// The L1 contract whose storage is proven.
    pub fn contract(&self) -> Address {
        match self {
            Self::ArbitrumRollup { rollup } => *rollup,
            Self::OpAnchorStateRegistry { registry, .. } => *registry,
            Self::OpDisputeGameFactory { factory, .. } => *factory,
            Self::OpL2OutputOracle { oracle } => *oracle,
        }
    }
}

/// What a bundle is checked against.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The L1 settlement contract.
    pub settlement: Settlement,
    /// The L2 contract a bundle's `dstL2AccountProofParams` must be about;
    /// `None` refuses bundles that carry one (see
    /// [`RollupError::NoL2Account`]).
    #[serde(default)]
    pub l2_account: Option<Address>,
}

/// What the L1 state root was anchored to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum L1Anchor {
    /// Proved under this beacon block root (which the caller trusts, e.g.
    /// from the beacon light client).
    BeaconRoot {
        /// The beacon block root.
        root: B256,
    },
    /// Equal to a state root the caller trusts.
    StateRoot,
    /// Nothing: the bundle's own state root was taken as given, so the
    /// verdict shows only that the bundle is consistent with it.
    Unanchored,
}

/// The commitment an L2 block was proven by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "form", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Commitment {
    /// An Arbitrum assertion.
    Assertion {
        /// The Rollup contract.
        rollup: Address,
        /// The assertion's hash.
        assertion_hash: B256,
        /// Its send root (also the L2 header's extra data).
        send_root: B256,
        /// Its node's first word.
        node: AssertionNode,
    },
    /// An AnchorStateRegistry anchor.
    AnchorState {
        /// The registry.
        registry: Address,
        /// The game type.
        game_type: u32,
        /// The output root.
        output_root: B256,
    },
    /// A dispute game's root claim.
    DisputeGame {
        /// The factory.
        factory: Address,
        /// The factory's record of the game.
        game: GameId,
        /// The game's slot 0.
        state: FaultGameState,
        /// The output root (the root claim).
        output_root: B256,
    },
    /// An L2OutputOracle proposal.
    OutputProposal {
        /// The oracle.
        oracle: Address,
        /// Its index in `l2Outputs`.
        index: u64,
        /// Its timestamp and L2 block number.
        meta: OutputProposalMeta,
        /// The output root.
        output_root: B256,
    },
}

/// An L2 storage slot proven under the L2 block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct L2Slot {
    /// The L2 contract.
    pub address: Address,
    /// The slot.
    pub slot: B256,
    /// Its value.
    pub value: U256,
}

/// A proven L2 block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The rollup family.
    pub kind: RollupKind,
    /// The L2 block's number.
    pub l2_block_number: u64,
    /// The L2 block's hash.
    pub l2_block_hash: B256,
    /// What the block's finality rests on.
    pub trust: TrustMode,
    /// The L1 state root the proofs were checked under.
    pub l1_state_root: B256,
    /// What that state root was anchored to.
    pub l1_anchor: L1Anchor,
    /// The commitment that proved the block.
    pub commitment: Commitment,
    /// The L2 slot the bundle also proved, if any.
    pub l2_storage: Option<L2Slot>,
    /// The L2 header (its receipts root proves the block's messages with
    /// `switchyard_lc_evm`).
    #[serde(skip)]
    pub header: Header,
}

impl Verdict {
    /// The proven block as the EVM light client's anchor.
    pub fn block_ref(&self) -> BlockRef {
        BlockRef {
            number: self.l2_block_number,
            hash: self.l2_block_hash,
        }
    }
}

/// Verifies a bundle: proves its L2 block from L1 storage under its L1
/// state root, anchored to `beacon_root` when one is given (the bundle's
/// SSZ branch must then lead there), and judges the proposal with
/// `policy` at `now` (Unix seconds, or a [`Now`] with the L1 block
/// number).
///
/// Without a beacon root the bundle's state root is taken as given and the
/// verdict says so ([`L1Anchor::Unanchored`]).
pub fn verify_bundle(
    target: &Target,
    bundle: &Bundle,
    beacon_root: Option<B256>,
    policy: &FinalityPolicy,
    now: impl Into<Now>,
) -> Result<Verdict, RollupError> {
    check_kind(target, bundle)?;
    let sp = bundle.state_proof();
    let anchor = match beacon_root {
        Some(root) => {
            verify_beacon(root, sp)?;
            L1Anchor::BeaconRoot { root }
        }
        None => L1Anchor::Unanchored,
    };
    verify_from(target, bundle, anchor, policy, now.into())
}

/// Verifies a bundle against an L1 state root the caller already trusts
/// (from a verified execution header): the bundle's must equal it, and its
/// beacon branch is not needed.
pub fn verify_bundle_at_state_root(
    target: &Target,
    bundle: &Bundle,
    l1_state_root: B256,
    policy: &FinalityPolicy,
    now: impl Into<Now>,
) -> Result<Verdict, RollupError> {
    check_kind(target, bundle)?;
    let got = bundle.state_proof().execution_state_root;
    if got != l1_state_root {
        return Err(RollupError::StateRootMismatch {
            expected: l1_state_root,
            got,
        });
    }
    verify_from(target, bundle, L1Anchor::StateRoot, policy, now.into())
}

fn check_kind(target: &Target, bundle: &Bundle) -> Result<(), RollupError> {
    let expected = target.settlement.kind();
    if bundle.kind() != expected {
        return Err(RollupError::KindMismatch {
            expected,
            got: bundle.kind(),
        });
    }
    Ok(())
}

fn verify_beacon(root: B256, sp: &StateProofParams) -> Result<(), RollupError> {
    // The caller's root is the trusted one; a bundle built for another
    // block is named as such rather than as a broken branch.
    if sp.beacon_root != root {
        return Err(RollupError::BeaconRootMismatch {
            expected: root,
            got: sp.beacon_root,
        });
    }
    verify_state_root_branch(root, sp.execution_state_root, &sp.state_root_proof)
}

/// What the settlement-specific hops hand to the common tail; the
/// finality verdict is held until every proof has been checked.
struct Proven {
    header: Header,
    hash: B256,
    trust: Result<TrustMode, RollupError>,
    commitment: Commitment,
}

fn verify_from(
    target: &Target,
    bundle: &Bundle,
    l1_anchor: L1Anchor,
    policy: &FinalityPolicy,
    now: Now,
) -> Result<Verdict, RollupError> {
    let l1_state_root = bundle.state_proof().execution_state_root;
    let proven = match (&target.settlement, bundle) {
        (Settlement::ArbitrumRollup { rollup }, Bundle::Arbitrum(b)) => {
            arbitrum_block(*rollup, b, l1_state_root, policy, now)?
        }
        (
            Settlement::OpAnchorStateRegistry {
                registry,
                game_type,
            },
            Bundle::OpStack(b),
        ) => anchor_block(*registry, *game_type, b, l1_state_root, policy)?,
        (
            Settlement::OpDisputeGameFactory {
                factory,
                game_types,
                layout,
            },
            Bundle::OpStack(b),
        ) => game_block(*factory, game_types, *layout, b, l1_state_root, policy, now)?,
        (Settlement::OpL2OutputOracle { oracle }, Bundle::OpStack(b)) => {
            oracle_block(*oracle, b, l1_state_root, policy, now)?
        }
        // check_kind ran first; kept total for a settlement form added
        // later.
        _ => {
            return Err(RollupError::KindMismatch {
                expected: target.settlement.kind(),
                got: bundle.kind(),
            });
        }
    };
    let l2_storage = match (bundle.l2_proof(), target.l2_account) {
        (None, _) => None,
        (Some(_), None) => return Err(RollupError::NoL2Account),
        (Some(p), Some(address)) => Some(l2_slot(address, proven.header.state_root, p)?),
    };
    let trust = proven.trust?;
    Ok(Verdict {
        kind: bundle.kind(),
        l2_block_number: proven.header.number,
        l2_block_hash: proven.hash,
        trust,
        l1_state_root,
        l1_anchor,
        commitment: proven.commitment,
        l2_storage,
        header: proven.header,
    })
}

/// An account and one of its slots, proven; returns the slot's value.
fn account_slot(
    layer: Layer,
    state_root: B256,
    address: Address,
    p: &AccountProofParams,
    field: &'static str,
) -> Result<(Account, U256), RollupError> {
    let value = p.value(field)?;
    let account = verify_account(layer, state_root, address, &p.account_proof)?;
    verify_storage(
        layer,
        address,
        account.storage_root,
        p.storage_key,
        value,
        &p.storage_proof,
    )?;
    Ok((account, value))
}

fn expect_slot(
    address: Address,
    what: &'static str,
    expected: B256,
    got: B256,
) -> Result<(), RollupError> {
    if expected == got {
        Ok(())
    } else {
        Err(RollupError::StorageSlot {
            layer: Layer::L1,
            address,
            what,
            expected,
            got,
        })
    }
}

/// Decodes the L2 header, bounded; its hash is keccak of the given bytes
/// (the strict decoder accepts only the canonical encoding, so these are
/// the bytes the chain hashed).
fn decode_header(raw: &Bytes) -> Result<(Header, B256), RollupError> {
    if raw.len() > MAX_HEADER_BYTES {
        return Err(RollupError::Malformed {
            field: "encodedBlockArray",
            expected: format!("at most {MAX_HEADER_BYTES} bytes"),
            got: format!("{} bytes", raw.len()),
        });
    }
    let header = Header::decode(raw).map_err(RollupError::L2HeaderDecode)?;
    Ok((header, keccak256(raw)))
}

fn arbitrum_block(
    rollup: Address,
    b: &ArbitrumBundle,
    l1_state_root: B256,
    policy: &FinalityPolicy,
    now: Now,
) -> Result<Proven, RollupError> {
    let p = &b.dst_l2_state_root_proof_params;
    let (_, word) = account_slot(
        Layer::L1,
        l1_state_root,
        rollup,
        p,
        "dstL2StateRootProofParams.storageValue",
    )?;
    let assertion_hash =
        arbitrum::assertion_hash(b.prev_assertion_hash, &b.after_state, b.sequencer_batch_acc);
    let expected = arbitrum::assertion_slot(assertion_hash);
    if p.storage_key != expected {
        return Err(RollupError::AssertionSlot {
            assertion_hash,
            expected,
            got: p.storage_key,
        });
    }
    if b.after_state.machine_status != MACHINE_FINISHED {
        return Err(RollupError::MachineStatus {
            got: b.after_state.machine_status,
        });
    }
    let node = AssertionNode::unpack(word);
    let trust = policy.judge_assertion(assertion_hash, &node, now);
    let (header, hash) = decode_header_by_hash(&b.encoded_block_array, b.after_state.block_hash())?;
    // Nitro keeps the send root in the header's extra data; a header that
    // says otherwise is not the block the assertion describes.
    let send_root = b.after_state.send_root();
    if header.extra_data.as_ref() != send_root.as_slice() {
        return Err(RollupError::SendRoot {
            height: header.number,
            expected: send_root,
            got: header.extra_data,
        });
    }
    Ok(Proven {
        header,
        hash,
        trust,
        commitment: Commitment::Assertion {
            rollup,
            assertion_hash,
            send_root,
            node,
        },
    })
}

/// The header whose hash the commitment proves: hash first (a forged
/// header is named as such before its fields are read), then decode.
fn decode_header_by_hash(raw: &Bytes, proven: B256) -> Result<(Header, B256), RollupError> {
    if raw.len() <= MAX_HEADER_BYTES {
        let got = keccak256(raw);
        if got != proven {
            return Err(RollupError::L2HeaderHash {
                expected: proven,
                got,
            });
        }
    }
    decode_header(raw)
}

/// The header and the output root it gives, checked against the proven
/// root.
fn output_of(b: &OpStackBundle, proven_root: B256) -> Result<(Header, B256), RollupError> {
    let (header, hash) = decode_header(&b.encoded_block_array)?;
    let got = op::output_root(header.state_root, b.l2_message_passer_storage_root, hash);
    if got != proven_root {
        return Err(RollupError::OutputRoot {
            expected: proven_root,
            got,
            height: header.number,
            message_passer_storage_root: b.l2_message_passer_storage_root,
        });
    }
    Ok((header, hash))
}

fn anchor_block(
    registry: Address,
    game_type: u32,
    b: &OpStackBundle,
    l1_state_root: B256,
    policy: &FinalityPolicy,
) -> Result<Proven, RollupError> {
    let p = &b.dst_l2_state_root_proof_params;
    let (_, root) = account_slot(
        Layer::L1,
        l1_state_root,
        registry,
        p,
        "dstL2StateRootProofParams.storageValue",
    )?;
    expect_slot(
        registry,
        "anchors[game type].root",
        op::anchor_root_slot(game_type),
        p.storage_key,
    )?;
    let output_root = B256::from(root.to_be_bytes::<32>());
    let (header, hash) = output_of(b, output_root)?;
    let trust = policy.judge_anchor();
    Ok(Proven {
        header,
        hash,
        trust,
        commitment: Commitment::AnchorState {
            registry,
            game_type,
            output_root,
        },
    })
}

fn game_block(
    factory: Address,
    game_types: &[u32],
    layout: FactoryLayout,
    b: &OpStackBundle,
    l1_state_root: B256,
    policy: &FinalityPolicy,
    now: Now,
) -> Result<Proven, RollupError> {
    let g = b.dispute_game.as_ref().ok_or(RollupError::MissingPart {
        what: "disputeGame",
        needed_by: "a DisputeGameFactory target",
    })?;
    let p = &b.dst_l2_state_root_proof_params;
    let (_, id_word) = account_slot(
        Layer::L1,
        l1_state_root,
        factory,
        p,
        "dstL2StateRootProofParams.storageValue",
    )?;
    // The root claim is the output root of the header given: the factory
    // slot of (type, that root, extra data) is what the bundle must prove.
    let (header, hash) = decode_header(&b.encoded_block_array)?;
    let output_root = op::output_root(header.state_root, b.l2_message_passer_storage_root, hash);
    let expected = op::game_slot(
        op::game_uuid(g.game_type, output_root, &g.extra_data),
        layout,
    );
    if p.storage_key != expected {
        return Err(RollupError::GameSlot {
            game_type: g.game_type,
            root_claim: output_root,
            expected,
            got: p.storage_key,
        });
    }
    if id_word.is_zero() {
        return Err(RollupError::GameAbsent {
            game_type: g.game_type,
            root_claim: output_root,
        });
    }
    let game = GameId::unpack(B256::from(id_word.to_be_bytes::<32>()));
    // The UUID already binds the type; the packed id must agree, and the
    // target must accept it.
    if game.game_type != g.game_type || !game_types.contains(&game.game_type) {
        return Err(RollupError::GameType {
            expected: game_types.to_vec(),
            got: game.game_type,
        });
    }
    let claimed =
        op::game_l2_block_number(&g.extra_data).ok_or_else(|| RollupError::Malformed {
            field: "disputeGame.extraData",
            expected: "one word holding an L2 block number below 2^64".into(),
            got: format!("{} bytes: {}", g.extra_data.len(), g.extra_data),
        })?;
    if claimed != header.number {
        return Err(RollupError::L2BlockNumber {
            what: "dispute game extra data",
            expected: header.number,
            got: claimed,
        });
    }
    let gp = &g.game_proof_params;
    expect_slot(
        game.proxy,
        "the game's status word (slot 0)",
        op::GAME_STATUS_SLOT,
        gp.storage_key,
    )?;
    let (_, status_word) = account_slot(
        Layer::L1,
        l1_state_root,
        game.proxy,
        gp,
        "disputeGame.gameProofParams.storageValue",
    )?;
    let state = FaultGameState::unpack(status_word);
    let trust = policy.judge_game(game.proxy, &state, now);
    Ok(Proven {
        header,
        hash,
        trust,
        commitment: Commitment::DisputeGame {
            factory,
            game,
            state,
            output_root,
        },
    })
}

fn oracle_block(
    oracle: Address,
    b: &OpStackBundle,
    l1_state_root: B256,
    policy: &FinalityPolicy,
    now: Now,
) -> Result<Proven, RollupError> {
    let o = b.output_oracle.as_ref().ok_or(RollupError::MissingPart {
        what: "outputOracle",
        needed_by: "an L2OutputOracle target",
    })?;
    let (root_slot, meta_slot) = op::l2_output_slots(o.index);
    let p = &b.dst_l2_state_root_proof_params;
    let (_, root) = account_slot(
        Layer::L1,
        l1_state_root,
        oracle,
        p,
        "dstL2StateRootProofParams.storageValue",
    )?;
    expect_slot(
        oracle,
        "l2Outputs[index].outputRoot",
        root_slot,
        p.storage_key,
    )?;
    let mp = &o.proposal_proof_params;
    let (_, meta_word) = account_slot(
        Layer::L1,
        l1_state_root,
        oracle,
        mp,
        "outputOracle.proposalProofParams.storageValue",
    )?;
    expect_slot(
        oracle,
        "l2Outputs[index].timestamp and l2BlockNumber",
        meta_slot,
        mp.storage_key,
    )?;
    let output_root = B256::from(root.to_be_bytes::<32>());
    let (header, hash) = output_of(b, output_root)?;
    let meta = OutputProposalMeta::unpack(meta_word).ok_or_else(|| RollupError::Malformed {
        field: "outputOracle.proposalProofParams.storageValue",
        expected: "a uint128 timestamp and L2 block number below 2^64".into(),
        got: format!("{meta_word:#x}"),
    })?;
    if meta.l2_block_number != header.number {
        return Err(RollupError::L2BlockNumber {
            what: "output proposal",
            expected: header.number,
            got: meta.l2_block_number,
        });
    }
    let trust = policy.judge_output(&meta, now);
    Ok(Proven {
        header,
        hash,
        trust,
        commitment: Commitment::OutputProposal {
            oracle,
            index: o.index,
            meta,
            output_root,
        },
    })
}

fn l2_slot(
    address: Address,
    l2_state_root: B256,
    p: &AccountProofParams,
) -> Result<L2Slot, RollupError> {
    let (_, value) = account_slot(
        Layer::L2,
        l2_state_root,
        address,
        p,
        "dstL2AccountProofParams.storageValue",
    )?;
    Ok(L2Slot {
        address,
        slot: p.storage_key,
        value,
    })
}
