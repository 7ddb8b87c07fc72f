//! The outbox commitment path end to end: a Switchyard message stored
//! under `switchyard` / `"outbox/" ‖ destination ‖ nonce` in an IAVL store,
//! the store root under the multistore's simple merkle map, checked against
//! the app hash the way `abci_query ... prove=true` returns it (two ops).

use ics23::commitment_proof::Proof;
use ics23::{CommitmentProof, ExistenceProof, HashOp, HostFunctionsManager, InnerOp, LeafOp};
use prost::Message as _;
use switchyard_lc_cometbft::Error;
use switchyard_lc_cometbft::outbox::{
    OUTBOX_STORE, message_from_entry, outbox_key, parse_outbox_key, verify_entry,
};
use switchyard_lc_cometbft::proof::ProofOp;
use switchyard_types::{B256, Message};

const ORIGIN: u32 = 7_000;

fn message(nonce: u32, destination: u32) -> Message {
    Message {
        version: 3,
        nonce,
        origin: ORIGIN,
        sender: B256::repeat_byte(0x11),
        destination,
        recipient: B256::repeat_byte(0x22),
        body: b"hello from a cosmos chain".to_vec().into(),
    }
}

fn root(p: &ExistenceProof) -> Vec<u8> {
    ics23::calculate_existence_root::<HostFunctionsManager>(p).expect("root")
}

/// An IAVL leaf (height 0, size 1, version 5), as iavl's `proof.go`
/// encodes its prefix: zigzag varints.
fn iavl_leaf() -> LeafOp {
    LeafOp {
        hash: HashOp::Sha256.into(),
        prehash_key: 0,
        prehash_value: HashOp::Sha256.into(),
        length: ics23::LengthOp::VarProto.into(),
        prefix: vec![0x00, 0x02, 0x0a],
    }
}

fn simple_leaf() -> LeafOp {
    ics23::tendermint_spec().leaf_spec.expect("leaf spec")
}

fn leaf_proof(leaf: LeafOp, key: &[u8], value: &[u8], path: Vec<InnerOp>) -> ExistenceProof {
    ExistenceProof {
        key: key.to_vec(),
        value: value.to_vec(),
        leaf: Some(leaf),
        path,
    }
}

fn encode(p: ExistenceProof) -> Vec<u8> {
    CommitmentProof {
        proof: Some(Proof::Exist(p)),
    }
    .encode_to_vec()
}

/// A two-leaf IAVL store holding `key = value` (right child) beside
/// another entry, and a two-store multistore (`bank`, `switchyard`).
/// Returns the app hash and the two ops, innermost first.
fn chain_for(key: &[u8], value: &[u8]) -> (Vec<u8>, Vec<ProofOp>) {
    let sibling = root(&leaf_proof(
        iavl_leaf(),
        &outbox_key(0),
        b"an earlier message",
        vec![],
    ));
    // IAVL inner node: height 1, size 2, version 5, then the length-prefixed
    // left hash and the right child's length prefix.
    let mut prefix = vec![0x02, 0x04, 0x0a, 0x20];
    prefix.extend_from_slice(&sibling);
    prefix.push(0x20);
    let store_proof = leaf_proof(
        iavl_leaf(),
        key,
        value,
        vec![InnerOp {
            hash: HashOp::Sha256.into(),
            prefix,
            suffix: vec![],
        }],
    );
    let store_root = root(&store_proof);

    let bank = root(&leaf_proof(simple_leaf(), b"bank", &[0xba; 32], vec![]));
    let mut prefix = vec![0x01];
    prefix.extend_from_slice(&bank);
    let multi_proof = leaf_proof(
        simple_leaf(),
        OUTBOX_STORE,
        &store_root,
        vec![InnerOp {
            hash: HashOp::Sha256.into(),
            prefix,
            suffix: vec![],
        }],
    );
    let app_hash = root(&multi_proof);
    let ops = vec![
        ProofOp::decode("ics23:iavl", key, &encode(store_proof)).expect("iavl op"),
        ProofOp::decode("ics23:simple", OUTBOX_STORE, &encode(multi_proof)).expect("simple op"),
    ];
    (app_hash, ops)
}

#[test]
fn keys_are_big_endian_and_round_trip() {
    let key = outbox_key(0x0a0b_0c0d);
    assert_eq!(key, b"outbox/\x0a\x0b\x0c\x0d");
    assert_eq!(parse_outbox_key(&key).expect("key"), 0x0a0b_0c0d);
    assert!(outbox_key(2) < outbox_key(3) && outbox_key(0xff) < outbox_key(0x100));
    assert!(parse_outbox_key(b"outbox/short").is_err());
    assert!(parse_outbox_key(b"outbox/\x00\x00\x00").is_err());
    assert!(parse_outbox_key(b"inbox/\x00\x00\x00\x01").is_err());
    // The former layout (destination ‖ nonce) is refused, not misread.
    assert!(parse_outbox_key(b"outbox/\x00\x00\x00\x01\x00\x00\x00\x02").is_err());
}

#[test]
fn a_proven_entry_becomes_its_message() {
    let m = message(9, 42);
    let key = outbox_key(9);
    let value = m.encode();
    let (app_hash, ops) = chain_for(&key, &value);
    let got = verify_entry(&app_hash, &ops, ORIGIN, &key, &value).expect("proven");
    assert_eq!(got, m);
    assert_eq!(got.id(), m.id());
}

#[test]
fn a_wrong_app_hash_store_or_value_is_refused() {
    let m = message(9, 42);
    let key = outbox_key(9);
    let value = m.encode();
    let (app_hash, ops) = chain_for(&key, &value);

    let mut wrong = app_hash.clone();
    wrong[31] ^= 1;
    let err = verify_entry(&wrong, &ops, ORIGIN, &key, &value).expect_err("other app hash");
    assert!(matches!(err, Error::ProofInvalid { op: 1, .. }), "{err}");

    // Another message under the same key: the store proof fails.
    let other = message(9, 42);
    let mut other_value = other.encode();
    other_value.push(b'!');
    let err = verify_entry(&app_hash, &ops, ORIGIN, &key, &other_value).expect_err("other value");
    assert!(matches!(err, Error::ProofInvalid { op: 0, .. }), "{err}");

    // The same proof asked about another key.
    let key2 = outbox_key(10);
    let value2 = message(10, 42).encode();
    assert!(verify_entry(&app_hash, &ops, ORIGIN, &key2, &value2).is_err());

    // Only the store proof, without the multistore op.
    let err = verify_entry(&app_hash, &ops[..1], ORIGIN, &key, &value).expect_err("one op");
    assert!(matches!(err, Error::ProofMalformed { .. }), "{err}");

    // The store proven under another store name.
    let (bank_hash, bank_ops) = {
        let (h, mut o) = chain_for(&key, &value);
        o[1].key = b"bank".to_vec();
        (h, o)
    };
    // The op's own key is never trusted: the path says `switchyard`.
    assert!(verify_entry(&bank_hash, &bank_ops, ORIGIN, &key, &value).is_ok());
}

#[test]
fn entries_must_match_their_key_and_origin() {
    let m = message(9, 42);
    let key = outbox_key(9);
    let err = message_from_entry(ORIGIN + 1, &key, &m.encode()).expect_err("origin");
    assert!(
        matches!(
            err,
            Error::OutboxEntry {
                field: "origin",
                ..
            }
        ),
        "{err}"
    );
    // The destination is the message's own: any destination is taken.
    let other_dest = message(9, 43);
    assert_eq!(
        message_from_entry(ORIGIN, &key, &other_dest.encode()).expect("dest"),
        other_dest
    );
    let err = message_from_entry(ORIGIN, &outbox_key(8), &m.encode()).expect_err("nonce");
    assert!(err.to_string().contains("nonce"), "{err}");
    let mut v2 = message(9, 42);
    v2.version = 2;
    let err = message_from_entry(ORIGIN, &key, &v2.encode()).expect_err("version");
    assert!(
        matches!(
            err,
            Error::OutboxEntry {
                field: "version",
                ..
            }
        ),
        "{err}"
    );
    let err = message_from_entry(ORIGIN, &key, b"short").expect_err("not a message");
    assert!(
        matches!(err, Error::OutboxEntry { field: "value", .. }),
        "{err}"
    );
}

#[test]
fn an_absent_entry_is_proven_absent_through_both_ops() {
    // Non-membership: the IAVL vectors' non-existence proof as the store
    // proof, its root proven under a multistore as above.
    let text = std::fs::read_to_string(crate::support::vectors(
        "ics23/testdata/iavl/nonexist_middle.json",
    ))
    .expect("vector");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let key = hex::decode(v["key"].as_str().expect("key")).expect("hex");
    let store_root = hex::decode(v["root"].as_str().expect("root")).expect("hex");
    let proof = hex::decode(v["proof"].as_str().expect("proof")).expect("hex");
    let bank = root(&leaf_proof(simple_leaf(), b"bank", &[0xba; 32], vec![]));
    let mut prefix = vec![0x01];
    prefix.extend_from_slice(&bank);
    let multi = leaf_proof(
        simple_leaf(),
        OUTBOX_STORE,
        &store_root,
        vec![InnerOp {
            hash: HashOp::Sha256.into(),
            prefix,
            suffix: vec![],
        }],
    );
    let app_hash = root(&multi);
    let ops = vec![
        ProofOp::decode("ics23:iavl", &key, &proof).expect("iavl"),
        ProofOp::decode("ics23:simple", OUTBOX_STORE, &encode(multi)).expect("simple"),
    ];
    switchyard_lc_cometbft::proof::verify_non_membership(&app_hash, &ops, &[OUTBOX_STORE, &key])
        .expect("absent");
    let mut wrong = app_hash;
    wrong[0] ^= 1;
    assert!(
        switchyard_lc_cometbft::proof::verify_non_membership(&wrong, &ops, &[OUTBOX_STORE, &key])
            .is_err()
    );
}
