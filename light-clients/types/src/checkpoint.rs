//! Hashes that bind a validator checkpoint to one origin Mailbox.

use alloy_primitives::{B256, keccak256};

use crate::Domain;

/// Hyperlane's `domainHash`: `keccak256(domain_be4 ‖ mailbox ‖ "HYPERLANE")`,
/// the prefix of every checkpoint digest validators sign, so a signature for
/// one (domain, mailbox or merkle tree hook) cannot be replayed for another.
pub fn domain_hash(domain: Domain, mailbox: B256) -> B256 {
    const TAG: &[u8; 9] = b"HYPERLANE";
    let mut buf = [0u8; 4 + 32 + TAG.len()];
    buf[..4].copy_from_slice(&domain.to_be_bytes());
    buf[4..36].copy_from_slice(mailbox.as_slice());
    buf[36..].copy_from_slice(TAG);
    keccak256(buf)
}
