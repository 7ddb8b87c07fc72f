//! Property tests of the merkle tree against a naive full-tree computation
//! that shares no code with the crate (its own zero ladder, its own hashing).

use proptest::prelude::*;
use switchyard_types::{B256, IncrementalMerkle, branch_root, keccak256, prove};

fn pair(left: B256, right: B256) -> B256 {
    keccak256([left.as_slice(), right.as_slice()].concat())
}

/// Root of the depth-32 tree over `leaves` (at most 512): hash a full
/// 512-leaf bottom (height 9) padded with zeros, then climb the 23 levels
/// above it next to all-zero subtrees.
fn naive_root(leaves: &[B256]) -> B256 {
    const LOW: usize = 9;
    assert!(leaves.len() <= 1 << LOW);
    let mut level: Vec<B256> = leaves
        .iter()
        .copied()
        .chain(std::iter::repeat(B256::ZERO))
        .take(1 << LOW)
        .collect();
    let mut zero = B256::ZERO;
    for _ in 0..LOW {
        level = level.chunks(2).map(|p| pair(p[0], p[1])).collect();
        zero = pair(zero, zero);
    }
    let mut node = level[0];
    for _ in LOW..32 {
        node = pair(node, zero);
        zero = pair(zero, zero);
    }
    node
}

fn leaves(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<B256>> {
    proptest::collection::vec(any::<[u8; 32]>().prop_map(B256::from), len)
}

proptest! {
    #[test]
    fn incremental_root_equals_naive_root(leaves in leaves(0..300)) {
        let mut tree = IncrementalMerkle::new();
        for leaf in &leaves {
            tree.ingest(*leaf).expect("small tree");
        }
        prop_assert_eq!(tree.count() as usize, leaves.len());
        prop_assert_eq!(tree.root(), naive_root(&leaves));
    }
}

proptest! {
    // Every index of every tree is proved, O(n²) hashes a case: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn prove_and_branch_root_agree_for_every_index(leaves in leaves(1..300)) {
        let root = naive_root(&leaves);
        for (i, leaf) in leaves.iter().enumerate() {
            let index = u32::try_from(i).expect("small tree");
            let path = prove(&leaves, index);
            prop_assert_eq!(branch_root(*leaf, &path, index), root, "index {}", i);
        }
        // Past the end the tree holds zero leaves, and prove() proves those.
        let next = u32::try_from(leaves.len()).expect("small tree");
        prop_assert_eq!(branch_root(B256::ZERO, &prove(&leaves, next), next), root);
    }
}
