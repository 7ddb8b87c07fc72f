//! Switchyard's EVM chain I/O, all of it through alloy.
//!
//! - [`source::EvmSource`] reads what an origin watcher needs (head, headers,
//!   block receipts) and converts it to the light client's own types; it does
//!   not decide anything, the light client does.
//! - [`submitter::EvmSubmitter`] sends `Inbox.deliver` batches with its own
//!   nonce tracking and EIP-1559 fees: prepare, submit, confirm.
//! - [`attest::Attester`] signs the EIP-712 batch attestation the Inbox checks.
//! - [`bindings`] holds the contracts' ABI. The deploy and traffic helpers
//!   of `switchyard devnet` and the tests live in the dev-only
//!   `switchyard-localnet` crate, out of production builds.
//! - [`deploy`] deploys the Mailbox and Inbox on a real chain and changes
//!   an Inbox's attesters, each step confirmed and read back
//!   (`switchyard contracts`).
//!
//! Every RPC call has a timeout and bounded retries ([`rpc::RpcPool`]), goes
//! over rustls with the webpki roots and the operator's CA bundle, and reads
//! a bounded answer ([`transport`]).

pub mod attest;
pub mod bindings;
pub mod deploy;
mod error;
pub mod rpc;
pub mod source;
pub mod submitter;
pub mod transport;

pub use alloy::primitives::{Address, B256, Bytes, U256};
pub use error::EvmError;
