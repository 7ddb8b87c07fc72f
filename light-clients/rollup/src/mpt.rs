//! Merkle-Patricia account and storage proofs in the `eth_getProof` form
//! (EIP-1186): the nodes from the root down to the key's leaf, each the RLP
//! of a trie node (Yellow Paper appendix D), keys hashed with keccak256
//! (the "secure" trie).
//!
//! The walk itself is alloy-trie's `verify_proof` (the verifier reth
//! uses); this module picks the value an account proof leads to, bounds
//! the input, decodes the account strictly and names the failure.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::Decodable;
use alloy_trie::Nibbles;
use alloy_trie::nodes::TrieNode;
use alloy_trie::proof::{ProofVerificationError, verify_proof};
use serde::Serialize;
use switchyard_lc_evm::rlp::Item;

use crate::error::{Layer, ProofFailure, RollupError};

/// At most this many nodes in a proof: a 32-byte key has 64 nibbles and
/// every node below the root consumes at least one.
pub const MAX_PROOF_NODES: usize = 65;

/// At most this many bytes in a node. The largest node of a trie holding
/// accounts and storage words is a full branch (16 hash references and an
/// empty value, 532 bytes); the bound leaves room and stops a hostile
/// bundle from making the verifier hash megabytes.
pub const MAX_NODE_BYTES: usize = 1024;

/// An account as the state trie holds it (Yellow Paper section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Account {
    /// Transactions sent, or contracts created.
    pub nonce: u64,
    /// Wei held.
    pub balance: U256,
    /// Root of the account's storage trie.
    pub storage_root: B256,
    /// keccak256 of the account's code.
    pub code_hash: B256,
}

fn bound(proof: &[Bytes]) -> Result<(), ProofFailure> {
    if proof.len() > MAX_PROOF_NODES {
        return Err(ProofFailure::TooManyNodes {
            max: MAX_PROOF_NODES,
            got: proof.len(),
        });
    }
    match proof.iter().position(|n| n.len() > MAX_NODE_BYTES) {
        Some(index) => Err(ProofFailure::NodeTooLarge {
            index,
            max: MAX_NODE_BYTES,
            got: proof[index].len(),
        }),
        None => Ok(()),
    }
}

fn failure(e: ProofVerificationError) -> ProofFailure {
    match e {
        // alloy-trie returns a root mismatch only for an empty proof (the
        // empty trie's root against the one asked for).
        ProofVerificationError::RootMismatch { expected, .. } => {
            ProofFailure::EmptyProof { root: expected }
        }
        ProofVerificationError::ValueMismatch {
            path,
            got,
            expected,
        } => ProofFailure::Mismatch {
            nibble: path.len(),
            expected,
            got,
        },
        ProofVerificationError::UnexpectedEmptyRoot => ProofFailure::Malformed {
            reason: "an empty-root node inside a proof".into(),
        },
        ProofVerificationError::Rlp(e) => ProofFailure::Malformed {
            reason: e.to_string(),
        },
    }
}

/// The value of the last node when it is a leaf: the account an inclusion
/// proof proves. An account leaf is at least 70 bytes, so never inlined in
/// its parent: the leaf is always the proof's last node.
fn leaf_value(proof: &[Bytes]) -> Option<Vec<u8>> {
    let last = proof.last()?;
    match TrieNode::decode(&mut last.as_ref()) {
        Ok(TrieNode::Leaf(leaf)) => Some(leaf.value),
        _ => None,
    }
}

/// Verifies that `proof` proves `address`'s account under `state_root` and
/// returns the account.
///
/// A valid proof that the account does not exist is
/// [`RollupError::AccountAbsent`]: every contract this crate reads exists.
pub fn verify_account(
    layer: Layer,
    state_root: B256,
    address: Address,
    proof: &[Bytes],
) -> Result<Account, RollupError> {
    let err = |failure| RollupError::AccountProof {
        layer,
        address,
        state_root,
        failure: Box::new(failure),
    };
    bound(proof).map_err(err)?;
    let key = Nibbles::unpack(keccak256(address));
    let candidate = leaf_value(proof);
    let value = match verify_proof(state_root, key, candidate.clone(), proof) {
        Ok(()) => candidate,
        // The last leaf is another key's: the proof may still be a valid
        // proof that the account is absent, which deserves its own answer.
        Err(_) if candidate.is_some() && verify_proof(state_root, key, None, proof).is_ok() => None,
        Err(e) => return Err(err(failure(e))),
    };
    let Some(value) = value else {
        return Err(RollupError::AccountAbsent {
            layer,
            address,
            state_root,
        });
    };
    decode_account(&value).map_err(|reason| err(ProofFailure::Malformed { reason }))
}

/// Strictly decodes the RLP of an account: a list of exactly four strings,
/// integers without leading zeros, hashes of 32 bytes. Decoding is strict
/// because the proof covers these exact bytes: a lenient decoder would read
/// a value the chain never stored.
pub fn decode_account(rlp: &[u8]) -> Result<Account, String> {
    let item = Item::decode(rlp).map_err(|e| format!("account: {e}"))?;
    let Item::List(fields) = item else {
        return Err("account: expected a list, got a string".into());
    };
    let [nonce, balance, storage_root, code_hash] = fields.as_slice() else {
        return Err(format!("account: expected 4 fields, got {}", fields.len()));
    };
    let bytes = |item: &Item, name: &'static str| match item {
        Item::Bytes(b) => Ok(b.clone()),
        Item::List(_) => Err(format!("account {name}: expected a string, got a list")),
    };
    let integer = |item: &Item, name: &'static str, max: usize| {
        let b = bytes(item, name)?;
        if b.len() > max {
            return Err(format!(
                "account {name}: at most {max} bytes, got {}",
                b.len()
            ));
        }
        if b.first() == Some(&0) {
            return Err(format!("account {name}: integer with a leading zero byte"));
        }
        Ok(b)
    };
    let hash = |item: &Item, name: &'static str| {
        let b = bytes(item, name)?;
        if b.len() != 32 {
            return Err(format!(
                "account {name}: expected 32 bytes, got {}",
                b.len()
            ));
        }
        Ok(B256::from_slice(&b))
    };
    let nonce = integer(nonce, "nonce", 8)?;
    let balance = integer(balance, "balance", 32)?;
    Ok(Account {
        nonce: nonce.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)),
        balance: U256::from_be_slice(&balance),
        storage_root: hash(storage_root, "storage_root")?,
        code_hash: hash(code_hash, "code_hash")?,
    })
}

/// Verifies that `proof` proves `slot` of `address` holds `value` under the
/// account's `storage_root`. A zero value is proven by exclusion (the trie
/// keeps no zero words), as `eth_getProof` returns it.
pub fn verify_storage(
    layer: Layer,
    address: Address,
    storage_root: B256,
    slot: B256,
    value: U256,
    proof: &[Bytes],
) -> Result<(), RollupError> {
    let err = |failure| RollupError::StorageProof {
        layer,
        address,
        slot,
        storage_root,
        failure: Box::new(failure),
    };
    bound(proof).map_err(err)?;
    // A storage leaf holds rlp(word without leading zeros).
    let expected = (!value.is_zero()).then(|| alloy_rlp::encode(value));
    verify_proof(
        storage_root,
        Nibbles::unpack(keccak256(slot)),
        expected,
        proof,
    )
    .map_err(|e| err(failure(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_trie::proof::ProofRetainer;
    use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder};

    /// The proof failure of a refused proof.
    fn failure_of<T: std::fmt::Debug>(r: Result<T, RollupError>) -> ProofFailure {
        match r {
            Err(RollupError::StorageProof { failure, .. })
            | Err(RollupError::AccountProof { failure, .. }) => *failure,
            other => panic!("a refused proof, got {other:?}"),
        }
    }

    /// A storage trie of `slots` and the proof of `target`.
    fn storage_trie(slots: &[(B256, U256)], target: B256) -> (B256, Vec<Bytes>) {
        let mut leaves: Vec<(Nibbles, Vec<u8>)> = slots
            .iter()
            .map(|(k, v)| (Nibbles::unpack(keccak256(k)), alloy_rlp::encode(*v)))
            .collect();
        leaves.sort();
        let key = Nibbles::unpack(keccak256(target));
        let mut hb = HashBuilder::default().with_proof_retainer(ProofRetainer::new(vec![key]));
        for (k, v) in &leaves {
            hb.add_leaf(*k, v);
        }
        let root = hb.root();
        let proof = hb
            .take_proof_nodes()
            .matching_nodes_sorted(&key)
            .into_iter()
            .map(|(_, node)| node)
            .collect();
        (root, proof)
    }

    fn slots() -> Vec<(B256, U256)> {
        (1u8..=40)
            .map(|i| (B256::with_last_byte(i), U256::from(i) << 200))
            .collect()
    }

    #[test]
    fn storage_inclusion_and_exclusion() {
        let slots = slots();
        let a = Address::repeat_byte(1);
        let target = B256::with_last_byte(7);
        let (root, proof) = storage_trie(&slots, target);
        assert!(proof.len() >= 2, "a branch above the leaf");
        let value = U256::from(7u8) << 200;
        assert_eq!(
            verify_storage(Layer::L1, a, root, target, value, &proof),
            Ok(())
        );
        // Another value, zero included, is refused.
        for wrong in [value + U256::from(1), U256::ZERO] {
            let f = failure_of(verify_storage(Layer::L1, a, root, target, wrong, &proof));
            assert!(
                matches!(f, ProofFailure::Mismatch { nibble: 64, .. }),
                "{f}"
            );
        }
        // An absent slot is proven zero, and only zero.
        let absent = B256::with_last_byte(200);
        let (root2, proof2) = storage_trie(&slots, absent);
        assert_eq!(root2, root);
        assert_eq!(
            verify_storage(Layer::L1, a, root, absent, U256::ZERO, &proof2),
            Ok(())
        );
        assert!(verify_storage(Layer::L1, a, root, absent, U256::from(1), &proof2).is_err());
    }

    #[test]
    fn empty_storage() {
        let a = Address::repeat_byte(1);
        assert_eq!(
            verify_storage(Layer::L2, a, EMPTY_ROOT_HASH, B256::ZERO, U256::ZERO, &[]),
            Ok(())
        );
        assert!(matches!(
            verify_storage(
                Layer::L2,
                a,
                EMPTY_ROOT_HASH,
                B256::ZERO,
                U256::from(1),
                &[]
            ),
            Err(RollupError::StorageProof { .. })
        ));
        let f = failure_of(verify_storage(
            Layer::L2,
            a,
            B256::repeat_byte(9),
            B256::ZERO,
            U256::ZERO,
            &[],
        ));
        assert!(matches!(f, ProofFailure::EmptyProof { .. }), "{f}");
    }

    #[test]
    fn bounds() {
        let a = Address::repeat_byte(1);
        let many = vec![Bytes::from_static(&[0x80]); MAX_PROOF_NODES + 1];
        let f = failure_of(verify_storage(
            Layer::L1,
            a,
            B256::ZERO,
            B256::ZERO,
            U256::ZERO,
            &many,
        ));
        assert!(
            matches!(f, ProofFailure::TooManyNodes { got: 66, .. }),
            "{f}"
        );
        let big = vec![Bytes::from(vec![0u8; MAX_NODE_BYTES + 1])];
        let f = failure_of(verify_account(Layer::L1, B256::ZERO, a, &big));
        assert!(
            matches!(f, ProofFailure::NodeTooLarge { index: 0, .. }),
            "{f}"
        );
    }

    #[test]
    fn account_decoding_is_strict() {
        let mut ok = Vec::new();
        Item::List(vec![
            Item::Bytes(vec![1]),
            Item::Bytes(vec![2, 0]),
            Item::Bytes(vec![3; 32]),
            Item::Bytes(vec![4; 32]),
        ])
        .encode(&mut ok);
        assert_eq!(
            decode_account(&ok),
            Ok(Account {
                nonce: 1,
                balance: U256::from(0x200),
                storage_root: B256::repeat_byte(3),
                code_hash: B256::repeat_byte(4),
            })
        );
        let bad = |items: Vec<Item>| {
            let mut out = Vec::new();
            Item::List(items).encode(&mut out);
            decode_account(&out)
        };
        let root = || Item::Bytes(vec![3; 32]);
        assert!(
            bad(vec![
                Item::Bytes(vec![0, 1]),
                Item::Bytes(vec![]),
                root(),
                root()
            ])
            .is_err()
        );
        assert!(bad(vec![Item::Bytes(vec![]), Item::Bytes(vec![]), root()]).is_err());
        assert!(
            bad(vec![
                Item::Bytes(vec![]),
                Item::Bytes(vec![]),
                root(),
                root(),
                Item::Bytes(vec![])
            ])
            .is_err()
        );
        assert!(
            bad(vec![
                Item::Bytes(vec![]),
                Item::Bytes(vec![]),
                Item::Bytes(vec![3; 31]),
                root()
            ])
            .is_err()
        );
        assert!(
            bad(vec![
                Item::Bytes(vec![1; 9]),
                Item::Bytes(vec![]),
                root(),
                root()
            ])
            .is_err()
        );
    }
}
