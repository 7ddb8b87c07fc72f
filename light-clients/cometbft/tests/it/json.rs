//! Operators' JSON: CometBFT RPC results (with and without the JSON-RPC
//! envelope) and tendermint-rs LightBlock JSON, with errors that say what,
//! where, expected and got.

use std::time::Duration;

use serde_json::json;
use switchyard_lc_cometbft::json::{
    commit_to_rpc, light_block_from_json, light_block_from_parts, light_block_from_rpc,
    validators_from_rpc, validators_to_rpc,
};
use switchyard_lc_cometbft::{Error, LightClient, SignatureBackend, TrustedState};

use crate::support::{gen_block, options, read, rotating_chain, time_of, vectors};

fn envelope(result: &serde_json::Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "result": result}).to_string()
}

#[test]
fn rpc_results_make_the_same_light_block_with_and_without_envelope() {
    let chain = rotating_chain("rpc-chain", 3);
    let b = &chain[1];
    let commit = commit_to_rpc(b);
    let vals = validators_to_rpc(2, &b.validators, 1, 100);
    let next = validators_to_rpc(3, &b.next_validators, 1, 100);
    let bare = light_block_from_rpc(
        &commit.to_string(),
        &vals.to_string(),
        Some(&next.to_string()),
    )
    .expect("bare results");
    let wrapped =
        light_block_from_rpc(&envelope(&commit), &envelope(&vals), Some(&envelope(&next)))
            .expect("enveloped results");
    assert_eq!(bare, wrapped);
    assert_eq!(bare.signed_header, b.signed_header);
    assert_eq!(bare.validators.hash(), b.validators.hash());
    assert_eq!(bare.next_validators.hash(), b.next_validators.hash());
    // And it verifies like the generated block.
    let trusted = TrustedState::new(chain[0].clone()).expect("genesis");
    let client = LightClient::new(options(Duration::from_secs(600)), SignatureBackend::Batch);
    let _ = client
        .verify(&trusted, &bare, time_of(10))
        .expect("verifies");
}

#[test]
fn paginated_validators_are_joined_and_checked() {
    let vals: Vec<_> = (0..7)
        .map(|i| tendermint_testgen::Validator::new(&format!("p{i}")).voting_power(5))
        .collect();
    let b = gen_block("rpc-chain", 5, &vals, &vals);
    let pages: Vec<_> = (1..=3)
        .map(|p| {
            validators_from_rpc(&validators_to_rpc(5, &b.validators, p, 3).to_string())
                .expect("page")
        })
        .collect();
    let commit = switchyard_lc_cometbft::json::commit_from_rpc(&commit_to_rpc(&b).to_string())
        .expect("commit");
    // Unchanged set: the next set may be left out.
    let block = light_block_from_parts(commit.clone(), &pages, None).expect("all pages");
    assert_eq!(block.validators.hash(), b.validators.hash());
    let err = light_block_from_parts(commit, &pages[..2], None).expect_err("a page missing");
    assert!(
        err.to_string().contains("expected all 7 validators, got 6"),
        "{err}"
    );
}

#[test]
fn a_changing_set_needs_the_next_validators() {
    let chain = rotating_chain("rpc-chain", 2);
    let b = &chain[0];
    let err = light_block_from_rpc(
        &commit_to_rpc(b).to_string(),
        &validators_to_rpc(1, &b.validators, 1, 100).to_string(),
        None,
    )
    .expect_err("set changes at 1");
    assert!(err.to_string().contains("/validators?height=2"), "{err}");
}

#[test]
fn errors_name_the_place_and_the_expectation() {
    let chain = rotating_chain("rpc-chain", 1);
    let b = &chain[0];
    let mut commit = commit_to_rpc(b);
    commit["signed_header"]["header"]["height"] = json!("not-a-number");
    let vals = validators_to_rpc(1, &b.validators, 1, 100).to_string();
    let err = light_block_from_rpc(&commit.to_string(), &vals, None).expect_err("bad height");
    match &err {
        Error::Decode { what, path, .. } => {
            assert_eq!(*what, "/commit result");
            assert!(path.contains("signed_header"), "{path}");
        }
        other => panic!("{other}"),
    }

    // A validator whose address is not its key's.
    let mut v = validators_to_rpc(1, &b.validators, 1, 100);
    v["validators"][1]["address"] = v["validators"][0]["address"].clone();
    let err = light_block_from_rpc(&commit_to_rpc(b).to_string(), &v.to_string(), None)
        .expect_err("address mismatch");
    assert!(err.to_string().contains(".validators[1].address"), "{err}");

    // Validators of another height.
    let v = validators_to_rpc(9, &b.validators, 1, 100);
    let err = light_block_from_rpc(&commit_to_rpc(b).to_string(), &v.to_string(), None)
        .expect_err("wrong height");
    assert!(err.to_string().contains("expected 1, got 9"), "{err}");

    // A node's error envelope.
    let e = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "height 99 must be less than or equal to the current blockchain height 5"}});
    let err = validators_from_rpc(&e.to_string()).expect_err("rpc error");
    assert!(
        err.to_string().contains("current blockchain height"),
        "{err}"
    );

    // Not JSON at all.
    let err = validators_from_rpc("{\"block_height\": ").expect_err("truncated");
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn tendermint_rs_light_block_json_reads_the_vectors() {
    let path = vectors(
        "tendermint-rs/light-client/tests/support/model_based/single_step/MC4_4_faulty_TestSuccess.json",
    );
    let v: serde_json::Value = serde_json::from_str(&read(&path)).expect("json");
    let block = light_block_from_json(&v["input"][0]["block"].to_string()).expect("LightBlock");
    assert_eq!(block.height().value(), 5);
    // Round trip: the trusted state persists in the same format.
    let state = TrustedState::new(block.clone()).expect("consistent");
    let text = serde_json::to_string(&state).expect("serializes");
    assert_eq!(light_block_from_json(&text).expect("reads back"), block);
    let err = light_block_from_json(&v["input"][0].to_string()).expect_err("a step, not a block");
    assert!(err.to_string().contains("LightBlock"), "{err}");
}

#[test]
fn the_known_header_hash_holds() {
    // SOURCES.md §1a: a real header (dockerchain, 1608) and its hash.
    let text = read(&vectors(
        "tendermint-rs/tendermint/tests/support/serialization/block/header_with_known_hash.json",
    ));
    let header: tendermint::block::Header = serde_json::from_str(&text).expect("header");
    assert_eq!(
        header.hash().to_string(),
        "F30A71F2409FB15AACAEDB6CC122DFA2525BEE9CAE521721B06BFDCA291B8D56"
    );
}

#[test]
fn operators_files_are_read_in_either_format_and_verified_step_by_step() {
    use switchyard_lc_cometbft::json::{light_block_auto, light_blocks_auto};
    use switchyard_lc_cometbft::{VerdictClass, verify_sequence};

    let chain = rotating_chain("cli-chain", 4);
    // Block 2 as an RPC bundle (enveloped commit, paged validators),
    // block 3 as LightBlock JSON, block 4 with a tampered header.
    let bundle = json!({
        "commit": json!({"jsonrpc": "2.0", "id": 1, "result": commit_to_rpc(&chain[1])}),
        "validators": [validators_to_rpc(2, &chain[1].validators, 1, 3), validators_to_rpc(2, &chain[1].validators, 2, 3)],
        "next_validators": validators_to_rpc(3, &chain[1].next_validators, 1, 100),
    });
    let mut forged = chain[3].clone();
    forged.signed_header.header.app_hash =
        tendermint::AppHash::try_from(vec![1; 32]).expect("app hash");
    let text = serde_json::to_string(&json!([
        bundle,
        serde_json::to_value(&chain[2]).expect("block"),
        serde_json::to_value(&forged).expect("block"),
    ]))
    .expect("json");
    let blocks = light_blocks_auto(&text).expect("three blocks");
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[0].signed_header, chain[1].signed_header);

    let mut trusted = TrustedState::new(
        light_block_auto(&serde_json::to_string(&chain[0]).expect("json")).expect("one"),
    )
    .expect("trusted");
    let client = LightClient::new(options(Duration::from_secs(600)), SignatureBackend::Batch);
    let reports = verify_sequence(&client, &mut trusted, &blocks, time_of(10));
    let verdicts: Vec<_> = reports.iter().map(|r| r.verdict).collect();
    assert_eq!(
        verdicts,
        [
            VerdictClass::Success,
            VerdictClass::Success,
            VerdictClass::Invalid
        ]
    );
    assert_eq!(trusted.height(), 3, "stays at the last success");
    let line = serde_json::to_string(&reports[2]).expect("report");
    assert!(
        line.starts_with(r#"{"height":4,"trusted_height":3,"verdict":"INVALID","error":"#),
        "{line}"
    );
    assert!(
        serde_json::to_string(&reports[0])
            .expect("report")
            .contains(r#""verdict":"SUCCESS""#)
    );

    // A bundle with a broken part says which part.
    let mut bad = serde_json::from_str::<serde_json::Value>(&text).expect("json");
    bad[0]["validators"][1]["validators"][0]["voting_power"] = json!("lots");
    let err = light_blocks_auto(&bad.to_string()).expect_err("bad power");
    let msg = err.to_string();
    assert!(
        msg.contains("at [0].validators.validators[0].voting_power"),
        "{msg}"
    );
    let err = light_block_auto(r#"{"header": {}}"#).expect_err("neither format");
    assert!(err.to_string().contains("RPC bundle"), "{err}");
}

#[test]
fn a_persisted_trusted_state_is_checked_when_read_back() {
    let chain = rotating_chain("persist", 2);
    let state = TrustedState::new(chain[0].clone()).expect("consistent");
    let text = serde_json::to_string(&state).expect("serializes");
    let back: TrustedState = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, state);
    // Someone swapped the next validator set in the file.
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["next_validator_set"] = serde_json::to_value(&chain[1].next_validators).expect("set");
    let err = serde_json::from_value::<TrustedState>(v).expect_err("inconsistent");
    assert!(
        err.to_string().contains("next validator set hashes to"),
        "{err}"
    );
}
