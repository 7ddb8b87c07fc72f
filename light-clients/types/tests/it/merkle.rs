//! `merkle.json`: 5 trees (0, 1, 3, 5 and 42 leaves) and a proof for every
//! leaf of each.

use serde::Deserialize;
use switchyard_types::{B256, IncrementalMerkle, branch_root, prove};

use crate::vectors::{assert_mutations_fail, eip191, load};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Tree {
    test_name: String,
    expected_root: B256,
    leaves: Vec<String>,
    proofs: Vec<Proof>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Proof {
    leaf: B256,
    index: u32,
    path: [B256; 32],
}

impl Tree {
    fn hashed_leaves(&self) -> Vec<B256> {
        self.leaves.iter().map(|s| eip191(s)).collect()
    }
}

fn trees() -> Vec<Tree> {
    let trees: Vec<Tree> = load("merkle.json");
    let sizes: Vec<usize> = trees.iter().map(|t| t.leaves.len()).collect();
    assert_eq!(sizes, [3, 1, 0, 42, 5], "merkle.json trees");
    assert_eq!(
        trees.iter().map(|t| t.proofs.len()).sum::<usize>(),
        51,
        "merkle.json proofs"
    );
    trees
}

#[test]
fn ingesting_the_leaves_reaches_each_root() {
    for t in trees() {
        let mut tree = IncrementalMerkle::new();
        for (i, leaf) in t.hashed_leaves().into_iter().enumerate() {
            assert_eq!(tree.ingest(leaf), Ok(i as u32), "{}: index", t.test_name);
        }
        assert_eq!(
            tree.count() as usize,
            t.leaves.len(),
            "{}: count",
            t.test_name
        );
        assert_eq!(tree.root(), t.expected_root, "{}: root", t.test_name);
    }
}

#[test]
fn every_proof_is_for_its_leaf_and_checks() {
    for t in trees() {
        let leaves = t.hashed_leaves();
        assert_eq!(
            t.proofs.len(),
            leaves.len(),
            "{}: one proof per leaf",
            t.test_name
        );
        for p in &t.proofs {
            let name = format!("{} #{}", t.test_name, p.index);
            assert_eq!(
                p.leaf, leaves[p.index as usize],
                "{name}: leaf is hashMessage"
            );
            assert_eq!(
                branch_root(p.leaf, &p.path, p.index),
                t.expected_root,
                "{name}"
            );
        }
    }
}

#[test]
fn prove_reproduces_every_path() {
    for t in trees() {
        let leaves = t.hashed_leaves();
        for p in &t.proofs {
            assert_eq!(
                prove(&leaves, p.index),
                p.path,
                "{} #{}",
                t.test_name,
                p.index
            );
        }
    }
}

#[test]
fn mutated_proofs_fail() {
    for t in trees() {
        for p in &t.proofs {
            let name = format!("{} #{}", t.test_name, p.index);
            assert_mutations_fail(&name, p.leaf, &p.path, p.index, t.expected_root);
        }
    }
}
