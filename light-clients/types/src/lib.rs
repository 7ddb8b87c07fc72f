//! Shared types of Switchyard: the message every component passes around, its
//! wire codec (Hyperlane v3 byte layout, so protocols already speaking it can
//! integrate unchanged), message ids, channels, and the depth-32 incremental
//! keccak merkle tree.
//!
//! This crate is deliberately small and pure: no I/O, no async, no logging.

mod checkpoint;
pub mod merkle;
mod message;
pub mod redact;

pub use alloy_primitives::{B256, Bytes, keccak256};
pub use checkpoint::domain_hash;
pub use merkle::{IncrementalMerkle, MerkleError, branch_root, prove};
pub use message::{
    Channel, Domain, HEADER_LEN, MESSAGE_VERSION, Message, MessageError, batch_root, id_of_encoded,
};
