//! The RIP-7755 vectors (`shared/vectors/rip7755`, SOURCES.md section 6):
//! real Arbitrum Sepolia data, an OP Stack devnet, and four invalid
//! variants, each refused at the hop it breaks.

use std::collections::BTreeSet;

use alloy_primitives::{B256, U256, keccak256};
use alloy_rlp::Decodable;
use alloy_trie::Nibbles;
use alloy_trie::nodes::{RlpNode, TrieNode};
use switchyard_lc_rollup::mpt::{decode_account, verify_storage};
use switchyard_lc_rollup::{
    Bundle, Commitment, FinalityPolicy, Hop, L1Anchor, Layer, RollupError, RollupKind, Settlement,
    Target, TrustMode, verify_bundle, verify_bundle_at_state_root,
};

use crate::support::{
    ARB_SEPOLIA_ROLLUP, ARB_UPSTREAM_INBOX, OP_DEVNET_CONTRACT, arbitrum_target, op_target,
    without_l2_proof,
};
use crate::vectors::{self, bundle};

const ARB: &str = "ArbitrumSepoliaProof.json";
const OP: &str = "OPSepoliaProof.json";
const NOW: u64 = 1_750_000_000;

fn arb() -> Bundle {
    bundle(RollupKind::Arbitrum, ARB)
}

fn op() -> Bundle {
    bundle(RollupKind::OpStack, OP)
}

fn own_beacon_root(b: &Bundle) -> Option<B256> {
    Some(b.state_proof().beacon_root)
}

#[test]
fn arbitrum_sepolia_verifies_every_hop() {
    let b = without_l2_proof(&arb());
    let Bundle::Arbitrum(a) = &b else {
        unreachable!("parsed as Arbitrum")
    };
    let v = verify_bundle(
        &arbitrum_target(),
        &b,
        own_beacon_root(&b),
        &FinalityPolicy::default(),
        NOW,
    )
    .expect("the real Arbitrum Sepolia chain of proofs verifies");
    assert_eq!(v.kind, RollupKind::Arbitrum);
    assert_eq!(v.l2_block_number, 117_201_326);
    assert_eq!(v.l2_block_hash, a.after_state.block_hash());
    assert_eq!(v.l2_block_hash, keccak256(&a.encoded_block_array));
    assert_eq!(
        v.header.hash(),
        v.l2_block_hash,
        "the EVM client's hash agrees"
    );
    assert_eq!(v.trust, TrustMode::Final);
    assert_eq!(
        v.l1_anchor,
        L1Anchor::BeaconRoot {
            root: a.state_proof_params.beacon_root
        }
    );
    assert_eq!(v.l1_state_root, a.state_proof_params.execution_state_root);
    let Commitment::Assertion {
        rollup,
        send_root,
        node,
        ..
    } = v.commitment
    else {
        panic!("an assertion: {:?}", v.commitment)
    };
    assert_eq!(rollup, ARB_SEPOLIA_ROLLUP);
    assert_eq!(node.status, 2, "Confirmed");
    assert_eq!(node.created_at_block, 0x734e3e);
    assert_eq!(send_root, a.after_state.send_root());
    assert_eq!(v.header.extra_data.as_ref(), send_root.as_slice());
    assert_eq!(v.block_ref().number, 117_201_326);
    assert_eq!(v.l2_storage, None);
    // A Confirmed assertion is final whatever the clock says.
    let v0 = verify_bundle(&arbitrum_target(), &b, None, &FinalityPolicy::default(), 0)
        .expect("verifies");
    assert_eq!(v0.trust, TrustMode::Final);
    assert_eq!(v0.l1_anchor, L1Anchor::Unanchored);
}

#[test]
fn arbitrum_sepolia_l2_slot_is_checked_against_the_target_account() {
    let b = arb();
    // A bundle proving an L2 slot of an account the target does not name
    // proves nothing about it.
    let e = verify_bundle(
        &arbitrum_target(),
        &b,
        None,
        &FinalityPolicy::default(),
        NOW,
    )
    .expect_err("refused");
    assert_eq!(e, RollupError::NoL2Account);
    assert_eq!(e.hop(), Hop::Bundle);
    // The upstream tests' inbox is not the account the vector proves.
    let target = Target {
        l2_account: Some(ARB_UPSTREAM_INBOX),
        ..arbitrum_target()
    };
    let e = verify_bundle(&target, &b, None, &FinalityPolicy::default(), NOW).expect_err("refused");
    assert!(
        matches!(e, RollupError::AccountProof { layer: Layer::L2, address, .. } if address == ARB_UPSTREAM_INBOX),
        "{e}"
    );
    assert_eq!(e.hop(), Hop::L2Account);
}

/// The hashed key a proof walks to: the branch child that references the
/// next node, then the extension and leaf key nibbles.
fn walked_key(proof: &[alloy_primitives::Bytes]) -> B256 {
    let mut path = Nibbles::new();
    for (i, node) in proof.iter().enumerate() {
        match TrieNode::decode(&mut node.as_ref()).expect("trie node") {
            TrieNode::Branch(branch) => {
                let next = RlpNode::word_rlp(&keccak256(&proof[i + 1]));
                let child = branch
                    .as_ref()
                    .children()
                    .find(|(_, c)| c.is_some_and(|c| *c == next))
                    .map(|(n, _)| n)
                    .expect("a child references the next node");
                path.push(child);
            }
            TrieNode::Extension(e) => path.extend(&e.key),
            TrieNode::Leaf(l) => path.extend(&l.key),
            TrieNode::EmptyRoot => panic!("empty root in a proof"),
        }
    }
    B256::from_slice(&path.pack())
}

#[test]
fn arbitrum_sepolia_l2_storage_proof_holds_under_the_proven_header() {
    // The vector does not record the L2 account's address, only its hashed
    // key is in the proof: walk the account proof by that key under the
    // proven header's state root, then the storage proof under the
    // account's storage root.
    let b = arb();
    let v = verify_bundle(
        &arbitrum_target(),
        &without_l2_proof(&b),
        None,
        &FinalityPolicy::default(),
        NOW,
    )
    .expect("verifies");
    let p = b.l2_proof().expect("the vector carries one");
    let key = walked_key(&p.account_proof);
    let leaf = match TrieNode::decode(&mut p.account_proof.last().expect("nodes").as_ref()) {
        Ok(TrieNode::Leaf(l)) => l.value,
        other => panic!("a leaf: {other:?}"),
    };
    alloy_trie::proof::verify_proof(
        v.header.state_root,
        Nibbles::unpack(key),
        Some(leaf.clone()),
        &p.account_proof,
    )
    .expect("the account proof holds under the proven header's state root");
    let account = decode_account(&leaf).expect("an account");
    let value = U256::from_be_slice(&p.storage_value);
    let none = alloy_primitives::Address::ZERO;
    verify_storage(
        Layer::L2,
        none,
        account.storage_root,
        p.storage_key,
        value,
        &p.storage_proof,
    )
    .expect("the slot holds the vector's value");
    assert!(
        verify_storage(
            Layer::L2,
            none,
            account.storage_root,
            p.storage_key,
            value + U256::from(1),
            &p.storage_proof
        )
        .is_err()
    );
}

#[test]
fn op_devnet_verifies_under_its_own_branch() {
    let b = op();
    let Bundle::OpStack(o) = &b else {
        unreachable!("parsed as OP Stack")
    };
    for beacon in [own_beacon_root(&b), None] {
        let v = verify_bundle(&op_target(), &b, beacon, &FinalityPolicy::default(), NOW)
            .expect("the OP devnet chain of proofs verifies");
        assert_eq!(v.l2_block_number, 41);
        assert_eq!(v.l2_block_hash, keccak256(&o.encoded_block_array));
        assert_eq!(v.trust, TrustMode::Anchor);
        let Commitment::AnchorState {
            registry,
            game_type,
            output_root,
        } = v.commitment
        else {
            panic!("an anchor: {:?}", v.commitment)
        };
        assert_eq!((registry, game_type), (OP_DEVNET_CONTRACT, 0));
        assert_eq!(
            output_root.as_slice(),
            o.dst_l2_state_root_proof_params.storage_value.as_ref()
        );
        let slot = v.l2_storage.expect("the L2 slot was proven");
        assert_eq!(slot.address, OP_DEVNET_CONTRACT);
        let p = o.dst_l2_account_proof_params.as_ref().expect("L2 proof");
        assert_eq!(slot.slot, p.storage_key);
        assert_eq!(slot.value, U256::from_be_slice(&p.storage_value));
        // The devnet's message passer is empty (its storage root is the
        // empty root), as is the header's withdrawals root before Isthmus.
        assert_eq!(
            v.header.withdrawals_root,
            Some(o.l2_message_passer_storage_root)
        );
    }
}

#[test]
fn op_devnet_beacon_branch_is_placeholders() {
    let b = op();
    let sp = b.state_proof();
    // The siblings are keccak(uint256(i)): the devnet derived its "beacon
    // root" from placeholders, so the branch is consistent with that root
    // (checked above) and with no real beacon block.
    for (i, s) in sp.state_root_proof.iter().enumerate() {
        assert_eq!(
            *s,
            keccak256(U256::from(i).to_be_bytes::<32>()),
            "sibling {i}"
        );
    }
    // With a real beacon root trusted (Arbitrum Sepolia's, from the other
    // vector) the beacon hop refuses the bundle...
    let real = arb().state_proof().beacon_root;
    let e = verify_bundle(
        &op_target(),
        &b,
        Some(real),
        &FinalityPolicy::default(),
        NOW,
    )
    .expect_err("refused");
    assert_eq!(
        e,
        RollupError::BeaconRootMismatch {
            expected: real,
            got: sp.beacon_root
        }
    );
    assert_eq!(e.hop(), Hop::BeaconBranch);
    // ...and a bundle that claims that root has a branch that leads
    // elsewhere.
    let mut forged = b.clone();
    if let Bundle::OpStack(o) = &mut forged {
        o.state_proof_params.beacon_root = real;
    }
    let e = verify_bundle(
        &op_target(),
        &forged,
        Some(real),
        &FinalityPolicy::default(),
        NOW,
    )
    .expect_err("refused");
    assert!(
        matches!(e, RollupError::BeaconBranch { gindex: 6434, expected, got, .. } if expected == real && got == sp.beacon_root),
        "{e}"
    );
    assert_eq!(e.hop(), Hop::BeaconBranch);
}

/// Each invalid variant, the hop it must be refused at, and a check of the
/// variant.
#[test]
fn invalids_are_refused_at_their_hop() {
    type Check = fn(&RollupError) -> bool;
    let cases: [(&str, RollupKind, Target, Hop, Check); 4] = [
        (
            // The proven word's low byte changed (firstChildBlock 0 → 1).
            "invalids/ArbitrumInvalidL1State.json",
            RollupKind::Arbitrum,
            Target {
                l2_account: Some(ARB_UPSTREAM_INBOX),
                ..arbitrum_target()
            },
            Hop::L1Storage,
            |e| {
                matches!(e, RollupError::StorageProof { layer: Layer::L1, address, .. }
                    if *address == ARB_SEPOLIA_ROLLUP)
            },
        ),
        (
            // The anchor root claimed is not the one stored.
            "invalids/OPInvalidL1Storage.json",
            RollupKind::OpStack,
            op_target(),
            Hop::L1Storage,
            |e| {
                matches!(e, RollupError::StorageProof { layer: Layer::L1, address, .. }
                    if *address == OP_DEVNET_CONTRACT)
            },
        ),
        (
            // The message passer storage root does not give the stored
            // output root.
            "invalids/OPInvalidL2StateRoot.json",
            RollupKind::OpStack,
            op_target(),
            Hop::Commitment,
            |e| matches!(e, RollupError::OutputRoot { .. }),
        ),
        (
            // The L2 slot's value is not the one stored.
            "invalids/OPInvalidL2Storage.json",
            RollupKind::OpStack,
            op_target(),
            Hop::L2Storage,
            |e| {
                matches!(e, RollupError::StorageProof { layer: Layer::L2, address, .. }
                    if *address == OP_DEVNET_CONTRACT)
            },
        ),
    ];
    for (file, kind, target, hop, check) in cases {
        let b = bundle(kind, file);
        for beacon in [None, own_beacon_root(&b)] {
            let e = verify_bundle(&target, &b, beacon, &FinalityPolicy::default(), NOW)
                .expect_err(file);
            assert_eq!(e.hop(), hop, "{file}: {e}");
            assert!(check(&e), "{file}: {e:?}");
            assert!(!e.is_retryable(), "{file}: a forgery is never retried");
        }
    }
}

#[test]
fn every_vector_file_is_exercised() {
    // A file added to the vectors fails this test until a case covers it.
    fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                let rel = path.strip_prefix(base).expect("under base");
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let base = vectors::dir().join("rip7755/contracts/test/data");
    let mut found = BTreeSet::new();
    walk(&base, &base, &mut found);
    let covered: BTreeSet<String> = [
        ARB,
        OP,
        "invalids/ArbitrumInvalidL1State.json",
        "invalids/OPInvalidL1Storage.json",
        "invalids/OPInvalidL2StateRoot.json",
        "invalids/OPInvalidL2Storage.json",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(found, covered);
    // And each parses under its kind and not as the other.
    for f in &found {
        let kind = if f.contains("Arbitrum") {
            RollupKind::Arbitrum
        } else {
            RollupKind::OpStack
        };
        let other = if kind == RollupKind::Arbitrum {
            RollupKind::OpStack
        } else {
            RollupKind::Arbitrum
        };
        assert_eq!(bundle(kind, f).kind(), kind);
        assert!(Bundle::from_json(other, &vectors::text(f)).is_err(), "{f}");
    }
}

#[test]
fn policy_applies_to_the_vectors() {
    let off = FinalityPolicy {
        accept_anchor_state: false,
        ..FinalityPolicy::default()
    };
    let e = verify_bundle(&op_target(), &op(), None, &off, NOW).expect_err("refused");
    assert_eq!(e, RollupError::AnchorNotAccepted);
    assert_eq!(e.hop(), Hop::Finality);
    assert!(!e.is_retryable());
    // The anchor slot of another game type is not the one proven.
    let t1 = Target {
        settlement: Settlement::OpAnchorStateRegistry {
            registry: OP_DEVNET_CONTRACT,
            game_type: 1,
        },
        ..op_target()
    };
    let e = verify_bundle(&t1, &op(), None, &FinalityPolicy::default(), NOW).expect_err("refused");
    assert!(
        matches!(
            e,
            RollupError::StorageSlot {
                layer: Layer::L1,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.hop(), Hop::L1Storage);
}

#[test]
fn kinds_and_trusted_state_roots() {
    let e = verify_bundle(
        &arbitrum_target(),
        &op(),
        None,
        &FinalityPolicy::default(),
        NOW,
    )
    .expect_err("refused");
    assert_eq!(
        e,
        RollupError::KindMismatch {
            expected: RollupKind::Arbitrum,
            got: RollupKind::OpStack
        }
    );
    let b = op();
    let root = b.state_proof().execution_state_root;
    let v = verify_bundle_at_state_root(&op_target(), &b, root, &FinalityPolicy::default(), NOW)
        .expect("verifies");
    assert_eq!(v.l1_anchor, L1Anchor::StateRoot);
    let other = B256::repeat_byte(1);
    assert_eq!(
        verify_bundle_at_state_root(&op_target(), &b, other, &FinalityPolicy::default(), NOW),
        Err(RollupError::StateRootMismatch {
            expected: other,
            got: root
        })
    );
}

#[test]
fn bundles_round_trip_and_verdicts_are_one_json_line() {
    for (kind, f) in [(RollupKind::Arbitrum, ARB), (RollupKind::OpStack, OP)] {
        let b = bundle(kind, f);
        let json = serde_json::to_string(&b).expect("serializes");
        assert_eq!(Bundle::from_json(kind, &json).expect("parses"), b);
    }
    let v = verify_bundle(&op_target(), &op(), None, &FinalityPolicy::default(), NOW)
        .expect("verifies");
    let line = serde_json::to_string(&v).expect("serializes");
    assert!(!line.contains('\n'));
    let j: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(j["kind"], "op-stack");
    assert_eq!(j["l2_block_number"], 41);
    assert_eq!(j["trust"], "anchor");
    assert_eq!(j["l1_anchor"]["by"], "unanchored");
    assert_eq!(j["commitment"]["form"], "anchor_state");
    assert_eq!(j["l2_block_hash"], format!("{}", v.l2_block_hash).as_str());
}
