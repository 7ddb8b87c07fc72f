//! The execution binding on real mainnet data: helios' full beacon block
//! 7109430 carries the execution payload of block 17923112. The execution
//! header rebuilt from it (transactions and withdrawals tries recomputed)
//! must hash to the block hash that the verified light-client header for
//! that slot commits to; any changed field must be refused.

use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256, b256};
use alloy_rlp::RlpEncodable;
use serde_json::Value;
use switchyard_lc_beacon::execution::bind_execution;
use switchyard_lc_beacon::{ChainSpec, Error, Preset, json};
use switchyard_lc_evm::Header;
use switchyard_lc_evm::trie::trie_root;

use crate::support::read;

/// keccak256(rlp([])): post-merge blocks have no ommers.
const EMPTY_OMMERS: B256 =
    b256!("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347");

#[derive(RlpEncodable)]
struct Withdrawal {
    index: u64,
    validator_index: u64,
    address: Address,
    amount: u64,
}

fn num(v: &Value) -> u64 {
    v.as_str().expect("decimal string").parse().expect("u64")
}

fn hex<T: std::str::FromStr>(v: &Value) -> T
where
    T::Err: std::fmt::Debug,
{
    v.as_str().expect("hex string").parse().expect("hex")
}

/// The Shanghai-layout execution header of a Capella beacon block's payload.
fn execution_header(block_json: &str) -> Header {
    let v: Value = serde_json::from_str(block_json).expect("JSON");
    let p = &v["data"]["message"]["body"]["execution_payload"];
    let txs: Vec<Bytes> = p["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .map(hex::<Bytes>)
        .collect();
    let withdrawals: Vec<Withdrawal> = p["withdrawals"]
        .as_array()
        .expect("withdrawals")
        .iter()
        .map(|w| Withdrawal {
            index: num(&w["index"]),
            validator_index: num(&w["validator_index"]),
            address: hex(&w["address"]),
            amount: num(&w["amount"]),
        })
        .collect();
    // Both tries are keyed by rlp(index) in block order.
    let transactions_root = trie_root(
        txs.iter()
            .enumerate()
            .map(|(i, tx)| (alloy_rlp::encode(i as u64), tx.to_vec())),
    );
    let withdrawals_root = trie_root(
        withdrawals
            .iter()
            .enumerate()
            .map(|(i, w)| (alloy_rlp::encode(i as u64), alloy_rlp::encode(w))),
    );
    Header {
        parent_hash: hex(&p["parent_hash"]),
        ommers_hash: EMPTY_OMMERS,
        beneficiary: hex(&p["fee_recipient"]),
        state_root: hex(&p["state_root"]),
        transactions_root,
        receipts_root: hex(&p["receipts_root"]),
        logs_bloom: hex::<Bloom>(&p["logs_bloom"]),
        difficulty: U256::ZERO,
        number: num(&p["block_number"]),
        gas_limit: num(&p["gas_limit"]),
        gas_used: num(&p["gas_used"]),
        timestamp: num(&p["timestamp"]),
        extra_data: hex(&p["extra_data"]),
        mix_hash: hex(&p["prev_randao"]),
        nonce: B64::ZERO,
        base_fee_per_gas: Some(num(&p["base_fee_per_gas"])),
        withdrawals_root: Some(withdrawals_root),
        ..Header::default()
    }
}

#[test]
fn a_verified_beacon_header_binds_its_execution_block_and_refuses_any_other() {
    let dir = "helios/ethereum/testdata";
    let spec = ChainSpec::mainnet();
    // The finality update's attested header is slot 7109430 (verified by
    // the store in helios_mainnet.rs).
    let finality =
        json::finality_update_from_json(&read(&format!("{dir}/finality.json")), &Preset::MAINNET)
            .expect("decodes");
    let beacon = &finality.attested_header;
    assert_eq!(beacon.beacon.slot, 7_109_430);
    let exec = execution_header(&read(&format!("{dir}/blocks/7109430.json")));

    let anchor = bind_execution(beacon, &spec, &exec).expect("the payload's block binds");
    assert_eq!(anchor.number, 17_923_112);
    assert_eq!(
        anchor.hash,
        b256!("71305d343b77fa1444cf825353974dacfd7ba0813e085ea87a02ec261d66262a")
    );
    // The anchor seeds the EVM client, whose receipts-root path then proves
    // messages in this block.
    let chain = switchyard_lc_evm::HeaderChain::new(anchor, 0, 64).expect("anchor");
    assert_eq!(chain.confirmed_height(), 17_923_112);

    // Another field anywhere in the header: another hash.
    let mut other = exec.clone();
    other.gas_used += 1;
    let err = bind_execution(beacon, &spec, &other).expect_err("changed header");
    assert!(
        matches!(
            err,
            Error::ExecutionHeaderMismatch {
                field: "block hash",
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_retryable());
    let mut other = exec.clone();
    other.receipts_root = B256::repeat_byte(1);
    let err = bind_execution(beacon, &spec, &other).expect_err("changed receipts root");
    assert!(
        matches!(
            err,
            Error::ExecutionHeaderMismatch {
                field: "receipts root",
                ..
            }
        ),
        "{err}"
    );
    // The block of another slot does not bind to this header.
    let next = execution_header(&read(&format!("{dir}/blocks/7109431.json")));
    let err = bind_execution(beacon, &spec, &next).expect_err("another block");
    assert!(
        matches!(
            err,
            Error::ExecutionHeaderMismatch {
                field: "block number",
                ..
            }
        ),
        "{err}"
    );
    // A tampered execution branch in the beacon header is caught first.
    let mut forged = beacon.clone();
    forged.execution_branch[0] = B256::repeat_byte(7);
    assert!(bind_execution(&forged, &spec, &exec).is_err());
}
