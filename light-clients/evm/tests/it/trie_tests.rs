//! ethereum/tests TrieTests: every root case.
//!
//! `trietestnextprev.json` is not run: it tests iteration (for a query key,
//! the previous and next keys present in the trie), which needs a trie
//! database with ordered traversal. This crate only computes roots, and the
//! file has no root to check.

use switchyard_lc_evm::B256;
use switchyard_lc_evm::trie::{secure_trie_root, trie_root};

use crate::vectors;

/// `0x`-prefixed strings are hex, all others UTF-8; `null` is the empty
/// value, which deletes.
fn decode(v: &serde_json::Value) -> Vec<u8> {
    match v {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::String(s) if s.starts_with("0x") => vectors::hex_bytes(s),
        serde_json::Value::String(s) => s.as_bytes().to_vec(),
        other => panic!("unexpected trie test value {other}"),
    }
}

/// Runs every case of `file`; returns the number of cases.
fn run(file: &str, secure: bool) -> usize {
    let cases = vectors::json(&format!("ethereum-tests/TrieTests/{file}"));
    let cases = cases.as_object().expect("an object of cases");
    for (name, case) in cases {
        // Ordered lists are applied in order (later writes and deletes win);
        // maps are sets.
        let entries: Vec<(Vec<u8>, Vec<u8>)> = match &case["in"] {
            serde_json::Value::Array(pairs) => pairs
                .iter()
                .map(|p| (decode(&p[0]), decode(&p[1])))
                .collect(),
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, v)| (decode(&serde_json::Value::String(k.clone())), decode(v)))
                .collect(),
            other => panic!("{file}/{name}: unexpected input {other}"),
        };
        let expected: B256 = case["root"]
            .as_str()
            .expect("root")
            .parse()
            .expect("root hex");
        let got = if secure {
            secure_trie_root(entries)
        } else {
            trie_root(entries)
        };
        assert_eq!(got, expected, "{file}/{name}");
    }
    cases.len()
}

#[test]
fn trietest() {
    assert_eq!(run("trietest.json", false), 5);
}

#[test]
fn trieanyorder() {
    assert_eq!(run("trieanyorder.json", false), 7);
}

#[test]
fn trietest_secure() {
    assert_eq!(run("trietest_secureTrie.json", true), 3);
}

#[test]
fn trieanyorder_secure() {
    assert_eq!(run("trieanyorder_secureTrie.json", true), 7);
}

#[test]
fn hex_encoded_securetrie() {
    assert_eq!(run("hex_encoded_securetrie_test.json", true), 3);
}
