//! A generic Merkle-Patricia trie root (Yellow Paper appendix D) for any set
//! of keys, including keys that are prefixes of one another.
//!
//! [`receipts_root`](crate::receipts_root) uses alloy-trie's hash builder,
//! which is faster but needs prefix-free keys (fine for `rlp(index)`). This
//! one is the independent reference: it runs the ethereum/tests TrieTests and
//! cross-checks the receipt root in property tests.

use alloy_primitives::{B256, keccak256};

use crate::rlp;

/// Root of the empty trie: keccak256(rlp("")).
pub const EMPTY_ROOT: B256 = alloy_trie::EMPTY_ROOT_HASH;

/// Root of the trie holding `entries`.
///
/// Keys are arbitrary byte strings. An empty value means "absent", as a trie
/// update with an empty value deletes the key in the execution clients; if a
/// key repeats, its last value wins.
pub fn trie_root<K, V>(entries: impl IntoIterator<Item = (K, V)>) -> B256
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut all: Vec<(K, V)> = entries.into_iter().collect();
    // Stable: among equal keys the input order is kept, so the last is the
    // latest write. Byte order equals nibble order, prefixes first.
    all.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    let mut live: Vec<(&[u8], &[u8])> = Vec::with_capacity(all.len());
    for (i, (k, v)) in all.iter().enumerate() {
        let superseded = all
            .get(i + 1)
            .is_some_and(|(next, _)| next.as_ref() == k.as_ref());
        if !superseded && !v.as_ref().is_empty() {
            live.push((k.as_ref(), v.as_ref()));
        }
    }
    if live.is_empty() {
        return EMPTY_ROOT;
    }
    // The root is hashed even when its encoding is shorter than 32 bytes.
    keccak256(node(&live, 0))
}

/// Root of the "secure" trie holding `entries`: each key replaced by its
/// keccak256, as in the state and storage tries.
pub fn secure_trie_root<K, V>(entries: impl IntoIterator<Item = (K, V)>) -> B256
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    trie_root(entries.into_iter().map(|(k, v)| (keccak256(k.as_ref()), v)))
}

fn nibble(key: &[u8], i: usize) -> u8 {
    let b = key[i / 2];
    if i.is_multiple_of(2) {
        b >> 4
    } else {
        b & 0x0f
    }
}

fn nibble_len(key: &[u8]) -> usize {
    key.len() * 2
}

/// Hex-prefix encoding of `key`'s nibbles `from..to` (Yellow Paper
/// appendix C): the flag nibble says leaf or extension and odd or even.
fn hex_prefix(key: &[u8], from: usize, to: usize, leaf: bool) -> Vec<u8> {
    let len = to - from;
    let odd = !len.is_multiple_of(2);
    let flag = if leaf { 2u8 } else { 0 } + u8::from(odd);
    let mut out = Vec::with_capacity(len / 2 + 1);
    let mut i = from;
    if odd {
        out.push((flag << 4) | nibble(key, i));
        i += 1;
    } else {
        out.push(flag << 4);
    }
    while i < to {
        out.push((nibble(key, i) << 4) | nibble(key, i + 1));
        i += 2;
    }
    out
}

/// How a parent refers to a child: the child's encoding inline when shorter
/// than 32 bytes, else its hash.
fn put_reference(out: &mut Vec<u8>, child: &[u8]) {
    if child.len() < 32 {
        out.extend_from_slice(child);
    } else {
        rlp::put_bytes(out, keccak256(child).as_slice());
    }
}

fn list(parts: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.len() + 3);
    rlp::put_header(&mut out, true, parts.len());
    out.extend_from_slice(parts);
    out
}

/// RLP of the node holding `entries` (sorted, distinct, non-empty values),
/// whose keys agree on their first `depth` nibbles.
fn node(entries: &[(&[u8], &[u8])], depth: usize) -> Vec<u8> {
    let (first, value) = entries[0];
    if entries.len() == 1 {
        let mut parts = Vec::new();
        rlp::put_bytes(
            &mut parts,
            &hex_prefix(first, depth, nibble_len(first), true),
        );
        rlp::put_bytes(&mut parts, value);
        return list(&parts);
    }
    // Sorted keys: the prefix the first and last share is shared by all.
    let (last, _) = entries[entries.len() - 1];
    let max = nibble_len(first).min(nibble_len(last));
    let mut shared = depth;
    while shared < max && nibble(first, shared) == nibble(last, shared) {
        shared += 1;
    }
    if shared > depth {
        let mut parts = Vec::new();
        rlp::put_bytes(&mut parts, &hex_prefix(first, depth, shared, false));
        put_reference(&mut parts, &node(entries, shared));
        return list(&parts);
    }
    // A branch. At most one key ends here (keys are distinct), and it sorts
    // first: its value is the branch's 17th item.
    let (value, mut rest) = if nibble_len(first) == depth {
        (Some(value), &entries[1..])
    } else {
        (None, entries)
    };
    let mut parts = Vec::new();
    for n in 0..16u8 {
        let count = rest
            .iter()
            .take_while(|(k, _)| nibble(k, depth) == n)
            .count();
        if count == 0 {
            parts.push(0x80);
        } else {
            put_reference(&mut parts, &node(&rest[..count], depth + 1));
            rest = &rest[count..];
        }
    }
    rlp::put_bytes(&mut parts, value.unwrap_or_default());
    list(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_deleted_are_the_empty_root() {
        assert_eq!(trie_root(Vec::<(&[u8], &[u8])>::new()), EMPTY_ROOT);
        assert_eq!(trie_root([(b"a".as_slice(), b"".as_slice())]), EMPTY_ROOT);
        assert_eq!(EMPTY_ROOT, keccak256([0x80]));
    }

    #[test]
    fn last_write_wins() {
        let a = trie_root([("dog", "puppy"), ("dog", "hound")]);
        assert_eq!(a, trie_root([("dog", "hound")]));
        assert_eq!(trie_root([("dog", "puppy"), ("dog", "")]), EMPTY_ROOT);
    }

    #[test]
    fn order_does_not_matter() {
        let a = trie_root([
            ("do", "verb"),
            ("dog", "puppy"),
            ("doge", "coin"),
            ("horse", "stallion"),
        ]);
        let b = trie_root([
            ("horse", "stallion"),
            ("doge", "coin"),
            ("dog", "puppy"),
            ("do", "verb"),
        ]);
        assert_eq!(a, b);
        // The ethereum/tests "puppy" case.
        assert_eq!(
            a,
            "0x5991bb8c6514148a29db676a14ac506cd2cd5775ace63c30a4fe457715e9ac84"
                .parse::<B256>()
                .expect("hex")
        );
    }

    #[test]
    fn hex_prefix_matches_the_yellow_paper() {
        // Appendix C examples, as bytes holding the nibbles.
        assert_eq!(
            hex_prefix(&[0x12, 0x34, 0x50], 0, 5, false),
            vec![0x11, 0x23, 0x45]
        );
        assert_eq!(
            hex_prefix(&[0x01, 0x23, 0x45], 0, 6, false),
            vec![0x00, 0x01, 0x23, 0x45]
        );
        assert_eq!(
            hex_prefix(&[0x0f, 0x1c, 0xb8], 1, 6, true),
            vec![0x3f, 0x1c, 0xb8]
        );
        assert_eq!(hex_prefix(&[], 0, 0, true), vec![0x20]);
    }
}
