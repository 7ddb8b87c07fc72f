//! Proving one rollup block from L1 on the RIP-7755 vectors: what the hub
//! will do once per proven L2 block (then it walks parent hashes back from
//! it with the EVM client's header checks).
//!
//! Rows:
//! - `verify_bundle/arbitrum_sepolia`: the real Arbitrum Sepolia chain, every
//!   hop (beacon branch, an 8-node L1 account proof, a 4-node storage
//!   proof, the assertion hash, the status, the header's hash and decoding);
//! - `verify_bundle/op_devnet`: the OP Stack devnet anchor (2-node account
//!   proof, 3-node storage proof, the output root, the header) plus its L2
//!   account and storage proof;
//! - `l1_proofs/arbitrum_sepolia`: the L1 account and storage proofs alone;
//! - `l2_header/arbitrum_sepolia`: the header's hash and strict decoding
//!   alone.

use std::hint::black_box;
use std::path::PathBuf;

use alloy_primitives::{U256, address, keccak256};
use criterion::{Criterion, criterion_group, criterion_main};
use switchyard_lc_rollup::mpt::{verify_account, verify_storage};
use switchyard_lc_rollup::{
    Bundle, FinalityPolicy, Header, Layer, RollupKind, Settlement, Target, verify_bundle,
};

fn bundle(kind: RollupKind, name: &str) -> Bundle {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/rip7755/contracts/test/data")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    Bundle::from_json(kind, &text).expect("a bundle")
}

fn bench(c: &mut Criterion) {
    let policy = FinalityPolicy::default();
    let now = 1_750_000_000u64;

    let arb_rollup = address!("042B2E6C5E99d4c521bd49beeD5E99651D9B0Cf4");
    let arb_target = Target {
        settlement: Settlement::ArbitrumRollup { rollup: arb_rollup },
        l2_account: None,
    };
    let mut arb = bundle(RollupKind::Arbitrum, "ArbitrumSepoliaProof.json");
    // The vector's L2 slot is of an account it does not name; the block
    // proof is everything else.
    let Bundle::Arbitrum(a) = &mut arb else {
        unreachable!("parsed as Arbitrum")
    };
    a.dst_l2_account_proof_params = None;
    let a = a.clone();
    let arb_root = Some(a.state_proof_params.beacon_root);
    verify_bundle(&arb_target, &arb, arb_root, &policy, now).expect("verifies");

    let op_contract = address!("e7f1725E7734CE288F8367e1Bb143E90bb3F0512");
    let op_target = Target {
        settlement: Settlement::OpAnchorStateRegistry {
            registry: op_contract,
            game_type: 0,
        },
        l2_account: Some(op_contract),
    };
    let op = bundle(RollupKind::OpStack, "OPSepoliaProof.json");
    let op_root = Some(op.state_proof().beacon_root);
    verify_bundle(&op_target, &op, op_root, &policy, now).expect("verifies");

    let mut g = c.benchmark_group("rollup");
    g.bench_function("verify_bundle/arbitrum_sepolia", |b| {
        b.iter(|| {
            verify_bundle(&arb_target, black_box(&arb), arb_root, &policy, now)
                .expect("valid")
                .l2_block_number
        })
    });
    g.bench_function("verify_bundle/op_devnet", |b| {
        b.iter(|| {
            verify_bundle(&op_target, black_box(&op), op_root, &policy, now)
                .expect("valid")
                .l2_block_number
        })
    });
    let p = &a.dst_l2_state_root_proof_params;
    let state_root = a.state_proof_params.execution_state_root;
    let value = U256::from_be_slice(&p.storage_value);
    g.bench_function("l1_proofs/arbitrum_sepolia", |b| {
        b.iter(|| {
            let account = verify_account(
                Layer::L1,
                state_root,
                arb_rollup,
                black_box(&p.account_proof),
            )
            .expect("account");
            verify_storage(
                Layer::L1,
                arb_rollup,
                account.storage_root,
                p.storage_key,
                value,
                black_box(&p.storage_proof),
            )
            .expect("slot")
        })
    });
    g.bench_function("l2_header/arbitrum_sepolia", |b| {
        b.iter(|| {
            let raw = black_box(&a.encoded_block_array);
            (keccak256(raw), Header::decode(raw).expect("header").number)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
