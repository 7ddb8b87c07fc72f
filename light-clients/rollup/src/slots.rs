//! Solidity storage-slot derivation (Solidity docs, "Layout of State
//! Variables in Storage"): a mapping value at `keccak(key ‖ slot)`, a
//! dynamic array's elements from `keccak(slot)`, fields packed from the
//! low-order end of a word.

use alloy_primitives::{B256, U256, keccak256};

/// Slot of `mapping[key]` for a mapping declared at `slot` (value types
/// and `bytes32` keys are left-padded to a word).
pub fn mapping_slot(key: B256, slot: u64) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(key.as_slice());
    buf[32..].copy_from_slice(&U256::from(slot).to_be_bytes::<32>());
    keccak256(buf)
}

/// Slot of word `word` of element `index` of a dynamic array declared at
/// `slot` whose elements take `element_words` words each. Wraps modulo
/// 2^256, as the EVM's addition does.
pub fn array_slot(slot: u64, index: u64, element_words: u64, word: u64) -> B256 {
    let base = U256::from_be_bytes(keccak256(U256::from(slot).to_be_bytes::<32>()).0);
    let offset = U256::from(index)
        .wrapping_mul(U256::from(element_words))
        .wrapping_add(U256::from(word));
    B256::from(base.wrapping_add(offset).to_be_bytes::<32>())
}

/// `n` bytes at byte offset `offset` of a storage word, counted from the
/// low-order end as the compiler packs them.
pub fn packed(word: U256, offset: usize, n: usize) -> u64 {
    debug_assert!(n <= 8 && offset + n <= 32);
    let be = word.to_be_bytes::<32>();
    be[32 - offset - n..32 - offset]
        .iter()
        .fold(0u64, |v, b| (v << 8) | u64::from(*b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_slot_of_a_known_key() {
        // anchors[0] of an AnchorStateRegistry (slot 1): the key the OP
        // vector proves, and superchain-ops' state diffs list.
        assert_eq!(
            mapping_slot(B256::ZERO, 1),
            "0xa6eef7e35abe7026729641147f7915573c7e97b47efa546f5f6e3230263bcb49"
                .parse::<B256>()
                .expect("hex")
        );
    }

    #[test]
    fn array_slots_follow_keccak_of_the_slot() {
        let base = keccak256(U256::from(3).to_be_bytes::<32>());
        assert_eq!(array_slot(3, 0, 2, 0), base);
        let plus =
            |n: u64| B256::from((U256::from_be_bytes(base.0) + U256::from(n)).to_be_bytes::<32>());
        assert_eq!(array_slot(3, 0, 2, 1), plus(1));
        assert_eq!(array_slot(3, 5, 2, 1), plus(11));
    }

    #[test]
    fn packed_fields_count_from_the_low_end() {
        let word = U256::from_be_bytes({
            let mut b = [0u8; 32];
            b[31] = 0x01;
            b[24] = 0x02;
            b[23] = 0x03;
            b[6] = 0x04;
            b
        });
        assert_eq!(packed(word, 0, 8), 0x0200_0000_0000_0001);
        assert_eq!(packed(word, 8, 8), 0x03);
        assert_eq!(packed(word, 25, 1), 0x04);
    }
}
