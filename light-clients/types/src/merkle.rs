//! Depth-32 incremental keccak merkle tree, the construction of Hyperlane's
//! `MerkleLib` (`solidity/contracts/libs/Merkle.sol`) and of the eth2 deposit
//! contract: leaves are appended left to right, absent leaves are zero, and an
//! inner node is `keccak256(left ‖ right)`.
//!
//! The tree keeps only the 32 left-hand subtree roots it still needs
//! (`branch`), so appending and computing the root cost 32 hashes at most
//! and the state is 1 KiB whatever the leaf count.

use alloy_primitives::{B256, b256, keccak256};
use serde::{Deserialize, Serialize};

/// Depth of the tree: leaf indices are `u32`.
pub const TREE_DEPTH: usize = 32;

/// Most leaves the tree takes: `2^32 − 1`, as `MerkleLib.MAX_LEAVES`. The
/// contract keeps the last slot empty so `count` fits its index type; doing
/// the same keeps our roots identical to the on-chain ones at every count.
pub const MAX_LEAVES: u32 = u32::MAX;

/// `ZERO_HASHES[i]` is the root of a depth-`i` subtree of zero leaves:
/// `Z[0] = 0`, `Z[i + 1] = keccak256(Z[i] ‖ Z[i])`. A constant rather than a
/// lazily computed table so the hot path pays no initialisation check; a unit
/// test recomputes it.
pub const ZERO_HASHES: [B256; TREE_DEPTH] = [
    b256!("0x0000000000000000000000000000000000000000000000000000000000000000"),
    b256!("0xad3228b676f7d3cd4284a5443f17f1962b36e491b30a40b2405849e597ba5fb5"),
    b256!("0xb4c11951957c6f8f642c4af61cd6b24640fec6dc7fc607ee8206a99e92410d30"),
    b256!("0x21ddb9a356815c3fac1026b6dec5df3124afbadb485c9ba5a3e3398a04b7ba85"),
    b256!("0xe58769b32a1beaf1ea27375a44095a0d1fb664ce2dd358e7fcbfb78c26a19344"),
    b256!("0x0eb01ebfc9ed27500cd4dfc979272d1f0913cc9f66540d7e8005811109e1cf2d"),
    b256!("0x887c22bd8750d34016ac3c66b5ff102dacdd73f6b014e710b51e8022af9a1968"),
    b256!("0xffd70157e48063fc33c97a050f7f640233bf646cc98d9524c6b92bcf3ab56f83"),
    b256!("0x9867cc5f7f196b93bae1e27e6320742445d290f2263827498b54fec539f756af"),
    b256!("0xcefad4e508c098b9a7e1d8feb19955fb02ba9675585078710969d3440f5054e0"),
    b256!("0xf9dc3e7fe016e050eff260334f18a5d4fe391d82092319f5964f2e2eb7c1c3a5"),
    b256!("0xf8b13a49e282f609c317a833fb8d976d11517c571d1221a265d25af778ecf892"),
    b256!("0x3490c6ceeb450aecdc82e28293031d10c7d73bf85e57bf041a97360aa2c5d99c"),
    b256!("0xc1df82d9c4b87413eae2ef048f94b4d3554cea73d92b0f7af96e0271c691e2bb"),
    b256!("0x5c67add7c6caf302256adedf7ab114da0acfe870d449a3a489f781d659e8becc"),
    b256!("0xda7bce9f4e8618b6bd2f4132ce798cdc7a60e7e1460a7299e3c6342a579626d2"),
    b256!("0x2733e50f526ec2fa19a22b31e8ed50f23cd1fdf94c9154ed3a7609a2f1ff981f"),
    b256!("0xe1d3b5c807b281e4683cc6d6315cf95b9ade8641defcb32372f1c126e398ef7a"),
    b256!("0x5a2dce0a8a7f68bb74560f8f71837c2c2ebbcbf7fffb42ae1896f13f7c7479a0"),
    b256!("0xb46a28b6f55540f89444f63de0378e3d121be09e06cc9ded1c20e65876d36aa0"),
    b256!("0xc65e9645644786b620e2dd2ad648ddfcbf4a7e5b1a3a4ecfe7f64667a3f0b7e2"),
    b256!("0xf4418588ed35a2458cffeb39b93d26f18d2ab13bdce6aee58e7b99359ec2dfd9"),
    b256!("0x5a9c16dc00d6ef18b7933a6f8dc65ccb55667138776f7dea101070dc8796e377"),
    b256!("0x4df84f40ae0c8229d0d6069e5c8f39a7c299677a09d367fc7b05e3bc380ee652"),
    b256!("0xcdc72595f74c7b1043d0e1ffbab734648c838dfb0527d971b602bc216c9619ef"),
    b256!("0x0abf5ac974a1ed57f4050aa510dd9c74f508277b39d7973bb2dfccc5eeb0618d"),
    b256!("0xb8cd74046ff337f0a7bf2c8e03e10f642c1886798d71806ab1e888d9e5ee87d0"),
    b256!("0x838c5655cb21c6cb83313b5a631175dff4963772cce9108188b34ac87c81c41e"),
    b256!("0x662ee4dd2dd7b2bc707961b1e646c4047669dcb6584f0d8d770daf5d7e7deb2e"),
    b256!("0x388ab20e2573d171a88108e79d820e98f26c0b84aa8b2f4aa4968dbb818ea322"),
    b256!("0x93237c50ba75ee485f4c22adf2f741400bdf8d6a9cc7df7ecae576221665d735"),
    b256!("0x8448818bb4ae4562849e949e17ac16e0be16688e156b5cf15e098c627c0056a9"),
];

/// Why the tree refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// The tree already holds [`MAX_LEAVES`] leaves.
    #[error("merkle tree full: holds {count} leaves, capacity is {capacity}")]
    Full {
        /// Most leaves the tree takes ([`MAX_LEAVES`]).
        capacity: u32,
        /// Leaves already in the tree.
        count: u32,
    },
}

impl MerkleError {
    /// Whether retrying the same operation can succeed: never, a full tree
    /// stays full.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Full { .. } => false,
        }
    }
}

/// An append-only depth-32 keccak merkle tree holding only its frontier.
///
/// Serialises as `{ "branch": [32 × bytes32], "count": u32 }`, the layout of
/// `MerkleLib.Tree`, so a tree read from a `MerkleTreeHook` can be restored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IncrementalMerkle {
    branch: [B256; TREE_DEPTH],
    count: u32,
}

impl Default for IncrementalMerkle {
    fn default() -> Self {
        Self::new()
    }
}

impl IncrementalMerkle {
    /// An empty tree.
    pub const fn new() -> Self {
        Self {
            branch: [B256::ZERO; TREE_DEPTH],
            count: 0,
        }
    }

    /// Appends `leaf` and returns the index it was given.
    pub fn ingest(&mut self, leaf: B256) -> Result<u32, MerkleError> {
        if self.count == MAX_LEAVES {
            return Err(MerkleError::Full {
                capacity: MAX_LEAVES,
                count: self.count,
            });
        }
        let index = self.count;
        self.count += 1;
        // The new leaf completes every subtree whose bit is set in `index`;
        // carry it up through them and park it at the first clear bit.
        let mut node = leaf;
        let mut size = index;
        for slot in &mut self.branch {
            if size & 1 == 0 {
                *slot = node;
                return Ok(index);
            }
            node = hash_pair(slot, &node);
            size >>= 1;
        }
        unreachable!("index < 2^32 - 1 has a clear bit below 32")
    }

    /// The current root; the empty tree's root is `ZERO_HASHES` one level up.
    pub fn root(&self) -> B256 {
        let mut node = B256::ZERO;
        for (i, (left, zero)) in self.branch.iter().zip(&ZERO_HASHES).enumerate() {
            node = if (self.count >> i) & 1 == 1 {
                hash_pair(left, &node)
            } else {
                hash_pair(&node, zero)
            };
        }
        node
    }

    /// Number of leaves ingested; the next leaf gets this index.
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// The frontier: `branch()[i]` is the last completed left subtree root
    /// at height `i` (stale entries are never read).
    pub const fn branch(&self) -> &[B256; TREE_DEPTH] {
        &self.branch
    }
}

/// The root implied by `leaf` sitting at `index` with sibling `path`
/// (`path[0]` next to the leaf): `MerkleLib.branchRoot`. A proof is valid
/// when this equals a trusted root.
pub fn branch_root(leaf: B256, path: &[B256; TREE_DEPTH], index: u32) -> B256 {
    let mut node = leaf;
    for (i, sibling) in path.iter().enumerate() {
        node = if (index >> i) & 1 == 1 {
            hash_pair(sibling, &node)
        } else {
            hash_pair(&node, sibling)
        };
    }
    node
}

/// The sibling path of `leaves[index]` in the tree built from `leaves`, as
/// checked by [`branch_root`]. An `index` past the end proves the zero leaf
/// there. Costs one pass over `leaves` (about `leaves.len()` hashes), so it
/// is for tooling and tests, not for per-message use on a large tree.
pub fn prove(leaves: &[B256], index: u32) -> [B256; TREE_DEPTH] {
    let mut path = ZERO_HASHES;
    let mut level = leaves.to_vec();
    let mut position = index as usize;
    for (sibling, zero) in path.iter_mut().zip(&ZERO_HASHES) {
        if level.is_empty() {
            // Everything above is an all-zero subtree: `path` already holds it.
            break;
        }
        if let Some(node) = level.get(position ^ 1) {
            *sibling = *node;
        }
        // Fold the level in place: node `i` only reads nodes `2i` and
        // `2i + 1`, which are never left of `i`.
        let parents = level.len().div_ceil(2);
        for i in 0..parents {
            let right = level.get(2 * i + 1).unwrap_or(zero);
            level[i] = hash_pair(&level[2 * i], right);
        }
        level.truncate(parents);
        position >>= 1;
    }
    path
}

/// `keccak256(left ‖ right)` without a heap buffer.
#[inline]
fn hash_pair(left: &B256, right: &B256) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(left.as_slice());
    buf[32..].copy_from_slice(right.as_slice());
    keccak256(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_hash_table_is_the_keccak_ladder() {
        let mut z = B256::ZERO;
        for (i, expected) in ZERO_HASHES.iter().enumerate() {
            assert_eq!(&z, expected, "level {i}");
            z = hash_pair(&z, &z);
        }
    }

    #[test]
    fn empty_tree_root_is_the_top_zero_hash() {
        // The vectors' "no leaves" root, and Z[32].
        let top = hash_pair(&ZERO_HASHES[31], &ZERO_HASHES[31]);
        assert_eq!(IncrementalMerkle::new().root(), top);
        assert_eq!(
            top,
            b256!("0x27ae5ba08d7291c96c8cbddcc148bf48a6d68c7974b94356f53754ef6171d757")
        );
    }

    #[test]
    fn ingest_returns_consecutive_indices() {
        let mut tree = IncrementalMerkle::default();
        for i in 0..5u32 {
            assert_eq!(tree.ingest(B256::with_last_byte(i as u8)), Ok(i));
        }
        assert_eq!(tree.count(), 5);
    }

    #[test]
    fn full_tree_rejects_with_capacity_and_count() {
        let mut tree = IncrementalMerkle {
            branch: [B256::repeat_byte(7); TREE_DEPTH],
            count: MAX_LEAVES,
        };
        let before = tree.clone();
        let err = tree.ingest(B256::ZERO).expect_err("tree is full");
        assert_eq!(
            err,
            MerkleError::Full {
                capacity: MAX_LEAVES,
                count: MAX_LEAVES
            }
        );
        assert!(!err.is_retryable());
        assert_eq!(tree, before, "a refused ingest leaves the tree untouched");
    }

    #[test]
    fn last_slot_is_ingestible() {
        // index 2^32 - 2 has bit 0 clear, so it parks at branch[0].
        let mut tree = IncrementalMerkle {
            branch: [B256::ZERO; TREE_DEPTH],
            count: MAX_LEAVES - 1,
        };
        assert_eq!(tree.ingest(B256::repeat_byte(1)), Ok(MAX_LEAVES - 1));
        assert_eq!(tree.branch()[0], B256::repeat_byte(1));
        assert!(tree.ingest(B256::ZERO).is_err());
    }

    #[test]
    fn serde_round_trip_keeps_the_root() {
        let mut tree = IncrementalMerkle::new();
        for i in 0..11u8 {
            tree.ingest(keccak256([i])).expect("not full");
        }
        let json = serde_json::to_string(&tree).expect("serialises");
        let back: IncrementalMerkle = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, tree);
        assert_eq!(back.root(), tree.root());
    }
}
