//! Loading the vector files and the small helpers the runners share.

use std::path::PathBuf;

use alloy_primitives::{B256, eip191_hash_message};
use serde::de::DeserializeOwned;

/// Environment variable naming the vectors root (the folder that holds
/// `hyperlane-monorepo/`); defaults to the shared checkout next to the repo.
const ROOT_ENV: &str = "SWITCHYARD_VECTORS";

fn root() -> PathBuf {
    std::env::var_os(ROOT_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/vectors"
            ))
        })
}

/// Parses `hyperlane-monorepo/vectors/<name>`; panics with the path and the
/// override variable when the file is missing or has changed shape.
pub(crate) fn load<T: DeserializeOwned>(name: &str) -> T {
    let path = root().join("hyperlane-monorepo/vectors").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "test vector {} is unreadable ({err}); these tests need the Hyperlane vectors, \
             set {ROOT_ENV} to the folder holding hyperlane-monorepo/vectors",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|err| {
        panic!(
            "test vector {} has an unexpected shape: {err}",
            path.display()
        )
    })
}

/// A merkle.json leaf: the vectors store `hashMessage(s)`, i.e. EIP-191
/// `keccak("\x19Ethereum Signed Message:\n" ‖ len ‖ s)`, not the raw string.
pub(crate) fn eip191(s: &str) -> B256 {
    eip191_hash_message(s)
}

/// `b` with one bit of byte `at` flipped.
pub(crate) fn flip(mut b: B256, at: usize) -> B256 {
    b[at] ^= 1;
    b
}

/// Asserts that each single mutation of a valid proof (another index, a
/// flipped path node at any level, a flipped leaf byte) misses `root`.
pub(crate) fn assert_mutations_fail(
    what: &str,
    leaf: B256,
    path: &[B256; 32],
    index: u32,
    root: B256,
) {
    use switchyard_types::branch_root;
    for bit in 0..32 {
        let wrong = index ^ (1 << bit);
        assert_ne!(
            branch_root(leaf, path, wrong),
            root,
            "{what}: index {wrong} must not verify"
        );
    }
    for level in 0..32 {
        let mut bad = *path;
        bad[level] = flip(bad[level], level);
        assert_ne!(
            branch_root(leaf, &bad, index),
            root,
            "{what}: path[{level}] flipped"
        );
    }
    for at in [0, 17, 31] {
        assert_ne!(
            branch_root(flip(leaf, at), path, index),
            root,
            "{what}: leaf byte {at}"
        );
    }
}
