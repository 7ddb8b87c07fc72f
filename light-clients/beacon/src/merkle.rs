//! SSZ merkle branches and signing roots (phase0 `is_valid_merkle_branch`,
//! Electra `is_valid_normalized_merkle_branch`, `compute_domain`,
//! `compute_signing_root`).

use alloy_primitives::B256;
use sha2::{Digest, Sha256};

use crate::error::{Error, Proof, Result};

pub(crate) fn hash_pair(a: &B256, b: &B256) -> B256 {
    let mut h = Sha256::new();
    h.update(a);
    h.update(b);
    B256::from_slice(&h.finalize())
}

/// `floorlog2(gindex)`.
fn depth(gindex: u64) -> usize {
    (63 - gindex.leading_zeros()) as usize
}

/// `is_valid_normalized_merkle_branch`: a branch may be longer than the
/// depth of `gindex` (objects of a later fork carry the deeper Electra
/// branch shape), as long as the extra leading nodes are zero.
pub(crate) fn verify_branch(
    proof: Proof,
    leaf: B256,
    branch: &[B256],
    gindex: u64,
    root: B256,
) -> Result<()> {
    let depth = depth(gindex);
    if branch.len() < depth {
        return Err(Error::BranchLength {
            proof,
            expected: depth,
            got: branch.len(),
        });
    }
    let extra = branch.len() - depth;
    if branch[..extra].iter().any(|n| !n.is_zero()) {
        return Err(Error::BranchLength {
            proof,
            expected: depth,
            got: branch.len(),
        });
    }
    let index = gindex - (1 << depth);
    let mut value = leaf;
    for (i, node) in branch[extra..].iter().enumerate() {
        value = if (index >> i) & 1 == 1 {
            hash_pair(node, &value)
        } else {
            hash_pair(&value, node)
        };
    }
    if value == root {
        Ok(())
    } else {
        Err(Error::InvalidBranch {
            proof,
            gindex,
            leaf,
            root,
        })
    }
}

/// `compute_fork_data_root(current_version, genesis_validators_root)`.
pub(crate) fn fork_data_root(fork_version: [u8; 4], genesis_validators_root: B256) -> B256 {
    let mut version_chunk = B256::ZERO;
    version_chunk[..4].copy_from_slice(&fork_version);
    hash_pair(&version_chunk, &genesis_validators_root)
}

/// `compute_domain(domain_type, fork_version, genesis_validators_root)`.
pub(crate) fn compute_domain(
    domain_type: [u8; 4],
    fork_version: [u8; 4],
    genesis_validators_root: B256,
) -> B256 {
    let fork_data_root = fork_data_root(fork_version, genesis_validators_root);
    let mut domain = B256::ZERO;
    domain[..4].copy_from_slice(&domain_type);
    domain[4..].copy_from_slice(&fork_data_root[..28]);
    domain
}

/// `compute_signing_root(object, domain)` given the object's root.
pub(crate) fn signing_root(object_root: B256, domain: B256) -> B256 {
    hash_pair(&object_root, &domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(leaf: B256, branch: &[B256], gindex: u64) -> B256 {
        let mut v = leaf;
        let index = gindex - (1 << depth(gindex));
        for (i, n) in branch.iter().enumerate() {
            v = if (index >> i) & 1 == 1 {
                hash_pair(n, &v)
            } else {
                hash_pair(&v, n)
            };
        }
        v
    }

    #[test]
    fn branch_round_trip_and_padding() {
        let leaf = B256::repeat_byte(1);
        let branch: Vec<B256> = (0..6).map(|i| B256::repeat_byte(10 + i)).collect();
        let root = build(leaf, &branch, 105);
        assert_eq!(
            verify_branch(Proof::Finality, leaf, &branch, 105, root),
            Ok(())
        );
        let mut padded = vec![B256::ZERO];
        padded.extend_from_slice(&branch);
        assert_eq!(
            verify_branch(Proof::Finality, leaf, &padded, 105, root),
            Ok(())
        );
        padded[0] = B256::repeat_byte(1);
        assert!(matches!(
            verify_branch(Proof::Finality, leaf, &padded, 105, root),
            Err(Error::BranchLength {
                expected: 6,
                got: 7,
                ..
            })
        ));
        assert!(matches!(
            verify_branch(Proof::Finality, leaf, &branch[1..], 105, root),
            Err(Error::BranchLength {
                expected: 6,
                got: 5,
                ..
            })
        ));
        assert!(matches!(
            verify_branch(Proof::Finality, leaf, &branch, 104, root),
            Err(Error::InvalidBranch { gindex: 104, .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn any_branch_proves_only_its_own_leaf_and_position(
            leaf in proptest::array::uniform32(0u8..),
            nodes in proptest::collection::vec(proptest::array::uniform32(0u8..), 1..8),
            index_seed in 0u64..,
            flip in 0usize..256,
        ) {
            let leaf = B256::from(leaf);
            let branch: Vec<B256> = nodes.into_iter().map(B256::from).collect();
            let depth = branch.len();
            let gindex = (1u64 << depth) | (index_seed % (1 << depth));
            let root = build(leaf, &branch, gindex);
            proptest::prop_assert_eq!(verify_branch(Proof::Finality, leaf, &branch, gindex, root), Ok(()));

            let mut bad = branch.clone();
            bad[flip % depth][flip % 32] ^= 1;
            proptest::prop_assert!(verify_branch(Proof::Finality, leaf, &bad, gindex, root).is_err());
            let mut bad_leaf = leaf;
            bad_leaf[flip % 32] ^= 0x80;
            proptest::prop_assert!(verify_branch(Proof::Finality, bad_leaf, &branch, gindex, root).is_err());
        }
    }
}
