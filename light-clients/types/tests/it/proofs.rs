//! The single-proof vectors: `proof.json`, `messageWithProof.json` and
//! `proveAndProcess.json`.
//!
//! The last two come from the pre-v3 Abacus/Optics Inbox tests, so their
//! messages use older layouts and leaf rules than [`Message`]; the tests say
//! which rule each leaf follows rather than forcing the v3 id onto them.

use serde::Deserialize;
use switchyard_types::{
    B256, Bytes, HEADER_LEN, IncrementalMerkle, Message, MessageError, branch_root, id_of_encoded,
    keccak256, prove,
};

use crate::vectors::{assert_mutations_fail, eip191, load};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Proof {
    leaf: B256,
    index: u32,
    path: [B256; 32],
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootedProof {
    proof: Proof,
    root: B256,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageWithProof {
    leaf: B256,
    index: u32,
    proof: [B256; 32],
    message: Bytes,
    root: B256,
}

fn tree_of(leaves: &[B256]) -> IncrementalMerkle {
    let mut tree = IncrementalMerkle::new();
    for leaf in leaves {
        tree.ingest(*leaf).expect("small tree");
    }
    tree
}

/// The Abacus Inbox leaf: `keccak256(abi.encodePacked(message, uint256 index))`.
fn abacus_leaf(message: &[u8], index: u32) -> B256 {
    let mut buf = message.to_vec();
    buf.extend_from_slice(B256::left_padding_from(&index.to_be_bytes()).as_slice());
    keccak256(buf)
}

#[test]
fn proof_json_checks_against_its_root() {
    let v: RootedProof = load("proof.json");
    let p = &v.proof;
    assert_eq!(branch_root(p.leaf, &p.path, p.index), v.root);
    assert_mutations_fail("proof.json", p.leaf, &p.path, p.index, v.root);
}

#[test]
fn message_with_proof_checks_against_its_root() {
    let v: MessageWithProof = load("messageWithProof.json");
    assert_eq!(branch_root(v.leaf, &v.proof, v.index), v.root);
    assert_mutations_fail("messageWithProof.json", v.leaf, &v.proof, v.index, v.root);
}

#[test]
fn message_with_proof_leaf_is_the_abacus_leaf_of_its_message() {
    let v: MessageWithProof = load("messageWithProof.json");
    // Abacus layout `origin u32 | sender | destination u32 | recipient | body`
    // (74 bytes here), which is no v3 message: the leaf is not its v3 id.
    assert_eq!(
        Message::decode(&v.message),
        Err(MessageError::TooShort {
            expected: HEADER_LEN,
            got: v.message.len()
        })
    );
    assert_ne!(id_of_encoded(&v.message), v.leaf);
    assert_eq!(abacus_leaf(&v.message, v.index), v.leaf);
    // The tree is the same message twice (indices 0 and 1); rebuilding it
    // gives the vector's root and path independently of `branch_root`.
    let leaves = [v.leaf, abacus_leaf(&v.message, 1)];
    assert_eq!(tree_of(&leaves).root(), v.root);
    assert_eq!(prove(&leaves, v.index), v.proof);
}

#[test]
fn prove_and_process_checks_against_its_rebuilt_tree() {
    let cases: Vec<Proof> = load("proveAndProcess.json");
    assert_eq!(cases.len(), 1, "proveAndProcess.json holds 1 case");
    for p in &cases {
        // The file has no root: upstream derives it with `branchRoot`. Its
        // path shows the tree: the leaf, then merkle.json's "two" and
        // "three". Rebuilding that tree must give the same root and path.
        let leaves = [p.leaf, eip191("two"), eip191("three")];
        let root = tree_of(&leaves).root();
        assert_eq!(branch_root(p.leaf, &p.path, p.index), root);
        assert_eq!(prove(&leaves, p.index), p.path);
        assert_mutations_fail("proveAndProcess.json", p.leaf, &p.path, p.index, root);
    }
}

#[test]
fn prove_and_process_leaf_is_the_id_of_the_upstream_message() {
    let cases: Vec<Proof> = load("proveAndProcess.json");
    // The file carries no message. Upstream's test ("Proves and processes a
    // message") builds it as Optics `formatMessage(1000, sender, 0, 2000,
    // recipient, 0x)`, layout `origin | sender | nonce | destination |
    // recipient | body`, with hardhat account #0 as sender and the first
    // contract it deploys as recipient; its keccak is the leaf.
    let message = [
        &1000u32.to_be_bytes()[..],
        B256::left_padding_from(
            &hex::decode("f39fd6e51aad88f6f4ce6ab8827279cfffb92266").expect("hex"),
        )
        .as_slice(),
        &0u32.to_be_bytes(),
        &2000u32.to_be_bytes(),
        B256::left_padding_from(
            &hex::decode("5fbdb2315678afecb367f032d93f642f64180aa3").expect("hex"),
        )
        .as_slice(),
    ]
    .concat();
    assert_eq!(id_of_encoded(&message), cases[0].leaf);
}
