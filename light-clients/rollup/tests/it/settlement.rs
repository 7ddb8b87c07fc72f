//! The settlement forms the vectors do not cover, on a synthetic L1 state:
//! a DisputeGameFactory game and its FaultDisputeGame, a legacy
//! L2OutputOracle output, and Arbitrum assertions in every status. Slots
//! are computed from the contracts' layouts, proofs retained while building
//! the tries.

use alloy_primitives::{Address, B256, Bytes, U256, address, keccak256};
use switchyard_lc_rollup::arbitrum::{self, AssertionNode, AssertionState, GlobalState};
use switchyard_lc_rollup::op::{
    self, FactoryLayout, FaultGameState, GameId, GameStatus, OutputProposalMeta,
};
use switchyard_lc_rollup::{
    ArbitrumBundle, Bundle, Commitment, DEFAULT_GAME_FINALITY_DELAY,
    DEFAULT_OUTPUT_FINALIZATION_PERIOD, DisputeGameProof, FinalityPolicy, Header, Hop, Layer,
    MinAge, Now, OpStackBundle, OutputOracleProof, RollupError, Settlement, Target, TrustMode,
    Verdict, verify_bundle,
};

use crate::world::{World, l2_header, word};

pub(crate) const FACTORY: Address = address!("00000000000000000000000000000000000fac70");
pub(crate) const GAME: Address = address!("0000000000000000000000000000000000009a3e");
pub(crate) const ORACLE: Address = address!("000000000000000000000000000000000000012e");
pub(crate) const ROLLUP: Address = address!("00000000000000000000000000000000000b01d0");
pub(crate) const L2_INBOX: Address = address!("0000000000000000000000000000000000001b0c");

const L2_BLOCK: u64 = 1_234_567;

/// An L2 block: its state (one inbox slot), header and output root.
pub(crate) struct L2Block {
    pub(crate) header: Header,
    pub(crate) raw: Bytes,
    pub(crate) message_passer_storage_root: B256,
    pub(crate) output_root: B256,
    pub(crate) world: World,
}

pub(crate) fn l2_block(number: u64, extra_data: Bytes) -> L2Block {
    let mut world = World::new();
    world.set(L2_INBOX, word(3), U256::from(0xfeed));
    let header = l2_header(number, world.state_root(), extra_data);
    let raw = Bytes::from(header.encoded());
    let message_passer_storage_root = B256::repeat_byte(0x55);
    let output_root = op::output_root(
        header.state_root,
        message_passer_storage_root,
        keccak256(&raw),
    );
    L2Block {
        header,
        raw,
        message_passer_storage_root,
        output_root,
        world,
    }
}

fn op_bundle(l1: &World, l1_proof_slot: (Address, B256), block: &L2Block) -> OpStackBundle {
    OpStackBundle {
        state_proof_params: l1.state_proof(),
        dst_l2_state_root_proof_params: l1.proof(l1_proof_slot.0, l1_proof_slot.1),
        dst_l2_account_proof_params: Some(block.world.proof(L2_INBOX, word(3))),
        encoded_block_array: block.raw.clone(),
        l2_message_passer_storage_root: block.message_passer_storage_root,
        dispute_game: None,
        output_oracle: None,
    }
}

fn verify(
    target: &Target,
    b: OpStackBundle,
    policy: &FinalityPolicy,
    now: u64,
) -> Result<Verdict, RollupError> {
    verify_bundle(target, &Bundle::OpStack(b), None, policy, now)
}

fn opt_in() -> FinalityPolicy {
    FinalityPolicy {
        min_age: Some(MinAge {
            seconds: 3_600,
            l1_blocks: 300,
        }),
        ..FinalityPolicy::default()
    }
}

// ----- DisputeGameFactory -----

fn factory_target(game_types: Vec<u32>, layout: FactoryLayout) -> Target {
    Target {
        settlement: Settlement::OpDisputeGameFactory {
            factory: FACTORY,
            game_types,
            layout,
        },
        l2_account: Some(L2_INBOX),
    }
}

/// L1 with one game (type, root claim, extra data) at `layout`'s slot,
/// its proxy's slot 0 holding `state`.
pub(crate) fn game_world(
    game_type: u32,
    root_claim: B256,
    extra_data: &[u8],
    state: FaultGameState,
    layout: FactoryLayout,
) -> (World, B256) {
    let mut l1 = World::new();
    let slot = op::game_slot(op::game_uuid(game_type, root_claim, extra_data), layout);
    let id = GameId {
        game_type,
        created_at: state.created_at,
        proxy: GAME,
    };
    l1.set(FACTORY, slot, U256::from_be_bytes(id.pack().0));
    l1.set(GAME, op::GAME_STATUS_SLOT, state.pack());
    (l1, slot)
}

pub(crate) fn game_bundle(
    block: &L2Block,
    game_type: u32,
    extra_data: Bytes,
    state: FaultGameState,
    layout: FactoryLayout,
) -> OpStackBundle {
    let (l1, slot) = game_world(game_type, block.output_root, &extra_data, state, layout);
    OpStackBundle {
        dispute_game: Some(DisputeGameProof {
            game_type,
            extra_data,
            game_proof_params: l1.proof(GAME, op::GAME_STATUS_SLOT),
        }),
        ..op_bundle(&l1, (FACTORY, slot), block)
    }
}

fn resolved(status: GameStatus) -> FaultGameState {
    FaultGameState {
        created_at: 1_000,
        resolved_at: if status == GameStatus::InProgress {
            0
        } else {
            5_000
        },
        status: status as u8,
        l2_block_number_challenged: false,
    }
}

fn extra(n: u64) -> Bytes {
    Bytes::copy_from_slice(word(n).as_slice())
}

#[test]
fn dispute_game_resolved_for_the_defender_is_final_after_the_delay() {
    let block = l2_block(L2_BLOCK, Bytes::new());
    let state = resolved(GameStatus::DefenderWins);
    let b = game_bundle(&block, 1, extra(L2_BLOCK), state, FactoryLayout::default());
    let target = factory_target(vec![0, 1], FactoryLayout::default());
    let at = 5_000 + DEFAULT_GAME_FINALITY_DELAY;
    let v = verify(&target, b.clone(), &FinalityPolicy::default(), at).expect("final");
    assert_eq!(v.trust, TrustMode::Final);
    assert_eq!(v.l2_block_number, L2_BLOCK);
    assert_eq!(v.l2_block_hash, keccak256(&block.raw));
    assert_eq!(
        v.commitment,
        Commitment::DisputeGame {
            factory: FACTORY,
            game: GameId {
                game_type: 1,
                created_at: 1_000,
                proxy: GAME
            },
            state,
            output_root: block.output_root,
        }
    );
    assert_eq!(v.l2_storage.expect("L2 slot").value, U256::from(0xfeed));

    let e = verify(&target, b, &FinalityPolicy::default(), at - 1).expect_err("in the delay");
    assert!(
        matches!(e, RollupError::NotFinal { since: 5_000, .. }),
        "{e}"
    );
    assert_eq!(e.hop(), Hop::Finality);
    assert!(e.is_retryable());
}

#[test]
fn unresolved_game_needs_the_opt_in_and_its_age() {
    let block = l2_block(L2_BLOCK, Bytes::new());
    let target = factory_target(vec![0, 1], FactoryLayout::default());
    let b = game_bundle(
        &block,
        0,
        extra(L2_BLOCK),
        resolved(GameStatus::InProgress),
        FactoryLayout::default(),
    );
    let e = verify(&target, b.clone(), &FinalityPolicy::default(), u64::MAX).expect_err("running");
    assert_eq!(e, RollupError::GameStatus { game: GAME, got: 0 });
    assert!(e.is_retryable());
    let v = verify(&target, b.clone(), &opt_in(), 4_600).expect("old enough");
    assert_eq!(v.trust, TrustMode::MinimumAge);
    let e = verify(&target, b, &opt_in(), 4_599).expect_err("too young");
    assert!(
        matches!(
            e,
            RollupError::NotFinal {
                since: 1_000,
                wait: 3_600,
                ..
            }
        ),
        "{e}"
    );

    // A game whose L2 block number was shown wrong never passes.
    let challenged = FaultGameState {
        l2_block_number_challenged: true,
        ..resolved(GameStatus::InProgress)
    };
    let b = game_bundle(
        &block,
        0,
        extra(L2_BLOCK),
        challenged,
        FactoryLayout::default(),
    );
    assert_eq!(
        verify(&target, b, &opt_in(), u64::MAX),
        Err(RollupError::GameBlockNumberChallenged { game: GAME })
    );
}

#[test]
fn lost_game_is_refused_whatever_the_policy() {
    let block = l2_block(L2_BLOCK, Bytes::new());
    let target = factory_target(vec![0, 1], FactoryLayout::default());
    let b = game_bundle(
        &block,
        0,
        extra(L2_BLOCK),
        resolved(GameStatus::ChallengerWins),
        FactoryLayout::default(),
    );
    for policy in [FinalityPolicy::default(), opt_in()] {
        let e = verify(&target, b.clone(), &policy, u64::MAX).expect_err("lost");
        assert_eq!(e, RollupError::GameStatus { game: GAME, got: 1 });
        assert!(!e.is_retryable());
    }
}

#[test]
fn status_word_cannot_be_claimed_other_than_stored() {
    // The game runs; the bundle claims it resolved for the defender.
    let block = l2_block(L2_BLOCK, Bytes::new());
    let target = factory_target(vec![0, 1], FactoryLayout::default());
    let mut b = game_bundle(
        &block,
        0,
        extra(L2_BLOCK),
        resolved(GameStatus::InProgress),
        FactoryLayout::default(),
    );
    let g = b.dispute_game.as_mut().expect("game part");
    let lie = resolved(GameStatus::DefenderWins).pack();
    g.game_proof_params.storage_value = Bytes::from(lie.to_be_bytes_trimmed_vec());
    let e = verify(&target, b, &FinalityPolicy::default(), u64::MAX).expect_err("lie");
    assert!(
        matches!(e, RollupError::StorageProof { layer: Layer::L1, address, .. } if address == GAME),
        "{e}"
    );
}

#[test]
fn game_of_an_unexpected_type_is_refused() {
    let block = l2_block(L2_BLOCK, Bytes::new());
    let state = resolved(GameStatus::DefenderWins);
    let b = game_bundle(&block, 1, extra(L2_BLOCK), state, FactoryLayout::default());
    let e = verify(
        &factory_target(vec![0], FactoryLayout::default()),
        b,
        &FinalityPolicy::default(),
        u64::MAX,
    )
    .expect_err("type 1 not accepted");
    assert_eq!(
        e,
        RollupError::GameType {
            expected: vec![0],
            got: 1
        }
    );
    assert_eq!(e.hop(), Hop::Commitment);
}

#[test]
fn game_for_another_block_number_is_refused() {
    // A game whose root claim is this block's output but whose extra data
    // names another block: the root is not the output at that block.
    let block = l2_block(L2_BLOCK, Bytes::new());
    let state = resolved(GameStatus::DefenderWins);
    let target = factory_target(vec![0, 1], FactoryLayout::default());
    let b = game_bundle(
        &block,
        0,
        extra(L2_BLOCK + 1),
        state,
        FactoryLayout::default(),
    );
    assert_eq!(
        verify(&target, b, &FinalityPolicy::default(), u64::MAX),
        Err(RollupError::L2BlockNumber {
            what: "dispute game extra data",
            expected: L2_BLOCK,
            got: L2_BLOCK + 1
        })
    );
    // Extra data that is not one word is not a FaultDisputeGame's.
    let short = Bytes::copy_from_slice(&word(L2_BLOCK)[1..]);
    let b = game_bundle(&block, 0, short, state, FactoryLayout::default());
    let e = verify(&target, b, &FinalityPolicy::default(), u64::MAX).expect_err("31 bytes");
    assert!(
        matches!(
            e,
            RollupError::Malformed {
                field: "disputeGame.extraData",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.hop(), Hop::Bundle);
}

#[test]
fn game_for_another_root_claim_is_refused() {
    let block = l2_block(L2_BLOCK, Bytes::new());
    let other = l2_block(L2_BLOCK, Bytes::from_static(b"other"));
    let state = resolved(GameStatus::DefenderWins);
    let target = factory_target(vec![0, 1], FactoryLayout::default());
    // The factory holds a game for the other block's output; the bundle
    // proves that game's slot but carries this block's header.
    let (l1, slot) = game_world(
        0,
        other.output_root,
        &extra(L2_BLOCK),
        state,
        FactoryLayout::default(),
    );
    let mut b = op_bundle(&l1, (FACTORY, slot), &block);
    b.dispute_game = Some(DisputeGameProof {
        game_type: 0,
        extra_data: extra(L2_BLOCK),
        game_proof_params: l1.proof(GAME, op::GAME_STATUS_SLOT),
    });
    let e =
        verify(&target, b.clone(), &FinalityPolicy::default(), u64::MAX).expect_err("other root");
    assert!(
        matches!(e, RollupError::GameSlot { expected, got, .. } if got == slot && expected != slot),
        "{e}"
    );
    assert_eq!(e.hop(), Hop::Commitment);
    // Proving this block's slot instead shows there is no such game.
    let ours = op::game_slot(
        op::game_uuid(0, block.output_root, &extra(L2_BLOCK)),
        FactoryLayout::default(),
    );
    b.dst_l2_state_root_proof_params = l1.proof(FACTORY, ours);
    assert_eq!(
        verify(&target, b, &FinalityPolicy::default(), u64::MAX),
        Err(RollupError::GameAbsent {
            game_type: 0,
            root_claim: block.output_root
        })
    );
}

#[test]
fn factory_layouts() {
    let block = l2_block(L2_BLOCK, Bytes::new());
    let state = resolved(GameStatus::DefenderWins);
    let b = game_bundle(&block, 0, extra(L2_BLOCK), state, FactoryLayout::Legacy);
    let v = verify(
        &factory_target(vec![0], FactoryLayout::Legacy),
        b.clone(),
        &FinalityPolicy::default(),
        u64::MAX,
    )
    .expect("slot 102 factory");
    assert_eq!(v.trust, TrustMode::Final);
    let e = verify(
        &factory_target(vec![0], FactoryLayout::WithInitBonds),
        b,
        &FinalityPolicy::default(),
        u64::MAX,
    )
    .expect_err("slot 103 expected");
    assert!(matches!(e, RollupError::GameSlot { .. }), "{e}");
}

#[test]
fn game_proof_must_be_the_games_status_word() {
    let block = l2_block(L2_BLOCK, Bytes::new());
    let state = resolved(GameStatus::DefenderWins);
    let target = factory_target(vec![0, 1], FactoryLayout::default());
    let (l1, _) = game_world(
        0,
        block.output_root,
        &extra(L2_BLOCK),
        state,
        FactoryLayout::default(),
    );
    let base = game_bundle(&block, 0, extra(L2_BLOCK), state, FactoryLayout::default());

    // Another slot of the game.
    let mut b = base.clone();
    b.dispute_game.as_mut().expect("part").game_proof_params = l1.proof(GAME, word(1));
    let e = verify(&target, b, &FinalityPolicy::default(), u64::MAX).expect_err("slot 1");
    assert!(
        matches!(e, RollupError::StorageSlot { layer: Layer::L1, address, .. } if address == GAME),
        "{e}"
    );
    assert_eq!(e.hop(), Hop::L1Storage);

    // Another contract's slot 0: the proxy comes from the factory's record.
    let mut l1b = l1;
    let decoy = Address::repeat_byte(0xde);
    l1b.set(decoy, op::GAME_STATUS_SLOT, state.pack());
    let mut b = base.clone();
    b.dispute_game.as_mut().expect("part").game_proof_params =
        l1b.proof(decoy, op::GAME_STATUS_SLOT);
    let e = verify(&target, b, &FinalityPolicy::default(), u64::MAX).expect_err("decoy");
    assert!(
        matches!(e, RollupError::AccountProof { layer: Layer::L1, address, .. } if address == GAME),
        "{e}"
    );
    assert_eq!(e.hop(), Hop::L1Account);

    let mut b = base;
    b.dispute_game = None;
    let e = verify(&target, b, &FinalityPolicy::default(), u64::MAX).expect_err("no part");
    assert!(
        matches!(
            e,
            RollupError::MissingPart {
                what: "disputeGame",
                ..
            }
        ),
        "{e}"
    );
}

// ----- L2OutputOracle -----

fn oracle_target() -> Target {
    Target {
        settlement: Settlement::OpL2OutputOracle { oracle: ORACLE },
        l2_account: Some(L2_INBOX),
    }
}

pub(crate) fn oracle_bundle(
    block: &L2Block,
    index: u64,
    root: B256,
    meta: OutputProposalMeta,
) -> OpStackBundle {
    let mut l1 = World::new();
    let (root_slot, meta_slot) = op::l2_output_slots(index);
    l1.set(ORACLE, root_slot, U256::from_be_bytes(root.0));
    l1.set(ORACLE, meta_slot, meta.pack());
    OpStackBundle {
        output_oracle: Some(OutputOracleProof {
            index,
            proposal_proof_params: l1.proof(ORACLE, meta_slot),
        }),
        ..op_bundle(&l1, (ORACLE, root_slot), block)
    }
}

fn meta(timestamp: u64, l2_block_number: u64) -> OutputProposalMeta {
    OutputProposalMeta {
        timestamp,
        l2_block_number,
    }
}

#[test]
fn output_proposal_is_final_after_the_finalization_period() {
    let block = l2_block(L2_BLOCK, Bytes::new());
    let b = oracle_bundle(&block, 7, block.output_root, meta(10_000, L2_BLOCK));
    let at = 10_000 + DEFAULT_OUTPUT_FINALIZATION_PERIOD;
    let v = verify(&oracle_target(), b.clone(), &FinalityPolicy::default(), at).expect("final");
    assert_eq!(v.trust, TrustMode::Final);
    assert_eq!(
        v.commitment,
        Commitment::OutputProposal {
            oracle: ORACLE,
            index: 7,
            meta: meta(10_000, L2_BLOCK),
            output_root: block.output_root
        }
    );
    let e = verify(
        &oracle_target(),
        b.clone(),
        &FinalityPolicy::default(),
        at - 1,
    )
    .expect_err("young");
    assert!(e.is_retryable() && e.hop() == Hop::Finality, "{e}");
    let v = verify(&oracle_target(), b.clone(), &opt_in(), 13_600).expect("opted in");
    assert_eq!(v.trust, TrustMode::MinimumAge);
    assert!(verify(&oracle_target(), b, &opt_in(), 13_599).is_err());
}

#[test]
fn output_proposal_of_another_block_is_refused() {
    let block = l2_block(L2_BLOCK, Bytes::new());
    let other = l2_block(L2_BLOCK, Bytes::from_static(b"other"));
    // The proposal's number is not the header's.
    let b = oracle_bundle(&block, 0, block.output_root, meta(1, L2_BLOCK + 1));
    assert_eq!(
        verify(&oracle_target(), b, &FinalityPolicy::default(), u64::MAX),
        Err(RollupError::L2BlockNumber {
            what: "output proposal",
            expected: L2_BLOCK,
            got: L2_BLOCK + 1
        })
    );
    // The proposal's root is another block's.
    let b = oracle_bundle(&block, 0, other.output_root, meta(1, L2_BLOCK));
    let e = verify(&oracle_target(), b, &FinalityPolicy::default(), u64::MAX).expect_err("root");
    assert!(
        matches!(e, RollupError::OutputRoot { expected, got, .. } if expected == other.output_root && got == block.output_root),
        "{e}"
    );
    assert_eq!(e.hop(), Hop::Commitment);
}

#[test]
fn output_proposal_slots_follow_the_index() {
    let block = l2_block(L2_BLOCK, Bytes::new());
    let mut b = oracle_bundle(&block, 3, block.output_root, meta(1, L2_BLOCK));
    b.output_oracle.as_mut().expect("part").index = 4;
    let e = verify(
        &oracle_target(),
        b.clone(),
        &FinalityPolicy::default(),
        u64::MAX,
    )
    .expect_err("index 4 is other slots");
    assert!(
        matches!(e, RollupError::StorageSlot { layer: Layer::L1, address, .. } if address == ORACLE),
        "{e}"
    );
    b.output_oracle = None;
    let e = verify(&oracle_target(), b, &FinalityPolicy::default(), u64::MAX).expect_err("no part");
    assert!(
        matches!(
            e,
            RollupError::MissingPart {
                what: "outputOracle",
                ..
            }
        ),
        "{e}"
    );
    // A second word whose halves do not fit in 64 bits is no proposal.
    let mut l1 = World::new();
    let (root_slot, meta_slot) = op::l2_output_slots(0);
    l1.set(ORACLE, root_slot, U256::from_be_bytes(block.output_root.0));
    l1.set(ORACLE, meta_slot, U256::MAX);
    let b = OpStackBundle {
        output_oracle: Some(OutputOracleProof {
            index: 0,
            proposal_proof_params: l1.proof(ORACLE, meta_slot),
        }),
        ..op_bundle(&l1, (ORACLE, root_slot), &block)
    };
    let e = verify(&oracle_target(), b, &FinalityPolicy::default(), u64::MAX).expect_err("wide");
    assert!(matches!(e, RollupError::Malformed { .. }), "{e}");
}

// ----- Arbitrum -----

fn rollup_target() -> Target {
    Target {
        settlement: Settlement::ArbitrumRollup { rollup: ROLLUP },
        l2_account: Some(L2_INBOX),
    }
}

const SEND_ROOT: B256 = B256::repeat_byte(0x5e);

/// An assertion ending at `block` (its hash and send root), its node word
/// holding `status` in the Rollup contract, created at L1 block 1,000.
pub(crate) fn assertion_bundle(block: &L2Block, status: u8, machine_status: u8) -> ArbitrumBundle {
    let after_state = AssertionState {
        global_state: GlobalState {
            bytes32_vals: [keccak256(&block.raw), SEND_ROOT],
            u64_vals: [42, 0],
        },
        machine_status,
        end_history_root: B256::repeat_byte(0xe4),
    };
    let prev = B256::repeat_byte(0x9e);
    let acc = B256::repeat_byte(0xac);
    let slot = arbitrum::assertion_slot(arbitrum::assertion_hash(prev, &after_state, acc));
    let node = AssertionNode {
        first_child_block: 0,
        second_child_block: 0,
        created_at_block: 1_000,
        is_first_child: true,
        status,
    };
    let mut l1 = World::new();
    l1.set(ROLLUP, slot, node.pack());
    ArbitrumBundle {
        state_proof_params: l1.state_proof(),
        dst_l2_state_root_proof_params: l1.proof(ROLLUP, slot),
        dst_l2_account_proof_params: Some(block.world.proof(L2_INBOX, word(3))),
        encoded_block_array: block.raw.clone(),
        after_state,
        prev_assertion_hash: prev,
        sequencer_batch_acc: acc,
    }
}

fn arbitrum_block() -> L2Block {
    l2_block(L2_BLOCK, Bytes::copy_from_slice(SEND_ROOT.as_slice()))
}

fn verify_arb(
    b: ArbitrumBundle,
    policy: &FinalityPolicy,
    now: Now,
) -> Result<Verdict, RollupError> {
    verify_bundle(&rollup_target(), &Bundle::Arbitrum(b), None, policy, now)
}

#[test]
fn confirmed_assertion_is_final() {
    let block = arbitrum_block();
    let v = verify_arb(
        assertion_bundle(&block, 2, 1),
        &FinalityPolicy::default(),
        0.into(),
    )
    .expect("confirmed");
    assert_eq!(v.trust, TrustMode::Final);
    assert_eq!(v.l2_block_hash, keccak256(&block.raw));
    assert_eq!(v.header, block.header);
    assert_eq!(v.l2_storage.expect("slot").value, U256::from(0xfeed));
}

#[test]
fn pending_assertion_needs_the_opt_in_and_its_age_in_l1_blocks() {
    let block = arbitrum_block();
    let b = assertion_bundle(&block, 1, 1);
    let e = verify_arb(b.clone(), &FinalityPolicy::default(), 0.into()).expect_err("pending");
    assert!(
        matches!(e, RollupError::AssertionStatus { got: 1, .. }),
        "{e}"
    );
    assert!(e.is_retryable());
    let at = |l1_block| Now {
        unix: 0,
        l1_block: Some(l1_block),
    };
    let v = verify_arb(b.clone(), &opt_in(), at(1_300)).expect("old enough");
    assert_eq!(v.trust, TrustMode::MinimumAge);
    let e = verify_arb(b.clone(), &opt_in(), at(1_299)).expect_err("too young");
    assert!(
        matches!(
            e,
            RollupError::NotFinal {
                unit: "L1 blocks",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        verify_arb(b, &opt_in(), 0.into()),
        Err(RollupError::L1BlockUnknown)
    );
}

#[test]
fn assertion_without_a_finished_machine_or_node_is_refused() {
    let block = arbitrum_block();
    let e = verify_arb(
        assertion_bundle(&block, 2, 2),
        &FinalityPolicy::default(),
        0.into(),
    )
    .expect_err("errored machine");
    assert_eq!(e, RollupError::MachineStatus { got: 2 });
    assert_eq!(e.hop(), Hop::Commitment);
    // No node: the slot is empty and the bundle proves exactly that.
    let e = verify_arb(assertion_bundle(&block, 0, 1), &opt_in(), 0.into()).expect_err("none");
    assert!(
        matches!(e, RollupError::AssertionStatus { got: 0, .. }),
        "{e}"
    );
    assert!(!e.is_retryable());
}

#[test]
fn assertion_header_must_be_the_proven_block() {
    // A header whose extra data is not the send root.
    let block = l2_block(L2_BLOCK, Bytes::from_static(b"not the send root"));
    let e = verify_arb(
        assertion_bundle(&block, 2, 1),
        &FinalityPolicy::default(),
        0.into(),
    )
    .expect_err("send root");
    assert!(
        matches!(
            e,
            RollupError::SendRoot {
                height: L2_BLOCK,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.hop(), Hop::L2Header);
    // Another header than the one the assertion names.
    let block = arbitrum_block();
    let mut b = assertion_bundle(&block, 2, 1);
    b.encoded_block_array =
        l2_block(L2_BLOCK + 1, Bytes::copy_from_slice(SEND_ROOT.as_slice())).raw;
    let e = verify_arb(b, &FinalityPolicy::default(), 0.into()).expect_err("other header");
    assert!(matches!(e, RollupError::L2HeaderHash { .. }), "{e}");
    assert_eq!(e.hop(), Hop::L2Header);
}

#[test]
fn finality_is_judged_only_after_every_proof() {
    // A pending assertion (retryable on its own) with a forged header is
    // refused for the forgery, so that nobody waits for it.
    let block = arbitrum_block();
    let mut b = assertion_bundle(&block, 1, 1);
    b.encoded_block_array =
        l2_block(L2_BLOCK + 1, Bytes::copy_from_slice(SEND_ROOT.as_slice())).raw;
    let e = verify_arb(b, &FinalityPolicy::default(), 0.into()).expect_err("forged");
    assert!(matches!(e, RollupError::L2HeaderHash { .. }), "{e}");
    assert!(!e.is_retryable());
    // The same for a bad L2 slot under a running game.
    let block = l2_block(L2_BLOCK, Bytes::new());
    let mut g = game_bundle(
        &block,
        0,
        extra(L2_BLOCK),
        resolved(GameStatus::InProgress),
        FactoryLayout::default(),
    );
    g.dst_l2_account_proof_params
        .as_mut()
        .expect("L2 proof")
        .storage_value = Bytes::from_static(&[0xbe, 0xef]);
    let e = verify(
        &factory_target(vec![0], FactoryLayout::default()),
        g,
        &FinalityPolicy::default(),
        0,
    )
    .expect_err("bad L2 slot");
    assert_eq!(e.hop(), Hop::L2Storage);
}
