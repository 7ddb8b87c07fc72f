//! The execution binding on real mainnet data: helios' full beacon block
//! 7109430 carries the execution payload of block 17923112. The execution
//! header rebuilt from it (transactions and withdrawals tries recomputed)
//! must hash to the block hash that the verified light-client header for
//! that slot commits to; any changed field must be refused.

use alloy_primitives::{B256, b256};
use switchyard_lc_beacon::execution::{bind_execution, header_from_beacon_block_json};
use switchyard_lc_beacon::{ChainSpec, Error, Preset, json};
use switchyard_lc_evm::Header;

use crate::support::read;

fn execution_header(block_json: &str) -> Header {
    header_from_beacon_block_json(block_json).expect("a Capella block")
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
