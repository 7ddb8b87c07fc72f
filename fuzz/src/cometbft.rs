//! The CometBFT light client's JSON readers: RPC `/commit` and
//! `/validators` results (with or without the JSON-RPC envelope), RPC
//! bundles and tendermint-rs LightBlock JSON.

use switchyard_lc_cometbft::LightBlock;
use switchyard_lc_cometbft::json::{
    CommitResult, ValidatorsPage, commit_from_rpc, commit_to_rpc, light_block_auto,
    light_block_from_json, light_block_from_parts, light_blocks_auto, validators_from_rpc,
    validators_to_rpc,
};
use tendermint::validator::{Info, Set};

/// Validators sorted by address, to compare sets whatever their order and
/// proposer.
fn sorted(set: &Set) -> Vec<Info> {
    let mut v = set.validators().to_vec();
    v.sort_by_key(|i| i.address);
    v
}

fn pages(height: u64, set: &Set) -> Vec<ValidatorsPage> {
    let per_page = 100;
    let n = set.validators().len().div_ceil(per_page).max(1);
    (1..=n)
        .map(|p| {
            serde_json::from_value(validators_to_rpc(height, set, p, per_page))
                .expect("our /validators page parses")
        })
        .collect()
}

/// A block read from JSON must survive both of its JSON forms: LightBlock
/// JSON gives back the same block, and the RPC form (`/commit` plus every
/// `/validators` page) the same header, commit and validator sets.
fn round_trip(block: &LightBlock) {
    let text = serde_json::to_string(block).expect("LightBlock to JSON");
    let again = light_block_from_json(&text)
        .unwrap_or_else(|e| panic!("our LightBlock JSON is refused: {e}\n{text}"));
    assert_eq!(&again, block, "LightBlock JSON round trip");

    let height = block.signed_header.header.height.value();
    let commit: CommitResult =
        serde_json::from_value(commit_to_rpc(block)).expect("our /commit result parses");
    let vals = pages(height, &block.validators);
    let next = pages(height + 1, &block.next_validators);
    if let Ok(rebuilt) = light_block_from_parts(commit, &vals, Some(&next)) {
        assert_eq!(
            rebuilt.signed_header, block.signed_header,
            "RPC form round trip"
        );
        assert_eq!(sorted(&rebuilt.validators), sorted(&block.validators));
        assert_eq!(
            sorted(&rebuilt.next_validators),
            sorted(&block.next_validators)
        );
    }
}

/// Input: UTF-8 JSON, given to every reader.
pub fn cometbft_json(data: &[u8]) {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(b) = light_block_from_json(json) {
        round_trip(&b);
    }
    if let Ok(b) = light_block_auto(json) {
        round_trip(&b);
    }
    if let Ok(blocks) = light_blocks_auto(json) {
        for b in blocks.iter().take(4) {
            round_trip(b);
        }
    }
    let _ = commit_from_rpc(json);
    if let Ok(page) = validators_from_rpc(json) {
        let _ = switchyard_lc_cometbft::json::validator_set("fuzz", page.validators);
    }
}
