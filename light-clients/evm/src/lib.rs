//! Switchyard's EVM header-chain light client.
//!
//! Pure code (no I/O, no async, no clock, no logging) that decides whether
//! the messages an origin EVM chain's mailbox dispatched may be relayed:
//!
//! - [`Header`]: the execution header of every fork layout, its strict RLP
//!   codec and its hash;
//! - [`Receipt`], [`Log`] and [`receipts_root`]: the consensus receipt
//!   encoding (EIP-2718, EIP-658) and the receipt trie root a header commits
//!   to;
//! - [`HeaderChain`]: a trusted checkpoint, parent-hash linking and a
//!   confirmation depth, verified ([`HeaderChain::verify_header`],
//!   [`HeaderChain::verify_block`]) separately from applied
//!   ([`HeaderChain::apply_header`]);
//! - [`extract_messages`]: the mailbox's `Dispatch` logs of a
//!   [`VerifiedBlock`], strictly decoded and cross-checked;
//! - [`rlp::Item`] and [`trie::trie_root`]: a generic strict RLP decoder and
//!   Merkle-Patricia trie root, run against the ethereum/tests vectors.
//!
//! Every refusal is an [`Error`] naming the values that were wrong.

mod chain;
mod error;
mod extract;
mod header;
mod receipt;
pub mod rlp;
pub mod trie;

pub use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256};
pub use chain::{BlockRef, HeaderChain, VerifiedBlock, VerifiedHeader, WindowEntry};
pub use error::Error;
pub use extract::{
    DISPATCH_SIGNATURE, DISPATCH_TOPIC, Extracted, LogPosition, PositionedMessage, extract_messages,
};
pub use header::{Header, HeaderLayout};
pub use receipt::{Log, Receipt, TxType, receipts_root};
pub use switchyard_types::{Domain, Message};
