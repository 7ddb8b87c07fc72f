//! Beacon block root → execution state root: the SSZ branch of
//! `body.execution_payload.state_root` in a `BeaconBlock`
//! (consensus-specs phase0 `is_valid_merkle_branch`, Deneb containers).
//!
//! A `BeaconBlock` has 5 fields (depth 3, `body` at index 4 → gindex 12);
//! the Deneb body has 12 fields (depth 4, `execution_payload` at 9 → 25);
//! the Deneb execution payload has 17 fields (depth 5, `state_root` at 2 →
//! 34). Concatenated: gindex 12·16·32 + 9·32 + 2 = 6434, 12 siblings. The
//! Electra body adds a 13th field and the payload is unchanged, so the
//! index holds there too. The beacon block root is also the root of the
//! block's header (`hash_tree_root(BeaconBlockHeader)`), which is what the
//! beacon light client verifies.
//!
//! switchyard-lc-beacon keeps its branch check crate-private, so the dozen
//! lines of the spec's loop are here.

use alloy_primitives::B256;
use sha2::{Digest, Sha256};

use crate::error::RollupError;

/// Generalized index of `body.execution_payload.state_root` in a Deneb (and
/// Electra) `BeaconBlock`.
pub const STATE_ROOT_GINDEX: u64 = 6434;

/// Siblings in the branch: the depth of [`STATE_ROOT_GINDEX`].
pub const STATE_ROOT_BRANCH_LEN: usize = 12;

fn hash_pair(a: &B256, b: &B256) -> B256 {
    let mut h = Sha256::new();
    h.update(a);
    h.update(b);
    B256::from_slice(&h.finalize())
}

/// The root a branch leads to from `leaf` at `gindex` (its depth is the
/// branch's length).
pub fn branch_root(leaf: B256, branch: &[B256], gindex: u64) -> B256 {
    branch.iter().enumerate().fold(leaf, |value, (i, node)| {
        if (gindex >> i) & 1 == 1 {
            hash_pair(node, &value)
        } else {
            hash_pair(&value, node)
        }
    })
}

/// Checks that `branch` proves `state_root` as the execution payload's
/// state root of the beacon block whose root is `beacon_root`.
pub fn verify_state_root_branch(
    beacon_root: B256,
    state_root: B256,
    branch: &[B256],
) -> Result<(), RollupError> {
    if branch.len() != STATE_ROOT_BRANCH_LEN {
        return Err(RollupError::BeaconBranchLength {
            expected: STATE_ROOT_BRANCH_LEN,
            got: branch.len(),
        });
    }
    let got = branch_root(state_root, branch, STATE_ROOT_GINDEX);
    if got == beacon_root {
        Ok(())
    } else {
        Err(RollupError::BeaconBranch {
            gindex: STATE_ROOT_GINDEX,
            state_root,
            expected: beacon_root,
            got,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gindex_is_the_container_path() {
        // BeaconBlock.body (4 of 8) → body.execution_payload (9 of 16) →
        // payload.state_root (2 of 32).
        assert_eq!(((8 + 4) * 16 + 9) * 32 + 2, STATE_ROOT_GINDEX);
        assert_eq!(
            (63 - STATE_ROOT_GINDEX.leading_zeros()) as usize,
            STATE_ROOT_BRANCH_LEN
        );
    }

    #[test]
    fn branch_proves_its_leaf_only() {
        let leaf = B256::repeat_byte(7);
        let branch: Vec<B256> = (0..12).map(|i| B256::repeat_byte(0x10 + i)).collect();
        let root = branch_root(leaf, &branch, STATE_ROOT_GINDEX);
        assert_eq!(verify_state_root_branch(root, leaf, &branch), Ok(()));
        assert!(matches!(
            verify_state_root_branch(root, B256::repeat_byte(8), &branch),
            Err(RollupError::BeaconBranch { .. })
        ));
        let mut bad = branch.clone();
        bad[11][0] ^= 1;
        assert!(matches!(
            verify_state_root_branch(root, leaf, &bad),
            Err(RollupError::BeaconBranch { .. })
        ));
        assert_eq!(
            verify_state_root_branch(root, leaf, &branch[1..]),
            Err(RollupError::BeaconBranchLength {
                expected: 12,
                got: 11
            })
        );
        // The same branch at a neighbouring index proves nothing.
        assert_ne!(branch_root(leaf, &branch, STATE_ROOT_GINDEX + 1), root);
    }
}
