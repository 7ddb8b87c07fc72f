//! Property tests: every hop of the chain of proofs, mutated, is refused,
//! and at that hop. On the real vectors (a beacon branch sibling, a proof
//! node byte, a storage value, a header field, an assertion part, the
//! message passer root, the L2 slot) and on synthetic L1 state (a status
//! byte of an assertion or a dispute game).

use std::sync::OnceLock;

use alloy_primitives::{B256, Bytes, U256};
use proptest::prelude::*;
use proptest::sample::Index;
use switchyard_lc_rollup::op::{FactoryLayout, FaultGameState};
use switchyard_lc_rollup::{
    ArbitrumBundle, Bundle, FinalityPolicy, Header, Hop, MinAge, OpStackBundle, RollupError,
    RollupKind, Settlement, Target, verify_bundle,
};

use crate::settlement::{L2_INBOX, assertion_bundle, game_bundle, l2_block};
use crate::support::{arbitrum_target, op_target, without_l2_proof};
use crate::vectors::bundle;
use crate::world::word;

const NOW: u64 = 1_750_000_000;

fn arb() -> &'static ArbitrumBundle {
    static B: OnceLock<ArbitrumBundle> = OnceLock::new();
    B.get_or_init(|| {
        match without_l2_proof(&bundle(RollupKind::Arbitrum, "ArbitrumSepoliaProof.json")) {
            Bundle::Arbitrum(a) => a,
            _ => unreachable!("parsed as Arbitrum"),
        }
    })
}

fn op() -> &'static OpStackBundle {
    static B: OnceLock<OpStackBundle> = OnceLock::new();
    B.get_or_init(
        || match bundle(RollupKind::OpStack, "OPSepoliaProof.json") {
            Bundle::OpStack(o) => o,
            _ => unreachable!("parsed as OP Stack"),
        },
    )
}

/// Verifies with the bundle's own beacon root, so that every hop is walked.
fn check_arb(b: ArbitrumBundle) -> Result<(), RollupError> {
    let root = Some(b.state_proof_params.beacon_root);
    verify_bundle(
        &arbitrum_target(),
        &Bundle::Arbitrum(b),
        root,
        &FinalityPolicy::default(),
        NOW,
    )
    .map(|_| ())
}

fn check_op(b: OpStackBundle) -> Result<(), RollupError> {
    let root = Some(b.state_proof_params.beacon_root);
    verify_bundle(
        &op_target(),
        &Bundle::OpStack(b),
        root,
        &FinalityPolicy::default(),
        NOW,
    )
    .map(|_| ())
}

/// Flips bits of one byte of one node.
fn flip_node(nodes: &mut [Bytes], node: Index, byte: Index, xor: u8) {
    let n = node.index(nodes.len());
    let mut v = nodes[n].to_vec();
    let i = byte.index(v.len());
    v[i] ^= xor;
    nodes[n] = v.into();
}

/// Changes one header field by `xor`.
fn mutate_header(h: &mut Header, field: u8, xor: u8) {
    let x = u64::from(xor);
    match field % 12 {
        0 => h.parent_hash[0] ^= xor,
        1 => h.state_root[31] ^= xor,
        2 => h.transactions_root[5] ^= xor,
        3 => h.receipts_root[9] ^= xor,
        4 => h.number ^= x,
        5 => h.timestamp ^= x,
        6 => h.gas_used ^= x,
        7 => h.gas_limit ^= x,
        8 => {
            let mut e = h.extra_data.to_vec();
            match e.first_mut() {
                Some(b) => *b ^= xor,
                None => e.push(xor),
            }
            h.extra_data = e.into();
        }
        9 => h.logs_bloom[100] ^= xor,
        10 => h.mix_hash[0] ^= xor,
        _ => h.base_fee_per_gas = h.base_fee_per_gas.map(|b| b ^ x),
    }
}

fn refused_at(r: Result<(), RollupError>, hop: Hop) -> Result<(), TestCaseError> {
    match r {
        Ok(()) => Err(TestCaseError::fail(format!(
            "accepted; expected a refusal at {hop}"
        ))),
        Err(e) if e.hop() == hop => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!(
            "refused at {}, expected {hop}: {e}",
            e.hop()
        ))),
    }
}

#[test]
fn unmutated_vectors_verify() {
    // The baseline every property mutates away from.
    assert_eq!(check_arb(arb().clone()), Ok(()));
    assert_eq!(check_op(op().clone()), Ok(()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn beacon_branch_sibling(sibling in 0usize..12, byte in 0usize..32, xor in 1u8..) {
        let mut b = arb().clone();
        b.state_proof_params.state_root_proof[sibling][byte] ^= xor;
        refused_at(check_arb(b), Hop::BeaconBranch)?;
        let mut o = op().clone();
        o.state_proof_params.execution_state_root[byte] ^= xor;
        refused_at(check_op(o), Hop::BeaconBranch)?;
    }

    #[test]
    fn l1_account_proof_node(node in any::<Index>(), byte in any::<Index>(), xor in 1u8..) {
        let mut b = arb().clone();
        flip_node(&mut b.dst_l2_state_root_proof_params.account_proof, node, byte, xor);
        refused_at(check_arb(b), Hop::L1Account)?;
        let mut o = op().clone();
        flip_node(&mut o.dst_l2_state_root_proof_params.account_proof, node, byte, xor);
        refused_at(check_op(o), Hop::L1Account)?;
    }

    #[test]
    fn l1_storage_proof_node(node in any::<Index>(), byte in any::<Index>(), xor in 1u8..) {
        let mut b = arb().clone();
        flip_node(&mut b.dst_l2_state_root_proof_params.storage_proof, node, byte, xor);
        refused_at(check_arb(b), Hop::L1Storage)?;
        let mut o = op().clone();
        flip_node(&mut o.dst_l2_state_root_proof_params.storage_proof, node, byte, xor);
        refused_at(check_op(o), Hop::L1Storage)?;
    }

    #[test]
    fn l1_storage_value(byte in 0usize..32, xor in 1u8..) {
        for mut p in [
            arb().dst_l2_state_root_proof_params.clone(),
            op().dst_l2_state_root_proof_params.clone(),
        ] {
            let mut w = U256::from_be_slice(&p.storage_value).to_be_bytes::<32>();
            w[byte] ^= xor;
            p.storage_value = Bytes::copy_from_slice(&w);
            let r = if p.storage_key == arb().dst_l2_state_root_proof_params.storage_key {
                let mut b = arb().clone();
                b.dst_l2_state_root_proof_params = p;
                check_arb(b)
            } else {
                let mut o = op().clone();
                o.dst_l2_state_root_proof_params = p;
                check_op(o)
            };
            refused_at(r, Hop::L1Storage)?;
        }
    }

    #[test]
    fn assertion_status_byte_claimed(status in any::<u8>().prop_filter("not Confirmed", |s| *s != 2)) {
        // The real node is Confirmed; a bundle claiming another status is
        // refused by the storage proof.
        let mut b = arb().clone();
        let mut w = U256::from_be_slice(&b.dst_l2_state_root_proof_params.storage_value)
            .to_be_bytes::<32>();
        w[6] = status;
        b.dst_l2_state_root_proof_params.storage_value = Bytes::copy_from_slice(&w);
        refused_at(check_arb(b), Hop::L1Storage)?;
    }

    #[test]
    fn l2_header_field(field in any::<u8>(), xor in 1u8..) {
        let mut h = Header::decode(&arb().encoded_block_array).expect("decodes");
        mutate_header(&mut h, field, xor);
        let mut b = arb().clone();
        b.encoded_block_array = h.encoded().into();
        refused_at(check_arb(b), Hop::L2Header)?;
        // OP: the header is bound through the output root.
        let mut h = Header::decode(&op().encoded_block_array).expect("decodes");
        mutate_header(&mut h, field, xor);
        let mut o = op().clone();
        o.encoded_block_array = h.encoded().into();
        refused_at(check_op(o), Hop::Commitment)?;
    }

    #[test]
    fn l2_header_byte(byte in any::<Index>(), xor in 1u8..) {
        let mut b = arb().clone();
        let mut raw = b.encoded_block_array.to_vec();
        let i = byte.index(raw.len());
        raw[i] ^= xor;
        b.encoded_block_array = raw.into();
        refused_at(check_arb(b), Hop::L2Header)?;
        let mut o = op().clone();
        let mut raw = o.encoded_block_array.to_vec();
        let i = byte.index(raw.len());
        raw[i] ^= xor;
        o.encoded_block_array = raw.into();
        // A byte that breaks the RLP is refused decoding the header; one
        // that keeps it decodable, by the output root.
        let e = check_op(o).expect_err("mutated");
        prop_assert!(matches!(e.hop(), Hop::L2Header | Hop::Commitment), "{}", e);
    }

    #[test]
    fn assertion_parts(part in 0u8..7, byte in 0usize..32, xor in 1u8..) {
        let mut b = arb().clone();
        let s = &mut b.after_state;
        match part {
            0 => s.global_state.bytes32_vals[0][byte] ^= xor,
            1 => s.global_state.bytes32_vals[1][byte] ^= xor,
            2 => s.global_state.u64_vals[0] ^= u64::from(xor) << (byte % 8 * 8),
            3 => s.global_state.u64_vals[1] ^= u64::from(xor) << (byte % 8 * 8),
            4 => s.machine_status ^= xor,
            5 => s.end_history_root[byte] ^= xor,
            _ => b.prev_assertion_hash[byte] ^= xor,
        }
        refused_at(check_arb(b.clone()), Hop::Commitment)?;
        let mut c = arb().clone();
        c.sequencer_batch_acc[byte] ^= xor;
        refused_at(check_arb(c), Hop::Commitment)?;
    }

    #[test]
    fn message_passer_storage_root(byte in 0usize..32, xor in 1u8..) {
        let mut o = op().clone();
        o.l2_message_passer_storage_root[byte] ^= xor;
        refused_at(check_op(o), Hop::Commitment)?;
    }

    #[test]
    fn l2_slot(node in any::<Index>(), byte in any::<Index>(), xor in 1u8..) {
        let mut o = op().clone();
        let p = o.dst_l2_account_proof_params.as_mut().expect("L2 proof");
        flip_node(&mut p.account_proof, node, byte, xor);
        refused_at(check_op(o), Hop::L2Account)?;
        let mut o = op().clone();
        let p = o.dst_l2_account_proof_params.as_mut().expect("L2 proof");
        flip_node(&mut p.storage_proof, node, byte, xor);
        refused_at(check_op(o), Hop::L2Storage)?;
        let mut o = op().clone();
        let p = o.dst_l2_account_proof_params.as_mut().expect("L2 proof");
        let mut w = U256::from_be_slice(&p.storage_value).to_be_bytes::<32>();
        w[byte.index(32)] ^= xor;
        p.storage_value = Bytes::copy_from_slice(&w);
        refused_at(check_op(o), Hop::L2Storage)?;
    }
}

proptest! {
    // Each case builds a synthetic L1 state: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn assertion_status_stored(status in any::<u8>()) {
        let block = l2_block(9, Bytes::copy_from_slice(B256::repeat_byte(0x5e).as_slice()));
        let b = assertion_bundle(&block, status, 1);
        let target = Target {
            settlement: Settlement::ArbitrumRollup { rollup: crate::settlement::ROLLUP },
            l2_account: Some(L2_INBOX),
        };
        let r = verify_bundle(&target, &Bundle::Arbitrum(b), None, &FinalityPolicy::default(), 0);
        match status {
            2 => prop_assert!(r.is_ok(), "{:?}", r),
            s => {
                let e = r.expect_err("not Confirmed");
                prop_assert_eq!(e.hop(), Hop::Finality);
                prop_assert_eq!(e.is_retryable(), s == 1, "{}", e);
            }
        }
    }

    #[test]
    fn game_status_stored(status in any::<u8>(), opted_in in any::<bool>()) {
        let block = l2_block(9, Bytes::new());
        let state = FaultGameState {
            created_at: 1,
            resolved_at: 2,
            status,
            l2_block_number_challenged: false,
        };
        let b = game_bundle(&block, 0, Bytes::copy_from_slice(word(9).as_slice()), state, FactoryLayout::default());
        let target = Target {
            settlement: Settlement::OpDisputeGameFactory {
                factory: crate::settlement::FACTORY,
                game_types: vec![0],
                layout: FactoryLayout::default(),
            },
            l2_account: Some(L2_INBOX),
        };
        let policy = FinalityPolicy {
            min_age: opted_in.then_some(MinAge { seconds: 0, l1_blocks: 0 }),
            ..FinalityPolicy::default()
        };
        let r = verify_bundle(&target, &Bundle::OpStack(b), None, &policy, u64::MAX);
        match status {
            2 => prop_assert!(r.is_ok(), "{:?}", r),
            // Opted in, a running game old enough passes.
            0 if opted_in => prop_assert!(r.is_ok(), "{:?}", r),
            s => {
                let e = r.expect_err("not resolved for the defender");
                prop_assert_eq!(e.hop(), Hop::Finality);
                prop_assert_eq!(e.is_retryable(), s == 0, "{}", e);
            }
        }
    }
}
